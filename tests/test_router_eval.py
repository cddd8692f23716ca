"""Router evaluation: metrics against hand-computed cases, fit/eval CLI, measured floors."""

from __future__ import annotations

import json
import math
import os
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal._backend import BACKEND
from shoal.catalog import load_catalog
from shoal.cli import main
from shoal.router import load_router
from shoal.router_cli import format_evaluation, mean_scores
from shoal.router_eval import (
    EvaluationError,
    LabelledPrompt,
    aiq,
    cost_table,
    cross_validate,
    evaluate_predictions,
    evaluate_router,
    long_rows,
    non_decreasing_hull,
    pair_metrics,
    read_labelled,
    read_prices,
    with_priors,
)
from shoal.router_model import fit_router
from shoal.router_plot import evaluation_svg
from shoal.tokens import count_tokens

REPOSITORY = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
LLMROUTER = DATA / "llmrouter"

needs_rust = pytest.mark.skipif(
    BACKEND != "rust", reason="fits thousands of exemplars; the parity tests cover the pure path"
)


def test_hull_drops_dominated_and_concave_points() -> None:
    points = [(0.0, 0.5), (0.4, 0.6), (0.5, 0.8), (0.6, 0.7), (1.0, 0.9)]

    assert non_decreasing_hull(points) == [(0.0, 0.5), (0.5, 0.8), (1.0, 0.9)]


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        # Trapezoids 0.5 * (0.5 + 0.8) / 2 + 0.5 * (0.8 + 0.9) / 2.
        ([(0.0, 0.5), (0.4, 0.6), (0.5, 0.8), (0.6, 0.7), (1.0, 0.9)], 0.75),
        # (0.2, 0.55) lies under the chord; then flat at 0.9 from 0.5 to 1.
        ([(0.0, 0.5), (0.2, 0.55), (0.5, 0.9)], 0.35 + 0.45),
        # One point: nothing left of it, flat to the right.
        ([(0.4, 0.6)], 0.6 * 0.6),
        # Costs outside the candidates' range are clamped to it.
        ([(-3.0, 0.2), (7.0, 0.4)], 0.3),
    ],
)
def test_aiq_of_known_hulls(points: list[tuple[float, float]], expected: float) -> None:
    assert math.isclose(aiq(points, 0.0, 1.0), expected, abs_tol=1e-12)


def test_aiq_normalises_cost_and_needs_a_range() -> None:
    assert math.isclose(aiq([(2.0, 0.5), (4.0, 0.9)], 2.0, 4.0), 0.7)
    with pytest.raises(EvaluationError, match="cost_high > cost_low"):
        aiq([(1.0, 0.5)], 1.0, 1.0)


def test_apgr_and_cpt_on_a_toy_pair() -> None:
    strong, weak = [1.0, 1.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0]

    # Strong calls in gain order 0, 3, 1, 2: recovered share 0, 0.5, 1, 1, 1.
    metrics = pair_metrics("router", [0.9, 0.1, 0.0, 0.8], strong, weak)

    assert math.isclose(metrics.apgr, 0.75)
    assert metrics.cpt == {"50%": 25.0, "80%": 50.0}
    worst = pair_metrics("reversed", [0.0, 0.9, 1.0, 0.1], strong, weak)
    assert math.isclose(worst.apgr, (0.25 + 0.75) / 4)
    assert worst.cpt == {"50%": 75.0, "80%": 100.0}
    # Swapped, the "gain" would be a loss and every figure's sign would flip.
    with pytest.raises(EvaluationError, match="the strong model to score higher"):
        pair_metrics("swapped", [0.9, 0.1, 0.0, 0.8], weak, strong)


def test_apgr_of_many_prompts_takes_one_pass() -> None:
    from hang_guard import without_hanging

    count = 300_000
    strong = [float(i % 3 != 0) for i in range(count)]
    weak = [float(i % 2 == 0) for i in range(count)]

    # The weak model's mean was summed again for every prompt: 9e10 additions here, hours.
    metrics = without_hanging(lambda: pair_metrics("oracle", [s - w for s, w in zip(
        strong, weak, strict=True)], strong, weak))

    # A sixth of the prompts gains 1 for a gap of 1/6: half the gap is a twelfth of them.
    assert metrics.cpt == {"50%": 100 / 12, "80%": 80 / 6}


def _pair_prompts(cheap: list[float], dear: list[float]) -> list[LabelledPrompt]:
    """Held-out prompts of a cheap and a dear model, their realised scores given per prompt."""
    costs = {"cheap": 0.000514, "dear": 0.001}
    return [LabelledPrompt(f"prompt {index}", {"cheap": c, "dear": d}, costs, {})
            for index, (c, d) in enumerate(zip(cheap, dear, strict=True))]


@pytest.mark.parametrize(
    ("cheap", "dear", "why"),
    [
        # gpt-5-mini at $0.000514 against acme-small at $0.001, as four held-out prompts gave
        # them: the two-model table read router -0.3750, random 1.8750, oracle -1.1250.
        ([1.0, 1.0, 0.5, 0.0], [0.0, 1.0, 0.0, 1.0],
         "the cheaper cheap scores higher than the dearer dear (0.6250 against 0.5000 on "
         "average), and they measure the gain of sending prompts to the dearer model"),
        ([1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0],
         "the cheaper cheap scores as high as the dearer dear (both 0.5000 on average), so the "
         "dearer has no gain for routing to recover"),
    ],
)
def test_apgr_and_cpt_are_left_out_when_the_cheaper_model_scores_at_least_as_high(
    cheap: list[float], dear: list[float], why: str,
) -> None:
    prompts = _pair_prompts(cheap, dear)

    evaluation = evaluate_predictions(
        prompts, [dict(p.scores) for p in prompts], [dict(p.costs_usd) for p in prompts],
        router_version="perfect",
    )

    assert evaluation.pair is None and evaluation.to_dict()["pair"] is None
    assert f"APGR and CPT do not apply: {why}" in evaluation.notes
    table = format_evaluation(evaluation)
    assert "two-model" not in table and f"note: APGR and CPT do not apply: {why}" in table
    assert evaluation.aiq is not None  # the candidates' costs differ


def test_apgr_and_cpt_are_left_out_for_two_models_of_one_cost() -> None:
    prompts = _one_cost_prompts(0.01)

    evaluation = evaluate_predictions(
        prompts, [dict(p.scores) for p in prompts], [dict(p.costs_usd) for p in prompts],
        router_version="perfect",
    )

    assert evaluation.pair is None
    assert ("APGR and CPT do not apply: both models cost $0.01 a prompt on average, and they "
            "measure routing between a dearer, stronger model and a cheaper one"
            ) in evaluation.notes


