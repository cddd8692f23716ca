"""The model catalog: prices, context windows, tokenizers, sizes and quality priors, with sources.

The shipped catalog is ``shoal/data/models.json``. A user file in the same shape overrides rows by
id (only the fields it gives; the rest are kept) and adds new rows (which must give every required
field). Every row is validated on load; errors name the file, the row and the field.

Model ids are matched case-insensitively. ``openai/gpt-4.1``, ``meta-llama/Llama-3.1-8B-Instruct``
and dated snapshots with the alias's price (``gpt-4o-2024-08-06``) resolve to their rows.
"""

from __future__ import annotations

import datetime
import difflib
import functools
import json
import logging
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from shoal import shipped_data
from shoal.errors import ShoalError
from shoal.excerpts import excerpt, json_type, quoted_path
from shoal.file_names import data_file_argument, file_version
from shoal.frozen_mapping import FrozenDict

logger = logging.getLogger(__name__)

# The exact encodings shoal.tokens can count with (those of the Rust core and its pure twin).
ENCODINGS = ("o200k_base", "cl100k_base", "tekken_240718")

# A ratio beyond this is a unit mistake (for example characters per token), not a tokenizer.
MAX_TOKEN_RATIO = 10.0

REQUIRED_FIELDS = (
    "id", "provider", "name", "input_per_mtok", "output_per_mtok", "cached_input_per_mtok",
    "cache_write_per_mtok", "context_window", "max_output_tokens", "encoding", "token_ratio",
    "open_weights", "params_b", "active_params_b", "quality", "quality_source", "price_source",
    "as_of",
)
PRICE_FIELDS = (
    "input_per_mtok", "output_per_mtok", "cached_input_per_mtok", "cache_write_per_mtok",
    "input_per_mtok_long", "output_per_mtok_long", "cached_input_per_mtok_long",
)
LONG_CONTEXT_FIELDS = ("long_context_threshold", "input_per_mtok_long", "output_per_mtok_long")
# Thousands of times the dearest model's rate: a larger price is a unit slip, and one near the
# float limit would make every cost inf.
MAX_USD_PER_MTOK = 1_000_000.0
# The longest id shoal takes anywhere: a model id or alias, a ledger's scope, project and
# request ids, a budget item's id.
MAX_ID_LENGTH = 200
# A price file's as_of may be a day ahead of today in UTC: it may have been written where the
# date has already changed.
AS_OF_LEEWAY = datetime.timedelta(days=1)


class CatalogError(ShoalError, ValueError):
    """A catalog file is malformed; the message names the file, row and field to fix."""


class UnknownModelError(ShoalError, ValueError):
    """No catalog row matches a model id; the message lists the nearest ids."""

    def __init__(self, model_id: str, suggestions: tuple[str, ...], model_count: int) -> None:
        self.model_id = model_id
        self.suggestions = suggestions
        if not model_id.strip():
            # Nothing to match: an empty option or a field left blank, not a misspelt id.
            super().__init__(f"the model id is empty (got {excerpt(model_id)}); give a catalog "
                             "id such as 'gpt-4.1-mini': `shoal models` (MCP: shoal://catalog) "
                             "lists every id")
            return
        if suggestions:
            hint = did_you_mean(suggestions)
        else:
            hint = "no close match; `shoal models` (MCP: shoal://catalog) lists every id"
        super().__init__(
            f"unknown model {excerpt(model_id)}: {hint} (the catalog has {model_count} models, "
            "retired ones included; add yours with a user price file, --prices FILE or "
            "SHOAL_PRICES: see 'Your own prices and models' in shoal's README)"
        )


def did_you_mean(suggestions: Sequence[str]) -> str:
    """``did you mean 'gpt-4.1-mini', 'gpt-4o-mini'?``: the near matches of a model id that
    `Catalog.suggest` found, as every command offers them."""
    return "did you mean " + ", ".join(repr(suggestion) for suggestion in suggestions) + "?"


