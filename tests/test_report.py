"""The HTML report: built only from gate releases, bilingual, offline, suppressed cells marked."""

import re

import altair as alt
import pandas as pd
import pytest

from crimcareer.disclosure import Gate
from crimcareer.report.figures import save_chart
from crimcareer.report.html import headline_results, write_report
from crimcareer.report.section import Figure, Section


def _section(gate: Gate, out) -> Section:
    df = pd.DataFrame({"variable": ["male", "male"], "group": ["DSE", "CC"],
                       "n": [40, 3], "N": [50, 50], "pct": [0.8, 0.06]})
    released = gate.proportions("sex_by_group", df, estimate_cols=["pct"])
    chart = alt.Chart(released.dropna(subset=["pct"])).mark_bar().encode(x="group", y="pct")
    fig = save_chart(chart, out, "sex_bar")
    gate.figure("sex_bar", ["sex_by_group"], [fig])
    return Section(
        key="demo", title={"en": "Sex", "nl": "Geslacht"},
        text={"en": "English text.", "nl": "Nederlandse tekst."},
        tables=["sex_by_group"], figures=[Figure("sex_bar", fig, {"en": "Bar", "nl": "Staaf"}, ["sex_by_group"])],
        headline={"B7": {"DSE": float(released.loc[0, "pct"]), "CC": released.loc[1, "pct"]}},
    )


@pytest.mark.parametrize("lang,word", [("en", "English text."), ("nl", "Nederlandse tekst.")])
def test_report_is_bilingual_offline_and_marks_suppression(tmp_path, lang, word):
    gate = Gate()
    sec = _section(gate, tmp_path)
    path = write_report([sec], gate, tmp_path, lang=lang)
    doc = path.read_text()
    assert word in doc
    assert ("Geslacht" in doc) == (lang == "nl")
    assert "<svg" in doc  # figure inlined
    assert not re.search(r"(src|href)=['\"]https?://", doc)  # nothing loads from the network
    assert "✱" in doc  # the CC cell (3 of 50) is suppressed and marked


def test_report_refuses_a_table_the_gate_never_released(tmp_path):
    gate = Gate()
    sec = Section(key="x", title={"en": "X", "nl": "X"}, tables=["not_released"])
    with pytest.raises(ValueError, match="never released"):
        write_report([sec], gate, tmp_path)


def test_results_json_takes_suppressed_headlines_as_null(tmp_path):
    gate = Gate()
    sec = _section(gate, tmp_path)
    res = headline_results([sec], {"DSE": {"n": 50}})
    assert res["figures"]["B7"]["DSE"] == pytest.approx(0.8)
    assert res["figures"]["B7"]["CC"] is None
    assert res["groups"]["DSE"]["n"] == 50
