"""Faults: the server killed with SIGKILL in the middle of ledger writes and of a long count, and
clients that hang up in the middle of a call.

After a kill and a restart, every record the server acknowledged is in the ledger exactly once,
nothing is recorded twice when clients retry what was in flight, the totals are exact and the
database passes ``PRAGMA integrity_check``. A client that disconnects mid-call leaves no work
running: the server goes idle, its thread count does not grow, and the next call is prompt.

The long count runs on the pure-Python core (``SHOAL_PURE_PYTHON=1`` in the server's
environment) over 2,000 small files, so that it lasts many seconds and a kill or a disconnect
lands in the middle of it whatever the machine's speed. How soon the work stops is measured
against the same server counting a twentieth of those files, so that a busy machine, which slows
both alike, does not fail the test.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx2
import pytest
from hang_guard import HANG_GUARD_S
from mcp_load import (
    ACCEPT,
    RECORD_MODEL,
    CallFailed,
    http_session,
    start_http_server,
    stop_process,
)

from shoal.cost import estimate_cost
from shoal.ledger import BUSY_TIMEOUT_S, NANO_PER_USD

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "SIGKILL") or not Path("/proc/self/stat").exists(),
    reason="needs POSIX signals and /proc",
)

WRITERS = 8
ACKS_BEFORE_KILL = 60
KILL_ROUNDS = 3
TREE_FILES = 2_000
# The folder timed as a baseline: a twentieth of the tree.
SUBSET = "d00"
# Stopping the work after a hang-up takes a fraction of the time the subset's count does; work
# left running takes the whole tree's count, about twenty times as long. The bound lies between.
MOST_SUBSETS_TO_SETTLE = 5
# A process is idle once none of its threads is running or waiting for a CPU in this many
# samples in a row, IDLE_SAMPLE_S apart. A thread's state, unlike the CPU time it gets, does not
# depend on how busy the rest of the machine is.
IDLE_SAMPLES = 10
IDLE_SAMPLE_S = 0.02


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 files of 3,000 CJK characters each, cut from a random text at random places:
    many seconds of pure-Python counting."""
    root = tmp_path_factory.mktemp("tree")
    generator = random.Random(2026)
    pool = "".join(chr(generator.randrange(0x4E00, 0x9FFF)) for _ in range(40_000))
    for folder in range(TREE_FILES // 100):
        (root / f"d{folder:02}").mkdir()
        for number in range(100):
            start = generator.randrange(len(pool) - 3000)
            text = pool[start : start + 3000]
            (root / f"d{folder:02}" / f"f{number:03}.txt").write_text(text, encoding="utf-8")
    return root


@dataclass
class Server:
    """A `shoal serve --http` subprocess and how to start it again on the same ledger."""

    ledger: Path
    log: Path
    options: tuple[str, ...] = ()
    pure: bool = False
    process: subprocess.Popen[bytes] | None = None
    url: str = ""

    def start(self) -> None:
        env = {**os.environ, "SHOAL_LEDGER": str(self.ledger)}
        if self.pure:
            env["SHOAL_PURE_PYTHON"] = "1"
        self.process, self.url = start_http_server(self.log, *self.options, env=env)

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        assert self.process.wait(timeout=10) == -signal.SIGKILL

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(ledger=tmp_path / "ledger.sqlite3", log=tmp_path / "server.log")
    yield running
    running.stop()


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def runnable_threads(pid: int) -> int:
    """How many of the process's threads are running or waiting for a CPU (state R)."""
    runnable = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{task}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError):  # the thread has ended
            continue
        runnable += stat.rsplit(")", 1)[1].split()[0] == "R"
    return runnable


def wait_until_idle(pid: int) -> float:
    """Seconds until no thread of the process was runnable in IDLE_SAMPLES samples in a row
    (counted to the first of them); fails the test at the hang guard."""
    started = time.monotonic()
    idle_since, idle_samples = started, 0
    while time.monotonic() - started < HANG_GUARD_S:
        if runnable_threads(pid):
            idle_samples = 0
        else:
            if idle_samples == 0:
                idle_since = time.monotonic()
            idle_samples += 1
            if idle_samples == IDLE_SAMPLES:
                return idle_since - started
        time.sleep(IDLE_SAMPLE_S)
    raise AssertionError(f"the server was still busy {HANG_GUARD_S} s later")


def record_arguments(request_id: str, number: int) -> dict:  # type: ignore[type-arg]
    return {"scope": "faults", "model": RECORD_MODEL, "request_id": request_id,
            "input_tokens": 1_000 + number, "output_tokens": 100 + number % 7}


def nano(arguments: dict) -> int:  # type: ignore[type-arg]
    estimate = estimate_cost(RECORD_MODEL, input_tokens=arguments["input_tokens"],
                             output_tokens=arguments["output_tokens"])
    return round(estimate.total_usd * NANO_PER_USD)


@dataclass
class Writes:
    """What the writers sent and what the server acknowledged (request id -> row id)."""

    sent: dict[str, dict] = field(default_factory=dict)  # type: ignore[type-arg]
    acknowledged: dict[str, int] = field(default_factory=dict)


