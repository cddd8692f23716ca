"""The spend ledger on SQLite and on a real PostgreSQL server: pricing, limits, idempotency,
burn rate, and writers in separate processes, concurrent or killed mid-write."""

from __future__ import annotations

import datetime
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hang_guard import HANG_GUARD_S

from shoal import spend_render
from shoal.catalog import load_catalog
from shoal.cli import main
from shoal.cost import estimate_cost
from shoal.ledger import (
    MAX_LIMIT_USD,
    BudgetExceededError,
    Ledger,
    LedgerError,
    RequestConflictError,
    default_location,
    describe_location,
    period_bounds,
    record_usage,
)

WRITER = Path(__file__).with_name("ledger_writer.py")
# What one writer call costs: gpt-4o-mini, 1,000 input tokens at $0.15/M + 100 output at $0.60/M.
CALL_NANOUSD = 150_000 + 60_000
UTC = datetime.timezone.utc


@pytest.fixture
def ledger(location: str) -> Iterator[Ledger]:
    opened = Ledger(location)
    yield opened
    opened.close()


def at(hour: int, minute: int = 0, day: int = 4) -> datetime.datetime:
    return datetime.datetime(2026, 12, day, hour, minute, tzinfo=UTC)


# ---- recording and pricing -------------------------------------------------------------------


def test_token_counts_left_out_are_zero_and_a_call_of_none_is_refused_unopened(
    tmp_path: Path,
) -> None:
    location = tmp_path / "ledger.sqlite3"

    with pytest.raises(ValueError, match=r"give the call's tokens: input_tokens, output_tokens, "
                                         r"cached_input_tokens, cache_write_tokens or "
                                         r"reasoning_tokens above 0"):
        record_usage("s", "gpt-4o", ledger=location)
    assert not location.exists()

    record = record_usage("s", "gpt-4o", output_tokens=1_000, ledger=location)
    assert (record.input_tokens, record.output_tokens) == (0, 1_000)
    assert record.cost_usd == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"output_tokens": -5}, "output_tokens must be at least 0, got -5"),
        ({"output_tokens": True}, "output_tokens must be a whole number, got bool"),
        ({"input_tokens": 2.5}, "input_tokens must be a whole number, got 2.5, which is not whole"),
        ({"reasoning_tokens": 10**11}, "reasoning_tokens must be at most 100,000,000"),
        ({"output_tokens": 5, "model": "no-such-model"}, "no-such-model"),
        ({"output_tokens": 5, "at": "1999-01-01T00:00:00Z"}, "at must be 2020-01-01 or later"),
    ],
)
def test_a_refused_call_leaves_no_ledger_file_behind(
    tmp_path: Path, arguments: dict[str, object], problem: str
) -> None:
    location = tmp_path / "ledger.sqlite3"
    model = arguments.pop("model", "gpt-4o")

    with pytest.raises((TypeError, ValueError), match=problem):
        record_usage("s", model, ledger=location, **arguments)  # type: ignore[arg-type]

    assert list(tmp_path.iterdir()) == []


