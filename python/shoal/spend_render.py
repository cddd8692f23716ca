"""Short readable summaries of context plans, trimmed chats, ledger records, budget status and
savings reports, for the MCP tools' text content and the CLI. The answer comes first."""

from __future__ import annotations

import math

from shoal.budget import FitPlan, TrimmedChat
from shoal.cost import format_usd, price_basis
from shoal.excerpts import index_ranges, listed_name, plain_number
from shoal.ledger import (
    LATEST_MOMENT,
    MIN_BURN_SPAN_S,
    BudgetLimit,
    BudgetStatus,
    UsageImport,
    UsageRecord,
    limit_places,
)
from shoal.render import (
    counting_method,
    plural,
    ratio_source_lines,
    runs_text,
    usd,
)
from shoal.report import (
    ModelSpend,
    OtherModels,
    OtherScopes,
    SavingsReport,
    ScopeSavings,
    savings_phrase,
    terminal_chart,
)


def fit_plan(plan: FitPlan, *, per_item: bool = True) -> str:
    """Totals, then one line per item in the order given; without ``per_item``, the ids of each
    status on one line instead, and the cut item's line."""
    exactness = counting_method(plan.exact, plan.encoding, plan.token_ratio)
    lines = [
        f"{plan.total_tokens:,} of {plan.budget_tokens:,} tokens used ({exactness}), "
        f"{plan.remaining_tokens:,} left; input costs {usd(plan.cost.total_usd)} on {plan.model}",
        *ratio_source_lines(plan.token_ratio, plan.ratio_source),
        f"  included {len(plan.included)}, truncated {len(plan.truncated)}, "
        f"dropped {len(plan.dropped)}",
    ]
    shown = plan.items
    if not per_item:
        lines.extend(f"  {status}: {', '.join(listed_name(item_id) for item_id in ids)}"
                     for status, ids in (("included", plan.included), ("dropped", plan.dropped))
                     if ids)
        shown = tuple(item for item in plan.items if item.status == "truncated")
    for item in shown:
        size = (plural(item.tokens, "token") if item.status != "truncated"
                else f"{item.included_tokens:,} of {plural(item.tokens, 'token')}")
        group = f" [group {listed_name(item.group)}]" if item.group else ""
        lines.append(f"  {item.status:9} {listed_name(item.id)}{group}: {size}; {item.reason}")
    # The price's own notes (a retired model, a long-context tier) apply to the plan's cost.
    lines.extend(f"  note: {note}" for note in plan.cost.notes)
    return "\n".join(lines)


def trimmed_chat(
    result: TrimmedChat, *, runs: int | None = None, notes: int | None = None
) -> str:
    """What was kept, the dropped messages as index runs, and any orphan notes; with `runs` or
    `notes`, only the first so many of them and how many more there are."""
    lines = [
        f"kept {len(result.kept):,} of {len(result.kept) + len(result.dropped):,} messages: "
        f"{result.tokens:,} of {result.budget_tokens:,} tokens for {result.model}"
        f"{'' if result.exact else ' (estimate)'}"
    ]
    dropped = index_ranges(result.dropped)
    shown = dropped[:runs]
    if shown:
        lines.append(f"  dropped messages {runs_text(shown)}")
    if len(dropped) > len(shown):
        lines.append(
            f"  and {plural(len(dropped) - len(shown), 'more dropped run')} left out to keep the "
            "answer under the cap (dropped_runs_omitted); shoal budget trim --json lists every "
            "index"
        )
    changed = index_ranges(result.changed)
    if changed:
        listed = changed[:runs]
        more = len(changed) - len(listed)
        lines.append(f"  changed (orphaned tool results removed; resend these as returned): "
                     f"{runs_text(listed)}{f' and {more:,} more runs' if more else ''}")
    lines.extend(f"  note: {note}" for note in result.notes[:notes])
    notes_omitted = len(result.notes[notes:]) if notes is not None else 0
    if notes_omitted:
        lines.append(f"  and {plural(notes_omitted, 'more note')} (notes_omitted)")
    return "\n".join(lines)


