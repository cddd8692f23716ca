"""The learned part of routing: labelled exemplars, a one-parameter IRT fit and the router file.

A router holds, for every exemplar prompt, its hashed embedding minus the exemplars' mean
embedding (centred, then stored as int8 codes, see ``shoal._pure.embed``), the scores in [0, 1]
of the models that were labelled on it and its fitted difficulty. Centring removes the direction
every prompt shares (frequent words), so cosine similarity compares what prompts do not share.
Models get an ability on the same scale: score ≈ sigmoid(ability − difficulty) (one-parameter
item response theory, fitted by alternating Newton steps with a small L2 penalty so that
all-correct and all-wrong prompts stay finite).

Prediction for a new prompt uses its ``k`` nearest exemplars by cosine similarity of the centred
embeddings, each weighted by ``max(cosine, 0) ** similarity_power`` (one call to the core's
``NeighbourEstimator`` for every candidate at once):

* a labelled model's quality is the similarity-weighted mean of its scores on them, shrunk by
  ``shrinkage`` pseudo-weight towards what item response theory expects of it there (the
  weighted mean of sigmoid(ability − difficulty) over the same neighbours), then calibrated;
* a model without labels is placed on the ability scale from its catalog quality prior (see
  ``shoal.router``), and its quality is the same weighted mean of sigmoid(ability − difficulty),
  shrunk towards its expected mean score.

Calibration. Raw neighbour votes over-predict middling scores and under-predict high ones. For
each model with at least :data:`MIN_CALIBRATION_LABELS` labels, ``fit_router`` predicts every
exemplar (up to :data:`CALIBRATION_SAMPLE`, evenly spaced) from its ``k`` nearest *other*
exemplars, fits an isotonic (pool-adjacent-violators) map from predicted to observed score, and
keeps it as at most :data:`CALIBRATION_KNOTS` knots; a prediction is mapped piecewise linearly
through them (flat beyond the ends). Both choices, the item-response shrinkage target and the
calibration, were selected by 5-fold cross-validation on LLMRouter's training prompts (Brier
score 0.178 → 0.171, mid-range bias from up to +0.07 to within ±0.015).

Confidence. A prediction's raw confidence is the evidence the neighbours give (their weight
against the shrinkage) times their mean positive similarity (:func:`closeness`). A second
leave-one-out pass of the same kind, through the calibrated router, gives for every labelled
score the raw confidence and the agreement ``1 − |observed − predicted|``; ``fit_router`` keeps
an isotonic map from the one to the other (``prediction.confidence_calibration``; at least
:data:`MIN_CONFIDENCE_PAIRS` pairs from :data:`MIN_CONFIDENCE_PROMPTS` exemplars, about
:data:`CONFIDENCE_PAIRS_PER_KNOT` pairs per knot), so that a router's confidence is the agreement
to expect. It is the method of the shipped router's map
(``shoal._build.confidence``), which was fitted on five refitted folds instead and is kept in a
file of its own.

Exemplars are kept in the order of their prompts' text, not of the rows: a router is a function
of its labels, so the same labels in any order give the same file, version and decisions, and
neighbours equally similar to a prompt (ranked by lower index) are ranked the same way.

The router file is JSON with a format version and a SHA-256 content hash over its canonical
form, so an edited or truncated file is refused rather than silently misused. A file whose hash
was recomputed after an edit is still checked field by field, and its previews are redacted
again as it is read.
"""

from __future__ import annotations

import array
import base64
import hashlib
import itertools
import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

from shoal import atomic_file
from shoal._backend import BACKEND, core
from shoal.catalog import MAX_ID_LENGTH, Catalog, configured_catalog
from shoal.cost import MAX_TOKENS_PER_CALL, check_catalog
from shoal.errors import ShoalError
from shoal.excerpts import excerpt, grouped_number, json_type, unknown_field, unprintable
from shoal.files import MAX_ROUTER_FILE_BYTES, read_json_file
from shoal.ledger import MAX_LIMIT_USD
from shoal.numbers_in import real_number, whole_number
from shoal.output_files import check_output_file
from shoal.privacy import redact
from shoal.progress import Progress, check_callback
from shoal.tokens import check_unicode

logger = logging.getLogger(__name__)

ROUTER_FORMAT = "shoal-router"
ROUTER_FORMAT_VERSION = 3
EMBEDDING_METHOD = "shoal-hash-v1"

_MISSING_SCORE = 0xFFFF
_SCORE_STEPS = 0xFFFE
_PREVIEW_CHARS = 80
_QUANTILES = 101

# A router's name opens every decision's router version (``name@hash``), which decisions, the
# ledger and recorded outcomes repeat: a short label (where the labels come from is ``source``).
MAX_ROUTER_NAME_CHARS = 100
# Where the labels come from, with date and licence: a line or two kept in the file (the shipped
# router's takes 170 characters), not a document.
MAX_ROUTER_SOURCE_CHARS = 1_000

# The largest ability or difficulty a router file may hold. The fit's L2 penalty keeps fitted
# values within a few units (the shipped router's lie in [-4.3, 3.3]), and sigmoid(x) is 1.0
# in double precision from x = 37 on, so a value beyond 100 means nothing but an edit.
MAX_FITTED_MAGNITUDE = 100.0

# Newton rounds of the IRT fit: it settles in tens (30 by default); far more only costs time.
MAX_IRT_ITERATIONS = 1_000

MIN_CALIBRATION_LABELS = 100
CALIBRATION_SAMPLE = 8192
CALIBRATION_KNOTS = 32

# A mean agreement over 50 held-out predictions is known to within about 0.05 (one standard
# error): fewer give no map, and each knot of the map pools about as many.
MIN_CONFIDENCE_PAIRS = 50
CONFIDENCE_PAIRS_PER_KNOT = 50
CONFIDENCE_KNOTS = 24
# A left-out exemplar is still predicted partly from its own labels, through the models' mean
# scores and abilities fitted with them: hardly on many prompts, wholly on one (400 models
# scored on one prompt gave a map from raw confidence 0 to agreement 1.00, so every decision
# claimed certainty). Measured on random labels of fixed per-model rates, the map of 20 prompts
# was optimistic by 0.04-0.07 against fresh prompts, of 30 by 0.01-0.025, of 40 or more by at
# most 0.01; so fewer than 40 exemplars give no map, however many models they label.
MIN_CONFIDENCE_PROMPTS = 40


class RouterFileError(ShoalError, ValueError):
    """A router file or training rows are malformed; the message says what to fix."""


def sigmoid(value: float) -> float:
    """Logistic function, stable for large magnitudes."""
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    exp_value = math.exp(value)
    return exp_value / (1.0 + exp_value)


@dataclass(frozen=True)
class Neighbour:
    """An exemplar close to the prompt.

    Attributes:
        index: Position of the exemplar in the router file.
        similarity: Cosine similarity of the hashed embeddings, in [-1, 1].
        preview: The exemplar prompt's first characters, each secret or personal item
            replaced by ``[kind]`` when the router was fitted.
    """

    index: int
    similarity: float
    preview: str


