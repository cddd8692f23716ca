"""Short excerpts of the caller's values, for error messages.

An error repeats what it refuses so the caller can find it, but the value may be a 100 MB
string, a million-item list or a million missing paths: an error that repeated it whole would
be as large, and over MCP larger than any answer may be. Values are shown here cut in the
middle ('AAAAAAAAAAAAAAAAA...AAAAAAAAAAAAAAAAAA'), with the first few of a list and how many
more, and in JSON's spelling (null, true, false, ["n2"], {"a": 1}), which is what a caller over
MCP sent and a JSON file holds; a string on its own is quoted as a name is ('n2').

A value is also shown escaped where it holds characters that do not print: echoed raw, a
control or format character can rewrite the terminal line (``\\x1b[2K``) or reverse the text
around it (U+202E, right-to-left override), so that the message reads as something it does not
say. Numbers are written in plain decimal as they would be typed (``0.0000000001``, not
``1e-10``), and a number of more digits than an excerpt holds is cut in the middle as a
string is. A field a file's row should not have is shown with the field it was likely meant
to be.
"""

from __future__ import annotations

import difflib
import itertools
import json
import math
import os
import re
import reprlib
from collections.abc import Iterable, Mapping, Sequence
from decimal import Context, Decimal
from typing import Any

# Characters of a value an error shows; a longer one keeps its two ends.
EXCERPT_CHARACTERS = 40
# Characters of a path an error shows as typed; a path's two ends (its folder and its file name)
# are what tell it apart, and most paths are shorter than this.
PATH_CHARACTERS = 100
# Items of a list an error names before saying how many more there are.
LISTED_ITEMS = 5
# Past this many bits a whole number is not written out: Python refuses to write an int of more
# than 4,300 digits (sys.get_int_max_str_digits), and the time it takes grows with the square of
# the length. 14,000 bits is about 4,200 digits.
WRITTEN_INT_BITS = 14_000


