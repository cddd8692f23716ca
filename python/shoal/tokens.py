"""Token counts: exact for the encodings shoal ships, labelled estimates for other models.

``count_tokens`` counts a text exactly with ``cl100k_base`` or ``o200k_base`` (ids identical to
tiktoken 0.14) or Mistral's ``tekken_240718`` (ids identical to mistral-common: see
``shoal.vendor_tokens``), all in the Rust core (or its pure twin). Given a model, it uses the
model's encoding from the catalog; a model without a public encoding gets an ``o200k_base`` count
scaled by the catalog's ``token_ratio``, rounded up and marked ``exact=False``; the answer's
``encoding`` is then the encoding that ran, and ``token_ratio`` and ``ratio_source`` say how the
count was scaled and where the ratio comes from. ``count_chat`` adds
OpenAI's published per-message and tool-definition overhead. ``tokenizer_for`` resolves an encoding
or model once, for callers that count many texts (``shoal.token_budget``, ``shoal.files``).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from fractions import Fraction
from types import ModuleType
from typing import Any

from shoal._backend import core
from shoal.catalog import ModelEntry, configured_catalog
from shoal.errors import InputError, refusal
from shoal.excerpts import excerpt, json_type
from shoal.numbers_in import int_when_whole

logger = logging.getLogger(__name__)

# Every encoding counted exactly, OpenAI's then the vendors', all in the Rust core (or its pure
# twin).
ENCODINGS: tuple[str, ...] = tuple(core.ENCODINGS)

DEFAULT_ENCODING = "o200k_base"

# The encoding an estimate for a model without a public tokenizer starts from.
ESTIMATE_BASE_ENCODING = "o200k_base"

# The most characters shoal takes in one text where it bounds what a caller sends: each text
# argument of an MCP tool, the messages and tool definitions of an MCP chat tool together, and
# a conversation's earlier turns together (every surface).
MAX_TEXT_CHARACTERS = 8_000_000

# OpenAI's chat overhead (openai-cookbook, How_to_count_tokens_with_tiktoken, for gpt-3.5-turbo
# 0125, gpt-4 and gpt-4o models): each message is wrapped as <|start|>{role/name}\n{content}
# <|end|>\n, a name adds one token, and every reply is primed with <|start|>assistant<|message|>.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3


@dataclass(frozen=True)
class ToolOverhead:
    """Tokens OpenAI adds around function definitions (openai-cookbook, section 7).

    Attributes:
        function_start: Per function, before ``name:description``.
        properties_start: Per function that has properties.
        property_key: Per property, before ``key:type:description``.
        enum_start: Per property with an enum (negative: the list replaces part of the line).
        enum_item: Per enum item, besides the item's own tokens.
        end: Once, after all functions.
    """

    function_start: int
    properties_start: int = 3
    property_key: int = 3
    enum_start: int = -3
    enum_item: int = 3
    end: int = 12


# gpt-3.5-turbo and gpt-4 (cl100k_base) open each function with 10 tokens; gpt-4o and
# gpt-4o-mini (o200k_base) with 7. Later models are assumed to follow their encoding's family.
TOOL_OVERHEAD = {"cl100k_base": ToolOverhead(function_start=10), "o200k_base": ToolOverhead(7)}

# The models for which the cookbook checked these rules against the API's prompt_tokens.
CHAT_RULES_VERIFIED = frozenset({"gpt-3.5-turbo", "gpt-4", "gpt-4o", "gpt-4o-mini"})


@dataclass(frozen=True)
class TokenCount:
    """How many tokens a text is, and how that number was obtained.

    Attributes:
        tokens: The count (an upper-rounded estimate when ``exact`` is False).
        encoding: The encoding that counted the text, e.g. ``o200k_base`` or ``tekken_240718``;
            for an estimate, the one whose count was scaled.
        exact: True when the count is the model's (or encoding's) exact token count.
        model: The catalog id of the model asked about, or None when counting by encoding.
        characters: Length of the text in Unicode code points.
        token_ratio: For an estimate, the model's tokens per ``encoding`` token that scaled the
            count (rounded up); None when exact.
        ratio_source: For an estimate, where the catalog's ratio comes from (with the measured
            figures, where there are any); None when exact.
    """

    tokens: int
    encoding: str
    exact: bool
    model: str | None
    characters: int
    token_ratio: float | None = None
    ratio_source: str | None = None


@dataclass(frozen=True)
class Tokenizer:
    """How the tokens of one encoding or model are counted: exactly, or as a scaled estimate.

    Attributes:
        encoding: The encoding that runs (for an estimate, the one whose count is scaled).
        exact: True when ``encoding`` is the model's own tokenizer.
        model: The catalog id, or None when counting by encoding.
        ratio: Model tokens per ``encoding`` token for an estimate; 1 when exact.
        ratio_source: Where the catalog's ratio comes from, for an estimate.
    """

    encoding: str
    exact: bool
    model: str | None
    ratio: float = 1.0
    ratio_source: str | None = None

    @property
    def token_ratio(self) -> float | None:
        """The ratio an answer reports: None when the count is exact, as nothing was scaled."""
        return None if self.exact else self.ratio

    def method(self) -> dict[str, Any]:
        """How an answer's counts were made, as the fields every counting answer carries:
        ``encoding``, ``exact``, ``model``, ``token_ratio`` and ``ratio_source``."""
        return {"encoding": self.encoding, "exact": self.exact, "model": self.model,
                "token_ratio": self.token_ratio, "ratio_source": self.ratio_source}

    @property
    def backend(self) -> ModuleType:
        """The module that encodes ``encoding``: the Rust core, or its pure twin."""
        return _backend_for(self.encoding)

    def count(self, text: str, *, allow_special: bool = False) -> int:
        """Tokens of ``text``: exact, or the scaled base count rounded up."""
        check_allow_special(allow_special)
        try:
            tokens = self.backend.count(self.encoding, text, allow_special=allow_special)
        except ValueError as error:
            raise refusal(error) from None
        return self.scale(tokens)

    def count_many(self, texts: Sequence[str], *, allow_special: bool = False) -> list[int]:
        """Tokens of each text (see ``count``)."""
        check_allow_special(allow_special)
        try:
            counts = self.backend.count_many(self.encoding, texts, allow_special=allow_special)
        except ValueError as error:
            raise refusal(error) from None
        return [self.scale(tokens) for tokens in counts]

    def scale(self, tokens: int) -> int:
        """A count of ``encoding`` tokens in this tokenizer's tokens (rounded up)."""
        return tokens if self.exact else _scaled(tokens, self.ratio)

    def base_budget(self, tokens: int) -> int:
        """The most ``encoding`` tokens whose scaled count stays within ``tokens``."""
        if self.exact:
            return tokens
        return math.floor(tokens / Fraction(str(self.ratio)))


