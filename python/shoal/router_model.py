"""The learned part of routing: labelled exemplars, a one-parameter IRT fit and the router file.

A router holds, for every exemplar prompt, its hashed embedding minus the exemplars' mean
embedding (centred, then stored as int8 codes, see ``shoal._pure.embed``), the scores in [0, 1]
of the models that were labelled on it and its fitted difficulty. Centring removes the direction
every prompt shares (frequent words), so cosine similarity compares what prompts do not share.
Models get an ability on the same scale: score ≈ sigmoid(ability − difficulty) (one-parameter
item response theory, fitted by alternating Newton steps with a small L2 penalty so that
all-correct and all-wrong prompts stay finite).

Prediction for a new prompt uses its ``k`` nearest exemplars by cosine similarity of the centred
embeddings, each weighted by ``max(cosine, 0) ** similarity_power``:

* a labelled model's quality is the similarity-weighted mean of its scores on them, shrunk
  towards its mean score by ``shrinkage`` pseudo-weight;
* a model without labels is placed on the ability scale from its catalog quality prior (see
  ``shoal.router``), and its quality is the same weighted mean of sigmoid(ability − difficulty).

The router file is JSON with a format version and a SHA-256 content hash over its canonical
form, so an edited or truncated file is refused rather than silently misused.
"""

from __future__ import annotations

import array
import base64
import hashlib
import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shoal._backend import core

logger = logging.getLogger(__name__)

ROUTER_FORMAT = "shoal-router"
ROUTER_FORMAT_VERSION = 2
EMBEDDING_METHOD = "shoal-hash-v1"

_MISSING_SCORE = 0xFFFF
_SCORE_STEPS = 0xFFFE
_PREVIEW_CHARS = 80
_QUANTILES = 101


class RouterFileError(ValueError):
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
        preview: The exemplar prompt's first characters.
    """

    index: int
    similarity: float
    preview: str


@dataclass(frozen=True, eq=False)
class Router:
    """Labelled exemplars with fitted abilities and difficulties; see the module docstring.

    Build one with :func:`fit_router` or read a file with :func:`read_router`. Routers compare
    and hash by identity (the content hash names the data).
    """

    name: str
    source: str
    dim: int
    k: int
    similarity_power: float
    shrinkage: float
    models: tuple[str, ...]
    abilities: tuple[float, ...]
    mean_scores: tuple[float, ...]
    difficulties: tuple[float, ...]
    scores: tuple[tuple[float | None, ...], ...]
    previews: tuple[str, ...]
    vectors_int8: bytes
    centre: tuple[float, ...] = ()
    costs_usd: tuple[float | None, ...] = ()
    content_hash: str = ""
    _index: Any = field(default=None, init=False, repr=False, compare=False)
    _difficulty_quantiles: tuple[float, ...] = field(default=(), init=False, repr=False)
    _mean_score_cache: dict[float, float] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _last_weights: tuple[Sequence[Neighbour], list[float]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not self.centre:
            object.__setattr__(self, "centre", (0.0,) * self.dim)
        if not self.costs_usd:
            object.__setattr__(self, "costs_usd", (None,) * len(self.models))
        if not self.content_hash:
            object.__setattr__(self, "content_hash", _content_hash(self._document()))
        quantiles = _quantiles(self.difficulties, _QUANTILES)
        object.__setattr__(self, "_difficulty_quantiles", quantiles)

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

    def model_position(self, model_id: str) -> int | None:
        """Position of a labelled model, or None when the router has no labels for it."""
        try:
            return self.models.index(model_id)
        except ValueError:
            return None

    def predict_labelled(
        self, position: int, neighbours: Sequence[Neighbour]
    ) -> tuple[float, float]:
        """Quality and evidence weight (0-1) of labelled model ``position`` for a prompt."""
        weighted = []
        for neighbour, weight in zip(neighbours, self._weights(neighbours), strict=False):
            score = self.scores[neighbour.index][position]
            if score is not None:
                weighted.append((weight, score))
        return self._shrunk_mean(weighted, self.mean_scores[position])

    def predict_from_ability(
        self, ability: float, neighbours: Sequence[Neighbour]
    ) -> tuple[float, float]:
        """Quality and evidence weight of a model known only by its ability."""
        weighted = [
            (weight, sigmoid(ability - self.difficulties[n.index]))
            for n, weight in zip(neighbours, self._weights(neighbours), strict=False)
        ]
        return self._shrunk_mean(weighted, self.expected_mean_score(ability))

    def _weights(self, neighbours: Sequence[Neighbour]) -> list[float]:
        # One decision asks for every candidate with the same neighbours: keep the last list.
        last = self._last_weights
        if last is not None and last[0] is neighbours:
            return last[1]
        weights = [self._weight(n.similarity) for n in neighbours]
        object.__setattr__(self, "_last_weights", (neighbours, weights))
        return weights

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

    def _weight(self, similarity: float) -> float:
        return max(similarity, 0.0) ** self.similarity_power

    def _shrunk_mean(
        self, weighted: Sequence[tuple[float, float]], prior: float
    ) -> tuple[float, float]:
        total = math.fsum(w for w, _ in weighted)
        value = math.fsum(w * s for w, s in weighted)
        quality = (value + self.shrinkage * prior) / (total + self.shrinkage)
        evidence = total / (total + self.shrinkage)
        return quality, evidence

    def _document(self) -> dict[str, Any]:
        return {
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

    def to_json(self) -> str:
        """The router file's text: canonical JSON with the content hash."""
        document = self._document()
        document["content_hash"] = self.content_hash
        return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    def save(self, path: str | Path) -> Path:
        """Write the router file to ``path`` and return it."""
        target = Path(path)
        target.write_text(self.to_json() + "\n", encoding="utf-8")
        return target


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
    codes = array.array("H", base64.b64decode(text, validate=True))
    if not _LITTLE_ENDIAN:
        codes.byteswap()
    if len(codes) != rows * columns:
        raise RouterFileError(
            f"exemplars.scores_uint16 holds {len(codes)} scores, expected {rows} x {columns}"
        )
    decoded = [None if c == _MISSING_SCORE else c / _SCORE_STEPS for c in codes]
    return tuple(tuple(decoded[r * columns : (r + 1) * columns]) for r in range(rows))


