"""Risk and protective factors per cohort person (issue 3) and the person features frame.

Family: a criminal parent, sibling, half-sibling or (ex-)partner (spec.factors.family_relations),
tie started on or before the index date, relative's counted case before the index date (B5).
Education: a startkwalificatie before the 23rd birthday, observable only for persons who turned 23
by the cut-off (B6). Childhood: single-parent household spell and youth care starting before 18
(B13). Background: migration background, origin in the big four, male (B10, B11, B7).
Optional tables that are absent give null columns, never "nobody has one".
"""

from __future__ import annotations

from pathlib import Path

import altair as alt
import ibis
import ibis.expr.types as ir
import pandas as pd

from crimcareer.disclosure import Gate, released_value
from crimcareer.engine import Engine, add_years
from crimcareer.labels import label
from crimcareer.report.figures import save_chart
from crimcareer.report.section import Figure, Section
from crimcareer.study.careers import career_measures, cohort_keys
from crimcareer.study.network import criminal_network, criminal_ties
from crimcareer.adapters.files import Registers
from crimcareer.study.spec import StudySpec
from crimcareer.study.wording import group_names, study_labels

BIG4 = ("MA", "TR", "SR", "AN")
MIGRANT = ("first_generation", "second_generation")


#: Binary factor variables in report order (criminal_<relation>/<layer> added from the spec).
FACTOR_BINARY = ("criminal_family", "skq_by_23", "single_parent_childhood", "youth_care_childhood",
                 "migration_any", "origin_big4", "male")

#: Headline ids of the published figures (published-figures.md) per variable.
HEADLINE_IDS = {"criminal_family": "B5", "skq_by_23": "B6", "migration_any": "B10",
                "origin_big4": "B11", "single_parent_childhood": "B13"}


def _null_bool() -> ir.BooleanValue:
    return ibis.null().cast("boolean")


def risk_factors(reg: Registers, cohort_table: ir.Table, spec: StudySpec,
                 alter_ties: ir.Table | None = None) -> ir.Table:
    """Risk-factor columns per cohort person (architecture.md); absent optional tables -> null.
    `alter_ties`: the cohort's criminal ties already read (:func:`criminal_ties`)."""
    fs = spec.factors
    coh = cohort_keys(cohort_table)
    base = cohort_table.select(
        "person_id", "sex", "migration_background", "origin_group")
    t = coh.join(base, "person_id")

    # Family: ties of cohort egos only; alters reduced to their first counted offence date.
    relations = list(fs.family_relations)
    ties = criminal_ties(reg, cohort_table, spec, ["family"], relations, alter_ties)
    fam = ties.group_by("person_id").aggregate(
        _family=ties.criminal.any(),
        **{f"_{r}": (ties.criminal & (ties.relation == r)).any() for r in relations})
    t = t.left_join(fam, "person_id").select(t, *[fam[c] for c in fam.columns if c != "person_id"])

    # Anniversaries via add_years (29 February -> 1 March in common years, as age_in_years), as
    # docs/architecture.md defines skq_observable and as study/profile.py does: "before age 18"
    # means before the 18th anniversary, "by 23" before the 23rd.
    cutoff = ibis.literal(reg.cutoff, type="date")
    at23 = add_years(t.birth_date, fs.startkwalificatie_age)
    at18 = add_years(t.birth_date, fs.childhood_age)
    t = t.mutate(_at23=at23, _at18=at18)

    extra: dict[str, ir.Value] = {}
    if reg.has("education"):
        ed = reg.education
        ed = ed.filter(ed.level.isin(list(fs.startkwalificatie_levels)))
        t = _with_events_before(t, ed, "diploma_date", "_at23", "_skq")

    if reg.has("households"):
        hh = reg.households
        hh = hh.filter((hh.role == "child") & (hh.household_type == "single_parent"))
        t = _with_events_before(t, hh, "start_date", "_at18", "_sp")

    if reg.has("youth_care"):
        t = _with_events_before(t, reg.youth_care, "start_date", "_at18", "_yc")

    observable = t._at23 <= cutoff
    # Not yet 23 at the cut-off: not observable (null), out of the denominator.
    extra["skq_by_23"] = (observable.ifelse(t._skq.fill_null(0) > 0, _null_bool())
                          if reg.has("education") else _null_bool())
    extra["single_parent_childhood"] = (t._sp.fill_null(0) > 0 if reg.has("households")
                                        else _null_bool())
    extra["youth_care_childhood"] = (t._yc.fill_null(0) > 0 if reg.has("youth_care")
                                     else _null_bool())
    return t.select(
        "person_id",
        criminal_family=t._family.fill_null(False),
        **{f"criminal_{r}": t[f"_{r}"].fill_null(False) for r in relations},
        skq_observable=observable,
        **extra,
        migration_any=t.migration_background.isin(list(MIGRANT)),
        origin_big4=t.origin_group.isin(list(BIG4)),
        male=t.sex == "M",
    )