@dataclass(frozen=True)
class ModelEntry:
    """One model: hosted prices in USD per million tokens, limits, tokenizer, size and prior.

    Attributes:
        id: Canonical lowercase id, unique in the catalog.
        provider: Organisation that makes the model (``openai``, ``meta``, ...).
        name: Display name.
        input_per_mtok: USD per million input tokens.
        output_per_mtok: USD per million output tokens (hidden reasoning tokens included).
        cached_input_per_mtok: USD per million input tokens read from the prompt cache, or None
            when the price source lists no cached rate.
        cache_write_per_mtok: USD per million tokens written to the prompt cache, or None when
            writes cost the same as input (or are not listed).
        context_window: Tokens the model attends to in one request (prompt plus output).
        max_output_tokens: Largest completion the API returns.
        encoding: Exact tiktoken encoding for the model's text, or None when only estimated.
        token_ratio: Model tokens per o200k_base token (an estimate when encoding is None).
        open_weights: Whether the weights are published (the model can run locally).
        params_b: Total parameters in billions, when published.
        active_params_b: Parameters active per token in billions (below params_b for MoE).
        quality: Quality prior on one 0-1 scale across the catalog, or None when unknown.
        quality_source: Where the quality prior comes from.
        price_source: Where the prices and limits come from.
        as_of: Date the prices were taken (YYYY-MM-DD).
        max_input_tokens: Largest prompt, when the vendor caps input below the window.
        reasoning: Whether the model bills hidden reasoning tokens as output.
        hosted_by: For open-weight models, the host whose prices these are.
        deprecation_date: Date the vendor retires the model, when announced.
        long_context_threshold: Input tokens per call above which the long-context prices apply.
        input_per_mtok_long: Input price above the threshold.
        output_per_mtok_long: Output price above the threshold.
        cached_input_per_mtok_long: Cached-input price above the threshold.
        token_ratio_source: Where token_ratio comes from.
        context_source: Where the context window comes from, when not the price source.
        aliases: Other names that resolve to this row (host names, dated snapshots).
    """

    id: str
    provider: str
    name: str
    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None
    cache_write_per_mtok: float | None
    context_window: int
    max_output_tokens: int
    encoding: str | None
    token_ratio: float
    open_weights: bool
    params_b: float | None
    active_params_b: float | None
    quality: float | None
    quality_source: str
    price_source: str
    as_of: str
    max_input_tokens: int | None = None
    reasoning: bool = False
    hosted_by: str | None = None
    deprecation_date: str | None = None
    long_context_threshold: int | None = None
    input_per_mtok_long: float | None = None
    output_per_mtok_long: float | None = None
    cached_input_per_mtok_long: float | None = None
    token_ratio_source: str | None = None
    context_source: str | None = None
    aliases: tuple[str, ...] = ()

    @property
    def input_limit(self) -> int:
        """Largest prompt in tokens: the input cap when there is one, else the whole window."""
        return self.max_input_tokens if self.max_input_tokens is not None else self.context_window


ENTRY_FIELDS = tuple(f.name for f in fields(ModelEntry))


@dataclass(frozen=True)
class Catalog:
    """A validated set of models in a stable order, with lookup by id, alias or provider/id.

    ``price_files`` maps the id of each row whose prices or ``as_of`` date a user price file
    gave (or which that file added) to the file's name; the other rows are priced as shipped.
    Each name leads to one model: an alias that already names another model is a CatalogError.

    A catalog is read-only (``sources`` and ``price_files`` are read-only dicts), hashable and
    picklable, so it can be sent to a worker process; its repr is a summary, as the rows run
    to tens of kilobytes.
    """

    catalog_date: str
    models: tuple[ModelEntry, ...]
    sources: Mapping[str, str] = field(default_factory=dict)
    price_files: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", FrozenDict(self.sources))
        object.__setattr__(self, "price_files", FrozenDict(self.price_files))
        # Indexed now, so that a conflicting alias is refused when the catalog is made.
        _ = self._index

    @functools.cached_property
    def _index(self) -> Mapping[str, ModelEntry]:
        """Every name a model answers to, mapped to its row; not a field, so that neither
        ``dataclasses.asdict`` nor a pickle carries it."""
        return FrozenDict(_name_index([(entry, f"model {entry.id!r}") for entry in self.models]))

    def __reduce__(self) -> tuple[type[Catalog], tuple[Any, ...]]:
        # Rebuilt through the constructor, which indexes the rows again.
        return type(self), (self.catalog_date, self.models, self.sources, self.price_files)

    def __repr__(self) -> str:
        by_file: dict[str, int] = {}
        for file_name in self.price_files.values():
            by_file[file_name] = by_file.get(file_name, 0) + 1
        files = ", ".join(f"{count} from {name!r}" for name, count in by_file.items())
        return (f"Catalog(catalog_date={self.catalog_date!r}, models=<{len(self.models)} "
                f"models>, price_files=<{files or 'none'}>)")

    @property
    def ids(self) -> tuple[str, ...]:
        """Canonical ids in catalog order."""
        return tuple(entry.id for entry in self.models)

    def __len__(self) -> int:
        return len(self.models)

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self.models)

    def __contains__(self, model_id: object) -> bool:
        return isinstance(model_id, str) and self._find(model_id) is not None

    def model(self, model_id: str) -> ModelEntry:
        """Return the row for ``model_id``.

        Args:
            model_id: A canonical id, an alias, or either behind a ``provider/`` prefix; any case.

        Raises:
            TypeError: If ``model_id`` is not a string.
            UnknownModelError: If nothing matches; the message lists near matches.
        """
        if not isinstance(model_id, str):
            # Said without a parameter name: callers pass it as model, baseline, candidates...
            raise TypeError(f"a model id must be a string, got {type(model_id).__name__}")

        entry = self._find(model_id)
        if entry is None:
            raise UnknownModelError(model_id, self.suggest(model_id), len(self.models))
        return entry

    def suggest(
        self, model_id: str, limit: int = 5, *, also: Iterable[str] = ()
    ) -> tuple[str, ...]:
        """Canonical ids whose names are closest to ``model_id``, best first.

        Args:
            model_id: The name that matched nothing.
            limit: Most suggestions returned.
            also: Further model names known elsewhere (a router's labelled models the catalog
                lacks), ranked with the catalog's and suggested as written.
        """
        wanted = _normalise(model_id).rsplit("/", 1)[-1]
        names: dict[str, str] = {name: entry.id for name, entry in self._index.items()}
        for name in also:
            names.setdefault(_normalise(name), name)
        close = difflib.get_close_matches(wanted, list(names), n=limit * 2, cutoff=0.6)
        suggestions: list[str] = []
        for name in close:
            if names[name] not in suggestions:
                suggestions.append(names[name])
        return tuple(suggestions[:limit])

    def _find(self, model_id: str) -> ModelEntry | None:
        wanted = _normalise(model_id)
        entry = self._index.get(wanted)
        if entry is None and "/" in wanted:
            # Provider or hub prefixes: openai/gpt-4.1, meta-llama/Llama-3.1-8B-Instruct.
            entry = self._index.get(wanted.rsplit("/", 1)[-1])
        return entry


