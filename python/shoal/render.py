"""Short human-readable summaries of shoal's results.

The MCP tools send these as their text content beside the structured result, and the CLI prints
them. They state the answer first and keep to a few lines: an agent reads every token of them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from decimal import Decimal

from shoal.batch import BatchResult, BatchSummary, kept_local
from shoal.cost import (
    CostComparison,
    CostEstimate,
    exact_amount,
    exact_usd,
    format_usd,
    format_usd_per_mtok,
    price_basis,
)
from shoal.excerpts import first_few, listed_name
from shoal.feedback import RecordedOutcome
from shoal.files import FilesSummary
from shoal.hardware import HardwareFit, PortedChip, format_figure, format_speed
from shoal.privacy import redact
from shoal.router import (
    HARDWARE_FIT_NOTE,
    NAMED_THOUGH_RETIRED,
    NO_LABELLED_CANDIDATE,
    RAW_CONFIDENCE,
    WINDOW_NOT_CHECKED,
    CandidateEstimate,
    RoutingDecision,
    failed_constraints,
)
from shoal.token_budget import ChunkList, LimitCount, Truncation
from shoal.tokens import ChatTokenCount, TokenCount


def usd(amount: float | Decimal) -> str:
    """A dollar amount with enough digits to tell small per-call costs apart, never in
    scientific notation, rounded half to even (see :func:`shoal.cost.format_usd`)."""
    return format_usd(amount)


def token_count(result: TokenCount) -> str:
    """The count, how exact it is and what it was counted with; for an estimate, a second line
    with where its ratio comes from."""
    subject = f" for {result.model}" if result.model else ""
    if result.token_ratio is None:
        method = counting_method(result.exact, result.encoding)
    else:
        method = f"estimate: {result.encoding} count x {result.token_ratio:.2f}, rounded up"
    lines = [
        f"{plural(result.tokens, 'token')}{subject} ({method}; "
        f"{plural(result.characters, 'character')})",
        *ratio_source_lines(result.token_ratio, result.ratio_source),
    ]
    return "\n".join(lines)


def ratio_source_lines(token_ratio: float | None, ratio_source: str | None) -> list[str]:
    """``  ratio 1.30: <where it comes from>`` for an estimate, nothing for an exact count.

    The catalog's source text opens with "estimate" or "measured"; the first line has said it
    is an estimate, so only "measured" (or "not measured") is kept of that opening. Measured
    figures in the source are the only error range shoal has for a ratio.
    """
    if token_ratio is None:
        return []
    source = ratio_source or "the price file gives no source for it"
    return [f"  ratio {token_ratio:.2f}: {_ESTIMATE_OPENING.sub('', source)}"]


# "estimate: " or "estimate, " at the start of a catalog ratio source.
_ESTIMATE_OPENING = re.compile(r"^estimate[:,]\s*")


def plural(count: int, noun: str) -> str:
    """``1 token``, ``2 tokens``, ``1,024 tokens``."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def runs_text(runs: Sequence[tuple[int, int]]) -> str:
    """``0-2, 5``: inclusive runs of indices (see `shoal.excerpts.index_ranges`), so thousands
    of dropped messages take one line."""
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


def counting_method(exact: bool, encoding: str, token_ratio: float | None = None) -> str:
    """``exact, o200k_base``, or ``estimate: o200k_base x 1.30`` for a scaled count."""
    if token_ratio is not None:
        return f"estimate: {encoding} x {token_ratio:.2f}"
    return f"{'exact' if exact else 'estimate'}, {encoding}"


def chat_token_count(result: ChatTokenCount) -> str:
    """The prompt total, then its parts, the rules used and where an estimate's ratio comes
    from."""
    lines = [
        f"{result.tokens:,} prompt tokens for {result.model} "
        f"({counting_method(result.exact, result.encoding, result.token_ratio)}): "
        f"{result.message_tokens:,} for {plural(result.messages, 'message')}, "
        f"{result.tool_tokens:,} for {plural(result.tools, 'tool')}",
        f"  method: {result.method}",
        *ratio_source_lines(result.token_ratio, result.ratio_source),
    ]
    return "\n".join(lines)


