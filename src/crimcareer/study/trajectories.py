"""Offending trajectories (B15) and the atypical offender (B16).

Engine side: :func:`yearly_case_counts` builds, as one Ibis expression, the counted cases and the
exposure per cohort person and year of life (ages ``spec.trajectories.min_age`` .. age at the
cut-off). The cohort-sized result goes to numpy (:func:`count_matrix`) and the group-based
trajectory model (:mod:`crimcareer.estimators.gbtm`, hand-written EM) is fitted on the target group
and on CC.

Exposure of the year of life [birthday a, birthday a+1): the share of its days that are
- on or after the register coverage start (the earliest offence date in the cases table unless
  given: cases before the register covers them do not exist, so those years are not observed),
- before the cut-off + 1 day, the death date and the emigration date,
- not in detention (``detentions`` spells, end date exclusive, open spells run to the cut-off;
  overlapping spells are not merged, exposure is floored at 0).
A year with no exposure is not observed (NaN in Y).

Group labels come from the shape of the fitted curves (:func:`label_groups`), never from order.
The model (`spec.trajectories.model`): "poisson", "zip" or "frailty" (Poisson with a person-level
gamma frailty, which the synthetic population plants; "frailty" needs spec.py to allow it).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

import altair as alt
import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crimcareer.disclosure import Gate, released_value
from crimcareer.engine import Engine, add_years, age_in_years, days_between
from crimcareer.labels import TRAJECTORIES, both
from crimcareer.report.figures import save_chart
from crimcareer.report.section import Figure, Section
from crimcareer.estimators.gbtm import (GroupTrajectoryModel, bootstrap_shares, select_groups,
                                        start_workers, stop_workers)
from crimcareer.study.spec import StudySpec

try:  # written in parallel by another engineer; same definition as below
    from crimcareer.study.cohort import counted_cases as _counted_cases
except ImportError:  # pragma: no cover - fallback while cohort.py is absent
    _counted_cases = None

LOW, EARLY, LATE, HIGH = "low_rate", "early_peak", "late_peak", "high_rate_persistent"
N_BOOT = 200  # bootstrap replicates for the CIs of the group shares
YOUNG_PEAK_AGE = 25  # a lone non-low, non-persistent group peaking before this age is early-peak
PERSISTENCE_MIN = 0.4  # curve 10 years after the peak, relative to the peak, for "persistent"
PERSISTENCE_LAG = 10
LABEL_MIN_OBSERVED = 0.2  # label shapes on ages where at least this share of persons is observed

_MODEL_TEXT = {
    "poisson": ("Poisson regressions", "Poisson-regressies"),
    "zip": ("zero-inflated Poisson regressions", "zero-inflated Poisson-regressies"),
    "frailty": ("Poisson regressions with a person-level gamma frailty (negative binomial)",
                "Poisson-regressies met een persoonsgebonden gamma-verdeelde heterogeniteit (negatief binomiaal)"),
}

_PROFILE_BOOL = (
    "male", "migration_any", "origin_big4", "criminal_family", "skq_by_23",
    "single_parent_childhood", "youth_care_childhood", "first_trafficking_young",
    "repeat_trafficking",
)
_PROFILE_NUM = ("age_at_index", "n_prior_cases", "age_first_case")


def _label(key: str) -> dict[str, str]:
    """A word of this section (trajectory shapes, model columns) from the label registry; any
    other key (a cohort group code) reads as it is."""
    if key in TRAJECTORIES:
        return both(key)
    return {"en": key.replace("_", " "), "nl": key.replace("_", " ")}


# -- engine side ------------------------------------------------------------------------------
def yearly_case_counts(reg, cohort_table: ir.Table, spec: StudySpec,
                       register_start: dt.date | None = None,
                       exclude_categories: list[str] | None = None) -> ir.Table:
    """Per cohort person and year of life from min_age to the age at cut-off: person_id, age,
    n_cases (counted cases by offence date, optionally without some offence categories, and
    without the person's index case when the cohort table has `index_case_id` and the spec says
    so) and exposure (share of that year at risk)."""
    min_age = spec.trajectories.min_age
    cutoff = reg.cutoff
    persons = reg.persons
    ids = cohort_table.select("person_id").distinct()
    people = ids.join(persons, "person_id").select(
        "person_id", "birth_date", "death_date", "emigration_date")
    cut_lit = ibis.literal(cutoff, type="date")
    end_lit = ibis.literal(cutoff + dt.timedelta(days=1), type="date")
    max_age = 130
    ages = ibis.memtable({"age": np.arange(min_age, max_age + 1, dtype="int32")})
    grid = people.cross_join(ages)
    grid = grid.filter(grid.age <= age_in_years(grid.birth_date, cut_lit))
    start = add_years(grid.birth_date, grid.age)
    end = add_years(grid.birth_date, grid.age + 1)
    risk_end = ibis.least(end, end_lit, grid.death_date.fill_null(end_lit),
                          grid.emigration_date.fill_null(end_lit))
    risk_start = start
    if register_start is None:
        register_start = _register_start(reg)
    if register_start is not None:
        risk_start = ibis.greatest(start, ibis.literal(register_start, type="date"))
    grid = grid.mutate(
        _start=start, _end=end, _rs=risk_start, _re=risk_end,
        _days=days_between(start, end),
    )
    grid = grid.mutate(_risk=ibis.greatest(days_between(grid._rs, grid._re), 0))

    if reg.has("detentions"):
        det = reg.detentions
        det = det.semi_join(ids, det.person_id == ids.person_id).select(
            d_pid=det.person_id, d_start=det.start_date,
            d_end=det.end_date.fill_null(end_lit))
        j = grid.select("person_id", "age", "_rs", "_re").join(
            det, [grid.person_id == det.d_pid, det.d_start < grid._re, det.d_end > grid._rs])
        ov = days_between(ibis.greatest(j._rs, j.d_start), ibis.least(j._re, j.d_end))
        j = j.mutate(_ov=ibis.greatest(ov, 0))  # empty risk windows (after emigration) overlap 0
        det_days = j.group_by(["person_id", "age"]).aggregate(_det=j._ov.sum())
        grid = grid.left_join(det_days, ["person_id", "age"]).drop("person_id_right", "age_right")
        grid = grid.mutate(_risk=ibis.greatest(grid._risk - grid._det.fill_null(0), 0))

    cases = reg.cases
    cases = _counted_cases(cases, spec) if _counted_cases is not None else cases.filter(
        ~cases.outcome.isin(list(spec.cases.not_counted_outcomes)))
    if exclude_categories:
        cases = cases.filter(~cases.offence_category.isin(list(exclude_categories)))
    if spec.trajectories.exclude_index_case and "index_case_id" in cohort_table.columns:
        idx = cohort_table.filter(cohort_table.index_case_id.notnull())
        idx = idx.select(_icid=idx.index_case_id)
        cases = cases.anti_join(idx, cases.case_id == idx._icid)
    cases = cases.semi_join(ids, cases.person_id == ids.person_id)
    cj = cases.join(people.select("person_id", "birth_date"), "person_id")
    cj = cj.mutate(age=age_in_years(cj.birth_date, cj.offence_date))
    counts = cj.group_by(["person_id", "age"]).aggregate(n_cases=cj.count())

    out = grid.left_join(counts, ["person_id", "age"]).drop("person_id_right", "age_right")
    return out.select(
        "person_id",
        out.age.cast("int32").name("age"),
        n_cases=out.n_cases.fill_null(0).cast("int64"),
        exposure=(out._risk.cast("float64") / out._days.cast("float64")),
    ).order_by(["person_id", "age"])


def _register_start(reg) -> dt.date | None:
    """The earliest offence date in the cases table: years before it are not covered."""
    v = reg.cases.offence_date.min().execute()
    if v is None or (isinstance(v, float) and np.isnan(v)) or pd.isna(v):
        return None
    return pd.Timestamp(v).date()


@dataclass
class CountMatrix:
    """Persons x ages arrays for the trajectory model (NaN = year not observed)."""

    person_ids: np.ndarray
    ages: np.ndarray
    Y: np.ndarray
    exposure: np.ndarray


def count_matrix(counts: pd.DataFrame, person_ids: list | np.ndarray | None = None) -> CountMatrix:
    """Turn yearly_case_counts rows into Y/exposure arrays over a common age grid."""
    if person_ids is None:
        person_ids = np.sort(counts["person_id"].unique())
    person_ids = np.asarray(person_ids)
    if len(counts):
        ages = np.arange(int(counts["age"].min()), int(counts["age"].max()) + 1)
    else:
        ages = np.arange(0)
    Y = np.full((len(person_ids), len(ages)), np.nan)
    E = np.zeros((len(person_ids), len(ages)))
    pos = pd.Series(np.arange(len(person_ids)), index=person_ids)
    c = counts[counts["person_id"].isin(pos.index)]
    i = pos.loc[c["person_id"]].to_numpy()
    j = c["age"].to_numpy(dtype=int) - (ages[0] if len(ages) else 0)
    ex = c["exposure"].to_numpy(dtype=float)
    ok = ex > 0
    Y[i[ok], j[ok]] = c["n_cases"].to_numpy(dtype=float)[ok]
    E[i, j] = np.where(ok, ex, 0.0)
    return CountMatrix(person_ids, ages, Y, E)


# -- labelling --------------------------------------------------------------------------------
def label_groups(model: GroupTrajectoryModel, ages: np.ndarray) -> list[str]:
    """Shape labels per group from the fitted curves over ``ages`` (not from group order).

    Rules: (1) one group: ``single_group``. (2) The group with the lowest mean fitted rate is
    ``low_rate``. (3) Of the others, the one with the highest mean rate is
    ``high_rate_persistent`` if its curve 10 years after its peak (or at the last age, if
    earlier) is still >= 40% of the peak. (4) The rest, ordered by peak age: the earliest is
    ``early_peak``, the latest ``late_peak``, any between ``mid_peak`` (numbered if several); a
    lone remaining group is ``early_peak`` if it peaks before 25, else ``late_peak``.
    """
    ages = np.asarray(ages, dtype=float)
    c = model.curves(ages)
    K = c.shape[1]
    if K == 1:
        return ["single_group"]
    mean = c.mean(axis=0)
    peak_i = c.argmax(axis=0)
    peak_age = ages[peak_i]
    labels: list[str | None] = [None] * K
    low = int(np.argmin(mean))
    labels[low] = LOW
    rest = [k for k in range(K) if k != low]
    top = max(rest, key=lambda k: mean[k])
    later = np.searchsorted(ages, min(peak_age[top] + PERSISTENCE_LAG, ages[-1]))
    if c[later, top] >= PERSISTENCE_MIN * c[peak_i[top], top]:
        labels[top] = HIGH
        rest.remove(top)
    rest.sort(key=lambda k: (peak_age[k], mean[k]))
    if len(rest) == 1:
        labels[rest[0]] = EARLY if peak_age[rest[0]] < YOUNG_PEAK_AGE else LATE
    elif len(rest) >= 2:
        labels[rest[0]] = EARLY
        labels[rest[-1]] = LATE
        mids = rest[1:-1]
        for n, k in enumerate(mids, 1):
            labels[k] = "mid_peak" if len(mids) == 1 else f"mid_peak_{n}"
    return [str(x) for x in labels]


# -- fitting ----------------------------------------------------------------------------------
@dataclass
class TrajectoryFit:
    """A fitted trajectory model of one cohort group, with its data and labels (person-level)."""

    group: str
    data: CountMatrix
    selection: pd.DataFrame
    model: GroupTrajectoryModel
    labels: list[str]
    shares: pd.DataFrame  # label, share, ci_low, ci_high, appa, occ, n_assigned
    assignment: pd.DataFrame = field(repr=False)  # person_id, trajectory, posterior

    def label_of(self) -> pd.Series:
        """Modal trajectory label per person_id."""
        return self.assignment.set_index("person_id")["trajectory"]


def fit_trajectories(data: CountMatrix, spec: StudySpec, group: str, *, n_boot: int = N_BOOT,
                     seed: int | None = None) -> TrajectoryFit:
    """Select and fit the trajectory model for one cohort group; labels, shares with bootstrap CIs."""
    ts = spec.trajectories
    seed = spec.study.seed if seed is None else seed
    # the numbers of groups and the bootstrap replicates in two worker processes where two
    # cores are free (the same result as one; the workers are started once per run)
    jobs = min(2, os.cpu_count() or 1)
    table, model = select_groups(
        data.Y, data.ages, data.exposure, max_groups=ts.max_groups, starts=ts.starts, seed=seed,
        degree=ts.degree, model=ts.model, groups=ts.groups, n_jobs=jobs,
    )
    label_ages = labelling_ages(data)
    labels = label_groups(model, label_ages)
    boot = bootstrap_shares(model, data.Y, data.exposure, n_boot=n_boot, seed=seed, n_jobs=jobs)
    assign = model.predict()
    counts = np.bincount(assign, minlength=model.n_groups)
    curves = model.curves(label_ages)
    shares = pd.DataFrame({
        "group": np.arange(model.n_groups),
        "trajectory": labels,
        "share": model.shares_,
        "ci_low": boot["ci_low"].to_numpy(),
        "ci_high": boot["ci_high"].to_numpy(),
        "appa": model.appa_,
        "occ": model.occ_,
        "peak_age": label_ages[curves.argmax(axis=0)],
        "n": counts,
        "N": len(assign),
    })
    order = {lab: i for i, lab in enumerate((LOW, EARLY, LATE, HIGH))}
    shares = (shares.assign(_o=shares["trajectory"].map(order).fillna(len(order)))
              .sort_values(["_o", "peak_age"]).drop(columns=["_o", "group"]).reset_index(drop=True))
    assignment = pd.DataFrame({
        "person_id": data.person_ids,
        "trajectory": np.asarray(labels, dtype=object)[assign],
        "posterior": model.posterior_.max(axis=1),
    })
    return TrajectoryFit(group, data, table, model, labels, shares, assignment)


def labelling_ages(data: CountMatrix) -> np.ndarray:
    """Ages at which at least 20% of persons (and at least 1) are observed."""
    observed = (~np.isnan(data.Y)).sum(axis=0)
    ok = observed >= max(1, LABEL_MIN_OBSERVED * len(data.person_ids))
    return data.ages[ok] if ok.any() else data.ages


# -- sections ---------------------------------------------------------------------------------
def trajectory_groups(cohort: pd.DataFrame, spec: StudySpec) -> list[str]:
    """The cohort groups whose careers are modelled: the target group and the criminal controls."""
    return [g for g in (spec.target.label, "CC") if (cohort["group"] == g).any()]


def cohort_count_matrices(reg, cohort: pd.DataFrame, spec: StudySpec, engine: Engine
                          ) -> dict[str, CountMatrix]:
    """Yearly counted cases by age per person, one matrix per modelled group (engine work).
    Starts the model's worker processes first: they import while the engine counts."""
    start_workers(min(2, os.cpu_count() or 1))
    cols = [c for c in ("person_id", "group", "birth_date", "index_case_id")
            if c in cohort.columns]
    ctab = engine.from_pandas(cohort[cols].copy())
    counts = engine.to_pandas(yearly_case_counts(reg, ctab, spec))
    return {g: count_matrix(counts, cohort.loc[cohort["group"] == g, "person_id"].to_numpy())
            for g in trajectory_groups(cohort, spec)}


