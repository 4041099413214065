"""Family edges, childhood households, education and youth care derived from the population."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crimcareer.synth.dates import NA, YEAR, day, years
from crimcareer.synth.population import MIG_NONE, Population

# relation codes used internally (index into REL_NAMES)
REL_NAMES = ("parent", "child", "sibling", "half_sibling", "partner", "household", "neighbour",
             "classmate", "colleague")
PARENT, CHILD, SIBLING, HALF_SIBLING, PARTNER, HOUSEHOLD, NEIGHBOUR, CLASSMATE, COLLEAGUE = range(9)
REL_LAYER = ("family", "family", "family", "family", "family", "household", "neighbours",
             "school", "work")


@dataclass
class Edges:
    """Directed edges ego -> alter (local person numbers) with relation code and dates."""

    ego: np.ndarray
    alter: np.ndarray
    rel: np.ndarray
    start: np.ndarray
    end: np.ndarray

    @staticmethod
    def concat(parts: list["Edges"]) -> "Edges":
        return Edges(*(np.concatenate([getattr(p, f) for p in parts]) if parts else np.zeros(0)
                       for f in ("ego", "alter", "rel", "start", "end")))

    def both_ways(self, reverse_rel: np.ndarray | int | None = None) -> "Edges":
        rr = self.rel if reverse_rel is None else np.broadcast_to(reverse_rel, self.rel.shape)
        return Edges(np.r_[self.ego, self.alter], np.r_[self.alter, self.ego], np.r_[self.rel, rr],
                     np.r_[self.start, self.start], np.r_[self.end, self.end])


def _pairs_within(groups: np.ndarray, members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All unordered pairs (a, b) of members sharing a group (groups are small: siblings)."""
    order = np.lexsort((members, groups))
    g, m = groups[order], members[order]
    starts = np.r_[0, np.nonzero(np.diff(g))[0] + 1]
    sizes = np.diff(np.r_[starts, len(g)])
    a_out, b_out = [], []
    for off in range(1, int(sizes.max()) if len(sizes) else 1):
        # pair position i with i + off inside each group
        pos = np.arange(len(g))
        grp_end = np.repeat(starts + sizes, sizes)
        ok = pos + off < grp_end
        a_out.append(m[pos[ok]])
        b_out.append(m[pos[ok] + off])
    if not a_out:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(a_out), np.concatenate(b_out)


def family_edges(pop: Population) -> Edges:
    """parent/child, sibling, half_sibling and partner edges, both directions."""
    parts = []
    kid = np.arange(pop.n)
    for par in (pop.mother, pop.father):
        has = par >= 0
        e = Edges(kid[has], par[has], np.full(has.sum(), PARENT), np.full(has.sum(), NA, np.int64),
                  np.full(has.sum(), NA, np.int64))
        parts.append(e)
        parts.append(Edges(e.alter, e.ego, np.full(len(e.ego), CHILD), e.start, e.end))
    # full siblings: same mother and same father
    both = (pop.mother >= 0) & (pop.father >= 0)
    fam = pop.mother[both] * (pop.n + 1) + pop.father[both]
    a, b = _pairs_within(fam, kid[both])
    sib = Edges(a, b, np.full(len(a), SIBLING), np.full(len(a), NA, np.int64),
                np.full(len(a), NA, np.int64))
    parts.append(sib.both_ways())
    # half siblings: same mother, other father (or same father, other mother)
    for par, other in ((pop.mother, pop.father), (pop.father, pop.mother)):
        has = par >= 0
        a, b = _pairs_within(par[has], kid[has])
        oa, ob = other[a], other[b]
        half = (oa >= 0) & (ob >= 0) & (oa != ob)   # one shared parent, the other known and different
        e = Edges(a[half], b[half], np.full(half.sum(), HALF_SIBLING),
                  np.full(half.sum(), NA, np.int64), np.full(half.sum(), NA, np.int64))
        parts.append(e.both_ways())
    # partners (ex-partners keep an end date)
    e = Edges(pop.u_man, pop.u_woman, np.full(len(pop.u_man), PARTNER), pop.u_start, pop.u_end)
    parts.append(e.both_ways())
    out = Edges.concat(parts)
    out.ego = out.ego.astype(np.int64)
    out.alter = out.alter.astype(np.int64)
    out.rel = out.rel.astype(np.int8)
    out.start = out.start.astype(np.int64)
    out.end = out.end.astype(np.int64)
    return out


@dataclass
class Childhood:
    """Per person: home-leaving date, single-parent childhood (start date or NA)."""

    leave_home: np.ndarray
    single_parent_start: np.ndarray

    @property
    def single_parent(self) -> np.ndarray:
        return self.single_parent_start != NA


def childhood(rng: np.random.Generator, pop: Population) -> Childhood:
    """Leaving home and single-parent spells before 18 (after separation or a parent's death)."""
    leave = pop.birth + years(np.clip(rng.normal(21.0, 2.5, pop.n), 17, 30))
    sp = np.full(pop.n, NA, dtype=np.int64)
    bu = pop.born_union
    has = bu >= 0
    sep = np.full(pop.n, NA, dtype=np.int64)
    sep[has] = pop.u_end[bu[has]]
    cand = [sep]
    for par in (pop.mother, pop.father):
        d = np.full(pop.n, NA, dtype=np.int64)
        hp = par >= 0
        d[hp] = pop.death[par[hp]]
        cand.append(d)
    big = np.iinfo(np.int64).max
    first = np.min(np.stack([np.where(c == NA, big, c) for c in cand]), axis=0)
    ok = has & (first < pop.birth + years(18)) & (first < leave)
    first = np.maximum(first, pop.birth)
    sp[ok] = first[ok]
    return Childhood(leave_home=leave, single_parent_start=sp)


