"""Known differencing attacks: ACRO (suppress=True) lets each through; crimcareer's ledger blocks it.

Each test builds person-level data with a planted small cell, shows that an attacker recovers
the cell exactly from what ACRO releases, and that from what crimcareer's gate releases the
cell's feasible interval (an LP over every released number and declared relation) stays at
least ``protection`` wide, and the written folder passes ``audit_output``.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import pytest

from crimcareer.disclosure import Gate, Rules, audit_output

acro = pytest.importorskip("acro")


def _persons(cells: dict[tuple[str, str], int], names=("group", "trait")) -> pd.DataFrame:
    rows = [(a, b) for (a, b), n in cells.items() for _ in range(n)]
    return pd.DataFrame(rows, columns=list(names))


def _acro_status(acro_session) -> list[str]:
    return [acro_session.results.get(k).status for k in acro_session.results.get_keys()]


def _protected(gate: Gate, ref, U: float = 10.0) -> tuple[float, float]:
    lo, hi = gate.ledger.interval(ref)
    assert hi - lo >= U, (ref, lo, hi)
    return lo, hi


# -- 1: a suppressed subgroup cell = a total from a second table minus the released others ---
CELLS_1 = {("a", "yes"): 6, ("a", "no"): 40, ("b", "yes"): 20, ("b", "no"): 30,
           ("c", "yes"): 30, ("c", "no"): 25}


def test_attack_total_minus_others_acro_lets_through(acro_session):
    df = _persons(CELLS_1)
    t1 = acro_session.crosstab(df["group"], df["trait"])
    assert np.isnan(t1.loc["a", "yes"])  # ACRO withholds the small cell ...
    t2 = acro_session.crosstab(df["trait"], pd.Series("all", index=df.index, name="all"))
    recovered = t2.loc["yes", "all"] - t1.loc["b", "yes"] - t1.loc["c", "yes"]
    assert recovered == CELLS_1[("a", "yes")]  # ... and releases what gives it back
    assert "fail" not in _acro_status(acro_session)


@pytest.mark.parametrize("declare_first", [True, False])
def test_attack_total_minus_others_ledger_blocks(tmp_path, declare_first):
    counts = pd.Series(CELLS_1).unstack()
    totals = counts.sum(axis=0).to_frame("all")
    gate = Gate()
    t1 = gate.crosstab("by_group", counts, margins=False)
    assert np.isnan(t1.set_index("row").loc["a", "yes"])

    def declare():
        for v in ("yes", "no"):
            gate.declare_total(("totals", v, "all"), [("by_group", g, v) for g in counts.index],
                               why="the totals table sums the groups")

    if declare_first:
        declare()
    t2 = gate.crosstab("totals", totals, margins=False)
    if not declare_first:
        declare()  # a late declaration is audited at once
    gate.write(tmp_path)
    lo, hi = _protected(gate, ("by_group", "a", "yes"))
    assert lo <= CELLS_1[("a", "yes")] <= hi
    rel1, rel2 = t1.set_index("row"), t2.set_index("row")
    attack = rel2.loc["yes", "all"] - rel1.loc["b", "yes"] - rel1.loc["c", "yes"]
    assert np.isnan(attack)
    kinds = {s["kind"] for s in gate.records["totals"].suppressed + gate.records["by_group"].suppressed}
    assert kinds == {"primary", "ledger"}
    if declare_first:  # the new table gives way, not the one already handed out
        assert gate.records["totals"].suppressed and np.isnan(rel2.loc["yes", "all"])
    assert audit_output(tmp_path) == []


# -- 2: an exact k:1 matching ratio gives an offender cell from its control cell ---------------
CELLS_2 = {("F", "DSE"): 6, ("M", "DSE"): 34, ("F", "CC"): 12, ("M", "CC"): 68,
           ("F", "NC"): 12, ("M", "NC"): 68}


def test_attack_matching_ratio_acro_lets_through(acro_session):
    df = _persons(CELLS_2, ("sex", "group"))
    t = acro_session.crosstab(df["sex"], df["group"], margins=True)
    assert np.isnan(t.loc["F", "DSE"])
    ratio = 2  # published in the methods section: 2 controls per offender, exact on sex
    assert t.loc["F", "CC"] / ratio == CELLS_2[("F", "DSE")]
    assert "fail" not in _acro_status(acro_session)


def test_attack_matching_ratio_ledger_blocks(tmp_path):
    counts = pd.Series(CELLS_2).unstack()[["DSE", "CC", "NC"]]
    gate = Gate()
    gate.scalar("matching_ratio", 2, 40)
    for ctrl in ("CC", "NC"):
        gate.declare_matched(offender=[("sex_by_group", s, "DSE") for s in ("F", "M")],
                             control=[("sex_by_group", s, ctrl) for s in ("F", "M")],
                             ratio=2, why=f"exact 2:1 matching of {ctrl} on sex")
    t = gate.crosstab("sex_by_group", counts).set_index("row")
    gate.write(tmp_path)
    assert np.isnan(t.loc["F", "DSE"]) and np.isnan(t.loc["F", "CC"]) and np.isnan(t.loc["F", "NC"])
    lo, hi = _protected(gate, ("sex_by_group", "F", "DSE"))
    assert lo <= 6 <= hi
    assert audit_output(tmp_path) == []
    # without the declaration the within-table suppression alone would not protect the cell
    naive = Gate()
    naive.crosstab("sex_by_group", counts)
    for ctrl in ("CC", "NC"):
        for s in ("F", "M"):
            naive.ledger.relate({("sex_by_group", s, ctrl): 1, ("sex_by_group", s, "DSE"): -2})
    assert naive.ledger.failures(10.0)


# -- 3: a regression dummy for a small category ------------------------------------------------
def _small_category_data(seed=3):
    rng = np.random.default_rng(seed)
    n = 200
    small = np.r_[np.ones(5), np.zeros(n - 5)]
    y = rng.normal(50, 10, n)
    y[:5] = [81.0, 77.0, 90.0, 85.0, 79.0]  # the five persons' values
    return pd.DataFrame({"small": small, "x": rng.normal(size=n)}), y


def test_attack_regression_dummy_acro_lets_through(acro_session):
    X, y = _small_category_data()
    res = acro_session.ols(y, acro.add_constant(X[["small"]]))
    # intercept + dummy coefficient = the small category's mean: a 5-person cell
    assert res.params["const"] + res.params["small"] == pytest.approx(y[:5].mean())
    binary = (np.random.default_rng(0).random(200) < 0.4).astype(int)
    acro_session.logit(binary, acro.add_constant(X))
    assert _acro_status(acro_session) == ["pass", "pass"]


def test_attack_regression_dummy_gate_blocks(tmp_path):
    X, y = _small_category_data()
    import statsmodels.api as sm

    fit = sm.OLS(y, sm.add_constant(X[["small"]])).fit()
    coefs = pd.DataFrame({"term": fit.params.index, "coef": fit.params.to_numpy()})
    gate = Gate()
    out = gate.model("ols_small", coefs, int(fit.nobs), fit.df_resid, design=X)
    assert out.empty and gate.records["ols_small"].status == "suppressed"
    assert "small" in gate.records["ols_small"].suppressed[0]["reason"]
    # the same model without the small category passes
    ok = gate.model("ols_x", coefs, int(fit.nobs), fit.df_resid, design=X[["x"]])
    assert not ok.empty
    gate.write(tmp_path)
    assert audit_output(tmp_path) == []
    assert pd.read_csv(tmp_path / "tables" / "ols_small.csv").empty


def test_acro_profile_gate_also_blocks(tmp_path):
    """The ledger works under the ACRO-compatible profile too (zeros withheld as well)."""
    counts = pd.Series(CELLS_1).unstack()
    gate = Gate(Rules.for_profile("acro"))
    gate.crosstab("by_group", counts, margins=False)
    for v in ("yes", "no"):
        gate.declare_total(("totals", v, "all"), [("by_group", g, v) for g in counts.index])
    gate.crosstab("totals", counts.sum(axis=0).to_frame("all"), margins=False)
    _protected(gate, ("by_group", "a", "yes"))
