"""Ledger write speed: a usage log imported in one transaction against a loop of record_usage.

Run ``pytest bench/bench_ledger.py`` for pytest-benchmark's table, with
``extra_info["records_per_s"]``, or ``python bench/bench_ledger.py [COUNT [LOOP_COUNT]]`` for one
line of each and their ratio. Both sides write the same calls (three scopes, two models, each
with a request id and a time of its own) to a fresh SQLite ledger in a temporary folder, each
priced from the shipped catalog: ``import_usage`` all of them in one transaction, emptying the
write-ahead log once; ``record_usage`` one transaction a call, each synced and followed by
emptying the log. The loop is timed on fewer calls by default (``LOOP_RECORDS``), as it takes
tens of milliseconds a call; records/s compare all the same, and ``LOOP_COUNT`` times it on as
many as the import. Before timing, both sides are checked to leave the same rows.
"""

from __future__ import annotations

import dataclasses
import datetime
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shoal.ledger import Ledger

IMPORT_RECORDS = 10_000
LOOP_RECORDS = 500
DAY = datetime.datetime(2026, 12, 2, tzinfo=datetime.timezone.utc)


def usage_log(count: int) -> list[dict[str, Any]]:
    """``count`` distinct calls over three scopes and two models, spread over three days."""
    return [{"scope": ("team:a", "team:b", "team:c")[number % 3],
             "model": ("gpt-4o-mini", "claude-sonnet-4-5")[number % 2],
             "input_tokens": 1_000 + number, "output_tokens": 100 + number % 7,
             "request_id": f"call-{number:06}",
             "at": DAY + datetime.timedelta(seconds=17 * number % (3 * 86_400))}
            for number in range(count)]


def imported(folder: Path, records: list[dict[str, Any]]) -> None:
    with Ledger(folder / "imported.sqlite3") as ledger:
        ledger.import_usage(records)


def looped(folder: Path, records: list[dict[str, Any]]) -> None:
    with Ledger(folder / "looped.sqlite3") as ledger:
        for record in records:
            ledger.record_usage(**record)


def records_per_s(write: Callable[[Path, list[dict[str, Any]]], None], count: int) -> float:
    """Records a second of one run of ``write`` on ``count`` calls, into a fresh ledger."""
    records = usage_log(count)
    with tempfile.TemporaryDirectory(prefix="shoal-bench-ledger-") as folder:
        started = time.perf_counter()
        write(Path(folder), records)
        return count / (time.perf_counter() - started)


def _rows(file: Path) -> list[tuple[Any, ...]]:
    with Ledger(file) as ledger:
        return [dataclasses.astuple(dataclasses.replace(row, id=0)) for row in ledger.usage()]


def test_both_sides_leave_the_same_rows(tmp_path: Path) -> None:
    records = usage_log(50)
    imported(tmp_path, records)
    looped(tmp_path, records)
    assert _rows(tmp_path / "imported.sqlite3") == _rows(tmp_path / "looped.sqlite3")


@pytest.mark.parametrize(("side", "count"), [("import_usage", IMPORT_RECORDS),
                                             ("record_usage loop", LOOP_RECORDS)])
def test_records_per_second(benchmark: Any, tmp_path: Path, side: str, count: int) -> None:
    write = imported if side == "import_usage" else looped
    records = usage_log(count)
    runs = iter(range(1_000))

    def fresh_folder() -> tuple[tuple[Path, list[dict[str, Any]]], dict[str, Any]]:
        folder = tmp_path / str(next(runs))
        folder.mkdir()
        return (folder, records), {}

    benchmark.group = "ledger writes"
    benchmark.pedantic(write, setup=fresh_folder, rounds=3)
    benchmark.extra_info["records"] = count
    benchmark.extra_info["records_per_s"] = round(count / benchmark.stats.stats.mean)


def main(argv: list[str]) -> int:
    count = int(argv[0]) if argv else IMPORT_RECORDS
    loop_count = int(argv[1]) if len(argv) > 1 else min(count, LOOP_RECORDS)
    by_import = records_per_s(imported, count)
    by_loop = records_per_s(looped, loop_count)
    print(f"import_usage: {by_import:,.0f} records/s ({count:,} records)")
    print(f"record_usage loop: {by_loop:,.0f} records/s ({loop_count:,} records)")
    print(f"ratio: {by_import / by_loop:,.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
