"""Every output passes here: disclosure rules, secondary suppression and the release ledger.

Study steps never write files. They hand cohort-sized pandas frames to a :class:`Gate`, which
applies the rules of the spec's disclosure profile, records every released count in its ledger,
withholds more cells where a withheld cell could be recovered, and returns the safe frame (the very
object it will write: later suppressions are applied to it in place). The report, CSV tables,
figures and results.json are built only from what the gate returned.

Release methods (cell conventions):

- ``proportions(name, df, estimate_cols)``: one row per cell, columns ``n`` (persons with the
  trait) and ``N`` (persons in the denominator) plus estimate columns (``pct``, ``ci_low`` ...).
  ``n``, ``N`` and ``N - n`` must each be 0 or at least ``min_persons``; zeros and all-in-one rows
  are flagged (``cbs``) or withheld (``acro``). A failing row is blanked (n, N, estimates -> NaN)
  and gets a ``suppressed`` reason. Cells are keyed by the row's text columns (``key_cols``).
- ``crosstab(name, counts)``: a rows x columns frame of person counts; margins are added and
  checked too, and complementary cells are chosen by a MILP so that no withheld cell can be
  narrowed to within ``protection`` persons from its row, column or table totals.
- ``magnitudes(name, df, values, stat_cols)``: means/SDs; ``values[i]`` holds row i's person
  values for the threshold, p% and (n,k)-dominance rules. Minima and maxima are refused.
- ``curve`` (cut where fewer than ``min_persons`` are at risk), ``histogram`` (bins merged until
  each holds ``min_persons``), ``model`` (residual df and every category of every categorical
  predictor, also binary columns of an optional ``design`` frame), ``scalar``, ``figure``.
- Frames with a person-level identifier column (``person_id`` ...) are refused.

The release ledger and declared relations. Each released or withheld count is a ledger cell
``Ref = (output, key, column)``: proportions ``(table, "var|group", "n")`` (and ``"N"``),
crosstabs ``(table, row, column)`` with margins under ``"All"``, count scalars
``(name, "", "value")``; :meth:`Gate.cells` lists them and :meth:`Gate.ref` / :func:`cell_key`
build them (a row's key is its key-column values joined with ``|``, None/NaN as '').
Relations inside one output are added by the gate (margins are sums; ``n + (N - n) = N``;
``partition_by`` rows sum to their ``N``). A declared relation that is false on the data is
ignored with a warning and listed under ``rejected_relations``.
Relations between outputs must be declared by the run, best before the tables are released (a
relation waits until all its cells exist, and is then audited at once)::

    gate.declare_equal(("careers_male", "male|DSE", "N"), ("factors_three_group", "male|DSE", "N"))
    gate.declare_matched(offender=[("t", "male|DSE", "n")], control=[("t", "male|CC", "n")],
                         ratio=1, why="exact 1:1 matching on sex")   # control = ratio * offender
    gate.declare_total(("cohort", "", "value"), [("t", "a", "n"), ("t", "b", "n")])
    gate.declare({ref_a: 1, ref_b: -2}, rhs=0, why="...")             # any linear equality

On every release, and again in :meth:`Gate.finalise` (called by :meth:`Gate.write`), each
primary-withheld cell is audited across the whole ledger with a linear programme (its min and max
consistent with all released values, all relations and non-negativity); if the interval does not
reach ``protection`` above and ``min(value, protection)`` below the true value, more cells are
withheld (MILP, least total value; cells of tables already handed out only as a last resort) and
the reason is recorded. ``OUT/disclosure.json`` lists every output with ACRO-like fields (uid,
status, type, properties, files with their sdc summary, outcome, comments), every suppressed cell
and why, the profile, and the ledger without the true values of withheld cells, so that
:func:`audit_output` (``crimcareer check OUT``) can redo every check from the folder alone.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from crimcareer.disclosure.audit import (AuditMemo, CountCell, CountFailure, SumCell, SumFailure,
                                        audit_counts, audit_sums)
from crimcareer.disclosure.ledger import Cell, Failure, Ledger, Ref, ref_str
from crimcareer.disclosure.membership import PersonIndex

#: members= of a release: per count column, one collection of person ids per row
Members = Mapping[str, Sequence[Any]]

SUPPRESSED = "suppressed"
# secondary suppression prices a headline figure's counts this many times higher
HEADLINE_WEIGHT = 100.0
#: a reason that states no bound (used when a stated bound would itself give persons away)
GENERIC_REASON = "withheld by the disclosure rules"
ALL = "All"
PERSON_LEVEL_COLUMNS = ("person_id", "alter_id", "matched_to", "case_id", "household_id")
# numeric columns that label a row rather than measure it (kept when a row is withheld)
LABEL_LIKE = ("threshold", "years", "year", "age", "window", "time", "bin", "lo", "hi", "t",
              "horizon", "cutoff")
REFUSED_STATS = ("min", "max", "minimum", "maximum", "p0", "p100", "q0", "q100")


PROFILES: dict[str, dict[str, Any]] = {
    # Statistics Netherlands Remote Access: zeros and all-in-one rows are flagged for review;
    # dominance is judged on absolute values so negative contributions cannot hide a dominant one.
    "cbs": {"zeros": "flag", "negatives": "abs"},
    # ACRO's default.yaml: zeros_are_disclosive, dominance undefined with negative values.
    "acro": {"zeros": "suppress", "negatives": "suppress"},
}


class PersonLevelError(ValueError):
    """A frame handed to the gate holds person-level identifiers."""


@dataclass
class Rules:
    """Thresholds of a disclosure profile (defaults: Statistics Netherlands / ACRO defaults)."""

    min_persons: int = 10
    p_percent: float = 10.0
    dominance_n: int = 2
    dominance_k: float = 90.0
    rounding: int = 0
    profile: str = "cbs"
    zeros: str = "flag"  # flag | suppress
    negatives: str = "abs"  # abs (dominance on |x|) | suppress (cell withheld, as ACRO)
    min_df: int = 10
    protection: float = 10.0  # a withheld cell's feasible interval must reach this far
    secondary_cost: str = "value"  # value | count: what secondary suppression minimises

    @classmethod
    def for_profile(cls, profile: str = "cbs", **overrides: Any) -> "Rules":
        """The rules of a named profile (``cbs`` or ``acro``) with optional overrides."""
        if profile not in PROFILES:
            raise ValueError(f"unknown disclosure profile {profile!r}; known: {sorted(PROFILES)}")
        return cls(profile=profile, **{**PROFILES[profile], **overrides})

    @classmethod
    def from_spec(cls, spec: Any) -> "Rules":
        """Rules from a spec's [disclosure] section (a StudySpec, its DisclosureSpec or a dict)."""
        sec = getattr(spec, "disclosure", spec)
        raw = sec if isinstance(sec, Mapping) else {
            f.name: getattr(sec, f.name) for f in fields(cls) if hasattr(sec, f.name)}
        raw = dict(raw)
        profile = raw.pop("profile", "cbs")
        known = {f.name for f in fields(cls)}
        return cls.for_profile(profile, **{k: v for k, v in raw.items() if k in known})


@dataclass
class OutputRecord:
    """One released output as listed in disclosure.json."""

    name: str
    kind: str  # table | crosstab | magnitudes | figure | curve | histogram | model | scalar
    rules: list[str]
    suppressed: list[dict] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    status: str = "pass"
    properties: dict = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)


@dataclass
class Breach:
    output: str
    cell: str
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.output}: cell {self.cell}: {self.rule}: {self.detail}"


