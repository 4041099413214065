"""Matching of controls to treated persons: exact strata (``ExactMatcher``) or the nearest
propensity logit within exact strata (``NearestMatcher``), k:1 without replacement, seeded.

The numerics here are the ones the study's control groups use (``crimcareer.study.controls``
draws the pool in the engine and calls :func:`drawn_ranks`, :func:`greedy_exact_assignment`,
:func:`propensity_logit` and :func:`greedy_nearest_assignment`); the two classes apply them to
pandas frames a user already has.

The matchers are hand-written: no Python matching library is fit for register scale or lacks
exact strata (psmpy: slow and matched far outside its caliper; pysmatch: no exact matching;
pymatchit-causal: memory grows with treated x controls).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from crimcareer.estimators._checks import EstimatorInputError, require_columns

_NA = "?"  # stratum value for a null key


# -- seeded draws (numpy) ----------------------------------------------------------------------
def drawn_ranks(sizes: np.ndarray, wanted: np.ndarray, rng: np.random.Generator,
                already: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """Per stratum, a uniform random sample (in random order) of `wanted` numbers from 0..size-1,
    excluding numbers `already` drawn; strata are processed in order, so a seed fixes the result."""
    out = []
    for s, (n, k) in enumerate(zip(sizes, wanted)):
        prev = already[s] if already is not None else np.empty(0, dtype=np.int64)
        left = int(n) - len(prev)
        k = int(min(k, left))
        if k <= 0:
            out.append(np.empty(0, dtype=np.int64))
        elif len(prev) == 0:
            out.append(rng.choice(int(n), size=k, replace=False).astype(np.int64))
        else:
            rest = np.setdiff1d(np.arange(int(n), dtype=np.int64), prev, assume_unique=True)
            out.append(rng.permutation(rest)[:k])
    return out


# -- assignment (pandas/numpy, cohort-sized) ---------------------------------------------------
def eligible_at(cands: pd.DataFrame, at: pd.Timestamp) -> np.ndarray:
    """Candidates alive, resident and born at a date (death/emigration null or after it).

    `cands` has datetime columns birth_date, death_date and emigration_date."""
    death = cands["death_date"].to_numpy(dtype="datetime64[ns]")
    emig = cands["emigration_date"].to_numpy(dtype="datetime64[ns]")
    birth = cands["birth_date"].to_numpy(dtype="datetime64[ns]")
    at = np.datetime64(at, "ns")
    return ((np.isnat(death) | (death > at)) & (np.isnat(emig) | (emig > at)) & (birth <= at))


def greedy_exact_assignment(offenders: pd.DataFrame, candidates: pd.DataFrame, ratio: int,
                            used: set[str] | None = None,
                            have: dict[str, int] | None = None) -> list[tuple[str, str]]:
    """Greedy k:1 assignment within strata: (control person_id, offender person_id) pairs.

    `offenders` (person_id, index_date, stratum) are taken in their row order, once per round
    (ratio rounds, as MatchIt does); each takes the first unused candidate of its stratum, in
    the candidates' row order, that is alive and resident at its index date (:func:`eligible_at`;
    candidates have person_id, stratum, birth_date, death_date, emigration_date). `used`/`have`
    carry state over from earlier rounds of drawing.
    """
    used = set() if used is None else used
    have = {} if have is None else have
    pairs: list[tuple[str, str]] = []
    by_stratum = {s: g for s, g in candidates.groupby("stratum", sort=False)}
    elig_cache: dict[tuple, np.ndarray] = {}
    for _ in range(ratio):
        for o in offenders.itertuples(index=False):
            if have.get(o.person_id, 0) >= ratio:
                continue
            g = by_stratum.get(o.stratum)
            if g is None:
                continue
            key = (o.stratum, o.index_date)
            if key not in elig_cache:
                elig_cache[key] = eligible_at(g, o.index_date)
            ids = g["person_id"].to_numpy()
            for pid in ids[elig_cache[key]]:
                if pid not in used:
                    used.add(pid)
                    have[o.person_id] = have.get(o.person_id, 0) + 1
                    pairs.append((pid, o.person_id))
                    break
            else:
                continue
    return pairs


def propensity_logit(X: np.ndarray, treated: np.ndarray) -> np.ndarray:
    """Logit of a logistic propensity model on standardised covariates X (rows x covariates),
    `treated` a boolean per row; constant columns are left out (all constant: zeros)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    X = np.asarray(X, dtype=float)
    y = np.asarray(treated, dtype=bool).astype(float)
    keep = X.std(axis=0) > 0 if X.shape[1] else np.zeros(0, dtype=bool)
    if not keep.any():
        return np.zeros(len(y))
    # Standardising matters: with a raw birth year the solver stopped at a wrong solution.
    Xs = StandardScaler().fit_transform(X[:, keep])
    model = LogisticRegression(C=np.inf, max_iter=1000).fit(Xs, y)
    return model.decision_function(Xs)


