"""What a CBS Remote Access folder holds: tables, years, versions, chosen files, columns, types,
value labels and per column the count of each missing code. Never row contents.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb

from crimcareer.cbs import discover
from crimcareer.cbs.read import Reader, SourceError, file_columns, qid, sniff_csv

#: Codes that mean "missing" or "open" somewhere in CBS files (docs/cbs.md).
MISSING_CODES = ("-", "--", "----", "---------", "0000", "9999", "88888888", "20501231",
                 "19941001")


def inspect(ra_dir: str | Path) -> tuple[str, list[str]]:
    """The report text and the problems found (files that could not be read)."""
    ra = Path(ra_dir)
    if not ra.is_dir():
        raise SourceError(f"{ra} is not a folder")
    files = discover.find_files(ra)
    if not files:
        raise SourceError(f"no .sav, .dta, .csv or .parquet files under {ra}")
    lines, problems = [f"CBS folder {ra}: {len(files)} files, "
                       f"{len(discover.tables(files))} tables"], []
    with tempfile.TemporaryDirectory(prefix="crimcareer-inspect-") as tmp:
        con = duckdb.connect()
        con.execute("SET enable_progress_bar=false")
        reader = Reader(con, Path(tmp))
        for table in discover.tables(files):
            chs = discover.choose(files, table)
            years = [c.year for c in chs if c.year is not None]
            versions = sorted({f"V{f.version}{' (VRL)' if f.provisional else ''}"
                               for f in files if f.table == table})
            lines.append("")
            lines.append(f"{table}: years {_years(years)}; versions {', '.join(versions)}")
            for ch in chs:
                over = ", ".join(f.path.name for f in ch.passed_over)
                lines.append(f"  {ch.year or '-'}: uses {ch.file.path.relative_to(ra)} "
                             f"({ch.reason})" + (f"; not used: {over}" if over else ""))
            try:
                lines += _describe(reader, chs[-1].file)
            except Exception as e:  # noqa: BLE001 - reported, the rest goes on
                problems.append(f"{chs[-1].file.path}: {e}")
                lines.append(f"  cannot read {chs[-1].file.path.name}: {e}")
        con.close()
    return "\n".join(lines), problems


def _years(years: list[int]) -> str:
    if not years:
        return "-"
    return f"{years[0]}" if len(years) == 1 else f"{years[0]}-{years[-1]} ({len(years)} files)"


def _describe(reader: Reader, f: discover.CbsFile) -> list[str]:
    """Columns of the latest chosen file: type, value labels, counts of missing codes."""
    labels, types, fmt = _labels(f)
    cols = file_columns(f)
    src = reader.open(f, cols)
    extra = ""
    if f.format == ".csv":
        d = sniff_csv(f.path)
        extra = f", separator {d.delimiter!r}, encoding {d.encoding}"
    n = reader.con.execute(f"SELECT count(*) FROM {src.view}").fetchone()[0]
    out = [f"  columns of {f.path.name} ({n:,} rows{extra}):"]
    codes = ", ".join("'" + c + "'" for c in MISSING_CODES)
    aggs = []
    for c in cols:
        real = src.cols[c.upper()]
        t = f"trim(CAST({qid(real)} AS VARCHAR))"
        num = src.types.get(real, "").startswith(("DOUBLE", "BIGINT", "INTEGER"))
        if num:
            t = f"CAST(TRY_CAST({qid(real)} AS BIGINT) AS VARCHAR)"
        aggs.append(f"histogram(CASE WHEN {t} IN ({codes}) OR regexp_full_match({t}, '-+') "
                    f"THEN {t} END)")
        aggs.append(f"count(*) FILTER (WHERE {qid(real)} IS NULL OR {t} = '')")
    row = reader.con.execute(f"SELECT {', '.join(aggs)} FROM {src.view}").fetchone()
    for i, c in enumerate(cols):
        hist, empty = row[2 * i] or {}, row[2 * i + 1]
        miss = dict(sorted(hist.items()))
        if empty:
            miss["(empty)"] = empty
        typ = types.get(c) or src.types.get(src.cols[c.upper()], "?")
        lab = labels.get(c)
        line = f"    {c:<32} {typ:<10}"
        if miss:
            line += " missing " + ", ".join(f"{k!s}: {v:,}" for k, v in miss.items())
        out.append(line)
        if lab:
            shown = "; ".join(f"{k} = {v}" for k, v in list(lab.items())[:12])
            more = f" (+{len(lab) - 12} more)" if len(lab) > 12 else ""
            out.append(f"      labels: {shown}{more}")
    if fmt:
        out.append(f"  file format: {fmt}")
    return out


def _labels(f: discover.CbsFile) -> tuple[dict, dict, str]:
    """Value labels and SPSS/Stata types from the file's metadata (.sav/.dta only)."""
    if f.format not in (".sav", ".zsav", ".dta"):
        return {}, {}, ""
    import pyreadstat

    reader = pyreadstat.read_dta if f.format == ".dta" else pyreadstat.read_sav
    _, meta = reader(str(f.path), metadataonly=True)
    labels = {c: meta.value_labels.get(s, {}) for c, s in meta.variable_to_label.items()}
    labels = {c: v for c, v in labels.items() if v}
    labels.update({c: v for c, v in (meta.variable_value_labels or {}).items() if v})
    types = {c: str(t) for c, t in meta.original_variable_types.items()}
    return labels, types, ("SPSS" if f.format != ".dta" else "Stata")
