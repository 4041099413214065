"""A CBS Remote Access project folder -> a contract folder, driven by the TOML mapping.

Per contract table the mapping's blocks are read (each CBS table: the latest year, or every year
unioned; per year the highest version unless pinned), their columns built by
:mod:`crimcareer.cbs.expr` and written as parquet by DuckDB. Every value set to null and every
row dropped is counted in ``conversion_log.json``; a block that cannot be read (table absent, a
required column missing) is listed there and the rest still converts. ``meta.json`` records the
cut-off, the chosen files, why they were chosen and their SHA-256.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import duckdb

from crimcareer.cbs import discover, expr, family, mapping as mp, popnet
from crimcareer.cbs.read import CsvDialect, Reader, Source, SourceError, lit, qid


DEFAULT_MEMORY_LIMIT = "6GB"


@dataclass
class LogEntry:
    """Values nulled or rows dropped for one reason in one contract column (or table)."""

    table: str
    column: str
    source: str
    reason: str
    count: int

    def __str__(self) -> str:
        return f"{self.table}.{self.column} <- {self.source}: {self.reason}: {self.count:,}"


@dataclass
class Result:
    """What a conversion wrote, used, counted and could not map."""

    out: Path
    tables: list[str] = field(default_factory=list)
    log: list[LogEntry] = field(default_factory=list)
    unmapped: list[dict] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)
    not_read: list[dict] = field(default_factory=list)
    cutoff: str | None = None


class Converter:
    """One conversion: a DuckDB connection, the discovered files and the running log."""

    def __init__(self, ra_dir: Path, out: Path, mapping: dict[str, Any], work: Path,
                 threads: int | None = None, memory_limit: str | None = None) -> None:
        self.ra, self.out, self.m, self.work = ra_dir, out, mapping, work
        self.files = discover.find_files(ra_dir)
        self.con = duckdb.connect(str(work / "convert.duckdb"))
        self.con.execute("SET enable_progress_bar=false")
        self.con.execute(f"SET temp_directory={lit(work / 'spill')}")
        self.con.execute("SET preserve_insertion_order=false")
        if threads:
            self.con.execute(f"SET threads={int(threads)}")
        # default 6GB: with pyreadstat's chunks the process stays under 8 GB (benchmarks/)
        self.con.execute(f"SET memory_limit={lit(memory_limit or DEFAULT_MEMORY_LIMIT)}")
        csv_opts = {k.upper(): CsvDialect(v.get("delimiter"), v.get("encoding"))
                    for k, v in mapping.get("csv", {}).items()}
        self.reader = Reader(self.con, work, csv_opts)
        self.kinds = tuple(mapping.get("settings", {}).get("person_kinds", ["R"]))
        self.res = Result(out)
        self.done: Callable[[str], None] = lambda step: None  # progress of a finished step
        self._used: set[Path] = set()
        # files are hashed in a thread while the engine reads them (hashlib releases the GIL;
        # the bytes are read once into the page cache for both)
        self._hashing = ThreadPoolExecutor(1, thread_name_prefix="crimcareer-sha256")
        self.n = 0

    # -- sources ----------------------------------------------------------------------------------
    def choices(self, block: dict) -> list[discover.Choice]:
        chs = discover.choose(self.files, block["from"], tuple(block.get("files", ())))
        if not chs:
            raise SourceError(f"table {block['from']} not found under {self.ra}")
        if block.get("years", "latest") == "latest":
            chs = chs[-1:]
        return chs

    def csv_dialect(self, f: discover.CbsFile) -> CsvDialect:
        """A CSV file's separator and encoding (the mapping's ``[csv]`` entry, else sniffed)."""
        return self.reader.dialect(f)

    def open(self, chs: list[discover.Choice], wanted: list[str], target: str) -> Source:
        """One source over the chosen files (all years of a block); records each file."""
        src = self.reader.open_group([ch.file for ch in chs], wanted)
        for ch in chs:
            if ch.file.path in self._used:
                continue
            self._used.add(ch.file.path)
            from crimcareer.cbs.read import file_columns

            try:
                vrl = any(c.upper().startswith("VRL") for c in file_columns(ch.file))
            except Exception:  # noqa: BLE001 - read above already; a header glitch only
                vrl = False
            self.res.files.append({
                "for": target, "table": ch.table, "year": ch.year,
                "file": str(ch.file.path.relative_to(self.ra)), "version": ch.file.version,
                "provisional": ch.file.provisional, "why": ch.reason,
                "passed_over": [str(f.path.relative_to(self.ra)) for f in ch.passed_over],
                "vrl_columns": vrl,
                "sha256": self._hashing.submit(sha256, ch.file.path),
                "bytes": ch.file.path.stat().st_size})
        return src

    def hashes_done(self) -> None:
        """Wait for the files' SHA-256 (computed beside the conversion) and record them."""
        for f in self.res.files:
            if isinstance(f["sha256"], Future):
                f["sha256"] = f["sha256"].result()
        self._hashing.shutdown()

    def abandon_hashes(self) -> None:
        """After a failure: hashes still queued are not computed."""
        self._hashing.shutdown(wait=False, cancel_futures=True)

    def materialize(self, table: str, parts: list[tuple[Source, list[str],
                                                         list[tuple[str, str, str]]]],
                    keep: str | None = None) -> str:
        """One temp table of every file's rows (`parts`: source, SELECT items, checks); each
        check counted per file. Returns a SELECT of the items without helpers. With `keep` (a
        predicate on the items) the counts take one scan and only kept rows are stored."""
        keys = list(dict.fromkeys((c, r) for _, _, checks in parts for c, r, _ in checks))
        sels = []
        for i, (src, items, checks) in enumerate(parts):
            preds = {(c, r): p for c, r, p in checks}
            flags = [f"coalesce({preds[k]}, false) AS __c{j}" if k in preds
                     else f"false AS __c{j}" for j, k in enumerate(keys)]
            sels.append(f"SELECT {', '.join(items + flags)}, __file AS __f FROM {src.view}")
        self.n += 1
        name = f"m_{self.n}"
        union = " UNION ALL ".join(sels)
        helpers = ", ".join([f"__c{j}" for j in range(len(keys))] + ["__f"])
        counted = name
        if keep is None:
            self.con.execute(f"CREATE TEMP TABLE {name} AS {union}")
        else:
            counted = f"({union})"
        if keys:
            aggs = ", ".join(f"count(*) FILTER (WHERE __c{j})" for j in range(len(keys)))
            for row in self.con.execute(
                    f"SELECT __f, {aggs} FROM {counted} GROUP BY __f ORDER BY __f").fetchall():
                for (col, reason), n in zip(keys, row[1:]):
                    self.log(table, col, row[0], reason, int(n))
        if keep is not None:
            self.con.execute(f"CREATE TEMP TABLE {name} AS SELECT * EXCLUDE ({helpers}) "
                             f"FROM ({union}) WHERE {keep}")
            return f"SELECT * FROM {name}"
        return f"SELECT * EXCLUDE ({helpers}) FROM {name}"

    def count(self, table: str, src: Source, checks: list[tuple[str, str, str]]) -> None:
        """Count each (column, reason, predicate) per file of the source; log non-zero ones."""
        if not checks:
            return
        aggs = ", ".join(f"count(*) FILTER (WHERE {p})" for _, _, p in checks)
        for row in self.con.execute(
                f"SELECT __file, {aggs} FROM {src.view} GROUP BY __file").fetchall():
            for (col, reason, _), n in zip(checks, row[1:]):
                self.log(table, col, row[0], reason, int(n))

    def log(self, table: str, column: str, source: str, reason: str, n: int) -> None:
        if n:
            self.res.log.append(LogEntry(table, column, source, reason, int(n)))

    def unmappable(self, target: str, source: str, why: str) -> None:
        self.res.unmapped.append({"table": target, "from": source, "why": without_rows(why)})

    def not_read(self, target: str, path: Path, why: str) -> None:
        self.res.not_read.append({"for": target, "file": str(path.relative_to(self.ra)),
                                  "why": why})

    def block_sql(self, target: str, block: dict) -> str:
        """SELECT of the target's columns from every chosen file of one block (UNION ALL)."""
        cols = mp.target_columns(target)
        specs = dict(block.get("columns", {}))
        self._apply_reference(specs)
        wanted = [c for s in specs.values() for c in expr.columns_of(s)]
        chs = self.choices(block)
        src = self.open(chs, wanted, target)
        name_ = ", ".join(ch.file.path.name for ch in chs[:3]) + (" ..." if len(chs) > 3 else "")
        sel, checks = [], []
        for name, typ in cols.items():
            spec = specs.get(name)
            absent = [c for c in expr.columns_of(spec) if not src.has(c)
                      and not (isinstance(spec, dict) and c == spec.get("day"))]
            if absent:
                if isinstance(spec, dict) and spec.get("optional"):
                    rows = self.con.execute(f"SELECT count(*) FROM {src.view}").fetchone()[0]
                    self.log(target, name, name_,
                             f"column {absent[0]} absent: all null", rows)
                    spec = None
                else:
                    raise SourceError(f"{name_}: no column {absent[0]!r} "
                                      f"(for {target}.{name})")
            b = expr.build(src, spec, typ, self.kinds, "__year")
            sel.append(f"{b.value} AS {qid(name)}")
            checks += [(name, r, p) for r, p in b.lost]
        return self.materialize(target, [(src, sel, checks)])

    def _apply_reference(self, specs: dict) -> None:
        """Codes outside a spec's list grouped by the country reference file (if present)."""
        ref = self.m.get("origin_reference")
        for name, spec in specs.items():
            if not (isinstance(spec, dict) and spec.get("reference") and ref):
                continue
            try:
                chs = self.choices({"from": ref["from"], "years": "latest"})
                src = self.open(chs, [ref["code"], ref["type"]], "origin_reference")
            except SourceError as e:
                self.unmappable("origin_reference", ref["from"], str(e))
                continue
            rows = self.con.execute(f"SELECT {expr.text(src, ref['code'])}, "
                                    f"{expr.text(src, ref['type'])} FROM {src.view}").fetchall()
            groups = {str(k): str(v) for k, v in ref.get("types", {}).items()}
            codes = {c: groups[t] for c, t in rows if c and t in groups}
            codes.update({str(k): v for k, v in spec.get("codes", {}).items()})
            specs[name] = {**spec, "codes": codes}

    def table_sql(self, target: str) -> str | None:
        """UNION ALL of the target's readable blocks (with block number), or None."""
        parts = []
        for i, block in enumerate(self.m.get(target, [])):
            try:
                parts.append(f"SELECT *, {i} AS __block FROM ({self.block_sql(target, block)})")
            except (SourceError, FileNotFoundError, duckdb.Error) as e:
                if block.get("optional") and "not found" in str(e):
                    continue
                self.unmappable(target, block["from"], str(e))
        return " UNION ALL ".join(parts) if parts else None

    # -- tables -----------------------------------------------------------------------------------
    def write(self, target: str, sql: str) -> None:
        cols = ", ".join(qid(c) for c in mp.target_columns(target))
        self.con.execute(f"COPY (SELECT {cols} FROM ({sql})) TO "
                         f"{lit(self.out / f'{target}.parquet')} (FORMAT parquet)")
        self.res.tables.append(target)

    def drop_unknown_persons(self, target: str, view: str) -> str:
        n = self.con.execute(f"SELECT count(*) FROM {view} WHERE person_id IS NULL").fetchone()[0]
        self.log(target, "person_id", "(all sources)", "row dropped: unknown person", n)
        return f"SELECT * FROM {view} WHERE person_id IS NOT NULL"

    def simple_table(self, target: str) -> None:
        sql = self.table_sql(target)
        if sql is None:
            return
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW t_{target} AS {sql}")
        self.write(target, self.drop_unknown_persons(target, f"t_{target}"))

    def persons(self) -> None:
        sql = self.table_sql("persons")
        if sql is None:
            return
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW p_raw AS {sql}")
        base = self.drop_unknown_persons("persons", "p_raw")
        dup = self.con.execute(f"SELECT count(*) - count(DISTINCT person_id) FROM ({base})"
                               ).fetchone()[0]
        self.log("persons", "person_id", "(all sources)",
                 "row dropped: person already in an earlier source or row", dup)
        deaths = self._aux("deaths", "SELECT person_id, min(date) AS d FROM ({}) "
                                     "WHERE person_id IS NOT NULL AND date IS NOT NULL "
                                     "GROUP BY person_id")
        emig = self._aux("emigrations", """
            SELECT person_id, CASE WHEN im IS NULL OR em > im THEN em END AS d FROM (
              SELECT person_id, max(date) FILTER (WHERE direction = 'emigration') AS em,
                     max(date) FILTER (WHERE direction = 'immigration') AS im
              FROM ({}) WHERE person_id IS NOT NULL GROUP BY person_id)""")
        joins, death, emi = "", "p.death_date", "p.emigration_date"
        if deaths:
            joins += f" LEFT JOIN ({deaths}) dd USING (person_id)"
            death = "coalesce(p.death_date, dd.d)"
        if emig:
            joins += f" LEFT JOIN ({emig}) ee USING (person_id)"
            emi = "coalesce(p.emigration_date, ee.d)"
        self.write("persons", f"""
            SELECT p.* REPLACE ({death} AS death_date, {emi} AS emigration_date)
            FROM (SELECT * FROM ({base})
                  QUALIFY row_number() OVER (PARTITION BY person_id ORDER BY __block) = 1) p
            {joins}""")

    def _aux(self, target: str, template: str) -> str | None:
        sql = self.table_sql(target)
        return template.format(sql) if sql else None

    def relations(self) -> None:
        parts = [family.kindouder(self), family.partners(self)]
        self.done("relations: KINDOUDERTAB and partner buses read")
        parts = [p for p in (*parts, popnet.household_ties(self), popnet.spells(self)) if p]
        if not parts:
            self.unmappable("relations", "KINDOUDERTAB/PARTNERBUS/POPNET", "no source readable")
            return
        self.write("relations", " UNION ALL ".join(f"SELECT * FROM ({p})" for p in parts))

    def cutoff(self) -> str | None:
        c = self.m.get("settings", {}).get("cutoff")
        if c:
            return str(dt.date.fromisoformat(str(c)))
        years = [f["year"] for f in self.res.files if f["for"] == "persons" and f["year"]]
        return f"{max(years)}-12-31" if years else None


