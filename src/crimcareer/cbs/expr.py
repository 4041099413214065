"""SQL for one mapped column: its value and, per reason, which source rows lose a value.

A column spec (from the TOML mapping) is one of

- ``"COL"``: the column as text; ``{key = [KIND, NUMBER]}``: a person key ``KIND || NUMBER``
  (numbers left-padded to 9 digits); a key whose kind is not a person kind or whose number is
  dashes / zeros is unknown (null);
- ``{date = COL, open = [...], before_register = [...], open_at_version_end = bool}``: a YYYYMMDD
  date; ``open`` codes (``88888888``) mean "not ended" (null), ``before_register`` codes
  (``19941001``) "began on or before that day" (kept, counted), ``open_at_version_end`` turns an end on or after 31 December of
  the file's year into "still running";
- ``{year = Y, month = M, day = D, missing_month = 7, missing_day = 1}``: a date from parts;
- ``{column = C, codes = {...}, unmapped = "null" | "keep", other = V}``: recoded values
  (codes outside the list: null and counted, kept as they are, or `other`);
- ``{number = C}``, ``{flag = C, true = [...], false = [...]}``, ``{const = V}``,
  ``{reference_date = "MM-DD"}`` (that day in the file's year).

Every spec may add ``missing = {CODE = MEANING}`` (meaning ``unknown``, ``not_applicable`` or
``open``); text made only of dashes (``-``, ``--``, ``----``, ``---------``) is always missing,
meaning ``unknown``. Each way a value becomes null is returned as a (reason, SQL predicate) pair
so the converter can count it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crimcareer.cbs.read import Source, lit, qid

RIN_WIDTH = 9
_NUMERIC = ("DOUBLE", "FLOAT", "BIGINT", "INTEGER", "DECIMAL", "SMALLINT", "TINYINT", "HUGEINT")
SQL_TYPES = {"string": "VARCHAR", "date": "DATE", "bool": "BOOLEAN", "float": "DOUBLE"}


@dataclass
class Built:
    """SQL value of a column and the (reason, predicate) pairs that count nulled values."""

    value: str
    lost: list[tuple[str, str]]


def columns_of(spec: Any) -> list[str]:
    """Source columns a spec reads."""
    if isinstance(spec, str):
        return [spec]
    if not isinstance(spec, dict):
        return []
    out: list[str] = []
    for k in ("key", "date", "year", "month", "day", "column", "number", "flag"):
        v = spec.get(k)
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, list):
            out += [x for x in v if isinstance(x, str)]
    return out


def text(src: Source, name: str) -> str:
    """A column as trimmed text (sources are text already: read.Reader.open_group); empty -> null."""
    q = qid(src.col(name))
    return f"nullif(trim(CAST({q} AS VARCHAR)), '')"


def _missing(t: str, spec: dict) -> tuple[str, list[tuple[str, str]]]:
    """t with missing codes nulled, and a predicate per (code kind, meaning)."""
    codes: dict[str, str] = {str(k): str(v) for k, v in (spec.get("missing") or {}).items()}
    dash = f"ltrim({t}, '-') = ''"  # t is null or non-empty: only dashes
    if any(set(k) == {"-"} for k in codes):  # an explicit dash code has its own meaning
        dash += f" AND {t} NOT IN ({', '.join(lit(k) for k in codes)})"
    lost = [("missing code '-' (unknown)", dash)]
    conds = [dash]
    for meaning in sorted(set(codes.values())):
        vals = [k for k, v in codes.items() if v == meaning]
        p = f"{t} IN ({', '.join(lit(v) for v in vals)})"
        lost.append((f"missing code {'/'.join(vals)} ({meaning})", p))
        conds.append(p)
    return f"CASE WHEN {' OR '.join(conds)} THEN NULL ELSE {t} END", lost


def key(src: Source, kind_col: str, number_col: str, kinds: tuple[str, ...]) -> Built:
    """A person key; unknown (dashes, zeros, kind not a person kind) -> null, counted."""
    kind = text(src, kind_col)
    num = text(src, number_col)
    if src.types.get(number_col.upper(), "VARCHAR").split("(")[0] in _NUMERIC:
        num = f"lpad({num}, {RIN_WIDTH}, '0')"
    blank = f"({num} IS NULL OR ltrim({num}, '-0 ') = '')"
    bad_kind = f"(NOT {blank} AND coalesce({kind}, '') NOT IN ({', '.join(lit(k) for k in kinds)}))"
    value = f"CASE WHEN {blank} OR {bad_kind} THEN NULL ELSE {kind} || {num} END"
    return Built(value, [("unknown person (empty, dashes or zeros)", blank),
                         (f"RINPERSOONS not in {list(kinds)}", bad_kind)])


def build(src: Source, spec: Any, ctype: str, kinds: tuple[str, ...],
          year_sql: str = "NULL") -> Built:
    """The SQL value of one contract column of type `ctype` from `spec`."""
    typ = SQL_TYPES[ctype]
    if spec is None:
        return Built(f"CAST(NULL AS {typ})", [])
    if isinstance(spec, str):
        v, lost = _missing(text(src, spec), {})
        return Built(f"CAST({v} AS {typ})", lost)
    if not isinstance(spec, dict):
        raise ValueError(f"column spec must be a column name or a table, not {spec!r}")
    if "key" in spec:
        k = spec["key"]
        return key(src, k[0], k[1], tuple(spec.get("kinds", kinds)))
    if "const" in spec:
        return Built(f"CAST({lit(spec['const'])} AS {typ})", [])
    if "reference_date" in spec:
        return Built(f"CAST(try_strptime(CAST({year_sql} AS VARCHAR) || '-' || {lit(spec['reference_date'])}, "
                     "'%Y-%m-%d') AS DATE)", [])
    if "date" in spec:
        return _date(src, spec, year_sql)
    if "year" in spec:
        return _date_parts(src, spec)
    if "column" in spec:
        t, lost = _missing(text(src, spec["column"]), spec)
        codes = {str(k): str(v) for k, v in (spec.get("codes") or {}).items()}
        if not codes:
            return Built(f"CAST({t} AS {typ})", lost)
        cases = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in codes.items())
        keep = spec.get("unmapped", "null") == "keep"
        other = lit(spec["other"]) if "other" in spec else ("" if keep else "NULL")
        value = f"CASE {t} {cases} ELSE {other or t} END"
        if not keep and "other" not in spec:
            lost.append(("unmapped code", f"{t} IS NOT NULL AND ({value}) IS NULL"))
        return Built(f"CAST({value} AS {typ})", lost)
    if "number" in spec:
        t, lost = _missing(text(src, spec["number"]), spec)
        value = f"TRY_CAST({t} AS DOUBLE)"
        return Built(value, lost + [("not a number", f"{t} IS NOT NULL AND {value} IS NULL")])
    if "flag" in spec:
        t, lost = _missing(text(src, spec["flag"]), spec)
        tr = ", ".join(lit(x) for x in spec.get("true", ["1"]))
        fa = ", ".join(lit(x) for x in spec.get("false", ["0"]))
        value = f"CASE WHEN {t} IN ({tr}) THEN true WHEN {t} IN ({fa}) THEN false END"
        return Built(value, lost + [("unmapped code", f"{t} IS NOT NULL AND ({value}) IS NULL")])
    raise ValueError(f"unknown column spec {spec!r}")


def _date(src: Source, spec: dict, year_sql: str) -> Built:
    t = text(src, spec["date"])
    # an integer date in a CSV copy or .dta arrives as text already (text() drops '.0')
    extra = dict(spec.get("missing") or {})
    for code in spec.get("open", []):
        extra[str(code)] = "open"
    t2, lost = _missing(t, {"missing": extra})
    for code in spec.get("before_register", []):
        # a start date is required in spells: the date stays, its meaning is counted
        lost.append((f"{code}: began on or before that day (date kept)", f"{t} = {lit(code)}"))
    parsed = f"CAST(try_strptime({t2}, '%Y%m%d') AS DATE)"
    value = parsed
    if spec.get("open_at_version_end") and year_sql != "NULL":
        end = f"make_date(CAST({year_sql} AS INTEGER), 12, 31)"
        p = f"{parsed} >= {end}"
        value = f"CASE WHEN {p} THEN NULL ELSE {parsed} END"
        lost.append(("ends on the version's last day (open)", p))
    lost.append(("unparseable date", f"{t2} IS NOT NULL AND {parsed} IS NULL"))
    return Built(value, lost)


def _date_parts(src: Source, spec: dict) -> Built:
    def part(name: str | None) -> str:
        if not name or not src.has(name):
            return "NULL"
        t, _ = _missing(text(src, name), {})
        return f"TRY_CAST({t} AS INTEGER)"

    y, m, d = part(spec["year"]), part(spec.get("month")), part(spec.get("day"))
    mm = f"coalesce({m}, {int(spec.get('missing_month', 7))})"
    dd = f"coalesce({d}, {int(spec.get('missing_day', 1))})"
    value = f"CAST(try_strptime(printf('%04d-%02d-%02d', {y}, {mm}, {dd}), '%Y-%m-%d') AS DATE)"
    lost = [("year missing", f"{y} IS NULL"),
            ("unparseable date", f"{y} IS NOT NULL AND {value} IS NULL")]
    if m != "NULL":
        lost.insert(0, (f"month missing: imputed as {int(spec.get('missing_month', 7))}",
                        f"{y} IS NOT NULL AND {m} IS NULL"))
    if d != "NULL":
        lost.insert(0, (f"day missing: imputed as {int(spec.get('missing_day', 1))}",
                        f"{y} IS NOT NULL AND {d} IS NULL"))
    return Built(value, lost)
