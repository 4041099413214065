"""Words that depend on the study spec: the target group's name and labels that carry a spec value.

Every text that names the target group, its offences or an age the spec sets comes from here, so a
study of another offence never reads the flagship's words. :func:`study_labels` overlays the
fixed label registry in the report and in figures.
"""

from __future__ import annotations

from crimcareer.contract import TRAFFICKING_CATEGORIES
from crimcareer.labels import GROUPS
from crimcareer.study.spec import StudySpec

Label = tuple[str, str]  # (English, Dutch)

#: An offence category as the object of "offenders of ..." / "daders van ...".
CATEGORY_NAMES: dict[str, Label] = {
    "trafficking_sexual": ("sexual exploitation", "seksuele uitbuiting"),
    "trafficking_labour": ("labour exploitation", "arbeidsuitbuiting"),
    "sexual": ("sexual offences", "zedendelicten"),
    "violence": ("violent offences", "geweldsdelicten"),
    "property": ("property offences", "vermogensdelicten"),
    "drugs": ("drugs offences", "drugsdelicten"),
    "public_order": ("public order offences", "openbare-ordedelicten"),
    "traffic": ("traffic offences", "verkeersdelicten"),
    "weapons": ("weapons offences", "wapendelicten"),
    "fraud": ("fraud", "fraude"),
    "other": ("other offences", "overige delicten"),
}

CONTROL_NAMES: dict[str, Label] = dict(GROUPS)  # CC and NC, from the label registry


#: What a case outcome that does not count is, said as an exclusion.
OUTCOME_EXCLUDED: dict[str, Label] = {
    "acquittal": ("not acquitted", "geen vrijspraak"),
    "dismissal_technical": ("not technically dismissed", "geen technisch sepot"),
    "dismissal_policy": ("not dismissed on policy grounds", "geen beleidssepot"),
    "conviction": ("not convicted", "geen veroordeling"),
    "pending": ("not pending", "niet lopend"),
}


def counted_words(spec: StudySpec) -> Label:
    """Which cases count, in words (en, nl): "not acquitted, not technically dismissed"."""
    out = spec.cases.not_counted_outcomes
    if not out:
        return ("every outcome", "elke afdoening")
    return (", ".join(OUTCOME_EXCLUDED[o][0] for o in out),
            ", ".join(OUTCOME_EXCLUDED[o][1] for o in out))


def _joined(words: list[str], last: str) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {last} {words[-1]}"


def target_name(spec: StudySpec) -> Label:
    """The target group's name (en, nl): the spec's `name_en`/`name_nl`, else derived from its
    offence categories and `domestic` flag ("Offenders of domestic labour exploitation")."""
    t = spec.target
    en = [CATEGORY_NAMES[c][0] for c in t.offence_categories]
    nl = [CATEGORY_NAMES[c][1] for c in t.offence_categories]
    dom_en = {True: "domestic ", False: "cross-border ", None: ""}[t.domestic]
    dom_nl = {True: "binnenlandse ", False: "grensoverschrijdende ", None: ""}[t.domestic]
    return (t.name_en or f"Offenders of {dom_en}{_joined(en, 'or')}",
            t.name_nl or f"Daders van {dom_nl}{_joined(nl, 'of')}")


def group_names(spec: StudySpec) -> dict[str, Label]:
    """Names of the study's groups by code: the target group and its control groups."""
    return {spec.target.label: target_name(spec),
            **{g: CONTROL_NAMES[g] for g in spec.controls.groups}}


MATCHING_NAMES: dict[str, Label] = {
    "sex": ("sex", "geslacht"),
    "birth_year": ("birth year", "geboortejaar"),
    "migration_background": ("migration background", "migratieachtergrond"),
    "origin_group": ("origin group", "herkomstgroep"),
}


