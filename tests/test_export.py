"""`crimcareer export OUT BUNDLE`: only what may leave the secure environment, with a summary
for the output checker in the report's language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from small_registers import write_small_registers
from typer.testing import CliRunner

from crimcareer.cli import app

runner = CliRunner()
SPEC = Path(__file__).resolve().parents[1] / "studies" / "brede-blik.toml"


@pytest.fixture(scope="module")
def run_nl(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("export")
    data = write_small_registers(tmp / "reg")
    out = tmp / "out"
    res = runner.invoke(app, ["run", str(SPEC), "--data", str(data), "--out", str(out),
                              "--lang", "nl"])
    assert res.exit_code == 0, res.output
    return out


def test_bundle_holds_only_exportable_files_and_a_dutch_summary(run_nl, tmp_path) -> None:
    bundle = tmp_path / "bundle"
    res = runner.invoke(app, ["export", str(run_nl), str(bundle)])
    assert res.exit_code == 0, res.output
    files = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    assert "checker-summary.md" in files and "report.html" in files
    assert "disclosure.json" in files and "results.json" in files and "tables.xlsx" in files
    assert not [f for f in files if f.startswith("internal") or f == "manifest.json"
                or f.startswith(".")]
    assert {f.split("/")[0] for f in files} <= {"checker-summary.md", "report.html",
                                               "disclosure.json", "results.json", "tables.xlsx",
                                               "tables", "figures"}
    summary = (bundle / "checker-summary.md").read_text(encoding="utf-8")
    assert "Toelichting voor de outputcontrole" in summary and "Toegepaste regels" in summary
    for f in files:
        if f != "checker-summary.md":
            assert f"| {f} |" in summary, f  # every file is described
    assert "internal/" in summary and "manifest.json" in summary  # and what was left out
    assert "onthulling" not in summary.lower()
    assert "protects" not in summary and "numerator below" not in summary  # plain words only
    assert str(run_nl.parent) not in "".join(
        (bundle / f).read_text(encoding="utf-8", errors="ignore") for f in files
        if not f.endswith(".xlsx"))  # no paths of the secure environment


def test_export_refuses_a_folder_failing_the_check(run_nl, tmp_path) -> None:
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(run_nl, out)
    (out / "tables" / "smuggled.csv").write_text("person,score\n1,2\n")
    res = runner.invoke(app, ["export", str(out), str(tmp_path / "b")])
    assert res.exit_code == 1 and "crimcareer check" in res.output, res.output
    assert not (tmp_path / "b").exists()


def test_export_refuses_a_non_run_and_an_existing_bundle(run_nl, tmp_path) -> None:
    (tmp_path / "x").mkdir()
    res = runner.invoke(app, ["export", str(tmp_path / "x"), str(tmp_path / "b")])
    assert res.exit_code == 2 and "not a finished" in res.output
    res = runner.invoke(app, ["export", str(tmp_path / "nope"), str(tmp_path / "b")])
    assert res.exit_code == 2 and "does not exist" in res.output
    bundle = tmp_path / "b2"
    bundle.mkdir()
    (bundle / "mine.txt").write_text("x")
    res = runner.invoke(app, ["export", str(run_nl), str(bundle)])
    assert res.exit_code == 2 and "--overwrite" in res.output
    assert runner.invoke(app, ["export", str(run_nl), str(bundle), "--overwrite"]).exit_code == 0
    assert not (bundle / "mine.txt").exists()


def test_every_results_json_key_is_documented(run_nl) -> None:
    import json

    doc = (Path(__file__).resolve().parents[1] / "docs" / "results.md").read_text()
    results = json.loads((run_nl / "results.json").read_text())
    for fid in results["figures"]:
        assert re.search(rf"\b{re.escape(fid)}\b", doc), fid
    for key, value in results.items():
        if key in ("groups", "figures"):
            continue
        assert f"`{key}." in doc, key
        if isinstance(value, dict):
            for sub in value:
                if not re.fullmatch(r"DSE|CC|NC|\d{4}", sub):
                    assert f"{key}.{sub}" in doc or f".{sub}" in doc, f"{key}.{sub}"


def test_the_dutch_report_has_no_english_words(run_nl) -> None:
    import html as _html

    doc = (run_nl / "report.html").read_text(encoding="utf-8")
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", doc)  # figure axes and legends
    body = re.sub(r"<style.*?</style>|<svg.*?</svg>", " ", doc, flags=re.S)
    words = _html.unescape(re.sub(r"<[^>]+>", " ", body) + " " + " ".join(texts))
    english = r"\b(the|and|with|persons?|share|withheld|suppressed|offenders?|group|years?|" \
              r"at risk|follow-up|cut-off|fewer|below|numerator|denominator|Male|Female|" \
              r"Reoffended|Age|Cases|Generated|mean|estimate)\b"
    found = sorted(set(re.findall(english, words)))
    assert found == [], found
