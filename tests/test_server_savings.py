"""savings_report through the SDK's client, in process and over stdio: a ledger of any number of
scopes or models answers within the cap, listing the largest and summing the rest to the totals
exactly; only a series too long for one answer is refused, with advice that works."""

from __future__ import annotations

import datetime
import os
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult

from shoal.catalog import configured_catalog
from shoal.ledger import open_ledger
from shoal.report import SHORT_LIST, savings_report
from shoal.server import build_server
from shoal.server_policy import MAX_RESULT_TOKENS, answer_tokens

pytestmark = pytest.mark.anyio

PACKAGE = Path(__file__).parent.parent / "python"
# Every call of a test ledger falls in this hour, so no since/until window makes it shorter.
HOUR = datetime.datetime(2026, 12, 1, 10, tzinfo=datetime.timezone.utc)
# Runic letters take three tokens each: 20 scopes named with 200 of them would not fit.
LONG_NAME = "ᚠ" * 190


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test's own ledger, which the servers it starts read."""
    ledger = tmp_path / "ledger.sqlite3"
    monkeypatch.setenv("SHOAL_LEDGER", str(ledger))
    return ledger


def record_scopes(location: Path, scopes: list[str]) -> None:
    """One call per scope within `HOUR`, each dearer than the last, on two models."""
    ledger = open_ledger(str(location))
    for number, scope in enumerate(scopes):
        ledger.record_usage(scope, ("gpt-4.1-mini", "gpt-4o")[number % 2],
                            input_tokens=1_000 + 10 * number, output_tokens=100,
                            at=HOUR + datetime.timedelta(seconds=number))


def nanousd(amount: float) -> int:
    """An amount of the answer in whole nano-dollars, which every amount of a report is."""
    nanos = Decimal(repr(amount)) * 1_000_000_000
    assert nanos == nanos.to_integral_value(), amount
    return int(nanos)


def tokens_of(answer: CallToolResult) -> int:
    return answer_tokens(answer.model_dump(by_alias=True, mode="json", exclude_none=True))


def check_scopes_add_up(report: dict[str, Any], scopes: int) -> None:
    """The listed scopes and the rest make up every scope and add up to the totals exactly."""
    listed, rest = report["by_scope"], report["other_scopes"]
    assert len(listed) + report["scopes_omitted"] == scopes
    assert sum(row["records"] for row in listed) + rest["records"] == report["records"]
    for amount in ("spent_usd", "baseline_usd", "savings_usd"):
        assert (sum(nanousd(row[amount]) for row in listed) + nanousd(rest[amount])
                == nanousd(report[amount])), amount


def check_largest_listed(report: dict[str, Any], location: Path) -> None:
    """The listed scopes are the report's largest, as the Python API lists them, and the rest
    sum the others to the nano-dollar."""
    full = savings_report(ledger=str(location))
    listed = report["by_scope"]
    assert [row["scope"] for row in listed] == [row.scope for row in full.by_scope[:len(listed)]]
    others = full.by_scope[len(listed):]
    assert nanousd(report["other_scopes"]["spent_usd"]) == sum(
        nanousd(row.spent_usd) for row in others)
    assert nanousd(report["other_scopes"]["baseline_usd"]) == sum(
        nanousd(row.baseline_usd) for row in others)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_300_scopes_of_one_hour_list_the_largest_and_sum_the_rest_exactly(
    location: Path, mode: str
) -> None:
    record_scopes(location, [f"s{number}" for number in range(300)])

    async with Client(build_server(), mode=mode) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        answer = await client.call_tool("savings_report", {})
        one = await client.call_tool("savings_report", {"scope": "s7"})

    description = tools["savings_report"].description
    assert f"listed up to {SHORT_LIST} each" in description and "scopes_omitted" in description

    assert not answer.is_error, answer.content[0].text
    assert tokens_of(answer) <= MAX_RESULT_TOKENS
    report = answer.structured_content
    assert len(report["by_scope"]) == SHORT_LIST and report["scopes_omitted"] == 280
    check_scopes_add_up(report, 300)
    check_largest_listed(report, location)
    text = answer.content[0].text
    assert text.startswith("all scopes: $1.26 spent on 300 calls (0 routed); always gpt-4o "
                           "would have cost $2.17: saved $0.91 (42%)")
    assert "\n    s299: " in text
    assert "\n    and 280 more scopes: $1.05 vs $1.96 over 280 calls, saved $0.91 (46%)\n" in text
    assert "give scope for one scope's own report" in text

    # The scope argument gives any one scope's own figures.
    assert not one.is_error
    assert [row["scope"] for row in one.structured_content["by_scope"]] == ["s7"]
    assert one.structured_content["scopes_omitted"] == 0
    assert one.structured_content["other_scopes"] is None
    assert "more scopes" not in one.content[0].text