def _normalise(model_id: str) -> str:
    return model_id.strip().lower()


def _name_index(named: Sequence[tuple[ModelEntry, str]]) -> dict[str, ModelEntry]:
    """Every name a model answers to, its id and its aliases, mapped to the model.

    ``named`` pairs each model with the row that gave it, in the order a conflict is blamed: an
    alias is refused when it already names another model (that model's id, an alias given
    before it, or, behind a ``provider/`` prefix, the id or alias that lookups fall back to),
    since the lookup would silently pick one of the two.

    Raises:
        CatalogError: For such an alias, naming the row, the alias and the model it names.
    """
    index = {entry.id: entry for entry, _ in named}
    for entry, where in named:
        for alias in entry.aliases:
            owner = index.setdefault(alias, entry)
            if owner is not entry:
                raise CatalogError(f"{where}: alias {excerpt(alias)} already names model "
                                   f"{owner.id}; give each name to one model")
    for entry, where in named:
        for alias in entry.aliases:
            if "/" not in alias:
                continue
            unprefixed = alias.rsplit("/", 1)[-1]
            owner = index.get(unprefixed, entry)
            if owner is not entry:
                raise CatalogError(f"{where}: alias {excerpt(alias)} already names model "
                                   f"{owner.id} (as {excerpt(unprefixed)} behind a prefix); "
                                   "give each name to one model")
    return index


# ---- retirement -------------------------------------------------------------------------------


TODAY_ENVIRONMENT_VARIABLE = "SHOAL_TODAY"


def _wall_clock_today() -> datetime.date:
    return datetime.datetime.now(datetime.timezone.utc).date()


def today() -> datetime.date:
    """The date retirements and price dates are judged against: today in UTC, as the ledger
    keeps time, or the ISO date in ``SHOAL_TODAY`` (empty means unset), which replays routing
    decisions as of that day and fixes the date for tests.

    Raises:
        CatalogError: If ``SHOAL_TODAY`` is not a date like 2026-12-05.
    """
    fixed = os.environ.get(TODAY_ENVIRONMENT_VARIABLE, "").strip()
    if not fixed:
        return _wall_clock_today()
    try:
        return datetime.date.fromisoformat(fixed)
    except ValueError:
        raise CatalogError(
            f"{TODAY_ENVIRONMENT_VARIABLE} must be a date like 2026-12-05, got {fixed!r}; unset "
            "it to use today's"
        ) from None