def greedy_nearest_assignment(offenders: pd.DataFrame, candidates: pd.DataFrame, ratio: int,
                              caliper: float) -> list[tuple[str, str]]:
    """Greedy nearest-neighbour k:1 matching on `logit` within strata, caliper in logit units.

    Offenders (person_id, index_date, stratum, logit) are taken in their row order (callers sort
    by descending logit, MatchIt's "largest"); in each of `ratio` rounds each offender takes the
    nearest unused candidate of its stratum that is alive and resident at its index date and
    lies within the caliper; an offender without one in a round gets no further controls.
    """
    from sklearn.neighbors import NearestNeighbors

    used: set[str] = set()
    dropped: set[str] = set()
    pairs: list[tuple[str, str]] = []
    groups = {s: g.reset_index(drop=True) for s, g in candidates.groupby("stratum", sort=False)}
    models = {s: NearestNeighbors(n_neighbors=1).fit(g[["logit"]].to_numpy()) for s, g in groups.items()}
    for _ in range(ratio):
        for o in offenders.itertuples(index=False):
            if o.person_id in dropped or o.stratum not in groups:
                dropped.add(o.person_id)
                continue
            g, nn = groups[o.stratum], models[o.stratum]
            elig = eligible_at(g, o.index_date)
            ids = g["person_id"].to_numpy()
            k, found = min(8, len(g)), None
            while found is None:
                dist, idx = nn.kneighbors(np.array([[o.logit]]), n_neighbors=k)
                for d, i in zip(dist[0], idx[0]):
                    if d > caliper:
                        k = len(g)  # sorted by distance: nothing further is within the caliper
                        break
                    if elig[i] and ids[i] not in used:
                        found = ids[i]
                        break
                if found is not None or k >= len(g):
                    break
                k = min(len(g), k * 4)
            if found is None:
                dropped.add(o.person_id)
            else:
                used.add(found)
                pairs.append((found, o.person_id))
    return pairs


# -- the public estimators ---------------------------------------------------------------------
_EPOCH = pd.Timestamp("1970-01-01")


