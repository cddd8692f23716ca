"""Load: `shoal serve --http` as a real process on 127.0.0.1 answers 2,000 tool calls from 50
concurrent clients without an error, and the ledger totals are exact afterwards.

A quarter of the calls record spend with unique request ids; every client also records one
request id they all share, which must land once. The rest are read-only tools (token counts,
prices, hardware fit, budget status). The run is bounded in count (50 x 40 calls); its time is
bounded only by a hang guard, LOAD_DEADLINE_S. Figures for the README come from
bench/bench_server.py, not from here.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from mcp_load import (
    RECORD_MODEL,
    http_session,
    run_clients,
    shared_record,
    start_http_server,
    stop_process,
    workload,
)

from shoal.cost import estimate_cost
from shoal.ledger import NANO_PER_USD, Ledger

CLIENTS = 50
CALLS_PER_CLIENT = 40
# A hang guard: the run takes about 15 s on an idle two-core machine, 150 s on one ten times
# slower.
LOAD_DEADLINE_S = 600.0


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """A server on a private ledger; yields the URL, the ledger file and the server's log."""
    ledger = tmp_path / "ledger.sqlite3"
    log = tmp_path / "server.log"
    env = {**os.environ, "SHOAL_LEDGER": str(ledger)}
    process, url = start_http_server(log, env=env)
    try:
        yield url, ledger, log
    finally:
        stop_process(process)


def _nano(call: dict) -> int:  # type: ignore[type-arg]
    estimate = estimate_cost(RECORD_MODEL, input_tokens=call["input_tokens"],
                             output_tokens=call["output_tokens"])
    return round(estimate.total_usd * NANO_PER_USD)


def test_fifty_clients_two_thousand_calls_no_error_exact_ledger(
    served: tuple[str, Path, Path],
) -> None:
    url, ledger_path, log = served
    run = uuid.uuid4().hex[:8]
    scope = f"load:{run}"
    calls = {client: workload(run, client, CALLS_PER_CLIENT, scope) for client in range(CLIENTS)}

    report = anyio.run(
        run_clients, lambda: http_session(url), calls.__getitem__, CLIENTS, LOAD_DEADLINE_S
    )

    assert report.errors == []
    assert report.calls == CLIENTS * CALLS_PER_CLIENT >= 2_000
    print(f"\n{report.calls} calls from {CLIENTS} clients in {report.seconds:.1f} s: "
          f"{report.calls_per_s:.0f} calls/s, p50 {report.percentile_ms(0.5):.0f} ms, "
          f"p99 {report.percentile_ms(0.99):.0f} ms")

    # Each unique request id recorded once; the shared one once for all fifty clients.
    sent = [args for mix in calls.values() for name, args in mix if name == "record_usage"]
    unique = {args["request_id"]: args for args in sent}
    assert len(unique) == len(sent) - CLIENTS + 1
    firsts = [record for record in report.records if not record["duplicate"]]
    assert Counter(record["request_id"] for record in firsts) == Counter(list(unique))
    shared = [r for r in report.records if r["request_id"] == shared_record(run, scope)[
        "request_id"]]
    assert len(shared) == CLIENTS and len({record["id"] for record in shared}) == 1

    # The ledger holds exactly those rows, and its totals are the exact sum of their prices.
    expected_nano = sum(_nano(args) for args in unique.values())
    with sqlite3.connect(f"file:{ledger_path}?mode=ro", uri=True) as database:
        rows, total, distinct = database.execute(
            "SELECT count(*), sum(cost_nanousd), count(DISTINCT request_id) FROM shoal_usage "
            "WHERE scope = ?", (scope,)
        ).fetchone()
        assert database.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert rows == distinct == len(unique)
    assert total == expected_nano
    assert sum(round(r["cost_usd"] * NANO_PER_USD) for r in firsts) == expected_nano

    with Ledger(ledger_path) as ledger:
        status = ledger.budget_status(scope)
    assert status.records == len(unique)
    assert round(status.lifetime_spent_usd * NANO_PER_USD) == expected_nano
    assert "Traceback" not in log.read_text()
