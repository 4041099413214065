"""The synthetic population as a CBS Remote Access project tree (``crimcareer synth --cbs``).

Reads the contract tables of ``registers/`` in DuckDB and writes them in CBS's own forms: theme
folders, ``<STEM><YYYY><TAB|BUS>V<n>`` names, string codes with dash missing values, SPSS .sav
with value labels, ``;``-separated CSV, a Stata .dta copy, a table with two versions, a
provisional VRL file with VRL-prefixed columns, POPNET yearly snapshots and the justice tables in
the twin's own documented form (docs/cbs.md lists every convention and which ones are guesses).
The project mapping for the justice tables is written next to them
(``crimcareer-mapping.toml``), as a researcher would keep one.
"""

from __future__ import annotations

import shutil
import sys
import time
from importlib import resources
from pathlib import Path

import duckdb

from crimcareer.cbs.mapping import PROJECT_MAPPING

SAV_MAX_ROWS = 2_000_000  # larger tables: parquet copies in "geconverteerde data" (memory)
POPNET_FIRST_YEAR: int | None = None  # None: from the first tie (real POPNET: 2009 on)
POPNET_LAYERS = {"household": "HUISGENOTENNETWERK", "neighbours": "BURENNETWERK",
                 "work": "COLLEGANETWERK", "school": "KLASGENOTENNETWERK"}
LEVEL_CODES = {"primary": "1112", "vmbo": "1212", "mbo1": "1213", "mbo2": "2111", "mbo3": "2112",
               "mbo4": "2121", "havo": "2131", "vwo": "2132", "hbo": "3112", "wo": "3113"}
CATEGORY_CODES = {"trafficking_sexual": "01", "trafficking_labour": "02", "sexual": "03",
                  "violence": "04", "property": "05", "drugs": "06", "public_order": "07",
                  "traffic": "08", "weapons": "09", "fraud": "10", "other": "11"}
OUTCOME_CODES = {"pending": "00", "conviction": "01", "dismissal_policy": "02",
                 "dismissal_technical": "03", "acquittal": "04"}
ADVICE_WORDS = {"supervision": "toezicht", "treatment": "behandeling",
                "no_intervention": "geen interventie geïndiceerd", "other": "overig"}
#: Country codes (BRP Tabel 34 for the five origins; the others illustrative) and LANDTYPE.
ORIGIN_COUNTRIES = {"NL": ["6030"], "MA": ["5022"], "TR": ["6043"], "SR": ["5007"],
                    "AN": ["5095", "5106", "5107", "5108", "5109", "5110", "7011"],
                    "other_western": ["5010", "6029", "5039", "6002"],
                    "other_non_western": ["6024", "5049", "7024", "5001"]}


def _case(expr: str, mapping: dict[str, str], other: str = "'-'") -> str:
    whens = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in mapping.items())
    return f"CASE {expr} {whens} ELSE {other} END"


def _ymd(col: str, missing: str = "'--------'") -> str:
    return f"coalesce(strftime({col}, '%Y%m%d'), {missing})"


class _Twin:
    def __init__(self, reg: Path, out: Path, sav_max_rows: int, progress: bool) -> None:
        self.reg, self.out, self.max, self.progress = reg, out, sav_max_rows, progress
        self.con = duckdb.connect()
        self.con.execute("SET enable_progress_bar=false")
        self.con.execute("SET memory_limit='4GB'")  # POPNET years spill instead of filling RAM
        self.con.execute(f"SET temp_directory='{out / '.spill'}'")
        self.t0 = time.time()
        for t in ("persons", "relations", "cases", "education", "households", "youth_care",
                  "detentions", "probation_advice"):
            self.con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{reg / t}.parquet')")

    def say(self, what: str) -> None:
        if self.progress:
            print(f"synth --cbs: {what} ({time.time() - self.t0:.1f}s)", file=sys.stderr)

    def sav(self, rel: str, sql: str, labels: dict | None = None) -> Path:
        """Write `sql` as SPSS .sav at `rel` (or, above the row limit, a parquet copy)."""
        path = self.out / f"{rel}.sav"
        path.parent.mkdir(parents=True, exist_ok=True)
        n = self.con.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0]
        if n > self.max:
            pq = path.parent / "geconverteerde data" / f"{path.stem}.parquet"
            pq.parent.mkdir(exist_ok=True)
            self.con.execute(f"COPY ({sql}) TO '{pq}' (FORMAT parquet)")
            return pq
        import pyreadstat

        df = self.con.execute(sql).df()
        pyreadstat.write_sav(df, str(path), variable_value_labels=labels or {})
        return path

    def csv(self, rel: str, sql: str) -> None:
        path = self.out / f"{rel}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.con.execute(f"COPY ({sql}) TO '{path}' (HEADER, DELIMITER ';')")