# ---------------------------------------------------------------------------------------------
# primary rules (pure functions)
# ---------------------------------------------------------------------------------------------
def frequency_reasons(counts: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """Primary reason per cell of a table of person counts ('' = passes)."""
    k = rules.min_persons
    v = counts.astype(float)
    out = pd.DataFrame("", index=counts.index, columns=counts.columns, dtype=object)
    out[(v > 0) & (v < k)] = f"fewer than {k} persons"
    if rules.zeros == "suppress":
        out[v == 0] = "zero cell"
    out[v.isna()] = "missing count"
    return out


def magnitude_reason(values: np.ndarray, rules: Rules) -> str:
    """Primary reason for a magnitude cell summarising persons' values ('' = passes)."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    k = rules.min_persons
    if len(v) < k:
        return f"fewer than {k} persons"
    if (v < 0).any():
        if rules.negatives == "suppress":
            return "negative values (dominance undefined)"
        v = np.abs(v)
    top = np.sort(v)[::-1]
    total = top.sum()
    # ratios compared as ACRO does (top_n / total >= k), so edge cases fall the same way
    if total > 0 and top[: rules.dominance_n].sum() / total >= rules.dominance_k / 100:
        return f"({rules.dominance_n},{rules.dominance_k:g}%)-dominance"
    rest = total - top[:2].sum()
    # as ACRO: with a largest value of 0 the ratio is the remainder itself (all-zero cells fail)
    ratio = rest / top[0] if top[0] != 0 else rest
    if ratio < rules.p_percent / 100:
        return f"p% rule (p={rules.p_percent:g})"
    return ""


def proportion_reasons(n: pd.Series, N: pd.Series, rules: Rules, count_table: bool = False
                       ) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Reasons, flags and the protected quantity ('n', 'N' or 'N-n') per proportions row.

    ``count_table``: every row has n == N (a table of counts, not shares): no complement rules."""
    k = rules.min_persons
    n, N = n.astype(float), N.astype(float)
    c = N - n
    reasons = pd.Series("", index=n.index, dtype=object)
    target = pd.Series("", index=n.index, dtype=object)
    flags = pd.Series("", index=n.index, dtype=object)

    def mark(mask: pd.Series, why: str, what: str) -> None:
        m = mask & (reasons == "")
        reasons[m] = why
        target[m] = what

    mark(N.isna() | n.isna(), "missing count", "")
    mark(N < k, f"denominator below {k} persons", "N")
    mark((n > 0) & (n < k), f"numerator below {k} persons", "n")
    mark((c > 0) & (c < k), f"complement below {k} persons", "N-n")
    if rules.zeros == "suppress":
        mark(n == 0, "zero cell", "n")
        if not count_table:
            mark(c == 0, "zero complement (everyone has the trait)", "N-n")
    flags[(reasons == "") & (n == 0)] = "zero cell (nobody in the group has the trait)"
    if not count_table:
        flags[(reasons == "") & (c == 0) & (N > 0)] = \
            "all in one category (everyone in the group has the trait)"
    return reasons, flags, target


def merged_bins(counts: Sequence[float], k: int) -> list[list[int]]:
    """Groups of consecutive bin positions, each with at least k persons (none if total < k)."""
    groups: list[list[int]] = []
    cur: list[int] = []
    acc = 0.0
    for i, c in enumerate(counts):
        cur.append(i)
        acc += float(c)
        if acc >= k:
            groups.append(cur)
            cur, acc = [], 0.0
    if cur and groups:
        groups[-1].extend(cur)
    return groups


def rounded(x: Any, base: int) -> Any:
    """Counts rounded to the nearest multiple of base (ACRO's ``round`` mitigation)."""
    if not base:
        return x
    return base * np.round(np.asarray(x, dtype=float) / base)


def _union(arrays: list[np.ndarray]) -> np.ndarray:
    return np.unique(np.concatenate(arrays)) if arrays else np.zeros(0, dtype=np.int64)


def _refuse_person_level(name: str, df: pd.DataFrame) -> None:
    cols = [c for c in df.columns if str(c).lower() in PERSON_LEVEL_COLUMNS]
    idx = [n for n in (df.index.names or []) if n and str(n).lower() in PERSON_LEVEL_COLUMNS]
    if cols or idx:
        raise PersonLevelError(
            f"output {name!r} holds person-level identifiers {cols + idx}: only aggregates "
            "may leave the tool (person-level files belong in OUT/internal/)")


def cell_key(values: Iterable[Any]) -> str:
    """The ledger key of a row: its key-column values joined with '|' (None/NaN -> '')."""
    return _key(values)


def _key(values: Iterable[Any]) -> str:
    return "|".join("" if (v is None or (isinstance(v, float) and np.isnan(v))) else str(v)
                    for v in values)


# ---------------------------------------------------------------------------------------------
# the gate
# ---------------------------------------------------------------------------------------------
class Gate:
    """The disclosure gate of one study run: applies rules, keeps the ledger, writes outputs."""

    def __init__(self, rules: Rules | None = None) -> None:
        self.rules = rules or Rules()
        self.records: dict[str, OutputRecord] = {}
        self.tables: dict[str, pd.DataFrame] = {}
        self.ledger = Ledger()
        self._rows: dict[str, dict[str, Any]] = {}  # output -> ledger key -> frame index
        self._blank_cols: dict[str, list[str]] = {}
        self._scalars: dict[str, float | None] = {}
        self._finalised_state: tuple[int, ...] | None = None
        # membership: who stands behind every count, sum and curve point (never written out)
        self.persons = PersonIndex()
        self._members: dict[Ref, np.ndarray] = {}
        self._bound: dict[Ref, tuple[float, float]] = {}  # what a withholding reason implies
        self._headline: set[tuple[str, str]] = set()  # (output, row key) of headline figures
        self._public: set[Ref] = set()  # public numbers (pinned group sizes): never withheld
        self._sums: dict[Ref, SumCell] = {}
        self._curve_cells: dict[Ref, dict] = {}  # derivable counts of released curve points
        self._memo = AuditMemo()  # what earlier audits showed safe (securing rounds relax)
        self._structural: list = []  # declared relations membership cannot show
        self._current: str = ""  # the output being released (its cells are cheapest to withhold)
        self.audit_log: list[dict] = []
        self.audit_seconds = 0.0  # time spent in the membership audit

    # -- declarations -----------------------------------------------------------------------
    def declare(self, terms: Mapping[Ref, float], rhs: float = 0.0, why: str = "", *,
                structural: bool = False) -> None:
        """Declare a linear equality sum(coef * cell) == rhs between ledger cells.

        ``structural``: a fact of the design that membership cannot show (exact k:1 matching
        ties counts of different persons); the membership audit uses it too."""
        rel = self.ledger.relate(terms, rhs, why)
        if structural:
            self._structural.append(rel)
        if rel in self.ledger.relations:
            self._secure(list(rel.terms), "ledger")
        elif rel in self.ledger.rejected:
            warnings.warn(f"declared relation does not hold on the data, ignored: {why}",
                          stacklevel=2)

    def declare_equal(self, a: Ref, b: Ref, why: str = "same count") -> None:
        """Two cells (possibly in different outputs) count the same persons."""
        self.declare({a: 1.0, b: -1.0}, 0.0, why)

    def declare_nested(self, outer: Ref, inner: Ref, difference: float,
                       why: str = "nested counts") -> None:
        """``inner`` counts a subset of ``outer``'s persons (e.g. flagged at a higher threshold,
        reoffended by an earlier year): their ``difference`` (true value, from the caller's
        frame; the cells may be released later) counts persons too, so it must be 0 or at least
        min_persons. It enters the ledger as a hidden cell, protected when small, and the audit
        withholds what would give it away."""
        k = self.rules.min_persons
        ref = ("nested", f"{ref_str(outer)} - {ref_str(inner)}", "n")
        if ref not in self.ledger.cells:
            self.ledger.add(Cell(ref, float(difference), None, 0.0, 0.0, hidden=True,
                                 kind="hidden", unit="", protect=0 < difference < k))
        self.declare({outer: 1.0, inner: -1.0, ref: -1.0}, 0.0, why)

    def declare_matched(self, offender: Ref | Sequence[Ref], control: Ref | Sequence[Ref],
                        ratio: float, why: str = "exact k:1 matching") -> None:
        """Exact k:1 matching: each control cell equals ``ratio`` times its offender cell."""
        offs = [offender] if isinstance(offender, tuple) else list(offender)
        ctrls = [control] if isinstance(control, tuple) else list(control)
        if len(offs) != len(ctrls):
            raise ValueError("declare_matched needs as many offender as control cells")
        for o, c in zip(offs, ctrls):
            self.declare({c: 1.0, o: -float(ratio)}, 0.0, f"{why} (ratio {ratio:g})",
                         structural=True)

    def declare_total(self, total: Ref, parts: Sequence[Ref], why: str = "total of parts") -> None:
        """A cell is the sum of other cells."""
        terms: dict[Ref, float] = {total: -1.0}
        for p in parts:
            terms[p] = terms.get(p, 0.0) + 1.0
        self.declare(terms, 0.0, why)

    @staticmethod
    def ref(output: str, key_values: Iterable[Any] | str, column: str) -> Ref:
        """A ledger cell reference, e.g. ``Gate.ref("t", ("male", "DSE"), "n")``."""
        key = key_values if isinstance(key_values, str) else cell_key(key_values)
        return (output, key, column)

    def cells(self, name: str) -> list[Ref]:
        """The ledger cells of one output (to build declarations)."""
        return [r for r, c in self.ledger.cells.items() if r[0] == name and not c.hidden]

    # -- tables -----------------------------------------------------------------------------
    def proportions(self, name: str, df: pd.DataFrame, estimate_cols: Iterable[str] = (),
                    *, key_cols: Sequence[str] | None = None,
                    partition_by: Sequence[str] | None = None,
                    members: Members | None = None,
                    headline: Sequence[bool] | None = None) -> pd.DataFrame:
        """Release a table of shares: each row needs persons n (numerator) and N (denominator).

        ``headline``: per row, True for a headline figure; secondary suppression withholds its
        counts only when no set of other cells protects as well at up to HEADLINE_WEIGHT times
        the cost.

        ``members``: per count column (``n``, ``N`` and any other count such as ``at_risk``),
        the person ids behind each row's count, in row order. The gate then derives every
        relation with other outputs itself (see :mod:`crimcareer.disclosure.audit`).
        ``partition_by``: rows with equal values in these columns are exhaustive, disjoint
        categories (their n sum to their common N), so a withheld one gets complements."""
        self._new(name)
        self._current = name
        self._check_members(name, members, len(df), ("n", "N"))
        _refuse_person_level(name, df)
        if "n" not in df.columns or "N" not in df.columns:
            raise ValueError(f"proportions {name!r} needs person-count columns n and N")
        out = df.copy()
        if SUPPRESSED in out.columns:
            out = out.drop(columns=[SUPPRESSED])
        reasons, flags, target = proportion_reasons(out["n"], out["N"], self.rules,
                                                    count_table=bool((out["n"] == out["N"]).all()))
        if members is not None:  # other person counts of a row (at_risk ...): 0 or >= k too
            k = self.rules.min_persons
            for col in [c for c in members if c not in ("n", "N") and c in out.columns]:
                v = pd.to_numeric(out[col], errors="coerce")
                small = (v > 0) & (v < k) & (reasons == "")
                reasons[small] = f"fewer than {k} persons ({col})"
                target[small] = col
        kcols = [c for c in self._key_cols(out, key_cols) if c not in ("n", "N")]
        keys = self._row_keys(out, kcols)
        if headline is not None:
            if len(headline) != len(out):
                raise ValueError(f"proportions {name!r}: headline needs one flag per row")
            self._headline.update((name, k) for k, h in zip(keys, headline) if h)
        # a withheld row loses its counts, its estimates and any other measured (float) column
        floats = [c for c in out.columns if c not in kcols and str(c).lower() not in LABEL_LIKE
                  and pd.api.types.is_float_dtype(out[c])]
        blank = list(dict.fromkeys(c for c in [*estimate_cols, "n", "N", *floats] if c in out.columns))
        for col in blank:
            out[col] = out[col].astype(float)
        out[SUPPRESSED] = ""
        self._blank_cols[name] = blank
        self._rows[name] = dict(zip(keys, out.index))
        self.tables[name] = out
        rec = self._record(name, "table", [
            f"n, N and N-n each 0 or >= {self.rules.min_persons} distinct persons",
            f"zeros and all-in-one rows: {self.rules.zeros}",
            "estimates released only with their counts", "ledger interval audit"],
            properties={"layout": "rows", "key_columns": kcols,
                        "count_columns": ["n", "N"],
                        "estimate_columns": [c for c in blank if c not in ("n", "N")]})
        base = self.rules.rounding
        touched: list[Ref] = []
        for pos, (key, idx) in enumerate(zip(keys, out.index)):
            n, N = out.at[idx, "n"], out.at[idx, "N"]
            if members is not None:
                self._register_row(name, key, pos, members, out.loc[idx], base)
            if pd.isna(n) or pd.isna(N):
                why = reasons[idx] or "missing count"
                self._blank_row(name, idx, why)
                rec.suppressed.append({"cell": key, "column": "n,N", "reason": why, "kind": "primary"})
                for col, val in (("n", n), ("N", N)):  # known but withheld: relations resolve
                    if not pd.isna(val):
                        self.ledger.add(Cell((name, key, col), float(val), None, reason=why,
                                             kind="primary", unit=f"{name}\x00{key}"))
                continue
            unit = f"{name}\x00{key}"
            rn, rN = (float(rounded(n, base)), float(rounded(N, base))) if base else (float(n), float(N))
            h = base / 2 if base else 0.0
            w = HEADLINE_WEIGHT if (name, key) in self._headline else 1.0
            for col, val, rel in (("n", n, rn), ("N", N, rN)):
                self.ledger.add(Cell((name, key, col), float(val), rel, h, 0.0, unit=unit,
                                     weight=w))
            self.ledger.add(Cell((name, key, "N-n"), float(N - n), None, 0.0, 0.0, hidden=True,
                                 kind="hidden", unit=""))
            self.ledger.relate({(name, key, "n"): 1, (name, key, "N-n"): 1, (name, key, "N"): -1},
                               0.0, "n + (N - n) = N")
            if base:
                out.at[idx, "n"], out.at[idx, "N"] = rn, rN
            touched.append((name, key, "n"))
            if flags[idx]:
                rec.comments.append(f"{key}: {flags[idx]}")
            if reasons[idx]:
                self._withhold((name, key, "n"), reasons[idx], "primary")
                tgt = target[idx] if target[idx] in ("n", "N", "N-n") or (
                    members is not None and target[idx] in members) else ""
                if tgt:
                    self.ledger.cells[(name, key, tgt)].protect = True
                    val = self.ledger.cells[(name, key, tgt)].value
                    # the reason tells an attacker the protected count lies in 1..k-1 (or is 0)
                    self._bound[(name, key, tgt)] = (0.0, 0.0) if val == 0 else \
                        (1.0, float(self.rules.min_persons - 1))
        if partition_by:
            for gkey, g in out.groupby(list(partition_by), sort=False, dropna=False):
                members = [k for k, i in zip(keys, out.index) if i in g.index
                           and (name, k, "n") in self.ledger.cells]
                if len(members) < 2:
                    continue
                terms: dict[Ref, float] = {(name, m, "n"): 1.0 for m in members}
                terms[(name, members[0], "N")] = -1.0
                self.ledger.relate(terms, 0.0, f"categories of {gkey} partition N")
                for m in members[1:]:
                    self.ledger.relate({(name, m, "N"): 1.0, (name, members[0], "N"): -1.0},
                                       0.0, f"rows of {gkey} share a denominator")
        self.ledger.activate_pending()
        self._secure(touched, "secondary")
        self._secure_members()
        self._freeze(name)
        self.tables[name] = out
        return out

    def crosstab(self, name: str, counts: pd.DataFrame, *, margins: bool = True,
                 cost: str | None = None,
                 members: Mapping[tuple[Any, Any], Any] | None = None) -> pd.DataFrame:
        """Release a rows x columns table of person counts with margins and optimal secondary
        suppression; returns it with the row labels as first column and a ``suppressed`` column.
        ``members``: the person ids of each inner cell, keyed ``(row, column)``."""
        self._new(name)
        self._current = name
        _refuse_person_level(name, counts)
        if counts.index.name and str(counts.index.name).lower() in PERSON_LEVEL_COLUMNS:
            _refuse_person_level(name, counts.reset_index())
        vals = counts.astype(float)
        if (vals < 0).any().any():
            raise ValueError(f"crosstab {name!r}: person counts cannot be negative")
        vals.columns = [str(c) for c in vals.columns]
        vals.index = [str(i) for i in vals.index]
        if margins:
            vals[ALL] = vals.sum(axis=1)
            vals.loc[ALL] = vals.sum(axis=0)
        reasons = frequency_reasons(vals, self.rules)
        row_col = str(counts.index.name or "row")
        inner_cols = [c for c in vals.columns if c != ALL]
        rec = self._record(name, "crosstab", [
            f"cells and margins 0 or >= {self.rules.min_persons} distinct persons",
            f"zeros: {self.rules.zeros}",
            f"secondary suppression (MILP, protection {self.rules.protection:g})",
            "ledger interval audit"],
            properties={"layout": "wide", "row_column": row_col, "count_columns": list(vals.columns),
                        "margins": margins})
        out = vals.copy()
        base = self.rules.rounding
        if base:
            out = pd.DataFrame(rounded(out, base), index=out.index, columns=out.columns)
        out[SUPPRESSED] = ""
        self._blank_cols[name] = []
        self._rows[name] = {r: r for r in out.index}
        self.tables[name] = out  # provisional: _withhold blanks cells in place
        for r in vals.index:
            inner = vals.loc[r, inner_cols]
            if r != ALL and len(inner_cols) > 1 and (inner > 0).sum() == 1 and inner.sum() > 0:
                rec.comments.append(f"row {r}: all persons in one category "
                                    f"({inner.idxmax()})")
            for c in vals.columns:
                self.ledger.add(Cell((name, r, c), float(vals.at[r, c]),
                                     float(out.at[r, c]), base / 2 if base else 0.0, 0.0))
                if vals.at[r, c] == 0 and self.rules.zeros == "flag":
                    rec.comments.append(f"cell {r}/{c}: zero count")
        if margins:
            rows = [r for r in vals.index if r != ALL]
            for r in vals.index:
                self.ledger.relate({**{(name, r, c): 1.0 for c in inner_cols}, (name, r, ALL): -1.0},
                                   0.0, "row margin")
            for c in vals.columns:
                self.ledger.relate({**{(name, r, c): 1.0 for r in rows}, (name, ALL, c): -1.0},
                                   0.0, "column margin")
        if members is not None:
            inner_rows = [r for r in vals.index if r != ALL]
            got = {(str(r), str(c)): v for (r, c), v in members.items()}
            for r in inner_rows:
                for c in inner_cols:
                    self._members[(name, r, c)] = self._codes((name, r, c), got.get((r, c), []),
                                                              vals.at[r, c])
            if margins:
                for r in inner_rows:
                    self._members[(name, r, ALL)] = _union([self._members[(name, r, c)]
                                                            for c in inner_cols])
                for c in inner_cols + [ALL]:
                    self._members[(name, ALL, c)] = _union([self._members[(name, r, c)]
                                                            for r in inner_rows])
        for r in vals.index:
            for c in vals.columns:
                if reasons.at[r, c]:
                    self._withhold((name, r, c), reasons.at[r, c], "primary")
                    self.ledger.cells[(name, r, c)].protect = True
                    v = vals.at[r, c]
                    self._bound[(name, r, c)] = (0.0, 0.0) if v == 0 else \
                        (1.0, float(self.rules.min_persons - 1))
        self.ledger.activate_pending()
        self._secure([(name, r, c) for r in vals.index for c in vals.columns], "secondary",
                     cost=cost)
        if members is not None:
            self._secure_members()
        self._freeze(name)
        shown = out.reset_index().rename(columns={"index": row_col})
        self.tables[name] = shown
        self._rows[name] = {r: i for i, r in enumerate(shown[row_col])}
        return shown

    def magnitudes(self, name: str, df: pd.DataFrame, values: list[np.ndarray],
                   stat_cols: Iterable[str] = ("mean", "sd"), *,
                   round_counts: int = 0, ids: list[Any] | None = None,
                   variable_col: str = "variable") -> pd.DataFrame:
        """Release means/SDs: row i summarises persons' values[i] (n, p%% and dominance).

        ``ids``: the person ids behind values[i] (same order). With them the gate knows every
        row's persons and values, so a mean or count of one table minus those of another
        (group size x mean) is audited too; rows of the same ``variable_col`` value (else of
        this output) are taken to sum the same per-person values.
        ``round_counts``: release the count columns rounded to this base (after the rules), for
        rows over overlapping sets of persons (e.g. persons observed at each age), whose exact
        counts would differ by a few persons from row to row."""
        self._new(name)
        self._current = name
        if ids is not None and len(ids) != len(values):
            raise ValueError(f"magnitudes {name!r}: {len(ids)} id arrays for {len(values)} rows")
        _refuse_person_level(name, df)
        stat_cols = list(stat_cols)
        bad = [c for c in list(df.columns) + stat_cols if str(c).lower() in REFUSED_STATS]
        if bad:
            raise ValueError(f"magnitudes {name!r}: minima and maxima are never released ({bad})")
        if len(values) != len(df):
            raise ValueError(f"magnitudes {name!r}: {len(values)} value arrays for {len(df)} rows")
        out = df.copy()
        reasons = pd.Series([magnitude_reason(v, self.rules) for v in values], index=out.index,
                            dtype=object)
        mask = reasons != ""
        counts = [c for c in ("n", "N", "n_persons", "persons") if c in out.columns]
        for col in dict.fromkeys(stat_cols + counts):  # a withheld cell's count goes too
            if col in out.columns:
                out[col] = out[col].astype(float)
                out.loc[mask, col] = np.nan
        if round_counts:
            for col in counts:
                out[col] = rounded(out[col], round_counts)
        kcols = self._key_cols(df, None)
        keys = self._row_keys(df, kcols)
        out[SUPPRESSED] = reasons
        self._record(name, "magnitudes", [
            f">= {self.rules.min_persons} persons", f"p% rule p={self.rules.p_percent:g}",
            f"({self.rules.dominance_n},{self.rules.dominance_k:g}%)-dominance",
            "no minima or maxima"] + ([f"counts rounded to base {round_counts}"]
                                      if round_counts else []),
            suppressed=[{"cell": k, "column": ",".join(stat_cols), "reason": r, "kind": "primary"}
                        for k, r in zip(keys, reasons) if r],
            properties={"layout": "rows", "key_columns": kcols,
                        "count_columns": counts, "stat_columns": stat_cols})
        self.tables[name] = out
        if ids is not None:
            self._register_magnitudes(name, df, out, keys, values, ids, reasons, counts,
                                      stat_cols, round_counts, variable_col)
            self._secure_members()
        return out

    def _register_magnitudes(self, name: str, df: pd.DataFrame, out: pd.DataFrame,
                             keys: list[str], values: list[np.ndarray], ids: list[Any],
                             reasons: pd.Series, counts: list[str], stat_cols: list[str],
                             round_counts: int, variable_col: str) -> None:
        k = self.rules.min_persons
        self._rows[name] = dict(zip(keys, out.index))
        self._blank_cols[name] = list(dict.fromkeys([*stat_cols, *counts]))
        for key, idx, v, pid in zip(keys, out.index, values, ids):
            v = np.asarray(v, dtype=float)
            pid = np.asarray(pid, dtype=object)
            if len(pid) != len(v):
                raise ValueError(f"magnitudes {name!r} row {key!r}: {len(pid)} ids for "
                                 f"{len(v)} values")
            ok = ~np.isnan(v)
            codes, vals = self.persons.values_by_code(pid[ok], v[ok])
            var = str(df.at[idx, variable_col]) if variable_col in df.columns else name
            released = reasons[idx] == ""
            self._sums[(name, key, "sum")] = SumCell((name, key, "sum"), var, codes, vals,
                                                     released)
            unit = f"{name}\x00{key}"
            for col in counts:
                ref = (name, key, col)
                val = float(len(codes))
                shown = None if not released else (
                    float(rounded(val, round_counts)) if round_counts else val)
                self.ledger.add(Cell(ref, val, shown, round_counts / 2 if round_counts else 0.0,
                                     0.0, unit=unit, reason=reasons[idx],
                                     kind="" if released else "primary"))
                self._members[ref] = codes
                if not released and reasons[idx].startswith("fewer than"):
                    self._bound[ref] = (0.0, float(k - 1))

    def curve(self, name: str, df: pd.DataFrame, at_risk_col: str = "at_risk",
              by: str | None = None, events_col: str | None = None,
              release_at_risk: bool = True, *, persons: pd.DataFrame | None = None,
              time_col: str = "time", estimate_cols: Sequence[str] = ()) -> pd.DataFrame:
        """Release a step curve: drop every point from where fewer than min_persons are at risk.

        ``persons`` (one row per person: ``person_id``, ``by`` if given, ``time`` on the scale
        of ``time_col``, ``status`` 0 censored / 1 event / 2 competing event): the gate thins
        the curve so that between two released points the events, the censored and the
        competing events are each 0 or at least min_persons, and registers, per released point,
        who had an event, was censored, had a competing event and is at risk. An attacker can
        separate events from censorings through the estimate, so each counts as released; a
        window table over the same persons (a 2-year row) is then audited against the curve
        and a point that would give a few persons away is withheld.
        Without ``persons``, ``events_col`` (the cumulative number of events by each point, not
        released) thins on events and all leavers only; it cannot see persons whose time is
        exactly a point's (counted by the estimate there, still at risk), so a curve over
        persons should pass ``persons``. The at-risk count at the first point
        (everyone followed) is withheld and later ones must lie at least min_persons below it.
        ``release_at_risk=False`` applies the rules but leaves the at-risk column out (for
        model curves, whose at-risk counts would only give away who joins or leaves).
        """
        self._new(name)
        self._current = name
        _refuse_person_level(name, df)
        k = self.rules.min_persons
        parts = [df] if by is None else [g for _, g in df.groupby(by, sort=False)]
        kept, cut = [], []
        for g in parts:
            cell = "*" if by is None or g.empty else str(g[by].iloc[0])
            below = (g[at_risk_col] < k).to_numpy()
            stop = int(np.argmax(below)) if below.any() else len(g)
            g = g.iloc[:stop]
            if stop < len(below):
                cut.append({"cell": cell, "reason": f"points with fewer than {k} at risk cut",
                            "kind": "primary"})
            if persons is not None and len(g):
                p = persons if by is None else persons[persons[by].astype(str) == cell]
                g, thinned = _thin_by_persons(g, at_risk_col, time_col, p, k)
                if thinned:
                    cut.append({"cell": cell, "reason": f"points thinned (fewer than {k} events, "
                                                        "censored or competing events between "
                                                        "released points)", "kind": "primary"})
            elif events_col is not None and len(g):
                g, thinned = _thin_curve(g, at_risk_col, events_col, k)
                if thinned:
                    cut.append({"cell": cell, "reason": f"points thinned (fewer than {k} events "
                                                        "or leavers between released points)",
                                "kind": "primary"})
            kept.append(g)
        out = pd.concat(kept) if kept else df.iloc[:0]
        if events_col is not None and events_col in out.columns:
            out = out.drop(columns=[events_col])
        rules = [f"at_risk>={k}"] + ([f"events and leavers per step 0 or >={k}"]
                                     if events_col is not None or persons is not None else [])
        if persons is not None:
            out = out.reset_index(drop=True)
            self._register_curve(name, out, persons, by, time_col, at_risk_col)
            self._blank_cols[name] = [c for c in (*estimate_cols, at_risk_col) if c in out.columns]
        if not release_at_risk:
            out = out.drop(columns=[at_risk_col])
            rules.append("at-risk counts checked, not released")
        self._record(name, "curve", rules, suppressed=cut,
                     properties={"at_risk_column": at_risk_col, "by": by},
                     status="pass" if not cut else "partially_suppressed")
        self.tables[name] = out
        if persons is not None:
            self._secure_members()
        return out

    def _register_curve(self, name: str, out: pd.DataFrame, persons: pd.DataFrame,
                        by: str | None, time_col: str, at_risk_col: str) -> None:
        """Who had an event, was censored, had a competing event, or is at risk at each point."""
        for i, row in out.iterrows():
            p = persons if by is None else persons[persons[by].astype(str) == str(row[by])]
            t = float(row[time_col])
            tt = p["time"].to_numpy(dtype=float)
            st = p["status"].to_numpy()
            ids = p["person_id"].to_numpy(dtype=object)
            key = f"{'' if by is None else row[by]}|{t:g}"
            sets = {"events": ids[(tt < t) & (st == 1)], "censored": ids[(tt < t) & (st == 0)],
                    "competing": ids[(tt < t) & (st == 2)], "at_risk": ids[tt >= t]}
            # the estimate at t counts the events at t too (a step function is right-continuous)
            # while the at-risk count still holds them: persons whose time is exactly t are known
            # as events through t as well (a whole-year point on a grid of days)
            for s, what in ((1, "events_through"), (2, "competing_through")):
                if ((tt == t) & (st == s)).any():
                    sets[what] = ids[(tt <= t) & (st == s)]
            if at_risk_col in out.columns and not pd.isna(row[at_risk_col]) \
                    and len(sets["at_risk"]) != round(float(row[at_risk_col])):
                raise ValueError(f"curve {name!r} at {key}: {len(sets['at_risk'])} persons at "
                                 f"risk by persons=, {row[at_risk_col]:g} in the curve")
            for what, members in sets.items():
                if len(members):
                    self._curve_cells[(name, key, what)] = {
                        "members": self.persons.codes(members), "released": True, "row": i}

    def histogram(self, name: str, df: pd.DataFrame, count_col: str = "n",
                  lo_col: str = "lo", hi_col: str = "hi", by: str | None = None) -> pd.DataFrame:
        """Release a histogram (bins in order): merge neighbouring bins until each holds at
        least min_persons persons; nothing is released for a group with fewer in total."""
        self._new(name)
        _refuse_person_level(name, df)
        k = self.rules.min_persons
        parts = [df] if by is None else [g for _, g in df.groupby(by, sort=False)]
        rows, notes = [], []
        for g in parts:
            g = g.reset_index(drop=True)
            groups = merged_bins(g[count_col].to_numpy(dtype=float), k)
            if not groups:
                notes.append({"cell": "*" if by is None else str(g[by].iloc[0]),
                              "reason": f"fewer than {k} persons in total", "kind": "primary"})
            for members in groups:
                first, last = g.iloc[members[0]], g.iloc[members[-1]]
                row = first.copy()
                row[count_col] = g.loc[members, count_col].sum()
                if lo_col in g.columns:
                    row[lo_col] = first[lo_col]
                if hi_col in g.columns:
                    row[hi_col] = last[hi_col]
                rows.append(row)
            if groups and any(len(m) > 1 for m in groups):
                notes.append({"cell": "*" if by is None else str(g[by].iloc[0]),
                              "reason": f"bins merged to reach {k} persons", "kind": "merge"})
        out = pd.DataFrame(rows, columns=df.columns).reset_index(drop=True)
        if self.rules.rounding:
            out[count_col] = rounded(out[count_col], self.rules.rounding)
        self._record(name, "histogram", [f"every bin >= {k} persons (merged)"], suppressed=notes,
                     properties={"count_columns": [count_col], "layout": "bins"},
                     status="pass" if not notes else "partially_suppressed")
        self.tables[name] = out
        return out

    def model(self, name: str, coefs: pd.DataFrame, n_obs: int, df_resid: float,
              category_counts: dict[str, int] | None = None, *,
              design: pd.DataFrame | None = None) -> pd.DataFrame:
        """Release a regression table if residual df and every category have enough persons.

        ``design``: the model's predictor frame (cohort-sized); every binary column must have
        at least min_persons persons at each of its two values (a dummy of a small category
        would give that category's mean away)."""
        self._new(name)
        _refuse_person_level(name, coefs)
        k = self.rules.min_persons
        counts = dict(category_counts or {})
        if design is not None:
            counts.update(category_counts_of(design))
        small = {c: n for c, n in counts.items() if n < k}
        props = {"n_obs": int(n_obs), "df_resid": float(df_resid),
                 "category_counts": {c: int(n) for c, n in counts.items()}}
        rules = [f"residual df >= {self.rules.min_df}", f"every category >= {k} persons"]
        if df_resid < self.rules.min_df or n_obs < k or small:
            why = (f"residual df {df_resid:.0f} < {self.rules.min_df}" if df_resid < self.rules.min_df
                   else f"fewer than {k} observations" if n_obs < k
                   else f"categories with fewer than {k} persons: {sorted(small)}")
            self._record(name, "model", rules, [{"cell": "*", "reason": why, "kind": "primary"}],
                         status="suppressed", properties=props)
            out = coefs.iloc[:0]
        else:
            self._record(name, "model", rules, [], properties=props)
            out = coefs
        self.tables[name] = out
        return out

    def scalar(self, name: str, value: float, n: int, *, count: bool = False,
               ids: Any = None) -> float | None:
        """Release one number computed from n persons (None if n is too small).

        ``count=True``: the number is itself a person count (a group size); it enters the
        ledger as ``(name, "", "value")`` so relations can refer to it; ``ids``: its persons."""
        self._new(name)
        self._current = name
        k = self.rules.min_persons
        ok = n >= k
        rec = self._record(name, "scalar", [f">= {k} persons"],
                           [] if ok else [{"cell": name, "reason": f"fewer than {k} persons",
                                           "kind": "primary"}],
                           properties={"n": int(n), "count": count})
        released = value if ok else None
        if count:
            ref = (name, "", "value")
            base = self.rules.rounding
            self.ledger.add(Cell(ref, float(value), float(rounded(value, base)) if base else float(value),
                                 base / 2 if base else 0.0, 0.0))
            if ids is not None:
                self._members[ref] = self._codes(ref, ids, value)
            if not ok:
                self._withhold(ref, f"fewer than {k} persons", "primary")
                self.ledger.cells[ref].protect = True
                self._bound[ref] = (0.0, float(k - 1))
            self.ledger.activate_pending()
            self._secure([ref], "ledger")
            if ids is not None:
                self._secure_members("ledger")
            c = self.ledger.cells[ref]
            released = c.released
            if c.suppressed and rec.status == "pass":
                rec.status = "suppressed"
            self.ledger.cells[ref].frozen = True
        self._scalars[name] = released
        return released

    def figure(self, name: str, source_tables: list[str], files: list[str]) -> None:
        """Record a figure drawn only from tables this gate already released."""
        missing = [t for t in source_tables if t not in self.tables]
        if missing:
            raise ValueError(f"figure {name} draws on unreleased tables {missing}")
        if name in self.records and self.records[name].kind == "figure":
            self.records[name].files.extend(f for f in files if f not in self.records[name].files)
            return
        self._new(name)
        self._record(name, "figure", [f"drawn from released {source_tables}"], [], files=list(files),
                     properties={"source_tables": list(source_tables)})

    def withdraw_figure(self, name: str, reason: str) -> list[str]:
        """Take back a recorded figure (its source cells were withheld after it was drawn):
        returns its files, which the caller deletes; disclosure.json lists it as withdrawn."""
        rec = self.records[name]
        if rec.kind != "figure":
            raise ValueError(f"{name!r} is a {rec.kind}, not a figure")
        files, rec.files = list(rec.files), []
        rec.status = "withdrawn"
        rec.comments.append(reason)
        return files

    def withheld_cells(self) -> set[Ref]:
        """Every ledger cell withheld so far (to compare before and after a late audit)."""
        return ({r for r, c in self.ledger.cells.items() if c.suppressed}
                | {r for r, c in self._curve_cells.items() if not c["released"]}
                | {r for r, c in self._sums.items() if not c.released})

    # -- auditing and writing ---------------------------------------------------------------
    @property
    def released_scalars(self) -> dict[str, float | None]:
        """Every scalar output by name: its released value, or None if withheld."""
        return dict(self._scalars)

    def finalise(self) -> list[Failure]:
        """Audit every withheld cell across the whole ledger and withhold more where needed,
        until a round changes nothing; returns the ledger failures found before fixing (empty:
        nothing had to change). A second call with nothing released, declared or withheld
        since is free (the run's final audit, then ``write``: the whole audit once, not twice)."""
        self.ledger.activate_pending()
        self._current = ""  # every output has been handed out: all cells cost alike
        found: list[Failure] | None = None
        for _ in range(100):
            before = self._release_state()
            if before == self._finalised_state:
                return found or []
            self._secure_members("ledger")
            fails = self.ledger.failures(self.rules.protection)
            found = fails if found is None else found
            if fails:
                self._secure([f.ref for f in fails], "ledger")
                left = self.ledger.failures(self.rules.protection,
                                            self.ledger.component([f.ref for f in fails]))
                if left:  # cannot happen unless the LP is inconsistent: refuse those outputs
                    for f in left:
                        for r in self.ledger.component([f.ref]):
                            if not self.ledger.cells[r].suppressed:
                                self._withhold(r, f"refused: {ref_str(f.ref)} not protectable",
                                               "ledger")
            if self._release_state() == before:  # settled: both audits pass as it stands
                self._finalised_state = before
        raise RuntimeError("disclosure audit: the final rounds did not settle")

    def _release_state(self) -> tuple[int, ...]:
        """Changes whenever anything is released, declared or withheld."""
        led = self.ledger
        return (len(led.cells), len(led.relations), len(led.pending),
                sum(c.suppressed for c in led.cells.values()), len(self._members),
                len(self._sums), sum(bool(c.released) for c in self._sums.values()),
                len(self._curve_cells),
                sum(bool(c["released"]) for c in self._curve_cells.values()),
                len(self._bound), len(self._structural))

    def write(self, out: str | Path) -> None:
        """Write tables/*.csv for every released table and disclosure.json for all outputs."""
        self.finalise()
        out = Path(out)
        (out / "tables").mkdir(parents=True, exist_ok=True)
        for name, df in self.tables.items():
            path = out / "tables" / f"{name}.csv"
            df.to_csv(path, index=False)
            rel = f"tables/{name}.csv"
            if rel not in self.records[name].files:
                self.records[name].files.append(rel)
        (out / "disclosure.json").write_text(
            json.dumps(self.disclosure_document(), indent=2, default=_json_default))
        if self._members or self._sums or self._curve_cells:
            self.save_state(out / "internal")

    def disclosure_document(self) -> dict:
        """The content of disclosure.json (ACRO results.json fields where they fit)."""
        results = {}
        for name, r in self.records.items():
            if r.kind != "model" and r.status == "pass" and any(
                    s.get("kind") != "merge" for s in r.suppressed):
                r.status = "partially_suppressed"
            summary: dict[str, int] = {}
            for s in r.suppressed:
                summary[s.get("kind", "primary")] = summary.get(s.get("kind", "primary"), 0) + 1
            gone = {str(x.get("cell")) for x in r.suppressed}
            # flags describe released rows only: "zero cell" of a withheld row would say what
            # the withheld value is
            r.comments = [c for c in r.comments
                          if not any(c.startswith(f"{g}:") or c.startswith(f"row {g}:")
                                     or c.startswith(f"cell {g}/") for g in gone)]
            results[name] = {
                "uid": name, "status": r.status, "type": r.kind,
                "properties": _public_properties(r, self.rules),
                "files": [{"name": f, "sdc": {"summary": summary}} for f in r.files],
                "outcome": {"suppressed": r.suppressed, "flags": r.comments},
                "sdc": {"summary": summary, "rules": r.rules},
                "summary": f"{r.status}; " + "; ".join(f"{k}: {v} cells" for k, v in summary.items()),
                "comments": r.comments,
                "rules": r.rules,
                "suppressed": r.suppressed,
            }
        from crimcareer import __version__ as version

        return {
            "version": version,
            "tool": {"name": "crimcareer", "version": version},
            "profile": asdict(self.rules),
            "legend": {"empty cell": "withheld by the disclosure rules; the reason is in the "
                                     f"'{SUPPRESSED}' column and under results.<output>.suppressed"},
            "results": results,
            "scalars": self._scalars,
            "ledger": {**self.ledger.to_json(), "protection": self.rules.protection},
        }

    # -- membership ---------------------------------------------------------------------------
    def pin_public(self, ref: Ref) -> None:
        """A count that is public (a cohort group's size): never withheld to protect others."""
        self._public.add(ref)

    @staticmethod
    def _check_members(name: str, members: Members | None, n_rows: int,
                       required: Sequence[str]) -> None:
        if members is None:
            return
        missing = [c for c in required if c not in members]
        if missing:
            raise ValueError(f"{name!r}: members= lacks count columns {missing} "
                             f"(given: {sorted(members)})")
        bad = {c: len(v) for c, v in members.items() if len(v) != n_rows}
        if bad:
            raise ValueError(f"{name!r}: members= needs one id collection per row ({n_rows} "
                             f"rows), got {bad}")

    def _codes(self, ref: Ref, ids: Any, value: Any) -> np.ndarray:
        codes = self.persons.codes([] if ids is None else list(ids))
        if not pd.isna(value) and len(codes) != round(float(value)):
            raise ValueError(f"{ref_str(ref)}: {len(codes)} persons given for a count of "
                             f"{float(value):g} (a count must count distinct persons)")
        return codes

    def _register_row(self, name: str, key: str, pos: int, members: Members, row: pd.Series,
                      base: int) -> None:
        """Register the persons of one proportions row (n, N, N-n and extra count columns);
        a row whose ids are None is left to declared relations (e.g. a population-wide pool)."""
        if any(per_row[pos] is None for per_row in members.values()):
            return
        unit = f"{name}\x00{key}"
        codes = {}
        for col, per_row in members.items():
            ref = (name, key, col)
            codes[col] = self._codes(ref, per_row[pos], row.get(col, np.nan))
            self._members[ref] = codes[col]
            if col not in ("n", "N") and ref not in self.ledger.cells:
                val = float(len(codes[col]))
                shown = float(rounded(val, base)) if base else val
                self.ledger.add(Cell(ref, val, shown, base / 2 if base else 0.0, 0.0, unit=unit))
        self._members[(name, key, "N-n")] = np.setdiff1d(codes["N"], codes["n"],
                                                          assume_unique=True)

    def _cost(self, ref: Ref, value: float) -> float:
        if ref in self._public:
            return np.inf
        cost = 1.0 + abs(value)
        if ref[:2] in self._headline:
            cost *= HEADLINE_WEIGHT
        if ref[0] != self._current:
            cost *= 1000.0  # an output already handed to a step: only as a last resort
        return cost

    def _count_cells(self) -> list[CountCell]:
        cells = []
        for ref, m in self._members.items():
            c = self.ledger.cells.get(ref)
            if c is None:
                if ref[2] == "N-n" and ref in self._bound:  # a hidden complement with a reason
                    cells.append(CountCell(ref, m, None, 0.0, self._bound[ref], np.inf))
                continue
            if c.hidden and ref not in self._bound:
                continue
            bound = self._bound.get(ref) if c.released is None else None
            cells.append(CountCell(ref, m, c.released, c.halfwidth, bound,
                                   self._cost(ref, c.value)))
        for ref, cc in self._curve_cells.items():
            cells.append(CountCell(ref, cc["members"], float(len(cc["members"]))
                                   if cc["released"] else None, 0.0, None,
                                   1.0 if ref[0] == self._current else 1000.0))
        return cells

    def membership_failures(self) -> tuple[list[CountFailure], list[SumFailure], list[CountCell]]:
        """What an attacker could derive from everything released so far (counts and sums)."""
        cells = self._count_cells()
        k = self.rules.min_persons
        names = [ref_str(c.ref) for c in cells]
        rels = self._structural_relations(cells)
        focus = None if not self._current else [
            i for i, c in enumerate(cells) if c.ref[0] == self._current]
        counts = audit_counts(cells, len(self.persons), k, describe=lambda i: names[i],
                              relations=rels, focus=focus, memo=self._memo)
        sums = list(self._sums.values())
        if self._current:  # only variables the output just released sums (all at finalise)
            touched = {c.variable for c in sums if c.ref[0] == self._current}
            sums = [c for c in sums if c.variable in touched]
        for c in sums:  # withhold the mean over fewer persons, of the newest output, first
            c.cost = (1.0 + len(c.members)) * (1.0 if c.ref[0] == self._current else 1000.0)
        snames = [ref_str(c.ref) for c in sums]
        sum_fails = audit_sums(sums, len(self.persons), lambda v: magnitude_reason(v, self.rules),
                               describe=lambda i: snames[i])
        for f in sum_fails:  # suspects as references
            f.refs = [sums[i].ref for i in f.suspects]
        for f in counts:
            f.refs = [cells[i].ref for i in f.suspects]
        return counts, sum_fails, cells

    def _structural_relations(self, cells: list[CountCell]) -> list[tuple[dict[int, float], float]]:
        """Declared relations that membership cannot show (exact k:1 matching) but an attacker
        knows, over indices of ``cells``; relations membership implies anyway are left out."""
        at = {c.ref: i for i, c in enumerate(cells)}
        return [({at[t]: v for t, v in rel.terms.items()}, rel.rhs)
                for rel in self._structural if rel in self.ledger.relations
                if all(t in at for t in rel.terms)]

    def save_state(self, folder: str | Path) -> None:
        """Keep the membership audit's input in ``folder`` (OUT/internal, never exported) so
        that :func:`audit_output` can redo the whole audit."""
        from crimcareer.disclosure.state import save_state

        cells = self._count_cells()
        save_state(Path(folder), len(self.persons), cells, list(self._sums.values()),
                   self._structural_relations(cells), self.rules.min_persons)

    def _secure_members(self, kind: str = "secondary") -> int:
        """Withhold more cells until no atom or withheld cell can be pinned down (and no sum
        over a few persons derived); returns the number of cells withheld."""
        if not self._members and not self._sums and not self._curve_cells:
            return 0
        import time

        t0 = time.perf_counter()
        try:
            return self._secure_members_loop(kind)
        finally:
            self.audit_seconds += time.perf_counter() - t0

    def _secure_members_loop(self, kind: str) -> int:
        withheld = 0
        sums = list(self._sums.values())
        for _ in range(100):
            counts, sum_fails, cells = self.membership_failures()
            if not counts and not sum_fails:
                return withheld
            # withholding a count whose persons another released count has too changes nothing
            keys = np.random.default_rng(5).integers(1, 2**62, size=max(len(self.persons), 1))
            sig: dict[Ref, int] = {c.ref: int(keys[c.members].sum()) for c in cells
                                   if c.released is not None}
            twins = pd.Series(list(sig.values())).value_counts()
            useless = {r for r, h in sig.items() if twins[h] > 1}
            chosen: list[Ref] = []
            twins_too: list[Ref] = []
            for f in [*counts, *sum_fails]:
                refs = list(f.refs)
                refs = [r for r in refs if r not in self._public and self._is_released(r)]
                useful = [r for r in refs if r not in useless]
                self.audit_log.append({"protects": f.what, "why": f.why,
                                       "withheld": ref_str((useful or refs)[0]) if refs else None})
                if useful:
                    chosen.append(useful[0])
                elif refs:  # only counts with a twin bind: withhold one with all its twins
                    twins_too.append(refs[0])
            if not chosen and twins_too:
                chosen = [r for r in sig if sig[r] in {sig[t] for t in twins_too}
                          and r not in self._public]
            chosen = list(dict.fromkeys(chosen))
            if not chosen and self._drop_reasons([*counts, *sum_fails]):
                continue
            if not chosen:  # nothing left to withhold: refuse the current output
                chosen = [r for r, c in self.ledger.cells.items()
                          if r[0] == self._current and not c.suppressed and not c.hidden]
                chosen += [r for r, c in self._curve_cells.items()
                           if r[0] == self._current and c["released"]]
                chosen += [r for r, c in self._sums.items() if r[0] == self._current and c.released]
                if not chosen:
                    raise RuntimeError("disclosure audit: a failure no withholding can fix: "
                                       + "; ".join(f"{f.what}: {f.why}"
                                                   for f in [*counts, *sum_fails][:3]))
            for r in chosen:
                self._withhold_any(r, "secondary suppression (protects other cells)",
                                   kind if r[0] == self._current else "ledger")
                withheld += 1
        raise RuntimeError("disclosure audit did not converge")

    def _drop_reasons(self, fails: list | None = None) -> bool:
        """Last resort when public numbers and stated reasons alone pin a few persons down
        (a public group of 12 and "fewer than 10 with the trait" bound the rest): the current
        output's reasons no longer say which count was small. True if any reason changed."""
        if self._current:
            hit = [r for r in self._bound if r[0] == self._current]
        else:  # the final audit: the reasons named by the failures (else every reason)
            text = " ".join(f.what for f in fails or [])
            hit = [r for r in self._bound if ref_str(r) in text] or list(self._bound)
        for r in hit:
            del self._bound[r]
            c = self.ledger.cells.get(r)
            if c is not None:
                c.reason = GENERIC_REASON
            idx = self._rows.get(r[0], {}).get(r[1])
            df = self.tables.get(r[0])
            if idx is not None and df is not None and SUPPRESSED in df.columns:
                df.at[idx, SUPPRESSED] = GENERIC_REASON
            rec = self.records.get(r[0])
            for srec in rec.suppressed if rec else []:
                if srec.get("cell") == r[1]:
                    srec["reason"] = GENERIC_REASON
        return bool(hit)

    def _is_released(self, ref: Ref) -> bool:
        if ref in self._curve_cells:
            return self._curve_cells[ref]["released"]
        if ref in self._sums:
            return self._sums[ref].released
        c = self.ledger.cells.get(ref)
        return c is not None and not c.suppressed and not c.hidden

    def _withhold_any(self, ref: Ref, reason: str, kind: str) -> None:
        """Withhold a ledger cell, a curve point or a magnitudes row."""
        if ref in self._curve_cells:
            cc = self._curve_cells[ref]
            self._withhold_curve_point(ref[0], cc["row"], reason, kind)
        elif ref in self._sums:
            self._withhold_magnitude_row(ref[0], ref[1], reason, kind)
        else:
            self._withhold(ref, reason, kind)

    def _withhold_curve_point(self, name: str, row: Any, reason: str, kind: str) -> None:
        """Take a point out of a released curve (in place: the caller holds the same frame);
        the curve steps from the previous to the next point instead."""
        for r, cc in self._curve_cells.items():
            if r[0] == name and cc["row"] == row:
                cc["released"] = False
        df = self.tables.get(name)
        if df is not None and row in df.index:
            df.drop(index=row, inplace=True)
        rec = self.records.get(name)
        if rec is not None:
            rec.suppressed.append({"cell": str(row), "column": "point", "reason": reason,
                                   "kind": kind})

    def _withhold_magnitude_row(self, name: str, key: str, reason: str, kind: str) -> None:
        sc = self._sums.get((name, key, "sum"))
        if sc is None or not sc.released:
            return
        sc.released = False
        for r, c in self.ledger.cells.items():
            if r[0] == name and r[1] == key and not c.suppressed:
                c.released, c.reason, c.kind = None, reason, kind
        idx = self._rows.get(name, {}).get(key)
        if idx is not None:
            self._blank_row(name, idx, reason)
        rec = self.records.get(name)
        if rec is not None:
            rec.suppressed.append({"cell": key, "column": "row", "reason": reason, "kind": kind})

    # -- internals --------------------------------------------------------------------------
    def _new(self, name: str) -> None:
        if name in self.records:
            raise ValueError(f"output {name!r} released twice")

    @staticmethod
    def _key_cols(df: pd.DataFrame, key_cols: Sequence[str] | None) -> list[str]:
        if key_cols is not None:
            return list(key_cols)
        return [c for c in df.columns if c != SUPPRESSED and (
            df[c].dtype == object or isinstance(df[c].dtype, pd.CategoricalDtype)
            or pd.api.types.is_string_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]))]

    def _row_keys(self, df: pd.DataFrame, key_cols: Sequence[str] | None) -> list[str]:
        cols = self._key_cols(df, key_cols)
        keys = [_key(row) for row in df[cols].itertuples(index=False)] if cols else \
            [str(i) for i in df.index]
        seen: dict[str, int] = {}
        out = []
        for k in keys:
            seen[k] = seen.get(k, 0) + 1
            out.append(k if seen[k] == 1 else f"{k}#{seen[k]}")
        return out

    def _blank_row(self, name: str, idx: Any, reason: str) -> None:
        df = self.tables.get(name)
        if df is None:
            return
        for col in self._blank_cols.get(name, []):
            df.at[idx, col] = np.nan
        prev = df.at[idx, SUPPRESSED]
        df.at[idx, SUPPRESSED] = reason if not prev else prev

    def _withhold(self, ref: Ref, reason: str, kind: str) -> None:
        """Withhold a ledger cell (with its unit) and blank it in its output frame."""
        cell = self.ledger.cells[ref]
        members = [cell] if not cell.unit else [
            c for c in self.ledger.cells.values() if c.unit == cell.unit]
        for c in members:
            if c.suppressed:
                continue
            c.released, c.reason, c.kind = None, reason, kind
        name = ref[0]
        rec = self.records.get(name)
        if rec is not None:
            rec.suppressed.append({"cell": ref[1], "column": ref[2], "reason": reason, "kind": kind})
            rec.status = "partially_suppressed" if rec.status == "pass" else rec.status
        df = self.tables.get(name)
        if df is None or rec is None:
            if rec is not None and rec.kind == "scalar":
                self._scalars[name] = None
            return
        if rec.kind == "magnitudes":
            self._withhold_magnitude_row(name, ref[1], reason, kind)
        elif rec.kind == "table":
            idx = self._rows[name][ref[1]]
            self._blank_row(name, idx, reason)
        elif rec.kind == "crosstab":
            row_col = rec.properties["row_column"]
            pos = self._rows[name][ref[1]]
            if row_col in df.columns:  # released frame (row labels as a column)
                df.loc[df.index[pos], ref[2]] = np.nan
                i = df.index[pos]
            else:
                df.at[ref[1], ref[2]] = np.nan
                i = ref[1]
            prev = df.at[i, SUPPRESSED]
            tag = f"{ref[2]}: {reason}"
            df.at[i, SUPPRESSED] = tag if not prev else f"{prev}; {tag}"

    def _secure(self, refs: list[Ref], kind: str, cost: str | None = None) -> None:
        """Withhold more cells until every protected cell linked to refs passes the LP audit."""
        U = self.rules.protection
        comp = self.ledger.component(refs)
        for _ in range(4):
            fails = self.ledger.failures(U, comp)
            if not fails:
                return
            new = self.ledger.protect(comp, U, cost or self.rules.secondary_cost)
            if not new:
                new = [r for r in comp if not self.ledger.cells[r].suppressed]
            if not new:
                return
            targets = ", ".join(ref_str(f.ref) for f in fails[:3]) + (" ..." if len(fails) > 3 else "")
            for r in new:
                k = kind if r[0] in {f.ref[0] for f in fails} else "ledger"
                self._withhold(r, f"{'secondary' if k == 'secondary' else 'ledger'} suppression: "
                                  f"protects {targets}", k)

    def _freeze(self, name: str) -> None:
        for r, c in self.ledger.cells.items():
            if r[0] == name:
                c.frozen = True

    def _record(self, name: str, kind: str, rules: list[str], suppressed: list[dict] | None = None,
                status: str | None = None, files: list[str] | None = None,
                properties: dict | None = None) -> OutputRecord:
        suppressed = suppressed or []
        rec = OutputRecord(name, kind, rules, suppressed, files or [],
                           status or ("partially_suppressed" if suppressed else "pass"),
                           properties or {})
        self.records[name] = rec
        return rec


