"""Count the tokens of files and folders, confined to allowed roots.

``count_files`` walks the paths it is given, skips what ``.gitignore`` files exclude (see
``shoal.gitignore``), the ``.git`` folder, binary files (a NUL byte in the first 8 KiB),
UTF-16 and UTF-32 files, files that are not UTF-8 and files over a size bound, and counts the
rest on a thread pool: the Rust core releases the GIL while it counts, so files are counted in
parallel.

Confinement: every path must resolve, after following symbolic links, inside one of the
``roots``. A relative path is taken from the first root and ``~`` is the home folder; ``..``,
absolute paths (``~/...`` among them) and links that lead outside are refused; links to folders
are not followed; ``/proc``, ``/dev`` and ``/sys`` are refused even inside a root, whether a path
is written there or leads there (``/dev/stdin`` leads to a file when standard input is one), and
never walked into; only regular files are opened (never a FIFO or a device), without blocking and
without following a link swapped in at the last moment, and their type and size are checked
again on the open file. The walk checks for
cancellation at every folder and stops as soon as it has found more than ``max_files`` files.

A path reached more than once (named twice, or a file inside a folder also named) is counted
once, under the first path that reached it; the result says how many repeats were merged.

``read_text_file`` reads one named file under the same rules, for every command that takes a
file (text to cut or split, a chat request, a catalog or price file, a router, labelled data, a
plan, ...): it refuses what ``count_files`` would skip, and a file over the limit for its kind.
``read_text_stream`` reads standard input up to the same limits, and refuses UTF-16 and UTF-32
as a file's reader does (NUL characters alone do not make it binary). The limits:

* ``DEFAULT_MAX_FILE_BYTES`` (16 MiB): text to count, cut or split and chat requests (raised up to
  1 GiB with ``max_file_bytes``), and every settings file: catalog and price files, device and
  architecture tables, histories, plans, budget items, chats to trim, a prompt to record;
* ``MAX_ROUTER_FILE_BYTES`` (256 MiB): a router file, some 50 times the shipped one;
* ``DEFAULT_MAX_DATA_FILE_BYTES`` (256 MiB): labelled data to fit or evaluate a router on (raised
  up to 1 GiB with ``max_file_bytes``) and a batch of prompts to route.
"""

from __future__ import annotations

import errno
import functools
import itertools
import json
import logging
import math
import os
import re
import stat
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from shoal.errors import InputError, ShoalError
from shoal.excerpts import excerpt, first_few, quoted_path, shown_path
from shoal.file_names import check_file_name
from shoal.gitignore import IgnoreMatcher
from shoal.numbers_in import whole_number
from shoal.progress import check_callback
from shoal.tokens import Tokenizer, check_allow_special, tokenizer_for

logger = logging.getLogger(__name__)

DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024
# A router holds about 800 bytes per exemplar: this is some 300,000 exemplars.
MAX_ROUTER_FILE_BYTES = 256 * 1024 * 1024
# Labelled data may run to hundreds of MB; past the default, a user raises max_file_bytes.
DEFAULT_MAX_DATA_FILE_BYTES = 256 * 1024 * 1024
# The largest max_file_bytes accepted: a file is read whole into memory, and cutting or splitting
# it holds its token ids too (a 1 GiB text is some 250 million ids).
MAX_FILE_BYTES_LIMIT = 1024 * 1024 * 1024
DEFAULT_MAX_FILES = 100_000
# Most threads count_files runs: each holds up to two files in flight, and far more threads
# than CPUs only wait for one.
MAX_WORKERS = 1024
BINARY_SNIFF_BYTES = 8192
BINARY_REASON = "binary (NUL byte in the first 8 KiB)"
REFUSED_PREFIXES = (Path("/proc"), Path("/dev"), Path("/sys"))
SKIPPED_FOLDERS = frozenset({".git"})
# Why a walk skips a link that leads out: of the roots a caller (the server) allowed, or, with
# no roots, of the folder it was asked to count, which is what the command line does.
LINK_OUT_OF_ROOTS = "symbolic link out of the allowed roots"
LINK_OUT_OF_FOLDER = "symbolic link out of the folder counted (name the link to count its target)"
# Folders nested deeper than this are not walked: far past any real source tree, and well short
# of Python's recursion limit.
MAX_FOLDER_DEPTH = 200


class PathNotAllowedError(ShoalError, ValueError):
    """A path outside the allowed roots, or one shoal never reads (``/proc``, ``/dev``, ...)."""


class FileTooLargeError(ShoalError, ValueError):
    """A file, or standard input, over the size limit it was to be read with.

    Attributes:
        path: The file as the caller named it, or "standard input".
        size: Its size in bytes; None for a stream, which is read no further than the limit.
        limit: The limit in bytes.
        raise_with: The option or argument that raises the limit; None when it is fixed.
    """

    def __init__(
        self, path: str, size: int | None, limit: int, raise_with: str | None = "max_file_bytes"
    ) -> None:
        self.path = path
        self.size = size
        self.limit = limit
        self.raise_with = raise_with
        remedy = f"; raise {raise_with} to read it" if raise_with else ""
        super().__init__(f"{self.reason}{remedy}")

    @property
    def reason(self) -> str:
        """What is too large and by how much, without the remedy."""
        if self.size is None:
            return f"{self.path} is over the {self.limit:,}-byte limit"
        return f"{self.path} is {self.size:,} bytes, over the {self.limit:,}-byte limit"


@dataclass(frozen=True)
class FileCount:
    """Tokens of one file. ``path`` is as the caller named it, or below a named folder."""

    path: str
    tokens: int
    bytes: int


@dataclass(frozen=True)
class SkippedFile:
    """A file that was not counted, and why (binary, too large, not UTF-8, not a regular file)."""

    path: str
    reason: str


