"""File adapter (parquet / CSV / .sav round trips, load_registers) and the CBS adapter."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from small_registers import CUTOFF, small_tables, write_small_registers, write_tables

from crimcareer import contract
from crimcareer.adapters.cbs import (
    Code,
    Const,
    Date,
    Flag,
    Key,
    Number,
    TableMapping,
    cbs_to_contract,
)
from crimcareer.adapters.files import describe_folder, load_registers, read_cutoff, table_files
from crimcareer.engine import Engine
from crimcareer.validation import ContractError, check_folder, prepare_folder, validate_folder

D = dt.date


@pytest.fixture(scope="module")
def engine():
    with Engine("duckdb", threads=1) as e:  # tiny tables: no thread overhead
        yield e


def _normalise(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Python values per contract type, so frames from any format compare equal."""
    out = pd.DataFrame()
    for col in contract.TABLES[name].columns:
        values = []
        for v in df[col.name]:
            if v is None or (isinstance(v, float) and v != v) or v is pd.NaT:
                values.append(None)
            elif col.type == "date":
                values.append(v.date() if hasattr(v, "date") and callable(v.date) else v)
            elif col.type == "bool":
                values.append(bool(v))
            elif col.type == "float":
                values.append(float(v))
            else:
                values.append(str(v))
        out[col.name] = pd.Series(values, dtype=object)
    return out


@pytest.mark.parametrize("fmt", ["csv", "sav"])
def test_round_trip_to_typed_parquet(engine, tmp_path: Path, fmt: str) -> None:
    src = write_small_registers(tmp_path / fmt, fmt)
    assert {p.suffix for p in table_files(src).values()} == {f".{fmt}"}
    folder, log = prepare_folder(src, "strict", tmp_path / "work", engine=engine)
    assert log == [] and folder != src
    import pyarrow.parquet as pq

    for name, ref in small_tables().items():
        got = pd.read_parquet(folder / f"{name}.parquet")
        schema = pq.read_schema(folder / f"{name}.parquet")
        for col in contract.TABLES[name].columns:
            expected = {"string": "string", "date": "date32[day]", "bool": "bool",
                        "float": "double"}[col.type]
            assert str(schema.field(col.name).type) == expected, (name, col.name)
        pd.testing.assert_frame_equal(_normalise(got, name), _normalise(ref, name))


def test_load_registers_reads_csv_and_applies_modes(engine, tmp_path: Path) -> None:
    src = write_small_registers(tmp_path / "csv", "csv")
    reg = load_registers(src, engine)
    assert reg.cutoff == CUTOFF and read_cutoff(src) == CUTOFF
    ref = small_tables()
    for name in ref:
        assert reg.has(name)
        assert engine.to_pandas(reg.tables[name].count().name("n").as_table()).n[0] == len(
            ref[name])
    assert engine.to_pandas(reg.persons.filter(reg.persons.person_id == "0000000003")
                            .select("birth_date")).birth_date[0] == pd.Timestamp(1978, 1, 15)

    t = small_tables()
    t["cases"].loc[0, "offence_category"] = "arson"
    bad = write_tables(t, tmp_path / "bad")
    with pytest.raises(ContractError, match="cases.offence_category: unknown code: 1 row"):
        load_registers(bad, engine)
    reg = load_registers(bad, engine, mode="repair")
    assert [(e.table, e.rule, e.count) for e in reg.repair_log][0] == (
        "cases", "unknown code", 1)
    n_cases = engine.to_pandas(reg.cases.count().name("n").as_table()).n[0]
    assert n_cases == len(t["cases"]) - 1


def test_optional_tables_absent_mean_not_available(engine, tmp_path: Path) -> None:
    t = small_tables()
    for name in ("education", "households", "youth_care", "detentions", "probation_advice"):
        del t[name]
    folder = write_tables(t, tmp_path / "min")
    assert validate_folder(folder, engine=engine) == []
    reg = load_registers(folder, engine)
    assert not reg.has("education")
    with pytest.raises(AttributeError, match="optional table"):
        reg.education  # noqa: B018


def test_describe_folder_counts_rows_of_every_format(tmp_path: Path) -> None:
    for fmt in ("parquet", "csv", "sav"):
        text = describe_folder(write_small_registers(tmp_path / fmt, fmt))
        assert f"cases.{fmt}" in text and "30 rows" in text and "48 rows" in text
        assert "2023-12-31" in text