def _backend_for(encoding: str) -> ModuleType:
    if not isinstance(encoding, str):
        raise TypeError(f"encoding must be str, not {type(encoding).__name__}")
    if encoding in core.ENCODINGS:
        return core
    raise InputError(
        f"unknown encoding {excerpt(encoding)}; valid encodings are {', '.join(ENCODINGS)}"
    )


def tokenizer_for(*, encoding: str | None = None, model: str | None = None) -> Tokenizer:
    """Resolve what to count with: ``model``'s tokenizer when given, else ``encoding``
    (``DEFAULT_ENCODING`` when neither is given).

    The model is looked up in the configured catalog (the user price file named by
    ``SHOAL_PRICES`` applied), so a model a user file adds or changes counts as it says.

    Raises:
        ValueError: Unknown encoding, unknown model (the message lists near matches), or both
            given: a model decides its own encoding, so one of them would be ignored.
    """
    if model is not None and encoding is not None:
        raise InputError(
            f"give encoding or model, not both (got {excerpt(encoding)} and {excerpt(model)}): "
            "a model decides its own encoding"
        )
    if model is None:
        encoding = DEFAULT_ENCODING if encoding is None else encoding
        _backend_for(encoding)
        return Tokenizer(encoding, True, None)
    return tokenizer_of(configured_catalog().model(model))


def tokenizer_of(entry: ModelEntry) -> Tokenizer:
    """How a catalog row's tokens are counted: with its own encoding, or as the
    ``ESTIMATE_BASE_ENCODING`` count scaled by its ``token_ratio``."""
    if entry.encoding is not None:
        return Tokenizer(entry.encoding, True, entry.id)
    return Tokenizer(ESTIMATE_BASE_ENCODING, False, entry.id, entry.token_ratio,
                     entry.token_ratio_source)


