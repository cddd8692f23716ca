"""Checks of a path an output option is given (``--json``, ``--plot``, ``fit --out``,
``Router.save``...), made before any work: nothing a command would destroy or could not write.

Lives apart from the command line so that the library's writers (``Router.save``) check their
path as the options do without importing ``shoal.cli``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from shoal.atomic_file import refuse_read_only

# Paths that name this process's standard output. An output option given one carries the
# command's data there (`fit --out /dev/stdout | jq`), so what the command prints about it goes
# to stderr instead of into the data.
STDOUT_PATHS = frozenset({"/dev/stdout", "/dev/fd/1"})


# What an output option writes, as its message names it. An existing file may be replaced only by
# an output of its own kind, so that a mistyped path cannot turn a router into an evaluation, or
# a price file into a chat. An SVG is recognised by its first non-blank bytes; a JSON output by
# parsing, since a labels file in JSON Lines begins like one. Only the head of a file too large
# for its kind is read (a ledger given by mistake may be gigabytes).
OUTPUT_KINDS = {
    "svg": "an SVG",
    "router": "a shoal router file",
    "evaluation": "a shoal eval result",
    "chat": "a JSON list of chat messages",
}
SVG_OPENINGS = (b"<svg", b"<?xml")
JSON_OPENINGS = (b"{", b"[")
UTF8_BOM = b"\xef\xbb\xbf"
HEAD_BYTES = 64 * 1024
MOST_JSON_BYTES_PARSED = 64 * 1024 * 1024

# An input a command reads: how it was named when not typed as this path on the command line
# (an environment variable or a default: the message says so), and its path.
InputFile = tuple[str | None, Path | str | None]


def check_output_file(
    out: Path, option: str, what: str, *, kind: str, inputs: Sequence[InputFile] = ()
) -> None:
    """Refuse, before any work, an output path that cannot be written or whose writing would
    destroy something.

    Refused: ``-`` (which reads stdin everywhere else), one of the command's ``inputs`` (by
    resolved path, or the same file by another name), a folder, a path whose folder does not
    exist, an existing path that is neither a regular file nor a character device such as
    /dev/null (a named pipe would block the write forever), an existing file whose mode lets no
    one write it (see :func:`shoal.atomic_file.refuse_read_only`), and an existing non-blank
    file that is not of ``kind`` (a key of OUTPUT_KINDS). A previous output of the same kind may
    be overwritten. ``what`` names what is written, for the message ("the chart").
    """
    if str(out) == "-":
        raise ValueError(f"{option} -: output goes to a file; name one")

    for named_by, path in inputs:
        if path is not None and str(path) != "-" and _same_file(out, Path(path)):
            source = f" ({named_by})" if named_by else ""
            raise ValueError(f"{option} {out} is the input {path}{source}: writing {what} there "
                             "would overwrite it; name another file")

    _check_writable_path(out, option, what)
    if out.is_file() and not _holds_kind(out, kind):
        if str(out) in OWN_OUTPUT_STREAMS:
            # Redirected (>>) to a file that holds something else: the file, not the stream
            # name, is what to change.
            raise ValueError(f"{option} {out} goes to an existing file that is not "
                             f"{OUTPUT_KINDS[kind]}; redirect it to a new file")
        raise ValueError(f"{option} {out} exists and is not {OUTPUT_KINDS[kind]}; remove it or "
                         "choose another name")


# This process's own output streams, named as paths: `--json /dev/stdout | jq` has a reader
# by construction, whatever a pipe or a terminal stdout is.
OWN_OUTPUT_STREAMS = STDOUT_PATHS | {"/dev/stderr", "/dev/fd/2"}


def _check_writable_path(out: Path, option: str, what: str) -> None:
    """Refuse a folder, a path in a missing folder, and what is neither a file nor a device."""
    import stat

    if str(out) in OWN_OUTPUT_STREAMS:
        return
    if out.is_dir():
        raise ValueError(f"{option} {out} is a folder; name a file to write {what} to")

    try:
        mode = out.stat().st_mode
    except OSError:
        mode = None
    if mode is not None and not (stat.S_ISREG(mode) or stat.S_ISCHR(mode)):
        raise ValueError(f"{option} {out} is {_file_type(mode)}, not a regular file; name a "
                         f"file to write {what} to")

    # Checked now, the missing folder is named before the work rather than by the write after it.
    folder = out.parent
    if mode is None and folder.exists() and not folder.is_dir():
        raise ValueError(f"{option} {out}: {folder} is not a folder; name a file in a folder")
    if mode is None and not folder.is_dir():
        raise ValueError(f"{option} {out}: the folder {folder} does not exist; create it first or "
                         "name another file")
    if mode is not None:
        try:
            refuse_read_only(out, mode)
        except PermissionError as error:
            raise ValueError(f"{option} {out}: {error.strerror}") from None
    if mode is None or stat.S_ISREG(mode):
        _check_permission_to_write(out, option, exists=mode is not None)


def _check_permission_to_write(out: Path, option: str, *, exists: bool) -> None:
    """Refuse, before the work, a file this user could not write: a new one in a folder closed
    to it, or an existing one that neither it nor its folder lets it replace (the file is
    written beside and renamed over, or in place where the folder is closed; see atomic_file).
    Without this a long fit ends on a refused temporary file."""
    folder = Path(os.path.realpath(out)).parent
    if os.access(folder, os.W_OK | os.X_OK) or (exists and os.access(out, os.W_OK)):
        return
    blocked = (f"{out} is read-only to this user" if exists
               else f"this user may not create files in {folder}")
    raise ValueError(f"{option} {out}: {blocked}; name a file you can write")


def _file_type(mode: int) -> str:
    """What an existing path that is neither a regular file nor a folder is, for a message."""
    import stat

    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "a special file"

def _same_file(out: Path, path: Path) -> bool:
    if out.resolve() == path.resolve():
        return True
    # A hard link, or a path the resolution above could not see through.
    return out.exists() and path.exists() and out.samefile(path)


def _holds_kind(path: Path, kind: str) -> bool:
    """Whether an existing regular file is blank or of ``kind``; unreadable counts as yes, for
    the write to report the real problem."""
    try:
        with path.open("rb") as file:
            head = file.read(HEAD_BYTES).removeprefix(UTF8_BOM).lstrip()
        size = path.stat().st_size
    except OSError:
        return True
    if not head:
        return True
    if kind == "svg":
        return head.startswith(SVG_OPENINGS)
    if not head.startswith(JSON_OPENINGS) or size > _most_bytes_parsed(kind):
        return False
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return False
    return _is_json_output(document, kind)


def _most_bytes_parsed(kind: str) -> int:
    """The largest file parsed to recognise ``kind``: a router file may be as large as the
    router reader accepts; an evaluation or a chat is far smaller than the general cap."""
    from shoal.files import MAX_ROUTER_FILE_BYTES

    return MAX_ROUTER_FILE_BYTES if kind == "router" else MOST_JSON_BYTES_PARSED


def _is_json_output(document: object, kind: str) -> bool:
    """Whether a parsed JSON document is an output of ``kind`` (router, evaluation or chat)."""
    if kind == "router":
        from shoal.router_model import ROUTER_FORMAT

        return isinstance(document, dict) and document.get("format") == ROUTER_FORMAT
    if kind == "evaluation":
        from shoal.router_eval import is_evaluation_document

        return is_evaluation_document(document)
    # A chat: what `budget trim --output` writes, messages that each carry a role.
    return isinstance(document, list) and all(
        isinstance(message, dict) and "role" in message for message in document
    )
