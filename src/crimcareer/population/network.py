"""Criminal alters per network layer for any population (issue 14).

For every ego and layer: the number of distinct alters and of distinct criminal alters, over
the ties that hold on a reference date. One Ibis expression, so the same code runs on DuckDB
(in-process, out-of-core) and on Spark; a billion ties never leave the engine. Keys may be
composite (POPNET's RINPERSOONS + RINPERSOON), so no key is ever concatenated per row.

The study's own network factor (:mod:`crimcareer.study.network`) asks a narrower question (any
criminal alter of a cohort ego before the ego's index date, ended ties included); this module
is the public, population-wide measure.
"""

from __future__ import annotations

import datetime as dt
from typing import Sequence

import ibis
import ibis.expr.types as ir


def alters_per_layer(ties: ir.Table, criminal: ir.Table | None = None,
                     egos: ir.Table | None = None, *, ego: Sequence[str] = ("person_id",),
                     alter: Sequence[str] = ("alter_id",), on: dt.date | None = None,
                     ever: bool = False) -> ir.Table:
    """Per ego and layer: ``alters`` (distinct) and ``criminal_alters`` (distinct alters that
    are criminal on ``on``).

    - ``ties``: ego key columns, alter key columns, ``layer``; optional ``start_date`` and
      ``end_date`` (null: open). With ``on``, a tie counts when it started on or before ``on``
      and (unless ``ever``: ended ties count too) had not ended before it.
    - ``criminal``: the ego key columns (naming the alter) and ``criminal`` (bool or 0/1) or
      ``first_offence`` (a date: criminal when before ``on``; without ``on``, ever). Persons
      absent from it are not criminal. None: ``criminal_alters`` is not computed.
    - ``egos``: the ego key columns; only these egos (default: every ego with a tie).

    Egos without a tie in a layer have no row for it. The output is person-level: it stays
    inside the secure environment (never export it; release aggregates through the gate).
    """
    ego, alter = list(ego), list(alter)
    t = ties
    if on is not None:
        day = ibis.literal(on)
        if "start_date" in t.columns:
            t = t.filter(t.start_date.isnull() | (t.start_date.cast("date") <= day))
        if "end_date" in t.columns and not ever:
            t = t.filter(t.end_date.isnull() | (t.end_date.cast("date") >= day))
    if egos is not None:
        e = egos.select(*ego).distinct()
        t = t.semi_join(e, [t[c] == e[c] for c in ego])
    # distinct (ego, alter, layer): a pair tied twice (partner and co-parent) counts once
    pairs = t.select(*ego, *alter, "layer").distinct()
    if criminal is None:
        return pairs.group_by([*ego, "layer"]).aggregate(alters=pairs.count())
    if "criminal" in criminal.columns:
        c = criminal.filter(criminal.criminal.cast("int8") == 1)
    elif "first_offence" in criminal.columns:
        c = criminal.filter(criminal.first_offence.notnull())
        if on is not None:
            c = c.filter(c.first_offence.cast("date") < ibis.literal(on))
    else:
        raise ValueError("criminal needs a 'criminal' (bool or 0/1) or a 'first_offence' "
                         f"(date) column; it has {list(criminal.columns)}")
    c = c.select(**{a: c[k] for a, k in zip(alter, ego)}).distinct()
    c = c.mutate(_crim=ibis.literal(1, "int64"))
    j = pairs.left_join(c, [pairs[a] == c[a] for a in alter])
    j = j.select(*[pairs[k] for k in ego], pairs.layer, crim=j._crim.fill_null(0))
    return j.group_by([*ego, "layer"]).aggregate(alters=j.count(),
                                                 criminal_alters=j.crim.sum().cast("int64"))


# -- reading the inputs of `crimcareer network` ----------------------------------------------------
POPNET_EGO = ["RINPERSOONS", "RINPERSOON"]
POPNET_ALTER = ["RINPERSOONSRELATIE", "RINPERSOONRELATIE"]


def _read(engine, path, what: str) -> ir.Table:
    """A parquet file, or a CSV (separator and encoding sniffed as the CBS adapter does)."""
    from pathlib import Path

    from crimcareer.cbs.read import sniff_csv
    from crimcareer.validation import ContractReadError

    path = Path(path)
    if not path.is_file():
        raise ContractReadError(f"{what} {path} does not exist (a .parquet or .csv file)")
    if path.suffix.lower() == ".parquet":
        return engine.read_parquet(path)
    if path.suffix.lower() == ".csv":
        dialect = sniff_csv(path)
        return engine.read_csv(path, dialect.delimiter, dialect.encoding)
    raise ContractReadError(f"{what} {path}: use a .parquet or .csv file")


def network_inputs(engine, ties: str, criminal: str | None = None, egos: str | None = None
                   ) -> dict:
    """The arguments of :func:`alters_per_layer` from files: ``ties`` a contract folder
    (relations.parquet; criminal: first offence of any registered case in cases.parquet) or one
    POPNET layer file (RINPERSOONS/RINPERSOON -> RINPERSOONSRELATIE/RINPERSOONRELATIE, RELATIE
    codes to layers as in the CBS adapter; a snapshot: no tie dates)."""
    from pathlib import Path

    from crimcareer.cbs.popnet import CODES
    from crimcareer.tablefiles import table_files
    from crimcareer.validation import ContractReadError

    src = Path(ties)
    if src.is_dir():
        files = table_files(src)
        if "relations" not in files:
            raise ContractReadError(f"{src} holds no relations table (relations.parquet)")
        t = _read(engine, files["relations"], "relations")
        ego, alter = ["person_id"], ["alter_id"]
        crim = None
        if criminal is None and "cases" in files:
            cases = _read(engine, files["cases"], "cases")
            crim = cases.group_by("person_id").aggregate(
                first_offence=cases.offence_date.cast("date").min())
    else:
        t = _read(engine, src, "POPNET file")
        missing = [c for c in [*POPNET_EGO, *POPNET_ALTER, "RELATIE"] if c not in t.columns]
        if missing:
            raise ContractReadError(f"{src}: not a POPNET layer file, columns {missing} absent "
                                    f"(it has {list(t.columns)[:8]})")
        code = t.RELATIE.cast("int64")
        # consecutive codes of one layer as one range: 5 comparisons a row, not 40
        runs: list[list] = []
        for k in sorted(CODES):
            lay = CODES[k][1]
            if runs and runs[-1][2] == lay and runs[-1][1] == k - 1:
                runs[-1][1] = k
            else:
                runs.append([k, k, lay])
        t = t.mutate(layer=ibis.cases(*[(code.between(lo, hi), lay) for lo, hi, lay in runs],
                                      else_=ibis.null("string")))
        t = t.filter(t.layer.notnull())
        ego, alter = POPNET_EGO, POPNET_ALTER
        crim = None
    if criminal is not None:
        crim = _read(engine, criminal, "--criminal file")
    ego_t = _read(engine, egos, "--egos file") if egos is not None else None
    for name, tab in (("--criminal file", crim), ("--egos file", ego_t)):
        if tab is not None and not set(ego) <= set(tab.columns):
            raise ContractReadError(f"{name} needs the key column(s) {ego}; it has "
                                    f"{list(tab.columns)[:8]}")
    if crim is not None and "crim" in crim.columns and "criminal" not in crim.columns:
        crim = crim.rename(criminal="crim")  # the peers' persons_crim files
    return {"ties": t, "criminal": crim, "egos": ego_t, "ego": ego, "alter": alter}
