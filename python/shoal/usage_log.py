"""A usage log in JSON Lines, as ``shoal ledger import`` reads it: one call a line, a JSON object
with the fields of :func:`shoal.ledger.record_usage` (``scope``, ``model``, ``input_tokens``, ...).

A line is parsed only when the import comes to it, so a log of a million calls is never held as
a million dictionaries; the text itself is read whole, under ``--max-file-bytes``, as every
other file shoal reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from shoal.errors import InputError
from shoal.excerpts import json_type
from shoal.files import (
    RepeatedKeyObject,
    json_line_error,
    number_as_written,
    object_keeping_repeated_keys,
    whole_number_as_given,
    without_byte_order_mark,
)
from shoal.ledger import nothing_imported


class UsageLog:
    """The records of a JSON Lines text (``shown`` names it), blank lines left out; a byte order
    mark before the first line is read past.

    Its length is the number of records, so an import's progress has a total; ``line(index)``
    is the line of the record at ``index``, by which an error names it.
    """

    def __init__(self, text: str, shown: str) -> None:
        self.shown = shown
        self._lines = without_byte_order_mark(text).splitlines()
        self._numbers = [number for number, line in enumerate(self._lines, start=1)
                         if line.strip()]

    def __len__(self) -> int:
        return len(self._numbers)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for number in self._numbers:
            yield self._record(number)

    def line(self, index: int) -> int:
        """The line (from 1) of the record at ``index`` (from 0)."""
        return self._numbers[index]

    def refusal(self, index: int, problem: str) -> InputError:
        """The error naming the record at ``index`` by its file and line."""
        return self._refused(self.line(index), problem)

    def _record(self, number: int) -> dict[str, Any]:
        line = self._lines[number - 1]
        try:
            # Numbers kept as the line spells them, so that a refusal quotes 1e400, not inf.
            record = json.loads(line, parse_int=whole_number_as_given,
                                parse_float=number_as_written,
                                object_pairs_hook=object_keeping_repeated_keys)
        except json.JSONDecodeError as error:
            problem = json_line_error(line, error)
        except RecursionError:
            problem = "JSON nested too deeply"
        else:
            if not isinstance(record, dict):
                problem = f"each line must be a JSON object, got {json_type(record)}"
            elif isinstance(record, RepeatedKeyObject):
                # A reader keeps the last value: two token counts, and one would be charged.
                problem = record.refusal()
            else:
                return record
        raise self._refused(number, problem)

    def _refused(self, number: int, problem: str) -> InputError:
        # The import is one transaction: a refused line leaves nothing of it behind.
        return InputError(f"{self.shown}:{number}: {nothing_imported(problem)}")
