"""Savings report: what the ledger's calls cost against always using one strong baseline model.

Each recorded call is priced twice: as recorded (the rates stored with the row) and as if the
same tokens (input, cached, cache-write, output, reasoning; one call each, so long-context tiers
apply per call) had gone to the baseline model at today's catalog prices, priced as ``shoal
cost`` prices a call and rounded to whole nano-dollars by the ledger's own rounding
(:func:`shoal.ledger.call_cost_nanousd`), so sums and savings are exact. A call made on the
baseline model is the baseline: it counts at its recorded cost on both sides, so a scope that
used only the baseline saves exactly $0, whatever prices it was recorded at. When a call's
recorded prices are not the ones the report would charge for its model today (an older catalog,
another price file), a note says how many calls and which models. The baseline is the model the
caller names, else ``SHOAL_BASELINE_MODEL``, else the dearest model used in the selected calls:
the one that, as the baseline, would have cost most for all their tokens (each call priced on
its own, as above; ties: first id in alphabetical order). With that default a scope that used
one model shows no savings, which is the honest answer.

What the baseline's price rests on is noted once per kind, whatever the number of calls: that
the catalog lists it as retired, how many calls pass its input limit, its context window or its
``max_output_tokens`` (with the largest), how many are priced at its long-context rates, and
the tokens priced at rates it does not list.

The series buckets spend by calendar ``hour``, ``day``, ``week`` or ``month`` in UTC (by default
the finest of these that gives at most 60 buckets over the span).

A report may list only the scopes and models of largest spend (``max_scopes``, ``max_models``):
a ledger can hold any number of scopes, and a reader (the terminal, a model's context) wants the
ones that matter. What the rest add up to is summed from the same whole nano-dollars as the
totals, so a short report's lines add up to its totals exactly; the totals cover every call.
"""

from __future__ import annotations

import datetime
import html
import logging
import math
import os
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from shoal.catalog import Catalog, ModelEntry, configured_catalog, retirement_note
from shoal.cost import (
    CONTEXT_WINDOW,
    INPUT_LIMIT,
    MAX_OUTPUT_TOKENS,
    CostEstimate,
    check_catalog,
    check_count,
    format_usd,
    limits_passed,
    long_context_applies,
    price_basis,
    price_usage,
)
from shoal.errors import InputError
from shoal.excerpts import excerpt
from shoal.ledger import (
    NANO_PER_USD,
    PERIODS,
    StoredUsage,
    call_cost_nanousd,
    check_scope,
    iso,
    no_ledger_note,
    period_bounds,
    read_usage,
    to_epoch,
    unmade_ledger,
)

logger = logging.getLogger(__name__)

BASELINE_ENVIRONMENT_VARIABLE = "SHOAL_BASELINE_MODEL"
MAX_AUTO_BUCKETS = 60
MAX_BUCKETS = 2_000
# Scopes and models a short report lists (the command line's text, the MCP tool's answer).
SHORT_LIST = 20
DEAREST_RULE = "dearest model used: highest price for all the reported tokens"


@dataclass(frozen=True)
class SpendPoint:
    """Spend in one calendar bucket.

    Attributes:
        start: Start of the bucket, ISO 8601 UTC.
        records: Calls recorded in it.
        spent_usd: What they cost as recorded.
        baseline_usd: What they would have cost on the baseline model.
    """

    start: str
    records: int
    spent_usd: float
    baseline_usd: float


@dataclass(frozen=True)
class ScopeSavings:
    """One scope's spend against the baseline.

    Attributes:
        scope: The scope.
        records: Calls recorded.
        routed_records: Calls recorded with a route_task decision id (see
            ``SavingsReport.routed_records``).
        spent_usd: What they cost.
        baseline_usd: What they would have cost on the baseline.
        savings_usd: ``baseline_usd - spent_usd`` (negative when routing cost more).
        savings_fraction: Savings over the baseline cost, to 6 decimals, or None when that is 0.
    """

    scope: str
    records: int
    routed_records: int
    spent_usd: float
    baseline_usd: float
    savings_usd: float
    savings_fraction: float | None


@dataclass(frozen=True)
class OtherScopes:
    """What the scopes a report does not list add up to.

    Attributes:
        records: Their calls.
        routed_records: Of which recorded with a route_task decision id.
        spent_usd: What the calls cost.
        baseline_usd: What they would have cost on the baseline.
        savings_usd: ``baseline_usd - spent_usd``.
        savings_fraction: Savings over the baseline cost, to 6 decimals, or None when that is 0.
    """

    records: int
    routed_records: int
    spent_usd: float
    baseline_usd: float
    savings_usd: float
    savings_fraction: float | None


@dataclass(frozen=True)
class ModelSpend:
    """Spend on one model; each token count is the sum of the records' field of that name.

    Attributes:
        model: Catalog id.
        records: Calls.
        input_tokens: Prompt tokens, cached parts included.
        output_tokens: Visible output tokens.
        cached_input_tokens: Prompt tokens read from the cache.
        cache_write_tokens: Prompt tokens written to the cache.
        reasoning_tokens: Hidden reasoning tokens.
        spent_usd: What the calls cost.
    """

    model: str
    records: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    spent_usd: float


