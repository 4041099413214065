"""Matched control groups (CC, NC), the cohort frame, the balance table and the cohort section.

Control pools are Ibis expressions over the whole population. Matching is split so that nothing
population-sized leaves the engine, and all control groups share each engine query (a Spark query
costs seconds; the whole step is four queries plus one per extra drawing round):

1. the offenders (cohort-sized) come to pandas and define the exact strata (``controls.exact``);
2. in the engine, the pool persons of those strata (alive and resident at the stratum's earliest
   index date) are numbered 0..N-1 within (group, stratum) by ``person_id``; string order is
   binary on DuckDB and Spark alike, so the numbers are identical on both;
3. numpy, seeded with ``study.seed`` and the group, draws a uniform random subset of those
   numbers per stratum (a few per offender) and the engine returns just those persons. Engine
   random/hash functions differ between DuckDB and Spark, so no randomness is computed there;
4. a greedy assignment in pandas gives each offender ``ratio`` controls (in rounds, as MatchIt
   does), without replacement, alive and resident at the offender's index date; strata that run
   short draw more persons, until they are exhausted (so the match is maximal).

``controls.method = "propensity"`` replaces step 4 by a greedy nearest-neighbour match on the
logit of a logistic propensity model (standardised covariates, scikit-learn), with a caliper in
SDs of the logit, k:1 in rounds as MatchIt does, within the exact strata. The model is fitted on
the offenders and the engine-drawn sample of the pool (ten per needed control per stratum): a
stratified case-control sample, which shifts the logit by a constant within a stratum and so
leaves nearest neighbours within a stratum unchanged.

The matchers are hand-written: no Python matching library is fit for register scale or lacks
exact strata (psmpy: slow and matched far outside its caliper; pysmatch: no exact matching;
pymatchit-causal: memory grows with treated x controls), see shared/notes/libraries.md. Their
numerics (draws, greedy assignments, the propensity logit) live in
:mod:`crimcareer.estimators.matching`; this module draws the pools and builds the cohort.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa

from crimcareer.adapters.files import Registers
from crimcareer.engine import Engine
from crimcareer.errors import StudyError
from crimcareer.estimators.matching import (  # the matching numerics live with the estimators
    drawn_ranks,
    greedy_exact_assignment,
    greedy_nearest_assignment,
)
from crimcareer.estimators.matching import propensity_logit as fitted_propensity_logit
from crimcareer.study.cohort import (
    counted_cases,
    target_cohort,
    registered_within,
)
from crimcareer.study.spec import StudySpec
from crimcareer.study.wording import target_name

CONTROL_GROUPS = ("CC", "NC")
_GROUP_CODE = {"CC": 1, "NC": 2}  # part of the numpy seed, so groups draw independently
_NA = "?"  # stratum value for a null sex / migration background / origin group
BIG4 = ("MA", "TR", "SR", "AN")
MIGRANT = ("first_generation", "second_generation")
COHORT_COLUMNS = [
    "person_id", "group", "index_date", "index_case_id", "matched_to",
    "sex", "birth_date", "birth_year", "migration_background", "origin_group",
]
BALANCE_VARIABLES = ("male", "birth_year", "migration_any", "origin_big4")
_BINARY = {"male", "migration_any", "origin_big4"}
_OVERSAMPLE = {"exact": 2, "propensity": 10}  # persons drawn per needed control, first round


@dataclass
class CohortResult:
    """The study cohort: pandas frame, the same as an engine table, balance and matching counts."""

    frame: pd.DataFrame
    table: ir.Table
    balance: pd.DataFrame
    unmatched: dict[str, int]
    pool_sizes: dict[str, int]
    extra: dict = field(default_factory=dict)  # e.g. propensity calipers per group
    target: str = ""  # the target group's code (spec.target.label) in frame["group"]


# -- pools (population scale, Ibis) ------------------------------------------------------------
def criminal_control_pool(reg: Registers, spec: StudySpec) -> ir.Table:
    """Persons (person_id) never having a case in the excluded categories (any outcome), with a
    counted case of another category registered within the target period."""
    cases = reg.cases
    excluded = cases.filter(cases.offence_category.isin(list(spec.controls.exclude_categories)))
    c = counted_cases(cases, spec)
    other = c.filter(
        ~c.offence_category.isin(list(spec.controls.exclude_categories))
        & registered_within(c, spec.target.period)
    )
    p = reg.persons
    pool = p.semi_join(other, p.person_id == other.person_id)
    pool = pool.anti_join(excluded, pool.person_id == excluded.person_id)
    dse = target_cohort(reg, spec)  # only matters when target categories are not excluded ones
    pool = pool.anti_join(dse, pool.person_id == dse.person_id)
    return pool.select("person_id")


def noncriminal_control_pool(reg: Registers, spec: StudySpec) -> ir.Table:
    """Persons (person_id) with no case at all (any category, any outcome) up to the cut-off."""
    cases = reg.cases
    upto = cases.filter(cases.offence_date <= ibis.literal(reg.cutoff, type="date"))
    p = reg.persons
    return p.anti_join(upto, p.person_id == upto.person_id).select("person_id")


def control_pool(reg: Registers, spec: StudySpec, group: str) -> ir.Table:
    """The pool (person_id) of one control group, `CC` or `NC`."""
    if group == "CC":
        return criminal_control_pool(reg, spec)
    if group == "NC":
        return noncriminal_control_pool(reg, spec)
    raise ValueError(f"unknown control group {group!r}: choose from {CONTROL_GROUPS}")


def person_attributes(persons: ir.Table) -> ir.Table:
    """Persons with the cohort attributes, birth year and derived balance variables."""
    p = persons
    return p.select(
        "person_id", "sex", "birth_date", "migration_background", "origin_group",
        "death_date", "emigration_date",
        birth_year=p.birth_date.year().cast("int64"),
    )


def _stratum_columns(t: ir.Table, exact: list[str]) -> dict[str, ir.Value]:
    """Exact-matching key columns (`s_<var>`) with nulls as their own value."""
    out: dict[str, ir.Value] = {}
    for v in exact:
        if v == "birth_year":
            out["s_birth_year"] = t.birth_date.year().cast("int64")
        else:
            out[f"s_{v}"] = t[v].fill_null(_NA)
    return out


def _stratum_frame(df: pd.DataFrame, exact: list[str]) -> pd.DataFrame:
    out = pd.DataFrame(index=df.index)
    for v in exact:
        if v == "birth_year":
            out["s_birth_year"] = pd.to_datetime(df["birth_date"]).dt.year.astype("int64")
        else:
            out[f"s_{v}"] = df[v].astype(object).where(df[v].notna(), _NA)
    return out


def _covariates(df: pd.DataFrame, covariates: list[str]) -> pd.DataFrame:
    """Numeric covariate columns for the propensity model (categories one-hot, nulls as a level)."""
    cols = {}
    for c in covariates:
        if c == "birth_year":
            cols["birth_year"] = pd.to_datetime(df["birth_date"]).dt.year.astype(float)
        elif c in ("sex", "male"):
            cols["male"] = (df["sex"] == "M").astype(float)
        elif c == "migration_any":
            cols[c] = df["migration_background"].isin(MIGRANT).astype(float)
        elif c == "origin_big4":
            cols[c] = df["origin_group"].isin(BIG4).astype(float)
        elif c in ("migration_background", "origin_group"):
            vals = df[c].astype(object).where(df[c].notna(), _NA)
            for level in sorted(vals.unique())[1:]:  # first level is the reference
                cols[f"{c}={level}"] = (vals == level).astype(float)
        else:
            raise ValueError(
                f"controls.propensity_covariates: unknown covariate {c!r}; use birth_year, sex, "
                "migration_background, origin_group, migration_any or origin_big4"
            )
    return pd.DataFrame(cols, index=df.index)


def propensity_logit(treated: pd.DataFrame, controls: pd.DataFrame,
                     covariates: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Logit of a logistic propensity model (standardised covariates): (treated, controls)."""
    both = pd.concat([treated, controls], ignore_index=True)
    X = _covariates(both, covariates).to_numpy(dtype=float)
    z = fitted_propensity_logit(X, np.r_[np.ones(len(treated), bool), np.zeros(len(controls), bool)])
    return z[: len(treated)], z[len(treated):]


