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

import math
import shutil
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import duckdb
import pyarrow as pa

from crimcareer.cbs import expr, fixedwidth
from crimcareer.cbs.context import Conversion
from crimcareer.cbs.read import Source, SourceError, file_columns, lit, qid, resolve

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


#: The codes each CBS POPNET table holds [C: CBS table pages, netCBS codebook]. A table whose
#: codes are all skipped is not read at all (listed in the log's ``files_not_read``).
TABLE_CODES: dict[str, frozenset[int]] = {
    "FAMILIENETWERKTAB": frozenset(range(300, 323)),
    "HUISGENOTENNETWERKTAB": frozenset({400, 401, 402}),
    "BURENNETWERKTAB": frozenset({100, 101, 102}),
    "COLLEGANETWERKTAB": frozenset({200, 201}),
    "KLASGENOTENNETWERKTAB": frozenset(range(500, 507)),
}

#: The drop reason of a tie whose code another source gives (counted in two places).
CODE_SKIPPED = ("tie dropped: code skipped (read from KINDOUDERTAB, partner buses or household "
                "spells)")

#: Snapshot bytes per bucket of ego keys: each bucket is grouped on its own, so that one
#: aggregate's memory is about this many bytes of CSV (a national neighbours layer: 15 GB).
BUCKET_BYTES = 1 << 29

#: Widest span of snapshot years whose presence fits one HUGEINT bit mask per tie (bits 0-126).
MASK_YEARS = 127


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
    opened: list[tuple[int, Source, list]] = []
    for t, table in enumerate(pn.get("tables", [])):
        chs = discover_choices(c, table)
        if not chs:
            continue
        held = TABLE_CODES.get(str(table).upper())
        if held is not None and held - {100, 200, 300, 400, 500} <= skip:
            for ch in chs:
                c.not_read("relations", ch.file.path,
                           f"every code of {table} ({min(held)}-{max(held)}) is skipped")
            continue
        try:
            src = c.open(chs, [*pn["ego"], *pn["alter"], pn["code"]], "relations")
            _tie_columns(src, pn, c.kinds, skip)  # a mapped column missing: this table only
        except (SourceError, duckdb.Error) as e:
            c.unmappable("relations", table, str(e))
            continue
        opened.append((t, src, chs))
    if not opened:
        return None
    kept = [k for k in CODES if k not in skip]
    keep = f"a IS NOT NULL AND b IS NOT NULL AND a <> b AND code IN ({_ints(kept)})"
    years = [ch.year for _, _, chs in opened for ch in chs]
    try:
        if None in years or max(years) - min(years) >= MASK_YEARS or \
                not _snapshot_runs(c, opened, pn, skip, keep, min(years)):
            # the plain gaps-and-islands query over every row (also the tests' reference)
            parts = []
            for t, src, _ in opened:
                items, checks = _tie_columns(src, pn, c.kinds, skip)
                parts.append((src, [*items, "__year AS y", f"{t} AS tab"], checks))
            raw = c.materialize("relations", parts, keep=keep)
            c.con.execute(f"CREATE OR REPLACE TEMP TABLE pn_runs AS {runs_by_window(raw)}")
    except duckdb.Error as e:  # e.g. a malformed CSV row: the other sources still convert
        c.unmappable("relations", "POPNET", str(e))
        return None
    if not opened:  # every layer failed (each listed as unmappable)
        return None
    # a spell cannot begin before the ego's birth nor end after its death
    pq = c.out / "persons.parquet"
    persons = (f"read_parquet('{pq}')" if pq.exists() else
               "(SELECT NULL::VARCHAR AS person_id, NULL::DATE AS birth_date, "
               "NULL::DATE AS death_date)")
    join = "pe.person_id = sp.a"
    if c.con.execute("SELECT count(*) FROM information_schema.columns WHERE "
                     "table_name = 'pn_runs' AND column_name = 'ka'").fetchone()[0]:
        # the runs kept their compact ego key: the persons are joined on it (a BIGINT hash
        # join instead of one on 238M strings at national size)
        persons = f"(SELECT *, {_compact_id('person_id', c.kinds)} AS ka FROM {persons})"
        join = "pe.ka = sp.ka"
    return """
        WITH bounds AS (SELECT tab, min(y0) AS y_first, max(y1) AS y_last
                        FROM pn_runs GROUP BY tab)
        SELECT sp.a AS person_id, sp.b AS alter_id, k.relation, k.layer,
               CASE WHEN y0 > y_first THEN greatest({start}, pe.birth_date) END AS start_date,
               CASE WHEN y1 < y_last THEN least({end}, pe.death_date) END AS end_date
        FROM pn_runs sp JOIN bounds USING (tab)
        JOIN (VALUES {codes}) k(code, relation, layer) USING (code)
        LEFT JOIN {persons} pe ON {join}""".format(
        persons=persons, join=join, codes=codes_sql, **DATING[pn.get("dating", "midpoint")])


