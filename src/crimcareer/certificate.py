"""Validation certificates: `crimcareer validate` vouches for the exact files of a valid
parquet folder, so that `crimcareer run` need not validate them again (issue 14).

A certificate holds, per contract table file (and meta.json), its size, modification time and
a SHA-256 of its last 64 KiB: a parquet file's footer (schema, row groups, statistics) is
there, so any rewrite changes it; a change of size or time changes the rest. It also holds
the crimcareer version and a hash of the contract, since a new rule must be checked. It is
kept outside the data folder (CBS Remote Access data folders are read-only), in
``$CRIMCAREER_CACHE`` or ``~/.cache/crimcareer``, under a hash of the folder's absolute path.
It says nothing of the data beyond file names, sizes and hashes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

from crimcareer import contract
from crimcareer.tablefiles import table_files

TAIL_BYTES = 65_536


def cache_dir() -> Path:
    """Where certificates are kept: $CRIMCAREER_CACHE, else $XDG_CACHE_HOME or ~/.cache."""
    if os.environ.get("CRIMCAREER_CACHE"):
        return Path(os.environ["CRIMCAREER_CACHE"]) / "certificates"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "crimcareer" / "certificates"


def certificate_path(folder: str | Path) -> Path:
    """The certificate file of a folder (by its absolute path)."""
    key = hashlib.sha256(str(Path(folder).resolve()).encode()).hexdigest()[:24]
    return cache_dir() / f"{key}.json"


def _contract_hash() -> str:
    """The contract and the rules that check it (their source): a change invalidates."""
    here = Path(__file__).parent
    h = hashlib.sha256(repr(contract.TABLES).encode())
    for name in ("contract.py", "validation.py"):
        h.update((here / name).read_bytes())
    return h.hexdigest()[:16]


def _version() -> str:
    from crimcareer import __version__

    return __version__


def fingerprint(folder: str | Path) -> dict[str, dict]:
    """Size, modification time and tail hash of every contract file (and meta.json)."""
    folder = Path(folder)
    files = list(table_files(folder).values())
    if (folder / "meta.json").exists():
        files.append(folder / "meta.json")
    out = {}
    for p in sorted(files):
        st = p.stat()
        with open(p, "rb") as f:
            f.seek(max(st.st_size - TAIL_BYTES, 0))
            tail = hashlib.sha256(f.read()).hexdigest()
        out[p.name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "tail_sha256": tail}
    return out


def certifiable(folder: str | Path) -> bool:
    """Only folders used in place (every table parquet) get a certificate: other input is
    converted by every run anyway."""
    files = table_files(folder)
    return bool(files) and all(p.suffix == ".parquet" for p in files.values())


def write_certificate(folder: str | Path) -> Path | None:
    """Record that the folder, as it is now, passed every contract rule; None when the folder
    is not certifiable or the cache cannot be written."""
    if not certifiable(folder):
        return None
    doc = {"folder": str(Path(folder).resolve()), "crimcareer": _version(),
           "contract": _contract_hash(),
           "validated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
           "files": fingerprint(folder)}
    path = certificate_path(folder)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=2))
        tmp.replace(path)
    except OSError:
        return None
    return path


def trusted_certificate(folder: str | Path) -> dict | None:
    """The folder's certificate if it matches the files as they are now, the contract and the
    crimcareer version; else None (then the folder must be validated)."""
    path = certificate_path(folder)
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if doc.get("crimcareer") != _version() or doc.get("contract") != _contract_hash():
        return None
    if not certifiable(folder) or doc.get("files") != fingerprint(folder):
        return None
    return doc


def forget_certificate(folder: str | Path) -> None:
    """Remove a folder's certificate (a failed validation)."""
    try:
        certificate_path(folder).unlink()
    except OSError:
        pass