@dataclass(frozen=True)
class OtherModels:
    """What the models a report does not list add up to; each token count is the sum of the
    records' field of that name.

    Attributes:
        records: Their calls.
        input_tokens: Prompt tokens, cached parts included.
        output_tokens: Visible output tokens.
        cached_input_tokens: Prompt tokens read from the cache.
        cache_write_tokens: Prompt tokens written to the cache.
        reasoning_tokens: Hidden reasoning tokens.
        spent_usd: What the calls cost.
    """

    records: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    spent_usd: float


@dataclass(frozen=True)
class SavingsReport:
    """Spend with routing against the baseline model, per scope, per model and over time.

    Attributes:
        scope: The scope reported, or None for all scopes.
        since: Start of the period reported (inclusive, ISO 8601 UTC), or None.
        until: End of the period reported (exclusive), or None.
        baseline: The baseline model's catalog id, or None when there are no records.
        baseline_rule: How the baseline was chosen.
        baseline_prices_as_of: Date of the baseline's prices (its catalog row's ``as_of``, which
            a price file may set), or None without a baseline.
        baseline_price_file: Name of the user price file the baseline's prices come from, or
            None when they are the shipped catalog's.
        records: Calls reported.
        routed_records: Of which recorded with a route_task decision id: the caller says
            the call followed that decision. Decisions are not stored (an id is a hash of the
            decision's inputs), so the ledger checks the id's form, not that it was made.
        spent_usd: What the calls cost as recorded.
        baseline_usd: What they would have cost on the baseline.
        savings_usd: ``baseline_usd - spent_usd``.
        savings_fraction: Savings over the baseline cost, to 6 decimals, or None when that is 0.
        by_scope: One entry per scope, by spend, largest first (the first ``max_scopes``).
        scopes_omitted: Scopes left out of ``by_scope``.
        other_scopes: What those scopes add up to, or None when every scope is listed.
        by_model: One entry per model, by spend, largest first (the first ``max_models``).
        models_omitted: Models left out of ``by_model``.
        other_models: What those models add up to, or None when every model is listed.
        bucket: The series' bucket: ``hour``, ``day``, ``week`` or ``month``.
        series: Spend per bucket from the first call's bucket to the last's, empty ones included.
        catalog_date: Date of the catalog the baseline is priced from.
        notes: Caveats, one per kind whatever the number of calls: a retired baseline, calls
            past its limits or priced at its long-context rates or at rates it does not list,
            calls recorded at other prices.
    """

    scope: str | None
    since: str | None
    until: str | None
    baseline: str | None
    baseline_rule: str
    baseline_prices_as_of: str | None
    baseline_price_file: str | None
    records: int
    routed_records: int
    spent_usd: float
    baseline_usd: float
    savings_usd: float
    savings_fraction: float | None
    by_scope: tuple[ScopeSavings, ...]
    scopes_omitted: int
    other_scopes: OtherScopes | None
    by_model: tuple[ModelSpend, ...]
    models_omitted: int
    other_models: OtherModels | None
    bucket: str
    series: tuple[SpendPoint, ...]
    catalog_date: str
    notes: tuple[str, ...]


def _baseline_from_environment(model: str, catalog: Catalog) -> str:
    """The catalog id of the model ``SHOAL_BASELINE_MODEL`` names. The caller named no baseline,
    so an error names the variable, or it would send them looking for an argument they never
    gave."""
    try:
        return catalog.model(model).id
    except ValueError as error:
        error.args = (f"{BASELINE_ENVIRONMENT_VARIABLE}: {error}",)
        raise


_TokenCounts = tuple[int, int, int, int, int]


def _token_counts(row: StoredUsage) -> _TokenCounts:
    return (row.input_tokens, row.output_tokens, row.cached_input_tokens,
            row.cache_write_tokens, row.reasoning_tokens)


def _baseline_costs(rows: Sequence[StoredUsage], baseline: str, catalog: Catalog) -> list[int]:
    """What each row's tokens cost on ``baseline``, in whole nano-dollars as the ledger records a
    call.

    A call made on the baseline is the baseline: its recorded cost, not a repricing that would
    count a price change (another catalog, another price file) as a saving.
    """
    prices: dict[_TokenCounts, int] = {}  # calls of the same tokens cost the same
    costs = []
    for row in rows:
        if row.model == baseline:
            costs.append(row.cost_nanousd)
            continue
        counts = _token_counts(row)
        if counts not in prices:
            prices[counts] = call_cost_nanousd(_priced(row, baseline, catalog))
        costs.append(prices[counts])
    return costs


def _priced(row: StoredUsage, model: str, catalog: Catalog) -> CostEstimate:
    # A ledger made before calls of no tokens were refused may hold one; it cost nothing.
    return price_usage(
        model, input_tokens=row.input_tokens, output_tokens=row.output_tokens,
        cached_input_tokens=row.cached_input_tokens, cache_write_tokens=row.cache_write_tokens,
        reasoning_tokens=row.reasoning_tokens, catalog=catalog,
    )