def test_apgr_and_cpt_of_a_dearer_stronger_model_stay_in_the_table() -> None:
    prompts = _pair_prompts([0.0, 1.0, 0.0, 1.0], [1.0, 1.0, 1.0, 0.0])

    evaluation = evaluate_predictions(
        prompts, [dict(p.scores) for p in prompts], [dict(p.costs_usd) for p in prompts],
        router_version="perfect",
    )

    assert evaluation.pair is not None
    # Perfect predictions send prompts 0 and 2 (gain 1) first, then 1 (0), then 3 (a loss):
    # recovered shares 0, 1, 2, 2, 1 of the gap 0.25, whose trapezoids average 1.375.
    assert [(p.policy, p.apgr) for p in evaluation.pair if p.policy != "random"] == [
        ("router", 1.375), ("oracle", 1.375)]
    assert not any("APGR" in note for note in evaluation.notes)
    assert "\ntwo-model " in format_evaluation(evaluation)


def _toy_prompts() -> list[LabelledPrompt]:
    return [
        LabelledPrompt("a", {"big": 1.0, "small": 0.0}, {"big": 2.0, "small": 1.0}, {}),
        LabelledPrompt("b", {"big": 1.0, "small": 1.0}, {"big": 2.0, "small": 1.0}, {}),
    ]


def test_evaluation_of_perfect_predictions_matches_the_oracle() -> None:
    prompts = _toy_prompts()
    costs = [dict(p.costs_usd) for p in prompts]

    evaluation = evaluate_predictions(
        prompts, [dict(p.scores) for p in prompts], costs, router_version="perfect",
    )

    assert evaluation.oracle.quality == 1.0 and evaluation.oracle.cost_usd == 1.5
    assert evaluation.best_single.policy == "single:big"
    assert evaluation.cheapest.policy == "single:small"
    assert math.isclose(evaluation.aiq["router"], evaluation.aiq["oracle"])
    # Normalised: small at 0 (0.5), the oracle at 0.5 (1.0): 0.5 * 0.75 + 0.5 * 1.0.
    assert math.isclose(evaluation.aiq["oracle"], 0.875)
    assert [p.policy for p in evaluation.pair] == ["router", "random", "oracle"]
    assert evaluation.pair[0].apgr == evaluation.pair[2].apgr


def test_the_oracle_curve_starts_at_each_prompts_cheapest_candidate_however_small_the_costs(
) -> None:
    # gpt-4.1-mini at a millionth of a dollar per million tokens against gpt-5-mini at $0: a
    # sweep starting at 0.00000001 USD per quality point already paid for gpt-4.1-mini where it
    # scored higher, and the oracle's AIQ, 0 left of that point, read 0.4732 to the router's
    # 0.5761.
    costs = {"gpt-4.1-mini": 2.6e-10, "gpt-5-mini": 0.0}
    prompts = [LabelledPrompt(f"prompt {index}", {"gpt-4.1-mini": 0.9 * (index % 2),
                                                  "gpt-5-mini": 0.6}, costs, {})
               for index in range(10)]
    cheapest_always = [{"gpt-4.1-mini": 0.0, "gpt-5-mini": 1.0} for _ in prompts]

    evaluation = evaluate_predictions(prompts, cheapest_always, [costs] * len(prompts),
                                      router_version="toy")

    assert evaluation.oracle_curve[0].willingness_to_pay == 0
    assert evaluation.oracle_curve[0].picks == {"gpt-5-mini": 10}
    assert evaluation.aiq["router"] == pytest.approx(0.6)
    # From 0.6 at no cost to 0.75 at half the dearest single's cost, then flat.
    assert evaluation.aiq["oracle"] == pytest.approx(0.5 * (0.6 + 0.75) / 2 + 0.5 * 0.75)
    assert "(cost only)" in format_evaluation(evaluation)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    scale=st.sampled_from([0.0, 1e-300, 1e-12, 1e-9, 1e-6, 1e-3, 1.0, 1e3]),
    prices=st.lists(st.integers(0, 10), min_size=3, max_size=3),
    table=st.lists(st.tuples(st.integers(1, 1000),
                             st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)),
                                      min_size=3, max_size=3)),
                   min_size=1, max_size=8),
)
def test_the_oracle_aiq_is_never_below_any_other_policys(
    scale: float, prices: list[int], table: list[tuple[int, list[tuple[float, float]]]],
) -> None:
    # Per prompt: its tokens, and per model (realised score, predicted score). Each model has
    # one price per token, so the cheapest single model is the cheapest choice on every prompt
    # and no policy's cost is clamped up to it.
    models = ("a", "b", "c")
    prompts = [LabelledPrompt(f"prompt {index}",
                              {m: score for m, (score, _) in zip(models, row, strict=True)},
                              {m: price * scale * tokens for m, price in zip(models, prices,
                                                                             strict=True)}, {})
               for index, (tokens, row) in enumerate(table)]
    predictions = [{m: predicted for m, (_, predicted) in zip(models, row, strict=True)}
                   for _, row in table]

    evaluation = evaluate_predictions(prompts, predictions,
                                      [dict(p.costs_usd) for p in prompts], router_version="toy")

    assert evaluation.oracle_curve[-1].quality == evaluation.oracle.quality
    assert evaluation.oracle_curve[-1].cost_usd == evaluation.oracle.cost_usd
    if evaluation.aiq is not None:
        others = [value for name, value in evaluation.aiq.items() if name != "oracle"]
        assert evaluation.aiq["oracle"] >= max(others) - 1e-12


def test_random_choice_is_its_expectation_not_one_draw() -> None:
    # One seeded draw per prompt made random choice 0 on a single prompt, and on 30 prompts
    # better than the best single model.
    costs = {"cheap": 1.0, "dear": 2.0}
    prompts = [LabelledPrompt("a", {"cheap": 1.0, "dear": 0.0}, costs, {}),
               LabelledPrompt("b", {"cheap": 0.0, "dear": 1.0}, costs, {}),
               LabelledPrompt("c", {"cheap": 0.0, "dear": 1.0}, costs, {})]

    evaluation = evaluate_predictions(prompts, [dict(p.scores) for p in prompts],
                                      [costs] * 3, router_version="toy")

    assert evaluation.random.quality == 0.5 and evaluation.random.cost_usd == 1.5
    assert evaluation.random.picks is None
    (random_pair,) = [pair for pair in evaluation.pair if pair.policy == "random"]
    # A third of the gap each prompt sent: 50 % after two prompts, 80 % after all three.
    assert random_pair.apgr == 0.5
    assert random_pair.cpt == {"50%": 200 / 3, "80%": 100.0}


def test_each_json_field_of_an_evaluation_has_one_type_or_null() -> None:
    costs = {"a": 1.0, "b": 2.0, "c": 3.0}
    prompts = [LabelledPrompt(f"prompt {index}", {"a": 0.2, "b": 0.5, "c": index / 3}, costs, {})
               for index in range(4)]

    written = evaluate_predictions(prompts, [dict(p.scores) for p in prompts],
                                   [costs] * 4, router_version="toy").to_dict()

    # Three candidates: no pair metrics, null as when two do not suit them (not an empty list).
    assert written["pair"] is None
    paid = [point["willingness_to_pay"] for curve in ("router_curve", "oracle_curve")
            for point in written[curve]]
    assert all(value is None or isinstance(value, float) for value in paid)
    # The quality-only point, at any price.
    assert written["router_curve"][-1]["willingness_to_pay"] is None
    assert written["router_curve"][0]["willingness_to_pay"] == 0


