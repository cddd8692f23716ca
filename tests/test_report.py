"""Savings report, its charts, and the budget, ledger, report and cost commands."""

from __future__ import annotations

import datetime
import json
import sqlite3
import xml.etree.ElementTree as ElementTree
from dataclasses import replace
from pathlib import Path

import pytest

from shoal import report as report_module
from shoal import spend_render
from shoal.catalog import UnknownModelError, load_catalog
from shoal.cli import main
from shoal.cost import estimate_cost
from shoal.ledger import BudgetLimit, BudgetStatus, open_ledger, record_usage
from shoal.report import OtherModels, OtherScopes, savings_report, spend_svg, terminal_chart

UTC = datetime.timezone.utc


def at(day: int, hour: int = 12) -> datetime.datetime:
    return datetime.datetime(2026, 12, day, hour, tzinfo=UTC)


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    location = str(tmp_path / "ledger.sqlite3")
    # Day 1: two cheap routed calls; day 3: one call on the strong model. Nothing on day 2.
    record_usage("session:a", "gpt-4.1-mini", input_tokens=100_000, output_tokens=10_000,
                 decision_id="d-" + "1" * 24, at=at(1), ledger=location)  # $0.04 + $0.016
    record_usage("session:a", "gpt-4.1-mini", input_tokens=50_000, output_tokens=0,
                 decision_id="d-" + "2" * 24, at=at(1, 15), ledger=location)  # $0.02
    record_usage("session:b", "gpt-4o", input_tokens=10_000, output_tokens=1_000,
                 at=at(3), ledger=location)  # $0.025 + $0.01
    return location


def test_savings_against_a_named_baseline_per_scope_model_and_day(ledger: str) -> None:
    report = savings_report(baseline="gpt-4o", bucket="day", ledger=ledger)
    # On gpt-4o: 160,000 input x $2.50 + 11,000 output x $10 = $0.51.
    assert report.records == 3 and report.routed_records == 2
    assert report.spent_usd == pytest.approx(0.111)
    assert report.baseline_usd == pytest.approx(0.51)
    assert report.savings_usd == pytest.approx(0.399)
    assert report.savings_fraction == round(0.399 / 0.51, 6) == 0.782353  # as compare_costs
    assert report.by_scope[0].savings_fraction == round((0.475 - 0.076) / 0.475, 6)
    assert report.baseline_rule == "named"

    assert [(row.scope, row.records, row.routed_records) for row in report.by_scope] == [
        ("session:a", 2, 2), ("session:b", 1, 0)]
    assert report.by_scope[0].baseline_usd == pytest.approx(0.475)
    assert report.by_scope[1].savings_usd == pytest.approx(0)
    assert [(m.model, m.records, m.input_tokens) for m in report.by_model] == [
        ("gpt-4.1-mini", 2, 150_000), ("gpt-4o", 1, 10_000)]

    assert report.bucket == "day"
    assert [(p.start[:10], p.records) for p in report.series] == [
        ("2026-12-01", 2), ("2026-12-02", 0), ("2026-12-03", 1)]
    assert report.series[0].spent_usd == pytest.approx(0.076)


def test_default_baseline_is_the_dearest_model_used(ledger: str) -> None:
    report = savings_report(ledger=ledger)
    assert report.baseline == "gpt-4o"
    assert report.baseline_rule.startswith("dearest model used")
    one_model = savings_report("session:a", ledger=ledger)
    assert one_model.baseline == "gpt-4.1-mini" and one_model.savings_usd == 0


def test_period_and_bucket_selection(ledger: str, monkeypatch: pytest.MonkeyPatch) -> None:
    later = savings_report(since="2026-12-02", ledger=ledger, baseline="gpt-4o")
    assert later.records == 1 and later.since == "2026-12-02T00:00:00.000000Z"
    hourly = savings_report("session:a", bucket="hour", ledger=ledger, baseline="gpt-4o")
    assert len(hourly.series) == 4 and hourly.series[-1].start.endswith("T15:00:00.000000Z")
    with pytest.raises(ValueError, match="until must be later than since"):
        savings_report(since="2026-12-03", until="2026-12-01", ledger=ledger)
    with pytest.raises(ValueError, match="did you mean"):
        savings_report(baseline="gpt-4o-mimi", ledger=ledger)
    empty = savings_report(since="2027-01-01", ledger=ledger)
    assert empty.records == 0 and empty.baseline is None and empty.series == ()
    # Unset, the finest bucket with at most 60 over the span: 49 hours from day 1 noon.
    automatic = savings_report(ledger=ledger)
    assert automatic.bucket == "hour" and len(automatic.series) == 49
    monkeypatch.setenv("SHOAL_BASELINE_MODEL", "claude-opus-4-5")
    assert savings_report(ledger=ledger).baseline == "claude-opus-4-5"


