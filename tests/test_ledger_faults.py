"""A ledger that fails after it opens: damaged pages, a newer shoal's schema, a file this user
may only read, another program holding it, a dropped PostgreSQL connection, totals past 64 bits.
Each is one error naming the ledger and the problem, on every surface, or is read as it can be."""

from __future__ import annotations

import contextlib
import datetime
import io
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import ledger_support
import pytest
from mcp import Client
from permission_support import as_another_user, owned_by_that_user

import shoal.ledger
from shoal.cli import main
from shoal.ledger import (
    LOG_WATCH_INTERVAL_S,
    MAX_LIMIT_USD,
    MAX_NANOUSD,
    REPLACED_ATTEMPTS,
    SCHEMA_VERSION,
    DamagedLedgerError,
    Ledger,
    LedgerError,
    budget_status,
    close_ledgers,
    open_ledger,
    record_usage,
    set_limit,
)
from shoal.report import savings_report
from shoal.server import build_server
from shoal.server_policy import server_file_problem

UTC = datetime.timezone.utc


@pytest.fixture(autouse=True)
def restored_ledger_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--ledger`` sets ``SHOAL_LEDGER`` for the process; put it back after each test."""
    monkeypatch.setenv("SHOAL_LEDGER", os.environ.get("SHOAL_LEDGER", ""))


def run_cli(arguments: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(arguments)
    return status, out.getvalue(), err.getvalue()


def files_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


# ---- damaged pages ------------------------------------------------------------------------------


def damaged_ledger(path: Path) -> Path:
    """A ledger of 4,096 records whose pages 30 to 32 hold noise, as a failing disk leaves them;
    its first page, which opening reads, is intact."""
    with Ledger(path) as ledger:
        ledger.record_usage("s", "gpt-4o", input_tokens=1_000, output_tokens=100)
    with sqlite3.connect(path) as connection:
        for _ in range(12):
            connection.execute(
                "INSERT INTO shoal_usage (scope, recorded_at, model, input_tokens, "
                "output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, "
                "cost_nanousd, line_items, catalog_date) SELECT scope, recorded_at - id, model, "
                "input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, "
                "reasoning_tokens, cost_nanousd, line_items, catalog_date FROM shoal_usage")
    connection.close()
    noise = random.Random(30).randbytes(3 * 4096)
    with path.open("r+b") as file:
        file.seek(30 * 4096)
        file.write(noise)
    return path


def test_a_damaged_ledger_is_one_error_naming_it_in_python_and_on_the_cli(
    tmp_path: Path,
) -> None:
    path = damaged_ledger(tmp_path / "mid.sqlite3")
    damaged = f"the ledger {path} is damaged (database disk image is malformed)"

    ledger = Ledger(path)
    for read in (lambda: ledger.budget_status("s"), lambda: ledger.usage(),
                 lambda: ledger.record_usage("s", "gpt-4o", input_tokens=10)):
        with pytest.raises(LedgerError, match=r"is damaged") as raised:
            read()
        assert str(raised.value).startswith(damaged)
    ledger.close()

    for command, named in (
        (["ledger", "status", "--scope", "s"], "shoal ledger status"),
        (["report"], "shoal report"),
        (["ledger", "record", "--scope", "s", "--model", "gpt-4o", "--input", "5"],
         "shoal ledger record"),
    ):
        status, out, err = run_cli([*command, "--ledger", str(path)])
        assert status == 2 and out == ""
        assert err.startswith(f"{named}: error: {damaged}: restore it from a backup")
        assert err.count("\n") == 1


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_damaged_ledger_is_a_named_tool_error_over_mcp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, anyio_backend: str
) -> None:
    path = damaged_ledger(tmp_path / "mid.sqlite3")
    monkeypatch.setenv("SHOAL_LEDGER", str(path))
    calls = {
        "budget_status": {"scope": "s"},
        "savings_report": {},
        "record_usage": {"scope": "s", "model": "gpt-4o", "request_id": "r-1",
                         "input_tokens": 10},
    }

    async with Client(build_server()) as client:
        answers = {tool: await client.call_tool(tool, arguments)
                   for tool, arguments in calls.items()}

    for tool, answer in answers.items():
        assert answer.is_error, tool
        text = answer.content[0].text
        assert f"the ledger {path} is damaged (database disk image is malformed)" in text, text
        assert "Error executing tool" not in text


# ---- a newer shoal's ledger ---------------------------------------------------------------------


def test_a_ledger_of_a_newer_schema_is_refused_naming_both_versions(location: str) -> None:
    with Ledger(location) as ledger:
        ledger.record_usage("s", "gpt-4o", input_tokens=1_000)
        with ledger._store.write("s") as cursor:
            cursor.execute("UPDATE shoal_meta SET value = '99' WHERE key = 'schema_version'")

    with pytest.raises(LedgerError, match=rf"was written by a newer shoal \(schema version 99; "
                                          rf"this shoal knows versions up to {SCHEMA_VERSION}\)"):
        Ledger(location)


def test_a_newer_ledger_with_a_column_this_shoal_does_not_fill_is_refused_untouched(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.sqlite3"
    with Ledger(path) as ledger:
        ledger.record_usage("s", "gpt-4o", input_tokens=1_000)
    with sqlite3.connect(path) as connection:
        connection.execute("ALTER TABLE shoal_usage ADD COLUMN region TEXT NOT NULL DEFAULT ''")
        connection.execute("UPDATE shoal_meta SET value = '3' WHERE key = 'schema_version'")
    connection.close()

    status, _, err = run_cli(["ledger", "record", "--scope", "s", "--model", "gpt-4o",
                              "--input", "5", "--ledger", str(path)])

    assert status == 2
    assert err == (f"shoal ledger record: error: the ledger {path} was written by a newer shoal "
                   f"(schema version 3; this shoal knows versions up to {SCHEMA_VERSION}): "
                   "upgrade shoal to use it\n")
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT COUNT(*) FROM shoal_usage").fetchone() == (1,)
        assert connection.execute("SELECT value FROM shoal_meta").fetchone() == ("3",)
    connection.close()


# ---- a ledger this user may only read -----------------------------------------------------------


def test_a_read_only_ledger_is_read_and_a_write_names_why_it_cannot_be(
    shared_folder: Path,
) -> None:
    path = shared_folder / "ro.sqlite3"
    with Ledger(path) as ledger:
        ledger.record_usage("s", "gpt-4o", input_tokens=1_000)
    path.chmod(0o444)
    record = ["ledger", "record", "--scope", "s", "--model", "gpt-4o", "--input", "5",
              "--ledger", str(path)]

    status, report, refused = as_another_user(lambda: [
        run_cli(["ledger", "status", "--scope", "s", "--ledger", str(path)]),
        run_cli(["report", "--ledger", str(path)]),
        run_cli(record),
    ])

    assert status[0] == 0 and status[1].startswith("s: spent $0.0025; 1 call recorded")
    assert report[0] == 0 and report[1].startswith("all scopes: $0.0025 spent on 1 call")
    assert refused[0] == 2 and refused[2] == (
        f"shoal ledger record: error: cannot write the ledger {path}: the file is read-only to "
        "this user (mode 0444); make it writable to record calls or set limits\n")
    # No -wal or -shm left behind, read-only, to break the writers that come next.
    assert files_in(shared_folder) == ["ro.sqlite3", "ro.sqlite3.writers"]
    path.chmod(0o644)
    assert run_cli(record)[0] == 0


def test_an_unreadable_ledger_is_named_as_unreadable_on_a_read_and_a_write(
    shared_folder: Path,
) -> None:
    path = shared_folder / "closed.sqlite3"
    with Ledger(path) as ledger:
        ledger.record_usage("s", "gpt-4o", input_tokens=1_000)
    path.chmod(0o000)

    status, record = as_another_user(lambda: [
        run_cli(["ledger", "status", "--scope", "s", "--ledger", str(path)]),
        run_cli(["ledger", "record", "--scope", "s", "--model", "gpt-4o", "--input", "5",
                 "--ledger", str(path)]),
    ])

    cause = (f"error: cannot read the ledger {path}: the file is not readable by this user "
             "(mode 0000); give this user read access to see its spend and limits, and write "
             "access too to record calls or set limits\n")
    assert status[0] == 2 and status[2] == f"shoal ledger status: {cause}"
    assert record[0] == 2 and record[2] == f"shoal ledger record: {cause}"


def test_a_read_only_ledger_is_read_through_the_log_of_a_writer_that_has_it_open(
    shared_folder: Path,
) -> None:
    path = shared_folder / "ledger.sqlite3"
    writer = Ledger(path)
    writer.record_usage("s", "gpt-4o", input_tokens=1_000)
    # A program other than shoal leaves its write in the log while shoal has the file open.
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("INSERT INTO shoal_usage (scope, recorded_at, model, input_tokens, "
                  "output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, "
                  "cost_nanousd, line_items, catalog_date) SELECT scope, recorded_at, model, "
                  "input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, "
                  "reasoning_tokens, cost_nanousd, line_items, catalog_date FROM shoal_usage")
    other.close()
    path.chmod(0o444)
    assert (shared_folder / "ledger.sqlite3-wal").stat().st_size > 0

    try:
        records = as_another_user(
            lambda: Ledger(path, must_exist=True).budget_status("s").records)
    finally:
        writer.close()
    assert records == 2


def test_a_ledger_opened_read_only_is_written_once_the_file_is_writable(
    shared_folder: Path,
) -> None:
    path = shared_folder / "ledger.sqlite3"
    with Ledger(path) as ledger:
        ledger.record_usage("s", "gpt-4o", input_tokens=1_000)
    owned_by_that_user(path, shared_folder / "ledger.sqlite3.writers")

    def read_then_write() -> list[object]:
        path.chmod(0o444)
        opened_read_only = open_ledger(path).read_only
        path.chmod(0o644)
        open_ledger(path).record_usage("s", "gpt-4o", input_tokens=1_000)
        return [opened_read_only, open_ledger(path).budget_status("s").records]

    assert as_another_user(read_then_write) == [True, 2]


def test_a_shared_memory_file_left_read_only_is_named_as_the_cause(shared_folder: Path) -> None:
    path = shared_folder / "ledger.sqlite3"
    with Ledger(path) as ledger:
        ledger.record_usage("s", "gpt-4o", input_tokens=1_000)
    # What a reader without write access left beside the file before this shoal read such
    # ledgers without them: an empty log and a shared-memory index, read-only.
    log, index = shared_folder / "ledger.sqlite3-wal", shared_folder / "ledger.sqlite3-shm"
    log.write_bytes(b"")
    index.write_bytes(bytes(32768))
    owned_by_that_user(path, log, index, shared_folder / "ledger.sqlite3.writers")
    log.chmod(0o444)
    index.chmod(0o444)

    # A status needs no write, so SQLite reads through the read-only index; a record is refused.
    read, written = as_another_user(lambda: (
        run_cli(["ledger", "status", "--scope", "s", "--ledger", str(path)]),
        run_cli(["ledger", "record", "--scope", "s", "--model", "gpt-4o", "--input", "5",
                 "--ledger", str(path)])))

    assert read[0] == 0 and "1 call" in read[1]
    assert written[0] == 2
    assert written[2] == (f"shoal ledger record: error: cannot use the ledger {path}: SQLite's "
                          "ledger.sqlite3-shm beside it is read-only to this user (mode 0444); "
                          "make it writable, or delete it while no process has the ledger "
                          "open\n")


# ---- rows edited into what shoal never writes ---------------------------------------------------


def edited_ledger(path: Path, edit: str) -> Path:
    """A ledger of three records in scope 's' (ids 1 to 3, request ids r-1 to r-3) under a
    monthly limit, then changed by one SQL statement, as a user with the sqlite3 shell would."""
    with Ledger(path) as ledger:
        ledger.set_limit("s", 100.0, period="month")
        for number in (1, 2, 3):
            ledger.record_usage("s", "gpt-4o", input_tokens=1_000, request_id=f"r-{number}")
    connection = sqlite3.connect(path)
    with connection:
        connection.execute(edit)
    connection.close()
    return path


AFTER = ". shoal never writes that: correct the row, or restore the ledger from a backup"
# An edit of row 1, what is said of it, and whether a status (which sums times and costs only)
# reads the field.
ROW_EDITS = [
    ("recorded_at = 'nan'", "recorded_at is 'nan', not a time", True),
    ("recorded_at = 1e300", "recorded_at is 1e+300, not a time from 1970-01-01 to before "
                            "9999-01-01", True),
    ("recorded_at = -5", "recorded_at is -5.0, not a time from 1970-01-01 to before 9999-01-01",
     True),
    ("cost_nanousd = 'abc'", "cost_nanousd is 'abc', not a whole number", True),
    ("cost_nanousd = 2.5", "cost_nanousd is 2.5, not a whole number", True),
    ("cost_nanousd = -5000000000", "cost_nanousd is -5,000,000,000, not from 0 to "
                                   "4,611,686,018,420,000,000 nano-dollars", True),
    ("input_tokens = -100", "input_tokens is -100, not from 0 to 100,000,000 tokens", False),
    ("output_tokens = 'many'", "output_tokens is 'many', not a whole number", False),
    ("cached_input_tokens = 5000", "cached_input_tokens (5,000) and cache_write_tokens (0) add "
                                   "up to more than input_tokens (1,000), of which they are "
                                   "parts", False),
    ("line_items = 'garbage'", "line_items is 'garbage', not JSON", False),
    ("line_items = '{}'", "line_items is '{}', not a list of priced lines", False),
    ("line_items = '[{\"kind\": 1}]'", 'line_items holds {"kind": 1}, not a priced line (kind, '
                                      "tokens, usd_per_mtok, usd)", False),
    ("model = ''", "model is '', which is blank", False),
    ("decision_id = x'0102'", "decision_id is a blob of 2 bytes, not text", False),
    ("decision_id = 'not-a-decision'", "decision_id is 'not-a-decision', not a route_task "
                                       "decision id ('d-' and 24 hex digits) or NULL", False),
    ("catalog_date = 'yesterday'", "catalog_date is 'yesterday', not a date", False),
    ("catalog_date = '2025-02-30'", "catalog_date is '2025-02-30', not a date", False),
    ("prices_as_of = 'soon'", "prices_as_of is 'soon', not a date", False),
]


@pytest.mark.parametrize(("edit", "problem", "summed"), ROW_EDITS)
def test_an_edited_usage_row_is_named_by_every_read_that_uses_it(
    tmp_path: Path, edit: str, problem: str, summed: bool
) -> None:
    path = edited_ledger(tmp_path / "live.sqlite3", f"UPDATE shoal_usage SET {edit} WHERE id = 1")
    named = f"ledger {path}: shoal_usage row 1: {problem}{AFTER}"

    with Ledger(path) as ledger:
        with pytest.raises(DamagedLedgerError) as raised:
            ledger.usage()
        assert str(raised.value) == named
        assert (raised.value.ledger, raised.value.table, raised.value.row) == (
            str(path), "shoal_usage", "row 1")
        assert raised.value.field == problem.split()[0]

    report = run_cli(["report", "--ledger", str(path)])
    status = run_cli(["ledger", "status", "--scope", "s", "--ledger", str(path)])
    record = run_cli(["ledger", "record", "--scope", "s", "--model", "gpt-4o", "--input", "5",
                      "--ledger", str(path)])
    assert report == (2, "", f"shoal report: error: {named}\n")
    if summed:
        assert status == (2, "", f"shoal ledger status: error: {named}\n")
        assert record == (2, "", f"shoal ledger record: error: {named}\n")
    else:
        # A status and a limit check read only rows' times and costs, which are whole.
        assert status[0] == 0 and "3 calls recorded" in status[1]
        assert record[0] == 0


def test_a_retried_record_names_the_edited_row_by_its_column_not_an_option(
    tmp_path: Path,
) -> None:
    path = edited_ledger(tmp_path / "live.sqlite3",
                         "UPDATE shoal_usage SET input_tokens = -100 WHERE id = 1")

    status, out, err = run_cli(["ledger", "record", "--scope", "s", "--model", "gpt-4o",
                                "--input", "1000", "--request-id", "r-1", "--ledger", str(path)])

    assert (status, out) == (2, "")
    assert err == (f"shoal ledger record: error: ledger {path}: shoal_usage row 1: input_tokens "
                   f"is -100, not from 0 to 100,000,000 tokens{AFTER}\n")


def test_a_status_counts_every_call_or_names_the_row_it_cannot(tmp_path: Path) -> None:
    path = edited_ledger(tmp_path / "live.sqlite3",
                         "UPDATE shoal_usage SET recorded_at = 'nan' WHERE id = 2")

    with Ledger(path) as ledger, pytest.raises(DamagedLedgerError) as raised:
        ledger.budget_status("s")

    # Not "2 calls": a row whose time is unreadable cannot be placed in or out of any period.
    assert str(raised.value).startswith(f"ledger {path}: shoal_usage row 2: recorded_at is 'nan'")


LIMIT_EDITS = [
    ("period = 'fortnight'", "period is 'fortnight', not hour, day, week, month or NULL (the "
                             "scope's whole life)"),
    ("hard = 'yes'", "hard is 'yes', not 0 (soft) or 1 (hard)"),
    ("limit_nanousd = -1", "limit_nanousd is -1, not from 0 to 4,611,686,018,420,000,000 "
                           "nano-dollars"),
    ("set_at = 'today'", "set_at is 'today', not a time"),
]


@pytest.mark.parametrize(("edit", "problem"), LIMIT_EDITS)
def test_an_edited_limit_row_is_named_and_setting_the_limit_again_replaces_it(
    tmp_path: Path, edit: str, problem: str
) -> None:
    path = edited_ledger(tmp_path / "live.sqlite3", f"UPDATE shoal_limits SET {edit}")
    named = f"ledger {path}: shoal_limits row of scope 's': {problem}{AFTER}"

    status = run_cli(["ledger", "status", "--scope", "s", "--ledger", str(path)])
    record = run_cli(["ledger", "record", "--scope", "s", "--model", "gpt-4o", "--input", "5",
                      "--ledger", str(path)])
    limit = run_cli(["ledger", "limit", "--scope", "s", "--usd", "50", "--ledger", str(path)])
    mended = run_cli(["ledger", "status", "--scope", "s", "--ledger", str(path)])

    # No "--period must be one of": the user typed no period.
    assert status == (2, "", f"shoal ledger status: error: {named}\n")
    assert record == (2, "", f"shoal ledger record: error: {named}\n")
    assert limit[0] == 0, limit
    assert mended[0] == 0 and "hard limit $50.00" in mended[1]


@pytest.mark.anyio
async def test_an_edited_row_is_a_named_tool_error_over_mcp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = edited_ledger(tmp_path / "live.sqlite3",
                         "UPDATE shoal_usage SET recorded_at = 'nan' WHERE id = 1")
    monkeypatch.setenv("SHOAL_LEDGER", str(path))

    async with Client(build_server()) as client:
        status = await client.call_tool("budget_status", {"scope": "s"})
        report = await client.call_tool("savings_report", {})
        other = await client.call_tool("budget_status", {"scope": "elsewhere"})

    for tool, answer in (("budget_status", status), ("savings_report", report)):
        assert answer.is_error
        # The server's own file is at fault, not the call: said as such, the row named.
        assert answer.content[0].text == f"{tool}: " + server_file_problem(
            "ledger", f"ledger {path}: shoal_usage row 1: recorded_at is 'nan', not a time{AFTER}")
    # Another scope's status reads none of that scope's rows.
    assert not other.is_error


# ---- another process holding the ledger ---------------------------------------------------------


def holder(path: Path, code: str) -> subprocess.Popen[str]:
    """A process that runs ``code`` against ``path`` and holds on until stdin closes."""
    script = (f"import fcntl, sqlite3, sys\npath = {str(path)!r}\n{code}\n"
              "print('holding', flush=True)\nsys.stdin.read()\n")
    process = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline() == "holding\n"
    return process


def record_with_a_short_wait(path: Path) -> subprocess.CompletedProcess[str]:
    """`shoal ledger record` in a process whose busy timeout is one second, not 30."""
    script = ("import sys\nimport shoal.ledger\nshoal.ledger.BUSY_TIMEOUT_S = 1.0\n"
              "from shoal.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    return subprocess.run(
        [sys.executable, "-c", script, "ledger", "record", "--scope", "s", "--model", "gpt-4o",
         "--input", "5", "--ledger", str(path)],
        capture_output=True, text=True, timeout=60,
    )


@pytest.mark.skipif(sys.platform == "win32", reason="the writer queue is a POSIX flock")
def test_a_writer_gives_up_on_a_queue_another_process_holds(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    Ledger(path).close()
    process = holder(path, "lock = open(path + '.writers', 'a+b')\n"
                           "fcntl.flock(lock.fileno(), fcntl.LOCK_EX)")
    try:
        done = record_with_a_short_wait(path)
    finally:
        process.communicate("")

    assert done.returncode == 2
    assert done.stderr.startswith(f"shoal ledger record: error: the ledger {path} is busy: "
                                  "another process has held it for 1 s")
    with Ledger(path) as ledger:
        assert ledger.budget_status("s").records == 0


def test_a_writer_gives_up_on_a_ledger_another_program_has_locked(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    Ledger(path).close()
    process = holder(path, "connection = sqlite3.connect(path, isolation_level=None)\n"
                           "connection.execute('BEGIN IMMEDIATE')")
    try:
        done = record_with_a_short_wait(path)
    finally:
        process.communicate("")

    assert done.returncode == 2
    assert done.stderr == (
        f"shoal ledger record: error: the ledger {path} is busy: another process has held it "
        "for 1 s (database is locked); nothing was changed, so try again once it is done\n")


def test_a_reader_is_not_held_up_by_a_writer_of_a_current_ledger(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with Ledger(path) as ledger:
        ledger.record_usage("s", "gpt-4o", input_tokens=1_000)
    process = holder(path, "connection = sqlite3.connect(path, isolation_level=None)\n"
                           "connection.execute('BEGIN IMMEDIATE')\n"
                           "connection.execute(\"DELETE FROM shoal_usage\")")
    script = ("import sys\nimport shoal.ledger\nshoal.ledger.BUSY_TIMEOUT_S = 5.0\n"
              "from shoal.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, "ledger", "status", "--scope", "s", "--ledger",
             str(path)], capture_output=True, text=True, timeout=60)
    finally:
        process.communicate("")

    # The writer has not committed: the reader sees the record it is deleting.
    assert (done.returncode, done.stderr) == (0, "")
    assert "1 call" in done.stdout


# ---- a ledger file removed or replaced while open -----------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def removed(path: Path) -> None:
    for name in (path.name, path.name + "-wal", path.name + "-shm"):
        (path.parent / name).unlink(missing_ok=True)


@pytest.mark.anyio
async def test_a_server_whose_ledger_file_was_removed_records_in_a_new_one_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ledger.sqlite3"
    monkeypatch.setenv("SHOAL_LEDGER", str(path))
    call = {"scope": "s", "model": "gpt-4o", "input_tokens": 1_000}  # $0.0025
    async with Client(build_server()) as client:
        await client.call_tool("set_budget_limit", {"scope": "s", "usd": 0.004})
        first = await client.call_tool("record_usage", {**call, "request_id": "r-1"})
        assert not first.is_error
        removed(path)
        second = await client.call_tool("record_usage", {**call, "request_id": "r-2"})
        status = await client.call_tool("budget_status", {"scope": "s"})

    # The new ledger holds no limit: a restarted server would record the call too, and the
    # note says why the earlier limit no longer applies.
    assert not second.is_error, second.content[0].text
    assert second.structured_content["notes"][0] == (
        f"the ledger file {path} was removed after this process opened it, so the file its "
        "path names now is used: limits and records kept only in the earlier file are not in it")
    assert status.structured_content["records"] == 1
    assert status.structured_content["spent_usd"] == second.structured_content["cost_usd"]


@pytest.mark.anyio
async def test_a_server_whose_ledger_path_became_a_folder_says_so_on_every_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ledger.sqlite3"
    monkeypatch.setenv("SHOAL_LEDGER", str(path))
    call = {"scope": "s", "model": "gpt-4o", "input_tokens": 1_000}
    async with Client(build_server()) as client:
        await client.call_tool("record_usage", {**call, "request_id": "r-1"})
        removed(path)
        path.mkdir()
        record = await client.call_tool("record_usage", {**call, "request_id": "r-2"})
        status = await client.call_tool("budget_status", {"scope": "s"})

    for answer in (record, status):
        assert answer.is_error
        assert answer.content[0].text.endswith(
            f"cannot open the ledger {path}: it is a folder; give a SQLite file's path")


def test_a_ledger_whose_file_was_removed_or_replaced_refuses_to_write_or_read(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.sqlite3"
    other = tmp_path / "other.sqlite3"
    Ledger(other).close()
    with Ledger(path) as ledger:
        ledger.record_usage("s", "gpt-4o", input_tokens=1_000)
        os.replace(other, path)
        with pytest.raises(LedgerError) as refused:
            ledger.record_usage("s", "gpt-4o", input_tokens=1_000)
        assert str(refused.value) == (
            f"the ledger file {path} was replaced by another file after this process opened "
            "it; nothing was written. Open the ledger again to use the file its path names now")
        removed(path)
        with pytest.raises(LedgerError, match="was removed after this process opened it; "
                                              "nothing was read"):
            ledger.budget_status("s")


def scopes_in(path: Path) -> list[tuple[str, int]]:
    """The records per scope in the ledger file at ``path``, as another program reads it."""
    connection = sqlite3.connect(path)
    try:
        return connection.execute(
            "SELECT scope, COUNT(*) FROM shoal_usage GROUP BY scope ORDER BY scope").fetchall()
    finally:
        connection.close()


def moved_onto(path: Path, source: Path) -> None:
    """Copy ``source`` beside ``path`` and move the copy onto it, as a restore script does."""
    staged = path.with_name(path.name + ".tmp")
    shutil.copyfile(source, staged)
    os.replace(staged, path)


@pytest.mark.anyio
async def test_a_backup_moved_onto_a_servers_ledger_keeps_its_records_and_takes_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backup = tmp_path / "backup.sqlite3"
    with Ledger(backup) as ledger:
        for number in range(16):
            ledger.record_usage("project:docs", "gpt-4o", input_tokens=1_000,
                                request_id=f"b-{number}")
    path = tmp_path / "live.sqlite3"
    monkeypatch.setenv("SHOAL_LEDGER", str(path))
    call = {"scope": "live", "model": "gpt-4o", "input_tokens": 1_000}

    async with Client(build_server()) as client:
        for number in range(5):
            await client.call_tool("record_usage", {**call, "request_id": f"r-{number}"})
        moved_onto(path, backup)
        # The server still has the earlier file open: what it wrote there stays there.
        seen_right_after = scopes_in(path)
        docs = await client.call_tool("budget_status", {"scope": "project:docs"})
        record = await client.call_tool("record_usage", {**call, "request_id": "r-5"})
        report = await client.call_tool("savings_report", {})

    assert seen_right_after == [("project:docs", 16)]
    assert docs.structured_content["records"] == 16
    assert "was replaced by another file after this process opened it" in \
        docs.structured_content["notes"][0]
    assert not record.is_error, record.content[0].text
    assert record.structured_content["spent_usd"] == record.structured_content["cost_usd"]
    assert report.structured_content["records"] == 17
    assert scopes_in(path) == [("live", 1), ("project:docs", 16)]


def test_another_programs_database_moved_onto_the_ledger_is_refused_untouched(
    tmp_path: Path,
) -> None:
    other = tmp_path / "inventory.sqlite3"
    connection = sqlite3.connect(other)
    with connection:
        connection.execute("CREATE TABLE items (name TEXT)")
        connection.execute("INSERT INTO items VALUES ('bolt')")
    connection.close()
    content = other.read_bytes()
    path = tmp_path / "ledger.sqlite3"
    record_usage("s", "gpt-4o", input_tokens=1_000, ledger=path)

    moved_onto(path, other)
    with pytest.raises(LedgerError) as refused:
        record_usage("s", "gpt-4o", input_tokens=1_000, ledger=path)

    assert str(refused.value) == (
        f"cannot use {path} as a ledger: it is a database of something else (tables: items) "
        "with no shoal tables. Give the ledger a file of its own")
    assert path.read_bytes() == content


def test_a_ledger_reopened_after_a_replace_leaves_another_writers_log_alone(
    tmp_path: Path,
) -> None:
    backup = tmp_path / "backup.sqlite3"
    with Ledger(backup) as ledger:
        ledger.record_usage("backed-up", "gpt-4o", input_tokens=1_000)
    path = tmp_path / "ledger.sqlite3"
    open_ledger(path).record_usage("s", "gpt-4o", input_tokens=2_000)
    moved_onto(path, backup)
    # Another program writes the new file and keeps it open: its record is in the log only.
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("INSERT INTO shoal_usage (scope, recorded_at, model, input_tokens, "
                   "output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, "
                   "cost_nanousd, line_items, catalog_date) SELECT 'other', recorded_at, model, "
                   "input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, "
                   "reasoning_tokens, cost_nanousd, line_items, catalog_date FROM shoal_usage")

    # Closing the connection to the earlier file must neither copy that log into it nor delete
    # it, as SQLite does when it closes the last connection to an unmoved file.
    status = budget_status("other", ledger=path)
    close_ledgers()
    writer.close()

    assert status.records == 1
    assert scopes_in(path) == [("backed-up", 1), ("other", 1)]


def test_a_record_leaves_nothing_in_the_write_ahead_log(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    log = tmp_path / "ledger.sqlite3-wal"
    with Ledger(path) as ledger:
        ledger.set_limit("s", 5.0)
        assert log.stat().st_size == 0
        ledger.record_usage("s", "gpt-4o", input_tokens=1_000, request_id="r-1")
        assert log.stat().st_size == 0
        ledger.record_usage("s", "gpt-4o", input_tokens=1_000, request_id="r-1")
        assert log.stat().st_size == 0


def test_a_reader_in_the_log_holds_a_record_up_for_a_moment_only(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    log = tmp_path / "ledger.sqlite3-wal"
    with Ledger(path) as ledger:
        ledger.record_usage("s", "gpt-4o", input_tokens=1_000)
        # A reader in the middle of a transaction keeps the log from being emptied.
        process = holder(path, "connection = sqlite3.connect(path, isolation_level=None)\n"
                               "connection.execute('BEGIN')\n"
                               "connection.execute('SELECT COUNT(*) FROM shoal_usage')"
                               ".fetchone()")
        try:
            started = time.monotonic()
            ledger.record_usage("s", "gpt-4o", input_tokens=1_000)
            took = time.monotonic() - started
            kept_while_read = log.stat().st_size
        finally:
            process.communicate("")
        ledger.record_usage("s", "gpt-4o", input_tokens=1_000)
        emptied_after = log.stat().st_size
        records = ledger.budget_status("s").records

    assert took < 5, took
    assert kept_while_read > 0
    assert emptied_after == 0
    assert records == 3


def test_a_log_a_reader_kept_full_is_emptied_when_it_ends_so_a_restore_reads_as_it_is(
    tmp_path: Path,
) -> None:
    backup = tmp_path / "backup.sqlite3"
    with Ledger(backup) as ledger:
        ledger.record_usage("restored", "gpt-4o", input_tokens=1_000)
    path = tmp_path / "ledger.sqlite3"
    log = tmp_path / "ledger.sqlite3-wal"

    # A server: holds the ledger open and writes nothing itself.
    with Ledger(path) as serving:
        serving.budget_status("old")
        reader = holder(path, "connection = sqlite3.connect(path, isolation_level=None)\n"
                              "connection.execute('BEGIN')\n"
                              "connection.execute('SELECT COUNT(*) FROM shoal_usage')"
                              ".fetchone()")
        try:
            # Another process records while the read goes on, then exits.
            with Ledger(path) as writer:
                writer.record_usage("old", "gpt-4o", input_tokens=1_000)
            kept_while_read = log.stat().st_size
        finally:
            reader.communicate("")
        deadline = time.monotonic() + 10 * LOG_WATCH_INTERVAL_S + 5
        while log.stat().st_size and time.monotonic() < deadline:
            time.sleep(0.05)
        emptied = log.stat().st_size == 0
        moved_onto(path, backup)
        restored = scopes_in(path)
        check = sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0]

    assert kept_while_read > 0
    assert emptied
    assert restored == [("restored", 1)]
    assert check == "ok"


def test_the_log_watch_ends_with_the_ledger(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    with Ledger(tmp_path / "watched.sqlite3") as ledger:
        ledger.record_usage("s", "gpt-4o", input_tokens=1_000)
        watching = set(threading.enumerate()) - before
    deadline = time.monotonic() + 10 * LOG_WATCH_INTERVAL_S + 5
    while any(thread.is_alive() for thread in watching) and time.monotonic() < deadline:
        time.sleep(0.05)

    assert [thread.name for thread in watching] == ["shoal-ledger-log watched.sqlite3"]
    assert not any(thread.is_alive() for thread in watching)


# ---- a dropped PostgreSQL connection ------------------------------------------------------------


def test_a_connection_the_server_dropped_is_replaced_and_the_call_goes_through(
    postgres_server: str,
) -> None:
    import psycopg

    for url in ledger_support.fresh_database(postgres_server):
        with Ledger(url) as ledger:
            ledger.record_usage("s", "gpt-4o", input_tokens=1_000, request_id="r-1")
            for call in (lambda: ledger.record_usage("s", "gpt-4o", input_tokens=1_000,
                                                     request_id="r-2"),
                         lambda: ledger.budget_status("s")):
                # What a server restart does to the connections it had: ends them.
                backend = ledger._store._connection.info.backend_pid  # type: ignore[attr-defined]
                with psycopg.connect(url, autocommit=True) as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
                call()
            assert ledger.budget_status("s").records == 2


# ---- totals past 64 bits ------------------------------------------------------------------------


def _priced_at_a_million_dollars_a_mtok(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, int]:
    """Prices gpt-4o at $1,000,000 per Mtok both ways; returns the token counts of a $200,000,000
    call, so that a few dozen calls reach the most a ledger holds."""
    prices = tmp_path / "prices.json"
    prices.write_text('{"models": [{"id": "gpt-4o", "input_per_mtok": 1e6,'
                      ' "output_per_mtok": 1e6}]}', encoding="utf-8")
    monkeypatch.setenv("SHOAL_PRICES", str(prices))
    return {"input_tokens": 100_000_000, "output_tokens": 100_000_000}


def test_a_scope_may_spend_past_64_bits_over_several_periods_and_its_status_adds_up(
    location: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    largest = _priced_at_a_million_dollars_a_mtok(tmp_path, monkeypatch)
    calls_a_month = 23  # the most a month's limit of MAX_NANOUSD holds

    with Ledger(location) as ledger:
        ledger.set_limit("s", MAX_LIMIT_USD, hard=False, period="month")
        for month in (8, 9, 10):
            for call in range(calls_a_month):
                ledger.record_usage("s", "gpt-4o", at=datetime.datetime(
                    2026, month, 1 + call, tzinfo=UTC), **largest)
        status = ledger.budget_status("s", window_hours=24 * 366)

    lifetime_nanousd = 3 * calls_a_month * 200_000_000 * 10**9
    assert lifetime_nanousd > 2 * MAX_NANOUSD > 2**62
    assert status.records == 3 * calls_a_month
    assert status.lifetime_spent_usd == lifetime_nanousd / 10**9
    assert status.window_spent_usd == lifetime_nanousd / 10**9


def test_a_call_past_the_most_the_ledger_holds_is_refused_in_plain_dollars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    largest = _priced_at_a_million_dollars_a_mtok(tmp_path, monkeypatch)

    with Ledger(str(tmp_path / "ledger.sqlite3")) as ledger:
        for _ in range(23):
            ledger.record_usage("s", "gpt-4o", **largest)
        with pytest.raises(LedgerError) as refused:
            ledger.record_usage("s", "gpt-4o", input_tokens=20_000_000)
        assert ledger.budget_status("s").records == 23

    # The ceiling stated is the one kept, and the one a limit tops out at.
    assert str(refused.value) == (
        "the scope 's' has spent $4,600,000,000.00; this call ($20,000,000.00) would take it "
        f"past ${MAX_LIMIT_USD:,.2f}, the most the ledger holds for a scope"
    )
    with Ledger(str(tmp_path / "ledger.sqlite3")) as ledger:
        ledger.record_usage("s", "gpt-4o", input_tokens=11_686_018, output_tokens=0)
        with pytest.raises(LedgerError, match=r"past \$4,611,686,018\.42"):
            ledger.record_usage("s", "gpt-4o", input_tokens=1)
    status, _, err = run_cli(["ledger", "record", "--scope", "s", "--model", "gpt-4o", "--input",
                              "1", "--ledger", str(tmp_path / "ledger.sqlite3")])
    assert status == 2 and err.startswith("shoal ledger record: error: the scope 's' has spent")


def replaced_after_opening(monkeypatch: pytest.MonkeyPatch, path: Path, source: Path,
                           times: int) -> list[int]:
    """Move a copy of ``source`` onto ``path`` right after each of the next ``times`` openings
    of the ledger, before the call's transaction begins, as a restore script running while
    records are written can. Returns the count of moves made, as a one-item list."""
    moves = [0]
    opening = shoal.ledger.open_ledger

    def open_then_replace(*args: Any, **kwargs: Any) -> Ledger:
        opened = opening(*args, **kwargs)
        if moves[0] < times:
            moves[0] += 1
            moved_onto(path, source)
        return opened

    monkeypatch.setattr(shoal.ledger, "open_ledger", open_then_replace)
    return moves


def backup_of(tmp_path: Path, records: int) -> Path:
    backup = tmp_path / "backup.sqlite3"
    with Ledger(backup) as ledger:
        for number in range(records):
            ledger.record_usage("backed-up", "gpt-4o", input_tokens=1_000,
                                request_id=f"b-{number}")
    return backup


CALLS_THROUGH_OPEN_LEDGER = {
    "record_usage": lambda path: record_usage("s", "gpt-4o", input_tokens=1_000,
                                              request_id="r-2", ledger=path),
    "set_limit": lambda path: set_limit("s", 5.0, ledger=path),
    "budget_status": lambda path: budget_status("backed-up", ledger=path),
    "savings_report": lambda path: savings_report(ledger=path),
}


@pytest.mark.parametrize("call", sorted(CALLS_THROUGH_OPEN_LEDGER))
def test_a_ledger_replaced_between_opening_and_transaction_is_opened_again_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: str
) -> None:
    backup = backup_of(tmp_path, 3)
    path = tmp_path / "ledger.sqlite3"
    record_usage("s", "gpt-4o", input_tokens=1_000, request_id="r-1", ledger=path)
    moves = replaced_after_opening(monkeypatch, path, backup, times=1)

    result = CALLS_THROUGH_OPEN_LEDGER[call](path)

    assert moves == [1]
    assert result.notes[0] == (
        f"the ledger file {path} was replaced by another file after this process opened it, so "
        "the file its path names now is used: limits and records kept only in the earlier file "
        "are not in it")
    written = [("backed-up", 3), ("s", 1)] if call == "record_usage" else [("backed-up", 3)]
    assert scopes_in(path) == written


def test_a_record_retried_on_the_ledger_that_replaced_it_is_made_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ledger.sqlite3"
    first = record_usage("s", "gpt-4o", input_tokens=1_000, request_id="r-1", ledger=path)
    close_ledgers()
    backup = tmp_path / "backup.sqlite3"
    shutil.copyfile(path, backup)
    replaced_after_opening(monkeypatch, path, backup, times=1)

    again = record_usage("s", "gpt-4o", input_tokens=1_000, request_id="r-1", ledger=path)

    assert again.duplicate and again.id == first.id
    assert scopes_in(path) == [("s", 1)]


def test_a_ledger_replaced_at_every_attempt_is_refused_with_advice_to_try_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backup = backup_of(tmp_path, 1)
    path = tmp_path / "ledger.sqlite3"
    record_usage("s", "gpt-4o", input_tokens=1_000, ledger=path)
    moves = replaced_after_opening(monkeypatch, path, backup, times=100)

    with pytest.raises(LedgerError) as refused:
        record_usage("s", "gpt-4o", input_tokens=1_000, ledger=path)

    assert moves == [REPLACED_ATTEMPTS]
    assert str(refused.value) == (
        f"the ledger file {path} was replaced by another file each of the {REPLACED_ATTEMPTS} "
        "times this call opened it; nothing was written: try again once the file is left in "
        "place")
    assert "only the server's operator" not in server_file_problem("ledger", str(refused.value))
    assert scopes_in(path) == [("backed-up", 1)]


@pytest.mark.anyio
async def test_a_server_whose_ledger_is_replaced_mid_call_records_the_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backup = backup_of(tmp_path, 2)
    path = tmp_path / "ledger.sqlite3"
    monkeypatch.setenv("SHOAL_LEDGER", str(path))
    call = {"scope": "live", "model": "gpt-4o", "input_tokens": 1_000}
    async with Client(build_server()) as client:
        await client.call_tool("record_usage", {**call, "request_id": "r-1"})
        replaced_after_opening(monkeypatch, path, backup, times=1)
        record = await client.call_tool("record_usage", {**call, "request_id": "r-2"})

    assert not record.is_error, record.content[0].text
    assert "was replaced by another file" in record.structured_content["notes"][0]
    assert scopes_in(path) == [("backed-up", 2), ("live", 1)]
