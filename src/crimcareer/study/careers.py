"""Career measures per cohort person (issue 3): first ages, prior cases, versatility, categories.

Everything here is an Ibis expression over engine tables: counted cases are joined to the cohort
first (so only cohort persons' cases are aggregated), then aggregated per person. Only the
finished person-level table (cohort-sized) goes to pandas, in :func:`careers_section`.
"""

from __future__ import annotations

from pathlib import Path

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crimcareer import contract
from crimcareer.disclosure import Gate, released_value
from crimcareer.engine import age_in_years
from crimcareer.report.section import Section
from crimcareer.adapters.files import Registers
from crimcareer.study.cohort import counted_cases as _counted_cases
from crimcareer.study.spec import StudySpec
from crimcareer.study.wording import counted_words, family_case


CAREER_BINARY = ("first_trafficking_young", "repeat_trafficking", "age_18_24", "any_prior_case")
CAREER_CONTINUOUS = ("age_at_index", "n_prior_cases", "age_first_case", "age_first_trafficking",
                     "versatility")


def counted_cases(cases: ir.Table, spec: StudySpec) -> ir.Table:
    """Cases that count towards a criminal career (outcome not in spec.cases.not_counted_outcomes)."""
    return _counted_cases(cases, spec)  # one definition, with the target group (cohort.py)


def cohort_keys(cohort_table: ir.Table) -> ir.Table:
    """person_id, group, index_date and birth_date of the cohort with dates typed as dates."""
    return cohort_table.select(
        "person_id",
        "group",
        index_date=cohort_table.index_date.cast("date"),
        birth_date=cohort_table.birth_date.cast("date"),
    )


def career_measures(reg: Registers, cohort_table: ir.Table, spec: StudySpec) -> ir.Table:
    """Career columns per cohort person (architecture.md) plus before_/after_<category> counts."""
    coh = cohort_keys(cohort_table)
    cases = counted_cases(reg.cases, spec)
    c = cases.select("person_id", "offence_category",
                     offence_date=cases.offence_date.cast("date")).join(
        coh.select("person_id", "index_date"), "person_id")
    traff = c.offence_category.isin(list(spec.careers.trafficking_categories))
    before = c.offence_date < c.index_date
    after = c.offence_date > c.index_date
    aggs = {
        "first_case_date": c.offence_date.min(),
        "first_trafficking_date": c.offence_date.min(where=traff),
        "n_prior_cases": c.count(where=before),
        "n_repeat_trafficking": c.count(where=traff & after),
    }
    for cat in contract.OFFENCE_CATEGORIES:
        aggs[f"before_{cat}"] = c.count(where=before & (c.offence_category == cat))
        aggs[f"after_{cat}"] = c.count(where=after & (c.offence_category == cat))
    per_person = c.group_by("person_id").aggregate(**aggs)

    # Simpson diversity 1 - sum p_c^2 over categories of cases up to and including the index date.
    upto = c.filter(c.offence_date <= c.index_date)
    per_cat = upto.group_by(["person_id", "offence_category"]).aggregate(k=upto.count())
    div = per_cat.group_by("person_id").aggregate(
        total=per_cat.k.sum(), sumsq=(per_cat.k * per_cat.k).sum())
    div = div.select(
        "person_id",
        versatility=1.0 - div.sumsq.cast("float64") / (div.total * div.total).cast("float64"),
    )

    t = coh.left_join(per_person, "person_id").select(
        coh, *[per_person[k] for k in aggs])
    t = t.left_join(div, "person_id").select(t, div.versatility)
    age_first_traff = age_in_years(t.birth_date, t.first_trafficking_date)
    young = spec.careers.young_first_trafficking_age
    counts = ["n_prior_cases"] + [f"{w}_{cat}" for cat in contract.OFFENCE_CATEGORIES
                                  for w in ("before", "after")]
    return t.select(
        "person_id",
        "group",
        age_at_index=age_in_years(t.birth_date, t.index_date),
        age_first_case=age_in_years(t.birth_date, t.first_case_date),
        age_first_trafficking=age_first_traff,
        first_trafficking_young=age_first_traff < young,
        repeat_trafficking=t.n_repeat_trafficking.fill_null(0) > 0,
        versatility=t.versatility,
        **{k: t[k].fill_null(0).cast("int64") for k in counts},
    )


# -- report section ---------------------------------------------------------------------------
def careers_text(spec: StudySpec) -> dict[str, str]:
    """The section's text (en, nl), in the spec's words for its cases and offence family."""
    counted_en, counted_nl = counted_words(spec)
    one_en, one_nl = family_case(spec)
    many_en, many_nl = family_case(spec, plural=True)
    return {
        "en": (f"Counted cases ({counted_en}) of each study person "
               f"by offence date: age at the first case and the first {one_en}, cases "
               f"before the index date, new {many_en} after it, and the offence "
               "categories before and after the index date. Tests over the groups: "
               "chi-square or Fisher (shares), Kruskal-Wallis (means)."),
        "nl": (f"Meegetelde zaken ({counted_nl}) per onderzoekspersoon "
               f"naar pleegdatum: leeftijd bij de eerste zaak en de eerste {one_nl}, "
               f"zaken voor de indexdatum, nieuwe {many_nl} daarna, en de "
               "delictcategorieën voor en na de indexdatum. Toetsen tussen de groepen: "
               "chi-kwadraat of Fisher (aandelen), Kruskal-Wallis (gemiddelden)."),
    }


