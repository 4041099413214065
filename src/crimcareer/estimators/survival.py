"""Cumulative incidence with competing risks: ``AalenJohansen``, lifelines' AalenJohansenFitter
made deterministic on ties (Kaplan-Meier: use lifelines' own ``KaplanMeierFitter``).

lifelines' AalenJohansenFitter jitters tied event times of different causes with numpy's global
random state, so a refit gives other numbers. Instead every time of the event of interest is
moved a thousandth of a time unit earlier: with integer-day durations no two causes then tie,
and the point estimate is exactly the tied Aalen-Johansen estimate (the event of interest at t
sees the same risk set and S(t-); competing events then leave the risk set before anything
censored at t). The fit itself, its variance and its log-log confidence bounds are lifelines'.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from crimcareer.estimators._checks import EstimatorInputError

TIE_SHIFT = 1e-3  # time units (days in the study); see the module docstring


def step_at(index: np.ndarray, values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Right-continuous step function (index, values) evaluated at times (values[0] before)."""
    pos = np.searchsorted(index, times, side="right") - 1
    return np.asarray(values, dtype=float)[np.clip(pos, 0, None)]


def shifted_durations(durations: np.ndarray, causes: np.ndarray, event_of_interest: int = 1,
                      shift: float = TIE_SHIFT) -> np.ndarray:
    """Durations with every time of the event of interest moved `shift` earlier (see above)."""
    d = np.asarray(durations, dtype=float).copy()
    d[np.asarray(causes) == event_of_interest] -= shift
    return d


@functools.lru_cache(maxsize=16)
def aalen_johansen_arrays(d_bytes: bytes, c_bytes: bytes, event_of_interest: int = 1, shift: float = TIE_SHIFT,
                alpha: float = 0.05) -> tuple[np.ndarray, ...]:
    # Cached: the study evaluates one fit at several grids, and the variance loop in lifelines
    # is slow (a Python loop over event times). Returns (times, estimate, bound a, bound b).
    from lifelines import AalenJohansenFitter

    d = np.frombuffer(d_bytes, dtype=float)
    c = np.frombuffer(c_bytes, dtype=int)
    aj = AalenJohansenFitter(calculate_variance=True, alpha=alpha)
    aj.fit(shifted_durations(d, c, event_of_interest, shift), c, event_of_interest=event_of_interest)
    idx = aj.cumulative_density_.index.to_numpy(dtype=float)
    ci = aj.confidence_interval_cumulative_density_
    return (idx, aj.cumulative_density_.iloc[:, 0].to_numpy(), ci.iloc[:, 0].to_numpy(),
            ci.iloc[:, 1].to_numpy())


