"""Criminal careers: trajectory groups from a latent risk index, yearly Poisson offending over age,
the target group (two routes) and decoy cases; detentions and probation advice per case."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from crimcareer import contract
from crimcareer.synth.dates import NA, YEAR, day, years
from crimcareer.synth.family import (HALF_SIBLING, PARENT, PARTNER, SIBLING, Childhood, Edges,
                                     _exit)
from crimcareer.synth.params import CATEGORIES, GROUPS
from crimcareer.synth.population import MIG_NONE, Population

CAT = {c: i for i, c in enumerate(CATEGORIES)}
OUT = {o: i for i, o in enumerate(contract.OUTCOMES)}
COUNTED = np.array([o not in contract.NOT_COUNTED_OUTCOMES for o in contract.OUTCOMES])
NON_OFFENDER, LOW, EARLY, LATE, HIGH = range(5)
ROUTE_NONE, ROUTE_EARLY, ROUTE_ATYPICAL = 0, 1, 2


@dataclass
class Cases:
    person: np.ndarray
    offence: np.ndarray
    category: np.ndarray
    outcome: np.ndarray
    registration: np.ndarray
    disposal: np.ndarray
    domestic: np.ndarray       # -1 null, 0 false, 1 true

    @staticmethod
    def concat(parts: list["Cases"]) -> "Cases":
        names = ("person", "offence", "category", "outcome", "registration", "disposal",
                 "domestic")
        return Cases(*(np.concatenate([getattr(p, f) for p in parts]) for f in names))

    def take(self, m: np.ndarray) -> "Cases":
        return Cases(*(getattr(self, f)[m] for f in ("person", "offence", "category", "outcome",
                                                     "registration", "disposal", "domestic")))

    @property
    def counted(self) -> np.ndarray:
        return COUNTED[self.outcome]


@dataclass
class Truth:
    group: np.ndarray
    route: np.ndarray
    p_target: np.ndarray
    is_target: np.ndarray
    extra: dict = field(default_factory=dict)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _curve(P: dict, group: np.ndarray, age: np.ndarray) -> np.ndarray:
    """Expected yearly registered cases by trajectory group and age (0 for non-offenders)."""
    cv = P["groups"]["curves"]
    peak = np.zeros(5)
    mode = np.zeros(5)
    width = np.ones(5)
    for g, name in enumerate(GROUPS[1:], start=1):
        peak[g], mode[g], width[g] = cv[name]["peak"], cv[name]["mode"], cv[name]["width"]
    return peak[group] * np.exp(-0.5 * ((age - mode[group]) / width[group]) ** 2)


def _offending(rng: np.random.Generator, P: dict, who: np.ndarray, group: np.ndarray, frail: np.ndarray,
               birth: np.ndarray, lo: np.ndarray, hi: np.ndarray, mult: np.ndarray,
               cat_probs: dict, floor: np.ndarray | float = 0.0) -> Cases:
    """Poisson offences over age-years in [lo, hi) (day numbers) for persons `who`."""
    max_age = P["groups"]["max_age"]
    ages = np.arange(12, max_age)
    n = len(who)
    if n == 0:
        return _empty_cases()
    # person-years in blocks to bound memory
    parts = []
    block = max(1, 4_000_000 // len(ages))
    for s in range(0, n, block):
        sl = slice(s, s + block)
        w = who[sl]
        b = birth[sl][:, None]
        y0 = b + years(ages)[None, :]
        y1 = b + years(ages + 1)[None, :]
        a = np.maximum(y0, lo[sl][:, None])
        e = np.minimum(y1, hi[sl][:, None])
        expo = np.clip(e - a, 0, None) / YEAR
        fl = np.broadcast_to(np.asarray(floor, dtype=np.float64), (n,))[sl][:, None]
        lam = (_curve(P, group[sl][:, None], ages[None, :] + 0.5) * mult[sl][:, None]
               + fl) * frail[sl][:, None] * expo
        k = rng.poisson(lam)
        pi, ai = np.nonzero(k)
        reps = k[pi, ai]
        pi, ai = np.repeat(pi, reps), np.repeat(ai, reps)
        start, length = a[pi, ai], (e[pi, ai] - a[pi, ai])
        off = start + (rng.random(len(pi)) * length).astype(np.int64)
        parts.append((w[pi], off))
    person = np.concatenate([p for p, _ in parts])
    offence = np.concatenate([o for _, o in parts])
    names = list(cat_probs)
    pr = np.array([cat_probs[c] for c in names], dtype=np.float64)
    cats = np.array([CAT[c] for c in names])[rng.choice(len(names), len(person), p=pr / pr.sum())]
    return Cases(person, offence, cats.astype(np.int8), np.zeros(len(person), np.int8),
                 np.zeros(len(person), np.int64), np.zeros(len(person), np.int64),
                 np.full(len(person), -1, np.int8))


def _empty_cases() -> Cases:
    z = np.zeros(0, np.int64)
    return Cases(z, z, z.astype(np.int8), z.astype(np.int8), z, z, z.astype(np.int8))


def _process(rng: np.random.Generator, P: dict, c: Cases, cutoff: int, exit_: np.ndarray, reg_lag: float,
             disp_lag: float, outcome_probs: dict) -> Cases:
    """Registration, disposal and outcome; drops cases registered after the cut-off or exit."""
    n = len(c.person)
    c.registration = c.offence + rng.exponential(reg_lag, n).astype(np.int64)
    c.disposal = c.registration + (rng.gamma(2.0, disp_lag / 2, n)).astype(np.int64) + 1
    names = list(outcome_probs)
    pr = np.array([outcome_probs[o] for o in names], dtype=np.float64)
    c.outcome = np.array([OUT[o] for o in names], np.int8)[rng.choice(len(names), n,
                                                                      p=pr / pr.sum())]
    pend = c.disposal > cutoff
    c.outcome = np.where(pend, OUT["pending"], c.outcome).astype(np.int8)
    c.disposal = np.where(pend, NA, c.disposal)
    keep = (c.registration <= cutoff) & (c.offence < exit_[c.person])
    return c.take(keep)


def trajectory_groups(rng: np.random.Generator, pop: Population, ch: Childhood, P: dict) -> np.ndarray:
    """Trajectory group per person from the risk index r = z + male + single parent + noise."""
    pg = P["groups"]
    n = pop.n
    r = (pop.z + pg["male_lp"] * pop.male + pg["single_parent_lp"] * ch.single_parent
         + pg["noise_scale"] * rng.logistic(size=n))
    t1, t2, t3 = pg["thresholds"]
    group = np.select([r < t1, r < t2, r < t3], [NON_OFFENDER, LOW, -1], HIGH)
    mid = group == -1
    group[mid] = np.where(rng.random(mid.sum()) < pg["early_share_of_peak_band"], EARLY, LATE)
    return group.astype(np.int8)


def general_careers(rng: np.random.Generator, pop: Population, group: np.ndarray, P: dict) -> Cases:
    """Registered cases of everyone from their trajectory group (targets are replaced later)."""
    pg = P["groups"]
    cutoff = day(P["cutoff"])
    n = pop.n
    frail = rng.gamma(pg["frailty_shape"], 1 / pg["frailty_shape"], n)
    # a family component of the offending rate, shared by the children of one union
    sd = pg["family_frailty_sd"]
    fam = np.where(pop.born_union >= 0, pop.born_union, len(pop.u_man) + np.arange(n))
    u = rng.standard_normal(len(pop.u_man) + n)
    frail = frail * np.exp(sd * u[fam] - sd**2 / 2)
    exit_ = _exit(pop, cutoff)
    lo = np.maximum(pop.arrival, day(P["register_start"]))
    who = np.nonzero(group != NON_OFFENDER)[0]
    mult = np.where(pop.male[who], 1.0, pg["female_rate_factor"])
    c = _offending(rng, P, who, group[who], frail[who], pop.birth[who], lo[who],
                   exit_[who], mult, P["cases"]["category_probs"])
    pc = P["cases"]
    c = _process(rng, P, c, cutoff, exit_, pc["registration_lag_days_mean"],
                 pc["disposal_lag_days_mean"], pc["outcome_probs"])
    return c


def first_counted(n: int, c: Cases) -> np.ndarray:
    """Per person the first counted offence date (NA if none)."""
    big = np.iinfo(np.int64).max
    f = np.full(n, big, dtype=np.int64)
    m = c.counted
    np.minimum.at(f, c.person[m], c.offence[m])
    return np.where(f == big, NA, f)


def criminal_family_at(fam: Edges, first: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Per person: a parent, (half-)sibling or (ex-)partner with a counted case before `at`."""
    n = len(first)
    sel = np.isin(fam.rel, (PARENT, SIBLING, HALF_SIBLING, PARTNER))
    ego, alter, start = fam.ego[sel], fam.alter[sel], fam.start[sel]
    t = at[ego]
    fa = first[alter]
    hit = (fa != NA) & (fa < t) & ((start == NA) | (start <= t))
    out = np.zeros(n, bool)
    out[ego[hit]] = True
    return out