def _thin_curve(g: pd.DataFrame, at_risk_col: str, events_col: str, k: int
                ) -> tuple[pd.DataFrame, int]:
    """Keep the points of one curve (in time order) whose events and leavers (events, censored,
    competing) since the last kept point are each 0 or >= k; the first point's at-risk count is
    withheld and kept points must lie >= k below it. Returns the kept rows and the number
    thinned out. (Censored persons alone may be fewer than k in a step: only their sum with the
    events is released, and the events only through the estimate.)"""
    r = g[at_risk_col].to_numpy(dtype=float)
    e = g[events_col].to_numpy(dtype=float)
    keep = np.zeros(len(g), dtype=bool)
    keep[0] = True
    last_r, last_e, start = r[0], e[0], r[0]
    for i in range(1, len(g)):
        de = e[i] - last_e
        left = last_r - r[i]
        if (de == 0 or de >= k) and (left == 0 or left >= k) and start - r[i] >= k:
            keep[i] = True
            last_r, last_e = r[i], e[i]
    out = g[keep].copy()
    out[at_risk_col] = out[at_risk_col].astype(float)
    out.iloc[0, out.columns.get_loc(at_risk_col)] = np.nan
    return out, int((~keep).sum())


def _thin_by_persons(g: pd.DataFrame, at_risk_col: str, time_col: str, p: pd.DataFrame,
                     k: int) -> tuple[pd.DataFrame, int]:
    """Keep the points of one curve (in time order) where, since the last kept point, the
    events, the censored and the competing events are each 0 or >= k, and the at-risk count
    lies >= k below the first point's (which is withheld). Both ways of cutting a step are
    checked: [a, b) (the at-risk counts: time >= t) and (a, b] (the estimate: time <= t); they
    differ only for persons whose time is exactly a released point's."""
    tt = np.sort(p["time"].to_numpy(dtype=float))
    st = p["status"].to_numpy()
    order = np.argsort(p["time"].to_numpy(dtype=float), kind="stable")
    st = st[order]
    cum = {s: np.concatenate([[0], np.cumsum(st == s)]) for s in (0, 1, 2)}
    times = g[time_col].to_numpy(dtype=float)
    before = np.searchsorted(tt, times, side="left")  # persons with time < t
    through = np.searchsorted(tt, times, side="right")  # persons with time <= t
    keep = np.zeros(len(g), dtype=bool)
    keep[0] = True
    last, last_through = before[0], through[0]
    start = len(tt) - before[0]
    for i in range(1, len(g)):
        diffs = [cum[s][before[i]] - cum[s][last] for s in (0, 1, 2)]
        diffs += [cum[s][through[i]] - cum[s][last_through] for s in (0, 1, 2)]
        at_risk = len(tt) - before[i]
        if all(d == 0 or d >= k for d in diffs) and start - at_risk >= k:
            keep[i] = True
            last, last_through = before[i], through[i]
    out = g[keep].copy()
    out[at_risk_col] = out[at_risk_col].astype(float)
    out.iloc[0, out.columns.get_loc(at_risk_col)] = np.nan
    return out, int((~keep).sum())


