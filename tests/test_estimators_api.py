"""The public estimator API (crimcareer.estimators): one contract for every estimator, and
checks against planted truth or independent implementations."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.special import expit

import crimcareer.estimators as E
from crimcareer.estimators import (AalenJohansen, EstimatorInputError, ExactMatcher,
                                   GroupTrajectoryModel, NearestMatcher, PointsScore)
from reference_recidivism import reference_cumulative_incidence


# -- small data --------------------------------------------------------------------------------
def _people(n: int, seed: int, prefix: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    birth = pd.Timestamp("1980-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365, n), unit="D")
    death = pd.Timestamp("2005-01-01") + pd.to_timedelta(rng.integers(0, 6000, n), unit="D")
    return pd.DataFrame({
        "pid": [f"{prefix}{i:04d}" for i in range(n)],
        "sex": rng.choice(["M", "F"], n),
        "born": birth.year.astype(int),
        "birth": birth,
        "died": pd.Series(death).where(rng.random(n) < 0.3),
        "left": pd.NaT,
        "migrant": rng.random(n) < 0.3,
        "index": pd.Timestamp("2010-01-01") + pd.to_timedelta(rng.integers(0, 2000, n), unit="D"),
    })


def _treated_pool(seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    return _people(40, seed, "t"), _people(300, seed + 100, "p")


def _trajectories(seed: int = 3, n: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ages = np.arange(12, 24)
    high = rng.random(n) < 0.3
    rate = np.where(high[:, None], 1.5 * np.exp(-((ages - 18) / 4.0) ** 2), 0.05 + 0 * ages)
    y = rng.poisson(rate)
    rows = pd.DataFrame({"person": np.repeat([f"x{i:03d}" for i in range(n)], len(ages)),
                         "age": np.tile(ages, n), "cases": y.ravel(),
                         "share": rng.uniform(0.5, 1.0, y.size)})
    return rows.sample(frac=0.9, random_state=seed).reset_index(drop=True)  # some ages unobserved


def _profile(n: int = 4000, seed: int = 5, coef=(-2.0, 0.8, -0.6, 1.1, 0.15)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    f = pd.DataFrame({"prior": rng.random(n) < 0.3, "school": rng.random(n) < 0.4,
                      "care": rng.random(n) < 0.2, "age": rng.integers(12, 18, n)})
    lp = coef[0] + coef[1] * f.prior + coef[2] * f.school + coef[3] * f.care + coef[4] * (f.age - 12)
    f["case"] = rng.random(n) < expit(lp)
    f["w"] = np.where(f["case"], 1.0, rng.choice([1.0, 2.0], n))
    return f


# -- the contract ------------------------------------------------------------------------------
def _exact(seed):
    t, p = _treated_pool()
    m = ExactMatcher(on=["sex", "born"], ratio=2, seed=seed, id="pid", index_date="index",
                     birth="birth", death="died", emigration="left")
    return m, (lambda: m.fit(t, p)), (lambda: m.pairs_), (lambda: m.fit(t.drop(columns="born"), p)), \
        "ExactMatcher.fit: treated lacks column(s) ['born']"


def _nearest(seed):
    t, p = _treated_pool()
    m = NearestMatcher(covariates=["born", "migrant"], exact=["sex"], ratio=1, seed=seed, id="pid")
    return m, (lambda: m.fit(t, p)), (lambda: m.pairs_), \
        (lambda: m.fit(t, p.drop(columns=["migrant", "sex"]))), \
        "NearestMatcher.fit: pool lacks column(s) ['sex', 'migrant']"


def _gbtm(seed):
    f = _trajectories()
    m = GroupTrajectoryModel(n_groups=2, degree=2, starts=2, seed=seed)
    return m, (lambda: m.fit_long(f, id="person", age="age", y="cases", exposure="share")), \
        (lambda: m.coef_), \
        (lambda: m.fit_long(f.drop(columns="share"), id="person", age="age", y="cases", exposure="share")), \
        "GroupTrajectoryModel.fit_long: frame lacks column(s) ['share']"


def _aj(seed):
    rng = np.random.default_rng(0)
    d, c = rng.integers(1, 30, 200).astype(float), rng.integers(0, 3, 200)
    m = AalenJohansen()
    return m, (lambda: m.fit(d, c, event_of_interest=1)), \
        (lambda: m.cumulative_density_at_times([5, 10.5, 40]).to_numpy()), \
        (lambda: m.fit(d, c[:-1], event_of_interest=1)), \
        "AalenJohansen.fit: durations has 200 values but event_observed has 199"


def _points(seed):
    f = _profile()
    m = PointsScore(numeric={"age": 12}, min_cell=10)
    return m, (lambda: m.fit(f, y="case", X=["prior", "school", "care", "age"], weight="w")), \
        (lambda: m.coef_.to_numpy()), \
        (lambda: m.fit(f, y="case", X=["prior", "youth_care", "age"], weight="weight")), \
        "PointsScore.fit: frame lacks column(s) ['youth_care', 'weight']"


CASES = {"ExactMatcher": _exact, "NearestMatcher": _nearest, "GroupTrajectoryModel": _gbtm,
         "AalenJohansen": _aj, "PointsScore": _points}


@pytest.mark.parametrize("name", list(CASES))
def test_contract(name):
    est, fit, result, bad, message = CASES[name](seed=4)
    assert fit() is est
    first = result()
    fitted = [k for k in vars(est) if k.endswith("_") and not k.startswith("_")]
    assert fitted, "fitted results end in _"
    est2, fit2, result2, _, _ = CASES[name](seed=4)
    fit2()
    if isinstance(first, pd.DataFrame):
        pd.testing.assert_frame_equal(first, result2())
    else:
        np.testing.assert_array_equal(first, result2())
    with pytest.raises(EstimatorInputError) as err:
        bad()
    assert isinstance(err.value, ValueError) and not isinstance(err.value, KeyError)
    assert str(err.value).startswith(message), str(err.value)
    if "lacks" in message:
        assert "; it has [" in str(err.value)


def test_every_estimator_is_exported_and_covered():
    classes = {n for n in E.__all__ if isinstance(getattr(E, n), type)
               and not issubclass(getattr(E, n), Exception)}
    assert classes == set(CASES)


def test_estimators_import_no_study_engine_gate_or_report():
    code = ("import sys, crimcareer.estimators; bad = [m for m in sys.modules if m.split('.')[0] == "
            "'ibis' or m.startswith(('crimcareer.study', 'crimcareer.disclosure', "
            "'crimcareer.engine', 'crimcareer.report'))]; print(bad); assert not bad")
    subprocess.run([sys.executable, "-c", code], check=True)


# -- matching ----------------------------------------------------------------------------------
def test_exact_matcher_respects_strata_ratio_and_index_date():
    t, p = _treated_pool(seed=8)
    m = ExactMatcher(on=["sex", "born"], ratio=2, seed=1, id="pid", index_date="index",
                     birth="birth", death="died", emigration="left").fit(t, p)
    pairs = m.pairs_.merge(t.add_prefix("t_"), left_on="treated", right_on="t_pid") \
        .merge(p.add_prefix("c_"), left_on="control", right_on="c_pid")
    assert len(pairs) > 20
    assert (pairs.t_sex == pairs.c_sex).all() and (pairs.t_born == pairs.c_born).all()
    assert not pairs.control.duplicated().any()
    assert pairs.groupby("treated").size().max() <= 2
    alive = pairs.c_died.isna() | (pairs.c_died > pairs.t_index)
    assert (alive & (pairs.c_birth <= pairs.t_index)).all()
    n = m.n_controls_
    assert set(m.unmatched_) == set(n[n == 0].index) and set(m.partially_matched_) == set(n[(n > 0) & (n < 2)].index)

    # Without an index date the match is maximal: a stratum pairs min(2 x treated, pool) controls.
    m = ExactMatcher(on=["sex", "born"], ratio=2, seed=1, id="pid").fit(t, p)
    key = ["sex", "born"]
    want = (t.groupby(key).size() * 2).to_frame("need").join(p.groupby(key).size().rename("pool"), how="left")
    want = want.fillna(0).min(axis=1).astype(int)
    got = m.pairs_.merge(t, left_on="treated", right_on="pid").groupby(key).size()
    pd.testing.assert_series_equal(got.reindex(want.index, fill_value=0), want, check_names=False)
    # Another seed gives another (equally valid) draw.
    other = ExactMatcher(on=["sex", "born"], ratio=2, seed=2, id="pid").fit(t, p)
    assert set(map(tuple, other.pairs_.to_numpy())) != set(map(tuple, m.pairs_.to_numpy()))


def test_nearest_matcher_within_caliper_and_strata():
    t, p = _treated_pool(seed=9)
    m = NearestMatcher(covariates=["born", "migrant"], exact=["sex"], caliper_sd=0.1, id="pid").fit(t, p)
    pr = m.pairs_
    assert len(pr) > 0
    assert (np.abs(m.logit_[pr.control].to_numpy() - m.logit_[pr.treated].to_numpy()) <= m.caliper_ + 1e-12).all()
    sex = pd.concat([t, p]).set_index("pid")["sex"]
    assert (sex[pr.control].to_numpy() == sex[pr.treated].to_numpy()).all()


# -- Aalen-Johansen ----------------------------------------------------------------------------
def test_aalen_johansen_equals_lifelines_with_ties():
    from lifelines import AalenJohansenFitter

    rng = np.random.default_rng(12)
    for _ in range(5):
        n = 300
        d = rng.integers(1, 40, n).astype(float)
        c = rng.choice([0, 1, 2], n, p=[0.4, 0.35, 0.25])
        d[c == 0] += 0.5  # censoring off the event times: lifelines' jitter then cannot reorder them
        times = np.arange(0, 45) + 0.25
        ours = AalenJohansen().fit(d, c, event_of_interest=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lifelines warns that it jitters the ties
            ref = AalenJohansenFitter(seed=3).fit(d, c, event_of_interest=1)
        # lifelines' AalenJohansenFitter has no cumulative_density_at_times: read its step function.
        theirs = ref.cumulative_density_.iloc[:, 0].asof(times).to_numpy()
        np.testing.assert_allclose(ours.cumulative_density_at_times(times).to_numpy(), theirs, atol=1e-6)
        for cause in (1, 2):  # and the textbook sum, ties with censoring included
            d2 = np.floor(d)
            aj = AalenJohansen().fit(d2, c, event_of_interest=cause)
            hand = [reference_cumulative_incidence(d2, c, x, cause) for x in times]
            np.testing.assert_allclose(aj.cumulative_density_at_times(times).to_numpy(), hand, atol=1e-12)
    ci = aj.confidence_interval_at_times(times)
    est = aj.cumulative_density_at_times(times).to_numpy()
    assert (ci.iloc[:, 0].to_numpy() <= est + 1e-12).all() and (est <= ci.iloc[:, 1].to_numpy() + 1e-12).all()


# -- points score ------------------------------------------------------------------------------
def test_points_score_matches_statsmodels_and_planted_truth():
    f = _profile(n=20000)
    X = ["prior", "school", "care", "age"]
    m = PointsScore(numeric={"age": 12}).fit(f, y="case", X=X, weight="w")
    design = sm.add_constant(f[X].astype(float).assign(age=f.age - 12))
    ref = sm.GLM(f["case"].astype(float), design, family=sm.families.Binomial(),
                 freq_weights=f["w"].to_numpy()).fit()
    np.testing.assert_allclose(m.coef_.to_numpy(), ref.params.to_numpy(), atol=1e-6)
    unw = PointsScore(numeric={"age": 12}).fit(f, y="case", X=X)
    logit = sm.Logit(f["case"].astype(float), design).fit(disp=0)
    np.testing.assert_allclose(unw.coef_.to_numpy(), logit.params.to_numpy(), atol=1e-6)
    truth = np.array([-2.0, 0.8, -0.6, 1.1, 0.15])
    assert (np.abs(unw.coef_.to_numpy() - truth) < 4 * unw.bse_.to_numpy()).all()
    assert unw.points_ == {p: int(round(unw.coef_[p] / np.log(1.1))) for p in X}
    pts = unw.points(f)
    assert pts.dtype.kind == "i" and unw.predict_proba(f).shape == (len(f), 2)
    v = unw.validate(_profile(n=8000, seed=6))
    assert 0.6 < v["auc_ci_low"] < v["auc"] < v["auc_ci_high"] < 0.8
    assert abs(v["calibration_intercept"]) < 0.15 and abs(v["calibration_slope"] - 1) < 0.15


def test_points_score_drops_sparse_and_empty_predictors():
    f = _profile(n=2000).assign(rare=False, empty=np.nan)
    f.loc[:3, "rare"] = True
    m = PointsScore(min_cell=10).fit(f, y="case", X=["prior", "rare", "empty"])
    assert m.predictors_ == ["prior"]
    assert m.dropped_ == {"rare": "a cell with the outcome has fewer than 10 persons",
                          "empty": "not available"}


# -- trajectories ------------------------------------------------------------------------------
def test_fit_long_equals_fit_on_wide():
    f = _trajectories(seed=7)
    long = GroupTrajectoryModel(n_groups=2, degree=2, starts=2, seed=1).fit_long(
        f, id="person", age="age", y="cases", exposure="share")
    ids = np.sort(f.person.unique())
    ages = np.arange(12, 24, dtype=float)
    Y = f.pivot(index="person", columns="age", values="cases").reindex(index=ids, columns=ages).to_numpy(float)
    Ex = f.pivot(index="person", columns="age", values="share").reindex(index=ids, columns=ages).to_numpy(float)
    wide = GroupTrajectoryModel(n_groups=2, degree=2, starts=2, seed=1).fit(Y, ages, Ex)
    assert list(long.ids_) == list(ids)
    np.testing.assert_array_equal(long.coef_, wide.coef_)
    np.testing.assert_array_equal(long.posterior_, wide.posterior_)
    assert long.loglik_ == wide.loglik_
    with pytest.raises(EstimatorInputError, match="repeated"):
        GroupTrajectoryModel().fit_long(pd.concat([f, f.head(1)]), id="person", age="age", y="cases")