def convert(ra_dir: str | Path, out: str | Path, mapping_file: str | Path | None = None,
            threads: int | None = None, memory_limit: str | None = None,
            work_dir: str | Path | None = None, progress: bool = False) -> Result:
    """Convert `ra_dir` into the contract folder `out`; returns what was written and logged.
    With `progress`, one line per contract table on stderr (a national run takes minutes)."""
    ra, out = Path(ra_dir), Path(out)
    if not ra.is_dir():
        raise SourceError(f"{ra} is not a folder")
    if mapping_file is None and (ra / mp.PROJECT_MAPPING).exists():
        mapping_file = ra / mp.PROJECT_MAPPING
    m = mp.load(mapping_file)
    mp.check(m)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="crimcareer-cbs-", dir=work_dir))
    c = None
    try:
        c = Converter(ra, out, m, work, threads, memory_limit)
        t0 = time.time()

        def done(table: str) -> None:
            if progress:
                print(f"cbs convert: {table} ({time.time() - t0:.0f}s)", file=sys.stderr)

        c.done = done  # the relations step also reports its parts (minutes at national size)

        c.persons()
        done("persons")
        for t in ("cases", "education", "households", "youth_care", "detentions",
                  "probation_advice"):
            if m.get(t):
                c.simple_table(t)
                done(t)
            else:
                c.unmappable(t, "-", "no mapping (add [[%s]] blocks to a mapping file)" % t)
        c.relations()  # after persons and households: spells are bounded by birth, housemates
        done("relations (family, households, POPNET)")
        c.con.close()
        c.hashes_done()
        res = c.res
        res.cutoff = c.cutoff()
        _write_meta(res, ra, mapping_file)
        return res
    finally:
        if c is not None:
            c.abandon_hashes()
        shutil.rmtree(work, ignore_errors=True)


