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


def released_figure(gate, chart: alt.TopLevelMixin, out_dir: str | Path, name: str,
                    title: dict[str, str], source_tables: list[str]):
    """Save a chart drawn from gate-released tables, record it with the gate, return its Figure."""
    from crimcareer.report.section import Figure

    rel = save_chart(chart, out_dir, name)
    gate.figure(name, source_tables, [rel])
    return Figure(name, rel, title, source_tables)
