"""The self-contained HTML report (English or Dutch) built only from disclosure-released outputs.

Tables are rendered with great_tables from the gate's released frames; figures are the SVG files
the steps saved (inlined, so the report opens offline with no external links).
"""

from __future__ import annotations

import fnmatch
import html
import importlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
from great_tables import GT

from crimcareer.disclosure import SUPPRESSED, Gate
from crimcareer.report.plain import explained, plain_reason
from crimcareer.report.section import Section

# Column headers shared by every table (variable keys come from each module's LABELS). A column
# of shares is shown in percent whatever unit the released table holds (see _kinds), so its
# header says "(%)"; `n` and `N` are named per table where they count something else.
COLUMN_LABELS: dict[str, tuple[str, str]] = {
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
    SUPPRESSED: ("Withheld: why", "Afgeschermd: waarom"),
}

# n and N where they count something other than persons with a characteristic in a group
# (fnmatch pattern of the table name, column) -> (English, Dutch).
TABLE_COLUMNS: list[tuple[str, str, tuple[str, str]]] = [
    ("cohort_groups", "n", ("Persons in the group", "Personen in de groep")),
    ("cohort_groups", "N", ("Persons in the group (denominator)", "Personen in de groep (noemer)")),
    ("cohort_unmatched", "n", ("Offenders without a matched control",
                               "Daders zonder gematchte controle")),
    ("cohort_unmatched", "N", ("Offenders", "Daders")),
    ("cohort_unmatched", "pct", ("Offenders without a matched control (%)",
                                 "Daders zonder gematchte controle (%)")),
    ("factors_odds_ratios", "n", ("Smallest cell of the 2x2 table (persons)",
                                  "Kleinste cel van de 2x2-tabel (personen)")),
    ("factors_odds_ratios", "N", ("Persons in the smaller group", "Personen in de kleinste groep")),
    ("recidivism_followed", "n", ("Persons followed", "Gevolgde personen")),
    ("recidivism_followed", "pct", ("Persons followed (%)", "Gevolgde personen (%)")),
    ("recidivism_general*", "n", ("Persons with a new offence by then",
                                  "Personen met een nieuw delict tot dan")),
    ("recidivism_specific", "n", ("Persons with a new offence of the category by then",
                                  "Personen met een nieuw delict van de categorie tot dan")),
    ("recidivism_age_split", "n", ("Persons younger than 23 at the start",
                                   "Personen jonger dan 23 bij de start")),
    ("recidivism_age_split", "pct", ("Younger than 23 at the start (%)",
                                     "Jonger dan 23 bij de start (%)")),
    ("trajectory_shares_*", "n", ("Persons assigned to the group (most likely)",
                                  "Personen toegewezen aan de groep (meest waarschijnlijk)")),
    ("trajectory_shares_*", "N", ("Persons modelled", "Gemodelleerde personen")),
    ("trajectory_shares_*", "share", ("Share of persons, model estimate (%)",
                                      "Aandeel personen, modelschatting (%)")),
    ("trajectory_selection_*", "n", ("Persons in the smallest group",
                                     "Personen in de kleinste groep")),
    ("trajectory_selection_*", "N", ("Persons modelled", "Gemodelleerde personen")),
    ("trajectory_selection_*", "smallest_share", ("Smallest group share (%)",
                                                  "Kleinste groepsaandeel (%)")),
    ("trajectory_observed_*", "n", ("Persons observed at this age",
                                    "Personen waargenomen op deze leeftijd")),
    ("trajectory_profile_means_*", "n", ("Persons", "Personen")),
    ("atypical_profile_means", "n", ("Persons", "Personen")),
    ("*truth*", "N", ("Persons in the planted group", "Personen in de geplante groep")),
    ("*truth*", "n", ("Persons", "Personen")),
    ("profile_calibration", "n", ("Persons with the outcome", "Personen met de uitkomst")),
    ("profile_calibration", "N", ("Persons in the risk class (weighted)",
                                  "Personen in de risicoklasse (gewogen)")),
    ("profile_calibration", "observed", ("Observed share (%)", "Waargenomen aandeel (%)")),
    ("profile_calibration", "predicted", ("Mean predicted risk (%)",
                                          "Gemiddeld voorspeld risico (%)")),
    ("profile_thresholds", "n", ("Numerator (persons)", "Teller (personen)")),
    ("profile_thresholds", "N", ("Denominator (persons)", "Noemer (personen)")),
    ("profile_fairness", "n", ("Numerator (persons)", "Teller (personen)")),
    ("profile_fairness", "N", ("Denominator (persons)", "Noemer (personen)")),
    ("probation_coverage*", "n", ("Cases with this advice step", "Zaken met deze adviesstap")),
    ("probation_coverage*", "N", ("Cases", "Zaken")),
    ("probation_coverage*", "pct", ("Share of cases (%)", "Aandeel van de zaken (%)")),
    ("probation_advice_type", "n", ("Advices of this type", "Adviezen van deze soort")),
    ("probation_advice_type", "N", ("Advices delivered", "Uitgebrachte adviezen")),
    ("probation_advice_type", "pct", ("Share of the advices (%)", "Aandeel van de adviezen (%)")),
    ("probation_days", "persons", ("Cases", "Zaken")),
    ("probation_days", "mean", ("Mean days", "Gemiddeld aantal dagen")),
    ("probation_days", "sd", ("Standard deviation (days)", "Standaardafwijking (dagen)")),
]