def limit_count(result: LimitCount) -> str:
    """Whether the text passed the limit, and the count so far."""
    method = counting_method(result.exact, result.encoding, result.token_ratio)
    if result.exceeded and result.characters_read < result.characters:
        return (
            f"over the limit: more than {plural(result.limit, 'token')} (stopped at "
            f"{result.tokens:,} after {result.characters_read:,} of "
            f"{plural(result.characters, 'character')}; {method})"
        )
    if result.exceeded:
        # A text with no safe place to stop early (one long line without spaces) is read whole.
        return (
            f"over the limit: {plural(result.tokens, 'token')}, more than {result.limit:,} "
            f"(counted all {plural(result.characters, 'character')}; {method})"
        )
    return f"within the limit: {result.tokens:,} of {plural(result.limit, 'token')} ({method})"


def truncation(result: Truncation) -> str:
    """What was kept of the text."""
    if not result.truncated:
        method = counting_method(result.exact, result.encoding, result.token_ratio)
        return f"kept all {plural(result.tokens, 'token')} ({method})"
    return (
        f"kept the {result.side}: {result.tokens:,} of {plural(result.original_tokens, 'token')}, "
        f"{result.characters:,} of {plural(result.original_characters, 'character')} "
        f"({counting_method(result.exact, result.encoding, result.token_ratio)})"
    )


def chunk_list(result: ChunkList) -> str:
    """How many chunks, and the first few ranges."""
    lines = [
        f"{plural(result.chunk_count, 'chunk')} of at most {plural(result.max_tokens, 'token')}, "
        f"{plural(result.total_tokens, 'token')} in all "
        f"({counting_method(result.exact, result.encoding, result.token_ratio)})"
    ]
    lines.extend(
        f"  [{chunk.start:,}:{chunk.end:,}] {plural(chunk.tokens, 'token')}"
        for chunk in result.chunks[:5]
    )
    if result.note:
        lines.append(f"  note: {result.note}")
    return "\n".join(lines)


def files_summary(result: FilesSummary, *, shown: int = 10) -> str:
    """The total, then the largest files and the skipped ones."""
    lines = [
        f"{plural(result.total_tokens, 'token')} in {plural(result.files_counted, 'file')} "
        f"({plural(result.total_bytes, 'byte')}; "
        f"{counting_method(result.exact, result.encoding, result.token_ratio)}); "
        f"{result.files_skipped:,} skipped, {result.ignored:,} ignored by .gitignore",
        *ratio_source_lines(result.token_ratio, result.ratio_source),
    ]
    # A file name can hold a newline or U+202E: escaped, it cannot print as a line of its own.
    lines.extend(f"  {item.tokens:>10,}  {listed_name(item.path)}"
                 for item in result.largest_files[:shown])
    lines.extend(f"  skipped {listed_name(item.path)}: {item.reason}"
                 for item in result.skipped[:shown])
    lines.extend(f"  note: {note}" for note in result.notes)
    return "\n".join(lines)


def cost_estimate(result: CostEstimate) -> str:
    """The total, then one line per priced kind of token."""
    basis = price_basis(result.prices_as_of, result.price_file)
    # Exact amounts, not the float fields: a huge total keeps every digit to the cent.
    lines = [f"{result.model}: {usd(result.exact_total_usd)} ({basis})"]
    for item in result.line_items:
        rate = format_usd_per_mtok(item.usd_per_mtok)
        tokens = plural(item.tokens, "token")
        amount = exact_usd(item.tokens, item.usd_per_mtok)
        lines.append(f"  {item.kind}: {tokens} x {rate}/Mtok = {usd(amount)}")
    lines.extend(f"  note: {note}" for note in result.notes)
    return "\n".join(lines)


def cost_comparison(results: Sequence[CostComparison]) -> str:
    """One line per model, cheapest first, with savings against the named baseline when there is
    one."""
    lines = []
    for row in results:
        lines.append(f"{row.model}: {usd(row.estimate.exact_total_usd)}{_saving(row)}")
        lines.extend(f"  note: {note}" for note in row.estimate.notes)
    lines.extend(_baseline_outside(results))
    return "\n".join(lines)