class _Matcher:
    """What ExactMatcher and NearestMatcher share: columns, the index-date rule and results."""

    def _setup(self, on: Sequence[str], ratio: int, seed: int, id: str, index_date: str | None,
               birth: str | None, death: str | None, emigration: str | None) -> None:
        if isinstance(on, str):
            on = [on]
        if int(ratio) < 1:
            raise EstimatorInputError(f"{type(self).__name__}: ratio must be at least 1, not {ratio!r}")
        self.on = list(on)
        self.ratio = int(ratio)
        self.seed = seed
        self.id = id
        self.index_date = index_date
        self.birth = birth
        self.death = death
        self.emigration = emigration

    def _columns(self, treated: pd.DataFrame, pool: pd.DataFrame, extra: list[str]) -> None:
        where = f"{type(self).__name__}.fit"
        rule = [self.birth, self.death, self.emigration] if self.index_date else []
        require_columns(where, "treated", treated, [self.id, *self.on, *extra, self.index_date])
        require_columns(where, "pool", pool, [self.id, *self.on, *extra, *rule])
        for what, f in (("treated", treated), ("pool", pool)):
            dup = f[self.id].duplicated()
            if dup.any():
                raise EstimatorInputError(
                    f"{where}: {what} has {int(dup.sum())} repeated value(s) in {self.id!r}; "
                    "give one row per person")

    def _frames(self, treated: pd.DataFrame, pool: pd.DataFrame) -> tuple[pd.DataFrame, ...]:
        """Treated (person_id, index_date, stratum) and candidates (person_id, stratum and the
        dates of the index-date rule), both sorted by id; pool persons who are treated are left out."""
        t = treated.sort_values(self.id, kind="stable").reset_index(drop=True)
        p = pool[~pool[self.id].isin(set(treated[self.id]))]
        p = p.sort_values(self.id, kind="stable").reset_index(drop=True)
        keys = pd.concat([t[self.on], p[self.on]], ignore_index=True).astype(object)
        keys = keys.where(keys.notna(), _NA)
        codes = keys.groupby(self.on, sort=False, dropna=False).ngroup().to_numpy(dtype=np.int64)
        off = pd.DataFrame({"person_id": t[self.id].to_numpy(dtype=object),
                            "stratum": codes[: len(t)]})
        cand = pd.DataFrame({"person_id": p[self.id].to_numpy(dtype=object),
                             "stratum": codes[len(t):]})
        nat = pd.Series(pd.NaT, index=p.index, dtype="datetime64[ns]")
        if self.index_date:
            off["index_date"] = pd.to_datetime(t[self.index_date]).astype("datetime64[ns]")
            if off["index_date"].isna().any():
                raise EstimatorInputError(
                    f"{type(self).__name__}.fit: treated has {int(off['index_date'].isna().sum())} "
                    f"empty value(s) in {self.index_date!r}")
            for col, src in (("birth_date", self.birth), ("death_date", self.death),
                             ("emigration_date", self.emigration)):
                cand[col] = pd.to_datetime(p[src]).astype("datetime64[ns]") if src else nat
            if not self.birth:
                cand["birth_date"] = pd.Timestamp.min
        else:  # no rule: everyone counts, at one shared date
            off["index_date"] = _EPOCH
            cand["birth_date"] = pd.Timestamp.min
            cand["death_date"] = nat
            cand["emigration_date"] = nat
        return off, cand, t, p

    def _results(self, treated_ids: pd.Series, pairs: list[tuple[str, str]]) -> None:
        self.pairs_ = pd.DataFrame(pairs, columns=["control", "treated"]) if pairs else \
            pd.DataFrame({"control": pd.Series(dtype=object), "treated": pd.Series(dtype=object)})
        n = self.pairs_.groupby("treated").size()
        have = treated_ids.map(n).fillna(0).astype(int)
        self.n_controls_ = pd.Series(have.to_numpy(), index=treated_ids.to_numpy(), name="controls")
        self.unmatched_ = treated_ids[have.to_numpy() == 0].to_numpy()
        self.partially_matched_ = treated_ids[(have > 0).to_numpy() & (have < self.ratio).to_numpy()].to_numpy()


class ExactMatcher(_Matcher):
    """Exact k:1 matching without replacement, in the style of MatchIt's ``method = "exact"``
    with a fixed ratio: each treated person gets up to ``ratio`` controls from the pool with the
    same values of the ``on`` columns (empty values form their own stratum).

    Order is seeded: treated persons are taken in a random order (which decides who gets a scarce
    control), ``ratio`` rounds of one control each (as MatchIt does), and each takes a random
    remaining control of its stratum. With ``index_date`` (a column of ``treated``) a control
    counts only if born on or before, and neither dead nor emigrated on or before, the treated
    person's index date (pool columns ``birth``, ``death``, ``emigration``; None leaves that part
    out; empty dates mean "not dead" / "not emigrated").

    After ``fit(treated, pool)``: ``pairs_`` (columns control, treated: the ``id`` values),
    ``n_controls_`` (per treated id), ``unmatched_`` (treated ids without a control),
    ``partially_matched_`` (with fewer than ``ratio``) and ``n_strata_``.
    """

    def __init__(self, on: Sequence[str], ratio: int = 1, seed: int = 0, id: str = "person_id",
                 index_date: str | None = None, birth: str | None = "birth_date",
                 death: str | None = "death_date", emigration: str | None = "emigration_date") -> None:
        self._setup(on, ratio, seed, id, index_date, birth, death, emigration)

    def fit(self, treated: pd.DataFrame, pool: pd.DataFrame) -> "ExactMatcher":
        self._columns(treated, pool, [])
        off, cand, t, _ = self._frames(treated, pool)
        rng = np.random.default_rng(self.seed)
        off = off.iloc[rng.permutation(len(off))].reset_index(drop=True)
        n_strata = int(max(off["stratum"].max() if len(off) else -1,
                           cand["stratum"].max() if len(cand) else -1)) + 1
        # Random order within each stratum: the pool numbered by id, then drawn without replacement.
        sizes = np.bincount(cand["stratum"].to_numpy(), minlength=n_strata)
        ranks = drawn_ranks(sizes, sizes, rng)
        pos = np.empty(len(cand), dtype=np.int64)
        cand = cand.sort_values("stratum", kind="stable").reset_index(drop=True)
        start = np.r_[0, np.cumsum(sizes)[:-1]]
        for s in range(n_strata):
            pos[start[s]:start[s] + sizes[s]] = start[s] + ranks[s]
        cand = cand.iloc[pos].reset_index(drop=True)
        pairs = greedy_exact_assignment(off, cand, self.ratio)
        self.n_strata_ = n_strata
        self._results(t[self.id], pairs)
        return self


