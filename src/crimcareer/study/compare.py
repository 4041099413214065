"""Three-group comparison (target group, CC, NC): shares with Wilson CIs, tests, odds ratios, logit.

Works on the cohort-sized person features frame (pandas): statsmodels for Wilson intervals, 2x2
odds ratios and the logistic regression; scipy for chi-square, Fisher and Kruskal-Wallis tests.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import gammaln
from statsmodels.stats.contingency_tables import Table2x2
from statsmodels.stats.proportion import proportion_confint

from crimcareer.study.spec import StudySpec

CONTROL_ORDER = ("CC", "NC")


#: Default predictors of the target-vs-CC logistic regression: risk factors, not career measures,
#: and not age or sex (the groups are matched on sex and birth year and share index dates).
#: skq_by_23 is null for persons not yet 23 at the cut-off: they drop out (complete cases).
LOGIT_PREDICTORS = ("criminal_family", "skq_by_23", "single_parent_childhood",
                    "youth_care_childhood", "migration_any")


def wilson_interval(n: int, N: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for n of N as fractions (NaN, NaN when N == 0)."""
    if N == 0:
        return (np.nan, np.nan)
    lo, hi = proportion_confint(n, N, alpha=alpha, method="wilson")
    return float(lo), float(hi)


def fisher_freeman_halton_2xc(table: np.ndarray) -> float:
    """Exact p-value of a 2 x C table with fixed margins (Fisher for C == 2, Freeman-Halton else).

    Written by hand because scipy.stats.fisher_exact is exact for 2x2 only (larger tables get a
    Monte Carlo p-value, random and to about 3 digits): enumerate every first row with the
    observed margins and sum the probabilities not above the observed one.
    """
    table = np.asarray(table, dtype=int)
    if table.shape[1] == 2:
        return float(stats.fisher_exact(table)[1])
    if table[0].sum() > table[1].sum():  # enumerate the smaller row: (r1 + 1)^(C - 1) tables
        table = table[::-1]
    cols = table.sum(axis=0)
    r1 = int(table[0].sum())
    total = int(cols.sum())

    def logp(first_row: np.ndarray) -> np.ndarray:
        lc = gammaln(cols + 1) - gammaln(first_row + 1) - gammaln(cols - first_row + 1)
        return lc.sum(axis=-1) - (gammaln(total + 1) - gammaln(r1 + 1) - gammaln(total - r1 + 1))

    # All first rows x with 0 <= x_j <= cols_j and sum x = r1, built column by column.
    rows = np.zeros((1, 0), dtype=int)
    for j, c in enumerate(cols):
        remaining_cap = int(cols[j + 1:].sum())
        cand = []
        for x in range(int(c) + 1):
            cand.append(np.column_stack([rows, np.full(len(rows), x)]))
        rows = np.vstack(cand)
        s = rows.sum(axis=1)
        rows = rows[(s <= r1) & (s + remaining_cap >= r1)]
    obs = logp(table[0])
    lp = logp(rows)
    return float(min(1.0, np.exp(lp[lp <= obs + 1e-7]).sum()))


def binary_test(table: np.ndarray) -> tuple[str, float]:
    """Chi-square test of a 2 x G table, or the exact test when an expected count is below 5."""
    table = np.asarray(table, dtype=float)
    keep = table.sum(axis=0) > 0
    table = table[:, keep]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return ("none", np.nan)
    expected = stats.contingency.expected_freq(table)
    if (expected < 5).any():
        return ("fisher", fisher_freeman_halton_2xc(table.astype(int)))
    chi2, p, _, _ = stats.chi2_contingency(table, correction=False)
    return ("chi2", float(p))


def _with_group(cohort: pd.DataFrame | None, features: pd.DataFrame) -> pd.DataFrame:
    if "group" in features.columns:
        return features
    return features.merge(cohort[["person_id", "group"]], on="person_id", how="left")


def _groups(f: pd.DataFrame, target: str) -> list[str]:
    """The groups present: the target group first, then the controls, then any other."""
    present = set(f["group"].dropna())
    order = (target, *CONTROL_ORDER)
    return [g for g in order if g in present] + sorted(present - set(order))