def retired(entry: ModelEntry, on: datetime.date | None = None) -> bool:
    """Whether ``entry``'s ``deprecation_date`` has come by ``on`` (default :func:`today`; the
    model is retired on that day). A caller judging many models passes the date it read once."""
    if entry.deprecation_date is None:
        return False
    return datetime.date.fromisoformat(entry.deprecation_date) <= (today() if on is None else on)


def retired_among(entries: Iterable[ModelEntry]) -> list[ModelEntry]:
    """The ``entries`` retired by today, in order, the date read once for all of them: routing
    asks of every candidate in every decision."""
    on = today()
    return [entry for entry in entries if retired(entry, on)]


def retirement_note(entry: ModelEntry) -> str | None:
    """``claude-sonnet-4-5 was retired on 2026-11-30 per the catalog; its prices may no longer
    apply``, or None for a model not retired."""
    if not retired(entry):
        return None
    return (f"{entry.id} was retired on {entry.deprecation_date} per {_retirement_source(entry)}; "
            "its prices may no longer apply")


def _retirement_source(entry: ModelEntry) -> str:
    """``the catalog`` when the shipped catalog gives the date, else ``the user price file``
    that set it."""
    shipped = load_catalog()._find(entry.id)
    if shipped is not None and shipped.deprecation_date == entry.deprecation_date:
        return "the catalog"
    return "the user price file"


# ---- validation -------------------------------------------------------------------------------


class _Row:
    """Field readers for one raw row that raise CatalogError naming the file, row and field."""

    def __init__(self, raw: Mapping[str, Any], where: str) -> None:
        self.raw = raw
        self.where = where

    def fail(self, name: str, problem: str) -> CatalogError:
        # The value in JSON's spelling (null, true, NaN), as the file gives it.
        return CatalogError(f"{self.where}: field {name!r} {problem}, got "
                            f"{excerpt(self.raw.get(name))}")

    def text(self, name: str, *, optional: bool = False) -> str | None:
        value = self.raw.get(name)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(name, "must be a non-empty string")
        _check_printable(self, name, value)
        return value

    def number(self, name: str, *, optional: bool = False, positive: bool = False) -> float | None:
        """A finite number, at least 0 (above 0 with ``positive``); a price at most
        :data:`MAX_USD_PER_MTOK`."""
        value = self.raw.get(name)
        if value is None and optional:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise self.fail(name, "must be a finite number")
        if value < 0 or (positive and value == 0):
            raise self.fail(name, "must be positive" if positive else "must not be negative")
        if name in PRICE_FIELDS and value > MAX_USD_PER_MTOK:
            raise self.fail(name, f"must be at most {MAX_USD_PER_MTOK:,.0f} USD per million "
                            "tokens")
        return float(value)

    def count(self, name: str, *, optional: bool = False) -> int | None:
        value = self.raw.get(name)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.fail(name, "must be a positive whole number of tokens")
        return value

    def flag(self, name: str, *, default: bool | None = None) -> bool:
        value = self.raw.get(name, default)
        if not isinstance(value, bool):
            raise self.fail(name, "must be true or false")
        return value

    def date(self, name: str, *, optional: bool = False) -> str | None:
        value = self.text(name, optional=optional)
        if value is None:
            return None
        try:
            datetime.date.fromisoformat(value)
        except ValueError:
            raise self.fail(name, "must be a date written YYYY-MM-DD") from None
        return value


def _parse_entry(raw: Any, where: str) -> ModelEntry:
    """Validate one raw row and build its ModelEntry."""
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{where}: each model must be a JSON object, got {json_type(raw)}")

    unknown = sorted(set(raw) - set(ENTRY_FIELDS))
    if unknown:
        raise CatalogError(
            f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; "
            f"allowed fields are {', '.join(ENTRY_FIELDS)}"
        )
    missing = [name for name in REQUIRED_FIELDS if name not in raw]
    if missing:
        raise CatalogError(f"{where}: missing field(s) {', '.join(map(repr, missing))}")

    row = _Row(raw, where)
    entry = ModelEntry(**_values(row))
    _check_consistency(row, entry)
    return entry


def _check_printable(row: _Row, name: str, value: str) -> None:
    """Refuse a control or format character in a text field: ids, names and sources are printed
    in every listing and priced line, where a newline or terminal escape would rewrite the
    lines around it and U+202E reverses the text after it."""
    hidden = next((character for character in value if not character.isprintable()), None)
    if hidden is not None:
        raise row.fail(name, f"must hold only printable characters (no control or format "
                       f"characters, no space but ' '); {hidden!r} is not")