class NearestMatcher(_Matcher):
    """Greedy nearest-neighbour k:1 matching on the logit of a logistic propensity score (as
    MatchIt's ``method = "nearest"``, ``m.order = "largest"``), with a caliper of ``caliper_sd``
    standard deviations of the logit, within exact strata ``exact`` (may be empty).

    ``covariates`` are columns of both frames: numeric ones are used as they are, others
    one-hot coded (empty values a level of their own, the first level the reference). The
    seed orders treated persons with equal logits. The index-date rule and the results are as
    in :class:`ExactMatcher`; ``logit_`` (treated and pool, by id) and ``caliper_`` (logit units)
    are added. Needs scikit-learn (the model and the neighbour search).
    """

    def __init__(self, covariates: Sequence[str], exact: Sequence[str] = (), ratio: int = 1,
                 caliper_sd: float = 0.2, seed: int = 0, id: str = "person_id",
                 index_date: str | None = None, birth: str | None = "birth_date",
                 death: str | None = "death_date", emigration: str | None = "emigration_date") -> None:
        self._setup(exact, ratio, seed, id, index_date, birth, death, emigration)
        self.exact = list(self.on)
        self.covariates = [covariates] if isinstance(covariates, str) else list(covariates)
        self.caliper_sd = float(caliper_sd)

    def fit(self, treated: pd.DataFrame, pool: pd.DataFrame) -> "NearestMatcher":
        self._columns(treated, pool, self.covariates)
        if not self.on:  # one stratum
            treated, pool = treated.assign(_all=0), pool.assign(_all=0)
            self.on = ["_all"]
        try:
            off, cand, t, p = self._frames(treated, pool)
        finally:
            self.on = list(self.exact)
        both = pd.concat([t[self.covariates], p[self.covariates]], ignore_index=True)
        cols = {}
        for c in self.covariates:
            v = both[c]
            if pd.api.types.is_numeric_dtype(v) and not pd.api.types.is_bool_dtype(v):
                if v.isna().any():
                    raise EstimatorInputError(
                        f"NearestMatcher.fit: numeric covariate {c!r} has {int(v.isna().sum())} "
                        "empty value(s); fill or drop them first")
                cols[c] = v.astype(float)
            else:
                vals = v.astype(object).where(v.notna(), _NA).astype(str)
                for level in sorted(vals.unique())[1:]:
                    cols[f"{c}={level}"] = (vals == level).astype(float)
        X = pd.DataFrame(cols, index=both.index).to_numpy(dtype=float).reshape(len(both), len(cols))
        z = propensity_logit(X, np.r_[np.ones(len(t), bool), np.zeros(len(p), bool)])
        off["logit"], cand["logit"] = z[: len(t)], z[len(t):]
        sd = float(np.std(z, ddof=1)) if len(z) > 1 else 0.0
        self.caliper_ = self.caliper_sd * sd
        rng = np.random.default_rng(self.seed)
        off = off.iloc[rng.permutation(len(off))]
        off = off.sort_values("logit", ascending=False, kind="stable").reset_index(drop=True)
        pairs = greedy_nearest_assignment(off, cand, self.ratio, self.caliper_)
        self.logit_ = pd.Series(z, index=np.r_[t[self.id].to_numpy(dtype=object),
                                               p[self.id].to_numpy(dtype=object)], name="logit")
        self.n_strata_ = int(off["stratum"].nunique())
        self._results(t[self.id], pairs)
        return self
