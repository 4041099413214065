"""Read a folder of contract tables (parquet, csv or SPSS .sav) into an engine.

CSV and .sav files are converted to parquet once (in the engine's temporary folder) so every
engine reads the same typed columns; parquet files are read where they are.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import ibis.expr.types as ir

from crimcareer import contract
from crimcareer.engine import Engine

SUFFIXES = (".parquet", ".csv", ".sav")


@dataclass
class Registers:
    """The contract tables of one folder, as engine tables, with the data cut-off."""

    tables: dict[str, ir.Table]
    cutoff: dt.date
    folder: Path | None = None
    repair_log: list = field(default_factory=list)

    def has(self, name: str) -> bool:
        return name in self.tables

    def __getattr__(self, name: str) -> ir.Table:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        if name in contract.TABLES:
            raise AttributeError(f"optional table {name!r} is not in this register folder")
        raise AttributeError(name)


def table_files(folder: str | Path) -> dict[str, Path]:
    """The contract table files present in a folder, by table name (parquet preferred)."""
    folder = Path(folder)
    found: dict[str, Path] = {}
    for name in contract.TABLES:
        for suffix in SUFFIXES:
            p = folder / f"{name}{suffix}"
            if p.exists():
                found[name] = p
                break
    return found


def read_cutoff(folder: str | Path) -> dt.date | None:
    """The cut-off date from the folder's meta.json, if present."""
    meta = Path(folder) / "meta.json"
    if meta.exists():
        value = json.loads(meta.read_text()).get("cutoff")
        if value:
            return dt.date.fromisoformat(value)
    return None


# SPSS display formats that hold calendar dates / date-times (pyreadstat returns them converted).
_SAV_DATE_FORMATS = ("DATE", "ADATE", "EDATE", "SDATE", "JDATE", "QYR", "MOYR", "WKYR")
_SAV_DATETIME_FORMATS = ("DATETIME", "YMDHMS")


def sav_to_parquet(path: str | Path, out: str | Path, chunksize: int = 500_000) -> Path:
    """Convert an SPSS .sav file to parquet in chunks (strings keep leading zeros; "" -> null).

    Column types come from the file's metadata, not from each chunk, so an all-empty chunk
    cannot change a column's type: strings -> string, SPSS date formats -> date, date-times ->
    timestamp, other numbers -> float64.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    import pyreadstat

    out = Path(out)
    writer = None
    schema = None
    try:
        for df, meta in pyreadstat.read_file_in_chunks(
            pyreadstat.read_sav, str(path), chunksize=chunksize
        ):
            if schema is None:
                fields = []
                for name in df.columns:
                    kind = meta.readstat_variable_types.get(name, "double")
                    fmt = str(meta.original_variable_types.get(name, "")).upper()
                    if kind == "string":
                        typ = pa.string()
                    elif fmt.startswith(_SAV_DATETIME_FORMATS):
                        typ = pa.timestamp("us")
                    elif fmt.startswith(_SAV_DATE_FORMATS):
                        typ = pa.date32()
                    else:
                        typ = pa.float64()
                    fields.append(pa.field(name, typ))
                schema = pa.schema(fields)
                writer = pq.ParquetWriter(str(out), schema)
            for f in schema:
                if pa.types.is_string(f.type):
                    # SPSS has no missing strings: an empty string is the missing value.
                    df[f.name] = df[f.name].where(df[f.name].ne(""), None)
                elif pa.types.is_date32(f.type):
                    df[f.name] = [
                        None if v is None or v != v else (v.date() if hasattr(v, "date") else v)
                        for v in df[f.name]
                    ]
            writer.write_table(pa.Table.from_pandas(df, schema=schema, preserve_index=False))
    finally:
        if writer is not None:
            writer.close()
    if schema is None:  # pragma: no cover - pyreadstat yields at least one (empty) chunk
        raise ValueError(f"{path}: no data")
    return out


def load_registers(folder: str | Path, engine: Engine, mode: str = "strict") -> Registers:
    """Open every contract table of a folder in the engine (validated first).

    mode="strict" refuses a folder that breaks the contract (ContractError naming table, column,
    rule and count); mode="repair" drops offending rows and keeps the repair log.
    """
    from crimcareer.validation import prepare_folder

    folder = Path(folder)
    parquet_folder, repair_log = prepare_folder(
        folder, mode=mode, work_dir=Path(engine._tmp.name), engine=engine
    )
    tables = {
        name: engine.read_parquet(path, name=name)
        for name, path in table_files(parquet_folder).items()
    }
    cutoff = read_cutoff(folder) or read_cutoff(parquet_folder) or dt.date.today()
    return Registers(tables=tables, cutoff=cutoff, folder=folder, repair_log=repair_log)


def describe_folder(folder: str | Path) -> str:
    """A short text: each contract table present, its file and row count, and the cut-off."""
    return inspect_folder(folder)[0]


def inspect_folder(folder: str | Path) -> tuple[str, list[str], list[str]]:
    """(the text of :func:`describe_folder`, required tables absent, files that cannot be read
    with the reason and what to do)."""
    folder = Path(folder)
    if not folder.is_dir():
        from crimcareer.validation import ContractReadError

        what = "does not exist" if not folder.exists() else "is not a folder"
        raise ContractReadError(f"folder {folder} {what}")
    lines = [f"register folder {folder}"]
    files = table_files(folder)
    absent: list[str] = []
    unreadable: list[str] = []
    for name, t in contract.TABLES.items():
        if name in files:
            p = files[name]
            try:
                if p.suffix == ".csv" and diagnose_csv(p):
                    raise ValueError("not the contract's CSV")
                rows = f"{_row_count(p):,} rows"
            except Exception as e:  # noqa: BLE001 - say why in plain words
                rows = "unreadable"
                reason = diagnose_csv(p) if p.suffix == ".csv" else None
                unreadable.append(reason or f"{p.name} cannot be read ({type(e).__name__})")
            lines.append(f"  {name:<17} {p.name:<26} {rows}")
        else:
            if t.required:
                absent.append(name)
            lines.append(f"  {name:<17} {'absent' + (' (REQUIRED)' if t.required else ''):<26}")
    try:
        cutoff = read_cutoff(folder)
    except (ValueError, OSError):
        cutoff = None
        unreadable.append("meta.json cannot be read: it must be JSON with \"cutoff\": \"YYYY-MM-DD\"")
    lines.append(f"  cut-off: {cutoff or 'unknown (no meta.json)'}")
    return "\n".join(lines), absent, unreadable


def _row_count(path: Path) -> int:
    """Data rows of a table file (parquet and .sav from metadata; CSV counted by DuckDB)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    if path.suffix == ".sav":
        import pyreadstat

        return int(pyreadstat.read_sav(str(path), metadataonly=True)[1].number_rows or 0)
    import duckdb

    con = duckdb.connect()
    try:
        return con.execute(f"SELECT count(*) FROM {csv_as_text(path)}").fetchone()[0]
    finally:
        con.close()


