"""Criminal alters per layer for a whole population (issue 14): the engine expression against a
slow, obvious pandas reference, on both engines; and the `crimcareer network` command."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from crimcareer.cli import app
from crimcareer.population import alters_per_layer


def _dates(days: pd.DatetimeIndex, keep: np.ndarray) -> list:
    """Dates with None (not NaT) where missing: both engines read it as a null date."""
    return [d.date() if k else None for d, k in zip(days, keep)]


def _ties(seed: int = 3, persons: int = 60, rows: int = 900) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = np.array([f"p{i:03d}" for i in range(persons)])
    start = pd.to_datetime("2000-01-01") + pd.to_timedelta(rng.integers(0, 7000, rows), "D")
    end = start + pd.to_timedelta(rng.integers(0, 4000, rows), "D")
    ties = pd.DataFrame({
        "person_id": ids[rng.integers(0, persons, rows)],
        "alter_id": ids[rng.integers(0, persons, rows)],  # repeated pairs: distinct must hold
        "layer": rng.choice(["family", "work", "school"], rows),
        "start_date": _dates(start, rng.random(rows) > 0.2),
        "end_date": _dates(end, rng.random(rows) > 0.5),
    })
    first = pd.to_datetime("2005-01-01") + pd.to_timedelta(rng.integers(0, 6000, persons), "D")
    crim = pd.DataFrame({"person_id": ids, "first_offence": first.date})
    crim = crim[rng.random(persons) < 0.4]
    return ties, crim


def _reference(ties, crim, on, ever, egos=None) -> pd.DataFrame:
    """Ego by ego, layer by layer, alter by alter."""
    rows = []
    for (ego, layer), g in ties.groupby(["person_id", "layer"]):
        if egos is not None and ego not in egos:
            continue
        alters = set()
        for r in g.itertuples():
            if on is not None:
                if r.start_date is not None and not pd.isna(r.start_date) and r.start_date > on:
                    continue
                if not ever and r.end_date is not None and not pd.isna(r.end_date) \
                        and r.end_date < on:
                    continue
            alters.add(r.alter_id)
        if not alters:
            continue
        first = dict(zip(crim.person_id, crim.first_offence))
        n_crim = sum(1 for a in alters if a in first and (on is None or first[a] < on))
        rows.append((ego, layer, len(alters), n_crim))
    return pd.DataFrame(rows, columns=["person_id", "layer", "alters", "criminal_alters"])


@pytest.mark.parametrize("on,ever", [(None, False), (dt.date(2010, 6, 1), False),
                                     (dt.date(2010, 6, 1), True)])
def test_alters_per_layer_matches_the_reference(engine, on, ever):
    ties, crim = _ties()
    got = engine.to_pandas(alters_per_layer(engine.from_pandas(ties), engine.from_pandas(crim),
                                            on=on, ever=ever))
    want = _reference(ties, crim, on, ever)
    key = ["person_id", "layer"]
    got = got.sort_values(key).reset_index(drop=True)[want.columns]
    pd.testing.assert_frame_equal(got.astype({"alters": int, "criminal_alters": int}),
                                  want.sort_values(key).reset_index(drop=True),
                                  check_dtype=False)


def test_egos_and_composite_keys(duckdb_engine):
    ties, crim = _ties(seed=4)
    egos = sorted(set(ties.person_id))[:10]
    split = {"person_id": ("S", "N"), "alter_id": ("SR", "NR")}

    def keyed(df, cols):
        out = df.copy()
        for c in cols:
            s, n = split[c]
            out[s] = "R"
            out[n] = out[c].str[1:].astype(int)
        return out.drop(columns=cols)

    t = keyed(ties, ["person_id", "alter_id"])
    c = keyed(crim, ["person_id"]).assign(criminal=1).drop(columns="first_offence")
    e = keyed(pd.DataFrame({"person_id": egos}), ["person_id"])
    got = duckdb_engine.to_pandas(alters_per_layer(
        duckdb_engine.from_pandas(t), duckdb_engine.from_pandas(c), duckdb_engine.from_pandas(e),
        ego=["S", "N"], alter=["SR", "NR"]))
    want = _reference(ties, crim, None, False, egos=set(egos))
    assert set(got.N) == {int(x[1:]) for x in want.person_id}
    assert got.alters.sum() == want.alters.sum()
    assert got.criminal_alters.sum() == want.criminal_alters.sum()


def test_network_command_on_a_popnet_file(tmp_path):
    rows = pd.DataFrame({  # ego 1: alter 2 as parent and as co-parent (one alter), alter 3
        "RINPERSOONS": ["R"] * 5, "RINPERSOON": [1, 1, 1, 2, 3],
        "RINPERSOONSRELATIE": ["R"] * 5, "RINPERSOONRELATIE": [2, 2, 3, 1, 1],
        "RELATIE": [301, 302, 306, 304, 306],
    })
    rows.to_csv(tmp_path / "FAMILIENETWERK2020TABV1.csv", sep=";", index=False)
    pd.DataFrame({"RINPERSOONS": ["R"] * 3, "RINPERSOON": [1, 2, 3], "crim": [0, 1, 0]}) \
        .to_parquet(tmp_path / "crim.parquet")
    r = CliRunner().invoke(app, ["network", str(tmp_path / "FAMILIENETWERK2020TABV1.csv"),
                                 "--criminal", str(tmp_path / "crim.parquet"),
                                 "--out", str(tmp_path / "alters.csv")])
    assert r.exit_code == 0, r.output
    got = pd.read_csv(tmp_path / "alters.csv").set_index("RINPERSOON")
    assert got.loc[1, "alters"] == 2 and got.loc[1, "criminal_alters"] == 1
    assert (got.layer == "family").all()
    bad = CliRunner().invoke(app, ["network", str(tmp_path / "crim.parquet"),
                                   "--out", str(tmp_path / "x.parquet")])
    assert bad.exit_code == 2 and "not a POPNET layer file" in bad.output