def _recorded_at_other_prices(rows: Sequence[StoredUsage],
                              catalog: Catalog) -> list[StoredUsage]:
    """The rows whose recorded cost is not what ``catalog`` charges their model for their tokens
    (or whose model it no longer has): their spend and the baseline rest on different prices."""
    different = []
    for row in rows:
        if row.model not in catalog:
            different.append(row)
        elif call_cost_nanousd(_priced(row, row.model, catalog)) != row.cost_nanousd:
            different.append(row)
    return different


def _other_prices_note(rows: Sequence[StoredUsage], catalog: Catalog) -> str:
    """Which calls were recorded at other prices than the report's, and at which."""
    models = sorted({row.model for row in rows})
    recorded = sorted({price_basis(row.prices_as_of, row.price_file) for row in rows})
    today = sorted({price_basis(catalog.model(model).as_of, catalog.price_files.get(model))
                    for model in models if model in catalog})
    calls = "1 call" if len(rows) == 1 else f"{len(rows):,} calls"
    were = "was" if len(rows) == 1 else "were"
    now = ", ".join(today) or "none: not in its catalog"
    return (f"{calls} on {', '.join(models)} {were} recorded at other prices than this "
            f"report's (recorded: {', '.join(recorded)}; this report: {now}); their spend counts "
            "as recorded, and the baseline is priced at this report's prices")


def _dearest_model(rows: Sequence[StoredUsage], catalog: Catalog) -> tuple[str, list[int]]:
    """The model used in ``rows`` that, as the baseline, would have cost most for all of them,
    and what each row costs on it (see :func:`_baseline_costs`)."""
    dearest: tuple[str, list[int], int] | None = None
    for model in sorted({row.model for row in rows}):
        if model not in catalog:
            continue  # a model recorded under a user price file since removed
        costs = _baseline_costs(rows, model, catalog)
        total = sum(costs)
        if dearest is None or total > dearest[2]:
            dearest = (model, costs, total)
    if dearest is None:
        raise InputError("none of the recorded models is in the catalog; name a baseline model")
    return dearest[0], dearest[1]


def _passed_over_note(models: Sequence[str]) -> str:
    """Which recorded models the dearest-model baseline could not weigh: today's catalog does
    not price them (they came from a price file not given now), so one may be the dearest."""
    named = ", ".join(models)
    return (f"the baseline passes over {named}, which this report's prices do not cover (recorded "
            "with a price file): give that file with --prices (SHOAL_PRICES) to weigh "
            f"{'it' if len(models) == 1 else 'them'} too, or name a baseline")


LONG_CONTEXT = "long_context"
CACHED_INPUT_AS_INPUT = "cached_input_as_input"
CACHE_WRITE_AS_INPUT = "cache_write_as_input"
REASONING_ON_OTHER_MODEL = "reasoning_on_other_model"


@dataclass
class _Tally:
    """The calls one kind of baseline note concerns: how many, and the most tokens of the kind
    the note names that one of them has."""

    calls: int = 0
    largest: int = 0

    def add(self, tokens: int) -> None:
        self.calls += 1
        self.largest = max(self.largest, tokens)


def _baseline_notes(rows: Sequence[StoredUsage], entry: ModelEntry) -> list[str]:
    """What the baseline's price of ``rows`` rests on, one note per kind: the ledger may hold
    any number of calls, and a note per call (or per distinct token count) would bury the
    report. Calls made on the baseline count as recorded, so no note concerns them."""
    tallies: dict[str, _Tally] = defaultdict(_Tally)
    for row in rows:
        if row.model != entry.id:
            for kind, tokens in _baseline_findings(row, entry):
                tallies[kind].add(tokens)
    retired = retirement_note(entry)
    notes = [retired] if retired is not None else []
    notes.extend(text(entry, tallies[kind]) for kind, text in _BASELINE_NOTE_TEXTS.items()
                 if kind in tallies)
    return notes


def _baseline_findings(row: StoredUsage, entry: ModelEntry) -> list[tuple[str, int]]:
    """Each kind of note ``row`` priced on ``entry`` gets (as ``shoal cost`` notes it), with the
    tokens the note measures."""
    output = row.output_tokens + row.reasoning_tokens
    measured = {INPUT_LIMIT: row.input_tokens, CONTEXT_WINDOW: row.input_tokens + output,
                MAX_OUTPUT_TOKENS: output}
    findings = [(limit, measured[limit]) for limit in
                limits_passed(entry, row.input_tokens, row.output_tokens, row.reasoning_tokens)]
    if long_context_applies(entry, row.input_tokens):
        findings.append((LONG_CONTEXT, row.input_tokens))
    if row.cached_input_tokens and entry.cached_input_per_mtok is None:
        findings.append((CACHED_INPUT_AS_INPUT, row.cached_input_tokens))
    if row.cache_write_tokens and entry.cache_write_per_mtok is None:
        findings.append((CACHE_WRITE_AS_INPUT, row.cache_write_tokens))
    if row.reasoning_tokens and not entry.reasoning:
        findings.append((REASONING_ON_OTHER_MODEL, row.reasoning_tokens))
    return findings


