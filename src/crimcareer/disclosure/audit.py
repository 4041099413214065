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
from functools import partial
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
    what: str | Callable[[], str]  # words for a failure (made only when it fails)
    lo: float = 0.0
    hi: float = np.inf
    ok_hi: bool = False
    ok_lo: bool = False
    duals_hi: np.ndarray | None = None
    duals_lo: np.ndarray | None = None
    key: tuple = ()  # what the target is, independent of atom numbering (for AuditMemo)


@dataclass
class AuditMemo:
    """What earlier audits of the same component showed, for the gate's securing rounds.

    Withholding a count (without a reason that states a bound) only takes a row out of the
    attacker's system: every point that was feasible stays feasible, so a target shown safe
    (an atom that can reach k, or be 0) stays safe. Per component (its cells, by reference)
    the memo keeps the rows' intervals and the targets shown safe; a later audit of the same
    cells whose rows are a subset with intervals at least as wide re-solves only the rest."""

    entries: dict = field(default_factory=dict)


Relation = tuple[dict[int, float], float]  # {cell index: coefficient}, right-hand side


def audit_counts(cells: Sequence[CountCell], n_persons: int, k: int,
                 describe: Callable[[int], str] = str, atoms: Atoms | None = None,
                 relations: Sequence[Relation] = (), focus: Sequence[int] | None = None,
                 memo: AuditMemo | None = None) -> list[CountFailure]:
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
    wanted = None if focus is None else {int(cell_lab[i]) for i in focus if cell_lab[i] >= 0}
    for comp in range(n_comp):
        if wanted is not None and comp not in wanted:
            continue
        a_idx = np.flatnonzero(atom_lab == comp)
        c_idx = np.flatnonzero(cell_lab == comp)
        pos = {int(c): i for i, c in enumerate(c_idx)}
        rels = [({pos[c]: v for c, v in terms.items()}, rhs) for terms, rhs in relations
                if terms and all(c in pos for c in terms)]
        local = None if focus is None else np.flatnonzero(np.isin(c_idx, np.asarray(focus)))
        fails += _audit_component(cells, atoms, inc[c_idx][:, a_idx].tocsr(), a_idx, c_idx, k,
                                  describe, rels, local, memo)
    return fails


