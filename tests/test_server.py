"""The MCP server through real MCP clients: the SDK's in-memory client in both protocol eras, and
one stdio subprocess session like the one a desktop host starts."""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from shoal.server import build_server
from shoal.tokens import count_chat

pytestmark = pytest.mark.anyio

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

# One real call per tool, with what its structured answer must say.
CALLS: dict[str, dict[str, Any]] = {
    "count_tokens": {"text": "The quick brown fox jumps over the lazy dog."},
    "count_chat_tokens": {
        "messages": [{"role": "user", "content": "What's the weather like in Paris?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Now."}}],
    },
    "truncate_text": {"text": "The quick brown fox jumps over the lazy dog.", "max_tokens": 4},
    "split_text": {"text": "The quick brown fox jumps over the lazy dog.", "max_tokens": 4},
    "count_files": {"paths": ["tests/data/corpus"]},
    "route_task": {"prompt": "Prove that the square root of 2 is irrational."},
    "scan_private_data": {"text": "Ping ada@lovelace.org about the outage.", "redact": True},
    "record_outcome": {
        "decision_id": "d-" + "0123456789abcdef01234567",
        "model": "gpt-4o",
        "score": 0.75,
        "prompt": "Prove that the square root of 2 is irrational.",
    },
    "estimate_cost": {"model": "gpt-4.1-mini", "input_tokens": 1_000_000, "output_tokens": 500_000},
    "check_hardware_fit": {"model": "llama-3.1-8b-instruct", "device": "apple-m4-pro"},
    "port_chip": {"device": "iphone-16-pro", "to_node": "nanostack-claimed", "mode": "iso-power"},
    "sweep_hardware": {"devices": ["apple-m4-pro", "rtx-4090"], "nodes": ["as-built", "n2"]},
    "compare_costs": {
        "models": ["gpt-4o", "gpt-4.1-mini"],
        "input_tokens": 10_000,
        "output_tokens": 1_000,
        "baseline": "gpt-4o",
    },
    "fit_budget": {
        "items": [
            {"id": "task", "text": "Fix the failing test.", "required": True},
            {"id": "readme", "path": "README.md", "priority": 2},
        ],
        "budget_tokens": 200,
        "model": "gpt-4o",
        "truncate_last": True,
    },
    "trim_chat": {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny " * 200},
            {"role": "user", "content": "Thanks. And Rome?"},
        ],
        "budget_tokens": 100,
        "model": "gpt-4o",
    },
    "set_budget_limit": {"scope": "session:test", "usd": 1.0, "period": "day"},
    "record_usage": {
        "scope": "session:test",
        "model": "gpt-4o",
        "request_id": "call-1",
        "input_tokens": 10_000,
        "output_tokens": 500,
    },
    "budget_status": {"scope": "session:test"},
    "savings_report": {"scope": "session:test", "baseline": "claude-opus-4-5"},
}

# The tools that write the spend ledger, with their idempotent and destructive hints; every other
# tool is read-only.
LEDGER_WRITES = {
    "record_usage": (True, False),
    "set_budget_limit": (True, False),
    "record_outcome": (True, False),
}


