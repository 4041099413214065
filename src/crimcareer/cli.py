"""The `crimcareer` command: demo | synth | validate | inspect | run | check | network | export | cbs.

Each command is a thin layer over a library function, so everything it does can also be called
from Python. Heavy imports happen inside the commands to keep `--help` fast.

Every expected failure becomes one or two lines (what is wrong, where, what to do; never row
contents) and an exit status: 0 done, 1 the data or spec is refused, 2 usage or environment
(bad option, missing or unreadable folder or file, output folder in use), 3 internal error.
`--debug` shows the Python traceback instead.
"""

from __future__ import annotations

import os
import re
import sys
import traceback
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Iterator, Optional

import typer
from rich.console import Console

from crimcareer import __version__
from crimcareer.errors import EXIT_INTERNAL, EXIT_REFUSED, EXIT_USAGE

EXIT_CODES_HELP = (
    "Exit status: 0 done; 1 the data or study spec is refused; 2 usage or environment (bad "
    "option, missing or unreadable folder or file, output folder in use); 3 internal error. "
    "Add --debug to see the Python traceback of a failure."
)

app = typer.Typer(
    help=(
        "crimcareer: disclosure-safe criminal-career studies on population registers.\n\n"
        "Typical use: `crimcareer validate DATA` to check a register folder against the data "
        "contract, then `crimcareer run studies/brede-blik.toml --data DATA --out OUT` to run a "
        "study, then `crimcareer check OUT` and `crimcareer export OUT BUNDLE` for the output "
        "checker. `crimcareer demo` does it all on a synthetic population.\n\n"
        + EXIT_CODES_HELP
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True, highlight=False)
_state = {"debug": bool(os.environ.get("CRIMCAREER_DEBUG"))}


class EngineName(str, Enum):
    duckdb = "duckdb"
    spark = "spark"


class Lang(str, Enum):
    en = "en"
    nl = "nl"


class Mode(str, Enum):
    strict = "strict"
    repair = "repair"


_MEMORY = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB|K|M|G|T)\s*$", re.I)


def _memory_limit(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    if not _MEMORY.match(value) or float(re.match(r"\s*([\d.]+)", value).group(1)) <= 0:
        raise typer.BadParameter(
            f"{value!r} is not an amount of memory; write a number and a unit, e.g. 4GB or 500MB")
    return value.replace(" ", "")


def _debug_option() -> bool:
    return typer.Option(False, "--debug", help="Show the Python traceback of a failure.")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"crimcareer {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show the Python traceback of a failure."),
) -> None:
    """crimcareer: disclosure-safe criminal-career studies on population registers."""
    _state["debug"] = debug or bool(os.environ.get("CRIMCAREER_DEBUG"))


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def _guard(debug: bool = False) -> Iterator[None]:
    """Turn every expected failure into one or two lines and an exit status (see module doc)."""
    from crimcareer.errors import OutputFolderError, StudyError

    debug = debug or _state["debug"]
    try:
        yield
    except (typer.Exit, typer.Abort, SystemExit):
        raise
    except Exception as e:  # noqa: BLE001 - mapped below; --debug re-raises
        if debug:
            traceback.print_exc()
            raise typer.Exit(_exit_code(e)) from None
        code, message = _describe(e)
        typer.echo(f"error: {message}", err=True)
        if code == EXIT_INTERNAL:
            typer.echo("this is a bug in crimcareer: rerun with --debug and report the traceback",
                       err=True)
        raise typer.Exit(code) from None
    except KeyboardInterrupt:
        typer.echo("interrupted: nothing was written to the output folder", err=True)
        raise typer.Exit(130) from None


def _exit_code(e: BaseException) -> int:
    return _describe(e)[0]