def test_the_cli_refuses_a_negative_count_before_it_makes_the_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    location = tmp_path / "l5.sqlite3"

    code = main(["ledger", "record", "--scope", "a", "--model", "gpt-4o", "--output", "-5",
                 "--ledger", str(location)])

    assert code == 2
    assert capsys.readouterr().err == (
        "shoal ledger record: error: --output must be at least 0, got -5\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_record_names_the_price_file_its_prices_came_from_and_a_retry_too(
    ledger: Ledger, tmp_path: Path
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text('{"models": [{"id": "gpt-4o", "input_per_mtok": 1.25}]}', encoding="utf-8")
    catalog = load_catalog(prices)

    first = ledger.record_usage("s", "gpt-4o", input_tokens=1_000, request_id="r-1",
                                catalog=catalog)
    retried = ledger.record_usage("s", "gpt-4o", input_tokens=1_000, request_id="r-1")

    assert (first.prices_as_of, first.price_file) == ("2026-12-04", "prices.json")
    assert retried.duplicate and retried.price_file == "prices.json"
    assert spend_render.usage_record(first) == (
        "recorded: gpt-4o $0.00125 to s (prices of 2026-12-04 from user file prices.json); "
        "spent $0.00125")
    assert "(prices of 2026-12-04 from user file prices.json)" in spend_render.usage_record(retried)


def test_a_retry_over_a_hard_limit_set_below_the_spend_does_not_call_it_soft(
    ledger: Ledger,
) -> None:
    ledger.record_usage("s", "gpt-4o", input_tokens=10_000, request_id="r-1")
    ledger.set_limit("s", 0.001, hard=True)

    retried = ledger.record_usage("s", "gpt-4o", input_tokens=10_000, request_id="r-1")

    assert retried.duplicate and retried.over_limit
    assert spend_render.usage_record(retried).endswith("spent $0.025 of $0.001 (over the limit)")


def test_a_ledger_of_schema_version_1_gains_the_price_basis_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
    location = tmp_path / "ledger.sqlite3"
    with sqlite3.connect(location) as connection:
        connection.executescript("""
            CREATE TABLE shoal_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            INSERT INTO shoal_meta VALUES ('schema_version', '1');
            CREATE TABLE shoal_usage (id INTEGER PRIMARY KEY, scope TEXT NOT NULL,
                recorded_at DOUBLE PRECISION NOT NULL, model TEXT NOT NULL,
                input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL,
                cached_input_tokens BIGINT NOT NULL, cache_write_tokens BIGINT NOT NULL,
                reasoning_tokens BIGINT NOT NULL, cost_nanousd BIGINT NOT NULL,
                line_items TEXT NOT NULL, catalog_date TEXT NOT NULL, decision_id TEXT,
                request_id TEXT, UNIQUE (scope, request_id));
            INSERT INTO shoal_usage VALUES (1, 's', 1796385600.0, 'gpt-4o', 1000, 0, 0, 0, 0,
                2500, '[]', '2026-11-01', NULL, 'old');
        """)
    connection.close()

    with Ledger(location) as ledger:
        retried = ledger.record_usage("s", "gpt-4o", input_tokens=1_000, request_id="old")
        ledger.record_usage("s", "gpt-4o", input_tokens=1_000, request_id="new")
        rows = ledger.usage("s")

    assert retried.duplicate and (retried.prices_as_of, retried.price_file) == ("2026-11-01", None)
    assert [(row.request_id, row.prices_as_of) for row in rows] == [
        ("old", "2026-11-01"), ("new", "2026-12-04")]
    with sqlite3.connect(location) as connection:
        version = connection.execute(
            "SELECT value FROM shoal_meta WHERE key = 'schema_version'").fetchone()
    connection.close()
    assert version == ("2",)


@pytest.mark.parametrize("name", ["scope", "request_id"])
def test_text_that_is_not_valid_utf8_is_refused_by_name(ledger: Ledger, name: str) -> None:
    arguments = {"scope": "s", "request_id": "r-1", name: "caf\udce9"}

    with pytest.raises(ValueError, match=rf"^{name} is not valid UTF-8 \(an undecodable byte or "
                                         r"lone surrogate at character 3\)"):
        ledger.record_usage(arguments["scope"], "gpt-4o", input_tokens=10,
                            request_id=arguments["request_id"])


def test_the_cli_names_the_option_that_is_not_valid_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    location = tmp_path / "ledger.sqlite3"
    # How Python hands over an argument holding the Latin-1 byte 0xE9 on a UTF-8 system.
    scope = b"caf\xe9".decode("utf-8", "surrogateescape")

    code = main(["ledger", "record", "--scope", scope, "--model", "gpt-4o", "--input", "10",
                 "--ledger", str(location)])

    assert code == 2
    assert capsys.readouterr().err == ("shoal ledger record: error: --scope is not UTF-8 text "
                                       "(byte 0xE9 at offset 3)\n")
    assert not location.exists()



def test_a_record_is_priced_from_the_catalog_and_keeps_its_rates(ledger: Ledger) -> None:
    record = ledger.record_usage(
        "session:a", "anthropic/claude-sonnet-4-5", input_tokens=10_000, cached_input_tokens=8_000,
        cache_write_tokens=1_000, output_tokens=500, reasoning_tokens=1_000,
        decision_id="d-5043454e0a5b9611a94eb31d", at=at(10),
    )
    estimate = estimate_cost("claude-sonnet-4-5", input_tokens=10_000, cached_input_tokens=8_000,
                             cache_write_tokens=1_000, output_tokens=500, reasoning_tokens=1_000)
    assert record.model == "claude-sonnet-4-5"
    assert record.cost_usd == pytest.approx(0.03165, abs=1e-9) == estimate.total_usd
    assert record.line_items == estimate.line_items
    assert record.catalog_date == estimate.catalog_date
    assert record.recorded_at == "2026-12-04T10:00:00.000000Z"
    assert record.decision_id == "d-5043454e0a5b9611a94eb31d" and not record.duplicate

    stored = ledger.usage("session:a")
    assert len(stored) == 1 and stored[0].line_items == estimate.line_items
    assert stored[0].cost_nanousd == 31_650_000


def test_a_record_is_rounded_to_nano_dollars_half_to_even_from_its_exact_price(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text('{"models": [{"id": "gpt-4o", "input_per_mtok": 0.0025}]}',
                      encoding="utf-8")
    monkeypatch.setenv("SHOAL_PRICES", str(prices))

    # 2.5 and 7.5 nano-dollars exactly; in floats 3 x 0.0025 / 10^6 is 7.499999999999999e-09.
    for tokens in (1, 3):
        ledger.record_usage("s", "gpt-4o", input_tokens=tokens)

    assert [row.cost_nanousd for row in ledger.usage("s")] == [2, 8]


def test_same_request_id_records_once_and_a_changed_retry_is_refused(ledger: Ledger) -> None:
    first = ledger.record_usage("s", "gpt-4o", input_tokens=100, output_tokens=10, request_id="r1")
    again = ledger.record_usage("s", "gpt-4o", input_tokens=100, output_tokens=10, request_id="r1")
    assert again.duplicate and again.id == first.id and again.spent_usd == first.spent_usd
    # The same id in another scope is another record.
    other = ledger.record_usage("t", "gpt-4o", input_tokens=100, output_tokens=10, request_id="r1")
    assert not other.duplicate

    with pytest.raises(RequestConflictError, match="request_id 'r1' was recorded"):
        ledger.record_usage("s", "gpt-4o", input_tokens=999, output_tokens=10, request_id="r1")
    assert len(ledger.usage("s")) == 1


def test_hard_limit_refuses_and_records_nothing_soft_limit_flags(ledger: Ledger) -> None:
    ledger.set_limit("s", 0.01)
    ledger.record_usage("s", "gpt-4o", input_tokens=2_000, output_tokens=100)  # $0.006
    with pytest.raises(BudgetExceededError, match=r"hard limit of \$0.01; \$0.006 is spent, so "
                                                  r"\$0.004 is left, and this call costs \$0.006"):
        ledger.record_usage("s", "gpt-4o", input_tokens=2_000, output_tokens=100)
    assert len(ledger.usage("s")) == 1
    # Exactly reaching the limit is allowed, and so it is reached, not exceeded.
    ledger.record_usage("s", "gpt-4o", input_tokens=1_200, output_tokens=100)  # $0.004
    reached = ledger.budget_status("s")
    assert reached.remaining_usd == 0 and not reached.exceeded

    ledger.set_limit("s", 0.01, hard=False)
    over = ledger.record_usage("s", "gpt-4o", input_tokens=1_000, output_tokens=0)
    assert over.over_limit and over.limit_usd == 0.01
    past = ledger.budget_status("s")
    assert past.remaining_usd == pytest.approx(-0.0025) and past.exceeded


def test_periodic_limit_counts_only_the_current_calendar_period(ledger: Ledger) -> None:
    ledger.set_limit("s", 0.005, period="day")
    ledger.record_usage("s", "gpt-4o", input_tokens=1_600, output_tokens=0, at=at(23, 30, day=3))
    ledger.record_usage("s", "gpt-4o", input_tokens=1_600, output_tokens=0, at=at(9))  # next day
    with pytest.raises(BudgetExceededError, match="per day"):
        ledger.record_usage("s", "gpt-4o", input_tokens=1_000, output_tokens=0, at=at(10))

    status = ledger.budget_status("s", now=at(12))
    assert status.spent_usd == pytest.approx(0.004)
    assert status.lifetime_spent_usd == pytest.approx(0.008)
    assert status.period_start == "2026-12-04T00:00:00.000000Z"
    assert status.period_end == "2026-12-05T00:00:00.000000Z"


def test_burn_rate_and_projection(ledger: Ledger) -> None:
    ledger.set_limit("s", 1.0)
    for hour in (8, 9, 10, 11):  # $0.10 an hour: 40,000 input tokens of gpt-4o each
        ledger.record_usage("s", "gpt-4o", input_tokens=40_000, output_tokens=0, at=at(hour))

    status = ledger.budget_status("s", now=at(12))
    # $0.40 over the 4 hours since the first record.
    assert status.burn_rate_usd_per_hour == pytest.approx(0.1)
    assert status.remaining_usd == pytest.approx(0.6)
    assert status.hours_to_limit == pytest.approx(6.0)
    assert status.limit_reached_at == "2026-12-04T18:00:00.000000Z"

    windowed = ledger.budget_status("s", now=at(12), window_hours=2)
    assert windowed.burn_rate_usd_per_hour == pytest.approx(0.1)  # 10:00 and 11:00 in 2 hours
    quiet = ledger.budget_status("s", now=at(12, day=6))
    assert quiet.burn_rate_usd_per_hour == 0 and quiet.limit_reached_at is None


def test_projection_past_the_period_end_is_not_reported(ledger: Ledger) -> None:
    ledger.set_limit("s", 1.0, period="day")
    ledger.record_usage("s", "gpt-4o", input_tokens=40_000, output_tokens=0, at=at(20))
    status = ledger.budget_status("s", now=at(22))
    # $0.90 left at $0.05 an hour would take 18 hours; the day ends in 2, and its spend with it.
    assert status.burn_rate_usd_per_hour == pytest.approx(0.05)
    assert status.hours_to_limit is None and status.limit_reached_at is None
    assert spend_render.budget_status(status).endswith(
        "at this rate the limit is not reached before the day ends")


def test_a_lifetime_limit_not_reached_before_the_last_date_says_so_in_words(
    ledger: Ledger,
) -> None:
    ledger.set_limit("b", MAX_LIMIT_USD)
    for hour in (8, 9, 10, 11):
        ledger.record_usage("b", "gpt-4o", input_tokens=40_000, output_tokens=0, at=at(hour))
    status = ledger.budget_status("b", now=at(12))

    assert status.limit_reached_at is None
    assert spend_render.budget_status(status).endswith(
        "at this rate the limit is not reached before 9999-01-01")


def test_a_window_under_a_second_is_refused(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match=r"window_hours must be from one second \(1/3600\) to "
                                         r"a year \(8784\), got 1e-300$"):
        ledger.budget_status("s", window_hours=1e-300)


def test_seconds_of_history_give_no_burn_rate_and_no_projection(ledger: Ledger) -> None:
    ledger.set_limit("s", 1.0)
    ledger.record_usage("s", "gpt-4o", input_tokens=10_000, output_tokens=300, at=at(12))

    status = ledger.budget_status("s", now=at(12).timestamp() + 12)

    # One $0.028 call 12 s ago is not a pace of $8.40 an hour (nor $1.68 over a minute).
    assert status.window_spent_usd == pytest.approx(0.028)
    assert status.burn_span_hours == pytest.approx(12 / 3600)
    assert status.burn_rate_usd_per_hour is None
    assert status.hours_to_limit is None and status.limit_reached_at is None
    text = spend_render.budget_status(status)
    assert ("$0.028 spent in the last 24 h (first call 12 s ago); too little history for a "
            "burn rate or a projection (they need 10 minutes)") in text
    assert "/hour" not in text and "limit is reached" not in text


def test_the_burn_rate_is_the_window_spend_over_the_time_it_was_spent_in(ledger: Ledger) -> None:
    ledger.set_limit("s", 1.0)
    ledger.record_usage("s", "gpt-4o", input_tokens=10_000, output_tokens=300, at=at(12))
    ledger.record_usage("s", "gpt-4o", input_tokens=10_000, output_tokens=300, at=at(12, 20))

    since_first = ledger.budget_status("s", now=at(12, 30))
    whole_window = ledger.budget_status("s", now=at(12, 30), window_hours=0.25)

    assert since_first.burn_span_hours == pytest.approx(0.5)
    assert since_first.burn_rate_usd_per_hour == pytest.approx(0.056 / 0.5)
    assert ("$0.056 spent in the last 24 h (first call 30 minutes ago): burn rate "
            "$0.112/hour") in spend_render.budget_status(since_first)
    assert whole_window.burn_span_hours == 0.25
    assert whole_window.burn_rate_usd_per_hour == pytest.approx(0.028 / 0.25)
    assert ("$0.028 spent in the last 0.25 h: burn rate $0.112/hour"
            in spend_render.budget_status(whole_window))


def test_status_text_of_a_scope_with_no_calls_says_so(ledger: Ledger) -> None:
    fresh = ledger.budget_status("new")
    assert fresh.burn_rate_usd_per_hour is None and fresh.burn_span_hours == 0
    assert "nothing spent in the last 24 h: no calls recorded yet" in spend_render.budget_status(
        fresh)

    ledger.record_usage("old", "gpt-4o", input_tokens=1_000, output_tokens=0, at=at(9))
    quiet = ledger.budget_status("old", now=at(12, day=6))
    assert "nothing spent in the last 24 h: burn rate $0/hour" in spend_render.budget_status(quiet)


def test_period_bounds_are_calendar_periods_in_utc() -> None:
    moment = at(15, 45, day=2).timestamp()  # Wednesday 2 December 2026
    assert period_bounds("hour", moment) == (at(15, day=2).timestamp(), at(16, day=2).timestamp())
    assert period_bounds("week", moment)[0] == at(0, day=30).replace(month=11).timestamp()
    start, end = period_bounds("month", datetime.datetime(2026, 12, 31, tzinfo=UTC).timestamp())
    assert (start, end) == (datetime.datetime(2026, 12, 1, tzinfo=UTC).timestamp(),
                            datetime.datetime(2027, 1, 1, tzinfo=UTC).timestamp())
    with pytest.raises(ValueError, match="period must be one of hour, day, week, month"):
        period_bounds("fortnight", moment)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda ledger: ledger.record_usage("", "gpt-4o", input_tokens=1, output_tokens=1),
         ValueError, "scope must be 1 to 200 characters"),
        (lambda ledger: ledger.record_usage("s", "gpt-4o-mimi", input_tokens=1, output_tokens=1),
         ValueError, "did you mean 'gpt-4o-mini'"),
        (lambda ledger: ledger.record_usage("s", "gpt-4o", input_tokens=-1, output_tokens=1),
         ValueError, "input_tokens must be at least 0"),
        (lambda ledger: ledger.record_usage("s", "gpt-4o", input_tokens=1, output_tokens=1,
                                  at=datetime.datetime(2026, 1, 1)), ValueError,
         "at must be timezone-aware"),
        (lambda ledger: ledger.set_limit("s", -1), ValueError, "usd must be a finite amount"),
        (lambda ledger: ledger.set_limit("s", 1, period="year"), ValueError,
         "period must be one of"),
        (lambda ledger: ledger.budget_status("s", window_hours=0), ValueError,
         "window_hours must be"),
        (lambda ledger: ledger.set_limit("s", 1e300), ValueError,
         r"usd must be at most \$4,611,686,018\.42, got 1e\+300$"),
        (lambda ledger: ledger.set_limit("s", 1e-10), ValueError,
         r"usd 0.0000000001 rounds to \$0: the ledger keeps whole nano-dollars"),
        (lambda ledger: ledger.record_usage("s", "gpt-4o", input_tokens=1, output_tokens=1,
                                            at="9999-12-31"), ValueError,
         r"at must not be more than 5 minutes in the future \(now is .*\), got 9999-12-31T"),
        (lambda ledger: ledger.record_usage("s", "gpt-4o", input_tokens=1, output_tokens=1,
                                            at=1e20), ValueError,
         r"in the future .*got 100,000,000,000,000,000,000 seconds from 1970"),
        (lambda ledger: ledger.record_usage("s", "gpt-4o", input_tokens=1, output_tokens=1,
                                            at="1970-01-01"), ValueError,
         "at must be 2020-01-01 or later, got 1970-01-01T00:00:00"),
        (lambda ledger: ledger.record_usage("s", "gpt-4o", input_tokens=1, output_tokens=1,
                                            decision_id="nonexistent"), ValueError,
         r"decision_id must be a route_task decision id \('d-' and 24 hex digits\), "
         "got 'nonexistent'"),
    ],
)
def test_bad_input_names_the_parameter(tmp_path: Path, call, error: type, message: str) -> None:  # type: ignore[no-untyped-def]
    with Ledger(tmp_path / "ledger.sqlite3") as ledger, pytest.raises(error, match=message):
        call(ledger)