# -- matching driver ---------------------------------------------------------------------------
def control_pools(reg: Registers, spec: StudySpec, groups: list[str]) -> ir.Table:
    """The pools of several control groups in one table: person_id, group."""
    parts = [control_pool(reg, spec, g).mutate(group=ibis.literal(g, type="string")) for g in groups]
    return reduce(lambda a, b: a.union(b, distinct=False), parts)


def matched_control_groups(reg: Registers, spec: StudySpec, engine: Engine,
                           offenders: pd.DataFrame, groups: list[str],
                           pools: ir.Table | None = None,
                           pool_sizes: dict[str, int] | None = None,
                           ) -> tuple[dict[str, pd.DataFrame], dict[str, dict]]:
    """Controls matched to the offenders, per group: frame (person_id, matched_to and person
    attributes) and info (unmatched offenders, pool size, caliper, logits for propensity).

    `offenders` holds person_id, index_date and the person attributes (cohort-sized pandas).
    All groups share each engine query (a Spark query costs seconds, so there are few): numbering
    of the pools within strata, stratum sizes, and one fetch of drawn persons per round.
    """
    c = spec.controls
    exact, ratio = list(c.exact), int(c.ratio)
    groups = list(groups)
    pools = control_pools(reg, spec, groups) if pools is None else pools
    if pool_sizes is None:
        ps = engine.to_pandas(pools.group_by("group").agg(n=pools.count()))
        pool_sizes = {g: int(ps.loc[ps.group == g, "n"].sum()) for g in groups}
    empty = pd.DataFrame({"person_id": pd.Series(dtype=object), "matched_to": pd.Series(dtype=object)})
    infos: dict[str, dict] = {g: {"group": g, "pool_size": int(pool_sizes.get(g, 0))} for g in groups}
    if offenders.empty or not groups:
        for g in groups:
            infos[g].update(unmatched=0, partially_matched=0, pool_in_strata=0)
        return {g: empty for g in groups}, infos

    off = offenders.copy()
    off["index_date"] = pd.to_datetime(off["index_date"])
    skeys = _stratum_frame(off, exact)
    strata = (
        pd.concat([skeys, off["index_date"]], axis=1)
        .groupby(list(skeys.columns), sort=True, dropna=False)
        .agg(n_off=("index_date", "size"), first_index=("index_date", "min"))
        .reset_index()
    )
    strata["stratum"] = np.arange(len(strata), dtype=np.int64)
    off["stratum"] = skeys.merge(strata, on=list(skeys.columns), how="left")["stratum"].to_numpy()
    n_strata = len(strata)

    # Engine: pool persons of the offenders' strata who are alive/resident at the stratum's first
    # index date, numbered within (group, stratum) by person_id (identical on every engine).
    st = strata[list(skeys.columns) + ["stratum", "first_index"]].copy()
    st["first_index"] = st["first_index"].dt.date
    st_t = engine.from_pandas(st)
    p = reg.persons
    pp = pools.join(p, pools.person_id == p.person_id).select(
        p.person_id, pools.group, p.sex, p.birth_date, p.migration_background, p.origin_group,
        p.death_date, p.emigration_date)
    pp = pp.mutate(**_stratum_columns(pp, exact))
    j = pp.join(st_t, [pp[k] == st_t[k] for k in skeys.columns])
    j = j.filter(
        (j.death_date.isnull() | (j.death_date > j.first_index))
        & (j.emigration_date.isnull() | (j.emigration_date > j.first_index))
    )
    rank = ibis.row_number().over(group_by=[j.group, j.stratum], order_by=j.person_id)
    ranked = engine.materialize(j.select(j.person_id, j.group, j.stratum, rank=rank))
    sizes_df = engine.to_pandas(ranked.group_by(["group", "stratum"]).agg(size=ranked.count()))
    sizes: dict[str, np.ndarray] = {}
    for g in groups:
        s = sizes_df[sizes_df.group == g]
        sizes[g] = np.zeros(n_strata, dtype=np.int64)
        sizes[g][s["stratum"].to_numpy(dtype=np.int64)] = s["size"].to_numpy(dtype=np.int64)
        infos[g]["pool_in_strata"] = int(sizes[g].sum())

    attrs = person_attributes(p)

    def fetch(new: dict[str, list[np.ndarray]]) -> dict[str, pd.DataFrame]:
        rows = [(g, s, int(r), i) for g, per in new.items()
                for s, rs in enumerate(per) for i, r in enumerate(rs)]
        d = pd.DataFrame(rows, columns=["group", "stratum", "rank", "order"])
        d[["stratum", "rank", "order"]] = d[["stratum", "rank", "order"]].astype("int64")
        d_t = engine.from_pandas(d)
        sel = ranked.join(d_t, [ranked.group == d_t.group, ranked.stratum == d_t.stratum,
                                ranked["rank"] == d_t["rank"]])
        sel = sel.select(ranked.person_id, ranked.group, ranked.stratum, d_t.order)
        sel = sel.join(attrs, sel.person_id == attrs.person_id).select(
            sel.person_id, sel.group, sel.stratum, sel.order,
            *[attrs[x] for x in attrs.columns if x != "person_id"])
        out = engine.to_pandas(sel)
        for col in ("birth_date", "death_date", "emigration_date"):
            out[col] = pd.to_datetime(out[col])
        out = out.sort_values(["group", "stratum", "order"], kind="stable")
        return {g: out[out.group == g].drop(columns="group").reset_index(drop=True) for g in new}

    rngs = {g: np.random.default_rng([int(spec.study.seed), _GROUP_CODE[g]]) for g in groups}
    # Offenders in a seeded random order per group: the order decides who gets a scarce control.
    offs = {g: off.iloc[rngs[g].permutation(len(off))].reset_index(drop=True) for g in groups}
    need = strata["n_off"].to_numpy() * ratio
    wanted = {g: need * _OVERSAMPLE[c.method] + 2 for g in groups}
    drawn = {g: [np.empty(0, dtype=np.int64)] * n_strata for g in groups}
    fetched: dict[str, list[pd.DataFrame]] = {g: [] for g in groups}
    pairs: dict[str, list[tuple[str, str]]] = {g: [] for g in groups}

    if c.method == "exact":
        used: dict[str, set[str]] = {g: set() for g in groups}
        have: dict[str, dict[str, int]] = {g: {} for g in groups}
        active = list(groups)
        while active:
            new = {g: drawn_ranks(sizes[g], wanted[g], rngs[g], drawn[g]) for g in active}
            new = {g: v for g, v in new.items() if any(len(x) for x in v)}
            if not new:
                break
            cands = fetch(new)
            active = []
            for g, v in new.items():
                drawn[g] = [np.r_[a, b] for a, b in zip(drawn[g], v)]
                fetched[g].append(cands[g])
                pairs[g] += greedy_exact_assignment(offs[g], cands[g], ratio, used[g], have[g])
                short = offs[g].loc[offs[g].person_id.map(lambda x: have[g].get(x, 0)) < ratio, "stratum"]
                if short.empty:
                    continue
                # Another round only for strata that are short and still have undrawn persons.
                lacking = np.bincount(short.to_numpy(dtype=np.int64), minlength=n_strata)
                drawn_n = np.array([len(x) for x in drawn[g]])
                wanted[g] = np.where((lacking > 0) & (drawn_n < sizes[g]),
                                     np.maximum(4 * drawn_n, 8 * lacking), 0)
                if wanted[g].any():
                    active.append(g)
    else:
        new = {g: drawn_ranks(sizes[g], wanted[g], rngs[g], drawn[g]) for g in groups}
        cands = fetch(new)
        for g in groups:
            cg, og = cands[g], offs[g].copy()
            fetched[g].append(cg)
            lt, lc = propensity_logit(og, cg, list(c.propensity_covariates))
            og["logit"], cg["logit"] = lt, lc
            sd = float(np.std(np.r_[lt, lc], ddof=1)) if len(lt) + len(lc) > 1 else 0.0
            infos[g]["caliper"] = c.caliper_sd * sd
            # MatchIt's default order for a propensity match: largest distance first.
            og = og.sort_values("logit", ascending=False, kind="stable").reset_index(drop=True)
            pairs[g] = greedy_nearest_assignment(og, cg, ratio, infos[g]["caliper"])
            infos[g]["logit"] = pd.concat([og[["person_id", "logit"]], cg[["person_id", "logit"]]],
                                          ignore_index=True)

    matched: dict[str, pd.DataFrame] = {}
    for g in groups:
        m = pd.DataFrame(pairs[g], columns=["person_id", "matched_to"]) if pairs[g] else empty
        if fetched[g] and not m.empty:
            pool_attrs = pd.concat(fetched[g], ignore_index=True).drop(
                columns=["stratum", "order", "logit"], errors="ignore")
            m = m.merge(pool_attrs.drop_duplicates("person_id"), on="person_id", how="left")
        n_ctrl = m.groupby("matched_to").size()
        infos[g]["unmatched"] = int((~offenders["person_id"].isin(n_ctrl.index)).sum())
        infos[g]["partially_matched"] = int(((n_ctrl > 0) & (n_ctrl < ratio)).sum())
        matched[g] = m
    return matched, infos