class _JsonSpelling(reprlib.Repr):
    """reprlib's bounded repr, with JSON's words for the values JSON and Python spell apart."""

    # reprlib looks its methods up by the type's name, hence the spelling.
    def repr_NoneType(self, value: None, level: int) -> str:
        return "null"

    def repr_bool(self, value: bool, level: int) -> str:
        return "true" if value else "false"

    def repr_int(self, value: int, level: int) -> str:
        return _whole_number(value, self.maxlong)

    def repr_float(self, value: float, level: int) -> str:
        if not math.isfinite(value):
            # NaN and the infinities as the json module writes them (some clients send them).
            return json.dumps(value)
        # Plain decimal, with the ".0" that marks a float in JSON (5000000000.0 is no integer).
        digits = f"{Decimal(repr(value)):f}"
        return _cut_in_the_middle(digits if "." in digits else digits + ".0", self.maxother)

    def repr_str(self, value: str, level: int) -> str:
        # On its own a string is quoted as shoal's messages quote a name ('n2'); inside a list
        # or an object, as JSON writes it (["n2"], {"a": 1}), the spelling a caller sent.
        if level >= self.maxlevel:
            return super().repr_str(value, level)
        quoted = _json_string(value[: self.maxstring])
        if len(quoted) > self.maxstring:
            head = max(0, (self.maxstring - 3) // 2)
            tail = max(0, self.maxstring - 3 - head)
            quoted = _json_string(value[:head] + value[len(value) - tail:])
            quoted = quoted[:head] + self.fillvalue + quoted[len(quoted) - tail:]
        return quoted

    def repr_dict(self, value: dict[Any, Any], level: int) -> str:
        # In the order given, as a caller wrote it: reprlib's own sorts every key first, which
        # for a million-key object is the slow part of the error.
        if not value:
            return "{}"
        if level <= 0:
            return "{...}"
        pieces = [
            f"{self.repr1(key, level - 1)}: {self.repr1(item, level - 1)}"
            for key, item in itertools.islice(value.items(), self.maxdict)
        ]
        if len(value) > self.maxdict:
            pieces.append("...")
        return "{" + ", ".join(pieces) + "}"


def _json_string(text: str) -> str:
    """``text`` in JSON's double quotes, each character that does not print (a control or
    format character) and each quote or backslash escaped as JSON escapes it."""
    return '"' + "".join(
        character if character.isprintable() and character not in '"\\'
        else json.dumps(character)[1:-1]
        for character in text
    ) + '"'


def _excerpter(width: int) -> reprlib.Repr:
    shown = _JsonSpelling()
    shown.maxstring = shown.maxother = width
    shown.maxlist = shown.maxdict = shown.maxtuple = shown.maxset = 3
    shown.maxlevel = 2
    return shown


_VALUE = _excerpter(EXCERPT_CHARACTERS)
_PATH = _excerpter(PATH_CHARACTERS)


def excerpt(value: object) -> str:
    """``value`` as an error shows it: a string quoted and cut to about `EXCERPT_CHARACTERS`,
    a list or object to its first items, None, True and False as null, true and false. The
    work is bounded too: a million-item list is not read through."""
    return _VALUE.repr(value)


def json_type(value: object) -> str:
    """The JSON name of ``value``'s type (``object``, ``array``, ``string``, ``number``,
    ``boolean``, ``null``), as an error names the type of a value a caller sent as JSON; a value
    JSON has no type for keeps its Python name (``bytes``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__


def shown_path(path: str) -> str:
    """A path as the caller typed it, or quoted when that would mislead or overflow: a space at
    either end is invisible unquoted, so is a control character (a NUL, a newline) unescaped,
    and a path longer than `PATH_CHARACTERS` is cut in the middle."""
    if len(path) > PATH_CHARACTERS:
        return quoted_path(path)
    return listed_name(path)


def listed_name(name: str) -> str:
    """A name (a path, an id, a scope) as a line of text lists it: as it is, or quoted as
    `shown_path` quotes it when it would mislead, with each control and format character
    escaped (``'x.txt\\n  skipped y'``, ``'\\u202etxt.exe'``), but never cut, since a listing
    is where the whole name is read. Unescaped, a newline in a file name would print as a line
    of the listing of its own, and U+202E would reverse the text after it; letters of any
    script (``café.txt``, ``日本.txt``) print as they are, also where an ASCII-only locale
    (``LC_ALL=C``) made Python read a UTF-8 name's bytes as lone surrogates."""
    name = as_typed(name)
    if name != name.strip() or not name.isprintable():
        return repr(name)
    return name


_SURROGATE = re.compile("[\ud800-\udfff]")


def as_typed(text: str) -> str:
    """``text`` (an argument, a file name) decoded again as UTF-8 where Python decoded it with
    a locale's narrower encoding: under ``LC_ALL=C`` a typed ``café`` arrives as
    ``'caf\\udcc3\\udca9'``, its bytes kept as lone surrogates. Text whose bytes are not UTF-8
    is left as it is, as under a UTF-8 locale it always is."""
    if _SURROGATE.search(text) is None:
        return text
    try:
        return os.fsencode(text).decode("utf-8")
    except UnicodeError:
        return text


def quoted_path(path: str) -> str:
    """A path quoted, cut in the middle when longer than `PATH_CHARACTERS`."""
    return _PATH.repr(path)


def first_few(shown: Iterable[str], total: int) -> str:
    """``a, b, c`` or ``a, b, c and 7 more``: the items already shown (at most `LISTED_ITEMS`
    are taken) out of ``total``."""
    listed = [item for item, _ in zip(shown, range(LISTED_ITEMS), strict=False)]
    more = total - len(listed)
    return ", ".join(listed) + (f" and {more:,} more" if more > 0 else "")


def index_ranges(indices: Iterable[int]) -> list[tuple[int, int]]:
    """Rising indices as inclusive runs: ``[0, 1, 2, 5]`` -> ``[(0, 2), (5, 5)]``."""
    runs: list[tuple[int, int]] = []
    for index in indices:
        if runs and index == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    return runs


def numbered_runs(numbers: Sequence[int], noun: str) -> str:
    """Rising numbers of things called ``noun``, however many, in a few words: ``step 4``,
    ``steps 1-10,000``, or the first `LISTED_ITEMS` runs and how many numbers are left out
    (``steps 1, 3, 5, 7, 9 and 7 more``)."""
    if len(numbers) == 1:
        return f"{noun} {numbers[0]:,}"
    runs = index_ranges(numbers)
    listed = runs[:LISTED_ITEMS]
    shown = ", ".join(f"{first:,}" if first == last else f"{first:,}-{last:,}"
                      for first, last in listed)
    more = len(numbers) - sum(last - first + 1 for first, last in listed)
    return f"{noun}s {shown}" + (f" and {more:,} more" if more else "")


def unknown_field(
    row: Mapping[Any, Any], known: Sequence[str], noun: str = "field"
) -> str | None:
    """``unknown field 'scroe' (did you mean 'score'?)`` for the first field of ``row`` not in
    ``known`` (called ``noun``), or None when every field is known."""
    for name in row:
        if name not in known:
            # difflib's cutoff (a ratio of 0.6) is out of reach of a name over 2.4 times as long
            # as every known one, and comparing costs its length: a megabyte name is not compared.
            longest = max((len(field) for field in known), default=0)
            close = (difflib.get_close_matches(name, known, n=1)
                     if isinstance(name, str) and len(name) <= 3 * longest else [])
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return f"unknown {noun} {excerpt(name)}{hint}"
    return None


def plain_number(value: float) -> str:
    """A number as decimal digits, as it would be typed: ``0.0000000001`` rather than
    ``1e-10``, ``5000000000`` rather than ``5000000000.0``; past `EXCERPT_CHARACTERS` digits
    cut in the middle (``1e+300`` is ``100000000000000000...0000000000000000000``); inf and nan
    as Python writes them."""
    if isinstance(value, int):
        return _whole_number(value)
    if not math.isfinite(value):
        return str(value)
    return _cut_in_the_middle(f"{_decimal(value).normalize():f}")


def _decimal(value: float) -> Decimal:
    """The float's decimal digits: as typed when it keeps its spelling (a `TypedNumber` of the
    command line: 99999999999999999999 is not 100000000000000000000), else its shortest repr."""
    spelling = getattr(value, "spelling", None)
    if isinstance(spelling, str):
        try:
            return Decimal(spelling)
        except ArithmeticError:
            pass
    # float's own repr: a subclass's (numpy's float64 writes np.float64(2.5)) is no number.
    return Decimal(float.__repr__(value)) if isinstance(value, float) else Decimal(value)


def grouped_number(value: float) -> str:
    """A number as every error quotes one, over MCP, on the command line and in Python: in
    decimal digits, its whole part in groups of three (``1,000,001``, ``2,000,000.5``,
    ``0.0000000001``) as shoal writes the limits a number is checked against, so that an error's
    refused value and its limit read alike.

    A number whose digits would run past `EXCERPT_CHARACTERS` is written short, its significant
    digits and a power of ten (``1e+300``, ``-1.5e-300``, ``1.2345678901234568e+35``): cut in
    the middle, a 300-digit number reads as neither its size nor its value, and the digits a
    float turned into an integer holds past its 17th (``1e300`` is 1000000000000000052504...)
    were never sent. Past `WRITTEN_INT_BITS` a whole number is said by its length; inf and nan
    are written as Python writes them.
    """
    if isinstance(value, int) and value.bit_length() > WRITTEN_INT_BITS:
        return _whole_number(value)
    if isinstance(value, float) and not math.isfinite(value):
        # A number a float cannot hold is quoted as its file spelled it (shoal.files'
        # SpelledNumber), short, or in the short form when the spelling runs to thousands of
        # digits; inf and nan as Python writes them.
        written = str(value)
        return written if len(written) <= EXCERPT_CHARACTERS else _short_form(value)
    digits = str(value) if isinstance(value, int) else f"{_decimal(value).normalize():f}"
    sign, unsigned = ("-", digits[1:]) if digits.startswith("-") else ("", digits)
    whole, point, fraction = unsigned.partition(".")
    first = len(whole) % 3 or 3
    groups = [whole[:first], *(whole[index:index + 3] for index in range(first, len(whole), 3))]
    grouped = sign + ",".join(groups) + point + fraction
    return grouped if len(grouped) <= EXCERPT_CHARACTERS else _short_form(value)


# Most significant digits a short form keeps: as many as a float's shortest digits can have.
_SHORT_FORM_DIGITS = 17


def _short_form(value: float) -> str:
    """``value`` as its significant digits, at most 17, and a power of ten: for a whole number
    a float holds, the float's shortest digits (``1e+300``, not the 1.0000000000000001e+300 of
    the integer a float of 1e300 turns into)."""
    context = Context(prec=_SHORT_FORM_DIGITS)
    if isinstance(value, int):
        try:
            value = float(value)
        except OverflowError:
            return f"{context.create_decimal(value).normalize(context):e}"
    return f"{_decimal(value).normalize(context):e}"


def _whole_number(value: int, width: int = EXCERPT_CHARACTERS) -> str:
    """``value`` in decimal digits, cut in the middle past ``width``; past `WRITTEN_INT_BITS`,
    how many digits it has."""
    if value.bit_length() <= WRITTEN_INT_BITS:
        return _cut_in_the_middle(str(value), width)
    # The count from the bit length may be one too many, hence "about".
    digits = math.floor(value.bit_length() * math.log10(2)) + 1
    return f"a {'negative ' if value < 0 else ''}whole number of about {digits:,} digits"


def _cut_in_the_middle(text: str, width: int = EXCERPT_CHARACTERS) -> str:
    """``text`` itself, or past ``width`` characters its two ends around ``...``, as an excerpt
    cuts a string (without the quotes): the first and last digits of a long number."""
    if len(text) <= width:
        return text
    head = (width - 3) // 2
    return text[:head] + "..." + text[len(text) - (width - 3 - head):]


def escaped(text: str) -> str:
    """``text`` with each character that is not printable, other than a line break, written as
    its escape (``\\x1b``, ``\\u202e``), as ``repr`` writes it."""
    if text.isprintable():
        return text
    return "".join(
        character if character.isprintable() or character == "\n"
        else character.encode("unicode_escape").decode("ascii")
        for character in text
    )


def unprintable(text: str) -> str | None:
    """Why ``text`` would not print as it reads, or None: a control character (a newline, a
    terminal escape) or a format one (U+202E reverses the text after it) in a name or text that
    is printed back would make its line read as something it does not say."""
    if text.isprintable():
        return None
    hidden = next(character for character in text if not character.isprintable())
    return (f"must hold only printable characters (no control or format characters, no space "
            f"but ' '), got {hidden!r} in {excerpt(text)}")
