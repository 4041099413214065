"""The probation-advice monitor: was a probation advice requested and delivered for every case?

Cases monitored (all cohort-sized, built as Ibis expressions and fetched once):
- the target group's index cases (the cohort's ``index_case_id``);
- CC index cases: a criminal control has no index case in the cohort frame, so we take their
  first counted case (by offence date, then case id) of a category outside
  ``spec.controls.exclude_categories`` whose registration date (else offence date) lies in the
  target period -- the case that made them a criminal control;
- repeat trafficking cases: later counted cases of target offenders in ``spec.careers.trafficking_categories``
  with an offence date after the index date.

The released tables count persons (one case per person and kind: the index case, and each
offender's first repeat case), and pass those persons to the gate (members=, ids=), which derives
how the tables relate; the internal list keeps every monitored case.

A case counts as *requested* when any advice row for it has a request date (or a delivery date),
*delivered* when any row has a delivery date. Days are counted from the case's registration date
(null when the case has no registration date). Coverage is released by year of registration (else
offence), sex and age group against ``spec.probation.target``; the person-level list of cases
without a (delivered) advice goes only to OUT/internal/missing_advice.csv.
"""

from __future__ import annotations

from pathlib import Path
import altair as alt
import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from crimcareer.disclosure import Gate, released_value
from crimcareer.engine import Engine, age_in_years, days_between
from crimcareer.labels import label
from crimcareer.report.figures import released_figure
from crimcareer.report.section import Section
from crimcareer.study.cohort import counted_cases, registered_within
from crimcareer.study.spec import StudySpec
from crimcareer.study.wording import family_case

AGE_GROUPS = ((0, 17, "<18"), (18, 24, "18-24"), (25, 34, "25-34"), (35, 44, "35-44"), (45, 200, "45+"))
MEASURES = ("requested", "delivered")


def _counted_cases(reg, spec: StudySpec) -> ir.Table:
    return counted_cases(reg.cases, spec)


def monitored_cases(reg, cohort: ir.Table, spec: StudySpec) -> ir.Table:
    """One row per monitored case: person_id, group, kind (index/repeat), case_id and case dates."""
    cases = reg.cases
    people = cohort.select("person_id", "group", "index_date", "index_case_id", "sex", "birth_date")

    dse = people.filter((people.group == spec.target.label) & people.index_case_id.notnull())
    idx = dse.join(cases, dse.index_case_id == cases.case_id).select(
        "person_id", "group", "case_id", "offence_date", "registration_date", "sex", "birth_date",
        kind=ibis.literal("index"))

    counted = _counted_cases(reg, spec)
    cc_cases = counted.filter(
        ~counted.offence_category.isin(list(spec.controls.exclude_categories)),
        registered_within(counted, spec.target.period))
    cc = people.filter(people.group == "CC")
    ccj = cc.join(cc_cases, cc.person_id == cc_cases.person_id).select(
        cc.person_id, cc.group, cc_cases.case_id, cc_cases.offence_date, cc_cases.registration_date,
        cc.sex, cc.birth_date)
    w = ibis.window(group_by="person_id", order_by=["offence_date", "case_id"])
    cc_first = ccj.mutate(_rn=ibis.row_number().over(w)).filter(ibis._._rn == 0).drop("_rn")
    cc_first = cc_first.mutate(kind=ibis.literal("index"))

    traf = counted.filter(counted.offence_category.isin(list(spec.careers.trafficking_categories)))
    rj = dse.join(traf, dse.person_id == traf.person_id)
    rep = rj.filter(rj.offence_date > rj.index_date, rj.case_id != rj.index_case_id).select(
        dse.person_id, dse.group, traf.case_id, traf.offence_date, traf.registration_date, dse.sex,
        dse.birth_date, kind=ibis.literal("repeat"))
    return ibis.union(idx, cc_first, rep)


def advice_per_case(advice: ir.Table) -> ir.Table:
    """One row per case with advice rows: first request and delivery dates and the advice type.

    The advice type is taken from the first delivered row (else the first requested row).
    """
    a = advice.mutate(_req=advice.requested_date.coalesce(advice.delivered_date))
    w = ibis.window(group_by="case_id", order_by=[a.delivered_date.isnull(), a.delivered_date,
                                                  a._req.isnull(), a._req, a.advice])
    first = a.mutate(_rn=ibis.row_number().over(w)).filter(ibis._._rn == 0).select(
        "case_id", first_advice="advice")
    dates = a.group_by("case_id").aggregate(requested_date=a._req.min(),
                                            delivered_date=a.delivered_date.min())
    j = dates.join(first, dates.case_id == first.case_id)
    return j.select(dates.case_id, dates.requested_date, dates.delivered_date,
                    advice=j.first_advice)


