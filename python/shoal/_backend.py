"""Choose the implementation of the hot path: the Rust extension or the pure-Python fallback.

Both expose the same functions and classes with the same results. The Rust extension is used
when it imports, was built for this version of shoal and has every name the fallback has; the
pure-Python package ``shoal._pure`` is used otherwise, with one warning saying why, or when the
environment variable ``SHOAL_PURE_PYTHON`` is set to a true value (``1``, ``true``, ``yes``,
``on``; the tests use it to run both paths). ``0``, ``false``, ``no``, ``off`` or an empty value
leave the choice to the extension; any other value is warned about and does the same.
"""

from __future__ import annotations

import importlib
import logging
import os
from types import ModuleType

from shoal import __version__

logger = logging.getLogger(__name__)

PURE_PYTHON_SWITCH = "SHOAL_PURE_PYTHON"
SWITCH_ON = ("1", "true", "yes", "on")
SWITCH_OFF = ("", "0", "false", "no", "off")

_FALLBACK = "using the pure-Python fallback, same answers, 2x to 200x slower"


def _load() -> tuple[ModuleType, str]:
    if _pure_python_asked():
        return _pure_module(), "python"

    try:
        # By its full name: `from shoal import _core` while shoal is still importing words a
        # missing file as a "partially initialized module (most likely due to a circular import)".
        _core = importlib.import_module("shoal._core")
    except ModuleNotFoundError:
        logger.warning("Rust extension shoal._core is not installed (no compiled module in %s); "
                       "%s", os.path.dirname(__file__), _FALLBACK)
        return _pure_module(), "python"
    except ImportError as error:
        logger.warning("Rust extension shoal._core cannot be loaded (%s); %s", error, _FALLBACK)
        return _pure_module(), "python"

    problem = _unusable(_core)
    if problem is not None:
        logger.warning("Rust extension shoal._core at %s %s; %s",
                       getattr(_core, "__file__", "?"), problem, _FALLBACK)
        return _pure_module(), "python"
    return _core, "rust"


def _pure_python_asked() -> bool:
    """Whether ``SHOAL_PURE_PYTHON`` asks for the fallback; an unknown value is warned about."""
    value = os.environ.get(PURE_PYTHON_SWITCH, "").strip().lower()
    if value in SWITCH_ON:
        return True
    if value not in SWITCH_OFF:
        logger.warning("%s=%s is not one of %s (or %s); using the Rust extension if it loads",
                       PURE_PYTHON_SWITCH, os.environ[PURE_PYTHON_SWITCH], ", ".join(SWITCH_ON),
                       ", ".join(value or "''" for value in SWITCH_OFF))
    return False


def _unusable(extension: ModuleType) -> str | None:
    """Why ``extension`` cannot stand in for the fallback (a build left from another version of
    shoal, or a module without the functions the fallback has), or None."""
    built_for = getattr(extension, "__version__", None)
    if built_for != __version__:
        return (f"was built for shoal {built_for or 'of an unknown version'}, not {__version__}; "
                "reinstall shoal to replace it")
    missing = sorted(name for name in _pure_module().__all__ if not hasattr(extension, name))
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        return f"lacks {', '.join(missing[:3])}{more}; reinstall shoal to replace it"
    return None


def _pure_module() -> ModuleType:
    from shoal import _pure

    return _pure


core, BACKEND = _load()