def _values(row: _Row) -> dict[str, Any]:
    model_id = row.text("id") or ""
    if model_id != _normalise(model_id) or any(c.isspace() for c in model_id):
        raise row.fail("id", "must be lowercase with no spaces")
    if len(model_id) > MAX_ID_LENGTH:
        raise row.fail("id", f"must be at most {MAX_ID_LENGTH} characters")

    encoding = row.raw.get("encoding")
    if encoding is not None and encoding not in ENCODINGS:
        raise row.fail("encoding", f"must be null or one of {', '.join(ENCODINGS)}")

    aliases = row.raw.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        raise row.fail("aliases", "must be a list of non-empty strings")
    if any(len(alias) > MAX_ID_LENGTH for alias in aliases):
        raise row.fail("aliases", f"must each be at most {MAX_ID_LENGTH} characters")
    for alias in aliases:
        _check_printable(row, "aliases", alias)

    return {
        "id": model_id,
        "provider": row.text("provider"),
        "name": row.text("name"),
        "input_per_mtok": row.number("input_per_mtok"),
        "output_per_mtok": row.number("output_per_mtok"),
        "cached_input_per_mtok": row.number("cached_input_per_mtok", optional=True),
        "cache_write_per_mtok": row.number("cache_write_per_mtok", optional=True),
        "context_window": row.count("context_window"),
        "max_output_tokens": row.count("max_output_tokens"),
        "encoding": encoding,
        "token_ratio": row.number("token_ratio", positive=True),
        "open_weights": row.flag("open_weights"),
        "params_b": row.number("params_b", optional=True, positive=True),
        "active_params_b": row.number("active_params_b", optional=True, positive=True),
        "quality": row.number("quality", optional=True),
        "quality_source": row.text("quality_source"),
        "price_source": row.text("price_source"),
        "as_of": row.date("as_of"),
        "max_input_tokens": row.count("max_input_tokens", optional=True),
        "reasoning": row.flag("reasoning", default=False),
        "hosted_by": row.text("hosted_by", optional=True),
        "deprecation_date": row.date("deprecation_date", optional=True),
        "long_context_threshold": row.count("long_context_threshold", optional=True),
        "input_per_mtok_long": row.number("input_per_mtok_long", optional=True),
        "output_per_mtok_long": row.number("output_per_mtok_long", optional=True),
        "cached_input_per_mtok_long": row.number("cached_input_per_mtok_long", optional=True),
        "token_ratio_source": row.text("token_ratio_source", optional=True),
        "context_source": row.text("context_source", optional=True),
        "aliases": tuple(_normalise(a) for a in aliases),
    }


def _check_consistency(row: _Row, entry: ModelEntry) -> None:
    """Checks that involve more than one field."""
    if entry.max_output_tokens > entry.context_window:
        raise row.fail(
            "max_output_tokens", f"must not exceed context_window {entry.context_window}"
        )
    if entry.max_input_tokens is not None and entry.max_input_tokens > entry.context_window:
        raise row.fail("max_input_tokens", f"must not exceed context_window {entry.context_window}")
    if entry.quality is not None and entry.quality > 1:
        raise row.fail("quality", "must be between 0 and 1 (divide percentages by 100)")
    if entry.token_ratio > MAX_TOKEN_RATIO:
        raise row.fail("token_ratio", f"must be at most {MAX_TOKEN_RATIO} tokens per o200k token")
    if (entry.params_b is not None and entry.active_params_b is not None
            and entry.active_params_b > entry.params_b):
        raise row.fail("active_params_b", f"must not exceed params_b {entry.params_b}")

    given = [name for name in LONG_CONTEXT_FIELDS if getattr(entry, name) is not None]
    if given and len(given) != len(LONG_CONTEXT_FIELDS):
        absent = [name for name in LONG_CONTEXT_FIELDS if name not in given]
        raise row.fail(absent[0], "is needed with the other long-context fields "
                       f"({', '.join(LONG_CONTEXT_FIELDS)})")


# ---- loading ----------------------------------------------------------------------------------


# The keys of a catalog file's top-level object. ``catalog_date`` is allowed so a copy of the
# shipped models.json loads; a user file's prices are dated by each row's ``as_of``.
DOCUMENT_FIELDS = ("catalog_date", "sources", "models")

# A ``{model: prices}`` price file's entry: its two prices, or LLMRouter's names for them (an
# LLMRouter model entry's other fields describe the model and are not read), and where the
# prices come from.
PLAIN_PRICE_FIELDS = ("input_per_mtok", "output_per_mtok")
LLMROUTER_PRICE_FIELDS = ("input_price", "output_price")
PLAIN_SOURCE_FIELD = "source"


