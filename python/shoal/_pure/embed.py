"""Hashed text embeddings and a cosine exemplar index, in pure Python.

The reference for ``rust/embed.rs``; both give bit-identical results. The embedding needs no
model download:

1. ASCII letters are lower-cased; other characters are kept (Unicode case tables differ between
   Python and Rust releases, so they are not used).
2. Words are maximal runs of ASCII letters and digits and of non-ASCII characters outside a fixed
   list of Unicode spaces and punctuation.
3. Features: each word (weight 1), each pair of adjacent words (weight 1) and each character 3-,
   4- and 5-gram of ``<word>`` (weight 1/2).
4. A feature is hashed with FNV-1a 64 over a tag byte and its UTF-8 bytes, then the MurmurHash3
   finaliser; the hash modulo ``dim`` picks the bucket and its top bit the sign.
5. Bucket sums (exact, the weights are dyadic) become ``sign * sqrt(|sum|)``; the vector is then
   L2-normalised with ``math.fsum``, a correctly rounded sum, which the Rust side reproduces.

The exemplar index stores rows as int8 codes, codes a query as int16 and scores with exact
integer dot products and squared norms: the same numbers in both languages, whatever the order
of additions.
"""

from __future__ import annotations

import array
import heapq
import itertools
import math
import struct
import sys
from collections.abc import Iterable, Iterator, Sequence

MAX_DIM = 1 << 20

_MASK = (1 << 64) - 1
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3

_TAG_WORD = ord("w")
_TAG_BIGRAM = ord("b")
_TAG_CHARGRAM = ord("c")

_WORD_WEIGHT = 1.0
_BIGRAM_WEIGHT = 1.0
_CHARGRAM_WEIGHT = 0.5
_CHARGRAM_SIZES = (3, 4, 5)

# Exemplar rows are int8 codes (largest magnitude 127), queries int16 codes (32767).
_ROW_CODE_MAX = 127.0
_QUERY_CODE_MAX = 32_767.0

# Non-ASCII code point ranges (inclusive) that separate words.
_SEPARATORS = (
    (0x0085, 0x0085),
    (0x00A0, 0x00A1),
    (0x00AB, 0x00AB),
    (0x00B7, 0x00B7),
    (0x00BB, 0x00BB),
    (0x00BF, 0x00BF),
    (0x1680, 0x1680),
    (0x2000, 0x206F),
    (0x3000, 0x3003),
    (0x3008, 0x3011),
    (0xFE10, 0xFE19),
    (0xFE30, 0xFE4F),
    (0xFEFF, 0xFEFF),
    (0xFF01, 0xFF0F),
    (0xFF1A, 0xFF20),
    (0xFF3B, 0xFF40),
    (0xFF5B, 0xFF65),
)

_ASCII_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_ASCII_LOWER = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"
)


def _check_dim(dim: object) -> int:
    if not isinstance(dim, int):
        raise TypeError(f"dim must be an int, got {type(dim).__name__}")
    if not 1 <= dim <= MAX_DIM:
        raise ValueError(f"dim must be between 1 and {MAX_DIM}, got {dim}")
    return dim


def _is_word_char(char: str) -> bool:
    code = ord(char)
    if code < 0x80:
        return char in _ASCII_WORD
    return not any(low <= code <= high for low, high in _SEPARATORS)


def _split_words(text: str) -> list[str]:
    words: list[str] = []
    current: list[str] = []
    for char in text:
        if _is_word_char(char):
            current.append(char)
        elif current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    return [word.translate(_ASCII_LOWER) for word in words]


def _finalise(value: int) -> int:
    # MurmurHash3's 64-bit finaliser: spreads FNV's weak high bits, which carry the sign.
    value ^= value >> 33
    value = (value * 0xFF51AFD7ED558CCD) & _MASK
    value ^= value >> 33
    value = (value * 0xC4CEB9FE1A85EC53) & _MASK
    return value ^ (value >> 33)


def _fnv1a(tag: int, data: bytes) -> int:
    value = ((_FNV_OFFSET ^ tag) * _FNV_PRIME) & _MASK
    for byte in data:
        value = ((value ^ byte) * _FNV_PRIME) & _MASK
    return _finalise(value)


def _add_feature(vector: list[float], value: int, weight: float) -> None:
    bucket = value % len(vector)
    if value >> 63:
        vector[bucket] -= weight
    else:
        vector[bucket] += weight


