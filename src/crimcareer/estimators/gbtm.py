"""Nagin's group-based trajectory model (GBTM): a finite mixture of (zero-inflated) Poisson
regressions of yearly counts on a polynomial in age, with log-exposure offsets.

Written by hand because Python has no maintained GBTM (the SAS/Stata ``traj`` plug-in and R's
``crimCV``/``flexmix`` have no Python counterpart; stepmix has no count indicator): this is the
EM estimator, vectorised in numpy over persons x ages x groups.

Model, for person i, age t (on a grid common to all persons) and latent group k:

    y_it | k ~ Poisson(lambda_ikt),  log lambda_ikt = log e_it + x_t' beta_k
    (ZIP: y_it = 0 with extra probability omega_k, a constant structural-zero share per group)
    (frailty: lambda_ikt is multiplied by a person-level u_i ~ Gamma(a, 1/a), mean 1, shared
     shape a: persons in one group differ in level, not in shape; the person's counts are then
     negative-binomial and the marginal likelihood is closed form)

x_t is a polynomial (degree 3 by default) in the centred and scaled age z = (age - c) / s (by
default c is the middle and s half the range of the age grid, so z lies in [-1, 1]); e_it is the
share of the year of life the person was at risk (0 < e <= 1); cells that are NaN in Y or have
e <= 0 are not observed. Group shares pi_k are free (no covariates on membership).

Fit criteria follow Nagin (2005): ``bic_ = loglik - 0.5 * n_params * log(N persons)`` and
``aic_ = loglik - n_params`` (larger is better; ``-2 * bic_`` is the usual scale), relative
entropy, average posterior probability of assignment per group (APPA, Nagin's rule >= 0.7) and the
odds of correct classification (OCC, rule >= 5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import gammaln

from crimcareer.estimators import _gbtm_batch
from crimcareer.estimators._checks import EstimatorInputError, require_columns
from crimcareer.estimators._gbtm_batch import ETA_MAX as _ETA_MAX
from crimcareer.estimators._gbtm_batch import ETA_MIN as _ETA_MIN
from crimcareer.estimators._gbtm_batch import Totals

MODELS = ("poisson", "zip", "frailty")


def logsumexp(x: np.ndarray, axis: int = 1, keepdims: bool = False) -> np.ndarray:
    """log(sum(exp(x))) along an axis; scipy's version carries array-API overhead per call."""
    if axis in (-1, x.ndim - 1):  # over the groups: explicit adds, the same numbers, faster
        out = _gbtm_batch.lse(x)
    else:
        m = np.max(x, axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0.0)
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


@dataclass
class _Params:
    shares: np.ndarray  # (K,)
    coef: np.ndarray  # (K, p)
    zero_prob: np.ndarray  # (K,) structural-zero probability (zeros for Poisson)
    frailty_shape: float = np.inf  # gamma frailty shape a (frailty model only)


