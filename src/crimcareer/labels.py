"""Every label of the study's outputs in English and Dutch: one registry, one text per key.

A key is a variable (``criminal_family``), a column (``n``), a code that appears as a cell value
(``F``, ``origin_MA``, ``trafficking_sexual``), a table name or a validation rule. Where one word
means different things, the key is namespaced (``namespace:key``):

- ``profile:<term>``: a term of the high-risk youth profile where it differs from the shared
  meaning (``profile:age`` is the age *above the youngest age* of the model);
- ``column:<table pattern>:<column>``: a column of the tables matching an fnmatch pattern where
  it counts something else than the shared column (``n`` of ``cohort_groups`` is the group
  size); see :func:`column_label`.

The registry is built from parts (one per topic) by :func:`build`, which refuses a key that two
parts give different texts, so a key can never have two labels. The report, the figures, the
export summary and the study sections all read this module; it imports nothing of crimcareer,
so every layer can use it without an import cycle.

Report chrome (the words of the page itself, figure axis words, the gate's reasons in plain
words) stays with the report: crimcareer.report.html ``UI``, report.palette, report.plain.
"""

from __future__ import annotations

import fnmatch
from types import MappingProxyType
from typing import Mapping

Pair = tuple[str, str]  # (English, Dutch)


class LabelConflict(ValueError):
    """Two parts of the registry give one key different texts."""


def build(*parts: Mapping[str, Pair]) -> Mapping[str, Pair]:
    """The registry of the parts, in order; a key repeated with the same texts is fine, a key
    repeated with other texts raises LabelConflict (naming the key and both texts)."""
    out: dict[str, Pair] = {}
    for part in parts:
        for key, pair in part.items():
            if len(pair) != 2 or not all(isinstance(t, str) and t for t in pair):
                raise ValueError(f"label {key!r} must be two non-empty texts (English, Dutch)")
            pair = (pair[0], pair[1])
            if key in out and out[key] != pair:
                raise LabelConflict(f"label {key!r} has two texts: {out[key]} and {pair}")
            out[key] = pair
    return MappingProxyType(out)


# -- columns shared by every table --------------------------------------------------------------
# A column of shares is shown in percent whatever unit the released table holds, so its header
# says "(%)"; `n` and `N` are named per table (TABLE_COLUMNS) where they count something else.
COLUMNS: dict[str, Pair] = {
    "variable": ("Variable", "Variabele"),
    "group": ("Group", "Groep"),
    "n": ("Persons with the characteristic", "Personen met het kenmerk"),
    "N": ("Persons in the group", "Personen in de groep"),
    "pct": ("Share (%)", "Aandeel (%)"),
    "share": ("Share (%)", "Aandeel (%)"),
    "ci_low": ("95% CI lower bound", "95%-BI ondergrens"),
    "ci_high": ("95% CI upper bound", "95%-BI bovengrens"),
    "mean": ("Mean", "Gemiddelde"),
    "sd": ("Standard deviation", "Standaardafwijking"),
    "p_value": ("p-value", "p-waarde"),
    "test": ("Test", "Toets"),
    "odds_ratio": ("Odds ratio", "Odds ratio"),
    "or_ci_low": ("Odds ratio, 95% CI lower bound", "Odds ratio, 95%-BI ondergrens"),
    "or_ci_high": ("Odds ratio, 95% CI upper bound", "Odds ratio, 95%-BI bovengrens"),
    "estimate": ("Estimate (%)", "Schatting (%)"),
    "time": ("Years since start", "Jaren sinds start"),
    "at_risk": ("Persons still followed (at risk)", "Personen nog gevolgd (risicopopulatie)"),
    "persons": ("Persons", "Personen"),
    "term_label": ("Term", "Term"),
    "points": ("Points", "Punten"),
    "bin": ("Risk class", "Risicoklasse"),
    "threshold": ("Risk threshold (%)", "Risicodrempel (%)"),
    "measure": ("Measure", "Maat"),
    "value": ("Value (%)", "Waarde (%)"),
    "per_10000": ("Per 10,000 young people", "Per 10.000 jongeren"),
    "expected": ("Expected (%)", "Verwacht (%)"),
    "o_e": ("Observed / expected", "Waargenomen / verwacht"),
    "target_pct": ("Target (%)", "Doel (%)"),
    "breakdown": ("Breakdown", "Uitsplitsing"),
    "level": ("Category", "Categorie"),
    "comparison": ("Comparison", "Vergelijking"),
    "note": ("Not released (why)", "Niet vrijgegeven (waarom)"),
    "suppressed": ("Withheld: why", "Afgeschermd: waarom"),  # disclosure.SUPPRESSED
    "age": ("Age", "Leeftijd"),
    "outcome": ("Outcome", "Uitkomst"),
}

