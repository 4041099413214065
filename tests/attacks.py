"""An independent attacker on an exported crimcareer folder (issue 10).

Written as an output checker at a secure-data centre would attack a folder: it reads only what
leaves the secure environment (``tables/*.csv``, ``figures/*.svg``, ``report.html``,
``disclosure.json``) and the study design as the report describes it (which table partitions
which population). It never imports the gate (``crimcareer.disclosure*``) and never reads
``OUT/internal``.

One function per class of issue 10; each takes the output folder and returns a list of
:class:`Finding` -- every count of 1-9 persons, or one person's value, that it can derive.

1. :func:`attack_partitions`        partitions (group sizes) and group size x mean differencing
2. :func:`attack_complements`       trait cells = a total from another table minus released cells
3. :func:`attack_at_risk`           N - n - at_risk in window rows (leavers without the event)
4. :func:`attack_windows_vs_curve`  window rows against the curve points of the same group
5. :func:`attack_curve_steps`       KM steps: events = r_a (1 - S_b / S_a), censorings = the rest
6. :func:`attack_estimate_ratios`   an estimate k/D that reveals a withheld denominator
7. :func:`attack_nested`            nested populations differing by 1-9 persons
8. :func:`attack_beside_gate`       prose numbers, disclosure.json flags and properties
9. :func:`attack_extremes`          grids and axes that end at a value reached by < 10 persons
10. :func:`attack_reason_bounds`    "fewer than 10" = 1-9, with released sums, pins cells; and
    :func:`attack_ledger_with_reasons`: the same on the relations disclosure.json itself lists

A finding is a count the attacker pins to one value in 1-9, or to an interval inside 1-9 at most
``NARROW`` wide and tighter than what the release itself states (a reason "fewer than 10" states
1-9), or one person's value (group size x mean; an extreme that 1-9 persons reach).

:func:`bound` is the exact helper: integer bounds of a target over linear facts (scipy ``milp``).
:func:`attack_all` runs every class. ``python tests/attacks.py OUT`` prints the findings.
"""

from __future__ import annotations

import functools
import html as _html
import json
import math
import re
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

SMALL = range(1, 10)  # a count an attacker must not learn: 1-9 persons
NARROW = 4  # an interval inside 1-9 at most this wide (5 values) counts as recovered
EPS = 1e-6


# --------------------------------------------------------------------------------------------
# findings
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """One derived small count (or one person's value) and how it was derived."""

    klass: int
    output: str
    cell: str
    derivation: str
    value: float | None = None
    interval: tuple[float, float] | None = None

    def __str__(self) -> str:
        got = f"= {self.value:g}" if self.value is not None else f"in [{self.interval[0]:g}, {self.interval[1]:g}]"
        return f"[{self.klass}] {self.output} {self.cell} {got}: {self.derivation}"


def _is_small(v: float) -> bool:
    return abs(v - round(v)) < 1e-6 and 1 <= round(v) <= 9


def _tight(lo: float, hi: float, stated: tuple[float, float] | None = None) -> bool:
    """Is [lo, hi] a small-count finding? Inside 1-9, at most ``NARROW`` wide, and tighter than
    what the release itself states about the cell (a reason 'fewer than 10' states 1-9)."""
    if lo < 1 - EPS or hi > 9 + EPS or hi - lo > NARROW + EPS:
        return False
    if stated is not None and stated[0] >= 1 - EPS and stated[1] <= 9 + EPS:
        return (hi - lo) < (stated[1] - stated[0]) - EPS
    return True


# --------------------------------------------------------------------------------------------
# the exported folder
# --------------------------------------------------------------------------------------------
@dataclass
class Export:
    root: Path
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    disclosure: dict = field(default_factory=dict)
    prose: str = ""
    svgs: dict[str, str] = field(default_factory=dict)

    def t(self, name: str, *cols: str) -> pd.DataFrame | None:
        """A released table, or None when it is absent or lacks a column the attack reads (a
        release form without that column gives that attack nothing)."""
        df = self.tables.get(name)
        if df is None or any(c not in df for c in cols):
            return None
        return df


@functools.lru_cache(maxsize=8)
def _load_cached(root: str, mtime: float) -> Export:
    r = Path(root)
    tables = {}
    for p in sorted((r / "tables").glob("*.csv")) if (r / "tables").is_dir() else []:
        df = pd.read_csv(p, dtype={"suppressed": str, "note": str}, keep_default_na=True)
        if "suppressed" in df:
            df["suppressed"] = df["suppressed"].fillna("")
        tables[p.stem] = df
    disc = json.loads((r / "disclosure.json").read_text()) if (r / "disclosure.json").exists() else {}
    prose = ""
    if (r / "report.html").exists():
        t = (r / "report.html").read_text(errors="replace")
        for tag in ("style", "script", "svg", "table"):
            t = re.sub(rf"<{tag}\b.*?</{tag}>", " ", t, flags=re.S | re.I)
        t = _html.unescape(re.sub(r"<[^>]+>", " ", t))
        prose = re.sub(r"\s+", " ", t)
    svgs = {p.stem: p.read_text(errors="replace") for p in sorted((r / "figures").glob("*.svg"))} \
        if (r / "figures").is_dir() else {}
    return Export(r, tables, disc, prose, svgs)


def load(out: Path | str) -> Export:
    out = Path(out)
    exported = [out / "report.html", out / "disclosure.json", out / "results.json",
                *(out / "tables").glob("*.csv"), *(out / "figures").glob("*.svg")]
    stamp = max((p.stat().st_mtime for p in exported if p.is_file()), default=0.0)
    return _load_cached(str(out.resolve()), stamp)


def _num(x) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _reason(row) -> str:
    return str(row.get("suppressed", "") or "")


def _stated(reason: str) -> dict[str, tuple[float, float]]:
    """What a suppression reason says about the withheld counts (the attacker reads it as a bound)."""
    r = reason.lower()
    out: dict[str, tuple[float, float]] = {}
    if "numerator below" in r or r.startswith("fewer than") and "events" not in r:
        out["n"] = (1, 9)
    if "denominator below" in r:
        out["N"] = (1, 9)
    if "complement below" in r:
        out["N-n"] = (1, 9)
    return out


# --------------------------------------------------------------------------------------------
# the exact helper: bounds of a target over linear facts
# --------------------------------------------------------------------------------------------
class Facts:
    """Linear facts over named integer unknowns (released counts, sums, margins, reason bounds).

    ``bound(target)`` returns the integer minimum and maximum of a linear target that every fact
    allows (scipy ``milp``), or ``None`` when the facts contradict each other."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.lo: list[float] = []
        self.hi: list[float] = []
        self.rows: list[tuple[dict[str, float], float, float, str]] = []  # (coef, lb, ub, why)

    def var(self, name: str, lo: float = 0, hi: float = math.inf) -> str:
        if name not in self.index:
            self.index[name] = len(self.lo)
            self.lo.append(lo)
            self.hi.append(hi)
        else:
            i = self.index[name]
            self.lo[i] = max(self.lo[i], lo)
            self.hi[i] = min(self.hi[i], hi)
        return name

    def fix(self, name: str, value: float) -> str:
        return self.var(name, value, value)

    def known(self, name: str) -> float | None:
        i = self.index.get(name)
        if i is not None and self.lo[i] == self.hi[i]:
            return self.lo[i]
        return None

    def stated(self, name: str) -> tuple[float, float] | None:
        i = self.index.get(name)
        return None if i is None else (self.lo[i], self.hi[i])

    def eq(self, coef: dict[str, float], rhs: float = 0.0, why: str = "") -> None:
        for k in coef:
            self.var(k)
        self.rows.append((dict(coef), rhs, rhs, why))

    def le(self, coef: dict[str, float], rhs: float, why: str = "") -> None:
        for k in coef:
            self.var(k)
        self.rows.append((dict(coef), -math.inf, rhs, why))

    def bound(self, target: str | dict[str, float]) -> tuple[float, float] | None:
        return bound(self, target)


def bound(facts: Facts, target: str | dict[str, float]) -> tuple[float, float] | None:
    """Exact integer bounds of ``target`` (a variable name or {name: coef}) under ``facts``."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    if isinstance(target, str):
        target = {target: 1.0}
    n = len(facts.lo)
    c = np.zeros(n)
    for k, v in target.items():
        c[facts.index[k]] = v
    cons = []
    if facts.rows:
        A = np.zeros((len(facts.rows), n))
        lb = np.empty(len(facts.rows))
        ub = np.empty(len(facts.rows))
        for i, (coef, l, u, _) in enumerate(facts.rows):
            for k, v in coef.items():
                A[i, facts.index[k]] += v
            lb[i], ub[i] = l, u
        cons.append(LinearConstraint(A, lb, ub))
    lo = np.array(facts.lo, float)
    hi = np.array([min(h, 1e9) for h in facts.hi], float)
    out = []
    for sign in (1.0, -1.0):
        res = milp(sign * c, constraints=cons, integrality=np.ones(n), bounds=Bounds(lo, hi))
        if res.status != 0:
            return None
        out.append(sign * res.fun)
    return (round(out[0], 6), round(out[1], 6))