def test_a_note_says_when_aiq_counts_a_cost_outside_the_single_models_range() -> None:
    # Observed costs make x the cheaper model on one prompt and y on the other: the cheapest
    # choice of each costs $1.50 a prompt, below either single model ($2 and $3).
    prompts = [LabelledPrompt("a", {"x": 0.5, "y": 1.0}, {"x": 1.0, "y": 4.0}, {}),
               LabelledPrompt("b", {"x": 0.5, "y": 1.0}, {"x": 3.0, "y": 2.0}, {})]
    costs = [dict(p.costs_usd) for p in prompts]

    evaluation = evaluate_predictions(prompts, [dict(p.scores) for p in prompts], costs,
                                      router_version="toy")
    within = evaluate_predictions(prompts, [dict(p.scores) for p in prompts],
                                  [{"x": 2.0, "y": 3.0}] * 2, router_version="toy")

    assert ("AIQ counts a cost outside the single models' range ($2.00 to $3.00 a prompt) as "
            "that range's end, and some points lie outside it: router down to $1.50, oracle down "
            "to $1.50 (the rows' own costs make other models the cheapest or the dearest on other "
            "prompts)") in evaluation.notes
    assert not any("outside the single models' range" in note for note in within.notes)


def _one_cost_prompts(cost: float) -> list[LabelledPrompt]:
    """Two candidates at one cost per call (two local models at $0, two at one price)."""
    costs = {"local-a": cost, "local-b": cost}
    return [LabelledPrompt("a", {"local-a": 1.0, "local-b": 0.0}, costs, {}),
            LabelledPrompt("b", {"local-a": 0.0, "local-b": 1.0}, costs, {}),
            LabelledPrompt("c", {"local-a": 1.0, "local-b": 0.0}, costs, {})]


@pytest.mark.parametrize("cost", [0.0, 0.01])
def test_candidates_of_one_cost_are_compared_without_aiq(cost: float) -> None:
    prompts = _one_cost_prompts(cost)

    evaluation = evaluate_predictions(
        prompts, [dict(p.scores) for p in prompts], [dict(p.costs_usd) for p in prompts],
        router_version="perfect",
    )

    assert evaluation.aiq is None and evaluation.to_dict()["aiq"] is None
    assert evaluation.best_single.policy == "single:local-a"
    assert evaluation.oracle.quality == 1.0
    assert evaluation.router_curve[-1].quality == 1.0
    shown = "$0" if cost == 0 else "$0.01"
    assert (f"AIQ left out: every candidate costs {shown} a prompt on average, and AIQ averages "
            "quality over the costs from the cheapest candidate's to the dearest's; with no "
            "such range, compare the quality column") in evaluation.notes
    table = format_evaluation(evaluation)
    assert "\noracle " in table and "AIQ (cost normalised" not in table
    svg = ElementTree.fromstring(evaluation_svg(evaluation))
    legend = [text.text for text in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert "router" in legend and not any("AIQ" in (text or "") for text in legend)


def test_eval_of_local_models_at_no_cost_writes_its_table_json_and_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture,
) -> None:
    data, report, plot = tmp_path / "local.jsonl", tmp_path / "eval.json", tmp_path / "eval.svg"
    data.write_text("".join(
        json.dumps({"prompt": f"Question {index} about topic {index % 3}", "model": model,
                    "score": float((index + offset) % 2), "cost_usd": 0}) + "\n"
        for index in range(8) for offset, model in enumerate(("local-a", "local-b"))
    ), encoding="utf-8")

    assert main(["eval", "--data", str(data), "--folds", "2", "--json", str(report),
                 "--plot", str(plot)]) == 0

    printed = capsys.readouterr().out
    assert "single:local-a (best single, cheapest)" in printed and "oracle" in printed
    assert "note: AIQ left out: every candidate costs $0 a prompt on average" in printed
    assert json.loads(report.read_text(encoding="utf-8"))["aiq"] is None
    assert ElementTree.fromstring(plot.read_text(encoding="utf-8")).tag.endswith("svg")


def test_eval_json_writes_model_names_as_they_are_spelled(
    tmp_path: Path, capsys: pytest.CaptureFixture,
) -> None:
    data, report = tmp_path / "local.jsonl", tmp_path / "eval.json"
    data.write_text("".join(
        json.dumps({"prompt": f"Question {index}", "model": model, "score": float(index % 2),
                    "cost_usd": 0}, ensure_ascii=False) + "\n"
        for index in range(8) for model in ("modèle-ü", "模型-b")
    ), encoding="utf-8")

    assert main(["eval", "--data", str(data), "--folds", "2", "--json", str(report)]) == 0

    # As the table prints them and as the other --json outputs write them: not as \u escapes.
    written = report.read_text(encoding="utf-8")
    assert "modèle-ü" in written and "模型-b" in written and "\\u" not in written
    assert set(json.loads(written)["models"]) == {"modèle-ü", "模型-b"}
    assert "single:modèle-ü (best single" in capsys.readouterr().out


def test_the_table_writes_costs_and_willingness_to_pay_in_dollars() -> None:
    prompts = [
        LabelledPrompt("a", {"big": 1.0, "small": 0.0}, {"big": 3.08e-5, "small": 3.377e-6}, {}),
        LabelledPrompt("b", {"big": 1.0, "small": 1.0}, {"big": 3.08e-5, "small": 3.377e-6}, {}),
    ]
    evaluation = evaluate_predictions(
        prompts, [dict(p.scores) for p in prompts], [dict(p.costs_usd) for p in prompts],
        router_version="toy",
    )

    table = format_evaluation(evaluation)

    rows = {line[:54].strip(): line[54:].split() for line in table.splitlines()[3:9]}
    assert rows["single:big (best single)"] == ["1.0000", "$0.0000308"]
    assert rows["single:small"] == ["0.5000", "$0.00000338"]
    assert rows["oracle"] == ["1.0000", "$0.0000171"]
    # The cheapest point that reaches the oracle's quality, and the trade-offs that chose them:
    # the sweep's first, 0, weighs cost only.
    assert rows["router, cost <= 100% of best single"][1:] == ["$0.0000171", "(wtp", "$0.0000316)"]
    assert rows["router, cost <= 50% of best single"][1:] == ["$0.00000338", "(cost", "only)"]
    assert not re.search(r"\de[-+]?\d", table), table


def test_a_best_single_model_that_is_also_the_cheapest_is_one_row() -> None:
    prompts = _pair_prompts([1.0, 1.0, 0.5, 0.0], [0.0, 1.0, 0.0, 1.0])
    evaluation = evaluate_predictions(
        prompts, [dict(p.scores) for p in prompts], [dict(p.costs_usd) for p in prompts],
        router_version="toy",
    )

    table = format_evaluation(evaluation)

    assert evaluation.best_single is evaluation.cheapest
    singles = [line for line in table.splitlines() if line.startswith("single:")]
    assert singles == [f"{'single:cheap (best single, cheapest)':54}   0.6250    $0.000514"]


