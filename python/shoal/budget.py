"""Fitting context to a token budget: choose what goes into a prompt, and trim a chat history.

``fit_budget`` packs items (texts or files, each with a priority) into a budget. Its rule:

1. Tool calls and their results share a ``group`` id and are one unit: its tokens and its
   priority are the sums of its members', it is required when any member is, and it goes in
   whole or not at all (never truncated).
2. Every required unit goes in. If they alone exceed the budget, that is an error.
3. The optional units are ranked by priority per token, highest first; ties go to the higher
   priority, then to fewer tokens, then to the earlier item. In that order each unit goes in if
   it still fits; a unit that does not fit is skipped and smaller ones after it are still tried.
   A unit of zero tokens costs nothing and always goes in.
4. With ``truncate_last``, after step 3 (so whole items, lower-ranked ones included, go in
   first), the highest-ranked single item that did not fit is cut at a token boundary to fill
   what is left (:func:`shoal.token_budget.truncate`, keeping its head). It is cut only when at
   least ``min_truncated_tokens`` (default 32) of it fit; otherwise it stays dropped and its
   reason says so. Groups are never cut.

Each item is counted on its own with the model's tokenizer (:func:`shoal.tokens.count_tokens`),
so joining the items may add or save a token or two at each seam; leave that margin.

``trim_chat`` keeps a chat's system messages and its latest turns, and keeps each tool call
together with its results (OpenAI ``tool_calls``/``tool`` messages, Anthropic ``tool_use``/
``tool_result`` blocks), so the trimmed history never holds an orphan.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from shoal.catalog import MAX_ID_LENGTH, configured_catalog
from shoal.cost import MAX_TOKENS_PER_CALL, CostEstimate, check_count, price_usage
from shoal.errors import InputError, ShoalError
from shoal.excerpts import excerpt, grouped_number, quoted_path, unknown_field
from shoal.file_names import check_file_name
from shoal.files import (
    BINARY_REASON,
    existing_roots,
    home_expanded,
    not_utf8,
    read_regular_file,
    refused_prefix,
    unreadable_reason,
)
from shoal.frozen_mapping import FrozenDict, deep_frozen
from shoal.numbers_in import real_number, whole_number
from shoal.token_budget import truncate
from shoal.tokens import (
    NOTE_ORDER,
    REPLY_PRIMING_TOKENS,
    TOKENS_PER_MESSAGE,
    TOKENS_PER_NAME,
    _check_list,
    check_unicode,
    count_chat,
    message_texts_of,
    tokenizer_for,
)

logger = logging.getLogger(__name__)

MAX_BUDGET_TOKENS = 100_000_000
MAX_ITEMS = 10_000
MAX_MESSAGES = 100_000
MAX_FILE_BYTES = 20_000_000
# No option raises MAX_FILE_BYTES: the total below bounds what all file items hold together.
FILE_ITEM_REMEDY = (
    "a fixed limit for file items: split the file into parts with shoal split --out-dir and "
    "name those, or give a part of it as a text item"
)
# Items can name many large files; what all file items hold together is bounded.
MAX_TOTAL_FILE_CHARACTERS = 4 * MAX_FILE_BYTES

FIT_RULE = (
    "required items first; then optional items by priority per token, highest first (ties: "
    "higher priority, fewer tokens, earlier item); a tool-call group is one unit with summed "
    "priority and tokens, all in or all out; an item that does not fit is skipped and smaller "
    "ones are still tried"
)

# What the plan's rule adds with truncate_last; {minimum} is min_truncated_tokens.
TRUNCATION_RULE = (
    "; then the highest-ranked single item that did not fit is cut at a token boundary to what "
    "is left, if at least {minimum} tokens of it fit"
)
DEFAULT_MIN_TRUNCATED_TOKENS = 32

# Call ids quoted in a note: a few, each cut short, so that a message with thousands of orphaned
# blocks, or an id a megabyte long, still gives a note of one line.
QUOTED_IDS = 3

SYSTEM_ROLES = ("system", "developer")
# OpenAI's chat roles; Anthropic's (user, assistant) are among them. count_chat counts a role as
# text whatever it says, so an unknown role is refused here, where it decides what is kept.
CHAT_ROLES = (*SYSTEM_ROLES, "user", "assistant", "tool", "function")


class BudgetTooSmallError(ShoalError, ValueError):
    """What must go in does not fit the budget; the message gives both sizes."""


@dataclass(frozen=True)
class BudgetItem:
    """One candidate for the context.

    Attributes:
        id: Unique name of the item.
        text: The item's text; give either this or ``path`` (an empty text beside a path is
            taken as not given).
        path: A UTF-8 file to read, inside one of the allowed roots; ``~`` is the home folder
            (an empty path beside a text is taken as not given).
        priority: How much the item is worth (any scale, at least 0).
        required: Whether the item must go in.
        group: Items with the same group (a tool call and its results) go in together or not
            at all.
    """

    id: str
    text: str | None = None
    path: str | None = None
    priority: float = 1.0
    required: bool = False
    group: str | None = None


@dataclass(frozen=True)
class PlannedItem:
    """What the plan does with one item.

    Attributes:
        id: The item's id.
        status: ``included``, ``truncated`` or ``dropped``.
        tokens: Tokens of the whole item.
        included_tokens: Tokens that go in: all, the truncated part, or 0.
        priority: The item's priority.
        required: Whether the item was required.
        group: The item's group, if any.
        rank: Position in the priority-per-token order among optional units (1 = first), or
            None for required items.
        source: ``text``, or the resolved path of the file read.
        text: The truncated text, for a truncated item; None otherwise.
        reason: Why the item has its status.
    """

    id: str
    status: str
    tokens: int
    included_tokens: int
    priority: float
    required: bool
    group: str | None
    rank: int | None
    source: str
    text: str | None
    reason: str


@dataclass(frozen=True)
class FitPlan:
    """A context plan: what goes in, what is cut, what is left out, and what it costs.

    Attributes:
        model: Canonical catalog id of the model counted and priced for.
        budget_tokens: The budget.
        total_tokens: Tokens of everything that goes in.
        remaining_tokens: Budget left.
        items: One entry per item, in the order given.
        included: Ids that go in whole.
        truncated: Ids that go in cut short.
        dropped: Ids left out.
        exact: Whether the counts are exact (False: the model's tokenizer is estimated).
        encoding: The encoding that counted the items; for an estimate, the one whose counts
            were scaled.
        cost: Price of ``total_tokens`` input tokens (plus the expected output) on the model.
        rule: The selection rule applied.
        token_ratio: For an estimate, the model's tokens per ``encoding`` token; None when exact.
        ratio_source: For an estimate, where the catalog's ratio comes from; None when exact.
    """

    model: str
    budget_tokens: int
    total_tokens: int
    remaining_tokens: int
    items: tuple[PlannedItem, ...]
    included: tuple[str, ...]
    truncated: tuple[str, ...]
    dropped: tuple[str, ...]
    exact: bool
    encoding: str
    cost: CostEstimate
    rule: str
    token_ratio: float | None = None
    ratio_source: str | None = None


@dataclass(frozen=True)
class TrimmedChat:
    """A chat history cut to a budget.

    Attributes:
        model: Canonical catalog id the messages were counted for.
        budget_tokens: The budget.
        tokens: Prompt tokens of the kept messages and the tools, reply priming included.
        messages: The kept messages, in order (orphaned tool-result blocks removed), read-only
            all the way down (dicts and lists that refuse changes, see
            :mod:`shoal.frozen_mapping`), so that the result hashes and no change reaches
            another holder of it; ``json.loads(json.dumps(message))`` gives a copy to change.
        kept: Indices of the kept messages in the input.
        dropped: Indices of the dropped messages in the input.
        changed: Indices of kept messages whose content differs from the input's (orphaned
            tool-result blocks removed): a caller that resends its own messages by ``kept``
            must take these from ``messages``.
        tool_tokens: Tokens of the tool definitions, counted against the budget.
        exact: Whether the count follows rules checked against the model's API.
        method: How the messages were counted.
        notes: What was dropped for a reason other than age, and why.
    """

    model: str
    budget_tokens: int
    tokens: int
    messages: tuple[FrozenDict[str, Any], ...]
    kept: tuple[int, ...]
    dropped: tuple[int, ...]
    tool_tokens: int
    exact: bool
    method: str
    notes: tuple[str, ...]
    changed: tuple[int, ...] = ()


# ---- reading items ----------------------------------------------------------------------------


def _check_budget(budget_tokens: object) -> int:
    number = whole_number(budget_tokens)
    if number is None:
        raise TypeError(f"budget_tokens must be a whole number, got {type(budget_tokens).__name__}")
    if not 1 <= number <= MAX_BUDGET_TOKENS:
        raise InputError(f"budget_tokens must be 1 to {MAX_BUDGET_TOKENS:,}, got "
                         f"{grouped_number(number)}")
    return number


def _check_min_truncated(min_truncated_tokens: object) -> int:
    number = whole_number(min_truncated_tokens)
    if number is None:
        raise TypeError("min_truncated_tokens must be a whole number, got "
                        f"{type(min_truncated_tokens).__name__}")
    if not 1 <= number <= MAX_BUDGET_TOKENS:
        raise InputError(f"min_truncated_tokens must be 1 to {MAX_BUDGET_TOKENS:,}, got "
                         f"{grouped_number(number)}")
    return number


# The fields an item given as a mapping may have: BudgetItem's.
ITEM_FIELDS = ("id", "text", "path", "priority", "required", "group")


def _as_item(raw: BudgetItem | Mapping[str, Any], index: int) -> BudgetItem:
    if isinstance(raw, BudgetItem):
        item = raw
    elif isinstance(raw, Mapping):
        unknown = unknown_field(raw, ITEM_FIELDS)
        if unknown is not None:
            raise InputError(f"items[{index}]: {unknown}; use id, text or path, priority, "
                             "required, group")
        if "id" not in raw:
            raise InputError(f"items[{index}] has no 'id'; every item needs a unique id")
        item = BudgetItem(**raw)
    else:
        raise TypeError(f"items[{index}] must be an object with an id and a text or path (a "
                        f"dict or BudgetItem), got {excerpt(raw)}")

    if not isinstance(item.id, str) or not item.id.strip() or len(item.id) > MAX_ID_LENGTH:
        raise InputError(f"items[{index}].id must be a non-empty string of at most "
                         f"{MAX_ID_LENGTH} characters")
    # The id is repeated in every message below and in the answer: it must have a UTF-8 form.
    check_unicode(item.id, f"items[{index}].id")
    item = _without_empty_defaults(item)
    if item.text is None and item.path is None:
        raise InputError(f"item {item.id!r} gives neither text nor path; give exactly one of "
                         "text and path")
    if item.text is not None and item.path is not None:
        raise InputError(f"item {item.id!r} gives both text and path; give exactly one of text "
                         "and path")
    if item.text is not None and not isinstance(item.text, str):
        raise TypeError(f"item {item.id!r}: text must be a string, got {excerpt(item.text)}")
    if item.text is not None:
        check_unicode(item.text, f"item {item.id!r}: text")
    if item.path is not None and not isinstance(item.path, str):
        raise TypeError(f"item {item.id!r}: path must be a string, got {excerpt(item.path)}")
    priority = real_number(item.priority)
    if priority is None:
        raise TypeError(f"item {item.id!r}: priority must be a number, got "
                        f"{excerpt(item.priority)}")
    if not math.isfinite(priority) or priority < 0:
        raise InputError(f"item {item.id!r}: priority must be finite and at least 0, got "
                         f"{excerpt(priority)}")
    if priority is not item.priority:
        # A priority from numpy, kept as the plain number it was read as.
        item = replace(item, priority=priority)
    if not isinstance(item.required, bool):
        raise TypeError(f"item {item.id!r}: required must be true or false, got "
                        f"{excerpt(item.required)}")
    if item.group is not None and (not isinstance(item.group, str) or not item.group.strip()):
        raise InputError(f"item {item.id!r}: group must be a non-empty string, or left out, "
                         f"got {excerpt(item.group)}")
    if item.group is not None:
        check_unicode(item.group, f"item {item.id!r}: group")
    if item.path is not None:
        if not item.path:
            # Path("") is the current folder: an empty path is a missing value, not "here".
            raise InputError(f"item {item.id!r}: path is empty; name a file")
        # A file name need not be valid Unicode: its bytes that are not UTF-8 reach Python as
        # surrogates the system takes back, as count_files reads them.
        check_file_name(item.path, f"item {item.id!r}: path")
    return item


def _without_empty_defaults(item: BudgetItem) -> BudgetItem:
    """``item`` with an empty text beside a path, or an empty path beside a text, taken as not
    given.

    An empty string is the MCP schema's default for both fields and a client may send every
    default, so ``{"text": "", "path": "a.txt"}`` most likely means the file; Python and the CLI
    read it the same way, so an items file behaves alike everywhere. An empty text alone (or
    beside an empty path) is an empty item; an empty path alone is refused.
    """
    if item.text == "" and isinstance(item.path, str) and item.path:
        return replace(item, text=None)
    if item.path == "" and item.text is not None:
        return replace(item, path=None)
    return item


def parse_items(items: Iterable[BudgetItem | Mapping[str, Any]]) -> list[BudgetItem]:
    """Check the candidates of :func:`fit_budget` and return them as :class:`BudgetItem`.

    Raises:
        ValueError, TypeError: A malformed item (the message names it by index or id), too
            many items, or an id given twice.
    """
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise TypeError(f"items must be a list of items, not {type(items).__name__}")
    parsed = [_as_item(raw, index) for index, raw in enumerate(items)]
    if len(parsed) > MAX_ITEMS:
        raise InputError(f"at most {MAX_ITEMS:,} items, got {len(parsed):,}")

    seen: set[str] = set()
    for item in parsed:
        if item.id in seen:
            raise InputError(f"item ids must be unique; {item.id!r} appears twice")
        seen.add(item.id)
    return parsed


def _read_file(item: BudgetItem, roots: Sequence[Path]) -> tuple[str, str]:
    """The text of a file item and its resolved path, refusing anything outside ``roots``."""
    assert item.path is not None
    if not roots:
        raise InputError(
            f"item {item.id!r} names a file, but no directories are allowed: pass roots=[...] "
            "(the MCP server allows the folders of `shoal serve --root DIR`)"
        )
    resolved_roots = [root.expanduser().resolve() for root in roots]
    shown = quoted_path(item.path)
    try:
        resolved = _resolved(item, shown, resolved_roots)
        if resolved.is_dir():
            raise InputError(f"item {item.id!r}: {shown} is a folder; name a file")
    except OSError as error:
        # A name too long for the file system, a loop of links: the path names no file it can
        # read, which is the caller's to correct, like a path that does not exist.
        raise InputError(f"item {item.id!r}: cannot read {shown}: {error.strerror}") from None
    data = read_regular_file(resolved, MAX_FILE_BYTES, remedy=FILE_ITEM_REMEDY)
    if isinstance(data, str):
        raise InputError(f"item {item.id!r}: cannot read {shown}: {data}")
    reason = unreadable_reason(data, refuse_binary=True)
    if reason is not None:
        # The rule count_files skips files by, so the two tools agree on a file.
        remedy = "; name a text file" if reason == BINARY_REASON else ""
        raise InputError(f"item {item.id!r}: {shown} is {reason}{remedy}")
    try:
        return data.decode("utf-8"), str(resolved)
    except UnicodeDecodeError as error:
        raise InputError(f"item {item.id!r}: {shown} is {not_utf8(error)}") from None


def _check_file_named_once(item: BudgetItem, source: str, item_by_file: dict[str, str]) -> None:
    """Refuse a file item whose file an earlier item names, by whatever path: the same text
    would go in twice, under two ids."""
    first = item_by_file.setdefault(source, item.id)
    if first != item.id:
        raise InputError(f"items {first!r} and {item.id!r} name the same file, "
                         f"{quoted_path(source)}; give each file once")


def _resolved(item: BudgetItem, shown: str, roots: Sequence[Path]) -> Path:
    """The real path of a file item (``shown`` as its errors show it), refused outside
    ``roots`` and under /proc, /dev and /sys."""
    assert item.path is not None  # and holds no NUL: parse_items refused one
    candidate = home_expanded(Path(item.path))
    if not candidate.is_absolute():
        candidate = roots[0] / candidate
    # Every link followed, so none can lead out; checked before existence, so a refusal says
    # nothing about what exists outside the roots.
    resolved = Path(os.path.realpath(candidate))
    if not any(resolved.is_relative_to(root) for root in roots):
        raise InputError(f"item {item.id!r}: {shown} is outside the allowed directories "
                         f"({', '.join(str(root) for root in roots)})")
    # The path as written too: /dev/stdin leads to a file when standard input is one.
    refused = refused_prefix(Path(os.path.abspath(candidate)))
    if refused is not None:
        raise InputError(f"item {item.id!r}: {shown} is under {refused}, which shoal never "
                         "reads")
    refused = refused_prefix(resolved)
    if refused is not None:
        raise InputError(f"item {item.id!r}: {shown} leads to {quoted_path(str(resolved))}, "
                         f"under {refused}, which shoal never reads")
    return resolved


# ---- fitting items ----------------------------------------------------------------------------


@dataclass
class _Unit:
    members: list[int]
    tokens: int
    priority: float
    required: bool
    first: int

    def sort_key(self) -> tuple[float, float, int, int]:
        density = math.inf if self.tokens == 0 else self.priority / self.tokens
        return (-density, -self.priority, self.tokens, self.first)


def _units(items: Sequence[BudgetItem], counts: Sequence[int]) -> list[_Unit]:
    units: list[_Unit] = []
    by_group: dict[str, _Unit] = {}
    for index, item in enumerate(items):
        unit = by_group.get(item.group) if item.group is not None else None
        if unit is None:
            unit = _Unit([], 0, 0.0, False, index)
            units.append(unit)
            if item.group is not None:
                by_group[item.group] = unit
        unit.members.append(index)
        unit.tokens += counts[index]
        unit.priority += item.priority
        unit.required = unit.required or item.required
    return units


def fit_budget(
    items: Iterable[BudgetItem | Mapping[str, Any]],
    *,
    budget_tokens: int,
    model: str,
    truncate_last: bool = False,
    roots: Sequence[str | Path] | None = None,
    min_truncated_tokens: int = DEFAULT_MIN_TRUNCATED_TOKENS,
    expected_output_tokens: int = 0,
) -> FitPlan:
    """Choose which items go into a context of ``budget_tokens`` tokens for ``model``.

    The rule is in this module's docstring (and in ``FitPlan.rule``): required items, then the
    most priority per token, tool-call groups whole, optionally the next item cut to fill.

    Args:
        items: The candidates, at least one: :class:`BudgetItem` or dicts with the same
            fields. No two may name the same file, by whatever path.
        budget_tokens: Most tokens the chosen items may take.
        model: Catalog model id whose tokenizer counts and whose prices apply.
        truncate_last: After the whole items, cut the highest-ranked single item that did not
            fit to fill what is left.
        roots: Directories file items may be read from (symlinks resolved); a relative path is
            taken from the first. None or empty: file items are refused.
        min_truncated_tokens: Smallest cut worth including, in tokens (at least 1); with fewer
            tokens left the item is not cut. Only with ``truncate_last``.
        expected_output_tokens: Output tokens to price with the input.

    Returns:
        The plan, with per-item counts and the cost of the input.

    Raises:
        BudgetTooSmallError: The required items alone exceed the budget.
        ValueError, TypeError: No items, malformed items (the message names the item and
            field), a root that is not a folder, a file outside the roots or unreadable, a file
            two items name, an unknown model, ``expected_output_tokens`` out of range, or
            ``min_truncated_tokens`` set without ``truncate_last``.
    """
    budget_tokens = _check_budget(budget_tokens)
    if not isinstance(truncate_last, bool):
        raise TypeError(f"truncate_last must be True or False, not {type(truncate_last).__name__}")
    min_truncated_tokens = _check_min_truncated(min_truncated_tokens)
    # Checked here, by its name: pricing the plan checks it too, last and as output_tokens.
    expected_output_tokens = check_count("expected_output_tokens", expected_output_tokens,
                                         MAX_TOKENS_PER_CALL)
    if min_truncated_tokens != DEFAULT_MIN_TRUNCATED_TOKENS and not truncate_last:
        # Without a cut the limit changes nothing, so setting it alone is most likely a
        # forgotten truncate_last.
        raise InputError("min_truncated_tokens limits the cut truncate_last makes; set "
                         "truncate_last=True too, or leave min_truncated_tokens at its default "
                         f"({DEFAULT_MIN_TRUNCATED_TOKENS})")
    parsed = parse_items(items)
    tokenizer = tokenizer_for(model=model)
    if not parsed:
        # An empty plan would read as "everything fits" when nothing was asked.
        raise InputError("items is empty; give at least one item to fit")

    root_paths = existing_roots(roots) if roots is not None else []
    texts, sources = [], []
    file_characters = 0
    item_by_file: dict[str, str] = {}
    for item in parsed:
        if item.text is not None:
            texts.append(item.text)
            sources.append("text")
        else:
            text, source = _read_file(item, root_paths)
            _check_file_named_once(item, source, item_by_file)
            file_characters += len(text)
            if file_characters > MAX_TOTAL_FILE_CHARACTERS:
                raise InputError(f"the file items hold more than {MAX_TOTAL_FILE_CHARACTERS:,} "
                                 f"characters in all (at item {item.id!r}); name fewer or "
                                 "smaller files")
            texts.append(text)
            sources.append(source)
    counts = tokenizer.count_many(texts)

    units = _units(parsed, counts)
    required = [unit for unit in units if unit.required]
    required_tokens = sum(unit.tokens for unit in required)
    if required_tokens > budget_tokens:
        names = ", ".join(repr(parsed[i].id) for unit in required for i in unit.members)
        raise BudgetTooSmallError(
            f"the required items ({names}) take {required_tokens:,} tokens but budget_tokens is "
            f"{budget_tokens:,}; raise the budget or mark fewer items required"
        )

    status = ["dropped"] * len(parsed)
    included_tokens = [0] * len(parsed)
    reasons = [""] * len(parsed)
    ranks: list[int | None] = [None] * len(parsed)
    truncated_text: list[str | None] = [None] * len(parsed)
    used = required_tokens
    for unit in required:
        for index in unit.members:
            status[index], included_tokens[index] = "included", counts[index]
            reasons[index] = "required" if parsed[index].required else "in a required group"

    optional = sorted((unit for unit in units if not unit.required), key=_Unit.sort_key)
    skipped: list[_Unit] = []
    for rank, unit in enumerate(optional, start=1):
        fits = used + unit.tokens <= budget_tokens
        for index in unit.members:
            ranks[index] = rank
        if fits:
            used += unit.tokens
            for index in unit.members:
                status[index], included_tokens[index] = "included", counts[index]
                reasons[index] = f"rank {rank} by priority per token; fits"
        else:
            skipped.append(unit)
            for index in unit.members:
                reasons[index] = (f"rank {rank} by priority per token; {unit.tokens:,} tokens "
                                  f"do not fit in the {budget_tokens - used:,} left")

    rule = FIT_RULE
    if truncate_last:
        used = _truncate_next(parsed, texts, skipped, model, budget_tokens - used,
                              min_truncated_tokens, status, included_tokens, reasons,
                              truncated_text) + used
        rule += TRUNCATION_RULE.format(minimum=min_truncated_tokens)

    planned = tuple(
        PlannedItem(
            id=item.id, status=status[i], tokens=counts[i], included_tokens=included_tokens[i],
            priority=float(item.priority), required=item.required, group=item.group,
            rank=ranks[i], source=sources[i], text=truncated_text[i], reason=reasons[i],
        )
        for i, item in enumerate(parsed)
    )
    # A plan may fit nothing in; its cost is then $0, not a refusal.
    cost = price_usage(model, input_tokens=used, output_tokens=expected_output_tokens,
                       catalog=configured_catalog())
    return FitPlan(
        budget_tokens=budget_tokens, total_tokens=used,
        remaining_tokens=budget_tokens - used, items=planned,
        included=tuple(p.id for p in planned if p.status == "included"),
        truncated=tuple(p.id for p in planned if p.status == "truncated"),
        dropped=tuple(p.id for p in planned if p.status == "dropped"),
        cost=cost, rule=rule, **tokenizer.method(),
    )


def _truncate_next(
    items: Sequence[BudgetItem], texts: Sequence[str], skipped: Sequence[_Unit],
    model: str, left: int, minimum: int, status: list[str],
    included_tokens: list[int], reasons: list[str], truncated_text: list[str | None],
) -> int:
    """Cut the highest-ranked skipped single item into the ``left`` tokens; returns tokens used.

    When the cut would be smaller than ``minimum``, the item stays dropped and its reason says
    why, so a plan that cut nothing explains itself.
    """
    candidates = [unit for unit in skipped if items[unit.members[0]].group is None]
    if not candidates:
        return 0
    index = candidates[0].members[0]
    cut = truncate(texts[index], left, model=model) if left >= minimum else None
    if cut is None or cut.tokens < minimum:
        fitting = left if cut is None else cut.tokens
        reasons[index] += (f"; not cut: {fitting:,} tokens of it would fit, fewer than "
                           f"min_truncated_tokens ({minimum:,})")
        return 0
    status[index], included_tokens[index], truncated_text[index] = "truncated", cut.tokens, cut.text
    reasons[index] = (f"highest-ranked item that did not fit, cut at a token boundary to the "
                      f"{left:,} tokens left")
    return cut.tokens


# ---- trimming a chat --------------------------------------------------------------------------


def _blocks(message: Mapping[str, Any], kind: str) -> list[Mapping[str, Any]]:
    content = message.get("content")
    if not isinstance(content, list):
        return []
    return [block for block in content if isinstance(block, Mapping) and block.get("type") == kind]


def _call_ids(message: Mapping[str, Any]) -> list[str]:
    """Ids of the tool calls an assistant message makes, in either format."""
    ids = []
    for call in message.get("tool_calls") or []:
        if isinstance(call, Mapping) and isinstance(call.get("id"), str):
            ids.append(call["id"])
    ids.extend(str(block.get("id")) for block in _blocks(message, "tool_use"))
    return ids


@dataclass
class _Turn:
    indices: list[int]
    starts_with_user: bool


def _group_turns(
    messages: list[dict[str, Any]], notes: list[str], changed: set[int]
) -> tuple[list[int], list[_Turn], set[int]]:
    """System message indices, the other messages as units, and orphan indices to drop; the
    indices of messages whose blocks were removed go into ``changed``.

    A unit is one message, or an assistant message that calls tools together with every
    message that answers those calls. Orphaned results are dropped (OpenAI) or have their
    orphaned blocks removed (Anthropic), since providers reject them.
    """
    system: list[int] = []
    turns: list[_Turn] = []
    orphans: set[int] = set()
    open_calls: dict[str, _Turn] = {}

    for index, message in enumerate(messages):
        role = message.get("role")
        if role in SYSTEM_ROLES:
            system.append(index)
            continue

        if role == "tool":
            turn = open_calls.get(str(message.get("tool_call_id")))
            if turn is None:
                orphans.add(index)
                notes.append(f"message {index}: tool result "
                             f"{_quoted_ids([message.get('tool_call_id')])} answers no earlier "
                             "tool call; dropped")
            else:
                turn.indices.append(index)
            continue

        results = _blocks(message, "tool_result")
        if results:
            answered = [open_calls[str(b.get("tool_use_id"))] for b in results
                        if str(b.get("tool_use_id")) in open_calls]
            owners = {id(turn): turn for turn in answered}
            unanswered = [b for b in results if str(b.get("tool_use_id")) not in open_calls]
            if unanswered:
                removed = {id(block) for block in unanswered}
                message["content"] = [b for b in message["content"] if id(b) not in removed]
                changed.add(index)
                notes.append(_unanswered_blocks_note(
                    index, [b.get("tool_use_id") for b in unanswered],
                    message_dropped=not message["content"]))
            if len(owners) == 1 and message["content"]:
                next(iter(owners.values())).indices.append(index)
                continue
            if not message["content"]:
                orphans.add(index)
                continue

        turn = _Turn([index], role == "user")
        turns.append(turn)
        if role == "assistant":
            for call_id in _call_ids(message):
                open_calls[call_id] = turn

    # Each turn's answered call ids are gathered once: one assistant message may make tens of
    # thousands of calls, and looking for each among all its results would take their square.
    answered_in: dict[int, set[str]] = {}
    for call_id, turn in open_calls.items():
        if id(turn) not in answered_in:
            answered_in[id(turn)] = _answered_ids(messages, turn.indices[1:])
        if call_id not in answered_in[id(turn)]:
            # The latest call may await its result; one with turns after it is a chat the API
            # refuses, which trimming keeps as it was given.
            pending = turn is turns[-1]
            notes.append(f"message {turn.indices[0]}: tool call {_quoted_ids([call_id])} has no "
                         + ("result yet" if pending else "result, though later turns follow: "
                            "the API refuses a chat with an unanswered call"))
    return system, turns, orphans


def _no_user_turn_note(
    turns: Sequence[_Turn], costs: Sequence[int], fixed: int, fitted: int, *, with_system: bool
) -> str:
    """Why the latest ``fitted`` turns, which fit the budget, were all dropped (none starts at
    a user message, where the kept turns start), and the budget that keeps the latest user
    message and every message after it; ``fixed`` is what every trimmed prompt takes."""
    kept = "nothing but the system messages" if with_system else "nothing"
    start = "the kept turns must start at one (as Anthropic's API requires)"
    latest_user = next((n for n in reversed(range(len(turns))) if turns[n].starts_with_user),
                       None)
    if latest_user is None:
        other = "other " if with_system else ""
        return f"kept {kept}: no {other}message is a user message, and {start}"

    fitting = sum(len(turn.indices) for turn in turns[-fitted:])
    needed = fixed + sum(costs[i] for turn in turns[latest_user:] for i in turn.indices)
    after = sum(len(turn.indices) for turn in turns[latest_user:]) - 1
    latest = ("the latest message fits, but it is not a user message" if fitting == 1 else
              f"the latest {fitting:,} messages fit, but none is a user message")
    return (f"kept {kept}: {latest}, and {start}; a budget of {needed:,} tokens keeps the "
            f"latest user message (message {turns[latest_user].indices[0]}) and the "
            f"{_messages(after)} after it")


def _messages(count: int) -> str:
    return f"{count:,} message" if count == 1 else f"{count:,} messages"


def _quoted_ids(ids: Sequence[object]) -> str:
    """``'c1'``, or ``'c1', 'c2', 'c3' and 7 more``: the first few ids, each cut short."""
    quoted = ", ".join(excerpt(call_id) for call_id in ids[:QUOTED_IDS])
    more = len(ids) - QUOTED_IDS
    return f"{quoted} and {more:,} more" if more > 0 else quoted


def _unanswered_blocks_note(index: int, ids: Sequence[object], *, message_dropped: bool) -> str:
    """The note on the tool_result blocks of message `index` that answer no earlier tool_use:
    removed, or with ``message_dropped`` the message dropped, as they were all it held."""
    if len(ids) == 1:
        blocks, removed = f"tool_result {_quoted_ids(ids)} answers", "block removed"
    else:
        blocks, removed = f"{len(ids):,} tool_result blocks ({_quoted_ids(ids)}) answer", "removed"
    if message_dropped:
        removed = "dropped (the message held nothing else)"
    return f"message {index}: {blocks} no earlier tool_use; {removed}"


def _answered_ids(messages: Sequence[Mapping[str, Any]], indices: Iterable[int]) -> set[str]:
    """The call ids the messages at ``indices`` answer, as tool messages or tool_result blocks."""
    ids: set[str] = set()
    for index in indices:
        call_id = messages[index].get("tool_call_id")
        if isinstance(call_id, str):
            ids.add(call_id)
        blocks = _blocks(messages[index], "tool_result")
        ids.update(str(block.get("tool_use_id")) for block in blocks)
    return ids


def _message_costs(
    messages: Sequence[Mapping[str, Any]], model: str
) -> tuple[list[int], list[str]]:
    """Each message's prompt tokens as :func:`count_chat` counts it alone, less the reply
    priming, and the notes on what was counted by a rule of shoal's (content parts, tool calls
    and blocks as compact JSON), as count_chat's method gives them.

    The texts of all messages are counted in one call: counting message by message spent most
    of a long chat's time looking up the model and its tokenizer again.
    """
    tokenizer = tokenizer_for(model=model)
    texts: list[str] = []
    ends: list[int] = []
    overheads: list[int] = []
    found: set[str] = set()
    for index, message in enumerate(messages):
        message_texts, names, notes = message_texts_of(message, index)
        texts.extend(message_texts)
        ends.append(len(texts))
        overheads.append(TOKENS_PER_MESSAGE + TOKENS_PER_NAME * names)
        found.update(notes)

    counts = tokenizer.count_many(texts)
    costs, start = [], 0
    for end, overhead in zip(ends, overheads, strict=True):
        costs.append(sum(counts[start:end]) + overhead)
        start = end
    return costs, [note for note in NOTE_ORDER if note in found]


def parse_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Check the messages of :func:`trim_chat` as :func:`count_chat` checks them, and return
    copies of them as dicts.

    Raises:
        ValueError, TypeError: ``messages`` not a list, too many messages, or a message that
            count_chat refuses: not an object, a role missing or not one of ``CHAT_ROLES``, no
            content, a value that is not text (the message names its index and field).
    """
    _check_list(messages, "messages", "message dicts")
    if len(messages) > MAX_MESSAGES:
        raise InputError(f"at most {MAX_MESSAGES:,} messages, got {len(messages):,}")
    for index, message in enumerate(messages):
        message_texts_of(message, index)
    return [dict(message) for message in messages]


