"""stdio: every request line gets an answer, even one the SDK's JSON reader refuses or one that
is not UTF-8, or one still running when stdin closes; blank lines are skipped; a host that closes
the server's output stops it quietly.

A real ``shoal serve`` subprocess is driven over its pipes with raw lines, as a host that is not
the Python SDK (which cannot even send some of them) would write them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import mcp.types as types
import pytest
from hang_guard import HANG_GUARD_S
from pydantic import ValidationError

from shoal.feedback import outcomes_as_rows
from shoal.stdio_transport import ABANDONED_STOP_S, CLOSED_INPUT_WAIT_S, error_reply

INITIALIZE = {
    "jsonrpc": "2.0", "id": 0, "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {},
               "clientInfo": {"name": "raw", "version": "0"}},
}


class RawHost:
    """A host writing raw lines to ``shoal serve`` and reading its answers."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "shoal", "serve"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        self.answers: Queue[dict[str, Any]] = Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.answers.put(json.loads(line))

    def send(self, line: str | bytes) -> None:
        assert self.process.stdin is not None
        raw = line if isinstance(line, bytes) else line.encode("utf-8")
        self.process.stdin.write(raw + b"\n")
        self.process.stdin.flush()

    def answer(self) -> dict[str, Any]:
        return self.answers.get(timeout=HANG_GUARD_S)

    def close(self) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        status = self.process.wait(timeout=HANG_GUARD_S)
        self.reader.join(timeout=HANG_GUARD_S)
        self.process.stdout.close()
        return status


def initialized_host() -> Iterator[RawHost]:
    """A host past the MCP handshake; once done with, the server must exit with status 0."""
    raw = RawHost()
    raw.send(json.dumps(INITIALIZE))
    assert raw.answer()["id"] == 0
    raw.send('{"jsonrpc":"2.0","method":"notifications/initialized"}')
    yield raw
    assert raw.close() == 0


@pytest.fixture(scope="module")
def host() -> Iterator[RawHost]:
    yield from initialized_host()


CALL_WITH_LONE_SURROGATE = (
    '{"jsonrpc":"2.0","id":11,"method":"tools/call",'
    '"params":{"name":"count_tokens","arguments":{"text":"a\\ud800b"}}}'
)


@pytest.mark.parametrize(
    ("line", "request_id", "code"),
    [
        (CALL_WITH_LONE_SURROGATE, 11, types.PARSE_ERROR),
        ('{"jsonrpc":"2.0","id":"deep","method":"ping","params":{"n":'
         + "[" * 300 + "]" * 300 + "}}", "deep", types.PARSE_ERROR),
        # Past Python's own reader's depth: the id is read from the top-level members.
        ('{"jsonrpc":"2.0","id":"deeper","method":"ping","params":{"n":'
         + "[" * 5000 + "]" * 5000 + "}}", "deeper", types.PARSE_ERROR),
        ('{"jsonrpc":"2.0","params":' + "[" * 5000 + '"]"' + "]" * 5000 + ',"id":13,'
         '"method":"ping"}', 13, types.PARSE_ERROR),
        # An id nested that deep is no valid id, but the line is still a request to answer.
        ('{"jsonrpc":"2.0","id":' + "[" * 5000 + "]" * 5000 + ',"method":"ping"}', None,
         types.PARSE_ERROR),
        ('{"jsonrpc":"2.0","id":14,"method":"ping"} trailing', None, types.PARSE_ERROR),
        ("not json", None, types.PARSE_ERROR),
        ('{"jsonrpc":"1.0","id":15,"method":"ping"}', 15, types.INVALID_REQUEST),
        # An id no UTF-8 answer can carry is answered with a null id.
        ('{"jsonrpc":"2.0","id":"\\ud800","method":"ping"}', None, types.PARSE_ERROR),
    ],
)
def test_an_unreadable_request_is_answered_and_the_server_keeps_serving(
    host: RawHost, line: str, request_id: Any, code: int,
) -> None:
    host.send(line)
    answer = host.answer()

    assert answer["id"] == request_id
    assert answer["error"]["code"] == code

    host.send('{"jsonrpc":"2.0","id":99,"method":"ping"}')
    assert host.answer() == {"jsonrpc": "2.0", "id": 99, "result": {}}