def _baseline_outside(results: Sequence[CostComparison]) -> list[str]:
    """The baseline's own cost when it is not one of the compared models, so the savings can
    be checked; it is the cost every saving was taken from."""
    first = results[0] if results else None
    if first is None or first.baseline is None or first.savings_usd is None:
        return []
    if any(row.model == first.baseline for row in results):
        return []
    baseline_total = exact_amount(first.total_usd) + exact_amount(first.savings_usd)
    return [f"baseline {first.baseline}: {usd(baseline_total)} "
            "(not one of the compared models)",
            *(f"  note: {note}" for note in first.baseline_notes)]


def _saving(row: CostComparison) -> str:
    """``, saves $x (y%) vs BASELINE``; a dearer model is said to cost more, never to save a
    negative amount."""
    if row.savings_usd is None:
        return ""
    if row.model == row.baseline:
        return " (the baseline)"
    fraction = row.savings_fraction
    share = f" ({abs(fraction):.0%})" if fraction is not None else ""
    if row.savings_usd < 0:
        return f", costs {usd(-row.savings_usd)}{share} more than {row.baseline}"
    return f", saves {usd(row.savings_usd)}{share} vs {row.baseline}"


def routing_decision(
    result: RoutingDecision,
    *,
    alternatives: int = 3,
    detailed: int | None = None,
    omitted: int = 0,
) -> str:
    """The choice and its reason, then the next ``alternatives`` candidates in the decision's
    order: eligible ones with quality and cost, then any that break a constraint, named with
    the constraints they break. Past the first ``detailed`` of them (default: all), only how
    many more there are; then how many runners-up asked for were ``omitted`` from the result
    for want of room, and the notes that change how the choice reads."""
    lines = [f"Use {result.model}. {result.reason}"]
    runners_up = result.alternatives[1 : alternatives + 1]
    shown = runners_up if detailed is None else runners_up[:detailed]
    lines.extend(_runner_up(candidate) for candidate in shown)
    left_out = len(runners_up) - len(shown)
    if left_out:
        lines.append(f"  and {_more_runners_up(left_out)} (see alternatives)")
    if omitted:
        lines.append(
            f"  {_more_runners_up(omitted)} asked for left out to keep the answer under the cap "
            "(alternatives_omitted); shoal route --json lists every candidate"
        )
    # The notes that change how the choice reads: a retired model named, a model priced by its
    # label rows whose window nothing checks, estimates that rest on no label, a confidence
    # that is not an expected agreement, and what a device given was checked against (nothing
    # at all when no candidate runs locally).
    lines.extend(f"  note: {note}" for note in result.notes
                 if note.endswith((NAMED_THOUGH_RETIRED, WINDOW_NOT_CHECKED))
                 or note.startswith((NO_LABELLED_CANDIDATE, RAW_CONFIDENCE))
                 or (result.device is not None and note.startswith(HARDWARE_FIT_NOTE)))
    if result.decision_id:
        lines.append(f"decision {result.decision_id} (record_outcome takes it)")
    return "\n".join(lines)


def _more_runners_up(count: int) -> str:
    """``1 more runner-up``, ``14 more runners-up``."""
    return f"{count:,} more {'runner-up' if count == 1 else 'runners-up'}"


def _runner_up(candidate: CandidateEstimate) -> str:
    """``  or MODEL: quality 0.703, $0.000026``, or for a candidate that breaks a constraint,
    ``  not MODEL: breaks max_cost_usd ($0.00041 against $0.0002)``, each check with the
    numbers behind it; one the caller excluded reads ``  not MODEL: excluded``."""
    if not candidate.eligible:
        return f"  not {candidate.model}: {failed_constraints(candidate, details=True)}"
    quality = (
        "no estimate"
        if candidate.predicted_quality is None
        else f"quality {candidate.predicted_quality:.3f}"
    )
    return f"  or {candidate.model}: {quality}, {usd(candidate.expected_cost_usd)}"


