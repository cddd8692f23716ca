"""Rules every tool of the MCP server obeys, whoever wrote it.

They apply to the registered tools as a set, so a tool added later is covered without a line of its
own: tools/call answers are capped in size (measured with shoal's own token counter), a call to a
tool the server does not have is a protocol error, and the tool set can be narrowed to some groups
or to read-only tools for hosts that should not write.
"""

from __future__ import annotations

import difflib
import inspect
import itertools
import json
import logging
import math
import re
from collections.abc import Collection, Mapping
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, METHOD_NOT_FOUND
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from shoal.cost import format_usd
from shoal.excerpts import (
    EXCERPT_CHARACTERS,
    LISTED_ITEMS,
    excerpt,
    first_few,
    grouped_number,
    quoted_path,
)
from shoal.privacy import secrets_hidden
from shoal.tokens import MAX_JSON_DEPTH, count_tokens

logger = logging.getLogger(__name__)

# Claude Code warns above 10,000 tokens of tool output; one answer stays well below that so that a
# few of them fit in a turn.
MAX_RESULT_TOKENS = 6_000

# Tool group -> the area names of the `_add_<area>_tools` functions in shoal.server that feed it.
TOOL_GROUPS: dict[str, tuple[str, ...]] = {
    "tokens": ("token", "tokens"),
    "routing": ("routing", "router"),
    "cost": ("cost", "costs"),
    "budget": ("budget", "budgets"),
    "hardware": ("hardware",),
}

_ADDER = re.compile(r"_add_(?P<area>[a-z0-9_]+?)_tools\.<locals>\.")

# How a domain error starts when the call was well-formed but is refused all the same (a hard
# spending limit): such an error is not led by the name of an argument it happens to quote.
_REFUSAL = re.compile(r"\W*refused\b", re.IGNORECASE)

# How an error about one of the server's own files (its ledger, price catalog, feedback database,
# router file) starts: no argument of the call is at fault, so none is named, though the error
# may quote one (a scope in the ledger's path, a model in the price file's row).
SERVER_FILE_LEAD = "the server's own "

# Longest resource URI the server answers: the longest part of one is a model id
# (shoal://models/{model_id}), at most 200 characters wherever the tools take one, and this
# leaves room for every character of it percent-encoded.
MAX_RESOURCE_URI_CHARACTERS = 1_000

# Deepest nesting an argument may have: the free-form ones (tool definitions, chat messages) are
# JSON a few levels deep; thousands of levels would only exhaust the stack of whoever reads them.
# The same bound the token counter sets on what it counts as JSON.
MAX_ARGUMENT_DEPTH = MAX_JSON_DEPTH


def tool_group(function: Any) -> str:
    """The group of a tool function, from the `_add_<area>_tools` function that declared it.

    A tool declared elsewhere gets the group ``"other"``; an unknown area is returned as it is,
    so that a test can name it.
    """
    match = _ADDER.match(getattr(function, "__qualname__", ""))
    if match is None:
        return "other"
    area = match["area"]
    for group, areas in TOOL_GROUPS.items():
        if area in areas:
            return group
    return area


def registered_tools(server: MCPServer[Any]) -> list[Any]:
    """The server's tools in registration order (the order tools/list gives them)."""
    return list(server._tool_manager.list_tools())


def select_tools(
    server: MCPServer[Any], *, read_only: bool = False, groups: Collection[str] | None = None
) -> dict[str, str]:
    """Drop the tools a host should not see: other groups, and writers in read-only mode.

    Returns:
        Each tool left out -> why, for the error that answers a call to it.

    Raises:
        ValueError: A group name is not one of `TOOL_GROUPS`.
    """
    if groups is not None:
        unknown = sorted(set(groups) - set(TOOL_GROUPS))
        if unknown:
            raise ValueError(
                f"unknown tool group(s) {', '.join(unknown)}: choose among {', '.join(TOOL_GROUPS)}"
            )

    left_out: dict[str, str] = {}
    for tool in registered_tools(server):
        writes = tool.annotations is None or tool.annotations.read_only_hint is not True
        group = tool_group(tool.fn)
        if groups is not None and group not in groups:
            left_out[tool.name] = (
                f"its group, {group}, is not among the groups served ({', '.join(groups)}; "
                "shoal serve --tools)"
            )
        elif read_only and writes:
            left_out[tool.name] = "it writes and the server is read-only (shoal serve --read-only)"
        else:
            continue
        server.remove_tool(tool.name)
        logger.debug("tool %s left out: %s", tool.name, left_out[tool.name])
    return left_out


