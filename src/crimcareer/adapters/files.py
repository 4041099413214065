"""Read a folder of contract tables (parquet, csv or SPSS .sav) into an engine.

CSV and .sav files are converted to parquet once (in the engine's temporary folder) so every
engine reads the same typed columns; parquet files are read where they are. The folder is
validated first (crimcareer.validation); the file-level helpers both use live in
crimcareer.tablefiles (``table_files`` and ``read_cutoff`` are also importable from here).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import ibis.expr.types as ir

from crimcareer import contract
from crimcareer.certificate import trusted_certificate
from crimcareer.engine import Engine
from crimcareer.tablefiles import csv_as_text, diagnose_csv, read_cutoff, table_files
from crimcareer.validation import ContractReadError, prepare_folder

__all__ = ["Registers", "describe_folder", "inspect_folder", "load_registers", "read_cutoff",
           "table_files"]


@dataclass
class Registers:
    """The contract tables of one folder, as engine tables, with the data cut-off."""

    tables: dict[str, ir.Table]
    cutoff: dt.date
    folder: Path | None = None
    repair_log: list = field(default_factory=list)
    validation: str = "full"  # or "certificate": `crimcareer validate` vouched for the files

    def has(self, name: str) -> bool:
        return name in self.tables

    def layers(self) -> frozenset[str]:
        """The network layers that occur in the relations table (empty without one): one
        distinct query per folder, shared by every step that asks (a scan of a billion rows
        nationally)."""
        if "_layers" not in self.__dict__:
            found: frozenset[str] = frozenset()
            if self.has("relations"):
                col = self.tables["relations"].select("layer").distinct().to_pyarrow()
                found = frozenset(v for v in col.column("layer").to_pylist() if v is not None)
            self.__dict__["_layers"] = found
        return self.__dict__["_layers"]

    def __getattr__(self, name: str) -> ir.Table:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        if name in contract.TABLES:
            raise AttributeError(f"optional table {name!r} is not in this register folder")
        raise AttributeError(name)


def load_registers(folder: str | Path, engine: Engine, mode: str = "strict",
                   trust_certificate: bool = True) -> Registers:
    """Open every contract table of a folder in the engine (validated first).

    mode="strict" refuses a folder that breaks the contract (ContractError naming table, column,
    rule and count); mode="repair" drops offending rows and keeps the repair log. In strict
    mode a matching certificate of `crimcareer validate` replaces the validation
    (``trust_certificate=False`` validates anyway).
    """
    folder = Path(folder)
    certified = (mode == "strict" and trust_certificate
                 and trusted_certificate(folder) is not None)
    parquet_folder, repair_log = (folder, []) if certified else prepare_folder(
        folder, mode=mode, work_dir=Path(engine._tmp.name), engine=engine)
    tables = {
        name: engine.read_parquet(path, name=name)
        for name, path in table_files(parquet_folder).items()
    }
    cutoff = read_cutoff(folder) or read_cutoff(parquet_folder) or dt.date.today()
    return Registers(tables=tables, cutoff=cutoff, folder=folder, repair_log=repair_log,
                     validation="certificate" if certified else "full")


def describe_folder(folder: str | Path) -> str:
    """A short text: each contract table present, its file and row count, and the cut-off."""
    return inspect_folder(folder)[0]


def inspect_folder(folder: str | Path) -> tuple[str, list[str], list[str]]:
    """(the text of :func:`describe_folder`, required tables absent, files that cannot be read
    with the reason and what to do)."""
    folder = Path(folder)
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a folder"
        raise ContractReadError(f"folder {folder} {what}")
    lines = [f"register folder {folder}"]
    files = table_files(folder)
    absent: list[str] = []
    unreadable: list[str] = []
    for name, t in contract.TABLES.items():
        if name in files:
            p = files[name]
            try:
                if p.suffix == ".csv" and diagnose_csv(p):
                    raise ValueError("not the contract's CSV")
                rows = f"{_row_count(p):,} rows"
            except Exception as e:  # noqa: BLE001 - say why in plain words
                rows = "unreadable"
                reason = diagnose_csv(p) if p.suffix == ".csv" else None
                unreadable.append(reason or f"{p.name} cannot be read ({type(e).__name__})")
            lines.append(f"  {name:<17} {p.name:<26} {rows}")
        else:
            if t.required:
                absent.append(name)
            lines.append(f"  {name:<17} {'absent' + (' (REQUIRED)' if t.required else ''):<26}")
    try:
        cutoff = read_cutoff(folder)
    except (ValueError, OSError):
        cutoff = None
        unreadable.append("meta.json cannot be read: it must be JSON with \"cutoff\": \"YYYY-MM-DD\"")
    lines.append(f"  cut-off: {cutoff or 'unknown (no meta.json)'}")
    return "\n".join(lines), absent, unreadable


def _row_count(path: Path) -> int:
    """Data rows of a table file (parquet and .sav from metadata; CSV counted by DuckDB)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    if path.suffix == ".sav":
        import pyreadstat

        return int(pyreadstat.read_sav(str(path), metadataonly=True)[1].number_rows or 0)
    import duckdb

    con = duckdb.connect()
    try:
        return con.execute(f"SELECT count(*) FROM {csv_as_text(path)}").fetchone()[0]
    finally:
        con.close()


