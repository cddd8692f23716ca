"""Pick the model for a prompt: predicted quality against expected cost, under constraints.

Quality per candidate comes from the router file (``shoal.router_model``): the prompt's nearest
labelled exemplars for models that were labelled, and the catalog quality prior mapped onto the
same ability scale for models that were not. A router's model names are read through the catalog
as every argument is (``GPT-4.1`` in a file is the catalog's ``gpt-4.1``); when none of its
labelled models is a candidate, a note says that every estimate rests on a prior.

Candidates are catalog models, priced from the catalog with the prompt's own token count (the
mean ``cost_usd`` a router file keeps is a mean over other prompts), and the labelled models the
catalog lacks whose label rows carried ``cost_usd``: that mean is the only price they have.

Confidence is the expected agreement ``1 − |observed − predicted|``: raw confidence (neighbour
evidence times their mean similarity) mapped through the isotonic map the router file holds, or
for the shipped router the one in ``data/confidence_calibration.json``. A router fitted without
one reports the raw value, and its decisions say so.

Prior mapping. A labelled model's mean score on the router's exemplars and its catalog prior are
two measures of one ability. Over the labelled models that have a prior, a least-squares line
maps prior to mean score (two or more such models, and a positive slope); otherwise the line is
a shift through their means, and with none the prior is taken as the mean score itself. The
ability is then the one whose expected mean score over the exemplars' difficulty distribution
equals the mapped value, and the per-prompt quality follows from the nearest exemplars'
difficulties. These estimates carry half (line) or a quarter (shift or identity) of the
confidence of labelled ones.

Trade-off. ``willingness_to_pay`` is the USD one request may cost for a whole quality point
(expected score 0 → 1); the choice maximises ``quality − cost / willingness_to_pay`` (RouterBench's
λ). The default, 0.01, pays one cent for a full point, i.e. 0.1 cent per 0.1 of quality.
With ``min_quality`` the choice is instead the cheapest candidate predicted to reach it.
"""

from __future__ import annotations

import bisect
import functools
import json
import logging
import math
import os
import weakref
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

from shoal import shipped_data
from shoal.catalog import (
    Catalog,
    ModelEntry,
    configured_catalog,
    retired_among,
    retirement_note,
)
from shoal.cost import (
    CONTEXT_WINDOW,
    INPUT_LIMIT,
    call_cost_float,
    check_each_model_once,
    format_usd,
    limits_passed,
    long_context_applies,
    usd_apart,
)
from shoal.errors import ShoalError
from shoal.excerpts import excerpt, grouped_number, shown_path
from shoal.file_names import check_file_name, data_file_argument, file_version
from shoal.hardware import get_device, hardware_fit
from shoal.numbers_in import real_number, whole_number
from shoal.router_model import (
    MIN_CONFIDENCE_PAIRS,
    MIN_CONFIDENCE_PROMPTS,
    Neighbour,
    Router,
    RouterFileError,
    closeness,
    fit_router,
    read_router,
)
from shoal.router_policy import (
    DEFAULT_PRIVACY,
    LOCAL_QUANTISATION,
    PrivacyPolicyError,
    PrivacyReport,
    StickinessReport,
    check_history,
    check_margin,
    check_privacy_policy,
    conversation_overhead,
    counted_texts,
    decision_id,
    embedding_text,
    privacy_report,
    stickiness,
)
from shoal.tokens import ESTIMATE_BASE_ENCODING, check_unicode, tokenizer_for

logger = logging.getLogger(__name__)

__all__ = [
    "CandidateEstimate",
    "ConstraintCheck",
    "NoEligibleModelError",
    "PrivacyBlockedError",
    "Router",
    "RouterFileError",
    "RoutingDecision",
    "RoutingError",
    "failed_constraints",
    "fit_router",
    "load_router",
    "route",
]

DEFAULT_WILLINGNESS_TO_PAY = 0.01
# Bounds far above any real call (a thousand dollars for one answer, or for one quality point),
# so a larger figure is a slip; they also keep every figure a decision echoes finite JSON.
MAX_WILLINGNESS_TO_PAY = 1000.0
MAX_CALL_COST_USD = 1000.0
# Above 0, but not so near it that cost / willingness_to_pay overflows an objective to -inf.
MIN_WILLINGNESS_TO_PAY = 1e-12
# As far as the longest output any catalog model returns: the bound of every route front end.
MAX_OUTPUT_TOKENS = 1_000_000
# The most runners-up a front end shows after the chosen model when asked (route_task's
# max_alternatives, `shoal route --max-alternatives`): more than the catalog routes among.
MAX_ALTERNATIVES = 100
DEFAULT_ROUTER_FILE = "router_default.json"
# What names the router file of `shoal route` and `shoal serve` when --router does not; empty
# means not set.
ROUTER_ENVIRONMENT_VARIABLE = "SHOAL_ROUTER"

_LABELLED = "exemplars"
_PRIOR = "catalog prior"


class RoutingError(ShoalError, ValueError):
    """A routing argument is invalid; the message names the parameter."""


class NoEligibleModelError(RoutingError):
    """Every candidate failed a hard constraint; the message lists why."""


class PrivacyBlockedError(RoutingError, PrivacyPolicyError):
    """``privacy="block"`` refused a prompt holding secrets or personal data (kinds and
    offsets in the message, never the values)."""


@dataclass(frozen=True)
class ConstraintCheck:
    """One constraint applied to one candidate.

    Attributes:
        name: ``allowed``, ``local_only``, ``privacy``, ``hardware_fit``, ``context_window``,
            ``output_limit`` (a hosted model's ``max_output_tokens`` in the catalog),
            ``max_cost_usd``, ``quality_estimate`` or ``min_quality``.
        passed: Whether the candidate meets it.
        detail: The numbers behind the verdict.
    """

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class CandidateEstimate:
    """A candidate model's predicted quality and expected cost for the prompt.

    Attributes:
        model: Catalog id, or the router's name for a labelled model the catalog lacks.
        predicted_quality: Expected score in [0, 1] on the router's label scale, or None.
        confidence: 0-1, the expected agreement ``1 − |observed − predicted|``: the raw
            confidence (evidence from the neighbours times their mean similarity, reduced for
            prior-based estimates) through the router's isotonic map, fitted on held-out
            predictions of its own labels (for the shipped router, on five refitted folds,
            ``data/confidence_calibration.json``). A router fitted without a map (fewer than
            50 labelled scores, or without calibration) gives the raw value, and a note says
            so.
        estimate_source: ``exemplars`` (labelled) or ``catalog prior``; ``none`` if neither.
        input_tokens: Prompt tokens for this model.
        output_tokens: Expected output tokens.
        expected_cost_usd: The call at catalog prices for this prompt's tokens; for a labelled
            model the catalog lacks, the mean ``cost_usd`` of its label rows; 0 when it runs
            locally.
        runs_locally: True under ``local_only`` (open weights on the user's hardware).
        objective: ``quality − cost / willingness_to_pay``, or None without an estimate.
        eligible: True when every hard constraint holds.
        constraints: Every check applied.
    """

    model: str
    predicted_quality: float | None
    confidence: float
    estimate_source: str
    input_tokens: int
    output_tokens: int
    expected_cost_usd: float
    runs_locally: bool
    objective: float | None
    eligible: bool
    constraints: tuple[ConstraintCheck, ...]