def _career_frame(cohort: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """Features with group and the derived career indicators (age 18-24, any prior case)."""
    f = features.copy()
    if "group" not in f.columns:
        f = f.merge(cohort[["person_id", "group"]], on="person_id", how="left")
    age = f["age_at_index"].astype(float)
    f["age_18_24"] = np.where(age.isna(), np.nan, ((age >= 18) & (age <= 24)).astype(float))
    f["any_prior_case"] = (f["n_prior_cases"].astype(float) > 0).astype(float)
    return f


#: Measures that describe the offenders only (controls have no trafficking case by design).
OFFENDER_ONLY = ("first_trafficking_young", "repeat_trafficking", "age_first_trafficking")


def _offenders_only(tab: pd.DataFrame, target: str) -> pd.DataFrame:
    """Keep only the target group's rows of offender-only measures, without a test over groups."""
    only = tab["variable"].isin(OFFENDER_ONLY)
    tab = tab[~only | (tab["group"] == target)].copy()
    tab.loc[tab["variable"].isin(OFFENDER_ONLY), ["test", "p_value"]] = ["none", np.nan]
    return tab.reset_index(drop=True)


def careers_section(cohort: pd.DataFrame, features: pd.DataFrame, gate: Gate, spec: StudySpec,
                    out_dir: str | Path) -> Section:
    """The careers section: shares and means per group and offence categories around the index date."""
    from crimcareer.study.compare import (blank_tests_of_suppressed, three_group_ids,
                                          three_group_members, three_group_table)

    f = _career_frame(cohort, features)
    binary = [v for v in CAREER_BINARY if v in f.columns]
    cont = [v for v in CAREER_CONTINUOUS if v in f.columns]
    tab = three_group_table(cohort, f, spec, binary=binary, continuous=cont)
    bin_tab = tab[tab["kind"] == "binary"].drop(columns=["kind", "mean", "sd"]).reset_index(drop=True)
    target = spec.target.label
    bin_tab = _offenders_only(bin_tab, target)
    keys = ["variable", "group"]  # ledger cell keys "variable|group"
    shares = blank_tests_of_suppressed(gate.proportions(
        "careers_shares", bin_tab, estimate_cols=["pct", "ci_low", "ci_high", "p_value"],
        key_cols=keys, members=three_group_members(cohort, f, bin_tab)))

    cont_tab = _offenders_only(tab[tab["kind"] == "continuous"], target).reset_index(drop=True)
    ids, values = three_group_ids(cohort, f, cont_tab)
    means = gate.magnitudes(
        "careers_means",
        cont_tab[["variable", "group", "N", "mean", "sd", "p_value"]],  # Kruskal-Wallis p
        values, stat_cols=("N", "mean", "sd", "p_value"), ids=ids)
    blank_tests_of_suppressed(means)

    cat_cols = [c for c in f.columns if c.startswith(("before_", "after_"))]
    for c in cat_cols:
        f[c + "_any"] = (f[c].astype(float) > 0).astype(float)
    cats = three_group_table(cohort, f, spec, binary=[c + "_any" for c in cat_cols], continuous=[])
    cats = cats.drop(columns=["kind", "mean", "sd"]).reset_index(drop=True)
    cats["variable"] = cats["variable"].str.removesuffix("_any")
    blank_tests_of_suppressed(gate.proportions(
        "careers_categories", cats,
        estimate_cols=["pct", "ci_low", "ci_high", "p_value"], key_cols=keys,
        members=three_group_members(cohort, f, cats, {c: c + "_any" for c in cat_cols})))

    def share(var: str) -> float | None:
        v = released_value(shares, "pct", variable=var, group=target)
        return None if v is None else v / 100.0

    headline = {
        "B3": {target: share("first_trafficking_young")},
        "B4": {target: share("repeat_trafficking")},
        "B8": {target: released_value(means, "mean", variable="age_at_index", group=target)},
        "B9": {target: share("age_18_24")},
        "B14": {target: released_value(means, "mean", variable="n_prior_cases", group=target)},
    }
    if "male" in f.columns:
        m = f.loc[f["group"] == target, "male"].dropna().astype(float)
        b7 = pd.DataFrame({"variable": ["male"], "group": [target], "n": [int(m.sum())],
                           "N": [len(m)], "pct": [100 * m.mean() if len(m) else np.nan]})
        b7 = gate.proportions("careers_male", b7, estimate_cols=["pct"], key_cols=keys,
                              members=three_group_members(cohort, f, b7))
        v = released_value(b7, "pct", variable="male", group=target)
        headline["B7"] = {target: None if v is None else v / 100.0}
        extra_tables = ["careers_male"]
    else:
        extra_tables = []

    tables = ["careers_shares", "careers_means", "careers_categories", *extra_tables]
    return Section(
        key="careers",
        title={"en": "Criminal careers", "nl": "Criminele carrières"},
        text=careers_text(spec),
        tables=tables,
        table_titles={
            "careers_shares": {"en": "Career indicators by group", "nl": "Carrièrekenmerken per groep"},
            "careers_means": {"en": "Ages and case counts by group (mean, SD)",
                              "nl": "Leeftijden en aantallen zaken per groep (gemiddelde, SD)"},
            "careers_categories": {"en": "Persons with a case per offence category, before and "
                                         "after the index date",
                                   "nl": "Personen met een zaak per delictcategorie, voor en na de "
                                         "indexdatum"},
            "careers_male": {"en": "Share male (offenders)", "nl": "Aandeel mannen (daders)"},
        },
        headline=headline,
    )
