"""Measure a router on held-out labelled prompts: the quality-vs-cost curve and its summaries.

Each held-out prompt carries the realised score of several candidate models and a cost per
model (observed, or price x tokens). The router predicts every candidate's quality once per
prompt; each willingness to pay λ then picks, per prompt, the candidate maximising
``quality − cost / λ`` exactly as :func:`shoal.router.route` ranks (ties: cheaper, then by id),
and the realised score and cost of the picks are averaged into one point of the curve. The
sweep starts at λ = 0 (each prompt's cheapest candidate) and ends at quality only. The oracle
picks by realised scores, and its curve has a point at every λ where one of its picks changes,
so no policy's point lies above it.

Summaries:

* AIQ (RouterBench): area under the non-decreasing convex hull of the curve's (cost, quality)
  points, cost normalised so the cheapest single candidate sits at 0 and the most expensive at 1.
  Points are clamped into [0, 1], with a note naming the curves that leave it; left of the
  hull's first point the area is 0, right of its last point the hull stays flat. AIQ is
  therefore a mean quality over the cost range; when every candidate costs the same there is
  no range, and AIQ is left out (None) with a note.
* APGR and CPT (RouteLLM), for two candidates only: prompts are sent to the stronger (more
  expensive) model in order of predicted gain over the weaker one; quality as a function of the
  share of strong calls gives PGR = (quality − weak) / (strong − weak). APGR is its area over
  shares 0 → 1 (trapezoids over every prompt count), CPT(x %) the smallest share of strong calls
  reaching PGR ≥ x %. They apply only when the dearer model scores higher on average; otherwise
  (the cheaper one scores at least as high, or both cost the same) they are left out (None)
  with a note.

Baselines on the same prompts and costs: every single model, the best single model (highest
mean score), the cheapest, random choice and the oracle (best realised score per prompt,
cheapest among ties; its curve uses realised scores in place of predictions). Random choice is
its expectation, not one draw: a uniform pick among the candidates of each prompt scores and
costs their mean there, and for two candidates it sends each share of prompts to the stronger
model at the gain of that share of the gap (APGR 0.5). One seeded draw could beat the best
single model on a few prompts, or score 0 on one.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeGuard

from shoal.catalog import (
    MAX_USD_PER_MTOK,
    PLAIN_PRICE_FIELDS,
    PLAIN_SOURCE_FIELD,
    Catalog,
    CatalogError,
    ModelEntry,
    configured_catalog,
    load_catalog,
    price_field_names,
)
from shoal.cost import format_usd
from shoal.errors import ShoalError
from shoal.excerpts import excerpt, grouped_number, json_type, unknown_field, unprintable
from shoal.files import (
    DEFAULT_MAX_DATA_FILE_BYTES,
    RepeatedKeyObject,
    json_line_error,
    number_as_given,
    object_keeping_repeated_keys,
    parse_json,
    read_json_file,
    read_text_file,
    whole_number_as_given,
    without_byte_order_mark,
)
from shoal.numbers_in import int_when_whole, whole_number
from shoal.progress import Progress
from shoal.router import RoutingError, estimate_qualities, labelled_position
from shoal.router_model import (
    LabelRow,
    Router,
    RouterFileError,
    canonical_model_names,
    check_label_row,
    check_model_name,
    fit_router,
)
from shoal.tokens import count_tokens

logger = logging.getLogger(__name__)

DEFAULT_OUTPUT_TOKENS = 256
# Willingness to pay, USD per whole quality point: 0 (cost only: each prompt's cheapest
# candidate), 10 per decade from 1e-8 to 1e2, then "any price" (quality only). Both ends are
# reached whatever the costs, so a curve spans the whole cost range even when the calls cost
# fractions of a micro-dollar; the values between resolve costs from those to dollars.
TRADE_OFFS = (0.0, *(10.0 ** (e / 10) for e in range(-80, 21)), math.inf)
CPT_LEVELS = (0.5, 0.8)


class EvaluationError(ShoalError, ValueError):
    """Evaluation data or options are unusable; the message says what to change."""


@dataclass(frozen=True)
class LabelledPrompt:
    """A held-out prompt with every candidate's realised score and cost of one call.

    Attributes:
        prompt: The prompt text.
        scores: Realised score in [0, 1] per model.
        costs_usd: Observed cost per model, where the data has one.
        input_tokens: Prompt tokens per model, where the data has them.
        task: Task or cluster label, where the data has one (for cross-task splits).
        output_tokens: Output tokens per model, where the data has them; they cost that
            model's call in place of the evaluation's assumed output length.
        where: Where the data labels each model on this prompt (the first such row's
            ``FILE:LINE``, or the list item), for an error to name.
        conflicting: The models labelled on this prompt more than once with different
            scores, which ``scores`` averages.
    """

    prompt: str
    scores: Mapping[str, float]
    costs_usd: Mapping[str, float]
    input_tokens: Mapping[str, int]
    task: str | None = None
    output_tokens: Mapping[str, int] = field(default_factory=dict)
    where: Mapping[str, str] = field(default_factory=dict)
    conflicting: tuple[str, ...] = ()


@dataclass(frozen=True)
class OperatingPoint:
    """Mean realised quality and cost of one policy.

    Attributes:
        policy: ``router``, ``single:<model>``, ``oracle``, ``random`` …
        quality: Mean realised score of the picks.
        cost_usd: Mean cost per prompt of the picks.
        willingness_to_pay: λ of a curve point (None for fixed policies; inf = quality only).
        picks: How often each model was picked (None for random choice, which is taken in
            expectation).
    """

    policy: str
    quality: float
    cost_usd: float
    willingness_to_pay: float | None = None
    picks: Mapping[str, int] | None = None


@dataclass(frozen=True)
class PairMetrics:
    """RouteLLM's two-model summaries of one policy (see the module docstring)."""

    policy: str
    apgr: float
    cpt: Mapping[str, float | None]


@dataclass(frozen=True)
class Evaluation:
    """The router's curve and summaries against the baselines on one held-out set.

    ``aiq`` is None when every candidate costs the same, and ``pair`` is None for two
    candidates of which the dearer does not score higher, a note then saying why; ``pair`` is
    None for more than two candidates too, as RouteLLM's metrics compare two.
    """

    prompts: int
    models: tuple[str, ...]
    router_version: str
    router_curve: tuple[OperatingPoint, ...]
    oracle_curve: tuple[OperatingPoint, ...]
    singles: tuple[OperatingPoint, ...]
    best_single: OperatingPoint
    cheapest: OperatingPoint
    random: OperatingPoint
    oracle: OperatingPoint
    aiq: Mapping[str, float] | None
    pair: tuple[PairMetrics, ...] | None
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form. Each field has one type or null: the quality-only point's infinite
        willingness to pay, which JSON cannot hold, is null, as a fixed policy's is."""
        return _json_ready(asdict(self))

    def best_quality_within(self, cost_usd: float) -> OperatingPoint | None:
        """The router curve point of highest quality costing at most ``cost_usd``."""
        within = [p for p in self.router_curve if p.cost_usd <= cost_usd]
        return max(within, key=lambda p: (p.quality, -p.cost_usd), default=None)


# The top-level keys by which an evaluation written by `shoal eval --json` is recognised.
EVALUATION_KEYS = frozenset(
    {"prompts", "models", "router_version", "router_curve", "oracle_curve", "aiq"}
)


