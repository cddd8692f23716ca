"""Convert public routing label sets into ``shoal fit``/``shoal eval`` JSONL rows.

Usage (from the repository root; SOURCE is a folder holding the upstream files)::

    python -m shoal._build.routing_data routellm SOURCE/routellm --out tests/data/routellm
    python -m shoal._build.routing_data arena-hard SOURCE/arena_hard_v1 \
        --out tests/data/arena_hard_v1

* ``routellm``: lm-sys/RouteLLM ``routellm/evals`` caches (Apache-2.0): ``gsm8k_correct.csv``
  (all 1,319 prompts) and ``mmlu_correct.csv`` (every 5th of 14,042 rows, 2,809 prompts, to keep
  the repository small), correct/incorrect for gpt-4-1106-preview and Mixtral-8x7B-Instruct-v0.1
  as scores 1/0, with the MMLU subject as the task.
* ``arena-hard``: lmarena/arena-hard-auto@4a705dd ``data/arena-bench-v1`` (Apache-2.0): 300 hard
  Chatbot Arena prompts with GPT-4 judge scores 1-10 for 15 models, mapped to (score - 1) / 9;
  prompts missing a score for any model are dropped.

Output is a JSON list of ``{"question", "scores": {model: score}, "task"}`` (the LLMRouter shape,
one entry per prompt, which ``shoal eval`` and ``shoal fit`` read), in source order; the same
input gives the same bytes.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

ROUTELLM_MODELS = {
    "gpt-4-1106-preview": "gpt-4-1106-preview",
    "mistralai/Mixtral-8x7B-Instruct-v0.1": "mixtral-8x7b-instruct-v0.1",
}
MMLU_EVERY = 5

# The upstream files each kind of source folder must hold, and where they come from.
SOURCES = {
    "routellm": (
        ("gsm8k_correct.csv", "mmlu_correct.csv"),
        "the routellm/evals caches of lm-sys/RouteLLM (commit 0b64fdaf, Apache-2.0)",
    ),
    "arena-hard": (
        ("questions.jsonl", "scores.csv"),
        "data/arena-bench-v1 of lmarena/arena-hard-auto (commit 4a705dd, Apache-2.0)",
    ),
}


def _write(items: Sequence[dict[str, Any]], path: Path) -> int:
    lines = [json.dumps(item, ensure_ascii=False, sort_keys=True) for item in items]
    path.write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")
    return len(lines)


def _routellm_rows(path: Path, task: str | None, every: int) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8", newline="") as handle:
        records = list(csv.DictReader(handle))
    return [
        {
            "question": record["prompt"],
            "scores": {model: 1.0 if record[column] == "True" else 0.0
                       for column, model in ROUTELLM_MODELS.items()},
            "task": record.get("subject", task),
        }
        for record in records[::every]
    ]


def build_routellm(source: Path, out: Path) -> None:
    """Write ``gsm8k.json`` and ``mmlu_slice.json``."""
    out.mkdir(parents=True, exist_ok=True)
    count = _write(_routellm_rows(source / "gsm8k_correct.csv", "gsm8k", 1), out / "gsm8k.json")
    logger.info("gsm8k: %d prompts", count)
    count = _write(_routellm_rows(source / "mmlu_correct.csv", None, MMLU_EVERY),
                   out / "mmlu_slice.json")
    logger.info("mmlu slice: %d prompts", count)


def build_arena_hard(source: Path, out: Path) -> None:
    """Write ``arena_hard.json``."""
    questions = {}
    for line in (source / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        questions[item["question_id"]] = item["turns"][0]
    scores: dict[str, dict[str, float | None]] = {}
    with (source / "scores.csv").open(encoding="utf-8", newline="") as handle:
        for record in csv.DictReader(handle):
            value = record["score"].strip()
            judged = (float(value) - 1.0) / 9.0 if value else None
            scores.setdefault(record["question_id"], {})[record["model"]] = judged
    models = sorted({m for by_model in scores.values() for m in by_model})
    items = []
    for question_id, prompt in questions.items():
        by_model = scores.get(question_id, {})
        judged_scores = {m: score for m in models if (score := by_model.get(m)) is not None}
        if len(judged_scores) < len(models):
            continue
        items.append({"question": prompt, "task": "arena-bench-v1",
                      "scores": {m: round(score, 6) for m, score in judged_scores.items()}})
    out.mkdir(parents=True, exist_ok=True)
    logger.info("arena hard: %d prompts", _write(items, out / "arena_hard.json"))


class SourceError(ValueError):
    """A source file is missing or cannot be read."""


def check_sources(kind: str, source: Path) -> None:
    """Refuse a source folder that lacks a readable upstream file, naming it and its origin.

    Checked before anything is written, so that a wrong folder leaves no half-built output.
    """
    names, origin = SOURCES[kind]
    for name in names:
        path = source / name
        try:
            with path.open("rb") as handle:
                handle.read(1)
        except OSError as error:
            reason = error.strerror or type(error).__name__
            raise SourceError(
                f"cannot read {path} ({reason}): the {kind} source folder must hold "
                f"{' and '.join(names)} from {origin}; see python/shoal/data/NOTICE.md"
            ) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Convert one source folder."""
    parser = argparse.ArgumentParser(
        prog="python -m shoal._build.routing_data", description=__doc__.splitlines()[0]
    )
    parser.add_argument("kind", choices=sorted(SOURCES))
    parser.add_argument("source", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    build = build_routellm if arguments.kind == "routellm" else build_arena_hard
    try:
        check_sources(arguments.kind, arguments.source)
        build(arguments.source, arguments.out)
    except SourceError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        # A file that vanished or turned unreadable after the check, or an --out that cannot
        # be written: name it rather than print a traceback.
        print(f"{parser.prog}: error: {error.filename}: {error.strerror or error}",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
