"""HTTP security of `shoal serve --http`, against a real server process on 127.0.0.1.

DNS-rebinding protection (wrong Host: 421, foreign Origin: 403, for every method), bearer-token
authentication (missing, wrong, truncated, extended, doubled or non-bearer credentials: 401;
the scheme name in any case), the token never in the server's DEBUG log nor in any answer,
request bodies over the limit refused with 413 (declared or streamed), an unauthenticated body
refused before it is read, session ids that cannot be guessed or reused, stateless mode, and a
loopback-only listening socket.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from hang_guard import HANG_GUARD_S
from mcp_load import (
    ACCEPT,
    PROTOCOL_VERSION,
    CallFailed,
    http_session,
    start_http_server,
    stop_process,
)
from test_stdio_transport import (
    LONG_NUMBERS,
    NOT_REQUESTS,
    REPEATED_KEYS,
    SECRET_KEY,
    SECRETS_QUOTED,
)

from shoal import http_transport
from shoal.http_hosts import HostPolicy
from shoal.http_transport import (
    MAX_REQUEST_BODY_BYTES,
    BearerTokenMiddleware,
    HostOriginCheck,
)

TOKEN = "shoal-secret-4b1d9e07c2a85f36"
PROXY = "proxy.example.org"
HEADERS = {"Accept": ACCEPT, "Content-Type": "application/json"}


def initialize(request_id: int = 1) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "security", "version": "1"},
        },
    }


@dataclass
class Running:
    url: str
    port: int
    log: Path


def _serve(folder: Path, *options: str, env: dict[str, str] | None = None) -> Iterator[Running]:
    log = folder / "server.log"
    process, url = start_http_server(log, *options, env=env)
    try:
        yield Running(url, int(url.rsplit(":", 1)[1].split("/")[0]), log)
    finally:
        stop_process(process)


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """No token; a proxy's name allowed besides the loopback names."""
    yield from _serve(tmp_path_factory.mktemp("open"), "--allow-host", PROXY)


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """A token from the environment (SHOAL_HTTP_TOKEN), session mode, a root of "/"."""
    env = {**os.environ, http_transport.TOKEN_ENVIRONMENT_VARIABLE: TOKEN}
    yield from _serve(tmp_path_factory.mktemp("guarded"), "--root", "/", env=env)


@pytest.fixture(scope="module")
def stateless_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    yield from _serve(tmp_path_factory.mktemp("stateless"), "--stateless")


def post(url: str, body: Any = None, **headers: str) -> httpx2.Response:
    with httpx2.Client(timeout=HANG_GUARD_S) as http:
        return http.post(url, json=body or initialize(), headers={**HEADERS, **headers})


# ---- DNS rebinding: Host and Origin ----


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:80", "localhost.evil.example", "127.0.0.1.nip.io",
     "127.0.0.2", "0.0.0.0", "[::2]", "proxy.example.org.evil.example", "",
     # Whole-header parsing: what follows a loopback name must be a port, 1 to 65535.
     "localhost:8765@evil.example", "localhost:abc", "localhost:99999", "localhost:0",
     "localhost:", "user@localhost", "localhost/evil", "[::1", f"{PROXY}:x@evil"],
)
def test_a_host_that_is_not_ours_gets_421(open_server: Running, host: str) -> None:
    response = post(open_server.url, Host=host)
    assert response.status_code == 421, response.text


@pytest.mark.parametrize(
    "origin",
    ["http://evil.example", "null", "http://localhost.evil.example", "http://127.0.0.1.nip.io",
     "file://", "http://proxy.example.org.evil.example", "https://evil.example:443",
     "http://localhost:8765@evil.example", "http://user@localhost", "http://localhost:abc",
     "http://localhost:3000/", "ftp://localhost", ""],
)
def test_a_foreign_origin_gets_403(open_server: Running, origin: str) -> None:
    response = post(open_server.url, Origin=origin)
    assert response.status_code == 403, response.text