def count_tokens(
    text: str,
    *,
    encoding: str | None = None,
    model: str | None = None,
    allow_special: bool = False,
) -> TokenCount:
    """Count the tokens of ``text``.

    Args:
        text: The text to count.
        encoding: The encoding to count with (one of ``ENCODINGS``; default
            ``DEFAULT_ENCODING``). Not together with ``model``.
        model: A catalog model id; it decides the encoding. A model whose tokenizer is not
            public gets an estimate.
        allow_special: Count special-token text such as ``<|endoftext|>`` as one special token;
            by default it is ordinary text.

    Returns:
        The count with its method.

    Raises:
        ValueError: Unknown encoding or model (the message lists valid names or near matches),
            both given, or a text with an unpaired surrogate.
    """
    _check_text(text)
    return counted_by(tokenizer_for(encoding=encoding, model=model), text,
                      allow_special=allow_special)


def counted_by(tokenizer: Tokenizer, text: str, *, allow_special: bool = False) -> TokenCount:
    """The :class:`TokenCount` of ``text`` by ``tokenizer``."""
    return TokenCount(tokens=tokenizer.count(text, allow_special=allow_special),
                      characters=len(text), **tokenizer.method())


def check_allow_special(allow_special: object) -> None:
    """Refuse an ``allow_special`` that is not a bool, naming it (the Rust core does not)."""
    if not isinstance(allow_special, bool):
        raise TypeError(f"allow_special must be bool, not {type(allow_special).__name__}")


def _check_text(text: object) -> None:
    # The Rust core's own refusal ("'None' is not an instance of 'str'") names no parameter;
    # the pure twin's does, and both paths must say the same.
    if not isinstance(text, str):
        raise TypeError(f"text must be str, not {type(text).__name__}")


def check_unicode(text: str, where: str, *, serialised: bool = False) -> None:
    """Refuse a text with an unpaired surrogate, naming it by ``where`` (``messages[0]['content']``,
    ``item 'a'``).

    The core refuses such a text too, but by its place in the flat list of texts it was handed,
    which the caller never wrote. With ``serialised``, ``text`` is shoal's JSON of the value at
    ``where``, so an index into it would point at nothing the caller wrote and is left out.

    Raises:
        ValueError: ``text`` holds an unpaired surrogate (it has no UTF-8 form).
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        place = "a string with an unpaired surrogate" if serialised else (
            f"an unpaired surrogate at index {error.start}"
        )
        raise InputError(
            f"{where} has {place}; text must be valid Unicode (replace or drop lone "
            "surrogates, e.g. with str.encode('utf-8', 'replace'))"
        ) from None


def check_chat_characters(messages: Sequence[object], tools: Sequence[object] = ()) -> None:
    """Refuse messages and tool definitions that hold more than :data:`MAX_TEXT_CHARACTERS`
    together, counting every string in them (keys and values, however deeply nested).

    A bound on the whole, as a conversation's earlier turns have: ten thousand messages each
    under the bound of one text would still take minutes and gigabytes to check and count. It
    stops at the message (or tool definition) that goes past it, before any is tokenised.

    Raises:
        ValueError: The messages, then the tools, go past the bound; the message names the
            argument and the item that went past it.
    """
    characters = 0
    for name, items in (("messages", messages), ("tools", tools)):
        for index, item in enumerate(items):
            characters += _string_characters(item)
            if characters > MAX_TEXT_CHARACTERS:
                held, advice = (("messages", "earlier messages") if name == "messages" else
                                ("messages and tools", "messages or tool definitions"))
                raise InputError(
                    f"{name}: at most {MAX_TEXT_CHARACTERS:,} characters over all messages and "
                    f"tool definitions; the {held} up to {name}[{index}] hold {characters:,}. "
                    f"Drop or shorten {advice}"
                )


def _string_characters(value: object) -> int:
    """Characters of every string in ``value``: itself, or the keys and values of the mappings
    and lists it nests (walked without recursion, so any depth is counted)."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return total


def _scaled(tokens: int, ratio: float) -> int:
    """``tokens * ratio`` rounded up, computed on the ratio's decimal value.

    Binary floating point would make 10 x 1.1 = 11.000000000000002 and round it up to 12.
    """
    return math.ceil(tokens * Fraction(str(ratio)))


def encode(
    text: str, *, encoding: str = DEFAULT_ENCODING, allow_special: bool = False
) -> list[int]:
    """Token ids of ``text``, identical to tiktoken 0.14's.

    Args:
        text: The text to encode.
        encoding: One of ``ENCODINGS``.
        allow_special: Encode special-token text such as ``<|endoftext|>`` as its special id;
            by default it is ordinary text.

    Raises:
        ValueError: Unknown encoding, or a text with an unpaired surrogate.
    """
    check_allow_special(allow_special)
    try:
        _check_text(text)
        return _backend_for(encoding).encode(encoding, text, allow_special=allow_special)
    except ValueError as error:
        raise refusal(error) from None


