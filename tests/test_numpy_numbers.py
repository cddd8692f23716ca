"""Python API: a number from numpy, pandas or the numbers tower is taken wherever a number is.

A DataFrame's column holds ``numpy.int64`` and ``numpy.float32``, neither an ``int`` nor a
``float`` subclass, and was refused as "must be an int, not int64". Each public function that
takes a number gives, for such a value, the very answer the plain Python number gives (the
same JSON, byte for byte: no numpy value inside it), and still refuses ``numpy.bool_`` as it
refuses ``bool``. Without numpy, the same is checked with an ``__index__`` class and
``fractions.Fraction``.
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import json
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from shoal import (
    RoutingError,
    budget_status,
    compare_costs,
    count_files,
    count_till_limit,
    decode,
    encode,
    estimate_cost,
    estimate_cost_for_text,
    fit_budget,
    fit_router,
    hardware_fit,
    pareto_front,
    port_chip,
    record_outcome,
    record_usage,
    redact,
    route,
    savings_report,
    scan_text,
    set_limit,
    split_chunks,
    sweep,
    trim_chat,
    truncate,
)
from shoal.hardware import Chip
from shoal.router_eval import LabelledPrompt, cross_validate

try:
    import numpy
except ImportError:  # not among the test extras: the checks that need it are skipped
    numpy = None  # type: ignore[assignment]

needs_numpy = pytest.mark.skipif(numpy is None, reason="numpy is not installed")

TEXT = "The quick brown fox jumps over the lazy dog. " * 8
EMAIL_TEXT = "mail bob.smith@gmail.com today"
AT = datetime.datetime(2026, 12, 1, 12, tzinfo=datetime.timezone.utc)
DECISION = "d-0123456789abcdef01234567"
CHAT = [{"role": "system", "content": "Be brief."},
        *({"role": "user", "content": f"question {i} " * 20} for i in range(4))]
ROWS = [{"prompt": prompt, "model": model, "score": score}
        for prompt, scores in (("Solve 2x + 1 = 5 for x.", (1.0, 0.0)),
                               ("What is 17 times 23?", (1.0, 1.0)),
                               ("Write a haiku about autumn leaves.", (0.5, 1.0)),
                               ("Compose a limerick about a cat.", (0.0, 1.0)))
        for model, score in zip(("qwen2.5-7b-instruct", "gemma-2-9b-it"), scores, strict=True)]
PROMPTS = [LabelledPrompt(f"prompt {index}", {"qwen2.5-7b-instruct": index % 2 * 1.0,
                                              "gemma-2-9b-it": 0.5}, {}, {})
           for index in range(6)]
# Set by hand each time, so left out of the comparison.
VOLATILE_FIELDS = {"set_at"}


class Index:
    """The least a whole number needs to be one: ``__index__``, as numpy's integers have."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __index__(self) -> int:
        return self.value


# A call of the public API, given how to write a whole number (``whole``) and a real one
# (``real``) and a maker of fresh file paths (so that no call sees what another wrote).
Call = Callable[[Callable[[Any], Any], Callable[[Any], Any], Callable[[str], Path]], Any]