@dataclass(frozen=True, eq=False)
class Router:
    """Labelled exemplars with fitted abilities and difficulties; see the module docstring.

    Build one with :func:`fit_router` or read a file with :func:`read_router`. Routers compare
    and hash by identity (the content hash names the data). The repr leaves out the per-exemplar
    fields (megabytes for the shipped router); a pickle carries the fields and not the exemplar
    index, which the copy builds again on first use, so a router can go to a worker process.
    """

    name: str
    source: str
    dim: int
    k: int
    similarity_power: float
    shrinkage: float
    models: tuple[str, ...]
    abilities: tuple[float, ...] = field(repr=False)
    mean_scores: tuple[float, ...] = field(repr=False)
    difficulties: tuple[float, ...] = field(repr=False)
    scores: tuple[tuple[float | None, ...], ...] = field(repr=False)
    previews: tuple[str, ...] = field(repr=False)
    vectors_int8: bytes = field(repr=False)
    centre: tuple[float, ...] = field(default=(), repr=False)
    costs_usd: tuple[float | None, ...] = field(default=(), repr=False)
    calibration: tuple[tuple[tuple[float, float], ...], ...] = field(default=(), repr=False)
    confidence_calibration: tuple[tuple[float, float], ...] = field(default=(), repr=False)
    content_hash: str = ""
    _index: Any = field(default=None, init=False, repr=False, compare=False)
    _estimator: Any = field(default=None, init=False, repr=False, compare=False)
    _difficulty_quantiles: tuple[float, ...] = field(default=(), init=False, repr=False)
    _mean_score_cache: dict[float, float] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _exemplar_keys: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.centre:
            object.__setattr__(self, "centre", (0.0,) * self.dim)
        if not self.costs_usd:
            object.__setattr__(self, "costs_usd", (None,) * len(self.models))
        if not self.calibration:
            object.__setattr__(self, "calibration", ((),) * len(self.models))
        if not self.content_hash:
            object.__setattr__(self, "content_hash", _content_hash(self._document()))
        quantiles = _quantiles(self.difficulties, _QUANTILES)
        object.__setattr__(self, "_difficulty_quantiles", quantiles)

    def __reduce__(self) -> tuple[type[Router], tuple[Any, ...]]:
        # The constructor's fields only: the built index (a Rust object on that path) and the
        # caches are rebuilt by the copy when it is first used.
        return type(self), tuple(getattr(self, item.name) for item in fields(self) if item.init)

    @property
    def version(self) -> str:
        """``name@`` the first 12 hex digits of the content hash: names this exact file."""
        return f"{self.name}@{self.content_hash.removeprefix('sha256:')[:12]}"

    def __len__(self) -> int:
        return len(self.difficulties)

    def index(self) -> Any:
        """The exemplar index (built on first use; Rust or pure Python)."""
        if self._index is None:
            index = core.ExemplarIndex.from_int8(self.vectors_int8, self.dim)
            object.__setattr__(self, "_index", index)
        return self._index

    def query_vector(self, prompt: str) -> list[float]:
        """The prompt's embedding, centred like the exemplars."""
        (vector,) = core.embed([prompt], dim=self.dim)
        return [x - c for x, c in zip(vector, self.centre, strict=False)]

    def neighbours(self, prompt: str) -> tuple[Neighbour, ...]:
        """The ``k`` exemplars nearest to ``prompt``, most similar first."""
        ranked = self.index().top_k(self.query_vector(prompt), self.k)
        return tuple(Neighbour(i, s, self.previews[i]) for i, s in ranked)

    def stored_exemplar(self, prompt: str) -> int | None:
        """The exemplar that ``prompt`` appears to be, or None.

        The file keeps no prompt, only each exemplar's preview and int8 embedding code; a
        prompt whose preview and code both equal an exemplar's is almost surely that prompt
        (two texts that differ only past the preview's 80 characters, in ways the hashed
        embedding cannot tell apart, would match too).
        """
        if self._exemplar_keys is None:
            width = self.dim
            keys = {(preview, self.vectors_int8[row * width : (row + 1) * width]): row
                    for row, preview in enumerate(self.previews)}
            object.__setattr__(self, "_exemplar_keys", keys)
        # Coded as fit_router coded the exemplars, so an exemplar's own prompt gives its bytes.
        key = (_preview(prompt), core.embed_int8([prompt], dim=self.dim, centre=self.centre))
        found: int | None = self._exemplar_keys.get(key)
        return found

    def estimator(self) -> Any:
        """The core's estimator over these exemplars (built on first use)."""
        if self._estimator is None:
            estimator = core.NeighbourEstimator(
                self.scores, self.difficulties, self.abilities, self.mean_scores,
                self.calibration, similarity_power=self.similarity_power,
                shrinkage=self.shrinkage,
            )
            object.__setattr__(self, "_estimator", estimator)
        return self._estimator

    def predict(
        self, neighbours: Sequence[Neighbour], prior_abilities: Sequence[float] = (),
    ) -> list[tuple[float, float]]:
        """``(quality, evidence)`` of every labelled model (in ``models`` order), then of a model
        at each of ``prior_abilities``; one core call for all of them."""
        means = [self.expected_mean_score(ability) for ability in prior_abilities]
        pairs = [(n.index, n.similarity) for n in neighbours]
        return self.estimator().estimate(pairs, list(prior_abilities), means)

    def model_position(self, model_id: str) -> int | None:
        """Position of a labelled model spelt as in the file, or None. Routing reads names
        through the catalog instead (:func:`shoal.router.labelled_position`)."""
        try:
            return self.models.index(model_id)
        except ValueError:
            return None

    def predict_labelled(
        self, position: int, neighbours: Sequence[Neighbour]
    ) -> tuple[float, float]:
        """Quality and evidence weight (0-1) of labelled model ``position`` for a prompt."""
        return self.predict(neighbours)[position]

    def predict_from_ability(
        self, ability: float, neighbours: Sequence[Neighbour]
    ) -> tuple[float, float]:
        """Quality and evidence weight of a model known only by its ability."""
        return self.predict(neighbours, [ability])[-1]

    def expected_mean_score(self, ability: float) -> float:
        """Mean predicted score over the exemplars' difficulty distribution (quantiles)."""
        cached = self._mean_score_cache.get(ability)
        if cached is None:
            values = [sigmoid(ability - b) for b in self._difficulty_quantiles]
            cached = math.fsum(values) / len(values)
            if len(self._mean_score_cache) < 4096:
                self._mean_score_cache[ability] = cached
        return cached

    def ability_for_mean_score(self, target: float) -> float:
        """The ability whose expected mean score is ``target`` (bisection, deterministic)."""
        target = min(max(target, 0.001), 0.999)
        low, high = -30.0, 30.0
        for _ in range(60):
            middle = (low + high) / 2
            if self.expected_mean_score(middle) < target:
                low = middle
            else:
                high = middle
        return (low + high) / 2

    def _document(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "format": ROUTER_FORMAT,
            "format_version": ROUTER_FORMAT_VERSION,
            "name": self.name,
            "source": self.source,
            "embedding": {
                "method": EMBEDDING_METHOD, "dim": self.dim, "centre": list(self.centre),
            },
            "prediction": {
                "k": self.k,
                "similarity_power": self.similarity_power,
                "shrinkage": self.shrinkage,
                "calibration": [[list(knot) for knot in knots] for knots in self.calibration],
            },
            "models": list(self.models),
            "costs_usd": list(self.costs_usd),
            "abilities": [round(a, 6) for a in self.abilities],
            "mean_scores": [round(m, 6) for m in self.mean_scores],
            "exemplars": {
                "count": len(self.difficulties),
                "difficulties": [round(b, 6) for b in self.difficulties],
                "scores_uint16": _encode_scores(self.scores),
                "vectors_int8": base64.b64encode(self.vectors_int8).decode("ascii"),
                "previews": list(self.previews),
            },
        }
        if self.confidence_calibration:
            # Only when there is one: files without it, the shipped router's among them, keep
            # their content hash and so their version.
            document["prediction"]["confidence_calibration"] = [
                list(knot) for knot in self.confidence_calibration
            ]
        return document

    def to_json(self) -> str:
        """The router file's text: canonical JSON with the content hash."""
        document = self._document()
        document["content_hash"] = self.content_hash
        return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    def save(self, path: str | Path) -> Path:
        """Write the router file to ``path`` and return it.

        ``path`` is checked first as ``shoal fit --out`` checks it: it may be a new file in a
        folder this user can write, a router file to replace, an empty file, or a device such
        as /dev/null; not ``-``, a folder, a pipe, or a file that holds anything else, which a
        save would destroy. The file is replaced in one step
        (:func:`shoal.atomic_file.write_text`): a router loaded meanwhile is the whole old one
        or the whole new one, and a save that fails or is killed leaves the old one.

        Raises:
            RouterFileError: If ``path`` is refused; the message names it and says why.
            OSError: If the write itself fails (a full disk).
        """
        target = Path(path)
        try:
            check_output_file(target, "path", "the router", kind="router")
        except ValueError as error:
            raise RouterFileError(str(error)) from None
        atomic_file.write_text(target, self.to_json() + "\n")
        return target