def solve_intercept(lp: np.ndarray, target: float) -> float:
    """Intercept c with sum(sigmoid(c + lp)) = target (bisection; the sum is monotone in c)."""
    if len(lp) == 0 or target <= 0:
        return -50.0
    lo, hi = -60.0, 30.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if _sigmoid(mid + lp).sum() < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def target_probability(lp: np.ndarray, intercept: float, expected: float
                       ) -> tuple[np.ndarray, float, float]:
    """Planted probabilities `scale * sigmoid(intercept + lp)` whose sum is `expected`.

    The risk g = sigmoid(intercept + lp) is fixed by the parameters; only its scale follows the
    population (thinning), so the offender profile is the same at every size. When even scale 1
    gives too few offenders (a population far smaller than calibrated for), the intercept is raised
    instead (the old mechanism: the profile then saturates). Returns (p, scale, intercept used).
    """
    g = _sigmoid(intercept + lp)
    total = float(g.sum())
    if expected <= 0 or len(lp) == 0:
        return np.zeros(len(lp)), 0.0, intercept
    if total >= expected:
        return g * (expected / total), expected / total, intercept
    a = solve_intercept(lp, expected)
    return _sigmoid(a + lp), 1.0, a


TARGET_FEATURES = ("propensity", "male", "migration", "big4", "single_parent",
                   "no_startkwalificatie", "youth_care", "criminal_family")