def three_group_table(cohort: pd.DataFrame | None, features: pd.DataFrame, spec: StudySpec,
                      binary: list[str] | None = None,
                      continuous: list[str] | None = None) -> pd.DataFrame:
    """Long table per variable and group: kind, n, N, pct, Wilson 95% CI (binary) or mean, sd, N.

    Percentages and CIs in percent (0-100). Null values are out of the denominator. Each row also
    carries the variable's test over the groups (chi2/fisher for binary, Kruskal-Wallis else).
    """
    f = _with_group(cohort, features)
    groups = _groups(f, spec.target.label)
    if binary is None:
        binary = [c for c in f.columns if c not in ("person_id", "group")
                  and f[c].dropna().isin([0, 1, True, False]).all() and f[c].notna().any()]
    if continuous is None:
        continuous = [c for c in ("age_at_index", "n_prior_cases", "versatility")
                      if c in f.columns]
    rows = []
    for var in binary:
        cells = []
        for g in groups:
            v = f.loc[f["group"] == g, var].dropna().astype(float)
            n, N = int(v.sum()), int(len(v))
            lo, hi = wilson_interval(n, N)
            cells.append((n, N))
            rows.append({"variable": var, "kind": "binary", "group": g, "n": n, "N": N,
                         "pct": 100.0 * n / N if N else np.nan, "ci_low": 100.0 * lo,
                         "ci_high": 100.0 * hi, "mean": np.nan, "sd": np.nan})
        table = np.array([[c[0] for c in cells], [c[1] - c[0] for c in cells]])
        test, p = binary_test(table)
        for r in rows[-len(groups):]:
            r["test"], r["p_value"] = test, p
    for var in continuous:
        samples = []
        for g in groups:
            v = f.loc[f["group"] == g, var].dropna().astype(float).to_numpy()
            samples.append(v)
            rows.append({"variable": var, "kind": "continuous", "group": g, "n": np.nan,
                         "N": len(v), "pct": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                         "mean": v.mean() if len(v) else np.nan,
                         "sd": v.std(ddof=1) if len(v) > 1 else np.nan})
        nonempty = [s for s in samples if len(s)]
        test, p = "kruskal", np.nan
        if len(nonempty) >= 2 and len(np.unique(np.concatenate(nonempty))) > 1:
            p = float(stats.kruskal(*nonempty).pvalue)
        for r in rows[-len(groups):]:
            r["test"], r["p_value"] = test, p
    cols = ["variable", "kind", "group", "n", "N", "pct", "ci_low", "ci_high", "mean", "sd",
            "test", "p_value"]
    return pd.DataFrame(rows, columns=cols)


def three_group_members(cohort: pd.DataFrame | None, features: pd.DataFrame,
                        table: pd.DataFrame, column_of: dict[str, str] | None = None
                        ) -> dict[str, list[np.ndarray]]:
    """The persons behind each row of a :func:`three_group_table` (binary rows): ``N`` the
    group's persons with a known value, ``n`` those with the trait (for ``Gate.proportions``).
    ``column_of`` maps a row's variable to its feature column when they differ."""
    f = _with_group(cohort, features)
    n_ids, N_ids = [], []
    for var, g in zip(table["variable"], table["group"]):
        col = (column_of or {}).get(var, var)
        sub = f.loc[f["group"] == g, ["person_id", col]].dropna()
        N_ids.append(sub["person_id"].to_numpy())
        n_ids.append(sub.loc[sub[col].astype(float) == 1, "person_id"].to_numpy())
    return {"n": n_ids, "N": N_ids}


