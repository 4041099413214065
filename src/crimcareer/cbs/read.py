"""Open CBS files in DuckDB: .sav/.dta in chunks (mapped columns only), CSV sniffed, parquet.

Every source is exposed as a DuckDB view; column names are matched case-insensitively and a
provisional file's ``VRL`` prefix is looked through (``VRLGBADatumOverlijden`` answers to
``GBADatumOverlijden``). SPSS/Stata files are copied once to parquet in the work folder, keeping
strings as text (leading zeros) and only the columns asked for.
"""

from __future__ import annotations

import codecs
import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from crimcareer.cbs.discover import CbsFile

CHUNK_ROWS = 500_000
PARALLEL_MIN_BYTES = 64 << 20  # below this, starting worker processes costs more than it saves
SPLIT_MIN_ROWS = 100_000  # a file split into row ranges has at least this many rows per part
_DELIMITERS = ",;\t|"


def _as_text(q: str, typ: str) -> str:
    """A column as text; SPSS/Stata numbers without a trailing '.0'."""
    if typ.split("(")[0] in ("DOUBLE", "FLOAT", "DECIMAL"):
        return (f"CASE WHEN {q} = floor({q}) AND abs({q}) < 1e18 THEN CAST(CAST({q} AS BIGINT) "
                f"AS VARCHAR) ELSE CAST({q} AS VARCHAR) END")
    return f"CAST({q} AS VARCHAR)"


class SourceError(Exception):
    """A file or column the mapping asks for cannot be read; the message says which and why."""


