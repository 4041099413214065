"""Probation-advice monitor: case selection and coverage against a slow reference on crafted data."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from crimcareer import contract
from crimcareer.adapters.files import Registers
from crimcareer.disclosure import Gate
from crimcareer.engine import Engine
from crimcareer.study import probation as PR
from crimcareer.study.spec import default_spec_path, load_spec
from crimcareer.study.withheld import drop_primary

D = dt.date


def typed(df: pd.DataFrame, name: str) -> pa.Table:
    types = {"string": pa.string(), "date": pa.date32(), "bool": pa.bool_(), "float": pa.float64()}
    cols = contract.TABLES[name].columns
    return pa.Table.from_pandas(df[[c.name for c in cols]], preserve_index=False,
                                schema=pa.schema([(c.name, types[c.type]) for c in cols]))


def crafted(n_dse: int = 120, n_cc: int = 120, seed: int = 0):
    """DSE offenders with index and repeat cases, criminal controls with decoy cases, advice rows."""
    rng = np.random.default_rng(seed)
    persons, cases, advice, cohort = [], [], [], []

    def case(pid, off, cat, outcome="conviction", reg_days=30, domestic=None):
        cid = f"C{len(cases):05d}"
        reg = None if reg_days is None else off + dt.timedelta(days=reg_days)
        cases.append(dict(case_id=cid, person_id=pid, offence_date=off, registration_date=reg,
                          disposal_date=None, article=None, offence_category=cat, domestic=domestic,
                          outcome=outcome, severity_max_years=None))
        return cid

    def add_advice(cid, pid, reg):
        u = rng.random()
        base = reg or D(2010, 1, 1)
        if u < 0.15:
            return  # no advice row at all
        rq = base + dt.timedelta(days=int(rng.integers(0, 90)))
        if u < 0.3:
            advice.append(dict(case_id=cid, person_id=pid, requested_date=None, delivered_date=None, advice=None))
        elif u < 0.45:
            advice.append(dict(case_id=cid, person_id=pid, requested_date=rq, delivered_date=None, advice=None))
        elif u < 0.5:  # delivered without a request date
            advice.append(dict(case_id=cid, person_id=pid, requested_date=None,
                               delivered_date=rq + dt.timedelta(days=20), advice="treatment"))
        else:
            advice.append(dict(case_id=cid, person_id=pid, requested_date=rq,
                               delivered_date=rq + dt.timedelta(days=int(rng.integers(5, 60))),
                               advice=str(rng.choice(["supervision", "treatment", "no_intervention"]))))
            if u > 0.9:  # a second, later advice row for the same case
                advice.append(dict(case_id=cid, person_id=pid, requested_date=rq + dt.timedelta(days=200),
                                   delivered_date=rq + dt.timedelta(days=260), advice="other"))

    for i in range(n_dse):
        pid = f"D{i:04d}"
        birth = D(1960, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365 * 40)))
        sex = str(rng.choice(["M", "F"], p=[0.85, 0.15]))
        persons.append(dict(person_id=pid, birth_date=birth, sex=sex))
        off = D(2008, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365 * 9)))
        cid = case(pid, off, "trafficking_sexual", domestic=True,
                   reg_days=None if rng.random() < 0.05 else 30)
        add_advice(cid, pid, cases[-1]["registration_date"])
        cohort.append(dict(person_id=pid, group="DSE", index_date=off, index_case_id=cid, sex=sex,
                           birth_date=birth))
        # earlier trafficking case: not a repeat
        if rng.random() < 0.3:
            case(pid, off - dt.timedelta(days=400), "trafficking_labour")
        # later trafficking cases: repeats unless acquitted
        for _ in range(int(rng.poisson(0.5))):
            later = off + dt.timedelta(days=int(rng.integers(1, 2000)))
            outcome = "acquittal" if rng.random() < 0.2 else "conviction"
            rid = case(pid, later, str(rng.choice(["trafficking_sexual", "trafficking_labour"])), outcome)
            add_advice(rid, pid, cases[-1]["registration_date"])
        if rng.random() < 0.5:  # a later non-trafficking case: never monitored
            case(pid, off + dt.timedelta(days=100), "property")
    for i in range(n_cc):
        pid = f"K{i:04d}"
        birth = D(1960, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365 * 40)))
        sex = str(rng.choice(["M", "F"]))
        persons.append(dict(person_id=pid, birth_date=birth, sex=sex))
        # decoys before the real index: outside the period, acquitted, excluded category
        case(pid, D(2005, 3, 1), "violence")
        case(pid, D(2008, 2, 1), "property", outcome="acquittal")
        case(pid, D(2008, 3, 1), "trafficking_labour", outcome="acquittal")
        off = D(2008, 6, 1) + dt.timedelta(days=int(rng.integers(0, 365 * 9)))
        cid = case(pid, off, str(rng.choice(["property", "violence", "drugs"])))
        add_advice(cid, pid, cases[-1]["registration_date"])
        later = case(pid, off + dt.timedelta(days=50), "property")
        add_advice(later, pid, cases[-1]["registration_date"])
        cohort.append(dict(person_id=pid, group="CC", index_date=off, index_case_id=None, sex=sex,
                           birth_date=birth))
    persons = pd.DataFrame(persons).assign(migration_background="none", origin_group="NL",
                                           death_date=None, emigration_date=None)
    return (pd.DataFrame(persons), pd.DataFrame(cases), pd.DataFrame(advice, columns=[
        "case_id", "person_id", "requested_date", "delivered_date", "advice"]), pd.DataFrame(cohort))


def make_registers(engine, persons, cases, advice=None):
    tables = {"persons": typed(persons, "persons"), "cases": typed(cases, "cases"),
              "relations": typed(pd.DataFrame(columns=contract.TABLES["relations"].column_names), "relations")}
    if advice is not None:
        tables["probation_advice"] = typed(advice, "probation_advice")
    return Registers(tables={k: engine.from_pandas(v) for k, v in tables.items()}, cutoff=D(2023, 12, 31))


def slow_cases(persons, cases, advice, cohort, spec) -> pd.DataFrame:
    """Obvious row-by-row reference of the monitored cases with their advice flags."""
    counted = cases[~cases.outcome.isin(spec.cases.not_counted_outcomes)]
    start, end = spec.target.period
    by_person = {k: g.sort_values(["offence_date", "case_id"]) for k, g in counted.groupby("person_id")}
    by_id = {c.case_id: c for c in cases.itertuples(index=False)}
    advice_by_case = dict(iter(advice.groupby("case_id")))
    rows = []
    for p in cohort.itertuples(index=False):
        mine = list(by_person.get(p.person_id, counted.iloc[:0]).itertuples(index=False))
        if p.group == "DSE":
            picked = [("index", by_id[p.index_case_id])]
            for c in mine:
                if (c.offence_category in spec.careers.trafficking_categories and c.offence_date > p.index_date
                        and c.case_id != p.index_case_id):
                    picked.append(("repeat", c))
        elif p.group == "CC":
            picked = []
            for c in mine:
                reg = c.registration_date if c.registration_date is not None else c.offence_date
                if c.offence_category not in spec.controls.exclude_categories and start <= reg <= end:
                    picked = [("index", c)]
                    break
        for kind, c in picked:
            a = advice_by_case.get(c.case_id, advice.iloc[:0])
            requested = bool((a.requested_date.notna() | a.delivered_date.notna()).any())
            delivered = bool(a.delivered_date.notna().any())
            reg = c.registration_date
            first_req = min([d for d in list(a.requested_date) + list(a.delivered_date) if d is not None and d == d],
                            default=None)
            if a.requested_date.notna().any():
                first_req = min(d for d in a.requested_date if d is not None and d == d)
            dl = min([d for d in a.delivered_date if d is not None and d == d], default=None)
            rows.append(dict(person_id=p.person_id, group=p.group, kind=kind, case_id=c.case_id,
                             sex=p.sex, requested=requested, delivered=delivered,
                             year=(reg or c.offence_date).year,
                             days_to_request=(first_req - reg).days if (reg and first_req) else np.nan,
                             days_to_delivery=(dl - reg).days if (reg and dl) else np.nan))
    return pd.DataFrame(rows)


def slow_coverage(ref: pd.DataFrame, by: str) -> dict:
    out = {}
    for (g, k, level), grp in ref.groupby(["group", "kind", by]):
        for m in ("requested", "delivered"):
            out[(g, k, level, m)] = (int(grp[m].sum()), len(grp))
    return out


@pytest.fixture(scope="module")
def data():
    return crafted()


@pytest.fixture(scope="module")
def slow(data, spec):
    return slow_cases(*data, spec)


@pytest.fixture(scope="module")
def big():
    """Enough offenders per registration year that some yearly cells pass the gate."""
    return crafted(n_dse=300, n_cc=0, seed=1)


def _fast_cases(engine, data, spec):
    persons, cases, advice, cohort = data
    reg = make_registers(engine, persons, cases, advice)
    coh = engine.from_pandas(PR._typed_cohort(cohort[["person_id", "group", "index_date", "index_case_id",
                                                      "sex", "birth_date"]]))
    fast = engine.to_pandas(PR.advice_cases(reg, coh, spec))
    return fast.sort_values(["group", "kind", "case_id"]).reset_index(drop=True)


def test_monitored_cases_and_flags_match_slow_reference(engine, spec, data, slow):
    fast = _fast_cases(engine, data, spec)
    slow = slow.sort_values(["group", "kind", "case_id"]).reset_index(drop=True)
    assert len(fast) == len(slow)
    assert (fast.kind == "repeat").sum() > 10 and (fast.group == "CC").sum() == 120
    for c in ["person_id", "group", "kind", "case_id", "requested", "delivered", "year"]:
        assert fast[c].astype(str).tolist() == slow[c].astype(str).tolist(), c
    for c in ["days_to_request", "days_to_delivery"]:
        assert np.allclose(fast[c].astype(float), slow[c].astype(float), equal_nan=True), c
    # requested includes a delivery without a request date; not everything is covered
    assert 0 < fast.requested.mean() < 1 and fast.delivered.mean() < fast.requested.mean()
    # advice type comes from the first delivered row
    two = fast[fast.case_id.isin(data[2].case_id[data[2].case_id.duplicated()])]
    assert len(two) and (two.advice != "other").all()


def test_coverage_matches_slow_reference(engine, spec, data, slow):
    fast = _fast_cases(engine, data, spec)
    for by in ("sex", "year"):
        t = PR.coverage_table(fast, [by])
        ref = slow_coverage(slow, by)
        got = {(r.group, r.kind, r[by], r.measure): (r.n, r.N) for _, r in t.iterrows()}
        assert got == ref
        assert ((t.ci_low <= t.pct) & (t.pct <= t.ci_high)).all()


def test_age_group_bounds():
    s = PR.age_group(pd.Series([12, 17, 18, 24, 25, 44, 45, np.nan]))
    assert s.tolist() == ["<18", "<18", "18-24", "18-24", "25-34", "35-44", "45+", "unknown"]


@pytest.mark.slow  # the gate's ledger audit (one LP per withheld cell) dominates: ~10 s unloaded
def test_probation_section(engine, spec, big, tmp_path):
    persons, cases, advice, cohort = big
    reg = make_registers(engine, persons, cases, advice)
    gate = Gate()
    sec = PR.probation_section(reg, cohort, gate, spec, engine, tmp_path)
    assert sec.key == "probation"
    pr = sec.extra["probation"]
    slow = slow_cases(persons, cases, advice, cohort, spec)
    dse = slow[(slow.group == "DSE") & (slow.kind == "index")]
    assert pr["requested"] == pytest.approx(dse.requested.mean())
    assert pr["delivered"] == pytest.approx(dse.delivered.mean())
    for year, v in pr["by_year"].items():
        g = dse[dse.year == int(year)]
        for m in ("requested", "delivered"):
            if v.get(m) is not None:
                assert v[m] == pytest.approx(g[m].mean())
                n, N = g[m].sum(), len(g)
                assert N >= 10 and (n == 0 or n >= 10) and (n == N or N - n >= 10)
    assert sum(v.get("requested") is not None for v in pr["by_year"].values()) >= 3
    for name in sec.tables:
        assert name in gate.tables and "person_id" not in gate.tables[name].columns
    cov = gate.tables["probation_coverage"]
    assert set(cov[cov.kind == "repeat"].breakdown) == {"all"}
    assert {"sex", "age_group"} <= set(cov[cov.kind == "index"].breakdown)
    # no hand declarations: the only relations are the gate's own n + (N - n) = N per row
    assert not gate.ledger.pending and not gate.ledger.rejected
    assert {r.why for r in gate.ledger.relations} <= {"n + (N - n) = N"}
    # the gate knows the persons behind every count: one case per person, the right sizes
    for name in ("probation_coverage", "probation_coverage_by_year", "probation_advice_type"):
        df = gate.tables[name]
        assert len(df) and len([r for r in gate._members if r[0] == name and r[2] == "N"]) == len(df)
        assert not df["suppressed"].str.contains("below").any()  # left out, not blank
    for ref, m in gate._members.items():
        c = gate.ledger.cells.get(ref)
        if ref[0].startswith("probation") and c is not None:
            assert len(m) == c.value, ref
    rep = slow[slow.kind == "repeat"]  # repeat cases count persons (each one's first)
    assert rep.person_id.nunique() < len(rep)
    assert len(gate._members[("probation_coverage", "DSE|repeat|all|all|requested", "N")]) \
        == rep.person_id.nunique()
    assert {r[1] for r in gate._sums if r[0] == "probation_days"}
    assert {s.variable for r, s in gate._sums.items() if r[0] == "probation_days"} >= {
        "days_to_request_index_case", "days_to_delivery_index_case"}
    counts, sums, _ = gate.membership_failures()
    assert not counts and not sums
    # the year axis does not end at a year of fewer than 10 cases
    yr = gate.tables["probation_coverage_by_year"]
    for (g, k), t in yr.groupby(["group", "kind"]):
        ends = t[t.year.isin([t.year.min(), t.year.max()])]
        assert (ends.N.dropna() >= 10).all()
    gate.finalise()
    assert (tmp_path / sec.figures[0].file).exists()
    missing = pd.read_csv(tmp_path / "internal" / "missing_advice.csv")
    expect = set(slow.case_id[~slow.requested | ~slow.delivered])
    assert set(missing.case_id) == expect


def test_probation_section_without_table(engine, spec, data, tmp_path):
    persons, cases, _, cohort = data
    reg = make_registers(engine, persons, cases, None)
    sec = PR.probation_section(reg, cohort, Gate(), spec, engine, tmp_path)
    assert "not available" in sec.text["en"] and sec.extra["probation"]["available"] is False
    assert not sec.tables


def test_year_rows_left_out_cannot_be_recovered_from_the_total():
    """Years partition the total: a year of 4 index cases left out would follow from the total
    minus the released years. With the section's members the gate withholds a cell."""
    rng = np.random.default_rng(3)
    years = np.repeat([2010, 2011, 2012, 2013], [40, 4, 50, 60])
    n = len(years)
    cases = pd.DataFrame({"person_id": [f"P{i:03d}" for i in range(n)], "group": "DSE",
                          "kind": "index", "case_id": [f"C{i:03d}" for i in range(n)],
                          "offence_date": pd.NaT, "year": years, "all": "all",
                          "requested": True, "delivered": rng.random(n) < 0.5})
    gate = Gate()
    total, tm = PR.coverage_table(cases, ["all"], with_members=True)
    by_year, ym = PR.coverage_table(cases, ["year"], with_members=True)
    by_year, ym = PR.trim_years(by_year, ym, 10)
    by_year, ym = drop_primary(by_year, ym, gate.rules)
    assert 2011 not in set(by_year.year)  # left out, not blank
    raw = total[total.measure == "requested"].N.iloc[0] - by_year[by_year.measure == "requested"].N.sum()
    assert raw == 4  # the attack on the unprotected release
    t = gate.proportions("probation_coverage", total.rename(columns={"all": "level"}),
                         estimate_cols=["pct"], key_cols=["group", "kind", "level", "measure"],
                         members=tm)
    y = gate.proportions("probation_coverage_by_year", by_year, estimate_cols=["pct"],
                         key_cols=["group", "kind", "year", "measure"], members=ym)
    for m in ("requested", "delivered"):
        tot = t[t.measure == m].N.iloc[0]
        rest = y[y.measure == m].N
        assert pd.isna(tot) or rest.isna().any(), "total minus the released years gives 4 persons"
    assert not gate.membership_failures()[0]