def _l2_normalise(vector: list[float]) -> list[float]:
    # Dividing by the largest magnitude first keeps the squares from overflowing.
    largest = max((abs(x) for x in vector), default=0.0)
    if largest == 0.0:
        return vector
    scaled = [x / largest for x in vector]
    norm = math.sqrt(math.fsum(x * x for x in scaled))
    return [x / norm for x in scaled]


def _quantise(vector: Sequence[float], code_max: float) -> list[int]:
    # round() on a float rounds half to even, as Rust's round_ties_even.
    largest = max((abs(x) for x in vector), default=0.0)
    if largest == 0.0:
        return [0] * len(vector)
    return [round(x / largest * code_max) for x in vector]


def _bucket_sums(text: str, dim: int) -> list[float]:
    """The weights of the text's features summed per bucket (steps 1 to 4 of the module
    docstring): exact, multiples of 1/2."""
    vector = [0.0] * dim
    words = _split_words(text)

    for word in words:
        _add_feature(vector, _fnv1a(_TAG_WORD, word.encode()), _WORD_WEIGHT)
    for first, second in itertools.pairwise(words):
        data = first.encode() + b" " + second.encode()
        _add_feature(vector, _fnv1a(_TAG_BIGRAM, data), _BIGRAM_WEIGHT)
    for word in words:
        wrapped = "<" + word + ">"
        for size in _CHARGRAM_SIZES:
            for start in range(len(wrapped) - size + 1):
                data = wrapped[start : start + size].encode()
                _add_feature(vector, _fnv1a(_TAG_CHARGRAM, data), _CHARGRAM_WEIGHT)
    return vector


def _embedding(sums: Iterable[float]) -> list[float]:
    """The unit vector of bucket sums (step 5 of the module docstring)."""
    return _l2_normalise([math.copysign(math.sqrt(abs(x)), x) for x in sums])


def _embed_one(text: str, dim: int) -> list[float]:
    return _embedding(_bucket_sums(text, dim))


def embed(texts: Sequence[str], *, dim: int) -> list[list[float]]:
    """Embed texts into unit vectors by feature hashing.

    Args:
        texts: The texts; a text without words embeds to the zero vector.
        dim: Number of hash buckets, 1 to 2**20.

    Returns:
        One list of ``dim`` floats per text.

    Raises:
        TypeError: If ``texts`` is a str or holds a non-str, or ``dim`` is not an int.
        ValueError: If ``dim`` is out of range.
    """
    # The texts are checked before dim, in the order the Rust binding reads its arguments.
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence):
        raise TypeError(f"texts must be a list of str, not {type(texts).__name__}")
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{position}] must be a str, got {type(text).__name__}")
    dim = _check_dim(dim)
    return [_embed_one(text, dim) for text in texts]


# Texts embedded at a time by ``embedding_sums``. Each batch's column sums are kept exactly, so
# the batch size changes no bit of the result; it bounds how many vectors are held at once.
_SUM_BATCH = 64


def _check_texts(texts: object) -> Sequence[str]:
    """The texts, refused as the Rust binding refuses them while reading its arguments: not a
    list of str (TypeError), or a str holding a lone surrogate (UnicodeEncodeError)."""
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence):
        raise TypeError(f"texts must be a list of str, not {type(texts).__name__}")
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{position}] must be a str, got {type(text).__name__}")
        text.encode()
    return texts


def _exact_terms(values: Sequence[float]) -> list[float]:
    """A few floats whose exact sum is the exact sum of ``values``: ``math.fsum``'s correctly
    rounded total, then the correctly rounded remainder while one is left (a remainder that
    rounds to zero is zero, as every sum of floats is a multiple of the smallest one)."""
    terms: list[float] = []
    while (rest := math.fsum([*values, *(-term for term in terms)])) != 0.0:
        terms.append(rest)
    return terms


def embedding_sums(texts: Sequence[str], *, dim: int) -> list[float]:
    """Per dimension, the correctly rounded sum of the texts' embeddings, as ``math.fsum`` over
    each column of ``embed(texts, dim=dim)``, without holding every embedding at once.

    Raises:
        TypeError: If ``texts`` is a str or holds a non-str, or ``dim`` is not an int.
        ValueError: If ``dim`` is out of range.
    """
    texts = _check_texts(texts)
    dim = _check_dim(dim)
    return _column_sums((_embed_one(text, dim) for text in texts), len(texts), dim)