def target_candidates(rng: np.random.Generator, pop: Population, ch: Childhood, P: dict,
                      fam: Edges, first: np.ndarray, skq23: np.ndarray, youth: np.ndarray
                      ) -> dict[str, dict]:
    """Per route ("early", "atypical"): every person's candidate index registration and offence
    date, eligibility and the features of the target logit (`TARGET_FEATURES`)."""
    pt = P["targets"]
    cutoff = day(P["cutoff"])
    n = pop.n
    p0, p1 = day(pt["period"][0]), day(pt["period"][1])
    exit_ = _exit(pop, cutoff)
    feats = {
        "propensity": pop.z,
        "male": pop.male.astype(float),
        "migration": (pop.migbg != MIG_NONE).astype(float),
        "big4": np.isin(pop.origin, (1, 2, 3, 4)).astype(float),
        "single_parent": ch.single_parent.astype(float),
        "no_startkwalificatie": (~skq23).astype(float),
        "youth_care": youth.astype(float),
    }
    # early starters: a young mode (escalation soon after the youth peak) and an older spread
    young = rng.random(n) < pt["early_index_young_share"]
    early_age = np.where(
        young, pt["early_index_age_min"] + rng.gamma(pt["early_index_age_shape"],
                                                     pt["early_index_age_scale"], n),
        np.maximum(rng.normal(pt["early_index_old_mean"], pt["early_index_old_sd"], n), 24.0))
    atyp_age = np.maximum(rng.normal(pt["atypical_index_age_mean"], pt["atypical_index_age_sd"],
                                     n), 22)
    out = {}
    for age, key in ((early_age, "early"), (atyp_age, "atypical")):
        reg = pop.birth + years(age)
        off = reg - rng.integers(0, P["cases"]["trafficking_registration_lag_days_max"], n)
        elig = ((reg >= p0) & (reg <= p1) & (off > pop.arrival + 30) & (off < exit_ - 30)
                & (off >= pop.birth + years(12)))
        f = dict(feats, criminal_family=criminal_family_at(fam, first, off).astype(float))
        out[key] = dict(reg=reg, off=off, eligible=elig, features=f)
    return out