def closeness(neighbours: Sequence[Neighbour]) -> float:
    """Mean positive similarity of the neighbours: how familiar the prompt looks. A labelled
    model's raw confidence is its evidence from them times this."""
    return math.fsum(max(n.similarity, 0.0) for n in neighbours) / max(len(neighbours), 1)


_LITTLE_ENDIAN = array.array("H", [1]).tobytes() == b"\x01\x00"


def _quantiles(values: Sequence[float], count: int) -> tuple[float, ...]:
    if not values:
        return (0.0,)
    ordered = sorted(values)
    last = len(ordered) - 1
    return tuple(ordered[round(i * last / (count - 1))] for i in range(count))


def _content_hash(document: Mapping[str, Any]) -> str:
    text = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _encode_scores(scores: Sequence[Sequence[float | None]]) -> str:
    codes = array.array("H")
    for row in scores:
        for score in row:
            codes.append(_MISSING_SCORE if score is None else round(score * _SCORE_STEPS))
    if not _LITTLE_ENDIAN:
        codes.byteswap()
    return base64.b64encode(codes.tobytes()).decode("ascii")


def _decode_scores(text: str, rows: int, columns: int) -> tuple[tuple[float | None, ...], ...]:
    data = _base64(text, "exemplars.scores_uint16")
    if len(data) % 2:
        raise RouterFileError("exemplars.scores_uint16 holds an odd number of bytes")
    codes = array.array("H", data)
    if not _LITTLE_ENDIAN:
        codes.byteswap()
    if len(codes) != rows * columns:
        raise RouterFileError(
            f"exemplars.scores_uint16 holds {len(codes)} scores, expected {rows} x {columns}"
        )
    decoded = [None if c == _MISSING_SCORE else c / _SCORE_STEPS for c in codes]
    return tuple(tuple(decoded[r * columns : (r + 1) * columns]) for r in range(rows))


# ---- fitting ----


# The fields a labelled row may carry: what `shoal fit` learns from, what `shoal eval` reads
# (task), and what `shoal feedback export` adds for provenance (decision_id, recorded_at,
# source). Anything else is refused by name, so a misspelt "scroe" is not silently dropped.
ROW_REQUIRED_FIELDS = ("prompt", "model", "score")
ROW_OPTIONAL_FIELDS = ("cost_usd", "input_tokens", "output_tokens", "task", "decision_id",
                      "recorded_at", "source")
_ROW_TEXT_FIELDS = ("task", "decision_id", "recorded_at", "source")


@dataclass(frozen=True)
class LabelRow:
    """One checked label: how ``model`` scored on ``prompt``, and what the call cost."""

    prompt: str
    model: str
    score: float
    cost_usd: float | None
    input_tokens: int | None
    output_tokens: int | None
    task: str | None


def check_label_row(row: object, where: str) -> LabelRow:
    """Check one labelled row; ``where`` names it in the error (``rows[3]``, ``labels.jsonl:4``).

    Raises:
        RouterFileError: If the row is not a mapping, lacks or mistypes a field, has a field
            no row may carry (the message suggests the nearest known name), or names its model
            as no id may be named (:func:`check_model_name`).
    """
    if not isinstance(row, Mapping):
        raise RouterFileError(f"{where}: a row must be a JSON object, got {json_type(row)}")
    _refuse_unknown_fields(row, where)
    prompt, model, score = row.get("prompt"), row.get("model"), row.get("score")
    if not isinstance(prompt, str) or not prompt.strip():
        raise RouterFileError(f"{where}: prompt must be a non-empty string")
    if not isinstance(model, str) or not model.strip():
        raise RouterFileError(f"{where}: model must be a non-empty string")
    if "score" not in row:
        raise RouterFileError(f"{where}: the row has no score; give a number in [0, 1]")
    number = real_number(score)
    if number is None:
        raise RouterFileError(f"{where}: score must be a number in [0, 1], got {excerpt(score)}")
    if not 0.0 <= number <= 1.0:
        raise RouterFileError(f"{where}: score must be in [0, 1], got {excerpt(number)}")
    cost = _optional_number(row, "cost_usd", where)
    input_tokens = _optional_count(row, "input_tokens", where)
    output_tokens = _optional_count(row, "output_tokens", where)
    for name in _ROW_TEXT_FIELDS:
        value = row.get(name)
        if value is not None and not isinstance(value, str):
            raise RouterFileError(f"{where}: {name} must be a string, got {excerpt(value)}")
    task = row.get("task")
    if task is not None and not task.strip():
        # A blank task would be one more task of its own to `eval --folds task`.
        raise RouterFileError(f"{where}: task must be a non-empty string (or left out), got "
                              f"{excerpt(task)}")
    _refuse_lone_surrogates(row, where)
    check_model_name(model, f"{where}: model")
    return LabelRow(prompt, model, float(number), cost, input_tokens, output_tokens,
                    row.get("task"))


def check_model_name(model: str, what: str) -> None:
    """Refuse a model name that no shoal command would take back as a model id; ``what`` names
    it in the error (``labels.jsonl:4: model``).

    A label's model becomes a router model that route, eval and the MCP tools print and that
    ``--candidates`` and ``feedback record`` must be able to name: so it is held to the rules
    of every id shoal takes (:data:`MAX_ID_LENGTH` characters at most, as the ledger's ids and
    the tools' model arguments; printable characters only, as the ledger's names, since a
    newline or terminal escape would rewrite the lines that print it and U+202E reverses the
    text after it), and a space around it is refused rather than kept as a second model
    beside the name without it.

    Raises:
        RouterFileError: The first rule the name breaks, with an excerpt of it.
    """
    if len(model) > MAX_ID_LENGTH:
        raise RouterFileError(f"{what} must be at most {MAX_ID_LENGTH} characters, as every "
                              f"model id shoal takes, got {len(model):,} ({excerpt(model)})")
    problem = unprintable(model)
    if problem is not None:
        raise RouterFileError(f"{what} {problem}")
    if model != model.strip():
        raise RouterFileError(f"{what} must not start or end with a space, got "
                              f"{excerpt(model)}; give {excerpt(model.strip())}")


def _refuse_lone_surrogates(row: Mapping[str, Any], where: str) -> None:
    """Refuse a text field holding a lone surrogate (a JSON escape such as ``"\\ud800"``): no
    encoding can take one, so the embedding, the router file and every output would fail."""
    for name in ("prompt", "model", *_ROW_TEXT_FIELDS):
        value = row.get(name)
        if isinstance(value, str):
            try:
                check_unicode(value, f"{where}: {name}")
            except ValueError as error:
                raise RouterFileError(str(error)) from None


def _refuse_unknown_fields(row: Mapping[Any, Any], where: str) -> None:
    unknown = unknown_field(row, (*ROW_REQUIRED_FIELDS, *ROW_OPTIONAL_FIELDS))
    if unknown is not None:
        raise RouterFileError(
            f"{where}: {unknown}; a row has {', '.join(ROW_REQUIRED_FIELDS)} and optionally "
            f"{', '.join(ROW_OPTIONAL_FIELDS)}"
        )


