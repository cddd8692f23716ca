"""How a value the user gave is quoted back in an error: bounded and escaped.

An error that echoes an argument whole can be megabytes long (an id pasted from the wrong
clipboard), and one that echoes control or format characters raw can rewrite the terminal line
(``\\x1b[2K``) or reverse the text around it (U+202E, right-to-left override), so that the message
reads as something it does not say.
"""

from __future__ import annotations

import math
import reprlib
from decimal import Decimal

# The most characters of a string an error quotes, and of its items, as the MCP server's
# argument errors quote them.
EXCERPT_CHARACTERS = 40

_EXCERPT = reprlib.Repr()
_EXCERPT.maxstring = _EXCERPT.maxother = EXCERPT_CHARACTERS
_EXCERPT.maxlist = _EXCERPT.maxdict = _EXCERPT.maxtuple = 3
_EXCERPT.maxlevel = 2


def excerpt(value: object) -> str:
    """``value`` as Python writes it (``'a\\u202eb'``), cut in the middle to about
    `EXCERPT_CHARACTERS` characters (``'xxxx...xxxx'``); ``repr`` escapes every character that
    is not printable."""
    return _EXCERPT.repr(value)


def plain_number(value: float) -> str:
    """A number as decimal digits, as it would be typed: ``0.0000000001`` rather than
    ``1e-10``, ``5000000000`` rather than ``5000000000.0``. Past `EXCERPT_CHARACTERS` digits
    (``1e+300``), and for inf and nan, as Python writes it."""
    if isinstance(value, int) or not math.isfinite(value):
        return str(value)
    digits = f"{Decimal(repr(value)).normalize():f}"
    return digits if len(digits) <= EXCERPT_CHARACTERS else repr(value)


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
