"""The disclosure gate: primary rules, secondary suppression, ledger LP, writing and re-auditing."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from crimcareer.disclosure import (SUPPRESSED, Gate, PersonLevelError, Rules, audit_output,
                                   magnitude_reason, merged_bins, proportion_reasons)
from crimcareer.disclosure.ledger import Cell, Ledger
from crimcareer.study.spec import DisclosureSpec


# -- profiles ---------------------------------------------------------------------------------
def test_rules_from_spec_profiles():
    cbs = Rules.from_spec(DisclosureSpec())
    assert (cbs.profile, cbs.zeros, cbs.negatives, cbs.min_persons) == ("cbs", "flag", "abs", 10)
    acro = Rules.from_spec({"profile": "acro", "min_persons": 5, "rounding": 5})
    assert (acro.zeros, acro.negatives, acro.min_persons, acro.rounding) == ("suppress", "suppress", 5, 5)

    class Study:  # a StudySpec-like object with a disclosure section
        disclosure = DisclosureSpec(profile="acro", p_percent=5.0)

    assert Rules.from_spec(Study()).p_percent == 5.0
    from crimcareer.study.spec import default_spec_path, load_spec

    flagship = Rules.from_spec(load_spec(default_spec_path()))
    assert flagship == Rules()  # the flagship spec states the cbs defaults
    with pytest.raises(ValueError):
        Rules.for_profile("nope")


# -- proportions ------------------------------------------------------------------------------
def _props(ns, Ns):
    return pd.DataFrame({"variable": [f"v{i}" for i in range(len(ns))], "group": "DSE",
                         "n": ns, "N": Ns, "pct": [100 * n / N for n, N in zip(ns, Ns)]})


@pytest.mark.parametrize("profile", ["cbs", "acro"])
def test_proportions_edge_values(profile):
    ns = [0, 9, 10, 11, 40, 45, 50, 9]
    Ns = [50, 50, 50, 50, 50, 50, 50, 9]
    g = Gate(Rules.for_profile(profile))
    out = g.proportions("p", _props(ns, Ns), estimate_cols=["pct"])
    bad = out[SUPPRESSED] != ""
    for i, (n, N) in enumerate(zip(ns, Ns)):
        small = (0 < n < 10) or N < 10 or (0 < N - n < 10)
        zero = n == 0 or N - n == 0
        expect = small or (zero and profile == "acro")
        assert bad.iloc[i] == expect, (n, N, out.iloc[i].to_dict())
        if expect:  # estimates never released without their counts
            assert out[["n", "N", "pct"]].iloc[i].isna().all()
        else:
            assert out["n"].iloc[i] == n and out["pct"].iloc[i] == pytest.approx(100 * n / N)
    flags = " ".join(g.records["p"].comments)
    if profile == "cbs":
        assert "v0|DSE: zero cell" in flags and "v6|DSE: all in one category" in flags
    # the returned frame is the one the gate writes (callers may edit it in place)
    assert g.tables["p"] is out


def test_proportion_reasons_targets():
    r, f, t = proportion_reasons(pd.Series([3.0, 45.0, 20.0]), pd.Series([50.0, 50.0, 5.0]), Rules())
    assert list(t) == ["n", "N-n", "N"]
    assert all(r != "")


def test_person_level_frames_refused():
    g = Gate()
    df = pd.DataFrame({"person_id": ["1"], "n": [10], "N": [20]})
    with pytest.raises(PersonLevelError):
        g.proportions("x", df)
    with pytest.raises(PersonLevelError):
        g.crosstab("y", pd.DataFrame({"person_id": [12], "a": [30]}))
    with pytest.raises(PersonLevelError):
        g.magnitudes("z", df.assign(mean=1.0), [np.ones(20)])
    with pytest.raises(PersonLevelError):
        g.curve("c", pd.DataFrame({"person_id": ["1"], "at_risk": [20]}))
    with pytest.raises(PersonLevelError):
        g.model("m", pd.DataFrame({"person_id": ["1"], "coef": [1.0]}), 100, 90)


# -- magnitudes -------------------------------------------------------------------------------
def test_magnitude_rules_planted():
    rules = Rules()
    rng = np.random.default_rng(1)
    even = rng.uniform(10, 11, 30)
    assert magnitude_reason(even, rules) == ""
    assert "fewer" in magnitude_reason(even[:9], rules)
    assert magnitude_reason(even[:10], rules) == ""
    dominant = np.r_[1000.0, 900.0, np.ones(20)]  # top 2 hold 99%
    assert "dominance" in magnitude_reason(dominant, rules)
    # p%: the rest is 5% of the largest. With n=2, k=90%, p=10% the p% rule implies dominance
    # (rest < 0.1 top1 <= 0.1 total), so show it alone under a laxer dominance k.
    p_case = np.r_[100.0, 90.0, np.full(10, 0.5)]
    assert p_case[:2].sum() / p_case.sum() < 0.99
    assert "p%" in magnitude_reason(p_case, Rules(dominance_k=99.0))
    assert magnitude_reason(np.r_[100.0, 90.0, np.full(10, 1.2)], Rules(dominance_k=99.0)) == ""
    # negative values: cbs judges |x| (a dominant negative contributor is caught) ...
    neg = np.r_[-1000.0, 5.0, np.ones(20)]
    assert "dominance" in magnitude_reason(neg, rules)
    # ... acro withholds the cell as ACRO does
    assert "negative" in magnitude_reason(neg, Rules.for_profile("acro"))
    assert "negative" not in magnitude_reason(neg + 2000, Rules.for_profile("acro"))


def test_magnitudes_refuse_extremes_and_blank():
    g = Gate()
    df = pd.DataFrame({"variable": ["a", "b"], "N": [20, 5], "mean": [1.0, 2.0], "sd": [0.1, 0.2]})
    out = g.magnitudes("m", df, [np.ones(20), np.ones(5)], stat_cols=("N", "mean", "sd"))
    assert out.loc[0, "mean"] == 1.0 and np.isnan(out.loc[1, "mean"]) and np.isnan(out.loc[1, "N"])
    # a person count column goes with its withheld cell even when not named in stat_cols
    out = g.magnitudes("m3", df.rename(columns={"N": "n"}), [np.ones(20), np.ones(5)])
    assert out.loc[0, "n"] == 20 and np.isnan(out.loc[1, "n"])
    with pytest.raises(ValueError, match="minima"):
        g.magnitudes("m2", df.assign(max=3.0), [np.ones(20), np.ones(5)])


# -- curves, histograms, models ----------------------------------------------------------------
def test_overlapping_counts_rounded_and_at_risk_kept_back():
    rng = np.random.default_rng(0)
    vals = [rng.poisson(2, n).astype(float) for n in (23, 27, 31)]
    df = pd.DataFrame({"age": [12, 13, 14], "n": [23, 27, 31],
                       "mean": [v.mean() for v in vals]})
    g = Gate()
    out = g.magnitudes("m", df, vals, stat_cols=["mean"], round_counts=10)
    assert list(out["n"]) == [20, 30, 30] and np.allclose(out["mean"], df["mean"])
    assert any("rounded" in r for r in g.records["m"].rules)
    cur = g.curve("c", pd.DataFrame({"age": [12, 13, 14], "fit": [.1, .2, .3],
                                     "at_risk": [40, 38, 9]}), release_at_risk=False)
    assert list(cur.columns) == ["age", "fit"] and len(cur) == 2


def test_curve_cut_per_group():
    df = pd.DataFrame({"g": ["a"] * 4 + ["b"] * 3, "t": [0, 1, 2, 3, 0, 1, 2],
                       "at_risk": [50, 20, 9, 12, 15, 10, 10]})
    out = Gate().curve("c", df, by="g")
    assert list(out["at_risk"]) == [50, 20, 15, 10, 10]  # stops at the first 9, never resumes


@pytest.mark.parametrize("seed", range(6))
def test_curve_thinning_keeps_every_step_at_least_k_persons(seed):
    """Slow reference: every pair of successive released points of a KM-like curve differs by
    0 or >= k events and 0 or >= k leavers; the first at-risk count (everyone followed) is
    withheld; a point is dropped only when keeping it would break that."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(30, 400))
    d = rng.exponential(rng.uniform(100, 1500), n).round()
    e = rng.random(n) < rng.uniform(0.2, 0.9)
    grid = np.arange(0, d.max(), 30.4375)
    df = pd.DataFrame({"t": grid, "at_risk": [(d >= x).sum() for x in grid],
                       "events": [(e & (d < x)).sum() for x in grid]})
    df["est"] = df["events"] / n
    out = Gate().curve("c", df, events_col="events")
    assert "events" not in out.columns and np.isnan(out["at_risk"].iloc[0])
    assert (out["at_risk"].iloc[1:] >= 10).all()
    pts = df.set_index("t").loc[out["t"]]
    last = pts.iloc[0]
    for t, row in pts.iloc[1:].iterrows():
        de = row["events"] - last["events"]
        left = last["at_risk"] - row["at_risk"]
        assert de == 0 or de >= 10
        assert left == 0 or left >= 10
        assert pts["at_risk"].iloc[0] - row["at_risk"] >= 10
        last = row
    # greedy and maximal: each dropped point (before the at-risk cut) would break a rule
    kept = set(out["t"])
    for t, row in df[df["at_risk"] >= 10].set_index("t").iterrows():
        if t in kept:
            continue
        prev = pts[pts.index < t].iloc[-1]
        de = row["events"] - prev["events"]
        left = prev["at_risk"] - row["at_risk"]
        assert not ((de == 0 or de >= 10) and (left == 0 or left >= 10)
                    and df["at_risk"].iloc[0] - row["at_risk"] >= 10)


