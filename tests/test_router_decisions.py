"""Routing decisions: privacy guard, conversation history, device fit, stickiness, feedback."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from shoal.catalog import load_catalog
from shoal.feedback import FeedbackError, outcomes_as_rows, record_outcome
from shoal.router import (
    RAW_CONFIDENCE,
    NoEligibleModelError,
    PrivacyBlockedError,
    RouterFileError,
    RoutingError,
    load_router,
    route,
)

DATA = Path(__file__).parent / "data" / "llmrouter"
CODE_PROMPT = "Write a Python function that checks whether a string is a palindrome."
MAIL = "maria.gonzalez@gmail.com"
KEY = "AKIAQYLPMN5HHHFPZAM2"
MT_BENCH = Path(__file__).parents[1] / "python" / "shoal" / "data" / "mt_bench_questions.jsonl"
HOSTED_AND_LOCAL = ["gpt-4o", "gpt-4.1-mini", "llama-3.1-8b-instruct", "qwen2.5-72b-instruct"]


# ---- privacy ----


def test_private_data_keeps_the_task_local_and_says_where() -> None:
    prompt = f"Reply to {MAIL} about the refactor. {CODE_PROMPT}"

    decision = route(prompt, candidates=HOSTED_AND_LOCAL)

    assert decision.privacy is not None and decision.privacy.action == "kept_local"
    (finding,) = decision.privacy.findings
    assert (finding.kind, finding.category, finding.location) == ("email", "personal", "prompt")
    assert prompt[finding.start : finding.end] == MAIL
    assert MAIL not in json.dumps(decision.to_dict()).replace(prompt, "")
    assert f"email in prompt[{finding.start}:{finding.end}]" in decision.reason
    eligible = [a for a in decision.alternatives if a.eligible]
    assert {a.model for a in eligible} == {"llama-3.1-8b-instruct", "qwen2.5-72b-instruct"}
    assert all(a.runs_locally and a.expected_cost_usd == 0.0 for a in eligible)
    gpt = next(a for a in decision.alternatives if a.model == "gpt-4o")
    assert any(c.name == "privacy" and not c.passed for c in gpt.constraints)


def test_clean_prompt_is_not_restricted() -> None:
    decision = route(CODE_PROMPT, candidates=HOSTED_AND_LOCAL)

    assert decision.privacy is not None and decision.privacy.action == "none"
    assert not any(a.runs_locally for a in decision.alternatives)


def test_block_refuses_with_kind_and_offsets_but_not_the_value() -> None:
    with pytest.raises(PrivacyBlockedError, match=r"aws_access_key_id in prompt\[4:24\]") as error:
        route(f"key {KEY} leaked?", privacy="block")

    assert KEY not in str(error.value)
    assert isinstance(error.value, RoutingError)


# 5,000 e-mail addresses, then a key: named in the order found, the key was only counted.
ADDRESSES_THEN_KEY = "Mail: " + " ".join(f"a{n}@b.co" for n in range(5_000)) + f" key {KEY}"
KEY_FOUND = f"aws_access_key_id in prompt[{ADDRESSES_THEN_KEY.index(KEY)}:53920]"
SECRET_FIRST = (f"found a secret and personal data ({KEY_FOUND}; email in prompt[6:13]; email in "
                "prompt[14:21]; ")


def test_a_secret_behind_many_findings_is_named_before_them() -> None:
    with pytest.raises(PrivacyBlockedError) as error:
        route(ADDRESSES_THEN_KEY, privacy="block")
    decision = route(ADDRESSES_THEN_KEY)

    assert f"refused the task: {SECRET_FIRST}" in str(error.value)
    assert str(error.value).count(" in prompt[") == 8 and "and 4993 more)" in str(error.value)
    assert decision.privacy is not None and decision.privacy.summary.startswith(SECRET_FIRST)
    # The Python API lists every finding, in the order found, and counts them as MCP does.
    assert len(decision.privacy.findings) == 5_001
    assert decision.privacy.findings[-1].describe() == KEY_FOUND
    assert decision.privacy.finding_counts == {"aws_access_key_id": 1, "email": 5_000}
    assert decision.privacy.findings_omitted == 0


def test_route_json_counts_the_findings_as_route_task_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from shoal.cli import main

    assert main(["route", ADDRESSES_THEN_KEY, "--json"]) == 0
    privacy = json.loads(capsys.readouterr().out)["privacy"]
    assert main(["route", ADDRESSES_THEN_KEY, "--privacy", "block"]) == 2

    assert privacy["finding_counts"] == {"aws_access_key_id": 1, "email": 5_000}
    assert privacy["findings_omitted"] == 0 and len(privacy["findings"]) == 5_001
    assert f"--privacy block refused the task: {SECRET_FIRST}" in capsys.readouterr().err


def _runners_up(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(("  or ", "  not "))]


def test_route_shows_as_many_runners_up_as_max_alternatives_asks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from shoal.cli import main

    shown = {}
    for given in ([], ["--max-alternatives", "0"], ["--max-alternatives", "7"]):
        assert main(["route", CODE_PROMPT, *given]) == 0
        shown[tuple(given)] = _runners_up(capsys.readouterr().out)
    assert main(["route", CODE_PROMPT, "--max-alternatives", "2", "--json"]) == 0
    decision = json.loads(capsys.readouterr().out)

    # The default stays at 3; the option takes route_task's max_alternatives bounds.
    assert [len(lines) for lines in shown.values()] == [3, 0, 7]
    assert shown[()] == shown[("--max-alternatives", "7")][:3]
    assert len(decision["alternatives"]) == 3
    assert decision["notes"][-1].startswith("shortened: ")


def test_route_without_runners_up_names_none_as_route_task_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from shoal.cli import main

    prompt = "Prove there are infinitely many primes."
    assert main(["route", prompt, "--max-alternatives", "0"]) == 0
    text = capsys.readouterr().out
    assert main(["route", prompt, "--max-alternatives", "0", "--json"]) == 0
    alone = json.loads(capsys.readouterr().out)
    assert main(["route", prompt, "--max-alternatives", "1", "--json"]) == 0
    one = json.loads(capsys.readouterr().out)

    assert "runner-up" not in text and "runner-up" not in alone["reason"]
    assert text.startswith(f"Use {alone['model']}. {alone['reason']}\n")
    assert [candidate["model"] for candidate in alone["alternatives"]] == [alone["model"]]
    runner_up = one["alternatives"][1]["model"]
    assert f"The runner-up, {runner_up}, is predicted at" in one["reason"]
    assert alone["decision_id"] == one["decision_id"]


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["route", CODE_PROMPT, "--max-alternatives", "101"],
         "--max-alternatives must be 0 to 100, got 101"),
        (["route", CODE_PROMPT, "--max-alternatives", "-1"],
         "--max-alternatives must be 0 to 100, got -1"),
        (["route", "--file", "prompts.jsonl", "--max-alternatives", "2"],
         "--max-alternatives shortens the decisions of --file's --json and --jsonl; its table "
         "shows no runners-up"),
        (["route", CODE_PROMPT, "--max-neighbours", "1001", "--json"],
         "--max-neighbours must be 0 to 1,000, got 1,001"),
        (["route", CODE_PROMPT, "--max-neighbours", "2"],
         "--max-neighbours shortens the nearest exemplars --json and --jsonl list; the text "
         "shows none"),
        (["route", "--file", "prompts.jsonl", "--max-neighbours", "2"],
         "--max-neighbours shortens the nearest exemplars --json and --jsonl list; the text "
         "shows none"),
    ],
)
def test_max_alternatives_out_of_bounds_or_with_a_batch_is_refused(
    argv: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from shoal import cli, router

    assert cli.main(argv) == 2
    assert capsys.readouterr().err == f"shoal route: error: {error}\n"
    assert cli.MAX_ALTERNATIVES == router.MAX_ALTERNATIVES


def test_max_neighbours_shortens_one_decisions_json(capsys: pytest.CaptureFixture[str]) -> None:
    from shoal.cli import main

    assert main(["route", CODE_PROMPT, "--json"]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert main(["route", CODE_PROMPT, "--json", "--max-neighbours", "3"]) == 0
    shown = json.loads(capsys.readouterr().out)

    assert shown["neighbours"] == whole["neighbours"][:3]
    assert shown["alternatives"] == whole["alternatives"]
    left_out = len(whole["neighbours"]) - 3
    assert shown["notes"][-1] == (
        f"shortened: 0 more candidates and {left_out} more exemplars not shown")


def test_privacy_off_skips_the_scan() -> None:
    decision = route(f"key {KEY}", privacy="off", candidates=HOSTED_AND_LOCAL)

    assert decision.privacy is not None and decision.privacy.action == "none"
    assert decision.privacy.findings == () and decision.model in HOSTED_AND_LOCAL
    assert decision.privacy.finding_counts == {} and decision.to_dict()["privacy"][
        "finding_counts"] == {}


def test_private_data_with_only_hosted_candidates_explains_why_none_qualify() -> None:
    with pytest.raises(NoEligibleModelError, match="privacy='local'"):
        route(f"mail {MAIL}", candidates=["gpt-4o", "gpt-4.1-mini"])


def test_history_is_scanned_too() -> None:
    history = [{"role": "user", "content": f"my key is {KEY}"},
               {"role": "assistant", "content": "Noted."}]

    decision = route("Now write the deploy script.", history=history,
                     candidates=HOSTED_AND_LOCAL)

    assert decision.privacy is not None
    assert [f.describe() for f in decision.privacy.findings] == [
        "aws_access_key_id in history[0][10:30]"
    ]
    assert decision.model in {"llama-3.1-8b-instruct", "qwen2.5-72b-instruct"}


def test_findings_in_parts_and_tool_calls_name_the_string_they_index() -> None:
    from shoal.privacy import redact, scan_conversation

    arguments = f'{{"to":"{MAIL}"}}'
    history = [{"role": "user", "content": [{"type": "text", "text": "first part"},
                                            {"type": "text", "text": f"key {KEY} here"}]},
               {"role": "assistant", "content": None, "tool_calls": [
                   {"id": "call_1", "type": "function",
                    "function": {"name": "send", "arguments": arguments}}]}]

    decision = route("Now write the deploy script.", history=history,
                     candidates=HOSTED_AND_LOCAL)

    assert decision.privacy is not None
    key, mail = decision.privacy.findings
    assert (key.location, history[0]["content"][1]["text"][key.start : key.end]) == (
        "history[0].content[1].text", KEY)
    assert (mail.location, arguments[mail.start : mail.end]) == (
        "history[1].tool_calls[0].function.arguments", MAIL)
    assert redact(arguments, [mail], location=mail.location) == '{"to":"[email]"}'
    assert decision.privacy.findings == scan_conversation("Now write the deploy script.",
                                                          history)


def test_bad_privacy_policy_is_named() -> None:
    with pytest.raises(RoutingError, match="privacy must be one of local, block, off"):
        route(CODE_PROMPT, privacy="maybe")


# ---- conversation history ----


def test_history_counts_for_context_and_cost_and_changes_the_id() -> None:
    history = [{"role": "user", "content": "word " * 3000},
               {"role": "assistant", "content": "Sure."}]

    alone = route("and in Rust?", candidates=["gpt-4o"])
    with_history = route("and in Rust?", history=history, candidates=["gpt-4o"])

    assert with_history.alternatives[0].input_tokens > alone.alternatives[0].input_tokens + 2900
    assert with_history.alternatives[0].expected_cost_usd > alone.alternatives[0].expected_cost_usd
    assert with_history.conversation_turns == 2 and alone.conversation_turns == 0
    assert with_history.decision_id != alone.decision_id
    assert with_history.neighbours != alone.neighbours  # the context moves the embedding


def test_long_history_can_overflow_a_small_context_window() -> None:
    history = [{"role": "user", "content": "token " * 140_000}]

    decision = route("Summarise the above.", history=history,
                     candidates=["gpt-4o", "gpt-4.1-mini"], privacy="off")

    gpt4o = next(a for a in decision.alternatives if a.model == "gpt-4o")
    assert not gpt4o.eligible and decision.model == "gpt-4.1-mini"
    assert any(c.name == "context_window" and not c.passed for c in gpt4o.constraints)


def test_malformed_history_is_named() -> None:
    with pytest.raises(RoutingError, match=r"history\[1\]: content is missing; give the turn's"):
        route(CODE_PROMPT, history=[{"role": "user", "content": "hi"}, {"role": "user"}])
    with pytest.raises(RoutingError, match=r"history\[1\]: content must be a str or a list of"):
        route(CODE_PROMPT,
              history=[{"role": "user", "content": "hi"}, {"role": "user", "content": 3}])
    with pytest.raises(RoutingError, match="history must be a list of turns"):
        route(CODE_PROMPT, history="hi")  # type: ignore[arg-type]


# ---- device ----


def test_local_models_must_fit_the_device() -> None:
    decision = route(CODE_PROMPT, local_only=True, device="iphone-16-pro")

    assert decision.device == "iphone-16-pro"
    fits = {}
    for candidate in decision.alternatives:
        check = next((c for c in candidate.constraints if c.name == "hardware_fit"), None)
        if check is not None:
            fits[candidate.model] = check.passed
            assert "on iphone-16-pro" in check.detail or "no architecture" in check.detail
    assert fits["llama-3.2-3b-instruct"] is True
    assert fits["llama-3.1-70b-instruct"] is False
    chosen = decision.alternatives[0]
    assert any(c.name == "hardware_fit" and c.passed for c in chosen.constraints)
    assert not any(a.eligible for a in decision.alternatives if fits.get(a.model) is False)


def test_unknown_device_is_named() -> None:
    with pytest.raises(RoutingError, match="device: "):
        route(CODE_PROMPT, local_only=True, device="toaster-9000")


# ---- stickiness ----


def test_stays_on_the_previous_model_within_the_margin() -> None:
    fresh = route(CODE_PROMPT)
    runner_up = next(a for a in fresh.alternatives[1:] if a.eligible)
    gap = (fresh.alternatives[0].objective or 0.0) - (runner_up.objective or 0.0)

    sticky = route(CODE_PROMPT, previous_model=runner_up.model, stickiness_margin=gap + 0.01)
    switched = route(CODE_PROMPT, previous_model=runner_up.model, stickiness_margin=gap / 2)

    assert sticky.model == runner_up.model
    assert sticky.stickiness is not None and sticky.stickiness.stayed
    assert sticky.stickiness.best_model == fresh.model
    assert sticky.stickiness.gain == pytest.approx(gap)
    assert "stayed on" in sticky.reason
    assert switched.model == fresh.model
    assert switched.stickiness is not None and not switched.stickiness.stayed


def test_previous_model_that_breaks_a_constraint_is_left() -> None:
    decision = route(f"mail {MAIL}: {CODE_PROMPT}", previous_model="gpt-4o",
                     stickiness_margin=1.0)

    assert decision.model != "gpt-4o"
    assert decision.stickiness is not None and not decision.stickiness.stayed
    # The constraint it breaks, by name: the prompt holds an e-mail address.
    assert decision.stickiness.detail == f"gpt-4o breaks privacy; switched to {decision.model}"


def test_previous_model_without_an_estimate_is_left_for_that_reason() -> None:
    assert load_catalog().model("gpt-5").quality is None
    assert "gpt-5" not in load_router().models

    decision = route(CODE_PROMPT, previous_model="gpt-5")

    assert decision.stickiness is not None and not decision.stickiness.stayed
    unestimated = "cannot be estimated (no labels in the router and no catalog quality prior)"
    assert decision.stickiness.detail == f"gpt-5 {unestimated}; switched to {decision.model}"
    # Counted as what it is: no constraint the caller set left it out.
    assert f" 1 candidate {unestimated}. Stickiness: " in decision.reason
    assert "hard constraint" not in decision.reason


def test_bad_stickiness_arguments_are_named() -> None:
    with pytest.raises(RoutingError, match="stickiness_margin must be between 0 and 1"):
        route(CODE_PROMPT, previous_model="gpt-4o", stickiness_margin=2.0)
    with pytest.raises(RoutingError, match="previous_model: "):
        route(CODE_PROMPT, previous_model="gpt-9000")


# ---- decision ids and feedback ----


def test_decision_id_is_deterministic_and_input_sensitive() -> None:
    first = route(CODE_PROMPT)
    again = route(CODE_PROMPT)
    cheaper = route(CODE_PROMPT, willingness_to_pay=0.001)

    assert first.decision_id == again.decision_id
    assert first.decision_id != cheaper.decision_id
    assert len(first.decision_id) == 26 and first.decision_id.startswith("d-")


def test_feedback_round_trip_redacts_and_is_idempotent(tmp_path: Path) -> None:
    database = tmp_path / "feedback.sqlite3"
    prompt = f"Email {MAIL} the fix. {CODE_PROMPT}"
    decision = route(prompt, privacy="off")

    first = record_outcome(decision.decision_id, decision.model, 0.8, prompt=prompt,
                           cost_usd=0.0012, db_path=database)
    again = record_outcome(decision.decision_id, decision.model, 0.8, prompt=prompt,
                           cost_usd=0.0012, db_path=database)
    corrected = record_outcome(decision.decision_id, decision.model, 0.6, prompt=prompt,
                               cost_usd=0.0012, db_path=database)
    record_outcome(decision.decision_id, "gpt-4o", 1.0, db_path=database)  # no prompt

    assert (first.status, again.status, corrected.status) == ("recorded", "unchanged", "replaced")
    assert first.redactions == 1
    rows = outcomes_as_rows(database)
    assert len(rows) == 1
    (row,) = rows
    assert row["prompt"] == f"Email [email] the fix. {CODE_PROMPT}"
    assert (row["model"], row["score"], row["cost_usd"]) == (decision.model, 0.6, 0.0012)
    assert row["decision_id"] == decision.decision_id and row["source"] == "shoal feedback"


def test_feedback_rows_fit_a_router(tmp_path: Path) -> None:
    from shoal.router import fit_router

    database = tmp_path / "feedback.sqlite3"
    for index, (prompt, score) in enumerate([("Solve 2x + 1 = 5.", 1.0),
                                             ("Write a haiku about rain.", 0.0)]):
        decision_id = f"d-{index:024x}"
        record_outcome(decision_id, "qwen2.5-7b-instruct", score, prompt=prompt, db_path=database)
        record_outcome(decision_id, "gemma-2-9b-it", 1.0 - score, prompt=prompt, db_path=database)

    router = fit_router(outcomes_as_rows(database), name="feedback")

    assert len(router) == 2 and set(router.models) == {"qwen2.5-7b-instruct", "gemma-2-9b-it"}


def test_feedback_rejects_bad_arguments(tmp_path: Path) -> None:
    database = tmp_path / "feedback.sqlite3"
    with pytest.raises(FeedbackError, match="decision_id must be the id of a routing decision"):
        record_outcome("abc", "gpt-4o", 0.5, db_path=database)
    with pytest.raises(FeedbackError, match=r"score must be in \[0, 1\]"):
        record_outcome("d-" + "0" * 24, "gpt-4o", 1.5, db_path=database)
    with pytest.raises(FeedbackError, match=r"no feedback database at .*missing\.sqlite3"):
        outcomes_as_rows(tmp_path / "missing.sqlite3")


WRITER = """
import sys
from shoal.feedback import record_outcome
worker, count, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for item in range(count):
    record_outcome(f"d-{worker:012x}{item:012x}", "gpt-4o", item / count,
                   prompt=f"task {worker}-{item}", db_path=path)
