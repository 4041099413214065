"""The high-risk youth profile: who among young people becomes a target offender?

Engine side (Ibis, whole population): :func:`youth_population` and :func:`youth_features` measure
everyone aged ``spec.profile.min_age..max_age`` on a reference date, using only events dated
strictly before that date, and mark whether a counted target case follows within
``spec.profile.horizon_years``. :func:`case_control_sample` reduces this to all cases plus a seeded
hash sample of non-cases with inverse-probability weights before anything goes to pandas.

Model side (pandas, sample-sized): a weighted logistic regression (statsmodels) on transparent
binary risk factors plus age, a points score derived from it (one point ~ 10% higher odds),
temporal validation on a later reference date (AUC with DeLong CI, calibration intercept/slope and
plot, flagged per 10,000 / sensitivity / PPV per threshold) and a fairness audit by sex and
migration background. Sex and migration background are never predictors.

Only aggregated, gate-released numbers leave the tool; per-person scores go to OUT/internal/.
Calibration bins, thresholds and fairness rows are person sets: without sampling the gate gets
the persons behind every count (members=) and derives how the tables relate; rows a primary
rule would withhold are left out (their reasons would be bounds). Under case-control sampling
the person counts are weighted estimates, so the section declares the relations between the
exact case counts by hand instead. The report's numbers are read back from released cells.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import altair as alt
import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from scipy.stats import norm

from crimcareer.disclosure import Gate, released_value
from crimcareer.engine import Engine, add_years, age_in_years
from crimcareer.estimators.points import (  # the model's numerics live with the estimators
    POINT_LOG_ODDS,
    PointsScore,
    auc_with_ci,
    calibration_intercept_slope,
    delong_auc,  # noqa: F401  (part of the module's interface, used by tests)
)
from crimcareer.labels import both
from crimcareer.report.figures import released_figure
from crimcareer.report.section import Section
from crimcareer.study.cohort import counted_cases, target_cases
from crimcareer.study.network import criminal_alter_ties, present_network_layers
from crimcareer.study.spec import StudySpec

# Ages (in completed years on the reference date) from which a missing diploma counts as
# missing school progress: most pupils hold a vmbo/havo diploma by 18 and a startkwalificatie
# (havo, vwo, mbo2+) by 20. A coarse proxy: the registers hold diplomas, not school enrolment.
SCHOOL_PROGRESS_AGE = 18
STARTKWALIFICATIE_PROFILE_AGE = 20
EARLY_ONSET_AGE = 16  # first counted case before this age
MANY_PRIOR_CASES = 3
# One point of the score is worth POINT_LOG_ODDS = log(1.1) on the log-odds scale ("each point ~
# 10% higher odds"), crimcareer.estimators.points.
DEFAULT_MAX_NONCASES = 200_000


def _label(key: str) -> dict[str, str]:
    """A term of the profile in words (``profile:<key>`` where the profile means something
    else than the shared key, e.g. age above the youngest age)."""
    return both(key, default=key, ns="profile")


# -- cases: the study's definitions (crimcareer.study.cohort) ----------------------------------------
def _counted_cases(reg, spec: StudySpec) -> ir.Table:
    return counted_cases(reg.cases, spec)


def _target_type_cases(reg, spec: StudySpec) -> ir.Table:
    """Counted cases of the target's categories and domestic rule, whatever their registration date."""
    c = counted_cases(reg.cases, spec)
    cond = c.offence_category.isin(list(spec.target.offence_categories))
    if spec.target.domestic is not None:  # as cohort.target_cases: a null `domestic` never counts
        cond = cond & (c.domestic.fill_null(not spec.target.domestic) == spec.target.domestic)
    return c.filter(cond)


def _target_cases(reg, spec: StudySpec) -> ir.Table:
    """Counted target cases: categories, domestic rule and registration period."""
    return target_cases(reg.cases, spec)


# -- engine side ------------------------------------------------------------------------------------
def youth_population(reg, spec: StudySpec, reference_date: dt.date) -> ir.Table:
    """Everyone aged min_age..max_age on the reference date, alive and resident, not yet a target offender.

    Persons with a counted target-type case dated before the reference date are left out: the
    profile predicts a first target offence.
    """
    p = reg.persons
    ref = ibis.date(reference_date)
    age = age_in_years(p.birth_date, ref)
    pop = p.filter(
        p.birth_date < ref,
        p.death_date.isnull() | (p.death_date > ref),
        p.emigration_date.isnull() | (p.emigration_date > ref),
        age >= spec.profile.min_age,
        age <= spec.profile.max_age,
    ).select("person_id", "birth_date", "sex", "migration_background", "origin_group", age=age)
    tt = _target_type_cases(reg, spec)
    prior_target = tt.filter(tt.offence_date < ref).select("person_id").distinct()
    return pop.anti_join(prior_target, "person_id")


def _flags_by_person(base: ir.Table, flags: ir.Table, cols: Iterable[str], fill=False,
                     keys: tuple[str, ...] = ("person_id",)) -> ir.Table:
    """Left-join per-person (per ``keys``) flags onto base, filling missing persons with `fill`."""
    cols = list(cols)
    j = base.left_join(flags, [base[k] == flags[k] for k in keys])
    keep = [j[c] for c in base.columns]
    add = {c: (j[c].fill_null(fill) if fill is not None else j[c]) for c in cols}
    return j.select(*keep, **add)


def youth_features(
    reg,
    spec: StudySpec,
    reference_date: dt.date,
    layers: list[str] | None = None,
    population: ir.Table | None = None,
    criminal_ties: ir.Table | None = None,
) -> ir.Table:
    """Per young person: risk factors measured on the reference date (events strictly before it) and the outcome.

    `layers`: network layers present in the relations table (default: spec.factors.network_layers);
    criminal-alter flags of absent layers and features of absent optional tables are null.
    `population`: :func:`youth_population` already materialized (it is used five times here;
    an engine may otherwise compute it five times). `criminal_ties`:
    :func:`crimcareer.study.network.criminal_alter_ties` of egos including this population,
    cut at this date or later (one pass over the relations for every date).
    """
    pops = None if population is None else {reference_date: population}
    t = youth_features_by_date(reg, spec, [reference_date], layers, pops, criminal_ties)
    return t.drop(REF_COL)


REF_COL = "reference_date"  # the date a row of youth_features_by_date is measured on


