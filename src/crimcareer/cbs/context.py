"""What the table builders of family.py and popnet.py need from a running conversion.

:class:`crimcareer.cbs.convert.Converter` satisfies this protocol; the builders are typed
against it so that they need not import convert.py, which imports them (no import cycle).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Protocol

import duckdb

from crimcareer.cbs.discover import CbsFile, Choice
from crimcareer.cbs.read import CsvDialect, Source


class Conversion(Protocol):
    """A CBS -> contract conversion in progress (one DuckDB connection and its running log)."""

    con: duckdb.DuckDBPyConnection
    m: dict[str, Any]  # the mapping
    out: Path
    work: Path  # scratch folder of this conversion (removed at its end)
    kinds: tuple[str, ...]  # RINPERSOONS values that are persons
    done: Callable[[str], None]  # reports a finished step (progress on stderr, or nothing)

    def choices(self, block: dict) -> list[Choice]: ...

    def csv_dialect(self, f: CbsFile) -> CsvDialect: ...

    def open(self, chs: list[Choice], wanted: list[str], target: str) -> Source: ...

    def materialize(self, table: str, parts: list[tuple[Source, list[str],
                                                        list[tuple[str, str, str]]]],
                    keep: str | None = None) -> str: ...

    def count(self, table: str, src: Source, checks: list[tuple[str, str, str]]) -> None: ...

    def log(self, table: str, column: str, source: str, reason: str, n: int) -> None: ...

    def unmappable(self, target: str, source: str, why: str) -> None: ...

    def not_read(self, target: str, path: Path, why: str) -> None: ...
