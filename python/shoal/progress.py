"""A progress line on stderr for the command line's long steps (a folder count, a fit, an eval,
a batch routed).

Library functions take a plain callback, ``progress(step, done, total)``, and know nothing of
terminals; the command line passes a :class:`ProgressLine`. The line appears only once a command
has run for :data:`PROGRESS_DELAY_S` (quick runs print nothing), and by default only when stderr
is a terminal: a pipe, a log file or a README transcript gets no carriage returns.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

# A step's name, how much of it is done, and its total.
Progress = Callable[[str, int, int], None]

# Seconds a command runs before its progress line appears.
PROGRESS_DELAY_S = 1.0
# Seconds between two redrawings of the line: a step may report thousands of times a second.
REDRAW_S = 0.1
PROGRESS_MODES = ("auto", "always", "never")
_BAR_WIDTH = 30


def check_callback(name: str, callback: object) -> None:
    """Refuse a callback that is neither None nor callable, before any work: else the work runs
    until its first report, then stops with Python's "'int' object is not callable", which
    names no parameter."""
    if callback is not None and not callable(callback):
        raise TypeError(f"{name} must be a function or None, not {type(callback).__name__}")


def add_progress_option(parser: argparse.ArgumentParser, *, only_with: str | None = None) -> None:
    """The ``--progress`` option every long command takes, as ``shoal count`` has it.

    ``only_with`` names the option of the command's one long use (``--file``): there the
    default is None rather than ``auto``, so that the command can refuse a ``--progress``
    given without it, even ``auto``, and leave the default alone.
    """
    when = f" with {only_with}" if only_with else ""
    parser.add_argument(
        "--progress",
        choices=PROGRESS_MODES,
        default=None if only_with else "auto",
        help=f"progress bar on stderr{when}: auto shows it on a terminal after one second"
        + (" (default: auto)" if only_with else ""),
    )


class ProgressLine:
    """One line on stderr, redrawn in place: ``calibrating confidence [####------] 512/8,192``.

    Args:
        mode: ``auto`` (on a terminal), ``always`` or ``never``.
    """

    def __init__(self, mode: str) -> None:
        self.enabled = mode == "always" or (mode == "auto" and sys.stderr.isatty())
        self.started = time.monotonic()
        self._drawn_at = -REDRAW_S
        self._width = 0  # of the line drawn last, so a shorter one blanks what it leaves

    def __call__(self, step: str, done: int, total: int, unit: str = "") -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.started < PROGRESS_DELAY_S:
            return
        # A step's last count is drawn however soon it comes: the line then reads as finished.
        if done < total and now - self._drawn_at < REDRAW_S:
            return
        self._drawn_at = now
        filled = _BAR_WIDTH * done // max(total, 1)
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        line = f"{step} [{bar}] {done:,}/{total:,}{f' {unit}' if unit else ''}"
        print(f"\r{line:{self._width}}", end="", file=sys.stderr, flush=True)
        self._width = len(line)

    def clear(self) -> None:
        """Blank the line and return to its start, so that a line printed next (to stdout on the
        same terminal, or a message on stderr) is not written over it; it is drawn again at the
        next report."""
        if self._width:
            print(f"\r{'':{self._width}}\r", end="", file=sys.stderr, flush=True)
            self._width = 0
            self._drawn_at = -REDRAW_S

    def close(self) -> None:
        """End the line, so what the command prints next starts on a line of its own."""
        if self._width:
            print(file=sys.stderr, flush=True)
            self._width = 0