_ORIGINS = {
    "NL": ("Netherlands", "Nederland"), "MA": ("Morocco", "Marokko"), "TR": ("Turkey", "Turkije"),
    "SR": ("Suriname", "Suriname"), "AN": ("former Antilles/Aruba", "voormalige Antillen/Aruba"),
    "other_western": ("other Western", "overig westers"),
    "other_non_western": ("other non-Western", "overig niet-westers"),
}

# Codes that appear as cell values (the modules' LABELS hold the variables).
CODE_LABELS: dict[str, tuple[str, str]] = {
    **{f"origin_{k}": (f"Origin: {en}", f"Herkomst: {nl}") for k, (en, nl) in _ORIGINS.items()},
    "chi2": ("chi-square", "chi-kwadraat"), "fisher": ("Fisher (exact)", "Fisher (exact)"),
    "kruskal": ("Kruskal-Wallis", "Kruskal-Wallis"), "none": ("–", "–"),
    "F": ("Female", "Vrouw"), "M": ("Male", "Man"),
    "all": ("All", "Alle"), "any": ("Any migration background", "Met migratieachtergrond"),
    "age_group": ("Age at offence", "Leeftijd bij delict"),
    "no_intervention": ("No intervention", "Geen interventie"),
    "supervision": ("Supervision", "Toezicht"), "treatment": ("Treatment", "Behandeling"),
    "other": ("Other", "Overig"),
    "calibration": ("Observed share", "Waargenomen aandeel"),
    "const": ("Intercept", "Constante"),
    "first_generation": ("First generation", "Eerste generatie"),
    "second_generation": ("Second generation", "Tweede generatie"),
}

UI = {
    "title": ("Study report", "Onderzoeksrapport"),
    "contents": ("Contents", "Inhoud"),
    "suppressed_note": (
        "Cells marked ✱ are withheld by the disclosure rules; the last column of the table says "
        "why. Shares are percentages. Every number in this report passed the disclosure check "
        "(see disclosure.json).",
        "Cellen met ✱ zijn afgeschermd (onderdrukt) volgens de geheimhoudingsregels; de laatste "
        "kolom van de tabel zegt waarom. Aandelen zijn percentages. Elk getal in dit rapport is "
        "door de outputcontrole gegaan (zie disclosure.json).",
    ),
    "empty": ("Nothing could be released for this table.",
              "Voor deze tabel kon niets worden vrijgegeven."),
    "generated": ("Generated by", "Gemaakt met"),
    "figure_withheld": (
        "✱ Values withheld by the disclosure rules are not drawn (see the table).",
        "✱ Waarden die de geheimhoudingsregels afschermen, zijn niet getekend (zie de tabel).",
    ),
    "yes": ("yes", "ja"), "no": ("no", "nee"),
    "vs": ("vs", "t.o.v."),
    "cutoff": ("cut-off", "peildatum"),
}

LABEL_MODULES = (
    "crimcareer.study.cohort", "crimcareer.study.controls", "crimcareer.study.careers",
    "crimcareer.study.factors", "crimcareer.study.network", "crimcareer.study.compare",
    "crimcareer.study.trajectories", "crimcareer.study.recidivism", "crimcareer.study.profile",
    "crimcareer.study.probation", "crimcareer.validation",
)

