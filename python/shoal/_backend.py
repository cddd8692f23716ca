"""Choose the implementation of the hot path: the Rust extension or the pure-Python fallback.

Both expose the same functions and classes with the same results. The Rust extension is used
when it imports; the pure-Python package ``shoal._pure`` is used when it does not, or when the
environment variable ``SHOAL_PURE_PYTHON`` is set to ``1`` (the tests use it to run both paths).
"""

from __future__ import annotations

import importlib
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
        # By its full name: `from shoal import _core` while shoal is still importing words a
        # missing file as a "partially initialized module (most likely due to a circular import)".
        _core = importlib.import_module("shoal._core")
    except ModuleNotFoundError:
        logger.warning("Rust extension shoal._core is not installed (no compiled module in %s); "
                       "using the pure-Python fallback, same answers, 2x to 200x slower",
                       os.path.dirname(__file__))
        return _pure_module(), "python"
    except ImportError as error:
        logger.warning("Rust extension shoal._core cannot be loaded (%s); using the pure-Python "
                       "fallback, same answers, 2x to 200x slower", error)
        return _pure_module(), "python"

    return _core, "rust"


def _pure_module() -> ModuleType:
    from shoal import _pure

    return _pure


core, BACKEND = _load()
