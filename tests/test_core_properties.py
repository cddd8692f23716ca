"""Rust/pure-Python parity of every name in ``shoal._core``, by property-based testing.

Random valid inputs must give identical results from ``shoal._core`` and ``shoal._pure``
(bit for bit: same floating-point order); random invalid inputs must raise the same exception
type in both. ``test_every_core_name_has_a_property`` fails when ``_core`` gains a name that no
property here exercises. Examples per property: ``SHOAL_PROPERTY_EXAMPLES`` (default 40), which
bounds the suite's time; raise it for a longer hunt. No example has a deadline, which a busy
machine would miss: the first example to load a vocabulary takes most of a second when idle.
"""

from __future__ import annotations

import math
import os
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shoal import _pure

_core = pytest.importorskip("shoal._core")

EXAMPLES = int(os.environ.get("SHOAL_PROPERTY_EXAMPLES", "40"))
FAST = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Every public name of the extension, with the properties below that exercise it.
COVERED = {
    "__version__": "test_constants_are_equal",
    "ENCODINGS": "test_constants_are_equal",
    "PRIVACY_PATTERNS": "test_constants_are_equal",
    "encode": "test_token_functions_agree_and_round_trip",
    "count": "test_token_functions_agree_and_round_trip",
    "count_many": "test_count_many_agrees",
    "decode": "test_decode_agrees_on_any_ids",
    "embed": "test_embed_agrees",
    "embedding_sums": "test_embedding_sums_agree",
    "embed_int8": "test_embed_int8_agrees",
    "ExemplarIndex": "test_exemplar_index_agrees",
    "NeighbourEstimator": "test_neighbour_estimator_agrees",
    "scan_privacy": "test_scan_privacy_agrees",
    "estimate_inference": "test_estimate_inference_agrees",
    "sweep_inference": "test_sweep_inference_agrees",
    "pareto_sweep": "test_pareto_sweep_agrees",
    "scale_chip": "test_scale_chip_agrees",
}


def test_every_core_name_has_a_property() -> None:
    missing = sorted(set(_core.__all__) - set(COVERED))
    assert not missing, f"give each new _core name a Rust/pure property here: {missing}"
    for name in _core.__all__:
        assert hasattr(_pure, name), f"_pure lacks {name}"
        assert COVERED[name] in globals(), f"{name}: no test named {COVERED[name]}"


def test_constants_are_equal() -> None:
    assert _core.ENCODINGS == _pure.ENCODINGS
    assert _core.PRIVACY_PATTERNS == _pure.PRIVACY_PATTERNS
    assert _core.__version__ == _pure.__version__


# ---- comparing outcomes ------------------------------------------------------------------------


