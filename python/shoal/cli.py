"""The `shoal` command line: serve the MCP tools, or ask the same questions from a shell.

Results go to stdout (a table or, with ``--json``, the same structured content the MCP tools
return); logs and progress go to stderr.
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import functools
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shoal import __version__, atomic_file
from shoal._cli_parser import (
    CommandParser,
    decimal_number,
    decode_text_arguments,
    identifier,
    once_each,
    split_ids,
    undecodable_argument,
    whole_number,
)
from shoal.excerpts import escaped, excerpt, grouped_number, listed_name, shown_path
from shoal.output_files import STDOUT_PATHS, InputFile, check_output_file
from shoal.progress import ProgressLine, add_progress_option
from shoal.standard_streams import (
    STDOUT_CLOSED,
    stand_in_for_closed_streams,
    stdin_closed,
    stdout_closed,
    write_utf8,
)

if TYPE_CHECKING:
    from shoal.catalog import Catalog, ModelEntry
    from shoal.files import SkippedFile

logger = logging.getLogger(__name__)


def _add_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the MCP server (stdio by default)",
        description="Run shoal as an MCP server. stdio is what desktop hosts start; --http serves "
        "streamable HTTP on 127.0.0.1 for clients that connect by URL.",
    )
    serve.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
    serve.add_argument(
        "--host", type=_bind_address, default="127.0.0.1",
        help="address to bind with --http; an IPv6 one with or without brackets (default: "
             "%(default)s)"
    )
    serve.add_argument(
        "--port", type=_port, default=8765, help="port with --http (default: %(default)s)"
    )
    serve.add_argument(
        "--stateless",
        action="store_true",
        help="with --http: keep no session state (for replicas behind a load balancer)",
    )
    serve.add_argument(
        "--allow-host",
        action="append",
        default=[],
        type=_allowed_host,
        metavar="NAME[:PORT]",
        help="with --http: also accept this Host header, e.g. a reverse proxy's public name, on "
        "any port or only on PORT; names match in any case (repeatable; loopback names are "
        "always accepted, any other gets 421)",
    )
    serve.add_argument(
        "--body-timeout",
        type=_seconds_between("body timeout", MIN_BODY_TIMEOUT_S, MAX_BODY_TIMEOUT_S),
        default=DEFAULT_BODY_TIMEOUT_S,
        metavar="SECONDS",
        help="with --http: answer 408 and close the connection when a request's body has not "
        "wholly arrived this many seconds after its headers (default: %(default)g; at least "
        f"{MIN_BODY_TIMEOUT_S:g}, at most {MAX_BODY_TIMEOUT_S:,})",
    )
    serve.add_argument(
        "--session-idle-timeout",
        type=_seconds_between("session idle timeout", MIN_SESSION_IDLE_TIMEOUT_S,
                              MAX_SESSION_IDLE_TIMEOUT_S),
        default=DEFAULT_SESSION_IDLE_TIMEOUT_S,
        metavar="SECONDS",
        help="with --http, not --stateless: end a session that has had no request in flight and "
        "no open event stream this many seconds, freeing what it holds; its client must "
        "initialize a new one (default: %(default)g, 30 minutes; at least "
        f"{MIN_SESSION_IDLE_TIMEOUT_S:g}, at most {MAX_SESSION_IDLE_TIMEOUT_S:,})",
    )
    serve.add_argument(
        "--token-file",
        type=Path,
        help="with --http: require 'Authorization: Bearer <token>' with the token in this file "
        "(default: the SHOAL_HTTP_TOKEN environment variable, if set)",
    )
    serve.add_argument(
        "--read-only",
        action="store_true",
        help="serve only read-only tools (leave out those that write the ledger or the "
        "feedback database)",
    )
    serve.add_argument(
        "--tools",
        metavar="GROUP,...",
        help="serve only these tool groups: tokens, routing, cost, budget, hardware",
    )
    serve.add_argument(
        "--devices",
        type=Path,
        action="append",
        default=[],
        help="JSON file of extra devices, shaped like the shipped devices.json (repeatable)",
    )
    serve.add_argument(
        "--architectures",
        type=Path,
        action="append",
        default=[],
        help="JSON file of extra model architectures, like architectures.json (repeatable)",
    )
    serve.add_argument(
        "--root",
        type=_folder,
        action="append",
        default=[],
        help="folder the file tools may read (repeatable; relative paths start at the first; "
        "default: the current directory, refused when that is / or your home folder)",
    )
    serve.add_argument(
        "--ledger",
        type=_ledger_location,
        metavar="PATH|URL",
        help="spend ledger: a SQLite file or a postgresql:// URL (default: SHOAL_LEDGER if set "
        "and not empty, else ledger.sqlite3 in the user's data directory); checked at start",
    )
    serve.add_argument(
        "--prices",
        type=Path,
        help="user price file overriding or extending the catalog (default: SHOAL_PRICES, if "
        "set); checked at start",
    )
    serve.add_argument(
        "--router",
        type=Path,
        help="router file from `shoal fit` that route_task chooses with, whose labelled models "
        "record_outcome accepts too (default: SHOAL_ROUTER if set and not empty, else the "
        "shipped router); checked at start",
    )
    serve.set_defaults(handler=_serve)


def _add_route(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    route = commands.add_parser(
        "route",
        help="choose a model for a prompt, or for every prompt in a JSONL file",
        description="Choose the model that should answer a prompt: the best predicted quality per "
        "dollar among the candidates that meet the constraints. With --file, route a batch and "
        "compare its total cost with always using the strongest candidate every prompt could "
        "use (an open-weight one when a prompt holding private data is kept local, which a note "
        "says). A catalog model costs its catalog price for this prompt's tokens and "
        "--output-tokens (a cost_usd in `shoal fit`'s rows does not change it); a model a "
        "--router file labels that the catalog lacks costs the mean cost_usd of its label rows, "
        "its only price. Confidence (0-1) is the agreement 1 - |observed - predicted| to expect, "
        "mapped from the router's held-out predictions; a router fitted without that map "
        "reports the raw value (neighbour evidence times similarity), and the output says so.",
    )
    route.add_argument("prompt", nargs="?", help="the prompt to route ('-' reads stdin)")
    route.add_argument(
        "--file",
        type=Path,
        help="JSONL file of prompts ('-' reads stdin): rows with one of 'prompt', 'question' or "
        "MT-Bench 'turns' (the first turn is routed: the later ones follow up on an answer the "
        "row does not hold); each decision is shown, as it is made, with its line and decision "
        "id",
    )
    add_max_file_bytes(route, "refuse a larger --file, or a larger PROMPT read from stdin",
                       other_defaults=f"{byte_count(DEFAULT_MAX_BATCH_FILE_BYTES)} for --file")
    route.add_argument(
        "--candidates",
        action="append",
        help="comma-separated model ids to choose among, repeatable: catalog models, or models "
        "the --router file labels and prices (default: every routable model; an empty list is "
        "an error)",
    )
    route.add_argument("--exclude", action="append",
                       help="comma-separated model ids never to choose, repeatable")
    route.add_argument(
        "--local-only", action="store_true", help="only open-weight models run locally"
    )
    route.add_argument("--max-cost", type=float, help="maximum expected cost per call, in USD")
    route.add_argument(
        "--min-quality",
        type=float,
        help="cheapest model with at least this predicted quality (0-1)",
    )
    route.add_argument(
        "--willingness-to-pay",
        type=float,
        help="USD you would pay per call for a whole quality point (predicted quality 0 -> 1), "
        "above 0 (at least 0.000000000001) and at most 1,000; the choice maximises quality - "
        "cost / this (default: 0.01, one cent per point); with --min-quality it only weighs a "
        "switch from --previous-model, and without that it is refused",
    )
    route.add_argument(
        "--output-tokens",
        type=int,
        default=256,
        help="expected answer length, 0 to 1,000,000: priced, and checked against each "
        "model's context window and each hosted model's output limit (default: %(default)s)",
    )
    route.add_argument(
        "--max-alternatives", type=int, metavar="N",
        help=f"runners-up to show after the chosen model, 0 to {MAX_ALTERNATIVES}, as route_task's "
        f"max_alternatives (default: {SHOWN_RUNNERS_UP} in the text, every candidate with "
        "--json); with --file it shortens each decision of --json and --jsonl (about 700 bytes "
        "a candidate; the summary still weighs every one), as the table shows none",
    )
    route.add_argument(
        "--max-neighbours", type=int, metavar="N",
        help=f"nearest labelled exemplars to list in --json or --jsonl output, 0 to "
        f"{MAX_NEIGHBOURS:,} (default: every one the router used, 40 for the shipped router, "
        "about 135 bytes each); the text shows none",
    )
    route.add_argument(
        "--json", action="store_true", help="print structured JSON instead of a table (with "
        "--file, one document once the batch is routed; nothing on stdout if a row stops it)"
    )
    route.add_argument(
        "--jsonl", action="store_true",
        help="with --file: print JSON Lines, one decision per line (with its 'line') as each "
        "row is routed, then a last line {'summary': ...} (and 'skipped' with --keep-going)",
    )
    add_progress_option(route, only_with="--file")
    route.add_argument(
        "--keep-going", action="store_true",
        help="with --file: skip a row that is malformed, that no candidate passes or that "
        "--privacy block refuses, naming it FILE:LINE on stderr and in the summary, and route "
        "the rest; the exit status is then 1 (without it, the first such row stops the batch "
        "with status 2, after the rows already printed)",
    )
    route.add_argument(
        "--router", type=Path, help="router file from `shoal fit` (default: SHOAL_ROUTER if "
        "set and not empty, else the shipped router)"
    )
    route.add_argument(
        "--prices", type=Path, help="user price file overriding or extending the catalog"
    )
    route.add_argument(
        "--privacy",
        choices=("local", "block", "off"),
        default="local",
        help="when the prompt holds secrets or personal data: keep it on local open-weight "
        "models, refuse it, or skip the scan (default: %(default)s)",
    )
    route.add_argument("--device", type=identifier,
                       help="device id models run locally (--local-only, or a prompt kept local "
                       "for its private data) must fit, e.g. apple-m4-pro; without it their fit "
                       "is unchecked")
    route.add_argument(
        "--history",
        type=Path,
        help="JSON file with the earlier turns [{'role': ..., 'content': ...}], oldest first; "
        "every turn needs a role: system, developer, user, assistant, tool or function (as "
        "`shoal count --chat` takes them), content a string or a list of text parts; "
        "an assistant turn with tool_calls may leave content null, as the API allows; at most "
        f"{MAX_HISTORY_CHARACTERS:,} characters over all turns and {MAX_HISTORY_TURNS:,} "
        "turns. Counted with the prompt as `shoal count --chat` counts the same messages (one "
        "PROMPT only, not --file)",
    )
    route.add_argument(
        "--previous-model",
        type=identifier,
        help="model of the previous turn: stay on it unless a "
        "switch gains more than --stickiness-margin (one PROMPT only, not --file)",
    )
    route.add_argument(
        "--stickiness-margin",
        type=float,
        help="with --previous-model: objective gain a switch must exceed (default: 0.02)",
    )
    route.set_defaults(handler=_route)


def _add_feedback(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    feedback = commands.add_parser(
        "feedback",
        help="record how a routed model did, or export recorded outcomes for `shoal fit`",
        description="Record an observed outcome for a routing decision (its decision id), or "
        "export the recorded outcomes as JSONL training rows. The database is SHOAL_FEEDBACK_DB "
        "or shoal/feedback.sqlite3 in the user data directory; one you may only read is "
        "exported without leaving SQLite's -wal and -shm files, and recording in it is refused.",
    )
    actions = feedback.add_subparsers(dest="action", required=True, metavar="ACTION")
    record = actions.add_parser(
        "record",
        help="store an outcome",
        description="Store how a model did on a routed task. Recording again for the same "
        "decision and model corrects the outcome: the score is replaced, and so is each option "
        "given; an option left out (--prompt, --cost, --note) keeps the value recorded before. "
        "The model is one the catalog knows or one the router that made the decision labels "
        "(--router, as `shoal route` takes it). Decisions are not stored, so only the decision "
        "id's form is checked.",
    )
    record.add_argument("decision_id", type=identifier, help="decision id printed by `shoal route`")
    record.add_argument("model", type=identifier,
                        help="the model that did the task: a catalog id (add your own with "
                        "--prices), or a model the --router file labels")
    record.add_argument("score", type=float, help="observed quality, 0 to 1")
    record.add_argument("--prompt", help="the task text (stored redacted; needed by shoal fit); "
                        "left out, an earlier recorded prompt is kept")
    record.add_argument(
        "--prompt-file", type=Path, help="read the task text from a file ('-': stdin)"
    )
    record.add_argument("--cost", type=float, help="what the call cost, USD")
    record.add_argument("--note", default="", help="who judged and how (stored redacted, as "
                        "the prompt is)")
    record.add_argument(
        "--prices", type=Path, help="user catalog file that adds models (as SHOAL_PRICES)"
    )
    record.add_argument(
        "--router", type=Path, help="router file from `shoal fit` that made the decision, whose "
        "labelled models may be scored though the catalog lacks them (default: SHOAL_ROUTER if "
        "set and not empty, else the shipped router); needed only for such a model: for a "
        "catalog model a file that cannot be read is noted and the outcome recorded"
    )
    export = actions.add_parser(
        "export",
        help="print recorded outcomes as JSONL rows",
        description="Print the recorded outcomes that carry a prompt as JSONL training rows for "
        "`shoal fit`; how many were left out for want of a prompt is noted on stderr.",
    )
    for parser in (record, export):
        parser.add_argument("--db", type=Path, help="feedback database (default: "
                            "SHOAL_FEEDBACK_DB if set, else shoal/feedback.sqlite3 in the user "
                            "data directory)")
        parser.add_argument("--json", action="store_true", help="print structured JSON")
    feedback.set_defaults(handler=_feedback)


def _add_token_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--encoding",
        type=identifier,
        help="o200k_base, cl100k_base or tekken_240718 (default: o200k_base, or the --model's)",
    )
    parser.add_argument("--model", type=identifier,
                        help="count with this catalog model's tokenizer instead")
    parser.add_argument(
        "--prices",
        type=Path,
        help="user price file that adds or overrides catalog models for --model (as SHOAL_PRICES)",
    )
    parser.add_argument(
        "--allow-special",
        action="store_true",
        help="count special-token text such as <|endoftext|> as one special token "
        "(default: ordinary text)",
    )
    parser.add_argument("--json", action="store_true", help="print structured JSON")


def _add_count(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    count = commands.add_parser(
        "count",
        help="count tokens in text, files, folders or a chat request",
        description="Count tokens exactly for the OpenAI encodings and Mistral's Tekken, or "
        "estimate them for a named model whose tokenizer is not public (the answer says which). "
        "Folders are walked with .gitignore rules; binary, non-UTF-8 and oversized files in them, "
        "and files and folders that cannot be read, are skipped with the reason, while such a "
        "path named by --file is an error. A progress "
        "bar shows on stderr when counting files takes over a second.",
    )
    count.add_argument(
        "text", nargs="*", help="text to count (joined by spaces); '-' alone reads stdin"
    )
    count.add_argument(
        "--file",
        type=Path,
        action="append",
        default=[],
        help="file or folder to count (repeatable; a leading ~ is the home folder, quoted or "
        "not)",
    )
    count.add_argument(
        "--chat",
        type=Path,
        help="JSON file of a chat request ('-': stdin): a list of messages, or {'messages': "
        "[...], 'tools': [...]} (Anthropic's top-level 'system' counts as a system message; "
        "tools in OpenAI, Anthropic or MCP shape); counted by OpenAI's chat and tool rules, "
        "and takes no TEXT, "
        "--file, --limit, --encoding, --allow-special or --no-gitignore",
    )
    count.add_argument(
        "--limit",
        type=int,
        help="for text: stop counting once past this many tokens and say whether it fits",
    )
    count.add_argument(
        "--no-gitignore", action="store_true", help="count files that .gitignore excludes too"
    )
    add_max_file_bytes(
        count, "skip larger files in folders; refuse a larger named --file, --chat file or stdin"
    )
    add_progress_option(count)
    _add_token_options(count)
    count.set_defaults(handler=_count)


INPUT_FILE_HELP = (
    "read the text from this regular file ('-': stdin); as for count, nothing under /proc, /dev "
    "or /sys, and nothing over --max-file-bytes"
)

# The default and the ceiling of --max-file-bytes: shoal.files.DEFAULT_MAX_FILE_BYTES and
# MAX_FILE_BYTES_LIMIT, which are not imported while the parser is built.
DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024
# shoal.files.DEFAULT_MAX_DATA_FILE_BYTES, the default for a batch of prompts (`route --file`).
DEFAULT_MAX_BATCH_FILE_BYTES = 256 * 1024 * 1024
MAX_FILE_BYTES_LIMIT = 1024 * 1024 * 1024
# shoal.router_policy.MAX_HISTORY_CHARACTERS and MAX_HISTORY_TURNS, for the same reason.
MAX_HISTORY_CHARACTERS = 8_000_000
MAX_HISTORY_TURNS = 100_000
# shoal.router.MAX_ALTERNATIVES, likewise; and the runners-up a decision's text shows by default
# (shoal.render.routing_decision's).
MAX_ALTERNATIVES = 100
SHOWN_RUNNERS_UP = 3
# The most nearest exemplars a router's prediction uses (shoal fit --k), so the most a decision
# lists.
MAX_NEIGHBOURS = 1000


def add_max_file_bytes(
    parser: argparse.ArgumentParser, what: str, default: int | None = None,
    *, other_defaults: str = "",
) -> None:
    """Add --max-file-bytes, the size limit of what the command reads (at most 1 GiB).

    Without a ``default`` the option stays None when absent, so a command can refuse it where
    it would change nothing (see ``_file_size_limit``) and fall back to the usual limit.
    ``other_defaults`` names the defaults of the inputs that have another, for the help.
    """
    defaults = f"default: {byte_count(default or DEFAULT_MAX_FILE_BYTES)}"
    parser.add_argument(
        "--max-file-bytes",
        type=_max_file_bytes,
        metavar="N",
        default=default,
        help=f"{what} ({'; '.join(filter(None, [defaults, other_defaults]))}; at most "
        f"{byte_count(MAX_FILE_BYTES_LIMIT)})",
    )


def byte_count(count: int) -> str:
    """``16,777,216 (16 MiB)``: the figure --max-file-bytes takes, and the size it reads as."""
    mebibytes = count / 2**20
    size = f"{mebibytes / 1024:g} GiB" if mebibytes >= 1024 else f"{mebibytes:g} MiB"
    return f"{count:,} ({size})"


def _max_file_bytes(value: str) -> int:
    from shoal.files import check_max_file_bytes

    limit = whole_number(value)
    try:
        check_max_file_bytes(limit)
    except ValueError as error:
        # argparse names the option already; the library's message leads with its own name.
        raise argparse.ArgumentTypeError(str(error).removeprefix("max_file_bytes ")) from None
    return limit


def _add_truncate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    truncate = commands.add_parser(
        "truncate",
        help="cut text to a token budget, keeping its beginning or end",
        description="Print a beginning (or, with --tail, an end) of the text within "
        "MAX_TOKENS: its first (or last) MAX_TOKENS tokens as the whole text encodes are "
        "kept (only that end is encoded, the rest just counted), whole, cut back to a "
        "boundary between user-visible characters (never inside one: an accent stays with "
        "its letter, a flag or emoji sequence whole) and further "
        "until the kept part "
        "counted on its own fits. The cut falls only between the text's own tokens, so a "
        "part that would take fewer tokens alone is not looked for: '\\t\\t1' at 1 token "
        "keeps '\\t', though '\\t\\t' alone is 1 token. The summary goes to stderr. Into a "
        "pipe or file the kept text is written byte for byte; on a terminal a newline ends it, "
        "so that the summary starts a line of its own.",
    )
    truncate.add_argument(
        "text",
        nargs="*",
        help="text to cut (joined by spaces); '-' alone, or no TEXT and no --file, reads stdin",
    )
    truncate.add_argument("--file", type=Path, help=INPUT_FILE_HELP)
    add_max_file_bytes(truncate, "refuse a larger --file or stdin")
    truncate.add_argument("--max-tokens", type=int, required=True, help="most tokens to keep")
    truncate.add_argument(
        "--tail", action="store_true", help="keep the end instead of the beginning"
    )
    _add_token_options(truncate)
    truncate.set_defaults(handler=_truncate)


def _add_split(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    split = commands.add_parser(
        "split",
        help="split text into chunks of at most N tokens",
        description="Split the text into consecutive chunks of at most MAX_TOKENS tokens each; "
        "joined, the chunks are the text, and no chunk ends inside a user-visible character. "
        "Prints one line per chunk (its range in code points, as Python indexes a string, and "
        "tokens), or with --json the chunks and their text; --out-dir writes chunk files. A "
        "split makes at most 100,000 chunks: a MAX_TOKENS that would make more is refused, "
        "naming the smallest that would do.",
    )
    split.add_argument(
        "text",
        nargs="*",
        help="text to split (joined by spaces); '-' alone, or no TEXT and no --file, reads stdin",
    )
    split.add_argument("--file", type=Path, help=INPUT_FILE_HELP)
    add_max_file_bytes(split, "refuse a larger --file or stdin")
    split.add_argument("--max-tokens", type=int, required=True, help="most tokens per chunk")
    split.add_argument(
        "--out-dir", type=_folder,
        help="write chunk_0001.txt, chunk_0002.txt, ... into this folder, each one whole "
        "(written beside its name, then renamed); past 9,999 chunks the numbers take five or "
        "six digits, so that the names always sort in chunk order (cat DIR/* joins them)"
    )
    _add_token_options(split)
    split.set_defaults(handler=_split)


# How the token counts of `shoal cost` and `shoal ledger record` add up: a usage report pasted
# as it is would bill reasoning or cached tokens twice.
INPUT_PARTS_HELP = ("cached and cache-write parts included (Anthropic: input + cache_creation + "
                    "cache_read; OpenAI: prompt_tokens)")
_PART_HELP = "counted in --input too, priced at the {} rate instead of the input rate"
CACHE_READ_HELP, CACHE_WRITE_HELP = _PART_HELP.format("cache"), _PART_HELP.format("cache-write")
OUTPUT_HELP = ("--reasoning is charged on top, so from an OpenAI usage report give "
               "completion_tokens minus reasoning_tokens")
REASONING_HELP = ("charged at the output rate on top of --output (OpenAI's completion_tokens "
                  "already include them)")


def _add_cost(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cost = commands.add_parser(
        "cost",
        help="price a call from the dated catalog",
        description="Price one call (or --calls of them), each kind of token separately.",
    )
    cost.add_argument("model", nargs="?", type=identifier,
                      help="catalog model id, e.g. gpt-4.1-mini")
    cost.add_argument(
        "--compare", metavar="A,B,C", help="price the workload on these models, cheapest first"
    )
    cost.add_argument("--baseline", type=identifier,
                      help="with --compare: the model to measure savings against")
    cost.add_argument(
        "--plan",
        type=Path,
        metavar="FILE",
        help="a file holding a JSON list of calls, each {input_tokens, output_tokens, "
        "cached_input_tokens, cache_write_tokens, reasoning_tokens, calls}, priced step by step "
        "(instead of --input, --output, ... and --calls); at most 10,000 steps (give identical "
        "ones once with a 'calls' count); '-' reads stdin",
    )
    cost.add_argument(
        "--prices", type=Path, help="user price file overriding or extending the catalog"
    )
    # The per-call options default to None so that giving one with --plan can be refused.
    cost.add_argument("--input", type=int, dest="input_tokens",
                      help=f"input tokens per call, {INPUT_PARTS_HELP}")
    cost.add_argument("--output", type=int, dest="output_tokens",
                      help=f"visible output tokens per call; {OUTPUT_HELP}")
    cost.add_argument("--cached", type=int, dest="cached_input_tokens",
                      help=f"the part of --input read from the cache per call; {CACHE_READ_HELP}")
    cost.add_argument("--cache-write", type=int, dest="cache_write_tokens",
                      help=f"the part of --input written to the cache per call; {CACHE_WRITE_HELP}")
    cost.add_argument("--reasoning", type=int, dest="reasoning_tokens",
                      help=f"hidden reasoning tokens per call, {REASONING_HELP}")
    cost.add_argument("--calls", type=int, help="number of identical calls (default: 1)")
    cost.add_argument("--json", action="store_true", help="print structured JSON")
    cost.set_defaults(handler=_cost)


def _add_hw(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # The subcommands (fit, devices, models, nodes, validate, port, sweep) are parsed by
    # shoal.hardware_cli, which also accepts `shoal hw MODEL DEVICE` as short for `fit`.
    hw = commands.add_parser(
        "hw",
        help="can a model run on a device, how fast; what a new process node changes",
        description="`shoal hw SUBCOMMAND --help` for fit, devices, models, nodes, validate, "
        "port, sweep.",
        add_help=False,
        prefix_chars="\0",
    )
    hw.add_argument("words", nargs=argparse.REMAINDER, help="subcommand and its arguments")
    hw.set_defaults(handler=_hw)


def _ledger_location(value: str) -> str:
    # An empty value would silently mean the default ledger. An empty SHOAL_LEDGER does mean it,
    # as an empty shell variable commonly means unset; the message says so, since the two differ.
    if not value.strip():
        raise argparse.ArgumentTypeError(
            "empty: give a SQLite file path or a postgresql:// URL, or leave --ledger out for "
            "the default (SHOAL_LEDGER, which counts as unset when empty, else ledger.sqlite3 "
            "in the user's data directory)"
        )
    return value


def _scope(value: str) -> str:
    # The ledger would call a blank scope too short by its length; the user sees spaces.
    if not value.strip():
        raise argparse.ArgumentTypeError("blank: name the scope, e.g. session:4f2a")
    return value


def _add_ledger_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ledger",
        type=_ledger_location,
        metavar="PATH|URL",
        help="SQLite file or postgresql:// URL (default: SHOAL_LEDGER if set and not empty, else "
        "ledger.sqlite3 in the user's data directory)",
    )
    parser.add_argument(
        "--prices", type=Path, help="user price file overriding or extending the catalog"
    )
    parser.add_argument("--json", action="store_true", help="print structured JSON")


def _add_budget(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    budget = commands.add_parser(
        "budget",
        help="fit texts and files to a token budget, or trim a chat history",
        description="`fit`: choose items for a context (required first, then priority per "
        "token; tool-call groups whole). `trim`: cut a chat to a budget, keeping the system "
        "message, the latest turns and whole tool-call/result pairs.",
    )
    actions = budget.add_subparsers(dest="action", required=True, metavar="ACTION")
    fit = actions.add_parser("fit", help="choose which items go into a context")
    fit.add_argument(
        "items",
        nargs="?",
        type=Path,
        metavar="ITEMS_FILE",
        help="a file holding a JSON list of items {id, text|path, priority, required, group}, "
        "where an empty text beside a path (or an empty path beside a text) counts as not "
        "given and a path may start with ~; '-' reads the list from stdin",
    )
    fit.add_argument(
        "--file",
        type=Path,
        action="append",
        default=[],
        help="add a file as an item (repeatable; each file once, by whatever path); a relative "
        "path starts at the current folder and ~ at the home folder, as in the shell, and the "
        "file must lie inside a --root",
    )
    fit.add_argument("--model", required=True, type=identifier,
                     help="catalog model id to count and price for")
    fit.add_argument("--budget", type=int, required=True, help="token budget")
    fit.add_argument(
        "--truncate-last",
        action="store_true",
        help="after the whole items, cut the best item that did not fit to fill what is left",
    )
    fit.add_argument(
        "--min-truncated-tokens",
        type=int,
        metavar="N",
        help="with --truncate-last: cut only when at least N tokens of the item fit (default: 32)",
    )
    fit.add_argument(
        "--root",
        type=_folder,
        action="append",
        default=[],
        help="folder files may be read from (repeatable; default: the current folder); a "
        "relative path in ITEMS_FILE starts at the first",
    )
    trim = actions.add_parser("trim", help="trim a chat history to a budget")
    trim.add_argument(
        "messages",
        type=Path,
        metavar="CHAT_FILE",
        help="a file holding a JSON list of chat messages, or a chat request {'messages': "
        "[...], 'tools': [...]} as `count --chat` reads it (the tools count against the "
        "budget); '-' reads it from stdin",
    )
    trim.add_argument("--model", required=True, type=identifier,
                      help="catalog model id to count for")
    trim.add_argument("--budget", type=int, required=True, help="token budget")
    add_max_file_bytes(trim, "refuse a larger CHAT_FILE or stdin")
    trim.add_argument("--output", type=Path,
                      help="write the kept messages to this JSON file (a new file, or a JSON "
                      "list of chat messages to replace; not CHAT_FILE, not '-')")
    for action in (fit, trim):
        # No --ledger: fitting and trimming price with the catalog but record nothing.
        action.add_argument(
            "--prices", type=Path, help="user price file overriding or extending the catalog"
        )
        action.add_argument("--json", action="store_true", help="print structured JSON")
    budget.set_defaults(handler=_budget)


def _add_ledger(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ledger = commands.add_parser(
        "ledger",
        help="record spend, set limits and see what a scope has left",
        description="The spend ledger: `record` a call, `import` a log of calls, `limit` a "
        "scope, `status` of a scope.",
    )
    actions = ledger.add_subparsers(dest="action", required=True, metavar="ACTION")
    record = actions.add_parser(
        "record",
        help="charge a model call to a scope",
        description="Charge one model call to a scope, priced from the catalog. Give at least "
        "one token count above 0 (--input, --output, --cached, --cache-write or --reasoning); "
        "the others are 0.",
    )
    record.add_argument(
        "--scope", required=True, type=_scope, help="e.g. session:4f2a or project:docs"
    )
    record.add_argument("--model", required=True, type=identifier,
                        help="catalog model id that answered")
    record.add_argument("--input", type=int, default=0, dest="input_tokens",
                        help=f"input tokens, {INPUT_PARTS_HELP}")
    record.add_argument("--output", type=int, default=0, dest="output_tokens",
                        help=f"visible output tokens; {OUTPUT_HELP}")
    record.add_argument("--cached", type=int, default=0, dest="cached_input_tokens",
                        help=f"the part of --input read from the cache; {CACHE_READ_HELP}")
    record.add_argument("--cache-write", type=int, default=0, dest="cache_write_tokens",
                        help=f"the part of --input written to the cache; {CACHE_WRITE_HELP}")
    record.add_argument("--reasoning", type=int, default=0, dest="reasoning_tokens",
                        help=f"hidden reasoning tokens, {REASONING_HELP}")
    record.add_argument(
        "--decision-id",
        type=identifier,
        help="decision id printed by `shoal route` (d- and 24 hex digits, either case) that the "
        "call followed; the report counts such calls as routed",
    )
    record.add_argument("--request-id", type=identifier,
                        help="idempotency key: the same id records once")
    record.add_argument(
        "--at",
        help="when the call happened (ISO 8601, UTC unless it says; default: now): from "
        "2020-01-01 to at most 5 minutes from now",
    )
    _add_ledger_option(record)
    _add_ledger_import(actions)
    status = actions.add_parser(
        "status",
        help="spent, left, burn rate and projection",
        description="What a scope has spent and has left. The ledger must exist: a path that "
        "names no file is an error, not a scope with nothing spent.",
    )
    status.add_argument("--scope", required=True, type=_scope, help="the scope")
    status.add_argument("--window", type=float, default=24.0,
                        help="burn-rate window in hours, from 1/3600 (a second) to 8784 (a year)")
    _add_ledger_option(status)
    limit = actions.add_parser(
        "limit",
        help="set or remove a scope's spending limit",
        description="Set a scope's spending limit, replacing its earlier one (a scope has one), "
        "or remove it with --remove. A hard limit refuses a record that would pass it; a soft "
        "one records it and flags it. Spend already recorded is kept either way.",
    )
    limit.add_argument("--scope", required=True, type=_scope, help="the scope")
    amount = limit.add_mutually_exclusive_group(required=True)
    amount.add_argument("--usd", type=float, help="the limit in USD")
    amount.add_argument("--remove", action="store_true",
                        help="remove the scope's limit (its spend is kept)")
    limit.add_argument("--soft", action="store_true", help="flag calls past it instead of refusing")
    limit.add_argument(
        "--period",
        choices=("hour", "day", "week", "month"),
        help="calendar period in UTC (default: the scope's whole life)",
    )
    _add_ledger_option(limit)
    ledger.set_defaults(handler=_ledger)


def _add_ledger_import(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    load = actions.add_parser(
        "import",
        help="charge every call of a JSONL usage log",
        description="Charge every call of a JSON Lines usage log, one JSON object a line with "
        "the fields `record` takes, named as in Python's record_usage: scope, model, "
        "input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, "
        "reasoning_tokens (each 0 when left out, at least one above 0), decision_id, "
        "request_id, at (ISO 8601 text, UTC unless it says, or epoch seconds; default: now). "
        "All or nothing: the import is one transaction, so a line refused (malformed, or over a "
        "hard limit) is named and nothing is recorded. A line whose request_id its scope holds "
        "already counts as already present: importing the same log again records nothing twice.",
    )
    load.add_argument("file", type=Path, metavar="FILE",
                      help="the JSONL usage log; '-' reads stdin")
    add_max_file_bytes(load, "refuse a larger FILE or stdin", DEFAULT_MAX_BATCH_FILE_BYTES)
    add_progress_option(load)
    _add_ledger_option(load)


def _add_report(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = commands.add_parser(
        "report",
        help="spend with routing against a baseline model (default: the dearest used)",
        description="Savings report from the ledger: what the recorded calls cost against the "
        "same tokens on a baseline model (default: the dearest model used), per scope, model "
        "and period, with a chart. The text lists the 20 scopes and the 20 models of largest "
        "spend and sums the rest in one line each (--all lists every one; --json always does); "
        "the totals cover every call. Routed calls are those recorded with a --decision-id. The "
        "ledger must exist: a path that names no file is an error.",
    )
    report.add_argument("--scope", help="one scope (default: all)")
    report.add_argument("--since", help="from this date or time (ISO 8601, inclusive)")
    report.add_argument("--until", help="to this date or time (ISO 8601, exclusive)")
    report.add_argument("--baseline", type=identifier, help="model to compare with")
    report.add_argument(
        "--bucket",
        choices=("hour", "day", "week", "month"),
        help="chart bucket (default: chosen from the span)",
    )
    report.add_argument("--all", action="store_true",
                        help="list every scope and model (default: the 20 of largest spend of "
                        "each, the rest summed in one line)")
    report.add_argument("--svg", type=Path,
                        help="also write an SVG chart of spend over time (a new file, or an SVG "
                        "to replace; not the ledger or the price file, not '-')")
    _add_ledger_option(report)
    report.set_defaults(handler=_report)


def _add_models(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    models = commands.add_parser(
        "models",
        help="list the model catalog: prices, context windows, quality priors, retirements "
        "(--json: every field, tokenizers included)",
        description="List the catalog's models (with --prices FILE applied), one per line: id, "
        "provider, input and output price per million tokens, context window, quality prior "
        "and announced retirement. Models retired by today (in UTC, or SHOAL_TODAY) are left "
        "out, as `shoal route` leaves them out, and counted on the last line; "
        "--include-retired lists them, marked retired. --json prints every field of each "
        "model, its tokenizer (encoding, token_ratio) included, with `retired` per model and "
        "the day retirements were judged on.",
    )
    models.add_argument("--provider", type=identifier, action="append",
                        help="only this provider's models, e.g. openai (repeat for several)")
    models.add_argument("--open-weights", action="store_true", help="only open-weight models")
    models.add_argument("--include-retired", action="store_true",
                        help="also list the models retired by today, marked retired")
    models.add_argument("--prices", type=Path, help="user price file to apply")
    models.add_argument("--json", action="store_true", help="print structured JSON")
    models.set_defaults(handler=_models)


def _models(args: argparse.Namespace) -> int:
    from shoal.catalog import configured_catalog, retired, today

    _use_ledger_and_prices(args)
    catalog = configured_catalog()
    judged_on = today()
    providers = _chosen_providers(args.provider, catalog)
    chosen = [
        entry
        for entry in catalog.models
        if (providers is None or entry.provider in providers)
        and (not args.open_weights or entry.open_weights)
    ]
    rows = [entry for entry in chosen if args.include_retired or not retired(entry)]
    left_out = len(chosen) - len(rows)
    if args.json:
        _print_json({
            "catalog_date": catalog.catalog_date,
            "retirements_judged_on": judged_on.isoformat(),
            "retired_left_out": left_out,
            "models": [vars(entry) | {"retired": retired(entry)} for entry in rows],
        })
        return 0

    print(f"{'model':<34} {'provider':<10} {'in $/M':>7} {'out $/M':>8} {'context':>9}  "
          f"{'quality':<7}  retirement")
    for entry in rows:
        print(_model_line(entry, retired(entry)))
    summary = f"{len(rows)} models, prices of {catalog.catalog_date}"
    if left_out:
        summary += (f"; {left_out} retired by {judged_on.isoformat()} left out "
                    "(--include-retired lists them)")
    print(summary)
    return 0


def _chosen_providers(given: Sequence[str] | None, catalog: Catalog) -> set[str] | None:
    """The providers ``--provider`` named (any case), or None for all; an unknown one is an
    error listing the known ones."""
    if given is None:
        return None
    providers = sorted({entry.provider for entry in catalog.models})
    for provider in given:
        if provider.lower() not in providers:
            raise ValueError(f"no provider {excerpt(provider)} in the catalog; the providers "
                             f"are {', '.join(providers)}")
    return {provider.lower() for provider in given}


def _model_line(entry: ModelEntry, is_retired: bool) -> str:
    """One row of `shoal models`: its retirement reads ``retired 2026-11-30`` once the day has
    come, ``retires 2027-01-15`` while it is announced, and nothing when none is."""
    quality = "-" if entry.quality is None else f"{entry.quality:.3f}"
    retirement = ""
    if entry.deprecation_date is not None:
        retirement = f"{'retired' if is_retired else 'retires'} {entry.deprecation_date}"
    line = (f"{entry.id:<34} {entry.provider:<10} {entry.input_per_mtok:>7g} "
            f"{entry.output_per_mtok:>8g} {entry.context_window:>9,}  {quality:<7}  {retirement}")
    return line.rstrip()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every `shoal` subcommand."""
    parser: argparse.ArgumentParser = CommandParser(
        prog="shoal",
        description="Which model should do this task, how many tokens it is, what it costs, and "
        "whether it runs on your machine. `shoal serve` runs the MCP server.",
    )
    parser.add_argument("--version", action="version", version=f"shoal {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail to stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _add_serve,
        _add_route,
        _add_count,
        _add_truncate,
        _add_split,
        _add_cost,
        _add_models,
        _add_hw,
    ):
        add(commands)
    for add in (_add_budget, _add_ledger, _add_report, _add_feedback):
        add(commands)
    from shoal.privacy_cli import add_privacy
    from shoal.router_cli import add_eval, add_fit

    add_fit(commands)
    add_eval(commands)
    add_privacy(commands)
    return parser