# `n` and `N` (and a few others) where they count something other than persons with a
# characteristic in a group: column:<fnmatch pattern of the table name>:<column>. The first
# matching pattern wins (column_label).
TABLE_COLUMNS: dict[str, Pair] = {
    "column:cohort_groups:n": ("Persons in the group", "Personen in de groep"),
    "column:cohort_groups:N": ("Persons in the group (denominator)", "Personen in de groep (noemer)"),
    "column:cohort_unmatched:n": ("Offenders without a matched control",
                                  "Daders zonder gematchte controle"),
    "column:cohort_unmatched:N": ("Offenders", "Daders"),
    "column:cohort_unmatched:pct": ("Offenders without a matched control (%)",
                                    "Daders zonder gematchte controle (%)"),
    "column:factors_odds_ratios:n": ("Smallest cell of the 2x2 table (persons)",
                                     "Kleinste cel van de 2x2-tabel (personen)"),
    "column:factors_odds_ratios:N": ("Persons in the smaller group",
                                     "Personen in de kleinste groep"),
    "column:recidivism_followed:n": ("Persons followed", "Gevolgde personen"),
    "column:recidivism_followed:pct": ("Persons followed (%)", "Gevolgde personen (%)"),
    "column:recidivism_general*:n": ("Persons with a new offence by then",
                                     "Personen met een nieuw delict tot dan"),
    "column:recidivism_specific:n": ("Persons with a new offence of the category by then",
                                     "Personen met een nieuw delict van de categorie tot dan"),
    "column:recidivism_age_split:n": ("Persons younger than 23 at the start",
                                      "Personen jonger dan 23 bij de start"),
    "column:recidivism_age_split:pct": ("Younger than 23 at the start (%)",
                                        "Jonger dan 23 bij de start (%)"),
    "column:trajectory_shares_*:n": ("Persons assigned to the group (most likely)",
                                     "Personen toegewezen aan de groep (meest waarschijnlijk)"),
    "column:trajectory_shares_*:N": ("Persons modelled", "Gemodelleerde personen"),
    "column:trajectory_shares_*:share": ("Share of persons, model estimate (%)",
                                         "Aandeel personen, modelschatting (%)"),
    "column:trajectory_selection_*:n": ("Persons in the smallest group",
                                        "Personen in de kleinste groep"),
    "column:trajectory_selection_*:N": ("Persons modelled", "Gemodelleerde personen"),
    "column:trajectory_selection_*:smallest_share": ("Smallest group share (%)",
                                                     "Kleinste groepsaandeel (%)"),
    "column:trajectory_observed_*:n": ("Persons observed at this age",
                                       "Personen waargenomen op deze leeftijd"),
    "column:trajectory_profile_means_*:n": ("Persons", "Personen"),
    "column:atypical_profile_means:n": ("Persons", "Personen"),
    "column:*truth*:N": ("Persons in the planted group", "Personen in de geplante groep"),
    "column:*truth*:n": ("Persons", "Personen"),
    "column:profile_calibration:n": ("Persons with the outcome", "Personen met de uitkomst"),
    "column:profile_calibration:N": ("Persons in the risk class (weighted)",
                                     "Personen in de risicoklasse (gewogen)"),
    "column:profile_calibration:observed": ("Observed share (%)", "Waargenomen aandeel (%)"),
    "column:profile_calibration:predicted": ("Mean predicted risk (%)",
                                             "Gemiddeld voorspeld risico (%)"),
    "column:profile_thresholds:n": ("Numerator (persons)", "Teller (personen)"),
    "column:profile_thresholds:N": ("Denominator (persons)", "Noemer (personen)"),
    "column:profile_fairness:n": ("Numerator (persons)", "Teller (personen)"),
    "column:profile_fairness:N": ("Denominator (persons)", "Noemer (personen)"),
    "column:probation_coverage*:n": ("Cases with this advice step", "Zaken met deze adviesstap"),
    "column:probation_coverage*:N": ("Cases", "Zaken"),
    "column:probation_coverage*:pct": ("Share of cases (%)", "Aandeel van de zaken (%)"),
    "column:probation_advice_type:n": ("Advices of this type", "Adviezen van deze soort"),
    "column:probation_advice_type:N": ("Advices delivered", "Uitgebrachte adviezen"),
    "column:probation_advice_type:pct": ("Share of the advices (%)",
                                         "Aandeel van de adviezen (%)"),
    "column:probation_days:persons": ("Cases", "Zaken"),
    "column:probation_days:mean": ("Mean days", "Gemiddeld aantal dagen"),
    "column:probation_days:sd": ("Standard deviation (days)", "Standaardafwijking (dagen)"),
}

