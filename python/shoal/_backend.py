"""Choose the implementation of the hot path: the Rust extension or the pure-Python fallback.

Both expose the same functions and classes with the same results. The Rust extension is used
when it imports; the pure-Python package ``shoal._pure`` is used when it does not, or when the
environment variable ``SHOAL_PURE_PYTHON`` is set to ``1`` (the tests use it to run both paths).
"""

from __future__ import annotations

import logging
import os
from types import ModuleType

logger = logging.getLogger(__name__)

PURE_PYTHON_SWITCH = "SHOAL_PURE_PYTHON"


def _load() -> tuple[ModuleType, str]:
    if os.environ.get(PURE_PYTHON_SWITCH, "") == "1":
        from shoal import _pure

        return _pure, "python"

    try:
        from shoal import _core
    except ImportError as error:
        logger.warning("Rust extension unavailable (%s); using the pure-Python fallback", error)
        from shoal import _pure

        return _pure, "python"

    return _core, "rust"


core, BACKEND = _load()