def _calls(tally: _Tally) -> str:
    return "1 call" if tally.calls == 1 else f"{tally.calls:,} calls"


def _calls_exceed(tally: _Tally) -> str:
    return f"{_calls(tally)} {'exceeds' if tally.calls == 1 else 'exceed'}"


def _largest(tally: _Tally) -> str:
    """``it has 300,000`` for one call, ``the largest has 300,000`` for more."""
    return f"{'it' if tally.calls == 1 else 'the largest'} has {tally.largest:,}"


def _them(tally: _Tally) -> str:
    return "it" if tally.calls == 1 else "them"


def _input_limit_note(entry: ModelEntry, tally: _Tally) -> str:
    return (f"{_calls_exceed(tally)} {entry.id}'s input limit of {entry.input_limit:,} tokens "
            f"({_largest(tally)}); the API would reject {_them(tally)}")


def _context_window_note(entry: ModelEntry, tally: _Tally) -> str:
    return (f"{_calls_exceed(tally)} {entry.id}'s context window of {entry.context_window:,} "
            f"tokens, which holds prompt and output together ({_largest(tally)}); the API would "
            f"reject {_them(tally)} or cut the output short")


def _max_output_note(entry: ModelEntry, tally: _Tally) -> str:
    return (f"{_calls_exceed(tally)} {entry.id}'s max_output_tokens of "
            f"{entry.max_output_tokens:,} with output and reasoning ({_largest(tally)})")


def _long_context_note(entry: ModelEntry, tally: _Tally) -> str:
    are, prompts = ("is", "its prompt passes") if tally.calls == 1 else ("are",
                                                                        "their prompts pass")
    return (f"{_calls(tally)} {are} priced at {entry.id}'s long-context rates: {prompts} "
            f"{entry.long_context_threshold:,} input tokens ({_largest(tally)})")


def _cached_input_note(entry: ModelEntry, tally: _Tally) -> str:
    return (f"{entry.id} lists no cached-input rate; the cached tokens of {_calls(tally)} are "
            "priced as input")


def _cache_write_note(entry: ModelEntry, tally: _Tally) -> str:
    return (f"{entry.id} lists no cache-write rate; the cache writes of {_calls(tally)} are "
            "priced as input")


def _reasoning_note(entry: ModelEntry, tally: _Tally) -> str:
    return (f"{entry.id} is not listed as a reasoning model; the reasoning tokens of "
            f"{_calls(tally)} are priced as output anyway")


# Each kind of baseline note and its text, in the order the report gives them.
_BASELINE_NOTE_TEXTS = {
    INPUT_LIMIT: _input_limit_note,
    CONTEXT_WINDOW: _context_window_note,
    MAX_OUTPUT_TOKENS: _max_output_note,
    LONG_CONTEXT: _long_context_note,
    CACHED_INPUT_AS_INPUT: _cached_input_note,
    CACHE_WRITE_AS_INPUT: _cache_write_note,
    REASONING_ON_OTHER_MODEL: _reasoning_note,
}


def _pick_bucket(first: float, last: float) -> str:
    for period in PERIODS:
        if _bucket_starts(period, first, last, MAX_AUTO_BUCKETS + 1) is not None:
            return period
    return "month"


def _bucket_starts(period: str, first: float, last: float, limit: int) -> list[float] | None:
    """Bucket starts from ``first``'s bucket to ``last``'s, or None past ``limit`` buckets."""
    starts = []
    start, _ = period_bounds(period, first)
    while start <= last:
        starts.append(start)
        if len(starts) > limit:
            return None
        start = period_bounds(period, start)[1]
    return starts


def savings_report(
    scope: str | None = None,
    *,
    since: datetime.datetime | float | str | None = None,
    until: datetime.datetime | float | str | None = None,
    baseline: str | None = None,
    bucket: str | None = None,
    ledger: str | Path | None = None,
    catalog: Catalog | None = None,
    max_scopes: int | None = None,
    max_models: int | None = None,
) -> SavingsReport:
    """Spend against always using a baseline model, for one scope (or all) over a period.

    Args:
        scope: The scope to report; None for every scope.
        since: Report calls from this moment on (datetime, epoch seconds or ISO 8601 date or
            time); None from the first.
        until: Report calls before this moment; None to the last.
        baseline: Model to compare with; None: ``SHOAL_BASELINE_MODEL``, else the dearest model
            used (see the module docstring).
        bucket: ``hour``, ``day``, ``week`` or ``month`` for the series; None picks one.
        ledger: Ledger location; the default ledger when None.
        catalog: Catalog to price the baseline from; the configured one when None (the
            shipped catalog with ``SHOAL_PRICES`` applied).
        max_scopes: List at most this many scopes, the largest spend first, and sum the rest
            in ``other_scopes``; None lists every scope.
        max_models: The same for models (``by_model``, ``other_models``).

    Returns:
        The report. A SQLite ledger not made yet (see :func:`shoal.ledger.unmade_ledger`) reads
        as empty, with a note that says so, and is left unmade.

    Raises:
        UnknownModelError: The baseline is not in the catalog (or empty).
        TypeError: ``baseline`` is not a string, ``catalog`` not a
            :class:`~shoal.catalog.Catalog`, or ``max_scopes`` or ``max_models`` not a whole
            number or None.
        ValueError: A malformed scope, time or bucket, or a negative ``max_scopes`` or
            ``max_models``.
    """
    _check_listed(max_scopes=max_scopes, max_models=max_models)  # before the ledger is read
    tally = savings_tally(scope, since=since, until=until, baseline=baseline, bucket=bucket,
                          ledger=ledger, catalog=catalog)
    return tally.report(max_scopes=max_scopes, max_models=max_models)