def _outcome(module: Any, name: str, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    """("ok", result) or ("raised", exception type) of calling ``module.name``."""
    try:
        return "ok", getattr(module, name)(*args, **kwargs)
    except Exception as error:
        return "raised", type(error)


def _same(left: Any, right: Any) -> bool:
    """Equal, with NaN equal to NaN (bit-identical arithmetic gives NaN in both or neither)."""
    if isinstance(left, float) and isinstance(right, float):
        return left == right or (math.isnan(left) and math.isnan(right))
    if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
        return len(left) == len(right) and all(map(_same, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    return type(left) is type(right) and left == right


def _agree(name: str, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    rust = _outcome(_core, name, *args, **kwargs)
    python = _outcome(_pure, name, *args, **kwargs)
    assert rust[0] == python[0] and _same(rust[1], python[1]), (name, rust, python)
    return rust


# ---- text strategies -----------------------------------------------------------------------------

FRAGMENTS = (
    " ",
    "  ",
    "\n\n",
    "\r\n",
    "\t",
    "\u00a0",
    "'s",
    "'LL",
    "n't",
    "<|endoftext|>",
    "<|fim_prefix|>",
    "123456",
    "3.14",
    "e\u0301",
    "\u200d",
    "\U0001f468\u200d\U0001f469",
    "日本語",
    "Привет",
    "ﷺ",
    "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z",
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_" + "a1B2" * 9,
    "jane.doe@example.com",
    "+1 (555) 010-9999",
    "4111 1111 1111 1111",
    "GB82WEST12345698765432",
    "postgres://app:s3cret@db.internal:5432/x",
    "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----",
    "password=hunter2",
)
# Any code point, lone surrogates included: the invalid texts both sides must refuse alike.
ANY_CHARACTER = st.characters(codec=None, exclude_categories=())
TEXTS = st.one_of(
    st.text(max_size=200),
    st.text(ANY_CHARACTER, max_size=40),
    st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=6), max_size=12).map("".join),
    st.builds(lambda char, n: char * n, st.sampled_from(" a.\n0é日"), st.integers(0, 300)),
)
ENCODING_NAMES = st.sampled_from(_pure.ENCODINGS) | st.sampled_from(
    ["", "gpt2", "O200K_BASE", "tekken_240911", "cl100k_base "]
)
NOT_TEXT = st.sampled_from([None, 5, 2.5, b"bytes", ["a"], {"a": 1}])


@FAST
@given(encoding=ENCODING_NAMES, text=TEXTS | NOT_TEXT, allow_special=st.booleans())
def test_token_functions_agree_and_round_trip(
    encoding: str, text: Any, allow_special: bool
) -> None:
    encoded = _agree("encode", encoding, text, allow_special=allow_special)
    counted = _agree("count", encoding, text, allow_special=allow_special)

    assert encoded[0] == counted[0]
    if encoded[0] == "ok":
        assert counted[1] == len(encoded[1])
        decoded = _agree("decode", encoding, encoded[1])
        assert decoded == ("ok", text.encode("utf-8"))


@FAST
@given(
    encoding=ENCODING_NAMES,
    texts=st.lists(TEXTS, max_size=6) | NOT_TEXT | st.lists(TEXTS | NOT_TEXT, max_size=3),
    allow_special=st.booleans(),
)
# A bad str before a non-str: the binding converts every item before it checks Unicode.
@example(encoding="cl100k_base", texts=["\ud800", None], allow_special=False)
def test_count_many_agrees(encoding: str, texts: Any, allow_special: bool) -> None:
    many = _agree("count_many", encoding, texts, allow_special=allow_special)
    if many[0] == "ok":
        singles = [_core.count(encoding, text, allow_special=allow_special) for text in texts]
        assert many[1] == singles


IDS = st.integers(-3, 201_000) | st.sampled_from(
    [100_256, 199_998, 200_018, 2**31, 2**64, -(2**63)]
)


@FAST
@given(
    encoding=ENCODING_NAMES,
    ids=st.lists(IDS, max_size=30) | st.lists(IDS | NOT_TEXT, max_size=4) | NOT_TEXT,
)
def test_decode_agrees_on_any_ids(encoding: str, ids: Any) -> None:
    _agree("decode", encoding, ids)


# ---- embedding and the exemplar index ------------------------------------------------------------

DIMS = st.integers(1, 300) | st.sampled_from([-1, 0, 2**20, 2**20 + 1, 2**40])


@FAST
@given(texts=st.lists(TEXTS, max_size=4) | NOT_TEXT | st.lists(NOT_TEXT, max_size=2), dim=DIMS)
def test_embed_agrees(texts: Any, dim: int) -> None:
    if dim > 2**16 and isinstance(texts, list) and len(texts) > 1:
        texts = texts[:1]  # a million-wide vector per text is slow in pure Python
    _agree("embed", texts, dim=dim)


FLOATS = st.floats(-2.0, 2.0, width=32) | st.sampled_from([0.0, -0.0, 1e-30, math.nan, math.inf])

# Widths for the functions that hold a value per width while they work (the sums keep each
# column's exact terms), so the widest valid one is slow in pure Python; 2**20 + 1 still
# checks the limit.
NARROW_DIMS = st.integers(1, 300) | st.sampled_from([-1, 0, 2**20 + 1, 2**40])


@FAST
@given(texts=st.lists(TEXTS, max_size=6) | NOT_TEXT | st.lists(NOT_TEXT, max_size=2),
       dim=NARROW_DIMS)
def test_embedding_sums_agree(texts: Any, dim: int) -> None:
    outcome, sums = _agree("embedding_sums", texts, dim=dim)

    if outcome == "ok":
        columns = zip(*_core.embed(texts, dim=dim), strict=True) if texts else [()] * dim
        assert sums == [math.fsum(column) for column in columns]


@st.composite
def _centres(draw: st.DrawFn, dim: int) -> Any:
    """Mostly ``dim`` numbers (some not finite), else a wrong length or not numbers at all."""
    if 1 <= dim <= 300 and draw(st.integers(0, 3)):
        return draw(st.lists(FLOATS | st.floats(-1e-3, 1e-3), min_size=dim, max_size=dim))
    return draw(st.lists(FLOATS, max_size=4) | NOT_TEXT | st.lists(NOT_TEXT, max_size=2))


@FAST
@given(texts=st.lists(TEXTS, max_size=4) | NOT_TEXT | st.lists(NOT_TEXT, max_size=2),
       dim=NARROW_DIMS, data=st.data())
def test_embed_int8_agrees(texts: Any, dim: int, data: st.DataObject) -> None:
    centre = data.draw(_centres(dim))
    outcome, codes = _agree("embed_int8", texts, dim=dim, centre=centre)

    if outcome == "ok":
        expected = []
        for vector in _core.embed(texts, dim=dim):
            centred = [x - c for x, c in zip(vector, centre, strict=True)]
            largest = max(abs(x) for x in centred)
            expected += [0 if largest == 0.0 else round(x / largest * 127) for x in centred]
        assert list(struct.unpack(f"{len(codes)}b", codes)) == expected


@st.composite
def _index_inputs(draw: st.DrawFn) -> tuple[Any, int]:
    dim = draw(st.integers(0, 6))
    rows = draw(st.lists(st.lists(FLOATS, min_size=dim, max_size=dim), max_size=5))
    if draw(st.booleans()) and rows:
        rows[-1] = rows[-1] + [0.5]  # ragged
    if draw(st.booleans()):
        flat = [value for row in rows for value in row]
        return struct.pack(f"<{len(flat)}f", *flat), dim
    return rows, dim


def _index_calls(
    index_module: Any, vectors: Any, dim: int, codes: bytes, query: Any, k: int
) -> Any:
    results: list[Any] = []
    for build in (
        lambda: index_module.ExemplarIndex(vectors, dim),
        lambda: index_module.ExemplarIndex.from_int8(codes, dim),
    ):
        try:
            index = build()
        except Exception as error:
            results.append(type(error))
            continue
        results.append((len(index), index.dim))
        for method, arguments in (("scores", (query,)), ("top_k", (query, k))):
            try:
                results.append(getattr(index, method)(*arguments))
            except Exception as error:
                results.append(type(error))
    return results


@FAST
@given(
    inputs=_index_inputs(),
    codes=st.binary(max_size=24),
    query=st.lists(FLOATS, max_size=7),
    k=st.integers(-2, 8),
)
def test_exemplar_index_agrees(inputs: tuple[Any, int], codes: bytes, query: Any, k: int) -> None:
    vectors, dim = inputs
    rust = _index_calls(_core, vectors, dim, codes, query, k)
    python = _index_calls(_pure, vectors, dim, codes, query, k)
    assert _same(rust, python), (rust, python)


# ---- routing estimates ---------------------------------------------------------------------------

SCORES = st.none() | st.floats(0.0, 1.0) | st.sampled_from([math.nan, -0.5])


@st.composite
def _estimator_inputs(draw: st.DrawFn) -> dict[str, Any]:
    exemplars = draw(st.integers(0, 6))
    models = draw(st.integers(0, 4))
    knots = st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), max_size=4).map(
        lambda pairs: sorted(dict(pairs).items())
    )
    return {
        "scores": draw(
            st.lists(
                st.lists(SCORES, min_size=models, max_size=models),
                min_size=exemplars,
                max_size=exemplars,
            )
        ),
        "difficulties": draw(st.lists(st.floats(-4, 4), min_size=exemplars, max_size=exemplars)),
        "abilities": draw(st.lists(st.floats(-4, 4), min_size=models, max_size=models)),
        "mean_scores": draw(st.lists(st.floats(0, 1), min_size=models, max_size=models)),
        "calibration": draw(st.lists(knots, min_size=models, max_size=models)),
        "similarity_power": draw(st.floats(0, 4) | st.sampled_from([-1.0, math.nan])),
        "shrinkage": draw(st.floats(0, 5) | st.sampled_from([-1.0, math.inf])),
        "neighbours": draw(
            st.lists(st.tuples(st.integers(-1, exemplars), st.floats(-1, 1)), max_size=6)
        ),
        "priors": draw(st.lists(st.floats(-4, 4), max_size=3)),
    }