def price_field_names(entry: Mapping[str, Any]) -> tuple[tuple[str, str], str | None]:
    """The two price fields a ``{model: prices}`` entry is read by, and why it cannot be read,
    or None. An LLMRouter entry's descriptive fields are left unread, but not one that names a
    price (``cached_input_per_mtok``, ``price_per_image``): its price would be dropped without
    a word; nor the two pairs mixed, of which one would be."""
    llmrouter = [name for name in LLMROUTER_PRICE_FIELDS if name in entry]
    plain = [name for name in PLAIN_PRICE_FIELDS if name in entry]
    if llmrouter and plain:
        return PLAIN_PRICE_FIELDS, (
            f"gives {' and '.join(llmrouter + plain)}: give input_per_mtok and output_per_mtok, "
            "or LLMRouter's input_price and output_price, not both")
    if not llmrouter:
        return PLAIN_PRICE_FIELDS, None
    unread = sorted(name for name in entry if name not in LLMROUTER_PRICE_FIELDS
                    and ("price" in name.lower() or name.lower().endswith("_per_mtok")))
    if unread:
        return LLMROUTER_PRICE_FIELDS, (
            f"{', '.join(map(repr, unread))} would not be read: an entry in LLMRouter's form is "
            "priced by input_price and output_price only; give cached or other prices in a "
            "catalog file")
    return LLMROUTER_PRICE_FIELDS, None


def _read_document(path: Path) -> tuple[dict[str, str], list[Any], bool]:
    """Read a catalog file, an object with a ``models`` list or a bare list of rows, into its
    sources and its rows; or a ``{model: prices}`` file into rows that give prices only, and
    True for such rows."""
    # Imported here: shoal.files imports shoal.tokens, which imports this module.
    from shoal.files import number_as_given, object_keeping_repeated_keys, read_json_file

    try:
        # A settings file: a regular one, nothing under /proc, /dev or /sys, at most 16 MiB. A
        # number no float holds (1e400) keeps its spelling, for the error to quote as written.
        document = read_json_file(path, object_pairs_hook=object_keeping_repeated_keys,
                                  parse_float=number_as_given)
    except ValueError as error:
        raise CatalogError(f"cannot read catalog file: {error}") from None
    _refuse_repeated_keys(document, path.name)

    if isinstance(document, list):
        return {}, document, False
    if isinstance(document, dict) and "models" not in document:
        return {}, _plain_price_rows(document, path.name), True
    if not isinstance(document, dict) or not isinstance(document.get("models"), list):
        raise CatalogError(f"{path.name}: expected an object with a 'models' list, a list of "
                           "model rows, or an object {model: {input_per_mtok, output_per_mtok}}")
    unknown = sorted(set(document) - set(DOCUMENT_FIELDS))
    if unknown:
        # Refused like a row's unknown field: a misspelt key ("source") would be ignored unseen.
        raise CatalogError(f"{path.name}: unknown top-level field(s) "
                           f"{', '.join(map(repr, unknown))}; allowed are "
                           f"{', '.join(DOCUMENT_FIELDS)}")
    _Row(document, path.name).date("catalog_date", optional=True)
    return _sources(document.get("sources"), path.name), document["models"], False


def _plain_price_rows(document: Mapping[str, Any], file_name: str) -> list[dict[str, Any]]:
    """The rows a ``{model: {input_per_mtok, output_per_mtok, optional source}}`` file gives,
    as `shoal fit` and `shoal eval` read it: each reprices one model (keys starting with ``_``
    are comments). Both prices are needed, and any other field is refused by name, so a
    misspelt price is not replaced by the catalog's without a word."""
    rows = []
    for model, entry in document.items():
        if model.startswith("_"):
            continue
        where = f"{file_name}: {excerpt(model)}"
        if not isinstance(entry, Mapping):
            rows_hint = " (a catalog file's rows go in a 'models' list)" * isinstance(entry, list)
            raise CatalogError(f"{where}: expected an object {{input_per_mtok, "
                               f"output_per_mtok}}, got {json_type(entry)}{rows_hint}")
        names, problem = price_field_names(entry)
        if problem is not None:
            raise CatalogError(f"{where}: {problem}")
        if names == PLAIN_PRICE_FIELDS:
            unknown = sorted(set(entry) - {*PLAIN_PRICE_FIELDS, PLAIN_SOURCE_FIELD})
            if unknown:
                raise CatalogError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; "
                                   "an entry has input_per_mtok, output_per_mtok and an optional "
                                   "source only")
        if any(entry.get(name) is None for name in names):
            raise CatalogError(f"{where}: needs {' and '.join(names)}")
        row = {"id": model, "input_per_mtok": entry[names[0]],
               "output_per_mtok": entry[names[1]]}
        if PLAIN_SOURCE_FIELD in entry and names == PLAIN_PRICE_FIELDS:
            row["price_source"] = entry[PLAIN_SOURCE_FIELD]
        rows.append(row)
    return rows


