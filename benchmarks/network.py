"""Benchmark: criminal alters per layer on the peers' POPNET workload (issue 14), side by side.

Input: the files of ``../shared/benchmarks/popnet/gen_popnet_family.py --n N --out DIR`` (a
POPNET family layer, persons_crim.parquet, sample.parquet of 100,000 egos). The task: for each
sampled ego, the number of distinct family alters and of distinct alters with crim = 1.
Every tool runs in a fresh process (wall time includes the process start, as the peers were
timed); median of ``--repeat`` runs; the checksums (sums over egos) must agree.

Usage: .venv/bin/python benchmarks/network.py DIR [--repeat 3]
"""

from __future__ import annotations

import argparse
import glob
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

DUCKDB = """
import duckdb, sys
d = sys.argv[1]; net = sys.argv[2]
con = duckdb.connect(); con.execute("SET threads=2")
print(*con.execute(f'''
WITH s AS (SELECT RINPERSOONS, RINPERSOON FROM read_parquet('{d}/sample.parquet')),
e AS (SELECT n.RINPERSOONS, n.RINPERSOON, n.RINPERSOONSRELATIE, n.RINPERSOONRELATIE
      FROM read_parquet('{net}') n SEMI JOIN s USING (RINPERSOONS, RINPERSOON)),
c AS (SELECT RINPERSOONS AS RINPERSOONSRELATIE, RINPERSOON AS RINPERSOONRELATIE, crim
      FROM read_parquet('{d}/persons_crim.parquet')),
per AS (SELECT e.RINPERSOONS, e.RINPERSOON,
               count(DISTINCT (e.RINPERSOONSRELATIE, e.RINPERSOONRELATIE)) AS alters,
               count(DISTINCT (e.RINPERSOONSRELATIE, e.RINPERSOONRELATIE))
                   FILTER (WHERE c.crim = 1) AS crim_alters
        FROM e LEFT JOIN c USING (RINPERSOONSRELATIE, RINPERSOONRELATIE)
        GROUP BY ALL)
SELECT sum(alters), sum(crim_alters) FROM per''').fetchone())
"""

POLARS = """
import polars as pl, sys
d = sys.argv[1]; net = sys.argv[2]
s = pl.scan_parquet(f"{d}/sample.parquet")
c = pl.scan_parquet(f"{d}/persons_crim.parquet").rename(
    {"RINPERSOONS": "RINPERSOONSRELATIE", "RINPERSOON": "RINPERSOONRELATIE"})
e = (pl.scan_parquet(net).join(s, on=["RINPERSOONS", "RINPERSOON"], how="semi")
     .select("RINPERSOONS", "RINPERSOON", "RINPERSOONSRELATIE", "RINPERSOONRELATIE").unique()
     .join(c, on=["RINPERSOONSRELATIE", "RINPERSOONRELATIE"], how="left"))
r = (e.group_by("RINPERSOONS", "RINPERSOON")
     .agg(pl.len().alias("alters"), (pl.col("crim") == 1).sum().alias("crim"))
     .select(pl.col("alters").sum(), pl.col("crim").sum()).collect())
print(*r.row(0))
"""

CRIMCAREER = """
import sys
from crimcareer.engine import Engine
from crimcareer.population.network import alters_per_layer, network_inputs
d = sys.argv[1]; net = sys.argv[2]
with Engine("duckdb") as e:
    a = network_inputs(e, net, f"{d}/persons_crim.parquet", f"{d}/sample.parquet")
    out = alters_per_layer(a["ties"], a["criminal"], a["egos"], ego=a["ego"], alter=a["alter"])
    r = out.aggregate(a=out.alters.sum(), c=out.criminal_alters.sum()).to_pandas()
    print(int(r.a[0]), int(r.c[0]))
"""


def run(code: str | None, args: list[str], cmd: list[str] | None = None) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd or [sys.executable, "-c", code, *args], capture_output=True,
                          text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return float("nan"), proc.stderr.strip().splitlines()[-1][:80]
    return wall, proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    d = a.dir.resolve()
    net = glob.glob(str(d / "Bevolking" / "FAMILIENETWERKTAB" / "geconverteerde data" / "*.parquet"))[0]
    out = Path("/tmp") / f"crimcareer-network-bench-{d.name}.parquet"
    cli = [sys.executable, "-m", "crimcareer.cli", "network", net, "--criminal",
           str(d / "persons_crim.parquet"), "--egos", str(d / "sample.parquet"), "--out", str(out)]
    tools = [("DuckDB SQL (bare)", DUCKDB, None), ("polars (bare)", POLARS, None),
             ("crimcareer alters_per_layer (Python)", CRIMCAREER, None),
             ("crimcareer network (CLI, writes parquet)", None, cli)]
    print(f"workload {d}: {net}")
    print(f"{'tool':45s} {'median s':>9s}  runs                 checksum")
    for name, code, cmd in tools:
        runs, check = [], ""
        for _ in range(a.repeat):
            w, check = run(code, [str(d), net], cmd)
            runs.append(w)
        med = statistics.median(runs)
        print(f"{name:45s} {med:9.2f}  {' '.join(f'{x:.2f}' for x in runs):20s} {check}",
              flush=True)


if __name__ == "__main__":
    main()
