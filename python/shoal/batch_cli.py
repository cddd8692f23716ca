"""`shoal route --file`: read a JSONL batch of prompts, and write each decision as it is made.

A batch is written as it is routed (the table's rows, the JSON Lines' decisions), so what the
command holds grows with the input file, never with the decisions: a decision with every
candidate and its nearest exemplars is tens of kilobytes, and a whole batch of them written as
one indented JSON document took gigabytes. ``--json`` still prints one document, assembled in
a temporary file so that a batch that stops on a bad row prints nothing on standard output.
``--max-alternatives`` and ``--max-neighbours`` shorten each decision written, after the summary
has counted every candidate.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

from shoal.batch import BatchTally, kept_local, summary_dict
from shoal.errors import ShoalError
from shoal.excerpts import first_few, json_type
from shoal.files import (
    RepeatedKeyObject,
    json_line_error,
    object_keeping_repeated_keys,
    whole_number_as_given,
    without_byte_order_mark,
)
from shoal.json_output import json_line, json_text
from shoal.progress import ProgressLine
from shoal.render import plural
from shoal.router import NoEligibleModelError, PrivacyBlockedError, RoutingDecision

logger = logging.getLogger(__name__)

# Exit status of a batch that routed its good rows past one or more it skipped
# (--keep-going); an error that stops the batch exits 2, as every shoal error does.
SKIPPED_ROWS_STATUS = 1


@dataclass(frozen=True)
class Shown:
    """How much of each decision the JSON forms write: runners-up after the chosen model and
    nearest exemplars, each None for all of them."""

    alternatives: int | None = None
    neighbours: int | None = None

    def of(self, decision: RoutingDecision) -> RoutingDecision:
        """``decision`` as written: shortened, with a note, when a limit leaves something out."""
        if self.alternatives is None and self.neighbours is None:
            return decision
        alternatives = len(decision.alternatives) if self.alternatives is None else (
            self.alternatives)
        neighbours = len(decision.neighbours) if self.neighbours is None else self.neighbours
        return decision.shortened(alternatives=alternatives, neighbours=neighbours)


@dataclass(frozen=True)
class BatchRow:
    """One prompt of a batch file: its line, and its prompt or why the row is refused."""

    line: int
    prompt: str = ""
    refusal: str = ""


class RowError(ShoalError, ValueError):
    """A row of the batch that cannot be routed, named ``FILE:LINE``."""


def read_rows(text: str, shown: str) -> list[BatchRow]:
    """Every prompt row of a JSONL batch (``shown`` names it), blank lines left out. A byte
    order mark before the first line is read past, as ``shoal fit`` reads past it.

    A row is 'prompt', 'question', or MT-Bench's 'turns', of which the first is routed: the
    later turns follow up on an answer the row does not hold.
    """
    rows = []
    for number, line in enumerate(without_byte_order_mark(text).splitlines(), start=1):
        if line.strip():
            try:
                rows.append(BatchRow(number, prompt=_prompt_of(line)))
            except ValueError as error:
                rows.append(BatchRow(number, refusal=f"{shown}:{number}: {error}"))
    if not rows:
        raise ValueError(f"{shown}: no prompts")
    return rows


# The fields a row may give its prompt in, one per row.
PROMPT_FIELDS = ("prompt", "question", "turns")


def _prompt_of(line: str) -> str:
    try:
        row = json.loads(line, parse_int=whole_number_as_given,
                         object_pairs_hook=object_keeping_repeated_keys)
    except json.JSONDecodeError as error:
        raise ValueError(json_line_error(line, error)) from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if not isinstance(row, dict):
        raise ValueError(f"each line must be a JSON object, got {json_type(row)}")
    if isinstance(row, RepeatedKeyObject):
        # A reader keeps the last value: {"prompt": "a", "prompt": "b"} would route "b".
        raise ValueError(row.refusal())
    given = [key for key in PROMPT_FIELDS if key in row]
    if len(given) > 1:
        # Only one would be routed, and nothing would say the other was not.
        named = [repr(key) for key in given]
        both = "both " if len(named) == 2 else ""
        raise ValueError(f"gives {both}{', '.join(named[:-1])} and {named[-1]}; give one "
                         "prompt per row: only one of them would be routed")
    for key in ("prompt", "question"):
        if key in row:
            if not isinstance(row[key], str) or not row[key].strip():
                raise ValueError(f"'{key}' must be a non-empty string")
            return _checked_text(row[key])
    if "turns" in row:
        turns = row["turns"]
        if (not isinstance(turns, list) or not turns
                or not all(isinstance(turn, str) for turn in turns)):
            raise ValueError("'turns' must be a non-empty list of strings")
        if not turns[0].strip():
            raise ValueError("'turns' starts with an empty turn; the first turn is the prompt "
                             "routed")
        return _checked_text(turns[0])
    raise ValueError("no 'prompt', 'question' or 'turns' field")


def _checked_text(prompt: str) -> str:
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("the prompt has an unpaired surrogate escape") from None
    return prompt


def route_rows(
    rows: list[BatchRow], shown: str, route: Callable[[str], RoutingDecision], *,
    keep_going: bool, skipped: Callable[[int, str], None],
    worded: Callable[[str], str] = str,
) -> Iterator[tuple[BatchRow, RoutingDecision]]:
    """Each routable row with its decision, in file order.

    Without ``keep_going`` the first refused row stops the batch (a malformed one before any
    is routed); with it, each refused row, and each whose prompt no candidate can take or the
    privacy policy blocks, is passed to ``skipped`` with its line and a message naming
    ``FILE:LINE`` (``shown`` names the file). ``worded`` words a routing error as the caller's
    user knows the options (the command line's ``--privacy block``).
    """
    if not keep_going:
        refused = next((row.refusal for row in rows if row.refusal), None)
        if refused is not None:
            raise RowError(refused)
    return _routed(rows, shown, route, keep_going=keep_going, skipped=skipped, worded=worded)


def _routed(
    rows: list[BatchRow], shown: str, route: Callable[[str], RoutingDecision], *,
    keep_going: bool, skipped: Callable[[int, str], None], worded: Callable[[str], str],
) -> Iterator[tuple[BatchRow, RoutingDecision]]:
    for row in rows:
        if row.refusal:
            skipped(row.line, row.refusal)
            continue
        try:
            decision = route(row.prompt)
        except (NoEligibleModelError, PrivacyBlockedError) as error:
            # What one prompt holds; an error of the options stops the batch at its first row.
            message = f"{shown}:{row.line}: {worded(str(error))}"
            if not keep_going:
                raise RowError(message) from None
            skipped(row.line, message)
            continue
        yield row, decision


class BatchWriter:
    """Writes a batch's decisions as they are made, then its summary, in one of three forms:
    the text table, one JSON document (``--json``) or JSON Lines (``--jsonl``)."""

    def __init__(
        self, form: str, out: IO[str], *, keep_going: bool, shown: Shown | None = None,
        progress: ProgressLine | None = None,
    ) -> None:
        self.form = form
        self.out = out
        self.keep_going = keep_going
        self.shown = shown or Shown()
        self.progress = progress
        # Rows printed to the terminal the progress line is drawn on must not land on it.
        self._clear_before_rows = progress is not None and out.isatty()
        self.tally = BatchTally()
        self.kept: list[int] = []
        self.skipped: list[tuple[int, str]] = []
        # --json's document is assembled here and printed only once the batch is whole.
        self._spool: IO[str] | None = None

    def start(self) -> None:
        """Write the table's header, or open --json's temporary file."""
        from shoal.render import BATCH_HEADER

        if self.form == "text":
            self._write(BATCH_HEADER)
        elif self.form == "json":
            self._spool = tempfile.TemporaryFile("w+", encoding="utf-8")

    def decision(self, row: BatchRow, decision: RoutingDecision) -> None:
        """Write one decision (to --json's temporary file) and count it in the summary."""
        from shoal.render import batch_row

        first = self.tally.prompts == 0
        self.tally.add(decision)
        if kept_local(decision):
            self.kept.append(row.line)
        if self.form == "text":
            self._write(batch_row(row.line, row.prompt, decision))
            return
        # Each decision names its line: blank lines make a decision's place in the batch and
        # its prompt's line in the file differ.
        payload = {**self.shown.of(decision).to_dict(), "line": row.line}
        if self.form == "jsonl":
            self._write(json_line(payload))
            return
        assert self._spool is not None
        self._spool.write(("" if first else ",") + "\n" + _indented(json_text(payload), 4))

    def skip(self, line: int, message: str) -> None:
        """Name a skipped row on stderr now, and in the summary at the end."""
        self.skipped.append((line, message))
        if self.progress is not None:
            self.progress.clear()
        print(f"shoal route: skipped {message}", file=sys.stderr, flush=True)

    def finish(self, shown: str) -> None:
        """Write the summary (and the rows skipped, with --keep-going), and --json's document."""
        summary = self.tally.summary()
        if self.form == "text":
            from shoal.render import batch_summary

            lines = batch_summary(summary, self.kept)
            if self.keep_going:
                lines.append(_skipped_line(shown, [line for line, _ in self.skipped]))
            self._write("\n".join(lines))
            return
        tail: dict[str, Any] = {"summary": summary_dict(summary)}
        if self.keep_going:
            tail["skipped"] = [{"line": line, "error": message}
                               for line, message in self.skipped]
        if self.form == "jsonl":
            self._write(json_line(tail))
            return
        self._write_document(tail)

    def _write_document(self, tail: Mapping[str, Any]) -> None:
        """The --json document as ``json_text`` would write it whole: the decisions from the
        spool, then the skipped rows (with --keep-going) and the summary."""
        assert self._spool is not None
        self._spool.seek(0)
        decisions = self._spool.read(1)
        self.out.write('{\n  "decisions": [')
        if not decisions:
            self.out.write("]")
        else:
            self.out.write(decisions)
            while chunk := self._spool.read(1 << 20):
                self.out.write(chunk)
            self.out.write("\n  ]")
        for key in sorted(tail):
            self.out.write(f',\n  "{key}": ' + _indented(json_text(tail[key]), 2).lstrip())
        self.out.write("\n}\n")
        self.out.flush()

    def close(self) -> None:
        """Let go of --json's temporary file, whether the batch was written or stopped."""
        if self._spool is not None:
            self._spool.close()

    def _write(self, text: str) -> None:
        # One write per line, with its line break: print() writes the two apart, and a Ctrl-C
        # landing between them left a row cut short on stdout. Flushed: a long batch shows each
        # row as it is decided, through a pipe too.
        if self._clear_before_rows:
            assert self.progress is not None
            self.progress.clear()
        self.out.write(text + "\n")
        self.out.flush()


def _indented(text: str, spaces: int) -> str:
    """``text`` with every line indented: JSON strings hold no raw line break, so each line of
    an indented JSON text is one of its own lines."""
    pad = " " * spaces
    return "\n".join(pad + line for line in text.split("\n"))


def _skipped_line(shown: str, lines: list[int]) -> str:
    if not lines:
        return "skipped:  no rows"
    named = first_few([f"{shown}:{line}" for line in lines], len(lines))
    return f"skipped:  {plural(len(lines), 'row')} ({named}); exit status {SKIPPED_ROWS_STATUS}"


def route_file(
    text: str, shown: str, route: Callable[[str], RoutingDecision], *, form: str,
    keep_going: bool, worded: Callable[[str], str] = str, written: Shown | None = None,
    progress: ProgressLine | None = None,
) -> int:
    """Route every row of a batch file (its ``text``; ``shown`` names it) and write the
    decisions as they are made, in ``form`` (``text``, ``json`` or ``jsonl``), each shortened
    as ``written`` says; ``progress`` shows how many rows are done. Returns the exit status: 0,
    or :data:`SKIPPED_ROWS_STATUS` when ``keep_going`` skipped a row."""
    from shoal.render import plural

    rows = read_rows(text, shown)
    logger.info("routing %s from %s", plural(len(rows), "prompt"), shown)
    writer = BatchWriter(form, sys.stdout, keep_going=keep_going, shown=written,
                         progress=progress)
    # Rows are checked before the first is routed: a malformed one stops the batch at once.
    decided = route_rows(rows, shown, route, keep_going=keep_going, skipped=writer.skip,
                         worded=worded)
    # Rows skipped before a routed one count as done too: the bar follows the file.
    done_at = {row.line: done for done, row in enumerate(rows, start=1)}
    writer.start()
    try:
        for row, decision in decided:
            writer.decision(row, decision)
            if progress is not None:
                progress("routing", done_at[row.line], len(rows), "prompts")
        writer.finish(shown)
    finally:
        writer.close()
        if progress is not None:
            progress.close()
    return SKIPPED_ROWS_STATUS if writer.skipped else 0