def youth_features_by_date(
    reg,
    spec: StudySpec,
    dates: list[dt.date],
    layers: list[str] | None = None,
    populations: dict[dt.date, ir.Table] | None = None,
    criminal_ties: ir.Table | None = None,
) -> ir.Table:
    """:func:`youth_features` of every date in one table, a row per person and date with the
    date in column ``reference_date``: each source table is read once for all dates, and each
    event is compared with the date of the row it joins (a person young on both dates has two
    rows). `populations`: :func:`youth_population` per date, already materialized."""
    pops = [(youth_population(reg, spec, d) if populations is None else populations[d])
            .mutate(**{REF_COL: ibis.date(d)}) for d in dates]
    pop = ibis.union(*pops) if len(pops) > 1 else pops[0]  # disjoint: the dates differ
    keys = ("person_id", REF_COL)
    at = pop.select("person_id", REF_COL)  # the (person, date) rows, to join events to
    layers = list(spec.factors.network_layers if layers is None else layers)

    def measured(events: ir.Table) -> ir.Table:
        """Events of the population's persons, each with the date of a row of that person."""
        return events.join(at, "person_id")

    counted = _counted_cases(reg, spec)
    before = measured(counted.select("person_id", "case_id", "offence_date"))
    before = before.filter(before.offence_date < before[REF_COL])

    # own counted cases
    own = before.group_by(list(keys)).aggregate(
        n_prior_cases=before.case_id.count(), first_case_date=before.offence_date.min()
    )
    j = pop.left_join(own, [pop[k] == own[k] for k in keys])
    t = j.select(
        *[j[c] for c in pop.columns],
        n_prior_cases=j.n_prior_cases.fill_null(0).cast("int64"),
        age_first_case=age_in_years(j.birth_date, j.first_case_date),
    )
    t = t.mutate(
        prior_case=t.n_prior_cases >= 1,
        prior_cases_3plus=t.n_prior_cases >= MANY_PRIOR_CASES,
        early_onset=(t.age_first_case < EARLY_ONSET_AGE).fill_null(False),
    )

    # criminal alters: ties started before the reference date (ended ties and ex-partners count),
    # alter with a counted case dated before it
    fam = list(spec.factors.family_relations)
    if criminal_ties is None:
        criminal_ties = criminal_alter_ties(reg, spec, [pop], layers,
                                            before=ibis.date(max(dates)))
    r = measured(criminal_ties)
    r = r.filter(r.start_date.isnull() | (r.start_date < r[REF_COL]),
                 r.alter_first_case < r[REF_COL])
    aggs = {f"criminal_{rel}": ((r.layer == "family") & (r.relation == rel)).any() for rel in fam}
    aggs["criminal_family"] = ((r.layer == "family") & r.relation.isin(fam)).any()
    for layer in layers:
        aggs[f"criminal_{layer}"] = (r.layer == layer).any()
    alters = r.group_by(list(keys)).aggregate(**aggs)
    t = _flags_by_person(t, alters, aggs.keys(), keys=keys)
    for layer in spec.factors.network_layers:
        if layer not in layers:
            t = t.mutate(**{f"criminal_{layer}": ibis.null("boolean")})

    # education: diplomas dated before the reference date
    if reg.has("education"):
        e = measured(reg.education.select("person_id", "level", "diploma_date"))
        e = e.filter(e.diploma_date < e[REF_COL])
        skq = list(spec.factors.startkwalificatie_levels)
        edu = e.group_by(list(keys)).aggregate(
            _any_diploma=(e.level != "primary").any(), _skq=e.level.isin(skq).any()
        )
        t = _flags_by_person(t, edu, ["_any_diploma", "_skq"], keys=keys)
        t = t.mutate(
            no_school_progress=(t.age >= SCHOOL_PROGRESS_AGE) & ~t._any_diploma,
            no_startkwalificatie=(t.age >= STARTKWALIFICATIE_PROFILE_AGE) & ~t._skq,
        ).drop("_any_diploma", "_skq")
    else:
        t = t.mutate(no_school_progress=ibis.null("boolean"),
                     no_startkwalificatie=ibis.null("boolean"))

    if reg.has("youth_care"):
        y = measured(reg.youth_care.select("person_id", "start_date"))
        yc = (y.filter(y.start_date < y[REF_COL]).select(*keys).distinct()
              .mutate(youth_care=ibis.literal(True)))
        t = _flags_by_person(t, yc, ["youth_care"], keys=keys)
    else:
        t = t.mutate(youth_care=ibis.null("boolean"))

    if reg.has("households"):
        h = reg.households
        h = h.filter(h.role == "child", h.household_type == "single_parent")
        births = pop.select("person_id", REF_COL, birth=pop.birth_date)
        hb = h.select("person_id", "start_date").join(births, "person_id")
        hb = hb.filter(hb.start_date < hb[REF_COL],
                       hb.start_date < add_years(hb.birth, spec.factors.childhood_age))
        sp = hb.select(*keys).distinct().mutate(single_parent_childhood=ibis.literal(True))
        t = _flags_by_person(t, sp, ["single_parent_childhood"], keys=keys)
    else:
        t = t.mutate(single_parent_childhood=ibis.null("boolean"))

    # outcome: a counted target case with offence date in [ref, ref + horizon)
    tc = measured(_target_cases(reg, spec).select("person_id", "offence_date"))
    out = tc.filter(tc.offence_date >= tc[REF_COL],
                    tc.offence_date < add_years(tc[REF_COL], spec.profile.horizon_years))
    out = out.select(*keys).distinct().mutate(outcome=ibis.literal(True))
    return _flags_by_person(t, out, ["outcome"], keys=keys)


def _sample_key(person_id: ir.StringValue, seed: int, reference_date: dt.date) -> ir.StringValue:
    """First 8 hex digits of md5('<seed>:<date>:' || person_id): the same on DuckDB and Spark."""
    return (ibis.literal(f"{seed}:{reference_date.isoformat()}:") + person_id).hexdigest("md5").substr(0, 8)


def sample_threshold(fraction: float) -> str:
    """The 8-hex-digit key below which a person is sampled with probability `fraction`."""
    return format(min(int(round(fraction * 16**8)), 16**8 - 1), "08x") if fraction < 1 else "g"


