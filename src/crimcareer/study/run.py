"""Run a whole study: registers -> cohort -> careers, factors, trajectories, recidivism, profile,
probation -> disclosure gate -> report, tables, figures, results.json and manifest.json.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from crimcareer import __version__
from crimcareer.adapters.files import Registers, load_registers, table_files
from crimcareer.disclosure import Gate, Rules
from crimcareer.engine import Engine
from crimcareer.report.html import headline_results, write_report
from crimcareer.report.section import Section
from crimcareer.study.spec import StudySpec
from crimcareer.study.wording import design_words, study_labels

INTERNAL_README = (
    "NOT FOR EXPORT / NIET VOOR EXPORT\n\n"
    "This folder holds person-level working files (cohort membership, features, scores).\n"
    "They never enter the report and must not leave the secure environment.\n"
)


@dataclass
class RunResult:
    """What a study run wrote: the output folder, the report and the headline results."""

    out: Path
    report_path: Path
    results: dict
    sections: list[Section]
    repair_log: list = field(default_factory=list)  # repair mode: what was dropped, by rule
    # sections whose every released number is withheld (too few persons for them), by title
    empty_sections: list[str] = field(default_factory=list)


def run_study(
    spec: StudySpec,
    data: str | Path,
    out: str | Path,
    *,
    engine: str = "duckdb",
    lang: str = "en",
    mode: str = "strict",
    memory_limit: str | None = None,
    temp_dir: str | Path | None = None,
    truth_dir: str | Path | None = None,
    progress: bool = False,
    revalidate: bool = False,
) -> RunResult:
    """Run every step of the study on a register folder and write OUT/.

    `truth_dir` (synthetic data only) lets the report show agreement with the planted truth;
    a study never reads it otherwise.
    """
    if lang not in ("en", "nl"):
        raise ValueError(f"--lang must be 'en' or 'nl', not {lang!r}")
    data, out = Path(data), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "internal").mkdir(exist_ok=True)
    (out / "internal" / "README.txt").write_text(INTERNAL_README)
    started = dt.datetime.now(dt.timezone.utc)

    # the inputs' hashes for manifest.json in a thread (hashlib releases the GIL while it
    # hashes): 3.9 GB of parquet at national size is several seconds of one core
    hashes = _in_thread("hashes", input_hashes, data)
    with Engine(engine, memory_limit=memory_limit, temp_dir=temp_dir) as eng, _Steps(progress) as steps:
        reg = steps.do("read and validate registers", lambda: load_registers(
            data, eng, mode=mode, trust_certificate=not revalidate))
        gate = Gate(Rules.from_spec(spec.disclosure))
        sections: list[Section] = []
        ctx = _Context(spec, reg, eng, gate, out, Path(truth_dir) if truth_dir else None)
        written: list[set] = []  # per section: the cells withheld when it was written
        for label, step in STEPS:
            result = steps.do(label, lambda step=step: step(ctx))
            sections.extend(result)
            written += [gate.withheld_cells()] * len(result)
        if reg.repair_log:
            sections.append(_quality_section(reg, gate))
            written.append(gate.withheld_cells())
        _declare_matching(gate, spec, ctx.cohort)
        steps.do("final disclosure audit", gate.finalise)
        _withdraw_stale_prose(sections, gate, written, out)
        steps.do("write outputs", lambda: (gate.write(out), write_workbook(gate, out)))
        _drop_untraceable_numbers(sections, gate)
        empty = _note_empty_sections(sections, gate)

    # group sizes as released (never counted beside the gate)
    released_sizes = gate.tables.get("cohort_groups", pd.DataFrame(columns=["group", "n"]))
    size_of = dict(zip(released_sizes["group"].astype(str), released_sizes["n"]))
    groups = {g: {"n": None if pd.isna(size_of.get(g, np.nan)) else int(size_of[g])}
              for g in [spec.target.label, *spec.controls.groups]}
    results = headline_results(sections, groups)
    (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    write_manifest(out, spec, data, hashes.result(), engine=engine, started=started, lang=lang,
                   mode=mode,
                   validation=reg.validation,
                   disclosure_audit_seconds=round(gate.audit_seconds, 2),
                   step_seconds=steps.seconds)
    title_key = "title_en" if lang == "en" else "title_nl"
    report = write_report(sections, gate, out, lang=lang, meta={
        title_key: getattr(spec.study, title_key) or spec.study.name,
        "subtitle": f"{spec.study.name} · {spec.target.label} · cut-off {reg.cutoff}",
        "version": f"crimcareer {__version__}",
        "labels": study_labels(spec),
        "design": dict(zip(("en", "nl"), design_words(spec))),
    })
    return RunResult(out=out, report_path=report, results=results, sections=sections,
                     repair_log=list(reg.repair_log), empty_sections=empty)


@dataclass
class _Context:
    spec: StudySpec
    reg: Registers
    engine: Engine
    gate: Gate
    out: Path
    truth_dir: Path | None
    cohort: object = None
    features: pd.DataFrame | None = None
    trajectories: object = None
    trajectory_fits: Future | None = None  # the trajectory models, fitted beside later steps
    youth: dict | None = None  # the youth populations and the ties read with the cohort's


def _fit_trajectories_beside(c: _Context) -> None:
    """Count the cohort's yearly cases (engine) and fit the trajectory models in a thread, so
    that the model's worker processes use the core the careers and factors sections leave
    idle (their disclosure audits run on one core; started before the features' engine
    queries, the workers slowed those down at national size). The trajectory step takes the
    fits when it comes; they are the same as fitted there (seeded, no shared state)."""
    from crimcareer.study.trajectories import cohort_count_matrices, fit_groups

    matrices = cohort_count_matrices(c.reg, c.cohort.frame, c.spec, c.engine)
    c.trajectory_fits = _in_thread("trajectories", fit_groups, matrices, c.spec)


def _in_thread(name: str, fn: Callable, *args: object) -> Future:
    """fn(*args) in a thread of its own while the caller goes on (its result: .result())."""
    pool = ThreadPoolExecutor(1, thread_name_prefix=name)
    future = pool.submit(fn, *args)
    pool.shutdown(wait=False)
    return future


def _cohort_step(c: _Context) -> list[Section]:
    from crimcareer.study.controls import cohort_section, require_offenders, study_cohort

    c.cohort = study_cohort(c.reg, c.spec, c.engine)
    require_offenders(c.cohort, c.spec)  # no offenders in the period: a plain StudyError
    c.cohort.frame.to_parquet(c.out / "internal" / "cohort.parquet", index=False)
    sections = [cohort_section(c.cohort, c.gate, c.spec, c.out)]
    _pin_group_sizes(c.gate, c.cohort.frame)
    return sections


def _pin_group_sizes(gate: Gate, cohort: pd.DataFrame) -> None:
    """A group's size is public: it is the N of most tables (as the offenders' count is in every
    table of the matched controls). Pin it in the ledger before later steps release, so that a
    count of "the group minus a few" (e.g. persons followed for recidivism) is caught."""
    if "cohort_groups" not in gate.tables:
        return
    sizes = cohort["group"].value_counts()
    for g in gate.tables["cohort_groups"]["group"].astype(str):
        cell = gate.ledger.cells.get(Gate.ref("cohort_groups", (g,), "n"))
        if g in sizes.index and cell is not None and not cell.suppressed:  # released: public
            gate.pin_public(Gate.ref("cohort_groups", (g,), "n"))
            gate.pin_public(Gate.ref("cohort_groups", (g,), "N"))
            gate.declare({Gate.ref("cohort_groups", (g,), "n"): 1.0}, float(sizes[g]),
                         why=f"{g} group size is public (the N of many tables)")


def _features_step(c: _Context) -> list[Section]:
    from crimcareer.study.careers import careers_section
    from crimcareer.study.factors import factors_section, person_features
    from crimcareer.study.network import present_network_layers
    from crimcareer.study.profile import profile_dates, youth_inputs

    # one pass over the relations for the cohort's criminal ties and the youth profile's
    c.youth = youth_inputs(c.reg, c.spec, c.engine, profile_dates(c.spec),
                           present_network_layers(c.reg, c.spec), cohort=c.cohort.table)
    c.features = person_features(c.reg, c.cohort.table, c.spec, c.engine,
                                 alter_ties=c.youth["ties"])
    _fit_trajectories_beside(c)  # after the engine's heavy work: beside the audits below
    c.features.to_parquet(c.out / "internal" / "features.parquet", index=False)
    frame = c.cohort.frame
    return [careers_section(frame, c.features, c.gate, c.spec, c.out),
            factors_section(frame, c.features, c.gate, c.spec, c.out)]


def _trajectories_step(c: _Context) -> list[Section]:
    from crimcareer.study.trajectories import atypical_section, trajectories_section

    fitted = c.trajectory_fits.result() if c.trajectory_fits is not None else None
    sec = trajectories_section(c.reg, c.cohort.frame, c.features, c.gate, c.spec, c.engine,
                               c.out, truth_dir=c.truth_dir, fitted=fitted)
    c.trajectories = sec.extra.pop("_result", None)
    aty = atypical_section(c.cohort.frame, c.features, c.trajectories, c.gate, c.spec, c.out,
                           truth_dir=c.truth_dir)
    return [sec, aty]


def _recidivism_step(c: _Context) -> list[Section]:
    from crimcareer.study.recidivism import recidivism_section

    return [recidivism_section(c.reg, c.cohort.frame, c.gate, c.spec, c.engine, c.out)]


def _profile_step(c: _Context) -> list[Section]:
    from crimcareer.study.profile import profile_section

    return [profile_section(c.reg, c.gate, c.spec, c.engine, c.out, truth_dir=c.truth_dir,
                            inputs=c.youth)]


def _probation_step(c: _Context) -> list[Section]:
    from crimcareer.study.probation import probation_section

    return [probation_section(c.reg, c.cohort.frame, c.gate, c.spec, c.engine, c.out)]


STEPS: list[tuple[str, Callable[[_Context], list[Section]]]] = [
    ("cohort and matched controls", _cohort_step),
    ("careers and risk factors", _features_step),
    ("offending trajectories", _trajectories_step),
    ("recidivism", _recidivism_step),
    ("high-risk youth profile", _profile_step),
    ("probation advice", _probation_step),
]


def _declare_matching(gate: Gate, spec: StudySpec, cohort: object) -> None:
    """Tell the ledger what links sections: group sizes reused as denominators, and what exact
    k:1 matching implies (a control group's count in a cell of a matching variable, sex, is k
    times the offenders' count), so neither gives the other away."""
    unmatched = getattr(cohort, "unmatched", {}) or {}
    # Steps that report per group use the cohort's group sizes as denominators.
    if "cohort_groups" in gate.tables and "recidivism_followed" in gate.tables:
        for g in gate.tables["recidivism_followed"]["group"].astype(str).unique():
            gate.declare_equal(Gate.ref("recidivism_followed", (g,), "N"),
                               Gate.ref("cohort_groups", (g,), "n"), why=f"{g} group size")
    if spec.controls.method != "exact" or "sex" not in spec.controls.exact:
        return
    target = spec.target.label
    for name, df in gate.tables.items():
        if not {"variable", "group", "n"} <= set(df.columns):
            continue
        rows = df[df["variable"].isin(["male", "female"])]
        for var in rows["variable"].unique():
            have = set(rows.loc[rows["variable"] == var, "group"])
            for g in spec.controls.groups:
                if target in have and g in have and not unmatched.get(g):
                    gate.declare_matched(Gate.ref(name, (var, target), "n"),
                                         Gate.ref(name, (var, g), "n"), spec.controls.ratio,
                                         why=f"{g} matched {spec.controls.ratio}:1 on sex")


STALE_NOTICE = {
    "en": "After this section was written, the final disclosure audit withheld more cells of its "
          "tables ({tables}); its text and the figures drawn from them are withdrawn. The tables "
          "below are as released.",
    "nl": "Nadat deze paragraaf was geschreven, heeft de laatste outputcontrole meer cellen "
          "van de tabellen ({tables}) afgeschermd; de tekst en de figuren die erop berusten zijn "
          "ingetrokken. De tabellen hieronder zijn zoals vrijgegeven.",
}


def _withdraw_stale_prose(sections: list[Section], gate: Gate, written: list[set],
                          out: Path) -> None:
    """Cells withheld after their section was written (by a later section's relations, the
    cross-section declarations or the final audit; ``written[i]``: the cells withheld when
    section i was done) may be quoted in its text or drawn in its figures: replace that text by
    a notice and withdraw those figures (files deleted, listed as withdrawn in
    disclosure.json)."""
    now = gate.withheld_cells()
    for sec, before in zip(sections, written):
        outputs = {ref[0] for ref in now - before}
        hit = sorted(outputs & set(sec.tables))
        if not hit:
            continue
        sec.text = {lang: msg.format(tables=", ".join(hit)) for lang, msg in STALE_NOTICE.items()}
        keep = []
        for fig in sec.figures:
            if not outputs & set(fig.source_tables):
                keep.append(fig)
                continue
            files = [fig.file]
            if fig.name in gate.records:
                files += gate.withdraw_figure(fig.name, f"source cells withheld later: {hit}")
            for f in files:
                (out / f).unlink(missing_ok=True)
        sec.figures = keep


EMPTY_NOTICE = {
    "en": "Every number of this section is withheld: the study has too few persons for it.",
    "nl": "Elk getal van deze sectie is afgeschermd: het onderzoek telt daarvoor te weinig personen.",
}


def _note_empty_sections(sections: list[Section], gate: Gate) -> list[str]:
    """Sections with tables of which not one cell was released (a spec selecting too few
    offenders for them): each says so in its text; their English titles are returned for the
    command line to name. (Only what the withheld markers already show is said.)"""
    empty = []
    for sec in sections:
        tables = [gate.tables[t] for t in sec.tables if t in gate.tables]
        if not tables or any(_any_released(df) for df in tables):
            continue
        for lang, msg in EMPTY_NOTICE.items():
            sec.text[lang] = f"{msg}\n\n{sec.text.get(lang, '')}".strip()
        empty.append(sec.title.get("en", sec.key))
    return empty


def _any_released(df: pd.DataFrame) -> bool:
    """Whether a released table shows at least one number (a row not withheld)."""
    if df.empty:
        return False
    if "suppressed" not in df.columns:
        return True
    return bool((df["suppressed"].fillna("").astype(str) == "").any())


def _drop_untraceable_numbers(sections: list[Section], gate: Gate) -> None:
    """Every number in results.json (headline figures and section extras) must still stand in a
    released table cell or released scalar after the final ledger audit (which may withhold
    more cells); any that does not becomes null."""
    for sec in sections:
        released = [gate.tables[t] for t in sec.tables if t in gate.tables]
        values = pd.concat([df.select_dtypes("number").stack() for df in released]) \
            if released else pd.Series(dtype=float)
        arr = values.to_numpy(dtype=float)
        for fig in sec.headline.values():
            for key, v in fig.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and not _traceable(v, arr):
                    fig[key] = None
        scalars = np.array([v for v in gate.released_scalars.values() if v is not None],
                           dtype=float)
        everything = np.concatenate([arr, scalars]) if len(scalars) else arr
        for key in list(sec.extra):
            if not key.startswith("_"):
                sec.extra[key] = _null_untraceable(sec.extra[key], everything)


def _traceable(v: float, arr: np.ndarray) -> bool:
    """v (a share or a count) appears among released values (shares also as percentages)."""
    return bool(np.isclose(arr, v, rtol=1e-9).any() or np.isclose(arr, 100 * v, rtol=1e-9).any())


def _null_untraceable(x, arr: np.ndarray):
    if isinstance(x, dict):
        return {k: _null_untraceable(v, arr) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_null_untraceable(v, arr) for v in x]
    if isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool):
        return x if np.isnan(x) or _traceable(float(x), arr) else None
    return x


