"""Routing: constraints, determinism, prior-based estimates, router files and the evaluation."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from shoal import render
from shoal._backend import BACKEND
from shoal._build.router import llmrouter_rows
from shoal.catalog import load_catalog
from shoal.cli import main
from shoal.router import (
    NoEligibleModelError,
    RouterFileError,
    RoutingError,
    fit_router,
    load_router,
    route,
)
from shoal.router_model import MAX_ROUTER_NAME_CHARS, _content_hash, _encode_scores
from shoal.server import build_server

DATA = Path(__file__).parent / "data" / "llmrouter"
SHIPPED = Path(__file__).parents[1] / "python" / "shoal" / "data"
CODE_PROMPT = "Write a Python function that checks whether a string is a palindrome."
MATH_PROMPT = "Solve for x: 3x + 7 = 22. Show your steps."


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


needs_rust = pytest.mark.skipif(
    BACKEND != "rust", reason="slow on the pure path; the embedding parity tests cover it"
)


def small_rows() -> list[dict[str, object]]:
    prompts = [
        ("Solve 2x + 1 = 5 for x.", 1.0, 0.0),
        ("What is 17 times 23?", 1.0, 1.0),
        ("Write a haiku about autumn leaves.", 0.5, 1.0),
        ("Compose a limerick about a cat.", 0.0, 1.0),
        ("Compute the derivative of x^3.", 1.0, 0.0),
    ]
    rows = []
    for prompt, math_score, poem_score in prompts:
        rows.append({"prompt": prompt, "model": "qwen2.5-7b-instruct", "score": math_score})
        rows.append({"prompt": prompt, "model": "gemma-2-9b-it", "score": poem_score})
    return rows


def test_shipped_router_loads_and_is_small() -> None:
    router = load_router()

    assert router.version.startswith("llmrouter-dcrouter@")
    assert len(router) == 5608
    assert "llama-3.1-nemotron-51b-instruct" in router.models
    assert (SHIPPED / "router_default.json").stat().st_size < 5_000_000


def test_decision_bytes_are_deterministic() -> None:
    first = json.dumps(route(CODE_PROMPT).to_dict(), sort_keys=True)
    second = json.dumps(route(CODE_PROMPT).to_dict(), sort_keys=True)

    assert first == second
    decision = json.loads(first)
    assert decision["model"] == decision["alternatives"][0]["model"]
    assert decision["neighbours"] and decision["reason"]
    assert decision["router_version"] == load_router().version


def test_local_only_routes_to_open_weights_at_zero_cost() -> None:
    decision = route(MATH_PROMPT, local_only=True)

    eligible = [a for a in decision.alternatives if a.eligible]
    assert eligible and all(a.runs_locally and a.expected_cost_usd == 0.0 for a in eligible)
    assert all(a.model in {e.model for e in eligible} for a in decision.alternatives[:1])
    assert any("runs locally" in c.detail for c in decision.alternatives[0].constraints)
    hosted = [a for a in decision.alternatives if not a.eligible]
    assert any(c.name == "local_only" and not c.passed for a in hosted for c in a.constraints)


def test_candidates_excluded_and_max_cost() -> None:
    candidates = ["llama-3.1-nemotron-51b-instruct", "llama-3.1-8b-instruct", "gemma-2-9b-it"]

    only = route(MATH_PROMPT, candidates=candidates)
    without = route(MATH_PROMPT, candidates=candidates, excluded=[only.model])
    capped = route(MATH_PROMPT, candidates=candidates, max_cost_usd=2e-5)

    assert {a.model for a in only.alternatives} == set(candidates)
    assert without.model != only.model
    assert capped.alternatives[0].expected_cost_usd <= 2e-5
    assert capped.model == "llama-3.1-8b-instruct"


def test_context_window_must_fit_prompt_and_output() -> None:
    long_prompt = "word " * 40_000  # 40k tokens

    decision = route(long_prompt, candidates=["gemma-2-9b-it", "llama-3.1-8b-instruct"])

    gemma = next(a for a in decision.alternatives if a.model == "gemma-2-9b-it")
    assert decision.model == "llama-3.1-8b-instruct"
    assert not gemma.eligible
    assert any(c.name == "context_window" and not c.passed for c in gemma.constraints)


def test_no_eligible_model_names_the_failed_constraint() -> None:
    # One candidate past its window, the other past the cost limit: relaxing one may help.
    with pytest.raises(NoEligibleModelError, match="gemma-2-9b-it: breaks context_window"):
        route("word " * 40_000, candidates=["gemma-2-9b-it", "gpt-4o"], max_cost_usd=0.0)


def test_min_quality_picks_cheapest_meeting_it_or_flags_the_best() -> None:
    reachable = route(MATH_PROMPT, min_quality=0.3)
    unreachable = route(MATH_PROMPT, min_quality=0.999)

    meeting = [a for a in reachable.alternatives
               if a.eligible and a.predicted_quality is not None and a.predicted_quality >= 0.3]
    assert reachable.min_quality_met is True
    assert reachable.alternatives[0].expected_cost_usd == min(a.expected_cost_usd for a in meeting)
    assert unreachable.min_quality_met is False
    best = max(a.predicted_quality or 0.0 for a in unreachable.alternatives if a.eligible)
    assert unreachable.alternatives[0].predicted_quality == best
    assert any("min_quality not met" in note for note in unreachable.notes)


def test_willingness_to_pay_trades_quality_for_cost() -> None:
    generous = route(MATH_PROMPT, willingness_to_pay=1e3)
    frugal = route(MATH_PROMPT, willingness_to_pay=1e-6)

    assert frugal.alternatives[0].expected_cost_usd <= generous.alternatives[0].expected_cost_usd
    eligible = [a for a in frugal.alternatives if a.eligible]
    assert frugal.alternatives[0].expected_cost_usd == min(a.expected_cost_usd for a in eligible)


def test_unlabelled_model_is_routable_from_its_prior() -> None:
    decision = route(CODE_PROMPT, candidates=["gemma-3-27b-it", "gpt-4o-mini", "gemma-2-9b-it"])

    by_model = {a.model: a for a in decision.alternatives}
    assert by_model["gemma-3-27b-it"].estimate_source == "catalog prior"
    assert by_model["gemma-2-9b-it"].estimate_source == "exemplars"
    assert 0.0 < by_model["gpt-4o-mini"].predicted_quality < 1.0
    assert by_model["gemma-3-27b-it"].confidence < by_model["gemma-2-9b-it"].confidence
    assert any(note.startswith("prior → mean score") for note in decision.notes)


def test_model_without_labels_or_prior_is_reported_not_chosen() -> None:
    decision = route(CODE_PROMPT, candidates=["gpt-5.5", "llama-3.1-8b-instruct"])

    unknown = next(a for a in decision.alternatives if a.model == "gpt-5.5")
    assert decision.model == "llama-3.1-8b-instruct"
    assert unknown.predicted_quality is None and not unknown.eligible


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [
        ({"willingness_to_pay": 0}, r"^willingness_to_pay must be above 0 \(at least "
         r"0\.000000000001\) and at most 1,000 USD per quality point, got 0$"),
        ({"willingness_to_pay": 1e-13}, r"\(at least 0\.000000000001\) .* got 0\.0000000000001$"),
        ({"willingness_to_pay": math.nan}, r"^willingness_to_pay must be above 0 .* got nan$"),
        ({"willingness_to_pay": 1000.5}, r"and at most 1,000 USD per quality point, got 1,000\.5$"),
        ({"willingness_to_pay": "a lot"}, "^willingness_to_pay must be a number, got str$"),
        ({"min_quality": 1.5}, "min_quality"),
        ({"max_cost_usd": -1.0}, "max_cost_usd must be 0 or more, got -1; None sets no limit"),
        ({"expected_output_tokens": -5}, "expected_output_tokens"),
        ({"candidates": "gpt-4o"}, "candidates"),
        ({"candidates": []}, "candidates"),
        ({"candidates": ["no-such-model-xyz"]}, "candidates: unknown model"),
        ({"excluded": ["gpt-4o", 3]}, "excluded"),
        ({"candidates": ["gpt-4o", "gpt-4.1", "gpt-4o"]},
         "^candidates names gpt-4o more than once; list each model once$"),
        ({"candidates": ["gpt-4o", "openai/gpt-4o"]},
         r"^candidates names gpt-4o \(as 'gpt-4o' and 'openai/gpt-4o'\) more than once"),
        ({"excluded": ["GPT-4o", "gpt-4o"]},
         r"^excluded names gpt-4o \(as 'GPT-4o' and 'gpt-4o'\) more than once"),
        ({"local_only": "yes"}, "local_only"),
    ],
)
def test_bad_arguments_name_the_parameter(arguments: dict[str, object], parameter: str) -> None:
    with pytest.raises(RoutingError, match=parameter):
        route(MATH_PROMPT, **arguments)


def test_prompt_must_be_text() -> None:
    with pytest.raises(RoutingError, match="prompt must be a str"):
        route(None)  # type: ignore[arg-type]


def test_fitted_router_round_trips_and_learns_abilities(tmp_path: Path) -> None:
    router = fit_router(small_rows(), name="tiny", dim=64, k=3)
    path = router.save(tmp_path / "tiny.json")

    again = load_router(path)
    assert again.version == router.version
    assert fit_router(small_rows(), name="tiny", dim=64, k=3).to_json() == router.to_json()
    assert len(again) == 5 and again.models == ("gemma-2-9b-it", "qwen2.5-7b-instruct")

    decision = route("Solve 3x - 4 = 11 for x.", router=again,
                     candidates=["gemma-2-9b-it", "qwen2.5-7b-instruct"], willingness_to_pay=1e3)
    assert decision.model == "qwen2.5-7b-instruct"
    assert decision.neighbours[0].preview.startswith("Solve")


def test_tampered_or_wrong_router_files_are_refused(tmp_path: Path) -> None:
    path = fit_router(small_rows(), dim=32, k=2).save(tmp_path / "router.json")
    document = json.loads(path.read_text(encoding="utf-8"))

    document["abilities"][0] += 1.0
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(RouterFileError, match="content hash"):
        load_router(tampered)

    other = tmp_path / "other.json"
    other.write_text('{"format": "something-else"}', encoding="utf-8")
    with pytest.raises(RouterFileError, match="not a router file"):
        load_router(other)
    with pytest.raises(RouterFileError, match="does not exist"):
        load_router(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "rows is empty"),
        ([{"prompt": "a", "model": "m", "score": 1.5}], r"rows\[0\]: score must be in \[0, 1\]"),
        ([{"prompt": "", "model": "m", "score": 1.0}], r"rows\[0\]: prompt"),
        ([{"prompt": "a", "model": "m", "score": 1}, {"prompt": "b", "score": 0}],
         r"rows\[1\]: model"),
        ([{"prompt": "a", "model": "m", "scroe": 1}],
         r"rows\[0\]: unknown field 'scroe' \(did you mean 'score'\?\)"),
        ([{"prompt": "a", "model": "m", "score": 1, "cost_usd": float("inf")}],
         r"rows\[0\]: cost_usd must be a finite number"),
        ([{"prompt": "a", "model": "m", "score": 1, "input_tokens": 2.5}],
         r"rows\[0\]: input_tokens must be a whole number"),
        # Two such costs once overflowed their mean with a traceback.
        ([{"prompt": "a", "model": "m", "score": 1, "cost_usd": 1e308}],
         r"rows\[0\]: cost_usd must be at most 4,611,686,018\.42, got 1e\+308; check the "
         r"units"),
        ([{"prompt": "a", "model": "m", "score": 1, "output_tokens": 10**400}],
         r"rows\[0\]: output_tokens must be at most 100,000,000, got "),
        # A lone surrogate (what a JSON "\ud800" escape decodes to) has no UTF-8 form.
        ([{"prompt": "a", "model": "m", "score": 1}, {"prompt": "\ud800 hi", "model": "m",
                                                       "score": 1}],
         r"rows\[1\]: prompt has an unpaired surrogate at index 0; text must be valid Unicode"),
        ([{"prompt": "a", "model": "m\udfff", "score": 1}],
         r"rows\[0\]: model has an unpaired surrogate at index 1"),
        ([{"prompt": "a", "model": "m", "score": 1, "task": "\udc80"}],
         r"rows\[0\]: task has an unpaired surrogate"),
    ],
)
def test_bad_training_rows_name_the_row(rows: list[dict[str, object]], message: str) -> None:
    with pytest.raises(RouterFileError, match=message):
        fit_router(rows)


def test_mt_bench_questions_are_shipped_and_routable() -> None:
    lines = (SHIPPED / "mt_bench_questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line) for line in lines]

    assert len(questions) == 80
    for question in questions[:10]:
        assert route(question["turns"][0]).model


@needs_rust
def test_shipped_router_is_reproducible_from_its_training_data() -> None:
    from shoal._build.router import DIM, ROUTER_NAME, SOURCE, K

    items = json.loads((DATA / "train.json").read_text(encoding="utf-8"))
    rebuilt = fit_router(llmrouter_rows(items), name=ROUTER_NAME, source=SOURCE, dim=DIM, k=K,
                         calibrate_confidence=False)

    assert rebuilt.content_hash == load_router().content_hash


RETIRED_BY_THE_TEST_DATE = ("gpt-4.1-nano", "o4-mini", "gpt-4-turbo", "gpt-4-1106-preview",
                            "gpt-4", "gpt-3.5-turbo", "gemini-2.5-pro", "gemini-2.5-flash")


def test_the_default_candidates_leave_out_retired_models_and_say_which() -> None:
    decision = route("Prove that there are infinitely many primes.")

    considered = {candidate.model for candidate in decision.alternatives}
    assert considered.isdisjoint(RETIRED_BY_THE_TEST_DATE)
    assert "o3" in considered  # retires on 2026-12-11, after the test date
    (note,) = [note for note in decision.notes if note.startswith("left out as retired")]
    assert note.startswith("left out as retired per the catalog: gpt-4.1-nano (2026-10-23), ")
    assert "gemini-2.5-pro (2026-12-01)" in note


def test_a_retired_model_named_as_a_candidate_is_considered_with_a_note() -> None:
    decision = route("Prove that there are infinitely many primes.",
                     candidates=["gemini-2.5-pro", "gpt-4o"])

    assert {candidate.model for candidate in decision.alternatives} == {"gemini-2.5-pro",
                                                                        "gpt-4o"}
    assert ("gemini-2.5-pro was retired on 2026-12-01 per the catalog; its prices may no longer "
            "apply; considered because it was named") in decision.notes
    assert not any(note.startswith("left out as retired") for note in decision.notes)


@pytest.mark.anyio
async def test_a_retired_previous_model_is_considered_and_not_said_to_be_left_out(
    capsys: pytest.CaptureFixture[str],
) -> None:
    decision = route("Prove that there are infinitely many primes.",
                     previous_model="gemini-2.5-pro")

    assert "gemini-2.5-pro" in {candidate.model for candidate in decision.alternatives}
    (left_out,) = [note for note in decision.notes if note.startswith("left out as retired")]
    assert "gemini-2.5-pro" not in left_out and "gemini-2.5-flash (2026-12-01)" in left_out
    assert ("gemini-2.5-pro was retired on 2026-12-01 per the catalog; its prices may no longer "
            "apply; considered because it was named") in decision.notes
    # The same notes and decision id on every surface.
    assert main(["route", "Prove that there are infinitely many primes.", "--previous-model",
                 "gemini-2.5-pro", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    async with Client(build_server()) as client:
        answer = await client.call_tool("route_task", {
            "prompt": "Prove that there are infinitely many primes.",
            "previous_model": "gemini-2.5-pro"})
    for shown in (printed, answer.structured_content):
        assert shown is not None
        assert (shown["notes"][:len(decision.notes)], shown["decision_id"]) == (
            list(decision.notes), decision.decision_id)


def test_a_model_is_a_default_candidate_until_its_retirement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import datetime

    from shoal import catalog

    monkeypatch.setattr(catalog, "today", lambda: datetime.date(2026, 10, 22))
    decision = route("Prove that there are infinitely many primes.")

    considered = {candidate.model for candidate in decision.alternatives}
    assert set(RETIRED_BY_THE_TEST_DATE) <= considered
    assert not any("retired" in note for note in decision.notes)


# ---- a router file with a valid hash is still checked field by field ----


def edited_router_file(path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A fitted router's file changed by ``edit``, its content hash computed again (as someone
    editing it by hand would), so only the field checks stand between it and routing."""
    document = json.loads(fit_router(small_rows(), dim=32, k=2).to_json())
    edit(document)
    body = {key: value for key, value in document.items() if key != "content_hash"}
    document["content_hash"] = _content_hash(body)
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _every(*keys: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set every entry of the list at ``keys`` to ``value``."""
    def edit(document: dict[str, Any]) -> None:
        for key in keys[:-1]:
            document = document[key]
        document[keys[-1]] = [value] * len(document[keys[-1]])

    return edit


def _scores(score: Callable[[int, int], float | None]) -> Callable[[dict[str, Any]], None]:
    """Write every exemplar's scores as ``score(row, model)`` gives them (None: missing)."""
    def edit(document: dict[str, Any]) -> None:
        exemplars = document["exemplars"]
        rows = [[score(row, model) for model in range(len(document["models"]))]
                for row in range(exemplars["count"])]
        exemplars["scores_uint16"] = _encode_scores(rows)

    return edit


def _emptied(document: dict[str, Any]) -> None:
    """No models at all, every list that holds one entry per model emptied with them."""
    for key in ("models", "abilities", "mean_scores", "costs_usd"):
        document[key] = []
    document["prediction"]["calibration"] = []
    document["exemplars"]["scores_uint16"] = ""


def _set(*keys: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        for key in keys[:-1]:
            document = document[key]
        document[keys[-1]] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_set("models", 1, value="gemma-2-9b-it"),
         r"models\[1\] repeats 'gemma-2-9b-it': list each model once"),
        (_set("models", 1, value="GEMMA-2-9b-it"),
         r"models\[1\] repeats 'gemma-2-9b-it' \(as 'GEMMA-2-9b-it'\): list each model once"),
        (_set("models", 0, value=" "), r"models\[0\] must be a non-empty model id"),
        (_set("name", value=""), r"name must be a non-empty string without '@'"),
        (_set("name", value="team\nrouter"), r"name must be a non-empty string without '@' or "
         r"control characters, got 'team\\nrouter'"),
        (_set("prediction", "calibration", value=[[[0.2, 0.1], [0.5, 2.0]], []]),
         r"prediction\.calibration\[0\] must hold scores from 0 to 1"),
        (_set("name", value="x" * (MAX_ROUTER_NAME_CHARS + 1)),
         rf"name must be at most {MAX_ROUTER_NAME_CHARS} characters, got 101"),
        (_set("mean_scores", 1, value=1.5),
         r"mean_scores\[1\] must be a finite number in \[0, 1\], got 1.5"),
        (_set("mean_scores", 0, value=-0.01), r"mean_scores\[0\] must be a finite number in"),
        (_set("costs_usd", value=[-0.001, None]),
         r"costs_usd\[0\] must be a finite number or null in \[0, 4,611,686,018\.42\], got "
         r"-0\.001"),
        (_set("costs_usd", value=[0.001, 1e999]), r"costs_usd\[1\] must be a finite number"),
        (_set("abilities", 0, value=1e6),
         r"abilities\[0\] must be a finite number in \[-100, 100\], got 1,000,000$"),
        (_set("exemplars", "difficulties", 2, value=-101),
         r"exemplars\.difficulties\[2\] must be a finite number in \[-100, 100\]"),
        # The centre is a mean of unit vectors; 1e308 in every value once routed with
        # confidence 0.00.
        (_every("embedding", "centre", value=1e308),
         r"embedding\.centre\[0\] must be a finite number in \[-1, 1\], got 1e\+308"),
        (_set("embedding", "centre", 5, value=-1.5),
         r"embedding\.centre\[5\] must be a finite number in \[-1, 1\], got -1\.5"),
        (_set("costs_usd", value=[0.001, 1e12]),
         r"costs_usd\[1\] must be a finite number or null in \[0, 4,611,686,018\.42\]"),
        # Every score missing once routed "from its scores on the nearest labelled prompts".
        (_scores(lambda row, model: None),
         r"models\[0\] \('gemma-2-9b-it'\) has no score on any exemplar in "
         r"exemplars\.scores_uint16"),
        (_scores(lambda row, model: None if model == 1 else 0.5),
         r"models\[1\] \('qwen2\.5-7b-instruct'\) has no score on any exemplar"),
        (_scores(lambda row, model: None if row == 3 else 0.5),
         r"exemplar 3 \('What is 17 times 23\?'\) has no score for any model in "
         r"exemplars\.scores_uint16"),
        (_emptied, r"models is empty: a router needs at least one labelled model"),
        (_set("exemplars", "vectors_int8", value="AAAA"),
         r"exemplars\.vectors_int8 holds 3 bytes, not 5x32"),
        (_set("exemplars", "previews", value=["a", "b"]),
         r"exemplars\.difficulties and exemplars\.previews need count entries"),
        (_set("exemplars", "scores_uint16", value="AAAAAA=="),
         r"exemplars\.scores_uint16 holds 2 scores, expected 5 x 2"),
        (_set("prediction", "calibration", value=[[[0.2, 0.6], [0.5, 0.4]], []]),
         r"prediction\.calibration\[0\] needs y that never falls \(the map is isotonic\)"),
        (_set("prediction", "confidence_calibration", value=[[0.5, 0.7], [0.4, 0.8]]),
         r"prediction\.confidence_calibration needs strictly rising x"),
        (_set("prediction", "confidence_calibration", value=[[0.1, 0.7], [0.4, 0.6]]),
         r"prediction\.confidence_calibration needs y that never falls"),
        (_set("prediction", "confidence_calibration", value=[[0.1, 1.7]]),
         r"prediction\.confidence_calibration must hold values from 0 to 1"),
        (_set("prediction", "confidence_calibration", value=[]),
         r"prediction\.confidence_calibration is empty: a fit without a confidence map leaves "
         r"the field out"),
    ],
)
def test_an_edited_router_file_is_refused_by_the_field_at_fault(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None], message: str,
) -> None:
    path = edited_router_file(tmp_path / "router.json", edit)

    with pytest.raises(RouterFileError, match=rf"router file .*router\.json: {message}"):
        load_router(path)