@dataclass(frozen=True)
class FilesCount:
    """Tokens of a set of files.

    Attributes:
        total_tokens: Sum over the counted files.
        total_bytes: Bytes of the counted files.
        files: One entry per counted file, sorted by path.
        skipped: Files not counted, with the reason, sorted by path.
        ignored: Paths left out by ``.gitignore`` rules (files and whole folders).
        repeats_merged: Times a file was reached again by another of the paths (named twice,
            or inside a folder also named); each file is counted once, under its first path.
        encoding: The encoding that counted the files; for an estimate, the one whose counts
            were scaled.
        exact: True when the counts are exact.
        model: The catalog model id, or None.
        token_ratio: For an estimate, the model's tokens per ``encoding`` token; None when exact.
        ratio_source: For an estimate, where the catalog's ratio comes from; None when exact.
    """

    total_tokens: int
    total_bytes: int
    files: tuple[FileCount, ...]
    skipped: tuple[SkippedFile, ...]
    ignored: int
    repeats_merged: int
    encoding: str
    exact: bool
    model: str | None
    token_ratio: float | None = None
    ratio_source: str | None = None

    @functools.cached_property
    def _largest_first(self) -> tuple[FileCount, ...]:
        # Sorted once: a capped answer asks for several summaries while it finds what fits.
        return tuple(sorted(self.files, key=lambda item: (-item.tokens, item.path)))

    def summary(self, *, max_files: int, answer_holds: int | None = None) -> FilesSummary:
        """The largest ``max_files`` files and the first skipped ones, saying what is left out.

        ``answer_holds``: when a capped answer can list no more than this many (fewer than
        ``max_files``), the list stops there and the note says so instead of advising a larger
        max_files.
        """
        from shoal.render import plural  # render imports this module, so not at the top

        if answer_holds is not None:
            max_files = min(max_files, answer_holds)
        largest = self._largest_first[:max_files]
        skipped = self.skipped[:max_files]
        notes = []
        if len(largest) < len(self.files):
            unlisted = plural(len(self.files) - len(largest), "smaller file")
            advice = ("raise max_files to list them" if answer_holds is None else
                      f"one answer holds {answer_holds:,} files; "
                      "shoal count --file lists every one")
            notes.append(f"{unlisted} not listed (their tokens are in the total); {advice}")
        if len(skipped) < len(self.skipped):
            unlisted = plural(len(self.skipped) - len(skipped), "more skipped file")
            notes.append(f"{unlisted} not listed")
        if self.repeats_merged:
            notes.append(repeats_note(self.repeats_merged))
        return FilesSummary(
            total_tokens=self.total_tokens,
            total_bytes=self.total_bytes,
            files_counted=len(self.files),
            files_skipped=len(self.skipped),
            ignored=self.ignored,
            repeats_merged=self.repeats_merged,
            largest_files=tuple(largest),
            skipped=skipped,
            encoding=self.encoding,
            exact=self.exact,
            model=self.model,
            notes=tuple(notes),
            token_ratio=self.token_ratio,
            ratio_source=self.ratio_source,
        )


@dataclass(frozen=True)
class FilesSummary:
    """A files count shortened for a reply: totals, the largest files, the first skips.

    Attributes:
        total_tokens: Sum over all counted files.
        total_bytes: Bytes of all counted files.
        files_counted: How many files were counted.
        files_skipped: How many were skipped (binary, too large, not UTF-8, ...).
        ignored: Paths left out by ``.gitignore`` rules.
        repeats_merged: Times a file was reached again by another of the paths; counted once.
        largest_files: The files with the most tokens, most first.
        skipped: The first skipped files with the reason.
        encoding: The encoding that counted the files; for an estimate, the one whose counts
            were scaled.
        exact: True when the counts are exact.
        model: The catalog model id, or None.
        notes: What was left out of the lists.
        token_ratio: For an estimate, the model's tokens per ``encoding`` token; None when exact.
        ratio_source: For an estimate, where the catalog's ratio comes from; None when exact.
    """

    total_tokens: int
    total_bytes: int
    files_counted: int
    files_skipped: int
    ignored: int
    repeats_merged: int
    largest_files: tuple[FileCount, ...]
    skipped: tuple[SkippedFile, ...]
    encoding: str
    exact: bool
    model: str | None
    notes: tuple[str, ...]
    token_ratio: float | None = None
    ratio_source: str | None = None


def repeats_note(repeats: int) -> str:
    """What merging files reached by more than one path did, for a summary."""
    from shoal.render import plural  # render imports this module, so not at the top

    return (
        f"{plural(repeats, 'repeat')} merged: files reached by more than one of the paths are "
        "counted once, under the first path that reached them"
    )


@dataclass(frozen=True)
class _Candidate:
    shown: str
    real: Path


class _Reached:
    """The real paths of the files reached so far, so that each is counted or skipped once."""

    def __init__(self) -> None:
        self.seen: set[Path] = set()
        self.reaches = 0
        self.repeats = 0

    def first_time(self, real: Path) -> bool:
        self.reaches += 1
        if real in self.seen:
            self.repeats += 1
            return False
        self.seen.add(real)
        return True