def _optional_number(
    row: Mapping[str, Any], name: str, where: str, limit: float = MAX_LIMIT_USD,
) -> float | None:
    """The field ``name`` as a float from 0 to ``limit``, or None when absent. The limits are
    those a recorded outcome keeps (:mod:`shoal.feedback`); beyond them the mean of a model's
    costs could overflow, and no call costs or reads that much."""
    given = row.get(name)
    if given is None:
        return None
    value = real_number(given)
    # An int is always finite, and math.isfinite would overflow on one beyond a float.
    if (value is None or (isinstance(value, float) and not math.isfinite(value)) or value < 0):
        shown = f"{given!r:.80}" if value is None else grouped_number(value)
        raise RouterFileError(f"{where}: {name} must be a finite number >= 0, got {shown}")
    if value > limit:
        raise RouterFileError(f"{where}: {name} must be at most {limit:,}, got "
                              f"{grouped_number(value)}; check the units")
    return float(value)


def _optional_count(row: Mapping[str, Any], name: str, where: str) -> int | None:
    # One wording for whatever is wrong with a count (1.5, -1, "x"), for each count a row has.
    given = row.get(name)
    if given is None:
        return None
    value = real_number(given)
    if (value is None or value < 0
            or (isinstance(value, float) and not value.is_integer())):
        raise RouterFileError(f"{where}: {name} must be a whole number >= 0, got "
                              f"{excerpt(given if value is None else value)}")
    if value > MAX_TOKENS_PER_CALL:
        raise RouterFileError(f"{where}: {name} must be at most {MAX_TOKENS_PER_CALL:,}, got "
                              f"{grouped_number(value)}; check the units")
    return int(value)


def _validated_rows(
    rows: Iterable[Mapping[str, Any]], costs: dict[str, list[float]] | None = None,
) -> dict[str, dict[str, list[float]]]:
    """Group rows by prompt (first-seen order) and model; duplicate labels are averaged later.

    Observed ``cost_usd`` values are collected per model into ``costs`` when it is given.
    """
    grouped: dict[str, dict[str, list[float]]] = {}
    for position, row in enumerate(rows):
        label = check_label_row(row, f"rows[{position}]")
        if label.cost_usd is not None and costs is not None:
            costs.setdefault(label.model, []).append(label.cost_usd)
        grouped.setdefault(label.prompt, {}).setdefault(label.model, []).append(label.score)
    if not grouped:
        raise RouterFileError("rows is empty: a router needs labelled prompts")
    return grouped


def canonical_model_names(
    names: Iterable[str], catalog: Catalog,
) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """Each of ``names`` read through ``catalog`` as every other command reads a model name
    (``openai/gpt-4.1`` and ``GPT-4.1`` are ``gpt-4.1``); a name the catalog does not know is
    kept as first written, and a later spelling of it in another case (``acme`` after ``Acme``)
    is read as that one, as routing matches such a name in any case (a router file naming one
    model twice in two cases is refused).

    Returns:
        Each name's model, and for each model that other spellings were read as, those
        spellings in the order first seen.
    """
    canonical: dict[str, str] = {}
    first_written: dict[str, str] = {}
    spellings: dict[str, list[str]] = {}
    for name in names:
        if name not in canonical:
            if name in catalog:
                canonical[name] = catalog.model(name).id
            else:
                canonical[name] = first_written.setdefault(name.casefold(), name)
            if canonical[name] != name:
                spellings.setdefault(canonical[name], []).append(name)
    return canonical, {model: tuple(written) for model, written in spellings.items()}


def canonical_model_rows(
    rows: Iterable[Mapping[str, Any]], catalog: Catalog,
) -> tuple[list[Mapping[str, Any]], dict[str, tuple[str, ...]]]:
    """``rows`` with each model the catalog knows under its catalog id
    (:func:`canonical_model_names`), so routing finds their labels and the spellings of one
    model become one router model.

    A row that is not a mapping, or whose model is not a string or not a name a model may
    have (:func:`check_model_name`: ``" gpt-5-mini"``, which the catalog would read as
    ``gpt-5-mini``), is kept as it is, for :func:`fit_router` to refuse by name.

    Returns:
        The rows, and for each catalog id that other spellings were counted as, those spellings
        in the order first seen.
    """
    rows = list(rows)
    named = [isinstance(row, Mapping) and _is_model_name(row.get("model")) for row in rows]
    canonical, spellings = canonical_model_names(
        (row["model"] for row, has_name in zip(rows, named, strict=True) if has_name), catalog
    )
    resolved = [{**row, "model": canonical[row["model"]]} if has_name else row
                for row, has_name in zip(rows, named, strict=True)]
    return resolved, spellings


def _is_model_name(model: object) -> bool:
    """Whether ``model`` is a name a label's model may have (:func:`check_model_name`)."""
    if not isinstance(model, str):
        return False
    try:
        check_model_name(model, "model")
    except RouterFileError:
        return False
    return True


def conflicting_labels(rows: Iterable[Mapping[str, Any]]) -> int:
    """How many prompt-model pairs the rows label more than once with different scores
    (:func:`fit_router` averages each such pair's scores).

    Raises:
        RouterFileError: If a row is malformed, as :func:`fit_router` raises.
    """
    grouped = _validated_rows(rows)
    return sum(
        len(set(scores)) > 1 for by_model in grouped.values() for scores in by_model.values()
    )


def _fit_irt(
    labels: Sequence[Sequence[tuple[int, float]]], model_count: int, iterations: int,
    penalty: float, progress: Progress,
) -> tuple[list[float], list[float]]:
    """One-parameter IRT by alternating Newton steps on the penalised cross-entropy."""
    abilities = [0.0] * model_count
    difficulties = [0.0] * len(labels)
    for done in range(iterations):
        progress("fitting abilities and difficulties", done, iterations)
        for item, observed in enumerate(labels):
            gradient, curvature = 2 * penalty * difficulties[item], 2 * penalty
            for model, score in observed:
                p = sigmoid(abilities[model] - difficulties[item])
                gradient += score - p
                curvature += p * (1 - p)
            difficulties[item] -= gradient / curvature

        gradients = [2 * penalty * a for a in abilities]
        curvatures = [2 * penalty] * model_count
        for item, observed in enumerate(labels):
            for model, score in observed:
                p = sigmoid(abilities[model] - difficulties[item])
                gradients[model] += p - score
                curvatures[model] += p * (1 - p)
        abilities = [a - g / c for a, g, c in zip(abilities, gradients, curvatures, strict=False)]
    progress("fitting abilities and difficulties", iterations, iterations)
    return abilities, difficulties


def _no_progress(step: str, done: int, total: int) -> None:
    """The progress callback of a caller that gave none."""


