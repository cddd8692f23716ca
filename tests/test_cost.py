"""Cost estimates: line items against hand-computed figures, cache and long-context rates."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import anyio
import pytest
from mcp import Client

from shoal.catalog import UnknownModelError, load_catalog
from shoal.cli import main
from shoal.cost import (
    CostEstimate,
    NoTokensError,
    compare_costs,
    compare_plan_costs,
    estimate_cost,
    estimate_cost_for_text,
    estimate_plan_cost,
    price_usage,
)
from shoal.server import build_server

# Published rates used below, USD per million tokens (catalog of 2026-12-04):
#   gpt-4.1-mini 0.40 in / 1.60 out; gpt-4o 2.50 / 10.00; gpt-4o-mini 0.15 / 0.60;
#   llama-3.1-8b-instruct (DeepInfra) 0.03 / 0.05; gpt-4 30 / 60, no cached rate;
#   claude-sonnet-4-5 3 / 15, cached read 0.30, cache write 3.75;
#   gemini-2.5-pro 1.25 / 10, cached 0.125; above 200k input: 2.50 / 15, cached 0.25.
# On the tests' date (conftest.TEST_TODAY) the catalog lists these two as retired:
SONNET_4_5_RETIRED = ("claude-sonnet-4-5 was retired on 2026-11-30 per the catalog; its prices "
                      "may no longer apply")
GEMINI_2_5_PRO_RETIRED = ("gemini-2.5-pro was retired on 2026-12-01 per the catalog; its prices "
                          "may no longer apply")


def _lines(estimate: CostEstimate) -> dict[str, tuple[int, float, float]]:
    return {line.kind: (line.tokens, line.usd_per_mtok, line.usd) for line in estimate.line_items}


def test_plain_input_and_output() -> None:
    estimate = estimate_cost("gpt-4.1-mini", input_tokens=250_000, output_tokens=25_000, calls=4)
    assert estimate.model == "gpt-4.1-mini"
    assert _lines(estimate) == {
        "input": (1_000_000, 0.4, pytest.approx(0.4)),
        "output": (100_000, 1.6, pytest.approx(0.16)),
    }
    assert estimate.total_usd == pytest.approx(0.56)
    assert estimate.catalog_date == load_catalog().catalog_date
    assert estimate.notes == ()


def test_cache_reads_writes_reasoning_and_calls() -> None:
    estimate = estimate_cost(
        "anthropic/claude-sonnet-4-5", input_tokens=10_000, cached_input_tokens=8_000,
        cache_write_tokens=1_000, output_tokens=500, reasoning_tokens=1_000, calls=3,
    )
    # 1,000 plain input x3 at $3 = 0.009; 24,000 cached at $0.30 = 0.0072;
    # 3,000 written at $3.75 = 0.01125; 1,500 output at $15 = 0.0225; 3,000 reasoning = 0.045.
    assert [line.kind for line in estimate.line_items] == [
        "input", "cached_input", "cache_write", "output", "reasoning"
    ]
    lines = _lines(estimate)
    assert lines["input"] == (3_000, 3.0, pytest.approx(0.009))
    assert lines["cached_input"] == (24_000, 0.3, pytest.approx(0.0072))
    assert lines["cache_write"] == (3_000, 3.75, pytest.approx(0.01125))
    assert lines["output"] == (1_500, 15.0, pytest.approx(0.0225))
    assert lines["reasoning"] == (3_000, 15.0, pytest.approx(0.045))
    assert estimate.total_usd == pytest.approx(0.09495, rel=1e-12)
    assert estimate.notes == (SONNET_4_5_RETIRED,)


def test_caching_saves_against_the_same_prompt_uncached() -> None:
    cached = estimate_cost("claude-sonnet-4-5", input_tokens=10_000, cached_input_tokens=9_000)
    uncached = estimate_cost("claude-sonnet-4-5", input_tokens=10_000)
    assert cached.total_usd == pytest.approx(0.0057)  # 1,000 x $3 + 9,000 x $0.30
    assert uncached.total_usd == pytest.approx(0.03)


def test_long_context_tier_applies_above_the_threshold() -> None:
    long_call = estimate_cost(
        "gemini-2.5-pro", input_tokens=250_000, cached_input_tokens=100_000, output_tokens=1_000
    )
    # 150,000 x $2.50 = 0.375; 100,000 x $0.25 = 0.025; 1,000 x $15 = 0.015.
    assert _lines(long_call)["input"][1] == 2.5
    assert _lines(long_call)["cached_input"][1] == 0.25
    assert _lines(long_call)["output"][1] == 15.0
    assert long_call.total_usd == pytest.approx(0.415)
    assert any("long-context rates apply" in note for note in long_call.notes)

    at_threshold = estimate_cost("gemini-2.5-pro", input_tokens=200_000, output_tokens=1_000)
    assert at_threshold.total_usd == pytest.approx(0.26)  # 200,000 x $1.25 + 1,000 x $10
    assert at_threshold.notes == (GEMINI_2_5_PRO_RETIRED,)


def test_long_context_is_judged_per_call_not_per_workload() -> None:
    many = estimate_cost("gemini-2.5-pro", input_tokens=150_000, calls=10)
    assert _lines(many)["input"] == (1_500_000, 1.25, pytest.approx(1.875))


def test_missing_cache_rates_fall_back_to_input_with_a_note() -> None:
    estimate = estimate_cost("gpt-4", input_tokens=2_000, cached_input_tokens=1_000,
                             cache_write_tokens=500)
    assert estimate.total_usd == pytest.approx(0.06)  # all 2,000 at $30
    assert any("no cached-input rate" in note for note in estimate.notes)
    assert any("no cache-write rate" in note for note in estimate.notes)


@pytest.mark.parametrize(("model", "input_rate"), [("deepseek-v4-pro", 1.32),
                                                  ("deepseek-v4-flash", 0.30)])
def test_deepseek_bills_a_cache_write_as_input(model: str, input_rate: float) -> None:
    # DeepSeek charges tokens that miss the cache at its input rate; there is no free write.
    estimate = estimate_cost(model, input_tokens=10_000, cache_write_tokens=10_000)
    assert _lines(estimate)["cache_write"] == (10_000, input_rate, pytest.approx(input_rate / 100))
    assert estimate.total_usd == pytest.approx(input_rate / 100)
    assert f"{model} lists no cache-write rate; cache writes priced as input" in estimate.notes


def test_notes_flag_limits_and_non_reasoning_models() -> None:
    too_long = estimate_cost("gpt-4o", input_tokens=200_000, output_tokens=20_000)
    assert any("input limit of 128,000" in note for note in too_long.notes)
    assert any("max_output_tokens of 16,384" in note for note in too_long.notes)

    # GPT-5 takes at most 272k input tokens of its 400k window.
    assert any("input limit of 272,000" in note
               for note in estimate_cost("gpt-5", input_tokens=300_000).notes)

    thinking = estimate_cost("gpt-4o-mini", output_tokens=10, reasoning_tokens=10)
    assert any("not listed as a reasoning model" in note for note in thinking.notes)


def _window_note(model: str, input_tokens: int, output: str, window: int) -> str:
    return (f"{input_tokens:,} input and {output} tokens per call exceed {model}'s context window "
            f"of {window:,}, which holds prompt and output together; the API would reject the "
            "call or cut the output short")


@pytest.mark.parametrize(
    ("model", "tokens", "note"),
    [
        ("gpt-4", {"input_tokens": 8_000, "output_tokens": 4_000},
         _window_note("gpt-4", 8_000, "4,000 output", 8_192)),
        ("gemma-2-9b-it", {"input_tokens": 8_000, "output_tokens": 8_000},
         _window_note("gemma-2-9b-it", 8_000, "8,000 output", 8_192)),
        # Hidden reasoning takes room in the window as visible output does.
        ("gpt-5", {"input_tokens": 272_000, "output_tokens": 100_000, "reasoning_tokens": 28_001},
         _window_note("gpt-5", 272_000, "128,001 output and reasoning", 400_000)),
    ],
)
def test_prompt_and_output_past_the_window_are_noted_in_python_the_cli_and_the_tool(
    model: str, tokens: dict[str, int], note: str, capsys: pytest.CaptureFixture[str]
) -> None:
    in_python = estimate_cost(model, **tokens).notes

    options = {"input_tokens": "--input", "output_tokens": "--output",
               "reasoning_tokens": "--reasoning"}
    argv = [word for name, count in tokens.items() for word in (options[name], str(count))]
    assert main(["cost", model, *argv]) == 0
    in_text = capsys.readouterr().out

    async def call() -> list[str]:
        async with Client(build_server()) as client:
            result = await client.call_tool("estimate_cost", {"model": model, **tokens})
        return result.structured_content["notes"]

    assert note in in_python
    assert f"  note: {note}\n" in in_text
    assert note in anyio.run(call)


@pytest.mark.parametrize(
    ("model", "tokens"),
    [
        ("gpt-4", {"input_tokens": 4_096, "output_tokens": 4_096}),  # the window exactly
        ("gpt-5", {"input_tokens": 272_000, "output_tokens": 128_000}),  # both limits exactly
        # A prompt over the input limit is rejected whatever the output: that note alone.
        ("gpt-4", {"input_tokens": 9_000, "output_tokens": 4_000}),
    ],
)
def test_a_call_within_the_window_or_already_rejected_gets_no_window_note(
    model: str, tokens: dict[str, int]
) -> None:
    assert not any("context window" in note for note in estimate_cost(model, **tokens).notes)


NO_TOKENS = ("give the tokens to price: input_tokens, output_tokens, cached_input_tokens, "
             "cache_write_tokens and reasoning_tokens are all 0")


@pytest.mark.parametrize(
    "price",
    [
        lambda: estimate_cost("gpt-4o"),
        lambda: estimate_cost("gpt-4o", input_tokens=0, output_tokens=0, calls=5),
        lambda: compare_costs(["gpt-4o", "gpt-4.1-mini"], output_tokens=0),
    ],
)
def test_a_workload_of_no_tokens_is_refused_as_the_cli_and_mcp_refuse_it(price) -> None:
    with pytest.raises(NoTokensError) as refused:
        price()

    assert str(refused.value) == f"{NO_TOKENS}, so every call would be priced $0"


def test_a_text_of_no_tokens_is_refused_in_the_words_of_its_own_parameters() -> None:
    # It named input_tokens and the cache counts, which estimate_cost_for_text does not take.
    with pytest.raises(NoTokensError) as refused:
        estimate_cost_for_text("gpt-4o", "", expected_output_tokens=0)

    assert str(refused.value) == (
        "give something to price: the prompt has no tokens and expected_output_tokens and "
        "reasoning_tokens are 0, so every call would be priced $0")
    assert estimate_cost_for_text("gpt-4o", "", expected_output_tokens=0,
                                  reasoning_tokens=1).total_usd > 0


def test_a_plan_of_no_tokens_is_refused_but_an_empty_step_beside_others_is_priced() -> None:
    with pytest.raises(NoTokensError) as refused:
        estimate_plan_cost("gpt-4o", [{"input_tokens": 0}, {"calls": 3}])
    assert str(refused.value) == f"{NO_TOKENS} in every step, so the plan would be priced $0"
    with pytest.raises(NoTokensError):
        compare_plan_costs(["gpt-4o", "gpt-4.1-mini"], [{}])

    # gpt-4o input at $2.50/Mtok: 4 tokens, the empty step adding nothing.
    plan = estimate_plan_cost("gpt-4o", [{}, {"input_tokens": 4}])
    assert plan.total_usd == pytest.approx(4 * 2.5 / 1_000_000)


def test_a_mistyped_model_is_named_before_the_missing_tokens() -> None:
    with pytest.raises(UnknownModelError):
        estimate_cost("gpt-4o-mimi")


def test_usage_of_no_tokens_is_priced_nothing() -> None:
    estimate = price_usage("gpt-4o")
    assert estimate.total_usd == 0.0
    assert [line.kind for line in estimate.line_items] == ["input", "output"]


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"input_tokens": -1}, ValueError, "input_tokens must be at least 0, got -1"),
        ({"output_tokens": -5}, ValueError, "output_tokens must be at least 0"),
        ({"reasoning_tokens": -5}, ValueError, "reasoning_tokens must be at least 0"),
        ({"calls": 0}, ValueError, "calls must be at least 1, got 0"),
        ({"input_tokens": 10**12}, ValueError, "input_tokens must be at most 100,000,000"),
        ({"calls": 10**12}, ValueError, "calls must be at most"),
        ({"input_tokens": 1.5}, TypeError,
         "input_tokens must be a whole number, got 1.5, which is not whole"),
        ({"output_tokens": True}, TypeError, "output_tokens must be a whole number, got bool"),
        ({"input_tokens": 100, "cached_input_tokens": 80, "cache_write_tokens": 30}, ValueError,
         r"cached_input_tokens \(80\) plus cache_write_tokens \(30\) must not exceed input_tokens"),
    ],
)
def test_bad_workloads_name_the_parameter(arguments: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        estimate_cost("gpt-4o", **arguments)


def test_unknown_model_is_reported_with_suggestions() -> None:
    with pytest.raises(UnknownModelError, match="did you mean 'gpt-4o-mini'"):
        estimate_cost("gpt-4o-mimi", input_tokens=1)


def test_compare_costs_sorts_cheapest_first_with_savings() -> None:
    comparisons = compare_costs(
        ["openai/gpt-4o", "gpt-4o-mini", "meta-llama/Meta-Llama-3.1-8B-Instruct"],
        input_tokens=2_000, output_tokens=500, baseline="gpt-4o",
    )
    # gpt-4o: 0.005 + 0.005; mini: 0.0003 + 0.0003; llama: 0.00006 + 0.000025.
    assert [item.model for item in comparisons] == [
        "llama-3.1-8b-instruct", "gpt-4o-mini", "gpt-4o"
    ]
    totals = [item.total_usd for item in comparisons]
    assert totals == pytest.approx([0.000085, 0.0006, 0.01])
    assert comparisons[0].savings_usd == pytest.approx(0.009915)
    assert comparisons[0].savings_fraction == pytest.approx(0.9915)
    assert comparisons[1].savings_fraction == pytest.approx(0.94)
    assert comparisons[2].savings_usd == 0.0
    assert comparisons[1].estimate.model == "gpt-4o-mini"


def test_compare_costs_without_baseline_and_with_outside_baseline(tmp_path: Path) -> None:
    plain = compare_costs(["gpt-4o", "gpt-4o-mini"], input_tokens=1_000)
    assert all(item.savings_usd is None and item.savings_fraction is None for item in plain)

    dearer = compare_costs(["gpt-4o-mini"], input_tokens=1_000_000, baseline="gpt-4.1-mini")
    assert dearer[0].savings_usd == pytest.approx(0.25)  # $0.40 - $0.15

    # A baseline that costs nothing (a user price file's free model) has no savings fraction.
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"models": [
        {"id": "gpt-4o-mini", "input_per_mtok": 0.0, "output_per_mtok": 0.0}]}), encoding="utf-8")
    free = compare_costs(["gpt-4o-mini"], input_tokens=1_000, baseline="gpt-4o-mini",
                         catalog=load_catalog(prices))
    assert free[0].savings_usd == 0.0 and free[0].savings_fraction is None


def test_compare_costs_errors() -> None:
    with pytest.raises(ValueError, match="at least one model"):
        compare_costs([], input_tokens=1)
    with pytest.raises(TypeError, match="not a single string"):
        compare_costs("gpt-4o", input_tokens=1)  # type: ignore[arg-type]
    with pytest.raises(UnknownModelError):
        compare_costs(["gpt-4o"], input_tokens=1, baseline="no-such-model")
    with pytest.raises(ValueError, match="input_tokens must be at least 0"):
        compare_costs(["gpt-4o"], input_tokens=-1)


@pytest.mark.parametrize(
    ("models", "repeat"),
    [
        (["gpt-4o", "gpt-4.1", "gpt-4o"], "models names gpt-4o more than once"),
        (["gpt-4o", "gpt-4o", "GPT-4o"], "models names gpt-4o (as 'gpt-4o' and 'GPT-4o') more "
         "than once"),
        (["gpt-4o", "openai/gpt-4o"], "models names gpt-4o (as 'gpt-4o' and 'openai/gpt-4o') "
         "more than once"),
        (["GPT-4o", "gpt-4.1", "gpt-4.1", "OpenAI/gpt-4o"],
         "models names gpt-4o (as 'GPT-4o' and 'OpenAI/gpt-4o'), gpt-4.1 more than once"),
    ],
)
def test_compare_costs_refuses_a_model_named_twice_by_any_spelling(
    models: list[str], repeat: str
) -> None:
    plan = [{"input_tokens": 1_000}]

    with pytest.raises(ValueError) as priced:
        compare_costs(models, input_tokens=1_000)
    with pytest.raises(ValueError) as planned:
        compare_plan_costs(models, plan)

    for refusal in (priced, planned):
        assert str(refusal.value) == f"{repeat}; list each model once"


def test_prices_come_from_the_given_catalog(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"models": [{"id": "gpt-4o", "input_per_mtok": 1.0}]}),
                    encoding="utf-8")
    estimate = estimate_cost("gpt-4o", input_tokens=1_000_000, catalog=load_catalog(path))
    assert estimate.total_usd == pytest.approx(1.0)


# ---- pricing a prompt text -------------------------------------------------------------------

# 10 tokens in both o200k_base and cl100k_base (checked against tiktoken in test_tokens).
PANGRAM = "The quick brown fox jumps over the lazy dog."


def test_text_estimate_counts_the_prompt_exactly_for_openai_models() -> None:
    estimate = estimate_cost_for_text("gpt-4.1-mini", PANGRAM)
    # 10 input tokens at $0.40 + 256 assumed output tokens at $1.60 = 0.000004 + 0.0004096.
    assert _lines(estimate) == {
        "input": (10, 0.4, pytest.approx(4e-6)),
        "output": (256, 1.6, pytest.approx(4.096e-4)),
    }
    assert estimate.total_usd == pytest.approx(4.136e-4)
    assert estimate.notes == ("output assumed to be 256 tokens per call",)

    cl100k = estimate_cost_for_text("gpt-4", " ".join([PANGRAM] * 3), expected_output_tokens=0)
    assert _lines(cl100k)["input"][0] == 30
    assert not any("estimate" in note for note in cl100k.notes)


def test_text_estimate_flags_an_estimated_count() -> None:
    claude = estimate_cost_for_text("claude-sonnet-4-5", PANGRAM, expected_output_tokens=100)
    # 10 o200k tokens x 1.3 = 13 input tokens at $3; 100 output at $15.
    assert _lines(claude)["input"] == (13, 3.0, pytest.approx(3.9e-5))
    assert claude.total_usd == pytest.approx(3.9e-5 + 1.5e-3)
    assert claude.notes[1] == (
        "prompt token count is an estimate (o200k_base count x 1.30, rounded up): "
        "claude-sonnet-4-5 has no public tokenizer"
    )

    # 10 x 1.1 is 11 tokens: the ratio is applied as a decimal, not as binary 1.1000000000000001.
    mistral = estimate_cost_for_text("mistral-large-3", PANGRAM)
    assert _lines(mistral)["input"][0] == 11


def test_text_estimate_passes_reasoning_and_calls_through() -> None:
    estimate = estimate_cost_for_text(
        "gpt-5-mini", PANGRAM, expected_output_tokens=50, reasoning_tokens=200, calls=4
    )
    # 40 input at $0.25; 200 output and 800 reasoning at $2.
    assert _lines(estimate) == {
        "input": (40, 0.25, pytest.approx(1e-5)),
        "output": (200, 2.0, pytest.approx(4e-4)),
        "reasoning": (800, 2.0, pytest.approx(1.6e-3)),
    }
    assert estimate.notes == ("output assumed to be 50 tokens per call",)


def test_text_estimate_uses_the_given_catalogs_tokenizer_facts(tmp_path: Path) -> None:
    row = {
        "id": "my-finetune", "provider": "acme", "name": "My fine-tune", "input_per_mtok": 1.0,
        "output_per_mtok": 2.0, "cached_input_per_mtok": None, "cache_write_per_mtok": None,
        "context_window": 32768, "max_output_tokens": 4096, "encoding": None,
        "token_ratio": 1.5, "open_weights": True, "params_b": 8.0, "active_params_b": 8.0,
        "quality": None, "quality_source": "none yet", "price_source": "our invoice",
        "as_of": "2026-11-30",
    }
    path = tmp_path / "mine.json"
    path.write_text(json.dumps([row, {"id": "claude-sonnet-4-5", "token_ratio": 2.0}]),
                    encoding="utf-8")
    catalog = load_catalog(path)

    added = estimate_cost_for_text("my-finetune", PANGRAM, catalog=catalog)
    assert _lines(added)["input"] == (15, 1.0, pytest.approx(1.5e-5))
    assert "x 1.50" in added.notes[1]
    overridden = estimate_cost_for_text("claude-sonnet-4-5", PANGRAM, catalog=catalog)
    assert _lines(overridden)["input"][0] == 20
    exact = estimate_cost_for_text("gpt-4.1-mini", PANGRAM, catalog=catalog)
    assert _lines(exact)["input"][0] == 10 and len(exact.notes) == 1


def test_text_estimate_errors_name_the_parameter() -> None:
    with pytest.raises(TypeError, match="prompt must be a string, got bytes"):
        estimate_cost_for_text("gpt-4o", b"hello")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected_output_tokens must be at least 0, got -1"):
        estimate_cost_for_text("gpt-4o", "hello", expected_output_tokens=-1)
    with pytest.raises(ValueError, match="calls must be at least 1"):
        estimate_cost_for_text("gpt-4o", "hello", calls=0)
    with pytest.raises(UnknownModelError, match="did you mean 'gpt-4o-mini'"):
        estimate_cost_for_text("gpt-4o-mimi", "hello")


# ---- planned sequences of calls ----------------------------------------------------------------


def test_plan_prices_each_step_with_its_own_tier() -> None:
    from shoal.cost import estimate_plan_cost

    plan = [{"input_tokens": 250_000, "output_tokens": 1_000},
            {"input_tokens": 10_000, "output_tokens": 1_000, "calls": 3}]
    estimate = estimate_plan_cost("gemini-2.5-pro", plan)
    # Step 1 at the long rates: 250,000 x $2.50 + 1,000 x $15; step 2 x3 at $1.25 / $10.
    assert [(line.kind, line.tokens, line.usd_per_mtok) for line in estimate.line_items] == [
        ("input", 250_000, 2.5), ("output", 1_000, 15.0),
        ("input", 30_000, 1.25), ("output", 3_000, 10.0),
    ]
    assert estimate.total_usd == pytest.approx(0.625 + 0.015 + 0.0375 + 0.03)
    # The retirement is said once for the plan, not once a step.
    assert estimate.notes == (GEMINI_2_5_PRO_RETIRED,
                              "step 1: long-context rates apply: 250,000 input tokens per call "
                              "exceed 200,000")
    single = estimate_cost("gpt-4o", input_tokens=500, output_tokens=50, calls=4)
    assert estimate_plan_cost("gpt-4o", [{"input_tokens": 500, "output_tokens": 50, "calls": 4}]
                              ).total_usd == single.total_usd


REASONING_ON_GPT_4 = {"input_tokens": 8_000, "output_tokens": 100, "reasoning_tokens": 5_000}
GPT_4_RETIRED = "gpt-4 was retired on 2026-10-23 per the catalog; its prices may no longer apply"


@pytest.mark.parametrize("steps", [10, 10_000])
def test_a_plan_notes_each_kind_once_naming_its_steps(steps: int) -> None:
    estimate = estimate_plan_cost("gpt-4", [REASONING_ON_GPT_4] * steps)

    # Identical steps share one text, led by the run of steps it concerns.
    assert estimate.notes == (
        GPT_4_RETIRED,
        f"steps 1-{steps:,}: 8,000 input and 5,100 output and reasoning tokens per call exceed "
        "gpt-4's context window of 8,192, which holds prompt and output together; the API would "
        "reject the call or cut the output short",
        f"steps 1-{steps:,}: 5,100 output and reasoning tokens per call exceed gpt-4's "
        "max_output_tokens of 4,096",
        f"steps 1-{steps:,}: gpt-4 is not listed as a reasoning model; reasoning tokens priced "
        "as output anyway",
    )


def test_a_plan_note_lists_a_few_runs_of_steps_and_the_range_of_their_figures() -> None:
    plain = {"input_tokens": 1_000, "output_tokens": 100}
    # Steps 1, 3, 5, ... 23 pass the context window, each by a prompt of its own size.
    plan = [{**REASONING_ON_GPT_4, "input_tokens": 8_000 + number} if number % 2 == 0 else plain
            for number in range(24)]

    notes = estimate_plan_cost("gpt-4", plan).notes

    assert notes[1] == (
        "steps 1, 3, 5, 7, 9 and 7 more: 13,100 to 13,122 input, output and reasoning tokens per "
        "call exceed gpt-4's context window of 8,192, which holds prompt and output together; "
        "the API would reject those calls or cut their output short")
    assert notes[3].startswith("steps 1, 3, 5, 7, 9 and 7 more: gpt-4 is not listed as a "
                               "reasoning model")
    lone = estimate_plan_cost("gpt-4", [plain, REASONING_ON_GPT_4]).notes
    assert lone[3] == ("step 2: gpt-4 is not listed as a reasoning model; reasoning tokens "
                       "priced as output anyway")


def test_numbered_runs_name_any_number_of_steps_in_a_few_words() -> None:
    from shoal.excerpts import numbered_runs

    assert numbered_runs([4], "step") == "step 4"
    assert numbered_runs(list(range(1, 10_001)), "step") == "steps 1-10,000"
    assert numbered_runs([1, 2, 4], "step") == "steps 1-2, 4"
    assert numbered_runs([*range(1, 6), *range(7, 40, 2)], "step") == (
        "steps 1-5, 7, 9, 11, 13 and 13 more")


def test_plan_comparison_and_errors() -> None:
    from shoal.cost import compare_plan_costs, estimate_plan_cost

    plan = [{"input_tokens": 1_000, "output_tokens": 100}, {"input_tokens": 3_000}]
    rows = compare_plan_costs(["gpt-4o", "gpt-4.1-mini"], plan, baseline="gpt-4o")
    assert [row.model for row in rows] == ["gpt-4.1-mini", "gpt-4o"]
    # gpt-4o: 4,000 x $2.50 + 100 x $10 = $0.011; gpt-4.1-mini: 4,000 x $0.40 + 100 x $1.60.
    assert rows[1].total_usd == pytest.approx(0.011) and rows[0].total_usd == pytest.approx(0.00176)
    assert rows[0].savings_fraction == pytest.approx(0.84)
    with pytest.raises(ValueError, match="plan step 2: input_tokens must be at least 0"):
        estimate_plan_cost("gpt-4o", [{"input_tokens": 1}, {"input_tokens": -1}])
    with pytest.raises(ValueError, match=r"plan step 1 has unknown keys \['prompt'\]"):
        estimate_plan_cost("gpt-4o", [{"prompt": 1}])
    with pytest.raises(ValueError, match="at least one step"):
        estimate_plan_cost("gpt-4o", [])


def test_a_retired_model_is_priced_with_a_note_naming_the_date() -> None:
    workload = {"input_tokens": 1_000, "output_tokens": 100}

    estimate = estimate_cost("claude-sonnet-4-5", **workload)
    (compared,) = compare_costs(["gpt-4o"], baseline="gemini-2.5-pro", **workload)
    plan = estimate_plan_cost("gemini-2.5-pro", [workload, workload])

    assert estimate.notes == (SONNET_4_5_RETIRED,)
    assert estimate.total_usd == pytest.approx(0.0045)  # priced all the same
    assert compared.estimate.notes == () and compared.baseline_notes == (GEMINI_2_5_PRO_RETIRED,)
    assert plan.notes == (GEMINI_2_5_PRO_RETIRED,)  # once for the plan, not once a step


def test_a_model_is_priced_without_the_note_before_its_retirement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import datetime

    from shoal import catalog

    monkeypatch.setattr(catalog, "today", lambda: datetime.date(2026, 11, 29))

    assert estimate_cost("claude-sonnet-4-5", input_tokens=1_000).notes == ()


@pytest.mark.parametrize(
    ("amount", "shown"),
    [(0, "$0"), (1e-07, "$0.0000001"), (1e-303, "< $0.000000001"), (0.4, "$0.40"),
     (2, "$2.00"), (0.4532, "$0.453"), (0.0468, "$0.0468"), (0.05, "$0.05"),
     (1.35e-05, "$0.0000135"), (0.9996, "$1.00"), (1234.567, "$1,234.57"), (-0.4, "-$0.40")],
)
def test_money_in_text_is_never_in_scientific_notation(amount: float, shown: str) -> None:
    from shoal.render import usd

    assert usd(amount) == shown


def test_a_cost_line_of_one_token_says_token() -> None:
    from shoal.render import cost_estimate

    text = cost_estimate(estimate_cost("gpt-4.1-nano", input_tokens=1, output_tokens=2))

    assert "  input: 1 token x $0.10/Mtok = $0.0000001" in text.splitlines()
    assert "  output: 2 tokens x $0.40/Mtok = $0.0000008" in text.splitlines()


def test_a_tiny_rate_keeps_its_significant_digits():
    from shoal.cost import format_usd_per_mtok

    # 1e-7 $/Mtok read "$0.00/Mtok" beside a line of "< $0.000000001".
    assert format_usd_per_mtok(1e-7) == "$0.0000001"
    assert format_usd_per_mtok(2.5e-9) == "$0.0000000025"
    assert (format_usd_per_mtok(0.4), format_usd_per_mtok(1.375)) == ("$0.40", "$1.375")
    # Past 15 decimals a rate read "$0.00"; past 40 digits its digits come with a power of ten.
    assert format_usd_per_mtok(1e-13) == "$0.0000000000001"
    assert format_usd_per_mtok(1e-20) == "$0.00000000000000000001"
    assert format_usd_per_mtok(1.23456e-20) == "$0.0000000000000000000123"
    assert format_usd_per_mtok(1e-38) == "$0." + "0" * 37 + "1"
    assert format_usd_per_mtok(1e-39) == "$1e-39"
    assert format_usd_per_mtok(1.5e-300) == "$1.5e-300"
    assert format_usd_per_mtok(5e-324) == "$5e-324"


def test_a_line_at_a_tiny_rate_never_shows_the_rate_as_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for rate, shown in (("1e-20", "$0.00000000000000000001"), ("1e-300", "$1e-300")):
        prices = tmp_path / "prices.json"
        prices.write_text(f'{{"models": [{{"id": "gpt-4o", "input_per_mtok": {rate}}}]}}',
                          encoding="utf-8")

        code = main(["cost", "gpt-4o", "--input", "100000000", "--calls", "1000000000",
                     "--prices", str(prices)])

        lines = capsys.readouterr().out.splitlines()
        assert code == 0
        assert lines[1].startswith(f"  input: 100,000,000,000,000,000 tokens x {shown}/Mtok = ")


# ---- one exact amount, one rounding rule ----

GEMINI_CALL = {"input_tokens": 250_000, "cached_input_tokens": 100_000, "output_tokens": 1_000,
               "reasoning_tokens": 500}
GEMINI_OPTIONS = ["--input", "250000", "--cached", "100000", "--output", "1000",
                  "--reasoning", "500"]


def test_a_cost_is_exact_and_shown_as_the_ledger_shows_its_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    # $0.375 + $0.025 + $0.015 + $0.0075 at gemini-2.5-pro's long-context rates: $0.4225, which
    # a float sum makes 0.42250000000000004 (shown $0.423) and the ledger stores as 422,500,000
    # nano-dollars (shown $0.422).
    estimate = estimate_cost("gemini-2.5-pro", **GEMINI_CALL)
    assert estimate.total_usd == 0.4225 and estimate.exact_total_usd == Decimal("0.4225")

    monkeypatch.setenv("SHOAL_LEDGER", str(tmp_path / "ledger.sqlite3"))
    assert main(["cost", "gemini-2.5-pro", *GEMINI_OPTIONS]) == 0
    priced = capsys.readouterr().out.splitlines()[0]
    assert main(["ledger", "record", "--scope", "s", "--model", "gemini-2.5-pro",
                 *GEMINI_OPTIONS]) == 0
    recorded = capsys.readouterr().out.splitlines()[0]

    assert priced == "gemini-2.5-pro: $0.422 (prices of 2026-12-04)"
    assert recorded == ("recorded: gemini-2.5-pro $0.422 to s (prices of 2026-12-04); spent "
                        "$0.422")


@pytest.mark.parametrize(
    "priced",
    [[(250_000, 2.5), (1, 0.1)], [(1_000, 0.0375), (3, 1.32), (7, 0.3)], [(99_999_999, 1e-7)],
     [(100_000_000, 1.5e20), (1, 1e-7)], [(0, 15.0)], [(123_456_789, 1 / 3), (256, 0.075)]],
)
def test_routing_prices_a_call_as_the_decimal_sum_rounds_to_a_float(
    priced: list[tuple[int, float]],
) -> None:
    # Routing prices every candidate with integer arithmetic; it must be the float of the
    # exact sum that `shoal cost` shows, to the last bit.
    from shoal.cost import exact_cost_float, exact_sum, exact_usd

    exact = exact_sum(exact_usd(tokens, rate) for tokens, rate in priced)
    assert exact_cost_float(priced) == float(exact)


@pytest.mark.parametrize(
    ("amount", "shown"),
    [(0.4225, "$0.422"), (0.4235, "$0.424"), (0.003375, "$0.00338"), (0.002125, "$0.00212"),
     (2.5e-9, "$0.0000000025"), (1234.565, "$1,234.56"), (1234.575, "$1,234.58"),
     (Decimal("0.4225"), "$0.422"), (Decimal("199999999999999999999.125"),
                                     "$199,999,999,999,999,999,999.12")],
)
def test_amounts_are_rounded_half_to_even_from_their_decimal_digits(
    amount: float | Decimal, shown: str
) -> None:
    from shoal.render import usd

    assert usd(amount) == shown


def test_a_huge_amount_is_shown_to_the_cent_with_no_float_noise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prices = tmp_path / "prices.json"
    row = {"id": "pricey", "provider": "acme", "name": "Pricey", "input_per_mtok": 1_000_000,
           "output_per_mtok": 999_999.999, "cached_input_per_mtok": None,
           "cache_write_per_mtok": None, "context_window": 200_000_000,
           "max_output_tokens": 100_000_000, "encoding": None, "token_ratio": 1.0,
           "open_weights": False, "params_b": None, "active_params_b": None, "quality": None,
           "quality_source": "none", "price_source": "test", "as_of": "2026-11-30"}
    prices.write_text(json.dumps({"models": [row]}), encoding="utf-8")
    argv = ["cost", "pricey", "--prices", str(prices), "--calls", "1000000000"]

    assert main([*argv, "--input", "100000000", "--output", "100000000"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # 10^17 tokens each way: 10^17 dollars of input and 99,999,999,900,000,000 of output.
    assert lines[0] == ("pricey: $199,999,999,900,000,000.00 (prices of 2026-11-30 from user "
                        "file prices.json)")
    assert lines[2].endswith("= $99,999,999,900,000,000.00")

    # Past a float's 17 digits: 99,999,999 x 999,999,999 tokens at $999,999.999/Mtok.
    assert main([*argv[:-1], "999999999", "--output", "99999999"]) == 0
    exact = Decimal(99_999_999) * 999_999_999 * Decimal("999999.999") / 1_000_000
    assert capsys.readouterr().out.splitlines()[0].startswith(f"pricey: ${exact:,.2f} (")
