"""shoal: which model should do a task, how many tokens it is, what it costs, and whether it runs
on a given machine.

The public functions are importable from here::

    from shoal import count_tokens, route, estimate_cost, hardware_fit, port_chip

They are loaded on first use, so ``import shoal`` stays cheap for the command line and the server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from shoal._backend import BACKEND

__version__ = "0.1.0"

# Public name -> module that defines it.
_EXPORTS = {
    "count_tokens": "shoal.tokens",
    "count_chat": "shoal.tokens",
    "encode": "shoal.tokens",
    "decode": "shoal.tokens",
    "route": "shoal.router",
    "load_router": "shoal.router",
    "fit_router": "shoal.router",
    "estimate_cost": "shoal.cost",
    "estimate_cost_for_text": "shoal.cost",
    "compare_costs": "shoal.cost",
    "load_catalog": "shoal.catalog",
    "hardware_fit": "shoal.hardware",
    "port_chip": "shoal.hardware",
    "list_devices": "shoal.hardware",
    "list_nodes": "shoal.hardware",
}

__all__ = [
    "BACKEND",
    "__version__",
    "compare_costs",
    "count_chat",
    "count_tokens",
    "decode",
    "encode",
    "estimate_cost",
    "estimate_cost_for_text",
    "fit_router",
    "hardware_fit",
    "list_devices",
    "list_nodes",
    "load_catalog",
    "load_router",
    "port_chip",
    "route",
]

if TYPE_CHECKING:
    from shoal.catalog import load_catalog
    from shoal.cost import compare_costs, estimate_cost, estimate_cost_for_text
    from shoal.hardware import hardware_fit, list_devices, list_nodes, port_chip
    from shoal.router import fit_router, load_router, route
    from shoal.tokens import count_chat, count_tokens, decode, encode


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'shoal' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
