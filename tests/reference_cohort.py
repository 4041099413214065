"""Slow, obvious pandas references for the cohort and control definitions, and crafted data.

Everything here loops person by person in plain Python so that it can be read against the
definitions in issue 3; the engine code in crimcareer.study.cohort/controls is tested against it.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa

from crimcareer import contract
from crimcareer.adapters.files import Registers
from crimcareer.engine import Engine

CUTOFF = dt.date(2022, 12, 31)
CATEGORIES = ["trafficking_sexual", "trafficking_labour", "violence", "property", "drugs", "fraud"]
OUTCOMES = ["conviction", "dismissal_policy", "dismissal_technical", "acquittal", "pending"]


# -- crafted data --------------------------------------------------------------------------------
def random_population(n_persons: int = 400, seed: int = 0, share_offenders: float = 0.12,
                      years: tuple[int, int] = (1975, 1979)) -> dict[str, pd.DataFrame]:
    """A small random population (persons, cases) exercising every inclusion/exclusion rule.

    Few birth years, so that strata are shared; some null sexes; deaths and emigrations around
    the index dates; ids in two formats (leading zeros, letters) so string order matters.
    """
    rng = np.random.default_rng(seed)
    ids = [(f"{i:07d}" if i % 3 else f"P{i:05d}") for i in rng.permutation(n_persons)]
    birth = [dt.date(int(rng.integers(years[0], years[1] + 1)), int(rng.integers(1, 13)),
                     int(rng.integers(1, 29))) for _ in ids]
    sex = rng.choice(np.array(["M", "F", None], dtype=object), size=n_persons, p=[0.6, 0.37, 0.03])
    mig = rng.choice(np.array(["none", "first_generation", "second_generation", None], dtype=object),
                     size=n_persons, p=[0.6, 0.2, 0.15, 0.05])
    org = rng.choice(np.array(["NL", "MA", "TR", "SR", "AN", "other_western", None], dtype=object),
                     size=n_persons, p=[0.55, 0.1, 0.1, 0.08, 0.05, 0.07, 0.05])
    death = [_maybe_date(rng, 0.08, 2005, 2022) for _ in ids]
    emig = [_maybe_date(rng, 0.08, 2005, 2022) for _ in ids]
    persons = pd.DataFrame({
        "person_id": ids, "birth_date": birth, "sex": sex, "migration_background": mig,
        "origin_group": org, "death_date": death, "emigration_date": emig,
    })
    rows = []
    cid = 0
    for pid in ids:
        u = rng.random()
        if u < share_offenders:  # trafficking-type offenders
            n = int(rng.integers(1, 5))
            cats = ["trafficking_sexual"] + list(rng.choice(CATEGORIES, size=n - 1))
        elif u < 0.45:  # other offenders
            n = int(rng.integers(1, 4))
            cats = list(rng.choice(CATEGORIES[2:] + ["trafficking_labour"], size=n,
                                   p=[0.22, 0.22, 0.22, 0.22, 0.12]))
        else:
            continue
        for cat in cats:
            off = dt.date(int(rng.integers(2004, 2021)), int(rng.integers(1, 13)),
                          int(rng.integers(1, 29)))
            reg = None if rng.random() < 0.1 else off + dt.timedelta(days=int(rng.integers(0, 500)))
            dom = rng.choice(np.array([True, False, None], dtype=object), p=[0.75, 0.2, 0.05])
            rows.append({
                "case_id": f"C{cid:06d}", "person_id": pid, "offence_date": off,
                "registration_date": reg, "offence_category": str(cat), "domestic": dom,
                "outcome": str(rng.choice(OUTCOMES, p=[0.6, 0.15, 0.1, 0.1, 0.05])),
            })
            cid += 1
    cases = pd.DataFrame(rows)
    return {"persons": persons, "cases": cases}


def _maybe_date(rng: np.random.Generator, p: float, y0: int, y1: int) -> dt.date | None:
    if rng.random() >= p:
        return None
    return dt.date(int(rng.integers(y0, y1 + 1)), int(rng.integers(1, 13)), int(rng.integers(1, 29)))


def person(pid: str, birth: str = "1980-05-05", sex: str | None = "M", death: str | None = None,
           emig: str | None = None, mig: str | None = "none", origin: str | None = "NL") -> dict:
    """One crafted persons row."""
    return {"person_id": pid, "birth_date": _d(birth), "sex": sex, "migration_background": mig,
            "origin_group": origin, "death_date": _d(death), "emigration_date": _d(emig)}


def case(cid: str, pid: str, offence: str, registered: str | None = "same",
         category: str = "trafficking_sexual", domestic: bool | None = True,
         outcome: str = "conviction") -> dict:
    """One crafted cases row (registered="same": registered on the offence date)."""
    reg = offence if registered == "same" else registered
    return {"case_id": cid, "person_id": pid, "offence_date": _d(offence),
            "registration_date": _d(reg), "offence_category": category, "domestic": domestic,
            "outcome": outcome}


def _d(s: str | None) -> dt.date | None:
    return None if s is None else dt.date.fromisoformat(s)


def typed(name: str, df: pd.DataFrame) -> pa.Table:
    """A crafted frame as an Arrow table with the contract's column types (all-null columns too)."""
    types = {"string": pa.string(), "date": pa.date32(), "bool": pa.bool_(), "float": pa.float64()}
    cols = contract.TABLES[name].columns
    fields = [pa.field(c.name, types[c.type]) for c in cols if c.name in df.columns]
    df = df[[f.name for f in fields]].astype(object).where(df.notna(), None)
    return pa.Table.from_pandas(df, schema=pa.schema(fields), preserve_index=False)