def test_refused_input_records_nothing(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        with pytest.raises(ValueError):
            ledger.record_usage("s", "gpt-4o", input_tokens=1, output_tokens=1, at="9999-12-31")
        with pytest.raises(ValueError):
            ledger.set_limit("s", 1e-10)
        assert ledger.usage("s") == [] and ledger.limit("s") is None


def test_limits_from_zero_to_one_nano_dollar_are_kept(ledger: Ledger) -> None:
    assert ledger.set_limit("s", 0).usd == 0
    assert ledger.set_limit("s", 1e-9).usd == 1e-9
    assert ledger.set_limit("s", 4_611_686_018).usd == 4_611_686_018


def test_a_call_recorded_a_few_minutes_ahead_is_accepted(ledger: Ledger) -> None:
    # Clocks of machines sharing a ledger differ a little.
    ahead = time.time() + 120
    assert ledger.record_usage("s", "gpt-4o", input_tokens=1, output_tokens=1, at=ahead)


def test_status_counts_only_what_was_recorded_by_its_moment(ledger: Ledger) -> None:
    ledger.record_usage("s", "gpt-4o", input_tokens=1_000, output_tokens=0, at=at(9))  # $0.0025
    ledger.record_usage("s", "gpt-4o", input_tokens=2_000, output_tokens=0, at=at(11))  # $0.005

    unlimited = ledger.budget_status("s", now=at(10))
    ledger.set_limit("s", 1.0, period="day")
    daily = ledger.budget_status("s", now=at(10))

    for status in (unlimited, daily):
        assert status.records == 1
        assert status.spent_usd == status.lifetime_spent_usd == pytest.approx(0.0025)
    assert ledger.budget_status("s", now=at(12)).spent_usd == pytest.approx(0.0075)


def test_a_cost_the_ledger_cannot_hold_is_named(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prices = tmp_path / "prices.json"
    # The dearest prices a catalog file may give, on the largest call: $200,000,000 a call, so
    # the 24th call would take the scope past what the ledger can hold.
    prices.write_text('{"models": [{"id": "gpt-4o", "input_per_mtok": 1e6,'
                      ' "output_per_mtok": 1e6}]}', encoding="utf-8")
    monkeypatch.setenv("SHOAL_PRICES", str(prices))
    largest = {"input_tokens": 100_000_000, "output_tokens": 100_000_000}

    for _ in range(23):
        ledger.record_usage("s", "gpt-4o", **largest)
    with pytest.raises(LedgerError, match=r"scope 's' has spent \$4,600,000,000.00; this call "
                                          r"\(\$200,000,000.00\) would take it past"):
        ledger.record_usage("s", "gpt-4o", **largest)
    assert len(ledger.usage("s")) == 23


def test_a_refusal_names_the_way_to_raise_the_limit_on_every_surface(ledger: Ledger) -> None:
    ledger.set_limit("s", 0.001)

    with pytest.raises(BudgetExceededError) as refused:
        ledger.record_usage("s", "gpt-4o", input_tokens=1_000, output_tokens=0)

    message = str(refused.value)
    assert "shoal ledger limit --scope SCOPE --usd AMOUNT [--soft]" in message
    assert "MCP set_budget_limit with hard: false" in message
    assert "Python set_limit(scope, usd, hard=False)" in message
    assert "too little" not in message


def test_location_comes_from_the_environment_or_the_data_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SHOAL_LEDGER", str(tmp_path / "here.sqlite3"))
    assert default_location() == str(tmp_path / "here.sqlite3")
    monkeypatch.delenv("SHOAL_LEDGER")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    if sys.platform.startswith("linux"):
        assert default_location() == str(tmp_path / "data" / "shoal" / "ledger.sqlite3")
    assert describe_location("postgresql://u:secret@h:5432/db") == "postgresql://u@h:5432/db"


def test_sqlite_ledger_is_in_wal_mode(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        ledger.record_usage("s", "gpt-4o", input_tokens=1, output_tokens=1)
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unreachable_postgres_is_a_clear_error() -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(LedgerError, match=r"cannot connect to the ledger at "
                                          r"postgresql://nobody@127.0.0.1:9/x"):
        Ledger("postgresql://nobody:pw@127.0.0.1:9/x")


# ---- separate processes ------------------------------------------------------------------------


def _backend(location: str) -> str:
    return "postgresql" if location.startswith("postgresql") else "sqlite"


def _writer(location: str, scope: str, prefix: str, count: int, acks: Path,
            shared_every: int = 0) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(WRITER), location, scope, prefix, str(count), str(acks),
         str(shared_every)],
        stderr=subprocess.PIPE,
    )


def _acks(path: Path) -> list[tuple[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [tuple(line.split(" ", 1)) for line in lines if line != "ready"]  # type: ignore[misc]


def _wait(process: subprocess.Popen[bytes]) -> None:
    _, stderr = process.communicate(timeout=HANG_GUARD_S)
    assert process.returncode == 0, stderr.decode()


WRITERS = 8
RECORDS_EACH = 200
SHARED_EVERY = 20


def test_concurrent_writer_processes_lose_no_update(location: str, tmp_path: Path) -> None:
    Ledger(location).close()  # create the schema once, as a deployment would
    started = time.perf_counter()
    processes = [
        _writer(location, "team", f"w{k}", RECORDS_EACH, tmp_path / f"acks{k}", SHARED_EVERY)
        for k in range(WRITERS)
    ]
    for process in processes:
        _wait(process)
    elapsed = time.perf_counter() - started

    acks = [ack for k in range(WRITERS) for ack in _acks(tmp_path / f"acks{k}")]
    shared_ids = RECORDS_EACH // SHARED_EVERY
    outcomes = Counter(kind for kind, _ in acks)
    # Every writer sent every shared id; exactly one of them recorded each.
    assert outcomes == {"ok": WRITERS * RECORDS_EACH + shared_ids,
                        "dup": (WRITERS - 1) * shared_ids}

    with Ledger(location) as ledger:
        rows = ledger.usage("team")
        status = ledger.budget_status("team")
    expected = WRITERS * RECORDS_EACH + shared_ids
    assert len(rows) == expected
    assert len({row.request_id for row in rows}) == expected
    assert sum(row.input_tokens for row in rows) == expected * 1_000
    assert status.records == expected
    assert round(status.spent_usd * 1e9) == expected * CALL_NANOUSD
    print(f"\n{_backend(location)}: {WRITERS} processes x {RECORDS_EACH} records "
          f"(+{shared_ids} shared ids) in {elapsed:.2f} s: {len(rows)} rows, exact total")


def test_concurrent_writers_cannot_overrun_a_hard_limit(location: str, tmp_path: Path) -> None:
    fits = 57
    with Ledger(location) as ledger:
        ledger.set_limit("capped", fits * CALL_NANOUSD / 1e9)
    processes = [_writer(location, "capped", f"w{k}", 25, tmp_path / f"acks{k}")
                 for k in range(4)]
    for process in processes:
        _wait(process)

    outcomes = Counter(kind for k in range(4) for kind, _ in _acks(tmp_path / f"acks{k}"))
    assert outcomes == {"ok": fits, "refused": 100 - fits}
    with Ledger(location) as ledger:
        status = ledger.budget_status("capped")
    assert status.records == fits and status.remaining_usd == pytest.approx(0, abs=1e-12)


def _kill_mid_write(location: str, acks: Path, scope: str, prefix: str, after: int) -> int:
    """Start a writer in an endless insert loop; SIGKILL it after ``after`` acknowledgements."""
    process = _writer(location, scope, prefix, 0, acks)
    deadline = time.monotonic() + HANG_GUARD_S
    while len(_acks(acks)) < after:
        assert process.poll() is None, process.stderr.read().decode()  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "writer made no progress"
        time.sleep(0.002)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=HANG_GUARD_S)  # reaps it and closes its stderr pipe
    assert process.returncode == -signal.SIGKILL
    return len(_acks(acks))


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_kill_9_mid_write_keeps_every_acknowledged_record_exactly_once(
    location: str, tmp_path: Path
) -> None:
    Ledger(location).close()
    acknowledged: set[str] = set()
    for round_number, after in enumerate((150, 400, 700)):
        acks = tmp_path / f"acks{round_number}"
        _kill_mid_write(location, acks, "crash", f"r{round_number}", after)
        acknowledged |= {request_id for _, request_id in _acks(acks)}

    if location.startswith("postgresql"):
        import psycopg

        with psycopg.connect(location) as connection:
            total, distinct = connection.execute(
                "SELECT COUNT(*), COUNT(DISTINCT request_id) FROM shoal_usage").fetchone()
            assert total == distinct
    else:
        with sqlite3.connect(location) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]

    with Ledger(location) as ledger:
        rows = ledger.usage("crash")
        spent = ledger.budget_status("crash").spent_usd
        # The ledger still takes writes.
        ledger.record_usage("crash", "gpt-4o-mini", input_tokens=1_000, output_tokens=100)
    stored = Counter(row.request_id for row in rows)
    assert all(stored[request_id] == 1 for request_id in acknowledged)
    # At most one commit per killed writer can land between its commit and its acknowledgement.
    assert len(acknowledged) <= len(rows) <= len(acknowledged) + 3
    assert round(spent * 1e9) == len(rows) * CALL_NANOUSD
    print(f"\n{_backend(location)}: 3 writers killed with SIGKILL after {len(acknowledged)} "
          f"acknowledged records; {len(rows)} rows stored, none lost or doubled")


def test_writers_share_a_ledger_through_the_environment(tmp_path: Path) -> None:
    location = tmp_path / "env.sqlite3"
    script = (
        "from shoal.ledger import record_usage, budget_status\n"
        "record_usage('s', 'gpt-4o', input_tokens=1000, output_tokens=0)\n"
        "print(budget_status('s').records)\n"
    )
    environment = {**os.environ, "SHOAL_LEDGER": str(location)}
    outputs = [subprocess.run([sys.executable, "-c", script], env=environment, check=True,
                              capture_output=True, text=True).stdout for _ in range(2)]
    assert [output.strip() for output in outputs] == ["1", "2"]
    with Ledger(location) as ledger:
        assert len(ledger.usage()) == 2


def test_a_refusal_gives_the_amounts_as_the_status_shows_them(ledger: Ledger) -> None:
    ledger.set_limit("s", 0.5, period="day")
    ledger.record_usage("s", "claude-sonnet-4-5", input_tokens=42_000, cached_input_tokens=36_000,
                        output_tokens=1_200)  # $0.0468

    with pytest.raises(BudgetExceededError) as caught:
        ledger.record_usage("s", "gpt-5", input_tokens=200_000, output_tokens=30_000,
                            reasoning_tokens=8_000)
    status = spend_render.budget_status(ledger.budget_status("s"))

    assert ("hard limit of $0.50 per day; $0.0468 is spent, so $0.453 is left, and this call "
            "costs $0.63.") in str(caught.value)
    assert "  hard limit $0.50 per day (UTC): $0.453 left" in status.splitlines()


def test_a_limit_below_the_spend_is_set_with_a_note_saying_so(ledger: Ledger) -> None:
    ledger.record_usage("s", "gpt-4o", input_tokens=2_000, output_tokens=100)  # $0.006

    hard = ledger.set_limit("s", 0.005)
    soft = ledger.set_limit("s", 0.005, hard=False)
    above = ledger.set_limit("s", 0.006)

    assert hard.notes == ("s has already spent $0.006, over this limit of $0.005: every call "
                          "that costs anything is refused until the limit is raised",)
    assert soft.notes == ("replaces the earlier hard limit of $0.005: a scope has one limit",
                          "s has already spent $0.006, over this limit of $0.005: every call "
                          "recorded is flagged as over it")
    # Reaching a limit exactly is allowed: only the replacement is noted.
    assert above.notes == ("replaces the earlier soft limit of $0.005: a scope has one limit",)
    assert spend_render.budget_limit(hard).splitlines() == [
        "s: hard limit $0.005", f"  note: {hard.notes[0]}"
    ]


def test_a_record_of_a_retired_model_carries_the_note_a_retry_too(ledger: Ledger) -> None:
    note = ("claude-sonnet-4-5 was retired on 2026-11-30 per the catalog; its prices may no "
            "longer apply")

    first = ledger.record_usage("s", "claude-sonnet-4-5", input_tokens=1_000, request_id="r")
    retried = ledger.record_usage("s", "claude-sonnet-4-5", input_tokens=1_000, request_id="r")

    assert first.notes == retried.notes == (note,)
    assert spend_render.usage_record(first).splitlines()[1] == f"  note: {note}"


def test_a_limit_that_replaces_another_says_so(ledger: Ledger) -> None:
    first = ledger.set_limit("s", 0.10, period="day")
    same = ledger.set_limit("s", 0.10, period="day")
    softer = ledger.set_limit("s", 0.05, hard=False, period="day")

    assert first.notes == () and same.notes == ()
    assert softer.notes == ("replaces the earlier hard limit of $0.10 per day: a scope has one "
                            "limit",)
    assert ledger.set_limit("s", 1).notes == (
        "replaces the earlier soft limit of $0.05 per day: a scope has one limit",)


def test_a_limit_is_stated_with_every_digit_it_has_and_the_spend_beside_it_reads_true(
    ledger: Ledger,
) -> None:
    # 401,200 input tokens of gpt-4o cost $1.003; 1,000 more, $0.0025.
    limit = ledger.set_limit("s", 1.005)
    recorded = ledger.record_usage("s", "gpt-4o", input_tokens=401_200)
    with pytest.raises(BudgetExceededError) as refused:
        ledger.record_usage("s", "gpt-4o", input_tokens=1_000)
    status = ledger.budget_status("s")
    soft = ledger.set_limit("s", 1, hard=False)

    assert spend_render.budget_limit(limit) == "s: hard limit $1.005"
    assert spend_render.usage_record(recorded).splitlines()[0] == (
        "recorded: gpt-4o $1.003 to s (prices of 2026-12-04); spent $1.003 of $1.005")
    assert str(refused.value).startswith(
        "refused: scope 's' has a hard limit of $1.005; $1.003 is spent, so $0.002 is left, and "
        "this call costs $0.0025.")
    shown = spend_render.budget_status(status).splitlines()
    assert shown[:2] == ["s: spent $1.003; 1 call recorded, $1.003 in all",
                         "  hard limit $1.005: $0.002 left"]
    assert shown[2].startswith("  $1.003 spent in the last 24 h (first call ")
    assert soft.notes == (
        "replaces the earlier hard limit of $1.005: a scope has one limit",
        "s has already spent $1.003, over this limit of $1.00: every call recorded is flagged "
        "as over it")


def test_spend_just_under_a_limit_in_cents_is_not_shown_as_reaching_it(ledger: Ledger) -> None:
    ledger.set_limit("s", 2)
    # $1.9975, with $0.0025 left: in cents alone, "$2.00 is spent, so $0.0025 is left".
    ledger.record_usage("s", "gpt-4o", input_tokens=799_000)
    with pytest.raises(BudgetExceededError) as refused:
        ledger.record_usage("s", "gpt-4o", input_tokens=1_200)
    status = ledger.budget_status("s")
    ledger.record_usage("s", "gpt-4o", input_tokens=1_000)

    assert ("hard limit of $2.00; $1.998 is spent, so $0.0025 is left, and this call costs "
            "$0.003.") in str(refused.value)
    assert spend_render.budget_status(status).splitlines()[:2] == [
        "s: spent $1.998; 1 call recorded, $1.998 in all", "  hard limit $2.00: $0.0025 left"]
    assert spend_render.budget_status(ledger.budget_status("s")).splitlines()[:2] == [
        "s: spent $2.00; 2 calls recorded, $2.00 in all", "  hard limit $2.00: reached, $0 left"]


@pytest.mark.parametrize(
    ("limit", "spent", "cost", "places"),
    [
        (5, None, None, 2), (0.5, 0.0468, 0.63, 2), (1.005, None, None, 3),
        (4_611_686_018.42, None, None, 2), (0.000000001, None, None, 9),
        (5, 4.99833, None, 3), (5, 5.000000001, None, 9), (5, 5, None, 2),
        (2, 1.9975, 0.003, 3), (1, 0.99, 0.0100001, 7), (1, 0.9975, 0.003, 2),
    ],
)
def test_a_limit_statement_has_the_digits_it_needs_and_no_more(
    limit: float, spent: float | None, cost: float | None, places: int
) -> None:
    from shoal.ledger import limit_places

    assert limit_places(limit, spent, cost_usd=cost) == places


def test_the_largest_limit_stated_is_the_largest_taken(ledger: Ledger) -> None:
    from shoal.ledger import MAX_LIMIT_USD

    assert ledger.set_limit("s", MAX_LIMIT_USD).usd == 4_611_686_018.42
    with pytest.raises(ValueError, match=r"at most \$4,611,686,018\.42, got 4,611,686,018\.43"):
        ledger.set_limit("s", 4_611_686_018.43)


# ---- scopes that print alike are one scope ----

CAFE_COMPOSED = "caf\u00e9"
CAFE_DECOMPOSED = "cafe\u0301"


def test_a_limit_on_a_composed_scope_holds_for_its_decomposed_spelling(ledger: Ledger) -> None:
    ledger.set_limit(CAFE_COMPOSED, 0.003)
    ledger.record_usage(CAFE_DECOMPOSED, "gpt-4o", input_tokens=1_000)  # $0.0025

    with pytest.raises(BudgetExceededError):
        ledger.record_usage(CAFE_DECOMPOSED, "gpt-4o", input_tokens=1_000)
    status = ledger.budget_status(CAFE_DECOMPOSED)
    assert (status.scope, status.records) == (CAFE_COMPOSED, 1)
    assert [row.scope for row in ledger.usage(CAFE_COMPOSED)] == [CAFE_COMPOSED]


@pytest.mark.parametrize("scope", [f"{CAFE_COMPOSED} ", f" {CAFE_COMPOSED}"])
def test_a_scope_with_whitespace_around_it_is_refused(ledger: Ledger, scope: str) -> None:
    with pytest.raises(ValueError, match="scope must not start or end with whitespace"):
        ledger.record_usage(scope, "gpt-4o", input_tokens=1_000)
    with pytest.raises(ValueError, match="scope must not start or end with whitespace"):
        ledger.set_limit(scope, 1.0)


def test_rows_and_limits_stored_under_a_decomposed_scope_are_still_read(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    Ledger(path).close()
    # What an earlier shoal stored for a scope typed decomposed.
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO shoal_usage (scope, recorded_at, model, input_tokens, output_tokens, "
            "cached_input_tokens, cache_write_tokens, reasoning_tokens, cost_nanousd, "
            "line_items, catalog_date) VALUES (?, ?, 'gpt-4o', 1000, 0, 0, 0, 0, 2500000, "
            "'[]', '2026-01-01')", (CAFE_DECOMPOSED, time.time() - 60))
        connection.execute(
            "INSERT INTO shoal_limits (scope, limit_nanousd, hard, period, set_at) "
            "VALUES (?, 3000000, 1, NULL, ?)", (CAFE_DECOMPOSED, time.time() - 60))
    connection.close()

    with Ledger(path) as ledger:
        assert ledger.budget_status(CAFE_COMPOSED).records == 1
        with pytest.raises(BudgetExceededError):
            ledger.record_usage(CAFE_COMPOSED, "gpt-4o", input_tokens=1_000)
        assert ledger.remove_limit(CAFE_COMPOSED)
        assert ledger.limit(CAFE_COMPOSED) is None