def fit_groups(matrices: dict[str, CountMatrix], spec: StudySpec, *, n_boot: int = N_BOOT
               ) -> dict[str, TrajectoryFit]:
    """:func:`fit_trajectories` of every group, one after the other (no engine: a run calls
    it in a thread beside its other steps); shuts the worker processes down after."""
    try:
        return {g: fit_trajectories(m, spec, g, n_boot=n_boot) for g, m in matrices.items()}
    finally:
        stop_workers()  # nothing later in the run uses them


def trajectories_section(reg, cohort: pd.DataFrame, features: pd.DataFrame | None, gate: Gate,
                         spec: StudySpec, engine: Engine, out_dir: str | Path,
                         truth_dir: str | Path | None = None, *, n_boot: int = N_BOOT,
                         fitted: dict[str, TrajectoryFit] | None = None) -> Section:
    """Section "trajectories": model selection, shares with CIs, curves figure, group profiles (B15).

    ``fitted``: :func:`fit_groups` of :func:`cohort_count_matrices`, when already computed.
    The fitted models (person-level) are handed on in ``section.extra["_result"]`` (a dict
    group -> TrajectoryFit), which the caller must pop before results.json is written.
    """
    out_dir = Path(out_dir)
    target = spec.target.label
    groups = trajectory_groups(cohort, spec)
    if fitted is None:
        fitted = fit_groups(cohort_count_matrices(reg, cohort, spec, engine), spec, n_boot=n_boot)
    truth = _read_truth(truth_dir)
    fits: dict[str, TrajectoryFit] = {}
    tables: list[str] = []
    titles: dict[str, dict[str, str]] = {}
    figures: list[Figure] = []
    headline: dict = {}
    extra: dict = {}
    text_en, text_nl = [], []
    k_min = gate.rules.min_persons
    for g in groups:
        ids = cohort.loc[cohort["group"] == g, "person_id"].to_numpy()
        fit = fitted[g]
        data = fit.data
        fits[g] = fit
        gname = _label(g)
        people = fit.assignment["person_id"].to_numpy()
        in_group = {lab: people[(fit.assignment["trajectory"] == lab).to_numpy()]
                    for lab in fit.shares["trajectory"]}

        # Shares: n = persons assigned to the group (modal posterior), N = the cohort group.
        # The groups partition N; the gate sees that from the persons, so a withheld small
        # group cannot be recovered as N minus the released ones (issue 10, class 1).
        name = f"trajectory_shares_{g}"
        shares = gate.proportions(
            name, fit.shares.copy(),
            estimate_cols=["share", "ci_low", "ci_high", "appa", "occ", "peak_age"],
            members={"n": [in_group[lab] for lab in fit.shares["trajectory"]],
                     "N": [people] * len(fit.shares)})
        tables.append(name)
        titles[name] = {"en": f"Trajectory groups: shares with bootstrap 95% CI, {gname['en']}",
                        "nl": f"Trajectgroepen: aandelen met bootstrap-95%-BI, {gname['nl']}"}
        if g == target:
            headline["B15"] = {row.trajectory: row.share for row in shares.itertuples()}

        sel = fit.selection.drop(columns=["appa"]).copy()
        sel["n"] = sel["smallest_n"].astype(float)
        sel["N"] = float(len(ids))
        sel = sel.drop(columns=["smallest_n"])
        name = f"trajectory_selection_{g}"
        # No members= here: gbtm.select_groups returns only the chosen solution, so the persons
        # of the smallest group of the other solutions are not known to this step. Their counts
        # stand alone (no other output counts those persons); the chosen solution's is the
        # smallest group of the shares table, which membership cannot show for this table, so
        # that one relation stays declared by hand.
        chosen = fit.model.n_groups
        smallest = min(in_group, key=lambda lab: len(in_group[lab]))
        if pd.isna(shares.loc[shares["trajectory"] == smallest, "n"]).all():
            # the shares table withheld that group: its count must not come out here instead
            sel.loc[sel["groups"] == chosen, ["n", "N"]] = np.nan
        sel_rel = gate.proportions(name, sel, key_cols=["groups"],
                                   estimate_cols=["smallest_share", "min_appa", "min_occ"])
        gate.declare_equal(Gate.ref(name, (chosen,), "n"),
                           Gate.ref(f"trajectory_shares_{g}", (smallest,), "n"),
                           "the chosen solution's smallest group is a row of the shares table")
        tables.insert(tables.index(f"trajectory_shares_{g}"), name)  # shown before the shares
        titles[name] = {"en": f"Trajectory model selection, {gname['en']}",
                        "nl": f"Modelselectie trajecten, {gname['nl']}"}

        cname, oname = f"trajectory_curves_{g}", f"trajectory_observed_{g}"
        cur, obs, obs_values, obs_ids = _curve_tables(fit, k_min)
        # The fitted curves are model output: the gate cuts them where fewer than min_persons
        # are observed and keeps the at-risk counts back. The observed rates are over persons:
        # each row registers who was observed at that age with their case counts (a sum per
        # age, audited against every other row of that age). The per-age count of persons is
        # no longer released (it was rounded to tens): persons observed at each age overlap
        # from age to age, so those counts split every group into one atom per observation
        # pattern (birth year x register coverage x death, emigration, detention), which the
        # membership audit must bound one by one -- on 600 persons the section's audit took
        # 38 s instead of 3 s, and a 50k-person study did not get past the next release in
        # 10 minutes. The rates and the figure do not need the count.
        rel_cur = gate.curve(cname, cur, at_risk_col="at_risk", by="trajectory",
                             release_at_risk=False)
        rel_obs = gate.magnitudes(oname, obs.drop(columns=["n"]), obs_values,
                                  stat_cols=["observed_rate"], ids=obs_ids)
        tables += [cname, oname]
        titles[cname] = {"en": f"Fitted trajectories, {gname['en']}",
                         "nl": f"Geschatte trajecten, {gname['nl']}"}
        titles[oname] = {"en": f"Observed cases per person-year by trajectory group, {gname['en']}",
                         "nl": f"Waargenomen zaken per persoonsjaar per trajectgroep, {gname['nl']}"}
        fig_files = _curves_figure(rel_cur, rel_obs, out_dir, f"trajectories_{g}")
        fig = fig_files[0]
        gate.figure(f"trajectories_{g}", [cname, oname], fig_files)
        figures.append(Figure(f"trajectories_{g}", fig,
                              {"en": f"Offending trajectories by age, {gname['en']}",
                               "nl": f"Criminele trajecten naar leeftijd, {gname['nl']}"},
                              [cname, oname]))

        if features is not None and len(features):
            pname = f"trajectory_profile_{g}"
            prof = _profile_tables(fit.assignment, features, "trajectory")
            if len(prof.shares):
                gate.proportions(pname, prof.shares, estimate_cols=["pct"], members=prof.members)
                tables.append(pname)
                titles[pname] = {"en": f"Risk factors per trajectory group, {gname['en']}",
                                 "nl": f"Risicofactoren per trajectgroep, {gname['nl']}"}
            if len(prof.means):
                mname = f"trajectory_profile_means_{g}"
                gate.magnitudes(mname, prof.means, prof.values, ids=prof.ids)
                tables.append(mname)
                titles[mname] = {"en": f"Means per trajectory group, {gname['en']}",
                                 "nl": f"Gemiddelden per trajectgroep, {gname['nl']}"}

        if truth is not None:
            agree = _truth_agreement(fit, truth)
            if agree is not None:
                tname = f"trajectory_truth_{g}"
                tab, members, ari, n = agree
                gate.proportions(tname, tab, estimate_cols=["pct"], members=members)
                tables.append(tname)
                titles[tname] = {"en": f"Trajectory groups vs planted groups (synthetic truth), {gname['en']}",
                                 "nl": f"Trajectgroepen vs geplante groepen (synthetische waarheid), {gname['nl']}"}
                ari_rel = gate.scalar(f"trajectory_ari_{g}", ari, n)  # not a count: no ids
                extra.setdefault("trajectory_truth", {})[g] = {"ari": ari_rel}

        # prose: only numbers read back from released cells
        k = int(sel_rel.loc[sel_rel["groups"] == chosen, "groups"].iloc[0])
        bits_en = ", ".join(f"{_label(lab)['en'].lower()} {s:.0%}" for lab, s in
                            zip(shares["trajectory"], shares["share"]) if pd.notna(s))
        bits_nl = ", ".join(f"{_label(lab)['nl'].lower()} {s:.0%}" for lab, s in
                            zip(shares["trajectory"], shares["share"]) if pd.notna(s))
        how_en = "fixed by the study spec" if spec.trajectories.groups else "chosen"
        how_nl = "vastgelegd in de studiespecificatie" if spec.trajectories.groups else "gekozen"
        text_en.append(f"{gname['en']}: {k} groups {how_en} ({bits_en}).")
        text_nl.append(f"{gname['nl']}: {k} groepen {how_nl} ({bits_nl}).")

    kind_en, kind_nl = _MODEL_TEXT.get(spec.trajectories.model, _MODEL_TEXT["poisson"])
    method_en = (
        f"Group-based trajectory model (Nagin): a mixture of {kind_en} of yearly counted "
        f"cases on a degree-{spec.trajectories.degree} polynomial in age from age "
        f"{spec.trajectories.min_age} to the cut-off, with exposure offsets for time not at risk "
        "(before register coverage, after death or emigration, in detention). The number of groups "
        + ("is fixed by the study spec; BIC and the other diagnostics are shown for 1 to "
           f"{spec.trajectories.max_groups} groups" if spec.trajectories.groups else
           "is chosen by BIC among solutions whose smallest group holds at least 5% and whose "
           "average posterior probabilities are all at least 0.7")
        + "; groups are named by the shape of their curve. Share CIs: percentile bootstrap of "
        "persons. ")
    method_nl = (
        f"Groepsgebaseerd trajectmodel (Nagin): een mengsel van {kind_nl} van het aantal "
        f"getelde zaken per levensjaar op een polynoom van graad {spec.trajectories.degree} in "
        f"leeftijd, vanaf {spec.trajectories.min_age} jaar tot de peildatum, met correctie voor tijd "
        "buiten de risicotijd (voor de registratieperiode, na overlijden of emigratie, in detentie). Het "
        + ("aantal groepen is vastgelegd in de studiespecificatie; BIC en de andere diagnostieken "
           f"staan erbij voor 1 tot {spec.trajectories.max_groups} groepen"
           if spec.trajectories.groups else
           "aantal groepen is gekozen op BIC onder oplossingen met een kleinste groep van minstens "
           "5% en gemiddelde posterior kansen van minstens 0,7")
        + "; groepen zijn benoemd naar de vorm van hun curve. BI's van aandelen: "
        "percentiel-bootstrap van personen. ")
    extra["_result"] = fits
    return Section(
        key="trajectories",
        title={"en": "Offending trajectories", "nl": "Criminele trajecten"},
        text={"en": method_en + " ".join(text_en), "nl": method_nl + " ".join(text_nl)},
        tables=tables, table_titles=titles, figures=figures, headline=headline, extra=extra,
    )