def _public_properties(rec: OutputRecord, rules: Rules) -> dict:
    """An output's properties as disclosure.json may show them: no person count that did not
    pass the gate (a model's observations and category sizes, a scalar's persons), only whether
    each rule held."""
    p = dict(rec.properties)
    k = rules.min_persons
    if rec.kind == "model":
        counts = p.pop("category_counts", {}) or {}
        n_obs, df = p.pop("n_obs", None), p.pop("df_resid", None)
        p["categories_checked"] = sorted(counts)
        p["checks"] = {"residual_df_ok": df is not None and df >= rules.min_df,
                       "observations_ok": n_obs is not None and n_obs >= k,
                       "categories_ok": all(v >= k for v in counts.values())}
    if rec.kind == "scalar":
        n = p.pop("n", None)
        p["persons_ok"] = n is not None and n >= k
    return p


def category_counts_of(design: pd.DataFrame) -> dict[str, int]:
    """Persons at the rarer value of every binary (0/1) column of a model's design frame."""
    out = {}
    for c in design.columns:
        v = pd.to_numeric(design[c], errors="coerce").dropna()
        vals = set(np.unique(v))
        if len(vals) == 2 and vals <= {0.0, 1.0}:
            out[str(c)] = int(min((v == 1).sum(), (v == 0).sum()))
    return out


