"""The standard streams of a command started with one of them closed (``shoal count hi >&-``).

Python sets ``sys.stdin``, ``sys.stdout`` or ``sys.stderr`` to None for a descriptor that is
closed at start. Left so, a ``print()`` is silently dropped, a ``write()`` fails with an
``AttributeError``, and the next file opened takes the free number 0, 1 or 2, where a library
or a child process writing to "standard output" would write into it. Here each closed
descriptor is held by the null device, and standard input or output becomes a stand-in
whose use raises ``OSError``: a command that reads or writes it fails with one line
(``standard input is closed``), as for any other stream it cannot use. Standard error, where
that line would go, discards what is written to it: the exit status is all a caller can get.
"""

from __future__ import annotations

import codecs
import errno
import io
import os
import sys
from typing import Any, NoReturn

STDOUT_CLOSED = "standard output is closed; redirect it to /dev/null to discard what it shows"


class _ClosedStream(io.TextIOBase):
    """A standard stream whose descriptor was closed at start: reading or writing it raises
    ``OSError`` (EBADF, as the system would), and flushing it has nothing to do."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.buffer = _ClosedBinaryStream(name)

    def _refuse(self, *args: Any) -> NoReturn:
        raise OSError(errno.EBADF, f"{self.name} is closed")

    read = readline = write = _refuse  # type: ignore[assignment]

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True


class _ClosedBinaryStream(io.RawIOBase):
    """The ``buffer`` of a `_ClosedStream`, which commands that read or write bytes use."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def _refuse(self, *args: Any) -> NoReturn:
        raise OSError(errno.EBADF, f"{self.name} is closed")

    read = readinto = readline = readall = write = _refuse  # type: ignore[assignment]

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True


def stand_in_for_closed_streams() -> None:
    """Give each standard stream the process started without a stand-in, and hold its
    descriptor with the null device. A stream that is open is left as it is."""
    if sys.stdin is None:
        _hold_descriptor(0)
        sys.stdin = _ClosedStream("standard input")
    if sys.stdout is None:
        _hold_descriptor(1)
        sys.stdout = _ClosedStream("standard output")
    if sys.stderr is None:
        _hold_descriptor(2)
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # kept open to the end


def write_utf8() -> None:
    """Write stdout and stderr in UTF-8 whatever the locale, keeping each stream's handling of
    what cannot be encoded. shoal's text is UTF-8, as its input must be; under an ASCII-only
    locale (``LC_ALL=C``) Python would fail on the first ``é`` of a kept text or a name."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and codecs.lookup(stream.encoding).name != "utf-8":
            stream.reconfigure(encoding="utf-8")


def stdout_closed() -> bool:
    """Whether the process started with standard output closed (after
    `stand_in_for_closed_streams`)."""
    return isinstance(sys.stdout, _ClosedStream)


def stdin_closed() -> bool:
    """Whether the process started with standard input closed (after
    `stand_in_for_closed_streams`)."""
    return isinstance(sys.stdin, _ClosedStream)


def _hold_descriptor(descriptor: int) -> None:
    try:
        os.fstat(descriptor)
        return  # open after all (Python gives None for some open ones too, as on Windows)
    except OSError:
        pass
    null = os.open(os.devnull, os.O_RDWR)
    if null != descriptor:
        os.dup2(null, descriptor)
        os.close(null)
