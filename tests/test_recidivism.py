"""Recidivism: follow-up in the engine against a slow reference, estimators against lifelines,
hand computations and planted truth, and the disclosure of the released curves and headlines."""

from __future__ import annotations

import datetime as dt
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from reference_recidivism import reference_cumulative_incidence, reference_followup  # noqa: E402

from crimcareer.adapters.files import Registers  # noqa: E402
from crimcareer.disclosure import Gate, audit_output  # noqa: E402
from crimcareer.engine import Engine  # noqa: E402
from crimcareer.study import recidivism as rc  # noqa: E402
from crimcareer.study.spec import default_spec_path, load_spec  # noqa: E402

D = dt.date
CUTOFF = D(2023, 12, 31)
SPEC = load_spec(default_spec_path())


def _registers(engine, persons, cases, detentions=None, cutoff=CUTOFF) -> Registers:
    tables = {"persons": engine.from_pandas(persons), "cases": engine.from_pandas(cases)}
    if detentions is not None:
        tables["detentions"] = engine.from_pandas(detentions)
    return Registers(tables=tables, cutoff=cutoff)


def _followup(engine, persons, cases, cohort, detentions=None, materialize=True) -> pd.DataFrame:
    reg = _registers(engine, persons, cases, detentions)
    expr = rc.followup(reg, engine.from_pandas(cohort), SPEC, engine if materialize else None)
    fu = engine.to_pandas(expr)
    return fu.sort_values("person_id").reset_index(drop=True)


def _as_date(v):
    if v is None or (not isinstance(v, dt.date) and pd.isna(v)):
        return None
    return v.date() if isinstance(v, (pd.Timestamp, dt.datetime)) else v


def _assert_same(fu: pd.DataFrame, ref: pd.DataFrame) -> None:
    """Compare the engine's follow-up with the reference, column by column, person by person."""
    ref = ref.sort_values("person_id").reset_index(drop=True)
    assert list(fu.person_id) == list(ref.person_id)
    for col in ref.columns:
        for i in range(len(ref)):
            a, b = fu.at[i, col], ref.at[i, col]
            if col.endswith("_date") or col == "reoffence_date":
                a, b = _as_date(a), _as_date(b)
            elif not ref.at[i, "followed"] and col in (
                "days_followed", "time_days", "age_at_start", "detained_days", "time_free_days"
            ):
                continue
            if b is None or (isinstance(b, float) and np.isnan(b)):
                assert a is None or pd.isna(a), (ref.at[i, "person_id"], col, a, b)
            elif isinstance(b, (bool, np.bool_)):
                assert bool(a) == bool(b), (ref.at[i, "person_id"], col, a, b)
            elif isinstance(b, (int, float, np.integer, np.floating)):
                assert float(a) == float(b), (ref.at[i, "person_id"], col, a, b)
            else:
                assert a == b, (ref.at[i, "person_id"], col, a, b)