def _curve_tables(fit: TrajectoryFit, min_persons: int = 10
                  ) -> tuple[pd.DataFrame, pd.DataFrame, list[np.ndarray], list[np.ndarray]]:
    """Fitted curve rows (at_risk = persons of the group observed at that age) and observed rates
    with, per observed row, the persons' case counts and their ids.

    The observed rows of each group start and end at an age observed for at least
    ``min_persons`` persons: end rows below it are dropped, not released blank (an axis that
    ends at an age reached by a few persons gives their age away). Each observed row's
    ``variable`` names its per-person quantity (cases in that year of life), so that rows of
    the same age are audited as sums of the same values and rows of different ages are not."""
    d, m = fit.data, fit.model
    assign = m.predict()
    curves = m.curves(d.ages)
    observed = ~np.isnan(d.Y)
    cur_rows, obs_rows, values, ids = [], [], [], []
    for k, lab in enumerate(fit.labels):
        sel = assign == k
        at_risk = observed[sel].sum(axis=0)
        for j, a in enumerate(d.ages):
            cur_rows.append({"trajectory": lab, "age": int(a), "fitted": float(curves[j, k]),
                             "at_risk": int(at_risk[j])})
        enough = np.flatnonzero(at_risk >= min_persons)
        if not len(enough):
            continue
        for j in range(int(enough[0]), int(enough[-1]) + 1):
            a = d.ages[j]
            ok = sel & observed[:, j]
            y = d.Y[ok, j]
            e = d.exposure[ok, j]
            obs_rows.append({"trajectory": lab, "age": int(a), "variable": f"cases_at_age_{int(a)}",
                             "n": int(ok.sum()),
                             "observed_rate": float(y.sum() / e.sum()) if e.sum() > 0 else np.nan})
            values.append(y)
            ids.append(d.person_ids[ok])
    obs = pd.DataFrame(obs_rows, columns=["trajectory", "age", "variable", "n", "observed_rate"])
    return pd.DataFrame(cur_rows), obs, values, ids


