"""The attacker's view of everything released, derived from membership (no declared relations).

Counts. Every released count is the sum of its atoms (:mod:`crimcareer.disclosure.membership`);
a rounded count is an interval; a cell withheld for a threshold reason is known, from the reason
itself, to lie in the range the reason implies ("fewer than 10 persons": 1-9). The unknowns are
the atom sizes (>= 0). An attacker who knows all that (and even which combinations of cells are
non-empty, since the atoms are the true ones) learns, for any atom or withheld cell, the interval
between its smallest and largest feasible value (linear programmes, scipy ``linprog``/HiGHS).
A release fails when, for some atom of 1 to k-1 persons:

- its largest feasible size is below ``k`` (the attacker can show "at most k-1 persons have this
  combination"; any union of atoms pinned to a small number makes each of its atoms fail), or
  below the bound a reason already states for a withheld cell holding it; or
- its smallest feasible size is 1 or more (the attacker can show the combination is not empty),
  unless the atom is itself a withheld cell whose reason says so;

or when a withheld cell is narrowed beyond what its reason says. Failures come with *suspects*:
the released cells whose constraints bind the attacker's bound (LP duals), cheapest first.

Sums. Released sums and means (n x mean) of one variable are linear in the atoms' sums. An
atom's or a difference's sum is derivable when its indicator lies in the row space of the
released cells (checked against the null space); a derivable sum over persons that fail the
magnitude rules (fewer than k persons, p%, dominance) is a failure.

The LPs are over the reals, so intervals are at least as wide as over integers; :func:`exact_bounds`
gives the integer bounds (``milp``) for small systems, used by the tests' brute-force attacker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
from scipy import sparse
from scipy.linalg import null_space
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from crimcareer.disclosure.membership import Atoms, atoms_of

TOL = 1e-6


@dataclass
class CountCell:
    """A count the gate released or withheld, with the persons it counts."""

    ref: tuple
    members: np.ndarray
    released: float | None  # None: withheld
    halfwidth: float = 0.0  # rounding: the true value is within released +- halfwidth
    bound: tuple[float, float] | None = None  # what the reason says of a withheld value
    cost: float = 1.0  # price of withholding it (inf: public, never withheld)


@dataclass
class CountFailure:
    """An atom or withheld cell the attacker can pin down too closely."""

    what: str  # description of the atom (its cells) or the withheld cell
    value: int
    lo: float
    hi: float
    why: str
    suspects: list[int] = field(default_factory=list)  # indices of released cells, cheapest first


@dataclass
class _Target:
    vec: np.ndarray  # atom indices (within the component)
    value: int
    need_hi: float  # the attacker's max must reach this
    allow_lo: float  # the attacker's min must not exceed this
    what: str
    lo: float = 0.0
    hi: float = np.inf
    ok_hi: bool = False
    ok_lo: bool = False
    duals_hi: np.ndarray | None = None
    duals_lo: np.ndarray | None = None


Relation = tuple[dict[int, float], float]  # {cell index: coefficient}, right-hand side


def audit_counts(cells: Sequence[CountCell], n_persons: int, k: int,
                 describe: Callable[[int], str] = str, atoms: Atoms | None = None,
                 relations: Sequence[Relation] = ()) -> list[CountFailure]:
    """Every atom of 1..k-1 persons and every reason-bounded withheld cell the released counts
    pin down too closely (see the module doc). ``relations``: linear equalities between cells
    that membership cannot show but an attacker knows (exact k:1 matching: a control group's
    count of men is k times the offenders')."""
    if not cells:
        return []
    atoms = atoms or atoms_of([c.members for c in cells], n_persons)
    inc = atoms.incidence
    # relations link components: give them a row of all their cells' atoms for the labelling
    link = [sparse.csr_matrix(inc[list(terms)].sum(axis=0) > 0, dtype=float)
            for terms, _ in relations if terms]
    if link:
        linked = Atoms(atoms.of_person, atoms.size, sparse.vstack([inc, *link]).tocsr())
        n_comp, atom_lab, cell_lab = linked.components()
        cell_lab = cell_lab[: inc.shape[0]]
    else:
        n_comp, atom_lab, cell_lab = atoms.components()
    fails: list[CountFailure] = []
    for comp in range(n_comp):
        a_idx = np.flatnonzero(atom_lab == comp)
        c_idx = np.flatnonzero(cell_lab == comp)
        pos = {int(c): i for i, c in enumerate(c_idx)}
        rels = [({pos[c]: v for c, v in terms.items()}, rhs) for terms, rhs in relations
                if terms and all(c in pos for c in terms)]
        fails += _audit_component(cells, atoms, inc[c_idx][:, a_idx].tocsr(), a_idx, c_idx, k,
                                  describe, rels)
    return fails


def _audit_component(cells, atoms: Atoms, M: sparse.csr_matrix, a_idx: np.ndarray,
                     c_idx: np.ndarray, k: int, describe, rels: Sequence[Relation] = ()
                     ) -> list[CountFailure]:
    size = atoms.size[a_idx]
    n_a = len(a_idx)
    comp_cells = [cells[i] for i in c_idx]
    released = np.array([c.released is not None for c in comp_cells])
    bounded = np.array([c.released is None and c.bound is not None for c in comp_cells])
    # reason bounds per atom (from withheld cells holding it) and atoms that are a whole cell
    hi0 = np.full(n_a, np.inf)
    lo0 = np.zeros(n_a)
    for j in np.flatnonzero(bounded):
        row = M.indices[M.indptr[j]:M.indptr[j + 1]]
        lo_b, hi_b = comp_cells[j].bound
        hi0[row] = np.minimum(hi0[row], hi_b)
        if len(row) == 1:
            lo0[row] = np.maximum(lo0[row], lo_b)
    targets: list[_Target] = []
    Mc = M.tocsc()

    def cells_of(a: int) -> np.ndarray:
        return Mc.indices[Mc.indptr[a]:Mc.indptr[a + 1]]

    for a in np.flatnonzero((size >= 1) & (size <= k - 1)):
        cs = [int(c_idx[j]) for j in cells_of(a)]
        # inside a withheld cell whose reason already says "fewer than k", the attacker may
        # bound the atom above anyway; what must not follow is that it is non-empty
        need = float(k) if not np.isfinite(hi0[a]) else 0.0
        targets.append(_Target(np.array([a]), int(size[a]), need, lo0[a],
                               "persons in exactly " + ", ".join(describe(c) for c in cs[:6])
                               + (" ..." if len(cs) > 6 else "")))
    for j in np.flatnonzero(bounded):
        row = M.indices[M.indptr[j]:M.indptr[j + 1]]
        if len(row) > 1:
            lo_b, hi_b = comp_cells[j].bound
            # the attacker must learn (almost) nothing beyond the reason: within one person
            targets.append(_Target(row, int(size[row].sum()), max(hi_b - 1, 0.0), lo_b + 1,
                                   f"withheld {describe(int(c_idx[j]))}"))
    if not targets:
        return []
    # the attacker's system: one row per released or reason-bounded cell, lo <= M x <= hi
    rows = np.flatnonzero(released | bounded)
    row_lo = np.array([(comp_cells[j].released - comp_cells[j].halfwidth)
                       if comp_cells[j].released is not None else comp_cells[j].bound[0]
                       for j in rows], dtype=float)
    row_hi = np.array([(comp_cells[j].released + comp_cells[j].halfwidth)
                       if comp_cells[j].released is not None else comp_cells[j].bound[1]
                       for j in rows], dtype=float)
    A = M[rows]
    if rels:
        extra = sparse.vstack([sparse.csr_matrix(sum(v * M[j] for j, v in terms.items()))
                               for terms, _ in rels]).tocsr()
        A = sparse.vstack([A, extra]).tocsr()
        rhs = np.array([r for _, r in rels], dtype=float)
        row_lo, row_hi = np.concatenate([row_lo, rhs]), np.concatenate([row_hi, rhs])
    lp = _LP(A, row_lo, row_hi)
    row_cells = np.concatenate([rows, np.full(len(rels), -1)]).astype(int)

    # quick upper bounds: an atom is at most the smallest upper bound of a row holding it
    upper = np.full(n_a, np.inf)
    for j, u in zip(rows, row_hi):
        row = M.indices[M.indptr[j]:M.indptr[j + 1]]
        upper[row] = np.minimum(upper[row], u)

    solve = lp.solve

    def value_of(x: np.ndarray, t: _Target) -> float:
        return float(x[t.vec].sum())

    def duals(res) -> np.ndarray:
        return res.duals

    # -- upper side: batch LPs, then one per remaining target
    for t in targets:
        if len(t.vec) == 1 and upper[t.vec[0]] < t.need_hi - TOL:
            t.hi = upper[t.vec[0]]
    todo = [t for t in targets if not (len(t.vec) == 1 and upper[t.vec[0]] < t.need_hi - TOL)]
    for sense in ("hi", "lo"):
        pending = todo if sense == "hi" else [t for t in targets]
        for _ in range(200):  # batches: many targets satisfied by one feasible point
            if len(pending) <= 2:
                break
            obj = np.zeros(n_a)
            caps = {}
            for t in pending:
                obj[t.vec] += (-1.0 if sense == "hi" else 1.0) / max(len(t.vec), 1)
                if sense == "hi" and len(t.vec) == 1:
                    caps[int(t.vec[0])] = t.need_hi  # raise many atoms to their need, not one
            lp.cap(caps)
            res = solve(obj)
            lp.cap({})
            if res.status != "optimal":
                break
            left = []
            for t in pending:
                v = value_of(res.x, t)
                if sense == "hi" and v >= t.need_hi - TOL:
                    t.ok_hi, t.hi = True, max(t.hi if np.isfinite(t.hi) else v, v)
                elif sense == "lo" and v <= t.allow_lo + TOL:
                    t.ok_lo, t.lo = True, v
                else:
                    left.append(t)
            if len(pending) - len(left) < 3:
                pending = left
                break
            pending = left
        for t in pending:
            obj = np.zeros(n_a)
            obj[t.vec] = -1.0 if sense == "hi" else 1.0
            res = solve(obj)
            if res.status == "unbounded":
                t.ok_hi, t.hi = True, np.inf
                continue
            if res.status != "optimal":
                raise RuntimeError(f"disclosure audit LP failed ({res.message}): released counts "
                                   "contradict their membership")
            v = value_of(res.x, t)
            if sense == "hi":
                t.hi, t.ok_hi = v, v >= t.need_hi - TOL
                t.duals_hi = duals(res)
            else:
                t.lo, t.ok_lo = v, v <= t.allow_lo + TOL
                t.duals_lo = duals(res)

    out = []
    for t in targets:
        if t.ok_hi and t.ok_lo:
            continue
        why = []
        if not t.ok_hi:
            why.append(f"at most {t.hi:g} (must reach {t.need_hi:g})")
        if not t.ok_lo:
            why.append(f"at least {t.lo:g} (must be able to be {t.allow_lo:g})")
        sus: list[int] = []
        for d in (t.duals_hi if not t.ok_hi else None, t.duals_lo if not t.ok_lo else None):
            if d is not None and len(d):
                for r in np.flatnonzero(np.abs(d) > 1e-9):
                    if row_cells[r] >= 0:
                        sus.append(int(c_idx[row_cells[r]]))
        if not t.ok_hi and t.duals_hi is None:  # quick bound: the rows holding the atom
            a = t.vec[0]
            for j in cells_of(a):
                c = comp_cells[j]
                u = (c.released + c.halfwidth) if c.released is not None else np.inf
                if u < t.need_hi - TOL:
                    sus.append(int(c_idx[j]))
        sus = [s for s in dict.fromkeys(sus) if cells[s].released is not None]
        sus.sort(key=lambda s: cells[s].cost)
        out.append(CountFailure(t.what, t.value, t.lo, t.hi, "; ".join(why), sus))
    return out


@dataclass
class _Result:
    status: str  # optimal | unbounded | infeasible | other
    x: np.ndarray
    duals: np.ndarray
    message: str = ""


_BANNER_SHOWN = False


def _highs():
    """A silent HiGHS instance (the first one prints a banner to stdout at C level)."""
    import os

    import highspy

    global _BANNER_SHOWN
    if not _BANNER_SHOWN:
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _BANNER_SHOWN = True
    else:
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    return h


class _LP:
    """min c x over lo <= A x <= hi, x >= 0, re-solved for many objectives from the last basis
    (HiGHS warm start: a new objective costs a few simplex steps, not a new solve)."""

    def __init__(self, A: sparse.csr_matrix, lo: np.ndarray, hi: np.ndarray) -> None:
        import highspy

        self.n = A.shape[1]
        self.h = _highs()
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = self.n, A.shape[0]
        lp.col_cost_ = np.zeros(self.n)
        lp.col_lower_ = np.zeros(self.n)
        lp.col_upper_ = np.full(self.n, highspy.kHighsInf)
        lp.row_lower_ = np.asarray(lo, dtype=float)
        lp.row_upper_ = np.asarray(hi, dtype=float)
        A = A.tocsr()
        lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
        lp.a_matrix_.start_ = A.indptr.astype(np.int32)
        lp.a_matrix_.index_ = A.indices.astype(np.int32)
        lp.a_matrix_.value_ = A.data.astype(float)
        self.h.passModel(lp)
        self._cols = np.arange(self.n, dtype=np.int32)
        self._status = highspy.HighsModelStatus

    def cap(self, caps: dict[int, float]) -> None:
        """Upper bounds on some columns (the rest: none); {} lifts every cap."""
        import highspy

        ub = np.full(self.n, highspy.kHighsInf)
        for j, v in caps.items():
            ub[j] = v
        if not caps and not getattr(self, "_capped", False):
            return
        self.h.changeColsBounds(self.n, self._cols, np.zeros(self.n), ub)
        self._capped = bool(caps)

    def solve(self, obj: np.ndarray) -> _Result:
        h = self.h
        h.changeColsCost(self.n, self._cols, np.asarray(obj, dtype=float))
        h.run()
        st = h.getModelStatus()
        S = self._status
        status = ("optimal" if st == S.kOptimal else "unbounded" if st in (
            S.kUnbounded, S.kUnboundedOrInfeasible) else "infeasible" if st == S.kInfeasible
            else "other")
        sol = h.getSolution()
        return _Result(status, np.asarray(sol.col_value), np.asarray(sol.row_dual),
                       h.modelStatusToString(st))


# -- sums -----------------------------------------------------------------------------------------
@dataclass
class SumCell:
    """A released (or withheld) sum or mean of one variable over persons."""

    ref: tuple
    variable: str
    members: np.ndarray
    values: np.ndarray  # aligned with members
    released: bool
    cost: float = 1.0


@dataclass
class SumFailure:
    what: str
    persons: int
    why: str
    suspects: list[int] = field(default_factory=list)


def audit_sums(cells: Sequence[SumCell], n_persons: int,
               reason: Callable[[np.ndarray], str], describe: Callable[[int], str] = str
               ) -> list[SumFailure]:
    """Derivable sums (atoms and differences of two released sums) over persons whose values
    fail the magnitude rules ``reason`` (empty string: passes)."""
    out: list[SumFailure] = []
    by_var: dict[str, list[int]] = {}
    for i, c in enumerate(cells):
        if c.released:
            by_var.setdefault(c.variable, []).append(i)
    for var, idx in by_var.items():
        if len(idx) < 2:
            continue
        members = [cells[i].members for i in idx]
        value = np.full(n_persons, np.nan)
        for i in idx:
            value[cells[i].members] = cells[i].values
        at = atoms_of(members, n_persons, seed=7)
        M = at.incidence.toarray()  # released sums of one variable: small (cells x atoms)
        ns = null_space(M) if M.shape[1] > 0 else np.zeros((0, 0))

        def derivable(vec: np.ndarray) -> bool:
            return ns.size == 0 or np.abs(vec @ ns).max() < 1e-8

        cands: list[tuple[np.ndarray, str, list[int]]] = []
        for a in range(at.n_atoms):
            v = np.zeros(at.n_atoms)
            v[a] = 1.0
            cs = [idx[j] for j in np.flatnonzero(M[:, a])]
            cands.append((v, "persons in exactly " + ", ".join(describe(c) for c in cs[:4]), cs))
        for p in range(len(idx)):
            for q in range(len(idx)):
                if p != q and (M[p] * M[q]).any():
                    v = np.clip(M[p] - M[q], 0, None)
                    if v.any() and not (v == M[p]).all():
                        cands.append((v, f"{describe(idx[p])} minus {describe(idx[q])}",
                                      [idx[p], idx[q]]))
        seen: set[bytes] = set()
        for v, what, cs in cands:
            key = v.tobytes()
            if key in seen or not derivable(v):
                continue
            seen.add(key)
            persons = np.flatnonzero(np.isin(at.of_person, np.flatnonzero(v > 0.5)))
            why = reason(value[persons])
            if why:
                sus = sorted(set(cs), key=lambda s: cells[s].cost)
                out.append(SumFailure(f"sum of {var} over {what}", len(persons), why, sus))
    return out


# -- exact (integer) bounds for small systems ---------------------------------------------------
def exact_bounds(A_eq: np.ndarray, b_eq: np.ndarray, target: np.ndarray,
                 lo: np.ndarray | None = None, hi: np.ndarray | None = None
                 ) -> tuple[float, float]:
    """Integer min and max of ``target @ x`` over x >= 0 integer with A_eq x = b_eq and
    lo <= x <= hi (milp); (nan, nan) if infeasible."""
    n = A_eq.shape[1]
    lb = np.zeros(n) if lo is None else lo
    ub = np.full(n, np.inf) if hi is None else hi
    out = []
    for s in (1.0, -1.0):
        res = milp(s * target, integrality=np.ones(n), bounds=Bounds(lb, ub),
                   constraints=LinearConstraint(A_eq, b_eq, b_eq) if len(b_eq) else (),
                   options={"disp": False})
        if res.status == 3 or (res.x is None and s < 0):
            out.append(np.inf if s < 0 else np.nan)
        elif res.x is None:
            return (np.nan, np.nan)
        else:
            out.append(s * res.fun)
    return out[0], out[1]