# -- the control groups (values of the cohort frame's `group` column); the target group's code
# and name come from the study spec (crimcareer.study.wording), never from here -----------------
GROUPS: dict[str, Pair] = {
    "CC": ("Criminal controls", "Criminele controlegroep"),
    "NC": ("Non-criminal controls", "Niet-criminele controlegroep"),
}

# -- codes that appear as cell values -----------------------------------------------------------
_ORIGINS: dict[str, Pair] = {
    "NL": ("Netherlands", "Nederland"), "MA": ("Morocco", "Marokko"), "TR": ("Turkey", "Turkije"),
    "SR": ("Suriname", "Suriname"), "AN": ("former Antilles/Aruba", "voormalige Antillen/Aruba"),
    "other_western": ("other Western", "overig westers"),
    "other_non_western": ("other non-Western", "overig niet-westers"),
}

CODES: dict[str, Pair] = {
    **{f"origin_{k}": (f"Origin: {en}", f"Herkomst: {nl}") for k, (en, nl) in _ORIGINS.items()},
    "chi2": ("chi-square", "chi-kwadraat"), "fisher": ("Fisher (exact)", "Fisher (exact)"),
    "kruskal": ("Kruskal-Wallis", "Kruskal-Wallis"), "none": ("–", "–"),
    "F": ("Female", "Vrouw"), "M": ("Male", "Man"),
    "all": ("All", "Alle"), "any": ("Any migration background", "Met migratieachtergrond"),
    "age_group": ("Age at offence", "Leeftijd bij delict"),
    "no_intervention": ("No intervention", "Geen interventie"),
    "supervision": ("Supervision", "Toezicht"), "treatment": ("Treatment", "Behandeling"),
    # a generic word: both an advice type and the offence category "other"
    "other": ("Other", "Overig"),
    "calibration": ("Observed share", "Waargenomen aandeel"),
    "const": ("Intercept", "Constante"),
    "first_generation": ("First generation", "Eerste generatie"),
    "second_generation": ("Second generation", "Tweede generatie"),
}

# -- offence categories (contract.OFFENCE_CATEGORIES) and the careers' before/after counts -------
_CATEGORIES: dict[str, Pair] = {
    "trafficking_sexual": ("sexual exploitation", "seksuele uitbuiting"),
    "trafficking_labour": ("labour exploitation", "arbeidsuitbuiting"),
    "sexual": ("sexual offence", "zedendelict"),
    "violence": ("violence", "geweld"),
    "property": ("property offence", "vermogensdelict"),
    "drugs": ("drugs offence", "drugsdelict"),
    "public_order": ("public order offence", "openbare-ordedelict"),
    "traffic": ("traffic offence", "verkeersdelict"),
    "weapons": ("weapons offence", "wapendelict"),
    "fraud": ("fraud", "fraude"),
    "other": ("other offence", "overig delict"),
}

# As a cell value a category is its name ("other" is the generic code above).
CATEGORIES: dict[str, Pair] = {c: t for c, t in _CATEGORIES.items() if c != "other"}