def _curves_figure(cur: pd.DataFrame, obs: pd.DataFrame, out_dir: Path, name: str) -> list[str]:
    """Fitted curves (lines) and observed rates (points, released cells only) by group, one SVG
    per report language (``name.svg``, ``name_nl.svg``); each trajectory group keeps its colour
    in every figure (crimcareer.report.palette)."""
    from crimcareer.report import palette

    obs = obs[obs["observed_rate"].notna()] if len(obs) else obs
    files = []
    for lang, suffix in (("en", ""), ("nl", "_nl")):
        names = {k: _label(str(k))[lang] for k in set(cur["trajectory"]) | set(obs["trajectory"])}
        c = cur.assign(group=cur["trajectory"].map(names))
        o = obs.assign(group=obs["trajectory"].map(names))
        present = list(dict.fromkeys(list(cur["trajectory"]) + list(obs["trajectory"])))
        color = alt.Color("group:N", title=palette.word("trajectory_group", lang),
                          scale=palette.label_scale(palette.TRAJECTORIES, names, present),
                          legend=alt.Legend(labelLimit=400))
        lines = alt.Chart(c).mark_line().encode(
            x=alt.X("age:Q", title=palette.word("age", lang)),
            y=alt.Y("fitted:Q", title=palette.word("cases_per_year", lang)), color=color)
        points = alt.Chart(o).mark_point(size=18, opacity=0.6).encode(
            x="age:Q", y="observed_rate:Q", color=color)
        chart = (lines + points).properties(width=480, height=300)
        if lang == "nl":
            chart = chart.configure(locale=palette.NL_LOCALE)
        files.append(save_chart(chart, out_dir, name + suffix))
    return files