def test_an_unknown_baseline_from_the_environment_names_the_variable(
    ledger: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHOAL_BASELINE_MODEL", "gpt-4o-mimi")

    with pytest.raises(UnknownModelError, match=r"^SHOAL_BASELINE_MODEL: unknown model "
                                                "'gpt-4o-mimi': did you mean"):
        savings_report(ledger=ledger)
    assert main(["report", "--ledger", ledger]) == 2
    assert capsys.readouterr().err.startswith(
        "shoal report: error: SHOAL_BASELINE_MODEL: unknown model 'gpt-4o-mimi'")
    # A baseline named outright is the one used, and its error names no variable.
    with pytest.raises(UnknownModelError, match=r"^unknown model 'bogus'"):
        savings_report(baseline="bogus", ledger=ledger)


def test_charts(ledger: str) -> None:
    report = savings_report(baseline="gpt-4o", bucket="day", ledger=ledger)
    lines = terminal_chart(report, width=20).splitlines()
    assert lines[0] == "spend per day (█ with routing, ░ on gpt-4o)"
    # Day 1: $0.076 of $0.475 (the largest amount, 20 cells): 3.2 cells (26 eighths) of spend.
    assert lines[1] == "   2026-12-01 ███▎░░░░░░░░░░░░░░░░ $0.076 of $0.475"
    assert lines[2].endswith("$0 of $0")

    svg = spend_svg(report)
    root = ElementTree.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "$0.111 with routing vs $0.51 on gpt-4o" in svg and "saved $0.399 (78%)" in svg
    assert len(root.findall("{http://www.w3.org/2000/svg}polyline")) == 2


def test_charts_of_amounts_under_a_cent_are_in_plain_decimals(tmp_path: Path) -> None:
    location = str(tmp_path / "ledger.sqlite3")
    # 5 input tokens on gpt-4o at $2.50 per million: $0.0000125.
    record_usage("s", "gpt-4o", input_tokens=5, at=at(1), ledger=location)
    report = savings_report(ledger=location)

    chart = terminal_chart(report)
    svg = spend_svg(report)

    assert chart.splitlines()[1].endswith("$0.0000125 of $0.0000125")
    assert "Spend: $0.0000125 with routing vs $0.0000125 on gpt-4o" in svg
    # The axis runs to $0.000015 in quarters.
    assert ">$0.00000375</text>" in svg and ">$0.0000075</text>" in svg
    assert "e-" not in chart and "e-0" not in svg


def test_cli_ledger_report_budget_and_cost(
    ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # --ledger and --prices set these for the process (and a server's tools); restore them.
    monkeypatch.setenv("SHOAL_LEDGER", ledger)
    monkeypatch.setenv("SHOAL_PRICES", "")
    assert main(["ledger", "limit", "--scope", "session:c", "--usd", "0.05", "--period", "day",
                 "--ledger", ledger]) == 0
    assert main(["ledger", "record", "--scope", "session:c", "--model", "gpt-4o", "--input",
                 "10000", "--output", "1000", "--request-id", "r1", "--ledger", ledger]) == 0
    assert main(["ledger", "record", "--scope", "session:c", "--model", "gpt-4o", "--input",
                 "10000", "--output", "1000", "--request-id", "r1", "--ledger", ledger]) == 0
    out = capsys.readouterr().out
    assert "session:c: hard limit $0.05 per day (UTC)" in out
    assert "recorded: gpt-4o $0.035 to session:c" in out and "already recorded" in out
    assert main(["ledger", "record", "--scope", "session:c", "--model", "gpt-4o", "--input",
                 "10000", "--ledger", ledger]) == 2
    assert "refused: scope 'session:c' has a hard limit" in capsys.readouterr().err
    assert main(["ledger", "status", "--scope", "session:c", "--json", "--ledger", ledger]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["records"] == 1 and status["remaining_usd"] == pytest.approx(0.015)

    svg = tmp_path / "spend.svg"
    assert main(["report", "--baseline", "gpt-4o", "--bucket", "day", "--svg", str(svg),
                 "--ledger", ledger]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("all scopes: $0.146 spent on 4 calls (2 routed)")
    assert err == f"shoal report: wrote {svg}\n"
    assert "spend per day" in out and svg.read_text(encoding="utf-8").startswith("<svg")

    items = tmp_path / "items.json"
    items.write_text(json.dumps([{"id": "a", "text": "hello world", "required": True}]),
                     encoding="utf-8")
    assert main(["budget", "fit", str(items), "--model", "gpt-4o", "--budget", "10"]) == 0
    assert capsys.readouterr().out.startswith("2 of 10 tokens used (exact, o200k_base), 8 left")

    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"models": [{"id": "gpt-4o", "input_per_mtok": 1.0}]}),
                      encoding="utf-8")
    assert main(["cost", "--compare", "gpt-4o,gpt-4.1-mini", "--baseline", "gpt-4o", "--input",
                 "1000000", "--prices", str(prices)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "gpt-4.1-mini: $0.40, saves $0.60 (60%) vs gpt-4o",
        "gpt-4o: $1.00 (the baseline)",
        "  note: 1,000,000 input tokens per call exceed gpt-4o's input limit of 128,000; the API "
        "would reject the call",
    ]


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ({"input_tokens": 500}, "the plan must be a JSON list of steps"),
        # In JSON's words: the plan is a JSON file.
        ([500], "plan step 1 must be an object of token counts, got 500"),
        ([{"input_tokens": "500"}], "plan step 1: input_tokens must be a whole number, got '500'"),
        ([{"input_tokens": None}], "plan step 1: input_tokens must be a whole number, got null"),
        ([{"calls": True}], "plan step 1: calls must be a whole number, got true"),
    ],
)
@pytest.mark.parametrize("models", [["gpt-4o"], ["--compare", "gpt-4o,gpt-4.1-mini"]])
def test_cli_cost_names_a_plan_file_of_the_wrong_shape(
    plan: object, message: str, models: list[str], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan), encoding="utf-8")

    assert main(["cost", *models, "--plan", str(path)]) == 2
    assert f"shoal cost: error: --plan {path}: {message}" in capsys.readouterr().err


