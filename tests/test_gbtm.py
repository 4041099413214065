"""The hand-written group-based trajectory model against planted truth and exact references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.optimize import minimize
from scipy.special import expit, gammaln
from sklearn.metrics import adjusted_rand_score

from crimcareer.estimators.gbtm import GroupTrajectoryModel, bootstrap_shares, select_groups

AGES = np.arange(12, 42)
Z = (AGES - AGES.mean()) / ((AGES.max() - AGES.min()) / 2)
X = np.vander(Z, 4, increasing=True)
# planted cubic log-rates in scaled age: low-rate, early-peak, late/high
TRUE_COEF = np.array([[-2.5, 0.0, 0.0, 0.0],
                      [0.3, -1.5, -1.0, 0.5],
                      [-0.5, 1.2, -0.8, 0.0]])
TRUE_SHARES = np.array([0.5, 0.3, 0.2])


def planted(n: int = 600, seed: int = 1, censor: bool = True):
    rng = np.random.default_rng(seed)
    g = rng.choice(3, n, p=TRUE_SHARES)
    mu = np.exp(X @ TRUE_COEF.T)  # ages x groups
    E = np.ones((n, len(AGES)))
    half = rng.random(n) < 0.2  # some persons at risk half of every year
    E[half] = 0.5
    Y = rng.poisson(mu[:, g].T * E).astype(float)
    if censor:  # followed up to a random age (cut-off)
        last = rng.integers(15, len(AGES) + 1, n)
        Y[np.arange(len(AGES))[None, :] >= last[:, None]] = np.nan
    return Y, E, g


@pytest.fixture(scope="module")
def fit3():
    Y, E, g = planted()
    return GroupTrajectoryModel(3, starts=4, seed=0).fit(Y, AGES, E), Y, E, g


def _match(model, g):
    """Planted group of each fitted group (majority of its modal members)."""
    a = model.predict()
    return np.array([np.bincount(g[a == k], minlength=3).argmax() for k in range(model.n_groups)])


def test_planted_mixture_recovered(fit3):
    m, Y, E, g = fit3
    match = _match(m, g)
    assert sorted(match) == [0, 1, 2]
    # shares within 4 points (SE of a share at n=600 is about 2 points)
    assert np.abs(m.shares_ - TRUE_SHARES[match]).max() < 0.04
    # coefficients: intercept within 0.15, all within 0.35 (scaled age in [-1, 1])
    assert np.abs(m.coef_[:, 0] - TRUE_COEF[match, 0]).max() < 0.15
    assert np.abs(m.coef_ - TRUE_COEF[match]).max() < 0.35
    # fitted curves within 20% of the planted curves where the planted rate is >= 0.2 a year
    true_mu = np.exp(X @ TRUE_COEF[match].T)
    big = true_mu >= 0.2
    assert np.abs(m.curves(AGES)[big] / true_mu[big] - 1).max() < 0.2
    assert adjusted_rand_score(g, m.predict()) > 0.9
    assert m.converged_


def test_diagnostics_match_their_definitions(fit3):
    m, Y, E, g = fit3
    post, N, K = m.posterior_, Y.shape[0], 3
    ent = -np.sum(post * np.log(np.clip(post, 1e-300, None)))
    assert m.entropy_ == pytest.approx(1 - ent / (N * np.log(K)))
    a = post.argmax(axis=1)
    for k in range(K):
        appa = post[a == k, k].mean()
        assert m.appa_[k] == pytest.approx(appa)
        pi = m.shares_[k]
        assert m.occ_[k] == pytest.approx((appa / (1 - appa)) / (pi / (1 - pi)))
    assert m.n_params_ == 3 * 4 + 2
    assert m.bic_ == pytest.approx(m.loglik_ - 0.5 * m.n_params_ * np.log(N))
    assert m.aic_ == pytest.approx(m.loglik_ - m.n_params_)
    assert np.allclose(m.predict_proba(Y, E), post, atol=1e-8)
    assert m.shares_.sum() == pytest.approx(1)
    # the log-likelihood is the mixture likelihood recomputed by brute force
    M = ~np.isnan(Y)
    Y0 = np.where(M, Y, 0)
    lam = E[:, :, None] * np.exp(m._design(AGES) @ m.coef_.T)[None]
    cell = (Y0[:, :, None] * np.log(lam) - lam - gammaln(Y0 + 1)[:, :, None]) * M[:, :, None]
    ll = np.log((m.shares_[None] * np.exp(cell.sum(axis=1))).sum(axis=1)).sum()
    assert m.loglik_ == pytest.approx(ll, rel=1e-9)
    s = m.summary()
    assert list(s["share"]) == pytest.approx(list(m.shares_))
    assert s["n_assigned"].sum() == N


def test_select_groups_finds_three_and_respects_fixed_number():
    Y, E, g = planted(seed=2)
    table, chosen = select_groups(Y, AGES, E, max_groups=4, starts=2, seed=0)
    assert chosen.n_groups == 3
    assert list(table["groups"]) == [1, 2, 3, 4]
    assert table.loc[table["chosen"], "groups"].item() == 3
    assert table["bic"].idxmax() in (2, 3)  # 3 or 4 groups by raw BIC
    assert (table["smallest_share"] <= 1).all() and table.loc[0, "smallest_share"] == 1
    t2, c2 = select_groups(Y, AGES, E, max_groups=3, starts=1, seed=0, groups=2)
    assert c2.n_groups == 2 and t2.loc[t2["chosen"], "groups"].item() == 2


def test_one_group_equals_statsmodels_poisson_glm_with_offset():
    Y, E, _ = planted(n=300, seed=3)
    m = GroupTrajectoryModel(1, degree=3).fit(Y, AGES, E)
    M = ~np.isnan(Y)
    rows, cols = np.nonzero(M)
    Xl = m._design(AGES)[cols]
    glm = sm.GLM(Y[rows, cols], Xl, family=sm.families.Poisson(),
                 offset=np.log(E[rows, cols])).fit()
    assert np.allclose(m.coef_[0], glm.params, atol=1e-6)
    assert m.loglik_ == pytest.approx(glm.llf, rel=1e-8)


def test_two_constant_rate_groups_equal_direct_maximisation():
    rng = np.random.default_rng(4)
    n, T = 400, 20
    g = rng.random(n) < 0.35
    E = np.where(rng.random((n, T)) < 0.1, 0.5, 1.0)
    Y = rng.poisson(np.where(g, 1.2, 0.3)[:, None] * E).astype(float)
    ages = np.arange(T) + 15
    m = GroupTrajectoryModel(2, degree=0, starts=3, seed=1, tol=1e-12).fit(Y, ages, E)

    # Direct maximisation of the same mixture likelihood over (logit pi, log rate1, log rate2)
    sy, se = Y.sum(axis=1), E.sum(axis=1)
    const = (Y * np.log(E) - gammaln(Y + 1)).sum(axis=1)

    def nll(th):
        pi = expit(th[0])
        l1, l2 = np.exp(th[1]), np.exp(th[2])
        a = np.log(pi) + sy * th[1] - se * l1
        b = np.log(1 - pi) + sy * th[2] - se * l2
        return -(np.logaddexp(a, b) + const).sum()

    best = minimize(nll, x0=[0.0, np.log(0.2), np.log(2.0)], method="Nelder-Mead",
                    options={"xatol": 1e-10, "fatol": 1e-10, "maxiter": 20000})
    pi, r1, r2 = expit(best.x[0]), np.exp(best.x[1]), np.exp(best.x[2])
    assert m.loglik_ == pytest.approx(-best.fun, abs=1e-5)
    assert m.shares_[0] == pytest.approx(pi, abs=1e-4)  # group 0 is the lower rate
    assert np.exp(m.coef_[:, 0]) == pytest.approx([r1, r2], rel=1e-4)
    # and close to the planted truth
    assert abs(m.shares_[1] - g.mean()) < 0.03


def test_exposure_offsets_half_year():
    rng = np.random.default_rng(5)
    n, T = 2000, 5
    E = np.ones((n, T))
    E[: n // 2] = 0.5  # half the persons at risk half of every year
    Y = rng.poisson(0.8 * E).astype(float)
    ages = np.arange(T) + 20
    m = GroupTrajectoryModel(1, degree=0).fit(Y, ages, E)
    # the MLE of a constant rate is events / exposure: exact
    assert np.exp(m.coef_[0, 0]) == pytest.approx(Y.sum() / E.sum(), rel=1e-8)
    assert abs(m.curves([25])[0, 0] - 0.8) < 0.05
    ignored = GroupTrajectoryModel(1, degree=0).fit(Y, ages)
    assert np.exp(ignored.coef_[0, 0]) < 0.7  # without offsets the rate is biased down
    # a zero exposure means "not observed", same as NaN
    Y2, E2 = Y.copy(), E.copy()
    E2[:, -1] = 0
    Y2n = Y.copy()
    Y2n[:, -1] = np.nan
    a = GroupTrajectoryModel(1, degree=0).fit(Y2, ages, E2)
    b = GroupTrajectoryModel(1, degree=0).fit(Y2n, ages, E)
    assert a.loglik_ == pytest.approx(b.loglik_)


def test_zip_recovers_structural_zeros():
    rng = np.random.default_rng(6)
    n, T = 500, 20
    ages = np.arange(T) + 15
    g = rng.random(n) < 0.4
    rate = np.where(g, 2.0, 0.4)[:, None]
    omega = np.where(g, 0.35, 0.0)[:, None]
    Y = rng.poisson(rate * np.ones((n, T))).astype(float)
    Y[rng.random((n, T)) < omega] = 0
    zip_ = GroupTrajectoryModel(2, degree=0, model="zip", starts=2, seed=0).fit(Y, ages)
    pois = GroupTrajectoryModel(2, degree=0, model="poisson", starts=2, seed=0).fit(Y, ages)
    hi = int(np.argmax(np.exp(zip_.coef_[:, 0])))
    assert zip_.zero_prob_[hi] == pytest.approx(0.35, abs=0.04)
    assert np.exp(zip_.coef_[hi, 0]) == pytest.approx(2.0, rel=0.06)
    assert zip_.zero_prob_[1 - hi] < 0.1
    assert zip_.shares_[hi] == pytest.approx(g.mean(), abs=0.03)
    assert zip_.loglik_ > pois.loglik_ + 50  # zero inflation is needed
    assert zip_.n_params_ == pois.n_params_ + 2
    # the fitted mean (curves) is (1 - omega) * rate
    assert zip_.curves([20])[0, hi] == pytest.approx(2.0 * 0.65, rel=0.06)


def test_frequency_weights_equal_replicated_data():
    Y, E, _ = planted(n=150, seed=7)
    w = np.random.default_rng(0).integers(0, 3, len(Y))
    a = GroupTrajectoryModel(2, starts=2, seed=0, tol=1e-12).fit(Y, AGES, E, weights=w)
    idx = np.repeat(np.arange(len(Y)), w)
    b = GroupTrajectoryModel(2, starts=2, seed=0, tol=1e-12).fit(Y[idx], AGES, E[idx])
    assert a.loglik_ == pytest.approx(b.loglik_, rel=1e-7)
    assert np.allclose(np.sort(a.shares_), np.sort(b.shares_), atol=1e-5)


def test_bootstrap_ci_covers_truth(fit3):
    m, Y, E, g = fit3
    boot = bootstrap_shares(m, Y, E, n_boot=40, seed=0)
    match = _match(m, g)
    truth = TRUE_SHARES[match]
    assert (boot["ci_low"] <= boot["share"]).all() and (boot["share"] <= boot["ci_high"]).all()
    assert ((boot["ci_low"] - 0.01 <= truth) & (truth <= boot["ci_high"] + 0.01)).all()
    width = boot["ci_high"] - boot["ci_low"]
    assert (width > 0.02).all() and (width < 0.15).all()  # about 4 binomial SEs


def test_two_processes_really_start():
    """The equality tests below compare with worker processes, not with the fallback."""
    import os

    from crimcareer.estimators.gbtm import _in_processes

    from crimcareer.estimators.gbtm import stop_workers

    first = set(_in_processes(os.getpid, [(), ()], 2))
    assert os.getpid() not in first
    assert first & set(_in_processes(os.getpid, [(), ()] * 4, 2))  # the same workers, reused
    stop_workers()
    again = set(_in_processes(os.getpid, [(), ()], 2))  # started anew when needed
    assert os.getpid() not in again and not again & first


def test_selection_in_two_processes_equals_one():
    Y, E, _ = planted(n=150, seed=9)
    t1, m1 = select_groups(Y, AGES, E, max_groups=3, starts=1, seed=2)
    t2, m2 = select_groups(Y, AGES, E, max_groups=3, starts=1, seed=2, n_jobs=2)
    pd.testing.assert_frame_equal(t1, t2)
    assert np.array_equal(m1.coef_, m2.coef_)


def test_bootstrap_in_two_processes_equals_one(fit3):
    m, Y, E, _ = fit3
    one = bootstrap_shares(m, Y, E, n_boot=12, seed=3)
    two = bootstrap_shares(m, Y, E, n_boot=12, seed=3, n_jobs=2)
    pd.testing.assert_frame_equal(one, two)


def test_reproducible_and_order_canonical():
    Y, E, _ = planted(n=200, seed=8)
    a = GroupTrajectoryModel(3, starts=2, seed=5).fit(Y, AGES, E)
    b = GroupTrajectoryModel(3, starts=2, seed=5).fit(Y, AGES, E)
    assert np.array_equal(a.coef_, b.coef_)
    means = a.curves(AGES).mean(axis=0)
    assert np.all(np.diff(means) > 0)  # groups ordered by mean fitted rate


def test_bad_input_refused():
    with pytest.raises(ValueError, match="model"):
        GroupTrajectoryModel(2, model="negbin")
    Y = np.ones((5, 3))
    with pytest.raises(ValueError, match="shape"):
        GroupTrajectoryModel(1).fit(Y, [1, 2, 3], np.ones((5, 2)))


def test_frailty_one_observation_per_person_equals_statsmodels_nb2():
    """With one observed year per person, gamma frailty is NB2 regression: same fit as statsmodels."""
    rng = np.random.default_rng(9)
    n, T = 1500, 10
    ages = np.arange(T) + 20
    z = (ages - ages.mean()) / ((ages.max() - ages.min()) / 2)
    col = rng.integers(0, T, n)
    E = np.where(rng.random(n) < 0.3, 0.5, 1.0)
    mu = np.exp(0.2 + 0.5 * z[col] - 0.4 * z[col] ** 2) * E * rng.gamma(2.0, 0.5, n)
    y = rng.poisson(mu).astype(float)
    Y = np.full((n, T), np.nan)
    Y[np.arange(n), col] = y
    Ex = np.ones((n, T))
    Ex[np.arange(n), col] = E
    m = GroupTrajectoryModel(1, degree=2, model="frailty", tol=1e-12).fit(Y, ages, Ex)
    Xd = m._design(ages)[col]
    nb = sm.NegativeBinomial(y, Xd, exposure=E, loglike_method="nb2").fit(disp=0, maxiter=500)
    assert m.loglik_ == pytest.approx(nb.llf, abs=1e-3)
    assert np.allclose(m.coef_[0], nb.params[:3], atol=2e-3)
    assert 1 / m.frailty_shape_ == pytest.approx(nb.params[3], rel=0.01)  # alpha = 1 / shape


def test_frailty_mixture_recovers_shares_where_poisson_does_not():
    rng = np.random.default_rng(10)
    n = 800
    coef = TRUE_COEF[[0, 1, 2]]
    g = rng.choice(3, n, p=TRUE_SHARES)
    u = rng.gamma(3.0, 1 / 3.0, n)  # person-level frailty, shape 3
    Y = rng.poisson(np.exp(X @ coef.T)[:, g].T * u[:, None]).astype(float)
    fr = GroupTrajectoryModel(3, model="frailty", starts=2, seed=0).fit(Y, AGES)
    match = _match(fr, g)
    assert sorted(match) == [0, 1, 2]
    assert np.abs(fr.shares_ - TRUE_SHARES[match]).max() < 0.04
    assert fr.frailty_shape_ == pytest.approx(3.0, rel=0.3)
    assert fr.n_params_ == 3 * 4 + 2 + 1
    # BIC: the plain Poisson mixture wants a 4th group for the overdispersion, the frailty one not
    p3 = GroupTrajectoryModel(3, starts=1, seed=0).fit(Y, AGES)
    p4 = GroupTrajectoryModel(4, starts=1, seed=0).fit(Y, AGES)
    assert p4.bic_ > p3.bic_
    f4 = GroupTrajectoryModel(4, model="frailty", starts=1, seed=0, tol=1e-6).fit(Y, AGES)
    assert f4.bic_ < fr.bic_


@pytest.mark.parametrize("model", ["poisson", "frailty"])
def test_batched_replicates_equal_one_refit_at_a_time(model):
    """The bootstrap refits all replicates as one array (``_gbtm_batch``); each must be the
    warm-started fit of its own weights, done one at a time by the estimator itself. Some
    replicates stop early (converged), some at max_iter: both paths are covered."""
    from crimcareer.estimators._gbtm_batch import em_shares

    rng = np.random.default_rng(11)
    n = 300
    g = rng.choice(3, n, p=TRUE_SHARES)
    u = rng.gamma(3.0, 1 / 3.0, n) if model == "frailty" else np.ones(n)
    Y = rng.poisson(np.exp(X @ TRUE_COEF.T)[:, g].T * u[:, None]).astype(float)
    Y[rng.random(Y.shape) < 0.1] = np.nan
    m = GroupTrajectoryModel(3, model=model, starts=2, seed=0).fit(Y, AGES)
    W = np.stack([rng.multinomial(n, np.full(n, 1 / n)).astype(float) for _ in range(9)])

    def one_at_a_time(max_iter):
        fits = []
        for w in W:
            r = GroupTrajectoryModel(3, model=model, starts=1, max_iter=max_iter, tol=1e-7,
                                     age_center=m.age_center_, age_scale=m.age_scale_)
            fits.append(r.fit(Y, m.ages_, weights=w, init=m))
        return fits

    iters = sorted(r.n_iter_ for r in one_at_a_time(200))
    cap = iters[len(iters) // 2]  # some replicates stop early (converged), some run out
    assert iters[0] < cap <= iters[-1]
    one = [r.shares_ for r in one_at_a_time(cap)]
    d = m._data(Y, None, None)
    got = em_shares(d, m._design(m.ages_), W, m.shares_, m.coef_, m.frailty_shape_, model,
                    cap, 1e-7)
    # the same operations in the same order: equal to the last bit here; a tolerance far
    # below any convergence effect in case another BLAS orders a product differently
    np.testing.assert_allclose(got, np.array(one), rtol=0, atol=1e-12)
    assert not np.allclose(got, m.shares_)  # the replicates did move
