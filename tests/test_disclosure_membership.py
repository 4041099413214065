"""The membership audit: atoms from person sets, the attacker's bounds, and a brute-force
attacker who enumerates every dataset consistent with what the gate released."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from crimcareer.disclosure import Gate, Rules
from crimcareer.disclosure.audit import CountCell, SumCell, audit_counts, audit_sums, exact_bounds
from crimcareer.disclosure.membership import PersonIndex, atoms_of


def test_atoms_are_persons_in_the_same_cells():
    members = [np.array([0, 1, 2, 3]), np.array([2, 3, 4]), np.array([4])]
    at = atoms_of(members, 6)
    assert at.of_person[5] == -1  # in no cell
    assert at.of_person[0] == at.of_person[1] != at.of_person[2]
    assert at.of_person[2] == at.of_person[3]
    assert sorted(at.size.tolist()) == [1, 2, 2]
    assert at.incidence.shape == (3, 3)
    assert at.incidence.sum(axis=1).A.ravel().tolist() == [2, 2, 1]


@pytest.mark.parametrize("chunk", [1, 7, 10**9])
def test_incidence_is_each_cells_atoms(chunk, monkeypatch):
    """The incidence built in chunks of memberships equals the obvious one: per cell, the
    distinct atoms of its persons (empty cells included)."""
    from crimcareer.disclosure import membership

    monkeypatch.setattr(membership, "_CHUNK", chunk)
    rng = np.random.default_rng(chunk)
    n = 500
    members = [np.unique(rng.integers(0, n, size=int(rng.integers(0, 60)))) for _ in range(40)]
    members[3] = np.zeros(0, dtype=np.int64)
    at = atoms_of(members, n)
    for i, m in enumerate(members):
        row = at.incidence.indices[at.incidence.indptr[i]:at.incidence.indptr[i + 1]]
        assert row.tolist() == sorted(set(at.of_person[m].tolist()))
    assert (at.incidence.data == 1.0).all()


def test_person_index_numbers_ids_once():
    idx = PersonIndex()
    a = idx.codes(["x", "y", "x"])
    b = idx.codes(["z", "y"])
    assert a.tolist() == [0, 1] and b.tolist() == [1, 2] and len(idx) == 3


def test_nested_counts_a_few_apart_are_caught():
    ar = np.arange
    cells = [CountCell(("A",), ar(100), 100.0), CountCell(("B",), ar(97), 97.0)]
    fails = audit_counts(cells, 100, 10)
    assert len(fails) == 1 and fails[0].value == 3 and fails[0].lo == fails[0].hi == 3
    assert set(fails[0].suspects) == {0, 1}


def test_trait_shares_of_one_group_pass():
    rng = np.random.default_rng(3)
    cells = [CountCell(("N",), np.arange(300), 300.0)]
    for t in range(8):
        m = np.flatnonzero(rng.random(300) < 0.3)
        cells.append(CountCell(("t", t), m, float(len(m))))
    assert audit_counts(cells, 300, 10) == []


def test_reason_bounds_pin_two_withheld_cells():
    """Class 10: 'fewer than 10' on both parts of a released total of 18 gives 9 and 9."""
    cells = [CountCell(("T",), np.arange(18), 18.0),
             CountCell(("a",), np.arange(9), None, bound=(1, 9)),
             CountCell(("b",), np.arange(9, 18), None, bound=(1, 9))]
    assert len(audit_counts(cells, 18, 10)) >= 2
    cells[0] = CountCell(("T",), np.arange(18), None)  # total withheld too: nothing follows
    assert audit_counts(cells, 18, 10) == []


def test_a_withheld_single_atom_cell_is_not_pinned_below_its_reason():
    """Found at 18M (atypical_by_trajectory): a released total of 176 and three released parts
    summing to 175 pin the fourth part, withheld as 'fewer than 10', to exactly 1."""
    sizes = [1, 24, 151, 0]
    start = np.cumsum([0, *sizes])
    parts = [CountCell((f"g{i}",), np.arange(start[i], start[i + 1]),
                       None if 1 <= sizes[i] <= 9 else float(sizes[i]),
                       bound=(1, 9) if 1 <= sizes[i] <= 9 else None) for i in range(4)]
    total = CountCell(("total",), np.arange(start[-1]), float(start[-1]))
    fails = audit_counts([total, *parts], int(start[-1]), 10)
    assert any(f.what == "withheld 1" and "at most 1" in f.why for f in fails)
    assert fails[0].suspects  # a released cell to withhold
    # with the total withheld too, "fewer than 10" is all that follows
    total = CountCell(("total",), np.arange(start[-1]), None)
    assert audit_counts([total, *parts], int(start[-1]), 10) == []


def test_matched_ratio_relation_is_used():
    """Exact 2:1 matching: the controls' count of men is twice the offenders'. Membership alone
    cannot see the link (different persons); the declared relation pins the withheld cell."""
    off = CountCell(("men", "DSE"), np.arange(5), None, bound=(1, 9))
    ctl = CountCell(("men", "CC"), np.arange(100, 110), 10.0)
    assert audit_counts([off, ctl], 200, 10) == []
    fails = audit_counts([off, ctl], 200, 10, relations=[({0: 2.0, 1: -1.0}, 0.0)])
    assert fails and fails[0].lo == fails[0].hi == 5


def test_group_size_times_mean_gives_one_persons_value():
    """Class 1: a group's mean and its parts' means leave one person's value."""
    rng = np.random.default_rng(1)
    ids = np.arange(40)
    age = rng.integers(18, 60, 40).astype(float)
    whole = SumCell(("careers", "DSE"), "age", ids, age, True)
    parts = [SumCell(("traj", g), "age", ids[s], age[s], True)
             for g, s in (("a", slice(0, 20)), ("b", slice(20, 39)))]
    from crimcareer.disclosure import magnitude_reason

    fails = audit_sums([whole, *parts], 40, lambda v: magnitude_reason(v, Rules()))
    assert any(f.persons == 1 for f in fails)
    fails = audit_sums([whole, parts[0]], 40, lambda v: magnitude_reason(v, Rules()))
    assert fails == []  # 20 persons left, no one dominates