# Keys several modules define differently: the report's meaning wins (a module's own texts keep
# their own labels).
_SHARED = {"age": ("Age", "Leeftijd"), "outcome": ("Outcome", "Uitkomst")}


def all_labels() -> dict[str, tuple[str, str]]:
    """Every module's LABELS merged with the shared column and code labels."""
    labels = dict(CODE_LABELS)
    for mod in LABEL_MODULES:
        try:
            labels.update(getattr(importlib.import_module(mod), "LABELS", {}))
        except ImportError:
            continue
    try:
        from crimcareer.study.careers import _CATEGORY_LABELS

        labels.update({k: v for k, v in _CATEGORY_LABELS.items() if k not in labels})
    except ImportError:  # pragma: no cover
        pass
    labels.update(COLUMN_LABELS)
    labels.update(_SHARED)
    return labels


def _lab(labels: dict[str, tuple[str, str]], key: str, lang: str) -> str:
    pair = labels.get(key)
    if pair is None:
        return key.replace("_", " ")
    return pair[0] if lang == "en" else pair[1]


def _t(key: str, lang: str) -> str:
    en, nl = UI[key]
    return en if lang == "en" else nl


# -- numbers -------------------------------------------------------------------------------------
def fmt_number(v: float, decimals: int, lang: str, group: bool = True) -> str:
    """A number for reading: thousands separators and decimal mark of the language
    (English 14,582 and 88.9; Dutch 14.582 and 88,9)."""
    s = f"{v:,.{decimals}f}" if group else f"{v:.{decimals}f}"
    if s.startswith("-") and float(s.replace(",", "")) == 0:
        s = s[1:]
    if lang == "nl":
        s = s.translate(str.maketrans({",": ".", ".": ","}))
    return s


_INT = {"n", "N", "at_risk", "persons", "pool_size", "n_params", "smallest_n", "n_cases",
        "per_10000", "points", "groups", "bin"}
_YEARLIKE = {"year", "birth_year", "age", "peak_age", "years"}
_FRACTION = {"share", "smallest_share", "observed", "predicted", "expected", "value", "threshold",
             "exposure"}
_RATIO = {"odds_ratio", "or_ci_low", "or_ci_high", "smd", "smd_before", "smd_after", "o_e",
          "appa", "min_appa", "entropy", "ari", "fitted", "observed_rate", "occ", "min_occ"}
_BOOL = {"converged", "guard_ok", "chosen", "atypical_flag"}
_YEAR_VARIABLES = {"birth_year"}


def _share_unit(df: pd.DataFrame, col: str) -> float:
    """1 if the column holds fractions, 100 if percentages (from n/N where the table has them,
    else from the Wilson upper bound of an empty cell, else from the values' range)."""
    v = pd.to_numeric(df[col], errors="coerce")
    if {"n", "N"} <= set(df.columns):
        n, N = pd.to_numeric(df["n"], errors="coerce"), pd.to_numeric(df["N"], errors="coerce")
        ok = v.notna() & n.notna() & (N > 0) & (n > 0)
        if ok.any():
            r = (v[ok] / (n[ok] / N[ok])).median()
            return 100.0 if r > 10 else 1.0
        if "ci_high" in df.columns:
            hi = pd.to_numeric(df["ci_high"], errors="coerce")
            ok = hi.notna() & (n == 0) & (N > 0)
            if ok.any():  # Wilson upper bound of 0 of N: z^2 / (N + z^2)
                z2 = 1.959964 ** 2
                r = (hi[ok] / (z2 / (N[ok] + z2))).median()
                return 100.0 if r > 10 else 1.0
    return 1.0 if v.dropna().abs().max() <= 1 else 100.0