def is_evaluation_document(document: object) -> bool:
    """Whether a parsed JSON document is an evaluation as :meth:`Evaluation.to_dict` writes it."""
    return isinstance(document, dict) and EVALUATION_KEYS <= document.keys()


def _json_ready(value: Any) -> Any:
    if isinstance(value, float) and math.isinf(value):
        return None
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    return value


# ---- metrics ----


def non_decreasing_hull(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Upper convex hull of ``(cost, quality)`` points that never decreases with cost.

    Points dominated by a cheaper one of at least the same quality are dropped first; what is
    left rises in both coordinates and its upper hull is concave.
    """
    ordered = sorted(points, key=lambda p: (p[0], -p[1]))
    rising: list[tuple[float, float]] = []
    for point in ordered:
        if not rising or point[1] > rising[-1][1]:
            rising.append(point)
    hull: list[tuple[float, float]] = []
    for point in rising:
        while len(hull) >= 2 and _turns_left_or_straight(hull[-2], hull[-1], point):
            hull.pop()
        hull.append(point)
    return hull


def _turns_left_or_straight(
    a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]
) -> bool:
    # Cross product >= 0: b lies on or below the segment a-c, so it is not on the upper hull.
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]) >= 0


def aiq(points: Iterable[tuple[float, float]], cost_low: float, cost_high: float) -> float:
    """Area under the non-decreasing convex hull, cost normalised to [cost_low, cost_high].

    Raises:
        EvaluationError: If ``cost_high`` is not above ``cost_low``.
    """
    if not cost_high > cost_low:
        raise EvaluationError("AIQ needs candidates of different costs (cost_high > cost_low)")
    span = cost_high - cost_low
    clamped = [(min(max((c - cost_low) / span, 0.0), 1.0), q) for c, q in points]
    hull = non_decreasing_hull(clamped)
    if not hull:
        return 0.0
    area = math.fsum(
        (b[0] - a[0]) * (a[1] + b[1]) / 2 for a, b in itertools.pairwise(hull)
    )
    return area + (1.0 - hull[-1][0]) * hull[-1][1]


def pair_metrics(
    policy: str, gains: Sequence[float], strong: Sequence[float], weak: Sequence[float],
) -> PairMetrics:
    """APGR and CPT of routing to the strong model in order of predicted ``gains``.

    Raises:
        EvaluationError: If the strong model does not score higher than the weak on average:
            the share of its gain recovered is then undefined, or counts losses as gains.
    """
    count = len(gains)
    gap = math.fsum(strong) / count - math.fsum(weak) / count
    if gap == 0:
        raise EvaluationError("APGR is undefined when both models have the same mean score")
    if gap < 0:
        raise EvaluationError("APGR needs the strong model to score higher than the weak on "
                              "average")
    order = sorted(range(count), key=lambda i: (-gains[i], i))
    total = math.fsum(weak)
    weak_mean = total / count  # once: summed again for every prompt, it made APGR quadratic
    recovered = [0.0]
    for i in order:
        total += strong[i] - weak[i]
        recovered.append((total / count - weak_mean) / gap)
    return _recovered_metrics(policy, recovered)


def _expected_random_pair_metrics(count: int) -> PairMetrics:
    """APGR and CPT of sending prompts to the strong model in uniformly random order, in
    expectation: after ``k`` of ``count`` prompts, ``k / count`` of the gap is recovered."""
    return _recovered_metrics("random", [k / count for k in range(count + 1)])


def _recovered_metrics(policy: str, recovered: Sequence[float]) -> PairMetrics:
    """APGR and CPT from the share of the gap recovered after 0, 1, … ``count`` prompts."""
    count = len(recovered) - 1
    apgr = math.fsum((a + b) / 2 for a, b in itertools.pairwise(recovered)) / count
    cpt: dict[str, float | None] = {}
    for level in CPT_LEVELS:
        reached = next((n for n, value in enumerate(recovered) if value >= level - 1e-12), None)
        cpt[f"{round(level * 100)}%"] = None if reached is None else 100.0 * reached / count
    return PairMetrics(policy, apgr, cpt)


# ---- data ----


# The fields of an LLMRouter item; anything else is refused by name (a misspelling would
# otherwise drop labels or a task silently).
LLMROUTER_FIELDS = ("question", "scores", "task", "cluster_id")


def read_labelled(
    path: str | Path, *, max_file_bytes: int = DEFAULT_MAX_DATA_FILE_BYTES
) -> list[LabelledPrompt]:
    """Labelled prompts from a ``.jsonl`` of long rows or an LLMRouter ``.json`` list.

    Long rows are ``{"prompt", "model", "score", optional "cost_usd", "input_tokens",
    "output_tokens", "task"}`` (the ``shoal fit`` format, see
    :func:`shoal.router_model.check_label_row`); LLMRouter items are ``{"question", "scores",
    optional "task" or "cluster_id"}``. Every row is checked before any is used, and an error
    names the row: ``FILE:LINE`` (from 1) in a ``.jsonl`` file, the item's index (from 0) in a
    JSON list. The file is read whole, so it must be a regular file of at most
    ``max_file_bytes`` (256 MiB by default, at most 1 GiB).

    Raises:
        EvaluationError: If the file is missing, not a regular file, too large, or a row is
            malformed.
    """
    file = Path(path)
    if file.suffix == ".jsonl":
        prompts = _group_long_rows((where, label)
                                   for where, _, label in _checked_lines(file, max_file_bytes))
    else:
        prompts = [_from_llmrouter(item, f"{file}: list item {index} (counting from 0)")
                   for index, item in enumerate(_json_list(file, max_file_bytes))]
    if not prompts:
        raise EvaluationError(f"{file} holds no labelled prompts")
    return prompts


def read_catalog_labelled(
    path: str | Path, catalog: Catalog, *, max_file_bytes: int = DEFAULT_MAX_DATA_FILE_BYTES
) -> tuple[list[LabelledPrompt], dict[str, tuple[str, ...]]]:
    """:func:`read_labelled` with model names read through ``catalog`` as ``shoal fit`` reads
    them (:func:`shoal.router_model.canonical_model_names`): ``openai/gpt-4.1`` and ``GPT-4.1``
    are labels of ``gpt-4.1``, names the catalog does not know are kept as written. The labels
    of a prompt's spellings of one model are averaged row by row (an LLMRouter item's scores
    each count as a row), as :func:`~shoal.router_model.fit_router` averages them.

    Returns:
        The prompts, and for each catalog id that other spellings were read as, those spellings
        in the order first seen.

    Raises:
        EvaluationError: As :func:`read_labelled`.
    """
    file = Path(path)
    if file.suffix == ".jsonl":
        rows = [(where, label) for where, _, label in _checked_lines(file, max_file_bytes)]
        names, spellings = canonical_model_names((row.model for _, row in rows), catalog)
        prompts = _group_long_rows((where, replace(row, model=names[row.model]))
                                   for where, row in rows)
    else:
        items = read_labelled(file, max_file_bytes=max_file_bytes)
        names, spellings = canonical_model_names(
            (model for item in items for model in item.scores), catalog
        )
        prompts = [_scores_renamed(item, names) for item in items]
    if not prompts:
        raise EvaluationError(f"{file} holds no labelled prompts")
    return prompts, spellings


def _scores_renamed(item: LabelledPrompt, names: Mapping[str, str]) -> LabelledPrompt:
    """An LLMRouter item with each model under its name in ``names``, the scores of two names
    for one model averaged."""
    scores: dict[str, list[float]] = {}
    for model, score in item.scores.items():
        scores.setdefault(names[model], []).append(score)
    return replace(item, scores={model: math.fsum(values) / len(values)
                                 for model, values in scores.items()},
                   conflicting=_conflicting(scores),
                   where={names[model]: where for model, where in item.where.items()})


def read_label_rows(
    path: str | Path, *, max_file_bytes: int = DEFAULT_MAX_DATA_FILE_BYTES
) -> list[dict[str, Any]]:
    """The rows of a ``.jsonl`` label file as written, each checked (errors name FILE:LINE).

    The file must be a regular file of at most ``max_file_bytes`` (as for :func:`read_labelled`).

    Raises:
        EvaluationError: If the file cannot be read or a row is malformed.
    """
    return [row for _, row, _ in _checked_lines(Path(path), max_file_bytes)]


def _read_text(file: Path, max_file_bytes: int) -> str:
    try:
        # A larger file's refusal names the parameter, which `shoal fit` and `shoal eval`
        # report as their --max-file-bytes.
        text = read_text_file(file, max_file_bytes=max_file_bytes)
    except ValueError as error:
        raise EvaluationError(str(error)) from None
    # A byte-order mark some editors put first is not part of the first row.
    return without_byte_order_mark(text)


def _checked_lines(
    file: Path, max_file_bytes: int
) -> list[tuple[str, dict[str, Any], LabelRow]]:
    """Each row of a ``.jsonl`` label file: where it is (``FILE:LINE``), as written, checked."""
    checked = []
    for number, line in enumerate(_read_text(file, max_file_bytes).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{file}:{number}"
        try:
            # Numbers past a float's range keep their spelling, so a refusal quotes the digits
            # typed (1e400), not the infinity a float makes of them.
            row = json.loads(line, object_pairs_hook=object_keeping_repeated_keys,
                             parse_int=whole_number_as_given, parse_float=number_as_given)
        except json.JSONDecodeError as error:
            raise EvaluationError(f"{where}: {json_line_error(line, error)}") from None
        except RecursionError:
            raise EvaluationError(f"{where}: JSON nested too deeply") from None
        _refuse_repeated_keys(row, where)
        try:
            checked.append((where, row, check_label_row(row, where)))
        except RouterFileError as error:
            raise EvaluationError(str(error)) from None
    return checked


def _json_list(file: Path, max_file_bytes: int) -> list[Any]:
    text = _read_text(file, max_file_bytes)
    try:
        items = parse_json(text, str(file), object_pairs_hook=object_keeping_repeated_keys,
                           parse_float=number_as_given)
    except ValueError as error:
        raise EvaluationError(f"{error}{_json_lines_hint(file, text)}") from None
    if not isinstance(items, list):
        raise EvaluationError(f"{file}: expected a JSON list of LLMRouter items "
                              "{question, scores}, or name a .jsonl file of rows "
                              "{prompt, model, score}")
    return items


def _json_lines_hint(file: Path, text: str) -> str:
    """What to do with JSON Lines (rows, one a line) in a file not named ``.jsonl``, which is
    read as one JSON document and fails at its second line: nothing for other broken JSON."""
    lines = [line for line in text.splitlines() if line.strip()][:2]
    try:
        if len(lines) < 2 or not all(json.loads(line) for line in lines):
            return ""
    except (ValueError, RecursionError):
        return ""
    return (f"; it holds one JSON value per line, which fit and eval read from a .jsonl file: "
            f"name it {file.with_suffix('.jsonl').name}")


def _refuse_repeated_keys(row: object, where: str) -> None:
    """Refuse a row, or a field of it (an LLMRouter item's scores), that gives a key twice."""
    if isinstance(row, RepeatedKeyObject):
        raise EvaluationError(f"{where}: {row.refusal()}")
    if isinstance(row, Mapping):
        for name, value in row.items():
            if isinstance(value, RepeatedKeyObject):
                raise EvaluationError(f"{where}: {name} gives {excerpt(value.repeated)} more than "
                                      "once; give each once (only the last would be read)")


def _from_llmrouter(item: object, where: str) -> LabelledPrompt:
    if not isinstance(item, Mapping):
        raise EvaluationError(f"{where}: an item must be a JSON object, got {json_type(item)}")
    _refuse_repeated_keys(item, where)
    unknown = unknown_field(item, LLMROUTER_FIELDS)
    if unknown is not None:
        raise EvaluationError(
            f"{where}: {unknown}; an LLMRouter item has question, scores and optionally task or "
            "cluster_id (rows {prompt, model, score} go in a .jsonl file, one a line)"
        )
    question = item.get("question")
    if not isinstance(question, str) or not question.strip():
        raise EvaluationError(f"{where}: question must be a non-empty string")
    task = item.get("task")
    if task is not None and (not isinstance(task, str) or not task.strip()):
        raise EvaluationError(f"{where}: task must be a non-empty string (or left out), got "
                              f"{excerpt(task)}")
    cluster = item.get("cluster_id")
    if task is None and cluster is not None:
        task = f"cluster {cluster}"
    scores = _item_scores(item.get("scores"), where)
    return LabelledPrompt(prompt=question, scores=scores, costs_usd={}, input_tokens={},
                          task=task, where=dict.fromkeys(scores, where))


def _item_scores(scores: object, where: str) -> dict[str, float]:
    if not isinstance(scores, Mapping) or not scores:
        raise EvaluationError(f"{where}: scores must be a non-empty object {{model: score}}")
    checked = {}
    for model, score in scores.items():
        try:
            check_model_name(model, f"{where}: a model named in scores")
        except RouterFileError as error:
            raise EvaluationError(str(error)) from None
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not (
            0.0 <= score <= 1.0
        ):
            raise EvaluationError(f"{where}: scores[{model!r}] must be a number in [0, 1], "
                                  f"got {score!r}")
        checked[model] = float(score)
    return checked


def _group_long_rows(rows: Iterable[tuple[str, LabelRow]]) -> list[LabelledPrompt]:
    """The rows of each prompt as one labelled prompt; each row comes with where it is
    (``FILE:LINE``), which names it if its task contradicts an earlier row's."""
    grouped: dict[str, dict[str, Any]] = {}
    tasks: dict[str, tuple[str, str]] = {}
    for where, row in rows:
        entry = grouped.setdefault(row.prompt, {"scores": {}, "costs": {}, "tokens": {},
                                                "output_tokens": {}, "task": None, "where": {}})
        entry["where"].setdefault(row.model, where)
        if row.task is not None:
            entry["task"] = _one_task(tasks, row.prompt, row.task, where)
        entry["scores"].setdefault(row.model, []).append(row.score)
        if row.cost_usd is not None:
            entry["costs"].setdefault(row.model, []).append(row.cost_usd)
        if row.input_tokens is not None:
            entry["tokens"][row.model] = row.input_tokens
        if row.output_tokens is not None:
            entry["output_tokens"][row.model] = row.output_tokens
    return [
        LabelledPrompt(
            prompt=prompt,
            scores={m: math.fsum(v) / len(v) for m, v in entry["scores"].items()},
            costs_usd={m: math.fsum(v) / len(v) for m, v in entry["costs"].items()},
            input_tokens=dict(entry["tokens"]),
            task=entry["task"],
            output_tokens=dict(entry["output_tokens"]),
            where=dict(entry["where"]),
            conflicting=_conflicting(entry["scores"]),
        )
        for prompt, entry in grouped.items()
    ]


def _conflicting(scores: Mapping[str, Sequence[float]]) -> tuple[str, ...]:
    """The models of one prompt given more than one score, which are averaged."""
    return tuple(model for model, values in scores.items() if len(set(values)) > 1)


def conflicting_label_count(prompts: Iterable[LabelledPrompt]) -> int:
    """How many prompt-model pairs ``prompts`` labelled more than once with different scores
    (each such pair's scores averaged), as :func:`shoal.router_model.conflicting_labels`
    counts them in the rows of a fit."""
    return sum(len(item.conflicting) for item in prompts)


def _one_task(tasks: dict[str, tuple[str, str]], prompt: str, task: str, where: str) -> str:
    """``task``, given to ``prompt`` by the row at ``where``; refused when an earlier row (in
    ``tasks``: prompt → its task and where given) gave the prompt another, as one of the two
    would be used without a word and decide the prompt's fold under ``--folds task``. A row
    without a task takes the one its prompt's other rows give."""
    first, given_at = tasks.setdefault(prompt, (task, where))
    if first != task:
        raise EvaluationError(f"{where}: task {excerpt(task)} for a prompt that {given_at} "
                              f"gives task {excerpt(first)}; give each prompt one task")
    return task


def long_rows(prompts: Iterable[LabelledPrompt], *, without: Iterable[str] = ()) -> list[dict]:
    """``shoal fit`` rows from labelled prompts, leaving out the models in ``without``."""
    skipped = set(without)
    rows = []
    for item in prompts:
        for model, score in item.scores.items():
            if model not in skipped:
                row: dict[str, Any] = {"prompt": item.prompt, "model": model, "score": score}
                if model in item.costs_usd:
                    row["cost_usd"] = item.costs_usd[model]
                if model in item.input_tokens:
                    row["input_tokens"] = item.input_tokens[model]
                if model in item.output_tokens:
                    row["output_tokens"] = item.output_tokens[model]
                rows.append(row)
    return rows


def read_prices(path: str | Path) -> dict[str, tuple[float, float]]:
    """``{model: (input, output) USD per Mtok}`` from a JSON price file.

    Two shapes are read, so the file given to ``--prices`` elsewhere works here too:

    * a mapping ``{model: {"input_per_mtok", "output_per_mtok"}}``, each price from 0 to
      :data:`~shoal.catalog.MAX_USD_PER_MTOK` as in a catalog file, an optional ``source``
      (where the prices come from: printable text, checked and not read) and any other field
      refused by name (an LLMRouter model entry, with ``input_price`` and ``output_price`` and
      fields that describe the model, is read too); keys starting with ``_`` are comments, and
      a model given twice (by one key, or by two names of one catalog model such as
      ``gpt-4.1-mini`` and ``openai/GPT-4.1-mini``) is refused;
    * a catalog file (a list of model rows, or ``{"models": [...]}``, see
      :func:`shoal.catalog.load_catalog`): each row's model at the prices the shipped catalog
      has after the file is applied, so a row may give only the prices of a known model.

    Raises:
        EvaluationError: If the file cannot be read or an entry has no usable prices.
    """
    file = Path(path)
    document = _price_document(file)
    if _is_catalog_document(document):
        return _catalog_file_prices(file, document)
    if not isinstance(document, dict):
        raise EvaluationError(
            f"price file {file}: expected a JSON object {{model: {{input_per_mtok, "
            f"output_per_mtok}}}} or a catalog file, got {json_type(document)}"
        )

    _refuse_models_named_twice(file, document)
    models = [model for model in document if not model.startswith("_")]
    for model in models:
        try:
            check_model_name(model, f"price file {file}: model")
        except RouterFileError as error:
            raise EvaluationError(str(error)) from None
    return {model: _entry_prices(file, model, document[model]) for model in models}


# The fields of a ``{model: prices}`` entry, as the catalog reads them (its optional source is
# kept in the file for its reader, and not read into the prices here).
PRICE_ENTRY_FIELDS = PLAIN_PRICE_FIELDS
PRICE_SOURCE_FIELD = PLAIN_SOURCE_FIELD


def _entry_prices(file: Path, model: str, entry: object) -> tuple[float, float]:
    """The (input, output) prices of one ``{model: prices}`` entry, bounded as a catalog file's
    are: a price near the float limit made every cost inf and every summary NaN."""
    fields = entry if isinstance(entry, dict) else {}
    # An LLMRouter model entry's other fields (size, feature, service...) describe the model and
    # are not read.
    names, problem = price_field_names(fields)
    if problem is not None:
        raise EvaluationError(f"price file {file}: {model!r}: {problem}")
    if names == PRICE_ENTRY_FIELDS:
        unknown = unknown_field(fields, (*PRICE_ENTRY_FIELDS, PRICE_SOURCE_FIELD))
        if unknown is not None:
            # A misspelt price beside the two read would otherwise be dropped without a word.
            raise EvaluationError(f"price file {file}: {model!r}: {unknown}; an entry has "
                                  "input_per_mtok, output_per_mtok and an optional source only")
        _check_price_source(file, model, fields)
    prices = []
    for name in names:
        price = fields.get(name)
        if not _is_price(price):
            raise EvaluationError(f"price file {file}: {model!r} needs input_per_mtok and "
                                  "output_per_mtok (finite numbers >= 0)")
        if price > MAX_USD_PER_MTOK:
            raise EvaluationError(
                f"price file {file}: {model!r}: {name} must be at most "
                f"{MAX_USD_PER_MTOK:,.0f} USD per million tokens, as in a catalog file, got "
                f"{grouped_number(price)}"
            )
        prices.append(float(price))
    return prices[0], prices[1]


def _check_price_source(file: Path, model: str, fields: Mapping[str, Any]) -> None:
    """Refuse a ``source`` that is not text: held to the rules of a catalog row's
    ``price_source`` (printable characters only), so that copying it into a catalog file, or
    showing the entry, cannot carry a newline or terminal escape along."""
    if PRICE_SOURCE_FIELD not in fields:
        return
    source = fields[PRICE_SOURCE_FIELD]
    if not isinstance(source, str) or not source.strip():
        raise EvaluationError(f"price file {file}: {model!r}: source must be a non-empty "
                              f"string, got {excerpt(source)}")
    problem = unprintable(source)
    if problem is not None:
        raise EvaluationError(f"price file {file}: {model!r}: source {problem}")


def _refuse_models_named_twice(file: Path, document: dict[str, Any]) -> None:
    """Refuse a ``{model: prices}`` file that gives one model two entries, by one key twice (a
    JSON reader keeps the last) or by two spellings the catalog reads as one model
    (``gpt-4.1-mini`` and ``openai/GPT-4.1-mini``, of which one would be used without a word),
    as a catalog-shaped file giving a model two rows is refused; and an entry that gives a
    field twice."""
    catalog = configured_catalog()
    pairs = document.pairs if isinstance(document, RepeatedKeyObject) else list(document.items())
    named_at: dict[str, str] = {}
    keys: set[str] = set()
    for key, _ in pairs:
        if key.startswith("_"):
            continue
        if key in keys:
            raise EvaluationError(f"price file {file}: {excerpt(key)} is given more than once; "
                                  "give each model one entry (only the last would be read)")
        keys.add(key)
        model = catalog.model(key).id if key in catalog else key.strip().lower()
        earlier = named_at.setdefault(model, key)
        if earlier != key:
            raise EvaluationError(f"price file {file}: {excerpt(key)} names {model}, as "
                                  f"{excerpt(earlier)} does; give each model one entry")
    _refuse_repeated_keys(dict(document), f"price file {file}")


def _is_price(value: object) -> TypeGuard[float]:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and value >= 0)