def test_a_router_file_with_a_lone_surrogate_is_refused_in_words(tmp_path: Path) -> None:
    document = json.loads(fit_router(small_rows(), dim=32, k=2).to_json())
    document["source"] = "labels \ud800"  # json.dumps writes it as the escape "\ud800"
    path = tmp_path / "router.json"
    path.write_text(json.dumps(document), encoding="utf-8")

    with pytest.raises(RouterFileError, match=r"router\.json: the file holds an escaped lone "
                       r"surrogate \(such as \\ud800\), which no encoding can take"):
        load_router(path)


def test_a_router_name_is_as_long_as_fit_allows(tmp_path: Path) -> None:
    longest = "n" * MAX_ROUTER_NAME_CHARS
    assert load_router(edited_router_file(tmp_path / "r.json", _set("name", value=longest)))
    with pytest.raises(RouterFileError, match=f"at most {MAX_ROUTER_NAME_CHARS} characters"):
        fit_router(small_rows(), name=longest + "n")


def test_previews_are_redacted_again_when_a_router_file_is_read(tmp_path: Path) -> None:
    secret = "AKIAQYLPMN5HHHFPZAM2"
    path = edited_router_file(
        tmp_path / "router.json", _set("exemplars", "previews", 0, value=f"Deploy with {secret}"),
    )

    router = load_router(path)
    decision = route("Solve 2x + 1 = 5 for x.", router=router,
                     candidates=["gemma-2-9b-it", "qwen2.5-7b-instruct"])

    assert router.previews[0] == "Deploy with [aws_access_key_id]"
    assert secret not in json.dumps(decision.to_dict())
    # The version names the redacted router it routes with, so saving it gives a readable file.
    assert router.content_hash != json.loads(path.read_text())["content_hash"]
    assert load_router(router.save(tmp_path / "again.json")).version == router.version