def test_a_scope_on_the_baseline_alone_saves_exactly_nothing(tmp_path: Path) -> None:
    location = str(tmp_path / "ledger.sqlite3")
    # $0.10 and $0.20 on gpt-4o: as floats they add up to 0.30000000000000004.
    for tokens in (40_000, 80_000):
        record_usage("s", "gpt-4o", input_tokens=tokens, output_tokens=0, at=at(1),
                     ledger=location)

    report = savings_report(ledger=location)

    assert report.baseline == "gpt-4o"
    assert report.savings_usd == 0 and report.savings_fraction == 0
    assert report.baseline_usd == report.spent_usd == 0.3
    assert report.by_scope[0].savings_usd == 0 and report.series[0].baseline_usd == 0.3
    assert "saved $0 (0%)" in spend_render.savings_report(report, chart=False)


def cheap_gpt_4o(tmp_path: Path) -> Path:
    """A price file that halves gpt-4o's prices and gives no as_of: the dates stay the same."""
    prices = tmp_path / "half.json"
    prices.write_text(json.dumps({"models": [
        {"id": "gpt-4o", "input_per_mtok": 1.25, "output_per_mtok": 5.0}]}), encoding="utf-8")
    return prices


def test_calls_on_the_baseline_save_nothing_whatever_prices_they_were_recorded_at(
    tmp_path: Path,
) -> None:
    location = str(tmp_path / "ledger.sqlite3")
    half = load_catalog(cheap_gpt_4o(tmp_path))
    for _ in range(3):  # $0.125 + $0.025 each at the halved prices
        record_usage("team", "gpt-4o", input_tokens=100_000, output_tokens=5_000, at=at(1),
                     ledger=location, catalog=half)

    report = savings_report("team", ledger=location)

    assert report.baseline == "gpt-4o"
    assert report.spent_usd == report.baseline_usd == 0.45
    assert report.savings_usd == 0 and report.series[0].baseline_usd == 0.45
    [note] = report.notes
    assert note.startswith("3 calls on gpt-4o were recorded at other prices than this report's "
                           "(recorded: prices of 2026-12-04 from user file half.json; this "
                           "report: prices of 2026-12-04)")


