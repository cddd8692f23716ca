"""What a workload costs on a hosted model, itemised, and which model is cheapest for it.

Prices come from the catalog (``shoal.catalog``) in USD per million tokens. The arithmetic for
each line is ``tokens * usd_per_mtok / 1_000_000``, done exactly in decimal from the rate's
digits as the catalog lists them (see :func:`exact_usd`); the total is the exact sum of the
lines. The float fields hold the nearest float to each exact amount, and text shows an amount
rounded half to even (see :func:`format_usd`), the rule the ledger rounds nano-dollars by.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

from shoal.catalog import (
    Catalog,
    ModelEntry,
    configured_catalog,
    retirement_note,
)
from shoal.errors import InputError, ShoalError
from shoal.excerpts import (
    EXCERPT_CHARACTERS,
    excerpt,
    first_few,
    grouped_number,
    numbered_runs,
)
from shoal.files import SpelledNumber, SpelledWholeNumber
from shoal.numbers_in import real_number, whole_number
from shoal.tokens import (
    ESTIMATE_BASE_ENCODING,
    TokenCount,
    count_tokens,
    counted_by,
    tokenizer_of,
)

logger = logging.getLogger(__name__)

PER_MILLION = 1_000_000

# Far beyond any context window (the largest is about 1M tokens): such a figure is a unit slip.
MAX_TOKENS_PER_CALL = 100_000_000
MAX_CALLS = 1_000_000_000
# Decimals a savings fraction keeps: a millionth of a percent point is more than any use needs.
FRACTION_DIGITS = 6
# The smallest amount shown as a figure: the ledger keeps whole nano-dollars.
SMALLEST_USD_SHOWN = 1e-9
USD_SIGNIFICANT_DIGITS = 3
# Decimal arithmetic wide enough that no amount is ever rounded: a line is at most 10^17 tokens
# (a call's limit times the most calls) times a rate of at most 17 significant digits, and the
# float of an amount holds at most 17. Money is rounded only for text, half to even.
EXACT = Context(prec=80, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class CostLine:
    """One priced part of a workload.

    Attributes:
        kind: ``input``, ``cached_input``, ``cache_write``, ``output`` or ``reasoning``.
        tokens: Tokens of this kind over all calls.
        usd_per_mtok: Rate applied, USD per million tokens.
        usd: Cost of this line in USD.
    """

    kind: str
    tokens: int
    usd_per_mtok: float
    usd: float


@dataclass(frozen=True)
class CostEstimate:
    """The itemised cost of a workload on one model.

    Attributes:
        model: Canonical catalog id of the model priced.
        line_items: Priced parts; ``input`` and ``output`` always, the others when non-zero.
        total_usd: Sum of the line items in USD.
        catalog_date: Date of the shipped catalog (which a user price file does not change).
        prices_as_of: Date the model's prices were taken: its catalog row's ``as_of``, which a
            user price file may set.
        price_file: Name of the user price file the model's prices or date come from, or None
            when they are the shipped catalog's.
        notes: Assumptions the figure rests on (fallback rates, long-context tier, limits).
    """

    model: str
    line_items: tuple[CostLine, ...]
    total_usd: float
    catalog_date: str
    prices_as_of: str
    price_file: str | None
    notes: tuple[str, ...]

    @property
    def exact_total_usd(self) -> Decimal:
        """The total exactly, as the sum of the lines priced by :func:`exact_usd`; ``total_usd``
        is its nearest float, which cannot hold every digit of a huge amount."""
        return exact_sum(exact_usd(line.tokens, line.usd_per_mtok) for line in self.line_items)


@dataclass(frozen=True)
class CostComparison:
    """One model's cost for a shared workload, next to a baseline model's.

    Attributes:
        model: Canonical catalog id.
        total_usd: Cost of the workload on this model.
        baseline: Canonical catalog id of the baseline model, or None without a baseline.
        baseline_total_usd: Cost of the workload on the baseline model (which need not be one
            of the compared models), or None without a baseline.
        savings_usd: Baseline cost minus this cost (negative when dearer), or None without a
            baseline.
        savings_fraction: ``savings_usd`` over the baseline cost, rounded to 6 decimals, or None
            without a baseline or when the baseline costs nothing.
        estimate: The full itemised estimate.
        baseline_notes: The baseline's own notes, such as that the catalog lists it as retired
            (empty without a baseline).
    """

    model: str
    total_usd: float
    baseline: str | None
    baseline_total_usd: float | None
    savings_usd: float | None
    savings_fraction: float | None
    estimate: CostEstimate
    baseline_notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Rates:
    input: float
    cached_input: float
    cache_write: float
    output: float


class NoTokensError(ShoalError, ValueError):
    """A workload whose token counts are all 0: it would be priced $0, which says nothing."""


TOKEN_FIELDS = (
    "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens",
    "reasoning_tokens",
)


def check_some_tokens(tokens: Mapping[str, int], *, plan: bool = False) -> None:
    """Refuse a workload of no tokens, whose $0 would say nothing about any model.

    Args:
        tokens: Each token count by its name (the counts of :func:`estimate_cost`); for a plan,
            each summed over the steps.
        plan: Whether the counts are a plan's, for the message.

    Raises:
        NoTokensError: Every count is 0; the message names them all.
    """
    if any(tokens.values()):
        return
    *others, last = tokens
    where = " in every step, so the plan" if plan else ", so every call"
    raise NoTokensError(f"give the tokens to price: {', '.join(others)} and {last} are all "
                        f"0{where} would be priced $0")


def check_catalog(catalog: object) -> None:
    """Refuse a ``catalog`` argument that is neither None nor a :class:`Catalog`.

    Raises:
        TypeError: Naming the parameter and where a catalog comes from.
    """
    if catalog is not None and not isinstance(catalog, Catalog):
        raise TypeError(f"catalog must be a Catalog (shoal.catalog.load_catalog()) or None, got "
                        f"{type(catalog).__name__}")


def check_count(name: str, value: object, limit: int, minimum: int = 0) -> int:
    """``value``, a token or call count named ``name``, refused unless a whole number from
    ``minimum`` to ``limit``."""
    # A number of a JSON plan too large for a float (a whole one of 400 digits, 1e400) is past
    # the bound, as its spelling shows, not a float that is not finite.
    spelled = isinstance(value, SpelledNumber)
    past_every_float = isinstance(value, SpelledWholeNumber) or (
        isinstance(value, SpelledNumber) and math.isinf(value))
    whole = whole_number(value)
    if whole is None and not past_every_float:
        real = real_number(value)
        if isinstance(real, float):
            # A float comes from a JSON plan (NaN, 2.5, 1e-400 read as 0) or a Python caller:
            # say what is wrong with the number, which its type alone does not.
            if not math.isfinite(real):
                problem = ", which is not finite"
            elif real.is_integer() and not spelled:
                problem = f"; write it as {int(real)}, without the decimal point"
            else:
                problem = ", which is not whole"
            raise TypeError(f"{name} must be a whole number, got {excerpt(real)}{problem}")
        raise TypeError(f"{name} must be a whole number, got {type(value).__name__}")
    number = value if whole is None else whole
    assert isinstance(number, (int, float))
    if number < minimum:
        raise InputError(f"{name} must be at least {minimum:,}, got {grouped_number(number)}")
    if number > limit:
        raise InputError(f"{name} must be at most {limit:,}, got {grouped_number(number)}; "
                         "check the units")
    assert isinstance(number, int)  # a number past every float is past every bound too
    return number


def check_each_model_once(argument: str, named: Sequence[tuple[str, str]]) -> None:
    """Refuse a model that ``argument`` names more than once, by any of its spellings.

    A repeat, even as an alias, another case or a ``provider/id`` form, is more often a slip for
    another model than a wish to price or weigh one twice, so it is refused rather than merged.

    Args:
        argument: The parameter the ids came in, which the message leads with.
        named: Each id as the caller spelled it, with the catalog id it resolves to.

    Raises:
        ValueError: Naming each repeated model's catalog id and the spellings it came as.
    """
    spellings: dict[str, list[str]] = {}
    for spelling, model_id in named:
        spellings.setdefault(model_id, []).append(spelling)
    repeats = [_repeat(model_id, given) for model_id, given in spellings.items() if len(given) > 1]
    if repeats:
        raise InputError(f"{argument} names {', '.join(repeats)} more than once; list each model "
                         "once")


def _repeat(model_id: str, spellings: list[str]) -> str:
    """``gpt-4o (as 'gpt-4o' and 'openai/gpt-4o')``; the id alone when it is every spelling."""
    distinct = list(dict.fromkeys(spellings))
    if distinct == [model_id]:
        return model_id
    shown = [repr(spelling) for spelling in distinct]
    listed = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"
    return f"{model_id} (as {listed})"


def _distinct_models(models: Iterable[str], catalog: Catalog) -> list[str]:
    """The catalog ids of ``models``, in order, refused when empty or when one is a repeat."""
    if isinstance(models, str):
        raise TypeError("models must be a list of model ids, not a single string")
    if not isinstance(models, Iterable):
        raise TypeError(f"models must be a list of model ids, not {type(models).__name__}")
    named = [(model, catalog.model(model).id) for model in models]
    if not named:
        raise InputError("models must name at least one model")
    check_each_model_once("models", named)
    return [model_id for _, model_id in named]


def long_context_applies(entry: ModelEntry, input_tokens: int) -> bool:
    """Whether a call of ``input_tokens`` prompt tokens passes the model's
    ``long_context_threshold``, so that its long-context rates apply."""
    threshold = entry.long_context_threshold
    return threshold is not None and input_tokens > threshold


def call_rates(entry: ModelEntry, input_tokens: int) -> tuple[float, float]:
    """The ``(input, output)`` USD per million tokens of one call with ``input_tokens`` prompt
    tokens: the long-context rates once the prompt passes the threshold, as vendors then bill
    the whole call at them, else the base rates."""
    if long_context_applies(entry, input_tokens):
        assert entry.input_per_mtok_long is not None and entry.output_per_mtok_long is not None
        return entry.input_per_mtok_long, entry.output_per_mtok_long
    return entry.input_per_mtok, entry.output_per_mtok


def call_cost_float(entry: ModelEntry, input_tokens: int, output_tokens: int) -> float:
    """What one call of plain input and output costs, priced as :func:`estimate_cost` prices
    it (long-context tier included) and rounded once to a float, by :func:`exact_cost_float`:
    routing prices every candidate this way and must show the figure ``shoal cost`` shows."""
    threshold = entry.long_context_threshold
    if threshold is None or input_tokens <= threshold:
        # Inline for most calls, which no tier applies to: routing prices every candidate.
        input_rate, output_rate = entry.input_per_mtok, entry.output_per_mtok
    else:
        input_rate, output_rate = call_rates(entry, input_tokens)
    return exact_cost_float(((input_tokens, input_rate), (output_tokens, output_rate)))


def _rates(entry: ModelEntry, input_tokens: int) -> _Rates:
    """Pick the rates for one call, applying the long-context tier; a rate the model does not
    list falls back to its input rate (`_call_notes` says so)."""
    input_rate, output_rate = call_rates(entry, input_tokens)
    cached_rate = entry.cached_input_per_mtok
    if long_context_applies(entry, input_tokens) and entry.cached_input_per_mtok_long is not None:
        cached_rate = entry.cached_input_per_mtok_long

    write_rate = entry.cache_write_per_mtok
    return _Rates(
        input=input_rate,
        cached_input=input_rate if cached_rate is None else cached_rate,
        cache_write=input_rate if write_rate is None else write_rate,
        output=output_rate,
    )


def _line(kind: str, tokens: int, rate: float) -> CostLine:
    return CostLine(kind=kind, tokens=tokens, usd_per_mtok=rate,
                    usd=float(exact_usd(tokens, rate)))


def exact_usd(tokens: int, usd_per_mtok: float) -> Decimal:
    """What ``tokens`` cost at a rate per million tokens, exactly: the rate is taken as the
    decimal it is written as (``repr``: 1.32, not the binary float just under it), so that
    lines add up exactly ($0.375 + $0.025 + $0.015 + $0.0075 is $0.4225, where floats make
    0.42250000000000004)."""
    rate = exact_amount(usd_per_mtok)
    return EXACT.multiply(Decimal(tokens), rate).scaleb(-6, EXACT)


def exact_amount(usd: float | Decimal) -> Decimal:
    """A dollar amount as the decimal its float was made from: the shortest digits that read
    back as the same float, which are those of an amount computed exactly (up to 15
    significant digits, as every amount below a billion dollars to the nano-dollar is).

    A float subclass (numpy's ``float64``) is read as the float it holds: its own ``repr``
    (``np.float64(2.5)``) is no number. An int is exact as it is."""
    if isinstance(usd, Decimal):
        return usd
    if isinstance(usd, float):
        return Decimal(float.__repr__(usd))
    if isinstance(usd, int):
        return Decimal(usd)
    raise TypeError(f"an amount in USD must be a number, got {type(usd).__name__}")


def exact_cost_float(priced: Iterable[tuple[int, float]]) -> float:
    """``float(exact_sum(exact_usd(tokens, rate) for tokens, rate in priced))``, without
    Decimal arithmetic: routing prices every candidate of every decision, where the Decimal
    route took a fifth of a decision's time. The sum is kept as a whole number of
    ``10**-places`` dollars and divided once; Python divides integers correctly rounded, so
    the float is the one the exact sum rounds to."""
    places = 0
    total = 0
    for tokens, usd_per_mtok in priced:
        units, rate_places = _rate_units(usd_per_mtok)
        if rate_places > places:
            total *= 10 ** (rate_places - places)
            places = rate_places
        total += tokens * units * 10 ** (places - rate_places)
    return total / 10**places


@functools.lru_cache(maxsize=4096)
def _rate_units(usd_per_mtok: float) -> tuple[int, int]:
    """A rate per million tokens as ``(units, places)``: one token costs ``units`` times
    ``10**-places`` dollars, the rate read as the decimal it is written as (see
    :func:`exact_usd`)."""
    _, digits, exponent = exact_amount(usd_per_mtok).as_tuple()
    assert isinstance(exponent, int)  # a finite rate: the catalog refuses others
    units = int("".join(map(str, digits)) or "0")
    places = 6 - exponent  # per token: a millionth of the rate
    if places < 0:
        return units * 10**-places, 0
    return units, places


def exact_sum(amounts: Iterable[Decimal]) -> Decimal:
    """The sum of exact amounts, with no rounding at any width."""
    total = Decimal(0)
    for amount in amounts:
        total = EXACT.add(total, amount)
    return total


# The per-call limits a call can pass, as :func:`limits_passed` names them.
INPUT_LIMIT = "input_limit"
CONTEXT_WINDOW = "context_window"
MAX_OUTPUT_TOKENS = "max_output_tokens"
# The other kinds of note a call's price can carry: its prompt passes the long-context
# threshold, or it has tokens of a kind the model lists no rate for.
LONG_CONTEXT = "long_context"
CACHED_INPUT_AS_INPUT = "cached_input_as_input"
CACHE_WRITE_AS_INPUT = "cache_write_as_input"
REASONING_ON_OTHER_MODEL = "reasoning_on_other_model"


def limits_passed(
    entry: ModelEntry, input_tokens: int, output_tokens: int, reasoning_tokens: int
) -> tuple[str, ...]:
    """Which of the model's per-call limits one call passes: ``input_limit`` (a prompt the API
    would reject), else ``context_window`` (prompt, output and reasoning together overflow it);
    and ``max_output_tokens`` (output and reasoning together). The one test of a call against a
    model's limits: the notes of an estimate and the savings report's both rest on it."""
    output = output_tokens + reasoning_tokens
    passed = []
    if input_tokens > entry.input_limit:
        passed.append(INPUT_LIMIT)
    elif input_tokens + output > entry.context_window:
        passed.append(CONTEXT_WINDOW)
    if output > entry.max_output_tokens:
        passed.append(MAX_OUTPUT_TOKENS)
    return tuple(passed)


@dataclass(frozen=True)
class _CallNote:
    """A caveat of one call's price: its kind (`INPUT_LIMIT`, `LONG_CONTEXT`, ...), its text
    as the call's estimate says it, and the tokens it measures (0 for a kind that measures
    none), by which a plan words one note for the steps of that kind."""

    kind: str
    text: str
    tokens: int = 0


def _call_notes(entry: ModelEntry, counts: Mapping[str, int]) -> list[_CallNote]:
    """What one call's price on ``entry`` rests on, beyond the plain rates: limits it passes,
    the long-context tier, and tokens priced at a rate not their own."""
    input_tokens, output_tokens, reasoning_tokens = (
        counts[name] for name in ("input_tokens", "output_tokens", "reasoning_tokens"))
    notes = []
    passed = limits_passed(entry, input_tokens, output_tokens, reasoning_tokens)
    output = output_tokens + reasoning_tokens
    output_kind = "output and reasoning" if reasoning_tokens else "output"
    if INPUT_LIMIT in passed:
        notes.append(_CallNote(INPUT_LIMIT, (
            f"{input_tokens:,} input tokens per call exceed {entry.id}'s input limit of "
            f"{entry.input_limit:,}; the API would reject the call"), input_tokens))
    elif CONTEXT_WINDOW in passed:
        # The window holds prompt and output together (as the router checks a fit), whatever
        # output limit the row gives beside it: gpt-4's 4,096-token output limit still leaves
        # only 192 tokens of output after an 8,000-token prompt.
        notes.append(_CallNote(CONTEXT_WINDOW, (
            f"{input_tokens:,} input and {output:,} {output_kind} tokens per call exceed "
            f"{entry.id}'s context window of {entry.context_window:,}, which holds prompt and "
            "output together; the API would reject the call or cut the output short"),
            input_tokens + output))
    if MAX_OUTPUT_TOKENS in passed:
        notes.append(_CallNote(MAX_OUTPUT_TOKENS, (
            f"{output:,} output and reasoning tokens per call exceed "
            f"{entry.id}'s max_output_tokens of {entry.max_output_tokens:,}"), output))
    if long_context_applies(entry, input_tokens):
        notes.append(_CallNote(LONG_CONTEXT, (
            f"long-context rates apply: {input_tokens:,} input tokens per call exceed "
            f"{entry.long_context_threshold:,}"), input_tokens))
    if counts["cached_input_tokens"] and entry.cached_input_per_mtok is None:
        notes.append(_CallNote(CACHED_INPUT_AS_INPUT, (
            f"{entry.id} lists no cached-input rate; cached tokens priced as input")))
    if counts["cache_write_tokens"] and entry.cache_write_per_mtok is None:
        notes.append(_CallNote(CACHE_WRITE_AS_INPUT, (
            f"{entry.id} lists no cache-write rate; cache writes priced as input")))
    if reasoning_tokens and not entry.reasoning:
        notes.append(_CallNote(REASONING_ON_OTHER_MODEL, (
            f"{entry.id} is not listed as a reasoning model; reasoning tokens priced as output "
            "anyway")))
    return notes


def _plan_notes(entry: ModelEntry, step_notes: Iterable[tuple[int, _CallNote]]) -> list[str]:
    """One note per kind for the steps of a plan, naming the steps it concerns (see
    `numbered_runs`), in the order the kinds first come: a plan of 10,000 steps would
    otherwise repeat each note 10,000 times. Steps whose notes of a kind read alike share that
    text; otherwise the note gives the range of the figures it measures."""
    kinds: dict[str, list[tuple[int, _CallNote]]] = {}
    for number, note in step_notes:
        kinds.setdefault(note.kind, []).append((number, note))

    notes = []
    for kind, found in kinds.items():
        steps = numbered_runs([number for number, _ in found], "step")
        texts = {note.text for _, note in found}
        if len(texts) == 1:
            notes.append(f"{steps}: {texts.pop()}")
            continue
        tokens = [note.tokens for _, note in found]
        low, high = min(tokens), max(tokens)
        figures = f"{low:,}" if low == high else f"{low:,} to {high:,}"
        notes.append(f"{steps}: {_RANGE_TEXTS[kind](entry, figures)}")
    return notes


# The kinds of note whose text quotes a step's own figures, worded for steps whose figures
# differ (``figures`` is ``8,000 to 12,000``).
_RANGE_TEXTS: dict[str, Callable[[ModelEntry, str], str]] = {
    INPUT_LIMIT: lambda entry, figures: (
        f"{figures} input tokens per call exceed {entry.id}'s input limit of "
        f"{entry.input_limit:,}; the API would reject those calls"),
    CONTEXT_WINDOW: lambda entry, figures: (
        f"{figures} input, output and reasoning tokens per call exceed {entry.id}'s context "
        f"window of {entry.context_window:,}, which holds prompt and output together; the API "
        "would reject those calls or cut their output short"),
    MAX_OUTPUT_TOKENS: lambda entry, figures: (
        f"{figures} output and reasoning tokens per call exceed {entry.id}'s max_output_tokens "
        f"of {entry.max_output_tokens:,}"),
    LONG_CONTEXT: lambda entry, figures: (
        f"long-context rates apply: {figures} input tokens per call exceed "
        f"{entry.long_context_threshold:,}"),
}


def format_usd(amount: float | Decimal, *, places: int = 2) -> str:
    """A dollar amount for text, never in scientific notation.

    ``$1,234.57`` from a dollar up; below, three significant digits and at least cents
    (``$0.40``, ``$0.0468``, ``$0.0000001``); below a nano-dollar, ``< $0.000000001``. The
    amount is rounded half to even from its decimal digits (a float's as :func:`exact_amount`
    reads them), so $0.4225 is $0.422 whether it comes from a cost, the ledger's nano-dollars
    or a Decimal, and a huge exact amount keeps every digit to the cent.

    ``places`` asks for at least that many decimals, of which those past the cents are shown
    only when they are not 0: a limit of $1.005 is ``$1.005`` at 3, and $5 still ``$5.00``.
    """
    if isinstance(amount, float) and not math.isfinite(amount):
        return f"${amount}"
    exact = exact_amount(amount)
    if exact == 0:
        return "$0"
    if exact < 0:
        return "-" + format_usd(-exact, places=places)
    if exact < Decimal(repr(SMALLEST_USD_SHOWN)):
        return f"< ${SMALLEST_USD_SHOWN:.9f}"
    with localcontext(EXACT):  # formatting a Decimal rounds by the context's rule, at any size
        return _to_the_cent(f"{exact:,.{_usd_decimals(exact, places)}f}")


def usd_apart(amount: float, other: float) -> tuple[str, str]:
    """Two amounts as :func:`format_usd` shows them, with the fewest further decimals that tell
    them apart when they differ: a cost a hair over a limit must not read as the limit itself
    (``$0.002066 against $0.0020659``, not ``$0.00207 against $0.00207``). Amounts under a
    nano-dollar stay ``< $0.000000001``, as everywhere."""
    places = 2
    shown = (format_usd(amount), format_usd(other))
    # A float's decimal digits end within 17 significant figures; 40 places reach past those
    # of any amount from a nano-dollar up.
    while shown[0] == shown[1] and amount != other and places < 40:
        places += 1
        shown = (format_usd(amount, places=places), format_usd(other, places=places))
    return shown


def rounded_usd(amount: float | Decimal, *, places: int = 2) -> Decimal:
    """The amount :func:`format_usd` shows for ``amount``, as a number, to compare figures as
    a reader of them would."""
    exact = exact_amount(amount)
    if exact == 0:
        return exact
    step = Decimal(1).scaleb(-_usd_decimals(abs(exact), places))
    return exact.quantize(step, context=EXACT)


def _usd_decimals(exact: Decimal, places: int) -> int:
    """Decimals :func:`format_usd` rounds a positive amount to: ``places`` from a dollar up,
    else enough for three significant digits."""
    if exact >= 1:
        return places
    return max(places, USD_SIGNIFICANT_DIGITS - 1 - exact.adjusted())


def format_usd_per_mtok(rate: float) -> str:
    """A catalog rate as listed, at least to the cent: ``$0.40``, ``$1.375``, ``$0.075``; a rate
    below a millionth of a dollar keeps three significant digits however small
    (``$0.0000001``, ``$0.00000000000000000001``), never ``$0.00`` beside a line that is not
    zero. Past `EXCERPT_CHARACTERS` digits, where a row of zeros would only hide its size, the
    digits come with a power of ten (``$1e-300``), as an error quotes such a number."""
    if not 0 < rate < 1e-6:
        return _to_the_cent(f"{rate:,.6f}")
    # The float's own decimal digits, rounded as a cost is (half to even), not its binary value.
    significant = Context(prec=USD_SIGNIFICANT_DIGITS, rounding=ROUND_HALF_EVEN)
    rounded = significant.plus(Decimal(repr(rate)))
    fixed = f"{rounded:f}"
    if len(fixed) > EXCERPT_CHARACTERS:
        return f"${rounded.normalize(significant):e}"
    return _to_the_cent(fixed if "." in fixed else f"{fixed}.00")


def _to_the_cent(figure: str) -> str:
    """``$`` and a fixed-point figure without the zeros past the cents, which only pad it
    (``0.0500`` is ``$0.05``)."""
    whole, fraction = figure.split(".")
    return f"${whole}.{fraction[:2]}{fraction[2:].rstrip('0')}"


def price_basis(prices_as_of: str, price_file: str | None) -> str:
    """``prices of 2026-12-04``, with ``from user file NAME`` when a price file gave them."""
    source = f" from user file {price_file}" if price_file else ""
    return f"prices of {prices_as_of}{source}"


def estimate_cost(
    model: str,
    *,
    input_tokens: int = 0,
    output_tokens: int = 0,
    cached_input_tokens: int = 0,
    cache_write_tokens: int = 0,
    reasoning_tokens: int = 0,
    calls: int = 1,
    catalog: Catalog | None = None,
) -> CostEstimate:
    """Estimate the USD cost of ``calls`` identical calls to a hosted model.

    Token counts are per call. ``input_tokens`` is the whole prompt; ``cached_input_tokens`` and
    ``cache_write_tokens`` are the parts of it read from and written to the prompt cache, priced
    at the cached-read and cache-write rates, and the rest is priced as plain input. (From an
    Anthropic usage report pass ``input_tokens = input + cache_creation + cache_read``; OpenAI's
    ``prompt_tokens`` already includes ``cached_tokens``.) ``reasoning_tokens`` are hidden
    thinking tokens, billed at the output rate on top of the visible ``output_tokens``: from an
    OpenAI report pass ``completion_tokens - reasoning_tokens`` as ``output_tokens``.

    When a call's input exceeds the model's ``long_context_threshold`` the long-context rates
    apply to the whole call. A model with no listed cached or cache-write rate is charged its
    input rate for those tokens, and the estimate says so in ``notes``; so it does of a call
    past the model's input limit, its context window (which holds prompt, output and reasoning
    together) or its ``max_output_tokens``. Every count defaults to
    0, but at least one must be above 0: a workload of no tokens would be priced $0, which says
    nothing about any model (:func:`price_usage` prices a call that was made, whatever it used).

    Args:
        model: Catalog id, alias or ``provider/id``.
        input_tokens: Prompt tokens per call, cached parts included.
        output_tokens: Visible completion tokens per call.
        cached_input_tokens: Prompt tokens per call read from the cache.
        cache_write_tokens: Prompt tokens per call written to the cache.
        reasoning_tokens: Hidden reasoning tokens per call.
        calls: Number of identical calls.
        catalog: Catalog to price from; the configured one when None (the
            shipped catalog with ``SHOAL_PRICES`` applied, as the CLI and the MCP server price).

    Returns:
        The itemised estimate.

    Raises:
        TypeError: If a count is not an integer.
        NoTokensError: If every token count is 0.
        ValueError: If a count is negative or implausibly large, ``calls`` is below 1, or the
            cached and cache-write parts add up to more than ``input_tokens``.
        UnknownModelError: If the model is not in the catalog.
    """
    tokens = dict(zip(TOKEN_FIELDS, (input_tokens, output_tokens, cached_input_tokens,
                                     cache_write_tokens, reasoning_tokens), strict=True))
    # Priced first, so that a malformed count or a mistyped model is named before the zeros.
    estimate = price_usage(model, calls=calls, catalog=catalog, **tokens)
    check_some_tokens(tokens)
    return estimate


def price_usage(
    model: str,
    *,
    input_tokens: int = 0,
    output_tokens: int = 0,
    cached_input_tokens: int = 0,
    cache_write_tokens: int = 0,
    reasoning_tokens: int = 0,
    calls: int = 1,
    catalog: Catalog | None = None,
) -> CostEstimate:
    """What ``calls`` identical calls cost, priced as :func:`estimate_cost` prices them, except
    that a call of no tokens is priced $0 rather than refused.

    For tokens that were really used or chosen, where none is a valid answer: a recorded call
    that billed nothing, or a context plan that fits nothing in. A model retired by its
    catalog ``deprecation_date`` is priced all the same, with a note that names the date.

    Raises:
        TypeError, ValueError, UnknownModelError: As :func:`estimate_cost`, bar the zeros.
    """
    check_catalog(catalog)
    counts = (input_tokens, output_tokens, cached_input_tokens, cache_write_tokens,
              reasoning_tokens)
    estimate = _price_calls(model, dict(zip(TOKEN_FIELDS, counts, strict=True)), calls, catalog)
    return _with_retirement(estimate, catalog)


def _checked_call_counts(
    tokens: Mapping[str, object], calls: object
) -> tuple[dict[str, int], int]:
    """A call's counts (by :data:`TOKEN_FIELDS` name) and ``calls``, refused when one is not a
    whole number in range or the cached and cache-write parts add up to more than the prompt."""
    counts = {name: check_count(name, tokens[name], MAX_TOKENS_PER_CALL) for name in TOKEN_FIELDS}
    checked_calls = check_count("calls", calls, MAX_CALLS, minimum=1)
    cached, written, prompt = (counts[name] for name in
                               ("cached_input_tokens", "cache_write_tokens", "input_tokens"))
    if cached + written > prompt:
        raise InputError(
            f"cached_input_tokens ({cached:,}) plus cache_write_tokens ({written:,}) must not "
            f"exceed input_tokens ({prompt:,}); they are parts of the prompt"
        )
    return counts, checked_calls


def _with_retirement(estimate: CostEstimate, catalog: Catalog | None) -> CostEstimate:
    """``estimate`` with a first note naming the day its model was retired, if it was."""
    catalog = catalog if catalog is not None else configured_catalog()
    note = retirement_note(catalog.model(estimate.model))
    if note is None:
        return estimate
    return dataclasses.replace(estimate, notes=(note, *estimate.notes))


def _price_calls(
    model: str, tokens: Mapping[str, int], calls: int, catalog: Catalog | None
) -> CostEstimate:
    """:func:`price_usage` of the counts in ``tokens`` (by :data:`TOKEN_FIELDS` name), without
    the retirement note, which a plan gives once, not once a step."""
    counts, calls = _checked_call_counts(tokens, calls)
    input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens = (
        counts[name] for name in TOKEN_FIELDS
    )

    catalog = catalog if catalog is not None else configured_catalog()
    entry = catalog.model(model)
    notes = [note.text for note in _call_notes(entry, counts)]
    rates = _rates(entry, input_tokens)

    plain_input = input_tokens - cached_input_tokens - cache_write_tokens
    lines = [_line("input", plain_input * calls, rates.input)]
    if cached_input_tokens:
        lines.append(_line("cached_input", cached_input_tokens * calls, rates.cached_input))
    if cache_write_tokens:
        lines.append(_line("cache_write", cache_write_tokens * calls, rates.cache_write))
    lines.append(_line("output", output_tokens * calls, rates.output))
    if reasoning_tokens:
        lines.append(_line("reasoning", reasoning_tokens * calls, rates.output))

    return CostEstimate(
        model=entry.id,
        line_items=tuple(lines),
        total_usd=_float_total(lines),
        catalog_date=catalog.catalog_date,
        prices_as_of=entry.as_of,
        price_file=catalog.price_files.get(entry.id),
        notes=tuple(notes),
    )


def _float_total(lines: Iterable[CostLine]) -> float:
    """The nearest float to the exact sum of the lines."""
    return float(exact_sum(exact_usd(line.tokens, line.usd_per_mtok) for line in lines))


def estimate_cost_for_text(
    model: str,
    prompt: str,
    *,
    expected_output_tokens: int = 256,
    reasoning_tokens: int = 0,
    calls: int = 1,
    catalog: Catalog | None = None,
) -> CostEstimate:
    """Estimate the USD cost of sending ``prompt`` to a hosted model ``calls`` times.

    The prompt is counted as plain text with the model's tokenizer (:func:`shoal.tokens.
    count_tokens`): exactly for models with a public encoding, otherwise as an ``o200k_base``
    count scaled by the model's ``token_ratio`` and rounded up, which ``notes`` then says. Chat
    message framing (a few tokens per message) and tool definitions are not counted.

    Args:
        model: Catalog id, alias or ``provider/id``.
        prompt: The whole prompt text.
        expected_output_tokens: Visible completion tokens expected per call.
        reasoning_tokens: Hidden reasoning tokens expected per call.
        calls: Number of identical calls.
        catalog: Catalog to count and price with; the configured one when None (the
            shipped catalog with ``SHOAL_PRICES`` applied, as the CLI and the MCP server price).

    Returns:
        The itemised estimate; ``notes`` record the output assumption and any estimated count.

    Raises:
        TypeError: If ``prompt`` is not a string or a count is not an integer.
        ValueError: For the reasons :func:`estimate_cost` gives, or a prompt with an unpaired
            surrogate.
        UnknownModelError: If the model is not in the catalog.
    """
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a string, got {type(prompt).__name__}")
    expected_output_tokens = check_count("expected_output_tokens", expected_output_tokens,
                                         MAX_TOKENS_PER_CALL)
    reasoning_tokens = check_count("reasoning_tokens", reasoning_tokens, MAX_TOKENS_PER_CALL)
    check_catalog(catalog)

    if catalog is None:
        counted = count_tokens(prompt, model=model)
        entry = configured_catalog().model(model)
    else:
        entry = catalog.model(model)
        counted = _count_with_entry(prompt, entry)

    if not (counted.tokens or expected_output_tokens or reasoning_tokens):
        # In this function's own terms: estimate_cost would name input_tokens and the cache
        # counts, which it does not take.
        raise NoTokensError("give something to price: the prompt has no tokens and "
                            "expected_output_tokens and reasoning_tokens are 0, so every call "
                            "would be priced $0")
    estimate = estimate_cost(
        model, input_tokens=counted.tokens, output_tokens=expected_output_tokens,
        reasoning_tokens=reasoning_tokens, calls=calls, catalog=catalog,
    )
    notes = [f"output assumed to be {expected_output_tokens:,} tokens per call"]
    if not counted.exact:
        notes.append(
            f"prompt token count is an estimate ({ESTIMATE_BASE_ENCODING} count x "
            f"{entry.token_ratio:.2f}, rounded up): {entry.id} has no public tokenizer"
        )
    return dataclasses.replace(estimate, notes=tuple(notes) + estimate.notes)


def _count_with_entry(prompt: str, entry: ModelEntry) -> TokenCount:
    """Count ``prompt`` with the tokenizer facts of a row from a caller's catalog.

    Same rule as :func:`shoal.tokens.count_tokens`, which reads the configured catalog: a user
    file may add the model or change its ``token_ratio``.
    """
    return counted_by(tokenizer_of(entry), prompt)


def compare_costs(
    models: Iterable[str],
    *,
    input_tokens: int = 0,
    output_tokens: int = 0,
    cached_input_tokens: int = 0,
    cache_write_tokens: int = 0,
    reasoning_tokens: int = 0,
    calls: int = 1,
    baseline: str | None = None,
    catalog: Catalog | None = None,
) -> list[CostComparison]:
    """Price one workload on several models, cheapest first, with savings against a baseline.

    Args:
        models: Catalog ids (aliases and ``provider/id`` forms allowed), each model once.
        input_tokens: As for :func:`estimate_cost`; the same workload for every model.
        output_tokens: As for :func:`estimate_cost`.
        cached_input_tokens: As for :func:`estimate_cost`.
        cache_write_tokens: As for :func:`estimate_cost`.
        reasoning_tokens: As for :func:`estimate_cost`.
        calls: As for :func:`estimate_cost`.
        baseline: Model to measure savings against (need not be in ``models``); None for no
            savings figures.
        catalog: Catalog to price from; the configured one when None (the
            shipped catalog with ``SHOAL_PRICES`` applied, as the CLI and the MCP server price).

    Returns:
        One comparison per model, sorted by cost, then by id for equal costs.

    Raises:
        ValueError: If ``models`` is empty or names a model twice (by any spelling), or for any
            reason :func:`estimate_cost` gives.
    """
    check_catalog(catalog)
    catalog = catalog if catalog is not None else configured_catalog()
    model_ids = _distinct_models(models, catalog)

    def price_workload(model: str) -> CostEstimate:
        return estimate_cost(
            model, input_tokens=input_tokens, output_tokens=output_tokens,
            cached_input_tokens=cached_input_tokens, cache_write_tokens=cache_write_tokens,
            reasoning_tokens=reasoning_tokens, calls=calls, catalog=catalog,
        )

    estimates = [price_workload(model_id) for model_id in model_ids]
    baseline_estimate = None if baseline is None else price_workload(baseline)
    comparisons = [_compare(estimate, baseline_estimate) for estimate in estimates]
    comparisons.sort(key=lambda item: (item.total_usd, item.model))
    return comparisons


def _compare(estimate: CostEstimate, baseline: CostEstimate | None) -> CostComparison:
    if baseline is None:
        return CostComparison(model=estimate.model, total_usd=estimate.total_usd, baseline=None,
                              baseline_total_usd=None, savings_usd=None, savings_fraction=None,
                              estimate=estimate)
    baseline_total = baseline.exact_total_usd
    savings = EXACT.subtract(baseline_total, estimate.exact_total_usd)
    fraction = None
    if baseline_total:
        exact_fraction = EXACT.divide(savings, baseline_total)
        fraction = float(EXACT.quantize(exact_fraction, Decimal(1).scaleb(-FRACTION_DIGITS)))
    return CostComparison(
        model=estimate.model,
        total_usd=estimate.total_usd,
        baseline=baseline.model,
        baseline_total_usd=baseline.total_usd,
        savings_usd=float(savings),
        savings_fraction=fraction,
        estimate=estimate,
        baseline_notes=baseline.notes,
    )


CALL_FIELDS = (*TOKEN_FIELDS, "calls")
MAX_PLANNED_CALLS = 10_000


def check_plan(plan: Sequence[Mapping[str, int]]) -> list[dict[str, int]]:
    """Check a planned sequence of calls as :func:`estimate_plan_cost` prices it, before any
    model is looked up, so that a caller reading a plan from a file can name the file in every
    refusal of what it holds, and the model in none.

    Args:
        plan: Steps such as ``{"input_tokens": 12000, "output_tokens": 800}``, with any of the
            token keys of :func:`estimate_cost` and an optional ``calls`` repeat count.

    Returns:
        Each step with every key of ``CALL_FIELDS``: a count left out is 0, ``calls`` 1.

    Raises:
        TypeError: A plan that is not a list of dicts, or a count that is not a whole number.
        NoTokensError: Every step's token counts are all 0 (a step of no tokens beside others
            is priced $0).
        ValueError: An empty or overlong plan, an unknown key, or a count :func:`estimate_cost`
            refuses (the message names the step).
    """
    if isinstance(plan, (str, bytes, Mapping)) or not isinstance(plan, Sequence):
        raise TypeError("plan must be a list of steps, each a dict of token counts")
    if not plan:
        raise InputError("plan must have at least one step")
    if len(plan) > MAX_PLANNED_CALLS:
        raise InputError(f"plan must have at most {MAX_PLANNED_CALLS:,} steps, got "
                         f"{len(plan):,}; give identical steps once with a 'calls' count, or "
                         "split the plan")

    steps = []
    # Each step's tokens summed, to refuse a plan that prices nothing; a step of its own may be
    # empty (a placeholder beside real ones).
    planned_tokens = dict.fromkeys(TOKEN_FIELDS, 0)
    for number, step in enumerate(plan, start=1):
        if not isinstance(step, Mapping):
            raise TypeError(f"plan step {number} must be a dict of token counts")
        unknown = set(step) - set(CALL_FIELDS)
        if unknown:
            # Each key cut to an excerpt, and a few of them listed: a key may be megabytes.
            listed = first_few(map(excerpt, sorted(unknown)), len(unknown))
            raise InputError(f"plan step {number} has unknown keys [{listed}]; use "
                             f"{', '.join(CALL_FIELDS)}")
        try:
            counts, calls = _checked_call_counts(
                {name: step.get(name, 0) for name in TOKEN_FIELDS}, step.get("calls", 1))
        except (TypeError, ValueError) as error:
            raise type(error)(f"plan step {number}: {error}") from None
        for name in TOKEN_FIELDS:
            planned_tokens[name] += counts[name]
        steps.append({**counts, "calls": calls})

    check_some_tokens(planned_tokens, plan=True)
    return steps


def estimate_plan_cost(
    model: str,
    plan: Sequence[Mapping[str, int]],
    *,
    catalog: Catalog | None = None,
) -> CostEstimate:
    """Estimate the USD cost of a planned sequence of different calls to one model.

    Each step is priced on its own, as :func:`estimate_cost` prices one call (so a long-context
    tier applies to exactly the steps whose prompt passes the threshold), and the lines of the
    same kind and rate are added up, in the order they first appear.

    Args:
        model: Catalog id, alias or ``provider/id``.
        plan: Steps such as ``{"input_tokens": 12000, "output_tokens": 800}``, with any of the
            token keys of :func:`estimate_cost` and an optional ``calls`` repeat count.
        catalog: Catalog to price from; the configured one when None (the
            shipped catalog with ``SHOAL_PRICES`` applied, as the CLI and the MCP server price).

    Returns:
        One itemised estimate for the whole plan; ``notes`` gives one note per kind, naming
        the steps it concerns (``steps 1-10,000: ...``), however many there are.

    Raises:
        NoTokensError: Every step's token counts are all 0 (a step of no tokens beside others
            is priced $0).
        ValueError: Any reason :func:`check_plan` gives, checked before the model is looked up.
        UnknownModelError: If the model is not in the catalog.
    """
    steps = check_plan(plan)
    check_catalog(catalog)
    catalog = catalog if catalog is not None else configured_catalog()

    entry = catalog.model(model)
    totals: dict[tuple[str, float], int] = {}
    step_notes: list[tuple[int, _CallNote]] = []
    for number, step in enumerate(steps, start=1):
        counts = {name: step[name] for name in TOKEN_FIELDS}
        estimate = _price_calls(model, counts, step["calls"], catalog)
        for line in estimate.line_items:
            key = (line.kind, line.usd_per_mtok)
            totals[key] = totals.get(key, 0) + line.tokens
        step_notes.extend((number, note) for note in _call_notes(entry, counts))

    lines = [_line(kind, tokens, rate) for (kind, rate), tokens in totals.items()]
    estimate = CostEstimate(
        model=entry.id, line_items=tuple(lines), total_usd=_float_total(lines),
        catalog_date=catalog.catalog_date, prices_as_of=entry.as_of,
        price_file=catalog.price_files.get(entry.id), notes=tuple(_plan_notes(entry, step_notes)),
    )
    return _with_retirement(estimate, catalog)


def compare_plan_costs(
    models: Iterable[str],
    plan: Sequence[Mapping[str, int]],
    *,
    baseline: str | None = None,
    catalog: Catalog | None = None,
) -> list[CostComparison]:
    """Price one planned sequence of calls on several models, cheapest first, with savings
    against ``baseline`` (see :func:`compare_costs` and :func:`estimate_plan_cost`)."""
    check_catalog(catalog)
    catalog = catalog if catalog is not None else configured_catalog()
    model_ids = _distinct_models(models, catalog)
    estimates = [estimate_plan_cost(model_id, plan, catalog=catalog) for model_id in model_ids]
    baseline_estimate = (None if baseline is None
                         else estimate_plan_cost(baseline, plan, catalog=catalog))
    comparisons = [_compare(estimate, baseline_estimate) for estimate in estimates]
    comparisons.sort(key=lambda item: (item.total_usd, item.model))
    return comparisons