def fit_router(
    rows: Iterable[Mapping[str, Any]],
    *,
    name: str = "custom",
    source: str = "user-supplied labels",
    dim: int = 512,
    k: int = 40,
    similarity_power: float = 2.0,
    shrinkage: float = 1.0,
    irt_iterations: int = 30,
    irt_penalty: float = 0.05,
    calibrate: bool = True,
    calibrate_confidence: bool = True,
    catalog: Catalog | None = None,
    progress: Progress | None = None,
) -> Router:
    """Fit a router from labelled rows ``{"prompt", "model", "score" in [0, 1]}``.

    Rows may also carry ``cost_usd`` (the observed cost of that call; each model's mean is kept
    in the file, and prices a model the catalog lacks when routing) and
    ``input_tokens``/``output_tokens``. Model names are read through the catalog as every
    command reads them (:func:`canonical_model_rows`): ``openai/gpt-4.1`` and ``GPT-4.1`` are
    labels of ``gpt-4.1``; names the catalog does not know are kept as written.

    Args:
        rows: Labels; several rows for the same prompt and model are averaged.
        name: Short name recorded in the file and in every decision.
        source: Where the labels come from (with date and licence), recorded in the file.
        dim: Embedding dimension (hash buckets).
        k: Neighbours used per prediction.
        similarity_power: Neighbour weight is ``max(cosine, 0) ** similarity_power``.
        shrinkage: Pseudo-weight of a model's mean score in each prediction.
        irt_iterations: Alternating Newton rounds of the IRT fit, 1 to ``MAX_IRT_ITERATIONS``
            (1,000).
        irt_penalty: L2 penalty on abilities and difficulties, above 0 and at most 1e6.
        calibrate: Fit each well-labelled model's isotonic calibration on leave-one-out
            predictions of the exemplars (see the module docstring).
        calibrate_confidence: Fit the map from raw confidence to expected agreement on the
            same kind of predictions (see the module docstring); without it, or with fewer
            than :data:`MIN_CONFIDENCE_PAIRS` labelled scores or
            :data:`MIN_CONFIDENCE_PROMPTS` labelled prompts, routing reports the raw value.
        catalog: The catalog model names are read through; default the configured one
            (:func:`shoal.catalog.configured_catalog`, ``SHOAL_PRICES`` applied).
        progress: Called as ``progress(step, done, total)`` as the long steps advance (the
            IRT rounds, the prompts each calibration predicts), for a caller to show.

    Returns:
        The fitted :class:`Router`; ``save`` writes it as a router file.

    Raises:
        RouterFileError: If a row is malformed (the message names the row and field) or a
            parameter is out of range.
        TypeError: If ``rows`` is not a list, ``calibrate`` or ``calibrate_confidence`` not a
            bool, ``catalog`` not a :class:`~shoal.catalog.Catalog`, or ``progress`` neither a
            function nor None.
    """
    if isinstance(rows, (str, bytes, Mapping)) or not isinstance(rows, Iterable):
        # A string or one row would be read item by item, each refused as "not a JSON object".
        raise TypeError(f"rows must be a list of labelled rows (dicts), not "
                        f"{type(rows).__name__}")
    dim, k, similarity_power, shrinkage = _check_parameters(
        dim=dim, k=k, similarity_power=similarity_power, shrinkage=shrinkage)
    irt_iterations, irt_penalty = _check_irt(irt_iterations, irt_penalty)
    _check_labels(name=name, source=source)
    for flag, value in (("calibrate", calibrate), ("calibrate_confidence", calibrate_confidence)):
        if not isinstance(value, bool):
            raise TypeError(f"{flag} must be True or False, not {type(value).__name__}")
    check_catalog(catalog)
    check_callback("progress", progress)
    # Routing finds a model's labels by its catalog id, as `shoal fit` writes them.
    rows, spellings = canonical_model_rows(
        rows, catalog if catalog is not None else configured_catalog()
    )
    for model, names in spellings.items():
        logger.info("labels for %s counted as %s", " and ".join(names), model)
    observed_costs: dict[str, list[float]] = {}
    grouped = _validated_rows(rows, observed_costs)
    # Exemplars in prompt order, not the rows' order: the file, its content hash (the router's
    # version) and every tie between equally similar neighbours then depend on the labels alone.
    prompts = sorted(grouped)
    models = sorted({model for by_model in grouped.values() for model in by_model})
    position = {model: i for i, model in enumerate(models)}

    scores: list[tuple[float | None, ...]] = []
    labels: list[list[tuple[int, float]]] = []
    for prompt in prompts:
        row: list[float | None] = [None] * len(models)
        for model, values in grouped[prompt].items():
            row[position[model]] = math.fsum(values) / len(values)
        # Stored scores are quantised to 1/65534; fit on exactly what the file will hold.
        row = [None if s is None else round(s * _SCORE_STEPS) / _SCORE_STEPS for s in row]
        scores.append(tuple(row))
        labels.append([(m, s) for m, s in enumerate(row) if s is not None])

    progress = progress if progress is not None else _no_progress
    abilities, difficulties = _fit_irt(labels, len(models), irt_iterations, irt_penalty,
                                       progress)
    mean_scores = []
    for m in range(len(models)):
        observed = [score for row in scores if (score := row[m]) is not None]
        mean_scores.append(math.fsum(observed) / len(observed))

    embeddings = _embeddings(prompts, dim)
    centre = _centre(embeddings.embedding_sums(), len(prompts))
    costs = tuple(
        round(math.fsum(observed_costs[m]) / len(observed_costs[m]), 12)
        if m in observed_costs else None
        for m in models
    )
    fields: dict[str, Any] = {
        "name": name,
        "source": source,
        "dim": dim,
        "k": k,
        "similarity_power": float(similarity_power),
        "shrinkage": float(shrinkage),
        "models": tuple(models),
        "abilities": tuple(round(a, 6) for a in abilities),
        "mean_scores": tuple(round(m, 6) for m in mean_scores),
        "difficulties": tuple(round(b, 6) for b in difficulties),
        "scores": tuple(scores),
        "previews": tuple(_preview(p) for p in prompts),
        "vectors_int8": embeddings.embed_int8(centre),
        "centre": centre,
        "costs_usd": costs,
    }
    if calibrate:
        fields["calibration"] = _calibration(fields, embeddings, progress)
    del embeddings  # not needed past here: the confidence map queries by the stored codes
    logger.info("fitted router %r: %d exemplars, %d models", name, len(prompts), len(models))
    router = Router(**fields)
    if not calibrate_confidence:
        return router
    return Router(**fields, confidence_calibration=confidence_knots(router, progress))


class _Embeddings(Protocol):
    """The embeddings of a fit's prompts, read three times: their mean, their int8 codes, and
    the calibration's queries."""

    def embedding_sums(self) -> list[float]: ...
    def embed_int8(self, centre: Sequence[float]) -> bytes: ...
    def embedding(self, position: int) -> list[float]: ...


@dataclass(frozen=True)
class _CoreEmbeddings:
    """The Rust core's embeddings, computed again at each reading: quick, on several threads."""

    prompts: Sequence[str]
    dim: int

    def embedding_sums(self) -> list[float]:
        sums: list[float] = core.embedding_sums(self.prompts, dim=self.dim)
        return sums

    def embed_int8(self, centre: Sequence[float]) -> bytes:
        codes: bytes = core.embed_int8(self.prompts, dim=self.dim, centre=centre)
        return codes

    def embedding(self, position: int) -> list[float]:
        vectors: list[list[float]] = core.embed([self.prompts[position]], dim=self.dim)
        return vectors[0]


def _embeddings(prompts: Sequence[str], dim: int) -> _Embeddings:
    """The prompts' embeddings as the fit reads them. Neither path keeps a float vector per
    prompt (as Python floats they took about 16 KB a prompt, and were what a fit of many labels
    ran out of memory on): the Rust path embeds again at each reading, the pure path hashes
    each prompt once and keeps its bucket sums as small ints, about a byte a dimension."""
    if BACKEND == "python":
        # Hashing is most of a pure-Python embedding's time: three readings took three times it.
        from shoal._pure.embed import HashedTexts

        return HashedTexts(prompts, dim=dim)
    return _CoreEmbeddings(prompts, dim)