def _column_sums(vectors: Iterator[list[float]], count: int, dim: int) -> list[float]:
    """Per dimension, the correctly rounded sum of the ``count`` ``vectors``, taken
    :data:`_SUM_BATCH` at a time."""
    terms: list[list[float]] = [[] for _ in range(dim)]
    for _ in range(0, count, _SUM_BATCH):
        _add_columns(terms, list(itertools.islice(vectors, _SUM_BATCH)))
    return [math.fsum(column_terms) for column_terms in terms]


def _add_columns(terms: list[list[float]], vectors: list[list[float]]) -> None:
    """Adds each column of ``vectors`` to its exact terms (a function of its own, so that a
    batch is let go before the next is embedded)."""
    for column_terms, column in zip(terms, zip(*vectors, strict=True), strict=True):
        column_terms[:] = _exact_terms([*column_terms, *column])


def embed_int8(texts: Sequence[str], *, dim: int, centre: Sequence[float]) -> bytes:
    """Each text's embedding minus ``centre``, as int8 codes row after row: a row is scaled so
    its largest magnitude becomes 127 and rounded half to even (all zero when it equals
    ``centre``), as :class:`ExemplarIndex` codes its rows.

    Raises:
        TypeError: If ``texts`` is a str or holds a non-str, ``dim`` is not an int, or
            ``centre`` is not a sequence of numbers.
        ValueError: If ``dim`` is out of range, or ``centre`` does not hold ``dim`` finite
            values.
    """
    texts = _check_texts(texts)
    if not isinstance(dim, int):
        raise TypeError(f"dim must be an int, got {type(dim).__name__}")
    offsets = _numbers(centre, "centre")
    dim = _check_dim(dim)
    _check_centre(offsets, dim)
    return _centred_codes((_embed_one(text, dim) for text in texts), offsets)


def _check_centre(offsets: list[float], dim: int) -> None:
    if len(offsets) != dim:
        raise ValueError(f"centre has {len(offsets)} values, expected dim={dim}")
    if not all(math.isfinite(x) for x in offsets):
        raise ValueError("centre has a NaN or infinite value")


def _centred_codes(vectors: Iterable[list[float]], offsets: list[float]) -> bytes:
    """Each vector minus ``offsets`` as int8 codes, row after row."""
    codes = array.array("b")
    for vector in vectors:
        centred = [x - c for x, c in zip(vector, offsets, strict=True)]
        codes.extend(_quantise(centred, _ROW_CODE_MAX))
    return codes.tobytes()


# Typecodes of signed arrays, narrowest first, with the largest magnitude each holds.
_SIGNED_ARRAYS = (("b", 127), ("h", 32_767), ("i", 2**31 - 1), ("q", 2**63 - 1))


class HashedTexts:
    """Texts hashed once, for a caller that needs each text's embedding more than once: a
    router fit takes the mean embedding, then each one's int8 code relative to it, then some
    again as calibration queries.

    Hashing the features is nearly all of an embedding's time here, while the bucket sums are
    small: each is kept doubled (a whole number, every weight being a multiple of 1/2) in the
    narrowest signed array that holds its text's sums, a byte a bucket for all but very long
    texts, where an embedding as Python floats takes 32. Results are those of the module's
    functions on the same texts, bit for bit.

    Raises:
        TypeError: If ``texts`` is a str or holds a non-str, or ``dim`` is not an int.
        ValueError: If ``dim`` is out of range.
    """

    def __init__(self, texts: Sequence[str], *, dim: int) -> None:
        texts = _check_texts(texts)
        self._dim = _check_dim(dim)
        self._doubled_sums = [_doubled(_bucket_sums(text, self._dim)) for text in texts]

    def __len__(self) -> int:
        return len(self._doubled_sums)

    def embedding(self, position: int) -> list[float]:
        """The embedding of text ``position``, as ``embed`` gives it."""
        return _embedding(doubled * 0.5 for doubled in self._doubled_sums[position])

    def embedding_sums(self) -> list[float]:
        """As :func:`embedding_sums` of the texts."""
        return _column_sums(map(self.embedding, range(len(self))), len(self), self._dim)

    def embed_int8(self, centre: Sequence[float]) -> bytes:
        """As :func:`embed_int8` of the texts.

        Raises:
            TypeError: If ``centre`` is not a sequence of numbers.
            ValueError: If ``centre`` does not hold ``dim`` finite values.
        """
        offsets = _numbers(centre, "centre")
        _check_centre(offsets, self._dim)
        return _centred_codes(map(self.embedding, range(len(self))), offsets)


