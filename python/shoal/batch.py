"""Route a batch of prompts and weigh the batch against always using the strongest model."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from shoal.cost import EXACT, exact_amount
from shoal.router import RoutingDecision, route

# The batch's money totals: each is the float nearest the exact sum of the decisions' costs, as
# every cost shoal reports is, and is written as it is rather than rounded.
MONEY_FIELDS = ("routed_cost_usd", "strongest_cost_usd")


@dataclass(frozen=True)
class BatchSummary:
    """What routing a batch cost and gained, against one model used for every prompt.

    Attributes:
        prompts: Number of prompts routed.
        routed_cost_usd: Expected cost of the chosen models, summed.
        routed_quality: Mean predicted quality of the chosen models.
        strongest_model: The candidate with the highest mean predicted quality among those
            eligible for every prompt, or None when no candidate was. When a prompt is kept
            local (``kept_local``), only open-weight models are eligible for it, so this is the
            strongest open-weight model rather than the strongest hosted one.
        strongest_cost_usd: Expected cost of sending every prompt to it.
        strongest_quality: Its mean predicted quality.
        savings_fraction: ``1 - routed / strongest`` cost, or None without a strongest model or
            when it costs nothing.
        kept_local: Prompts whose private data kept them on open-weight models run locally
            (privacy 'local').
    """

    prompts: int
    routed_cost_usd: float
    routed_quality: float
    strongest_model: str | None
    strongest_cost_usd: float
    strongest_quality: float
    savings_fraction: float | None
    kept_local: int = 0


@dataclass(frozen=True)
class BatchResult:
    """Every decision of a batch, in prompt order, and their summary."""

    decisions: tuple[RoutingDecision, ...]
    summary: BatchSummary

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the decisions' own dictionaries and the summary."""
        return {"decisions": [d.to_dict() for d in self.decisions],
                "summary": summary_dict(self.summary)}


def summary_dict(summary: BatchSummary) -> dict[str, Any]:
    """The summary's JSON-ready form, as ``shoal route --file --json`` writes it."""
    return {field.name: _rounded(field.name, getattr(summary, field.name))
            for field in fields(summary)}


def route_batch(prompts: Sequence[str], **options: Any) -> BatchResult:
    """Route every prompt with the same options (those of :func:`shoal.router.route`)."""
    decisions = tuple(route(prompt, **options) for prompt in prompts)
    return BatchResult(decisions, summarise(decisions))


def summarise(decisions: Iterable[RoutingDecision]) -> BatchSummary:
    """The batch's cost and mean predicted quality, routed and on the strongest model."""
    tally = BatchTally()
    for decision in decisions:
        tally.add(decision)
    return tally.summary()


class BatchTally:
    """A batch's summary gathered one decision at a time, so that a batch can be written as it
    is routed: what it keeps grows with the candidates, not with the prompts.

    The sums are taken in prompt order, as summing a list of the decisions would take them, so
    the summary is the same to the last digit.
    """

    def __init__(self) -> None:
        self.prompts = 0
        self.kept_local = 0
        self._routed_cost = Decimal(0)
        self._routed_quality = 0.0
        # Per model, over the decisions where it was eligible with an estimate.
        self._qualities: dict[str, float] = {}
        self._costs: dict[str, Decimal] = {}
        self._eligible_in: dict[str, int] = {}

    def add(self, decision: RoutingDecision) -> None:
        """Count one more decision."""
        chosen = decision.alternatives[0]
        self.prompts += 1
        self.kept_local += kept_local(decision)
        self._routed_cost = EXACT.add(self._routed_cost, exact_amount(chosen.expected_cost_usd))
        self._routed_quality += chosen.predicted_quality or 0.0
        for candidate in decision.alternatives:
            if candidate.eligible and candidate.predicted_quality is not None:
                model = candidate.model
                self._qualities[model] = (self._qualities.get(model, 0.0)
                                          + candidate.predicted_quality)
                self._costs[model] = EXACT.add(self._costs.get(model, Decimal(0)),
                                               exact_amount(candidate.expected_cost_usd))
                self._eligible_in[model] = self._eligible_in.get(model, 0) + 1

    def summary(self) -> BatchSummary:
        """The summary of the decisions counted so far."""
        strongest, quality, cost = self._strongest()
        savings = (float(1 - EXACT.divide(self._routed_cost, cost))
                   if strongest is not None and cost > 0 else None)
        return BatchSummary(
            prompts=self.prompts,
            routed_cost_usd=float(self._routed_cost),
            routed_quality=self._routed_quality / self.prompts if self.prompts else 0.0,
            strongest_model=strongest,
            strongest_cost_usd=float(cost),
            strongest_quality=quality,
            savings_fraction=savings,
            kept_local=self.kept_local,
        )

    def _strongest(self) -> tuple[str | None, float, Decimal]:
        """The model with the best mean predicted quality among those eligible for every prompt,
        with that mean and its exact total cost; ties go to the first id in sorted order."""
        everywhere = [model for model, seen in self._eligible_in.items() if seen == self.prompts]
        if not everywhere:
            return None, 0.0, Decimal(0)
        best = max(sorted(everywhere), key=lambda model: self._qualities[model])
        return best, self._qualities[best] / self.prompts, self._costs[best]


def kept_local(decision: RoutingDecision) -> bool:
    """Whether the prompt's private data kept it on open-weight models run locally."""
    return decision.privacy is not None and decision.privacy.action == "kept_local"


def _rounded(name: str, value: Any) -> Any:
    """A summary figure for JSON: a money total as it is, another float to 6 significant
    digits (stable bytes, as a decision's figures are)."""
    if name in MONEY_FIELDS or not isinstance(value, float):
        return value
    return float(f"{value:.6g}")