def _describe(e: BaseException) -> tuple[int, str]:
    """(exit status, one or two lines) for an exception."""
    from crimcareer.errors import OutputFolderError, StudyError
    from crimcareer.study.spec import SpecError
    from crimcareer.validation import ContractError, ContractReadError

    if isinstance(e, ContractError):
        return EXIT_REFUSED, f"{e}\nrun `crimcareer validate DATA` for every broken rule, or " \
                             "`--mode repair` to drop the offending rows"
    from crimcareer.export import ExportRefused

    if isinstance(e, (SpecError, StudyError, ExportRefused)):
        return EXIT_REFUSED, str(e)
    if isinstance(e, (ContractReadError, OutputFolderError)):
        return EXIT_USAGE, str(e)
    if (isinstance(e, ImportError) and "pyspark" in str(e)) or "JAVA_GATEWAY" in str(e) \
            or "Java gateway" in str(e):
        return EXIT_USAGE, ("the Spark engine could not start: it needs pyspark (pip install "
                            "'crimcareer[spark]') and Java 17; or run with --engine duckdb")
    if isinstance(e, MemoryError) or "out of memory" in str(e).lower() \
            or type(e).__name__ == "OutOfMemoryException":
        return EXIT_USAGE, ("out of memory: give the engine more with --memory-limit (e.g. 16GB) "
                            "and a spill folder on a large disk with --temp-dir")
    if isinstance(e, PermissionError):
        return EXIT_USAGE, f"no permission to use {e.filename or 'a file'}: check the folder's rights"
    if isinstance(e, OSError) and e.errno == 28:
        return EXIT_USAGE, "the disk is full: free space or point --temp-dir to a larger disk"
    if isinstance(e, OSError):
        return EXIT_USAGE, f"{e.strerror or type(e).__name__}: {e.filename or ''}".rstrip(": ")
    return EXIT_INTERNAL, f"internal error ({type(e).__name__})"


def _need_tables(data: Path) -> None:
    """A register folder without any contract table is almost always the wrong folder."""
    from crimcareer.adapters.files import table_files

    if table_files(data):
        return
    hint = next((f"; did you mean {data / sub}?" for sub in ("registers", "contract")
                 if (data / sub).is_dir() and table_files(data / sub)), "")
    _fail(f"{data} holds no contract tables (persons, relations, cases ... as .parquet, .csv or "
          f".sav){hint}", EXIT_REFUSED)


def _need_folder(path: Path, what: str) -> None:
    if not path.exists():
        _fail(f"{what} {path} does not exist: check the path", EXIT_USAGE)
    if not path.is_dir():
        _fail(f"{what} {path} is not a folder", EXIT_USAGE)


@app.command()
def synth(
    out: Path = typer.Option(..., "--out", help="Folder to write; gets registers/ and truth/."),
    persons: int = typer.Option(1_000_000, "--persons", "-n", min=100, help="Number of persons."),
    seed: int = typer.Option(1, "--seed", help="Random seed: same N and seed, same bytes."),
    offenders: int = typer.Option(
        630, "--offenders", min=0,
        help="Expected number of domestic sexual exploitation offenders. Their profile is the "
             "same at any population size up to 1 offender per 250 persons; beyond that it "
             "saturates (docs/synthetic.md)."
    ),
    network_density: float = typer.Option(
        1.0, "--network-density", min=0.0, help="Scale of the non-family network layers (0: none)."
    ),
    cbs: bool = typer.Option(
        False, "--cbs", help="Also write OUT/cbs: the same population as a CBS RA project tree."
    ),
    cbs_popnet_from: Optional[int] = typer.Option(
        None, "--cbs-popnet-from",
        help="First POPNET snapshot year of the CBS twin (default: the first tie; real: 2009)."),
    debug: bool = _debug_option(),
) -> None:
    """Generate a calibrated synthetic population (registers/ for studies, truth/ for tests)."""
    from crimcareer.synth import generate

    with _guard(debug):
        generate(out, persons=persons, seed=seed, offenders=offenders,
                 network_density=network_density, progress=True)
        console.print(f"[green]wrote[/green] {out}/registers and {out}/truth")
        if cbs:
            from crimcareer.synth.cbs_twin import write_cbs_twin

            write_cbs_twin(out / "registers", out / "cbs", popnet_first_year=cbs_popnet_from,
                           progress=True)
            console.print(f"[green]wrote[/green] {out}/cbs (CBS Remote Access forms)")