def recorded_outcome(result: RecordedOutcome) -> str:
    """What was stored for a decision, whether the prompt can teach a router, and what was
    redacted from the note given."""
    prompt = "prompt stored" if result.prompt_stored else "no prompt (not usable by shoal fit)"
    redacted = ""
    if result.redactions:
        redacted = f", {plural(result.redactions, 'private item')} redacted"
    if result.prompt_kept:
        # No prompt this time: nothing was redacted now, the earlier prompt stands.
        prompt = "the prompt recorded before is kept"
        if result.redactions:
            redacted = f" ({plural(result.redactions, 'private item')} redacted then)"
    note = ""
    if result.note_redactions:
        note = f"; note stored with {plural(result.note_redactions, 'private item')} redacted"
    return (
        f"{result.status}: {result.model} scored {result.score:.3f} on decision "
        f"{result.decision_id}; {prompt}{redacted}{note}"
    )


def hardware_fit(result: HardwareFit) -> str:
    """Fit verdict with margin, then speed and energy with their ranges.

    A model that does not fit leads with the memory it lacks, and its speed and energy are
    labelled as what it would do if it fitted: headlined alone they read as a way to run it.
    A batch, or a KV cache other than F16, is named where the context is: either changes every
    figure below it. A batch's time to first token is one prompt's, and a line says so.
    """
    warnings = [f"  warning: {note}" for note in result.notes if note.startswith(_FIT_WARNINGS)]
    if result.batch > 1:
        warnings.insert(0, f"  note: {_batch_prefill(result.batch)}")
    if result.fits:
        return "\n".join([
            f"{result.model} {result.quantisation} on {result.device}: fits "
            f"({result.memory_needed_gb:,.1f} of {result.memory_available_gb:,.1f} GB, "
            f"margin {result.margin_gb:+,.1f} GB) at {_workload(result)}",
            *(f"  {line}" for line in _speed_and_energy(result)),
            *warnings,
        ])
    return "\n".join([
        f"{result.model} {result.quantisation} on {result.device}: does NOT fit: "
        f"{_shortfall(result.memory_needed_gb, result.memory_available_gb, -result.margin_gb)} "
        f"at {_workload(result)}",
        "  if it fitted (offloading to system memory would be far slower than this):",
        *(f"    {line}" for line in _speed_and_energy(result)),
        *warnings,
    ])


def _shortfall(needed_gb: float, available_gb: float, short_gb: float) -> str:
    """``needs 45.0 GB, 24.5 GB available (20.5 GB short)``, with the decimals (up to three) that
    keep the two apart: at one, a model 14 kB over read "needs 22.8 GB, 22.8 GB available (0.0
    GB short)". Less than the last decimal short says so."""
    places = _places_apart(available_gb, [needed_gb])
    short = f"{short_gb:,.{places}f}"
    if float(short.replace(",", "")) == 0:
        short = f"less than {10.0 ** -places:.{places}f}"
    return (f"needs {needed_gb:,.{places}f} GB, {available_gb:,.{places}f} GB available "
            f"({short} GB short)")


def _places_apart(available_gb: float, needed_gb: Sequence[float]) -> int:
    """Decimals, one to three, at which no figure needed reads as the memory available."""
    places = 1
    while places < 3 and any(
        f"{needed:,.{places}f}" == f"{available_gb:,.{places}f}" for needed in needed_gb
    ):
        places += 1
    return places


def _context_tokens(count: int) -> str:
    """``4,096 tokens of context``, ``1 token of context``."""
    return f"{plural(count, 'token')} of context"


def _workload(result: HardwareFit) -> str:
    """``4,096 tokens of context``, with the batch and a KV format other than F16."""
    parts = [_context_tokens(result.context_tokens)]
    if result.batch > 1:
        parts.append(f"a batch of {result.batch:,} sequences")
    if result.kv_cache_type != "F16":
        parts.append(f"a {result.kv_cache_type} KV cache")
    return ", ".join(parts)