@pytest.mark.parametrize(
    ("host", "origin"),
    [("127.0.0.1", ""), ("localhost:1234", "http://localhost:3000"), (PROXY, f"https://{PROXY}"),
     (f"{PROXY}:8443", f"https://{PROXY}:8443"), ("[::1]", "http://[::1]"),
     # Host names and schemes compare in any case; an IPv6 literal in any spelling.
     ("LOCALHOST:1234", "HTTP://LocalHost:3000"), (PROXY.upper(), f"https://{PROXY.upper()}"),
     ("[0:0::1]:8765", "http://[::1]:8765")],
)
def test_loopback_names_and_the_allowed_proxy_are_served(
    open_server: Running, host: str, origin: str
) -> None:
    extra = {"Host": host, **({"Origin": origin} if origin else {})}
    assert post(open_server.url, **extra).status_code == 200


def raw_status(port: int, *header_lines: str) -> int:
    """The status of a POST initialize sent with exactly these header lines."""
    body = json.dumps(initialize()).encode()
    head = ["POST /mcp HTTP/1.1", f"Accept: {ACCEPT}", "Content-Type: application/json",
            f"Content-Length: {len(body)}", "Connection: close", *header_lines, "", ""]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall("\r\n".join(head).encode() + body)
        answer = b""
        while b"\r\n" not in answer:
            answer += raw.recv(4096)
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize(
    ("header_lines", "status"),
    [(["Host: 127.0.0.1", "Origin: http://localhost", "Origin: http://evil.example"], 403),
     (["Host: 127.0.0.1", "Origin: http://localhost", "Origin: http://localhost"], 403),
     (["Host: 127.0.0.1", "Origin: http://localhost"], 200)],
)
def test_a_second_origin_header_is_refused(
    open_server: Running, header_lines: list[str], status: int
) -> None:
    assert raw_status(open_server.port, *header_lines) == status


def _asgi_exchange(
    wrap: Callable[[Any], Any], requests: list[list[tuple[bytes, bytes]]]
) -> list[dict[str, Any]]:
    """Calls the middleware ``wrap(app)`` directly, once per list of request headers, with an
    empty body; returns, in order, ``{"reached": True}`` for each request the app was given and
    every message the middleware sent instead."""
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        sent.append({"reached": True})

    async def record(message: Any) -> None:
        sent.append(message)

    async def nothing() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    middleware = wrap(app)
    for headers in requests:
        scope = {"type": "http", "method": "POST", "path": "/mcp", "headers": headers}
        anyio.run(middleware, scope, nothing, record)
    return sent


@pytest.mark.parametrize("hosts", [["127.0.0.1", "127.0.0.1"], ["127.0.0.1", "evil.example"], []])
def test_a_request_without_exactly_one_host_header_is_refused(
    open_server: Running, hosts: list[str]
) -> None:
    # h11, uvicorn's default HTTP parser, answers two Host headers with 400 itself; shoal's
    # own check is there for a parser that passes them on.
    if hosts:
        assert raw_status(open_server.port, *(f"Host: {host}" for host in hosts)) in (400, 421)

    sent = _asgi_exchange(lambda app: HostOriginCheck(app, HostPolicy()),
                          [[(b"host", host.encode()) for host in hosts]])
    assert sent[0]["status"] == 421 and sent[1]["body"] == b"Invalid Host header"


