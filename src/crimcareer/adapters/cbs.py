"""CBS Remote Access tables -> contract tables (then check them with ``crimcareer validate``).

CBS microdata identify a person by two columns: RINPERSOONS (the kind of key, e.g. ``R``) and
RINPERSOON (a 9-digit number). The contract's ``person_id`` is their concatenation as a string,
``RINPERSOONS + RINPERSOON`` (e.g. ``R000012345``), keeping leading zeros; a RINPERSOON that
arrives as a number (SPSS numeric) is left-padded back to 9 digits. Dates are ``YYYYMMDD`` text;
the sentinels ``88888888`` (unknown) and ``20501231`` (still running) become null, as the
contract's "null end date = still running" asks.

A mapping says, per contract table, which source file (a glob on the file name, case-insensitive,
``.sav``/``.csv``/``.parquet``) and how each contract column is built:

- ``"COLUMN"``: the source column as text (numbers without a trailing ``.0``);
- ``Key(kind, number)``: a person key; ``Date(col)``: a YYYYMMDD date;
- ``DateParts(year, month, day)``: a date from parts (a missing day column -> ``default_day``);
- ``Code(col, codes, keep_unmapped)``: recoded values; unmapped values are kept (so validation
  reports them as unknown codes) or, with ``keep_unmapped=False``, set to null and logged;
- ``Number(col)``, ``Flag(col, true, false)``, ``Const(value)``, ``None`` (all null).

``DEFAULT_MAPPING`` covers ``persons`` from GBAPERSOONTAB (GBAGEBOORTEJAAR / -MAAND / -DAG,
GBAGESLACHT 1 = M, 2 = F, GBAGENERATIE 0/1/2, GBAHERKOMSTGROEPERING), with the death date from
GBAOVERLIJDENTAB when present; ``relations`` for parents, children, full and half siblings come
from KINDOUDERTAB (:func:`kindouder_relations`). Other tables need a mapping from the user, as
their CBS sources differ per project. The origin country codes below follow the CBS LAND
classification as commonly used; check them against the codebook of your release, and pass a
full mapping (with western / non-western groups) in ``origin_codes`` for real work: unmapped
countries become null and are counted in the conversion log.

Nothing is nulled silently: unparseable dates and dropped codes are counted per column in the
returned log (also written to ``conversion_log.json``).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from crimcareer import contract
from crimcareer.adapters.files import csv_as_text, sav_to_parquet

SENTINEL_DATES = ("88888888", "20501231")
RIN_WIDTH = 9

# CBS LAND codes of the contract's origin groups (verify against your release's codebook).
ORIGIN_CODES: dict[str, str] = {
    "6030": "NL",  # Nederland
    "5022": "MA",  # Marokko
    "6043": "TR",  # Turkije
    "5007": "SR",  # Suriname
    "5095": "AN",  # Aruba
    "5106": "AN",  # Curacao
    "5107": "AN",  # Sint Maarten
    "5108": "AN",  # Bonaire
    "5109": "AN",  # Sint Eustatius
    "5110": "AN",  # Saba
    "7011": "AN",  # Nederlandse Antillen (oud)
}
SEX_CODES = {"1": "M", "2": "F"}
GENERATION_CODES = {"0": "none", "1": "first_generation", "2": "second_generation"}


@dataclass(frozen=True)
class Key:
    """A person key: RINPERSOONS + RINPERSOON (number left-padded to 9 digits)."""

    kind: str = "RINPERSOONS"
    number: str = "RINPERSOON"


@dataclass(frozen=True)
class Date:
    """A YYYYMMDD date column (sentinels -> null)."""

    column: str


@dataclass(frozen=True)
class DateParts:
    """A date from year, month and (optional) day columns."""

    year: str
    month: str
    day: str | None = None
    default_day: int = 1


@dataclass(frozen=True)
class Code:
    """A recoded column: source value (as text) -> contract code."""

    column: str
    codes: dict[str, str]
    keep_unmapped: bool = True


@dataclass(frozen=True)
class Number:
    """A numeric column."""

    column: str


@dataclass(frozen=True)
class Flag:
    """A boolean from source codes (others -> null)."""

    column: str
    true: tuple[str, ...] = ("1",)
    false: tuple[str, ...] = ("0",)


@dataclass(frozen=True)
class Const:
    """The same value on every row."""

    value: str | float | bool


Spec = Union[str, Key, Date, DateParts, Code, Number, Flag, Const, None]


@dataclass(frozen=True)
class Join:
    """Columns taken from another source file, joined on the person key (one value per key)."""

    source: str
    columns: dict[str, Spec]
    key: Key = Key()
    optional: bool = True


@dataclass(frozen=True)
class TableMapping:
    """How one contract table is built from one CBS source file (glob on the file name)."""

    source: str
    columns: dict[str, Spec]
    joins: tuple[Join, ...] = ()
    key: Key = Key()
    where: str | None = None  # optional SQL filter on the source columns


@dataclass
class ConversionEntry:
    """Values set to null during conversion (unparseable dates, dropped codes), per column."""

    table: str
    column: str
    rule: str
    count: int

    def __str__(self) -> str:
        return f"convert {self.table}.{self.column}: {self.rule}: {self.count:,} values set to null"


DEFAULT_MAPPING: dict[str, TableMapping] = {
    "persons": TableMapping(
        source="GBAPERSOON*",
        columns={
            "person_id": Key(),
            "birth_date": DateParts("GBAGEBOORTEJAAR", "GBAGEBOORTEMAAND", "GBAGEBOORTEDAG"),
            "sex": Code("GBAGESLACHT", SEX_CODES, keep_unmapped=False),
            "migration_background": Code("GBAGENERATIE", GENERATION_CODES, keep_unmapped=False),
            "origin_group": Code("GBAHERKOMSTGROEPERING", ORIGIN_CODES, keep_unmapped=False),
            "death_date": None,
            "emigration_date": None,
        },
        joins=(Join("GBAOVERLIJDEN*", {"death_date": Date("GBADATUMOVERLIJDEN")}),),
    ),
}


def cbs_to_contract(
    src_folder: str | os.PathLike,
    out_folder: str | os.PathLike,
    mapping: dict[str, TableMapping] | None = None,
    cutoff: dt.date | None = None,
    origin_codes: dict[str, str] | None = None,
) -> list[ConversionEntry]:
    """Write contract tables built from CBS-like tables to ``out_folder``; return the null log.

    ``mapping`` adds to / overrides :data:`DEFAULT_MAPPING` per table. Relations are built from a
    KINDOUDERTAB-like file when present and not mapped otherwise.
    """
    from crimcareer.engine import Engine

    src, out = Path(src_folder), Path(out_folder)
    out.mkdir(parents=True, exist_ok=True)
    tables = dict(DEFAULT_MAPPING)
    if origin_codes is not None:
        cols = dict(tables["persons"].columns)
        cols["origin_group"] = Code("GBAHERKOMSTGROEPERING", origin_codes, keep_unmapped=False)
        tables["persons"] = TableMapping(tables["persons"].source, cols, tables["persons"].joins)
    tables.update(mapping or {})
    log: list[ConversionEntry] = []
    with Engine("duckdb") as engine:
        conv = _Converter(engine, src)
        for name, tm in tables.items():
            if name not in contract.TABLES:
                raise ValueError(f"mapping names unknown contract table {name!r}")
            log += conv.write_table(name, tm, out / f"{name}.parquet")
        if "relations" not in tables and conv.find("KINDOUDER*", optional=True):
            conv.write_kindouder(out / "relations.parquet")
    (out / "meta.json").write_text(json.dumps({
        "cutoff": cutoff.isoformat() if cutoff else None,
        "source": f"CBS tables in {src} via crimcareer.adapters.cbs",
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }, indent=1))
    (out / "conversion_log.json").write_text(json.dumps(
        [e.__dict__ for e in log], indent=1))
    return log


def kindouder_relations(src_folder: str | os.PathLike, out_file: str | os.PathLike) -> Path:
    """Contract relations (parent/child both ways, siblings, half siblings) from KINDOUDERTAB."""
    from crimcareer.engine import Engine

    with Engine("duckdb") as engine:
        _Converter(engine, Path(src_folder)).write_kindouder(Path(out_file))
    return Path(out_file)


# ------------------------------------------------------------------------------------------------
def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


_INTEGER_LIKE = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                 "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL")
_SQL_TYPES = {"string": "VARCHAR", "date": "DATE", "bool": "BOOLEAN", "float": "DOUBLE"}


@dataclass
class _Source:
    view: str
    types: dict[str, tuple[str, str]] = field(default_factory=dict)  # NAME -> (name, type)


class _Converter:
    def __init__(self, engine, src: Path) -> None:
        self.con = engine.con.con
        self.tmp = Path(engine._tmp.name)
        self.src = src
        self.sources: dict[Path, _Source] = {}

    def find(self, pattern: str, optional: bool = False) -> Path | None:
        files = sorted(
            p for p in self.src.iterdir()
            if p.suffix.lower() in (".sav", ".csv", ".parquet")
            and fnmatch.fnmatch(p.stem.upper(), pattern.upper())
        )
        if not files:
            if optional:
                return None
            raise FileNotFoundError(f"no source file matching {pattern!r} in {self.src}")
        if len(files) > 1:
            raise ValueError(f"several files match {pattern!r}: {[p.name for p in files]}")
        return files[0]

    def source(self, path: Path) -> _Source:
        if path not in self.sources:
            view = f"src_{len(self.sources)}"
            if path.suffix.lower() == ".sav":
                pq_path = self.tmp / f"{view}.parquet"
                sav_to_parquet(path, pq_path)
                rel = f"read_parquet({_lit(pq_path)})"
            elif path.suffix.lower() == ".csv":
                rel = csv_as_text(path)
            else:
                rel = f"read_parquet({_lit(path)})"
            self.con.execute(f"CREATE TEMP VIEW {view} AS SELECT * FROM {rel}")
            types = {r[0].upper(): (r[0], r[1]) for r in
                     self.con.execute(f"DESCRIBE {view}").fetchall()}
            self.sources[path] = _Source(view, types)
        return self.sources[path]

    # -- expressions ------------------------------------------------------------------------------
    def _col(self, s: _Source, name: str) -> tuple[str, str]:
        try:
            real, typ = s.types[name.upper()]
        except KeyError:
            raise KeyError(f"source column {name!r} not found in {s.view}") from None
        return _q(real), typ.split("(")[0].upper()

    def _text(self, s: _Source, name: str) -> str:
        q, typ = self._col(s, name)
        if typ in _INTEGER_LIKE:
            # SPSS numerics arrive as doubles: print 123.0 as "123".
            return f"CAST(CAST({q} AS BIGINT) AS VARCHAR)"
        return f"nullif(trim(CAST({q} AS VARCHAR)), '')"

    def _date_text(self, s: _Source, name: str) -> str:
        t = self._text(s, name)
        sentinels = ", ".join(_lit(x) for x in SENTINEL_DATES)
        return f"CASE WHEN {t} IN ({sentinels}) THEN NULL ELSE {t} END"

    def _key(self, s: _Source, key: Key) -> str:
        kind = self._text(s, key.kind)
        q, typ = self._col(s, key.number)
        number = self._text(s, key.number)
        if typ in _INTEGER_LIKE:  # leading zeros were lost in a numeric column
            number = f"lpad({number}, {RIN_WIDTH}, '0')"
        return f"({kind} || {number})"

    def expr(self, s: _Source, spec: Spec, col: contract.Column) -> tuple[str, str | None, str]:
        """(SQL value, SQL predicate 'a non-null source value was nulled', its rule name)."""
        typ = _SQL_TYPES[col.type]
        if spec is None:
            return f"CAST(NULL AS {typ})", None, ""
        if isinstance(spec, str):
            return f"CAST({self._text(s, spec)} AS {typ})", None, ""
        if isinstance(spec, Key):
            return self._key(s, spec), None, ""
        if isinstance(spec, Date):
            t = self._date_text(s, spec.column)
            value = f"CAST(try_strptime({t}, '%Y%m%d') AS DATE)"
            return value, f"{t} IS NOT NULL AND {value} IS NULL", "unparseable date"
        if isinstance(spec, DateParts):
            y = f"TRY_CAST({self._text(s, spec.year)} AS INTEGER)"
            m = f"TRY_CAST({self._text(s, spec.month)} AS INTEGER)"
            d = (f"coalesce(TRY_CAST({self._text(s, spec.day)} AS INTEGER), {spec.default_day})"
                 if spec.day and spec.day.upper() in s.types else str(spec.default_day))
            value = (f"CAST(try_strptime(printf('%04d-%02d-%02d', {y}, {m}, {d}), '%Y-%m-%d') "
                     "AS DATE)")
            return value, f"{y} IS NOT NULL AND {value} IS NULL", "unparseable date"
        if isinstance(spec, Code):
            t = self._text(s, spec.column)
            cases = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in spec.codes.items())
            other = t if spec.keep_unmapped else "NULL"
            value = f"CASE {t} {cases} ELSE {other} END" if spec.codes else other
            lost = None if spec.keep_unmapped else f"{t} IS NOT NULL AND ({value}) IS NULL"
            return value, lost, "unmapped code"
        if isinstance(spec, Number):
            q, _ = self._col(s, spec.column)
            value = f"TRY_CAST({q} AS DOUBLE)"
            return value, f"{q} IS NOT NULL AND {value} IS NULL", "not a number"
        if isinstance(spec, Flag):
            t = self._text(s, spec.column)
            tr = ", ".join(_lit(x) for x in spec.true)
            fa = ", ".join(_lit(x) for x in spec.false)
            value = f"CASE WHEN {t} IN ({tr}) THEN true WHEN {t} IN ({fa}) THEN false END"
            return value, f"{t} IS NOT NULL AND ({value}) IS NULL", "unmapped code"
        if isinstance(spec, Const):
            return f"CAST({_lit(spec.value)} AS {typ})", None, ""
        raise TypeError(f"unknown column spec {spec!r}")

    # -- tables -----------------------------------------------------------------------------------
    def write_table(self, name: str, tm: TableMapping, target: Path) -> list[ConversionEntry]:
        t = contract.TABLES[name]
        s = self.source(self.find(tm.source))
        selects, checks, joins = [], [], []
        for col in t.columns:
            spec = tm.columns.get(col.name)
            value, lost, rule = self.expr(s, spec, col)
            selects.append((col.name, value, lost, rule))
        # joined columns replace the base expression (coalesce: base first, then joined)
        for j, join in enumerate(tm.joins):
            path = self.find(join.source, optional=join.optional)
            if path is None:
                continue
            js = self.source(path)
            alias = f"j{j}"
            parts, jchecks = [], []
            for cname, spec in join.columns.items():
                value, lost, rule = self.expr(js, spec, t.column(cname))
                parts.append(f"min({value}) AS {_q(cname)}")
                if lost:
                    jchecks.append((cname, f"count(*) FILTER (WHERE {lost})", rule))
            joins.append(
                f"LEFT JOIN (SELECT {self._key(js, join.key)} AS __k, {', '.join(parts)} "
                f"FROM {js.view} GROUP BY __k) {alias} ON {alias}.__k = b.__k"
            )
            for cname in join.columns:
                selects = [
                    (n, f"coalesce({v}, {alias}.{_q(cname)})" if n == cname else v, lo, r)
                    for n, v, lo, r in selects
                ]
            checks += [(c, f"SELECT {x} FROM {js.view}", r) for c, x, r in jchecks]
        key = f", {self._key(s, tm.key)} AS __k" if joins else ""
        base = f"(SELECT *{key} FROM {s.view}"
        base += f" WHERE {tm.where})" if tm.where else ")"
        # expressions refer to source columns unqualified: the base subquery keeps their names
        cols = ", ".join(f"{v} AS {_q(n)}" for n, v, _, _ in selects)
        self.con.execute(
            f"COPY (SELECT {cols} FROM {base} b {' '.join(joins)}) TO {_lit(target)} "
            "(FORMAT parquet)"
        )
        log = []
        lost_parts = [(n, lo, r) for n, _, lo, r in selects if lo]
        if lost_parts:
            row = self.con.execute(
                "SELECT " + ", ".join(f"count(*) FILTER (WHERE {lo})" for _, lo, _ in lost_parts)
                + f" FROM {base} b"
            ).fetchone()
            log += [ConversionEntry(name, n, r, int(c))
                    for (n, _, r), c in zip(lost_parts, row) if c]
        for cname, sql, rule in checks:
            c = self.con.execute(sql).fetchone()[0]
            if c:
                log.append(ConversionEntry(name, cname, rule, int(c)))
        return log

    def write_kindouder(self, target: Path, source: str = "KINDOUDER*") -> None:
        """Parent/child rows both ways, and full / half siblings (sharing two / one parent).

        Children sharing one known parent while the other parent is unknown for either child
        become half siblings (the register cannot show they are full siblings).
        """
        s = self.source(self.find(source))
        child = self._key(s, Key())
        fa = self._key(s, Key("RINPERSOONSpa", "RINPERSOONpa"))
        mo = self._key(s, Key("RINPERSOONSMa", "RINPERSOONMa"))

        def known(col: str) -> str:
            """An unknown parent has an empty or all-zero number."""
            t = self._text(s, col)
            return f"({t} IS NOT NULL AND ltrim({t}, '0') <> '')"

        self.con.execute(f"""
            CREATE TEMP TABLE ko AS SELECT DISTINCT {child} AS c,
                CASE WHEN {known('RINPERSOONpa')} THEN {fa} END AS fa,
                CASE WHEN {known('RINPERSOONMa')} THEN {mo} END AS mo
            FROM {s.view}""")
        self.con.execute(f"""
            COPY (
              WITH pc AS (SELECT c, fa AS p FROM ko WHERE fa IS NOT NULL
                          UNION ALL SELECT c, mo AS p FROM ko WHERE mo IS NOT NULL),
              sib AS (
                SELECT a.c AS x, b.c AS y,
                       CASE WHEN a.fa IS NOT DISTINCT FROM b.fa AND a.mo IS NOT DISTINCT FROM b.mo
                            AND a.fa IS NOT NULL AND a.mo IS NOT NULL
                            THEN 'sibling' ELSE 'half_sibling' END AS relation
                FROM ko a JOIN ko b ON a.c <> b.c
                 AND ((a.fa = b.fa) OR (a.mo = b.mo))),
              edges AS (SELECT c AS person_id, p AS alter_id, 'parent' AS relation FROM pc
                        UNION ALL SELECT p, c, 'child' FROM pc
                        UNION ALL SELECT x, y, relation FROM sib)
              -- family ties: since birth (null start), no end
              SELECT person_id, alter_id, relation, 'family' AS layer,
                     CAST(NULL AS DATE) AS start_date, CAST(NULL AS DATE) AS end_date
              FROM edges ORDER BY person_id, alter_id, relation)
            TO {_lit(target)} (FORMAT parquet)""")
        self.con.execute("DROP TABLE ko")