def matched_controls(reg: Registers, spec: StudySpec, engine: Engine, offenders: pd.DataFrame,
                     group: str) -> tuple[pd.DataFrame, dict]:
    """Controls of one group matched to the offenders (see matched_control_groups)."""
    m, info = matched_control_groups(reg, spec, engine, offenders, [group])
    return m[group], info[group]


def _count(engine: Engine, t: ir.Table) -> int:
    return int(engine.to_pandas(t.aggregate(n=t.count()))["n"].iloc[0])


# -- balance -----------------------------------------------------------------------------------
def balance_values(df: pd.DataFrame) -> pd.DataFrame:
    """The balance variables per person (male, birth_year, migration_any, origin_big4; NaN if unknown)."""
    out = pd.DataFrame(index=df.index)
    out["male"] = np.where(df["sex"].isna(), np.nan, (df["sex"] == "M").astype(float))
    out["birth_year"] = pd.to_datetime(df["birth_date"]).dt.year.astype(float)
    mb = df["migration_background"]
    out["migration_any"] = np.where(mb.isna(), np.nan, mb.isin(MIGRANT).astype(float))
    og = df["origin_group"]
    out["origin_big4"] = np.where(og.isna(), np.nan, og.isin(BIG4).astype(float))
    return out


def pool_balance_stats(reg: Registers, pools: ir.Table) -> ir.Table:
    """Per `group` of `pools` (person_id, group): the pool size `n`, and the mean, non-null count
    (and variance for birth year) of each balance variable, as `<variable>__mean`, `__n`, `__var`."""
    p = reg.persons
    t = pools.join(p, pools.person_id == p.person_id).select(
        pools.group, p.sex, p.birth_date, p.migration_background, p.origin_group)
    male = t.sex.isnull().ifelse(ibis.null("float64"), (t.sex == "M").ifelse(1.0, 0.0))
    mig = t.migration_background.isnull().ifelse(
        ibis.null("float64"), t.migration_background.isin(list(MIGRANT)).ifelse(1.0, 0.0))
    big4 = t.origin_group.isnull().ifelse(
        ibis.null("float64"), t.origin_group.isin(list(BIG4)).ifelse(1.0, 0.0))
    # Birth years as exact integer sums: a float mean or variance of millions of rows depends,
    # in its last digits, on the order the engine's threads add them (the released balance
    # table then differed between runs). Means of 0/1 values are exact sums anyway.
    by = t.birth_date.year().cast("decimal(38, 0)")
    aggs = {"n": t.count()}
    for name, v in (("male", male), ("migration_any", mig), ("origin_big4", big4)):
        aggs[f"{name}__mean"] = v.mean()
        aggs[f"{name}__n"] = v.count()
    aggs["_s"], aggs["_ss"], aggs["birth_year__n"] = by.sum(), (by * by).sum(), by.count()
    out = t.group_by("group").aggregate(**aggs)
    n = out.birth_year__n.cast("decimal(38, 0)")
    spread = (n * out._ss - out._s * out._s).cast("float64")  # n^2 times the biased variance
    return out.mutate(
        birth_year__mean=out._s.cast("float64") / out.birth_year__n.cast("float64"),
        birth_year__var=(out.birth_year__n > 1).ifelse(
            spread / (n * (n - 1)).cast("float64"), ibis.null("float64")),
    ).drop("_s", "_ss")


