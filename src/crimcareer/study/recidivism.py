"""Recidivism after the index case, following the WODC Recidivemonitor conventions.

Engine side (Ibis, one definition for DuckDB and Spark): :func:`followup` gives one row per
target-group and CC cohort person with the follow-up window, the first new counted case and the first new case
per specific category group. Statistics side (lifelines, cohort-sized pandas): Kaplan-Meier
prevalence of general recidivism, Aalen-Johansen cumulative incidence of specific recidivism with
death as a competing risk, the age split of R9, and the released curves.

Definitions (documented choices where the issue is silent):

- Reference case. Target group: the index case. CC (no index case in the cohort frame): the person's counted
  case of a non-excluded category (not in ``controls.exclude_categories``) registered
  (registration date, else offence date) in ``target.period`` whose offence date is closest to the
  matched index date (ties: the earlier offence date, then the smaller case_id). This keeps the
  control's follow-up in the same calendar years as its offender's. A cohort row that does carry an
  ``index_case_id`` uses it, whatever its group.
- Start: the reference case's disposal date, else registration date, else offence date. If a
  detention spell covers the start (spell start <= start <= spell end), follow-up starts at release
  (the spell's end date); this is applied twice, so back-to-back spells are followed through. A
  person still detained at the cut-off (open spell) is not followed.
- End: the earliest of the cut-off, death and emigration (``end_reason`` says which; death wins a
  tie). Persons whose end is not after their start are not followed (``followed`` false).
- General recidivism: the first new counted case (outcome not in ``cases.not_counted_outcomes``,
  not the reference case) with an offence date strictly after the start and not after the end. A
  case on the start date itself does not count.
- Specific recidivism: the same per category group of ``recidivism.specific_categories``, where
  ``trafficking`` means any of ``careers.trafficking_categories`` and any other name is an offence
  category. A new case of another category does not end follow-up for a specific group.
- Windows: w years = ``w * 365.25`` days on the Kaplan-Meier/Aalen-Johansen time axis (days);
  the engine flags ``reoffended_<w>y`` / ``observable_<w>y`` use the calendar anniversary
  (:func:`crimcareer.engine.add_years`), and R9 uses these flags.
- R9: among followed target-group persons who reoffended within 7 years or were observable for 7 full
  years, the share younger than ``recidivism.young_age`` at the start of follow-up, for those who
  reoffended within 7 years vs those who did not.
- Time at risk excluding detention (optional, when the ``detentions`` table exists):
  ``time_free_days`` = days from start to reoffence/end minus the days spent in detention spells
  inside that interval; reported as a supplementary Kaplan-Meier table.

- General recidivism (Kaplan-Meier) treats death and emigration as censoring, as the
  Recidivemonitor does; specific recidivism (Aalen-Johansen) treats death as a competing event
  and emigration and the cut-off as censoring.

Disclosure: each point estimate is released through ``Gate.proportions`` with n = persons with a
(specific) new case by then and N = every person of the group (persons not followed enter
censored at day 0, :func:`censored_at_start`, which leaves the estimates unchanged), so n, N and
N - n must all be 0 or >= 10. The group size is public (the N of most tables), so a released
count of followed persons, a few short of it, would give away those not followed: only
``recidivism_followed`` holds it, under the complement rule. Before the gate, an estimate is also
withheld (``note`` says why) when fewer than ``min_persons`` remain at risk at that time, or when
its n exceeds the previous released window's n of the same curve by 1..9 (successive windows
share N, so their difference would be a small cell). Every row's N is declared equal to the
group size in ``recidivism_followed`` (ledger relation). Curves are evaluated on a monthly grid
(no point reveals a single event date) and released with ``Gate.curve``, which cuts each curve
where fewer than ``min_persons`` remain at risk and thins it so that between released points the
events, and all persons leaving the risk set, are each 0 or >= ``min_persons`` (the first at-risk
count is withheld).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crimcareer.disclosure.released import released_value
from crimcareer.engine import add_years, age_in_years, days_between
from crimcareer.estimators.survival import cumulative_incidence_at
from crimcareer.estimators.survival import step_at as _step_at
from crimcareer.report.section import Section
from crimcareer.study.cohort import counted_cases, registered_within
from crimcareer.study.wording import counted_words, study_labels

if TYPE_CHECKING:
    from crimcareer.adapters.files import Registers
    from crimcareer.disclosure import Gate
    from crimcareer.engine import Engine
    from crimcareer.study.spec import StudySpec

DAYS_PER_YEAR = 365.25
_FAR = dt.date(9999, 12, 31)


# -- engine side -------------------------------------------------------------------------------
def category_groups(spec: "StudySpec") -> dict[str, list[str]]:
    """Specific-recidivism group name -> offence categories (``trafficking`` = both kinds)."""
    from crimcareer.contract import OFFENCE_CATEGORIES

    out: dict[str, list[str]] = {}
    for g in spec.recidivism.specific_categories:
        if g != "trafficking" and g not in OFFENCE_CATEGORIES:
            raise ValueError(f"recidivism.specific_categories: unknown category {g!r}; use "
                             f"'trafficking' or one of {list(OFFENCE_CATEGORIES)}")
        out[g] = list(spec.careers.trafficking_categories) if g == "trafficking" else [g]
    return out


def _left(a: ir.Table, b: ir.Table, key: str) -> ir.Table:
    """Left join on one same-named key, without the duplicated right key."""
    return a.left_join(b, key).drop(f"{key}_right")


def _release_after_detention(base: ir.Table, detentions: ir.Table) -> ir.Table:
    """Move start_date to the release date of a detention spell covering it (null if still held)."""
    d = detentions.select(
        person_id=detentions.person_id.cast("string"),
        d_start=detentions.start_date.cast("date"),
        d_end=detentions.end_date.cast("date"),
    )
    s = base.select("person_id", "start_date").filter(base.start_date.notnull())
    cover = s.join(d, "person_id").filter(
        (d.d_start <= s.start_date) & (d.d_end.isnull() | (d.d_end >= s.start_date))
    )
    released = cover.group_by("person_id").aggregate(
        release=ibis.coalesce(cover.d_end, ibis.date(_FAR)).max()
    )
    j = _left(base, released, "person_id")
    new_start = ibis.cases(
        (j.release.isnull(), j.start_date),
        (j.release == ibis.date(_FAR), ibis.null("date")),
        else_=j.release,
    )
    return j.mutate(
        start_date=new_start,
        still_detained=j.still_detained | (j.release == ibis.date(_FAR)).fill_null(False),
    ).drop("release")


def _detained_days(base: ir.Table, detentions: ir.Table, cutoff: dt.date) -> ir.Table:
    """Days spent in detention between start_date and exit_date, per person."""
    d = detentions.select(
        person_id=detentions.person_id.cast("string"),
        d_start=detentions.start_date.cast("date"),
        d_end=ibis.coalesce(detentions.end_date.cast("date"), ibis.date(cutoff)),
    )
    s = base.select("person_id", "start_date", "exit_date").filter(base.start_date.notnull())
    j = s.join(d, "person_id")
    lo = ibis.greatest(j.d_start, j.start_date)
    hi = ibis.least(j.d_end, j.exit_date)
    overlap = ibis.greatest(days_between(lo, hi), ibis.literal(0, "int64"))
    return j.mutate(overlap=overlap).group_by("person_id").aggregate(
        detained_days=lambda t: t.overlap.sum().cast("int64")
    )


def followup(reg: "Registers", cohort_table: ir.Table, spec: "StudySpec",
             engine: "Engine | None" = None) -> ir.Table:
    """One row per target-group and CC cohort person: follow-up window, first new case, specific first cases.

    With ``engine`` given, cohort-sized intermediate tables are materialized (smaller queries).

    Columns: person_id, group, ref_case_id, start_date, end_date, end_reason, followed,
    days_followed, reoffence_date, reoffence_category, event, time_days, death, age_at_start,
    first_<g>_date / days_to_<g> per specific group, reoffended_<w>y / observable_<w>y per window,
    detained_days and time_free_days (null without a detentions table).
    """
    cutoff = ibis.date(reg.cutoff)
    groups_followed = [spec.target.label, "CC"]
    coh = cohort_table.filter(cohort_table["group"].isin(groups_followed)).select(
        person_id=cohort_table.person_id.cast("string"),
        group=cohort_table["group"].cast("string"),
        index_date=cohort_table.index_date.cast("date"),
        index_case_id=cohort_table.index_case_id.cast("string"),
    )
    # Every later join is on cohort persons only: cut the population tables down first (semi
    # joins with the small cohort side), and keep the cut-down tables when an engine is given.
    ids = coh.select("person_id")

    def cohort_rows(t: ir.Table) -> ir.Table:
        t = t.semi_join(ids, t.person_id == ids.person_id)
        return engine.materialize(t) if engine is not None else t

    cases = cohort_rows(reg.cases)
    persons = cohort_rows(
        reg.persons.select("person_id", "birth_date", "death_date", "emigration_date"))
    detentions = cohort_rows(reg.detentions) if reg.has("detentions") else None
    counted = counted_cases(cases, spec)

    # Reference case of controls without an index case: closest qualifying case to the index date.
    qualifying = counted.filter(
        ~counted.offence_category.isin(list(spec.controls.exclude_categories))
        & registered_within(counted, spec.target.period)
    ).select("person_id", "case_id", "offence_date")
    need = coh.filter(coh.index_case_id.isnull()).select("person_id", "index_date")
    cand = need.join(qualifying, "person_id")
    dist = days_between(cand.index_date, cand.offence_date).abs()
    cand = cand.mutate(_dist=dist)
    w = ibis.window(group_by="person_id", order_by=["_dist", "offence_date", "case_id"])
    chosen = (
        cand.mutate(_rn=ibis.row_number().over(w))
        .filter(lambda t: t._rn == 0)
        .select("person_id", chosen_case_id="case_id")
    )
    base = _left(coh, chosen, "person_id")
    base = base.mutate(ref_case_id=ibis.coalesce(base.index_case_id, base.chosen_case_id))
    ref = cases.select(
        ref_case_id="case_id",
        ref_start=ibis.coalesce(cases.disposal_date, cases.registration_date, cases.offence_date),
    )
    base = _left(base, ref, "ref_case_id")
    base = base.mutate(start_date=base.ref_start).drop("ref_start", "chosen_case_id")
    if reg.has("detentions"):
        # Work on a narrow (person_id, start_date) table: each pass refers to it twice, and the
        # compiled SQL repeats whatever it is built from.
        starts = base.select("person_id", "start_date", still_detained=ibis.literal(False))
        if engine is not None:
            starts = engine.materialize(starts)
        for _ in range(2):  # twice: a release date inside a following spell moves on once more
            starts = _release_after_detention(starts, detentions)
        base = _left(base.drop("start_date"), starts, "person_id")
    else:
        base = base.mutate(still_detained=ibis.literal(False))

    base = _left(base, persons, "person_id")
    death = ibis.coalesce(base.death_date, cutoff)
    emig = ibis.coalesce(base.emigration_date, cutoff)
    end_date = ibis.least(cutoff, death, emig)
    end_reason = ibis.cases(
        (base.death_date.notnull() & (base.death_date <= end_date), "death"),
        (base.emigration_date.notnull() & (base.emigration_date <= end_date), "emigration"),
        else_="cutoff",
    )
    base = base.mutate(end_date=end_date, end_reason=end_reason)
    base = base.mutate(
        followed=(base.start_date.notnull() & (base.start_date < base.end_date)).fill_null(False)
    )
    if engine is not None:
        base = engine.materialize(base)  # cohort-sized; keeps the compiled queries small

    # New counted cases inside the window (strictly after the start, not after the end).
    win = base.filter(base.followed).select("person_id", "start_date", "end_date", "ref_case_id")
    new = counted.join(win, "person_id").filter(
        lambda t: (t.offence_date > t.start_date)
        & (t.offence_date <= t.end_date)
        & ((t.case_id != t.ref_case_id) | t.ref_case_id.isnull())
    ).select("person_id", "case_id", "offence_date", "offence_category")
    if engine is not None:
        new = engine.materialize(new)  # new cases of cohort persons: cohort-sized
    w1 = ibis.window(group_by="person_id", order_by=["offence_date", "case_id"])
    first = (
        new.mutate(_rn=ibis.row_number().over(w1))
        .filter(lambda t: t._rn == 0)
        .select("person_id", reoffence_date="offence_date", reoffence_category="offence_category")
    )
    groups = category_groups(spec)
    per_group = new.group_by("person_id").aggregate(
        **{
            f"first_{g}_date": new.offence_date.min(where=new.offence_category.isin(cats))
            for g, cats in groups.items()
        }
    )
    out = _left(_left(base, first, "person_id"), per_group, "person_id")

    event = out.reoffence_date.notnull()
    followed = out.followed
    days_followed = followed.ifelse(days_between(out.start_date, out.end_date), None)
    out = out.mutate(
        days_followed=days_followed,
        event=event,
        time_days=event.ifelse(days_between(out.start_date, out.reoffence_date), days_followed),
        exit_date=event.ifelse(out.reoffence_date, out.end_date),
        death=out.end_reason == "death",
        age_at_start=followed.ifelse(age_in_years(out.birth_date, out.start_date), None),
        **{f"days_to_{g}": days_between(out.start_date, out[f"first_{g}_date"]) for g in groups},
    )
    flags: dict[str, Any] = {}
    for y in spec.recidivism.windows_years:
        anniversary = add_years(out.start_date, y)
        re = (event & (out.reoffence_date <= anniversary)).fill_null(False)
        flags[f"reoffended_{y}y"] = re
        flags[f"observable_{y}y"] = (re | (anniversary <= out.end_date)).fill_null(False)
    out = out.mutate(**flags)

    if reg.has("detentions"):
        if engine is not None:
            out = engine.materialize(out)
        det = _detained_days(out, detentions, reg.cutoff)
        out = _left(out, det, "person_id")
        out = out.mutate(detained_days=out.followed.ifelse(
            out.detained_days.fill_null(0), ibis.null("int64")).cast("int64"))
    else:
        out = out.mutate(detained_days=ibis.null("int64"))
    # Clipped at 0: overlapping detention spells would otherwise be counted twice.
    free = out.time_days - out.detained_days  # (GREATEST would turn a null into 0)
    out = out.mutate(time_free_days=(free < 0).ifelse(0, free).cast("int64"))
    cols = [
        "person_id", "group", "index_date", "ref_case_id", "start_date", "still_detained",
        "end_date", "end_reason", "followed", "days_followed", "reoffence_date",
        "reoffence_category", "event", "time_days", "death", "age_at_start",
        *[f"first_{g}_date" for g in groups], *[f"days_to_{g}" for g in groups],
        *flags, "detained_days", "time_free_days",
    ]
    return out.select(*cols)


# -- statistics (cohort-sized pandas) ------------------------------------------------------------
def kaplan_meier_prevalence(durations: np.ndarray, events: np.ndarray,
                            times_days: np.ndarray) -> pd.DataFrame:
    """1 - S(t) by Kaplan-Meier (lifelines) at given days, with 95% CI, at-risk and event counts.

    Columns: time_days, estimate, ci_low, ci_high (exponential Greenwood, lifelines default),
    at_risk (persons with duration >= t), n (events by t), N (persons).
    """
    from lifelines import KaplanMeierFitter

    d = np.asarray(durations, dtype=float)
    e = np.asarray(events, dtype=bool)
    t = np.asarray(times_days, dtype=float)
    out = pd.DataFrame({"time_days": t})
    out["at_risk"] = [(d >= x).sum() for x in t]
    out["n"] = [(e & (d <= x)).sum() for x in t]
    out["N"] = len(d)
    if len(d) == 0:
        for c in ("estimate", "ci_low", "ci_high"):
            out[c] = np.nan
        return out[["time_days", "estimate", "ci_low", "ci_high", "at_risk", "n", "N"]]
    km = KaplanMeierFitter().fit(d, event_observed=e)
    idx = km.survival_function_.index.to_numpy(dtype=float)
    surv = _step_at(idx, km.survival_function_.iloc[:, 0].to_numpy(), t)
    ci = km.confidence_interval_survival_function_
    # Bounds by min/max of lifelines' two columns: its Aalen-Johansen labels them the wrong way
    # round (the "upper" column holds the lower bound), so never trust the names.
    a = _step_at(idx, ci.iloc[:, 0].to_numpy(), t)
    b = _step_at(idx, ci.iloc[:, 1].to_numpy(), t)
    lower, upper = np.fmin(a, b), np.fmax(a, b)
    out["estimate"] = 1 - surv
    out["ci_low"] = np.nan_to_num(1 - upper, nan=0.0)
    out["ci_high"] = np.nan_to_num(1 - lower, nan=0.0)
    return out[["time_days", "estimate", "ci_low", "ci_high", "at_risk", "n", "N"]]


def aalen_johansen_incidence(durations: np.ndarray, causes: np.ndarray,
                             times_days: np.ndarray) -> pd.DataFrame:
    """Cumulative incidence of cause 1 with cause 2 competing (lifelines AalenJohansenFitter made
    deterministic on ties: :func:`crimcareer.estimators.survival.cumulative_incidence_at`).

    causes: 0 censored, 1 event of interest, 2 competing (death). Columns as
    :func:`kaplan_meier_prevalence` (n = cause-1 events by t; CI: lifelines' log-log delta method).
    """
    d = np.ascontiguousarray(durations, dtype=float)
    c = np.ascontiguousarray(causes, dtype=int)
    t = np.asarray(times_days, dtype=float)
    out = pd.DataFrame({"time_days": t})
    out["at_risk"] = [(d >= x).sum() for x in t]
    out["n"] = [((c == 1) & (d <= x)).sum() for x in t]
    out["N"] = len(d)
    out["estimate"], out["ci_low"], out["ci_high"] = cumulative_incidence_at(d, c, t)
    return out[["time_days", "estimate", "ci_low", "ci_high", "at_risk", "n", "N"]]


def specific_durations(fu: pd.DataFrame, group: str) -> tuple[np.ndarray, np.ndarray]:
    """(days, cause) for specific recidivism of one category group among followed rows.

    cause 1: first new case of the group; 2: death before it (competing); 0: censored.
    """
    f = fu[fu["followed"].astype(bool)]
    to_g = pd.to_numeric(f[f"days_to_{group}"], errors="coerce")
    followed_days = pd.to_numeric(f["days_followed"], errors="coerce")
    has = to_g.notna()
    days = np.where(has, to_g, followed_days).astype(float)
    cause = np.where(has, 1, np.where(f["death"].astype(bool), 2, 0))
    return days, cause


def general_recidivism(fu: pd.DataFrame, years: list[int | float],
                       time_col: str = "time_days",
                       groups: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Kaplan-Meier prevalence of any new counted case by each window, per group (default: every
    group in `fu`, in order of appearance)."""
    rows = []
    for g in _groups_of(fu, groups):
        f = fu[(fu["group"] == g) & fu["followed"].astype(bool)]
        f = f[pd.to_numeric(f[time_col], errors="coerce").notna()]
        res = kaplan_meier_prevalence(f[time_col].astype(float).to_numpy(),
                                      f["event"].astype(bool).to_numpy(),
                                      np.array(years, dtype=float) * DAYS_PER_YEAR)
        res.insert(0, "years", list(years))
        res.insert(0, "group", g)
        rows.append(res)
    return pd.concat(rows, ignore_index=True).drop(columns="time_days")


def specific_recidivism(fu: pd.DataFrame, categories: list[str], years: int,
                        groups: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Aalen-Johansen cumulative incidence per category group within `years`, per group (default:
    every group in `fu`)."""
    rows = []
    for g in _groups_of(fu, groups):
        f = fu[fu["group"] == g]
        for cat in categories:
            d, c = specific_durations(f, cat)
            res = aalen_johansen_incidence(d, c, np.array([years * DAYS_PER_YEAR]))
            res.insert(0, "years", years)
            res.insert(0, "category", cat)
            res.insert(0, "group", g)
            rows.append(res)
    return pd.concat(rows, ignore_index=True).drop(columns="time_days")


def young_share_by_reoffending(fu: pd.DataFrame, years: int, young_age: int,
                               group: str, with_members: bool = False):
    """R9: share younger than young_age at start among reoffenders within `years` and the rest.

    Only persons who reoffended within the window or were observable for all of it count.
    """
    from statsmodels.stats.proportion import proportion_confint

    f = fu[(fu["group"] == group) & fu["followed"].astype(bool)
           & fu[f"observable_{years}y"].astype(bool)]
    re = f[f"reoffended_{years}y"].astype(bool)
    rows = []
    members: dict[str, list] = {"n": [], "N": []}
    for key, part in (("reoffenders", f[re]), ("non_reoffenders", f[~re])):
        young = part["age_at_start"].astype(float) < young_age
        n = int(young.sum())
        N = len(part)
        if with_members:
            members["n"].append(part.loc[young, "person_id"].to_numpy())
            members["N"].append(part["person_id"].to_numpy())
        lo, hi = proportion_confint(n, N, method="wilson") if N else (np.nan, np.nan)
        rows.append({"group": group, "subset": key, "n": n, "N": N,
                     "pct": n / N if N else np.nan, "ci_low": lo, "ci_high": hi})
    return (pd.DataFrame(rows), members) if with_members else pd.DataFrame(rows)


def _grid_days(max_days: float) -> np.ndarray:
    """A monthly grid from 0 to max_days (so no curve point reveals a single event date)."""
    step = DAYS_PER_YEAR / 12
    return np.arange(0.0, max(max_days, 0.0) + 1e-9, step)


def _groups_of(fu: pd.DataFrame, groups: tuple[str, ...] | None) -> tuple[str, ...]:
    """The groups asked for, else every group in the follow-up frame in order of appearance."""
    return tuple(groups) if groups is not None else tuple(dict.fromkeys(fu["group"].astype(str)))


def general_recidivism_curve(fu: pd.DataFrame, groups: tuple[str, ...] | None = None
                             ) -> pd.DataFrame:
    """KM prevalence curve per group on a monthly grid: group, time (years), estimate, ci_low,
    ci_high, at_risk."""
    parts = []
    for g in _groups_of(fu, groups):
        f = fu[(fu["group"] == g) & fu["followed"].astype(bool)]
        if f.empty:
            continue
        d = f["time_days"].astype(float).to_numpy()
        e = f["event"].astype(bool).to_numpy()
        grid = _grid_days(d.max())
        res = kaplan_meier_prevalence(d, e, grid)
        res["events"] = _events_before(d, e, grid)
        res.insert(0, "group", g)
        parts.append(res)
    return _curve_frame(parts)


def specific_recidivism_curve(fu: pd.DataFrame, categories: list[str],
                              group: str) -> pd.DataFrame:
    """Aalen-Johansen cumulative-incidence curves per category on a monthly grid (one group):
    category, time (years), estimate, ci_low, ci_high, at_risk."""
    parts = []
    f = fu[fu["group"] == group]
    for cat in categories:
        d, c = specific_durations(f, cat)
        if len(d) == 0:
            continue
        grid = _grid_days(d.max())
        res = aalen_johansen_incidence(d, c, grid)
        res["events"] = _events_before(d, c == 1, grid)
        res.insert(0, "category", cat)
        parts.append(res)
    return _curve_frame(parts, "category")


def _events_before(d: np.ndarray, e: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Events that left the risk set before each grid time (at_risk counts d >= t), for the
    gate's thinning of released curves; never released itself."""
    de = np.sort(d[e])
    return np.searchsorted(de, grid, side="left")


def _curve_frame(parts: list[pd.DataFrame], by: str = "group") -> pd.DataFrame:
    cols = [by, "time", "estimate", "ci_low", "ci_high", "at_risk", "events"]
    if not parts:
        return pd.DataFrame(columns=cols)
    out = pd.concat(parts, ignore_index=True)
    out["time"] = out["time_days"] / DAYS_PER_YEAR
    return out[cols]


# -- disclosure helpers ----------------------------------------------------------------------------
def censored_at_start(fu: pd.DataFrame) -> pd.DataFrame:
    """Follow-up rows with every person of the group followed: persons not followed become
    censored at day 0 (no event, no time at risk), which leaves KM and Aalen-Johansen estimates
    unchanged and makes N the group size."""
    out = fu.copy()
    m = ~out["followed"].astype(bool)
    if not m.any():
        return out
    for c in ("time_days", "days_followed", "time_free_days"):
        if c in out.columns:
            out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
            out.loc[m, c] = 0.0
    for c in [c for c in out.columns if c.startswith("days_to_")]:
        out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
        out.loc[m, c] = np.nan
    out["event"] = out["event"].astype(bool) & ~m
    out["death"] = out["death"].astype(bool) & ~m
    out["followed"] = True
    return out


def window_members(fu: pd.DataFrame, table: pd.DataFrame, time_col: str = "time_days",
                   category_col: str | None = None) -> dict[str, list[np.ndarray]]:
    """The persons behind each window row (group, years[, category]) of
    :func:`general_recidivism` / :func:`specific_recidivism`: N the group, n the events by the
    window (cause 1)."""
    out: dict[str, list[np.ndarray]] = {"n": [], "N": []}
    for _, row in table.iterrows():
        f = fu[(fu["group"] == row["group"]) & fu["followed"].astype(bool)]
        if category_col is None:
            f = f[pd.to_numeric(f[time_col], errors="coerce").notna()]
            d = f[time_col].astype(float).to_numpy()
            e = f["event"].astype(bool).to_numpy()
        else:
            d, c = specific_durations(f, row[category_col])
            e = c == 1
        x = float(row["years"]) * DAYS_PER_YEAR
        ids = f["person_id"].to_numpy()
        out["N"].append(ids)
        out["n"].append(ids[e & (d <= x)])
    return out


def curve_persons(fu: pd.DataFrame, groups: tuple[str, ...] | None = None,
                  categories: list[str] | None = None, group: str | None = None) -> pd.DataFrame:
    """One row per person (and category) behind a released curve: person_id, the curve's
    ``by`` value, time in years and status (0 censored, 1 event, 2 competing), for the gate."""
    parts = []
    if categories is None:
        for g in groups or ():
            f = fu[(fu["group"] == g) & fu["followed"].astype(bool)]
            parts.append(pd.DataFrame({
                "person_id": f["person_id"].to_numpy(), "group": g,
                "time": f["time_days"].astype(float).to_numpy() / DAYS_PER_YEAR,
                "status": f["event"].astype(bool).to_numpy().astype(int)}))
    else:
        f = fu[fu["group"] == group]
        for cat in categories:
            d, c = specific_durations(f, cat)
            ids = f.loc[f["followed"].astype(bool), "person_id"].to_numpy()
            parts.append(pd.DataFrame({"person_id": ids, "category": cat,
                                       "time": d / DAYS_PER_YEAR, "status": c}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["person_id", "time", "status"])


def _fraction(pct: float | None) -> float | None:
    """A released percentage as the fraction results.json holds."""
    return None if pct is None else pct / 100.0


def _curve_chart(df: pd.DataFrame, by: str, lang: str, y_word: str, spec: "StudySpec"):
    """A step curve with its 95% band per group or category, in one report language; groups
    and categories keep their colours in every figure (crimcareer.report.palette)."""
    import altair as alt

    from crimcareer.labels import LABELS as labels
    from crimcareer.report import palette

    own = study_labels(spec)
    i = 0 if lang == "en" else 1
    codes = list(dict.fromkeys(df[by].astype(str)))
    names = {c: own.get(c, labels.get(c, (c, c)))[i] for c in codes}
    names = {c: n[:1].upper() + n[1:] for c, n in names.items()}
    d = df.assign(who=df[by].astype(str).map(names),
                  est100=100 * df["estimate"], lo100=100 * df["ci_low"], hi100=100 * df["ci_high"])
    colours = palette.group_colours(spec.target.label) if by == "group" else palette.CATEGORIES
    base = alt.Chart(d).encode(
        x=alt.X("time:Q", title=palette.word("years_since_start", lang)),
        color=alt.Color("who:N", title=palette.word(by if by == "group" else "category", lang),
                        scale=palette.label_scale(colours, names, codes),
                        legend=alt.Legend(labelLimit=300)),
    )
    band = base.mark_area(opacity=0.2, interpolate="step-after").encode(
        y=alt.Y("lo100:Q", title=palette.word(y_word, lang)), y2="hi100:Q"
    )
    line = base.mark_line(interpolate="step-after").encode(
        y=alt.Y("est100:Q", title=palette.word(y_word, lang))
    )
    chart = (band + line).properties(width=480, height=300)
    return chart.configure(locale=palette.NL_LOCALE) if lang == "nl" else chart


# -- the report section ----------------------------------------------------------------------------
def recidivism_section(reg: "Registers", cohort: pd.DataFrame, gate: "Gate", spec: "StudySpec",
                       engine: "Engine", out_dir: str | Path) -> Section:
    """Follow-up, KM and Aalen-Johansen estimates released through the gate; R1-R9 headlines."""
    rs = spec.recidivism
    k = gate.rules.min_persons
    cols = ["person_id", "group", "index_date", "index_case_id"]
    coh = cohort[[c for c in cols if c in cohort.columns]].copy()
    if "index_case_id" not in coh.columns:
        coh["index_case_id"] = None
    coh["index_case_id"] = [None if pd.isna(v) else str(v) for v in coh["index_case_id"]]
    coh["index_date"] = pd.to_datetime(coh["index_date"])
    target = spec.target.label
    groups = (target, "CC")
    coh = coh[coh["group"].isin(groups)]
    fu = engine.to_pandas(followup(reg, engine.from_pandas(coh), spec, engine))

    tables: list[str] = []
    titles: dict[str, dict[str, str]] = {}

    # Who is followed.
    counts = pd.DataFrame([
        {"group": g, "n": int(fu.loc[fu["group"] == g, "followed"].astype(bool).sum()),
         "N": int((fu["group"] == g).sum())} for g in groups
    ])
    counts["pct"] = 100 * counts["n"] / counts["N"].where(counts["N"] > 0)  # tables: percent
    gate.proportions("recidivism_followed", counts, ["pct"], key_cols=["group"], members={
        "n": [fu.loc[(fu["group"] == g) & fu["followed"].astype(bool), "person_id"].to_numpy()
              for g in groups],
        "N": [fu.loc[fu["group"] == g, "person_id"].to_numpy() for g in groups]})
    tables.append("recidivism_followed")
    titles["recidivism_followed"] = {"en": "Persons followed (of the cohort group)",
                                     "nl": "Gevolgde personen (van de cohortgroep)"}

    # The released estimates count every group member: persons not followed enter censored at
    # day 0 (the estimates are unchanged), so each table's N is the public group size and no
    # count of "followed" persons, a few short of it, is released anywhere but above.
    fu_rel = censored_at_start(fu)

    # General recidivism (R1-R4).
    # Window rows register their persons (events by the window, at risk at it): the gate
    # audits them against each other and against the curves' points (no hand declarations).
    # No at-risk count in window rows: with n and N it would count the persons who left
    # follow-up without an event (the curves release at-risk counts, thinned).
    gen = general_recidivism(fu_rel, list(rs.windows_years), groups=groups)
    gen = gate.proportions("recidivism_general", gen.drop(columns="at_risk"),
                           ["estimate", "ci_low", "ci_high"], key_cols=["group", "years"],
                           members=window_members(fu_rel, gen),
                           headline=[True] * len(gen))  # R1-R4: curve points go first
    tables.append("recidivism_general")
    titles["recidivism_general"] = {
        "en": "Any new offence within 2, 5 and 7 years (Kaplan-Meier, 95% CI)",
        "nl": "Nieuw delict binnen 2, 5 en 7 jaar (Kaplan-Meier, 95%-BI)",
    }

    # Specific recidivism (R5-R8).
    cats = list(rs.specific_categories)
    spc = specific_recidivism(fu_rel, cats, rs.specific_window_years, groups=groups)
    spc = gate.proportions("recidivism_specific", spc.drop(columns="at_risk"),
                           ["estimate", "ci_low", "ci_high"],
                           key_cols=["group", "category", "years"],
                           members=window_members(fu_rel, spc, category_col="category"))
    tables.append("recidivism_specific")
    titles["recidivism_specific"] = {
        "en": f"New offence by category within {rs.specific_window_years} years "
              "(Aalen-Johansen, death as competing risk, 95% CI)",
        "nl": f"Nieuw delict per categorie binnen {rs.specific_window_years} jaar "
              "(Aalen-Johansen, overlijden als concurrerend risico, 95%-BI)",
    }

    # R9: age split.
    r9_years = max(rs.windows_years)
    age, age_members = young_share_by_reoffending(fu, r9_years, rs.young_age, group=target,
                                                  with_members=True)
    age[["pct", "ci_low", "ci_high"]] = 100 * age[["pct", "ci_low", "ci_high"]]  # tables: percent
    age = gate.proportions("recidivism_age_split", age, ["pct", "ci_low", "ci_high"],
                           key_cols=["group", "subset"], members=age_members)
    tables.append("recidivism_age_split")
    titles["recidivism_age_split"] = {
        "en": f"Share younger than {rs.young_age} at start, by reoffending within {r9_years} years",
        "nl": f"Aandeel jonger dan {rs.young_age} bij start, naar recidive binnen {r9_years} jaar",
    }

    # Optional: time at risk excluding detention.
    if reg.has("detentions"):
        free = general_recidivism(fu_rel, list(rs.windows_years), time_col="time_free_days",
                                  groups=groups)
        gate.proportions("recidivism_general_free_time", free.drop(columns="at_risk"),
                         ["estimate", "ci_low", "ci_high"], key_cols=["group", "years"],
                         members=window_members(fu_rel, free, time_col="time_free_days"))
        tables.append("recidivism_general_free_time")
        titles["recidivism_general_free_time"] = {
            "en": "Any new offence within 2, 5 and 7 years of time at risk outside detention",
            "nl": "Nieuw delict binnen 2, 5 en 7 jaar risicotijd buiten detentie",
        }

    # Curves and figures (drawn only from the released curves).
    figures: list[Figure] = []
    est = ["estimate", "ci_low", "ci_high"]
    km = gate.curve("recidivism_general_curve", general_recidivism_curve(fu_rel, groups),
                    by="group", events_col="events", persons=curve_persons(fu_rel, groups),
                    estimate_cols=est)
    cif = gate.curve("recidivism_specific_curve", specific_recidivism_curve(fu_rel, cats, target),
                     by="category", events_col="events",
                     persons=curve_persons(fu_rel, categories=cats, group=target),
                     estimate_cols=est)
    tables += ["recidivism_general_curve", "recidivism_specific_curve"]
    titles["recidivism_general_curve"] = {"en": "Kaplan-Meier curve of any new offence",
                                          "nl": "Kaplan-Meiercurve van een nieuw delict"}
    titles["recidivism_specific_curve"] = {
        "en": f"Cumulative incidence of a new offence by category ({target})",
        "nl": f"Cumulatieve incidentie van een nieuw delict per categorie ({target})",
    }
    from crimcareer.report.figures import released_figure

    for name, table, df, by, ytitle, title in (
        ("recidivism_km", "recidivism_general_curve", km, "group",
         "reoffended", {"en": "Any new offence (Kaplan-Meier)",
                        "nl": "Nieuw delict (Kaplan-Meier)"}),
        ("recidivism_cif", "recidivism_specific_curve", cif, "category",
         "cumulative_incidence",
         {"en": f"New offence by category, {target} (Aalen-Johansen)",
          "nl": f"Nieuw delict per categorie, {target} (Aalen-Johansen)"}),
    ):
        if df.empty:
            continue
        figures.append(released_figure(
            gate, lambda lang, df=df, by=by, ytitle=ytitle: _curve_chart(df, by, lang, ytitle, spec),
            out_dir, name, title, [table]))

    headline: dict[str, dict[str, float | None]] = {}
    for rid, y in zip(("R1", "R2", "R3"), (2, 5, 7)):
        headline[rid] = {target: released_value(gen, "estimate", group=target, years=y)}
    headline["R4"] = {"CC": released_value(gen, "estimate", group="CC", years=2)}
    for rid, cat in zip(("R5", "R6", "R7", "R8"), cats):
        headline[rid] = {target: released_value(spc, "estimate", group=target, category=cat)}
    headline["R9"] = {
        "reoffenders": _fraction(released_value(age, "pct", subset="reoffenders")),
        "non_reoffenders": _fraction(released_value(age, "pct", subset="non_reoffenders")),
    }

    text = {
        "en": (
            "Follow-up starts at the index case's disposal date (else registration, else offence "
            "date), or at release when a detention spell covers that date, and ends at the "
            "cut-off, death or emigration. Criminal controls start at their counted case "
            "registered in the study period that lies closest to the matched index date. "
            f"Recidivism is a new counted case ({counted_words(spec)[0]}) with an "
            "offence date after the start; a case on the start date does not count. General "
            "recidivism is estimated by Kaplan-Meier, specific recidivism by Aalen-Johansen with "
            "death as a competing risk. Curves stop where fewer than "
            f"{k} persons remain at risk."
        ),
        "nl": (
            "De observatieperiode begint op de afdoeningsdatum van de indexzaak (anders de "
            "registratiedatum, anders de pleegdatum), of bij invrijheidstelling als een "
            "detentieperiode die datum omvat, en eindigt op de einddatum van de registers, bij "
            "overlijden of emigratie. Criminele controles beginnen bij hun meetellende zaak in de "
            "onderzoeksperiode die het dichtst bij de gematchte indexdatum ligt. Recidive is een "
            f"nieuwe meetellende zaak ({counted_words(spec)[1]}) met een pleegdatum na de "
            "start; een zaak op de startdatum telt niet mee. Algemene recidive is geschat met "
            "Kaplan-Meier, specifieke recidive met Aalen-Johansen met overlijden als "
            f"concurrerend risico. Curves stoppen waar minder dan {k} personen nog gevolgd worden."
        ),
    }
    return Section(
        key="recidivism",
        title={"en": "Recidivism", "nl": "Recidive"},
        text=text,
        tables=tables,
        table_titles=titles,
        figures=figures,
        headline=headline,
    )
