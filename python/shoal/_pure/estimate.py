"""Quality estimates for every candidate model from a prompt's nearest labelled exemplars.

The reference for ``rust/estimate.rs``: the same floating-point operations in the same order,
sums correctly rounded by ``math.fsum``, so both give the same bits.

For neighbour ``j`` with cosine ``s_j``, difficulty ``d_j`` and weight
``w_j = max(s_j, 0) ** similarity_power``:

* a labelled model ``m`` with ability ``a_m`` has the per-prompt item-response expectation
  ``irt_m = Σ w_j σ(a_m − d_j) / Σ w_j`` (its mean score when no weight is positive); its quality
  is ``(Σ' w_j score_jm + shrinkage · irt_m) / (Σ' w_j + shrinkage)``, ``Σ'`` over the neighbours
  labelled for ``m``, then mapped through the model's calibration knots (piecewise linear, flat
  beyond the ends); its evidence is ``Σ' w_j / (Σ' w_j + shrinkage)``;
* a model known only by an ability ``a`` and its expected mean score ``μ`` has quality
  ``(Σ w_j σ(a − d_j) + shrinkage · μ) / (Σ w_j + shrinkage)`` and evidence
  ``Σ w_j / (Σ w_j + shrinkage)``.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Sequence


def sigmoid(value: float) -> float:
    """Logistic function, stable for large magnitudes."""
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    exp_value = math.exp(value)
    return exp_value / (1.0 + exp_value)


def calibrate(knots: Sequence[tuple[float, float]], value: float) -> float:
    """Piecewise linear through ``knots``, flat beyond the first and last; identity without."""
    if not knots:
        return value
    position = bisect.bisect_left([x for x, _ in knots], value)
    if position == 0:
        return knots[0][1]
    if position == len(knots):
        return knots[-1][1]
    (x0, y0), (x1, y1) = knots[position - 1], knots[position]
    return y0 + (y1 - y0) * (value - x0) / (x1 - x0)


def _floats(name: str, values: Iterable[object]) -> list[float]:
    numbers = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must hold numbers, got {type(value).__name__}")
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{name} holds a NaN or infinite value")
        numbers.append(number)
    return numbers


def _check_length(name: str, length: int, expected: int) -> None:
    if length != expected:
        raise ValueError(f"{name} has {length} entries, expected {expected}")


class NeighbourEstimator:
    """The labelled exemplars' scores and difficulties, the models' abilities and calibration.

    Args:
        scores: One row per exemplar, one score (or None: not labelled) per model.
        difficulties: One per exemplar.
        abilities: One per labelled model.
        mean_scores: One per labelled model (the prior when no neighbour weighs anything).
        calibration: Per model, ``(x, y)`` knots with strictly rising x (empty: identity).
        similarity_power: Neighbour weight is ``max(cosine, 0) ** similarity_power``.
        shrinkage: Pseudo-weight of the prior in each estimate.

    Raises:
        ValueError: If the sizes disagree, a value is not finite, knots do not rise or a
            parameter is negative.
    """

    def __init__(
        self,
        scores: Sequence[Sequence[float | None]],
        difficulties: Sequence[float],
        abilities: Sequence[float],
        mean_scores: Sequence[float],
        calibration: Sequence[Sequence[tuple[float, float]]],
        *,
        similarity_power: float,
        shrinkage: float,
    ) -> None:
        models = len(abilities)
        if len(scores) != len(difficulties):
            raise ValueError(f"scores has {len(scores)} rows but difficulties has "
                             f"{len(difficulties)} exemplars")
        rows: list[tuple[float | None, ...]] = []
        for position, row in enumerate(scores):
            if len(row) != models:
                raise ValueError(f"scores row {position} has {len(row)} values, expected one "
                                 f"per model ({models})")
            labels = [s for s in row if s is not None]
            _floats("scores", labels)
            rows.append(tuple(None if s is None else float(s) for s in row))
        self._scores = rows
        self._difficulties = _floats("difficulties", difficulties)
        self._abilities = _floats("abilities", abilities)
        self._mean_scores = _floats("mean_scores", mean_scores)
        _check_length("mean_scores", len(self._mean_scores), models)
        _check_length("calibration", len(calibration), models)
        self._knots = [self._checked_knots(model, knots) for model, knots in enumerate(calibration)]
        for name, value in (("similarity_power", similarity_power), ("shrinkage", shrinkage)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} is out of range: {value}")
        self._power = float(similarity_power)
        self._shrinkage = float(shrinkage)

    @staticmethod
    def _checked_knots(
        model: int, knots: Sequence[tuple[float, float]]
    ) -> list[tuple[float, float]]:
        pairs = [(float(x), float(y)) for x, y in knots]
        finite = all(math.isfinite(x) and math.isfinite(y) for x, y in pairs)
        if not finite or any(a[0] >= b[0] for a, b in itertools.pairwise(pairs)):
            raise ValueError(
                f"calibration knots of model {model} must be finite with strictly rising x"
            )
        return pairs

    @property
    def models(self) -> int:
        """Number of labelled models."""
        return len(self._abilities)

    def __len__(self) -> int:
        return len(self._difficulties)

    def estimate(
        self,
        neighbours: Sequence[tuple[int, float]],
        prior_abilities: Sequence[float] = (),
        prior_means: Sequence[float] = (),
    ) -> list[tuple[float, float]]:
        """``(quality, evidence)`` for every labelled model, then for every prior-only model.

        Raises:
            ValueError: If a neighbour index is out of range, a value is not finite or the
                prior lists differ in length.
        """
        _check_length("prior_means", len(prior_means), len(prior_abilities))
        abilities = _floats("prior_abilities", prior_abilities)
        means = _floats("prior_means", prior_means)
        weights, difficulties, rows = [], [], []
        for index, similarity in neighbours:
            if not 0 <= index < len(self._difficulties):
                raise ValueError(
                    f"neighbour index {index} is outside 0..{len(self._difficulties)}"
                )
            if not math.isfinite(similarity):
                raise ValueError("similarities holds a NaN or infinite value")
            weights.append(max(similarity, 0.0) ** self._power)
            difficulties.append(self._difficulties[index])
            rows.append(self._scores[index])
        weight_total = math.fsum(weights)

        estimates = []
        for model, ability in enumerate(self._abilities):
            labelled = [(w, row[model]) for w, row in zip(weights, rows, strict=True)
                        if row[model] is not None]
            labels_weight = math.fsum(w for w, _ in labelled)
            labels_value = math.fsum(w * s for w, s in labelled)  # type: ignore[operator]
            if weight_total > 0.0:
                expected = math.fsum(
                    w * sigmoid(ability - d) for w, d in zip(weights, difficulties, strict=True)
                ) / weight_total
            else:
                expected = self._mean_scores[model]
            quality, evidence = self._shrunk(labels_weight, labels_value, expected)
            estimates.append((calibrate(self._knots[model], quality), evidence))
        for ability, mean in zip(abilities, means, strict=True):
            value = math.fsum(
                w * sigmoid(ability - d) for w, d in zip(weights, difficulties, strict=True)
            )
            estimates.append(self._shrunk(weight_total, value, mean))
        return estimates

    def _shrunk(self, weight: float, value: float, prior: float) -> tuple[float, float]:
        denominator = weight + self._shrinkage
        if denominator > 0.0:
            return (value + self._shrinkage * prior) / denominator, weight / denominator
        return prior, 0.0