def tidy_descriptions(server: MCPServer[Any]) -> None:
    """Strip docstring indentation from tool descriptions: a model reads (and pays for) every
    space of them."""
    for tool in registered_tools(server):
        tool.description = inspect.cleandoc(tool.description or "")


def state_answer_cap(
    server: MCPServer[Any], how_to_ask_for_less: Mapping[str, str], cap: int
) -> None:
    """End the description of each tool whose answer can grow past ``cap`` with the cap and how
    to stay under it, so a model sizes its request before calling rather than after a refusal.

    Args:
        server: The server whose tools to describe.
        how_to_ask_for_less: Tool name -> what to change, its limits filled in by
            `fill_advice`.
        cap: Largest answer, in tokens.
    """
    for tool in registered_tools(server):
        advice = how_to_ask_for_less.get(tool.name)
        if advice is not None:
            tool.description = (
                f"{tool.description}\n\nAnswers over {cap:,} tokens are refused: "
                + fill_advice(advice, cap)
            )


def returned_text_limit(cap: int) -> int:
    """Most tokens of produced text (a kept text, chunks) one answer under ``cap`` can carry.

    The text comes back twice, in the text content and in the structured content, JSON escapes
    make the second copy a little longer, and the rest of the answer needs room.
    """
    return cap * 2 // 5


