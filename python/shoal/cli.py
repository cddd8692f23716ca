"""The `shoal` command line: serve the MCP tools, or ask the same questions from a shell.

Results go to stdout (a table or, with ``--json``, the same structured content the MCP tools
return); logs and progress go to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from shoal import __version__

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
        "--host", default="127.0.0.1", help="address to bind with --http (default: %(default)s)"
    )
    serve.add_argument(
        "--port", type=int, default=8765, help="port with --http (default: %(default)s)"
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
        metavar="NAME[:PORT]",
        help="with --http: also accept this Host header, e.g. a reverse proxy's public name "
        "(repeatable; loopback names are always accepted, any other gets 421)",
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
        help="serve only read-only tools (leave out those that write a ledger)",
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
    serve.set_defaults(handler=_serve)


def _add_route(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    route = commands.add_parser(
        "route",
        help="choose a model for a prompt, or for every prompt in a JSONL file",
        description="Choose the model that should answer a prompt: the best predicted quality per "
        "dollar among the candidates that meet the constraints. With --file, route a batch and "
        "compare its total cost with always using the strongest candidate.",
    )
    route.add_argument("prompt", nargs="?", help="the prompt to route")
    route.add_argument(
        "--file",
        type=Path,
        help="JSONL file of prompts: rows with 'prompt', 'question' or MT-Bench 'turns'",
    )
    route.add_argument(
        "--candidates", help="comma-separated model ids to choose among (default: catalog)"
    )
    route.add_argument("--exclude", default="", help="comma-separated model ids never to choose")
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
        help="quality points (0-1 scale) you would give up to save one dollar per call",
    )
    route.add_argument(
        "--output-tokens",
        type=int,
        default=256,
        help="expected answer length (default: %(default)s)",
    )
    route.add_argument(
        "--json", action="store_true", help="print structured JSON instead of a table"
    )
    route.add_argument("--router", type=Path, help="router file from `shoal fit` (default: shipped)")
    route.set_defaults(handler=_route)


def _add_count(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    count = commands.add_parser(
        "count",
        help="count tokens in text or files",
        description="Count tokens exactly for OpenAI encodings, or estimate them for a named model "
        "whose tokenizer is not public (the answer says which).",
    )
    count.add_argument("text", nargs="*", help="text to count (joined by spaces); '-' reads stdin")
    count.add_argument(
        "--file", type=Path, action="append", default=[], help="file to count (repeatable)"
    )
    count.add_argument(
        "--encoding", default="o200k_base", help="o200k_base or cl100k_base (default: %(default)s)"
    )
    count.add_argument("--model", help="count with this catalog model's tokenizer instead")
    count.add_argument("--json", action="store_true", help="print structured JSON")
    count.set_defaults(handler=_count)


def _add_cost(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cost = commands.add_parser(
        "cost",
        help="price a call from the dated catalog",
        description="Price one call (or --calls of them), each kind of token separately.",
    )
    cost.add_argument("model", help="catalog model id, e.g. gpt-4.1-mini")
    cost.add_argument(
        "--input", type=int, default=0, dest="input_tokens", help="input tokens per call"
    )
    cost.add_argument(
        "--output", type=int, default=0, dest="output_tokens", help="output tokens per call"
    )
    cost.add_argument(
        "--cached",
        type=int,
        default=0,
        dest="cached_input_tokens",
        help="input tokens read from cache",
    )
    cost.add_argument(
        "--cache-write",
        type=int,
        default=0,
        dest="cache_write_tokens",
        help="tokens written to cache",
    )
    cost.add_argument(
        "--reasoning", type=int, default=0, dest="reasoning_tokens", help="hidden reasoning tokens"
    )
    cost.add_argument(
        "--calls", type=int, default=1, help="number of identical calls (default: %(default)s)"
    )
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every `shoal` subcommand."""
    parser = argparse.ArgumentParser(
        prog="shoal",
        description="Which model should do this task, how many tokens it is, what it costs, and "
        "whether it runs on your machine. `shoal serve` runs the MCP server.",
    )
    parser.add_argument("--version", action="version", version=f"shoal {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail to stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_serve, _add_route, _add_count, _add_cost, _add_hw):
        add(commands)
    from shoal.router_cli import add_eval, add_fit

    add_fit(commands)
    add_eval(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `shoal` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )

    try:
        return int(args.handler(args) or 0)
    except ValueError as error:
        print(f"shoal {args.command}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


def _serve(args: argparse.Namespace) -> int:
    from shoal import hardware
    from shoal.http_transport import read_token, serve_http
    from shoal.server import build_server

    _use_user_files(hardware.DEVICES_ENVIRONMENT_VARIABLE, args.devices)
    _use_user_files(hardware.ARCHITECTURES_ENVIRONMENT_VARIABLE, args.architectures)
    hardware.reset_tables()
    hardware.list_devices()  # Read the user files now: a bad one stops the server at start-up.

    groups = _split_ids(args.tools) if args.tools is not None else None
    server = build_server(read_only=args.read_only, groups=groups)
    if not args.http:
        server.run()
        return 0

    token = read_token(args.token_file)
    print(
        f"shoal: serving MCP over streamable HTTP at http://{args.host}:{args.port}/mcp"
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
    )
    return 0


def _use_user_files(variable: str, paths: Sequence[Path]) -> None:
    """Add files to an environment variable that names user data files, as PATH does."""
    if paths:
        existing = [part for part in os.environ.get(variable, "").split(os.pathsep) if part]
        os.environ[variable] = os.pathsep.join(
            [*existing, *(str(path.resolve()) for path in paths)]
        )


def _split_ids(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _read_prompts(path: Path) -> list[str]:
    """Prompts from a JSONL file: 'prompt', 'question', or the first of MT-Bench's 'turns'."""
    prompts = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not valid JSON ({error.msg})") from None
            prompt = _prompt_of(row)
            if prompt is None:
                raise ValueError(f"{path}:{number}: no 'prompt', 'question' or 'turns' field")
            prompts.append(prompt)
    if not prompts:
        raise ValueError(f"{path}: no prompts")
    return prompts


def _prompt_of(row: object) -> str | None:
    if not isinstance(row, dict):
        return None
    for key in ("prompt", "question"):
        if isinstance(row.get(key), str):
            return str(row[key])
    turns = row.get("turns")
    if isinstance(turns, list) and turns and isinstance(turns[0], str):
        return turns[0]
    return None


def _route(args: argparse.Namespace) -> int:
    from shoal import render
    from shoal.router import route

    if (args.prompt is None) == (args.file is None):
        raise ValueError("give either one PROMPT or --file with a JSONL batch")

    options = {
        "candidates": _split_ids(args.candidates) or None,
        "excluded": _split_ids(args.exclude),
        "local_only": args.local_only,
        "max_cost_usd": args.max_cost,
        "min_quality": args.min_quality,
        "willingness_to_pay": args.willingness_to_pay,
        "expected_output_tokens": args.output_tokens,
    }
    if args.router is not None:
        from shoal.router import load_router

        options["router"] = load_router(args.router)
    if args.prompt is not None:
        decision = route(args.prompt, **options)
        if args.json:
            _print_json(decision.to_dict())
        else:
            print(render.routing_decision(decision))
        return 0

    prompts = _read_prompts(args.file)
    decisions = [route(prompt, **options) for prompt in prompts]
    if args.json:
        _print_json([decision.to_dict() for decision in decisions])
    else:
        print(render.routing_batch(prompts, decisions))
    return 0


def _count(args: argparse.Namespace) -> int:
    from shoal import render
    from shoal.tokens import count_tokens

    texts: list[tuple[str, str]] = []
    if args.text == ["-"]:
        texts.append(("<stdin>", sys.stdin.read()))
    elif args.text:
        texts.append(("<text>", " ".join(args.text)))
    for path in args.file:
        texts.append((str(path), _read_text_file(path)))
    if not texts:
        raise ValueError("give text to count, '-' for stdin, or --file PATH")

    results = [
        (name, count_tokens(text, encoding=args.encoding, model=args.model)) for name, text in texts
    ]
    if args.json:
        _print_json([{"source": name, **dataclasses.asdict(result)} for name, result in results])
        return 0
    for name, result in results:
        prefix = "" if name == "<text>" else f"{name}: "
        print(prefix + render.token_count(result))
    if len(results) > 1:
        total = sum(result.tokens for _, result in results)
        print(f"total: {total:,} tokens")
    return 0


def _read_text_file(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not UTF-8 text (byte {error.start} is invalid)") from None


def _cost(args: argparse.Namespace) -> int:
    from shoal import render
    from shoal.cost import estimate_cost

    result = estimate_cost(
        args.model,
        input_tokens=args.input_tokens,
        output_tokens=args.output_tokens,
        cached_input_tokens=args.cached_input_tokens,
        cache_write_tokens=args.cache_write_tokens,
        reasoning_tokens=args.reasoning_tokens,
        calls=args.calls,
    )
    if args.json:
        _print_json(dataclasses.asdict(result))
    else:
        print(render.cost_estimate(result))
    return 0


def _hw(args: argparse.Namespace) -> int:
    from shoal.hardware_cli import run

    return run(args.words)


def _print_json(payload: object) -> None:
    print(json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False))


if __name__ == "__main__":
    sys.exit(main())