@needs_rust
def test_the_readme_shows_what_eval_prints(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    readme = (REPOSITORY / "README.md").read_text(encoding="utf-8")
    command = readme.index("$ shoal eval --train tests/data/llmrouter/train.json")
    shown = readme[readme.index("500 held-out prompts", command):readme.index("```", command)]
    report = tmp_path / "llmrouter.json"

    assert main(["eval", "--train", str(LLMROUTER / "train.json"),
                 "--test", str(LLMROUTER / "test.json"),
                 "--prices", str(LLMROUTER / "models.json"), "--json", str(report)]) == 0

    assert capsys.readouterr().out == shown
    # The table writes dollars; the JSON keeps numbers.
    singles = json.loads(report.read_text(encoding="utf-8"))["singles"]
    assert all(isinstance(single["cost_usd"], float) for single in singles)


def test_costs_come_from_observations_then_prices_then_the_catalog() -> None:
    catalog = load_catalog()
    prompt = LabelledPrompt("hello there", {"gpt-4o": 1.0, "x": 0.5, "y": 0.1},
                            {"x": 0.25}, {"gpt-4o": 1000})

    (row,) = cost_table([prompt], ["gpt-4o", "x", "y"], catalog=catalog,
                        prices={"y": (1.0, 2.0)}, output_tokens=10)

    entry = catalog.model("gpt-4o")
    assert row["x"] == 0.25
    assert math.isclose(row["gpt-4o"], (1000 * entry.input_per_mtok
                                        + 10 * entry.output_per_mtok) / 1e6)
    assert row["y"] > 20 / 1e6
    with pytest.raises(EvaluationError, match="no cost for 'y'"):
        cost_table([prompt], ["y"], catalog=catalog)


def test_a_model_without_a_price_is_refused_by_its_first_row_without_a_cost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    data = tmp_path / "labels.jsonl"
    rows = [{"prompt": f"Question {index}", "model": model, "score": float(index % 2)}
            for index in range(4) for model in ("gpt-4o", "model-a")]
    rows[1]["cost_usd"] = 0.001
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")

    assert main(["eval", "--data", str(data), "--folds", "2"]) == 2

    assert (f"{data}:4: no cost for 'model-a': the catalog does not price it, so give cost_usd "
            "in every row of it or a --prices entry") in capsys.readouterr().err


def test_price_files_accept_both_spellings(tmp_path: Path) -> None:
    prices = read_prices(LLMROUTER / "models.json")
    assert prices["gemma-2-9b-it"] == (0.1, 0.1)
    bad = tmp_path / "prices.json"
    bad.write_text('{"m": {"input_per_mtok": -1}}', encoding="utf-8")
    with pytest.raises(EvaluationError, match="'m' needs input_per_mtok"):
        read_prices(bad)


def test_price_files_in_the_catalog_shape_price_fit_and_eval(tmp_path: Path) -> None:
    # The file `--prices` takes everywhere else: known models may give only their prices.
    path = tmp_path / "catalog.json"
    own_model = {**load_catalog().model("gemma-2-9b-it").__dict__, "id": "my-finetune",
                 "aliases": [], "input_per_mtok": 0.5, "output_per_mtok": 1.5}
    path.write_text(json.dumps({"models": [
        {"id": "gpt-4o", "input_per_mtok": 1.0, "output_per_mtok": 4.0}, own_model,
    ]}), encoding="utf-8")

    prices = read_prices(path)

    assert prices["gpt-4o"] == (1.0, 4.0)
    assert prices["my-finetune"] == (0.5, 1.5)
    assert set(prices) == {"gpt-4o", "my-finetune"}
    path.write_text(json.dumps([{"id": "gpt-4o", "input_per_mtok": -3}]), encoding="utf-8")
    with pytest.raises(EvaluationError, match=r"price file .*input_per_mtok"):
        read_prices(path)


@pytest.mark.parametrize(("text", "problem"), [
    ("[1, 2", "cannot read price file"),
    ('"prices"', "expected a JSON object"),
    ('{"m": [0.1, 0.2]}', "'m' needs input_per_mtok"),
    ('{"m": {"input_per_mtok": NaN, "output_per_mtok": 1}}', "'m' needs input_per_mtok"),
    ('{"m": {"input_per_mtok": true, "output_per_mtok": 1}}', "'m' needs input_per_mtok"),
])
def test_unreadable_price_files_are_named(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(EvaluationError, match=problem):
        read_prices(path)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        # The first entry was used, without a word.
        ('{"gpt-4.1-mini": {"input_per_mtok": 1, "output_per_mtok": 1}, '
         '"openai/GPT-4.1-mini": {"input_per_mtok": 2, "output_per_mtok": 2}}',
         "'openai/GPT-4.1-mini' names gpt-4.1-mini, as 'gpt-4.1-mini' does; give each model "
         "one entry"),
        # A JSON reader keeps the last.
        ('{"gpt-4.1-mini": {"input_per_mtok": 1, "output_per_mtok": 1}, '
         '"gpt-4.1-mini": {"input_per_mtok": 2, "output_per_mtok": 2}}',
         "'gpt-4.1-mini' is given more than once; give each model one entry (only the last "
         "would be read)"),
        ('{"own-model": {"input_per_mtok": 1, "output_per_mtok": 1}, '
         '"Own-Model": {"input_per_mtok": 2, "output_per_mtok": 2}}',
         "'Own-Model' names own-model, as 'own-model' does; give each model one entry"),
        ('{"gpt-4o": {"input_per_mtok": 1, "input_per_mtok": 3, "output_per_mtok": 1}}',
         "gpt-4o gives 'input_per_mtok' more than once; give each once (only the last would "
         "be read)"),
    ],
)
def test_a_price_file_giving_a_model_twice_is_refused_naming_both(
    tmp_path: Path, capsys: pytest.CaptureFixture, text: str, problem: str,
) -> None:
    path = tmp_path / "prices.json"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(EvaluationError) as refused:
        read_prices(path)
    assert str(refused.value) == f"price file {path}: {problem}"

    data = _write_spelt_rows(tmp_path / "labels.jsonl", ("gpt-4.1-mini",), range(8))
    assert main(["eval", "--data", str(data), "--folds", "2", "--prices", str(path)]) == 2
    assert capsys.readouterr().err.endswith(f"price file {path}: {problem}\n")


def test_a_plain_price_file_may_say_where_each_price_comes_from(tmp_path: Path) -> None:
    # As the shipped arena-bench prices do: the README's evaluation of them was refused.
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({
        "gpt-4o": {"input_per_mtok": 1, "output_per_mtok": 2, "source": "vendor list, 2025-12"},
        "acme-small": {"input_per_mtok": 0.1, "output_per_mtok": 0.2},
    }), encoding="utf-8")

    assert read_prices(path) == {"gpt-4o": (1.0, 2.0), "acme-small": (0.1, 0.2)}
    assert all("source" in entry for entry in json.loads(
        (REPOSITORY / "tests/data/arena_hard_v1/prices.json").read_text("utf-8")).values()
        if isinstance(entry, dict))


