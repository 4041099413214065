"""Benchmark the synthetic-population generator: wall time, peak memory and output size.

    .venv/bin/python benchmarks/synth.py --persons 1000000 --out /tmp/synth-1m
    /usr/bin/time -v .venv/bin/python benchmarks/synth.py --persons 18000000 --out /data/synth-18m

Prints one line per table (rows, MB) and a summary line (persons, seconds, peak RSS in MB from
getrusage; /usr/bin/time -v reports the same "Maximum resident set size").
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import pyarrow.parquet as pq

from crimcareer.synth import generate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--progress", action="store_true")
    a = ap.parse_args()
    t0 = time.perf_counter()
    generate(a.out, persons=a.persons, seed=a.seed, progress=a.progress)
    wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    total = 0
    for p in sorted((a.out / "registers").glob("*.parquet")):
        rows = pq.ParquetFile(p).metadata.num_rows
        mb = p.stat().st_size / 2**20
        total += mb
        print(f"{p.stem:<18} {rows:>14,} rows {mb:>10.1f} MB")
    print(f"persons={a.persons} seconds={wall:.1f} peak_rss_mb={peak_mb:.0f} "
          f"registers_mb={total:.0f}")


if __name__ == "__main__":
    main()