def _calibration(
    fields: Mapping[str, Any], embeddings: _Embeddings, progress: Progress,
) -> tuple[tuple[tuple[float, float], ...], ...]:
    """Per model, isotonic knots from leave-one-out predictions of the exemplars (empty for
    models with fewer than :data:`MIN_CALIBRATION_LABELS` labels)."""
    scores = fields["scores"]
    models = len(fields["models"])
    counts = [sum(row[m] is not None for row in scores) for m in range(models)]
    if max(counts, default=0) < MIN_CALIBRATION_LABELS:
        return ((),) * models

    index = core.ExemplarIndex.from_int8(fields["vectors_int8"], fields["dim"])
    estimator = core.NeighbourEstimator(
        scores, fields["difficulties"], fields["abilities"], fields["mean_scores"],
        [()] * models, similarity_power=fields["similarity_power"],
        shrinkage=fields["shrinkage"],
    )
    centre, k = fields["centre"], fields["k"]
    stride = -(-len(scores) // CALIBRATION_SAMPLE)
    queries = len(range(0, len(scores), stride))
    pairs: list[list[tuple[float, float]]] = [[] for _ in range(models)]
    for done, row in enumerate(range(0, len(scores), stride)):
        progress("calibrating predicted quality", done, queries)
        # Centred as routing centres a prompt's embedding.
        query = [x - c for x, c in zip(embeddings.embedding(row), centre, strict=False)]
        # The exemplar itself is left out: it stands for a prompt the router has not seen.
        ranked = [pair for pair in index.top_k(query, k + 1) if pair[0] != row][:k]
        for model, (predicted, _) in enumerate(estimator.estimate(ranked)):
            observed = scores[row][model]
            if observed is not None:
                pairs[model].append((predicted, observed))
    progress("calibrating predicted quality", queries, queries)
    return tuple(
        isotonic_knots(found, CALIBRATION_KNOTS) if count >= MIN_CALIBRATION_LABELS else ()
        for found, count in zip(pairs, counts, strict=True)
    )


def isotonic_knots(
    pairs: Sequence[tuple[float, float]], count: int
) -> tuple[tuple[float, float], ...]:
    """An isotonic map of ``(x, y)`` pairs as at most about ``count`` knots with rising x.

    Equal x values are pooled, pool-adjacent-violators makes y non-decreasing, then
    neighbouring blocks are merged into groups of about equal weight; each knot is a group's
    mean x and y, rounded to 9 decimals (a knot whose x would not rise is dropped).
    """
    blocks: list[list[float]] = []  # [sum of x, sum of y, weight]
    for x, y in sorted(pairs):
        if blocks and blocks[-1][0] / blocks[-1][2] == x:
            blocks[-1] = [blocks[-1][0] + x, blocks[-1][1] + y, blocks[-1][2] + 1]
        else:
            blocks.append([x, y, 1.0])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][2] > blocks[-1][1] / blocks[-1][2]:
            x2, y2, n2 = blocks.pop()
            x1, y1, n1 = blocks.pop()
            blocks.append([x1 + x2, y1 + y2, n1 + n2])

    target = len(pairs) / count
    knots: list[tuple[float, float]] = []
    x_sum = y_sum = weight = 0.0
    for position, (x, y, n) in enumerate(blocks):
        x_sum, y_sum, weight = x_sum + x, y_sum + y, weight + n
        if weight >= target or position == len(blocks) - 1:
            knot = (round(x_sum / weight, 9), round(y_sum / weight, 9))
            if not knots or knot[0] > knots[-1][0]:
                knots.append(knot)
            x_sum = y_sum = weight = 0.0
    return tuple(knots)