# ---------------------------------------------------------------------------------------------
# re-auditing a finished output folder
# ---------------------------------------------------------------------------------------------
def audit_output(out: str | Path) -> list[Breach]:
    """Re-audit a finished output folder; every breach found (empty list: it passes)."""
    out = Path(out)
    path = out / "disclosure.json"
    if not path.exists():
        return [Breach(str(out), "*", "missing_disclosure_json", "no disclosure.json: not a crimcareer output")]
    try:
        doc = json.loads(path.read_text())
        rules = Rules(**{k: v for k, v in doc["profile"].items() if k in {f.name for f in fields(Rules)}})
        results = doc["results"]
    except (ValueError, KeyError, TypeError) as e:
        return [Breach(str(out), "*", "unreadable_disclosure_json", str(e))]
    k = rules.min_persons
    breaches: list[Breach] = []
    listed: set[str] = set()
    frames: dict[str, pd.DataFrame] = {}
    for name, res in results.items():
        files = [f["name"] if isinstance(f, dict) else f for f in res.get("files", [])]
        listed.update(files)
        for f in files:
            if not (out / f).exists():
                breaches.append(Breach(name, "*", "missing_file", f"{f} listed but absent"))
        csvs = [f for f in files if f.endswith(".csv") and (out / f).exists()]
        if csvs:
            df = pd.read_csv(out / csvs[0], dtype=str, keep_default_na=False)
            frames[name] = df
            breaches += _audit_frame(name, res, df, rules)
        if res.get("type") == "model" and res.get("status") != "suppressed":
            checks = res.get("properties", {}).get("checks", {})
            if not checks.get("residual_df_ok"):
                breaches.append(Breach(name, "*", "residual_df", f"residual df below {rules.min_df}"))
            if not checks.get("categories_ok") or not checks.get("observations_ok"):
                breaches.append(Breach(name, "*", "category_min_persons",
                                       f"a category or the model has fewer than {k} persons"))
    for sub in ("tables", "figures"):
        folder = out / sub
        if folder.exists():
            for f in sorted(folder.iterdir()):
                rel = f"{sub}/{f.name}"
                if rel not in listed:
                    breaches.append(Breach(f.stem, "*", "unlisted_output", f"{rel} not in disclosure.json"))
    breaches += _audit_ledger(doc, results, frames, rules)
    breaches += _audit_membership(out, doc, rules)
    return breaches