def _audit_component(cells, atoms: Atoms, M: sparse.csr_matrix, a_idx: np.ndarray,
                     c_idx: np.ndarray, k: int, describe, rels: Sequence[Relation] = (),
                     local: np.ndarray | None = None, memo: AuditMemo | None = None
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

    touched = np.ones(n_a, dtype=bool)
    if local is not None:  # only atoms in the cells just released (the rest: at finalise)
        touched = np.asarray(M[local].sum(axis=0)).ravel() > 0

    def atom_words(a: int) -> str:  # words only for a failure: most atoms pass
        cs = [int(c_idx[j]) for j in cells_of(a)]
        return ("persons in exactly " + ", ".join(describe(c) for c in cs[:6])
                + (" ..." if len(cs) > 6 else ""))

    for a in np.flatnonzero((size >= 1) & (size <= k - 1) & touched):
        # inside a withheld cell whose reason already says "fewer than k", the attacker may
        # bound the atom above anyway; what must not follow is that it is non-empty
        need = float(k) if not np.isfinite(hi0[a]) else 0.0
        targets.append(_Target(np.array([a]), int(size[a]), need, lo0[a],
                               partial(atom_words, int(a)),
                               key=("atom", cells_of(a).tobytes(), need, float(lo0[a]))))
    for j in np.flatnonzero(bounded):
        row = M.indices[M.indptr[j]:M.indptr[j + 1]]
        # every reason-bounded cell, also one that is a single atom: "fewer than 10" must not
        # become "exactly 1" (a released total minus its other released parts)
        if len(row) >= 1 and (local is None or j in set(local.tolist())):
            lo_b, hi_b = comp_cells[j].bound
            # the attacker must learn (almost) nothing beyond the reason: within one person
            targets.append(_Target(row, int(size[row].sum()), max(hi_b - 1, 0.0), lo_b + 1,
                                   f"withheld {describe(int(c_idx[j]))}",
                                   key=("cell", int(j), float(lo_b), float(hi_b))))
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
    comp_key = tuple(c.ref for c in comp_cells)
    intervals = {int(j): (float(a), float(b)) for j, a, b in zip(rows, row_lo, row_hi)}
    rels_key = tuple((tuple(sorted(t.items())), r) for t, r in rels)
    known = _memo_safe(memo, comp_key, intervals, rels_key)
    if known is not None and all(t.key in known for t in targets):
        return []  # every target was shown safe in a system this one relaxes
    A = M[rows]
    if rels:
        extra = sparse.vstack([sparse.csr_matrix(sum(v * M[j] for j, v in terms.items()))
                               for terms, _ in rels]).tocsr()
        A = sparse.vstack([A, extra]).tocsr()
        rhs = np.array([r for _, r in rels], dtype=float)
        row_lo, row_hi = np.concatenate([row_lo, rhs]), np.concatenate([row_hi, rhs])
    row_cells = np.concatenate([rows, np.full(len(rels), -1)]).astype(int)

    # quick upper bounds: an atom is at most the smallest upper bound of a row holding it
    upper = np.full(n_a, np.inf)
    for j, u in zip(rows, row_hi):
        row = M.indices[M.indptr[j]:M.indptr[j + 1]]
        upper[row] = np.minimum(upper[row], u)

    # targets as a matrix: one solution checks them all at once
    nt = len(targets)
    T = sparse.csr_matrix((np.ones(sum(len(t.vec) for t in targets)),
                           (np.repeat(np.arange(nt), [len(t.vec) for t in targets]),
                            np.concatenate([t.vec for t in targets]))), shape=(nt, n_a))
    b = _Bounds(nt)
    need_hi = np.array([t.need_hi for t in targets])
    b.allow_lo = np.array([t.allow_lo for t in targets])
    b.need_hi = need_hi
    single = np.array([len(t.vec) == 1 for t in targets])
    first = np.array([t.vec[0] for t in targets])
    b.quick = single & (upper[first] < need_hi - TOL)  # fails without an LP
    b.hi[b.quick] = upper[first][b.quick]
    for i, t in enumerate(targets):
        if known is not None and t.key in known:
            b.ok_hi[i] = b.ok_lo[i] = True
    # an atom's cap while its target is raised: the need (see _bound_chain), at least its size
    cap_of = [np.maximum(np.maximum(need_hi[i], size[t.vec]), 1.0) for i, t in enumerate(targets)]
    chains = _chains(targets, b, n_a)
    lps = [_LP(A, row_lo, row_hi, n_sets=len(rows))]
    lps += [lps[0].twin() for _ in chains[1:]]
    args = [(lp, T, b, targets, cap_of, sel, n_a) for lp, sel in zip(lps, chains)]
    if len(chains) == 1:
        _bound_chain(*args[0])
    else:  # HiGHS releases the GIL: the chains' LPs run on both cores
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(chains)) as ex:
            for f in [ex.submit(_bound_chain, *a) for a in args]:
                f.result()
    ok_hi, ok_lo, hi, lo, duals_hi, duals_lo = b.ok_hi, b.ok_lo, b.hi, b.lo, b.duals_hi, b.duals_lo
    for i, t in enumerate(targets):
        t.ok_hi, t.ok_lo, t.hi, t.lo = bool(ok_hi[i]), bool(ok_lo[i]), float(hi[i]), float(lo[i])
        t.duals_hi, t.duals_lo = duals_hi.get(i), duals_lo.get(i)
    if memo is not None:
        safe = set(known or ()) | {t.key for t in targets if t.ok_hi and t.ok_lo}
        memo.entries[comp_key] = (intervals, rels_key, safe)

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
        what = t.what() if callable(t.what) else t.what
        out.append(CountFailure(what, t.value, t.lo, t.hi, "; ".join(why), sus))
    return out


def _memo_safe(memo: AuditMemo | None, comp_key: tuple, intervals: dict, rels_key: tuple
               ) -> set | None:
    """The targets an earlier audit showed safe, if this system relaxes that one (its rows a
    subset, each interval at least as wide, the same relations); else None."""
    if memo is None or comp_key not in memo.entries:
        return None
    old_intervals, old_rels, safe = memo.entries[comp_key]
    if old_rels != rels_key:
        return None
    for j, (lo, hi) in intervals.items():
        old = old_intervals.get(j)
        if old is None or lo > old[0] + TOL or hi < old[1] - TOL:
            return None
    return safe


