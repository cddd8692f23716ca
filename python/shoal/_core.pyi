"""Type stubs for the Rust extension ``shoal._core``."""

from collections.abc import Sequence

__version__: str

# ---- embedding ----

def embed(texts: Sequence[str], *, dim: int) -> list[list[float]]:
    """Embed texts into unit vectors by feature hashing; a text without words gives zeros.

    Word unigrams, bigrams and character 3-5-grams, signed FNV-1a hashing into ``dim``
    buckets, square-root term frequency, L2 norm. Bit-identical to ``shoal._pure.embed``.
    Raises ValueError if ``dim`` is not in 1..2**20, TypeError if ``texts`` is a str.
    """

class ExemplarIndex:
    """Exemplar vectors (each L2-normalised) searched by brute-force cosine similarity.

    ``vectors`` is a sequence of rows of ``dim`` floats, or ``bytes`` of little-endian float32
    values laid out row after row. Raises ValueError on a ragged or non-finite input.
    """

    def __init__(self, vectors: bytes | Sequence[Sequence[float]], dim: int) -> None: ...
    @property
    def dim(self) -> int: ...
    def __len__(self) -> int: ...
    def scores(self, query: Sequence[float]) -> list[float]:
        """Cosine similarity of ``query`` with every exemplar, in exemplar order."""
    def top_k(self, query: Sequence[float], k: int) -> list[tuple[int, float]]:
        """The ``k`` most similar exemplars as ``(index, cosine)``; ties go to the lower index."""
