"""File adapter (parquet / CSV / .sav round trips, load_registers); the CBS adapter: test_cbs_*.py."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from small_registers import CUTOFF, small_tables, write_small_registers, write_tables

from crimcareer import contract
from crimcareer.adapters.files import describe_folder, load_registers, read_cutoff, table_files
from crimcareer.engine import Engine
from crimcareer.validation import ContractError, prepare_folder, validate_folder


@pytest.fixture(scope="module")
def duckdb_engine():
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


# DuckDB-only: prepare_folder converts CSV/.sav to parquet with DuckDB whatever the study engine.
@pytest.mark.parametrize("fmt", ["csv", "sav"])
def test_round_trip_to_typed_parquet(duckdb_engine, tmp_path: Path, fmt: str) -> None:
    src = write_small_registers(tmp_path / fmt, fmt)
    assert {p.suffix for p in table_files(src).values()} == {f".{fmt}"}
    folder, log = prepare_folder(src, "strict", tmp_path / "work", engine=duckdb_engine)
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
