"""Regenerate ``shoal/data/confidence_calibration.json``: a calibrated confidence for the default
router's quality predictions.

Usage (from the repository root, after the default router is rebuilt)::

    python -m shoal._build.confidence tests/data/llmrouter/train.json \
        --out python/shoal/data/confidence_calibration.json

Method. The training prompts are split into five folds (by position, every fifth prompt); a
router with the shipped router's settings is fitted on four folds and predicts every model's
score on the fifth. Each held-out prediction gives the raw confidence (evidence from the
neighbours times their closeness) and the observed agreement ``1 − |observed − predicted|``.
An isotonic (pool-adjacent-violators) fit maps raw confidence to expected agreement (below the
lowest raw value seen, falling to the agreement of each model's mean score); only the
training file is used, so the test file stays unseen. The map is stored with the router version
it was fitted for; :func:`shoal.router.route` applies it only to that router.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shoal._build.router import llmrouter_rows
from shoal.catalog import load_catalog
from shoal.router import estimate_qualities, fit_router, load_router
from shoal.router_model import agreement_of_means, with_floor

logger = logging.getLogger(__name__)

FOLDS = 5
KNOTS = 24


def held_out_pairs(items: Sequence[dict[str, Any]]) -> list[tuple[float, float]]:
    """``(raw confidence, 1 − |observed − predicted|)`` for every held-out prompt and model."""
    shipped = load_router()
    catalog = load_catalog()
    pairs = []
    for fold in range(FOLDS):
        train = [item for i, item in enumerate(items) if i % FOLDS != fold]
        held = [item for i, item in enumerate(items) if i % FOLDS == fold]
        router = fit_router(llmrouter_rows(train), name=f"fold-{fold}", dim=shipped.dim,
                            k=shipped.k, similarity_power=shipped.similarity_power,
                            shrinkage=shipped.shrinkage, calibrate_confidence=False)
        for item in held:
            neighbours = router.neighbours(item["question"])
            models = list(item["scores"])
            estimates = estimate_qualities(router, catalog, models, neighbours)
            for model, (predicted, confidence, _) in zip(models, estimates, strict=True):
                if predicted is not None:
                    observed = item["scores"][model]
                    pairs.append((confidence, 1.0 - abs(observed - predicted)))
        logger.info("fold %d: %d pairs so far", fold, len(pairs))
    return pairs


def isotonic(pairs: Sequence[tuple[float, float]]) -> list[tuple[float, float, int]]:
    """Pool adjacent violators: blocks ``(mean x, mean y, count)`` with non-decreasing y."""
    blocks: list[list[float]] = []
    for x, y in sorted(pairs):
        blocks.append([x, y, 1.0])
        while len(blocks) > 1 and blocks[-2][1] > blocks[-1][1]:
            x2, y2, n2 = blocks.pop()
            x1, y1, n1 = blocks.pop()
            n = n1 + n2
            blocks.append([(x1 * n1 + x2 * n2) / n, (y1 * n1 + y2 * n2) / n, n])
    return [(x, y, int(n)) for x, y, n in blocks]


def knots(blocks: Sequence[tuple[float, float, int]]) -> list[list[float]]:
    """At most :data:`KNOTS` points, merging neighbouring blocks of similar size."""
    total = sum(n for _, _, n in blocks)
    target = total / KNOTS
    merged: list[list[float]] = []
    x_sum = y_sum = count = 0.0
    for x, y, n in blocks:
        x_sum, y_sum, count = x_sum + x * n, y_sum + y * n, count + n
        if count >= target:
            merged.append([round(x_sum / count, 6), round(y_sum / count, 6)])
            x_sum = y_sum = count = 0.0
    if count:
        merged.append([round(x_sum / count, 6), round(y_sum / count, 6)])
    return merged


def main(argv: Sequence[str] | None = None) -> int:
    """Fit the calibration map and write it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train_file", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)

    items = json.loads(arguments.train_file.read_text(encoding="utf-8"))
    pairs = held_out_pairs(items)
    # Below the lowest raw value seen, the map falls to the agreement of each model's mean
    # score, as `shoal fit` carries a router's own map (see `with_floor`).
    models = sorted({model for item in items for model in item["scores"]})
    scores = [[item["scores"].get(model) for model in models] for item in items]
    fitted = [list(knot) for knot in with_floor(
        tuple((x, y) for x, y in knots(isotonic(pairs))),
        min(raw for raw, _ in pairs), agreement_of_means(scores),
    )]
    document: dict[str, object] = {
        "router_version": load_router().version,
        "method": f"isotonic regression (pool adjacent violators) of 1 - |observed - predicted| "
        f"on raw confidence, {FOLDS}-fold held-out predictions over the training file; "
        "below the lowest raw value seen, falling to the agreement of each model's mean score",
        "source": "ulab-uiuc/LLMRouter@4e7a7969 data/dcrouter_preprocessed/train.json (MIT)",
        "pairs": len(pairs),
        "knots": fitted,
    }
    arguments.out.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    logger.info("wrote %s with %d knots from %d pairs", arguments.out,
                len(fitted), len(pairs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