# -- crafted registers ---------------------------------------------------------------------------
def crafted():
    """Ten offenders whose follow-up exercises one rule each (see the comments)."""
    persons = pd.DataFrame([
        ("p1", D(1990, 3, 1), None, None),
        ("p2", D(1985, 1, 1), D(2015, 5, 5), None),        # censored by death
        ("p3", D(1980, 7, 7), None, D(2016, 1, 1)),        # censored by emigration
        ("p4", D(1995, 2, 28), None, None),                # censored at the cut-off
        ("p5", D(1992, 6, 30), None, None),                # detention covers the disposal date
        ("p6", D(1990, 3, 1), None, None),                 # criminal control
        ("p7", D(1988, 1, 1), None, None),                 # still detained at the cut-off
        ("p8", D(1993, 12, 31), None, None),               # start = offence date
        ("p9", D(1970, 1, 1), D(2011, 1, 1), None),        # died before the start
        ("p10", D(1991, 5, 5), None, None),                # trafficking recidivism
        ("n1", D(1990, 3, 1), None, None),                 # non-criminal control: not followed
    ], columns=["person_id", "birth_date", "death_date", "emigration_date"])
    persons["sex"] = "M"
    rows = []

    def case(cid, pid, off, reg, disp, cat, outcome="conviction"):
        rows.append((cid, pid, off, reg, disp, cat, True, outcome))

    case("c1", "p1", D(2010, 1, 1), D(2010, 3, 1), D(2012, 6, 1), "trafficking_sexual")
    case("c1b", "p1", D(2012, 6, 1), D(2012, 7, 1), None, "violence")       # on the start date
    case("c1c", "p1", D(2013, 1, 1), D(2013, 2, 1), D(2013, 9, 1), "property", "acquittal")
    case("c1d", "p1", D(2014, 3, 1), None, None, "property")                # the first new case
    case("c1e", "p1", D(2018, 3, 1), None, None, "drugs")
    case("c2", "p2", D(2011, 1, 1), D(2011, 2, 1), D(2012, 1, 1), "trafficking_sexual")
    case("c3", "p3", D(2009, 1, 1), D(2009, 2, 1), D(2010, 1, 1), "trafficking_sexual")
    case("c3b", "p3", D(2016, 6, 1), None, None, "violence")                # after emigration
    case("c4", "p4", D(2015, 1, 1), D(2015, 4, 4), None, "trafficking_sexual")
    case("c5", "p5", D(2011, 5, 1), D(2011, 6, 1), D(2012, 1, 15), "trafficking_sexual")
    case("c5b", "p5", D(2012, 12, 1), None, None, "drugs")                  # while detained
    case("c5c", "p5", D(2013, 6, 1), None, None, "violence")
    case("c6a", "p6", D(2009, 1, 1), D(2009, 2, 1), D(2009, 6, 1), "property")
    case("c6b", "p6", D(2011, 8, 1), D(2011, 9, 1), D(2012, 2, 1), "fraud")  # closest to index
    case("c6c", "p6", D(2012, 4, 1), None, None, "drugs")
    case("c6d", "p6", D(2011, 6, 1), D(2011, 7, 1), None, "violence", "dismissal_technical")
    case("c7", "p7", D(2012, 1, 1), D(2012, 2, 1), D(2012, 5, 1), "trafficking_sexual")
    case("c8", "p8", D(2013, 3, 3), None, None, "trafficking_sexual")
    case("c8b", "p8", D(2013, 3, 3), None, None, "property")                # same day as start
    case("c9", "p9", D(2010, 1, 1), D(2010, 5, 1), D(2011, 6, 1), "trafficking_sexual")
    case("c10", "p10", D(2010, 1, 1), D(2010, 5, 1), D(2010, 6, 1), "trafficking_sexual")
    case("c10b", "p10", D(2012, 1, 1), None, None, "trafficking_labour")
    case("c10c", "p10", D(2013, 1, 1), None, None, "drugs")
    case("c10d", "p10", D(2012, 1, 1), None, None, "drugs", "pending")
    cases = pd.DataFrame(rows, columns=["case_id", "person_id", "offence_date",
                                        "registration_date", "disposal_date", "offence_category",
                                        "domestic", "outcome"])
    cohort = pd.DataFrame([
        ("p1", "DSE", D(2010, 1, 1), "c1"), ("p2", "DSE", D(2011, 1, 1), "c2"),
        ("p3", "DSE", D(2009, 1, 1), "c3"), ("p4", "DSE", D(2015, 1, 1), "c4"),
        ("p5", "DSE", D(2011, 5, 1), "c5"), ("p6", "CC", D(2011, 6, 1), None),
        ("p7", "DSE", D(2012, 1, 1), "c7"), ("p8", "DSE", D(2013, 3, 3), "c8"),
        ("p9", "DSE", D(2010, 1, 1), "c9"), ("p10", "DSE", D(2010, 1, 1), "c10"),
        ("n1", "NC", D(2010, 1, 1), None),
    ], columns=["person_id", "group", "index_date", "index_case_id"])
    detentions = pd.DataFrame([
        ("p5", D(2011, 12, 1), D(2013, 2, 1)),
        ("p7", D(2012, 4, 1), D(2012, 5, 10)),   # covers the disposal date ...
        ("p7", D(2012, 5, 10), None),            # ... and runs on into an open spell
        ("p1", D(2013, 1, 1), D(2013, 3, 1)),    # 59 days detained inside follow-up
    ], columns=["person_id", "start_date", "end_date"])
    return persons, cases, cohort, detentions


