"""POPNET person-network layers: yearly 1-January snapshots -> dated spells per layer.

Each ``<LAYER><YYYY>TABV<n>`` file lists the directed ties (RINPERSOON -> RINPERSOONRELATIE,
code RELATIE) on 1 January YYYY [G: snapshot day]. A tie present in consecutive snapshots is one
spell. Its start lies between the snapshot before and its first one: with ``dating = "midpoint"``
(default) it is set to the middle of that year (1 July), which leaves counts "ties begun before a
date" unbiased on average; with ``dating = "snapshot"`` to 1 January of the first snapshot (never
too early, on average half a year too late). A tie in the layer's first snapshot has a null
start (began before the register); one in its last snapshot a null end (still running); the end
of other spells is set the same way (1 July, or 31 December of the last year seen). A gap of a
year starts a new spell. Codes x00 (unknown
relation), codes outside the CBS list and codes skipped in the mapping are dropped and counted.

The household layer is taken from the household spells (GBAHUISHOUDENSBUS, dated to the day)
when they were converted (``household_layer = "households"``, default): persons in the same
household at the same time are housemates for the overlap of their spells. POPNET's housemates
(401/402) are then skipped, as a yearly snapshot misses every shorter stay.
"""

from __future__ import annotations

import duckdb

from crimcareer.cbs import expr
from crimcareer.cbs.context import Conversion
from crimcareer.cbs.read import SourceError

#: RELATIE code -> (contract relation, contract layer); netCBS codebook, life-sequencing docs.
CODES: dict[int, tuple[str, str]] = {
    101: ("neighbour", "neighbours"), 102: ("neighbour", "neighbours"),
    201: ("colleague", "work"),
    301: ("parent", "family"), 302: ("other_family", "family"), 303: ("grandparent", "family"),
    304: ("child", "family"), 305: ("grandchild", "family"), 306: ("sibling", "family"),
    307: ("half_sibling", "family"),
    **{k: ("other_family", "family") for k in (308, 309, 310, 311)},
    312: ("partner", "family"), 313: ("partner", "family"),
    **{k: ("other_family", "family") for k in range(314, 323)},
    401: ("household", "household"), 402: ("household", "household"),
    **{k: ("classmate", "school") for k in range(501, 507)},
}


#: How a spell's dates are set from the snapshots around them (mapping: [popnet] dating).
DATING = {
    # the tie began between the previous snapshot and its first one: the middle of that year
    "midpoint": {"start": "make_date(y0 - 1, 7, 1)", "end": "make_date(y1, 7, 1)"},
    # the tie is dated by the snapshots that show it (never before it is seen)
    "snapshot": {"start": "make_date(y0, 1, 1)", "end": "make_date(y1, 12, 31)"},
}