# --------------------------------------------------------------------------------------------
# count tables as facts
# --------------------------------------------------------------------------------------------
def _key(df: pd.DataFrame, row, keys: list[str]) -> str:
    return "|".join(str(row[k]) for k in keys)


def _add_count_rows(F: Facts, table: str, df: pd.DataFrame, keys: list[str],
                    n_col: str = "n", N_col: str | None = "N") -> list[str]:
    """n, N and N-n of each row as unknowns: released values fixed, reasons as bounds."""
    names = []
    for _, row in df.iterrows():
        k = f"{table}[{_key(df, row, keys)}]"
        st = _stated(_reason(row))
        n = F.var(f"{k}.n", *st.get("n", (0, math.inf)))
        v = _num(row.get(n_col))
        if v is not None:
            F.fix(n, v)
        if N_col is not None:
            N = F.var(f"{k}.N", *st.get("N", (0, math.inf)))
            c = F.var(f"{k}.N-n", *st.get("N-n", (0, math.inf)))
            V = _num(row.get(N_col))
            if V is not None:
                F.fix(N, V)
            F.eq({n: 1, c: 1, N: -1}, 0, "n + (N-n) = N")
        names.append(k)
    return names


def _report_unknowns(F: Facts, klass: int, prefixes: list[str], why: str,
                     only_withheld: bool = True) -> list[Finding]:
    out = []
    for name in list(F.index):
        if not any(name.startswith(p) for p in prefixes):
            continue
        if only_withheld and F.known(name) is not None:
            continue
        st = F.stated(name)
        b = F.bound(name)
        if b is None:
            continue
        lo, hi = b
        if _tight(lo, hi, st if st and st[1] <= 9 else None):
            table, cell = name.split("[", 1)
            cell = cell.replace("]", "")
            out.append(Finding(klass, table, cell, why,
                               value=lo if lo == hi else None,
                               interval=None if lo == hi else (lo, hi)))
    return out


def _groups(E: Export) -> dict[str, float]:
    cg = E.t("cohort_groups", "group", "N")
    return {} if cg is None else {r.group: _num(r.N) for r in cg.itertuples() if _num(r.N) is not None}


# --------------------------------------------------------------------------------------------
# 1 partitions, and group size x mean differencing
# --------------------------------------------------------------------------------------------
def _group_sizes(E: Export, G: str) -> tuple[Facts, list[str]]:
    """Trajectory group sizes of cohort group G from every table that shows them; they
    partition G."""
    F = Facts()
    NG = _groups(E).get(G)
    shares = E.t(f"trajectory_shares_{G}", "trajectory", "n", "N", "suppressed")
    if shares is None:
        return F, []
    trajs = list(shares.trajectory)
    for r in shares.itertuples():
        F.var(f"size[{G}|{r.trajectory}]", *_stated(str(r.suppressed)).get("n", (0, math.inf)))
        if _num(r.n) is not None:
            F.fix(f"size[{G}|{r.trajectory}]", _num(r.n))
        if _num(r.N) is not None and NG is None:
            NG = _num(r.N)
    for tab, col in ((f"trajectory_profile_{G}", "N"), (f"trajectory_profile_means_{G}", "n")):
        df = E.t(tab, "trajectory", col, "suppressed")
        if df is None:
            continue
        for r in df.itertuples():
            v = _num(getattr(r, col))
            if r.trajectory in trajs:
                st = _stated(str(r.suppressed))
                if "denominator below" in str(r.suppressed) or (col == "n" and "fewer than" in str(r.suppressed)):
                    F.var(f"size[{G}|{r.trajectory}]", 1, 9)
                if v is not None:
                    F.fix(f"size[{G}|{r.trajectory}]", v)
    if G == "DSE" and E.t("atypical_by_trajectory", "trajectory", "N") is not None:
        for r in E.t("atypical_by_trajectory").itertuples():
            if _num(r.N) is not None and r.trajectory in trajs:
                F.fix(f"size[{G}|{r.trajectory}]", _num(r.N))
    if NG is not None:
        F.eq({f"size[{G}|{t}]": 1 for t in trajs}, NG, f"trajectory groups partition {G}")
    return F, trajs


def _moments(n: float, mean: float, sd: float) -> tuple[float, float]:
    """Sum and sum of squares from n, mean, sd (sample sd)."""
    return n * mean, (n - 1) * sd * sd + n * mean * mean


def _difference_means(klass, output, total, parts, withheld, k, what) -> list[Finding]:
    """total = (N, mean, sd); parts = released (n, mean, sd); the withheld k persons' values."""
    N, m, s = total
    S, Q = _moments(N, m, s)
    for n_, m_, s_ in parts:
        a, b = _moments(n_, m_, s_ if s_ == s_ else 0.0)
        S, Q = S - a, Q - b
    out = []
    mw = S / k
    if k == 1:
        out.append(Finding(klass, output, what, f"one person: {N:g}x{m:.6g} minus released n x mean",
                           value=round(mw, 6)))
    elif k == 2:
        d2 = max((Q - 2 * mw * mw) / 2, 0.0)
        d = math.sqrt(d2)
        out.append(Finding(klass, output, what, f"two persons: values {mw - d:.4g} and {mw + d:.4g} "
                           "from n x mean and the SDs", value=round(mw - d, 4)))
    else:
        out.append(Finding(klass, output, what, f"mean of {k:g} persons (1-9) by n x mean differencing",
                           value=round(mw, 6)))
    return out


