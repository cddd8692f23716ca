"""JSON as shoal prints and serves it: money and memory figures without float noise.

Costs and sizes are sums and products of prices and byte counts, whose last bits are noise
(0.0060799999999999995 for 0.00608). The CLI's ``--json`` and the MCP structured content round
them the same way, so the two give the same figure for the same question. Hardware estimates
(``shoal hw``) are rounded in every figure, as their watts, joules, tokens/s and ratios are the
same kind of arithmetic (4.001999999999999 W for 4.002 W).

Both write a lone surrogate as U+FFFD (see `without_surrogates`): a file name's bytes that are not
UTF-8 reach Python as lone surrogates, which valid JSON cannot hold. Neither writes an infinite
or NaN figure, which JSON has no number for (Python's ``Infinity`` is no JSON, and the MCP SDK
sends it as null, against the output schema): the inputs are bounded so that none arises, and
one that still does is refused naming where it is (see `non_finite_figure`).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# Fields whose name has one of these words (``total_usd``, ``memory_available_gb``,
# ``burn_span_hours``) are money (USD), memory (GB) and time (hours) figures.
ROUNDED_UNITS = frozenset({"usd", "gb", "hours"})
# Enough digits for a nano-dollar up to $1,000, far more than any price or size is known to.
ROUNDED_DIGITS = 12


def rounded_figures(value: Any, unit_field: bool = False, *, every_float: bool = False) -> Any:
    """``value`` (JSON-shaped) with its money, GB and hour figures to `ROUNDED_DIGITS` significant
    digits; every other value as it is. With ``every_float``, every float is rounded: for
    estimates, in which no float is an exact quantity (a timestamp would lose its digits)."""
    if isinstance(value, dict):
        return {
            key: rounded_figures(
                item, not ROUNDED_UNITS.isdisjoint(str(key).split("_")), every_float=every_float
            )
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [rounded_figures(item, unit_field, every_float=every_float) for item in value]
    if (unit_field or every_float) and isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.{ROUNDED_DIGITS}g}")
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def without_surrogates(value: Any) -> Any:
    """``value`` (JSON-shaped) with each lone surrogate in its strings, keys among them, written
    as U+FFFD. Python reads a file name's bytes that are not UTF-8 as lone surrogates (byte
    0xFF as U+DCFF); written out as they are, they make bytes that are not UTF-8, which no JSON
    reader takes and no JSON-RPC answer can carry."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {without_surrogates(key): without_surrogates(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [without_surrogates(item) for item in value]
    return value


def non_finite_figure(value: Any, where: str = "") -> str | None:
    """Where ``value`` (JSON-shaped) holds an infinite or NaN float, with that float
    (``points[2].joules_per_token (inf)``), or None when it holds none."""
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{where or 'the value'} ({value})"
    if isinstance(value, dict):
        items: Any = ((f"{where}.{key}" if where else str(key), item)
                      for key, item in value.items())
    elif isinstance(value, (list, tuple)):
        items = ((f"{where}[{index}]", item) for index, item in enumerate(value))
    else:
        return None
    for place, item in items:
        found = non_finite_figure(item, place)
        if found is not None:
            return found
    return None


def refuse_non_finite(value: Any) -> None:
    """Refuse to write ``value`` when it holds an infinite or NaN figure (see
    `non_finite_figure`): a ValueError saying where."""
    found = non_finite_figure(value)
    if found is not None:
        raise ValueError(f"the result's {found} is not a finite number, which JSON cannot hold; "
                         "an input is past the range the arithmetic describes")


def json_text(payload: object, *, every_float: bool = False) -> str:
    """The CLI's ``--json`` output: indented, keys sorted, figures rounded (see
    `rounded_figures`), lone surrogates written as U+FFFD (see `without_surrogates`)."""
    rounded = rounded_figures(payload, every_float=every_float)
    return _surrogates_replaced(rounded, indent=2, sort_keys=True)


def json_line(payload: object) -> str:
    """One line of JSON Lines output (``--jsonl``): keys sorted, figures rounded and lone
    surrogates written as `json_text` has them, on one line with no spaces."""
    return _surrogates_replaced(rounded_figures(payload), sort_keys=True, separators=(",", ":"))


def _surrogates_replaced(value: Any, **form: Any) -> str:
    """``json.dumps(without_surrogates(value), ensure_ascii=False, **form)``, walking ``value``
    a second time only when its text holds a lone surrogate (written raw, as ASCII is not
    ensured): almost none does, and the walk of a routing decision took as long as routing.
    A figure that is not finite is refused (see `refuse_non_finite`), found by a walk only
    when ``json`` meets one."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, **form)
    except ValueError:
        refuse_non_finite(value)
        raise
    if _SURROGATE.search(text) is None:
        return text
    return json.dumps(without_surrogates(value), ensure_ascii=False, allow_nan=False, **form)