def _compact_id(col: str, kinds: tuple[str, ...]) -> str:
    """SQL: the compact key of a contract person id (kind, then RIN_WIDTH digits), else NULL."""
    w = expr.RIN_WIDTH
    whens = " ".join(
        f"WHEN length({col}) = {len(k) + w} AND starts_with({col}, {lit(k)}) AND "
        f"regexp_full_match(substr({col}, {len(k) + 1}), '[0-9]{{{w}}}') "
        f"THEN {i} * CAST({10 ** w} AS BIGINT) + CAST(substr({col}, {len(k) + 1}) AS BIGINT)"
        for i, k in enumerate(kinds, 1))
    return f"CASE {whens} END" if whens else "NULL::BIGINT"


def _ints(codes: Iterable[int]) -> str:
    return ", ".join(map(str, codes)) or "NULL"


def _tie_columns(src: Source, pn: dict, kinds: tuple[str, ...], skip: set[int]
                 ) -> tuple[list[str], list[tuple[str, str, str]]]:
    """SELECT items a (ego key), b (alter key), code over `src`, and the drop checks."""
    a = expr.key(src, *pn["ego"], kinds)
    b = expr.key(src, *pn["alter"], kinds)
    code = f"TRY_CAST({expr.text(src, pn['code'])} AS INTEGER)"
    checks = [("person_id", f"tie dropped: {r}", p) for r, p in a.lost]
    checks += [("alter_id", f"tie dropped: alter {r}", p) for r, p in b.lost]
    checks += [("alter_id", "tie dropped: alter = ego", f"{a.value} = {b.value}"),
               ("relation", CODE_SKIPPED, f"{code} IN ({_ints(skip)})"),
               ("relation", "tie dropped: unknown relation code (x00 or not listed)",
                f"{code} IS NULL OR {code} NOT IN ({_ints(CODES)})")]
    return [f"{a.value} AS a", f"{b.value} AS b", f"{code} AS code"], checks


def runs_by_window(raw: str) -> str:
    """Runs of consecutive snapshot years per tie (a, b, code, tab, y0, y1) from the rows of
    `raw` (a, b, code, y, tab): the plain gaps-and-islands query, also the tests' reference."""
    return f"""
        WITH d AS (SELECT DISTINCT a, b, code, y, tab FROM ({raw})),
        g AS (SELECT *, y - row_number() OVER (PARTITION BY a, b, code, tab ORDER BY y) AS grp
              FROM d)
        SELECT a, b, code, tab, min(y) AS y0, max(y) AS y1 FROM g GROUP BY a, b, code, tab, grp"""