def test_the_shipped_router_reads_as_it_is_stored() -> None:
    stored = json.loads((SHIPPED / "router_default.json").read_text(encoding="utf-8"))
    router = load_router()

    assert router.previews == tuple(stored["exemplars"]["previews"])
    assert router.models == tuple(stored["models"])
    assert router.content_hash == stored["content_hash"]


# ---- what a candidate costs: the catalog's price, or a model's own observed cost ----


def costed_rows() -> list[dict[str, object]]:
    """gpt-4.1-mini (a catalog model) and team-ft (one the catalog lacks), each with cost_usd,
    and team-draft, which the catalog lacks and no row prices."""
    rows: list[dict[str, object]] = []
    for number, row in enumerate(small_rows()):
        if row["model"] == "qwen2.5-7b-instruct":
            rows.append({**row, "model": "team-ft", "cost_usd": 0.002 + 0.002 * (number % 4 == 0)})
            rows.append({**row, "model": "team-draft"})
        else:
            rows.append({**row, "model": "gpt-4.1-mini", "cost_usd": 0.5})
    return rows


def test_a_model_the_catalog_lacks_is_priced_at_its_mean_observed_cost() -> None:
    router = fit_router(costed_rows(), name="team", dim=64, k=3)
    assert router.models == ("gpt-4.1-mini", "team-draft", "team-ft")
    assert router.costs_usd == (0.5, None, 0.0032)

    decision = route("Solve 3x - 4 = 11 for x.", router=router)

    by_model = {item.model: item for item in decision.alternatives}
    assert "team-draft" not in by_model
    ft = by_model["team-ft"]
    assert ft.expected_cost_usd == 0.0032 and ft.estimate_source == "exemplars"
    assert ("context_window", True, f"{ft.input_tokens} + 256 tokens; window unknown (not in "
            "the catalog)") in [(c.name, c.passed, c.detail) for c in ft.constraints]
    unchecked = ("team-ft is not in the catalog: priced at $0.0032 per call, the mean cost_usd "
                 "of its label rows, whatever the prompt's length; its context window is not "
                 "checked")
    assert unchecked in decision.notes
    # The text says so too: nothing else there tells that a long prompt may not fit it.
    assert f"  note: {unchecked}" in render.routing_decision(decision).splitlines()
    assert ("not a candidate: team-draft, labelled in the router, but the catalog does not list "
            "it and the label rows gave no cost_usd. Give it a row in a user catalog file "
            "(--prices or SHOAL_PRICES), or fit the router again from label rows that carry "
            "cost_usd") in decision.notes
    # A catalog model keeps the catalog's price for this prompt, not the mean over other ones.
    mini = by_model["gpt-4.1-mini"]
    entry = load_catalog().model("gpt-4.1-mini")
    assert mini.expected_cost_usd == pytest.approx(
        (mini.input_tokens * entry.input_per_mtok + 256 * entry.output_per_mtok) / 1e6)