def csv_as_text(path: str | Path) -> str:
    """DuckDB SQL reading a comma-separated UTF-8 file with a header, every column as text.

    Column names come from the header line and DuckDB's sniffer is off: it read a file with one
    short row as zero rows, silently. Malformed rows raise an error instead.
    """
    import csv

    with open(path, newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh), None)
    if not header:
        raise ValueError(f"{Path(path).name}: no header line")

    def lit(v: object) -> str:
        return "'" + str(v).replace("'", "''") + "'"

    columns = "{" + ", ".join(f"{lit(h)}: 'VARCHAR'" for h in header) + "}"
    return (
        f"read_csv({lit(path)}, header=true, auto_detect=false, delim=',', quote='\"', "
        f"escape='\"', columns={columns})"
    )


SEPARATORS = {";": "';'", "\t": "a tab", "|": "'|'"}


def csv_header(path: str | Path) -> list[str] | None:
    """The header fields of a comma-separated UTF-8 file (None when there is no header line)."""
    import csv

    with open(path, newline="", encoding="utf-8-sig") as fh:
        return next(csv.reader(fh), None)


def wrong_separator(header: list[str] | None) -> str | None:
    """The separator a CSV header seems to use instead of ',' (None when it looks comma-separated)."""
    if not header or len(header) != 1:
        return None
    for sep, name in SEPARATORS.items():
        if sep in header[0]:
            return name
    return None


def diagnose_csv(path: str | Path) -> str | None:
    """A plain-words reason why a CSV file cannot be read as the contract's CSV, with what to do.

    Looks at the encoding (UTF-8 expected) and the header's separator (',' expected). Never quotes
    the file's content: only line numbers and the separator are named. None if nothing is found.
    """
    import codecs

    path = Path(path)
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    try:
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as e:
                    line += block[: e.start].count(b"\n")
                    try:
                        block.decode("cp1252")
                        guess = "; it looks like Latin-1/Windows-1252"
                    except UnicodeDecodeError:
                        guess = ""
                    return (f"{path.name} is not UTF-8 text (first non-UTF-8 character on line "
                            f"{line}{guess}): re-save it as UTF-8 (Excel: 'CSV UTF-8'; or "
                            f"`iconv -f cp1252 -t utf-8`)")
                line += block.count(b"\n")
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return f"{path.name} ends in an incomplete UTF-8 character: re-save it as UTF-8"
    except OSError as e:
        return f"{path.name} cannot be opened ({type(e).__name__}): check that it exists and is readable"
    header = csv_header(path)
    if not header:
        return f"{path.name} has no header line: the first line must name the columns"
    sep = wrong_separator(header)
    if sep:
        return (f"{path.name}: the separator looks like {sep}, not ','; the contract's CSV is "
                "comma-separated with ISO dates (YYYY-MM-DD): re-save it comma-separated "
                "(Dutch Excel writes ';' - use 'CSV UTF-8 (comma delimited)' or convert)")
    return None