# -- cohort and matching (study/cohort.py, study/controls.py) -----------------------------------
COHORT: dict[str, Pair] = {
    "index_date": ("Index date", "Indexdatum"),
    "index_case_id": ("Index case", "Indexzaak"),
    "matched_to": ("Matched offender", "Gematchte dader"),
    "male": ("Male", "Man"),
    "birth_year": ("Birth year", "Geboortejaar"),
    "migration_any": ("Migration background", "Migratieachtergrond"),
    "origin_big4": ("Origin Morocco, Turkey, Suriname or Antilles",
                    "Herkomst Marokko, Turkije, Suriname of Antillen"),
    "mean_offenders": ("Mean, offenders", "Gemiddelde, daders"),
    "mean_pool": ("Mean, control pool before matching", "Gemiddelde, controlepool voor matching"),
    "mean_matched": ("Mean, matched controls", "Gemiddelde, gematchte controles"),
    "smd_before": ("Standardised mean difference before matching",
                   "Gestandaardiseerd verschil voor matching"),
    "smd_after": ("Standardised mean difference after matching",
                  "Gestandaardiseerd verschil na matching"),
    "smd": ("Standardised mean difference with the offenders",
            "Gestandaardiseerd verschil met de daders"),
    "sample": ("Sample", "Steekproef"),
    "pool": ("Control pool before matching", "Controlepool voor matching"),
    "matched": ("Matched controls", "Gematchte controles"),
    "pool_size": ("Persons in the control pool", "Personen in de controlepool"),
    "unmatched": ("Offenders without a control", "Daders zonder controle"),
}

# -- careers (study/careers.py) ---------------------------------------------------------------
CAREERS: dict[str, Pair] = {
    "age_at_index": ("Age at index date", "Leeftijd op indexdatum"),
    "age_first_case": ("Age at first counted case", "Leeftijd bij eerste zaak"),
    "age_first_trafficking": ("Age at first trafficking case", "Leeftijd bij eerste mensenhandelzaak"),
    "first_trafficking_young": ("First trafficking case before age 25",
                                "Eerste mensenhandelzaak voor 25e jaar"),
    "repeat_trafficking": ("New trafficking case after the index case",
                           "Nieuwe mensenhandelzaak na de indexzaak"),
    "n_prior_cases": ("Counted cases before the index date", "Zaken voor de indexdatum"),
    "versatility": ("Versatility (Simpson diversity of offence categories)",
                    "Veelzijdigheid (Simpson-diversiteit van delictcategorieën)"),
    "age_18_24": ("Aged 18-24 at index date", "18-24 jaar op indexdatum"),
    "any_prior_case": ("Any counted case before the index date", "Enige zaak voor de indexdatum"),
    **{f"before_{c}": (f"Before index date: {en}", f"Voor indexdatum: {nl}")
       for c, (en, nl) in _CATEGORIES.items()},
    **{f"after_{c}": (f"After index date: {en}", f"Na indexdatum: {nl}")
       for c, (en, nl) in _CATEGORIES.items()},
}

# -- risk and protective factors, criminal network (study/factors.py, study/network.py) ----------
FACTORS: dict[str, Pair] = {
    "criminal_family": ("Criminal parent, sibling or (ex-)partner",
                        "Criminele ouder, broer/zus of (ex-)partner"),
    "criminal_parent": ("Criminal parent", "Criminele ouder"),
    "criminal_sibling": ("Criminal sibling", "Criminele broer of zus"),
    "criminal_half_sibling": ("Criminal half-sibling", "Criminele halfbroer of halfzus"),
    "criminal_partner": ("Criminal (ex-)partner", "Criminele (ex-)partner"),
    "criminal_child": ("Criminal child", "Crimineel kind"),
    "criminal_grandparent": ("Criminal grandparent", "Criminele grootouder"),
    "criminal_grandchild": ("Criminal grandchild", "Crimineel kleinkind"),
    "criminal_other_family": ("Criminal other relative", "Crimineel ander familielid"),
    "criminal_household": ("Criminal household member", "Criminele huisgenoot"),
    "criminal_neighbours": ("Criminal neighbour", "Criminele buurtgenoot"),
    "criminal_school": ("Criminal classmate", "Criminele klasgenoot"),
    "criminal_work": ("Criminal colleague", "Criminele collega"),
    "skq_observable": ("Turned 23 by the cut-off", "23 geworden voor de peildatum"),
    "skq_by_23": ("Startkwalificatie by age 23", "Startkwalificatie voor 23e jaar"),
    "skq_not_observable": ("Not yet 23 at the cut-off (startkwalificatie not observable)",
                           "Nog geen 23 op de peildatum (startkwalificatie niet waarneembaar)"),
    "single_parent_childhood": ("Grew up (partly) in a single-parent household",
                                "(Deels) opgegroeid in een eenoudergezin"),
    "youth_care_childhood": ("Youth care before age 18", "Jeugdzorg voor 18e jaar"),
}