@dataclass(frozen=True)
class SavingsTally:
    """A savings report that lists every scope and model, with their amounts in whole
    nano-dollars: a shorter report sums the ones it leaves out exactly, without reading the
    ledger or pricing its calls again.

    Attributes:
        full: The report of every scope and model.
        scope_nanousd: Spent and baseline of each of ``full.by_scope``, in order.
        model_nanousd: Spent of each of ``full.by_model``, in order.
    """

    full: SavingsReport
    scope_nanousd: tuple[tuple[int, int], ...]
    model_nanousd: tuple[int, ...]

    def report(
        self, *, max_scopes: int | None = None, max_models: int | None = None
    ) -> SavingsReport:
        """The report listing at most ``max_scopes`` scopes and ``max_models`` models (None:
        every one), the largest spend first, and what the rest add up to.

        Raises:
            TypeError, ValueError: ``max_scopes`` or ``max_models`` is not None or a whole
                number from 0.
        """
        max_scopes, max_models = _check_listed(max_scopes=max_scopes, max_models=max_models)
        scopes, models = self.full.by_scope, self.full.by_model
        listed_scopes = len(scopes) if max_scopes is None else min(max_scopes, len(scopes))
        listed_models = len(models) if max_models is None else min(max_models, len(models))
        return replace(
            self.full,
            by_scope=scopes[:listed_scopes],
            scopes_omitted=len(scopes) - listed_scopes,
            other_scopes=_other_scopes(scopes[listed_scopes:],
                                       self.scope_nanousd[listed_scopes:]),
            by_model=models[:listed_models],
            models_omitted=len(models) - listed_models,
            other_models=_other_models(models[listed_models:],
                                       self.model_nanousd[listed_models:]),
        )


def _check_listed(
    *, max_scopes: int | None, max_models: int | None
) -> tuple[int | None, int | None]:
    """``max_scopes`` and ``max_models``, each None or a whole number from 0 (as an int)."""
    return (None if max_scopes is None else check_count("max_scopes", max_scopes, sys.maxsize),
            None if max_models is None else check_count("max_models", max_models, sys.maxsize))


def savings_tally(
    scope: str | None = None,
    *,
    since: datetime.datetime | float | str | None = None,
    until: datetime.datetime | float | str | None = None,
    baseline: str | None = None,
    bucket: str | None = None,
    ledger: str | Path | None = None,
    catalog: Catalog | None = None,
) -> SavingsTally:
    """The calls :func:`savings_report` reports, priced and summed once, for reports that list
    as many scopes and models as a reader has room for. Arguments and errors as
    :func:`savings_report`'s."""
    if bucket is not None and bucket not in PERIODS:
        raise InputError(f"bucket must be one of {', '.join(PERIODS)} or None, got "
                         f"{excerpt(bucket)}")
    check_catalog(catalog)
    catalog = catalog if catalog is not None else configured_catalog()
    if baseline is not None:
        # Looked up now, before the ledger is read, and as compare_costs looks it up: "" and
        # False name no model, where taken by their truth they would mean "no baseline".
        catalog.model(baseline)
    start, end = to_epoch(since, "since"), to_epoch(until, "until")
    if start is not None and end is not None and end <= start:
        raise InputError("until must be later than since")
    notes: list[str] = []
    # A ledger not made yet has nothing in it; opening it to find that out would make it.
    unmade = unmade_ledger(ledger)
    if unmade is None:
        rows, ledger_notes = read_usage(scope, since=start, until=end, ledger=ledger)
        notes.extend(ledger_notes)
    else:
        if scope is not None:
            check_scope(scope)
        rows = []
        notes.append(no_ledger_note(unmade))

    baseline_id, rule, baseline_costs = _choose_baseline(baseline, rows, catalog)
    if baseline_id is not None and rows:
        notes.extend(_baseline_notes(rows, catalog.model(baseline_id)))
    if rule == DEAREST_RULE:
        passed_over = sorted({row.model for row in rows if row.model not in catalog})
        if passed_over:
            notes.append(_passed_over_note(passed_over))
    repriced = _recorded_at_other_prices(rows, catalog)
    if repriced:
        notes.append(_other_prices_note(repriced, catalog))

    spent = sum(row.cost_nanousd for row in rows)
    total_baseline = sum(baseline_costs)
    chosen_bucket = bucket or (_pick_bucket(rows[0].recorded_at, rows[-1].recorded_at)
                               if rows else "day")
    by_scope, scope_nanousd = _by_scope(rows, baseline_costs)
    by_model, model_nanousd = _by_model(rows)
    full = SavingsReport(
        scope=scope, since=None if start is None else iso(start),
        until=None if end is None else iso(end), baseline=baseline_id, baseline_rule=rule,
        baseline_prices_as_of=catalog.model(baseline_id).as_of if baseline_id else None,
        baseline_price_file=catalog.price_files.get(baseline_id) if baseline_id else None,
        records=len(rows), routed_records=sum(row.decision_id is not None for row in rows),
        spent_usd=spent / NANO_PER_USD, baseline_usd=total_baseline / NANO_PER_USD,
        savings_usd=(total_baseline - spent) / NANO_PER_USD,
        savings_fraction=_fraction(total_baseline, spent),
        by_scope=by_scope, scopes_omitted=0, other_scopes=None,
        by_model=by_model, models_omitted=0, other_models=None,
        bucket=chosen_bucket, series=_series(rows, baseline_costs, chosen_bucket),
        catalog_date=catalog.catalog_date, notes=tuple(notes),
    )
    return SavingsTally(full=full, scope_nanousd=scope_nanousd, model_nanousd=model_nanousd)