def count_files(
    paths: Sequence[str | os.PathLike[str]],
    *,
    roots: Sequence[str | os.PathLike[str]] | None = None,
    encoding: str | None = None,
    model: str | None = None,
    allow_special: bool = False,
    respect_gitignore: bool = True,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_files: int = DEFAULT_MAX_FILES,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    check_cancelled: Callable[[], None] | None = None,
) -> FilesCount:
    """Count the tokens of files and of the files in folders.

    Args:
        paths: Files and folders. Relative paths are taken from the first root; ``~`` is the
            home folder, as in an item's path of ``fit_budget``.
        roots: Folders every path must stay inside (``~`` expanded). None: each path is its own
            root (links still may not lead out of it).
        encoding: The encoding (default ``DEFAULT_ENCODING``); not together with ``model``.
        model: A catalog model id; decides the tokenizer (estimate when not public).
        allow_special: Count special-token text as special tokens.
        respect_gitignore: Skip what ``.gitignore`` files exclude.
        max_file_bytes: Larger files are skipped, with the reason (1 to
            ``MAX_FILE_BYTES_LIMIT``, 1 GiB).
        max_files: More files than this is an error (narrow the paths).
        workers: Threads counting at once, 1 to ``MAX_WORKERS`` (1,024); None: one per CPU.
        progress: Called as ``progress(files_done, files_total)`` after each file.
        check_cancelled: Called between files; it stops the count by raising.

    Returns:
        Per-file counts, the total, and what was skipped: a named path too (a pipe, a loop of
        links), with its reason, as inside a folder.

    Raises:
        PathNotAllowedError: A path outside the roots, or under /proc, /dev or /sys (as written
            or where it leads).
        TypeError: ``paths`` not a list (None, or one path alone), a path, limit or flag of the
            wrong type, or a callback that is not callable.
        ValueError: A path that is empty, holds a NUL or lone surrogate or does not exist, a
            root that is not a folder, too many files, a limit or ``workers`` out of its range,
            bad encoding or model.
    """
    paths = _listed(paths, "paths", "paths")  # a list: read twice below, checked then walked
    if not paths:
        raise InputError("paths is empty; give at least one file or folder")
    for index, path in enumerate(paths):
        _check_path(f"paths[{index}]", path)
    check_allow_special(allow_special)
    if not isinstance(respect_gitignore, bool):
        raise TypeError(f"respect_gitignore must be bool, not {type(respect_gitignore).__name__}")
    max_file_bytes = check_max_file_bytes(max_file_bytes)
    most_files = whole_number(max_files)
    if most_files is None:
        raise TypeError(f"max_files must be an int, not {type(max_files).__name__}")
    if most_files < 1:
        raise InputError(f"max_files must be at least 1, not {most_files}")
    max_files = most_files
    if workers is not None:
        threads = whole_number(workers)
        if threads is None:
            raise TypeError(f"workers must be an int or None, not {type(workers).__name__}")
        workers = threads
        if not 1 <= workers <= MAX_WORKERS:
            raise InputError(f"workers must be 1 to {MAX_WORKERS:,} (None: one per CPU), not "
                             f"{workers}")
    check_callback("progress", progress)
    check_callback("check_cancelled", check_cancelled)
    tokenizer = tokenizer_for(encoding=encoding, model=model)
    allowed = [_real(root) for root in existing_roots(roots)] if roots is not None else None

    candidates: list[_Candidate] = []
    skipped: list[SkippedFile] = []
    ignored = 0
    reached = _Reached()
    # Files each requested path reached, by its real path: the same path again, however it is
    # spelt, would reach the same files, so it is not walked again.
    walked: dict[Path, int] = {}
    confined = [(path, *_confine(Path(path), allowed)) for path in paths]
    _check_all_exist([(path, real) for path, real, _ in confined], allowed is not None)
    for path, real, path_roots in confined:
        if real in walked:
            reached.repeats += walked[real]
            continue
        reaches_before = reached.reaches
        found, found_skipped, found_ignored = _collect(
            Path(path),
            real,
            path_roots if allowed is not None else None,
            respect_gitignore,
            max_files - len(candidates),
            reached,
            check_cancelled,
        )
        walked[real] = reached.reaches - reaches_before
        candidates.extend(found)
        skipped.extend(found_skipped)
        ignored += found_ignored
        if len(candidates) > max_files:
            from shoal.render import plural  # render imports this module, so not at the top

            raise InputError(
                f"more than {plural(max_files, 'file')} to count; name narrower paths or raise "
                "max_files"
            )

    counted, more_skipped = _count_all(
        candidates, tokenizer, allow_special, max_file_bytes, workers, progress, check_cancelled
    )
    skipped.extend(more_skipped)
    counted.sort(key=lambda item: item.path)
    skipped.sort(key=lambda item: item.path)
    return FilesCount(
        total_tokens=sum(item.tokens for item in counted),
        total_bytes=sum(item.bytes for item in counted),
        files=tuple(counted),
        skipped=tuple(skipped),
        ignored=ignored,
        repeats_merged=reached.repeats,
        **tokenizer.method(),
    )


def _check_all_exist(
    requested: Sequence[tuple[str | os.PathLike[str], Path]], confined: bool
) -> None:
    """Refuse the requested paths that do not exist in one error, each as the caller spelt it
    (``./notes/`` stays ``./notes/``), so that one call tells a user what to correct: the first
    few by name and how many more, so that a thousand mistyped paths still make a short error."""
    missing = [(path, real) for path, real in requested if _absent(real)]
    if not missing:
        return
    shown = (_as_requested(path, real, confined) for path, real in missing)
    if len(missing) == 1:
        raise InputError(f"{next(shown)} does not exist")
    raise InputError(f"{len(missing):,} paths do not exist: {first_few(shown, len(missing))}")


def _absent(real: Path) -> bool:
    """Whether nothing is at a path (``a.txt/b`` below a file among them); one that cannot be
    read for another reason (a looping link, no permission) is present, and the walk skips it
    with the reason."""
    try:
        os.stat(real)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


def _as_requested(path: str | os.PathLike[str], real: Path, confined: bool) -> str:
    """A path as the caller spelt it (see `shown_path`); a relative one confined to roots also
    says where it was looked for, since it starts at the first root, not the current folder."""
    spelt = shown_path(os.fspath(path))
    if not confined or Path(os.fspath(path)).is_absolute():
        return spelt
    return f"{spelt} ({shown_path(str(real))})"


def _check_path(name: str, path: object) -> None:
    """Refuse a path to count that is not text, is empty, or no file name can hold."""
    if not isinstance(path, (str, os.PathLike)) or isinstance(os.fspath(path), bytes):
        raise TypeError(f"{name} must be a str or os.PathLike, not {type(path).__name__}")
    text = os.fspath(path)
    if not text:
        # Path("") is the current folder: an empty string is a missing value, not "here".
        raise InputError(f"{name} is empty; give a file or folder ('.' for the current folder)")
    check_file_name(text, name)