def _smd(m1: float, v1: float, m0: float, v0: float) -> float:
    sd = np.sqrt((v1 + v0) / 2)
    if not np.isfinite(sd) or not np.isfinite(m1) or not np.isfinite(m0):
        return float("nan")
    if sd == 0:
        return 0.0 if m1 == m0 else float("nan")
    return float((m1 - m0) / sd)


def _var(name: str, mean: float, var: float | None) -> float:
    return mean * (1 - mean) if name in _BINARY else float(var)


def balance_table(frame: pd.DataFrame, pool_stats: dict[str, pd.DataFrame], target: str
                  ) -> pd.DataFrame:
    """Standardised mean differences before (all offenders vs the whole pool) and after matching
    (matched offenders vs their controls), per control group and variable.

    SMD = (mean_offenders - mean_controls) / sqrt((var_offenders + var_controls) / 2); for binary
    variables var = p(1 - p).
    """
    dse = frame[frame.group == target]
    vd = balance_values(dse)
    rows = []
    for g, stats in pool_stats.items():
        ctrl = frame[frame.group == g]
        vc = balance_values(ctrl)
        mdse = vd[dse.person_id.isin(ctrl.matched_to).to_numpy()]
        s = stats.iloc[0]
        for v in BALANCE_VARIABLES:
            m_d, m_m, m_c = vd[v].mean(), mdse[v].mean(), vc[v].mean()
            m_p = float(s[f"{v}__mean"]) if pd.notna(s[f"{v}__mean"]) else np.nan
            var_p = _var(v, m_p, s.get(f"{v}__var"))
            rows.append({
                "group": g,
                "variable": v,
                "n_dse": int(vd[v].notna().sum()),
                "n_pool": int(s[f"{v}__n"]),
                "n_matched": int(vc[v].notna().sum()),
                "mean_offenders": m_d,
                "mean_pool": m_p,
                "mean_matched": m_c,
                "smd_before": _smd(m_d, _var(v, m_d, vd[v].var(ddof=1)), m_p, var_p),
                "smd_after": _smd(m_m, _var(v, m_m, mdse[v].var(ddof=1)),
                                  m_c, _var(v, m_c, vc[v].var(ddof=1))),
            })
    return pd.DataFrame(rows)


