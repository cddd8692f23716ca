"""Pure-Python fallback for every function of the Rust extension ``shoal._core``.

It is the readable reference implementation and the test oracle: the tests run the same inputs
through both and require identical results.

Each name loads its module on first use. Importing one module of the package (``shoal.hardware``
takes ``port_device`` from ``shoal._pure.hardware``) runs this file first, and on the Rust path
the other modules' work at import (the privacy scanner's tables and patterns) is neither needed
nor wanted. The embedding's names are the exception, imported here: the function ``embed`` shares
its module's name, and a later first import of the module (``shoal.router_model`` takes
``HashedTexts`` from it) would put the module where the function belongs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from shoal._pure.embed import ExemplarIndex, embed, embed_int8, embedding_sums

if TYPE_CHECKING:
    from shoal._pure.estimate import NeighbourEstimator
    from shoal._pure.hardware import (
        estimate_inference,
        pareto_sweep,
        scale_chip,
        sweep_inference,
    )
    from shoal._pure.privacy import PRIVACY_PATTERNS, scan_privacy
    from shoal._pure.tokens import ENCODINGS, count, count_many, decode, encode

# The module of this package that defines each name.
_HOMES = {
    "NeighbourEstimator": "estimate",
    "estimate_inference": "hardware",
    "pareto_sweep": "hardware",
    "scale_chip": "hardware",
    "sweep_inference": "hardware",
    "PRIVACY_PATTERNS": "privacy",
    "scan_privacy": "privacy",
    "ENCODINGS": "tokens",
    "count": "tokens",
    "count_many": "tokens",
    "decode": "tokens",
    "encode": "tokens",
}

__all__ = [
    "ENCODINGS",
    "PRIVACY_PATTERNS",
    "ExemplarIndex",
    "NeighbourEstimator",
    "__version__",
    "count",
    "count_many",
    "decode",
    "embed",
    "embed_int8",
    "embedding_sums",
    "encode",
    "estimate_inference",
    "pareto_sweep",
    "scale_chip",
    "scan_privacy",
    "sweep_inference",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later uses find it without this call
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
