"""Rules every tool of the MCP server obeys, whoever wrote it.

They apply to the registered tools as a set, so a tool added later is covered without a line of its
own: tools/call answers are capped in size (measured with shoal's own token counter), a call to a
tool the server does not have is a protocol error, and the tool set can be narrowed to some groups
or to read-only tools for hosts that should not write.
"""

from __future__ import annotations

import difflib
import inspect
import json
import logging
import math
import re
import reprlib
from collections.abc import Collection, Mapping
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

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

# Deepest nesting an argument may have: the free-form ones (tool definitions, chat messages) are
# JSON a few levels deep; thousands of levels would only exhaust the stack of whoever reads them.
# The same bound the token counter sets on what it counts as JSON.
MAX_ARGUMENT_DEPTH = MAX_JSON_DEPTH

# Arguments are echoed in errors through this: a 100 MB string or a million-item list is shown
# in a few dozen characters, and shown fast.
_SHOWN = reprlib.Repr()
_SHOWN.maxstring = 40
_SHOWN.maxother = 40
_SHOWN.maxlist = _SHOWN.maxdict = _SHOWN.maxtuple = 3
_SHOWN.maxlevel = 2


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
    still a number), and each problem names its argument. Sizes are checked against the input
    schema before anything else, so an oversized argument (a 100 MB string, a million items) is
    refused without being read through; NaN, infinities and absurd nesting are refused anywhere
    in an argument.
    """
    arguments = params.get("arguments") or {}
    if not isinstance(arguments, dict):
        return "arguments must be a JSON object"

    model = tool.fn_metadata.arg_model
    accepted = [field.alias or name for name, field in model.model_fields.items()]
    unknown = [key for key in arguments if key not in accepted]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, accepted, n=1)
            hints.append(f"'{key}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        return f"unknown argument {', '.join(hints)}; this tool takes {', '.join(sorted(accepted))}"

    schema = tool.parameters
    for key, value in arguments.items():
        prop = schema.get("properties", {}).get(key, {})
        problem = _oversized(value, prop, schema.get("$defs", {}), key) or _malformed(value, key)
        if problem is not None:
            return problem

    try:
        model.model_validate(arguments, strict=True)
    except ValidationError as error:
        return "; ".join(_describe(problem) for problem in error.errors()[:5])
    return None


def _describe(problem: Any) -> str:
    where = ".".join(str(part) for part in problem["loc"]) or "arguments"
    shown = _SHOWN.repr(problem.get("input"))
    if problem.get("type") == "string_unicode":
        return (
            f"argument '{where}': must be valid Unicode text, but it holds an unpaired surrogate "
            f"(got {shown})"
        )
    return f"argument '{where}': {problem['msg'].lower()} (got {shown})"


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
            problem = _oversized(item, inner, defs, f"{where}.{key}")
            if problem is not None:
                return problem
    return None


def _malformed(value: Any, where: str) -> str | None:
    """A NaN or infinite number anywhere in ``value``, or nesting deeper than
    `MAX_ARGUMENT_DEPTH`. JSON has no NaN or infinity, but some clients send them; no shoal
    argument means them."""
    stack: list[tuple[Any, str, int]] = [(value, where, 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return f"argument '{path}': must be a finite number (got {item!r})"
        if not isinstance(item, (list, dict)):
            continue
        if depth > MAX_ARGUMENT_DEPTH:
            return f"argument '{where}': nested more than {MAX_ARGUMENT_DEPTH} levels deep"
        pairs = enumerate(item) if isinstance(item, list) else item.items()
        stack.extend((inner, f"{path}.{key}", depth + 1) for key, inner in pairs)
    return None


def name_the_argument(message: str, arguments: dict[str, Any]) -> str:
    """A domain error's message, led by the argument it is about when it does not say so.

    Domain functions word their errors for a Python caller ("unknown process node 'x'"); over
    MCP two arguments may take the same kind of value (from_node and to_node, models and
    baseline), so the argument whose value the message quotes is named first. The message is
    returned as it is when it already starts with an argument's name, when no single
    argument's value appears in it, or when it is a refusal ("refused: ..."): the answer to a
    call whose arguments are all valid but which the state of things forbids, such as a record
    past a scope's hard spending limit, is no argument's fault even when it quotes one.
    """
    if _REFUSAL.match(message):
        return message
    # A tool may lead with its argument itself ("argument 'baseline': ..."), where only it knows.
    if any(re.match(rf"\W*(?:argument ')?{re.escape(key)}\b", message) for key in arguments):
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
    message, value = message.casefold(), value.casefold()
    return repr(value) in message or (len(value) >= 4 and value in message)


class ToolCallGuard:
    """Server middleware: unknown tools and prompts are protocol errors, tool answers stay small.

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
        if ctx.method == "prompts/get" and isinstance(ctx.params, dict):
            # The SDK answers an unknown prompt with an internal error on 2026-07-28.
            prompt = ctx.params.get("name")
            if (
                not isinstance(prompt, str)
                or self._server._prompt_manager.get_prompt(prompt) is None
            ):
                raise MCPError(code=INVALID_PARAMS, message=f"Unknown prompt: {prompt}")
        if ctx.method != "tools/call" or not isinstance(ctx.params, dict):
            return await call_next(ctx)

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
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown tool: {name}. Tools: {known}")

        problem = argument_problem(self._server._tool_manager.get_tool(name), ctx.params)
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
