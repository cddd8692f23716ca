"""Regenerate ``shoal/data/router_default.json`` from LLMRouter's labelled training prompts.

Usage (from the repository root)::

    python -m shoal._build.router tests/data/llmrouter/train.json \
        --out python/shoal/data/router_default.json

The input is ``ulab-uiuc/LLMRouter@4e7a7969 : data/dcrouter_preprocessed/train.json`` (MIT):
5,608 prompts, each scored in [0, 1] for nine open-weight models. The output is deterministic:
the same input gives the same bytes.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from shoal.router import fit_router

logger = logging.getLogger(__name__)

ROUTER_NAME = "llmrouter-dcrouter"
SOURCE = (
    "ulab-uiuc/LLMRouter@4e7a7969 data/dcrouter_preprocessed/train.json (MIT): 5,608 prompts x 9 "
    "open-weight models, scores in [0, 1]; fitted by shoal._build.router"
)
DIM = 512
K = 40


def llmrouter_rows(items: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Long rows ``{"prompt", "model", "score"}`` from LLMRouter's ``{question, scores}``."""
    for item in items:
        for model, score in item["scores"].items():
            yield {"prompt": item["question"], "model": model, "score": score}


def main(argv: Sequence[str] | None = None) -> int:
    """Fit the default router and write it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train_file", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)

    items = json.loads(arguments.train_file.read_text(encoding="utf-8"))
    # Its confidence map is fitted on five refitted folds and kept in a file of its own
    # (shoal._build.confidence), which names this file's version.
    router = fit_router(llmrouter_rows(items), name=ROUTER_NAME, source=SOURCE, dim=DIM, k=K,
                        calibrate_confidence=False)
    router.save(arguments.out)
    logger.info("wrote %s (%s, %d bytes)", arguments.out, router.version,
                arguments.out.stat().st_size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