def check_max_file_bytes(max_file_bytes: int) -> int:
    """``max_file_bytes`` as an int, refused below 1 byte or over ``MAX_FILE_BYTES_LIMIT``."""
    limit = whole_number(max_file_bytes)
    if limit is None:
        raise TypeError(f"max_file_bytes must be an int, not {type(max_file_bytes).__name__}")
    if limit < 1:
        raise InputError(f"max_file_bytes must be at least 1, not {limit}")
    if limit > MAX_FILE_BYTES_LIMIT:
        # The value itself is not echoed: it may have more digits than Python will print.
        raise InputError(
            f"max_file_bytes must be at most {MAX_FILE_BYTES_LIMIT:,} (1 GiB), since a file is "
            "read whole into memory"
        )
    return limit


def _stat(real: str | os.PathLike[str], shown: object) -> os.stat_result:
    """The status of a path the user named (shown as ``shown``), or why it cannot be read."""
    try:
        return os.stat(real)
    except FileNotFoundError:
        raise InputError(f"{shown} does not exist") from None
    except OSError as error:
        raise InputError(f"cannot read {shown}: {error.strerror}") from None


def read_text_file(
    path: str | os.PathLike[str],
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    raise_with: str | None = "max_file_bytes",
    refuse_binary: bool = False,
) -> str:
    """The UTF-8 text of one regular file, read under the rules ``count_files`` applies.

    Args:
        path: The file.
        max_file_bytes: A larger file is refused (1 to ``MAX_FILE_BYTES_LIMIT``, 1 GiB).
        raise_with: What the refusal of a larger file tells the user to raise (an option of
            theirs); None when the limit is fixed for this kind of file.
        refuse_binary: Refuse a binary file as ``count_files`` skips one (a NUL byte in the
            first 8 KiB), before it is decoded, so the two name the same file alike.

    Raises:
        PathNotAllowedError: A path under /proc, /dev or /sys (after following links).
        FileTooLargeError: A file over ``max_file_bytes``.
        ValueError: A path that does not exist, a folder, a FIFO, device or socket, a file
            that cannot be opened, a binary one (with ``refuse_binary``), or one that is not
            UTF-8 text.
    """
    max_file_bytes = check_max_file_bytes(max_file_bytes)
    shown = os.fspath(path)
    real, _ = _confine(Path(path), None)
    info = _stat(real, shown)

    # Checked before opening for a precise message; read_regular_file checks the open file again.
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{shown} is a folder; name a file")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(
            f"{shown} is not a regular file (a pipe, device or socket), which shoal never reads"
        )
    if info.st_size > max_file_bytes:
        raise FileTooLargeError(shown, info.st_size, max_file_bytes, raise_with)

    data = read_regular_file(real, max_file_bytes)
    if isinstance(data, str):
        raise InputError(f"cannot read {shown}: {data}")
    reason = unreadable_reason(data, refuse_binary=refuse_binary)
    if reason is not None:
        raise InputError(f"{shown} is {reason}")
    return _decoded(data, shown)


class WrittenNumber(float):
    """A JSON number with a fraction or exponent, kept with the file's spelling: an error that
    quotes it shows ``1e+308`` or ``1E7`` as written, not 309 digits or ``10000000.0``. It
    prints and computes as the float it is."""

    spelling: str

    def __new__(cls, spelling: str) -> WrittenNumber:
        number = super().__new__(cls, spelling)
        number.spelling = spelling
        return number

    def __repr__(self) -> str:
        return self.spelling

    __str__ = float.__repr__


class SpelledNumber(WrittenNumber):
    """A number of a JSON file that a float cannot hold (1e400 reads as infinity, 1e-400 as 0,
    and a whole number of more than 308 digits overflows the first sum it meets), kept with its
    spelling so that the error refusing it quotes the file; an excerpt of it keeps the two ends
    of a long one."""

    # Printed as spelt too: its float (inf, 0.0) is not the number the file holds.
    __str__ = WrittenNumber.__repr__


class SpelledWholeNumber(SpelledNumber):
    """A JSON whole number of more digits than a float holds: no float the file meant, but a
    count or amount past every bound, which a check can say it is over rather than call it
    infinite."""


def number_as_given(text: str) -> float:
    """A JSON number with a fraction or exponent, as ``json`` reads it, unless a float cannot
    hold it: then a `SpelledNumber`."""
    number = float(text)
    mantissa = text.lower().split("e")[0]
    if math.isinf(number) or (number == 0 and mantissa.strip("-+0.")):
        return SpelledNumber(text)
    return number


def number_as_written(text: str) -> float:
    """A JSON number with a fraction or exponent as a `WrittenNumber`, or a `SpelledNumber` when
    a float cannot hold it: for a file whose refused values are quoted as it spells them."""
    number = number_as_given(text)
    return number if isinstance(number, SpelledNumber) else WrittenNumber(text)


# Digits of the largest float (about 1.8e308): a whole number with more is past every float.
FLOAT_DIGITS = len(str(int(sys.float_info.max)))


def whole_number_as_given(text: str) -> int | float:
    """A JSON whole number as ``json`` reads it, unless a float cannot hold it: then an
    infinite `SpelledWholeNumber`. Every check for a finite number refuses that and quotes the
    file's spelling, where the int would have raised OverflowError ("int too large to convert
    to float") at the first check or sum, naming neither file nor field; and a number of
    thousands of digits is never converted, which Python refuses past 4,300."""
    digits = len(text) - text.startswith("-")
    if digits < FLOAT_DIGITS:
        return int(text)
    if digits == FLOAT_DIGITS:
        number = int(text)
        try:
            float(number)
            return number
        except OverflowError:
            pass
    return SpelledWholeNumber(text)


def read_json_file(
    path: str | os.PathLike[str],
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    raise_with: str | None = None,
    object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None,
    parse_float: Callable[[str], Any] | None = None,
) -> Any:
    """The JSON document in one file, read as :func:`read_text_file` reads it.

    The limit is fixed by default (settings files); ``raise_with`` names what raises it. The
    hooks are those of :func:`parse_json`.

    Raises:
        ValueError: What :func:`read_text_file` raises, and a file that is not JSON or is
            nested too deeply to parse; the message names the file.
    """
    text = read_text_file(path, max_file_bytes=max_file_bytes, raise_with=raise_with)
    return parse_json(text, os.fspath(path), object_pairs_hook, parse_float)


