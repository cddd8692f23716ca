"""Importing many calls at once, in Python and with `shoal ledger import`: the same rows, spend
and limits as a loop of record_usage, once however often the log is imported, and nothing at all
when one record is refused."""

from __future__ import annotations

import dataclasses
import datetime
import io
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hang_guard import HANG_GUARD_S

from shoal.cli import main
from shoal.cost import format_usd
from shoal.ledger import (
    IMPORT_PROGRESS_EVERY,
    BudgetExceededError,
    ImportRecordError,
    Ledger,
    RepeatedRequestError,
    RequestConflictError,
    StoredUsage,
    import_usage,
    record_usage,
)

UTC = datetime.timezone.utc
DAY = datetime.datetime(2026, 12, 2, tzinfo=UTC)
DECISION = "d-" + "0123456789abcdef01234567"
WRITER = Path(__file__).with_name("ledger_writer.py")


@pytest.fixture
def ledger(location: str) -> Iterator[Ledger]:
    opened = Ledger(location)
    yield opened
    opened.close()


def usage_log(count: int, *, scopes: tuple[str, ...] = ("team:a", "team:b", "café")) -> list[
        dict[str, Any]]:
    """``count`` calls spread over three scopes, two models, two days and every optional field,
    each with a request id of its own."""
    records: list[dict[str, Any]] = []
    for number in range(count):
        record: dict[str, Any] = {
            "scope": scopes[number % len(scopes)],
            "model": ("gpt-4o-mini", "claude-sonnet-4-5")[number % 2],
            "input_tokens": 1_000 + number,
            "output_tokens": 100 + number % 7,
            "request_id": f"call-{number:05}",
            # Spread over three days, every 37 minutes.
            "at": (DAY + datetime.timedelta(minutes=37 * number % (3 * 24 * 60))).isoformat(),
        }
        if number % 3 == 0:
            record["cached_input_tokens"] = 500
        if number % 5 == 0:
            record["decision_id"] = DECISION
        records.append(record)
    return records


def rows(ledger: Ledger) -> list[tuple[Any, ...]]:
    """Every stored row without its id, which two ledgers number alike only by chance."""
    return [dataclasses.astuple(dataclasses.replace(row, id=0)) for row in ledger.usage()]


def statuses(ledger: Ledger, scopes: set[str]) -> list[tuple[float, float, int, bool]]:
    now = DAY + datetime.timedelta(days=4)
    return [(status.spent_usd, status.lifetime_spent_usd, status.records, status.exceeded)
            for status in (ledger.budget_status(scope, now=now) for scope in sorted(scopes))]


# ---- Python --------------------------------------------------------------------------------------


def test_an_import_records_what_a_loop_of_record_usage_records(
    location: str, tmp_path: Path
) -> None:
    records = usage_log(60)
    looped = Ledger(tmp_path / "looped.sqlite3")
    for record in records:
        looped.record_usage(**record)

    with Ledger(location) as imported:
        result = imported.import_usage(records)
        assert rows(imported) == rows(looped)
        scopes = {record["scope"] for record in records}
        assert statuses(imported, scopes) == statuses(looped, scopes)
    total = sum(row.cost_nanousd for row in looped.usage())
    assert result == dataclasses.replace(result, records=60, added=60, already_present=0,
                                         scopes=3, over_limit=0)
    assert round(result.cost_usd * 1e9) == total
    looped.close()


def test_importing_the_same_log_again_records_nothing_twice(ledger: Ledger) -> None:
    records = usage_log(30)
    ledger.import_usage(records[:10])
    ledger.record_usage(**records[10])

    again = ledger.import_usage(records)

    assert (again.added, again.already_present, again.records) == (19, 11, 30)
    assert len(ledger.usage()) == 30
    assert ledger.import_usage(records).added == 0
    assert len(ledger.usage()) == 30