class _Bounds:
    """What the attacker's LPs showed of each target (arrays over the targets)."""

    def __init__(self, nt: int) -> None:
        self.ok_hi = np.zeros(nt, dtype=bool)
        self.ok_lo = np.zeros(nt, dtype=bool)
        self.hi = np.full(nt, np.inf)
        self.lo = np.zeros(nt)
        self.quick = np.zeros(nt, dtype=bool)
        self.need_hi = np.zeros(nt)
        self.allow_lo = np.zeros(nt)
        self.duals_hi: dict[int, np.ndarray] = {}
        self.duals_lo: dict[int, np.ndarray] = {}


CHAIN_MIN_TARGETS = 64  # a component with more targets left to solve is split over two chains


def _chains(targets: list[_Target], b: _Bounds, n_a: int) -> list[np.ndarray]:
    """The targets in one LP chain each: one chain, or two when many targets are left (each
    chain a fixed half, warm-starting only its own LPs, so the result does not depend on which
    thread runs faster). Halves by the targets' first atom, whose numbers are in hash order: an
    even mix of easy and hard targets (halves of targets ordered by their cells were slower:
    18.4 against 17.1 s over the 1M flagship's audits)."""
    open_ = np.flatnonzero(~(b.ok_hi & b.ok_lo))
    if len(open_) < CHAIN_MIN_TARGETS:
        return [np.arange(len(targets))]
    firsts = np.array([t.vec[0] for t in targets])
    order = np.argsort(firsts, kind="stable")
    half = len(order) // 2
    return [np.sort(order[:half]), np.sort(order[half:])]


def _bound_chain(lp: "_LP", T: sparse.csr_matrix, b: _Bounds, targets: list[_Target],
                 cap_of: list[np.ndarray], sel: np.ndarray, n_a: int) -> None:
    """Show each target of ``sel`` safe (the attacker's max reaches its need, its min its
    allowance) or find its bound and the duals that name the binding cells; writes ``b`` at
    ``sel`` only. Batches first (many targets raised at once), then one LP per target left."""
    Ts = T[sel]
    ok_hi, ok_lo = b.ok_hi[sel].copy(), b.ok_lo[sel].copy()
    hi, lo = b.hi[sel].copy(), b.lo[sel].copy()
    need_hi, allow_lo, quick = b.need_hi[sel], b.allow_lo[sel], b.quick[sel]
    duals_hi: dict[int, np.ndarray] = {}
    duals_lo: dict[int, np.ndarray] = {}

    def harvest(x: np.ndarray) -> np.ndarray:
        v = Ts @ x
        up = ~ok_hi & (v >= need_hi - TOL)
        ok_hi[up] = True
        hi[up] = v[up]
        dn = ~ok_lo & (v <= allow_lo + TOL)
        ok_lo[dn] = True
        lo[dn] = v[dn]
        return v

    # An atom's cap while target i is raised to its need (cap_of): the true point stays
    # feasible, and if the target's sum can reach the need it can with every atom at or below
    # the need (move from the true point towards a point that reaches it).
    for sense in ("hi", "lo"):
        todo = (~ok_hi & ~quick) if sense == "hi" else ~ok_lo
        for _ in range(200):  # batches: many targets satisfied by one feasible point
            pend = np.flatnonzero(todo & ~(ok_hi if sense == "hi" else ok_lo))
            if len(pend) <= 2:
                break
            w = np.asarray(Ts[pend].sum(axis=0)).ravel() / 1.0
            obj = -w if sense == "hi" else w
            caps: dict[int, float] = {}
            if sense == "hi":  # every raised atom capped: the batch LP stays bounded
                for i in pend:
                    t = targets[sel[i]]
                    for a, c in zip(t.vec.tolist(), cap_of[sel[i]].tolist()):
                        caps[a] = min(caps.get(a, np.inf), c)
            lp.cap(caps)  # raise many atoms to their need, not one
            res = lp.solve(obj)
            lp.cap({})
            if res.status != "optimal":
                break
            before = int((ok_hi if sense == "hi" else ok_lo)[pend].sum())
            harvest(res.x)
            if int((ok_hi if sense == "hi" else ok_lo)[pend].sum()) - before < 3:
                break
        for i in np.flatnonzero(todo):
            done = ok_hi if sense == "hi" else ok_lo
            if done[i]:
                continue  # shown by an earlier solution
            t = targets[sel[i]]
            obj = np.zeros(n_a)
            obj[t.vec] = -1.0 if sense == "hi" else 1.0
            if sense == "hi":  # stop at the need: reaching it is all the audit asks
                lp.cap(dict(zip(t.vec.tolist(), cap_of[sel[i]].tolist())))
            res = lp.solve(obj)
            if sense == "hi":
                lp.cap({})
            if res.status == "unbounded":
                ok_hi[i], hi[i] = True, np.inf
                continue
            if res.status != "optimal":
                raise RuntimeError(f"disclosure audit LP failed ({res.message}): released counts "
                                   "contradict their membership")
            v = harvest(res.x)[i]
            if sense == "hi":
                hi[i] = v
                if not ok_hi[i]:
                    duals_hi[int(sel[i])] = res.duals
            else:
                lo[i] = v
                if not ok_lo[i]:
                    duals_lo[int(sel[i])] = res.duals
    b.ok_hi[sel], b.ok_lo[sel], b.hi[sel], b.lo[sel] = ok_hi, ok_lo, hi, lo
    b.duals_hi.update(duals_hi)
    b.duals_lo.update(duals_lo)


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
    # a new objective keeps the last basis primal feasible: primal simplex from it, no presolve
    # (4x faster than the default dual simplex, measured on the flagship's 3,000-person audit)
    h.setOptionValue("presolve", "off")
    h.setOptionValue("simplex_strategy", 4)
    return h