def parse_json(
    text: str, shown: str,
    object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None,
    parse_float: Callable[[str], Any] | None = None,
) -> Any:
    """The JSON document in ``text``, read from ``shown`` (a file, or standard input), each
    object made by ``object_pairs_hook`` and each number with a fraction or exponent by
    ``parse_float`` when given (as `json.loads` takes them); a whole number past a float's
    range is read as `whole_number_as_given` reads it. A UTF-8 byte order mark before it,
    which some Windows editors write, is read past (see :func:`without_byte_order_mark`).

    Raises:
        ValueError: Text that is not JSON, or JSON nested too deeply to parse, named by where.
    """
    try:
        return json.loads(
            without_byte_order_mark(text), object_pairs_hook=object_pairs_hook,
            parse_float=parse_float, parse_int=whole_number_as_given,
        )
    except json.JSONDecodeError as error:
        raise InputError(f"{shown}: not valid JSON ({json_syntax_error(error)})") from None
    except RecursionError:
        raise InputError(f"{shown}: JSON nested too deeply") from None


def json_syntax_error(error: json.JSONDecodeError, *, within_line: bool = False) -> str:
    """What Python's JSON reader found wrong and where, as a phrase that reads complete:
    ``line 2, column 1: Extra data``, or for the messages it ends with "at" (its own ``str()``
    adds the place after them) ``Unterminated string starting at line 1, column 2``.

    ``within_line``: the text is one line of a JSON Lines file, which the caller names, so only
    the column of an "at" message is given and the others are left as they are.
    """
    if within_line:
        place = f"column {error.colno}"
        return f"{error.msg} {place}" if error.msg.endswith(" at") else error.msg
    place = f"line {error.lineno}, column {error.colno}"
    return f"{error.msg} {place}" if error.msg.endswith(" at") else f"{place}: {error.msg}"


def without_byte_order_mark(text: str) -> str:
    """``text`` past a leading byte order mark (U+FEFF): the mark says the file is UTF-8 and is
    no part of the JSON, which Python's parser would refuse with a hint about codecs."""
    return text.removeprefix("\ufeff")


class RepeatedKeyObject(dict[str, Any]):
    """A JSON object that gives a key more than once. A JSON reader keeps the last value, so
    one of two scores, rows or device lists would be lost without a word; the reader marks
    the object (``repeated``: the first key given twice; ``pairs``: every pair as written) so
    that the file can be refused."""

    def __init__(self, pairs: list[tuple[str, Any]], repeated: str) -> None:
        super().__init__(pairs)
        self.repeated = repeated
        self.pairs = pairs

    def refusal(self) -> str:
        """Why a row that is this object is refused, in the words every row reader uses."""
        return (f"the field {excerpt(self.repeated)} is given more than once; give each field "
                "once (only the last would be read)")


def object_keeping_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An ``object_pairs_hook``: a plain dict, or a `RepeatedKeyObject` naming a repeated key."""
    read = dict(pairs)
    if len(read) == len(pairs):
        return read
    counts = Counter(key for key, _ in pairs)
    return RepeatedKeyObject(pairs, next(key for key, count in counts.items() if count > 1))


def first_repeat(document: object) -> tuple[tuple[str | int, ...], RepeatedKeyObject] | None:
    """Where the first object that gives a key twice lies in ``document`` (read with
    `object_keeping_repeated_keys`), in the order written, as the keys and list positions
    that lead to it, and that object; None when no object does."""
    # A walk with a stack, not recursion: the reader takes nesting deeper than Python recurses.
    stack: list[tuple[tuple[str | int, ...], object]] = [((), document)]
    while stack:
        place, value = stack.pop()
        if isinstance(value, RepeatedKeyObject):
            return place, value
        children: Iterable[tuple[str | int, object]] = (
            value.items() if isinstance(value, dict)
            else enumerate(value) if isinstance(value, list) else ())
        stack.extend(((*place, key), child) for key, child in reversed(list(children)))
    return None


def json_line_error(line: str, error: json.JSONDecodeError) -> str:
    """Why one line of a JSON Lines file is not JSON, for the error that names the line.

    A byte order mark opening any line but the first is what joining files with ``cat`` leaves
    where each began; Python's own message for it names a codec ("decode using utf-8-sig").
    """
    if line.startswith("\ufeff"):
        return ("the line starts with a byte order mark (U+FEFF), which only the start of a "
                "file may carry (joining files with `cat` leaves one where each began); remove "
                "it")
    return f"not valid JSON ({json_syntax_error(error, within_line=True)})"


def read_text_stream(
    stream: BinaryIO,
    *,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
    raise_with: str | None = "max_file_bytes",
    name: str = "standard input",
) -> str:
    """The UTF-8 text of a byte stream such as standard input, read no further than the limit.

    One byte past ``max_bytes`` is read to tell a stream that ends at the limit from one that
    goes on (``/dev/zero`` never ends), so memory stays bounded by the limit.

    Args:
        stream: An open binary stream, read to its end.
        max_bytes: A longer stream is refused (1 to ``MAX_FILE_BYTES_LIMIT``, 1 GiB).
        raise_with: What the refusal tells the user to raise; None when the limit is fixed.
        name: The stream in messages.

    Raises:
        FileTooLargeError: A stream longer than ``max_bytes``.
        ValueError: A stream that is not UTF-8 text.
    """
    max_bytes = check_max_file_bytes(max_bytes)
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FileTooLargeError(name, None, max_bytes, raise_with)
    # A stream may carry NUL characters as text, so only UTF-16 is refused among them.
    reason = unreadable_reason(data, refuse_binary=False)
    if reason is not None:
        raise InputError(f"{name} is {reason}")
    return _decoded(data, name)


def is_binary(data: bytes) -> bool:
    """Whether a file's bytes are binary by the rule ``count_files`` skips them by."""
    return b"\0" in data[:BINARY_SNIFF_BYTES]