def _choose_baseline(
    named: str | None, rows: Sequence[StoredUsage], catalog: Catalog
) -> tuple[str | None, str, list[int]]:
    """The baseline's catalog id (None without one), the rule that chose it, and what each row
    costs on it (see :func:`_baseline_costs`)."""
    from_environment = os.environ.get(BASELINE_ENVIRONMENT_VARIABLE, "").strip()
    if named is not None:
        baseline_id, rule = catalog.model(named).id, "named"
    elif from_environment:
        baseline_id = _baseline_from_environment(from_environment, catalog)
        rule = f"from {BASELINE_ENVIRONMENT_VARIABLE}"
    elif rows:
        # Choosing the dearest priced every row on each model used, this one among them.
        dearest, costs = _dearest_model(rows, catalog)
        return dearest, DEAREST_RULE, costs
    else:
        return None, "no records", []
    return baseline_id, rule, _baseline_costs(rows, baseline_id, catalog)


def _fraction(baseline_nano: int, spent_nano: int) -> float | None:
    if baseline_nano == 0:
        return None
    # Six decimals, as compare_costs gives its fractions: 0.417778, not 0.4177777777777778.
    return round((baseline_nano - spent_nano) / baseline_nano, 6)


def _by_scope(
    rows: Sequence[StoredUsage], baseline_costs: Sequence[int]
) -> tuple[tuple[ScopeSavings, ...], tuple[tuple[int, int], ...]]:
    """Each scope's savings, the largest spend first, and its spent and baseline in
    nano-dollars, in the same order."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        groups[row.scope].append(index)
    tallied = []
    for scope, indices in groups.items():
        spent = sum(rows[i].cost_nanousd for i in indices)
        baseline = sum(baseline_costs[i] for i in indices)
        tallied.append((ScopeSavings(
            scope=scope, records=len(indices),
            routed_records=sum(rows[i].decision_id is not None for i in indices),
            spent_usd=spent / NANO_PER_USD, baseline_usd=baseline / NANO_PER_USD,
            savings_usd=(baseline - spent) / NANO_PER_USD,
            savings_fraction=_fraction(baseline, spent),
        ), (spent, baseline)))
    tallied.sort(key=lambda item: (-item[1][0], item[0].scope))
    return tuple(item[0] for item in tallied), tuple(item[1] for item in tallied)


def _other_scopes(
    scopes: Sequence[ScopeSavings], nanousd: Sequence[tuple[int, int]]
) -> OtherScopes | None:
    if not scopes:
        return None
    spent = sum(amounts[0] for amounts in nanousd)
    baseline = sum(amounts[1] for amounts in nanousd)
    return OtherScopes(
        records=sum(row.records for row in scopes),
        routed_records=sum(row.routed_records for row in scopes),
        spent_usd=spent / NANO_PER_USD, baseline_usd=baseline / NANO_PER_USD,
        savings_usd=(baseline - spent) / NANO_PER_USD, savings_fraction=_fraction(baseline, spent),
    )


def _by_model(
    rows: Sequence[StoredUsage],
) -> tuple[tuple[ModelSpend, ...], tuple[int, ...]]:
    """Each model's spend, the largest first, and that spend in nano-dollars, in the same
    order."""
    groups: dict[str, list[StoredUsage]] = defaultdict(list)
    for row in rows:
        groups[row.model].append(row)
    tallied = []
    for model, members in groups.items():
        spent = sum(row.cost_nanousd for row in members)
        tallied.append((ModelSpend(
            model=model, records=len(members),
            input_tokens=sum(row.input_tokens for row in members),
            output_tokens=sum(row.output_tokens for row in members),
            cached_input_tokens=sum(row.cached_input_tokens for row in members),
            cache_write_tokens=sum(row.cache_write_tokens for row in members),
            reasoning_tokens=sum(row.reasoning_tokens for row in members),
            spent_usd=spent / NANO_PER_USD,
        ), spent))
    tallied.sort(key=lambda item: (-item[1], item[0].model))
    return tuple(item[0] for item in tallied), tuple(item[1] for item in tallied)


def _other_models(models: Sequence[ModelSpend], nanousd: Sequence[int]) -> OtherModels | None:
    if not models:
        return None
    return OtherModels(
        records=sum(row.records for row in models),
        input_tokens=sum(row.input_tokens for row in models),
        output_tokens=sum(row.output_tokens for row in models),
        cached_input_tokens=sum(row.cached_input_tokens for row in models),
        cache_write_tokens=sum(row.cache_write_tokens for row in models),
        reasoning_tokens=sum(row.reasoning_tokens for row in models),
        spent_usd=sum(nanousd) / NANO_PER_USD,
    )


def _series(rows: Sequence[StoredUsage], baseline_costs: Sequence[int],
            bucket: str) -> tuple[SpendPoint, ...]:
    if not rows:
        return ()
    starts = _bucket_starts(bucket, rows[0].recorded_at, rows[-1].recorded_at, MAX_BUCKETS)
    if starts is None:
        raise InputError(f"more than {MAX_BUCKETS:,} {bucket}s in the period; choose a coarser "
                         "bucket or a shorter period")
    position = {start: index for index, start in enumerate(starts)}
    records = [0] * len(starts)
    spent = [0] * len(starts)
    baseline = [0] * len(starts)
    for row, nano in zip(rows, baseline_costs, strict=True):
        index = position[period_bounds(bucket, row.recorded_at)[0]]
        records[index] += 1
        spent[index] += row.cost_nanousd
        baseline[index] += nano
    return tuple(
        SpendPoint(start=iso(start), records=records[i], spent_usd=spent[i] / NANO_PER_USD,
                   baseline_usd=baseline[i] / NANO_PER_USD)
        for i, start in enumerate(starts)
    )


# ---- charts -----------------------------------------------------------------------------------


def _label(start: str, bucket: str) -> str:
    """A bucket's start as short text: ``2026-12-04 10h``, ``2026-12-04``, ``2026-12``."""
    moment = datetime.datetime.fromisoformat(start.replace("Z", "+00:00"))
    if bucket == "hour":
        return moment.strftime("%Y-%m-%d %Hh")
    if bucket == "month":
        return moment.strftime("%Y-%m")
    return moment.strftime("%Y-%m-%d")


