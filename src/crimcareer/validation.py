"""Check a register folder against the data contract, repair it, and prepare it for a study.

Every rule of ``../shared/data-contract.md`` is a row predicate counted inside DuckDB in one pass
per table; only the count and at most five example row numbers per rule come back to Python, so
tables of tens of millions of rows (and millions of failures) cost one scan, never a collection
of failing rows (pandera collects them and was pathological at 1M failures). Messages name the
table, column, rule, count and row numbers, never row contents.

Row numbers are 1-based data rows in the file as given (the header line of a CSV is not counted).

Choices where the contract is silent (see docs in :func:`check_folder`):

- every contract column must be present (a nullable column may hold only nulls); extra columns
  and extra files are allowed and kept;
- ``before birth``: case offence dates, diplomas, household / youth-care / detention starts,
  relation starts (of the ego: a tie cannot begin before ego is born), probation requests, and a
  person's own death or emigration date;
- ``after death``: case offence dates, diplomas, household / youth-care / detention starts.
  Registration and disposal may follow death (a case closed because the suspect died); relation
  starts may too (a child born after its father's death);
- ``end before start``: every (start, end) pair of the contract (relations, cases' offence ->
  registration and offence -> disposal, households, youth care, detentions, probation requested
  -> delivered); a delivered probation advice must have been requested;
- relations: the ego must be a known person; an alter that is not in persons is allowed by the
  contract (unregistered persons), so it is reported as a *note*, not a violation; the relation
  code must fit its layer (``parent`` in ``family``, ``classmate`` in ``school``...);
- probation advice must name a known case, and the person of that case;
- duplicate keys: every row carrying a duplicated key breaks the rule (no row is "the original").

Repair drops every row that breaks a rule and logs it under the *first* rule it breaks (so the
log's counts add up to the rows dropped). Dropping a person cascades: their cases, diplomas,
spells, relations (as ego or as alter) and probation advice are dropped and logged as separate
``... dropped (cascade)`` entries; a dropped case drops its probation advice the same way.
Missing tables and missing non-nullable columns cannot be repaired (ContractError); a missing
nullable column is added as nulls and logged.

Validation reads files with DuckDB SQL directly (CSV as text, parquet with file row numbers):
that staging is DuckDB-specific, unlike the engine-agnostic study steps downstream.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import duckdb

from crimcareer import contract
from crimcareer.certificate import forget_certificate, write_certificate
from crimcareer.tablefiles import (
    csv_as_text,
    csv_header,
    diagnose_csv,
    sav_to_parquet,
    table_files,
    wrong_separator,
)

if TYPE_CHECKING:
    from crimcareer.engine import Engine

Mode = Literal["strict", "repair"]

MAX_EXAMPLES = 5

# Rule names (stable strings: tests, the CLI and the report's data-quality section use them).
MISSING_TABLE = "missing required table"
MISSING_COLUMN = "missing column"
FILLED_COLUMN = "missing column filled with nulls"
WRONG_TYPE = "wrong type"
UNPARSEABLE_DATE = "unparseable date"
NULL = "null not allowed"
UNKNOWN_CODE = "unknown code"
DUPLICATE_KEY = "duplicate key"
SELF_RELATION = "relation to oneself"
RELATION_LAYER = "relation does not fit layer"
END_BEFORE_START = "end before start"
UNKNOWN_PERSON = "unknown person"
UNKNOWN_CASE = "unknown case"
CASE_PERSON = "person differs from case"
NOT_REQUESTED = "delivered but never requested"
EMPTY_TABLE = "table has no rows"
BEFORE_BIRTH = "before birth"
AFTER_DEATH = "after death"
PERSON_DROPPED = "person dropped (cascade)"
ALTER_DROPPED = "alter dropped (cascade)"
CASE_DROPPED = "case dropped (cascade)"
UNREGISTERED_ALTER = "unregistered alter (kept)"


# Which layer each relation code belongs to.
RELATION_LAYERS: dict[str, str] = {
    **{r: "family" for r in contract.FAMILY_RELATIONS},
    "household": "household",
    "neighbour": "neighbours",
    "classmate": "school",
    "colleague": "work",
}

# Events that cannot precede birth / follow death, per table (see the module docstring).
BIRTH_BOUND: dict[str, tuple[str, ...]] = {
    "cases": ("offence_date",),
    "education": ("diploma_date",),
    "households": ("start_date",),
    "youth_care": ("start_date",),
    "detentions": ("start_date",),
    "relations": ("start_date",),
    "probation_advice": ("requested_date",),
}
DEATH_BOUND: dict[str, tuple[str, ...]] = {
    "cases": ("offence_date",),
    "education": ("diploma_date",),
    "households": ("start_date",),
    "youth_care": ("start_date",),
    "detentions": ("start_date",),
}

# Required tables a study cannot do without any row of (an empty relations table is possible).
NOT_EMPTY = ("persons", "cases")

_CANONICAL = {"string": "VARCHAR", "date": "DATE", "bool": "BOOLEAN", "float": "DOUBLE"}
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL")


class ContractReadError(Exception):
    """The folder or one of its files cannot be read at all (exit status 2 in the CLI)."""


class ContractError(Exception):
    """The folder breaks the data contract (strict mode) or cannot be repaired."""

    def __init__(self, message: str, violations: list["Violation"] | None = None) -> None:
        super().__init__(message)
        self.violations = violations or []


@dataclass
class Violation:
    """One broken rule: where, which rule, how many rows, and up to five 1-based row numbers."""

    table: str
    column: str
    rule: str
    count: int
    examples: list[int] = field(default_factory=list)
    hint: str = field(default="", compare=False)  # advice, not identity: what to do, in plain words (e.g. the date format the values seem to use)

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        if self.rule == MISSING_TABLE:
            return f"{where}: {self.rule}"
        if self.rule == EMPTY_TABLE:
            return f"{where}: {self.rule} (a study needs at least one row here)"
        text = f"{where}: {self.rule}: {self.count:,} row{'s' if self.count != 1 else ''}"
        if self.examples:
            text += " (rows " + ", ".join(str(r) for r in self.examples[:MAX_EXAMPLES]) + ")"
        if self.hint:
            text += f" - {self.hint}"
        return text


@dataclass
class RepairEntry:
    """One repair action: rows dropped (or a column filled) by rule, table and column."""

    rule: str
    table: str
    column: str
    count: int

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        verb = "rows filled" if self.rule == FILLED_COLUMN else "rows dropped"
        return f"repair {where}: {self.rule}: {self.count:,} {verb}"


@dataclass
class ValidationReport:
    """Violations (the folder is valid when empty) and notes (allowed, but worth knowing)."""

    violations: list[Violation]
    notes: list[Violation]
    certificate: Path | None = None  # written by check_folder(certify=True) for a valid folder

    @property
    def valid(self) -> bool:
        return not self.violations


# ------------------------------------------------------------------------------------------------
# public functions
# ------------------------------------------------------------------------------------------------
def check_folder(folder: str | os.PathLike, engine: Engine | None = None,
                 certify: bool = False) -> ValidationReport:
    """All violations and notes of a register folder (ContractReadError if it cannot be read).

    A DuckDB ``engine`` may be passed to share it; otherwise a private one is opened.
    ``certify``: leave a certificate when the folder is valid and used in place by a run
    (every table parquet of the canonical types), remove an old one otherwise.
    """
    with _Checker(folder, engine) as ch:
        report = ch.report()
        in_place = report.valid and not ch.needs_conversion()
    if certify:
        report.certificate = write_certificate(folder) if in_place else None
        if not in_place:
            forget_certificate(folder)
    return report


def validate_folder(folder: str | os.PathLike, engine: Engine | None = None) -> list[Violation]:
    """The contract violations of a register folder; an empty list means valid."""
    return check_folder(folder, engine).violations


def repair_folder(
    folder: str | os.PathLike, out: str | os.PathLike, engine: Engine | None = None
) -> list[RepairEntry]:
    """Write a repaired, typed parquet copy of a folder to ``out``; return the repair log."""
    with _Checker(folder, engine) as ch:
        report = ch.report(notes=False)
        _refuse_unrepairable(folder, report.violations)
        return ch.write(Path(out), repair=True)


def prepare_folder(
    folder: str | os.PathLike,
    mode: Mode = "strict",
    work_dir: str | os.PathLike | None = None,
    engine: Engine | None = None,
) -> tuple[Path, list[RepairEntry]]:
    """A folder of valid, typed parquet tables for a study, and the repair log.

    Valid parquet input is used in place. CSV/.sav input (or parquet columns of a castable but
    non-canonical type, e.g. all-null columns) is converted into ``work_dir``. Strict mode raises
    ContractError on any violation; repair mode writes a repaired copy into ``work_dir``.
    (A folder with a certificate of `crimcareer validate` is not validated again: see
    :func:`crimcareer.adapters.files.load_registers`.)
    """
    if mode not in ("strict", "repair"):
        raise ValueError(f"mode must be 'strict' or 'repair', not {mode!r}")
    folder = Path(folder)
    work = Path(work_dir) if work_dir is not None else Path(tempfile.mkdtemp(prefix="crimcareer-"))
    with _Checker(folder, engine) as ch:
        report = ch.report(notes=False)
        if report.violations:
            if mode == "strict":
                raise ContractError(_error_message(folder, report.violations), report.violations)
            _refuse_unrepairable(folder, report.violations)
            out = work / "repaired"
            broken = {v.table for v in report.violations}
            return out, ch.write(out, repair=True, link_canonical=True, broken=broken)
        if not ch.needs_conversion():
            return folder, []
        out = work / "converted"
        ch.write(out, repair=False, link_canonical=True)
        return out, []


# ------------------------------------------------------------------------------------------------
# internals
# ------------------------------------------------------------------------------------------------
def _error_message(folder: Path, violations: list[Violation]) -> str:
    lines = [f"register folder {folder} breaks the data contract ({len(violations)} rule(s)):"]
    lines += [f"  {v}" for v in violations]
    return "\n".join(lines)


def _refuse_unrepairable(folder: str | os.PathLike, violations: list[Violation]) -> None:
    fatal = [
        v for v in violations
        if v.rule in (MISSING_TABLE, EMPTY_TABLE)
        or (v.rule == MISSING_COLUMN and not contract.TABLES[v.table].column(v.column).nullable)
    ]
    if fatal:
        raise ContractError(
            f"register folder {folder} cannot be repaired (missing tables or columns):\n"
            + "\n".join(f"  {v}" for v in fatal),
            fatal,
        )


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str | os.PathLike) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _base_type(duck_type: str) -> str:
    return duck_type.split("(")[0].strip().upper()


def _typed(col: contract.Column, raw_type: str | None) -> tuple[str, str, str]:
    """(typed SQL expression, SQL predicate for an unusable value, rule name for it)."""
    if raw_type is None:  # missing column: nulls of the contract type
        return f"CAST(NULL AS {_CANONICAL[col.type]})", "false", WRONG_TYPE
    q, base = _q(col.name), _base_type(raw_type)
    none = f"CAST(NULL AS {_CANONICAL[col.type]})"
    rule = WRONG_TYPE
    if col.type == "string":
        expr = q if base == "VARCHAR" else none
    elif col.type == "date":
        if base == "DATE":
            expr = q
        elif base.startswith("TIMESTAMP"):
            expr = f"CAST({q} AS DATE)"
        elif base == "VARCHAR":
            expr, rule = f"CAST(try_strptime({q}, '%Y-%m-%d') AS DATE)", UNPARSEABLE_DATE
        else:
            expr = none
    elif col.type == "bool":
        if base == "BOOLEAN":
            expr = q
        elif base == "VARCHAR":
            expr = f"TRY_CAST(trim({q}) AS BOOLEAN)"
        elif base in _NUMERIC:  # SPSS stores booleans as 0/1 numbers
            expr = f"CASE WHEN {q} = 1 THEN true WHEN {q} = 0 THEN false END"
        else:
            expr = none
    else:  # float
        if base in _NUMERIC:
            expr = f"CAST({q} AS DOUBLE)"
        elif base == "VARCHAR":
            expr = f"TRY_CAST({q} AS DOUBLE)"
        else:
            expr = none
    bad = "false" if expr == q else f"({q} IS NOT NULL AND ({expr}) IS NULL)"
    return expr, bad, rule


@dataclass
class _Staged:
    name: str
    path: Path
    types: dict[str, str]  # raw column -> DuckDB type (without the __row column)
    rows: int
    raw: str = ""  # SQL subquery: the file's columns and __row, the 1-based data row number
    typed: str = ""  # SQL subquery: __row, typed contract columns, __bad_* flags, extras

    @property
    def missing(self) -> list[str]:
        return [c for c in contract.TABLES[self.name].column_names if c not in self.types]

    @property
    def extra(self) -> list[str]:
        known = set(contract.TABLES[self.name].column_names)
        return [c for c in self.types if c not in known and not c.startswith("__")]


@dataclass
class _Rule:
    column: str
    rule: str
    predicate: str  # SQL over aliases t (typed table), p (person), d (dup key), k (case), ...
    # the coded columns of t that are all the predicate reads: counted on their distinct values
    grouped: tuple[str, ...] = ()
    # a query of one number that gives the count without a pass over the rows (or "")
    count_sql: str = ""


class _Checker:
    """Stages a folder's files in a private DuckDB and evaluates every rule there."""

    def __init__(self, folder: str | os.PathLike, engine: "Engine | None" = None) -> None:
        self.folder = Path(folder)
        if not self.folder.exists():
            raise ContractReadError(f"folder {self.folder} does not exist")
        if not self.folder.is_dir():
            raise ContractReadError(f"{self.folder} is not a folder")
        from crimcareer.engine import Engine

        self.own_engine = engine is None or engine.kind != "duckdb"
        self.engine = Engine("duckdb") if self.own_engine else engine
        self.con: duckdb.DuckDBPyConnection = self.engine.con.con
        # A private name prefix and folder, so checks can share one engine (and its spill space).
        self.p = "v" + uuid.uuid4().hex[:10] + "_"
        self.tmp = Path(tempfile.mkdtemp(prefix="validate-", dir=self.engine._tmp.name))
        self.objects: list[tuple[str, str]] = []
        try:
            self._setup()
        except BaseException:
            self.__exit__()
            raise

    def _setup(self) -> None:
        self.staged: dict[str, _Staged] = {}
        self.last_log: list[RepairEntry] = []
        self._check_meta()
        for name, path in table_files(self.folder).items():
            self.staged[name] = self._stage(name, path)
        for st in self.staged.values():
            self._typed_view(st)
        # One aggregate per keyed table serves the duplicate-key rule (n > 1) and the lookups
        # of other tables (persons: birth and death; cases: whether the case exists).
        self.persons_ok = "persons" in self.staged and "person_id" in self.staged["persons"].types
        self.cases_ok = "cases" in self.staged and "case_id" in self.staged["cases"].types
        if self.persons_ok:
            self._x(
                "CREATE TEMP TABLE §persons AS SELECT person_id, min(birth_date) AS birth_date, "
                "min(death_date) AS death_date, count(*) AS n "
                f"FROM {self.staged['persons'].typed} "
                "WHERE person_id IS NOT NULL GROUP BY person_id"
            )
        if self.cases_ok:
            typed = self.staged["cases"].typed
            self._x(
                f"CREATE TEMP TABLE §cases AS SELECT case_id, count(*) AS n FROM {typed} "
                "WHERE case_id IS NOT NULL GROUP BY case_id"
            )
            # The case's person for the advice rules: with unique case ids the cases' own rows
            # (the person as a min() over 20M string groups cost 2.1 of the aggregate's 4.4 s at
            # 18M persons); with duplicates (themselves a violation) the smallest person, as before.
            dup = self._x(_duplicate_rows_sql("cases")).fetchone()[0]
            person, group = ("min(person_id)", " GROUP BY case_id") if dup else ("person_id", "")
            self.case_person = (f"(SELECT case_id, {person} AS person_id FROM {typed} "
                                f"WHERE case_id IS NOT NULL{group})")

    # -- context manager ------------------------------------------------------------------------
    def __enter__(self) -> "_Checker":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.own_engine:
            self.engine.close()
            return
        for kind, name in reversed(self.objects):
            try:
                self.con.execute(f"DROP {kind} IF EXISTS {name}")
            except duckdb.Error:  # pragma: no cover - best effort clean-up
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _x(self, sql: str) -> duckdb.DuckDBPyConnection:
        """Execute SQL with the private prefix in place of §, remembering created objects."""
        sql = sql.replace("§", self.p)
        m = re.match(r"CREATE (?:OR REPLACE )?TEMP (TABLE|VIEW) (\w+)", sql)
        if m:
            self.objects.append((m.group(1), m.group(2)))
        return self.con.execute(sql)

    # -- staging ----------------------------------------------------------------------------------
    def _check_meta(self) -> None:
        meta = self.folder / "meta.json"
        if meta.exists():
            try:
                cutoff = json.loads(meta.read_text(encoding="utf-8")).get("cutoff")
                if cutoff:
                    import datetime as dt

                    dt.date.fromisoformat(cutoff)
            except (OSError, ValueError, AttributeError) as e:
                raise ContractReadError(
                    f"meta.json cannot be read ({type(e).__name__}): it must be JSON such as "
                    '{"cutoff": "2023-12-31"}, with the cut-off as YYYY-MM-DD') from None

    def _stage(self, name: str, path: Path) -> _Staged:
        try:
            if path.suffix == ".parquet":
                src = path
            elif path.suffix == ".csv":
                problem = diagnose_csv(path) if _header_problem(path) else None
                if problem:
                    raise ContractReadError(problem)
                src = self.tmp / f"raw_{name}.parquet"
                # Written in file order (COPY preserves insertion order), so the parquet row
                # number is the CSV data row number.
                self._x(
                    f"COPY (SELECT * FROM {csv_as_text(path)}) "
                    f"TO {_lit(src)} (FORMAT parquet)"
                )
            else:
                src = self.tmp / f"raw_{name}.parquet"
                sav_to_parquet(path, src)
            # Subqueries, not views: no catalog objects to create and drop per check.
            raw = (
                "(SELECT file_row_number + 1 AS __row, * EXCLUDE (file_row_number) "
                f"FROM read_parquet({_lit(src)}, file_row_number=true))"
            )
            types = {
                r[0]: r[1]
                for r in self._x(f"DESCRIBE SELECT * FROM {raw}").fetchall()
                if r[0] != "__row"
            }
            import pyarrow.parquet as pq

            rows = pq.ParquetFile(src).metadata.num_rows
        except ContractReadError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure to read is a read error
            raise ContractReadError(_read_problem(path, e)) from None
        return _Staged(name, path, types, int(rows), raw)

    def _typed_view(self, st: _Staged) -> None:
        """Set the staged table's typed subquery (contract types, flags for unusable values)."""
        cols = ["__row"]
        for col in contract.TABLES[st.name].columns:
            expr, bad, _ = _typed(col, st.types.get(col.name))
            cols.append(f"{expr} AS {_q(col.name)}")
            cols.append(f"{bad} AS {_q('__bad_' + col.name)}")
        cols += [_q(c) for c in st.extra]
        st.typed = f"(SELECT {', '.join(cols)} FROM {st.raw})"

    def needs_conversion(self) -> bool:
        """True when some table is not parquet or not of the canonical column types."""
        for st in self.staged.values():
            if st.path.suffix != ".parquet" or st.missing:
                return True
            for col in contract.TABLES[st.name].columns:
                if _base_type(st.types[col.name]) != _CANONICAL[col.type]:
                    return True
        return False

    # -- rules ------------------------------------------------------------------------------------
    def _from(self, name: str, rules: list[_Rule], repair: bool = False) -> str:
        """The typed table ``t`` with the lookups the rules' predicates read (by their alias).

        A lookup no predicate reads is left out: the optimizer cannot drop a LEFT JOIN on its
        own (it does not know the keys are unique), and on the relations each join hashes 260M
        string keys at 18M persons (the alter join alone 15 of the pass's 45 CPU-seconds)."""
        used = {a for r in rules for a in re.findall(r"\b([a-z]+)\.", r.predicate)}
        t = contract.TABLES[name]
        cols = set(t.column_names)
        joins = []
        if name != "persons" and "person_id" in cols and self.persons_ok:
            joins.append(("p", "§persons", "t.person_id = p.person_id"))
            if repair:
                joins.append(("kp", "§kept_persons", "t.person_id = kp.person_id"))
        if name == "relations" and self.persons_ok:
            joins.append(("a", "§persons", "t.alter_id = a.person_id"))
            if repair:
                joins.append(("ka", "§kept_persons", "t.alter_id = ka.person_id"))
        if name == "persons" and self.persons_ok:
            joins.append(("d", "§persons", "t.person_id = d.person_id"))
        if name == "cases" and self.cases_ok:
            joins.append(("d", "§cases", "t.case_id = d.case_id"))
        if name == "probation_advice" and self.cases_ok:
            joins.append(("k", self.case_person, "t.case_id = k.case_id"))
            if repair:
                joins.append(("kk", "§kept_cases", "t.case_id = kk.case_id"))
        return f"{self.staged[name].typed} t" + "".join(
            f" LEFT JOIN {table} {alias} ON {on}" for alias, table, on in joins if alias in used)

    def rules(self, name: str, repair: bool = False) -> list[_Rule]:
        """The row rules of one table, in the order repair attributes a dropped row to them."""
        t, st = contract.TABLES[name], self.staged[name]
        present = set(st.types)
        out: list[_Rule] = []
        # per present column: (its type test can fail, the rule a failure breaks)
        typed = {c.name: _typed(c, st.types[c.name]) for c in t.columns if c.name in present}
        testable = {n: (bad != "false", rule) for n, (_, bad, rule) in typed.items()}
        for col in t.columns:
            if col.name in present and testable[col.name][0]:
                out.append(_Rule(col.name, testable[col.name][1], f"t.{_q('__bad_' + col.name)}"))
        for col in t.columns:
            if not col.nullable and col.name in present:
                # a value that fails its type test is null after the cast, but is not a NULL
                # violation (a column of the contract's own type has no such test)
                not_bad = f" AND NOT t.{_q('__bad_' + col.name)}" if testable[col.name][0] else ""
                out.append(_Rule(col.name, NULL, f"t.{_q(col.name)} IS NULL{not_bad}"))
        for col in t.columns:
            if col.codes and col.name in present:
                codes = ", ".join(_lit(c) for c in col.codes)
                out.append(_Rule(col.name, UNKNOWN_CODE, f"t.{_q(col.name)} NOT IN ({codes})",
                                 grouped=(col.name,)))
        if t.key and t.key[0] in present:
            # counted on the key's aggregate (built in _setup), not by joining it to every row
            out.append(_Rule(t.key[0], DUPLICATE_KEY, "d.n > 1",
                             count_sql=_duplicate_rows_sql(name)))
        if name == "relations":
            out.append(_Rule("alter_id", SELF_RELATION, "t.person_id = t.alter_id"))
            # one CASE instead of a chain of ORs: 1.6 s against 4.5 s on 238M rows; null (not
            # a violation) for a relation outside the list, as the chain gave false
            layer_of = " ".join(f"WHEN {_lit(r)} THEN {_lit(lay)}"
                                for r, lay in RELATION_LAYERS.items())
            if {"relation", "layer"} <= present:
                out.append(_Rule("layer", RELATION_LAYER,
                                 f"t.layer <> CASE t.relation {layer_of} END",
                                 grouped=("relation", "layer")))
        for start, end in t.spells:
            if {start, end} <= present:
                out.append(_Rule(end, END_BEFORE_START, f"t.{_q(end)} < t.{_q(start)}"))
        if name == "probation_advice" and {"requested_date", "delivered_date"} <= present:
            out.append(_Rule("delivered_date", NOT_REQUESTED,
                             "t.delivered_date IS NOT NULL AND t.requested_date IS NULL"))
        if name == "persons":
            for c in ("death_date", "emigration_date"):
                if c in present and "birth_date" in present:
                    out.append(_Rule(c, BEFORE_BIRTH, f"t.{_q(c)} < t.birth_date"))
        has_person = name != "persons" and "person_id" in present and self.persons_ok
        if has_person:
            out.append(_Rule("person_id", UNKNOWN_PERSON,
                             "t.person_id IS NOT NULL AND p.person_id IS NULL"))
            if repair:
                out.append(_Rule("person_id", PERSON_DROPPED,
                                 "p.person_id IS NOT NULL AND kp.person_id IS NULL"))
        if name == "relations" and repair and self.persons_ok and "alter_id" in present:
            out.append(_Rule("alter_id", ALTER_DROPPED,
                             "a.person_id IS NOT NULL AND ka.person_id IS NULL"))
        if name == "probation_advice" and self.cases_ok and "case_id" in present:
            out.append(_Rule("case_id", UNKNOWN_CASE,
                             "t.case_id IS NOT NULL AND k.case_id IS NULL"))
            if repair:
                out.append(_Rule("case_id", CASE_DROPPED,
                                 "k.case_id IS NOT NULL AND kk.case_id IS NULL"))
            if "person_id" in present:
                out.append(_Rule("person_id", CASE_PERSON,
                                 "k.person_id IS NOT NULL AND t.person_id <> k.person_id"))
        if has_person:
            for c in BIRTH_BOUND.get(name, ()):
                if c in present:
                    out.append(_Rule(c, BEFORE_BIRTH, f"t.{_q(c)} < p.birth_date"))
            for c in DEATH_BOUND.get(name, ()):
                if c in present:
                    out.append(_Rule(c, AFTER_DEATH, f"t.{_q(c)} > p.death_date"))
        return out

    def notes_rules(self, name: str) -> list[_Rule]:
        if name == "relations" and self.persons_ok and "alter_id" in self.staged[name].types:
            return [_Rule("alter_id", UNREGISTERED_ALTER,
                          "t.alter_id IS NOT NULL AND a.person_id IS NULL")]
        return []

    def _count(self, name: str, rules: list[_Rule]) -> list[Violation]:
        if not rules:
            return []
        # Counts in one pass; example row numbers in a second pass over the failing rows of
        # the rules that fired only (valid data: one pass; the top-n aggregates cost a third of
        # the pass on 260M relation rows).
        preds = [f"coalesce({r.predicate}, false)" for r in rules]
        counts = [0] * len(rules)
        for i, r in enumerate(rules):
            if r.count_sql:
                counts[i] = int(self._x(r.count_sql).fetchone()[0] or 0)
        per_row = [i for i, r in enumerate(rules) if not r.grouped and not r.count_sql]
        if per_row:
            # FILTER counts a row only where its predicate is true, so a null predicate needs no
            # coalesce here (that and the constant type tests: 32 -> 29 s on 260M relations)
            got = self._x("SELECT " + ", ".join(f"count(*) FILTER (WHERE {rules[i].predicate})"
                                                for i in per_row)
                          + f" FROM {self._from(name, [rules[i] for i in per_row])}").fetchone()
            for i, n in zip(per_row, got):
                counts[i] = n
        # Rules over coded columns only (unknown codes, relation vs layer) are counted on the
        # distinct values of those columns with their row counts: string tests on every row
        # cost 5.5 s of the relations pass at 18M persons, the grouped count 1.3 s.
        grouped = [i for i, r in enumerate(rules) if r.grouped]
        if grouped:
            cols = sorted({c for i in grouped for c in rules[i].grouped})
            distinct = (f"(SELECT {', '.join(f't.{_q(c)} AS {_q(c)}' for c in cols)}, "
                        f"count(*) AS __n FROM {self.staged[name].typed} t GROUP BY ALL) t")
            got = self._x("SELECT " + ", ".join(f"sum(t.__n) FILTER (WHERE {preds[i]})"
                                                for i in grouped) + f" FROM {distinct}").fetchone()
            for i, n in zip(grouped, got):
                counts[i] = int(n or 0)
        fired = [i for i, n in enumerate(counts) if n]
        if not fired:
            return []
        examples = self._x(
            "SELECT " + ", ".join(f"min(t.__row, {MAX_EXAMPLES}) FILTER (WHERE {preds[i]}) AS e{i}"
                                  for i in fired)
            + f" FROM {self._from(name, [rules[i] for i in fired])} WHERE "
            + " OR ".join(preds[i] for i in fired)
        ).fetchone()
        return [Violation(name, rules[i].column, rules[i].rule, int(counts[i]),
                          sorted(int(x) for x in ex))
                for i, ex in zip(fired, examples)]

    def report(self, notes: bool = True) -> ValidationReport:
        """Every violation, and the notes unless ``notes=False`` (a run does not read them, and
        the unregistered-alter note costs a join of every relation's alter)."""
        violations: list[Violation] = []
        noted: list[Violation] = []
        for name in contract.REQUIRED_TABLES:
            if name not in self.staged:
                violations.append(Violation(name, "", MISSING_TABLE, 0, []))
        for name, st in self.staged.items():
            if st.rows == 0 and name in NOT_EMPTY:
                violations.append(Violation(name, "", EMPTY_TABLE, 0, []))
            for c in st.missing:
                violations.append(Violation(name, c, MISSING_COLUMN, st.rows, [],
                                            hint=_missing_column_hint(c, st)))
            extra = self.notes_rules(name) if notes else []
            for v in self._count(name, self.rules(name) + extra):
                if v.rule == UNPARSEABLE_DATE:
                    v.hint = self._date_hint(name, v.column)
                elif v.rule == UNKNOWN_CODE:
                    codes = contract.TABLES[name].column(v.column).codes
                    v.hint = "allowed: " + ", ".join(codes) if codes else ""
                (noted if v.rule == UNREGISTERED_ALTER else violations).append(v)
        return ValidationReport(violations, noted)

    def _date_hint(self, name: str, column: str) -> str:
        """The format most unparseable dates of a column seem to use, as advice (no values)."""
        q = _q(column)
        fmt = f"""CASE
            WHEN regexp_full_match({q}, '(1[89]|20)[0-9]{{2}}(0[1-9]|1[0-2])[0-3][0-9]') THEN 'YYYYMMDD'
            WHEN regexp_full_match({q}, '[0-3]?[0-9]-[01]?[0-9]-[0-9]{{4}}') THEN 'DD-MM-YYYY'
            WHEN regexp_full_match({q}, '[0-3]?[0-9]/[01]?[0-9]/[0-9]{{4}}') THEN 'DD/MM/YYYY'
            WHEN regexp_full_match({q}, '[0-3]?[0-9][.][01]?[0-9][.][0-9]{{4}}') THEN 'DD.MM.YYYY'
            WHEN regexp_full_match({q}, '[0-9]{{4}}/[01]?[0-9]/[0-3]?[0-9]') THEN 'YYYY/MM/DD'
            WHEN regexp_full_match({q}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}[ T].*') THEN 'a date with a time'
            WHEN regexp_full_match({q}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') THEN 'no such day'
            WHEN regexp_full_match(trim({q}), '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') THEN 'spaces'
            ELSE '' END"""
        try:
            row = self._x(
                f"SELECT {fmt} AS f, count(*) AS n FROM {self.staged[name].raw} "
                f"WHERE {q} IS NOT NULL AND try_strptime({q}, '%Y-%m-%d') IS NULL "
                "GROUP BY f ORDER BY n DESC LIMIT 1"
            ).fetchone()
        except duckdb.Error:  # pragma: no cover - advice only
            return ""
        found = row[0] if row else ""
        if found == "no such day":
            return "the dates have the form YYYY-MM-DD but name no calendar day (e.g. 31 April)"
        if found == "spaces":
            return "the dates are YYYY-MM-DD with spaces around them: remove the spaces"
        if found == "a date with a time":
            return "the values are dates with a time: write the date only, as YYYY-MM-DD"
        if found:
            return f"dates look like {found}; the contract wants YYYY-MM-DD: convert them"
        return "the contract wants dates as YYYY-MM-DD"

    # -- writing ----------------------------------------------------------------------------------
    def write(
        self, out: Path, repair: bool, link_canonical: bool = False,
        broken: set[str] | None = None,
    ) -> list[RepairEntry]:
        """Write every staged table as typed parquet to ``out`` (dropping broken rows if repair).

        With ``link_canonical``, parquet tables that already have the canonical types and need no
        change are symlinked instead of copied: in repair mode, tables not in ``broken`` while no
        person or case was dropped (nothing can cascade into them).
        """
        if out.resolve() == self.folder.resolve():
            raise ValueError("the repaired or converted copy must go to another folder")
        out.mkdir(parents=True, exist_ok=True)
        for name in contract.TABLES:  # a stale table from an earlier run must not survive
            (out / f"{name}.parquet").unlink(missing_ok=True)
        log: list[RepairEntry] = []
        broken = set(self.staged) if broken is None else broken
        dropped: set[str] = set()  # persons dropped cascade into every table, cases into advice
        order = sorted(self.staged, key=lambda n: (n != "persons", n != "cases", n))
        for name in order:
            st = self.staged[name]
            t = contract.TABLES[name]
            if repair:
                for c in st.missing:
                    log.append(RepairEntry(FILLED_COLUMN, name, c, st.rows))
            target = out / f"{name}.parquet"
            canonical = (
                st.path.suffix == ".parquet" and not st.missing
                and all(_base_type(st.types[c.name]) == _CANONICAL[c.type] for c in t.columns)
            )
            cascades = "persons" in dropped or (name == "probation_advice" and "cases" in dropped)
            unchanged = not repair or (name not in broken and not cascades)
            if link_canonical and canonical and unchanged:
                target.symlink_to(st.path.resolve())
            else:
                rules = self.rules(name, repair=True) if repair else []
                if rules:
                    case = "CASE " + " ".join(
                        f"WHEN coalesce({r.predicate}, false) THEN {i}" for i, r in enumerate(rules)
                    ) + " END"
                else:
                    case = "NULL"
                src = self._from(name, rules, repair=repair)
                cols = ", ".join(f"t.{_q(c)}" for c in t.column_names + st.extra)
                self._x(
                    f"COPY (SELECT {cols} FROM {src} WHERE ({case}) IS NULL ORDER BY t.__row) "
                    f"TO {_lit(target)} (FORMAT parquet)"
                )
                if rules:
                    counts = self._x(
                        f"SELECT rule, count(*) FROM (SELECT {case} AS rule FROM {src}) "
                        "WHERE rule IS NOT NULL GROUP BY rule ORDER BY rule"
                    ).fetchall()
                    for i, n in counts:
                        r = rules[int(i)]
                        log.append(RepairEntry(r.rule, name, r.column, int(n)))
                        dropped.add(name)
            if name == "persons" and self.persons_ok:
                self._x(
                    f"CREATE OR REPLACE TEMP TABLE §kept_persons AS SELECT DISTINCT person_id "
                    f"FROM read_parquet({_lit(target)})"
                )
            if name == "cases" and self.cases_ok:
                self._x(
                    f"CREATE OR REPLACE TEMP TABLE §kept_cases AS SELECT DISTINCT case_id "
                    f"FROM read_parquet({_lit(target)})"
                )
        meta = self.folder / "meta.json"
        if meta.exists():
            shutil.copyfile(meta, out / "meta.json")
        self.last_log = log
        return log


