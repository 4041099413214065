"""Any study spec runs: the target group's code and name are data, and no study's words leak into
another's report (issue 12). The flagship and the labour-exploitation study run side by side on
the default population."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from crimcareer.study.run import run_study
from crimcareer.study.spec import SpecError, default_spec_path, load_spec, parse_spec
from crimcareer.study.wording import group_names, study_labels, target_name

STUDIES = Path(__file__).resolve().parents[1] / "studies"


def _raw(path: Path) -> dict:
    import tomllib

    return tomllib.loads(path.read_text(encoding="utf-8"))


def _with_target(**target) -> dict:
    raw = _raw(default_spec_path())
    raw["target"].update(target)
    return raw


def test_target_name_is_derived_from_the_categories_and_domestic_flag() -> None:
    flagship = load_spec(default_spec_path())
    assert target_name(flagship) == ("Offenders of domestic sexual exploitation",
                                     "Daders van binnenlandse seksuele uitbuiting")
    lab = load_spec(STUDIES / "labour-exploitation.toml")
    assert target_name(lab) == ("Offenders of labour exploitation", "Daders van arbeidsuitbuiting")
    two = parse_spec(_with_target(offence_categories=["violence", "drugs"], domestic=False))
    assert target_name(two) == ("Offenders of cross-border violent offences or drugs offences",
                                "Daders van grensoverschrijdende geweldsdelicten of drugsdelicten")
    named = parse_spec(_with_target(label="X", name_en="Pimps", name_nl="Pooiers"))
    assert group_names(named)["X"] == ("Pimps", "Pooiers")
    assert "DSE" not in study_labels(named)


def test_spec_ages_reach_the_labels() -> None:
    raw = _raw(default_spec_path())
    raw["careers"]["young_first_trafficking_age"] = 21
    raw["recidivism"]["young_age"] = 25
    labels = study_labels(parse_spec(raw))
    assert "21" in labels["first_trafficking_young"][0] and "21e" in labels["first_trafficking_young"][1]
    assert "25" in labels["column:recidivism_age_split:n"][0]


def test_the_offence_family_of_the_careers_is_named_from_the_spec() -> None:
    """The flagship's words stay as they were (the label registry's); a study of violence never
    says "trafficking" in its career labels, recidivism group or careers text."""
    from crimcareer.labels import CAREERS, PROBATION, RECIDIVISM
    from crimcareer.study.careers import careers_text

    keys = {"first_trafficking_young": CAREERS, "age_first_trafficking": CAREERS,
            "repeat_trafficking": CAREERS, "repeat": PROBATION, "trafficking": RECIDIVISM}
    flagship = study_labels(load_spec(default_spec_path()))
    assert {k: flagship[k] for k in keys} == {k: reg[k] for k, reg in keys.items()}
    raw = _raw(default_spec_path())
    raw["careers"]["trafficking_categories"] = ["violence"]
    spec = parse_spec(raw)
    violence = study_labels(spec)
    words = [w for k in keys for w in violence[k]] + list(careers_text(spec).values())
    assert not [w for w in words if re.search("traffick|mensenhandel", w, re.IGNORECASE)]
    assert violence["first_trafficking_young"] == ("First case of violent offences before age 25",
                                                   "Eerste zaak wegens geweldsdelicten voor 25e jaar")
    assert violence["trafficking"] == ("Violent offences", "Geweldsdelicten")
    assert "new cases of violent offences after it" in careers_text(spec)["en"]


def test_the_offences_excluded_and_followed_default_to_the_target_s_own() -> None:
    """A spec that leaves out controls.exclude_categories or careers.trafficking_categories gets
    its own target's categories, never the flagship's; a value given is kept, an empty one too."""
    from crimcareer.contract import TRAFFICKING_CATEGORIES

    raw = {"study": {"name": "violence"},
           "target": {"label": "VIO", "offence_categories": ["violence"],
                      "period": ["2008-01-01", "2017-12-31"]}}
    spec = parse_spec(raw)
    assert spec.controls.exclude_categories == ["violence"]
    assert spec.careers.trafficking_categories == ["violence"]
    raw["controls"] = {"ratio": 2}  # a section given without the key
    raw["careers"] = {"trafficking_categories": []}
    spec = parse_spec(raw)
    assert (spec.controls.exclude_categories, spec.controls.ratio) == (["violence"], 2)
    assert spec.careers.trafficking_categories == []
    flagship = load_spec(default_spec_path())  # names both trafficking categories itself
    assert flagship.controls.exclude_categories == list(TRAFFICKING_CATEGORIES)
    assert flagship.careers.trafficking_categories == list(TRAFFICKING_CATEGORIES)
    # no section's own default names an offence category
    defaults = json.dumps([type(getattr(spec, f))().model_dump(mode="json")
                           for f in type(spec).model_fields if f not in ("study", "target")])
    assert not [c for c in TRAFFICKING_CATEGORIES if c in defaults]


@pytest.mark.parametrize("label, why", [("CC", "control group"), ("NC", "control group"),
                                        ("two words", "pattern"), ("", "pattern")])
def test_a_label_that_cannot_name_the_target_group_is_refused(label, why) -> None:
    with pytest.raises(SpecError, match=r"target\.label") as e:
        parse_spec(_with_target(label=label))
    assert why in str(e.value) or "should match" in str(e.value)


def test_a_spec_without_label_or_categories_is_refused() -> None:
    raw = _raw(default_spec_path())
    del raw["target"]["label"]
    with pytest.raises(SpecError, match=r"target\.label: Field required"):
        parse_spec(raw)
    with pytest.raises(SpecError, match=r"target\.offence_categories"):
        parse_spec(_with_target(offence_categories=[]))


# -- two studies side by side ------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_studies(flagship, tmp_path_factory, default_population):
    """The flagship (English, shared with test_study_run) and the labour study (Dutch: the
    other study's words must stay out of both languages) on the default population."""
    labour = load_spec(STUDIES / "labour-exploitation.toml")
    folder = tmp_path_factory.mktemp("labour") / "out"
    run_study(labour, default_population / "registers", folder, lang="nl")
    return {("brede-blik", "en"): (load_spec(default_spec_path()), flagship[0]),
            ("labour-exploitation", "nl"): (labour, folder)}


def _texts(folder: Path) -> str:
    """Everything a reader or an output checker sees: report, tables, results and metadata."""
    parts = [(folder / "report.html").read_text(encoding="utf-8"),
             (folder / "results.json").read_text(encoding="utf-8"),
             (folder / "disclosure.json").read_text(encoding="utf-8")]
    parts += [p.read_text(encoding="utf-8") for p in sorted((folder / "tables").glob("*.csv"))]
    parts += [p.read_text(encoding="utf-8") for p in sorted((folder / "figures").glob("*.svg"))]
    return "\n".join(parts)


def test_each_study_names_its_own_group_and_never_the_other(two_studies) -> None:
    for (name, lang), (spec, folder) in two_studies.items():
        text = _texts(folder)
        own = target_name(spec)[0 if lang == "en" else 1]
        assert own in text, (name, lang, own)
        assert re.search(rf"\b{spec.target.label}\b", text), (name, spec.target.label)
        for (other, olang), (ospec, _) in two_studies.items():
            if other == name:
                continue
            for word in (*target_name(ospec), ospec.target.label):
                assert not re.search(rf"\b{re.escape(word)}\b", text), (name, lang, word)


def test_the_report_states_the_spec_ratio_everywhere(two_studies) -> None:
    spec, folder = two_studies["labour-exploitation", "nl"]
    assert spec.controls.ratio == 2
    text = (folder / "report.html").read_text(encoding="utf-8")
    assert "2:1 gematcht" in text
    assert not re.search(r"\b1:1\b", text)


def test_results_are_keyed_by_the_spec_label(two_studies) -> None:
    for (name, lang), (spec, folder) in two_studies.items():
        results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        assert spec.target.label in results["groups"]
        assert spec.target.label in json.dumps(results["figures"])


#: Common English words that are no Dutch words (so "of", "in", "is", "model", "risk" are not here).
ENGLISH = {"the", "and", "with", "cases", "case", "persons", "offenders", "offender", "share",
           "withheld", "before", "after", "years", "age", "group", "groups", "new", "first",
           "than", "fewer", "which", "who", "were", "are", "not", "by", "at", "to", "from",
           "controls", "criminal", "matched", "trajectory", "recidivism", "mean"}


def test_the_dutch_report_has_no_english_words(two_studies) -> None:
    """Outside names and codes (tokens with an underscore), every word of the Dutch report is
    Dutch: table cells, headers, texts, notes (figures are checked by their own tests)."""
    import html

    _, folder = two_studies["labour-exploitation", "nl"]
    doc = (folder / "report.html").read_text(encoding="utf-8")
    doc = re.sub(r"<(style|svg|script)\b.*?</\1>", " ", doc, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", " ", doc))
    words = [w for w in re.findall(r"[\w'-]+", text) if "_" not in w]
    english = sorted({w for w in words if w.lower() in ENGLISH})
    assert not english, english