def test_curve_step_through_a_tied_point_is_thinned():
    """The estimate at t counts events at exactly t, the at-risk count still holds them: ten
    events at t=10 make [10, 20) hold 19 events but (10, 20] only 9, which r(1 - S_b/S_a)
    gives away. The point at 20 must go."""
    times = [5.0] * 10 + [10.0] * 10 + [15.0] * 9 + [25.0] * 20 + [40.0] * 51
    status = [1] * 49 + [0] * 51
    p = pd.DataFrame({"person_id": [f"p{i}" for i in range(100)], "time": times,
                      "status": status})
    grid = [0.0, 10.0, 20.0, 30.0]
    tt = np.array(times)
    df = pd.DataFrame({"time": grid, "estimate": [0.0, 0.2, 0.29, 0.49],
                       "at_risk": [(tt >= t).sum() for t in grid]})
    out = Gate().curve("c", df, persons=p, estimate_cols=["estimate"])
    assert list(out["time"]) == [0.0, 10.0, 30.0]


def test_events_at_a_released_point_are_known_through_it():
    """One event at exactly t=10: the at-risk count at 10 holds that person, the estimate at
    10 counts them; released together they give the one person away, so the point goes."""
    times = [5.0] * 10 + [10.0] + [25.0] * 29 + [40.0] * 60
    status = [1] * 40 + [0] * 60
    p = pd.DataFrame({"person_id": [f"p{i}" for i in range(100)], "time": times,
                      "status": status})
    tt = np.array(times)
    grid = [0.0, 10.0, 30.0]
    df = pd.DataFrame({"time": grid, "at_risk": [(tt >= t).sum() for t in grid]})
    assert list(Gate().curve("c", df, persons=p)["time"]) == [0.0, 30.0]