def _doubled(sums: list[float]) -> array.array[int]:
    """Twice each bucket sum, in the narrowest signed array that holds them."""
    doubled = [int(2.0 * total) for total in sums]
    largest = max(map(abs, doubled), default=0)
    typecode = next(code for code, limit in _SIGNED_ARRAYS if largest <= limit)
    return array.array(typecode, doubled)


def _numbers(values: object, name: str) -> list[float]:
    """``values`` as floats, read as the Rust binding reads a list of numbers: any sequence but
    a str (``bytes`` too, as its byte values), each item a number."""
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a list of numbers, not {type(values).__name__}")
    numbers = []
    for position, value in enumerate(values):
        if not isinstance(value, (int, float)):
            raise TypeError(f"{name}[{position}] must be a number, got {type(value).__name__}")
        numbers.append(float(value))
    return numbers


def _as_rows(vectors: bytes | Sequence[Sequence[float]], dim: int) -> list[list[float]]:
    if isinstance(vectors, (bytes, bytearray, memoryview)):
        raw = bytes(vectors)
        if len(raw) % 4:
            raise ValueError(f"vectors bytes length {len(raw)} is not a multiple of 4 (float32)")
        values = list(struct.unpack(f"<{len(raw) // 4}f", raw))
        if len(values) % dim:
            raise ValueError(
                f"vectors hold {len(values)} values, which is not a multiple of dim={dim}"
            )
        return [values[start : start + dim] for start in range(0, len(values), dim)]

    rows: list[list[float]] = []
    for position, row in enumerate(vectors):
        values = [float(x) for x in row]
        if len(values) != dim:
            raise ValueError(f"vectors row {position} has {len(values)} values, expected dim={dim}")
        rows.append(values)
    return rows


class ExemplarIndex:
    """Exemplar vectors searched by brute-force cosine similarity.

    Rows are held as int8 codes (each scaled so its largest magnitude is 127) and the query as
    int16 codes (largest magnitude 32767); a score is the exact integer dot product over the
    product of the square roots of the exact integer squared norms, as in ``rust/embed.rs``.

    The codes are kept as bytes, one ``bytes`` per dimension holding that value of every row
    (a byte an exemplar value, not a Python int): a search then scores every row at once with
    a few big-integer operations per dimension (see :func:`_dot_products`).

    Args:
        vectors: Either a sequence of rows of ``dim`` floats, or ``bytes`` of little-endian
            float32 values laid out row after row.
        dim: Number of values per vector.

    Raises:
        TypeError: If ``dim`` is not an int.
        ValueError: If ``dim`` is out of range, a row has the wrong length or a value is not
            finite.
    """

    def __init__(self, vectors: bytes | Sequence[Sequence[float]], dim: int) -> None:
        self._dim = _check_dim(dim)
        rows = _as_rows(vectors, self._dim)
        codes = array.array("b")
        for position, row in enumerate(rows):
            if not all(math.isfinite(x) for x in row):
                raise ValueError(f"vectors row {position} has a NaN or infinite value")
            codes.extend(_quantise(row, _ROW_CODE_MAX))
        self._set_codes(codes.tobytes())

    @classmethod
    def from_int8(cls, codes: bytes, dim: int) -> ExemplarIndex:
        """An index over int8 codes (``bytes``, row after row), used as they are.

        Raises:
            ValueError: If ``dim`` is out of range or the codes are not whole rows.
        """
        dim = _check_dim(dim)
        codes = bytes(codes)
        if len(codes) % dim:
            raise ValueError(
                f"vectors hold {len(codes)} values, which is not a multiple of dim={dim}"
            )
        index = cls.__new__(cls)
        index._dim = dim
        index._set_codes(codes)
        return index

    def _set_codes(self, codes: bytes) -> None:
        """Keeps ``codes`` (int8, row after row) by dimension, and each row's norm."""
        dim = self._dim
        self._count = len(codes) // dim
        offset = codes.translate(_OFFSET_BINARY)
        self._columns = [offset[column::dim] for column in range(dim)]
        squares = _squared_norms(self._columns, self._count)
        self._norms = array.array("d", (math.sqrt(float(square)) for square in squares))

    @property
    def dim(self) -> int:
        """Number of values per vector."""
        return self._dim

    def __len__(self) -> int:
        return self._count

    def scores(self, query: Sequence[float]) -> list[float]:
        """Cosine similarity of ``query`` with every exemplar, in exemplar order.

        Raises:
            ValueError: If ``query`` does not have ``dim`` finite values.
        """
        values = [float(x) for x in query]
        if len(values) != self._dim:
            raise ValueError(
                f"query has {len(values)} values but the index has dim={self._dim}"
            )
        if not all(math.isfinite(x) for x in values):
            raise ValueError("query has a NaN or infinite value")
        coded = _quantise(values, _QUERY_CODE_MAX)
        query_norm = math.sqrt(float(sum(x * x for x in coded)))
        # Exact integer dot products, converted once (exact below 2**53) as i64 -> f64 in Rust.
        return [
            0.0 if row_norm * query_norm == 0.0 else float(dot) / (row_norm * query_norm)
            for dot, row_norm in zip(
                _dot_products(self._columns, self._count, coded), self._norms, strict=True
            )
        ]

    def top_k(self, query: Sequence[float], k: int) -> list[tuple[int, float]]:
        """The ``k`` most similar exemplars as ``(index, cosine)``, best first.

        Equal scores are ordered by lower index.

        Raises:
            TypeError: If ``k`` is not an int.
            ValueError: If ``k`` is negative or ``query`` is malformed.
        """
        if not isinstance(k, int):
            raise TypeError(f"k must be an int, got {type(k).__name__}")
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        scores = self.scores(query)
        # nlargest is sorted(..., reverse=True)[:k], a stable sort: equal scores keep index order.
        ranked = heapq.nlargest(k, range(len(scores)), key=scores.__getitem__)
        return [(index, scores[index]) for index in ranked]