def test_gate_withholds_until_no_atom_follows():
    """Two tables over one group of 60: a share and the same share a few persons short."""
    ids = np.array([f"p{i}" for i in range(60)], dtype=object)
    gate = Gate(Rules())
    t1 = pd.DataFrame({"variable": ["x"], "n": [30], "N": [60], "pct": [50.0]})
    t2 = pd.DataFrame({"variable": ["y"], "n": [27], "N": [60], "pct": [45.0]})
    gate.proportions("t1", t1, ["pct"], members={"n": [ids[:30]], "N": [ids]})
    out = gate.proportions("t2", t2, ["pct"], members={"n": [ids[:27]], "N": [ids]})
    assert np.isnan(out.loc[0, "n"])  # 30 - 27 = 3 persons would follow
    counts, sums, _ = gate.membership_failures()
    assert counts == [] and sums == []


# -- the brute-force attacker -------------------------------------------------------------------
def _attacker_ranges(cells: list[CountCell], n_persons: int):
    """Every integer atom-size vector consistent with the released counts and the reasons'
    bounds, enumerated (small systems only): per atom, the set of values it can take."""
    at = atoms_of([c.members for c in cells], n_persons)
    M = at.incidence.toarray()
    A = at.n_atoms
    rows = [(M[i], c.released - c.halfwidth, c.released + c.halfwidth) if c.released is not None
            else (M[i], c.bound[0], c.bound[1]) for i, c in enumerate(cells)
            if c.released is not None or c.bound is not None]
    cap = int(max((hi for _, _, hi in rows), default=n_persons))
    if (cap + 1) ** A > 300_000:
        return at, M, None
    seen = [set() for _ in range(A)]
    for x in itertools.product(range(cap + 1), repeat=A):
        x = np.array(x)
        if all(lo - 1e-9 <= r @ x <= hi + 1e-9 for r, lo, hi in rows):
            for a in range(A):
                seen[a].add(int(x[a]))
    return at, M, seen


def _random_release(rng: np.random.Generator, k: int):
    P = int(rng.integers(6, 11))
    ids = np.array([f"q{i}" for i in range(P)], dtype=object)
    gate = Gate(Rules(min_persons=k, protection=k))
    for t in range(int(rng.integers(2, 4))):
        N = np.sort(rng.choice(P, size=int(rng.integers(k, P + 1)), replace=False))
        n = np.sort(rng.choice(N, size=int(rng.integers(0, len(N) + 1)), replace=False))
        df = pd.DataFrame({"variable": [f"v{t}"], "n": [len(n)], "N": [len(N)]})
        gate.proportions(f"t{t}", df, members={"n": [ids[n]], "N": [ids[N]]})
    gate.finalise()
    return gate


@pytest.mark.parametrize("seed", range(40))
def test_brute_force_attacker_derives_no_small_atom(seed):
    rng = np.random.default_rng(seed)
    k = 3
    gate = _random_release(rng, k)
    cells = gate._count_cells()
    at, M, seen = _attacker_ranges(cells, len(gate.persons))
    if seen is None:
        pytest.skip("too many atoms to enumerate")
    for a in range(at.n_atoms):
        v = int(at.size[a])
        if not 1 <= v <= k - 1:
            continue
        # a withheld cell that is this atom alone says "1..k-1" by its reason: allowed
        is_reason_cell = any(c.bound is not None and c.released is None and M[i].sum() == 1
                             and M[i, a] == 1 for i, c in enumerate(cells))
        values = seen[a]
        assert v in values  # the truth is consistent
        if not is_reason_cell:
            assert not (min(values) >= 1 and max(values) <= k - 1), (a, v, sorted(values))


def test_exact_bounds_match_enumeration():
    A = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    b = np.array([3.0, 4.0])
    lo, hi = exact_bounds(A, b, np.array([1.0, 0.0, 0.0]))
    assert (lo, hi) == (0.0, 3.0)