def write_cbs_twin(registers: str | Path, out: str | Path, sav_max_rows: int = SAV_MAX_ROWS,
                   popnet_first_year: int | None = POPNET_FIRST_YEAR,
                   progress: bool = False) -> Path:
    """Write the CBS-shaped copy of the contract folder `registers` to `out`."""
    reg, out = Path(registers), Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    tw = _Twin(reg, out, sav_max_rows, progress)
    con = tw.con
    import json

    cutoff = json.loads((reg / "meta.json").read_text())["cutoff"]
    year = int(cutoff[:4])
    # Persons not in the BRP: first-generation suspects without any tie; RINPERSOONS N (in the
    # BRP without an A-number): every tenth baby of the last year. Their KINDOUDERTAB rows are not
    # child rows for the adapter (only R), so their parent and sibling ties are not read back.
    con.execute("""CREATE TABLE nietgba AS SELECT person_id FROM persons
        WHERE migration_background = 'first_generation'
          AND person_id IN (SELECT person_id FROM cases)
          AND person_id NOT IN (SELECT person_id FROM relations)""")
    con.execute(f"""CREATE TABLE nset AS SELECT person_id FROM persons
        WHERE year(birth_date) = {year} AND CAST(person_id AS BIGINT) % 10 = 0""")
    con.execute("CREATE MACRO rs(pid) AS CASE WHEN pid IN (SELECT person_id FROM nset) "
                "THEN 'N' ELSE 'R' END")
    # RIN = synthetic number + 1: a RIN of only zeros means "unknown" in CBS files
    con.execute("CREATE MACRO rin(pid) AS lpad(CAST(CAST(pid AS BIGINT) + 1 AS VARCHAR), 9, '0')")
    key = "rs(person_id) AS RINPERSOONS, rin(person_id) AS RINPERSOON"
    _persons(tw, key, year)
    tw.say("persons")
    _deaths_migration(tw, key, year)
    _family(tw, key, year)
    tw.say("family")
    _households(tw, key, year)
    _education_youth(tw, key)
    _justice(tw, key, year)
    tw.say("households, education, youth care, justice")
    _popnet(tw, year, popnet_first_year)
    tw.say("POPNET")
    src = resources.files("crimcareer.cbs").joinpath("twin_mapping.toml")
    (out / PROJECT_MAPPING).write_text(src.read_text("utf-8"), "utf-8")
    con.close()
    shutil.rmtree(out / ".spill", ignore_errors=True)
    return out


