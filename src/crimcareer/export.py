"""`crimcareer export OUT BUNDLE`: what may leave the secure environment, with the output
checker's summary.

Only outputs the disclosure gate released and recorded in disclosure.json are copied:
report.html, tables/*.csv, tables.xlsx, figures/*.svg, results.json and disclosure.json. Never
internal/ (person-level files) nor manifest.json (paths and file hashes of the secure
environment). OUT must pass the disclosure re-audit (`crimcareer check`) first. The bundle gets
``checker-summary.md`` in the report's language: every file and what it shows, the rules applied,
and every withheld cell counted by reason in plain words.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

from crimcareer.errors import OutputFolderError
from crimcareer.outfolder import is_run_folder

SUMMARY = "checker-summary.md"
TOP_FILES = ("report.html", "tables.xlsx", "results.json", "disclosure.json")


class ExportRefused(Exception):
    """OUT fails the disclosure re-audit: nothing is exported."""


def export_bundle(out: str | os.PathLike, bundle: str | os.PathLike, *,
                  overwrite: bool = False) -> list[str]:
    """Copy the exportable files of a finished run into BUNDLE (a new folder) and write the
    checker's summary; returns the bundle's files (the summary first)."""
    from crimcareer.disclosure import audit_output

    out, bundle = Path(out), Path(bundle)
    if not is_run_folder(out):
        raise OutputFolderError(f"{out} is not a finished `crimcareer run` output folder")
    if bundle.resolve() == out.resolve() or out.resolve() in bundle.resolve().parents:
        raise OutputFolderError("BUNDLE must be outside OUT: choose another folder")
    if bundle.exists() and any(bundle.iterdir()) and not overwrite:
        raise OutputFolderError(f"{bundle} already holds files: choose a new folder or pass "
                                "--overwrite")
    breaches = audit_output(out)
    if breaches:
        from crimcareer.errors import EXIT_REFUSED  # noqa: F401 - documented status

        raise ExportRefused(f"{out} fails the disclosure check ({len(breaches)} breach(es)); "
                            "run `crimcareer check OUT` to see them. Nothing was exported")
    doc = json.loads((out / "disclosure.json").read_text(encoding="utf-8"))
    files = _released_files(out, doc)
    lang = _run_language(out)

    bundle.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{bundle.name}.partial-", dir=bundle.parent))
    try:
        for rel in files:
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(out / rel, tmp / rel)
        (tmp / SUMMARY).write_text(checker_summary(out, doc, files, lang), encoding="utf-8")
        if bundle.exists():
            shutil.rmtree(bundle)
        os.replace(tmp, bundle)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [SUMMARY, *files]


def _released_files(out: Path, doc: dict) -> list[str]:
    """The top-level outputs and every table/figure file disclosure.json lists (that exists)."""
    files = [f for f in TOP_FILES if (out / f).is_file()]
    for res in doc.get("results", {}).values():
        if res.get("status") == "withdrawn":
            continue
        for f in res.get("files", []):
            rel = f["name"] if isinstance(f, dict) else str(f)
            if rel.split("/")[0] in ("tables", "figures") and ".." not in rel \
                    and (out / rel).is_file() and rel not in files:
                files.append(rel)
    return files


def _run_language(out: Path) -> str:
    try:
        run = json.loads((out / "manifest.json").read_text(encoding="utf-8")).get("run", {})
        return "nl" if run.get("lang") == "nl" else "en"
    except (OSError, ValueError):
        return "en"


# -- the summary ------------------------------------------------------------------------------
_T = {
    "title": ("Summary for the output checker", "Toelichting voor de outputcontrole"),
    "intro": (
        "This bundle holds the outputs of one crimcareer study run that may leave the secure "
        "environment. Every number in it passed the disclosure rules below; the run was "
        "re-audited from its files before export (`crimcareer check`: no breaches).",
        "Deze bundel bevat de uitvoer van één crimcareer-onderzoeksrun die de beveiligde "
        "omgeving mag verlaten. Elk getal erin voldoet aan de geheimhoudingsregels hieronder; de "
        "run is voor de export opnieuw vanuit de bestanden gecontroleerd (`crimcareer check`: "
        "geen overtredingen).",
    ),
    "study": ("Study", "Onderzoek"),
    "made": ("Run finished", "Run afgerond"),
    "tool": ("Made with", "Gemaakt met"),
    "rules": ("Rules applied", "Toegepaste regels"),
    "files": ("Files", "Bestanden"),
    "withheld": ("What was withheld and why", "Wat is afgeschermd en waarom"),
    "not_included": ("Not included", "Niet meegeleverd"),
    "file": ("File", "Bestand"),
    "shows": ("What it shows", "Wat het toont"),
    "cells": ("Withheld cells", "Afgeschermde cellen"),
    "nothing_withheld": ("Nothing in this output was withheld.",
                         "In deze uitvoer is niets afgeschermd."),
    "flags": ("Flagged for review (released)", "Gemarkeerd ter beoordeling (vrijgegeven)"),
}

_FILE_WHAT = {
    "report.html": ("The report: text, the released tables and the figures (opens offline).",
                    "Het rapport: tekst, de vrijgegeven tabellen en de figuren (opent offline)."),
    "tables.xlsx": ("Every released table as a worksheet (the same numbers as tables/*.csv).",
                    "Elke vrijgegeven tabel als werkblad (dezelfde getallen als tables/*.csv)."),
    "results.json": ("Headline figures keyed by the ids of the published figures (B1-B16, R1-R9; "
                     "shares as fractions); every number also stands in a released table.",
                     "Kerncijfers met de nummers van de gepubliceerde cijfers (B1-B16, R1-R9; "
                     "aandelen als fracties); elk getal staat ook in een vrijgegeven tabel."),
    "disclosure.json": ("The disclosure record: every output, the rules checked, each withheld "
                        "cell and why (technical notation), and the release ledger without the "
                        "values of withheld cells.",
                        "Het geheimhoudingsverslag: elke uitvoer, de getoetste regels, elke "
                        "afgeschermde cel en waarom (technische notatie), en het vrijgavegrootboek "
                        "zonder de waarden van afgeschermde cellen."),
}


def _rules(profile: dict, lang: str) -> list[str]:
    k = int(profile.get("min_persons", 10))
    p = profile.get("p_percent", 10)
    dn, dk = profile.get("dominance_n", 2), profile.get("dominance_k", 90)
    prot = profile.get("protection", 10)
    zeros = profile.get("zeros", "flag")
    min_df = profile.get("min_df", 10)
    if lang == "nl":
        return [
            f"Elke cel telt ten minste {k} personen: het aantal met het kenmerk, de groep en "
            "het aantal zonder het kenmerk (n, N en N-n) zijn elk 0 of ten minste "
            f"{k}.",
            f"Lege cellen en rijen waarin iedereen het kenmerk heeft: "
            + ("gemarkeerd ter beoordeling en vrijgegeven." if zeros == "flag" else "afgeschermd."),
            f"Gemiddelden en spreidingen: ten minste {k} personen, de p%-regel (p = {p:g}) en "
            f"de ({dn}, {dk:g}%)-dominantieregel; minima en maxima worden niet vrijgegeven.",
            f"Secundaire geheimhouding: extra cellen zijn afgeschermd zodat geen afgeschermd getal "
            f"door optellen of aftrekken (ook over tabellen heen) tot op minder dan {prot:g} "
            "personen terug te rekenen is (gecontroleerd met lineaire programmering).",
            f"Modellen: ten minste {min_df} resterende vrijheidsgraden en elke categorie van elke "
            f"voorspeller ten minste {k} personen.",
            f"Curves (Kaplan-Meier, cumulatieve incidentie) stoppen waar minder dan {k} personen "
            f"gevolgd worden en hebben stappen van ten minste {k} personen; figuren zijn alleen "
            "uit vrijgegeven tabellen getekend.",
            "Groepsgrootten gelden als openbaar (ze zijn de noemer van veel tabellen).",
        ]
    return [
        f"Every cell counts at least {k} persons: the number with the characteristic, the group "
        f"and the number without it (n, N and N-n) are each 0 or at least {k}.",
        "Empty cells and rows where everyone has the characteristic: "
        + ("flagged for review and released." if zeros == "flag" else "withheld."),
        f"Means and spreads: at least {k} persons, the p% rule (p = {p:g}) and the "
        f"({dn}, {dk:g}%) dominance rule; minima and maxima are never released.",
        f"Secondary suppression: further cells are withheld so that no withheld number can be "
        f"worked out to within {prot:g} persons by adding or subtracting (also across tables; "
        "checked by linear programming).",
        f"Models: at least {min_df} residual degrees of freedom and every category of every "
        f"predictor at least {k} persons.",
        f"Curves (Kaplan-Meier, cumulative incidence) stop where fewer than {k} persons are "
        f"followed and move in steps of at least {k} persons; figures are drawn only from "
        "released tables.",
        "Group sizes count as public (they are the denominator of many tables).",
    ]


def checker_summary(out: Path, doc: dict, files: list[str], lang: str = "en") -> str:
    """The markdown summary for the output checker (see the module docstring)."""
    from crimcareer.labels import LABELS
    from crimcareer.report.plain import plain_flag, plain_reason

    i = 0 if lang == "en" else 1
    t = {k: v[i] for k, v in _T.items()}
    labels = dict(LABELS)  # a copy: the run's own words are added below
    titles = report_titles(out)
    manifest = {}
    try:
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    labels.update(_study_labels(manifest))
    spec = manifest.get("spec", {}).get("study", {})
    finished = ""
    try:
        finished = json.loads((out / ".crimcareer-run").read_text()).get("finished", "")
    except (OSError, ValueError):
        finished = dt.datetime.fromtimestamp((out / "disclosure.json").stat().st_mtime).isoformat(
            timespec="seconds")
    lines = [f"# {t['title']}", "", t["intro"], ""]
    title = spec.get("title_nl" if lang == "nl" else "title_en") or spec.get("name", "")
    lines += [f"- {t['study']}: {title} ({spec.get('name', '')})",
              f"- {t['made']}: {finished}",
              f"- {t['tool']}: crimcareer {doc.get('tool', {}).get('version', '')}", ""]
    lines += [f"## {t['rules']}", ""] + [f"- {r}" for r in _rules(doc.get("profile", {}), lang)]
    lines += ["", f"## {t['files']}", "", f"| {t['file']} | {t['shows']} | {t['cells']} |",
              "|---|---|---|"]
    results = doc.get("results", {})
    by_file: dict[str, tuple[str, dict]] = {}
    for name, res in results.items():
        for f in res.get("files", []):
            by_file[f["name"] if isinstance(f, dict) else str(f)] = (name, res)
    for rel in files:
        if rel in _FILE_WHAT:
            what, cells = _FILE_WHAT[rel][i], ""
        elif rel in by_file:
            name, res = by_file[rel]
            stem = Path(rel).stem
            stem = stem[:-3] if stem.endswith("_nl") else stem
            what = _what(name, res, labels, lang, {**titles, name: titles.get(name) or
                                                   titles.get(stem, "")})
            cells = str(len(res.get("suppressed", []))) if res.get("suppressed") else "0"
        else:  # pragma: no cover - _released_files only lists recorded files
            what, cells = "", ""
        lines.append(f"| {rel} | {what} | {cells} |")
    lines += ["", f"## {t['withheld']}", ""]
    any_withheld = False
    for name, res in results.items():
        reasons = Counter(plain_reason(s.get("reason", ""), lang) or "?"
                          for s in res.get("suppressed", []))
        flags = res.get("outcome", {}).get("flags", []) if isinstance(res.get("outcome"), dict) else []
        if res.get("status") == "withdrawn":
            reasons[plain_reason("source cells withheld later", lang)] += 1
        if not reasons and not flags:
            continue
        any_withheld = True
        lines.append(f"### {titles.get(name) or _lab(labels, name, lang)} (`{name}`)")
        for reason, n in reasons.most_common():
            cell = ("cell" if n == 1 else "cells") if lang == "en" else ("cel" if n == 1 else "cellen")
            lines.append(f"- {n} {cell}: {reason}")
        for flag, n in Counter(plain_flag(str(f), lang) for f in flags).most_common():
            cell = ("cell" if n == 1 else "cells") if lang == "en" else ("cel" if n == 1 else "cellen")
            lines.append(f"- {n} {cell}: {flag}")
        lines.append("")
    if not any_withheld:
        lines += [t["nothing_withheld"], ""]
    lines += [f"## {t['not_included']}", ""]
    if lang == "nl":
        lines += ["- `internal/`: werkbestanden op persoonsniveau (cohort, kenmerken, scores); "
                  "die blijven in de beveiligde omgeving.",
                  "- `manifest.json`: paden en bestandskenmerken van de beveiligde omgeving.", ""]
    else:
        lines += ["- `internal/`: person-level working files (cohort, features, scores); they stay "
                  "in the secure environment.",
                  "- `manifest.json`: paths and file hashes of the secure environment.", ""]
    return "\n".join(lines)


def _study_labels(manifest: dict) -> dict:
    """The run's own words (its target group's name, ages it set) from the spec in manifest.json;
    none when the manifest holds no valid spec."""
    from crimcareer.study.spec import StudySpec
    from crimcareer.study.wording import study_labels

    try:
        return study_labels(StudySpec.model_validate(manifest.get("spec", {})))
    except ValueError:
        return {}


def _lab(labels: dict, key: str, lang: str) -> str:
    pair = labels.get(key)
    return key.replace("_", " ") if pair is None else pair[0 if lang == "en" else 1]


_TYPE_WORDS = {
    "table": ("table", "tabel"), "figure": ("figure", "figuur"), "model": ("model", "model"),
    "curve": ("curve", "curve"), "histogram": ("histogram", "histogram"),
    "scalar": ("number", "getal"), "magnitudes": ("table of means", "tabel met gemiddelden"),
}


def report_titles(out: Path) -> dict[str, str]:
    """Table and figure titles as the report shows them (output name -> title)."""
    import html as _html
    import re

    try:
        doc = (out / "report.html").read_text(encoding="utf-8")
    except OSError:
        return {}
    titles = {m.group(1): _html.unescape(m.group(2)).strip()
              for m in re.finditer(r'id="t_(\w+)-title">([^<]*)<', doc)}
    for m in re.finditer(r"<figcaption>([^<]*?) \(figures/([\w-]+?)(?:_nl)?\.svg\)", doc):
        titles.setdefault(m.group(2), _html.unescape(m.group(1)).strip())
    return titles


def _what(name: str, res: dict, labels: dict, lang: str, titles: dict[str, str]) -> str:
    """A short description: the output's type and title (as the report shows it)."""
    i = 0 if lang == "en" else 1
    kind = _TYPE_WORDS.get(res.get("type", ""), (res.get("type", ""),) * 2)[i]
    title = titles.get(name) or _lab(labels, name, lang)
    props = res.get("properties", {}) or {}
    src = props.get("source_tables") or props.get("tables")
    extra = ""
    if src and res.get("type") == "figure":
        extra = (" drawn from " if lang == "en" else " getekend uit ") + ", ".join(map(str, src))
    return f"{kind.capitalize()}: {title}{extra}"