def decode(ids: Sequence[int], *, encoding: str = DEFAULT_ENCODING) -> str:
    """The text of token ``ids``.

    Bytes that do not form valid UTF-8 (a sequence cut inside a character) become U+FFFD, as in
    tiktoken's ``decode``; use ``decode_bytes`` for the raw bytes.

    Raises:
        ValueError: An id the encoding does not define, or an unknown encoding.
    """
    return decode_bytes(ids, encoding=encoding).decode("utf-8", errors="replace")


def decode_bytes(ids: Sequence[int], *, encoding: str = DEFAULT_ENCODING) -> bytes:
    """The bytes of token ``ids``, concatenated (see ``decode``)."""
    if (isinstance(ids, (str, bytes, bytearray, memoryview, Mapping, AbstractSet))
            or not isinstance(ids, Iterable)):
        # Iterated, bytes would be ids 0 to 255, a dict its keys, a set in no order at all.
        raise TypeError(f"ids must be a list of int, not {type(ids).__name__}")
    # An id from numpy (an array of ids) as an int, which both cores take; any other type is
    # left for them to refuse, naming the id.
    ids = [int_when_whole(token) for token in ids]
    for index, token in enumerate(ids):
        # Both cores take True as id 1, as Python's int does.
        if isinstance(token, bool):
            raise TypeError(f"ids[{index}] must be int, not bool")
    try:
        return _backend_for(encoding).decode(encoding, ids)
    except ValueError as error:
        raise refusal(error) from None


@dataclass(frozen=True)
class ChatTokenCount:
    """Prompt tokens of a chat request, split into messages and tool definitions.

    Attributes:
        tokens: The whole prompt: ``message_tokens + tool_tokens``.
        message_tokens: The messages, with per-message overhead and the reply priming.
        tool_tokens: The function definitions, with their overhead (0 without tools).
        messages: Number of messages.
        tools: Number of function definitions.
        encoding: The encoding that counted the texts (for an estimate, the one whose counts
            were scaled).
        exact: True when the model's own tokenizer counted the texts and the overhead rules were
            checked against the API for the model (gpt-3.5-turbo, gpt-4, gpt-4o, gpt-4o-mini).
        model: The catalog id.
        method: Which rules produced the count.
        token_ratio: For a model without a public tokenizer, its tokens per ``encoding`` token
            that scaled each text's count (rounded up); None when the texts were counted exactly.
        ratio_source: Where that ratio comes from; None when the texts were counted exactly.
    """

    tokens: int
    message_tokens: int
    tool_tokens: int
    messages: int
    tools: int
    encoding: str
    exact: bool
    model: str
    method: str
    token_ratio: float | None = None
    ratio_source: str | None = None


# How a chat whose contents come as lists of text parts is counted, appended to its method.
CONTENT_PARTS_NOTE = "content parts counted as separate texts (OpenAI publishes no rule for parts)"

# How an assistant message's tool calls are counted, appended to the method of a chat that has any.
TOOL_CALLS_NOTE = "tool calls counted as compact JSON (OpenAI publishes no rule for them)"

# How Anthropic tool_use and tool_result content blocks are counted, appended to the method.
TOOL_BLOCKS_NOTE = (
    "tool_use and tool_result blocks counted with their message's content as compact JSON "
    "(no vendor publishes a rule for them)"
)

# How Anthropic's thinking blocks are counted, appended to the method: their text, as no
# vendor publishes a rule, though Anthropic's count_tokens leaves out earlier turns' thinking.
THINKING_NOTE = (
    "thinking blocks counted by their text (Anthropic's token counting leaves out those of "
    "earlier assistant turns, so this may count high)"
)

# How tools defined in Anthropic's or MCP's shape are counted, appended to the method.
TOOL_SCHEMA_NOTE = (
    "tools given with input_schema or inputSchema (Anthropic, MCP) counted by OpenAI's function "
    "rules (their vendors publish none)"
)

# How a vendor's own tool (Anthropic's web_search_20250305, bash_20250124) is counted: by name,
# since its definition is the vendor's and its token cost is not published as text.
VENDOR_TOOL_NOTE = ("tools of a vendor-defined type counted by their name alone (their definition "
                    "is the vendor's)")

