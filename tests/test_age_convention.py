"""One age convention everywhere: a 29 February birthday is reached on 1 March in a common year
(as Dutch law counts it), in age_in_years, add_years, the synthetic anniversary and the pandas
reference."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from crimcareer.engine import add_years, age_in_years
from crimcareer.synth.dates import anniversary, day
from crimcareer.synth.reference import _add_years


def test_29_february_birthday_is_reached_on_1_march_everywhere(engine) -> None:
    birth = dt.date(2000, 2, 29)
    at = [dt.date(2023, 2, 28), dt.date(2023, 3, 1), dt.date(2024, 2, 28), dt.date(2024, 2, 29)]
    df = pd.DataFrame({"b": [birth] * 4, "a": at})
    t = engine.from_pandas(df)
    got = engine.to_pandas(t.mutate(age=age_in_years(t.b, t.a), at23=add_years(t.b, 23),
                                 at24=add_years(t.b, 24)))
    assert got["age"].tolist() == [22, 23, 23, 24]
    assert pd.Timestamp(got["at23"][0]).date() == dt.date(2023, 3, 1)
    assert pd.Timestamp(got["at24"][0]).date() == dt.date(2024, 2, 29)
    # the person is 23 exactly from add_years(birth, 23) on: the two helpers agree
    for a, age in zip(at, got["age"]):
        assert (a >= dt.date(2023, 3, 1)) == (age >= 23)
    assert anniversary(np.array([day("2000-02-29")]), 23)[0] == day("2023-03-01")
    ref = _add_years(pd.Series(pd.to_datetime(["2000-02-29", "2000-02-29"])), 23)
    assert [d.date() for d in ref] == [dt.date(2023, 3, 1)] * 2