def test_a_request_id_given_twice_in_one_import_is_recorded_once(ledger: Ledger) -> None:
    record = usage_log(1)[0]

    result = ledger.import_usage([record, dict(record)])

    assert (result.added, result.already_present) == (1, 1)
    assert len(ledger.usage()) == 1


def test_an_import_gives_record_usages_notes_once_each_with_the_records_they_apply_to(
    ledger: Ledger, tmp_path: Path
) -> None:
    retired, current = usage_log(2)[1], usage_log(1)[0]
    (note,) = record_usage(**retired, ledger=tmp_path / "other.sqlite3").notes
    assert "retired" in note

    many = ledger.import_usage([retired, current, {**retired, "request_id": "again"}])
    one = ledger.import_usage([{**retired, "request_id": "once more"}])

    assert many.notes == (f"{note} (2 records)",)
    assert one.notes == (note,)


@pytest.mark.parametrize(("bad", "field", "cause"), [
    ({"input_tokens": -1}, "input_tokens must be at least 0", ValueError),
    ({"model": "no-such-model"}, "no-such-model", ValueError),
    ({"at": "2019-06-01T00:00:00Z"}, "at must be 2020-01-01 or later", ValueError),
    ({"input": 5}, "unknown field 'input' (did you mean 'input_tokens'?)", ValueError),
    ({"request_id": 7}, "request_id must be a string", TypeError),
])
def test_a_bad_record_is_named_by_its_place_and_field_and_nothing_is_written(
    ledger: Ledger, bad: dict[str, Any], field: str, cause: type[Exception]
) -> None:
    records = usage_log(8)
    records[5] = {**records[5], **bad}

    with pytest.raises(ImportRecordError, match=r"^records\[5\]: ") as refused:
        ledger.import_usage(records)

    assert field in str(refused.value)
    assert "nothing of the import was recorded" in str(refused.value)
    assert refused.value.index == 5
    assert isinstance(refused.value.__cause__, cause)
    assert ledger.usage() == []


def test_a_record_that_is_not_a_mapping_is_refused_by_its_place(ledger: Ledger) -> None:
    records: list[Any] = [*usage_log(2), None]

    with pytest.raises(ImportRecordError, match=r"records\[2\]: a record must be a mapping"):
        ledger.import_usage(records)
    assert ledger.usage() == []


def test_a_request_id_recorded_with_other_counts_refuses_the_import(ledger: Ledger) -> None:
    records = usage_log(4)
    ledger.record_usage(**records[0])
    changed = [*records, {**records[0], "input_tokens": 9_000}]

    with pytest.raises(ImportRecordError,
                       match=r"records\[4\]: request_id 'call-00000' was recorded") as refused:
        ledger.import_usage(changed)

    assert isinstance(refused.value.__cause__, RequestConflictError)
    assert len(ledger.usage()) == 1


def test_a_hard_limit_refuses_the_record_that_would_pass_it_and_so_the_whole_import(
    ledger: Ledger,
) -> None:
    ledger.set_limit("team:a", 0.01, period="day")
    records = [{"scope": "team:a", "model": "gpt-4o-mini", "input_tokens": 10_000,
                "request_id": f"r{number}", "at": DAY + datetime.timedelta(hours=number)}
               for number in range(8)]
    # Each costs $0.0015: six reach $0.009, the seventh would pass $0.01.

    with pytest.raises(ImportRecordError, match=r"records\[6\]: refused: scope 'team:a' has a "
                       r"hard limit of \$0.01 per day; \$0.009 is spent") as refused:
        ledger.import_usage(records)

    assert isinstance(refused.value.__cause__, BudgetExceededError)
    assert ledger.usage() == []
    # The next day's spend starts again: the same calls over two days are taken.
    spread = [{**record, "at": DAY + datetime.timedelta(hours=5 * number)}
              for number, record in enumerate(records)]
    assert ledger.import_usage(spread).added == 8