# What to do about a scored model the router knows nothing of.
NO_ESTIMATE_ADVICE = (
    "; give it a `quality` (0-1) in a catalog-shaped price file (--prices or SHOAL_PRICES), "
    "label it in the training data, or drop its rows from the test data"
)


def price_file_catalog(path: str | Path) -> Catalog | None:
    """The catalog with a catalog-shaped price file applied (its quality priors as well as its
    prices), or None for a file of the ``{model: prices}`` shape, which carries prices only."""
    file = Path(path)
    return _price_catalog(file) if _is_catalog_document(_price_document(file)) else None


def _price_document(file: Path) -> Any:
    try:
        # A settings file: a regular one, nothing under /proc, /dev or /sys, at most 16 MiB.
        return read_json_file(file, object_pairs_hook=object_keeping_repeated_keys)
    except ValueError as error:
        raise EvaluationError(f"cannot read price file: {error}") from None


def _is_catalog_document(document: Any) -> bool:
    """Whether a price file is catalog-shaped: a list of model rows, or ``{"models": [...]}``."""
    return isinstance(document, list) or (
        isinstance(document, dict) and isinstance(document.get("models"), list)
    )


def _price_catalog(file: Path) -> Catalog:
    """The shipped catalog with a catalog-shaped price file applied."""
    try:
        return load_catalog(file)
    except CatalogError as error:
        raise EvaluationError(f"price file {file}: {error}") from None