@pytest.mark.parametrize("seed", range(4))
def test_curve_thinning_by_persons_cuts_steps_both_ways(seed):
    """Slow reference on a grid that falls on the persons' (whole-day) times: between kept
    points every status counts 0 or >= k persons in [a, b) and in (a, b]; a point is dropped
    only when keeping it would break that."""
    from crimcareer.disclosure.gate import _thin_by_persons

    rng = np.random.default_rng(seed)
    n = 3000
    d = rng.integers(0, 600, n).astype(float)
    st = rng.choice([0, 1, 2], size=n, p=[0.3, 0.5, 0.2])
    p = pd.DataFrame({"time": d, "status": st})
    grid = np.arange(0.0, 600.0, 10.0)
    df = pd.DataFrame({"time": grid, "at_risk": [(d >= t).sum() for t in grid]})

    def ok(a, b):
        return all(x == 0 or x >= 10 for s in (0, 1, 2) for x in (
            ((d >= a) & (d < b) & (st == s)).sum(), ((d > a) & (d <= b) & (st == s)).sum()))

    out, _ = _thin_by_persons(df, "at_risk", "time", p, 10)
    kept = out["time"].to_numpy()
    assert len(kept) >= 5
    for a, b in zip(kept[:-1], kept[1:]):
        assert ok(a, b)
    for t in set(grid) - set(kept):
        a = kept[kept < t].max()
        assert not (ok(a, t) and (d >= 0).sum() - (d >= t).sum() >= 10)