def unreadable_reason(data: bytes, *, refuse_binary: bool) -> str | None:
    """Why bytes that may decode as UTF-8 are still no text to read, or None: UTF-16 or UTF-32
    text, or (with ``refuse_binary``) a binary file.

    UTF-16 or UTF-32 of Latin letters without a byte order mark is valid UTF-8, each letter
    followed or preceded by NULs; read so, no word or number in it is found, and a scan would
    call it clean. The first 8 KiB decide between those and binary; later on, a stretch of wide
    text is looked for only in text, as a binary file is refused whatever it holds there.
    """
    wide = _wide_encoding(data[:BINARY_SNIFF_BYTES])
    binary = refuse_binary and is_binary(data)
    if wide is None and not binary:
        wide = _wide_encoding(data)
    if wide is not None:
        described, iconv_name = wide
        family = iconv_name.removesuffix("LE").removesuffix("BE")
        return (f"{family} text ({described}), which shoal does not read; convert it to UTF-8 "
                f"with `iconv -f {iconv_name} -t UTF-8`")
    return BINARY_REASON if binary else None


# Byte order marks and the name iconv reads each by; UTF-32's first, as UTF-32LE's starts with
# UTF-16LE's. Read as plain UTF-16 or UTF-32, iconv takes the order from the mark and drops it.
_WIDE_BYTE_ORDER_MARKS = (
    (b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"),
)
# Four printable ASCII characters each with the NULs of a wider code unit: a word in UTF-32
# (three NULs) or UTF-16 (one), read as bytes.
_PRINTABLE = rb"[\t\n\r\x20-\x7e]"
_WIDE_LETTERS = (
    (re.compile(rb"(?:" + _PRINTABLE + rb"\x00\x00\x00){4}"), 4, "UTF-32"),
    (re.compile(rb"(?:" + _PRINTABLE + rb"\x00){4}"), 2, "UTF-16"),
)


def _wide_encoding(data: bytes) -> tuple[str, str] | None:
    """How bytes look like UTF-16 or UTF-32 (``byte order mark FF FE``, ``UTF-16LE without a
    byte order mark ...``) and the name iconv reads them by, or None for bytes that do not."""
    for mark, iconv_name in _WIDE_BYTE_ORDER_MARKS:
        if data.startswith(mark):
            return f"byte order mark {' '.join(f'{byte:02X}' for byte in mark)}", iconv_name
    if b"\0" not in data:
        # Every text file read passes here: a search for a NUL byte is a memchr, where the
        # patterns below would each walk the whole file (0.7 s for 14 MB).
        return None
    for letters_pattern, unit, family in _WIDE_LETTERS:
        letters = letters_pattern.search(data)
        if letters is None:
            continue
        # NULs after each letter at an aligned offset are little-endian; before it, big-endian.
        encoding = family + ("LE" if letters.start() % unit == 0 else "BE")
        first = letters.start() - letters.start() % unit
        described = (f"{encoding} without a byte order mark: letters and NUL bytes in turn "
                     f"from offset {first:,}")
        return described, encoding
    return None


def _decoded(data: bytes, shown: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"{shown} is {not_utf8(error)}") from None


def not_utf8(error: UnicodeDecodeError) -> str:
    """Why bytes are not text: the first bad byte's value and its offset, so that a user can
    find it (`xxd -s OFFSET`) and tell Latin-1 (0xE9 for é) from a binary file."""
    return f"not UTF-8 text (byte 0x{error.object[error.start]:02X} at offset {error.start})"


def checked_roots(roots: object) -> list[Path]:
    """``roots`` as paths (``~`` expanded), refused unless it is a list of them: a single path
    given as ``roots`` would be taken letter by letter, and the root ``/`` among the letters
    would allow every file."""
    folders = _listed(roots, "roots", "folders")
    for index, root in enumerate(folders):
        if (not isinstance(root, (str, os.PathLike)) or not os.fspath(root)
                or isinstance(os.fspath(root), bytes)):
            raise TypeError(f"roots[{index}] must be a non-empty path, got {excerpt(root)}")
        check_file_name(os.fspath(root), f"roots[{index}]")
    return [home_expanded(Path(root)) for root in folders]


def folder_problem(path: Path) -> str | None:
    """Why ``path`` is no folder to read from (``does not exist``, ``is not a folder``,
    ``cannot be read (…)``), or None when it is one."""
    try:
        if path.is_dir():
            return None
        return "is not a folder" if path.exists() else "does not exist"
    except OSError as error:
        # A name too long for the file system, a loop of links, no permission.
        return f"cannot be read ({error.strerror})"


def existing_roots(roots: object) -> list[Path]:
    """``roots`` as :func:`checked_roots` takes them, each of which must be a folder: every path
    inside a missing root would be refused as outside the roots, which misleads. (The server
    checks its roots when it starts, so this is what a library call meets.)"""
    folders = checked_roots(roots)
    for root in folders:
        problem = folder_problem(root)
        if problem is not None:
            raise InputError(f"root {quoted_path(str(root))} {problem}; roots are the folders "
                             "files are read from")
    return folders


def home_expanded(path: Path) -> Path:
    """``path`` with a leading ``~`` (alone or before a separator) made this user's home folder,
    as a shell would have done had the path not been quoted; the result still has to stay inside
    the roots. ``~name`` is read as written: expanding another user's home would let a caller
    learn, from the refusal, which accounts exist and where their homes lie."""
    text = str(path)
    if text != "~" and not text.startswith(("~/", "~" + os.sep)):
        return path
    return path.expanduser()


def _listed(value: object, name: str, noun: str) -> list[Any]:
    """``value`` as a list, refused when it is one path alone (a string would be taken letter by
    letter) or not a collection at all."""
    if isinstance(value, (str, bytes, os.PathLike)):
        raise TypeError(f"{name} must be a list of {noun}, not a single path; wrap it in a list")
    if not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a list of {noun}, not {type(value).__name__}")
    return list(value)


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def refused_prefix(path: Path) -> Path | None:
    """The folder among ``/proc``, ``/dev`` and ``/sys`` that holds the real ``path``, or None."""
    for refused in REFUSED_PREFIXES:
        if _inside(path, refused):
            return refused
    return None


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _confine(path: Path, allowed: list[Path] | None) -> tuple[Path, list[Path]]:
    """The real path of a requested ``path`` and the roots it may not leave."""
    check_file_name(str(path), "path")
    expanded = home_expanded(path)
    if allowed is None:
        requested = expanded
        real = _real(expanded)
        roots = [real]
    else:
        if not allowed:
            raise PathNotAllowedError("no root folders are allowed, so no path can be read")
        requested = expanded if expanded.is_absolute() else allowed[0] / expanded
        real = _real(requested)
        roots = [root for root in allowed if _inside(real, root)]
        if not roots:
            listed = ", ".join(str(root) for root in allowed)
            raise PathNotAllowedError(
                f"{shown_path(str(path))} resolves to {shown_path(str(real))}, outside the "
                f"allowed roots ({listed}); name a path inside them, or start the server with "
                "another --root"
            )

    # The path as written is checked as well as where it leads: /dev/stdin leads to a file
    # when standard input is one (`< notes.txt`), and is still no file shoal reads.
    named = Path(os.path.abspath(requested))
    refused = refused_prefix(named)
    if refused is not None:
        raise PathNotAllowedError(
            f"{shown_path(str(path))} is under {refused}, which shoal never reads"
        )
    refused = refused_prefix(real)
    if refused is not None:
        raise PathNotAllowedError(
            f"{shown_path(str(path))} leads to {shown_path(str(real))}, under {refused}, which "
            "shoal never reads"
        )
    return real, roots


# The names of standard input under /dev and /proc, which shoal refuses as it refuses every
# path there; the command line reads standard input as '-'.
STANDARD_INPUT_NAMES = frozenset({Path("/dev/stdin"), Path("/dev/fd/0"), Path("/proc/self/fd/0")})


def names_standard_input(path: str | os.PathLike[str]) -> bool:
    """Whether ``path``, as written, is one of the names of standard input (``/dev/stdin``)."""
    return Path(os.path.abspath(home_expanded(Path(path)))) in STANDARD_INPUT_NAMES


def _collect(
    path: Path,
    real: Path,
    roots: list[Path] | None,
    respect_gitignore: bool,
    room: int,
    reached: _Reached,
    check_cancelled: Callable[[], None] | None,
) -> tuple[list[_Candidate], list[SkippedFile], int]:
    """Files to count under one requested path, files skipped, and how many paths were ignored.

    ``real`` is the path confined, and ``roots`` the allowed roots it lies in (None when
    unconfined: it is its own root). Files ``reached`` already are left out. The walk stops
    after ``room + 1`` new files (one more than can be counted, so that the caller can tell),
    rather than listing a whole disk before refusing it.
    """
    shown = str(path)
    try:
        info = os.stat(real)
    except OSError as error:
        if error.errno == errno.ENAMETOOLONG:
            # Like a path that does not exist (refused before the walk), it names nothing.
            as_requested = _as_requested(path, real, roots is not None)
            raise InputError(f"cannot read {as_requested}: {error.strerror}") from None
        # A loop of links, a folder on the way that cannot be searched: skipped with the
        # reason, as the same path met inside a folder is.
        skip = SkippedFile(shown, f"cannot open: {error.strerror}")
        return [], ([skip] if reached.first_time(real) else []), 0

    if stat.S_ISREG(info.st_mode):
        return ([_Candidate(shown, real)] if reached.first_time(real) else []), [], 0
    if not stat.S_ISDIR(info.st_mode):
        skip = SkippedFile(shown, "not a regular file")
        return [], ([skip] if reached.first_time(real) else []), 0

    walk = _Walk(roots or [real], respect_gitignore, reached, check_cancelled,
                 link_out=LINK_OUT_OF_ROOTS if roots else LINK_OUT_OF_FOLDER)
    if not respect_gitignore:
        found = walk.files(real, "", shown, IgnoreMatcher())
    else:
        # Unconfined, the rules of an enclosing work tree apply wherever it starts.
        matcher, relative = _enclosing_rules(real, roots or [Path("/")])
        found = walk.files(real, relative, shown, matcher)
    new = (candidate for candidate in found if reached.first_time(candidate.real))
    candidates = list(itertools.islice(new, max(room, 0) + 1))
    return candidates, walk.skipped, walk.ignored


def _enclosing_rules(folder: Path, roots: list[Path]) -> tuple[IgnoreMatcher, str]:
    """The ``.gitignore`` rules in force at ``folder`` and its path from where they start.

    When ``folder`` is inside a git work tree (an ancestor holds ``.git``) that is itself inside
    the roots, the rules of every ``.gitignore`` from the work tree's top down to ``folder``
    apply, as in git; otherwise only those from ``folder`` down.
    """
    top = folder
    for ancestor in (folder, *folder.parents):
        if not any(_inside(ancestor, root) for root in roots):
            break
        # os.path.exists, not Path.exists: in a folder that cannot be searched (mode 000) a
        # ``.git`` cannot be seen, and the walk reports that folder as one it cannot list.
        if os.path.exists(ancestor / ".git"):
            top = ancestor
            break

    matcher = IgnoreMatcher().child(top, "")
    relative = ""
    for part in folder.relative_to(top).parts:
        relative = f"{relative}/{part}" if relative else part
        matcher = matcher.child(top / relative, relative)
    return matcher, relative


class _Walk:
    """A depth-first walk of one folder that never leaves ``roots``; ``link_out`` is the reason
    a link leading out of them is skipped for."""

    def __init__(
        self,
        roots: list[Path],
        respect_gitignore: bool,
        reached: _Reached,
        check_cancelled: Callable[[], None] | None = None,
        *,
        link_out: str,
    ) -> None:
        self.roots = roots
        self.link_out = link_out
        self.respect_gitignore = respect_gitignore
        self.reached = reached
        self.check_cancelled = check_cancelled
        self.skipped: list[SkippedFile] = []
        self.ignored = 0

    def skip(self, real: Path, shown: str, reason: str) -> None:
        """Note a path not counted, unless another of the paths reached it first."""
        if self.reached.first_time(real):
            self.skipped.append(SkippedFile(shown, reason))

    def files(
        self, folder: Path, relative: str, shown: str, matcher: IgnoreMatcher, depth: int = 0
    ) -> Iterator[_Candidate]:
        if self.check_cancelled is not None:
            self.check_cancelled()
        if depth > MAX_FOLDER_DEPTH:
            self.skip(folder, shown, f"folder nested more than {MAX_FOLDER_DEPTH} levels deep")
            return
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as error:
            self.skip(folder, shown, f"cannot list folder: {error.strerror}")
            return

        for entry in entries:
            child_relative = f"{relative}/{entry.name}" if relative else entry.name
            child_shown = os.path.join(shown, entry.name)
            if entry.is_dir(follow_symlinks=False):
                if entry.name in SKIPPED_FOLDERS:
                    continue
                if refused_prefix(Path(entry.path)) is not None:
                    # Only reached when a root holds /proc, /dev or /sys (a root of "/").
                    self.skip(Path(entry.path), child_shown, "system folder shoal never reads")
                    continue
                if self.respect_gitignore and matcher.ignored(child_relative, True):
                    self.ignored += 1
                    continue
                child_matcher = (
                    matcher.child(Path(entry.path), child_relative)
                    if self.respect_gitignore
                    else matcher
                )
                yield from self.files(
                    Path(entry.path), child_relative, child_shown, child_matcher, depth + 1
                )
                continue

            if self.respect_gitignore and matcher.ignored(child_relative, False):
                self.ignored += 1
                continue
            candidate = self._file(entry, child_shown)
            if candidate is not None:
                yield candidate

    def _file(self, entry: os.DirEntry[str], shown: str) -> _Candidate | None:
        # The walk lists real folders, so an entry's own path is real up to its last part.
        path = Path(entry.path)
        if not entry.is_symlink():
            if entry.is_file(follow_symlinks=False):
                return _Candidate(shown, path)
            self.skip(path, shown, "not a regular file")
            return None

        target = _real(path)
        if not any(_inside(target, root) for root in self.roots):
            self.skip(path, shown, self.link_out)
            return None
        if refused_prefix(target) is not None:
            self.skip(path, shown, "symbolic link to a system file shoal never reads")
            return None
        if os.path.isdir(target):
            self.skip(path, shown, "symbolic link to a folder (not followed)")
            return None
        return _Candidate(shown, target)


def _count_all(
    candidates: list[_Candidate],
    tokenizer: Tokenizer,
    allow_special: bool,
    max_file_bytes: int,
    workers: int | None,
    progress: Callable[[int, int], None] | None,
    check_cancelled: Callable[[], None] | None,
) -> tuple[list[FileCount], list[SkippedFile]]:
    """Count every candidate on a thread pool, keeping at most two files per thread in flight."""
    counted: list[FileCount] = []
    skipped: list[SkippedFile] = []
    threads = workers or os.cpu_count() or 1
    total = len(candidates)
    pending: set[Future[FileCount | SkippedFile]] = set()
    queue = iter(candidates)
    done = 0

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="shoal-count") as pool:
        try:
            while True:
                if check_cancelled is not None:
                    check_cancelled()
                for candidate in queue:
                    pending.add(
                        pool.submit(_count_one, candidate, tokenizer, allow_special, max_file_bytes)
                    )
                    if len(pending) >= 2 * threads:
                        break
                if not pending:
                    break
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    result = future.result()
                    if isinstance(result, FileCount):
                        counted.append(result)
                    else:
                        skipped.append(result)
                    done += 1
                if progress is not None:
                    progress(done, total)
        finally:
            for future in pending:
                future.cancel()
    return counted, skipped