# -- CBS ----------------------------------------------------------------------------------------
def _cbs_sources(folder: Path) -> None:
    """Crafted CBS-like tables: persons (.sav), deaths (.csv), parent-child (.csv), cases (.csv)."""
    import pyreadstat

    folder.mkdir(parents=True)
    persons = pd.DataFrame({
        "RINPERSOONS": ["R"] * 6,
        "RINPERSOON": ["000000101", "000000102", "000000103", "000000104", "000000105",
                       "000000106"],
        "GBAGEBOORTEJAAR": ["1950", "1952", "1978", "1981", "1983", "1990"],
        "GBAGEBOORTEMAAND": ["03", "07", "01", "11", "02", "12"],
        "GBAGEBOORTEDAG": ["01", "10", "15", "28", "", "31"],
        "GBAGESLACHT": ["1", "2", "1", "2", "-", "2"],
        "GBAGENERATIE": ["0", "0", "1", "2", "2", "0"],
        "GBAHERKOMSTGROEPERING": ["6030", "5022", "6043", "5007", "5010", "6030"],
    })
    pyreadstat.write_sav(persons, str(folder / "GBAPERSOON2022TABV1.sav"))
    pd.DataFrame({
        "RINPERSOONS": ["R", "R"], "RINPERSOON": ["000000101", "000000106"],
        "GBADatumOverlijden": ["20100501", "88888888"],
    }).to_csv(folder / "GBAOVERLIJDEN2022TABV1.csv", index=False)
    pd.DataFrame({
        "RINPERSOONS": ["R", "R", "R"],
        "RINPERSOON": ["000000103", "000000104", "000000105"],
        "RINPERSOONSpa": ["R", "R", "R"], "RINPERSOONpa": ["000000101", "000000101", "000000000"],
        "RINPERSOONSMa": ["R", "R", "R"], "RINPERSOONMa": ["000000102", "000000102", "000000102"],
    }).to_csv(folder / "KINDOUDER2022TABV1.csv", index=False)
    pd.DataFrame({
        "RINPERSOONS": ["R", "R", "R"], "RINPERSOON": ["000000103", "000000103", "000000105"],
        "ZAAKNR": ["7001", "7002", "7003"],
        "PLEEGDATUM": ["20100105", "20120230", "20150101"],
        "INSCHRIJFDATUM": ["20100301", "20120501", "20150201"],
        "AFDOENINGSDATUM": ["20110101", "20501231", "88888888"],
        "CATEGORIE": ["MH", "VM", "MH"], "AFDOENING": ["1", "9", "3"],
        "ART": ["273f", "310", "273f"], "MAXSTRAF": ["12", "4", "12"],
        "BINNENLANDS": ["1", "", "0"],
    }).to_csv(folder / "OMZAKEN.csv", index=False)


CASES_MAPPING = {
    "cases": TableMapping(
        source="OMZAKEN",
        columns={
            "case_id": "ZAAKNR",
            "person_id": Key(),
            "offence_date": Date("PLEEGDATUM"),
            "registration_date": Date("INSCHRIJFDATUM"),
            "disposal_date": Date("AFDOENINGSDATUM"),
            "article": "ART",
            "offence_category": Code("CATEGORIE", {"MH": "trafficking_sexual", "VM": "property"}),
            "domestic": Flag("BINNENLANDS"),
            "outcome": Code("AFDOENING", {"1": "conviction", "3": "pending"}),
            "severity_max_years": Number("MAXSTRAF"),
        },
    )
}