@dataclass
class Profile:
    """Profile rows per subgroup with the persons behind them (for the gate's membership).

    ``shares``/``members``: boolean features (n with the trait of N with a known value) and the
    ids behind n and N per row; ``means``/``values``/``ids``: numeric features, one row per
    subgroup and variable, with the persons' values and ids. Variable names are those of the
    features (and of ``careers_means``: age_at_index, n_prior_cases, age_first_case), so that
    group size x mean differencing between the tables is audited."""

    shares: pd.DataFrame
    members: dict[str, list[np.ndarray]]
    means: pd.DataFrame
    values: list[np.ndarray]
    ids: list[np.ndarray]

    def add_shares(self, rows: pd.DataFrame, n_ids: list[np.ndarray], N_ids: list[np.ndarray]
                   ) -> None:
        if not len(rows):
            return
        self.shares = pd.concat([self.shares, rows], ignore_index=True) if len(self.shares) \
            else rows.reset_index(drop=True)
        self.members["n"] += list(n_ids)
        self.members["N"] += list(N_ids)


def _profile_tables(assign: pd.DataFrame, features: pd.DataFrame, by: str) -> Profile:
    """Shares of boolean features and means of numeric ones per subgroup (column ``by``)."""
    f = assign[["person_id", by]].merge(features, on="person_id", how="left")
    rows, mrows, vals, mids = [], [], [], []
    n_ids, N_ids = [], []
    for key, g in f.groupby(by, sort=True):
        pid = g["person_id"].to_numpy()
        for var in _PROFILE_BOOL:
            if var not in g.columns:
                continue
            known = g[var].notna().to_numpy()
            v = g.loc[known, var].astype(bool).to_numpy()
            if not len(v):
                continue
            rows.append({by: key, "variable": var, "n": int(v.sum()), "N": int(len(v)),
                         "pct": 100 * float(v.mean())})
            n_ids.append(pid[known][v])
            N_ids.append(pid[known])
        for var in _PROFILE_NUM:
            if var not in g.columns:
                continue
            x = pd.to_numeric(g[var], errors="coerce").to_numpy(dtype=float)
            known = ~np.isnan(x)
            v = x[known]
            if not len(v):
                continue
            mrows.append({by: key, "variable": var, "n": len(v), "mean": float(v.mean()),
                          "sd": float(v.std(ddof=1)) if len(v) > 1 else np.nan})
            vals.append(v)
            mids.append(pid[known])
    return Profile(pd.DataFrame(rows), {"n": n_ids, "N": N_ids}, pd.DataFrame(mrows), vals, mids)


