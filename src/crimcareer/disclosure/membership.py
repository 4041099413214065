"""Who stands behind every released number: person sets per cell, and the atoms they form.

The gate registers, for every count it releases or withholds, the set of persons it counts (and
for sums and means, each person's value). Persons are numbered once per run
(:class:`PersonIndex`) and a set is a sorted ``int64`` array: about 8 bytes per membership, so
the youth profile's 2.3 million persons at national size cost tens of MB, never row data.

Persons who fall in exactly the same set of cells form an *atom*. Every count is a sum of atoms,
so the relations between all released numbers (margins, partitions, nesting, equal groups in two
tables, a curve's risk sets against a window table) follow from the membership alone; nobody
has to declare them. Atoms are found by hashing: each cell draws a random 64-bit key and a
person's signature is the sum (mod 2^64) of the keys of the cells holding them, so atoms are the
distinct signatures (two different sets of cells collide with probability about 2^-64 per pair).
Hand-written because no library offers it: it is ``np.unique`` over a hashed incidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components


class PersonIndex:
    """Numbers person identifiers 0, 1, 2, ... in order of first registration (per run)."""

    def __init__(self) -> None:
        self._index = pd.Index([], dtype=object)
        self._pending: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self._index)

    def codes(self, ids: object) -> np.ndarray:
        """Sorted unique person numbers of ``ids`` (any iterable of identifiers), registering
        new ones."""
        arr = pd.unique(pd.Series(np.asarray(ids, dtype=object).ravel()).dropna().astype(str))
        if not len(arr):
            return np.zeros(0, dtype=np.int64)
        pos = self._index.get_indexer(arr)
        new = arr[pos < 0]
        if len(new):
            start = len(self._index)
            self._index = self._index.append(pd.Index(new, dtype=object))
            pos[pos < 0] = np.arange(start, start + len(new))
        return np.sort(pos.astype(np.int64))

    def values_by_code(self, ids: object, values: object) -> tuple[np.ndarray, np.ndarray]:
        """(sorted person numbers, their values) for a sum or mean over persons."""
        s = pd.Series(np.asarray(values, dtype=float), index=pd.Index(
            np.asarray(ids, dtype=object).astype(str)))
        s = s[~s.index.duplicated()]
        codes = self._index.get_indexer(s.index)
        if (codes < 0).any():
            self.codes(s.index[codes < 0])
            codes = self._index.get_indexer(s.index)
        order = np.argsort(codes)
        return codes[order].astype(np.int64), s.to_numpy()[order]


@dataclass
class Atoms:
    """The atoms of a set of cells: ``of_person[p]`` is person p's atom (-1: in no cell),
    ``size[a]`` its persons, ``incidence`` the cells x atoms 0/1 matrix (CSR)."""

    of_person: np.ndarray
    size: np.ndarray
    incidence: sparse.csr_matrix

    @property
    def n_atoms(self) -> int:
        return len(self.size)

    def components(self) -> tuple[int, np.ndarray, np.ndarray]:
        """Connected components of atoms linked by cells: (count, label per atom, label per
        cell; a cell without persons gets -1)."""
        n_c, n_a = self.incidence.shape
        if n_a == 0:
            return 0, np.zeros(0, dtype=int), np.full(n_c, -1)
        adj = sparse.bmat([[None, self.incidence], [self.incidence.T, None]], format="csr")
        k, lab = connected_components(adj, directed=False)
        cell_lab = np.where(np.diff(self.incidence.indptr) > 0, lab[:n_c], -1)
        atom_lab = lab[n_c:]
        # relabel to 0..m-1 over atoms
        uniq, atom_lab = np.unique(atom_lab, return_inverse=True)
        remap = {u: i for i, u in enumerate(uniq)}
        cell_lab = np.array([remap.get(c, -1) if c >= 0 else -1 for c in cell_lab])
        return len(uniq), atom_lab, cell_lab


def atoms_of(members: list[np.ndarray], n_persons: int, seed: int = 20240101) -> Atoms:
    """Atoms of the cells whose person sets are ``members`` (sorted unique int arrays)."""
    rng = np.random.default_rng(seed)
    keys = rng.integers(1, np.iinfo(np.int64).max, size=len(members), dtype=np.int64).astype(np.uint64)
    sig = np.zeros(n_persons, dtype=np.uint64)
    covered = np.zeros(n_persons, dtype=bool)
    with np.errstate(over="ignore"):
        for key, m in zip(keys, members):
            if len(m):
                sig[m] += key  # members are unique within a cell: no repeated index
                covered[m] = True
    of_person = np.full(n_persons, -1, dtype=np.int64)
    if covered.any():
        _, inv, size = np.unique(sig[covered], return_inverse=True, return_counts=True)
        of_person[covered] = inv
    else:
        size = np.zeros(0, dtype=np.int64)
    return Atoms(of_person, size.astype(np.int64), _incidence(members, of_person, len(size)))


_CHUNK = 4_000_000  # memberships per sparse build (bounded memory at national size)


def _incidence(members: list[np.ndarray], of_person: np.ndarray, n_atoms: int
               ) -> sparse.csr_matrix:
    """The cells x atoms 0/1 matrix: cell i holds atom a if a member of i is in a. Built in
    chunks of cells by scipy's duplicate-summing CSR conversion (one call per chunk, not one
    ``np.unique`` per cell: thousands of cells per audit round)."""
    parts = []
    i = 0
    while i < len(members):
        j, total = i, 0
        while j < len(members) and (j == i or total + len(members[j]) <= _CHUNK):
            total += len(members[j])
            j += 1
        lens = [len(m) for m in members[i:j]]
        atom = of_person[np.concatenate(members[i:j])] if total else np.zeros(0, dtype=np.int64)
        cell = np.repeat(np.arange(j - i), lens)
        block = sparse.csr_matrix((np.ones(len(atom)), (cell, atom)), shape=(j - i, n_atoms))
        block.data[:] = 1.0  # duplicates (persons of one atom) were summed
        parts.append(block)
        i = j
    if not parts:
        return sparse.csr_matrix((0, n_atoms))
    inc = sparse.vstack(parts, format="csr") if len(parts) > 1 else parts[0]
    inc.sort_indices()
    return inc