def _quality_section(reg: Registers, gate: Gate) -> Section:
    rows = pd.DataFrame([
        {"table": e.table, "column": getattr(e, "column", ""), "rule": e.rule,
         "n": e.count, "N": e.count}
        for e in reg.repair_log
    ])
    gate.proportions("data_quality_repairs", rows)
    return Section(
        key="quality",
        title={"en": "Data quality: repairs in repair mode",
               "nl": "Datakwaliteit: reparaties in reparatiemodus"},
        text={"en": "The study ran in repair mode: rows that broke the data contract were dropped "
                    "(and a missing optional column was filled with nulls). Each rule and the "
                    "number of rows it touched is listed below.",
              "nl": "Het onderzoek draaide in reparatiemodus: rijen die het datacontract "
                    "schonden zijn verwijderd (en een ontbrekende optionele kolom is met lege "
                    "waarden gevuld). Hieronder per regel het aantal geraakte rijen."},
        tables=["data_quality_repairs"],
    )


def write_workbook(gate: Gate, out: Path) -> Path:
    """OUT/tables.xlsx: every released table as one sheet (the same content as tables/*.csv)."""
    path = out / "tables.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        for i, (name, df) in enumerate(gate.tables.items(), 1):
            df.to_excel(xl, sheet_name=f"{i:02d}_{name}"[:31], index=False)
    return path


