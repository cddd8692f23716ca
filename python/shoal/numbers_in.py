"""Numbers a Python caller passes, read as the plain int or float the rest of shoal works with.

A token count, a limit or a dollar amount often comes from numpy or pandas (a DataFrame's
column holds ``numpy.int64`` and ``numpy.float32``), and neither is an ``int`` or ``float``
subclass: a check by ``isinstance`` refused them as "not an int". They are read here by the
protocols Python defines for numbers instead (``__index__`` and :class:`numbers.Real`), and
turned into the built-in type, so that no numpy value reaches the Rust core, a JSON answer or
the ledger's database.

Each function returns None for a value it does not take, leaving the message to the caller:
the checks word their refusals differently, and each names its own parameter.
"""

from __future__ import annotations

import math
import numbers
import operator
from typing import Any, SupportsIndex, cast


def whole_number(value: object) -> int | None:
    """``value`` as an int when it is a whole number: an int or anything with ``__index__``
    (``numpy.int64``); None for a bool, a float or anything else.

    An int is returned as it is, of a subclass too (an ``IntEnum``): only a bool is refused.
    """
    # bool is an int, but True as a token count is a slip; numpy.bool_ refuses __index__.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return operator.index(cast(SupportsIndex, value))
    except TypeError:
        return None


def int_when_whole(value: Any) -> Any:
    """``value`` as an int when it is a whole number (see `whole_number`), else as given: for a
    value that a later check refuses in its own words when it is no whole number."""
    number = whole_number(value)
    return value if number is None else number


def real_number(value: object) -> int | float | None:
    """``value`` as an int or float when it is a real number; None for a bool or anything else.

    A whole number (see `whole_number`) stays an int, so that it is shown and written as the same
    int would be. A float, or a float subclass (``numpy.float64``, a JSON reader's number that
    keeps its spelling), is returned as it is. Any other :class:`numbers.Real`
    (``numpy.float32``, ``fractions.Fraction``) becomes the nearest float; one past the float
    range becomes the infinity of its sign, which every range check refuses.

    A :class:`decimal.Decimal` is refused, as Python's numeric tower does (it is no
    ``numbers.Real``): it is chosen for exact decimal digits, which a float would silently round,
    and it refuses arithmetic with floats.
    """
    whole = whole_number(value)
    if whole is not None:
        return whole
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    if isinstance(value, float):
        return value
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf  # type: ignore[operator]
