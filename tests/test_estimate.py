"""The neighbour estimator and the router's calibration: Rust and pure Python agree bit for bit."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from shoal import _pure
from shoal._pure.estimate import sigmoid
from shoal.router_model import (
    RouterFileError,
    fit_router,
    isotonic_knots,
    read_router,
)

core = pytest.importorskip("shoal._core")

IMPLEMENTATIONS = [pytest.param(core, id="rust"), pytest.param(_pure, id="pure")]


def random_estimator_inputs(seed: int, exemplars: int = 60, models: int = 5) -> dict:
    generator = random.Random(seed)
    scores = [
        [None if generator.random() < 0.2 else round(generator.random(), 4) for _ in range(models)]
        for _ in range(exemplars)
    ]
    calibration: list[list[tuple[float, float]]] = []
    for model in range(models):
        if model % 2:
            calibration.append([])
            continue
        xs = sorted(generator.sample(range(1, 99), 6))
        ys = sorted(generator.random() for _ in xs)
        calibration.append([(x / 100, y) for x, y in zip(xs, ys, strict=True)])
    return {
        "scores": scores,
        "difficulties": [generator.gauss(0, 2) for _ in range(exemplars)],
        "abilities": [generator.gauss(0, 1) for _ in range(models)],
        "mean_scores": [generator.random() for _ in range(models)],
        "calibration": calibration,
    }


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(("power", "shrinkage"), [(2.0, 1.0), (1.0, 0.5), (3.0, 0.0)])
def test_rust_and_pure_estimates_are_identical(seed: int, power: float, shrinkage: float) -> None:
    inputs = random_estimator_inputs(seed)
    generator = random.Random(100 + seed)
    neighbours = [(i, generator.uniform(-0.3, 1.0)) for i in generator.sample(range(60), 25)]
    priors = [generator.gauss(0, 1) for _ in range(4)]
    means = [generator.random() for _ in priors]

    answers = [
        impl.NeighbourEstimator(**inputs, similarity_power=power, shrinkage=shrinkage).estimate(
            neighbours, priors, means
        )
        for impl in (core, _pure)
    ]

    assert answers[0] == answers[1]
    assert len(answers[0]) == 5 + 4


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_estimate_follows_the_documented_formula(impl: Any) -> None:
    estimator = impl.NeighbourEstimator(
        [[1.0, 0.0], [0.0, None], [1.0, 1.0]], [0.0, 1.0, -1.0], [0.5, -0.5], [0.6, 0.4],
        [[], [(0.0, 0.1), (1.0, 0.9)]], similarity_power=2.0, shrinkage=1.0,
    )

    labelled_0, labelled_1, prior = estimator.estimate(
        [(0, 0.5), (2, 1.0), (1, -0.3)], [2.0], [0.7]
    )

    # Weights 0.25, 1 and 0 (negative cosine); model 0 shrinks towards its item-response
    # expectation over the same neighbours.
    expected_0 = math.fsum([0.25 * sigmoid(0.5), sigmoid(1.5), 0.0]) / 1.25
    assert labelled_0 == ((1.25 + expected_0) / 2.25, 1.25 / 2.25)
    # Model 1 is unlabelled on exemplar 1; its raw estimate goes through the knots.
    expected_1 = math.fsum([0.25 * sigmoid(-0.5), sigmoid(0.5), 0.0]) / 1.25
    raw_1 = (1.0 + expected_1) / 2.25
    assert labelled_1 == (0.1 + 0.8 * raw_1, 1.25 / 2.25)
    value = math.fsum([0.25 * sigmoid(2.0), sigmoid(3.0), 0.0])
    assert prior == ((value + 0.7) / 2.25, 1.25 / 2.25)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_no_positive_weight_leaves_the_prior(impl: Any) -> None:
    estimator = impl.NeighbourEstimator(
        [[1.0]], [0.0], [0.0], [0.3], [[]], similarity_power=2.0, shrinkage=0.0
    )

    assert estimator.estimate([(0, -0.5)], [1.0], [0.8]) == [(0.3, 0.0), (0.8, 0.0)]
    assert estimator.models == 1 and len(estimator) == 1


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"scores": [[1.0]], "difficulties": [0.0, 1.0]}, "scores has 1 rows"),
        ({"scores": [[1.0, 0.0]]}, "scores row 0 has 2 values"),
        ({"calibration": [[(0.5, 0.1), (0.5, 0.2)]]}, "calibration knots of model 0"),
        ({"calibration": []}, "calibration has 0 entries"),
        ({"difficulties": [math.nan]}, "difficulties holds a NaN"),
        ({"shrinkage": -1.0}, "shrinkage is out of range"),
    ],
)
def test_bad_estimator_input_is_named(impl: Any, arguments: dict, message: str) -> None:
    inputs = {"scores": [[1.0]], "difficulties": [0.0], "abilities": [0.0],
              "mean_scores": [0.5], "calibration": [[]], "similarity_power": 2.0,
              "shrinkage": 1.0}
    inputs.update(arguments)

    with pytest.raises(ValueError, match=message):
        impl.NeighbourEstimator(**inputs)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_bad_neighbours_are_named(impl: Any) -> None:
    estimator = impl.NeighbourEstimator(
        [[1.0]], [0.0], [0.0], [0.5], [[]], similarity_power=2.0, shrinkage=1.0
    )

    with pytest.raises(ValueError, match="neighbour index 3"):
        estimator.estimate([(3, 0.5)])
    with pytest.raises(ValueError, match="similarities holds a NaN"):
        estimator.estimate([(0, math.nan)])
    with pytest.raises(ValueError, match="prior_means has 0 entries"):
        estimator.estimate([(0, 0.5)], [1.0], [])


def test_isotonic_knots_rise_and_pool_violations() -> None:
    pairs = [(0.1, 0.0), (0.2, 1.0), (0.3, 0.0), (0.4, 1.0), (0.4, 1.0), (0.9, 1.0)]

    knots = isotonic_knots(pairs, 10)

    assert [x for x, _ in knots] == sorted({x for x, _ in knots})
    assert [y for _, y in knots] == sorted(y for _, y in knots)
    # (0.2, 1) and (0.3, 0) violate the order and pool to their mean.
    assert knots[:2] == ((0.1, 0.0), (0.25, 0.5))
    assert knots[-1] == (0.9, 1.0)
    assert len(isotonic_knots([(i / 1000, (i % 7) / 6) for i in range(1000)], 8)) <= 8


def synthetic_rows(count: int) -> list[dict[str, object]]:
    """Two topics; the maths model is right on sums, the poetry model on poems."""
    generator = random.Random(7)
    rows = []
    for index in range(count):
        maths = index % 2 == 0
        a, b = generator.randrange(100), generator.randrange(100)
        prompt = (f"Compute {a} plus {b} and explain the carry {index}" if maths else
                  f"Write a short poem about the sea and the moon, verse {index}")
        rows.append({"prompt": prompt, "model": "qwen2.5-7b-instruct",
                     "score": float(generator.random() < (0.9 if maths else 0.2))})
        rows.append({"prompt": prompt, "model": "gemma-2-9b-it",
                     "score": float(generator.random() < (0.3 if maths else 0.8))})
    return rows


def test_fitted_calibration_is_isotonic_and_survives_the_file(tmp_path: Path) -> None:
    router = fit_router(synthetic_rows(240), name="synthetic", dim=64, k=10)

    assert all(len(knots) >= 2 for knots in router.calibration)
    for knots in router.calibration:
        assert [y for _, y in knots] == sorted(y for _, y in knots)
    # The confidence map too (the parity test below fits this router on both paths).
    confidence = router.confidence_calibration
    assert len(confidence) >= 2 and [y for _, y in confidence] == sorted(y for _, y in confidence)
    again = read_router(router.save(tmp_path / "router.json"))
    assert again.calibration == router.calibration
    assert again.confidence_calibration == confidence
    assert again.version == router.version
    uncalibrated = fit_router(synthetic_rows(240), name="synthetic", dim=64, k=10,
                              calibrate=False)
    assert uncalibrated.calibration == ((), ())
    assert uncalibrated.confidence_calibration  # a separate switch: calibrate_confidence


def test_few_labels_give_no_calibration() -> None:
    router = fit_router(synthetic_rows(20), name="small", dim=32, k=3)

    assert router.calibration == ((), ())


def test_router_file_with_falling_knots_is_refused(tmp_path: Path) -> None:
    router = fit_router(synthetic_rows(20), name="small", dim=32, k=3)
    document = json.loads(router.to_json())
    document["prediction"]["calibration"] = [[[0.5, 0.1], [0.4, 0.2]], []]
    body = {key: value for key, value in document.items() if key != "content_hash"}
    from shoal.router_model import _content_hash

    document["content_hash"] = _content_hash(body)
    path = tmp_path / "falling.json"
    path.write_text(json.dumps(document), encoding="utf-8")

    with pytest.raises(RouterFileError, match=r"calibration\[0\] needs strictly rising x"):
        read_router(path)


PARITY_SCRIPT = """
import json, sys
sys.path.insert(0, {tests!r})
from test_estimate import synthetic_rows
from shoal import route
from shoal._backend import BACKEND
from shoal.router_model import fit_router
decisions = [route(p, privacy="off").to_dict() for p in {prompts!r}]
router = fit_router(synthetic_rows(240), name="synthetic", dim=64, k=10)
print(json.dumps({{"backend": BACKEND, "decisions": decisions, "router": router.content_hash}},
                 sort_keys=True))
"""


def test_decisions_and_calibrated_fits_are_identical_on_both_paths() -> None:
    import os
    import subprocess
    import sys

    prompts = ["Write a Python function that checks whether a string is a palindrome.",
               "Solve for x: 3x + 7 = 22. Show your steps."]
    script = PARITY_SCRIPT.format(tests=str(Path(__file__).parent), prompts=prompts)
    answers = []
    for pure in ("0", "1"):
        environment = {**os.environ, "SHOAL_PURE_PYTHON": pure}
        if pure == "0":
            environment.pop("SHOAL_PURE_PYTHON")
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              env=environment, timeout=300, check=True)
        answers.append(json.loads(done.stdout))

    assert [a["backend"] for a in answers] == ["rust", "python"]
    assert answers[0]["decisions"] == answers[1]["decisions"]
    assert answers[0]["router"] == answers[1]["router"]