@dataclass(frozen=True)
class RoutingDecision:
    """The chosen model and everything it was chosen over.

    Attributes:
        model: The chosen catalog id.
        mode: ``trade_off`` (max quality − cost / willingness_to_pay) or ``min_quality``
            (cheapest meeting it).
        willingness_to_pay: USD per whole quality point used for the trade-off.
        min_quality: The floor asked for, or None.
        min_quality_met: Whether the chosen model is predicted to meet it (None without one).
        alternatives: Every candidate, chosen first, then eligible ones by preference, then
            ineligible ones.
        neighbours: The nearest labelled exemplars the estimates rest on.
        router_version: ``name@hash`` of the router file.
        catalog_date: Date of the catalog prices.
        reason: One paragraph explaining the choice.
        notes: Assumptions and warnings.
        decision_id: Hash of every input that shapes the decision and the router and catalog
            versions (see :mod:`shoal.router_policy`); pass it to
            :func:`shoal.feedback.record_outcome`.
        privacy: What the privacy scan found (kinds and offsets) and what it did.
        stickiness: With ``previous_model``: whether the conversation stayed on it, and why.
        conversation_turns: Earlier turns counted (0 for a single prompt).
        device: The device local candidates had to fit, or None.
    """

    model: str
    mode: str
    willingness_to_pay: float
    min_quality: float | None
    min_quality_met: bool | None
    alternatives: tuple[CandidateEstimate, ...]
    neighbours: tuple[Neighbour, ...]
    router_version: str
    catalog_date: str
    reason: str
    notes: tuple[str, ...]
    decision_id: str = ""
    privacy: PrivacyReport | None = None
    stickiness: StickinessReport | None = None
    conversation_turns: int = 0
    device: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with floats rounded to 6 significant digits (stable bytes)."""
        plain: dict[str, Any] = _rounded(self)
        return plain

    def shortened(self, *, alternatives: int, neighbours: int) -> RoutingDecision:
        """The same decision keeping the chosen model, the next ``alternatives`` candidates and
        the ``neighbours`` nearest exemplars; a note says how many of each were left out.

        An agent reads every token of a tool result, and the full list runs to every routable
        catalog model. Keeping no runner-up, the reason names none either: it would name a model
        that neither the alternatives nor the text list.
        """
        kept = self.alternatives[: alternatives + 1]
        reason = self.reason
        if len(kept) == 1 and self.alternatives:
            reason = reason.replace(runner_up_sentence(kept[0], self.alternatives), "", 1)
        kept_neighbours = self.neighbours[:neighbours]
        omitted = len(self.alternatives) - len(kept)
        omitted_neighbours = len(self.neighbours) - len(kept_neighbours)
        notes = self.notes
        if omitted or omitted_neighbours:
            notes = (
                *notes,
                f"shortened: {omitted} more {_plural(omitted, 'candidate')} and "
                f"{omitted_neighbours} more {_plural(omitted_neighbours, 'exemplar')} not shown",
            )
        return replace(self, reason=reason, alternatives=kept, neighbours=kept_neighbours,
                       notes=notes)


def _rounded(value: Any) -> Any:
    """``value`` as JSON-ready dicts and lists, keys sorted and floats rounded, in one pass:
    ``dataclasses.asdict`` then a rounding walk took longer than the routing itself."""
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, (str, int)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {key: _rounded(value[key]) for key in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [_rounded(item) for item in value]
    if not is_dataclass(value):
        raise TypeError(f"{type(value).__name__} has no JSON form")
    return {name: _rounded(getattr(value, name)) for name in _field_names(type(value))}


# Each dataclass's field names, sorted: looked up once per class, not once per value.
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(kind: type) -> tuple[str, ...]:
    if kind not in _FIELD_NAMES:
        _FIELD_NAMES[kind] = tuple(sorted(field.name for field in fields(kind)))
    return _FIELD_NAMES[kind]


# ---- router files ----


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, version: tuple[int, ...]) -> Router:
    # The file's version is part of the key, so a router replaced or rewritten is read again.
    del version
    return read_router(path)


def load_router(path: str | os.PathLike[str] | None = None) -> Router:
    """Load a router file: the shipped default (``None``) or a user file from :func:`fit_router`.

    Raises:
        RouterFileError: If the file is missing or invalid, or ``path`` is empty or holds a
            character no file name can; the message says what is wrong.
        TypeError: ``path`` is neither a path nor None.
    """
    if path is None:
        # Checked first: a damaged shipped router is the install's fault, not a user's file.
        shipped_data.verify(DEFAULT_ROUTER_FILE)
        return load_router(shipped_data.DATA_DIR / DEFAULT_ROUTER_FILE)
    data_file_argument(path, "router", RouterFileError)
    file = Path(path)
    try:
        stat = file.stat()
    except OSError:
        raise RouterFileError(f"router file {shown_path(str(file))} does not exist") from None
    return _load_cached(str(file.resolve()), file_version(stat))


# ---- prior mapping ----


@dataclass(frozen=True)
class _PriorMap:
    intercept: float
    slope: float
    anchors: int
    confidence_factor: float

    def describe(self) -> str:
        if self.anchors == 0:
            how = "identity (no labelled model has a prior)"
        elif self.confidence_factor < 0.5:
            how = f"shift through the mean of {self.anchors} labelled models"
        else:
            how = f"least-squares line over {self.anchors} labelled models"
        return (f"prior → mean score: {how}, mean = {self.intercept:.3f} + "
                f"{self.slope:.3f} × prior")


@functools.lru_cache(maxsize=32)
def _prior_map(anchors: tuple[tuple[float, float], ...]) -> _PriorMap:
    if not anchors:
        return _PriorMap(0.0, 1.0, 0, 0.25)
    if len(anchors) == 1 or len({prior for prior, _ in anchors}) == 1:
        prior_mean = math.fsum(p for p, _ in anchors) / len(anchors)
        score_mean = math.fsum(s for _, s in anchors) / len(anchors)
        return _PriorMap(score_mean - prior_mean, 1.0, len(anchors), 0.25)
    count = len(anchors)
    mean_prior = math.fsum(p for p, _ in anchors) / count
    mean_score = math.fsum(s for _, s in anchors) / count
    covariance = math.fsum((p - mean_prior) * (s - mean_score) for p, s in anchors)
    variance = math.fsum((p - mean_prior) ** 2 for p, _ in anchors)
    slope = covariance / variance
    if slope <= 0:
        # A better prior must never predict a worse model; fall back to the shift.
        return _PriorMap(mean_score - mean_prior, 1.0, count, 0.25)
    return _PriorMap(mean_score - slope * mean_prior, slope, count, 0.5)


@dataclass(frozen=True)
class _Labels:
    """Where a decision finds a router's labels, by the names the catalog gives its models.

    ``positions`` maps the catalog id of each labelled model the catalog knows, however the
    file spells it (``GPT-4.1`` and ``openai/gpt-4.1`` are ``gpt-4.1``, as ``shoal fit`` and
    :func:`fit_router` write it), to its position; when two spellings name one model, the one
    written as the catalog id wins, else the first. ``priced`` holds the labelled models the
    catalog lacks that carry a mean observed cost (their only price), ``unpriced`` those that
    carry none, and ``anchors`` the ``(catalog prior, mean score)`` pairs of the prior mapping.
    """

    positions: Mapping[str, int]
    priced: Mapping[str, int]
    unpriced: tuple[str, ...]
    anchors: tuple[tuple[float, float], ...]

    def uncatalogued(self, name: str) -> str | None:
        """The router's spelling of a labelled model the catalog lacks, matched in any case."""
        wanted = name.strip().casefold()
        return next((model for model in (*self.priced, *self.unpriced)
                     if model.casefold() == wanted), None)


_Derived = TypeVar("_Derived")