def attack_partitions(out: Path) -> list[Finding]:
    E = load(out)
    found: list[Finding] = []
    means = E.t("careers_means", "variable", "group", "N", "mean", "sd")
    for G in ("DSE", "CC", "NC"):
        F, trajs = _group_sizes(E, G)
        if not trajs:
            continue
        sizes = {}
        for t in trajs:
            name = f"size[{G}|{t}]"
            st = F.stated(name)
            b = F.bound(name)
            sizes[t] = b
            if b and F.known(name) is None and _tight(*b, st if st[1] <= 9 else None):
                found.append(Finding(1, f"trajectory_shares_{G}", f"{t}.n",
                                     f"{G} N minus the released trajectory group sizes (sizes from "
                                     "shares, profile and means tables)", value=b[0] if b[0] == b[1] else None,
                                     interval=None if b[0] == b[1] else b))
            elif b and b[0] == b[1] and _is_small(b[0]):
                found.append(Finding(1, f"trajectory_shares_{G}", f"{t}.n",
                                     "a trajectory group of 1-9 persons is released", value=b[0]))
        # group size x mean
        pm = E.t(f"trajectory_profile_means_{G}", "trajectory", "variable", "n", "mean", "sd")
        if pm is None or means is None:
            continue
        for var, rows in pm.groupby("variable", sort=False):
            tot = means[(means.variable == var) & (means.group == G)]
            if tot.empty or _num(tot.iloc[0]["mean"]) is None:
                continue
            T = (_num(tot.iloc[0]["N"]), _num(tot.iloc[0]["mean"]), _num(tot.iloc[0]["sd"]) or 0.0)
            parts, withheld = [], []
            for r in rows.itertuples():
                if _num(r.mean) is not None and _num(r.n) is not None:
                    parts.append((_num(r.n), _num(r.mean), _num(r.sd) if _num(r.sd) is not None else 0.0))
                else:
                    withheld.append(r.trajectory)
            if not withheld:
                continue
            b = F.bound({f"size[{G}|{t}]": 1 for t in withheld})
            if b and b[0] == b[1] and 1 <= b[0] <= 9:
                found += _difference_means(1, f"trajectory_profile_means_{G}", T, parts, withheld, b[0],
                                           f"{'+'.join(withheld)}|{var}")
    # the atypical offenders partition DSE; atypical_by_trajectory partitions the atypical
    aby = E.t("atypical_by_trajectory", "trajectory", "n", "N", "suppressed")
    ash = E.t("atypical_share", "n")
    if aby is not None and ash is not None and _num(ash.iloc[0]["n"]) is not None:
        F = Facts()
        _add_count_rows(F, "atypical_by_trajectory", aby, ["trajectory"])
        FG, _ = _group_sizes(E, "DSE")
        for r in aby.itertuples():
            sz = FG.known(f"size[DSE|{r.trajectory}]")
            if sz is not None:
                F.fix(f"atypical_by_trajectory[{r.trajectory}].N", sz)
        F.eq({f"atypical_by_trajectory[{t}].n": 1 for t in aby.trajectory}, _num(ash.iloc[0]["n"]),
             "the trajectory groups partition the atypical offenders")
        found += _report_unknowns(F, 1, ["atypical_by_trajectory["],
                                  "atypical n (atypical_share) minus the released trajectory cells")
    apm = E.t("atypical_profile_means", "subgroup", "variable", "n", "mean", "sd")
    if apm is not None and means is not None:
        for var, rows in apm.groupby("variable", sort=False):
            tot = means[(means.variable == var) & (means.group == "DSE")]
            wh = [r for r in rows.itertuples() if _num(r.mean) is None]
            if tot.empty or len(wh) != 1 or _num(tot.iloc[0]["mean"]) is None:
                continue
            k = _num(wh[0].n) if _num(wh[0].n) is not None else None
            if k is None and _num(tot.iloc[0]["N"]) is not None:
                rel = [r for r in rows.itertuples() if _num(r.n) is not None]
                k = _num(tot.iloc[0]["N"]) - sum(_num(r.n) for r in rel) if len(rel) == len(rows) - 1 else None
            if k is not None and 1 <= k <= 9:
                parts = [(_num(r.n), _num(r.mean), _num(r.sd) or 0.0) for r in rows.itertuples()
                         if _num(r.mean) is not None]
                T = (_num(tot.iloc[0]["N"]), _num(tot.iloc[0]["mean"]), _num(tot.iloc[0]["sd"]) or 0.0)
                found += _difference_means(1, "atypical_profile_means", T, parts, [wh[0].subgroup], k,
                                           f"{wh[0].subgroup}|{var}")
    return found


# --------------------------------------------------------------------------------------------
# 2 complements across tables
# --------------------------------------------------------------------------------------------
def _trait_totals(E: Export) -> dict[tuple[str, str], tuple[float | None, float | None]]:
    """(group, trait) -> (n, N) as released anywhere (three-group table, careers, balance)."""
    tot: dict[tuple[str, str], tuple[float | None, float | None]] = {}

    def put(g, v, n, N):
        if _num(n) is not None and (g, v) not in tot:
            tot[(g, v)] = (_num(n), _num(N))

    for name in ("factors_three_group", "careers_shares", "careers_male", "careers_categories"):
        df = E.t(name, "group", "variable", "n", "N")
        if df is not None:
            for r in df.itertuples():
                put(r.group, r.variable, r.n, r.N)
    bal = E.t("cohort_balance_shares", "group", "variable", "sample", "n", "N")
    if bal is not None:
        for r in bal.itertuples():
            if r.sample == "DSE":
                put("DSE", r.variable, r.n, r.N)
            elif r.sample == "matched":
                put(r.group, r.variable, r.n, r.N)
    return tot


def attack_complements(out: Path) -> list[Finding]:
    E = load(out)
    found: list[Finding] = []
    tot = _trait_totals(E)
    for G in ("DSE", "CC", "NC"):
        prof = E.t(f"trajectory_profile_{G}", "trajectory", "variable", "n", "N", "suppressed")
        if prof is None:
            continue
        FG, trajs = _group_sizes(E, G)
        for var, rows in prof.groupby("variable", sort=False):
            if (G, var) not in tot or all(r.suppressed == "" for r in rows.itertuples()):
                continue
            F = Facts()
            _add_count_rows(F, f"trajectory_profile_{G}", rows, ["trajectory", "variable"])
            for t in trajs:
                b = FG.bound(f"size[{G}|{t}]")
                if b:
                    F.var(f"trajectory_profile_{G}[{t}|{var}].N", *b)
            F.eq({f"trajectory_profile_{G}[{t}|{var}].n": 1 for t in rows.trajectory}, tot[(G, var)][0],
                 f"trajectory cells sum to the {G} total of {var}")
            found += _report_unknowns(F, 2, [f"trajectory_profile_{G}["],
                                      f"{G} total of {var} (another table) minus released trajectory cells; "
                                      "group sizes known")
    ap = E.t("atypical_profile", "subgroup", "variable", "n", "N", "suppressed")
    if ap is not None:
        for var, rows in ap.groupby("variable", sort=False):
            base = var
            if ("DSE", base) not in tot and var == "female" and ("DSE", "male") in tot:
                n, N = tot[("DSE", "male")]
                tot[("DSE", "female")] = (N - n, N)
            if ("DSE", var) not in tot or all(r.suppressed == "" for r in rows.itertuples()):
                continue
            F = Facts()
            _add_count_rows(F, "atypical_profile", rows, ["subgroup", "variable"])
            sizes = {r.subgroup: _num(r.N) for r in ap.itertuples() if _num(r.N) is not None}
            for sg in rows.subgroup:
                if sg in sizes:
                    F.fix(f"atypical_profile[{sg}|{var}].N", sizes[sg])
            F.eq({f"atypical_profile[{sg}|{var}].n": 1 for sg in rows.subgroup}, tot[("DSE", var)][0],
                 "atypical + other offenders = DSE")
            found += _report_unknowns(F, 2, ["atypical_profile["],
                                      f"DSE total of {var} minus the released subgroup cell")
    return found


# --------------------------------------------------------------------------------------------
# 3 at_risk is a count
# --------------------------------------------------------------------------------------------
_WINDOW_TABLES = ("recidivism_general", "recidivism_general_free_time", "recidivism_specific")


def attack_at_risk(out: Path) -> list[Finding]:
    E = load(out)
    found = []
    for name in _WINDOW_TABLES:
        df = E.t(name, "years", "N", "n", "at_risk")
        if df is None:
            continue
        keys = [c for c in ("group", "category") if c in df]
        for key, rows in df.groupby(keys, sort=False):
            prev = None
            for r in rows.sort_values("years").itertuples():
                N, n, a = _num(r.N), _num(r.n), _num(r.at_risk)
                if None in (N, n, a):
                    prev = None
                    continue
                left = N - n - a
                cell = "|".join(map(str, key if isinstance(key, tuple) else (key,))) + f"|{r.years}"
                if _is_small(left):
                    found.append(Finding(3, name, cell, f"N - n - at_risk = {N:g} - {n:g} - {a:g}: persons "
                                         "who left follow-up without the event", value=left))
                if prev is not None and _is_small(left - prev[1]):
                    found.append(Finding(3, name, cell, f"leavers without the event between {prev[0]} and "
                                         f"{r.years} years ({left:g} - {prev[1]:g})", value=left - prev[1]))
                if prev is not None and _is_small(n - prev[2]):
                    found.append(Finding(3, name, cell, f"events between {prev[0]} and {r.years} years "
                                         f"(n {n:g} - {prev[2]:g})", value=n - prev[2]))
                prev = (r.years, left, n)
    return found