def _catalog_file_prices(file: Path, document: Any) -> dict[str, tuple[float, float]]:
    """Prices of the models a catalog-shaped file names, read through the catalog loader."""
    catalog = _price_catalog(file)
    rows = document if isinstance(document, list) else document["models"]
    prices = {}
    for row in rows:
        entry = catalog.model(row["id"])
        prices[row["id"]] = prices[entry.id] = (entry.input_per_mtok, entry.output_per_mtok)
    return prices


def with_priors(catalog: Catalog, priors: Mapping[str, float]) -> Catalog:
    """A copy of ``catalog`` whose ``quality`` prior is replaced for the models in ``priors``."""
    entries = tuple(
        replace(e, quality=priors[e.id], quality_source="evaluation prior") if e.id in priors
        else e
        for e in catalog.models
    )
    # replace() keeps every other field, such as which user price file priced each row.
    return replace(catalog, models=entries)


def _estimating_catalog(
    catalog: Catalog, priors: Mapping[str, float], unlabelled: Iterable[str],
) -> Catalog:
    """``catalog`` with the quality priors of ``priors`` (:func:`with_priors`), and a row that
    carries nothing but its prior for each model of ``unlabelled`` the catalog lacks, which is
    all routing needs to place a model on the ability scale. Only predictions read it: its
    prices are never read, as costs come from the catalog as given."""
    known = with_priors(catalog, priors)
    added = tuple(_prior_only_entry(model, priors[model]) for model in unlabelled
                  if model not in catalog and model in priors)
    return replace(known, models=(*known.models, *added)) if added else known


