"""POPNET snapshot CSVs whose rows all have one fixed width, read with numpy.

A POPNET file is hundreds of millions of rows like ``R;000370116;R;000165410;102``: every row
has the same width, because RINPERSOON has nine digits and the codes three. Such a file is read
here in fixed-size chunks and its person numbers decoded eight digits at a time (SWAR, in
numpy), at about a fifth of the CPU time of a general CSV parse plus the plain-number tests in
SQL (benchmarks/README.md). Hand-written because no CSV reader (DuckDB, polars, Arrow were
measured) exploits a fixed layout.

Nothing here decides what a row means beyond what popnet's SQL decides: a row is *kept* only
when it is a plain pair with a kept code, exactly as the SQL test; every other row of the
layout is returned with its text, for the general path. :func:`layout` gives None for a file
without one layout; :func:`batches` raises LeavesLayout when a row leaves it (a row of another
width, a quote, an extra delimiter, bytes that do not decode), and the caller then discards
that file's batches and reads it with DuckDB instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa

#: Rows of the file per yielded batch (about 150 MB of kept keys at most).
BATCH_ROWS = 1 << 23
CHUNK_ROWS = 1 << 16  # 64k rows: the arrays stay in the CPU's cache (measured against 2**17-2**20)

_ASCII_COMPATIBLE = {"utf-8", "utf8", "latin-1", "latin1", "iso-8859-1", "cp1252",
                     "windows-1252", "ascii"}
_HIGH = np.uint64(0xF0F0F0F0F0F0F0F0)
_ZEROS = np.uint64(0x3030303030303030)
_SIX = np.uint64(0x0606060606060606)
_LANES = np.uint64(0x000000FF000000FF)
_MUL1 = np.uint64(100 + (1000000 << 32))
_MUL2 = np.uint64(1 + (10000 << 32))


@dataclass(frozen=True)
class Layout:
    """Where the five wanted fields sit in every row of a fixed-width file."""

    start: int  # byte offset of the first row (after the header line)
    width: int  # bytes per row, line end included
    rows: int
    fields: tuple[tuple[int, int], ...]  # (offset, length): ego kind, ego number, alter kind,
    #                                      alter number, code
    fixed: tuple[tuple[int, int], ...]  # (offset, byte) every row has: delimiters, line end


@dataclass
class Rows:
    """One snapshot file split as popnet's first pass splits it (kept rows in chunks)."""

    a: list[np.ndarray]  # kept rows: compact ego key (kind number * 10**9 + person number)
    b: list[np.ndarray]  # kept rows: compact alter key
    code: list[np.ndarray]  # kept rows: RELATIE
    skipped: int  # plain pairs with a skipped code (counted only)
    text: list[list[str]]  # every other row: its five fields as text

    def kept(self) -> pa.Table:
        """The kept rows (a BIGINT, b BIGINT, code SMALLINT) without copying the chunks."""
        return pa.table({"a": pa.chunked_array(self.a, pa.int64()),
                         "b": pa.chunked_array(self.b, pa.int64()),
                         "code": pa.chunked_array(self.code, pa.int16())})