# --------------------------------------------------------------------------------------------
# 4 and 5: curves (KM: S = 1 - estimate; at_risk = still at risk after the point)
# --------------------------------------------------------------------------------------------
def _step(ra: float, Sa: float, rb: float, Sb: float) -> tuple[int, int] | None:
    """Events and censorings between two released KM points, if the step pins them (one event
    time in the step, its risk set between rb and ra)."""
    if Sa <= 0 or ra is None or rb is None or rb > ra:
        return None
    q = 1 - Sb / Sa
    if abs(q) < 1e-12:
        return 0, int(round(ra - rb))
    sols = set()
    for r in range(int(round(ra)), int(round(rb)) - 1, -1):
        d = r * q
        if abs(d - round(d)) < 1e-6 * max(1.0, r) and round(d) >= 1 and round(d) <= ra - rb:
            sols.add((int(round(d)), int(round(ra - rb - round(d)))))
            break  # the largest risk set first: that of the formula r_a (1 - S_b/S_a)
    return sols.pop() if len(sols) == 1 else None


def _followed(E: Export) -> dict[str, float]:
    f = E.t("recidivism_followed", "group", "n")
    return {} if f is None else {r.group: _num(r.n) for r in f.itertuples() if _num(r.n) is not None}


def _km_points(E: Export, group: str) -> list[tuple[float, float, float | None, str]]:
    cur = E.t("recidivism_general_curve", "group", "time", "estimate", "at_risk")
    if cur is None:
        return []
    pts = [(r.time, 1 - r.estimate, _num(r.at_risk), "curve") for r in cur[cur.group == group].itertuples()]
    return pts


def attack_windows_vs_curve(out: Path) -> list[Finding]:
    E = load(out)
    found = []
    win = E.t("recidivism_general", "group", "years", "estimate", "at_risk")
    cur = E.t("recidivism_general_curve", "group", "time", "estimate", "at_risk")
    if win is None or cur is None:
        return found
    for g in win.group.unique():
        pts = sorted([p for p in _km_points(E, g) if p[2] is not None])
        wins = [(float(r.years), 1 - r.estimate, _num(r.at_risk), f"{r.years}y")
                for r in win[win.group == g].itertuples() if _num(r.estimate) is not None and _num(r.at_risk) is not None]
        for w in wins:
            before = [p for p in pts if p[0] <= w[0] + 1e-9]
            after = [p for p in pts if p[0] > w[0] + 1e-9]
            pairs = []
            if before:
                pairs.append((before[-1], w, f"curve point t={before[-1][0]:.4g} -> window {w[3]}"))
            if after:
                pairs.append((w, after[0], f"window {w[3]} -> curve point t={after[0][0]:.4g}"))
            for a, b, what in pairs:
                if abs(a[0] - b[0]) < 1e-9 and abs(a[1] - b[1]) < 1e-12 and a[2] == b[2]:
                    continue  # the window row is a released curve point: nothing new
                st = _step(a[2], a[1], b[2], b[1])
                if st is None:
                    if a[2] is not None and b[2] is not None and _is_small(a[2] - b[2]):
                        found.append(Finding(4, "recidivism_general", f"{g}|{w[3]}", f"{what}: at_risk "
                                             f"{a[2]:g} - {b[2]:g} persons left", value=a[2] - b[2]))
                    continue
                d, c = st
                for v, label in ((d, "events"), (c, "censorings")):
                    if _is_small(v):
                        found.append(Finding(4, "recidivism_general", f"{g}|{w[3]}",
                                             f"{what}: {label} = r_a(1 - S_b/S_a) / at-risk difference",
                                             value=v))
    spec = E.t("recidivism_specific", "group", "category", "years", "at_risk")
    scur = E.t("recidivism_specific_curve", "category", "time", "at_risk")
    if spec is not None and scur is not None:
        for r in spec[spec.group == "DSE"].itertuples():
            c = scur[scur.category == r.category].dropna(subset=["at_risk"])
            c = c[c.time <= r.years + 1e-9]
            if c.empty or _num(r.at_risk) is None:
                continue
            last = c.iloc[-1]
            diff = last.at_risk - r.at_risk
            if _is_small(diff) and not (abs(last.time - r.years) < 1e-9):
                found.append(Finding(4, "recidivism_specific", f"DSE|{r.category}|{r.years}",
                                     f"curve point t={last.time:.4g} at_risk {last.at_risk:g} minus window row "
                                     f"at_risk {r.at_risk:g}: persons leaving", value=diff))
    return found


def attack_curve_steps(out: Path) -> list[Finding]:
    E = load(out)
    found = []
    cur = E.t("recidivism_general_curve", "group", "time", "estimate", "at_risk")
    if cur is None:
        return found
    fol = _followed(E)
    for g in cur.group.unique():
        pts = _km_points(E, g)
        prev = None
        for p in pts:
            if p[2] is None and p[0] == 0:
                prev = (p[0], 1.0, fol.get(g), "0")
                continue
            if prev is not None and prev[2] is not None and p[2] is not None:
                st = _step(prev[2], prev[1], p[2], p[1])
                if st is not None:
                    d, c = st
                    for v, label in ((d, "events"), (c, "censorings (death, emigration, cut-off)")):
                        if _is_small(v):
                            found.append(Finding(5, "recidivism_general_curve",
                                                 f"{g}|t={prev[0]:.4g}..{p[0]:.4g}",
                                                 f"{label}: events = r_a(1 - S_b/S_a) with r_a={prev[2]:g}, "
                                                 f"the rest of the at-risk drop", value=v))
            prev = p
    return found


# --------------------------------------------------------------------------------------------
# 6 estimate ratios
# --------------------------------------------------------------------------------------------
def _denominators(e: float, k_max: int, lo: float, hi: float) -> list[tuple[int, int]]:
    """(k, D) with k/D == e exactly (to float precision), lo <= D <= hi."""
    fr = Fraction(e).limit_denominator(int(hi) + 1)
    if abs(float(fr) - e) > 1e-9 or fr == 0:
        return []
    out = []
    m = 1
    while fr.denominator * m <= hi:
        D, k = fr.denominator * m, fr.numerator * m
        if D >= lo and k <= k_max:
            out.append((k, D))
        m += 1
    return out


def attack_estimate_ratios(out: Path) -> list[Finding]:
    E = load(out)
    found = []
    cur = E.t("recidivism_general_curve", "group", "time", "estimate", "at_risk")
    N = _groups(E)
    fol = _followed(E)
    if cur is not None:
        for g in cur.group.unique():
            pts = [p for p in _km_points(E, g) if p[0] > 0 and p[2] is not None]
            if not pts or g not in N:
                continue
            t, S, r, _ = pts[0]
            cands = [(k, D) for k, D in _denominators(1 - S, 10 ** 6, r, N[g]) if D - k >= r]
            if len(cands) == 1:
                k, D = cands[0]
                if g not in fol:
                    found.append(Finding(6, "recidivism_general_curve", f"{g}|t={t:.4g}",
                                         f"first point {1 - S:.10g} = {k}/{D}: the followed count D, which "
                                         "recidivism_followed withholds", value=D))
                    if _is_small(N[g] - D):
                        found.append(Finding(6, "recidivism_followed", f"{g}.N-n",
                                             f"cohort N {N[g]:g} minus followed {D} (from {k}/{D})",
                                             value=N[g] - D))
                if _is_small(D - k - r):
                    found.append(Finding(6, "recidivism_general_curve", f"{g}|t={t:.4g}",
                                         f"{k}/{D}: censored before the first point = D - k - at_risk",
                                         value=D - k - r))
    # any released share whose count is withheld
    for name, df in E.tables.items():
        if "suppressed" not in df or "n" not in df or "N" not in df:
            continue
        for col in ("pct", "value", "estimate", "observed"):
            if col not in df:
                continue
            for r in df.itertuples():
                e = _num(getattr(r, col))
                if e is None or (_num(r.n) is not None and _num(r.N) is not None) or e in (0.0, 1.0):
                    continue
                scale = 100.0 if col == "pct" else 1.0
                for k, D in _denominators(e / scale, 10 ** 7, 10, 10 ** 7)[:1]:
                    found.append(Finding(6, name, str(r.Index), f"{col} {e} = {k}/{D} with the count withheld",
                                         value=k if _is_small(k) else D - k))
    return found


