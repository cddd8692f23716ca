"""The bounds on what a caller sends, the same on every surface that takes it: the characters of
a chat over MCP, the turns of a conversation and the role each needs, the prompt a recorded
outcome may keep, and what a prompt too long for every candidate is told to do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

import shoal
from shoal.cli import main
from shoal.feedback import outcomes_as_rows, record_outcome
from shoal.router_model import fit_router
from shoal.server import build_server
from shoal.tokens import MAX_TEXT_CHARACTERS

pytestmark = pytest.mark.anyio

DECISION = "d-" + "0123456789abcdef01234567"
# Two small models: a prompt of 140,000 words is past both windows (8,192 and 131,072 tokens).
SMALL_WINDOWS = ["gemma-2-9b-it", "llama-3.1-8b-instruct"]
LONG_PROMPT = "word " * 140_000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def server():  # type: ignore[no-untyped-def]
    return build_server()


def error_of(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 2
    return capsys.readouterr().err


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


# ---- the chat tools bound the characters of messages and tools together ----


async def test_the_chat_tools_bound_the_characters_of_all_messages_and_tools(server) -> None:  # type: ignore[no-untyped-def]
    # Each message is far under the bound of a text; two of them are past the bound of a chat
    # (every string counts: 4 + 4 + 7 characters of keys and role besides the content).
    messages = [user("x" * 4_000_000), user("y" * 4_000_000)]
    tool = {"type": "function", "function": {"name": "f", "description": "d" * 8_000_000}}
    async with Client(server) as client:
        counted = await client.call_tool("count_chat_tokens", {"messages": messages})
        trimmed = await client.call_tool(
            "trim_chat", {"messages": messages, "budget_tokens": 100, "model": "gpt-4o"})
        with_tools = await client.call_tool(
            "count_chat_tokens", {"messages": [user("hi")], "tools": [tool]})
        after = await client.call_tool("count_chat_tokens", {"messages": messages[:1]})

    past = ("at most 8,000,000 characters over all messages and tool definitions; the messages "
            "up to messages[1] hold 8,000,030. Drop or shorten earlier messages")
    assert counted.is_error and counted.content[0].text == f"count_chat_tokens: messages: {past}"
    assert trimmed.is_error and trimmed.content[0].text == f"trim_chat: messages: {past}"
    assert with_tools.is_error and with_tools.content[0].text == (
        "count_chat_tokens: tools: at most 8,000,000 characters over all messages and tool "
        "definitions; the messages and tools up to tools[0] hold 8,000,053. Drop or shorten "
        "messages or tool definitions")
    assert not after.is_error, after.content[0].text


async def test_fit_budget_bounds_the_characters_of_all_items_texts(server) -> None:  # type: ignore[no-untyped-def]
    items = [{"id": f"part-{number}", "text": "x" * 3_000_000} for number in range(3)]
    arguments = {"budget_tokens": 100, "model": "gpt-4o"}
    async with Client(server) as client:
        refused = await client.call_tool("fit_budget", {"items": items, **arguments})
        fits = await client.call_tool("fit_budget", {"items": items[:2], **arguments})

    assert refused.is_error and refused.content[0].text == (
        "fit_budget: argument 'items': at most 8,000,000 characters of text over all items; "
        "the items up to items[2] hold 9,000,000. Drop or shorten items")
    assert not fits.is_error, fits.content[0].text


async def test_the_chat_tools_say_their_bounds(server) -> None:  # type: ignore[no-untyped-def]
    async with Client(server) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}

    bound = f"At most {MAX_TEXT_CHARACTERS:,} characters over all messages and tool definitions."
    for name in ("count_chat_tokens", "trim_chat"):
        messages = tools[name].input_schema["properties"]["messages"]
        assert bound in messages["description"]
        # As many messages as trim_chat takes, and a route_task history as many turns.
        assert messages["maxItems"] == 100_000
    assert tools["route_task"].input_schema["properties"]["history"]["maxItems"] == 100_000


# ---- a conversation's turns: as many on every surface, and each with a role ----


async def test_a_long_agent_chat_routes_over_mcp_as_in_python(server) -> None:  # type: ignore[no-untyped-def]
    history = [turn for step in range(600) for turn in (
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": f"call_{step}", "type": "function",
             "function": {"name": "read", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": f"call_{step}", "content": "ok"})]
    too_many = [user("hi")] * 100_001
    async with Client(server) as client:
        routed = await client.call_tool(
            "route_task", {"prompt": "And now?", "history": history, "candidates": ["gpt-4.1"]})
        refused = await client.call_tool(
            "route_task", {"prompt": "And now?", "history": too_many})

    assert not routed.is_error, routed.content[0].text
    expected = shoal.route("And now?", history=history, candidates=["gpt-4.1"])
    assert routed.structured_content["decision_id"] == expected.decision_id
    assert refused.is_error and refused.content[0].text == (
        "route_task: argument 'history': at most 100,000 items, got 100,001")


def test_a_history_holds_at_most_as_many_turns_in_python_and_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    from shoal import cli
    from shoal.router_policy import MAX_HISTORY_TURNS

    too_many = [user("hi")] * 100_001
    message = "history: at most 100,000 turns, got 100,001. Drop earlier turns"
    with pytest.raises(shoal.RoutingError) as routed:
        shoal.route("And now?", history=too_many)
    with pytest.raises(shoal.InputError) as scanned:
        shoal.scan_conversation("And now?", too_many)
    assert str(routed.value) == str(scanned.value) == message

    history = tmp_path / "history.json"
    history.write_text(json.dumps(too_many), encoding="utf-8")
    assert error_of(capsys, "route", "And now?", "--history", str(history)) == (
        f"shoal route: error: --history: {history}: {message}\n")
    assert cli.MAX_HISTORY_TURNS == MAX_HISTORY_TURNS
    with pytest.raises(SystemExit):
        main(["route", "--help"])
    assert "8,000,000 characters over all turns and 100,000 turns" in " ".join(
        capsys.readouterr().out.split())


async def test_a_turn_without_a_role_is_refused_everywhere_by_its_index(  # type: ignore[no-untyped-def]
    server, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    history = [user("What is Rust?"), {"content": "A systems language."}]
    message = "history[1] has no 'role'; every turn needs one"

    with pytest.raises(shoal.RoutingError) as routed:
        shoal.route("And Go?", history=history)
    with pytest.raises(shoal.InputError) as scanned:
        shoal.scan_conversation("And Go?", history)
    assert str(routed.value) == str(scanned.value) == message

    file = tmp_path / "history.json"
    file.write_text(json.dumps(history), encoding="utf-8")
    assert error_of(capsys, "route", "And Go?", "--history", str(file)) == (
        f"shoal route: error: --history: {file}: {message}\n")

    async with Client(server) as client:
        answer = await client.call_tool("route_task", {"prompt": "And Go?", "history": history})
    assert answer.is_error and answer.content[0].text == f"route_task: {message}"


# ---- a prompt too long for every candidate is told how to fit ----


def test_a_prompt_past_every_window_names_the_largest_and_how_to_cut_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(shoal.NoEligibleModelError) as refused:
        shoal.route(LONG_PROMPT, candidates=SMALL_WINDOWS)
    message = str(refused.value)

    assert message.startswith(
        "the prompt is larger than the largest candidate context window: llama-3.1-8b-instruct "
        "takes at most 131,072 input tokens, and the prompt is ")
    # A Python caller is pointed to the functions it can call.
    assert message.endswith(
        " tokens (1 other candidate takes fewer). Cut the prompt to fit: `shoal.split_chunks()` "
        "cuts it into parts to send one at a time, `shoal.truncate()` keeps its start or end")
    # No advice to relax a constraint that cannot help, and no list of every model's numbers.
    assert "relax" not in message and "gemma-2-9b-it" not in message

    # The command line names its commands instead, and says the rest alike.
    err = error_of(capsys, "route", "--candidates", ",".join(SMALL_WINDOWS), LONG_PROMPT)
    cut_at = message.index("Cut the prompt")
    assert err == (f"shoal route: error: {message[:cut_at]}Cut the prompt to fit: `shoal split` "
                   "cuts it into parts to send one at a time, `shoal truncate` keeps its start or "
                   "end\n")


def test_a_conversation_past_every_window_is_pointed_at_what_trims_its_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    history = [user("Read this."), {"role": "assistant", "content": "Done."}]
    with pytest.raises(shoal.NoEligibleModelError) as refused:
        shoal.route(LONG_PROMPT, candidates=SMALL_WINDOWS, history=history)
    assert str(refused.value).endswith(
        "`shoal.truncate()` keeps its start or end; `shoal.trim_chat()` drops the earliest turns "
        "of the history")

    file = tmp_path / "history.json"
    file.write_text(json.dumps(history), encoding="utf-8")
    err = error_of(capsys, "route", "--candidates", ",".join(SMALL_WINDOWS), "--history",
                   str(file), LONG_PROMPT)
    assert err.endswith("`shoal truncate` keeps its start or end; `shoal budget trim` drops the "
                        "earliest turns of the history\n")
    assert "shoal." not in err


def test_a_prompt_past_every_window_names_the_largest_of_the_models_left_to_choose() -> None:
    with pytest.raises(shoal.NoEligibleModelError) as excluded:
        shoal.route(LONG_PROMPT, candidates=SMALL_WINDOWS, excluded=["llama-3.1-8b-instruct"])
    # gpt-4.1's window of a million tokens takes it, but it is hosted.
    with pytest.raises(shoal.NoEligibleModelError) as local:
        shoal.route(LONG_PROMPT, candidates=[*SMALL_WINDOWS, "gpt-4.1"], local_only=True)

    assert str(excluded.value).startswith(
        "the prompt is larger than the largest candidate context window: gemma-2-9b-it takes "
        "at most 8,192 input tokens, and the prompt is ")
    assert "other candidate" not in str(excluded.value)
    assert str(local.value).startswith(
        "the prompt is larger than the largest candidate context window: llama-3.1-8b-instruct "
        "takes at most 131,072 input tokens, and the prompt is ")
    assert "(1 other candidate takes fewer)" in str(local.value)


def test_an_expected_output_past_every_window_is_told_how_far_to_lower_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(shoal.NoEligibleModelError) as refused:
        shoal.route("Summarise the report.", candidates=SMALL_WINDOWS,
                    expected_output_tokens=200_000)
    decision = shoal.route("Summarise the report.", candidates=["llama-3.1-8b-instruct"])
    room = 131_072 - decision.alternatives[0].input_tokens

    assert str(refused.value).startswith(
        "the prompt and expected output are larger than the largest candidate context window: "
        "llama-3.1-8b-instruct's holds 131,072 tokens, and the prompt is ")
    assert f"Lower expected_output_tokens to at most {room:,}, or cut the prompt" in str(
        refused.value)
    err = error_of(capsys, "route", "--candidates", ",".join(SMALL_WINDOWS),
                   "--output-tokens", "200000", "Summarise the report.")
    assert f"Lower --output-tokens to at most {room:,}, or cut" in err


async def test_route_task_points_a_too_long_prompt_at_the_tools_that_cut_it(server) -> None:  # type: ignore[no-untyped-def]
    history = [user("Read this."), {"role": "assistant", "content": "Done."}]
    async with Client(server) as client:
        answer = await client.call_tool(
            "route_task", {"prompt": LONG_PROMPT, "candidates": SMALL_WINDOWS, "history": history})

    text = answer.content[0].text
    assert answer.is_error and "the conversation is larger than the largest candidate" in text
    assert text.endswith(
        "Cut the prompt to fit: the tool split_text cuts it into parts to send one at a time, "
        "the tool truncate_text keeps its start or end; the tool trim_chat drops the earliest "
        "turns of the history")
    assert "shoal " not in text and "shoal." not in text


# ---- a prompt that can be routed can be recorded and learned from ----


async def test_a_recorded_prompt_may_be_as_long_as_a_routed_one(  # type: ignore[no-untyped-def]
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    database = tmp_path / "feedback.sqlite3"
    monkeypatch.setenv("SHOAL_FEEDBACK_DB", str(database))
    # Past the old bound of a million characters, with a secret to redact on the way in.
    long_prompt = "Review this log. " + "line ok\n" * 200_000 + "key AKIAQYLPMN5HHHFPZAM2"
    too_long = "x" * (MAX_TEXT_CHARACTERS + 1)

    recorded = record_outcome(DECISION, "gpt-4o", 0.5, prompt=long_prompt)
    assert recorded.prompt_stored and recorded.redactions == 1
    with pytest.raises(shoal.FeedbackError, match=(
            "prompt is longer than 8,000,000 characters, the most routing takes: got "
            "8,000,001")):
        record_outcome(DECISION, "gpt-4o", 0.5, prompt=too_long)

    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text(long_prompt, encoding="utf-8")
    assert main(["feedback", "record", DECISION, "gpt-4.1", "1",
                 "--prompt-file", str(prompt_file)]) == 0
    capsys.readouterr()

    async with Client(build_server()) as client:
        taken = await client.call_tool("record_outcome", {
            "decision_id": DECISION, "model": "gpt-4o-mini", "score": 0.25,
            "prompt": long_prompt})
        refused = await client.call_tool("record_outcome", {
            "decision_id": DECISION, "model": "gpt-4o-mini", "score": 0.25, "prompt": too_long})
    assert not taken.is_error, taken.content[0].text
    assert refused.is_error and "at most 8,000,000 characters" in refused.content[0].text

    # The stored prompts, redacted, are what a fit learns from.
    rows = outcomes_as_rows(database)
    assert {row["model"] for row in rows} == {"gpt-4o", "gpt-4.1", "gpt-4o-mini"}
    assert all(len(row["prompt"]) > 1_000_000 and "AKIA" not in row["prompt"] for row in rows)
    assert len(fit_router(rows, name="long", k=1)) == 1
