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

# ---- tokens ----

ENCODINGS: tuple[str, ...]
"""Names of the BPE encodings ``encode``/``count``/``decode`` accept: cl100k_base, o200k_base."""

def encode(encoding: str, text: str, *, allow_special: bool = False) -> list[int]:
    """Token ids of ``text`` in ``encoding``, identical to tiktoken 0.14's.

    Special-token text such as ``<|endoftext|>`` is ordinary text unless ``allow_special`` is
    set, when it becomes the special token's id. Raises ValueError for an unknown encoding (the
    message lists the valid ones) or a text with an unpaired surrogate (the message gives its
    index).
    """

def count(encoding: str, text: str, *, allow_special: bool = False) -> int:
    """Number of tokens of ``text`` in ``encoding``, without building the id list.

    Same rules and errors as ``encode``.
    """

def count_many(encoding: str, texts: Sequence[str], *, allow_special: bool = False) -> list[int]:
    """Number of tokens of each text, in order; a large batch is spread over the cores.

    Raises TypeError if ``texts`` is a str or holds a non-str, ValueError as ``encode``.
    """

def decode(encoding: str, ids: Sequence[int]) -> bytes:
    """The bytes of the token ``ids`` in ``encoding``, concatenated (not always valid UTF-8).

    Raises ValueError for an id the encoding does not define (including unused gaps such as
    100256 in cl100k_base), TypeError for an id that is not an int.
    """

# ---- end tokens ----