@pytest.mark.parametrize("materialize", [True, pytest.param(False, marks=pytest.mark.duckdb_only(
    # the study always materializes; unmaterialized, Spark runs one deep query (~25 s)
    reason="the study materializes the follow-up; the unmaterialized tree costs ~25 s on Spark"))])
def test_crafted_followup_matches_reference_and_rules(engine, materialize):
    persons, cases, cohort, det = crafted()
    fu = _followup(engine, persons, cases, cohort, det, materialize)
    _assert_same(fu, reference_followup(persons, cases, cohort, CUTOFF, SPEC, det))
    r = fu.set_index("person_id")
    assert "n1" not in r.index  # NC is not followed
    # the columns the reference leaves out: the index date and the days to each first case
    index = cohort.set_index("person_id").index_date
    assert all(_as_date(r.at[p, "index_date"]) == index[p] for p in r.index)
    days_to = [c for c in r.columns if c.startswith("days_to_")]
    assert days_to
    for c in days_to:
        for p in r.index:
            first, start = r.at[p, f"first_{c[len('days_to_'):]}_date"], r.at[p, "start_date"]
            want = None if pd.isna(first) or pd.isna(start) else (
                _as_date(first) - _as_date(start)).days
            assert (pd.isna(r.at[p, c]) if want is None else r.at[p, c] == want), (p, c)
    # p1: the case on the start date and the acquittal do not count; the property case does.
    assert _as_date(r.at["p1", "start_date"]) == D(2012, 6, 1)
    assert _as_date(r.at["p1", "reoffence_date"]) == D(2014, 3, 1)
    assert r.at["p1", "reoffence_category"] == "property"
    assert r.at["p1", "time_days"] == (D(2014, 3, 1) - D(2012, 6, 1)).days
    assert r.at["p1", "detained_days"] == 59
    # p2 death, p3 emigration (the later case does not count), p4 cut-off, start = registration.
    assert (r.at["p2", "end_reason"], bool(r.at["p2", "death"])) == ("death", True)
    assert r.at["p2", "time_days"] == (D(2015, 5, 5) - D(2012, 1, 1)).days
    assert r.at["p3", "end_reason"] == "emigration" and not r.at["p3", "event"]
    assert r.at["p3", "time_days"] == (D(2016, 1, 1) - D(2010, 1, 1)).days
    assert r.at["p4", "end_reason"] == "cutoff"
    assert _as_date(r.at["p4", "start_date"]) == D(2015, 4, 4)
    # p5 starts at release; the case committed while detained does not count.
    assert _as_date(r.at["p5", "start_date"]) == D(2013, 2, 1)
    assert r.at["p5", "reoffence_category"] == "violence"
    # p6 (CC) starts at the disposal of its qualifying case closest to the index date.
    assert r.at["p6", "ref_case_id"] == "c6b"
    assert _as_date(r.at["p6", "start_date"]) == D(2012, 2, 1)
    # p7 still detained, p9 dead before the start: not followed.
    assert not r.at["p7", "followed"] and r.at["p7", "still_detained"]
    assert not r.at["p9", "followed"]
    # p8: a case on the start (offence) date is not a new case.
    assert not r.at["p8", "event"]
    # p10: trafficking_labour counts for the trafficking group; pending counts as a case.
    assert _as_date(r.at["p10", "first_trafficking_date"]) == D(2012, 1, 1)
    assert _as_date(r.at["p10", "first_drugs_date"]) == D(2012, 1, 1)


def test_without_detentions_start_is_disposal(engine):
    persons, cases, cohort, _ = crafted()
    fu = _followup(engine, persons, cases, cohort).set_index("person_id")
    _assert_same(fu.reset_index(), reference_followup(persons, cases, cohort, CUTOFF, SPEC))
    assert _as_date(fu.at["p5", "start_date"]) == D(2012, 1, 15)
    # Without detention data the case while detained counts.
    assert _as_date(fu.at["p5", "reoffence_date"]) == D(2012, 12, 1)
    assert fu["detained_days"].isna().all()


# -- a random population with planted hazards -----------------------------------------------------
LAMBDA = {"property": 0.12, "violence": 0.08, "drugs": 0.05, "trafficking": 0.03, "other": 0.07}
MU_DEATH = 0.03


