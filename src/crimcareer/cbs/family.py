"""Family ties from KINDOUDERTAB (parents, children, siblings) and partner buses (partners).

KINDOUDERTAB lists every BRP child with the RIN of the legal mother and father; an unknown parent
is written as dashes (``---------``), and a few rows name the child as its own parent. A parent
is known only when its RINPERSOONS is a person kind (``R``) and its number is not dashes or
zeros; unknown parents and parent = child are set to null (and counted), so they never join.
Siblings come from two equi-joins on a *known* shared father or mother (a NULL never matches), so
the join grows with real sibships only:

- ``sibling``: same known father and same known mother;
- ``half_sibling``: one shared parent, the other parent known for both and different;
- ``other_family``: one shared parent, the other unknown for at least one of them (the register
  cannot tell full from half; POPNET's code 308 "unknown sibling").

Parent/child/sibling ties have no dates (since birth). Partners come from
GBAVERBINTENISPARTNERBUS-like buses with start and end (``88888888`` = not ended).
"""

from __future__ import annotations

import duckdb

from crimcareer.cbs import expr
from crimcareer.cbs.context import Conversion
from crimcareer.cbs.read import SourceError

FAMILY_COLS = ("person_id", "alter_id", "relation", "layer", "start_date", "end_date")


def kindouder(c: Conversion) -> str | None:
    """SQL of the parent/child/sibling edges, or None when no KINDOUDERTAB can be read."""
    ko = c.m.get("family", {}).get("kindouder")
    if not ko:
        return None
    try:
        chs = c.choices(ko)[-1:]
        src = c.open(chs, [*ko["child"], *ko["mother"], *ko["father"]], "relations")
    except (SourceError, FileNotFoundError, duckdb.Error) as e:
        c.unmappable("relations", ko["from"], str(e))
        return None
    kinds = tuple(ko.get("kinds", ["R"]))
    child = expr.key(src, *ko["child"], kinds)
    mo = expr.key(src, *ko["mother"], kinds)
    fa = expr.key(src, *ko["father"], kinds)
    checks = [("child", f"child row dropped: {r}", p) for r, p in child.lost]
    for label, k in (("mother", mo), ("father", fa)):
        checks += [(label, f"parent unknown: {r}", p) for r, p in k.lost]
        checks.append((label, "parent = child: parent set to unknown",
                       f"{k.value} = {child.value}"))
    c.count("relations", src, checks)
    c.con.execute(f"""
        CREATE OR REPLACE TEMP TABLE ko AS
        SELECT DISTINCT c,
               CASE WHEN mo <> c THEN mo END AS mo, CASE WHEN fa <> c THEN fa END AS fa
        FROM (SELECT {child.value} AS c, {mo.value} AS mo, {fa.value} AS fa FROM {src.view})
        WHERE c IS NOT NULL""")
    dup = c.con.execute("SELECT count(*) - count(DISTINCT c) FROM ko").fetchone()[0]
    if dup:
        c.log("relations", "child", chs[0].file.path.name,
              "child with more than one parent pair: all kept", dup)
    c.con.execute("""
        CREATE OR REPLACE TEMP TABLE sib AS
        SELECT a.c AS x, b.c AS y,
               CASE WHEN a.mo = b.mo THEN 'sibling'
                    WHEN a.mo IS NOT NULL AND b.mo IS NOT NULL THEN 'half_sibling'
                    ELSE 'other_family' END AS relation
        FROM ko a JOIN ko b ON a.fa = b.fa AND a.c <> b.c
        UNION ALL
        SELECT a.c, b.c,
               CASE WHEN a.fa IS NOT NULL AND b.fa IS NOT NULL THEN 'half_sibling'
                    ELSE 'other_family' END
        FROM ko a JOIN ko b ON a.mo = b.mo AND a.c <> b.c
        WHERE NOT coalesce(a.fa = b.fa, false)""")
    return """
        SELECT c AS person_id, p AS alter_id, 'parent' AS relation, 'family' AS layer,
               CAST(NULL AS DATE) AS start_date, CAST(NULL AS DATE) AS end_date
        FROM (SELECT c, mo AS p FROM ko WHERE mo IS NOT NULL
              UNION ALL SELECT c, fa FROM ko WHERE fa IS NOT NULL)
        UNION ALL
        SELECT p, c, 'child', 'family', NULL, NULL
        FROM (SELECT c, mo AS p FROM ko WHERE mo IS NOT NULL
              UNION ALL SELECT c, fa FROM ko WHERE fa IS NOT NULL)
        UNION ALL
        SELECT DISTINCT x, y, relation, 'family', NULL, NULL FROM sib"""


def partners(c: Conversion) -> str | None:
    """SQL of partner edges (both directions, distinct) from the partner blocks."""
    parts = []
    for block in c.m.get("family", {}).get("partners", []):
        try:
            chs = c.choices(block)
            if chs:
                wanted = [*block["person"], *block["partner"],
                          *expr.columns_of(block["start"]), *expr.columns_of(block["end"])]
                src = c.open(chs, wanted, "relations")
                kinds = tuple(block.get("kinds", ["R"]))
                a = expr.key(src, *block["person"], kinds)
                b = expr.key(src, *block["partner"], kinds)
                st = expr.build(src, block["start"], "date", kinds, "__year")
                en = expr.build(src, block["end"], "date", kinds, "__year")
                checks = [("person_id", f"row dropped: {r}", p) for r, p in a.lost]
                checks += [("alter_id", f"row dropped: partner {r}", p) for r, p in b.lost]
                checks.append(("alter_id", "row dropped: partner = person",
                               f"{a.value} = {b.value}"))
                checks += [("start_date", r, p) for r, p in st.lost]
                checks += [("end_date", r, p) for r, p in en.lost]
                c.count("relations", src, checks)
                parts.append(f"SELECT {a.value} AS a, {b.value} AS b, {st.value} AS s, "
                             f"{en.value} AS e FROM {src.view}")
        except (SourceError, FileNotFoundError, duckdb.Error) as e:
            c.unmappable("relations", block["from"], str(e))
    if not parts:
        return None
    c.con.execute(f"""CREATE OR REPLACE TEMP TABLE pa AS
        SELECT * FROM ({' UNION ALL '.join(parts)})
        WHERE a IS NOT NULL AND b IS NOT NULL AND a <> b""")
    return """
        SELECT DISTINCT person_id, alter_id, 'partner' AS relation, 'family' AS layer,
               s AS start_date, e AS end_date
        FROM (SELECT a AS person_id, b AS alter_id, s, e FROM pa
              UNION ALL SELECT b, a, s, e FROM pa)"""