def _snapshot_runs(c: Conversion, opened: list[tuple[int, Source, list]], pn: dict,
                   skip: set[int], keep: str, base: int) -> bool:
    """Temp view ``pn_runs`` (a, b, code, tab, y0, y1; ka, the compact ego key, when every tie
    has one) from the snapshot files, layer by layer.

    Each layer is read once into scratch parquet (``c.work``; fixed-width CSV files by numpy,
    :mod:`crimcareer.cbs.fixedwidth`, the others in one SQL scan): rows whose ego and alter
    are a person kind and a plain person number (RIN_WIDTH digits, not all zeros) and whose code
    is kept as compact keys (kind and number in one BIGINT), in buckets of the ego key; such rows
    with a skipped code only as their year (counted per file); the other rows with their text.
    Each bucket is grouped on its own: per tie its first and last year and a bit mask of the
    years seen. A layer that fails to read is listed as unmappable and removed from `opened`.
    The rows with their text are grouped on it; those that a cheap test cannot show to be kept
    keep their year in the group, so the drop reasons are counted exactly per file, with the
    keys and checks built once per group. A tie whose mask has no gap is one run; only ties with
    gaps are expanded to their years. Returns False (nothing logged) if a group the cheap test
    passed is dropped after all; the caller then takes the plain query.
    """
    raw = [*pn["ego"], *pn["alter"], pn["code"]]
    ek, en, ak, an, cd = (qid(w.upper()) for w in raw)
    kinds = ", ".join(lit(k) for k in c.kinds)
    kept_codes = [k for k in CODES if k not in skip]
    kept_text = ", ".join(lit(str(k)) for k in kept_codes) or "NULL"
    w, scale = expr.RIN_WIDTH, 10 ** expr.RIN_WIDTH
    years = [ch.year for _, _, chs in opened for ch in chs]
    mask_type = "BIGINT" if max(years) - base < 62 else "HUGEINT"
    bit = f"bit_or(CAST(1 AS {mask_type}) << CAST(y - {base} AS {mask_type}))"

    def plain(col: str) -> str:  # exactly RIN_WIDTH digits, not all zeros: the number gives it back
        # (RE2 is the cheapest exact test measured: 0.03 us a row, an lpad round trip 0.09 us)
        return f"(regexp_full_match({col}, '[0-9]{{{w}}}') AND {col} <> {lit('0' * w)})"

    kind_no = " ".join(f"WHEN {lit(k)} THEN {i}" for i, k in enumerate(c.kinds, 1))

    def compact(kind: str, num: str) -> str:
        return f"(CASE {kind} {kind_no} END) * CAST({scale} AS BIGINT) + CAST({num} AS BIGINT)"

    # the code as the full path reads it (TRY_CAST; a kept number is the same either way)
    code_no = f"TRY_CAST({cd} AS SMALLINT)"
    plain_pair = (f"{ek} IN ({kinds}) AND {ak} IN ({kinds}) "
                  f"AND {plain(en)} AND {plain(an)} AND ({ek} <> {ak} OR {en} <> {an})")
    # a plain pair with a skipped code (most of the family layer) has one drop reason: counted
    # per year without its text
    skipped_codes = sorted(skip & set(CODES))
    # a number above nine zeros that does not start with them has a digit above 0 before its
    # tenth character, so it is not made of dashes and zeros (cheaper than ltrim per row)
    zeros = lit("0" * w)
    surely_kept = (f"{ek} IN ({kinds}) AND {ak} IN ({kinds}) AND {cd} IN ({kept_text}) "
                   f"AND {en} <> {an} AND {en} > {zeros} AND NOT starts_with({en}, {zeros}) "
                   f"AND {an} > {zeros} AND NOT starts_with({an}, {zeros})")
    cols = ", ".join(qid(x.upper()) for x in raw)
    # Pass 1, one scan per layer: plain kept rows as compact (a, b, code, y), split into buckets
    # of the ego key, so that each bucket's aggregate fits in memory (one aggregate over a
    # national layer spilled tens of GB); the other rows keep their text, in bucket -1.
    scratch = c.work / "popnet"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    buckets: dict[int, int] = {}
    for t, src, chs in list(opened):
        table = str(c.m["popnet"]["tables"][t])
        size = sum(ch.file.path.stat().st_size for ch in chs)
        n = buckets[t] = max(1, math.ceil(size / BUCKET_BYTES))
        # the text of the other rows as one list column (null in plain rows: cheaper to write)
        raw_cols = f"CASE WHEN NOT (__k OR __s) THEN [{cols}] END AS __raw"
        try:
            # fixed-width CSV files by numpy (the same split), the others by SQL
            rest = _fixed_width_pass(c, chs, raw, set(kept_codes), set(skipped_codes), n,
                                     scratch / f"t{t}")
            if rest:  # the files that are not fixed-width: one SQL scan
                view = src.view if len(rest) == len(chs) else c.open(rest, raw, "relations").view
                (scratch / f"t{t}").mkdir(exist_ok=True)  # DuckDB makes only the last folder
                c.con.execute(f"""
                    COPY (SELECT CASE WHEN __k THEN {compact(ek, en)} END AS a,
                                 CASE WHEN __k THEN {compact(ak, an)} END AS b,
                                 CASE WHEN __k THEN __code END AS code,
                                 CAST(__year AS SMALLINT) AS y, {raw_cols},
                                 CASE WHEN __k THEN a % {n} WHEN __s THEN -2 ELSE -1 END AS bucket
                          FROM (SELECT *, coalesce(__p AND __code IN ({_ints(kept_codes)}), false)
                                          AS __k,
                                       coalesce(__p AND __code IN ({_ints(skipped_codes)}), false)
                                          AS __s
                                FROM (SELECT *, {plain_pair} AS __p, {code_no} AS __code
                                      FROM {view})))
                    TO {lit(scratch / f"t{t}" / "sql")} (FORMAT parquet, PARTITION_BY (bucket))""")
        except (duckdb.Error, SourceError) as e:  # e.g. a malformed CSV row: this layer only
            c.unmappable("relations", table, str(e))
            opened.remove((t, src, chs))
            shutil.rmtree(scratch / f"t{t}", ignore_errors=True)
        else:
            c.done(f"relations: POPNET {table} read ({len(chs)} "
                   f"file{'' if len(chs) == 1 else 's'}, {len(chs) - len(rest)} fixed-width)")
    if not opened:
        return True
    # Pass 2, per bucket: per tie its first and last year and the bit mask of the years seen
    agg = scratch / "agg"
    agg.mkdir()
    for t, _, _ in opened:
        for k in range(buckets[t]):
            part = scratch / f"t{t}" / "**" / f"bucket={k}" / "*.parquet"
            if _any(part):
                c.con.execute(f"""
                    COPY (SELECT a, b, CAST(code AS INTEGER) AS code, {t} AS tab,
                                 CAST(min(y) AS INTEGER) AS y0, CAST(max(y) AS INTEGER) AS y1,
                                 {bit} AS mask
                          FROM read_parquet({lit(part)}) GROUP BY a, b, code)
                    TO {lit(agg / f"t{t}_{k}.parquet")} (FORMAT parquet)""")
    if any(agg.iterdir()):
        c.con.execute(f"CREATE OR REPLACE TEMP VIEW pn_a AS SELECT * "
                      f"FROM read_parquet({lit(agg / '*.parquet')})")
    else:
        c.con.execute(f"CREATE OR REPLACE TEMP VIEW pn_a AS SELECT 0::BIGINT AS a, 0::BIGINT AS b, "
                      f"0 AS code, 0 AS tab, 0 AS y0, 0 AS y1, CAST(0 AS {mask_type}) AS mask "
                      f"LIMIT 0")
    c.con.execute(f"CREATE OR REPLACE TEMP TABLE pn_g AS SELECT 0 AS tab, {cols}, 0 AS yk, "
                  f"0::BIGINT AS n, 0 AS y0, 0 AS y1, CAST(0 AS {mask_type}) AS mask "
                  f"FROM {opened[0][1].view} LIMIT 0")
    unpacked = ", ".join(f"__raw[{i}] AS {qid(x.upper())}" for i, x in enumerate(raw, 1))
    for t, src, _ in opened:
        part = scratch / f"t{t}" / "**" / "bucket=-1" / "*.parquet"
        if not _any(part):
            continue
        c.con.execute(f"""
            INSERT INTO pn_g
            SELECT {t} AS tab, {cols},
                   CASE WHEN coalesce({surely_kept}, false) THEN NULL ELSE y END AS yk,
                   count(*) AS n, min(y) AS y0, max(y) AS y1, {bit} AS mask
            FROM (SELECT {unpacked}, CAST(y AS INTEGER) AS y
                  FROM read_parquet({lit(part)}))
            GROUP BY ALL""")
    # the keys, checks and code built on the raw groups (each part with its own column types)
    per_part = [(t, *_tie_columns(replace(src, view="pn_g"), pn, c.kinds, skip))
                for t, src, _ in opened]
    keys = list(dict.fromkeys((col, r) for _, _, checks in per_part for col, r, _ in checks))
    built = []
    for t, items, checks in per_part:
        preds = {(col, r): p for col, r, p in checks}
        flags = [f"coalesce({preds[k]}, false) AS __c{j}" if k in preds else f"false AS __c{j}"
                 for j, k in enumerate(keys)]
        built.append(f"SELECT {', '.join(items + flags)}, tab, yk, n, y0, y1, mask "
                     f"FROM pn_g WHERE tab = {t}")
    # stored, so that each key is built once per group (a view repeats them in every predicate)
    c.con.execute(f"""
        CREATE OR REPLACE TEMP TABLE pn_b AS
        SELECT *, coalesce({keep}, false) AS __keep FROM ({" UNION ALL ".join(built)})""")
    c.con.execute("DROP TABLE pn_g")
    sums = ", ".join(f"sum(n) FILTER (WHERE __c{j})" for j in range(len(keys)))
    counted = c.con.execute(f"""
        SELECT tab, yk, count(*) FILTER (WHERE yk IS NULL AND NOT __keep),
               count(*) FILTER (WHERE __keep), {sums}
        FROM pn_b GROUP BY tab, yk""").fetchall()
    # the plain rows with a skipped code, counted per file under that reason
    at = 4 + keys.index(("relation", CODE_SKIPPED))
    rows = {(r[0], r[1]): list(r) for r in counted}
    for t, _, _ in opened:
        part = scratch / f"t{t}" / "**" / "bucket=-2" / "*.parquet"
        if _any(part):
            for y, n in c.con.execute(f"SELECT CAST(y AS INTEGER), count(*) FROM "
                                      f"read_parquet({lit(part)}) GROUP BY y"
                                      ).fetchall():
                row = rows.setdefault((t, y), [t, y, 0, 0] + [0] * len(keys))
                row[at] = (row[at] or 0) + n
    counted = list(rows.values())
    if any(row[2] for row in counted):
        c.con.execute("DROP TABLE pn_b")
        c.con.execute("DROP VIEW pn_a")
        shutil.rmtree(scratch, ignore_errors=True)
        return False
    names = {(t, ch.year): ch.file.path.name for t, _, chs in opened for ch in chs}
    for row in sorted((r for r in counted if r[1] is not None), key=lambda r: names[(r[0], r[1])]):
        for (col, reason), n in zip(keys, row[4:]):
            c.log("relations", col, names[(row[0], row[1])], reason, int(n or 0))
    decode = {x: f"list_extract([{kinds}], CAST({x} // {scale} AS INTEGER)) || "
                 f"lpad(CAST({x} % {scale} AS VARCHAR), {w}, '0')" for x in ("a", "b")}
    if any(row[3] for row in counted):  # kept ties outside the plain form: merged on the keys
        c.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE pn_t AS
            SELECT a, b, code, tab, min(y0) AS y0, max(y1) AS y1, bit_or(mask) AS mask
            FROM (SELECT {decode['a']} AS a, {decode['b']} AS b, code, tab, y0, y1, mask
                  FROM pn_a
                  UNION ALL SELECT a, b, code, tab, y0, y1, mask FROM pn_b WHERE __keep)
            GROUP BY a, b, code, tab""")
    else:  # every tie in plain form: runs on the compact keys, decoded when read
        c.con.execute("CREATE OR REPLACE TEMP VIEW pn_t AS SELECT * FROM pn_a")
    c.con.execute("DROP TABLE pn_b")
    c.con.execute(f"""
        CREATE OR REPLACE TEMP TABLE pn_runs_k AS
        SELECT a, b, code, tab, y0, y1 FROM pn_t WHERE bit_count(mask) = y1 - y0 + 1
        UNION ALL
        ({runs_by_window(f'''
            SELECT a, b, code, tab, y FROM pn_t, range(y0, y1 + 1) r(y)
            WHERE bit_count(mask) <> y1 - y0 + 1
              AND (mask >> CAST(y - {base} AS {mask_type})) & 1 = 1''')})""")
    compact_keys = c.con.execute("SELECT data_type FROM information_schema.columns WHERE "
                                 "table_name = 'pn_runs_k' AND column_name = 'a'").fetchone()[0]
    a, b = ((decode["a"], decode["b"]) if compact_keys == "BIGINT" else ("a", "b"))
    ka = ", a AS ka" if compact_keys == "BIGINT" else ""  # the compact ego key, when there is one
    c.con.execute(f"CREATE OR REPLACE TEMP VIEW pn_runs AS SELECT {a} AS a, {b} AS b, code, tab, "
                  f"y0, y1{ka} FROM pn_runs_k")
    c.con.execute("DROP VIEW pn_a")
    c.con.execute(f"DROP {'TABLE' if any(row[3] for row in counted) else 'VIEW'} pn_t")
    shutil.rmtree(scratch, ignore_errors=True)
    c.done("relations: POPNET snapshots grouped into spells")
    return True


def _any(pattern: Path) -> bool:
    """Whether a file matches `pattern` (globs in its parts)."""
    return next(Path(pattern.anchor).glob(str(pattern.relative_to(pattern.anchor))), None) \
        is not None


def _fixed_width_pass(c: Conversion, chs: list, raw: list[str], kept: set[int],
                      skipped: set[int], n: int, out: Path) -> list:
    """Pass 1 of the layer's fixed-width CSV files (:mod:`fixedwidth`), written under `out` as
    the SQL pass writes it, in batches of rows (memory does not grow with a file); returns the
    files left for the SQL pass. The next batch is split in a thread (numpy releases the GIL)
    while DuckDB writes the last one."""

    def layout(ch) -> tuple | None:
        try:
            if ch.file.format != ".csv" or ch.year is None:
                return None
            d = c.csv_dialect(ch.file)
            names = file_columns(ch.file, d)
            pos = [names.index(r) if (r := resolve(names, x)) else -1 for x in raw]
            lay = (None if -1 in pos else
                   fixedwidth.layout(ch.file.path, d.delimiter, d.encoding, pos, expr.RIN_WIDTH))
            return (lay, d) if lay else None
        except Exception:  # noqa: BLE001 - the SQL pass reads the file and says what is wrong
            return None

    def split() -> Iterator[tuple[int, fixedwidth.Rows | None]]:
        """(file number, a batch of its rows), or (file number, None): left to SQL."""
        for i, ch in enumerate(chs):
            found = layout(ch)
            if found is None:
                yield i, None
                continue
            lay, d = found
            try:
                for rows in fixedwidth.batches(ch.file.path, lay, c.kinds, kept, skipped,
                                               d.delimiter, d.encoding):
                    yield i, rows
            except (fixedwidth.LeavesLayout, OSError):
                yield i, None

    left: set[int] = set()
    out.mkdir(parents=True, exist_ok=True)
    parts = split()
    with ThreadPoolExecutor(1) as ahead:
        nxt = ahead.submit(next, parts, None)
        j = 0
        while (got := nxt.result()) is not None:
            nxt = ahead.submit(next, parts, None)
            i, rows = got
            if rows is None:  # not fixed-width after all: what was written of it goes
                left.add(i)
                shutil.rmtree(out / f"f{i}", ignore_errors=True)
                continue
            j += 1
            (out / f"f{i}").mkdir(exist_ok=True)  # DuckDB makes only the last folder
            y = f"CAST({int(chs[i].year)} AS SMALLINT)"
            c.con.register("fw_kept", rows.kept())
            c.con.register("fw_text", pa.table({"__raw": pa.array(rows.text,
                                                                  pa.list_(pa.string()))}))
            skipped_n = rows.skipped
            del rows
            try:
                c.con.execute(f"""
                    COPY (SELECT a, b, code, {y} AS y, NULL::VARCHAR[] AS __raw,
                                 a % {n} AS bucket FROM fw_kept
                          UNION ALL SELECT NULL, NULL, NULL, {y}, NULL, -2 FROM range({skipped_n})
                          UNION ALL SELECT NULL, NULL, NULL, {y}, __raw, -1 FROM fw_text)
                    TO {lit(out / f"f{i}" / f"b{j}")}
                    (FORMAT parquet, PARTITION_BY (bucket), PARQUET_VERSION v2)""")
            finally:
                c.con.unregister("fw_kept")
                c.con.unregister("fw_text")
    return [ch for i, ch in enumerate(chs) if i in left]


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
