"""Where the ``docpipe`` command writes: results to stdout, progress and errors to stderr."""

from __future__ import annotations

import sys


def out(line: str = "") -> None:
    """A line of the command's result (what a script pipes on)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def err(line: str) -> None:
    """A line for the person at the terminal: progress, notes and errors."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
