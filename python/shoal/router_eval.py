"""Measure a router on held-out labelled prompts: quality and cost against fixed baselines.

Each held-out row gives a prompt and the realised score of several models. For each trade-off
point the router picks one model per prompt exactly as :func:`shoal.router.route` does (same
estimates, costs and ranking), and the realised score and cost of that pick are averaged. The
baselines use the same costs: every single model, the best single model (highest mean score),
the cheapest, random choice (the mean over models) and the oracle (the best-scoring model per
prompt, cheapest among ties).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from shoal.catalog import Catalog, load_catalog
from shoal.router import (
    DEFAULT_WILLINGNESS_TO_PAY,
    Router,
    RoutingError,
    _assess,
    _estimate_quality,
    _rank,
    _Settings,
    load_router,
)

logger = logging.getLogger(__name__)

DEFAULT_TRADE_OFFS = (math.inf, 0.1, DEFAULT_WILLINGNESS_TO_PAY, 0.001, 0.0001)


@dataclass(frozen=True)
class OperatingPoint:
    """Mean realised quality and cost of one policy over the held-out prompts.

    Attributes:
        policy: ``router@<willingness_to_pay>``, ``single:<model>``, ``oracle`` or ``random``.
        quality: Mean realised score of the picks.
        cost_usd: Mean cost per prompt of the picks.
        picks: How often each model was picked.
    """

    policy: str
    quality: float
    cost_usd: float
    picks: Mapping[str, int]


@dataclass(frozen=True)
class Evaluation:
    """Router operating points and baselines on one held-out set."""

    prompts: int
    models: tuple[str, ...]
    router_version: str
    router_points: tuple[OperatingPoint, ...]
    singles: tuple[OperatingPoint, ...]
    best_single: OperatingPoint
    cheapest: OperatingPoint
    oracle: OperatingPoint
    random: OperatingPoint

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _point(policy: str, picks: Sequence[str], rows: Sequence[Mapping[str, Any]],
           costs: Sequence[Mapping[str, float]]) -> OperatingPoint:
    quality = math.fsum(row["scores"][m] for row, m in zip(rows, picks)) / len(rows)
    cost = math.fsum(cost[m] for cost, m in zip(costs, picks)) / len(rows)
    counts: dict[str, int] = {}
    for model in picks:
        counts[model] = counts.get(model, 0) + 1
    return OperatingPoint(policy, quality, cost, dict(sorted(counts.items())))


def evaluate_router(
    rows: Sequence[Mapping[str, Any]],
    *,
    router: Router | None = None,
    catalog: Catalog | None = None,
    trade_offs: Sequence[float] = DEFAULT_TRADE_OFFS,
    expected_output_tokens: int = 256,
) -> Evaluation:
    """Evaluate ``router`` on held-out ``rows`` of ``{"prompt", "scores": {model: score}}``.

    Only models present in every row's scores and in the catalog are candidates.

    Raises:
        RoutingError: If ``rows`` is empty or the rows share no catalog model.
    """
    if not rows:
        raise RoutingError("rows is empty: give held-out prompts with per-model scores")
    router = router if router is not None else load_router()
    catalog = catalog if catalog is not None else load_catalog()
    shared = set.intersection(*(set(row["scores"]) for row in rows))
    models = tuple(sorted(m for m in shared if m in catalog))
    if not models:
        raise RoutingError("rows share no model that the catalog knows")

    estimates = []
    for row in rows:
        neighbours = router.neighbours(row["prompt"])
        closeness = math.fsum(max(n.similarity, 0.0) for n in neighbours) / len(neighbours)
        estimates.append({
            m: _estimate_quality(router, catalog, m, neighbours, closeness) for m in models
        })

    router_points, costs = [], []
    for willingness in trade_offs:
        settings = _Settings(willingness, None, None, False, None, frozenset(),
                             expected_output_tokens)
        picks = []
        for row, quality in zip(rows, estimates):
            assessed = [_assess(catalog.model(m), row["prompt"], quality[m], settings)
                        for m in models]
            if not costs or len(costs) < len(rows):
                costs.append({a.model: a.expected_cost_usd for a in assessed})
            picks.append(_rank(assessed, settings)[0].model)
        router_points.append(_point(f"router@{willingness:g}", picks, rows, costs))

    singles = tuple(_point(f"single:{m}", [m] * len(rows), rows, costs) for m in models)
    oracle_picks = [
        min(models, key=lambda m: (-row["scores"][m], cost[m], m))
        for row, cost in zip(rows, costs)
    ]
    random_quality = math.fsum(s.quality for s in singles) / len(singles)
    random_cost = math.fsum(s.cost_usd for s in singles) / len(singles)
    return Evaluation(
        prompts=len(rows),
        models=models,
        router_version=router.version,
        router_points=tuple(router_points),
        singles=singles,
        best_single=max(singles, key=lambda s: (s.quality, -s.cost_usd)),
        cheapest=min(singles, key=lambda s: (s.cost_usd, -s.quality)),
        oracle=_point("oracle", oracle_picks, rows, costs),
        random=OperatingPoint("random", random_quality, random_cost, {}),
    )


def with_prices(catalog: Catalog, prices: Mapping[str, tuple[float, float]]) -> Catalog:
    """A copy of ``catalog`` with ``{model: (input, output) USD per Mtok}`` replaced."""
    entries = tuple(
        replace(e, input_per_mtok=prices[e.id][0], output_per_mtok=prices[e.id][1])
        if e.id in prices else e
        for e in catalog.models
    )
    return Catalog(catalog.catalog_date, entries, dict(catalog.sources))


def read_llmrouter_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows ``{"prompt", "scores"}`` from an LLMRouter ``{question, scores}`` JSON list."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return [{"prompt": item["question"], "scores": dict(item["scores"])} for item in data]


def main(argv: Sequence[str] | None = None) -> int:
    """Print the evaluation of a router on an LLMRouter-format test file as JSON (stderr logs)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("test_file", help="LLMRouter-format JSON list of {question, scores}")
    parser.add_argument("--router", default=None, help="router file (default: the shipped one)")
    parser.add_argument("--prices", default=None,
                        help="JSON {model: {input_price, output_price}} overriding the catalog")
    parser.add_argument("--exclude-prompts-from", default=None,
                        help="LLMRouter-format file whose prompts are dropped from the test set")
    arguments = parser.parse_args(argv)

    rows = read_llmrouter_rows(arguments.test_file)
    if arguments.exclude_prompts_from:
        seen = {r["prompt"] for r in read_llmrouter_rows(arguments.exclude_prompts_from)}
        rows = [r for r in rows if r["prompt"] not in seen]
    catalog = load_catalog()
    if arguments.prices:
        table = json.loads(Path(arguments.prices).read_text(encoding="utf-8"))
        catalog = with_prices(catalog, {
            m: (float(v["input_price"]), float(v["output_price"])) for m, v in table.items()
        })
    evaluation = evaluate_router(rows, router=load_router(arguments.router), catalog=catalog)
    sys.stdout.write(json.dumps(evaluation.to_dict(), indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