@pytest.mark.parametrize(
    ("line", "request_id", "where"),
    [
        ('{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"count_tokens",'
         '"arguments":{"text":"ab\\ud800cd"}}}', 7,
         "params.arguments.text has an unpaired surrogate at index 2"),
        ('{"jsonrpc":"2.0","id":"r","method":"tools/call","params":{"name":"fit_budget",'
         '"arguments":{"items":[{"id":"a","text":"\\udc00"}]}}}', "r",
         "params.arguments.items[0].text has an unpaired surrogate at index 0"),
        ('{"jsonrpc":"2.0","id":"\\ud800","method":"ping"}', None,
         "id has an unpaired surrogate at index 0"),
    ],
)
def test_a_lone_surrogate_escape_is_named_where_it_is(
    host: RawHost, line: str, request_id: Any, where: str
) -> None:
    host.send(line)

    assert host.answer() == {"jsonrpc": "2.0", "id": request_id, "error": {
        "code": types.PARSE_ERROR,
        "message": f"Parse error: {where} (an escape such as \\ud800 without its pair), which "
                   "no UTF-8 text holds; send valid Unicode",
    }}


def test_unreadable_notifications_and_responses_get_no_answer(host: RawHost) -> None:
    # JSON-RPC answers neither: the answer to the ping after them is the next thing on the wire,
    # and the answer to a second ping the next after that (no quiet spell to wait out, which a
    # slow machine could outlast).
    host.send('{"jsonrpc":"2.0","method":"notifications/x","params":{"a":"\\udc00"}}')
    host.send('{"jsonrpc":"2.0","id":21,"result":{"a":"\\udc00"}}')
    host.send('{"jsonrpc":"2.0","id":24,"result":{}}')
    host.send('{"jsonrpc":"2.0","id":25,"error":{"code":-1,"message":"no"}}')
    host.send('{"jsonrpc":"2.0","id":22,"method":"ping"}')
    assert host.answer()["id"] == 22

    host.send('{"jsonrpc":"2.0","id":23,"method":"ping"}')
    assert host.answer()["id"] == 23


def test_an_id_without_a_method_result_or_error_is_answered_with_its_id(
    host: RawHost,
) -> None:
    # No response, which carries a result or an error, and no request: the host that sent it
    # waits for an answer, as it gets over HTTP.
    host.send('{"jsonrpc":"2.0","id":7}')

    assert host.answer() == {"jsonrpc": "2.0", "id": 7, "error": {
        "code": types.INVALID_REQUEST, "message": _NO_METHOD}}
    host.send('{"jsonrpc":"2.0","id":99,"method":"ping"}')
    assert host.answer() == {"jsonrpc": "2.0", "id": 99, "result": {}}


@pytest.mark.parametrize(
    ("line", "request_id"),
    [
        # Inside a string of the arguments: the id still reads.
        (b'{"jsonrpc":"2.0","id":31,"method":"tools/call","params":{"name":"count_tokens",'
         b'"arguments":{"text":"a\xff\xfeb"}}}', 31),
        (b'{"jsonrpc":"2.0","id":32,"method":"ping","params":{"a":"\xe2\x82"}}', 32),  # cut short
        # An id that is itself not UTF-8, or a bad byte between members: no id to answer with.
        (b'{"jsonrpc":"2.0","id":"a\xffb","method":"ping"}', None),
        (b'{"jsonrpc":"2.0",\xff"id":33,"method":"ping"}', None),
    ],
)
def test_a_line_that_is_not_utf8_is_refused_not_read_with_replacement_characters(
    host: RawHost, line: bytes, request_id: Any
) -> None:
    host.send(line)
    answer = host.answer()

    bad = next(index for index, byte in enumerate(line) if byte > 0x7F)
    assert answer["id"] == request_id
    assert answer["error"] == {
        "code": types.PARSE_ERROR,
        "message": f"Parse error: the line is not UTF-8: byte {bad + 1} is {line[bad]:#04x}",
    }
    host.send('{"jsonrpc":"2.0","id":99,"method":"ping"}')
    assert host.answer() == {"jsonrpc": "2.0", "id": 99, "result": {}}


