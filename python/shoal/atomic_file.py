"""Writing a file so that a reader sees the whole old file or the whole new one, never a part.

Opening a file for writing empties it at once, so a reader meanwhile (a ``shoal route`` loading
the router a ``shoal fit --out`` is rewriting) reads half a file, and a writer killed mid-write
leaves half a file where the previous one was. Here the new text goes to a temporary file in the
same folder, is flushed to disk, and is renamed over the old one, which POSIX and Windows both
do in one step.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

logger = logging.getLogger(__name__)


def write_text(path: str | os.PathLike[str], text: str, *, durable: bool = True) -> None:
    """Write ``text`` as UTF-8 to ``path``, replacing what was there in one step.

    With ``durable`` (the default) the file and its folder entry are flushed to disk before
    returning, so the new file also survives a power cut. Without it the replacement is still
    whole against a stopped or failing process, at a fraction of the cost for many small files.

    The new file keeps the permissions of the file it replaces (a new one gets the usual
    0666 less the umask). A symbolic link is followed: the file it points to is replaced, and
    the link stays. A path that is not a regular file (``/dev/null``, ``/dev/stdout``) is
    written as it is, having no file to replace; so is a file in a folder this process may not
    create files in, which then is not replaced in one step.

    Raises:
        OSError: The file cannot be written (the temporary file is removed).
    """
    try:
        mode: int | None = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        # By the name given: /dev/stdout resolves to a pipe's name no one can open.
        _write_in_place(Path(path), text)
        return

    target = Path(os.path.realpath(path))

    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        # Inside the try: a Ctrl-C that arrives while the file is being created is raised as
        # soon as os.open returns, and must still find the file to remove.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temporary, stat.S_IMODE(mode))
        os.replace(temporary, target)
    except FileExistsError:
        raise  # another writer's temporary file by the same name: not ours to remove
    except PermissionError:
        temporary.unlink(missing_ok=True)
        if mode is None:
            raise
        logger.debug("cannot create a file beside %s; writing it in place", target)
        _write_in_place(target, text)
        return
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if durable:
        _sync_folder(target.parent)


def _write_in_place(target: Path, text: str) -> None:
    with open(target, "w", encoding="utf-8") as handle:
        handle.write(text)


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