CALLS: list[tuple[str, Call]] = [
    ("count_till_limit limit", lambda w, r, fresh: count_till_limit(TEXT, w(20))),
    ("truncate max_tokens", lambda w, r, fresh: truncate(TEXT, w(12))),
    ("split_chunks max_tokens", lambda w, r, fresh: split_chunks(TEXT, w(30))),
    ("decode ids", lambda w, r, fresh: decode([w(token) for token in encode(TEXT)])),
    ("redact finding offsets", lambda w, r, fresh: redact(EMAIL_TEXT, [dataclasses.replace(
        finding, start=w(finding.start), end=w(finding.end)) for finding in scan_text(
            EMAIL_TEXT)])),
    ("estimate_cost counts", lambda w, r, fresh: estimate_cost(
        "gpt-4o", input_tokens=w(12_000), output_tokens=w(800), cached_input_tokens=w(2000),
        calls=w(3))),
    ("estimate_cost_for_text counts", lambda w, r, fresh: estimate_cost_for_text(
        "gpt-4o", TEXT, expected_output_tokens=w(300), reasoning_tokens=w(5), calls=w(2))),
    ("compare_costs counts", lambda w, r, fresh: compare_costs(
        ["gpt-4o", "claude-sonnet-4-5"], input_tokens=w(5000), output_tokens=w(500),
        calls=w(4))),
    ("fit_budget budget and priorities", lambda w, r, fresh: fit_budget(
        [{"id": "a", "text": TEXT, "priority": r(2.5)}, {"id": "b", "text": TEXT * 3,
                                                          "priority": r(0.5)}],
        budget_tokens=w(200), model="gpt-4o", expected_output_tokens=w(100),
        truncate_last=True, min_truncated_tokens=w(16))),
    ("trim_chat budget", lambda w, r, fresh: trim_chat(CHAT, budget_tokens=w(90),
                                                        model="gpt-4o")),
    ("count_files limits", lambda w, r, fresh: count_files(
        [str(Path(__file__).parent / "data" / "llmrouter")], max_file_bytes=w(1 << 24),
        max_files=w(50), workers=w(2))),
    ("route numbers", lambda w, r, fresh: route(
        "Write a Python function that reverses a list.", willingness_to_pay=r(2.5),
        min_quality=r(0.25), max_cost_usd=r(0.5), expected_output_tokens=w(400),
        previous_model="gpt-4o", stickiness_margin=r(0.125))),
    ("route numbers as ints", lambda w, r, fresh: route(
        "Write a Python function that reverses a list.", willingness_to_pay=w(3),
        max_cost_usd=w(1))),
    ("hardware_fit context and batch", lambda w, r, fresh: hardware_fit(
        "qwen3-8b", "apple-m4-pro", context_tokens=w(8192), batch=w(2))),
    ("port_chip numbers", lambda w, r, fresh: port_chip(
        Chip("mine", "n5", power_w=r(12.5), performance_tflops=w(20), area_mm2=r(110.25),
             sram_mb=r(24.0), sram_area_fraction=r(0.25)),
        to_node="n3e")),
    ("port_chip device sram", lambda w, r, fresh: port_chip(
        "apple-m4-pro", to_node="n2", context_tokens=w(2048), sram_mb=r(32.5))),
    ("pareto_front contexts and batch", lambda w, r, fresh: pareto_front(
        ["gemma-3-1b-it"], ["apple-m4-pro"], contexts=[w(1024), w(4096)], batch=w(1))),
    ("sweep contexts and batch", lambda w, r, fresh: sweep(
        ["gemma-3-1b-it"], ["apple-m4-pro"], contexts=[w(1024), w(4096)], batch=w(2))),
    ("record_usage counts and time", lambda w, r, fresh: record_usage(
        "team", "gpt-4o", input_tokens=w(1200), output_tokens=w(300), cached_input_tokens=w(200),
        at=w(int(AT.timestamp())), ledger=fresh("ledger"))),
    ("set_limit amount", lambda w, r, fresh: set_limit("team", r(12.5), ledger=fresh("ledger"))),
    ("set_limit whole amount", lambda w, r, fresh: set_limit("team", w(40),
                                                             ledger=fresh("ledger"))),
    ("budget_status window and time", lambda w, r, fresh: budget_status(
        "team", window_hours=r(6.5), now=w(int(AT.timestamp())), ledger=fresh("ledger"))),
    ("savings_report listed", lambda w, r, fresh: savings_report(
        since=AT.isoformat(), until=(AT + datetime.timedelta(days=1)).isoformat(),
        max_scopes=w(3), max_models=w(2), ledger=fresh("ledger"))),
    ("record_outcome numbers", lambda w, r, fresh: record_outcome(
        DECISION, "gpt-4o", r(0.75), cost_usd=r(0.5), input_tokens=w(300), output_tokens=w(40),
        db_path=fresh("feedback"))),
    ("fit_router parameters and rows", lambda w, r, fresh: fit_router(
        [{**row, "score": r(row["score"]), "input_tokens": w(20)} for row in ROWS],
        dim=w(64), k=w(3), similarity_power=r(2.0), shrinkage=r(1.5), irt_iterations=w(5),
        irt_penalty=r(0.125), calibrate=False, calibrate_confidence=False)),
    ("cross_validate folds and seed", lambda w, r, fresh: cross_validate(
        PROMPTS, folds=w(3), seed=w(7), fit_options={"dim": w(32), "k": w(2),
                                                      "calibrate": False})),
]

# A refused bool, where a whole number and where a real one is taken.
BOOL_REFUSALS: list[tuple[str, Callable[[Any], Any]]] = [
    ("truncate max_tokens", lambda flag: truncate(TEXT, flag)),
    ("estimate_cost calls", lambda flag: estimate_cost("gpt-4o", input_tokens=10, calls=flag)),
    ("hardware_fit batch", lambda flag: hardware_fit("qwen3-8b", "apple-m4-pro", batch=flag)),
    ("count_files max_files", lambda flag: count_files([__file__], max_files=flag)),
    ("fit_budget budget_tokens", lambda flag: fit_budget([], budget_tokens=flag, model="gpt-4o")),
    ("route willingness_to_pay", lambda flag: route("hi", willingness_to_pay=flag)),
    ("route expected_output_tokens", lambda flag: route("hi", expected_output_tokens=flag)),
    ("set_limit usd", lambda flag: set_limit("team", flag)),
    ("record_outcome score", lambda flag: record_outcome(DECISION, "gpt-4o", flag)),
    ("port_chip sram_mb", lambda flag: port_chip("h100-sxm", to_node="n2", sram_mb=flag)),
    ("fit_router irt_penalty", lambda flag: fit_router(ROWS, irt_penalty=flag)),
    ("cross_validate folds", lambda flag: cross_validate(PROMPTS, folds=flag, fit_options={})),
]


