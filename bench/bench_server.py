"""Server speed: tool calls per second and latency over stdio and streamable HTTP.

Run ``python bench/bench_server.py`` for the table in the README, or
``pytest bench/bench_server.py`` for the same figures in pytest-benchmark's ``extra_info``.
``--port N`` serves the HTTP rows on port N of 127.0.0.1 instead of any free one (for a
firewall rule or a packet capture, say); a port already in use is refused before the run.

Each row starts a fresh ``shoal serve`` subprocess on a private ledger (HTTP on a free port of
127.0.0.1, or ``--port``) and sends the load test's mix of calls (tests/mcp_load.py): a quarter
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

import argparse
import os
import socket
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


def measure(transport: str, clients: int, port: int | None = None) -> LoadReport:
    """Run one row of the table against a fresh server (HTTP on ``port``, else a free one)."""
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
        process, url = start_http_server(Path(folder) / "server.log", env=env, port=port)
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


def port_number(text: str) -> int:
    """A TCP port from 1 to 65535, as typed after --port."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a port is a whole number, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1 to 65535, got {port}")
    return port


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` of 127.0.0.1 now.

    The bench waits for the port to accept connections, so a port some other program listens
    on would have it measure that program instead of shoal.
    """
    with socket.socket() as probe:
        # As the server does, so that connections of an earlier row in TIME_WAIT do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--port",
        type=port_number,
        help="serve the HTTP rows on this port of 127.0.0.1 (default: any free port)",
    )
    arguments = parser.parse_args(argv)
    if arguments.port is not None and not port_is_free(arguments.port):
        parser.error(f"--port {arguments.port}: 127.0.0.1:{arguments.port} is in use; "
                     "choose another port, or leave --port out for any free one")
    return arguments


def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    print("| transport | calls | errors | calls/s | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for transport, clients in ROWS:
        report = measure(transport, clients, port=arguments.port)
        print(row(transport, clients, report), flush=True)
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