def registers(engine: Engine, frames: dict[str, pd.DataFrame], cutoff: dt.date = CUTOFF) -> Registers:
    """Registers built from crafted pandas frames (dates as datetime.date objects)."""
    tables = {name: engine.from_pandas(typed(name, df)) for name, df in frames.items()}
    return Registers(tables=tables, cutoff=cutoff)


# -- references ----------------------------------------------------------------------------------
def _reg_date(c) -> dt.date:
    return c.registration_date if _present(c.registration_date) else c.offence_date


def _present(x) -> bool:
    return x is not None and not (isinstance(x, float) and np.isnan(x)) and not pd.isna(x)


def _date(x) -> dt.date | None:
    return pd.Timestamp(x).date() if _present(x) else None


def ref_counted_cases(cases: pd.DataFrame, spec) -> set[str]:
    """case_ids of counted cases."""
    return {c.case_id for c in cases.itertuples() if c.outcome not in spec.cases.not_counted_outcomes}


def ref_target_cases(cases: pd.DataFrame, spec) -> set[str]:
    """case_ids of target cases, one if-statement per rule."""
    out = set()
    start, end = spec.target.period
    for c in cases.itertuples():
        if c.outcome in spec.cases.not_counted_outcomes:
            continue
        if c.offence_category not in spec.target.offence_categories:
            continue
        if spec.target.domestic is not None:
            if not _present(c.domestic) or bool(c.domestic) != spec.target.domestic:
                continue
        if not (start <= _date(_reg_date(c)) <= end):
            continue
        out.add(c.case_id)
    return out


def ref_dse_cohort(persons: pd.DataFrame, cases: pd.DataFrame, spec) -> pd.DataFrame:
    """person_id, index_case_id, index_date: first target case by offence date, then case_id."""
    target = ref_target_cases(cases, spec)
    known = set(persons.person_id)
    by_person = _cases_by_person(cases)
    rows = []
    for pid in sorted(known):
        mine = [c for c in by_person.get(pid, []) if c.case_id in target]
        if not mine:
            continue
        first = sorted(mine, key=lambda c: (_date(c.offence_date), c.case_id))[0]
        rows.append({"person_id": pid, "index_case_id": first.case_id,
                     "index_date": _date(first.offence_date)})
    return pd.DataFrame(rows, columns=["person_id", "index_case_id", "index_date"])


def ref_cc_pool(persons: pd.DataFrame, cases: pd.DataFrame, spec) -> set[str]:
    """Persons never having an excluded-category case, with a counted other case in the period."""
    dse = set(ref_dse_cohort(persons, cases, spec).person_id)
    start, end = spec.target.period
    by_person = _cases_by_person(cases)
    out = set()
    for pid in persons.person_id:
        mine = by_person.get(pid, [])
        if any(c.offence_category in spec.controls.exclude_categories for c in mine):
            continue
        if pid in dse:
            continue
        if any(c.outcome not in spec.cases.not_counted_outcomes
               and start <= _date(_reg_date(c)) <= end for c in mine):
            out.add(pid)
    return out