def test_comment_keys_of_a_price_file_may_repeat(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text('{"_note": "a", "_note": "b", "gpt-4o": {"input_per_mtok": 1, '
                    '"output_per_mtok": 2}}', encoding="utf-8")

    assert read_prices(path) == {"gpt-4o": (1.0, 2.0)}


OVER_A_CATALOG_PRICE = "must be at most 1,000,000 USD per million tokens, as in a catalog file, got"


@pytest.mark.parametrize(("entry", "problem"), [
    # Near the float limit every cost was inf: eval printed $inf and AIQ nan, and --json with
    # --plot wrote NaN and then failed.
    ({"input_per_mtok": 1e308, "output_per_mtok": 1e308},
     f"input_per_mtok {OVER_A_CATALOG_PRICE} 1e+308"),
    ({"input_per_mtok": 10, "output_per_mtok": 1_000_001},
     f"output_per_mtok {OVER_A_CATALOG_PRICE} 1,000,001"),
    ({"input_price": 1e300, "output_price": 1, "service": "NVIDIA"},
     f"input_price {OVER_A_CATALOG_PRICE} 1e+300"),
    # An LLMRouter entry's price beside the two it is read by would be dropped without a word.
    ({"input_price": 1, "output_price": 2, "cached_input_per_mtok": 0.01, "size": "7B"},
     "'cached_input_per_mtok' would not be read: an entry in LLMRouter's form is priced by "
     "input_price and output_price only; give cached or other prices in a catalog file"),
    ({"input_price": 1, "output_per_mtok": 2},
     "gives input_price and output_per_mtok: give input_per_mtok and output_per_mtok, or "
     "LLMRouter's input_price and output_price, not both"),
    ({"input_per_mtok": 10, "output_per_mtok": 30, "typo": 1},
     "unknown field 'typo'; an entry has input_per_mtok, output_per_mtok and an optional source "
     "only"),
    ({"input_per_mtok": 10, "output_per_mtok": 30, "output_per_mtk": 1},
     "unknown field 'output_per_mtk' (did you mean 'output_per_mtok'?); an entry has "
     "input_per_mtok, output_per_mtok and an optional source only"),
    ({"input_per_mtok": 10, "output_per_mtok": 30, "sources": "L"},
     "unknown field 'sources' (did you mean 'source'?); an entry has input_per_mtok, "
     "output_per_mtok and an optional source only"),
    ({"input_per_mtok": 10, "output_per_mtok": 30, "source": ""},
     "source must be a non-empty string, got ''"),
    ({"input_per_mtok": 10, "output_per_mtok": 30, "source": 3},
     "source must be a non-empty string, got 3"),
    # Held to a catalog row's price_source rules, which a copy of it would have to meet.
    ({"input_per_mtok": 10, "output_per_mtok": 30, "source": "L\n\x1b[2Jx"},
     "source must hold only printable characters (no control or format characters, no space "
     "but ' '), got '\\n' in 'L\\n\\x1b[2Jx'"),
])
def test_a_plain_price_file_is_bounded_and_checked_as_a_catalog_file_is(
    tmp_path: Path, capsys: pytest.CaptureFixture, entry: dict[str, object], problem: str,
) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"acme-big": entry,
                                "acme-small": {"input_per_mtok": 1, "output_per_mtok": 2}}),
                    encoding="utf-8")
    rows = [{"prompt": f"Task {task}: write a haiku.", "model": model, "score": score}
            for task in range(8) for model, score in (("acme-big", 0.9), ("acme-small", 0.4))]
    data = tmp_path / "labels.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    report, plot = tmp_path / "eval.json", tmp_path / "eval.svg"

    with pytest.raises(EvaluationError) as refused:
        read_prices(path)
    assert str(refused.value) == f"price file {path}: 'acme-big': {problem}"
    assert main(["eval", "--data", str(data), "--folds", "2", "--prices", str(path),
                 "--json", str(report), "--plot", str(plot)]) == 2
    assert capsys.readouterr().err == f"shoal eval: error: {refused.value}\n"
    assert not report.exists() and not plot.exists()


@pytest.mark.parametrize(("model", "problem"), [
    # A price file's model is printed beside the labelled models' names, so it is held to the
    # same rules: it was read with its newline and terminal escape.
    ("acme\n\x1b[31mbig", "must hold only printable characters (no control or format "
     "characters, no space but ' '), got '\\n' in 'acme\\n\\x1b[31mbig'"),
    ("a" * 201, "must be at most 200 characters, as every model id shoal takes, got 201"),
    (" acme-big", "must not start or end with a space, got ' acme-big'; give 'acme-big'"),
])
def test_a_plain_price_file_names_models_by_the_id_rules(
    tmp_path: Path, model: str, problem: str,
) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({model: {"input_per_mtok": 1, "output_per_mtok": 2}}),
                    encoding="utf-8")

    with pytest.raises(EvaluationError) as refused:
        read_prices(path)
    assert str(refused.value).startswith(f"price file {path}: model {problem}")


def test_an_llmrouter_model_entry_keeps_the_fields_that_describe_the_model(
    tmp_path: Path,
) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"m": {"size": "7B", "feature": "a model", "input_price": 0.2,
                                      "output_price": 0.3, "model": "org/m", "service": "x"}}),
                    encoding="utf-8")

    assert read_prices(path) == {"m": (0.2, 0.3)}


def _write_rows(path: Path) -> None:
    rows = []
    for prompt, maths, poems in [
        ("Solve 2x + 1 = 5 for x.", 1.0, 0.0), ("What is 17 times 23?", 1.0, 0.0),
        ("Write a haiku about autumn leaves.", 0.0, 1.0),
        ("Compose a limerick about a cat.", 0.0, 1.0), ("Compute the derivative of x^3.", 1.0, 0.0),
        ("Write a sonnet about the sea.", 0.0, 1.0), ("Factor x^2 - 9 completely.", 1.0, 0.0),
    ]:
        rows.append({"prompt": prompt, "model": "qwen2.5-7b-instruct", "score": maths,
                     "cost_usd": 1e-5})
        rows.append({"prompt": prompt, "model": "gemma-2-9b-it", "score": poems})
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")


def test_fit_and_eval_commands_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data, router_file = tmp_path / "labels.jsonl", tmp_path / "router.json"
    _write_rows(data)

    assert main(["fit", str(data), "--out", str(router_file), "--name", "toy", "--k", "2"]) == 0
    assert "7 exemplars, 2 models" in capsys.readouterr().out
    router = load_router(router_file)
    assert router.name == "toy" and len(router) == 7
    assert router.costs_usd == (None, 1e-5)  # gemma, qwen (sorted)

    assert main(["route", "Solve 5x - 4 = 11 for x.", "--router", str(router_file),
                 "--candidates", "gemma-2-9b-it,qwen2.5-7b-instruct",
                 "--willingness-to-pay", "1000", "--json"]) == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["model"] == "qwen2.5-7b-instruct"
    assert decision["router_version"] == router.version

    report, plot = tmp_path / "eval.json", tmp_path / "eval.svg"
    assert main(["eval", "--router", str(router_file), "--test", str(data),
                 "--json", str(report), "--plot", str(plot)]) == 0
    printed = capsys.readouterr().out
    # qwen costs less (its observed $0.00001 a call) and scores higher, 4 of 7 against 3.
    assert "AIQ" in printed and "two-model" not in printed
    assert ("note: APGR and CPT do not apply: the cheaper qwen2.5-7b-instruct scores higher "
            "than the dearer gemma-2-9b-it (0.5714 against 0.4286 on average)") in printed
    written = json.loads(report.read_text(encoding="utf-8"))
    assert written["prompts"] == 7 and written["router_curve"][-1]["willingness_to_pay"] is None
    assert ElementTree.fromstring(plot.read_text(encoding="utf-8")).tag.endswith("svg")


