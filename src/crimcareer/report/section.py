"""What a study step hands to the report: a section of released tables, figures and headline figures.

Sections hold only names of tables the disclosure gate released (never raw frames), figure files
drawn from those tables, and headline figures for results.json keyed by published-figure ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Label = dict[str, str]  # {"en": ..., "nl": ...}


@dataclass
class Figure:
    """A figure file (SVG, relative to OUT/) drawn from released tables."""

    name: str
    file: str
    title: Label
    source_tables: list[str]


@dataclass
class Section:
    """One report section: bilingual title and text, released tables, figures, headline figures."""

    key: str
    title: Label
    text: Label = field(default_factory=lambda: {"en": "", "nl": ""})
    tables: list[str] = field(default_factory=list)
    table_titles: dict[str, Label] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    headline: dict[str, dict[str, float | None]] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # other keys for results.json (e.g. "profile")