@pytest.mark.parametrize("seed", range(5))
def test_histogram_merge_against_reference(seed):
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 25, rng.integers(3, 15))
    df = pd.DataFrame({"lo": np.arange(len(counts)), "hi": np.arange(len(counts)) + 1, "n": counts})
    out = Gate().histogram("h", df)
    if counts.sum() < 10:
        assert out.empty
        return
    # every released bin holds >= 10, bins tile the range, counts add up
    assert (out["n"] >= 10).all()
    assert out["n"].sum() == counts.sum()
    assert out["lo"].iloc[0] == 0 and out["hi"].iloc[-1] == len(counts)
    assert (out["lo"].iloc[1:].to_numpy() == out["hi"].iloc[:-1].to_numpy()).all()
    # reference: no released bin could be split into two bins that both pass
    for g in merged_bins(counts, 10)[:-1]:
        assert counts[g[:-1]].sum() < 10


def test_model_rules_and_design_dummies():
    coefs = pd.DataFrame({"term": ["const", "small"], "coef": [1.0, 2.0]})
    g = Gate()
    assert g.model("ok", coefs, 100, 98).equals(coefs)
    assert g.model("df", coefs, 11, 9).empty
    design = pd.DataFrame({"small": [1] * 5 + [0] * 95, "x": np.linspace(0, 1, 100)})
    assert g.model("dummy", coefs, 100, 98, design=design).empty
    assert "small" in g.records["dummy"].suppressed[0]["reason"]
    assert g.model("cat", coefs, 100, 98, {"origin=AN": 4}).empty


def test_rounding_releases_multiples_and_widens_ledger():
    g = Gate(Rules(rounding=5))
    out = g.proportions("p", _props([23, 31], [77, 77]))
    assert (out["n"] % 5 == 0).all() and list(out["n"]) == [25, 30]
    assert g.ledger.cells[("p", "v0|DSE", "n")].halfwidth == 2.5