def _fixed_parts(system_tokens: int, tool_tokens: int) -> str:
    """What every trimmed prompt holds, with each part's tokens: the subject of "take N tokens".

    The reply priming is named even alone: a budget below it is refused for a chat that has
    no system message and no tools, and the message must not blame parts that are not there.
    """
    parts = [
        f"the {name} ({tokens:,} tokens)"
        for name, tokens in (("system messages", system_tokens), ("tool definitions", tool_tokens))
        if tokens
    ]
    if not parts:
        return "the reply priming every prompt ends with takes"
    return f"{', '.join(parts)} and the reply priming ({REPLY_PRIMING_TOKENS} tokens) take"


def trim_chat(
    messages: Sequence[Mapping[str, Any]],
    *,
    budget_tokens: int,
    model: str,
    tools: Sequence[Mapping[str, Any]] = (),
    start_on_user: bool = True,
) -> TrimmedChat:
    """Cut a chat history to ``budget_tokens``, keeping what a model needs to go on.

    Kept: every system (or developer) message; then the latest turns, newest first, for as long
    as they fit (stopping at the first that does not, so the history has no gap); a tool call
    and all its results always together. With ``start_on_user`` the kept turns then begin at a
    user message, as Anthropic's API requires; when that leaves none, the first note says so and
    gives the budget that keeps the latest user message and what follows it. Orphaned tool
    results in the input are dropped.
    Messages are counted with :func:`shoal.tokens.count_chat` (structured values as compact
    JSON); the tool definitions and the reply priming count against the budget.

    Args:
        messages: Chat messages as dicts in OpenAI or Anthropic form.
        budget_tokens: Most prompt tokens the kept history may take.
        model: Catalog model id to count for.
        tools: Tool definitions sent with the chat (OpenAI, Anthropic or MCP shape, as
            :func:`shoal.tokens.count_chat` takes them).
        start_on_user: Drop leading non-user turns from the kept history.

    Returns:
        The kept messages and their count, with the indices kept and dropped.

    Raises:
        BudgetTooSmallError: The system messages, tools and reply priming alone exceed the
            budget (the message gives each part's tokens).
        ValueError, TypeError: A malformed message or an unknown role (the message names its
            index), ``tools`` not a list of tool definitions, an unknown model.
    """
    budget_tokens = _check_budget(budget_tokens)
    if not isinstance(start_on_user, bool):
        # Any other value would be taken by its truth: "no" would mean yes.
        raise TypeError(f"start_on_user must be True or False, not {type(start_on_user).__name__}")
    copies = parse_messages(messages)
    # Checked as count_chat checks it: list() would take a dict's keys and a string's letters.
    _check_list(tools, "tools", "tool definitions")

    notes: list[str] = []
    edited: set[int] = set()
    system, turns, _orphans = _group_turns(copies, notes, edited)
    base = count_chat([], model=model, tools=list(tools))
    costs, approximations = _message_costs(copies, model)

    system_tokens = sum(costs[i] for i in system)
    fixed = base.tokens + system_tokens
    if fixed > budget_tokens:
        raise BudgetTooSmallError(
            f"{_fixed_parts(system_tokens, base.tool_tokens)} {fixed:,} tokens but "
            f"budget_tokens is {budget_tokens:,}; raise the budget"
        )

    kept_turns: list[_Turn] = []
    used = fixed
    for turn in reversed(turns):
        size = sum(costs[i] for i in turn.indices)
        if used + size > budget_tokens:
            if not kept_turns:
                # First: it says why nothing but the system messages was kept, and a caller
                # that lists only the first notes of a long chat must not lose it.
                notes.insert(0, f"the latest turn alone takes {size:,} tokens, more than the "
                                f"{budget_tokens - fixed:,} left after system messages and tools")
            break
        kept_turns.append(turn)
        used += size
    kept_turns.reverse()
    if start_on_user:
        first_user = next(
            (n for n, turn in enumerate(kept_turns) if turn.starts_with_user), len(kept_turns)
        )
        if kept_turns and first_user == len(kept_turns):
            # First, as the note on a latest turn too long is: it says why nothing was kept.
            notes.insert(0, _no_user_turn_note(turns, costs, fixed, len(kept_turns),
                                               with_system=bool(system)))
        # One slice, not one pop(0) per turn: a long run of non-user turns stays linear.
        for turn in kept_turns[:first_user]:
            used -= sum(costs[i] for i in turn.indices)
        kept_turns = kept_turns[first_user:]

    limit = configured_catalog().model(base.model).input_limit
    if used > limit:
        # The budget is the caller's; the model's window is the API's, and it refuses past it.
        notes.insert(0, f"the kept prompt takes {used:,} tokens, more than {base.model}'s input "
                        f"limit of {limit:,}: the API would reject it; give a budget within "
                        "the limit, less the answer's tokens")
    kept = sorted(system + [i for turn in kept_turns for i in turn.indices])
    kept_set = set(kept)
    dropped = [i for i in range(len(copies)) if i not in kept_set]
    return TrimmedChat(
        model=base.model, budget_tokens=budget_tokens, tokens=used,
        messages=tuple(deep_frozen(copies[i]) for i in kept), kept=tuple(kept),
        dropped=tuple(dropped),
        tool_tokens=base.tool_tokens, exact=base.exact and not approximations,
        method="; ".join([base.method, *approximations]),
        notes=tuple(notes), changed=tuple(i for i in kept if i in edited),
    )