def _kinds(df: pd.DataFrame) -> dict[str, str]:
    """How each numeric column is shown: int, year, pct (already in percent), frac (shown x100),
    pvalue, ratio, coef, big, mean, bool, dec1 or dec2."""
    kinds: dict[str, str] = {}
    cols = set(df.columns)
    pct_unit = _share_unit(df, "pct") if "pct" in cols else None
    for c in df.columns:
        if c == SUPPRESSED or not pd.api.types.is_numeric_dtype(df[c]) or df[c].dtype == bool:
            kinds[c] = "bool" if df[c].dtype == bool else "text"
            continue
        if c in _BOOL:
            kinds[c] = "bool"
        elif c in _INT:
            kinds[c] = "int"
        elif c in _YEARLIKE:
            kinds[c] = "year"
        elif c in ("p_value", "p"):
            kinds[c] = "pvalue"
        elif c == "pct":
            kinds[c] = "pct" if pct_unit == 100 else "frac"
        elif c == "target_pct":
            kinds[c] = "pct"
        elif c in ("ci_low", "ci_high"):
            if "odds_ratio" in cols:
                kinds[c] = "ratio"
            elif "pct" in cols:
                kinds[c] = "pct" if pct_unit == 100 else "frac"
            else:
                kinds[c] = "frac" if df[c].dropna().abs().max() <= 1 else "pct"
        elif c == "estimate":
            kinds[c] = "frac" if df[c].dropna().abs().max() <= 1 else "dec2"
        elif c in _FRACTION:
            kinds[c] = "frac"
        elif c in _RATIO:
            kinds[c] = "ratio"
        elif c in ("coef", "se"):
            kinds[c] = "coef"
        elif c in ("loglik", "bic", "aic"):
            kinds[c] = "big"
        elif c in ("mean", "sd") or c.startswith("mean_"):
            kinds[c] = "mean"
        elif c == "time":
            kinds[c] = "dec1"
        else:
            kinds[c] = "dec2"
    return kinds


def _show(v: object, kind: str, lang: str, yearish: bool = False) -> object:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if kind == "bool":
        return _t("yes", lang) if bool(v) else _t("no", lang)
    if not isinstance(v, (int, float, np.integer, np.floating)):
        return v
    v = float(v)
    if kind == "pvalue":
        return ("<" + fmt_number(0.001, 3, lang)) if v < 0.001 else fmt_number(v, 3, lang)
    if kind == "frac":
        return fmt_number(100 * v, 1, lang)
    if kind == "pct":
        return fmt_number(v, 1, lang)
    if kind in ("int", "year") or (v.is_integer() and kind in ("dec1", "dec2", "mean", "big")):
        return fmt_number(v, 0, lang, group=kind != "year" and not yearish)
    if kind == "year":
        return fmt_number(v, 1, lang, group=False)
    if kind == "coef":
        return fmt_number(v, 3, lang)
    if kind in ("mean", "dec1", "big"):
        return fmt_number(v, 1, lang, group=not yearish)
    return fmt_number(v, 2, lang)


def _code_label(v: object, labels: dict[str, tuple[str, str]], lang: str) -> object:
    if not isinstance(v, str):
        return v
    if v in labels:
        w = _lab(labels, v, lang)
        return w[:1].upper() + w[1:]
    m = re.fullmatch(r"(\w+) vs (\w+)", v)
    if m:
        b = str(_code_label(m.group(2), labels, lang))
        b = b[:1].lower() + b[1:] if not b[:2].isupper() else b
        return f"{_code_label(m.group(1), labels, lang)} {_t('vs', lang)} {b}"
    return v


def _column_label(name: str, col: str, kind: str, df: pd.DataFrame, lang: str,
                  labels: dict[str, tuple[str, str]]) -> str:
    i = 0 if lang == "en" else 1
    if f"{name}:{col}" in labels:  # a study's own words for this column (report.labels overlay)
        return labels[f"{name}:{col}"][i]
    for pattern, c, pair in TABLE_COLUMNS:
        if c == col and fnmatch.fnmatch(name, pattern):
            return pair[i]
    if col in ("ci_low", "ci_high"):
        base = COLUMN_LABELS[col][i]
        return f"{base} ({'odds ratio' if kind == 'ratio' else '%'})"
    text = _lab(labels, col, lang)
    if kind == "frac" and "%" not in text:
        text += " (%)"
    return text