# ---- fitting ----


def _optional_number(row: Mapping[str, Any], name: str, position: int) -> float | None:
    value = row.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise RouterFileError(f"rows[{position}].{name} must be a number >= 0, got {value!r}")
    return float(value)


def _validated_rows(
    rows: Iterable[Mapping[str, Any]], costs: dict[str, list[float]] | None = None,
) -> dict[str, dict[str, list[float]]]:
    """Group rows by prompt (first-seen order) and model; duplicate labels are averaged later.

    Observed ``cost_usd`` values are collected per model into ``costs`` when it is given.
    """
    grouped: dict[str, dict[str, list[float]]] = {}
    for position, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise RouterFileError(f"rows[{position}] must be a mapping, got {type(row).__name__}")
        prompt, model, score = row.get("prompt"), row.get("model"), row.get("score")
        if not isinstance(prompt, str) or not prompt.strip():
            raise RouterFileError(f"rows[{position}].prompt must be a non-empty str")
        if not isinstance(model, str) or not model.strip():
            raise RouterFileError(f"rows[{position}].model must be a non-empty str")
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            raise RouterFileError(f"rows[{position}].score must be a number in [0, 1]")
        if not 0.0 <= score <= 1.0:
            raise RouterFileError(f"rows[{position}].score must be in [0, 1], got {score}")
        cost = _optional_number(row, "cost_usd", position)
        for name in ("input_tokens", "output_tokens"):
            _optional_number(row, name, position)
        if cost is not None and costs is not None:
            costs.setdefault(model, []).append(cost)
        grouped.setdefault(prompt, {}).setdefault(model, []).append(float(score))
    if not grouped:
        raise RouterFileError("rows is empty: a router needs labelled prompts")
    return grouped