# --------------------------------------------------------------------------------------------
# 7 nested populations
# --------------------------------------------------------------------------------------------
def attack_nested(out: Path) -> list[Finding]:
    E = load(out)
    found = []
    cols = ("group", "years", "n", "at_risk")
    a, b = E.t("recidivism_general", *cols), E.t("recidivism_general_free_time", *cols)
    if a is not None and b is not None:
        m = a.merge(b, on=["group", "years"], suffixes=("_cal", "_free"))
        for r in m.itertuples():
            for col in ("n", "at_risk"):
                x, y = _num(getattr(r, f"{col}_cal")), _num(getattr(r, f"{col}_free"))
                if x is not None and y is not None and _is_small(abs(x - y)):
                    found.append(Finding(7, "recidivism_general_free_time", f"{r.group}|{r.years}|{col}",
                                         f"calendar-time {col} {x:g} vs detention-free-time {y:g}",
                                         value=abs(x - y)))
    for name, keys in (("probation_coverage", ["group", "kind", "breakdown", "level"]),
                       ("probation_coverage_by_year", ["group", "kind", "year"])):
        df = E.t(name, *keys, "measure", "n")
        if df is None:
            continue
        req = df[df.measure == "requested"].set_index(keys)
        dl = df[df.measure == "delivered"].set_index(keys)
        for k in req.index.intersection(dl.index):
            x, y = _num(req.loc[k, "n"]), _num(dl.loc[k, "n"])
            if x is not None and y is not None and _is_small(x - y):
                found.append(Finding(7, name, "|".join(map(str, k)),
                                     f"requested {x:g} minus delivered {y:g}: requested, no advice delivered",
                                     value=x - y))
    N, fol = _groups(E), _followed(E)
    for g, f in fol.items():
        if g in N and _is_small(N[g] - f):
            found.append(Finding(7, "recidivism_followed", g, "cohort N minus followed", value=N[g] - f))
    th = E.t("profile_thresholds", "threshold", "measure", "n")
    if th is not None:
        for meas in ("flagged", "sensitivity"):
            rows = th[th.measure == meas].sort_values("threshold")
            vals = [(r.threshold, _num(r.n)) for r in rows.itertuples()]
            for (t1, x), (t2, y) in zip(vals, vals[1:]):
                if x is not None and y is not None and _is_small(x - y):
                    found.append(Finding(7, "profile_thresholds", f"{t1}..{t2}|{meas}",
                                         f"{meas} at {t1} minus at {t2} (nested)", value=x - y))
    cm = E.t("careers_means", "group", "N")
    if cm is not None:
        for g, rows in cm.groupby("group"):
            Ns = sorted({_num(v) for v in rows.N if _num(v) is not None})
            for x, y in zip(Ns, Ns[1:]):
                if _is_small(y - x):
                    found.append(Finding(7, "careers_means", g, f"N {y:g} vs N {x:g} of another measure",
                                         value=y - x))
    return found


# --------------------------------------------------------------------------------------------
# 8 numbers beside the gate
# --------------------------------------------------------------------------------------------
_TRAJ_WORDS = {"low-rate": "low_rate", "early-peak": "early_peak", "late-peak": "late_peak",
               "high-rate persistent": "high_rate_persistent"}


def attack_beside_gate(out: Path) -> list[Finding]:
    E = load(out)
    found = []
    res = E.disclosure.get("results", {})
    # flags that describe rows the CSV withholds
    for uid, rec in res.items():
        df = E.t(uid)
        flags = (rec.get("outcome") or {}).get("flags") or []
        props = rec.get("properties") or {}
        keys = props.get("key_columns") or []
        for fl in flags:
            cell, _, what = fl.partition(": ")
            if df is None or not keys or "suppressed" not in df:
                continue
            parts = cell.split("|")
            if len(parts) != len(keys):
                continue
            mask = np.ones(len(df), bool)
            for k, v in zip(keys, parts):
                mask &= df[k].astype(str).values == v
            rows = df[mask]
            if len(rows) and all(r != "" for r in rows.suppressed):
                found.append(Finding(8, uid, cell, f"disclosure.json flag '{what}' on a row the CSV withholds",
                                     value=0.0))
        # model category counts: 2x2 cells of each dummy with the outcome
        cc = props.get("category_counts") or {}
        n_obs = props.get("n_obs")
        outc = None
        for k, v in cc.items():
            if k in ("outcome=1", "outcome"):
                outc = v
        for k, v in cc.items():
            if k.endswith(",outcome"):
                base = k[: -len(",outcome")]
                tot1 = cc.get(base)
                if tot1 is not None and _is_small(tot1 - v):
                    found.append(Finding(8, uid, base + ",no outcome", f"category_counts {base}={tot1} minus "
                                         f"{k}={v}", value=tot1 - v))
            if isinstance(v, (int, float)) and _is_small(v):
                found.append(Finding(8, uid, k, "disclosure.json category_counts property", value=v))
        dev = ((res.get("profile_auc_development") or {}).get("properties") or {}).get("n")
        if cc and dev is not None and uid == "profile_model":  # outcome cases at development
            for k, c in cc.items():
                if not k.endswith(",outcome"):
                    continue
                base = k[: -len(",outcome")]
                zero = base[:-1] + "0" if base.endswith("=1") else None
                for label, v in ((f"{zero},outcome", dev - c),
                                 (f"{zero},no outcome", cc.get(zero, math.nan) - (dev - c))):
                    if zero in cc and _is_small(v):
                        found.append(Finding(8, uid, label, f"category_counts with the development cases "
                                             f"(n={dev} of profile_auc_development in disclosure.json)", value=v))
        if rec.get("type") == "scalar" and rec.get("status") != "pass":
            n = props.get("n")
            if n is not None:
                found.append(Finding(8, uid, "n", "n of a withheld scalar in disclosure.json", value=n))
    # counts of withheld curve points: "k points with fewer than 10 at risk cut" extend the
    # released age grid to the oldest age of the group, an age reached by 1-9 persons
    for uid, rec in res.items():
        df = E.t(uid)
        if rec.get("type") != "curve" or df is None or "age" not in df:
            continue
        by = (rec.get("properties") or {}).get("by") or df.columns[0]
        for s_ in rec.get("suppressed") or []:
            m = re.match(r"(\d+) points with fewer than 10 at risk cut", str(s_.get("reason", "")))
            rows = df[df[by].astype(str) == str(s_.get("cell"))]
            if m and len(rows) and int(m.group(1)) > 0:
                end = rows.age.max() + int(m.group(1))
                found.append(Finding(8, uid, f"{s_['cell']}|age={end:g}",
                                     f"disclosure.json: {m.group(0)} after the last released age "
                                     f"{rows.age.max():g}: the age grid ends at {end:g}, an age reached by 1-9 persons",
                                     value=float(end)))
    # results.json: a headline share x a released N that gives 1-9 persons
    rj = E.root / "results.json"
    if rj.exists():
        N = _groups(E)
        for fig, vals in (json.loads(rj.read_text()).get("figures") or {}).items():
            for g, v in (vals or {}).items():
                if g in N and isinstance(v, float) and 0 < v < 1 and _is_small(v * N[g]):
                    found.append(Finding(8, "results.json", f"{fig}|{g}",
                                         f"headline share {v:.6g} x N {N[g]:g}", value=round(v * N[g])))
    # prose: trajectory shares and per-10,000 numbers against withheld cells
    for G in ("DSE", "CC"):
        m = re.search(rf"{G}: \d+ groups[^()]*\(([^)]*)\)", E.prose)
        sh = E.t(f"trajectory_shares_{G}", "trajectory", "share")
        if not m or sh is None:
            continue
        NG = _groups(E).get(G)
        for part in m.group(1).split(","):
            mm = re.match(r"\s*(.+?)\s+(\d+(?:\.\d+)?)%", part)
            if not mm or mm.group(1) not in _TRAJ_WORDS:
                continue
            t = _TRAJ_WORDS[mm.group(1)]
            row = sh[sh.trajectory == t]
            if len(row) and _num(row.iloc[0]["share"]) is None and NG:
                p = float(mm.group(2)) / 100
                half = 0.5 / 100 if "." not in mm.group(2) else 0.05 / 100
                lo, hi = math.ceil(NG * (p - half)), math.floor(NG * (p + half))
                found.append(Finding(8, f"trajectory_shares_{G}", f"{t}.share",
                                     f"report text gives {mm.group(0).strip()} of a withheld share: "
                                     f"N x share = {lo}..{hi}", interval=(lo, hi)))
    th = E.t("profile_thresholds", "threshold", "measure", "n", "N")
    cal = E.t("profile_calibration", "bin", "n")
    if th is not None:
        pop = next((_num(r.N) for r in th.itertuples() if r.measure == "flagged" and _num(r.N) is not None), None)
        m = re.search(r"about ([\d.,]+) in 10,000", E.prose)
        cases = None
        if m and pop:
            rate = float(m.group(1).replace(",", ""))
            digits = len(m.group(1).split(".")[1]) if "." in m.group(1) else 0
            h = 0.5 * 10 ** -digits
            lo, hi = math.ceil(pop * (rate - h) / 1e4 - 1e-9), math.floor(pop * (rate + h) / 1e4 + 1e-9)
            cases = (lo, hi)
            sens_N = [_num(r.N) for r in th.itertuples() if r.measure == "sensitivity" and _num(r.N) is not None]
            if not sens_N:
                found.append(Finding(8, "profile_thresholds", "sensitivity.N",
                                     "base rate per 10,000 in the text x the released population",
                                     interval=(lo, hi)))
        if cases and cal is not None and "n" in cal:
            rel = [_num(v) for v in cal.n]
            if sum(v is None for v in rel) == 1:
                rest = sum(v for v in rel if v is not None)
                lo, hi = cases[0] - rest, cases[1] - rest
                if _tight(lo, hi):
                    b = int(cal[cal.n.isna()].iloc[0]["bin"])
                    found.append(Finding(8, "profile_calibration", f"{b}.n", "base rate per 10,000 in the text x "
                                         "the population, minus the released bins", value=lo if lo == hi else None,
                                         interval=None if lo == hi else (lo, hi)))
        for m in re.finditer(r"predicted risk of ([\d.]+)% or more, (\d+) of every 10,000 young people are "
                             r"flagged; they include ([\d.]+)% of those", E.prose):
            t = float(m.group(1)) / 100
            rows = th[(th.threshold - t).abs() < 1e-9]
            sens = rows[rows.measure == "sensitivity"]
            if len(sens) and _num(sens.iloc[0]["n"]) is None:
                known = [_num(r.N) for r in th.itertuples() if r.measure == "sensitivity" and _num(r.N) is not None]
                D = known[0] if known else (cases[0] if cases and cases[0] == cases[1] else None)
                if D:
                    p = float(m.group(3)) / 100
                    lo, hi = math.ceil(D * (p - 0.0005) - 1e-9), math.floor(D * (p + 0.0005) + 1e-9)
                    found.append(Finding(8, "profile_thresholds", f"{t}|sensitivity",
                                         f"report text gives sensitivity {m.group(3)}% of a withheld row: "
                                         f"missed = {D:g} - n", interval=(D - hi, D - lo)))
    return found