def _persons(tw: _Twin, key: str, year: int) -> None:
    origin = "CASE origin_group " + " ".join(
        f"WHEN '{g}' THEN list_extract({codes}, CAST(person_id AS BIGINT) % {len(codes)} + 1)"
        for g, codes in ORIGIN_COUNTRIES.items()) + " ELSE '----' END"
    cols = f"""{key}, strftime(birth_date, '%Y') AS GBAGEBOORTEJAAR,
        strftime(birth_date, '%m') AS GBAGEBOORTEMAAND, strftime(birth_date, '%d') AS GBAGEBOORTEDAG,
        {_case('sex', {'M': '1', 'F': '2'})} AS GBAGESLACHT,
        {_case('migration_background', {'none': '0', 'first_generation': '1',
                                        'second_generation': '2'})} AS GBAGENERATIE,
        {origin} AS GBAHERKOMSTGROEPERING"""
    labels = {"GBAGESLACHT": {"1": "Mannen", "2": "Vrouwen", "-": "Onbekend"},
              "GBAGENERATIE": {"0": "Autochtoon", "1": "Eerste generatie allochtoon",
                               "2": "Tweede generatie allochtoon", "-": "Onbekend"}}
    tw.sav(f"Bevolking/GBAPERSOONTAB/{year}/GBAPERSOON{year}TABV1",
           f"SELECT {cols} FROM persons WHERE person_id NOT IN (SELECT person_id FROM nietgba) "
           "ORDER BY person_id", labels)
    import pyreadstat

    dta = tw.out / "Bevolking/NIETGBAPERSOONTAB/geconverteerde data"
    dta.mkdir(parents=True)
    df = tw.con.execute(f"SELECT {cols} FROM persons WHERE person_id IN "
                        "(SELECT person_id FROM nietgba) ORDER BY person_id").df()
    pyreadstat.write_dta(df, str(dta / f"NIETGBAPERSOON{year}TABV1.dta"))
    types = [(c, "1" if g == "other_western" else "2") for g, cs in ORIGIN_COUNTRIES.items()
             for c in cs if g.startswith("other")]
    tw.sav("Code_Listings/SSBreferentiebestanden/LANDAKTUEELREFV11",
           "SELECT * FROM (VALUES " + ", ".join(f"('{c}', '{t}')" for c, t in types)
           + ") v(LAND, LANDTYPE)", {"LANDTYPE": {"1": "Westers", "2": "Niet-westers"}})


def _deaths_migration(tw: _Twin, key: str, year: int) -> None:
    last = year - 1
    final = f"SELECT {key}, {_ymd('death_date')} AS GBADatumOverlijden FROM persons " \
            f"WHERE death_date IS NOT NULL AND year(death_date) <= {last} ORDER BY person_id"
    folder = f"Bevolking/GBAOVERLIJDENTAB/{last}"
    # V1: an earlier delivery without the last quarter; V2 complete (and a Stata copy)
    tw.sav(f"{folder}/GBAOVERLIJDEN{last}TABV1",
           final.replace("ORDER BY", f"AND death_date < DATE '{last}-10-01' ORDER BY"))
    tw.sav(f"{folder}/GBAOVERLIJDEN{last}TABV2", final)
    import pyreadstat

    copy = tw.out / folder / "geconverteerde data"
    copy.mkdir(exist_ok=True)
    pyreadstat.write_dta(tw.con.execute(final).df(), str(copy / f"GBAOVERLIJDEN{last}TABV2.dta"))
    tw.sav(f"Bevolking/GBAOVERLIJDENTAB/VRLGBAOVERLIJDENTABV{year}121",
           f"SELECT {key}, {_ymd('death_date')} AS VRLGBADatumOverlijden FROM persons "
           f"WHERE year(death_date) = {year} ORDER BY person_id")
    tw.sav(f"Bevolking/GBAMIGRATIEBUS/GBAMIGRATIE{year}BUSV1",
           f"SELECT {key}, 'E' AS GBASOORTMIGRATIE, {_ymd('emigration_date')} AS GBADATUMMIGRATIE "
           "FROM persons WHERE emigration_date IS NOT NULL ORDER BY person_id",
           {"GBASOORTMIGRATIE": {"E": "Emigratie", "I": "Immigratie"}})


