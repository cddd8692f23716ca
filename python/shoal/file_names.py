"""Paths a caller gives, refused by the parameter's name when no file can have them.

A NUL ends a name for the operating system, and a lone surrogate has no bytes to write, nor,
under an ASCII-only locale, has a letter such as ``é``: handed to ``open``, ``stat`` or SQLite,
each fails as a bare ``ValueError: embedded null byte`` or a ``UnicodeEncodeError`` that names
neither the path nor the argument that held it. A path longer than the system takes fails as an
``OSError`` that quotes the whole path, however many megabytes it is.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

from shoal.errors import InputError
from shoal.excerpts import shown_path


def check_file_name(path: str, name: str, error: Callable[[str], Exception] = InputError) -> None:
    """Refuse a path with a NUL, a lone surrogate or a character the file system encoding cannot
    write, or longer than any path the system takes, naming it by ``name`` (``ledger``,
    ``paths[0]``, ``item 'a': path``) in an ``error`` (the caller's own class: a ledger's
    ``LedgerError``, a router's ``RoutingError``).

    A name need not be valid Unicode otherwise: Python reads a name's bytes that are not UTF-8
    as surrogates that ``os.fsencode`` takes back (surrogateescape), and those files exist;
    only other surrogates name nothing.
    """
    if "\0" in path:
        raise error(f"{name} {shown_path(path)} contains a NUL character; no file name can")
    try:
        encoded = os.fsencode(path)
    except UnicodeEncodeError as failure:
        raise error(_unencodable_name(path, name, failure)) from None
    longest = _longest_path()
    if longest is not None and len(encoded) > longest:
        raise error(f"{name} {shown_path(path)} is {len(encoded):,} bytes long; no path here "
                    f"is longer than {longest:,}")


def _unencodable_name(path: str, name: str, failure: UnicodeEncodeError) -> str:
    """Why ``path`` has no bytes for the system: a lone surrogate, which no file name holds, or a
    character the file system encoding lacks, as under an ASCII-only locale (``LC_ALL=C``
    without Python's UTF-8 mode), where ``café.txt`` has no ASCII bytes although the file
    exists; a UTF-8 locale names it."""
    try:
        # As a UTF-8 locale encodes it: only a surrogate that stands for no byte fails there.
        path.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as surrogate:
        return (f"{name} has an unpaired surrogate at index {surrogate.start}, which no file "
                "name holds; text must be valid Unicode")
    character = path[failure.start]
    return (f"{name} {shown_path(path)} holds {character!r}, which this locale's file system "
            f"encoding, {failure.encoding!r}, cannot write; start the process under a UTF-8 "
            "locale (e.g. LC_ALL=C.UTF-8)")


def data_file_argument(
    path: object, kind: str, error: Callable[[str], Exception],
) -> str:
    """``path``, the path of a ``kind`` file (``catalog``, ``router``) given to a loader whose
    None means the shipped one, as a string; refused as a TypeError when it is no path, and in
    an ``error`` when it is empty or no file can have it (see `check_file_name`)."""
    if not isinstance(path, (str, os.PathLike)) or isinstance(os.fspath(path), bytes):
        raise TypeError(f"path must be the path of a {kind} file (str or os.PathLike) or None "
                        f"for the shipped {kind}, got {type(path).__name__}")
    text = os.fspath(path)
    if not text.strip():
        # Path("") is the current folder, which would be reported as a folder.
        raise error(f"path is empty: give the path of a {kind} file, or None for the shipped "
                    f"{kind}")
    check_file_name(text, "path", error)
    return text


@functools.cache
def _longest_path() -> int | None:
    """Bytes in the longest path the system takes (4,095 on Linux, 1,023 on macOS), or None
    where it does not say."""
    try:
        # The limit counts the NUL that ends the path in C.
        return os.pathconf("/", "PC_PATH_MAX") - 1
    except (AttributeError, OSError, ValueError):
        return None


def file_version(status: os.stat_result) -> tuple[int, ...]:
    """What changes whenever a file's content may have: the key a cache of a file read by path
    is kept under.

    Size and modification time alone miss a file rewritten in place at the same size whose
    time was set back (``cp -p``, ``rsync -t``, ``os.utime``); the change time cannot be set
    that way, and the device and inode tell a file renamed over the old one.
    """
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns,
            status.st_ctime_ns)