# --------------------------------------------------------------------------------------------
# 9 extremes
# --------------------------------------------------------------------------------------------
def _svg_x_extent(svg: str) -> tuple[float, float] | None:
    """Data-space x range of the marks in a vega SVG, from the x-axis tick labels."""
    ticks = re.findall(r'<text[^>]*transform="translate\(([-\d.]+),15\)"[^>]*>([-\d.,]+)</text>', svg)
    if len(ticks) < 2:
        return None
    px = [float(a) for a, _ in ticks]
    val = [float(b.replace(",", "")) for _, b in ticks]
    if px[-1] == px[0]:
        return None
    scale = (val[-1] - val[0]) / (px[-1] - px[0])
    xs = []
    for d in re.findall(r'class="mark-(?:line|symbol|area)[^"]*"[^>]*>(.*?)</g>', svg, flags=re.S):
        for m in re.finditer(r'd="M([-\d.]+),', d):
            xs.append(float(m.group(1)))
        for m in re.finditer(r'[ML]([-\d.]+),[-\d.]+', d):
            xs.append(float(m.group(1)))
        for m in re.finditer(r'transform="translate\(([-\d.]+),[-\d.]+\)"', d):
            xs.append(float(m.group(1)))
    if not xs:
        return None
    return val[0] + (min(xs) - px[0]) * scale, val[0] + (max(xs) - px[0]) * scale


def attack_extremes(out: Path) -> list[Finding]:
    E = load(out)
    found = []
    grids = [(n, "age") for n in E.tables if n.startswith("trajectory_observed_")]
    grids += [("probation_coverage_by_year", "year")]
    for name, axis in grids:
        df = E.t(name, "suppressed")
        if df is None or axis not in df:
            continue
        by = [c for c in ("trajectory", "group", "kind", "measure") if c in df]
        ends = []
        for key, rows in df.groupby(by, sort=False):
            last = rows[rows[axis] == rows[axis].max()].iloc[0]
            cnt = _num(last.get("n")) if _num(last.get("N")) is None else _num(last.get("N"))
            small = (cnt is not None and 1 <= cnt <= 9) or "fewer than" in last.suppressed \
                or "denominator below" in last.suppressed
            ends.append((key, last[axis], small))
        if not ends:
            continue
        top = max(e[1] for e in ends)
        tops = [e for e in ends if e[1] == top]
        if tops and all(e[2] for e in tops):
            found.append(Finding(9, name, f"{axis}={top}", f"the {axis} grid ends at {top}, a value reached "
                                 "by fewer than 10 persons in every group that shows it (1-9, the extreme "
                                 "of one or a few persons)", value=float(top)))
    # curves: follow-up axis end
    for name, by in (("recidivism_general_curve", "group"), ("recidivism_specific_curve", "category")):
        df = E.t(name, "time", "at_risk")
        if df is None:
            continue
        for key, rows in df.groupby(by, sort=False):
            last = rows.iloc[-1]
            if _num(last.at_risk) is not None and 1 <= last.at_risk <= 9:
                found.append(Finding(9, name, f"{key}|t={last.time:.4g}", "last curve point has 1-9 at risk",
                                     value=last.at_risk))
    # figure axes: marks beyond what the released tables show
    src = {"recidivism_km": ("recidivism_general_curve", "time"),
           "recidivism_cif": ("recidivism_specific_curve", "time"),
           "trajectories_DSE": ("trajectory_curves_DSE", "age"),
           "trajectories_CC": ("trajectory_curves_CC", "age")}
    for fig, (tab, col) in src.items():
        svg, df = E.svgs.get(fig), E.t(tab)
        if svg is None or df is None:
            continue
        ext = _svg_x_extent(svg)
        if ext is None:
            continue
        obs = E.t(tab.replace("curves", "observed"))
        hi_rel = df[col].max()
        if obs is not None and col in obs:
            ok = obs[obs.suppressed == ""] if "suppressed" in obs else obs
            hi_rel = max(hi_rel, ok[col].max())
        if ext[1] > hi_rel + 0.5:
            found.append(Finding(9, fig, f"x-axis data end {ext[1]:.3g}",
                                 f"the figure draws marks up to {ext[1]:.3g}, beyond the released tables "
                                 f"({hi_rel:g})", value=round(ext[1], 2)))
    return found


# --------------------------------------------------------------------------------------------
# 10 reasons as bounds
# --------------------------------------------------------------------------------------------
_REF = r"([a-z_A-Z0-9]+\[[^\]]*\])\.(N-n|n|N)"


def _protected_refs(E: Export) -> list[dict[str, float]]:
    """Every cell a 'secondary suppression: protects ...' reason names is itself a protected
    (small) quantity: the attacker reads each as 1-9. 'nested[A.n - B.n].n' names a difference."""
    out = []
    for df in E.tables.values():
        if "suppressed" not in df:
            continue
        for reason in set(df.suppressed):
            if "protects" not in reason:
                continue
            body = reason.split("protects", 1)[1]
            for m in re.finditer(r"nested\[" + _REF + r" - " + _REF + r"\]\.n", body):
                out.append({f"{m.group(1)}.{m.group(2)}": 1.0, f"{m.group(3)}.{m.group(4)}": -1.0})
            body = re.sub(r"nested\[.*?\]\.n\]\.n", "", body)
            for m in re.finditer(_REF, body):
                out.append({f"{m.group(1)}.{m.group(2)}": 1.0})
    return out