def cumulative_incidence_at(durations: np.ndarray, causes: np.ndarray, times: np.ndarray,
                            event_of_interest: int = 1, alpha: float = 0.05
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(estimate, ci_low, ci_high) of the cumulative incidence of `event_of_interest` at times.

    causes: 0 censored, any other value an event of that cause. No event of interest: 0 with a
    zero-width interval; no persons: NaN. Bounds below a zero estimate are 0 and missing ones
    (lifelines leaves them empty where F = 1 or F = 0) become 0 (low) and 1 (high).
    """
    d = np.ascontiguousarray(durations, dtype=float)
    c = np.ascontiguousarray(causes, dtype=int)
    t = np.asarray(times, dtype=float)
    if len(d) == 0 or not (c == event_of_interest).any():
        est = np.full(len(t), 0.0 if len(d) else np.nan)
        return est, est.copy(), est.copy()
    idx, f, ci_a, ci_b = aalen_johansen_arrays(d.tobytes(), c.tobytes(), int(event_of_interest), TIE_SHIFT,
                                     float(alpha))
    est = step_at(idx, f, t)
    a = step_at(idx, ci_a, t)
    b = step_at(idx, ci_b, t)
    # Bounds by min/max of lifelines' two columns: it labels them the wrong way round (the
    # "upper" column holds the lower bound), so never trust the names.
    lo, hi = np.fmin(a, b), np.fmax(a, b)
    return (est, np.where(est > 0, np.nan_to_num(lo, nan=0.0), 0.0),
            np.where(est > 0, np.nan_to_num(hi, nan=1.0), 0.0))


class AalenJohansen:
    """Aalen-Johansen cumulative incidence of one cause with competing causes, with lifelines'
    names: ``fit(durations, event_observed, event_of_interest)`` where ``event_observed`` holds
    the cause per person (0 = censored). Tied times are resolved deterministically (no jitter).

    After fit: ``cumulative_density_`` (DataFrame indexed by time, column ``CIF_<cause>``),
    ``confidence_interval_cumulative_density_`` (columns ``<label>_lower_<1-alpha>`` and
    ``<label>_upper_<1-alpha>``, correctly ordered), ``event_of_interest_``, ``n_``, and
    ``cumulative_density_at_times(times)`` (a Series). The event times in the index are those
    of lifelines' fit after the tie shift (``tie_shift`` earlier for the event of interest).
    """

    def __init__(self, alpha: float = 0.05, tie_shift: float = TIE_SHIFT, label: str = "AJ_estimate") -> None:
        self.alpha = alpha
        self.tie_shift = tie_shift
        self.label = label

    def fit(self, durations, event_observed, event_of_interest: int = 1) -> "AalenJohansen":
        d = np.asarray(durations, dtype=float).ravel()
        c = np.asarray(event_observed).ravel()
        where = "AalenJohansen.fit"
        if len(d) != len(c):
            raise EstimatorInputError(
                f"{where}: durations has {len(d)} values but event_observed has {len(c)}")
        if np.isnan(d).any() or (d < 0).any():
            raise EstimatorInputError(f"{where}: durations must be non-negative numbers without gaps")
        if not np.issubdtype(c.dtype, np.number) or np.isnan(c.astype(float)).any():
            raise EstimatorInputError(f"{where}: event_observed must hold integer cause codes (0 = censored)")
        c = c.astype(int)
        self.event_of_interest_ = int(event_of_interest)
        self.n_ = len(d)
        self._d, self._c = np.ascontiguousarray(d), np.ascontiguousarray(c)
        name = f"CIF_{self.event_of_interest_}"
        lo_name, hi_name = f"{self.label}_lower_{1 - self.alpha:g}", f"{self.label}_upper_{1 - self.alpha:g}"
        if len(d) and (c == self.event_of_interest_).any():
            idx, f, a, b = aalen_johansen_arrays(self._d.tobytes(), self._c.tobytes(), self.event_of_interest_,
                                       float(self.tie_shift), float(self.alpha))
            self.cumulative_density_ = pd.DataFrame({name: f}, index=pd.Index(idx, name="event_at"))
            self.confidence_interval_cumulative_density_ = pd.DataFrame(
                {lo_name: np.fmin(a, b), hi_name: np.fmax(a, b)}, index=self.cumulative_density_.index)
        else:
            self.cumulative_density_ = pd.DataFrame({name: [0.0 if len(d) else np.nan]},
                                                    index=pd.Index([0.0], name="event_at"))
            self.confidence_interval_cumulative_density_ = pd.DataFrame(
                {lo_name: self.cumulative_density_[name].to_numpy(),
                 hi_name: self.cumulative_density_[name].to_numpy()},
                index=self.cumulative_density_.index)
        return self

    def cumulative_density_at_times(self, times) -> pd.Series:
        """The estimate at each time (right-continuous step function; 0 before the first event)."""
        t = np.atleast_1d(np.asarray(times, dtype=float))
        cd = self.cumulative_density_
        est = step_at(cd.index.to_numpy(dtype=float), cd.iloc[:, 0].to_numpy(), t)
        return pd.Series(est, index=t, name=cd.columns[0])

    def confidence_interval_at_times(self, times) -> pd.DataFrame:
        """Lower and upper bound at each time (0 and 1 where lifelines leaves them empty; a zero
        estimate has a zero-width interval)."""
        t = np.atleast_1d(np.asarray(times, dtype=float))
        est = self.cumulative_density_at_times(t).to_numpy()
        ci = self.confidence_interval_cumulative_density_
        idx = ci.index.to_numpy(dtype=float)
        lo = step_at(idx, ci.iloc[:, 0].to_numpy(), t)
        hi = step_at(idx, ci.iloc[:, 1].to_numpy(), t)
        return pd.DataFrame({ci.columns[0]: np.where(est > 0, np.nan_to_num(lo, nan=0.0), 0.0),
                             ci.columns[1]: np.where(est > 0, np.nan_to_num(hi, nan=1.0), 0.0)},
                            index=t)