def render_table(df: pd.DataFrame, name: str, title: str, lang: str,
                 labels: dict[str, tuple[str, str]]) -> str:
    """One released table as HTML: labelled, numbers for reading, withheld cells shown as ✱
    with the reason in plain words in the last column."""
    if df.empty:
        return f"<p class='empty'><b>{html.escape(title)}</b>: {_t('empty', lang)}</p>"
    df = df.copy()
    if {"label_en", "label_nl"} <= set(df.columns):  # model terms carry their own labels
        df.insert(0, "term_label", df["label_en" if lang == "en" else "label_nl"])
        df = df.drop(columns=[c for c in ("term", "label_en", "label_nl") if c in df.columns])
    empty_text = [c for c in ("note",) if c in df.columns and
                  df[c].isna().all() | (df[c].astype(str).str.strip().isin(["", "nan", "None"])).all()]
    df = df.drop(columns=empty_text)
    kinds = _kinds(df)
    shown = df.copy().astype(object)
    yearish = (df["variable"].isin(_YEAR_VARIABLES) if "variable" in df.columns
               else pd.Series(False, index=df.index))
    for col in df.columns:
        kind = kinds.get(col, "text")
        if kind == "text":
            if col == "note":
                shown[col] = [plain_reason(v, lang) if isinstance(v, str) and v.strip() else v
                              for v in df[col]]
            elif col != SUPPRESSED:
                shown[col] = [_code_label(v, labels, lang) for v in df[col]]
            continue
        shown[col] = [_show(v, kind, lang, bool(y)) for v, y in zip(df[col], yearish)]
    if SUPPRESSED in df.columns:
        reasons = df[SUPPRESSED].fillna("").astype(str)
        mask = reasons != ""
        if not mask.any():
            shown = shown.drop(columns=[SUPPRESSED])
        else:
            shown[SUPPRESSED] = [plain_reason(r, lang) for r in reasons]
            for col in df.columns:
                if col != SUPPRESSED and kinds.get(col) not in ("text",):
                    shown.loc[mask & df[col].isna(), col] = "✱"
    heads = {c: _column_label(name, c, kinds.get(c, "text"), df, lang, labels)
             for c in shown.columns}
    seen: dict[str, int] = {}
    for c, h in heads.items():  # GT needs distinct labels only for display; keep them readable
        seen[h] = seen.get(h, 0) + 1
    gt = GT(shown, id=f"t_{name}").tab_header(title=title)
    gt = gt.cols_label(**heads).sub_missing(missing_text="–")
    return gt.as_raw_html()


_CODE_IN_TEXT = re.compile(r"\b[a-z]+(?:_[A-Za-z0-9]+)+\b")


def _text(para: str, lang: str, labels: dict[str, tuple[str, str]],
          tables: dict[str, str] | None = None) -> str:
    """Section text with codes (trafficking_sexual, birth_year, table names) in words of the
    language."""
    def word(m: re.Match) -> str:
        key = m.group(0)
        if tables and key in tables:
            return tables[key]
        if key not in labels:
            return key
        w = _lab(labels, key, lang)
        return w[:1].lower() + w[1:] if not w[:2].isupper() else w
    para = _CODE_IN_TEXT.sub(word, para)
    if lang == "nl":
        para = explained(para, lang)
        para = re.sub(r"\bsex\b", "geslacht", para)
        para = _NUMBER_IN_TEXT.sub(_dutch_number, para)
    else:
        para = re.sub(r"(?<![\w.,])\d{5,}(?![\w]|[.,]\d)",
                      lambda m: fmt_number(int(m.group(0)), 0, "en"), para)
    return para


_NUMBER_IN_TEXT = re.compile(r"(?<![\w.,])\d[\d,.]*\d(?![\w]|[.,]\d)")


def _dutch_number(m: re.Match) -> str:
    """An English-formatted number in Dutch prose in Dutch form (0.883 -> 0,883; 14,582 ->
    14.582); ambiguous forms (1.234) are left as they are."""
    tok = m.group(0)
    if tok.isdigit():  # 10000 -> 10.000 (4 digits may be a year: left alone)
        return fmt_number(int(tok), 0, "nl") if len(tok) >= 5 else tok
    if tok.count(".") > 1 and "," not in tok:
        return tok  # a version or Dutch thousands (1.234.567)
    if "," in tok and "." in tok:
        return tok.translate(str.maketrans({",": ".", ".": ","}))
    if "." in tok:
        whole, dec = tok.split(".")
        return tok if (len(dec) == 3 and whole != "0") else f"{whole},{dec}"
    if "," in tok:
        groups = tok.split(",")
        return ".".join(groups) if all(len(g) == 3 for g in groups[1:]) else tok
    return tok