class _PerRouter(Generic[_Derived]):
    """Values derived from a router (with a catalog and a further key), cached by identity.

    An entry holds the catalog, so its id cannot be reused while cached, but only a weak
    reference to the router: a router used nowhere else is let go with its exemplars (a
    cross-validation fits one per fold), and an entry whose router is gone matches no later
    router that is given its id. Past ``size`` entries the cache starts again.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: dict[tuple[int, int, Hashable], tuple[
            weakref.ref[Router], Catalog | None, _Derived]] = {}

    def get(self, router: Router, catalog: Catalog | None, key: Hashable,
            derive: Callable[[], _Derived]) -> _Derived:
        slot = (id(router), id(catalog), key)
        cached = self._entries.get(slot)
        if cached is not None and cached[0]() is router and cached[1] is catalog:
            return cached[2]
        value = derive()
        if len(self._entries) >= self._size:
            self._entries.clear()
        self._entries[slot] = (weakref.ref(router), catalog, value)
        return value


_LABELS: _PerRouter[_Labels] = _PerRouter(16)


def _labels(router: Router, catalog: Catalog) -> _Labels:
    # Asked for every decision.
    return _LABELS.get(router, catalog, None, lambda: _find_labels(router, catalog))


def _find_labels(router: Router, catalog: Catalog) -> _Labels:
    positions: dict[str, int] = {}
    priced: dict[str, int] = {}
    unpriced: list[str] = []
    for position, model in enumerate(router.models):
        if model not in catalog:
            if router.costs_usd[position] is None:
                unpriced.append(model)
            else:
                priced[model] = position
            continue
        model_id = catalog.model(model).id
        if model_id not in positions or model == model_id:
            positions[model_id] = position
    anchors = []
    for model_id, position in positions.items():
        prior = catalog.model(model_id).quality
        if prior is not None:
            anchors.append((prior, router.mean_scores[position]))
    return _Labels(positions, priced, tuple(unpriced), tuple(anchors))


def labelled_position(router: Router, catalog: Catalog, model: str) -> int | None:
    """The position of ``model``'s labels in ``router``, the name read through ``catalog`` as
    routing reads it; None when the router has none."""
    labels = _labels(router, catalog)
    if model in catalog:
        return labels.positions.get(catalog.model(model).id)
    found = labels.uncatalogued(model)
    return None if found is None else router.models.index(found)


_ABILITIES: _PerRouter[float] = _PerRouter(4096)


def _ability_from_prior(router: Router, mapped_mean: float) -> float:
    return _ABILITIES.get(router, None, mapped_mean,
                          lambda: router.ability_for_mean_score(mapped_mean))


# ---- argument checks ----


def _check_number(name: str, value: object, *, low: float, high: float = math.inf) -> float:
    given = real_number(value)
    if given is None:
        raise RoutingError(f"{name} must be a number, got {type(value).__name__}")
    number = float(given)
    if not (math.isfinite(number) or number == high == math.inf) or not low <= number <= high:
        # An amount's bounds in dollars, as every message about money writes them.
        bound = format_usd if name.endswith("_usd") and math.isfinite(high) else grouped_number
        raise RoutingError(f"{name} must be between {bound(low)} and {bound(high)}, got "
                           f"{grouped_number(given)}")
    return number


def _check_willingness_to_pay(value: object) -> float:
    given = real_number(value)
    if given is None:
        raise RoutingError(f"willingness_to_pay must be a number, got {type(value).__name__}")
    number = float(given)
    if not MIN_WILLINGNESS_TO_PAY <= number <= MAX_WILLINGNESS_TO_PAY:  # NaN fails it too
        raise RoutingError(
            f"willingness_to_pay must be above 0 (at least "
            f"{grouped_number(MIN_WILLINGNESS_TO_PAY)}) and at most "
            f"{MAX_WILLINGNESS_TO_PAY:,.0f} USD per quality point, got {grouped_number(number)}"
        )
    return number


def _check_models(
    name: str, value: object, catalog: Catalog, labels: _Labels,
) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise RoutingError(f"{name} must be a list of model ids, got {type(value).__name__}")
    named = []
    for item in value:
        if not isinstance(item, str):
            raise RoutingError(f"{name} must hold model ids (str), got {type(item).__name__}")
        named.append((item, _model_name(name, item, catalog, labels)))
    try:
        check_each_model_once(name, named)
    except ValueError as error:
        raise RoutingError(str(error)) from None
    return tuple(model_id for _, model_id in named)


# ---- candidate tables ----


@dataclass(frozen=True)
class _Candidate:
    """What a decision needs of one candidate that does not depend on the prompt.

    ``slot`` is the candidate's place in the estimator's answer (a labelled model's position,
    or after them its place among the prior-only models); ``encoding`` is what its prompt
    tokens are counted with and ``ratio`` the ``(numerator, denominator)`` of its catalog
    token_ratio when the count is an estimate (None when exact). ``observed_cost_usd`` is set
    for a labelled model the catalog lacks: the mean cost of its label rows is its only price.
    """

    entry: ModelEntry
    slot: int | None
    source: str
    confidence_factor: float
    encoding: str
    ratio: tuple[int, int] | None
    observed_cost_usd: float | None = None


@dataclass(frozen=True)
class _CandidateTable:
    candidates: tuple[_Candidate, ...]
    prior_abilities: tuple[float, ...]
    prior_means: tuple[float, ...]
    encodings: tuple[str, ...]


_TABLES: _PerRouter[_CandidateTable] = _PerRouter(64)


def _candidate_table(router: Router, catalog: Catalog, pool: tuple[str, ...]) -> _CandidateTable:
    """The candidates' prompt-independent parts, built once per router, catalog and pool."""
    return _TABLES.get(router, catalog, pool, lambda: _build_table(router, catalog, pool))


def _build_table(router: Router, catalog: Catalog, pool: tuple[str, ...]) -> _CandidateTable:
    labels = _labels(router, catalog)
    candidates: list[_Candidate] = []
    prior_abilities: list[float] = []
    for model_id in pool:
        if model_id in labels.priced:
            candidates.append(_uncatalogued_candidate(router, model_id, labels.priced[model_id]))
            continue
        entry = catalog.model(model_id)
        position = labels.positions.get(entry.id)
        if position is not None:
            slot, source, factor = position, _LABELLED, 1.0
        elif entry.quality is not None:
            mapping = _prior_map(labels.anchors)
            mapped = min(max(mapping.intercept + mapping.slope * entry.quality, 0.001), 0.999)
            slot = len(router.models) + len(prior_abilities)
            prior_abilities.append(_ability_from_prior(router, round(mapped, 9)))
            source, factor = _PRIOR, mapping.confidence_factor
        else:
            slot, source, factor = None, "none", 0.0
        # Exact for the models with a public encoding, a labelled token_ratio estimate from
        # o200k_base for the others (as shoal.tokens.count_tokens).
        if entry.encoding is not None:
            encoding, ratio = entry.encoding, None
        else:
            exact_ratio = Fraction(str(entry.token_ratio))
            encoding = ESTIMATE_BASE_ENCODING
            ratio = (exact_ratio.numerator, exact_ratio.denominator)
        candidates.append(_Candidate(entry, slot, source, factor, encoding, ratio))
    return _CandidateTable(
        candidates=tuple(candidates),
        prior_abilities=tuple(prior_abilities),
        prior_means=tuple(router.expected_mean_score(a) for a in prior_abilities),
        encodings=tuple(dict.fromkeys(c.encoding for c in candidates)),
    )


def _uncatalogued_candidate(router: Router, model: str, position: int) -> _Candidate:
    """A labelled model the catalog lacks, priced at the mean cost of its label rows. Nothing
    else is known of it: its tokens are counted as o200k_base, its context window is not
    checked, and it is not taken to run locally."""
    entry = ModelEntry(
        id=model, provider="", name=model, input_per_mtok=0.0, output_per_mtok=0.0,
        cached_input_per_mtok=None, cache_write_per_mtok=None, context_window=0,
        max_output_tokens=0, encoding=None, token_ratio=1.0, open_weights=False, params_b=None,
        active_params_b=None, quality=None, quality_source="",
        price_source=f"mean cost_usd of its label rows in router {router.name}", as_of="",
    )
    return _Candidate(entry, position, _LABELLED, 1.0, ESTIMATE_BASE_ENCODING, (1, 1),
                      observed_cost_usd=router.costs_usd[position])


# ---- costing ----