def spells(c: Conversion) -> str | None:
    """SQL of dated network edges from every POPNET table found, or None."""
    pn = c.m.get("popnet")
    if not pn:
        return None
    skip = {int(x) for x in pn.get("skip_codes", [])}
    if pn.get("household_layer", "households") == "households" and \
            (c.out / "households.parquet").exists():
        skip |= {401, 402}  # the household layer comes from the dated household spells
    codes_sql = ", ".join(f"({k}, '{r}', '{lay}')" for k, (r, lay) in CODES.items()
                          if k not in skip)
    parts = []
    for t, table in enumerate(pn.get("tables", [])):
        chs = discover_choices(c, table)
        if not chs:
            continue
        try:
            src = c.open(chs, [*pn["ego"], *pn["alter"], pn["code"]], "relations")
            a = expr.key(src, *pn["ego"], c.kinds)
            b = expr.key(src, *pn["alter"], c.kinds)
            code = f"TRY_CAST({expr.text(src, pn['code'])} AS INTEGER)"
        except (SourceError, duckdb.Error) as e:
            c.unmappable("relations", table, str(e))
            continue
        known = ", ".join(str(k) for k in CODES)
        checks = [("person_id", f"tie dropped: {r}", p) for r, p in a.lost]
        checks += [("alter_id", f"tie dropped: alter {r}", p) for r, p in b.lost]
        checks += [("alter_id", "tie dropped: alter = ego", f"{a.value} = {b.value}"),
                   ("relation", "tie dropped: code skipped (read from KINDOUDERTAB, "
                                "partner buses or household spells)",
                    f"{code} IN ({', '.join(map(str, skip)) or 'NULL'})"),
                   ("relation", "tie dropped: unknown relation code (x00 or not listed)",
                    f"{code} IS NULL OR {code} NOT IN ({known})")]
        parts.append((src, [f"{a.value} AS a", f"{b.value} AS b", f"{code} AS code",
                            "__year AS y", f"{t} AS tab"], checks))
    if not parts:
        return None
    try:
        kept = ", ".join(str(k) for k in CODES if k not in skip) or "NULL"
        raw = c.materialize("relations", parts,
                            keep=f"a IS NOT NULL AND b IS NOT NULL AND a <> b AND code IN ({kept})")
    except duckdb.Error as e:  # e.g. a malformed CSV row: the other sources still convert
        c.unmappable("relations", "POPNET", str(e))
        return None
    c.con.execute(f"""
        CREATE OR REPLACE TEMP TABLE pn AS
        SELECT DISTINCT p.a, p.b, p.code, p.y, p.tab, k.relation, k.layer
        FROM ({raw}) p
        JOIN (VALUES {codes_sql}) k(code, relation, layer) USING (code)
        WHERE p.a IS NOT NULL AND p.b IS NOT NULL AND p.a <> p.b""")
    # a spell cannot begin before the ego's birth nor end after its death
    pq = c.out / "persons.parquet"
    persons = (f"read_parquet('{pq}')" if pq.exists() else
               "(SELECT NULL::VARCHAR AS person_id, NULL::DATE AS birth_date, "
               "NULL::DATE AS death_date)")
    return """
        WITH bounds AS (SELECT tab, min(y) AS y_first, max(y) AS y_last FROM pn GROUP BY tab),
        runs AS (SELECT a, b, code, relation, layer, tab, y,
                        y - row_number() OVER (PARTITION BY a, b, code ORDER BY y) AS grp
                 FROM pn),
        sp AS (SELECT a, b, relation, layer, tab, min(y) AS y0, max(y) AS y1
               FROM runs GROUP BY a, b, code, relation, layer, tab, grp)
        SELECT sp.a AS person_id, sp.b AS alter_id, sp.relation, sp.layer,
               CASE WHEN y0 > y_first THEN greatest({start}, pe.birth_date) END AS start_date,
               CASE WHEN y1 < y_last THEN least({end}, pe.death_date) END AS end_date
        FROM sp JOIN bounds USING (tab)
        LEFT JOIN {persons} pe ON pe.person_id = sp.a""".format(
        persons=persons, **DATING[pn.get("dating", "midpoint")])


def discover_choices(c: Conversion, table: str) -> list:
    """Every year's chosen file of one POPNET table (empty when the table is absent)."""
    try:
        return c.choices({"from": table, "years": "all"})
    except SourceError:
        return []


def household_ties(c: Conversion) -> str | None:
    """Housemate edges from the converted households table: overlapping spells, same household."""
    pn = c.m.get("popnet") or {}
    hh = c.out / "households.parquet"
    if pn.get("household_layer", "households") != "households" or not hh.exists():
        return None
    far = "DATE '9999-12-31'"
    return f"""
        SELECT a.person_id, b.person_id AS alter_id, 'household' AS relation,
               'household' AS layer, greatest(a.start_date, b.start_date) AS start_date,
               nullif(least(coalesce(a.end_date, {far}), coalesce(b.end_date, {far})),
                      {far}) AS end_date
        FROM read_parquet('{hh}') a JOIN read_parquet('{hh}') b
          ON a.household_id = b.household_id AND a.person_id <> b.person_id
        WHERE greatest(a.start_date, b.start_date)
              < least(coalesce(a.end_date, {far}), coalesce(b.end_date, {far}))"""