def savings_phrase(savings_usd: float, fraction: float | None) -> str:
    """``saved $0.399 (78%)``, or ``cost $0.45 (50%) more`` when the baseline was cheaper."""
    if savings_usd < 0:
        loss = None if fraction is None else -fraction
        return f"cost {format_usd(-savings_usd)}{_share(loss)} more"
    return f"saved {format_usd(savings_usd)}{_share(fraction)}"


# `.2g` turns to scientific notation below this many percent.
SMALLEST_PERCENT_SHOWN = 0.0001


def _share(fraction: float | None) -> str:
    """`` (77%)``; a share under 1% keeps two digits, so a small loss does not read ``-0%``, and
    one under a ten-thousandth of a percent reads ``< 0.0001%`` rather than in scientific
    notation."""
    if fraction is None:
        return ""
    if 0 < abs(fraction) < SMALLEST_PERCENT_SHOWN / 100:
        return f" (< {SMALLEST_PERCENT_SHOWN}%)" if fraction > 0 else \
            f" (> -{SMALLEST_PERCENT_SHOWN}%)"
    if fraction != 0 and abs(fraction) < 0.01:
        return f" ({fraction * 100:.2g}%)"
    return f" ({fraction:,.0%})"


def terminal_chart(report: SavingsReport, *, width: int = 40) -> str:
    """One line per bucket: solid bar = spend, light bar = what the baseline would have cost.

    Bars are scaled to the largest amount in the series, in eighths of a character.
    """
    if not report.series:
        return "no spend recorded in this period"
    largest = max(max(point.spent_usd, point.baseline_usd) for point in report.series) or 1.0
    lines = [f"spend per {report.bucket} (█ with routing, ░ on {report.baseline})"]
    for point in report.series:
        spent = _bar(point.spent_usd / largest * width, "█")
        rest = max(round(point.baseline_usd / largest * width) - len(spent), 0)
        bar = (spent + "░" * rest).ljust(width)
        lines.append(f"{_label(point.start, report.bucket):>13} {bar} "
                     f"{format_usd(point.spent_usd)} of {format_usd(point.baseline_usd)}")
    return "\n".join(lines)


