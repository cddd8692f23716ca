"""What a routing decision weighs and says: prices as `shoal cost` gives them (long-context tiers
included), the output limit as a constraint, what a device checked, a decision id that does not
depend on the order candidates are named in, stickiness that says when a switch is a loss, and
arguments that mean the same thing in Python, the CLI and the MCP tool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client

from shoal import render
from shoal.catalog import load_catalog
from shoal.cli import main
from shoal.cost import estimate_cost, usd_apart
from shoal.router import (
    CandidateEstimate,
    ConstraintCheck,
    NoEligibleModelError,
    RoutingError,
    route,
)
from shoal.server import build_server

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


# ---- output limit ----


def test_a_hosted_model_whose_output_limit_is_too_small_is_not_chosen() -> None:
    decision = route(WAR, candidates=["gpt-4.1-mini", "o3"], expected_output_tokens=50_000)

    assert decision.model == "o3"
    mini = next(a for a in decision.alternatives if a.model == "gpt-4.1-mini")
    assert not mini.eligible
    limit = _check(mini, "output_limit")
    assert limit is not None and not limit.passed
    assert limit.detail == "50,000 output tokens of 32,768"
    assert _passes(mini, "context_window")
    assert ("  not gpt-4.1-mini: breaks output_limit (50,000 output tokens of 32,768)"
            in render.routing_decision(decision))


def test_when_no_model_returns_that_much_the_refusal_names_the_output_limit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(NoEligibleModelError, match=r"gpt-4\.1-mini: breaks output_limit "
                       r"\(200,000 output tokens of 32,768\)"):
        route(WAR, candidates=["gpt-4.1-mini"], expected_output_tokens=200_000)

    assert main(["route", WAR, "--output-tokens", "200000"]) == 2
    assert "gpt-4.1-mini: breaks output_limit (200,000 output tokens of 32,768)" in (
        capsys.readouterr().err
    )


def test_a_model_run_locally_has_no_api_output_limit() -> None:
    decision = route(WAR, candidates=["deepseek-v3"], local_only=True,
                     expected_output_tokens=100)

    (local,) = decision.alternatives
    assert local.runs_locally and _check(local, "output_limit") is None
    assert _check(local, "context_window") is not None


# ---- min_quality 0 ----


@pytest.mark.anyio
async def test_route_task_takes_min_quality_0_as_a_floor_and_its_absence_as_none() -> None:
    cheapest = route(WAR, min_quality=0)

    async with Client(build_server()) as client:
        floor = await client.call_tool("route_task", {"prompt": WAR, "min_quality": 0})
        unset = await client.call_tool("route_task", {"prompt": WAR})
        negative = await client.call_tool("route_task", {"prompt": WAR, "min_quality": -0.5})
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}

    assert cheapest.mode == "min_quality"
    assert floor.structured_content["mode"] == "min_quality"
    assert floor.structured_content["model"] == cheapest.model
    assert floor.structured_content["min_quality"] == 0
    assert unset.structured_content["mode"] == "trade_off"
    assert unset.structured_content["model"] == route(WAR).model
    assert negative.is_error and "min_quality" in negative.content[0].text
    described = tools["route_task"].input_schema["properties"]["min_quality"]["description"]
    assert "-1, the default, sets no floor" in described and "0 is reached" in described


# ---- device ----


def test_a_device_with_no_candidate_run_locally_says_nothing_was_checked() -> None:
    decision = route(WAR, device="iphone-16-pro")

    assert not any(a.runs_locally for a in decision.alternatives)
    (note,) = [n for n in decision.notes if n.startswith("hardware_fit")]
    assert note.startswith("hardware_fit: nothing checked on iphone-16-pro")
    assert "every candidate is hosted" in note
    assert f"  note: {note}" in render.routing_decision(decision)


def test_a_device_note_lists_the_local_candidates_that_fit() -> None:
    decision = route(WAR, local_only=True, device="iphone-16-pro")

    local = [a for a in decision.alternatives if a.runs_locally]
    fitting = [a.model for a in local if _passes(a, "hardware_fit")]
    (note,) = [n for n in decision.notes if n.startswith("hardware_fit")]
    assert note.startswith(f"hardware_fit: {len(fitting)} of {len(local)} local candidates fit "
                           "iphone-16-pro")
    assert 0 < len(fitting) < len(local)
    assert note.endswith(": " + ", ".join(fitting[:5])
                         + (f" and {len(fitting) - 5} more" if len(fitting) > 5 else ""))
    assert "hardware fit unchecked" not in decision.reason


def test_a_local_choice_without_a_device_says_its_fit_is_unchecked() -> None:
    decision = route(WAR, local_only=True, candidates=["deepseek-v3"])

    assert decision.device is None and decision.alternatives[0].runs_locally
    assert "runs locally at no API cost (hardware fit unchecked: no device given)" in (
        decision.reason
    )
    assert any(n.startswith("hardware_fit: not checked, as no device was given")
               for n in decision.notes)
    hosted = route(WAR, candidates=["gpt-4.1"])
    assert not any(n.startswith("hardware_fit") for n in hosted.notes)


# ---- decision ids ----


def test_candidates_named_in_another_order_make_the_same_decision_and_id() -> None:
    forward = route(WAR, candidates=["o3", "gpt-4.1"])
    backward = route(WAR, candidates=["gpt-4.1", "o3"])
    others = route(WAR, candidates=["o3", "gpt-4o"])

    assert forward.decision_id == backward.decision_id
    assert forward.to_dict() == backward.to_dict()
    assert others.decision_id != forward.decision_id


def test_retired_models_named_in_any_order_are_noted_in_one_order() -> None:
    named = ["gpt-4", "o4-mini", "gpt-4.1"]

    forward = route(WAR, candidates=named)
    backward = route(WAR, candidates=named[::-1])

    assert forward.to_dict() == backward.to_dict()


# ---- stickiness ----


def test_staying_because_a_switch_would_lose_says_so() -> None:
    decision = route("x", min_quality=0.4, previous_model="o3", willingness_to_pay=0.5)

    sticky = decision.stickiness
    assert sticky is not None and sticky.stayed and decision.model == "o3"
    assert sticky.gain is not None and sticky.gain < 0
    assert sticky.detail == (f"stayed on o3: switching to {sticky.best_model} would lose "
                             f"{-sticky.gain:.4g} on quality − cost / willingness to pay")
    assert "gain only" not in decision.reason


# ---- arguments that mean one thing everywhere ----


@pytest.mark.anyio
async def test_a_stickiness_margin_without_a_previous_model_is_refused_everywhere(
    capsys: pytest.CaptureFixture[str],
) -> None:
    message = "stickiness_margin weighs a switch from previous_model; give both, or neither"
    with pytest.raises(RoutingError, match=f"^{message}$"):
        route(WAR, stickiness_margin=0.1)
    assert main(["route", WAR, "--stickiness-margin", "0.1"]) == 2
    assert ("--stickiness-margin weighs a switch from --previous-model; give both, or neither"
            in capsys.readouterr().err)
    async with Client(build_server()) as client:
        refused = await client.call_tool("route_task", {"prompt": WAR, "stickiness_margin": 0.1})
        kept = await client.call_tool("route_task", {"prompt": WAR, "stickiness_margin": 0.1,
                                                     "previous_model": "o3"})

    assert refused.is_error and message in refused.content[0].text
    assert not kept.is_error
    stayed = route(WAR, previous_model="o3").stickiness
    assert stayed is not None and stayed.margin == 0.02


@pytest.mark.anyio
async def test_output_tokens_have_one_bound_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    from shoal.router import MAX_OUTPUT_TOKENS

    assert MAX_OUTPUT_TOKENS == 1_000_000
    with pytest.raises(RoutingError, match="expected_output_tokens must be an int from 0 to "
                       "1,000,000, got 1,000,001"):
        route(WAR, expected_output_tokens=MAX_OUTPUT_TOKENS + 1)
    assert main(["route", WAR, "--output-tokens", "99999999999999999999"]) == 2
    assert "--output-tokens must be an int from 0 to 1,000,000" in capsys.readouterr().err
    assert main(["route", WAR, "--output-tokens", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["alternatives"][0]["output_tokens"] == 0
    async with Client(build_server()) as client:
        over = await client.call_tool("route_task", {"prompt": WAR,
                                                     "expected_output_tokens": 1_000_001})
        none = await client.call_tool("route_task", {"prompt": WAR,
                                                     "expected_output_tokens": 0})
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}

    assert over.is_error and "expected_output_tokens" in over.content[0].text
    assert not none.is_error
    schema = tools["route_task"].input_schema["properties"]["expected_output_tokens"]
    assert (schema["minimum"], schema["maximum"]) == (0, MAX_OUTPUT_TOKENS)


# ---- the figures behind a verdict ----

PRIMES = "Prove that there are infinitely many primes."


def test_two_amounts_that_differ_are_shown_with_the_digits_that_tell_them_apart() -> None:
    assert usd_apart(0.002066, 0.0020659) == ("$0.002066", "$0.0020659")
    assert usd_apart(1.0000001, 1.0) == ("$1.0000001", "$1.00")
    # Amounts that read apart already, or are equal, keep the usual digits.
    assert usd_apart(0.00207, 0.001) == ("$0.00207", "$0.001")
    assert usd_apart(0.00207, 0.00207) == ("$0.00207", "$0.00207")


@pytest.mark.parametrize(
    ("model", "limit", "shown"),
    [("gpt-4.1", "0.0020659", "$0.002066 against $0.0020659"),
     ("gemma-3-4b-it", "0.000026049", "$0.00002605 against $0.000026049")],
)
def test_a_cost_just_over_the_limit_does_not_read_as_the_limit(
    capsys: pytest.CaptureFixture[str], model: str, limit: str, shown: str,
) -> None:
    with pytest.raises(NoEligibleModelError) as refused:
        route(PRIMES, candidates=[model], max_cost_usd=float(limit))

    assert f"{model}: breaks max_cost_usd ({shown})" in str(refused.value)
    assert main(["route", PRIMES, "--candidates", model, "--max-cost", limit]) == 2
    assert f"{model}: breaks --max-cost ({shown})" in capsys.readouterr().err


@pytest.mark.anyio
async def test_a_quality_just_under_the_floor_does_not_read_as_the_floor(
    capsys: pytest.CaptureFixture[str],
) -> None:
    arguments: dict[str, object] = {"candidates": ["gemma-3-4b-it", "llama-3.2-3b-instruct"],
                                    "min_quality": 0.608}
    decision = route(PRIMES, **arguments)  # type: ignore[arg-type]

    chosen = decision.alternatives[0]
    # The case in point: short of the floor by less than the third decimal shows.
    assert chosen.predicted_quality is not None and chosen.predicted_quality < 0.608
    assert f"{chosen.predicted_quality:.3f}" == "0.608"
    assert decision.min_quality_met is False
    assert ("No eligible candidate is predicted to reach quality 0.608000; gemma-3-4b-it is the "
            "best available: predicted quality 0.607997 (") in decision.reason
    floor = _check(chosen, "min_quality")
    assert floor is not None and floor.detail == "predicted 0.607997 against 0.608000"
    runner_up = _check(decision.alternatives[1], "min_quality")
    assert runner_up is not None and runner_up.detail == "predicted 0.579 against 0.608"

    async with Client(build_server()) as client:
        answer = await client.call_tool("route_task", {"prompt": PRIMES, **arguments})
    assert main(["route", PRIMES, "--candidates", "gemma-3-4b-it,llama-3.2-3b-instruct",
                 "--min-quality", "0.608", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    for shown in (answer.structured_content, printed):
        assert shown is not None and shown["reason"] == decision.reason
        assert shown["alternatives"] == decision.to_dict()["alternatives"]


def test_a_prompt_past_the_input_limit_is_refused_by_that_limit_not_by_the_window() -> None:
    decision = route("word " * 273_000, candidates=["gpt-5", "gpt-4.1"],
                     expected_output_tokens=10_000)

    by_model = {candidate.model: candidate for candidate in decision.alternatives}
    gpt5, gpt41 = by_model["gpt-5"], by_model["gpt-4.1"]
    # The window alone would hold prompt and output: only the input limit is passed.
    assert 272_000 < gpt5.input_tokens and gpt5.input_tokens + 10_000 <= 400_000
    window = _check(gpt5, "context_window")
    assert window is not None and not window.passed
    assert window.detail == (f"{gpt5.input_tokens:,} input tokens exceed the input limit of "
                             "272,000 within the 400,000-token window")
    fits = _check(gpt41, "context_window")
    assert fits is not None and fits.passed
    assert fits.detail == f"{gpt41.input_tokens:,} + 10,000 tokens of 1,047,576"
    # The text gives the reason too, not the name of the check alone.
    assert (f"  not gpt-5: breaks context_window ({gpt5.input_tokens:,} input tokens exceed the "
            "input limit of 272,000") in render.routing_decision(decision)


def test_the_command_line_names_each_constraint_by_its_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    arguments = ["--candidates", "gpt-4.1,llama-3.1-8b-instruct", "--local-only"]

    assert main(["route", PRIMES, *arguments]) == 0
    text = capsys.readouterr().out
    assert main(["route", PRIMES, *arguments, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)

    assert "  not gpt-4.1: breaks --local-only (hosted only)" in text.splitlines()
    assert "local_only" not in text
    # JSON keeps the field names, and Python's text the parameter names.
    hosted = next(item for item in printed["alternatives"] if item["model"] == "gpt-4.1")
    assert ["local_only"] == [check["name"] for check in hosted["constraints"]
                              if not check["passed"]]
    decision = route(PRIMES, candidates=["gpt-4.1", "llama-3.1-8b-instruct"], local_only=True)
    assert "  not gpt-4.1: breaks local_only (hosted only)" in render.routing_decision(decision)