def test_report_names_the_baseline_prices_a_user_file_sets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOAL_PRICES", "")  # --prices sets it; put it back after
    monkeypatch.setenv("SHOAL_LEDGER", "")  # --ledger sets it too
    location = str(tmp_path / "ledger.sqlite3")
    record_usage("t", "gpt-4.1-mini", input_tokens=100_000, at=at(1), ledger=location)
    prices = tmp_path / "p.json"
    prices.write_text(json.dumps({"models": [
        {"id": "gpt-4o", "input_per_mtok": 2.0, "output_per_mtok": 8.0, "as_of": "2026-11-30"}]}),
        encoding="utf-8")
    arguments = ["report", "--scope", "t", "--baseline", "gpt-4o", "--prices", str(prices),
                 "--ledger", location]

    assert main(arguments) == 0
    text = capsys.readouterr().out
    assert main([*arguments, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)

    assert "  baseline: gpt-4o (named; prices of 2026-11-30 from user file p.json)\n" in text
    assert (report["baseline_prices_as_of"], report["baseline_price_file"]) == (
        "2026-11-30", "p.json"
    )
    assert report["baseline_usd"] == 0.2  # 100,000 input tokens at the file's $2 per million


def test_other_calls_recorded_at_other_prices_are_noted(tmp_path: Path) -> None:
    location = str(tmp_path / "ledger.sqlite3")
    half = load_catalog(cheap_gpt_4o(tmp_path))
    record_usage("s", "gpt-4o", input_tokens=100_000, output_tokens=0, at=at(1),
                 ledger=location, catalog=half)
    record_usage("s", "gpt-4.1-mini", input_tokens=100_000, output_tokens=0, at=at(1),
                 ledger=location)

    noted = savings_report(baseline="gpt-4.1-mini", ledger=location)
    same_prices = savings_report(baseline="gpt-4.1-mini", ledger=location, catalog=half)

    [note] = noted.notes
    assert note.startswith("1 call on gpt-4o was recorded at other prices than this report's")
    assert same_prices.notes == ()


def test_a_baseline_cheaper_than_the_spend_reads_as_costing_more(ledger: str) -> None:
    report = savings_report(baseline="gpt-4.1-mini", ledger=ledger)
    # On gpt-4.1-mini: 160,000 input x $0.40 + 11,000 output x $1.60 = $0.0816; spent $0.111.
    text = spend_render.savings_report(report, chart=False)
    svg = spend_svg(report)

    assert report.savings_usd == pytest.approx(-0.0294)
    assert "would have cost $0.0816: cost $0.0294 (36%) more" in text
    assert "session:b: $0.035 vs $0.0056, cost $0.0294 (525%) more" in text
    assert "cost $0.0294 (36%) more" in svg
    assert "-" not in text.split(": ", 2)[2].split("\n")[0] and "saved $-" not in svg


def test_report_text_counts_one_call_in_the_singular(tmp_path: Path) -> None:
    location = str(tmp_path / "ledger.sqlite3")
    record_usage("s", "gpt-4.1-mini", input_tokens=1_000, output_tokens=0, at=at(1),
                 ledger=location)

    text = spend_render.savings_report(savings_report(baseline="gpt-4o", ledger=location))

    assert "spent on 1 call (0 routed)" in text and "on 1 call, 1,000 in" in text
    assert "1 calls" not in text


def test_a_call_of_no_tokens_from_an_older_ledger_is_reported_at_nothing(tmp_path: Path) -> None:
    # Ledgers written before calls of no tokens were refused may hold one.
    location = tmp_path / "ledger.sqlite3"
    record_usage("s", "gpt-4.1-mini", input_tokens=1_000, output_tokens=0, at=at(1),
                 ledger=str(location))
    with sqlite3.connect(location) as connection:
        connection.execute("UPDATE shoal_usage SET input_tokens = 0, cost_nanousd = 0")

    report = savings_report(baseline="gpt-4o", ledger=str(location))

    assert report.spent_usd == 0 and report.baseline_usd == 0


def status(spent: float, limit: float | None, *, records: int = 1,
           hours_to_limit: float | None = None) -> BudgetStatus:
    remaining = None if limit is None else round(limit - spent, 9)
    return BudgetStatus(
        scope="s", as_of="2026-12-04T12:00:00.000000Z", spent_usd=spent,
        lifetime_spent_usd=spent, records=records,
        limit=None if limit is None else BudgetLimit("s", limit, True, None, "2026-12-04"),
        period_start=None, period_end=None, remaining_usd=remaining,
        window_hours=24.0, window_spent_usd=spent, burn_span_hours=24.0,
        burn_rate_usd_per_hour=0.5 if hours_to_limit else 0.0,
        hours_to_limit=hours_to_limit,
        limit_reached_at="2026-12-04T12:30:00.000000Z" if hours_to_limit else None,
        exceeded=limit is not None and spent > limit,
    )


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (status(0.5, 0.5), "  hard limit $0.50: reached, $0 left"),
        (status(0.75, 0.5), "  hard limit $0.50: EXCEEDED by $0.25"),
        (status(0.25, 0.5), "  hard limit $0.50: $0.25 left"),
        (status(0.25, 0.5, hours_to_limit=0.5),
         "  at this rate the limit is reached in 30 minutes (2026-12-04T12:30:00.000000Z)"),
        (status(0.25, 0.5, hours_to_limit=0.01), "the limit is reached in under a minute"),
        (status(0.25, 0.5, hours_to_limit=1 / 60), "the limit is reached in 1 minute ("),
        (status(0.25, 0.5, hours_to_limit=3.25), "the limit is reached in 3.2 h"),
        (status(0.0025, None), "s: spent $0.0025; 1 call recorded, $0.0025 in all"),
        (status(0.005, None, records=2), "s: spent $0.005; 2 calls recorded"),
    ],
)
def test_status_text(case: BudgetStatus, expected: str) -> None:
    assert expected in spend_render.budget_status(case)