"""


def test_concurrent_writer_processes_lose_nothing(tmp_path: Path) -> None:
    database = tmp_path / "feedback.sqlite3"
    workers, per_worker = 4, 25
    processes = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(w), str(per_worker), str(database)],
                         stderr=subprocess.PIPE)
        for w in range(workers)
    ]
    errors = [process.communicate(timeout=120)[1] for process in processes]

    assert all(process.returncode == 0 for process in processes), errors
    rows = outcomes_as_rows(database)
    assert len(rows) == workers * per_worker
    assert {row["prompt"] for row in rows} == {
        f"task {w}-{i}" for w in range(workers) for i in range(per_worker)
    }
    import sqlite3

    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# ---- confidence calibration ----


def test_calibration_belongs_to_the_shipped_router() -> None:
    from shoal.router import _calibration_knots, load_router

    version, knots = _calibration_knots()

    assert version == load_router().version, (
        "the default router changed: rerun python -m shoal._build.confidence "
        "tests/data/llmrouter/train.json --out python/shoal/data/confidence_calibration.json"
    )
    assert [y for _, y in knots] == sorted(y for _, y in knots)  # isotonic


def test_calibrated_confidence_is_reliable_on_the_unseen_test_set() -> None:
    import math

    from shoal.catalog import load_catalog
    from shoal.router import _confidence_map, _estimate_quality, load_router

    router, catalog = load_router(), load_catalog()
    calibrate = _confidence_map(router)
    items = json.loads((DATA / "test.json").read_text(encoding="utf-8"))
    raw, calibrated = [], []
    for item in items:
        neighbours = router.neighbours(item["question"])
        closeness = math.fsum(max(n.similarity, 0.0) for n in neighbours) / len(neighbours)
        for model, observed in item["scores"].items():
            quality = _estimate_quality(router, catalog, model, neighbours, closeness)
            agreement = 1.0 - abs(observed - quality[0])
            raw.append((quality[1], agreement))
            calibrated.append((calibrate(quality)[1], agreement))

    # Measured: raw 0.440, calibrated 0.039 (deciles of confidence against the mean
    # agreement 1 - |observed - predicted|).
    assert expected_calibration_error(raw) > 0.3
    assert expected_calibration_error(calibrated) < 0.06


def coin_flip_rows(prompts: int) -> list[dict[str, object]]:
    """Two models scored by coin flips on prompts of six topics: no prompt tells them apart."""
    generator = random.Random(3)
    topics = ["sums", "poems", "code", "law", "recipes", "travel"]
    return [{"prompt": f"Question {index} about {topics[index % 6]}: explain the "
                       f"{topics[index * 7 % 6]} part in detail",
             "model": model, "score": float(generator.random() < 0.5)}
            for index in range(prompts) for model in ("gpt-4.1-mini", "gpt-5-mini")]


def test_a_fitted_routers_confidence_is_the_agreement_to_expect(tmp_path: Path) -> None:
    from shoal.catalog import load_catalog
    from shoal.router import estimate_qualities, fit_router, load_router
    from shoal.router_model import MIN_CONFIDENCE_PAIRS, MIN_CONFIDENCE_PROMPTS

    router = fit_router(coin_flip_rows(40), name="coins", k=5)
    raw = fit_router(coin_flip_rows(40), name="coins", k=5, calibrate_confidence=False)

    # 80 coin-flip labels of 40 prompts: one knot, the agreement a coin flip gives any
    # prediction (as fitted before a map needed 40 prompts: enough prompts keep their map),
    # held down to raw 0 as each model's mean score agrees no better.
    assert len(coin_flip_rows(40)) >= MIN_CONFIDENCE_PAIRS and len(router) >= MIN_CONFIDENCE_PROMPTS
    assert router.confidence_calibration == (
        (0.0, 0.485831568), (0.414971658, 0.485831568), (0.57254614, 0.485831568))
    agreement = router.confidence_calibration[-1][1]
    assert 0.4 < agreement < 0.6 and raw.confidence_calibration == ()
    assert load_router(router.save(tmp_path / "coins.json")).confidence_calibration == (
        router.confidence_calibration)
    prompt, models = "Question 41 about law: explain the poems part in detail", ["gpt-5-mini"]
    decision = route(prompt, router=router, candidates=models)
    uncalibrated = route(prompt, router=raw, candidates=models)
    neighbours = router.neighbours(prompt)
    ((_, raw_confidence, _),) = estimate_qualities(router, load_catalog(), models, neighbours)
    # Close neighbours, yet random labels: the raw value said little of what to expect.
    assert neighbours[0].similarity > 0.4 and raw_confidence < 0.3
    assert uncalibrated.alternatives[0].confidence == raw_confidence
    assert decision.alternatives[0].confidence == agreement
    assert not any(note.startswith(RAW_CONFIDENCE) for note in decision.notes)


def topic_rows() -> list[dict[str, object]]:
    """Sixty prompts of three topics, each topic favouring one of two models by its own margin."""
    generator = random.Random(1)
    topics = {
        "Write a short poem about {}.": {"gpt-4.1-mini": 0.9, "gpt-5-mini": 0.6},
        "Write a Python function that sorts a list of {} records.":
            {"gpt-4.1-mini": 0.5, "gpt-5-mini": 0.95},
        "Solve the equation {} x + 3 = 7 for x.": {"gpt-4.1-mini": 0.6, "gpt-5-mini": 0.9},
    }
    words = ("autumn winter rivers cats dogs trains stars cities gardens oceans bread maps "
             "clocks bells forests snow rain wind fire stone").split()
    return [{"prompt": template.format(word), "model": model,
             "score": min(1.0, max(0.0, score + generator.uniform(-0.1, 0.1)))}
            for template, scores in topics.items() for word in words
            for model, score in scores.items()]


def test_a_prompt_unlike_every_exemplar_gets_the_confidence_of_the_mean_scores() -> None:
    from shoal.router import fit_router
    from shoal.router_model import agreement_of_means

    rows = topic_rows()
    router = fit_router(rows, name="topics")
    models = ["gpt-4.1-mini", "gpt-5-mini"]
    familiar = route("Write a short poem about lanterns.", router=router, candidates=models)
    unlike = route("zzzz qqqq xxxx", router=router, candidates=models)

    # The map was fitted on held-out prompts that each had close exemplars (agreement 0.95);
    # held flat below them, it promised the same to a prompt that none is close to.
    (_, first_agreement), *_ = router.confidence_calibration[1:]
    floor = agreement_of_means(router.scores)
    assert router.confidence_calibration[0] == (0.0, pytest.approx(floor, abs=1e-9))
    assert familiar.neighbours[0].similarity > 0.5 > 0.2 > unlike.neighbours[0].similarity
    assert familiar.alternatives[0].confidence >= first_agreement > 0.9
    for estimate in unlike.alternatives:
        assert floor <= estimate.confidence < first_agreement - 0.05
    assert 0.8 < floor < 0.9


def one_prompt_rows(models: int) -> list[dict[str, object]]:
    """One prompt scored for many models, each model's only label."""
    return [{"prompt": "hello world task", "model": f"own-model-{index:04}",
             "score": index % 11 / 10} for index in range(models)]


