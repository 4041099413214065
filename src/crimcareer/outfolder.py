"""Keep an output folder whole: a run is written beside OUT and moved into place only when done.

- ``staged_output(out, overwrite=...)`` locks OUT against a second run (a lock file beside it),
  refuses an OUT that holds something other than an earlier crimcareer run (unless
  ``overwrite``), hands out a fresh temporary folder ``.<OUT>.partial-*`` beside OUT, and on
  success replaces OUT by it in one rename (the older run is moved aside first, then deleted).
  On failure the temporary folder is deleted: nothing that looks like a result is left, and an
  earlier run in OUT stays as it was.
- A finished run holds ``.crimcareer-run`` (a small JSON marker); ``is_run_folder`` recognises it
  (and runs written before the marker existed: ``manifest.json`` and ``disclosure.json``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from crimcareer import __version__
from crimcareer.errors import OutputFolderError

MARKER = ".crimcareer-run"
#: A finished ``crimcareer cbs convert`` (a contract folder) holds this one instead: it is data,
#: never to be taken for a run (``export``) nor replaced as one (``run --out``).
CONTRACT_MARKER = ".crimcareer-contract"


def is_run_folder(path: Path) -> bool:
    """True if ``path`` holds a finished crimcareer run."""
    if (path / MARKER).is_file():
        return True
    manifest = path / "manifest.json"
    if manifest.is_file() and (path / "disclosure.json").is_file():
        try:
            return "crimcareer" in json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
    return False


def is_contract_folder(path: Path) -> bool:
    """True if ``path`` holds a finished ``crimcareer cbs convert`` (also from before the marker)."""
    return (path / CONTRACT_MARKER).is_file() or (
        (path / "meta.json").is_file() and (path / "conversion_log.json").is_file())


def _check_target(out: Path, overwrite: bool, protect: list[Path],
                  ours: Callable[[Path], bool] = is_run_folder) -> None:
    out_r = out.resolve()
    for p in protect:
        p_r = Path(p).resolve()
        if p_r == out_r or out_r in p_r.parents:
            raise OutputFolderError(
                f"--out {out} would replace {p}: choose an output folder outside the data and the "
                "study spec")
    if not out.exists():
        return
    if not out.is_dir():
        raise OutputFolderError(f"--out {out} is a file, not a folder: choose another --out")
    if overwrite or ours(out) or not any(out.iterdir()):
        return
    what = "run" if ours is is_run_folder else "output of this command"
    raise OutputFolderError(
        f"--out {out} holds files that are not an earlier crimcareer {what}; choose an empty or "
        "new folder, or pass --overwrite to replace its whole content")


class _Lock:
    """An exclusive, non-blocking lock on a file (released when the process ends, even if killed)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fh = open(path, "a+")  # noqa: SIM115 - held until release
        try:
            if os.name == "nt":  # pragma: no cover - Windows (CBS Remote Access desktops)
                import msvcrt

                self.fh.seek(0)
                msvcrt.locking(self.fh.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.fh.seek(0)
            holder = self.fh.read().strip() or "another process"
            self.fh.close()
            raise OutputFolderError(
                f"{path.name[1:-5]} is in use by another crimcareer run ({holder}); wait until it "
                "has finished or choose another --out") from None
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(f"pid {os.getpid()} on {socket.gethostname()} since "
                      f"{dt.datetime.now().isoformat(timespec='seconds')}")
        self.fh.flush()

    def release(self) -> None:
        try:
            self.path.unlink(missing_ok=True)  # while still held: no one else is using it
        except OSError:  # pragma: no cover - Windows cannot delete an open file
            pass
        finally:
            self.fh.close()  # closing releases the lock


@contextmanager
def staged_output(out: str | os.PathLike, *, overwrite: bool = False,
                  protect: list[Path] | None = None,
                  ours: Callable[[Path], bool] = is_run_folder,
                  marker: str = MARKER) -> Iterator[Path]:
    """Yield a temporary folder beside OUT; on success it becomes OUT (see the module doc).

    ``protect``: paths (the data folder, the spec) that OUT must neither be nor contain.
    ``ours``: what an earlier output that may be replaced without ``overwrite`` looks like;
    ``marker``: the file that marks the finished output (MARKER for a run).
    Raises OutputFolderError for an OUT in use, holding other files, or overlapping ``protect``.
    """
    out = Path(out).absolute()
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputFolderError(f"cannot create {parent} ({e.strerror}): choose another --out") from None
    try:
        lock = _Lock(parent / f".{out.name}.lock")
    except PermissionError:
        raise OutputFolderError(f"cannot write in {parent}: choose another --out") from None
    try:
        _check_target(out, overwrite, protect or [], ours)
        for stale in parent.glob(f".{out.name}.partial-*"):  # left by a killed run
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=parent))
        try:
            yield tmp
            (tmp / marker).write_text(json.dumps({
                "crimcareer": __version__,
                "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            }))
            _swap_into_place(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    finally:
        lock.release()


def _swap_into_place(tmp: Path, out: Path) -> None:
    if not out.exists():
        os.replace(tmp, out)
        return
    old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
    os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(old, out)  # put the earlier run back
        raise
    shutil.rmtree(old, ignore_errors=True)