def balance_share_members(frame: pd.DataFrame, shares: pd.DataFrame, target: str
                          ) -> dict[str, list]:
    """The persons behind each row of :func:`balance_shares` (None for the whole pool: a
    population-wide count, left to declared relations)."""
    n_ids: list = []
    N_ids: list = []
    for g, var, sample in zip(shares["group"], shares["variable"], shares["sample"]):
        if sample == "pool":
            n_ids.append(None)
            N_ids.append(None)
            continue
        part = frame[frame.group == (target if sample == target else g)]
        v = balance_values(part)[var]
        known = v.notna().to_numpy()
        N_ids.append(part["person_id"].to_numpy()[known])
        n_ids.append(part["person_id"].to_numpy()[known & (v == 1).to_numpy()])
    return {"n": n_ids, "N": N_ids}


def balance_shares(result: CohortResult) -> pd.DataFrame:
    """Binary balance variables in long form, per control group and variable: rows for the
    offenders, the whole pool and the matched controls with persons n (trait) and N (known),
    pct, and smd against the offenders (pool: before matching; matched: after)."""
    frame, rows, target = result.frame, [], result.target
    vd = balance_values(frame[frame.group == target])
    for r in result.balance[result.balance.variable.isin(_BINARY)].itertuples():
        vc = balance_values(frame[frame.group == r.group])[r.variable].dropna()
        d = vd[r.variable].dropna()
        pool_n = int(round(r.mean_pool * r.n_pool)) if r.n_pool > 0 else 0
        for sample, n, N, smd in (
            (target, int(d.sum()), len(d), np.nan),
            ("pool", pool_n, int(r.n_pool), r.smd_before),
            ("matched", int(vc.sum()), len(vc), r.smd_after),
        ):
            rows.append({"group": r.group, "variable": r.variable, "sample": sample, "n": n,
                         "N": N, "pct": 100 * n / N if N else np.nan, "smd": smd})
    return pd.DataFrame(rows, columns=["group", "variable", "sample", "n", "N", "pct", "smd"])


