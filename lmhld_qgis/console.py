"""The `lmhld` console script and `python -m lmhld_qgis`: the command line is imported inside a guard.

Importing it takes a tenth of a second, before its own handling of Ctrl-C is in place; a Ctrl-C then ended in
Python's traceback. Here it ends as any other cancel does: one line, exit 130, and nothing was started."""

from __future__ import annotations

import sys

CANCELLED_WHILE_STARTING = "lmhld: cancelled while starting; nothing was done"


def main() -> int:
    try:
        from .cli import main as run_command_line
        from .core.errors import CANCELLED
    except KeyboardInterrupt:
        print(CANCELLED_WHILE_STARTING, file=sys.stderr)
        return 130  # core.errors.CANCELLED, which may not be imported yet
    try:
        return run_command_line(final=True)
    except KeyboardInterrupt:  # before the command's own handlers (while its options are read)
        print(CANCELLED_WHILE_STARTING, file=sys.stderr)
        return CANCELLED
