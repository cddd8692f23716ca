"""Find secrets and personal data in prompts before they leave the machine.

The scan runs in the Rust core (``shoal._core.scan_privacy``; the pure-Python twin gives the same
findings). It finds:

* secrets: AWS access key ids and secret keys, Google API keys, Azure storage/service-bus keys
  and SAS signatures, GitHub, GitLab, Slack, Stripe, OpenAI, Anthropic and Hugging Face tokens,
  private-key PEM blocks, JWTs, ``Authorization`` headers and bearer tokens, passwords in
  connection strings (``postgres://user:pass@host``, a raw ``/`` or ``?`` in the password where
  the URL cannot read as ``host:port`` and a path; not an image pinned by digest,
  ``docker://alpine:3.19@sha256:…``, whose host would be followed by no port) and
  ``password=``/``api_key=`` assignments (a value holding letters with diacritics,
  ``Pässwörd123``, when it also holds a digit);
* personal data: e-mail addresses, telephone numbers (E.164, North American and ``0``-prefixed
  national formats, and each of those a slash lists: ``0151 23456789/0151 23456780``), card
  numbers that pass the Luhn check with a valid issuer prefix and length, IBANs that pass the
  mod-97 check with their country's length, and US Social Security numbers written
  ``AAA-GG-SSSS`` with an area, group and serial the SSA issues.

Findings joined up are each found: the text is scanned again with its findings redacted, so
that a number one hid (``4539 1488 0343 6467+1 415 867 5309``) is found beside it and the
redacted text scans clean, up to eight scans deep.

Offsets are **characters** (code points) of the Python string: ``text[start:end]`` is the
sensitive part. Results carry the kind and the place, never the value.

Documentation values do not trigger: keys containing ``EXAMPLE`` or placeholders (``xxxx``,
``your_key``), values vendors publish in their docs (AWS, Stripe, jwt.io, test cards, example
IBANs, the SSA's sample Social Security numbers and ``123-45-6789``), masked or templated
passwords (``****``, ``$VAR``, ``<password>``, ``[password]``, ``your_password_here``) and
stand-ins whose letters are only a word such as ``password`` (``password123``), addresses at
domains reserved for documentation (``example.com``/``.net``/``.org``, ``.example``, ``.test``,
``.invalid``, ``.localhost``) and telephone numbers reserved for fiction (``555-0100`` to
``555-0199``, Ofcom drama ranges). Such values cannot reach a person or unlock anything, so they
are treated alike: not findings.

Not covered (measured as misses in the labelled set): bare 10-digit numbers without separators,
lower-case IBANs, spelled-out addresses (``bob at gmail dot com``), passwords in prose,
unprefixed vendor secrets without a keyword in front, Social Security numbers without dashes
or with spaces (nine bare digits are too often something else), passwords holding letters of
other scripts, and ones holding letters with diacritics but no digit.
"""

from __future__ import annotations

import bisect
import json
import logging
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeGuard

from shoal._backend import core
from shoal.errors import InputError, refusal
from shoal.excerpts import excerpt
from shoal.files import (
    DEFAULT_MAX_DATA_FILE_BYTES,
    first_repeat,
    json_line_error,
    object_keeping_repeated_keys,
    read_text_file,
    whole_number_as_given,
    without_byte_order_mark,
)
from shoal.numbers_in import whole_number
from shoal.tokens import check_unicode

logger = logging.getLogger(__name__)

__all__ = [
    "CATEGORIES",
    "KINDS",
    "CategoryScore",
    "PrivacyEvaluation",
    "PrivacyFinding",
    "evaluate_labelled",
    "evaluate_labelled_text",
    "listed_findings",
    "redact",
    "scan_conversation",
    "scan_text",
]

SECRET = "secret"
PERSONAL = "personal"
CATEGORIES = (SECRET, PERSONAL)

#: Every kind the scanner reports, with its category, in tie-breaking order.
KINDS: dict[str, str] = {kind: category for kind, category, _ in core.PRIVACY_PATTERNS}