def test_labels_of_one_prompt_give_no_confidence_map_however_many(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    from shoal.cli import main
    from shoal.router import fit_router
    from shoal.router_model import MIN_CONFIDENCE_PAIRS

    # Left out of its own neighbours, the one exemplar was predicted by each model's mean score,
    # its own label: agreement 1 from raw confidence 0, so every decision reported 1.00.
    rows = one_prompt_rows(400)
    router = fit_router(rows, name="one-prompt")
    raw = fit_router(rows, name="one-prompt", calibrate_confidence=False)

    assert len(rows) >= MIN_CONFIDENCE_PAIRS and router.confidence_calibration == ()
    prompt, models = "Translate this rental contract into French.", ["gpt-4.1-mini"]
    decision = route(prompt, router=router, candidates=models)
    assert decision.alternatives[0].confidence == route(
        prompt, router=raw, candidates=models).alternatives[0].confidence < 0.5
    assert any(note.startswith(RAW_CONFIDENCE) for note in decision.notes)

    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    assert main(["fit", str(labels), "--out", str(tmp_path / "router.json")]) == 0
    assert ("note: confidence stays raw (labels on 1 prompt, fewer than 40 to calibrate it on: "
            "each prompt is predicted from the others)") in capsys.readouterr().err


def test_a_router_without_a_confidence_map_says_its_confidence_is_raw(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    from shoal.cli import main

    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps(row) + "\n" for row in coin_flip_rows(20)),
                      encoding="utf-8")
    few, none = tmp_path / "few.json", tmp_path / "none.json"

    assert main(["fit", str(labels), "--out", str(few), "--k", "5"]) == 0
    assert ("note: confidence stays raw (fewer than 50 labelled scores to calibrate it on): "
            "`shoal route` reports neighbour evidence times their mean similarity, not the "
            "expected agreement") in capsys.readouterr().err
    assert main(["fit", str(labels), "--out", str(none), "--no-calibration"]) == 0
    assert "note: confidence stays raw (--no-calibration)" in capsys.readouterr().err
    assert main(["fit", str(labels), "--out", str(tmp_path / "more.json"), "--k", "5"]) == 0
    assert "confidence stays raw" in capsys.readouterr().err  # 40 scores: still too few

    assert main(["route", "Question 41 about law", "--router", str(few), "--candidates",
                 "gpt-4.1-mini,gpt-5-mini"]) == 0
    assert ("\n  note: confidence is the raw value for router custom: neighbour evidence times "
            "their mean similarity, not the expected agreement 1 - |observed - predicted|"
            ) in capsys.readouterr().out
    shipped = route("Question 41 about law")
    assert not any(note.startswith(RAW_CONFIDENCE) for note in shipped.notes)