def case_control_sample(
    features: ir.Table,
    max_noncases: int,
    seed: int,
    reference_date: dt.date,
) -> tuple[ir.Table, int, int]:
    """All cases plus a seeded hash sample of about max_noncases non-cases, with weights.

    Returns (sample with `weight`, number of persons, number of cases). Non-cases get weight
    N_noncases / n_sampled_noncases (the realised inverse sampling fraction), cases weight 1.
    """
    counts = features.aggregate(n=features.person_id.count(),
                                cases=features.outcome.cast("int64").sum()).execute()
    n_persons = int(counts["n"].iloc[0])
    n_cases = int(counts["cases"].fillna(0).iloc[0])
    n_non = n_persons - n_cases
    fraction = 1.0 if n_non <= max_noncases else max_noncases / n_non
    key = _sample_key(features.person_id, seed, reference_date)
    keep = features.outcome | (key < sample_threshold(fraction))
    sample = features.filter(keep)
    n_sampled_non = int(sample.filter(~sample.outcome).count().execute())
    w_non = n_non / n_sampled_non if n_sampled_non else 1.0
    sample = sample.mutate(weight=sample.outcome.ifelse(1.0, float(w_non)))
    return sample, n_persons, n_cases


def profile_frame(
    reg,
    spec: StudySpec,
    reference_date: dt.date,
    engine: Engine,
    layers: list[str] | None = None,
    max_noncases: int = DEFAULT_MAX_NONCASES,
    prepared: dict | None = None,
) -> pd.DataFrame:
    """The engine-reduced, weighted person frame (all cases + sampled non-cases) for one date.
    ``prepared``: from :func:`prepare_profile` (every date's features in one pass)."""
    if prepared is not None and reference_date in prepared["populations"]:
        f = prepared["features"]
        feats = f.filter(f[REF_COL] == ibis.date(reference_date)).drop(REF_COL)
    else:
        pop = engine.materialize(youth_population(reg, spec, reference_date))
        feats = engine.materialize(youth_features(reg, spec, reference_date, layers,
                                                  population=pop))
    sample, _, _ = case_control_sample(feats, max_noncases, spec.study.seed, reference_date)
    df = engine.to_pandas(sample)
    df["outcome"] = df["outcome"].astype(bool)
    return df.sort_values("person_id").reset_index(drop=True)


def prepare_profile(reg, spec: StudySpec, engine: Engine, dates: list[dt.date],
                    layers: list[str], inputs: dict | None = None) -> dict:
    """The youth populations of every date, their criminal ties and the features of every date
    (:func:`youth_features_by_date`), each materialized once. ``inputs``: populations and ties
    from :func:`youth_inputs`."""
    inputs = inputs or youth_inputs(reg, spec, engine, dates, layers)
    pops, ties = inputs["populations"], inputs["ties"]
    feats = engine.materialize(youth_features_by_date(reg, spec, dates, layers, pops, ties))
    return {"populations": pops, "ties": ties, "features": feats}


def youth_inputs(reg, spec: StudySpec, engine: Engine, dates: list[dt.date], layers: list[str],
                 cohort: ir.Table | None = None) -> dict:
    """The youth populations of every date and their criminal ties, materialized. With a
    ``cohort`` (a table with person_id) the ties are those of its persons too, of any date
    (:func:`crimcareer.study.network.criminal_alter_ties`): one pass over the relations for
    the cohort's factors (``alter_ties=``) and the profile."""
    pops = {d: engine.materialize(youth_population(reg, spec, d)) for d in dates}
    if cohort is None:
        ties = criminal_alter_ties(reg, spec, list(pops.values()), layers,
                                   before=ibis.date(max(dates)))
    else:
        ties = criminal_alter_ties(reg, spec, [*pops.values(), cohort], layers)
    # the ties' egos (a few million) are the semi-join's build side, never the relations
    return {"populations": pops, "ties": engine.materialize(ties, build_right=True)}


def profile_dates(spec: StudySpec) -> list[dt.date]:
    """The reference dates of the profile: development, then validation."""
    return [spec.profile.reference_date, spec.profile.validation_date]


# -- model ------------------------------------------------------------------------------------------
def candidate_predictors(spec: StudySpec) -> list[str]:
    """Predictor columns considered for the model (sex and migration background never are)."""
    fam = [f"criminal_{r}" for r in spec.factors.family_relations]
    net = [f"criminal_{layer}" for layer in spec.factors.network_layers]
    return ["age", "prior_case", "prior_cases_3plus", "early_onset", *fam, *net,
            "no_school_progress", "no_startkwalificatie", "youth_care", "single_parent_childhood"]