class _LP:
    """min c x over lo <= A x <= hi, x >= 0, re-solved for many objectives from the last basis
    (HiGHS warm start: a new objective costs a few simplex steps, not a new solve).

    The first ``n_sets`` rows of ``A`` are 0/1 rows (cells as sets of atoms). Cells are often
    unions of other cells (a table's total of its rows, a group of its categories), so a dense
    row is rewritten as a variable y_c for the cell, bounded by the row's lo/hi, equal to the
    y of the cells it is the disjoint union of plus its leftover atoms (:func:`_nested_rows`).
    Same feasible set in x, about 8x fewer nonzeros on the flagship's largest component, and
    each simplex step costs less. Row duals are read from the y columns' reduced costs."""

    def __init__(self, A: sparse.csr_matrix, lo: np.ndarray, hi: np.ndarray,
                 n_sets: int = 0) -> None:
        import highspy

        A = A.tocsr()
        self.n = A.shape[1]
        self.n_rows = A.shape[0]
        lo = np.asarray(lo, dtype=float)
        hi = np.asarray(hi, dtype=float)
        self.nested = n_sets > 1 and A[:n_sets].nnz > _NEST_MIN_NNZ
        if self.nested:  # columns: atoms, then one y per set row
            B = A[:n_sets]
            parts = _nested_rows(B)
            r, c, v = [], [], []
            for i, (sub, atoms) in enumerate(parts):
                r += [i] * (1 + len(sub) + len(atoms))
                c += [self.n + i, *[self.n + j for j in sub], *atoms.tolist()]
                v += [-1.0] + [1.0] * (len(sub) + len(atoms))
            rest = A[n_sets:].tocoo()
            r += (rest.row + n_sets).tolist()
            c += rest.col.tolist()
            v += rest.data.tolist()
            A_model = sparse.csr_matrix((v, (r, c)), shape=(self.n_rows, self.n + n_sets))
            col_lo = np.concatenate([np.zeros(self.n), lo[:n_sets]])
            col_hi = np.concatenate([np.full(self.n, highspy.kHighsInf), hi[:n_sets]])
            row_lo = np.concatenate([np.zeros(n_sets), lo[n_sets:]])
            row_hi = np.concatenate([np.zeros(n_sets), hi[n_sets:]])
        else:
            A_model, row_lo, row_hi = A, lo, hi
            col_lo, col_hi = np.zeros(self.n), np.full(self.n, highspy.kHighsInf)
        self.n_sets = n_sets
        n_col = A_model.shape[1]
        self.h = _highs()
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = n_col, A_model.shape[0]
        lp.col_cost_ = np.zeros(n_col)
        lp.col_lower_ = col_lo
        lp.col_upper_ = np.where(np.isfinite(col_hi), col_hi, highspy.kHighsInf)
        lp.row_lower_ = np.where(np.isfinite(row_lo), row_lo, -highspy.kHighsInf)
        lp.row_upper_ = np.where(np.isfinite(row_hi), row_hi, highspy.kHighsInf)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
        lp.a_matrix_.start_ = A_model.indptr.astype(np.int32)
        lp.a_matrix_.index_ = A_model.indices.astype(np.int32)
        lp.a_matrix_.value_ = A_model.data.astype(float)
        self._model = lp
        self.h.passModel(lp)
        self._cols = np.arange(self.n, dtype=np.int32)
        self._capped = np.zeros(0, dtype=np.int32)  # the columns cap() bounds now
        self._status = highspy.HighsModelStatus

    def twin(self) -> "_LP":
        """The same LP in a HiGHS instance of its own (for a second chain on another thread),
        without building the model again."""
        other = object.__new__(_LP)
        other.__dict__.update(self.__dict__)
        other.h = _highs()
        other.h.passModel(self._model)
        other._capped = np.zeros(0, dtype=np.int32)
        return other

    def cap(self, caps: dict[int, float]) -> None:
        """Upper bounds on some columns (the rest: none); {} lifts every cap. Only the columns
        capped now or before are passed to HiGHS (the others keep their bounds)."""
        import highspy

        cols = np.union1d(self._capped, np.fromiter(caps, dtype=np.int32, count=len(caps)))
        if not len(cols):
            return
        ub = np.full(len(cols), highspy.kHighsInf)
        if caps:
            ub[np.searchsorted(cols, list(caps))] = list(caps.values())
        self.h.changeColsBounds(len(cols), cols, np.zeros(len(cols)), ub)
        self._capped = np.fromiter(caps, dtype=np.int32, count=len(caps))

    def solve(self, obj: np.ndarray) -> _Result:
        h = self.h
        h.changeColsCost(self.n, self._cols, np.asarray(obj, dtype=float))
        h.run()
        st = h.getModelStatus()
        S = self._status
        if st not in (S.kOptimal, S.kUnbounded, S.kUnboundedOrInfeasible):
            # a warm start can end in a false "infeasible" (seen with HiGHS 1.16's primal
            # simplex after bound changes): solve again from scratch before believing it
            h.clearSolver()
            h.run()
            st = h.getModelStatus()
        status = ("optimal" if st == S.kOptimal else "unbounded" if st in (
            S.kUnbounded, S.kUnboundedOrInfeasible) else "infeasible" if st == S.kInfeasible
            else "other")
        sol = h.getSolution()
        x = np.asarray(sol.col_value)
        duals = np.asarray(sol.row_dual)
        if self.nested:  # a set row's dual is its y column's reduced cost
            duals = np.concatenate([np.asarray(sol.col_dual)[self.n:self.n + self.n_sets],
                                    duals[self.n_sets:]])
        return _Result(status, x[:self.n], duals, h.modelStatusToString(st))