def _with_events_before(t: ir.Table, events: ir.Table, date_col: str, limit_col: str,
                        name: str) -> ir.Table:
    """t with a column `name`: each person's number of events dated before t[limit_col]."""
    ev = events.select("person_id", _d=events[date_col].cast("date"))
    ev = ev.join(t.select("person_id", limit_col), "person_id")
    ev = ev.filter(ev._d < ev[limit_col])
    counts = ev.group_by("person_id").aggregate(**{name: ev.count()})
    return t.left_join(counts, "person_id").select(t, counts[name])


def person_features(reg: Registers, cohort_table: ir.Table, spec: StudySpec,
                    engine: Engine, alter_ties: ir.Table | None = None) -> pd.DataFrame:
    """One row per cohort person: careers, risk factors and criminal network joined (pandas).
    `alter_ties`: :func:`crimcareer.study.network.criminal_alter_ties` of egos including the
    cohort, materialized (else the relations are read here)."""
    car = career_measures(reg, cohort_table, spec)
    fac = risk_factors(reg, cohort_table, spec, alter_ties)
    net = criminal_network(reg, cohort_table, spec, alter_ties)
    t = car.join(fac, "person_id").join(net, "person_id")
    df = engine.to_pandas(t)
    return df.sort_values("person_id", kind="stable").reset_index(drop=True)


# -- report section ---------------------------------------------------------------------------
def factor_variables(features: pd.DataFrame, spec: StudySpec) -> list[str]:
    """Binary factor variables to report, in order, that exist and are not all null."""
    names = ["criminal_family", *[f"criminal_{r}" for r in spec.factors.family_relations],
             *[f"criminal_{lay}" for lay in spec.factors.network_layers],
             *[v for v in FACTOR_BINARY if v != "criminal_family"]]
    return [v for v in names if v in features.columns and features[v].notna().any()]


def risk_factor_chart(table: pd.DataFrame, spec: StudySpec, lang: str = "en") -> alt.Chart:
    """Bar chart of shares with Wilson 95% CIs per variable and group (from a released table).

    Each group has its colour in every figure (crimcareer.report.palette); a withheld share is
    marked with ✱ instead of a bar."""
    from crimcareer.report import palette

    own = study_labels(spec)
    i = 0 if lang == "en" else 1

    def word(code: str) -> str:
        return own[code][i] if code in own else label(code, lang, default=code)

    d = table.copy()
    d["label"] = [word(v) for v in d["variable"]]
    known = list(group_names(spec))
    groups = [g for g in known if g in set(d["group"])] + \
        [g for g in dict.fromkeys(d["group"]) if g not in known]
    names = {g: word(g) for g in groups}
    d["who"] = d["group"].map(names)
    d["mark"] = palette.SUPPRESSED_MARK
    order = list(dict.fromkeys(d["label"]))
    y = alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelLimit=360))
    color = alt.Color("who:N", sort=[names[g] for g in groups], title=None,
                      scale=palette.label_scale(palette.group_colours(spec.target.label),
                                                names, groups),
                      legend=alt.Legend(labelLimit=400))
    offset = alt.YOffset("who:N", sort=[names[g] for g in groups])
    shown = d.dropna(subset=["pct"])
    bars = alt.Chart(shown).mark_bar().encode(
        x=alt.X("pct:Q", title=palette.word("share_pct", lang), scale=alt.Scale(domain=[0, 100])),
        y=y, color=color, yOffset=offset)
    err = alt.Chart(shown).mark_rule().encode(x="ci_low:Q", x2="ci_high:Q", y=y, yOffset=offset)
    layers = bars + err
    hidden = d[d["pct"].isna()]
    if len(hidden):
        layers = layers + alt.Chart(hidden).mark_text(align="left", dx=2).encode(
            x=alt.datum(0), y=y, yOffset=offset, text="mark:N", color=color)
    chart = layers.properties(width=420, title=palette.word("withheld", lang) if len(hidden) else "")
    return chart.configure(locale=palette.NL_LOCALE) if lang == "nl" else chart