def _input_tokens(prompt: str, settings: _Settings, table: _CandidateTable) -> list[int]:
    """Each candidate's tokens for the prompt, every earlier turn and the chat framing.

    Each text is counted once per encoding; an estimate scales each text's count by the
    model's token_ratio and rounds it up, as :func:`shoal.tokens.count_tokens` does.
    """
    texts = [prompt, *settings.history_texts]
    counted = {}
    for encoding in table.encodings:
        tokenizer = tokenizer_for(encoding=encoding)
        counted[encoding] = [tokenizer.count(text) for text in texts]
    overhead = conversation_overhead(settings.history, settings.history_names)
    totals = []
    for candidate in table.candidates:
        counts = counted[candidate.encoding]
        if candidate.ratio is not None:
            numerator, denominator = candidate.ratio
            counts = [-(-tokens * numerator // denominator) for tokens in counts]
        totals.append(sum(counts) + overhead)
    return totals


_NOT_KNOWN_LOCAL = "not in the catalog, so not known to run locally"




def _long_context_notes(
    table: _CandidateTable, estimates: Sequence[CandidateEstimate],
) -> list[str]:
    """The hosted candidates priced at their long-context rates, which can double a call."""
    priced_long = [
        f"{candidate.entry.id} ({estimate.input_tokens:,} input tokens exceed "
        f"{candidate.entry.long_context_threshold:,})"
        for candidate, estimate in zip(table.candidates, estimates, strict=True)
        if candidate.observed_cost_usd is None and not estimate.runs_locally
        and long_context_applies(candidate.entry, estimate.input_tokens)
    ]
    if not priced_long:
        return []
    return [f"long-context rates apply to the whole call, as shoal cost prices it: "
            f"{', '.join(priced_long)}"]


# ---- estimating ----


def _table_estimates(
    router: Router, table: _CandidateTable, neighbours: Sequence[Neighbour], familiarity: float,
) -> list[tuple[float | None, float, str]]:
    """``(quality, raw confidence, source)`` per candidate, from one core estimator call."""
    pairs = [(n.index, n.similarity) for n in neighbours]
    answers = router.estimator().estimate(pairs, table.prior_abilities, table.prior_means)
    estimates: list[tuple[float | None, float, str]] = []
    for candidate in table.candidates:
        if candidate.slot is None:
            estimates.append((None, 0.0, "none"))
            continue
        quality, evidence = answers[candidate.slot]
        if candidate.source == _LABELLED:
            estimates.append((quality, evidence * familiarity, _LABELLED))
        else:
            confidence = evidence * familiarity * candidate.confidence_factor
            estimates.append((quality, confidence, _PRIOR))
    return estimates


def estimate_qualities(
    router: Router, catalog: Catalog, model_ids: Sequence[str], neighbours: Sequence[Neighbour],
) -> list[tuple[float | None, float, str]]:
    """``(predicted quality, raw confidence, source)`` of each catalog model for a prompt whose
    nearest exemplars are ``neighbours``, as :func:`route` estimates them (before the
    confidence calibration). A model with neither labels nor a prior gets ``(None, 0, "none")``.
    """
    table = _candidate_table(router, catalog, tuple(model_ids))
    return _table_estimates(router, table, neighbours, closeness(neighbours))


def _estimate_quality(
    router: Router, catalog: Catalog, model_id: str, neighbours: Sequence[Neighbour],
    familiarity: float,
) -> tuple[float | None, float, str]:
    table = _candidate_table(router, catalog, (model_id,))
    return _table_estimates(router, table, neighbours, familiarity)[0]


@dataclass(frozen=True)
class _Settings:
    willingness_to_pay: float
    min_quality: float | None
    max_cost_usd: float | None
    local_only: bool
    allowed: tuple[str, ...] | None
    excluded: frozenset[str]
    expected_output_tokens: int
    privacy_local: bool = False
    device: str | None = None
    history: tuple[tuple[str, str], ...] = ()
    # What count_chat counts of the history and the prompt's role, and the turns with a name.
    history_texts: tuple[str, ...] = ()
    history_names: int = 0


def _device_check(entry: ModelEntry, device: str, context_tokens: int) -> ConstraintCheck:
    try:
        fit = hardware_fit(entry.id, device, quantisation=LOCAL_QUANTISATION,
                           context_tokens=max(context_tokens, 1))
    except ValueError:
        return ConstraintCheck("hardware_fit", False, f"no architecture data for {entry.id}")
    detail = (f"{LOCAL_QUANTISATION} needs {fit.memory_needed_gb:.1f} GB of "
              f"{fit.memory_available_gb:.1f} GB on {device}")
    if fit.fits:
        detail += f", about {fit.decode_tokens_per_s:.0f} tokens/s"
    return ConstraintCheck("hardware_fit", fit.fits, detail)


def _context_check(entry: ModelEntry, input_tokens: int, output_tokens: int) -> ConstraintCheck:
    """Whether the prompt and the expected output fit the model's window, and the prompt its
    input limit where the catalog gives one below the window (GPT-5 takes 272,000 input
    tokens of its 400,000): the detail names the limit that was passed."""
    passed = limits_passed(entry, input_tokens, output_tokens, 0)
    if INPUT_LIMIT in passed and entry.input_limit < entry.context_window:
        return ConstraintCheck(
            "context_window", False,
            f"{input_tokens:,} input tokens exceed the input limit of {entry.input_limit:,} "
            f"within the {entry.context_window:,}-token window",
        )
    if INPUT_LIMIT in passed:
        # No input cap below the window: the prompt alone overflows the window.
        return ConstraintCheck(
            "context_window", False,
            f"{input_tokens:,} input tokens exceed the {entry.context_window:,}-token window",
        )
    return ConstraintCheck(
        "context_window", CONTEXT_WINDOW not in passed,
        f"{input_tokens:,} + {output_tokens:,} tokens of {entry.context_window:,}",
    )


def qualities_apart(quality: float, other: float) -> tuple[str, str]:
    """Two qualities at three decimals, or at the fewest more that tell them apart when they
    differ: a prediction a hair under a floor must not read as the floor itself."""
    places = 3
    # 17 decimals hold every digit that tells two floats in [0, 1] apart.
    while f"{quality:.{places}f}" == f"{other:.{places}f}" and quality != other and places < 17:
        places += 1
    return f"{quality:.{places}f}", f"{other:.{places}f}"


def _assess(
    candidate: _Candidate, input_tokens: int, quality: tuple[float | None, float, str],
    settings: _Settings,
) -> CandidateEstimate:
    entry, observed_cost = candidate.entry, candidate.observed_cost_usd
    predicted, confidence, source = quality
    output_tokens = settings.expected_output_tokens
    checks: list[ConstraintCheck] = []

    if settings.allowed is not None or settings.excluded:
        allowed = entry.id not in settings.excluded and (
            settings.allowed is None or entry.id in settings.allowed
        )
        checks.append(ConstraintCheck("allowed", allowed, "excluded" if not allowed else "listed"))

    runs_locally = (settings.local_only or settings.privacy_local) and entry.open_weights
    hosted = "hosted only" if observed_cost is None else _NOT_KNOWN_LOCAL
    if settings.local_only:
        detail = "open weights, runs locally" if entry.open_weights else hosted
        checks.append(ConstraintCheck("local_only", entry.open_weights, detail))
    if settings.privacy_local:
        detail = ("open weights, runs locally" if entry.open_weights
                  else f"{hosted}: the prompt holds secrets or personal data")
        checks.append(ConstraintCheck("privacy", entry.open_weights, detail))
    if runs_locally and settings.device is not None:
        checks.append(_device_check(
            entry, settings.device, input_tokens + settings.expected_output_tokens
        ))

    if observed_cost is None:
        checks.append(_context_check(entry, input_tokens, output_tokens))
        if not runs_locally:
            # A hosted API stops a completion at its output limit, however much room the window
            # has; a model run locally is bounded by its window alone.
            checks.append(ConstraintCheck(
                "output_limit", output_tokens <= entry.max_output_tokens,
                f"{output_tokens:,} output tokens of {entry.max_output_tokens:,}",
            ))
    else:
        checks.append(ConstraintCheck(
            "context_window", True,
            f"{input_tokens:,} + {output_tokens:,} tokens; window unknown (not in the catalog)",
        ))

    if runs_locally:
        cost = 0.0
    elif observed_cost is not None:
        cost = observed_cost
    else:
        # Exact, as shoal cost prices the call (long-context tier included): the text shows
        # the figure `shoal cost` shows for the same tokens.
        cost = call_cost_float(entry, input_tokens, output_tokens)
    if settings.max_cost_usd is not None:
        shown_cost, shown_limit = usd_apart(cost, settings.max_cost_usd)
        checks.append(ConstraintCheck(
            "max_cost_usd", cost <= settings.max_cost_usd, f"{shown_cost} against {shown_limit}",
        ))

    checks.append(ConstraintCheck(
        "quality_estimate", predicted is not None,
        f"from {source}" if predicted is not None else "no labels and no catalog quality prior",
    ))
    if settings.min_quality is not None and predicted is not None:
        shown_quality, shown_floor = qualities_apart(predicted, settings.min_quality)
        checks.append(ConstraintCheck(
            "min_quality", predicted >= settings.min_quality,
            f"predicted {shown_quality} against {shown_floor}",
        ))

    eligible = all(c.passed for c in checks if c.name != "min_quality")
    objective = None if predicted is None else predicted - cost / settings.willingness_to_pay
    return CandidateEstimate(
        model=entry.id, predicted_quality=predicted, confidence=confidence,
        estimate_source=source, input_tokens=input_tokens, output_tokens=output_tokens,
        expected_cost_usd=cost, runs_locally=runs_locally, objective=objective,
        eligible=eligible, constraints=tuple(checks),
    )


def _rank(estimates: Sequence[CandidateEstimate], settings: _Settings) -> list[CandidateEstimate]:
    eligible = [e for e in estimates if e.eligible]
    others = sorted((e for e in estimates if not e.eligible), key=lambda e: e.model)
    if settings.min_quality is None:
        eligible.sort(key=lambda e: (-(e.objective or 0.0), e.expected_cost_usd, e.model))
        return eligible + others

    def meets(estimate: CandidateEstimate) -> bool:
        return (estimate.predicted_quality or 0.0) >= (settings.min_quality or 0.0)

    meeting = sorted(
        (e for e in eligible if meets(e)),
        key=lambda e: (e.expected_cost_usd, -(e.predicted_quality or 0.0), e.model),
    )
    short = sorted(
        (e for e in eligible if not meets(e)),
        key=lambda e: (-(e.predicted_quality or 0.0), e.expected_cost_usd, e.model),
    )
    return meeting + short + others


_POOLS: _PerRouter[tuple[str, ...]] = _PerRouter(16)


def _default_candidates(router: Router, catalog: Catalog) -> tuple[str, ...]:
    """Every catalog model with labels in the router or a quality prior, in catalog order."""
    return _POOLS.get(router, catalog, None, lambda: _find_default_candidates(router, catalog))


def _find_default_candidates(router: Router, catalog: Catalog) -> tuple[str, ...]:
    routable = set(_labels(router, catalog).positions)
    routable.update(e.id for e in catalog.models if e.quality is not None)
    return tuple(e.id for e in catalog.models if e.id in routable)


def _current_models(
    pool: tuple[str, ...], catalog: Catalog
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``pool`` split into the models still offered and those the catalog lists as retired by
    today: a retired model would be refused by its API, however well it scores."""
    gone = {entry.id for entry in retired_among(catalog.model(model) for model in pool)}
    if not gone:
        return pool, ()
    return (tuple(model for model in pool if model not in gone),
            tuple(model for model in pool if model in gone))


def _retirement_notes(
    catalog: Catalog, pool: Sequence[str], left_out: Sequence[str]
) -> list[str]:
    """Which default candidates were left out as retired, and which retired models were kept
    because the caller named them."""
    notes = []
    if left_out:
        retired_on = ", ".join(f"{model} ({catalog.model(model).deprecation_date})"
                               for model in left_out)
        notes.append(f"left out as retired per the catalog: {retired_on}; name one in "
                     "candidates to consider it anyway")
    # A labelled model the catalog lacks has no retirement date.
    for entry in retired_among(catalog.model(model) for model in pool if model in catalog):
        note = retirement_note(entry)
        if note is not None:
            notes.append(f"{note}{NAMED_THOUGH_RETIRED}")
    return notes


# Ends the note on a retired model the caller named: the decision's text repeats such notes,
# since the choice may be a model its API no longer serves.
NAMED_THOUGH_RETIRED = "; considered because it was named"


def _reason(chosen: CandidateEstimate, ranked: Sequence[CandidateEstimate], mode: str,
            settings: _Settings, met: bool | None) -> str:
    quality = f"{chosen.predicted_quality:.3f}" if chosen.predicted_quality is not None else "?"
    where = f"costs about {format_usd(chosen.expected_cost_usd)}"
    if chosen.runs_locally:
        # Without a device, nothing says the model fits the machine it is to run on.
        where = "runs locally at no API cost" + (
            "" if settings.device is not None else " (hardware fit unchecked: no device given)"
        )
    basis = (
        "its scores on the nearest labelled prompts" if chosen.estimate_source == _LABELLED
        else "its catalog quality prior placed on the labelled models' ability scale"
    )
    eligible = [e for e in ranked if e.eligible]
    among = _count(len(eligible), "eligible candidate")
    if mode == "min_quality":
        if met:
            head = (f"{chosen.model} is the cheapest of {among} "
                    f"predicted to reach quality {settings.min_quality:.3f}")
        else:
            floor = f"{settings.min_quality:.3f}"
            if chosen.predicted_quality is not None and settings.min_quality is not None:
                # Short of the floor, the two may differ past the third decimal only.
                quality, floor = qualities_apart(chosen.predicted_quality, settings.min_quality)
            head = (f"No eligible candidate is predicted to reach quality {floor}; "
                    f"{chosen.model} is the best available")
    else:
        head = (f"{chosen.model} gives the best predicted quality minus cost among "
                f"{among} at a willingness to pay of "
                f"{format_usd(settings.willingness_to_pay)} per quality point")
    return (f"{head}: predicted quality {quality} (confidence {chosen.confidence:.2f}, from "
            f"{basis}); it {where}.{runner_up_sentence(chosen, ranked)}"
            f"{_ineligible_sentences(ranked)}")


def _ineligible_sentences(ranked: Sequence[CandidateEstimate]) -> str:
    """`` 3 candidates failed a hard constraint. 1 candidate cannot be estimated (...).``: the
    candidates left out, those that broke a constraint apart from those that only lack an
    estimate, which no constraint the caller set could have let in."""
    ineligible = [estimate for estimate in ranked if not estimate.eligible]
    unestimated = sum(_only_unestimated(estimate) for estimate in ineligible)
    failed = len(ineligible) - unestimated
    sentences = ""
    if failed:
        sentences += f" {_count(failed, 'candidate')} failed a hard constraint."
    if unestimated:
        sentences += f" {_count(unestimated, 'candidate')} {CANNOT_BE_ESTIMATED}."
    return sentences


# Why a model with neither labels in the router nor a catalog quality prior is no candidate.
CANNOT_BE_ESTIMATED = "cannot be estimated (no labels in the router and no catalog quality prior)"


def _only_unestimated(estimate: CandidateEstimate) -> bool:
    """Whether the only check ``estimate`` fails is that it has no quality estimate."""
    failed = [check.name for check in estimate.constraints
              if not check.passed and check.name != "min_quality"]
    return failed == ["quality_estimate"]


def why_ineligible(estimate: CandidateEstimate) -> str:
    """``cannot be estimated (...)`` for a model with no estimate, else ``breaks
    context_window`` or ``is excluded and breaks local_only``: why it is no candidate."""
    if _only_unestimated(estimate):
        return CANNOT_BE_ESTIMATED
    failed = failed_constraints(estimate)
    return f"is {failed}" if failed.startswith("excluded") else failed


def runner_up_sentence(chosen: CandidateEstimate, ranked: Sequence[CandidateEstimate]) -> str:
    """`` The runner-up, MODEL, is predicted at 0.663 for $0.00024.``: the sentence of a
    decision's reason that names the best eligible candidate after ``chosen``; empty when there
    is none or it has no estimate. A caller that returns no runner-up leaves it out of the
    reason, which would otherwise name a model the answer does not list."""
    runner = next((e for e in ranked if e.eligible and e.model != chosen.model), None)
    if runner is None or runner.predicted_quality is None:
        return ""
    return (f" The runner-up, {runner.model}, is predicted at {runner.predicted_quality:.3f} "
            f"for {format_usd(runner.expected_cost_usd)}.")


def route(
    prompt: str,
    *,
    candidates: Sequence[str] | None = None,
    willingness_to_pay: float | None = None,
    min_quality: float | None = None,
    max_cost_usd: float | None = None,
    local_only: bool = False,
    excluded: Sequence[str] = (),
    expected_output_tokens: int = 256,
    router: Router | str | os.PathLike[str] | None = None,
    catalog: Catalog | None = None,
    history: Sequence[Mapping[str, Any]] | None = None,
    device: str | None = None,
    privacy: str = DEFAULT_PRIVACY,
    previous_model: str | None = None,
    stickiness_margin: float | None = None,
) -> RoutingDecision:
    """Choose the model for ``prompt``.

    Args:
        prompt: The task text.
        candidates: Catalog ids to choose among, each model once (by any spelling), or
            labelled models of the router the catalog lacks, priced by their label rows'
            ``cost_usd``; default every catalog model with labels in the router or a quality
            prior, and those labelled models.
        willingness_to_pay: USD per request for a whole quality point (0 → 1); default 0.01.
        min_quality: Choose the cheapest candidate predicted to reach this (0-1) instead (0
            takes the cheapest eligible one); if none does, the best available, flagged. None,
            the default, sets no floor.
        max_cost_usd: Drop candidates whose expected cost exceeds this.
        local_only: Only open-weight models, costed at 0 and noted as running locally.
        excluded: Catalog ids never to choose, each model once.
        expected_output_tokens: Output tokens assumed for cost, context fit and each hosted
            model's output limit; 0 to :data:`MAX_OUTPUT_TOKENS`.
        router: A router from :func:`load_router` or :func:`fit_router`, or the path of a
            router file (loaded as :func:`load_router` loads it); default the shipped one.
        catalog: A catalog from :func:`shoal.catalog.load_catalog`; default the configured one
            (the shipped catalog with ``SHOAL_PRICES`` applied).
        history: Earlier turns of the conversation, oldest first, as ``{"role", "content"}``
            (every turn needs a role; at most :data:`shoal.router_policy.MAX_HISTORY_TURNS`
            turns and :data:`shoal.router_policy.MAX_HISTORY_CHARACTERS` characters over all
            of them); ``prompt`` is the latest turn. The embedding adds the last turns' tails
            as context; the context window and cost count the whole conversation.
        device: A device id (:func:`shoal.hardware.list_devices`): candidates that run
            locally (``local_only``, or a task ``privacy`` keeps local) must fit it; a note
            says which fit, or that none runs locally and nothing was checked. Without one,
            a local candidate's fit is unchecked, and the decision says so.
        privacy: ``local`` (default): when the conversation holds secrets or personal data,
            only open-weight models run locally qualify; ``block``: refuse such a task;
            ``off``: no scan.
        previous_model: The model that answered the previous turn; the decision stays on it
            unless a switch gains more than ``stickiness_margin``.
        stickiness_margin: Objective gain (quality − cost / willingness to pay) a switch away
            from ``previous_model`` must exceed; None, the default, is 0.02. Refused without
            ``previous_model``.

    Returns:
        The decision with every candidate's estimate and the reason.

    Raises:
        RoutingError: If an argument is invalid (the message names it).
        NoEligibleModelError: If no candidate passes the hard constraints.
        PrivacyBlockedError: If ``privacy="block"`` and the scan found something.
    """
    if not isinstance(prompt, str):
        raise RoutingError(f"prompt must be a str, got {type(prompt).__name__}")
    if not prompt.strip():
        raise RoutingError("prompt is empty: give the task to route")
    _checked(lambda text: check_unicode(text, "prompt"), prompt)
    if catalog is not None and not isinstance(catalog, Catalog):
        raise RoutingError(f"catalog must be a Catalog (shoal.catalog.load_catalog()) or None, "
                           f"got {type(catalog).__name__}")
    catalog = catalog if catalog is not None else configured_catalog()
    router = router_argument(router)
    labels = _labels(router, catalog)
    settings = _settings(
        catalog, labels, candidates=candidates, willingness_to_pay=willingness_to_pay,
        min_quality=min_quality, max_cost_usd=max_cost_usd, local_only=local_only,
        excluded=excluded, expected_output_tokens=expected_output_tokens,
    )
    settings, privacy_found = _conversation_settings(settings, prompt, history, device, privacy)
    previous = _check_previous(previous_model, catalog, labels)
    if min_quality is not None and willingness_to_pay is not None and previous is None:
        # Under a quality floor the cheapest candidate that reaches it wins; the willingness to
        # pay only weighs a switch away from the previous turn's model.
        raise RoutingError(
            "willingness_to_pay does nothing with min_quality (the cheapest candidate predicted "
            "to reach it is chosen) unless previous_model is given; give one of the two"
        )
    margin = _checked(lambda value: check_margin(value, previous), stickiness_margin)

    neighbours = router.neighbours(embedding_text(prompt, settings.history))
    left_out: tuple[str, ...] = ()
    if settings.allowed is not None:
        # Sorted, as candidates are a set: the notes that follow the pool's order (a named
        # retired model, a labelled one the catalog lacks) then read the same in any order.
        pool = tuple(sorted(settings.allowed))
    else:
        pool, left_out = _current_models(_default_candidates(router, catalog), catalog)
        # Labelled models the catalog lacks are candidates too when their label rows price them.
        pool = (*pool, *labels.priced)
    if previous is not None and settings.allowed is None and previous not in pool:
        pool = (*pool, previous)
        # A retired previous model is considered after all, and its note says so.
        left_out = tuple(model for model in left_out if model != previous)
    table = _candidate_table(router, catalog, pool)
    qualities = _table_estimates(router, table, neighbours, closeness(neighbours))
    tokens = _input_tokens(prompt, settings, table)
    calibrate = _confidence_map(router)
    estimates = [
        _assess(candidate, input_count, calibrate(quality), settings)
        for candidate, input_count, quality in zip(table.candidates, tokens, qualities,
                                                   strict=True)
    ]
    ranked = _rank(estimates, settings)
    if not ranked or not ranked[0].eligible:
        hint = ""
        if settings.privacy_local:
            found = privacy_found.findings
            kinds = ", ".join(sorted({finding.kind for finding in found}))
            hint = (f"privacy='local' keeps this task on local open-weight models because it "
                    f"found {len(found):,} private {'item' if len(found) == 1 else 'items'} "
                    f"({kinds}): remove them, or set privacy='off' if a hosted model may see "
                    "them; ")
        windows = {candidate.entry.id: candidate.entry for candidate in table.candidates}
        raise NoEligibleModelError(
            hint + (_too_long_for_every_window(ranked, windows, settings)
                    or _no_model_message(ranked))
        )
    sticky = None
    if previous is not None:
        ranked, sticky = _stick(ranked, previous, margin, settings)

    chosen = ranked[0]
    mode = "trade_off" if settings.min_quality is None else "min_quality"
    met = None
    if settings.min_quality is not None:
        met = (chosen.predicted_quality or 0.0) >= settings.min_quality
    notes = [*_notes(router, catalog, ranked, met, settings),
             *_long_context_notes(table, estimates),
             *_label_notes(router, labels, table, settings),
             *_retirement_notes(catalog, pool, left_out)]
    if sticky is not None and sticky.stayed and sticky.best_model != chosen.model:
        quality = "?" if chosen.predicted_quality is None else f"{chosen.predicted_quality:.3f}"
        reason = (f"{chosen.model} continues the conversation: {sticky.detail}. It is predicted "
                  f"at {quality} (confidence {chosen.confidence:.2f}) for about "
                  f"{format_usd(chosen.expected_cost_usd)}.")
    else:
        reason = _reason(chosen, ranked, mode, settings, met)
        if sticky is not None:
            reason += f" Stickiness: {sticky.detail}."
    if privacy_found.action == "kept_local":
        reason += f" Privacy: {privacy_found.summary}."
    identifier = decision_id({
        "prompt": prompt, "history": [list(turn) for turn in settings.history],
        # A set: the same models named in another order are the same question.
        "candidates": None if settings.allowed is None else sorted(settings.allowed),
        "excluded": sorted(settings.excluded), "willingness_to_pay": settings.willingness_to_pay,
        "min_quality": settings.min_quality, "max_cost_usd": settings.max_cost_usd,
        "local_only": settings.local_only, "output_tokens": settings.expected_output_tokens,
        "device": settings.device, "privacy": privacy_found.policy, "previous_model": previous,
        "stickiness_margin": margin, "router": router.version, "catalog": catalog.catalog_date,
        # Only when some were: the ids of decisions that left none out stay as they were.
        **({"retired": list(left_out)} if left_out else {}),
    })
    return RoutingDecision(
        model=chosen.model, mode=mode, willingness_to_pay=settings.willingness_to_pay,
        min_quality=settings.min_quality, min_quality_met=met, alternatives=tuple(ranked),
        neighbours=neighbours, router_version=router.version, catalog_date=catalog.catalog_date,
        reason=reason, notes=tuple(notes), decision_id=identifier, privacy=privacy_found,
        stickiness=sticky, conversation_turns=len(settings.history), device=settings.device,
    )


CONFIDENCE_CALIBRATION_FILE = "confidence_calibration.json"


@functools.lru_cache(maxsize=1)
def _calibration_knots() -> tuple[str, tuple[tuple[float, float], ...]]:
    document = json.loads(shipped_data.read_text(CONFIDENCE_CALIBRATION_FILE))
    return document["router_version"], tuple((x, y) for x, y in document["knots"])


def _identity(quality: tuple[float | None, float, str]) -> tuple[float | None, float, str]:
    return quality


def confidence_knots_of(router: Router) -> tuple[tuple[float, float], ...]:
    """The map from ``router``'s raw confidence to expected agreement: the one its file holds
    (:func:`shoal.router_model.confidence_knots`), else for the shipped router the one fitted
    on five refitted folds (``data/confidence_calibration.json``); empty when it has none and
    its confidence is the raw value."""
    if router.confidence_calibration:
        return router.confidence_calibration
    version, knots = _calibration_knots()
    return knots if router.version == version else ()


def _confidence_map(router: Router) -> Any:
    return _piecewise_map(confidence_knots_of(router))


@functools.lru_cache(maxsize=8)
def _piecewise_map(knots: tuple[tuple[float, float], ...]) -> Any:
    """The calibration map: piecewise linear through the isotonic knots, flat beyond them (a
    map fitted by this shoal starts at raw 0, see :func:`shoal.router_model.with_floor`); the
    identity without knots."""
    if not knots:
        return _identity
    xs = [x for x, _ in knots]

    def calibrate(quality: tuple[float | None, float, str]) -> tuple[float | None, float, str]:
        predicted, raw, source = quality
        if predicted is None:
            return quality
        position = bisect.bisect_left(xs, raw)
        if position == 0:
            value = knots[0][1]
        elif position == len(knots):
            value = knots[-1][1]
        else:
            (x0, y0), (x1, y1) = knots[position - 1], knots[position]
            value = y0 + (y1 - y0) * (raw - x0) / (x1 - x0)
        return predicted, value, source

    return calibrate


def router_argument(router: object) -> Router:
    """The router a ``router`` parameter was given (``route``'s, ``record_outcome``'s): the
    shipped one for None, a loaded file for a path.

    Raises:
        RoutingError: ``router`` is neither a Router nor a path, an empty path, or a path no
            file can have (a NUL, a lone surrogate, longer than the system takes).
        RouterFileError: The file is missing or invalid.
    """
    check_router_argument(router)
    if router is None:
        return load_router()
    if isinstance(router, Router):
        return router
    return load_router(cast("str | os.PathLike[str]", router))


def check_router_argument(router: object) -> None:
    """Refuse a ``router`` argument :func:`router_argument` could not read, without reading it.

    Raises:
        RoutingError: As :func:`router_argument` raises it.
    """
    if router is None or isinstance(router, Router):
        return
    if isinstance(router, str) and not router.strip():
        # An empty path would be read as the current folder and reported as one.
        raise RoutingError("router is an empty path: give the path of a router file, or leave "
                           "it out for the shipped router")
    if isinstance(router, (str, os.PathLike)) and not isinstance(os.fspath(router), bytes):
        check_file_name(os.fspath(router), "router", RoutingError)
        return
    raise RoutingError(
        f"router must be a Router (from load_router or fit_router) or the path of a router "
        f"file, got {type(router).__name__}"
    )


def _checked(check: Any, value: object) -> Any:
    """Run a policy argument check, reporting its complaint as a :class:`RoutingError`."""
    try:
        return check(value)
    except ValueError as error:
        raise RoutingError(str(error)) from None


def _conversation_settings(
    settings: _Settings, prompt: str, history: object, device: object, privacy: object,
) -> tuple[_Settings, PrivacyReport]:
    """Add the history, the device and the privacy scan's verdict to the settings."""
    turns = _checked(check_history, history)
    if device is not None:
        if not isinstance(device, str):
            raise RoutingError(f"device must be a device id (str), got {type(device).__name__}")
        try:
            device = get_device(device).id
        except ValueError as error:
            raise RoutingError(f"device: {error}") from None
    policy = _checked(check_privacy_policy, privacy)
    # check_history accepted it: a list of turns, or None.
    conversation = cast(Sequence[Mapping[str, Any]], history or ())
    try:
        report = privacy_report(prompt, conversation, policy)
    except PrivacyPolicyError as error:
        raise PrivacyBlockedError(str(error)) from None
    texts, names = counted_texts(conversation)
    settings = replace(settings, privacy_local=report.action == "kept_local", device=device,
                       history=turns, history_texts=texts, history_names=names)
    return settings, report


def _check_previous(previous_model: object, catalog: Catalog, labels: _Labels) -> str | None:
    if previous_model is None:
        return None
    if not isinstance(previous_model, str):
        raise RoutingError(
            f"previous_model must be a model id (str), got {type(previous_model).__name__}"
        )
    return _model_name("previous_model", previous_model, catalog, labels)


def _model_name(parameter: str, model: str, catalog: Catalog, labels: _Labels) -> str:
    """The catalog id of ``model``, or the router's spelling of a labelled model the catalog
    lacks but its label rows price."""
    try:
        return catalog.model(model).id
    except ValueError as error:
        found = labels.uncatalogued(model)
        if found is None:
            raise RoutingError(f"{parameter}: {error}") from None
    if found in labels.unpriced:
        raise RoutingError(
            f"{parameter}: {found} is labelled in the router but has no price: the catalog "
            f"does not list it and its label rows gave no cost_usd. {UNPRICED_ADVICE}"
        )
    return found


# How to give a labelled model the catalog lacks a price, said wherever one is missing.
UNPRICED_ADVICE = ("Give it a row in a user catalog file (--prices or SHOAL_PRICES), or fit "
                   "the router again from label rows that carry cost_usd")


def _stick(
    ranked: list[CandidateEstimate], previous: str, margin: float, settings: _Settings,
) -> tuple[list[CandidateEstimate], StickinessReport]:
    """Keep ``previous`` first unless the best candidate beats it by more than ``margin``."""
    best = ranked[0]
    earlier = next((e for e in ranked if e.model == previous), None)
    if earlier is None:
        return ranked, StickinessReport(previous, margin, False, best.model, None,
                                        f"{previous} is not among the candidates")
    floor = settings.min_quality
    meets = floor is None or (earlier.predicted_quality or 0.0) >= floor or (
        (best.predicted_quality or 0.0) < floor
    )
    failure = "" if earlier.eligible else why_ineligible(earlier)
    report = stickiness(best.model, best.objective, previous, earlier.objective,
                        failure, meets, margin)
    if report.stayed and earlier is not best:
        ranked = [earlier, *(e for e in ranked if e is not earlier)]
    return ranked, report


def _settings(catalog: Catalog, labels: _Labels, **arguments: Any) -> _Settings:
    willingness = arguments["willingness_to_pay"]
    if willingness is None:
        willingness = DEFAULT_WILLINGNESS_TO_PAY
    else:
        willingness = _check_willingness_to_pay(willingness)
    min_quality = arguments["min_quality"]
    if min_quality is not None:
        min_quality = _check_number("min_quality", min_quality, low=0.0, high=1.0)
    max_cost = arguments["max_cost_usd"]
    given_cost = real_number(max_cost)
    if given_cost is not None and given_cost < 0:
        # The MCP tool spells "no limit" -1; a script that copies it gets the Python spelling.
        raise RoutingError(f"max_cost_usd must be 0 or more, got {grouped_number(given_cost)}; "
                           "None sets no limit")
    if max_cost is not None:
        max_cost = _check_number("max_cost_usd", max_cost, low=0.0, high=MAX_CALL_COST_USD)
    given_tokens = arguments["expected_output_tokens"]
    output_tokens = whole_number(given_tokens)
    if output_tokens is None or not 0 <= output_tokens <= MAX_OUTPUT_TOKENS:
        shown = (excerpt(given_tokens) if output_tokens is None
                 else grouped_number(output_tokens))
        raise RoutingError(
            f"expected_output_tokens must be an int from 0 to {MAX_OUTPUT_TOKENS:,}, got {shown}"
        )
    if not isinstance(arguments["local_only"], bool):
        raise RoutingError("local_only must be True or False")
    candidates = arguments["candidates"]
    allowed = (None if candidates is None
               else _check_models("candidates", candidates, catalog, labels))
    if allowed is not None and not allowed:
        # An empty list is more likely a filter that left nothing than a wish for every model.
        raise RoutingError("candidates is empty: list at least one model id, or leave "
                           "candidates out (None) to choose among every routable model")
    excluded = frozenset(_check_models("excluded", arguments["excluded"], catalog, labels))
    return _Settings(
        willingness_to_pay=willingness, min_quality=min_quality, max_cost_usd=max_cost,
        local_only=arguments["local_only"], allowed=allowed, excluded=excluded,
        expected_output_tokens=output_tokens,
    )


def failed_constraints(estimate: CandidateEstimate, *, details: bool = False) -> str:
    """Why a candidate is not eligible: ``excluded and breaks local_only, max_cost_usd``, with
    each broken check's numbers in brackets when ``details`` is set.

    The ``allowed`` check fails only for a model the caller excluded, so it reads "excluded":
    named as a broken constraint, "allowed" would read as the opposite.
    """
    failed = [check for check in estimate.constraints if not check.passed]
    reasons = ["excluded"] if any(check.name == "allowed" for check in failed) else []
    broken = [f"{check.name} ({check.detail})" if details else check.name
              for check in failed if check.name != "allowed"]
    if broken:
        reasons.append(f"breaks {', '.join(broken)}")
    return " and ".join(reasons)


def _too_long_for_every_window(
    ranked: Sequence[CandidateEstimate], entries: Mapping[str, ModelEntry], settings: _Settings,
) -> str | None:
    """What to do when every candidate breaks its context window (or input limit), which no
    other relaxed constraint mends: name the largest window and how to cut the prompt to fit
    it. None when some candidate fits its window.

    Listing every candidate's numbers, as the general message does, would say the same thing
    a dozen times, and advise relaxing constraints that cannot help.
    """
    # The candidates the caller's choices leave: an excluded model's window, or a hosted one
    # under local_only or the privacy guard, is no way out however large.
    open_to = [estimate for estimate in ranked if not any(
        check.name in _CHOSEN_AWAY and not check.passed for check in estimate.constraints)]
    if not open_to or not all(_breaks_context_window(estimate) for estimate in open_to):
        return None
    largest = max(open_to, key=lambda estimate: entries[estimate.model].input_limit)
    entry = entries[largest.model]
    what = "the conversation" if settings.history else "the prompt"
    others = len(open_to) - 1
    fewer = (f" ({_count(others, 'other candidate')} {'takes' if others == 1 else 'take'} "
             "fewer)" if others else "")
    # Named as a Python caller calls them; the command line and the MCP server name their own
    # commands and tools for these functions.
    cut = ("cut the prompt to fit: `shoal.split_chunks()` cuts it into parts to send one at a "
           "time, `shoal.truncate()` keeps its start or end"
           + ("; `shoal.trim_chat()` drops the earliest turns of the history"
              if settings.history else ""))
    if largest.input_tokens > entry.input_limit:
        capped = (f" of its {entry.context_window:,}-token window"
                  if entry.input_limit < entry.context_window else "")
        return (f"{what} is larger than the largest candidate context window: {entry.id} takes "
                f"at most {entry.input_limit:,} input tokens{capped}, and {what} is "
                f"{largest.input_tokens:,} tokens{fewer}. C{cut[1:]}")
    # The prompt alone fits: the expected answer takes the rest of the window, and on a hosted
    # model no more than its output limit.
    room = entry.context_window - largest.input_tokens
    if not largest.runs_locally:
        room = min(room, entry.max_output_tokens)
    return (f"{what} and expected output are larger than the largest candidate context window: "
            f"{entry.id}'s holds {entry.context_window:,} tokens, and {what} is "
            f"{largest.input_tokens:,} tokens with {largest.output_tokens:,} expected output "
            f"tokens{fewer}. Lower expected_output_tokens to at most {room:,}, or {cut}")


# The checks a candidate fails by the caller's choice rather than by the prompt's size.
_CHOSEN_AWAY = ("allowed", "local_only", "privacy")


def _breaks_context_window(estimate: CandidateEstimate) -> bool:
    return any(check.name == "context_window" and not check.passed
               for check in estimate.constraints)


def _no_model_message(ranked: Sequence[CandidateEstimate]) -> str:
    reasons = [f"{estimate.model}: {failed_constraints(estimate, details=True)}"
               for estimate in ranked[:12]]
    more = f" and {len(ranked) - 12} more" if len(ranked) > 12 else ""
    relax = "candidates, excluded, local_only, max_cost_usd or expected_output_tokens"
    if any(c.name == "hardware_fit" and not c.passed for e in ranked for c in e.constraints):
        # The local models did not fit the device: another device is as much a way out.
        relax = ("candidates, excluded, local_only, max_cost_usd, expected_output_tokens or "
                 "device (one with more memory, or none)")
    message = (f"no candidate passes the constraints; relax {relax}. " + "; ".join(reasons)
               + more)
    if any(e.estimate_source == "none" for e in ranked):
        message += (". A model with no labels in the router and no catalog quality prior "
                    "cannot be estimated: give it a `quality` (0-1) in a user catalog file "
                    "(--prices or SHOAL_PRICES)")
    return message


def _device_notes(ranked: Sequence[CandidateEstimate], settings: _Settings) -> list[str]:
    """What the device check covered: which local candidates fit the device, that none runs
    locally so nothing was checked, or that local candidates ran unchecked for want of one."""
    local = [estimate for estimate in ranked if estimate.runs_locally]
    if settings.device is None:
        if not local:
            return []
        return [f"{HARDWARE_FIT_NOTE}: not checked, as no device was given: a local candidate "
                "may need more memory than the machine it runs on has; give device to drop "
                "those that do not fit"]
    if not local:
        return [f"{HARDWARE_FIT_NOTE}: nothing checked on {settings.device}: it applies to "
                "candidates run locally (under local_only, or when privacy keeps a task with "
                "private data local), and none is; every candidate is hosted"]
    fitting = [estimate.model for estimate in local
               if any(check.name == "hardware_fit" and check.passed
                      for check in estimate.constraints)]
    shown = ", ".join(fitting[:DEVICE_FITS_SHOWN])
    if len(fitting) > DEVICE_FITS_SHOWN:
        shown += f" and {len(fitting) - DEVICE_FITS_SHOWN} more"
    return [f"{HARDWARE_FIT_NOTE}: {len(fitting)} of {_count(len(local), 'local candidate')} "
            f"fit {settings.device} with {LOCAL_QUANTISATION} weights, the conversation plus "
            f"the expected output in the KV cache{': ' + shown if fitting else ''}"]


def _plural(count: int, noun: str) -> str:
    return noun if count == 1 else f"{noun}s"


def _count(count: int, noun: str) -> str:
    """``1 candidate``, ``3 candidates``."""
    return f"{count} {_plural(count, noun)}"


# Openings of the notes a decision's text repeats (see shoal.render.routing_decision): each
# changes how its figures read.
NO_LABELLED_CANDIDATE = "no candidate has labels in router"
RAW_CONFIDENCE = "confidence is the raw value"
# Ends the note on a labelled model the catalog lacks, whose window nothing bounds.
WINDOW_NOT_CHECKED = "its context window is not checked"
# Opens the note on what a device check covered; the text repeats it when a device was given.
HARDWARE_FIT_NOTE = "hardware_fit"
DEVICE_FITS_SHOWN = 5


def _label_notes(
    router: Router, labels: _Labels, table: _CandidateTable, settings: _Settings,
) -> list[str]:
    """Which labels the estimates rest on, what prices a model the catalog lacks, and what the
    confidence means for this router."""
    notes = []
    if not any(candidate.source == _LABELLED for candidate in table.candidates):
        shown = ", ".join(router.models[:5])
        if len(router.models) > 5:
            shown += f" and {len(router.models) - 5} more"
        named = "; name them in candidates to use them" if settings.allowed is not None else ""
        notes.append(f"{NO_LABELLED_CANDIDATE} {router.name}: none of its labelled models "
                     f"({shown}) is a candidate, so every estimate comes from a catalog "
                     f"quality prior{named}")
    for candidate in table.candidates:
        if candidate.observed_cost_usd is not None:
            notes.append(f"{candidate.entry.id} is not in the catalog: priced at "
                         f"{format_usd(candidate.observed_cost_usd)} per call, the mean "
                         "cost_usd of its label rows, whatever the prompt's length; "
                         f"{WINDOW_NOT_CHECKED}")
    if labels.unpriced and settings.allowed is None:
        listed = ", ".join(labels.unpriced)
        them = "it" if len(labels.unpriced) == 1 else "them"
        notes.append(f"not a candidate: {listed}, labelled in the router, but the catalog does "
                     f"not list {them} and the label rows gave no cost_usd. {UNPRICED_ADVICE}")
    if not confidence_knots_of(router):
        notes.append(
            f"{RAW_CONFIDENCE} for router {router.name}: neighbour evidence times their mean "
            "similarity, not the expected agreement 1 - |observed - predicted| that a "
            f"calibrated router reports; it was fitted without a confidence map (fewer than "
            f"{MIN_CONFIDENCE_PAIRS} labelled scores or {MIN_CONFIDENCE_PROMPTS} labelled "
            "prompts, --no-calibration, or an older shoal)"
        )
    return notes


def _notes(router: Router, catalog: Catalog, ranked: Sequence[CandidateEstimate],
           met: bool | None, settings: _Settings) -> list[str]:
    notes = ["prompt tokens: exact for models with a public encoding, else estimated from "
             "o200k_base by the catalog token_ratio"]
    if any(e.estimate_source == _PRIOR for e in ranked):
        notes.append(_prior_map(_labels(router, catalog).anchors).describe())
    if met is False:
        notes.append("min_quality not met by any eligible candidate: returning the best available")
    if settings.local_only or settings.privacy_local:
        notes.append("local runs: costs are 0 because open-weight models run locally")
    notes.extend(_device_notes(ranked, settings))
    if settings.history:
        notes.append(f"conversation: {_count(len(settings.history), 'earlier turn')} counted "
                     "for the context window and cost; the embedding adds the last turns as "
                     "context")
    return notes