def input_hashes(data: Path) -> dict:
    """Per input file of a register folder: its name, SHA-256 and size (for manifest.json)."""
    files = {}
    for name, path in sorted(table_files(data).items()):
        files[name] = {"file": path.name, "sha256": _sha256(path), "bytes": path.stat().st_size}
    meta = data / "meta.json"
    if meta.exists():
        files["meta.json"] = {"file": "meta.json", "sha256": _sha256(meta)}
    return files


def write_manifest(out: Path, spec: StudySpec, data: Path, files: dict | None = None,
                   **run_info: object) -> None:
    """OUT/manifest.json: input file hashes (``files``, else computed now), the spec, package
    versions, seed and run settings."""
    files = input_hashes(data) if files is None else files
    versions = {}
    for pkg in ("crimcareer", "duckdb", "ibis-framework", "pandas", "numpy", "statsmodels",
                "lifelines", "scikit-learn", "scipy", "pyspark", "great_tables", "altair"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    manifest = {
        "crimcareer": __version__,
        "python": platform.python_version(),
        "data_folder": str(data),
        "inputs": files,
        "spec": json.loads(spec.model_dump_json()),
        "seed": spec.study.seed,
        "versions": versions,
        "run": {k: v if isinstance(v, dict) else str(v) for k, v in run_info.items()},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _Steps:
    """Rich progress over the study steps (silent when progress=False)."""

    def __init__(self, show: bool) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), TimeElapsedColumn(),
            disable=not show, transient=False,
        )
        self.task = None
        self.seconds: dict[str, float] = {}  # wall time per step (manifest: step_seconds)

    def __enter__(self) -> "_Steps":
        self.progress.__enter__()
        self.task = self.progress.add_task("study", total=len(STEPS) + 3)
        return self

    def do(self, label: str, fn: Callable):
        self.progress.update(self.task, description=label)
        t0 = time.perf_counter()
        result = fn()
        self.seconds[label] = round(time.perf_counter() - t0, 2)
        self.progress.advance(self.task)
        return result

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)
