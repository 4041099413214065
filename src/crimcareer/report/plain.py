"""The disclosure gate's reasons in plain words, in English or Dutch, for the report and the
output checker's summary.

The gate (crimcareer.disclosure) records technical reasons ("numerator below 10 persons",
"secondary suppression: protects t[a|b].n", "p% rule (p=10)"); they stay as they are in
disclosure.json. Here they are matched by pattern and said in plain words; a reason that no
pattern knows falls back to a general sentence, so new gate reasons never show up raw.
"""

from __future__ import annotations

import re

# (pattern, English, Dutch); groups of the pattern fill {0}, {1}, ...
_REASONS: list[tuple[str, str, str]] = [
    (r"numerator below (\d+) persons",
     "fewer than {0} persons have this characteristic",
     "minder dan {0} personen hebben dit kenmerk"),
    (r"denominator below (\d+) persons",
     "the group has fewer than {0} persons",
     "de groep telt minder dan {0} personen"),
    (r"complement below (\d+) persons",
     "fewer than {0} persons in the group do not have this characteristic",
     "minder dan {0} personen in de groep hebben dit kenmerk niet"),
    (r"zero complement",
     "everyone in the group has this characteristic",
     "iedereen in de groep heeft dit kenmerk"),
    (r"zero cell",
     "nobody is in this cell (empty cells are withheld in this profile)",
     "niemand valt in deze cel (lege cellen worden in dit profiel afgeschermd)"),
    (r"fewer than (\d+) persons at risk",
     "fewer than {0} persons were still followed",
     "minder dan {0} personen werden nog gevolgd"),
    (r"fewer than (\d+) persons in total",
     "fewer than {0} persons in total",
     "minder dan {0} personen in totaal"),
    (r"fewer than (\d+) persons",
     "fewer than {0} persons",
     "minder dan {0} personen"),
    (r"missing count",
     "the number of persons is unknown",
     "het aantal personen is onbekend"),
    (r"negative values",
     "some values are negative, so the dominance rule cannot be checked",
     "sommige waarden zijn negatief, zodat de dominantieregel niet te toetsen is"),
    (r"\((\d+),\s*([\d.]+)%\)-dominance",
     "the {0} largest values make up {1}% or more of the total, so they could be recognised",
     "de {0} grootste waarden vormen {1}% of meer van het totaal en zouden herkenbaar zijn"),
    (r"p% rule \(p=([\d.]+)\)",
     "the largest value could be estimated to within {0}% from the others",
     "de grootste waarde zou uit de andere tot op {0}% nauwkeurig te schatten zijn"),
    (r"(secondary|ledger) suppression",
     "also withheld, so that a withheld number elsewhere cannot be worked out by adding or "
     "subtracting (secondary suppression)",
     "ook afgeschermd, zodat een elders afgeschermd getal niet door optellen of aftrekken terug "
     "te rekenen is (secundaire geheimhouding)"),
    (r"feasible interval",
     "also withheld, so that a withheld number elsewhere cannot be worked out by adding or "
     "subtracting (secondary suppression)",
     "ook afgeschermd, zodat een elders afgeschermd getal niet door optellen of aftrekken terug "
     "te rekenen is (secundaire geheimhouding)"),
    (r"points with fewer than (\d+)",
     "the curve stops where fewer than {0} persons were still followed",
     "de curve stopt waar minder dan {0} personen nog gevolgd werden"),
    (r"thinned",
     "steps of the curve merged so that each step concerns at least the minimum number of persons",
     "stappen van de curve samengevoegd zodat elke stap ten minste het minimum aantal personen "
     "betreft"),
    (r"bins merged to reach (\d+)",
     "neighbouring classes merged so that each holds at least {0} persons",
     "aangrenzende klassen samengevoegd zodat elke klasse ten minste {0} personen telt"),
    (r"residual df ([\d.]+) < (\d+)",
     "too few persons for the number of model terms (residual degrees of freedom below {1})",
     "te weinig personen voor het aantal modeltermen (resterende vrijheidsgraden onder {1})"),
    (r"source cells withheld later",
     "figure withdrawn: numbers it was drawn from were withheld later",
     "figuur ingetrokken: getallen waarop zij berust zijn later afgeschermd"),
    (r"a cell with the outcome has fewer than (\d+) persons",
     "a cell with the outcome has fewer than {0} persons",
     "een cel met de uitkomst telt minder dan {0} personen"),
]

_FALLBACK = (
    "withheld by the disclosure rules (the technical reason is in disclosure.json)",
    "afgeschermd door de geheimhoudingsregels (de technische reden staat in disclosure.json)",
)


def plain_reason(reason: str, lang: str = "en") -> str:
    """One technical gate reason (possibly 'col: reason; col: reason') in plain words."""
    if not isinstance(reason, str) or not reason.strip():
        return ""
    out: list[str] = []
    for part in re.split(r";\s*(?![^\[]*\])", reason):
        part = re.sub(r"^(n|N|N-n|n,N|[\w,]+):\s+", "", part.strip())
        said = _one(part, lang)
        if said and said not in out:
            out.append(said)
    return "; ".join(out)


def _one(reason: str, lang: str) -> str:
    i = 0 if lang == "en" else 1
    for pattern, en, nl in _REASONS:
        m = re.search(pattern, reason)
        if m:
            return (en, nl)[i].format(*m.groups())
    return _FALLBACK[i]


def explained(text: str, lang: str) -> str:
    """Replace technical reasons quoted inside a sentence (e.g. in a model card) by plain words."""
    if lang == "en":
        return text
    for pattern, _en, nl in _REASONS:
        text = re.sub(r"\(" + pattern + r"\)", lambda m, nl=nl: "(" + nl.format(*m.groups()) + ")",
                      text)
    return text


_FLAGS = [
    (r"zero cell", "nobody in the group has the characteristic (an empty cell, released and "
                   "flagged for the checker)",
     "niemand in de groep heeft het kenmerk (een lege cel, vrijgegeven en gemarkeerd voor de "
     "controleur)"),
    (r"all in one category", "everyone in the group has the characteristic (released and flagged "
                             "for the checker)",
     "iedereen in de groep heeft het kenmerk (vrijgegeven en gemarkeerd voor de controleur)"),
]


def plain_flag(flag: str, lang: str = "en") -> str:
    """A gate flag ('NC: zero cell (...)': released, but worth the checker's look) in plain words."""
    i = 1 if lang == "en" else 2
    for row in _FLAGS:
        if re.search(row[0], flag):
            return row[i]
    return ("flagged for review (see disclosure.json)" if lang == "en"
            else "gemarkeerd ter beoordeling (zie disclosure.json)")
