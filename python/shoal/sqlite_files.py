"""SQLite files in WAL mode that this process may only read: the spend ledger and the feedback
database.

A WAL-mode database keeps a write-ahead log (``-wal``) and a shared-memory index (``-shm``)
beside its file. A reader that may not write the database would still create both, read-only to
everyone else, and every later writer would fail on them. So a file this process may not write
is opened read-only: as ``immutable`` when no log is beside it (all its records are in the
file, and SQLite then creates no side file), else through the log and index already there.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def side_files(file: Path) -> tuple[Path, Path]:
    """SQLite's write-ahead log and shared-memory index of a WAL-mode database."""
    return file.with_name(file.name + "-wal"), file.with_name(file.name + "-shm")


def is_writable(file: Path) -> bool:
    """Whether this process may write ``file`` and the log SQLite keeps beside it (in its
    folder, or already there)."""
    if not os.access(file, os.W_OK):
        return False
    if os.access(file.parent, os.W_OK | os.X_OK):
        return True
    return all(os.access(side, os.W_OK) for side in side_files(file))


def unreadable_cause(file: Path, *, reads: str, writes: str) -> str | None:
    """Why this process cannot read the database ``file``, with advice; None when it may.

    Args:
        file: The database file, which exists.
        reads: What reading it does, for the advice (``see what a scope has spent``).
        writes: What writing it does (``record calls or set limits``).
    """
    if os.access(file, os.R_OK):
        return None
    return (f"the file is not readable by this user (mode {_mode(file)}); give this user read "
            f"access to {reads}, and write access too to {writes}")


def unwritable_cause(file: Path, *, kind: str, writes: str) -> str | None:
    """Why this process cannot write the database ``file``, with advice; None when no
    permission of the file, its side files or its folder explains it.

    Args:
        file: The database file.
        kind: What the database is, as messages name it (``ledger``).
        writes: What writing it does, for the advice (``record calls or set limits``).
    """
    log, index = side_files(file)
    if file.exists() and not os.access(file, os.W_OK):
        return (f"the file is read-only to this user (mode {_mode(file)}); make it writable to "
                f"{writes}")
    for side in (log, index):
        if side.exists() and not os.access(side, os.W_OK):
            # The index is rebuilt from the log; the log holds records, never to be deleted.
            deletable = ""
            if side == index:
                deletable = f", or delete it while no process has the {kind} open"
            return (f"SQLite's {side.name} beside it is read-only to this user (mode "
                    f"{_mode(side)}); make it writable{deletable}")
    if not os.access(file.parent, os.W_OK | os.X_OK):
        return (f"its folder {file.parent} is not writable, and SQLite keeps the {kind}'s "
                f"{log.name} and {index.name} files there")
    return None


def read_only_uri(file: Path) -> tuple[str, bool] | None:
    """The URI to read ``file`` by without creating a side file, and whether it is read as
    ``immutable``; None when a log is beside it without its index, which SQLite would create
    (read-only to every later writer)."""
    log, index = side_files(file)
    uri = f"{file.resolve().as_uri()}?mode=ro"
    if not log.exists():
        return f"{uri}&immutable=1", True
    if not index.exists():
        return None
    return uri, False


def file_state(file: Path) -> tuple[int, int, int, bool] | None:
    """What tells a change of a database file: its identity, size and time, and whether a
    write-ahead log is beside it; None when it is gone. A file read as ``immutable`` is read
    without locks, so a state that differs after the read means a writer came meanwhile."""
    try:
        status = file.stat()
    except OSError:
        return None
    return status.st_ino, status.st_size, status.st_mtime_ns, side_files(file)[0].exists()


def _mode(path: Path) -> str:
    return f"{stat.S_IMODE(path.stat().st_mode):04o}"
