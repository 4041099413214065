"""Every expected failure of every command: one or two plain lines, no traceback, the documented
exit status (0 done, 1 data or spec refused, 2 usage or environment), and `--debug` for the
traceback. Findings of issue 13, each reproduced from the command line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from small_registers import small_tables, write_small_registers, write_tables
from typer.testing import CliRunner

from crimcareer import __version__
from crimcareer.cli import app

runner = CliRunner()
SPEC = Path(__file__).resolve().parents[1] / "studies" / "brede-blik.toml"


def _invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def _clean(result, code: int) -> str:
    """The command failed with `code`, without a traceback, in at most a few lines."""
    text = result.output
    assert result.exit_code == code, text
    assert "Traceback" not in text and not isinstance(result.exception, AssertionError), text
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return text


def _csv_folder(tmp_path: Path) -> Path:
    return write_small_registers(tmp_path / "csv", "csv")


# -- options and usage ----------------------------------------------------------------------------
def test_version_and_choices_in_help() -> None:
    res = _invoke("--version")
    assert res.exit_code == 0 and res.output.strip() == f"crimcareer {__version__}"
    help_text = _invoke("run", "--help").output
    for choice in ("duckdb|spark", "en|nl", "strict|repair"):
        assert choice in help_text
    assert "Exit status" in _invoke("--help").output


@pytest.mark.parametrize("option,value", [("--engine", "foo"), ("--lang", "de"),
                                          ("--mode", "fix"), ("--memory-limit", "lots")])
def test_bad_option_values_are_usage_errors_naming_the_choices(tmp_path, option, value) -> None:
    data = write_small_registers(tmp_path / "reg")
    text = _clean(_invoke("run", SPEC, "--data", data, "--out", tmp_path / "out", option, value), 2)
    assert option in text
    if option != "--memory-limit":
        assert "is not one of" in text
    else:
        assert "4GB" in text
    assert not (tmp_path / "out").exists()


def test_run_with_missing_data_folder(tmp_path) -> None:
    text = _clean(_invoke("run", SPEC, "--data", tmp_path / "nope", "--out", tmp_path / "o"), 2)
    assert "--data folder" in text and "does not exist" in text
    assert len(text.strip().splitlines()) <= 2


def test_run_with_missing_spec(tmp_path) -> None:
    data = write_small_registers(tmp_path / "reg")
    text = _clean(_invoke("run", tmp_path / "none.toml", "--data", data, "--out", tmp_path / "o"), 2)
    assert "study spec" in text and "does not exist" in text


def test_debug_shows_the_traceback(tmp_path) -> None:
    folder = _csv_folder(tmp_path)
    _latin1(folder)
    res = _invoke("--debug", "inspect", folder)  # inspect has no traceback to show: still clean
    assert res.exit_code == 2
    res = _invoke("run", SPEC, "--data", folder, "--out", tmp_path / "o", "--debug")
    assert res.exit_code == 2 and "Traceback" in res.output


# -- unreadable files ------------------------------------------------------------------------------
def _latin1(folder: Path) -> None:
    raw = (folder / "persons.csv").read_text(encoding="utf-8")
    lines = raw.splitlines()
    lines[3] = lines[3].replace("NL", "Curaçao") if "NL" in lines[3] else lines[3] + "é"
    (folder / "persons.csv").write_bytes("\n".join(lines).encode("latin-1") + b"\n")


def test_latin1_csv_is_named_with_what_to_do_in_validate_inspect_and_run(tmp_path) -> None:
    folder = _csv_folder(tmp_path)
    _latin1(folder)
    for args in (["validate", folder], ["inspect", folder],
                 ["run", SPEC, "--data", folder, "--out", tmp_path / "out"]):
        text = _clean(_invoke(*args), 2)
        assert "persons.csv" in text and "UTF-8" in text and "line 4" in text, text
        assert "Curaçao" not in text and "Cura" not in text  # never row contents
    assert not (tmp_path / "out").exists()


def test_semicolon_separated_csv_names_the_separator(tmp_path) -> None:
    folder = _csv_folder(tmp_path)
    raw = (folder / "cases.csv").read_text(encoding="utf-8")
    (folder / "cases.csv").write_text(raw.replace(",", ";"), encoding="utf-8")
    text = _clean(_invoke("validate", folder), 2)
    assert "cases.csv" in text and "separator looks like ';'" in text
    assert "missing column" not in text
    text = _clean(_invoke("inspect", folder), 2)
    assert "separator looks like ';'" in text


def test_corrupt_parquet_in_inspect_exits_2(tmp_path) -> None:
    folder = write_small_registers(tmp_path / "reg")
    (folder / "cases.parquet").write_bytes(b"not a parquet file")
    text = _clean(_invoke("inspect", folder), 2)
    assert "cases.parquet" in text and "unreadable" in text


def test_inspect_missing_required_table_exits_1(tmp_path) -> None:
    folder = write_small_registers(tmp_path / "reg")
    (folder / "relations.parquet").unlink()
    text = _clean(_invoke("inspect", folder), 1)
    assert "required table(s) absent: relations" in text


# -- data refused ----------------------------------------------------------------------------------
def test_yyyymmdd_dates_are_named(tmp_path) -> None:
    t = small_tables()
    folder = write_tables(t, tmp_path / "csv", "csv")
    df = __import__("pandas").read_csv(folder / "cases.csv", dtype=str, keep_default_na=False)
    df["offence_date"] = df["offence_date"].str.replace("-", "")
    df.to_csv(folder / "cases.csv", index=False)
    text = _clean(_invoke("validate", folder), 1)
    line = next(ln for ln in text.splitlines() if "cases.offence_date" in ln)
    assert "unparseable date" in line and "YYYYMMDD" in line and "YYYY-MM-DD" in line
    assert not re.search(r"\b(19|20)\d{6}\b", text)  # no values quoted


def test_empty_cases_table_is_refused_by_validate_and_run(tmp_path) -> None:
    t = small_tables()
    t["cases"] = t["cases"].iloc[:0]
    t["probation_advice"] = t["probation_advice"].iloc[:0]
    folder = write_tables(t, tmp_path / "reg")
    text = _clean(_invoke("validate", folder), 1)
    assert "cases: table has no rows" in text
    text = _clean(_invoke("run", SPEC, "--data", folder, "--out", tmp_path / "out"), 1)
    assert "cases: table has no rows" in text
    assert not (tmp_path / "out").exists()


def test_period_without_offenders_is_refused_in_plain_words(tmp_path) -> None:
    spec = tmp_path / "old.toml"
    spec.write_text(SPEC.read_text().replace('"2008-01-01", "2017-12-31"',
                                             '"1900-01-01", "1900-12-31"'))
    data = write_small_registers(tmp_path / "reg")
    text = _clean(_invoke("run", spec, "--data", data, "--out", tmp_path / "out"), 1)
    assert "no offenders found" in text and "1900-01-01" in text and "[target]" in text
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out.*partial*"))


def test_bad_spec_value_exits_1(tmp_path) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text(SPEC.read_text().replace('method = "exact"', 'method = "fuzzy"'))
    data = write_small_registers(tmp_path / "reg")
    text = _clean(_invoke("run", spec, "--data", data, "--out", tmp_path / "out"), 1)
    assert "method" in text


# -- check ------------------------------------------------------------------------------------------
def test_check_on_a_missing_or_foreign_folder_is_a_usage_error(tmp_path) -> None:
    text = _clean(_invoke("check", tmp_path / "nope"), 2)
    assert "does not exist" in text and "breach" not in text
    (tmp_path / "other").mkdir()
    text = _clean(_invoke("check", tmp_path / "other"), 2)
    assert "not a finished" in text and "breach" not in text


def test_spec_comment_names_only_existing_commands() -> None:
    names = {c.name or c.callback.__name__ for c in app.registered_commands}
    for cmd in re.findall(r"crimcareer ([a-z-]+)", SPEC.read_text()):
        assert cmd in names, cmd


def test_repair_mode_prints_a_repair_summary(tmp_path) -> None:
    t = small_tables()
    t["cases"].loc[[1, 4], "outcome"] = "lost"
    folder = write_tables(t, tmp_path / "bad")
    res = _invoke("run", SPEC, "--data", folder, "--out", tmp_path / "out", "--mode", "repair")
    assert res.exit_code == 0, res.output
    assert "repair mode: " in res.output and "row(s) dropped" in res.output
    assert "repair cases.outcome: unknown code: 2 rows dropped" in res.output
    assert "lost" not in res.output


def test_wrong_folder_and_bad_meta_json_say_what_to_do(tmp_path) -> None:
    pop = tmp_path / "pop"
    write_small_registers(pop / "registers")
    text = _clean(_invoke("validate", pop), 1)
    assert "holds no contract tables" in text and "did you mean" in text
    text = _clean(_invoke("run", SPEC, "--data", pop, "--out", tmp_path / "o"), 1)
    assert "did you mean" in text
    (pop / "registers" / "meta.json").write_text("{not json")
    text = _clean(_invoke("validate", pop / "registers"), 2)
    assert "meta.json" in text and "YYYY-MM-DD" in text
    text = _clean(_invoke("run", tmp_path, "--data", pop / "registers", "--out", tmp_path / "o"), 2)
    assert "is a folder, not a file" in text


def test_solver_and_library_messages_go_to_the_log_not_the_screen(tmp_path, capfd) -> None:
    import os
    import warnings

    from crimcareer.cli import _quiet

    log = tmp_path / "internal" / "messages.log"
    with _quiet(log):
        os.write(2, b"Running HiGHS 1.7.0: Copyright (c) 2024\n")
        warnings.warn("lbfgs failed to converge", RuntimeWarning)
    err = capfd.readouterr().err
    assert "HiGHS" not in err and "converge" not in err
    text = log.read_text()
    assert "HiGHS" in text and "RuntimeWarning: lbfgs failed to converge" in text


def test_repair_into_the_data_folder_is_a_usage_error(tmp_path) -> None:
    folder = write_small_registers(tmp_path / "reg")
    text = _clean(_invoke("validate", folder, "--repair", "--out", folder), 2)
    assert "another folder" in text


def test_misspelt_columns_cbs_tables_and_unknown_codes_get_advice(tmp_path) -> None:
    t = small_tables()
    t["persons"] = t["persons"].rename(columns={"birth_date": "Birth_Date"})
    t["cases"].loc[[0], "outcome"] = "veroordeling"
    folder = write_tables(t, tmp_path / "reg", "csv")
    text = _clean(_invoke("validate", folder), 1)
    assert "persons.birth_date: missing column" in text and "the file has 'Birth_Date'" in text
    assert "allowed: conviction" in text and "veroordeling" not in text
    res = _invoke("run", SPEC, "--data", folder, "--out", tmp_path / "o", "--lang", "NL",
                  "--engine", "DuckDB", "--memory-limit", "0GB")
    assert res.exit_code == 2 and "--memory-limit" in res.output