def _write_meta(res: Result, ra: Path, mapping_file: str | Path | None) -> None:
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    meta = {"cutoff": res.cutoff, "source": f"CBS Remote Access tables in {ra}",
            "created": now, "mapping": str(mapping_file) if mapping_file else "default",
            "files": res.files}
    (res.out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    log = {"created": now, "tables_written": res.tables, "unmapped": res.unmapped,
           "files_not_read": res.not_read,
           "entries": [asdict(e) for e in res.log]}
    (res.out / "conversion_log.json").write_text(json.dumps(log, indent=1) + "\n")


def without_rows(why: str) -> str:
    """A reader's error message without row contents: DuckDB quotes the offending CSV line
    ("Original Line: ...") and values it could not convert; the file, line number and rule
    stay. Its hints and option dump are dropped too (they name DuckDB's options, not ours)."""
    import re

    lines = []
    for line in why.splitlines():
        s = line.strip()
        if s.startswith("Possible fixes"):
            lines += [x.strip() for x in why.splitlines() if x.strip().startswith("file = ")]
            break
        if s and not s.startswith("Original Line"):
            lines.append(s)
    return re.sub(r"(string|value) '[^']*'", r"\1 (not shown)", " | ".join(lines))


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 23), b""):
            h.update(block)
    return h.hexdigest()