def design_words(spec: StudySpec) -> Label:
    """The study design in one sentence (en, nl): who, when, against which controls, matched how."""
    t, c = spec.target, spec.controls
    en, nl = target_name(spec)
    years = f"{t.period[0]:%Y}-{t.period[1]:%Y}"
    adj = {"CC": ("criminal", "criminele"), "NC": ("non-criminal", "niet-criminele")}
    ctrl_en = _joined([adj[g][0] for g in c.groups], "and") + " controls"
    ctrl_nl = _joined([adj[g][1] for g in c.groups], "en") + " controles"
    on_en = _joined([MATCHING_NAMES[v][0] for v in c.exact], "and")
    on_nl = _joined([MATCHING_NAMES[v][1] for v in c.exact], "en")
    how_en = "" if c.method == "exact" else ", nearest neighbour on the propensity score"
    how_nl = "" if c.method == "exact" else ", naaste buur op de propensityscore"
    if not c.groups:
        return (f"{en} ({t.label}), cases registered {years}; no control groups.",
                f"{nl} ({t.label}), zaken ingeschreven {years}; geen controlegroepen.")
    return (f"{en} ({t.label}), cases registered {years}, against {ctrl_en} matched "
            f"{c.ratio}:1 on {on_en}{how_en}.",
            f"{nl} ({t.label}), zaken ingeschreven {years}, tegenover {ctrl_nl}, {c.ratio}:1 "
            f"gematcht op {on_nl}{how_nl}.")


def _family_words(spec: StudySpec) -> Label | None:
    """The categories of the careers' offence family (``careers.trafficking_categories``) joined
    ("violent offences or ..."), or None for exactly the two kinds of trafficking."""
    cats = list(spec.careers.trafficking_categories)
    if set(cats) == set(TRAFFICKING_CATEGORIES):
        return None
    return (_joined([CATEGORY_NAMES[c][0] for c in cats], "or"),
            _joined([CATEGORY_NAMES[c][1] for c in cats], "of"))


def family_case(spec: StudySpec, plural: bool = False) -> Label:
    """A case of the offence family whose first and later cases the careers measure
    (``careers.trafficking_categories``): "trafficking case" / "mensenhandelzaak" for both kinds
    of trafficking, else "case of violent offences" / "zaak wegens geweldsdelicten"."""
    words = _family_words(spec)
    if words is None:
        return ("trafficking cases", "mensenhandelzaken") if plural else \
            ("trafficking case", "mensenhandelzaak")
    en, nl = words
    return (f"cases of {en}", f"zaken wegens {nl}") if plural else \
        (f"case of {en}", f"zaak wegens {nl}")


def family_name(spec: StudySpec) -> Label:
    """The offence family itself, as a recidivism group: "Human trafficking offence" for both
    kinds of trafficking, else its categories ("Violent offences")."""
    words = _family_words(spec)
    if words is None:
        return ("Human trafficking offence", "Mensenhandeldelict")
    en, nl = words
    return (en[:1].upper() + en[1:], nl[:1].upper() + nl[1:])


def study_labels(spec: StudySpec) -> dict[str, Label]:
    """Labels whose text holds a spec value (group names, ages); they take precedence over the
    fixed labels wherever a report or figure names a code."""
    c, f, r = spec.careers, spec.factors, spec.recidivism
    case_en, case_nl = family_case(spec)
    return {
        **group_names(spec),
        "first_trafficking_young": (f"First {case_en} before age {c.young_first_trafficking_age}",
                                    f"Eerste {case_nl} voor {c.young_first_trafficking_age}e jaar"),
        "age_first_trafficking": (f"Age at first {case_en}", f"Leeftijd bij eerste {case_nl}"),
        "repeat_trafficking": (f"New {case_en} after the index case",
                               f"Nieuwe {case_nl} na de indexzaak"),
        "repeat": (f"Repeat {case_en}", f"Herhaalde {case_nl}"),
        "trafficking": family_name(spec),
        "skq_observable": (f"Turned {f.startkwalificatie_age} by the cut-off",
                           f"{f.startkwalificatie_age} geworden voor de peildatum"),
        "skq_by_23": (f"Startkwalificatie by age {f.startkwalificatie_age}",
                      f"Startkwalificatie voor {f.startkwalificatie_age}e jaar"),
        "skq_not_observable": (
            f"Not yet {f.startkwalificatie_age} at the cut-off (startkwalificatie not observable)",
            f"Nog geen {f.startkwalificatie_age} op de peildatum "
            "(startkwalificatie niet waarneembaar)"),
        "youth_care_childhood": (f"Youth care before age {f.childhood_age}",
                                 f"Jeugdzorg voor {f.childhood_age}e jaar"),
        "column:recidivism_age_split:n": (f"Persons younger than {r.young_age} at the start",
                                   f"Personen jonger dan {r.young_age} bij de start"),
        "column:recidivism_age_split:pct": (f"Younger than {r.young_age} at the start (%)",
                                     f"Jonger dan {r.young_age} bij de start (%)"),
    }
