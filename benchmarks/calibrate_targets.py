"""Calibrate the target logit of the synthetic population (issue 15), fast.

The DSE profile (B3, B5-B11, B13 among DSE offenders) is a weighted mean of the candidates'
features, weighted by the planted probability. This script builds the candidates exactly as the
generator does (same random streams, every step before the choice of targets), then prints the
expected profile for the parameters in `crimcareer.synth.params` and, with `--fit`, searches
coefficients and intercepts that bring it to the published figures while the smallest supported
population (`--min-persons`) keeps a thinning scale of `--min-scale` or less (no saturation).

    .venv/bin/python benchmarks/calibrate_targets.py --persons 1000000 --seed 1 [--fit]

Expected values only: the study's figures on a generated population (benchmarks/calibration.py)
are the check.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy.optimize import minimize

from crimcareer.synth import careers as cr
from crimcareer.synth import generator as gen
from crimcareer.synth.dates import day, years
from crimcareer.synth.params import default_params

PUBLISHED = {"B3": 0.52, "B5": 0.89, "B6": 0.30, "B7": 0.88, "B8": 27.6, "B9": 0.50,
             "B10": 0.73, "B11": 0.21, "B13": 0.68}
TOL = {"B8": 2.0}  # others: 5 points
KEYS = ("early", "atypical")
SHARE = {"early": "early_starter", "atypical": "atypical"}


class _Captured(Exception):
    pass


def candidates(persons: int, seed: int, P: dict) -> dict[str, dict[str, np.ndarray]]:
    """Eligible candidates per route over all chunks: features, age at index, skq observable."""
    n_chunks = max(1, -(-persons // gen.CHUNK))
    sizes = [persons // n_chunks + (1 if i < persons % n_chunks else 0) for i in range(n_chunks)]
    got: dict[str, list] = {k: [] for k in KEYS}
    real = cr.targets

    def capture(rng, pop, ch, P_, fam, first, skq23, youth, expected):
        cand = cr.target_candidates(rng, pop, ch, P_, fam, first, skq23, youth)
        cutoff = day(P_["cutoff"])
        for k in KEYS:
            c = cand[k]
            e = c["eligible"]
            cols = {f: c["features"][f][e] for f in cr.TARGET_FEATURES}
            cols["age"] = (c["reg"][e] - pop.birth[e]) / 365.25
            cols["skq_observable"] = (pop.birth[e] + years(23) <= cutoff).astype(float)
            got[k].append(cols)
        raise _Captured

    cr.targets = capture
    try:
        for ci, size in enumerate(sizes):
            rng = np.random.default_rng([seed, ci])
            try:
                gen._chunk(rng, P, size, 0.0, 1.0, 0, 0, ci, None, None, {})
            except _Captured:
                pass
    finally:
        cr.targets = real
    return {k: {f: np.concatenate([c[f] for c in got[k]]) for f in got[k][0]} for k in KEYS}


def profile(cand: dict, P: dict, offenders: float = 630) -> dict[str, float]:
    """Expected DSE figures when the candidates hold `offenders` in expectation (the same at every
    size down to the calibrated minimum: thinning keeps the profile)."""
    pt = P["targets"]
    num: dict[str, float] = {}
    res: dict[str, float] = {}
    den = skq_den = skq_num = 0.0
    for k in KEYS:
        c = cand[k]
        lp = cr.target_logit(P, k, c)
        p, res[f"scale_{k}"], _ = cr.target_probability(
            lp, pt["intercepts"][k], offenders * pt["route_shares"][SHARE[k]])
        den += p.sum()
        for f, col in (("B7", c["male"]), ("B10", c["migration"]), ("B11", c["big4"]),
                       ("B13", c["single_parent"]), ("B5", c["criminal_family"]),
                       ("B3", (c["age"] < 25).astype(float)), ("B8", c["age"]),
                       ("B9", ((c["age"] >= 18) & (c["age"] < 25)).astype(float))):
            num[f] = num.get(f, 0.0) + float((p * col).sum())
        obs = c["skq_observable"]  # B6 counts persons who turned 23 by the cut-off only
        skq_den += float((p * obs).sum())
        skq_num += float((p * obs * (1 - c["no_startkwalificatie"])).sum())
    res.update({f: v / den for f, v in num.items()})
    res["B6"] = skq_num / skq_den
    return res


# kept as planted: atypical offenders are "often female" (B16), a figure with no number to fit
FIXED = {("atypical", "male"), ("atypical", "big4")}


def fit(cand: dict, P: dict, persons: int, min_persons: int, min_scale: float) -> dict:
    """Coefficients whose expected profile is nearest the published one; each route's intercept
    puts the thinning scale at `min_scale` for a population of `min_persons`."""
    pt = P["targets"]
    names = [(k, f) for k in KEYS for f in cr.TARGET_FEATURES if (k, f) not in FIXED]
    x0 = np.array([pt[f"{k}_lp"][f] for k, f in names])

    def with_x(x: np.ndarray) -> dict:
        Q = json.loads(json.dumps(P))
        for (k, f), v in zip(names, x):
            Q["targets"][f"{k}_lp"][f] = float(v)
        for k in KEYS:
            lp = cr.target_logit(Q, k, cand[k])
            want = 630 * pt["route_shares"][SHARE[k]] * persons / min_persons / min_scale
            Q["targets"]["intercepts"][k] = cr.solve_intercept(lp, want)
        return Q

    def loss(x: np.ndarray) -> float:
        r = profile(cand, with_x(x))
        err = sum(((r[f] - v) / TOL.get(f, 0.05)) ** 2 for f, v in PUBLISHED.items())
        return err + 0.05 * float(((x - x0) ** 2).sum())

    t0 = time.time()
    best = minimize(loss, x0, method="Powell", options={"maxfev": 1500, "xtol": 0.02})
    print(f"fit: loss {loss(x0):.3f} -> {best.fun:.3f} in {time.time() - t0:.0f}s")
    return with_x(best.x)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fit", action="store_true")
    ap.add_argument("--min-persons", type=int, default=200_000)
    ap.add_argument("--min-scale", type=float, default=0.8)
    a = ap.parse_args()
    P = default_params()
    t0 = time.time()
    cand = candidates(a.persons, a.seed, P)
    print(f"candidates in {time.time() - t0:.0f}s: "
          + ", ".join(f"{k} {len(cand[k]['male']):,}" for k in KEYS))
    show = lambda r: " ".join(f"{f} {r[f]:.3f}" for f in (*PUBLISHED, "scale_early",  # noqa: E731
                                                           "scale_atypical"))
    print("published  ", " ".join(f"{f} {v:.3f}" for f, v in PUBLISHED.items()))
    print("params      ", show(profile(cand, P)))
    if a.fit:
        Q = fit(cand, P, a.persons, a.min_persons, a.min_scale)
        print("fitted      ", show(profile(cand, Q)))
        for n in (a.min_persons, 1_000_000, 18_000_000):
            print(f"  at {n:>10,}:", show(profile(cand, Q, 630 * a.persons / n)))
        print(json.dumps({k: Q["targets"][k] for k in ("early_lp", "atypical_lp", "intercepts")},
                         indent=1))


if __name__ == "__main__":
    main()