@pytest.mark.parametrize(
    ("value", "reason"),
    [("http://mcp.example.com", "is a URL"), ("", "names no host"),
     ("a b", "has white space"), ("*", "has a wildcard"), ("*.example.com", "has a wildcard"),
     ("mcp.example.com:99999", "has port '99999'"), ("mcp.example.com/mcp", "has a path"),
     ("::1", "is an IPv6 address without brackets"),
     ("user@mcp.example.com", "has user information")],
)
def test_an_allowed_host_that_could_never_match_is_refused_at_start(
    value: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from shoal.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--http", "--allow-host", value])

    error = capsys.readouterr().err
    assert stopped.value.code == 2
    assert f"argument --allow-host: {value!r} {reason}" in error
    assert "expected NAME or NAME:PORT, e.g. mcp.example.com, mcp.example.com:8443" in error
    with pytest.raises(ValueError, match="expected NAME or NAME:PORT"):
        HostPolicy([value])


def test_a_huge_allowed_host_is_quoted_as_an_excerpt(capsys: pytest.CaptureFixture[str]) -> None:
    from shoal.cli import main

    with pytest.raises(SystemExit):
        main(["serve", "--http", "--allow-host", "a b" * 20_000])

    error = capsys.readouterr().err
    assert "'a ba ba ba ba ba ...a ba ba ba ba ba b' has white space in it" in error
    assert len(error) < 1_000


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_rebinding_protection_covers_every_method(open_server: Running, method: str) -> None:
    with httpx2.Client(timeout=HANG_GUARD_S) as http:
        wrong_host = http.request(method, open_server.url, headers={**HEADERS, "Host": "evil"})
        wrong_origin = http.request(
            method, open_server.url, headers={**HEADERS, "Origin": "http://evil.example"}
        )
    assert (wrong_host.status_code, wrong_origin.status_code) == (421, 403)


# ---- bearer token ----


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x",
     f"Bearer x{TOKEN}", f"Basic {TOKEN}", TOKEN, f"Bearer {TOKEN.upper()}",
     f"Bearer{TOKEN}", f"Token {TOKEN}"],
)
def test_requests_without_the_right_token_get_401(
    guarded_server: Running, authorization: str | None
) -> None:
    extra = {} if authorization is None else {"Authorization": authorization}
    response = post(guarded_server.url, **extra)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="shoal"'
    assert TOKEN not in response.text and TOKEN[:8] not in response.text


def test_two_authorization_headers_are_refused_even_if_one_is_right(
    guarded_server: Running,
) -> None:
    with httpx2.Client(timeout=HANG_GUARD_S) as http:
        response = http.post(
            guarded_server.url,
            json=initialize(),
            headers=[*HEADERS.items(), ("Authorization", "Bearer wrong"),
                     ("Authorization", f"Bearer {TOKEN}")],
        )
    assert response.status_code == 401


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_right_token_is_accepted_whatever_the_case_of_the_scheme(
    guarded_server: Running, scheme: str
) -> None:
    assert post(guarded_server.url, Authorization=f"{scheme} {TOKEN}").status_code == 200


def test_the_token_is_checked_before_dns_rebinding_and_before_the_body_is_read(
    guarded_server: Running,
) -> None:
    # A gigabyte declared and not a byte of it sent: a server that read the body before it
    # checked the token would wait for it until the hang guard.
    unauthenticated = declare_body(guarded_server.port, 1 << 30)
    with httpx2.Client(timeout=HANG_GUARD_S) as http:
        rebinding = http.post(guarded_server.url, json=initialize(),
                              headers={**HEADERS, "Host": "evil.example"})
    assert unauthenticated.startswith("HTTP/1.1 401")
    assert rebinding.status_code == 401  # an attacker without the token learns nothing more


def test_the_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(http_transport.hmac, "compare_digest", spy)
    sent = _asgi_exchange(
        lambda app: BearerTokenMiddleware(app, TOKEN),
        [[(b"authorization", header.encode())]
         for header in (f"Bearer {TOKEN}", "Bearer short", f"Bearer {TOKEN}{TOKEN}")],
    )
    assert [pair[1] for pair in compared] == [TOKEN.encode()] * 3
    assert sent[0] == {"reached": True}
    assert [message.get("status") for message in sent[1:] if "status" in message] == [401, 401]