# -- three-group comparison and regression (study/compare.py) -----------------------------------
COMPARE: dict[str, Pair] = {
    "term": ("Term", "Term"),
    "coef": ("Coefficient (log odds)", "Coëfficiënt (log-odds)"),
    "se": ("Standard error", "Standaardfout"),
}

# -- trajectories and the atypical offender (study/trajectories.py) -----------------------------
TRAJECTORIES: dict[str, Pair] = {
    "low_rate": ("Low-rate", "Laag frequent"),
    "early_peak": ("Early-peak", "Vroege piek"),
    "late_peak": ("Late-peak", "Late piek"),
    "high_rate_persistent": ("High-rate persistent", "Hoog frequent persistent"),
    "single_group": ("Single group", "Eén groep"),
    "mid_peak": ("Mid-peak", "Middenpiek"),
    "trajectory": ("Trajectory group", "Trajectgroep"),
    "groups": ("Number of groups", "Aantal groepen"),
    "loglik": ("Log-likelihood", "Log-likelihood"),
    "n_params": ("Parameters", "Parameters"),
    "bic": ("BIC (Nagin: larger is better)", "BIC (Nagin: groter is beter)"),
    "aic": ("AIC (Nagin: larger is better)", "AIC (Nagin: groter is beter)"),
    "entropy": ("Relative entropy", "Relatieve entropie"),
    "smallest_share": ("Smallest group share", "Kleinste groepsaandeel"),
    "smallest_n": ("Persons in smallest group", "Personen in kleinste groep"),
    "min_appa": ("Lowest APPA", "Laagste APPA"),
    "min_occ": ("Lowest OCC", "Laagste OCC"),
    "guard_ok": ("Meets share and APPA rules", "Voldoet aan aandeel- en APPA-regels"),
    "chosen": ("Chosen", "Gekozen"),
    "converged": ("Converged", "Geconvergeerd"),
    "appa": ("Average posterior probability", "Gemiddelde a-posteriorikans"),
    "occ": ("Odds of correct classification", "Odds op juiste classificatie"),
    "peak_age": ("Age at peak", "Leeftijd bij piek"),
    "fitted": ("Fitted cases per year", "Geschatte zaken per jaar"),
    "observed_rate": ("Observed cases per person-year", "Waargenomen zaken per persoonsjaar"),
    "planted_group": ("Planted trajectory group", "Geplante trajectgroep"),
    "ari": ("Adjusted Rand index", "Adjusted Rand index"),
    "atypical": ("Atypical offender (first case is the index case)",
                 "Atypische dader (eerste zaak is de indexzaak)"),
    "other_offender": ("Other offenders", "Overige daders"),
    "subgroup": ("Subgroup", "Subgroep"),
    "route": ("Planted route", "Geplante route"),
    "early_starter": ("Early starter", "Vroege starter"),
    "atypical_flag": ("Identified as atypical", "Geïdentificeerd als atypisch"),
    "high_rate": ("High-rate (planted)", "Hoog frequent (gepland)"),
    "n_cases": ("Counted cases", "Getelde zaken"),
    "exposure": ("Share of year at risk", "Deel van het jaar in de risicotijd"),
    "female": ("Female", "Vrouw"),
}