def test_a_notification_that_is_not_utf8_gets_no_answer(host: RawHost) -> None:
    host.send(b'{"jsonrpc":"2.0","method":"notifications/x","params":{"a":"\xff"}}')
    host.send('{"jsonrpc":"2.0","id":34,"method":"ping"}')

    assert host.answer()["id"] == 34
    with pytest.raises(Empty):
        host.answers.get(timeout=0.5)


_FIT_CALL = ('{"jsonrpc":"2.0","id":41,"method":"tools/call","params":{"name":'
             '"check_hardware_fit","arguments":{"model":"qwen3-8b","device":"rtx-4090",')
_GIVE_EACH_ONCE = "once (only the last would be read)"

# A line or body that gives a key twice, the id it is answered with, and the error. A JSON reader
# keeps the last value: the first was served at 1 token of context without a word.
REPEATED_KEYS = [
    (_FIT_CALL + '"context_tokens":4096,"context_tokens":1}}}', 41, types.INVALID_PARAMS,
     "Invalid params: argument 'context_tokens' is given more than once; give each argument "
     + _GIVE_EACH_ONCE),
    ('{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"count_chat_tokens",'
     '"arguments":{"model":"gpt-4o","messages":[{"role":"user","content":"a","role":"system"}]}}}',
     42, types.INVALID_PARAMS,
     "Invalid params: argument 'messages.0' gives 'role' more than once; give each key "
     + _GIVE_EACH_ONCE),
    ('{"jsonrpc":"2.0","id":43,"method":"tools/call","params":{"name":"count_tokens",'
     '"name":"check_hardware_fit","arguments":{"text":"a"}}}', 43, types.INVALID_PARAMS,
     "Invalid params: params gives 'name' more than once; give each key " + _GIVE_EACH_ONCE),
    # Which of two ids the host waits on is not known: the answer's id is null.
    ('{"jsonrpc":"2.0","id":44,"id":45,"method":"ping"}', None, types.INVALID_REQUEST,
     "Invalid request: the message gives 'id' more than once; give each member "
     + _GIVE_EACH_ONCE),
    ('{"jsonrpc":"2.0","id":46,"method":"ping","method":"tools/list"}', 46,
     types.INVALID_REQUEST,
     "Invalid request: the message gives 'method' more than once; give each member "
     + _GIVE_EACH_ONCE),
]


# A number of more than 4,300 digits is JSON that neither Python's reader nor the SDK's turns
# into a number: the SDK answered "Parse error: number out of range", as if it were not JSON.
LONG_NUMBERS = [
    (_FIT_CALL + '"context_tokens":' + "9" * 5000 + "}}}", 41, types.INVALID_PARAMS,
     "Invalid params: argument 'context_tokens' is a number of 5,000 digits; a number of more "
     "than 4,300 digits cannot be read"),
    ('{"jsonrpc":"2.0","id":48,"method":"tools/call","params":{"name":"sweep_hardware",'
     '"arguments":{"models":["qwen3-8b"],"devices":["rtx-4090"],"contexts":[4096,-'
     + "1" * 4301 + "]}}}", 48, types.INVALID_PARAMS,
     "Invalid params: argument 'contexts.1' is a number of 4,301 digits; a number of more than "
     "4,300 digits cannot be read"),
    # An argument's name is quoted once, and cut as every quoted value is.
    ('{"jsonrpc":"2.0","id":50,"method":"tools/call","params":{"name":"estimate_cost",'
     '"arguments":{"model":"gpt-4.1","' + "b" * 100 + '":' + "7" * 5000 + "}}}", 50,
     types.INVALID_PARAMS,
     "Invalid params: argument 'bbbbbbbbbbbbbbbbb...bbbbbbbbbbbbbbbbbb' is a number of 5,000 "
     "digits; a number of more than 4,300 digits cannot be read"),
    ('{"jsonrpc":"2.0","id":49,"method":"ping","params":{"_meta":{"n":' + "7" * 4400 + "}}}",
     49, types.INVALID_PARAMS,
     "Invalid params: params._meta.n is a number of 4,400 digits; a number of more than 4,300 "
     "digits cannot be read"),
]