@app.command()
def validate(
    data: Path = typer.Argument(..., help="A folder of contract tables (parquet, csv or sav)."),
    repair: bool = typer.Option(
        False, "--repair", help="Write a repaired copy instead of only reporting (needs --out)."
    ),
    out: Optional[Path] = typer.Option(None, "--out", help="Where --repair writes the copy."),
    debug: bool = _debug_option(),
) -> None:
    """Check a register folder against the data contract.

    Prints one line per broken rule (table, column, rule, count, example row numbers; never
    whole rows) and what to do where it can tell. Exit status: 0 valid, 1 rules broken,
    2 folder or file cannot be read.
    """
    from crimcareer.validation import check_folder, repair_folder

    _need_folder(data, "register folder")
    _need_tables(data)
    with _guard(debug):
        if repair:
            if out is None:
                _fail("--repair needs --out FOLDER for the repaired copy", EXIT_USAGE)
            if out.resolve() == data.resolve():
                _fail("--out must be another folder than DATA (the input is never changed)",
                      EXIT_USAGE)
            log = repair_folder(data, out)
            for entry in log:
                typer.echo(str(entry))
            typer.echo(f"repaired copy written to {out}")
            raise typer.Exit(0)
        checked = check_folder(data, certify=True)
    report = checked.violations
    for v in report:
        typer.echo(str(v))
    for note in checked.notes:
        typer.echo(f"note: {note}")
    if report:
        console.print(f"[red]{len(report)} rule(s) broken[/red]")
        raise typer.Exit(EXIT_REFUSED)
    console.print("[green]valid[/green]: every contract rule holds")
    if checked.certificate is not None:
        console.print(f"certificate: {checked.certificate} (`crimcareer run` on these files "
                      "skips validation; rewriting a file voids it)")


@app.command()
def inspect(
    data: Path = typer.Argument(..., help="A folder of contract tables."),
    debug: bool = _debug_option(),
) -> None:
    """Show which contract tables a folder holds, their row counts and the data cut-off.

    Exit status: 0 every required table present and readable, 1 a required table is absent,
    2 the folder or a file cannot be read.
    """
    from crimcareer.adapters.files import inspect_folder

    _need_folder(data, "register folder")
    with _guard(debug):
        text, absent, unreadable = inspect_folder(data)
    typer.echo(text)
    for problem in unreadable:
        typer.echo(f"error: {problem}", err=True)
    if absent:
        typer.echo(f"error: required table(s) absent: {', '.join(absent)}", err=True)
    if unreadable:
        raise typer.Exit(EXIT_USAGE)
    if absent:
        raise typer.Exit(EXIT_REFUSED)


