"""docs/python-api.md is a session that runs: its ```python blocks, in order, in one namespace."""

from __future__ import annotations

import re
import time
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_python_api_page_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the session's tempfile.mkdtemp() lands here
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 8
    ns: dict = {"__name__": "__doc_session__"}
    start = time.perf_counter()
    for i, code in enumerate(blocks):
        exec(compile(code, f"{DOC.name}[block {i + 1}]", "exec"), ns)
    assert time.perf_counter() - start < 60
    # The session did what the page says.
    assert len(ns["matcher"].pairs_) > 0
    assert 0 < ns["aj"].cumulative_density_at_times([365.25]).iloc[0] < 1
    assert ns["released"]["n"].notna().all()
    assert (ns["work"] / "out" / "disclosure.json").exists()
    assert sorted(p.name for p in (ns["work"] / "out" / "tables").iterdir()) == \
        ["points_model.csv", "reoffending_3y.csv"]
