"""The MCP server: declares shoal's tools and nothing else.

Each tool validates its typed arguments (the SDK does that from the signature), calls one domain
function, and returns that function's result twice: as structured content checked against the
result's output schema, and as a short readable summary for hosts that show text. Domain errors
(``ValueError``) become tool errors whose message tells the model what to change; anything else is
a crash whose details stay in the server's log on stderr.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import logging
import os
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import anyio.from_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter
from pydantic.json_schema import SkipJsonSchema

from shoal import __version__, render, spend_render
from shoal.budget import (
    CHAT_ROLES,
    DEFAULT_MIN_TRUNCATED_TOKENS,
    MAX_MESSAGES,
    BudgetItem,
    FitPlan,
    TrimmedChat,
    fit_budget,
    trim_chat,
)
from shoal.catalog import Catalog, CatalogError, configured_catalog, retired, today
from shoal.cost import CostComparison, CostEstimate, compare_costs, estimate_cost
from shoal.excerpts import grouped_number, index_ranges, plain_number, shown_path
from shoal.feedback import (
    MAX_PROMPT_CHARACTERS,
    FeedbackError,
    RecordedOutcome,
    default_db_path,
    outcome_model,
    record_outcome,
)
from shoal.files import COUNT_REMEDY, FilesCount, FilesSummary, checked_roots, count_files
from shoal.hardware import (
    AS_BUILT,
    MAX_BATCH,
    MAX_CONTEXT_TOKENS,
    MAX_SRAM_MB,
    HardwareFit,
    ParameterError,
    ParetoFront,
    PortedChip,
    PortMode,
    UnknownNameError,
    hardware_fit,
    list_architectures,
    list_devices,
    list_nodes,
    pareto_front,
    port_chip,
)
from shoal.hardware_cli import front_table
from shoal.json_output import refuse_non_finite, rounded_figures, without_surrogates
from shoal.ledger import (
    MAX_LIMIT_USD,
    MAX_WINDOW_HOURS,
    MIN_WINDOW_HOURS,
    BudgetLimit,
    BudgetStatus,
    LedgerError,
    UsageRecord,
    budget_status,
    default_location,
    describe_location,
    is_postgres_url,
    record_usage,
    set_limit,
    write_refusal,
)
from shoal.privacy import PrivacyFinding, listed_findings, scan_text
from shoal.privacy import redact as redact_findings
from shoal.report import SHORT_LIST, SavingsReport, savings_tally
from shoal.router import (
    DEFAULT_WILLINGNESS_TO_PAY,
    MAX_ALTERNATIVES,
    MAX_CALL_COST_USD,
    MAX_OUTPUT_TOKENS,
    MAX_WILLINGNESS_TO_PAY,
    MIN_WILLINGNESS_TO_PAY,
    ROUTER_ENVIRONMENT_VARIABLE,
    RoutingDecision,
    RoutingError,
    load_router,
    route,
)
from shoal.router_model import Router, RouterFileError
from shoal.router_policy import (
    DEFAULT_STICKINESS_MARGIN,
    MAX_HISTORY_CHARACTERS,
    MAX_HISTORY_TURNS,
    PrivacyReport,
)
from shoal.server_policy import (
    MAX_RESULT_TOKENS,
    TOOL_GROUPS,
    ToolCallGuard,
    answer_tokens,
    fill_advice,
    registered_tools,
    returned_text_limit,
    select_tools,
    server_file_problem,
    state_answer_cap,
    tidy_descriptions,
    too_long_for_an_answer,
    tool_group,
)
from shoal.token_budget import ChunkList, Truncation, chunk_numbers, split_chunks, truncate
from shoal.tokens import (
    MAX_TEXT_CHARACTERS,
    ChatTokenCount,
    TokenCount,
    check_chat_characters,
    count_chat,
    count_tokens,
)

logger = logging.getLogger(__name__)

INSTRUCTIONS = """\
shoal helps an agent spend tokens well. Pick the tool by the question:
{groups}
Resources: shoal://catalog (models, prices, quality), shoal://models/{{id}} (one model),
shoal://devices, shoal://architectures and shoal://nodes (devices, open-weight model shapes and
process nodes for the hardware tools).
Answers are deterministic and each stays under {cap:,} tokens; tools that can return long lists
take a limit and say what they left out. A tool error says what to change in the arguments,
or that the server's own files are at fault: no argument helps then; tell the user.
"""

# What each tool group answers, for the instructions a host shows its model.
GROUP_QUESTIONS = {
    "tokens": "How many tokens is this text, chat or set of files; how to cut it to fit?",
    "routing": "Which model should do this task; does a text hold secrets or personal data; how "
    "did a routed call turn out?",
    "cost": "What will a call cost?",
    "budget": "What fits a token budget; what has a session spent and what is left?",
    "hardware": "Can this model run on that machine, how fast; what would a new process node do?",
}

READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)

MAX_TOKENS = 100_000_000
# How the token counts of estimate_cost, compare_costs and record_usage add up: a usage report
# passed as it is would bill reasoning or cached tokens twice.
_OUTPUT = ("Visible output tokens{}; reasoning_tokens are charged on top, so from an OpenAI usage "
           "report pass completion_tokens minus reasoning_tokens.")
_REASONING = ("Hidden reasoning tokens{}, billed at the output rate on top of output_tokens "
              "(OpenAI's completion_tokens already include them).")
_CACHE_PART = ("Part of input_tokens {} the prompt cache: counted in input_tokens too, priced at "
               "the {} rate instead of the input rate.")
OUTPUT_PER_CALL, OUTPUT_OF_THE_CALL = _OUTPUT.format(" per call"), _OUTPUT.format("")
REASONING_PER_CALL, REASONING_OF_THE_CALL = _REASONING.format(" per call"), _REASONING.format("")
CACHE_READ = _CACHE_PART.format("read from", "cache")
CACHE_WRITE = _CACHE_PART.format("written to", "cache-write")
SHOWN_NEIGHBOURS = 5
# Runners-up route_task's text always details, even when that leaves fewer in its structured
# content: a host may show the model the text alone.
RUNNERS_UP_ALWAYS_SHOWN = 3
# The one negative each cost argument takes; other negatives are refused, not read as it.
NO_COST_LIMIT = -1.0
UNKNOWN_COST = -1.0
# route_task's min_quality when none is given: 0 is a floor every model reaches, which makes
# the cheapest eligible model the choice, as it does in Python and the CLI.
NO_QUALITY_FLOOR = -1.0
PORTED_MODELS_SHOWN = 8
SHOWN_FINDINGS = 20
SHOWN_NOTES = 20

MODEL_FOR_COUNT = (
    "Optional catalog model id (e.g. 'gpt-4.1', 'claude-sonnet-4-6'): count with its tokenizer, or "
    "estimate when the vendor's tokenizer is not public. Empty: use `encoding`."
)

Result = TypeVar("Result")

# The tools that read files, confined to the server's roots, and the --tools groups that hold
# them: a server of other groups reads no file and needs no root.
FILE_TOOLS = ("count_files", "fit_budget")
FILE_TOOL_GROUPS = ("tokens", "budget")

# The tools that read or write the spend ledger, and the one that writes the feedback database.
LEDGER_TOOLS = ("record_usage", "set_budget_limit", "budget_status", "savings_report")
LEDGER_WRITING_TOOLS = ("record_usage", "set_budget_limit")
FEEDBACK_TOOLS = ("record_outcome",)

# What makes a fit_budget answer long, and what to change; a refusal names the parts that apply.
FIT_CUT_ADVICE = (
    "with truncate_last the cut item's text comes back as text and as structured content, so "
    "keep budget_tokens under about {text_limit:,} or leave truncate_last off"
)
FIT_ITEMS_ADVICE = (
    "give fewer items per call (each item's line takes about 100 tokens, so about "
    "{item_limit:,} items), or set include_items to false to get the ids by status without a "
    "line per item"
)
FIT_IDS_ADVICE = (
    "give fewer items per call (each id comes back as text and as structured content) or "
    "shorter ids"
)
FIT_ELSEWHERE = "For larger prompts use the command line (shoal budget fit) or the Python API."

# Tools whose answer grows with their arguments, and how to keep it under the cap; each one's
# description ends with this ({cap} and {text_limit} filled in, see state_answer_cap).
LONG_ANSWERS = {
    "truncate_text": "the kept text comes back as text and as structured content, so max_tokens "
    "may be at most {text_limit:,}. Cut longer texts with the command line (shoal truncate) or "
    "the Python API.",
    "split_text": "with include_text the shown chunks' text comes back as text and as structured "
    "content, so max_tokens may be at most {text_limit:,} and the shown chunks together no "
    "more: lower max_chunks, or split long texts with the command line (shoal split --out-dir) "
    "or the Python API. Chunk ranges past what one answer holds are left out and counted in "
    "chunks_omitted.",
    "compare_costs": "price fewer models per call: each takes about 200 tokens of the answer "
    "(more with notes), so about 25 fit.",
    "fit_budget": f"{FIT_CUT_ADVICE}; {FIT_ITEMS_ADVICE}. {FIT_ELSEWHERE}",
    "trim_chat": "the kept messages come back whole, as text and as structured content (where "
    "JSON quoting takes more tokens than the prompt does), so keep budget_tokens under about "
    "{chat_limit:,}, or set include_messages to false to get the kept and dropped index runs "
    "without the messages; trim long chats with the command line (shoal budget trim) or the "
    "Python API.",
    "savings_report": "scopes and models past what fits are summed, but the spend series comes "
    "whole: give a shorter since/until window.",
    "scan_private_data": "with redact the redacted text comes back as text and as structured "
    "content, so give at most {text_limit:,} tokens of text per call; redact longer texts with "
    "the command line (shoal privacy --redact) or the Python API (shoal.privacy.redact).",
}


@asynccontextmanager
async def _warm_up(
    server: MCPServer[None], router_file: str | Path | None = None
) -> AsyncIterator[None]:
    """Load the catalog (with the user's price file), the router and both encodings once,
    before the first call needs them; a price file or router file that cannot be read stops
    the start."""
    configured_catalog()
    router = load_router(router_file)
    if router_file is not None:
        logger.info("route_task chooses with router %s from %s", router.version, router_file)
    count_tokens("warm up", encoding="o200k_base")
    count_tokens("warm up", encoding="cl100k_base")
    logger.info("shoal %s ready", __version__)
    yield None


def _answer(result: Any, summary: str, *, every_float: bool = False) -> CallToolResult:
    """Package a domain result as structured content plus a readable summary; ``every_float``
    rounds every figure of an estimate, not only its money and GB (see `rounded_figures`)."""
    payload = TypeAdapter(type(result)).dump_python(result, mode="json")
    structured = without_surrogates(rounded_figures(payload, every_float=every_float))
    # The SDK would send an infinite figure as null, which the output schema refuses.
    _call(refuse_non_finite, structured)
    return CallToolResult(
        content=[TextContent(type="text", text=without_surrogates(summary))],
        structured_content=structured,
    )


def _call(function: Callable[..., Result], *args: Any, **kwargs: Any) -> Result:
    """Run a domain function, turning the user's mistakes into errors the model can act on.

    Domain functions raise ValueError for a bad value and TypeError for a wrong type inside a
    free-form argument (a tool definition, a chat message); both name what to change. Reading
    the server's own files goes through here too: a price file edited into a bad state while
    the server runs, or a ledger path that became a folder, is a ValueError that names the
    file, not a crash, and is said to be the server's (see `_served_file`), not an argument's.
    """
    try:
        return function(*args, **kwargs)
    except (ValueError, TypeError) as error:
        served = _served_file(error)
        if served is not None:
            message = server_file_problem(served, str(error))
            # The operator, who alone can fix it, reads the log rather than the tool answers.
            logger.warning("%s", message)
            raise ToolError(message) from error
        raise ToolError(_pointed_at_resources(_led_by_its_argument(error))) from error


def _served_file(error: Exception) -> str | None:
    """Which of the server's own files ``error`` is about, or None when it is about the call.

    No tool takes a catalog or a router file, so every error of theirs is about the server's
    (its price file, SHOAL_TODAY, its router file). A ledger or feedback database error is
    when it names the server's ledger or database: the others (a hard limit's refusal, a
    request_id recorded before with other counts, a scope's spend past what the ledger holds)
    are about the call, though they are the same classes.
    """
    if isinstance(error, CatalogError):
        return "price catalog"
    if isinstance(error, RouterFileError):
        return "router file"
    if isinstance(error, LedgerError) and _names_any(str(error), _ledger_names()):
        return "ledger"
    if isinstance(error, FeedbackError) and _names_any(str(error), _file_names(default_db_path())):
        return "feedback database"
    return None


def _ledger_names() -> tuple[str, ...]:
    """The ways an error names the server's ledger: its URL without the password, or its file
    as the ledger shows a path."""
    location = default_location()
    if is_postgres_url(location):
        return (describe_location(location),)
    return _file_names(Path(location).expanduser())


def _file_names(file: Path) -> tuple[str, ...]:
    """The ways an error names ``file``, or its folder when that cannot be made (the root or
    the current folder, which name every file, aside)."""
    folder = file.parent
    folders = (str(folder),) if folder.is_absolute() and folder != folder.parent else ()
    return (str(file), shown_path(str(file)), *folders)


def _names_any(message: str, names: Sequence[str]) -> bool:
    return any(name in message for name in names)


# The hardware functions' arguments that the tools name otherwise.
_TOOL_ARGUMENT = {"device_or_chip": "device"}

# A routing error leads with the argument of `route` it is about, as Python names it ("device:
# unknown device 'x'", "history[0]: ..."); route_task's arguments have the same names.
_ROUTE_ARGUMENT = re.compile(
    "(" + "|".join(inspect.signature(route).parameters) + r")((?:\[[0-9]+\])*): "
)


def _led_by_its_argument(error: Exception) -> str:
    """A domain error's message, led by the argument it is about when the error says which
    (a ParameterError's or an UnknownNameError's parameter, or the argument of `route` a
    routing error leads with), as every tool words it: "argument 'from_node': unknown process
    node ''". The message alone cannot tell two arguments of one kind apart, nor name an empty
    or blank value, which it quotes as nothing."""
    if isinstance(error, ParameterError):
        parameter, problem = error.parameter, error.problem
    elif isinstance(error, UnknownNameError) and error.parameter is not None:
        parameter, problem = error.parameter, str(error)
    elif isinstance(error, RoutingError) and (led := _ROUTE_ARGUMENT.match(str(error))):
        parameter, problem = led.group(1) + led.group(2), str(error)[led.end():]
    else:
        return str(error)
    # A list's item as the argument check names it: contexts.1, not Python's contexts[1].
    parameter = re.sub(r"\[([0-9]+)\]", r".\1", parameter)
    return f"argument '{_TOOL_ARGUMENT.get(parameter, parameter)}': {problem}"


# The command-line listings a domain error points to, and what a model can read instead: the
# command, whatever the advice around it ("lists them", "lists the models that can").
_LISTINGS_AS_RESOURCES = {
    "`shoal hw devices`": "the resource shoal://devices",
    "`shoal hw models`": "the resource shoal://architectures",
    "`shoal hw nodes`": "the resource shoal://nodes",
}


# The functions a domain error advises that cut a text or a chat, and the tool that does it.
_FUNCTIONS_AS_TOOLS = {
    "`shoal.split_chunks()`": "the tool split_text",
    "`shoal.truncate()`": "the tool truncate_text",
    "`shoal.trim_chat()`": "the tool trim_chat",
}


def _pointed_at_resources(message: str) -> str:
    """A domain error's advice to run a `shoal hw` listing, turned to the resource with the
    same table, and its advice to call a function that cuts a text, turned to the tool that
    does: a model talking to the server can run neither."""
    for listing, resource in _LISTINGS_AS_RESOURCES.items():
        message = message.replace(listing, resource)
    for function, tool in _FUNCTIONS_AS_TOOLS.items():
        message = message.replace(function, tool)
    return message


class ProgressReporter:
    """Progress notifications and cancellation for a long tool running in a worker thread.

    A sync tool (the SDK runs it in a worker thread) declares ``ctx: Context``, makes one reporter
    and passes it to its domain function as the progress callback::

        progress = ProgressReporter(ctx, total=len(paths))
        result = _call(count_files, paths, on_progress=progress)

    Each call first stops the work if the client cancelled the request (it raises the
    cancellation, so put cleanup in ``finally``), then sends ``notifications/progress`` when the
    client asked for progress: at most one every `interval_s` seconds, plus the last one.

    Args:
        ctx: The tool's request context.
        total: Units of work in all, when known.
        interval_s: Least time between two notifications.
    """

    def __init__(self, ctx: Context, total: float | None = None, interval_s: float = 0.1) -> None:
        self._ctx = ctx
        self._total = total
        self._interval_s = interval_s
        self._last_sent = float("-inf")

    def __call__(self, done: float, total: float | None = None, message: str | None = None) -> None:
        """Record that `done` units (of `total`, if given here) are finished."""
        anyio.from_thread.check_cancelled()

        total = self._total if total is None else total
        now = time.monotonic()
        finished = total is not None and done >= total
        if not finished and now - self._last_sent < self._interval_s:
            return
        self._last_sent = now
        anyio.from_thread.run(self._ctx.report_progress, done, total, message)


def build_server(
    *,
    read_only: bool = False,
    groups: Collection[str] | None = None,
    max_result_tokens: int = MAX_RESULT_TOKENS,
    roots: Sequence[str | os.PathLike[str]] | None = None,
    router: str | Path | None = None,
) -> MCPServer[None]:
    """Create the MCP server with shoal's tools and resources registered.

    Args:
        roots: Folders the file tools may read (relative paths start at the first), resolved
            now (a symbolic link to the folder it points to at start); None: the current
            directory.
        router: Router file (from `shoal fit`) route_task chooses with; None: the shipped one.
        read_only: Leave out every tool not annotated read-only (those that write a ledger).
        groups: Keep only the tools of these groups (keys of `TOOL_GROUPS`); None keeps all.
        max_result_tokens: Largest tool answer, in tokens; a larger one becomes a tool error.

    Raises:
        ValueError: A group name is unknown.
    """
    server: MCPServer[None] = MCPServer(
        "shoal",
        title="shoal",
        description="Model routing, token counts and costs, inference fit, process nodes.",
        version=__version__,
        lifespan=functools.partial(_warm_up, router_file=router),
    )
    # Resolved once, here: the folders served are those the log names, even if a root is a
    # symbolic link that is later pointed elsewhere.
    allowed: list[str | os.PathLike[str]] = (
        [os.getcwd()] if roots is None else [root.resolve() for root in checked_roots(roots)]
    )
    _add_token_tools(server, roots=allowed, max_result_tokens=max_result_tokens)
    _add_routing_tools(server, max_result_tokens=max_result_tokens, router_file=router)
    _add_router_tools(server, router_file=router)
    _add_cost_tools(server)
    _add_costs_tools(server)
    _add_budget_tools(server, roots=allowed, max_result_tokens=max_result_tokens)
    _add_hardware_tools(server, max_result_tokens=max_result_tokens)
    _finish(server, read_only=read_only, groups=groups, max_result_tokens=max_result_tokens)
    _log_file_access(server, allowed)
    _log_data_files(server)
    return server


def _log_file_access(server: MCPServer[None], roots: Sequence[str | os.PathLike[str]]) -> None:
    """Say in the log which folders the served file tools may read, so a user can check them."""
    served = [tool.name for tool in registered_tools(server) if tool.name in FILE_TOOLS]
    if not served:
        return
    folders = ", ".join(str(root) for root in roots)
    logger.info("file tools (%s) may read only inside: %s", ", ".join(served), folders)


def _log_data_files(server: MCPServer[None]) -> None:
    """Say in the log where the served tools keep spend and outcomes, and whether those files
    exist yet: a host starts the server without the shell's environment, so a SHOAL_LEDGER or
    SHOAL_FEEDBACK_DB set in a profile may not apply. Nothing is created or connected to here."""
    served = [tool.name for tool in registered_tools(server)]
    ledger_tools = [name for name in served if name in LEDGER_TOOLS]
    if ledger_tools:
        location = default_location()
        state = "PostgreSQL" if is_postgres_url(location) else _made_yet(Path(location))
        logger.info("spend ledger of %s: %s (%s)", ", ".join(ledger_tools),
                    describe_location(location), state)
        _warn_of_an_unwritable_ledger(location, ledger_tools)
    feedback_tools = [name for name in served if name in FEEDBACK_TOOLS]
    if feedback_tools:
        database = default_db_path()
        logger.info("feedback database of %s: %s (%s)", ", ".join(feedback_tools), database,
                    _made_yet(database))


def _check_item_characters(items: Sequence[ContextItem]) -> None:
    """Refuse fit_budget items whose texts hold more than MAX_TEXT_CHARACTERS together, before
    any is counted: each text is bounded alone, but ten thousand of them would take minutes and
    gigabytes, as a chat's messages would (see check_chat_characters)."""
    characters = 0
    for index, item in enumerate(items):
        characters += len(item.text or "")
        if characters > MAX_TEXT_CHARACTERS:
            raise ToolError(
                f"argument 'items': at most {MAX_TEXT_CHARACTERS:,} characters of text over all "
                f"items; the items up to items[{index}] hold {characters:,}. Drop or shorten "
                "items"
            )


def _warn_of_an_unwritable_ledger(location: str, served: Sequence[str]) -> None:
    """Warn at start when the ledger can be read but the served tools that write it will be
    refused: the read tools still serve, so the start goes on, but the operator hears of it
    now rather than from the first record_usage."""
    writers = [name for name in served if name in LEDGER_WRITING_TOOLS]
    cause = write_refusal(location) if writers else None
    if cause is not None:
        logger.warning("%s will be refused: the ledger %s cannot be written: %s; or give "
                       "another --ledger, or serve with --read-only to leave them out",
                       " and ".join(writers), describe_location(location), cause)


def _made_yet(file: Path) -> str:
    """Whether a SQLite file the tools write exists yet; their first write makes it. A folder
    this user may not look into is said, not raised: the server still serves every other tool,
    and the ledger tools name the problem when called."""
    try:
        made = file.expanduser().exists()
    except OSError as error:
        return f"cannot be checked: {error.strerror or error}"
    return "exists" if made else "not made yet; the first write makes it"


def _finish(
    server: MCPServer[None],
    *,
    read_only: bool,
    groups: Collection[str] | None,
    max_result_tokens: int,
) -> None:
    """Apply the rules every tool obeys, then add the resources and the instructions."""
    left_out = select_tools(server, read_only=read_only, groups=groups)
    tidy_descriptions(server)
    state_answer_cap(server, LONG_ANSWERS, max_result_tokens)
    server.middleware.append(ToolCallGuard(server, max_result_tokens, LONG_ANSWERS, left_out))
    _add_resources(server)
    server._lowlevel_server.instructions = server_instructions(server, max_result_tokens)


def server_instructions(server: MCPServer[Any], max_result_tokens: int) -> str:
    """Instructions that map each question to the tools that answer it, for the tools served."""
    by_group: dict[str, list[str]] = {}
    for tool in registered_tools(server):
        by_group.setdefault(tool_group(tool.fn), []).append(tool.name)
    lines = [
        f"- {GROUP_QUESTIONS.get(group, group)} {', '.join(by_group[group])}"
        for group in (*TOOL_GROUPS, *sorted(set(by_group) - set(TOOL_GROUPS)))
        if group in by_group
    ]
    return INSTRUCTIONS.format(groups="\n".join(lines), cap=max_result_tokens)


# The catalog resource lists every model with the fields that choose between them; the full entry
# (sources, long-context rates, aliases) is one read away at shoal://models/{id}.
CATALOG_SUMMARY_FIELDS = (
    "id",
    "provider",
    "name",
    "input_per_mtok",
    "output_per_mtok",
    "cached_input_per_mtok",
    "cache_write_per_mtok",
    "context_window",
    "max_input_tokens",
    "max_output_tokens",
    "long_context_threshold",
    "encoding",
    "open_weights",
    "params_b",
    "quality",
    "deprecation_date",
)


def _json(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _add_resources(server: MCPServer[None]) -> None:
    @server.resource(
        "shoal://catalog",
        name="catalog",
        title="Model catalog",
        description="Every catalog model with its prices (USD per million tokens), context "
        "window and input limit, the prompt length past which long-context rates apply, "
        "tokenizer, open-weight size, quality prior, retirement date and whether that day has "
        "come (retired, judged on retirements_judged_on); the catalog date and sources. "
        "Includes the rows of the server's price file (--prices, SHOAL_PRICES).",
        mime_type="application/json",
    )
    def catalog() -> str:
        loaded = configured_catalog()
        models = [
            {field: getattr(entry, field) for field in CATALOG_SUMMARY_FIELDS}
            | {"retired": retired(entry)}
            for entry in loaded.models
        ]
        return _json({"catalog_date": loaded.catalog_date, "sources": dict(loaded.sources),
                      "retirements_judged_on": today().isoformat(), "models": models})

    @server.resource(
        "shoal://models/{model_id}",
        name="model",
        title="One catalog model",
        description="The full catalog entry of one model, with the source of each figure.",
        mime_type="application/json",
    )
    def model(model_id: str) -> str:
        try:
            entry = configured_catalog().model(model_id)
        except ValueError as error:
            raise ResourceNotFoundError(str(error)) from error
        return _json(dataclasses.asdict(entry))

    @server.resource(
        "shoal://devices",
        name="devices",
        title="Device table",
        description="Phones, laptops, workstations and datacenter GPUs: memory, bandwidth, "
        "compute, power and process node, each figure with its source and date.",
        mime_type="application/json",
    )
    def devices() -> str:
        return _table_json([dataclasses.asdict(device) for device in list_devices()])

    @server.resource(
        "shoal://architectures",
        name="architectures",
        title="Open-weight model architectures",
        description="The open-weight models check_hardware_fit, sweep_hardware and port_chip "
        "know: parameters (total, active, always-read), layers, attention and KV heads, experts, "
        "sliding windows and context, each row with its source.",
        mime_type="application/json",
    )
    def architectures() -> str:
        return _table_json([dataclasses.asdict(entry) for entry in list_architectures()])

    @server.resource(
        "shoal://nodes",
        name="nodes",
        title="Process-node table",
        description="Process nodes from 7 nm to IBM's nanostack: density, performance and power "
        "relative to TSMC N7, each marked as a vendor claim or an independent estimate.",
        mime_type="application/json",
    )
    def nodes() -> str:
        return _table_json([dataclasses.asdict(node) for node in list_nodes()])


def _table_json(rows: list[dict[str, Any]]) -> str:
    """A hardware table as its resource serves it: every figure rounded as `shoal hw devices`,
    `models` and `nodes` print them with --json (a node's cumulative figures are products, 2.88
    for 2.8800000000000003)."""
    return _json(rounded_figures(rows, every_float=True))


# Empty means "not given", so that an encoding given beside a model can be refused.
ENCODING_NAMES = Literal["", "o200k_base", "cl100k_base", "tekken_240718"]
ENCODING_FOR_COUNT = (
    "Tokenizer when no model is named: o200k_base (empty, the default), cl100k_base or "
    "tekken_240718 (Mistral NeMo's). Give encoding or model, not both."
)
ALLOW_SPECIAL = (
    "Count special-token text such as '<|endoftext|>' as one special token. Default: plain text."
)
SHOWN_CHUNKS = 50
SHOWN_FILES = 50


def _tokenizer(encoding: str, model: str) -> dict[str, Any]:
    """The domain functions' `encoding` and `model` from the tool arguments (empty: not given).

    A model decides its own encoding, so naming both is refused rather than one silently ignored.
    """
    if encoding and model:
        raise ToolError(
            f"arguments 'encoding' and 'model': give one, not both (got '{encoding}' and "
            f"'{model}'); a model decides its own encoding"
        )
    return {"encoding": encoding or None, "model": model or None}


def _with_text(summary: str, texts: Sequence[tuple[str, str]]) -> str:
    """A summary followed by the texts a tool produced, each under its heading.

    Hosts that show the model only the text content must still show it what the tool made.
    """
    parts = [summary]
    for heading, text in texts:
        parts.append(f"{heading}\n{text}" if heading else text)
    return "\n\n".join(parts)


def _tokens_of(answer: CallToolResult) -> int:
    """Tokens of an answer as the cap measures them (see `answer_tokens`)."""
    return answer_tokens(answer.model_dump(by_alias=True, mode="json", exclude_none=True))


def _over_the_cap(tokens: int, cap: int, advice: str) -> str:
    """The refusal of an answer measured before it is sent, with advice that fits the request."""
    return (
        f"the answer came to {tokens:,} tokens, over shoal's cap of {cap:,} tokens for one "
        f"result. Ask for less: {advice}"
    )


def _most_that_fit(answer_for: Callable[[int], CallToolResult], most: int, cap: int) -> int:
    """The largest count from 0 to `most` whose answer stays within `cap` tokens (0 when none
    does), for an answer that grows with the count: a bisection, so a long list is measured a
    few times rather than once per entry."""
    if _tokens_of(answer_for(most)) <= cap:
        return most
    fitting, too_many = 0, most
    while too_many - fitting > 1:
        middle = (fitting + too_many) // 2
        if _tokens_of(answer_for(middle)) <= cap:
            fitting = middle
        else:
            too_many = middle
    return fitting


def _fit_plan_advice(plan: FitPlan, tokens: int, include_items: bool, cap: int) -> str:
    """What to change in a fit_budget request whose answer came to ``tokens``: the cut text when
    one came back, the items when the answer is too long without it."""
    cut_tokens = sum(item.included_tokens for item in plan.items if item.status == "truncated")
    parts = []
    if cut_tokens:
        parts.append(FIT_CUT_ADVICE)
    if not cut_tokens or tokens - 2 * cut_tokens > cap:
        parts.append(FIT_ITEMS_ADVICE if include_items else FIT_IDS_ADVICE)
    return fill_advice("; ".join(parts) + f". {FIT_ELSEWHERE}", cap)


def _add_token_tools(
    server: MCPServer[None], *, roots: list[str | os.PathLike[str]], max_result_tokens: int
) -> None:
    text_limit = returned_text_limit(max_result_tokens)

    @server.tool(name="count_tokens", title="Count tokens", annotations=READ_ONLY)
    def count_tokens_tool(
        text: Annotated[
            str, Field(description="The text to count.", max_length=MAX_TEXT_CHARACTERS)
        ],
        encoding: Annotated[ENCODING_NAMES, Field(description=ENCODING_FOR_COUNT)] = "",
        model: Annotated[str, Field(description=MODEL_FOR_COUNT, max_length=200)] = "",
        allow_special: Annotated[bool, Field(description=ALLOW_SPECIAL)] = False,
    ) -> Annotated[CallToolResult, TokenCount]:
        """Count the tokens in a text: exact for OpenAI encodings and Mistral's Tekken.

        Use it before sending a long prompt, file or tool result, to check that it fits a context
        window or budget. For models whose vendor tokenizer is not public (Claude, Gemini, ...)
        the count is a calibrated estimate and says so with `exact: false`.
        """
        result = _call(
            count_tokens, text, **_tokenizer(encoding, model), allow_special=allow_special
        )
        return _answer(result, render.token_count(result))

    @server.tool(name="count_chat_tokens", title="Count a chat prompt", annotations=READ_ONLY)
    def count_chat_tokens(
        messages: Annotated[
            list[Annotated[dict[str, Any], Field(max_length=20)]],
            Field(
                description="Chat messages, e.g. [{'role': 'user', 'content': 'Hi'}]; each needs a "
                f"role ({', '.join(CHAT_ROLES)}) and a content: "
                "text, or a list of text parts [{'type': 'text', 'text': 'Hi'}] (also "
                "input_text, output_text, refusal and thinking parts, counted by their text) "
                "that may hold Anthropic tool_use and tool_result blocks (counted as compact "
                "JSON); images, audio, documents and redacted thinking are refused. An "
                "assistant message with tool_calls may leave content out. At most "
                f"{MAX_TEXT_CHARACTERS:,} characters over all messages and tool definitions.",
                max_length=MAX_MESSAGES,
            ),
        ],
        model: Annotated[
            str, Field(description="Catalog model id, e.g. 'gpt-4o'.", min_length=1, max_length=200)
        ] = "gpt-4o",
        tools: Annotated[
            list[dict[str, Any]],
            Field(description="Tool definitions as sent to the API ({'type': 'function', "
                  "'function': {...}}, or Anthropic's and MCP's shape with input_schema or "
                  "inputSchema); empty: none.", max_length=1000),
        ] = [],  # noqa: B006 - pydantic copies defaults
    ) -> Annotated[CallToolResult, ChatTokenCount]:
        """Count the prompt tokens of a chat request, messages and tool definitions apart.

        Use it to see what a conversation plus its tool schemas costs in context before sending
        it. Applies OpenAI's published chat and tool overhead rules (checked against the API for
        gpt-3.5-turbo, gpt-4, gpt-4o, gpt-4o-mini); other models get a labelled estimate.
        """
        # Before any message is read: a chat of many large messages would hold the server
        # for the time and memory its count takes.
        _call(check_chat_characters, messages, tools)
        result = _call(count_chat, messages, model=model, tools=tools)
        return _answer(result, render.chat_token_count(result))

    @server.tool(name="truncate_text", title="Cut a text to a token budget", annotations=READ_ONLY)
    def truncate_text(
        text: Annotated[str, Field(description="The text to cut.", max_length=MAX_TEXT_CHARACTERS)],
        max_tokens: Annotated[int, Field(description="Most tokens to keep.", ge=0, le=MAX_TOKENS)],
        side: Annotated[
            Literal["head", "tail"],
            Field(description="Keep the beginning (head) or the end (tail)."),
        ] = "head",
        encoding: Annotated[ENCODING_NAMES, Field(description=ENCODING_FOR_COUNT)] = "",
        model: Annotated[str, Field(description=MODEL_FOR_COUNT, max_length=200)] = "",
        allow_special: Annotated[bool, Field(description=ALLOW_SPECIAL)] = False,
    ) -> Annotated[CallToolResult, Truncation]:
        """Keep the first or last part of a text that fits a token budget.

        Use it when a document or tool result is too long for the context left. Cuts at a token
        boundary and never inside a user-visible character (an accent stays with its letter, a
        flag or emoji sequence whole); the kept text is counted again on its own. Lengths count
        Unicode code points. For estimated models the budget applies to the estimate. The
        answer's text is the summary line, a blank line, then the kept text.
        """
        if max_tokens > text_limit:
            raise ToolError(
                f"argument 'max_tokens': {max_tokens:,} is more than one answer can carry: "
                f"{too_long_for_an_answer(max_result_tokens)}. Ask for at most "
                f"{text_limit:,}, or cut long texts with the command line (shoal truncate) or "
                "the Python API (shoal.token_budget.truncate)"
            )
        tokenizer = _tokenizer(encoding, model)
        result = _call(truncate, text, max_tokens, side=side, **tokenizer,
                       allow_special=allow_special)
        kept = [("", result.text)] if result.text else []
        return _answer(result, _with_text(render.truncation(result), kept))

    @server.tool(name="split_text", title="Split a text into token chunks", annotations=READ_ONLY)
    def split_text(
        text: Annotated[
            str, Field(description="The text to split.", max_length=MAX_TEXT_CHARACTERS)
        ],
        max_tokens: Annotated[
            int, Field(description="Most tokens per chunk.", ge=1, le=MAX_TOKENS)
        ],
        encoding: Annotated[ENCODING_NAMES, Field(description=ENCODING_FOR_COUNT)] = "",
        model: Annotated[str, Field(description=MODEL_FOR_COUNT, max_length=200)] = "",
        include_text: Annotated[
            bool, Field(description="Return each shown chunk's text, not only its character range.")
        ] = False,
        max_chunks: Annotated[
            int, Field(description="Most chunks to list; the count covers all.", ge=1, le=1000)
        ] = SHOWN_CHUNKS,
        allow_special: Annotated[bool, Field(description=ALLOW_SPECIAL)] = False,
    ) -> Annotated[CallToolResult, ShownChunks]:
        """Split a text into consecutive chunks of at most max_tokens tokens each.

        Use it to feed a long text to a model piece by piece. Returns each chunk's range
        [start, end) in Unicode code points (as Python indexes a string; a UTF-16 host such as
        JavaScript counts a character past U+FFFF as two) and its token count; joined, the
        chunks are the text. Chunk boundaries fall between tokens and never inside a
        user-visible character (accents, flags and emoji sequences stay whole). With
        include_text, the answer's text is the summary, then each shown chunk under its range.
        Chunks past max_chunks are left out and counted in chunks_omitted.
        """
        if include_text and max_tokens > text_limit:
            raise ToolError(
                f"argument 'max_tokens': chunks of {max_tokens:,} tokens with include_text are "
                f"more than one answer can carry: {too_long_for_an_answer(max_result_tokens)}. "
                f"Ask for at most {text_limit:,}, leave include_text off, or split long texts "
                "with the command line (shoal split --out-dir) or the Python API "
                "(shoal.token_budget.split_chunks)"
            )
        result = _call(split_chunks, text, max_tokens, **_tokenizer(encoding, model),
                       allow_special=allow_special)
        listed = result.summary(max_chunks=max_chunks, include_text=include_text)

        def answer(count: int) -> CallToolResult:
            shown = ShownChunks.first(listed, count)
            texts = zip(shown.chunks, shown.texts, strict=True) if include_text else ()
            chunks = [
                (f"chunk {number} [{chunk.start:,}:{chunk.end:,}], "
                 f"{render.plural(chunk.tokens, 'token')}:", text)
                for number, (chunk, text) in enumerate(texts, 1)
            ]
            # With include_text the text shows every listed chunk; without, only the first few.
            summary = render.chunk_list(shown if include_text else _with_text_note(shown))
            return _answer(shown, _with_text(summary, chunks))

        if include_text:
            # Texts that alone are past what one answer carries: refuse, naming the max_chunks
            # whose whole answer (ranges and texts) fits, so that asking for it is answered in
            # full. The texts' own tokens bound it from above, cheaply.
            most = _chunks_whose_text_fits(listed, text_limit)
            if most < len(listed.chunks):
                fitting = _most_that_fit(answer, most, max_result_tokens)
                raise _chunk_text_too_long(listed, fitting, max_result_tokens)

        # Each listed range takes about 20 tokens, so a thousand of them (the most max_chunks
        # allows) are past the cap: list as many as fit and count the rest.
        return answer(_most_that_fit(answer, len(listed.chunks), max_result_tokens))

    @server.tool(name="count_files", title="Count tokens in files", annotations=READ_ONLY)
    def count_files_tool(
        paths: Annotated[
            list[Annotated[str, Field(max_length=4096)]],
            Field(
                description="Files or folders inside the server's allowed roots; relative paths "
                "start at the first root, ~ is the server user's home folder.",
                min_length=1,
                max_length=1000,
            ),
        ],
        encoding: Annotated[ENCODING_NAMES, Field(description=ENCODING_FOR_COUNT)] = "",
        model: Annotated[str, Field(description=MODEL_FOR_COUNT, max_length=200)] = "",
        respect_gitignore: Annotated[
            bool, Field(description="Skip what .gitignore files exclude.")
        ] = True,
        max_files: Annotated[
            int,
            Field(
                description="Most files to list (largest first); the total covers all. "
                "Files past what one answer holds are left out, and a note says so.",
                ge=1,
                le=1000,
            ),
        ] = SHOWN_FILES,
        ctx: Context | None = None,
    ) -> Annotated[CallToolResult, FilesSummary]:
        """Count the tokens of files and folders: per file and in total.

        Use it before reading a codebase or documents into context. Walks folders, skipping
        .gitignore'd paths, binary and non-UTF-8 files, files over 16 MiB (a fixed limit) and
        files and folders that cannot be read (each skip with its reason, a named path's too),
        and counts in parallel. Paths must stay inside the roots the server was started with. A
        file reached by several paths is counted once. Reports progress and stops when the
        request is cancelled.
        """
        progress = ProgressReporter(ctx) if ctx is not None else None
        result = _call(
            count_files,
            paths,
            roots=roots,
            **_tokenizer(encoding, model),
            respect_gitignore=respect_gitignore,
            progress=progress,
            check_cancelled=anyio.from_thread.check_cancelled,
        )

        result = _with_served_remedy(result)

        def answer(count: int) -> CallToolResult:
            held = count if count < max_files else None
            shown = result.summary(max_files=max_files, answer_holds=held)
            return _answer(shown, render.files_summary(shown))

        # Each listed file takes about 25 tokens, so a thousand of them (the most max_files
        # allows) are past the cap: list as many as fit and say so.
        return answer(_most_that_fit(answer, max_files, max_result_tokens))


# What count_files advises for a file over the size limit, which no argument of the tool raises.
SERVED_COUNT_REMEDY = (
    "a fixed limit for this server: give a part of the file's text to count_tokens or "
    "split_text, or count the file with shoal count --file FILE --max-file-bytes N"
)


def _with_served_remedy(result: FilesCount) -> FilesCount:
    """``result`` with each too-large skip advising what a caller of the tool can do: the
    library's advice, to raise max_file_bytes, names a parameter the tool does not have."""
    skipped = tuple(
        dataclasses.replace(item, reason=item.reason.replace(COUNT_REMEDY, SERVED_COUNT_REMEDY))
        for item in result.skipped
    )
    return dataclasses.replace(result, skipped=skipped)


@dataclasses.dataclass(frozen=True)
class ShownChunks(ChunkList):
    """A split as split_text answers it: the first chunks asked for that fit one answer.

    Attributes:
        chunks_omitted: Chunks not listed in ``chunks``: past max_chunks, or past what one
            answer holds.
    """

    chunks_omitted: int = 0

    @classmethod
    def first(cls, listed: ChunkList, count: int) -> ShownChunks:
        """The first `count` of the chunks `listed` (with their text, if it has them)."""
        fields = {field.name: getattr(listed, field.name) for field in dataclasses.fields(listed)}
        omitted = listed.chunk_count - count
        if count < len(listed.chunks):
            fields["note"] = (
                f"{chunk_numbers(count + 1, listed.chunk_count)} not listed: one answer holds "
                "no more; the command line (shoal split) and the Python API list them all"
            )
        fields["chunks"] = listed.chunks[:count]
        fields["texts"] = listed.texts[:count]
        return cls(**fields, chunks_omitted=omitted)


def _with_text_note(shown: ShownChunks) -> ShownChunks:
    """The split as a text of only the first few ranges reads it: a note on chunks left out
    says which ones the structured content lists."""
    if not shown.note or not shown.chunks:
        return shown
    listed = chunk_numbers(1, len(shown.chunks))
    return dataclasses.replace(
        shown, note=f"the structured content lists {listed}; {shown.note}"
    )


def _chunks_whose_text_fits(shown: ChunkList, text_limit: int) -> int:
    """How many of the first shown chunks have text within ``text_limit`` tokens together."""
    fitting, tokens = 0, 0
    for chunk in shown.chunks:
        if tokens + chunk.tokens > text_limit:
            break
        fitting, tokens = fitting + 1, tokens + chunk.tokens
    return fitting


def _chunk_text_too_long(shown: ChunkList, fitting: int, max_result_tokens: int) -> ToolError:
    """The refusal of shown chunks whose text one answer cannot carry, with the max_chunks
    whose answer does."""
    total = sum(chunk.tokens for chunk in shown.chunks)
    return ToolError(
        f"argument 'max_chunks': the {len(shown.chunks):,} chunks to show hold {total:,} "
        f"tokens of text, more than one answer can carry: "
        f"{too_long_for_an_answer(max_result_tokens)}. Ask for max_chunks={max(fitting, 1)}, "
        "leave include_text off, or split long texts with the command line (shoal split "
        "--out-dir) or the Python API (shoal.token_budget.split_chunks)"
    )


def _router_source(router_file: str | Path | None) -> str | None:
    """What named the server's router file: SHOAL_ROUTER when it names that file, else the
    --router option through which `shoal serve` passes any other; None for the shipped one."""
    if router_file is None:
        return None
    configured = os.environ.get(ROUTER_ENVIRONMENT_VARIABLE, "").strip()
    if configured and Path(configured).expanduser().resolve() == Path(router_file).resolve():
        return ROUTER_ENVIRONMENT_VARIABLE
    return "--router"


def _served_router(router_file: str | Path | None, source: str | None) -> Router:
    """The router route_task chooses with, read again when its file changes; a file broken
    while the server runs is named as the start-up error names it, led by what set it."""
    try:
        return load_router(router_file)
    except RouterFileError as error:
        if source is None:
            raise
        raise RouterFileError(f"{source}: {error}") from None


def _add_routing_tools(
    server: MCPServer[None], *, max_result_tokens: int,
    router_file: str | Path | None = None,
) -> None:
    text_limit = returned_text_limit(max_result_tokens)
    router_source = _router_source(router_file)

    @server.tool(name="route_task", title="Choose a model for a task", annotations=READ_ONLY)
    def route_task(
        prompt: Annotated[
            str,
            Field(
                description="The task or latest user turn to route.",
                min_length=1,
                max_length=MAX_TEXT_CHARACTERS,
            ),
        ],
        candidates: Annotated[
            list[Annotated[str, Field(max_length=200)]],
            Field(
                description="Catalog model ids to choose among (or models the router file "
                "labels and prices though the catalog lacks them); empty: every routable model "
                "the catalog does not list as retired.",
                max_length=200,
            ),
        ] = [],  # noqa: B006 - pydantic copies defaults
        excluded: Annotated[
            list[Annotated[str, Field(max_length=200)]],
            Field(description="Catalog model ids (or models the router file labels) never to "
                  "choose.", max_length=200),
        ] = [],  # noqa: B006
        local_only: Annotated[
            bool,
            Field(
                description="Only open-weight models run on the user's own hardware (private data)."
            ),
        ] = False,
        max_cost_usd: Annotated[
            float,
            Field(
                description="Most a single call may cost, in USD; -1, the default, means no "
                "limit. Models cost 0 only when they run locally (local_only, or privacy keeps "
                "the task local); otherwise open-weight models are priced as hosted, so 0 alone "
                "leaves no candidate.",
                ge=-1,
                le=MAX_CALL_COST_USD,
            ),
        ] = NO_COST_LIMIT,
        min_quality: Annotated[
            float,
            Field(
                description="Choose the cheapest model predicted to reach this quality (0-1) "
                "instead of trading quality against cost; 0 is reached by every model, so it "
                "picks the cheapest eligible one. -1, the default, sets no floor.",
                ge=-1,
                le=1,
            ),
        ] = NO_QUALITY_FLOOR,
        willingness_to_pay: Annotated[
            float,
            Field(
                description="USD one call may cost for a whole quality point (0 to 1): larger "
                "favours stronger, dearer models; above 0 (at least "
                f"{plain_number(MIN_WILLINGNESS_TO_PAY)}) and at most "
                f"{MAX_WILLINGNESS_TO_PAY:,.0f}. With min_quality it only weighs a switch away "
                "from previous_model, so it needs one.",
                # gt=0 states the rule a client can check; the floor, a guard for the
                # arithmetic, is said in the description and by route's own message.
                gt=0,
                le=MAX_WILLINGNESS_TO_PAY,
            ),
        ] = DEFAULT_WILLINGNESS_TO_PAY,
        expected_output_tokens: Annotated[
            int,
            Field(
                description="Expected answer length, for cost, context fit and each hosted "
                "model's output limit.",
                ge=0,
                le=MAX_OUTPUT_TOKENS,
            ),
        ] = 256,
        max_alternatives: Annotated[
            int,
            Field(
                description="How many runners-up to return after the chosen model.", ge=0,
                le=MAX_ALTERNATIVES,
            ),
        ] = 5,
        history: Annotated[
            list[Annotated[dict[str, Any], Field(max_length=20)]],
            Field(
                description="Earlier turns of the conversation, oldest first; `prompt` is the "
                "latest. Each is a chat message {'role': 'user', 'content': '...'} (each needs a "
                "role: system, developer, user, assistant, tool or function, as "
                "count_chat_tokens takes them; content text or a list of text parts); an "
                "assistant turn with tool_calls may leave content out. Counted for the context "
                "window and cost as count_chat_tokens counts the messages, scanned for private "
                f"data. At most {MAX_HISTORY_CHARACTERS:,} characters over all turns and "
                f"{MAX_HISTORY_TURNS:,} turns.",
                max_length=MAX_HISTORY_TURNS,
            ),
        ] = [],  # noqa: B006
        privacy: Annotated[
            Literal["local", "block", "off"],
            Field(
                description="If the conversation holds secrets or personal data: 'local' keeps "
                "it on local open-weight models, 'block' refuses, 'off' skips the scan."
            ),
        ] = "local",
        device: Annotated[
            str,
            Field(
                description="Device id (e.g. 'apple-m4-pro', 'rtx-4090') that models run "
                "locally (local_only, or a task privacy keeps local) must fit; it checks no "
                "hosted model, and a note says what was checked. Empty: no hardware check.",
                max_length=200,
            ),
        ] = "",
        previous_model: Annotated[
            str,
            Field(
                description="Model that answered the previous turn: stay on it unless a switch "
                "gains more than stickiness_margin. Empty: none.",
                max_length=200,
            ),
        ] = "",
        stickiness_margin: Annotated[
            float,
            Field(
                description="Gain in quality minus cost/willingness_to_pay a switch away from "
                "previous_model must exceed; refused without previous_model.",
                ge=0,
                le=1,
            ),
        ] = DEFAULT_STICKINESS_MARGIN,
    ) -> Annotated[CallToolResult, RoutedTask]:
        """Choose which model should answer a prompt: the best predicted quality per dollar.

        Use it before delegating a task to a model. It predicts each candidate's quality from
        the nearest labelled example prompts (or the model's catalog quality prior), prices the
        call, drops candidates that break a constraint (excluded, local-only, context window,
        output limit, max cost) and explains the choice, with ranked alternatives.
        Deterministic. Models the catalog lists as retired by today are left out unless named
        in candidates, and the notes say so. confidence (0-1) is the agreement
        1 - |observed - predicted| to expect, mapped from the router's held-out predictions;
        with a router file fitted without that map it is the raw value, and the text says so.
        Privacy findings are listed up to 20 (secrets first when there are more), with counts
        per kind and the number left out.
        Runners-up past what one answer holds are left out and counted in
        alternatives_omitted.
        """
        if max_cost_usd < 0 and max_cost_usd != NO_COST_LIMIT:
            raise ToolError(
                f"argument 'max_cost_usd': {grouped_number(max_cost_usd)} is not a cost; give 0 or "
                "more USD, or -1 for no limit"
            )
        if min_quality < 0 and min_quality != NO_QUALITY_FLOOR:
            raise ToolError(
                f"argument 'min_quality': {grouped_number(min_quality)} is not a quality; give 0 "
                "to 1, or -1 for no floor"
            )
        decision = _call(
            route,
            prompt,
            candidates=candidates or None,
            excluded=excluded,
            local_only=local_only,
            max_cost_usd=None if max_cost_usd == NO_COST_LIMIT else max_cost_usd,
            min_quality=None if min_quality == NO_QUALITY_FLOOR else min_quality,
            # The default stands for "not given", so a floor with a changed trade-off and no
            # previous model is refused as in Python and the CLI, not silently ignored.
            willingness_to_pay=(
                None if willingness_to_pay == DEFAULT_WILLINGNESS_TO_PAY else willingness_to_pay
            ),
            expected_output_tokens=expected_output_tokens,
            history=history,
            privacy=privacy,
            device=device or None,
            previous_model=previous_model or None,
            # As for willingness_to_pay: a margin without previous_model is refused.
            stickiness_margin=(
                None if stickiness_margin == DEFAULT_STICKINESS_MARGIN else stickiness_margin
            ),
            catalog=_call(configured_catalog),
            # Read again only when the file changes, so a refitted router is used without a
            # restart, as an edited price file is.
            router=_call(_served_router, router_file, router_source),
        )
        runners_up = min(max_alternatives, len(decision.alternatives) - 1)

        def answer(returned: int, detailed: int) -> CallToolResult:
            task = RoutedTask.of(decision, alternatives=returned,
                                 alternatives_omitted=runners_up - returned)
            text = render.routing_decision(task, alternatives=returned, detailed=detailed,
                                           omitted=task.alternatives_omitted)
            return CallToolResult(
                content=[TextContent(type="text", text=text)], structured_content=task.to_dict()
            )

        # A runner-up that breaks constraints carries every check with its numbers, so a long
        # list can take the structured content past the cap: return as many runners-up as fit
        # with the first few of them detailed in the text too (a host may show the model only
        # the text), count the rest, then detail in the text as many more as still fit.
        returned = _most_that_fit(
            lambda count: answer(count, min(count, RUNNERS_UP_ALWAYS_SHOWN)), runners_up,
            max_result_tokens,
        )
        detailed = _most_that_fit(lambda count: answer(returned, count), returned,
                                  max_result_tokens)
        return answer(returned, detailed)

    @server.tool(
        name="scan_private_data", title="Find secrets and personal data", annotations=READ_ONLY
    )
    def scan_private_data(
        text: Annotated[
            str, Field(description="The text to scan.", max_length=MAX_TEXT_CHARACTERS)
        ],
        redact: Annotated[
            bool,
            Field(description="Also return the text with each finding replaced by [kind]."),
        ] = False,
    ) -> Annotated[CallToolResult, PrivacyScan]:
        """Find secrets and personal data in a text: kinds and code-point offsets, never values.

        Use it before a text (a log, a file, a user's message) goes to a hosted model, an issue
        or a shared document. The same scan route_task runs: cloud and API keys, tokens,
        private keys, passwords in connection strings and assignments, e-mail addresses,
        telephone numbers, card numbers (Luhn), IBANs (mod 97), dashed US Social Security
        numbers; documentation examples and placeholders are not findings. Findings are listed
        up to 20 (secrets first when there are more), with counts per kind. Offsets count code
        points, not UTF-16 units.
        """
        findings = _call(scan_text, text, location="text")
        if redact:
            tokens = count_tokens(text).tokens
            if tokens > text_limit:
                raise ToolError(
                    f"argument 'text': {tokens:,} tokens is more than one answer can carry "
                    f"redacted: {too_long_for_an_answer(max_result_tokens)}. Scan it without "
                    "redact, or redact long texts with the command line (shoal privacy --redact) "
                    "or the Python API (shoal.privacy.redact)"
                )
        redacted = redact_findings(text, findings, location="text") if redact else None
        scan = PrivacyScan.of(findings, redacted)
        shown = [("Redacted text:", scan.redacted)] if scan.redacted is not None else []
        return _answer(scan, _with_text(scan.describe(), shown))


@dataclasses.dataclass(frozen=True)
class PrivacyScan:
    """What scan_private_data found in a text.

    Attributes:
        findings: Up to 20 findings, the secrets first when there are more: kind, category,
            location ``text`` and code-point offsets (``text[start:end]``).
        finding_counts: Findings of each kind, over the whole text.
        findings_omitted: Findings not listed in ``findings``.
        redacted: With ``redact``: the text with each finding replaced by ``[kind]``; else None.
    """

    findings: tuple[PrivacyFinding, ...]
    finding_counts: dict[str, int]
    findings_omitted: int
    redacted: str | None

    @classmethod
    def of(cls, findings: Sequence[PrivacyFinding], redacted: str | None) -> PrivacyScan:
        return cls(*_shown_findings(findings), redacted)

    def describe(self) -> str:
        """``found 2: 1 aws_access_key_id, 1 email``, then one line per listed finding."""
        if not self.finding_counts:
            return "nothing found"
        total = sum(self.finding_counts.values())
        kinds = ", ".join(f"{count:,} {kind}" for kind, count in self.finding_counts.items())
        lines = [f"found {total:,}: {kinds}"]
        lines += [f"  {f.category} {f.describe()}" for f in self.findings]
        if self.findings_omitted:
            lines.append(f"  and {render.plural(self.findings_omitted, 'more finding')}")
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class ShownPrivacyReport(PrivacyReport):
    """What the privacy scan found: up to 20 findings, the secrets first when there are more,
    and every finding counted by kind.

    A prompt with thousands of e-mail addresses is exactly what the guard is for; listing every
    finding would take its routing decision past the answer cap.

    Attributes:
        finding_counts: Findings of each kind, over the whole conversation.
        findings_omitted: Findings not listed in ``findings``.
    """

    finding_counts: dict[str, int]
    # Required in the answer's schema: without a field() of its own it would inherit
    # PrivacyReport's default.
    findings_omitted: int = dataclasses.field()

    @classmethod
    def of(cls, report: PrivacyReport) -> ShownPrivacyReport:
        shown, counts, omitted = _shown_findings(report.findings)
        return cls(policy=report.policy, action=report.action, findings=shown,
                   summary=report.summary, finding_counts=counts, findings_omitted=omitted)


def _shown_findings(
    findings: Sequence[PrivacyFinding],
) -> tuple[tuple[PrivacyFinding, ...], dict[str, int], int]:
    """`SHOWN_FINDINGS` findings (the secrets first when there are more; see
    `shoal.privacy.listed_findings`), every finding counted by kind, and how many are not
    listed: one answer holds that much whatever the text held."""
    shown = listed_findings(findings, SHOWN_FINDINGS)
    counts = Counter(finding.kind for finding in findings)
    return shown, dict(sorted(counts.items())), len(findings) - len(shown)


@dataclasses.dataclass(frozen=True)
class RoutedTask(RoutingDecision):
    """A routing decision as route_task answers it: the chosen model and the runners-up that
    fit the answer, privacy findings listed up to a bound.

    Attributes:
        alternatives_omitted: Runners-up within max_alternatives left out because the answer
            had no room for them (their constraint checks make long lists long).
    """

    privacy: ShownPrivacyReport | None = None
    alternatives_omitted: int = 0

    @classmethod
    def of(
        cls, decision: RoutingDecision, *, alternatives: int, alternatives_omitted: int = 0
    ) -> RoutedTask:
        """The decision with its chosen model, the next `alternatives` candidates and the
        nearest exemplars; `alternatives_omitted` counts the runners-up asked for but left out."""
        shown = decision.shortened(alternatives=alternatives, neighbours=SHOWN_NEIGHBOURS)
        fields = {field.name: getattr(shown, field.name)
                  for field in dataclasses.fields(RoutingDecision)}
        if shown.privacy is not None:
            fields["privacy"] = ShownPrivacyReport.of(shown.privacy)
        return cls(**fields, alternatives_omitted=alternatives_omitted)


@dataclasses.dataclass(frozen=True)
class TrimmedChatAnswer:
    """A trimmed chat as trim_chat answers it: kept and dropped messages as index runs, and
    as many runs and notes as one answer holds.

    Listing every dropped index would take a long chat's answer past the cap, though the kept
    messages fit the budget; a chat with thousands of orphaned tool results has thousands of
    notes, and as many runs when they are scattered through it.

    Attributes:
        model: Canonical catalog id the messages were counted for.
        budget_tokens: The budget.
        tokens: Prompt tokens of the kept messages and the tools, reply priming included.
        messages: The kept messages, in order (orphaned tool-result blocks removed); None when
            include_messages is false.
        kept: Indices of the kept messages in the input, as inclusive [first, last] runs.
        dropped: Indices of the dropped messages, as inclusive [first, last] runs.
        changed: Kept messages whose content shoal changed (orphaned tool-result blocks
            removed), as runs: resend these from ``messages``, not from the input.
        tool_tokens: Tokens of the tool definitions, counted against the budget.
        exact: Whether the count follows rules checked against the model's API.
        method: How the messages were counted.
        notes: What was dropped for a reason other than age, and why: the first 20 at most.
        kept_runs_omitted: Runs of kept messages after the last listed in ``kept``.
        dropped_runs_omitted: Runs of dropped messages after the last listed in ``dropped``.
        notes_omitted: Notes not listed in ``notes``.
        changed_runs_omitted: Runs of changed messages after the last listed in ``changed``.
    """

    model: str
    budget_tokens: int
    tokens: int
    messages: tuple[dict[str, Any], ...] | None
    kept: tuple[tuple[int, int], ...]
    dropped: tuple[tuple[int, int], ...]
    tool_tokens: int
    exact: bool
    method: str
    notes: tuple[str, ...]
    kept_runs_omitted: int
    dropped_runs_omitted: int
    notes_omitted: int
    changed: tuple[tuple[int, int], ...] = ()
    changed_runs_omitted: int = 0

    @classmethod
    def of(cls, trimmed: TrimmedChat, include_messages: bool = True) -> TrimmedChatAnswer:
        """Every run, and the first `SHOWN_NOTES` notes."""
        fields = {field.name: getattr(trimmed, field.name) for field in dataclasses.fields(trimmed)}
        if not include_messages:
            fields["messages"] = None
        fields["kept"] = tuple(index_ranges(trimmed.kept))
        fields["dropped"] = tuple(index_ranges(trimmed.dropped))
        fields["changed"] = tuple(index_ranges(trimmed.changed))
        fields["notes"] = trimmed.notes[:SHOWN_NOTES]
        return cls(**fields, kept_runs_omitted=0, dropped_runs_omitted=0,
                   notes_omitted=len(trimmed.notes) - len(fields["notes"]))

    def shortened(self, count: int) -> TrimmedChatAnswer:
        """The first `count` runs of each list and at most `count` notes, the rest counted."""
        return replace(
            self,
            kept=self.kept[:count],
            dropped=self.dropped[:count],
            changed=self.changed[:count],
            notes=self.notes[:count],
            kept_runs_omitted=self.kept_runs_omitted + len(self.kept[count:]),
            dropped_runs_omitted=self.dropped_runs_omitted + len(self.dropped[count:]),
            notes_omitted=self.notes_omitted + len(self.notes[count:]),
            changed_runs_omitted=self.changed_runs_omitted + len(self.changed[count:]),
        )


# record_outcome writes the feedback database (not read-only) but never removes anything; an
# outcome is keyed by decision and model, so recording the same outcome again changes nothing.
FEEDBACK_WRITE = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)


def _add_router_tools(server: MCPServer[None], *, router_file: str | Path | None = None) -> None:
    router_source = _router_source(router_file)

    @server.tool(
        name="record_outcome", title="Record how a routed model did", annotations=FEEDBACK_WRITE
    )
    def record_outcome_tool(
        decision_id: Annotated[
            str,
            Field(description="decision_id from route_task ('d-' and 24 hex digits); only "
                  "its form is checked, as decisions are not stored.",
                  min_length=26, max_length=26),
        ],
        model: Annotated[
            str, Field(description="The model that did the task: a catalog model id, or one "
                      "the router route_task chooses with has labels for.", min_length=1,
                      max_length=200)
        ],
        score: Annotated[
            float, Field(description="Observed quality, 0 (failed) to 1 (fully right).", ge=0, le=1)
        ],
        prompt: Annotated[
            str,
            Field(
                description="The task text, so a later `shoal fit` can learn from it; stored with "
                "secrets and personal data replaced by [kind]. Empty: not stored.",
                max_length=MAX_PROMPT_CHARACTERS,
            ),
        ] = "",
        cost_usd: Annotated[
            float,
            Field(description="What the call cost in USD; -1: unknown.", ge=-1, le=MAX_LIMIT_USD),
        ] = UNKNOWN_COST,
        note: Annotated[
            str, Field(description="Who judged and how (free text); stored with secrets and "
                      "personal data replaced by [kind], as the prompt is.", max_length=1000)
        ] = "",
    ) -> Annotated[CallToolResult, RecordedOutcome]:
        """Record how well a model did on a routed task, for the next router fit.

        Call it after the task is judged (tests passed, user accepted, a grader's score).
        Recording the same outcome twice changes nothing; a new score for the same decision
        and model replaces the old one. shoal keeps no log of routing decisions (an id is a hash
        of the decision's inputs), so an id of the right form that route_task never gave is
        recorded too: pass the one it returned.
        """
        if cost_usd < 0 and cost_usd != UNKNOWN_COST:
            raise ToolError(
                f"argument 'cost_usd': {grouped_number(cost_usd)} is not a cost; give 0 or more "
                "USD, or -1 when it is unknown"
            )
        # The router route_task chooses with (read again when its file changes) may label a
        # model the catalog lacks; a model the catalog knows needs no router, so a broken
        # router file does not lose its outcome. The model is checked here, where the error
        # can name its argument.
        catalog = _call(configured_catalog)
        router = (None if router_file is None or model.strip() in catalog
                  else _call(_served_router, router_file, router_source))
        try:
            outcome_model(model.strip(), catalog=catalog, router=router)
        except FeedbackError as error:
            raise ToolError(f"argument 'model': {error}") from error
        result = _call(
            record_outcome,
            decision_id,
            model,
            score,
            prompt=prompt or None,
            cost_usd=None if cost_usd == UNKNOWN_COST else cost_usd,
            note=note,
            router=router,
        )
        return _answer(result, render.recorded_outcome(result))


def _add_cost_tools(server: MCPServer[None]) -> None:
    @server.tool(name="estimate_cost", title="Estimate the cost of a call", annotations=READ_ONLY)
    def estimate_cost_tool(
        model: Annotated[
            str,
            Field(
                description="Catalog model id, e.g. 'gpt-4.1-mini'.", min_length=1, max_length=200
            ),
        ],
        input_tokens: Annotated[
            int,
            Field(description="Prompt tokens per call, cached part included.", ge=0, le=MAX_TOKENS),
        ] = 0,
        output_tokens: Annotated[
            int,
            Field(description=OUTPUT_PER_CALL, ge=0, le=MAX_TOKENS),
        ] = 0,
        cached_input_tokens: Annotated[
            int,
            Field(description=CACHE_READ, ge=0, le=MAX_TOKENS),
        ] = 0,
        cache_write_tokens: Annotated[
            int,
            Field(description=CACHE_WRITE, ge=0, le=MAX_TOKENS),
        ] = 0,
        reasoning_tokens: Annotated[
            int,
            Field(description=REASONING_PER_CALL, ge=0, le=MAX_TOKENS),
        ] = 0,
        calls: Annotated[
            int, Field(description="Number of identical calls.", ge=1, le=1_000_000_000)
        ] = 1,
    ) -> Annotated[CallToolResult, CostEstimate]:
        """Price a model call (or many identical calls) from the dated catalog, item by item.

        Use it when choosing between models or checking what a job of known size will cost.
        Input, cached-read, cache-write, output and reasoning tokens are priced separately, with
        long-context rates where the provider has them; cached and cache-write tokens are parts
        of input_tokens, reasoning tokens come on top of output_tokens. An unknown model is an
        error that lists near matches; no price is ever guessed. A model the catalog lists as
        retired is priced with a note naming the date, and a call past the model's input limit,
        its context window (prompt and output together) or its output limit with a note saying
        so. Give at least one token count.
        """
        tokens = {"input_tokens": input_tokens, "output_tokens": output_tokens,
                  "cached_input_tokens": cached_input_tokens,
                  "cache_write_tokens": cache_write_tokens, "reasoning_tokens": reasoning_tokens}
        result = _call(estimate_cost, model, calls=calls, catalog=_call(configured_catalog),
                       **tokens)
        _check_some_tokens(tokens)
        return _answer(result, render.cost_estimate(result))


def _check_some_tokens(tokens: dict[str, int]) -> None:
    """Refuse a workload of no tokens, as `shoal cost` does: it would be priced $0, which says
    nothing about any model. Checked after pricing, so that a mistyped model is named first."""
    if not any(tokens.values()):
        *others, last = tokens
        raise ToolError(f"give the tokens to price: {', '.join(others)} and {last} are all 0, so "
                        "every call would be priced $0")


# Written out rather than read from the tables, which would load the user's device files while
# the server is built; a test holds them to shoal.hardware's lists.
WEIGHT_FORMATS = (
    "Q4_0, Q4_1, Q4_K_M, Q5_K_M, Q6_K, Q8_0, MXFP4, FP8, BF16, FP16, INT4-AWQ, INT4-GPTQ, "
    "any case, '-' or '_' alike (INT4 is INT4-AWQ)"
)
KV_CACHE_DESCRIPTION = "KV-cache format: F16, BF16, FP8, Q8_0, Q4_0, any case."
BATCH_DESCRIPTION = "Concurrent sequences (speed is per sequence, energy per generated token)."
SweepIds = Annotated[
    list[Annotated[str, Field(max_length=200)]], Field(min_length=1, max_length=100)
]


def _not_null(value: Any) -> Any:
    """Refuse an explicit null for an argument whose absence has a meaning (every model, the
    default mode): only leaving it out means that."""
    if value is None:
        raise ValueError("leave the argument out rather than sending null")
    return value


def _no_default_shown(schema: dict[str, Any]) -> None:
    # The None that stands for "left out" is no value a caller may send: show no default.
    schema.pop("default", None)


# An argument that may be left out but, given, must be a value: None inside the tool when left
# out, hidden from the schema (hosts reject null unions) and refused when sent. Two names, not
# one tuple unpacked into Annotated[...]: that unpacking is Python 3.11 syntax.
NOT_NULL = AfterValidator(_not_null)
NO_DEFAULT_SHOWN = Field(json_schema_extra=_no_default_shown)


def _add_hardware_tools(server: MCPServer[None], *, max_result_tokens: int) -> None:
    @server.tool(
        name="check_hardware_fit", title="Check a model on a device", annotations=READ_ONLY
    )
    def check_hardware_fit(
        model: Annotated[
            str,
            Field(
                description=("Open-weight model id, e.g. 'llama-3.1-8b-instruct', or its "
                             "Hugging Face repository ('meta-llama/Llama-3.1-8B-Instruct'), its "
                             "page address or Ollama's 'hf.co/OWNER/NAME:FORMAT', whose tag "
                             "sets the weight format."),
                min_length=1,
                max_length=200,
            ),
        ],
        device: Annotated[
            str,
            Field(
                description="Device id, e.g. 'apple-m4-pro', 'rtx-4090', 'iphone-16-pro'.",
                min_length=1,
                max_length=200,
            ),
        ],
        quantisation: Annotated[
            Annotated[str, Field(max_length=40)] | SkipJsonSchema[None],
            NOT_NULL,
            NO_DEFAULT_SHOWN,
            Field(description=f"Weight format: {WEIGHT_FORMATS}. Leave out for the format the "
                  "model address's tag names, else Q4_K_M; a different one is refused."),
        ] = None,
        context_tokens: Annotated[
            int,
            Field(description="Context held in the KV cache.", ge=1, le=MAX_CONTEXT_TOKENS),
        ] = 4096,
        batch: Annotated[int, Field(description=BATCH_DESCRIPTION, ge=1, le=MAX_BATCH)] = 1,
        kv_cache_type: Annotated[
            str, Field(description=KV_CACHE_DESCRIPTION, min_length=1, max_length=40)
        ] = "F16",
    ) -> Annotated[CallToolResult, HardwareFit]:
        """Check whether an open-weight model fits a device's memory, and how fast it runs there.

        Use it before running a model locally, or to choose a quantisation, KV-cache format or
        context length. Gives the memory needed (weights, KV cache, overhead) against what the
        device has, decode and prefill tokens/s with a low-high range, time to first token, and
        energy per token; for a model that does not fit (fits: false), speed and energy are what
        it would do if it fitted. All are estimates from a calibrated roofline model.
        """
        result = _call(
            hardware_fit,
            model,
            device,
            quantisation=quantisation,
            context_tokens=context_tokens,
            batch=batch,
            kv_cache_type=kv_cache_type,
        )
        return _answer(result, render.hardware_fit(result), every_float=True)

    @server.tool(
        name="port_chip", title="Move a chip to another process node", annotations=READ_ONLY
    )
    def port_chip_tool(
        device: Annotated[
            str,
            Field(
                description="Device id whose chip to move, e.g. 'iphone-16-pro'.",
                min_length=1,
                max_length=200,
            ),
        ],
        to_node: Annotated[
            str,
            Field(
                description="Target node id, e.g. 'nanostack-claimed' or 'nanostack-conservative'.",
                min_length=1,
                max_length=100,
            ),
        ],
        mode: Annotated[
            Literal["iso-power", "iso-performance", "iso-area"],
            Field(
                description="What to hold constant: power (go faster), performance (save "
                "power) or die area (more SRAM)."
            ),
        ] = "iso-power",
        from_node: Annotated[
            str, Field(description="Source node id; empty: the device's own node.", max_length=100)
        ] = "",
        models: Annotated[
            list[Annotated[str, Field(max_length=200)]],
            Field(
                description="Open-weight models whose inference to compare before and after; "
                f"empty: the {PORTED_MODELS_SHOWN} smallest that fit.",
                max_length=PORTED_MODELS_SHOWN,
            ),
        ] = [],  # noqa: B006 - pydantic copies defaults
        quantisation: Annotated[
            str, Field(description="Weight format for the inference comparison.", max_length=40)
        ] = "Q4_K_M",
        context_tokens: Annotated[
            int, Field(description="Context for the inference comparison.", ge=1, le=10_000_000)
        ] = 4096,
        sram_mb: Annotated[
            Annotated[float, Field(ge=0, le=MAX_SRAM_MB)] | SkipJsonSchema[None],
            NOT_NULL,
            NO_DEFAULT_SHOWN,
            Field(
                description="On-die SRAM of the chip before the move, in MB as cache sizes are "
                "quoted (binary, MiB), for devices whose table row has none (phones, Apple) or "
                "as a what-if; 0 is no SRAM. Leave out for the table's figure."
            ),
        ] = None,
    ) -> Annotated[CallToolResult, PortedChip]:
        """Estimate a chip's power, performance, area and on-die SRAM on another process node,
        and what that does to on-device inference (models resident in SRAM, decode speed, energy).

        Use it for what-if questions such as 'what does IBM's nanostack do for a phone chip?'.
        Node figures are labelled vendor claims or independent estimates.
        """
        def ported(compared: list[str] | None) -> PortedChip:
            return _call(
                port_chip,
                device,
                from_node=from_node or None,
                to_node=to_node,
                mode=mode,
                models=compared,
                quantisation=quantisation,
                context_tokens=context_tokens,
                sram_mb=sram_mb,
            )

        if models:
            result = ported(models)
            return _answer(result, render.ported_chip(result), every_float=True)
        # Every model estimated, then the smallest that fit estimated again alone, so that
        # the notes (a context past a model's maximum) speak of the models shown.
        everything = ported(None)
        fitting = sorted(
            (row for row in everything.inference if row.fits), key=lambda row: row.resident_set_gb
        )
        shown = [row.model for row in fitting[:PORTED_MODELS_SHOWN]]
        if shown:
            result = ported(shown)
            return _answer(result, render.ported_chip(result), every_float=True)
        # None fits: the answer holds no model, and its text says so with what the smallest
        # ones need, beside the notes (a context past every model's maximum).
        text = render.ported_chip(everything, models=PORTED_MODELS_SHOWN, rest_in=None)
        return _answer(replace(everything, inference=()), text, every_float=True)

    @server.tool(
        name="sweep_hardware", title="Pareto front of speed and energy", annotations=READ_ONLY
    )
    def sweep_hardware(
        models: Annotated[
            SweepIds | SkipJsonSchema[None],
            NOT_NULL,
            NO_DEFAULT_SHOWN,
            Field(description="Open-weight model ids; leave out for every model (an empty list "
                  "is refused)."),
        ] = None,
        devices: Annotated[
            SweepIds | SkipJsonSchema[None],
            NOT_NULL,
            NO_DEFAULT_SHOWN,
            Field(description="Device ids; leave out for every device (an empty list is "
                  "refused)."),
        ] = None,
        quantisations: Annotated[
            list[Annotated[str, Field(max_length=40)]],
            Field(
                description=f"Weight formats to try: {WEIGHT_FORMATS}.",
                min_length=1,
                max_length=20,
            ),
        ] = ["Q4_K_M"],  # noqa: B006
        contexts: Annotated[
            list[Annotated[int, Field(ge=1, le=MAX_CONTEXT_TOKENS)]],
            Field(description="Context lengths to try, in tokens; a model is left out at those "
                  "past its maximum context (counted in beyond_max_context).",
                  min_length=1, max_length=20),
        ] = [4096],  # noqa: B006
        nodes: Annotated[
            list[Annotated[str, Field(max_length=100)]],
            Field(
                description=f"Process nodes to move each device to, any case ('{AS_BUILT}' "
                f"keeps it as it is), e.g. ['{AS_BUILT}', 'nanostack-claimed'].",
                min_length=1,
                max_length=20,
            ),
        ] = [AS_BUILT],  # noqa: B006
        mode: Annotated[
            PortMode | SkipJsonSchema[None],
            NOT_NULL,
            NO_DEFAULT_SHOWN,
            Field(
                description="How devices are moved to the nodes; leave out for iso-power. "
                f"Refused when nodes name no node to port to ('{AS_BUILT}' only)."
            ),
        ] = None,
        batch: Annotated[int, Field(description=BATCH_DESCRIPTION, ge=1, le=MAX_BATCH)] = 1,
        kv_cache_type: Annotated[
            str, Field(description=KV_CACHE_DESCRIPTION, min_length=1, max_length=40)
        ] = "F16",
        pin_sram: Annotated[
            bool,
            Field(
                description="Let the runtime pin what fits of the weights and KV cache in on-die "
                "SRAM (where the device table knows its size)."
            ),
        ] = False,
        max_points: Annotated[
            int,
            Field(
                description="Most front points to return, spread evenly along the front (its "
                "least-energy and its fastest point always among them).",
                ge=1,
                le=500,
            ),
        ] = 40,
    ) -> Annotated[CallToolResult, ShownFront]:
        """Sweep models x devices x formats x contexts x process nodes and return the Pareto front
        of decode tokens/s against joules per token (configurations that fit in memory, at
        contexts within the model's maximum).

        Use it to find where to run a model, or which configurations are worth it on a new node.
        A million configurations take about a second in the Rust core, and about half a minute
        on the pure-Python fallback (no compiled core, or SHOAL_PURE_PYTHON set). Every list
        names each item once. A front longer than max_points, or than one answer holds (each
        point takes about 250 tokens), is shortened to points spread evenly along it, from the
        least energy per token to the fastest, and the points left out are counted in
        points_omitted.
        """
        front = _call(
            pareto_front,
            models,
            devices,
            quantisations=quantisations,
            contexts=contexts,
            nodes=nodes,
            mode=mode,
            batch=batch,
            kv_cache_type=kv_cache_type,
            pin_sram=pin_sram,
        )

        def answer(count: int) -> CallToolResult:
            shown = ShownFront.spread(front, count)
            return _answer(shown, front_table(shown, omitted=shown.points_omitted),
                           every_float=True)

        # About 250 tokens a point: the 500 points max_points allows are past the cap. Return
        # as many as fit, spread along the front, and count the rest.
        wanted = min(max_points, len(front.points))
        return answer(_most_that_fit(answer, wanted, max_result_tokens))


@dataclasses.dataclass(frozen=True)
class ShownFront(ParetoFront):
    """A Pareto front as sweep_hardware answers it: at most the points one answer holds.

    Attributes:
        points_omitted: Front points not in ``points``: past max_points, or past what one
            answer holds.
    """

    points_omitted: int = 0

    @classmethod
    def spread(cls, front: ParetoFront, count: int) -> ShownFront:
        """``front`` with ``count`` of its points, spread evenly along it: the first (least
        energy per token) and the last (fastest) whenever two or more are shown."""
        total = len(front.points)
        kept = [front.points[index] for index in _spread_indices(count, total)]
        fields = {field.name: getattr(front, field.name) for field in dataclasses.fields(front)}
        fields["points"] = tuple(kept)
        omitted = total - len(kept)
        if omitted:
            fields["notes"] = (*front.notes, (
                f"shortened: {len(kept):,} of the {total:,} front points shown, spread evenly "
                f"from the least energy per token to the fastest; {omitted:,} left out "
                "(points_omitted); shoal hw sweep and shoal.pareto_front list them all"
            ))
        return cls(**fields, points_omitted=omitted)


def _spread_indices(count: int, total: int) -> list[int]:
    """``count`` indices of ``total`` spread evenly, the first and the last among them (just
    the first for one): each the nearest whole number to ``i * (total - 1) / (count - 1)``."""
    if count >= total:
        return list(range(total))
    if count <= 1:
        return list(range(count))
    # Integer arithmetic rounds each step exactly; the steps are at least 1 apart, so no index
    # repeats.
    span, steps = total - 1, count - 1
    return [(2 * i * span + steps) // (2 * steps) for i in range(count)]


# ---- budgets, the ledger and savings ----------------------------------------------------------

# record_usage appends to the ledger (not read-only) but never removes anything; it requires a
# request_id, so a retried call records once: that is what makes it idempotent.
LEDGER_WRITE = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
# set_budget_limit writes a scope's limit (replacing its earlier one, which no record depends on:
# spend is kept whatever the limit); setting the same limit twice changes nothing.
LIMIT_WRITE = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
SCOPE_DESCRIPTION = "What the spend is charged to, e.g. 'session:4f2a' or 'project:docs'."


@dataclasses.dataclass(frozen=True)
class CostComparisons:
    """Models priced for one workload, cheapest first.

    Attributes:
        comparisons: One row per model, with savings against the baseline when one was named.
    """

    comparisons: tuple[CostComparison, ...]


class ContextItem(BaseModel):
    """One candidate for the context, as the fit_budget tool takes it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Unique name of the item.", min_length=1, max_length=200)
    text: str = Field("", description="The item's text; give text or path, not both (an empty "
                      "text beside a path counts as not given).", max_length=MAX_TEXT_CHARACTERS)
    path: str = Field("", description="A UTF-8 file inside the server's allowed folders; a "
                      "relative path starts at the first, ~ is the server user's home folder "
                      "(an empty path beside a text counts as not given).", max_length=4096)
    priority: float = Field(1.0, description="How much the item is worth.", ge=0, le=1e9)
    required: bool = Field(False, description="Whether the item must go in.")
    group: str = Field("", description="Shared by a tool call and its results: all in or all out.",
                       max_length=200)


def _given(item: ContextItem, field: str) -> str | None:
    """The text or path a client sent for an item, or None when it left the field out.

    An empty string the client did send goes on as it is: which empty strings count as not
    given (an empty text beside a path, an empty path beside a text) is fit_budget's rule, the
    same in Python and in an items file of `shoal budget fit`.
    """
    return getattr(item, field) if field in item.model_fields_set else None


def _add_budget_tools(
    server: MCPServer[None], *, roots: list[str | os.PathLike[str]], max_result_tokens: int
) -> None:
    @server.tool(name="fit_budget", title="Fit context to a token budget", annotations=READ_ONLY)
    def fit_budget_tool(
        items: Annotated[
            list[ContextItem],
            Field(description="Candidates: text or file, priority, required, group. At most "
                  f"{MAX_TEXT_CHARACTERS:,} characters of text over all items.", min_length=1,
                  max_length=10_000),
        ],
        budget_tokens: Annotated[
            int, Field(description="Most tokens the chosen items may take.", ge=1, le=MAX_TOKENS)
        ],
        model: Annotated[
            str,
            Field(description="Catalog model id to count and price for.", min_length=1,
                  max_length=200),
        ],
        truncate_last: Annotated[
            bool, Field(description="Cut the best item that did not fit to fill what is left.")
        ] = False,
        min_truncated_tokens: Annotated[
            int,
            Field(description="With truncate_last: the fewest tokens a cut item may keep; less "
                  "is not worth a cut, and the item is dropped instead.", ge=1, le=MAX_TOKENS),
        ] = DEFAULT_MIN_TRUNCATED_TOKENS,
        include_items: Annotated[
            bool,
            Field(description="Return a line per item (counts, rank, reason); false: only the "
                  "ids by status, the totals and the cut item, so many items fit one answer."),
        ] = True,
    ) -> Annotated[CallToolResult, FitPlan]:
        """Choose which texts and files go into a prompt of a given token budget.

        Use it before assembling a long prompt from many candidates. Required items first, then
        the most priority per token; a tool call and its results (same group) go in together or
        not at all; optionally the next item is cut at a token boundary. Each item gives text or
        path; an empty one beside the other counts as not given, and no two items may name the
        same file. Returns the plan with per-item counts (with include_items false, only the
        included, truncated and dropped ids and the cut item's entry), the total and its cost;
        the answer's text ends with the cut item's text.
        """
        if min_truncated_tokens != DEFAULT_MIN_TRUNCATED_TOKENS and not truncate_last:
            raise ToolError("argument 'min_truncated_tokens': it limits the cut truncate_last "
                            "makes; set truncate_last too, or leave it at its default")
        _check_item_characters(items)
        parsed = [
            BudgetItem(id=item.id, text=_given(item, "text"), path=_given(item, "path"),
                       priority=item.priority, required=item.required, group=item.group or None)
            for item in items
        ]
        result = _call(fit_budget, parsed, budget_tokens=budget_tokens, model=model,
                       truncate_last=truncate_last, roots=roots,
                       min_truncated_tokens=min_truncated_tokens)
        if not include_items:
            cut_only = tuple(item for item in result.items if item.status == "truncated")
            result = replace(result, items=cut_only)
        cut = [(f"cut text of {item.id}:", item.text) for item in result.items if item.text]
        summary = spend_render.fit_plan(result, per_item=include_items)
        answer = _answer(result, _with_text(summary, cut))
        tokens = _tokens_of(answer)
        if tokens > max_result_tokens:
            advice = _fit_plan_advice(result, tokens, include_items, max_result_tokens)
            raise ToolError(_over_the_cap(tokens, max_result_tokens, advice))
        return answer

    @server.tool(name="trim_chat", title="Trim a chat to a token budget", annotations=READ_ONLY)
    def trim_chat_tool(
        messages: Annotated[
            list[Annotated[dict[str, Any], Field(max_length=50)]],
            Field(description="Chat messages, OpenAI or Anthropic form, oldest first. At most "
                  f"{MAX_TEXT_CHARACTERS:,} characters over all messages and tool definitions.",
                  max_length=MAX_MESSAGES),
        ],
        budget_tokens: Annotated[
            int, Field(description="Most prompt tokens the history may take.", ge=1, le=MAX_TOKENS)
        ],
        model: Annotated[
            str, Field(description="Catalog model id to count for.", min_length=1, max_length=200)
        ],
        include_messages: Annotated[
            bool,
            Field(description="Return the kept messages; false: only the kept and dropped index "
                  "runs, counts and notes (you have the messages), so long chats fit one answer."),
        ] = True,
        tools: Annotated[
            list[dict[str, Any]],
            Field(description="Tool definitions sent with the chat (OpenAI, Anthropic or MCP "
                  "shape), which count against the budget; empty: none.", max_length=1000),
        ] = [],  # noqa: B006 - pydantic copies defaults
    ) -> Annotated[CallToolResult, TrimmedChatAnswer]:
        """Cut a chat history to a token budget without breaking it.

        Use it when a conversation outgrows the context window. Keeps the system messages and
        the latest turns, keeps each tool call with all its results, drops orphaned tool
        results, and starts the kept turns on a user message (when that leaves none, a note says
        so and gives the budget that keeps the latest user message on). The answer's text ends
        with the kept messages as JSON, unless include_messages is false.
        Kept messages whose orphaned tool-result blocks were removed are listed in changed:
        resend those as returned. Notes are listed up to 20; index runs and notes past what one
        answer holds are left out and counted (kept_runs_omitted, dropped_runs_omitted,
        changed_runs_omitted, notes_omitted).
        """
        _call(check_chat_characters, messages, tools)
        result = _call(trim_chat, messages, budget_tokens=budget_tokens, model=model, tools=tools)

        # The kept messages come back twice; past the cap in prompt tokens they cannot fit, and
        # a long chat's answer would take longer to build and measure than the trim itself.
        message_tokens = result.tokens - result.tool_tokens
        if include_messages and message_tokens > max_result_tokens:
            raise ToolError(
                f"argument 'budget_tokens': the kept messages take {message_tokens:,} of the "
                f"{budget_tokens:,} budget tokens, more than fits shoal's cap of "
                f"{max_result_tokens:,} tokens per answer: "
                + fill_advice(LONG_ANSWERS["trim_chat"], max_result_tokens)
            )

        full = TrimmedChatAnswer.of(result, include_messages)
        shown = []
        if include_messages:
            kept = json.dumps(list(result.messages), ensure_ascii=False, separators=(",", ":"))
            shown = [("kept messages (JSON):", kept)]

        def answer(count: int) -> CallToolResult:
            trimmed = full.shortened(count)
            summary = spend_render.trimmed_chat(result, runs=count, notes=len(trimmed.notes))
            return _answer(trimmed, _with_text(summary, shown))

        # Orphaned results and system messages scattered through a long chat give thousands of
        # index runs and notes: list as many of each as fit and count the rest. A run takes
        # tokens, so more runs than the cap has tokens can never fit.
        most = min(max(len(full.kept), len(full.dropped), len(full.changed), len(full.notes)),
                   max_result_tokens)
        fitted = answer(_most_that_fit(answer, most, max_result_tokens))
        tokens = _tokens_of(fitted)
        if tokens > max_result_tokens:
            advice = fill_advice(LONG_ANSWERS["trim_chat"], max_result_tokens)
            raise ToolError(_over_the_cap(tokens, max_result_tokens, advice))
        return fitted

    @server.tool(name="record_usage", title="Record a model call's spend", annotations=LEDGER_WRITE)
    def record_usage_tool(
        scope: Annotated[str, Field(description=SCOPE_DESCRIPTION, min_length=1, max_length=200)],
        model: Annotated[
            str, Field(description="Catalog model id that answered.", min_length=1, max_length=200)
        ],
        request_id: Annotated[
            str,
            Field(description="Unique id of this call; repeating it records nothing new.",
                  min_length=1, max_length=200),
        ],
        input_tokens: Annotated[
            int, Field(description="Prompt tokens, cached part included.", ge=0, le=MAX_TOKENS)
        ] = 0,
        output_tokens: Annotated[
            int, Field(description=OUTPUT_OF_THE_CALL, ge=0, le=MAX_TOKENS)
        ] = 0,
        cached_input_tokens: Annotated[int, Field(description=CACHE_READ, ge=0, le=MAX_TOKENS)] = 0,
        cache_write_tokens: Annotated[int, Field(description=CACHE_WRITE, ge=0, le=MAX_TOKENS)] = 0,
        reasoning_tokens: Annotated[
            int, Field(description=REASONING_OF_THE_CALL, ge=0, le=MAX_TOKENS)
        ] = 0,
        decision_id: Annotated[str, Field(
            description="route_task decision id ('d-' and 24 hex digits) the call followed, if "
            "any; such calls count as routed in savings_report.", max_length=200)] = "",
    ) -> Annotated[CallToolResult, UsageRecord]:
        """Charge a finished model call to a scope in the spend ledger, priced now.

        Use it after every model call whose spend should count against a budget. A token count
        left out is 0; at least one must be above 0. A call that would take the scope past a
        hard limit is refused and nothing is recorded.
        Idempotent: the same request_id in the same scope records once.
        """
        result = _call(
            record_usage, scope, model, input_tokens=input_tokens, output_tokens=output_tokens,
            cached_input_tokens=cached_input_tokens, cache_write_tokens=cache_write_tokens,
            reasoning_tokens=reasoning_tokens, decision_id=decision_id or None,
            request_id=request_id,
        )
        return _answer(result, spend_render.usage_record(result))

    @server.tool(
        name="set_budget_limit", title="Set a scope's spending limit", annotations=LIMIT_WRITE
    )
    def set_budget_limit_tool(
        scope: Annotated[str, Field(description=SCOPE_DESCRIPTION, min_length=1, max_length=200)],
        usd: Annotated[
            float, Field(description="Most the scope may spend, in USD.", ge=0, le=MAX_LIMIT_USD)
        ],
        hard: Annotated[
            bool, Field(description="Refuse calls past the limit (true) or only flag them.")
        ] = True,
        period: Annotated[
            Literal["", "hour", "day", "week", "month"],
            Field(description="Calendar period (UTC) the limit applies to; empty: ever."),
        ] = "",
    ) -> Annotated[CallToolResult, BudgetLimit]:
        """Set or replace a scope's spending limit, stored in the ledger.

        Use it when a session or project gets a budget. A hard limit refuses record_usage calls
        that would exceed it; a soft one records them and flags the overrun.
        """
        result = _call(set_limit, scope, usd, hard=hard, period=period or None)
        return _answer(result, spend_render.budget_limit(result))

    @server.tool(
        name="budget_status", title="What a scope has spent and has left", annotations=READ_ONLY
    )
    def budget_status_tool(
        scope: Annotated[str, Field(description=SCOPE_DESCRIPTION, min_length=1, max_length=200)],
        window_hours: Annotated[float, Field(
            description="Burn-rate window in hours, from one second (1/3600) to a year (8784).",
            ge=MIN_WINDOW_HOURS, le=MAX_WINDOW_HOURS)] = 24.0,
    ) -> Annotated[CallToolResult, BudgetStatus]:
        """Spend, remaining budget, burn rate (USD/hour) and when the limit will be reached.

        Use it before an expensive step, to check that the scope can afford it.
        """
        result = _call(budget_status, scope, window_hours=window_hours)
        return _answer(result, _with_notes(spend_render.budget_status(result), result.notes))

    @server.tool(name="savings_report", title="Savings from routing", annotations=READ_ONLY)
    def savings_report_tool(
        scope: Annotated[
            str, Field(description="Scope to report; empty: all scopes.", max_length=200)
        ] = "",
        since: Annotated[
            str,
            Field(description="ISO 8601 start (inclusive); empty: the first call.", max_length=40),
        ] = "",
        until: Annotated[
            str, Field(description="ISO 8601 end (exclusive); empty: the last call.", max_length=40)
        ] = "",
        baseline: Annotated[
            str,
            Field(description="Model to compare with; empty: the dearest model used.",
                  max_length=200),
        ] = "",
    ) -> Annotated[CallToolResult, SavingsReport]:
        """What the recorded calls cost against always using one strong baseline model.

        Use it to show what routing saved. Per scope, per model and per calendar period, with
        routed calls counted. Scopes and models are listed up to 20 each, the largest spend
        first, as many as fit one answer; the rest are summed in other_scopes and other_models
        and counted in scopes_omitted and models_omitted. The totals cover every call. Give
        scope for one scope's own report.

        Notes come one per kind, however many calls each concerns: a retired baseline, calls
        past its limits.
        """
        tally = _call(savings_tally, scope or None, since=since or None, until=until or None,
                      baseline=baseline or None)

        def answer(listed: int) -> CallToolResult:
            result = tally.report(max_scopes=listed, max_models=listed)
            text = spend_render.savings_report(result, chart=False, omitted_advice=SAVINGS_OMITTED)
            # Without records the summary is one line that leaves the notes out (no ledger yet).
            return _answer(result, _with_notes(text, result.notes) if not result.records else text)

        # A ledger holds any number of scopes (and a price file adds models): the largest that
        # fit are listed. An answer over the cap without them (a long series) is refused.
        return answer(_most_that_fit(answer, SHORT_LIST, max_result_tokens))


# Said after a savings report's lists when it leaves scopes or models out.
SAVINGS_OMITTED = (
    "the rest are summed to keep the answer under the cap; give scope for one scope's own "
    "report, or run shoal report --all to list every scope and model"
)


def _with_notes(summary: str, notes: Sequence[str]) -> str:
    """A summary followed by notes its renderer leaves out, such as that no ledger exists yet."""
    return "\n".join([summary, *(f"  note: {note}" for note in notes)])


def _add_costs_tools(server: MCPServer[None]) -> None:
    @server.tool(
        name="compare_costs", title="Compare a workload's cost across models", annotations=READ_ONLY
    )
    def compare_costs_tool(
        models: Annotated[
            list[Annotated[str, Field(max_length=200)]],
            Field(description="Catalog model ids to price.", min_length=1, max_length=200),
        ],
        input_tokens: Annotated[
            int, Field(description="Prompt tokens per call.", ge=0, le=MAX_TOKENS)
        ] = 0,
        output_tokens: Annotated[int, Field(description=OUTPUT_PER_CALL, ge=0, le=MAX_TOKENS)] = 0,
        cached_input_tokens: Annotated[int, Field(description=CACHE_READ, ge=0, le=MAX_TOKENS)] = 0,
        cache_write_tokens: Annotated[int, Field(description=CACHE_WRITE, ge=0, le=MAX_TOKENS)] = 0,
        reasoning_tokens: Annotated[
            int, Field(description=REASONING_PER_CALL, ge=0, le=MAX_TOKENS)
        ] = 0,
        calls: Annotated[
            int, Field(description="Number of identical calls.", ge=1, le=1_000_000_000)
        ] = 1,
        baseline: Annotated[
            str, Field(description="Model to measure savings against; empty: none.", max_length=200)
        ] = "",
    ) -> Annotated[CallToolResult, CostComparisons]:
        """Price the same workload on several models, cheapest first, with savings vs a baseline.

        Use it when choosing between models for a job of known size. Each row names the
        baseline, gives its cost (baseline_total_usd, also when it is not one of the models) and
        the saving in USD and as a fraction of the baseline's cost. List each model once (an
        alias or provider/id form of a listed model is a repeat) and give at least one token
        count. A model the catalog lists as retired is priced with a note naming the date.
        """
        tokens = {"input_tokens": input_tokens, "output_tokens": output_tokens,
                  "cached_input_tokens": cached_input_tokens,
                  "cache_write_tokens": cache_write_tokens, "reasoning_tokens": reasoning_tokens}
        catalog = _call(configured_catalog)
        if baseline:
            _check_model_argument(catalog, baseline, "baseline")
        rows = _call(compare_costs, models, calls=calls, baseline=baseline or None,
                     catalog=catalog, **tokens)
        _check_some_tokens(tokens)
        return _answer(CostComparisons(tuple(rows)), render.cost_comparison(rows))


def _check_model_argument(catalog: Catalog, model: str, argument: str) -> None:
    """Refuse an unknown model under its argument's name, with the catalog's advice: the near
    matches may quote a model another argument lists (compare_costs' ``models`` beside its
    ``baseline``), which would leave the error's argument unclear."""
    try:
        catalog.model(model)
    except ValueError as error:
        raise ToolError(f"argument '{argument}': {error}") from error