_ID_NOT_TAKEN = "Invalid request: the id must be a string or an integer, got "
_NO_METHOD = ("Invalid request: the message has no method, nor the result or error of a "
              "response; a request gives a method and an id (a string or an integer)")

# Messages MCP does not take as requests, and the error each is answered with (id null). The
# SDK's reader took a method with an id of another type for a notification, and dropped a
# message with neither a method nor an id: the host waited for an answer that never came.
NOT_REQUESTS = [
    ('{"jsonrpc":"2.0","id":5.5,"method":"tools/call","params":{"name":"count_tokens",'
     '"arguments":{"text":"a"}}}', _ID_NOT_TAKEN + "5.5"),
    ('{"jsonrpc":"2.0","id":true,"method":"ping"}', _ID_NOT_TAKEN + "true"),
    ('{"jsonrpc":"2.0","id":null,"method":"ping"}', _ID_NOT_TAKEN + "null"),
    ('{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}', _ID_NOT_TAKEN + '{"a": 1}'),
    ('{"jsonrpc":"2.0"}', _NO_METHOD),
]


@pytest.mark.parametrize(("line", "message"), NOT_REQUESTS)
def test_a_request_with_an_id_mcp_does_not_take_is_answered_with_the_id_null(
    host: RawHost, line: str, message: str
) -> None:
    host.send(line)

    assert host.answer() == {"jsonrpc": "2.0", "id": None,
                             "error": {"code": types.INVALID_REQUEST, "message": message}}
    host.send('{"jsonrpc":"2.0","id":99,"method":"ping"}')
    assert host.answer() == {"jsonrpc": "2.0", "id": 99, "result": {}}


def test_each_request_with_an_id_mcp_does_not_take_is_logged(tmp_path: Path) -> None:
    batch = [json.dumps(INITIALIZE), INITIALIZED, *(line for line, _ in NOT_REQUESTS),
             '{"jsonrpc":"2.0","id":1,"method":"ping"}']
    done = subprocess.run([sys.executable, "-m", "shoal", "serve"], cwd=tmp_path,
                          input="".join(line + "\n" for line in batch).encode(),
                          capture_output=True, timeout=HANG_GUARD_S)

    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 0
    assert [answer.get("error", {}).get("message") for answer in answers[1:-1]] == [
        message for _, message in NOT_REQUESTS]
    assert answers[-1] == {"jsonrpc": "2.0", "id": 1, "result": {}}
    logged = [line for line in done.stderr.decode().splitlines() if "refused before" in line]
    assert logged == [f"INFO shoal.stdio_transport: answered a request refused before reading: "
                      f"{message}" for _, message in NOT_REQUESTS]


SECRET_KEY = "AKIAQYLPMN5HHHFPZAM2"  # made up; the privacy scan finds it as an AWS key

# Lines whose refusal quotes what the host wrote, and the refusal with the secret hidden.
SECRETS_QUOTED = [
    ('{"jsonrpc":"2.0","id":{"' + SECRET_KEY + '":1},"method":"ping"}', None,
     _ID_NOT_TAKEN + '{"[aws_access_key_id]": 1}'),
    ('{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"count_tokens",'
     '"arguments":{"text":"a","extra_' + SECRET_KEY + '":1,"extra_' + SECRET_KEY + '":2}}}', 8,
     "Invalid params: argument 'extra_[aws_access_key_id]' is given more than once; give each "
     "argument " + _GIVE_EACH_ONCE),
]