def _family(tw: _Twin, key: str, year: int) -> None:
    dash = "'---------'"
    # a few children are registered as their own father where the father is unknown (CBS)
    tw.sav(f"Bevolking/KINDOUDERTAB/KINDOUDER{year}TABV1", f"""
        SELECT {key},
          CASE WHEN mo IS NULL THEN '-' ELSE rs(mo) END AS RINPERSOONSMa, coalesce(rin(mo), {dash}) AS RINPERSOONMa,
          CASE WHEN fa IS NOT NULL THEN rs(fa) WHEN CAST(person_id AS BIGINT) % 97 = 0 THEN 'R'
               ELSE '-' END AS RINPERSOONSpa,
          CASE WHEN fa IS NOT NULL THEN rin(fa) WHEN CAST(person_id AS BIGINT) % 97 = 0 THEN rin(person_id)
               ELSE {dash} END AS RINPERSOONpa,
          '1' AS XKOPPELNUMMER
        FROM (SELECT p.person_id,
                     max(r.alter_id) FILTER (WHERE a.sex = 'F') AS mo,
                     max(r.alter_id) FILTER (WHERE a.sex = 'M') AS fa
              FROM persons p
              LEFT JOIN relations r ON r.person_id = p.person_id AND r.relation = 'parent'
              LEFT JOIN persons a ON a.person_id = r.alter_id
              WHERE p.person_id NOT IN (SELECT person_id FROM nietgba)
              GROUP BY p.person_id)
        ORDER BY person_id""")
    tw.sav(f"Bevolking/GBAVERBINTENISPARTNERBUS/GBAVERBINTENISPARTNER{year}BUSV1", f"""
        SELECT {key}, rs(alter_id) AS RINPERSOONSVERBINTENISP, rin(alter_id) AS RINPERSOONVERBINTENISP,
               {_ymd('start_date')} AS AANVANGVERBINTENIS,
               {_ymd('end_date', "'88888888'")} AS EINDEVERBINTENIS,
               CASE WHEN (CAST(person_id AS BIGINT) + CAST(alter_id AS BIGINT)) % 5 = 0
                    THEN 'P' ELSE 'H' END AS TYPEVERBINTENIS,
               CASE WHEN end_date IS NULL THEN '-' ELSE 'S' END AS REDENBEEINDIGINGVERBINTENIS
        FROM relations WHERE relation = 'partner' ORDER BY person_id, start_date""",
           {"TYPEVERBINTENIS": {"H": "Huwelijk", "P": "Geregistreerd partnerschap"}})


def _households(tw: _Twin, key: str, year: int) -> None:
    married = "(hash(household_id) % 2 = 0)"
    typ = (f"CASE household_type WHEN 'single' THEN '1' "
           f"WHEN 'couple' THEN CASE WHEN {married} THEN '3' ELSE '2' END "
           f"WHEN 'couple_with_children' THEN CASE WHEN {married} THEN '5' ELSE '4' END "
           "WHEN 'single_parent' THEN '6' WHEN 'other' THEN '7' WHEN 'institution' THEN '8' "
           "ELSE '-' END")
    pl = (f"CASE role WHEN 'child' THEN '1' WHEN 'single' THEN '2' "
          f"WHEN 'partner' THEN CASE WHEN {married} THEN '4' ELSE '3' END "
          f"WHEN 'parent' THEN CASE WHEN household_type = 'single_parent' THEN '7' "
          f"WHEN {married} THEN '6' ELSE '5' END ELSE '8' END")
    sql = f"""SELECT {key}, household_id AS HUISHOUDNR,
        {_ymd('start_date')} AS DATUMAANVANGHH, {_ymd('end_date', f"'{year}1231'")} AS DATUMEINDEHH,
        {typ} AS TYPHH, {pl} AS PLHH FROM households"""
    labels = {"TYPHH": {"1": "Eenpersoonshuishouden", "2": "Niet-gehuwd paar zonder kinderen",
                        "3": "Gehuwd paar zonder kinderen", "4": "Niet-gehuwd paar met kinderen",
                        "5": "Gehuwd paar met kinderen", "6": "Eenouderhuishouden",
                        "7": "Overig huishouden", "8": "Institutioneel huishouden"}}
    # two versions of a living bus: V1 lacked the last year's new spells
    tw.sav(f"Bevolking/GBAHUISHOUDENSBUS/GBAHUISHOUDENS{year}BUSV1",
           f"{sql} WHERE year(start_date) < {year} ORDER BY person_id, start_date", labels)
    tw.sav(f"Bevolking/GBAHUISHOUDENSBUS/GBAHUISHOUDENS{year}BUSV2",
           f"{sql} ORDER BY person_id, start_date", labels)


def _yearly(tw: _Twin, rel: str, sql: str, year_expr: str, labels: dict | None = None) -> None:
    """One file per year of `year_expr` (over the helper column __d); `rel` holds {y}."""
    tw.con.execute(f"CREATE OR REPLACE TEMP TABLE yearly AS SELECT *, {year_expr} AS __y "
                   f"FROM ({sql})")  # one scan; each year's file then reads its slice
    years = [r[0] for r in tw.con.execute(
        "SELECT DISTINCT __y FROM yearly ORDER BY __y").fetchall()]
    for y in years:
        tw.sav(rel.format(y=y), f"SELECT * EXCLUDE (__y, __d) FROM yearly WHERE __y = {y}",
               labels)
    tw.con.execute("DROP TABLE yearly")


