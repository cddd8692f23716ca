"""A light MCP client for load and fault tests, and the workload they send.

It speaks JSON-RPC to ``shoal serve`` over streamable HTTP (one session per client, answers as
JSON or server-sent events) or over stdio (one session, many requests in flight), and times each
tools/call. It is small on purpose: the SDK's client validates every answer against its schema,
which costs more CPU than the server spends answering, and a load test should measure the
server. The SDK's own client is exercised in tests/test_http.py and tests/test_server.py.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import anyio
import httpx2
from hang_guard import HANG_GUARD_S

PROTOCOL_VERSION = "2025-11-25"
ACCEPT = "application/json, text/event-stream"
RECORD_MODEL = "gpt-4o-mini"


class CallFailed(Exception):
    """A tools/call that did not succeed: HTTP status, JSON-RPC error or tool error."""


class Session(Protocol):
    async def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]: ...


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_http_server(
    log: Path, *options: str, env: dict[str, str] | None = None, port: int | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``shoal -v serve --http`` on a loopback port; wait until it accepts connections.

    Returns:
        The process and the endpoint URL.
    """
    port = port or free_port()
    with log.open("ab") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "shoal", "-v", "serve", "--http", "--port", str(port),
             *options],
            stdout=subprocess.DEVNULL, stderr=stderr, env=env,
        )
    deadline = time.monotonic() + HANG_GUARD_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"shoal serve exited: {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"http://127.0.0.1:{port}/mcp"
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"shoal serve did not start listening within {HANG_GUARD_S} s")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _result(message: dict[str, Any], name: str) -> dict[str, Any]:
    if "error" in message:
        raise CallFailed(f"{name}: JSON-RPC error {message['error']}")
    result = message["result"]
    if result.get("isError"):
        raise CallFailed(f"{name}: tool error {result['content'][0]['text']}")
    return result


def _initialize(request_id: int) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "shoal-load", "version": "1"},
        },
    }


class HttpSession:
    """One MCP session over streamable HTTP."""

    def __init__(self, http: httpx2.AsyncClient, url: str, headers: dict[str, str]) -> None:
        self._http = http
        self._url = url
        self.headers = {"Accept": ACCEPT, **headers}
        self._next_id = 1

    async def open(self) -> None:
        response = await self._http.post(self._url, json=_initialize(0), headers=self.headers)
        if response.status_code != 200:
            raise CallFailed(f"initialize: HTTP {response.status_code}")
        session = response.headers.get("mcp-session-id")
        if session:
            self.headers["mcp-session-id"] = session
        self.headers["mcp-protocol-version"] = PROTOCOL_VERSION
        await self._http.post(
            self._url,
            json={"jsonrpc": "2.0", "method": "notifications/initialized"},
            headers=self.headers,
        )

    async def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        request_id, self._next_id = self._next_id, self._next_id + 1
        request = {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "tools/call",
            "params": {"name": name, "arguments": arguments},
        }
        response = await self._http.post(self._url, json=request, headers=self.headers)
        if response.status_code != 200:
            raise CallFailed(f"{name}: HTTP {response.status_code} {response.text[:200]}")
        return _result(_message(response, request_id), name)


def _message(response: httpx2.Response, request_id: int) -> dict[str, Any]:
    """The JSON-RPC answer to `request_id` in a JSON or server-sent-events response."""
    if not response.headers.get("content-type", "").startswith("text/event-stream"):
        return dict(response.json())
    for line in response.text.splitlines():
        if line.startswith("data:"):
            message = json.loads(line[5:])
            if message.get("id") == request_id:
                return dict(message)
    raise CallFailed(f"no answer to request {request_id} in the event stream")


@asynccontextmanager
async def http_session(url: str, headers: dict[str, str] | None = None,
                       timeout_s: float = HANG_GUARD_S) -> AsyncIterator[HttpSession]:
    async with httpx2.AsyncClient(timeout=timeout_s) as http:
        session = HttpSession(http, url, headers or {})
        await session.open()
        yield session


class StdioSession:
    """One MCP session over a ``shoal serve`` subprocess's stdin and stdout; requests may be
    in flight together, answers are matched by id."""

    def __init__(self, process: anyio.abc.Process) -> None:
        self._process = process
        self._next_id = 1
        self._waiting: dict[int, tuple[anyio.Event, list[dict[str, Any]]]] = {}
        self._lock = anyio.Lock()

    async def _send(self, message: dict[str, Any]) -> None:
        assert self._process.stdin is not None
        async with self._lock:
            await self._process.stdin.send(json.dumps(message).encode() + b"\n")

    async def _read(self) -> None:
        assert self._process.stdout is not None
        buffer = b""
        async for chunk in self._process.stdout:
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if not line.strip():
                    continue
                message = json.loads(line)
                waiter = self._waiting.pop(message.get("id"), None) if "id" in message else None
                if waiter is not None:
                    waiter[1].append(message)
                    waiter[0].set()

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        request_id, self._next_id = self._next_id, self._next_id + 1
        done, answer = anyio.Event(), []
        self._waiting[request_id] = (done, answer)
        await self._send({**message, "id": request_id})
        await done.wait()
        return answer[0]

    async def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        message = await self.request(
            {"jsonrpc": "2.0", "method": "tools/call",
             "params": {"name": name, "arguments": arguments}}
        )
        return _result(message, name)