def expected_calibration_error(pairs: list[tuple[float, float]], bins: int = 10) -> float:
    ordered = sorted(pairs)
    error = 0.0
    for index in range(bins):
        chunk = ordered[index * len(ordered) // bins : (index + 1) * len(ordered) // bins]
        confidence = sum(c for c, _ in chunk) / len(chunk)
        observed = sum(o for _, o in chunk) / len(chunk)
        error += len(chunk) / len(ordered) * abs(confidence - observed)
    return error


# ---- what fitted routers and batch tables repeat of a prompt ----


def _labels_with_private_data() -> list[dict[str, object]]:
    """Labels whose prompts hold an address, a key, and a key that straddles the 80-character
    cut of a preview (scanning the cut preview would miss it)."""
    prompts = [
        f"Email {MAIL} the quarterly maths results.",
        f"Rotate {KEY} and write a haiku about it.",
        "Summarise this paragraph about sorting algorithms in detail, please, " + KEY,
        "Solve 2x + 1 = 5 for x.",
    ]
    return [{"prompt": prompt, "model": model, "score": score}
            for prompt in prompts for model, score in (("gemma-2-9b-it", 0.4),
                                                       ("qwen2.5-7b-instruct", 0.8))]


def test_fitted_previews_are_redacted_and_decisions_do_not_repeat_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    from shoal.cli import main

    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps(row) + "\n" for row in _labels_with_private_data()),
                      encoding="utf-8")
    router_file = tmp_path / "router.json"
    assert main(["fit", str(labels), "--out", str(router_file), "--k", "4"]) == 0
    capsys.readouterr()

    written = router_file.read_text(encoding="utf-8")
    assert MAIL not in written and KEY[:8] not in written
    assert "Email [email] the quarterly" in written
    assert "Rotate [aws_access_key_id] and" in written
    assert "in detail, please, [aws_acces…" in written

    assert main(["route", "What is 17 times 23?", "--router", str(router_file), "--json"]) == 0
    decision = json.loads(capsys.readouterr().out)
    previews = [neighbour["preview"] for neighbour in decision["neighbours"]]
    assert len(previews) == 4
    assert not any(MAIL in preview or KEY[:8] in preview for preview in previews)