def _prior_only_entry(model: str, prior: float) -> ModelEntry:
    return ModelEntry(
        id=model, provider="", name=model, input_per_mtok=0.0, output_per_mtok=0.0,
        cached_input_per_mtok=None, cache_write_per_mtok=None, context_window=0,
        max_output_tokens=0, encoding=None, token_ratio=1.0, open_weights=False, params_b=None,
        active_params_b=None, quality=prior, quality_source="evaluation prior", price_source="",
        as_of="",
    )


# ---- costs and predictions ----


def _input_tokens(item: LabelledPrompt, model: str, catalog: Catalog) -> int:
    if model in item.input_tokens:
        return item.input_tokens[model]
    if model in catalog:
        return count_tokens(item.prompt, model=model).tokens
    return count_tokens(item.prompt).tokens


def cost_table(
    prompts: Sequence[LabelledPrompt], models: Sequence[str], *, catalog: Catalog,
    prices: Mapping[str, tuple[float, float]] | None = None,
    output_tokens: int = DEFAULT_OUTPUT_TOKENS, progress: Progress | None = None,
) -> list[dict[str, float]]:
    """Cost of one call per prompt and model: observed, else price x (input + output tokens).

    Prices come from ``prices`` first, then the catalog. A prompt's own ``input_tokens`` and
    ``output_tokens`` for a model take precedence over the counted prompt and ``output_tokens``.

    Raises:
        EvaluationError: If a model has neither an observed cost nor a price.
    """
    prices = prices or {}
    progress = progress if progress is not None else _no_progress
    table = []
    for done, item in enumerate(prompts):
        progress("costing held-out prompts", done, len(prompts))
        row = {}
        for model in models:
            if model in item.costs_usd:
                row[model] = item.costs_usd[model]
                continue
            if model in prices:
                per_input, per_output = prices[model]
            elif model in catalog:
                entry = catalog.model(model)
                per_input, per_output = entry.input_per_mtok, entry.output_per_mtok
            else:
                # The first row without a cost, as any other refused row is named.
                where = f"{item.where[model]}: " if model in item.where else ""
                raise EvaluationError(
                    f"{where}no cost for {model!r}: the catalog does not price it, so give "
                    "cost_usd in every row of it or a --prices entry"
                )
            tokens = _input_tokens(item, model, catalog)
            answer_tokens = item.output_tokens.get(model, output_tokens)
            row[model] = (tokens * per_input + answer_tokens * per_output) / 1e6
        table.append(row)
    progress("costing held-out prompts", len(prompts), len(prompts))
    return table


def predict(
    router: Router, prompts: Sequence[LabelledPrompt], models: Sequence[str], catalog: Catalog,
    *, priors: Mapping[str, float] | None = None,
    progress: Progress | None = None,
) -> list[dict[str, float]]:
    """Predicted quality per prompt and model, as :func:`shoal.router.route` estimates it
    (``progress(step, done, total)`` is called as the prompts are predicted).

    ``priors`` are quality priors in [0, 1] that replace the catalog's, and give one to a model
    the catalog lacks: a model without labels in the router is estimated from its prior, as
    route estimates a catalog model from the catalog's.

    Raises:
        EvaluationError: If a model has neither labels in the router nor a prior.
    """
    # Read through the catalog as route reads them: GPT-4.1 in the data is gpt-4.1's labels.
    positions = {model: labelled_position(router, catalog, model) for model in models}
    if priors:
        unlabelled = [model for model in models if positions[model] is None]
        catalog = _estimating_catalog(catalog, priors, unlabelled)
    from_priors = [m for m in models if positions[m] is None and m in catalog]
    for model in models:
        if positions[model] is None and model not in catalog:
            raise EvaluationError(
                f"the router cannot estimate {model!r}: no labels, no prior{NO_ESTIMATE_ADVICE}"
            )
    progress = progress if progress is not None else _no_progress
    predictions = []
    for done, item in enumerate(prompts):
        progress("predicting held-out prompts", done, len(prompts))
        neighbours = router.neighbours(item.prompt)
        labelled = router.predict(neighbours)
        row: dict[str, float] = {}
        for model, (quality, _, _) in zip(
            from_priors, estimate_qualities(router, catalog, from_priors, neighbours),
            strict=True,
        ):
            if quality is None:
                raise EvaluationError(
                    f"the router cannot estimate {model!r}: no labels, no prior"
                    f"{NO_ESTIMATE_ADVICE}"
                )
            row[model] = quality
        for model in models:
            position = positions[model]
            if position is not None:
                row[model] = labelled[position][0]
        predictions.append({model: row[model] for model in models})
    progress("predicting held-out prompts", len(prompts), len(prompts))
    return predictions


