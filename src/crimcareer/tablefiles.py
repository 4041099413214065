"""Contract table files on disk: which files a folder holds, the cut-off in its meta.json, and
how CSV and SPSS .sav files are read (CSV as text in DuckDB SQL, .sav converted to parquet).

Shared by validation (which checks the files) and adapters/files.py (which opens them in an
engine after validation); it imports neither.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from crimcareer import contract


SUFFIXES = (".parquet", ".csv", ".sav")


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