def _speed_and_energy(result: HardwareFit) -> list[str]:
    """Decode, prefill and energy lines of a fit, with their ranges; at a batch above one,
    decode is per sequence and its sum is given beside it."""
    decode = (f"decode {format_speed(result.decode_tokens_per_s)} tok/s "
              f"({format_speed(result.decode_tokens_per_s_low)}-"
              f"{format_speed(result.decode_tokens_per_s_high)})")
    if result.batch > 1:
        summed = format_speed(result.decode_batch_tokens_per_s, decimals=0)
        decode += f" per sequence, {summed} tok/s summed"
    return [
        f"{decode}, bound by {result.decode_bound}",
        f"prefill {format_speed(result.prefill_tokens_per_s, decimals=0)} tok/s, time to first "
        f"token {result.time_to_first_token_s:,.2f} s",
        f"energy {joules(result.joules_per_token)} J/token at about "
        f"{result.average_power_w:.0f} W (estimate)",
    ]


def joules(value: float) -> str:
    """Three significant figures, trailing zeros kept (``2.32``, ``1.00``, ``0.0510``), and whole
    joules with separators from 1,000 up rather than ``2.06e+03``: every energy figure shoal
    prints (a fit, a node move, a sweep and its plot) reads the same."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    rounded = float(f"{value:.3g}")  # first, so 9.996 gives 10.0 and not 10.00
    if abs(rounded) >= 1000:
        return f"{value:,.0f}"
    decimals = max(0, 2 - math.floor(math.log10(abs(rounded))))
    return f"{rounded:.{decimals}f}"


def _batch_prefill(batch: int) -> str:
    """What a batch's time to first token means, as a fit's note says it."""
    return (f"time to first token is one prompt's alone ({batch:,} prompts arriving together "
            f"take up to {batch:,}x as long to prefill)")


# The notes of a hardware fit that change what the numbers mean; the others are standing caveats
# that the structured result carries. "does not fit" is not among them: the verdict says it.
_FIT_WARNINGS = ("context ", "decode is compute-bound")


def ported_chip(result: PortedChip, *, models: int = 8, rest_in: str | None = "--json") -> str:
    """The node move and its power, performance, area and SRAM ratios, then what it does to
    inference: models resident in SRAM, and decode speed and energy before and after, then the
    notes. At most ``models`` models are listed of those that fit and of those that do not;
    ``rest_in`` says where the others can be read (None: nowhere to point to)."""
    lines = [
        f"{result.name}: {result.from_node} -> {result.to_node} at {result.mode} "
        f"({result.claim_type} figures)",
        f"  power x{result.power_ratio:.2f} ({format_figure(result.power_w)} W), performance "
        f"x{result.performance_ratio:.2f} ({format_figure(result.performance_tflops)} TFLOPS)",
    ]
    # A device's memory interface keeps its power: show the two parts behind the total. None is
    # a bare chip and 0 a memory without an energy figure (a note says so): all die power.
    if result.memory_interface_power_w:
        lines.append(
            f"    die {format_figure(result.die_power_w_before)} -> "
            f"{format_figure(result.die_power_w)} W (x{result.die_power_ratio:.2f}), memory "
            f"interface {format_figure(result.memory_interface_power_w)} W (unchanged)"
        )
    lines.append(
        f"  area x{result.area_ratio:.2f}, SRAM capacity x{result.sram_capacity_ratio:.2f}"
        + (f" ({format_figure(result.sram_mb, 0)} MB)" if result.sram_mb is not None else "")
        + f", performance per watt x{result.perf_per_watt_ratio:.2f}"
    )
    before, after = result.power_density_w_per_mm2_before, result.power_density_w_per_mm2
    # No die power (all of it the memory interface's) has no density to compare.
    if before and after is not None:
        lines.append(
            f"  die power density {format_figure(before, 2)} -> {format_figure(after, 2)} W/mm2 "
            f"(x{after / before:.2f})"
        )
    if result.inference:
        lines.extend(_ported_inference(result, models, rest_in))
    # A context past a model's maximum changes what the figures mean, as in a fit: it leads.
    warnings = [note for note in result.notes if note.startswith(_PORT_WARNINGS)]
    lines.extend(f"  warning: {note}" for note in warnings)
    lines.extend(f"  note: {note}" for note in result.notes if note not in warnings)
    return "\n".join(lines)


def _ported_inference(result: PortedChip, models: int, rest_in: str | None) -> list[str]:
    """The lines on the models compared: SRAM residency, each model that fits before and
    after, and those that do not fit."""
    lines = []
    fitting = [row for row in result.inference if row.fits]
    resident = [row.model for row in fitting if row.resident]
    # Without an SRAM figure every share is 0% by default, not by estimate: say what is missing.
    # With none at all, a share of 0% is no finding either.
    has_sram = bool(result.sram_mb)
    if result.sram_mb is None:
        lines.append(
            "  SRAM residency not estimated: the device table has no on-die SRAM figure for "
            f"{result.name}; give one with --sram-mb (sram_mb in Python and over MCP)"
        )
    elif not has_sram:
        lines.append("  no on-die SRAM (0 MB), so no model is held in SRAM")
    elif resident:
        lines.append(f"  resident in on-die SRAM after the move: {', '.join(resident)}")
    elif fitting:
        best = max(fitting, key=lambda row: row.sram_resident_fraction_after)
        lines.append(
            f"  no model becomes resident in SRAM; the largest share is {best.model} at "
            f"{best.sram_resident_fraction_after:.0%} of its weights and KV cache "
            f"({best.resident_set_gb:.2f} GB)"
        )
    # The smallest models first: they are the ones SRAM can hold.
    shown = sorted(fitting, key=lambda row: row.resident_set_gb)[:models]
    if shown:
        first = shown[0]
        lines.append(
            f"  {first.quantisation} at {_context_tokens(first.context_tokens)}, "
            "before -> after (estimates):"
        )
    for row in shown:
        sram = (f"SRAM {row.sram_resident_fraction_before:.0%} -> "
                f"{row.sram_resident_fraction_after:.0%}, " if has_sram else "")
        lines.append(
            f"    {row.model}: {sram}decode "
            f"{row.decode_tokens_per_s_before:.1f} -> {row.decode_tokens_per_s_after:.1f} tok/s, "
            f"{joules(row.joules_per_token_before)} -> {joules(row.joules_per_token_after)} "
            "J/token"
        )
    if len(fitting) > len(shown):
        lines.append(f"    and {len(fitting) - len(shown)} more models that fit"
                     + _see(rest_in))
    lines.extend(_not_fitting(result, models, rest_in))
    return lines


def _see(rest_in: str | None) -> str:
    return "" if rest_in is None else f" (see {rest_in})"


_PORT_WARNINGS = ("context ",)


def _not_fitting(result: PortedChip, models: int, rest_in: str | None) -> list[str]:
    """A line naming the compared models that do not fit the device's memory, with the GB each
    needs, so that none drops out of the comparison unseen; when none fits, the line says so
    first, as nothing else would."""
    too_large = sorted(
        (row for row in result.inference if not row.fits), key=lambda row: row.memory_needed_gb
    )
    if not too_large:
        return []
    first = too_large[0]
    places = _places_apart(first.memory_available_gb,
                           [row.memory_needed_gb for row in too_large[:models]])
    named = ", ".join(
        f"{row.model} needs {row.memory_needed_gb:,.{places}f} GB" for row in too_large[:models]
    )
    more = len(too_large) - models
    workload = f"at {first.quantisation} and {_context_tokens(first.context_tokens)}"
    available = f"{first.memory_available_gb:,.{places}f} GB of usable memory"
    lead = (f"no model fits the {available} {workload}" if len(too_large) == len(result.inference)
            else f"too large for the {available} {workload}")
    return [
        f"  {lead}: {named}" + (f", and {more} more models{_see(rest_in)}" if more > 0 else "")
    ]


def routing_batch(prompts: Sequence[str], result: BatchResult, *,
                  lines: Sequence[int] | None = None) -> str:
    """A table of choices, each with its prompt's line (``lines``; else its place, from 1) and
    decision id (what ``record_outcome`` takes), then the batch's cost against always using
    the strongest model every prompt could use, with a note when prompts kept local made that
    an open-weight one.

    Each prompt is shown redacted (secrets and personal data as ``[kind]``): the table lands in
    terminals, logs and CI output that the prompt itself was never meant for.
    """
    numbers = range(1, len(prompts) + 1) if lines is None else lines
    table = [BATCH_HEADER]
    table += [batch_row(number, prompt, decision)
              for number, prompt, decision in zip(numbers, prompts, result.decisions, strict=True)]
    kept = [number for number, decision in zip(numbers, result.decisions, strict=True)
            if kept_local(decision)]
    return "\n".join([*table, *batch_summary(result.summary, kept)])


BATCH_HEADER = (f"{'line':>5}  {'model':<32} {'quality':>7} {'cost':>10}  "
                f"{'decision':<26}  prompt")


def batch_row(number: int, prompt: str, decision: RoutingDecision) -> str:
    """One row of the batch table (under :data:`BATCH_HEADER`): the prompt's line, the chosen
    model, its quality and cost, the decision id and the prompt's start, redacted."""
    chosen = decision.alternatives[0]
    quality = "-" if chosen.predicted_quality is None else f"{chosen.predicted_quality:.3f}"
    return (f"{number:>5}  {decision.model:<32} {quality:>7} "
            f"{usd(chosen.expected_cost_usd):>10}  {decision.decision_id}  "
            f"{preview(redact(prompt))}")


