"""Benchmark: fit time of the group-based trajectory model for 630 offenders x 40 years of age.

    .venv/bin/python benchmarks/gbtm.py [--persons 630] [--years 40] [--starts 5]
                                        [--model poisson|zip|frailty] [--boot 200]

Data: four planted groups with the synthetic population's curve shapes (low-rate, early-peak,
late-peak, high-rate), gamma frailty, follow-up censored at a random age. Prints the wall time of
each 1..6-group fit (all starts), of the whole model selection and of 200 bootstrap replicates.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from crimcareer.estimators.gbtm import GroupTrajectoryModel, bootstrap_shares, select_groups

CURVES = [(0.12, 27, 12), (0.95, 18, 4), (0.75, 31, 6), (1.6, 24, 11)]
SHARES = [0.34, 0.26, 0.19, 0.21]


def planted(persons: int, years: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    ages = np.arange(12, 12 + years)
    g = rng.choice(4, persons, p=SHARES)
    mu = np.array([[p * np.exp(-0.5 * ((a - m) / w) ** 2) for (p, m, w) in CURVES] for a in ages])
    frailty = rng.gamma(3.0, 1 / 3.0, persons)
    E = np.ones((persons, years))
    Y = rng.poisson(mu[:, g].T * frailty[:, None] * E).astype(float)
    last = rng.integers(years // 2, years + 1, persons)
    Y[np.arange(years)[None, :] >= last[:, None]] = np.nan
    return ages, Y, E


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=630)
    ap.add_argument("--years", type=int, default=40)
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--max-groups", type=int, default=6)
    ap.add_argument("--boot", type=int, default=200)
    ap.add_argument("--model", default="poisson", choices=["poisson", "zip", "frailty"])
    a = ap.parse_args()
    model = a.model
    ages, Y, E = planted(a.persons, a.years)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.1f}; "
          f"{a.persons} persons x {a.years} ages, {model}, {a.starts} starts")
    for K in range(1, a.max_groups + 1):
        t = time.perf_counter()
        m = GroupTrajectoryModel(K, model=model, starts=a.starts, seed=K).fit(Y, ages, E)
        print(f"  {K} groups: {time.perf_counter() - t:6.2f} s  (EM iterations of best start "
              f"{m.n_iter_}, BIC {m.bic_:.1f})")
    t = time.perf_counter()
    table, chosen = select_groups(Y, ages, E, max_groups=a.max_groups, starts=a.starts,
                                  model=model)
    sel = time.perf_counter() - t
    print(f"model selection 1..{a.max_groups} groups: {sel:.2f} s, chose {chosen.n_groups}")
    t = time.perf_counter()
    bootstrap_shares(chosen, Y, E, n_boot=a.boot)
    print(f"bootstrap {a.boot} replicates ({chosen.n_groups} groups): "
          f"{time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
