"""The study spec: a TOML file holding every choice of a study, validated with pydantic.

A wrong key or value is refused with a message naming the section, key and the problem.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from crimcareer import contract


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StudyInfo(_Section):
    name: str
    title_nl: str = ""
    title_en: str = ""
    seed: int = 0


class CasesSpec(_Section):
    not_counted_outcomes: list[str] = list(contract.NOT_COUNTED_OUTCOMES)

    @field_validator("not_counted_outcomes")
    @classmethod
    def _known_outcomes(cls, v: list[str]) -> list[str]:
        return _codes(v, contract.OUTCOMES, "outcome")


class TargetSpec(_Section):
    # the target group's code: its value in the cohort's `group` column, results.json and tables
    label: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,15}$")
    # the group's name in the report; empty: derived from the categories and `domestic`
    name_en: str = ""
    name_nl: str = ""
    offence_categories: list[str] = Field(min_length=1)
    domestic: bool | None = None
    period: tuple[dt.date, dt.date]

    @field_validator("label")
    @classmethod
    def _not_a_control_group(cls, v: str) -> str:
        if v in ("CC", "NC"):
            raise ValueError(f"label {v!r} is the code of a control group; choose another")
        return v

    @field_validator("offence_categories")
    @classmethod
    def _known_categories(cls, v: list[str]) -> list[str]:
        return _codes(v, contract.OFFENCE_CATEGORIES, "offence category")

    @field_validator("period")
    @classmethod
    def _ordered(cls, v: tuple[dt.date, dt.date]) -> tuple[dt.date, dt.date]:
        if v[1] < v[0]:
            raise ValueError(f"period ends ({v[1]}) before it starts ({v[0]})")
        return v


class ControlsSpec(_Section):
    # persons with a case of these categories are never criminal controls; in a study spec left
    # out means the target's own offence categories (StudySpec fills it in)
    exclude_categories: list[str] = []
    groups: list[Literal["CC", "NC"]] = ["CC", "NC"]
    ratio: int = Field(1, ge=1, le=10)
    exact: list[Literal["sex", "birth_year", "migration_background", "origin_group"]] = [
        "sex", "birth_year",
    ]
    method: Literal["exact", "propensity"] = "exact"
    caliper_sd: float = Field(0.2, gt=0)
    propensity_covariates: list[str] = ["birth_year", "sex"]

    @field_validator("exclude_categories")
    @classmethod
    def _known_categories(cls, v: list[str]) -> list[str]:
        return _codes(v, contract.OFFENCE_CATEGORIES, "offence category")


class CareersSpec(_Section):
    # the careers' offence family (first and repeat cases of it); in a study spec left out means
    # the target's own offence categories (StudySpec fills it in)
    trafficking_categories: list[str] = []
    young_first_trafficking_age: int = Field(25, ge=12, le=100)

    @field_validator("trafficking_categories")
    @classmethod
    def _known_categories(cls, v: list[str]) -> list[str]:
        return _codes(v, contract.OFFENCE_CATEGORIES, "offence category")


class FactorsSpec(_Section):
    family_relations: list[str] = ["parent", "sibling", "half_sibling", "partner"]
    network_layers: list[str] = ["household", "neighbours", "school", "work"]
    startkwalificatie_levels: list[str] = list(contract.STARTKWALIFICATIE_LEVELS)
    startkwalificatie_age: int = Field(23, ge=12, le=40)
    childhood_age: int = Field(18, ge=1, le=30)

    @field_validator("family_relations")
    @classmethod
    def _known_relations(cls, v: list[str]) -> list[str]:
        return _codes(v, contract.FAMILY_RELATIONS, "family relation")

    @field_validator("network_layers")
    @classmethod
    def _known_layers(cls, v: list[str]) -> list[str]:
        return _codes(v, contract.LAYERS, "layer")

    @field_validator("startkwalificatie_levels")
    @classmethod
    def _known_levels(cls, v: list[str]) -> list[str]:
        return _codes(v, contract.EDUCATION_LEVELS, "education level")


class RecidivismSpec(_Section):
    windows_years: list[int] = [2, 5, 7]
    specific_categories: list[str] = ["property", "violence", "drugs", "trafficking"]
    specific_window_years: int = 5
    young_age: int = 23
    min_at_risk: int = 10


class TrajectoriesSpec(_Section):
    min_age: int = 12
    groups: int = Field(0, ge=0, le=10)
    max_groups: int = Field(6, ge=1, le=10)
    degree: int = Field(3, ge=0, le=4)
    starts: int = Field(5, ge=1, le=50)
    model: Literal["poisson", "zip", "frailty"] = "poisson"
    # leave each person's index case out of the yearly counts (every cohort member is selected
    # on it, so it adds one case at the index age to every career); off by default: the published
    # study counted every counted case
    exclude_index_case: bool = False


class ProfileSpec(_Section):
    reference_date: dt.date = dt.date(2012, 1, 1)
    validation_date: dt.date = dt.date(2014, 1, 1)
    min_age: int = 12
    max_age: int = 22
    horizon_years: int = 6
    thresholds: list[float] = [0.001, 0.005, 0.01]


class ProbationSpec(_Section):
    target: float = Field(1.0, ge=0, le=1)


class DisclosureSpec(_Section):
    profile: Literal["cbs", "acro"] = "cbs"
    min_persons: int = Field(10, ge=1)
    p_percent: float = Field(10.0, ge=0, le=100)
    dominance_n: int = Field(2, ge=1)
    dominance_k: float = Field(90.0, ge=0, le=100)
    rounding: Literal[0, 5, 10] = 0


class StudySpec(_Section):
    """A whole study: one section per step, as in ``studies/brede-blik.toml``."""

    study: StudyInfo
    cases: CasesSpec = CasesSpec()
    target: TargetSpec
    controls: ControlsSpec = ControlsSpec()
    careers: CareersSpec = CareersSpec()
    factors: FactorsSpec = FactorsSpec()
    recidivism: RecidivismSpec = RecidivismSpec()
    trajectories: TrajectoriesSpec = TrajectoriesSpec()
    profile: ProfileSpec = ProfileSpec()
    probation: ProbationSpec = ProbationSpec()
    disclosure: DisclosureSpec = DisclosureSpec()

    @model_validator(mode="before")
    @classmethod
    def _offences_default_to_the_target(cls, raw: object) -> object:
        """The offence categories the controls exclude and the careers follow default to the
        target's own: no study inherits another study's offence (the flagship's specs name
        theirs)."""
        if not isinstance(raw, dict):
            return raw
        target = raw.get("target")
        cats = (target.get("offence_categories") if isinstance(target, dict)
                else getattr(target, "offence_categories", None))
        known = set(contract.OFFENCE_CATEGORIES)
        if not isinstance(cats, list) or not cats or not set(cats) <= known:
            return raw  # the target's own error names the problem once
        raw = dict(raw)
        for section, key in (("controls", "exclude_categories"),
                             ("careers", "trafficking_categories")):
            given = raw.get(section, {})
            if isinstance(given, dict) and key not in given:
                raw[section] = {**given, key: list(cats)}
        return raw

    @model_validator(mode="after")
    def _consistent(self) -> "StudySpec":
        if self.profile.validation_date <= self.profile.reference_date:
            raise ValueError("profile.validation_date must be after profile.reference_date")
        return self


class SpecError(ValueError):
    """A study spec that cannot be used; the message names the key and the problem."""


def load_spec(path: str | Path) -> StudySpec:
    """Read and validate a study spec TOML file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"study spec {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"study spec {path} is not valid TOML: {e}") from None
    return parse_spec(raw, source=str(path))


def parse_spec(raw: dict, source: str = "<spec>") -> StudySpec:
    """Validate a spec given as a dict (as read from TOML)."""
    try:
        return StudySpec.model_validate(raw)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            lines.append(f"  {where}: {msg}")
        raise SpecError(f"study spec {source} is invalid:\n" + "\n".join(lines)) from None


def default_spec_path() -> Path:
    """The flagship study spec shipped with the package."""
    here = Path(__file__).resolve()
    for candidate in (
        here.parents[3] / "studies" / "brede-blik.toml",
        here.parents[1] / "studies" / "brede-blik.toml",
    ):
        if candidate.exists():
            return candidate
    raise SpecError("the flagship spec studies/brede-blik.toml was not found")


def _codes(values: list[str], allowed: tuple[str, ...], what: str) -> list[str]:
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; allowed: {list(allowed)}")
    return values
