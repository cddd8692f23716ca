"""Errors that quote what the caller sent stay short, however much was sent.

A tool name, prompt name, resource URI or method of 4 MB, an argument key as long, 200,000
unknown argument names: each error shows an excerpt and a count, is made quickly, and the
server goes on serving. Driven through a real ``shoal serve`` with raw lines where the SDK's
client would refuse to send the request, and the in-memory client elsewhere.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client
from test_stdio_transport import RawHost, initialized_host

from shoal.excerpts import excerpt, first_few, shown_path
from shoal.server import build_server

pytestmark = pytest.mark.anyio

HUGE = 4_000_000
# Every answer below is a few hundred bytes; the requests are megabytes.
SHORT_ANSWER_BYTES = 2_000
# Loose, for a shared 2-core machine: a refusal takes milliseconds when all is well.
CALL_SECONDS = 10.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def host() -> Iterator[RawHost]:
    yield from initialized_host()


def _ask(host: RawHost, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"jsonrpc": "2.0", "id": 7, "method": method}
    if params is not None:
        request["params"] = params
    line = json.dumps(request)
    started = time.monotonic()
    host.send(line)
    answer = host.answer()
    assert time.monotonic() - started < CALL_SECONDS
    assert len(json.dumps(answer)) < SHORT_ANSWER_BYTES
    return answer


def test_the_excerpt_cuts_in_the_middle_and_spells_values_as_json() -> None:
    assert excerpt("A" * 100) == "'" + "A" * 17 + "..." + "A" * 18 + "'"
    assert [excerpt(value) for value in (None, True, False, float("nan"), 7)] == [
        "null", "true", "false", "NaN", "7"
    ]
    assert excerpt([None, {"a": False}, 3, 4]) == "[null, {'a': false}, 3, ...]"
    assert excerpt({str(key): key for key in range(1_000_000)}) == "{'0': 0, '1': 1, '2': 2, ...}"
    assert shown_path("notes/a.txt") == "notes/a.txt"
    assert shown_path(" a.txt") == "' a.txt'" and shown_path("a\0b") == "'a\\x00b'"
    assert shown_path("p" * 300) == "'" + "p" * 47 + "..." + "p" * 48 + "'"
    assert first_few(["a", "b"], 2) == "a, b"
    assert first_few(iter(str(number) for number in range(10**9)), 10**9) == (
        "0, 1, 2, 3, 4 and 999,999,995 more"
    )


@pytest.mark.parametrize(
    ("method", "params", "code", "message"),
    [
        ("tools/call", {"name": "x" * HUGE, "arguments": {}}, -32602,
         "Unknown tool: 'xxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxx'. Tools: count_tokens, "),
        ("tools/call", {"name": None, "arguments": {}}, -32602, "Unknown tool: null. Tools: "),
        ("prompts/get", {"name": "p" * HUGE}, -32602,
         "Unknown prompt: 'ppppppppppppppppp...pppppppppppppppppp'"),
        ("resources/read", {"uri": "shoal://models/" + "a" * HUGE}, -32602,
         "Unknown resource: 'shoal://models/aa...aaaaaaaaaaaaaaaaaa' (4,000,015 characters; no "
         "resource URI here is longer than 1,000)"),
        ("resources/read", {"uri": "shoal://" + "a" * HUGE}, -32602, "Unknown resource: "),
        ("tools/frob" + "z" * HUGE, None, -32601, "Method not found"),
    ],
)
def test_a_huge_name_is_answered_with_an_excerpt(
    host: RawHost, method: str, params: dict[str, Any] | None, code: int, message: str
) -> None:
    answer = _ask(host, method, params)

    assert answer["error"]["code"] == code
    assert answer["error"]["message"].startswith(message)
    assert _ask(host, "ping") == {"jsonrpc": "2.0", "id": 7, "result": {}}


def test_a_huge_method_name_is_cut_in_the_error_data(host: RawHost) -> None:
    answer = _ask(host, "tools/frob" + "z" * HUGE)

    assert answer["error"]["data"] == "'tools/frobzzzzzzz...zzzzzzzzzzzzzzzzzz'"


def test_a_resource_uri_within_the_bound_is_still_the_sdk_s_to_answer(host: RawHost) -> None:
    answer = _ask(host, "resources/read", {"uri": "shoal://models/gpt-4o"})

    assert json.loads(answer["result"]["contents"][0]["text"])["id"] == "gpt-4o"


def test_200000_unknown_arguments_are_named_by_the_first_few_and_counted(host: RawHost) -> None:
    arguments: dict[str, Any] = {"text": "x", **{f"texx{index}": 1 for index in range(200_000)}}

    answer = _ask(host, "tools/call", {"name": "count_tokens", "arguments": arguments})

    assert answer["result"]["isError"]
    assert answer["result"]["content"][0]["text"] == (
        "count_tokens: unknown argument "
        + ", ".join(f"'texx{index}' (did you mean 'text'?)" for index in range(5))
        + " and 199,995 more; this tool takes allow_special, encoding, model, text"
    )


async def test_an_argument_name_of_megabytes_is_shown_as_an_excerpt() -> None:
    async with Client(build_server()) as client:
        result = await client.call_tool("count_tokens", {"text": "x", "y" * HUGE: 1})

    assert result.is_error and result.content[0].text == (
        "count_tokens: unknown argument 'yyyyyyyyyyyyyyyyy...yyyyyyyyyyyyyyyyyy'; this tool "
        "takes allow_special, encoding, model, text"
    )


def test_a_long_key_inside_a_free_form_argument_is_shown_as_an_excerpt(host: RawHost) -> None:
    tool = {"type": "function", "function": {"name": "t", "k" * HUGE: float("nan")}}
    arguments = {"messages": [{"role": "user", "content": "a"}], "tools": [tool], "model": "gpt-4o"}

    # json.dumps writes the NaN some clients send, which the SDK's client would not.
    answer = _ask(host, "tools/call", {"name": "count_chat_tokens", "arguments": arguments})

    assert answer["result"]["isError"] and answer["result"]["content"][0]["text"] == (
        "count_chat_tokens: argument 'tools.0.function.'kkkkkkkkkkkkkkkkk...kkkkkkkkkkkkkkkkkk'': "
        "must be a finite number (got NaN)"
    )
