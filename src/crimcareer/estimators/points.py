"""A points score from a weighted logistic regression (``PointsScore``), and its validation:
AUC with a DeLong confidence interval, calibration intercept and slope.

The regression is statsmodels' GLM (binomial, robust HC0 standard errors, ``var_weights`` for
inverse-probability weights of a case-control sample); the points are the coefficients in units
of ``point_log_odds`` (by default log(1.1): "each point ~ 10% higher odds"), rounded.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.special import expit, logit
from scipy.stats import norm, rankdata

from crimcareer.estimators._checks import EstimatorInputError, require_columns

POINT_LOG_ODDS = math.log(1.1)


# -- validation metrics -------------------------------------------------------------------------------
def delong_auc(y: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """AUC and its DeLong variance (midrank algorithm of Sun & Xu 2014).

    Hand-written: scikit-learn gives the AUC but no variance, and no installed library offers
    DeLong's variance; this O(n log n) form is checked against a brute-force reference in tests.
    """
    y = np.asarray(y, dtype=bool)
    s = np.asarray(score, dtype=float)
    pos, neg = s[y], s[~y]
    m, n = len(pos), len(neg)
    if m == 0 or n == 0:
        return float("nan"), float("nan")
    tz = rankdata(np.concatenate([pos, neg]))
    tx, ty = rankdata(pos), rankdata(neg)
    auc = (tz[:m].sum() - m * (m + 1) / 2) / (m * n)
    v10 = (tz[:m] - tx) / n          # per positive: share of negatives scored lower (ties 1/2)
    v01 = 1.0 - (tz[m:] - ty) / m    # per negative: share of positives scored higher
    var = (np.var(v10, ddof=1) / m if m > 1 else 0.0) + (np.var(v01, ddof=1) / n if n > 1 else 0.0)
    return float(auc), float(var)


def auc_with_ci(y: np.ndarray, score: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """AUC with a DeLong confidence interval (computed on the logit scale, so it stays in 0..1)."""
    auc, var = delong_auc(y, score)
    if not np.isfinite(auc) or auc in (0.0, 1.0) or var <= 0:
        return auc, auc, auc
    z = norm.ppf(0.5 + level / 2)
    se_logit = math.sqrt(var) / (auc * (1 - auc))
    return auc, float(expit(logit(auc) - z * se_logit)), float(expit(logit(auc) + z * se_logit))


def calibration_intercept_slope(y: np.ndarray, risk: np.ndarray, w: np.ndarray | None = None) -> tuple[float, float]:
    """Calibration-in-the-large (intercept with the log-odds as offset) and calibration slope."""
    y = np.asarray(y, dtype=float)
    w = np.ones(len(y)) if w is None else np.asarray(w, dtype=float)
    lp = logit(np.clip(np.asarray(risk, dtype=float), 1e-12, 1 - 1e-12))
    fam = sm.families.Binomial()
    a = sm.GLM(y, np.ones((len(y), 1)), family=fam, offset=lp, var_weights=w).fit().params[0]
    b = sm.GLM(y, sm.add_constant(lp), family=fam, var_weights=w).fit().params[1]
    return float(a), float(b)


# -- the estimator -------------------------------------------------------------------------------------
class PointsScore:
    """Weighted logistic regression on binary risk factors (and optional numeric ones) with an
    integer points score, in the style of scikit-learn.

    ``fit(frame, y=, X=, weight=None)``: ``y`` the outcome column (true/false or 1/0), ``X`` the
    predictor columns, ``weight`` an optional column of (inverse-probability) weights. Columns
    named in ``numeric`` enter as value minus the given centre (e.g. ``{"age": 12}``); all
    others are binary (empty = absent). A binary predictor is dropped when all its values are
    empty, or when any cell of its 2x2 table with the outcome has fewer than ``min_cell`` persons
    (quasi-separation, and disclosure); a numeric one only when all empty. The reason is in
    ``dropped_``.

    After fit: ``predictors_`` (kept, in the given order), ``coef_`` (Series: ``intercept`` and
    one per predictor), ``bse_`` (robust HC0 standard errors), ``points_`` (dict), ``dropped_``,
    ``n_obs_``, ``df_resid_``, ``category_counts_`` (persons per level of each binary predictor
    and with the outcome). Methods: ``decision_function``, ``predict_proba`` ((n, 2) as in
    scikit-learn), ``predict_risk`` (the second column), ``points`` (integer points per row),
    ``risk_of_points`` and ``validate(frame)``.
    """

    def __init__(self, numeric: Mapping[str, float] | None = None, min_cell: int = 10,
                 point_log_odds: float = POINT_LOG_ODDS) -> None:
        self.numeric = dict(numeric or {})
        self.min_cell = int(min_cell)
        self.point_log_odds = float(point_log_odds)

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame, y: str, X: Sequence[str], weight: str | None = None) -> "PointsScore":
        X = [X] if isinstance(X, str) else list(X)
        require_columns("PointsScore.fit", "frame", frame, [y, *X, weight])
        self.y_, self.weight_ = y, weight
        yy = self._outcome(frame, "PointsScore.fit")
        w = frame[weight].astype(float).to_numpy() if weight is not None else np.ones(len(frame))
        kept, dropped, counts = [], {}, {}
        for p in X:
            if frame[p].isna().all():
                dropped[p] = "not available"
                continue
            if p in self.numeric:
                kept.append(p)
                continue
            x = frame[p].fillna(False).astype(bool).to_numpy()
            cells = {"case&1": int((x & yy).sum()), "case&0": int((~x & yy).sum()),
                     "noncase&1": int((x & ~yy).sum()), "noncase&0": int((~x & ~yy).sum())}
            if min(cells.values()) < self.min_cell:
                dropped[p] = f"a cell with the outcome has fewer than {self.min_cell} persons"
                continue
            kept.append(p)
            counts[f"{p}=1"] = cells["case&1"] + cells["noncase&1"]
            counts[f"{p}=0"] = cells["case&0"] + cells["noncase&0"]
            counts[f"{p}=1,outcome"] = cells["case&1"]
        self.predictors_ = kept
        design = sm.add_constant(self.design(frame), has_constant="add").rename(columns={"const": "intercept"})
        res = sm.GLM(yy.astype(float), design, family=sm.families.Binomial(),
                     var_weights=w).fit(cov_type="HC0")
        self.coef_ = pd.Series(res.params, index=design.columns)
        self.bse_ = pd.Series(res.bse, index=design.columns)
        self.points_ = {p: int(round(self.coef_[p] / self.point_log_odds)) for p in kept}
        self.dropped_ = dropped
        self.n_obs_ = len(frame)
        self.df_resid_ = float(res.df_resid)
        self.category_counts_ = counts
        return self

    def _outcome(self, frame: pd.DataFrame, where: str) -> np.ndarray:
        v = frame[self.y_]
        if v.isna().any():
            raise EstimatorInputError(f"{where}: outcome column {self.y_!r} has {int(v.isna().sum())} empty value(s)")
        return v.astype(bool).to_numpy()

    # -- prediction ----------------------------------------------------------------------------
    def design(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The design matrix of the kept predictors (numeric ones centred) for a frame."""
        require_columns("PointsScore", "frame", frame, self.predictors_)
        X = pd.DataFrame(index=frame.index)
        for p in self.predictors_:
            if p in self.numeric:
                X[p] = frame[p].astype(float) - self.numeric[p]
            else:
                X[p] = frame[p].fillna(False).astype(float)
        return X

    def decision_function(self, frame: pd.DataFrame) -> np.ndarray:
        """Log-odds of the outcome per row."""
        X = self.design(frame)
        return self.coef_["intercept"] + X.to_numpy() @ self.coef_[self.predictors_].to_numpy()

    def predict_risk(self, frame: pd.DataFrame) -> np.ndarray:
        """Probability of the outcome per row."""
        return expit(self.decision_function(frame))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """(n, 2): probability of no outcome and of the outcome, as in scikit-learn."""
        p = self.predict_risk(frame)
        return np.column_stack([1 - p, p])

    def points(self, frame: pd.DataFrame) -> np.ndarray:
        """Integer points per row: the sum of each present factor's points."""
        X = self.design(frame)
        pts = np.array([self.points_[p] for p in self.predictors_], dtype=float)
        return (X.to_numpy() @ pts).round().astype(int)

    def risk_of_points(self, points) -> np.ndarray:
        """Risk implied by a points total (intercept plus points times ``point_log_odds``)."""
        return expit(self.coef_["intercept"] + self.point_log_odds * np.asarray(points, dtype=float))

    # -- validation ----------------------------------------------------------------------------
    def validate(self, frame: pd.DataFrame, level: float = 0.95) -> pd.Series:
        """Discrimination and calibration on a (later, independent) frame with the same columns.

        AUC of the predicted risk with a DeLong interval (unweighted: with a simple random
        sample of non-cases the AUC is unbiased), AUC of the points, and the calibration
        intercept (log-odds as offset) and slope, weighted when the fit had a weight column.
        """
        require_columns("PointsScore.validate", "frame", frame,
                        [self.y_, *self.predictors_, self.weight_])
        yy = self._outcome(frame, "PointsScore.validate")
        w = frame[self.weight_].astype(float).to_numpy() if self.weight_ else None
        risk = self.predict_risk(frame)
        auc, lo, hi = auc_with_ci(yy, risk, level)
        auc_pts, _, _ = auc_with_ci(yy, self.points(frame), level)
        a, b = calibration_intercept_slope(yy, risk, w)
        return pd.Series({"n": len(frame), "n_outcome": int(yy.sum()), "auc": auc,
                          "auc_ci_low": lo, "auc_ci_high": hi, "auc_points": auc_pts,
                          "calibration_intercept": a, "calibration_slope": b})