# -- recidivism (study/recidivism.py) -----------------------------------------------------------
RECIDIVISM: dict[str, Pair] = {
    "recidivism": ("Recidivism", "Recidive"),
    "trafficking": ("Human trafficking offence", "Mensenhandeldelict"),
    "years": ("Years since start of follow-up", "Jaren sinds start van de observatieperiode"),
    "category": ("Offence category", "Delictcategorie"),
    "subset": ("Subgroup", "Subgroep"),
    "reoffenders": ("Reoffended within the window", "Gerecidiveerd binnen de periode"),
    "non_reoffenders": ("Did not reoffend within the window",
                        "Niet gerecidiveerd binnen de periode"),
}

# -- the high-risk youth profile (study/profile.py) ---------------------------------------------
# The numbers in these texts are profile.py's constants (MANY_PRIOR_CASES, EARLY_ONSET_AGE,
# SCHOOL_PROGRESS_AGE, STARTKWALIFICATIE_PROFILE_AGE); tests/test_labels.py checks they agree.
PROFILE: dict[str, Pair] = {
    "profile:age": ("Age (years above the youngest age)",
                    "Leeftijd (jaren boven de jongste leeftijd)"),
    "profile:outcome": ("Target offence within the horizon", "Doelgroepdelict binnen de horizon"),
    "prior_case": ("Own counted case before the reference date",
                   "Eigen meetellende zaak vóór de peildatum"),
    "prior_cases_3plus": ("3 or more own counted cases", "3 of meer eigen meetellende zaken"),
    "early_onset": ("First counted case before age 16", "Eerste meetellende zaak vóór 16 jaar"),
    "no_school_progress": ("No diploma above primary at age 18+",
                           "Geen diploma boven basisonderwijs op 18+ jaar"),
    "no_startkwalificatie": ("No startkwalificatie at age 20+", "Geen startkwalificatie op 20+ jaar"),
    "youth_care": ("Youth care measure before the reference date",
                   "Jeugdhulpmaatregel vóór de peildatum"),
    "intercept": ("Intercept", "Constante"),
    "predicted": ("Mean predicted risk", "Gemiddeld voorspeld risico"),
    "observed": ("Observed share", "Waargenomen aandeel"),
    "flagged": ("Flagged (share of young people)", "Gemarkeerd (aandeel jongeren)"),
    "sensitivity": ("Sensitivity", "Sensitiviteit"),
    "ppv": ("Positive predictive value", "Positief voorspellende waarde"),
    "fpr": ("False positive rate", "Fout-positief percentage"),
    "fnr": ("False negative rate", "Fout-negatief percentage"),
    "sex": ("Sex", "Geslacht"),
    "migration_background": ("Migration background", "Migratieachtergrond"),
}

# -- probation-advice monitor (study/probation.py) ----------------------------------------------
PROBATION: dict[str, Pair] = {
    "requested": ("Advice requested", "Advies aangevraagd"),
    "delivered": ("Advice delivered", "Advies uitgebracht"),
    "days_to_request": ("Days from registration to request", "Dagen van inschrijving tot aanvraag"),
    "days_to_delivery": ("Days from registration to delivery",
                         "Dagen van inschrijving tot uitbrengen"),
    "advice": ("Advice type", "Soort advies"),
    "kind": ("Case", "Zaak"),
    "index": ("Index case", "Indexzaak"),
    "repeat": ("Repeat trafficking case", "Herhaalde mensenhandelzaak"),
    "year": ("Year of registration", "Jaar van inschrijving"),
    "target": ("Target", "Doel"),
    "coverage": ("Coverage", "Dekking"),
}