def test_fitted_router_bytes_stay_deterministic_with_redaction(tmp_path: Path) -> None:
    from shoal.router_model import fit_router

    first = fit_router(_labels_with_private_data(), k=4).to_json()
    second = fit_router(_labels_with_private_data(), k=4).to_json()

    assert first == second


def test_the_batch_table_shows_prompts_redacted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    from shoal.cli import main

    batch = tmp_path / "prompts.jsonl"
    batch.write_text(json.dumps({"prompt": f"Key {KEY} for {MAIL}"}) + "\n"
                     + json.dumps({"prompt": CODE_PROMPT}) + "\n", encoding="utf-8")

    assert main(["route", "--file", str(batch), "--privacy", "off"]) == 0
    table = capsys.readouterr().out

    assert KEY not in table and MAIL not in table
    assert "Key [aws_access_key_id] for [email]" in table
    assert "Write a Python function" in table


def test_a_batch_that_costs_more_routed_says_so() -> None:
    from shoal import render
    from shoal.batch import BatchResult, BatchSummary

    def summary_line(routed: float, strongest: float, fraction: float | None) -> str:
        summary = BatchSummary(prompts=3, routed_cost_usd=routed, routed_quality=0.7,
                               strongest_model="llama-3.1-8b-instruct",
                               strongest_cost_usd=strongest, strongest_quality=0.6,
                               savings_fraction=fraction)
        return render.routing_batch([], BatchResult((), summary)).splitlines()[-1]

    # Past double, a multiple ("12 times as much" rather than "1130% more"), with what it buys.
    assert summary_line(0.0123, 0.001, 1 - 0.0123 / 0.001).endswith(
        "routing costs 12 times as much, for 0.100 higher mean predicted quality")
    assert summary_line(0.0037, 0.001, 1 - 0.0037 / 0.001).endswith(
        "routing costs 3.7 times as much, for 0.100 higher mean predicted quality")
    assert summary_line(0.0012, 0.001, 1 - 0.0012 / 0.001).endswith(
        "routing costs 20% more, for 0.100 higher mean predicted quality")
    assert summary_line(0.01, 0.005, 1 - 0.01 / 0.005).endswith(
        "routing costs 2.0 times as much, for 0.100 higher mean predicted quality")
    assert summary_line(0.01, 0.2, 0.95).endswith("routing saves 95%")
    assert summary_line(0.01, 0.0, None).endswith("routing costs $0.01 more")
    assert summary_line(0.0, 0.0, None).endswith("routing costs the same")


