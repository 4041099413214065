"""Benchmark: `crimcareer synth` and `crimcareer run` wall time and peak memory, side by side.

Usage: .venv/bin/python benchmarks/run.py [--persons 1000000 5000000] [--engine duckdb] [--keep DIR]
                                          [--revalidate]
Each size runs in fresh child processes; peak memory is the child's maximum resident set size;
CPU is the child's user + system seconds (its worker processes included), and cores = CPU / wall:
on two cores a run at 1.9 cores cannot get faster by overlapping its steps, only by less work.
This host's speed drifts: the disclosure audit, the same work in every run, took 17-18 s at
17:00 UTC and 22 s at 17:47 on 4 Dec 2026, so compare runs interleaved, not across hours.
A population already in DIR/pop-N/registers is reused (it may be a link to a converted folder).
``--revalidate`` validates the registers in full even where a certificate of
``crimcareer validate`` would let the run skip it. The step table comes from each run's
manifest.json (``run.step_seconds``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "crimcareer.cli"]


def timed(cmd: list[str]) -> tuple[float, float, float]:
    """Run a command in a child process; return (wall seconds, peak RSS in GiB, CPU seconds)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%U %S %M", *cmd], capture_output=True, text=True, cwd=ROOT
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")
    user, system, peak_kib = proc.stderr.strip().splitlines()[-1].split()
    return wall, int(peak_kib) / 1024 / 1024, float(user) + float(system)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--persons", type=int, nargs="+", default=[1_000_000, 5_000_000])
    ap.add_argument("--engine", default="duckdb")
    ap.add_argument("--keep", type=Path, default=None, help="keep populations here")
    ap.add_argument("--revalidate", action="store_true",
                    help="full validation even with a certificate")
    args = ap.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="crimcareer-bench-"))
    rows = []
    steps: dict[int, dict] = {}
    for n in args.persons:
        pop = base / f"pop-{n}"
        if not (pop / "registers" / "persons.parquet").exists():
            s_wall, s_mem, _ = timed([*CLI, "synth", "--persons", str(n), "--out", str(pop)])
        else:
            s_wall, s_mem = float("nan"), float("nan")
        r_wall, r_mem, r_cpu = timed([*CLI, "run", str(ROOT / "studies/brede-blik.toml"),
                                      "--data", str(pop / "registers"),
                                      "--out", str(base / f"out-{n}"), "--engine", args.engine,
                                      *(["--revalidate"] if args.revalidate else [])])
        run = json.loads((base / f"out-{n}" / "manifest.json").read_text())["run"]
        steps[n] = run.get("step_seconds", {})
        audit = run.get("disclosure_audit_seconds")  # a string in manifest.json
        steps[n]["(disclosure audit, within the steps)"] = None if audit is None else float(audit)
        rows.append((n, s_wall, s_mem, r_wall, r_mem, r_cpu))
        print(f"{n:>11,} persons  synth {s_wall:7.1f} s {s_mem:5.2f} GiB   "
              f"run[{args.engine}] {r_wall:7.1f} s {r_mem:5.2f} GiB {r_cpu:7.1f} CPU-s", flush=True)
    print("\n| persons | synth wall (s) | synth peak (GiB) | run wall (s) | run peak (GiB) "
          "| run CPU (s) | cores |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n, sw, sm, rw, rm, rc in rows:
        print(f"| {n:,} | {sw:.1f} | {sm:.2f} | {rw:.1f} | {rm:.2f} | {rc:.0f} | {rc / rw:.2f} |")
    names = list(dict.fromkeys(k for n in steps for k in steps[n]))
    print("\n| step (s) | " + " | ".join(f"{n:,}" for n in steps) + " |")
    print("|---|" + "---:|" * len(steps))
    for k in names:
        print(f"| {k} | " + " | ".join(
            "" if steps[n].get(k) is None else f"{steps[n][k]:.1f}" for n in steps) + " |")


if __name__ == "__main__":
    main()