@FAST
@given(inputs=_estimator_inputs(), means=st.booleans())
def test_neighbour_estimator_agrees(inputs: dict[str, Any], means: bool) -> None:
    if not hasattr(_core, "NeighbourEstimator") or not hasattr(_pure, "NeighbourEstimator"):
        pytest.skip("NeighbourEstimator is not built into this extension")
    priors = inputs.pop("priors")
    neighbours = inputs.pop("neighbours")
    prior_means = [0.5] * len(priors) if means else []

    def run(module: Any) -> Any:
        try:
            estimator = module.NeighbourEstimator(**inputs)
        except Exception as error:
            return type(error)
        try:
            estimate = estimator.estimate(neighbours, priors, prior_means)
        except Exception as error:
            estimate = type(error)
        return len(estimator), estimator.models, estimate

    rust, python = run(_core), run(_pure)
    assert _same(rust, python), (rust, python)


# ---- privacy -------------------------------------------------------------------------------------


@FAST
@given(text=TEXTS | NOT_TEXT)
def test_scan_privacy_agrees(text: Any) -> None:
    _agree("scan_privacy", text)


# ---- hardware arithmetic -------------------------------------------------------------------------

BAD_NUMBERS = st.sampled_from([math.nan, math.inf, -1.0, 0.0, "7", None, True])


