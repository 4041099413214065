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