def layout(path: Path, delimiter: str, encoding: str, positions: list[int],
           width: int) -> Layout | None:
    """The fixed layout of `path` read from its first data row, or None if it has none.

    `positions` are the column numbers of ego kind, ego number, alter kind, alter number and
    code; the numbers must have `width` digits in that row."""
    if encoding.lower().replace("_", "-") not in _ASCII_COMPATIBLE or len(delimiter) != 1:
        return None
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(1 << 16)
    first = head.find(b"\n")
    second = head.find(b"\n", first + 1)
    if first < 0 or second < 0:
        return None
    row = head[first + 1:second + 1]
    w = len(row)
    body = row[:-2] if row.endswith(b"\r\n") else row[:-1]
    if (size - first - 1) % w or b'"' in body:
        return None
    d = delimiter.encode()
    cuts = [i for i, ch in enumerate(body) if body[i:i + 1] == d]
    bounds = list(zip([0] + [i + 1 for i in cuts], cuts + [len(body)]))
    if max(positions) >= len(bounds):
        return None
    fields = tuple((s, e - s) for s, e in (bounds[p] for p in positions))
    if fields[1][1] != width or fields[3][1] != width or not 0 < fields[4][1] <= 4 \
            or fields[0][1] == 0 or fields[2][1] == 0:
        return None
    fixed = tuple((i, d[0]) for i in cuts) + tuple(
        (len(body) + j, ch) for j, ch in enumerate(row[len(body):]))
    return Layout(first + 1, w, (size - first - 1) // w, fields, fixed)


def _digits(r: np.ndarray, at: int, width: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """The `width`-digit numbers at byte `at` of each row, and whether all were digits."""
    if width == 9:  # eight digits at once as one little-endian word, then the ninth
        x = np.ndarray((len(r),), dtype="<u8", buffer=r, offset=at, strides=(w,)).copy()
        ok = ((x & _HIGH) == _ZEROS) & (((x + _SIX) & _HIGH) == _ZEROS)
        x -= _ZEROS
        x = x * np.uint64(10) + (x >> np.uint64(8))
        x = (((x & _LANES) * _MUL1) + (((x >> np.uint64(16)) & _LANES) * _MUL2)) \
            >> np.uint64(32)
        last = r[:, at + 8] - np.uint8(48)
        ok &= last < 10
        return (x * np.uint64(10) + last).astype(np.int64), ok
    value = np.zeros(len(r), np.int64)
    ok = np.ones(len(r), bool)
    for j in range(width):
        dig = r[:, at + j] - np.uint8(48)
        ok &= dig < 10
        value = value * 10 + dig
    return value, ok


def _kind(r: np.ndarray, at: int, length: int, kinds: list[bytes]) -> np.ndarray:
    """1-based number of each row's kind in `kinds` (0: not a person kind)."""
    if length == 1:  # one byte: a lookup table
        lut = np.zeros(256, np.int64)
        for i, k in reversed(list(enumerate(kinds, 1))):
            if len(k) == 1:
                lut[k[0]] = i
        return lut[r[:, at]]
    out = np.zeros(len(r), np.int64)
    for i, k in enumerate(kinds, 1):
        if len(k) == length:
            hit = np.all(r[:, at:at + length] == np.frombuffer(k, np.uint8), axis=1)
            out[hit & (out == 0)] = i
    return out


class LeavesLayout(Exception):
    """A row of the file is not in its layout (or needs its text more often than allowed)."""


def batches(path: Path, lay: Layout, kinds: tuple[str, ...], kept: set[int],
            skipped: set[int], delimiter: str, encoding: str, max_text: int = 1_000_000,
            batch_rows: int | None = None) -> Iterator[Rows]:
    """The file's rows split into kept compact ties, skipped pairs and text rows, one Rows per
    `batch_rows` rows of the file (so that memory does not grow with the file).

    Raises LeavesLayout when a row leaves the layout, holds a quote or an extra delimiter, its
    text does not decode, or more than `max_text` rows need their text (the SQL path is then
    as fast); what was yielded before must then be discarded."""
    batch_rows = batch_rows or BATCH_ROWS
    w = lay.width
    kb = [k.encode(encoding) for k in kinds]
    (ek, el), (en, ew), (ak, al), (an, aw), (cd, cl) = lay.fields
    scale = 10 ** ew
    # per code: 1 kept, 2 skipped, 0 read as text (codes have at most four digits)
    kind_of_code = np.zeros(10 ** cl, np.int8)
    kind_of_code[[k for k in kept if 0 < k < 10 ** cl]] = 1
    kind_of_code[[k for k in skipped if 0 < k < 10 ** cl]] = 2
    fixed_mask = np.zeros(w, bool)
    fixed_mask[[i for i, _ in lay.fixed]] = True
    d, q = np.uint8(ord(delimiter)), np.uint8(ord('"'))
    a_parts, b_parts, c_parts, text = [], [], [], []
    n_skipped = n_text = in_batch = 0
    buf = bytearray(CHUNK_ROWS * w)
    with path.open("rb") as fh:
        fh.seek(lay.start)
        left = lay.rows
        while left:
            k = min(left, CHUNK_ROWS)
            got = fh.readinto(memoryview(buf)[:k * w])
            if got != k * w:
                raise LeavesLayout(f"{path.name}: shorter than its layout")
            left -= k
            r = np.frombuffer(buf, np.uint8, k * w).reshape(k, w)
            for at, ch in lay.fixed:
                if not (r[:, at] == ch).all():
                    raise LeavesLayout(f"{path.name}: a row of another layout")
            ego_k, alt_k = _kind(r, ek, el, kb), _kind(r, ak, al, kb)
            ego, ok = _digits(r, en, ew, w)
            alt, alt_ok = _digits(r, an, aw, w)
            code, code_ok = _digits(r, cd, cl, w)
            ok &= alt_ok
            ok &= code_ok
            ok &= ego_k > 0
            ok &= alt_k > 0
            ok &= ego > 0
            ok &= alt > 0
            ego += ego_k * scale  # compact keys: kind number, then the person number
            alt += alt_k * scale
            ok &= ego != alt
            cls = kind_of_code[np.where(ok, code, 0)]
            keep = cls == 1
            n_skipped += int(np.count_nonzero(cls == 2))
            if keep.all():
                a_parts.append(ego)
                b_parts.append(alt)
                c_parts.append(code.astype(np.int16))
            else:
                a_parts.append(ego[keep])
                b_parts.append(alt[keep])
                c_parts.append(code[keep].astype(np.int16))
            other = np.flatnonzero(cls == 0)
            if len(other):
                n_text += len(other)
                if n_text > max_text:
                    raise LeavesLayout(f"{path.name}: more than {max_text} rows need their text")
                sub = r[other]
                body = sub[:, ~fixed_mask]
                if (body == q).any() or (body == d).any() or (body == 10).any() \
                        or (body == 13).any():
                    raise LeavesLayout(f"{path.name}: a quote, delimiter or line end in a field")
                try:
                    for row in sub:
                        raw = row.tobytes()
                        text.append([raw[s:s + n].decode(encoding) for s, n in lay.fields])
                except UnicodeDecodeError:
                    raise LeavesLayout(f"{path.name}: text that does not decode") from None
            in_batch += k
            if in_batch >= batch_rows or not left:
                yield Rows(a_parts, b_parts, c_parts, n_skipped, text)
                a_parts, b_parts, c_parts, text = [], [], [], []
                n_skipped = in_batch = 0
