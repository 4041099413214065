"""Slow, obvious reference for crimcareer.study.recidivism: plain Python loops over persons.

Follows the module docstring's definitions literally, one person at a time, with datetime.date
arithmetic, so the engine (Ibis) implementation can be checked against it on crafted data.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

FAR = dt.date(9999, 12, 31)


from reference_features import _d  # noqa: E402  (one date normaliser for the references)


def _anniversary(d: dt.date, years: int) -> dt.date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February in a non-leap year: 1 March (as age_in_years)
        return dt.date(d.year + years, 3, 1)


def _age(birth: dt.date, at: dt.date) -> int:
    return at.year - birth.year - ((at.month, at.day) < (birth.month, birth.day))


def reference_followup(persons: pd.DataFrame, cases: pd.DataFrame, cohort: pd.DataFrame,
                       cutoff: dt.date, spec,
                       detentions: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per DSE/CC cohort person, computed person by person."""
    not_counted = set(spec.cases.not_counted_outcomes)
    excl = set(spec.controls.exclude_categories)
    p0, p1 = spec.target.period
    groups = {g: (set(spec.careers.trafficking_categories) if g == "trafficking" else {g})
              for g in spec.recidivism.specific_categories}
    case_rows = {r["case_id"]: r for r in cases.to_dict("records")}
    rows = []
    for c in cohort.to_dict("records"):
        if c["group"] not in ("DSE", "CC"):
            continue
        pid = c["person_id"]
        index_date = _d(c["index_date"])
        my_cases = [r for r in case_rows.values() if r["person_id"] == pid]
        counted = [r for r in my_cases if r["outcome"] not in not_counted]
        ref_id = c.get("index_case_id")
        if ref_id is None or (not isinstance(ref_id, str) and pd.isna(ref_id)):
            best = None
            for r in counted:
                reg = _d(r["registration_date"]) or _d(r["offence_date"])
                if r["offence_category"] in excl or not (p0 <= reg <= p1):
                    continue
                key = (abs((_d(r["offence_date"]) - index_date).days), _d(r["offence_date"]),
                       r["case_id"])
                if best is None or key < best[0]:
                    best = (key, r["case_id"])
            ref_id = best[1] if best else None
        start = None
        if ref_id is not None:
            r = case_rows[ref_id]
            start = _d(r["disposal_date"]) or _d(r["registration_date"]) or _d(r["offence_date"])
        still = False
        if detentions is not None and start is not None:
            spells = [s for s in detentions.to_dict("records") if s["person_id"] == pid]
            for _ in range(2):
                if start is None:
                    break
                ends = [(_d(s["end_date"]) or FAR) for s in spells
                        if _d(s["start_date"]) <= start and (_d(s["end_date"]) is None
                                                             or _d(s["end_date"]) >= start)]
                if ends:
                    rel = max(ends)
                    if rel == FAR:
                        start, still = None, True
                    else:
                        start = rel
        p = persons[persons.person_id == pid].iloc[0]
        death, emig = _d(p["death_date"]), _d(p["emigration_date"])
        end, reason = cutoff, "cutoff"
        if emig is not None and emig <= end:
            end, reason = emig, "emigration"
        if death is not None and death <= end:
            end, reason = death, "death"
        followed = start is not None and start < end
        row = {"person_id": pid, "group": c["group"], "ref_case_id": ref_id, "start_date": start,
               "still_detained": still, "end_date": end, "end_reason": reason,
               "followed": followed}
        new = []
        if followed:
            new = sorted(
                (r for r in counted if r["case_id"] != ref_id
                 and start < _d(r["offence_date"]) <= end),
                key=lambda r: (_d(r["offence_date"]), r["case_id"]),
            )
        if followed:
            row["days_followed"] = (end - start).days
            row["age_at_start"] = _age(_d(p["birth_date"]), start)
        row["event"] = bool(new)
        row["reoffence_date"] = _d(new[0]["offence_date"]) if new else None
        row["reoffence_category"] = new[0]["offence_category"] if new else None
        if followed:
            row["time_days"] = ((row["reoffence_date"] - start).days if new
                                else row["days_followed"])
        row["death"] = reason == "death"
        for g, cats in groups.items():
            ds = [_d(r["offence_date"]) for r in new if r["offence_category"] in cats]
            row[f"first_{g}_date"] = min(ds) if ds else None
        for y in spec.recidivism.windows_years:
            re = bool(new) and row["reoffence_date"] <= _anniversary(start, y)
            row[f"reoffended_{y}y"] = re
            row[f"observable_{y}y"] = bool(followed and (re or _anniversary(start, y) <= end))
        if detentions is not None and followed:
            exit_ = row["reoffence_date"] or end
            det = 0
            for s in detentions[detentions.person_id == pid].to_dict("records"):
                lo = max(_d(s["start_date"]), start)
                hi = min(_d(s["end_date"]) or cutoff, exit_)
                det += max((hi - lo).days, 0)
            row["detained_days"] = det
            row["time_free_days"] = row["time_days"] - det
        rows.append(row)
    return pd.DataFrame(rows)


def reference_cumulative_incidence(durations, events, t: float, cause: int = 1) -> float:
    """Aalen-Johansen CIF of `cause` at t, by the textbook sum over distinct event times."""
    data = sorted(zip(durations, events))
    times = sorted({d for d, e in data if e != 0 and d <= t})
    surv, cif = 1.0, 0.0
    for s in times:
        n = sum(1 for d, _ in data if d >= s)
        d_all = sum(1 for d, e in data if d == s and e != 0)
        d_c = sum(1 for d, e in data if d == s and e == cause)
        cif += surv * d_c / n
        surv *= 1 - d_all / n
    return cif