@pytest.fixture(scope="module", autouse=True)
def ledger(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A ledger of the module's own, so no test writes to the user's data directory."""
    path = tmp_path_factory.mktemp("ledger") / "ledger.sqlite3"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHOAL_LEDGER", str(path))
        patch.setenv("SHOAL_FEEDBACK_DB", str(path.parent / "feedback.sqlite3"))
        yield path


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def server():  # type: ignore[no-untyped-def]
    return build_server()


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_every_tool_is_described_typed_and_read_only(server, mode: str) -> None:  # type: ignore[no-untyped-def]
    async with Client(server, mode=mode) as client:
        tools = (await client.list_tools()).tools

    assert sorted(tool.name for tool in tools) == sorted(CALLS)
    for tool in tools:
        assert TOOL_NAME.match(tool.name)
        assert tool.title and tool.description
        assert len(tool.description.encode()) < 2048
        assert tool.annotations is not None
        if tool.name in LEDGER_WRITES:
            assert tool.annotations.read_only_hint is False
            assert (tool.annotations.idempotent_hint, tool.annotations.destructive_hint) == (
                LEDGER_WRITES[tool.name]
            )
            continue
        assert tool.annotations.read_only_hint is True
        assert tool.annotations.destructive_hint is False
        assert tool.output_schema is not None and tool.output_schema["type"] == "object"
        for name, prop in tool.input_schema["properties"].items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
            assert "anyOf" not in prop, f"{tool.name}.{name} is a union some hosts reject"


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_each_tool_answers_real_input_with_structured_content(server, mode: str) -> None:  # type: ignore[no-untyped-def]
    async with Client(server, mode=mode) as client:
        results = {
            name: await client.call_tool(name, arguments) for name, arguments in CALLS.items()
        }

    for name, result in results.items():
        assert not result.is_error, f"{name}: {result.content}"
        assert result.structured_content, name
        assert result.content[0].type == "text" and result.content[0].text

    assert results["count_tokens"].structured_content == {
        "tokens": 10,
        "encoding": "o200k_base",
        "exact": True,
        "model": None,
        "characters": 44,
        "token_ratio": None,
        "ratio_source": None,
    }
    chat = results["count_chat_tokens"].structured_content
    assert chat["exact"] is True and chat["tools"] == 1
    assert chat["tokens"] == chat["message_tokens"] + chat["tool_tokens"]
    assert results["truncate_text"].structured_content["text"] == "The quick brown fox"
    split = results["split_text"].structured_content
    assert split["chunk_count"] == 3 and split["chunks"][-1]["end"] == 44
    files = results["count_files"].structured_content
    assert files["files_counted"] == 5 and files["total_tokens"] > 1_000_000 and files["exact"]
    cost = results["estimate_cost"].structured_content
    assert cost["model"] == "gpt-4.1-mini"
    assert cost["total_usd"] == pytest.approx(0.4 + 0.5 * 1.6)
    decision = results["route_task"].structured_content
    outcome = results["record_outcome"].structured_content
    assert outcome["status"] in ("recorded", "unchanged") and outcome["prompt_stored"] is True
    assert decision["decision_id"].startswith("d-") and decision["privacy"]["action"] == "none"
    assert decision["model"] == decision["alternatives"][0]["model"]
    assert decision["router_version"]
    scan = results["scan_private_data"].structured_content
    assert scan["finding_counts"] == {"email": 1}
    assert scan["redacted"] == "Ping [email] about the outage."
    fit = results["check_hardware_fit"].structured_content
    assert fit["fits"] is True and fit["decode_tokens_per_s"] > 0
    ported = results["port_chip"].structured_content
    assert ported["performance_ratio"] > 1 and ported["to_node"] == "nanostack-claimed"
    compared = results["compare_costs"].structured_content["comparisons"]
    assert [row["model"] for row in compared] == ["gpt-4.1-mini", "gpt-4o"]
    assert compared[0]["savings_fraction"] == pytest.approx(0.84)
    plan = results["fit_budget"].structured_content
    assert plan["included"] == ["task"] and plan["truncated"] == ["readme"]
    assert plan["total_tokens"] == 200
    trimmed = results["trim_chat"].structured_content
    assert trimmed["kept"] == [[0, 0], [4, 4]] and trimmed["tokens"] <= 100
    record = results["record_usage"].structured_content
    assert record["cost_usd"] == pytest.approx(0.03) and record["limit_usd"] == 1.0
    status = results["budget_status"].structured_content
    assert status["spent_usd"] == pytest.approx(0.03) and status["records"] == 1
    report = results["savings_report"].structured_content
    # 10,000 x $5 + 500 x $25 on claude-opus-4-5 = $0.0625 against $0.03 spent.
    assert report["records"] == 1 and report["baseline_usd"] == pytest.approx(0.0625)


async def test_chat_content_may_come_as_text_parts(server) -> None:  # type: ignore[no-untyped-def]
    parts = [{"type": "text", "text": "Hi"},
             {"type": "text", "text": " there", "cache_control": {"type": "ephemeral"}}]
    async with Client(server) as client:
        counted = await client.call_tool(
            "count_chat_tokens", {"messages": [{"role": "user", "content": parts}]}
        )
        image = await client.call_tool(
            "count_chat_tokens",
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
        )

    assert not counted.is_error and counted.structured_content["exact"] is False
    assert counted.structured_content["message_tokens"] == count_chat(
        [{"role": "user", "content": [{"type": "text", "text": "Hi"},
                                      {"type": "text", "text": " there"}]}]
    ).message_tokens
    assert image.is_error and "'image_url' part" in image.content[0].text


async def test_domain_errors_reach_the_model_and_the_server_keeps_serving(server) -> None:  # type: ignore[no-untyped-def]
    async with Client(server) as client:
        unknown = await client.call_tool(
            "estimate_cost", {"model": "gpt-4.1-mimi", "input_tokens": 5}
        )
        out_of_bounds = await client.call_tool(
            "check_hardware_fit", {"model": "phi-4", "device": "rtx-4090", "batch": 0}
        )
        after = await client.call_tool("count_tokens", {"text": "still here"})

    assert unknown.is_error and "gpt-4.1-mini" in unknown.content[0].text
    assert out_of_bounds.is_error and "batch" in out_of_bounds.content[0].text
    assert not after.is_error and after.structured_content["tokens"] == 2


async def test_routing_is_deterministic_over_the_wire(server) -> None:  # type: ignore[no-untyped-def]
    arguments = {"prompt": "Summarise the causes of the French Revolution.", "max_cost_usd": 0.01}
    async with Client(server) as client:
        first = await client.call_tool("route_task", arguments)
        second = await client.call_tool("route_task", arguments)

    assert json.dumps(first.structured_content, sort_keys=True) == json.dumps(
        second.structured_content, sort_keys=True
    )
    assert first.content[0].text == second.content[0].text


async def test_stdio_subprocess_session_lists_and_calls_every_tool(ledger) -> None:  # type: ignore[no-untyped-def]
    parameters = StdioServerParameters(
        command=sys.executable, args=["-m", "shoal", "serve", "--ledger", str(ledger)]
    )
    async with Client(parameters, mode="legacy") as client:
        names = sorted(tool.name for tool in (await client.list_tools()).tools)
        results = {
            name: await client.call_tool(name, arguments) for name, arguments in CALLS.items()
        }

    assert names == sorted(CALLS)
    for name, result in results.items():
        assert not result.is_error, f"{name}: {result.content}"
        assert result.structured_content
    assert results["count_tokens"].structured_content["tokens"] == 10


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        (
            "route_task",
            {"prompt": "Summarise this.", "max_cost": 0.001},
            "unknown argument 'max_cost' (did you mean 'max_cost_usd'?)",
        ),
        ("count_tokens", {"text": "a", "bogus": 1}, "unknown argument 'bogus'"),
        ("route_task", {"prompt": "x", "local_only": "yes"}, "argument 'local_only'"),
        ("estimate_cost", {"model": "gpt-4.1", "input_tokens": "100"}, "argument 'input_tokens'"),
        ("check_hardware_fit", {"model": "phi-4", "device": "rtx-4090", "batch": 0}, "'batch'"),
    ],
)
async def test_argument_mistakes_are_named_and_nothing_is_silently_dropped(
    server, mode: str, name: str, arguments: dict[str, Any], message: str
) -> None:  # type: ignore[no-untyped-def]
    async with Client(server, mode=mode) as client:
        wrong = await client.call_tool(name, arguments)
        right = await client.call_tool("count_tokens", {"text": "still serving"})

    assert wrong.is_error
    assert message in wrong.content[0].text
    assert "pydantic" not in wrong.content[0].text
    assert not right.is_error


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        ("sweep_hardware", {"mode": 123}, "argument 'mode': must be one of 'iso-power', "
                                          "'iso-performance', 'iso-area' (got 123)"),
        ("sweep_hardware", {"models": "x"}, "argument 'models': must be an array of strings "
                                            "(got 'x')"),
        ("sweep_hardware", {"models": ["phi-4", 7]}, "argument 'models.1': must be a string "
                                                     "(got 7)"),
        ("sweep_hardware", {"mode": None}, "argument 'mode': leave the argument out rather than "
                                           "sending null (got null)"),
        ("fit_budget", {"items": ["x"], "budget_tokens": 9, "model": "gpt-4o"},
         "argument 'items.0': must be a ContextItem object (got 'x')"),
        ("fit_budget", {"items": [{"text": "x"}], "budget_tokens": 9, "model": "gpt-4o"},
         "argument 'items.0.id': required, but not given"),
        ("route_task", {"prompt": "x", "history": ["x"]},
         "argument 'history.0': must be an object (got 'x')"),
        ("route_task", {"prompt": "x", "local_only": "yes"},
         "argument 'local_only': must be true or false (got 'yes')"),
        ("count_tokens", {"text": None}, "argument 'text': must be a string (got null)"),
        ("count_tokens", {"text": True}, "argument 'text': must be a string (got true)"),
        ("count_chat_tokens", {"messages": {"role": "user"}, "model": "gpt-4o"},
         "argument 'messages': must be an array of objects (got {\"role\": \"user\"})"),
    ],
)
async def test_argument_errors_speak_the_schema_s_terms_once_per_argument(
    server, name: str, arguments: dict[str, Any], message: str
) -> None:  # type: ignore[no-untyped-def]
    async with Client(server) as client:
        wrong = await client.call_tool(name, arguments)

    assert wrong.is_error and wrong.content[0].text == f"{name}: {message}"


# A made-up key and a test card number that passes the Luhn check.
AWS_KEY = "AKIAQYLPMN5HHHFPZAM2"
CARD = "4539 1488 0343 6467"


@pytest.mark.parametrize("arguments", [
    {"prompt": [f"AWS {AWS_KEY} card {CARD}"]},
    {"prompt": "x", "history": [f"AWS {AWS_KEY} card {CARD}"]},
    {"prompt": {"text": "x" * 10_000 + f" AWS {AWS_KEY} card {CARD}"}},
])
async def test_a_wrong_typed_text_is_quoted_back_with_its_secrets_hidden(
    server, arguments: dict[str, Any],
) -> None:  # type: ignore[no-untyped-def]
    # The privacy guard never sees a value of the wrong type, yet the error quotes its ends.
    async with Client(server) as client:
        wrong = await client.call_tool("route_task", arguments)

    text = wrong.content[0].text
    assert wrong.is_error and "(got " in text
    assert "[card_number]" in text
    assert all(piece not in text for piece in (AWS_KEY[4:12], CARD[-9:]))


@pytest.mark.parametrize(("tool", "arguments", "expected"), [
    ("record_outcome", {"decision_id": "d" * 26, "model": f"gpt-4o {AWS_KEY}", "score": 1},
     "unknown model 'gpt-4o [aws_access_key_id]'"),
    ("count_tokens", {"text": "a", f"extra_{AWS_KEY}": 1},
     "extra_[aws_access_key_id]"),
])
async def test_a_tool_error_quotes_no_secret_the_call_sent(
    server, tool: str, arguments: dict[str, Any], expected: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SHOAL_FEEDBACK_DB", str(tmp_path / "feedback.sqlite3"))
    # Wherever the error text comes from (the argument check, a domain error), it leaves the
    # server with secrets replaced.
    async with Client(server) as client:
        wrong = await client.call_tool(tool, arguments)

    text = wrong.content[0].text
    assert wrong.is_error and expected in text
    assert AWS_KEY[4:12] not in text


async def test_a_protocol_error_quotes_no_secret_the_call_sent(server) -> None:  # type: ignore[no-untyped-def]
    from mcp.shared.exceptions import MCPError

    async with Client(server) as client:
        with pytest.raises(MCPError) as unknown:
            await client.call_tool(f"count_{AWS_KEY}", {"text": "a"})
        with pytest.raises(MCPError) as no_resource:
            await client.read_resource(f"shoal://notes/{AWS_KEY}")

    assert unknown.value.error.message.startswith("Unknown tool: 'count_[aws_access_key_id]'. ")
    # The SDK's error repeats the URI in its data.
    assert no_resource.value.error.message == "Unknown resource: shoal://notes/[aws_access_key_id]"
    assert no_resource.value.error.data == {"uri": "shoal://notes/[aws_access_key_id]"}


async def test_route_task_takes_a_tool_call_conversation_as_python_route_does(server) -> None:  # type: ignore[no-untyped-def]
    from shoal import route

    history = [
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18 C, cloudy"},
    ]
    async with Client(server) as client:
        routed = await client.call_tool(
            "route_task", {"prompt": "And tomorrow?", "history": history, "candidates": ["gpt-4.1"]}
        )
        missing = await client.call_tool(
            "route_task", {"prompt": "x", "history": [{"role": "user"}]}
        )

    assert not routed.is_error, routed.content[0].text
    expected = route("And tomorrow?", history=history, candidates=["gpt-4.1"])
    assert routed.structured_content["decision_id"] == expected.decision_id
    assert routed.structured_content["alternatives"][0]["input_tokens"] == count_chat(
        [*history, {"role": "user", "content": "And tomorrow?"}], model="gpt-4.1"
    ).tokens
    assert missing.is_error and "argument 'history.0': content is missing" in (
        missing.content[0].text)


async def test_route_task_names_the_string_each_history_finding_indexes(server) -> None:  # type: ignore[no-untyped-def]
    from shoal import route, scan_conversation

    arguments = '{"to":"ana.lopez@gmail.com"}'
    history = [
        {"role": "user", "content": [{"type": "text", "text": "first part"},
                                     {"type": "text", "text": "key AKIAQYLPMN5HHHFPZAM2 here"}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "send", "arguments": arguments}}]},
    ]
    async with Client(server) as client:
        routed = await client.call_tool("route_task", {"prompt": "And now?", "history": history})

    assert not routed.is_error, routed.content[0].text
    findings = routed.structured_content["privacy"]["findings"]
    assert [(f["kind"], f["location"], f["start"], f["end"]) for f in findings] == [
        ("aws_access_key_id", "history[0].content[1].text", 4, 24),
        ("email", "history[1].tool_calls[0].function.arguments", 7, 26),
    ]
    assert arguments[7:26] == "ana.lopez@gmail.com"
    expected = route("And now?", history=history).privacy
    assert expected is not None and [dataclasses.asdict(f) for f in expected.findings] == \
        [dataclasses.asdict(f) for f in scan_conversation("And now?", history)] == findings
    assert "history[1].tool_calls[0].function.arguments[7:26]" in routed.content[0].text


async def test_route_task_caps_the_history_over_all_its_turns(server) -> None:  # type: ignore[no-untyped-def]
    # A thousand turns, each far under the cap of a text, and one turn far over it.
    many = [{"role": "user", "content": "x" * 8_001}] * 1_000
    one = [{"role": "user", "content": "ab " * 10_000_001}]
    async with Client(server) as client:
        too_many = await client.call_tool("route_task", {"prompt": "And now?", "history": many})
        too_long = await client.call_tool("route_task", {"prompt": "And now?", "history": one})
        after = await client.call_tool("route_task", {"prompt": "And now?", "history": many[:2]})

    assert too_many.is_error and too_many.content[0].text == (
        "route_task: argument 'history': at most 8,000,000 characters over all turns; the turns "
        "up to history[999] hold 8,001,000. Drop or shorten earlier turns")
    assert too_long.is_error and too_long.content[0].text == (
        "route_task: argument 'history': at most 8,000,000 characters over all turns; the turns "
        "up to history[0] hold 30,000,003. Drop or shorten earlier turns")
    assert not after.is_error, after.content[0].text


async def test_a_zero_cost_limit_leaves_only_free_local_models(server) -> None:  # type: ignore[no-untyped-def]
    prompt = "Refactor this function to remove its global state."
    async with Client(server) as client:
        free = await client.call_tool(
            "route_task", {"prompt": prompt, "max_cost_usd": 0, "local_only": True}
        )
        unpaid = await client.call_tool("route_task", {"prompt": prompt, "max_cost_usd": 0})
        unlimited = await client.call_tool("route_task", {"prompt": prompt})

    assert not free.is_error and free.structured_content["alternatives"][0]["runs_locally"]
    assert unpaid.is_error and "max_cost_usd" in unpaid.content[0].text
    assert not unlimited.is_error
