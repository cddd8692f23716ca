"""shoal: which model should do a task, how many tokens it is, what it costs, and whether it runs
on a given machine.

The function behind every MCP tool is importable from here, as is every error class (each a
``ShoalError``, see :mod:`shoal.errors`)::

    from shoal import count_tokens, route, estimate_cost, fit_budget, hardware_fit, port_chip
    from shoal import ShoalError, LedgerError, RoutingError, UnknownModelError

They are loaded on first use, so ``import shoal`` stays cheap for the command line and the server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Set before the backend loads: it refuses an extension built for another version.
__version__ = "0.1.0"

from shoal._backend import BACKEND

# Public name -> module that defines it: every MCP tool's function, a few helpers, and every
# error class a caller may catch (all derive from ShoalError).
_EXPORTS = {
    "ShoalError": "shoal.errors",
    "InputError": "shoal.errors",
    "CatalogError": "shoal.catalog",
    "UnknownModelError": "shoal.catalog",
    "NoTokensError": "shoal.cost",
    "BudgetTooSmallError": "shoal.budget",
    "TokenBudgetError": "shoal.token_budget",
    "FeedbackError": "shoal.feedback",
    "PathNotAllowedError": "shoal.files",
    "FileTooLargeError": "shoal.files",
    "UnknownNameError": "shoal.hardware",
    "UnknownDeviceError": "shoal.hardware",
    "UnknownArchitectureError": "shoal.hardware",
    "UnknownNodeError": "shoal.hardware",
    "UnknownQuantisationError": "shoal.hardware",
    "UserFileError": "shoal.hardware",
    "ParameterError": "shoal.hardware",
    "LedgerError": "shoal.ledger",
    "BudgetExceededError": "shoal.ledger",
    "DamagedLedgerError": "shoal.ledger",
    "LedgerReplacedError": "shoal.ledger",
    "NoDataDirectoryError": "shoal.ledger",
    "RequestConflictError": "shoal.ledger",
    "RepeatedRequestError": "shoal.ledger",
    "ImportRecordError": "shoal.ledger",
    "RoutingError": "shoal.router",
    "NoEligibleModelError": "shoal.router",
    "PrivacyBlockedError": "shoal.router",
    "PrivacyPolicyError": "shoal.router_policy",
    "EvaluationError": "shoal.router_eval",
    "RouterFileError": "shoal.router_model",
    "DamagedInstallError": "shoal.shipped_data",
    "count_tokens": "shoal.tokens",
    "count_chat": "shoal.tokens",
    "encode": "shoal.tokens",
    "decode": "shoal.tokens",
    "truncate": "shoal.token_budget",
    "split_chunks": "shoal.token_budget",
    "count_till_limit": "shoal.token_budget",
    "count_files": "shoal.files",
    "route": "shoal.router",
    "load_router": "shoal.router",
    "fit_router": "shoal.router",
    "scan_text": "shoal.privacy",
    "scan_conversation": "shoal.privacy",
    "redact": "shoal.privacy",
    "record_outcome": "shoal.feedback",
    "estimate_cost": "shoal.cost",
    "estimate_cost_for_text": "shoal.cost",
    "compare_costs": "shoal.cost",
    "load_catalog": "shoal.catalog",
    "fit_budget": "shoal.budget",
    "trim_chat": "shoal.budget",
    "record_usage": "shoal.ledger",
    "import_usage": "shoal.ledger",
    "set_limit": "shoal.ledger",
    "budget_status": "shoal.ledger",
    "savings_report": "shoal.report",
    "hardware_fit": "shoal.hardware",
    "port_chip": "shoal.hardware",
    "pareto_front": "shoal.hardware",
    "sweep": "shoal.hardware",
    "list_devices": "shoal.hardware",
    "list_nodes": "shoal.hardware",
}

__all__ = [
    "BACKEND",
    "BudgetExceededError",
    "BudgetTooSmallError",
    "CatalogError",
    "DamagedInstallError",
    "DamagedLedgerError",
    "EvaluationError",
    "FeedbackError",
    "FileTooLargeError",
    "ImportRecordError",
    "InputError",
    "LedgerError",
    "LedgerReplacedError",
    "NoDataDirectoryError",
    "NoEligibleModelError",
    "NoTokensError",
    "ParameterError",
    "PathNotAllowedError",
    "PrivacyBlockedError",
    "PrivacyPolicyError",
    "RepeatedRequestError",
    "RequestConflictError",
    "RouterFileError",
    "RoutingError",
    "ShoalError",
    "TokenBudgetError",
    "UnknownArchitectureError",
    "UnknownDeviceError",
    "UnknownModelError",
    "UnknownNameError",
    "UnknownNodeError",
    "UnknownQuantisationError",
    "UserFileError",
    "__version__",
    "budget_status",
    "compare_costs",
    "count_chat",
    "count_files",
    "count_till_limit",
    "count_tokens",
    "decode",
    "encode",
    "estimate_cost",
    "estimate_cost_for_text",
    "fit_budget",
    "fit_router",
    "hardware_fit",
    "import_usage",
    "list_devices",
    "list_nodes",
    "load_catalog",
    "load_router",
    "pareto_front",
    "port_chip",
    "record_outcome",
    "record_usage",
    "redact",
    "route",
    "savings_report",
    "scan_conversation",
    "scan_text",
    "set_limit",
    "split_chunks",
    "sweep",
    "trim_chat",
    "truncate",
]

if TYPE_CHECKING:
    from shoal.budget import BudgetTooSmallError, fit_budget, trim_chat
    from shoal.catalog import CatalogError, UnknownModelError, load_catalog
    from shoal.cost import NoTokensError, compare_costs, estimate_cost, estimate_cost_for_text
    from shoal.errors import InputError, ShoalError
    from shoal.feedback import FeedbackError, record_outcome
    from shoal.files import FileTooLargeError, PathNotAllowedError, count_files
    from shoal.hardware import (
        ParameterError,
        UnknownArchitectureError,
        UnknownDeviceError,
        UnknownNameError,
        UnknownNodeError,
        UnknownQuantisationError,
        UserFileError,
        hardware_fit,
        list_devices,
        list_nodes,
        pareto_front,
        port_chip,
        sweep,
    )
    from shoal.ledger import (
        BudgetExceededError,
        DamagedLedgerError,
        ImportRecordError,
        LedgerError,
        LedgerReplacedError,
        NoDataDirectoryError,
        RepeatedRequestError,
        RequestConflictError,
        budget_status,
        import_usage,
        record_usage,
        set_limit,
    )
    from shoal.privacy import redact, scan_conversation, scan_text
    from shoal.report import savings_report
    from shoal.router import (
        NoEligibleModelError,
        PrivacyBlockedError,
        RoutingError,
        fit_router,
        load_router,
        route,
    )
    from shoal.router_eval import EvaluationError
    from shoal.router_model import RouterFileError
    from shoal.router_policy import PrivacyPolicyError
    from shoal.shipped_data import DamagedInstallError
    from shoal.token_budget import TokenBudgetError, count_till_limit, split_chunks, truncate
    from shoal.tokens import count_chat, count_tokens, decode, encode


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'shoal' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    # The public names load on first use, so the module's own namespace lacks them until then;
    # dir() (and with it tab completion) lists them as if they were there.
    return sorted({*globals(), *__all__})