def three_group_ids(cohort: pd.DataFrame | None, features: pd.DataFrame,
                    table: pd.DataFrame) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per row of a table of means (variable, group): (person ids, values) with a known value
    (for ``Gate.magnitudes``)."""
    f = _with_group(cohort, features)
    ids, vals = [], []
    for var, g in zip(table["variable"], table["group"]):
        sub = f.loc[f["group"] == g, ["person_id", var]].dropna()
        ids.append(sub["person_id"].to_numpy())
        vals.append(sub[var].astype(float).to_numpy())
    return ids, vals


def odds_ratio_members(cohort: pd.DataFrame | None, features: pd.DataFrame,
                       table: pd.DataFrame) -> dict[str, list[np.ndarray]]:
    """The persons behind each row of :func:`pairwise_odds_ratios`: ``n`` the smallest cell of
    the 2x2 table, ``N`` the smaller group (persons with a known value)."""
    f = _with_group(cohort, features)
    n_ids, N_ids = [], []
    for var, comp in zip(table["variable"], table["comparison"]):
        target, other = comp.split(" vs ")
        x = f.loc[f["group"] == target, ["person_id", var]].dropna()
        y = f.loc[f["group"] == other, ["person_id", var]].dropna()
        cells = [x.loc[x[var].astype(float) == 1, "person_id"], x.loc[x[var].astype(float) != 1, "person_id"],
                 y.loc[y[var].astype(float) == 1, "person_id"], y.loc[y[var].astype(float) != 1, "person_id"]]
        n_ids.append(min(cells, key=len).to_numpy())
        N_ids.append((x if len(x) <= len(y) else y)["person_id"].to_numpy())
    return {"n": n_ids, "N": N_ids}


def blank_tests_of_suppressed(released: pd.DataFrame, by: str = "variable",
                              cols: tuple[str, ...] = ("p_value",)) -> pd.DataFrame:
    """Blank a variable's test over the groups when any of its cells was suppressed (in place).

    A test statistic over all groups could help recover the suppressed cell. The gate keeps and
    writes the very frame it returned, so blanking in place keeps its copy in step.
    """
    if "suppressed" in released.columns and len(released):
        hit = released.groupby(by)["suppressed"].transform(lambda s: (s.fillna("") != "").any())
        for col in cols:
            if col in released.columns:
                released.loc[hit.astype(bool), col] = np.nan
    return released


def odds_ratio_2x2(a: int, b: int, c: int, d: int) -> tuple[float, float, float, float]:
    """Odds ratio (a*d)/(b*c) with Woolf 95% CI and chi-square/Fisher p-value.

    a, b: exposed/unexposed among cases; c, d: among controls. A zero cell gets the usual 0.5
    (Haldane-Anscombe) correction for the estimate and interval.
    """
    table = np.array([[a, b], [c, d]], dtype=float)
    if (table == 0).any():
        # statsmodels' shift_zeros replaces only the zero cells by 0.5; Haldane-Anscombe adds 0.5
        # to every cell, which is the usual (less biased) correction.
        table = table + 0.5
    t = Table2x2(table, shift_zeros=False)
    lo, hi = t.oddsratio_confint(alpha=0.05)
    _, p = binary_test(np.array([[a, c], [b, d]]))
    return float(t.oddsratio), float(lo), float(hi), p


def pairwise_odds_ratios(features: pd.DataFrame, spec: StudySpec,
                         variables: list[str] | None = None,
                         cohort: pd.DataFrame | None = None) -> pd.DataFrame:
    """Odds ratios target group vs CC and vs NC per binary variable, with 95% CI and p-value.

    For the disclosure gate, n is the smallest cell of the 2x2 table and N the smaller group, so
    the gate's person-count rules cover every cell (the cell counts are in the three-group table).
    """
    f = _with_group(cohort, features)
    target = spec.target.label
    if variables is None:
        variables = [c for c in f.columns if c not in ("person_id", "group")
                     and f[c].dropna().isin([0, 1, True, False]).all() and f[c].notna().any()]
    rows = []
    for other in ("CC", "NC"):
        if other not in set(f["group"]):
            continue
        for var in variables:
            x = f.loc[f["group"] == target, var].dropna().astype(float)
            y = f.loc[f["group"] == other, var].dropna().astype(float)
            a, b = int(x.sum()), int(len(x) - x.sum())
            c, d = int(y.sum()), int(len(y) - y.sum())
            if min(len(x), len(y)) == 0:
                est = (np.nan, np.nan, np.nan, np.nan)
            else:
                est = odds_ratio_2x2(a, b, c, d)
            rows.append({"variable": var, "comparison": f"{target} vs {other}",
                         "odds_ratio": est[0], "ci_low": est[1], "ci_high": est[2],
                         "p_value": est[3], "n": min(a, b, c, d), "N": min(len(x), len(y))})
    return pd.DataFrame(rows, columns=["variable", "comparison", "odds_ratio", "ci_low",
                                       "ci_high", "p_value", "n", "N"])


@dataclass
class LogitResult:
    """A fitted target-vs-CC logistic regression, ready for Gate.model."""

    coefs: pd.DataFrame
    n_obs: int
    df_resid: float
    category_counts: dict[str, int] = field(default_factory=dict)
    predictors: list[str] = field(default_factory=list)
    converged: bool = True


def logistic_target_vs_cc(features: pd.DataFrame, spec: StudySpec,
                       predictors: list[str] | None = None,
                       cohort: pd.DataFrame | None = None) -> LogitResult | None:
    """Multivariable logistic regression of the target group (1) against CC (0), complete cases (statsmodels).

    Coefficients with odds ratios and 95% CIs; category_counts holds persons per level of every
    binary predictor and of the outcome. None when fewer than two usable predictors or groups.
    """
    import statsmodels.api as sm

    f = _with_group(cohort, features)
    target = spec.target.label
    f = f[f["group"].isin([target, "CC"])]
    if predictors is None:
        predictors = [p for p in LOGIT_PREDICTORS if p in f.columns]
    predictors = [p for p in predictors if p in f.columns and f[p].notna().any()
                  and f[p].dropna().nunique() > 1]
    if not predictors or f["group"].nunique() < 2:
        return None
    d = f[["group", *predictors]].dropna()
    if d["group"].nunique() < 2 or len(d) <= len(predictors) + 1:
        return None
    y = (d["group"] == target).astype(float)
    X = sm.add_constant(d[predictors].astype(float), has_constant="add")
    converged = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = sm.Logit(y, X).fit(disp=0, maxiter=200)
            converged = bool(res.mle_retvals.get("converged", True))
        except Exception:  # perfect separation or singular design: no releasable model
            return None
    ci = res.conf_int()
    coefs = pd.DataFrame({
        "term": X.columns,
        "coef": res.params.to_numpy(),
        "se": res.bse.to_numpy(),
        "odds_ratio": np.exp(res.params.to_numpy()),
        "ci_low": np.exp(ci[0].to_numpy()),
        "ci_high": np.exp(ci[1].to_numpy()),
        "p_value": res.pvalues.to_numpy(),
    })
    counts: dict[str, int] = {f"group={target}": int(y.sum()), "group=CC": int((1 - y).sum())}
    for p in predictors:
        v = d[p].astype(float)
        if set(v.unique()) <= {0.0, 1.0}:
            counts[f"{p}=1"] = int(v.sum())
            counts[f"{p}=0"] = int(len(v) - v.sum())
    return LogitResult(coefs, int(res.nobs), float(res.df_resid), counts, predictors, converged)