def test_a_soft_limit_takes_every_record_and_counts_those_past_it_as_record_usage_flags_them(
    location: str, tmp_path: Path
) -> None:
    records = [{"scope": "team:a", "model": "gpt-4o-mini", "input_tokens": 10_000,
                "at": DAY + datetime.timedelta(minutes=number)} for number in range(10)]
    looped = Ledger(tmp_path / "looped.sqlite3")
    looped.set_limit("team:a", 0.006, hard=False)
    flagged = sum(looped.record_usage(**record).over_limit for record in records)

    with Ledger(location) as imported:
        imported.set_limit("team:a", 0.006, hard=False)
        result = imported.import_usage(records)

    assert (result.added, result.over_limit) == (10, flagged) == (10, 6)
    looped.close()


def test_an_import_reports_its_progress_and_empties_the_log_once_it_is_done(
    tmp_path: Path,
) -> None:
    file = tmp_path / "ledger.sqlite3"
    reports: list[tuple[str, int, int]] = []
    count = IMPORT_PROGRESS_EVERY * 2 + 5

    with Ledger(file) as ledger:
        ledger.import_usage(usage_log(count),
                            progress=lambda step, done, total: reports.append((step, done, total)))
        # Emptied before the import returns: a backup moved onto the path reads as itself.
        assert file.with_name(file.name + "-wal").stat().st_size == 0

    assert reports == [(step, done, count) for step in ("checking", "recording")
                       for done in (IMPORT_PROGRESS_EVERY, IMPORT_PROGRESS_EVERY * 2, count)]


def test_the_module_function_reads_a_generator_and_makes_no_ledger_for_nothing(
    tmp_path: Path,
) -> None:
    file = tmp_path / "ledger.sqlite3"

    assert import_usage(iter([]), ledger=file).records == 0
    # Every record is checked before the ledger is opened: the last one refused makes no file.
    with pytest.raises(ImportRecordError, match=r"records\[3\]: no model"):
        import_usage(iter([*usage_log(3), {"scope": "team:a"}]), ledger=file)
    assert not file.exists()

    reports: list[tuple[str, int, int]] = []
    count = IMPORT_PROGRESS_EVERY + 5
    result = import_usage((record for record in usage_log(count)), ledger=file,
                          progress=lambda step, done, total: reports.append((step, done, total)))
    assert (result.records, result.added) == (count, count)
    assert len(record_usage_rows(file)) == count
    # Without a length, checking counts up to what it has read; recording knows the total.
    assert reports == [("checking", IMPORT_PROGRESS_EVERY, IMPORT_PROGRESS_EVERY),
                       ("checking", count, count), ("recording", IMPORT_PROGRESS_EVERY, count),
                       ("recording", count, count)]


def record_usage_rows(file: Path) -> list[StoredUsage]:
    with Ledger(file) as ledger:
        return ledger.usage()


def test_records_without_a_time_are_recorded_now(ledger: Ledger) -> None:
    before = datetime.datetime.now(UTC).timestamp()

    ledger.import_usage([{"scope": "team:a", "model": "gpt-4o-mini", "output_tokens": 10}])

    (row,) = ledger.usage()
    assert before <= row.recorded_at <= datetime.datetime.now(UTC).timestamp()