def factors_section(cohort: pd.DataFrame, features: pd.DataFrame, gate: Gate, spec: StudySpec,
                    out_dir: str | Path) -> Section:
    """The risk-factor section: three-group table, odds ratios, target-vs-CC logit, bar chart."""
    from crimcareer.study.compare import (blank_tests_of_suppressed, logistic_target_vs_cc,
                                          odds_ratio_members, pairwise_odds_ratios,
                                          three_group_members, three_group_table)

    f = features.copy()
    if "group" not in f.columns:
        f = f.merge(cohort[["person_id", "group"]], on="person_id", how="left")
    variables = factor_variables(f, spec)
    tab = three_group_table(cohort, f, spec, binary=variables, continuous=[])
    tab = tab.drop(columns=["kind", "mean", "sd"]).reset_index(drop=True)
    keys = ["variable", "group"]  # ledger cell keys "variable|group"
    # the results.json figures: secondary suppression withholds them only as a last resort
    headline_vars = set(HEADLINE_IDS) | {f"criminal_{r}" for r in spec.factors.family_relations}
    released = gate.proportions("factors_three_group", tab,
                                estimate_cols=["pct", "ci_low", "ci_high", "p_value"],
                                key_cols=keys, members=three_group_members(cohort, f, tab),
                                headline=tab["variable"].isin(headline_vars).tolist())
    blank_tests_of_suppressed(released)

    tables = ["factors_three_group"]
    if "skq_observable" in f.columns and "skq_by_23" in variables:
        # B6's denominator excludes persons not yet 23 at the cut-off: report how many.
        f["skq_not_observable"] = ~f["skq_observable"].astype(bool)
        nobs = three_group_table(cohort, f, spec, binary=["skq_not_observable"], continuous=[])
        nobs = nobs.drop(columns=["kind", "mean", "sd"]).reset_index(drop=True)
        blank_tests_of_suppressed(gate.proportions(
            "factors_skq_not_observable", nobs,
            estimate_cols=["pct", "ci_low", "ci_high", "p_value"], key_cols=keys,
            members=three_group_members(cohort, f, nobs)))
        tables.append("factors_skq_not_observable")

    ors = pairwise_odds_ratios(f, spec, variables=variables)
    gate.proportions("factors_odds_ratios", ors,
                     estimate_cols=["odds_ratio", "ci_low", "ci_high", "p_value"],
                     key_cols=["variable", "comparison"],
                     members=odds_ratio_members(cohort, f, ors))
    # later (secondary) suppressions are applied in place: blank the tests of those too
    blank_tests_of_suppressed(released)

    tables.append("factors_odds_ratios")
    fit = logistic_target_vs_cc(f, spec)
    if fit is not None:
        gate.model("factors_logit_vs_cc", fit.coefs, fit.n_obs, fit.df_resid,
                   fit.category_counts)
        tables.append("factors_logit_vs_cc")

    figures: list[Figure] = []
    if released["pct"].notna().any():
        rel = save_chart(risk_factor_chart(released, spec, "en"), out_dir, "risk_factors")
        rel_nl = save_chart(risk_factor_chart(released, spec, "nl"), out_dir, "risk_factors_nl")
        gate.figure("risk_factors", ["factors_three_group"], [rel, rel_nl])
        # The Dutch version sits beside it as figures/risk_factors_nl.svg (same released table).
        figures.append(Figure("risk_factors", rel,
                              {"en": "Risk factors by group (%, 95% CI)",
                               "nl": "Risicofactoren per groep (%, 95%-BI)"},
                              ["factors_three_group"]))

    groups = [g for g in group_names(spec) if g in set(f["group"])]

    def share(var: str, g: str) -> float | None:  # a released percentage as a fraction
        pct = released_value(released, "pct", variable=var, group=g)
        return None if pct is None else pct / 100.0

    headline: dict[str, dict[str, float | None]] = {}
    for var, fid in HEADLINE_IDS.items():
        if var in variables:
            headline[fid] = {g: share(var, g) for g in groups}
    for r in spec.factors.family_relations:
        if f"criminal_{r}" in variables:
            headline[f"B5_{r}"] = {g: share(f"criminal_{r}", g) for g in groups}

    skq_age = spec.factors.startkwalificatie_age
    return Section(
        key="factors",  # texts name the spec's startkwalificatie age (skq_age)
        title={"en": "Risk and protective factors", "nl": "Risico- en beschermende factoren"},
        text={
            "en": ("Shares with Wilson 95% confidence intervals per group, chi-square or Fisher "
                   "tests, odds ratios of offenders against each control group, and a "
                   "multivariable logistic regression of offenders against criminal controls. A "
                   "relative or other tie counts when it began on or before the index date and "
                   "the alter had a counted case before it; startkwalificatie only for persons "
                   f"who turned {skq_age} by the cut-off."),
            "nl": ("Aandelen met Wilson 95%-betrouwbaarheidsintervallen per groep, chi-kwadraat- "
                   "of Fisher-toetsen, odds ratio's van daders tegenover elke controlegroep, en "
                   "een multivariate logistische regressie van daders tegenover criminele "
                   "controles. Een familielid of andere relatie telt als de relatie op of voor "
                   "de indexdatum begon en die persoon daarvoor een meegetelde zaak had; "
                   f"startkwalificatie alleen voor wie voor de peildatum {skq_age} werd."),
        },
        tables=tables,
        table_titles={
            "factors_three_group": {"en": "Risk factors by group", "nl": "Risicofactoren per groep"},
            "factors_skq_not_observable": {
                "en": f"Persons not yet {skq_age} at the cut-off (out of the startkwalificatie "
                      "denominator)",
                "nl": f"Personen nog geen {skq_age} op de peildatum (buiten de noemer van de "
                      "startkwalificatie)"},
            "factors_odds_ratios": {"en": "Odds ratios, offenders against controls",
                                    "nl": "Odds ratio's, daders tegenover controles"},
            "factors_logit_vs_cc": {"en": "Logistic regression, offenders against criminal "
                                           "controls",
                                     "nl": "Logistische regressie, daders tegenover criminele "
                                           "controles"},
        },
        figures=figures,
        headline=headline,
    )