# -- the ledger LP ---------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_ledger_interval_matches_frechet_bounds(seed):
    """2x2 table with all cells withheld and margins released: the LP gives the Frechet bounds."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 40, (2, 2)).astype(float)
    led = Ledger()
    for i, j in itertools.product(range(2), range(2)):
        led.add(Cell(("t", str(i), str(j)), t[i, j], None, protect=True))
    for i in range(2):
        led.add(Cell(("t", str(i), "All"), t[i].sum(), t[i].sum()))
        led.add(Cell(("t", "All", str(i)), t[:, i].sum(), t[:, i].sum()))
        led.relate({("t", str(i), "0"): 1, ("t", str(i), "1"): 1, ("t", str(i), "All"): -1})
        led.relate({("t", "0", str(i)): 1, ("t", "1", str(i)): 1, ("t", "All", str(i)): -1})
    r1, c1, T = t[0].sum(), t[:, 0].sum(), t.sum()
    lo, hi = led.interval(("t", "0", "0"))
    assert lo == pytest.approx(max(0.0, r1 + c1 - T)) and hi == pytest.approx(min(r1, c1))


def _brute_min_cost(values: np.ndarray, primary: set, U: float) -> float:
    """Slow reference: the cheapest set of complementary cells (by value+1) found by trying
    every subset in order of cost and auditing each with the LP."""
    R, C = values.shape
    full = np.zeros((R + 1, C + 1))
    full[:R, :C] = values
    full[:R, C] = values.sum(1)
    full[R, :C] = values.sum(0)
    full[R, C] = values.sum()
    cells = [(i, j) for i in range(R + 1) for j in range(C + 1)]
    cand = [c for c in cells if c not in primary]
    subsets = []
    for r in range(len(cand) + 1):
        for sub in itertools.combinations(cand, r):
            subsets.append((sum(full[c] + 1 for c in sub), sub))
    subsets.sort(key=lambda x: x[0])
    for cost, sub in subsets:
        hid_ = primary | set(sub)
        # necessary (sound prune): each primary cell shares its row and its column with
        # another withheld cell, or the row / column relation pins it
        if any(not any((i, jj) in hid_ for jj in range(C + 1) if jj != j)
               or not any((ii, j) in hid_ for ii in range(R + 1) if ii != i) for i, j in primary):
            continue
        led = Ledger()
        hid = primary | set(sub)
        for (i, j) in cells:
            led.add(Cell(("t", str(i), str(j)), full[i, j], None if (i, j) in hid else full[i, j],
                         protect=(i, j) in primary))
        for i in range(R + 1):
            led.relate({**{("t", str(i), str(j)): 1 for j in range(C)}, ("t", str(i), str(C)): -1})
        for j in range(C + 1):
            led.relate({**{("t", str(i), str(j)): 1 for i in range(R)}, ("t", str(R), str(j)): -1})
        if not led.failures(U):
            return cost
    return np.inf


@pytest.mark.parametrize("seed", range(3))
def test_crosstab_secondary_is_optimal_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(10, 40, (2, 3)).astype(float)
    values[rng.integers(0, 2), rng.integers(0, 3)] = rng.integers(1, 10)
    g = Gate()
    out = g.crosstab("t", pd.DataFrame(values, index=["a", "b"], columns=["x", "y", "z"]))
    sup = [c for c in g.ledger.cells.values() if c.suppressed]
    primary = {(int(["a", "b", "All"].index(c.ref[1])), ["x", "y", "z", "All"].index(c.ref[2]))
               for c in sup if c.kind == "primary"}
    cost = sum(c.value + 1 for c in sup if c.kind == "secondary")
    assert primary and cost > 0
    assert cost == pytest.approx(_brute_min_cost(values, primary, 10.0))
    assert not g.ledger.failures(10.0)
    # withheld cells are blank in the released frame, with a reason
    assert out.drop(columns=["row", SUPPRESSED]).isna().sum().sum() == len(sup)
    assert (out[SUPPRESSED] != "").sum() == len({c.ref[1] for c in sup})


def test_crosstab_without_small_cells_is_untouched():
    counts = pd.DataFrame({"x": [10, 20], "y": [30, 11]}, index=["a", "b"])
    out = Gate().crosstab("t", counts)
    assert out[SUPPRESSED].eq("").all() and out.loc[2, "All"] == 71


# -- write, audit, check ------------------------------------------------------------------------
def _gate_with_outputs(tmp_path):
    g = Gate()
    g.crosstab("ct", pd.DataFrame({"x": [3, 20, 30], "y": [25, 22, 40], "z": [30, 15, 12]},
                                  index=pd.Index(["a", "b", "c"], name="grp")))
    g.proportions("props", pd.DataFrame({"variable": "male", "group": ["DSE", "CC", "NC"],
                                         "n": [5, 40, 50], "N": [60, 60, 60],
                                         "pct": [8.3, 66.7, 83.3]}), estimate_cols=["pct"])
    g.curve("km", pd.DataFrame({"t": [0, 1, 2], "s": [1, .9, .8], "at_risk": [40, 20, 5]}))
    g.scalar("dse_size", 60, 60, count=True)
    g.declare_equal(("props", "male|DSE", "N"), ("dse_size", "", "value"))
    (tmp_path / "figures").mkdir(parents=True)
    (tmp_path / "figures" / "f.svg").write_text("<svg/>")
    g.figure("f", ["ct"], ["figures/f.svg"])
    g.write(tmp_path)
    return g


def test_write_and_audit_clean(tmp_path):
    _gate_with_outputs(tmp_path)
    doc = json.loads((tmp_path / "disclosure.json").read_text())
    ct = doc["results"]["ct"]
    assert {"uid", "status", "type", "properties", "files", "outcome", "comments"} <= set(ct)
    kinds = {s["kind"] for s in ct["suppressed"]}
    assert kinds == {"primary", "secondary"}
    # no true value of a withheld cell is written anywhere
    withheld = [c for c in doc["ledger"]["cells"] if c["status"] != "released"]
    assert withheld and all(c["released"] is None for c in withheld)
    csv = pd.read_csv(tmp_path / "tables" / "ct.csv")
    assert csv.loc[0, "x"] != csv.loc[0, "x"] and "fewer than 10" in csv.loc[0, SUPPRESSED]
    assert audit_output(tmp_path) == []
    from crimcareer.cli import app

    res = CliRunner().invoke(app, ["check", str(tmp_path)])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("tamper", ["fill_suppressed", "small_count", "unlisted_file",
                                    "curve_tail", "complement", "drop_json", "ledger_relation",
                                    "missing_file"])
def test_check_catches_tampering(tmp_path, tamper):
    _gate_with_outputs(tmp_path)
    tables = tmp_path / "tables"
    if tamper == "fill_suppressed":  # restore the withheld cell from the primary data
        df = pd.read_csv(tables / "ct.csv")
        df.loc[0, "x"] = 3
        df.to_csv(tables / "ct.csv", index=False)
    elif tamper == "small_count":
        df = pd.read_csv(tables / "props.csv")
        df.loc[1, "n"] = 7
        df.to_csv(tables / "props.csv", index=False)
    elif tamper == "unlisted_file":
        (tables / "extra.csv").write_text("a\n1\n")
    elif tamper == "curve_tail":
        df = pd.read_csv(tables / "km.csv")
        pd.concat([df, pd.DataFrame({"t": [2], "s": [.8], "at_risk": [5]})]).to_csv(
            tables / "km.csv", index=False)
    elif tamper == "complement":
        df = pd.read_csv(tables / "props.csv")
        df.loc[2, "n"] = 55
        df.to_csv(tables / "props.csv", index=False)
    elif tamper == "drop_json":
        (tmp_path / "disclosure.json").unlink()
    elif tamper == "ledger_relation":  # a secondary cell published after all: differencing
        true = {"x": 3, "y": 25, "z": 30, "All": 58}
        doc = json.loads((tmp_path / "disclosure.json").read_text())
        cell = next(c for c in doc["ledger"]["cells"] if c["output"] == "ct" and c["key"] == "a"
                    and c["kind"] == "secondary")
        cell.update(released=float(true[cell["column"]]), status="released", kind="", reason="")
        (tmp_path / "disclosure.json").write_text(json.dumps(doc))
        df = pd.read_csv(tables / "ct.csv")
        df.loc[0, cell["column"]] = true[cell["column"]]
        df.to_csv(tables / "ct.csv", index=False)
    elif tamper == "missing_file":
        (tmp_path / "figures" / "f.svg").unlink()
    breaches = audit_output(tmp_path)
    assert breaches, tamper
    from crimcareer.cli import app

    res = CliRunner().invoke(app, ["check", str(tmp_path)])
    # without disclosure.json the folder is no crimcareer output at all: a usage error (2)
    assert res.exit_code == (2 if tamper == "drop_json" else 1)
    if tamper == "ledger_relation":
        assert any(b.rule == "ledger_interval" for b in breaches), [str(b) for b in breaches]


def test_proportions_partition_gets_secondary_suppression():
    """Categories that partition a group share its denominator: one small category would be
    N minus the others, so another category is withheld too (least value)."""
    df = pd.DataFrame({"variable": "origin", "group": "DSE", "category": ["NL", "MA", "TR", "SR"],
                       "n": [30, 12, 5, 13], "N": 60})
    df["pct"] = 100 * df["n"] / df["N"]
    g = Gate()
    out = g.proportions("origin", df, estimate_cols=["pct"], partition_by=["variable", "group"])
    withheld = set(out.loc[out["n"].isna(), "category"])
    assert withheld == {"TR", "MA"}  # MA (12) is the cheapest complement
    kinds = {s["cell"]: s["kind"] for s in g.records["origin"].suppressed}
    assert kinds["origin|DSE|MA"] == "secondary" and kinds["origin|DSE|TR"] == "primary"
    lo, hi = g.ledger.interval(("origin", "origin|DSE|TR", "n"))
    assert lo <= 5 - min(5, 10) + 1e-9 and hi >= 15
    # without the partition the small row alone is withheld
    g2 = Gate()
    out2 = g2.proportions("origin", df, estimate_cols=["pct"])
    assert set(out2.loc[out2["n"].isna(), "category"]) == {"TR"}


def test_false_declaration_is_rejected_not_trusted():
    g = Gate()
    g.scalar("a", 40, 40, count=True)
    g.scalar("b", 41, 41, count=True)
    with pytest.warns(UserWarning, match="does not hold"):
        g.declare_equal(("a", "", "value"), ("b", "", "value"), why="wrongly assumed equal")
    assert g.ledger.rejected and not g.ledger.relations
    assert g.disclosure_document()["ledger"]["rejected_relations"][0]["why"] == "wrongly assumed equal"


def test_secondary_cost_count_and_rounding_still_protect():
    counts = pd.DataFrame({"x": [4, 50, 12], "y": [30, 11, 60], "z": [15, 40, 13]},
                          index=["a", "b", "c"])
    by_value, by_count = Gate(), Gate(Rules(secondary_cost="count"))
    by_value.crosstab("t", counts)
    by_count.crosstab("t", counts)
    n_sec = [sum(c.kind == "secondary" for c in g.ledger.cells.values()) for g in (by_value, by_count)]
    assert n_sec[1] <= n_sec[0]
    for g in (by_value, by_count, Gate(Rules(rounding=5))):
        if not g.records:
            out = g.crosstab("t", counts)
            assert (out.drop(columns=["row", SUPPRESSED]).stack() % 5 == 0).all()
        assert not g.ledger.failures(10.0)
        lo, hi = g.ledger.interval(("t", "a", "x"))
        assert hi - 4 >= 10 and lo <= 0


def test_withheld_row_loses_unlisted_measures_but_keeps_labels():
    df = pd.DataFrame({"threshold": [0.01, 0.05], "measure": "ppv", "n": [4, 30], "N": [50, 50],
                       "share": [0.08, 0.6], "rank": [1, 2]})
    out = Gate().proportions("t", df)  # no estimate_cols given
    assert np.isnan(out.loc[0, "share"]) and out.loc[0, "threshold"] == 0.01
    assert out.loc[1, "share"] == 0.6


def test_refs_match_gate_keys():
    df = pd.DataFrame({"variable": "x", "group": ["DSE", None], "n": [20, 30], "N": [40, 40]})
    g = Gate()
    g.proportions("t", df)
    assert set(g.cells("t")) == {Gate.ref("t", ("x", "DSE"), c) for c in ("n", "N")} | \
        {Gate.ref("t", ("x", np.nan), c) for c in ("n", "N")}


@pytest.mark.parametrize("inner_n,withheld", [(37, True), (40, False), (28, False)])
def test_nested_counts_differ_by_zero_or_at_least_k(tmp_path, inner_n, withheld):
    """Flagged at a higher threshold is a subset of flagged at a lower one: 40 vs 37 would
    release 3 persons by subtraction, so one row is withheld; 40 vs 40 or 28 are fine."""
    g = Gate()
    g.declare_nested(Gate.ref("t", ("low",), "n"), Gate.ref("t", ("high",), "n"), 40 - inner_n)
    out = g.proportions("t", pd.DataFrame({"level": ["low", "high"], "n": [40, inner_n],
                                           "N": [100, 100], "pct": [.4, inner_n / 100]}),
                        ["pct"], key_cols=["level"])
    assert out["n"].isna().any() == withheld
    if not out["n"].isna().any():
        assert list(out["n"]) == [40, inner_n]
    g.write(tmp_path)
    assert audit_output(tmp_path) == []


@pytest.mark.parametrize("by", ["ledger", "membership"])
def test_headline_rows_are_withheld_last(by):
    """A headline row costs HEADLINE_WEIGHT times more in secondary suppression: the cheapest
    complement (MA, 12) is spared when it is a headline figure and the next one (SR, 13) goes;
    the small category stays protected either way. `by`: the relation comes from a declared
    partition (ledger MILP) or from the persons behind each count (membership audit)."""
    df = pd.DataFrame({"variable": "origin", "group": "DSE", "category": ["NL", "MA", "TR", "SR"],
                       "n": [30, 12, 5, 13], "N": 60})
    df["pct"] = 100 * df["n"] / df["N"]
    ids = np.arange(60)
    members = {"n": [ids[:30], ids[30:42], ids[42:47], ids[47:]], "N": [ids] * 4}
    for headline, spared, withheld in ((None, "SR", "MA"), ([False, True, False, False], "MA", "SR")):
        g = Gate()
        kw = {"partition_by": ["variable", "group"]} if by == "ledger" else {"members": members}
        out = g.proportions("origin", df, estimate_cols=["pct"], headline=headline, **kw)
        gone = set(out.loc[out["n"].isna(), "category"])
        assert "TR" in gone and withheld in gone and spared not in gone, (headline, gone)
        if by == "membership":
            assert g.membership_failures()[0] == []
        else:
            assert g.ledger.failures(g.rules.protection) == []
    with pytest.raises(ValueError, match="one flag per row"):
        Gate().proportions("origin", df, estimate_cols=["pct"], headline=[True])