def _no_progress(step: str, done: int, total: int) -> None:
    """The progress callback of a caller that gave none."""


# ---- evaluation ----


def _point(
    policy: str, picks: Sequence[str], scores: Sequence[Mapping[str, float]],
    costs: Sequence[Mapping[str, float]], willingness: float | None = None,
) -> OperatingPoint:
    count = len(picks)
    quality = math.fsum(s[m] for s, m in zip(scores, picks, strict=False)) / count
    cost = math.fsum(c[m] for c, m in zip(costs, picks, strict=False)) / count
    tally: dict[str, int] = {}
    for model in picks:
        tally[model] = tally.get(model, 0) + 1
    return OperatingPoint(policy, quality, cost, willingness, dict(sorted(tally.items())))


def _pick(candidates: Sequence[tuple[float, str, float]], willingness: float) -> str:
    """The model of highest ``quality − cost / willingness`` (of quality alone at infinity)
    among ``(cost, model, quality)`` in tie-break order: on a tie the first, the cheaper, wins.
    At 0 it is the limit from above: the cheapest, then the highest quality among those."""
    if willingness == 0:
        return min(candidates, key=lambda option: (option[0], -option[2]))[1]
    best_model, best = "", -math.inf
    for cost, model, quality in candidates:
        objective = quality if math.isinf(willingness) else quality - cost / willingness
        if not best_model or objective > best:
            best_model, best = model, objective
    return best_model


def _curve(
    policy: str, estimates: Sequence[Mapping[str, float]], scores: Sequence[Mapping[str, float]],
    costs: Sequence[Mapping[str, float]], trade_offs: Sequence[float], progress: Progress,
) -> tuple[OperatingPoint, ...]:
    # Each prompt's candidates in the order route breaks ties, sorted once for every trade-off.
    candidates = [sorted((cost[model], model, estimate[model]) for model in estimate)
                  for estimate, cost in zip(estimates, costs, strict=True)]
    points = []
    for done, willingness in enumerate(trade_offs):
        progress(f"sweeping the {policy}'s willingness to pay", done, len(trade_offs))
        picks = [_pick(options, willingness) for options in candidates]
        points.append(_point(policy, picks, scores, costs, willingness))
    progress(f"sweeping the {policy}'s willingness to pay", len(trade_offs), len(trade_offs))
    return tuple(points)


def _oracle_curve(
    scores: Sequence[Mapping[str, float]], costs: Sequence[Mapping[str, float]],
) -> tuple[OperatingPoint, ...]:
    """The oracle's curve with a point at every willingness to pay where one of its picks
    changes, from 0 (each prompt's cheapest candidate) to quality only.

    A sweep over fixed values can step over a change of pick, and its curve then runs below
    the oracle's true one, where a router's point may lie above it. Each prompt's picks, as the
    willingness to pay rises, walk the upper hull of its candidates' (cost, score); the switch
    from one hull vertex to the next comes at Δcost / Δscore. Summing the switches in order
    gives every vertex of the curve, which bounds every policy's points from above.
    """
    count = len(scores)
    hulls = [_choices_hull(score, cost) for score, cost in zip(scores, costs, strict=True)]
    picks = [hull[0] for hull in hulls]
    # Exact sums, so each point's means are those a fresh sum of its picks gives.
    quality = sum((Fraction(pick[2]) for pick in picks), Fraction(0))
    cost = sum((Fraction(pick[0]) for pick in picks), Fraction(0))
    tally: dict[str, int] = {}
    for pick in picks:
        tally[pick[1]] = tally.get(pick[1], 0) + 1

    def point(willingness: float) -> OperatingPoint:
        picked = {model: times for model, times in sorted(tally.items()) if times}
        return OperatingPoint("oracle", float(quality) / count, float(cost) / count,
                              willingness, picked)

    switches = sorted(((later[0] - earlier[0]) / (later[2] - earlier[2]), index, later)
                      for index, hull in enumerate(hulls)
                      for earlier, later in itertools.pairwise(hull))
    points = [point(0.0)]
    for willingness, group in itertools.groupby(switches, key=lambda switch: switch[0]):
        for _, index, choice in group:
            before, picks[index] = picks[index], choice
            quality += Fraction(choice[2]) - Fraction(before[2])
            cost += Fraction(choice[0]) - Fraction(before[0])
            tally[before[1]] -= 1
            tally[choice[1]] = tally.get(choice[1], 0) + 1
        points.append(point(willingness))
    points.append(point(math.inf))
    return tuple(points)


def _choices_hull(
    scores: Mapping[str, float], costs: Mapping[str, float],
) -> list[tuple[float, str, float]]:
    """The ``(cost, model, score)`` of one prompt's candidates on the upper hull of (cost,
    score), cheapest first: the picks that maximise ``score − cost / willingness`` as the
    willingness to pay rises. Of candidates at one point the first by id stands for them, as
    :func:`_pick` breaks such ties."""
    first_at: dict[tuple[float, float], str] = {}
    for cost, model, score in sorted((costs[model], model, scores[model]) for model in scores):
        first_at.setdefault((cost, score), model)
    hull = non_decreasing_hull(first_at)
    return [(cost, first_at[cost, score], score) for cost, score in hull]


def evaluate_predictions(
    prompts: Sequence[LabelledPrompt], predictions: Sequence[Mapping[str, float]],
    costs: Sequence[Mapping[str, float]], *, router_version: str,
    trade_offs: Sequence[float] = TRADE_OFFS, notes: Sequence[str] = (),
    progress: Progress | None = None,
) -> Evaluation:
    """The curve, AIQ, APGR/CPT and baselines from predictions and costs already computed.

    Raises:
        EvaluationError: If there are no prompts or fewer than two candidates.
    """
    if not prompts:
        raise EvaluationError("no held-out prompts")
    models = tuple(sorted(predictions[0]))
    if len(models) < 2:
        raise EvaluationError("evaluation needs at least two candidate models")
    # Only the candidates' scores: the oracle and the baselines pick among the same models as
    # the router, not among every model the data happens to score.
    scores = [_candidate_scores(item, models, index) for index, item in enumerate(prompts)]

    progress = progress if progress is not None else _no_progress
    router_curve = _curve("router", predictions, scores, costs, trade_offs, progress)
    oracle_curve = _oracle_curve(scores, costs)
    singles = tuple(_point(f"single:{m}", [m] * len(prompts), scores, costs) for m in models)
    oracle = _point("oracle", [min(models, key=lambda m: (-s[m], c[m], m))
                               for s, c in zip(scores, costs, strict=False)], scores, costs)
    uniform = _expected_random_point(scores, costs)

    best = max(singles, key=lambda s: (s.quality, -s.cost_usd))
    curves = {
        "router": [(p.cost_usd, p.quality) for p in router_curve],
        "oracle": [(p.cost_usd, p.quality) for p in oracle_curve],
        "singles_hull": [(p.cost_usd, p.quality) for p in singles],
        "best_single": [(best.cost_usd, best.quality)],
        "random": [(uniform.cost_usd, uniform.quality)],
    }
    summary, aiq_notes = _aiq_summary(curves, singles)
    pair, pair_notes = _pair_summaries(models, predictions, scores, singles)
    return Evaluation(
        prompts=len(prompts), models=models, router_version=router_version,
        router_curve=router_curve, oracle_curve=oracle_curve, singles=singles,
        best_single=best, cheapest=min(singles, key=lambda s: (s.cost_usd, -s.quality)),
        random=uniform, oracle=oracle, aiq=summary,
        pair=pair, notes=(*notes, *aiq_notes, *pair_notes),
    )