def _refuse_repeated_keys(document: object, file_name: str) -> None:
    """Refuse a catalog file with an object, at any depth, that gives a key twice: a reader
    keeps the last value, so {"input_per_mtok": 1, "input_per_mtok": 200} would price at 200
    without a word. A model row is named as its other errors name it."""
    from shoal.files import first_repeat

    found = first_repeat(document)
    if found is None:
        return
    place, repeated = found
    once = (f"gives {excerpt(repeated.repeated)} more than once; give each field once (only the "
            "last would be read)")
    rows_at: tuple[str, ...] = () if isinstance(document, list) else ("models",)
    if len(place) > len(rows_at) and place[:len(rows_at)] == rows_at:
        position = int(place[len(rows_at)])
        rows: Any = document["models"] if isinstance(document, dict) else document
        where = _where(file_name, position + 1, rows[position])
        inner = place[len(rows_at) + 1:]
        if not inner:
            raise CatalogError(f"{where}: {repeated.refusal()}")
        raise CatalogError(f"{where}: field {_field_path(inner)} {once}")
    where = f"field {_field_path(place)}" if place else "the top level"
    raise CatalogError(f"{file_name}: {where} {once}")


def _field_path(place: Sequence[str | int]) -> str:
    """A field and where inside it: ``'sources'``, ``'aliases'[0]``."""
    return excerpt(place[0]) + "".join(
        f"[{part}]" if isinstance(part, int) else f"[{excerpt(part)}]" for part in place[1:])


