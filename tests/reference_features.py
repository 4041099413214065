"""Slow, obvious pandas reference of the person features frame (careers, factors, network).

Loops over cohort persons in plain Python and follows docs/architecture.md word by word; the
engine implementation (Ibis) is tested against it on small crafted populations.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

CATEGORIES = ("trafficking_sexual", "trafficking_labour", "sexual", "violence", "property",
              "drugs", "public_order", "traffic", "weapons", "fraud", "other")
LAYERS = ("household", "neighbours", "school", "work")
FAMILY = ("parent", "sibling", "half_sibling", "partner")
SKQ = ("havo", "vwo", "mbo2", "mbo3", "mbo4", "hbo", "wo")


def age(birth: dt.date, at: dt.date | None) -> int | None:
    """Completed years: count birthdays passed (29 February: birthday on 1 March in common years)."""
    if at is None:
        return None
    years = at.year - birth.year
    if (at.month, at.day) < (birth.month, birth.day):
        years -= 1
    return years


def plus_years(d: dt.date, years: int) -> dt.date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February in a common year: 1 March (as age_in_years)
        return dt.date(d.year + years, 3, 1)


def _d(x) -> dt.date | None:
    if x is None or (not isinstance(x, dt.date) and pd.isna(x)):
        return None
    if isinstance(x, pd.Timestamp):
        return x.date()
    if isinstance(x, dt.datetime):
        return x.date()
    return x


def reference_features(cohort: pd.DataFrame, tables: dict[str, pd.DataFrame], cutoff: dt.date,
                       not_counted=("acquittal", "dismissal_technical"),
                       trafficking=("trafficking_sexual", "trafficking_labour"),
                       family=FAMILY, layers=LAYERS, young=25) -> pd.DataFrame:
    cases = tables["cases"]
    counted = [r for r in cases.to_dict("records") if r["outcome"] not in not_counted]
    relations = tables["relations"].to_dict("records")
    present_layers = {r["layer"] for r in relations}
    out = []
    for p in cohort.to_dict("records"):
        pid = p["person_id"]
        birth = _d(p["birth_date"])
        index = _d(p["index_date"])
        own = [c for c in counted if c["person_id"] == pid]
        row: dict = {"person_id": pid, "group": p["group"]}
        row["age_at_index"] = age(birth, index)
        dates = [_d(c["offence_date"]) for c in own]
        row["age_first_case"] = age(birth, min(dates)) if dates else None
        tdates = [_d(c["offence_date"]) for c in own if c["offence_category"] in trafficking]
        row["age_first_trafficking"] = age(birth, min(tdates)) if tdates else None
        row["first_trafficking_young"] = (row["age_first_trafficking"] < young
                                          if tdates else None)
        row["repeat_trafficking"] = any(d > index for d in tdates)
        row["n_prior_cases"] = sum(1 for d in dates if d < index)
        upto = [c["offence_category"] for c in own if _d(c["offence_date"]) <= index]
        if upto:
            shares = pd.Series(upto).value_counts(normalize=True)
            row["versatility"] = 1.0 - float((shares ** 2).sum())
        else:
            row["versatility"] = None
        for cat in CATEGORIES:
            row[f"before_{cat}"] = sum(1 for c in own if c["offence_category"] == cat
                                       and _d(c["offence_date"]) < index)
            row[f"after_{cat}"] = sum(1 for c in own if c["offence_category"] == cat
                                      and _d(c["offence_date"]) > index)

        def criminal(alter: str) -> bool:
            return any(c["person_id"] == alter and _d(c["offence_date"]) < index for c in counted)

        def counts(r: dict) -> bool:
            start = _d(r["start_date"])
            return r["person_id"] == pid and (start is None or start <= index)

        fam = [r for r in relations if counts(r) and r["layer"] == "family"
               and r["relation"] in family]
        for rel in family:
            row[f"criminal_{rel}"] = any(criminal(r["alter_id"]) for r in fam
                                         if r["relation"] == rel)
        row["criminal_family"] = any(row[f"criminal_{rel}"] for rel in family)

        row["skq_observable"] = plus_years(birth, 23) <= cutoff
        if "education" in tables:
            if row["skq_observable"]:
                ed = tables["education"]
                row["skq_by_23"] = any(
                    r["person_id"] == pid and r["level"] in SKQ
                    and _d(r["diploma_date"]) < plus_years(birth, 23)
                    for r in ed.to_dict("records"))
            else:
                row["skq_by_23"] = None
        else:
            row["skq_by_23"] = None
        if "households" in tables:
            row["single_parent_childhood"] = any(
                r["person_id"] == pid and r["role"] == "child"
                and r["household_type"] == "single_parent"
                and _d(r["start_date"]) < plus_years(birth, 18)
                for r in tables["households"].to_dict("records"))
        else:
            row["single_parent_childhood"] = None
        if "youth_care" in tables:
            row["youth_care_childhood"] = any(
                r["person_id"] == pid and _d(r["start_date"]) < plus_years(birth, 18)
                for r in tables["youth_care"].to_dict("records"))
        else:
            row["youth_care_childhood"] = None
        mb, og, sex = p.get("migration_background"), p.get("origin_group"), p.get("sex")
        row["migration_any"] = None if mb is None or pd.isna(mb) else mb in (
            "first_generation", "second_generation")
        row["origin_big4"] = None if og is None or pd.isna(og) else og in ("MA", "TR", "SR", "AN")
        row["male"] = None if sex is None or pd.isna(sex) else sex == "M"
        for lay in layers:
            if lay not in present_layers:
                row[f"criminal_{lay}"] = None
            else:
                row[f"criminal_{lay}"] = any(
                    criminal(r["alter_id"]) for r in relations if counts(r) and r["layer"] == lay)
        out.append(row)
    return pd.DataFrame(out).sort_values("person_id").reset_index(drop=True)


def assert_frames_match(got: pd.DataFrame, ref: pd.DataFrame) -> None:
    """Every reference column equal in the engine result (nulls equal, numbers to 1e-9)."""
    got = got.sort_values("person_id").reset_index(drop=True)
    ref = ref.sort_values("person_id").reset_index(drop=True)
    assert list(got["person_id"]) == list(ref["person_id"])
    for col in ref.columns:
        assert col in got.columns, f"missing column {col}"
        for pid, g, r in zip(ref["person_id"], got[col], ref[col]):
            g_null = g is None or (not isinstance(g, str) and pd.isna(g))
            r_null = r is None or (not isinstance(r, str) and pd.isna(r))
            assert g_null == r_null, f"{col} of {pid}: engine {g!r}, reference {r!r}"
            if g_null:
                continue
            if isinstance(r, (float, np.floating)):
                assert abs(float(g) - float(r)) < 1e-9, f"{col} of {pid}: {g!r} != {r!r}"
            elif isinstance(r, (bool, np.bool_)):
                assert bool(g) == bool(r), f"{col} of {pid}: {g!r} != {r!r}"
            else:
                assert g == r or float(g) == float(r), f"{col} of {pid}: {g!r} != {r!r}"


# -- small populations ---------------------------------------------------------------------------
D = dt.date

CASE_COLS = ["case_id", "person_id", "offence_date", "registration_date", "disposal_date",
             "article", "offence_category", "domestic", "outcome", "severity_max_years"]


def _persons(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["person_id", "birth_date", "sex", "migration_background",
                                       "origin_group", "death_date", "emigration_date"])


def _cases(rows: list[tuple]) -> pd.DataFrame:
    """rows: (case_id, person_id, offence_date, category, outcome)."""
    df = pd.DataFrame(rows, columns=["case_id", "person_id", "offence_date", "offence_category",
                                     "outcome"])
    df["registration_date"] = df["offence_date"]
    df["disposal_date"] = None
    df["article"] = None
    df["domestic"] = df["offence_category"].str.startswith("trafficking")
    df["severity_max_years"] = None
    return df[CASE_COLS]


def _relations(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["person_id", "alter_id", "relation", "layer", "start_date",
                                       "end_date"])


CRAFTED_CUTOFF = D(2020, 12, 31)


def crafted_population() -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """A cohort of seven persons and their relatives, one exclusion rule per row (see comments)."""
    persons = _persons([
        ("D1", D(1990, 5, 10), "M", "first_generation", "MA", None, None),
        ("D2", D(1992, 2, 29), "F", "none", "NL", None, None),
        ("D3", D(2000, 6, 15), "M", "second_generation", "TR", None, None),
        ("C1", D(1990, 8, 1), "M", "second_generation", "other_western", None, None),
        ("C2", D(1992, 3, 1), "F", None, None, None, None),
        ("N1", D(1990, 1, 1), "M", "none", "NL", None, None),
        ("N2", D(2000, 1, 1), "F", "first_generation", "SR", None, None),
        *[(a, D(1965, 1, 1), "M", "none", "NL", None, None)
          for a in ("P1", "S1", "H1", "X1", "X2", "HH1", "NB1", "S2", "X3", "CS1", "P2", "S3")],
    ])
    cases = _cases([
        # D1: index 2012-03-01; two prior counted cases; acquittal/technical dismissal not counted;
        # a drugs case on the index date itself (not prior); later trafficking and property.
        ("d1a", "D1", D(2008, 6, 1), "property", "conviction"),
        ("d1b", "D1", D(2009, 1, 1), "property", "acquittal"),
        ("d1c", "D1", D(2010, 1, 1), "violence", "dismissal_policy"),
        ("d1d", "D1", D(2011, 1, 1), "fraud", "dismissal_technical"),
        ("d1e", "D1", D(2012, 3, 1), "drugs", "conviction"),
        ("d1x", "D1", D(2012, 3, 1), "trafficking_sexual", "conviction"),
        ("d1f", "D1", D(2015, 1, 1), "trafficking_sexual", "conviction"),
        ("d1g", "D1", D(2016, 1, 1), "property", "pending"),
        # D2 (born 29 Feb): index 2017-02-28, the day before her 25th "birthday" (1 March).
        ("d2x", "D2", D(2017, 2, 28), "trafficking_sexual", "conviction"),
        ("d2a", "D2", D(2018, 1, 1), "trafficking_labour", "acquittal"),  # not a repeat
        # D3: first trafficking (labour) at 15, index the day before the 17th birthday.
        ("d3a", "D3", D(2016, 1, 1), "trafficking_labour", "conviction"),
        ("d3x", "D3", D(2017, 6, 14), "trafficking_sexual", "conviction"),
        ("c1a", "C1", D(2011, 1, 1), "property", "conviction"),
        ("c1b", "C1", D(2013, 1, 1), "property", "conviction"),
        ("c2a", "C2", D(2017, 2, 28), "violence", "conviction"),  # on the index date: not prior
        # relatives
        ("p1", "P1", D(2005, 1, 1), "violence", "conviction"),
        ("s1", "S1", D(2013, 1, 1), "drugs", "conviction"),         # after D1's index date
        ("h1", "H1", D(2008, 1, 1), "property", "acquittal"),       # acquittal: not counted
        ("x1", "X1", D(2010, 1, 1), "violence", "conviction"),      # partner tie began later
        ("x2", "X2", D(2011, 1, 1), "property", "conviction"),      # ex-partner: counted
        ("hh1", "HH1", D(2011, 1, 1), "drugs", "conviction"),
        ("nb1", "NB1", D(2011, 1, 1), "drugs", "conviction"),       # neighbour tie began later
        ("s2", "S2", D(2010, 1, 1), "property", "dismissal_technical"),
        ("x3", "X3", D(2016, 1, 1), "violence", "conviction"),
        ("cs1", "CS1", D(2011, 1, 1), "violence", "conviction"),    # tie began on index date
        ("p2", "P2", D(2016, 1, 1), "fraud", "conviction"),
        ("s3", "S3", D(2017, 6, 14), "fraud", "conviction"),        # on N2's index date
    ])
    relations = _relations([
        ("D1", "P1", "parent", "family", None, None),
        ("D1", "S1", "sibling", "family", None, None),
        ("D1", "H1", "half_sibling", "family", None, None),
        ("D1", "X1", "partner", "family", D(2014, 1, 1), None),
        ("D1", "X2", "partner", "family", D(2005, 1, 1), D(2009, 1, 1)),
        ("D1", "HH1", "household", "household", D(2010, 1, 1), None),
        ("D1", "NB1", "neighbour", "neighbours", D(2013, 1, 1), None),
        ("D2", "S2", "sibling", "family", None, None),
        ("D2", "X3", "partner", "family", None, None),
        ("C1", "CS1", "sibling", "family", D(2012, 3, 1), None),
        ("N2", "P2", "parent", "family", None, None),
        ("N2", "S3", "sibling", "family", None, None),
        # reverse directions (alters' own ties do not matter for the cohort)
        ("P1", "D1", "child", "family", None, None),
        ("X2", "D1", "partner", "family", D(2005, 1, 1), D(2009, 1, 1)),
        ("P2", "N2", "child", "family", None, None),
    ])
    education = pd.DataFrame([
        ("D1", D(2009, 1, 1), "mbo2"),
        ("D2", D(2008, 6, 1), "vmbo"),
        ("D2", D(2015, 3, 1), "havo"),   # on the 23rd birthday (29 Feb -> 1 March): not counted
        ("D3", D(2018, 6, 1), "havo"),   # not yet 23 at the cut-off: not observable
        ("C1", D(2013, 7, 31), "mbo1"),
        ("N1", D(2012, 12, 31), "wo"),   # the day before the 23rd birthday: counted
    ], columns=["person_id", "diploma_date", "level"])
    households = pd.DataFrame([
        ("D1", "h1", D(2008, 5, 10), None, "single_parent", "child"),  # starts at 18: no
        ("D2", "h2", D(2010, 2, 27), None, "single_parent", "child"),  # day before 18th: yes
        ("D2", "h5", D(2010, 3, 1), None, "single_parent", "child"),  # 18th (29 Feb -> 1 Mar): no
        ("D3", "h6", D(2018, 6, 15), None, "single_parent", "child"),  # 18th birthday: no
        ("C1", "h3", D(1995, 1, 1), None, "single_parent", "parent"),  # not as child
        ("N2", "h4", D(2003, 1, 1), None, "single_parent", "child"),
    ], columns=["person_id", "household_id", "start_date", "end_date", "household_type", "role"])
    youth_care = pd.DataFrame([
        ("D1", D(2005, 1, 1), None, "supervision_order"),
        ("C1", D(2008, 8, 1), None, "other"),  # at 18: no
        ("D2", D(2010, 3, 1), None, "other"),  # 18th birthday of 29 Feb (1 March): no
    ], columns=["person_id", "start_date", "end_date", "measure"])
    pidx = persons.set_index("person_id")
    cohort_rows = [
        ("D1", "DSE", D(2012, 3, 1), "d1x", "D1"),
        ("D2", "DSE", D(2017, 2, 28), "d2x", "D2"),
        ("D3", "DSE", D(2017, 6, 14), "d3x", "D3"),
        ("C1", "CC", D(2012, 3, 1), None, "D1"),
        ("C2", "CC", D(2017, 2, 28), None, "D2"),
        ("N1", "NC", D(2012, 3, 1), None, "D1"),
        ("N2", "NC", D(2017, 6, 14), None, "D3"),
    ]
    cohort = cohort_from_rows(cohort_rows, pidx)
    tables = {"persons": persons, "cases": cases, "relations": relations,
              "education": education, "households": households, "youth_care": youth_care}
    return cohort, tables


def cohort_from_rows(rows: list[tuple], pidx: pd.DataFrame) -> pd.DataFrame:
    """The cohort frame of docs/architecture.md from (person_id, group, index_date, case, matched)."""
    out = []
    for pid, group, index, case, matched in rows:
        p = pidx.loc[pid]
        out.append({"person_id": pid, "group": group, "index_date": index, "index_case_id": case,
                    "matched_to": matched, "sex": p["sex"], "birth_date": p["birth_date"],
                    "birth_year": p["birth_date"].year,
                    "migration_background": p["migration_background"],
                    "origin_group": p["origin_group"]})
    return pd.DataFrame(out)


def random_population(seed: int, n_persons: int = 240, n_cohort: int = 60,
                      layers: tuple[str, ...] = ("family", "household", "school")
                      ) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], dt.date]:
    """A random population with dense ties and cases around index dates (edge days included)."""
    rng = np.random.default_rng(seed)
    cutoff = D(2020, 12, 31)
    ids = [f"p{i:04d}" for i in range(n_persons)]
    births = [D(1975, 1, 1) + dt.timedelta(days=int(x)) for x in rng.integers(0, 9500, n_persons)]
    births[0] = D(1992, 2, 29)
    births[1] = D(1996, 2, 29)
    sexes = rng.choice(["M", "F", None], n_persons, p=[0.6, 0.35, 0.05])
    mig = rng.choice(["none", "first_generation", "second_generation", None], n_persons)
    org = rng.choice(["NL", "MA", "TR", "SR", "AN", "other_western", None], n_persons)
    persons = _persons([(i, b, s, m, o, None, None)
                        for i, b, s, m, o in zip(ids, births, sexes, mig, org)])
    cohort_ids = ids[:n_cohort]
    index = {p: D(2008, 1, 1) + dt.timedelta(days=int(x))
             for p, x in zip(cohort_ids, rng.integers(0, 3650, n_cohort))}
    groups = {p: ["DSE", "CC", "NC"][i % 3] for i, p in enumerate(cohort_ids)}
    cats = list(CATEGORIES)
    outcomes = ["conviction", "dismissal_policy", "dismissal_technical", "acquittal", "pending"]
    case_rows = []
    for i, p in enumerate(ids):
        k = int(rng.poisson(2.0))
        for j in range(k):
            anchor = index.get(p, D(2012, 1, 1))
            off = anchor + dt.timedelta(days=int(rng.choice([0, -1, 1, *rng.integers(-4000, 3000, 3)])))
            off = max(off, births[i] + dt.timedelta(days=365 * 12))
            off = min(off, cutoff)
            case_rows.append((f"c{i}_{j}", p, off, str(rng.choice(cats)), str(rng.choice(outcomes))))
    cases = _cases(case_rows)
    rel_rows = []
    relnames = {"family": ["parent", "sibling", "half_sibling", "partner", "grandparent"],
                "household": ["household"], "neighbours": ["neighbour"], "school": ["classmate"],
                "work": ["colleague"]}
    for p in cohort_ids:
        for _ in range(int(rng.integers(0, 7))):
            alter = str(rng.choice(ids))
            if alter == p:
                continue
            layer = str(rng.choice(list(layers)))
            rel = str(rng.choice(relnames[layer]))
            mode = rng.integers(0, 4)
            start = (None if mode == 0 else index[p] if mode == 1
                     else index[p] + dt.timedelta(days=int(rng.integers(-3000, 2000))))
            end = None if rng.random() < 0.7 or start is None else start + dt.timedelta(days=400)
            rel_rows.append((p, alter, rel, layer, start, end))
    relations = _relations(rel_rows)
    ed_rows, hh_rows, yc_rows = [], [], []
    levels = ["primary", "vmbo", "mbo1", "mbo2", "havo", "vwo", "hbo", "wo"]
    for i, p in enumerate(cohort_ids):
        b = births[i]
        for _ in range(int(rng.integers(0, 3))):
            ed_rows.append((p, plus_years(b, int(rng.integers(15, 27))) +
                            dt.timedelta(days=int(rng.choice([0, -1, 1]))), str(rng.choice(levels))))
        if rng.random() < 0.5:
            hh_rows.append((p, f"h{i}", plus_years(b, int(rng.integers(0, 21))) +
                            dt.timedelta(days=int(rng.choice([0, -1, 1]))), None,
                            str(rng.choice(["single_parent", "couple_with_children"])),
                            str(rng.choice(["child", "parent"]))))
        if rng.random() < 0.3:
            yc_rows.append((p, plus_years(b, int(rng.integers(5, 21))) +
                            dt.timedelta(days=int(rng.choice([0, -1]))), None, "other"))
    tables = {
        "persons": persons, "cases": cases, "relations": relations,
        "education": pd.DataFrame(ed_rows, columns=["person_id", "diploma_date", "level"]),
        "households": pd.DataFrame(hh_rows, columns=["person_id", "household_id", "start_date",
                                                     "end_date", "household_type", "role"]),
        "youth_care": pd.DataFrame(yc_rows, columns=["person_id", "start_date", "end_date",
                                                     "measure"]),
    }
    pidx = persons.set_index("person_id")
    cohort = cohort_from_rows([(p, groups[p], index[p], None, p) for p in cohort_ids], pidx)
    return cohort, tables, cutoff


def engine_registers(engine, tables: dict[str, pd.DataFrame], cutoff: dt.date):
    """Put frames into the engine as a Registers object, typed as the data contract says."""
    import pyarrow as pa

    from crimcareer import contract
    from crimcareer.adapters.files import Registers

    types = {"string": pa.string(), "date": pa.date32(), "bool": pa.bool_(),
             "float": pa.float64()}
    typed = {}
    for name, df in tables.items():
        spec = contract.TABLES[name]
        arrays = {}
        for col in spec.columns:
            values = df[col.name] if col.name in df.columns else pd.Series([None] * len(df))
            values = [None if (v is None or (not isinstance(v, str) and pd.isna(v))) else
                      (_d(v) if col.type == "date" else v) for v in values]
            arrays[col.name] = pa.array(values, type=types[col.type])
        typed[name] = engine.from_pandas(pa.table(arrays))
    return Registers(tables=typed, cutoff=cutoff)


def engine_cohort(engine, cohort: pd.DataFrame):
    """The cohort frame as an engine table with date-typed dates."""
    import pyarrow as pa

    arrays = {}
    for col in cohort.columns:
        vals = [None if (v is None or (not isinstance(v, str) and pd.isna(v))) else v
                for v in cohort[col]]
        if col.endswith("_date"):
            arrays[col] = pa.array([_d(v) for v in vals], type=pa.date32())
        elif col == "birth_year":
            arrays[col] = pa.array(vals, type=pa.int64())
        else:
            arrays[col] = pa.array(vals, type=pa.string())
    return engine.from_pandas(pa.table(arrays))