def _education_youth(tw: _Twin, key: str) -> None:
    lev = _case("level", LEVEL_CODES, "'9999'")
    sk = "CASE WHEN level IN ('mbo2','mbo3','mbo4','havo','vwo','hbo','wo') THEN '1' ELSE '0' END"
    _yearly(tw, "Onderwijs/HDIPLOMAREGTAB/{y}/HDIPLOMAREG{y}TABV1",
            f"SELECT {key}, {lev} AS OPLNIVSOI2021AGG4HBMETNIRWO, "
            f"{_ymd('diploma_date')} AS HDIPLOMADATUM, {sk} AS STARTKWALIFICATIE, "
            "diploma_date AS __d FROM education ORDER BY person_id, diploma_date",
            "year(__d + INTERVAL 92 DAY)")
    for stem, folder, prefix, codes, label in (
            ("JGDBESCHERM", "VeiligheidRecht", "JGDB",
             {"supervision_order": "11", "guardianship": "21", "youth_probation": "31"},
             {"11": "Ondertoezichtstelling", "21": "Voogdij", "31": "Jeugdreclassering"}),
            ("JGDHULP", "GezondheidWelzijn", "JGDH",
             {"residential_care": "11", "other": "20"},
             {"11": "Jeugdhulp met verblijf", "20": "Jeugdhulp zonder verblijf"})):
        col = "MAATREGEL" if prefix == "JGDB" else "HULPVORM"
        _yearly(tw, f"{folder}/{stem}BUS/{stem}{{y}}BUSV1",
                f"SELECT {key}, {_case('measure', codes)} AS {prefix}{col}, "
                f"{_ymd('start_date')} AS {prefix}GELDIGHEIDBEGINDATUM, "
                f"{_ymd('end_date', chr(39) + '88888888' + chr(39))} AS {prefix}GELDIGHEIDEINDDATUM, "
                f"start_date AS __d FROM youth_care WHERE measure IN "
                f"({', '.join(repr(k) for k in codes)}) ORDER BY person_id, start_date",
                "year(__d)", {f"{prefix}{col}": label})


def _justice(tw: _Twin, key: str, year: int) -> None:
    _yearly(tw, "VeiligheidRecht/INSTROOMOMTAB/INSTROOMOM{y}TABV1", f"""
        SELECT {key}, case_id AS OMPARKETNUMMER, {_ymd('offence_date')} AS OMDATUMPLEGEN,
          {_ymd('registration_date')} AS OMDATUMINSCHRIJVING,
          {_ymd('disposal_date')} AS OMDATUMAFDOENING, coalesce(article, '-') AS OMWETSARTIKEL,
          {_case('offence_category', CATEGORY_CODES)} AS OMDELICTGROEP,
          CASE WHEN domestic THEN '1' WHEN NOT domestic THEN '0' ELSE '-' END AS OMBINNENLANDS,
          {_case('outcome', OUTCOME_CODES)} AS OMAFDOENING,
          coalesce(CAST(severity_max_years AS VARCHAR), '-') AS OMMAXSTRAF,
          coalesce(registration_date, offence_date) AS __d
        FROM cases ORDER BY case_id""", "year(__d)",
            {"OMAFDOENING": {v: k for k, v in OUTCOME_CODES.items()},
             "OMDELICTGROEP": {v: k for k, v in CATEGORY_CODES.items()}})
    tw.sav(f"VeiligheidRecht/GEDETINEERDENTAB/GEDETINEERDEN{year}TABV1", f"""
        SELECT {key}, {_ymd('start_date')} AS DATUMINSTROOM,
               {_ymd('end_date', "'88888888'")} AS DATUMUITSTROOM
        FROM detentions ORDER BY person_id, start_date""")
    # probation advice: a project's own data (3RO delivery), ';'-separated, Latin-1
    path = tw.out / "EigenData" / "RECLASSERINGADVIES_3RO.csv"
    path.parent.mkdir(parents=True)
    df = tw.con.execute(f"""
        SELECT {key}, case_id AS OMPARKETNUMMER,
               coalesce(strftime(requested_date, '%Y%m%d'), '') AS DATUMAANVRAAG,
               coalesce(strftime(delivered_date, '%Y%m%d'), '') AS DATUMADVIES,
               {_case('advice', ADVICE_WORDS, "''")} AS ADVIESSOORT
        FROM probation_advice ORDER BY case_id""").df()
    df.to_csv(path, sep=";", index=False, encoding="latin-1")


