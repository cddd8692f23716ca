"""The ``.gitignore`` rules shoal applies when it walks a folder.

Implements the pattern rules of git's gitignore documentation that decide which files a walk
skips: comments and blank lines, escaped ``#``/``!`` and trailing spaces, negation with ``!``,
directory-only patterns (trailing ``/``), anchoring (a ``/`` at the start or in the middle
makes a pattern relative to its ``.gitignore``'s folder; otherwise it matches at any depth),
``*``, ``?``, ``[...]`` and ``**`` (leading, trailing and between slashes). The last matching
pattern wins, and patterns of a deeper ``.gitignore`` come after those of its parents. A file
inside an ignored folder stays ignored whatever the patterns say, as in git, because the walk
does not enter that folder. Not read: ``.git/info/exclude`` and the user's global excludes file.

A ``.gitignore`` is read as git 2.32 and later read it: never through a symbolic link (a link
could lead out of the folders the walk may read), and only when it is a regular file (a FIFO
would block the walk); one over ``MAX_GITIGNORE_BYTES`` is not applied, with a warning.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

MAX_GITIGNORE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class IgnoreRule:
    """One pattern line: its compiled form and where it applies.

    Attributes:
        pattern: The line as written.
        base: The folder of the ``.gitignore`` (relative to the walk, posix, "" for the top).
        regex: Matches a path relative to ``base``.
        negated: ``!pattern``: a match re-includes the path.
        directory_only: ``pattern/``: matches folders only.
    """

    pattern: str
    base: str
    regex: re.Pattern[str]
    negated: bool
    directory_only: bool


def _read_rules(path: Path) -> str | None:
    """The text of a ``.gitignore`` that is a regular file, not a link, of bounded size."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(path, flags)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        # A symbolic link fails here with ELOOP, as in git.
        if _exists(path):
            logger.warning("%s not applied: %s", path, error.strerror)
        return None
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            logger.warning("%s not applied: not a regular file", path)
            return None
        data = handle.read(MAX_GITIGNORE_BYTES + 1)
    if len(data) > MAX_GITIGNORE_BYTES:
        logger.warning("%s not applied: over %d bytes", path, MAX_GITIGNORE_BYTES)
        return None
    return data.decode("utf-8", errors="replace")


def _exists(path: Path) -> bool:
    """Whether ``path`` is known to exist. In a folder that cannot be searched (mode 000, say)
    a ``.gitignore`` can be neither opened nor seen: the walk reports that folder as one it
    cannot list, and a warning about a file that may not be there would only mislead."""
    try:
        os.lstat(path)
    except OSError:
        return False
    return True


def parse_gitignore(text: str, base: str = "") -> list[IgnoreRule]:
    """The rules of one ``.gitignore`` file whose folder is ``base`` (posix, relative)."""
    rules = []
    for line in text.splitlines():
        rule = _parse_line(line, base)
        if rule is not None:
            rules.append(rule)
    return rules


def _parse_line(line: str, base: str) -> IgnoreRule | None:
    original = line
    line = _strip_trailing_spaces(line)
    if not line or line.startswith("#"):
        return None

    negated = line.startswith("!")
    if negated:
        line = line[1:]
    elif line.startswith(("\\!", "\\#")):
        line = line[1:]

    directory_only = line.endswith("/")
    line = line.rstrip("/")
    if not line:
        return None
    anchored = "/" in line
    line = line.lstrip("/")

    body = _glob_to_regex(line)
    if not anchored:
        body = "(?:.*/)?" + body
    return IgnoreRule(original, base, re.compile(body + r"\Z", re.DOTALL), negated, directory_only)


def _strip_trailing_spaces(line: str) -> str:
    """Drop trailing spaces unless escaped with a backslash (which is then removed)."""
    stripped = line.rstrip(" ")
    if stripped.endswith("\\") and len(stripped) < len(line):
        return stripped[:-1] + " "
    return stripped


def _glob_to_regex(pattern: str) -> str:
    """A regex for a gitignore glob; ``*`` and ``?`` never match ``/``; ``**`` may."""
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index) and (index == 0 or pattern[index - 1] == "/"):
            parts.append("(?:.*/)?")
            index += 3
        elif (
            pattern.startswith("**", index)
            and index + 2 == len(pattern)
            and (index == 0 or pattern[index - 1] == "/")
        ):
            parts.append(".*")
            index += 2
        elif pattern[index] == "*":
            parts.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            parts.append("[^/]")
            index += 1
        elif pattern[index] == "[":
            translated, index = _bracket(pattern, index)
            parts.append(translated)
        elif pattern[index] == "\\" and index + 1 < len(pattern):
            parts.append(re.escape(pattern[index + 1]))
            index += 2
        else:
            parts.append(re.escape(pattern[index]))
            index += 1
    return "".join(parts)


def _bracket(pattern: str, start: int) -> tuple[str, int]:
    """Translate ``[...]`` starting at ``start``; a ``[`` without its ``]`` is literal."""
    index = start + 1
    if index < len(pattern) and pattern[index] in "!^":
        index += 1
    if index < len(pattern) and pattern[index] == "]":
        index += 1
    while index < len(pattern) and pattern[index] != "]":
        index += 1
    if index >= len(pattern):
        return re.escape("["), start + 1

    inside = pattern[start + 1 : index]
    negate = inside[:1] in ("!", "^")
    if negate:
        inside = inside[1:]
    inside = inside.replace("\\", "\\\\").replace("[", "\\[")
    return ("[^/" if negate else "[") + inside + "]", index + 1


class IgnoreMatcher:
    """The rules in force at one folder of a walk: its own and its parents' ``.gitignore``."""

    def __init__(self, rules: tuple[IgnoreRule, ...] = ()) -> None:
        self.rules = rules

    def child(self, folder: Path, relative: str) -> IgnoreMatcher:
        """The matcher for ``folder`` (at ``relative`` in the walk), adding its ``.gitignore``."""
        text = _read_rules(folder / ".gitignore")
        if text is None:
            return self
        return IgnoreMatcher(self.rules + tuple(parse_gitignore(text, relative)))

    def ignored(self, relative: str, is_directory: bool) -> bool:
        """Whether the path ``relative`` (posix, relative to the walk's top) is ignored."""
        verdict = False
        for rule in self.rules:
            if rule.directory_only and not is_directory:
                continue
            if rule.base:
                prefix = rule.base + "/"
                if not relative.startswith(prefix):
                    continue
                local = relative[len(prefix) :]
            else:
                local = relative
            if rule.regex.match(local):
                verdict = not rule.negated
        return verdict
