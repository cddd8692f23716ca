"""Writing a file so that a reader sees the whole old file or the whole new one, never a part.

Opening a file for writing empties it at once, so a reader meanwhile (a ``shoal route`` loading
the router a ``shoal fit --out`` is rewriting) reads half a file, and a writer killed mid-write
leaves half a file where the previous one was. Here the new text goes to a temporary file in the
same folder, is flushed to disk, and is renamed over the old one, which POSIX and Windows both
do in one step. The text is encoded before the temporary file is made, so the file exists only
while its bytes are written: a process killed outright (SIGKILL, which no cleanup can follow)
leaves one only in that window.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

# The lists of files being recorded as written whole (see ``recording``). The command line
# opens one per command; a server opens none, so nothing gathers in a long-lived process.
_recordings: list[list[Path]] = []


@contextmanager
def recording(written: list[Path]) -> Iterator[list[Path]]:
    """Append to ``written`` each file :func:`write_text` puts in place while the block runs, as
    the path it was given, as soon as it is in place: a command stopped afterwards can say
    which of its files are whole."""
    _recordings.append(written)
    try:
        yield written
    finally:
        # By identity: another recording's list may hold the same paths.
        _recordings[:] = [other for other in _recordings if other is not written]


def _record(path: str | os.PathLike[str]) -> None:
    for written in _recordings:
        # Once: a signal raised just after the file was recorded records it again on its way.
        if not written or written[-1] != Path(path):
            written.append(Path(path))


# The write bits of a mode, for its owner, its group and anyone else.
WRITE_BITS = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH


def refuse_read_only(path: str | os.PathLike[str], mode: int | None = None) -> None:
    """Refuse to replace an existing regular file whose mode lets no one write it (0444).

    A replacement is a rename over the file, which its folder allows whatever the file's own
    mode says, and root may write any file: a file made read-only to keep it would be replaced
    without a word. Its mode bits say what its owner meant, so they are checked, not
    ``os.access``. ``mode`` is the file's ``st_mode`` when the caller has it already.

    Raises:
        PermissionError: Naming the file and its mode (errno EACCES).
    """
    if mode is None:
        try:
            mode = os.stat(path).st_mode
        except OSError:
            return  # nothing there to keep; the write reports any other problem
    if stat.S_ISREG(mode) and not mode & WRITE_BITS:
        raise PermissionError(errno.EACCES, f"read-only (mode {stat.S_IMODE(mode):04o}); make "
                              "it writable or choose another path", os.fspath(path))


def write_text(path: str | os.PathLike[str], text: str, *, durable: bool = True) -> None:
    """Write ``text`` as UTF-8 to ``path``, replacing what was there in one step.

    With ``durable`` (the default) the file and its folder entry are flushed to disk before
    returning, so the new file also survives a power cut. Without it the replacement is still
    whole against a stopped or failing process, at a fraction of the cost for many small files.

    The new file keeps the permissions of the file it replaces (a new one gets the usual
    0666 less the umask); a file whose mode lets no one write it is refused
    (:func:`refuse_read_only`). A symbolic link is followed: the file it points to is replaced, and
    the link stays. A path that is not a regular file (``/dev/null``, ``/dev/stdout``) is
    written as it is, having no file to replace; so is a file in a folder this process may not
    create files in, which then is not replaced in one step.

    Raises:
        OSError: The file cannot be written (the temporary file is removed), or is read-only.
    """
    data = text.encode("utf-8")
    try:
        mode: int | None = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None:
        refuse_read_only(path, mode)
    if mode is not None and not stat.S_ISREG(mode):
        # By the name given: /dev/stdout resolves to a pipe's name no one can open.
        _write_in_place(Path(path), data)
        return

    target = Path(os.path.realpath(path))

    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    renaming = False
    try:
        # Inside the try: a Ctrl-C that arrives while the file is being created is raised as
        # soon as os.open returns, and must still find the file to remove.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temporary, stat.S_IMODE(mode))
        renaming = True
        os.replace(temporary, target)
        _record(path)
    except FileExistsError:
        raise  # another writer's temporary file by the same name: not ours to remove
    except PermissionError:
        temporary.unlink(missing_ok=True)
        if mode is None:
            raise
        logger.debug("cannot create a file beside %s; writing it in place", target)
        _write_in_place(target, data)
        _record(path)
        return
    except BaseException:
        # A signal raised as the rename returns finds the new file in place: it is whole.
        if renaming and not os.path.lexists(temporary):
            _record(path)
        temporary.unlink(missing_ok=True)
        raise
    if durable:
        _sync_folder(target.parent)


def _write_in_place(target: Path, data: bytes) -> None:
    with open(target, "wb") as handle:
        handle.write(data)


def _sync_folder(folder: Path) -> None:
    """Flush the folder's entry for the renamed file, so the rename survives a power cut."""
    if os.name != "posix":
        return  # Windows cannot open a folder as a file; NTFS journals the rename.
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some file systems cannot sync a folder; the file itself is on disk
    finally:
        os.close(descriptor)
