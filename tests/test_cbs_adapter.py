"""The CBS adapter on a hand-written Remote Access folder (tests/cbs_handmade.py), fault by fault
(../shared/reference/cbs-adapter-findings.md, E1-E7 and the mapping table), plus the commands."""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from cbs_handmade import DASH9, MAPPING, pid, write_folder
from typer.testing import CliRunner

from crimcareer.cbs import discover
from crimcareer.cbs.convert import convert
from crimcareer.cbs.read import sniff_csv
from crimcareer.cli import app

D = dt.date


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp("cbs")
    ra = write_folder(root / "ra")
    (root / "mapping.toml").write_text(MAPPING)
    res = convert(ra, root / "out", root / "mapping.toml", threads=1)
    return ra, root / "out", res


def _rel(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "relations.parquet")


def _log(out: Path) -> dict:
    return json.loads((out / "conversion_log.json").read_text())


def _count(out: Path, table: str, column: str, words: str) -> int:
    return sum(e["count"] for e in _log(out)["entries"]
               if e["table"] == table and e["column"] == column and words in e["reason"])


# -- E1: unknown parents (nine dashes, non-R kinds) never become a person, never join ------------
def test_no_phantom_parent_and_no_sibling_ties_through_unknown_parents(converted):
    _, out, _ = converted
    rel = _rel(out)
    persons = set(pd.read_parquet(out / "persons.parquet").person_id)
    fam = rel[rel.layer == "family"]
    assert set(fam.alter_id) <= persons and set(fam.person_id) <= persons
    assert not any("-" in x for x in set(fam.alter_id) | set(fam.person_id))
    assert pid(999) not in set(fam.alter_id)  # father with RINPERSOONS F (invalid BSN)
    # 106 and 107 have no known parent: no tie at all between them
    pair = fam[fam.person_id.isin([pid(106), pid(107)]) & fam.alter_id.isin([pid(106), pid(107)])]
    assert pair.empty
    assert _count(out, "relations", "father", "parent unknown") >= 8


def test_sibling_kinds_follow_the_known_parents(converted):
    _, out, _ = converted
    rel = _rel(out)
    got = {(a, b): r for a, b, r in zip(rel.person_id, rel.alter_id, rel.relation)
           if r in ("sibling", "half_sibling", "other_family")}
    assert got[(pid(103), pid(104))] == "sibling"
    assert got[(pid(103), pid(110))] == "half_sibling"  # same mother, fathers known, different
    assert got[(pid(103), pid(105))] == "other_family"  # same mother, 105's father unknown
    assert got[(pid(105), pid(103))] == "other_family"
    assert (pid(113), pid(103)) not in got  # N child rows are not children (E1 fix)
    assert _count(out, "relations", "child", "RINPERSOONS not in") == 1


# -- E2: parent = child rows ---------------------------------------------------------------------
def test_parent_equal_to_child_is_no_self_tie(converted):
    _, out, _ = converted
    rel = _rel(out)
    assert not (rel.person_id == rel.alter_id).any()
    parents_108 = set(rel[(rel.person_id == pid(108)) & (rel.relation == "parent")].alter_id)
    assert parents_108 == {pid(109)}
    assert _count(out, "relations", "father", "parent = child") == 1
    assert _count(out, "relations", "alter_id", "partner = person") == 1
    assert _count(out, "relations", "alter_id", "alter = ego") == 1


# -- 88888888 = not ended; version-end = running; 20501231 no global sentinel (E4) -------------
def test_open_ends_stay_open(converted):
    _, out, _ = converted
    rel = _rel(out)
    p = rel[(rel.relation == "partner") & (rel.person_id == pid(101))]
    assert p.end_date.isna().all() and p.start_date.tolist() == [D(1975, 6, 1)]
    ex = rel[(rel.relation == "partner") & (rel.person_id == pid(111))]
    assert ex.end_date.tolist() == [D(1985, 1, 1)]
    assert _count(out, "relations", "end_date", "88888888 (open)") == 4  # per source row
    hh = pd.read_parquet(out / "households.parquet").set_index("person_id")
    assert pd.isna(hh.loc[pid(101), "end_date"])  # ends on the version's last day
    assert hh.loc[pid(103), "end_date"] == D(1999, 1, 1)
    assert hh.loc[pid(101), "start_date"] == D(1994, 10, 1)  # kept, counted
    assert _count(out, "households", "start_date", "19941001") == 3
    assert hh.loc[pid(101), "household_type"] == "couple_with_children"
    cases = pd.read_parquet(out / "cases.parquet").set_index("case_id")
    assert cases.loc["7002", "disposal_date"] == D(2050, 12, 31)
    assert pd.isna(cases.loc["7003", "disposal_date"])
    assert _count(out, "cases", "disposal_date", "not_applicable") == 1
    assert _count(out, "cases", "disposal_date", "'-' (unknown)") == 0