def _count_one(
    candidate: _Candidate, tokenizer: Tokenizer, allow_special: bool, max_file_bytes: int
) -> FileCount | SkippedFile:
    """Read and count one file, or say why it was skipped."""
    data_or_reason = read_regular_file(candidate.real, max_file_bytes)
    if isinstance(data_or_reason, str):
        return SkippedFile(candidate.shown, data_or_reason)

    data = data_or_reason
    reason = unreadable_reason(data, refuse_binary=True)
    if reason is not None:
        return SkippedFile(candidate.shown, reason)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return SkippedFile(candidate.shown, not_utf8(error))
    tokens = tokenizer.count(text, allow_special=allow_special)
    return FileCount(candidate.shown, tokens, len(data))


# What a count that skips a file as too large advises.
COUNT_REMEDY = "raise max_file_bytes, or count a part with truncate or split"


def read_regular_file(
    path: Path, max_file_bytes: int, *, remedy: str = COUNT_REMEDY
) -> bytes | str:
    """The bytes of a regular file, or the reason it cannot be read.

    Opening without blocking means a FIFO swapped in after the walk cannot hang the count, and
    not following a link at the last step means a link swapped in cannot lead elsewhere (the
    caller passes a real path); the type and size are checked on the open file itself, and a
    file that grows while it is read is read no further than the limit. ``remedy`` is what the
    reason for a file over the limit advises, which depends on whether the caller's limit can
    be raised.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        return f"cannot open: {error.strerror}"
    # The type is checked on the descriptor before it becomes a file object, which refuses a
    # folder with an exception of its own.
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode):
        os.close(descriptor)
        return "a folder, not a file" if stat.S_ISDIR(info.st_mode) else "not a regular file"
    with os.fdopen(descriptor, "rb") as handle:
        if info.st_size > max_file_bytes:
            return (
                f"too large: {info.st_size:,} bytes, over the {max_file_bytes:,}-byte limit "
                f"({remedy})"
            )
        data = handle.read(max_file_bytes + 1)
    if len(data) > max_file_bytes:
        return f"too large: grew past the {max_file_bytes:,}-byte limit while being read"
    return data