@dataclass
class ProfileModel:
    """A fitted profile model: coefficients, the points per predictor and what was left out.

    The numerics are :class:`crimcareer.estimators.PointsScore` (``score``); this keeps the
    study's names for them."""

    predictors: list[str]
    params: pd.Series
    bse: pd.Series
    points: dict[str, int]
    min_age: int
    n_obs: int
    df_resid: float
    category_counts: dict[str, int]
    dropped: dict[str, str] = field(default_factory=dict)
    score: PointsScore | None = None

    def design(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's design matrix for a frame (age centred at the youngest age)."""
        return self.score.design(frame)

    def linear_predictor(self, frame: pd.DataFrame) -> np.ndarray:
        """Log-odds of the outcome per person."""
        return self.score.decision_function(frame)

    def predicted_risk(self, frame: pd.DataFrame) -> np.ndarray:
        """Predicted probability of a target offence within the horizon, per person."""
        return self.score.predict_risk(frame)

    def points_score(self, frame: pd.DataFrame) -> np.ndarray:
        """Integer points per person: the sum of each present factor's points."""
        return self.score.points(frame)

    def risk_of_points(self, points: np.ndarray | int) -> np.ndarray:
        """Risk implied by a points total (intercept plus points times POINT_LOG_ODDS)."""
        return self.score.risk_of_points(points)


def fit_profile_model(
    frame: pd.DataFrame,
    predictors: list[str],
    min_age: int,
    min_cell: int = 10,
) -> ProfileModel:
    """Weighted logistic regression (statsmodels GLM, robust SEs) with a points score
    (:class:`crimcareer.estimators.PointsScore`).

    Binary predictors are dropped when absent (all null), or when any cell of their 2x2 table
    with the outcome has fewer than `min_cell` persons (disclosure, and quasi-separation).
    """
    present = [p for p in predictors if p in frame]
    score = PointsScore(numeric={"age": min_age}, min_cell=min_cell, point_log_odds=POINT_LOG_ODDS)
    score.fit(frame, y="outcome", X=present, weight="weight" if "weight" in frame else None)
    why = {**{p: "not available" for p in predictors if p not in frame}, **score.dropped_}
    dropped = {p: why[p] for p in predictors if p in why}  # in the order of `predictors`
    return ProfileModel(list(score.predictors_), score.coef_, score.bse_, dict(score.points_),
                        min_age, score.n_obs_, score.df_resid_, dict(score.category_counts_),
                        dropped, score)


def model_table(model: ProfileModel) -> pd.DataFrame:
    """Coefficient table: term, labels, coefficient, robust SE, odds ratio with 95% CI, points."""
    z = norm.ppf(0.975)
    rows = []
    for term in ["intercept", *model.predictors]:
        b, se = float(model.params[term]), float(model.bse[term])
        rows.append({
            "term": term, "label_en": _label(term)["en"], "label_nl": _label(term)["nl"],
            "coef": b, "se": se, "odds_ratio": math.exp(b),
            "or_ci_low": math.exp(b - z * se), "or_ci_high": math.exp(b + z * se),
            "points": model.points.get(term, np.nan),
        })
    return pd.DataFrame(rows)


# -- validation metrics -------------------------------------------------------------------------------
def calibration_bins(y: np.ndarray, risk: np.ndarray, w: np.ndarray, bins: int = 10,
                     min_cases: int = 10, ids: np.ndarray | None = None):
    """Weighted deciles of predicted risk, merged upwards until each bin holds >= min_cases cases.

    Columns: bin, n (cases, exact), N (persons, weighted estimate), observed, predicted.
    ``ids`` (person ids aligned with y): also return the gate's ``members`` (per row, the cases
    ``n`` and the persons ``N`` of the bin): ``(frame, members)``.
    """
    order = np.argsort(risk, kind="stable")
    y, risk, w = np.asarray(y, bool)[order], np.asarray(risk, float)[order], np.asarray(w, float)[order]
    pid = None if ids is None else np.asarray(ids, dtype=object)[order]
    cw = np.cumsum(w)
    raw = np.minimum((((cw - w / 2) / cw[-1]) * bins).astype(int), bins - 1)
    groups: list[list[int]] = []
    current: list[int] = []
    for b in range(bins):
        current.append(b)
        if y[np.isin(raw, current)].sum() >= min_cases:
            groups.append(current)
            current = []
    if current:
        if groups:
            groups[-1].extend(current)
        else:
            groups.append(current)
    rows = []
    members: dict[str, list] = {"n": [], "N": []}
    for i, g in enumerate(groups):
        m = np.isin(raw, g)
        rows.append({"bin": i + 1, "n": int(y[m].sum()), "N": int(round(w[m].sum())),
                     "observed": float((w[m] * y[m]).sum() / w[m].sum()),
                     "predicted": float((w[m] * risk[m]).sum() / w[m].sum())})
        if pid is not None:
            members["n"].append(pid[m & y])
            members["N"].append(pid[m])
    out = pd.DataFrame(rows)
    return out if ids is None else (out, members)


def threshold_table(y: np.ndarray, risk: np.ndarray, w: np.ndarray, thresholds: list[float],
                    ids: np.ndarray | None = None):
    """Per threshold: flagged share of young people, sensitivity and PPV, as n/N rows (long form).

    ``ids`` (person ids aligned with y): also return the gate's ``members``: ``(frame, members)``
    (flagged persons of everyone, flagged cases of all cases, flagged cases of the flagged)."""
    y = np.asarray(y, bool)
    w = np.asarray(w, float)
    pid = None if ids is None else np.asarray(ids, dtype=object)
    total = w.sum()
    rows = []
    members: dict[str, list] = {"n": [], "N": []}
    for t in thresholds:
        f = np.asarray(risk) >= t
        flagged_cases = int((f & y).sum())
        flagged = w[f].sum()
        rows += [
            {"threshold": t, "measure": "flagged", "n": int(round(flagged)), "N": int(round(total)),
             "value": flagged / total, "per_10000": 10_000 * flagged / total},
            {"threshold": t, "measure": "sensitivity", "n": flagged_cases, "N": int(y.sum()),
             "value": flagged_cases / y.sum() if y.sum() else np.nan, "per_10000": np.nan},
            {"threshold": t, "measure": "ppv", "n": flagged_cases, "N": int(round(flagged)),
             "value": flagged_cases / flagged if flagged else np.nan, "per_10000": np.nan},
        ]
        if pid is not None:
            members["n"] += [pid[f], pid[f & y], pid[f & y]]
            members["N"] += [pid, pid[y], pid[f]]
    out = pd.DataFrame(rows)
    return out if ids is None else (out, members)


def fairness_table(frame: pd.DataFrame, risk: np.ndarray, thresholds: list[float],
                   by: Iterable[str] = ("sex", "migration_background"), with_members: bool = False):
    """Per group of sex and migration background (none / any): observed vs expected (O/E) and
    FPR/FNR per threshold.

    ``with_members``: also return the gate's ``members`` (from ``frame.person_id``):
    ``(frame, members)`` -- cases and persons of the group, flagged non-cases of its non-cases,
    missed cases of its cases."""
    y = frame["outcome"].astype(bool).to_numpy()
    w = frame["weight"].astype(float).to_numpy()
    risk = np.asarray(risk, float)
    pid_all = frame["person_id"].to_numpy(dtype=object) if with_members else None
    rows = []
    members: dict[str, list] = {"n": [], "N": []}
    for var in by:
        g = frame[var].astype(object).where(frame[var].notna(), "unknown")
        if var == "migration_background":  # first and second generation together (as B10)
            g = g.replace({"first_generation": "any", "second_generation": "any"})
        g = g.to_numpy()
        for level in sorted(set(g)):
            m = g == level
            yy, ww, rr = y[m], w[m], risk[m]
            pp = pid_all[m] if with_members else None
            N = ww.sum()
            expected = (ww * rr).sum() / N if N else np.nan
            observed = (ww * yy).sum() / N if N else np.nan
            rows.append({"variable": var, "group": level, "threshold": np.nan, "measure": "calibration",
                         "n": int(yy.sum()), "N": int(round(N)), "value": observed,
                         "expected": expected, "o_e": observed / expected if expected else np.nan})
            if with_members:
                members["n"].append(pp[yy])
                members["N"].append(pp)
            for t in thresholds:
                f = rr >= t
                non = ww[~yy].sum()
                fp = ww[f & ~yy].sum()
                rows.append({"variable": var, "group": level, "threshold": t, "measure": "fpr",
                             "n": int(round(fp)), "N": int(round(non)),
                             "value": fp / non if non else np.nan, "expected": np.nan, "o_e": np.nan})
                fn = int((~f & yy).sum())
                rows.append({"variable": var, "group": level, "threshold": t, "measure": "fnr",
                             "n": fn, "N": int(yy.sum()),
                             "value": fn / yy.sum() if yy.sum() else np.nan,
                             "expected": np.nan, "o_e": np.nan})
                if with_members:
                    members["n"] += [pp[f & ~yy], pp[~f & yy]]
                    members["N"] += [pp[~yy], pp[yy]]
    out = pd.DataFrame(rows)
    return out if not with_members else (out, members)


def truth_propensity(truth_dir: str | Path) -> pd.DataFrame:
    """person_id and p_target from the synthetic truth folder (only when truth_dir is given)."""
    return pd.read_parquet(Path(truth_dir) / "persons_truth.parquet", columns=["person_id", "p_target"])


# -- report section ---------------------------------------------------------------------------------
def outcome_window(spec: StudySpec, reference_date: dt.date,
                   cutoff: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The dates [first, last] in which a target offence can be observed as the outcome.

    The horizon [reference date, + horizon_years) cut at the end of the target registration period
    (the outcome is a target case as the study defines it) and at the data cut-off.
    """
    ref = reference_date
    try:
        end = ref.replace(year=ref.year + spec.profile.horizon_years)
    except ValueError:  # 29 February
        end = dt.date(ref.year + spec.profile.horizon_years, 2, 28)
    last = min(end - dt.timedelta(days=1), spec.target.period[1], cutoff or dt.date.max)
    return ref, last


def _ref(table: str, values: Iterable, col: str) -> tuple[str, str, str]:
    """A ledger cell reference: the gate keys rows by their key columns joined with '|'."""
    return (table, "|".join("" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
                            for v in values), col)


def _declare_profile_relations(gate: Gate, cal: pd.DataFrame, thr: pd.DataFrame, fair: pd.DataFrame,
                               thresholds: list[float], unweighted: bool) -> None:
    """Declare to the gate's ledger how the released counts relate (cases are exact counts;
    weighted person counts are related only when no sampling weights were used).

    Used only under case-control sampling: then the person counts are weighted estimates, the
    gate cannot be given the persons behind them (members=), and these declarations are what
    relates the exact case counts. Without sampling the section passes members instead."""
    T, C, F = "profile_thresholds", "profile_calibration", "profile_fairness"
    t0 = thresholds[0]
    cases = _ref(T, (t0, "sensitivity"), "N")
    everyone = _ref(T, (t0, "flagged"), "N")
    for t in thresholds:
        if t != t0:
            gate.declare_equal(_ref(T, (t, "sensitivity"), "N"), cases, "all cases")
            gate.declare_equal(_ref(T, (t, "flagged"), "N"), everyone, "all young people")
        gate.declare_equal(_ref(T, (t, "ppv"), "n"), _ref(T, (t, "sensitivity"), "n"), "flagged cases")
        gate.declare_equal(_ref(T, (t, "ppv"), "N"), _ref(T, (t, "flagged"), "n"), "flagged persons")
    # a higher threshold flags a subset: the persons (and cases) between two thresholds count too
    counts = thr.set_index(["threshold", "measure"])["n"]
    ordered = sorted(thresholds)
    for lo, hi in zip(ordered, ordered[1:]):
        for measure in ("flagged", "sensitivity") if unweighted else ("sensitivity",):
            if (lo, measure) in counts.index and (hi, measure) in counts.index:
                gate.declare_nested(_ref(T, (lo, measure), "n"), _ref(T, (hi, measure), "n"),
                                    float(counts[(lo, measure)] - counts[(hi, measure)]),
                                    f"{measure} between thresholds {lo} and {hi}")
    gate.declare_total(cases, [_ref(C, (b,), "n") for b in cal["bin"]], "calibration bins hold all cases")
    if unweighted:
        gate.declare_total(everyone, [_ref(C, (b,), "N") for b in cal["bin"]], "bins hold everyone")
    for var, g in fair.groupby("variable", sort=False):
        groups = list(dict.fromkeys(g["group"]))
        calib = {x: _ref(F, (var, x, np.nan, "calibration"), "n") for x in groups}
        gate.declare_total(cases, list(calib.values()), f"{var} groups hold all cases")
        if unweighted:
            gate.declare_total(everyone, [_ref(F, (var, x, np.nan, "calibration"), "N") for x in groups],
                               f"{var} groups hold everyone")
        fc = g.set_index(["group", "threshold", "measure"])["n"]
        for x in groups:
            # per group: missed cases grow and flagged non-cases shrink with the threshold
            for lo, hi in zip(ordered, ordered[1:]):
                pairs = [((x, hi, "fnr"), (x, lo, "fnr"))]
                if unweighted:
                    pairs.append(((x, lo, "fpr"), (x, hi, "fpr")))
                for outer, inner in pairs:
                    if outer in fc.index and inner in fc.index:
                        gate.declare_nested(_ref(F, (var, *outer), "n"), _ref(F, (var, *inner), "n"),
                                            float(fc[outer] - fc[inner]),
                                            f"{var} {x}: {outer[2]} between thresholds {lo} and {hi}")
            for t in thresholds:
                gate.declare_equal(_ref(F, (var, x, t, "fnr"), "N"), calib[x], "cases of the group")
                gate.declare({_ref(F, (var, x, t, "fpr"), "N"): 1.0,
                              _ref(F, (var, x, np.nan, "calibration"), "N"): -1.0, calib[x]: 1.0},
                             0.0, "non-cases of the group")
        for t in thresholds:
            terms = {_ref(F, (var, x, t, "fnr"), "n"): 1.0 for x in groups}
            terms[_ref(T, (t, "sensitivity"), "N")] = -1.0
            terms[_ref(T, (t, "sensitivity"), "n")] = 1.0
            gate.declare(terms, 0.0, f"missed cases over {var} groups")
            if unweighted:
                terms = {_ref(F, (var, x, t, "fpr"), "n"): 1.0 for x in groups}
                terms[_ref(T, (t, "flagged"), "n")] = -1.0
                terms[_ref(T, (t, "sensitivity"), "n")] = 1.0
                gate.declare(terms, 0.0, f"false positives over {var} groups")


def _write_internal(out_dir: Path, name: str, df: pd.DataFrame) -> None:
    internal = out_dir / "internal"
    internal.mkdir(parents=True, exist_ok=True)
    marker = internal / "NOT_FOR_EXPORT.txt"
    if not marker.exists():
        marker.write_text("Person-level files: NOT FOR EXPORT. Never leave the secure environment.\n")
    df.to_csv(internal / name, index=False)


def _fmt(v: float | None, pct: bool = False, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    return f"{100 * v:.1f}%" if pct else f"{v:.{digits}f}"


def profile_section(reg, gate: Gate, spec: StudySpec, engine: Engine, out_dir: str | Path,
                    truth_dir: str | Path | None = None, inputs: dict | None = None) -> Section:
    """Fit, validate and audit the high-risk youth profile; release it through the gate as a
    Section. ``inputs``: from :func:`youth_inputs` (else read here)."""
    out_dir = Path(out_dir)
    ps = spec.profile
    k = gate.rules.min_persons
    layers = present_network_layers(reg, spec)
    prep = prepare_profile(reg, spec, engine, profile_dates(spec), layers, inputs)
    dev = profile_frame(reg, spec, ps.reference_date, engine, layers, prepared=prep)
    val = profile_frame(reg, spec, ps.validation_date, engine, layers, prepared=prep)
    title = {"en": "High-risk youth profile", "nl": "Hoog-risicoprofiel jongeren"}
    n_dev_cases, n_val_cases = int(dev["outcome"].sum()), int(val["outcome"].sum())
    if n_dev_cases < k or n_val_cases < k or (~dev["outcome"]).sum() < k:
        text = (f"Too few young people with a target offence within {ps.horizon_years} years of the "
                f"reference dates to fit or validate a profile (fewer than {k}).")
        text_nl = (f"Te weinig jongeren met een doelgroepdelict binnen {ps.horizon_years} jaar na de "
                   f"peildata om een profiel te schatten of te valideren (minder dan {k}).")
        return Section("profile", title, {"en": text, "nl": text_nl},
                       extra={"profile": {"auc": None, "auc_ci": [None, None], "calibration_slope": None,
                                          "truth_auc": None, "thresholds": []}})

    model = fit_profile_model(dev, candidate_predictors(spec), ps.min_age, min_cell=k)
    coefs = gate.model("profile_model", model_table(model), n_obs=model.n_obs,
                       df_resid=model.df_resid, category_counts=model.category_counts)

    y_dev, y_val = dev["outcome"].to_numpy(bool), val["outcome"].to_numpy(bool)
    w_val = val["weight"].to_numpy(float)
    risk_dev, risk_val = model.predicted_risk(dev), model.predicted_risk(val)
    # AUC is unweighted: non-cases are a simple random (hash) sample, which leaves the AUC unbiased.
    auc_dev, _, _ = auc_with_ci(y_dev, risk_dev)
    auc, lo, hi = auc_with_ci(y_val, risk_val)
    auc_points, _, _ = auc_with_ci(y_val, model.points_score(val))
    cal_a, cal_b = calibration_intercept_slope(y_val, risk_val, w_val)
    n_min = min(n_val_cases, int((~y_val).sum()))
    r_auc = gate.scalar("profile_auc", auc, n_min)
    r_lo = gate.scalar("profile_auc_ci_low", lo, n_min)
    r_hi = gate.scalar("profile_auc_ci_high", hi, n_min)
    r_auc_dev = gate.scalar("profile_auc_development", auc_dev, min(n_dev_cases, int((~y_dev).sum())))
    r_auc_pts = gate.scalar("profile_auc_points", auc_points, n_min)
    r_cal_a = gate.scalar("profile_calibration_intercept", cal_a, n_min)
    r_cal_b = gate.scalar("profile_calibration_slope", cal_b, n_min)

    r_truth = None
    if truth_dir is not None:
        truth = truth_propensity(truth_dir)
        m = val[["person_id", "outcome"]].merge(truth, on="person_id", how="inner")
        if len(m):
            t_auc, _, _ = auc_with_ci(m["outcome"].to_numpy(bool), m["p_target"].to_numpy(float))
            r_truth = gate.scalar("profile_truth_auc", t_auc,
                                  min(int(m["outcome"].sum()), int((~m["outcome"]).sum())))

    # Calibration bins, thresholds (flagged persons at each threshold) and fairness rows are
    # person sets: without sampling every count counts distinct young people of the validation
    # frame, so the gate gets who stands behind each count and derives every relation (bins and
    # groups partition everyone, a higher threshold flags a subset, PPV's N is the flagged ...)
    # itself. With case-control sampling the person counts (N, flagged, false positives) are
    # weighted estimates, not counts of identifiable persons, so members cannot be given: that
    # path keeps the hand declarations between the exact case counts.
    unweighted = bool((w_val == 1).all())
    thresholds_l = list(ps.thresholds)
    if unweighted:
        ids_val = val["person_id"].to_numpy(dtype=object)
        cal_df, cal_m = calibration_bins(y_val, risk_val, w_val, min_cases=k, ids=ids_val)
        thr_df, thr_m = threshold_table(y_val, risk_val, w_val, thresholds_l, ids=ids_val)
        fair_df, fair_m = fairness_table(val, risk_val, thresholds_l, with_members=True)
    else:
        cal_df = calibration_bins(y_val, risk_val, w_val, min_cases=k)
        thr_df = threshold_table(y_val, risk_val, w_val, thresholds_l)
        fair_df = fairness_table(val, risk_val, thresholds_l)
        cal_m = thr_m = fair_m = None
        _declare_profile_relations(gate, cal_df, thr_df, fair_df, thresholds_l, unweighted=False)
    cal = gate.proportions("profile_calibration", cal_df, estimate_cols=["observed", "predicted"],
                           key_cols=["bin"], members=cal_m)
    thr = gate.proportions("profile_thresholds", thr_df, estimate_cols=["value", "per_10000"],
                           key_cols=["threshold", "measure"], members=thr_m)
    fair = gate.proportions("profile_fairness", fair_df, estimate_cols=["value", "expected", "o_e"],
                            key_cols=["variable", "group", "threshold", "measure"], members=fair_m)

    figures = []
    plot = cal.dropna(subset=["observed", "predicted"])
    if len(plot) and "profile_calibration" in gate.tables:
        from crimcareer.report import palette

        plot = plot.assign(observed100=100 * plot["observed"], predicted100=100 * plot["predicted"])
        top = float(max(plot["observed100"].max(), plot["predicted100"].max())) * 1.05

        def chart(lang: str, plot=plot, top=top) -> alt.Chart:
            diag = alt.Chart(pd.DataFrame({"x": [0.0, top], "y": [0.0, top]})).mark_line(
                strokeDash=[4, 4], color="grey").encode(x="x:Q", y="y:Q")
            pts = alt.Chart(plot).mark_circle(size=70, color=palette.TARGET).encode(
                x=alt.X("predicted100:Q", title=palette.word("predicted", lang)),
                y=alt.Y("observed100:Q", title=palette.word("observed", lang)))
            c = (diag + pts).properties(width=360, height=300)
            return c.configure(locale=palette.NL_LOCALE) if lang == "nl" else c

        figures.append(released_figure(
            gate, chart, out_dir, "profile_calibration_plot",
            {"en": "Calibration of the profile at the validation date",
             "nl": "Kalibratie van het profiel op de validatiedatum"},
            ["profile_calibration"]))

    thresholds = []
    for t in ps.thresholds:
        thresholds.append({
            "threshold": t,
            "flagged_per_10000": released_value(thr, "per_10000", threshold=t, measure="flagged"),
            "sensitivity": released_value(thr, "value", threshold=t, measure="sensitivity"),
            "ppv": released_value(thr, "value", threshold=t, measure="ppv"),
        })

    # person-level scores stay inside
    scores = []
    for name, frame, risk in (("development", dev, risk_dev), ("validation", val, risk_val)):
        s = frame[["person_id", "weight", "outcome"]].copy()
        s.insert(1, "frame", name)
        s.insert(2, "reference_date", ps.reference_date if name == "development" else ps.validation_date)
        s["predicted_risk"] = risk
        s["points"] = model.points_score(frame)
        scores.append(s)
    _write_internal(out_dir, "profile_scores.csv", pd.concat(scores, ignore_index=True))

    # the base rate from released cells only (all cases and all young people, as released in
    # the threshold table; weighted estimates when sampled); dropped when either is withheld
    t0 = thresholds_l[0] if thresholds_l else None
    r_cases = released_value(thr, "N", threshold=t0, measure="sensitivity") if t0 is not None else None
    r_all = released_value(thr, "N", threshold=t0, measure="flagged") if t0 is not None else None
    base_rate = r_cases / r_all if r_cases is not None and r_all else None
    windows = {}
    for name, d in (("development", ps.reference_date), ("validation", ps.validation_date)):
        first, last = outcome_window(spec, d, reg.cutoff)
        windows[name] = round(max((last - first).days + 1, 0) / 365.25, 2)
    text = _model_card(spec, model, coefs, dev, val, r_auc, r_lo, r_hi, r_auc_dev, r_auc_pts, r_cal_a,
                       r_cal_b, r_truth, thresholds, base_rate, windows)
    tables = ["profile_model", "profile_calibration", "profile_thresholds", "profile_fairness"]
    table_titles = {
        "profile_model": {"en": "Profile model: weighted logistic regression and points",
                          "nl": "Profielmodel: gewogen logistische regressie en punten"},
        "profile_calibration": {"en": "Calibration by group of predicted risk (validation date)",
                                "nl": "Kalibratie naar groep voorspeld risico (validatiedatum)"},
        "profile_thresholds": {"en": "Flagged, sensitivity and PPV per risk threshold (validation date)",
                               "nl": "Gemarkeerd, sensitiviteit en PPV per risicodrempel (validatiedatum)"},
        "profile_fairness": {"en": "Fairness audit by sex and migration background (validation date)",
                             "nl": "Eerlijkheidsaudit naar geslacht en migratieachtergrond (validatiedatum)"},
    }
    extra = {"profile": {
        "auc": r_auc, "auc_ci": [r_lo, r_hi], "auc_development": r_auc_dev, "auc_points": r_auc_pts,
        "calibration_intercept": r_cal_a, "calibration_slope": r_cal_b, "truth_auc": r_truth,
        "thresholds": thresholds, "predictors": list(model.predictors),
        "points": {p: model.points[p] for p in model.predictors} if len(coefs) else {},
        "dropped_predictors": model.dropped,
        "reference_date": ps.reference_date.isoformat(), "validation_date": ps.validation_date.isoformat(),
        "horizon_years": ps.horizon_years, "outcome_window_years": windows,
        "cutoff": reg.cutoff.isoformat() if reg.cutoff else None,
    }}
    return Section("profile", title, text, tables=tables, table_titles=table_titles,
                   figures=figures, extra=extra)


def _model_card(spec, model, coefs, dev, val, auc, lo, hi, auc_dev, auc_pts, cal_a, cal_b, truth,
                thresholds, base_rate, windows) -> dict[str, str]:
    ps = spec.profile
    short = windows["validation"] < windows["development"] - 0.01
    window_en = (f" Because the outcome must fall in the target period (and before the data "
                 f"cut-off), the outcome window is "
                 f"{windows['development']:g} years at the development date but {windows['validation']:g} "
                 f"years at the validation date: at validation, fewer offences can be observed than "
                 f"the model predicts, which pulls the calibration intercept below 0 (the ranking, "
                 f"and so the AUC, is not affected)." if short else "")
    window_nl = (f" Omdat de uitkomst in de doelgroepperiode (en vóór de einddatum van de data) moet "
                 f"vallen, is het uitkomstvenster "
                 f"{windows['development']:g} jaar op de ontwikkeldatum maar {windows['validation']:g} jaar "
                 f"op de validatiedatum: bij validatie kunnen minder delicten worden waargenomen dan het "
                 f"model voorspelt, wat het kalibratie-intercept onder 0 trekt (de rangorde, en dus de "
                 f"AUC, verandert daardoor niet)." if short else "")
    sampled = (dev["weight"] > 1).any() or (val["weight"] > 1).any()
    preds_en = ", ".join(_label(p)["en"].lower() for p in model.predictors)
    preds_nl = ", ".join(_label(p)["nl"].lower() for p in model.predictors)
    dropped_en = "; ".join(f"{_label(p)['en'].lower()} ({why})" for p, why in model.dropped.items()) or "none"
    dropped_nl = "; ".join(f"{_label(p)['nl'].lower()} ({why})" for p, why in model.dropped.items()) or "geen"
    thr_en = " ".join(
        f"At a predicted risk of {100 * t['threshold']:g}% or more, {_fmt(t['flagged_per_10000'], digits=0)} "
        f"of every 10,000 young people are flagged; they include {_fmt(t['sensitivity'], True)} of those "
        f"who go on to offend (sensitivity), and {_fmt(t['ppv'], True)} of those flagged go on to offend (PPV)."
        for t in thresholds)
    thr_nl = " ".join(
        f"Bij een voorspeld risico van {100 * t['threshold']:g}% of meer worden van elke 10.000 jongeren er "
        f"{_fmt(t['flagged_per_10000'], digits=0)} gemarkeerd; daaronder is {_fmt(t['sensitivity'], True)} van "
        f"wie later een delict pleegt (sensitiviteit), en {_fmt(t['ppv'], True)} van de gemarkeerden pleegt "
        f"later een delict (PPV)." for t in thresholds)
    sample_en = ("All young people with the outcome and a seeded random sample of the others were used "
                 "(case-control sampling in the engine); the others carry inverse-probability weights, so "
                 "rates, calibration and counts refer to the whole population."
                 if sampled else "All young people in the population were used (no sampling was needed).")
    sample_nl = ("Alle jongeren met de uitkomst en een geseede aselecte steekproef van de overigen zijn "
                 "gebruikt (case-controlsteekproef in de engine); de overigen krijgen inverse-kansgewichten, "
                 "zodat percentages, kalibratie en aantallen voor de hele populatie gelden."
                 if sampled else "Alle jongeren in de populatie zijn gebruikt (geen steekproef nodig).")
    truth_en = (f" On this synthetic population the true planted propensity reaches an AUC of "
                f"{_fmt(truth)}: the ceiling any model could reach." if truth is not None else "")
    truth_nl = (f" Op deze synthetische populatie haalt de werkelijke (geplante) geneigdheid een AUC van "
                f"{_fmt(truth)}: het plafond voor elk model." if truth is not None else "")
    # base_rate: released cases / released young people (None when either was withheld)
    base_en = (f" The base rate is tiny: about {10_000 * base_rate:.1f} in 10,000 young people."
               if base_rate is not None else "")
    base_nl = (f" De basiskans is zeer klein: ongeveer {10_000 * base_rate:.1f} op 10.000 jongeren."
               if base_rate is not None else "")
    model_en = "" if len(coefs) else " The coefficient table was withheld by the disclosure gate."
    model_nl = "" if len(coefs) else " De coëfficiëntentabel is door de outputcontrole tegengehouden."
    en = (
        f"Model card. Purpose: planning and research on prevention (how many young people share a "
        f"high-risk profile and how well such a profile separates), not decisions about individuals. "
        f"Data: everyone aged {ps.min_age}-{ps.max_age}, alive and resident on {ps.reference_date} "
        f"(development) and on {ps.validation_date} (temporal validation), without an earlier target "
        f"offence. Outcome: a counted {spec.target.label} case with an offence date within "
        f"{ps.horizon_years} years (registered in {spec.target.period[0]}–{spec.target.period[1]}). "
        f"{sample_en} Features, measured only from events dated before the reference date: {preds_en}. "
        f"Left out: {dropped_en}. Sex and migration background are not predictors; they are used only "
        f"for the fairness audit. Model: logistic regression with robust standard errors; the points "
        f"score gives each factor round(coefficient / ln 1.1) points, so one point is about 10% higher "
        f"odds.{model_en} Performance at the validation date: AUC {_fmt(auc)} (95% CI {_fmt(lo)}–"
        f"{_fmt(hi)}; at development {_fmt(auc_dev)}; points score {_fmt(auc_pts)}), calibration "
        f"intercept {_fmt(cal_a)} and slope {_fmt(cal_b)} (ideal 0 and 1).{window_en}{truth_en}{base_en} "
        f"{thr_en} Fairness: the table by "
        f"sex and migration background shows observed against expected risk and false positive and "
        f"false negative rates per group. Limitations: registered crime only (suspects, not proven "
        f"offenders); deaths and emigration during the follow-up are not censored; relatives' and "
        f"network ties are as registered; the school measure is a proxy from diplomas; features that "
        f"describe small groups are left out for disclosure; a high AUC does not make individual "
        f"prediction reliable at this base rate."
    )
    nl = (
        f"Modelkaart. Doel: planning en onderzoek naar preventie (hoeveel jongeren een hoog-risicoprofiel "
        f"delen en hoe goed zo'n profiel onderscheidt), geen beslissingen over individuen. Data: iedereen "
        f"van {ps.min_age}-{ps.max_age} jaar die op {ps.reference_date} (ontwikkeling) en op "
        f"{ps.validation_date} (validatie in de tijd) leeft en in Nederland woont, zonder eerder "
        f"doelgroepdelict. Uitkomst: een meetellende {spec.target.label}-zaak met pleegdatum binnen "
        f"{ps.horizon_years} jaar (ingeschreven in {spec.target.period[0]}–{spec.target.period[1]}). "
        f"{sample_nl} Kenmerken, alleen uit gebeurtenissen vóór de peildatum: {preds_nl}. Weggelaten: "
        f"{dropped_nl}. Geslacht en migratieachtergrond zijn geen voorspellers; ze dienen alleen de "
        f"eerlijkheidsaudit. Model: logistische regressie met robuuste standaardfouten; de puntenscore "
        f"geeft elk kenmerk coëfficiënt / ln 1,1 punten (afgerond), dus één punt is ongeveer 10% hogere "
        f"odds.{model_nl} Prestatie op de validatiedatum: AUC {_fmt(auc)} (95%-BI {_fmt(lo)}–{_fmt(hi)}; "
        f"bij ontwikkeling {_fmt(auc_dev)}; puntenscore {_fmt(auc_pts)}), kalibratie-intercept "
        f"{_fmt(cal_a)} en -helling {_fmt(cal_b)} (ideaal 0 en 1).{window_nl}{truth_nl}{base_nl} "
        f"{thr_nl} Eerlijkheid: de tabel naar "
        f"geslacht en migratieachtergrond toont waargenomen tegenover verwacht risico en fout-positieve "
        f"en fout-negatieve percentages per groep. Beperkingen: alleen geregistreerde criminaliteit "
        f"(verdachten, geen bewezen daders); overlijden en emigratie tijdens de follow-up zijn niet "
        f"gecensureerd; familie- en netwerkbanden zoals geregistreerd; de schoolmaat is een benadering "
        f"via diploma's; kenmerken van kleine groepen zijn weggelaten vanwege de geheimhouding; een "
        f"hoge AUC maakt individuele voorspelling bij deze basiskans niet betrouwbaar."
    )
    return {"en": en, "nl": nl}
