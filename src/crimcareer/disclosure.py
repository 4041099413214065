"""Every output passes here: disclosure rules, suppression and the release ledger.

INTERFACE (stable; internals are being completed): study steps never write files. They hand
pandas frames to a :class:`Gate`, which applies the rules of the spec's disclosure profile,
records every released number in its ledger and returns the safe frame. The report, CSV tables,
figures and results.json are built only from what the gate returned.

Cell conventions the gate relies on:
- proportions(): one row per cell, columns ``n`` (persons with the trait) and ``N`` (persons in
  the denominator) plus any estimate columns (e.g. ``pct``, ``ci_low``, ``ci_high``). Cells that
  fail are blanked (estimate columns -> NaN, n and N -> NaN) and get a ``suppressed`` reason.
- magnitudes(): one row per cell with the summary columns (``mean``, ``sd`` ...), plus the raw
  person-level values in ``values`` (cell key -> array) so p%% and dominance can be checked.
- curve(): a survival/incidence curve with an ``at_risk`` column; cut where at_risk < threshold.
- model(): a coefficient table with ``n_obs``, residual df and per-category person counts.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

SUPPRESSED = "suppressed"


@dataclass
class Rules:
    """Thresholds of a disclosure profile (defaults: Statistics Netherlands / ACRO defaults)."""

    min_persons: int = 10
    p_percent: float = 10.0
    dominance_n: int = 2
    dominance_k: float = 90.0
    rounding: int = 0

    @classmethod
    def from_spec(cls, spec: Any) -> "Rules":
        return cls(spec.min_persons, spec.p_percent, spec.dominance_n, spec.dominance_k,
                   spec.rounding)


@dataclass
class OutputRecord:
    """One released output as listed in disclosure.json."""

    name: str
    kind: str  # table | figure | curve | model | scalar
    rules: list[str]
    suppressed: list[dict] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    status: str = "pass"


@dataclass
class Breach:
    output: str
    cell: str
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.output}: cell {self.cell}: {self.rule}: {self.detail}"


class Gate:
    """The disclosure gate of one study run: applies rules, keeps the ledger, writes outputs."""

    def __init__(self, rules: Rules | None = None) -> None:
        self.rules = rules or Rules()
        self.records: dict[str, OutputRecord] = {}
        self.tables: dict[str, pd.DataFrame] = {}
        self.ledger: list[dict] = []

    # -- tables -------------------------------------------------------------------------------
    def proportions(self, name: str, df: pd.DataFrame, estimate_cols: Iterable[str] = ()) -> pd.DataFrame:
        """Release a table of shares: each row needs persons n (numerator) and N (denominator)."""
        out = df.copy()
        k = self.rules.min_persons
        reasons = pd.Series("", index=out.index, dtype=object)
        n, N = out["n"].astype(float), out["N"].astype(float)
        reasons[(N < k)] = f"denominator below {k} persons"
        reasons[(reasons == "") & (n > 0) & (n < k)] = f"numerator below {k} persons"
        reasons[(reasons == "") & (N - n > 0) & (N - n < k)] = f"complement below {k} persons"
        return self._finish(name, out, reasons, list(estimate_cols) + ["n"], "table",
                            ["min_persons(numerator,denominator,complement)"])

    def magnitudes(self, name: str, df: pd.DataFrame, values: list[np.ndarray],
                   stat_cols: Iterable[str] = ("mean", "sd")) -> pd.DataFrame:
        """Release means/SDs: row i summarises persons' values[i] (n, p%% and dominance)."""
        out = df.copy()
        k = self.rules.min_persons
        reasons = pd.Series("", index=out.index, dtype=object)
        for i, (idx, v) in enumerate(zip(out.index, values)):
            v = np.asarray(v, dtype=float)
            v = v[~np.isnan(v)]
            if len(v) < k:
                reasons[idx] = f"fewer than {k} persons"
                continue
            a = np.sort(np.abs(v))[::-1]
            total = a.sum()
            if total > 0:
                if a[: self.rules.dominance_n].sum() > self.rules.dominance_k / 100 * total:
                    reasons[idx] = "dominance"
                elif len(a) > 2 and total - a[0] - a[1] < self.rules.p_percent / 100 * a[0]:
                    reasons[idx] = "p-percent"
        return self._finish(name, out, reasons, list(stat_cols), "table",
                            ["min_persons", "p_percent", "dominance"])

    def curve(self, name: str, df: pd.DataFrame, at_risk_col: str = "at_risk",
              by: str | None = None) -> pd.DataFrame:
        """Release a step curve: drop every point from where fewer than min_persons are at risk."""
        k = self.rules.min_persons
        parts = [df] if by is None else [g for _, g in df.groupby(by, sort=False)]
        kept = []
        for g in parts:
            below = (g[at_risk_col] < k).to_numpy()
            stop = int(np.argmax(below)) if below.any() else len(g)
            kept.append(g.iloc[:stop])
        out = pd.concat(kept) if kept else df.iloc[:0]
        self._record(name, "curve", [f"at_risk>={k}"], [])
        self.tables[name] = out
        return out

    def model(self, name: str, coefs: pd.DataFrame, n_obs: int, df_resid: float,
              category_counts: dict[str, int] | None = None) -> pd.DataFrame:
        """Release a regression table if residual df and every category have enough persons."""
        k = self.rules.min_persons
        small = {c: n for c, n in (category_counts or {}).items() if n < k}
        if df_resid < k or n_obs < k or small:
            why = f"residual df {df_resid:.0f} < {k}" if df_resid < k else f"small categories {sorted(small)}"
            self._record(name, "model", ["residual_df", "category_min_persons"],
                         [{"cell": "*", "reason": why}], status="suppressed")
            out = coefs.iloc[:0]
        else:
            self._record(name, "model", ["residual_df", "category_min_persons"], [])
            out = coefs
        self.tables[name] = out
        return out

    def scalar(self, name: str, value: float, n: int) -> float | None:
        """Release one number computed from n persons (None if n is too small)."""
        ok = n >= self.rules.min_persons
        self._record(name, "scalar", ["min_persons"],
                     [] if ok else [{"cell": name, "reason": "too few persons"}])
        self.ledger.append({"output": name, "cell": name, "value": value if ok else None, "n": n})
        return value if ok else None

    def figure(self, name: str, source_tables: list[str], files: list[str]) -> None:
        """Record a figure drawn only from tables this gate already released."""
        missing = [t for t in source_tables if t not in self.tables]
        if missing:
            raise ValueError(f"figure {name} draws on unreleased tables {missing}")
        self._record(name, "figure", [f"drawn from released {source_tables}"], [], files=files)

    # -- writing ------------------------------------------------------------------------------
    def write(self, out: str | Path) -> None:
        """Write tables/*.csv for every released table and disclosure.json for all outputs."""
        out = Path(out)
        (out / "tables").mkdir(parents=True, exist_ok=True)
        for name, df in self.tables.items():
            path = out / "tables" / f"{name}.csv"
            df.to_csv(path, index=False)
            self.records[name].files.append(f"tables/{name}.csv")
        doc = {
            "profile": asdict(self.rules),
            "outputs": {n: asdict(r) for n, r in self.records.items()},
            "ledger": self.ledger,
        }
        (out / "disclosure.json").write_text(json.dumps(doc, indent=2, default=_json_default))

    # -- internals ----------------------------------------------------------------------------
    def _finish(self, name: str, out: pd.DataFrame, reasons: pd.Series, blank: list[str],
                kind: str, rules: list[str]) -> pd.DataFrame:
        mask = reasons != ""
        for col in set(blank) | {"n", "N"}:
            if col in out.columns:
                out[col] = out[col].astype(float)
                out.loc[mask, col] = np.nan
        out[SUPPRESSED] = reasons.where(mask, "")
        sup = [{"cell": str(i), "reason": r} for i, r in reasons[mask].items()]
        self._record(name, kind, rules, sup)
        for i, row in out.iterrows():
            self.ledger.append({"output": name, "cell": str(i),
                                **{c: row[c] for c in ("n", "N") if c in out.columns}})
        self.tables[name] = out
        return out

    def _record(self, name: str, kind: str, rules: list[str], suppressed: list[dict],
                status: str | None = None, files: list[str] | None = None) -> None:
        if name in self.records and kind != "figure":
            raise ValueError(f"output {name!r} released twice")
        self.records[name] = OutputRecord(
            name, kind, rules, suppressed, files or [],
            status or ("partially_suppressed" if suppressed else "pass"),
        )


def audit_output(out: str | Path) -> list[Breach]:
    """Re-audit a finished output folder; every breach found (empty list: it passes)."""
    out = Path(out)
    path = out / "disclosure.json"
    if not path.exists():
        return [Breach(str(out), "*", "missing_disclosure_json", "no disclosure.json: not a crimcareer output")]
    doc = json.loads(path.read_text())
    k = doc["profile"]["min_persons"]
    breaches: list[Breach] = []
    for rec in doc["ledger"]:
        for col in ("n", "N"):
            v = rec.get(col)
            if v is not None and not (isinstance(v, float) and np.isnan(v)) and 0 < v < k:
                breaches.append(Breach(rec["output"], rec["cell"], "min_persons", f"{col}={v} < {k}"))
    for csv in sorted((out / "tables").glob("*.csv")) if (out / "tables").exists() else []:
        if csv.stem not in doc["outputs"]:
            breaches.append(Breach(csv.stem, "*", "unlisted_output", "table not in disclosure.json"))
    return breaches


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if np.isnan(o) else float(o)
    return str(o)