# -- E6 / mapping table 4, 12: file discovery, versions, VRL -------------------------------------
def test_latest_version_and_not_the_k_table(converted):
    ra, out, _ = converted
    persons = pd.read_parquet(out / "persons.parquet").set_index("person_id")
    assert persons.loc[pid(101), "birth_date"] == D(1950, 3, 1)  # V2, not V1 (years + 1)
    assert len(persons) == 13
    meta = json.loads((out / "meta.json").read_text())
    used = {f["file"]: f for f in meta["files"]}
    v2 = "Bevolking/GBAPERSOONTAB/2022/GBAPERSOON2022TABV2.sav"
    assert v2 in used and "highest version V2" in used[v2]["why"]
    import hashlib  # hashed in a thread beside the conversion: every file, its own digest

    assert all(f["sha256"] == hashlib.sha256((ra / f["file"]).read_bytes()).hexdigest()
               for f in meta["files"]) and len(meta["files"]) > 10
    assert not any("GBAPERSOONKTAB" in f for f in used)
    assert meta["cutoff"] == "2022-12-31"


def test_vrl_columns_and_files_are_read(converted):
    _, out, _ = converted
    persons = pd.read_parquet(out / "persons.parquet").set_index("person_id")
    assert persons.loc[pid(111), "death_date"] == D(2022, 4, 20)  # VRLGBADatumOverlijden
    assert persons.loc[pid(109), "death_date"] == D(2021, 3, 15)  # ';' Latin-1 CSV
    used = json.loads((out / "meta.json").read_text())["files"]
    vrl = [f for f in used if f["provisional"]]
    assert len(vrl) == 1 and vrl[0]["vrl_columns"] and "provisional" in vrl[0]["why"]


def test_names_of_older_and_provisional_files_parse():
    f = discover.parse_name(Path("120229 KINDOUDERTAB 2010V1.sav"))
    assert (f.table, f.year, f.version) == ("KINDOUDERTAB", 2010, 1)
    f = discover.parse_name(Path("VRLGBAOVERLIJDENTABV2024061.sav"))
    assert (f.table, f.year, f.provisional) == ("GBAOVERLIJDENTAB", 2024, True)
    f = discover.parse_name(Path("GBAPERSOONKTAB2020V1.sav"))
    assert f.table == "GBAPERSOONKTAB"
    assert discover.parse_name(Path("INSCHRWPOTAB2019V3.SAV")).year == 2019


# -- E5: CSV dialect ------------------------------------------------------------------------------
def test_csv_separator_and_encoding_are_sniffed(converted):
    ra, _, _ = converted
    d = sniff_csv(ra / "Bevolking/GBAOVERLIJDENTAB/2021/GBAOVERLIJDEN2021TABV1.csv")
    assert (d.delimiter, d.encoding) == (";", "latin-1")
    assert sniff_csv(ra / "VeiligheidRecht/OMZAKEN.csv").delimiter == ","


# -- person codes, missing codes, origins (E3, mapping table 5-11) -------------------------------
def test_person_codes_and_missing_values(converted):
    _, out, _ = converted
    p = pd.read_parquet(out / "persons.parquet").set_index("person_id")
    assert pd.isna(p.loc[pid(105), "sex"])
    assert p.loc[pid(105), "birth_date"] == D(1983, 2, 1)  # day '--': the 1st
    assert p.loc[pid(106), "birth_date"] == D(1990, 7, 1)  # month '--': 1 July
    assert p.loc[pid(103), "origin_group"] == "MA" and p.loc[pid(104), "origin_group"] == "AN"
    assert p.loc[pid(107), "origin_group"] == "other_western"  # via LANDAKTUEELREF
    assert p.loc[pid(111), "origin_group"] == "other_non_western"
    assert pd.isna(p.loc[pid(105), "origin_group"]) and pd.isna(p.loc[pid(106), "origin_group"])
    assert pd.isna(p.loc[pid(112), "origin_group"])
    assert _count(out, "persons", "origin_group", "unmapped code") == 1  # 9998 only
    assert _count(out, "persons", "origin_group", "0000") == 1
    assert "N000000113" in p.index  # RINPERSOONS N: a person, in the BRP without A-number