# An int8 code byte XOR 0x80, read unsigned, is the code plus 128: never negative.
_OFFSET_BINARY = bytes(byte ^ 0x80 for byte in range(256))
_CODE_OFFSET = 128
# Largest magnitude of a row code: from_int8 takes any int8, -128 included.
_ROW_CODE_LIMIT = 128
# The low and the high byte of the square of the code whose offset byte is the index.
_SQUARE_LOW = bytes((byte - _CODE_OFFSET) ** 2 & 0xFF for byte in range(256))
_SQUARE_HIGH = bytes((byte - _CODE_OFFSET) ** 2 >> 8 for byte in range(256))

# The index scores every row at once: a column of codes is read as one integer with a field of
# 4 or 8 bytes per row, so that one multiplication by a query code scales that dimension in
# every row and one addition accumulates it. A search is then a few C-speed big-integer
# operations per dimension, not a Python multiplication per code. Sums are exact whatever
# carries pass between fields while they are formed; each final field lies in [0, 2**bits),
# so the fields read back one by one.


def _field_width(largest: int) -> int:
    """Bytes per field for sums of magnitude below ``largest`` (biased to be non-negative)."""
    return 4 if largest < 1 << 31 else 8


def _fields(total: int, count: int, width: int) -> memoryview:
    """The ``count`` unsigned fields of ``width`` bytes that make up ``total``."""
    packed = total.to_bytes(width * count, sys.byteorder)
    return memoryview(packed).cast("I" if width == 4 else "Q")


def _squared_norms(columns: Sequence[bytes], count: int) -> memoryview:
    """Each row's exact sum of squared codes, from its offset ``columns``."""
    width = _field_width(len(columns) * _ROW_CODE_LIMIT**2)
    spread = bytearray(width * count)
    total = 0
    for column in columns:
        spread[0::width] = column.translate(_SQUARE_LOW)
        spread[1::width] = column.translate(_SQUARE_HIGH)
        total += int.from_bytes(spread, "little")
    return _fields(total, count, width)


def _dot_products(columns: Sequence[bytes], count: int, coded: Sequence[int]) -> list[int]:
    """The exact dot product of ``coded`` with each of the ``count`` rows whose offset codes
    ``columns`` holds dimension by dimension."""
    if count == 0:
        return []
    # Below 2**43 at MAX_DIM, so a field of 8 bytes always holds it.
    width = _field_width(len(coded) * _ROW_CODE_LIMIT * int(_QUERY_CODE_MAX))
    bias = 1 << (8 * width - 1)

    spread = bytearray(width * count)
    total = 0
    for code, column in zip(coded, columns, strict=True):
        if code:
            spread[::width] = column
            total += code * int.from_bytes(spread, "little")
    # A field holds the dot product plus 128 times the sum of the query's codes (the columns'
    # offset): that is taken away, and the bias added that makes a negative product's field
    # non-negative.
    correction = (bias - _CODE_OFFSET * sum(coded)).to_bytes(width, "little")
    total += int.from_bytes(correction * count, "little")
    return [field - bias for field in _fields(total, count, width)]