# The keys a tool definition's parameter schema comes under: OpenAI's, Anthropic's, MCP's.
SCHEMA_KEYS = ("parameters", "input_schema", "inputSchema")

# The keys of an assistant message that may stand in for its content, as the API allows.
CALL_KEYS = ("tool_calls", "function_call")

# Deepest nesting a tool call or tool block may have to be counted as JSON, the depth the MCP
# server allows an argument: real ones are a few levels deep.
MAX_JSON_DEPTH = 64

# Anthropic's content blocks of a tool call and its result: text a model reads, counted as JSON.
TOOL_BLOCK_TYPES = ("tool_use", "tool_result")

# The content parts whose text a model reads, each with the field that holds the text: text
# parts (both vendors'), input_text and output_text (OpenAI's Responses API), an OpenAI
# assistant's refusal, and Anthropic's thinking.
TEXT_FIELDS = {"text": "text", "input_text": "text", "output_text": "text",
               "refusal": "refusal", "thinking": "thinking"}

# The content parts that hold no text to count, and why each is refused.
UNCOUNTED_PARTS = (
    (("image", "image_url", "input_image"), "images are billed by their size, not by text"),
    (("input_audio", "audio"), "audio is billed by its length, not by text"),
    (("document", "file", "input_file"),
     "a document's tokens depend on how the vendor reads its file (a PDF, say), which cannot "
     "be counted from the request's text"),
    (("redacted_thinking",),
     "its thinking is encrypted, so its tokens cannot be counted from its text; remove it to "
     "count the rest (Anthropic's token counting leaves out the thinking of earlier assistant "
     "turns)"),
)


def count_chat(
    messages: Sequence[Mapping[str, Any]],
    *,
    model: str = "gpt-4o",
    tools: Sequence[Mapping[str, Any]] = (),
) -> ChatTokenCount:
    """Prompt tokens of a Chat Completions request's ``messages`` and ``tools``.

    Follows the rules OpenAI publishes in its cookbook: every value of every message (role,
    content, name) is encoded and summed, each message adds 3 tokens, a ``name`` adds 1, and the
    reply priming adds 3. Each function adds ``name:description`` and, per top-level property,
    ``key:type:description`` plus each enum item (a trailing "." is dropped from descriptions),
    with the constants in ``TOOL_OVERHEAD``; nested object properties are not counted, as in the
    published rules. OpenAI calls these rules an estimate that can drift for new models; they
    reproduce the API's counts for gpt-3.5-turbo, gpt-4, gpt-4o and gpt-4o-mini, and only there
    is the answer ``exact``. For other OpenAI models they are assumed; for other vendors the
    texts are counted with the model's tokenizer (or its labelled estimate) and the same
    overhead is added as an approximation of their chat templates.

    Args:
        messages: Messages such as ``{"role": "user", "content": "Hi"}``; values must be str,
            except that ``content`` may be a list of text parts
            (``[{"type": "text", "text": "Hi"}]``), each counted as one value, as are the
            other parts that carry text (``input_text``, ``output_text``, ``refusal``, and
            Anthropic's ``thinking``, counted by its text alone). As in the API,
            every message needs a ``role`` (one of :data:`shoal.budget.CHAT_ROLES`) and a
            ``content``, except that an assistant message with ``tool_calls`` (or the older
            ``function_call``) may leave its content out or null; those calls are counted as
            compact JSON. A content list with Anthropic ``tool_use`` or ``tool_result`` blocks
            is counted whole as compact JSON (its thinking blocks by their text), as
            :func:`shoal.budget.trim_chat` counts it. No vendor publishes a rule for parts,
            calls or blocks, so a chat with any is never ``exact``.
        model: A catalog model id.
        tools: Tool definitions as sent to the API, ``{"type": "function", "function": {...}}``
            (a bare function object is accepted too, and Anthropic's and MCP's shapes, whose
            schema is ``input_schema`` or ``inputSchema``; those are counted by the same rules,
            so such a count is not ``exact``).

    Returns:
        The prompt token count, its parts, and how it was obtained.

    Raises:
        ValueError: Unknown model, a message without a role or content or with an unknown
            role, a tool definition without a name, or a content part that carries no text
            and is no tool block (an image is priced by its size, not by text; a document or
            redacted thinking cannot be counted from its text), or has no type.
        TypeError: Messages or tools that are not lists, a message that is not a mapping of
            str to str, or a malformed tool.
    """
    tokenizer = tokenizer_for(model=model)
    texts, names, notes = _message_texts(messages)
    content_tokens = sum(tokenizer.count_many(texts))
    message_tokens = (
        content_tokens
        + TOKENS_PER_MESSAGE * len(messages)
        + TOKENS_PER_NAME * names
        + REPLY_PRIMING_TOKENS
    )

    overhead = TOOL_OVERHEAD.get(tokenizer.encoding, TOOL_OVERHEAD["o200k_base"])
    tool_tokens, schema_notes = _tool_tokens(tools, tokenizer, overhead)
    notes.extend(schema_notes)

    entry = configured_catalog().model(model)
    rules_checked = tokenizer.exact and (
        entry.id in CHAT_RULES_VERIFIED or not CHAT_RULES_VERIFIED.isdisjoint(entry.aliases)
    )
    if rules_checked:
        method = "OpenAI cookbook chat and tool rules, checked there against the API"
    elif entry.provider == "openai" and tokenizer.exact:
        method = "OpenAI cookbook chat and tool rules, assumed for this model (checked for gpt-4o)"
    else:
        method = (
            f"estimate: texts counted {texts_counted(tokenizer)}; chat and tool overhead by "
            "OpenAI's rules, as an approximation of this vendor's template"
        )
    method = "; ".join([method, *notes])
    return ChatTokenCount(
        tokens=message_tokens + tool_tokens,
        message_tokens=message_tokens,
        tool_tokens=tool_tokens,
        messages=len(messages),
        tools=len(tools),
        encoding=tokenizer.encoding,
        exact=rules_checked and not notes,
        model=entry.id,
        method=method,
        token_ratio=tokenizer.token_ratio,
        ratio_source=tokenizer.ratio_source,
    )


