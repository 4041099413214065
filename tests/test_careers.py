"""Career measures (study/careers.py) against the slow pandas reference and crafted edge cases."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from crimcareer.disclosure import Gate, Rules
from crimcareer.engine import Engine
from crimcareer.study.careers import career_measures, careers_section
from crimcareer.study.spec import default_spec_path, load_spec
from reference_features import (CATEGORIES, CRAFTED_CUTOFF, assert_frames_match, crafted_population,
                                engine_cohort, engine_registers, random_population,
                                reference_features)

CAREER_COLS = ["person_id", "group", "age_at_index", "age_first_case", "age_first_trafficking",
               "first_trafficking_young", "repeat_trafficking", "n_prior_cases", "versatility",
               *[f"{w}_{c}" for c in CATEGORIES for w in ("before", "after")]]


@pytest.fixture(scope="module")
def crafted(engine, spec):
    cohort, tables = crafted_population()
    reg = engine_registers(engine, tables, CRAFTED_CUTOFF)
    got = engine.to_pandas(career_measures(reg, engine_cohort(engine, cohort), spec))
    return cohort, tables, got.set_index("person_id")


def test_crafted_matches_reference(crafted):
    cohort, tables, got = crafted
    ref = reference_features(cohort, tables, CRAFTED_CUTOFF)[CAREER_COLS]
    assert_frames_match(got.reset_index(), ref)


def test_uncounted_outcomes_and_index_day_case_are_not_prior(crafted):
    got = crafted[2]
    # D1: property 2008 and violence (policy dismissal) 2010 count; the acquittal, the technical
    # dismissal and the drugs case on the index date itself do not.
    assert got.loc["D1", "n_prior_cases"] == 2
    assert got.loc["D1", "before_property"] == 1
    assert got.loc["D1", "before_fraud"] == 0  # technical dismissal
    assert got.loc["D1", "before_drugs"] == 0 and got.loc["D1", "after_drugs"] == 0
    # versatility counts cases up to and including the index date: 4 categories, one each
    assert got.loc["D1", "versatility"] == pytest.approx(0.75)
    assert got.loc["C2", "n_prior_cases"] == 0  # its only case is on the index date
    assert got.loc["N1", "n_prior_cases"] == 0 and pd.isna(got.loc["N1", "versatility"])


def test_repeat_trafficking_only_counted_cases_after_index(crafted):
    got = crafted[2]
    assert bool(got.loc["D1", "repeat_trafficking"]) is True
    assert bool(got.loc["D2", "repeat_trafficking"]) is False  # later case acquitted
    assert got.loc["D1", "after_trafficking_sexual"] == 1


def test_ages_on_birthday_edges(crafted):
    got = crafted[2]
    # D2 born 29 Feb 1992: on 28 Feb 2017 still 24 (birthday reached on 1 March)
    assert got.loc["D2", "age_at_index"] == 24
    assert got.loc["D2", "age_first_trafficking"] == 24
    assert bool(got.loc["D2", "first_trafficking_young"]) is True
    # D3: index the day before the 17th birthday; first trafficking (labour) at 15
    assert got.loc["D3", "age_at_index"] == 16
    assert got.loc["D3", "age_first_trafficking"] == 15
    # D1 first case 1 June 2008, born 10 May 1990
    assert got.loc["D1", "age_first_case"] == 18
    assert pd.isna(got.loc["C1", "age_first_trafficking"])
    assert pd.isna(got.loc["C1", "first_trafficking_young"])


@pytest.mark.parametrize("seed", [0, 2])
def test_random_population_matches_reference(engine, spec, seed):
    cohort, tables, cutoff = random_population(seed)
    reg = engine_registers(engine, tables, cutoff)
    got = engine.to_pandas(career_measures(reg, engine_cohort(engine, cohort), spec))
    ref = reference_features(cohort, tables, cutoff)[CAREER_COLS]
    assert_frames_match(got, ref)
    # the population exercises both sides of each rule
    assert ref["repeat_trafficking"].any() and not ref["repeat_trafficking"].all()
    assert (ref["n_prior_cases"] > 0).any()


def test_only_cohort_persons_returned(engine, spec):
    cohort, tables, cutoff = random_population(5)
    reg = engine_registers(engine, tables, cutoff)
    got = engine.to_pandas(career_measures(reg, engine_cohort(engine, cohort), spec))
    assert sorted(got["person_id"]) == sorted(cohort["person_id"])


def _features_for_section(n_per_group: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    rows = []
    for g in ("DSE", "CC", "NC"):
        for i in range(n_per_group):
            age_first = int(rng.integers(14, 40))
            rows.append({
                "person_id": f"{g}{i}", "group": g,
                "age_at_index": int(rng.integers(16, 50)),
                "age_first_case": age_first if g != "NC" else np.nan,
                "age_first_trafficking": age_first + 2 if g == "DSE" else np.nan,
                "first_trafficking_young": (age_first + 2 < 25) if g == "DSE" else None,
                "repeat_trafficking": bool(rng.random() < 0.3) if g == "DSE" else False,
                "n_prior_cases": int(rng.poisson(5 if g != "NC" else 0)),
                "versatility": float(rng.random()) if g != "NC" else np.nan,
                "before_property": int(rng.poisson(1)), "after_property": int(rng.poisson(1)),
                "male": bool(rng.random() < 0.8),
            })
    f = pd.DataFrame(rows)
    return f[["person_id", "group"]], f


def test_careers_section_headline_from_released_tables(tmp_path, spec):
    cohort, f = _features_for_section(120)
    gate = Gate(Rules())
    sec = careers_section(cohort, f, gate, spec, tmp_path)
    assert sec.key == "careers"
    d = f[f["group"] == "DSE"]
    assert sec.headline["B3"]["DSE"] == pytest.approx(d["first_trafficking_young"].astype(float).mean())
    assert sec.headline["B4"]["DSE"] == pytest.approx(d["repeat_trafficking"].mean())
    assert sec.headline["B7"]["DSE"] == pytest.approx(d["male"].mean())
    assert sec.headline["B8"]["DSE"] == pytest.approx(d["age_at_index"].mean())
    assert sec.headline["B9"]["DSE"] == pytest.approx(d["age_at_index"].between(18, 24).mean())
    assert sec.headline["B14"]["DSE"] == pytest.approx(d["n_prior_cases"].mean())
    for t in sec.tables:
        assert t in gate.tables
    shares = gate.tables["careers_shares"]
    # first/repeat trafficking only for the offenders
    assert set(shares.loc[shares["variable"] == "repeat_trafficking", "group"]) == {"DSE"}
    assert shares.loc[shares["variable"] == "repeat_trafficking", "p_value"].isna().all()
    means = gate.tables["careers_means"]
    assert set(means.loc[means["variable"] == "age_first_trafficking", "group"]) == {"DSE"}
    assert means.loc[means["variable"] == "age_at_index", "p_value"].notna().all()
    gate.write(tmp_path)
    json.loads((tmp_path / "disclosure.json").read_text())


def test_careers_section_suppressed_headline_is_none(tmp_path, spec):
    cohort, f = _features_for_section(6)  # fewer than 10 persons per group
    gate = Gate(Rules())
    sec = careers_section(cohort, f, gate, spec, tmp_path)
    assert sec.headline["B8"]["DSE"] is None
    assert sec.headline["B3"]["DSE"] is None
    assert gate.tables["careers_means"]["mean"].isna().all()
