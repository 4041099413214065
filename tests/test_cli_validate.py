"""`crimcareer validate` and `crimcareer inspect`: output lines and exit codes 0 / 1 / 2."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow.parquet as pq
from small_registers import small_tables, write_small_registers, write_tables
from typer.testing import CliRunner

from crimcareer.cli import app

runner = CliRunner()


def test_validate_clean_folder_exits_0(tmp_path: Path) -> None:
    folder = write_small_registers(tmp_path / "good", "csv")
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def test_validate_broken_folder_exits_1_with_one_line_per_rule(tmp_path: Path) -> None:
    t = small_tables()
    t["cases"].loc[[1, 4], "outcome"] = "lost"
    t["relations"].loc[0, "alter_id"] = t["relations"].loc[0, "person_id"]
    folder = write_tables(t, tmp_path / "bad")
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 1, result.output
    lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    rules = [ln for ln in lines if not ln.startswith("note: ")]
    assert ("cases.outcome: unknown code: 2 rows (rows 2, 5) - allowed: conviction, "
            "dismissal_policy, dismissal_technical, acquittal, pending") in rules
    assert "relations.alter_id: relation to oneself: 1 row (rows 1)" in rules
    assert len(rules) == 2
    assert "note: relations.alter_id: unregistered alter (kept): 1 row (rows 201)" in lines
    assert not re.search(r"\d{10}|lost", result.output)  # never row contents


def test_validate_unreadable_folder_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "missing")])
    assert result.exit_code == 2
    folder = write_small_registers(tmp_path / "corrupt")
    (folder / "persons.parquet").write_bytes(b"not a parquet file")
    assert runner.invoke(app, ["validate", str(folder)]).exit_code == 2


def test_validate_repair_writes_copy_and_prints_log(tmp_path: Path) -> None:
    t = small_tables()
    t["cases"].loc[[1, 4], "outcome"] = "lost"
    folder = write_tables(t, tmp_path / "bad", "csv")
    out = tmp_path / "fixed"
    result = runner.invoke(app, ["validate", str(folder), "--repair", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "repair cases.outcome: unknown code: 2 rows dropped" in result.stdout
    assert pq.ParquetFile(out / "cases.parquet").metadata.num_rows == len(t["cases"]) - 2
    assert runner.invoke(app, ["validate", str(out)]).exit_code == 0
    assert runner.invoke(app, ["validate", str(folder), "--repair"]).exit_code == 2


def test_inspect_lists_tables_and_counts(tmp_path: Path) -> None:
    t = small_tables()
    del t["youth_care"]
    folder = write_tables(t, tmp_path / "reg")
    result = runner.invoke(app, ["inspect", str(folder)])
    assert result.exit_code == 0, result.output
    assert re.search(r"persons\s+persons\.parquet\s+48 rows", result.stdout)
    assert re.search(r"youth_care\s+absent", result.stdout)
    assert "2023-12-31" in result.stdout
    assert runner.invoke(app, ["inspect", str(tmp_path / "missing")]).exit_code != 0
