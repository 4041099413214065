"""Dates as int32 days since 1970-01-01 (vectorised numpy), with NA for missing."""

from __future__ import annotations

import datetime as dt

import numpy as np

NA = np.int32(np.iinfo(np.int32).min)  # a missing date
YEAR = 365.25
EPOCH = dt.date(1970, 1, 1)


def day(iso: str | dt.date) -> int:
    """Days since 1970-01-01 of an ISO date string or a date."""
    d = dt.date.fromisoformat(iso) if isinstance(iso, str) else iso
    return (d - EPOCH).days


def years(x: np.ndarray | float) -> np.ndarray:
    """A duration in years as whole days (float years x 365.25, rounded)."""
    return np.rint(np.asarray(x, dtype=np.float64) * YEAR).astype(np.int64)


def year_of(days: np.ndarray) -> np.ndarray:
    """Calendar year of day numbers (NA gives a meaningless value; mask it yourself)."""
    return np.asarray(days, dtype="int64").astype("datetime64[D]").astype("datetime64[Y]").astype(
        np.int64
    ) + 1970


def anniversary(birth: np.ndarray, age: int | np.ndarray) -> np.ndarray:
    """The exact date a person turns `age` (29 February -> 1 March in a common year, as
    crimcareer.engine.add_years and age_in_years), as day numbers."""
    b = np.asarray(birth, dtype="int64").astype("datetime64[D]")
    y = b.astype("datetime64[Y]").astype(np.int64) + 1970
    m = (b.astype("datetime64[M]").astype(np.int64) % 12) + 1
    d = (b - b.astype("datetime64[M]")).astype(np.int64) + 1
    ny = y + np.asarray(age, dtype=np.int64)
    leap = ((ny % 4 == 0) & (ny % 100 != 0)) | (ny % 400 == 0)
    moved = (m == 2) & (d == 29) & ~leap
    d = np.where(moved, 1, d)
    m = np.where(moved, 3, m)
    ym = ((ny - 1970) * 12 + (m - 1)).astype("datetime64[M]")
    return (ym.astype("datetime64[D]") + (d - 1)).astype(np.int64)


def age_at(birth: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Completed years at a date (from date parts, like crimcareer.engine.age_in_years)."""
    b = np.asarray(birth, dtype="int64").astype("datetime64[D]")
    a = np.asarray(at, dtype="int64").astype("datetime64[D]")
    by = b.astype("datetime64[Y]").astype(np.int64)
    ay = a.astype("datetime64[Y]").astype(np.int64)
    # compare (month, day) via month number and day of month
    bm = b.astype("datetime64[M]").astype(np.int64) % 12
    am = a.astype("datetime64[M]").astype(np.int64) % 12
    bd = (b - b.astype("datetime64[M]")).astype(np.int64)
    ad = (a - a.astype("datetime64[M]")).astype(np.int64)
    before = (am < bm) | ((am == bm) & (ad < bd))
    return ay - by - before.astype(np.int64)