def _audit_membership(out: Path, doc: dict, rules: Rules) -> list[Breach]:
    """Redo the membership audit from OUT/internal (when the run kept it): every released count
    must equal its persons, and no atom or sum may be derivable (see disclosure.audit)."""
    from crimcareer.disclosure.state import load_state

    state = load_state(out / "internal")
    if state is None:
        return []
    out_b: list[Breach] = []
    released = {(c["output"], c["key"], c["column"]): c.get("released")
                for c in doc.get("ledger", {}).get("cells", [])}
    for c in state["counts"]:
        if c.released is not None and abs(len(c.members) - c.released) > c.halfwidth + 1e-9:
            out_b.append(Breach(c.ref[0], f"{c.ref[1]}.{c.ref[2]}", "membership_mismatch",
                                f"released {c.released:g} but {len(c.members)} persons"))
        if c.ref in released and released[c.ref] != c.released:
            out_b.append(Breach(c.ref[0], f"{c.ref[1]}.{c.ref[2]}", "membership_mismatch",
                                "released value differs from disclosure.json"))
    k = state["min_persons"]
    names = [ref_str(c.ref) for c in state["counts"]]
    for f in audit_counts(state["counts"], state["n_persons"], k, describe=lambda i: names[i],
                          relations=state["relations"]):
        out_b.append(Breach("membership", f.what[:200], "derivable_small_count", f.why))
    snames = [ref_str(c.ref) for c in state["sums"]]
    for f in audit_sums(state["sums"], state["n_persons"], lambda v: magnitude_reason(v, rules),
                        describe=lambda i: snames[i]):
        out_b.append(Breach("membership", f.what[:200], "derivable_sum", f.why))
    return out_b