@dataclass
class Education:
    person: np.ndarray
    date: np.ndarray
    level: np.ndarray          # index into LEVELS
    skq_date: np.ndarray       # per person, first startkwalificatie diploma date (NA: none)

    def skq_by(self, birth: np.ndarray, age: int = 23) -> np.ndarray:
        return (self.skq_date != NA) & (self.skq_date < birth + years(age))


LEVELS = ("primary", "vmbo", "mbo1", "mbo2", "mbo3", "mbo4", "havo", "vwo", "hbo", "wo")
SKQ = np.array([lv in ("havo", "vwo", "mbo2", "mbo3", "mbo4", "hbo", "wo") for lv in LEVELS])


def education(rng: np.random.Generator, pop: Population, ch: Childhood, P: dict,
              group: np.ndarray | None = None) -> Education:
    """Diplomas along a school path; highest level from an ability that falls with propensity,
    a migration background, a single-parent childhood and (juvenile) offending."""
    pe = P["education"]
    cutoff = day(P["cutoff"])
    n = pop.n
    b_year = 1970 + pop.birth / YEAR
    eligible = (b_year >= pe["first_cohort"]) & (pop.arrival <= pop.birth + years(15))
    mig = (pop.migbg != MIG_NONE).astype(np.float64)
    ability = (-pe["ability_propensity"] * pop.z - pe["ability_migration"] * mig
               - pe["ability_single_parent"] * ch.single_parent + rng.standard_normal(n))
    if group is not None:
        ability -= np.array(pe["ability_group_penalty"])[group]
    cum = np.array(pe["level_cum_shares"])
    if eligible.any():
        # thresholds at the planted population shares (rank-based, so shares hold exactly)
        qs = np.quantile(ability[eligible], cum[:-1])
    else:
        qs = np.zeros(len(cum) - 1)
    top = np.searchsorted(qs, ability)           # 0 = primary ... 9 = wo
    delay = rng.poisson(pe["delay_base"] + pe["delay_propensity"] * np.maximum(pop.z, 0), n)
    # school paths: (level, age) steps by highest level
    L = {lv: i for i, lv in enumerate(LEVELS)}
    paths = {
        0: [("primary", 12)],
        1: [("primary", 12), ("vmbo", 16)],
        2: [("primary", 12), ("vmbo", 16), ("mbo1", 17)],
        3: [("primary", 12), ("vmbo", 16), ("mbo2", 18)],
        4: [("primary", 12), ("vmbo", 16), ("mbo3", 19)],
        5: [("primary", 12), ("vmbo", 16), ("mbo4", 20)],
        6: [("primary", 12), ("havo", 17)],
        7: [("primary", 12), ("vwo", 18)],
        8: [("primary", 12), ("havo", 17), ("hbo", 21)],
        9: [("primary", 12), ("vwo", 18), ("wo", 23)],
    }
    persons, dates, levels = [], [], []
    skq_date = np.full(n, NA, dtype=np.int64)
    jitter = rng.integers(-40, 40, n)
    exit_ = _exit(pop, cutoff)
    for lvl, steps in paths.items():
        who = np.nonzero(eligible & (top == lvl))[0]
        for j, (name, age) in enumerate(steps):
            extra = delay[who] if j > 0 else 0
            d = pop.birth[who] + years(age + extra) + jitter[who]
            ok = d < exit_[who]
            persons.append(who[ok])
            dates.append(d[ok])
            levels.append(np.full(ok.sum(), L[name], np.int8))
            if SKQ[L[name]]:
                first = ok & (skq_date[who] == NA)
                skq_date[who[first]] = d[first]
    return Education(np.concatenate(persons), np.concatenate(dates), np.concatenate(levels),
                     skq_date)


def _exit(pop: Population, cutoff: int) -> np.ndarray:
    """Last day observed: death, emigration or cut-off (exclusive bound is exit + 1)."""
    e = np.full(pop.n, cutoff + 1, dtype=np.int64)
    for d in (pop.death, pop.emigration):
        e = np.where(d != NA, np.minimum(e, d), e)
    return e


def youth_care(rng: np.random.Generator, pop: Population, ch: Childhood, P: dict
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Youth care measures before 18 (person, start, end, measure index): a risk of propensity and
    a single-parent childhood."""
    py = P["youth_care"]
    cutoff = day(P["cutoff"])
    b_year = 1970 + pop.birth / YEAR
    lp = py["base_logit"] + py["propensity_lp"] * pop.z + py["single_parent_lp"] * ch.single_parent
    p = 1 / (1 + np.exp(-lp))
    start = pop.birth + years(rng.uniform(4, 17.5, pop.n))
    start = np.maximum(start, pop.arrival)
    exit_ = _exit(pop, cutoff)
    has = ((rng.random(pop.n) < p) & (b_year >= py["first_cohort"]) & (start < exit_)
           & (start < pop.birth + years(18)))
    who = np.nonzero(has)[0]
    st = start[who]
    en = st + years(rng.uniform(0.3, 3.0, len(who)))
    en = np.minimum(en, pop.birth[who] + years(18) - 1)
    en = np.where(en >= exit_[who], NA, en)
    en = np.where((en != NA) & (en > cutoff), NA, en)
    mp = py["measure_probs"]
    names = list(mp)
    m = rng.choice(len(names), size=len(who), p=np.array(list(mp.values())) / sum(mp.values()))
    from crimcareer.contract import YOUTH_CARE_MEASURES
    midx = np.array([YOUTH_CARE_MEASURES.index(nm) for nm in names])[m]
    return who, st, en, midx.astype(np.int8)