def test_fit_and_eval_read_a_plain_price_file_from_shoal_prices_as_from_prices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = tmp_path / "labels.jsonl"
    data.write_text("".join(
        json.dumps({"prompt": f"Question {index} on topic {index % 3}", "model": model,
                    "score": float((index + offset) % 2)}) + "\n"
        for index in range(8) for offset, model in enumerate(("gpt-4o", "acme-7b"))
    ), encoding="utf-8")
    # acme-7b is not in the catalog: only this file prices it.
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"acme-7b": {"input_per_mtok": 0.2, "output_per_mtok": 0.2},
                                  "gpt-4o": {"input_per_mtok": 2.0, "output_per_mtok": 8.0}}),
                      encoding="utf-8")
    monkeypatch.delenv("SHOAL_PRICES", raising=False)
    assert main(["eval", "--data", str(data), "--folds", "2", "--prices", str(prices)]) == 0
    given = capsys.readouterr().out

    monkeypatch.setenv("SHOAL_PRICES", str(prices))
    assert main(["eval", "--data", str(data), "--folds", "2"]) == 0
    assert capsys.readouterr().out == given
    monkeypatch.setenv("SHOAL_PRICES", str(prices))
    assert main(["fit", str(data), "--out", str(tmp_path / "router.json")]) == 0
    capsys.readouterr()

    prices.write_text('{"gpt-4o": {"input_per_mtok": 2.0}}', encoding="utf-8")
    for command in (["eval", "--data", str(data), "--folds", "2"],
                    ["fit", str(data), "--out", str(tmp_path / "again.json")]):
        monkeypatch.setenv("SHOAL_PRICES", str(prices))
        assert main(command) == 2
        assert capsys.readouterr().err.startswith(
            f"shoal {command[0]}: error: SHOAL_PRICES: price file {prices}: 'gpt-4o' needs "
            "input_per_mtok and output_per_mtok")


def test_eval_prices_with_the_catalog_file_given_or_configured(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, router_file = tmp_path / "labels.jsonl", tmp_path / "router.json"
    _write_rows(data)
    assert main(["fit", str(data), "--out", str(router_file), "--k", "2"]) == 0
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps([
        {"id": "gemma-2-9b-it", "input_per_mtok": 100.0, "output_per_mtok": 100.0},
    ]), encoding="utf-8")

    def gemma_cost(*options: str) -> float:
        report = tmp_path / "eval.json"
        assert main(["eval", "--router", str(router_file), "--test", str(data),
                     "--json", str(report), *options]) == 0
        singles = json.loads(report.read_text(encoding="utf-8"))["singles"]
        return next(s["cost_usd"] for s in singles if s["policy"] == "single:gemma-2-9b-it")

    shipped = gemma_cost()
    given = gemma_cost("--prices", str(prices))
    monkeypatch.setenv("SHOAL_PRICES", str(prices))
    configured = gemma_cost()
    capsys.readouterr()

    # Each call is at least 256 output tokens at $100 per Mtok.
    assert shipped < 1e-4 < 256 * 100 / 1e6 <= given == configured


def _topic_rows(path: Path, prompts: int) -> Path:
    """Two models, each better on its own topics: enough prompts for both calibrations."""
    topics = ["sums", "poems", "code", "law", "recipes", "travel"]
    path.write_text("".join(
        json.dumps({"prompt": f"Question {index} about {topics[index % 6]}: explain the "
                              f"{topics[index * 7 % 6]} part", "model": model,
                    "score": float((index + offset) % 3 != 0), "cost_usd": 1e-4 * (offset + 1)})
        + "\n"
        for index in range(prompts) for offset, model in enumerate(("own-small", "own-large"))
    ), encoding="utf-8")
    return path


def steps_shown(stderr: str) -> set[str]:
    """The steps a progress line named: ``step [####----] 3/30`` drawn after a carriage return."""
    return {drawn.split(" [")[0] for drawn in stderr.split("\r") if " [" in drawn}


def test_fit_and_eval_show_each_long_step_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
) -> None:
    from shoal import progress

    data = _topic_rows(tmp_path / "labels.jsonl", 240)
    monkeypatch.setattr(progress, "PROGRESS_DELAY_S", 0.0)

    assert main(["fit", str(data), "--out", str(tmp_path / "router.json"),
                 "--progress", "always"]) == 0
    fitted = capsys.readouterr()
    assert main(["eval", "--data", str(data), "--folds", "2", "--json",
                 str(tmp_path / "shown.json"), "--progress", "always"]) == 0
    shown = capsys.readouterr()
    assert main(["eval", "--data", str(data), "--folds", "2", "--json",
                 str(tmp_path / "quiet.json")]) == 0
    quiet = capsys.readouterr()

    assert steps_shown(fitted.err) == {
        "fitting abilities and difficulties", "calibrating predicted quality",
        "calibrating confidence"}
    # The last step's whole bar, then the line ends before the notes (blanks pad what a longer
    # line drawn before it would leave).
    assert re.search(r"\rcalibrating confidence \[#{30}\] 240/240 *\nnote: ", fitted.err)
    assert {"fold 1 of 2: fitting abilities and difficulties",
            "fold 2 of 2: calibrating predicted quality",
            "fold 2 of 2: predicting held-out prompts", "costing held-out prompts",
            "sweeping the router's willingness to pay"} <= steps_shown(shown.err)
    # Folds fit no confidence map: no figure of an evaluation reads one.
    assert not any("confidence" in step for step in steps_shown(shown.err))
    # Not a terminal, so "auto" shows nothing; the table and the JSON are the same either way.
    assert "\r" not in quiet.err + quiet.out + shown.out + fitted.out
    assert shown.out == quiet.out
    assert (tmp_path / "shown.json").read_bytes() == (tmp_path / "quiet.json").read_bytes()


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_eval_shows_its_progress_on_a_terminal_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
) -> None:
    import threading

    from shoal import progress

    data = _topic_rows(tmp_path / "labels.jsonl", 60)
    monkeypatch.setattr(progress, "PROGRESS_DELAY_S", 0.0)
    controller, terminal = os.openpty()
    drawn: list[bytes] = []

    def read_the_terminal() -> None:
        # Until the terminal's last holder closes it (EIO on Linux, an empty read elsewhere).
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                return
            if not chunk:
                return
            drawn.append(chunk)

    reader = threading.Thread(target=read_the_terminal, daemon=True)
    reader.start()
    with open(terminal, "w", encoding="utf-8") as stderr:
        monkeypatch.setattr("sys.stderr", stderr)
        assert main(["eval", "--data", str(data), "--folds", "2"]) == 0
    reader.join(10)
    os.close(controller)

    assert "fold 2 of 2: predicting held-out prompts [" in b"".join(drawn).decode()
    assert "\r" not in capsys.readouterr().out


