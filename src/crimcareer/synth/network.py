"""Non-family network layers: household co-residents, neighbours, classmates and colleagues."""

from __future__ import annotations

import numpy as np

from crimcareer.synth.dates import NA, YEAR, day, years
from crimcareer.synth.family import (CHILD, CLASSMATE, COLLEAGUE, HOUSEHOLD, NEIGHBOUR, PARENT,
                                     PARTNER, SIBLING, Childhood, Edges, _exit)
from crimcareer.synth.population import Population


def _random_links(rng: np.random.Generator, groups: np.ndarray, members: np.ndarray, per_person: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Each member links to Poisson(per_person) random others in its group (no self-links)."""
    if len(members) == 0 or per_person <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = np.argsort(groups, kind="stable")
    g, m = groups[order], members[order]
    starts = np.r_[0, np.nonzero(np.diff(g))[0] + 1]
    sizes = np.diff(np.r_[starts, len(g)])
    gstart = np.repeat(starts, sizes)
    gsize = np.repeat(sizes, sizes)
    k = rng.poisson(per_person, len(m))
    k = np.where(gsize > 1, k, 0)
    src = np.repeat(np.arange(len(m)), k)
    dst = gstart[src] + (rng.random(len(src)) * gsize[src]).astype(np.int64)
    ok = dst != src
    # a rare repeated pair is kept (as a register may list a tie twice); dedupe costs a sort
    return m[src[ok]], m[dst[ok]]


def network_edges(rng: np.random.Generator, pop: Population, ch: Childhood, fam: Edges, P: dict, density: float
                  ) -> Edges:
    """Household, neighbour, school and work edges (both directions), scaled by `density`."""
    if density <= 0:
        z = np.zeros(0, np.int64)
        return Edges(z, z, z.astype(np.int8), z, z)
    pn = P["network"]
    cutoff = day(P["cutoff"])
    exit_ = _exit(pop, cutoff)
    n = pop.n
    parts = []
    # household: partners during the union, parents and full siblings while the child lives at home
    sel = fam.rel == PARTNER
    parts.append(Edges(fam.ego[sel], fam.alter[sel], np.full(sel.sum(), HOUSEHOLD, np.int8),
                       fam.start[sel], fam.end[sel]))
    for rel in (PARENT, CHILD):
        sel = fam.rel == rel
        child = fam.ego[sel] if rel == PARENT else fam.alter[sel]
        end = np.minimum(ch.leave_home[child],
                         np.where(ch.single_parent_start[child] != NA,
                                  ch.single_parent_start[child], ch.leave_home[child]))
        parts.append(Edges(fam.ego[sel], fam.alter[sel], np.full(sel.sum(), HOUSEHOLD, np.int8),
                           np.maximum(pop.birth[child], pop.arrival[child]), end))
    sel = (fam.rel == SIBLING)
    a, b = fam.ego[sel], fam.alter[sel]
    st = np.maximum(pop.birth[a], pop.birth[b])
    en = np.minimum(ch.leave_home[a], ch.leave_home[b])
    ok = en > st
    parts.append(Edges(a[ok], b[ok], np.full(ok.sum(), HOUSEHOLD, np.int8), st[ok], en[ok]))
    # neighbourhoods sorted on family propensity (criminal families cluster)
    famkey = np.where(pop.born_union >= 0, pop.born_union, -1 - np.arange(n))
    _, finv = np.unique(famkey, return_inverse=True)
    fz = np.bincount(finv, weights=pop.z) / np.bincount(finv)
    key = fz + rng.normal(0, pn["neighbourhood_sorting_sd"], finv.max() + 1)
    rank = np.empty(len(key), np.int64)
    rank[np.argsort(key, kind="stable")] = np.arange(len(key))
    fam_size = np.bincount(finv)
    cum = np.cumsum(fam_size[np.argsort(key, kind="stable")])
    # neighbourhood of a family: its position in persons along the sorted order / size
    pos = np.empty(len(key), np.int64)
    pos[np.argsort(key, kind="stable")] = cum
    hood = pos[finv] // pn["neighbourhood_size"]
    alive = np.arange(n)
    a, b = _random_links(rng, hood, alive, pn["neighbours_per_person"] * density)
    st = np.maximum(np.maximum(pop.arrival[a], pop.arrival[b]), day("2000-01-01"))
    en = np.minimum(exit_[a], exit_[b])
    ok = st < en
    en = np.where(en > cutoff, NA, en)
    parts.append(_both(a[ok], b[ok], NEIGHBOUR, st[ok], en[ok]))
    # school: same school (group of neighbourhoods) and birth year
    by = (1970 + pop.birth / YEAR).astype(np.int64)
    young = np.nonzero((by >= pn["school_first_cohort"]) & (pop.arrival < pop.birth + years(12))
                       & (pop.birth + years(12) < cutoff))[0]
    school = hood[young] // pn["school_size"]
    a, b = _random_links(rng, school * 10_000 + by[young], young,
                         pn["classmates_per_person"] * density)
    st = np.maximum(pop.birth[a], pop.birth[b]) + years(12)
    en = st + years(4)
    ok = (st < np.minimum(exit_[a], exit_[b])) & (st <= cutoff)
    en = np.where((en > cutoff) | (en >= np.minimum(exit_[a], exit_[b])), NA, en)
    parts.append(_both(a[ok], b[ok], CLASSMATE, st[ok], en[ok]))
    # work: adults of working age since 2000 in workplaces (weakly sorted on propensity)
    adult = np.nonzero((pop.birth + years(18) < cutoff) & (pop.birth + years(67) > day("2000-01-01"))
                       & (exit_ > day("2000-01-01")))[0]
    wkey = pop.z[adult] * 0.5 + rng.standard_normal(len(adult))
    wrank = np.empty(len(adult), np.int64)
    wrank[np.argsort(wkey, kind="stable")] = np.arange(len(adult))
    a, b = _random_links(rng, wrank // pn["workplace_size"], adult,
                         pn["colleagues_per_person"] * density)
    lo = np.maximum.reduce([pop.birth[a] + years(18), pop.birth[b] + years(18),
                            pop.arrival[a], pop.arrival[b],
                            np.full(len(a), day("2000-01-01"))])
    hi = np.minimum.reduce([exit_[a], exit_[b], pop.birth[a] + years(67),
                            pop.birth[b] + years(67), np.full(len(a), cutoff)])
    ok = lo < hi
    st = lo + (rng.random(len(a)) * np.clip(hi - lo, 0, None)).astype(np.int64)
    en = st + years(rng.uniform(1, 8, len(a)))
    en = np.where((en > cutoff) | (en >= np.minimum(exit_[a], exit_[b])), NA, en)
    parts.append(_both(a[ok], b[ok], COLLEAGUE, st[ok], en[ok]))
    out = Edges.concat(parts)
    out.rel = out.rel.astype(np.int8)
    return out


def _both(a, b, rel, st, en) -> Edges:
    return Edges(a, b, np.full(len(a), rel, np.int8), st, en).both_ways()