def test_the_token_never_reaches_the_debug_log_or_an_answer(
    guarded_server: Running, caplog: pytest.LogCaptureFixture
) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}

    async def exercise() -> list[str]:
        answers = []
        async with http_session(guarded_server.url, headers=auth) as session:
            # A text that holds the token comes back whole in the answer (the caller's own).
            answers.append(str(await session.call("truncate_text", {"text": f"{TOKEN} and so on",
                                                                     "max_tokens": 100})))
            for name, arguments in [
                ("count_files", {"paths": ["/proc/self/environ"]}),  # the token is in there
                ("fit_budget", {"items": [{"id": "e", "path": "/proc/self/environ"}],
                                "budget_tokens": 100, "model": "gpt-4o"}),
            ]:
                try:
                    answers.append(str(await session.call(name, arguments)))
                except CallFailed as error:
                    answers.append(str(error))
        return answers

    answers = anyio.run(exercise)
    assert TOKEN in answers.pop(0)
    wrong = post(guarded_server.url, Authorization=f"Bearer {TOKEN}x")  # contains the token
    too_big = declare_too_large(guarded_server.port, f"Authorization: Bearer {TOKEN}")
    assert wrong.status_code == 401

    # What the tools refused leaves the environment (where the token is) unread.
    assert ["which shoal never reads" in answer for answer in answers] == [True, True]
    assert too_big.startswith("HTTP/1.1 413")
    for answer in (*answers, wrong.text, too_big):
        assert TOKEN not in answer
    log = guarded_server.log.read_text()
    assert "DEBUG" in log and "refused POST /mcp: missing or wrong bearer token" in log
    assert TOKEN not in log and TOKEN[:12] not in log


# ---- request bodies ----


def declare_too_large(port: int, *headers: str) -> str:
    """Send only the head of a POST declaring a body one byte over the limit; the answer."""
    return declare_body(port, MAX_REQUEST_BODY_BYTES + 1, *headers)


