"""One label registry (issue 12): every key has one English and one Dutch text, the registry
refuses a key given two texts, and the study's codes all have a label."""

from __future__ import annotations

import pytest

from crimcareer import labels
from crimcareer.labels import LABELS, LabelConflict, build, column_label, label


def test_the_shipped_registry_builds_with_one_text_per_key() -> None:
    rebuilt = build(*labels.PARTS)
    assert dict(rebuilt) == dict(LABELS) and len(LABELS) > 200
    assert all(len(p) == 2 and all(isinstance(t, str) and t for t in p) for p in LABELS.values())
    with pytest.raises(TypeError):
        LABELS["n"] = ("x", "y")  # read-only


def test_a_key_given_two_texts_is_refused() -> None:
    planted = {"n": ("Persons with the trait", "Personen met het kenmerk")}  # the gate's old text
    with pytest.raises(LabelConflict, match="'n'"):
        build(*labels.PARTS, planted)
    with pytest.raises(LabelConflict, match="'DSE'"):
        build({"DSE": ("A", "B")}, {"DSE": ("A", "C")})  # the Dutch text alone differs
    # the same key with the same texts is no conflict
    assert build(labels.COLUMNS, {"n": labels.COLUMNS["n"]})["n"] == labels.COLUMNS["n"]
    with pytest.raises(ValueError):
        build({"x": ("only English",)})


def test_namespaced_keys_keep_their_own_meaning() -> None:
    assert label("age", "en") == "Age"
    assert label("age", "en", ns="profile") == "Age (years above the youngest age)"
    assert label("prior_case", "nl", ns="profile") == "Eigen meetellende zaak vóór de peildatum"
    assert label("not_a_key", "nl") == "not a key" and label("x_y", "en", default="x_y") == "x_y"
    assert column_label("cohort_groups", "n", "en") == "Persons in the group"
    assert column_label("trajectory_shares_DSE", "share", "nl") == "Aandeel personen, modelschatting (%)"
    assert column_label("factors_three_group", "n", "en") is None


def test_every_code_of_the_study_has_a_label() -> None:
    from crimcareer import contract, validation
    from crimcareer.disclosure import SUPPRESSED
    from crimcareer.study import profile, trajectories
    from crimcareer.study.spec import default_spec_path, load_spec

    rules = [v for k, v in vars(validation).items() if k.isupper() and isinstance(v, str)
             and k not in ("MAX_EXAMPLES",) and " " in v]
    assert len(rules) >= 20 and [r for r in rules if r not in LABELS] == []
    assert SUPPRESSED in LABELS
    for c in contract.OFFENCE_CATEGORIES:
        assert f"before_{c}" in LABELS and f"after_{c}" in LABELS
        assert c in LABELS  # as a cell value
    for shape in (trajectories.LOW, trajectories.EARLY, trajectories.LATE, trajectories.HIGH):
        assert shape in labels.TRAJECTORIES
    spec = load_spec(default_spec_path())
    assert [p for p in profile.candidate_predictors(spec) if labels.pair(p, "profile") is None] == []


def test_the_profile_texts_name_the_profile_constants() -> None:
    from crimcareer.study import profile

    assert label("prior_cases_3plus", "en").startswith(f"{profile.MANY_PRIOR_CASES} or more")
    assert label("early_onset", "en").endswith(f"before age {profile.EARLY_ONSET_AGE}")
    assert f"at age {profile.SCHOOL_PROGRESS_AGE}+" in label("no_school_progress", "en")
    assert f"at age {profile.STARTKWALIFICATIE_PROFILE_AGE}+" in label("no_startkwalificatie", "en")