def _fit_irt(
    labels: Sequence[Sequence[tuple[int, float]]], model_count: int, iterations: int,
    penalty: float,
) -> tuple[list[float], list[float]]:
    """One-parameter IRT by alternating Newton steps on the penalised cross-entropy."""
    abilities = [0.0] * model_count
    difficulties = [0.0] * len(labels)
    for _ in range(iterations):
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
    return abilities, difficulties


def _quantise(vector: Sequence[float]) -> bytes:
    largest = max((abs(x) for x in vector), default=0.0)
    if largest == 0.0:
        return bytes(len(vector))
    codes = array.array("b", (round(x / largest * 127) for x in vector))
    return codes.tobytes()


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
) -> Router:
    """Fit a router from labelled rows ``{"prompt", "model", "score" in [0, 1]}``.

    Rows may also carry ``cost_usd`` (the observed cost of that call; each model's mean is kept
    in the file) and ``input_tokens``/``output_tokens``.

    Args:
        rows: Labels; several rows for the same prompt and model are averaged.
        name: Short name recorded in the file and in every decision.
        source: Where the labels come from (with date and licence), recorded in the file.
        dim: Embedding dimension (hash buckets).
        k: Neighbours used per prediction.
        similarity_power: Neighbour weight is ``max(cosine, 0) ** similarity_power``.
        shrinkage: Pseudo-weight of a model's mean score in each prediction.
        irt_iterations: Alternating Newton rounds of the IRT fit.
        irt_penalty: L2 penalty on abilities and difficulties.

    Returns:
        The fitted :class:`Router`; ``save`` writes it as a router file.

    Raises:
        RouterFileError: If a row is malformed (the message names the row and field) or a
            parameter is out of range.
    """
    _check_parameters(dim=dim, k=k, similarity_power=similarity_power, shrinkage=shrinkage)
    observed_costs: dict[str, list[float]] = {}
    grouped = _validated_rows(rows, observed_costs)
    prompts = list(grouped)
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

    abilities, difficulties = _fit_irt(labels, len(models), irt_iterations, irt_penalty)
    mean_scores = []
    for m in range(len(models)):
        observed = [score for row in scores if (score := row[m]) is not None]
        mean_scores.append(math.fsum(observed) / len(observed))

    vectors = core.embed(prompts, dim=dim)
    centre = _centre(vectors, dim)
    costs = tuple(
        round(math.fsum(observed_costs[m]) / len(observed_costs[m]), 12)
        if m in observed_costs else None
        for m in models
    )
    logger.info("fitted router %r: %d exemplars, %d models", name, len(prompts), len(models))
    return Router(
        name=name,
        source=source,
        dim=dim,
        k=k,
        similarity_power=float(similarity_power),
        shrinkage=float(shrinkage),
        models=tuple(models),
        abilities=tuple(round(a, 6) for a in abilities),
        mean_scores=tuple(round(m, 6) for m in mean_scores),
        difficulties=tuple(round(b, 6) for b in difficulties),
        scores=tuple(scores),
        previews=tuple(_preview(p) for p in prompts),
        vectors_int8=b"".join(
            _quantise([x - c for x, c in zip(v, centre, strict=False)]) for v in vectors
        ),
        centre=centre,
        costs_usd=costs,
    )


def _centre(vectors: Sequence[Sequence[float]], dim: int) -> tuple[float, ...]:
    """Mean embedding, each value correctly rounded, then to 9 decimals (as the file holds it)."""
    if not vectors:
        return (0.0,) * dim
    columns = zip(*vectors, strict=True)
    return tuple(round(math.fsum(column) / len(vectors), 9) for column in columns)


def _preview(prompt: str) -> str:
    flat = " ".join(prompt.split())
    return flat if len(flat) <= _PREVIEW_CHARS else flat[: _PREVIEW_CHARS - 1] + "…"