def declare_body(port: int, body_bytes: int, *headers: str) -> str:
    """Send only the head of a POST declaring a body of `body_bytes` bytes; the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=HANG_GUARD_S) as raw:
        raw.sendall(
            "\r\n".join(
                ["POST /mcp HTTP/1.1", "Host: 127.0.0.1", f"Accept: {ACCEPT}",
                 "Content-Type: application/json", f"Content-Length: {body_bytes}", *headers, "",
                 ""]
            ).encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += (received := raw.recv(4096))
            assert received, f"the server closed the connection after {answer!r}"
        head, body = answer.split(b"\r\n\r\n", 1)
        length = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
        while length is not None and len(body) < int(length[1]):
            body += (received := raw.recv(4096))
            assert received, f"the server closed the connection after {answer + body!r}"
    return (head + b"\r\n\r\n" + body).decode()


def test_a_declared_body_over_the_limit_gets_413_before_it_is_read(open_server: Running) -> None:
    answer = declare_too_large(open_server.port)  # not a byte of the body is sent
    assert answer.startswith("HTTP/1.1 413")
    assert answer.endswith("Request body too large")


def test_a_streamed_body_over_the_limit_gets_413(open_server: Running) -> None:
    def chunks() -> Iterator[bytes]:
        chunk = b" " * (1 << 20)
        for _ in range(MAX_REQUEST_BODY_BYTES // len(chunk) + 8):
            yield chunk

    with httpx2.Client(timeout=HANG_GUARD_S) as http:
        try:
            response = http.post(open_server.url, content=chunks(), headers=HEADERS)
        except httpx2.TransportError:
            pytest.fail("the server dropped the connection instead of answering 413")
    assert response.status_code == 413


def test_a_body_at_the_limit_is_read(open_server: Running) -> None:
    # The longest text a tool accepts, escaped as JSON, still fits the limit.
    params = b'{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"a",' + (
        b'"version":"1"}}}'
    )
    head = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":'
    body = head + b" " * (MAX_REQUEST_BODY_BYTES - len(head) - len(params)) + params
    assert len(body) == MAX_REQUEST_BODY_BYTES
    with httpx2.Client(timeout=HANG_GUARD_S) as http:
        assert http.post(open_server.url, content=body, headers=HEADERS).status_code == 200


def test_a_client_that_hangs_up_mid_body_is_one_info_line_not_a_traceback(
    open_server: Running,
) -> None:
    logged_before = len(open_server.log.read_text())
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", open_server.port), timeout=10) as raw:
            raw.sendall(
                "\r\n".join(["POST /mcp HTTP/1.1", "Host: 127.0.0.1", f"Accept: {ACCEPT}",
                             "Content-Type: application/json", "Content-Length: 1000", "",
                             '{"jsonrpc":"2.0",']).encode()
            )
            time.sleep(0.1)  # let the server read the head and wait for the rest
    assert post(open_server.url).status_code == 200

    log = open_server.log.read_text()[logged_before:]
    hang_ups = "INFO shoal.http_transport: a client hung up before sending the whole request"
    assert log.count(hang_ups) == 5, log
    assert "Traceback" not in log and "ERROR" not in log


def test_the_hang_up_filter_lets_every_other_error_through() -> None:
    from starlette.requests import ClientDisconnect

    def record(error: BaseException) -> logging.LogRecord:
        return logging.LogRecord("mcp.server.streamable_http", logging.ERROR, __file__, 1,
                                 "Error handling POST request", (), (type(error), error, None))

    hang_up_filter = http_transport.ClientHangUpLog()
    assert hang_up_filter.filter(record(RuntimeError("a real fault"))) is True
    assert hang_up_filter.filter(record(OSError("disk full"))) is True
    assert hang_up_filter.filter(record(ClientDisconnect())) is False


def refusals_of_size(log: str) -> list[str]:
    return [line for line in log.splitlines()
            if line.startswith("WARNING shoal.http_transport: refused POST /mcp: its ")
            and "-byte limit" in line]


def test_each_413_is_one_warning_line(open_server: Running) -> None:
    logged_before = len(open_server.log.read_text())

    declared = declare_too_large(open_server.port)
    with httpx2.Client(timeout=HANG_GUARD_S) as http:
        chunks = (b" " * (1 << 20) for _ in range(MAX_REQUEST_BODY_BYTES // (1 << 20) + 8))
        streamed = http.post(open_server.url, content=chunks, headers=HEADERS)

    assert declared.startswith("HTTP/1.1 413") and streamed.status_code == 413
    limit = f"{MAX_REQUEST_BODY_BYTES:,}-byte limit"
    assert refusals_of_size(open_server.log.read_text()[logged_before:]) == [
        "WARNING shoal.http_transport: refused POST /mcp: its Content-Length, "
        f"{MAX_REQUEST_BODY_BYTES + 1:,} bytes, is over the {limit}; not read",
        f"WARNING shoal.http_transport: refused POST /mcp: its body passed the {limit} while "
        "arriving",
    ]


@pytest.mark.parametrize(
    ("body", "request_id", "message"),
    [
        ('{"id":6,"method":"tools/list"}', 6,
         "Invalid request: JSONRPCRequest.jsonrpc: Field required"),
        ('{"jsonrpc":"1.0","id":"a","method":"tools/list"}', "a",
         "Invalid request: JSONRPCRequest.jsonrpc: Input should be '2.0'"),
        ("[1,2,3]", None, "Invalid request: JSONRPCRequest: Input should be an object"),
        ('{"method":"notifications/initialized"}', None,
         "Invalid request: JSONRPCRequest.jsonrpc: Field required"),
    ],
)
def test_json_that_is_no_json_rpc_message_gets_32600_with_its_id_as_over_stdio(
    open_server: Running, body: str, request_id: Any, message: str
) -> None:
    with httpx2.Client(timeout=HANG_GUARD_S) as http:
        answer = http.post(open_server.url, content=body, headers=HEADERS)

    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"jsonrpc": "2.0", "id": request_id,
                             "error": {"code": -32600, "message": message}}
    assert post(open_server.url).status_code == 200


_COUNT_CALL = b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"count_tokens",'


@pytest.mark.parametrize(
    ("body", "request_id", "message"),
    [
        # JavaScript's JSON.stringify writes a broken string's lone surrogate as an escape; the
        # SDK's reader answered "unexpected end of hex escape" with a null id.
        (_COUNT_CALL + b'"arguments":{"text":"ab\\ud800c"}}}', 7,
         "Parse error: params.arguments.text has an unpaired surrogate at index 2 (an escape "
         "such as \\ud800 without its pair), which no UTF-8 text holds; send valid Unicode"),
        (_COUNT_CALL + b'"arguments":{"text":"\xff"}}}', 7,
         f"Parse error: the body is not UTF-8: byte {len(_COUNT_CALL) + 22} is 0xff"),
        (b"{nope", None, "Parse error: Invalid JSON: key must be a string at line 1 column 2"),
    ],
)
def test_a_body_that_is_no_json_gets_32700_with_its_id_as_over_stdio(
    open_server: Running, body: bytes, request_id: Any, message: str
) -> None:
    with httpx2.Client(timeout=HANG_GUARD_S) as http:
        answer = http.post(open_server.url, content=body, headers=HEADERS)

    assert answer.status_code == 400
    assert answer.json() == {"jsonrpc": "2.0", "id": request_id,
                             "error": {"code": -32700, "message": message}}
    assert post(open_server.url).status_code == 200


@pytest.mark.parametrize(("body", "request_id", "code", "message"),
                         REPEATED_KEYS + LONG_NUMBERS)
def test_a_body_that_gives_a_key_twice_or_a_number_too_long_is_refused_as_over_stdio(
    open_server: Running, body: str, request_id: Any, code: int, message: str
) -> None:
    with httpx2.Client(timeout=HANG_GUARD_S) as http:
        answer = http.post(open_server.url, content=body, headers=HEADERS)

    assert answer.status_code == 400
    assert answer.json() == {"jsonrpc": "2.0", "id": request_id,
                             "error": {"code": code, "message": message}}
    assert post(open_server.url).status_code == 200


@pytest.mark.parametrize(("body", "message"), NOT_REQUESTS)
def test_a_request_with_an_id_mcp_does_not_take_gets_32600_as_over_stdio(
    open_server: Running, body: str, message: str
) -> None:
    # The SDK took the first four for notifications: 202 and no body, the call never made.
    with httpx2.Client(timeout=HANG_GUARD_S) as http:
        answer = http.post(open_server.url, content=body, headers=HEADERS)

    assert answer.status_code == 400
    assert answer.json() == {"jsonrpc": "2.0", "id": None,
                             "error": {"code": -32600, "message": message}}
    assert ("INFO shoal.http_transport: answered a request body refused before reading: "
            f"{message}") in open_server.log.read_text()
    assert post(open_server.url).status_code == 200


@pytest.mark.parametrize(("body", "request_id", "message"), SECRETS_QUOTED)
def test_a_refusal_quotes_no_secret_the_body_holds_nor_logs_one_as_over_stdio(
    open_server: Running, body: str, request_id: Any, message: str
) -> None:
    with httpx2.Client(timeout=HANG_GUARD_S) as http:
        answer = http.post(open_server.url, content=body, headers=HEADERS)

    assert answer.status_code == 400
    assert answer.json()["id"] == request_id
    assert answer.json()["error"]["message"] == message
    log = open_server.log.read_text()
    assert f"answered a request body refused before reading: {message}" in log
    assert SECRET_KEY[4:12] not in log


def test_a_refused_path_is_logged_with_its_secrets_hidden(open_server: Running) -> None:
    with httpx2.Client(timeout=HANG_GUARD_S) as http:
        http.post(open_server.url + f"/{SECRET_KEY}", content=b"{}",
                  headers={**HEADERS, "host": "evil.example.net"})

    log = open_server.log.read_text()
    assert "refused POST /mcp/[aws_access_key_id]: Host 'evil.example.net'" in log
    assert SECRET_KEY[4:12] not in log


def test_a_byte_order_mark_before_a_body_is_read_past_as_over_stdio(
    stateless_server: Running,
) -> None:
    body = b"\xef\xbb\xbf" + _COUNT_CALL + b'"arguments":{"text":"hello"}}}'
    with httpx2.Client(timeout=HANG_GUARD_S) as http:
        answer = http.post(stateless_server.url, content=body, headers=HEADERS)

    assert answer.status_code == 200
    assert '"tokens":1' in answer.text and '"id":7' in answer.text


# ---- sessions and stateless mode ----


def test_session_ids_are_unguessable_and_bound_to_their_server(open_server: Running) -> None:
    ids = [post(open_server.url).headers["mcp-session-id"] for _ in range(5)]
    assert len(set(ids)) == 5
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in ids)  # 128 random bits

    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "count_tokens", "arguments": {"text": "hi"}}}
    version = {"mcp-protocol-version": PROTOCOL_VERSION}
    made_up = post(open_server.url, call, **version, **{"mcp-session-id": "0" * 32})
    missing = post(open_server.url, call, **version)
    assert made_up.status_code == 404 and missing.status_code == 400

    with httpx2.Client(timeout=HANG_GUARD_S) as http:
        ended = http.delete(open_server.url, headers={**HEADERS, **version,
                                                      "mcp-session-id": ids[0]})
    assert ended.status_code == 200
    reused = post(open_server.url, call, **version, **{"mcp-session-id": ids[0]})
    assert reused.status_code == 404


def test_stateless_mode_keeps_no_session(stateless_server: Running) -> None:
    opened = post(stateless_server.url)
    assert opened.status_code == 200 and "mcp-session-id" not in opened.headers

    async def calls() -> list[dict[str, Any]]:
        results = []
        for _ in range(3):  # each call is a fresh session: none sees another's state
            async with http_session(stateless_server.url) as session:
                results.append(await session.call("count_tokens", {"text": "hello world"}))
        return results

    assert [r["structuredContent"]["tokens"] for r in anyio.run(calls)] == [2, 2, 2]
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "count_tokens", "arguments": {"text": "hi"}}}
    with_made_up_session = post(stateless_server.url, call,
                                **{"mcp-protocol-version": PROTOCOL_VERSION,
                                   "mcp-session-id": "f" * 32})
    assert with_made_up_session.status_code in (200, 400, 404)
    assert "mcp-session-id" not in with_made_up_session.headers


# ---- where it listens ----


def test_the_server_listens_on_the_loopback_address_only(open_server: Running) -> None:
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port = local.rsplit(":", 1)
            if state == "0A" and int(port, 16) == open_server.port:  # 0A: LISTEN
                listening.append(address)
    if not listening:
        pytest.skip("no /proc/net/tcp here")
    assert listening == ["0100007F"]  # 127.0.0.1, little-endian hex


def test_binding_beyond_the_loopback_address_is_warned_about(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from shoal.server import build_server

    monkeypatch.setattr(http_transport, "_run_uvicorn", lambda *args, **kwargs: None)
    with caplog.at_level(logging.WARNING, logger="shoal.http_transport"):
        http_transport.serve_http(build_server(), host="0.0.0.0", port=1)
        http_transport.serve_http(build_server(), host="127.0.0.1", port=1)
    assert [record.getMessage() for record in caplog.records] == [
        "binding 0.0.0.0: shoal's HTTP endpoint is reachable beyond this machine"
    ]
