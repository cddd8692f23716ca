"""The hashed embedder and the exemplar index: Rust and pure Python agree bit for bit."""

from __future__ import annotations

import math
import random
import struct
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal import _pure
from shoal._pure.embed import HashedTexts

core = pytest.importorskip("shoal._core")

IMPLEMENTATIONS = [pytest.param(core, id="rust"), pytest.param(_pure, id="pure")]

TEXTS = [
    "",
    "   \t\n",
    "Write a Python function that reverses a linked list.",
    "WRITE a python FUNCTION that reverses a LINKED list!!!",
    "naïve café crème brûlée",
    "東京は日本の首都です。大阪、京都",
    "Привет, мир! Как дела?",
    "emoji 🚀🚀 and zero\u200bwidth and non\u00a0breaking",
    "x" * 3000,
    "Solve 3x + 5 = 20; then compute 2^10 mod 7.",
    "\x00\x01 control \ud7ff \U0010ffff",
]


@pytest.mark.parametrize("dim", [1, 7, 256, 512])
def test_rust_and_pure_embeddings_are_identical(dim: int) -> None:
    assert core.embed(TEXTS, dim=dim) == _pure.embed(TEXTS, dim=dim)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(max_size=80), max_size=4), st.sampled_from([3, 64, 300]))
def test_rust_and_pure_agree_on_any_unicode(texts: list[str], dim: int) -> None:
    assert core.embed(texts, dim=dim) == _pure.embed(texts, dim=dim)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_embedding_is_unit_deterministic_and_case_blind(impl: object) -> None:
    first, again, shouted = impl.embed([TEXTS[2], TEXTS[2], TEXTS[3]], dim=256)

    assert first == again
    assert first == shouted
    assert math.isclose(math.fsum(x * x for x in first), 1.0, rel_tol=1e-12)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_text_without_words_is_the_zero_vector(impl: object) -> None:
    empty, blank, punctuation = impl.embed(["", " \n\t", "…—、。 ,.!"], dim=32)

    assert empty == blank == punctuation == [0.0] * 32


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_related_prompts_are_nearest(impl: object) -> None:
    exemplars = [
        "Translate the sentence into German: the weather is nice today.",
        "Solve for x: 4x - 7 = 9.",
        "Write a SQL query that counts orders per customer.",
    ]
    query = "Solve the equation 2x + 3 = 11 for x."
    vectors = impl.embed([*exemplars, query], dim=512)
    index = impl.ExemplarIndex(vectors[:3], 512)

    ranked = index.top_k(vectors[3], 3)

    assert ranked[0][0] == 1
    assert ranked[0][1] > ranked[1][1] >= ranked[2][1]