def test_migration_columns_may_be_absent(tmp_path):
    """E7: a persons file without GBAGENERATIE / GBAHERKOMSTGROEPERING gives nulls and a log."""
    from cbs_handmade import _sav, persons_frame

    ra = tmp_path / "ra"
    _sav(ra / "GBAPERSOON2020TABV1.sav", persons_frame([101, 102], migration=False))
    res = convert(ra, tmp_path / "out", threads=1)
    p = pd.read_parquet(tmp_path / "out/persons.parquet")
    assert p.migration_background.isna().all() and p.origin_group.isna().all()
    reasons = {(e.column, e.reason) for e in res.log}
    assert ("migration_background", "column GBAGENERATIE absent: all null") in reasons


# -- POPNET ---------------------------------------------------------------------------------------
def test_popnet_snapshots_become_dated_spells(converted):
    _, out, _ = converted
    rel = _rel(out)
    nb = rel[rel.layer == "neighbours"].set_index(["person_id", "alter_id"])
    always = nb.loc[(pid(103), pid(104))]
    assert pd.isna(always.start_date) and pd.isna(always.end_date)  # first and last snapshot
    once = nb.loc[(pid(105), pid(106))]
    assert (once.start_date, once.end_date) == (D(2020, 7, 1), D(2021, 7, 1))
    assert len(nb) == 3  # code 100 and the self-tie dropped, counted
    assert _count(out, "relations", "relation", "unknown relation code") == 1
    cl = rel[rel.layer == "school"]
    assert cl.relation.tolist() == ["classmate"]
    hh = rel[rel.layer == "household"]
    assert set(zip(hh.person_id, hh.alter_id)) == {
        (pid(101), pid(102)), (pid(102), pid(101)), (pid(101), pid(103)), (pid(103), pid(101)),
        (pid(102), pid(103)), (pid(103), pid(102))}


# -- partial conversion, log, validation ---------------------------------------------------------
def test_partial_conversion_lists_what_is_missing(converted):
    _, out, res = converted
    log = _log(out)
    assert {u["table"] for u in log["unmapped"]} >= {"detentions", "probation_advice"}
    assert "cases" in log["tables_written"] and not (out / "detentions.parquet").exists()


def test_converted_folder_passes_validation(converted):
    from crimcareer.validation import check_folder

    _, out, _ = converted
    got = {(v.table, v.column, v.rule) for v in check_folder(out).violations}
    assert got == {("cases", "outcome", "unknown code")}  # code 9 kept for the researcher


# -- commands -------------------------------------------------------------------------------------
def test_cbs_inspect_lists_tables_without_rows(converted):
    ra, _, _ = converted
    r = CliRunner().invoke(app, ["cbs", "inspect", str(ra)])
    assert r.exit_code == 0, r.output
    assert "GBAPERSOONTAB" in r.output and "highest version V2 of 2" in r.output
    assert "Mannen" in r.output  # value labels
    assert f"RINPERSOONpa                     A9         missing {DASH9}: 7" in r.output
    assert "café" not in r.output and "20210315" not in r.output  # no row contents
    bad = CliRunner().invoke(app, ["cbs", "inspect", str(ra / "nothing")])
    assert bad.exit_code == 2 and "not a folder" in bad.output


def test_cbs_inspect_reports_an_unreadable_file(tmp_path):
    (tmp_path / "GBAPERSOON2020TABV1.sav").write_bytes(b"not an SPSS file")
    r = CliRunner().invoke(app, ["cbs", "inspect", str(tmp_path)])
    assert r.exit_code == 1 and "could not be read" in r.output


def test_cbs_mapping_prints_the_default_toml():
    r = CliRunner().invoke(app, ["cbs", "mapping"])
    assert r.exit_code == 0
    m = tomllib.loads(r.output)
    assert m["family"]["kindouder"]["from"] == "KINDOUDERTAB"
    assert m["family"]["partners"][0]["end"]["open"] == ["88888888"]


def test_cbs_convert_command_exit_codes(converted, tmp_path, monkeypatch):
    import crimcareer.cbs.convert as cv

    ra, _, _ = converted
    (tmp_path / "m.toml").write_text(MAPPING)
    made, mkdtemp = [], cv.tempfile.mkdtemp
    monkeypatch.setattr(cv.tempfile, "mkdtemp",
                        lambda **kw: made.append(mkdtemp(**kw)) or made[-1])
    (tmp_path / "scratch").mkdir()
    r = CliRunner().invoke(app, ["cbs", "convert", str(ra), "--out", str(tmp_path / "o"),
                                 "--mapping", str(tmp_path / "m.toml"),
                                 "--work-dir", str(tmp_path / "scratch")])
    assert r.exit_code == 1 and "not converted: detentions" in r.output
    assert "cbs convert: persons (" in r.output  # progress, one line per table (stderr)
    # and per part of the relations step (minutes at national size)
    assert "cbs convert: relations: KINDOUDERTAB and partner buses read (" in r.output
    assert re.search(r"cbs convert: relations: POPNET BURENNETWERKTAB read \(\d+ files?, \d+ "
                     r"fixed-width\)", r.output)
    assert "cbs convert: relations: POPNET snapshots grouped into spells (" in r.output
    # the scratch folder was made under --work-dir and removed afterwards
    assert [Path(d).parent for d in made if "crimcareer-cbs-" in d] == [tmp_path / "scratch"]
    assert not any((tmp_path / "scratch").iterdir())
    (tmp_path / "bad.toml").write_text("[[casez]]\nfrom = 'X'\n")
    r = CliRunner().invoke(app, ["cbs", "convert", str(ra), "--out", str(tmp_path / "o2"),
                                 "--mapping", str(tmp_path / "bad.toml")])
    assert r.exit_code == 2 and "unknown entry [casez]" in r.output