def _num(s: str) -> float | None:
    s = s.strip()
    if s == "":
        return None
    try:
        return float(s)
    except ValueError:
        return None


def _audit_frame(name: str, res: dict, df: pd.DataFrame, rules: Rules) -> list[Breach]:
    k = rules.min_persons
    props = res.get("properties", {})
    out: list[Breach] = []
    kind = res.get("type")
    if kind == "curve":
        col = props.get("at_risk_column", "at_risk")
        if col in df.columns:
            for i, s in enumerate(df[col]):
                v = _num(s)
                if v is not None and v < k:
                    out.append(Breach(name, str(i), "curve_at_risk", f"{col}={v:g} < {k}"))
        return out
    if kind == "model" and res.get("status") == "suppressed" and len(df):
        out.append(Breach(name, "*", "suppressed_model_published", "refused model has rows"))
    key_cols = props.get("key_columns") or [props.get("row_column", "")]
    for col in props.get("count_columns", []):
        if col not in df.columns:
            continue
        for i, s in enumerate(df[col]):
            v = _num(s)
            if v is None:
                continue
            key = _key(df.loc[i, c] for c in key_cols if c in df.columns)
            if 0 < v < k:
                out.append(Breach(name, key or str(i), "min_persons", f"{col}={v:g} < {k}"))
            if v == 0 and rules.zeros == "suppress":
                out.append(Breach(name, key or str(i), "zero_cell", f"{col}=0 (profile {rules.profile})"))
    if kind == "table" and {"n", "N"} <= set(df.columns):
        for i in range(len(df)):
            n, N = _num(df.at[i, "n"]), _num(df.at[i, "N"])
            if n is not None and N is not None and 0 < N - n < k:
                out.append(Breach(name, str(i), "min_persons", f"complement N-n={N - n:g} < {k}"))
            if (n is None) != (N is None):
                out.append(Breach(name, str(i), "partial_row", "n or N published without the other"))
            if n is None and N is None:
                for c in props.get("estimate_columns", []):
                    if c in df.columns and df.at[i, c].strip() != "":
                        out.append(Breach(name, str(i), "estimate_without_counts",
                                          f"{c} published for a withheld row"))
    return out