# -- the whole step ----------------------------------------------------------------------------
def _listed(items, word: str) -> str:
    """'a, b of c' (Dutch lists join the last item with a word, not a comma)."""
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {word} {items[-1]}"


def require_offenders(result: "CohortResult", spec: StudySpec) -> None:
    """Refuse (StudyError, in plain words) a cohort without any offender: a study of nobody
    cannot be run (the library's study_cohort returns such an empty cohort; run_study stops)."""
    frame = result.frame
    if frame.empty or not (frame["group"] == spec.target.label).any():
        raise StudyError(_no_offenders(spec))


def _no_offenders(spec: StudySpec) -> str:
    t = spec.target
    what = ", ".join(t.offence_categories)
    if t.domestic is not None:
        what += " (domestic)" if t.domestic else " (not domestic)"
    return (f"no offenders found: no counted case of {what} registered between {t.period[0]} "
            f"and {t.period[1]}; check [target] in the study spec (offence_categories, domestic, "
            "period) against the cases table")


def study_cohort(reg: Registers, spec: StudySpec, engine: Engine) -> CohortResult:
    """The cohort frame (target group and matched controls, one row per person), balance and counts."""
    attrs = person_attributes(reg.persons)
    d = target_cohort(reg, spec)
    dj = d.join(attrs, d.person_id == attrs.person_id).select(
        d, *[attrs[c] for c in attrs.columns if c != "person_id"])
    off = engine.to_pandas(dj).sort_values("person_id", kind="stable").reset_index(drop=True)
    for col in ("index_date", "birth_date", "death_date", "emigration_date"):
        off[col] = pd.to_datetime(off[col])

    target = spec.target.label
    parts = [off.assign(group=target, matched_to=off.person_id)]
    unmatched: dict[str, int] = {}
    pool_sizes: dict[str, int] = {target: len(off)}
    pool_stats: dict[str, pd.DataFrame] = {}
    extra: dict = {"cutoff": reg.cutoff}
    groups = list(spec.controls.groups)
    pools = engine.materialize(control_pools(reg, spec, groups)) if groups else None
    stats = engine.to_pandas(pool_balance_stats(reg, pools)) if groups else pd.DataFrame()
    for g in groups:
        pool_stats[g] = _stats_row(stats, g)
    matched_by_group, infos = matched_control_groups(
        reg, spec, engine, off, groups, pools,
        pool_sizes={g: int(pool_stats[g]["n"].iloc[0]) for g in groups})
    for g in groups:
        matched, info = matched_by_group[g], infos[g]
        unmatched[g] = info["unmatched"]
        pool_sizes[g] = info["pool_size"]
        extra[g] = {k: v for k, v in info.items() if k not in ("unmatched", "pool_size")}
        if matched.empty:
            continue
        ctrl = matched.merge(
            off[["person_id", "index_date"]].rename(columns={"person_id": "matched_to"}),
            on="matched_to", how="left")
        ctrl["group"] = g
        ctrl["index_case_id"] = None
        parts.append(ctrl)

    frame = pd.concat(parts, ignore_index=True)
    frame = _tidy_frame(frame, target, list(spec.controls.groups))
    table = engine.from_pandas(_engine_ready(frame))
    balance = balance_table(frame, pool_stats, target)
    return CohortResult(frame, table, balance, unmatched, pool_sizes, extra, target)