def advice_cases(reg, cohort: ir.Table, spec: StudySpec) -> ir.Table:
    """Monitored cases with requested/delivered flags, days from registration and advice type."""
    m = monitored_cases(reg, cohort, spec)
    # each case's first advice from its own rows: only the monitored cases' rows are ranked
    # (the window over every advice row took 4.4 s at 18M persons)
    adv = reg.probation_advice
    a = advice_per_case(adv.semi_join(m, adv.case_id == m.case_id))
    j = m.left_join(a, m.case_id == a.case_id)
    return j.select(
        *[j[c] for c in m.columns],
        year=j.registration_date.coalesce(j.offence_date).year().cast("int32"),
        age=age_in_years(j.birth_date, j.offence_date),
        requested=j.requested_date.notnull(),
        delivered=j.delivered_date.notnull(),
        requested_date=j.requested_date,
        delivered_date=j.delivered_date,
        days_to_request=days_between(j.registration_date, j.requested_date),
        days_to_delivery=days_between(j.registration_date, j.delivered_date),
        advice=j.advice,
    ).drop("birth_date")


def age_group(age: pd.Series) -> pd.Series:
    """Age groups <18, 18-24, 25-34, 35-44, 45+ (missing age: 'unknown')."""
    out = pd.Series("unknown", index=age.index, dtype=object)
    for lo, hi, name in AGE_GROUPS:
        out[(age >= lo) & (age <= hi)] = name
    return out