def fill_advice(advice: str, cap: int) -> str:
    """A tool's advice with its limits filled in: ``{cap}``, ``{text_limit}`` (see
    `returned_text_limit`), ``{chat_limit}`` (budget tokens of kept chat messages, which come
    back as JSON, costlier than the prompt they were counted as) and ``{item_limit}`` (lines of
    about 100 tokens)."""
    text_limit = returned_text_limit(cap)
    return advice.format(cap=cap, text_limit=text_limit, chat_limit=text_limit * 5 // 6,
                         item_limit=cap // 120)


def too_long_for_an_answer(cap: int) -> str:
    """Why produced text has a limit, for the error that refuses a request over it."""
    return (
        f"shoal's cap is {cap:,} tokens per answer and the text comes back twice (as text and as "
        f"structured content), so at most {returned_text_limit(cap):,} tokens of it"
    )


def answer_tokens(result: dict[str, Any]) -> int:
    """Tokens a host reads from a tools/call answer: its text content plus its structured JSON."""
    parts = [
        str(block.get("text", "")) for block in result.get("content", []) if isinstance(block, dict)
    ]
    if result.get("structuredContent") is not None:
        parts.append(json.dumps(result["structuredContent"], ensure_ascii=False))
    return count_tokens("\n".join(parts), encoding="o200k_base").tokens


def argument_problem(tool: Any, params: dict[str, Any]) -> str | None:
    """What is wrong with a call's arguments, in words a model can act on, or None.

    The SDK's own validation ignores arguments the tool does not take (so a misspelt limit is
    silently dropped), converts "yes" to true and "100" to 100, and answers in pydantic's
    wording. Here an unknown argument names the close match, types are strict (an integer is
    still a number, and a whole number sent as a float is an integer: see
    `whole_numbers_as_integers`), and each problem names its argument. Sizes are checked
    against the input schema before anything else, so an oversized argument (a 100 MB string,
    a million items) is refused without being read through; NaN, infinities and absurd nesting
    are refused anywhere in an argument.
    """
    arguments = params.get("arguments") or {}
    if not isinstance(arguments, dict):
        return "arguments must be a JSON object"

    model = tool.fn_metadata.arg_model
    accepted = [field.alias or name for name, field in model.model_fields.items()]
    unknown = _unknown_arguments(arguments, accepted)
    if unknown is not None:
        return unknown

    schema = tool.parameters
    for key, value in arguments.items():
        prop = schema.get("properties", {}).get(key, {})
        problem = _oversized(value, prop, schema.get("$defs", {}), key) or _malformed(value, key)
        if problem is not None:
            return problem

    try:
        model.model_validate(arguments, strict=True)
    except ValidationError as error:
        return _described(error.errors(), arguments, schema)
    return None


def whole_numbers_as_integers(arguments: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``arguments`` with each number of zero fractional part (``4096.0``, ``1e3``) that stands
    where the input schema wants an integer turned into that integer, as JSON Schema's
    ``"integer"`` accepts it; what a client's JSON library writes as a float is then read as the
    integer it is. A fraction (``4096.5``), NaN, an infinity and a boolean are left for the
    checks to refuse."""
    defs = schema.get("$defs", {})
    properties = schema.get("properties", {})
    return {key: _as_integer_where_wanted(value, properties.get(key, {}), defs)
            for key, value in arguments.items()}


def _as_integer_where_wanted(value: Any, node: dict[str, Any], defs: dict[str, Any]) -> Any:
    node = _resolved(node, defs)
    members = [_resolved(member, defs) for member in node.get("anyOf") or node.get("oneOf")
               or [node]]
    if isinstance(value, float):
        wants_integer = any(_types(member) & {"integer"} for member in members)
        return int(value) if wants_integer and value.is_integer() else value
    if isinstance(value, list):
        arrays = [member for member in members if "array" in _types(member)]
        items = arrays[0].get("items") if len(arrays) == 1 else None
        if not isinstance(items, dict):
            return value
        return [_as_integer_where_wanted(item, items, defs) for item in value]
    if isinstance(value, dict):
        objects = [member for member in members if "properties" in member]
        if len(objects) != 1:
            return value
        inner = objects[0]["properties"]
        return {key: _as_integer_where_wanted(item, inner[key], defs) if key in inner else item
                for key, item in value.items()}
    return value


def _types(node: dict[str, Any]) -> set[str]:
    kind = node.get("type")
    return set(kind) if isinstance(kind, list) else {str(kind)}


def _unknown_arguments(arguments: dict[str, Any], accepted: list[str]) -> str | None:
    """The arguments a tool does not take, the first few named (with the accepted name each is
    closest to) and the rest counted, or None. A call with a million unknown keys is answered
    in a line, and only the few named are compared with the accepted names."""
    taken = set(accepted)
    unknown = [key for key in arguments if key not in taken]
    if not unknown:
        return None
    # difflib's cutoff (a ratio of 0.6) is out of reach of a key over 2.4 times as long as every
    # accepted name, and comparing a key costs its length: a megabyte key is not compared.
    longest = max((len(name) for name in accepted), default=0)
    hints = []
    for key in unknown[:LISTED_ITEMS]:
        close = difflib.get_close_matches(key, accepted, n=1) if len(key) <= 3 * longest else []
        hints.append(excerpt(key) + (f" (did you mean '{close[0]}'?)" if close else ""))
    return (f"unknown argument {first_few(hints, len(unknown))}; this tool takes "
            f"{', '.join(sorted(accepted))}")


def _described(
    problems: list[Any], arguments: dict[str, Any], schema: dict[str, Any]
) -> str:
    """pydantic's errors in the terms of the tool's input schema: one per argument, saying what
    it accepts, in JSON's words.

    pydantic reports an optional argument's wrong value once per member of its union, under
    internal names ("mode.literal['a','b']", "mode.none"), and words types as Python does
    ("dictionary", "instance of ContextItem", "None"); the caller only sees the schema.
    """
    messages: dict[str, str] = {}
    for problem in problems:
        found = _schema_at(problem["loc"], arguments, schema)
        if found is None:
            continue
        where, node = found
        if where not in messages:
            messages[where] = _describe(problem, where, node, schema.get("$defs", {}))
        if len(messages) == LISTED_ITEMS:
            break
    return "; ".join(messages.values()) or "arguments do not match the tool's input schema"


def _schema_at(
    loc: tuple[Any, ...], arguments: dict[str, Any], schema: dict[str, Any]
) -> tuple[str, dict[str, Any]] | None:
    """Where a pydantic error is, as a path of the arguments, and the schema of what is there;
    None for an error that says nothing the others do not.

    pydantic's location names a union's member after the union's own path ("mode.none",
    "models.list[constrained-str]"), members the schema may not show: an argument that may be
    left out is None inside the tool, and the schema hides that null. The null member's error
    for a value that is not null only says so, and is dropped; an error inside a value follows
    that value's schema when one member can hold it. Any other error at a union is the
    union's: the value matches none of its members, and the message lists them all.
    """
    defs = schema.get("$defs", {})
    node: dict[str, Any] = schema
    value: Any = arguments
    path: list[str] = []
    parts = list(loc)
    while parts:
        node = _resolved(node, defs)
        members = node.get("anyOf") or node.get("oneOf") or [node]
        if _is_member_name(parts[0], value, members, defs):
            if parts.pop(0) == "none" and value is not None:
                return None
            if not parts:
                break  # the value as a whole matches no member
        elif len(members) == 1:
            part = parts.pop(0)
            path.append(_shown_key(part))
            node, value = _inside_schema(node, part, value)
            continue
        others = [member for member in members if _resolved(member, defs).get("type") != "null"]
        if len(others) != 1 or value is None:
            break  # which member the caller meant is not known
        node = others[0]
    return ".".join(path) or "arguments", node


def _is_member_name(part: Any, value: Any, members: list[Any], defs: dict[str, Any]) -> bool:
    """Whether a part of a pydantic location names a union's member ("none", "list[str]",
    "ContextItem") rather than a step into the value, which is an index, a key of the value or
    a property of a member."""
    if not isinstance(part, str) or (isinstance(value, dict) and part in value):
        return False
    return not any(part in _resolved(member, defs).get("properties", {}) for member in members)


def _inside_schema(node: dict[str, Any], part: Any, value: Any) -> tuple[dict[str, Any], Any]:
    """The schema and value one step into ``node`` and ``value``: a property, an array's item
    or an open object's member; an empty schema where the schema says nothing."""
    if isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
        items = node.get("items")
        return (items if isinstance(items, dict) else {}), value[part]
    inner = value.get(part) if isinstance(value, dict) else None
    properties = node.get("properties", {})
    if part in properties:
        return properties[part], inner
    extra = node.get("additionalProperties")
    return (extra if isinstance(extra, dict) else {}), inner


