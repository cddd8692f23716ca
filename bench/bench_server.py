"""Server speed: tool calls per second and latency over stdio and streamable HTTP.

Run ``python bench/bench_server.py`` for the table in the README, or
``pytest bench/bench_server.py`` for the same figures in pytest-benchmark's ``extra_info``.

Each row starts a fresh ``shoal serve`` subprocess on a private ledger (HTTP on a free port of
127.0.0.1) and sends the load test's mix of calls (tests/mcp_load.py): a quarter
``record_usage`` with unique request ids (each a SQLite commit with a full sync), the rest
``count_tokens``, ``estimate_cost``, ``check_hardware_fit``, ``compare_costs`` and
``budget_status``. Rows:

* ``stdio, 1 in flight``: one session, one call at a time (what a desktop host does).
* ``stdio, 50 in flight``: one session, 50 calls in flight (hosts may send requests in parallel).
* ``http, 1 client``: one session, one call at a time.
* ``http, 50 clients``: 50 sessions on 50 connections, each one call at a time.

Latency is from sending a request to reading its whole answer, in the client; calls/s is calls
over the wall time of the run. The client is a light JSON-RPC client (no schema validation), so
the figures measure the server.
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from mcp_load import (  # found through the path set just above
    LoadReport,
    http_session,
    run_clients,
    start_http_server,
    stdio_session,
    stop_process,
    workload,
)

CALLS_ONE_CLIENT = 500
CLIENTS = 50
CALLS_PER_CLIENT = 40
WARM_UP_CALLS = 20
DEADLINE_S = 600.0

ROWS = (("stdio", 1), ("stdio", 50), ("http", 1), ("http", 50))


def measure(transport: str, clients: int) -> LoadReport:
    """Run one row of the table against a fresh server."""
    per_client = CALLS_ONE_CLIENT if clients == 1 else CALLS_PER_CLIENT
    run = uuid.uuid4().hex[:8]
    scope = f"bench:{run}"

    def calls_of(client: int) -> list[tuple[str, dict[str, Any]]]:
        return workload(run, client, per_client, scope)

    def warm_up(client: int) -> list[tuple[str, dict[str, Any]]]:
        return workload(f"warm-{run}", client, WARM_UP_CALLS, scope)

    with tempfile.TemporaryDirectory(prefix="shoal-bench-server-") as folder:
        env = {**os.environ, "SHOAL_LEDGER": str(Path(folder) / "ledger.sqlite3")}
        if transport == "stdio":
            return anyio.run(_stdio, env, calls_of, warm_up, clients)
        process, url = start_http_server(Path(folder) / "server.log", env=env)
        try:
            anyio.run(run_clients, lambda: http_session(url), warm_up, 1, DEADLINE_S)
            return anyio.run(run_clients, lambda: http_session(url), calls_of, clients,
                             DEADLINE_S)
        finally:
            stop_process(process)


async def _stdio(
    env: dict[str, str],
    calls_of: Callable[[int], list[tuple[str, dict[str, Any]]]],
    warm_up: Callable[[int], list[tuple[str, dict[str, Any]]]],
    clients: int,
) -> LoadReport:
    async with stdio_session(env) as session:
        await run_clients(None, warm_up, 1, DEADLINE_S, shared_session=session)  # type: ignore[arg-type]
        return await run_clients(None, calls_of, clients, DEADLINE_S,  # type: ignore[arg-type]
                                 shared_session=session)


def row(transport: str, clients: int, report: LoadReport) -> str:
    shape = f"{clients} in flight" if transport == "stdio" else (
        f"{clients} client" + ("s" if clients > 1 else ""))
    return (f"| {transport}, {shape} | {report.calls:,} | {len(report.errors)} | "
            f"{report.calls_per_s:,.0f} | {report.percentile_ms(0.5):.1f} | "
            f"{report.percentile_ms(0.99):.1f} |")


def main() -> None:
    print("| transport | calls | errors | calls/s | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for transport, clients in ROWS:
        print(row(transport, clients, measure(transport, clients)), flush=True)
    print(f"\n{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at the end")


# ---- pytest-benchmark ----

try:
    import pytest
except ImportError:  # pragma: no cover - the script needs only anyio and httpx2
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.mark.parametrize(("transport", "clients"), ROWS)
    def test_server_calls(benchmark: Any, transport: str, clients: int) -> None:
        report = benchmark.pedantic(measure, args=(transport, clients), rounds=1, iterations=1)
        assert report.errors == []
        benchmark.extra_info.update(
            calls=report.calls,
            calls_per_s=round(report.calls_per_s, 1),
            p50_ms=round(report.percentile_ms(0.5), 2),
            p99_ms=round(report.percentile_ms(0.99), 2),
        )


if __name__ == "__main__":
    main()