def test_a_refusal_quotes_no_secret_the_host_wrote_nor_logs_one(tmp_path: Path) -> None:
    batch = [json.dumps(INITIALIZE), INITIALIZED, *(line for line, _, _ in SECRETS_QUOTED)]
    done = subprocess.run([sys.executable, "-m", "shoal", "serve"], cwd=tmp_path,
                          input="".join(line + "\n" for line in batch).encode(),
                          capture_output=True, timeout=HANG_GUARD_S)

    answers = [json.loads(line) for line in done.stdout.splitlines()][1:]
    assert [(answer["id"], answer["error"]["message"]) for answer in answers] == [
        (request_id, message) for _, request_id, message in SECRETS_QUOTED]
    # The log at its default level names each refusal, with the secret hidden there too.
    log = done.stderr.decode()
    assert all(message in log for _, _, message in SECRETS_QUOTED)
    assert SECRET_KEY[4:12] not in log


def test_a_notification_without_an_id_is_still_not_answered(host: RawHost) -> None:
    host.send('{"jsonrpc":"2.0","method":"notifications/initialized"}')
    host.send('{"jsonrpc":"2.0","id":36,"method":"ping"}')

    assert host.answer()["id"] == 36
    with pytest.raises(Empty):
        host.answers.get(timeout=0.5)


def test_a_number_of_4300_digits_is_read_and_left_to_the_tool(host: RawHost) -> None:
    host.send(_FIT_CALL + '"context_tokens":' + "9" * 4300 + "}}}")

    answer = host.answer()
    assert answer["id"] == 41 and answer["result"]["isError"]
    assert "argument 'context_tokens'" in answer["result"]["content"][0]["text"]


@pytest.mark.parametrize(("line", "request_id", "code", "message"),
                         REPEATED_KEYS + LONG_NUMBERS)
def test_a_request_that_gives_a_key_twice_or_a_number_too_long_is_refused_naming_where(
    host: RawHost, line: str, request_id: Any, code: int, message: str
) -> None:
    host.send(line)

    assert host.answer() == {"jsonrpc": "2.0", "id": request_id,
                             "error": {"code": code, "message": message}}
    host.send('{"jsonrpc":"2.0","id":99,"method":"ping"}')
    assert host.answer() == {"jsonrpc": "2.0", "id": 99, "result": {}}


def test_the_same_call_with_each_key_once_is_served(host: RawHost) -> None:
    host.send(_FIT_CALL + '"context_tokens":4096}}}')

    answer = host.answer()
    assert answer["id"] == 41 and not answer["result"]["isError"]
    assert "at 4,096 tokens of context" in answer["result"]["content"][0]["text"]


def test_a_notification_that_gives_a_key_twice_is_dropped_unanswered(host: RawHost) -> None:
    host.send('{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1,'
              '"requestId":2}}')
    host.send('{"jsonrpc":"2.0","id":47,"method":"ping"}')

    assert host.answer()["id"] == 47
    with pytest.raises(Empty):
        host.answers.get(timeout=0.5)


def test_blank_lines_are_skipped(host: RawHost) -> None:
    for blank in ("", "   ", "\t\r", "\r"):
        host.send(blank)
    host.send('{"jsonrpc":"2.0","id":35,"method":"ping"}\r')  # a CRLF line ending is white space

    assert host.answer() == {"jsonrpc": "2.0", "id": 35, "result": {}}
    with pytest.raises(Empty):
        host.answers.get(timeout=0.5)


def test_a_byte_order_mark_before_a_line_is_read_past(host: RawHost) -> None:
    # Some Windows hosts write one before their first line.
    host.send(b'\xef\xbb\xbf{"jsonrpc":"2.0","id":36,"method":"ping"}')

    assert host.answer() == {"jsonrpc": "2.0", "id": 36, "result": {}}