def _crossed(x: pd.DataFrame, row: str, col: str) -> tuple[pd.DataFrame, dict[str, list]]:
    """Persons per (row, col) as a share of the row (n of N), with the ids behind n and N."""
    out, n_ids, N_ids = [], [], []
    for r, g in x.groupby(row, sort=True):
        for c, h in g.groupby(col, sort=True):
            out.append({row: r, col: c, "n": len(h), "N": len(g), "pct": 100 * len(h) / len(g)})
            n_ids.append(h["person_id"].to_numpy())
            N_ids.append(g["person_id"].to_numpy())
    return pd.DataFrame(out), {"n": n_ids, "N": N_ids}


def _read_truth(truth_dir: str | Path | None) -> pd.DataFrame | None:
    if truth_dir is None:
        return None
    path = Path(truth_dir) / "persons_truth.parquet"
    if not path.exists():
        return None
    cols = ["person_id", "trajectory_group", "route"]
    t = pd.read_parquet(path)
    return t[[c for c in cols if c in t.columns]]


def _truth_agreement(fit: TrajectoryFit, truth: pd.DataFrame
                     ) -> tuple[pd.DataFrame, dict[str, list], float, int] | None:
    """Cross-table estimated label x planted group (share of each planted group, with the ids
    behind n and N per row) and the ARI."""
    from sklearn.metrics import adjusted_rand_score

    if "trajectory_group" not in truth.columns:
        return None
    j = fit.assignment.merge(truth[["person_id", "trajectory_group"]], on="person_id")
    j = j[j["trajectory_group"].notna()]
    if not len(j):
        return None
    ari = float(adjusted_rand_score(j["trajectory_group"], j["trajectory"]))
    tab, members = _crossed(j.rename(columns={"trajectory_group": "planted_group"}),
                            "planted_group", "trajectory")
    return tab, members, ari, len(j)