@app.command()
def run(
    spec: Path = typer.Argument(..., help="Study spec TOML, e.g. studies/brede-blik.toml."),
    data: Path = typer.Option(..., "--data", help="Folder of contract tables."),
    out: Path = typer.Option(..., "--out", help="Output folder (report.html, tables/, ...)."),
    engine: EngineName = typer.Option(EngineName.duckdb, "--engine", case_sensitive=False,
                                      help="Engine to run on."),
    lang: Lang = typer.Option(Lang.en, "--lang", case_sensitive=False, help="Report language."),
    mode: Mode = typer.Option(
        Mode.strict, "--mode", case_sensitive=False,
        help="strict: refuse bad input; repair: drop and log bad rows."
    ),
    memory_limit: Optional[str] = typer.Option(
        None, "--memory-limit", callback=_memory_limit,
        help="Memory the engine may use, a number and a unit: e.g. 4GB, 500MB. Beyond it "
             "DuckDB spills to --temp-dir (about 15% slower at 2GB for 18M persons). Without "
             "it DuckDB takes up to 80% of RAM and keeps up to 4GB of freed memory for reuse."),
    temp_dir: Optional[Path] = typer.Option(None, "--temp-dir", help="Spill directory."),
    truth: Optional[Path] = typer.Option(
        None, "--truth", help="Synthetic data only: the truth/ folder, to report recovery."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace OUT even if it holds files other than an earlier run."
    ),
    revalidate: bool = typer.Option(
        False, "--revalidate",
        help="Validate DATA even if `crimcareer validate` left a certificate for its files."),
    debug: bool = _debug_option(),
) -> None:
    """Run a whole study and write its disclosure-checked report and tables.

    OUT gets report.html, tables/*.csv (+ tables.xlsx), figures/*.svg, results.json,
    manifest.json and disclosure.json; person-level working files go to OUT/internal/ only.
    The run is written beside OUT and moved into place only when complete; OUT is locked
    against a second run, and a failed run leaves OUT as it was.
    """
    if not spec.is_file():
        what = "is a folder, not a file" if spec.is_dir() else "does not exist"
        _fail(f"study spec {spec} {what}: check the path (e.g. studies/brede-blik.toml)",
              EXIT_USAGE)
    _need_folder(data, "--data folder")
    _need_tables(data)
    if truth is not None:
        _need_folder(truth, "--truth folder")
    if temp_dir is not None:
        _need_folder(temp_dir, "--temp-dir folder")
    _state["debug"] = _state["debug"] or debug
    with _guard(debug):
        from crimcareer.study.spec import load_spec

        study = load_spec(spec)
        result = _run_whole(study, data, out, engine=engine.value, lang=lang.value,
                            mode=mode.value, memory_limit=memory_limit, temp_dir=temp_dir,
                            truth_dir=truth, overwrite=overwrite, revalidate=revalidate,
                            protect=[data.absolute(), spec.absolute()])
    if mode is Mode.repair:
        _print_repair_summary(result.repair_log)
    for title in result.empty_sections:
        console.print(f"[yellow]note:[/yellow] section '{title}': every number withheld; the "
                          "study has too few persons for it (see [target] in the spec)")
    console.print(f"[green]report:[/green] {out / 'report.html'}")


def _run_whole(study, data: Path, out: Path, *, overwrite: bool, protect: list[Path],
               **kwargs):
    """run_study into a temporary folder beside OUT, moved into place when complete; library
    warnings and solver output go to OUT/internal/messages.log instead of the screen."""
    from crimcareer.outfolder import staged_output
    from crimcareer.study.run import run_study

    with staged_output(out, overwrite=overwrite, protect=protect) as tmp:
        if _state["debug"]:  # --debug: every message stays on the screen
            return run_study(study, data, tmp, progress=True, **kwargs)
        with _quiet(tmp / "internal" / "messages.log"):
            result = run_study(study, data, tmp, progress=True, **kwargs)
    return result