def _shown_key(part: Any) -> str:
    # An object's key is the caller's text, of any length.
    text = str(part)
    return text if len(text) <= EXCERPT_CHARACTERS else excerpt(text)


def _resolved(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        return defs.get(node["$ref"].rsplit("/", 1)[-1], {})
    return node


# pydantic error types that say the value is of the wrong kind, whatever its size: worded here
# as what the schema accepts. Others (a bound, a missing or extra field) keep pydantic's words.
_WRONG_KIND = {"literal_error", "enum", "none_required", "model_type", "model_attributes_type",
               "dataclass_type", "is_instance_of", "union_tag_invalid"}


# How much of each end of a string is scanned before an excerpt shows part of it: far more than
# an excerpt shows, so that a secret cut by the excerpt is still whole where it is looked for.
_SCANNED_END_CHARACTERS = 4096


def _with_secrets_hidden(value: Any, depth: int = 0) -> Any:
    """``value`` with secrets and personal data in its strings replaced by ``[kind]``, as far as
    an excerpt reads it (the first items, two levels deep, each string's two ends).

    A wrong-typed prompt or message (a list where a string belongs) is quoted back in the error;
    the privacy guard never sees it, so it is redacted here: an error is shown to the model and
    may be logged by the host.
    """
    if isinstance(value, str):
        return _redacted_ends(value)
    if depth >= 2:
        return value
    if isinstance(value, list):
        return [_with_secrets_hidden(item, depth + 1) for item in value[:4]] + value[4:]
    if isinstance(value, dict):
        shown = dict(itertools.islice(value.items(), 4))
        return {**value, **{key: _with_secrets_hidden(item, depth + 1)
                            for key, item in shown.items()}}
    return value


def _redacted_ends(text: str) -> str:
    if len(text) > 2 * _SCANNED_END_CHARACTERS:
        # Only the ends are ever shown; the middle is kept as one character, so that the
        # excerpt still marks a cut.
        text = text[:_SCANNED_END_CHARACTERS] + "…" + text[-_SCANNED_END_CHARACTERS:]
    return secrets_hidden(text)


def _describe(problem: Any, where: str, node: dict[str, Any], defs: dict[str, Any]) -> str:
    """One pydantic error about the argument at ``where``, whose schema is ``node``."""
    kind = str(problem.get("type", ""))
    shown = excerpt(_with_secrets_hidden(problem.get("input")))
    if kind == "string_unicode":
        return (
            f"argument '{where}': must be valid Unicode text, but it holds an unpaired surrogate "
            f"(got {shown})"
        )
    if kind == "missing":
        # pydantic's input here is the object the argument is missing from, not the argument.
        return f"argument '{where}': required, but not given"
    if kind == "too_short":
        # A list below its minItems, in the words of the Python functions and the command line
        # ("nodes must not be empty") and of a list above its maxItems (`_oversized`).
        least, given = problem.get("ctx", {}).get("min_length"), _length(problem.get("input"))
        if least == 1 and given == 0:
            return f"argument '{where}': must not be empty"
        if isinstance(least, int) and given is not None:
            return f"argument '{where}': at least {least:,} items, got {given:,}"
    if _is_number(problem.get("input")):
        # A number as every error quotes one, and as its bound is written: grouped digits
        # (1,000,001), or a short form past an excerpt's width (1e+300).
        shown = grouped_number(problem["input"])
    bound = _bound(kind, problem, node)
    if bound is not None:
        return f"argument '{where}': must be {bound[0]} {_figure(bound[1], where)} (got {shown})"
    accepts = _accepts(node, defs)
    if accepts is not None and (kind in _WRONG_KIND or kind.endswith("_type")):
        return f"argument '{where}': must be {accepts} (got {shown})"
    message = str(problem["msg"]).removeprefix("Value error, ")
    for python, json_word in _PYTHON_WORDS:
        message = message.replace(python, json_word)
    return f"argument '{where}': {message[:1].lower()}{message[1:]} (got {shown})"


# pydantic's error types for a number's bounds: the words shoal's messages use for each, and the
# key of the bound in the error's context and in the schema.
_BOUNDS = {
    "less_than_equal": ("at most", "le", "maximum"),
    "less_than": ("below", "lt", "exclusiveMaximum"),
    "greater_than_equal": ("at least", "ge", "minimum"),
    "greater_than": ("above", "gt", "exclusiveMinimum"),
}


def _bound(kind: str, problem: Any, node: dict[str, Any]) -> tuple[str, float] | None:
    """The bound a number breaks, as ``("at most", 1000)``, or None when the error is of
    another kind.

    A whole number past a float's range (over 308 digits) given for a number is reported by
    pydantic as not a number at all; it is one, above the argument's maximum or below its
    minimum, and is said so.
    """
    if kind in _BOUNDS:
        words, context_key, _ = _BOUNDS[kind]
        limit = problem.get("ctx", {}).get(context_key)
        return (words, limit) if _is_number(limit) else None
    value = problem.get("input")
    if kind != "float_type" or not isinstance(value, int) or isinstance(value, bool):
        return None
    upper, lower = ("less_than_equal", "less_than"), ("greater_than_equal", "greater_than")
    for side in upper if value > 0 else lower:
        words, _, schema_key = _BOUNDS[side]
        if _is_number(node.get(schema_key)):
            return words, node[schema_key]
    return None


def _length(value: Any) -> int | None:
    return len(value) if isinstance(value, (list, tuple, dict)) else None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _figure(limit: float, where: str) -> str:
    """A bound as shoal's other messages write it: dollars for an amount in USD (an argument
    named ``..._usd``: ``$4,611,686,018.42``), else plain digits with thousands separated
    (``100,000,000``, ``0.5``). A negative bound of an amount is a sentinel (-1, unknown), not
    an amount, and is written as a number."""
    if where.rsplit(".", 1)[-1].lower().endswith("usd") and limit >= 0:
        return format_usd(limit)
    return grouped_number(limit)


# pydantic's names for containers, in a bound's message ("List should have at most 3 items").
_PYTHON_WORDS = (("List should", "Array should"), ("Dictionary should", "Object should"),
                 ("Tuple should", "Array should"))


def _accepts(node: dict[str, Any], defs: dict[str, Any]) -> str | None:
    """What a schema accepts, as a message says it ("an array of strings", "one of 'a', 'b' or
    null", "a ContextItem object"), or None when the schema does not say."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return f"{_article(name)} {name} object" if name in defs else None
    members = node.get("anyOf") or node.get("oneOf")
    if members:
        alternatives = [_accepts(member, defs) for member in members]
        if None in alternatives:
            return None
        return " or ".join(alternative for alternative in alternatives if alternative)
    if "enum" in node:
        values = [json.dumps(value, ensure_ascii=False) for value in node["enum"]]
        values = [f"'{value[1:-1]}'" if value.startswith('"') else value for value in values]
        return values[0] if len(values) == 1 else "one of " + ", ".join(values)
    if "const" in node:
        return excerpt(node["const"])
    kind = node.get("type")
    if isinstance(kind, list):
        words = [_TYPE_WORDS.get(str(each)) for each in kind]
        return None if None in words else " or ".join(str(word) for word in words)
    if kind == "array":
        items = node.get("items")
        plural = _plural(items, defs) if isinstance(items, dict) else None
        return f"an array of {plural}" if plural else "an array"
    return _TYPE_WORDS.get(str(kind))


_TYPE_WORDS = {"string": "a string", "integer": "an integer", "number": "a number",
               "boolean": "true or false", "null": "null", "object": "an object",
               "array": "an array"}
_PLURALS = {"string": "strings", "integer": "integers", "number": "numbers",
            "boolean": "booleans", "object": "objects", "array": "arrays"}


def _plural(items: dict[str, Any], defs: dict[str, Any]) -> str | None:
    if "$ref" in items:
        name = items["$ref"].rsplit("/", 1)[-1]
        return f"{name} objects" if name in defs else None
    return _PLURALS.get(str(items.get("type")))


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _oversized(value: Any, schema: dict[str, Any], defs: dict[str, Any], where: str) -> str | None:
    """The first string, list or object in ``value`` longer than its schema allows, or None.

    Only containers already within their bound are looked into, so the work is bounded by the
    schema, whatever the size of the argument.
    """
    if "$ref" in schema:
        schema = defs.get(schema["$ref"].rsplit("/", 1)[-1], {})
    if isinstance(value, str):
        limit = schema.get("maxLength")
        if limit is not None and len(value) > limit:
            return f"argument '{where}': at most {limit:,} characters, got {len(value):,}"
    elif isinstance(value, list):
        limit = schema.get("maxItems")
        if limit is not None and len(value) > limit:
            return f"argument '{where}': at most {limit:,} items, got {len(value):,}"
        if limit is not None and isinstance(schema.get("items"), dict):
            for index, item in enumerate(value):
                problem = _oversized(item, schema["items"], defs, f"{where}.{index}")
                if problem is not None:
                    return problem
    elif isinstance(value, dict):
        limit = schema.get("maxProperties")
        if limit is not None and len(value) > limit:
            return f"argument '{where}': at most {limit:,} fields, got {len(value):,}"
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        bounded = limit is not None or not isinstance(extra, dict)
        for key, item in value.items() if bounded else ():
            inner = properties.get(key, extra if isinstance(extra, dict) else {})
            problem = _oversized(item, inner, defs, f"{where}.{_shown_key(key)}")
            if problem is not None:
                return problem
    return None


def _malformed(value: Any, where: str) -> str | None:
    """A NaN or infinite number anywhere in ``value``, or nesting deeper than
    `MAX_ARGUMENT_DEPTH`. JSON has no NaN or infinity, but some clients send them; no shoal
    argument means them."""
    # Each entry holds the path to its item as a tuple, joined only for the error: an object's
    # keys are the caller's text, of any length.
    stack: list[tuple[Any, tuple[Any, ...]]] = [(value, (where,))]
    while stack:
        item, path = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            shown = ".".join(_shown_key(part) for part in path)
            # JSON's reader gives Infinity for digits past a float's range (1e400) as well as
            # for the word, and which the client sent is no longer known.
            sent = "" if math.isnan(item) else ", or a number too large to read"
            return f"argument '{shown}': must be a finite number (got {excerpt(item)}{sent})"
        if not isinstance(item, (list, dict)):
            continue
        if len(path) > MAX_ARGUMENT_DEPTH:
            return f"argument '{where}': nested more than {MAX_ARGUMENT_DEPTH} levels deep"
        pairs = enumerate(item) if isinstance(item, list) else item.items()
        stack.extend((inner, (*path, key)) for key, inner in pairs)
    return None


def server_file_problem(what: str, message: str) -> str:
    """A domain error about the server's own ``what`` (``"ledger"``, ``"price catalog"``), as
    a tool error says it: the model that called the tool can change no argument to get past
    it, and should tell its user rather than retry with other values. Unless the error says
    to try again (a ledger busy with another writer), only the server's operator can fix it:
    the file is the one `shoal serve` was started with."""
    passing = re.search(r"\b(?:try|record) again\b", message) is not None
    who = "" if passing else ", and only the server's operator can fix it"
    return f"{SERVER_FILE_LEAD}{what} is at fault, not this call's arguments{who}: {message}"


def name_the_argument(message: str, arguments: dict[str, Any]) -> str:
    """A domain error's message, led by the argument it is about when it does not say so.

    Domain functions word their errors for a Python caller ("unknown process node 'x'"); over
    MCP two arguments may take the same kind of value (from_node and to_node, models and
    baseline), so the argument whose value the message quotes is named first. The message is
    returned as it is when it already starts with an argument's name, when no single
    argument's value appears in it, or when it is a refusal ("refused: ..."): the answer to a
    call whose arguments are all valid but which the state of things forbids, such as a record
    past a scope's hard spending limit, is no argument's fault even when it quotes one; nor is
    a problem with the server's own files (see `server_file_problem`).
    """
    if _REFUSAL.match(message) or message.startswith(SERVER_FILE_LEAD):
        return message
    # A tool may lead with its argument itself ("argument 'baseline': ..."), where only it knows,
    # even one the caller left to its default: named twice, the message would blame both.
    if re.match(r"\W*argument '", message) or any(
        re.match(rf"\W*{re.escape(key)}\b", message) for key in arguments
    ):
        return message
    quoted = [key for key, value in arguments.items() if _quotes(message, value)]
    if len(quoted) != 1:
        return message
    return f"argument '{quoted[0]}': {message}"


def _quotes(message: str, value: Any) -> bool:
    if isinstance(value, list):
        return any(_quotes(message, item) for item in value[:1000])
    if not isinstance(value, str) or not value:
        return False
    # Case-blind: id lookups are, and some messages show the id normalised.
    message = message.casefold()
    # A long value is quoted by an excerpt of it (shoal.excerpts), a path by a longer one.
    shown = (excerpt(value), quoted_path(value))
    if any(form.casefold() in message for form in shown):
        return True
    value = value.casefold()
    # A short value (a path of "..", "~") is taken as quoted only where it leads the message,
    # as a path error names its path ("~ resolves to ..."): inside, it could be any word.
    return (repr(value) in message or (len(value) >= 4 and value in message)
            or message.startswith(value + " "))


class ToolCallGuard:
    """Server middleware: unknown tools and prompts are protocol errors, tool answers stay small,
    and no error quotes a secret (see `shoal.privacy.secrets_hidden`).

    Args:
        server: The server whose tools are known.
        max_result_tokens: Largest answer, in o200k_base tokens, a tool may return. A larger answer
            is replaced by a tool error that tells the model to ask for less.
        how_to_ask_for_less: Tool name -> what to change (as for `state_answer_cap`), quoted in
            that tool's refusal; other tools get general advice.
        left_out: Tool name -> why this server leaves it out (as `select_tools` returns), said
            when such a tool is called.
    """

    def __init__(
        self, server: MCPServer[Any], max_result_tokens: int = MAX_RESULT_TOKENS,
        how_to_ask_for_less: Mapping[str, str] | None = None,
        left_out: Mapping[str, str] | None = None,
    ) -> None:
        self._server = server
        self._max_result_tokens = max_result_tokens
        self._how_to_ask_for_less = dict(how_to_ask_for_less or {})
        self._left_out = dict(left_out or {})

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        """The answer to one request, its error text with secrets and personal data replaced by
        ``[kind]`` wherever it came from: an error quotes what the caller sent (a model id, an
        argument's name, a tool's), and is shown to the model and may be logged by the host."""
        try:
            result = await self._guarded(ctx, call_next)
        except MCPError as error:
            raise _error_with_secrets_hidden(error) from None
        return _tool_error_with_secrets_hidden(result)

    async def _guarded(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        if ctx.method == "prompts/get" and isinstance(ctx.params, dict):
            # The SDK answers an unknown prompt with an internal error on 2026-07-28.
            prompt = ctx.params.get("name")
            if (
                not isinstance(prompt, str)
                or self._server._prompt_manager.get_prompt(prompt) is None
            ):
                raise MCPError(code=INVALID_PARAMS, message=f"Unknown prompt: {excerpt(prompt)}")
        if ctx.method == "resources/read" and isinstance(ctx.params, dict):
            _check_resource_uri(ctx.params.get("uri"))
        if ctx.method != "tools/call" or not isinstance(ctx.params, dict):
            return await _without_long_method_names(call_next, ctx)

        # Both protocol revisions list an unknown tool among the protocol errors (-32602); the
        # SDK alone would answer with a tool error.
        name = ctx.params.get("name")
        if not isinstance(name, str) or self._server._tool_manager.get_tool(name) is None:
            known = ", ".join(tool.name for tool in registered_tools(self._server))
            why = self._left_out.get(name) if isinstance(name, str) else None
            if why is not None:
                # Not a misspelling: say so, or the model goes looking for the right name.
                raise MCPError(
                    code=INVALID_PARAMS,
                    message=f"Tool {name} is not served here: this server leaves it out "
                    f"because {why}. Tools: {known}",
                )
            raise MCPError(
                code=INVALID_PARAMS, message=f"Unknown tool: {excerpt(name)}. Tools: {known}"
            )

        tool = self._server._tool_manager.get_tool(name)
        assert tool is not None  # an unknown name was refused above
        arguments = ctx.params.get("arguments")
        if isinstance(arguments, dict):
            ctx.params["arguments"] = whole_numbers_as_integers(arguments, tool.parameters)
        problem = argument_problem(tool, ctx.params)
        if problem is not None:
            return self._tool_error(ctx, f"{name}: {problem}")

        result = await call_next(ctx)
        if not isinstance(result, dict):
            return result
        if result.get("isError"):
            return _named_error(result, name, ctx.params.get("arguments") or {})
        tokens = answer_tokens(result)
        if tokens <= self._max_result_tokens:
            return result

        logger.warning(
            "%s answered %d tokens, over the cap of %d", name, tokens, self._max_result_tokens
        )
        capped = {key: value for key, value in result.items() if key != "structuredContent"}
        capped["isError"] = True
        capped["content"] = [
            {
                "type": "text",
                "text": f"The answer of {name} came to {tokens:,} tokens, over shoal's cap of "
                f"{self._max_result_tokens:,} tokens for one result. Ask for less: "
                f"{self._advice(name)} For long outputs use shoal's command line or Python "
                "API, which have no cap.",
            }
        ]
        return capped

    def _advice(self, name: str) -> str:
        advice = self._how_to_ask_for_less.get(name)
        if advice is None:
            return "a smaller limit or max_* argument, or a narrower request."
        return fill_advice(advice, self._max_result_tokens)

    def _tool_error(self, ctx: ServerRequestContext[Any, Any], message: str) -> dict[str, Any]:
        """A tool error answered here, before the SDK's handler: this middleware then owns the
        envelope, which the 2026-07-28 revision requires to carry resultType and serverInfo."""
        result: dict[str, Any] = {"content": [{"type": "text", "text": message}], "isError": True}
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            result["resultType"] = "complete"
            result["_meta"] = {
                "io.modelcontextprotocol/serverInfo": {
                    "name": self._server.name,
                    "version": self._server.version or "",
                }
            }
        return result


def _error_with_secrets_hidden(error: MCPError) -> MCPError:
    """``error`` with secrets replaced by ``[kind]`` in its message and in its data's text (a
    string, or the strings of an object: the SDK's errors about a resource repeat its URI
    there)."""
    message = secrets_hidden(error.error.message)
    data = error.error.data
    if isinstance(data, str):
        data = secrets_hidden(data)
    elif isinstance(data, dict):
        data = {key: secrets_hidden(value) if isinstance(value, str) else value
                for key, value in data.items()}
    if message == error.error.message and data == error.error.data:
        return error
    return MCPError(code=error.error.code, message=message, data=data)


def _tool_error_with_secrets_hidden(result: HandlerResult) -> HandlerResult:
    """A tool error's text with secrets replaced by ``[kind]``; any other answer as it is."""
    if not isinstance(result, dict) or not result.get("isError"):
        return result
    content = [
        {**block, "text": secrets_hidden(block["text"])}
        if isinstance(block, dict) and isinstance(block.get("text"), str) else block
        for block in result.get("content") or []
    ]
    return {**result, "content": content}