# -- data quality: the validation rules (crimcareer.validation; the keys are its rule names) -----
VALIDATION: dict[str, Pair] = {
    "data_quality": ("Data quality", "Datakwaliteit"),
    "rule": ("Rule", "Regel"),
    "table": ("Table", "Tabel"),
    "column": ("Column", "Kolom"),
    "rows_dropped": ("Rows dropped", "Verwijderde rijen"),
    "missing required table": ("missing required table", "verplichte tabel ontbreekt"),
    "missing column": ("missing column", "kolom ontbreekt"),
    "missing column filled with nulls": ("missing column filled with nulls",
                                         "ontbrekende kolom leeg toegevoegd"),
    "wrong type": ("wrong type", "verkeerd type"),
    "unparseable date": ("unparseable date", "onleesbare datum"),
    "null not allowed": ("null not allowed", "lege waarde niet toegestaan"),
    "unknown code": ("unknown code", "onbekende code"),
    "duplicate key": ("duplicate key", "dubbele sleutel"),
    "relation to oneself": ("relation to oneself", "relatie met zichzelf"),
    "relation does not fit layer": ("relation does not fit layer", "relatie past niet bij laag"),
    "end before start": ("end before start", "einde voor begin"),
    "unknown person": ("unknown person", "onbekende persoon"),
    "unknown case": ("unknown case", "onbekende zaak"),
    "person differs from case": ("person differs from case", "persoon wijkt af van zaak"),
    "delivered but never requested": ("delivered but never requested",
                                      "uitgebracht maar nooit aangevraagd"),
    "table has no rows": ("table has no rows", "tabel heeft geen rijen"),
    "before birth": ("before birth", "voor geboorte"),
    "after death": ("after death", "na overlijden"),
    "person dropped (cascade)": ("person dropped (cascade)", "persoon verwijderd (gevolg)"),
    "alter dropped (cascade)": ("alter dropped (cascade)", "alter verwijderd (gevolg)"),
    "case dropped (cascade)": ("case dropped (cascade)", "zaak verwijderd (gevolg)"),
    "unregistered alter (kept)": ("unregistered alter (kept)",
                                  "niet-ingeschreven alter (behouden)"),
}

# -- cell keys built from a code and a number or kind (the `variable` column of some tables) --------
CELL_KEYS: dict[str, Pair] = {
    **{f"cases_at_age_{a}": (f"Cases at age {a}", f"Zaken op leeftijd {a}") for a in range(0, 121)},
    **{f"days_to_{what}_{kind}_case": (f"Days to {w_en}, {k_en}", f"Dagen tot {w_nl}, {k_nl}")
       for what, w_en, w_nl in (("request", "request", "aanvraag"),
                                ("delivery", "delivery", "uitbrengen"))
       for kind, k_en, k_nl in (("index", "index case", "indexzaak"),
                                ("repeat", "repeat case", "herhaalde zaak"))},
}

PARTS: tuple[Mapping[str, Pair], ...] = (
    COLUMNS, TABLE_COLUMNS, GROUPS, CODES, CATEGORIES, COHORT, CAREERS, FACTORS, COMPARE,
    TRAJECTORIES, RECIDIVISM, PROFILE, PROBATION, VALIDATION, CELL_KEYS,
)

#: key -> (English, Dutch): every label, one text per key (read-only).
LABELS: Mapping[str, Pair] = build(*PARTS)


def pair(key: str, ns: str | None = None) -> Pair | None:
    """(English, Dutch) of ``ns:key`` if the registry has it, else of ``key``, else None."""
    if ns is not None and f"{ns}:{key}" in LABELS:
        return LABELS[f"{ns}:{key}"]
    return LABELS.get(key)


def label(key: str, lang: str, default: str | None = None, ns: str | None = None) -> str:
    """The text of a key in a language ("en" or "nl"); a key without a label reads as
    ``default`` (when given) or as the key with its underscores as spaces."""
    p = pair(key, ns)
    if p is None:
        return key.replace("_", " ") if default is None else default
    return p[0] if lang == "en" else p[1]


def both(key: str, default: str | None = None, ns: str | None = None) -> dict[str, str]:
    """{"en": ..., "nl": ...} of a key (see :func:`label`)."""
    return {lang: label(key, lang, default, ns) for lang in ("en", "nl")}


def column_label(table: str, column: str, lang: str) -> str | None:
    """The header of a column where the table gives it its own meaning (TABLE_COLUMNS: the first
    pattern that matches the table name), else None."""
    for key, (en, nl) in TABLE_COLUMNS.items():
        _, pattern, col = key.split(":", 2)
        if col == column and fnmatch.fnmatch(table, pattern):
            return en if lang == "en" else nl
    return None