@contextmanager
def _quiet(log: Path) -> Iterator[None]:
    """Send Python warnings and anything written to file descriptor 2 (solver and JVM messages)
    to ``log`` while the study runs."""
    import logging
    import tempfile
    import warnings

    log.parent.mkdir(parents=True, exist_ok=True)
    sink = tempfile.TemporaryFile(mode="w+b")
    saved = None
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
    except (OSError, ValueError):  # no real file descriptor (e.g. under a test runner)
        saved = None
    logging.captureWarnings(False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            yield
        finally:
            if saved is not None:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace")
            sink.close()
            lines = [f"{w.category.__name__}: {w.message}" for w in caught]
            if text.strip() or lines:
                with open(log, "a", encoding="utf-8") as fh:
                    fh.write("\n".join(lines) + ("\n" if lines else "") + text)


def _print_repair_summary(log: list) -> None:
    if not log:
        typer.echo("repair mode: nothing to repair, every contract rule holds")
        return
    rows = sum(e.count for e in log if "filled" not in e.rule)
    typer.echo(f"repair mode: {rows:,} row(s) dropped under {len(log)} rule(s) "
               "(also in the report's data-quality section):")
    for entry in log:
        typer.echo(f"  {entry}")


@app.command()
def check(
    out: Path = typer.Argument(..., help="A finished output folder of `crimcareer run`."),
    debug: bool = _debug_option(),
) -> None:
    """Re-audit a finished output folder for disclosure; exit 1 on any breach, 2 if OUT is not a
    finished run."""
    from crimcareer.disclosure import audit_output

    _need_folder(out, "output folder")
    if not (out / "disclosure.json").is_file():
        _fail(f"{out} holds no disclosure.json: it is not a finished `crimcareer run` output",
              EXIT_USAGE)
    with _guard(debug):
        breaches = audit_output(out)
    for b in breaches:
        typer.echo(str(b))
    if breaches:
        console.print(f"[red]{len(breaches)} disclosure breach(es)[/red]")
        raise typer.Exit(EXIT_REFUSED)
    console.print("[green]passes[/green]: every released number obeys the rules")


@app.command()
def network(
    ties: Path = typer.Argument(..., help="A contract folder (relations; the criminal flag from "
                                          "cases) or one POPNET layer file (.parquet, or "
                                          "';'-separated .csv)."),
    out: Path = typer.Option(..., "--out", help="Result file (.parquet or .csv): one row per ego "
                                                "and layer. Person-level: keep it inside."),
    criminal: Optional[Path] = typer.Option(
        None, "--criminal", help="Who is criminal: the ego key column(s) and 'criminal' or "
                                 "'crim' (0/1) or 'first_offence' (date)."),
    egos: Optional[Path] = typer.Option(None, "--egos", help="Only these egos (key columns)."),
    on: Optional[str] = typer.Option(None, "--on", help="Reference date YYYY-MM-DD: ties holding "
                                                        "on it, alters criminal before it."),
    ever: bool = typer.Option(False, "--ever", help="With --on: ended ties count too."),
    engine: EngineName = typer.Option(EngineName.duckdb, "--engine", case_sensitive=False,
                                      help="Engine to run on."),
    memory_limit: Optional[str] = typer.Option(
        None, "--memory-limit", callback=_memory_limit,
        help="Memory the engine may use, e.g. 8GB."),
    debug: bool = _debug_option(),
) -> None:
    """Criminal alters per network layer for a whole population: per ego and layer the number
    of distinct alters and of distinct criminal alters.

    Keys are person_id/alter_id (contract) or RINPERSOONS+RINPERSOON (POPNET). Example, on
    the peers' benchmark files: `crimcareer network FAMILIENETWERK2020TABV1.parquet --criminal
    persons_crim.parquet --egos sample.parquet --out alters.parquet`. The result is
    person-level: analyse it inside the secure environment; it is not an output to export.
    """
    import datetime as dt
    import time

    from crimcareer.engine import Engine
    from crimcareer.population.network import alters_per_layer, network_inputs

    if out.suffix.lower() not in (".parquet", ".csv"):
        _fail(f"--out {out}: use a .parquet or .csv file name", EXIT_USAGE)
    if not out.parent.is_dir():
        _fail(f"--out {out}: folder {out.parent} does not exist", EXIT_USAGE)
    day = None
    if on is not None:
        try:
            day = dt.date.fromisoformat(on)
        except ValueError:
            _fail(f"--on {on!r}: give a date as YYYY-MM-DD", EXIT_USAGE)
    with _guard(debug):
        t0 = time.perf_counter()
        with Engine(engine.value, memory_limit=memory_limit) as eng:
            args = network_inputs(eng, str(ties), str(criminal) if criminal else None,
                                  str(egos) if egos else None)
            result = alters_per_layer(args["ties"], args["criminal"], args["egos"],
                                      ego=args["ego"], alter=args["alter"], on=day, ever=ever)
            tmp = out.with_name(out.name + ".partial")  # OUT appears only when complete
            try:
                write = eng.con.to_parquet if out.suffix.lower() == ".parquet" else eng.con.to_csv
                write(result, tmp)  # streamed by the engine: the result never enters pandas
                tmp.replace(out)
            finally:
                tmp.unlink(missing_ok=True)
    console.print(f"[green]written:[/green] {out} ({time.perf_counter() - t0:.1f} s); "
                  "person-level: keep it inside the secure environment")


@app.command()
def export(
    out: Path = typer.Argument(..., help="A finished output folder of `crimcareer run`."),
    bundle: Path = typer.Argument(..., help="New folder for what may leave the environment."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing BUNDLE."),
    debug: bool = _debug_option(),
) -> None:
    """Copy only what may leave the secure environment, with a summary for the output checker.

    BUNDLE gets report.html, tables/, tables.xlsx, figures/, results.json, disclosure.json and
    checker-summary.md (every file, what it shows, the rules applied, what was suppressed and
    why), never internal/ or manifest.json. OUT must pass `crimcareer check` first.
    """
    from crimcareer.export import export_bundle

    _need_folder(out, "output folder")
    with _guard(debug):
        files = export_bundle(out, bundle, overwrite=overwrite)
    console.print(f"[green]bundle:[/green] {bundle} ({len(files)} files); hand it to the output "
                  f"checker with {bundle / files[0]}")


@app.command()
def demo(
    out: Path = typer.Option(Path("demo-out"), "--out", help="Folder for population and study."),
    persons: int = typer.Option(1_000_000, "--persons", "-n", min=100, help="Number of persons."),
    seed: int = typer.Option(1, "--seed", help="Random seed."),
    engine: EngineName = typer.Option(EngineName.duckdb, "--engine", case_sensitive=False,
                                      help="Engine to run on."),
    lang: Lang = typer.Option(Lang.en, "--lang", case_sensitive=False, help="Report language."),
    debug: bool = _debug_option(),
) -> None:
    """Generate a synthetic population, validate it, run the flagship study and write the report."""
    from crimcareer.study.spec import default_spec_path, load_spec
    from crimcareer.synth import generate
    from crimcareer.validation import validate_folder

    pop = out / "population"
    with _guard(debug):
        if not (pop / "registers" / "persons.parquet").exists():
            console.rule("1/3 synthetic population")
            generate(pop, persons=persons, seed=seed, progress=True)
        console.rule("2/3 validate")
        problems = validate_folder(pop / "registers")
        for v in problems:
            typer.echo(str(v))
        if problems:
            raise typer.Exit(EXIT_REFUSED)
        console.print("[green]valid[/green]")
        console.rule("3/3 flagship study")
        _run_whole(load_spec(default_spec_path()), pop / "registers", out / "study",
                   engine=engine.value, lang=lang.value, truth_dir=pop / "truth",
                   overwrite=False, protect=[pop])
    console.print(f"[green]report:[/green] {out / 'study' / 'report.html'}")


cbs_app = typer.Typer(
    help="Read a CBS Remote Access project folder: inspect it, print the mapping, convert it.",
    no_args_is_help=True,
)
app.add_typer(cbs_app, name="cbs")


@cbs_app.command("inspect")
def cbs_inspect(
    ra_dir: Path = typer.Argument(..., help="The project folder (theme folders with tables)."),
) -> None:
    """List the tables of a CBS folder, never their rows.

    Per table: years, versions, the file used and why, columns, types, value labels and per
    column the count of each missing code. Exit 0 when every file could be read, 1 when some
    could not, 2 when the folder cannot be read at all."""
    from crimcareer.cbs.inspect import inspect as run_inspect
    from crimcareer.cbs.read import SourceError

    try:
        text, problems = run_inspect(ra_dir)
    except SourceError as e:
        typer.echo(f"cannot inspect: {e}", err=True)
        raise typer.Exit(2) from None
    typer.echo(text)
    if problems:
        typer.echo(f"{len(problems)} file(s) could not be read:", err=True)
        for p in problems:
            typer.echo(f"  {p}", err=True)
        raise typer.Exit(1)


@cbs_app.command("mapping")
def cbs_mapping() -> None:
    """Print the default mapping (TOML) to start an own mapping file from."""
    from crimcareer.cbs.mapping import default_text

    typer.echo(default_text(), nl=False)


@cbs_app.command("convert")
def cbs_convert(
    ra_dir: Path = typer.Argument(..., help="The project folder (theme folders with tables)."),
    out: Path = typer.Option(..., "--out", help="Contract folder to write."),
    mapping: Optional[Path] = typer.Option(
        None, "--mapping",
        help="TOML mapping (see `crimcareer cbs mapping`); default: RA_DIR/"
             "crimcareer-mapping.toml if present, else the shipped default."),
    threads: Optional[int] = typer.Option(None, "--threads", help="DuckDB threads."),
    memory_limit: Optional[str] = typer.Option(
        None, "--memory-limit", help="DuckDB memory limit (default 6GB; it spills beyond)."),
    work_dir: Optional[Path] = typer.Option(
        None, "--work-dir",
        help="Folder for scratch files (parquet copies of .sav files, POPNET's buckets, DuckDB's "
             "spill; removed afterwards). A national conversion needs about 11 GB there. Default: "
             "the system's temporary folder."),
    overwrite: bool = typer.Option(
        False, "--overwrite",
        help="Replace an OUT that holds other files (an earlier conversion is replaced anyway)."),
) -> None:
    """Convert the CBS tables into a contract folder (+ conversion_log.json, meta.json).

    Tables that cannot be mapped are listed and the rest still converts; exit 1 then, so a
    script notices. A conversion that stops (exit 2) leaves no OUT behind: it is written beside
    OUT and moved into place when complete. Check the result with `crimcareer validate OUT`."""
    import duckdb

    from crimcareer.cbs.convert import convert, without_rows
    from crimcareer.cbs.mapping import PROJECT_MAPPING, MappingError
    from crimcareer.cbs.read import SourceError
    from crimcareer.errors import OutputFolderError
    from crimcareer.outfolder import CONTRACT_MARKER, is_contract_folder, staged_output

    if mapping is None and (ra_dir / PROJECT_MAPPING).exists():
        typer.echo(f"using the project's mapping {ra_dir / PROJECT_MAPPING}", err=True)
    try:
        with staged_output(out, overwrite=overwrite, protect=[ra_dir.absolute()],
                           ours=is_contract_folder, marker=CONTRACT_MARKER) as tmp:
            res = convert(ra_dir, tmp, mapping, threads=threads, memory_limit=memory_limit,
                          work_dir=work_dir, progress=True)
    except OutputFolderError as e:
        typer.echo(f"cannot convert: {e}", err=True)
        raise typer.Exit(2) from None
    except (MappingError, SourceError, duckdb.Error, OSError) as e:
        typer.echo(f"cannot convert: {without_rows(str(e))}", err=True)  # no row contents
        raise typer.Exit(2) from None
    typer.echo(f"wrote {', '.join(res.tables) or 'no tables'} to {out} (cut-off {res.cutoff})")
    totals: dict[tuple[str, str, str], list[int]] = {}
    for e in res.log:  # per file in conversion_log.json; summed over files here
        t = totals.setdefault((e.table, e.column, e.reason), [0, 0])
        t[0] += e.count
        t[1] += 1
    for (table, column, reason), (n, files) in totals.items():
        typer.echo(f"  {table}.{column}: {reason}: {n:,}" + (f" ({files} files)" if files > 1
                                                            else ""))
    skipped: dict[str, int] = {}
    for f in res.not_read:  # per file in conversion_log.json; per reason here
        skipped[f["why"]] = skipped.get(f["why"], 0) + 1
    for why, files in skipped.items():
        typer.echo(f"  not read ({files} files): {why}")
    for u in res.unmapped:
        typer.echo(f"not converted: {u['table']} from {u['from']}: {u['why']}")
    if res.unmapped:
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    main()