def _positive(low: float, high: float) -> st.SearchStrategy[float]:
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


@st.composite
def _model(draw: st.DrawFn) -> dict[str, float]:
    params = draw(_positive(0.1, 800))
    active = params * draw(_positive(0.02, 1.0))
    layers = float(draw(st.integers(1, 128)))
    return {
        "params_b": params,
        "active_params_b": active,
        "layers": layers,
        "attention_heads": float(draw(st.sampled_from([8, 16, 32, 64, 128]))),
        "kv_heads": float(draw(st.sampled_from([1, 2, 4, 8]))),
        "head_dim": float(draw(st.sampled_from([64, 128, 256]))),
        "sliding_window": float(draw(st.sampled_from([0, 512, 4096]))),
        "sliding_window_layers": float(draw(st.integers(0, int(layers)))),
        "dense_params_b": active * draw(_positive(0.0, 1.0)),
    }


@st.composite
def _device(draw: st.DrawFn) -> dict[str, float]:
    low, high = sorted(draw(st.lists(_positive(0.05, 1.2), min_size=2, max_size=2)))
    fill_low, fill_high = sorted(draw(st.lists(_positive(0.01, 0.9), min_size=2, max_size=2)))
    wait_low, wait_high = sorted(draw(st.lists(_positive(0.0, 8.0), min_size=2, max_size=2)))
    sram = draw(st.sampled_from([0.0, 0.05, 2.0]))
    return {
        "memory_gb": draw(_positive(1, 1024)),
        "usable_fraction": draw(_positive(0.3, 1.0)),
        "bandwidth_gbs": draw(_positive(10, 9000)),
        "tflops": draw(_positive(0.5, 5000)),
        "power_w": draw(_positive(1, 1500)),
        "dram_pj_per_bit": draw(_positive(0, 12)),
        "runtime_overhead_gb": draw(_positive(0, 2)),
        "sram_gb": sram,
        "sram_bandwidth_gbs": draw(_positive(100, 40000)) if sram else 0.0,
        "sram_pj_per_bit": draw(_positive(0, 1)),
        "decode_efficiency": (low + high) / 2,
        "decode_efficiency_low": low,
        "decode_efficiency_high": high,
        "overhead_ms": (wait_low + wait_high) / 2,
        "overhead_ms_low": wait_low,
        "overhead_ms_high": wait_high,
        "prefill_efficiency": (fill_low + fill_high) / 2,
        "prefill_efficiency_low": fill_low,
        "prefill_efficiency_high": fill_high,
        "power_fraction": draw(_positive(0.05, 1.0)),
    }


