"""Three-group comparison (study/compare.py): Wilson CIs, tests, odds ratios, logistic regression."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from crimcareer.study.compare import (binary_test, fisher_freeman_halton_2xc,
                                      logistic_target_vs_cc, odds_ratio_2x2, pairwise_odds_ratios,
                                      three_group_table, wilson_interval)
from crimcareer.study.spec import default_spec_path, load_spec


def _wilson_by_hand(n: int, N: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = n / N
    centre = (p + z * z / (2 * N)) / (1 + z * z / N)
    half = z / (1 + z * z / N) * math.sqrt(p * (1 - p) / N + z * z / (4 * N * N))
    return centre - half, centre + half


@pytest.mark.parametrize("n,N", [(0, 12), (3, 10), (52, 100), (630, 630), (89, 630)])
def test_wilson_against_statsmodels_and_formula(n, N):
    lo, hi = wilson_interval(n, N)
    slo, shi = proportion_confint(n, N, method="wilson")
    hlo, hhi = _wilson_by_hand(n, N)
    assert lo == pytest.approx(slo, abs=1e-12) and hi == pytest.approx(shi, abs=1e-12)
    assert lo == pytest.approx(hlo, abs=1e-9) and hi == pytest.approx(hhi, abs=1e-9)


def _frame(spec_counts: dict[str, tuple[int, int]], var: str = "x") -> pd.DataFrame:
    rows = []
    for g, (n, N) in spec_counts.items():
        rows += [{"person_id": f"{g}{i}", "group": g, var: i < n} for i in range(N)]
    return pd.DataFrame(rows)


def test_three_group_table_counts_cis_and_chi2(spec):
    counts = {"DSE": (56, 63), "CC": (40, 63), "NC": (15, 63)}
    f = _frame(counts)
    f.loc[f.index[:3], "x"] = None  # three DSE persons not observable: out of the denominator
    t = three_group_table(None, f, spec, binary=["x"], continuous=[]).set_index("group")
    assert t.loc["DSE", "N"] == 60 and t.loc["DSE", "n"] == 53
    lo, hi = _wilson_by_hand(40, 63)
    assert t.loc["CC", "pct"] == pytest.approx(100 * 40 / 63)
    assert t.loc["CC", "ci_low"] == pytest.approx(100 * lo) and t.loc["CC", "ci_high"] == pytest.approx(100 * hi)
    table = np.array([[53, 40, 15], [7, 23, 48]])
    assert t.loc["DSE", "test"] == "chi2"
    assert t.loc["DSE", "p_value"] == pytest.approx(stats.chi2_contingency(table, correction=False)[1])


def test_three_group_table_uses_exact_test_for_small_expected(spec):
    f = _frame({"DSE": (4, 30), "CC": (1, 30), "NC": (0, 30)})
    t = three_group_table(None, f, spec, binary=["x"], continuous=[])
    assert (t["test"] == "fisher").all()
    assert t["p_value"].iloc[0] == pytest.approx(_exact_brute([[4, 1, 0], [26, 29, 30]]))


def test_continuous_means(spec):
    rng = np.random.default_rng(1)
    f = pd.DataFrame({"person_id": range(90), "group": ["DSE", "CC", "NC"] * 30,
                      "age_at_index": rng.normal(30, 5, 90)})
    f.loc[0, "age_at_index"] = np.nan
    t = three_group_table(None, f, spec, binary=[], continuous=["age_at_index"]).set_index("group")
    d = f.loc[f["group"] == "DSE", "age_at_index"].dropna()
    assert t.loc["DSE", "N"] == 29
    assert t.loc["DSE", "mean"] == pytest.approx(d.mean()) and t.loc["DSE", "sd"] == pytest.approx(d.std())
    assert t.loc["DSE", "kind"] == "continuous" and 0 <= t.loc["DSE", "p_value"] <= 1


def _exact_brute(table) -> float:
    """Freeman-Halton by brute force: every 2 x C table with the same margins."""
    table = np.asarray(table)
    cols, r1, total = table.sum(axis=0), table[0].sum(), table.sum()

    def prob(row):
        return math.prod(math.comb(int(c), int(x)) for c, x in zip(cols, row)) / math.comb(int(total), int(r1))

    p_obs = prob(table[0])
    ranges = [range(int(c) + 1) for c in cols]
    return sum(prob(r) for r in itertools.product(*ranges)
               if sum(r) == r1 and prob(r) <= p_obs * (1 + 1e-7))


@pytest.mark.parametrize("table", [
    [[3, 1, 0], [7, 9, 12]],
    [[5, 2, 1], [1, 4, 6]],
    [[0, 4, 2, 1], [6, 3, 5, 8]],
    [[9, 8, 2], [1, 2, 3]],  # larger first row: enumerated from the smaller row
])
def test_exact_test_against_brute_force(table):
    assert fisher_freeman_halton_2xc(np.array(table)) == pytest.approx(_exact_brute(table), rel=1e-9)


def test_exact_test_2x2_is_fisher():
    t = np.array([[3, 9], [8, 2]])
    assert fisher_freeman_halton_2xc(t) == pytest.approx(stats.fisher_exact(t)[1])
    assert fisher_freeman_halton_2xc(np.array([[3, 9, 0], [8, 2, 0]])[:, :2]) == pytest.approx(
        _exact_brute([[3, 9], [8, 2]]))


def test_binary_test_without_variation():
    assert binary_test(np.array([[0, 0, 0], [10, 12, 9]]))[0] == "none"


def test_odds_ratio_against_hand_2x2(spec):
    a, b, c, d = 56, 7, 40, 23
    or_, lo, hi, p = odds_ratio_2x2(a, b, c, d)
    hand = (a * d) / (b * c)
    se = math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    assert or_ == pytest.approx(hand)
    assert lo == pytest.approx(math.exp(math.log(hand) - 1.959963984540054 * se))
    assert hi == pytest.approx(math.exp(math.log(hand) + 1.959963984540054 * se))
    f = pd.concat([_frame({"DSE": (a, a + b), "CC": (c, c + d)}),
                   _frame({"NC": (10, 63)})])
    ors = pairwise_odds_ratios(f, spec, variables=["x"]).set_index("comparison")
    assert ors.loc["DSE vs CC", "odds_ratio"] == pytest.approx(hand)
    assert ors.loc["DSE vs NC", "odds_ratio"] == pytest.approx((56 * 53) / (7 * 10))
    assert ors.loc["DSE vs CC", "n"] == 7 and ors.loc["DSE vs CC", "N"] == 63


def test_odds_ratio_zero_cell_uses_half_correction():
    or_, lo, hi, _ = odds_ratio_2x2(10, 0, 5, 5)
    assert or_ == pytest.approx((10.5 * 5.5) / (0.5 * 5.5))
    assert lo < or_ < hi


def test_logistic_recovers_planted_coefficients(spec):
    rng = np.random.default_rng(7)
    n = 6000
    x1 = rng.random(n) < 0.5
    x2 = rng.random(n) < 0.3
    age = rng.normal(30, 6, n)
    eta = -1.0 + 1.2 * x1 - 0.8 * x2 + 0.05 * (age - 30)
    y = rng.random(n) < 1 / (1 + np.exp(-eta))
    f = pd.DataFrame({"person_id": range(n), "group": np.where(y, "DSE", "CC"),
                      "criminal_family": x1, "skq_by_23": x2, "age_at_index": age - 30})
    f.loc[:9, "skq_by_23"] = None  # complete cases only
    fit = logistic_target_vs_cc(f, spec, predictors=["criminal_family", "skq_by_23", "age_at_index"])
    c = fit.coefs.set_index("term")
    assert c.loc["criminal_family", "coef"] == pytest.approx(1.2, abs=0.15)
    assert c.loc["skq_by_23", "coef"] == pytest.approx(-0.8, abs=0.15)
    assert c.loc["age_at_index", "coef"] == pytest.approx(0.05, abs=0.015)
    assert c.loc["const", "coef"] == pytest.approx(-1.0, abs=0.15)
    assert fit.n_obs == n - 10 and fit.df_resid == n - 10 - 4
    assert fit.category_counts["criminal_family=1"] == int(f.loc[10:, "criminal_family"].sum())
    assert fit.category_counts["group=DSE"] + fit.category_counts["group=CC"] == n - 10
    assert c.loc["criminal_family", "odds_ratio"] == pytest.approx(np.exp(c.loc["criminal_family", "coef"]))
    assert c.loc["criminal_family", "ci_low"] < c.loc["criminal_family", "odds_ratio"] < c.loc["criminal_family", "ci_high"]


def test_logistic_ignores_nc_and_constant_predictors(spec):
    rng = np.random.default_rng(3)
    f = pd.DataFrame({"person_id": range(300), "group": ["DSE", "CC", "NC"] * 100,
                      "criminal_family": rng.random(300) < 0.5, "male": True,
                      "age_at_index": rng.normal(0, 1, 300)})
    fit = logistic_target_vs_cc(f, spec, predictors=["criminal_family", "male", "age_at_index"])
    assert fit.n_obs == 200 and "male" not in set(fit.coefs["term"])