def test_a_conversion_that_stops_leaves_no_output_folder(converted, tmp_path, monkeypatch):
    """A file that cannot be read for its hash at the end (the tables are written by then):
    one message, exit 2, and neither OUT nor its partial folder is left. An earlier conversion
    in OUT is replaced by a new one; a folder of other files is refused without --overwrite."""
    import crimcareer.cbs.convert as cv

    ra, _, _ = converted
    (tmp_path / "m.toml").write_text(MAPPING)
    args = ["cbs", "convert", str(ra), "--mapping", str(tmp_path / "m.toml"), "--out"]

    def unreadable(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(cv, "sha256", unreadable)
    r = CliRunner().invoke(app, [*args, str(tmp_path / "o")])
    assert r.exit_code == 2 and "cannot convert:" in r.output and "Traceback" not in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.toml"]
    monkeypatch.undo()
    assert CliRunner().invoke(app, [*args, str(tmp_path / "o")]).exit_code == 1
    (tmp_path / "o" / "stale.parquet").write_text("x")
    assert CliRunner().invoke(app, [*args, str(tmp_path / "o")]).exit_code == 1  # replaced
    assert (tmp_path / "o" / "persons.parquet").exists()
    assert not (tmp_path / "o" / "stale.parquet").exists()
    from crimcareer.outfolder import is_run_folder

    assert not is_run_folder(tmp_path / "o")  # a contract folder is never taken for a run
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    r = CliRunner().invoke(app, [*args, str(tmp_path / "mine")])
    assert r.exit_code == 2 and "--overwrite" in r.output
    assert (tmp_path / "mine" / "notes.txt").exists()
    r = CliRunner().invoke(app, [*args, str(ra)])  # never the project folder itself
    assert r.exit_code == 2 and any(ra.iterdir())


def test_a_truncated_sav_file_is_one_message_not_a_traceback(tmp_path):
    """Header intact, rows cut off: the table is listed as not converted (file named), the rest
    converts, and the command exits 1 without a traceback."""
    ra = write_folder(tmp_path / "ra")
    f = ra / "Bevolking/GBAPERSOONTAB/2022/GBAPERSOON2022TABV2.sav"
    f.write_bytes(f.read_bytes()[: int(f.stat().st_size * 0.8)])
    (tmp_path / "m.toml").write_text(MAPPING)
    r = CliRunner().invoke(app, ["cbs", "convert", str(ra), "--out", str(tmp_path / "o"),
                                 "--mapping", str(tmp_path / "m.toml")])
    assert r.exit_code == 1 and isinstance(r.exception, (SystemExit, type(None)))
    assert "Traceback" not in r.output
    assert "not converted: persons from GBAPERSOONTAB: GBAPERSOON2022TABV2.sav: cannot read" \
        in r.output
    assert (tmp_path / "o" / "cases.parquet").exists()


def test_an_unreadable_table_is_listed_and_the_rest_converts(tmp_path):
    from cbs_handmade import _sav, persons_frame

    ra = tmp_path / "ra"
    _sav(ra / "GBAPERSOON2020TABV1.sav", persons_frame([101, 102]))
    (ra / "OMZAKEN.csv").write_text("RINPERSOONS,RINPERSOON,ZAAKNR,PLEEGDATUM\n"
                                    "R,000000101,1,20100101\nR,000000101,2,20100101,extra,x\n")
    (tmp_path / "m.toml").write_text(MAPPING)
    res = convert(ra, tmp_path / "out", tmp_path / "m.toml", threads=1)
    assert "persons" in res.tables and "cases" not in res.tables
    assert any(u["table"] == "cases" and u["from"] == "OMZAKEN" for u in res.unmapped)


def _random_popnet(ra: Path, seed: int = 3) -> None:
    """Neighbour and colleague snapshots 2009-2023 with gaps, duplicate rows, x00 codes, dashes
    and self-ties; housemates for one year (read only with household_layer = "popnet")."""
    import numpy as np

    from cbs_handmade import _csv, rin

    rng = np.random.default_rng(seed)
    ties = [(int(a), int(b), code) for a, b, code in zip(
        rng.integers(1, 40, 300), rng.integers(1, 40, 300), rng.choice([101, 102, 100, 201], 300))]
    for stem, codes in (("BURENNETWERK", {100, 101, 102}), ("COLLEGANETWERK", {201})):
        for y in range(2009, 2024):
            rows = []
            for a, b, code in ties:
                if code in codes and rng.random() < 0.6:
                    rows += [("R", rin(a), "R", rin(b), str(code))] * int(rng.integers(1, 3))
            rows.append(("R", DASH9, "R", rin(5), "101" if stem == "BURENNETWERK" else "201"))
            if stem == "BURENNETWERK":  # one tie written with a leading space in one year only
                rows.append(("R", (" " if y == 2015 else "") + rin(41), "R", rin(42), "101"))
            else:  # nine characters that read as number 43 but are not its digits, one year
                rows.append(("R", " " + rin(43)[1:] if y == 2012 else rin(43), "R", rin(44), "201"))
            _csv(ra / f"Bevolking/{stem}TAB/{stem}{y}TABV1.csv", pd.DataFrame(rows, columns=[
                "RINPERSOONS", "RINPERSOON", "RINPERSOONSRELATIE", "RINPERSOONRELATIE",
                "RELATIE"]))
    _csv(ra / "Bevolking/HUISGENOTENNETWERKTAB/HUISGENOTENNETWERK2023TABV1.csv", pd.DataFrame(
        [("R", rin(1), "R", rin(2), "401")], columns=[
            "RINPERSOONS", "RINPERSOON", "RINPERSOONSRELATIE", "RINPERSOONRELATIE", "RELATIE"]))


def _popnet_mapping(**settings: str) -> str:
    """The default [popnet] section with `settings` (TOML values) replaced."""
    from importlib import resources

    text = resources.files("crimcareer.cbs").joinpath("default_mapping.toml").read_text("utf-8")
    section = "[popnet]" + text.split("[popnet]", 1)[1].split("\n[", 1)[0]
    lines = [ln for ln in section.splitlines() if ln.split(" =")[0] not in settings]
    return "\n".join(lines + [f"{k} = {v}" for k, v in settings.items()]) + "\n"


def test_popnet_runs_by_bit_mask_equal_the_plain_window_query(tmp_path, monkeypatch):
    """The one-scan path (grouping sets, year bit masks) against the gaps-and-islands query."""
    from crimcareer.cbs import popnet

    import numpy as np

    from cbs_handmade import _csv, rin

    ra = tmp_path / "ra"
    _random_popnet(ra)
    rng = np.random.default_rng(5)  # family: skipped codes (counted per file), kept ones, dashes
    for y in (2019, 2020, 2022, 2023):
        rows = [("R", rin(int(a)), "R", rin(int(b)), str(code)) for a, b, code in zip(
            rng.integers(1, 30, 80), rng.integers(1, 30, 80), rng.choice([301, 302, 304, 300], 80))]
        rows += [("R", DASH9, "R", rin(3), "301"), ("R", rin(4), "R", rin(4), "304")]
        _csv(ra / f"Bevolking/FAMILIENETWERKTAB/FAMILIENETWERK{y}TABV1.csv", pd.DataFrame(
            rows, columns=["RINPERSOONS", "RINPERSOON", "RINPERSOONSRELATIE",
                           "RINPERSOONRELATIE", "RELATIE"]))
    fast = popnet._snapshot_runs
    taken = []
    monkeypatch.setattr(popnet, "_snapshot_runs", lambda *a: taken.append(fast(*a)) or taken[-1])
    numpy_pass, files = popnet._fixed_width_pass, []  # (files of a layer, files left to SQL)
    monkeypatch.setattr(popnet, "_fixed_width_pass", lambda c, chs, *a: files.append(
        (len(chs), len(rest := numpy_pass(c, chs, *a)))) or rest)
    got = {}
    for name, years, bucket in (("mask", popnet.MASK_YEARS, popnet.BUCKET_BYTES),
                                ("buckets", popnet.MASK_YEARS, 1000), ("window", 0, 1000)):
        monkeypatch.setattr(popnet, "MASK_YEARS", years)
        monkeypatch.setattr(popnet, "BUCKET_BYTES", bucket)  # 1000: several buckets per layer
        (tmp_path / "m.toml").write_text(_popnet_mapping(household_layer='"popnet"'))
        res = convert(ra, tmp_path / name, tmp_path / "m.toml", threads=2)
        rel = _rel(tmp_path / name).sort_values(
            ["person_id", "alter_id", "relation", "start_date", "end_date"], na_position="first")
        got[name] = (rel.reset_index(drop=True), sorted(map(str, res.log)))
    mask, window = got["mask"], got["window"]
    assert len(mask[0]) > 100 and mask[0].start_date.notna().any()
    assert mask[0].duplicated(["person_id", "alter_id", "relation"]).any()  # ties with gaps
    padded = mask[0][mask[0].person_id == pid(41)]  # plain and padded years make one spell
    assert len(padded) == 1 and padded.start_date.isna().all() and padded.end_date.isna().all()
    short = mask[0][mask[0].alter_id == pid(44)]  # ' 00000043' is the key R00000043 (trimmed)
    assert sorted(short.person_id.unique()) == [pid(43), "R00000043"] and len(short) == 3
    pd.testing.assert_frame_equal(mask[0], window[0])
    pd.testing.assert_frame_equal(got["buckets"][0], window[0])
    assert mask[1] == window[1] == got["buckets"][1]
    assert any("unknown relation code" in e for e in mask[1])
    assert any("FAMILIENETWERK2020" in e and "code skipped" in e for e in mask[1])
    assert "family" in set(mask[0].layer)
    assert taken == [True, True]  # the fast path ran twice (the window run never calls it)
    # both readings met in one layer: fixed-width files by numpy, the others (a padded number
    # makes a row wider) by SQL
    assert any(0 < left < n for n, left in files)


def test_a_file_that_leaves_its_layout_late_is_read_by_sql_instead(tmp_path, monkeypatch):
    """Rows of another width at the end of a file whose size still fits its first row's width:
    the numpy reading stops after writing some batches, those are removed, and SQL reads the
    file. The result equals a conversion that reads every file by SQL."""
    from crimcareer.cbs import fixedwidth, popnet

    ra = tmp_path / "ra"
    _random_popnet(ra)
    f = ra / "Bevolking/BURENNETWERKTAB/BURENNETWERK2016TABV1.csv"
    f.write_text(f.read_text() + "R;00000007;R;000000008;101\nR;000000007;R;0000000009;101\n")
    monkeypatch.setattr(fixedwidth, "CHUNK_ROWS", 2)
    monkeypatch.setattr(fixedwidth, "BATCH_ROWS", 4)
    batches, seen = fixedwidth.batches, []

    def watched(path, *a, **k):
        n = 0
        try:
            for rows in batches(path, *a, **k):
                n += 1
                yield rows
        except fixedwidth.LeavesLayout:
            seen.append((path.name, n))
            raise

    monkeypatch.setattr(fixedwidth, "batches", watched)
    (tmp_path / "m.toml").write_text(_popnet_mapping())
    got = {}
    for name in ("mixed", "sql"):
        if name == "sql":
            monkeypatch.setattr(popnet, "_fixed_width_pass", lambda c, chs, *a: list(chs))
        res = convert(ra, tmp_path / name, tmp_path / "m.toml", threads=2)
        rel = _rel(tmp_path / name).sort_values(
            ["person_id", "alter_id", "relation", "start_date", "end_date"], na_position="first")
        got[name] = (rel.reset_index(drop=True), sorted(map(str, res.log)))
    assert len(seen) == 1 and seen[0][0] == f.name and seen[0][1] > 3  # batches written first
    pd.testing.assert_frame_equal(got["mixed"][0], got["sql"][0])
    assert got["mixed"][1] == got["sql"][1]


def test_popnet_fast_path_gives_way_when_its_raw_test_is_fooled(tmp_path, monkeypatch):
    """A self-tie written with a trailing space passes the raw-text test but is dropped once the
    keys are built: the conversion then takes the plain query and still counts it per file."""
    from cbs_handmade import _csv, rin

    ra = tmp_path / "ra"
    _random_popnet(ra)
    _csv(ra / "Bevolking/BURENNETWERKTAB/BURENNETWERK2024TABV1.csv", pd.DataFrame(
        [("R", rin(7), "R", rin(7) + " ", "101"), ("R", rin(7), "R", rin(8), "101")], columns=[
            "RINPERSOONS", "RINPERSOON", "RINPERSOONSRELATIE", "RINPERSOONRELATIE", "RELATIE"]))
    (tmp_path / "m.toml").write_text(_popnet_mapping())
    from crimcareer.cbs import popnet

    fast, taken = popnet._snapshot_runs, []
    monkeypatch.setattr(popnet, "_snapshot_runs", lambda *a: taken.append(fast(*a)) or taken[-1])
    res = convert(ra, tmp_path / "out", tmp_path / "m.toml", threads=1)
    assert taken == [False]
    assert [e.count for e in res.log if e.source == "BURENNETWERK2024TABV1.csv"
            and "alter = ego" in e.reason] == [1]
    rel = _rel(tmp_path / "out")
    assert not (rel.person_id == rel.alter_id).any()
    assert ((rel.person_id == pid(7)) & (rel.alter_id == pid(8))).any()


def test_a_broken_popnet_layer_is_listed_and_the_other_layers_still_convert(tmp_path):
    """A malformed row in one year of the colleague layer: that layer is listed as unmappable
    (file named, no row contents); neighbours and family ties are still written."""
    ra = tmp_path / "ra"
    _random_popnet(ra)
    bad = ra / "Bevolking/COLLEGANETWERKTAB/COLLEGANETWERK2015TABV1.csv"
    bad.write_text(bad.read_text() + "R;000000007;R;000000008;201;extra;x\n")
    (tmp_path / "m.toml").write_text(_popnet_mapping())
    res = convert(ra, tmp_path / "out", tmp_path / "m.toml", threads=1)
    assert [u["from"] for u in res.unmapped if "NETWERK" in u["from"]] == [
        "COLLEGANETWERKTAB"]
    why = next(u["why"] for u in res.unmapped if u["from"] == "COLLEGANETWERKTAB")
    assert "COLLEGANETWERK2015TABV1.csv" in why and "Line: 66" in why
    assert "000000007" not in why and "extra" not in why  # no row contents
    assert "relations" in res.tables
    assert set(_rel(tmp_path / "out").layer) == {"neighbours", "household"}


def test_a_popnet_table_whose_codes_are_all_skipped_is_not_read(tmp_path):
    ra = tmp_path / "ra"
    _random_popnet(ra)
    (tmp_path / "m.toml").write_text(_popnet_mapping(skip_codes="[401, 402]"))
    res = convert(ra, tmp_path / "out", tmp_path / "m.toml", threads=1)
    assert [f["file"] for f in res.not_read] == [
        "Bevolking/HUISGENOTENNETWERKTAB/HUISGENOTENNETWERK2023TABV1.csv"]
    assert _log(tmp_path / "out")["files_not_read"] == res.not_read
    assert set(_rel(tmp_path / "out").layer) == {"neighbours", "work"}
    assert not any("HUISGENOTEN" in f["file"] for f in res.files)


def test_sav_files_copied_in_worker_processes_equal_the_serial_copy(tmp_path, monkeypatch):
    import duckdb

    from cbs_handmade import _sav, persons_frame
    from crimcareer.cbs import read

    ra = tmp_path / "ra"
    for y in (2020, 2021, 2022):
        df = persons_frame([101, 102, 103, 104])
        df.loc[1, df.columns[2]] = ""  # an empty string becomes null in both copies
        _sav(ra / f"GBAPERSOON{y}TABV1.sav", df)
    files = [f for f in discover.find_files(ra)]
    cols = list(persons_frame([101]).columns)
    got = {}
    for name, floor in (("serial", 1 << 60), ("workers", 0)):
        monkeypatch.setattr(read, "PARALLEL_MIN_BYTES", floor)
        monkeypatch.setattr(read.os, "cpu_count", lambda: 2)
        r = read.Reader(duckdb.connect(), tmp_path / name)
        (tmp_path / name).mkdir()
        src = r.open_group(files, cols)
        assert bool(r._copies) is False  # every copy made ahead was taken
        got[name] = r.con.execute(f"SELECT * FROM {src.view} ORDER BY __file, 1, 2").df()
    assert len(got["serial"]) == 12 and got["serial"].isna().any().any()
    pd.testing.assert_frame_equal(got["serial"], got["workers"])


def test_polars_readstat_copy_equals_the_pyreadstat_copy(tmp_path):
    """The fast reader against pyreadstat, file by file and row range by row range: text kept
    as written (leading zeros, spaces, dashes), empty text null, SPSS user-missing values null,
    labelled and integer numbers float64; a date column leaves the file to pyreadstat."""
    import datetime as dt

    import numpy as np
    import pyarrow.parquet as pq
    import pyreadstat

    from crimcareer.cbs import read

    n = 1200
    df = pd.DataFrame({
        "RINPERSOONS": ["R", "N", "", "R"] * (n // 4),
        "RINPERSOON": [f"{i:09d}" for i in range(n)],
        "TXT": ["  x ", "", "-", "---------"] * (n // 4),
        "NUM": np.tile([1.0, 2.5, np.nan, 88888888.0, -1.0, 7.0], n // 6),
        "INT": np.arange(n, dtype="int64")})
    sav = tmp_path / "T2020TABV1.sav"
    pyreadstat.write_sav(df, str(sav), variable_value_labels={"NUM": {1.0: "een"}},
                         missing_ranges={"NUM": [-1.0, {"lo": 88888888.0, "hi": 88888888.0}]})
    keep = ["RINPERSOON", "RINPERSOONS", "TXT", "NUM", "INT"]
    for path, fmt in ((sav, ".sav"),):  # .dta: pyreadstat only (trailing spaces, see read.py)
        for first, rows in ((0, 0), (0, 500), (500, 500), (1000, 0)):
            fast, slow = tmp_path / "fast.parquet", tmp_path / "slow.parquet"
            assert read._polars_copy(str(path), keep, str(fast), first, rows)
            read._pyreadstat_copy(str(path), fmt, keep, str(slow), first, rows)
            a, b = pq.read_table(fast), pq.read_table(slow)
            assert a.num_rows == (rows or n - first)
            assert a.schema.names == b.schema.names == list(df.columns)  # file order
            for name in keep:
                # polars writes large_string, pyarrow string: DuckDB reads both as VARCHAR
                assert str(a[name].type).replace("large_", "") == str(b[name].type), name
                assert a[name].to_pylist() == b[name].to_pylist(), (path, name, first)
    assert pq.read_table(tmp_path / "fast.parquet")["NUM"].null_count > 0
    dated = tmp_path / "D2020TABV1.sav"
    pyreadstat.write_sav(df.assign(DAG=dt.date(2020, 1, 1)), str(dated))
    assert not read._polars_copy(str(dated), ["RINPERSOON", "DAG"], str(tmp_path / "d.parquet"),
                                 0, 0)
    read.stat_to_parquet(str(dated), ".sav", ["RINPERSOON", "DAG"], str(tmp_path / "d.parquet"))
    assert pq.read_table(tmp_path / "d.parquet")["DAG"].type == "double"  # pyreadstat's number


def test_a_yearly_sav_file_without_rows_does_not_lose_its_table(tmp_path, monkeypatch):
    """An empty year (both readers): its copy has the columns and no rows, and the table is
    read from the other years instead of failing as a whole."""
    import duckdb

    from cbs_handmade import _sav, persons_frame
    from crimcareer.cbs import read

    ra = tmp_path / "ra"
    full = persons_frame([101, 102, 103])
    _sav(ra / "GBAPERSOON2021TABV1.sav", full)
    _sav(ra / "GBAPERSOON2022TABV1.sav", full.iloc[:0])
    files = list(discover.find_files(ra))
    for name in ("polars-readstat", "pyreadstat"):
        if name == "pyreadstat":
            monkeypatch.setattr(read, "_polars_copy", lambda *a: False)
        (tmp_path / name).mkdir()
        r = read.Reader(duckdb.connect(), tmp_path / name)
        src = r.open_group(files, list(full.columns))
        got = r.con.execute(f"SELECT __year, count(*) FROM {src.view} GROUP BY ALL").fetchall()
        assert got == [(2021, 3)], name


def test_one_large_sav_file_copied_in_row_ranges_equals_the_serial_copy(tmp_path, monkeypatch):
    """A national table is one file: it is split into one row range per core."""
    import duckdb

    from cbs_handmade import _sav, persons_frame
    from crimcareer.cbs import read

    df = pd.concat([persons_frame(list(range(101, 114)))] * 77, ignore_index=True)
    df["RINPERSOON"] = [f"{i:09d}" for i in range(len(df))]  # 1,001 rows
    df.loc[5, df.columns[2]] = ""
    _sav(tmp_path / "ra" / "GBAPERSOON2022TABV1.sav", df)
    files = list(discover.find_files(tmp_path / "ra"))
    got = {}
    for name, floor in (("serial", 1 << 60), ("ranges", 0)):
        monkeypatch.setattr(read, "PARALLEL_MIN_BYTES", floor)
        monkeypatch.setattr(read, "SPLIT_MIN_ROWS", 100)
        monkeypatch.setattr(read, "CHUNK_ROWS", 128)  # ranges and chunks do not line up
        monkeypatch.setattr(read.os, "cpu_count", lambda: 3)
        r = read.Reader(duckdb.connect(), tmp_path / name)
        (tmp_path / name).mkdir()
        r.copy_ahead([(files[0], list(df.columns))])
        parts = r._copies.get((files[0].path, tuple(df.columns)), [])
        src = r.open_group(files, list(df.columns))
        got[name] = (len(parts), r.con.execute(
            f"SELECT * FROM {src.view} ORDER BY RINPERSOON").df())
    assert got["serial"][0] == 0 and got["ranges"][0] == 3
    assert len(got["serial"][1]) == len(df) and got["serial"][1].isna().any().any()
    pd.testing.assert_frame_equal(got["serial"][1], got["ranges"][1])
