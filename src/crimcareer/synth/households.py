"""Household membership spells: parental home, single-parent home after separation or a parent's
death, couples (with children), and singles after leaving home or separating."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crimcareer import contract
from crimcareer.synth.dates import NA, day
from crimcareer.synth.family import Childhood, _exit
from crimcareer.synth.population import Population

HT = {t: i for i, t in enumerate(contract.HOUSEHOLD_TYPES)}
HR = {r: i for i, r in enumerate(contract.HOUSEHOLD_ROLES)}


@dataclass
class Spells:
    person: np.ndarray
    household: np.ndarray      # int64 local household number
    start: np.ndarray
    end: np.ndarray
    htype: np.ndarray
    role: np.ndarray


def household_spells(pop: Population, ch: Childhood, P: dict) -> Spells:
    """All spells of one chunk; household numbers: unions 0.., single-parent homes U+.., singles 2U+.."""
    cutoff = day(P["cutoff"])
    exit_ = _exit(pop, cutoff)
    nu = len(pop.u_man)
    n = pop.n
    kids_per_union = np.bincount(pop.born_union[pop.born_union >= 0], minlength=nu)
    rows = []

    def add(person, hh, start, end, htype, role):
        start = np.maximum(start, pop.arrival[person])
        end = np.where(end == NA, cutoff + 1, end)
        end = np.minimum(end, exit_[person])
        ok = (start < end) & (start <= cutoff)
        end = np.where(end > cutoff, NA, end)
        rows.append((person[ok], hh[ok], start[ok], end[ok],
                     np.broadcast_to(htype, person.shape)[ok],
                     np.broadcast_to(role, person.shape)[ok]))

    # children in the parental home, then (after separation / death) a single-parent home
    kid = np.nonzero(pop.born_union >= 0)[0]
    u = pop.born_union[kid]
    sp = ch.single_parent_start[kid]
    home_end = np.where(sp != NA, sp, ch.leave_home[kid])
    add(kid, u, pop.birth[kid], home_end, HT["couple_with_children"], HR["child"])
    s = sp != NA
    add(kid[s], nu + u[s], sp[s], ch.leave_home[kid[s]], HT["single_parent"], HR["child"])
    # couples
    with_kids = kids_per_union > 0
    htype = np.where(with_kids, HT["couple_with_children"], HT["couple"])
    role = np.where(with_kids, HR["parent"], HR["partner"])
    uid = np.arange(nu)
    for who in (pop.u_man, pop.u_woman):
        add(who, uid, pop.u_start, pop.u_end, htype, role)
    # after separation: the mother heads a single-parent home while children live there, the
    # father lives alone
    sep = pop.u_end != NA
    last_leave = np.full(nu, NA, dtype=np.int64)
    np.maximum.at(last_leave, u, ch.leave_home[kid])
    m = sep & with_kids & (last_leave > pop.u_end)
    add(pop.u_woman[m], nu + uid[m], pop.u_end[m], last_leave[m], HT["single_parent"],
        HR["parent"])
    add(pop.u_man[sep], 2 * nu + pop.u_man[sep], pop.u_end[sep],
        np.full(sep.sum(), NA, np.int64), HT["single"], HR["single"])
    # young adults living alone from leaving home until their first union
    first_union = np.full(n, NA, dtype=np.int64)
    big = np.iinfo(np.int64).max
    fu = np.full(n, big, dtype=np.int64)
    for who in (pop.u_man, pop.u_woman):
        np.minimum.at(fu, who, pop.u_start)
    first_union = np.where(fu == big, NA, fu)
    everyone = np.arange(n)
    start = np.where(pop.born_union >= 0, ch.leave_home, pop.birth + 365 * 18)
    add(everyone, 2 * nu + n + everyone, start, first_union, HT["single"], HR["single"])
    cols = list(zip(*rows))
    return Spells(*(np.concatenate(c) for c in cols))