def _check_parameters(*, dim: int, k: int, similarity_power: float, shrinkage: float) -> None:
    if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= 1 << 20:
        raise RouterFileError(f"dim must be an int between 1 and {1 << 20}, got {dim!r}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 1000:
        raise RouterFileError(f"k must be an int between 1 and 1000, got {k!r}")
    if not (isinstance(similarity_power, (int, float)) and 0 <= similarity_power <= 64):
        raise RouterFileError(f"similarity_power must be in [0, 64], got {similarity_power!r}")
    if not (isinstance(shrinkage, (int, float)) and 0 <= shrinkage <= 1e6):
        raise RouterFileError(f"shrinkage must be in [0, 1e6], got {shrinkage!r}")


# ---- reading ----


def read_router(path: str | Path) -> Router:
    """Read and validate a router file.

    Raises:
        RouterFileError: If the file is missing, not JSON, of another format or version, fails
            its content hash, or has inconsistent sizes; the message names the file and field.
    """
    file = Path(path)
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RouterFileError(f"router file {file} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RouterFileError(f"router file {file} is not readable JSON: {error}") from None
    try:
        return _router_from_document(document)
    except RouterFileError as error:
        raise RouterFileError(f"router file {file}: {error}") from None


def _field(document: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = document.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise RouterFileError(f"field {name!r} is missing or not {_kind_name(kind)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def _router_from_document(document: Any) -> Router:
    if not isinstance(document, dict) or document.get("format") != ROUTER_FORMAT:
        raise RouterFileError(f"not a router file (field 'format' must be {ROUTER_FORMAT!r})")
    version = document.get("format_version")
    if version != ROUTER_FORMAT_VERSION:
        raise RouterFileError(
            f"format_version {version!r} is not supported (this shoal reads "
            f"{ROUTER_FORMAT_VERSION}); rebuild the file with shoal.router.fit_router"
        )
    stated_hash = _field(document, "content_hash", str)
    body = {key: value for key, value in document.items() if key != "content_hash"}
    if _content_hash(body) != stated_hash:
        raise RouterFileError("content hash does not match: the file was edited or truncated")

    embedding = _field(document, "embedding", dict)
    if embedding.get("method") != EMBEDDING_METHOD:
        raise RouterFileError(f"embedding.method must be {EMBEDDING_METHOD!r}")
    prediction = _field(document, "prediction", dict)
    exemplars = _field(document, "exemplars", dict)
    models = tuple(_field(document, "models", list))
    count = _field(exemplars, "count", int)
    dim = _field(embedding, "dim", int)

    centre = tuple(float(c) for c in _field(embedding, "centre", list))
    if len(centre) != dim:
        raise RouterFileError(f"embedding.centre holds {len(centre)} values, not dim={dim}")
    costs = tuple(None if c is None else float(c) for c in _field(document, "costs_usd", list))
    if len(costs) != len(models):
        raise RouterFileError("costs_usd needs one entry (a number or null) per model")
    vectors = base64.b64decode(_field(exemplars, "vectors_int8", str), validate=True)
    if len(vectors) != count * dim:
        raise RouterFileError(
            f"exemplars.vectors_int8 holds {len(vectors)} bytes, not {count}x{dim}"
        )
    difficulties = tuple(float(b) for b in _field(exemplars, "difficulties", list))
    previews = tuple(str(p) for p in _field(exemplars, "previews", list))
    abilities = tuple(float(a) for a in _field(document, "abilities", list))
    mean_scores = tuple(float(m) for m in _field(document, "mean_scores", list))
    if len(difficulties) != count or len(previews) != count:
        raise RouterFileError("exemplars.difficulties and exemplars.previews need count entries")
    if len(abilities) != len(models) or len(mean_scores) != len(models):
        raise RouterFileError("abilities and mean_scores need one entry per model")

    router = Router(
        name=_field(document, "name", str),
        source=_field(document, "source", str),
        dim=dim,
        k=_field(prediction, "k", int),
        similarity_power=float(_field(prediction, "similarity_power", (int, float))),
        shrinkage=float(_field(prediction, "shrinkage", (int, float))),
        models=models,
        abilities=abilities,
        mean_scores=mean_scores,
        difficulties=difficulties,
        scores=_decode_scores(_field(exemplars, "scores_uint16", str), count, len(models)),
        previews=previews,
        vectors_int8=vectors,
        centre=centre,
        costs_usd=costs,
        content_hash=stated_hash,
    )
    _check_parameters(
        dim=router.dim, k=router.k, similarity_power=router.similarity_power,
        shrinkage=router.shrinkage,
    )
    return router
