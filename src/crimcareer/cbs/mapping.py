"""The TOML mapping from CBS tables to contract tables: the shipped default and a user's edits.

A user's file replaces whole top-level entries of the default (``[[cases]]`` blocks, ``[family]``,
``[popnet]``, ...) and adds to ``[settings]``; what it does not name keeps the default.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from crimcareer import contract

BLOCK_TABLES = ("persons", "cases", "education", "households", "youth_care", "detentions",
                "probation_advice", "deaths", "emigrations")
OTHER_KEYS = ("settings", "origin_reference", "family", "popnet", "csv")
AUX_COLUMNS = {"deaths": {"person_id": "string", "date": "date"},
               "emigrations": {"person_id": "string", "date": "date", "direction": "string"}}
PROJECT_MAPPING = "crimcareer-mapping.toml"


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the entry."""


def default_text() -> str:
    """The shipped default mapping, as TOML text."""
    return resources.files("crimcareer.cbs").joinpath("default_mapping.toml").read_text("utf-8")


def target_columns(table: str) -> dict[str, str]:
    """Contract (or auxiliary) columns of a block table, name -> contract type."""
    if table in AUX_COLUMNS:
        return AUX_COLUMNS[table]
    return {c.name: c.type for c in contract.TABLES[table].columns}


def load(path: str | Path | None = None) -> dict[str, Any]:
    """The default mapping, with `path`'s entries replacing the default ones."""
    mapping = tomllib.loads(default_text())
    if path is None:
        return mapping
    try:
        user = tomllib.loads(Path(path).read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise MappingError(f"{path}: {e}") from None
    for k, v in user.items():
        if k not in BLOCK_TABLES + OTHER_KEYS:
            raise MappingError(f"{path}: unknown entry [{k}]; known: "
                               f"{', '.join(BLOCK_TABLES + OTHER_KEYS)}")
        if k == "settings":
            mapping["settings"] = {**mapping.get("settings", {}), **v}
        else:
            mapping[k] = v
    check(mapping, str(path))
    return mapping


def check(mapping: dict[str, Any], where: str = "mapping") -> None:
    """Refuse blocks without a source and columns that are not in the contract."""
    for table in BLOCK_TABLES:
        blocks = mapping.get(table, [])
        if isinstance(blocks, dict):
            blocks = mapping[table] = [blocks]
        allowed = target_columns(table)
        for i, b in enumerate(blocks):
            if "from" not in b:
                raise MappingError(f"{where}: [[{table}]] block {i + 1} has no `from`")
            extra = set(b.get("columns", {})) - set(allowed)
            if extra:
                raise MappingError(f"{where}: [[{table}]] from {b['from']}: columns "
                                   f"{sorted(extra)} are not contract columns of {table}")
            if b.get("years", "latest") not in ("latest", "all"):
                raise MappingError(f"{where}: [[{table}]] from {b['from']}: years must be "
                                   "\"latest\" or \"all\"")
