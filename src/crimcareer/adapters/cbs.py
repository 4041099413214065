"""CBS Remote Access tables -> contract tables: the adapter lives in :mod:`crimcareer.cbs`.

This module keeps the adapters' entry point: :func:`cbs_to_contract` converts a Remote Access
project folder with the TOML mapping (``crimcareer cbs mapping`` prints the default) and returns
what was written and logged. See docs/cbs.md for the conventions and their sources.
"""

from __future__ import annotations

from crimcareer.cbs.convert import LogEntry, Result, convert

cbs_to_contract = convert

__all__ = ["cbs_to_contract", "convert", "LogEntry", "Result"]
