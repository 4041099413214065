"""The release ledger: every released count, the linear relations between them, and the LP audit.

A ledger cell is one number a run released or withheld (a table cell, a margin, a group size, a
hidden complement ``N - n``), addressed by a :data:`Ref` ``(output, key, column)``. Relations are
linear equalities between cells (a margin is the sum of its cells; an exact k:1 matching makes a
control count k times the offender count; two tables show the same group size).

Two questions are asked of the ledger, both as linear programmes over the cells of one connected
component (cells linked by relations):

- :meth:`Ledger.interval`: the smallest and largest value of a cell consistent with everything
  released, every relation and non-negativity (scipy ``linprog``/HiGHS). This is what an attacker
  can learn; a withheld cell is protected when this interval is wide enough.
- :meth:`Ledger.protect`: which further cells to withhold, at least total cost, so that every
  protected cell's interval reaches ``protection`` above its value and ``min(value, protection)``
  below it (the Fischetti-Salazar formulation of secondary cell suppression as a mixed-integer
  programme, scipy ``milp``/HiGHS). Written here rather than taken from a library because
  tau-argus / sdcTable need R or Java and no Python package solves it over cross-table relations.

Both are relaxations over the reals (an attacker may also use integrality), so intervals are at
least as wide as with integers; the protection margin is chosen with that in mind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

Ref = tuple[str, str, str]  # (output name, cell key, column)
TOL = 1e-6


def ref_str(ref: Ref) -> str:
    """A readable form of a cell reference: ``output[key].column``."""
    return f"{ref[0]}[{ref[1]}].{ref[2]}"


@dataclass
class Cell:
    """One number in the ledger; ``value`` is the true value and is never written out."""

    ref: Ref
    value: float
    released: float | None = None  # the published value (None: withheld)
    halfwidth: float = 0.0  # rounding: the true value lies within released +- halfwidth
    lower: float | None = 0.0  # None: may be negative
    hidden: bool = False  # never published (e.g. a complement N - n)
    protect: bool = False  # a primary-suppressed cell whose interval must stay wide
    reason: str = ""
    kind: str = ""  # primary | secondary | ledger | hidden | ""
    unit: str = ""  # cells with the same unit are withheld together (a proportions row)
    frozen: bool = False  # already handed to a caller: suppress only if nothing else works
    weight: float = 1.0  # price factor for secondary suppression (a headline figure: more)

    @property
    def suppressed(self) -> bool:
        return self.released is None


@dataclass
class Relation:
    """A linear equality sum(coef * cell) == rhs between ledger cells."""

    terms: dict[Ref, float]
    rhs: float = 0.0
    why: str = ""


@dataclass
class Failure:
    """A protected cell whose feasible interval is too narrow."""

    ref: Ref
    lo: float
    hi: float
    value: float | None
    why: str = ""


@dataclass
class Ledger:
    """All released numbers of a run and the relations known between them."""

    cells: dict[Ref, Cell] = field(default_factory=dict)
    relations: list[Relation] = field(default_factory=list)
    pending: list[Relation] = field(default_factory=list)
    rejected: list[Relation] = field(default_factory=list)  # declared but false: ignored

    # -- building -------------------------------------------------------------------------------
    def add(self, cell: Cell) -> None:
        """Add a cell; activates pending relations whose cells now all exist."""
        if cell.ref in self.cells:
            raise ValueError(f"ledger cell {ref_str(cell.ref)} added twice")
        self.cells[cell.ref] = cell

    def relate(self, terms: Mapping[Ref, float], rhs: float = 0.0, why: str = "") -> Relation:
        """Declare sum(coef * cell) == rhs; waits in ``pending`` until every cell exists."""
        rel = Relation({tuple(r): float(c) for r, c in terms.items() if c != 0}, float(rhs), why)
        if all(r in self.cells for r in rel.terms):
            self._accept(rel)
        else:
            self.pending.append(rel)
        return rel

    def activate_pending(self) -> list[Relation]:
        """Move pending relations whose cells all exist now into ``relations``; return them."""
        ready = [r for r in self.pending if all(t in self.cells for t in r.terms)]
        self.pending = [r for r in self.pending if r not in ready]
        return [r for r in ready if self._accept(r)]

    def holds(self, rel: Relation) -> bool:
        """Whether the true values satisfy a relation (a wrong declaration would make the LP
        infeasible or, worse, narrow intervals with a falsehood)."""
        vals = [c * self.cells[t].value for t, c in rel.terms.items()]
        return abs(sum(vals) - rel.rhs) <= 1e-6 * (1.0 + sum(abs(v) for v in vals))

    def _accept(self, rel: Relation) -> bool:
        if self.holds(rel):
            self.relations.append(rel)
            return True
        self.rejected.append(rel)
        return False

    # -- structure ------------------------------------------------------------------------------
    def component(self, refs: Iterable[Ref]) -> list[Ref]:
        """All cells linked to ``refs`` through relations (in ledger order)."""
        adj = self._adjacency()
        seen: set[Ref] = set()
        stack = [r for r in refs if r in self.cells]
        while stack:
            r = stack.pop()
            if r in seen:
                continue
            seen.add(r)
            stack.extend(adj.get(r, set()) - seen)
        if len(seen) == 1:
            return list(seen)
        return [r for r in self.cells if r in seen]

    def _adjacency(self) -> dict[Ref, set[Ref]]:
        # built incrementally: relations are only ever appended
        if not hasattr(self, "_adj"):
            self._adj: dict[Ref, set[Ref]] = {}
            self._adj_n = 0
        for rel in self.relations[self._adj_n:]:
            ts = list(rel.terms)
            for t in ts:
                self._adj.setdefault(t, set()).update(ts)
        self._adj_n = len(self.relations)
        return self._adj

    def _system(self, comp: list[Ref]) -> tuple[dict[Ref, int], sparse.csr_matrix, np.ndarray]:
        idx = {r: i for i, r in enumerate(comp)}
        adj_rels: list[Relation] = []
        seen_ids: set[int] = set()
        by_cell = self._relations_by_cell()
        for r in comp:
            for rel in by_cell.get(r, ()):
                if id(rel) not in seen_ids:
                    seen_ids.add(id(rel))
                    adj_rels.append(rel)
        rows, cols, vals = [], [], []
        for k, rel in enumerate(adj_rels):
            for t, c in rel.terms.items():
                rows.append(k)
                cols.append(idx[t])
                vals.append(c)
        A = sparse.csr_matrix((vals, (rows, cols)), shape=(len(adj_rels), len(comp)))
        b = np.array([rel.rhs for rel in adj_rels], dtype=float)
        return idx, A, b

    def _relations_by_cell(self) -> dict[Ref, list[Relation]]:
        if not hasattr(self, "_by_cell"):
            self._by_cell: dict[Ref, list[Relation]] = {}
            self._by_cell_n = 0
        for rel in self.relations[self._by_cell_n:]:
            for t in rel.terms:
                self._by_cell.setdefault(t, []).append(rel)
        self._by_cell_n = len(self.relations)
        return self._by_cell

    def _bounds(self, comp: list[Ref]) -> list[tuple[float | None, float | None]]:
        out: list[tuple[float | None, float | None]] = []
        for r in comp:
            c = self.cells[r]
            if c.released is not None:
                out.append((c.released - c.halfwidth, c.released + c.halfwidth))
            else:
                out.append((c.lower, None))
        return out

    # -- the attacker's view ------------------------------------------------------------------
    def interval(self, ref: Ref) -> tuple[float, float]:
        """Min and max of a cell over all values consistent with the released ledger (LP)."""
        comp = self.component([ref])
        idx, A, b = self._system(comp)
        return self._interval_in(comp, idx, A, b, self._bounds(comp), ref)

    def _interval_in(self, comp: list[Ref], idx: dict[Ref, int], A: sparse.csr_matrix,
                     b: np.ndarray, bounds: list, ref: Ref) -> tuple[float, float]:
        if not A.shape[0]:  # a cell on its own: only its bounds
            lo, hi = bounds[idx[ref]]
            return (-np.inf if lo is None else lo), (np.inf if hi is None else hi)
        out = []
        for sign in (1.0, -1.0):
            obj = np.zeros(len(comp))
            obj[idx[ref]] = sign
            res = linprog(obj, A_eq=A, b_eq=b, bounds=bounds, method="highs")
            if res.status == 3:  # unbounded
                out.append(-np.inf if sign > 0 else np.inf)
            elif res.status != 0:
                raise RuntimeError(f"ledger LP for {ref_str(ref)} failed: {res.message} "
                                   "(released values contradict the declared relations?)")
            else:
                out.append(sign * res.fun)
        return out[0], out[1]

    def failures(self, protection: float, refs: Iterable[Ref] | None = None,
                 know_values: bool = True) -> list[Failure]:
        """Protected cells whose interval is too narrow.

        With true values (at write time): the interval must reach ``protection`` above the value
        and ``min(value - lower, protection)`` below it. Without (auditing a finished output
        folder): the interval must be at least ``protection`` wide.
        """
        todo = [r for r in (refs if refs is not None else self.cells)
                if r in self.cells and self.cells[r].protect and self.cells[r].suppressed]
        fails = []
        done: set[Ref] = set()
        for r0 in todo:
            if r0 in done:
                continue
            comp = self.component([r0])
            in_comp = set(comp)
            group = [t for t in todo if t in in_comp and t not in done]
            done.update(group)
            idx, A, b = self._system(comp)
            bounds = self._bounds(comp)
            # Shortcut: nothing released in the component and only homogeneous relations over
            # cells bounded below by 0 (or unbounded): every multiple t * (true values), t >= 0,
            # is consistent, so a withheld positive cell can be anything from 0 upwards.
            cone = (know_values and not np.any(b) and all(self.cells[x].suppressed for x in comp)
                    and all(self.cells[x].lower in (0.0, None) for x in comp))
            group = [r for r in group if not (cone and self.cells[r].value > 0
                                              and self.cells[r].lower == 0.0)]
            if len(group) > 1 and A.shape[0] and self._all_pass(comp, idx, A, b, bounds, group,
                                                                protection, know_values):
                continue
            for r in group:
                c = self.cells[r]
                lo, hi = self._interval_in(comp, idx, A, b, bounds, r)
                if know_values:
                    down = protection if c.lower is None else min(c.value - c.lower, protection)
                    ok = hi - c.value >= protection - TOL and c.value - lo >= down - TOL
                    why = (f"feasible interval [{lo:g}, {hi:g}] does not reach {protection:g} "
                           f"above and {down:g} below the true value")
                else:
                    ok = hi - lo >= protection - TOL
                    why = f"feasible interval [{lo:g}, {hi:g}] narrower than {protection:g}"
                if not ok:
                    fails.append(Failure(r, lo, hi, c.value if know_values else None, why))
        return fails

    def _all_pass(self, comp: list[Ref], idx: dict[Ref, int], A: sparse.csr_matrix, b: np.ndarray,
                  bounds: list, targets: list[Ref], U: float, know_values: bool) -> bool:
        """One feasibility LP for many targets at once (block-diagonal copies of the system,
        one pair per target: one copy reaching above, one below); True if all are protected.
        A speed-up only: when it fails, each target is solved on its own."""
        nv = len(comp)
        blocks, lb, ub, extra = [], [], [], []
        for k, t in enumerate(targets):
            c, j = self.cells[t], idx[t]
            for d in (0, 1):
                bl = [(-np.inf if lo is None else lo, np.inf if hi is None else hi) for lo, hi in bounds]
                if know_values:
                    down = U if c.lower is None else min(c.value - c.lower, U)
                    lo_j, hi_j = bl[j]
                    bl[j] = (max(lo_j, c.value + U - TOL), hi_j) if d == 0 else \
                        (lo_j, min(hi_j, c.value - down + TOL))
                    if bl[j][0] > bl[j][1]:
                        return False
                blocks.append(A)
                lb.extend(x[0] for x in bl)
                ub.extend(x[1] for x in bl)
            if not know_values:  # x_up[j] - x_dn[j] >= U
                extra.append(((2 * k) * nv + j, (2 * k + 1) * nv + j))
        A_eq = sparse.block_diag(blocks, format="csr")
        b_eq = np.tile(b, 2 * len(targets))
        A_ub = sparse.csr_matrix(
            ([-1.0, 1.0] * len(extra), ([i for i in range(len(extra)) for _ in (0, 1)],
                                         [c for pair in extra for c in pair])),
            shape=(len(extra), A_eq.shape[1])) if extra else None
        b_ub = np.full(len(extra), -U + TOL) if extra else None
        res = linprog(np.zeros(A_eq.shape[1]), A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq,
                      bounds=list(zip(lb, ub)), method="highs")
        return res.status == 0

    # -- secondary suppression ----------------------------------------------------------------
    def protect(self, refs: Iterable[Ref], protection: float, cost: str = "value",
                time_limit: float = 60.0) -> list[Ref]:
        """Withhold more cells (least total cost, MILP) until every protected cell in the
        components of ``refs`` passes :meth:`failures`; returns the newly withheld cells."""
        comp = self.component(refs)
        targets = [f.ref for f in self.failures(protection, comp)]
        if not targets:
            return []
        chosen = self._milp(comp, targets, protection, cost, time_limit)
        if chosen is not None:
            return chosen
        # no solution in time: withhold every released, unfrozen cell of the component
        return [r for r in comp if not self.cells[r].suppressed and not self.cells[r].frozen]

    def _milp(self, comp: list[Ref], targets: list[Ref], U: float, cost: str,
              time_limit: float) -> list[Ref] | None:
        idx, A, _ = self._system(comp)
        nv, nr, P = len(comp), A.shape[0], len(targets)
        cells = [self.cells[r] for r in comp]
        a = np.array([c.value for c in cells], dtype=float)
        M = float(np.abs(a).sum()) + 10.0 * U + 1.0
        # deviation bounds y = x - a: released state (s=0) and withheld state (s=1)
        lb0 = np.array([(c.released - c.halfwidth - c.value) if c.released is not None else 0.0
                        for c in cells])
        ub0 = np.array([(c.released + c.halfwidth - c.value) if c.released is not None else 0.0
                        for c in cells])
        lb1 = np.array([-(c.value - c.lower) if c.lower is not None else -M for c in cells])
        ub1 = np.full(nv, M)
        fixed = np.array([c.suppressed for c in cells])
        base = np.array([(abs(c.value) + 1.0) if cost == "value" else 1.0 for c in cells])
        base = base * np.where([c.frozen for c in cells], 1000.0, 1.0)
        base = base * np.array([c.weight for c in cells])
        nvar = nv + 2 * P * nv
        obj = np.zeros(nvar)
        obj[:nv] = np.where(fixed, 0.0, base)
        lo_b = np.full(nvar, -M - np.abs(a).max(initial=0.0))
        hi_b = np.full(nvar, M)
        lo_b[:nv] = np.where(fixed, 1.0, 0.0)
        hi_b[:nv] = 1.0
        integrality = np.zeros(nvar)
        integrality[:nv] = 1
        blocks = []
        lbs, ubs = [], []
        I = sparse.identity(nv, format="csr")
        for p, t in enumerate(targets):
            for d in (0, 1):
                off = nv + (2 * p + d) * nv
                # relations: A y = 0
                if nr:
                    blocks.append(sparse.hstack([sparse.csr_matrix((nr, off)), A,
                                                 sparse.csr_matrix((nr, nvar - off - nv))]))
                    lbs.append(np.zeros(nr))
                    ubs.append(np.zeros(nr))
                # y - (ub1 - ub0) s <= ub0 ;  y - (lb1 - lb0) s >= lb0
                for coef, lo_, hi_ in ((-(ub1 - ub0), np.full(nv, -np.inf), ub0),
                                       (-(lb1 - lb0), lb0, np.full(nv, np.inf))):
                    blocks.append(sparse.hstack([sparse.diags(coef), sparse.csr_matrix((nv, off - nv)), I,
                                                 sparse.csr_matrix((nv, nvar - off - nv))]))
                    lbs.append(lo_)
                    ubs.append(hi_)
                row = np.zeros((1, nvar))
                j = idx[t]
                row[0, off + j] = 1.0
                c = self.cells[t]
                down = U if c.lower is None else min(c.value - c.lower, U)
                blocks.append(sparse.csr_matrix(row))
                lbs.append(np.array([U if d == 0 else -np.inf]))
                ubs.append(np.array([np.inf if d == 0 else -down]))
        # cells of one unit are withheld together
        units: dict[str, list[int]] = {}
        for i, c in enumerate(cells):
            if c.unit:
                units.setdefault(c.unit, []).append(i)
        for members in units.values():
            for j in members[1:]:
                row = np.zeros((1, nvar))
                row[0, members[0]], row[0, j] = 1.0, -1.0
                blocks.append(sparse.csr_matrix(row))
                lbs.append(np.zeros(1))
                ubs.append(np.zeros(1))
        cons = LinearConstraint(sparse.vstack(blocks).tocsr(), np.concatenate(lbs), np.concatenate(ubs))
        res = milp(obj, integrality=integrality, bounds=Bounds(lo_b, hi_b), constraints=cons,
                   options={"time_limit": time_limit, "disp": False})
        if res.x is None:
            return None
        s = res.x[:nv] > 0.5
        return [comp[i] for i in range(nv) if s[i] and not fixed[i]]

    # -- serialisation ------------------------------------------------------------------------
    def to_json(self) -> dict:
        """The ledger without true values of withheld cells (for disclosure.json)."""
        return {
            "cells": [
                {"output": c.ref[0], "key": c.ref[1], "column": c.ref[2],
                 "released": c.released, "halfwidth": c.halfwidth, "lower": c.lower,
                 "status": "hidden" if c.hidden else ("suppressed" if c.suppressed else "released"),
                 "protect": c.protect, "kind": c.kind, "reason": c.reason}
                for c in self.cells.values()
            ],
            "relations": [
                {"terms": [[*r, coef] for r, coef in rel.terms.items()], "rhs": rel.rhs, "why": rel.why}
                for rel in self.relations
            ],
            "rejected_relations": [
                {"terms": [[*r, coef] for r, coef in rel.terms.items()], "rhs": rel.rhs, "why": rel.why}
                for rel in self.rejected
            ],
            "unresolved_relations": [
                {"terms": [[*r, coef] for r, coef in rel.terms.items()], "rhs": rel.rhs, "why": rel.why}
                for rel in self.pending
            ],
        }

    @classmethod
    def from_json(cls, doc: dict) -> "Ledger":
        """Rebuild a ledger from disclosure.json (withheld cells get value NaN)."""
        led = cls()
        for c in doc.get("cells", []):
            ref = (c["output"], c["key"], c["column"])
            rel = c.get("released")
            led.cells[ref] = Cell(ref, float("nan") if rel is None else float(rel),
                                  None if rel is None else float(rel), float(c.get("halfwidth", 0.0)),
                                  c.get("lower", 0.0), c.get("status") == "hidden",
                                  bool(c.get("protect")), c.get("reason", ""), c.get("kind", ""))
        for rel in doc.get("relations", []):
            led.relations.append(Relation({(t[0], t[1], t[2]): float(t[3]) for t in rel["terms"]},
                                          float(rel.get("rhs", 0.0)), rel.get("why", "")))
        return led
