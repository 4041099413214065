"""The audit's fast paths against the slow, obvious ones: the nested LP (cells as unions of
cells) against one row per cell, and the memo of safe targets against auditing from scratch."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import sparse
from scipy.optimize import linprog

from crimcareer.disclosure import audit
from crimcareer.disclosure.audit import AuditMemo, CountCell, _LP, _nested_rows, audit_counts


def _family(rng: np.random.Generator, n_persons: int, n_tables: int):
    """Random tables over one population: each a partition of a random subgroup into 2-4
    categories, with its total; cells nest (categories in totals) and cross (tables)."""
    cells = []
    for t in range(n_tables):
        group = np.sort(rng.choice(n_persons, size=int(rng.integers(n_persons // 3, n_persons)),
                                   replace=False))
        cells.append(group)
        cat = rng.integers(0, int(rng.integers(2, 12)), size=len(group))
        cells += [group[cat == c] for c in np.unique(cat)]
        if t:  # a crosstab of this table's first category with the previous total
            cells.append(np.intersect1d(cells[-1], cells[0]))
    return cells


@pytest.mark.parametrize("seed", range(6))
def test_nested_lp_has_the_plain_lps_optimum(seed):
    rng = np.random.default_rng(seed)
    n = 300
    members = _family(rng, n, 5)
    at = audit.atoms_of(members, n)
    M = at.incidence.tocsr().astype(float)
    truth = M @ at.size.astype(float)
    half = rng.integers(0, 3, size=M.shape[0]).astype(float)  # some rows rounded
    lo, hi = truth - half, truth + half
    parts = _nested_rows(M)
    for i, (sub, atoms) in enumerate(parts):  # each row is the disjoint union it claims
        rebuilt = np.zeros(M.shape[1])
        for j in sub:
            assert M[j].nnz < M[i].nnz or j > i  # no cycles
            rebuilt += M[j].toarray().ravel()
        rebuilt[atoms] += 1
        assert np.array_equal(rebuilt, M[i].toarray().ravel())
    plain = _LP(M, lo, hi)
    monkey = audit._NEST_MIN_NNZ
    audit._NEST_MIN_NNZ = 0
    try:
        nested = _LP(M, lo, hi, n_sets=M.shape[0])
    finally:
        audit._NEST_MIN_NNZ = monkey
    assert nested.nested and not plain.nested
    for _ in range(15):
        obj = np.zeros(M.shape[1])
        obj[rng.choice(M.shape[1], size=3, replace=False)] = rng.choice([-1.0, 1.0])
        a, b = plain.solve(obj), nested.solve(obj)
        ref = linprog(obj, A_ub=sparse.vstack([M, -M]), b_ub=np.concatenate([hi, -lo]),
                      bounds=(0, None), method="highs")
        assert a.status == b.status
        if a.status == "optimal":
            assert obj @ a.x == pytest.approx(ref.fun, abs=1e-6)
            assert obj @ b.x == pytest.approx(ref.fun, abs=1e-6)
            Mx = M @ b.x
            assert (Mx >= lo - 1e-6).all() and (Mx <= hi + 1e-6).all()
            # a row with a nonzero dual binds: it is at one of its bounds
            tight = np.minimum(np.abs(Mx - lo), np.abs(Mx - hi)) < 1e-6
            assert tight[np.abs(b.duals) > 1e-9].all()


def _release(rng, n_persons=400, n_tables=6, k=10):
    members = _family(rng, n_persons, n_tables)
    cells = []
    for i, m in enumerate(members):
        small = 1 <= len(m) <= k - 1
        cells.append(CountCell((f"t{i}", "row", "n"), m, None if small else float(len(m)),
                               bound=(1.0, k - 1.0) if small else None))
    return cells


def _summary(fails):
    return sorted((f.what, f.why) for f in fails)


@pytest.mark.parametrize("seed", range(4))
def test_nested_audit_finds_what_the_plain_audit_finds(seed, monkeypatch):
    rng = np.random.default_rng(100 + seed)
    cells = _release(rng)
    n = 400
    monkeypatch.setattr(audit, "_NEST_MIN_NNZ", 10**12)
    plain = audit_counts(cells, n, 10)
    monkeypatch.setattr(audit, "_NEST_MIN_NNZ", 0)
    nested = audit_counts(cells, n, 10)
    assert _summary(plain) == _summary(nested)


@pytest.mark.parametrize("seed", range(4))
def test_memo_gives_the_audit_from_scratch_after_withholding(seed):
    rng = np.random.default_rng(200 + seed)
    cells = _release(rng)
    n = 400
    memo = AuditMemo()
    first = audit_counts(cells, n, 10, memo=memo)
    assert _summary(first) == _summary(audit_counts(cells, n, 10))
    # withhold released cells one by one (no stated bound: the system only relaxes)
    for _ in range(5):
        released = [i for i, c in enumerate(cells) if c.released is not None]
        i = int(rng.choice(released))
        cells[i] = dataclasses.replace(cells[i], released=None)
        assert _summary(audit_counts(cells, n, 10, memo=memo)) == \
            _summary(audit_counts(cells, n, 10))


def test_memo_is_not_used_when_a_row_tightens():
    members = [np.arange(30), np.arange(15), np.arange(15, 30), np.arange(12), np.arange(12, 15)]
    cells = [CountCell((f"c{i}",), m, float(len(m)), halfwidth=10.0) for i, m in enumerate(members)]
    memo = AuditMemo()
    assert audit_counts(cells, 30, 10, memo=memo) == []
    # the same cells released exactly: an atom of 3 persons is now pinned
    exact = [dataclasses.replace(c, halfwidth=0.0) for c in cells]
    assert audit_counts(exact, 30, 10, memo=memo) == audit_counts(exact, 30, 10) != []


@pytest.mark.parametrize("seed", [302, 304, 306, 309, 310])  # 310: nothing fails
def test_two_lp_chains_find_what_one_chain_finds(seed, monkeypatch):
    """The targets split over two chains (two HiGHS instances in two threads) give the same
    verdicts and bounds as one chain, and the same suspects on every run (each chain
    warm-starts only from its own LPs, whichever thread is faster)."""
    rng = np.random.default_rng(seed)
    cells = _release(rng, n_persons=600, n_tables=8)
    n = 600
    monkeypatch.setattr(audit, "CHAIN_MIN_TARGETS", 10**9)
    one = audit_counts(cells, n, 10)
    monkeypatch.setattr(audit, "CHAIN_MIN_TARGETS", 2)
    chains = audit._chains
    split = []
    monkeypatch.setattr(audit, "_chains", lambda *a: split.append(chains(*a)) or split[-1])
    two = audit_counts(cells, n, 10)
    assert any(len(c) == 2 for c in split)
    assert _summary(one) == _summary(two)
    assert bool(one) == (seed != 310)
    again = audit_counts(cells, n, 10)
    assert [(f.what, f.suspects) for f in two] == [(f.what, f.suspects) for f in again]