def _expected_random_point(
    scores: Sequence[Mapping[str, float]], costs: Sequence[Mapping[str, float]],
) -> OperatingPoint:
    """Uniform random choice in expectation: on each prompt, the mean score and cost of its
    candidates (no picks: every candidate is picked a share of the time)."""
    count = len(scores)
    quality = math.fsum(math.fsum(score.values()) / len(score) for score in scores) / count
    cost = math.fsum(math.fsum(cost[model] for model in score) / len(score)
                     for score, cost in zip(scores, costs, strict=True)) / count
    return OperatingPoint("random", quality, cost)


def _aiq_summary(
    curves: Mapping[str, Sequence[tuple[float, float]]], singles: Sequence[OperatingPoint],
) -> tuple[dict[str, float] | None, tuple[str, ...]]:
    """AIQ of each curve, or None and a note saying why when every candidate costs the same:
    AIQ measures quality over the costs from the cheapest candidate's to the dearest's, and
    there is no such range (two local models at $0, two models at one price)."""
    low = min(s.cost_usd for s in singles)
    high = max(s.cost_usd for s in singles)
    if high > low:
        summary = {name: aiq(points, low, high) for name, points in curves.items()}
        return summary, _clamped_cost_notes(curves, low, high)
    return None, (
        f"AIQ left out: every candidate costs {format_usd(low)} a prompt on average, and AIQ "
        "averages quality over the costs from the cheapest candidate's to the dearest's; with "
        "no such range, compare the quality column",
    )


def _clamped_cost_notes(
    curves: Mapping[str, Sequence[tuple[float, float]]], low: float, high: float,
) -> tuple[str, ...]:
    """A note naming the curves with a point cheaper than the cheapest single model or dearer
    than the dearest, which AIQ counts at that end of the range (none when no point is).

    With one price per model no policy leaves the range; costs observed per row can (a router
    picking, per prompt, whichever model was cheapest there). Counted at the end, such a point
    loses what it saves or gains beyond the range, and a router may then read above the oracle.
    """
    outside = []
    for name, points in curves.items():
        cheapest = min(cost for cost, _ in points)
        dearest = max(cost for cost, _ in points)
        if cheapest < low:
            outside.append(f"{name} down to {format_usd(cheapest)}")
        if dearest > high:
            outside.append(f"{name} up to {format_usd(dearest)}")
    if not outside:
        return ()
    return (f"AIQ counts a cost outside the single models' range ({format_usd(low)} to "
            f"{format_usd(high)} a prompt) as that range's end, and some points lie outside it: "
            f"{', '.join(outside)} (the rows' own costs make other models the cheapest or the "
            "dearest on other prompts)",)


def _candidate_scores(
    item: LabelledPrompt, models: Sequence[str], index: int
) -> dict[str, float]:
    """The realised scores of the candidates on one held-out prompt."""
    missing = [model for model in models if model not in item.scores]
    if missing:
        raise EvaluationError(
            f"held-out prompt {index} (counting from 0) has no score for {', '.join(missing)}: "
            "every candidate needs a score on every held-out prompt"
        )
    return {model: item.scores[model] for model in models}


def _pair_summaries(
    models: Sequence[str], predictions: Sequence[Mapping[str, float]],
    scores: Sequence[Mapping[str, float]], singles: Sequence[OperatingPoint],
) -> tuple[tuple[PairMetrics, ...] | None, tuple[str, ...]]:
    """APGR and CPT of the router, random choice and the oracle for two candidates; None for
    more, and None with a note saying why when they do not apply to these two."""
    if len(models) != 2:
        return None, ()
    weak, strong = sorted(singles, key=lambda s: (s.cost_usd, s.policy))
    weak_id, strong_id = weak.policy.removeprefix("single:"), strong.policy.removeprefix("single:")
    why_not = _why_pair_metrics_do_not_apply(weak, strong)
    if why_not is not None:
        return None, (f"APGR and CPT do not apply: {why_not}",)
    strong_scores = [s[strong_id] for s in scores]
    weak_scores = [s[weak_id] for s in scores]
    router_gains = [p[strong_id] - p[weak_id] for p in predictions]
    oracle_gains = [s - w for s, w in zip(strong_scores, weak_scores, strict=False)]
    return (pair_metrics("router", router_gains, strong_scores, weak_scores),
            _expected_random_pair_metrics(len(scores)),
            pair_metrics("oracle", oracle_gains, strong_scores, weak_scores)), ()


def _why_pair_metrics_do_not_apply(weak: OperatingPoint, strong: OperatingPoint) -> str | None:
    """Why RouteLLM's metrics say nothing of two candidates (None when they do): they measure
    how much of a dearer model's gain over a cheaper one routing recovers as more prompts go
    to the dearer, so the dearer must score higher."""
    weak_id, strong_id = weak.policy.removeprefix("single:"), strong.policy.removeprefix("single:")
    if strong.cost_usd == weak.cost_usd:
        return (f"both models cost {format_usd(weak.cost_usd)} a prompt on average, and they "
                "measure routing between a dearer, stronger model and a cheaper one")
    if strong.quality == weak.quality:
        return (f"the cheaper {weak_id} scores as high as the dearer {strong_id} (both "
                f"{weak.quality:.4f} on average), so the dearer has no gain for routing to "
                "recover")
    if strong.quality < weak.quality:
        return (f"the cheaper {weak_id} scores higher than the dearer {strong_id} "
                f"({weak.quality:.4f} against {strong.quality:.4f} on average), and they "
                "measure the gain of sending prompts to the dearer model")
    return None


def evaluate_router(
    prompts: Sequence[LabelledPrompt], *, router: Router, catalog: Catalog | None = None,
    prices: Mapping[str, tuple[float, float]] | None = None,
    models: Sequence[str] | None = None, output_tokens: int = DEFAULT_OUTPUT_TOKENS,
    priors: Mapping[str, float] | None = None,
    progress: Progress | None = None,
) -> Evaluation:
    """Evaluate ``router`` on held-out ``prompts`` (candidates: models scored on every prompt;
    a note names the models scored on only some of them, which are left out).
    ``progress(step, done, total)`` is called as the long steps advance.

    ``priors`` are quality priors that replace the catalog's and reach the models it lacks
    (see :func:`predict`); the hold-out experiment gives every model its mean training score.

    Raises:
        EvaluationError: If the prompts share fewer than two models or a model has no cost.
    """
    catalog = catalog if catalog is not None else configured_catalog()
    candidates = tuple(models) if models is not None else _shared_models(prompts)
    costs = cost_table(prompts, candidates, catalog=catalog, prices=prices,
                       output_tokens=output_tokens, progress=progress)
    predictions = predict(router, prompts, candidates, catalog, priors=priors,
                          progress=progress)
    return evaluate_predictions(prompts, predictions, costs, router_version=router.version,
                                notes=_left_out_notes(prompts), progress=progress)


