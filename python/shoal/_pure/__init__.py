"""Pure-Python fallback for every function of the Rust extension ``shoal._core``.

It is the readable reference implementation and the test oracle: the tests run the same inputs
through both and require identical results.
"""

from shoal._pure.embed import ExemplarIndex, embed, embed_int8, embedding_sums
from shoal._pure.estimate import NeighbourEstimator
from shoal._pure.hardware import (
    estimate_inference,
    pareto_sweep,
    scale_chip,
    sweep_inference,
)
from shoal._pure.privacy import PRIVACY_PATTERNS, scan_privacy
from shoal._pure.tokens import ENCODINGS, count, count_many, decode, encode

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