@dataclass(frozen=True)
class PrivacyFinding:
    """Sensitive data found in a text; the value itself is never kept.

    Attributes:
        kind: What was found, e.g. ``aws_access_key_id``, ``email``, ``card_number``.
        category: ``secret`` or ``personal``.
        location: Which text: ``prompt``, ``history[i]`` (the content of a conversation's
            i-th turn), the path to a string inside a turn (``history[i].content[j].text``,
            ``history[i].tool_calls[k].function.arguments``), or a caller's label.
        start: Offset of the first sensitive character, in code points (as Python counts a
            string; a host counting UTF-16 units, as JavaScript does, must convert: an emoji is
            one code point and two units).
        end: Offset just past the last one, in code points (``text[start:end]``).
    """

    kind: str
    category: str
    location: str
    start: int
    end: int

    def describe(self) -> str:
        """``email in prompt[14:33]``: the kind and the place, without the value."""
        return f"{self.kind} in {self.location}[{self.start}:{self.end}]"


def scan_text(text: str, *, location: str = "prompt") -> tuple[PrivacyFinding, ...]:
    """Secrets and personal data in ``text``, sorted by position (see the module docstring).

    Findings joined up can hide each other from the core scan (a telephone number right after
    a card's last digit reads as part of a longer number), so the text is scanned again with its
    findings redacted, up to :data:`MAX_REDACTED_SCANS` times, and what that finds beside them is
    reported too: :func:`redact`'s output scans clean.

    Args:
        text: Any text; offsets in the result count its characters.
        location: Label recorded in each finding (``prompt``, ``history[2]``, a file name).

    Raises:
        TypeError: If ``text`` or ``location`` is not a str.
        ValueError: If ``text`` holds an unpaired surrogate (no UTF-8 form).
    """
    _check_str("text", text)
    _check_str("location", location)
    try:
        spans = core.scan_privacy(text)
    except ValueError as error:
        raise refusal(error) from None
    spans = spans + _uncovered_by_redaction(text, spans)
    return tuple(
        PrivacyFinding(kind, category, location, start, end)
        for kind, category, start, end in sorted(spans, key=lambda span: span[2])
    )


# Scans of a text with its findings redacted, at the most: each finds what the ones before hid.
MAX_REDACTED_SCANS = 8

Span = tuple[str, str, int, int]


def _uncovered_by_redaction(text: str, spans: Sequence[Span]) -> list[Span]:
    """What a scan of ``text`` with its findings redacted finds beside them, in offsets of
    ``text``, so that the redacted text scans clean.

    Findings joined up hide each other: a telephone number right after a card's last digit
    (``4539 1488 0343 6467+1 415 867 5309``) reads as part of a longer number, and one whose
    ``+1`` a password takes (``password=Xk9mP2vL8qR!ü+1 415 867 5309``) loses the match the
    rest was in. Redacted, each stands alone.
    """
    known = sorted(spans, key=lambda span: span[2])
    added: list[Span] = []
    for _ in range(MAX_REDACTED_SCANS if known else 0):
        redacted, markers = _redacted_with_markers(text, known)
        hidden = [(kind, category, original, original + end - start)
                  for kind, category, start, end in core.scan_privacy(redacted)
                  if (original := markers.original_offset(start, end)) is not None]
        if not hidden:
            break
        added += hidden
        known = sorted(known + hidden, key=lambda span: span[2])
    return added


def _redacted_with_markers(text: str, spans: Sequence[Span]) -> tuple[str, _Markers]:
    """``text`` as :func:`redact` writes it, and where each ``[kind]`` stands: its start and end
    in the redacted text, then the start and end of what it replaced."""
    pieces: list[str] = []
    markers = []
    position = length = 0
    for kind, _, start, end in spans:
        pieces += [text[position:start], f"[{kind}]"]
        length += start - position
        markers.append((length, length + len(kind) + 2, start, end))
        length += len(kind) + 2
        position = end
    pieces.append(text[position:])
    return "".join(pieces), _Markers(markers)


class _Markers:
    """Where each ``[kind]`` of a redacted text stands, to map a span of the redacted text back
    to the text: found by bisection, so a text of many findings maps in n log n, not n²."""

    def __init__(self, markers: Sequence[tuple[int, int, int, int]]) -> None:
        self._starts = [redacted_start for redacted_start, _, _, _ in markers]
        self._ends = [redacted_end for _, redacted_end, _, _ in markers]
        # _shifts[i]: how much longer the redacted text is than the text before marker i.
        self._shifts = [0]
        for redacted_start, redacted_end, original_start, original_end in markers:
            grown = (redacted_end - redacted_start) - (original_end - original_start)
            self._shifts.append(self._shifts[-1] + grown)

    def original_offset(self, start: int, end: int) -> int | None:
        """Where a span of the redacted text starts in the text, or None if it takes in a
        ``[kind]`` (what it found is partly the redaction)."""
        before = bisect.bisect_right(self._ends, start)
        if before < len(self._starts) and self._starts[before] < end:
            return None
        return start - self._shifts[before]


