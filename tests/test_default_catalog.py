"""Every function of the Python API that takes ``catalog=None`` prices from one catalog: the
shipped one with ``SHOAL_PRICES`` applied, as the command line and the MCP server price."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

import shoal
from shoal import cost, ledger, report, router

# gpt-4o's input at a price no shipped row has, so the figure shows which catalog priced it.
USER_INPUT_PER_MTOK = 99.0


@pytest.fixture
def user_prices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"models": [{"id": "gpt-4o",
                                            "input_per_mtok": USER_INPUT_PER_MTOK}]}))
    monkeypatch.setenv("SHOAL_PRICES", str(path))
    return path


def test_estimate_cost_and_its_relatives_price_with_shoal_prices(user_prices: Path) -> None:
    estimate = shoal.estimate_cost("gpt-4o", input_tokens=1_000_000)

    assert estimate.total_usd == USER_INPUT_PER_MTOK
    assert estimate.price_file == user_prices.name
    compared = shoal.compare_costs(["gpt-4o"], input_tokens=1_000_000)
    assert compared[0].estimate.total_usd == USER_INPUT_PER_MTOK
    text = shoal.estimate_cost_for_text("gpt-4o", "hello")
    assert text.line_items[0].usd_per_mtok == USER_INPUT_PER_MTOK
    plan = cost.estimate_plan_cost("gpt-4o", [{"input_tokens": 1_000_000}])
    assert plan.total_usd == USER_INPUT_PER_MTOK


def test_route_prices_candidates_with_shoal_prices(user_prices: Path) -> None:
    decision = shoal.route("Say hello.", candidates=["gpt-4o"], expected_output_tokens=0)
    tokens = shoal.count_tokens("Say hello.", model="gpt-4o").tokens

    assert decision.alternatives[0].expected_cost_usd == pytest.approx(
        tokens * USER_INPUT_PER_MTOK / 1e6)


def test_the_ledger_and_route_agree_with_estimate_cost(user_prices: Path, tmp_path: Path) -> None:
    recorded = shoal.record_usage("team", "gpt-4o", input_tokens=1_000_000,
                                  ledger=tmp_path / "ledger.sqlite3")
    estimated = shoal.estimate_cost("gpt-4o", input_tokens=1_000_000)

    assert recorded.cost_usd == estimated.total_usd == USER_INPUT_PER_MTOK


def test_every_catalog_parameter_is_documented_as_the_configured_one() -> None:
    functions = [cost.estimate_cost, cost.estimate_cost_for_text,
                 cost.compare_costs, cost.estimate_plan_cost, ledger.record_usage,
                 report.savings_report, router.route, shoal.record_outcome, shoal.fit_router]
    for function in functions:
        assert "catalog" in inspect.signature(function).parameters, function.__name__
        documented = " ".join((function.__doc__ or "").split())
        assert "SHOAL_PRICES" in documented, function.__name__
        assert "shipped one when None" not in documented, function.__name__