def test_cbs_to_contract_persons_relations_and_cases(engine, tmp_path: Path) -> None:
    src, out = tmp_path / "cbs", tmp_path / "contract"
    _cbs_sources(src)
    log = cbs_to_contract(src, out, CASES_MAPPING, cutoff=D(2023, 12, 31))
    persons = pd.read_parquet(out / "persons.parquet")
    assert persons.person_id.tolist() == [f"R000000{i}" for i in range(101, 107)]
    assert persons.birth_date.tolist() == [D(1950, 3, 1), D(1952, 7, 10), D(1978, 1, 15),
                                           D(1981, 11, 28), D(1983, 2, 1), D(1990, 12, 31)]
    assert persons.sex.tolist() == ["M", "F", "M", "F", None, "F"]
    assert persons.migration_background.tolist()[:3] == ["none", "none", "first_generation"]
    assert persons.origin_group.tolist() == ["NL", "MA", "TR", "SR", None, "NL"]
    # sentinel 88888888 -> null; the death date is joined from the second table
    assert persons.death_date.tolist()[0] == D(2010, 5, 1)
    assert persons.death_date.isna().tolist()[1:] == [True] * 5

    rel = pd.read_parquet(out / "relations.parquet")
    triples = set(zip(rel.person_id, rel.alter_id, rel.relation))
    r = "R000000{}".format
    expected = {
        (r(103), r(101), "parent"), (r(103), r(102), "parent"), (r(104), r(101), "parent"),
        (r(104), r(102), "parent"), (r(105), r(102), "parent"),
        (r(101), r(103), "child"), (r(102), r(103), "child"), (r(101), r(104), "child"),
        (r(102), r(104), "child"), (r(102), r(105), "child"),
        (r(103), r(104), "sibling"), (r(104), r(103), "sibling"),
        (r(103), r(105), "half_sibling"), (r(105), r(103), "half_sibling"),
        (r(104), r(105), "half_sibling"), (r(105), r(104), "half_sibling"),
    }
    assert triples == expected and len(rel) == len(expected)
    assert set(rel.layer) == {"family"}

    cases = pd.read_parquet(out / "cases.parquet")
    assert cases.case_id.tolist() == ["7001", "7002", "7003"]
    assert cases.offence_date.tolist()[0] == D(2010, 1, 5)
    assert pd.isna(cases.offence_date[1])  # 30 February: logged, then refused by validation
    assert cases.disposal_date.isna().tolist() == [False, True, True]  # both sentinels
    assert cases.domestic.tolist() == [True, None, False]
    assert cases.outcome.tolist() == ["conviction", "9", "pending"]  # unmapped kept, flagged

    entries = {(e.table, e.column, e.rule): e.count for e in log}
    assert entries == {
        ("persons", "sex", "unmapped code"): 1,
        ("persons", "origin_group", "unmapped code"): 1,
        ("cases", "offence_date", "unparseable date"): 1,
    }
    assert json.loads((out / "meta.json").read_text())["cutoff"] == "2023-12-31"

    # the converted folder goes through the ordinary validation
    report = check_folder(out, engine=engine)
    got = {(v.table, v.column, v.rule, v.count) for v in report.violations}
    assert got == {("cases", "offence_date", "null not allowed", 1),
                   ("cases", "outcome", "unknown code", 1)}


def test_cbs_numeric_rinpersoon_keeps_leading_zeros(tmp_path: Path) -> None:
    import pyreadstat

    src = tmp_path / "cbs"
    src.mkdir()
    pyreadstat.write_sav(pd.DataFrame({
        "RINPERSOONS": ["R", "R"], "RINPERSOON": [123.0, 987654321.0],
        "GBAGEBOORTEJAAR": [1990.0, 2001.0], "GBAGEBOORTEMAAND": [2.0, 10.0],
        "GBAGESLACHT": [2.0, 1.0], "GBAGENERATIE": [0.0, 1.0],
        "GBAHERKOMSTGROEPERING": [6030.0, 5022.0],
    }), str(src / "GBAPERSOONTAB.sav"))
    cbs_to_contract(src, tmp_path / "out",
                    {"detentions": TableMapping("GBAPERSOON*", {"person_id": Key(),
                                                                "start_date": Const("2020-01-01"),
                                                                "end_date": None})})
    persons = pd.read_parquet(tmp_path / "out" / "persons.parquet")
    assert persons.person_id.tolist() == ["R000000123", "R987654321"]
    assert persons.birth_date.tolist() == [D(1990, 2, 1), D(2001, 10, 1)]  # no day: the 1st
    assert persons.sex.tolist() == ["F", "M"]
    assert persons.origin_group.tolist() == ["NL", "MA"]
    det = pd.read_parquet(tmp_path / "out" / "detentions.parquet")
    assert det.start_date.tolist() == [D(2020, 1, 1)] * 2