_NEST_MIN_NNZ = 20_000  # below this a plain row-per-cell model is as fast


def _nested_rows(B: sparse.csr_matrix) -> list[tuple[list[int], np.ndarray]]:
    """For each 0/1 row of ``B``: other rows whose atom sets it is the disjoint union of
    (greedily, the largest maximal subsets first) and the atoms left over. A row uses another
    only if that row is a strict subset, or an equal set with a higher index: no cycles."""
    m = B.shape[0]
    D = (B > 0).astype(np.float32).toarray()
    size = D.sum(axis=1)
    overlap = D @ D.T  # exact in float32 below 2**24 atoms
    idx = np.arange(m)
    sub = (overlap == size[None, :]) & ((size[None, :] < size[:, None])
                                        | (idx[None, :] > idx[:, None]))
    np.fill_diagonal(sub, False)
    S = sub.astype(np.float32)
    inner = (S @ S) > 0  # j lies inside some other subset l of i: only maximal ones are tried
    maximal = sub & ~inner
    order = np.argsort(-size, kind="stable")
    rank = np.empty(m, dtype=int)
    rank[order] = np.arange(m)
    out = []
    for i in range(m):
        cand = np.flatnonzero(maximal[i])
        left = D[i] > 0
        parts: list[int] = []
        for j in cand[np.argsort(rank[cand])]:
            row = D[j] > 0
            if not (row & ~left).any():
                left &= ~row
                parts.append(int(j))
        out.append((parts, np.flatnonzero(left)))
    return out


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