def test_index_scores_and_ties_are_identical() -> None:
    rng = random.Random(7)
    rows = [[rng.uniform(-1e3, 1e3) for _ in range(33)] for _ in range(60)]
    rows += [rows[5], [0.0] * 33, [x * 2.5 for x in rows[10]]]
    query = [rng.gauss(0.0, 1.0) for _ in range(33)]
    rust, pure = core.ExemplarIndex(rows, 33), _pure.ExemplarIndex(rows, 33)

    assert rust.scores(query) == pure.scores(query)
    assert rust.top_k(query, 63) == pure.top_k(query, 63)
    assert rust.top_k(rows[5], 2) == pure.top_k(rows[5], 2)
    assert [position for position, _ in rust.top_k(rows[5], 2)] == [5, 60]
    assert len(rust) == len(pure) == 63


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_index_accepts_float32_bytes(impl: object) -> None:
    rows = [[1.0, 0.0, 0.5], [0.25, -2.0, 0.0]]
    packed = struct.pack("<6f", *(x for row in rows for x in row))

    assert impl.ExemplarIndex(packed, 3).scores([1.0, 0.0, 0.0]) == impl.ExemplarIndex(
        rows, 3
    ).scores([1.0, 0.0, 0.0])


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_ties_go_to_the_lower_index(impl: object) -> None:
    index = impl.ExemplarIndex([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]], 2)

    assert index.top_k([1.0, 0.0], 3) == [(0, 1.0), (2, 1.0), (1, 0.0)]
    assert index.top_k([1.0, 0.0], 0) == []
    assert len(index.top_k([1.0, 0.0], 99)) == 3


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda m: m.embed(["a"], dim=0), ValueError, "dim must be between 1"),
        (lambda m: m.embed(["a"], dim=-3), ValueError, "dim must be between 1"),
        (lambda m: m.embed("abc", dim=8), TypeError, "str"),
        (lambda m: m.ExemplarIndex([[1.0, 2.0], [3.0]], 2), ValueError, "row 1 has 1 values"),
        (lambda m: m.ExemplarIndex([[1.0, math.nan]], 2), ValueError, "row 0 has a NaN"),
        (lambda m: m.ExemplarIndex(b"\x00" * 6, 1), ValueError, "multiple of 4"),
        (lambda m: m.ExemplarIndex(b"\x00" * 12, 2), ValueError, "not a multiple of dim=2"),
        (lambda m: m.ExemplarIndex([[1.0]], 1).top_k([1.0, 2.0], 1), ValueError, "query has 2"),
        (lambda m: m.ExemplarIndex([[1.0]], 1).top_k([math.inf], 1), ValueError, "query has a"),
        (lambda m: m.ExemplarIndex([[1.0]], 1).top_k([1.0], -1), ValueError, "k must be >= 0"),
        (lambda m: m.embedding_sums(["a"], dim=0), ValueError, "dim must be between 1"),
        (lambda m: m.embedding_sums("abc", dim=8), TypeError, "str"),
        (lambda m: m.embed_int8(["a"], dim=2, centre=[0.0]), ValueError, "centre has 1 values"),
        (lambda m: m.embed_int8(["a"], dim=1, centre=[math.nan]), ValueError, "centre has a NaN"),
        (lambda m: m.embed_int8(["a"], dim=1, centre=["0"]), TypeError, "centre"),
    ],
)
def test_bad_input_names_the_parameter(impl: object, call, error, message: str) -> None:
    with pytest.raises(error, match=message):
        call(impl)


def test_int8_indexes_are_identical() -> None:
    rng = random.Random(11)
    codes = bytes(rng.randrange(256) for _ in range(40 * 300)) + bytes(300)
    query = [rng.gauss(0.0, 1.0) for _ in range(300)]
    rust, pure = core.ExemplarIndex.from_int8(codes, 300), _pure.ExemplarIndex.from_int8(codes, 300)

    assert rust.scores(query) == pure.scores(query)
    assert rust.top_k(query, 7) == pure.top_k(query, 7)
    assert rust.scores(query)[-1] == 0.0
    with pytest.raises(ValueError, match="not a multiple of dim=7"):
        core.ExemplarIndex.from_int8(b"\x01" * 10, 7)


@pytest.mark.parametrize("dim", [1, 512, 513, 2048])
def test_int8_indexes_are_identical_at_the_largest_codes(dim: int) -> None:
    """The pure index sums every row's products in fields of 4 bytes up to dim 512 and of 8
    above: rows of -128 or 127 against queries coded at ±32767 give the largest sums there."""
    rng = random.Random(dim)
    rows = [b"\x80" * dim, b"\x7f" * dim, bytes(dim), (b"\x80\x7f" * dim)[:dim], rng.randbytes(dim)]
    codes = b"".join(rows)
    queries = [[1.0] * dim, [-1.0] * dim, [(-1.0) ** i for i in range(dim)],
               [rng.gauss(0.0, 1.0) for _ in range(dim)]]
    rust, pure = core.ExemplarIndex.from_int8(codes, dim), _pure.ExemplarIndex.from_int8(codes, dim)

    for query in queries:
        assert rust.scores(query) == pure.scores(query)
        assert rust.top_k(query, 5) == pure.top_k(query, 5)
    assert pure.scores(queries[0])[:2] == pytest.approx([-1.0, 1.0])


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_an_empty_index_scores_nothing(impl: object) -> None:
    index = impl.ExemplarIndex.from_int8(b"", 4)

    assert len(index) == 0
    assert index.scores([1.0, 0.0, 0.0, 0.0]) == []
    assert index.top_k([1.0, 0.0, 0.0, 0.0], 3) == []


