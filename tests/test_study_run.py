"""The flagship study end to end on synthetic populations: outputs, published figures, disclosure.

The default population (the calibration check against the published figures) and a tiny one
(cells under 10: the report must still build, with suppressed cells marked).
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from crimcareer.cli import app
from crimcareer.disclosure import audit_output
from crimcareer.study.run import run_study
from crimcareer.study.spec import default_spec_path, load_spec
from crimcareer.synth import generate

# Published figures (../shared/reference/published-figures.md) the default population must land
# near: (id, group, published value, tolerance). Proportions within 5 points, B14 within 2 cases.
PUBLISHED = [
    ("B3", "DSE", 0.52, 0.05), ("B4", "DSE", 0.24, 0.05),
    ("B5", "DSE", 0.89, 0.05), ("B5", "CC", 0.64, 0.05), ("B5", "NC", 0.24, 0.05),
    ("B6", "DSE", 0.30, 0.05), ("B6", "CC", 0.62, 0.05), ("B6", "NC", 0.89, 0.05),
    ("B7", "DSE", 0.88, 0.05), ("B8", "DSE", 27.6, 2.0),
    ("B10", "DSE", 0.73, 0.05), ("B10", "NC", 0.31, 0.05),
    ("B13", "DSE", 0.68, 0.05), ("B13", "CC", 0.34, 0.05),
    ("B14", "DSE", 8.0, 2.0),
    ("R1", "DSE", 0.36, 0.05), ("R2", "DSE", 0.58, 0.05), ("R3", "DSE", 0.65, 0.05),
]


def test_run_writes_every_output(flagship):
    out, result = flagship
    for rel in ("report.html", "results.json", "manifest.json", "disclosure.json", "tables.xlsx",
                "internal/cohort.parquet", "internal/README.txt"):
        assert (out / rel).exists(), rel
    assert list((out / "tables").glob("*.csv"))
    assert list((out / "figures").glob("*.svg"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"]["persons"]["sha256"]
    assert manifest["seed"] == load_spec(default_spec_path()).study.seed
    groups = json.loads((out / "results.json").read_text())["groups"]
    assert groups["CC"]["n"] <= groups["DSE"]["n"] and groups["NC"]["n"] <= groups["DSE"]["n"]


def test_report_holds_no_person_ids(flagship):
    out, _ = flagship
    import pandas as pd

    ids = pd.read_parquet(out / "internal" / "cohort.parquet")["person_id"].astype(str)
    doc = (out / "report.html").read_text()
    tables = "".join(p.read_text() for p in (out / "tables").glob("*.csv"))
    leaked = [i for i in ids[:200] if f">{i}<" in doc or f",{i}," in tables]
    assert not leaked


def test_flagship_output_passes_disclosure_check(flagship):
    out, _ = flagship
    assert audit_output(out) == []
    res = CliRunner().invoke(app, ["check", str(out)])
    assert res.exit_code == 0, res.output


def test_no_released_count_is_a_few_below_a_group_size(flagship):
    """Group sizes are public (the N of most tables), so a released count of the same group
    1-9 persons short of it (e.g. the persons followed for recidivism, a curve's first at-risk
    count) would give those few away by subtraction. Checked over every released table."""
    import pandas as pd

    out, _ = flagship
    cohort = pd.read_parquet(out / "internal" / "cohort.parquet")
    sizes = cohort["group"].value_counts()
    bad = []
    for path in (out / "tables").glob("*.csv"):
        df = pd.read_csv(path)
        cols = [c for c in ("n", "N", "at_risk") if c in df.columns]
        for g, size in sizes.items():
            rows = df[df["group"].astype(str) == g] if "group" in df.columns else (
                df if path.stem.startswith("recidivism_specific") and g == "DSE" else df.iloc[:0])
            for c in cols:
                v = pd.to_numeric(rows[c], errors="coerce").dropna()
                hit = v[(size - v > 0) & (size - v < 10)]
                bad += [(path.stem, g, c, x) for x in hit]
    assert not bad, bad[:10]


@pytest.mark.parametrize("fid,group,target,tol", PUBLISHED)
def test_headline_figures_land_near_published(flagship, fid, group, target, tol):
    _, result = flagship
    value = result.results["figures"][fid][group]
    assert value is not None, f"{fid} {group} suppressed"
    assert abs(value - target) <= tol, f"{fid} {group}: {value:.3f} vs published {target}"


def test_tiny_population_still_reports_with_suppression(tmp_path):
    generate(tmp_path / "pop", persons=20_000, seed=2, offenders=25)
    out = tmp_path / "out"
    result = run_study(load_spec(default_spec_path()), tmp_path / "pop" / "registers", out, lang="nl")
    doc = result.report_path.read_text()
    assert "✱" in doc and "onderdrukt" in doc.lower()
    assert audit_output(out) == []


def test_results_json_numbers_must_stand_in_released_outputs():
    """After the final audit, a headline or extra number that no released table cell or scalar
    holds (withheld late, or never released) becomes null; released ones stay."""
    import pandas as pd

    from crimcareer.disclosure import Gate
    from crimcareer.report.section import Section
    from crimcareer.study.run import _drop_untraceable_numbers

    gate = Gate()
    gate.proportions("t", pd.DataFrame({"group": ["DSE", "CC"], "n": [40, 30], "N": [50, 50],
                                        "pct": [0.8, 0.6]}), estimate_cols=["pct"])
    auc = gate.scalar("auc", 0.91, 100)
    gate.scalar("tiny", 0.37, 3)  # withheld
    sec = Section(key="s", title={"en": "S", "nl": "S"}, text={"en": "", "nl": ""}, tables=["t"],
                  headline={"X": {"DSE": 0.8, "CC": 0.77}},
                  extra={"m": {"auc": auc, "tiny": 0.37, "n": [40, 41], "label": "a", "flag": True}})
    _drop_untraceable_numbers([sec], gate)
    assert sec.headline["X"] == {"DSE": 0.8, "CC": None}
    assert sec.extra["m"] == {"auc": 0.91, "tiny": None, "n": [40, None], "label": "a",
                              "flag": True}


def test_cells_withheld_after_a_section_was_written_withdraw_its_prose(tmp_path):
    """A cell withheld late (a cross-section relation, the final audit) may be quoted in the
    section's text or drawn in its figures: both are withdrawn, the tables stay."""
    import altair as alt
    import pandas as pd

    from crimcareer.disclosure import Gate
    from crimcareer.report.figures import released_figure
    from crimcareer.report.section import Section
    from crimcareer.study.run import _withdraw_stale_prose

    gate = Gate()
    t = gate.proportions("t", pd.DataFrame({"group": ["DSE", "CC"], "n": [40, 30],
                                            "N": [50, 50], "pct": [0.8, 0.6]}), ["pct"])
    fig = released_figure(gate, alt.Chart(t).mark_bar().encode(x="group", y="pct"), tmp_path,
                          "bar", {"en": "Bar", "nl": "Staaf"}, ["t"])
    other = Section(key="o", title={"en": "O", "nl": "O"}, text={"en": "kept", "nl": "kept"})
    sec = Section(key="s", title={"en": "S", "nl": "S"},
                  text={"en": "80% of offenders", "nl": "80% van de daders"}, tables=["t"],
                  figures=[fig])
    assert (tmp_path / fig.file).exists()
    written = [gate.withheld_cells(), gate.withheld_cells()]
    _withdraw_stale_prose([sec, other], gate, written, tmp_path)  # nothing late: no change
    assert sec.text["en"] == "80% of offenders" and sec.figures
    gate._withhold(("t", "DSE", "n"), "a later relation", "ledger")  # withheld after writing
    _withdraw_stale_prose([sec, other], gate, written, tmp_path)
    assert "80%" not in sec.text["en"] + sec.text["nl"] and "(t)" in sec.text["nl"]
    assert sec.figures == [] and not (tmp_path / fig.file).exists()
    assert gate.records["bar"].status == "withdrawn" and gate.records["bar"].files == []
    assert other.text["en"] == "kept" and sec.tables == ["t"]
    gate.write(tmp_path)
    from crimcareer.disclosure import audit_output

    assert audit_output(tmp_path) == []
