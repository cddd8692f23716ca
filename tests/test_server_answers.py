"""What the tools answer, through the SDK's client: produced text in the text content, the answer
cap stated and enforced before the work, bounded privacy findings, and arguments that mean one
thing only (a cost limit, an encoding beside a model). A price file that breaks while serving is a
tool error naming the file; compare_costs, check_hardware_fit and budget_status say what they
computed."""

from __future__ import annotations

import json
import os
import re
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from growth_support import PARTS, assert_growth_in_step, cpu_seconds_awaiting
from mcp import Client, StdioServerParameters

from shoal.budget import trim_chat
from shoal.cli import main
from shoal.excerpts import index_ranges
from shoal.files import DEFAULT_MAX_FILE_BYTES
from shoal.server import (
    LONG_ANSWERS,
    RUNNERS_UP_ALWAYS_SHOWN,
    SHOWN_FINDINGS,
    SHOWN_NOTES,
    TrimmedChatAnswer,
    build_server,
)
from shoal.server_policy import MAX_RESULT_TOKENS, answer_tokens, returned_text_limit
from shoal.token_budget import truncate
from shoal.tokens import count_chat, count_tokens

pytestmark = pytest.mark.anyio

README = Path(__file__).parent.parent / "README.md"
PACKAGE = Path(__file__).parent.parent / "python"
FOX = "The quick brown fox jumps over the lazy dog."
# 20,000 distinct addresses at a domain that is not reserved for documentation, short enough that
# the prompt (about 119,000 tokens) fits the context window of local models.
ADDRESSES = "Mail: " + " ".join(f"a{number}@b.co" for number in range(20_000))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def own_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ledger and feedback database of the test's own, never the user's."""
    monkeypatch.setenv("SHOAL_LEDGER", str(tmp_path / "ledger.sqlite3"))
    monkeypatch.setenv("SHOAL_FEEDBACK_DB", str(tmp_path / "feedback.sqlite3"))


@pytest.fixture(scope="module")
def server():  # type: ignore[no-untyped-def]
    return build_server()


def _wire(result: Any) -> dict[str, Any]:
    return result.model_dump(by_alias=True, mode="json", exclude_none=True)


# ---- produced text in the text content ----------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_truncate_text_puts_the_kept_text_in_the_text_content(server, mode: str) -> None:  # type: ignore[no-untyped-def]
    async with Client(server, mode=mode) as client:
        head = await client.call_tool("truncate_text", {"text": FOX, "max_tokens": 4})
        tail = await client.call_tool(
            "truncate_text", {"text": FOX, "max_tokens": 3, "side": "tail"}
        )

    summary, kept = head.content[0].text.split("\n\n", 1)
    assert summary.startswith("kept the head: 4 of 10 tokens")
    assert kept == "The quick brown fox" == head.structured_content["text"]
    assert tail.content[0].text.endswith("\n\n" + tail.structured_content["text"])
    assert tail.structured_content["text"].endswith("lazy dog.")


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_split_text_with_include_text_puts_each_chunk_in_the_text_content(
    server, mode: str
) -> None:  # type: ignore[no-untyped-def]
    async with Client(server, mode=mode) as client:
        with_text = await client.call_tool(
            "split_text", {"text": FOX, "max_tokens": 4, "include_text": True}
        )
        ranges_only = await client.call_tool("split_text", {"text": FOX, "max_tokens": 4})

    text = with_text.content[0].text
    assert text.startswith("3 chunks of at most 4 tokens")
    for number, chunk in enumerate(with_text.structured_content["texts"], start=1):
        assert f"chunk {number} [" in text and f"\n{chunk}" in text
    assert "chunk 1 [0:19], 4 tokens:\nThe quick brown fox" in text
    assert "The quick brown fox" not in ranges_only.content[0].text


# ---- the answer cap -----------------------------------------------------------------------------


async def test_tools_whose_answer_grows_state_the_cap_and_what_to_lower(server) -> None:  # type: ignore[no-untyped-def]
    async with Client(server) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}

    assert set(LONG_ANSWERS) <= set(tools)
    for name in LONG_ANSWERS:
        assert f"Answers over {MAX_RESULT_TOKENS:,} tokens are refused" in tools[name].description
    limit = f"{returned_text_limit(MAX_RESULT_TOKENS):,}"
    for name in ("truncate_text", "split_text"):
        assert f"max_tokens may be at most {limit}" in tools[name].description
        assert "command line" in tools[name].description
    assert f"{SHOWN_FINDINGS}" in tools["route_task"].description
    assert "alternatives_omitted" in tools["route_task"].description
    assert "refused" not in tools["route_task"].description
    assert "include_messages to false" in tools["trim_chat"].description
    assert "include_items to false" in tools["fit_budget"].description


async def test_a_smaller_cap_is_the_one_described_and_enforced() -> None:
    async with Client(build_server(max_result_tokens=1000)) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        refused = await client.call_tool("truncate_text", {"text": FOX, "max_tokens": 401})
        allowed = await client.call_tool("truncate_text", {"text": FOX, "max_tokens": 400})

    assert "Answers over 1,000 tokens are refused" in tools["truncate_text"].description
    assert "max_tokens may be at most 400" in tools["truncate_text"].description
    assert refused.is_error and "cap is 1,000 tokens" in refused.content[0].text
    assert not allowed.is_error


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_request_the_cap_cannot_carry_is_refused_before_the_work(
    server, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    calls: list[int] = []

    def counting_truncate(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return truncate(*args, **kwargs)

    monkeypatch.setattr("shoal.server.truncate", counting_truncate)
    long_text = "word " * 200_000
    async with Client(server, mode=mode) as client:
        truncated = await client.call_tool(
            "truncate_text", {"text": long_text, "max_tokens": 100_000}
        )
        split = await client.call_tool(
            "split_text", {"text": long_text, "max_tokens": 50_000, "include_text": True}
        )
        ranges = await client.call_tool("split_text", {"text": long_text, "max_tokens": 50_000})

    assert calls == []
    for refused in (truncated, split):
        message = refused.content[0].text
        assert refused.is_error and "argument 'max_tokens'" in message
        assert f"shoal's cap is {MAX_RESULT_TOKENS:,} tokens per answer" in message
        assert "command line" in message and "Python API" in message
    assert not ranges.is_error and ranges.structured_content["chunk_count"] == 5


async def test_the_largest_text_a_description_allows_fits_the_cap(server) -> None:  # type: ignore[no-untyped-def]
    limit = returned_text_limit(MAX_RESULT_TOKENS)
    readme = README.read_text(encoding="utf-8")
    async with Client(server) as client:
        kept = await client.call_tool("truncate_text", {"text": readme, "max_tokens": limit})
        chunks = await client.call_tool(
            "split_text",
            {"text": readme, "max_tokens": limit // 4, "include_text": True, "max_chunks": 4},
        )

    for answer in (kept, chunks):
        assert not answer.is_error, answer.content[0].text
        assert answer_tokens(_wire(answer)) <= MAX_RESULT_TOKENS
    assert kept.structured_content["tokens"] == limit


async def test_too_many_chunks_with_text_name_the_max_chunks_that_fits(server) -> None:  # type: ignore[no-untyped-def]
    readme = README.read_text(encoding="utf-8")
    async with Client(server) as client:
        refused = await client.call_tool(
            "split_text", {"text": readme, "max_tokens": 600, "include_text": True}
        )
        advised = await client.call_tool(
            "split_text",
            {"text": readme, "max_tokens": 600, "include_text": True, "max_chunks": 4},
        )

    message = refused.content[0].text
    assert refused.is_error and "argument 'max_chunks'" in message
    assert "Ask for max_chunks=4" in message and "shoal split --out-dir" in message
    assert not advised.is_error


async def test_the_advised_max_chunks_is_answered_in_full(server) -> None:  # type: ignore[no-untyped-def]
    # Short chunks: their ranges and headings, not only their texts, fill the answer.
    text = "Short words here. " * 3_000
    async with Client(server) as client:
        refused = await client.call_tool(
            "split_text", {"text": text, "max_tokens": 8, "include_text": True, "max_chunks": 1000}
        )
        advice = re.search(r"Ask for max_chunks=(\d+)", refused.content[0].text)
        assert refused.is_error and advice is not None
        advised = await client.call_tool("split_text", {
            "text": text, "max_tokens": 8, "include_text": True, "max_chunks": int(advice[1]),
        })

    assert not advised.is_error, advised.content[0].text
    assert len(advised.structured_content["chunks"]) == int(advice[1])
    assert advised.structured_content["chunks_omitted"] == (
        advised.structured_content["chunk_count"] - int(advice[1])
    )


@pytest.mark.parametrize("include_text", [False, True])
async def test_split_text_lists_the_chunks_that_fit_and_counts_the_rest(
    server, include_text: bool, caplog: pytest.LogCaptureFixture  # type: ignore[no-untyped-def]
) -> None:
    # 50,001 one-token chunks: under the most one split makes, far over what one answer holds.
    arguments = {"text": "abc " * 50_000, "max_tokens": 1, "max_chunks": 1000,
                 "include_text": include_text}
    async with Client(server) as client:
        result = await client.call_tool("split_text", arguments)

    assert not result.is_error, result.content[0].text
    assert answer_tokens(_wire(result)) <= MAX_RESULT_TOKENS
    split = result.structured_content
    listed = len(split["chunks"])
    assert 0 < listed < 1000 and split["chunk_count"] == 50_001
    assert split["chunks_omitted"] == 50_001 - listed
    assert len(split["texts"]) == (listed if include_text else 0)
    assert split["note"].startswith(
        f"chunks {listed + 1:,}-50,001 not listed: one answer holds no more"
    )
    # The text shows only the first ranges, so it says which ones the structured content lists.
    text = result.content[0].text
    if include_text:
        assert f"\n  note: {split['note']}\n" in text
        assert f"chunk {listed:,} [" in text and f"chunk {listed + 1:,} [" not in text
    else:
        assert text.endswith(
            f"\n  note: the structured content lists chunks 1-{listed:,}; {split['note']}"
        )
    # Fitted before it is sent, not refused by the cap after the work.
    assert "over the cap" not in caplog.text


async def test_split_text_counts_the_chunks_past_max_chunks(server) -> None:  # type: ignore[no-untyped-def]
    async with Client(server) as client:
        result = await client.call_tool("split_text", {"text": FOX, "max_tokens": 1,
                                                       "max_chunks": 3, "include_text": True})

    split = result.structured_content
    assert len(split["chunks"]) == 3 and split["chunks_omitted"] == split["chunk_count"] - 3
    assert split["note"] == (
        f"chunks 4-{split['chunk_count']:,} not listed; raise max_chunks to see them"
    )
    assert "chunk 1 [0:3], 1 token:\nThe" in result.content[0].text


# ---- privacy findings ---------------------------------------------------------------------------


def _check_bounded_privacy(result: Any) -> None:
    assert not result.is_error, result.content[0].text
    privacy = result.structured_content["privacy"]
    assert privacy["action"] == "kept_local"
    assert len(privacy["findings"]) == SHOWN_FINDINGS
    assert privacy["finding_counts"] == {"email": 20_000}
    assert privacy["findings_omitted"] == 20_000 - SHOWN_FINDINGS
    assert result.structured_content["alternatives"][0]["runs_locally"] is True
    assert answer_tokens(_wire(result)) <= MAX_RESULT_TOKENS

async def test_route_task_refuses_a_trade_off_it_would_ignore(server) -> None:  # type: ignore[no-untyped-def]
    floor = {"prompt": FOX, "min_quality": 0.6}
    async with Client(server) as client:
        ignored = await client.call_tool("route_task", {**floor, "willingness_to_pay": 5})
        default = await client.call_tool("route_task", floor)
        weighed = await client.call_tool(
            "route_task", {**floor, "willingness_to_pay": 5, "previous_model": "gpt-4o"}
        )

    assert ignored.is_error
    assert "route_task: willingness_to_pay does nothing with min_quality" in ignored.content[0].text
    assert not default.is_error and not weighed.is_error


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_route_task_lists_a_bounded_number_of_findings_with_counts(
    server, mode: str
) -> None:  # type: ignore[no-untyped-def]
    async with Client(server, mode=mode) as client:
        routed = await client.call_tool("route_task", {"prompt": ADDRESSES})
        few = await client.call_tool(
            "route_task", {"prompt": "Write to ann@acme-mail.com and bob@acme-mail.com."}
        )

    _check_bounded_privacy(routed)
    assert few.structured_content["privacy"]["findings_omitted"] == 0
    assert few.structured_content["privacy"]["finding_counts"] == {"email": 2}
    assert len(few.structured_content["privacy"]["findings"]) == 2


async def test_route_task_with_20000_addresses_over_stdio(tmp_path: Path) -> None:
    # This checkout's package, whichever shoal is installed.
    path = os.pathsep.join(filter(None, [str(PACKAGE), os.environ.get("PYTHONPATH")]))
    parameters = StdioServerParameters(
        command=sys.executable,
        args=["-m", "shoal", "serve", "--root", str(tmp_path), "--tools", "routing"],
        env={**os.environ, "PYTHONPATH": path},
    )
    async with Client(parameters, mode="legacy") as client:
        routed = await client.call_tool("route_task", {"prompt": ADDRESSES})

    _check_bounded_privacy(routed)


# 5,000 e-mail addresses, then a key: listed in the order found, the key was only counted.
ADDRESSES_THEN_KEY = "Mail: " + " ".join(f"a{n}@b.co" for n in range(5_000)) + " key " + (
    "AKIAQYLPMN5HHHFPZAM2")
KEY_AT = ADDRESSES_THEN_KEY.index("AKIA")


def _check_secret_listed_first(findings: list[dict[str, Any]]) -> None:
    assert len(findings) == SHOWN_FINDINGS
    assert (findings[0]["kind"], findings[0]["start"]) == ("aws_access_key_id", KEY_AT)
    addresses = findings[1:]
    assert {finding["kind"] for finding in addresses} == {"email"}
    assert [finding["start"] for finding in addresses][:2] == [6, 14]
    assert [finding["start"] for finding in addresses] == sorted(f["start"] for f in addresses)


async def test_a_secret_behind_many_findings_is_listed_before_them(server) -> None:  # type: ignore[no-untyped-def]
    key = f"aws_access_key_id in prompt[{KEY_AT}:{KEY_AT + 20}]"
    async with Client(server) as client:
        blocked = await client.call_tool(
            "route_task", {"prompt": ADDRESSES_THEN_KEY, "privacy": "block"})
        routed = await client.call_tool("route_task", {"prompt": ADDRESSES_THEN_KEY})
        scanned = await client.call_tool("scan_private_data", {"text": ADDRESSES_THEN_KEY})

    assert blocked.is_error
    assert blocked.content[0].text.startswith(
        f"route_task: privacy='block' refused the task: found a secret and personal data "
        f"({key}; email in prompt[6:13]; email in prompt[14:21];")
    assert "and 4993 more)" in blocked.content[0].text
    privacy = routed.structured_content["privacy"]
    _check_secret_listed_first(privacy["findings"])
    assert privacy["finding_counts"] == {"aws_access_key_id": 1, "email": 5_000}
    assert privacy["findings_omitted"] == 5_001 - SHOWN_FINDINGS
    assert f"Privacy: found a secret and personal data ({key}; email" in routed.content[0].text
    _check_secret_listed_first(scanned.structured_content["findings"])
    assert scanned.content[0].text.splitlines()[1] == (
        f"  secret aws_access_key_id in text[{KEY_AT}:{KEY_AT + 20}]")


# ---- arguments that mean one thing ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("count_tokens", {"text": FOX}),
        ("truncate_text", {"text": FOX, "max_tokens": 4}),
        ("split_text", {"text": FOX, "max_tokens": 4}),
        ("count_files", {"paths": ["README.md"]}),
    ],
)
async def test_an_encoding_beside_a_model_is_refused_by_name(
    server, name: str, arguments: dict[str, Any]
) -> None:  # type: ignore[no-untyped-def]
    async with Client(server) as client:
        both = await client.call_tool(
            name, {**arguments, "encoding": "cl100k_base", "model": "gpt-4.1"}
        )
        same = await client.call_tool(
            name, {**arguments, "encoding": "o200k_base", "model": "gpt-4.1"}
        )
        model = await client.call_tool(name, {**arguments, "model": "gpt-4.1"})
        encoding = await client.call_tool(name, {**arguments, "encoding": "cl100k_base"})
        default = await client.call_tool(name, arguments)

    for refused in (both, same):
        assert refused.is_error
        assert "arguments 'encoding' and 'model': give one, not both" in refused.content[0].text
    assert model.structured_content["model"] == "gpt-4.1"
    assert encoding.structured_content["encoding"] == "cl100k_base"
    assert default.structured_content["encoding"] == "o200k_base"


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        (
            "route_task",
            {"prompt": "Summarise this.", "max_cost_usd": -0.5},
            "argument 'max_cost_usd': -0.5 is not a cost; give 0 or more USD, or -1 for no limit",
        ),
        (
            "route_task",
            {"prompt": "Summarise this.", "max_cost_usd": -2},
            # A negative bound is the "no limit" sentinel, not an amount: no dollar sign.
            "argument 'max_cost_usd': must be at least -1 (got -2)",
        ),
        (
            "route_task",
            {"prompt": "Summarise this.", "max_cost_usd": -1e-7},
            "argument 'max_cost_usd': -0.0000001 is not a cost; give 0 or more USD, or -1 for no "
            "limit",
        ),
        (
            "record_outcome",
            {"decision_id": "d-" + "0" * 24, "model": "gpt-4o", "score": 1, "cost_usd": -0.5},
            "argument 'cost_usd': -0.5 is not a cost; give 0 or more USD, or -1 when it is unknown",
        ),
        (
            "record_outcome",
            {"decision_id": "d-" + "0" * 24, "model": "gpt-4o", "score": 1, "cost_usd": -1e-7},
            "argument 'cost_usd': -0.0000001 is not a cost; give 0 or more USD, or -1 when it is "
            "unknown",
        ),
    ],
)
async def test_a_negative_cost_other_than_minus_one_is_refused(
    server, name: str, arguments: dict[str, Any], message: str
) -> None:  # type: ignore[no-untyped-def]
    async with Client(server) as client:
        refused = await client.call_tool(name, arguments)

    assert refused.is_error and message in refused.content[0].text


async def test_a_recorded_cost_has_the_bound_of_the_cli_and_python(server) -> None:  # type: ignore[no-untyped-def]
    outcome = {"decision_id": "d-" + "0" * 24, "model": "gpt-4o", "score": 1}
    async with Client(server) as client:
        taken = await client.call_tool("record_outcome", {**outcome, "cost_usd": 1_000_001})
        refused = await client.call_tool("record_outcome", {**outcome, "cost_usd": 5e9})

    assert not taken.is_error, taken.content[0].text
    assert refused.is_error and refused.content[0].text == (
        "record_outcome: argument 'cost_usd': must be at most $4,611,686,018.42 "
        "(got 5,000,000,000)")


async def test_the_cost_limit_does_what_its_description_says(server) -> None:  # type: ignore[no-untyped-def]
    prompt = "Refactor this function to remove its global state."
    async with Client(server) as client:
        described = {tool.name: tool for tool in (await client.list_tools()).tools}
        unlimited = await client.call_tool("route_task", {"prompt": prompt, "max_cost_usd": -1})
        zero_alone = await client.call_tool("route_task", {"prompt": prompt, "max_cost_usd": 0})
        zero_local = await client.call_tool(
            "route_task", {"prompt": prompt, "max_cost_usd": 0, "local_only": True}
        )

    description = described["route_task"].input_schema["properties"]["max_cost_usd"]["description"]
    assert "-1, the default, means no limit" in description
    assert "0 alone leaves no candidate" in description
    assert not unlimited.is_error
    assert zero_alone.is_error and "max_cost_usd" in zero_alone.content[0].text
    assert not zero_local.is_error
    assert zero_local.structured_content["alternatives"][0]["expected_cost_usd"] == 0


async def test_a_chat_trim_chat_kept_is_a_history_route_task_takes(server) -> None:  # type: ignore[no-untyped-def]
    # route_task refused the developer role (OpenAI's newer name for system) trim_chat keeps.
    chat = [{"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": "What is Rust?"},
            {"role": "assistant", "content": "A systems language."}]
    async with Client(server) as client:
        trimmed = await client.call_tool(
            "trim_chat", {"messages": chat, "budget_tokens": 1_000, "model": "gpt-4o"})
        routed = await client.call_tool(
            "route_task", {"prompt": "and Go?", "history": trimmed.structured_content["messages"]})

    assert trimmed.structured_content["messages"] == chat
    assert not routed.is_error, routed.content[0].text
    assert routed.structured_content["conversation_turns"] == 3


async def test_trim_chat_and_fit_budget_put_what_they_made_in_the_text_content(server) -> None:  # type: ignore[no-untyped-def]
    history = [{"role": "system", "content": "Be brief."}] + [
        {"role": role, "content": f"{role} turn {n}: {FOX}"}
        for n in range(6) for role in ("user", "assistant")
    ]
    items = [{"id": "fox", "text": FOX * 20, "priority": 1}]
    async with Client(server) as client:
        trimmed = await client.call_tool(
            "trim_chat", {"messages": history, "budget_tokens": 60, "model": "gpt-4o"}
        )
        planned = await client.call_tool(
            "fit_budget",
            {"items": items, "budget_tokens": 50, "model": "gpt-4o", "truncate_last": True},
        )

    kept = trimmed.content[0].text.rsplit("\n\n", 1)[1]
    assert kept.startswith("kept messages (JSON):\n")
    assert json.loads(kept.split("\n", 1)[1]) == trimmed.structured_content["messages"]
    assert 0 < len(trimmed.structured_content["messages"]) < len(history)
    cut_item = planned.structured_content["items"][0]
    assert cut_item["status"] == "truncated"
    assert planned.content[0].text.endswith("cut text of fox:\n" + cut_item["text"])


async def test_trim_chat_of_a_long_agent_chat_fits_the_answer(server) -> None:  # type: ignore[no-untyped-def]
    # Thousands of dropped turns are written as index runs, not one number each.
    turns: list[dict[str, Any]] = [{"role": "system", "content": "You are a coding agent."}]
    for n in range(1_000):
        call = {"id": f"call_{n}", "type": "function",
                "function": {"name": "read_file", "arguments": f'{{"path": "src/{n}.py"}}'}}
        turns += [
            {"role": "user", "content": f"Step {n}: look at the next file."},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": f"call_{n}", "content": FOX * 3},
            {"role": "assistant", "content": f"File {n} looks fine."},
        ]
    async with Client(server) as client:
        result = await client.call_tool(
            "trim_chat", {"messages": turns, "budget_tokens": 2_000, "model": "gpt-4o"}
        )

    assert not result.is_error, result.content[0].text
    answer = result.structured_content
    kept = [i for first, last in answer["kept"] for i in range(first, last + 1)]
    dropped = [i for first, last in answer["dropped"] for i in range(first, last + 1)]
    assert sorted(kept + dropped) == list(range(len(turns)))
    assert kept[0] == 0 and kept[-1] == len(turns) - 1 and len(answer["messages"]) == len(kept)
    assert f"dropped messages 1-{kept[1] - 1}" in result.content[0].text


def _long_chat(messages: int) -> list[dict[str, Any]]:
    return [{"role": "user", "content": "word " * 80}] * messages


async def test_trim_chat_refuses_kept_messages_past_the_cap_before_building_the_answer(
    server, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    built: list[int] = []
    answer_of = TrimmedChatAnswer.of

    def counting_of(*args: Any, **kwargs: Any) -> Any:
        built.append(1)
        return answer_of(*args, **kwargs)

    monkeypatch.setattr(TrimmedChatAnswer, "of", counting_of)
    arguments = {"messages": _long_chat(10_000), "budget_tokens": 100_000_000, "model": "gpt-4o"}
    async with Client(server) as client:
        refused = await client.call_tool("trim_chat", arguments)

    message = refused.content[0].text
    assert refused.is_error and built == []
    assert "argument 'budget_tokens': the kept messages take 850,003 of the 100,000,000 " \
        "budget tokens" in message
    assert f"shoal's cap of {MAX_RESULT_TOKENS:,} tokens" in message
    assert "include_messages to false" in message and "shoal budget trim" in message


async def test_trim_chat_without_messages_answers_for_a_long_chat(server) -> None:  # type: ignore[no-untyped-def]
    chat = [{"role": "system", "content": "Be brief."}, *_long_chat(10_000)]
    async with Client(server) as client:
        whole = await client.call_tool("trim_chat", {
            "messages": chat, "budget_tokens": 100_000_000, "model": "gpt-4o",
            "include_messages": False,
        })
        latest = await client.call_tool("trim_chat", {
            "messages": chat, "budget_tokens": 50_000, "model": "gpt-4o",
            "include_messages": False,
        })

    assert not whole.is_error, whole.content[0].text
    assert whole.structured_content["messages"] is None
    assert whole.structured_content["kept"] == [[0, 10_000]]
    # 85 tokens a message (80 words, the role, 3 of overhead), 7 for the system message, 3 of
    # reply priming.
    assert whole.structured_content["tokens"] == 10_000 * 85 + 7 + 3
    assert "kept messages (JSON)" not in whole.content[0].text
    assert not latest.is_error, latest.content[0].text
    kept = latest.structured_content["kept"]
    assert kept[0] == [0, 0] and kept[1][1] == 10_000
    assert latest.structured_content["tokens"] <= 50_000
    assert f"dropped messages 1-{kept[1][0] - 1}" in latest.content[0].text


async def test_trim_chat_of_a_long_chat_takes_time_in_step_with_its_length(server) -> None:  # type: ignore[no-untyped-def]
    # Listing the dropped messages once took the square of the chat's length (over 30 s for
    # these 50,000 messages, where it now takes under a second).
    turn = [{"role": "user", "content": "Next?"}, {"role": "assistant", "content": "Done."}]
    async with Client(server) as client:

        async def trim(chat: list[dict[str, Any]]) -> Any:
            return await client.call_tool("trim_chat", {
                "messages": chat, "budget_tokens": 100_000_000, "model": "gpt-4o",
                "include_messages": False,
            })

        part_s = min([(await cpu_seconds_awaiting(trim(turn * 2_500)))[1] for _ in range(PARTS)])
        trimmed, whole_s = await cpu_seconds_awaiting(trim(turn * 25_000))

    assert not trimmed.is_error, trimmed.content[0].text
    assert trimmed.structured_content["kept"] == [[0, 49_999]]
    assert trimmed.structured_content["dropped"] == []
    assert_growth_in_step(part_s, whole_s, "trim_chat of 50,000 messages")


def _one_call_with_many_results(calls: int, orphans: int) -> tuple[list[Any], list[Any]]:
    """One assistant message making `calls` tool calls, each answered; and the same chat with a
    user message of `orphans` tool_result blocks that answer nothing."""
    chat: list[dict[str, Any]] = [
        {"role": "user", "content": "Read every file."},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": f"c{n}", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            for n in range(calls)
        ]},
        *({"role": "tool", "tool_call_id": f"c{n}", "content": "ok"} for n in range(calls)),
    ]
    blocks = [{"type": "tool_result", "tool_use_id": f"x{n}", "content": "ok"}
              for n in range(orphans)]
    return chat, [*chat, {"role": "user", "content": [*blocks, {"type": "text", "text": "Done?"}]}]


async def test_trim_chat_of_many_tool_results_takes_time_in_step_with_their_number(server) -> None:  # type: ignore[no-untyped-def]
    # One assistant message with 8,000 tool calls, each answered; then 30,000 tool_result blocks
    # that answer nothing (on gpt-4.1, whose window holds them all, so that no input-limit note
    # joins the orphans' one). Matching the calls, and removing the blocks, each took the square
    # of their number (over 15 s here); both now take a second or two on the pure-Python path.
    arguments = {"budget_tokens": 100_000_000, "model": "gpt-4.1", "include_messages": False}
    part = _one_call_with_many_results(800, 3_000)
    chat, noted_chat = _one_call_with_many_results(8_000, 30_000)
    async with Client(server) as client:

        async def trim_both(chats: tuple[list[Any], list[Any]]) -> tuple[Any, Any]:
            return (await client.call_tool("trim_chat", {"messages": chats[0], **arguments}),
                    await client.call_tool("trim_chat", {"messages": chats[1], **arguments}))

        part_s = min([(await cpu_seconds_awaiting(trim_both(part)))[1] for _ in range(PARTS)])
        (answered, noted), whole_s = await cpu_seconds_awaiting(trim_both((chat, noted_chat)))

    assert not answered.is_error, answered.content[0].text
    assert answered.structured_content["kept"] == [[0, 8_001]]
    assert answered.structured_content["notes"] == []
    assert not noted.is_error, noted.content[0].text
    assert noted.structured_content["notes"] == [
        "message 8002: 30,000 tool_result blocks ('x0', 'x1', 'x2' and 29,997 more) answer no "
        "earlier tool_use; removed"
    ]
    assert_growth_in_step(part_s, whole_s, "trim_chat of 8,000 calls and 30,000 orphans")


def _orphaned_chat(orphans: int) -> list[dict[str, Any]]:
    """Turns of four messages whose third is a tool result that answers no call."""
    chat: list[dict[str, Any]] = []
    for n in range(orphans):
        chat += [
            {"role": "user", "content": f"Step {n}: go on."},
            {"role": "assistant", "content": "Working on it."},
            {"role": "tool", "tool_call_id": f"call_{n}", "content": "stale result"},
            {"role": "assistant", "content": f"Step {n} done."},
        ]
    return chat


@pytest.mark.parametrize("budget_tokens", [100_000_000, 2_000])
async def test_trim_chat_without_messages_fits_a_chat_of_thousands_of_orphaned_results(
    server, budget_tokens: int
) -> None:  # type: ignore[no-untyped-def]
    # 12,000 messages, 3,000 of them orphaned results: 3,000 notes, and with the whole chat
    # kept, 3,000 dropped runs between 3,001 kept ones. Neither list fits one answer whole.
    chat = _orphaned_chat(3_000)
    async with Client(server) as client:
        trimmed = await client.call_tool("trim_chat", {
            "messages": chat, "budget_tokens": budget_tokens, "model": "gpt-4o",
            "include_messages": False,
        })

    assert not trimmed.is_error, trimmed.content[0].text
    assert answer_tokens(_wire(trimmed)) <= MAX_RESULT_TOKENS
    answer, text = trimmed.structured_content, trimmed.content[0].text
    whole = trim_chat(chat, budget_tokens=budget_tokens, model="gpt-4o")
    assert len(answer["notes"]) == SHOWN_NOTES
    assert answer["notes"] == list(whole.notes[:SHOWN_NOTES])
    assert answer["notes_omitted"] == 3_000 - SHOWN_NOTES
    assert f"  and {3_000 - SHOWN_NOTES:,} more notes (notes_omitted)" in text
    for runs, indices in (("kept", whole.kept), ("dropped", whole.dropped)):
        every_run = [list(run) for run in index_ranges(indices)]
        assert answer[runs] == every_run[: len(answer[runs])]
        assert len(answer[runs]) + answer[f"{runs}_runs_omitted"] == len(every_run)
    if budget_tokens == 100_000_000:
        assert answer["dropped_runs_omitted"] > 0
    if answer["dropped_runs_omitted"]:
        assert f"  and {answer['dropped_runs_omitted']:,} more dropped runs left out" in text


async def test_trim_chat_lists_first_why_nothing_but_the_system_messages_was_kept(server) -> None:  # type: ignore[no-untyped-def]
    chat = [
        {"role": "system", "content": "Be brief."},
        *({"role": "tool", "tool_call_id": f"old_{n}", "content": "stale"} for n in range(50)),
        {"role": "user", "content": "word " * 5_000},
    ]
    async with Client(server) as client:
        trimmed = await client.call_tool("trim_chat", {
            "messages": chat, "budget_tokens": 1_000, "model": "gpt-4o",
            "include_messages": False,
        })

    assert not trimmed.is_error, trimmed.content[0].text
    notes = trimmed.structured_content["notes"]
    assert notes[0].startswith("the latest turn alone takes ")
    assert trimmed.structured_content["notes_omitted"] == 51 - SHOWN_NOTES


async def test_fit_budget_without_items_lists_the_ids_by_status(server) -> None:  # type: ignore[no-untyped-def]
    items = [{"id": f"doc{n}", "text": f"Document {n}: " + "word " * 30, "priority": n % 7 + 1}
             for n in range(200)]
    items.append({"id": "long", "text": "word " * 5_000, "priority": 1_000})
    async with Client(server) as client:
        plan = await client.call_tool("fit_budget", {
            "items": items, "budget_tokens": 2_000, "model": "gpt-4o", "include_items": False,
        })
        cut = await client.call_tool("fit_budget", {
            "items": items[-31:], "budget_tokens": 2_000, "model": "gpt-4o",
            "include_items": False, "truncate_last": True,
        })

    assert not plan.is_error, plan.content[0].text
    answer = plan.structured_content
    assert answer["items"] == [] and len(answer["included"]) + len(answer["dropped"]) == 201
    assert f"  included: {', '.join(answer['included'])}" in plan.content[0].text
    assert f"  dropped: {', '.join(answer['dropped'])}" in plan.content[0].text
    assert not cut.is_error, cut.content[0].text
    [cut_item] = cut.structured_content["items"]
    assert cut_item["id"] == "long" and cut_item["status"] == "truncated"
    assert cut.content[0].text.endswith("cut text of long:\n" + cut_item["text"])


async def test_fit_budget_advice_fits_the_request(server) -> None:  # type: ignore[no-untyped-def]
    many = [{"id": f"doc{n}", "text": f"Document {n}: " + "word " * 30} for n in range(200)]
    long = [{"id": "long", "text": "word " * 20_000}]
    async with Client(server) as client:
        items_off = await client.call_tool(
            "fit_budget", {"items": many, "budget_tokens": 2_000, "model": "gpt-4o"}
        )
        ids_only = await client.call_tool("fit_budget", {
            "items": [{"id": f"{n}-" + "x" * 150, "text": "word"} for n in range(1_000)],
            "budget_tokens": 2_000, "model": "gpt-4o", "include_items": False,
        })
        cut_text = await client.call_tool("fit_budget", {
            "items": long, "budget_tokens": 10_000, "model": "gpt-4o", "truncate_last": True,
        })

    advice = items_off.content[0].text
    assert items_off.is_error and "include_items to false" in advice
    assert "truncate_last" not in advice
    assert ids_only.is_error and "shorter ids" in ids_only.content[0].text
    assert "include_items" not in ids_only.content[0].text
    advice = cut_text.content[0].text
    assert cut_text.is_error and "leave truncate_last off" in advice
    assert "fewer items" not in advice


@pytest.mark.parametrize("max_alternatives", [0, 1, 10])
async def test_route_task_text_shows_the_runners_up_it_returns(
    server, max_alternatives: int
) -> None:  # type: ignore[no-untyped-def]
    arguments = {"prompt": "Prove that there are infinitely many primes.",
                 "max_alternatives": max_alternatives}
    async with Client(server) as client:
        routed = await client.call_tool("route_task", arguments)

    returned = [candidate["model"] for candidate in routed.structured_content["alternatives"][1:]]
    shown = [line.split()[1].rstrip(":") for line in routed.content[0].text.splitlines()
             if line.startswith(("  or ", "  not "))]
    assert len(returned) == max_alternatives and shown == returned


PRIMES = "Prove that there are infinitely many primes."


@pytest.fixture
def every_model_offered(monkeypatch: pytest.MonkeyPatch) -> None:
    """A date before any catalog model retired, so that every routable model is a candidate
    and the full list of runners-up is longer than one answer holds."""
    import datetime

    from shoal import catalog

    monkeypatch.setattr(catalog, "today", lambda: datetime.date(2026, 10, 1))


@pytest.mark.parametrize(
    "arguments",
    [
        {"prompt": PRIMES, "local_only": True, "max_alternatives": 34},
        {"prompt": PRIMES, "local_only": True, "max_alternatives": 100},
        {"prompt": "Send the proof that there are infinitely many primes to ann@acme-mail.com.",
         "max_alternatives": 100},
        {"prompt": PRIMES, "max_cost_usd": 1e-05, "max_alternatives": 100},
        {"prompt": PRIMES, "min_quality": 0.99, "max_alternatives": 100},
        {"prompt": PRIMES, "local_only": True, "device": "iphone-16-pro",
         "max_alternatives": 100},
    ],
    ids=["local_only-34", "local_only-100", "kept-local", "max_cost_usd", "min_quality",
         "device"],
)
@pytest.mark.usefixtures("every_model_offered")
async def test_route_task_returns_the_runners_up_that_fit_and_counts_the_rest(
    server, arguments: dict[str, Any]
) -> None:  # type: ignore[no-untyped-def]
    # Runners-up that break constraints carry every check: these lists once took the answer
    # past the cap and the call was refused.
    async with Client(server) as client:
        routed = await client.call_tool("route_task", arguments)

    assert not routed.is_error, routed.content[0].text
    assert answer_tokens(_wire(routed)) <= MAX_RESULT_TOKENS
    decision, lines = routed.structured_content, routed.content[0].text.splitlines()
    returned = len(decision["alternatives"]) - 1
    [shortened] = [note for note in decision["notes"] if note.startswith("shortened: ")]
    not_returned = int(shortened.split()[1])
    omitted = min(arguments["max_alternatives"], returned + not_returned) - returned
    assert omitted > 0 and decision["alternatives_omitted"] == omitted
    assert any(line.startswith(f"  {omitted} more runners-up asked for left out to keep the "
                               "answer under the cap") for line in lines)
    detailed = sum(line.startswith(("  or ", "  not ")) for line in lines)
    assert detailed == returned or f"  and {returned - detailed} more runners-up (see " \
        "alternatives)" in lines
    # A host may show the model the text alone: it names the first runners-up at least.
    assert detailed >= min(RUNNERS_UP_ALWAYS_SHOWN, returned) > 0
    if "ann@" in arguments["prompt"]:
        assert decision["privacy"]["action"] == "kept_local"


async def test_route_task_without_runners_up_names_none(server) -> None:  # type: ignore[no-untyped-def]
    async with Client(server) as client:
        alone = await client.call_tool("route_task", {"prompt": PRIMES, "max_alternatives": 0})
        one = await client.call_tool("route_task", {"prompt": PRIMES, "max_alternatives": 1})

    assert [c["model"] for c in alone.structured_content["alternatives"]] == [
        alone.structured_content["model"]
    ]
    assert "runner-up" not in alone.content[0].text
    assert "runner-up" not in alone.structured_content["reason"]
    runner_up = one.structured_content["alternatives"][1]["model"]
    assert f"The runner-up, {runner_up}, is predicted at" in one.structured_content["reason"]
    assert one.content[0].text.startswith(f"Use {one.structured_content['model']}. "
                                          f"{one.structured_content['reason']}\n")


async def test_a_truncation_of_one_character_says_character(server) -> None:  # type: ignore[no-untyped-def]
    async with Client(server) as client:
        cut = await client.call_tool("truncate_text", {"text": "a", "max_tokens": 0})

    summary = "kept the head: 0 of 1 token, 0 of 1 character (exact, o200k_base)"
    assert cut.content[0].text == summary


@pytest.mark.usefixtures("every_model_offered")
async def test_route_task_text_counts_the_runners_up_the_cap_leaves_no_room_for(server) -> None:  # type: ignore[no-untyped-def]
    async with Client(server) as client:
        routed = await client.call_tool(
            "route_task", {"prompt": "Prove that there are infinitely many primes.",
                           "max_alternatives": 100}
        )

    assert not routed.is_error, routed.content[0].text
    runners_up = len(routed.structured_content["alternatives"]) - 1
    lines = routed.content[0].text.splitlines()
    detailed = sum(line.startswith(("  or ", "  not ")) for line in lines)
    assert RUNNERS_UP_ALWAYS_SHOWN <= detailed < runners_up
    assert f"  and {runners_up - detailed} more runners-up (see alternatives)" in lines
    assert answer_tokens(_wire(routed)) <= MAX_RESULT_TOKENS


async def test_a_file_name_that_is_not_utf8_is_counted_and_shown_as_json_can_carry_it(
    tmp_path: Path,
) -> None:
    # Linux file names are bytes: Python reads 0xff as a lone surrogate, which no answer holds.
    (tmp_path / os.fsdecode(b"bad\xff.txt")).write_text("hi")
    (tmp_path / "ok.txt").write_text("hi")

    async with Client(build_server(roots=[tmp_path])) as client:
        counted = await client.call_tool("count_files", {"paths": ["."]})

    assert not counted.is_error, counted.content[0].text
    paths = sorted(item["path"] for item in counted.structured_content["largest_files"])
    assert paths == ["./bad\ufffd.txt", "./ok.txt"]
    assert counted.structured_content["total_tokens"] == 2
    assert "bad\\udcff.txt" in counted.content[0].text


async def test_a_file_over_the_size_limit_is_skipped_with_advice_the_tool_can_follow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    large = tmp_path / "large.txt"
    with large.open("wb") as handle:
        handle.truncate(DEFAULT_MAX_FILE_BYTES + 1)  # sparse: its size is checked before reading

    async with Client(build_server(roots=[tmp_path])) as client:
        counted = await client.call_tool("count_files", {"paths": ["."]})

    assert not counted.is_error, counted.content[0].text
    [skipped] = counted.structured_content["skipped"]
    # The tool has no max_file_bytes argument: its advice names none.
    assert "max_file_bytes" not in skipped["reason"]
    assert skipped["reason"].endswith(
        "(a fixed limit for this server: give a part of the file's text to count_tokens or "
        "split_text, or count the file with shoal count --file FILE --max-file-bytes N)"
    )
    assert skipped["reason"] in counted.content[0].text
    # The command line names its own option.
    assert main(["count", "--file", str(tmp_path)]) == 0
    assert "(raise --max-file-bytes, or count a part with truncate or split)" in (
        capsys.readouterr().out)


async def test_a_path_out_of_the_roots_is_named_by_its_argument_however_short(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    async with Client(build_server(roots=[project])) as client:
        answers = {path: await client.call_tool("count_files", {"paths": [path]})
                   for path in ("..", "~", "../x", "~/x")}

    for path, answer in answers.items():
        assert answer.is_error
        assert answer.content[0].text.startswith(f"count_files: argument 'paths': {path} "), (
            answer.content[0].text)


async def test_a_chat_field_of_the_wrong_type_is_named_with_json_s_type(server) -> None:  # type: ignore[no-untyped-def]
    async with Client(server) as client:
        answers = [
            await client.call_tool("count_chat_tokens", {"messages": [
                {"role": "user", "content": "hi", "n": value}]})
            for value in ({"a": 1}, [1], 1.5, None)
        ]

    assert [answer.content[0].text for answer in answers] == [
        f"count_chat_tokens: messages[0]['n'] must be a string, not {named}"
        for named in ("an object", "an array", "a number", "null")
    ]


# ---- the configured price file, and answers that say what was computed -------------------------


BROKEN_PRICES = {"models": [{"id": "gpt-4o", "input_per_mtok": "cheap"}]}
BROKEN_MESSAGE = "field 'input_per_mtok' must be a finite number, got 'cheap'"

# One priced call per tool that reads the configured catalog.
PRICED_CALLS = {
    "estimate_cost": {"model": "gpt-4o", "input_tokens": 1_000},
    "compare_costs": {"models": ["gpt-4o", "gpt-4.1-mini"], "input_tokens": 1_000},
    "route_task": {"prompt": "Summarise this paragraph in one line."},
    "record_usage": {"scope": "s", "model": "gpt-4o", "request_id": "r1", "input_tokens": 1_000,
                     "output_tokens": 10},
}


async def test_a_price_file_broken_while_serving_is_a_tool_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHOAL_PRICES", raising=False)
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps(BROKEN_PRICES), encoding="utf-8")

    async with Client(build_server()) as client:
        monkeypatch.setenv("SHOAL_PRICES", str(prices))
        results = {name: await client.call_tool(name, arguments)
                   for name, arguments in PRICED_CALLS.items()}

    # Not the SDK's "Error executing tool estimate_cost" of a crash: the file and what is wrong.
    for name, result in results.items():
        text = result.content[0].text
        assert result.is_error, name
        assert text.startswith(f"{name}: ") and "Error executing" not in text, text
        assert "prices.json" in text and BROKEN_MESSAGE in text, f"{name}: {text}"


async def test_the_server_s_own_files_broken_while_serving_are_no_argument_s_fault(
    tmp_path: Path,
) -> None:
    # A scope and a model that the broken files' errors quote (the scope is a folder of the
    # ledger's path, the model a row of the price file): the errors must not blame them.
    scope = "project-alpha"
    folder = tmp_path / scope
    folder.mkdir()
    ledger, prices = folder / "ledger.sqlite3", folder / "live.json"
    feedback = folder / "feedback.sqlite3"
    prices.write_text(json.dumps({"models": [{"id": "gpt-4o", "input_per_mtok": 2.5}]}),
                      encoding="utf-8")
    path = os.pathsep.join(filter(None, [str(PACKAGE), os.environ.get("PYTHONPATH")]))
    parameters = StdioServerParameters(
        command=sys.executable,
        args=["-m", "shoal", "serve", "--root", str(tmp_path), "--ledger", str(ledger),
              "--prices", str(prices)],
        env={**os.environ, "PYTHONPATH": path, "SHOAL_FEEDBACK_DB": str(feedback)},
    )
    record = {"scope": scope, "model": "gpt-4o", "request_id": "r1", "input_tokens": 10}
    outcome = {"decision_id": "d-" + "0" * 24, "model": "gpt-4o", "score": 1}
    answers = []
    async with Client(parameters, mode="legacy") as client:
        ledger.mkdir()
        feedback.mkdir()
        for name, arguments in (("record_usage", record), ("budget_status", {"scope": scope}),
                                ("record_outcome", outcome)):
            answers.append((name, "ledger" if name != "record_outcome" else "feedback database",
                            await client.call_tool(name, arguments)))
        ledger.rmdir()
        ledger.symlink_to("/dev/zero")
        answers.append(("budget_status", "ledger",
                        await client.call_tool("budget_status", {"scope": scope})))
        prices.write_text('{"models": [{"id": "gpt-4o", "input_per_mtok": NaN}]}',
                          encoding="utf-8")
        for name, arguments in (("estimate_cost", {"model": "gpt-4o", "input_tokens": 10}),
                                ("count_tokens", {"text": "hi", "model": "gpt-4o"})):
            answers.append((name, "price catalog", await client.call_tool(name, arguments)))
        still = await client.call_tool("count_tokens", {"text": "still serving"})

    for name, what, answer in answers:
        text = answer.content[0].text
        assert answer.is_error, text
        assert text.startswith(f"{name}: the server's own {what} is at fault, not this call's "
                               "arguments, and only the server's operator can fix it: "), text
        assert "argument '" not in text, text
    texts = [answer.content[0].text for _, _, answer in answers]
    assert f"cannot open the ledger {ledger}: it is a folder" in texts[0]
    assert f"cannot open the feedback database {feedback}" in texts[2]
    assert f"cannot open the ledger {ledger}: it is not a regular file" in texts[3]
    assert "live.json model #1 (id 'gpt-4o'): field 'input_per_mtok' must be a finite" in texts[4]
    assert not still.is_error, still.content[0].text


async def test_a_price_file_that_cannot_be_read_stops_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shoal.catalog import CatalogError

    monkeypatch.setenv("SHOAL_PRICES", str(tmp_path / "missing.json"))

    with pytest.raises(CatalogError, match=r"cannot read catalog file .*missing\.json"):
        async with Client(build_server()):
            pass


async def test_count_chat_tokens_counts_anthropic_tool_blocks() -> None:
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "t1", "name": "weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]},
    ]

    async with Client(build_server()) as client:
        counted = await client.call_tool("count_chat_tokens", {"messages": messages})
        robot = await client.call_tool(
            "count_chat_tokens", {"messages": [{"role": "robot", "content": "Hi"}]}
        )

    assert not counted.is_error, counted.content[0].text
    assert counted.structured_content["exact"] is False
    assert "tool_use and tool_result blocks" in counted.structured_content["method"]
    assert robot.is_error and "unknown role 'robot'" in robot.content[0].text


async def test_count_chat_tokens_counts_text_parts_and_refuses_the_rest_for_their_reason() -> None:
    thinking = {"type": "thinking", "thinking": "Paris is in France.", "signature": "Eq" * 200}
    answer = {"type": "text", "text": "Paris."}

    async with Client(build_server()) as client:
        with_thinking = await client.call_tool("count_chat_tokens", {"messages": [
            {"role": "user", "content": [{"type": "input_text", "text": "Capital of France?"}]},
            {"role": "assistant", "content": [thinking, answer]},
        ]})
        document = await client.call_tool("count_chat_tokens", {"messages": [
            {"role": "user", "content": [{"type": "document", "source": {"type": "base64"}}]}]})
        untyped = await client.call_tool("count_chat_tokens", {"messages": [
            {"role": "user", "content": [{"text": "Hi"}]}]})

    assert not with_thinking.is_error, with_thinking.content[0].text
    assert with_thinking.structured_content["tokens"] == count_chat([
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris is in France."},
    ]).tokens + count_tokens("Paris.").tokens
    assert "thinking blocks counted by their text" in with_thinking.structured_content["method"]
    assert document.is_error and (
        "messages[0]['content'][0] is a 'document' part: a document's tokens depend on how the "
        "vendor reads its file") in document.content[0].text
    assert untyped.is_error and "messages[0]['content'][0] has no 'type'" in untyped.content[0].text


async def test_trim_chat_says_why_it_kept_nothing_and_what_budget_keeps_it(server) -> None:  # type: ignore[no-untyped-def]
    chat = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "function_call": {
            "name": "weather", "arguments": '{"city":"Paris"}'}},
        {"role": "function", "name": "weather", "content": "18 C, sunny"},
        {"role": "assistant", "content": "18 C and sunny."},
    ]
    whole = count_chat(chat, model="gpt-4o").tokens
    async with Client(server) as client:
        trimmed = await client.call_tool("trim_chat", {
            "messages": chat, "budget_tokens": whole - 1, "model": "gpt-4o"})

    assert not trimmed.is_error, trimmed.content[0].text
    assert trimmed.structured_content["kept"] == []
    assert trimmed.structured_content["notes"][0].endswith(
        f"a budget of {whole:,} tokens keeps the latest user message (message 0) and the 3 "
        "messages after it")


async def test_compare_costs_names_the_baseline_and_rounds_the_fraction() -> None:
    arguments = {"models": ["gpt-4o", "gpt-4.1-mini", "claude-sonnet-4-5"],
                 "input_tokens": 10_000, "output_tokens": 1_000, "baseline": "openai/gpt-4o"}

    async with Client(build_server()) as client:
        result = await client.call_tool("compare_costs", arguments)

    rows = {row["model"]: row for row in result.structured_content["comparisons"]}
    # $0.0056 against $0.035: 0.84 exactly, not 0.8400000000000001 or the like.
    assert rows["gpt-4.1-mini"]["savings_fraction"] == 0.84
    assert {row["baseline"] for row in rows.values()} == {"gpt-4o"}
    assert result.content[0].text.splitlines() == [
        "gpt-4.1-mini: $0.0056, saves $0.0294 (84%) vs gpt-4o",
        "gpt-4o: $0.035 (the baseline)",
        "claude-sonnet-4-5: $0.045, costs $0.01 (29%) more than gpt-4o",
        "  note: claude-sonnet-4-5 was retired on 2026-11-30 per the catalog; its prices may no "
        "longer apply",
    ]


def _unit_figures(content: Any, unit_field: bool = False) -> list[float]:
    """Every float of structured content under a key naming USD or GB."""
    if isinstance(content, dict):
        return [figure for key, item in content.items()
                for figure in _unit_figures(item, bool({"usd", "gb"} & set(key.split("_"))))]
    if isinstance(content, list):
        return [figure for item in content for figure in _unit_figures(item, unit_field)]
    return [content] if unit_field and isinstance(content, float) else []


async def test_money_and_gigabytes_come_back_without_float_noise(server) -> None:  # type: ignore[no-untyped-def]
    async with Client(server) as client:
        compared = await client.call_tool(
            "compare_costs",
            {"models": ["gpt-4.1-mini", "gpt-4o"], "input_tokens": 1200, "output_tokens": 3500},
        )
        fit = await client.call_tool(
            "check_hardware_fit",
            {"model": "qwen3-30b-a3b", "device": "rtx-4090", "context_tokens": 32768},
        )

    rows = {row["model"]: row for row in compared.structured_content["comparisons"]}
    # The sums are 0.0060799999999999995, 0.038000000000000006 and 24.481313587200003 in floats.
    assert rows["gpt-4.1-mini"]["total_usd"] == 0.00608
    assert rows["gpt-4o"]["estimate"]["total_usd"] == 0.038
    assert fit.structured_content["memory_available_gb"] == 24.4813135872
    figures = _unit_figures(compared.structured_content) + _unit_figures(fit.structured_content)
    assert len(figures) > 10
    for figure in figures:
        assert len(Decimal(repr(figure)).normalize().as_tuple().digits) <= 12, figure


async def test_record_outcome_names_the_model_argument_and_advises_once(server) -> None:  # type: ignore[no-untyped-def]
    arguments = {"decision_id": "d-" + "0" * 24, "model": "gpt-4.1-mimi", "score": 0.5}
    async with Client(server) as client:
        refused = await client.call_tool("record_outcome", arguments)

    text = refused.content[0].text
    assert refused.is_error
    assert text.startswith("record_outcome: argument 'model': unknown model 'gpt-4.1-mimi': did "
                           "you mean 'gpt-4.1-mini'")
    assert text.count("SHOAL_PRICES") == 1 and text.endswith("in shoal's README)")


async def test_route_task_chooses_with_the_router_the_server_was_given(tmp_path: Path) -> None:
    from shoal.router import fit_router, load_router

    rows = [{"prompt": prompt, "model": model, "score": score}
            for prompt, scores in (("Solve 2x + 1 = 5 for x.", (1.0, 0.0)),
                                   ("Write a haiku about autumn leaves.", (0.0, 1.0)),
                                   ("What is 17 times 23?", (1.0, 0.0)))
            for model, score in zip(("qwen2.5-7b-instruct", "gemma-2-9b-it"), scores, strict=True)]
    team = fit_router(rows, name="team", dim=32, k=2).save(tmp_path / "team.json")
    arguments = {"prompt": "Solve 3x - 4 = 11 for x.", "local_only": True}

    async with Client(build_server(router=team)) as client:
        routed = await client.call_tool("route_task", arguments)
    async with Client(build_server()) as client:
        shipped = await client.call_tool("route_task", arguments)

    assert not routed.is_error, routed.content[0].text
    version = routed.structured_content["router_version"]
    assert version == load_router(team).version and version.startswith("team@")
    assert shipped.structured_content["router_version"] == load_router().version != version


async def test_route_task_reads_a_routers_labels_and_prices_as_route_does(
    tmp_path: Path,
) -> None:
    from shoal.router import fit_router

    # Catalog models spelt as a provider writes them, and a model the catalog lacks.
    rows = [{"prompt": prompt, "model": model, "score": score, "cost_usd": 0.004}
            for prompt, scores in (("Solve 2x + 1 = 5 for x.", (1.0, 0.0, 0.5)),
                                   ("Write a haiku about autumn leaves.", (0.0, 1.0, 0.5)),
                                   ("What is 17 times 23?", (1.0, 0.0, 0.5)))
            for model, score in zip(("OpenAI/GPT-4.1", "GPT-4.1-Mini", "team-ft"), scores,
                                    strict=True)]
    team = fit_router(rows, name="team", dim=32, k=2).save(tmp_path / "team.json")
    arguments = {"prompt": "Solve 3x - 4 = 11 for x.", "max_alternatives": 2,
                 "candidates": ["gpt-4.1", "gpt-4.1-mini", "team-ft"]}

    async with Client(build_server(router=team)) as client:
        routed = await client.call_tool("route_task", arguments)

    assert not routed.is_error, routed.content[0].text
    alternatives = {item["model"]: item for item in routed.structured_content["alternatives"]}
    assert {model: item["estimate_source"] for model, item in alternatives.items()} == {
        "gpt-4.1": "exemplars", "gpt-4.1-mini": "exemplars", "team-ft": "exemplars"}
    assert alternatives["team-ft"]["expected_cost_usd"] == 0.004
    assert alternatives["gpt-4.1"]["expected_cost_usd"] != 0.004
    # Nine labelled scores are too few for a confidence map: the text says what it is instead.
    assert "\n  note: confidence is the raw value for router team: " in routed.content[0].text


@pytest.mark.parametrize("source", ["--router", "SHOAL_ROUTER"])
async def test_a_router_file_broken_while_serving_is_named_by_what_set_it(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shoal.router import fit_router

    rows = [{"prompt": prompt, "model": model, "score": score}
            for prompt, scores in (("Solve 2x + 1 = 5 for x.", (1.0, 0.0)),
                                   ("Write a haiku about autumn leaves.", (0.0, 1.0)))
            for model, score in zip(("qwen2.5-7b-instruct", "gemma-2-9b-it"), scores, strict=True)]
    live = fit_router(rows, name="live", dim=32, k=1).save(tmp_path / "live.json")
    monkeypatch.setenv("SHOAL_ROUTER", str(live) if source == "SHOAL_ROUTER" else "")
    arguments = {"prompt": "Solve 3x - 4 = 11 for x.", "local_only": True}

    async with Client(build_server(router=live)) as client:
        before = await client.call_tool("route_task", arguments)
        Path(live).write_text("{not json", encoding="utf-8")
        broken = await client.call_tool("route_task", arguments)

    assert not before.is_error, before.content[0].text
    assert broken.is_error
    # No argument can mend the server's router file: the error says so, and names it.
    assert broken.content[0].text.startswith(
        f"route_task: the server's own router file is at fault, not this call's arguments, and "
        f"only the server's operator can fix it: {source}: cannot read router file: {live}: "
    ), broken.content[0].text


async def test_check_hardware_fit_at_a_huge_context_prints_readable_numbers() -> None:
    arguments = {"model": "llama-3.1-405b-instruct", "device": "rtx-4090",
                 "context_tokens": 10_000_000}

    async with Client(build_server()) as client:
        result = await client.call_tool("check_hardware_fit", arguments)

    fit = result.structured_content
    text = result.content[0].text
    assert fit["memory_needed_gb"] > 1_000 and fit["decode_tokens_per_s"] < 1
    assert (f"needs {fit['memory_needed_gb']:,.1f} GB, 24.5 GB available "
            f"({-fit['margin_gb']:,.1f} GB short)") in text
    assert f"decode {fit['decode_tokens_per_s']:.2g} tok/s" in text
    assert "decode 0.0 tok/s" not in text and "e+" not in text


async def test_budget_status_right_after_a_call_gives_no_rate() -> None:
    call = PRICED_CALLS["record_usage"]

    async with Client(build_server()) as client:
        await client.call_tool("record_usage", call)
        result = await client.call_tool("budget_status", {"scope": "s"})

    status = result.structured_content
    assert status["burn_rate_usd_per_hour"] is None and status["hours_to_limit"] is None
    assert status["window_spent_usd"] == pytest.approx(0.0026)
    assert "too little history for a burn rate" in result.content[0].text


async def test_an_answer_over_the_cap_is_refused_with_the_tool_s_own_advice(server) -> None:  # type: ignore[no-untyped-def]
    items = [{"id": f"doc{n}", "text": f"Document {n}: " + "word " * 30, "priority": n % 7 + 1}
             for n in range(200)]
    async with Client(server) as client:
        refused = await client.call_tool(
            "fit_budget", {"items": items, "budget_tokens": 2_000, "model": "gpt-4o"}
        )

    assert refused.is_error
    text = refused.content[0].text
    assert "over shoal's cap of 6,000 tokens" in text
    assert "give fewer items per call (each item's line takes about 100 tokens, so about 50 " \
        "items)" in text
    assert "max_*" not in text


# ---- scan_private_data ---------------------------------------------------------------------------

KEY = "AKIAQYLPMN5HHHFPZAM2"
LEAKY = f"deploy with {KEY}, mail maria.gonzalez@gmail.com; docs key AKIAIOSFODNN7EXAMPLE"


async def test_scan_private_data_names_kinds_and_offsets_never_values(server) -> None:  # type: ignore[no-untyped-def]
    async with Client(server) as client:
        result = await client.call_tool("scan_private_data", {"text": LEAKY})

    assert not result.is_error
    structured = result.structured_content
    assert [(f["kind"], f["start"], f["end"]) for f in structured["findings"]] == [
        ("aws_access_key_id", 12, 32), ("email", 39, 63)]
    assert structured["finding_counts"] == {"aws_access_key_id": 1, "email": 1}
    assert structured["redacted"] is None
    text = result.content[0].text
    assert text.startswith("found 2: 1 aws_access_key_id, 1 email")
    assert KEY not in text + json.dumps(structured) and "maria" not in text


async def test_scan_private_data_redacts_in_both_contents(server) -> None:  # type: ignore[no-untyped-def]
    redacted = "deploy with [aws_access_key_id], mail [email]; docs key AKIAIOSFODNN7EXAMPLE"
    async with Client(server) as client:
        result = await client.call_tool("scan_private_data", {"text": LEAKY, "redact": True})
        clean = await client.call_tool("scan_private_data", {"text": FOX, "redact": True})

    assert result.structured_content["redacted"] == redacted
    assert result.content[0].text.endswith(f"Redacted text:\n{redacted}")
    assert clean.content[0].text == f"nothing found\n\nRedacted text:\n{FOX}"
    assert clean.structured_content["findings"] == []


async def test_scan_private_data_lists_a_bounded_number_of_findings(server) -> None:  # type: ignore[no-untyped-def]
    async with Client(server) as client:
        result = await client.call_tool("scan_private_data", {"text": ADDRESSES})

    structured = result.structured_content
    assert not result.is_error
    assert len(structured["findings"]) == SHOWN_FINDINGS
    assert structured["finding_counts"] == {"email": 20_000}
    assert structured["findings_omitted"] == 20_000 - SHOWN_FINDINGS
    assert result.content[0].text.startswith("found 20,000: 20,000 email\n")
    assert f"and {20_000 - SHOWN_FINDINGS:,} more findings" in result.content[0].text
    assert answer_tokens(_wire(result)) <= MAX_RESULT_TOKENS


async def test_scan_private_data_refuses_to_redact_more_than_an_answer_carries(server) -> None:  # type: ignore[no-untyped-def]
    async with Client(server) as client:
        refused = await client.call_tool("scan_private_data", {"text": ADDRESSES, "redact": True})
        still_serving = await client.call_tool("scan_private_data", {"text": FOX})

    assert refused.is_error
    message = refused.content[0].text
    assert "argument 'text'" in message and "shoal privacy --redact" in message
    assert not still_serving.is_error


async def test_fit_budget_takes_the_min_truncated_tokens_its_reasons_name(server) -> None:  # type: ignore[no-untyped-def]
    items = [{"id": "big", "text": "word " * 400}]
    arguments = {"items": items, "budget_tokens": 40, "model": "gpt-4o", "truncate_last": True}
    async with Client(server) as client:
        cut = await client.call_tool("fit_budget", arguments)
        not_cut = await client.call_tool("fit_budget", {**arguments, "min_truncated_tokens": 50})
        alone = await client.call_tool(
            "fit_budget", {**arguments, "truncate_last": False, "min_truncated_tokens": 50})

    assert cut.structured_content["truncated"] == ["big"]
    assert not_cut.structured_content["truncated"] == []
    not_cut_reason = not_cut.structured_content["items"][0]["reason"]
    assert "fewer than min_truncated_tokens (50)" in not_cut_reason
    assert alone.is_error and "set truncate_last too" in alone.content[0].text


async def test_trim_chat_names_the_kept_messages_it_changed(server) -> None:  # type: ignore[no-untyped-def]
    # Anthropic form: each user turn carries answers to calls that were never made.
    messages: list[dict[str, Any]] = []
    for turn in range(30):
        orphans = [{"type": "tool_result", "tool_use_id": f"t{turn}-{k}", "content": "x"}
                   for k in range(5)]
        messages.append({"role": "user", "content": [*orphans, {"type": "text", "text": "q"}]})
        messages.append({"role": "assistant", "content": "a"})
    arguments = {"messages": messages, "budget_tokens": 60, "model": "claude-sonnet-4-5",
                 "include_messages": False}
    async with Client(server) as client:
        result = await client.call_tool("trim_chat", arguments)

    answer = result.structured_content
    kept = [i for first, last in answer["kept"] for i in range(first, last + 1)]
    changed = [i for first, last in answer["changed"] for i in range(first, last + 1)]
    assert kept and answer["notes_omitted"] > 0
    assert changed == [i for i in kept if i % 2 == 0]
    assert "changed (orphaned tool results removed" in result.content[0].text


async def test_trim_chat_counts_the_tools_sent_with_the_chat(server) -> None:  # type: ignore[no-untyped-def]
    from shoal.budget import trim_chat

    chat = [{"role": "user", "content": "word " * 200}, {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "And the weather?"}]
    tool = {"name": "get_weather", "description": "Get the weather for a city.",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
    arguments = {"messages": chat, "budget_tokens": 230, "model": "gpt-4o"}
    async with Client(server) as client:
        bare = await client.call_tool("trim_chat", arguments)
        with_tools = await client.call_tool("trim_chat", {**arguments, "tools": [tool]})

    expected = trim_chat(chat, budget_tokens=230, model="gpt-4o", tools=[tool])
    assert with_tools.structured_content["tool_tokens"] == expected.tool_tokens > 0
    assert with_tools.structured_content["tokens"] == expected.tokens <= 230
    assert bare.structured_content["kept"] != with_tools.structured_content["kept"]
