"""Read a folder of contract tables (parquet, csv or SPSS .sav) into an engine.

CSV and .sav files are converted to parquet once (in the engine's temporary folder) so every
engine reads the same typed columns; parquet files are read where they are.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import ibis.expr.types as ir

from crimcareer import contract
from crimcareer.engine import Engine

SUFFIXES = (".parquet", ".csv", ".sav")


@dataclass
class Registers:
    """The contract tables of one folder, as engine tables, with the data cut-off."""

    tables: dict[str, ir.Table]
    cutoff: dt.date
    folder: Path | None = None
    repair_log: list = field(default_factory=list)

    def has(self, name: str) -> bool:
        return name in self.tables

    def __getattr__(self, name: str) -> ir.Table:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        if name in contract.TABLES:
            raise AttributeError(f"optional table {name!r} is not in this register folder")
        raise AttributeError(name)


def table_files(folder: str | Path) -> dict[str, Path]:
    """The contract table files present in a folder, by table name (parquet preferred)."""
    folder = Path(folder)
    found: dict[str, Path] = {}
    for name in contract.TABLES:
        for suffix in SUFFIXES:
            p = folder / f"{name}{suffix}"
            if p.exists():
                found[name] = p
                break
    return found


def read_cutoff(folder: str | Path) -> dt.date | None:
    """The cut-off date from the folder's meta.json, if present."""
    meta = Path(folder) / "meta.json"
    if meta.exists():
        value = json.loads(meta.read_text()).get("cutoff")
        if value:
            return dt.date.fromisoformat(value)
    return None


def load_registers(folder: str | Path, engine: Engine, mode: str = "strict") -> Registers:
    """Open every contract table of a folder in the engine (validated first).

    mode="strict" refuses a folder that breaks the contract (ContractError naming table, column,
    rule and count); mode="repair" drops offending rows and keeps the repair log.
    """
    from crimcareer.validation import prepare_folder

    folder = Path(folder)
    parquet_folder, repair_log = prepare_folder(folder, mode=mode, work_dir=Path(engine._tmp.name))
    tables = {
        name: engine.read_parquet(path, name=name)
        for name, path in table_files(parquet_folder).items()
    }
    cutoff = read_cutoff(folder) or read_cutoff(parquet_folder) or dt.date.today()
    return Registers(tables=tables, cutoff=cutoff, folder=folder, repair_log=repair_log)


def describe_folder(folder: str | Path) -> str:
    """A short text: each contract table present, its file and row count, and the cut-off."""
    import pyarrow.parquet as pq

    folder = Path(folder)
    lines = [f"register folder {folder}"]
    files = table_files(folder)
    for name, t in contract.TABLES.items():
        if name in files:
            p = files[name]
            if p.suffix == ".parquet":
                rows = f"{pq.ParquetFile(p).metadata.num_rows:,} rows"
            else:
                rows = "(not parquet: row count after conversion)"
            lines.append(f"  {name:<17} {p.name:<26} {rows}")
        else:
            lines.append(f"  {name:<17} {'absent' + (' (REQUIRED)' if t.required else ''):<26}")
    lines.append(f"  cut-off: {read_cutoff(folder) or 'unknown (no meta.json)'}")
    return "\n".join(lines)