async def _without_long_method_names(
    call_next: CallNext, ctx: ServerRequestContext[Any, Any]
) -> HandlerResult:
    """The SDK's answer to a request, whose "Method not found" error repeats the method in
    full, however long, cut to an excerpt."""
    try:
        return await call_next(ctx)
    except MCPError as error:
        if error.error.code != METHOD_NOT_FOUND or len(ctx.method) <= EXCERPT_CHARACTERS:
            raise
        raise MCPError(
            code=METHOD_NOT_FOUND, message=error.error.message, data=excerpt(ctx.method)
        ) from None


def _check_resource_uri(uri: object) -> None:
    """Refuse a resource URI longer than any of the server's can be, with an excerpt of it.

    The SDK's error for an unknown resource repeats the URI twice (in the message and the
    data), and the catalog's for an unknown model a third time: a 4 MB URI made an 8 MB error.
    A shorter URI is left to the SDK, whose errors are then short too.
    """
    if isinstance(uri, str) and len(uri) > MAX_RESOURCE_URI_CHARACTERS:
        raise MCPError(
            code=INVALID_PARAMS,
            message=f"Unknown resource: {excerpt(uri)} ({len(uri):,} characters; no resource "
            f"URI here is longer than {MAX_RESOURCE_URI_CHARACTERS:,})",
        )


def _named_error(result: dict[str, Any], tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A tool error that starts ``tool: `` and names the argument it is about (see
    `name_the_argument`), as the errors of the argument check do.

    The SDK starts a failed call's text with "Error executing tool X: ", which reads like a crash
    though the model only has to change an argument.
    """
    content = result.get("content") or []
    if not content or not isinstance(content[0], dict):
        return result
    text = str(content[0].get("text", ""))
    prefix = f"Error executing tool {tool}: "
    if text.startswith(prefix):
        text = text[len(prefix) :]
    if isinstance(arguments, dict):
        text = name_the_argument(text, arguments)
    return {**result, "content": [{**content[0], "text": f"{tool}: {text}"}, *content[1:]]}