def write_report(sections: list[Section], gate: Gate, out_dir: str | Path, lang: str = "en",
                 meta: dict | None = None) -> Path:
    """Write OUT/report.html from the sections; every table comes from the gate's releases."""
    out_dir = Path(out_dir)
    meta = meta or {}
    labels = {**all_labels(), **meta.get("labels", {})}  # the study's own words win
    title = meta.get("title_en" if lang == "en" else "title_nl") or _t("title", lang)
    toc, body = [], []
    for i, sec in enumerate(sections, 1):
        anchor = f"s{i}"
        stitle = sec.title.get(lang, sec.title.get("en", sec.key))
        toc.append(f"<li><a href='#{anchor}'>{html.escape(stitle)}</a></li>")
        parts = [f"<section id='{anchor}'><h2>{i}. {html.escape(stitle)}</h2>"]
        text = sec.text.get(lang) or sec.text.get("en", "")
        names = {t: f"'{sec.table_titles[t][lang]}'" for t in sec.tables
                 if sec.table_titles.get(t, {}).get(lang)}
        for para in [p for p in text.split("\n\n") if p.strip()]:
            parts.append(f"<p>{html.escape(_text(para.strip(), lang, labels, names))}</p>")
        for name in sec.tables:
            if name not in gate.tables:
                raise ValueError(f"section {sec.key} shows table {name!r} the gate never released")
            ttitle = sec.table_titles.get(name, {}).get(lang) or _lab(labels, name, lang)
            parts.append(render_table(gate.tables[name], name, ttitle, lang, labels))
            parts.append(f"<p class='src'>tables/{html.escape(name)}.csv</p>")
        for fig in sec.figures:
            svg_path = out_dir / fig.file
            localised = svg_path.with_name(f"{svg_path.stem}_{lang}{svg_path.suffix}")
            if lang != "en" and localised.exists():
                svg_path = localised
            svg = svg_path.read_text(encoding="utf-8") if svg_path.exists() else ""
            ftitle = fig.title.get(lang, fig.title.get("en", fig.name))
            withheld = any(_has_withheld(gate.tables.get(t)) for t in fig.source_tables)
            note = f"<br>{html.escape(_t('figure_withheld', lang))}" if withheld else ""
            parts.append(f"<figure>{_strip_xml_header(svg)}<figcaption>{html.escape(ftitle)} "
                         f"({html.escape(svg_path.relative_to(out_dir).as_posix())}){note}"
                         "</figcaption></figure>")
        parts.append("</section>")
        body.append("\n".join(parts))
    doc = f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: -apple-system, 'Segoe UI', Roboto, Arial, sans-serif; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }}
h1 {{ border-bottom: 3px solid #154273; }} h2 {{ color: #154273; margin-top: 2em; }}
figure {{ margin: 1.5em 0; }} figcaption {{ font-size: 90%; color: #555; }}
.src {{ font-size: 80%; color: #777; margin-top: -0.5em; }}
.note {{ background: #f3f6fa; border-left: 4px solid #154273; padding: .6em 1em; }}
svg {{ max-width: 100%; height: auto; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="note">{_t('suppressed_note', lang)}</p>
<p>{html.escape(_subtitle(meta.get('subtitle', ''), lang))}</p>
<p>{html.escape(meta.get('design', {}).get(lang, ''))}</p>
<nav><h3>{_t('contents', lang)}</h3><ol>{''.join(toc)}</ol></nav>
{''.join(body)}
<footer><p class="src">{_t('generated', lang)} {html.escape(_version(meta))}</p></footer>
</body></html>
"""
    path = out_dir / "report.html"
    path.write_text(doc, encoding="utf-8")
    return path


def _has_withheld(df: pd.DataFrame | None) -> bool:
    return df is not None and SUPPRESSED in df.columns and (df[SUPPRESSED].fillna("") != "").any()


def _subtitle(text: str, lang: str) -> str:
    return text.replace("cut-off", _t("cutoff", lang))


def _version(meta: dict) -> str:
    """'crimcareer 0.1.0' (whether or not the caller already named the tool)."""
    from crimcareer import __version__

    v = str(meta.get("version") or __version__).strip()
    return v if v.startswith("crimcareer") else f"crimcareer {v}"


def _strip_xml_header(svg: str) -> str:
    if svg.startswith("<?xml"):
        svg = svg.split("?>", 1)[1]
    return svg


def headline_results(sections: list[Section], groups: dict[str, dict]) -> dict:
    """results.json content: group sizes and every section's headline figures (fractions)."""
    figures: dict[str, dict] = {}
    extra: dict = {}
    for sec in sections:
        for key, val in sec.headline.items():
            figures.setdefault(key, {}).update({k: _clean(v) for k, v in val.items()})
        extra.update(sec.extra)
    return {"groups": groups, "figures": figures, **_clean(extra)}


def _clean(v):
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if np.isnan(v) else float(v)
    return v
