"""Figures: Altair charts saved as static SVG (no browser, no CDN), drawn from released tables."""

from __future__ import annotations

from pathlib import Path

import altair as alt


def save_chart(chart: alt.TopLevelMixin, out_dir: str | Path, name: str) -> str:
    """Save a chart as OUT/figures/<name>.svg and return its path relative to OUT."""
    out_dir = Path(out_dir)
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    rel = f"figures/{name}.svg"
    chart.save(str(out_dir / rel), format="svg")
    return rel


def released_figure(gate, chart, out_dir: str | Path, name: str,
                    title: dict[str, str], source_tables: list[str]):
    """Save a chart drawn from gate-released tables, record it with the gate, return its Figure.

    ``chart`` is a chart, or a function of the language ("en", "nl") returning one: then the
    Dutch version is saved beside it as ``<name>_nl.svg`` (the report picks it for Dutch)."""
    from crimcareer.report.section import Figure

    if callable(chart) and not isinstance(chart, alt.TopLevelMixin):
        rel = save_chart(chart("en"), out_dir, name)
        files = [rel, save_chart(chart("nl"), out_dir, f"{name}_nl")]
    else:
        rel = save_chart(chart, out_dir, name)
        files = [rel]
    gate.figure(name, source_tables, files)
    return Figure(name, rel, title, source_tables)