def systematic_sample(p: np.ndarray, order: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Systematic PPS sampling (e.g. Cochran, Sampling Techniques, ch. 8): with persons in
    `order`, person i is drawn when a point of r + {0, 1, 2, ...} (r uniform) falls in its slice
    of the cumulated p. Every person is drawn with probability exactly p_i (p_i <= 1), and along
    `order` the number drawn never strays more than one from its expectation, so a profile sorted
    into the order is reproduced with far less noise than independent draws give. Written by hand:
    a cumulated sum and one uniform; no library samples a few million persons this way."""
    q = p[order]
    c = np.cumsum(q)
    r = rng.random()
    prev = np.concatenate(([0.0], c[:-1]))
    hit = np.floor(c - r) > np.floor(prev - r)
    out = np.zeros(len(p), bool)
    out[order[hit]] = True
    return out


def balance_order(rng: np.random.Generator, cand: dict[str, dict], pop: Population) -> np.ndarray:
    """Persons sorted by the profile the study reports (sex, migration, big-4 origin,
    single-parent childhood, startkwalificatie, criminal family, youth care, age at the candidate
    index case), random within ties: systematic sampling along it balances those shares."""
    f = cand["early"]["features"]
    age = (cand["early"]["reg"] - pop.birth) / YEAR
    keys = [rng.random(pop.n), np.digitize(age, (18.0, 25.0)),  # least significant first
            f["youth_care"], f["criminal_family"], f["no_startkwalificatie"], f["single_parent"],
            f["big4"], f["migration"], f["male"]]
    return np.lexsort(keys)


def target_logit(P: dict, key: str, features: dict[str, np.ndarray]) -> np.ndarray:
    """The linear predictor of the target logit of route `key` without its intercept."""
    coef = P["targets"][f"{key}_lp"]
    return sum(coef[k] * features[k] for k in TARGET_FEATURES)


def targets(rng: np.random.Generator, pop: Population, ch: Childhood, P: dict, fam: Edges, first: np.ndarray,
            skq23: np.ndarray, youth: np.ndarray, expected: float) -> dict:
    """Choose target offenders by two routes; returns per-person route, index registration date
    and p_target (the planted probability)."""
    pt = P["targets"]
    n = pop.n
    cand = target_candidates(rng, pop, ch, P, fam, first, skq23, youth)
    out = {}
    total_p = np.zeros(n)
    for route, key in ((ROUTE_EARLY, "early"), (ROUTE_ATYPICAL, "atypical")):
        c = cand[key]
        elig = c["eligible"]
        lp = target_logit(P, key, c["features"])
        share = pt["route_shares"]["early_starter" if route == ROUTE_EARLY else "atypical"]
        pe, scale, icpt = target_probability(lp[elig], pt["intercepts"][key], expected * share)
        p = np.zeros(n)
        p[elig] = pe
        out[key] = dict(reg=c["reg"], off=c["off"], p=p, intercept=icpt, scale=scale)
        total_p += p
    pe, pa = out["early"]["p"], out["atypical"]["p"]
    p_any = np.minimum(total_p, 1.0)
    chosen = systematic_sample(p_any, balance_order(rng, cand, pop), rng)
    early = rng.random(n) * total_p < pe          # the route, given a draw: by its share of p
    route = np.where(chosen, np.where(early, ROUTE_EARLY, ROUTE_ATYPICAL), ROUTE_NONE)
    index_reg = np.where(route == ROUTE_EARLY, out["early"]["reg"], out["atypical"]["reg"])
    index_off = np.where(route == ROUTE_EARLY, out["early"]["off"], out["atypical"]["off"])
    return dict(route=route.astype(np.int8), index_reg=index_reg, index_off=index_off,
                p_target=p_any, p_early=pe,
                intercepts={k: out[k]["intercept"] for k in out},
                scales={k: out[k]["scale"] for k in out})


def target_careers(rng: np.random.Generator, pop: Population, P: dict, tg: dict) -> tuple[np.ndarray, Cases]:
    """Careers of target offenders: group by route, pre-index (early starters only) and post-index
    offending, the index case, parallel and later trafficking cases."""
    pt, pg, pc = P["targets"], P["groups"], P["cases"]
    cutoff = day(P["cutoff"])
    exit_ = _exit(pop, cutoff)
    who = np.nonzero(tg["route"] != ROUTE_NONE)[0]
    n = len(who)
    route = tg["route"][who]
    grp = np.zeros(n, np.int8)
    for r, key in ((ROUTE_EARLY, "early_group_shares"), (ROUTE_ATYPICAL, "atypical_group_shares")):
        m = route == r
        sh = pt[key]
        names = list(sh)
        gi = np.array([GROUPS.index(g) for g in names])
        pr = np.array(list(sh.values()), dtype=float)
        grp[m] = gi[rng.choice(len(names), m.sum(), p=pr / pr.sum())]
    fs = pt["frailty_shape"]
    frail = rng.gamma(fs, 1 / fs, n)
    ioff, ireg = tg["index_off"][who], tg["index_reg"][who]
    lo = np.maximum(pop.arrival[who], day(P["register_start"]))
    gm = np.ones(len(GROUPS))
    for g, v in pt["group_rate_multipliers"].items():
        gm[GROUPS.index(g)] = v
    mult = pt["rate_multiplier"] * gm[grp]
    # pre-index (early starters only)
    pre_hi = np.where(route == ROUTE_EARLY, ioff, lo)
    pre = _offending(rng, P, who, grp, frail, pop.birth[who], lo, np.maximum(pre_hi, lo), mult,
                     pc["target_category_probs"])
    # some offenders desist after the index case (no new general offending)
    desist = rng.random(n) < pt["desistance_prob"]
    # after the index case: the group curve damped for post_index_years (sanction, supervision),
    # then the group curve again, so the whole career keeps its group's shape
    dip_end = np.minimum(ioff + 1 + years(pt["post_index_years"]), exit_[who])
    dip = _offending(rng, P, who, grp, frail, pop.birth[who], ioff + 1, dip_end,
                     mult * pt["post_index_multiplier"] * ~desist, pc["target_category_probs"],
                     floor=pt["post_index_floor_rate"] * ~desist)
    post = _offending(rng, P, who, grp, frail, pop.birth[who], dip_end, exit_[who],
                      mult * ~desist, pc["target_category_probs"],
                      floor=pt["post_index_floor_rate"] * ~desist)
    general = Cases.concat([pre, dip, post])
    general = _process(rng, P, general, cutoff, exit_, pc["registration_lag_days_mean"],
                       pc["disposal_lag_days_mean"], pc["outcome_probs"])
    # the index case
    io = pt["index_outcome_probs"]
    names = list(io)
    pr = np.array(list(io.values()), dtype=float)
    outc = np.array([OUT[o] for o in names], np.int8)[rng.choice(len(names), n, p=pr / pr.sum())]
    disp = ireg + rng.gamma(2.0, pc["trafficking_disposal_lag_days_mean"] / 2, n).astype(np.int64)
    pend = disp > cutoff
    idx_case = Cases(who, ioff, np.full(n, CAT["trafficking_sexual"], np.int8),
                     np.where(pend, OUT["pending"], outc).astype(np.int8), ireg,
                     np.where(pend, NA, disp), np.ones(n, np.int8))
    # parallel trafficking case (before the index disposal) and later ones (after it)
    par = rng.random(n) < pt["parallel_trafficking_prob"]
    poff = ioff + rng.integers(30, 540, n)
    par_c = Cases(who[par], poff[par], np.full(par.sum(), CAT["trafficking_sexual"], np.int8),
                  np.zeros(par.sum(), np.int8), np.zeros(par.sum(), np.int64),
                  np.zeros(par.sum(), np.int64), np.ones(par.sum(), np.int8))
    start = np.where(pend, ireg, disp)
    span = np.clip(exit_[who] - start, 0, None) / YEAR
    k = rng.poisson(pt["later_trafficking_rate"] * span)
    li = np.repeat(np.arange(n), k)
    loff = start[li] + (rng.random(len(li)) * span[li] * YEAR).astype(np.int64)
    later = Cases(who[li], loff, np.full(len(li), CAT["trafficking_sexual"], np.int8),
                  np.zeros(len(li), np.int8), np.zeros(len(li), np.int64),
                  np.zeros(len(li), np.int64),
                  (rng.random(len(li)) < 0.9).astype(np.int8))
    extra = _process(rng, P, Cases.concat([par_c, later]), cutoff, exit_,
                     pc["registration_lag_days_mean"], pc["trafficking_disposal_lag_days_mean"],
                     pc["outcome_probs"])
    cases = Cases.concat([general, idx_case, extra])
    return grp, cases


def decoys(rng: np.random.Generator, pop: Population, P: dict, tg: dict, expected: float) -> Cases:
    """Trafficking cases the study must not count: acquittals, technical dismissals, cross-border,
    outside the period, labour trafficking (persons drawn with the target risk, not targets)."""
    pt, pc = P["targets"], P["cases"]
    cutoff = day(P["cutoff"])
    exit_ = _exit(pop, cutoff)
    n_dec = int(rng.poisson(expected * pt["decoys_per_offender"]))
    w = np.where(tg["route"] == ROUTE_NONE, tg["p_early"] + 1e-12 * (pop.birth < day("2000-01-01")), 0)
    w = np.where(pop.birth < day("2002-01-01"), w, 0)
    cand = np.nonzero(w > 0)[0]
    if n_dec == 0 or len(cand) == 0:
        return _empty_cases()
    keys = np.log(w[cand]) + rng.gumbel(size=len(cand))   # weighted sampling without replacement
    who = cand[np.argsort(-keys)[: min(n_dec, len(cand))]]
    k = len(who)
    ts = pt["decoy_type_shares"]
    names = list(ts)
    typ = rng.choice(len(names), k, p=np.array(list(ts.values())) / sum(ts.values()))
    kind = np.array(names)[typ]
    p0, p1 = day(pt["period"][0]), day(pt["period"][1])
    lo = np.maximum(pop.birth[who] + years(16), pop.arrival[who] + 30)
    hi = np.minimum(exit_[who] - 1, cutoff)
    outside = kind == "outside_period"
    early = rng.random(k) < 0.5
    w_lo = np.where(outside, np.where(early, day("2000-01-01"), day("2018-01-01")), p0)
    w_hi = np.where(outside, np.where(early, p0 - 1, cutoff), p1)
    a, b = np.maximum(lo, w_lo), np.minimum(hi, w_hi)
    ok = a < b
    reg = a + (rng.random(k) * np.clip(b - a, 0, None)).astype(np.int64)
    off = np.maximum(reg - rng.integers(0, 300, k), pop.birth[who] + years(15))
    off = np.minimum(off, reg)
    cat = np.where(kind == "labour", CAT["trafficking_labour"], CAT["trafficking_sexual"])
    dom = np.where(kind == "cross_border", 0, 1)
    outc = np.select([kind == "acquittal", kind == "dismissal_technical"],
                     [OUT["acquittal"], OUT["dismissal_technical"]],
                     np.where(rng.random(k) < 0.8, OUT["conviction"], OUT["dismissal_policy"]))
    disp = reg + rng.gamma(2.0, pc["trafficking_disposal_lag_days_mean"] / 2, k).astype(np.int64)
    pend = disp > cutoff
    outc = np.where(pend, OUT["pending"], outc)
    c = Cases(who, off, cat.astype(np.int8), outc.astype(np.int8), reg, np.where(pend, NA, disp),
              dom.astype(np.int8))
    return c.take(ok & (off >= pop.birth[who] + years(12)))


def detentions(rng: np.random.Generator, pop: Population, c: Cases, P: dict) -> tuple[np.ndarray, ...]:
    """Custody spells from the disposal date of (some) convictions."""
    pd_ = P["detention"]
    cutoff = day(P["cutoff"])
    sev = np.array([P["cases"]["severity"][cat] for cat in CATEGORIES])[c.category]
    traf = c.category <= CAT["trafficking_labour"]
    prob = np.where(traf, pd_["prob_trafficking"], np.where(sev >= 4, pd_["prob_by_severity_ge4"],
                                                            0.03))
    has = (c.outcome == OUT["conviction"]) & (c.disposal != NA) & (rng.random(len(prob)) < prob)
    months = np.where(traf, pd_["months_mean"]["trafficking"], pd_["months_mean"]["general"])
    dur = (rng.exponential(months) * 30.4 + 14).astype(np.int64)
    person, start = c.person[has], c.disposal[has]
    end = start + dur[has]
    exit_ = _exit(pop, cutoff)
    ok = start < exit_[person]
    end = np.where(end >= exit_[person], NA, end)
    return person[ok], start[ok], end[ok]


def probation(rng: np.random.Generator, c: Cases, case_ids: np.ndarray, pop: Population, P: dict
              ) -> tuple[np.ndarray, ...]:
    """A probation advice record per prosecuted case (conviction or acquittal, or pending):
    requested and delivered with year-dependent probabilities."""
    pp = P["probation"]
    cutoff = day(P["cutoff"])
    ry = (1970 + c.registration / YEAR).astype(np.int64)
    pros = (np.isin(c.outcome, (OUT["conviction"], OUT["acquittal"], OUT["pending"]))
            & (ry >= pp["first_registration_year"]))
    idx = np.nonzero(pros)[0]
    yrs = ry[idx].astype(float)

    def interp(table: dict) -> np.ndarray:
        xs = np.array([float(k) for k in table])
        return np.interp(yrs, xs, np.array(list(table.values()), dtype=float))

    traf = c.category[idx] <= CAT["trafficking_labour"]
    preq = np.clip(interp(pp["request_prob_by_year"]) + pp["trafficking_request_bonus"] * traf,
                   0, 1)
    req = rng.random(len(idx)) < preq
    exit_ = _exit(pop, cutoff)
    rdate = c.registration[idx] + rng.integers(14, 120, len(idx))
    req &= (rdate <= cutoff) & (rdate < exit_[c.person[idx]])
    deliv = req & (rng.random(len(idx)) < interp(pp["delivered_prob_by_year"]))
    ddate = rdate + rng.integers(10, 70, len(idx))
    deliv &= (ddate <= cutoff) & (ddate < exit_[c.person[idx]])
    ap = pp["advice_probs"]
    names = np.array(list(ap))
    adv = names[rng.choice(len(names), len(idx), p=np.array(list(ap.values())) / sum(ap.values()))]
    return (idx, np.where(req, rdate, NA), np.where(deliv, ddate, NA),
            np.where(deliv, adv, None))