def test_an_import_beside_writer_processes_loses_no_record_and_doubles_none(
    location: str, tmp_path: Path
) -> None:
    Ledger(location).close()  # the schema made once, as a deployment would
    writers = [subprocess.Popen([sys.executable, str(WRITER), location, "team", f"w{number}",
                                 "100", str(tmp_path / f"acks{number}"), "20"],
                                stderr=subprocess.PIPE) for number in range(2)]
    # The writers' call, under their own ids and under the ids each of them sends too.
    call = {"scope": "team", "model": "gpt-4o-mini", "input_tokens": 1_000, "output_tokens": 100}
    records = [{**call, "request_id": f"import-{number}"} for number in range(2_000)]
    records += [{**call, "request_id": f"shared-{number}"} for number in range(0, 100, 20)]

    # Begun once each writer has recorded a call, so that the import runs among their writes.
    deadline = time.monotonic() + HANG_GUARD_S
    while not all(_acknowledged(tmp_path / f"acks{number}") for number in range(2)):
        assert time.monotonic() < deadline, "the writers recorded nothing"
        time.sleep(0.01)

    with Ledger(location) as ledger:
        result = ledger.import_usage(records)
        for writer in writers:
            _, stderr = writer.communicate(timeout=HANG_GUARD_S)
            assert writer.returncode == 0, stderr.decode()
        stored = ledger.usage("team")

    # Each shared id is recorded once, by the import or by the writer that came first.
    assert result.added + result.already_present == 2_005
    assert len(stored) == len({row.request_id for row in stored}) == 2 * 100 + 2_000 + 5


def test_two_imports_of_the_same_scopes_in_opposite_orders_both_go_in(location: str) -> None:
    Ledger(location).close()
    call = {"model": "gpt-4o-mini", "input_tokens": 1_000}
    # Each import comes to one scope after a thousand rows of the other: locked as they came,
    # each would hold one scope and wait for the other's.
    logs = [[*({**call, "scope": first, "request_id": f"{first}-{number}"}
               for number in range(1_000)),
             {**call, "scope": second, "request_id": f"{first}-last"}]
            for first, second in (("team:a", "team:b"), ("team:b", "team:a"))]
    ready = threading.Barrier(2)
    results: list[Any] = []

    def run_import(log: list[dict[str, Any]]) -> None:
        with Ledger(location) as ledger:
            ready.wait()
            try:
                results.append(ledger.import_usage(log).added)
            except Exception as error:  # the assertion below names it
                results.append(error)

    threads = [threading.Thread(target=run_import, args=(log,)) for log in logs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=HANG_GUARD_S)

    assert results == [1_001, 1_001]


def _acknowledged(acks: Path) -> bool:
    """Whether a writer has recorded a call: its file holds more than its ``ready`` line."""
    return acks.exists() and len(acks.read_text(encoding="utf-8").splitlines()) > 1


# ---- the command line ----------------------------------------------------------------------------


def test_a_request_id_given_twice_in_one_import_with_other_counts_names_the_first(
    ledger: Ledger
) -> None:
    records = usage_log(4)
    changed = [*records, {**records[1], "input_tokens": 9_000}]

    with pytest.raises(ImportRecordError) as refused:
        ledger.import_usage(changed)

    # Nothing was recorded, so no time of a recording is given: the first record is named.
    assert str(refused.value).startswith(
        "records[4]: request_id 'call-00001' was given earlier in this import, by records[1], ")
    assert isinstance(refused.value.__cause__, RepeatedRequestError)
    assert refused.value.__cause__.earlier == 1
    assert ledger.usage() == []


@pytest.mark.parametrize("step", ["checking", "recording"])
def test_a_ctrl_c_in_an_import_is_marked_as_having_recorded_nothing(
    ledger: Ledger, step: str
) -> None:
    def stop(now: str, done: int, total: int) -> None:
        if now == step and done == IMPORT_PROGRESS_EVERY:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as stopped:
        ledger.import_usage(usage_log(2 * IMPORT_PROGRESS_EVERY), progress=stop)

    assert stopped.value.import_recorded is False  # type: ignore[attr-defined]
    assert ledger.usage() == []


def jsonl(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(record, default=str) + "\n" for record in records)


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(args)
    out, err = capsys.readouterr()
    return status, out, err