def _sources(raw: Any, file_name: str) -> dict[str, str]:
    """A file's ``sources`` object, each name mapped to a non-empty description (null or absent:
    none)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise CatalogError(f"{file_name}: field 'sources' must be an object mapping each source "
                           f"name to its description, got {json_type(raw)}")
    for name, description in raw.items():
        if not name.strip():
            raise CatalogError(f"{file_name}: field 'sources' has an empty source name")
        if not isinstance(description, str) or not description.strip():
            raise CatalogError(f"{file_name}: field 'sources' entry {excerpt(name)} must be a "
                               f"non-empty string describing the source, got "
                               f"{excerpt(description)}")
    return dict(raw)


def _where(file_name: str, position: int, raw: Any) -> str:
    model_id = raw.get("id") if isinstance(raw, Mapping) else None
    label = f" (id {excerpt(model_id)})" if isinstance(model_id, str) else ""
    return f"{file_name} model #{position}{label}"


def _parse_models(file_name: str, rows: list[Any]) -> list[ModelEntry]:
    named: list[tuple[ModelEntry, str]] = []
    seen: set[str] = set()
    for position, raw in enumerate(rows, start=1):
        where = _where(file_name, position, raw)
        entry = _parse_entry(raw, where)
        if entry.id in seen:
            raise CatalogError(f"{where}: duplicate id {entry.id!r}")
        seen.add(entry.id)
        named.append((entry, where))
    _name_index(named)
    return [entry for entry, _ in named]


def _check_not_future(raw: Mapping[str, Any], where: str) -> None:
    """Refuse a price file row dated after tomorrow: prices are taken on a day that has come."""
    as_of = raw.get("as_of")
    try:
        taken = datetime.date.fromisoformat(as_of) if isinstance(as_of, str) else None
    except ValueError:
        return  # the row's own check names the malformed date
    # The wall clock, not SHOAL_TODAY: replaying an earlier day must not refuse a file valid now.
    latest = _wall_clock_today() + AS_OF_LEEWAY
    if taken is not None and taken > latest:
        raise CatalogError(f"{where}: field 'as_of' must not be later than {latest.isoformat()} "
                           f"(prices are taken on a day that has come), got {as_of!r}")


def _entry_as_dict(entry: ModelEntry) -> dict[str, Any]:
    values = {name: getattr(entry, name) for name in ENTRY_FIELDS}
    values["aliases"] = list(entry.aliases)
    return values


def _apply_overrides(base: Catalog, path: Path) -> Catalog:
    """Merge a user file into ``base``: known ids take the given fields, new ids are appended."""
    file_sources, rows, prices_only = _read_document(path)
    by_id = {entry.id: entry for entry in base.models}
    added: list[ModelEntry] = []
    price_files = dict(base.price_files)
    # Where each model was first named, by its catalog id: a second row for it, by any spelling,
    # would silently replace the first.
    named_at: dict[str, str] = {}

    for position, raw in enumerate(rows, start=1):
        where = _where(path.name, position, raw)
        if not isinstance(raw, Mapping) or not isinstance(raw.get("id"), str):
            raise CatalogError(f"{where}: each model needs a string 'id'")
        _check_not_future(raw, where)

        target = base._find(raw["id"])
        model_id = _normalise(raw["id"]) if target is None else target.id
        if model_id in named_at:
            raise CatalogError(f"{where}: names {model_id}, as {named_at[model_id]} does; give "
                               "each model one row")
        named_at[model_id] = where
        if target is None:
            if prices_only:
                raise CatalogError(
                    f"{where}: not in the catalog, and an entry of a {{model: prices}} file "
                    "reprices a catalog model; add a new model as a full row of a catalog-shaped "
                    "file (see 'Your own prices and models' in shoal's README)"
                )
            entry = _parse_entry(raw, where)
            added.append(entry)
            price_files[entry.id] = path.name
            continue

        merged = _entry_as_dict(target) | dict(raw)
        merged["id"] = target.id
        changes_price = any(name in raw for name in PRICE_FIELDS)
        if changes_price and "price_source" not in raw:
            merged["price_source"] = f"user file {path.name}"
        by_id[target.id] = _parse_entry(merged, where)
        if changes_price or "as_of" in raw:
            price_files[target.id] = path.name

    logger.info("%s: %d rows overridden or added", path.name, len(rows))
    sources = dict(base.sources) | {f"user:{path.name}": str(path)} | file_sources
    models = tuple(by_id[entry.id] for entry in base.models) + tuple(added)
    # The file's rows come last, in its order: an alias that already names another model is
    # blamed on the row of the file that gives it.
    entries = {entry.id: entry for entry in models}
    _name_index([(entry, f"model {entry.id!r}") for entry in models if entry.id not in named_at]
                + [(entries[model_id], where) for model_id, where in named_at.items()])
    return Catalog(catalog_date=base.catalog_date, models=models, sources=sources,
                   price_files=price_files)


@functools.lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    """The shipped catalog, read and validated once per process.

    Raises:
        DamagedInstallError: ``models.json`` is missing or not the file shoal shipped.
    """
    document = json.loads(shipped_data.read_text("models.json"))
    models = _parse_models("models.json", document["models"])
    return Catalog(
        catalog_date=document["catalog_date"], models=tuple(models), sources=document["sources"]
    )


@functools.lru_cache(maxsize=16)
def _load_with_user_file(path: str, version: tuple[int, ...]) -> Catalog:
    # The file's version is part of the cache key, so an edited file is read again.
    del version
    return _apply_overrides(default_catalog(), Path(path))


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Load the model catalog, optionally overridden or extended by a user file.

    Args:
        path: A JSON file shaped like ``shoal/data/models.json`` (or a bare list of rows). Rows
            whose id (or alias) is in the shipped catalog replace just the fields they give;
            other rows are added at the end and must give every required field. None loads the
            shipped catalog alone.

    Returns:
        The validated catalog; the same object for repeated calls with an unchanged file.

    Raises:
        CatalogError: If the file cannot be read or a row is malformed (the message names the
            file, the row and the field), or ``path`` is empty or holds a character no file
            name can.
        TypeError: ``path`` is neither a path nor None.
    """
    if path is None:
        return default_catalog()
    data_file_argument(path, "catalog", CatalogError)

    try:
        resolved = Path(path).expanduser().resolve()
        status = resolved.stat()
    except OSError as error:
        raise CatalogError(f"cannot read catalog file {quoted_path(os.fspath(path))}: "
                           f"{error.strerror}") from None
    return _load_with_user_file(str(resolved), file_version(status))


PRICES_ENVIRONMENT_VARIABLE = "SHOAL_PRICES"


def configured_catalog() -> Catalog:
    """The catalog the user configured: the shipped one with ``SHOAL_PRICES`` applied when set.

    ``SHOAL_PRICES`` names a user price file (see :func:`load_catalog`); ``shoal serve --prices``
    and the CLI's ``--prices`` set it, so the MCP tools and the ledger price with the same file.
    """
    path = os.environ.get(PRICES_ENVIRONMENT_VARIABLE, "").strip()
    try:
        return load_catalog(path or None)
    except CatalogError as error:
        # The variable may have been set long ago in a profile: say where the file came from.
        raise CatalogError(f"{PRICES_ENVIRONMENT_VARIABLE}: {error}") from None
