"""JSON as shoal prints and serves it: money and memory figures without float noise.

Costs and sizes are sums and products of prices and byte counts, whose last bits are noise
(0.0060799999999999995 for 0.00608). The CLI's ``--json`` and the MCP structured content round
them the same way, so the two give the same figure for the same question.
"""

from __future__ import annotations

import json
import math
from typing import Any

# Fields whose name has one of these words (``total_usd``, ``memory_available_gb``) are money
# (USD) and memory (GB) figures.
ROUNDED_UNITS = frozenset({"usd", "gb"})
# Enough digits for a nano-dollar up to $1,000, far more than any price or size is known to.
ROUNDED_DIGITS = 12


def rounded_figures(value: Any, unit_field: bool = False) -> Any:
    """``value`` (JSON-shaped) with its money and GB figures to `ROUNDED_DIGITS` significant
    digits; every other value as it is."""
    if isinstance(value, dict):
        return {key: rounded_figures(item, not ROUNDED_UNITS.isdisjoint(str(key).split("_")))
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded_figures(item, unit_field) for item in value]
    if unit_field and isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.{ROUNDED_DIGITS}g}")
    return value


def json_text(payload: object) -> str:
    """The CLI's ``--json`` output: indented, keys sorted, figures rounded."""
    return json.dumps(rounded_figures(payload), indent=2, sort_keys=True, ensure_ascii=False)