@asynccontextmanager
async def stdio_session(env: dict[str, str] | None = None) -> AsyncIterator[StdioSession]:
    """Start ``shoal serve`` (stdio) and open one session on it."""
    command = [sys.executable, "-m", "shoal", "serve"]
    async with await anyio.open_process(command, env=env, stderr=subprocess.DEVNULL) as process:
        session = StdioSession(process)
        async with anyio.create_task_group() as group:
            group.start_soon(session._read)
            initialised = await session.request(_initialize(0))
            assert "result" in initialised, initialised
            await session._send({"jsonrpc": "2.0", "method": "notifications/initialized"})
            try:
                yield session
            finally:
                group.cancel_scope.cancel()
                process.terminate()


# ---- the workload ----


def workload(run: str, client: int, calls: int, scope: str) -> list[tuple[str, dict[str, Any]]]:
    """The calls one client makes: a quarter record_usage with unique request ids, the rest
    read-only tools, and at call 5 a record whose request id every client shares."""
    mix: list[tuple[str, dict[str, Any]]] = []
    for number in range(calls):
        kind = number % 4
        if number == 5:
            mix.append(("record_usage", shared_record(run, scope)))
        elif kind == 0:
            mix.append(("record_usage", {
                "scope": scope, "model": RECORD_MODEL, "request_id": f"{run}-{client}-{number}",
                "input_tokens": 1_000 + client, "output_tokens": 100 + number,
            }))
        elif kind == 1:
            mix.append(("count_tokens", {"text": f"client {client} asks question {number}. " * 8}))
        elif kind == 2:
            mix.append(_read_only_tool(client, number))
        else:
            mix.append(("budget_status", {"scope": scope}))
    return mix


def shared_record(run: str, scope: str) -> dict[str, Any]:
    return {"scope": scope, "model": RECORD_MODEL, "request_id": f"{run}-shared",
            "input_tokens": 5_000, "output_tokens": 500}


def _read_only_tool(client: int, number: int) -> tuple[str, dict[str, Any]]:
    choice = (client + number) % 3
    if choice == 0:
        return "estimate_cost", {"model": "gpt-4.1-mini", "input_tokens": 1_000 * (number + 1),
                                 "output_tokens": 100}
    if choice == 1:
        return "check_hardware_fit", {"model": "llama-3.1-8b-instruct", "device": "rtx-4090",
                                      "context_tokens": 1024 * (1 + number % 8)}
    return "compare_costs", {"models": ["gpt-4o", "gpt-4.1-mini", "claude-sonnet-4-5"],
                             "input_tokens": 10_000, "output_tokens": 1_000}


@dataclass
class LoadReport:
    """What a load run saw."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return len(self.latencies)

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0

    def percentile_ms(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return math.nan
        return 1000 * ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run_clients(
    open_session: Callable[[], Any],
    calls_of: Callable[[int], Sequence[tuple[str, dict[str, Any]]]],
    clients: int,
    deadline_s: float,
    shared_session: Session | None = None,
) -> LoadReport:
    """Run `clients` concurrent clients, each making `calls_of(client)` calls in order.

    Each client opens its own session with `open_session()` (an async context manager), unless
    `shared_session` is given, which all clients then share (stdio). The whole run stops at
    `deadline_s` (anyio raises TimeoutError).
    """
    report = LoadReport()

    async def client(index: int) -> None:
        if shared_session is not None:
            await _calls(shared_session, calls_of(index), report)
            return
        async with open_session() as session:
            await _calls(session, calls_of(index), report)

    started = time.perf_counter()
    with anyio.fail_after(deadline_s):
        async with anyio.create_task_group() as group:
            for index in range(clients):
                group.start_soon(client, index)
    report.seconds = time.perf_counter() - started
    return report


async def _calls(
    session: Session, calls: Sequence[tuple[str, dict[str, Any]]], report: LoadReport
) -> None:
    for name, arguments in calls:
        started = time.perf_counter()
        try:
            result = await session.call(name, arguments)
        except (CallFailed, httpx2.HTTPError) as error:
            report.errors.append(f"{name}: {type(error).__name__}: {error}")
            continue
        report.latencies.append(time.perf_counter() - started)
        if name == "record_usage":
            report.records.append(result["structuredContent"])


async def gather(*calls: Awaitable[Any]) -> list[Any]:
    """Await `calls` concurrently; their results in order."""
    results: list[Any] = [None] * len(calls)

    async def one(index: int, call: Awaitable[Any]) -> None:
        results[index] = await call

    async with anyio.create_task_group() as group:
        for index, call in enumerate(calls):
            group.start_soon(one, index, call)
    return results
