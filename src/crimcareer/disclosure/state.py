"""The gate's membership, kept in ``OUT/internal`` so that ``crimcareer check OUT`` can redo the
whole audit later (never exported: it holds who stands behind every number, as run-local
person numbers, and per-person values of every released mean).

Files: ``disclosure_state.json`` (cells, their released values and reasons' bounds) and
``disclosure_state.npz`` (the person sets and values, concatenated with offsets).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from crimcareer.disclosure.audit import CountCell, SumCell

STATE_JSON = "disclosure_state.json"
STATE_NPZ = "disclosure_state.npz"


def save_state(folder: Path, n_persons: int, counts: list[CountCell], sums: list[SumCell],
               relations: list[tuple[dict[int, float], float]], min_persons: int) -> None:
    """Write the membership audit's input to ``folder`` (OUT/internal)."""
    folder.mkdir(parents=True, exist_ok=True)
    members = [c.members for c in counts] + [s.members for s in sums]
    offsets = np.cumsum([0] + [len(m) for m in members])
    values = np.concatenate([s.values for s in sums]) if sums else np.zeros(0)
    np.savez_compressed(folder / STATE_NPZ,
                        members=np.concatenate(members) if members else np.zeros(0, np.int64),
                        offsets=offsets, values=values)
    doc = {
        "n_persons": int(n_persons), "min_persons": int(min_persons),
        "counts": [{"ref": list(c.ref), "released": c.released, "halfwidth": c.halfwidth,
                    "bound": list(c.bound) if c.bound else None} for c in counts],
        "sums": [{"ref": list(s.ref), "variable": s.variable, "released": s.released}
                 for s in sums],
        "relations": [{"terms": [[i, v] for i, v in t.items()], "rhs": r} for t, r in relations],
    }
    (folder / STATE_JSON).write_text(json.dumps(doc, default=_plain))


def load_state(folder: Path) -> dict[str, Any] | None:
    """The saved membership audit input, or None when the folder has none."""
    if not (folder / STATE_JSON).exists() or not (folder / STATE_NPZ).exists():
        return None
    doc = json.loads((folder / STATE_JSON).read_text())
    arr = np.load(folder / STATE_NPZ)
    members, offsets, values = arr["members"], arr["offsets"], arr["values"]
    sets = [members[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]
    counts = [CountCell(tuple(c["ref"]), sets[i], c["released"], c["halfwidth"],
                        tuple(c["bound"]) if c["bound"] else None)
              for i, c in enumerate(doc["counts"])]
    n_c = len(counts)
    sums, pos = [], 0
    for j, s in enumerate(doc["sums"]):
        m = sets[n_c + j]
        sums.append(SumCell(tuple(s["ref"]), s["variable"], m, values[pos:pos + len(m)],
                            s["released"]))
        pos += len(m)
    rels = [({int(i): float(v) for i, v in r["terms"]}, float(r["rhs"])) for r in doc["relations"]]
    return {"n_persons": doc["n_persons"], "min_persons": doc["min_persons"], "counts": counts,
            "sums": sums, "relations": rels}


def _plain(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    return str(o)