def _add_protected(F: Facts, E: Export) -> None:
    for coef in _protected_refs(E):
        if all(k in F.index for k in coef):
            F.le(coef, 9, "a reason names it as protected: 1-9")
            F.le({k: -v for k, v in coef.items()}, -1, "a reason names it as protected: 1-9")


def attack_reason_bounds(out: Path) -> list[Finding]:
    """Within-table margins (categories sum to their total) with the bounds that reasons state."""
    E = load(out)
    found = []

    def run(F: Facts, prefix: str, why: str):
        _add_protected(F, E)
        found.extend(_report_unknowns(F, 10, [prefix], why))

    df = E.t("probation_advice_type", "group", "kind", "advice", "n", "N", "suppressed")
    cov = E.t("probation_coverage", "group", "kind", "breakdown", "level", "measure", "n", "N", "suppressed")
    if df is not None:
        for (g, k), rows in df.groupby(["group", "kind"], sort=False):
            F = Facts()
            _add_count_rows(F, "probation_advice_type", rows, ["group", "kind", "advice"])
            N = next((_num(v) for v in rows.N if _num(v) is not None), None)
            if N is None and cov is not None:
                c = cov[(cov.group == g) & (cov.kind == k) & (cov.breakdown == "all") & (cov.measure == "delivered")]
                N = _num(c.iloc[0]["n"]) if len(c) else None
            if N is None:
                continue
            F.eq({f"probation_advice_type[{g}|{k}|{a}].n": 1 for a in rows.advice}, N, "advice types sum to N")
            run(F, "probation_advice_type[", "advice types sum to the delivered count; reasons bound the rest")
    if cov is not None:
        for (g, k, meas), rows in cov.groupby(["group", "kind", "measure"], sort=False):
            allr = rows[rows.breakdown == "all"]
            for br, sub in rows[rows.breakdown != "all"].groupby("breakdown", sort=False):
                if all(s == "" for s in sub.suppressed) or allr.empty:
                    continue
                F = Facts()
                _add_count_rows(F, "probation_coverage", sub, ["group", "kind", "breakdown", "level", "measure"])
                for col in ("n", "N"):
                    v = _num(allr.iloc[0][col])
                    if v is not None:
                        F.eq({f"probation_coverage[{g}|{k}|{br}|{lv}|{meas}].{col}": 1 for lv in sub.level}, v,
                             f"{br} levels sum to all")
                run(F, "probation_coverage[", f"{br} levels sum to the 'all' row; reasons bound the rest")
    by = E.t("probation_coverage_by_year", "group", "kind", "year", "measure", "n", "N", "suppressed")
    if by is not None and cov is not None:
        for (g, k), rows in by.groupby(["group", "kind"], sort=False):
            F = Facts()
            _add_count_rows(F, "probation_coverage_by_year", rows, ["group", "kind", "year", "measure"])
            years = sorted(rows.year.unique())
            for y in years:  # requested and delivered share N; delivered <= requested
                F.eq({f"probation_coverage_by_year[{g}|{k}|{y}|requested].N": 1,
                      f"probation_coverage_by_year[{g}|{k}|{y}|delivered].N": -1}, 0, "same cases")
                F.le({f"probation_coverage_by_year[{g}|{k}|{y}|delivered].n": 1,
                      f"probation_coverage_by_year[{g}|{k}|{y}|requested].n": -1}, 0, "delivered <= requested")
            # edge years with fewer than 10 cases are dropped (probation.trim_years): years of the
            # table missing at this row's edges may hold up to 9 cases each, so the shown years
            # sum to 'all' only when none is missing there
            lo_y, hi_y = min(years), max(years)
            edge = [y for y in by.year.unique() if y < lo_y or y > hi_y]
            for meas in ("requested", "delivered"):
                a = cov[(cov.group == g) & (cov.kind == k) & (cov.breakdown == "all") & (cov.measure == meas)]
                if len(a):
                    for col in ("n", "N"):
                        v = _num(a.iloc[0][col])
                        if v is None:
                            continue
                        terms = {f"probation_coverage_by_year[{g}|{k}|{y}|{meas}].{col}": 1 for y in years}
                        if not edge:
                            F.eq(terms, v, "years sum to all")
                        else:
                            F.le(terms, v, "shown years sum to at most all")
                            F.le({t: -1 for t in terms}, 9 * len(edge) - v,
                                 "dropped edge years hold 0-9 cases each")
            run(F, "probation_coverage_by_year[", "years sum to the 'all' row of probation_coverage; "
                "reasons bound the rest")
    ap = E.t("atypical_profile", "subgroup", "variable", "n", "N", "suppressed")
    if ap is not None:
        origins = ap[ap.variable.str.startswith("origin_") & (ap.variable != "origin_big4")]
        for sg, rows in origins.groupby("subgroup", sort=False):
            N = next((_num(v) for v in ap[ap.subgroup == sg].N if _num(v) is not None), None)
            if N is None or all(s == "" for s in rows.suppressed):
                continue
            F = Facts()
            _add_count_rows(F, "atypical_profile", rows, ["subgroup", "variable"])
            F.eq({f"atypical_profile[{sg}|{v}].n": 1 for v in rows.variable}, N, "origins partition the subgroup")
            big4 = ap[(ap.subgroup == sg) & (ap.variable == "origin_big4")]
            four = [f"atypical_profile[{sg}|origin_{c}].n" for c in ("MA", "TR", "SR", "AN")
                    if f"origin_{c}" in set(rows.variable)]
            if len(big4) and len(four) == 4 and _num(big4.iloc[0]["n"]) is not None:
                F.eq({v: 1 for v in four}, _num(big4.iloc[0]["n"]), "big four origins")
            elif len(big4) and len(four) == 4:
                F.le({v: 1 for v in four}, 9, "origin_big4 is 'numerator below 10'")
            run(F, "atypical_profile[", "origin rows partition the subgroup; reasons bound the rest")
    for G in ("DSE", "CC", "NC"):
        sh = E.t(f"trajectory_shares_{G}", "trajectory", "n", "N", "suppressed")
        if sh is None or all(s == "" for s in sh.suppressed):
            continue
        F = Facts()
        _add_count_rows(F, f"trajectory_shares_{G}", sh, ["trajectory"])
        NG = _groups(E).get(G)
        if NG:
            F.eq({f"trajectory_shares_{G}[{t}].n": 1 for t in sh.trajectory}, NG, "groups sum to N")
        sel = E.t(f"trajectory_selection_{G}", "chosen", "n")
        if sel is not None:
            ch = sel[sel.chosen.astype(str) == "True"]
            if len(ch) and _num(ch.iloc[0]["n"]) is not None:  # n = the smallest group
                for t in sh.trajectory:
                    F.le({f"trajectory_shares_{G}[{t}].n": -1}, -_num(ch.iloc[0]["n"]), "smallest group")
        run(F, f"trajectory_shares_{G}[", "groups sum to N; reasons bound the rest")
    cal = E.t("profile_calibration", "bin", "n", "N", "suppressed")
    th = E.t("profile_thresholds", "threshold", "measure", "n", "N", "suppressed")
    if cal is not None and th is not None and any(s != "" for s in cal.suppressed):
        F = Facts()
        _add_count_rows(F, "profile_calibration", cal, ["bin"])
        sens = [r for r in th.itertuples() if r.measure == "sensitivity" and _num(r.N) is not None]
        flag = [r for r in th.itertuples() if r.measure == "flagged" and _num(r.N) is not None]
        if sens:
            F.eq({f"profile_calibration[{b}].n": 1 for b in cal.bin}, _num(sens[0].N), "bins sum to the cases")
        if flag:
            F.eq({f"profile_calibration[{b}].N": 1 for b in cal.bin}, _num(flag[0].N), "bins sum to the population")
        run(F, "profile_calibration[", "bins sum to released totals; reasons bound the rest")
    fair = E.t("profile_fairness", "variable", "group", "threshold", "measure", "n", "N", "suppressed")
    if fair is not None and th is not None:
        F = Facts()
        T = "profile_fairness"
        fair = fair.assign(threshold=fair.threshold.map(lambda v: "" if _num(v) is None else f"{float(v):g}"))
        _add_count_rows(F, T, fair, ["variable", "group", "threshold", "measure"])
        ths = sorted({t for t in fair.threshold if t})
        thr = th.assign(threshold=th.threshold.map(lambda v: f"{float(v):g}"))
        _add_count_rows(F, "profile_thresholds", thr, ["threshold", "measure"])
        flagged = {r.threshold: f"profile_thresholds[{r.threshold}|flagged]" for r in thr.itertuples()
                   if r.measure == "flagged"}
        sens = {r.threshold: f"profile_thresholds[{r.threshold}|sensitivity]" for r in thr.itertuples()
                if r.measure == "sensitivity"}
        ppv = {r.threshold: f"profile_thresholds[{r.threshold}|ppv]" for r in thr.itertuples() if r.measure == "ppv"}
        for t in ths:
            F.eq({f"{sens[t]}.n": 1, f"{ppv[t]}.n": -1}, 0, "ppv n = sensitivity n")
            F.eq({f"{flagged[t]}.n": 1, f"{ppv[t]}.N": -1}, 0, "ppv N = flagged")
            F.eq({f"{sens[t]}.N": 1, f"{sens[ths[0]]}.N": -1}, 0, "cases")
            F.eq({f"{flagged[t]}.N": 1, f"{flagged[ths[0]]}.N": -1}, 0, "population")
        for var, rows in fair.groupby("variable", sort=False):
            groups = list(dict.fromkeys(rows.group))
            for g in groups:
                k = f"{T}[{var}|{g}|"
                F.eq({f"{k}|calibration].n": 1, f"{k}{ths[0]}|fnr].N": -1}, 0, "cases of the group")
                F.eq({f"{k}|calibration].N": 1, f"{k}{ths[0]}|fnr].N": -1, f"{k}{ths[0]}|fpr].N": -1}, 0,
                     "group = cases + non-cases")
                for t in ths:
                    F.eq({f"{k}{t}|fnr].N": 1, f"{k}{ths[0]}|fnr].N": -1}, 0, "same cases")
                    F.eq({f"{k}{t}|fpr].N": 1, f"{k}{ths[0]}|fpr].N": -1}, 0, "same non-cases")
                for t1, t2 in zip(ths, ths[1:]):
                    F.le({f"{k}{t1}|fnr].n": 1, f"{k}{t2}|fnr].n": -1}, 0, "missed grows with the threshold")
                    F.le({f"{k}{t2}|fpr].n": 1, f"{k}{t1}|fpr].n": -1}, 0, "flagged shrinks")
            for t in ths:
                F.eq({**{f"{T}[{var}|{g}|{t}|fnr].n": 1 for g in groups}, f"{sens[t]}.N-n": -1}, 0,
                     "groups' missed cases sum to the missed cases")
                F.eq({**{f"{T}[{var}|{g}|{t}|fpr].n": 1 for g in groups}, f"{flagged[t]}.n": -1,
                      f"{sens[t]}.n": 1}, 0, "groups' flagged non-cases sum to flagged minus found cases")
            F.eq({**{f"{T}[{var}|{g}||calibration].N": 1 for g in groups}, f"{flagged[ths[0]]}.N": -1}, 0,
                 "groups partition the population")
        for fl in (E.disclosure.get("results", {}).get(T, {}).get("outcome", {}) or {}).get("flags", []):
            cell, _, what = fl.partition(": ")
            if "zero cell" in what and f"{T}[{cell}].n" in F.index:
                F.fix(f"{T}[{cell}].n", 0)
        run(F, "profile_", "fairness groups sum to the threshold table; nested thresholds; reasons bound the rest")
    return found