def atypical_offenders(cohort: pd.DataFrame, features: pd.DataFrame, target: str
                       ) -> pd.DataFrame:
    """Target offenders with ``atypical``: no counted case before the index case (first case = index).

    Uses the features column ``n_prior_cases`` (counted cases with offence date before the index
    date); offenders with it unknown are left out.
    """
    dse = cohort.loc[cohort["group"] == target, ["person_id"]]
    if "n_prior_cases" not in features.columns:
        return pd.DataFrame({"person_id": pd.Series(dtype=object), "atypical": pd.Series(dtype=bool)})
    f = dse.merge(features[["person_id", "n_prior_cases"]], on="person_id", how="left")
    f = f[f["n_prior_cases"].notna()].copy()
    f["atypical"] = f["n_prior_cases"].astype(float) == 0
    return f[["person_id", "atypical"]].reset_index(drop=True)


def atypical_section(cohort: pd.DataFrame, features: pd.DataFrame, traj_result, gate: Gate,
                     spec: StudySpec, out_dir: str | Path, truth_dir: str | Path | None = None
                     ) -> Section:
    """Section "atypical": share (B16), profile against other offenders, cross-table with the
    trajectory groups, agreement with the planted route when a truth folder is given."""
    out_dir = Path(out_dir)
    target = spec.target.label
    tables: list[str] = []
    titles: dict[str, dict[str, str]] = {}
    figures: list[Figure] = []
    headline: dict = {}
    extra: dict = {}
    aty = atypical_offenders(cohort, features, target)
    aty_ids = aty["person_id"].to_numpy()
    is_aty = aty["atypical"].to_numpy(dtype=bool)
    n_aty, N = int(is_aty.sum()), len(aty)
    share = gate.proportions("atypical_share", pd.DataFrame(
        {"subgroup": ["atypical"], "n": [n_aty], "N": [N],
         "pct": [100 * n_aty / N if N else np.nan]}), estimate_cols=["pct"],
        members={"n": [aty_ids[is_aty]], "N": [aty_ids]})
    tables.append("atypical_share")
    titles["atypical_share"] = {"en": "Offenders whose first counted case is the index case",
                                "nl": "Daders van wie de eerste getelde zaak de indexzaak is"}
    b16 = released_value(share, "pct", subgroup="atypical")  # released: percent; results: fractions
    headline["B16"] = {"share": None if b16 is None else b16 / 100}

    sub = aty.assign(subgroup=np.where(aty["atypical"], "atypical", "other_offender"))
    feats = features.copy()
    if "sex" in cohort.columns and "female" not in feats.columns:
        sx = cohort.set_index("person_id")["sex"]
        feats["female"] = feats["person_id"].map(sx).map({"F": True, "M": False})
    prof = _profile_tables(sub[["person_id", "subgroup"]], feats, "subgroup")
    if "female" in feats.columns:
        ff = sub.merge(feats[["person_id", "female"]], on="person_id")
        rows, n_ids, N_ids = [], [], []
        for key, g in ff.groupby("subgroup"):
            g = g[g["female"].notna()]
            v = g["female"].astype(bool).to_numpy()
            if len(v):
                rows.append({"subgroup": key, "variable": "female", "n": int(v.sum()),
                             "N": len(v), "pct": 100 * float(v.mean())})
                n_ids.append(g["person_id"].to_numpy()[v])
                N_ids.append(g["person_id"].to_numpy())
        prof.add_shares(pd.DataFrame(rows), n_ids, N_ids)
    if "origin_group" in cohort.columns:
        og = sub.merge(cohort[["person_id", "origin_group"]], on="person_id")
        og = og[og["origin_group"].notna()]
        t, members = _crossed(og, "subgroup", "origin_group")
        if len(t):
            t = t.rename(columns={"origin_group": "variable"})
            t["variable"] = "origin_" + t["variable"].astype(str)
            prof.add_shares(t, members["n"], members["N"])
    if len(prof.shares):
        rel = gate.proportions("atypical_profile", prof.shares, estimate_cols=["pct"],
                               members=prof.members)
        tables.append("atypical_profile")
        titles["atypical_profile"] = {"en": "Atypical vs other offenders: profile",
                                      "nl": "Atypische vs overige daders: profiel"}
        fig_files = _profile_figure(rel, out_dir, "atypical_profile")
        fig = fig_files[0]
        gate.figure("atypical_profile_figure", ["atypical_profile"], fig_files)
        figures.append(Figure("atypical_profile_figure", fig,
                              {"en": "Atypical vs other offenders", "nl": "Atypische vs overige daders"},
                              ["atypical_profile"]))
    if len(prof.means):
        gate.magnitudes("atypical_profile_means", prof.means, prof.values, ids=prof.ids)
        tables.append("atypical_profile_means")
        titles["atypical_profile_means"] = {"en": "Atypical vs other offenders: means",
                                            "nl": "Atypische vs overige daders: gemiddelden"}

    fit = traj_result.get(target) if isinstance(traj_result, dict) else traj_result
    if fit is not None:
        x = fit.assignment.merge(aty, on="person_id")
        rows, n_ids, N_ids = [], [], []
        for lab, h in x.groupby("trajectory", sort=True):
            a = h["atypical"].to_numpy(dtype=bool)
            rows.append({"trajectory": lab, "n": int(a.sum()), "N": len(h),
                         "pct": 100 * float(a.mean())})
            n_ids.append(h["person_id"].to_numpy()[a])
            N_ids.append(h["person_id"].to_numpy())
        gate.proportions("atypical_by_trajectory", pd.DataFrame(rows), estimate_cols=["pct"],
                         members={"n": n_ids, "N": N_ids})
        tables.append("atypical_by_trajectory")
        titles["atypical_by_trajectory"] = {"en": "Share of atypical offenders per trajectory group",
                                            "nl": "Aandeel atypische daders per trajectgroep"}

    truth = _read_truth(truth_dir)
    if truth is not None and "route" in truth.columns:
        j = aty.merge(truth[["person_id", "route"]], on="person_id")
        j = j[j["route"].notna()]
        if len(j):
            t, members = _crossed(j, "route", "atypical")
            t = t.rename(columns={"atypical": "atypical_flag"})
            gate.proportions("atypical_truth", t, estimate_cols=["pct"], members=members)
            tables.append("atypical_truth")
            titles["atypical_truth"] = {"en": "Atypical offenders vs planted route (synthetic truth)",
                                        "nl": "Atypische daders vs geplante route (synthetische waarheid)"}
            acc = float(((j["route"] == "atypical") == j["atypical"]).mean())
            # an agreement rate, not a count: no ids
            extra["atypical_truth"] = {"agreement": gate.scalar("atypical_truth_agreement", acc,
                                                                len(j))}
    pct = released_value(share, "pct", subgroup="atypical")
    shown = "–" if pct is None else f"{pct / 100:.0%}"
    return Section(
        key="atypical",
        title={"en": "The atypical offender", "nl": "De atypische dader"},
        text={
            "en": (f"Atypical offenders: those whose first counted case is the index case "
                   f"(no counted case before the index date): {shown} of {target}. Their "
                   "profile is compared with the other offenders and crossed with the trajectory "
                   "groups."),
            "nl": (f"Atypische daders: van wie de eerste getelde zaak de indexzaak is "
                   f"(geen getelde zaak voor de indexdatum): {shown} van {target}. Hun profiel "
                   "wordt vergeleken met de overige daders en gekruist met de trajectgroepen."),
        },
        tables=tables, table_titles=titles, figures=figures, headline=headline, extra=extra,
    )