class GroupTrajectoryModel:
    """Group-based trajectory model (Poisson or ZIP mixture over age) fitted by EM from seeded starts.

    ``fit(Y, ages, exposure)`` with Y persons x ages (NaN = not observed), or ``fit_long(frame,
    id=, age=, y=, exposure=None)`` with one row per person and age; scikit-learn-like
    attributes ``shares_``, ``coef_``, ``posterior_``, ``loglik_``, ``bic_``, ``aic_``,
    ``entropy_``, ``appa_``, ``occ_``. Groups are ordered by their mean fitted rate (0 = lowest).
    """

    def __init__(
        self,
        n_groups: int = 4,
        degree: int = 3,
        model: str = "poisson",
        starts: int = 5,
        seed: int = 0,
        max_iter: int = 1000,
        tol: float = 1e-8,
        age_center: float | None = None,
        age_scale: float | None = None,
        short_iter: int = 30,
    ) -> None:
        if model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, not {model!r}")
        if n_groups < 1:
            raise ValueError("n_groups must be at least 1")
        self.n_groups = n_groups
        self.degree = degree
        self.model = model
        self.starts = starts
        self.seed = seed
        self.max_iter = max_iter
        self.tol = tol
        self.age_center = age_center
        self.age_scale = age_scale
        self.short_iter = short_iter

    # -- public API -------------------------------------------------------------------------
    def fit(
        self,
        Y: np.ndarray,
        ages: np.ndarray,
        exposure: np.ndarray | None = None,
        *,
        weights: np.ndarray | None = None,
        init: "GroupTrajectoryModel | None" = None,
    ) -> "GroupTrajectoryModel":
        """Fit by EM: best of ``starts`` seeded starts, or one run warm-started from ``init``.

        ``weights`` are person frequency weights (used by the bootstrap); a warm-started fit keeps
        the group order of ``init`` (no relabelling), so bootstrap replicates stay comparable.
        """
        ages = np.asarray(ages, dtype=float)
        self.ages_ = ages
        if self.age_center is None:
            self.age_center_ = float((ages.min() + ages.max()) / 2)
        else:
            self.age_center_ = float(self.age_center)
        if self.age_scale is None:
            self.age_scale_ = float(max((ages.max() - ages.min()) / 2, 1.0))
        else:
            self.age_scale_ = float(self.age_scale)
        d = self._data(Y, exposure, weights)
        X = self._design(ages)
        best: tuple[float, _Params, np.ndarray, int, bool] | None = None
        self.start_logliks_: list[float] = []
        if init is not None:
            p0 = _Params(init.shares_.copy(), init.coef_.copy(), init.zero_prob_.copy(),
                         init.frailty_shape_)
            best = self._em(d, X, p0)
            self.start_logliks_.append(best[0])
        else:
            # emEM: every start runs a short EM; the best one is then run to convergence.
            rng = np.random.default_rng(self.seed)
            short = self.short_iter if self.starts > 1 else self.max_iter
            for s in range(self.starts):
                post0 = self._initial_posterior(d, s, rng)
                p0 = self._m_step(d, X, post0, None)
                res = self._em(d, X, p0, max_iter=short)
                self.start_logliks_.append(res[0])
                if best is None or res[0] > best[0] + 1e-9:
                    best = res
            if not best[4]:
                n0 = best[3]
                best = self._em(d, X, best[1])
                best = (*best[:3], best[3] + n0, best[4])
        assert best is not None
        loglik, params, post, n_iter, converged = best
        if init is None:  # canonical order: by mean fitted rate over the age grid
            order = np.argsort((np.exp(np.clip(X @ params.coef.T, _ETA_MIN, _ETA_MAX))
                                * (1 - params.zero_prob)).mean(axis=0), kind="stable")
            params = _Params(params.shares[order], params.coef[order], params.zero_prob[order],
                             params.frailty_shape)
            post = post[:, order]
        self.shares_ = params.shares
        self.coef_ = params.coef
        self.zero_prob_ = params.zero_prob
        self.frailty_shape_ = float(params.frailty_shape)
        self.posterior_ = post
        self.loglik_ = float(loglik)
        self.n_iter_ = n_iter
        self.converged_ = converged
        self.n_persons_ = int(d["n_eff"])
        self._diagnostics(d["w"])
        return self

    def fit_long(
        self,
        frame: pd.DataFrame,
        id: str,
        age: str,
        y: str,
        exposure: str | None = None,
        *,
        weights: np.ndarray | None = None,
    ) -> "GroupTrajectoryModel":
        """Fit on long data (one row per person and age): builds the persons x ages arrays of
        :meth:`to_wide` and calls :meth:`fit`. Rows of ``posterior_`` follow ``ids_`` (the
        persons in sorted order); a person-age without a row is not observed."""
        Y, ages, E, ids = self.to_wide(frame, id=id, age=age, y=y, exposure=exposure)
        self.fit(Y, ages, E, weights=weights)
        self.ids_ = ids
        return self

    @staticmethod
    def to_wide(frame: pd.DataFrame, id: str, age: str, y: str, exposure: str | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
        """(Y, ages, exposure, ids) from long data: persons (sorted) x ages (sorted distinct
        values); cells without a row are NaN (not observed)."""
        require_columns("GroupTrajectoryModel.fit_long", "frame", frame, [id, age, y, exposure])
        dup = frame.duplicated([id, age])
        if dup.any():
            raise EstimatorInputError(
                f"GroupTrajectoryModel.fit_long: {int(dup.sum())} repeated ({id!r}, {age!r}) "
                "row(s); give one row per person and age")
        ids, pi = np.unique(frame[id].to_numpy(), return_inverse=True)
        ages, ai = np.unique(frame[age].to_numpy(dtype=float), return_inverse=True)
        Y = np.full((len(ids), len(ages)), np.nan)
        Y[pi, ai] = frame[y].to_numpy(dtype=float)
        E = None
        if exposure is not None:
            E = np.full((len(ids), len(ages)), np.nan)
            E[pi, ai] = frame[exposure].to_numpy(dtype=float)
        return Y, ages, E, ids

    def predict_proba(self, Y: np.ndarray | None = None, exposure: np.ndarray | None = None) -> np.ndarray:
        """Posterior group probabilities (persons x groups) of Y on the fitted age grid."""
        if Y is None:
            return self.posterior_
        d = self._data(Y, exposure, None)
        X = self._design(self.ages_)
        params = _Params(self.shares_, self.coef_, self.zero_prob_, self.frailty_shape_)
        logp, _ = self._log_joint(d, X, params)
        return np.exp(logp - logsumexp(logp, axis=1, keepdims=True))

    def predict(self, Y: np.ndarray | None = None, exposure: np.ndarray | None = None) -> np.ndarray:
        """Modal group assignment (index into ``shares_``) per person."""
        return self.predict_proba(Y, exposure).argmax(axis=1)

    def curves(self, ages: np.ndarray | None = None) -> np.ndarray:
        """Fitted expected counts per full year at risk: ages x groups (ZIP: (1 - omega) * mu)."""
        ages = self.ages_ if ages is None else np.asarray(ages, dtype=float)
        eta = np.clip(self._design(ages) @ self.coef_.T, _ETA_MIN, _ETA_MAX)
        return np.exp(eta) * (1 - self.zero_prob_)

    def summary(self) -> pd.DataFrame:
        """One row per group: share, modal count, APPA, OCC, coefficients (scaled age), zero share."""
        counts = np.bincount(self.predict(), minlength=self.n_groups)
        df = pd.DataFrame({
            "group": np.arange(self.n_groups),
            "share": self.shares_,
            "n_assigned": counts,
            "appa": self.appa_,
            "occ": self.occ_,
        })
        for j in range(self.coef_.shape[1]):
            df[f"b{j}"] = self.coef_[:, j]
        if self.model == "zip":
            df["zero_prob"] = self.zero_prob_
        return df

    @property
    def n_params_(self) -> int:
        K, p = self.n_groups, self.degree + 1
        return K * p + (K - 1) + (K if self.model == "zip" else 0) + (self.model == "frailty")

    # -- internals --------------------------------------------------------------------------
    def _design(self, ages: np.ndarray) -> np.ndarray:
        z = (np.asarray(ages, dtype=float) - self.age_center_) / self.age_scale_
        return np.vander(z, self.degree + 1, increasing=True)

    def _data(self, Y: np.ndarray, exposure: np.ndarray | None, weights: np.ndarray | None) -> dict:
        Y = np.asarray(Y, dtype=float)
        E = np.ones_like(Y) if exposure is None else np.asarray(exposure, dtype=float)
        if E.shape != Y.shape:
            raise ValueError(f"exposure shape {E.shape} differs from Y shape {Y.shape}")
        M = ~np.isnan(Y) & ~np.isnan(E) & (E > 0)
        Y0 = np.where(M, Y, 0.0)
        if (Y0 < 0).any():
            raise ValueError("counts must be non-negative")
        E0 = np.where(M, E, 1.0)
        Mf = M.astype(float)
        w = np.ones(Y.shape[0]) if weights is None else np.asarray(weights, dtype=float)
        return {
            "Y": Y0, "E": E0, "M": Mf, "logE": np.log(E0),
            "MY": Mf * Y0, "ME": Mf * E0,
            # constant part of the Poisson log-likelihood per person: sum y log e - log y!
            "const": (Mf * (Y0 * np.log(E0) - gammaln(Y0 + 1))).sum(axis=1),
            "zero": (Mf > 0) & (Y0 == 0),
            "npos": ((Mf > 0) & (Y0 > 0)).sum(axis=1),
            "w": w, "n_eff": w.sum(),
            "tot": Totals(Mf * Y0),
        }

    def _log_joint(self, d: dict, X: np.ndarray, p: _Params) -> tuple[np.ndarray, None]:
        """log pi_k + log f(y_i | k), persons x groups."""
        eta = np.clip(X @ p.coef.T, _ETA_MIN, _ETA_MAX)  # (T, K)
        logpi = np.log(np.maximum(p.shares, 1e-300))
        if self.model == "poisson":
            # sum_t M (y eta - e exp(eta)) as two matrix products: no persons x ages x groups array.
            ll = d["MY"] @ eta - d["ME"] @ np.exp(eta) + d["const"][:, None]
            return ll + logpi, None
        if self.model == "frailty":
            return _frailty_loglik(d, eta, p.frailty_shape) + logpi, None
        om = np.clip(p.zero_prob, 1e-300, 1 - 1e-12)
        lam = d["E"][:, :, None] * np.exp(eta)[None, :, :]  # (n, T, K)
        log_zero = np.logaddexp(np.log(om)[None, None, :], np.log1p(-om)[None, None, :] - lam)
        zero = d["zero"][:, :, None]
        # Poisson log-likelihood of all cells (matrix products), then for zero cells swap the
        # Poisson term (-lambda) for the ZIP term, and add log(1 - omega) for positive cells.
        ll = d["MY"] @ eta - d["ME"] @ np.exp(eta) + d["const"][:, None]
        ll += d["npos"][:, None] * np.log1p(-om)[None, :]
        ll += np.where(zero, log_zero + lam, 0.0).sum(axis=1)
        return ll + logpi, None

    def _em(self, d: dict, X: np.ndarray, p: _Params, max_iter: int | None = None
            ) -> tuple[float, _Params, np.ndarray, int, bool]:
        w = d["w"]
        prev = -np.inf
        converged = False
        it = 0
        for it in range(1, (max_iter or self.max_iter) + 1):
            logp, _ = self._log_joint(d, X, p)
            norm = logsumexp(logp, axis=1, keepdims=True)
            post = np.exp(logp - norm)
            ll = float((w * norm[:, 0]).sum())
            if abs(ll - prev) <= self.tol * (1 + abs(ll)):
                converged = True
                break
            prev = ll
            p = self._m_step(d, X, post, p)
        if not converged:  # report the posteriors and log-likelihood of the final parameters
            logp, _ = self._log_joint(d, X, p)
            norm = logsumexp(logp, axis=1, keepdims=True)
            post = np.exp(logp - norm)
            ll = float((w * norm[:, 0]).sum())
        return ll, p, post, it, converged

    def _m_step(self, d: dict, X: np.ndarray, post: np.ndarray, prev: _Params | None) -> _Params:
        w = d["w"]
        wp = post * w[:, None]  # (n, K)
        K = post.shape[1]
        shares = wp.sum(axis=0) / wp.sum()
        # Poisson part: the expected complete-data log-likelihood of group k depends on the
        # persons only through per-age sums, so the M-step is a Poisson GLM on T points.
        S = wp.T @ d["MY"]  # (K, T) weighted events
        coef = np.empty((K, X.shape[1]))
        if self.model == "frailty" and prev is not None:
            # E[u | y, k] = (a + Y_i) / (a + Lambda_ik): the Poisson M-step with exposure scaled
            a = prev.frailty_shape
            lam = d["ME"] @ np.exp(np.clip(X @ prev.coef.T, _ETA_MIN, _ETA_MAX))  # (n, K)
            ubar = (a + d["MY"].sum(axis=1))[:, None] / (a + lam)
            R = (wp * ubar).T @ d["ME"]
            coef = _poisson_glm(X, S, R, prev.coef)
            # then the shape by direct maximisation of the observed-data likelihood (ECME)
            eta = np.clip(X @ coef.T, _ETA_MIN, _ETA_MAX)
            logpi = np.log(np.maximum(shares, 1e-300))
            a = _frailty_shape(d, eta, logpi, a)
            return _Params(shares, coef, np.zeros(K), a)
        if self.model == "poisson" or prev is None:
            R = wp.T @ d["ME"]  # (K, T) weighted exposure
            coef = _poisson_glm(X, S, R, None if prev is None else prev.coef)
            zero_prob = np.full(K, 0.2) if self.model == "zip" else np.zeros(K)
            return _Params(shares, coef, zero_prob, 2.0 if self.model == "frailty" else np.inf)
        # ZIP: maximise each group's weighted ZIP log-likelihood directly in (beta, logit omega)
        # (quasi-Newton, as traj does), instead of augmenting with structural-zero indicators:
        # that augmentation makes EM crawl when omega is near 0.
        zero_prob = np.empty(K)
        for k in range(K):
            coef[k], zero_prob[k] = _zip_group(X, d, wp[:, k], prev.coef[k], prev.zero_prob[k])
        return _Params(shares, coef, zero_prob)

    def _initial_posterior(self, d: dict, s: int, rng: np.random.Generator) -> np.ndarray:
        """Start 0: quantiles of each person's overall rate; later starts: k-means on age-band rates."""
        n, K = d["Y"].shape[0], self.n_groups
        if K == 1:
            return np.ones((n, 1))
        if s == 0:
            rate = d["MY"].sum(axis=1) / np.maximum(d["ME"].sum(axis=1), 1e-9)
            ranks = np.argsort(np.argsort(rate + 1e-9 * rng.random(n), kind="stable"), kind="stable")
            labels = (ranks * K) // n
        else:
            bands = np.array_split(np.arange(d["Y"].shape[1]), min(6, d["Y"].shape[1]))
            feats = np.column_stack([
                d["MY"][:, b].sum(axis=1) / np.maximum(d["ME"][:, b].sum(axis=1), 1e-9)
                for b in bands
            ])
            observed = np.column_stack([d["ME"][:, b].sum(axis=1) > 0 for b in bands])
            col_mean = np.nanmean(np.where(observed, feats, np.nan), axis=0)
            feats = np.where(observed, feats, np.nan_to_num(col_mean))
            feats = np.log1p(feats) + 0.05 * rng.standard_normal(feats.shape)
            labels = _kmeans(feats, K, rng)
        post = np.full((n, K), 0.2 / K)
        post[np.arange(n), labels] += 0.8
        return post

    def _diagnostics(self, w: np.ndarray) -> None:
        K, N = self.n_groups, self.n_persons_
        post = self.posterior_
        self.bic_ = self.loglik_ - 0.5 * self.n_params_ * np.log(N)
        self.aic_ = self.loglik_ - self.n_params_
        if K == 1:
            self.entropy_ = 1.0
        else:
            ent = -(w[:, None] * post * np.log(np.maximum(post, 1e-300))).sum()
            self.entropy_ = float(1 - ent / (N * np.log(K)))
        assign = post.argmax(axis=1)
        appa = np.full(K, np.nan)
        for k in range(K):
            sel = assign == k
            if (w[sel]).sum() > 0:
                appa[k] = float((w[sel] * post[sel, k]).sum() / w[sel].sum())
        self.appa_ = appa
        pi = self.shares_
        with np.errstate(divide="ignore", invalid="ignore"):
            self.occ_ = (appa / (1 - appa)) / (pi / (1 - pi))


def _kmeans(x: np.ndarray, k: int, rng: np.random.Generator, n_iter: int = 25) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding: only a start for EM. Hand-written because
    scikit-learn's KMeans spent about a second per call in its thread pool on a busy 2-core host."""
    n = len(x)
    centres = [x[rng.integers(n)]]
    for _ in range(1, k):
        d2 = np.min(((x[:, None, :] - np.array(centres)[None]) ** 2).sum(axis=2), axis=1)
        p = d2 / d2.sum() if d2.sum() > 0 else np.full(n, 1 / n)
        centres.append(x[rng.choice(n, p=p)])
    c = np.array(centres)
    labels = np.zeros(n, dtype=int)
    for _ in range(n_iter):
        new = ((x[:, None, :] - c[None]) ** 2).sum(axis=2).argmin(axis=1)
        if np.array_equal(new, labels) and _ > 0:
            break
        labels = new
        for j in range(k):
            if (labels == j).any():
                c[j] = x[labels == j].mean(axis=0)
    return labels


def _poisson_glm(X: np.ndarray, S: np.ndarray, R: np.ndarray, start: np.ndarray | None,
                 max_steps: int = 8) -> np.ndarray:
    """Maximise sum_t S_kt x_t'b_k - R_kt exp(x_t'b_k) for every group k at once (S, R: K x T)
    by Newton with step halving: one run of ``_gbtm_batch.poisson_glm``."""
    if start is None:
        start = np.zeros((S.shape[0], X.shape[1]))
        start[:, 0] = np.log(np.maximum(S.sum(axis=1), 1e-12) / np.maximum(R.sum(axis=1), 1e-12))
    return _gbtm_batch.poisson_glm(X, S[None], R[None], start[None], max_steps)[0]


def _frailty_loglik(d: dict, eta: np.ndarray, a: float) -> np.ndarray:
    """log f(y_i | k) with gamma frailty: persons x groups (closed-form negative binomial)."""
    lam = d["ME"] @ np.exp(eta)  # (n, K) expected events without frailty
    return _frailty_terms(d["MY"] @ eta + d["const"][:, None], lam, d["tot"], a)


def _frailty_terms(base: np.ndarray, lam: np.ndarray, tot: Totals, a: float) -> np.ndarray:
    return _gbtm_batch.frailty_terms(base[None], lam[None], tot, np.full((1, 1, 1), a))[0]


def _frailty_shape(d: dict, eta: np.ndarray, logpi: np.ndarray, a0: float, steps: int = 3) -> float:
    """Raise the mixture log-likelihood in the gamma shape a (others fixed): safeguarded Newton
    steps in log a with analytic derivatives (ECME: an increase, not a full maximum, suffices);
    one run of ``_gbtm_batch.frailty_shapes``."""
    return float(_gbtm_batch.frailty_shapes(d, eta[None], logpi[None], np.array([float(a0)]),
                                            d["w"][None], steps)[0])


def _zip_group(X: np.ndarray, d: dict, w: np.ndarray, beta0: np.ndarray, omega0: float
               ) -> tuple[np.ndarray, float]:
    """Weighted ZIP regression of one group: maximise sum_i w_i sum_t l(y_it; omega, beta)."""
    from scipy.optimize import minimize
    from scipy.special import expit, logit

    W = w[:, None] * d["M"]
    zero = d["zero"]
    pos = (d["M"] > 0) & ~zero
    Wz, Wp = np.where(zero, W, 0.0), np.where(pos, W, 0.0)
    WpY = (Wp * d["Y"]).sum(axis=0)  # (T,)
    Wp_sum = Wp.sum()
    Wp_E = (Wp * d["E"]).sum(axis=0)

    def nll(theta: np.ndarray) -> tuple[float, np.ndarray]:
        beta, g = theta[:-1], theta[-1]
        om = float(np.clip(expit(g), 1e-12, 1 - 1e-12))
        eta = np.clip(X @ beta, _ETA_MIN, _ETA_MAX)
        ex = np.exp(eta)
        mu = d["E"] * ex[None, :]
        emu = np.exp(-mu)
        den = om + (1 - om) * emu
        ll = (Wz * np.log(den)).sum() + Wp_sum * np.log1p(-om) + WpY @ eta - Wp_E @ ex
        q = (1 - om) * emu / den  # P(not structural | y = 0)
        g_eta = -(Wz * q * mu).sum(axis=0) + WpY - Wp_E * ex
        g_g = (Wz * (1 - emu) / den).sum() * om * (1 - om) - Wp_sum * om
        return -ll, -np.append(X.T @ g_eta, g_g)

    x0 = np.append(beta0, logit(np.clip(omega0, 1e-6, 1 - 1e-6)))
    res = minimize(nll, x0, jac=True, method="L-BFGS-B",
                   bounds=[(None, None)] * len(beta0) + [(-25.0, 25.0)])
    x = res.x if res.fun <= nll(x0)[0] else x0
    return x[:-1], float(expit(x[-1]))


_POOL: "tuple[int, object] | None" = None  # (workers, ProcessPoolExecutor), kept for reuse


def _workers(n_jobs: int):
    """A pool of n_jobs spawned worker processes, started once per process and reused: each
    start costs about a second (a Python with numpy, scipy and this module)."""
    global _POOL
    if _POOL is None or _POOL[0] < n_jobs:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        if _POOL is not None:
            _POOL[1].shutdown(wait=False)
        # spawn, not fork: the caller may hold engine threads (DuckDB) that fork would copy
        _POOL = (n_jobs, ProcessPoolExecutor(n_jobs,
                                             mp_context=multiprocessing.get_context("spawn")))
    return _POOL[1]


def start_workers(n_jobs: int) -> None:
    """Start the worker processes now (they import in the background), so that a later
    ``n_jobs`` call finds them ready."""
    if n_jobs > 1:
        try:
            ex = _workers(n_jobs)
            for _ in range(n_jobs):
                ex.submit(int)
        except Exception:  # noqa: BLE001 - no worker processes here; calls run in this one
            pass


def stop_workers() -> None:
    """Shut the worker processes down (they are started again when next needed)."""
    global _POOL
    if _POOL is not None:
        _POOL[1].shutdown(wait=True)
        _POOL = None


def _in_processes(fn, calls: list[tuple], n_jobs: int) -> list:
    """[fn(*c) for c in calls], in up to n_jobs worker processes when n_jobs > 1 (results in
    call order, so the same as in one process); in this process when workers cannot start."""
    global _POOL
    if n_jobs > 1 and len(calls) > 1:
        try:
            return list(_workers(n_jobs).map(_call, [fn] * len(calls), calls))
        except Exception:  # noqa: BLE001 - no worker processes here (a profiler, a sandbox)
            if _POOL is not None:
                _POOL[1].shutdown(wait=False, cancel_futures=True)
            _POOL = None
    return [fn(*c) for c in calls]


def _call(fn, args: tuple):
    return fn(*args)


def _fit_groups(K: int, Y, ages, exposure, degree: int, model: str, starts: int, seed: int
                ) -> "GroupTrajectoryModel":
    return GroupTrajectoryModel(K, degree=degree, model=model, starts=starts,
                                seed=seed).fit(Y, ages, exposure)


def select_groups(
    Y: np.ndarray,
    ages: np.ndarray,
    exposure: np.ndarray | None = None,
    max_groups: int = 6,
    starts: int = 5,
    seed: int = 0,
    *,
    degree: int = 3,
    model: str = "poisson",
    groups: int = 0,
    min_share: float = 0.05,
    min_appa: float = 0.7,
    n_jobs: int = 1,
) -> tuple[pd.DataFrame, GroupTrajectoryModel]:
    """Fit 1..max_groups groups; a diagnostics table and the chosen model.

    The choice is the best Nagin BIC among solutions whose smallest group share is at least
    ``min_share`` and whose every APPA is at least ``min_appa`` (the 1-group model always
    qualifies); ``groups > 0`` fixes the number of groups instead. ``n_jobs`` > 1 fits the
    numbers of groups in that many processes (each fit has its own seed: the same result).
    """
    rows, models = [], {}
    top = max(max_groups, groups)
    order = list(range(top, 0, -1))  # the largest (slowest) first: balances the processes
    fits = _in_processes(_fit_groups, [(K, Y, ages, exposure, degree, model, starts, seed + K)
                                       for K in order], n_jobs)
    fitted = dict(zip(order, fits))
    for K in range(1, top + 1):
        m = fitted[K]
        models[K] = m
        ok_share = m.shares_.min() >= min_share
        ok_appa = bool(np.all(np.nan_to_num(m.appa_) >= min_appa))
        rows.append({
            "groups": K,
            "loglik": m.loglik_,
            "n_params": m.n_params_,
            "bic": m.bic_,
            "aic": m.aic_,
            "entropy": m.entropy_,
            "smallest_share": float(m.shares_.min()),
            "smallest_n": int(np.bincount(m.predict(), minlength=K).min()),
            "min_appa": float(np.nanmin(m.appa_)),
            "appa": " ".join(f"{a:.2f}" for a in m.appa_),
            "min_occ": float(np.nanmin(m.occ_)) if K > 1 else np.nan,
            "converged": m.converged_,
            "guard_ok": bool(ok_share and ok_appa) or K == 1,
        })
    table = pd.DataFrame(rows)
    if groups > 0:
        chosen = groups
    else:
        ok = table[table["guard_ok"]]
        chosen = int(ok.loc[ok["bic"].idxmax(), "groups"])
    table["chosen"] = table["groups"] == chosen
    return table, models[chosen]


def _replicate_shares(model: "GroupTrajectoryModel", Y: np.ndarray,
                      exposure: np.ndarray | None, W: np.ndarray, max_iter: int) -> np.ndarray:
    """Group shares of one refit per row of frequency weights W (EM warm-started at model).

    Poisson and frailty models refit all rows at once (``_gbtm_batch``: the same numbers as one
    at a time, in batches of about 125,000 person x group cells: measured at 630 persons and 4
    groups, 50 replicates at a time took 12 s where all 200 at once took 18 s, their arrays
    no longer fitting the cache); ZIP one at a time."""
    if model.model in ("poisson", "frailty") and len(W):
        d = model._data(Y, exposure, None)
        X = model._design(model.ages_)
        per_batch = max(1, 125_000 // max(1, d["Y"].shape[0] * model.n_groups))
        return np.vstack([
            _gbtm_batch.em_shares(d, X, W[i:i + per_batch], model.shares_, model.coef_,
                                  model.frailty_shape_, model.model, max_iter, 1e-7)
            for i in range(0, len(W), per_batch)])
    reps = np.empty((len(W), model.n_groups))
    for b, w in enumerate(W):
        m = GroupTrajectoryModel(model.n_groups, model.degree, model.model, starts=1,
                                 max_iter=max_iter, tol=1e-7, age_center=model.age_center_,
                                 age_scale=model.age_scale_)
        m.fit(Y, model.ages_, exposure, weights=w, init=model)
        reps[b] = m.shares_
    return reps


def bootstrap_shares(
    model: GroupTrajectoryModel,
    Y: np.ndarray,
    exposure: np.ndarray | None = None,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
    max_iter: int = 200,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Percentile bootstrap CIs of the group shares (persons resampled, EM warm-started).

    Each replicate draws persons with replacement (as multinomial frequency weights) and refits
    the model by EM starting from the chosen solution's parameters, which keeps group identities
    (no label switching) and makes a replicate cost a few dozen EM steps. ``n_jobs`` > 1 fits
    the replicates in that many processes; the weights are drawn first, in one sequence, so the
    result is the same for any ``n_jobs``.
    """
    rng = np.random.default_rng(seed)
    n = np.asarray(Y).shape[0]
    W = np.stack([rng.multinomial(n, np.full(n, 1.0 / n)).astype(float) for _ in range(n_boot)]) \
        if n_boot else np.empty((0, n))
    if n_jobs > 1 and n_boot >= 4 * n_jobs:
        chunks = np.array_split(np.arange(n_boot), n_jobs)
        reps = np.vstack(_in_processes(_replicate_shares, [(model, Y, exposure, W[c], max_iter)
                                                           for c in chunks], n_jobs))
    else:
        reps = _replicate_shares(model, Y, exposure, W, max_iter)
    a = (1 - level) / 2
    return pd.DataFrame({
        "group": np.arange(model.n_groups),
        "share": model.shares_,
        "ci_low": np.quantile(reps, a, axis=0),
        "ci_high": np.quantile(reps, 1 - a, axis=0),
        "boot_sd": reps.std(axis=0, ddof=1) if n_boot > 1 else np.nan,
    })
