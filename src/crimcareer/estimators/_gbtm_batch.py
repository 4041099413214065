"""Many EM runs of one Poisson or frailty trajectory model at once (bootstrap replicates).

Each replicate of the bootstrap has its own person weights and parameters but the same counts,
so the replicates stack into arrays of shape (runs, persons, groups): a few numpy calls per EM
iteration for all 200 replicates instead of a few dozen per replicate, where a 630-person
replicate spends most of its time in call overhead. Every run takes exactly the steps
``GroupTrajectoryModel._em`` takes on its own (the same convergence test, the same per-run
stopping of the Newton and step-halving loops) and is left alone once it stops; ``test_gbtm``
checks the shares against the estimator refitting one replicate at a time. ``gbtm``'s own EM
calls the Newton step, the frailty shape step and the log-sum-exp here as one run, so both
paths share one implementation. Written by hand for the same reason as ``gbtm.py`` (no
maintained Python GBTM).
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln, polygamma

ETA_MIN, ETA_MAX = -30.0, 15.0  # keep exp(eta) finite for groups with (almost) no events


def group_sum(x: np.ndarray) -> np.ndarray:
    """x.sum(axis=-1) over the few groups, added left to right as numpy adds them (the same
    numbers; numpy's reduction over a short last axis costs three times as much)."""
    out = x[..., 0]
    for k in range(1, x.shape[-1]):
        out = out + x[..., k]
    return out


def group_max(x: np.ndarray) -> np.ndarray:
    """x.max(axis=-1) over the few groups, taken left to right (the same numbers)."""
    out = x[..., 0]
    for k in range(1, x.shape[-1]):
        out = np.maximum(out, x[..., k])
    return out


def lse(x: np.ndarray) -> np.ndarray:
    """log-sum-exp over the last axis (the groups), kept."""
    m = group_max(x)[..., None]
    m = np.where(np.isfinite(m), m, 0.0)
    return np.log(group_sum(np.exp(x - m)))[..., None] + m


class Totals:
    """Persons' total counts: functions of a + total evaluated once per distinct total (a few
    dozen values for hundreds of persons) and spread back to the persons: the same numbers."""

    def __init__(self, MY: np.ndarray) -> None:
        self.y = MY.sum(axis=1)[None, :, None]  # (1, n, 1)
        self.values, self.index = np.unique(self.y[0, :, 0], return_inverse=True)

    def of(self, fn, a: np.ndarray) -> np.ndarray:
        """fn(a + total) for a (runs x 1 x 1): runs x n x 1."""
        return fn(a[:, :, 0] + self.values[None, :])[:, self.index][:, :, None]


def trigamma(x: np.ndarray) -> np.ndarray:
    """polygamma(1, x)."""
    return polygamma(1, x)


def frailty_terms(base, lam, tot: Totals, a):
    """base + a log a - lgamma(a) + lgamma(a + y) - (a + y) log(a + lam), in that order (as
    gbtm._frailty_terms), with the full-size temporaries updated in place."""
    out = base + a * np.log(a)
    out -= gammaln(a)
    out += tot.of(gammaln, a)
    t = a + lam
    np.log(t, out=t)
    t *= a + tot.y
    out -= t
    return out


def em_shares(d: dict, X: np.ndarray, W: np.ndarray, shares: np.ndarray, coef: np.ndarray,
              frailty_shape: float, model: str, max_iter: int, tol: float) -> np.ndarray:
    """Group shares (runs x K) after EM from one start (shares (K,), coef (K, p), the frailty
    shape) for every row of person weights W; ``d`` is ``GroupTrajectoryModel._data`` of the
    counts (its own weights unused); ``model`` is "poisson" or "frailty"."""
    if model not in ("poisson", "frailty"):
        raise ValueError(f"batched EM covers the poisson and frailty models, not {model!r}")
    n_runs = len(W)
    S_ = np.tile(shares, (n_runs, 1))
    C_ = np.tile(coef, (n_runs, 1, 1))
    A_ = np.full(n_runs, float(frailty_shape))
    prev = np.full(n_runs, -np.inf)
    live = np.arange(n_runs)
    MY, ME, const = d["MY"], d["ME"], d["const"][None, :, None]
    tot = d["tot"]
    for _ in range(max_iter):
        w = W[live]
        # E-step (gbtm.GroupTrajectoryModel._log_joint), then the convergence test of _em
        eta = np.clip(X @ C_[live].transpose(0, 2, 1), ETA_MIN, ETA_MAX)  # (runs, T, K)
        logpi = np.log(np.maximum(S_[live], 1e-300))[:, None, :]
        lam = ME @ np.exp(eta)  # (runs, n, K)
        if model == "poisson":
            logp = MY @ eta - lam + const + logpi
        else:
            logp = frailty_terms(MY @ eta + const, lam, tot, A_[live][:, None, None]) + logpi
        norm = lse(logp)
        post = np.exp(logp - norm)
        ll = (w * norm[..., 0]).sum(axis=1)
        going = ~(np.abs(ll - prev[live]) <= tol * (1 + np.abs(ll)))
        prev[live] = ll
        live, w, post, lam = live[going], w[going], post[going], lam[going]
        if not len(live):
            break
        # M-step (gbtm.GroupTrajectoryModel._m_step)
        wp = post * w[:, :, None]
        new_shares = wp.sum(axis=1) / wp.reshape(len(live), -1).sum(axis=1)[:, None]
        wpT = wp.transpose(0, 2, 1)
        events = wpT @ MY  # (runs, K, T)
        if model == "poisson":
            C_[live] = poisson_glm(X, events, wpT @ ME, C_[live])
        else:
            a = A_[live]
            ubar = (a[:, None] + MY.sum(axis=1)[None, :])[:, :, None] / (a[:, None, None] + lam)
            C_[live] = poisson_glm(X, events, (wp * ubar).transpose(0, 2, 1) @ ME, C_[live])
            eta = np.clip(X @ C_[live].transpose(0, 2, 1), ETA_MIN, ETA_MAX)
            logpi = np.log(np.maximum(new_shares, 1e-300))
            A_[live] = frailty_shapes(d, eta, logpi, a, W[live])
        S_[live] = new_shares
    return S_


def _objective(X: np.ndarray, B: np.ndarray, S: np.ndarray, R: np.ndarray) -> np.ndarray:
    eta = np.clip(B @ X.T, ETA_MIN, ETA_MAX)
    return (S * eta).sum(axis=2) - (R * np.exp(eta)).sum(axis=2)


def poisson_glm(X: np.ndarray, S: np.ndarray, R: np.ndarray, start: np.ndarray,
                max_steps: int = 8) -> np.ndarray:
    """gbtm._poisson_glm for many runs at once (S, R: runs x K x T; start: runs x K x p); each
    run stops where its own loop would have stopped."""
    n_runs, K, p = start.shape
    B = start.copy()
    f = _objective(X, B, S, R)
    ridge = 1e-9 * np.eye(p)
    live = np.arange(n_runs)
    for _ in range(max_steps):
        Bl, Sl, Rl, fl = B[live], S[live], R[live], f[live]
        mu = Rl * np.exp(np.clip(Bl @ X.T, ETA_MIN, ETA_MAX))
        grad = (Sl - mu) @ X
        H = np.einsum("rkt,tp,tq->rkpq", mu, X, X) + ridge
        try:
            step = np.linalg.solve(H, grad[..., None])[..., 0]
        except np.linalg.LinAlgError:  # as gbtm: least squares where a Hessian is singular
            step = np.empty_like(Bl)
            for i in range(len(live)):
                try:
                    step[i] = np.linalg.solve(H[i], grad[i][..., None])[..., 0]
                except np.linalg.LinAlgError:
                    step[i] = np.stack([np.linalg.lstsq(H[i][k], grad[i][k], rcond=None)[0]
                                        for k in range(K)])
        t = np.ones((len(live), K))
        nb = Bl + step
        nf = _objective(X, nb, Sl, Rl)
        bad = ~(nf >= fl - 1e-12)
        go = bad.any(axis=1) & (t.min(axis=1) > 1e-6)
        while go.any():
            g = np.flatnonzero(go)
            t[g] = np.where(bad[g], t[g] / 2, t[g])
            nb[g] = Bl[g] + t[g][:, :, None] * step[g]
            nf[g] = _objective(X, nb[g], Sl[g], Rl[g])
            bad[g] = ~(nf[g] >= fl[g] - 1e-12)
            go = bad.any(axis=1) & (t.min(axis=1) > 1e-6)
        nb = np.where(bad[:, :, None], Bl, nb)
        nf = np.where(bad, fl, nf)
        moved = np.abs(nb - Bl).reshape(len(live), -1).max(axis=1)
        B[live], f[live] = nb, nf
        live = live[~(moved < 1e-8)]
        if not len(live):
            break
    return B


def frailty_shapes(d: dict, eta: np.ndarray, logpi: np.ndarray, a0: np.ndarray, W: np.ndarray,
                   steps: int = 3) -> np.ndarray:
    """gbtm._frailty_shape for many runs at once (eta: runs x T x K, logpi: runs x K, a0 and
    the rows of W: one per run)."""
    MY, ME = d["MY"], d["ME"]
    lam = ME @ np.exp(eta)  # (runs, n, K)
    tot = d["tot"]
    ytot = tot.y
    base = MY @ eta + d["const"][None, :, None] + logpi[:, None, :]

    def value(idx: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        every = len(idx) == len(base)  # idx is then 0..runs-1: no copies
        L = frailty_terms(base if every else base[idx], lam if every else lam[idx], tot,
                           a[:, None, None])
        norm = lse(L)
        return (W[idx] * norm[..., 0]).sum(axis=1), np.exp(L - norm)

    lo, hi = np.log(0.05), np.log(1e4)
    theta = np.log(a0)
    live = np.arange(len(a0))
    f, r = value(live, np.asarray(a0, dtype=float))
    for _ in range(steps):
        a = np.exp(theta[live])[:, None, None]
        lm = lam[live]
        alm = a + lm
        # g = log a + 1 - digamma(a) + digamma(a + y) - log(a + lam) - (a + y) / (a + lam) and
        # h = 1/a - trigamma(a) + trigamma(a + y) - 1/(a + lam) - (lam - y) / (a + lam)^2, in
        # gbtm's order, the full-size temporaries in place
        g = np.log(alm)
        np.subtract(np.log(a) + 1 - digamma(a) + tot.of(digamma, a), g, out=g)
        g -= (a + ytot) / alm
        h = np.divide(1.0, alm)
        np.subtract(1 / a - polygamma(1, a) + tot.of(trigamma, a), h, out=h)
        q = lm - ytot
        q /= np.square(alm)
        h -= q
        rl = r[live]
        gi = group_sum(rl * g)
        h += g * g
        h *= rl
        hi_ = group_sum(h) - gi**2
        a1 = a[:, 0, 0]
        G = (W[live] * gi).sum(axis=1) * a1  # d/d log a
        H = (W[live] * hi_).sum(axis=1) * a1 * a1 + G
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(H < 0, -G / H, np.sign(G) * 0.5)
        step = np.clip(step, -2.0, 2.0)
        pending = np.abs(step) > 1e-8
        while pending.any():
            at = np.flatnonzero(pending)
            idx = live[at]
            nt = np.clip(theta[idx] + step[at], lo, hi)
            nf, nr = value(idx, np.exp(nt))
            ok = nf >= f[idx]
            theta[idx[ok]], f[idx[ok]], r[idx[ok]] = nt[ok], nf[ok], nr[ok]
            step[at[~ok]] /= 2
            pending[at[ok]] = False
            pending &= np.abs(step) > 1e-8
        live = live[~(np.abs(step) < 1e-7)]
        if not len(live):
            break
    return np.exp(theta)
