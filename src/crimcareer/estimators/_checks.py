"""Input checks shared by the estimators: missing columns are refused in plain words."""

from __future__ import annotations

from typing import Iterable

import pandas as pd


class EstimatorInputError(ValueError):
    """An estimator was given data it cannot use (a missing column, a wrong shape or value)."""


def require_columns(where: str, what: str, frame: pd.DataFrame, columns: Iterable[str | None]) -> None:
    """Refuse `frame` unless it holds every named column: the message names the missing ones
    and the columns it does have, e.g. "ExactMatcher.fit: treated lacks column(s) ['x']; it has
    ['id', 'sex']"."""
    if not isinstance(frame, pd.DataFrame):
        raise EstimatorInputError(f"{where}: {what} must be a pandas DataFrame, not {type(frame).__name__}")
    wanted = [c for c in dict.fromkeys(columns) if c is not None]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise EstimatorInputError(
            f"{where}: {what} lacks column(s) {missing}; it has {[str(c) for c in frame.columns]}")
