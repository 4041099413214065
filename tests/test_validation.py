"""Contract validation and repair: every rule on a corrupted copy of the small valid folder."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from small_registers import (
    UNREGISTERED_ALTER,
    pid,
    small_tables,
    write_small_registers,
    write_tables,
)

from crimcareer import validation as V
from crimcareer.validation import (
    ContractError,
    ContractReadError,
    RepairEntry,
    Violation,
    check_folder,
    prepare_folder,
    repair_folder,
    validate_folder,
)

D = dt.date


# DuckDB-only module: validation, repair and staging read the files with DuckDB whatever the
# study engine (a Spark engine would only open a private DuckDB), so no test here takes `engine`.
@pytest.fixture(scope="module")
def duckdb_engine():
    """One DuckDB engine shared by the checks of this module (each check uses private names)."""
    from crimcareer.engine import Engine

    with Engine("duckdb", threads=1) as e:  # tiny tables: no thread overhead
        yield e


@pytest.fixture(scope="module")
def base_folders(tmp_path_factory):
    """The small valid folder written once per format (corrupted copies link unchanged files)."""
    root = tmp_path_factory.mktemp("base")
    return {fmt: write_small_registers(root / fmt, fmt) for fmt in ("parquet", "csv", "sav")}


def _corrupted_folder(base: Path, tables: dict[str, pd.DataFrame], out: Path, fmt: str) -> Path:
    """A folder holding the changed tables written anew and symlinks to the unchanged ones."""
    ref = small_tables()
    changed = {n: df for n, df in tables.items() if not (n in ref and df.equals(ref[n]))}
    write_tables(changed, out, fmt)
    for n in tables:
        if n not in changed:
            (out / f"{n}.{fmt}").symlink_to(base / f"{n}.{fmt}")
    return out


def _append(df: pd.DataFrame, row: int) -> pd.DataFrame:
    """The frame with a copy of its 1-based row number `row` appended at the end."""
    return pd.concat([df, df.iloc[[row - 1]]], ignore_index=True)


def _set(df: pd.DataFrame, rows: list[int], column: str, value) -> pd.DataFrame:
    """The frame with `column` set to `value` at the given 1-based row numbers."""
    df = df.copy()
    if not isinstance(value, (list, tuple)):
        value = [value] * len(rows)
    df[column] = df[column].astype(object)
    for r, v in zip(rows, value):
        df.at[r - 1, column] = v
    return df


# Each case: (id, format, corruption, expected violation). Corruptions take and return the dict
# of tables; the expected violation is the ONLY one the folder may report.
def _c_missing_table(t):
    del t["relations"]
    return t


def _c_missing_column(t):
    t["cases"] = t["cases"].drop(columns=["outcome"])
    return t


def _c_wrong_type_parquet(t):
    t["education"]["level"] = range(len(t["education"]))  # integers, not strings
    return t


def _c_wrong_type_csv(t):
    t["cases"] = _set(t["cases"], [3, 7], "severity_max_years", "twelve")
    return t


def _c_unparseable_date(t):
    t["cases"] = _set(t["cases"], [4, 10], "offence_date", ["2010-13-45", "yesterday"])
    return t


def _c_null(t):
    t["persons"] = _set(t["persons"], [5, 6], "birth_date", None)
    return t


def _c_null_case_outcome(t):
    t["cases"] = _set(t["cases"], [8], "outcome", None)
    return t


def _c_unknown_code(t):
    t["cases"] = _set(t["cases"], [2, 12, 13], "offence_category", "arson")
    return t


def _c_unknown_sex(t):
    t["persons"] = _set(t["persons"], [9], "sex", "X")
    return t


def _c_duplicate_person(t):
    t["persons"] = _append(t["persons"], 3)
    return t


def _c_duplicate_case(t):
    t["cases"] = _append(t["cases"], 1)
    return t


def _c_self_relation(t):
    t["relations"] = _set(t["relations"], [1], "alter_id", t["relations"].at[0, "person_id"])
    return t


def _c_relation_layer(t):
    t["relations"] = _set(t["relations"], [3], "layer", "school")
    return t


def _c_end_before_start_household(t):
    t["households"] = _set(t["households"], [2], "end_date", D(1970, 1, 1))
    return t


def _c_registration_before_offence(t):
    t["cases"] = _set(t["cases"], [5], "registration_date", D(2000, 1, 1))
    return t


def _c_disposal_before_offence(t):
    t["cases"] = _set(t["cases"], [5, 6], "disposal_date", D(1990, 1, 1))
    return t


def _c_delivered_before_requested(t):
    t["probation_advice"] = _set(t["probation_advice"], [1], "delivered_date", D(1990, 1, 1))
    return t


def _c_delivered_not_requested(t):
    t["probation_advice"] = _set(t["probation_advice"], [1], "requested_date", None)
    return t


def _c_relation_end_before_start(t):
    t["relations"] = _set(t["relations"], [1], "end_date", D(1970, 1, 1))
    return t


def _c_offence_before_birth(t):
    t["cases"] = _set(t["cases"], [1], "offence_date", D(1970, 1, 1))
    return t


def _c_diploma_before_birth(t):
    t["education"] = _set(t["education"], [1, 2], "diploma_date", D(1960, 1, 1))
    return t


def _c_emigration_before_birth(t):
    t["persons"] = _set(t["persons"], [1], "emigration_date", D(1940, 1, 1))
    return t


def _c_youth_care_before_birth(t):
    t["youth_care"] = _set(t["youth_care"], [1], "start_date", D(1970, 1, 1))
    return t


def _c_relation_before_birth(t):
    # row 3: child 0000000003 -> parent 0000000001; a tie cannot begin before ego is born
    t["relations"] = _set(t["relations"], [3], "start_date", D(1960, 1, 1))
    return t


def _c_offence_after_death(t):
    # case row 29 belongs to person 0000000001, who died on 2010-05-01
    c = t["cases"]
    c = _set(c, [29], "offence_date", D(2011, 1, 1))
    c = _set(c, [29], "registration_date", D(2011, 2, 1))
    t["cases"] = _set(c, [29], "disposal_date", D(2011, 6, 1))
    return t


def _c_detention_after_death(t):
    d = pd.DataFrame([{"person_id": pid(1), "start_date": D(2012, 1, 1), "end_date": None}])
    t["detentions"] = pd.concat([t["detentions"], d], ignore_index=True)
    return t


def _c_unknown_person_case(t):
    t["cases"] = _set(t["cases"], [6], "person_id", "0000000999")
    return t


def _c_unknown_person_relation(t):
    t["relations"] = _set(t["relations"], [5, 6], "person_id", "0000000999")
    return t


def _c_unknown_person_education(t):
    t["education"] = _set(t["education"], [7], "person_id", "0000000999")
    return t


def _c_unknown_case(t):
    t["probation_advice"] = _set(t["probation_advice"], [1], "case_id", "C99999")
    return t


def _c_case_person(t):
    t["probation_advice"] = _set(t["probation_advice"], [2], "person_id", pid(7))
    return t


def _c_many(t):
    t["persons"] = _set(t["persons"], list(range(10, 18)), "origin_group", "XX")
    return t


CASES = [
    ("missing table", "parquet", _c_missing_table, ("relations", "", V.MISSING_TABLE, 0, [])),
    ("missing column", "parquet", _c_missing_column,
     ("cases", "outcome", V.MISSING_COLUMN, 30, [])),
    ("wrong type parquet", "parquet", _c_wrong_type_parquet,
     ("education", "level", V.WRONG_TYPE, 44, [1, 2, 3, 4, 5])),
    ("wrong type csv", "csv", _c_wrong_type_csv,
     ("cases", "severity_max_years", V.WRONG_TYPE, 2, [3, 7])),
    ("unparseable date csv", "csv", _c_unparseable_date,
     ("cases", "offence_date", V.UNPARSEABLE_DATE, 2, [4, 10])),
    ("null", "parquet", _c_null, ("persons", "birth_date", V.NULL, 2, [5, 6])),
    ("null csv", "csv", _c_null_case_outcome, ("cases", "outcome", V.NULL, 1, [8])),
    ("unknown code", "parquet", _c_unknown_code,
     ("cases", "offence_category", V.UNKNOWN_CODE, 3, [2, 12, 13])),
    ("unknown sex sav", "sav", _c_unknown_sex, ("persons", "sex", V.UNKNOWN_CODE, 1, [9])),
    ("duplicate person", "parquet", _c_duplicate_person,
     ("persons", "person_id", V.DUPLICATE_KEY, 2, [3, 49])),
    ("duplicate case", "csv", _c_duplicate_case, ("cases", "case_id", V.DUPLICATE_KEY, 2, [1, 31])),
    ("self relation", "parquet", _c_self_relation,
     ("relations", "alter_id", V.SELF_RELATION, 1, [1])),
    ("relation layer", "parquet", _c_relation_layer,
     ("relations", "layer", V.RELATION_LAYER, 1, [3])),
    ("household end before start", "parquet", _c_end_before_start_household,
     ("households", "end_date", V.END_BEFORE_START, 1, [2])),
    ("registration before offence", "parquet", _c_registration_before_offence,
     ("cases", "registration_date", V.END_BEFORE_START, 1, [5])),
    ("disposal before offence", "sav", _c_disposal_before_offence,
     ("cases", "disposal_date", V.END_BEFORE_START, 2, [5, 6])),
    ("delivered before requested", "parquet", _c_delivered_before_requested,
     ("probation_advice", "delivered_date", V.END_BEFORE_START, 1, [1])),
    ("delivered but never requested", "parquet", _c_delivered_not_requested,
     ("probation_advice", "delivered_date", V.NOT_REQUESTED, 1, [1])),
    ("relation end before start", "csv", _c_relation_end_before_start,
     ("relations", "end_date", V.END_BEFORE_START, 1, [1])),
    ("offence before birth", "parquet", _c_offence_before_birth,
     ("cases", "offence_date", V.BEFORE_BIRTH, 1, [1])),
    ("diploma before birth", "parquet", _c_diploma_before_birth,
     ("education", "diploma_date", V.BEFORE_BIRTH, 2, [1, 2])),
    ("emigration before birth", "parquet", _c_emigration_before_birth,
     ("persons", "emigration_date", V.BEFORE_BIRTH, 1, [1])),
    ("youth care before birth", "parquet", _c_youth_care_before_birth,
     ("youth_care", "start_date", V.BEFORE_BIRTH, 1, [1])),
    ("relation before birth", "parquet", _c_relation_before_birth,
     ("relations", "start_date", V.BEFORE_BIRTH, 1, [3])),
    ("offence after death", "csv", _c_offence_after_death,
     ("cases", "offence_date", V.AFTER_DEATH, 1, [29])),
    ("detention after death", "parquet", _c_detention_after_death,
     ("detentions", "start_date", V.AFTER_DEATH, 1, [6])),
    ("unknown person case", "parquet", _c_unknown_person_case,
     ("cases", "person_id", V.UNKNOWN_PERSON, 1, [6])),
    ("unknown person relation", "parquet", _c_unknown_person_relation,
     ("relations", "person_id", V.UNKNOWN_PERSON, 2, [5, 6])),
    ("unknown person education", "parquet", _c_unknown_person_education,
     ("education", "person_id", V.UNKNOWN_PERSON, 1, [7])),
    ("unknown case", "parquet", _c_unknown_case,
     ("probation_advice", "case_id", V.UNKNOWN_CASE, 1, [1])),
    ("person differs from case", "parquet", _c_case_person,
     ("probation_advice", "person_id", V.CASE_PERSON, 1, [2])),
    ("many: five examples", "parquet", _c_many,
     ("persons", "origin_group", V.UNKNOWN_CODE, 8, [10, 11, 12, 13, 14])),
]


@pytest.mark.parametrize("fmt", ["parquet", "csv", "sav"])
def test_small_folder_is_valid(duckdb_engine, tmp_path: Path, fmt: str) -> None:
    folder = write_small_registers(tmp_path / fmt, fmt)
    report = check_folder(folder, engine=duckdb_engine)
    assert report.violations == []
    assert validate_folder(folder, engine=duckdb_engine) == []
    # the one unregistered alter is a note, not a violation
    rels = small_tables()["relations"]
    row = int((rels.alter_id == UNREGISTERED_ALTER).to_numpy().nonzero()[0][0]) + 1
    assert report.notes == [Violation("relations", "alter_id", V.UNREGISTERED_ALTER, 1, [row])]


@pytest.mark.parametrize("name,fmt,corrupt,expected", CASES, ids=[c[0] for c in CASES])
def test_each_rule_gets_its_clear_message(
    duckdb_engine, base_folders, tmp_path: Path, name, fmt, corrupt, expected
) -> None:
    folder = _corrupted_folder(base_folders[fmt], corrupt(small_tables()), tmp_path / "bad", fmt)
    violations = validate_folder(folder, engine=duckdb_engine)
    assert violations == [Violation(*expected)], [str(v) for v in violations]
    line = str(violations[0])
    table, column, rule, count, rows = expected
    assert line.count("\n") == 0
    assert table in line and column in line and rule in line
    if rule != V.MISSING_TABLE:
        assert f"{count:,} row" in line
    for r in rows:
        assert re.search(rf"\b{r}\b", line)
    # never row contents: no person ids, case ids or dates
    assert not re.search(r"\d{10}|C\d{5}|\d{4}-\d{2}-\d{2}|arson|twelve|yesterday", line)


def test_unreadable_folders_raise_read_error(duckdb_engine, tmp_path: Path) -> None:
    with pytest.raises(ContractReadError):
        validate_folder(tmp_path / "nope", engine=duckdb_engine)
    folder = write_small_registers(tmp_path / "broken")
    (folder / "cases.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(ContractReadError, match="cases.parquet"):
        validate_folder(folder, engine=duckdb_engine)
    folder = write_small_registers(tmp_path / "badmeta")
    (folder / "meta.json").write_text("{not json")
    with pytest.raises(ContractReadError, match="meta.json"):
        validate_folder(folder, engine=duckdb_engine)


def test_malformed_csv_is_a_read_error_without_contents(
    duckdb_engine, tmp_path: Path
) -> None:
    folder = write_small_registers(tmp_path / "csv", "csv")
    text = (folder / "persons.csv").read_text().splitlines()
    text[3] = text[3] + ',"unterminated secret 123456789'
    (folder / "persons.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(ContractReadError) as e:
        validate_folder(folder, engine=duckdb_engine)
    assert "secret" not in str(e.value) and "123456789" not in str(e.value)
    # a short row is refused, never read as nulls or silently skipped
    folder = write_small_registers(tmp_path / "short", "csv")
    text = (folder / "cases.csv").read_text().splitlines()
    text[5] = ",".join(text[5].split(",")[:4])
    (folder / "cases.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(ContractReadError, match="cases.csv.*line 6") as e:
        validate_folder(folder, engine=duckdb_engine)
    assert "C0000" not in str(e.value)


def test_counting_stays_in_the_engine_at_scale(duckdb_engine, tmp_path: Path) -> None:
    """300k persons, 150k failing rows: counted exactly, five examples, in a few seconds."""
    import time

    import duckdb

    folder = write_small_registers(tmp_path / "big")
    n = 300_000
    con = duckdb.connect()
    con.execute(f"""
        COPY (SELECT lpad(CAST(i AS VARCHAR), 10, '0') AS person_id,
                     DATE '1950-01-01' + CAST(i % 20000 AS INTEGER) AS birth_date,
                     CASE WHEN i % 2 = 0 THEN 'X' ELSE 'M' END AS sex,
                     'none' AS migration_background, 'NL' AS origin_group,
                     CAST(NULL AS DATE) AS death_date, CAST(NULL AS DATE) AS emigration_date
              FROM range(1, {n + 1}) r(i))
        TO '{folder / "persons.parquet"}' (FORMAT parquet)""")
    con.close()
    t0 = time.perf_counter()
    violations = validate_folder(folder, engine=duckdb_engine)
    elapsed = time.perf_counter() - t0
    assert violations == [Violation("persons", "sex", V.UNKNOWN_CODE, n // 2, [2, 4, 6, 8, 10])]
    assert elapsed < 20


# -- repair -------------------------------------------------------------------------------------
def _rows(folder: Path, name: str) -> int:
    return pq.ParquetFile(folder / f"{name}.parquet").metadata.num_rows


def test_repair_drops_and_logs_every_row_with_cascades(
    duckdb_engine, tmp_path: Path
) -> None:
    t = small_tables()
    victim = pid(3)
    t["persons"] = _append(t["persons"], 3)  # duplicate key: both rows of person 3 go
    t["cases"] = _set(t["cases"], [5], "registration_date", D(2000, 1, 1))  # case C00005
    t["education"] = _set(t["education"], [7], "person_id", "0000000999")
    src = write_tables(t, tmp_path / "bad", "csv")
    out = tmp_path / "fixed"
    log = repair_folder(src, out, engine=duckdb_engine)
    orig = small_tables()

    # reference counts computed directly from the frames
    def of(name: str) -> int:
        return int((orig[name].person_id == victim).sum())

    advice = orig["probation_advice"]
    c5_advice = int(((advice.case_id == "C00005") & (advice.person_id != victim)).sum())
    rel = orig["relations"]
    expected = {
        ("persons", V.DUPLICATE_KEY): 2,
        ("cases", V.END_BEFORE_START): 1,
        ("cases", V.PERSON_DROPPED): of("cases"),
        ("education", V.UNKNOWN_PERSON): 1,
        ("education", V.PERSON_DROPPED): of("education"),
        ("households", V.PERSON_DROPPED): of("households"),
        ("youth_care", V.PERSON_DROPPED): of("youth_care"),
        ("detentions", V.PERSON_DROPPED): of("detentions"),
        ("probation_advice", V.PERSON_DROPPED): of("probation_advice"),
        ("probation_advice", V.CASE_DROPPED): c5_advice,
        ("relations", V.PERSON_DROPPED): int((rel.person_id == victim).sum()),
        ("relations", V.ALTER_DROPPED): int(((rel.alter_id == victim)
                                             & (rel.person_id != victim)).sum()),
    }
    expected = {k: v for k, v in expected.items() if v}
    got = {(e.table, e.rule): e.count for e in log}
    assert got == expected
    assert all(isinstance(e, RepairEntry) and "\n" not in str(e) for e in log)
    # nothing dropped silently: input rows - logged drops = output rows, per table
    for name, df in t.items():
        dropped = sum(e.count for e in log if e.table == name)
        assert _rows(out, name) == len(df) - dropped, name
    # the repaired copy is valid, typed, and keeps meta.json
    assert validate_folder(out, engine=duckdb_engine) == []
    assert (out / "meta.json").exists()
    schema = pq.read_schema(out / "persons.parquet")
    assert str(schema.field("birth_date").type) == "date32[day]"
    assert str(schema.field("person_id").type) == "string"


def test_repair_counts_a_row_once_under_its_first_rule(
    duckdb_engine, tmp_path: Path
) -> None:
    t = small_tables()
    # row 2 breaks two rules (unknown code and end before start): one drop, logged once
    t["cases"] = _set(t["cases"], [2], "offence_category", "arson")
    t["cases"] = _set(t["cases"], [2, 3], "disposal_date", D(1990, 1, 1))
    src = write_tables(t, tmp_path / "bad")
    violations = validate_folder(src, engine=duckdb_engine)
    assert {(v.rule, v.count) for v in violations} == {(V.UNKNOWN_CODE, 1),
                                                       (V.END_BEFORE_START, 2)}
    log = repair_folder(src, tmp_path / "out", engine=duckdb_engine)
    case_log = {e.rule: e.count for e in log if e.table == "cases"}
    assert case_log == {V.UNKNOWN_CODE: 1, V.END_BEFORE_START: 1}
    assert _rows(tmp_path / "out", "cases") == len(t["cases"]) - 2


def test_prepare_folder_strict_and_repair(duckdb_engine, tmp_path: Path) -> None:
    good = write_small_registers(tmp_path / "good")
    folder, log = prepare_folder(good, "strict", tmp_path / "w1", engine=duckdb_engine)
    assert folder == good and log == []  # valid canonical parquet is used in place

    bad = write_tables(_c_unknown_code(small_tables()), tmp_path / "bad")
    with pytest.raises(ContractError) as e:
        prepare_folder(bad, "strict", tmp_path / "w2", engine=duckdb_engine)
    msg = str(e.value)
    assert "cases.offence_category" in msg and V.UNKNOWN_CODE in msg and "3 rows" in msg
    assert e.value.violations == [Violation("cases", "offence_category", V.UNKNOWN_CODE, 3,
                                            [2, 12, 13])]
    folder, log = prepare_folder(bad, "repair", tmp_path / "w3", engine=duckdb_engine)
    assert folder.is_relative_to(tmp_path / "w3")
    assert [(x.table, x.rule, x.count) for x in log][0] == ("cases", V.UNKNOWN_CODE, 3)
    assert validate_folder(folder, engine=duckdb_engine) == []
    # untouched tables are linked; dropped cases may cascade into probation advice only
    copied = {p.name for p in folder.glob("*.parquet") if not p.is_symlink()}
    assert copied == {"cases.parquet", "probation_advice.parquet"}

    bad = write_tables(_c_self_relation(small_tables()), tmp_path / "bad_rel")
    folder, log = prepare_folder(bad, "repair", tmp_path / "w4", engine=duckdb_engine)
    assert [(x.table, x.rule, x.count) for x in log] == [("relations", V.SELF_RELATION, 1)]
    assert {p.name for p in folder.glob("*.parquet") if not p.is_symlink()} == {
        "relations.parquet"}
    assert pq.ParquetFile(folder / "relations.parquet").metadata.num_rows == len(
        small_tables()["relations"]) - 1


def test_prepare_folder_converts_csv_and_links_parquet(duckdb_engine, tmp_path: Path) -> None:
    src = write_small_registers(tmp_path / "mixed", "csv")
    # persons as canonical parquet next to CSV tables
    write_tables({"persons": small_tables()["persons"]}, tmp_path / "p")
    (src / "persons.csv").unlink()
    (tmp_path / "p" / "persons.parquet").rename(src / "persons.parquet")
    folder, log = prepare_folder(src, "strict", tmp_path / "work", engine=duckdb_engine)
    assert log == [] and folder != src
    assert (folder / "persons.parquet").is_symlink()
    cases = pd.read_parquet(folder / "cases.parquet")
    ref = small_tables()["cases"]
    assert list(cases.columns) == list(ref.columns)
    assert cases.person_id.tolist() == ref.person_id.tolist()  # leading zeros kept, order kept
    assert cases.domestic.tolist() == [None if v is None else bool(v) for v in ref.domestic]


def test_repair_refuses_missing_required_column_but_fills_nullable(
    duckdb_engine, tmp_path: Path
) -> None:
    t = small_tables()
    t["cases"] = t["cases"].drop(columns=["outcome"])
    with pytest.raises(ContractError, match="cannot be repaired"):
        repair_folder(write_tables(t, tmp_path / "a"), tmp_path / "out_a", engine=duckdb_engine)
    t = small_tables()
    t["persons"] = t["persons"].drop(columns=["emigration_date"])
    src = write_tables(t, tmp_path / "b")
    assert validate_folder(src, engine=duckdb_engine) == [
        Violation("persons", "emigration_date", V.MISSING_COLUMN, 48)
    ]
    log = repair_folder(src, tmp_path / "out_b", engine=duckdb_engine)
    assert [(e.rule, e.table, e.column, e.count) for e in log] == [
        (V.FILLED_COLUMN, "persons", "emigration_date", 48)
    ]
    assert pd.read_parquet(tmp_path / "out_b" / "persons.parquet").emigration_date.isna().all()
    assert validate_folder(tmp_path / "out_b", engine=duckdb_engine) == []


def test_parquet_with_text_dates_and_null_typed_columns(duckdb_engine, tmp_path: Path) -> None:
    """Castable parquet columns are accepted, then converted to the canonical types."""
    t = small_tables()
    p = t["persons"].copy()
    p["birth_date"] = p.birth_date.map(lambda d: d.isoformat())  # ISO text, not DATE
    p["emigration_date"] = None  # written as arrow's null type
    t["persons"] = p
    src = write_tables(t, tmp_path / "ok")
    assert str(pq.read_schema(src / "persons.parquet").field("emigration_date").type) == "null"
    assert validate_folder(src, engine=duckdb_engine) == []
    folder, log = prepare_folder(src, "strict", tmp_path / "work", engine=duckdb_engine)
    assert folder != src and log == []
    schema = pq.read_schema(folder / "persons.parquet")
    assert str(schema.field("birth_date").type) == "date32[day]"
    assert str(schema.field("emigration_date").type) == "date32[day]"
    assert (folder / "cases.parquet").is_symlink()  # canonical tables are linked, not copied

    p.loc[3, "birth_date"] = "1960-02-30"
    t["persons"] = p
    bad = write_tables(t, tmp_path / "bad")
    assert validate_folder(bad, engine=duckdb_engine) == [
        Violation("persons", "birth_date", V.UNPARSEABLE_DATE, 1, [4])
    ]


def _statements(monkeypatch) -> list[str]:
    """Every SQL statement the checker executes from now on."""
    seen: list[str] = []
    x = V._Checker._x

    def spy(self, sql: str):
        seen.append(sql)
        return x(self, sql)

    monkeypatch.setattr(V._Checker, "_x", spy)
    return seen


ALTER_JOIN = "ON t.alter_id = a.person_id"


def test_only_the_lookups_a_rule_reads_are_joined(duckdb_engine, tmp_path: Path,
                                                  monkeypatch) -> None:
    # `validate` counts the unregistered-alter note, so it joins every relation's alter
    good = write_small_registers(tmp_path / "good")
    seen = _statements(monkeypatch)
    assert check_folder(good, engine=duckdb_engine).notes  # the one unregistered alter
    assert any(ALTER_JOIN in s for s in seen)
    # a run reads no notes: its pass over the relations has no alter join, the ego join stays
    seen.clear()
    assert prepare_folder(good, "strict", tmp_path / "w", engine=duckdb_engine) == (good, [])
    rel = [s for s in seen if "count(*) FILTER" in s and "alter_id" in s]
    assert rel and not any(ALTER_JOIN in s for s in rel)
    assert all("ON t.person_id = p.person_id" in s for s in rel)
    # a plain conversion (CSV, no rule fires, nothing repaired) joins nothing when it copies
    csv = write_small_registers(tmp_path / "csv", "csv")
    seen.clear()
    prepare_folder(csv, "strict", tmp_path / "w2", engine=duckdb_engine)
    copies = [s for s in seen if s.startswith("COPY (SELECT t.")]
    assert copies and not any("LEFT JOIN" in s for s in copies)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_rule_counts_equal_the_slow_form(duckdb_engine, tmp_path: Path, case) -> None:
    # the slow, obvious form: every rule tested on every row, every lookup joined; the checker
    # joins only the lookups its rules read and counts coded-column rules on distinct values
    _, fmt, change, _ = case
    folder = write_tables(change(small_tables()), tmp_path / "f", fmt)
    with V._Checker(folder, duckdb_engine) as ch:
        for name in ch.staged:
            rules = ch.rules(name) + ch.notes_rules(name)
            if not rules:
                continue
            everything = [V._Rule("", "", f"{a}.x IS NULL") for a in ("p", "a", "d", "k")]
            q = "SELECT " + ", ".join(f"count(*) FILTER (WHERE coalesce({r.predicate}, false))"
                                      for r in rules)
            slow = ch._x(q + f" FROM {ch._from(name, rules + everything)}").fetchone()
            fast = {(v.column, v.rule): v.count for v in ch._count(name, rules)}
            assert [fast.get((r.column, r.rule), 0) for r in rules] == list(slow), name


def test_coded_rules_counted_on_distinct_values_match_planted_truth(
        duckdb_engine, tmp_path: Path, monkeypatch) -> None:
    rng = np.random.default_rng(7)
    t = small_tables()
    rels = t["relations"]
    n = 3000
    big = rels.iloc[rng.integers(0, len(rels), n)].reset_index(drop=True)
    relation = rng.choice([*V.RELATION_LAYERS, "cousin", None], n)
    layer = rng.choice([*sorted(set(V.RELATION_LAYERS.values())), "club", None], n)
    big["relation"], big["layer"] = relation, layer
    t["relations"] = big
    folder = write_tables(t, tmp_path / "f")
    seen = _statements(monkeypatch)
    got = {(v.column, v.rule): v.count for v in check_folder(folder, engine=duckdb_engine).violations
           if v.table == "relations"}
    known_rel = pd.Series(relation).isin(list(V.RELATION_LAYERS))
    known_layer = pd.Series(layer).isin(sorted(set(V.RELATION_LAYERS.values())))
    expected_layer = pd.Series(relation).map(V.RELATION_LAYERS)
    mismatch = known_rel & pd.Series(layer).notna() & (pd.Series(layer) != expected_layer)
    assert got[("relation", V.UNKNOWN_CODE)] == int((pd.Series(relation).notna() & ~known_rel).sum())
    assert got[("layer", V.UNKNOWN_CODE)] == int((pd.Series(layer).notna() & ~known_layer).sum())
    assert got[("layer", V.RELATION_LAYER)] == int(mismatch.sum())
    assert got[("relation", V.NULL)] == int(pd.Series(relation).isna().sum())
    # the per-row pass over the relations tests no code; one grouped count does
    passes = [s for s in seen if "count(*) FILTER" in s and "alter_id" in s]
    assert passes and not any("NOT IN" in s for s in passes)
    assert any("GROUP BY ALL" in s and "NOT IN" in s for s in seen)


def test_duplicate_keys_counted_on_the_keys_aggregate_match_planted_truth(
        duckdb_engine, tmp_path: Path, monkeypatch) -> None:
    rng = np.random.default_rng(11)
    t = small_tables()
    cases = t["cases"]
    big = cases.iloc[rng.integers(0, len(cases), 500)].reset_index(drop=True)
    ids = rng.integers(0, 300, len(big)).astype(str)  # many keys twice or more
    big["case_id"] = np.where(rng.random(len(big)) < 0.05, None, ids)
    t["cases"] = big
    t.pop("probation_advice", None)
    folder = write_tables(t, tmp_path / "f")
    seen = _statements(monkeypatch)
    got = {(v.table, v.rule): v for v in check_folder(folder, engine=duckdb_engine).violations}
    key = pd.Series(big["case_id"]).dropna()
    sizes = key.map(key.value_counts())
    assert got[("cases", V.DUPLICATE_KEY)].count == int((sizes > 1).sum())
    first = [i + 1 for i, k in enumerate(big["case_id"]) if k is not None and sizes.get(i, 0) > 1]
    assert got[("cases", V.DUPLICATE_KEY)].examples == first[:V.MAX_EXAMPLES]
    # the counting pass does not join the key's aggregate to every row
    passes = [s for s in seen if "count(*) FILTER" in s and "case_id" in s and "offence" in s]
    assert passes and not any("ON t.case_id = d.case_id" in s for s in passes)


@pytest.mark.parametrize("duplicates", [False, True])
def test_advice_case_rules_match_reference_with_unique_and_duplicated_case_ids(
        duckdb_engine, tmp_path: Path, monkeypatch, duplicates: bool) -> None:
    """Unknown case and "person differs from case" against pandas: the case's person is the
    case's own row when case ids are unique (no aggregate of persons per case), else the
    smallest person of the case's rows."""
    rng = np.random.default_rng(5)
    t = small_tables()
    cases = t["cases"].copy()
    if duplicates:  # a few case ids twice, with another person
        extra = cases.iloc[rng.integers(0, len(cases), 4)].copy()
        extra["person_id"] = rng.choice(t["persons"]["person_id"].to_numpy(), len(extra))
        cases = pd.concat([cases, extra], ignore_index=True)
    t["cases"] = cases
    adv = t["probation_advice"].copy()
    adv["case_id"] = rng.choice([*cases["case_id"].dropna().unique(), "no-such-case"], len(adv))
    adv["person_id"] = np.where(rng.random(len(adv)) < 0.3,
                                rng.choice(t["persons"]["person_id"].to_numpy(), len(adv)),
                                adv["person_id"])
    t["probation_advice"] = adv
    folder = write_tables(t, tmp_path / "f")
    seen = _statements(monkeypatch)
    got = {(v.table, v.rule): v.count for v in check_folder(folder, engine=duckdb_engine).violations}
    person_of = cases.dropna(subset=["case_id"]).groupby("case_id")["person_id"].min()
    known = adv["case_id"].isin(person_of.index)
    differs = known & (adv["person_id"] != adv["case_id"].map(person_of))
    assert got.get(("probation_advice", V.UNKNOWN_CASE), 0) == int((~known).sum()) > 0
    assert got.get(("probation_advice", V.CASE_PERSON), 0) == int(differs.sum()) > 0
    assert (("cases", V.DUPLICATE_KEY) in got) == duplicates
    person_aggregates = [s for s in seen if "min(person_id)" in s]
    assert bool(person_aggregates) == duplicates