# The exit status a shell gives a command stopped by Ctrl-C: 128 + SIGINT (2); and by kill's
# default signal or a service manager stopping it: 128 + SIGTERM (15).
INTERRUPTED_STATUS = 130
TERMINATED_STATUS = 143


class Terminated(BaseException):
    """SIGTERM, raised where the command is, so that it stops as Ctrl-C stops it: files being
    written are removed half-made, transactions rolled back, and one line says so."""


@contextmanager
def _termination_raised() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` while the block runs (in the main thread only, where
    Python runs signal handlers), and is handled as before afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signal_number: int, frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `shoal` command."""
    command = "shoal"
    written: list[Path] = []
    stand_in_for_closed_streams()
    write_utf8()
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except OSError as error:
            # --help or --version could not be written: as any other command's output, a
            # closed stdout said as every command says it.
            if stdout_closed():
                _print_error(command, STDOUT_CLOSED)
                return 2
            return _output_failed(command, error)
        # Errors lead with the command as argparse's own do (`shoal ledger record: error: ...`).
        command = " ".join(filter(None, ["shoal", args.command, getattr(args, "action", None)]))
        if stdout_closed():
            # Refused before the work, for every command alike: each shows its result (`serve`
            # its MCP answers) on stdout, and a change made unseen would read as a failure.
            _print_error(command, STDOUT_CLOSED)
            return 2
        # An ASCII-only locale hands UTF-8 text over as surrogates for its bytes: read it back.
        decode_text_arguments(parser, args, file_name_types=(_ledger_location,))
        # Refused here, for every command alike, before a text function meets the surrogates
        # that stand for the bytes; a ledger location is a file name, whatever its bytes.
        problem = undecodable_argument(parser, args, file_name_types=(_ledger_location,))
        if problem is not None:
            _print_error(command, problem)
            return 2
        # `shoal serve` stops on SIGTERM as it did: uvicorn takes it over HTTP.
        terminable = _termination_raised() if args.command != "serve" else nullcontext()
        with atomic_file.recording(written), terminable:
            return _run(command, args)
    except KeyboardInterrupt as stop:
        # Ctrl-C is how a user stops a long command: one line and the shell's status, not a
        # traceback (not under -v either: where it stopped is no fault to debug). A file being
        # written is left as it was, as every output file is replaced in one step
        # (shoal.atomic_file). `shoal serve` stops quietly in its transports.
        print(f"{command}: interrupted{_written_before(written)}{_what_is_left(stop)}",
              file=sys.stderr)
        return INTERRUPTED_STATUS
    except Terminated as stop:
        print(f"{command}: terminated{_written_before(written)}{_what_is_left(stop)}",
              file=sys.stderr)
        return TERMINATED_STATUS


def _what_is_left(stop: BaseException) -> str:
    """``; nothing of the import was recorded``: what a command stopped says it left, if it
    said so when it stopped."""
    return f"; {stop.args[0]}" if stop.args else ""


def _written_before(written: Sequence[Path]) -> str:
    """What a stopped command had put in place whole, so a stop that came after its file was
    written does not read as a failed write: `` after writing router.json in full``."""
    if not written:
        return ""
    if len(written) == 1:
        return f" after writing {shown_path(str(written[0]))} in full"
    return (f" after writing {len(written):,} files in full, the last "
            f"{shown_path(str(written[-1]))}")


def _run(command: str, args: argparse.Namespace) -> int:
    """Run the subcommand ``args`` chose; a user's mistake is one line naming ``command``."""
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        with summaries_kept_off_stdout(args):
            return int(args.handler(args) or 0)
    except ValueError as error:
        subcommand = getattr(error, "subcommand", None)  # `shoal hw` parses its own words
        _print_error(f"{command}{f' {subcommand}' if subcommand else ''}", str(error))
        return 2
    except OSError as error:
        return _output_failed(command, error)
    except RecursionError:
        _print_error(command, "the input is nested too deeply")
        return 2
    except (TypeError, OverflowError) as error:
        # A value of the wrong type or size that no check above caught: still the input's
        # fault far more often than the code's, so an error, with the traceback under -v.
        logger.debug("%s failed", command, exc_info=True)
        _print_error(command, str(error))
        return 2


def _output_failed(command: str, error: OSError) -> int:
    """The status of a command stopped by ``error``: a file the user named (stdout among them)
    cannot be written or read, their mistake rather than a crash. A reader that stopped reading
    (``| head``) has all it wanted."""
    if isinstance(error, BrokenPipeError):
        return 0
    where = f" {error.filename}:" if error.filename else ""
    _print_error(command, f"{where} {error.strerror or error}".lstrip())
    return 2


def _print_error(command: str, message: str) -> None:
    """``COMMAND: error: MESSAGE`` on stderr, with what the user typed escaped where it is not
    printable (see `shoal.excerpts.escaped`): some messages quote it raw."""
    print(f"{command}: error: {escaped(message)}", file=sys.stderr)


def summaries_kept_off_stdout(args: argparse.Namespace) -> AbstractContextManager[object]:
    named = [value for value in vars(args).values()
             if isinstance(value, Path) and str(value) in STDOUT_PATHS]
    return redirect_stdout(sys.stderr) if named else nullcontext()


STDIN_CLOSED_FOR_STDIO = ("standard input is closed, and the stdio server reads its MCP requests "
                          "from it; start it from an MCP host, which opens it, or use --http")


def _serve(args: argparse.Namespace) -> int:
    from shoal import hardware
    from shoal.feedback import DB_ENVIRONMENT
    from shoal.http_transport import read_token, serve_http
    from shoal.server import build_server
    from shoal.stdio_transport import serve_stdio

    _check_transport_options(args)
    if not args.http and stdin_closed():
        # The null device holding fd 0 reads as an empty input: the server would start, say it
        # is ready and stop at once with status 0, as if a host had come and gone.
        raise ValueError(STDIN_CLOSED_FOR_STDIO)
    _hide_secrets_in_the_log()
    groups = None if args.tools is None else _served_groups(args.tools)
    _use_ledger_and_prices(args)
    for variable in ("SHOAL_LEDGER", DB_ENVIRONMENT):
        _pin_relative_path(variable)
    _use_user_files(hardware.DEVICES_ENVIRONMENT_VARIABLE, args.devices)
    _use_user_files(hardware.ARCHITECTURES_ENVIRONMENT_VARIABLE, args.architectures)
    # A file's error names the option or variable that set it, as a --root's error does.
    _check_serving_files(groups, "--ledger" if args.ledger else _ledger_variable(),
                         _user_file_options(args))
    if not args.read_only and (groups is None or "routing" in groups):
        _check_feedback_database()
    router = _served_router(args.router, groups)
    token = None
    if args.http:
        # Read before the start-up log, as the other files are; read_token calls its file
        # "the token file", which the user typed as --token-file.
        with options_named({"the token file": "--token-file"}):
            token = read_token(args.token_file)
    # Without a file tool there is no folder to guard, so a host may start it anywhere.
    roots = _file_tool_roots(args.root) if args.root or _serves_file_tools(groups) else []
    if not args.verbose:
        # Start-up facts (the folders the file tools may read, where spend and outcomes are
        # kept, readiness) are INFO; a host shows the server's stderr as its log.
        logging.getLogger("shoal").setLevel(logging.INFO)
    # The shipped data files are checked and the vocabularies load here, before the server's
    # task group, so that a damaged install stops the start with one line naming the file
    # rather than an error group from inside it, or a first call that fails.
    from shoal import shipped_data
    from shoal.tokens import count_tokens

    shipped_data.verify_all()

    for encoding in ("o200k_base", "cl100k_base"):
        count_tokens("warm up", encoding=encoding)
    server = build_server(read_only=args.read_only, groups=groups, roots=roots, router=router)
    _ignore_ctrl_c_once_exiting()
    if not args.http:
        serve_stdio(server)
        return 0

    _check_port_free(args.host, args.port)
    print(
        f"shoal: serving MCP over streamable HTTP at http://{_url_host(args.host)}:{args.port}/mcp"
        + (" (bearer token required)" if token else ""),
        file=sys.stderr,
    )
    serve_http(
        server,
        host=args.host,
        port=args.port,
        allowed_hosts=args.allow_host,
        token=token,
        stateless=args.stateless,
        body_timeout_s=args.body_timeout,
        session_idle_timeout_s=args.session_idle_timeout,
    )
    return 0


def _pin_relative_path(variable: str) -> None:
    """Make a relative file path in ``variable`` (the ledger's, set by --ledger too, or the
    feedback database's) absolute, from the directory the server starts in.

    A host starts the server in a directory of its choosing (often /), which the user may not
    know: the start-up log then names the file truly, and every later call uses that file. A
    URL, or a file: URI the ledger refuses, is left as it is.
    """
    value = os.environ.get(variable, "").strip()
    is_url = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", value) or value[:5].lower() == "file:"
    if not value or is_url:
        return
    os.environ[variable] = str(Path(value).expanduser().absolute())


def _ignore_ctrl_c_once_exiting() -> None:
    """Have a Ctrl-C that comes while Python exits, after the server has stopped, do nothing.

    Python's exit takes about half a second once a server has run (unloading the SDK), and it
    restores the signal's default action first: the second press of a quick double Ctrl-C would
    then kill the stopped server with status 130 instead of the quiet 0. An ignored signal stays
    ignored through the exit. Set at exit, so a caller of `main` in its own process keeps its
    Ctrl-C.
    """
    if threading.current_thread() is threading.main_thread():
        atexit.register(signal.signal, signal.SIGINT, signal.SIG_IGN)


class _SecretsHidden(logging.Filter):
    """Every log line with the secrets and personal data in it replaced by their kind.

    The MCP SDK logs a failed tool call's error (at INFO, shown with -v) as the tool raised it,
    before shoal's middleware hides what the error quotes of a caller's arguments; a host keeps
    the server's stderr as its log. A traceback's text is left as it is.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        from shoal.privacy import secrets_hidden

        message = record.getMessage()
        hidden = secrets_hidden(message)
        if hidden != message:
            record.msg, record.args = hidden, None
        return True


def _hide_secrets_in_the_log() -> None:
    for handler in logging.getLogger().handlers:
        handler.addFilter(_SecretsHidden())


def _served_groups(value: str) -> list[str]:
    """The --tools groups, refused when none or an unknown one is named."""
    from shoal.server_policy import TOOL_GROUPS

    groups = once_each(split_ids(value, "--tools"), "--tools")
    unknown = sorted(set(groups) - set(TOOL_GROUPS))
    if groups and not unknown:
        return groups
    problem = f"unknown group(s) {', '.join(unknown)}" if unknown else "no group"
    raise ValueError(f"--tools names {problem}; choose among {', '.join(TOOL_GROUPS)}")


def _serves_file_tools(groups: Sequence[str] | None) -> bool:
    """Whether the served --tools groups (None: all) include a tool that reads files."""
    from shoal.server import FILE_TOOL_GROUPS

    return groups is None or any(group in FILE_TOOL_GROUPS for group in groups)


def _user_file_options(args: argparse.Namespace) -> dict[tuple[str, str], str]:
    """The option that named each user device and architecture file, by the environment
    variable it was added to and its path there (see `_use_user_files`)."""
    from shoal import hardware

    given = ((hardware.DEVICES_ENVIRONMENT_VARIABLE, "--devices", args.devices),
             (hardware.ARCHITECTURES_ENVIRONMENT_VARIABLE, "--architectures", args.architectures))
    return {(variable, str(path.resolve())): option
            for variable, option, paths in given for path in paths}


def _check_serving_files(
    groups: Sequence[str] | None,
    ledger_source: str | None,
    user_file_options: Mapping[tuple[str, str], str],
) -> None:
    """Read the user's files now, so a bad one stops the server at start-up with its error
    rather than failing every tool call that needs it: the device and architecture files, whose
    error leads with the option in ``user_file_options`` that named the file, else with the
    variable (SHOAL_DEVICES, SHOAL_ARCHITECTURES); and, when the budget tools are served, the
    ledger's location, whose error leads with ``ledger_source`` (--ledger or SHOAL_LEDGER) when
    one set it. The price file was checked by `_use_ledger_and_prices`; SHOAL_TODAY, which
    every priced answer reads, is checked here too."""
    from shoal import hardware
    from shoal.catalog import today
    from shoal.ledger import check_location

    today()
    hardware.reset_tables()
    try:
        hardware.list_devices()
    except hardware.UserFileError as error:
        source = user_file_options.get((error.variable, error.path), error.variable)
        raise ValueError(f"{source}: {error.problem}") from None
    if groups is None or "budget" in groups:
        try:
            check_location()
        except ValueError as error:
            if ledger_source is None:
                raise
            raise ValueError(f"{ledger_source}: {error}") from None


def _check_feedback_database() -> None:
    """Refuse a SHOAL_FEEDBACK_DB that record_outcome (a routing tool) would refuse at every
    call: a folder, a pipe or a device. Its error leads with the variable when one set it."""
    from shoal.feedback import DB_ENVIRONMENT, check_db_path

    try:
        check_db_path()
    except ValueError as error:
        if not os.environ.get(DB_ENVIRONMENT, "").strip():
            raise
        raise ValueError(f"{DB_ENVIRONMENT}: {error}") from None


def _served_router(given: Path | None, groups: Sequence[str] | None) -> str | None:
    """The router file route_task chooses with: see `_configured_router`; None when the
    routing tools are not served."""
    routing = groups is None or "routing" in groups
    if given is not None and not routing:
        raise ValueError("--router sets the router of route_task, which --tools leaves out: "
                         "add routing to --tools, or leave --router out")
    return _configured_router(given) if routing else None


def _configured_router(given: Path | None) -> str | None:
    """--router, else SHOAL_ROUTER (empty: not set), else None for the shipped router, as an
    absolute path. It is read now, so a bad file stops the command with its error led by the
    option or variable that named it."""
    # Not from shoal.server: importing the MCP SDK would add a second to every `shoal route`.
    from shoal.router import ROUTER_ENVIRONMENT_VARIABLE, load_router

    named, path = "--router", given
    if path is None:
        named = ROUTER_ENVIRONMENT_VARIABLE
        configured = os.environ.get(ROUTER_ENVIRONMENT_VARIABLE, "").strip()
        path = Path(configured).expanduser() if configured else None
    if path is None:
        return None

    # Resolved now: a later change of directory must not change the file.
    file = str(path.resolve())
    try:
        load_router(file)
    except ValueError as error:
        raise ValueError(f"{named}: {error}") from None
    return file


def _check_root_folders(roots: Sequence[Path], why: str) -> None:
    """Refuse a --root that is missing or not a folder, saying ``why`` it must be one."""
    from shoal.files import folder_problem

    for root in roots:
        problem = folder_problem(root)
        if problem is not None:
            raise ValueError(
                f"--root {shown_path(str(root))} {problem}: {why}{_unexpanded_hint(root)}")


def _unexpanded_hint(path: Path) -> str:
    """What to do about a path that a shell would have expanded but nothing here did: a host's
    configuration passes ``~/project`` or ``$HOME/project`` to the server as written."""
    text = str(path)
    if not text.startswith("~") and "$" not in text:
        return ""
    return (". A host's configuration does not expand ~ or $VARIABLES as a shell does (nor "
            "does a shell inside quotes): give the absolute path")


def _file_tool_roots(roots: Sequence[Path]) -> list[str]:
    """The folders the file tools may read: each --root, else the current directory.

    A desktop host may start the server in / or the user's home folder; serving either by
    default would let a model read every file the user can, so the user must name the folder.
    """
    _check_root_folders(roots, "the file tools could read nothing there")
    if roots:
        return [str(root) for root in roots]

    current = Path.cwd()
    home = Path(os.path.expanduser("~")).resolve()
    if current == Path(current.anchor) or current == home:
        where = "the filesystem root" if current == Path(current.anchor) else "your home folder"
        raise ValueError(
            f"no --root given and the current directory {current} is {where}: the file tools "
            "would read every file there. Pass --root /absolute/path/to/project with the folder "
            "they may read (repeatable)"
        )
    return [str(current)]


def _folder(value: str) -> Path:
    """A folder option's path; an empty one would silently mean the current folder."""
    if not value.strip():
        raise argparse.ArgumentTypeError("an empty path names no folder")
    return Path(value)


def _port(value: str) -> int:
    port = whole_number(value)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1-65535, got {port}")
    return port


# The default of --body-timeout: shoal.http_transport.DEFAULT_BODY_TIMEOUT_S, which is not
# imported while the parser is built. The most is an hour: the largest body the size limit lets
# through takes far less on any working link. The least is a tenth of a second: below it even a
# client on the same machine may be refused before its body, however short, has arrived.
DEFAULT_BODY_TIMEOUT_S = 30.0
MIN_BODY_TIMEOUT_S = 0.1
MAX_BODY_TIMEOUT_S = 3600


# The default of --session-idle-timeout: shoal.http_transport.DEFAULT_SESSION_IDLE_TIMEOUT_S. The
# least is a second, below which a session could end between two quick requests of its client;
# the most a day, as a session idle longer has been abandoned.
DEFAULT_SESSION_IDLE_TIMEOUT_S = 30 * 60.0
MIN_SESSION_IDLE_TIMEOUT_S = 1
MAX_SESSION_IDLE_TIMEOUT_S = 24 * 3600


def _seconds_between(what: str, least: float, most: float) -> Callable[[str], float]:
    """An argparse type for a number of seconds from ``least`` to ``most``, its refusal naming
    ``what`` (``body timeout``)."""

    def seconds(value: str) -> float:
        number = decimal_number(value)
        if not least <= number <= most:
            raise argparse.ArgumentTypeError(
                f"{what} must be at least {least:g} and at most {most:,} seconds, got "
                f"{grouped_number(number)}")
        return number

    return seconds


def _allowed_host(value: str) -> str:
    """An --allow-host value, refused unless it is NAME or NAME:PORT (it could match nothing)."""
    from shoal.http_hosts import parse_allowed_host

    try:
        parse_allowed_host(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value.strip()


def _check_transport_options(args: argparse.Namespace) -> None:
    """Options that only mean something over HTTP are refused without --http, not ignored, and
    the session idle timeout with --stateless, which keeps no session."""
    timing_out_sessions = args.session_idle_timeout != DEFAULT_SESSION_IDLE_TIMEOUT_S
    if args.http and args.stateless and timing_out_sessions:
        raise ValueError("--session-idle-timeout needs sessions, which --stateless does not keep")
    if args.http:
        return
    given = [
        flag
        for flag, value in (
            ("--stateless", args.stateless),
            ("--allow-host", args.allow_host),
            ("--token-file", args.token_file),
            ("--host", args.host != "127.0.0.1"),
            ("--port", args.port != 8765),
            ("--body-timeout", args.body_timeout != DEFAULT_BODY_TIMEOUT_S),
            ("--session-idle-timeout", timing_out_sessions),
        )
        if value
    ]
    if given:
        verb = "needs" if len(given) == 1 else "need"
        raise ValueError(f"{', '.join(given)} {verb} --http (stdio has no address)")


def _bind_address(text: str) -> str:
    """An address to bind, as the socket takes it: ``[::1]``, as a URL writes it, is ``::1``."""
    if text.startswith("[") and text.endswith("]"):
        return text[1:-1]
    return text


def _url_host(host: str) -> str:
    """``host`` as a URL writes it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def _check_port_free(host: str, port: int) -> None:
    """Fail with a clear message before announcing an address that is already taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # Bind as uvicorn's listener will (asyncio sets SO_REUSEADDR on POSIX), so that the
        # TIME-WAIT connections a just-stopped server leaves behind do not read as "in use".
        # Windows is left alone: there the option lets a socket share a port in active use.
        if os.name == "posix" and sys.platform != "cygwin":
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ValueError(
                f"cannot listen on {_url_host(host)}:{port}: {error.strerror}"
            ) from None


def _use_ledger_and_prices(args: argparse.Namespace) -> None:
    """Point this process (and the server's tools) at the chosen ledger and price file.

    A price file that cannot be used is refused here, under the name the user gave it
    (--prices, or SHOAL_PRICES from the environment, perhaps set long ago in a profile).
    """
    from shoal.catalog import PRICES_ENVIRONMENT_VARIABLE, load_catalog

    if getattr(args, "ledger", None):
        os.environ["SHOAL_LEDGER"] = args.ledger
    given = os.environ.get(PRICES_ENVIRONMENT_VARIABLE, "").strip()
    named = PRICES_ENVIRONMENT_VARIABLE
    if getattr(args, "prices", None) is not None:
        given, named = str(args.prices.resolve()), "--prices"
    if not given:
        return
    # Checked before it is set, so that a refused file is not left in the environment.
    try:
        load_catalog(given)
    except ValueError as error:
        raise ValueError(f"{named}: {error}") from None
    os.environ[PRICES_ENVIRONMENT_VARIABLE] = given


def _known_model(catalog: Catalog, model: str, option: str) -> None:
    """Refuse an unknown model under the option that named it."""
    if not model.strip():
        raise ValueError(f"{option} names no model; give a catalog model id, or leave {option} "
                         "out")
    try:
        catalog.model(model)
    except ValueError as error:
        raise ValueError(f"{option}: {error}") from None


def _read_json(
    path: Path, name: str, parse_float: Callable[[str], Any] | None = None
) -> object:
    """The JSON document in a file the user named (standard input for '-'), under the file rules.
    An object that gives a key twice is read as a `shoal.files.RepeatedKeyObject`, for the
    caller to refuse: a plain reader would keep the last value without a word. ``parse_float``
    reads numbers with a fraction or exponent, as `json.loads` takes it.
    """
    from shoal.files import object_keeping_repeated_keys, parse_json

    text = _read_input(path, name)
    try:
        return parse_json(text, _shown_path(path), object_pairs_hook=object_keeping_repeated_keys,
                          parse_float=parse_float)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None


def _budget(args: argparse.Namespace) -> int:
    from shoal import spend_render
    from shoal.budget import (
        DEFAULT_MIN_TRUNCATED_TOKENS,
        fit_budget,
        parse_items,
        parse_messages,
        trim_chat,
    )
    from shoal.files import RepeatedKeyObject

    _use_ledger_and_prices(args)
    if args.action == "trim":
        if args.output is not None:
            check_output_file(args.output, "--output", "the kept messages", kind="chat",
                              inputs=[(None, args.messages), *price_file_input(args.prices)])
        # Read as `shoal count --chat` reads a chat request, so that the two take the same files.
        text = _read_input(args.messages, "messages file",
                           max_bytes=args.max_file_bytes or DEFAULT_MAX_FILE_BYTES,
                           raise_with="--max-file-bytes")
        with _errors_in_file("messages file", args.messages):
            messages, tools = _chat_request(text, system_as_message=False)
            messages = parse_messages(messages)
        with options_named(BUDGET_OPTIONS):
            trimmed = trim_chat(messages, budget_tokens=args.budget, model=args.model,
                                tools=tools)
        if args.output is not None:
            kept = json.dumps(list(trimmed.messages), indent=2, ensure_ascii=False)
            atomic_file.write_text(args.output, kept + "\n")
        if args.json:
            _print_json(dataclasses.asdict(trimmed))
        else:
            print(spend_render.trimmed_chat(trimmed))
        return 0

    items = _read_json(args.items, "items file") if args.items is not None else []
    with _errors_in_file("items file", args.items):
        if not isinstance(items, list):
            raise ValueError("must hold a JSON list of items")
        for index, item in enumerate(items):
            if isinstance(item, RepeatedKeyObject):
                # {"text": "short", "text": "long"} would be fitted as the long text.
                raise ValueError(f"items[{index}]: {item.refusal()}")
        parsed = parse_items(items)
    # A --file path means what it means to the user's shell: resolved from the current folder,
    # not from the first --root as a path inside the items file is. The item keeps the path as
    # typed for its id, so an error names both.
    _refuse_standard_input(args.file, "give the text as an item of ITEMS_FILE, which '-' "
                           "reads from standard input")
    real_paths = [_file_item_path(path) for path in args.file]
    _refuse_repeated_files(args.file, real_paths)
    parsed += parse_items({"id": _file_item_id(path), "path": real}
                          for path, real in zip(args.file, real_paths, strict=True))
    if not parsed:
        # An empty plan would read as "everything fits" when nothing was asked.
        if args.items is None:
            raise ValueError("no items to fit: give ITEMS_FILE (a JSON list of items) or --file "
                             "PATH")
        raise ValueError(f"items file: {_shown_path(args.items)} holds no items and no --file "
                         "is given: nothing to fit")
    min_truncated_tokens = args.min_truncated_tokens
    if min_truncated_tokens is None:
        min_truncated_tokens = DEFAULT_MIN_TRUNCATED_TOKENS
    elif not args.truncate_last:
        raise ValueError("--min-truncated-tokens goes with --truncate-last")
    _check_root_folders(args.root, "files are read only from folders")
    with options_named(BUDGET_OPTIONS):
        plan = fit_budget(
            parsed,
            budget_tokens=args.budget,
            model=args.model,
            truncate_last=args.truncate_last,
            roots=args.root or [Path.cwd()],
            min_truncated_tokens=min_truncated_tokens,
        )
    # A reason can cite a parameter ("fewer than min_truncated_tokens (32)"): it names the
    # option typed, as the errors do.
    items = tuple(
        dataclasses.replace(item, reason=_with_option_names(item.reason, BUDGET_OPTIONS))
        for item in plan.items
    )
    plan = dataclasses.replace(plan, items=items)
    if args.json:
        _print_json(dataclasses.asdict(plan))
    else:
        print(spend_render.fit_plan(plan))
    return 0


def _file_item_path(path: Path) -> str:
    """The real path of a --file item: ``~`` is the home folder (as in an items file, and as the
    shell makes it unless quoted), and a relative path starts at the current folder. A path
    written under /proc, /dev or /sys is refused here, where it is still as written: the real
    path of /dev/stdin is a file when standard input is one."""
    from shoal.files import home_expanded, refused_prefix

    try:
        expanded = home_expanded(path)
        refused = refused_prefix(Path(os.path.abspath(expanded)))
        if refused is not None:
            raise ValueError(f"{_shown_path(path)} is under {refused}, which shoal never reads")
        return os.path.realpath(expanded)
    except ValueError as error:
        raise ValueError(f"--file {error}") from None


def _refuse_repeated_files(typed: Sequence[Path], real_paths: Sequence[str]) -> None:
    """Refuse a file given twice by --file, by any path (``a.txt``, ``sub/../a.txt``): it
    would go in twice under two ids, where `shoal count` counts it once."""
    first_by_real: dict[str, Path] = {}
    for path, real in zip(typed, real_paths, strict=True):
        first = first_by_real.get(real)
        if first is None:
            first_by_real[real] = path
            continue
        if str(first) == str(path):
            raise ValueError(f"--file {shown_path(str(path))} is given twice; give each file once")
        raise ValueError(f"--file {shown_path(str(first))} and --file {shown_path(str(path))} "
                         "name the same file; give each file once")


def _file_item_id(path: Path) -> str:
    """The id of a --file item: the path as typed, cut in the middle when longer than an id may
    be (a path may be 4,096 characters; its two ends, the folder and the file name, tell it
    apart). A byte of the name that is not UTF-8 is U+FFFD in the id, as `--json` and the MCP
    tools write it: an id, unlike a file name, must be valid text."""
    from shoal.budget import MAX_ID_LENGTH
    from shoal.json_output import without_surrogates

    typed = without_surrogates(str(path))
    if len(typed) <= MAX_ID_LENGTH:
        return typed
    kept = (MAX_ID_LENGTH - 3) // 2
    return f"{typed[:kept]}...{typed[-kept:]}"


# The parameters of fit_budget and trim_chat, and the options of `shoal budget` that set them.
BUDGET_OPTIONS = {
    "budget_tokens": "--budget",
    "min_truncated_tokens": "--min-truncated-tokens",
    "model": "--model",
    "roots": "--root",
}


@contextmanager
def _errors_in_file(name: str, path: Path | None) -> Iterator[None]:
    # What is wrong inside a file the user gave is reported under the file's name: the library's
    # message names the item, this names where it came from.
    try:
        yield
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: {_shown_path(path)}: {error}") from None


def _shown_path(path: Path | None) -> str:
    """A file the user named as errors name it: its path, or "standard input" for '-' (as the
    readers name it when it is not UTF-8 or too large)."""
    return "standard input" if str(path) == "-" else str(path)


def _ledger(args: argparse.Namespace) -> int:
    from shoal import spend_render
    from shoal.ledger import open_ledger, record_usage, set_limit

    _use_ledger_and_prices(args)
    result: Any
    if args.action == "import":
        return _import_usage(args)
    if args.action == "record":
        # A count left out is 0, as in Python and MCP; record_usage refuses a call of no tokens.
        with options_named(LEDGER_OPTIONS):
            result = record_usage(
                args.scope,
                args.model,
                input_tokens=args.input_tokens,
                output_tokens=args.output_tokens,
                cached_input_tokens=args.cached_input_tokens,
                cache_write_tokens=args.cache_write_tokens,
                reasoning_tokens=args.reasoning_tokens,
                decision_id=args.decision_id,
                request_id=args.request_id,
                at=args.at,
            )
        text = spend_render.usage_record(result)
    elif args.action == "limit" and args.remove:
        return _remove_limit(args)
    elif args.action == "limit":
        with options_named(LEDGER_OPTIONS):
            result = set_limit(args.scope, args.usd, hard=not args.soft, period=args.period)
        text = spend_render.budget_limit(result)
    else:
        # Reading: a ledger file that is not there is a mistyped path, not one with no spend.
        ledger = open_ledger(must_exist=True)
        with options_named(LEDGER_OPTIONS):
            result = ledger.budget_status(args.scope, window_hours=args.window)
        text = spend_render.budget_status(result)
    if args.json:
        _print_json(dataclasses.asdict(result))
    else:
        print(text)
    return 0


def _import_usage(args: argparse.Namespace) -> int:
    """`shoal ledger import FILE`: every call of a JSONL usage log, in one transaction."""
    from shoal import spend_render
    from shoal.ledger import ImportRecordError, RepeatedRequestError, import_usage
    from shoal.usage_log import UsageLog

    text = _read_input(args.file, max_bytes=args.max_file_bytes,
                       raise_with="--max-file-bytes")
    log = UsageLog(text, _shown_path(args.file))
    bar = ProgressLine(args.progress)
    try:
        result = import_usage(log, progress=lambda step, done, total: bar(step, done, total,
                                                                           "records"))
    except (KeyboardInterrupt, Terminated) as stop:
        # The line that says the import stopped says what it left: one transaction, so all
        # of it or nothing.
        raise type(stop)(_import_left(getattr(stop, "import_recorded", None))) from None
    except ImportRecordError as error:
        # The record named by its line, not its place among the records: blank lines differ.
        problem = error.problem
        if isinstance(error.__cause__, RepeatedRequestError):
            problem = error.__cause__.said(f"line {log.line(error.__cause__.earlier)}")
        raise log.refusal(error.index, problem) from None
    finally:
        bar.close()
    if args.json:
        _print_json(dataclasses.asdict(result))
    else:
        print(spend_render.usage_import(result, log.shown))
    return 0


def _import_left(recorded: bool | None) -> str:
    """What an import stopped by Ctrl-C or SIGTERM left in the ledger."""
    if recorded is None:
        return ("the stop came as the import was committed: it was recorded whole or not at "
                "all, as `shoal ledger status` shows")
    return "the import was recorded whole" if recorded else "nothing of the import was recorded"


def _remove_limit(args: argparse.Namespace) -> int:
    """`shoal ledger limit --remove`: the scope's limit is removed; its spend stays."""
    from shoal.ledger import open_ledger

    if args.soft or args.period is not None:
        raise ValueError("--remove takes no --soft or --period: it removes the scope's limit, "
                         "whatever it was")
    # Removing from a ledger not made yet would make one to remove nothing from.
    with options_named(LEDGER_OPTIONS):
        removed = open_ledger(must_exist=True).remove_limit(args.scope)
    if args.json:
        _print_json({"scope": args.scope, "removed": removed})
    elif removed:
        print(f"{args.scope}: limit removed; its spend is kept")
    else:
        print(f"{args.scope}: had no limit; nothing changed")
    return 0


# The token counts of `shoal ledger record`, as record_usage names them, and their options.
LEDGER_TOKEN_OPTIONS = {
    "input_tokens": "--input",
    "output_tokens": "--output",
    "cached_input_tokens": "--cached",
    "cache_write_tokens": "--cache-write",
    "reasoning_tokens": "--reasoning",
}
LEDGER_OPTIONS = {
    **LEDGER_TOKEN_OPTIONS,
    "scope": "--scope",
    "model": "--model",
    "decision_id": "--decision-id",
    "request_id": "--request-id",
    "at": "--at",
    "usd": "--usd",
    "period": "--period",
    "window_hours": "--window",
}


def _report(args: argparse.Namespace) -> int:
    from shoal import spend_render
    from shoal.catalog import configured_catalog
    from shoal.ledger import open_ledger
    from shoal.report import SHORT_LIST, savings_report, spend_svg

    if args.svg is not None:
        _check_report_svg(args)
    _use_ledger_and_prices(args)
    if args.baseline is not None:
        _known_model(configured_catalog(), args.baseline, "--baseline")
    # A ledger file that is not there is a mistyped path; opened here, the report reuses it.
    open_ledger(must_exist=True)
    # "than since" too: the check of the period names both ends ("until must be later than
    # since"), and a plain word is an option only where it leads the message.
    options = {"since": "--since", "until": "--until", "than since": "than --since",
               "scope": "--scope", "baseline": "--baseline", "bucket": "--bucket"}
    # JSON is read by programs, which want every scope; a terminal wants the largest.
    listed = None if args.all or args.json else SHORT_LIST
    with options_named(options):
        report = savings_report(args.scope, since=args.since, until=args.until,
                                baseline=args.baseline, bucket=args.bucket, max_scopes=listed,
                                max_models=listed)
    if args.svg is not None:
        atomic_file.write_text(args.svg, spend_svg(report))
        print(f"shoal report: wrote {listed_name(str(args.svg))}", file=sys.stderr)
    if args.json:
        _print_json(dataclasses.asdict(report))
    else:
        print(spend_render.savings_report(
            report, omitted_advice="the rest are summed; --all lists every scope and model"))
    return 0


def _check_report_svg(args: argparse.Namespace) -> None:
    """Refuse a --svg path that is the ledger or the price file, or a file other than an SVG."""
    from shoal.ledger import default_location, is_postgres_url

    named_by = _ledger_variable() or "the default ledger"
    ledger = (None, args.ledger) if args.ledger else (named_by, default_location())
    inputs = [*price_file_input(args.prices)]
    if not is_postgres_url(str(ledger[1])):
        inputs.append(ledger)
    check_output_file(args.svg, "--svg", "the chart", kind="svg", inputs=inputs)


def _ledger_variable() -> str | None:
    """SHOAL_LEDGER when it names the ledger (an empty value counts as unset), else None."""
    return "SHOAL_LEDGER" if os.environ.get("SHOAL_LEDGER", "").strip() else None


def _use_user_files(variable: str, paths: Sequence[Path]) -> None:
    """Add files to an environment variable that names user data files, as PATH does."""
    if paths:
        existing = [part for part in os.environ.get(variable, "").split(os.pathsep) if part]
        os.environ[variable] = os.pathsep.join(
            [*existing, *(str(path.resolve()) for path in paths)]
        )


def _route(args: argparse.Namespace) -> int:
    from shoal import render
    from shoal.batch_cli import Shown
    from shoal.catalog import configured_catalog
    from shoal.router import route

    if (args.prompt is None) == (args.file is None):
        raise ValueError("give either one PROMPT or --file with a JSONL batch")
    if args.json and args.jsonl:
        raise ValueError("give --json (one document) or --jsonl (a line per decision), not both")
    if args.file is None:
        _refuse_batch_options(args)
    conversation = [option for option, value in (("--history", args.history),
                                                 ("--previous-model", args.previous_model))
                    if value is not None]
    if args.file is not None and conversation:
        # A batch holds independent prompts; one conversation's turns or model would be applied
        # to every one of them.
        raise ValueError(f"--file routes independent prompts and takes no "
                         f"{' or '.join(conversation)}, which is about one conversation; route "
                         "that conversation's PROMPT alone")
    _check_shown_parts(args)
    candidates = None if args.candidates is None else _candidate_ids(",".join(args.candidates))
    if args.min_quality is not None and args.willingness_to_pay is not None:
        if args.previous_model is None:
            # Under a quality floor the cheapest candidate that reaches it wins; the willingness
            # to pay only weighs a switch away from the previous turn's model.
            raise ValueError(
                "--willingness-to-pay does nothing with --min-quality (the cheapest candidate "
                "predicted to reach it is chosen) unless --previous-model is given; give one "
                "of the two"
            )

    if args.stickiness_margin is not None and args.previous_model is None:
        raise ValueError("--stickiness-margin weighs a switch from --previous-model; give both, "
                         "or neither")
    if args.max_cost is not None and args.max_cost < 0:
        raise ValueError(f"--max-cost must be 0 or more, got {grouped_number(args.max_cost)}; "
                         "leave it out for no limit")

    _use_ledger_and_prices(args)
    options = {
        "catalog": configured_catalog(),
        "candidates": candidates,
        "excluded": once_each(split_ids(",".join(args.exclude or []), "--exclude"),
                              "--exclude"),
        "local_only": args.local_only,
        "max_cost_usd": args.max_cost,
        "min_quality": args.min_quality,
        "willingness_to_pay": args.willingness_to_pay,
        "expected_output_tokens": args.output_tokens,
        "privacy": args.privacy,
        "device": args.device,
        "previous_model": args.previous_model,
        "stickiness_margin": args.stickiness_margin,
    }
    if args.history is not None:
        options["history"] = _read_history(args.history)
    router_file = _configured_router(args.router)
    if router_file is not None:
        from shoal.router import load_router

        options["router"] = load_router(router_file)
    if args.prompt is not None:
        from shoal.files import without_byte_order_mark

        # Read past a byte order mark on stdin, as --file reads past one: it is no part of the
        # prompt, and would change its tokens and decision id.
        limit = _prompt_size_limit(args)
        prompt = (without_byte_order_mark(_read_stdin(max_bytes=limit,
                                                      raise_with="--max-file-bytes"))
                  if args.prompt == "-" else args.prompt)
        with options_named(ROUTE_OPTIONS):
            decision = route(prompt, **options)
        # Shortened as route_task shortens it, so that the reason names no runner-up the answer
        # leaves out.
        decision = Shown(args.max_alternatives, args.max_neighbours).of(decision)
        if args.json:
            _print_json(decision.to_dict())
        else:
            # The constraints and parameters the text names are the options typed here, as in
            # the errors (`breaks --max-cost`); --json keeps the field names.
            shown = (SHOWN_RUNNERS_UP if args.max_alternatives is None
                     else args.max_alternatives)
            text = render.routing_decision(decision, alternatives=shown)
            print(_with_option_names(text, ROUTE_OPTIONS))
        return 0

    from shoal.batch_cli import RowError, route_file

    text = _read_input(args.file, "--file",
                       max_bytes=args.max_file_bytes or DEFAULT_MAX_BATCH_FILE_BYTES,
                       raise_with="--max-file-bytes")
    form = "json" if args.json else "jsonl" if args.jsonl else "text"
    with options_named(ROUTE_OPTIONS):
        try:
            return route_file(text, str(args.file), lambda prompt: route(prompt, **options),
                              form=form, keep_going=args.keep_going,
                              worded=lambda message: _with_option_names(message, ROUTE_OPTIONS),
                              written=Shown(args.max_alternatives, args.max_neighbours),
                              progress=ProgressLine(args.progress or "auto"))
        except RowError as error:
            # What one row holds stops the batch; the message names the row's line.
            raise ValueError(str(error)) from None


def _prompt_size_limit(args: argparse.Namespace) -> int:
    """The size limit of a PROMPT read from stdin; --max-file-bytes beside a PROMPT typed out
    would change nothing, which the user should hear rather than believe it applied."""
    if args.max_file_bytes is not None and args.prompt != "-":
        raise ValueError("--max-file-bytes limits --file and a PROMPT read from stdin ('-'); it "
                         "does not apply to a PROMPT on the command line")
    return int(args.max_file_bytes or DEFAULT_MAX_FILE_BYTES)


def _check_shown_parts(args: argparse.Namespace) -> None:
    """Refuse a --max-alternatives or --max-neighbours out of range, or given where nothing
    they shorten is printed."""
    for option, value, most in (("--max-alternatives", args.max_alternatives, MAX_ALTERNATIVES),
                                ("--max-neighbours", args.max_neighbours, MAX_NEIGHBOURS)):
        if value is not None and not 0 <= value <= most:
            raise ValueError(f"{option} must be 0 to {most:,}, got {grouped_number(value)}")
    as_json = args.json or args.jsonl
    if args.file is not None and args.max_alternatives is not None and not as_json:
        # A batch's table shows no runners-up, and its summary weighs every candidate.
        raise ValueError("--max-alternatives shortens the decisions of --file's --json and "
                         "--jsonl; its table shows no runners-up")
    if args.max_neighbours is not None and not as_json:
        raise ValueError("--max-neighbours shortens the nearest exemplars --json and --jsonl "
                         "list; the text shows none")


def _refuse_batch_options(args: argparse.Namespace) -> None:
    """Refuse the options of a batch given with one PROMPT, saying what each one is for."""
    batch_only = [option for option, given in (("--jsonl", args.jsonl),
                                               ("--keep-going", args.keep_going),
                                               ("--progress", args.progress is not None))
                  if given]
    if not batch_only:
        return
    advice = []
    if args.jsonl:
        advice.append("for one PROMPT's decision as JSON use --json")
    if args.keep_going:
        advice.append("one PROMPT has no rows to skip")
    if args.progress is not None:
        advice.append("one PROMPT is routed in one step, with no progress to show")
    raise ValueError(f"{' and '.join(batch_only)} go{'es' if len(batch_only) == 1 else ''} "
                     f"with --file (a batch): {'; '.join(advice)}")


# The parameters of shoal.router.route and the options of `shoal route` that set them, and the
# functions its errors advise and the commands that do the same.
ROUTE_OPTIONS = {
    "candidates, excluded": "--candidates, --exclude",
    "privacy='block'": "--privacy block",
    "privacy='local'": "--privacy local",
    "privacy='off'": "--privacy off",
    "or device": "or --device",
    "candidates": "--candidates",
    "excluded": "--exclude",
    "local_only": "--local-only",
    "max_cost_usd": "--max-cost",
    "min_quality": "--min-quality",
    "willingness_to_pay": "--willingness-to-pay",
    "expected_output_tokens": "--output-tokens",
    "privacy": "--privacy",
    "device": "--device",
    "history": "--history",
    "previous_model": "--previous-model",
    "stickiness_margin": "--stickiness-margin",
    # The functions a prompt too long for every window is pointed to, and their commands.
    "`shoal.split_chunks()`": "`shoal split`",
    "`shoal.truncate()`": "`shoal truncate`",
    "`shoal.trim_chat()`": "`shoal budget trim`",
}


def _candidate_ids(value: str) -> list[str]:
    """The --candidates ids, refused when empty or when one is named twice."""
    candidates = split_ids(value, "--candidates")
    if not candidates:
        # Most likely an empty shell variable: routing to the whole catalog instead could pick
        # a model the caller meant to leave out.
        raise ValueError("--candidates is empty: list at least one model id, or leave the "
                         "option out to choose among every routable model")
    return once_each(candidates, "--candidates")


def _read_history(path: Path) -> list[dict[str, Any]]:
    """The turns of a --history file, refused (naming the option and the file) when it is not
    a list of turns, or when a turn, or a content part in it, gives a field twice, of which a
    reader keeps the last."""
    from shoal.files import first_repeat, object_keeping_repeated_keys, parse_json
    from shoal.router_policy import check_history

    where = f"--history: {_shown_path(path)}"
    # Its errors name --history already.
    text = _read_input(path, "--history")
    try:
        turns = parse_json(text, _shown_path(path), object_pairs_hook=object_keeping_repeated_keys)
    except ValueError as error:
        raise ValueError(f"--history: {error}") from None
    if not isinstance(turns, list):
        raise ValueError(f"{where}: expected a JSON list of turns")
    found = first_repeat(turns)
    if found is not None:
        place, repeated = found
        raise ValueError(f"{where}: {_place_in('history', place)} gives "
                         f"{excerpt(repeated.repeated)} more than once; give each field once "
                         "(only the last would be read)")
    try:
        check_history(turns)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    return turns


def _feedback(args: argparse.Namespace) -> int:
    from shoal import render
    from shoal.feedback import (
        outcomes_as_rows,
        outcomes_without_prompt,
        record_outcome,
        without_prompt_note,
    )

    _use_ledger_and_prices(args)
    if args.action == "export":
        rows = outcomes_as_rows(args.db)
        if args.json:
            _print_json(rows)
        else:
            for row in rows:
                print(json.dumps(row, sort_keys=True, ensure_ascii=False))
        left_out = outcomes_without_prompt(args.db)
        if left_out:
            # On stderr: stdout carries the rows, which `shoal fit` reads as they are.
            print(f"shoal feedback export: {without_prompt_note(left_out)}", file=sys.stderr)
        return 0

    if args.prompt is not None and args.prompt_file is not None:
        raise ValueError("give --prompt or --prompt-file, not both")
    given = "--prompt" if args.prompt_file is None else f"--prompt-file {args.prompt_file}"
    prompt = args.prompt
    if args.prompt_file is not None:
        prompt = _read_input(args.prompt_file, "--prompt-file")
    if prompt is not None and not prompt.strip():
        raise ValueError(f"{given} has no text: give the task text, or leave the option out "
                         "to keep the prompt recorded before")
    router_file = _scoring_router(args.router, args.model)
    options = {"prompt": given, "cost_usd": "--cost", "note": "--note", "db_path": "--db"}
    with options_named(options):
        result = record_outcome(
            args.decision_id,
            args.model,
            args.score,
            prompt=prompt,
            cost_usd=args.cost,
            note=args.note,
            db_path=args.db,
            router=router_file,
        )
    if args.json:
        _print_json(dataclasses.asdict(result))
    else:
        print(render.recorded_outcome(result))
    return 0


def _scoring_router(given: Path | None, model: str) -> str | None:
    """The router `shoal route` chose with, read as route reads it: it may label a model the
    catalog lacks. A model the catalog knows needs no router, so a router file that cannot be
    read only earns a note, and the outcome is still recorded."""
    from shoal.catalog import configured_catalog

    try:
        return _configured_router(given)
    except ValueError as error:
        if model.strip() not in configured_catalog():
            raise
        print(f"shoal feedback record: note: {error} (not needed: the catalog knows "
              f"{model.strip()})", file=sys.stderr)
        return None


def _token_options(args: argparse.Namespace) -> dict[str, object]:
    if args.model and args.encoding:
        raise ValueError("give --encoding or --model, not both: a model decides its own encoding")
    return {"encoding": args.encoding, "model": args.model, "allow_special": args.allow_special}


def _read_input(
    path: Path,
    what: str | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
    raise_with: str | None = None,
) -> str:
    """The text of a file the user named, or of standard input for '-'.

    Both are read under shoal.files' rules: a regular file only, nothing under /proc, /dev or
    /sys, nothing over ``max_bytes``, and a named file that is binary by count_files' rule is
    refused in its words (standard input may carry NUL characters as text); UTF-16 and UTF-32
    are refused from either, with the iconv command that converts them. ``what`` (the option or
    file kind) leads an error's message; ``raise_with`` is the option that raises the limit,
    None where it is fixed.
    """
    from shoal.files import names_standard_input, read_text_file

    try:
        if str(path) == "-":
            return _read_stdin(max_bytes=max_bytes, raise_with=raise_with)
        if names_standard_input(path):
            raise ValueError(f"{_shown_path(path)} is standard input, which shoal reads only "
                             "when it is named '-'; give '-' instead")
        return read_text_file(path, max_file_bytes=max_bytes, raise_with=raise_with,
                              refuse_binary=True)
    except ValueError as error:
        if what is None:
            raise
        raise ValueError(f"{what}: {error}") from None


def _read_stdin(
    *, max_bytes: int = DEFAULT_MAX_FILE_BYTES, raise_with: str | None = None
) -> str:
    """Standard input as UTF-8 text, read no further than ``max_bytes`` (and one byte more)."""
    from shoal.files import read_text_stream

    return read_text_stream(sys.stdin.buffer, max_bytes=max_bytes, raise_with=raise_with)


@contextmanager
def options_named(options: Mapping[str, str]) -> Iterator[None]:
    """Report a library error under the options the user typed, not the parameters they set.

    The library names its parameters (``max_tokens must be at least 0``), as Python callers and
    MCP clients know them; on the command line the user typed ``--max-tokens``.
    """
    try:
        yield
    except (TypeError, ValueError) as error:
        from shoal.ledger import DamagedLedgerError

        # A damaged ledger row is named by its columns (input_tokens, request_id), not by
        # anything the user typed.
        message = _with_option_names(str(error), options)
        if message == str(error) or isinstance(error, DamagedLedgerError):
            raise
        raise (ValueError if isinstance(error, ValueError) else TypeError)(message) from None


def _with_option_names(message: str, options: Mapping[str, str]) -> str:
    """``message`` with each library parameter named by its option.

    A plain word (``limit``, ``scope``) is a parameter only where it leads the message or
    follows "raise"; an identifier with an underscore, or a phrase, wherever it stands.
    """
    for parameter, option in options.items():
        place = r"(?:^|(?<=raise ))" if parameter.isalpha() else r"(?<![\w-])"
        message = re.sub(place + re.escape(parameter) + r"(?![\w-])", option, message)
    return message


def _count(args: argparse.Namespace) -> int:
    _use_ledger_and_prices(args)
    if args.chat is not None:
        return _count_chat(args)
    if args.text and args.file:
        raise ValueError("give text or --file paths, not both")
    if args.file:
        if args.limit is not None:
            raise ValueError("--limit applies to text; for files, compare the total yourself")
        if Path("-") in args.file:
            raise ValueError("--file takes files and folders; `shoal count -` counts standard "
                             "input")
        _refuse_standard_input(args.file, "`shoal count -` counts standard input")
        return _count_files(args)
    if not args.text:
        raise ValueError("give text to count, '-' for stdin, --file PATH or --chat FILE.json")
    from_stdin = args.text == ["-"]
    limit = _file_size_limit(args, reads_file=from_stdin,
                             files="--file and --chat files, and standard input")

    from shoal import render
    from shoal.token_budget import count_till_limit
    from shoal.tokens import count_tokens

    if from_stdin:
        text = _read_stdin(max_bytes=limit, raise_with="--max-file-bytes")
    else:
        text = " ".join(args.text)
    if args.limit is not None:
        with options_named(COUNT_OPTIONS):
            limited = count_till_limit(text, args.limit, **_token_options(args))  # type: ignore[arg-type]
        if args.json:
            _print_json(dataclasses.asdict(limited))
        else:
            print(render.limit_count(limited))
        return 1 if limited.exceeded else 0

    result = count_tokens(text, **_token_options(args))  # type: ignore[arg-type]
    if args.json:
        _print_json(dataclasses.asdict(result))
    else:
        print(render.token_count(result))
    return 0


def _file_size_limit(args: argparse.Namespace, *, reads_file: bool, files: str) -> int:
    """The --max-file-bytes for the named file the command reads (or the default).

    Given when no named file is read (TEXT, standard input), the option would change nothing,
    which the user should hear rather than believe it applied.
    """
    if args.max_file_bytes is None:
        return DEFAULT_MAX_FILE_BYTES
    if not reads_file:
        raise ValueError(
            f"--max-file-bytes limits {files}; it does not apply to TEXT on the command line"
        )
    return int(args.max_file_bytes)


# The library parameters of count, truncate and split, and the options that set them.
COUNT_OPTIONS = {"limit": "--limit", "max_file_bytes": "--max-file-bytes"}
CUT_OPTIONS = {"max_tokens": "--max-tokens", "max_file_bytes": "--max-file-bytes"}


def _count_files(args: argparse.Namespace) -> int:
    from shoal import render
    from shoal.files import count_files, repeats_note

    bar = ProgressLine(args.progress)
    try:
        result = count_files(
            args.file,
            respect_gitignore=not args.no_gitignore,
            max_file_bytes=_file_size_limit(args, reads_file=True, files="--file"),
            progress=functools.partial(bar, "counting", unit="files"),
            **_token_options(args),  # type: ignore[arg-type]
        )
    finally:
        bar.close()
    # A skip reason may advise raising the limit by its library name; here it is an option.
    reworded = tuple(
        dataclasses.replace(item, reason=_with_option_names(item.reason, COUNT_OPTIONS))
        for item in result.skipped
    )
    result = dataclasses.replace(result, skipped=reworded)
    _refuse_named_skips(args.file, result.skipped)
    if args.json:
        _print_json(dataclasses.asdict(result))
        return 0

    method = render.counting_method(result.exact, result.encoding, result.token_ratio)
    # A file name can hold a newline or U+202E: escaped, it cannot print as a line of its own.
    for item in result.files:
        print(f"{item.tokens:>12,}  {listed_name(item.path)}")
    for skipped in result.skipped:
        print(f"{'skipped':>12}  {listed_name(skipped.path)}: {skipped.reason}")
    print(
        f"{result.total_tokens:>12,}  total: {render.plural(len(result.files), 'file')}, "
        f"{render.plural(result.total_bytes, 'byte')} ({method}); "
        f"{len(result.skipped):,} skipped, {result.ignored:,} ignored by .gitignore"
    )
    for line in render.ratio_source_lines(result.token_ratio, result.ratio_source):
        print(line)
    if result.repeats_merged:
        print(f"note: {repeats_note(result.repeats_merged)}")
    return 0


def _refuse_standard_input(paths: Sequence[Path], remedy: str) -> None:
    """Refuse a path that names standard input (``/dev/stdin``), saying how the command reads
    it: shoal reads nothing under /dev or /proc, and a message that said only that would not
    tell the user what to type instead."""
    from shoal.files import names_standard_input

    for path in paths:
        if names_standard_input(path):
            raise ValueError(f"--file {_shown_path(path)} is standard input, which --file does "
                             f"not read; {remedy}")


def _refuse_named_skips(named: Sequence[Path], skipped: Sequence[SkippedFile]) -> None:
    """Refuse a count that skipped a path the user named: a folder walk skips what it cannot
    count, but a total that silently leaves out the very file asked about would mislead."""
    # count_files gives a named path as str(Path(...)), and anything below a folder longer.
    names = {str(path) for path in named}
    refused = [item for item in skipped if item.path in names]
    if refused:
        reasons = "; ".join(f"--file {shown_path(item.path)} cannot be counted: {item.reason}"
                            for item in refused)
        raise ValueError(reasons)


def _count_chat(args: argparse.Namespace) -> int:
    from shoal import render
    from shoal.tokens import count_chat, tokenizer_for

    _refuse_beside_chat(args)
    model = args.model or "gpt-4o"
    # Resolved first, so that an unknown model is not reported as a fault of the file.
    tokenizer_for(model=model)

    from_stdin = str(args.chat) == "-"
    limit = _file_size_limit(args, reads_file=True, files="the --chat file or standard input")
    source = "standard input" if from_stdin else str(args.chat)
    text = _read_input(args.chat, max_bytes=limit, raise_with="--max-file-bytes")
    try:
        messages, tools = _chat_request(text)
        result = count_chat(messages, model=model, tools=tools)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{source}: {error}") from None
    if args.json:
        _print_json(dataclasses.asdict(result))
    else:
        print(render.chat_token_count(result))
    return 0


def _refuse_beside_chat(args: argparse.Namespace) -> None:
    """Options that mean nothing for a chat request are refused, not ignored."""
    if args.encoding is not None:
        raise ValueError(
            "--chat counts by a model's chat rules: name the model with --model (default "
            "gpt-4o), not an --encoding"
        )
    refusals = [
        reason
        for given, reason in (
            (args.text, "TEXT does not go with --chat: count text or a chat request, not both"),
            (args.file, "--file does not go with --chat: count files or a chat request, not both"),
            (args.limit is not None, "--limit applies to text, not --chat"),
            (
                args.allow_special,
                "--allow-special does not apply to --chat: the API reads special-token text in "
                "messages as ordinary text",
            ),
            (args.no_gitignore, "--no-gitignore applies to --file folders, not --chat"),
        )
        if given
    ]
    if refusals:
        raise ValueError("; ".join(refusals))


def _chat_request(text: str, *, system_as_message: bool = True) -> tuple[list[Any], list[Any]]:
    """The messages and tools of a chat request: a list of messages, or {'messages': [...],
    'tools': [...]}, where an Anthropic request's top-level 'system' becomes a leading system
    message (the same text, counted the same way), or is refused without
    ``system_as_message``. Other request keys (model, max_tokens) hold no prompt text. An
    object that gives a key twice is refused by where it is, since a reader keeps the last
    value without a word. The caller names the file in an error."""
    from shoal.files import (
        json_syntax_error,
        object_keeping_repeated_keys,
        whole_number_as_given,
        without_byte_order_mark,
    )

    try:
        request = json.loads(without_byte_order_mark(text), parse_int=whole_number_as_given,
                             object_pairs_hook=object_keeping_repeated_keys)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON ({json_syntax_error(error)})") from None
    except RecursionError:
        # Python's reader recurses once per level: a file of brackets nested thousands deep.
        raise ValueError("JSON nested too deeply") from None
    _refuse_repeated_keys_in_chat(request)
    if isinstance(request, list):
        return request, []
    if not isinstance(request, dict):
        raise ValueError(
            "a chat request is a list of messages or an object with a 'messages' list, not "
            f"{_json_kind(request)}"
        )
    if "messages" not in request:
        keys = ", ".join(repr(key) for key in list(request)[:5])
        found = f"its keys are {keys}" if keys else "it is an empty object"
        raise ValueError(f"a chat request needs a 'messages' list, and {found}")

    messages, tools = request["messages"], request.get("tools", [])
    for key, value in (("messages", messages), ("tools", tools)):
        if not isinstance(value, list):
            raise ValueError(f"'{key}' must be a list, not {_json_kind(value)}")
    system = request.get("system")
    if system is None:
        return messages, tools
    if not isinstance(system, (str, list)):
        raise ValueError(f"'system' must be a string or a list of text blocks, not "
                         f"{_json_kind(system)}")
    if not system_as_message:
        # The kept messages are written back as a list, where a top-level field has no place.
        raise ValueError("the request has a top-level 'system' (Anthropic's form), which trim "
                         "would leave out of the kept messages: move it into 'messages' as "
                         "{'role': 'system', 'content': ...}, which is always kept")
    return [{"role": "system", "content": system}, *messages], tools


def _refuse_repeated_keys_in_chat(request: object) -> None:
    """Refuse a chat request with an object, at any depth, that gives a key twice, naming it
    as count_chat names a message's parts: ``messages[0]``, ``messages[1]['content'][0]``."""
    from shoal.files import first_repeat

    found = first_repeat(request)
    if found is None:
        return
    place, repeated = found
    if isinstance(request, list):
        # A bare list is the request's messages.
        place = ("messages", *place)
    where = _place_in(str(place[0]), place[1:]) if place else "the request"
    # {"role": "user", "role": "assistant"} would be counted, and kept, as the assistant's.
    raise ValueError(f"{where} gives {excerpt(repeated.repeated)} more than once; give each "
                     "field once (only the last would be read)")


def _place_in(name: str, place: Sequence[str | int]) -> str:
    """Where a value lies inside the JSON value ``name``, as count_chat names a message's
    parts: ``messages[1]['content'][0]``."""
    return name + "".join(
        f"[{part}]" if isinstance(part, int) else f"[{excerpt(part)}]" for part in place)


def _json_kind(value: object) -> str:
    """What a JSON value is, in JSON's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    return "a string" if isinstance(value, str) else "an object"


def _input_text(args: argparse.Namespace) -> str:
    reads_input = args.file is not None or not args.text or args.text == ["-"]
    limit = _file_size_limit(args, reads_file=reads_input,
                             files="the --file it reads or standard input")
    if args.file is not None:
        if args.text:
            raise ValueError("give text or --file, not both")
        return _read_input(args.file, max_bytes=limit, raise_with="--max-file-bytes")
    if not args.text or args.text == ["-"]:
        return _read_stdin(max_bytes=limit, raise_with="--max-file-bytes")
    return " ".join(args.text)


def _truncate(args: argparse.Namespace) -> int:
    from shoal import render
    from shoal.token_budget import truncate

    _use_ledger_and_prices(args)
    side = "tail" if args.tail else "head"
    text = _input_text(args)
    with options_named(CUT_OPTIONS):
        result = truncate(text, args.max_tokens, side=side, **_token_options(args))  # type: ignore[arg-type]
    if args.json:
        _print_json(dataclasses.asdict(result))
        return 0
    sys.stdout.write(result.text)
    if sys.stdout.isatty() and not result.text.endswith("\n"):
        # On a terminal the summary (stderr) would run on from the kept text's last line; into
        # a pipe or file the kept text goes byte for byte.
        sys.stdout.write("\n")
    sys.stdout.flush()
    print(render.truncation(result), file=sys.stderr)
    return 0


def _split(args: argparse.Namespace) -> int:
    from shoal import render
    from shoal.token_budget import split_chunks

    _use_ledger_and_prices(args)
    if args.out_dir is not None:
        _check_out_dir(args.out_dir)
    text = _input_text(args)
    with options_named(CUT_OPTIONS):
        result = split_chunks(text, args.max_tokens, **_token_options(args))  # type: ignore[arg-type]
    if args.out_dir is not None:
        args.out_dir.mkdir(exist_ok=True)
        stale = sorted(args.out_dir.glob("chunk_*.txt"))
        if stale:
            # Old chunks beside new ones would no longer join to the text.
            raise ValueError(
                f"{shown_path(str(args.out_dir))} already holds chunk files "
                f"({shown_path(stale[0].name)}, ...); choose an "
                "empty folder or remove them"
            )
        _write_chunks(args.out_dir, result.texts)
        files = render.plural(len(result.texts), "chunk file")
        print(f"shoal split: wrote {files} to {listed_name(str(args.out_dir))}", file=sys.stderr)
    if args.json:
        _print_json(dataclasses.asdict(result))
        return 0
    for number, chunk in enumerate(result.chunks, start=1):
        print(
            f"chunk {number}: characters {chunk.start:,}-{chunk.end:,}, "
            f"{render.plural(chunk.tokens, 'token')}"
        )
    method = render.counting_method(result.exact, result.encoding, result.token_ratio)
    print(
        f"{render.plural(len(result.chunks), 'chunk')}, "
        f"{render.plural(result.total_tokens, 'token')} ({method})"
    )
    return 0


def _write_chunks(out_dir: Path, texts: Sequence[str]) -> None:
    """Write chunk_0001.txt, ... into ``out_dir`` (see :func:`chunk_file_name`), each whole or
    not at all (see `atomic_file`): a split stopped or failing mid-write leaves no cut chunk
    under its name.

    The chunks are not flushed to disk one by one: that cost about 2 ms a chunk (a 10,001-chunk
    split took 19 s instead of 3 s), for a guard against power cuts that rerunning the split
    gives as well."""
    count = len(texts)
    for number, text in enumerate(texts, start=1):
        name = chunk_file_name(number, count)
        try:
            atomic_file.write_text(out_dir / name, text, durable=False)
        except OSError as error:
            first = chunk_file_name(1, count)
            if number == 1:
                written = "no chunk file was written"
            elif number == 2:
                written = f"{first} is whole; remove it before splitting again"
            else:
                written = (f"{first} to {chunk_file_name(number - 1, count)} are whole; remove "
                           "them before splitting again")
            raise ValueError(f"--out-dir {shown_path(str(out_dir))}: cannot write {name}: "
                             f"{error.strerror or error} ({written})") from None


def chunk_file_name(number: int, count: int) -> str:
    """The file of chunk ``number`` of ``count``: the number zero-padded to four digits, or to
    as many as ``count`` has (chunk_00001.txt of 10,000 or more), so that the names sort in
    chunk order and ``cat DIR/*`` joins them back into the text."""
    width = max(4, len(str(count)))
    return f"chunk_{number:0{width}}.txt"


def _check_out_dir(out_dir: Path) -> None:
    """Refuse an --out-dir that is a file, lies under one, or whose parent folder is missing,
    before any splitting: the folder itself may be created, a mistyped path above it may not."""
    shown = shown_path(str(out_dir))
    for folder in (out_dir, *out_dir.parents):
        if folder.exists():
            if not folder.is_dir():
                place = ("is a file" if folder == out_dir
                         else f"lies under {shown_path(str(folder))}, a file")
                raise ValueError(f"--out-dir {shown} {place}, not a folder; name a folder")
            break
    if not out_dir.exists() and not out_dir.parent.is_dir():
        raise ValueError(
            f"--out-dir {shown}: the folder {shown_path(str(out_dir.parent))} does not exist; "
            "create it first "
            "(only the --out-dir folder itself is created)"
        )


# ---- files an option writes: see shoal.output_files ----------------------------------------------

def price_file_input(prices: Path | None) -> list[InputFile]:
    """The price file a command reads: --prices, else the one SHOAL_PRICES names, if any."""
    from shoal.catalog import PRICES_ENVIRONMENT_VARIABLE

    if prices is not None:
        return [(None, prices)]
    return [(PRICES_ENVIRONMENT_VARIABLE,
             os.environ.get(PRICES_ENVIRONMENT_VARIABLE, "").strip() or None)]


def _cost(args: argparse.Namespace) -> int:
    from shoal import render
    from shoal.catalog import configured_catalog
    from shoal.cost import compare_costs, compare_plan_costs, estimate_cost, estimate_plan_cost

    _use_ledger_and_prices(args)
    catalog = configured_catalog()
    models = split_ids(args.compare, "--compare")
    if (args.model is None) == (not models):
        raise ValueError("give one MODEL, or --compare A,B,C")
    if args.baseline is not None and not models:
        raise ValueError("--baseline goes with --compare")
    if args.baseline is not None:
        _known_model(catalog, args.baseline, "--baseline")
    per_call = {flag: getattr(args, name) for flag, name in _PER_CALL_OPTIONS.items()}
    given = [flag for flag, value in per_call.items() if value is not None]
    if args.plan is not None and given:
        raise ValueError(f"--plan gives every call's tokens; drop {', '.join(given)}")
    if args.plan is None:
        _check_tokens_given(per_call)
    plan = _read_plan(args.plan) if args.plan is not None else None
    workload = {name: per_call[flag] or 0 for flag, name in _PER_CALL_OPTIONS.items()}
    if per_call["--calls"] is None:
        workload["calls"] = 1

    once_each(models, "--compare")
    named = {name: flag for flag, name in _PER_CALL_OPTIONS.items()}

    if models:
        # A model named twice by two spellings (gpt-4o, openai/gpt-4o) is refused by the pricing.
        compared = {"models": "--compare"}
        if plan is None:
            with options_named({**named, **compared}):
                rows = compare_costs(models, baseline=args.baseline, catalog=catalog,
                                     **workload)
        else:
            # A plan step's keys are the library's names, so only --compare is renamed.
            with options_named(compared):
                rows = compare_plan_costs(models, plan, baseline=args.baseline, catalog=catalog)
        if args.json:
            _print_json([dataclasses.asdict(row) for row in rows])
        else:
            print(render.cost_comparison(rows))
        return 0

    if plan is None:
        with options_named(named):
            result = estimate_cost(args.model, catalog=catalog, **workload)
    else:
        result = estimate_plan_cost(args.model, plan, catalog=catalog)
    if args.json:
        _print_json(dataclasses.asdict(result))
    else:
        print(render.cost_estimate(result))
    return 0


# The options of `shoal cost` that describe one call, and the estimate_cost argument of each.
_PER_CALL_OPTIONS = {
    "--input": "input_tokens",
    "--output": "output_tokens",
    "--cached": "cached_input_tokens",
    "--cache-write": "cache_write_tokens",
    "--reasoning": "reasoning_tokens",
    "--calls": "calls",
}


def _check_tokens_given(per_call: Mapping[str, int | None]) -> None:
    """Refuse a call whose token options are all left out. ``per_call`` maps each option to its
    value (None: not given); counts given as 0 are refused by the pricing itself, which the
    MCP tools and Python share."""
    token_options = [flag for flag in per_call if flag != "--calls"]
    if all(per_call[flag] is None for flag in token_options):
        choices = f"{', '.join(token_options[:-1])} or {token_options[-1]}"
        raise ValueError(f"give the tokens to price: {choices} (or --plan FILE)")


def _read_plan(path: Path) -> list[dict[str, int]]:
    """The steps of a --plan file, checked before any model is priced, so that every refusal
    of what the file holds names the file (and none names it for a mistyped model)."""
    from shoal.cost import TOKEN_FIELDS, check_plan
    from shoal.excerpts import excerpt
    from shoal.files import RepeatedKeyObject, number_as_given

    # A number no float holds (1e400) keeps its spelling, for the error to quote as written.
    plan = _read_json(path, "--plan", parse_float=number_as_given)
    try:
        if not isinstance(plan, list):
            raise ValueError("the plan must be a JSON list of steps, each an object of token "
                             "counts")
        for number, step in enumerate(plan, start=1):
            if isinstance(step, RepeatedKeyObject):
                # {"input_tokens": 100, "input_tokens": 200} would be priced as 200 tokens.
                raise ValueError(f"plan step {number}: {step.refusal()}")
            # In JSON's words (check_plan words a Python caller's list in Python's).
            if not isinstance(step, dict):
                raise ValueError(f"plan step {number} must be an object of token counts, got "
                                 f"{excerpt(step)}")
            for key in (*TOKEN_FIELDS, "calls"):
                value = step.get(key, 0)
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"plan step {number}: {key} must be a whole number, got "
                                     f"{excerpt(value)}")
        return check_plan(plan)
    except (TypeError, ValueError) as error:
        raise ValueError(f"--plan {_shown_path(path)}: {error}") from None


def _hw(args: argparse.Namespace) -> int:
    from shoal.hardware_cli import run

    return run(args.words)


def _print_json(payload: object) -> None:
    from shoal.json_output import json_text

    print(json_text(payload))


if __name__ == "__main__":
    sys.exit(main())
