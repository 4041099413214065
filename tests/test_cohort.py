"""Counted cases, target cases and the DSE cohort against the slow pandas reference."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from crimcareer.engine import Engine
from crimcareer.study.cohort import counted_cases, target_cohort, target_cases
from crimcareer.study.spec import default_spec_path, load_spec
from reference_cohort import (case, person, random_population, ref_counted_cases,
                              ref_dse_cohort, ref_target_cases, registers)


def _crafted() -> dict[str, pd.DataFrame]:
    """One person per rule; the comment says whether they are in DSE (period 2008-2017)."""
    persons = [person(f"p{i:02d}") for i in range(1, 16)]
    cases = [
        case("c01", "p01", "2010-03-01"),                                   # in
        case("c02", "p02", "2010-03-01", outcome="acquittal"),              # out: acquittal
        case("c03", "p03", "2010-03-01", outcome="dismissal_technical"),    # out: technical
        case("c04", "p04", "2010-03-01", outcome="dismissal_policy"),       # in: policy counts
        case("c05", "p05", "2010-03-01", domestic=False),                   # out: cross-border
        case("c06", "p06", "2010-03-01", domestic=None),                    # out: unknown
        case("c07", "p07", "2017-06-01", registered="2018-01-02"),          # out: registered after
        case("c08", "p08", "2007-11-01", registered="2008-01-01"),          # in: registered inside
        case("c09", "p09", "2007-12-31", registered=None),                  # out: offence outside
        case("c10", "p10", "2017-12-31", registered=None),                  # in: offence inside
        case("c11", "p11", "2010-03-01", category="trafficking_labour"),    # out: labour
        # index = earliest by offence date, although registered later
        case("c12b", "p12", "2012-01-01", registered="2012-02-01"),
        case("c12a", "p12", "2011-01-01", registered="2016-02-01"),
        case("c12c", "p12", "2009-01-01", outcome="acquittal"),             # not counted
        # tie on the offence date: smallest case_id
        case("c13z", "p13", "2013-05-05"),
        case("c13a", "p13", "2013-05-05"),
        case("c14", "p14", "2010-03-01", category="violence"),              # out: other category
        case("c15", "p15", "2007-12-31", registered="2007-12-31"),          # out: before period
        case("c99", "p99", "2010-03-01"),                                   # out: not in persons
    ]
    return {"persons": pd.DataFrame(persons), "cases": pd.DataFrame(cases)}


def test_dse_cohort_crafted_exclusions(engine, spec):
    frames = _crafted()
    reg = registers(engine, frames)
    got = engine.to_pandas(target_cohort(reg, spec)).sort_values("person_id").reset_index(drop=True)
    assert got.person_id.tolist() == ["p01", "p04", "p08", "p10", "p12", "p13"]
    idx = dict(zip(got.person_id, got.index_case_id))
    assert idx["p12"] == "c12a" and idx["p13"] == "c13a"
    dates = dict(zip(got.person_id, pd.to_datetime(got.index_date).dt.date))
    assert dates["p12"] == dt.date(2011, 1, 1) and dates["p08"] == dt.date(2007, 11, 1)
    ref = ref_dse_cohort(frames["persons"], frames["cases"], spec)
    assert got.person_id.tolist() == ref.person_id.tolist()
    assert got.index_case_id.tolist() == ref.index_case_id.tolist()


def test_domestic_unset_takes_both(engine, spec):
    frames = _crafted()
    reg = registers(engine, frames)
    both = spec.model_copy(update={"target": spec.target.model_copy(update={"domestic": None})})
    got = set(engine.to_pandas(target_cohort(reg, both)).person_id)
    assert {"p05", "p06"} <= got
    assert got == set(ref_dse_cohort(frames["persons"], frames["cases"], both).person_id)


@pytest.mark.parametrize("seed", [3, 4])
def test_cases_and_cohort_match_reference_on_random_population(engine, spec, seed):
    frames = random_population(300, seed=seed)
    reg = registers(engine, frames)
    cases = frames["cases"]
    assert set(engine.to_pandas(counted_cases(reg.cases, spec)).case_id) == ref_counted_cases(cases, spec)
    tgt = set(engine.to_pandas(target_cases(reg.cases, spec)).case_id)
    assert tgt == ref_target_cases(cases, spec)
    assert len(tgt) > 5  # the population exercises the rule
    got = engine.to_pandas(target_cohort(reg, spec)).sort_values("person_id").reset_index(drop=True)
    ref = ref_dse_cohort(frames["persons"], cases, spec)
    assert got.person_id.tolist() == ref.person_id.tolist()
    assert got.index_case_id.tolist() == ref.index_case_id.tolist()
    assert pd.to_datetime(got.index_date).dt.date.tolist() == ref.index_date.tolist()


def test_not_counted_outcomes_follow_the_spec(engine, spec):
    frames = _crafted()
    reg = registers(engine, frames)
    loose = spec.model_copy(update={"cases": spec.cases.model_copy(update={"not_counted_outcomes": []})})
    got = set(engine.to_pandas(target_cohort(reg, loose)).person_id)
    assert {"p02", "p03"} <= got
    assert got == set(ref_dse_cohort(frames["persons"], frames["cases"], loose).person_id)
