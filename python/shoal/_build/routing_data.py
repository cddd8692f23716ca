"""Convert public routing label sets into the JSON files ``shoal fit`` and ``shoal eval`` read.

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

Each output file is one JSON list of ``{"question", "scores": {model: score}, "task"}`` objects
(the LLMRouter shape), one prompt per line and in source order; the same input gives the same
bytes. A source file that is missing, not UTF-8, or not shaped as above (a column or field
missing, a score that is not one) is refused with the file and the row named, before anything
is written.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shoal.errors import ShoalError
from shoal.excerpts import excerpt

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


class SourceError(ShoalError, ValueError):
    """A source file is missing, cannot be read, or is not shaped as its kind's files are."""


def _write(items: Sequence[dict[str, Any]], path: Path) -> int:
    lines = [json.dumps(item, ensure_ascii=False, sort_keys=True) for item in items]
    path.write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")
    return len(lines)


def _csv_records(path: Path, columns: Sequence[str]) -> list[dict[str, str]]:
    """The rows of a source CSV file, refused by name when it is not UTF-8 CSV whose header
    holds ``columns`` or when it has no rows."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [column for column in columns if column not in header]
            if missing:
                raise SourceError(f"{path}: the header lacks the column(s) {', '.join(missing)} "
                                  f"(it reads {excerpt(header)})")
            records = list(reader)
    except UnicodeDecodeError:
        raise SourceError(f"{path}: not UTF-8 text") from None
    except csv.Error as error:
        raise SourceError(f"{path}: not readable as CSV ({error})") from None
    if not records:
        raise SourceError(f"{path}: a header and no rows")
    return records


def _routellm_rows(path: Path, task: str | None, every: int) -> list[dict[str, Any]]:
    records = _csv_records(path, ("prompt", *ROUTELLM_MODELS))
    return [
        {
            "question": record["prompt"],
            "scores": {model: _correct(record[column], path, number, column)
                       for column, model in ROUTELLM_MODELS.items()},
            "task": record.get("subject", task),
        }
        for number, record in enumerate(records, start=1)
        if (number - 1) % every == 0
    ]


def _correct(value: str | None, path: Path, row: int, column: str) -> float:
    """A RouteLLM cache's correct/incorrect mark as a score of 1 or 0."""
    if value is None:
        raise SourceError(f"{path}: row {row}: column {column} must be True or False, but the "
                          f"row ends before it")
    if value not in ("True", "False"):
        raise SourceError(f"{path}: row {row}: column {column} must be True or False, got "
                          f"{excerpt(value)}")
    return 1.0 if value == "True" else 0.0


def build_routellm(source: Path, out: Path) -> None:
    """Write ``gsm8k.json`` and ``mmlu_slice.json``; both sources are read first, so a bad one
    leaves no output."""
    gsm8k = _routellm_rows(source / "gsm8k_correct.csv", "gsm8k", 1)
    mmlu = _routellm_rows(source / "mmlu_correct.csv", None, MMLU_EVERY)
    out.mkdir(parents=True, exist_ok=True)
    logger.info("gsm8k: %d prompts", _write(gsm8k, out / "gsm8k.json"))
    logger.info("mmlu slice: %d prompts", _write(mmlu, out / "mmlu_slice.json"))


def _arena_questions(path: Path) -> dict[str, str]:
    """Question id -> prompt (the first turn) of arena-bench's ``questions.jsonl``."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SourceError(f"{path}: not UTF-8 text") from None
    questions = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as error:
            reason = getattr(error, "msg", "nested too deeply")
            raise SourceError(f"{path}:{number}: not valid JSON ({reason})") from None
        turns = item.get("turns") if isinstance(item, dict) else None
        if (not isinstance(item, dict) or not isinstance(item.get("question_id"), str)
                or not isinstance(turns, list) or not turns or not isinstance(turns[0], str)):
            raise SourceError(f"{path}:{number}: expected an object with question_id (a "
                              "string) and turns (a list whose first item is the prompt)")
        questions[item["question_id"]] = turns[0]
    if not questions:
        raise SourceError(f"{path}: no questions")
    return questions


def _arena_scores(path: Path) -> dict[str, dict[str, float | None]]:
    """Question id -> model -> judge score mapped to 0-1 (None where the judge gave none)."""
    scores: dict[str, dict[str, float | None]] = {}
    for number, record in enumerate(_csv_records(path, ("question_id", "model", "score")), 1):
        value = (record["score"] or "").strip()
        judged = _judge_score(value, path, number) if value else None
        scores.setdefault(record["question_id"], {})[record["model"]] = judged
    return scores


def _judge_score(value: str, path: Path, row: int) -> float:
    """A GPT-4 judge score of 1 to 10 as (score - 1) / 9."""
    try:
        score = float(value)
    except ValueError:
        score = math.nan
    if not 1.0 <= score <= 10.0:
        raise SourceError(f"{path}: row {row}: score must be a number from 1 to 10 or blank, got "
                          f"{excerpt(value)}")
    return (score - 1.0) / 9.0


def build_arena_hard(source: Path, out: Path) -> None:
    """Write ``arena_hard.json``."""
    questions = _arena_questions(source / "questions.jsonl")
    scores = _arena_scores(source / "scores.csv")
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