def _profile_figure(rel: pd.DataFrame, out_dir: Path, name: str) -> list[str]:
    """Bar chart of released shares (%), atypical vs other offenders, one SVG per language;
    withheld bars are marked with ✱."""
    from crimcareer.report import palette

    _label = both  # noqa: F811 - every label of the registry

    keep = ~rel["variable"].astype(str).str.startswith("origin_")
    files = []
    for lang, suffix in (("en", ""), ("nl", "_nl")):
        d = rel[keep].copy()
        d["label"] = [_label(str(v))[lang] for v in d["variable"]]
        subs = {k: _label(str(k))[lang] for k in d["subgroup"].unique()}
        d["who"] = d["subgroup"].map(subs)
        d["pct100"] = d["pct"]  # released tables hold percentages
        d["mark"] = np.where(d["pct"].isna(), palette.SUPPRESSED_MARK, "")
        y = alt.Y("label:N", title=None, axis=alt.Axis(labelLimit=360))
        color = alt.Color("who:N", title=None, legend=alt.Legend(labelLimit=400),
                          scale=palette.label_scale(palette.SUBGROUPS, subs,
                                                    list(d["subgroup"].unique())))
        bars = alt.Chart(d[d["pct"].notna()]).mark_bar().encode(
            y=y, x=alt.X("pct100:Q", title=palette.word("share_pct", lang),
                         scale=alt.Scale(domain=[0, 100])),
            color=color, yOffset="who:N")
        marks = alt.Chart(d[d["pct"].isna()]).mark_text(align="left", dx=2).encode(
            y=y, x=alt.datum(0), text="mark:N", yOffset="who:N")
        chart = (bars + marks).properties(width=420, title=palette.word("withheld", lang)
                                          if d["pct"].isna().any() else "")
        if lang == "nl":
            chart = chart.configure(locale=palette.NL_LOCALE)
        files.append(save_chart(chart, out_dir, name + suffix))
    return files
