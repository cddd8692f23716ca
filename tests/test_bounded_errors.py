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

from shoal.excerpts import excerpt, first_few, grouped_number, plain_number, shown_path
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
    assert excerpt([None, {"a": False}, 3, 4]) == '[null, {"a": false}, 3, ...]'
    assert excerpt({str(key): key for key in range(1_000_000)}) == '{"0": 0, "1": 1, "2": 2, ...}'
    # A string inside a list or an object as JSON writes it, escapes and all; on its own, quoted
    # as a name is.
    assert excerpt(["n2", 'a"b\\c\x1b\u202e']) == '["n2", "a\\"b\\\\c\\u001b\\u202e"]'
    assert excerpt(["A" * 100]) == '["' + "A" * 17 + "..." + "A" * 18 + '"]'
    assert excerpt("n2") == "'n2'"
    assert shown_path("notes/a.txt") == "notes/a.txt"
    assert shown_path(" a.txt") == "' a.txt'" and shown_path("a\0b") == "'a\\x00b'"
    assert shown_path("p" * 300) == "'" + "p" * 47 + "..." + "p" * 48 + "'"
    assert first_few(["a", "b"], 2) == "a, b"
    assert first_few(iter(str(number) for number in range(10**9)), 10**9) == (
        "0, 1, 2, 3, 4 and 999,999,995 more"
    )


def test_numbers_are_shown_in_plain_decimal_and_cut_like_any_long_value() -> None:
    # A float keeps JSON's ".0" (5000000000.0 is not an integer); typed, it reads as typed.
    assert [excerpt(value) for value in (1e-10, 5e9, 1e16, [1e-7])] == [
        "0.0000000001", "5000000000.0", "10000000000000000.0", "[0.0000001]"
    ]
    assert [plain_number(value) for value in (1e-10, 5e9, 1e16)] == [
        "0.0000000001", "5000000000", "10000000000000000"
    ]
    assert excerpt(1e300) == "100000000000000000...00000000000000000.0"
    assert plain_number(1e300) == plain_number(10**300) == (
        "100000000000000000...0000000000000000000"
    )
    assert plain_number(1e-301) == "0.0000000000000000...0000000000000000001"
    # Past the digits Python writes an int in, and in constant time, its length.
    started = time.process_time()
    assert excerpt(7**1_000_000) == "a whole number of about 845,099 digits"
    assert plain_number(-(10**5000)) == "a negative whole number of about 5,001 digits"
    assert time.process_time() - started < CALL_SECONDS


def test_an_error_quotes_a_number_grouped_or_short_past_an_excerpt_s_width() -> None:
    assert [grouped_number(value) for value in (1_000_001, 2_000_000.5, 5e9, 1e-10, -5)] == [
        "1,000,001", "2,000,000.5", "5,000,000,000", "0.0000000001", "-5"
    ]
    # Past 40 characters: the significant digits and a power of ten, never a 300-digit number
    # cut in the middle, nor the digits past the 17th of the integer a float of 1e300 becomes.
    assert [grouped_number(value) for value in (1e300, int(1e300), 10**400, -(10**30))] == [
        "1e+300", "1e+300", "1e+400", "-1e+30"
    ]
    assert grouped_number(1e-301) == "1e-301" and grouped_number(1.5e-300) == "1.5e-300"
    assert grouped_number(123456789012345678901234567890123456) == "1.2345678901234568e+35"
    assert grouped_number(-(10**5000)) == "a negative whole number of about 5,001 digits"


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


@pytest.mark.parametrize("digits", ["1" + "0" * 400 + ".5", "1e400", "-1e400"])
def test_a_number_past_a_float_s_range_is_not_blamed_on_the_word_infinity(
    host: RawHost, digits: str
) -> None:
    # JSON's reader makes these Infinity, as it does the word some clients send.
    line = ('{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": '
            '"set_budget_limit", "arguments": {"scope": "s", "usd": ' + digits + "}}}")
    host.send(line)
    answer = host.answer()

    sign = "-" if digits.startswith("-") else ""
    assert answer["result"]["isError"] and answer["result"]["content"][0]["text"] == (
        f"set_budget_limit: argument 'usd': must be a finite number (got {sign}Infinity, or a "
        "number too large to read)"
    )


def test_a_number_within_range_is_quoted_short_over_the_wire(host: RawHost) -> None:
    arguments = {"scope": "s", "usd": 1e300}
    answer = _ask(host, "tools/call", {"name": "set_budget_limit", "arguments": arguments})

    assert answer["result"]["content"][0]["text"] == (
        "set_budget_limit: argument 'usd': must be at most $4,611,686,018.42 (got 1e+300)"
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
