"""Rows a section leaves out instead of releasing them blank (shared by the sections that pass
members to the gate)."""

from __future__ import annotations

import pandas as pd

from crimcareer.disclosure.gate import proportion_reasons


def drop_primary(df: pd.DataFrame, members: dict[str, list], rules) -> tuple[pd.DataFrame, dict[str, list]]:
    """Leave out the rows the gate would withhold by a primary rule (n, N or N-n of 1 to k-1
    persons, zeros under ACRO). Released blank, their reason ("numerator below 10") tells an
    attacker the count lies in 1..k-1; with the persons shared between rows (requested and
    delivered are nested, years and sexes partition the total) two such reasons can pin a few
    persons down, which no further withholding can undo (the gate then refuses the release).
    Left out, the persons they held are audited through the totals (members) like any other.
    ``members``: the gate's members= for df (per count column, one id collection per row)."""
    if df.empty:
        return df, members
    reasons, _, _ = proportion_reasons(df["n"], df["N"], rules,
                                      count_table=bool((df["n"] == df["N"]).all()))
    keep = (reasons == "").to_numpy()
    return (df[keep].reset_index(drop=True),
            {c: [v for v, ok in zip(vals, keep) if ok] for c, vals in members.items()})