def test_a_batch_compared_with_an_open_weight_model_says_which_prompts_made_it_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    from shoal.cli import main

    batch = tmp_path / "prompts.jsonl"
    questions = MT_BENCH.read_text(encoding="utf-8").splitlines()[:9]
    batch.write_text("\n".join(questions) + "\n\n"
                     + json.dumps({"prompt": f"Draft a reply to {MAIL}."}) + "\n"
                     + json.dumps({"prompt": f"Thank {MAIL} for the call."}) + "\n",
                     encoding="utf-8")
    assert main(["route", "--file", str(batch), "--privacy", "off", "--json"]) == 0
    everywhere = json.loads(capsys.readouterr().out)["summary"]

    assert main(["route", "--file", str(batch), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert main(["route", "--file", str(batch)]) == 0
    table = capsys.readouterr().out.splitlines()

    local, hosted = (load_catalog().model(s["strongest_model"]) for s in (summary, everywhere))
    assert local.open_weights and not hosted.open_weights
    assert (summary["kept_local"], everywhere["kept_local"]) == (2, 0)
    assert table[-2].startswith(f"always {local.id}: ")
    assert table[-1] == (
        "note: 2 prompts (lines 11, 12) hold private data and were kept on open-weight models run "
        "locally, so the batch is compared with the strongest of those that all 11 prompts "
        f"could use ({local.id}), not with the strongest model of all")


# ---- arguments and messages of decisions ----


def test_route_takes_a_router_file_path(tmp_path: Path) -> None:
    from shoal.router_model import fit_router

    path = fit_router(_labels_with_private_data(), k=4).save(tmp_path / "r1.json")

    by_text = route(CODE_PROMPT, router=str(path), candidates=["gemma-2-9b-it"])
    by_path = route(CODE_PROMPT, router=path, candidates=["gemma-2-9b-it"])

    assert by_text.router_version == by_path.router_version
    assert by_text.router_version.startswith("custom@")
    with pytest.raises(RouterFileError, match=r"router file .*missing\.json does not exist"):
        route(CODE_PROMPT, router=str(tmp_path / "missing.json"))


@pytest.mark.parametrize("router", [5, {"k": 4}, ["r1.json"]])
def test_a_router_of_the_wrong_type_is_named(router: object) -> None:
    with pytest.raises(RoutingError, match=r"^router must be a Router .* got "
                       + type(router).__name__):
        route(CODE_PROMPT, router=router)  # type: ignore[arg-type]


def test_when_no_local_model_fits_the_device_the_message_names_the_device(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from shoal.cli import main

    with pytest.raises(NoEligibleModelError, match="expected_output_tokens or device "):
        route(CODE_PROMPT, local_only=True, device="iphone-16-pro",
              candidates=["llama-3.1-70b-instruct"])
    assert main(["route", CODE_PROMPT, "--local-only", "--device", "iphone-16-pro",
                 "--candidates", "llama-3.1-70b-instruct"]) == 2
    assert "--output-tokens or --device (one with more memory" in capsys.readouterr().err
    with pytest.raises(NoEligibleModelError) as refused:
        route(CODE_PROMPT, candidates=["gpt-4o"], max_cost_usd=0.0)
    assert "device" not in str(refused.value)


def test_an_excluded_runner_up_reads_excluded(capsys: pytest.CaptureFixture[str]) -> None:
    from shoal.cli import main

    assert main(["route", CODE_PROMPT, "--candidates", "gpt-4o,gpt-4.1-mini",
                 "--exclude", "gpt-4o", "--max-cost", "1"]) == 0
    out = capsys.readouterr().out

    assert "  not gpt-4o: excluded\n" in out
    assert "breaks allowed" not in out


def test_a_refusal_says_a_candidate_was_excluded_and_names_what_it_breaks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from shoal.cli import main

    with pytest.raises(NoEligibleModelError) as refused:
        route(CODE_PROMPT, candidates=["gpt-4o"], excluded=["gpt-4o"])
    assert str(refused.value).endswith("expected_output_tokens. gpt-4o: excluded")
    with pytest.raises(NoEligibleModelError) as refused:
        route(CODE_PROMPT, candidates=["gpt-4o", "gpt-4.1"], excluded=["gpt-4o"],
              local_only=True)
    assert str(refused.value).endswith(
        "gpt-4.1: breaks local_only (hosted only); gpt-4o: excluded and breaks local_only "
        "(hosted only)"
    )

    assert main(["route", "--candidates", "gpt-4o", "--exclude", "gpt-4o", CODE_PROMPT]) == 2
    assert capsys.readouterr().err.endswith("--output-tokens. gpt-4o: excluded\n")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_route_task_refusal_says_a_candidate_was_excluded() -> None:
    from mcp import Client

    from shoal.server import build_server

    async with Client(build_server()) as client:
        answer = await client.call_tool("route_task", {
            "prompt": CODE_PROMPT, "candidates": ["gpt-4o"], "excluded": ["gpt-4o"],
        })

    assert answer.is_error
    assert answer.content[0].text.endswith("expected_output_tokens. gpt-4o: excluded")


def test_a_batch_s_money_totals_are_the_floats_of_the_exact_sums(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from shoal.cli import main

    assert main(["route", "--file", str(MT_BENCH), "--json"]) == 0
    batch = json.loads(capsys.readouterr().out)

    def exact_total(costs: list[float]) -> float:
        return float(sum((Decimal(repr(cost)) for cost in costs), Decimal(0)))

    chosen = [decision["alternatives"][0]["expected_cost_usd"] for decision in batch["decisions"]]
    strongest = [candidate["expected_cost_usd"] for decision in batch["decisions"]
                 for candidate in decision["alternatives"]
                 if candidate["model"] == batch["summary"]["strongest_model"]]
    assert len(strongest) == len(chosen) == 80
    # Rounded to 6 significant digits, the routed total was 0.0127707 for 0.01277067.
    assert batch["summary"]["routed_cost_usd"] == exact_total(chosen)
    assert batch["summary"]["strongest_cost_usd"] == exact_total(strongest)
