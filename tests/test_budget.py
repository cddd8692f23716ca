"""Context packing and chat trimming: the selection rule, tool-call pairs, truncation, files."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from shoal.budget import (
    CHAT_ROLES,
    BudgetItem,
    BudgetTooSmallError,
    fit_budget,
    parse_items,
    parse_messages,
    trim_chat,
)
from shoal.cost import estimate_cost
from shoal.tokens import count_chat, count_tokens


def words(word: str, tokens: int) -> str:
    """A text of exactly ``tokens`` o200k_base tokens (each " word" is one token)."""
    text = word + f" {word}" * (tokens - 1)
    assert count_tokens(text).tokens == tokens
    return text


def test_required_first_then_most_priority_per_token() -> None:
    plan = fit_budget(
        [
            BudgetItem("task", words("do", 30), required=True),
            BudgetItem("dense", words("cat", 20), priority=2),      # 0.1 per token
            BudgetItem("sparse", words("dog", 100), priority=5),    # 0.05 per token
            BudgetItem("cheap", words("cow", 10), priority=0.5),    # 0.05 per token, smaller
        ],
        budget_tokens=70, model="gpt-4o",
    )
    assert plan.included == ("task", "dense", "cheap")
    assert plan.dropped == ("sparse",)
    assert plan.total_tokens == 60 and plan.remaining_tokens == 10
    ranks = {item.id: item.rank for item in plan.items}
    # Equal density: the higher priority ranks first, then does not fit; smaller ones still go.
    assert ranks == {"task": None, "dense": 1, "sparse": 2, "cheap": 3}
    assert plan.cost == estimate_cost("gpt-4o", input_tokens=60)
    assert plan.exact and plan.encoding == "o200k_base"


def test_ties_are_broken_by_priority_then_size_then_order() -> None:
    items = [BudgetItem(f"i{k}", words("x", 10), priority=1.0) for k in range(5)]
    plan = fit_budget(items, budget_tokens=30, model="gpt-4o")
    assert plan.included == ("i0", "i1", "i2")
    again = fit_budget(list(reversed(items)), budget_tokens=30, model="gpt-4o")
    assert again.included == ("i4", "i3", "i2")  # earlier item wins: order is the last tie-break


def test_tool_call_and_result_go_together_or_not_at_all() -> None:
    items = [
        BudgetItem("question", words("why", 10), required=True),
        BudgetItem("call", words("call", 10), priority=5, group="t1"),
        BudgetItem("result", words("row", 50), priority=0, group="t1"),
        BudgetItem("note", words("note", 15), priority=1),
    ]
    # The call alone is very dense, but with its result the unit is 60 tokens for priority 5.
    tight = fit_budget(items, budget_tokens=40, model="gpt-4o", truncate_last=True,
                       min_truncated_tokens=1)
    assert tight.included == ("question", "note")
    assert set(tight.dropped) == {"call", "result"}
    assert tight.truncated == ()  # a group is never cut

    roomy = fit_budget(items, budget_tokens=70, model="gpt-4o")
    assert roomy.included == ("question", "call", "result")
    assert roomy.dropped == ("note",)

    required_group = fit_budget(
        [BudgetItem("call", "x", group="g", required=True), BudgetItem("result", "y", group="g")],
        budget_tokens=10, model="gpt-4o",
    )
    assert required_group.included == ("call", "result")
    assert required_group.items[1].reason == "in a required group"


def test_truncate_last_cuts_the_next_item_at_a_token_boundary() -> None:
    long_text = "The quick brown fox jumps over the lazy dog. " * 40
    plan = fit_budget(
        [BudgetItem("head", words("a", 20), required=True), BudgetItem("doc", long_text)],
        budget_tokens=120, model="gpt-4o", truncate_last=True,
    )
    doc = plan.items[1]
    assert doc.status == "truncated" and plan.truncated == ("doc",)
    assert doc.included_tokens == 100 == count_tokens(doc.text).tokens
    assert long_text.startswith(doc.text)
    assert plan.total_tokens == 120 and plan.remaining_tokens == 0

    too_little = fit_budget(
        [BudgetItem("head", words("a", 20), required=True), BudgetItem("doc", long_text)],
        budget_tokens=30, model="gpt-4o", truncate_last=True,
    )
    assert too_little.dropped == ("doc",)  # 10 tokens left, below min_truncated_tokens
    assert too_little.items[1].reason.endswith(
        "; not cut: 10 tokens of it would fit, fewer than min_truncated_tokens (32)"
    )


def test_truncate_last_places_whole_items_first_and_cuts_only_past_the_minimum(
    tmp_path: Path,
) -> None:
    # The best item (10 tokens) does not fit 8; the lower-ranked 2-token file does, and goes in
    # whole first. What is left (6 tokens) is below the default minimum cut, so nothing is cut.
    (tmp_path / "small.txt").write_text(words("b", 2), encoding="utf-8")
    items = [{"id": "best", "text": words("a", 10), "priority": 5},
             {"id": "file", "path": "small.txt", "priority": 1}]

    default = fit_budget(items, budget_tokens=8, model="gpt-4o", truncate_last=True,
                         roots=[tmp_path])
    assert default.included == ("file",) and default.dropped == ("best",)
    assert "not cut: 6 tokens of it would fit, fewer than min_truncated_tokens (32)" in (
        default.items[0].reason
    )
    assert default.rule.endswith("cut at a token boundary to what is left, if at least 32 "
                                 "tokens of it fit")

    small_cuts = fit_budget(items, budget_tokens=8, model="gpt-4o", truncate_last=True,
                            roots=[tmp_path], min_truncated_tokens=4)
    assert small_cuts.truncated == ("best",) and small_cuts.included == ("file",)
    assert small_cuts.items[0].included_tokens == 6 and small_cuts.total_tokens == 8
    assert small_cuts.rule.endswith("if at least 4 tokens of it fit")
    assert "cut at a token boundary" not in fit_budget(items, budget_tokens=8, model="gpt-4o",
                                                       roots=[tmp_path]).rule


@pytest.mark.parametrize("minimum", [0, -1, 10**9, 2.5, True])
def test_min_truncated_tokens_must_be_a_positive_whole_number(minimum: object) -> None:
    with pytest.raises((ValueError, TypeError), match="min_truncated_tokens must be"):
        fit_budget([BudgetItem("a", "x")], budget_tokens=10, model="gpt-4o",
                   truncate_last=True, min_truncated_tokens=minimum)  # type: ignore[arg-type]


def test_truncation_of_an_estimated_model_stays_within_its_count() -> None:
    text = "日本語のテキストを数える。" * 50
    plan = fit_budget([BudgetItem("doc", text)], budget_tokens=77, model="claude-sonnet-4-5",
                      truncate_last=True)
    doc = plan.items[0]
    assert doc.status == "truncated" and text.startswith(doc.text)
    assert doc.included_tokens == count_tokens(doc.text, model="claude-sonnet-4-5").tokens <= 77


def test_estimated_tokenizers_are_labelled() -> None:
    plan = fit_budget([BudgetItem("a", "hello world")], budget_tokens=100,
                      model="claude-sonnet-4-5")
    assert not plan.exact and (plan.encoding, plan.token_ratio) == ("o200k_base", 1.3)
    assert plan.items[0].tokens == count_tokens("hello world", model="claude-sonnet-4-5").tokens


def test_required_items_that_do_not_fit_are_an_error() -> None:
    with pytest.raises(BudgetTooSmallError, match=r"\('big'\) take 50 tokens but budget_tokens "
                                                  r"is 10"):
        fit_budget([BudgetItem("big", words("z", 50), required=True)], budget_tokens=10,
                   model="gpt-4o")


def test_files_are_read_only_inside_the_roots(tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (root / "notes.md").write_text(words("note", 12), encoding="utf-8")
    secret = tmp_path / "secret.txt"
    secret.write_text("password", encoding="utf-8")
    os.symlink(secret, root / "link.txt")

    plan = fit_budget([{"id": "n", "path": "notes.md"}], budget_tokens=50, model="gpt-4o",
                      roots=[root])
    assert plan.items[0].tokens == 12 and plan.items[0].source == str(root / "notes.md")

    with pytest.raises(ValueError, match="outside the allowed directories"):
        fit_budget([{"id": "s", "path": str(secret)}], budget_tokens=50, model="gpt-4o",
                   roots=[root])
    with pytest.raises(ValueError, match="outside the allowed directories"):
        fit_budget([{"id": "l", "path": "link.txt"}], budget_tokens=50, model="gpt-4o",
                   roots=[root])
    with pytest.raises(ValueError, match=r"\.\./secret\.txt' is outside"):
        fit_budget([{"id": "u", "path": "../secret.txt"}], budget_tokens=50, model="gpt-4o",
                   roots=[root])
    with pytest.raises(ValueError, match="no directories are allowed"):
        fit_budget([{"id": "n", "path": str(root / "notes.md")}], budget_tokens=50,
                   model="gpt-4o")


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("a" * 300, "'" + "a" * 47 + "..." + "a" * 48 + "'"),
        ("é" * 200, "'" + "é" * 47 + "..." + "é" * 48 + "'"),  # 400 bytes, past NAME_MAX
        ("sub/" + "b" * 256, "'sub/" + "b" * 43 + "..." + "b" * 48 + "'"),
    ],
)
def test_a_path_no_file_system_takes_is_named_not_raised(
    tmp_path: Path, path: str, shown: str
) -> None:
    (tmp_path / "sub").mkdir()

    with pytest.raises(ValueError) as refused:
        fit_budget([{"id": "x", "path": path}], budget_tokens=100, model="gpt-4o",
                   roots=[tmp_path])

    assert str(refused.value) == f"item 'x': cannot read {shown}: File name too long"


def test_another_users_home_is_not_expanded_so_it_tells_nothing_about_accounts(
    tmp_path: Path,
) -> None:
    # Expanded, ~root would lead to /root (refused as outside, which says the account exists)
    # and ~no-such-user would fail as no such user: both would answer a probe for accounts.
    (tmp_path / "~root").mkdir()
    (tmp_path / "~root" / "notes.md").write_text("kept inside the root", encoding="utf-8")

    read = fit_budget([{"id": "x", "path": "~root/notes.md"}], budget_tokens=100,
                      model="gpt-4o", roots=[tmp_path])

    assert read.included == ("x",) and read.total_tokens > 0
    for probe in ("~no-such-user-4f2a/notes.md", "~nobody/notes.md"):
        with pytest.raises(ValueError) as refused:
            fit_budget([{"id": "x", "path": probe}], budget_tokens=100, model="gpt-4o",
                       roots=[tmp_path])
        assert str(refused.value).startswith(f"item 'x': cannot read '{probe}': ")
        assert "home" not in str(refused.value) and "outside" not in str(refused.value)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_fit_budget_over_mcp_names_a_path_too_long_and_an_item_of_neither(
    tmp_path: Path,
) -> None:
    from mcp import Client

    from shoal.server import build_server

    (tmp_path / "notes.md").write_text(words("note", 12), encoding="utf-8")
    ask = {"budget_tokens": 100, "model": "gpt-4o"}
    async with Client(build_server(roots=[tmp_path])) as client:
        long = await client.call_tool("fit_budget", {"items": [{"id": "x", "path": "é" * 200}],
                                                     **ask})
        neither = await client.call_tool("fit_budget", {"items": [{"id": "e"}], **ask})
        empty_path = await client.call_tool("fit_budget", {"items": [{"id": "e", "path": ""}],
                                                           **ask})
        empty_text = await client.call_tool("fit_budget", {"items": [{"id": "e", "text": ""}],
                                                           **ask})
        defaults_sent = await client.call_tool("fit_budget", {"items": [
            {"id": "t", "text": "hello", "path": ""}, {"id": "p", "text": "", "path": "notes.md"},
        ], **ask})

    assert long.is_error and long.content[0].text.startswith("fit_budget: item 'x': cannot read "
                                                             "'ééé")
    assert long.content[0].text.endswith("': File name too long")
    assert neither.is_error and neither.content[0].text == (
        "fit_budget: item 'e' gives neither text nor path; give exactly one of text and path"
    )
    # As in Python and in an items file: a path the client sent, empty, names no file.
    assert empty_path.is_error and empty_path.content[0].text == (
        "fit_budget: item 'e': path is empty; name a file"
    )
    assert not empty_text.is_error and empty_text.structured_content["included"] == ["e"]
    assert not defaults_sent.is_error
    assert [item["source"] for item in defaults_sent.structured_content["items"]] == [
        "text", str(tmp_path / "notes.md")
    ]


# An empty string is the MCP schema's default for text and path, which a client may send for
# every item: beside the other field it counts as not given, in Python, on the CLI and over MCP.
EMPTY_BESIDE_THE_OTHER = [
    {"id": "file", "text": "", "path": "notes.md"},
    {"id": "text", "text": "hello", "path": ""},
    {"id": "empty", "text": "", "path": ""},
]


def _sources(plan: dict) -> list[tuple[str, int]]:
    return [(item["source"], item["tokens"]) for item in plan["items"]]


@pytest.mark.anyio
async def test_an_empty_text_or_path_beside_the_other_counts_as_not_given_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dataclasses import asdict

    from mcp import Client

    from shoal.cli import main
    from shoal.server import build_server

    (tmp_path / "notes.md").write_text(words("note", 12), encoding="utf-8")
    items_file = tmp_path / "items.json"
    items_file.write_text(json.dumps(EMPTY_BESIDE_THE_OTHER), encoding="utf-8")
    ask = {"budget_tokens": 100, "model": "gpt-4o"}
    expected = [(str(tmp_path / "notes.md"), 12), ("text", 1), ("text", 0)]

    in_python = fit_budget(EMPTY_BESIDE_THE_OTHER, roots=[tmp_path], **ask)
    monkeypatch.chdir(tmp_path)
    assert main(["budget", "fit", str(items_file), "--model", "gpt-4o", "--budget", "100",
                 "--json"]) == 0
    on_the_command_line = json.loads(capsys.readouterr().out)
    async with Client(build_server(roots=[tmp_path])) as client:
        over_mcp = await client.call_tool("fit_budget", {"items": EMPTY_BESIDE_THE_OTHER, **ask})

    assert _sources(asdict(in_python)) == expected
    assert _sources(on_the_command_line) == expected
    assert not over_mcp.is_error and _sources(over_mcp.structured_content) == expected


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([{"id": "a"}], "item 'a' gives neither text nor path; give exactly one of text and path"),
        ([{"id": "a", "text": "x", "path": "y"}],
         "item 'a' gives both text and path; give exactly one of text and path"),
        ([{"id": "a", "path": ""}], "item 'a': path is empty; name a file"),
        ([{"id": "a", "text": "x"}, {"id": "a", "text": "y"}], "'a' appears twice"),
        ([{"id": "a", "text": "x", "priority": -1}], "priority must be finite and at least 0"),
        ([{"id": "a", "text": "x", "weight": 2}], r"items\[0\]: unknown field 'weight'; use id"),
        ([{"id": "a", "text": "x", "prioirty": 2}],
         r"unknown field 'prioirty' \(did you mean 'priority'\?\)"),
        ([{"id": "", "text": "x"}], r"items\[0\].id must be a non-empty string"),
        ([{"text": "x"}], r"items\[0\] has no 'id'; every item needs a unique id"),
        ([{"id": "a", "text": "x", "group": 5}],
         r"item 'a': group must be a non-empty string, or left out, got 5$"),
    ],
)
def test_bad_items_name_the_problem(items: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fit_budget(items, budget_tokens=10, model="gpt-4o")


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([1, 2], r"items\[0\] must be an object with an id and a text or path \(a dict or "
                 r"BudgetItem\), got 1"),
        ([{"id": "a", "text": "x", "priority": "high"}],
         r"item 'a': priority must be a number, got 'high'"),
        ([{"id": "a", "text": 7}], r"item 'a': text must be a string, got 7"),
        ([{"id": "a", "text": None, "path": 7}], r"item 'a': path must be a string, got 7"),
        ([{"id": "a", "text": "x", "priority": None}],
         r"item 'a': priority must be a number, got null"),
        ([None], r"items\[0\] must be an object with an id and a text or path \(a dict or "
                 r"BudgetItem\), got null"),
        ([{"id": "a", "text": "x", "required": "yes"}],
         r"item 'a': required must be true or false, got 'yes'"),
    ],
)
def test_items_of_the_wrong_type_name_the_item_and_the_value(items: list, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        parse_items(items)
    with pytest.raises(TypeError, match=message):
        fit_budget(items, budget_tokens=10, model="gpt-4o")


def test_min_truncated_tokens_without_truncate_last_is_refused() -> None:
    # The limit only bounds the cut truncate_last makes: alone it would change nothing.
    with pytest.raises(ValueError, match="min_truncated_tokens limits the cut truncate_last "
                                         "makes; set truncate_last=True too"):
        fit_budget([BudgetItem("a", "x")], budget_tokens=10, model="gpt-4o",
                   min_truncated_tokens=5)

    assert fit_budget([BudgetItem("a", "x")], budget_tokens=10, model="gpt-4o",
                      min_truncated_tokens=32).included == ("a",)


def test_bad_budget_and_model() -> None:
    with pytest.raises(ValueError, match="budget_tokens must be 1 to"):
        fit_budget([], budget_tokens=0, model="gpt-4o")
    with pytest.raises(ValueError, match="did you mean"):
        fit_budget([], budget_tokens=10, model="gpt-4o-mimi")


# ---- chats ------------------------------------------------------------------------------------

OPENAI_CHAT = [
    {"role": "system", "content": "You are a weather assistant."},
    {"role": "user", "content": "What is the weather in Paris and Rome?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function",
         "function": {"name": "weather", "arguments": '{"city":"Paris"}'}},
        {"id": "c2", "type": "function",
         "function": {"name": "weather", "arguments": '{"city":"Rome"}'}},
    ]},
    {"role": "tool", "tool_call_id": "c1", "content": "Paris: sunny, 21 C. " * 10},
    {"role": "tool", "tool_call_id": "c2", "content": "Rome: cloudy, 18 C. " * 10},
    {"role": "assistant", "content": "Paris is sunny; Rome is cloudy."},
    {"role": "user", "content": "And tomorrow?"},
]


def _message_cost(message: dict) -> int:
    flat = {k: (v if isinstance(v, str) else json.dumps(v, separators=(",", ":")))
            for k, v in message.items() if v is not None}
    return count_chat([flat], model="gpt-4o").message_tokens - 3


def test_trim_keeps_system_latest_turns_and_whole_tool_exchanges() -> None:
    costs = [_message_cost(m) for m in OPENAI_CHAT]
    everything = 3 + sum(costs)
    full = trim_chat(OPENAI_CHAT, budget_tokens=everything, model="gpt-4o")
    assert full.kept == tuple(range(7)) and full.tokens == everything

    # One token short: the oldest user turn goes, and the leading tool exchange with it
    # (kept turns start on a user message), never the call without its results.
    short = trim_chat(OPENAI_CHAT, budget_tokens=everything - 1, model="gpt-4o")
    assert short.kept == (0, 6)
    assert short.tokens <= everything - 1

    exchange = sum(costs[2:5])
    without_start = trim_chat(OPENAI_CHAT, budget_tokens=everything - costs[1],
                              model="gpt-4o", start_on_user=False)
    assert without_start.kept == (0, 2, 3, 4, 5, 6)
    assert without_start.tokens == everything - costs[1]

    # A budget that fits the results' call but not all of its results keeps none of them.
    partial = trim_chat(OPENAI_CHAT, budget_tokens=3 + costs[0] + costs[5] + costs[6]
                        + exchange - 1, model="gpt-4o", start_on_user=False)
    assert partial.kept == (0, 5, 6)


def test_trim_drops_every_leading_non_user_turn_and_its_tokens() -> None:
    system = {"role": "system", "content": "Be brief."}
    replies = [{"role": "assistant", "content": f"note {n}"} for n in range(2_000)]
    question = {"role": "user", "content": "Which note was last?"}
    answer = {"role": "assistant", "content": "Note 1999."}

    only_replies = trim_chat([system, *replies], budget_tokens=100_000_000, model="gpt-4o")
    assert only_replies.kept == (0,)
    assert only_replies.tokens == count_chat([system], model="gpt-4o").tokens

    chat = [system, *replies, question, answer]
    trimmed = trim_chat(chat, budget_tokens=100_000_000, model="gpt-4o")
    assert trimmed.kept == (0, len(chat) - 2, len(chat) - 1)
    assert trimmed.tokens == count_chat([system, question, answer], model="gpt-4o").tokens


def test_trim_never_keeps_or_makes_an_orphan() -> None:
    chat = [
        {"role": "user", "content": "hi"},
        {"role": "tool", "tool_call_id": "ghost", "content": "stale result"},
        {"role": "assistant", "content": "hello"},
    ]
    trimmed = trim_chat(chat, budget_tokens=1000, model="gpt-4o")
    assert trimmed.kept == (0, 2) and trimmed.dropped == (1,)
    assert any("'ghost' answers no earlier tool call" in note for note in trimmed.notes)

    for budget in range(20, 400, 7):
        result = trim_chat(OPENAI_CHAT, budget_tokens=budget, model="gpt-4o",
                           start_on_user=False)
        kept = set(result.kept)
        assert (2 in kept) == (3 in kept) == (4 in kept), budget
        assert result.tokens <= budget


# A user question answered through a tool call, in the current form and the older one.
TOOL_TURN = [
    {"role": "user", "content": "What is the weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function",
         "function": {"name": "weather", "arguments": '{"city":"Paris"}'}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "18 C, sunny"},
    {"role": "assistant", "content": "It is 18 C and sunny in Paris."},
]
FUNCTION_TURN = [
    TOOL_TURN[0],
    {"role": "assistant", "content": None,
     "function_call": {"name": "weather", "arguments": '{"city":"Paris"}'}},
    {"role": "function", "name": "weather", "content": "18 C, sunny"},
    TOOL_TURN[3],
]


@pytest.mark.parametrize("chat", [TOOL_TURN, FUNCTION_TURN], ids=["tool_calls", "function_call"])
def test_trim_says_why_it_kept_nothing_when_the_turns_that_fit_start_after_the_user(
    chat: list[dict[str, Any]],
) -> None:
    whole = count_chat(chat, model="gpt-4o").tokens
    for budget in (20, 40, whole - 1):
        trimmed = trim_chat(chat, budget_tokens=budget, model="gpt-4o")

        assert trimmed.kept == (), budget
        assert trimmed.notes[0].startswith("kept nothing: the latest "), trimmed.notes
        assert trimmed.notes[0].endswith(
            "and the kept turns must start at one (as Anthropic's API requires); a budget of "
            f"{whole:,} tokens keeps the latest user message (message 0) and the 3 messages "
            "after it"
        ), trimmed.notes
    assert trim_chat(chat, budget_tokens=whole, model="gpt-4o").kept == (0, 1, 2, 3)

    system = {"role": "system", "content": "Be brief."}
    with_system = trim_chat([system, *chat], budget_tokens=whole, model="gpt-4o")
    assert with_system.kept == (0,)
    assert with_system.notes[0].startswith("kept nothing but the system messages: ")
    assert with_system.notes[0].endswith(
        f"a budget of {count_chat([system, *chat], model='gpt-4o').tokens:,} tokens keeps the "
        "latest user message (message 1) and the 3 messages after it")


def test_trim_says_why_it_kept_nothing_of_a_chat_without_a_user_message() -> None:
    replies = [{"role": "assistant", "content": "Hello."}, {"role": "assistant", "content": "Hi?"}]

    alone = trim_chat(replies, budget_tokens=1_000, model="gpt-4o")
    with_system = trim_chat([{"role": "developer", "content": "Be brief."}, *replies],
                            budget_tokens=1_000, model="gpt-4o")

    assert alone.kept == () and alone.notes == (
        "kept nothing: no message is a user message, and the kept turns must start at one (as "
        "Anthropic's API requires)",
    )
    assert with_system.kept == (0,) and with_system.notes == (
        "kept nothing but the system messages: no other message is a user message, and the "
        "kept turns must start at one (as Anthropic's API requires)",
    )


def test_trim_says_a_message_of_orphaned_results_alone_was_dropped() -> None:
    chat = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "gone",
                                      "content": "42"}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"old{n}",
                                      "content": "42"} for n in range(2)]},
        {"role": "user", "content": "And now?"},
    ]

    trimmed = trim_chat(chat, budget_tokens=1_000, model="gpt-4o")

    assert trimmed.kept == (0, 1, 4) and trimmed.dropped == (2, 3)
    assert trimmed.notes == (
        "message 2: tool_result 'gone' answers no earlier tool_use; dropped (the message held "
        "nothing else)",
        "message 3: 2 tool_result blocks ('old0', 'old1') answer no earlier tool_use; dropped "
        "(the message held nothing else)",
    )


ANTHROPIC_CHAT = [
    {"role": "user", "content": "Look up the population of Lyon."},
    {"role": "assistant", "content": [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "Lyon"}},
    ]},
    {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "522,250 (2021)"},
    ]},
    {"role": "assistant", "content": "Lyon had 522,250 inhabitants in 2021."},
    {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_old", "content": "orphan"},
        {"type": "text", "text": "Thanks! And Marseille?"},
    ]},
]


def test_anthropic_tool_use_and_result_blocks_stay_paired() -> None:
    full = trim_chat(ANTHROPIC_CHAT, budget_tokens=10_000, model="claude-sonnet-4-5")
    assert full.kept == (0, 1, 2, 3, 4)
    assert full.messages[4]["content"] == [{"type": "text", "text": "Thanks! And Marseille?"}]
    assert ANTHROPIC_CHAT[4]["content"][0]["type"] == "tool_result"  # input left untouched
    assert any("'toolu_old' answers no earlier tool_use" in note for note in full.notes)
    assert not full.exact

    for budget in range(5, 200, 5):
        kept = set(trim_chat(ANTHROPIC_CHAT, budget_tokens=budget, model="claude-sonnet-4-5",
                             start_on_user=False).kept)
        assert (1 in kept) == (2 in kept), budget


def test_trim_counts_text_parts_as_count_chat_does_and_says_what_it_approximated() -> None:
    parts = [{"role": "user", "content": [{"type": "text", "text": "What is the weather?"}]}]
    call = [
        {"role": "user", "content": "Weather in Boston?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]

    trimmed = trim_chat(parts, budget_tokens=1_000, model="gpt-4o")
    with_call = trim_chat(call, budget_tokens=1_000, model="gpt-4o")

    assert trimmed.tokens == count_chat(parts).tokens
    assert trimmed.exact is False and "content parts" in trimmed.method
    assert with_call.exact is False and "compact JSON" in with_call.method
    assert trim_chat(call[:1], budget_tokens=1_000, model="gpt-4o").exact is True


def test_too_small_a_budget_names_only_the_parts_the_chat_has() -> None:
    chat = [{"role": "user", "content": "hi"}]
    tools = [{"type": "function", "function": {"name": "lookup"}}]
    tool_tokens = count_chat([], model="gpt-4o", tools=tools).tool_tokens

    with pytest.raises(BudgetTooSmallError) as priming_only:
        trim_chat(chat, budget_tokens=1, model="gpt-4o")
    with pytest.raises(BudgetTooSmallError) as with_tools:
        trim_chat(chat, budget_tokens=5, model="gpt-4o", tools=tools)

    assert str(priming_only.value) == ("the reply priming every prompt ends with takes 3 tokens "
                                       "but budget_tokens is 1; raise the budget")
    assert str(with_tools.value) == (
        f"the tool definitions ({tool_tokens} tokens) and the reply priming (3 tokens) take "
        f"{tool_tokens + 3} tokens but budget_tokens is 5; raise the budget"
    )


def test_trim_errors() -> None:
    with pytest.raises(BudgetTooSmallError, match=r"^the system messages \(54 tokens\) and the "
                                                  r"reply priming \(3 tokens\) take 57 tokens"):
        trim_chat([{"role": "system", "content": words("rule", 50)}], budget_tokens=20,
                  model="gpt-4o")
    with pytest.raises(ValueError, match=r"messages\[1\] has no 'role'"):
        trim_chat([{"role": "user", "content": "a"}, {"content": "b"}], budget_tokens=20,
                  model="gpt-4o")
    with pytest.raises(TypeError, match="messages must be a list"):
        trim_chat("hello", budget_tokens=20, model="gpt-4o")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"messages\[0\] must be an object with a role, got int 1"):
        trim_chat([1, "x", None], budget_tokens=20, model="gpt-4o")  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("content", "named"),
    [(5, "a number"), (2.5, "a number"), ({"text": "hi"}, "an object"), (True, "a boolean")],
)
def test_trim_refuses_the_content_count_chat_refuses_with_its_words(
    content: object, named: str
) -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": content}]
    with pytest.raises(TypeError) as counting:
        count_chat(messages, model="gpt-4o")

    with pytest.raises(TypeError) as trimming:
        trim_chat(messages, budget_tokens=100, model="gpt-4o")

    assert str(trimming.value) == str(counting.value) == (
        f"messages[1]['content'] must be a string, not {named}"
    )


def test_trim_refuses_an_image_part_and_a_null_field_as_count_chat_does() -> None:
    image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]
    with pytest.raises(ValueError, match=r"messages\[0\]\['content'\]\[0\] is an 'image_url' part"):
        trim_chat(image, budget_tokens=100, model="gpt-4o")
    refusal = [{"role": "assistant", "content": "ok", "refusal": None}]
    with pytest.raises(TypeError, match=r"messages\[0\]\['refusal'\] must be a string, not null"):
        trim_chat(refusal, budget_tokens=100, model="gpt-4o")


@pytest.mark.parametrize(
    ("call", "parameter"),
    [
        (lambda: trim_chat(None, budget_tokens=100, model="gpt-4o"), "messages"),
        (lambda: fit_budget(None, budget_tokens=100, model="gpt-4o"), "items"),
        (lambda: parse_items(5), "items"),
    ],
)
def test_none_for_the_list_is_a_type_error_naming_the_parameter(call, parameter: str) -> None:
    with pytest.raises(TypeError, match=rf"^{parameter} must be a list of .*, not (NoneType|int)$"):
        call()


@pytest.mark.parametrize("role", ["wizard", "System", "human", "model"])
def test_an_unknown_role_is_refused_by_name_not_dropped(role: str) -> None:
    messages = [{"role": "user", "content": "hi"}, {"role": role, "content": "x"}]
    with pytest.raises(ValueError, match=rf"messages\[1\] has the unknown role '{role}'; the "
                                         "roles are system, developer, user, assistant, tool, "
                                         "function"):
        trim_chat(messages, budget_tokens=100, model="gpt-4o")


def test_every_known_role_is_accepted() -> None:
    # A tool result that answers no call is dropped as an orphan; every other role is kept.
    messages = [{"role": role, "content": "x"} for role in CHAT_ROLES]
    trimmed = trim_chat(messages, budget_tokens=1_000, model="gpt-4o", start_on_user=False)
    assert [messages[i]["role"] for i in trimmed.dropped] == ["tool"]
    assert [message["role"] for message in parse_messages(messages)] == list(CHAT_ROLES)


@pytest.mark.parametrize(
    ("item", "where"),
    [({"id": "a\ud800", "text": "hi"}, "items[0].id"),
     ({"id": "a", "text": "hi", "group": "g\ud800"}, "item 'a': group")],
)
def test_a_lone_surrogate_in_an_id_or_group_is_named_by_its_field(item, where):
    # It surfaced as "'utf-8' codec can't encode character '\\ud800' in position 314".
    with pytest.raises(ValueError, match=rf"^{re.escape(where)} has an unpaired surrogate at"):
        fit_budget([item], model="gpt-4o", budget_tokens=10)


def test_a_trim_past_the_model_input_limit_says_the_api_would_reject_it() -> None:
    messages = [{"role": "system", "content": "be brief"}] + [
        {"role": "user" if n % 2 == 0 else "assistant", "content": "word " * 5000}
        for n in range(30)
    ]

    past = trim_chat(messages, budget_tokens=1_000_000, model="gpt-4o")
    within = trim_chat(messages, budget_tokens=100_000, model="gpt-4o")

    assert past.tokens > 128_000
    assert past.notes[0] == (
        f"the kept prompt takes {past.tokens:,} tokens, more than gpt-4o's input limit of "
        "128,000: the API would reject it; give a budget within the limit, less the answer's "
        "tokens")
    assert not any("input limit" in note for note in within.notes)


def _call(call_id: str) -> dict[str, object]:
    return {"id": call_id, "type": "function", "function": {"name": "f", "arguments": "{}"}}


def test_an_unanswered_call_is_pending_only_when_nothing_follows_it() -> None:
    asked = [{"role": "user", "content": "Look both up."},
             {"role": "assistant", "content": None, "tool_calls": [_call("p1"), _call("p2")]},
             {"role": "tool", "tool_call_id": "p1", "content": "ok"}]
    later = [*asked, {"role": "user", "content": "Thanks."}]

    pending = trim_chat(asked, budget_tokens=1_000, model="gpt-4o")
    broken = trim_chat(later, budget_tokens=1_000, model="gpt-4o")

    assert pending.notes == ("message 1: tool call 'p2' has no result yet",)
    assert broken.notes == ("message 1: tool call 'p2' has no result, though later turns "
                            "follow: the API refuses a chat with an unanswered call",)


def test_a_one_token_item_reads_one_token() -> None:
    from shoal import spend_render

    plan = fit_budget([{"id": "a", "text": "hi"}], budget_tokens=1, model="gpt-4o")

    assert "  included  a: 1 token; rank 1" in spend_render.fit_plan(plan)