def test_eval_command_names_what_is_missing(capsys: pytest.CaptureFixture) -> None:
    assert main(["eval", "--test", str(LLMROUTER / "test.json")]) == 2
    assert "exactly one of --train or --router" in capsys.readouterr().err


def test_task_folds_need_task_labels() -> None:
    with pytest.raises(EvaluationError, match="needs a task"):
        cross_validate(_toy_prompts(), folds="task", fit_options={})


@pytest.fixture(scope="module")
def llmrouter() -> dict[str, object]:
    train = read_labelled(LLMROUTER / "train.json")
    return {
        "train": train,
        "test": read_labelled(LLMROUTER / "test.json"),
        "prices": read_prices(LLMROUTER / "models.json"),
        "catalog": with_priors(load_catalog(), mean_scores(train)),
    }


def test_router_beats_the_best_single_model_at_a_fraction_of_its_cost(llmrouter: dict) -> None:
    router = load_router()  # the shipped router: fitted on train.json only

    evaluation = evaluate_router(llmrouter["test"], router=router, prices=llmrouter["prices"])

    best = evaluation.best_single
    assert best.policy == "single:llama-3.1-nemotron-51b-instruct"
    half = evaluation.best_quality_within(best.cost_usd / 2)
    fifth = evaluation.best_quality_within(best.cost_usd / 5)
    # Measured 0.579 at 34 % and 0.555 at 19 % of the best single model's cost (0.563) with the
    # calibrated router (0.596 and 0.567 before calibration, chosen by cross-validation on
    # train.json only); the paired standard error of a difference on 500 prompts is about 0.017.
    assert half is not None and half.quality >= 0.570
    assert fifth is not None and fifth.quality >= 0.545
    # Measured AIQ 0.590 against 0.528 for the hull of the single models.
    assert evaluation.aiq["router"] >= evaluation.aiq["singles_hull"] + 0.04
    assert evaluation.oracle.quality > half.quality


@needs_rust
def test_two_unlabelled_models_routed_from_their_priors_keep_the_aiq(llmrouter: dict) -> None:
    held_out = ["llama-3.1-nemotron-51b-instruct", "llama-3.3-nemotron-super-49b-v1"]
    full = load_router()  # fitted on train.json with every label
    partial = fit_router(long_rows(llmrouter["train"], without=held_out))
    options = {"catalog": llmrouter["catalog"], "prices": llmrouter["prices"]}

    with_labels = evaluate_router(llmrouter["test"], router=full, **options)
    from_priors = evaluate_router(llmrouter["test"], router=partial, **options)

    assert not set(held_out) & set(partial.models)
    # Measured 0.5558 / 0.5902 = 0.942 for the two strongest models, the worst of all 36 pairs
    # (mean ratio 0.977).
    assert from_priors.aiq["router"] >= 0.9 * with_labels.aiq["router"]


def test_svg_plot_has_every_series() -> None:
    prompts = _toy_prompts()
    evaluation = evaluate_predictions(
        prompts, [dict(p.scores) for p in prompts], [dict(p.costs_usd) for p in prompts],
        router_version="perfect",
    )

    svg = evaluation_svg(evaluation)

    root = ElementTree.fromstring(svg)
    assert len(root.findall("{http://www.w3.org/2000/svg}polyline")) == 3
    assert "router (AIQ" in svg and "single models" in svg and ">small<" in svg


@pytest.mark.parametrize("output", ["--json", "--plot"])
@pytest.mark.parametrize("input_option", ["--train", "--test", "--prices"])
def test_eval_never_writes_over_an_input(
    tmp_path: Path, capsys: pytest.CaptureFixture, output: str, input_option: str
) -> None:
    data, prices = tmp_path / "labels.jsonl", tmp_path / "prices.json"
    _write_rows(data)
    prices.write_text('{"gemma-2-9b-it": {"input_per_mtok": 1, "output_per_mtok": 1}}',
                      encoding="utf-8")
    inputs = {"--train": data, "--test": data, "--prices": prices}
    before = {path: path.read_bytes() for path in inputs.values()}
    target = inputs[input_option]

    assert main(["eval", "--train", str(data), "--test", str(data), "--prices", str(prices),
                 output, str(target)]) == 2
    err = capsys.readouterr().err
    assert f"error: {output} {target} is the input {target}: writing" in err
    assert {path: path.read_bytes() for path in inputs.values()} == before


def test_eval_never_writes_over_its_router_or_data(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data, router_file = tmp_path / "labels.jsonl", tmp_path / "router.json"
    _write_rows(data)
    assert main(["fit", str(data), "--out", str(router_file), "--k", "2"]) == 0
    saved = router_file.read_bytes()

    assert main(["eval", "--router", str(router_file), "--test", str(data),
                 "--plot", str(router_file)]) == 2
    assert main(["eval", "--data", str(data), "--folds", "2", "--json", str(data)]) == 2
    err = capsys.readouterr().err
    assert f"--plot {router_file} is the input {router_file}" in err
    assert f"--json {data} is the input {data}" in err
    assert router_file.read_bytes() == saved


def test_eval_json_and_plot_need_two_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data, report = tmp_path / "labels.jsonl", tmp_path / "out"
    _write_rows(data)
    assert main(["eval", "--train", str(data), "--test", str(data), "--json", str(report),
                 "--plot", str(report)]) == 2
    assert f"--json and --plot both name {report}" in capsys.readouterr().err
    assert not report.exists()


def test_eval_refuses_a_negative_output_length(capsys: pytest.CaptureFixture) -> None:
    # Before any file is read.
    assert main(["eval", "--train", "x.jsonl", "--test", "x.jsonl",
                 "--output-tokens", "-100000"]) == 2
    assert capsys.readouterr().err == ("shoal eval: error: --output-tokens must be an int from 0 "
                                       "to 1,000,000, got -100,000\n")


def test_fit_summary_counts_one_in_the_singular(tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "one.jsonl"
    data.write_text('{"prompt": "Add 2 and 2.", "model": "gpt-4o", "score": 1}\n',
                    encoding="utf-8")
    assert main(["fit", str(data), "--out", str(tmp_path / "r.json")]) == 0
    assert ", 1 exemplar, 1 model (gpt-4o)" in capsys.readouterr().out


def test_a_rows_own_tokens_cost_its_call_before_the_assumed_output_length(
    tmp_path: Path,
) -> None:
    rows = [
        {"prompt": "Solve 2x + 1 = 5 for x.", "model": "gpt-4o", "score": 1.0,
         "input_tokens": 40, "output_tokens": 3000},
        {"prompt": "Solve 2x + 1 = 5 for x.", "model": "gpt-4.1-mini", "score": 0.5},
    ]
    data = tmp_path / "labels.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    catalog = load_catalog()

    (prompt,) = read_labelled(data)
    (costs,) = cost_table([prompt], ["gpt-4o", "gpt-4.1-mini"], catalog=catalog,
                          output_tokens=10)

    assert prompt.output_tokens == {"gpt-4o": 3000}
    own, assumed = catalog.model("gpt-4o"), catalog.model("gpt-4.1-mini")
    assert math.isclose(costs["gpt-4o"],
                        (40 * own.input_per_mtok + 3000 * own.output_per_mtok) / 1e6)
    counted = count_tokens("Solve 2x + 1 = 5 for x.", model="gpt-4.1-mini").tokens
    assert math.isclose(costs["gpt-4.1-mini"],
                        (counted * assumed.input_per_mtok + 10 * assumed.output_per_mtok) / 1e6)
    evaluation = evaluate_router([prompt], router=load_router(), catalog=catalog,
                                 output_tokens=10)
    single = next(s for s in evaluation.singles if s.policy == "single:gpt-4o")
    assert math.isclose(single.cost_usd, costs["gpt-4o"])


def test_priors_for_an_evaluation_keep_the_rest_of_a_user_catalog(tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"models": [{"id": "gpt-4o", "input_per_mtok": 1.0}]}),
                      encoding="utf-8")
    catalog = load_catalog(prices)

    primed = with_priors(catalog, {"gpt-4o": 0.5})

    assert primed.model("gpt-4o").quality == 0.5
    assert primed.model("gpt-4o").quality_source == "evaluation prior"
    assert primed.price_files == catalog.price_files == {"gpt-4o": "prices.json"}
    assert primed.sources == catalog.sources