def _shared_models(prompts: Sequence[LabelledPrompt]) -> tuple[str, ...]:
    """The models scored on every prompt: each policy is compared on the same prompts, so a
    model missing a score on one prompt cannot be evaluated."""
    if not prompts:
        raise EvaluationError("no held-out prompts")
    shared = set.intersection(*(set(item.scores) for item in prompts))
    if len(shared) < 2:
        raise EvaluationError(_too_few_shared_models(prompts, shared))
    return tuple(sorted(shared))


def _scored_counts(prompts: Sequence[LabelledPrompt]) -> dict[str, int]:
    """How many of the prompts each model is scored on."""
    scored: dict[str, int] = {}
    for item in prompts:
        for model in item.scores:
            scored[model] = scored.get(model, 0) + 1
    return scored


def _left_out_notes(prompts: Sequence[LabelledPrompt]) -> tuple[str, ...]:
    """A note naming the models scored on some held-out prompts but not all, which are not
    evaluated (none when every scored model is evaluated)."""
    scored = _scored_counts(prompts)
    partial = [model for model in sorted(scored) if scored[model] < len(prompts)]
    if not partial:
        return ()
    counts = ", ".join(f"{model} (scored on {scored[model]:,} of the {len(prompts):,} held-out "
                       "prompts)" for model in partial)
    return (f"not evaluated: {counts}; every policy is compared on the same prompts, so only "
            "models scored on every held-out prompt are candidates",)


def _too_few_shared_models(prompts: Sequence[LabelledPrompt], shared: set[str]) -> str:
    """What evaluation needs, what the data has (prompts scored per model), and what to do."""
    scored = _scored_counts(prompts)
    counts = ", ".join(f"{model} {count:,}" for model, count in sorted(scored.items()))
    everywhere = ", ".join(sorted(shared)) if shared else "none"
    return (
        f"evaluation needs at least two models scored on every held-out prompt, and "
        f"{len(shared)} {'is' if len(shared) == 1 else 'are'} ({everywhere}): of "
        f"{len(prompts):,} prompts, each model is scored on {counts}. Score two or more models "
        "on every prompt, or leave out the prompts that lack a model's score"
    )


def cross_validate(
    prompts: Sequence[LabelledPrompt], *, folds: int | str, fit_options: Mapping[str, Any],
    catalog: Catalog | None = None, prices: Mapping[str, tuple[float, float]] | None = None,
    output_tokens: int = DEFAULT_OUTPUT_TOKENS, seed: int = 0, progress: Progress | None = None,
) -> Evaluation:
    """Pool the held-out predictions of ``folds`` routers, each fitted on the other folds.

    ``folds`` is a number (prompts shuffled with ``seed``, then dealt round-robin) or ``"task"``
    (one fold per task label: every prompt is predicted by a router that never saw its task).
    ``progress(step, done, total)`` is called as the long steps advance, each fold's named.

    Raises:
        EvaluationError: If the folds cannot be formed.
    """
    catalog = catalog if catalog is not None else configured_catalog()
    # A seed from numpy as an int: random.Random takes no other type of number.
    seed = int_when_whole(seed)
    assignment = _fold_assignment(prompts, folds, seed)
    models = _shared_models(prompts)
    progress = progress if progress is not None else _no_progress
    predictions: list[dict[str, float] | None] = [None] * len(prompts)
    every_fold = sorted(set(assignment))
    for number, fold in enumerate(every_fold, start=1):
        train = [p for p, f in zip(prompts, assignment, strict=False) if f != fold]
        held = [i for i, f in enumerate(assignment) if f == fold]
        logger.info("fold %s: fitting on %d prompts, %d held out", fold, len(train), len(held))
        rows = _fold_predictions(f"fold-{fold}", train, [prompts[i] for i in held], models,
                                 catalog, fit_options,
                                 _named_progress(f"fold {number} of {len(every_fold)}", progress))
        for i, row in zip(held, rows, strict=True):
            predictions[i] = row
    costs = cost_table(prompts, models, catalog=catalog, prices=prices,
                       output_tokens=output_tokens, progress=progress)
    count = len(every_fold)
    if folds == "task":
        note = (f"{count} folds, one per task: each prompt predicted by a router that saw no "
                "prompt of its task")
    else:
        note = (f"{count} folds of shuffled prompts (seed {seed}): each prompt predicted by a "
                "router that did not see it")
    return evaluate_predictions(
        prompts, [p for p in predictions if p is not None], costs,
        router_version=f"{count}-fold cross-validation",
        notes=(note, *_left_out_notes(prompts)), progress=progress,
    )


def _named_progress(name: str, progress: Progress) -> Progress:
    """``progress`` with each step named as part of ``name`` (``fold 2 of 5: ...``)."""
    def named(step: str, done: int, total: int) -> None:
        progress(f"{name}: {step}", done, total)

    return named


def _fold_predictions(
    name: str, train: Sequence[LabelledPrompt], held_out: Sequence[LabelledPrompt],
    models: Sequence[str], catalog: Catalog, fit_options: Mapping[str, Any], progress: Progress,
) -> list[dict[str, float]]:
    """Predictions for ``held_out`` by a router fitted on ``train``. The router is let go on
    return, so no two folds' routers (each the size of its training data) are held at once.
    Its confidence map is not fitted unless asked for: no figure of an evaluation reads it,
    and it took a third of a cross-validation's time."""
    options = {"calibrate_confidence": False, **fit_options}
    router = fit_router(long_rows(train), name=name, progress=progress, **options)
    return predict(router, held_out, models, catalog, progress=progress)


def _fold_assignment(prompts: Sequence[LabelledPrompt], folds: int | str, seed: int) -> list:
    if folds == "task":
        if any(item.task is None for item in prompts):
            raise EvaluationError("folds='task' needs a task (or cluster_id) on every prompt")
        tasks = sorted({str(item.task) for item in prompts})
        if len(tasks) < 2:
            raise EvaluationError(f"folds='task' needs prompts of at least two tasks to train "
                                  f"on one and test on another; every prompt has task "
                                  f"{tasks[0]!r}")
        return [item.task for item in prompts]
    count = whole_number(folds)
    if count is None or count < 2:
        shown = folds if count is None else count
        raise EvaluationError(f"folds must be 'task' or a number of folds >= 2, got {shown!r}")
    if count > len(prompts):
        have = f"{len(prompts)} distinct prompt" + ("" if len(prompts) == 1 else "s")
        raise EvaluationError(f"too few prompts for {count} folds: the data has {have}, and "
                              "each fold needs one")
    order = list(range(len(prompts)))
    random.Random(seed).shuffle(order)
    assignment = [0] * len(prompts)
    for rank, index in enumerate(order):
        assignment[index] = rank % count
    return assignment


__all__ = [
    "Evaluation",
    "EvaluationError",
    "LabelledPrompt",
    "OperatingPoint",
    "PairMetrics",
    "RouterFileError",
    "RoutingError",
    "aiq",
    "conflicting_label_count",
    "cost_table",
    "cross_validate",
    "evaluate_predictions",
    "evaluate_router",
    "is_evaluation_document",
    "long_rows",
    "non_decreasing_hull",
    "pair_metrics",
    "predict",
    "read_catalog_labelled",
    "read_label_rows",
    "read_labelled",
    "read_prices",
    "with_priors",
]