def ref_nc_pool(persons: pd.DataFrame, cases: pd.DataFrame, cutoff: dt.date) -> set[str]:
    """Persons with no case at all up to the cut-off."""
    by_person = _cases_by_person(cases)
    return {pid for pid in persons.person_id
            if not any(_date(c.offence_date) <= cutoff for c in by_person.get(pid, []))}


def _cases_by_person(cases: pd.DataFrame) -> dict[str, list]:
    out: dict[str, list] = {}
    for c in cases.itertuples():
        out.setdefault(c.person_id, []).append(c)
    return out


def alive_and_resident(p, at: dt.date) -> bool:
    """Death and emigration date null or after the date, and born by then."""
    return ((not _present(p.death_date) or _date(p.death_date) > at)
            and (not _present(p.emigration_date) or _date(p.emigration_date) > at)
            and _date(p.birth_date) <= at)


def _key(p, exact: list[str]):
    out = []
    for v in exact:
        if v == "birth_year":
            out.append(_date(p.birth_date).year)
        else:
            x = getattr(p, v)
            out.append(x if _present(x) else None)
    return tuple(out)


def matching_violations(frame: pd.DataFrame, frames: dict[str, pd.DataFrame], spec,
                        cutoff: dt.date = CUTOFF, maximal: bool = True) -> list[str]:
    """Every way a cohort frame breaks the definitions (empty list: it is valid).

    With `maximal`, an offender with fewer than `ratio` controls of a group must have no eligible
    unused pool person left in its stratum (the greedy match cannot have skipped one).
    """
    persons, cases = frames["persons"], frames["cases"]
    P = {p.person_id: p for p in persons.itertuples()}
    bad: list[str] = []
    dse = ref_dse_cohort(persons, cases, spec)
    got = frame[frame.group == "DSE"]
    if set(got.person_id) != set(dse.person_id):
        bad.append("DSE persons differ from the reference")
    idx = {r.person_id: r.index_date for r in dse.itertuples()}
    for r in got.itertuples():
        if r.matched_to != r.person_id:
            bad.append(f"DSE {r.person_id} not matched to itself")
        if r.person_id in idx and _date(r.index_date) != idx[r.person_id]:
            bad.append(f"DSE {r.person_id} index date {r.index_date} != {idx[r.person_id]}")
    pools = {"CC": ref_cc_pool(persons, cases, spec), "NC": ref_nc_pool(persons, cases, cutoff)}
    exact = list(spec.controls.exact)
    for g in spec.controls.groups:
        ctrl = frame[frame.group == g]
        if ctrl.person_id.duplicated().any():
            bad.append(f"{g}: a control used twice")
        for r in ctrl.itertuples():
            p, o = P[r.person_id], P.get(r.matched_to)
            if r.person_id not in pools[g]:
                bad.append(f"{g} {r.person_id} not in the pool")
            if o is None or r.matched_to not in idx:
                bad.append(f"{g} {r.person_id} matched to a non-offender")
                continue
            if _date(r.index_date) != idx[r.matched_to]:
                bad.append(f"{g} {r.person_id} index date is not its offender's")
            if _key(p, exact) != _key(o, exact):
                bad.append(f"{g} {r.person_id} differs from {r.matched_to} on {exact}")
            if not alive_and_resident(p, idx[r.matched_to]):
                bad.append(f"{g} {r.person_id} not alive/resident at the index date")
            if r.sex != (p.sex if _present(p.sex) else None) or _date(r.birth_date) != _date(p.birth_date):
                bad.append(f"{g} {r.person_id} attributes differ from persons")
        counts = ctrl.groupby("matched_to").size()
        if (counts > spec.controls.ratio).any():
            bad.append(f"{g}: an offender has more than {spec.controls.ratio} controls")
        if maximal:
            used = set(ctrl.person_id)
            for pid, at in idx.items():
                if counts.get(pid, 0) >= spec.controls.ratio:
                    continue
                free = [q for q in pools[g] if q not in used
                        and _key(P[q], exact) == _key(P[pid], exact)
                        and alive_and_resident(P[q], at)]
                if free:
                    bad.append(f"{g}: offender {pid} short of controls while {free[:3]} are free")
    return bad