def confidence_knots(
    router: Router, progress: Progress | None = None,
) -> tuple[tuple[float, float], ...]:
    """The isotonic map from raw confidence to the agreement ``1 − |observed − predicted|``
    over leave-one-out predictions of ``router``'s exemplars, as routing predicts them
    (calibrated quality; raw confidence = evidence × :func:`closeness`); empty with fewer than
    :data:`MIN_CONFIDENCE_PAIRS` labelled scores or :data:`MIN_CONFIDENCE_PROMPTS` exemplars.

    Each exemplar (up to :data:`CALIBRATION_SAMPLE`, evenly spaced) is the query, by its stored
    code, and is left out of its own neighbours; ``progress(step, done, total)`` is called as
    they are predicted. Its difficulty and the abilities were fitted
    with it, so the map is a little optimistic, as the quality calibration is.
    """
    if len(router) < MIN_CONFIDENCE_PROMPTS:
        return ()
    progress = progress if progress is not None else _no_progress
    dim, k = router.dim, router.k
    index = router.index()
    stride = -(-len(router) // CALIBRATION_SAMPLE)
    queries = len(range(0, len(router), stride))
    pairs: list[tuple[float, float]] = []
    for done, row in enumerate(range(0, len(router), stride)):
        progress("calibrating confidence", done, queries)
        code = array.array("b", router.vectors_int8[row * dim : (row + 1) * dim])
        ranked = [pair for pair in index.top_k([float(x) for x in code], k + 1)
                  if pair[0] != row][:k]
        neighbours = [Neighbour(position, similarity, "") for position, similarity in ranked]
        near = closeness(neighbours)
        for model, (predicted, evidence) in enumerate(router.predict(neighbours)):
            observed = router.scores[row][model]
            if observed is not None:
                pairs.append((evidence * near, 1.0 - abs(observed - predicted)))
    progress("calibrating confidence", queries, queries)
    if len(pairs) < MIN_CONFIDENCE_PAIRS:
        return ()
    knots = min(CONFIDENCE_KNOTS, len(pairs) // CONFIDENCE_PAIRS_PER_KNOT)
    lowest = min(raw for raw, _ in pairs)
    return with_floor(isotonic_knots(pairs, knots), lowest, agreement_of_means(router.scores))


def agreement_of_means(scores: Sequence[Sequence[float | None]]) -> float:
    """The mean agreement ``1 − |observed − mean|`` over every labelled score, each model's mean
    score its prediction: what a router knows of a prompt no exemplar is close to, which it
    predicts from each model's overall ability."""
    sums: dict[int, float] = {}
    counts: dict[int, int] = {}
    for row in scores:
        for model, score in enumerate(row):
            if score is not None:
                sums[model] = sums.get(model, 0.0) + score
                counts[model] = counts.get(model, 0) + 1
    means = {model: sums[model] / counts[model] for model in sums}
    gaps = [abs(score - means[model]) for row in scores
            for model, score in enumerate(row) if score is not None]
    return 1.0 - math.fsum(gaps) / len(gaps) if gaps else 0.0


def with_floor(
    knots: tuple[tuple[float, float], ...], lowest_raw: float, floor: float,
) -> tuple[tuple[float, float], ...]:
    """A confidence map carried below the raw values it was fitted on, which reach down to
    ``lowest_raw``: flat at its first knot's agreement to there, then straight down to
    ``floor`` (never above that first agreement) at raw 0, where no neighbour gives evidence.

    Held flat to 0, a map fitted on prompts that all had close exemplars promised their
    agreement (0.95) to a prompt unlike any of them.
    """
    if not knots or knots[0][0] <= 0:
        return knots
    first_raw, first_agreement = knots[0]
    below: tuple[tuple[float, float], ...] = ((0.0, round(min(floor, first_agreement), 9)),)
    lowest = round(lowest_raw, 9)
    if 0 < lowest < first_raw:
        below += ((lowest, first_agreement),)
    return below + knots


def _centre(sums: Sequence[float], count: int) -> tuple[float, ...]:
    """Mean embedding from the correctly rounded sums of ``count`` embeddings, then to 9
    decimals (as the file holds it)."""
    return tuple(round(total / count, 9) for total in sums)


def _preview(prompt: str) -> str:
    """The prompt's start on one line, redacted as recorded outcomes are: a router file and
    every decision's neighbours repeat it. The whole prompt is scanned before it is cut, so a
    secret that straddles the cut is still found."""
    flat = " ".join(redact(prompt).split())
    return flat if len(flat) <= _PREVIEW_CHARS else flat[: _PREVIEW_CHARS - 1] + "…"


def _check_labels(*, name: object, source: object) -> None:
    # The name is the first half of every decision's router version (``name@hash``).
    # A control character (a newline) would break the one-line summaries that quote the name.
    if (not isinstance(name, str) or not name.strip() or "@" in name
            or any(not character.isprintable() for character in name)):
        raise RouterFileError("name must be a non-empty string without '@' or control "
                              f"characters, got {name!r:.80}")
    if len(name) > MAX_ROUTER_NAME_CHARS:
        raise RouterFileError(
            f"name must be at most {MAX_ROUTER_NAME_CHARS} characters, got {len(name):,}"
        )
    if name != name.strip():
        # " team " would be a version " team @..." beside the "team@..." a reader expects.
        raise RouterFileError(f"name must not start or end with a space, got {excerpt(name)}; "
                              f"give {excerpt(name.strip())}")
    if not isinstance(source, str):
        raise RouterFileError(f"source must be a string, got {type(source).__name__}")
    if len(source) > MAX_ROUTER_SOURCE_CHARS:
        raise RouterFileError(f"source must be at most {MAX_ROUTER_SOURCE_CHARS:,} characters, "
                              f"got {len(source):,}")
    problem = unprintable(source)
    if problem is not None:
        raise RouterFileError(f"source {problem}")


def _check_parameters(
    *, dim: int, k: int, similarity_power: float, shrinkage: float
) -> tuple[int, int, float, float]:
    """The neighbour parameters, as ints and numbers (a numpy value as the plain one)."""
    dim_number, k_number = whole_number(dim), whole_number(k)
    power, shrink = real_number(similarity_power), real_number(shrinkage)
    if dim_number is None or not 1 <= dim_number <= 1 << 20:
        raise RouterFileError(f"dim must be an int between 1 and {1 << 20:,}, got "
                              f"{_shown(dim if dim_number is None else dim_number)}")
    if k_number is None or not 1 <= k_number <= 1000:
        raise RouterFileError("k must be an int between 1 and 1,000, got "
                              f"{_shown(k if k_number is None else k_number)}")
    if power is None or not 0 <= power <= 64:
        raise RouterFileError("similarity_power must be in [0, 64], got "
                              f"{_shown(similarity_power if power is None else power)}")
    if shrink is None or not 0 <= shrink <= 1e6:
        raise RouterFileError("shrinkage must be in [0, 1,000,000], got "
                              f"{_shown(shrinkage if shrink is None else shrink)}")
    return dim_number, k_number, power, shrink


def _shown(value: object) -> str:
    """A value an error quotes: a number as every error quotes one, anything else as Python
    writes it (cut to 80 characters)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return grouped_number(value)
    return f"{value!r:.80}"


def _check_irt(iterations: int, penalty: float) -> tuple[int, float]:
    """The IRT fit's rounds and penalty, as an int and a number (a numpy value as the plain
    one)."""
    rounds, weight = whole_number(iterations), real_number(penalty)
    # Newton's steps converge in tens of rounds (30 by default); a billion ran for hours.
    if rounds is None or not 1 <= rounds <= MAX_IRT_ITERATIONS:
        raise RouterFileError(
            f"irt_iterations must be an int between 1 and {MAX_IRT_ITERATIONS:,}, got "
            f"{_shown(iterations if rounds is None else rounds)}"
        )
    # Without a penalty an item every model got right has no finite difficulty (the step
    # divides by zero); a negative one rewards large parameters, and NaN spreads to all.
    if weight is None or not 0 < weight <= 1e6:
        raise RouterFileError("irt_penalty must be above 0 and at most 1,000,000, got "
                              f"{_shown(penalty if weight is None else weight)}")
    return rounds, weight


# ---- reading ----


def read_router(path: str | Path) -> Router:
    """Read and validate a router file (a regular file of at most ``MAX_ROUTER_FILE_BYTES``).

    Raises:
        RouterFileError: If the file is missing, not a regular file, too large, not JSON, of
            another format or version, fails its content hash, has inconsistent sizes or a
            model name no label may have (:func:`check_model_name`); the message names the file
            and field.
    """
    file = Path(path)
    try:
        document = read_json_file(file, max_file_bytes=MAX_ROUTER_FILE_BYTES)
    except ValueError as error:
        raise RouterFileError(f"cannot read router file: {error}") from None
    try:
        return _router_from_document(document)
    except RouterFileError as error:
        raise RouterFileError(f"router file {file}: {error}") from None


def _field(document: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = document.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise RouterFileError(f"field {name!r} is missing or not {_kind_name(kind)}")
    return value


def _numbers(
    document: Mapping[str, Any], name: str, where: str, *, nullable: bool = False,
    low: float = -math.inf, high: float = math.inf,
) -> tuple[Any, ...]:
    """The list field ``name`` as finite floats from ``low`` to ``high`` (None kept when
    ``nullable``), naming the first entry that is not one."""
    numbers: list[float | None] = []
    for index, value in enumerate(_field(document, name, list)):
        if value is None and nullable:
            numbers.append(None)
            continue
        number = math.nan
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
        if not (math.isfinite(number) and low <= number <= high):
            kind = "a finite number or null" if nullable else "a finite number"
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            shown = grouped_number(value) if numeric else f"{value!r:.80}"
            raise RouterFileError(
                f"{where}{name}[{index}] must be {kind}{_bounds(low, high)}, got {shown}"
            )
        numbers.append(number)
    return tuple(numbers)


def _bounds(low: float, high: float) -> str:
    """`` in [0, 1]``, `` (0 or more)``, or nothing for numbers without bounds."""
    if math.isinf(high):
        return "" if math.isinf(low) else f" ({grouped_number(low)} or more)"
    return f" in [{grouped_number(low)}, {grouped_number(high)}]"


def _model_ids(document: Mapping[str, Any]) -> tuple[str, ...]:
    """The ``models`` field: non-empty ids that a label's model may be
    (:func:`check_model_name`), each once (a repeated id would split one model's labels over two
    columns, and routing would read only the first)."""
    models = _strings(document, "models", "")
    seen: dict[str, str] = {}
    for index, model in enumerate(models):
        if not model.strip():
            raise RouterFileError(f"models[{index}] must be a non-empty model id")
        try:
            check_model_name(model, f"models[{index}]")
        except RouterFileError as error:
            # Written by a shoal that took any name, or edited: the labels must be renamed.
            raise RouterFileError(f"{error}; rename the model in the labelled rows and fit "
                                  "the router again") from None
        # Catalog ids are matched in any case, so GPT-4.1 beside gpt-4.1 is one model twice.
        earlier = seen.get(model.casefold())
        if earlier is not None:
            spelt = f" (as {model!r})" if model != earlier else ""
            raise RouterFileError(f"models[{index}] repeats {earlier!r}{spelt}: list each model "
                                  "once")
        seen[model.casefold()] = model
    return models


def _strings(document: Mapping[str, Any], name: str, where: str) -> tuple[str, ...]:
    values = _field(document, name, list)
    for index, value in enumerate(values):
        if not isinstance(value, str):
            raise RouterFileError(f"{where}{name}[{index}] must be a string, got "
                                  f"{excerpt(value)}")
    return tuple(values)


def _base64(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as error:
        raise RouterFileError(f"{where} is not valid base64 ({error})") from None


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def _router_from_document(document: Any) -> Router:
    if not isinstance(document, dict) or document.get("format") != ROUTER_FORMAT:
        raise RouterFileError(f"not a router file (field 'format' must be {ROUTER_FORMAT!r})")
    version = document.get("format_version")
    if version is not None and (isinstance(version, bool)
                                or not isinstance(version, (int, float))):
        # "3" would otherwise read as a version this shoal does not support.
        raise RouterFileError(
            f"format_version must be a number (this shoal reads {ROUTER_FORMAT_VERSION}), got "
            f"{excerpt(version)}, a {json_type(version)}"
        )
    if version != ROUTER_FORMAT_VERSION:
        raise RouterFileError(
            f"format_version {version!r} is not supported (this shoal reads "
            f"{ROUTER_FORMAT_VERSION}); rebuild it from its labelled rows with `shoal fit "
            "LABELS --out ROUTER` (in Python, shoal.router.fit_router)"
        )
    stated_hash = _field(document, "content_hash", str)
    body = {key: value for key, value in document.items() if key != "content_hash"}
    try:
        computed_hash = _content_hash(body)
    except UnicodeEncodeError:
        raise RouterFileError(
            "the file holds an escaped lone surrogate (such as \\ud800), which no encoding can "
            "take: it was edited or damaged"
        ) from None
    if computed_hash != stated_hash:
        raise RouterFileError("content hash does not match: the file was edited or truncated")

    embedding = _field(document, "embedding", dict)
    if embedding.get("method") != EMBEDDING_METHOD:
        raise RouterFileError(f"embedding.method must be {EMBEDDING_METHOD!r}")
    prediction = _field(document, "prediction", dict)
    exemplars = _field(document, "exemplars", dict)
    models = _model_ids(document)
    count = _field(exemplars, "count", int)
    dim = _field(embedding, "dim", int)

    # The centre is the mean of unit vectors (or zero vectors): each value lies in [-1, 1].
    centre = _numbers(embedding, "centre", "embedding.", low=-1.0, high=1.0)
    if len(centre) != dim:
        raise RouterFileError(f"embedding.centre holds {len(centre)} values, not dim={dim}")
    # A model's mean observed cost prices it when the catalog does not: bounded as each is.
    costs = _numbers(document, "costs_usd", "", nullable=True, low=0.0, high=MAX_LIMIT_USD)
    calibration = _read_calibration(prediction, len(models))
    confidence_calibration = _read_confidence_calibration(prediction)
    if len(costs) != len(models):
        raise RouterFileError("costs_usd needs one entry (a number or null) per model")
    vectors = _base64(_field(exemplars, "vectors_int8", str), "exemplars.vectors_int8")
    if len(vectors) != count * dim:
        raise RouterFileError(
            f"exemplars.vectors_int8 holds {len(vectors)} bytes, not {count}x{dim}"
        )
    low, high = -MAX_FITTED_MAGNITUDE, MAX_FITTED_MAGNITUDE
    difficulties = _numbers(exemplars, "difficulties", "exemplars.", low=low, high=high)
    stored_previews = _strings(exemplars, "previews", "exemplars.")
    previews = _redacted_previews(stored_previews)
    abilities = _numbers(document, "abilities", "", low=low, high=high)
    mean_scores = _numbers(document, "mean_scores", "", low=0.0, high=1.0)
    if len(difficulties) != count or len(previews) != count:
        raise RouterFileError("exemplars.difficulties and exemplars.previews need count entries")
    if len(abilities) != len(models) or len(mean_scores) != len(models):
        raise RouterFileError("abilities and mean_scores need one entry per model")

    scores = _decode_scores(_field(exemplars, "scores_uint16", str), count, len(models))
    _check_scored(models, scores, previews)

    name, source = _field(document, "name", str), _field(document, "source", str)
    _check_labels(name=name, source=source)
    router = Router(
        name=name,
        source=source,
        dim=dim,
        k=_field(prediction, "k", int),
        similarity_power=float(_field(prediction, "similarity_power", (int, float))),
        shrinkage=float(_field(prediction, "shrinkage", (int, float))),
        models=models,
        abilities=abilities,
        mean_scores=mean_scores,
        difficulties=difficulties,
        scores=scores,
        previews=previews,
        vectors_int8=vectors,
        centre=centre,
        costs_usd=costs,
        calibration=calibration,
        confidence_calibration=confidence_calibration,
        # Previews redacted as read make the router differ from the file: its hash, and so its
        # version, then names what it serves (and a save writes a file that reads back).
        content_hash=stated_hash if previews == stored_previews else "",
    )
    _check_parameters(
        dim=router.dim, k=router.k, similarity_power=router.similarity_power,
        shrinkage=router.shrinkage,
    )
    return router


def _check_scored(
    models: Sequence[str], scores: Sequence[Sequence[float | None]], previews: Sequence[str],
) -> None:
    """Refuse a model without a single score, and an exemplar without one: a fit writes
    neither, and routing would present the shrinkage target alone as learnt from labels."""
    if not models:
        raise RouterFileError("models is empty: a router needs at least one labelled model")
    if not scores:
        raise RouterFileError("exemplars.count is 0: a router needs labelled exemplars")
    for position, model in enumerate(models):
        if all(row[position] is None for row in scores):
            raise RouterFileError(f"models[{position}] ({model!r:.80}) has no score on any "
                                  "exemplar in exemplars.scores_uint16")
    for row, values in enumerate(scores):
        if all(value is None for value in values):
            raise RouterFileError(f"exemplar {row} ({previews[row]!r:.60}) has no score for any "
                                  "model in exemplars.scores_uint16")


def _redacted_previews(previews: tuple[str, ...]) -> tuple[str, ...]:
    """The previews made again as a fit makes them (redacted, one line, cut to length).

    A fit already redacts them; doing it again as the file is read keeps a secret out of every
    decision's neighbours when the file was edited by hand or written before previews were
    redacted. Reading is cached, and this costs less than reading the file.
    """
    redacted = tuple(_preview(preview) for preview in previews)
    changed = sum(a != b for a, b in zip(previews, redacted, strict=True))
    if changed:
        logger.warning("%d exemplar previews in the router file are not as a fit writes them "
                       "(a secret or personal data, several lines, or too long); they are "
                       "redacted and cut as read", changed)
    return redacted


def _read_calibration(
    prediction: Mapping[str, Any], models: int,
) -> tuple[tuple[tuple[float, float], ...], ...]:
    knots = _field(prediction, "calibration", list)
    if len(knots) != models:
        raise RouterFileError("prediction.calibration needs one list of knots per model")
    return tuple(_knots(pairs, f"prediction.calibration[{model}]", "scores")
                 for model, pairs in enumerate(knots))


def _read_confidence_calibration(
    prediction: Mapping[str, Any],
) -> tuple[tuple[float, float], ...]:
    """The optional map from raw confidence to expected agreement (a fit leaves it out when it
    had too few predictions to fit one)."""
    if "confidence_calibration" not in prediction:
        return ()
    knots = _knots(prediction["confidence_calibration"], "prediction.confidence_calibration",
                   "values")
    if not knots:
        raise RouterFileError("prediction.confidence_calibration is empty: a fit without a "
                              "confidence map leaves the field out")
    return knots


def _knots(pairs: object, where: str, kind: str) -> tuple[tuple[float, float], ...]:
    """Isotonic knots: ``[x, y]`` pairs in [0, 1] with x strictly rising, y never falling."""
    if not isinstance(pairs, list) or not all(
        isinstance(pair, list) and len(pair) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair)
        for pair in pairs
    ):
        raise RouterFileError(f"{where} must be a list of [x, y] number pairs")
    try:
        knot_pairs = tuple((float(x), float(y)) for x, y in pairs)
    except OverflowError:
        knot_pairs = ((math.inf, math.inf),)
    if not all(math.isfinite(x) and math.isfinite(y) for x, y in knot_pairs):
        raise RouterFileError(f"{where} must hold finite numbers")
    # Both ends are scores (or confidences and agreements): outside [0, 1] a knot would
    # predict what no label can be.
    if not all(0.0 <= x <= 1.0 and 0.0 <= y <= 1.0 for x, y in knot_pairs):
        raise RouterFileError(f"{where} must hold {kind} from 0 to 1")
    if any(a[0] >= b[0] for a, b in itertools.pairwise(knot_pairs)):
        raise RouterFileError(f"{where} needs strictly rising x")
    # An isotonic fit never falls: a falling y would rank a better prediction lower.
    if any(a[1] > b[1] for a, b in itertools.pairwise(knot_pairs)):
        raise RouterFileError(f"{where} needs y that never falls (the map is isotonic)")
    return knot_pairs