def texts_counted(tokenizer: Tokenizer) -> str:
    """How a tokenizer counts a text, to follow "texts counted": ``with o200k_base``, or for an
    estimate ``as o200k_base tokens x 1.30, rounded up``."""
    if tokenizer.exact:
        return f"with {tokenizer.encoding}"
    return f"as {tokenizer.encoding} tokens x {tokenizer.ratio:.2f}, rounded up"


def _message_texts(messages: Sequence[Mapping[str, Any]]) -> tuple[list[str], int, list[str]]:
    """Every text of every message, how many messages carry a ``name``, and the notes on what
    was counted by a rule of shoal's rather than a published one (content parts, tool calls,
    tool blocks), in that order."""
    _check_list(messages, "messages", "message dicts")
    texts: list[str] = []
    names = 0
    found: set[str] = set()
    for index, message in enumerate(messages):
        message_texts, message_names, notes = message_texts_of(message, index)
        texts.extend(message_texts)
        names += message_names
        found.update(notes)
    return texts, names, [note for note in NOTE_ORDER if note in found]


# The notes of a count, in the order its method lists them.
NOTE_ORDER = (CONTENT_PARTS_NOTE, TOOL_CALLS_NOTE, TOOL_BLOCKS_NOTE, THINKING_NOTE)


def message_texts_of(message: object, index: int) -> tuple[list[str], int, list[str]]:
    """The texts of ``messages[index]``, whether it carries a ``name`` (0 or 1), and the notes
    on what shoal counted by a rule of its own.

    This is the check of a message that :func:`count_chat` and :func:`shoal.budget.trim_chat`
    share, so that neither counts what the other refuses.

    Raises:
        ValueError, TypeError: A message the API would refuse or that cannot be counted as
            text; the message names ``messages[index]`` and the field.
    """
    if not isinstance(message, Mapping):
        raise TypeError(f"messages[{index}] must be an object with a role, got "
                        f"{type(message).__name__} {message!r:.40}")
    calls = _check_role_and_content(message, index)
    texts: list[str] = []
    names = 0
    found: set[str] = set()
    for key, value in message.items():
        where = f"messages[{index}][{key!r}]"
        if not isinstance(key, str):
            # No API takes such a key; its value would be counted as if it were a field.
            raise TypeError(f"messages[{index}] keys must be str, not {type(key).__name__} "
                            f"({key!r:.40})")
        if key in calls:
            # A caller that serialised the calls already has chosen their text.
            texts.append(value if isinstance(value, str) else _compact_json(value, where))
            check_unicode(texts[-1], where, serialised=not isinstance(value, str))
            found.add(TOOL_CALLS_NOTE)
            continue
        if key == "content" and value is None and calls:
            continue
        if key == "content" and isinstance(value, list):
            content_texts, content_notes = _content_texts(value, where)
            texts.extend(content_texts)
            found.update(content_notes)
            continue
        if not isinstance(value, str):
            raise TypeError(f"{where} must be a string, not {_json_type_named(value)}")
        check_unicode(value, where)
        texts.append(value)
        names += key == "name"
    return texts, names, [note for note in NOTE_ORDER if note in found]


