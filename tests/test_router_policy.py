"""What a routing decision weighs and says: prices as `shoal cost` gives them (long-context tiers
included), the output limit as a constraint, what a device checked, a decision id that does not
depend on the order candidates are named in, stickiness that says when a switch is a loss, and
arguments that mean the same thing in Python, the CLI and the MCP tool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shoal.catalog import load_catalog
from shoal.cost import estimate_cost
from shoal.router import (
    CandidateEstimate,
    ConstraintCheck,
    route,
)

WAR = "Summarise the causes of World War I."
CODE_PROMPT = "Write a Python function that checks whether a string is a palindrome."


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _check(candidate: CandidateEstimate, name: str) -> ConstraintCheck | None:
    return next((check for check in candidate.constraints if check.name == name), None)


def _passes(candidate: CandidateEstimate, name: str) -> bool:
    check = _check(candidate, name)
    assert check is not None, f"{candidate.model} has no {name} check"
    return check.passed


# ---- long-context prices ----


@pytest.mark.parametrize(("model", "words"), [("gpt-5.4", 303_000), ("gemini-2.5-pro", 250_000)])
def test_a_long_prompt_is_priced_at_the_long_context_rates_as_shoal_cost_prices_it(
    tmp_path: Path, model: str, words: int,
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"models": [{"id": model, "quality": 0.75}]}), encoding="utf-8")
    catalog = load_catalog(prices)

    decision = route("word " * words, candidates=[model], catalog=catalog)

    (chosen,) = decision.alternatives
    entry = catalog.model(model)
    assert entry.long_context_threshold is not None
    assert chosen.input_tokens > entry.long_context_threshold
    priced = estimate_cost(model, input_tokens=chosen.input_tokens, output_tokens=256,
                           catalog=catalog)
    assert any(note.startswith("long-context rates apply") for note in priced.notes)
    assert chosen.expected_cost_usd == priced.total_usd
    base = (chosen.input_tokens * entry.input_per_mtok + 256 * entry.output_per_mtok) / 1e6
    assert chosen.expected_cost_usd > 1.5 * base
    assert any(note.startswith("long-context rates apply") and model in note
               for note in decision.notes)


def test_a_prompt_under_the_threshold_keeps_the_base_rates() -> None:
    decision = route(CODE_PROMPT, candidates=["gpt-5.4", "gpt-4.1"])

    for candidate in decision.alternatives:
        priced = estimate_cost(candidate.model, input_tokens=candidate.input_tokens,
                               output_tokens=256)
        assert candidate.expected_cost_usd == priced.total_usd
    assert not any("long-context" in note for note in decision.notes)
