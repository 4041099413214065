"""The register data contract (../shared/data-contract.md) in code: tables, columns and codes.

Every adapter produces these tables; every analysis reads only them. Validation and repair
live in :mod:`crimcareer.validation`; this module only describes the contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["string", "date", "bool", "float"]


@dataclass(frozen=True)
class Column:
    """One contract column: name, type, whether it may be null and its allowed codes."""

    name: str
    type: ColumnType
    nullable: bool = True
    codes: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Table:
    """One contract table: its columns, unique key and whether the folder must hold it."""

    name: str
    columns: tuple[Column, ...]
    required: bool = False
    key: tuple[str, ...] = ()
    spells: tuple[tuple[str, str], ...] = field(default=())  # (start, end) pairs: end >= start

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name!r} has no column {name!r}")


SEX = ("M", "F")
MIGRATION_BACKGROUND = ("none", "first_generation", "second_generation")
ORIGIN_GROUP = ("NL", "MA", "TR", "SR", "AN", "other_western", "other_non_western")
FAMILY_RELATIONS = (
    "parent", "child", "sibling", "half_sibling", "partner", "grandparent", "grandchild",
    "other_family",
)
NETWORK_RELATIONS = ("household", "neighbour", "classmate", "colleague")
RELATIONS = FAMILY_RELATIONS + NETWORK_RELATIONS
LAYERS = ("family", "household", "neighbours", "school", "work")
OFFENCE_CATEGORIES = (
    "trafficking_sexual", "trafficking_labour", "sexual", "violence", "property", "drugs",
    "public_order", "traffic", "weapons", "fraud", "other",
)
TRAFFICKING_CATEGORIES = ("trafficking_sexual", "trafficking_labour")
OUTCOMES = ("conviction", "dismissal_policy", "dismissal_technical", "acquittal", "pending")
NOT_COUNTED_OUTCOMES = ("acquittal", "dismissal_technical")
EDUCATION_LEVELS = (
    "primary", "vmbo", "mbo1", "mbo2", "mbo3", "mbo4", "havo", "vwo", "hbo", "wo",
)
STARTKWALIFICATIE_LEVELS = ("havo", "vwo", "mbo2", "mbo3", "mbo4", "hbo", "wo")
HOUSEHOLD_TYPES = (
    "single", "couple", "couple_with_children", "single_parent", "institution", "other",
)
HOUSEHOLD_ROLES = ("child", "parent", "partner", "single", "other")
YOUTH_CARE_MEASURES = (
    "supervision_order", "guardianship", "residential_care", "youth_probation", "other",
)

S, D, B, F = "string", "date", "bool", "float"

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "persons",
            (
                Column("person_id", S, nullable=False),
                Column("birth_date", D, nullable=False),
                Column("sex", S, codes=SEX),
                Column("migration_background", S, codes=MIGRATION_BACKGROUND),
                Column("origin_group", S, codes=ORIGIN_GROUP),
                Column("death_date", D),
                Column("emigration_date", D),
            ),
            required=True,
            key=("person_id",),
        ),
        Table(
            "relations",
            (
                Column("person_id", S, nullable=False),
                Column("alter_id", S, nullable=False),
                Column("relation", S, nullable=False, codes=RELATIONS),
                Column("layer", S, nullable=False, codes=LAYERS),
                Column("start_date", D),
                Column("end_date", D),
            ),
            required=True,
            spells=(("start_date", "end_date"),),
        ),
        Table(
            "cases",
            (
                Column("case_id", S, nullable=False),
                Column("person_id", S, nullable=False),
                Column("offence_date", D, nullable=False),
                Column("registration_date", D),
                Column("disposal_date", D),
                Column("article", S),
                Column("offence_category", S, nullable=False, codes=OFFENCE_CATEGORIES),
                Column("domestic", B),
                Column("outcome", S, nullable=False, codes=OUTCOMES),
                Column("severity_max_years", F),
            ),
            required=True,
            key=("case_id",),
            spells=(("offence_date", "registration_date"), ("offence_date", "disposal_date")),
        ),
        Table(
            "education",
            (
                Column("person_id", S, nullable=False),
                Column("diploma_date", D, nullable=False),
                Column("level", S, nullable=False, codes=EDUCATION_LEVELS),
            ),
        ),
        Table(
            "households",
            (
                Column("person_id", S, nullable=False),
                Column("household_id", S, nullable=False),
                Column("start_date", D, nullable=False),
                Column("end_date", D),
                Column("household_type", S, nullable=False, codes=HOUSEHOLD_TYPES),
                Column("role", S, nullable=False, codes=HOUSEHOLD_ROLES),
            ),
            spells=(("start_date", "end_date"),),
        ),
        Table(
            "youth_care",
            (
                Column("person_id", S, nullable=False),
                Column("start_date", D, nullable=False),
                Column("end_date", D),
                Column("measure", S, nullable=False, codes=YOUTH_CARE_MEASURES),
            ),
            spells=(("start_date", "end_date"),),
        ),
        Table(
            "detentions",
            (
                Column("person_id", S, nullable=False),
                Column("start_date", D, nullable=False),
                Column("end_date", D),
            ),
            spells=(("start_date", "end_date"),),
        ),
        Table(
            "probation_advice",
            (
                Column("case_id", S, nullable=False),
                Column("person_id", S, nullable=False),
                Column("requested_date", D),
                Column("delivered_date", D),
                Column("advice", S),
            ),
            spells=(("requested_date", "delivered_date"),),
        ),
    )
}

REQUIRED_TABLES = tuple(name for name, t in TABLES.items() if t.required)