def _compact_json(value: object, where: str) -> str:
    """``value`` as compact JSON, refused when nested deeper than ``MAX_JSON_DEPTH``."""
    _check_depth(value, where)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _check_depth(value: object, where: str) -> None:
    """Refuse ``value`` nested deeper than ``MAX_JSON_DEPTH``."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, (Mapping, list, tuple)):
            continue
        if depth > MAX_JSON_DEPTH:
            # The encoder recurses: a thousand levels would exhaust Python's stack.
            raise InputError(f"{where} is nested more than {MAX_JSON_DEPTH} levels deep")
        stack.extend((inner, depth + 1) for inner in
                     (item.values() if isinstance(item, Mapping) else item))


def _content_texts(parts: list[Any], where: str) -> tuple[list[str], list[str]]:
    """The texts of a content list and the notes on how they were counted: each text part's
    text on its own, or, for a list that holds Anthropic tool blocks, the list whole as
    compact JSON; a thinking block is counted by its text alone either way (its signature is
    no text a model reads)."""
    with_tool_blocks = any(isinstance(part, Mapping) and part.get("type") in TOOL_BLOCK_TYPES
                           for part in parts)
    if with_tool_blocks:
        # First: it bounds the depth the part check then walks into tool results.
        _check_depth(parts, where)
    texts = [_part_text(part, f"{where}[{position}]") for position, part in enumerate(parts)]
    thinking = [part.get("type") == "thinking" for part in parts]
    notes = [THINKING_NOTE] if any(thinking) else []
    if not with_tool_blocks:
        return [text for text in texts if text is not None], [CONTENT_PARTS_NOTE, *notes]

    rest = [part for part, is_thinking in zip(parts, thinking, strict=True) if not is_thinking]
    blocks = json.dumps(rest, ensure_ascii=False, separators=(",", ":"))
    check_unicode(blocks, where, serialised=True)
    thought = [text for text, is_thinking in zip(texts, thinking, strict=True)
               if is_thinking and text is not None]
    return [*thought, blocks], [TOOL_BLOCKS_NOTE, *notes]


def _part_text(part: object, where: str) -> str | None:
    """The text of one content part (None for a tool block, counted as JSON), once checked:
    a part of a kind shoal does not count is refused with the reason, and so is one inside a
    tool result's own content (an image there is billed by its size as anywhere else)."""
    if not isinstance(part, Mapping):
        raise TypeError(f"{where} must be an object, not {_json_type_named(part)}")
    if "type" not in part:
        raise InputError(f"{where} has no 'type'; give each part one, as in "
                         "{'type': 'text', 'text': '...'}")
    kind = part["type"]
    if not isinstance(kind, str):
        raise TypeError(f"{where}['type'] must be a string, not {_json_type_named(kind)}")
    if kind in TOOL_BLOCK_TYPES:
        inner = part.get("content")
        for position, inner_part in enumerate(inner if isinstance(inner, list) else []):
            _part_text(inner_part, f"{where}['content'][{position}]")
        return None
    field = TEXT_FIELDS.get(kind)
    if field is None:
        named = f"{'an' if kind[:1].lower() in 'aeiou' else 'a'} {excerpt(kind)} part"
        raise InputError(f"{where} is {named}: {_why_not_counted(kind)}")
    text = part.get(field)
    if not isinstance(text, str):
        raise TypeError(f"{where}[{field!r}] must be a string, not {_json_type_named(text)}")
    check_unicode(text, f"{where}[{field!r}]")
    return text


def _why_not_counted(kind: str) -> str:
    """Why a content part of ``kind``, which holds no text to count, is refused."""
    for kinds, reason in UNCOUNTED_PARTS:
        if kind in kinds:
            return reason
    return (f"shoal counts the text parts ({', '.join(TEXT_FIELDS)}) and tool_use and "
            "tool_result blocks, not this kind")