def test_the_cli_import_round_trips_to_the_status_of_recorded_calls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = usage_log(40)
    log = tmp_path / "usage.jsonl"
    log.write_text(jsonl(records), encoding="utf-8")
    recorded = tmp_path / "recorded.sqlite3"
    said = {note for record in records for note in record_usage(**record, ledger=recorded).notes}
    imported = tmp_path / "imported.sqlite3"

    status, out, err = run(["ledger", "import", str(log), "--ledger", str(imported)], capsys)

    assert status == 0, err
    total = format_usd(sum(row.cost_nanousd for row in record_usage_rows(recorded)) / 1e9)
    # The note record_usage gives each call of the retired model, said once for the 20 of them.
    (note,) = said
    assert out == (f"{log}: 40 records added, 0 already present, in 3 scopes; {total} charged\n"
                   f"  note: {note} (20 records)\n")
    for scope in ("team:a", "café"):
        looped = run(["ledger", "status", "--scope", scope, "--ledger", str(recorded)], capsys)
        both = run(["ledger", "status", "--scope", scope, "--ledger", str(imported)], capsys)
        assert both[1].split("\n")[0] == looped[1].split("\n")[0]
    with Ledger(imported) as ledger, Ledger(recorded) as looped_ledger:
        assert rows(ledger) == rows(looped_ledger)


def test_the_cli_import_run_again_adds_nothing_and_says_so_in_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "usage.jsonl"
    log.write_text(jsonl(usage_log(12)), encoding="utf-8")
    ledger = str(tmp_path / "ledger.sqlite3")
    assert run(["ledger", "import", str(log), "--ledger", ledger], capsys)[0] == 0

    status, out, _ = run(["ledger", "import", str(log), "--ledger", ledger, "--json"], capsys)

    assert status == 0
    (note,) = record_usage(**usage_log(2)[1], ledger=tmp_path / "other.sqlite3").notes
    assert json.loads(out) == {"records": 12, "added": 0, "already_present": 12,
                               "cost_usd": 0.0, "scopes": 3, "over_limit": 0,
                               "notes": [f"{note} (6 records)"]}
    assert len(record_usage_rows(Path(ledger))) == 12


@pytest.mark.parametrize(("line", "message"), [
    ('{"scope": "team:a", "model": "gpt-4o-mini", "input_tokens": "many"}',
     "input_tokens must be"),
    ('{"scope": "team:a", "model": "gpt-4o-mini", "input_tokens": 5,',
     "not valid JSON"),
    ('["team:a", "gpt-4o-mini"]', "each line must be a JSON object, got array"),
    ('{"scope": "team:a", "model": "gpt-4o-mini", "input_tokens": 5, "input_tokens": 6}',
     "the field 'input_tokens' is given more than once"),
    # Quoted as the line writes it: a float reads 1e400 as inf.
    ('{"scope": "team:a", "model": "gpt-4o-mini", "input_tokens": 5, "at": 1e400}',
     "at must be finite, got 1e400;"),
])
def test_the_cli_names_the_line_of_a_bad_record_and_records_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, message: str
) -> None:
    # Blank lines before it: the error names the line in the file, not the record's place.
    log = tmp_path / "usage.jsonl"
    log.write_text(jsonl(usage_log(3)) + "\n\n" + line + "\n"
                   + jsonl(usage_log(2, scopes=("team:z",))), encoding="utf-8")
    ledger = tmp_path / "ledger.sqlite3"

    status, out, err = run(["ledger", "import", str(log), "--ledger", str(ledger)], capsys)

    assert (status, out) == (2, "")
    assert err.startswith(f"shoal ledger import: error: {log}:6: ")
    assert message in err
    assert err.rstrip().endswith("nothing of the import was recorded")
    assert record_usage_rows(ledger) == []


def test_the_cli_refuses_a_record_over_a_hard_limit_by_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = str(tmp_path / "ledger.sqlite3")
    assert run(["ledger", "limit", "--scope", "team:a", "--usd", "0.004", "--ledger", ledger],
               capsys)[0] == 0
    log = tmp_path / "usage.jsonl"
    log.write_text(jsonl([{"scope": "team:a", "model": "gpt-4o-mini", "input_tokens": 10_000}]
                         * 3), encoding="utf-8")

    status, _, err = run(["ledger", "import", str(log), "--ledger", ledger], capsys)

    assert status == 2
    assert f"{log}:3: refused: scope 'team:a' has a hard limit of $0.004" in err
    assert record_usage_rows(Path(ledger)) == []


