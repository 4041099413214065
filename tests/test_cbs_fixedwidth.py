"""POPNET's fixed-width CSV reading (crimcareer.cbs.fixedwidth) against a slow, obvious reading."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

from crimcareer.cbs import fixedwidth

KINDS = ("R", "N")
KEPT, SKIPPED = {101, 102, 201, 304}, {301, 302}
HEADER = "RINPERSOONS;RINPERSOON;RINPERSOONSRELATIE;RINPERSOONRELATIE;RELATIE"


def _rows(seed: int = 1, n: int = 5000) -> list[list[str]]:
    """Plain rows and, in the same widths, every odd kind of row: dashes, zeros, other kinds,
    self-ties, x00 and unknown codes, letters in numbers or codes, non-ASCII text."""
    rng = np.random.default_rng(seed)
    odd = ["---------", "000000000", "00000001x", " 00000012", "12345678-", "é0000001"]
    rows = []
    for _ in range(n):
        kind = [str(rng.choice(["R", "R", "R", "N", "X"])) for _ in range(2)]
        num = [f"{int(rng.integers(0, 50)):09d}" for _ in range(2)]
        if rng.random() < 0.05:
            num[int(rng.integers(0, 2))] = str(rng.choice(odd))
        code = str(rng.choice(["101", "102", "100", "201", "301", "302", "304", "999", "1a1"]))
        rows.append([kind[0], num[0], kind[1], num[1], code])
    return rows


def split_rows(path: Path, lay, kinds, kept, skipped, delimiter: str, encoding: str):
    """The whole file as one Rows (all its batches joined), or None if it leaves its layout."""
    try:
        parts = list(fixedwidth.batches(path, lay, kinds, kept, skipped, delimiter, encoding))
    except fixedwidth.LeavesLayout:
        return None
    return fixedwidth.Rows([x for p in parts for x in p.a], [x for p in parts for x in p.b],
                           [x for p in parts for x in p.code], sum(p.skipped for p in parts),
                           [t for p in parts for t in p.text])


def _write(path: Path, rows: list[list[str]], end: str = "\n", encoding: str = "utf-8") -> Path:
    path.write_bytes((HEADER + end + "".join(";".join(r) + end for r in rows)).encode(encoding))
    return path


def _reference(path: Path, encoding: str):
    """Kept (a, b, code), the skipped count and the other rows' text, read row by row."""
    kept, skipped, text = [], 0, []
    with path.open(newline="", encoding=encoding) as fh:
        for ek, en, ak, an, cd in list(csv.reader(fh, delimiter=";"))[1:]:
            plain = (ek in KINDS and ak in KINDS and all(
                re.fullmatch("[0-9]{9}", x) and x != "0" * 9 for x in (en, an))
                and (ek, en) != (ak, an) and re.fullmatch("[0-9]{3}", cd) is not None)
            if plain and int(cd) in KEPT:
                kept.append(((KINDS.index(ek) + 1) * 10**9 + int(en),
                             (KINDS.index(ak) + 1) * 10**9 + int(an), int(cd)))
            elif plain and int(cd) in SKIPPED:
                skipped += 1
            else:
                text.append([ek, en, ak, an, cd])
    return kept, skipped, text


@pytest.mark.parametrize("end, encoding, chunk", [("\n", "utf-8", 1 << 16), ("\r\n", "utf-8", 7),
                                                  ("\n", "latin-1", 1000)])
def test_fixed_width_rows_equal_a_row_by_row_reading(tmp_path, monkeypatch, end, encoding, chunk):
    monkeypatch.setattr(fixedwidth, "CHUNK_ROWS", chunk)  # 7: many chunks, a short last one
    rows = _rows()
    rows[0] = ["R", "000000001", "R", "000000002", "101"]  # the layout is read from this row
    rows = [r for r in rows if len("".join(r).encode(encoding)) == 23]  # one width in bytes
    path = _write(tmp_path / "BURENNETWERK2020TABV1.csv", rows, end, encoding)
    lay = fixedwidth.layout(path, ";", encoding, [0, 1, 2, 3, 4], 9)
    assert lay is not None and lay.rows == len(rows) and lay.width == 27 + len(end)
    got = split_rows(path, lay, KINDS, KEPT, SKIPPED, ";", encoding)
    kept, skipped, text = _reference(path, encoding)
    assert got is not None
    table = got.kept()
    assert list(zip(*(table[c].to_pylist() for c in ("a", "b", "code")))) == kept
    assert got.skipped == skipped > 0
    assert got.text == text
    # in batches of 10 rows of the file (chunks of 7: a batch ends after the chunk that fills it)
    parts = list(fixedwidth.batches(path, lay, KINDS, KEPT, SKIPPED, ";", encoding,
                                    batch_rows=10))
    assert (len(parts) > 1) == (chunk < len(rows))
    assert [t for p in parts for t in p.text] == text
    assert sum(p.skipped for p in parts) == skipped
    assert [x for p in parts for x in p.kept()["a"].to_pylist()] == [k[0] for k in kept]
    # every kind of odd row was met (else the comparison proves less than it seems)
    flat = {x for r in text for x in r}
    assert {"---------", "000000000", "X", "100", "999", "1a1"} <= flat
    assert any(r[1] == r[3] and r[0] == r[2] for r in text)  # a self-tie


@pytest.mark.parametrize("tamper, why", [
    (lambda rows: rows + [["R", "00000001", "R", "000000002", "101"]], "a shorter row"),
    (lambda rows: rows[:3] + [["R", '"00000001', "R", "000000002", "101"]] + rows[3:], "a quote"),
    (lambda rows: rows + [["R", "0000;0001", "R", "000000002", "101"]], "an extra delimiter"),
    (lambda rows: rows + [["R", "000000001", "R", "000000002", "1\n1"]], "a line break"),
])
def test_a_file_that_leaves_its_layout_is_left_to_the_sql_reading(tmp_path, tamper, why):
    rows = [["R", f"{i:09d}", "R", f"{i + 1:09d}", "101"] for i in range(1, 50)]
    path = _write(tmp_path / "f.csv", tamper(rows))
    lay = fixedwidth.layout(path, ";", "utf-8", [0, 1, 2, 3, 4], 9)
    assert lay is None or split_rows(path, lay, KINDS, KEPT, SKIPPED, ";",
                                                "utf-8") is None, why


def test_no_layout_for_other_number_widths_quotes_or_encodings(tmp_path):
    path = _write(tmp_path / "f.csv", [["R", "1", "R", "2", "101"]])
    assert fixedwidth.layout(path, ";", "utf-8", [0, 1, 2, 3, 4], 9) is None
    path = _write(tmp_path / "g.csv", [["R", "000000001", "R", "000000002", "101"]])
    assert fixedwidth.layout(path, ";", "utf-16", [0, 1, 2, 3, 4], 9) is None
    assert fixedwidth.layout(path, ";", "utf-8", [0, 1, 2, 3, 5], 9) is None  # no sixth column