def _popnet(tw: _Twin, year: int, first: int | None) -> None:
    """Per layer and year Y a CSV of the ties running on 1 January Y (family: last year only)."""
    if first is None:
        first = tw.con.execute("SELECT coalesce(year(min(start_date)), 2009) FROM relations "
                               "WHERE layer <> 'family'").fetchone()[0]
    codes = ("CASE relation WHEN 'household' THEN 401 WHEN 'colleague' THEN 201 "
             "WHEN 'classmate' THEN 503 WHEN 'neighbour' THEN "
             "CASE WHEN hash(person_id, alter_id) % 3 = 0 THEN 102 ELSE 101 END END")
    # Per layer, each tie's first and last snapshot year in a temp table, then one plain COPY per
    # year: a COPY with PARTITION_BY over the unnested years ran out of memory at 18M persons.
    tw.con.execute("SET preserve_insertion_order=false")
    for layer, stem in POPNET_LAYERS.items():
        tw.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE pn AS
            SELECT CAST(person_id AS BIGINT) AS e, person_id IN (SELECT person_id FROM nset) AS en,
                   CAST(alter_id AS BIGINT) AS a, alter_id IN (SELECT person_id FROM nset) AS an,
                   {codes} AS code, y0, y1
            FROM (SELECT *,
                    greatest({first}, CASE WHEN start_date IS NULL THEN {first}
                             ELSE year(start_date) + CASE WHEN start_date = make_date(year(start_date), 1, 1)
                                                     THEN 0 ELSE 1 END END) AS y0,
                    CASE WHEN end_date IS NULL THEN {year} ELSE year(end_date - 1) END AS y1
                  FROM relations WHERE layer = '{layer}')
            WHERE y0 <= y1""")
        lo, hi = tw.con.execute("SELECT min(y0), max(y1) FROM pn").fetchone()
        for y in range(lo, hi + 1) if lo is not None else ():
            tw.csv(f"Bevolking/{stem}TAB/{stem}{y}TABV1", f"""
                SELECT CASE WHEN en THEN 'N' ELSE 'R' END AS RINPERSOONS,
                       lpad(CAST(e + 1 AS VARCHAR), 9, '0') AS RINPERSOON,
                       CASE WHEN an THEN 'N' ELSE 'R' END AS RINPERSOONSRELATIE,
                       lpad(CAST(a + 1 AS VARCHAR), 9, '0') AS RINPERSOONRELATIE, code AS RELATIE
                FROM pn WHERE y0 <= {y} AND {y} <= y1""")
        tw.con.execute("DROP TABLE pn")
    tw.con.execute("SET preserve_insertion_order=true")
    fam = {"parent": "301", "child": "304", "sibling": "306", "half_sibling": "307"}
    tw.csv(f"Bevolking/FAMILIENETWERKTAB/FAMILIENETWERK{year}TABV1", f"""
        SELECT rs(person_id) AS RINPERSOONS, rin(person_id) AS RINPERSOON,
               rs(alter_id) AS RINPERSOONSRELATIE, rin(alter_id) AS RINPERSOONRELATIE,
               CASE relation {' '.join(f"WHEN '{k}' THEN {v}" for k, v in fam.items())}
                    WHEN 'partner' THEN 312 ELSE 300 END AS RELATIE
        FROM relations WHERE layer = 'family'
          AND (start_date IS NULL OR start_date <= DATE '{year}-01-01')
          AND (end_date IS NULL OR end_date > DATE '{year}-01-01')
        ORDER BY person_id""")
