"""Reading one number back from a released table (for results.json and section prose).

Every number a section quotes or puts in results.json is read back from the gate's released
table, so a withheld cell (NaN) reads as None and can never leak into text or headline figures.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def released_value(table: pd.DataFrame, column: str, **where: object) -> float | None:
    """The value of ``column`` in the first row of a released table where every ``where`` column
    equals its value (a NaN/None value matches a missing cell); None when no row matches or the
    cell is withheld (NaN)."""
    mask = np.ones(len(table), dtype=bool)
    for key, value in where.items():
        if value is None or (isinstance(value, float) and np.isnan(value)):
            mask &= table[key].isna().to_numpy()
        else:
            mask &= (table[key] == value).to_numpy()
    if not mask.any():
        return None
    v = table.loc[mask, column].iloc[0]
    return None if pd.isna(v) else float(v)