def test_cli_refuses_out_of_range_amounts_and_times_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOAL_LEDGER", str(tmp_path / "session.sqlite3"))
    monkeypatch.setenv("SHOAL_PRICES", "")
    location = str(tmp_path / "ledger.sqlite3")
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"models": [{"id": "gpt-4o", "input_per_mtok": 1e300}]}),
                      encoding="utf-8")
    record = ["ledger", "record", "--scope", "x", "--model", "gpt-4o", "--input", "10",
              "--ledger", location]

    assert main(["ledger", "limit", "--scope", "x", "--usd", "1" + "0" * 300, "--ledger",
                 location]) == 2
    assert "usd must be at most $4,611,686,018.42, got 1e+300\n" in capsys.readouterr().err
    assert main([*record, "--prices", str(prices)]) == 2
    assert "must be at most 1,000,000 USD per million tokens" in capsys.readouterr().err
    assert main([*record, "--at", "9999-12-31"]) == 2
    assert "at must not be more than 5 minutes in the future" in capsys.readouterr().err
    assert main([*record, "--decision-id", "nonexistent"]) == 2
    assert "--decision-id must be a route_task decision id" in capsys.readouterr().err

    with pytest.raises(SystemExit):
        main(["ledger", "record", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "from 2020-01-01 to at most 5 minutes from now" in help_text


@pytest.mark.parametrize(
    ("fraction", "text"),
    [(0.77, " (77%)"), (0.0, " (0%)"), (-0.004, " (-0.4%)"), (0.0001234, " (0.012%)"),
     (1.2e-6, " (0.00012%)"), (9e-7, " (< 0.0001%)"), (-1e-12, " (> -0.0001%)"), (None, "")],
)
def test_a_share_under_one_percent_keeps_its_sign_and_digits(
    fraction: float | None, text: str
) -> None:
    assert report_module._share(fraction) == text


def test_the_default_baseline_names_a_model_it_passed_over_and_how_to_weigh_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOAL_PRICES", "")
    location = str(tmp_path / "ledger.sqlite3")
    prices = tmp_path / "prices.json"
    my_model = {"id": "my-model", "provider": "me", "name": "My Model", "input_per_mtok": 100.0,
                "output_per_mtok": 100.0, "cached_input_per_mtok": None,
                "cache_write_per_mtok": None, "context_window": 100_000,
                "max_output_tokens": 1024, "encoding": None, "token_ratio": 1.0,
                "open_weights": False, "params_b": None, "active_params_b": None,
                "quality": None, "quality_source": "none", "price_source": "me",
                "as_of": "2025-01-01"}
    prices.write_text(json.dumps({"models": [my_model]}), encoding="utf-8")
    for model, extra in (("my-model", ["--prices", str(prices)]), ("gpt-4o", [])):
        assert main(["ledger", "record", "--scope", "x", "--model", model, "--input", "1000",
                     "--ledger", location, *extra]) == 0
    monkeypatch.setenv("SHOAL_PRICES", "")
    capsys.readouterr()

    assert main(["report", "--ledger", location, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)

    assert report["baseline"] == "gpt-4o"
    assert ("the baseline passes over my-model, which this report's prices do not cover "
            "(recorded with a price file): give that file with --prices (SHOAL_PRICES) to weigh "
            "it too, or name a baseline") in report["notes"]


# ---- baseline notes ---------------------------------------------------------------------------


def report_text_and_json(
    arguments: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[str, dict[str, object]]:
    """``shoal report``'s text and its --json answer for the same arguments."""
    assert main(["report", *arguments]) == 0
    text = capsys.readouterr().out
    assert main(["report", *arguments, "--json"]) == 0
    return text, json.loads(capsys.readouterr().out)


def note_lines(text: str) -> list[str]:
    return [line.removeprefix("  note: ") for line in text.splitlines()
            if line.startswith("  note: ")]


def test_calls_past_the_baseline_s_limits_are_noted_once_however_many_they_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    location = str(tmp_path / "ledger.sqlite3")
    ledger = open_ledger(location)
    # 300 calls of as many prompt sizes past gpt-4o's 128,000-token input limit, on a model
    # whose window holds them.
    for number in range(300):
        ledger.record_usage("s", "gpt-4.1", input_tokens=130_000 + 500 * number,
                            output_tokens=10, at=at(1))
    expected = ("300 calls exceed gpt-4o's input limit of 128,000 tokens (the largest has "
                "279,500); the API would reject them")

    report = savings_report(baseline="gpt-4o", ledger=location)
    text, answer = report_text_and_json(["--baseline", "gpt-4o", "--ledger", location], capsys)

    assert report.notes == (expected,)
    assert note_lines(text) == [expected] and answer["notes"] == [expected]
    assert len(text.splitlines()) < 15


def wide_model_prices(tmp_path: Path) -> Path:
    """A price file of one retired model with a long-context tier, no cached or cache-write
    rate, no reasoning, a 200,000-token window and a 1,000-token output limit."""
    row = {"id": "wide-model", "provider": "me", "name": "Wide Model", "input_per_mtok": 1.0,
           "output_per_mtok": 2.0, "cached_input_per_mtok": None, "cache_write_per_mtok": None,
           "context_window": 200_000, "max_output_tokens": 1_000, "encoding": None,
           "token_ratio": 1.0, "open_weights": False, "params_b": None,
           "active_params_b": None, "quality": None, "quality_source": "none",
           "price_source": "me", "as_of": "2026-12-01", "deprecation_date": "2026-11-01",
           "long_context_threshold": 100_000, "input_per_mtok_long": 2.0,
           "output_per_mtok_long": 4.0}
    prices = tmp_path / "wide.json"
    prices.write_text(json.dumps({"models": [row]}), encoding="utf-8")
    return prices


# Calls on gpt-4.1 that wide-model would price with every kind of note.
WIDE_CALLS = [
    {"input_tokens": 300_000, "output_tokens": 10},  # input limit, long context
    {"input_tokens": 150_000, "output_tokens": 60_000},  # window, output limit, long context
    {"input_tokens": 5_000, "cached_input_tokens": 2_000, "cache_write_tokens": 1_000,
     "output_tokens": 500, "reasoning_tokens": 700},  # rates it lacks, output limit
]


def test_every_kind_of_note_shoal_cost_gives_the_baseline_is_given_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    location = str(tmp_path / "ledger.sqlite3")
    prices = wide_model_prices(tmp_path)
    for call in WIDE_CALLS:
        record_usage("s", "gpt-4.1", at=at(1), ledger=location, **call)
    catalog = load_catalog(prices)
    per_call = [note for call in WIDE_CALLS
                for note in estimate_cost("wide-model", catalog=catalog, **call).notes]
    retired = ("wide-model was retired on 2026-11-01 per the user price file; its prices may "
               "no longer apply")

    report = savings_report(baseline="wide-model", ledger=location, catalog=catalog)
    text, answer = report_text_and_json(
        ["--baseline", "wide-model", "--prices", str(prices), "--ledger", location], capsys)

    assert list(report.notes) == note_lines(text) == answer["notes"] == [
        retired,
        "1 call exceeds wide-model's input limit of 200,000 tokens (it has 300,000); the API "
        "would reject it",
        "1 call exceeds wide-model's context window of 200,000 tokens, which holds prompt and "
        "output together (it has 210,000); the API would reject it or cut the output short",
        "2 calls exceed wide-model's max_output_tokens of 1,000 with output and reasoning (the "
        "largest has 60,000)",
        "2 calls are priced at wide-model's long-context rates: their prompts pass 100,000 "
        "input tokens (the largest has 300,000)",
        "wide-model lists no cached-input rate; the cached tokens of 1 call are priced as input",
        "wide-model lists no cache-write rate; the cache writes of 1 call are priced as input",
        "wide-model is not listed as a reasoning model; the reasoning tokens of 1 call are "
        "priced as output anyway",
    ]
    # The kinds shoal cost notes for the same calls, each of them here.
    assert retired in per_call
    for kind in ("input limit of", "context window of", "max_output_tokens of",
                 "long-context rates", "no cached-input rate", "no cache-write rate",
                 "not listed as a reasoning model"):
        assert any(kind in note for note in per_call) and any(kind in note
                                                              for note in report.notes)


def test_a_baseline_past_whose_window_calls_go_is_noted_as_shoal_cost_notes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    location = str(tmp_path / "ledger.sqlite3")
    record_usage("s", "gpt-4o", input_tokens=8_000, output_tokens=4_000, at=at(1),
                 ledger=location)
    record_usage("s", "claude-haiku-4-5", input_tokens=1_000, output_tokens=20_000, at=at(1),
                 ledger=location)

    text, answer = report_text_and_json(["--baseline", "gpt-4", "--ledger", location], capsys)

    assert "always gpt-4 would have cost $1.71: saved $1.55 (91%)" in text
    assert note_lines(text) == answer["notes"] == [
        "gpt-4 was retired on 2026-10-23 per the catalog; its prices may no longer apply",
        "2 calls exceed gpt-4's context window of 8,192 tokens, which holds prompt and output "
        "together (the largest has 21,000); the API would reject them or cut the output short",
        "1 call exceeds gpt-4's max_output_tokens of 4,096 with output and reasoning (it has "
        "20,000)",
    ]


def test_a_retired_dearest_model_used_is_noted_as_the_baseline(tmp_path: Path) -> None:
    location = str(tmp_path / "ledger.sqlite3")
    record_usage("s", "gpt-4", input_tokens=1_000, output_tokens=100, at=at(1), ledger=location)
    record_usage("s", "gpt-4o-mini", input_tokens=1_000, output_tokens=100, at=at(1),
                 ledger=location)

    report = savings_report(ledger=location)

    assert report.baseline == "gpt-4" and report.baseline_rule.startswith("dearest model used")
    assert report.notes == (
        "gpt-4 was retired on 2026-10-23 per the catalog; its prices may no longer apply",)


def test_the_dearest_model_used_is_priced_call_by_call_with_long_context_rates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    location = str(tmp_path / "ledger.sqlite3")
    # Past gpt-5.4's 272,000-token threshold the whole call is billed at its long-context
    # rates: summed at the base rates it would look cheaper than claude-sonnet-4-6.
    record_usage("s", "gpt-5.4", input_tokens=900_000, output_tokens=2_000, at=at(1),
                 ledger=location)
    record_usage("s", "claude-sonnet-4-6", input_tokens=1_000, output_tokens=100, at=at(1),
                 ledger=location)

    report = savings_report(ledger=location)
    named = savings_report(baseline="gpt-5.4", ledger=location)
    _, answer = report_text_and_json(["--ledger", location], capsys)

    assert report.baseline == answer["baseline"] == "gpt-5.4"
    assert report.baseline_usd == named.baseline_usd == answer["baseline_usd"]
    others = savings_report(baseline="claude-sonnet-4-6", ledger=location)
    assert report.baseline_usd > others.baseline_usd


def test_baseline_prices_are_rounded_to_nano_dollars_as_the_ledger_rounds_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    location = str(tmp_path / "ledger.sqlite3")
    prices = tmp_path / "p1.json"
    # One input token is 7.5 nano-dollars: the ledger rounds half to even, to 8, where the
    # float 7.5e-9 times 10^9 is 7.499999999999999.
    prices.write_text(json.dumps({"models": [
        {"id": "llama-3.1-8b-instruct", "input_per_mtok": 0.0075, "as_of": "2026-12-01"}]}),
        encoding="utf-8")
    assert main(["ledger", "record", "--scope", "s", "--model", "llama-3.1-8b-instruct",
                 "--input", "1", "--prices", str(prices), "--ledger", location]) == 0
    record_usage("t", "gpt-4o", input_tokens=1, at=at(1), ledger=location)
    capsys.readouterr()

    text, answer = report_text_and_json(
        ["--scope", "s", "--prices", str(prices), "--ledger", location], capsys)
    repriced = savings_report("t", baseline="llama-3.1-8b-instruct", ledger=location,
                              catalog=load_catalog(prices))

    assert answer["notes"] == [] and "note:" not in text
    assert answer["spent_usd"] == answer["baseline_usd"] == 8e-9
    assert repriced.baseline_usd == 8e-9


def test_by_model_counts_each_kind_of_token_as_the_records_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    location = str(tmp_path / "ledger.sqlite3")
    tokens = ["--input", "2000", "--cached", "500", "--cache-write", "200", "--output", "100",
              "--reasoning", "900"]
    assert main(["ledger", "record", "--scope", "s", "--model", "claude-sonnet-4-6", *tokens,
                 "--json", "--ledger", location]) == 0
    record = json.loads(capsys.readouterr().out)

    text, answer = report_text_and_json(["--ledger", location], capsys)

    [model] = answer["by_model"]  # type: ignore[index]
    fields = ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens",
              "reasoning_tokens")
    assert {field: model[field] for field in fields} == {
        field: record[field] for field in fields}
    assert model["output_tokens"] == 100
    assert "claude-sonnet-4-6: $0.0198 on 1 call, 2,000 in / 100 out + 900 reasoning" in text


# ---- short reports ------------------------------------------------------------------------------


def test_a_short_report_lists_the_largest_and_sums_the_rest_to_the_nano_dollar(
    tmp_path: Path,
) -> None:
    location = str(tmp_path / "ledger.sqlite3")
    # $0.10, $0.20 and $1.00 of gpt-4o input; then $0.004 of gpt-4.1-mini ($0.025 on gpt-4o).
    for scope, tokens in (("a", 40_000), ("b", 80_000), ("big", 400_000)):
        record_usage(scope, "gpt-4o", input_tokens=tokens, at=at(1), ledger=location)
    record_usage("big", "gpt-4.1-mini", input_tokens=10_000, at=at(2), ledger=location)

    full = savings_report(baseline="gpt-4o", ledger=location)
    short = savings_report(baseline="gpt-4o", ledger=location, max_scopes=1, max_models=1)

    assert [row.scope for row in short.by_scope] == ["big"] and short.scopes_omitted == 2
    # Summed in nano-dollars: the listed floats add up to 0.30000000000000004.
    assert full.by_scope[1].spent_usd + full.by_scope[2].spent_usd != 0.3
    assert short.other_scopes == OtherScopes(records=2, routed_records=0, spent_usd=0.3,
                                             baseline_usd=0.3, savings_usd=0.0,
                                             savings_fraction=0.0)
    assert [row.model for row in short.by_model] == ["gpt-4o"] and short.models_omitted == 1
    assert short.other_models == OtherModels(records=1, input_tokens=10_000, output_tokens=0,
                                             cached_input_tokens=0, cache_write_tokens=0,
                                             reasoning_tokens=0, spent_usd=0.004)
    # The totals and the series cover every call whatever is listed.
    unlisted = ("by_scope", "scopes_omitted", "other_scopes", "by_model", "models_omitted",
                "other_models")
    assert replace(short, **{name: getattr(full, name) for name in unlisted}) == full
    assert (full.scopes_omitted, full.other_scopes, full.models_omitted,
            full.other_models) == (0, None, 0, None)

    text = spend_render.savings_report(short, chart=False, omitted_advice="see them all")
    assert "\n    and 2 more scopes: $0.30 vs $0.30 over 2 calls, saved $0 (0%)\n" in text
    assert "\n    and 1 more model: $0.004 on 1 call, 10,000 in / 0 out\n" in text
    assert "\n  see them all" in text
    none_listed = savings_report(baseline="gpt-4o", ledger=location, max_scopes=0)
    assert none_listed.by_scope == () and none_listed.scopes_omitted == 3
    assert "\n  by scope:\n    3 scopes: $1.30 vs $1.32 over 4 calls, saved $0.021 (2%)\n" in (
        spend_render.savings_report(none_listed, chart=False))


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"max_scopes": -1}, ValueError, "max_scopes must be at least 0, got -1"),
        ({"max_models": True}, TypeError, "max_models must be a whole number, got bool"),
        ({"max_scopes": 2.0}, TypeError, "max_scopes must be a whole number, got 2.0; "
                                         "write it as 2"),
        ({"max_models": "20"}, TypeError, "max_models must be a whole number, got str"),
    ],
)
def test_how_many_to_list_is_a_whole_number_from_0(
    ledger: str, arguments: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as raised:
        savings_report(ledger=ledger, **arguments)  # type: ignore[arg-type]
    assert str(raised.value).startswith(message)


def test_cli_report_lists_twenty_scopes_unless_asked_for_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    location = str(tmp_path / "ledger.sqlite3")
    for number in range(25):
        record_usage(f"s{number:02d}", "gpt-4o", input_tokens=1_000 * (number + 1), at=at(1),
                     ledger=location)

    text, answer = report_text_and_json(["--ledger", location], capsys)
    assert main(["report", "--all", "--ledger", location]) == 0
    every = capsys.readouterr().out

    listed = [line for line in text.splitlines() if line.startswith("    s")]
    assert listed[0].startswith("    s24: ") and len(listed) == 20
    assert "\n    and 5 more scopes: $0.0375 vs $0.0375 over 5 calls, saved $0 (0%)\n" in text
    assert "\n  the rest are summed; --all lists every scope and model\n" in text
    assert len([line for line in every.splitlines() if line.startswith("    s")]) == 25
    assert "more scopes" not in every and "--all" not in every
    assert len(answer["by_scope"]) == 25  # type: ignore[arg-type]
    assert (answer["scopes_omitted"], answer["other_scopes"]) == (0, None)