def test_the_pure_index_holds_about_a_byte_a_code() -> None:
    """A router's exemplar index on the pure path keeps its int8 codes as bytes: it held them
    as Python ints, about 10 KB an exemplar at dim 512 while routing or calibrating."""
    codes = random.Random(3).randbytes(2_000 * 512)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        index = _pure.ExemplarIndex.from_int8(codes, 512)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()

    assert len(index) == 2_000
    assert held / len(index) < 1.25 * 512, f"{held / len(index):,.0f} bytes an exemplar"


@pytest.mark.parametrize("dim", [1, 7, 512])
def test_hashed_texts_give_what_the_core_functions_give(dim: int) -> None:
    """Texts hashed once (bucket sums kept as small ints, wider for a text with many repeats)
    give the embeddings, their sums and their int8 codes of the core, bit for bit."""
    texts = [*TEXTS, "word " * 20_000] if dim == 7 else TEXTS
    hashed = HashedTexts(texts, dim=dim)
    sums = core.embedding_sums(texts, dim=dim)
    centre = [round(total / len(texts), 9) for total in sums]

    assert len(hashed) == len(texts)
    assert [hashed.embedding(position) for position in range(len(texts))] == core.embed(
        texts, dim=dim
    )
    assert hashed.embedding_sums() == sums
    assert hashed.embed_int8(centre) == core.embed_int8(texts, dim=dim, centre=centre)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: HashedTexts("abc", dim=8), TypeError, "texts must be a list of str"),
        (lambda: HashedTexts(["a", 3], dim=8), TypeError, r"texts\[1\] must be a str"),
        (lambda: HashedTexts(["a"], dim=0), ValueError, "dim must be between 1"),
        (lambda: HashedTexts(["a"], dim=2).embed_int8([0.0]), ValueError, "centre has 1 values"),
        (lambda: HashedTexts(["a"], dim=1).embed_int8([math.nan]), ValueError, "centre has a NaN"),
        (lambda: HashedTexts(["a"], dim=1).embed_int8(["0"]), TypeError, "centre"),
    ],
)
def test_hashed_texts_refuse_what_the_core_functions_refuse(call, error, message: str) -> None:
    with pytest.raises(error, match=message):
        call()


def test_embedding_sums_of_many_texts_are_the_exact_column_sums() -> None:
    """Summed in batches (pure) or on several threads (Rust), never all held at once: still
    each column's correctly rounded sum, as ``math.fsum`` gives over every vector."""
    rng = random.Random(5)
    words = [*TEXTS[2].split(), *TEXTS[4].split(), "東京", "Привет", "42"]
    texts = [" ".join(rng.choices(words, k=rng.randint(0, 12))) for _ in range(700)]

    expected = [math.fsum(column) for column in zip(*core.embed(texts, dim=96), strict=True)]

    assert core.embedding_sums(texts, dim=96) == expected
    assert _pure.embedding_sums(texts, dim=96) == expected
    assert core.embedding_sums([], dim=3) == _pure.embedding_sums([], dim=3) == [0.0] * 3


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(-1e300, 1e300) | st.floats(-1e-300, 1e-300), max_size=30),
    st.lists(st.floats(-1e300, 1e300), max_size=5),
)
def test_exact_terms_sum_exactly_to_their_values(values: list[float], more: list[float]) -> None:
    from shoal._pure.embed import _exact_terms

    terms = _exact_terms(values)

    assert math.fsum([*terms, *more]) == math.fsum([*values, *more])
    assert len(terms) <= max(len(values), 1) * 2 + 40


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_int8_codes_index_as_the_centred_vectors_do(impl: object) -> None:
    vectors = impl.embed(TEXTS, dim=64)
    centre = [round(math.fsum(column) / len(TEXTS), 9) for column in zip(*vectors, strict=True)]
    centred = [[x - c for x, c in zip(vector, centre, strict=True)] for vector in vectors]

    codes = impl.embed_int8(TEXTS, dim=64, centre=centre)

    assert codes == core.embed_int8(TEXTS, dim=64, centre=centre)
    assert len(codes) == 64 * len(TEXTS)
    query = centred[2]
    by_codes = impl.ExemplarIndex.from_int8(codes, 64)
    assert by_codes.scores(query) == impl.ExemplarIndex(centred, 64).scores(query)