def lit(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def qid(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class CsvDialect:
    delimiter: str
    encoding: str


def sniff_csv(path: Path, delimiter: str | None = None, encoding: str | None = None) -> CsvDialect:
    """Separator (``,`` ``;`` tab ``|``) and encoding (UTF-8, else Latin-1) from the first bytes."""
    raw = path.open("rb").read(1 << 16)
    if encoding is None:
        if raw.startswith(codecs.BOM_UTF8):
            encoding = "utf-8"
        else:
            try:
                raw.decode("utf-8")
                encoding = "utf-8"
            except UnicodeDecodeError as e:
                # a multi-byte character cut at the end of the sample is still UTF-8
                cut = len(raw) == 1 << 16 and e.start >= len(raw) - 3
                encoding = "utf-8" if cut else "latin-1"
    if delimiter is None:
        head = raw.decode(encoding, errors="replace").lstrip("\ufeff").splitlines()
        first = head[0] if head else ""
        counts = {d: first.count(d) for d in _DELIMITERS}
        delimiter = max(counts, key=lambda d: counts[d])
        if counts[delimiter] == 0:
            try:
                delimiter = csv.Sniffer().sniff("\n".join(head[:20]), _DELIMITERS).delimiter
            except csv.Error:
                delimiter = ","
    return CsvDialect(delimiter, encoding)


def file_columns(f: CbsFile, dialect: CsvDialect | None = None) -> list[str]:
    """Column names of a file (header / metadata only)."""
    if f.format in (".sav", ".zsav", ".dta"):
        import pyreadstat

        reader = pyreadstat.read_dta if f.format == ".dta" else pyreadstat.read_sav
        _, meta = reader(str(f.path), metadataonly=True)
        return list(meta.column_names)
    if f.format == ".csv":
        d = dialect or sniff_csv(f.path)
        with f.path.open(newline="", encoding=d.encoding) as fh:
            header = next(csv.reader(fh, delimiter=d.delimiter), [])
        return [h.lstrip("\ufeff").strip() for h in header]
    import pyarrow.parquet as pq

    return list(pq.ParquetFile(f.path).schema_arrow.names)


def resolve(columns: list[str], wanted: str) -> str | None:
    """The real column for a mapped name: case-insensitive, looking through a VRL prefix."""
    up = {c.upper(): c for c in columns}
    w = wanted.upper()
    if w in up:
        return up[w]
    if "VRL" + w in up:
        return up["VRL" + w]
    return None


@dataclass
class Source:
    """A file opened as a DuckDB view; `cols` maps a wanted name (upper case) to its real name."""

    file: CbsFile
    view: str
    cols: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        return name.upper() in self.cols

    def col(self, name: str) -> str:
        try:
            return self.cols[name.upper()]
        except KeyError:
            raise SourceError(f"{self.file.path.name}: no column {name!r}") from None


class Reader:
    """Opens files in one DuckDB connection; .sav/.dta copies go to `work`."""

    def __init__(self, con: duckdb.DuckDBPyConnection, work: Path,
                 csv_options: dict[str, CsvDialect] | None = None) -> None:
        self.con = con
        self.work = work
        self.csv_options = csv_options or {}
        self.n = 0
        self._copies: dict[tuple[Path, tuple[str, ...]], list[Path]] = {}  # by copy_ahead

    def open(self, f: CbsFile, wanted: list[str]) -> Source:
        """A view over `f` with the wanted columns that exist (others are simply absent)."""
        dialect = self.dialect(f) if f.format == ".csv" else None
        try:
            cols = file_columns(f, dialect)
        except Exception as e:  # noqa: BLE001 - any reader failure becomes one message
            raise SourceError(f"{f.path}: cannot read: {e}") from None
        real = {w.upper(): r for w in wanted if (r := resolve(cols, w)) is not None}
        keep = sorted(set(real.values()), key=cols.index)
        self.n += 1
        view = f"src_{self.n}"
        if not keep:
            raise SourceError(f"{f.path.name}: none of the mapped columns {wanted} present")
        if f.format in (".sav", ".zsav", ".dta"):
            parts = self._stat_to_parquet(f, keep)
            rel = f"read_parquet([{', '.join(lit(p) for p in parts)}])"
        elif f.format == ".csv":
            assert dialect is not None
            rel = (f"read_csv({lit(f.path)}, header=true, all_varchar=true, auto_detect=false, "
                   f"delim={lit(dialect.delimiter)}, quote='\"', escape='\"', "
                   f"encoding={lit(dialect.encoding)}, columns={{"
                   + ", ".join(f"{lit(c)}: 'VARCHAR'" for c in cols) + "})")
        else:
            rel = f"read_parquet({lit(f.path)})"
        sel = ", ".join(qid(c) for c in keep)
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT {sel} FROM {rel}")
        types = {r[0]: str(r[1]).upper() for r in self.con.execute(f"DESCRIBE {view}").fetchall()}
        return Source(f, view, real, types)

    def dialect(self, f: CbsFile) -> CsvDialect:
        """A CSV file's separator and encoding: the mapping's ``[csv]`` entry, else sniffed."""
        opt = self.csv_options.get(f.table)
        return sniff_csv(f.path, opt.delimiter if opt else None, opt.encoding if opt else None)

    def open_group(self, files: list[CbsFile], wanted: list[str]) -> Source:
        """One view over several files of a table (e.g. every year), columns named as wanted
        (upper case), every value as text, plus ``__file`` (file name) and ``__year``.

        Files with the same format and columns are read in one scan (CSV: one ``read_csv`` of
        the list; SPSS/Stata: their parquet copies in one ``read_parquet``)."""
        groups: dict[tuple, list[tuple[CbsFile, str, dict[str, str]]]] = {}
        found = []
        for f in files:
            dialect = self.dialect(f) if f.format == ".csv" else None
            try:
                cols = file_columns(f, dialect)
            except Exception as e:  # noqa: BLE001 - any reader failure becomes one message
                raise SourceError(f"{f.path}: cannot read: {e}") from None
            real = {w.upper(): r for w in wanted if (r := resolve(cols, w)) is not None}
            if not real:
                raise SourceError(f"{f.path.name}: none of the mapped columns {wanted} present")
            found.append((f, dialect, cols, real, sorted(set(real.values()), key=cols.index)))
        self.copy_ahead([(f, keep) for f, _, _, _, keep in found
                         if f.format in (".sav", ".zsav", ".dta")])
        for f, dialect, cols, real, keep in found:
            if f.format in (".sav", ".zsav", ".dta"):  # one or more parts (row ranges)
                kind, paths = "parquet", [str(p) for p in self._stat_to_parquet(f, keep)]
            elif f.format == ".csv":
                kind, paths = ("csv", dialect, tuple(cols)), [str(f.path)]
            else:
                kind, paths = "parquet", [str(f.path)]
            for path in paths:
                groups.setdefault((kind, tuple(sorted(real.items()))), []).append((f, path, real))
        selects, types = [], {}
        names = {path: f for members in groups.values() for f, path, _ in members}
        for (kind, _), members in groups.items():
            paths = "[" + ", ".join(lit(p) for _, p, _ in members) + "]"
            if kind == "parquet":
                rel = f"read_parquet({paths}, filename=true, union_by_name=true)"
            else:
                dialect, cols = kind[1], kind[2]
                rel = (f"read_csv({paths}, header=true, auto_detect=false, filename=true, "
                       f"delim={lit(dialect.delimiter)}, quote='\"', escape='\"', "
                       f"encoding={lit(dialect.encoding)}, columns={{"
                       + ", ".join(f"{lit(c)}: 'VARCHAR'" for c in cols) + "})")
            real = members[0][2]
            self.n += 1
            probe = f"probe_{self.n}"
            self.con.execute(f"CREATE OR REPLACE TEMP VIEW {probe} AS SELECT * FROM {rel}")
            typ = {r[0]: str(r[1]).upper() for r in
                   self.con.execute(f"DESCRIBE {probe}").fetchall()}
            items = []
            for w, r in real.items():
                types.setdefault(w, typ[r])
                items.append(f"{_as_text(qid(r), typ[r])} AS {qid(w)}")
            selects.append(f"SELECT {', '.join(items)}, filename AS __file FROM {probe}")
        self.n += 1
        view = f"src_{self.n}"
        year = "CASE __file " + " ".join(
            f"WHEN {lit(p)} THEN {f.year if f.year is not None else 'NULL'}"
            for p, f in names.items()) + " END"
        name = "CASE __file " + " ".join(
            f"WHEN {lit(p)} THEN {lit(f.path.name)}" for p, f in names.items()) + " END"
        self.con.execute(
            f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * REPLACE ({name} AS __file), "
            f"CAST({year} AS INTEGER) AS __year FROM ({' UNION ALL BY NAME '.join(selects)})")
        cols = {w: w for w in types}
        return Source(files[-1], view, cols, types)

    def _stat_to_parquet(self, f: CbsFile, keep: list[str]) -> list[Path]:
        """SPSS / Stata -> parquet in chunks of CHUNK_ROWS, only `keep` columns (the parts
        copy_ahead made, in row order, or one file copied now)."""
        if (f.path, tuple(keep)) in self._copies:
            return self._copies.pop((f.path, tuple(keep)))
        self.n += 1
        out = self.work / f"{f.path.stem}_{self.n}.parquet"
        stat_to_parquet(str(f.path), f.format, keep, str(out))
        return [out]

    def copy_ahead(self, todo: list[tuple[CbsFile, list[str]]]) -> None:
        """Copy several SPSS/Stata files to parquet at once, one process per core; a later
        `_stat_to_parquet` of the same file and columns takes the copy. Fewer files than cores
        are split into row ranges (one file of a national table: households, persons). Small
        sets stay serial."""
        todo = [(f, k) for f, k in todo if (f.path, tuple(k)) not in self._copies]
        workers = os.cpu_count() or 1
        if workers < 2 or not todo or \
                sum(f.path.stat().st_size for f, _ in todo) < PARALLEL_MIN_BYTES:
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        split = -(-workers // len(todo))  # parts per file
        tasks = []  # (file, columns, out, first row, rows or 0 for the rest)
        for f, k in todo:
            rows = _row_count(f) if split > 1 else None
            ranges = ([(i * -(-rows // split), -(-rows // split)) for i in range(split)]
                      if rows and rows >= split * SPLIT_MIN_ROWS else [(0, 0)])
            for first, n in ranges:
                self.n += 1
                tasks.append((f, k, self.work / f"{f.path.stem}_{self.n}.parquet", first, n))
        if len(tasks) < 2:
            return
        # spawn, not fork: the parent holds a running DuckDB connection and its threads
        with ProcessPoolExecutor(min(workers, len(tasks)),
                                 mp_context=multiprocessing.get_context("spawn")) as ex:
            list(ex.map(stat_to_parquet, *zip(*[(str(f.path), f.format, k, str(out), first, n)
                                                for f, k, out, first, n in tasks])))
        for f, k, out, _, _ in tasks:
            self._copies.setdefault((f.path, tuple(k)), []).append(out)


def _row_count(f: CbsFile) -> int | None:
    """Rows of an SPSS / Stata file from its header (None when the header does not say)."""
    import pyreadstat

    reader = pyreadstat.read_dta if f.format == ".dta" else pyreadstat.read_sav
    try:
        n = reader(str(f.path), metadataonly=True)[1].number_rows
    except Exception:  # noqa: BLE001 - the copy itself will report an unreadable file
        return None
    return n if n and n > 0 else None


def stat_to_parquet(path: str, fmt: str, keep: list[str], out: str, first: int = 0,
                    rows: int = 0) -> None:
    """Copy the `keep` columns of one SPSS / Stata file (`rows` rows from row `first`; 0: to
    the end) to parquet; strings stay text (leading zeros), empty strings become null, numbers
    float64, SPSS user-missing values null. polars-readstat streams an SPSS file when installed
    (about 15 times pyreadstat's speed on the twin's files); pyreadstat copies the others: Stata
    files (polars-readstat 0.25 drops a Stata string's trailing spaces) and files whose kept
    columns include a date or time (pyreadstat gives their stored numbers)."""
    try:
        if fmt == ".dta" or not _polars_copy(path, keep, out, first, rows):
            _pyreadstat_copy(path, fmt, keep, out, first, rows)
    except Exception as e:  # noqa: BLE001 - a damaged file (truncated body) is one message
        Path(out).unlink(missing_ok=True)
        raise SourceError(f"{Path(path).name}: cannot read: {type(e).__name__}: {e}") from None


def _polars_copy(path: str, keep: list[str], out: str, first: int, rows: int) -> bool:
    """The copy by polars-readstat (Rust, streamed to parquet); False when it is not installed
    or a kept column is a date or time."""
    try:
        import polars as pl
        from polars_readstat import scan_readstat
    except ImportError:
        return False
    lf = scan_readstat(path, missing_string_as_null=True, threads=1)
    lf = lf.select([c for c in lf.collect_schema().names() if c in keep])  # file order
    schema = lf.collect_schema()
    if any(t.is_temporal() for t in schema.values()):
        return False
    if first or rows:
        lf = lf.slice(first, rows or None)
    lf = lf.with_columns([pl.col(c).cast(pl.Float64) for c, t in schema.items()
                          if t != pl.String])
    lf.sink_parquet(out)  # a file without rows gives a copy with the columns and no rows
    return True


def _pyreadstat_copy(path: str, fmt: str, keep: list[str], out: str, first: int,
                     rows: int) -> None:
    """The copy by pyreadstat, in chunks of CHUNK_ROWS."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    import pyreadstat

    reader = pyreadstat.read_dta if fmt == ".dta" else pyreadstat.read_sav
    writer = None
    schema = None
    try:
        # chunks by hand: pyreadstat's read_file_in_chunks reads a whole chunk past its limit
        at, end = first, (first + rows if rows else None)
        while end is None or at < end:
            n = CHUNK_ROWS if end is None else min(CHUNK_ROWS, end - at)
            df, meta = reader(path, row_offset=at, row_limit=n, usecols=keep,
                              disable_datetime_conversion=True)
            if schema is None:  # also for a file without rows: its copy has the columns
                kinds = meta.readstat_variable_types
                schema = pa.schema([(c, pa.string() if kinds.get(c) == "string"
                                     else pa.float64()) for c in df.columns])
                writer = pq.ParquetWriter(out, schema)
            if not len(df):
                break
            at += len(df)
            table = pa.Table.from_pandas(df, schema=schema, preserve_index=False)
            for i, fld in enumerate(schema):
                if pa.types.is_string(fld.type):
                    col = table.column(i)
                    table = table.set_column(i, fld, pc.if_else(pc.equal(col, ""), None, col))
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
