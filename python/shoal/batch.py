"""Route a batch of prompts and weigh the batch against always using the strongest model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from shoal.cost import EXACT, exact_amount, exact_sum
from shoal.router import CandidateEstimate, RoutingDecision, route

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
        summary = {
            field.name: _rounded(field.name, getattr(self.summary, field.name))
            for field in fields(self.summary)
        }
        return {"decisions": [d.to_dict() for d in self.decisions], "summary": summary}


def route_batch(prompts: Sequence[str], **options: Any) -> BatchResult:
    """Route every prompt with the same options (those of :func:`shoal.router.route`)."""
    decisions = tuple(route(prompt, **options) for prompt in prompts)
    return BatchResult(decisions, summarise(decisions))


def summarise(decisions: Sequence[RoutingDecision]) -> BatchSummary:
    """The batch's cost and mean predicted quality, routed and on the strongest model."""
    chosen = [decision.alternatives[0] for decision in decisions]
    routed_cost = _exact_cost(chosen)
    routed_quality = _mean([candidate.predicted_quality or 0.0 for candidate in chosen])

    strongest, quality, cost = _strongest(decisions)
    savings = (float(1 - EXACT.divide(routed_cost, cost))
               if strongest is not None and cost > 0 else None)
    return BatchSummary(
        prompts=len(decisions),
        routed_cost_usd=float(routed_cost),
        routed_quality=routed_quality,
        strongest_model=strongest,
        strongest_cost_usd=float(cost),
        strongest_quality=quality,
        savings_fraction=savings,
        kept_local=sum(kept_local(decision) for decision in decisions),
    )


def kept_local(decision: RoutingDecision) -> bool:
    """Whether the prompt's private data kept it on open-weight models run locally."""
    return decision.privacy is not None and decision.privacy.action == "kept_local"


def _exact_cost(candidates: Sequence[CandidateEstimate]) -> Decimal:
    """The candidates' expected costs summed exactly: each cost is the float nearest its exact
    amount, whose digits it keeps (see :func:`shoal.cost.exact_amount`), where adding the
    floats would drift in the last digits."""
    return exact_sum(exact_amount(candidate.expected_cost_usd) for candidate in candidates)


def _strongest(decisions: Sequence[RoutingDecision]) -> tuple[str | None, float, Decimal]:
    """The model with the best mean predicted quality among those eligible for every prompt,
    with that mean and its exact total cost; ties go to the first id in sorted order."""
    qualities: dict[str, float] = {}
    priced: dict[str, list[CandidateEstimate]] = {}
    for decision in decisions:
        for candidate in decision.alternatives:
            if candidate.eligible and candidate.predicted_quality is not None:
                qualities[candidate.model] = (qualities.get(candidate.model, 0.0)
                                              + candidate.predicted_quality)
                priced.setdefault(candidate.model, []).append(candidate)

    everywhere = [model for model, seen in priced.items() if len(seen) == len(decisions)]
    if not everywhere:
        return None, 0.0, Decimal(0)
    best = max(sorted(everywhere), key=lambda model: qualities[model])
    return best, qualities[best] / len(decisions), _exact_cost(priced[best])


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _rounded(name: str, value: Any) -> Any:
    """A summary figure for JSON: a money total as it is, another float to 6 significant
    digits (stable bytes, as a decision's figures are)."""
    if name in MONEY_FIELDS or not isinstance(value, float):
        return value
    return float(f"{value:.6g}")
