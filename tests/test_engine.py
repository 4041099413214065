"""Engine helpers against an obvious reference, on every engine (`engine`): dates, materialize."""

import datetime as dt

import ibis
import numpy as np
import pandas as pd
import pytest

from crimcareer.engine import add_years, age_in_years, days_between


def _age(b: dt.date, a: dt.date) -> int:
    return a.year - b.year - ((a.month, a.day) < (b.month, b.day))


def _plus(d: dt.date, years: int) -> dt.date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February in a non-leap year: 1 March (as age_in_years)
        return dt.date(d.year + years, 3, 1)


def test_age_add_years_and_days_match_python_reference(engine):
    rng = np.random.default_rng(3)
    births = [dt.date(1930, 1, 1) + dt.timedelta(days=int(x)) for x in rng.integers(0, 30000, 400)]
    ats = [b + dt.timedelta(days=int(x)) for b, x in zip(births, rng.integers(0, 30000, 400))]
    births += [dt.date(2000, 2, 29), dt.date(2000, 2, 29), dt.date(1999, 12, 31)]
    ats += [dt.date(2018, 2, 28), dt.date(2020, 2, 29), dt.date(2000, 1, 1)]
    df = pd.DataFrame({"b": births, "a": ats})
    t = engine.from_pandas(df)
    got = engine.to_pandas(t.mutate(age=age_in_years(t.b, t.a), plus=add_years(t.b, 23),
                                 days=days_between(t.b, t.a)))
    assert got["age"].tolist() == [_age(b, a) for b, a in zip(births, ats)]
    assert [pd.Timestamp(x).date() for x in got["plus"]] == [_plus(b, 23) for b in births]
    assert got["days"].tolist() == [(a - b).days for b, a in zip(births, ats)]


def test_materialize_build_right_same_rows_and_optimizer_restored(engine):
    """``build_right`` changes only how DuckDB plans the joins: the same rows as the default,
    and the optimizer is whole again afterwards (also when the query fails)."""
    rng = np.random.default_rng(3)
    big = pd.DataFrame({"person_id": rng.integers(0, 500, 5_000).astype(str),
                        "alter_id": rng.integers(0, 500, 5_000).astype(str)})
    small = pd.DataFrame({"person_id": np.arange(0, 500, 7).astype(str)})
    alters = pd.DataFrame({"alter_id": np.arange(0, 500, 3).astype(str),
                           "first": np.arange(0, 500, 3)})
    b, s, a = engine.from_pandas(big), engine.from_pandas(small), engine.from_pandas(alters)
    expr = b.semi_join(s, b.person_id == s.person_id).join(a, "alter_id")

    def rows(t):
        return engine.to_pandas(t).sort_values(["person_id", "alter_id"]).reset_index(drop=True)

    plain, right = rows(engine.materialize(expr)), rows(engine.materialize(expr, build_right=True))
    pd.testing.assert_frame_equal(plain, right)
    ref = big[big.person_id.isin(small.person_id)].merge(alters, on="alter_id")
    assert len(right) == len(ref) > 0
    if engine.kind == "duckdb":
        setting = "SELECT current_setting('disabled_optimizers')"
        assert engine.con.con.execute(setting).fetchone()[0] == ""
        with pytest.raises(Exception):
            engine.materialize(b.join(s, b.person_id == s.person_id).mutate(
                x=ibis.literal("a").cast("int64")), build_right=True)
        assert engine.con.con.execute(setting).fetchone()[0] == ""
