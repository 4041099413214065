"""A crafted, tiny, VALID register folder (48 persons in 12 families) for tests of any step.

    from small_registers import small_tables, write_small_registers

Everything is fixed by hand-written rules (no randomness), so tests can reason about it:

- families f = 0..11: father (id 4f+1, born 1950+f, M), mother (4f+2, born 1952+f, F),
  two children (4f+3 born 1978+f, 4f+4 born 1981+f); ids are 10-digit strings with leading zeros;
- family 0's father died 2010-05-01; family 1's parents separated (partner end 1990-01-01) and the
  mother then ran a single-parent household; child 4 of family 5 emigrated 2015-08-01;
- half siblings: child 1 of family 2 and child 1 of family 3; one unregistered alter (a partner
  of person 0000000005 that is not in persons: a note, not a violation);
- cases of several categories and outcomes, including domestic sexual trafficking convictions
  registered 2008-2017 and decoys (acquittal, technical dismissal, cross-border, 2019);
- education, households, youth care, detentions and probation advice for some of them.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd

from crimcareer import contract

CUTOFF = dt.date(2023, 12, 31)
N_FAMILIES = 12
UNREGISTERED_ALTER = "9999999999"

D = dt.date


def pid(i: int) -> str:
    """The 10-digit person id of person number i (1-based)."""
    return f"{i:010d}"


def _persons() -> pd.DataFrame:
    origins = [("none", "NL"), ("first_generation", "MA"), ("second_generation", "TR"),
               ("first_generation", "SR"), ("second_generation", "AN"),
               ("first_generation", "other_western"), ("none", "NL"),
               ("second_generation", "other_non_western"), ("none", "NL"), ("none", "NL"),
               ("first_generation", "MA"), ("none", "NL")]
    rows = []
    for f in range(N_FAMILIES):
        mig, origin = origins[f]
        kids_mig = "second_generation" if mig == "first_generation" else mig
        members = [
            (4 * f + 1, D(1950 + f, 3, 1 + f), "M", mig),
            (4 * f + 2, D(1952 + f, 7, 10 + f), "F", mig),
            (4 * f + 3, D(1978 + f, 1, 15), "M" if f % 2 == 0 else "F", kids_mig),
            (4 * f + 4, D(1981 + f, 11, 28), "F" if f % 3 == 0 else "M", kids_mig),
        ]
        for i, birth, sex, m in members:
            rows.append({
                "person_id": pid(i), "birth_date": birth, "sex": sex,
                "migration_background": m, "origin_group": origin,
                "death_date": None, "emigration_date": None,
            })
    df = pd.DataFrame(rows)
    df.loc[df.person_id == pid(1), "death_date"] = D(2010, 5, 1)
    df.loc[df.person_id == pid(24), "emigration_date"] = D(2015, 8, 1)
    df.loc[df.person_id == pid(47), "sex"] = None
    df.loc[df.person_id == pid(46), ["migration_background", "origin_group"]] = None
    return df


def _relations(persons: pd.DataFrame) -> pd.DataFrame:
    birth = dict(zip(persons.person_id, persons.birth_date))
    rows: list[dict] = []

    def both(a: str, b: str, rel_ab: str, rel_ba: str, layer: str, start=None, end=None) -> None:
        rows.append({"person_id": a, "alter_id": b, "relation": rel_ab, "layer": layer,
                     "start_date": start, "end_date": end})
        rows.append({"person_id": b, "alter_id": a, "relation": rel_ba, "layer": layer,
                     "start_date": start, "end_date": end})

    for f in range(N_FAMILIES):
        fa, mo, c1, c2 = (pid(4 * f + k) for k in (1, 2, 3, 4))
        end = D(1990, 1, 1) if f == 1 else None
        both(fa, mo, "partner", "partner", "family", D(1975, 6, 1), end)
        for c in (c1, c2):
            both(c, fa, "parent", "child", "family")
            both(c, mo, "parent", "child", "family")
        both(c1, c2, "sibling", "sibling", "family", birth[c2])
        hh_end = D(1990, 1, 1) if f == 1 else None
        both(fa, mo, "household", "household", "household", D(1975, 6, 1), hh_end)
        both(c1, c2, "household", "household", "household", birth[c2])
    both(pid(11), pid(15), "half_sibling", "half_sibling", "family", birth[pid(15)])
    both(pid(17), pid(21), "neighbour", "neighbour", "neighbours", D(2000, 1, 1), D(2012, 6, 30))
    both(pid(27), pid(31), "classmate", "classmate", "school", D(1990, 9, 1), D(1996, 7, 1))
    both(pid(33), pid(37), "colleague", "colleague", "work", D(2001, 3, 1))
    rows.append({"person_id": pid(5), "alter_id": UNREGISTERED_ALTER, "relation": "partner",
                 "layer": "family", "start_date": D(1992, 4, 1), "end_date": None})
    return pd.DataFrame(rows)


def _cases(persons: pd.DataFrame) -> pd.DataFrame:
    birth = dict(zip(persons.person_id, persons.birth_date))
    # (person number, offence date, category, outcome, domestic, article, severity)
    spec = [
        (3, D(1996, 5, 3), "property", "conviction", None, "310", 4.0),
        (3, D(1999, 2, 11), "violence", "conviction", None, "300", 2.0),
        (3, D(2009, 6, 20), "trafficking_sexual", "conviction", True, "273f", 12.0),
        (3, D(2015, 3, 2), "trafficking_sexual", "conviction", True, "273f", 12.0),
        (4, D(2001, 8, 8), "drugs", "dismissal_policy", None, "2", 8.0),
        (7, D(1997, 10, 1), "property", "conviction", None, "311", 6.0),
        (7, D(2011, 1, 17), "trafficking_sexual", "conviction", True, "273f", 12.0),
        (8, D(2003, 4, 4), "public_order", "conviction", None, "141", 5.5),
        (11, D(2012, 9, 9), "trafficking_sexual", "acquittal", True, "273f", 12.0),
        (12, D(2004, 12, 24), "traffic", "conviction", None, "8", 1.0),
        (15, D(2013, 7, 7), "trafficking_sexual", "conviction", False, "273f", 12.0),
        (16, D(2002, 2, 2), "weapons", "conviction", None, "26", 4.0),
        (18, D(2010, 10, 10), "trafficking_sexual", "conviction", True, "273f", 12.0),
        (19, D(2005, 5, 5), "fraud", "dismissal_technical", None, "326", 4.0),
        (20, D(2008, 3, 15), "trafficking_labour", "conviction", False, "273f", 12.0),
        (23, D(2006, 6, 6), "sexual", "conviction", None, "242", 12.0),
        (23, D(2019, 1, 9), "trafficking_sexual", "pending", True, "273f", 12.0),
        (27, D(2000, 11, 11), "property", "conviction", None, "310", 4.0),
        (27, D(2014, 2, 14), "trafficking_sexual", "conviction", True, "273f", 12.0),
        (28, D(2007, 9, 30), "violence", "dismissal_policy", None, "300", 2.0),
        (31, D(2016, 4, 1), "drugs", "conviction", None, "3", 6.0),
        (33, D(1995, 1, 20), "other", "conviction", None, None, None),
        (35, D(2012, 12, 12), "violence", "conviction", None, "302", 8.0),
        (36, D(2017, 5, 5), "trafficking_sexual", "dismissal_technical", True, "273f", 12.0),
        (39, D(2011, 11, 1), "property", "conviction", None, "310", 4.0),
        (40, D(2018, 8, 18), "public_order", "pending", None, "141", 5.5),
        (43, D(2009, 9, 19), "sexual", "acquittal", None, "245", 8.0),
        (44, D(2013, 3, 13), "trafficking_sexual", "conviction", True, "273f", 12.0),
        (1, D(2005, 4, 1), "fraud", "conviction", None, "225", 6.0),
        (2, D(1999, 7, 7), "traffic", "dismissal_policy", None, "6", 3.0),
    ]
    rows = []
    for k, (i, offence, cat, outcome, domestic, art, sev) in enumerate(spec, start=1):
        assert offence > birth[pid(i)]
        rows.append({
            "case_id": f"C{k:05d}", "person_id": pid(i), "offence_date": offence,
            "registration_date": offence + dt.timedelta(days=30 + 7 * k),
            "disposal_date": None if outcome == "pending" else offence + dt.timedelta(days=200 + k),
            "article": art, "offence_category": cat, "domestic": domestic, "outcome": outcome,
            "severity_max_years": sev,
        })
    df = pd.DataFrame(rows)
    df.loc[df.case_id == "C00022", "registration_date"] = None
    return df


def _education(persons: pd.DataFrame) -> pd.DataFrame:
    rows = []
    levels = ["vmbo", "mbo2", "havo", "mbo1", "vwo", "mbo4"]
    for f in range(N_FAMILIES):
        for k, c in ((0, 4 * f + 3), (1, 4 * f + 4)):
            birth = persons.loc[persons.person_id == pid(c), "birth_date"].iloc[0]
            rows.append({"person_id": pid(c), "diploma_date": D(birth.year + 12, 7, 1),
                         "level": "primary"})
            level = levels[(f + k) % len(levels)]
            if (f + k) % 4 != 3:  # some never obtain a secondary diploma
                age = 16 if level in ("vmbo", "mbo1") else 18 if level in ("havo", "vwo") else 20
                rows.append({"person_id": pid(c), "diploma_date": D(birth.year + age, 6, 30),
                             "level": level})
    rows.append({"person_id": pid(5), "diploma_date": D(1975, 6, 30), "level": "hbo"})
    rows.append({"person_id": pid(10), "diploma_date": D(1979, 6, 30), "level": "wo"})
    return pd.DataFrame(rows)


def _households(persons: pd.DataFrame) -> pd.DataFrame:
    birth = dict(zip(persons.person_id, persons.birth_date))
    rows = []
    for f in range(N_FAMILIES):
        fa, mo, c1, c2 = (pid(4 * f + k) for k in (1, 2, 3, 4))
        h = f"H{f:04d}"
        split = D(1990, 1, 1) if f == 1 else None
        rows.append({"person_id": fa, "household_id": h, "start_date": D(1975, 6, 1),
                     "end_date": split, "household_type": "couple_with_children",
                     "role": "parent"})
        rows.append({"person_id": mo, "household_id": h, "start_date": D(1975, 6, 1),
                     "end_date": split, "household_type": "couple_with_children",
                     "role": "parent"})
        for c in (c1, c2):
            b = birth[c]
            adult = D(b.year + 18, b.month, b.day)
            rows.append({"person_id": c, "household_id": h, "start_date": b,
                         "end_date": split if split and split < adult else adult,
                         "household_type": "couple_with_children", "role": "child"})
            if split and split < adult:
                rows.append({"person_id": c, "household_id": "H9001", "start_date": split,
                             "end_date": adult, "household_type": "single_parent",
                             "role": "child"})
        if split:
            rows.append({"person_id": mo, "household_id": "H9001", "start_date": split,
                         "end_date": None, "household_type": "single_parent", "role": "parent"})
            rows.append({"person_id": fa, "household_id": "H9002", "start_date": split,
                         "end_date": None, "household_type": "single", "role": "single"})
    return pd.DataFrame(rows)


def _youth_care() -> pd.DataFrame:
    return pd.DataFrame([
        {"person_id": pid(3), "start_date": D(1992, 3, 1), "end_date": D(1994, 3, 1),
         "measure": "supervision_order"},
        {"person_id": pid(7), "start_date": D(1993, 5, 1), "end_date": D(1995, 1, 15),
         "measure": "youth_probation"},
        {"person_id": pid(8), "start_date": D(1990, 2, 1), "end_date": None,
         "measure": "residential_care"},
        {"person_id": pid(27), "start_date": D(1996, 9, 1), "end_date": D(1999, 9, 1),
         "measure": "guardianship"},
        {"person_id": pid(44), "start_date": D(1998, 1, 1), "end_date": D(1998, 12, 31),
         "measure": "other"},
    ])


def _detentions() -> pd.DataFrame:
    return pd.DataFrame([
        {"person_id": pid(3), "start_date": D(2010, 1, 10), "end_date": D(2013, 1, 10)},
        {"person_id": pid(3), "start_date": D(2016, 2, 1), "end_date": None},
        {"person_id": pid(7), "start_date": D(2011, 6, 1), "end_date": D(2014, 6, 1)},
        {"person_id": pid(18), "start_date": D(2011, 3, 1), "end_date": D(2012, 3, 1)},
        {"person_id": pid(27), "start_date": D(2014, 8, 1), "end_date": D(2018, 8, 1)},
    ])


def _probation_advice(cases: pd.DataFrame) -> pd.DataFrame:
    rows = []
    advices = ["supervision", "treatment", "no_intervention", "other"]
    for k, c in enumerate(cases.itertuples()):
        if k % 3 == 2:
            continue  # no record at all for every third case
        requested = None if k % 5 == 4 else c.offence_date + dt.timedelta(days=40)
        delivered = (None if requested is None or k % 4 == 1
                     else requested + dt.timedelta(days=21))
        rows.append({"case_id": c.case_id, "person_id": c.person_id,
                     "requested_date": requested, "delivered_date": delivered,
                     "advice": advices[k % 4] if delivered else None})
    return pd.DataFrame(rows)


def small_tables() -> dict[str, pd.DataFrame]:
    """Fresh copies of the crafted valid tables, by contract table name (dates as datetime.date)."""
    persons = _persons()
    cases = _cases(persons)
    tables = {
        "persons": persons,
        "relations": _relations(persons),
        "cases": cases,
        "education": _education(persons),
        "households": _households(persons),
        "youth_care": _youth_care(),
        "detentions": _detentions(),
        "probation_advice": _probation_advice(cases),
    }
    return {name: df[contract.TABLES[name].column_names].copy() for name, df in tables.items()}


def arrow_schema(name: str):
    """The canonical pyarrow schema of a contract table (string, date32, bool, float64)."""
    import pyarrow as pa

    types = {"string": pa.string(), "date": pa.date32(), "bool": pa.bool_(),
             "float": pa.float64()}
    return pa.schema([pa.field(c.name, types[c.type]) for c in contract.TABLES[name].columns])


def write_tables(tables: dict[str, pd.DataFrame], folder: str | Path, fmt: str = "parquet",
                 cutoff: dt.date = CUTOFF) -> Path:
    """Write tables (contract columns, possibly corrupted) to a folder as parquet, csv or sav."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        if fmt == "parquet":
            if set(df.columns) == set(contract.TABLES[name].column_names):
                try:
                    table = pa.Table.from_pandas(df[contract.TABLES[name].column_names],
                                                 schema=arrow_schema(name), preserve_index=False)
                except (pa.ArrowInvalid, pa.ArrowTypeError):  # corrupted on purpose
                    table = pa.Table.from_pandas(df, preserve_index=False)
            else:
                table = pa.Table.from_pandas(df, preserve_index=False)
            pq.write_table(table, folder / f"{name}.parquet")
        elif fmt == "csv":
            out = df.copy()
            for c in out.columns:
                if out[c].dtype == object and out[c].map(lambda v: isinstance(v, bool)).any():
                    out[c] = out[c].map(lambda v: None if v is None else str(v).lower())
            out.to_csv(folder / f"{name}.csv", index=False)  # dates print as ISO, None as ""
        elif fmt == "sav":
            import pyreadstat

            out = df.copy()
            for c in out.columns:
                if out[c].map(lambda v: isinstance(v, bool)).any():
                    out[c] = out[c].map(lambda v: None if v is None else float(v))
                elif out[c].isna().all() and c in contract.TABLES[name].column_names:
                    kind = contract.TABLES[name].column(c).type
                    # pyreadstat cannot infer a type from an all-empty column: make it explicit.
                    out[c] = "" if kind == "string" else float("nan")
                    if kind == "date":
                        out[c] = pd.Series([pd.NaT] * len(out), dtype="datetime64[ns]")
            pyreadstat.write_sav(out, str(folder / f"{name}.sav"))
        else:
            raise ValueError(f"unknown format {fmt!r}")
    (folder / "meta.json").write_text(json.dumps(
        {"cutoff": cutoff.isoformat(), "source": "tests/small_registers.py", "created": "fixed"}
    ))
    return folder


def write_small_registers(folder: str | Path, fmt: str = "parquet") -> Path:
    """Write the crafted valid register folder (meta.json cut-off 2023-12-31); return it."""
    return write_tables(small_tables(), folder, fmt)