def _write_spelt_rows(path: Path, spellings: tuple[str, ...], tasks: range) -> Path:
    """Labels of gpt-4.1 under ``spellings`` (taking turns) and of gpt-4.1-mini."""
    rows = []
    for task in tasks:
        prompt = f"Task {task}: " + ("sort a list in Python." if task % 2 else "write a haiku.")
        rows.append({"prompt": prompt, "model": spellings[task % len(spellings)], "score": 0.8})
        rows.append({"prompt": prompt, "model": "gpt-4.1-mini", "score": 0.5 + task % 2 / 5})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _models_and_notes(report: Path) -> tuple[list[str], list[str]]:
    written = json.loads(report.read_text(encoding="utf-8"))
    return written["models"], written["notes"]


def test_eval_reads_model_names_through_the_catalog_as_fit_does(
    tmp_path: Path, capsys: pytest.CaptureFixture,
) -> None:
    data = _write_spelt_rows(tmp_path / "labels.jsonl", ("GPT-4.1", "openai/gpt-4.1"), range(12))
    report = tmp_path / "eval.json"

    assert main(["fit", str(data), "--out", str(tmp_path / "router.json")]) == 0
    fitted = capsys.readouterr().out
    assert main(["eval", "--data", str(data), "--folds", "3", "--json", str(report)]) == 0

    printed = capsys.readouterr().out
    counted = "labels for GPT-4.1 and openai/gpt-4.1 counted as gpt-4.1"
    assert counted in fitted
    assert "single:gpt-4.1 " in printed and "single:GPT-4.1" not in printed
    assert f"note: {counted} (model names are read through the catalog" in printed
    models, notes = _models_and_notes(report)
    assert models == ["gpt-4.1", "gpt-4.1-mini"] and any(counted in note for note in notes)


def test_a_model_spelt_differently_in_train_and_test_is_one_model(
    tmp_path: Path, capsys: pytest.CaptureFixture,
) -> None:
    train = _write_spelt_rows(tmp_path / "train.jsonl", ("gpt-4.1",), range(10))
    test = _write_spelt_rows(tmp_path / "test.jsonl", ("openai/gpt-4.1",), range(10, 16))
    report = tmp_path / "eval.json"

    assert main(["eval", "--train", str(train), "--test", str(test),
                 "--json", str(report)]) == 0
    assert "single:openai/gpt-4.1" not in capsys.readouterr().out
    models, notes = _models_and_notes(report)
    assert models == ["gpt-4.1", "gpt-4.1-mini"]
    assert "labels for openai/gpt-4.1 counted as gpt-4.1 (model names are read" in notes[-1]

    # --holdout-models names a model as any other option does.
    assert main(["eval", "--train", str(train), "--test", str(test), "--holdout-models",
                 "GPT-4.1", "--json", str(report)]) == 0
    _, notes = _models_and_notes(report)
    assert any(note.startswith("labels of gpt-4.1 dropped from training") for note in notes)


def test_spellings_of_one_model_are_averaged_row_by_row_as_fit_averages_them(
    tmp_path: Path,
) -> None:
    from shoal.router_eval import read_catalog_labelled

    catalog = load_catalog()
    rows = tmp_path / "labels.jsonl"
    rows.write_text("".join(json.dumps({"prompt": "Sort a list.", "model": model, "score": score})
                            + "\n" for model, score in (("GPT-4.1", 0.5), ("GPT-4.1", 0.7),
                                                        ("gpt-4.1", 1.0), ("own-model", 0.2))),
                    encoding="utf-8")
    items = tmp_path / "items.json"
    items.write_text(json.dumps([{"question": "Sort a list.",
                                  "scores": {"GPT-4.1": 0.5, "openai/gpt-4.1": 1.0}}]),
                     encoding="utf-8")

    (from_rows,), spelt = read_catalog_labelled(rows, catalog)
    (from_items,), spelt_in_items = read_catalog_labelled(items, catalog)

    assert from_rows.scores == {"gpt-4.1": math.fsum([0.5, 0.7, 1.0]) / 3, "own-model": 0.2}
    assert spelt == {"gpt-4.1": ("GPT-4.1",)}
    assert from_items.scores == {"gpt-4.1": 0.75}
    assert spelt_in_items == {"gpt-4.1": ("GPT-4.1", "openai/gpt-4.1")}


def test_a_price_file_prices_a_model_under_any_of_its_spellings(
    tmp_path: Path, capsys: pytest.CaptureFixture,
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"GPT-4.1": {"input_per_mtok": 100.0, "output_per_mtok": 100.0}}),
                      encoding="utf-8")
    report = tmp_path / "eval.json"

    def gpt_4_1_cost(spelling: str) -> float:
        data = _write_spelt_rows(tmp_path / "labels.jsonl", (spelling,), range(8))
        assert main(["eval", "--data", str(data), "--folds", "2", "--prices", str(prices),
                     "--json", str(report)]) == 0
        singles = json.loads(report.read_text(encoding="utf-8"))["singles"]
        return next(s["cost_usd"] for s in singles if s["policy"] == "single:gpt-4.1")

    # Each call is at least 256 output tokens at $100 per Mtok, whichever way the data spells it.
    assert gpt_4_1_cost("gpt-4.1") >= 256 * 100 / 1e6
    assert gpt_4_1_cost("GPT-4.1") >= 256 * 100 / 1e6
    capsys.readouterr()