async def write_until_killed(server: Server, prefix: str, writes: Writes,
                             kill_after: int) -> None:
    """WRITERS clients record usage with unique ids until the server dies; the server is killed
    with SIGKILL once `kill_after` records of this round are acknowledged."""
    acknowledged_here = 0

    async def writer(client: int) -> None:
        nonlocal acknowledged_here
        try:
            async with http_session(server.url, timeout_s=30) as session:
                for number in range(10_000):
                    request_id = f"{prefix}-{client}-{number}"
                    arguments = record_arguments(request_id, number)
                    writes.sent[request_id] = arguments
                    result = await session.call("record_usage", arguments)
                    record = result["structuredContent"]
                    assert not record["duplicate"]
                    writes.acknowledged[request_id] = record["id"]
                    acknowledged_here += 1
                    if acknowledged_here == kill_after:
                        server.kill()
        except (httpx2.HTTPError, CallFailed):
            return  # the server is gone

    with anyio.fail_after(HANG_GUARD_S):
        async with anyio.create_task_group() as group:
            for client in range(WRITERS):
                group.start_soon(writer, client)


def ledger_rows(path: Path) -> dict[str, tuple[int, int]]:
    """request id -> (row id, cost) of every row, after checking integrity and uniqueness."""
    with sqlite3.connect(path) as database:  # read-write: recovers the WAL as a restart would
        assert database.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = database.execute(
            "SELECT request_id, id, cost_nanousd FROM shoal_usage WHERE scope = 'faults'"
        ).fetchall()
    ids = [row[0] for row in rows]
    assert len(ids) == len(set(ids)), "a request id was recorded twice"
    return {request_id: (row_id, cost) for request_id, row_id, cost in rows}


def test_kill_9_during_ledger_writes_loses_and_duplicates_nothing(server: Server) -> None:
    writes = Writes()
    for round_number in range(KILL_ROUNDS):
        server.start()
        anyio.run(write_until_killed, server, f"r{round_number}", writes, ACKS_BEFORE_KILL)

        rows = ledger_rows(server.ledger)
        for request_id, row_id in writes.acknowledged.items():
            assert rows[request_id][0] == row_id, f"acknowledged {request_id} is missing"
        assert set(rows) <= set(writes.sent)

    # What was in flight at each kill is at most one call per writer; retrying all of it
    # records each once, whether or not it had landed before the kill.
    in_flight = sorted(set(writes.sent) - set(writes.acknowledged))
    assert len(in_flight) <= WRITERS * KILL_ROUNDS
    landed_before = set(ledger_rows(server.ledger))
    server.start()

    async def retry() -> list[dict]:  # type: ignore[type-arg]
        async with http_session(server.url) as session:
            return [
                (await session.call("record_usage", writes.sent[request_id]))["structuredContent"]
                for request_id in in_flight
            ]

    for request_id, record in zip(in_flight, anyio.run(retry), strict=True):
        assert record["duplicate"] == (request_id in landed_before)

    rows = ledger_rows(server.ledger)
    assert set(rows) == set(writes.sent)
    assert sum(cost for _, cost in rows.values()) == sum(map(nano, writes.sent.values()))
    print(f"\n{KILL_ROUNDS} SIGKILLs; {len(writes.acknowledged)} acknowledged records all kept "
          f"once; {len(in_flight)} in flight, {len(set(in_flight) & landed_before)} of them had "
          "landed; retries recorded the rest once")


async def start_count(url: str, headers: dict[str, str], paths: list[str]) -> tuple[
        httpx2.AsyncClient, httpx2.Response, AsyncIterator[str]]:
    """Send a count_files call asking for progress; return once the first progress arrives,
    with the streaming response still open and its remaining lines."""
    http = httpx2.AsyncClient(timeout=60)
    request = {
        "jsonrpc": "2.0", "id": 77, "method": "tools/call",
        "params": {"name": "count_files", "arguments": {"paths": paths},
                   "_meta": {"progressToken": "count"}},
    }
    response = await http.send(
        http.build_request("POST", url, json=request, headers={**headers, "Accept": ACCEPT}),
        stream=True,
    )
    lines = response.aiter_lines()
    async for line in lines:
        if line.startswith("data:") and "notifications/progress" in line:
            progress = json.loads(line[5:])["params"]
            assert progress["progress"] < progress["total"] == TREE_FILES
            return http, response, lines
    raise AssertionError("the count ended without a progress notification")


