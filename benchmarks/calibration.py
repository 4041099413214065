"""Calibration check: generate a synthetic population and print each published figure, the value
the truth-free reference definitions give (crimcareer.synth.reference), and the difference.

    .venv/bin/python benchmarks/calibration.py --persons 300000 --seed 1 [--out DIR] [--reuse]

When the study modules (crimcareer.study.cohort / controls / careers / factors) are importable,
`--study` also runs them on the same folder and prints their figures beside the reference.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from crimcareer.synth import generate
from crimcareer.synth.reference import figures, report


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=300_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--offenders", type=int, default=630)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--reuse", action="store_true", help="use an existing --out folder")
    ap.add_argument("--set", action="append", default=[],
                    help="override a parameter: section.key=json (for calibration runs)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    ap.add_argument("--study", action="store_true",
                    help="also compute B3-B14 with the study modules (cohort, controls, factors)")
    a = ap.parse_args()
    out = a.out or Path(tempfile.mkdtemp(prefix="crimcareer-calib-"))
    if not a.reuse:
        from crimcareer.synth.params import default_params

        P = default_params()
        for item in a.set:
            path, value = item.split("=", 1)
            node = P
            keys = path.split(".")
            for k in keys[:-1]:
                node = node[k]
            node[keys[-1]] = json.loads(value)
        t0 = time.time()
        generate(out, persons=a.persons, seed=a.seed, offenders=a.offenders, params=P)
        print(f"generated {a.persons:,} persons in {time.time() - t0:.1f}s -> {out}")
    t0 = time.time()
    res = figures(out / "registers")
    print(f"reference figures in {time.time() - t0:.1f}s")
    print(report(res))
    if a.study:
        try:
            print(report(study_figures(out / "registers")))
        except Exception as e:  # the study modules are being written in parallel
            print(f"study modules not usable yet: {type(e).__name__}: {e}")
    if a.json:
        a.json.write_text(json.dumps(res, indent=2))


def study_figures(folder: Path) -> dict[str, float]:
    """B3-B14 from the study's own steps (study_cohort + person_features) on the same folder."""
    from crimcareer.adapters.files import load_registers
    from crimcareer.engine import Engine
    from crimcareer.study.controls import study_cohort
    from crimcareer.study.factors import person_features
    from crimcareer.study.spec import default_spec_path, load_spec

    spec = load_spec(default_spec_path())
    with Engine("duckdb") as eng:
        reg = load_registers(folder, eng)
        co = study_cohort(reg, spec, eng)
        f = person_features(reg, co.table, spec, eng).merge(
            co.frame[["person_id", "group"]], on="person_id", suffixes=("_x", ""))
    res: dict[str, float] = {}
    d = f[f.group == "DSE"]
    for k in ("DSE", "CC", "NC"):
        res[f"n_{k}"] = float((f.group == k).sum())
    res["B3"] = float(d.first_trafficking_young.mean())
    res["B4"] = float(d.repeat_trafficking.mean())
    res["B7"] = float(d.male.mean()) if "male" in d else float("nan")
    res["B8"] = float(d.age_at_index.mean())
    res["B9"] = float(d.age_at_index.between(18, 24).mean())
    res["B14"] = float(d.n_prior_cases.mean())
    for g in ("DSE", "CC", "NC"):
        x = f[f.group == g]
        res[f"B5_{g}"] = float(x.criminal_family.mean())
        res[f"B6_{g}"] = float(x.skq_by_23.dropna().astype(float).mean())
        if "migration_any" in x:
            res[f"B10_{g}"] = float(x.migration_any.mean())
            res[f"B11_{g}"] = float(x.origin_big4.mean())
        res[f"B13_{g}"] = float(x.single_parent_childhood.astype(float).mean())
    return res


if __name__ == "__main__":
    main()