def _stats_row(stats: pd.DataFrame, group: str) -> pd.DataFrame:
    """The pool statistics row of one group (an empty pool: n = 0, means NaN)."""
    row = stats[stats["group"] == group].reset_index(drop=True) if len(stats) else stats
    if len(row):
        return row
    out = {"group": [group], "n": [0]}
    for v in BALANCE_VARIABLES:
        out.update({f"{v}__mean": [np.nan], f"{v}__n": [0], f"{v}__var": [np.nan]})
    return pd.DataFrame(out)


def _tidy_frame(frame: pd.DataFrame, target: str, groups: list[str]) -> pd.DataFrame:
    order = {target: 0, **{g: i + 1 for i, g in enumerate(groups)}}
    out = frame.copy()
    for col in ("index_date", "birth_date"):
        out[col] = pd.to_datetime(out[col]).astype("datetime64[ns]")
    out["birth_year"] = out["birth_date"].dt.year.astype("int64")
    for col in ("person_id", "group", "index_case_id", "matched_to", "sex",
                "migration_background", "origin_group"):
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    out["_g"] = out["group"].map(order)
    out = out.sort_values(["_g", "matched_to", "person_id"], kind="stable")
    return out[COHORT_COLUMNS].reset_index(drop=True)


COHORT_SCHEMA = pa.schema([
    ("person_id", pa.string()), ("group", pa.string()), ("index_date", pa.date32()),
    ("index_case_id", pa.string()), ("matched_to", pa.string()), ("sex", pa.string()),
    ("birth_date", pa.date32()), ("birth_year", pa.int64()),
    ("migration_background", pa.string()), ("origin_group", pa.string()),
])


def _engine_ready(frame: pd.DataFrame) -> pa.Table:
    """The cohort frame as an Arrow table with fixed types (dates as DATE, all-null columns typed)."""
    out = frame.copy()
    for col in ("index_date", "birth_date"):
        out[col] = pd.Series([None if pd.isna(x) else x.date() for x in out[col]],
                             index=out.index, dtype=object)
    return pa.Table.from_pandas(out[COHORT_COLUMNS], schema=COHORT_SCHEMA, preserve_index=False)