def test_kill_9_during_a_long_count_then_restart(server: Server, tree: Path) -> None:
    server.options = ("--root", str(tree))
    server.pure = True
    server.start()
    writes = Writes()

    async def count_and_write() -> None:
        async with http_session(server.url) as session:
            for number in range(20):
                arguments = record_arguments(f"before-{number}", number)
                writes.sent[arguments["request_id"]] = arguments
                record = (await session.call("record_usage", arguments))["structuredContent"]
                writes.acknowledged[arguments["request_id"]] = record["id"]
            http, _, lines = await start_count(server.url, session.headers, ["."])
            server.kill()  # in the middle of the count
            with pytest.raises(httpx2.HTTPError):
                async for _ in lines:
                    pass
            await http.aclose()

    anyio.run(count_and_write)
    rows = ledger_rows(server.ledger)
    assert {request_id: rows[request_id][0] for request_id in writes.acknowledged} == (
        writes.acknowledged
    )

    # The restarted server (same ledger, same roots) counts and records at once.
    server.pure = False
    server.start()

    async def after_restart() -> tuple[dict, dict, float]:  # type: ignore[type-arg]
        async with http_session(server.url) as session:
            started = time.monotonic()
            counted = await session.call("count_files", {"paths": ["d00"]})
            recorded = await session.call("record_usage", record_arguments("after", 1))
            return counted["structuredContent"], recorded["structuredContent"], (
                time.monotonic() - started)

    counted, recorded, seconds = anyio.run(after_restart)
    assert counted["files_counted"] == 100 and not recorded["duplicate"]
    # Well under a second when idle. A write held up by a lock the killed server left would
    # wait the ledger's busy timeout before failing.
    assert seconds < BUSY_TIMEOUT_S
    assert len(ledger_rows(server.ledger)) == len(writes.acknowledged) + 1


@pytest.mark.parametrize("stateless", [False, True], ids=["session", "stateless"])
def test_a_client_that_hangs_up_mid_count_leaves_no_work_running(
    server: Server, tree: Path, stateless: bool
) -> None:
    server.options = ("--root", str(tree), *(("--stateless",) if stateless else ()))
    server.pure = True
    server.start()
    thread_counts = []

    async def hang_up_three_times() -> tuple[float, list[float], float]:
        async with http_session(server.url) as session:
            await session.call("count_tokens", {"text": "warm"})
            started = time.monotonic()
            await session.call("count_files", {"paths": [SUBSET]})
            subset_s = time.monotonic() - started

            settled = []
            for _ in range(3):
                http, response, _ = await start_count(server.url, session.headers, ["."])
                await response.aclose()  # hang up after the first progress notification
                await http.aclose()
                settled.append(await anyio.to_thread.run_sync(wait_until_idle, server.pid))
                thread_counts.append(threads(server.pid))

            started = time.monotonic()  # one file the counts cut short never reached
            answer = await session.call("count_files", {"paths": ["d19/f099.txt"]})
            assert answer["structuredContent"]["files_counted"] == 1
            return subset_s, settled, time.monotonic() - started

    subset_s, settled, next_call_s = anyio.run(hang_up_three_times)
    assert max(settled) < MOST_SUBSETS_TO_SETTLE * subset_s, (
        f"idle {settled} s after each hang-up; {SUBSET}'s count took {subset_s:.2f} s")
    # One file: about a hundredth of the subset's count, unless it waits behind leftover work.
    assert next_call_s < subset_s, f"{next_call_s:.2f} s; {SUBSET}'s count took {subset_s:.2f} s"
    assert thread_counts[-1] <= thread_counts[0], f"threads grew: {thread_counts}"
    assert "Traceback" not in server.log.read_text()


def test_a_stdio_client_that_closes_its_pipe_mid_count_is_answered_then_the_server_stops(
    tmp_path: Path, tree: Path
) -> None:
    env = {**os.environ, "SHOAL_LEDGER": str(tmp_path / "ledger.sqlite3"),
           "SHOAL_PURE_PYTHON": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "shoal", "serve", "--root", str(tree)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
    )
    assert process.stdin is not None and process.stdout is not None
    stdin, stdout = process.stdin, process.stdout

    def send(*messages: dict) -> None:  # type: ignore[type-arg]
        stdin.write(b"".join(json.dumps(message).encode() + b"\n" for message in messages))
        stdin.flush()

    def read_until(wanted: bytes) -> None:
        while wanted not in (line := stdout.readline()):
            assert line, f"the server closed its output before {wanted!r}"

    def count(request_id: int, paths: list[str]) -> dict:  # type: ignore[type-arg]
        return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
                "params": {"name": "count_files", "arguments": {"paths": paths},
                           "_meta": {"progressToken": "count"}}}

    try:
        send({"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                         "clientInfo": {"name": "faults", "version": "1"}}},
             {"jsonrpc": "2.0", "method": "notifications/initialized"},
             {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
              "params": {"name": "count_tokens", "arguments": {"text": "warm"}}})
        read_until(b'"id":2')
        started = time.monotonic()
        send(count(3, [SUBSET]))
        read_until(b'"id":3')
        subset_s = time.monotonic() - started

        send(count(4, ["."]))
        read_until(b"notifications/progress")
        stdin.close()  # the host stops writing in the middle of the count
        read_until(b'"id":4')  # the count is finished and answered, as piped requests are
        answered = time.monotonic()
        process.wait(timeout=HANG_GUARD_S)
        stopped_s = time.monotonic() - answered
        assert stopped_s < MOST_SUBSETS_TO_SETTLE * subset_s, (
            f"exited {stopped_s:.2f} s after its last answer; {SUBSET}'s count took "
            f"{subset_s:.2f} s")
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        stdout.close()