def population(n_dse: int, n_cc: int, seed: int, detention_share: float = 0.2):
    """Offenders with exponential times to a first case per category (rates per year) and death.

    Truth: general prevalence by t = 1 - exp(-sum(LAMBDA) t) (death only censors it); cumulative
    incidence of category g with competing death = l_g/(l_g+mu) (1 - exp(-(l_g+mu) t)).
    """
    rng = np.random.default_rng(seed)
    n = n_dse + n_cc
    pid = [f"q{i:05d}" for i in range(n)]
    groups = ["DSE"] * n_dse + ["CC"] * n_cc
    birth = [D(1960, 1, 1) + dt.timedelta(days=int(x)) for x in rng.integers(0, 365 * 40, n)]
    offence = [D(2008, 1, 1) + dt.timedelta(days=int(x)) for x in rng.integers(0, 365 * 9, n)]
    disposal = [o + dt.timedelta(days=int(x)) for o, x in zip(offence, rng.integers(30, 700, n))]
    death_t = rng.exponential(1 / MU_DEATH, n) * rc.DAYS_PER_YEAR
    death = [d + dt.timedelta(days=int(np.ceil(t))) for d, t in zip(disposal, death_t)]
    death = [x if x <= CUTOFF else None for x in death]
    emig = [None] * n
    for i in rng.choice(n, n // 20, replace=False):
        emig[i] = disposal[i] + dt.timedelta(days=int(rng.integers(1, 4000)))
        if emig[i] > CUTOFF or (death[i] is not None and emig[i] >= death[i]):
            emig[i] = None
    persons = pd.DataFrame({"person_id": pid, "birth_date": birth, "sex": "M",
                            "death_date": death, "emigration_date": emig})
    rows = []
    cats = {"property": "property", "violence": "violence", "drugs": "drugs",
            "trafficking": "trafficking_labour", "other": "fraud"}
    for i in range(n):
        first_cat = "trafficking_sexual" if groups[i] == "DSE" else "public_order"
        rows.append((f"k{i}", pid[i], offence[i], offence[i], disposal[i], first_cat, "conviction"))
        for g, lam in LAMBDA.items():
            if groups[i] == "CC" and g == "trafficking":
                continue
            t = int(np.ceil(rng.exponential(1 / lam) * rc.DAYS_PER_YEAR))
            off = disposal[i] + dt.timedelta(days=t)
            if off <= CUTOFF:
                rows.append((f"k{i}{g}", pid[i], off, off, None, cats[g], "conviction"))
            if rng.random() < 0.1:  # acquittals never count
                t2 = int(rng.integers(1, 3000))
                rows.append((f"a{i}{g}", pid[i], disposal[i] + dt.timedelta(days=t2), None, None,
                             cats[g], "acquittal"))
    cases = pd.DataFrame(rows, columns=["case_id", "person_id", "offence_date",
                                        "registration_date", "disposal_date",
                                        "offence_category", "outcome"])
    cases = cases[cases.offence_date <= CUTOFF]
    cases["registration_date"] = [r if (r is not None and r <= CUTOFF) else None
                                  for r in cases.registration_date]
    cases["domestic"] = True
    cohort = pd.DataFrame({"person_id": pid, "group": groups, "index_date": offence,
                           "index_case_id": [f"k{i}" if g == "DSE" else None
                                             for i, g in enumerate(groups)]})
    det = []
    for i in rng.choice(n, int(n * detention_share), replace=False):
        s = disposal[i] - dt.timedelta(days=int(rng.integers(0, 200)))
        det.append((pid[i], s, disposal[i] + dt.timedelta(days=int(rng.integers(0, 100)))))
    detentions = pd.DataFrame(det, columns=["person_id", "start_date", "end_date"])
    return persons, cases, cohort, detentions


def test_random_population_matches_reference(engine):
    persons, cases, cohort, det = population(120, 40, seed=3, detention_share=0.3)
    fu = _followup(engine, persons, cases, cohort, det)
    _assert_same(fu, reference_followup(persons, cases, cohort, CUTOFF, SPEC, det))
    assert fu["event"].sum() > 50 and (fu["end_reason"] == "death").sum() > 5


# Spark case left out: the follow-up is test_random_population_matches_reference's (both engines)
@pytest.mark.duckdb_only(reason="same follow-up as test_random_population_matches_reference; "
                                "the rest is pandas")
def test_censoring_the_unfollowed_at_start_keeps_estimates_and_makes_n_the_group(engine):
    persons, cases, cohort, det = population(120, 40, seed=3, detention_share=0.3)
    fu = _followup(engine, persons, cases, cohort, det)
    # persons who die or leave before their start, as followup() writes them
    gone = fu.sample(9, random_state=1).index
    fu.loc[gone, "followed"] = False
    fu.loc[gone, "event"] = False
    for c in ["time_days", "days_followed", *[c for c in fu.columns if c.startswith("days_to_")]]:
        fu[c] = pd.to_numeric(fu[c], errors="coerce").astype(float)
        fu.loc[gone, c] = np.nan
    everyone = rc.censored_at_start(fu)
    a = rc.general_recidivism(fu, [2, 5])
    b = rc.general_recidivism(everyone, [2, 5])
    np.testing.assert_allclose(a["estimate"], b["estimate"], rtol=1e-12)
    np.testing.assert_allclose(a[["ci_low", "ci_high"]], b[["ci_low", "ci_high"]], rtol=1e-9)
    assert (a["n"] == b["n"]).all() and (a["at_risk"] == b["at_risk"]).all()
    sizes = fu["group"].value_counts()
    assert (b["N"] == b["group"].map(sizes)).all() and (a["N"] < b["N"]).any()
    cats = list(SPEC.recidivism.specific_categories)
    sa, sb = rc.specific_recidivism(fu, cats, 5), rc.specific_recidivism(everyone, cats, 5)
    np.testing.assert_allclose(sa["estimate"], sb["estimate"], rtol=1e-9)


def test_km_prevalence_equals_lifelines():
    from lifelines import KaplanMeierFitter

    rng = np.random.default_rng(7)
    d = rng.integers(1, 3000, 300).astype(float)
    e = rng.random(300) < 0.6
    times = np.array([0.0, 100, 730.5, 1826.25, 2556.75])
    res = rc.kaplan_meier_prevalence(d, e, times)
    km = KaplanMeierFitter().fit(d, e)
    expected = 1 - km.survival_function_at_times(times).to_numpy()
    np.testing.assert_allclose(res["estimate"].to_numpy(), expected, atol=1e-12)
    assert (res["ci_low"] <= res["estimate"]).all() and (res["estimate"] <= res["ci_high"]).all()
    assert list(res["at_risk"]) == [int((d >= t).sum()) for t in times]
    assert list(res["n"]) == [int((e & (d <= t)).sum()) for t in times]


def test_aalen_johansen_against_hand_computation_with_ties():
    # Ties between the event of interest and death at t = 3 and t = 5, censoring at t = 5 too.
    d = np.array([1, 2, 3, 3, 3, 4, 5, 5, 5, 6, 7, 8], dtype=float)
    c = np.array([1, 0, 1, 2, 1, 2, 1, 2, 0, 1, 0, 2])
    times = np.array([0.0, 1, 2.5, 3, 4, 5, 6, 8, 10])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # lifelines would warn (and jitter randomly) on ties
        res = rc.aalen_johansen_incidence(d, c, times)
    hand = [reference_cumulative_incidence(d, c, t) for t in times]
    np.testing.assert_allclose(res["estimate"].to_numpy(), hand, atol=1e-12)
    # The first steps by hand: 1/12 at t=1, then S(3-) = 11/12 * 1 (censoring at 2), n=10.
    assert hand[1] == pytest.approx(1 / 12)
    assert hand[3] == pytest.approx(1 / 12 + (11 / 12) * 2 / 10)
    # Deterministic: refitting gives identical numbers.
    from crimcareer.estimators import survival

    survival.aalen_johansen_arrays.cache_clear()
    again = rc.aalen_johansen_incidence(d, c, times)
    assert res.equals(again)


# Spark case left out: follow-up without detentions is checked on both engines above; the
# recovery of the planted truth is a property of the pandas estimators
@pytest.mark.duckdb_only(reason="follow-up checked on both engines above; estimators are pandas")
def test_estimators_recover_planted_truth(engine):
    persons, cases, cohort, _ = population(700, 0, seed=11)
    fu = _followup(engine, persons, cases, cohort)
    gen = rc.general_recidivism(fu, [2, 5, 7])
    total = sum(LAMBDA.values())
    dse = gen[gen.group == "DSE"].set_index("years")
    for y in (2, 5, 7):
        truth = 1 - np.exp(-total * y)
        se = (dse.at[y, "ci_high"] - dse.at[y, "ci_low"]) / (2 * 1.96)
        assert abs(dse.at[y, "estimate"] - truth) < 4 * se + 1e-9, (y, dse.at[y, "estimate"], truth)
    spc = rc.specific_recidivism(fu, list(SPEC.recidivism.specific_categories), 5)
    spc = spc[spc.group == "DSE"].set_index("category")
    for g in SPEC.recidivism.specific_categories:
        lam = LAMBDA[g]
        truth = lam / (lam + MU_DEATH) * (1 - np.exp(-(lam + MU_DEATH) * 5))
        se = max((spc.at[g, "ci_high"] - spc.at[g, "ci_low"]) / (2 * 1.96), 0.005)
        assert abs(spc.at[g, "estimate"] - truth) < 4 * se, (g, spc.at[g, "estimate"], truth)
        # A naive KM treating death as censoring overestimates the competing-risk incidence.
        d, c = rc.specific_durations(fu[fu.group == "DSE"], g)
        naive = rc.kaplan_meier_prevalence(d, c == 1, np.array([5 * rc.DAYS_PER_YEAR]))
        assert naive["estimate"].iloc[0] >= spc.at[g, "estimate"] - 1e-12


def test_young_share_by_reoffending_counts():
    fu = pd.DataFrame({
        "group": ["DSE"] * 6 + ["CC"],
        "followed": [True, True, True, True, True, False, True],
        "observable_7y": [True, True, True, True, False, True, True],
        "reoffended_7y": [True, True, False, False, False, True, True],
        "age_at_start": [20, 30, 22, 40, 18, 19, 20],
    })
    res = rc.young_share_by_reoffending(fu, 7, 23, group="DSE").set_index("subset")
    assert (res.at["reoffenders", "n"], res.at["reoffenders", "N"]) == (1, 2)
    assert (res.at["non_reoffenders", "n"], res.at["non_reoffenders", "N"]) == (1, 2)


# Spark case left out (~40 s): its engine work is the follow-up, checked on both engines above,
# and test_small_population_is_suppressed runs the whole section on Spark
@pytest.mark.duckdb_only(reason="engine work = follow-up (both engines above); "
                                "test_small_population_is_suppressed runs the section on Spark")
def test_section_releases_curves_and_headlines(engine, tmp_path):
    persons, cases, cohort, det = population(300, 300, seed=5)
    reg = _registers(engine, persons, cases, det)
    gate = Gate()
    sec = rc.recidivism_section(reg, cohort, gate, SPEC, engine, tmp_path)
    assert sec.key == "recidivism"
    # Curves stop where fewer than 10 remain at risk; the cut is at the first such grid point.
    fu = engine.to_pandas(rc.followup(reg, engine.from_pandas(cohort), SPEC))
    raw = rc.general_recidivism_curve(fu)
    released = gate.tables["recidivism_general_curve"]
    for g in ("DSE", "CC"):
        r, w = released[released.group == g], raw[raw.group == g].set_index("time")
        assert np.isnan(r["at_risk"].iloc[0]) and (r["at_risk"].iloc[1:] >= 10).all()
        assert len(r) >= 2 and "events" not in r.columns  # thinned on events and censored
        first_small = w.index[w["at_risk"] < 10].min()
        assert r["time"].max() < first_small
        # thinned: between released points 0 or >= 10 events and 0 or >= 10 leavers
        pts = w.loc[r["time"]]
        de = np.diff(pts["events"].to_numpy())
        left = -np.diff(pts["at_risk"].to_numpy())
        assert ((de == 0) | (de >= 10)).all() and ((left == 0) | (left >= 10)).all()
        assert (pts["at_risk"].iloc[0] - pts["at_risk"].iloc[1:] >= 10).all()
        np.testing.assert_allclose(r["estimate"].to_numpy(), pts["estimate"].to_numpy())
    cif = gate.tables["recidivism_specific_curve"]
    assert (cif.groupby("category")["at_risk"].apply(lambda a: a.iloc[1:].min()).dropna() >= 10).all()
    assert set(cif.category) == set(SPEC.recidivism.specific_categories)
    # Headlines equal the released table cells and lie in [0, 1].
    gen = gate.tables["recidivism_general"].set_index(["group", "years"])
    assert sec.headline["R1"]["DSE"] == pytest.approx(gen.at[("DSE", 2), "estimate"])
    assert sec.headline["R4"]["CC"] == pytest.approx(gen.at[("CC", 2), "estimate"])
    total = sum(LAMBDA.values())
    assert abs(sec.headline["R2"]["DSE"] - (1 - np.exp(-5 * total))) < 0.1
    for rid in ("R1", "R2", "R3", "R5", "R6", "R7", "R8"):
        assert 0 <= sec.headline[rid]["DSE"] <= 1
    assert set(sec.headline["R9"]) == {"reoffenders", "non_reoffenders"}
    # Every released count is >= 10 and figures come from released curves.
    for name in sec.tables:
        assert name in gate.tables
    for ref, cell in gate.ledger.cells.items():
        if ref[0].startswith("recidivism") and not cell.hidden and cell.released is not None:
            assert cell.released == 0 or cell.released >= 10, (ref, cell.released)
    assert {f.name for f in sec.figures} == {"recidivism_km", "recidivism_cif"}
    for f in sec.figures:
        assert (tmp_path / f.file).exists() and gate.records[f.name].kind == "figure"
    assert "recidivism_general_free_time" in sec.tables


def test_small_population_is_suppressed(engine, tmp_path):
    persons, cases, cohort, _ = population(12, 12, seed=2)
    reg = _registers(engine, persons, cases)
    gate = Gate()
    sec = rc.recidivism_section(reg, cohort, gate, SPEC, engine, tmp_path)
    # With 12 persons per group no estimate can have >= 10 events and >= 10 without.
    for rid in ("R1", "R2", "R3", "R5", "R6", "R7", "R8"):
        assert sec.headline[rid]["DSE"] is None
    assert sec.headline["R4"]["CC"] is None
    age = gate.tables["recidivism_age_split"].set_index("subset")
    for subset, value in sec.headline["R9"].items():
        N = age.at[subset, "N"]
        assert value is None or (N >= 10 and value * N in (0, N) or 10 <= value * N <= N - 10)
    for name in ("recidivism_general_curve", "recidivism_specific_curve"):
        assert (gate.tables[name]["at_risk"].dropna() >= 10).all()
    gate.write(tmp_path)
    assert audit_output(tmp_path) == []


def test_differencing_between_windows_is_withheld_by_membership():
    """Windows 2 and 5 years count 20 and 25 events among the same persons: the 5 events in
    between would follow by subtraction. The gate sees it from the persons alone."""
    from crimcareer.disclosure import Gate

    ids = np.array([f"p{i}" for i in range(100)], dtype=object)
    df = pd.DataFrame({"group": ["DSE"] * 3, "years": [2, 5, 7], "n": [20, 25, 40], "N": 100,
                       "at_risk": [80, 50, 30], "estimate": [0.2, 0.3, 0.45]})
    members = {"n": [ids[:20], ids[:25], ids[:40]], "N": [ids] * 3,
               "at_risk": [ids[20:], ids[50:], ids[70:]]}
    gate = Gate()
    out = gate.proportions("w", df, ["estimate", "at_risk"], key_cols=["group", "years"],
                           members=members)
    assert out.loc[:1, "n"].isna().any()  # 2 or 5 years withheld
    counts, sums, _ = gate.membership_failures()
    assert counts == [] and sums == []
    df.loc[2, "at_risk"] = 9
    members["at_risk"][2] = ids[91:]
    out = Gate().proportions("w", df, ["estimate", "at_risk"], key_cols=["group", "years"],
                             members=members)
    assert np.isnan(out.loc[2, "estimate"])  # 9 at risk: withheld with its estimate
