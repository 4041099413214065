"""The study spec: the flagship file validates; wrong keys and values are named in the error."""

import tomllib

import pytest

from crimcareer.study.spec import SpecError, default_spec_path, load_spec, parse_spec


def _raw() -> dict:
    return tomllib.loads(default_spec_path().read_text())


def test_flagship_spec_loads_with_the_published_definitions():
    spec = load_spec(default_spec_path())
    assert spec.target.offence_categories == ["trafficking_sexual"]
    assert spec.target.domestic is True
    assert [d.year for d in spec.target.period] == [2008, 2017]
    assert spec.controls.ratio == 1 and spec.controls.exact == ["sex", "birth_year"]
    assert set(spec.cases.not_counted_outcomes) == {"acquittal", "dismissal_technical"}


def test_unknown_key_is_named():
    raw = _raw()
    raw["controls"]["ratoi"] = 2
    with pytest.raises(SpecError, match=r"controls\.ratoi: unknown key"):
        parse_spec(raw)


@pytest.mark.parametrize("section,key,value,fragment", [
    ("target", "offence_categories", ["trafficking_sex"], "unknown offence category"),
    ("controls", "ratio", 0, "controls.ratio"),
    ("target", "period", ["2017-12-31", "2008-01-01"], "ends"),
    ("factors", "family_relations", ["cousin"], "unknown family relation"),
    ("cases", "not_counted_outcomes", ["aquittal"], "unknown outcome"),
])
def test_wrong_value_is_named(section, key, value, fragment):
    raw = _raw()
    raw[section][key] = value
    with pytest.raises(SpecError, match=fragment):
        parse_spec(raw)


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[study\nname=1")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(bad)
