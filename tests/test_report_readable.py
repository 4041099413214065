"""The report reads well in both languages: one unit for shares, numbers for reading with the
language's separators, labels for every code, withheld cells explained in plain words, one
colour per group, one name per factor, a Dutch report in Dutch (issue 13)."""

from __future__ import annotations

import html
import re

import pandas as pd
import pytest

from crimcareer.disclosure import Gate
from crimcareer.labels import LABELS
from crimcareer.report.html import _dutch_number, fmt_number, render_table, write_report
from crimcareer.report.plain import plain_reason
from crimcareer.report.section import Section


def _cells(html_text: str) -> list[str]:
    return [html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", html_text, flags=re.S)]


def test_numbers_use_the_language_separators() -> None:
    assert fmt_number(14582, 0, "nl") == "14.582" and fmt_number(14582, 0, "en") == "14,582"
    assert fmt_number(88.888, 1, "nl") == "88,9" and fmt_number(88.888, 1, "en") == "88.9"
    assert fmt_number(-0.01, 1, "en") == "0.0"
    assert _dutch_number(re.match(r".+", "0.883")) == "0,883"
    assert _dutch_number(re.match(r".+", "14,582")) == "14.582"


@pytest.mark.parametrize("unit", [1.0, 100.0])
def test_shares_are_percent_with_one_decimal_whatever_the_table_holds(unit) -> None:
    gate = Gate()
    df = pd.DataFrame({"variable": ["origin_AN", "male"], "group": ["DSE", "CC"],
                       "n": [40, 14582], "N": [45, 16404],
                       "pct": [unit * 40 / 45, unit * 14582 / 16404]})
    rel = gate.proportions("t", df, estimate_cols=["pct"])
    cells = _cells(render_table(rel, "t", "T", "nl", LABELS))
    assert "88,9" in cells and "14.582" in cells and "16.404" in cells
    assert "Herkomst: voormalige Antillen/Aruba" in cells and "Man" in cells
    assert "Aandeel (%)" in cells
    assert not [c for c in cells if re.fullmatch(r"\d+\.0|0\.\d{3}|\d+,\d{3}\.\d+", c)]


def test_years_and_counts_are_shown_as_such() -> None:
    df = pd.DataFrame({"group": ["CC"], "variable": ["birth_year"], "mean_offenders": [1983.0690],
                       "smd_before": [0.1812]})
    cells = _cells(render_table(df, "cohort_balance_means", "T", "en", LABELS))
    assert "1983.1" in cells and "1,983.069" not in " ".join(cells)
    assert "Birth year" in cells


def test_withheld_cells_are_marked_and_explained_in_plain_dutch() -> None:
    reason = ("secondary suppression: protects nested[profile_thresholds[0.005|sensitivity].n - "
              "profile_thresholds[0.01|sensitivity].n].n")
    for lang in ("en", "nl"):
        said = plain_reason(reason, lang)
        assert "protects" not in said and "[" not in said and said
    assert "secundaire geheimhouding" in plain_reason(reason, "nl")
    assert plain_reason("n: numerator below 10 persons; N: numerator below 10 persons", "nl") \
        == "minder dan 10 personen hebben dit kenmerk"
    assert plain_reason("something new the gate says", "nl").startswith("afgeschermd")
    for cut in ("points with fewer than 10 at risk cut", "4 points with fewer than 10 at risk"):
        assert plain_reason(cut, "nl") == "de curve stopt waar minder dan 10 personen nog gevolgd werden"
    gate = Gate()
    rel = gate.proportions("t", pd.DataFrame({"variable": ["male", "male"], "group": ["DSE", "CC"],
                                              "n": [40, 3], "N": [50, 50], "pct": [80, 6]}),
                           estimate_cols=["pct"])
    cells = _cells(render_table(rel, "t", "T", "nl", LABELS))
    assert "✱" in cells and "Afgeschermd: waarom" in cells
    assert "minder dan 10 personen hebben dit kenmerk" in cells
    assert not [c for c in cells if "below" in c or "numerator" in c]


def test_odds_ratio_intervals_and_counts_say_what_they_are() -> None:
    df = pd.DataFrame({"variable": ["criminal_family"], "comparison": ["DSE vs CC"],
                       "odds_ratio": [2.5], "ci_low": [1.5], "ci_high": [3.5], "p_value": [0.0001],
                       "n": [20], "N": [533]})
    cells = _cells(render_table(df, "factors_odds_ratios", "T", "en", LABELS))
    assert "95% CI lower bound (odds ratio)" in cells and "<0.001" in cells
    assert "Smallest cell of the 2x2 table (persons)" in cells
    assert not [c for c in cells if c in ("or ci low", "label en", "ci_low", "DSE vs CC")]


def test_one_name_per_factor_and_no_wrong_dutch_forms() -> None:
    # one text per key is the registry's own rule (tests/test_labels.py)
    every = " ".join(nl for _en, nl in LABELS.values())
    assert "Crimineel huisgenoot" not in every and "Criminele buur\"" not in every
    assert "onthulling" not in every.lower()


def test_dutch_report_is_dutch_with_a_clean_footer(tmp_path) -> None:
    gate = Gate()
    rel = gate.proportions("factors_three_group", pd.DataFrame(
        {"variable": ["criminal_household", "skq_by_23"], "group": ["DSE", "NC"], "n": [400, 3],
         "N": [620, 620], "pct": [64.5, 0.5]}), estimate_cols=["pct"])
    sec = Section(key="f", title={"en": "Factors", "nl": "Factoren"},
                  text={"en": "Matched on sex, birth_year.", "nl": "Gematcht op sex, birth_year "
                        "(a cell with the outcome has fewer than 10 persons); AUC 0.883."},
                  tables=["factors_three_group"])
    doc = write_report([sec], gate, tmp_path, lang="nl",
                       meta={"version": "crimcareer 0.1.0", "subtitle": "x · cut-off 2023-12-31"})
    text = re.sub(r"<style.*?</style>|<[^>]+>", " ", doc.read_text(encoding="utf-8"), flags=re.S)
    assert "crimcareer crimcareer" not in text and "crimcareer 0.1.0" in text
    assert "outputcontrole" in text and "onthulling" not in text.lower()
    assert "Criminele huisgenoot" in text and "geboortejaar" in text and "geslacht" in text
    assert "peildatum" in text and "cut-off" not in text
    assert "0,883" in text and "minder dan 10 personen" in text
    for word in ("skq_by_23", "birth_year", "criminal_household", "Withheld", "Share",
                 "persons", "numerator", "fewer than"):
        assert word not in text, word


@pytest.mark.parametrize("label", ["DSE", "LAB"])
def test_every_group_keeps_its_colour_in_both_languages(label) -> None:
    from crimcareer.report import palette
    from crimcareer.study.factors import risk_factor_chart
    from crimcareer.study.spec import default_spec_path, load_spec
    from crimcareer.study.wording import group_names

    spec = load_spec(default_spec_path())
    spec = spec.model_copy(update={"target": spec.target.model_copy(update={"label": label})})
    t = pd.DataFrame({"variable": ["male"] * 3, "group": ["NC", label, "CC"], "n": [300, 500, 400],
                      "N": [620] * 3, "pct": [48.4, 80.6, 64.5], "ci_low": [44.0, 77.0, 61.0],
                      "ci_high": [52.0, 83.0, 68.0], "suppressed": ["", "", ""]})
    for lang in ("en", "nl"):
        chart = risk_factor_chart(t, spec, lang).to_dict()
        scale = chart["layer"][0]["encoding"]["color"]["scale"]
        colours = dict(zip(scale["domain"], scale["range"]))
        names = {g: n[0 if lang == "en" else 1] for g, n in group_names(spec).items()}
        assert {g: colours[names[g]] for g in names} == palette.group_colours(label)


def test_withdrawn_prose_names_tables_by_their_titles(tmp_path) -> None:
    from crimcareer.study.run import STALE_NOTICE

    gate = Gate()
    gate.proportions("profile_thresholds", pd.DataFrame({"group": ["a"], "n": [40], "N": [50],
                                                         "pct": [80.0]}), estimate_cols=["pct"])
    sec = Section(key="p", title={"en": "P", "nl": "P"},
                  text={k: v.format(tables="profile_thresholds") for k, v in STALE_NOTICE.items()},
                  tables=["profile_thresholds"],
                  table_titles={"profile_thresholds": {"en": "Thresholds", "nl": "Drempels"}})
    doc = write_report([sec], gate, tmp_path, lang="nl").read_text(encoding="utf-8")
    body = html.unescape(re.sub(r"<style.*?</style>|<table.*?</table>", " ", doc, flags=re.S))
    assert "'Drempels'" in body and "(profile_thresholds)" not in body