def test_a_priced_model_the_catalog_lacks_can_be_named_and_an_unpriced_one_cannot() -> None:
    router = fit_router(costed_rows(), name="team", dim=64, k=3)

    named = route("Solve 3x - 4 = 11 for x.", router=router, candidates=["TEAM-FT", "gpt-4o"],
                  previous_model="team-ft")
    assert {item.model for item in named.alternatives} == {"team-ft", "gpt-4o"}
    local = route("Solve 3x - 4 = 11 for x.", router=router, candidates=["team-ft", "phi-4"],
                  local_only=True)
    (ft,) = [item for item in local.alternatives if item.model == "team-ft"]
    assert not ft.eligible and ("local_only", False, "not in the catalog, so not known to run "
                                "locally") in [(c.name, c.passed, c.detail) for c in ft.constraints]
    with pytest.raises(RoutingError, match=r"^candidates: team-draft is labelled in the router "
                       r"but has no price: the catalog does not list it and its label rows gave "
                       r"no cost_usd\. Give it a row"):
        route("Solve 3x - 4 = 11 for x.", router=router, candidates=["team-draft", "gpt-4o"])
    with pytest.raises(RoutingError, match=r"^excluded: unknown model 'team-fx'"):
        route("Solve 3x - 4 = 11 for x.", router=router, excluded=["team-fx"])