def listed_findings(
    findings: Sequence[PrivacyFinding], limit: int
) -> tuple[PrivacyFinding, ...]:
    """The findings a list of at most ``limit`` shows: every one, in the order found, when they
    fit; else the secrets before the personal data, each in the order found (location, then
    offset), so that a key behind thousands of e-mail addresses is still named.

    Args:
        findings: What :func:`scan_text` or :func:`scan_conversation` found.
        limit: How many the list holds.
    """
    if len(findings) <= limit:
        return tuple(findings)
    # A stable sort: within each category the findings keep the order they were found in.
    return tuple(sorted(findings, key=lambda finding: finding.category != SECRET)[:limit])


def _check_str(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be str, not {type(value).__name__}")


def scan_conversation(
    prompt: str, history: Sequence[Mapping[str, Any]] = ()
) -> tuple[PrivacyFinding, ...]:
    """Scan the history turns and the latest prompt, each text on its own.

    A turn is read as ``route`` reads it (see :func:`shoal.router_policy.check_history`): its
    content a str or a list of text parts, an assistant turn's tool calls included, so that
    every text routing would send is scanned, and a turn routing would refuse is refused. Each
    finding's location names the string its offsets index (see
    :func:`shoal.router_policy.located_texts`): ``history[2]`` for a turn whose content is a
    str, ``history[0].content[1].text`` for a text part,
    ``history[1].tool_calls[0].function.arguments`` for a tool call's arguments, ``prompt``
    for the prompt; :func:`redact` takes that string with that location.

    Raises:
        TypeError: If ``prompt`` is not a str, ``history`` not a list of dicts.
        InputError: If a turn's role or content is malformed or missing (content of another
            type, such as a number), a text holds an unpaired surrogate (no UTF-8 form), there
            are more than :data:`shoal.router_policy.MAX_HISTORY_TURNS` (100,000) turns, or
            they hold more than :data:`shoal.router_policy.MAX_HISTORY_CHARACTERS` (8,000,000)
            characters together.
    """
    # Imported here: shoal.router_policy imports this module.
    from shoal.router_policy import check_history, located_texts

    _check_str("prompt", prompt)
    if isinstance(history, (str, bytes, Mapping)) or not isinstance(history, Sequence):
        # A string would be read as turns of one letter each.
        raise TypeError(f"history must be a list of turns (dicts with 'content'), not "
                        f"{type(history).__name__}")
    for index, turn in enumerate(history):
        if not isinstance(turn, Mapping):
            raise TypeError(f"history[{index}] must be a dict with 'content', not "
                            f"{type(turn).__name__}")
    try:
        check_history(history)
    except ValueError as error:
        raise InputError(str(error)) from None

    findings: list[PrivacyFinding] = []
    for index, turn in enumerate(history):
        for location, text in located_texts(turn, index):
            findings.extend(scan_text(text, location=location))
    findings.extend(scan_text(prompt, location="prompt"))
    return tuple(findings)


def redact(
    text: str, findings: Iterable[PrivacyFinding] | None = None, *, location: str = "prompt"
) -> str:
    """``text`` with every finding replaced by ``[kind]``; scans first when none are given.

    Findings that overlap or nest (a list of your own can hold such; a scan's never do) are
    redacted as one span, from the first start to the last end, so that no character of any
    of them stays visible. The merged span shows the kind of the finding the scanner would
    keep: the earliest, then the longest, then the first listed. Findings that only touch
    (one ends where the next starts) stay two spans, ``[email][phone]``.

    Args:
        text: The text the findings were found in.
        findings: What :func:`scan_text` or :func:`scan_conversation` found in ``text``; None
            scans ``text`` here.
        location: Which text ``text`` is, as the findings name it: ``prompt`` (the default, as
            :func:`scan_text`'s), ``history[2]`` for the content of a conversation's third
            turn, ``history[0].content[1].text`` for a text part (see
            :func:`scan_conversation`), or the label given to :func:`scan_text`. A finding of
            another location is refused, so the findings of a conversation are applied one
            text at a time.

    Raises:
        TypeError: If ``text`` or ``location`` is not a str, or ``findings`` not a list of
            :class:`PrivacyFinding` (whose ``start`` and ``end`` are ints).
        ValueError: If a finding names another location or lies outside ``text`` (it was found
            in another text), or covers no character (``start >= end``: there is nothing to
            hide), or ``text`` holds an unpaired surrogate when it is scanned.
    """
    _check_str("text", text)
    _check_str("location", location)
    if findings is None:
        checked: Sequence[PrivacyFinding] = scan_text(text, location=location)
    else:
        checked = _checked_findings(text, findings, location)
    pieces = []
    position = 0
    for kind, start, end in _merged_spans(checked):
        pieces.append(text[position:start])
        pieces.append(f"[{kind}]")
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def secrets_hidden(text: str) -> str:
    """``text`` with every finding replaced by ``[kind]``, whatever characters it holds: for the
    server's own words (an error, a log line) that may quote what a caller sent.

    The text is scanned as it is and again with each underscore read as a space: a name the
    caller chose (an argument's, an object key) joins words with underscores, which the scanner
    takes for part of a word, so ``extra_AKIA…`` would hide a key from it. An unpaired
    surrogate, which the scanner refuses, is scanned as U+FFFD. Both stand-ins are one
    character for one, so the findings apply to the text as it is.
    """
    scanned = _LONE_SURROGATE.sub("\ufffd", text)
    findings = scan_text(scanned) + scan_text(scanned.replace("_", " "))
    return redact(text, findings) if findings else text


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _merged_spans(findings: Sequence[PrivacyFinding]) -> list[tuple[str, int, int]]:
    """``(kind, start, end)`` of the union of the findings' spans, in order of position.

    Sorted earliest first, then longest, then as listed (the sort is stable), the first finding
    of each merged span is the one whose kind it shows.
    """
    merged: list[tuple[str, int, int]] = []
    for finding in sorted(findings, key=lambda f: (f.start, -f.end)):
        if merged and finding.start < merged[-1][2]:
            kind, start, end = merged[-1]
            merged[-1] = (kind, start, max(end, finding.end))
        else:
            merged.append((finding.kind, finding.start, finding.end))
    return merged


def _checked_findings(text: str, findings: object, location: str) -> list[PrivacyFinding]:
    """``findings`` as a list, refused unless each is a non-empty finding of ``location`` whose
    span lies in ``text``."""
    if isinstance(findings, (str, bytes, Mapping)) or not isinstance(findings, Iterable):
        raise TypeError(f"findings must be a list of PrivacyFinding (from scan_text), not "
                        f"{type(findings).__name__}")
    checked = list(findings)
    for index, finding in enumerate(checked):
        if not isinstance(finding, PrivacyFinding):
            raise TypeError(f"findings[{index}] must be a PrivacyFinding (from scan_text), not "
                            f"{type(finding).__name__}")
        start, end = (_checked_offset(finding, field, index) for field in ("start", "end"))
        if type(finding.start) is not int or type(finding.end) is not int:
            # An offset from numpy, kept as the int it is.
            finding = checked[index] = replace(finding, start=start, end=end)
        if finding.location != location:
            # Offsets into another text would redact the wrong characters and leave the
            # finding's own visible.
            raise InputError(
                f"findings[{index}] ({finding.describe()}) was found in {finding.location}, not "
                f"in {location}: give location={finding.location!r} if this text is that one, "
                f"or only the findings whose location is {location!r}"
            )
        if not (0 <= finding.start <= len(text) and 0 <= finding.end <= len(text)):
            # Cutting outside the text would redact nothing, or the wrong characters.
            raise InputError(
                f"findings[{index}] ({finding.describe()}) lies outside the text of "
                f"{len(text):,} characters: give the findings scan_text found in this text"
            )
        if finding.start >= finding.end:
            # Nothing to hide: writing [kind] would add text that was never there.
            raise InputError(
                f"findings[{index}] ({finding.describe()}) covers no character: a finding's "
                "start is less than its end"
            )
    return checked


def _checked_offset(finding: PrivacyFinding, field: str, index: int) -> int:
    """The ``start`` or ``end`` of ``findings[index]``, refused unless a whole number."""
    # A finding made by hand (dataclasses.replace) may hold any value: 1.5 or None would fail
    # inside the slicing, naming neither the finding nor the field.
    offset = getattr(finding, field)
    number = whole_number(offset)
    if number is None:
        raise TypeError(f"findings[{index}].{field} must be an int, not {type(offset).__name__}")
    return number


# ---- evaluation on a labelled set ----


@dataclass(frozen=True)
class CategoryScore:
    """Precision and recall of one category on a labelled set.

    A found span counts as correct when it overlaps a labelled span of the same category; each
    labelled span is matched at most once.
    """

    category: str
    labelled: int
    found: int
    correct: int
    matched_labels: int
    same_kind: int

    @property
    def precision(self) -> float | None:
        """Share of found spans that were labelled; None when nothing was found (undefined)."""
        return self.correct / self.found if self.found else None

    @property
    def recall(self) -> float | None:
        """Share of labelled spans that were found; None when nothing was labelled (undefined)."""
        return self.matched_labels / self.labelled if self.labelled else None


@dataclass(frozen=True)
class PrivacyEvaluation:
    """Per-category scores over a labelled set, and the rows the scanner got wrong."""

    rows: int
    scores: tuple[CategoryScore, ...]
    false_positives: tuple[str, ...]
    misses: tuple[str, ...]

    def score(self, category: str) -> CategoryScore:
        return next(s for s in self.scores if s.category == category)


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def evaluate_labelled(
    path: str | Path, *, max_file_bytes: int = DEFAULT_MAX_DATA_FILE_BYTES
) -> PrivacyEvaluation:
    """Precision and recall per category on a JSONL file of ``{"id", "text", "expected"}``.

    ``expected`` lists ``{"kind", "category", "start", "end"}`` (character offsets). The
    false-positive and miss lists name the row and kind, never the value.

    Raises:
        ValueError: A file that cannot be read as text (see ``shoal.files.read_text_file``), or
            a bad row (see `evaluate_labelled_text`).
    """
    return evaluate_labelled_text(read_text_file(path, max_file_bytes=max_file_bytes), str(path))


def evaluate_labelled_text(text: str, source: str) -> PrivacyEvaluation:
    """`evaluate_labelled` on the JSONL text itself; ``source`` names it in errors.

    Raises:
        ValueError: No rows, or a row that is not ``{"id": str, "text": str, "expected": [...]}``
            with spans of known kinds inside its text, or an id used twice; the message names
            SOURCE:LINE.
    """
    counts = {c: {"labelled": 0, "found": 0, "correct": 0, "matched": 0, "same_kind": 0}
              for c in CATEGORIES}
    false_positives: list[str] = []
    misses: list[str] = []
    seen: dict[str, str] = {}
    # A byte-order mark some editors put first is not part of the first row.
    text = without_byte_order_mark(text)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        row_id, row_text, labels = _labelled_row(line, where)
        if row_id in seen:
            raise InputError(f"{where}: id {row_id!r} is used before, at {seen[row_id]}")
        seen[row_id] = where
        found = scan_text(row_text, location="text")
        used = [False] * len(labels)
        for finding in found:
            tally = counts[finding.category]
            tally["found"] += 1
            span = (finding.start, finding.end)
            hit = next((i for i, label in enumerate(labels)
                        if label["category"] == finding.category
                        and _overlaps(span, (label["start"], label["end"]))), None)
            if hit is None:
                false_positives.append(f"{row_id}: {finding.describe()}")
                continue
            tally["correct"] += 1
            if not used[hit]:
                used[hit] = True
                tally["matched"] += 1
                tally["same_kind"] += labels[hit]["kind"] == finding.kind
        for label, was_used in zip(labels, used, strict=True):
            counts[label["category"]]["labelled"] += 1
            if not was_used:
                misses.append(f"{row_id}: {label['kind']} at [{label['start']}:{label['end']}]")
    if not seen:
        raise InputError(f"{source}: no labelled rows")
    scores = tuple(
        CategoryScore(category, t["labelled"], t["found"], t["correct"], t["matched"],
                      t["same_kind"])
        for category, t in counts.items()
    )
    return PrivacyEvaluation(len(seen), scores, tuple(false_positives), tuple(misses))


def _labelled_row(line: str, where: str) -> tuple[str, str, list[dict[str, Any]]]:
    """The id, text and expected spans of one labelled row, checked; errors name ``where``."""
    try:
        row = json.loads(line, parse_int=whole_number_as_given,
                         object_pairs_hook=object_keeping_repeated_keys)
    except json.JSONDecodeError as error:
        raise InputError(f"{where}: {json_line_error(line, error)}") from None
    except RecursionError:
        raise InputError(f"{where}: not valid JSON (nested too deeply)") from None
    repeat = first_repeat(row)
    if repeat is not None:
        # A reader keeps the last value: a second "text" would be scored in place of the first.
        place, repeated = repeat
        shown = "the row" if not place else str(place[0]) + "".join(
            f"[{part}]" if isinstance(part, int) else f"[{excerpt(part)}]" for part in place[1:])
        raise InputError(f"{where}: {shown} gives {excerpt(repeated.repeated)} more than once; "
                         "give each field once (only the last would be read)")
    if not isinstance(row, dict) or not isinstance(row.get("id"), str) \
            or not isinstance(row.get("text"), str) or not isinstance(row.get("expected"), list):
        raise InputError(f"{where}: expected an object with id and text (strings) and expected "
                         "(a list of spans)")
    # Found here, the error names the row; the scanner would name only the text's index.
    check_unicode(row["id"], f"{where}: the id")
    check_unicode(row["text"], f"{where}: the text of row {row['id']!r}")
    spans = set()
    for label in row["expected"]:
        _check_label(label, len(row["text"]), where)
        span = (label["kind"], label["start"], label["end"])
        if span in spans:
            raise InputError(f"{where}: span {label['kind']} [{label['start']}:{label['end']}] "
                             "is listed twice")
        spans.add(span)
    return row["id"], row["text"], row["expected"]


def _is_offset(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_label(label: Any, text_length: int, where: str) -> None:
    if not isinstance(label, dict) or not isinstance(label.get("kind"), str):
        raise InputError(f"{where}: each expected span is an object {{kind, category, start, "
                         "end}")
    if label["kind"] not in KINDS:
        raise InputError(f"{where}: span kind {label['kind']!r} is not one the scanner reports "
                         f"(one of {', '.join(sorted(KINDS))})")
    if "category" not in label:
        raise InputError(f"{where}: span {label['kind']} has no category (kind {label['kind']} is "
                         f"{KINDS[label['kind']]} data)")
    if label["category"] not in CATEGORIES:
        raise InputError(f"{where}: span category {label.get('category')!r} is not one of "
                         f"{', '.join(CATEGORIES)}")
    if label["category"] != KINDS[label["kind"]]:
        raise InputError(f"{where}: span kind {label['kind']} is {KINDS[label['kind']]} data, "
                         f"not {label['category']}")
    start, end = label.get("start"), label.get("end")
    if not _is_offset(start) or not _is_offset(end):
        raise InputError(f"{where}: span start and end must be whole numbers (character "
                         f"offsets), got {json.dumps(start)} and {json.dumps(end)}")
    if not 0 <= start < end <= text_length:
        characters = "character" if text_length == 1 else "characters"
        raise InputError(f"{where}: span [{start}:{end}] is not inside the text "
                         f"({text_length} {characters}; 0 <= start < end)")


def _share(value: float | None) -> str:
    # A share of nothing is undefined, not perfect: a category with no labels and no findings
    # must not read as 1.000 precision and recall.
    return "n/a" if value is None else f"{value:.3f}"


def render_evaluation(evaluation: PrivacyEvaluation) -> str:
    """A small table of the scores, then the rows that went wrong."""
    lines = [f"{evaluation.rows} labelled row{'' if evaluation.rows == 1 else 's'}",
             f"{'category':<10} {'labelled':>8} {'found':>6} {'precision':>9} {'recall':>7} "
             f"{'same kind':>9}"]
    for s in evaluation.scores:
        lines.append(f"{s.category:<10} {s.labelled:>8} {s.found:>6} {_share(s.precision):>9} "
                     f"{_share(s.recall):>7} {s.same_kind:>9}")
    lines += [f"false positive  {item}" for item in evaluation.false_positives]
    lines += [f"missed          {item}" for item in evaluation.misses]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m shoal.privacy ...``: the same as ``shoal privacy ...``."""
    from shoal.cli import main as shoal_main

    return shoal_main(["privacy", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