def _spoil(draw: st.DrawFn, values: dict[str, Any]) -> dict[str, Any]:
    """Sometimes replace one value by a bad one: both sides must refuse it alike."""
    if values and draw(st.integers(0, 3)) == 0:
        key = draw(st.sampled_from(sorted(values)))
        values = {**values, key: draw(BAD_NUMBERS)}
    return values


@FAST
@given(data=st.data())
def test_estimate_inference_agrees(data: st.DataObject) -> None:
    keywords = {
        **data.draw(_model()),
        **data.draw(_device()),
        "bits_per_weight": data.draw(st.sampled_from([2.6, 4.34, 4.89, 8.5, 16.0])),
        "dense_bits_per_weight": data.draw(st.sampled_from([None, 9.2, 16.0])),
        "kv_bits": data.draw(st.sampled_from([4.5, 8.5, 16.0])),
        "context_tokens": float(data.draw(st.integers(1, 2_000_000))),
        "batch": float(data.draw(st.integers(1, 512))),
        "weight_overhead_fraction": data.draw(_positive(0, 0.3)),
    }
    _agree("estimate_inference", **_spoil(data.draw, keywords))


@FAST
@given(data=st.data())
def test_sweep_inference_agrees(data: st.DataObject) -> None:
    models = data.draw(st.lists(_model(), min_size=1, max_size=3))
    devices = data.draw(st.lists(_device(), min_size=1, max_size=2))
    if data.draw(st.booleans()):
        models[0] = _spoil(data.draw, models[0])
    _agree(
        "sweep_inference",
        models=models,
        devices=devices,
        bits_per_weight=data.draw(st.lists(_positive(1.5, 16), min_size=1, max_size=3)),
        context_tokens=data.draw(st.lists(_positive(1, 500_000), min_size=1, max_size=3)),
        kv_bits=data.draw(st.sampled_from([8.5, 16.0])),
        batch=data.draw(st.sampled_from([1.0, 4.0])),
    )


NODE_KEYS = ("logic_density", "sram_density", "perf_iso_power", "power_iso_perf")
MODES = st.sampled_from(["iso-power", "iso-performance", "iso-area"]) | st.sampled_from(
    ["", "iso-cost", "ISO-POWER"]
)


@FAST
@given(data=st.data())
def test_pareto_sweep_agrees(data: st.DataObject) -> None:
    devices = []
    for device in data.draw(st.lists(_device(), min_size=1, max_size=2)):
        if data.draw(st.booleans()):
            device |= {f"node_{key}": data.draw(_positive(0.2, 8)) for key in NODE_KEYS}
            device["int8_tflops"] = device["tflops"] * 2
        devices.append(device)
    targets = st.fixed_dictionaries({key: _positive(0.2, 8) for key in NODE_KEYS})
    nodes = [None, *data.draw(st.lists(targets, max_size=2))]
    formats = data.draw(
        st.lists(
            st.fixed_dictionaries(
                {"bits_per_weight": _positive(2, 16)},
                optional={
                    "dense_bits_per_weight": _positive(4, 16),
                    "int8_kernels": st.sampled_from([0.0, 1.0]),
                },
            ),
            min_size=1,
            max_size=3,
        )
    )
    if data.draw(st.booleans()):
        formats[0] = _spoil(data.draw, formats[0])
    _agree(
        "pareto_sweep",
        models=data.draw(st.lists(_model(), min_size=1, max_size=3)),
        devices=devices,
        formats=formats,
        context_tokens=data.draw(st.lists(_positive(1, 200_000), min_size=1, max_size=2)),
        nodes=nodes,
        mode=data.draw(MODES),
        batch=data.draw(st.sampled_from([1.0, 8.0])),
    )


@FAST
@given(data=st.data(), mode=MODES, fraction=st.floats(-0.5, 1.5) | BAD_NUMBERS)
def test_scale_chip_agrees(data: st.DataObject, mode: str, fraction: Any) -> None:
    figures = {
        f"{side}_{key}": data.draw(_positive(0.01, 10))
        for side in ("from", "to")
        for key in NODE_KEYS
    }
    _agree("scale_chip", mode=mode, sram_area_fraction=fraction, **_spoil(data.draw, figures))