def batch_summary(summary: BatchSummary, kept: Sequence[int]) -> list[str]:
    """The lines under the batch table: a blank line, the routed total, and the batch against
    the strongest model, with the note naming the ``kept`` lines (prompts kept local)."""
    lines = [
        "",
        f"routed:   {plural(summary.prompts, 'prompt')}, {usd(summary.routed_cost_usd)} in all, "
        f"mean predicted quality {summary.routed_quality:.3f}",
    ]
    if summary.strongest_model is not None:
        lines.append(
            f"always {summary.strongest_model}: {usd(summary.strongest_cost_usd)}, mean "
            f"predicted quality {summary.strongest_quality:.3f}; {_routing_saving(summary)}"
        )
        if summary.kept_local:
            lines.append(_kept_local_note(summary, kept))
    return lines


def _kept_local_note(summary: BatchSummary, kept: Sequence[int]) -> str:
    """Why the batch is compared with an open-weight model: the model compared with must be
    one every prompt could use, and a prompt kept local can use open-weight models only."""
    where = f"line{'s' if len(kept) > 1 else ''} {first_few([str(n) for n in kept], len(kept))}"
    return (f"note: {plural(len(kept), 'prompt')} ({where}) "
            f"{'holds' if len(kept) == 1 else 'hold'} private data and "
            f"{'was' if len(kept) == 1 else 'were'} kept on open-weight models run locally, so "
            f"the batch is compared with the strongest of those that all {summary.prompts:,} "
            f"prompts could use ({summary.strongest_model}), not with the strongest model of "
            "all")