async def test_scopes_with_long_names_are_listed_as_many_as_fit(location: Path) -> None:
    record_scopes(location, [f"{number:02d}{LONG_NAME}" for number in range(40)])

    async with Client(build_server()) as client:
        answer = await client.call_tool("savings_report", {})

    assert not answer.is_error, answer.content[0].text
    assert tokens_of(answer) <= MAX_RESULT_TOKENS
    report = answer.structured_content
    assert 0 < len(report["by_scope"]) < SHORT_LIST
    check_scopes_add_up(report, 40)
    check_largest_listed(report, location)


async def test_a_smaller_cap_lists_fewer_scopes_and_still_adds_up(location: Path) -> None:
    record_scopes(location, [f"s{number}" for number in range(300)])

    async with Client(build_server(max_result_tokens=1_500)) as client:
        answer = await client.call_tool("savings_report", {})

    assert not answer.is_error, answer.content[0].text
    assert tokens_of(answer) <= 1_500
    assert 0 < len(answer.structured_content["by_scope"]) < SHORT_LIST
    check_scopes_add_up(answer.structured_content, 300)


async def test_models_past_twenty_are_summed_with_their_tokens(location: Path) -> None:
    ledger = open_ledger(str(location))
    models = [entry.id for entry in configured_catalog().models
              if entry.deprecation_date is None][:25]
    for number, model in enumerate(models):
        ledger.record_usage("s", model, input_tokens=1_000 + number, output_tokens=100,
                            reasoning_tokens=number, at=HOUR)

    async with Client(build_server()) as client:
        answer = await client.call_tool("savings_report", {})

    assert not answer.is_error, answer.content[0].text
    report = answer.structured_content
    listed, rest = report["by_model"], report["other_models"]
    assert len(listed) == SHORT_LIST and report["models_omitted"] == 5
    assert sum(row["records"] for row in listed) + rest["records"] == 25
    for count in ("input_tokens", "output_tokens", "reasoning_tokens"):
        assert sum(row[count] for row in listed) + rest[count] == sum(
            getattr(row, count) for row in savings_report(ledger=str(location)).by_model)
    assert (sum(nanousd(row["spent_usd"]) for row in listed) + nanousd(rest["spent_usd"])
            == nanousd(report["spent_usd"]))
    assert "\n    and 5 more models: " in answer.content[0].text


async def test_a_series_too_long_for_the_cap_is_refused_with_advice_that_works(
    location: Path,
) -> None:
    ledger = open_ledger(str(location))
    # One call an hour for 50 hours: the series has a bucket for each, and none can be summed.
    for hour in range(50):
        ledger.record_usage("s", "gpt-4o", input_tokens=1_000, at=HOUR + datetime.timedelta(
            hours=hour))

    async with Client(build_server(max_result_tokens=1_500)) as client:
        refused = await client.call_tool("savings_report", {})
        narrowed = await client.call_tool("savings_report", {
            "since": "2026-12-01T10:00:00Z", "until": "2026-12-01T20:00:00Z"})

    assert refused.is_error
    assert "give a shorter since/until window" in refused.content[0].text
    assert not narrowed.is_error and narrowed.structured_content["records"] == 10


async def test_300_scopes_over_stdio_fit_the_cap_and_add_up(location: Path) -> None:
    record_scopes(location, [f"s{number}" for number in range(300)])
    # This checkout's package, whichever shoal is installed.
    path = os.pathsep.join(filter(None, [str(PACKAGE), os.environ.get("PYTHONPATH")]))
    parameters = StdioServerParameters(
        command=sys.executable,
        args=["-m", "shoal", "serve", "--read-only", "--tools", "budget",
              "--root", str(location.parent), "--ledger", str(location)],
        env={**os.environ, "PYTHONPATH": path},
    )

    async with Client(parameters, mode="legacy") as client:
        answer = await client.call_tool("savings_report", {})

    assert not answer.is_error, answer.content[0].text
    assert tokens_of(answer) <= MAX_RESULT_TOKENS
    assert answer.structured_content["scopes_omitted"] == 300 - SHORT_LIST
    check_scopes_add_up(answer.structured_content, 300)
    check_largest_listed(answer.structured_content, location)
