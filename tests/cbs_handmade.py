"""A small CBS Remote Access folder written by hand (not by the twin), for the CBS adapter tests.

Persons 101-113 (RINPERSOON 000000101 ...). Family: 101 x 102 parents of 103 and 104; 105 has
mother 102 and an unknown father (nine dashes); 106 and 107 have no known parent at all; 108 is
registered as its own father (CBS documents such rows), mother 109; 110 has father 111 and mother
102; 112's father has RINPERSOONS F (invalid BSN); 113 is an N-row child.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

DASH9 = "---------"


def rin(i: int) -> str:
    return f"{i:09d}"


def pid(i: int) -> str:
    return "R" + rin(i)


def _sav(path: Path, df: pd.DataFrame, labels: dict | None = None) -> None:
    import pyreadstat

    path.parent.mkdir(parents=True, exist_ok=True)
    pyreadstat.write_sav(df, str(path), variable_value_labels=labels or {})


def _csv(path: Path, df: pd.DataFrame, sep: str = ";", encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, sep=sep, index=False, encoding=encoding)


def persons_frame(ids: list[int], year_shift: int = 0, migration: bool = True) -> pd.DataFrame:
    n = len(ids)
    birth = {101: ("1950", "03", "01"), 102: ("1952", "07", "10"), 103: ("1978", "01", "15"),
             104: ("1981", "11", "28"), 105: ("1983", "02", "--"), 106: ("1990", "--", "--"),
             107: ("1991", "05", "05"), 108: ("1985", "06", "06"), 109: ("1960", "01", "01"),
             110: ("1988", "08", "08"), 111: ("1955", "09", "09"), 112: ("1995", "10", "10"),
             113: ("2022", "12", "12")}
    df = pd.DataFrame({
        "RINPERSOONS": ["N" if i == 113 else "R" for i in ids],
        "RINPERSOON": [rin(i) for i in ids],
        "GBAGEBOORTEJAAR": [str(int(birth[i][0]) + year_shift) for i in ids],
        "GBAGEBOORTEMAAND": [birth[i][1] for i in ids],
        "GBAGEBOORTEDAG": [birth[i][2] for i in ids],
        "GBAGESLACHT": [{101: "1", 102: "2", 105: "-"}.get(i, "1" if i % 2 else "2")
                        for i in ids],
    })
    if migration:
        df["GBAGENERATIE"] = ["-" if i == 106 else "1" if i in (107, 111) else "0" for i in ids]
        df["GBAHERKOMSTGROEPERING"] = [
            {103: "5022", 104: "5107", 105: "----", 106: "0000", 107: "5010", 111: "6024",
             112: "9998"}.get(i, "6030") for i in ids]
    assert len(df) == n
    return df


def write_folder(root: Path) -> Path:
    """Write the hand-made project folder under `root`; returns it."""
    bev = root / "Bevolking"
    ids = list(range(101, 114))
    labels = {"GBAGESLACHT": {"1": "Mannen", "2": "Vrouwen", "-": "Onbekend"}}
    # two versions: V1 has every birth year off by one and must not be used
    _sav(bev / "GBAPERSOONTAB/2022/GBAPERSOON2022TABV1.sav", persons_frame(ids, 1), labels)
    _sav(bev / "GBAPERSOONTAB/2022/GBAPERSOON2022TABV2.sav", persons_frame(ids), labels)
    # the K-table (no migration columns) must not be taken for GBAPERSOONTAB
    _sav(bev / "GBAPERSOONKTAB/GBAPERSOONKTAB2022V1.sav", persons_frame([101], migration=False))
    _sav(root / "Code_Listings/SSBreferentiebestanden/LANDAKTUEELREFV11.sav",
         pd.DataFrame({"LAND": ["5010", "6024"], "LANDTYPE": ["1", "2"]}))
    # deaths: a final ';'-separated Latin-1 CSV of 2021 and a provisional 2022 file (VRL columns)
    _csv(bev / "GBAOVERLIJDENTAB/2021/GBAOVERLIJDEN2021TABV1.csv",
         pd.DataFrame({"RINPERSOONS": ["R"], "RINPERSOON": [rin(109)],
                       "GBADatumOverlijden": ["20210315"], "OPMERKING": ["café"]}),
         encoding="latin-1")
    _sav(bev / "GBAOVERLIJDENTAB/VRLGBAOVERLIJDENTABV2022061.sav",
         pd.DataFrame({"RINPERSOONS": ["R"], "RINPERSOON": [rin(111)],
                       "VRLGBADatumOverlijden": ["20220420"]}))
    ko = {  # child: (kind pa, pa, kind Ma, Ma)
        101: ("-", DASH9, "-", DASH9), 102: ("-", DASH9, "-", DASH9),
        103: ("R", rin(101), "R", rin(102)), 104: ("R", rin(101), "R", rin(102)),
        105: ("-", DASH9, "R", rin(102)), 106: ("-", DASH9, "-", DASH9),
        107: ("-", DASH9, "-", DASH9), 108: ("R", rin(108), "R", rin(109)),
        109: ("-", DASH9, "-", DASH9), 110: ("R", rin(111), "R", rin(102)),
        111: ("-", DASH9, "-", DASH9), 112: ("F", rin(999), "-", DASH9),
        113: ("R", rin(101), "R", rin(102)),
    }
    _sav(bev / "KINDOUDERTAB/KINDOUDER2022TABV1.sav", pd.DataFrame({
        "RINPERSOONS": ["N" if i == 113 else "R" for i in ko], "RINPERSOON": [rin(i) for i in ko],
        "RINPERSOONSpa": [v[0] for v in ko.values()], "RINPERSOONpa": [v[1] for v in ko.values()],
        "RINPERSOONSMa": [v[2] for v in ko.values()], "RINPERSOONMa": [v[3] for v in ko.values()],
        "XKOPPELNUMMER": ["1"] * len(ko)}))
    import pyreadstat

    part = pd.DataFrame({
        "RINPERSOONS": ["R"] * 6,
        "RINPERSOON": [rin(101), rin(102), rin(111), rin(102), rin(103), rin(104)],
        "RINPERSOONSVERBINTENISP": ["R", "R", "R", "R", "-", "R"],
        "RINPERSOONVERBINTENISP": [rin(102), rin(101), rin(102), rin(111), DASH9, rin(104)],
        "AANVANGVERBINTENIS": ["19750601", "19750601", "19800101", "19800101", "20000101",
                               "20010101"],
        "EINDEVERBINTENIS": ["88888888", "88888888", "19850101", "19850101", "88888888",
                             "88888888"],
        "TYPEVERBINTENIS": ["H", "H", "H", "H", "P", "P"],
    })
    dta = bev / "GBAVERBINTENISPARTNERBUS/geconverteerde data"
    dta.mkdir(parents=True)
    pyreadstat.write_dta(part, str(dta / "GBAVERBINTENISPARTNER2022BUSV1.dta"))
    _sav(bev / "GBAHUISHOUDENSBUS/GBAHUISHOUDENS2022BUSV1.sav", pd.DataFrame({
        "RINPERSOONS": ["R"] * 4, "RINPERSOON": [rin(101), rin(102), rin(103), rin(105)],
        "HUISHOUDNR": ["H1", "H1", "H1", "H2"],
        "DATUMAANVANGHH": ["19941001", "19941001", "19941001", "20100101"],
        "DATUMEINDEHH": ["20221231", "20221231", "19990101", "20150101"],
        "TYPHH": ["5", "5", "5", "1"], "PLHH": ["6", "6", "1", "2"]}))
    # POPNET neighbours 2020-2022: 103->104 in every snapshot; 105->106 only in 2021; a code 100
    # (unknown relation) and a self-tie; classmates 2021 only
    for y in (2020, 2021, 2022):
        rows = [("R", rin(103), "R", rin(104), "101"), ("R", rin(104), "R", rin(103), "101")]
        if y == 2021:
            rows += [("R", rin(105), "R", rin(106), "102"), ("R", rin(106), "R", rin(107), "100"),
                     ("R", rin(107), "R", rin(107), "101")]
        _csv(bev / f"BURENNETWERKTAB/BURENNETWERK{y}TABV1.csv", pd.DataFrame(rows, columns=[
            "RINPERSOONS", "RINPERSOON", "RINPERSOONSRELATIE", "RINPERSOONRELATIE", "RELATIE"]))
    _csv(bev / "KLASGENOTENNETWERKTAB/KLASGENOTENNETWERK2021TABV1.csv", pd.DataFrame(
        [("R", rin(110), "R", rin(112), "503")], columns=[
            "RINPERSOONS", "RINPERSOON", "RINPERSOONSRELATIE", "RINPERSOONRELATIE", "RELATIE"]))
    # justice: an own-data file with ',' and the project's mapping for it
    _csv(root / "VeiligheidRecht/OMZAKEN.csv", pd.DataFrame({
        "RINPERSOONS": ["R", "R", "R"], "RINPERSOON": [rin(103), rin(103), rin(105)],
        "ZAAKNR": ["7001", "7002", "7003"], "PLEEGDATUM": ["20100105", "20120210", "20150101"],
        "AFDOENINGSDATUM": ["20110101", "20501231", "--------"],
        "CATEGORIE": ["MH", "VM", "MH"], "AFDOENING": ["1", "9", "0"]}), sep=",")
    return root


MAPPING = """
[[cases]]
from = "OMZAKEN"
[cases.columns]
case_id = "ZAAKNR"
person_id = { key = ["RINPERSOONS", "RINPERSOON"] }
offence_date = { date = "PLEEGDATUM" }
disposal_date = { date = "AFDOENINGSDATUM", missing = { "--------" = "not_applicable" } }
offence_category = { column = "CATEGORIE", codes = { "MH" = "trafficking_sexual", "VM" = "property" } }
outcome = { column = "AFDOENING", codes = { "1" = "conviction", "0" = "pending" }, unmapped = "keep" }

[[detentions]]
from = "GEDETINEERDENTAB"
[detentions.columns]
person_id = { key = ["RINPERSOONS", "RINPERSOON"] }
start_date = { date = "BEGIN" }
"""
