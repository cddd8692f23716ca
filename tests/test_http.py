"""`shoal serve --http` as a real process on 127.0.0.1: both protocol eras through the SDK's HTTP
client, DNS-rebinding refusals, bearer-token authentication, stateless mode, and request bodies
that stall before they have wholly arrived."""

from __future__ import annotations

import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx2
import pytest
from hang_guard import HANG_GUARD_S, without_hanging
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from test_server import CALLS

pytestmark = pytest.mark.anyio

TOKEN = "shoal-test-token-7f3a9c1e5b"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@dataclass
class RunningServer:
    url: str
    log: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(log: Path, *options: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start `shoal serve --http` on a free loopback port and wait until it accepts connections."""
    port = free_port()
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "shoal", "-v", "serve", "--http", "--port", str(port), *options],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    deadline = time.monotonic() + HANG_GUARD_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"shoal serve exited: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"http://127.0.0.1:{port}/mcp"
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"shoal serve did not start listening within {HANG_GUARD_S} s")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("open") / "server.log"
    process, url = start_server(log)
    yield RunningServer(url, log)
    stop_server(process)


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("guarded")
    token_file = folder / "token"
    token_file.write_text(TOKEN + "\n")
    log = folder / "server.log"
    process, url = start_server(log, "--token-file", str(token_file), "--stateless")
    yield RunningServer(url, log)
    stop_server(process)


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_each_era_lists_and_calls_every_tool_over_http(
    open_server: RunningServer, mode: str
) -> None:
    async with Client(open_server.url, mode=mode) as client:
        version = client.session.protocol_version
        names = {tool.name for tool in (await client.list_tools()).tools}
        results = {name: await client.call_tool(name, args) for name, args in CALLS.items()}

    assert version == {"legacy": "2025-11-25", "2026-07-28": "2026-07-28"}[mode]
    assert names == set(CALLS)
    for name, result in results.items():
        assert not result.is_error, f"{name}: {result.content}"
        assert result.structured_content
    assert results["count_tokens"].structured_content["tokens"] == 10


def test_a_foreign_host_or_origin_is_refused(open_server: RunningServer) -> None:
    with httpx2.Client(timeout=HANG_GUARD_S) as http:
        good = http.post(open_server.url, json=INITIALIZE, headers=MCP_HEADERS)
        rebound_host = http.post(
            open_server.url, json=INITIALIZE, headers={**MCP_HEADERS, "Host": "evil.example:80"}
        )
        foreign_origin = http.post(
            open_server.url,
            json=INITIALIZE,
            headers={**MCP_HEADERS, "Origin": "http://evil.example"},
        )
        local_origin = http.post(
            open_server.url,
            json=INITIALIZE,
            headers={**MCP_HEADERS, "Origin": "http://localhost:3000"},
        )

    assert good.status_code == 200
    assert rebound_host.status_code == 421
    assert foreign_origin.status_code == 403
    assert local_origin.status_code == 200


def test_requests_without_the_right_token_get_401(guarded_server: RunningServer) -> None:
    with httpx2.Client(timeout=HANG_GUARD_S) as http:
        missing = http.post(guarded_server.url, json=INITIALIZE, headers=MCP_HEADERS)
        wrong = http.post(
            guarded_server.url,
            json=INITIALIZE,
            headers={**MCP_HEADERS, "Authorization": f"Bearer {TOKEN}x"},
        )
        not_bearer = http.post(
            guarded_server.url,
            json=INITIALIZE,
            headers={**MCP_HEADERS, "Authorization": f"Basic {TOKEN}"},
        )
        right = http.post(
            guarded_server.url,
            json=INITIALIZE,
            headers={**MCP_HEADERS, "Authorization": f"Bearer {TOKEN}"},
        )

    for refused in (missing, wrong, not_bearer):
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert TOKEN not in refused.text
    assert right.status_code == 200
    assert "mcp-session-id" not in right.headers, "--stateless keeps no session"
    assert TOKEN not in guarded_server.log.read_text()


def test_the_readme_says_the_oauth_message_follows_any_refused_token(
    guarded_server: RunningServer,
) -> None:
    # README said the Inspector's message meant a missing or empty token; a wrong one gets the
    # same 401, whose WWW-Authenticate: Bearer is what sets a client on OAuth discovery.
    with httpx2.Client(timeout=HANG_GUARD_S) as http:
        refusals = [
            http.post(guarded_server.url, json=INITIALIZE, headers={**MCP_HEADERS, **sent})
            for sent in ({}, {"Authorization": "Bearer"}, {"Authorization": "Bearer wrong"})
        ]
    readme = " ".join((Path(__file__).parent.parent / "README.md").read_text().split())
    [sentence] = [sentence for sentence in readme.split(". ")
                  if "Interactive OAuth requires a TTY" in sentence]

    assert len({(refusal.status_code, refusal.headers["www-authenticate"], refusal.text)
                for refusal in refusals}) == 1
    assert refusals[0].status_code == 401
    assert "missing, empty or wrong" in sentence


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_the_right_token_serves_both_eras_statelessly(
    guarded_server: RunningServer, mode: str
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx2.AsyncClient(headers=headers, timeout=HANG_GUARD_S) as http:
        transport = streamable_http_client(guarded_server.url, http_client=http)
        async with Client(transport, mode=mode) as client:
            counted = await client.call_tool("count_tokens", {"text": "hello world"})
            names = {tool.name for tool in (await client.list_tools()).tools}

    assert counted.structured_content["tokens"] == 2
    assert names == set(CALLS)
    log = guarded_server.log.read_text()
    assert "missing or wrong bearer token" in log
    assert TOKEN not in log


# ---- request bodies that stall ----

BODY_TIMEOUT_S = 2
STALLED_BODY_START = b'{"jsonrpc":"2.0",'


@pytest.fixture(scope="module")
def impatient_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A short body deadline, so that a stalled body is refused soon."""
    log = tmp_path_factory.mktemp("impatient") / "server.log"
    process, url = start_server(log, "--body-timeout", str(BODY_TIMEOUT_S))
    yield RunningServer(url, log)
    stop_server(process)


def send_part_of_a_request(url: str) -> socket.socket:
    """A connection to `url`'s server that has sent a POST's headers and the start of its body."""
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    raw = socket.create_connection(("127.0.0.1", port), timeout=HANG_GUARD_S)
    raw.sendall(
        b"\r\n".join([b"POST /mcp HTTP/1.1", b"Host: 127.0.0.1",
                      b"Accept: application/json, text/event-stream",
                      b"Content-Type: application/json", b"Content-Length: 100000", b"",
                      STALLED_BODY_START])
    )
    return raw


def read_until_closed(raw: socket.socket) -> bytes:
    """Everything the server sends before it closes the connection."""
    answer = b""
    try:
        while received := raw.recv(4096):
            answer += received
    except ConnectionResetError:
        pass  # a server that closes with unread bytes from the client resets the connection
    return answer


def refusal_lines(log: str) -> list[str]:
    return [line for line in log.splitlines()
            if line.startswith("WARNING shoal.http_transport: refused POST /mcp: its body was not "
                               f"complete {BODY_TIMEOUT_S} s after its headers")]


async def test_a_stalled_request_body_gets_408_while_other_clients_are_served(
    impatient_server: RunningServer,
) -> None:
    logged_before = len(impatient_server.log.read_text())
    stalled = [send_part_of_a_request(impatient_server.url) for _ in range(3)]
    try:
        async with Client(impatient_server.url) as client:
            counted = await client.call_tool("count_tokens", {"text": "hello world"})
        # Each read returns only once the server has closed that connection.
        answers = [await anyio.to_thread.run_sync(read_until_closed, raw) for raw in stalled]
    finally:
        for raw in stalled:
            raw.close()

    assert counted.structured_content["tokens"] == 2
    for answer in answers:
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 "), answer
        assert b"connection: close" in head.lower()
        assert body == f"request body not complete within {BODY_TIMEOUT_S} s\n".encode()
    log = impatient_server.log.read_text()[logged_before:]
    refusals = refusal_lines(log)
    assert len(refusals) == 3, log
    arrived = f"({len(STALLED_BODY_START)} bytes of it had arrived); closing the connection"
    assert all(line.endswith(arrived) for line in refusals), refusals
    assert "Traceback" not in log and "ERROR" not in log


def test_a_body_dripped_a_byte_at_a_time_gets_408_too(impatient_server: RunningServer) -> None:
    # The deadline is for the whole body, not for the pause between two of its chunks.
    def drip_until_answered(raw: socket.socket) -> bytes:
        while not select.select([raw], [], [], 0.1)[0]:
            try:
                raw.sendall(b" ")
            except ConnectionError:
                break
        return read_until_closed(raw)

    with send_part_of_a_request(impatient_server.url) as raw:
        answer = without_hanging(lambda: drip_until_answered(raw))

    assert answer.startswith(b"HTTP/1.1 408 "), answer


# ---- sessions a client abandons ----

SESSION_IDLE_TIMEOUT_S = 1


def test_a_session_left_idle_past_its_timeout_is_ended(tmp_path: Path) -> None:
    # A client that never sent DELETE left its session in memory for the SDK's 30 minutes:
    # 1,000 of them held 35 MB.
    log = tmp_path / "server.log"
    process, url = start_server(log, "--session-idle-timeout", str(SESSION_IDLE_TIMEOUT_S))
    try:
        with httpx2.Client(timeout=HANG_GUARD_S) as http:
            opened = http.post(url, json=INITIALIZE, headers=MCP_HEADERS)
            session = {**MCP_HEADERS, "Mcp-Session-Id": opened.headers["mcp-session-id"],
                       "Mcp-Protocol-Version": "2025-11-25"}
            initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
            in_use = http.post(url, json=initialized, headers=session)
            time.sleep(SESSION_IDLE_TIMEOUT_S + 1.5)
            listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
            after_the_timeout = http.post(url, json=listing, headers=session)
    finally:
        stop_server(process)

    assert opened.status_code == 200 and in_use.status_code == 202
    assert after_the_timeout.status_code == 404