def _audit_ledger(doc: dict, results: dict, frames: dict[str, pd.DataFrame],
                  rules: Rules) -> list[Breach]:
    led_doc = doc.get("ledger", {})
    ledger = Ledger.from_json(led_doc)
    protection = float(led_doc.get("protection", rules.protection))
    out: list[Breach] = []
    lookups: dict[str, dict[str, int]] = {}
    for name, df in frames.items():
        p = results[name].get("properties", {})
        if p.get("layout") == "rows":
            cols = [c for c in p.get("key_columns", []) if c in df.columns]
            keys = [_key(r) for r in df[cols].itertuples(index=False)] if cols else [str(i) for i in df.index]
            seen: dict[str, int] = {}
            lk = {}
            for i, kk in enumerate(keys):
                seen[kk] = seen.get(kk, 0) + 1
                lk[kk if seen[kk] == 1 else f"{kk}#{seen[kk]}"] = i
            lookups[name] = lk
        elif p.get("layout") == "wide" and p.get("row_column") in df.columns:
            lookups[name] = {str(v): i for i, v in enumerate(df[p["row_column"]])}
    for ref, cell in ledger.cells.items():
        if cell.hidden:
            continue
        name, key, col = ref
        if name in frames:
            df = frames[name]
            i = lookups.get(name, {}).get(key)
            if i is None or col not in df.columns:
                out.append(Breach(name, key, "ledger_cell_missing", f"{col} not found in the CSV"))
                continue
            v = _num(df.at[i, col])
            if cell.suppressed and v is not None:
                out.append(Breach(name, key, "suppressed_cell_published",
                                  f"{col}={v:g} was withheld ({cell.reason})"))
            elif not cell.suppressed and (v is None or abs(v - cell.released) > 1e-6):
                out.append(Breach(name, key, "ledger_mismatch",
                                  f"{col}={v} in the CSV but {cell.released} in the ledger"))
        elif name in doc.get("scalars", {}):
            v = doc["scalars"][name]
            if cell.suppressed and v is not None:
                out.append(Breach(name, key, "suppressed_cell_published", f"scalar {v} was withheld"))
    try:
        for f in ledger.failures(protection, know_values=False):
            out.append(Breach(f.ref[0], f"{f.ref[1]}.{f.ref[2]}", "ledger_interval", f.why))
    except RuntimeError as e:
        out.append(Breach("ledger", "*", "ledger_inconsistent", str(e)))
    return out


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if np.isnan(o) else float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    return str(o)