def test_a_host_that_closes_the_servers_output_stops_it_quietly() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "shoal", "serve"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps(INITIALIZE).encode() + b"\n")
    process.stdin.flush()
    assert json.loads(process.stdout.readline())["id"] == 0

    process.stdout.close()  # the host stops reading; stdin stays open
    process.stdin.write(b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n')
    process.stdin.flush()
    try:
        status = process.wait(timeout=20)
    finally:
        process.kill()
        process.stdin.close()
    assert process.stderr is not None
    with process.stderr:
        log = process.stderr.read().decode()

    assert status == 0
    assert "Traceback" not in log and "Error" not in log
    assert log.splitlines()[-1] == (
        "INFO shoal.stdio_transport: the host closed the server's output: stopping"
    )


INITIALIZED = '{"jsonrpc":"2.0","method":"notifications/initialized"}'


def tool_call(request_id: int, name: str, arguments: dict[str, Any]) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
                       "params": {"name": name, "arguments": arguments}})


def piped(lines: list[str], command: list[str], folder: Path,
          env: dict[str, str] | None = None) -> tuple[int, list[dict[str, Any]], str]:
    """Write the handshake and ``lines`` to ``command``'s stdin and close it right after the
    last, as ``printf '...' | shoal serve`` does; its exit status, answers (by id) and log."""
    batch = "".join(line + "\n" for line in [json.dumps(INITIALIZE), INITIALIZED, *lines])
    done = subprocess.run(command, input=batch.encode(), capture_output=True, cwd=folder,
                          env={**os.environ, **(env or {})}, timeout=HANG_GUARD_S)
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    return done.returncode, sorted(answers, key=lambda answer: answer["id"]), done.stderr.decode()


def test_requests_still_running_when_stdin_closes_are_answered_and_done(tmp_path: Path) -> None:
    # The SDK cancelled them as its input ended: each was answered "Connection closed" and no
    # outcome was recorded.
    feedback = tmp_path / "feedback.sqlite3"
    decisions = [f"d-{number:024x}" for number in range(1, 16)]
    calls = [tool_call(number, "record_outcome", {"decision_id": decision, "model": "gpt-4o",
                                                  "score": 0.5, "prompt": f"Task {number}"})
             for number, decision in enumerate(decisions, start=1)]
    calls += [tool_call(number, "route_task", {"prompt": f"Task {number}"})
              for number in range(16, 21)]

    status, answers, log = piped(calls, [sys.executable, "-m", "shoal", "serve"], tmp_path,
                                 env={"SHOAL_FEEDBACK_DB": str(feedback), "SHOAL_ROUTER": ""})

    assert status == 0, log
    assert [answer["id"] for answer in answers] == list(range(21))
    assert all("result" in answer and not answer["result"].get("isError") for answer in answers)
    assert sorted(row["decision_id"] for row in outcomes_as_rows(feedback)) == decisions
    assert "Traceback" not in log and "WARNING" not in log


def test_a_verbose_log_hides_the_secrets_an_error_quotes(tmp_path: Path) -> None:
    # With -v the SDK logs a failed call's error as the tool raised it, before the middleware
    # hides what it quotes of the arguments.
    key = "AKIAQYLPMN5HHHFPZAM2"
    call = tool_call(1, "estimate_cost", {"model": f"gpt-4o {key}", "input_tokens": 5})

    status, answers, log = piped([call], [sys.executable, "-m", "shoal", "-v", "serve"], tmp_path,
                                 env={"SHOAL_LEDGER": str(tmp_path / "ledger.sqlite3")})

    assert status == 0, log
    assert answers[1]["result"]["isError"]
    assert "Tool 'estimate_cost' failed" in log and "gpt-4o [aws_access_key_id]" in log
    assert key not in log