def rewrite_in_place_keeping_the_time(path: Path, text: str) -> None:
    """Overwrite ``path`` in place (same inode) with ``text`` of the same size and set its
    times back, as `cp -p` or `rsync -t` onto an existing file do."""
    before = path.stat()
    assert len(text.encode("utf-8")) == before.st_size
    with path.open("r+", encoding="utf-8") as file:
        file.write(text)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino, before.st_size, before.st_mtime_ns)


@pytest.mark.anyio
async def test_a_router_rewritten_at_the_same_size_and_time_is_read_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "router.json"
    fit_router(small_rows(), name="alpha", k=2).save(path)
    omega = fit_router(small_rows(), name="omega", k=2)
    arguments = {"prompt": MATH_PROMPT, "candidates": ["qwen2.5-7b-instruct", "gemma-2-9b-it"]}

    async with Client(build_server(router=str(path))) as client:
        before = await client.call_tool("route_task", arguments)
        assert load_router(path).name == "alpha"
        rewrite_in_place_keeping_the_time(path, omega.to_json() + "\n")
        after = await client.call_tool("route_task", arguments)

    assert load_router(path).version == omega.version
    assert before.structured_content is not None and after.structured_content is not None
    assert before.structured_content["router_version"].startswith("alpha@")
    assert after.structured_content["router_version"] == omega.version


def test_a_price_file_rewritten_at_the_same_size_and_time_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    row = {"id": "gpt-4o", "input_per_mtok": 2.0, "output_per_mtok": 8.0, "as_of": "2026-11-30"}
    path.write_text(json.dumps({"models": [row]}), encoding="utf-8")
    assert load_catalog(path).model("gpt-4o").input_per_mtok == 2.0

    dearer = {**row, "input_per_mtok": 3.0}
    rewrite_in_place_keeping_the_time(path, json.dumps({"models": [dearer]}))

    assert load_catalog(path).model("gpt-4o").input_per_mtok == 3.0
