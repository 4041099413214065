"""The `crimcareer` command: demo | synth | run | validate | inspect | check | cbs.

Each command is a thin layer over a library function, so everything it does can also be called
from Python. Heavy imports happen inside the commands to keep `--help` fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

app = typer.Typer(
    help=(
        "crimcareer: disclosure-safe criminal-career studies on population registers.\n\n"
        "Typical use: `crimcareer validate DATA` to check a register folder against the data "
        "contract, then `crimcareer run studies/brede-blik.toml --data DATA --out OUT` to run a "
        "study, then `crimcareer check OUT` before asking for an export. `crimcareer demo` does "
        "it all on a synthetic population."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


@app.command()
def synth(
    out: Path = typer.Option(..., "--out", help="Folder to write; gets registers/ and truth/."),
    persons: int = typer.Option(1_000_000, "--persons", "-n", help="Number of persons."),
    seed: int = typer.Option(1, "--seed", help="Random seed: same N and seed, same bytes."),
    offenders: int = typer.Option(
        630, "--offenders", help="Target number of domestic sexual exploitation offenders."
    ),
    network_density: float = typer.Option(
        1.0, "--network-density", help="Scale of the non-family network layers (0: none)."
    ),
    cbs: bool = typer.Option(
        False, "--cbs", help="Also write OUT/cbs: the same population as a CBS RA project tree."
    ),
    cbs_popnet_from: Optional[int] = typer.Option(
        None, "--cbs-popnet-from",
        help="First POPNET snapshot year of the CBS twin (default: the first tie; real: 2009)."),
) -> None:
    """Generate a calibrated synthetic population (registers/ for studies, truth/ for tests)."""
    from crimcareer.synth import generate

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
) -> None:
    """Check a register folder against the data contract.

    Prints one line per broken rule (table, column, rule, count, example row numbers; never
    whole rows). Exit status: 0 clean, 1 rules broken, 2 folder unreadable.
    """
    from crimcareer.validation import ContractReadError, check_folder, repair_folder

    try:
        if repair:
            if out is None:
                console.print("[red]--repair needs --out[/red]")
                raise typer.Exit(2)
            log = repair_folder(data, out)
            for entry in log:
                typer.echo(str(entry))
            typer.echo(f"repaired copy written to {out}")
            raise typer.Exit(0)
        checked = check_folder(data)
    except ContractReadError as e:
        console.print(f"[red]cannot read {data}:[/red] {e}")
        raise typer.Exit(2) from None
    report = checked.violations
    for v in report:
        typer.echo(str(v))
    for note in checked.notes:
        typer.echo(f"note: {note}")
    if report:
        console.print(f"[red]{len(report)} rule(s) broken[/red]")
        raise typer.Exit(1)
    console.print("[green]valid[/green]: every contract rule holds")


@app.command()
def inspect(
    data: Path = typer.Argument(..., help="A folder of contract tables."),
) -> None:
    """Show which contract tables a folder holds, their row counts and the data cut-off."""
    from crimcareer.adapters.files import describe_folder
    from crimcareer.validation import ContractReadError

    try:
        typer.echo(describe_folder(data))
    except ContractReadError as e:
        console.print(f"[red]cannot read {data}:[/red] {e}")
        raise typer.Exit(2) from None


@app.command()
def run(
    spec: Path = typer.Argument(..., help="Study spec TOML, e.g. studies/brede-blik.toml."),
    data: Path = typer.Option(..., "--data", help="Folder of contract tables."),
    out: Path = typer.Option(..., "--out", help="Output folder (report.html, tables/, ...)."),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb (default) or spark."),
    lang: str = typer.Option("en", "--lang", help="Report language: en or nl."),
    mode: str = typer.Option(
        "strict", "--mode", help="strict: refuse bad input; repair: drop and log bad rows."
    ),
    memory_limit: Optional[str] = typer.Option(None, "--memory-limit", help="e.g. 4GB."),
    temp_dir: Optional[Path] = typer.Option(None, "--temp-dir", help="Spill directory."),
    truth: Optional[Path] = typer.Option(
        None, "--truth", help="Synthetic data only: the truth/ folder, to report recovery."
    ),
) -> None:
    """Run a whole study and write its disclosure-checked report and tables.

    OUT gets report.html, tables/*.csv (+ tables.xlsx), figures/*.svg, results.json,
    manifest.json and disclosure.json; person-level working files go to OUT/internal/ only.
    """
    from crimcareer.study.run import run_study
    from crimcareer.study.spec import SpecError, load_spec
    from crimcareer.validation import ContractError

    try:
        study = load_spec(spec)
        result = run_study(study, data, out, engine=engine, lang=lang, mode=mode,
                           memory_limit=memory_limit, temp_dir=temp_dir, truth_dir=truth,
                           progress=True)
    except (SpecError, ContractError) as e:
        console.print(f"[red]{e}[/red]")
        raise typer.Exit(1) from None
    console.print(f"[green]report:[/green] {result.report_path}")


@app.command()
def check(
    out: Path = typer.Argument(..., help="A finished output folder of `crimcareer run`."),
) -> None:
    """Re-audit a finished output folder for disclosure; exit 1 on any breach."""
    from crimcareer.disclosure import audit_output

    breaches = audit_output(out)
    for b in breaches:
        typer.echo(str(b))
    if breaches:
        console.print(f"[red]{len(breaches)} disclosure breach(es)[/red]")
        raise typer.Exit(1)
    console.print("[green]passes[/green]: every released number obeys the rules")


@app.command()
def demo(
    out: Path = typer.Option(Path("demo-out"), "--out", help="Folder for population and study."),
    persons: int = typer.Option(1_000_000, "--persons", "-n", help="Number of persons."),
    seed: int = typer.Option(1, "--seed", help="Random seed."),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb (default) or spark."),
    lang: str = typer.Option("en", "--lang", help="Report language: en or nl."),
) -> None:
    """Generate a synthetic population, validate it, run the flagship study and write the report."""
    from crimcareer.study.run import run_study
    from crimcareer.study.spec import default_spec_path, load_spec
    from crimcareer.synth import generate
    from crimcareer.validation import validate_folder

    pop = out / "population"
    if not (pop / "registers" / "persons.parquet").exists():
        console.rule("1/3 synthetic population")
        generate(pop, persons=persons, seed=seed, progress=True)
    console.rule("2/3 validate")
    problems = validate_folder(pop / "registers")
    for v in problems:
        typer.echo(str(v))
    if problems:
        raise typer.Exit(1)
    console.print("[green]valid[/green]")
    console.rule("3/3 flagship study")
    result = run_study(load_spec(default_spec_path()), pop / "registers", out / "study",
                       engine=engine, lang=lang, truth_dir=pop / "truth", progress=True)
    console.print(f"[green]report:[/green] {result.report_path}")


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
) -> None:
    """Convert the CBS tables into a contract folder (+ conversion_log.json, meta.json).

    Tables that cannot be mapped are listed and the rest still converts; exit 1 then, so a
    script notices. Check the result with `crimcareer validate OUT`."""
    import duckdb

    from crimcareer.cbs.convert import convert
    from crimcareer.cbs.mapping import PROJECT_MAPPING, MappingError
    from crimcareer.cbs.read import SourceError

    if mapping is None and (ra_dir / PROJECT_MAPPING).exists():
        typer.echo(f"using the project's mapping {ra_dir / PROJECT_MAPPING}", err=True)
    try:
        res = convert(ra_dir, out, mapping, threads=threads, memory_limit=memory_limit)
    except (MappingError, SourceError, duckdb.Error, OSError) as e:
        typer.echo(f"cannot convert: {e}", err=True)
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
    for u in res.unmapped:
        typer.echo(f"not converted: {u['table']} from {u['from']}: {u['why']}")
    if res.unmapped:
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    main()
