"""One colour per group and per trajectory group, the same in every figure (Okabe-Ito colours,
readable with colour-blindness), and the axis words of figures in each report language."""

from __future__ import annotations

import altair as alt

TARGET = "#D55E00"  # the target group, whatever its code
CONTROLS = {"CC": "#0072B2", "NC": "#009E73"}


def group_colours(target: str) -> dict[str, str]:
    """Colour per group code: the target group (the spec's label) first, then the controls."""
    return {target: TARGET, **CONTROLS}

TRAJECTORIES = {
    "low_rate": "#56B4E9", "early_peak": "#E69F00", "mid_peak": "#F0E442",
    "late_peak": "#CC79A7", "high_rate_persistent": "#000000", "single_group": "#999999",
}
SUBGROUPS = {"atypical": "#D55E00", "other_offender": "#999999"}
MEASURES = {"requested": "#0072B2", "delivered": "#009E73"}
CATEGORIES = {"property": "#E69F00", "violence": "#D55E00", "drugs": "#009E73",
              "trafficking": "#CC79A7", "sexual": "#0072B2", "other": "#999999"}
SUPPRESSED_MARK = "✱"
# Dutch number format on figure axes (14.582 and 88,9)
NL_LOCALE = {"number": {"decimal": ",", "thousands": ".", "grouping": [3],
                        "currency": ["€ ", ""]}}

WORDS = {
    "age": ("Age", "Leeftijd"),
    "cases_per_year": ("Cases per year", "Zaken per jaar"),
    "trajectory_group": ("Trajectory group", "Trajectgroep"),
    "group": ("Group", "Groep"),
    "category": ("Offence category", "Delictcategorie"),
    "years_since_start": ("Years since start of follow-up", "Jaren sinds start van de observatieperiode"),
    "reoffended": ("Reoffended (%)", "Gerecidiveerd (%)"),
    "cumulative_incidence": ("Cumulative incidence (%)", "Cumulatieve incidentie (%)"),
    "year_registration": ("Year of registration", "Jaar van inschrijving"),
    "coverage": ("Cases with an advice (%)", "Zaken met een advies (%)"),
    "predicted": ("Mean predicted risk (%)", "Gemiddeld voorspeld risico (%)"),
    "observed": ("Observed share (%)", "Waargenomen aandeel (%)"),
    "share_pct": ("Share (%)", "Aandeel (%)"),
    "subgroup": ("Subgroup", "Subgroep"),
    "withheld": ("✱ withheld by the disclosure rules", "✱ afgeschermd door de geheimhoudingsregels"),
}


def word(key: str, lang: str) -> str:
    en, nl = WORDS[key]
    return en if lang == "en" else nl


def scale(colours: dict[str, str], present=None) -> alt.Scale:
    """A colour scale fixing each code's colour (codes not present are left out of the legend)."""
    keys = [k for k in colours if present is None or k in set(present)]
    extra = [k for k in (present or []) if k not in colours]
    return alt.Scale(domain=keys + list(dict.fromkeys(extra)),
                     range=[colours[k] for k in keys] + ["#777777"] * len(dict.fromkeys(extra)))


def label_scale(colours: dict[str, str], labels: dict[str, str], present) -> alt.Scale:
    """As :func:`scale`, for a field holding display labels (``labels``: code -> label)."""
    present = list(dict.fromkeys(present))
    codes = [c for c in colours if c in present] + [c for c in present if c not in colours]
    return alt.Scale(domain=[labels.get(c, c) for c in codes],
                     range=[colours.get(c, "#777777") for c in codes])
