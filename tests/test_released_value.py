"""One way to read a number back from a released table (issue 12): released_value."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crimcareer.disclosure import released_value


def test_released_value_reads_the_first_matching_cell_and_none_when_withheld() -> None:
    t = pd.DataFrame({"variable": ["male", "male", "age"], "group": ["DSE", "CC", "DSE"],
                      "threshold": [0.01, np.nan, 0.05], "pct": [80.5, np.nan, 12.0],
                      "n": [400, 300, 7]})
    assert released_value(t, "pct", variable="male", group="DSE") == 80.5
    assert isinstance(released_value(t, "n", group="DSE"), float)  # first matching row
    assert released_value(t, "n", group="DSE") == 400.0
    assert released_value(t, "pct", variable="male", group="CC") is None  # withheld cell
    assert released_value(t, "pct", variable="male", group="NC") is None  # no such row
    assert released_value(t, "n", threshold=np.nan) == 300.0  # a missing key cell matches NaN
    assert released_value(t, "n", threshold=0.05) == 7.0
    assert released_value(t.iloc[0:0], "pct", group="DSE") is None