# A server whose tools sleep, or never return: on a worker thread, which no cancellation stops,
# or as a task.
SERVER_WITH_LONG_TOOLS = """
import logging, sys, threading, time
import anyio
from mcp.server.mcpserver import MCPServer
from shoal.stdio_transport import serve_stdio

logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
server = MCPServer("long tools")

@server.tool()
def pause(seconds: float) -> str:
    time.sleep(seconds)
    return "paused"

@server.tool()
def blocked_thread() -> str:
    threading.Event().wait()

@server.tool()
async def blocked_task() -> str:
    await anyio.sleep_forever()

serve_stdio(server, closed_input_wait_s=float(sys.argv[1]))
"""


def test_requests_that_never_finish_hold_the_server_only_while_answers_keep_coming(
    tmp_path: Path,
) -> None:
    # Answers come a second apart, within the 2 s wait, for 3 s in all.
    pauses = [tool_call(number, "pause", {"seconds": number}) for number in (1, 2, 3)]
    blocked = [tool_call(4, "blocked_thread", {}), tool_call(5, "blocked_task", {})]

    status, answers, log = piped(pauses + blocked,
                                 [sys.executable, "-c", SERVER_WITH_LONG_TOOLS, "2"], tmp_path)

    assert status == 0, log
    assert [answer["id"] for answer in answers] == [0, 1, 2, 3, 4, 5]  # one answer each
    assert all(answer["result"]["structuredContent"] == {"result": "paused"}
               for answer in answers[1:4])
    for answer in answers[4:]:
        assert answer["error"] == {"code": types.CONNECTION_CLOSED, "message": (
            "Connection closed: stdin was closed, and the request was still running when the "
            "server had answered nothing for 2 s")}
    assert ("WARNING shoal.stdio_transport: stdin closed and no request was answered for 2 s: "
            "stopping without the 2 still running") in log
    assert "Traceback" not in log


# A cancelled task stops; a cancelled tool on a worker thread cannot, and the stop guard ends
# the process 2 s after the rest is answered.
@pytest.mark.parametrize(("tool", "guard_fires"), [("blocked_task", False),
                                                   ("blocked_thread", True)])
def test_a_request_the_host_cancelled_is_not_waited_for(
    tmp_path: Path, tool: str, guard_fires: bool,
) -> None:
    lines = [tool_call(1, tool, {}),
             '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}',
             tool_call(2, "pause", {"seconds": 0})]

    # Waited for, the cancelled request would hold the server far past the test's guard.
    status, answers, log = piped(
        lines, [sys.executable, "-c", SERVER_WITH_LONG_TOOLS, str(10 * HANG_GUARD_S)], tmp_path)

    assert status == 0, log
    assert [answer["id"] for answer in answers] == [0, 2]
    assert guard_fires == (
        "WARNING shoal.stdio_transport: a request still running holds the server 2 s after it "
        "stopped: exiting without it" in log)


def test_the_readme_states_the_waits_of_a_server_whose_stdin_closed() -> None:
    readme = " ".join((Path(__file__).parent.parent / "README.md").read_text().split())

    assert f"once {CLOSED_INPUT_WAIT_S:g} s pass with requests still running" in readme
    assert f"answered nothing for {CLOSED_INPUT_WAIT_S:g} s`)" in readme
    assert f"holds the process at most {ABANDONED_STOP_S:g} s more" in readme


def _validation_error(line: str) -> ValidationError:
    try:
        types.jsonrpc_message_adapter.validate_json(line, by_name=False)
    except ValidationError as error:
        return error
    raise AssertionError(f"{line!r} was read")


def test_the_reply_keeps_only_a_valid_json_rpc_id() -> None:
    boolean_id = _validation_error('{"jsonrpc":"2.0","id":true,"method":"ping"} x')
    huge_id = _validation_error('{"jsonrpc":"2.0","id":' + "7" * 5000 + ',"method":"ping"}')

    assert error_reply(boolean_id).id is None  # type: ignore[union-attr]
    assert error_reply(huge_id).id is None  # type: ignore[union-attr]
    assert error_reply(ValueError("not from the transport")) is None