def _check_list(value: object, name: str, items: str) -> None:
    """Refuse anything but a list (or tuple) where the API takes an array."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be a list of {items}, not {type(value).__name__}")


def _check_role_and_content(message: Mapping[str, Any], index: int) -> tuple[str, ...]:
    """Refuse a message the API would refuse for a missing or unknown role or a missing
    content; return the keys of the tool calls that stand in for its content (empty when it
    has content)."""
    # budget imports this module, so the roles it keeps are imported when used.
    from shoal.budget import CHAT_ROLES

    if "role" not in message:
        raise InputError(f"messages[{index}] has no 'role'; every message needs one")
    role = message["role"]
    if isinstance(role, str) and role not in CHAT_ROLES:
        raise InputError(f"messages[{index}] has the unknown role {role!r:.40}; the roles are "
                         f"{', '.join(CHAT_ROLES)}")
    calls = tuple(key for key in CALL_KEYS if message.get(key) is not None)
    if message.get("role") == "assistant" and calls:
        return calls
    if message.get("content") is None:
        raise InputError(
            f"messages[{index}] has no 'content' (or it is null); only an assistant message "
            "with 'tool_calls' may leave it out"
        )
    return ()


def _tool_tokens(
    tools: Sequence[Mapping[str, Any]], tokenizer: Tokenizer, overhead: ToolOverhead
) -> tuple[int, list[str]]:
    """Tokens of the function definitions under OpenAI's published rules (0 without tools),
    and the note on tools given in another vendor's shape."""
    _check_list(tools, "tools", "tool definitions")
    if not tools:
        return 0, []

    lines: list[str] = []
    fixed = overhead.end
    other_shapes = vendor_tools = False
    for index, tool in enumerate(tools):
        function = _function_of(tool, index)
        vendor_tools = vendor_tools or tool.get("type") not in (None, "function", "custom")
        fixed += overhead.function_start
        lines.append(f"{function['name']}:{_without_final_period(function.get('description'))}")

        schema_key, parameters = _parameters_of(function, index)
        other_shapes = other_shapes or schema_key != "parameters"
        properties = parameters.get("properties") or {}
        if not isinstance(properties, Mapping):
            raise TypeError(f"tools[{index}] {schema_key}.properties must be an object")
        if properties:
            fixed += overhead.properties_start
        for key, schema in properties.items():
            if not isinstance(schema, Mapping):
                raise TypeError(f"tools[{index}] property {key!r} must be an object")
            fixed += overhead.property_key
            enum = schema.get("enum")
            if enum is not None and not isinstance(enum, list):
                raise TypeError(f"tools[{index}] property {key!r}: enum must be a list")
            if enum:
                fixed += overhead.enum_start + overhead.enum_item * len(enum)
                lines.extend(item if isinstance(item, str) else json.dumps(item) for item in enum)
            kind = schema.get("type", "")
            description = _without_final_period(schema.get("description"))
            lines.append(f"{key}:{kind}:{description}")
    notes = [note for note, found in ((TOOL_SCHEMA_NOTE, other_shapes),
                                      (VENDOR_TOOL_NOTE, vendor_tools)) if found]
    return fixed + sum(tokenizer.count_many(lines)), notes


def _parameters_of(function: Mapping[str, Any], index: int) -> tuple[str, Mapping[str, Any]]:
    """The key a tool's parameter schema came under and the schema ({} when it has none).
    Anthropic names it input_schema and MCP inputSchema; counting only the name and
    description of such a tool would leave out most of its tokens."""
    given = [key for key in SCHEMA_KEYS if function.get(key) is not None]
    if len(given) > 1:
        raise InputError(f"tools[{index}] gives its parameters twice ({' and '.join(given)}); "
                         "keep one")
    key = given[0] if given else "parameters"
    schema = function.get(key) or {}
    if not isinstance(schema, Mapping):
        field = "function.parameters" if key == "parameters" else key
        raise TypeError(f"tools[{index}] {field} must be an object (a JSON schema)")
    return key, schema


def _function_of(tool: object, index: int) -> Mapping[str, Any]:
    if not isinstance(tool, Mapping):
        raise TypeError(f"tools[{index}] must be an object, not {_json_type_named(tool)}")
    function = tool.get("function", tool)
    if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
        raise InputError(
            f"tools[{index}] has no function name; give {{'function': {{'name': ...}}}}"
        )
    return function


def _without_final_period(text: object) -> str:
    text = "" if text is None else str(text)
    return text[:-1] if text.endswith(".") else text


def _json_type_named(value: object) -> str:
    """``an object``, ``a number``, ``null``: the JSON type of a field of a chat, which reaches
    shoal as JSON (over MCP, from a file) whatever reads it."""
    kind = json_type(value)
    if kind == "null":
        return kind
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"