def _routing_saving(summary: BatchSummary) -> str:
    """``routing saves 94%``; when the routed picks cost more than the model compared with
    (prompts kept local make that an open-weight one, which can be cheap), how much more and
    the predicted quality it buys: ``routing costs 3.7 times as much, for 0.069 higher mean
    predicted quality``. Never a negative saving, and past double a multiple, which reads where
    ``270% more`` does not."""
    fraction = summary.savings_fraction
    if fraction is None:
        # The strongest model costs nothing here, so there is no share to give.
        if summary.routed_cost_usd > 0:
            return f"routing costs {usd(summary.routed_cost_usd)} more"
        return "routing costs the same"
    if fraction >= 0:
        return f"routing saves {fraction:.0%}"
    ratio = 1 - fraction
    if ratio < 2:
        dearer = f"{-fraction:.0%} more"
    else:
        dearer = f"{ratio:,.{1 if ratio < 10 else 0}f} times as much"
    return f"routing costs {dearer}, for {_quality_difference(summary)}"


def _quality_difference(summary: BatchSummary) -> str:
    """``0.069 higher mean predicted quality``, as the two summary lines round it."""
    difference = round(summary.routed_quality, 3) - round(summary.strongest_quality, 3)
    if abs(difference) < 0.0005:
        return "the same mean predicted quality"
    return f"{abs(difference):.3f} {'higher' if difference > 0 else 'lower'} mean predicted quality"


def preview(text: str, width: int = 60) -> str:
    """The start of a text on one line, with control characters (terminal escapes) blanked."""
    printable = "".join(character if character.isprintable() else " " for character in text)
    return " ".join(printable.split())[:width]