def usage_record(record: UsageRecord) -> str:
    """The charge, and where the scope now stands."""
    verb = "already recorded" if record.duplicate else "recorded"
    limit = ""
    # The amounts to the decimals that the limit beside them needs.
    places = 2 if record.limit_usd is None else limit_places(record.limit_usd, record.spent_usd)
    if record.limit_usd is not None:
        limit = f" of {format_usd(record.limit_usd, places=places)}"
        if record.over_limit:
            limit += " (over the limit)"
    charge = (
        f"{verb}: {listed_name(record.model)} {format_usd(record.cost_usd, places=places)} to "
        f"{listed_name(record.scope)} "
        f"({price_basis(record.prices_as_of, record.price_file)}); "
        f"spent {format_usd(record.spent_usd, places=places)}{limit}"
    )
    return "\n".join([charge, *(f"  note: {note}" for note in record.notes)])


def usage_import(result: UsageImport, shown: str) -> str:
    """What an import of ``shown`` (a file, or standard input) recorded, in one line, then any
    note."""
    if not result.records:
        return f"{shown}: no records; nothing recorded"
    charged = f"{format_usd(result.cost_usd)} charged" if result.added else "nothing charged"
    past = (f"; {plural(result.over_limit, 'record')} past a soft limit" if result.over_limit
            else "")
    line = (f"{shown}: {plural(result.added, 'record')} added, {result.already_present:,} "
            f"already present, in {plural(result.scopes, 'scope')}; {charged}{past}")
    return "\n".join([line, *(f"  note: {note}" for note in result.notes)])


def budget_limit(limit: BudgetLimit) -> str:
    """The limit in one line, then any warning it was set with."""
    line = f"{listed_name(limit.scope)}: {_limit_terms(limit)}"
    return "\n".join([line, *(f"  note: {note}" for note in limit.notes)])


def _limit_terms(limit: BudgetLimit, places: int | None = None) -> str:
    """``hard limit $5.00 per day (UTC)``, the limit to ``places`` decimals (by default, as
    many as it has)."""
    kind = "hard" if limit.hard else "soft"
    per = f" per {limit.period} (UTC)" if limit.period else ""
    shown = format_usd(limit.usd, places=places or limit_places(limit.usd))
    return f"{kind} limit {shown}{per}"


def budget_status(status: BudgetStatus) -> str:
    """Spent, left, burn rate and projection."""
    period = f" this {status.limit.period}" if status.limit and status.limit.period else ""
    # Spent and left to the decimals that the limit beside them needs.
    places = 2 if status.limit is None else limit_places(status.limit.usd, status.spent_usd)
    lines = [f"{listed_name(status.scope)}: spent "
             f"{format_usd(status.spent_usd, places=places)}{period}; "
             f"{plural(status.records, 'call')} recorded, "
             f"{format_usd(status.lifetime_spent_usd, places=places)} in all"]
    if status.limit is None:
        lines.append("  no limit set")
    else:
        lines.append(f"  {_limit_terms(status.limit, places)}: {_limit_state(status, places)}")
    lines.append(f"  {_burn(status, places)}")
    if status.limit_reached_at is not None and status.hours_to_limit is not None:
        lines.append(f"  at this rate the limit is reached in {_duration(status.hours_to_limit)} "
                     f"({status.limit_reached_at})")
    elif (status.limit is not None and status.remaining_usd is not None
          and status.remaining_usd > 0 and status.burn_rate_usd_per_hour):
        # A rate and money left, yet no time the limit is reached: the period ends first, or
        # (a lifetime limit) the projection passes the last date shown.
        until = (f"the {status.limit.period} ends" if status.limit.period
                 else f"{LATEST_MOMENT.date()}")
        lines.append(f"  at this rate the limit is not reached before {until}")
    return "\n".join(lines)


def _burn(status: BudgetStatus, places: int) -> str:
    """What the window's spend is (to ``places`` decimals, as the status's other amounts) and
    what it spans, then the rate or why there is none."""
    window = f"the last {plain_number(status.window_hours)} h"
    if status.records == 0:
        return f"nothing spent in {window}: no calls recorded yet"
    if status.window_spent_usd == 0 and status.burn_rate_usd_per_hour is not None:
        return f"nothing spent in {window}: burn rate $0/hour"
    spent = f"{format_usd(status.window_spent_usd, places=places)} spent in {window}"
    if status.burn_span_hours < status.window_hours:
        spent += f" (first call {_age(status.burn_span_hours)} ago)"
    if status.burn_rate_usd_per_hour is None:
        return (f"{spent}; too little history for a burn rate or a projection (they need "
                f"{_age(MIN_BURN_SPAN_S / 3600)})")
    return f"{spent}: burn rate {usd(status.burn_rate_usd_per_hour)}/hour"