def coverage_table(cases: pd.DataFrame, by: list[str], with_members: bool = False):
    """Requested and delivered shares with Wilson 95% CIs per group x kind x `by` (long form, n/N).

    ``with_members``: also return the gate's ``members`` (``(frame, members)``): per row the
    persons (``person_id``) of the counted cases; the caller passes one case per person."""
    keys = ["group", "kind", *by]
    rows = []
    members: dict[str, list] = {"n": [], "N": []}
    for key, g in cases.groupby(keys, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        N = int(g["case_id"].nunique())
        for measure in MEASURES:
            n = int(g.loc[g[measure], "case_id"].nunique())
            lo, hi = proportion_confint(n, N, method="wilson") if N else (np.nan, np.nan)
            rows.append({**dict(zip(keys, key)), "measure": measure, "n": n, "N": N,
                         "pct": 100 * n / N if N else np.nan, "ci_low": 100 * lo, "ci_high": 100 * hi})
            if with_members:
                members["n"].append(g.loc[g[measure], "person_id"].to_numpy(dtype=object))
                members["N"].append(g["person_id"].to_numpy(dtype=object))
    out = pd.DataFrame(rows)
    return (out, members) if with_members else out


def one_case_per_person(cases: pd.DataFrame) -> pd.DataFrame:
    """The released tables count persons: each person's index case (one per person by
    construction) and, of the later (repeat) trafficking cases, each offender's first (by
    offence date, then case id). All monitored cases still go to the internal list."""
    rep = cases["kind"] == "repeat"
    first = (cases[rep].sort_values(["person_id", "offence_date", "case_id"], na_position="last")
             .drop_duplicates(["group", "person_id"]))
    out = pd.concat([cases[~rep], first]).sort_index()
    dup = out.duplicated(["group", "kind", "person_id"])
    if dup.any():
        raise ValueError(f"probation: {int(dup.sum())} persons with more than one index case")
    return out


def trim_years(by_year: pd.DataFrame, members: dict[str, list], k: int
               ) -> tuple[pd.DataFrame, dict[str, list]]:
    """Drop the first and last years of each group x kind while they hold fewer than k cases
    (persons), so the year axis does not end at a year reached by a few persons."""
    keep = np.ones(len(by_year), dtype=bool)
    for _, g in by_year.groupby(["group", "kind"], sort=False):
        years = sorted(g["year"].unique())
        N = g.groupby("year")["N"].first()
        lo, hi = 0, len(years)
        while lo < hi and N[years[lo]] < k:
            lo += 1
        while hi > lo and N[years[hi - 1]] < k:
            hi -= 1
        drop = set(years[:lo]) | set(years[hi:])
        keep[by_year.index.get_indexer(g.index[g["year"].isin(drop)])] = False
    out = by_year[keep].reset_index(drop=True)
    return out, {c: [v for v, ok in zip(vals, keep) if ok] for c, vals in members.items()}


def _days_table(cases: pd.DataFrame) -> tuple[pd.DataFrame, list[np.ndarray], list[np.ndarray]]:
    """Days to request / delivery per group x kind: the table, each row's values and persons.
    ``variable`` names the per-person quantity (days on the index case, on the first repeat
    case) so that the gate relates rows summing the same persons' values."""
    rows, values, ids = [], [], []
    for (group, kind), g in cases.groupby(["group", "kind"], sort=True):
        for col in ("days_to_request", "days_to_delivery"):
            ok = g[col].notna()
            v = g.loc[ok, col].to_numpy(float)
            rows.append({"group": group, "kind": kind, "measure": col,
                         "variable": f"{col}_{kind}_case", "persons": len(v),
                         "mean": v.mean() if len(v) else np.nan,
                         "sd": v.std(ddof=1) if len(v) > 1 else np.nan})
            values.append(v)
            ids.append(g.loc[ok, "person_id"].to_numpy(dtype=object))
    return pd.DataFrame(rows), values, ids


def _advice_type_table(cases: pd.DataFrame, with_members: bool = False):
    d = cases[cases["delivered"]]
    rows = []
    members: dict[str, list] = {"n": [], "N": []}
    for (group, kind), g in d.groupby(["group", "kind"], sort=True):
        N = len(g)
        adv_all = g["advice"].fillna("unknown")
        for adv, n in adv_all.value_counts().sort_index().items():
            rows.append({"group": group, "kind": kind, "advice": adv, "n": int(n), "N": N,
                         "pct": 100 * n / N})
            if with_members:
                members["n"].append(g.loc[adv_all == adv, "person_id"].to_numpy(dtype=object))
                members["N"].append(g["person_id"].to_numpy(dtype=object))
    out = pd.DataFrame(rows, columns=["group", "kind", "advice", "n", "N", "pct"])
    return (out, members) if with_members else out


COVERAGE_KEYS = ["group", "kind", "breakdown", "level", "measure"]
YEAR_KEYS = ["group", "kind", "year", "measure"]
ADVICE_KEYS = ["group", "kind", "advice"]


def probation_section(reg, cohort: pd.DataFrame, gate: Gate, spec: StudySpec, engine: Engine,
                      out_dir: str | Path) -> Section:
    """The probation-advice monitor as a report section (released through the gate)."""
    out_dir = Path(out_dir)
    title = {"en": "Probation advice monitor", "nl": "Monitor reclasseringsadvies"}
    target = spec.probation.target
    if not reg.has("probation_advice"):
        return Section("probation", title, {
            "en": "Probation advice data are not available in this register folder.",
            "nl": "Gegevens over reclasseringsadviezen zijn niet beschikbaar in deze registermap."},
            extra={"probation": {"available": False, "requested": None, "delivered": None,
                                 "by_year": {}, "target": target}})

    cols = ["person_id", "group", "index_date", "index_case_id", "sex", "birth_date"]
    coh = cohort[cols].copy()
    coh["index_case_id"] = coh["index_case_id"].astype(object).where(coh["index_case_id"].notna(), None)
    for c in ("index_date", "birth_date"):
        coh[c] = pd.to_datetime(coh[c]).dt.date
    coh_t = engine.from_pandas(_typed_cohort(coh))
    # in a fixed order: the engine returns rows in any order, and a mean or sd summed in
    # another order differs in its last digits from run to run
    cases = engine.to_pandas(advice_cases(reg, coh_t, spec)).sort_values(
        ["group", "kind", "person_id", "case_id"], kind="stable").reset_index(drop=True)
    cases["requested"] = cases["requested"].astype(bool)
    cases["delivered"] = cases["delivered"].astype(bool)
    cases["age_group"] = age_group(cases["age"])
    cases["sex"] = cases["sex"].fillna("unknown")
    cases["all"] = "all"

    # Every released count counts persons: one case per person and kind (see
    # one_case_per_person), so the persons behind a count are the person_id of its cases. The
    # gate gets them (members=, ids=) and derives every relation with the other tables and
    # sections itself (sex, age and year rows add up to the total, requested and delivered
    # share their N, advice types are counted among the delivered): no declarations needed.
    all_cases = cases
    cases = one_case_per_person(cases)
    k = gate.rules.min_persons
    parts, cov_members = [], {"n": [], "N": []}
    for breakdown in ("all", "sex", "age_group"):
        # repeat cases are few: only their total (and years) are released, so that small sex or
        # age cells do not force the total itself into secondary suppression
        sub = cases if breakdown == "all" else cases[cases["kind"] == "index"]
        t, m = coverage_table(sub, [breakdown], with_members=True)
        t = t.rename(columns={breakdown: "level"})
        t.insert(2, "breakdown", breakdown)
        parts.append(t)
        for c in cov_members:
            cov_members[c] += m[c]
    overall = pd.concat(parts, ignore_index=True)
    overall["target_pct"] = 100 * target
    by_year, year_members = coverage_table(cases, ["year"], with_members=True)
    by_year, year_members = trim_years(by_year, year_members, k)
    by_year["target_pct"] = 100 * target
    advice_types, advice_members = _advice_type_table(cases, with_members=True)
    rel_cov = gate.proportions("probation_coverage", overall, estimate_cols=["pct", "ci_low", "ci_high"],
                               key_cols=COVERAGE_KEYS, members=cov_members)
    rel_year = gate.proportions("probation_coverage_by_year", by_year,
                                estimate_cols=["pct", "ci_low", "ci_high"], key_cols=YEAR_KEYS,
                                members=year_members)
    days, values, day_ids = _days_table(cases)
    # rows of fewer than k persons are left out too (their reason would bound the count)
    few = [len(v) < k for v in values]
    days = days[[not f for f in few]].reset_index(drop=True)
    values = [v for v, f in zip(values, few) if not f]
    day_ids = [i for i, f in zip(day_ids, few) if not f]
    gate.magnitudes("probation_days", days, values, stat_cols=("persons", "mean", "sd"),
                    ids=day_ids, variable_col="variable")
    # advice types partition the delivered advices: membership shows it (no partition_by)
    gate.proportions("probation_advice_type", advice_types, estimate_cols=["pct"],
                     key_cols=ADVICE_KEYS, members=advice_members)

    figures = []
    group = spec.target.label
    plot = rel_year[(rel_year["group"] == group) & (rel_year["kind"] == "index")].dropna(subset=["pct"])
    if len(plot):
        from crimcareer.report import palette

        def chart(lang: str, plot=plot) -> alt.Chart:
            names = {m: label(m, lang, default=m) for m in plot["measure"].unique()}
            d = plot.assign(what=plot["measure"].map(names), year=plot["year"].astype(int))
            base = alt.Chart(d).encode(
                x=alt.X("year:O", title=palette.word("year_registration", lang)),
                y=alt.Y("pct:Q", title=palette.word("coverage", lang),
                        scale=alt.Scale(domain=[0, 100])),
                color=alt.Color("what:N", title=None, scale=palette.label_scale(
                    palette.MEASURES, names, list(plot["measure"].unique()))))
            rule = alt.Chart(pd.DataFrame({"target": [100 * target]})).mark_rule(
                strokeDash=[4, 4], color="grey").encode(y="target:Q")
            c = (base.mark_line(point=True)
                 + base.mark_errorbar().encode(
                     y=alt.Y("ci_low:Q", title=palette.word("coverage", lang)), y2="ci_high:Q")
                 + rule.encode(y=alt.Y("target:Q", title=palette.word("coverage", lang)))).properties(width=420, height=260)
            return c.configure(locale=palette.NL_LOCALE) if lang == "nl" else c

        figures.append(released_figure(
            gate, chart, out_dir, "probation_coverage_by_year_plot",
            {"en": f"Probation advice requested and delivered by year ({group} index cases)",
             "nl": f"Reclasseringsadvies aangevraagd en uitgebracht per jaar ({group}-indexzaken)"},
            ["probation_coverage_by_year"]))

    missing = all_cases[~all_cases["requested"] | ~all_cases["delivered"]][
        ["person_id", "group", "kind", "case_id", "offence_date", "registration_date", "requested",
         "delivered", "requested_date"]].sort_values(["group", "kind", "person_id", "case_id"])
    internal = out_dir / "internal"
    internal.mkdir(parents=True, exist_ok=True)
    marker = internal / "NOT_FOR_EXPORT.txt"
    if not marker.exists():
        marker.write_text("Person-level files: NOT FOR EXPORT. Never leave the secure environment.\n")
    missing.to_csv(internal / "missing_advice.csv", index=False)

    def coverage(**where) -> float | None:  # a released share of cases, as a fraction
        pct = released_value(rel_cov, "pct", breakdown="all", **where)
        return None if pct is None else pct / 100

    req = coverage(group=group, kind="index", measure="requested")
    dlv = coverage(group=group, kind="index", measure="delivered")
    years = {}
    for _, r in rel_year[(rel_year["group"] == group) & (rel_year["kind"] == "index")].iterrows():
        years.setdefault(str(int(r["year"])), {})[r["measure"]] = None if pd.isna(r["pct"]) else float(r["pct"]) / 100
    extra = {"probation": {
        "available": True, "target": target, "requested": req, "delivered": dlv, "by_year": years,
        "cc": {m: coverage(group="CC", kind="index", measure=m) for m in MEASURES},
        "repeat": {m: coverage(group=group, kind="repeat", measure=m) for m in MEASURES},
    }}

    def pct(v):
        return "–" if v is None else f"{100 * v:.0f}%"
    case_en, case_nl = family_case(spec)
    gap_en = "meets" if (dlv is not None and dlv >= target) else "falls short of"
    gap_nl = "haalt" if (dlv is not None and dlv >= target) else "haalt niet"
    text = {
        "en": (f"For each {spec.target.label} offender's index case we checked whether the probation "
               f"service was asked for an advice and whether it delivered one. A probation advice was "
               f"requested for {pct(req)} and delivered for {pct(dlv)} of the index cases; this "
               f"{gap_en} the target of {100 * target:.0f}%. For criminal controls (their first counted "
               f"case registered in the study period) the shares are {pct(extra['probation']['cc']['requested'])} "
               f"and {pct(extra['probation']['cc']['delivered'])}; for each offender's first later (repeat) "
               f"{case_en} {pct(extra['probation']['repeat']['requested'])} and "
               f"{pct(extra['probation']['repeat']['delivered'])}. Days are counted from the case's "
               f"registration date. Coverage is shown by year of registration, sex and age group; groups "
               f"with fewer than {gate.rules.min_persons} cases (or missing advices) are left out, and "
               f"cells that would give them away are suppressed. Repeat cases count each offender "
               f"once (the first). The "
               f"list of cases without an advice stays in the secure environment."),
        "nl": (f"Voor de indexzaak van elke {spec.target.label}-dader is nagegaan of de reclassering om een "
               f"advies is gevraagd en of zij dat heeft uitgebracht. Een reclasseringsadvies werd "
               f"aangevraagd voor {pct(req)} en uitgebracht voor {pct(dlv)} van de indexzaken; dit "
               f"{gap_nl} het doel van {100 * target:.0f}%. Voor criminele controles (hun eerste "
               f"meetellende zaak ingeschreven in de onderzoeksperiode) zijn de aandelen "
               f"{pct(extra['probation']['cc']['requested'])} en {pct(extra['probation']['cc']['delivered'])}; "
               f"voor de eerste latere (herhaalde) {case_nl} van elke dader "
               f"{pct(extra['probation']['repeat']['requested'])} en "
               f"{pct(extra['probation']['repeat']['delivered'])}. Dagen tellen vanaf de inschrijvingsdatum "
               f"van de zaak. De dekking staat per jaar van inschrijving, geslacht en leeftijdsgroep; groepen "
               f"met minder dan {gate.rules.min_persons} zaken (of ontbrekende adviezen) zijn weggelaten, en "
               f"cellen die ze zouden verraden zijn afgeschermd. Herhaalde zaken tellen elke dader één keer "
               f"(de eerste). De "
               f"lijst van zaken zonder advies blijft in de beveiligde omgeving."),
    }
    tables = ["probation_coverage", "probation_coverage_by_year", "probation_days", "probation_advice_type"]
    titles = {
        "probation_coverage": {"en": "Probation advice requested and delivered, by sex and age group",
                               "nl": "Reclasseringsadvies aangevraagd en uitgebracht, naar geslacht en leeftijd"},
        "probation_coverage_by_year": {"en": "Probation advice coverage by year of registration",
                                       "nl": "Dekking reclasseringsadvies per jaar van inschrijving"},
        "probation_days": {"en": "Days from registration to request and to delivery",
                           "nl": "Dagen van inschrijving tot aanvraag en tot uitbrengen"},
        "probation_advice_type": {"en": "Type of advice delivered", "nl": "Soort uitgebracht advies"},
    }
    return Section("probation", title, text, tables=tables, table_titles=titles, figures=figures,
                   extra=extra)


def _typed_cohort(coh: pd.DataFrame):
    """The cohort columns with explicit types (an all-null column would have no type in the engine)."""
    import pyarrow as pa

    schema = pa.schema([("person_id", pa.string()), ("group", pa.string()), ("index_date", pa.date32()),
                        ("index_case_id", pa.string()), ("sex", pa.string()), ("birth_date", pa.date32())])
    return pa.Table.from_pandas(coh, schema=schema, preserve_index=False)