# -- report ------------------------------------------------------------------------------------
def cohort_section(result: CohortResult, gate, spec: StudySpec, out_dir: str | Path):
    """The report section "cohort": released group sizes, unmatched offenders and balance."""
    from crimcareer.report.section import Section

    k = gate.rules.min_persons
    frame = result.frame
    target = result.target
    groups = [target] + list(spec.controls.groups)
    n_dse = int((frame.group == target).sum())

    sizes = pd.DataFrame({
        "group": groups,
        "n": [int((frame.group == g).sum()) for g in groups],
        "pool_size": [int(result.pool_sizes.get(g, 0)) for g in groups],
    })
    sizes["N"] = sizes["n"]  # a count table: each cell is its own denominator
    group_ids = [frame.loc[frame.group == g, "person_id"].to_numpy() for g in groups]
    sizes_rel = gate.proportions("cohort_groups", sizes[["group", "n", "N", "pool_size"]],
                                 estimate_cols=["pool_size"],
                                 members={"n": group_ids, "N": group_ids})

    um = pd.DataFrame({
        "group": list(spec.controls.groups),
        "n": [int(result.unmatched.get(g, 0)) for g in spec.controls.groups],
        "N": n_dse,
    })
    um["pct"] = np.where(um["N"] > 0, 100 * um["n"] / um["N"].where(um["N"] > 0, 1), np.nan)
    offenders = frame.loc[frame.group == target, "person_id"]
    um_ids = [offenders[~offenders.isin(frame.loc[frame.group == g, "matched_to"])].to_numpy()
              for g in spec.controls.groups]
    um_rel = gate.proportions("cohort_unmatched", um, estimate_cols=["pct"],
                              members={"n": um_ids, "N": [offenders.to_numpy()] * len(um)})

    shares = balance_shares(result)
    # An offenders' share that is withheld must not be recoverable from an SMD next to it.
    from crimcareer.disclosure import proportion_reasons, released_value

    why, _, _ = proportion_reasons(shares["n"], shares["N"], gate.rules)
    bad_dse = shares.loc[(shares["sample"] == target) & (why != ""), ["group", "variable"]]
    hide = shares.set_index(["group", "variable"]).index.isin(list(bad_dse.itertuples(index=False)))
    shares.loc[hide, "smd"] = np.nan
    gate.proportions("cohort_balance_shares", shares, estimate_cols=["pct", "smd"],
                     key_cols=["group", "variable", "sample"],
                     members=balance_share_members(frame, shares, target))

    bal = result.balance[~result.balance.variable.isin(_BINARY)].reset_index(drop=True)
    dse_values = balance_values(frame[frame.group == target])
    values = [np.r_[dse_values[r.variable].dropna().to_numpy(),
                    balance_values(frame[frame.group == r.group])[r.variable].dropna().to_numpy()]
              for r in bal.itertuples()]
    stat_cols = ["mean_offenders", "mean_pool", "mean_matched", "smd_before", "smd_after"]
    bal_rel = gate.magnitudes("cohort_balance_means", bal[["group", "variable"] + stat_cols],
                              values, stat_cols=stat_cols)

    label = spec.target.label
    name_en, name_nl = target_name(spec)
    period = f"{spec.target.period[0]:%Y}-{spec.target.period[1]:%Y}"
    cats = ", ".join(spec.target.offence_categories)
    exact = ", ".join(spec.controls.exact)
    text_en = (
        f"{name_en} ({label}): persons with a counted case ({cats}"
        + (", domestic" if spec.target.domestic else "") +
        f") registered in {period}; the index case is the first such case by offence date. "
        f"Criminal controls (CC): persons never suspected of a case in "
        f"{', '.join(spec.controls.exclude_categories)}, with a counted case of another category "
        f"registered in {period}. Non-criminal controls (NC): persons without any case up to "
        f"{_cutoff_text(result)}. Controls are matched {spec.controls.ratio}:1 on {exact} "
        f"({spec.controls.method} matching), without replacement, alive and living in the "
        f"country at the offender's index date, which becomes their index date."
    )
    text_nl = (
        f"{name_nl} ({label}): personen met een meetellende zaak ({cats}"
        + (", binnenlands" if spec.target.domestic else "") +
        f") ingeschreven in {period}; de indexzaak is de eerste zo'n zaak naar pleegdatum. "
        f"Criminele controles (CC): personen die nooit verdacht zijn geweest van een zaak in de "
        f"categorie {_listed(spec.controls.exclude_categories, 'of')}, met een meetellende zaak "
        f"van een andere categorie ingeschreven in {period}. Niet-criminele controles (NC): "
        f"personen zonder enige zaak tot {_cutoff_text(result)}. Controles zijn "
        f"{spec.controls.ratio}:1 gematcht op {_listed(spec.controls.exact, 'en')} "
        f"({'exact' if spec.controls.method == 'exact' else 'op propensityscore'}), zonder "
        f"teruglegging, in leven en woonachtig in Nederland op de "
        f"indexdatum van de dader, die hun indexdatum wordt."
    )
    return Section(
        key="cohort",
        title={"en": "Study population and matched controls",
               "nl": "Onderzoekspopulatie en gematchte controlegroepen"},
        text={"en": text_en, "nl": text_nl},
        tables=["cohort_groups", "cohort_unmatched", "cohort_balance_shares",
                "cohort_balance_means"],
        table_titles={
            "cohort_groups": {"en": "Group sizes", "nl": "Groepsgrootte"},
            "cohort_unmatched": {"en": "Offenders without a matched control",
                                 "nl": "Daders zonder gematchte controle"},
            "cohort_balance_shares": {
                "en": "Balance before and after matching: shares and standardised mean differences",
                "nl": "Balans voor en na matching: aandelen en gestandaardiseerde verschillen"},
            "cohort_balance_means": {
                "en": "Balance before and after matching: means and standardised mean differences",
                "nl": "Balans voor en na matching: gemiddelden en gestandaardiseerde verschillen"},
        },
        headline={
            "B1": {target: released_value(sizes_rel, "n", group=target)},
            "B2": {g: released_value(sizes_rel, "n", group=g) for g in spec.controls.groups},
        },
        extra={"cohort": {
            "unmatched": {g: released_value(um_rel, "n", group=g) for g in spec.controls.groups},
            "balance_means_released": int(bal_rel["suppressed"].eq("").sum()),
            "matching": spec.controls.method,
        }},
    )


def _cutoff_text(result: CohortResult) -> str:
    """The data cut-off recorded with a cohort result, as text."""
    c = result.extra.get("cutoff")
    return str(c) if c else "the cut-off"
