"""Expected failures that the command line turns into one or two plain lines (never tracebacks).

Exit statuses of every command (documented in README.md and `crimcareer --help`):

- 0: done;
- 1: the data or the study spec is refused (contract rules broken, no offenders in the period,
  an output folder that fails the disclosure check);
- 2: usage or environment (a bad option value, a folder or file that does not exist or cannot be
  read, an output folder that is in use or holds something else, out of memory or disk);
- 3: an unexpected internal error (a bug: rerun with ``--debug`` and report the traceback).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


class StudyError(Exception):
    """The registers hold nothing the study can work on (e.g. no offenders in the period)."""


class OutputFolderError(Exception):
    """The output folder cannot be used (holds other files, is in use, or is not a run)."""