def _bar(length: float, full: str) -> str:
    eighths = round(length * 8)
    partial = " ▏▎▍▌▋▊▉"[eighths % 8].strip()
    return full * (eighths // 8) + partial


SVG_WIDTH, SVG_HEIGHT = 760, 360
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 78, 740, 56, 300


def spend_svg(report: SavingsReport) -> str:
    """A standalone SVG: cumulative spend with routing against the baseline over the period.

    Two step lines over the buckets (spend accrues within a bucket), the savings shaded between
    them, a dollar axis with round ticks and dated bucket labels.
    """
    title = html.escape(
        f"Spend{' in ' + report.scope if report.scope else ''}: "
        f"{format_usd(report.spent_usd)} with routing vs {format_usd(report.baseline_usd)} on "
        f"{report.baseline or 'no baseline'}"
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SVG_WIDTH}" height="{SVG_HEIGHT}" '
        f'viewBox="0 0 {SVG_WIDTH} {SVG_HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{SVG_WIDTH}" height="{SVG_HEIGHT}" fill="#ffffff"/>',
        f'<text x="{PLOT_LEFT}" y="24" font-size="15" font-weight="bold">{title}</text>',
    ]
    if not report.series:
        parts.append(f'<text x="{PLOT_LEFT}" y="{PLOT_TOP + 40}">no spend recorded</text></svg>')
        return "\n".join(parts)

    routed, baseline = [0.0], [0.0]
    for point in report.series:
        routed.append(routed[-1] + point.spent_usd)
        baseline.append(baseline[-1] + point.baseline_usd)
    top = _round_up(max(baseline[-1], routed[-1]))
    steps = len(report.series)

    def x(i: float) -> float:
        return PLOT_LEFT + (PLOT_RIGHT - PLOT_LEFT) * i / steps

    def y(usd: float) -> float:
        return PLOT_BOTTOM - (PLOT_BOTTOM - PLOT_TOP) * usd / top

    parts.extend(_axes(report, top, x, y))
    routed_points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(routed))
    baseline_points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(baseline))
    back = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in reversed(list(enumerate(routed))))
    parts += [
        f'<polygon points="{baseline_points} {back}" fill="#2e7d32" fill-opacity="0.12"/>',
        f'<polyline points="{baseline_points}" fill="none" stroke="#9e9e9e" stroke-width="2" '
        'stroke-dasharray="6 4"/>',
        f'<polyline points="{routed_points}" fill="none" stroke="#1565c0" stroke-width="2.5"/>',
        f'<line x1="{PLOT_LEFT}" y1="40" x2="{PLOT_LEFT + 24}" y2="40" stroke="#1565c0" '
        'stroke-width="2.5"/>',
        f'<text x="{PLOT_LEFT + 30}" y="44">with routing (cumulative)</text>',
        f'<line x1="{PLOT_LEFT + 220}" y1="40" x2="{PLOT_LEFT + 244}" y2="40" stroke="#9e9e9e" '
        'stroke-width="2" stroke-dasharray="6 4"/>',
        f'<text x="{PLOT_LEFT + 250}" y="44">always {html.escape(report.baseline or "")}</text>',
    ]
    if report.savings_fraction is not None:
        middle = (y(routed[-1]) + y(baseline[-1])) / 2
        colour = "#c62828" if report.savings_usd < 0 else "#2e7d32"
        phrase = savings_phrase(report.savings_usd, report.savings_fraction)
        parts.append(f'<text x="{PLOT_RIGHT - 6}" y="{middle + 4:.1f}" text-anchor="end" '
                     f'fill="{colour}" font-weight="bold">{html.escape(phrase)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _axes(report: SavingsReport, top: float, x, y) -> list[str]:  # type: ignore[no-untyped-def]
    parts = [
        f'<line x1="{PLOT_LEFT}" y1="{PLOT_BOTTOM}" x2="{PLOT_RIGHT}" y2="{PLOT_BOTTOM}" '
        'stroke="#424242"/>',
        f'<line x1="{PLOT_LEFT}" y1="{PLOT_TOP}" x2="{PLOT_LEFT}" y2="{PLOT_BOTTOM}" '
        'stroke="#424242"/>',
    ]
    for tick in range(5):
        usd = top * tick / 4
        parts.append(f'<line x1="{PLOT_LEFT}" y1="{y(usd):.1f}" x2="{PLOT_RIGHT}" '
                     f'y2="{y(usd):.1f}" stroke="#eeeeee"/>')
        parts.append(f'<text x="{PLOT_LEFT - 6}" y="{y(usd) + 4:.1f}" text-anchor="end">'
                     f'{html.escape(format_usd(usd))}</text>')
    steps = len(report.series)
    every = max(1, -(-steps // 8))
    for i in range(0, steps, every):
        label = html.escape(_label(report.series[i].start, report.bucket))
        parts.append(f'<text x="{x(i):.1f}" y="{PLOT_BOTTOM + 18}" text-anchor="middle">'
                     f'{label}</text>')
    parts.append(f'<text x="{(PLOT_LEFT + PLOT_RIGHT) / 2}" y="{PLOT_BOTTOM + 42}" '
                 f'text-anchor="middle" fill="#616161">{steps} {report.bucket}'
                 f'{"s" * (steps != 1)}, UTC; '
                 f'baseline priced from the catalog of {report.catalog_date}</text>')
    return parts


def _round_up(value: float) -> float:
    """The next round axis top (1, 1.5, 2, 3, 4, 5, 6 or 8 times a power of ten) at or above
    ``value`` (1e-6 for nothing)."""
    if value <= 0:
        return 1e-6
    scale = 10.0 ** math.floor(math.log10(value))
    for step in (1, 1.5, 2, 3, 4, 5, 6, 8):
        if step * scale >= value:
            return step * scale
    return 10 * scale
