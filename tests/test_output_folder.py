"""The output folder is always whole: written beside OUT and moved into place when complete,
refused when it holds something else, locked against a second run, nothing left by a failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from small_registers import write_small_registers
from typer.testing import CliRunner

from crimcareer.cli import app
from crimcareer.errors import OutputFolderError
from crimcareer.outfolder import MARKER, is_run_folder, staged_output

runner = CliRunner()
SPEC = Path(__file__).resolve().parents[1] / "studies" / "brede-blik.toml"


def _fake_run(folder: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)


def test_success_replaces_an_earlier_run_whole(tmp_path) -> None:
    out = tmp_path / "out"
    with staged_output(out) as tmp:
        assert tmp.parent == tmp_path and tmp != out and not out.exists()
        _fake_run(tmp, {"report.html": "old", "figures/old.svg": "<svg/>"})
    assert is_run_folder(out) and (out / MARKER).exists()
    with staged_output(out) as tmp:
        _fake_run(tmp, {"report.html": "new"})
    assert (out / "report.html").read_text() == "new"
    assert not (out / "figures" / "old.svg").exists()  # nothing of the older run survives
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temp, lock or old folder


def test_failure_leaves_nothing_and_keeps_the_earlier_run(tmp_path) -> None:
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with staged_output(out) as tmp:
            _fake_run(tmp, {"figures/a.svg": "<svg/>", "internal/cohort.parquet": "x"})
            raise RuntimeError("step failed")
    assert list(tmp_path.iterdir()) == []
    with staged_output(out) as tmp:
        _fake_run(tmp, {"report.html": "first"})
    with pytest.raises(RuntimeError):
        with staged_output(out) as tmp:
            _fake_run(tmp, {"report.html": "second"})
            raise RuntimeError("step failed")
    assert (out / "report.html").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_foreign_folder_is_refused_unless_overwrite(tmp_path) -> None:
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "chapter1.docx").write_text("precious")
    with pytest.raises(OutputFolderError, match="--overwrite"):
        with staged_output(out):
            pass
    assert (out / "chapter1.docx").read_text() == "precious"
    with staged_output(out, overwrite=True) as tmp:
        _fake_run(tmp, {"report.html": "r"})
    assert not (out / "chapter1.docx").exists() and is_run_folder(out)
    empty = tmp_path / "empty"
    empty.mkdir()
    with staged_output(empty) as tmp:  # an empty folder is fine
        _fake_run(tmp, {"report.html": "r"})


def test_pre_marker_runs_are_recognised(tmp_path) -> None:
    _fake_run(tmp_path, {"manifest.json": json.dumps({"crimcareer": "0.1.0"}),
                         "disclosure.json": "{}"})
    assert is_run_folder(tmp_path)


def test_a_second_run_into_a_busy_folder_is_refused(tmp_path) -> None:
    out = tmp_path / "out"
    with staged_output(out) as tmp:
        with pytest.raises(OutputFolderError, match="in use by another crimcareer run"):
            with staged_output(out):
                pass
        _fake_run(tmp, {"report.html": "first"})
    assert (out / "report.html").read_text() == "first"


def test_out_may_not_be_or_hold_the_data(tmp_path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for out in (data, tmp_path):
        with pytest.raises(OutputFolderError, match="outside the data"):
            with staged_output(out, overwrite=True, protect=[data]):
                pass
    assert data.exists()


def test_cli_run_refuses_a_foreign_folder_and_replaces_an_earlier_run(tmp_path) -> None:
    data = write_small_registers(tmp_path / "reg")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    res = runner.invoke(app, ["run", str(SPEC), "--data", str(data), "--out", str(out)])
    assert res.exit_code == 2 and "--overwrite" in res.output and "Traceback" not in res.output
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    (out / "notes.txt").unlink()
    res = runner.invoke(app, ["run", str(SPEC), "--data", str(data), "--out", str(out)])
    assert res.exit_code == 0, res.output
    (out / "figures" / "stale_from_an_older_version.svg").write_text("<svg/>")
    res = runner.invoke(app, ["run", str(SPEC), "--data", str(data), "--out", str(out),
                              "--mode", "repair"])
    assert res.exit_code == 0, res.output
    assert "repair mode: nothing to repair" in res.output
    assert not (out / "figures" / "stale_from_an_older_version.svg").exists()
    assert runner.invoke(app, ["check", str(out)]).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "reg"]


def test_cli_run_into_a_busy_folder_is_refused(tmp_path) -> None:
    data = write_small_registers(tmp_path / "reg")
    out = tmp_path / "out"
    with staged_output(out):
        res = runner.invoke(app, ["run", str(SPEC), "--data", str(data), "--out", str(out)])
    assert res.exit_code == 2 and "in use by another crimcareer run" in res.output
    assert "Traceback" not in res.output