def _duplicate_rows_sql(name: str) -> str:
    """Rows whose key another row of the table has too, from the key's aggregate §<name>."""
    return f"SELECT sum(n) FROM §{name} WHERE n > 1"


def _missing_column_hint(column: str, st: "_Staged") -> str:
    """What a missing column probably is: another spelling, or a CBS table not yet converted."""
    present = {c.lower(): c for c in st.types}
    if column.lower() in present:
        return f"the file has '{present[column.lower()]}': column names must be written exactly so"
    if "rinpersoon" in present:
        return ("this looks like a CBS table (RINPERSOON): convert it to the contract with "
                "crimcareer.adapters.cbs first")
    return ""


def _header_problem(path: Path) -> bool:
    """True when a CSV's header line cannot be decoded as UTF-8 or uses another separator."""
    try:
        return wrong_separator(csv_header(path)) is not None
    except UnicodeDecodeError:
        return True


def _read_problem(path: Path, e: BaseException) -> str:
    """One line: which file cannot be read, why in plain words, and what to do."""
    if path.suffix == ".csv":
        hint = diagnose_csv(path)
        if hint:
            return hint
        return (f"{path.name} cannot be read as CSV ({_safe_reason(e)}): the contract's CSV is "
                "comma-separated UTF-8 with a header line and the same number of fields on "
                "every line")
    if path.suffix == ".parquet":
        return (f"{path.name} cannot be read ({_safe_reason(e)}): it is not a valid parquet "
                "file (truncated, or another format renamed?); write it again")
    return f"{path.name} cannot be read ({_safe_reason(e)}): save it again from SPSS"


def _safe_reason(e: BaseException) -> str:
    """An error reason without file contents (DuckDB CSV errors quote the offending line)."""
    text = str(e)
    m = re.search(r"line:?\s*(\d+)", text, flags=re.IGNORECASE)
    where = f" near line {m.group(1)} of the file" if m else ""
    return f"{type(e).__name__}{where}"
