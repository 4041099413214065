"""Persons and families: founder couples, their children, partners and grandchildren (vectorised).

Lineages start with a founder couple; each union gets children, may separate (the mother may then
repartner and get half-siblings), and each child may form a union with a newly drawn partner
(assortative on propensity and origin), generation after generation until births pass the cut-off.
Latent criminal propensity z is transmitted: z_child = a + h (mean parental z - a) + s*family + e,
with a the family's origin anchor, so the origin means are stationary across generations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crimcareer.synth.dates import NA, YEAR, day, years
from crimcareer.synth.params import ORIGINS

MIG_NONE, MIG_FIRST, MIG_SECOND = 0, 1, 2
NL = 0

PERSON_FIELDS = ("birth", "male", "origin", "migbg", "arrival", "z", "anchor", "mother", "father",
                 "lineage", "born_union")
UNION_FIELDS = ("man", "woman", "start", "end", "second", "lineage")


@dataclass
class Population:
    """Person arrays (index = local person number) and union arrays of one chunk."""

    birth: np.ndarray
    male: np.ndarray
    origin: np.ndarray
    migbg: np.ndarray
    arrival: np.ndarray
    z: np.ndarray
    anchor: np.ndarray
    mother: np.ndarray
    father: np.ndarray
    lineage: np.ndarray
    born_union: np.ndarray
    u_man: np.ndarray
    u_woman: np.ndarray
    u_start: np.ndarray
    u_end: np.ndarray
    u_second: np.ndarray
    death: np.ndarray | None = None
    emigration: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.birth)


class _Builder:
    """Accumulates person and union batches, handing out person numbers."""

    def __init__(self) -> None:
        self.p: dict[str, list[np.ndarray]] = {f: [] for f in PERSON_FIELDS}
        self.u: dict[str, list[np.ndarray]] = {f: [] for f in UNION_FIELDS}
        self.n = 0

    def add_persons(self, **cols: np.ndarray) -> np.ndarray:
        k = len(cols["birth"])
        idx = np.arange(self.n, self.n + k, dtype=np.int64)
        for f in PERSON_FIELDS:
            self.p[f].append(np.asarray(cols[f]))
        self.n += k
        return idx

    def add_unions(self, **cols: np.ndarray) -> None:
        for f in UNION_FIELDS:
            self.u[f].append(np.asarray(cols[f]))

    def arrays(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        p = {f: np.concatenate(v) if v else np.zeros(0) for f, v in self.p.items()}
        u = {f: np.concatenate(v) if v else np.zeros(0) for f, v in self.u.items()}
        return p, u


def _origin_shift(P: dict) -> np.ndarray:
    s = P["propensity"]["founder_origin_shift"]
    return np.array([s[o] for o in ORIGINS], dtype=np.float64)


def _lineage_batch(rng: np.random.Generator, n_couples: int, P: dict, lineage0: int) -> tuple:
    pp, pz = P["population"], P["propensity"]
    cutoff = day(P["cutoff"])
    d1930 = day("1930-01-01")
    shift = _origin_shift(P)
    b = _Builder()

    # -- founder couples -----------------------------------------------------------------------
    osh = pp["founder_origin_shares"]
    op = np.array([osh[o] for o in ORIGINS], dtype=np.float64)
    origin = rng.choice(len(ORIGINS), size=n_couples, p=op / op.sum()).astype(np.int8)
    immigrant = origin != NL
    # NL-born founders are the oldest registered generation; immigrant founders arrive as adults
    # in every decade, so their birth years spread later
    bands = np.array(pp["founder_birth_bands"], dtype=np.float64)
    w_nl = np.array(pp["founder_birth_weights"], dtype=np.float64)
    w_im = np.array(pp["immigrant_founder_birth_weights"], dtype=np.float64)
    band = np.where(immigrant, rng.choice(len(bands), size=n_couples, p=w_im / w_im.sum()),
                    rng.choice(len(bands), size=n_couples, p=w_nl / w_nl.sum()))
    man_year = bands[band] + rng.uniform(0, 5, n_couples)
    man_birth = day("1970-01-01") + years(man_year - 1970)
    gap = rng.normal(pp["partner_age_gap_mean"], pp["partner_age_gap_sd"], n_couples)
    woman_birth = man_birth + years(gap)
    for arr in (man_birth, woman_birth):
        low = arr < d1930
        arr[low] = d1930 + rng.integers(0, 365 * 3, low.sum())
    lo, hi = pp["immigrant_arrival_age"]
    arrival = np.maximum(man_birth + years(rng.uniform(lo, hi, n_couples)),
                         day("1962-01-01") + years(rng.uniform(0, 25, n_couples)))
    arrival = np.minimum(arrival, cutoff - rng.integers(30, 3 * 365, n_couples))
    arrival = np.where(immigrant, arrival, 0)
    lineage = lineage0 + np.arange(n_couples)
    anchor = shift[origin]
    zm = anchor + rng.standard_normal(n_couples)
    rho = pz["assortative_rho"]
    zw = anchor + rho * (zm - anchor) + np.sqrt(1 - rho**2) * rng.standard_normal(n_couples)
    mig = np.where(immigrant, MIG_FIRST, MIG_NONE).astype(np.int8)
    minus = np.full(n_couples, -1, dtype=np.int64)
    men = b.add_persons(birth=man_birth, male=np.ones(n_couples, bool), origin=origin, migbg=mig,
                        arrival=np.where(immigrant, arrival, man_birth), z=zm, anchor=anchor,
                        mother=minus, father=minus, lineage=lineage, born_union=minus)
    women = b.add_persons(birth=woman_birth, male=np.zeros(n_couples, bool), origin=origin,
                          migbg=mig, arrival=np.where(immigrant, arrival, woman_birth), z=zw,
                          anchor=anchor, mother=minus, father=minus, lineage=lineage,
                          born_union=minus)
    ustart = woman_birth + years(np.maximum(
        rng.normal(pp["first_union_age_women_mean"], pp["first_union_age_sd"], n_couples), 18))
    ustart = np.maximum(ustart, np.maximum(man_birth, woman_birth) + years(18))
    ok = ustart <= cutoff
    queue = [dict(man=men[ok], woman=women[ok], start=ustart[ok], second=False,
                  lineage=lineage[ok])]

    # person attributes needed while building (grown as we go)
    def attr(name: str) -> np.ndarray:
        return np.concatenate(b.p[name])

    h, s_sd = pz["parent_transmission_h"], pz["sibling_shared_sd"]
    e_sd = np.sqrt(max(1 - h**2 * (1 + rho) / 2 - s_sd**2, 0.05))
    union_counter = 0
    while queue:
        q = queue.pop(0)
        nu = len(q["man"])
        if nu == 0:
            continue
        births_all, zs, anchors = attr("birth"), attr("z"), attr("anchor")
        origins, migs, arrivals = attr("origin"), attr("migbg"), attr("arrival")
        man, woman, start = q["man"], q["woman"], q["start"]
        uid = union_counter + np.arange(nu)
        union_counter += nu
        mean_z = (zs[man] + zs[woman]) / 2
        # separation (first unions only)
        end = np.full(nu, NA, dtype=np.int64)
        if not q["second"]:
            start_year = 1970 + start / YEAR
            base = np.where(start_year >= 1975, pp["separation_base_logit"],
                            pp["separation_pre1975_logit"])
            psep = 1 / (1 + np.exp(-(base + pp["separation_propensity_lp"] * mean_z)))
            sep = rng.random(nu) < psep
            sep_date = start + years(rng.exponential(pp["separation_years_mean"], nu) + 0.5)
            sep &= sep_date <= cutoff
            end[sep] = sep_date[sep]
        b.add_unions(man=man, woman=woman, start=start, end=end,
                     second=np.full(nu, q["second"]), lineage=q["lineage"])
        # -- children ------------------------------------------------------------------------
        probs = np.array(q["second"] and pp["second_union_children_probs"]
                         or pp["children_probs"], dtype=np.float64)
        k = rng.choice(len(probs), size=nu, p=probs / probs.sum())
        imm_union = (migs[woman] == MIG_FIRST) | (migs[man] == MIG_FIRST)
        k = k + ((rng.random(nu) < pp["immigrant_extra_child_prob"]) & imm_union)
        kmax = int(k.max()) if nu else 0
        if kmax:
            gaps = np.column_stack([rng.uniform(0.8, 3.5, nu)] +
                                   [rng.uniform(1.3, 4.0, nu) for _ in range(kmax - 1)])
            cb = start[:, None] + years(np.cumsum(gaps, axis=1))
            limit = np.minimum(births_all[woman] + years(43), cutoff)
            limit = np.where(end != NA, np.minimum(limit, end), limit)
            valid = (np.arange(kmax)[None, :] < k[:, None]) & (cb <= limit[:, None])
            ui, _ = np.nonzero(valid)
            cbirth = cb[valid]
            nc = len(ui)
            shock = rng.standard_normal(nu)
            mo, fa = woman[ui], man[ui]
            anc = (anchors[mo] + anchors[fa]) / 2
            cz = (anc + h * ((zs[mo] + zs[fa]) / 2 - anc) + s_sd * shock[ui]
                  + e_sd * rng.standard_normal(nc))
            # origin and migration background (CBS: mother's country, else father's)
            mom_foreign = migs[mo] != MIG_NONE
            dad_foreign = migs[fa] != MIG_NONE
            par_origin = np.where(mom_foreign, origins[mo], np.where(dad_foreign, origins[fa], NL))
            par_first = np.where(mom_foreign, migs[mo] == MIG_FIRST, migs[fa] == MIG_FIRST)
            par_arrival = np.where(mom_foreign, arrivals[mo], arrivals[fa])
            foreign = mom_foreign | dad_foreign
            born_abroad = foreign & par_first & (cbirth < par_arrival)
            # grandchildren of immigrants (both parents NL-born) count as Dutch background
            cmig = np.where(~foreign, MIG_NONE,
                            np.where(born_abroad, MIG_FIRST,
                                     np.where(par_first, MIG_SECOND, MIG_NONE)))
            corigin = np.where(cmig == MIG_NONE, NL, par_origin).astype(np.int8)
            carrival = np.where(born_abroad, par_arrival, cbirth)
            cmale = rng.random(nc) < pp["male_share_at_birth"]
            kids = b.add_persons(birth=cbirth, male=cmale, origin=corigin, migbg=cmig.astype(np.int8),
                                 arrival=carrival, z=cz, anchor=anc, mother=mo, father=fa,
                                 lineage=q["lineage"][ui], born_union=uid[ui])
            # -- children's own unions with a newly drawn partner ----------------------------
            forms = (rng.random(nc) < pp["union_probability"]) & (cbirth <= day("2000-12-31"))
            age_w = np.maximum(rng.normal(pp["first_union_age_women_mean"],
                                          pp["first_union_age_sd"], nc), 18)
            age = age_w + np.where(cmale, pp["partner_age_gap_mean"], 0.0)
            ustart = cbirth + years(age)
            forms &= ustart <= cutoff
            market = forms & (rng.random(nc) < pp["marriage_market_share"])
            pairs_m, pairs_w = _marriage_market(rng, market, cmale, cbirth, corigin, cz, ui)
            if len(pairs_m):
                st = np.maximum(ustart[pairs_w], cbirth[pairs_m] + years(18))
                queue.append(dict(man=kids[pairs_m], woman=kids[pairs_w], start=st,
                                  second=False, lineage=q["lineage"][ui][pairs_w]))
                forms[pairs_m] = False
                forms[pairs_w] = False
            ci = np.nonzero(forms)[0]
            if len(ci):
                _add_partners(rng, b, P, kids[ci], cbirth[ci], cmale[ci], corigin[ci], cz[ci],
                              anc[ci], ustart[ci], q["lineage"][ui][ci], queue, shift)
        # -- second unions of separated mothers (half-siblings) ------------------------------
        if not q["second"]:
            wb = births_all[woman]
            can = (end != NA) & ((end - wb) < years(40)) & (rng.random(nu) < pp["repartner_prob"])
            s2 = end + years(rng.uniform(0.5, 3.0, nu))
            can &= s2 <= cutoff
            wi = np.nonzero(can)[0]
            if len(wi):
                _add_partners(rng, b, P, woman[wi], wb[wi], np.zeros(len(wi), bool),
                              origins[woman[wi]], zs[woman[wi]], anchors[woman[wi]], s2[wi],
                              q["lineage"][wi], queue, shift, second=True)
    p, u = b.arrays()
    return p, u


def _marriage_market(rng, market: np.ndarray, male: np.ndarray, birth: np.ndarray,
                     origin: np.ndarray, z: np.ndarray, family: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Pair men and women of one generation: same origin, similar age, assortative on z.

    Within each (origin, 5-year birth band) cell, equal numbers of men and women are drawn at
    random and paired by rank of z plus noise (rank correlation about 0.5); siblings are unpaired.
    """
    idx = np.nonzero(market)[0]
    if len(idx) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    adj = birth[idx] + np.where(male[idx], years(2), 0)
    band = (adj // years(5)).astype(np.int64)
    key = origin[idx].astype(np.int64) * 100_000 + (band - band.min())
    sex = male[idx].astype(np.int64)
    # random order within (key, sex), then keep the first min(count men, count women)
    order = np.lexsort((rng.random(len(idx)), sex, key))
    k_s, s_s = key[order], sex[order]
    grp = k_s * 2 + s_s
    starts = np.r_[0, np.nonzero(np.diff(grp))[0] + 1]
    sizes = np.diff(np.r_[starts, len(grp)])
    rank = np.arange(len(grp)) - np.repeat(starts, sizes)
    ukeys, kinv = np.unique(k_s, return_inverse=True)
    n_m = np.bincount(kinv, weights=s_s, minlength=len(ukeys))
    n_w = np.bincount(kinv, weights=1 - s_s, minlength=len(ukeys))
    take = rank < np.minimum(n_m, n_w)[kinv]
    sel = idx[order][take]
    sk, ss = k_s[take], s_s[take]
    noisy = z[sel] + rng.normal(0, 1.2, len(sel))
    o2 = np.lexsort((noisy, ss, sk))
    sel, ss = sel[o2], ss[o2]
    men, women = sel[ss == 1], sel[ss == 0]
    ok = family[men] != family[women]
    return men[ok], women[ok]


def _add_partners(rng, b: _Builder, P: dict, ego: np.ndarray, ebirth: np.ndarray,
                  emale: np.ndarray, eorigin: np.ndarray, ez: np.ndarray, eanchor: np.ndarray,
                  ustart: np.ndarray, lineage: np.ndarray, queue: list, shift: np.ndarray,
                  second: bool = False) -> None:
    """Draw a new partner for each ego (assortative) and queue the unions."""
    pp, pz = P["population"], P["propensity"]
    n = len(ego)
    gap = rng.normal(pp["partner_age_gap_mean"], pp["partner_age_gap_sd"], n)
    pbirth = np.where(emale, ebirth + years(gap), ebirth - years(gap))
    pbirth = np.clip(pbirth, day("1930-01-01"), ustart - years(18))
    same = rng.random(n) < np.where(eorigin == NL, 0.9, pp["same_origin_partner_prob"])
    other = rng.choice(len(ORIGINS), size=n, p=[0.0, 0.05, 0.05, 0.1, 0.05, 0.45, 0.30])
    porigin = np.where(same, eorigin, np.where(eorigin == NL, other, NL)).astype(np.int8)
    foreign = porigin != NL
    first = foreign & (rng.random(n) < pp["marriage_migration_prob"])
    parr = np.maximum(ustart - rng.integers(0, 365, n), pbirth + years(18))
    parr = np.where(first, parr, pbirth)
    pmig = np.where(first, MIG_FIRST, np.where(foreign, MIG_SECOND, MIG_NONE)).astype(np.int8)
    panchor = shift[porigin]
    rho = pz["assortative_rho"]
    pzv = panchor + rho * (ez - eanchor) + np.sqrt(1 - rho**2) * rng.standard_normal(n)
    minus = np.full(n, -1, dtype=np.int64)
    partners = b.add_persons(birth=pbirth, male=~emale, origin=porigin, migbg=pmig,
                             arrival=parr, z=pzv, anchor=panchor, mother=minus, father=minus,
                             lineage=lineage, born_union=minus)
    man = np.where(emale, ego, partners)
    woman = np.where(emale, partners, ego)
    queue.append(dict(man=man, woman=woman, start=ustart, second=second, lineage=lineage))


def build_population(rng: np.random.Generator, n: int, P: dict) -> Population:
    """Exactly n persons: lineages until n is reached, a random excess removed (links to a removed
    person are dropped, as for a parent who is not registered)."""
    pp = P["population"]
    ps: list[dict] = []
    us: list[dict] = []
    total, lineage0 = 0, 0
    per_couple = pp["persons_per_founder_couple"]
    target = int(n * (1 - pp["unattached_share"]))
    while total < target and target - total > 20:
        m = max(int((target - total) / per_couple * 1.02) + 1, 5)
        p, u = _lineage_batch(rng, m, P, lineage0)
        lineage0 += m
        ps.append(p)
        us.append(u)
        total += len(p["birth"])
    offs = np.cumsum([0] + [len(p["birth"]) for p in ps])
    uoffs = np.cumsum([0] + [len(ub["man"]) for ub in us])
    p = {}
    for f in PERSON_FIELDS:
        parts = []
        for i, pb in enumerate(ps):
            v = np.asarray(pb[f])
            if f in ("mother", "father"):
                v = np.where(v >= 0, v + offs[i], -1)
            elif f == "born_union":
                v = np.where(v >= 0, v + uoffs[i], -1)
            parts.append(v)
        p[f] = np.concatenate(parts) if parts else np.zeros(0)
    u = {}
    for f in UNION_FIELDS:
        parts = []
        for i, ub in enumerate(us):
            v = np.asarray(ub[f])
            if f in ("man", "woman"):
                v = v + offs[i]
            parts.append(v)
        u[f] = np.concatenate(parts) if parts else np.zeros(0)
    # remove a random excess
    npers = len(p["birth"])
    keep = np.ones(npers, bool)
    if npers > target:
        keep[rng.choice(npers, npers - target, replace=False)] = False
    newidx = np.full(npers, -1, dtype=np.int64)
    newidx[keep] = np.arange(keep.sum())
    for f in PERSON_FIELDS:
        p[f] = p[f][keep]
    for f in ("mother", "father"):
        v = p[f].astype(np.int64)
        p[f] = np.where(v >= 0, newidx[np.maximum(v, 0)], -1)
    um, uw = u["man"].astype(np.int64), u["woman"].astype(np.int64)
    ukeep = keep[um] & keep[uw] if len(um) else np.zeros(0, bool)
    unewidx = np.full(len(ukeep), -1, dtype=np.int64)
    unewidx[ukeep] = np.arange(ukeep.sum())
    for f in UNION_FIELDS:
        u[f] = u[f][ukeep]
    u["man"] = newidx[u["man"].astype(np.int64)]
    u["woman"] = newidx[u["woman"].astype(np.int64)]
    bu = p["born_union"].astype(np.int64)
    p["born_union"] = np.where(bu >= 0, unewidx[np.maximum(bu, 0)], -1)
    # fill with unattached persons (immigrants and NL-born without registered family)
    k = n - len(p["birth"])
    if k > 0:
        shift = _origin_shift(P)
        cutoff = day(P["cutoff"])
        imm = rng.random(k) < pp["filler_immigrants_share"]
        origin = np.where(imm, rng.choice([5, 6, 1, 2, 3, 4], size=k,
                                          p=[0.45, 0.35, 0.05, 0.05, 0.05, 0.05]), NL)
        birth = day("1930-01-01") + rng.integers(0, day("2005-12-31") - day("1930-01-01"), k)
        arrival = np.where(imm, np.minimum(birth + years(rng.uniform(0, 35, k)),
                                           cutoff - rng.integers(30, 3650, k)), birth)
        arrival = np.maximum(arrival, birth)
        anchor = shift[origin]
        fill = dict(birth=birth, male=rng.random(k) < 0.5, origin=origin.astype(np.int8),
                    migbg=np.where(imm, MIG_FIRST, MIG_NONE).astype(np.int8), arrival=arrival,
                    z=anchor + rng.standard_normal(k), anchor=anchor,
                    mother=np.full(k, -1), father=np.full(k, -1),
                    lineage=np.full(k, -1), born_union=np.full(k, -1))
        for f in PERSON_FIELDS:
            p[f] = np.concatenate([p[f], np.asarray(fill[f]).astype(p[f].dtype, copy=False)])
    pop = Population(
        birth=p["birth"].astype(np.int64), male=p["male"].astype(bool),
        origin=p["origin"].astype(np.int8), migbg=p["migbg"].astype(np.int8),
        arrival=p["arrival"].astype(np.int64), z=p["z"].astype(np.float64),
        anchor=p["anchor"].astype(np.float64), mother=p["mother"].astype(np.int64),
        father=p["father"].astype(np.int64), lineage=p["lineage"].astype(np.int64),
        born_union=p["born_union"].astype(np.int64),
        u_man=u["man"].astype(np.int64), u_woman=u["woman"].astype(np.int64),
        u_start=u["start"].astype(np.int64), u_end=u["end"].astype(np.int64),
        u_second=u["second"].astype(bool),
    )
    _deaths_and_emigration(rng, pop, P)
    return pop


def _deaths_and_emigration(rng: np.random.Generator, pop: Population, P: dict) -> None:
    """Gompertz deaths (conditional on surviving the last family event) and emigration."""
    pp = P["population"]
    cutoff = day(P["cutoff"])
    n = pop.n
    lb = pop.arrival.copy()
    for who in (pop.u_man, pop.u_woman):
        np.maximum.at(lb, who, pop.u_start)
    has_m = pop.mother >= 0
    np.maximum.at(lb, pop.mother[has_m], pop.birth[has_m])
    has_f = pop.father >= 0
    np.maximum.at(lb, pop.father[has_f], pop.birth[has_f])
    a_lb = (lb - pop.birth) / YEAR
    alpha = np.where(pop.male, pp["gompertz_alpha"]["M"], pp["gompertz_alpha"]["F"])
    alpha = alpha * np.exp(pp["mortality_propensity_lp"] * pop.z)
    beta = pp["gompertz_beta"]
    u = rng.random(n)
    death_age = np.log(np.exp(beta * a_lb) - beta * np.log(u) / alpha) / beta
    death = pop.birth + years(death_age) + 1
    death = np.maximum(death, lb + 1)
    pop.death = np.where(death <= cutoff, death, NA).astype(np.int64)
    ep = pp["emigration_prob"]
    prob = np.select([pop.migbg == MIG_NONE, pop.migbg == MIG_FIRST],
                     [ep["none"], ep["first_generation"]], ep["second_generation"])
    lo = np.maximum.reduce([pop.birth + years(18), pop.arrival + 365, lb + 1,
                            np.full(n, day("1990-01-01"))])
    em = lo + (rng.random(n) * (cutoff + years(10) - lo)).astype(np.int64)
    ok = (rng.random(n) < prob) & (em <= cutoff) & (em > lo - 1)
    ok &= (pop.death == NA) | (em < pop.death)
    pop.emigration = np.where(ok, em, NA).astype(np.int64)