def test_the_cli_names_the_earlier_line_of_a_request_id_given_twice_with_other_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = {"scope": "s", "model": "gpt-4o-mini", "input_tokens": 1, "request_id": "r1"}
    log = tmp_path / "usage.jsonl"
    log.write_text(jsonl([first]) + "\n" + jsonl([{**first, "input_tokens": 2}]),
                   encoding="utf-8")
    ledger = tmp_path / "ledger.sqlite3"

    status, _, err = run(["ledger", "import", str(log), "--ledger", str(ledger)], capsys)

    assert status == 2
    assert err.startswith(f"shoal ledger import: error: {log}:3: request_id 'r1' was given "
                          "earlier in this import, by line 1, for gpt-4o-mini with tokens ")
    assert record_usage_rows(ledger) == []


def test_the_cli_reads_a_log_from_stdin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    given = ("\ufeff" + jsonl(usage_log(4))).encode()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(given)))
    ledger = tmp_path / "ledger.sqlite3"

    status, out, err = run(["ledger", "import", "-", "--ledger", str(ledger)], capsys)

    assert status == 0, err
    assert out.startswith("standard input: 4 records added, 0 already present, in 3 scopes; $")
    assert len(record_usage_rows(ledger)) == 4


def test_the_cli_imports_an_empty_log_without_making_a_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "empty.jsonl"
    log.write_text("\n\n", encoding="utf-8")
    ledger = tmp_path / "ledger.sqlite3"

    status, out, _ = run(["ledger", "import", str(log), "--ledger", str(ledger)], capsys)

    assert (status, out) == (0, f"{log}: no records; nothing recorded\n")
    assert not ledger.exists()


def test_the_cli_refuses_a_log_over_max_file_bytes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "usage.jsonl"
    log.write_text(jsonl(usage_log(4)), encoding="utf-8")

    status, _, err = run(["ledger", "import", str(log), "--max-file-bytes", "100",
                          "--ledger", str(tmp_path / "ledger.sqlite3")], capsys)

    assert status == 2
    assert "--max-file-bytes" in err


def test_the_cli_shows_progress_on_stderr_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shoal.progress.PROGRESS_DELAY_S", 0.0)
    log = tmp_path / "usage.jsonl"
    log.write_text(jsonl(usage_log(IMPORT_PROGRESS_EVERY + 1)), encoding="utf-8")

    status, _, err = run(["ledger", "import", str(log), "--progress", "always",
                          "--ledger", str(tmp_path / "ledger.sqlite3")], capsys)

    assert status == 0
    assert "recording [" in err
    assert err.rstrip().endswith(f"{IMPORT_PROGRESS_EVERY + 1:,}/{IMPORT_PROGRESS_EVERY + 1:,} "
                                 "records")


def test_the_cli_counts_the_lines_past_a_soft_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = str(tmp_path / "ledger.sqlite3")
    assert run(["ledger", "limit", "--scope", "team:a", "--usd", "0.004", "--soft",
                "--ledger", ledger], capsys)[0] == 0
    log = tmp_path / "usage.jsonl"
    log.write_text(jsonl([{"scope": "team:a", "model": "gpt-4o-mini", "input_tokens": 10_000}]
                         * 4), encoding="utf-8")

    status, out, _ = run(["ledger", "import", str(log), "--ledger", ledger], capsys)

    # $0.0015 each: the third and fourth take the spend past $0.004.
    assert (status, out) == (0, f"{log}: 4 records added, 0 already present, in 1 scope; "
                                "$0.006 charged; 2 records past a soft limit\n")