def attack_ledger_with_reasons(out: Path) -> list[Finding]:
    """Class 10 on the gate's own published ledger: every relation disclosure.json lists, every
    released number, and every reason read as the bound it states, solved in integers."""
    E = load(out)
    L = E.disclosure.get("ledger") or {}
    if not L.get("cells"):
        return []
    F = Facts()
    withheld = []
    for c in L["cells"]:
        name = f"{c['output']}[{c['key']}].{c['column']}"
        F.var(name)
        if c.get("status") == "released" and c.get("released") is not None:
            h = float(c.get("halfwidth") or 0.0)
            F.var(name, c["released"] - h, c["released"] + h)
        else:
            if c.get("status") == "suppressed":
                withheld.append(name)
            st = _stated(c.get("reason") or "")
            if c.get("protect") and c["column"] in st:
                F.var(name, *st[c["column"]])
    for r in L.get("relations") or []:
        F.eq({f"{o}[{k}].{col}": float(v) for o, k, col, v in r["terms"]}, float(r.get("rhs", 0.0)),
             r.get("why", ""))
    _add_protected(F, E)
    lp = _relaxed_bounds(F, withheld)
    found = []
    for name in withheld:
        lo, hi = lp.get(name, (-math.inf, math.inf))
        if hi > 9.5 or lo < 0.5 or hi - lo > NARROW + 1:
            continue
        b = F.bound(name)
        st = F.stated(name)
        if b and _tight(*b, st if st and st[1] <= 9 else None):
            table, cell = name.split("[", 1)
            found.append(Finding(10, table, cell.replace("]", ""),
                                 "the ledger's own relations (disclosure.json) with every reason as a "
                                 "bound, in integers", value=b[0] if b[0] == b[1] else None,
                                 interval=None if b[0] == b[1] else b))
    return found


def _relaxed_bounds(F: Facts, names: list[str]) -> dict[str, tuple[float, float]]:
    """Continuous (LP) bounds of many targets, to pick the few worth an integer solve."""
    from scipy.optimize import linprog

    from scipy.sparse import csr_matrix

    n = len(F.lo)
    eq = [(c, l) for c, l, u, _ in F.rows if l == u]
    ub = [(c, u) for c, l, u, _ in F.rows if l != u]

    def sparse(rows):
        data, ri, ci = [], [], []
        for i, (c, _) in enumerate(rows):
            for k, v in c.items():
                data.append(v)
                ri.append(i)
                ci.append(F.index[k])
        return csr_matrix((data, (ri, ci)), shape=(len(rows), n))

    A_eq, A_ub = sparse(eq), sparse(ub)
    bounds = list(zip(F.lo, [None if math.isinf(h) else h for h in F.hi]))
    out = {}
    for name in names:
        c = np.zeros(n)
        c[F.index[name]] = 1.0
        res = []
        for sgn in (1.0, -1.0):
            r = linprog(sgn * c, A_ub=A_ub if len(ub) else None, b_ub=[u for _, u in ub] if len(ub) else None,
                        A_eq=A_eq if len(eq) else None, b_eq=[l for _, l in eq] if len(eq) else None,
                        bounds=bounds, method="highs")
            res.append(sgn * r.fun if r.status == 0 else (-math.inf if sgn > 0 else math.inf))
        out[name] = (res[0], res[1])
    return out


# --------------------------------------------------------------------------------------------
ATTACKS = {
    1: attack_partitions,
    2: attack_complements,
    3: attack_at_risk,
    4: attack_windows_vs_curve,
    5: attack_curve_steps,
    6: attack_estimate_ratios,
    7: attack_nested,
    8: attack_beside_gate,
    9: attack_extremes,
    10: lambda out: attack_reason_bounds(out) + attack_ledger_with_reasons(out),
}


def attack_all(out: Path) -> dict[int, list[Finding]]:
    return {k: f(Path(out)) for k, f in ATTACKS.items()}


if __name__ == "__main__":  # python tests/attacks.py OUT [OUT ...]
    for folder in sys.argv[1:]:
        print(f"== {folder}")
        for k, fs in attack_all(Path(folder)).items():
            print(f"-- class {k}: {len(fs)} finding(s)")
            for f in fs:
                print("   ", f)