def _as_json(result: Any) -> str:
    """The result as JSON, which no numpy value can be written in (``json`` refuses one)."""
    if hasattr(result, "to_json"):
        return str(result.to_json())
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        result = dataclasses.asdict(result)
    elif isinstance(result, list):
        result = [dataclasses.asdict(item) if dataclasses.is_dataclass(item) else item  # type: ignore[arg-type]
                  for item in result]
    if isinstance(result, dict):
        result = {key: value for key, value in result.items() if key not in VOLATILE_FIELDS}
    return json.dumps(result, sort_keys=True, default=_mapping_as_dict)


def _mapping_as_dict(value: object) -> object:
    """A frozen mapping of a result as the dict it stands for; anything else (a numpy value)
    refused."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is no JSON value")


def _same(value: Any) -> Any:
    return value


def _int64_when_whole(value: Any) -> Any:
    """A real number as numpy.int64 when it is whole (a price column of whole dollars)."""
    assert numpy is not None
    return numpy.int64(value) if float(value).is_integer() else numpy.float32(value)


def _variants() -> list[Any]:
    """How each kind of caller writes a whole and a real number, with an id."""
    kinds = [pytest.param(Index, Fraction, id="__index__-and-Fraction")]
    if numpy is not None:
        kinds += [pytest.param(numpy.int64, numpy.float32, id="numpy.int64-and-float32"),
                  pytest.param(numpy.int32, numpy.float64, id="numpy.int32-and-float64"),
                  pytest.param(numpy.uint32, _int64_when_whole, id="numpy.uint32-and-int64")]
    return kinds


def _fresh_paths(tmp_path: Path) -> Callable[[str], Path]:
    counter = itertools.count()
    tmp_path.mkdir()
    return lambda name: tmp_path / f"{name}-{next(counter)}.sqlite3"


@pytest.mark.parametrize(("whole", "real"), _variants())
@pytest.mark.parametrize(("name", "call"), CALLS, ids=[name for name, _ in CALLS])
def test_a_number_of_another_type_gives_the_plain_numbers_answer(
    name: str, call: Call, whole: Callable[[Any], Any], real: Callable[[Any], Any],
    tmp_path: Path,
) -> None:
    # Each in a folder of its own, whose name is left out (an answer may name its file).
    plain, other = tmp_path / "plain", tmp_path / "other"
    expected = _as_json(call(_same, _same, _fresh_paths(plain))).replace(str(plain), "")
    given = _as_json(call(whole, real, _fresh_paths(other))).replace(str(other), "")

    assert given == expected


@needs_numpy
@pytest.mark.parametrize(("name", "call"), BOOL_REFUSALS, ids=[name for name, _ in BOOL_REFUSALS])
def test_a_numpy_bool_is_refused_as_a_bool_is(name: str, call: Callable[[Any], Any]) -> None:
    assert numpy is not None
    with pytest.raises(Exception) as python_bool:
        call(True)
    with pytest.raises(Exception) as numpy_bool:
        call(numpy.bool_(True))

    assert numpy_bool.type is python_bool.type
    # The same words, but for the value as Python writes it (np.True_).
    assert str(numpy_bool.value).replace("np.True_", "True") == str(python_bool.value)


@pytest.mark.parametrize("value", [Fraction(1, 3), 1.5, "5", None, 2j])
def test_a_whole_number_is_still_refused_as_anything_but_one(value: object) -> None:
    with pytest.raises(TypeError, match=f"max_tokens must be an int, not {type(value).__name__}"):
        truncate(TEXT, value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        # Decimal is no numbers.Real: chosen for exact digits, it is not rounded to a float.
        (lambda: set_limit("team", Decimal("12.5")), TypeError,  # type: ignore[arg-type]
         "usd must be a number, got Decimal"),
        (lambda: route("hi", willingness_to_pay=2 + 0j), RoutingError,  # type: ignore[arg-type]
         "willingness_to_pay must be a number, got complex"),
        # A Fraction past every float is past every bound, not an overflow from inside.
        (lambda: route("hi", max_cost_usd=Fraction(10**400)), RoutingError,  # type: ignore[arg-type]
         "max_cost_usd must be between $0 and"),
    ],
)
def test_a_number_of_no_real_type_or_past_every_float_is_refused(
    call: Callable[[], Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        call()
