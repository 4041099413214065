"""Find CBS tables in a Remote Access project folder and choose one file per table and year.

CBS names files ``<STEM><YYYY><TAB|BUS>V<n>`` (``GBAPERSOON2023TABV1.sav``); older files put the
year after the kind (``GBAPERSOONTAB 2016V1``) or carry a date stamp (``120229 KINDOUDERTAB
2010V1``); provisional files start with ``VRL`` and carry a year-month in the version
(``VRLGBAOVERLIJDENTABV2024061``); reference files are ``<NAME>REFV<n>``. Converted copies (.dta, .csv, .parquet) sit in a
``geconverteerde data`` sub-folder. A file whose name follows none of these (a project's own data)
is a table of its own name without year or version.

Choice per table and year: the highest version number; among copies of one version the fastest
format to read (parquet, then .sav, .dta, .csv); a provisional file only for a year without a
final one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

FORMATS = (".parquet", ".sav", ".zsav", ".dta", ".csv")
_PREFERENCE = {".parquet": 0, ".sav": 1, ".zsav": 1, ".dta": 2, ".csv": 3}
_NAME = re.compile(
    r"^(?:\d{6}\s+)?(?P<vrl>VRL)?(?P<stem>[A-Z][A-Z0-9_]*?)(?P<year>(?:19|20)\d{2})?"
    r"(?P<kind>TAB|BUS)\s*(?P<year2>(?:19|20)\d{2})?V(?P<ver>\d+)$",
    re.IGNORECASE,
)
_REF = re.compile(r"^(?P<stem>[A-Z][A-Z0-9_]*?REF)V(?P<ver>\d+)$", re.IGNORECASE)


@dataclass(frozen=True)
class CbsFile:
    """One file of a CBS table: table name (stem + TAB/BUS), year, version, provisional flag."""

    path: Path
    table: str
    year: int | None
    version: int
    provisional: bool = False

    @property
    def format(self) -> str:
        return self.path.suffix.lower()

    @property
    def name(self) -> str:
        return self.path.stem


def parse_name(path: Path) -> CbsFile:
    """Table, year and version from a file name (own data: the name itself, no year/version)."""
    m = _NAME.match(path.stem.strip())
    if not m:
        r = _REF.match(path.stem.strip())  # reference files: LANDAKTUEELREFV11
        if r:
            return CbsFile(path, r["stem"].upper(), None, int(r["ver"]))
        return CbsFile(path, path.stem.strip().upper(), None, 0)
    table = (m["stem"] + m["kind"]).upper()
    year = m["year"] or m["year2"]
    ver = m["ver"]
    provisional = bool(m["vrl"])
    if provisional and len(ver) >= 6 and year is None:
        # VRL...TABV<YYYYMM><n>: the year-month of the delivery, then its number
        year, ver = ver[:4], ver[4:]
    return CbsFile(path, table, int(year) if year else None, int(ver or 0), provisional)


def find_files(root: Path) -> list[CbsFile]:
    """Every readable data file under `root` (hidden folders skipped), parsed."""
    out = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix.lower() in FORMATS and not any(
                part.startswith(".") for part in p.relative_to(root).parts):
            out.append(parse_name(p))
    return out


@dataclass
class Choice:
    """The file chosen for one table and year, the files passed over and why."""

    table: str
    year: int | None
    file: CbsFile
    reason: str
    passed_over: list[CbsFile] = field(default_factory=list)


def choose(files: list[CbsFile], table: str, pins: tuple[str, ...] = ()) -> list[Choice]:
    """Per year of `table`: the chosen file (pinned file names win), ordered by year."""
    cands = [f for f in files if f.table == table.upper()]
    if pins:
        wanted = {p.upper() for p in pins}
        pinned = [f for f in cands if f.name.upper() in wanted or f.path.name.upper() in wanted]
        missing = wanted - {f.name.upper() for f in pinned} - {f.path.name.upper() for f in pinned}
        if missing:
            raise FileNotFoundError(f"pinned file(s) of {table} not found: {sorted(missing)}")
        by_year: dict[int | None, list[CbsFile]] = {}
        for f in pinned:
            by_year.setdefault(f.year, []).append(f)
        return [_pick(y, fs, [f for f in cands if f.year == y], "pinned in the mapping")
                for y, fs in sorted(by_year.items(), key=lambda kv: kv[0] or 0)]
    years = sorted({f.year for f in cands}, key=lambda y: y or 0)
    out = []
    for y in years:
        same = [f for f in cands if f.year == y]
        final = [f for f in same if not f.provisional]
        if final:
            top = max(f.version for f in final)
            best = [f for f in final if f.version == top]
            why = (f"highest version V{top}" + (f" of {len({f.version for f in final})}"
                                                if len({f.version for f in final}) > 1 else ""))
        else:
            top = max(f.version for f in same)
            best = [f for f in same if f.version == top]
            why = f"provisional (VRL) delivery {top}: no final file for {y}"
        out.append(_pick(y, best, same, why))
    return out


def _pick(year: int | None, best: list[CbsFile], same: list[CbsFile], why: str) -> Choice:
    best = sorted(best, key=lambda f: (_PREFERENCE[f.format], str(f.path)))
    chosen = best[0]
    if len(best) > 1:
        why += f"; {chosen.format} read before {', '.join(f.format for f in best[1:])} copies"
    return Choice(chosen.table, year, chosen, why, [f for f in same if f is not chosen])


def tables(files: list[CbsFile]) -> list[str]:
    """The table names present, sorted."""
    return sorted({f.table for f in files})
