"""shoal as an MCP citizen, through the SDK's in-memory client in both protocol eras.

The checks run over every registered tool, so a new tool is held to them without a line here
beyond its sample call in test_server.CALLS: names, titles, descriptions, bounded inputs, output
schemas that its answers validate against, annotations, small answers, and a pinned schema
snapshot (tests/snapshots/tools.json).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import jsonschema
import pytest
from mcp import Client
from mcp.server.mcpserver import Context
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, CallToolResult, TextContent, ToolAnnotations
from test_server import CALLS

from shoal.catalog import configured_catalog, today
from shoal.server import ProgressReporter, build_server
from shoal.server_policy import MAX_RESULT_TOKENS, TOOL_GROUPS, answer_tokens, tool_group
from shoal.tokens import count_tokens

pytestmark = pytest.mark.anyio

ERAS = {"legacy": "2025-11-25", "2026-07-28": "2026-07-28"}
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
WHEN_TO_USE = re.compile(r"\b(use (it|this)|call it|when)\b", re.IGNORECASE)
SNAPSHOT = Path(__file__).parent / "snapshots" / "tools.json"
UPDATE_SNAPSHOTS = os.environ.get("SHOAL_UPDATE_SNAPSHOTS") == "1"
REGENERATE = "SHOAL_UPDATE_SNAPSHOTS=1 python3 -m pytest -q tests/test_mcp_protocol.py -k snapshot"
MAX_TEXT_CHARACTERS = 4_000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def server():  # type: ignore[no-untyped-def]
    return build_server()


@pytest.fixture(scope="module")
def wire_tools(server) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """tools/list as JSON on the wire (camelCase), from a handshake-era session."""

    async def listing() -> list[dict[str, Any]]:
        async with Client(server, mode="legacy") as client:
            tools = (await client.list_tools()).tools
        return [tool.model_dump(by_alias=True, mode="json", exclude_none=True) for tool in tools]

    return anyio.run(listing)


# ---- both eras ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ERAS)
async def test_each_era_negotiates_its_version_and_serves_tools_and_resources(
    server, mode: str
) -> None:  # type: ignore[no-untyped-def]
    async with Client(server, mode=mode) as client:
        version = client.session.protocol_version
        tools = (await client.list_tools()).tools
        resources = (await client.list_resources()).resources
        templates = (await client.list_resource_templates()).resource_templates
        counted = await client.call_tool("count_tokens", {"text": "hello world"})

    assert version == ERAS[mode]
    assert {tool.name for tool in tools} == set(CALLS)
    assert [str(resource.uri) for resource in resources] == [
        "shoal://catalog",
        "shoal://devices",
        "shoal://architectures",
        "shoal://nodes",
    ]
    assert [template.uri_template for template in templates] == ["shoal://models/{model_id}"]
    assert counted.structured_content["tokens"] == 2
    for uri in [*(str(resource.uri) for resource in resources), "shoal://models/{id}"]:
        assert uri in server.instructions, f"the instructions should point a host to {uri}"


async def test_tools_list_order_is_deterministic(server) -> None:  # type: ignore[no-untyped-def]
    orders = []
    for instance in (server, build_server()):
        for mode in ERAS:
            async with Client(instance, mode=mode) as client:
                orders.append([tool.name for tool in (await client.list_tools()).tools])
    assert all(order == orders[0] for order in orders)


# ---- every tool ---------------------------------------------------------------------------------


def test_every_tool_has_a_sample_call_and_a_group(wire_tools, server) -> None:  # type: ignore[no-untyped-def]
    names = [tool["name"] for tool in wire_tools]
    assert sorted(names) == sorted(CALLS), (
        "every tool needs one real call in tests/test_server.py CALLS (and every call a tool)"
    )
    for tool in server._tool_manager.list_tools():
        assert tool_group(tool.fn) in TOOL_GROUPS, (
            f"{tool.name}: declare it in an _add_<area>_tools function whose area maps to a group "
            f"in shoal.server_policy.TOOL_GROUPS ({', '.join(TOOL_GROUPS)})"
        )


def test_every_tool_is_named_titled_and_described_for_a_model(wire_tools) -> None:  # type: ignore[no-untyped-def]
    for tool in wire_tools:
        name = tool["name"]
        assert TOOL_NAME.match(name), f"{name}: hosts reject names outside {TOOL_NAME.pattern}"
        assert tool.get("title"), f"{name}: no title"
        description = tool.get("description", "")
        assert 40 < len(description.encode()) < 2048, f"{name}: description must be 40 B to 2 KB"
        assert WHEN_TO_USE.search(description), (
            f"{name}: the description should tell a model when to use the tool ('Use it ...')"
        )


def _input_problems(schema: dict[str, Any], defs: dict[str, Any], path: str) -> list[str]:
    """Unbounded or unportable spots in one input (sub)schema."""
    if "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    problems = []
    kind = schema.get("type")
    if "anyOf" in schema or "oneOf" in schema or isinstance(kind, list):
        problems.append(f"{path}: a union (anyOf/oneOf/type list) some hosts reject")
    if kind in ("integer", "number"):
        if not {"minimum", "exclusiveMinimum"} & set(schema):
            problems.append(f"{path}: number without a minimum")
        if not {"maximum", "exclusiveMaximum"} & set(schema):
            problems.append(f"{path}: number without a maximum")
    if kind == "string" and "enum" not in schema and "maxLength" not in schema:
        problems.append(f"{path}: string without maxLength")
    if kind == "array":
        if "maxItems" not in schema:
            problems.append(f"{path}: array without maxItems")
        problems += _input_problems(schema.get("items", {}), defs, f"{path}[]")
    if kind == "object":
        for name, prop in schema.get("properties", {}).items():
            problems += _input_problems(prop, defs, f"{path}.{name}")
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            if "maxProperties" not in schema:
                problems.append(f"{path}: open object without maxProperties")
            problems += _input_problems(extra, defs, f"{path}{{}}")
    return problems


def test_a_model_a_description_gives_as_an_example_is_not_retired(wire_tools) -> None:  # type: ignore[no-untyped-def]
    catalog = configured_catalog()
    retired = {model.id for model in catalog.models
               if model.deprecation_date is not None
               and model.deprecation_date <= today().isoformat()}
    every_model = {model.id for model in catalog.models}
    text = json.dumps(wire_tools)
    named = {name for name in re.findall(r"'([a-z0-9][a-z0-9.\-]+)'", text) if name in every_model}

    assert named, "no description names a catalog model as an example"
    assert not named & retired, sorted(named & retired)


def test_every_input_is_described_bounded_and_free_of_null_unions(wire_tools) -> None:  # type: ignore[no-untyped-def]
    problems = []
    for tool in wire_tools:
        schema = tool["inputSchema"]
        assert schema["type"] == "object"
        for name, prop in schema.get("properties", {}).items():
            if not prop.get("description"):
                problems.append(f"{tool['name']}.{name}: no description")
            problems += _input_problems(prop, schema.get("$defs", {}), f"{tool['name']}.{name}")
    assert not problems, "\n".join(problems)


def test_every_tool_is_annotated_for_permissions(wire_tools) -> None:  # type: ignore[no-untyped-def]
    for tool in wire_tools:
        name, hints = tool["name"], tool.get("annotations", {})
        assert hints.get("title") or tool.get("title"), name
        for hint in ("readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"):
            assert isinstance(hints.get(hint), bool), f"{name}: set {hint} explicitly"
        assert hints["destructiveHint"] is False, f"{name}: no shoal tool destroys anything"
        assert hints["openWorldHint"] is False, f"{name}: shoal's tools never leave this machine"
        if hints["readOnlyHint"]:
            assert hints["idempotentHint"] is True, f"{name}: a read-only tool is idempotent"
        else:
            assert re.search(r"\b(record|write|ledger|store)", tool["description"], re.I), (
                f"{name}: a tool that writes says what it records in its description"
            )


@pytest.mark.parametrize("mode", ERAS)
async def test_every_answer_validates_against_its_output_schema_and_stays_small(
    server, wire_tools, mode: str
) -> None:  # type: ignore[no-untyped-def]
    schemas = {tool["name"]: tool.get("outputSchema") for tool in wire_tools}
    async with Client(server, mode=mode) as client:
        for name, arguments in CALLS.items():
            result = await client.call_tool(name, arguments)
            wire = result.model_dump(by_alias=True, mode="json", exclude_none=True)

            assert not result.is_error, f"{name}: {result.content}"
            assert schemas[name] is not None, f"{name}: no output schema"
            jsonschema.validate(result.structured_content, schemas[name])
            text = result.content[0]
            assert isinstance(text, TextContent) and 0 < len(text.text) <= MAX_TEXT_CHARACTERS, (
                f"{name}: the text content is a short readable summary (1-4,000 characters)"
            )
            assert answer_tokens(wire) <= MAX_RESULT_TOKENS, name


async def test_an_empty_list_is_refused_exactly_where_the_schema_says_so(
    server, wire_tools
) -> None:  # type: ignore[no-untyped-def]
    # sweep_hardware refused `"models": []` while its schema gave no minItems.
    mismatches = []
    async with Client(server) as client:
        for tool in wire_tools:
            for name, schema in tool["inputSchema"]["properties"].items():
                if schema.get("type") != "array":
                    continue
                result = await client.call_tool(tool["name"], {**CALLS[tool["name"]], name: []})
                refused_by_schema = schema.get("minItems", 0) >= 1
                if result.is_error != refused_by_schema:
                    mismatches.append(f"{tool['name']}.{name}: minItems "
                                      f"{schema.get('minItems')}, refused {result.is_error}")
    assert not mismatches, mismatches


def test_tool_schemas_match_the_snapshot(wire_tools) -> None:  # type: ignore[no-untyped-def]
    pinned = [
        {key: tool[key] for key in sorted(tool) if key not in ("icons",)} for tool in wire_tools
    ]
    text = json.dumps(pinned, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if UPDATE_SNAPSHOTS:
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert SNAPSHOT.exists(), f"no snapshot yet; create it with: {REGENERATE}"
    assert SNAPSHOT.read_text(encoding="utf-8") == text, (
        "A tool's name, description, input/output schema or annotations changed. If the change is "
        f"deliberate, regenerate tests/snapshots/tools.json with `{REGENERATE}` and commit it "
        "with the change (git diff shows what hosts will see)."
    )


# ---- instructions, groups, read-only ------------------------------------------------------------


def test_instructions_are_short_and_name_only_served_tools(server) -> None:  # type: ignore[no-untyped-def]
    instructions = server.instructions
    assert len(instructions.encode()) < 2048
    names = {tool.name for tool in server._tool_manager.list_tools()}
    for name in names:
        assert name in instructions, f"the instructions should point a host to {name}"

    narrowed = build_server(groups=["tokens"])
    assert "count_tokens" in narrowed.instructions
    assert "route_task" not in narrowed.instructions


async def test_groups_and_read_only_narrow_the_tool_set() -> None:
    async with Client(build_server(groups=["cost", "hardware"])) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        with pytest.raises(MCPError) as refused:
            await client.call_tool("count_tokens", {"text": "x"})
    assert "estimate_cost" in names and "check_hardware_fit" in names
    assert "count_tokens" not in names and "route_task" not in names
    assert refused.value.error.code == INVALID_PARAMS

    async with Client(build_server(read_only=True)) as client:
        tools = (await client.list_tools()).tools
    assert tools and all(tool.annotations.read_only_hint for tool in tools)

    with pytest.raises(ValueError, match=r"unknown tool group.*choose among tokens"):
        build_server(groups=["tokens", "gpu"])


async def test_read_only_mode_drops_a_tool_that_writes() -> None:
    def add_writer(server) -> None:  # type: ignore[no-untyped-def]
        @server.tool(
            name="record_note",
            title="Record a note",
            annotations=ToolAnnotations(
                read_only_hint=False, destructive_hint=False, idempotent_hint=False
            ),
        )
        def record_note(note: str) -> str:
            """Record a note in the ledger."""
            return note

    full, read_only = build_server(), build_server(read_only=True)
    add_writer(full)
    add_writer(read_only)
    # select_tools is what build_server applies; run it again on the extra tool.
    from shoal.server_policy import select_tools

    select_tools(read_only, read_only=True)
    assert "record_note" in {tool.name for tool in full._tool_manager.list_tools()}
    assert "record_note" not in {tool.name for tool in read_only._tool_manager.list_tools()}


# ---- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ERAS)
async def test_unknown_tool_is_a_protocol_error_and_bad_arguments_a_tool_error(
    server, mode: str
) -> None:  # type: ignore[no-untyped-def]
    async with Client(server, mode=mode) as client:
        with pytest.raises(MCPError) as unknown:
            await client.call_tool("count_token", {"text": "x"})
        missing = await client.call_tool("count_tokens", {})
        out_of_range = await client.call_tool("route_task", {"prompt": "hi", "min_quality": 2})
        domain = await client.call_tool("estimate_cost", {"model": "gpt-4.1-mimi"})

    assert unknown.value.error.code == INVALID_PARAMS
    assert "count_tokens" in unknown.value.error.message
    assert missing.is_error and "text" in missing.content[0].text
    assert out_of_range.is_error and "min_quality" in out_of_range.content[0].text
    assert domain.is_error and "did you mean 'gpt-4.1-mini'" in domain.content[0].text


async def test_a_whole_number_written_as_a_float_is_an_integer(server) -> None:  # type: ignore[no-untyped-def]
    fit = {"model": "llama-3.1-8b-instruct", "device": "apple-m4-pro"}
    sweep = {"models": ["gemma-3-1b-it"], "devices": ["apple-m4-pro"], "nodes": ["as-built"]}
    async with Client(server) as client:
        as_floats = [
            await client.call_tool("check_hardware_fit", {**fit, "context_tokens": 4096.0}),
            await client.call_tool("check_hardware_fit", {**fit, "context_tokens": 1e3}),
            await client.call_tool("truncate_text", {"text": "one two three", "max_tokens": 2.0}),
            await client.call_tool("sweep_hardware", {**sweep, "contexts": [2048.0, 4096]}),
        ]
        as_integers = [
            await client.call_tool("check_hardware_fit", {**fit, "context_tokens": 4096}),
            await client.call_tool("check_hardware_fit", {**fit, "context_tokens": 1000}),
            await client.call_tool("truncate_text", {"text": "one two three", "max_tokens": 2}),
            await client.call_tool("sweep_hardware", {**sweep, "contexts": [2048, 4096]}),
        ]
        refused = {
            repr(value): await client.call_tool("check_hardware_fit",
                                                {**fit, "context_tokens": value})
            for value in (4096.5, float("nan"), float("inf"), True)
        }

    for floats, integers in zip(as_floats, as_integers, strict=True):
        assert not floats.is_error, floats.content[0].text
        assert floats.structured_content == integers.structured_content
    assert as_floats[0].structured_content["context_tokens"] == 4096
    for value, answer in refused.items():
        assert answer.is_error, value
        assert "argument 'context_tokens'" in answer.content[0].text, answer.content[0].text


@pytest.mark.parametrize("mode", ERAS)
async def test_a_tool_left_out_is_a_protocol_error_that_says_it_is_not_served_here(
    mode: str,
) -> None:
    async with Client(build_server(read_only=True), mode=mode) as client:
        with pytest.raises(MCPError) as left_out:
            await client.call_tool("record_usage", {"scope": "s"})

    message = left_out.value.error.message
    assert left_out.value.error.code == INVALID_PARAMS
    assert message.startswith(
        "Tool record_usage is not served here: this server leaves it out because it writes and "
        "the server is read-only (shoal serve --read-only). Tools: "
    )
    assert "Unknown tool" not in message and "count_tokens" in message


# ---- answer size --------------------------------------------------------------------------------


async def test_an_answer_over_the_cap_becomes_a_tool_error_that_says_what_to_do() -> None:
    arguments = {"models": ["gpt-4o", "gpt-4.1-mini", "claude-sonnet-4-5"], "input_tokens": 1000}
    async with Client(build_server(max_result_tokens=300)) as client:
        capped = await client.call_tool("compare_costs", arguments)
        small = await client.call_tool("count_tokens", {"text": "fits"})

    assert capped.is_error and capped.structured_content is None
    assert re.search(r"came to [\d,]+ tokens, over shoal's cap of 300", capped.content[0].text)
    assert "Ask for less: price fewer models per call" in capped.content[0].text
    assert not small.is_error


async def test_route_task_fits_a_smaller_cap_by_returning_fewer_runners_up() -> None:
    arguments = {"prompt": "Prove that the square root of 2 is irrational.", "max_alternatives": 50}
    async with Client(build_server(max_result_tokens=2_000)) as client:
        routed = await client.call_tool("route_task", arguments)

    assert not routed.is_error, routed.content[0].text
    assert answer_tokens(routed.model_dump(by_alias=True, mode="json", exclude_none=True)) <= 2_000
    decision = routed.structured_content
    returned = len(decision["alternatives"]) - 1
    [shortened] = [note for note in decision["notes"] if note.startswith("shortened: ")]
    runners_up = min(50, returned + int(shortened.split()[1]))
    assert decision["alternatives_omitted"] == runners_up - returned > 0


async def test_a_long_list_is_shortened_by_default_and_says_so(server) -> None:  # type: ignore[no-untyped-def]
    async with Client(server) as client:
        shown = await client.call_tool("route_task", {"prompt": "Write a haiku about rain."})
        longest = await client.call_tool(
            "route_task", {"prompt": "Write a haiku about rain.", "max_alternatives": 100}
        )
    decision = shown.structured_content
    assert len(decision["alternatives"]) <= 6
    assert any(re.match(r"shortened: \d+ more candidates", note) for note in decision["notes"])
    assert not longest.is_error, "the largest route_task answer must stay under the cap"


# ---- resources ----------------------------------------------------------------------------------

README = Path(__file__).parent.parent / "README.md"


async def test_the_readme_gives_the_tool_cap_and_each_resource_past_it(server) -> None:  # type: ignore[no-untyped-def]
    # It said "answers under 6,000 tokens" just after the resources, of which the catalog ran to
    # 8,085 tokens and the architectures to 6,294.
    text = " ".join(README.read_text(encoding="utf-8").split())
    start = text.index("**What shoal gives a host**")
    section = text[start:text.index("**", start + 30)]
    stated = {uri: int(tokens.replace(",", ""))
              for uri, tokens in re.findall(r"`(shoal://\w+)` about ([\d,]+) tokens", section)}
    [cap] = re.findall(r"tool answers under ([\d,]+) tokens", section)
    async with Client(server) as client:
        uris = [str(resource.uri) for resource in (await client.list_resources()).resources]
        uris.append("shoal://models/gpt-4.1")
        texts = {uri: (await client.read_resource(uri)).contents[0].text for uri in uris}
    sizes = {uri: count_tokens(text, encoding="o200k_base").tokens for uri, text in texts.items()}

    assert int(cap.replace(",", "")) == MAX_RESULT_TOKENS
    assert stated and set(stated) <= set(sizes)
    for uri, tokens in sizes.items():
        if uri in stated:
            assert abs(tokens - stated[uri]) <= stated[uri] // 20, (uri, tokens)
            assert tokens > MAX_RESULT_TOKENS, uri
        else:
            assert tokens < MAX_RESULT_TOKENS, (uri, tokens)


async def test_catalog_resources_include_the_price_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text('[{"id": "gpt-4.1", "input_per_mtok": 0.5}]', encoding="utf-8")
    monkeypatch.setenv("SHOAL_PRICES", str(prices))

    async with Client(build_server()) as client:
        catalog = json.loads((await client.read_resource("shoal://catalog")).contents[0].text)
        model = json.loads((await client.read_resource("shoal://models/gpt-4.1")).contents[0].text)

    listed = next(row for row in catalog["models"] if row["id"] == "gpt-4.1")
    assert listed["input_per_mtok"] == model["input_per_mtok"] == 0.5
    assert model["price_source"] == "user file prices.json"


async def test_the_catalog_resource_says_which_models_are_retired_and_when_judged() -> None:
    async with Client(build_server()) as client:
        catalog = json.loads((await client.read_resource("shoal://catalog")).contents[0].text)

    rows = {row["id"]: row for row in catalog["models"]}
    assert catalog["retirements_judged_on"] == "2026-12-05"
    assert rows["claude-sonnet-4-5"]["retired"] is True and rows["gpt-4.1"]["retired"] is False


@pytest.mark.parametrize("mode", ERAS)
async def test_resources_carry_the_dated_tables(server, mode: str) -> None:  # type: ignore[no-untyped-def]
    async with Client(server, mode=mode) as client:
        catalog = json.loads((await client.read_resource("shoal://catalog")).contents[0].text)
        model = json.loads((await client.read_resource("shoal://models/gpt-4.1")).contents[0].text)
        devices = json.loads((await client.read_resource("shoal://devices")).contents[0].text)
        nodes = json.loads((await client.read_resource("shoal://nodes")).contents[0].text)
        models = json.loads((await client.read_resource("shoal://architectures")).contents[0].text)
        no_such_device = await client.call_tool(
            "check_hardware_fit", {"model": "qwen3-8b", "device": "zzzz-9000"}
        )
        with pytest.raises(MCPError) as unknown:
            await client.read_resource("shoal://models/gpt-4.1x")

    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", catalog["catalog_date"]) and catalog["sources"]
    assert len(catalog["models"]) >= 60
    listed = {row["id"]: row for row in catalog["models"]}
    # What a host needs to choose and budget without reading every model: the input limit, the
    # cache-write rate, where long-context rates start and the retirement date.
    assert listed["gpt-5"]["max_input_tokens"] == 272_000
    assert listed["claude-sonnet-4-5"]["cache_write_per_mtok"] == 3.75
    assert listed["gemini-2.5-pro"]["long_context_threshold"] == 200_000
    assert listed["gemini-2.5-pro"]["deprecation_date"] == "2026-12-01"
    assert model["id"] == "gpt-4.1" and model["price_source"]
    assert {"apple-m4-pro", "rtx-4090", "iphone-16-pro"} <= {device["id"] for device in devices}
    assert any(node["id"].startswith("nanostack") for node in nodes)
    assert {"qwen3-30b-a3b", "llama-3.1-8b-instruct"} <= {model["id"] for model in models}
    # A model cannot run `shoal hw devices`: the error points it at the resource instead.
    assert no_such_device.is_error
    assert "the resource shoal://devices lists them" in no_such_device.content[0].text
    assert unknown.value.error.code == INVALID_PARAMS
    assert "did you mean 'gpt-4.1'" in unknown.value.error.message


# ---- progress and cancellation ------------------------------------------------------------------


def _add_slow_tool(server, finished: list[str]) -> None:  # type: ignore[no-untyped-def]
    @server.tool(name="slow_count", title="Slow count", annotations=ToolAnnotations())
    def slow_count(steps: int, ctx: Context, pause_s: float = 0.0) -> int:
        """Count slowly, reporting progress."""
        progress = ProgressReporter(ctx, total=steps, interval_s=0.0)
        try:
            for done in range(1, steps + 1):
                time.sleep(pause_s)
                progress(done, message=f"step {done}")
        except BaseException as stop:
            finished.append(type(stop).__name__)
            raise
        finished.append("done")
        return steps


@pytest.mark.parametrize("mode", ERAS)
async def test_progress_reaches_the_client_and_cancellation_stops_the_work(mode: str) -> None:
    server, finished = build_server(), []
    _add_slow_tool(server, finished)
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with Client(server, mode=mode) as client:
        result = await client.call_tool("slow_count", {"steps": 4}, progress_callback=on_progress)
        with anyio.CancelScope() as slow_call:

            async def cancel_once_running(
                progress: float, total: float | None, message: str | None
            ) -> None:
                slow_call.cancel()

            await client.call_tool("slow_count", {"steps": 10_000, "pause_s": 0.01},
                                   progress_callback=cancel_once_running)
        # Uncancelled, the work sleeps 10,000 times 10 ms: over 100 s, however busy the machine.
        # Cancelled, it stops at its next step, within milliseconds; the bound is for a machine
        # far slower than that, and still far short of the 100 s.
        with anyio.fail_after(30):
            while len(finished) < 2:
                await anyio.sleep(0.02)

    assert result.structured_content == {"result": 4}
    assert seen == [(step, 4, f"step {step}") for step in (1, 2, 3, 4)]
    assert finished == ["done", "CancelledError"]
    assert threading.active_count() < 50


def test_progress_reporter_throttles_but_always_sends_the_last_step() -> None:
    sent: list[float] = []

    class FakeContext:
        async def report_progress(self, done: float, total: float | None, message: Any) -> None:
            sent.append(done)

    async def run() -> None:
        reporter = ProgressReporter(FakeContext(), total=1000, interval_s=60.0)  # type: ignore[arg-type]

        def work() -> None:
            for done in range(1, 1001):
                reporter(done)

        await anyio.to_thread.run_sync(work)

    anyio.run(run)
    assert sent == [1, 1000]


def test_tool_results_are_call_tool_results_with_text_first() -> None:
    # The cap measures the wire form; a plain CallToolResult dumps to what it measures.
    result = CallToolResult(
        content=[TextContent(type="text", text="a b c")], structured_content={"x": [1, 2]}
    )
    wire = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    assert answer_tokens(wire) == answer_tokens(
        {"content": [{"text": "a b c"}], "structuredContent": {"x": [1, 2]}}
    )
    assert answer_tokens(wire) > answer_tokens({"content": [{"text": "a b c"}]})