def _age(hours: float) -> str:
    """``12 s``, ``7 minutes``, ``3.5 h``: how long ago, rounded down."""
    if hours < 1 / 60:
        return f"{math.floor(hours * 3600)} s"
    if hours < 1:
        return plural(math.floor(hours * 60), "minute")
    return f"{hours:,.1f} h"


def _limit_state(status: BudgetStatus, places: int) -> str:
    """Past the limit, exactly at it (a hard limit allows that much), or what is left."""
    remaining = status.remaining_usd or 0.0
    if status.exceeded:
        return f"EXCEEDED by {format_usd(-remaining, places=places)}"
    if remaining == 0:
        return "reached, $0 left"
    return f"{format_usd(remaining, places=places)} left"


def _duration(hours: float) -> str:
    """``under a minute``, ``12 minutes`` (rounded down: the limit comes no later), ``3.5 h``."""
    if hours < 1:
        minutes = math.floor(hours * 60)
        return "under a minute" if minutes < 1 else plural(minutes, "minute")
    return f"{hours:,.1f} h"


def savings_report(report: SavingsReport, *, chart: bool = True, omitted_advice: str = "") -> str:
    """Totals against the baseline, per scope, per model, then the chart. A report that leaves
    scopes or models out sums them in one line each, and ``omitted_advice`` (how to see them)
    follows the lists."""
    where = listed_name(report.scope) if report.scope else "all scopes"
    if report.records == 0:
        return f"{where}: no calls recorded in this period"
    # Named as shoal cost names a model's prices: a price file may date them otherwise.
    baseline_prices = price_basis(
        report.baseline_prices_as_of or report.catalog_date, report.baseline_price_file
    )
    lines = [
        f"{where}: {usd(report.spent_usd)} spent on {plural(report.records, 'call')} "
        f"({report.routed_records:,} routed); always {report.baseline} would have cost "
        f"{usd(report.baseline_usd)}: "
        f"{savings_phrase(report.savings_usd, report.savings_fraction)}",
        f"  baseline: {report.baseline} ({report.baseline_rule}; {baseline_prices})",
    ]
    if len(report.by_scope) + report.scopes_omitted > 1:
        lines.append("  by scope:")
        for row in report.by_scope:
            lines.append(f"    {listed_name(row.scope)}: {_against_baseline(row)}")
        if report.other_scopes is not None:
            rest = report.other_scopes
            lines.append(f"    {_more(report.scopes_omitted, 'scope', bool(report.by_scope))}: "
                         f"{_against_baseline(rest, calls=rest.records)}")
    lines.append("  by model:")
    for model in report.by_model:
        lines.append(f"    {listed_name(model.model)}: {_model_spend(model)}")
    if report.other_models is not None:
        lines.append(f"    {_more(report.models_omitted, 'model', bool(report.by_model))}: "
                     f"{_model_spend(report.other_models)}")
    if omitted_advice and (report.scopes_omitted or report.models_omitted):
        lines.append(f"  {omitted_advice}")
    lines.extend(f"  note: {note}" for note in report.notes)
    if chart:
        lines.append("")
        lines.append(terminal_chart(report))
    return "\n".join(lines)


def _against_baseline(spend: ScopeSavings | OtherScopes, *, calls: int | None = None) -> str:
    """``$0.076 vs $0.475, saved $0.399 (84%)``; with ``calls``, ``$0.076 vs $0.475 over 280
    calls, saved ...``."""
    saving = savings_phrase(spend.savings_usd, spend.savings_fraction)
    over = "" if calls is None else f" over {plural(calls, 'call')}"
    return f"{usd(spend.spent_usd)} vs {usd(spend.baseline_usd)}{over}, {saving}"


def _model_spend(spend: ModelSpend | OtherModels) -> str:
    """``$0.26 on 4 calls, 85,000 in / 6,600 out + 900 reasoning``."""
    # Reasoning is billed as output but counted apart, as a record counts it.
    reasoning = f" + {spend.reasoning_tokens:,} reasoning" if spend.reasoning_tokens else ""
    return (f"{usd(spend.spent_usd)} on {plural(spend.records, 'call')}, "
            f"{spend.input_tokens:,} in / {spend.output_tokens:,} out{reasoning}")


def _more(count: int, kind: str, after_others: bool) -> str:
    """``and 280 more scopes`` after listed ones, ``3 scopes`` when none is listed."""
    return f"and {plural(count, f'more {kind}')}" if after_others else plural(count, kind)
