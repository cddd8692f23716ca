"""What `shoal fit`, `shoal eval` and `shoal route` refuse, and how the refusal names the input."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from shoal.catalog import load_catalog
from shoal.cli import main
from shoal.errors import ShoalError
from shoal.feedback import record_outcome
from shoal.router import (
    NO_LABELLED_CANDIDATE,
    NoEligibleModelError,
    RouterFileError,
    RoutingError,
    fit_router,
    load_router,
    route,
)
from shoal.router_eval import (
    EvaluationError,
    LabelledPrompt,
    cross_validate,
    evaluate_router,
    predict,
    read_labelled,
)
from shoal.router_model import MAX_ROUTER_NAME_CHARS, _content_hash

MATHS, POEMS = "qwen2.5-7b-instruct", "gemma-2-9b-it"
README = Path(__file__).parents[1] / "README.md"
TASKS = [
    ("Solve 2x + 1 = 5 for x.", 1.0, 0.0), ("What is 17 times 23?", 1.0, 0.0),
    ("Write a haiku about autumn leaves.", 0.0, 1.0), ("Compose a limerick about a cat.", 0.0, 1.0),
    ("Compute the derivative of x^3.", 1.0, 0.0), ("Write a sonnet about the sea.", 0.0, 1.0),
]


def label_rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for prompt, maths, poems in TASKS:
        rows.append({"prompt": prompt, "model": MATHS, "score": maths})
        rows.append({"prompt": prompt, "model": POEMS, "score": poems})
    return rows


def write_jsonl(path: Path, rows: list[dict[str, object]], *, blank_after: int = -1) -> Path:
    lines = [json.dumps(row) for row in rows]
    if blank_after >= 0:
        lines.insert(blank_after, "")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def error_of(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 2
    return capsys.readouterr().err


# ---- labelled rows are checked once, up front, and named by FILE:LINE ----


@pytest.mark.parametrize(
    ("score", "problem"),
    [(1.5, "score must be in [0, 1], got 1.5"), (-3, "score must be in [0, 1], got -3"),
     ("x", "score must be a number in [0, 1], got 'x'")],
)
def test_eval_checks_the_held_out_scores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], score: object, problem: str,
) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", label_rows())
    rows = label_rows()
    rows[3]["score"] = score
    test = write_jsonl(tmp_path / "test.jsonl", rows)

    err = error_of(capsys, "eval", "--train", str(train), "--test", str(test))

    assert f"{test}:4: {problem}" in err


@pytest.mark.parametrize(("field", "typed"), [("score", "1e400"), ("score", "-1E+400"),
                                              ("cost_usd", "2.5e999")])
def test_a_number_past_a_float_is_quoted_as_typed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, typed: str,
) -> None:
    lines = [json.dumps(row) for row in label_rows()]
    # json.dumps would write Infinity: the number goes in as a user's file spells it.
    number = typed if field == "score" else f"0.5, \"{field}\": {typed}"
    lines[3] = f'{{"prompt": "What is 17 times 23?", "model": "{POEMS}", "score": {number}}}'
    data = tmp_path / "labels.jsonl"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    items = tmp_path / "items.json"
    items.write_text(f'[{{"question": "Say hi.", "scores": {{"{MATHS}": {typed}}}}}]',
                     encoding="utf-8")

    err = error_of(capsys, "fit", str(data), "--out", str(tmp_path / "router.json"))
    assert err.startswith(f"shoal fit: error: {data}:4: {field} must be ")
    assert err.endswith(f", got {typed}\n")
    err = error_of(capsys, "eval", "--data", str(data), "--folds", "2")
    assert err.endswith(f", got {typed}\n")
    if field == "score":
        err = error_of(capsys, "fit", str(items), "--out", str(tmp_path / "router.json"))
        assert err.endswith(f"scores['{MATHS}'] must be a number in [0, 1], got {typed}\n")


def test_fit_names_the_file_line_of_a_bad_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = label_rows()
    rows[9]["score"] = 1.5
    # A blank line after the fifth row: the bad row is the eleventh line of the file.
    data = write_jsonl(tmp_path / "labels.jsonl", rows, blank_after=5)

    err = error_of(capsys, "fit", str(data), "--out", str(tmp_path / "router.json"))

    assert f"{data}:11: score must be in [0, 1], got 1.5" in err
    assert "rows[" not in err


@pytest.mark.parametrize("folds", ["2", "3", "5"])
def test_cross_validation_names_the_same_line_whatever_the_folds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], folds: str,
) -> None:
    rows = label_rows()
    rows[8]["score"] = 7
    data = write_jsonl(tmp_path / "labels.jsonl", rows)

    err = error_of(capsys, "eval", "--data", str(data), "--folds", folds)

    assert f"{data}:9: score must be in [0, 1], got 7" in err


def test_a_json_list_names_the_item_by_its_index(tmp_path: Path) -> None:
    items = [{"question": prompt, "scores": {MATHS: maths, POEMS: poems}}
             for prompt, maths, poems in TASKS]
    items[2]["scores"][POEMS] = "high"  # type: ignore[index]
    data = tmp_path / "items.json"
    data.write_text(json.dumps(items), encoding="utf-8")

    with pytest.raises(EvaluationError, match=re.escape(
        f"{data}: list item 2 (counting from 0): scores['{POEMS}'] must be a number in [0, 1]"
    )):
        read_labelled(data)


def test_misspelt_fields_are_refused_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = label_rows()
    rows[2] = {"prompt": "Say hi.", "model": MATHS, "scroe": 1.0}
    data = write_jsonl(tmp_path / "labels.jsonl", rows)
    items = tmp_path / "items.json"
    items.write_text(json.dumps([{"question": "Say hi.", "scores": {MATHS: 1.0},
                                  "clustr_id": 3}]), encoding="utf-8")

    err = error_of(capsys, "fit", str(data), "--out", str(tmp_path / "router.json"))
    assert f"{data}:3: unknown field 'scroe' (did you mean 'score'?)" in err
    err = error_of(capsys, "fit", str(items), "--out", str(tmp_path / "router.json"))
    assert "list item 0 (counting from 0): unknown field 'clustr_id' (did you mean " \
           "'cluster_id'?)" in err


def test_rows_from_feedback_export_and_llmrouter_items_still_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "feedback.sqlite3"
    for number, (prompt, maths, poems) in enumerate(TASKS):
        for model, score in ((MATHS, maths), (POEMS, poems)):
            record_outcome(f"d-{number:024x}", model, score, prompt=prompt, cost_usd=1e-5,
                           input_tokens=12, db_path=database)
    assert main(["feedback", "export", "--db", str(database)]) == 0
    exported = tmp_path / "exported.jsonl"
    exported.write_text(capsys.readouterr().out, encoding="utf-8")
    items = tmp_path / "items.json"
    items.write_text(json.dumps([{"question": p, "scores": {MATHS: m, POEMS: s}, "cluster_id": 1}
                                 for p, m, s in TASKS]), encoding="utf-8")

    for data in (exported, items):
        assert main(["fit", str(data), "--out", str(tmp_path / "router.json"), "--k", "2"]) == 0
        assert "6 exemplars, 2 models" in capsys.readouterr().out


# ---- eval options ----


def test_held_out_models_must_be_in_the_training_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(tmp_path / "labels.jsonl", label_rows())
    argv = ["eval", "--train", str(data), "--test", str(data), "--holdout-models"]

    err = error_of(capsys, *argv, "nosuch")
    assert f"--holdout-models: nosuch not in the training data; its models are {POEMS}, " \
           f"{MATHS}" in err
    err = error_of(capsys, *argv, f"{MATHS},{POEMS}")
    assert "at least one model must keep its labels" in err
    err = error_of(capsys, "eval", "--data", str(data), "--folds", "2", "--holdout-models", MATHS)
    assert "--holdout-models goes with --train" in err


@pytest.mark.parametrize("value", ["", ",", " , "])
def test_held_out_models_given_empty_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str,
) -> None:
    data = write_jsonl(tmp_path / "labels.jsonl", label_rows())

    err = error_of(capsys, "eval", "--train", str(data), "--test", str(data),
                   "--holdout-models", value)

    assert err == ("shoal eval: error: --holdout-models is empty: list at least one model id, "
                   "or leave the option out to train on every model's labels\n")


def acme_rows() -> list[dict[str, object]]:
    """A catalog model and one the catalog lacks, with its observed cost, on every prompt."""
    rows: list[dict[str, object]] = []
    for prompt, maths, poems in TASKS:
        rows.append({"prompt": prompt, "model": "gpt-5-mini", "score": maths})
        rows.append({"prompt": prompt, "model": "acme-small", "score": poems, "cost_usd": 0.01})
    return rows


def test_a_model_the_catalog_lacks_is_held_out_with_its_mean_score_as_prior(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", acme_rows())
    test = write_jsonl(tmp_path / "test.jsonl", acme_rows()[4:])
    report = tmp_path / "eval.json"

    assert main(["eval", "--train", str(train), "--test", str(test), "--holdout-models",
                 "acme-small", "--json", str(report)]) == 0

    written = json.loads(report.read_text(encoding="utf-8"))
    assert written["models"] == ["acme-small", "gpt-5-mini"]
    assert ("labels of acme-small dropped from training; every model's quality prior is its "
            "mean training score") in written["notes"]
    assert "note: labels of acme-small dropped" in capsys.readouterr().out


def test_a_prior_places_a_model_the_catalog_lacks_as_a_catalog_row_would(tmp_path: Path) -> None:
    router = fit_router([row for row in acme_rows() if row["model"] != "acme-small"], k=2)
    prompts = [LabelledPrompt(prompt, {}, {}, {}) for prompt, _, _ in TASKS]
    priors = {"acme-small": 0.5, "gpt-5-mini": 0.5}
    # The same model as a row of a catalog-shaped price file, with the same prior.
    own_row = {**load_catalog().model("gemma-2-9b-it").__dict__, "id": "acme-small",
               "aliases": [], "quality": 0.5}
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"models": [own_row]}), encoding="utf-8")

    uncatalogued = predict(router, prompts, ["acme-small", "gpt-5-mini"], load_catalog(),
                           priors=priors)
    catalogued = predict(router, prompts, ["acme-small", "gpt-5-mini"], load_catalog(path),
                         priors=priors)

    assert uncatalogued == catalogued
    assert len({row["acme-small"] for row in uncatalogued}) > 1  # estimated prompt by prompt


@pytest.mark.parametrize("split", ["folds", "train and test"])
def test_eval_notes_a_near_miss_name_as_fit_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], split: str,
) -> None:
    rows = [{**row, "model": "gpt-4.1-mimi"} if row["model"] == "acme-small" else row
            for row in acme_rows()]
    data = write_jsonl(tmp_path / "labels.jsonl", rows)
    near = "gpt-4.1-mimi (did you mean 'gpt-4.1-mini', 'gpt-4o-mini', 'gpt-5.4-mini', " \
           "'gpt-4.1', 'gpt-5-mini'?) not in the catalog"
    assert main(["fit", str(data), "--out", str(tmp_path / "router.json"), "--k", "2"]) == 0
    assert f"note: {near}: `shoal route` prices it" in capsys.readouterr().err

    argv = (["--data", str(data), "--folds", "2"] if split == "folds" else
            ["--train", str(data), "--test", str(data)])
    assert main(["eval", *argv]) == 0

    assert (f"\nnote: {near}: it is a model of its own, costed by the cost_usd of its rows, "
            "else by its --prices entry\n") in capsys.readouterr().out + "\n"


@pytest.mark.parametrize("split", ["folds", "train and test"])
def test_eval_notes_every_name_the_catalog_lacks_with_how_it_is_costed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], split: str,
) -> None:
    # acme-small lies near no catalog model: the README says eval notes such a name, and it was
    # evaluated without a word.
    data = write_jsonl(tmp_path / "labels.jsonl", acme_rows())
    argv = (["--data", str(data), "--folds", "2"] if split == "folds" else
            ["--train", str(data), "--test", str(data)])

    assert main(["eval", *argv]) == 0

    assert capsys.readouterr().out.endswith(
        "\nnote: acme-small not in the catalog: it is a model of its own, costed by the cost_usd "
        "of its rows, else by its --prices entry\n")


@pytest.mark.parametrize("by", ["--train", "--router"])
def test_eval_notes_a_name_spelt_in_two_cases_across_its_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], by: str,
) -> None:
    # Routing matches a name the catalog lacks in any case, so --train's Acme-Small labelled
    # --test's acme-small without a word.
    train = write_jsonl(tmp_path / "train.jsonl",
                        [{**row, "model": "Acme-Small"} if row["model"] == "acme-small" else row
                         for row in acme_rows()])
    test = write_jsonl(tmp_path / "test.jsonl", acme_rows())
    if by == "--router":
        assert main(["fit", str(train), "--out", str(tmp_path / "router.json"), "--k", "2"]) == 0
        capsys.readouterr()
    source = train if by == "--train" else tmp_path / "router.json"

    assert main(["eval", by, str(source), "--test", str(test)]) == 0

    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note: ")]
    assert ("note: labels for Acme-Small counted as acme-small (model names are read through the "
            "catalog, as `shoal fit` reads them)") in notes
    # Named once, as the evaluation names it.
    assert ("note: acme-small not in the catalog: it is a model of its own, costed by the "
            "cost_usd of its rows, else by its --prices entry") in notes


def test_data_without_folds_says_folds_are_needed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    data = write_jsonl(tmp_path / "labels.jsonl", label_rows())

    # It said --data goes with --folds only (not --train/--test/--router), none of them given.
    assert error_of(capsys, "eval", "--data", str(data)) == (
        "shoal eval: error: --data needs --folds N or --folds task\n")
    assert error_of(capsys, "eval", "--data", str(data), "--test", str(data)) == (
        "shoal eval: error: --data goes with --folds only (not --train/--test/--router)\n")


@pytest.mark.parametrize("tokens", ["100000000000", "1000001", "-1"])
def test_eval_bounds_the_output_length_as_route_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tokens: str,
) -> None:
    data = write_jsonl(tmp_path / "labels.jsonl", label_rows())
    shown = f"{int(tokens):,}"

    route_error = error_of(capsys, "route", "Say hi.", "--output-tokens", tokens)
    eval_error = error_of(capsys, "eval", "--data", str(data), "--folds", "2",
                          "--output-tokens", tokens)

    bound = f"--output-tokens must be an int from 0 to 1,000,000, got {shown}\n"
    assert (route_error, eval_error) == (f"shoal route: error: {bound}",
                                         f"shoal eval: error: {bound}")


def test_eval_takes_the_longest_output_route_takes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    data = write_jsonl(tmp_path / "labels.jsonl", label_rows())

    assert main(["eval", "--data", str(data), "--folds", "2", "--output-tokens", "1000000"]) == 0


def task_rows(tasks: dict[int, str]) -> list[dict[str, object]]:
    """The labelled rows of TASKS, row ``i`` given task ``tasks[i]`` where it has one."""
    rows = label_rows()
    for index, task in tasks.items():
        rows[index]["task"] = task
    return rows


def test_a_prompt_given_two_tasks_is_refused_naming_both_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # Rows 1 and 2 (lines 1 and 2) are one prompt's; one of the two tasks was used unseen.
    rows = task_rows({index: "math" if index < 6 else "poem" for index in range(12)})
    rows[1]["task"] = "poem"
    data = write_jsonl(tmp_path / "labels.jsonl", rows, blank_after=1)

    err = error_of(capsys, "eval", "--data", str(data), "--folds", "task")

    assert err == (f"shoal eval: error: {data}:3: task 'poem' for a prompt that {data}:1 gives "
                   "task 'math'; give each prompt one task\n")
    assert error_of(capsys, "eval", "--train", str(data), "--test", str(data)) == err


def test_a_row_without_a_task_takes_its_prompts_task(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # The first row of each prompt carries no task: the prompt had none, so --folds task was
    # refused for lack of one.
    data = write_jsonl(tmp_path / "labels.jsonl", task_rows(
        {index: "math" if index < 6 else "poem" for index in range(1, 12, 2)}))

    assert main(["eval", "--data", str(data), "--folds", "task"]) == 0
    assert "2 folds, one per task" in capsys.readouterr().out
    assert {item.task for item in read_labelled(data)} == {"math", "poem"}


@pytest.mark.parametrize("task", ["", "  "])
def test_a_blank_task_is_refused_by_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], task: str,
) -> None:
    data = write_jsonl(tmp_path / "labels.jsonl", task_rows(
        {index: "math" if index < 6 else task for index in range(12)}))
    items = tmp_path / "items.json"
    items.write_text(json.dumps([{"question": "Say hi.", "scores": {MATHS: 1}, "task": task}]),
                     encoding="utf-8")
    blank = f"task must be a non-empty string (or left out), got {task!r}"

    assert error_of(capsys, "eval", "--data", str(data), "--folds", "task") == (
        f"shoal eval: error: {data}:7: {blank}\n")
    assert error_of(capsys, "fit", str(data), "--out", str(tmp_path / "router.json")) == (
        f"shoal fit: error: {data}:7: {blank}\n")
    assert error_of(capsys, "eval", "--data", str(items), "--folds", "task") == (
        f"shoal eval: error: {items}: list item 0 (counting from 0): {blank}\n")


def test_folds_say_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = write_jsonl(tmp_path / "one.jsonl", label_rows()[:2])

    err = error_of(capsys, "eval", "--data", str(one), "--folds", "2")
    assert "too few prompts for 2 folds: the data has 1 distinct prompt," in err
    assert "in 2..1" not in err
    err = error_of(capsys, "eval", "--data", str(one), "--folds", "1")
    assert "--folds must be 2 or more (or 'task'), got 1" in err


def test_task_folds_need_two_tasks() -> None:
    prompts = [LabelledPrompt(p, {MATHS: m, POEMS: s}, {}, {}, task="only")
               for p, m, s in TASKS]

    with pytest.raises(EvaluationError, match=r"at least two tasks.*every prompt has task 'only'"):
        cross_validate(prompts, folds="task", fit_options={})


def test_the_cross_validation_note_reads_as_a_sentence() -> None:
    prompts = [LabelledPrompt(p, {MATHS: m, POEMS: s}, {MATHS: 1e-5, POEMS: 2e-5}, {},
                              task="maths" if m else "poems") for p, m, s in TASKS]

    shuffled = cross_validate(prompts, folds=3, fit_options={"k": 2})
    by_task = cross_validate(prompts, folds="task", fit_options={"k": 2})

    # First; a note on APGR and CPT follows, as both models score alike here.
    assert shuffled.notes[0] == ("3 folds of shuffled prompts (seed 0): each prompt predicted by "
                                 "a router that did not see it")
    assert by_task.notes[0] == ("2 folds, one per task: each prompt predicted by a router that "
                                "saw no prompt of its task")


# ---- fit options ----


def test_the_router_version_does_not_depend_on_how_the_database_is_spelt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    database = tmp_path / "feedback.sqlite3"
    for number, (prompt, maths, poems) in enumerate(TASKS):
        record_outcome(f"d-{number:024x}", MATHS, maths, prompt=prompt, db_path=database)
        record_outcome(f"d-{number:024x}", POEMS, poems, prompt=prompt, db_path=database)
    monkeypatch.chdir(tmp_path)

    versions = set()
    for spelling in ("feedback.sqlite3", f"./../{tmp_path.name}/feedback.sqlite3", str(database)):
        out = tmp_path / "router.json"
        assert main(["fit", "--outcomes", spelling, "--out", str(out), "--k", "2"]) == 0
        router = load_router(out)
        versions.add(router.version)
        assert str(tmp_path) not in out.read_text(encoding="utf-8")
    capsys.readouterr()

    assert len(versions) == 1
    assert router.source.endswith("12 recorded outcomes from feedback.sqlite3")


def test_fit_refuses_to_overwrite_its_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = write_jsonl(tmp_path / "labels.jsonl", label_rows())
    before = data.read_bytes()
    database = tmp_path / "feedback.sqlite3"
    record_outcome("d-" + "0" * 24, MATHS, 1.0, prompt="Add 2 and 2.", db_path=database)
    monkeypatch.chdir(tmp_path)

    err = error_of(capsys, "fit", str(data), "--out", "labels.jsonl")
    assert "--out labels.jsonl is the input" in err and "would overwrite it" in err
    assert data.read_bytes() == before
    err = error_of(capsys, "fit", "--outcomes", str(database), "--out", str(database))
    assert "would overwrite it" in err


def test_fit_to_a_device_offers_no_route_command_for_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    data = write_jsonl(tmp_path / "labels.jsonl", label_rows())

    assert main(["fit", str(data), "--out", "/dev/null", "--k", "2"]) == 0

    printed = capsys.readouterr().out
    assert printed.startswith("wrote /dev/null: ")
    assert "--router /dev/null" not in printed
    assert ("`shoal route` with this router, once saved to a file, still chooses among every "
            "catalog model not retired") in printed


@pytest.mark.parametrize(("where", "problem"), [
    ("folder", "{path} is a folder; name a file to write the router to"),
    ("notes.txt", "{path} exists and is not a shoal router file; remove it or choose another "
                  "name"),
    ("missing/router.json", "{path}: the folder {folder} does not exist; create it first or name "
                            "another file"),
    ("-", "-: output goes to a file; name one"),
])
def test_saving_a_router_checks_the_path_as_fit_out_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    where: str, problem: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    notes = tmp_path / "notes.txt"
    notes.write_text("not a router\n", encoding="utf-8")
    data = write_jsonl(tmp_path / "labels.jsonl", label_rows())
    router = fit_router(label_rows(), k=2)
    expected = problem.format(path=where, folder=Path(where).parent)

    with pytest.raises(ShoalError) as refused:
        router.save(where)

    assert isinstance(refused.value, RouterFileError)
    assert str(refused.value) == f"path {expected}"
    assert notes.read_text(encoding="utf-8") == "not a router\n"
    # `fit --out` refuses the same path in the same words, under its option's name.
    assert error_of(capsys, "fit", str(data), "--out", where) == (
        f"shoal fit: error: --out {expected}\n")


def test_saving_a_router_replaces_a_router_file_or_fills_an_empty_one(tmp_path: Path) -> None:
    first, second = fit_router(label_rows(), k=2), fit_router(label_rows(), k=3)
    empty = tmp_path / "empty.json"
    empty.touch()

    assert load_router(first.save(tmp_path / "router.json")).version == first.version
    assert load_router(second.save(tmp_path / "router.json")).version == second.version
    assert load_router(first.save(empty)).version == first.version


def test_fit_refuses_an_empty_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_jsonl(tmp_path / "labels.jsonl", label_rows())

    for name in ("", "  "):
        err = error_of(capsys, "fit", str(data), "--out", str(tmp_path / "r.json"), "--name", name)
        assert "--name must not be empty" in err
    assert not (tmp_path / "r.json").exists()


def test_fit_refuses_a_name_longer_than_a_router_file_may_hold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    data = write_jsonl(tmp_path / "labels.jsonl", label_rows())
    out = tmp_path / "r.json"

    err = error_of(capsys, "fit", str(data), "--out", str(out), "--name",
                   "n" * (MAX_ROUTER_NAME_CHARS + 1))

    assert f"--name must be at most {MAX_ROUTER_NAME_CHARS} characters" in err
    assert not out.exists()
    assert main(["fit", str(data), "--out", str(out), "--name", "n" * MAX_ROUTER_NAME_CHARS,
                 "--k", "2"]) == 0
    assert load_router(out).name == "n" * MAX_ROUTER_NAME_CHARS


@pytest.mark.parametrize("field", ["prompt", "model", "task"])
def test_fit_names_the_line_and_field_of_a_lone_surrogate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str,
) -> None:
    rows = label_rows()
    rows[4][field] = "\ud800 hi"  # json.dumps writes the escape "\ud800", as a user's file may
    data = write_jsonl(tmp_path / "labels.jsonl", rows)

    err = error_of(capsys, "fit", str(data), "--out", str(tmp_path / "r.json"))

    assert (f"shoal fit: error: {data}:5: {field} has an unpaired surrogate at index 0; text "
            "must be valid Unicode") in err
    assert "codec" not in err


def test_labels_given_to_outcomes_get_a_hint_to_put_data_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(tmp_path / "labels.jsonl", label_rows())

    err = error_of(capsys, "fit", "--outcomes", str(data), "--out", str(tmp_path / "r.json"))

    assert "not a feedback database (SQLite)" in err
    assert f"put DATA first: `shoal fit {data} --outcomes --out ROUTER`" in err
    assert "file is not a database" not in err


def test_labels_given_to_outcomes_after_data_get_no_hint_to_put_data_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(tmp_path / "labels.jsonl", label_rows())

    err = error_of(capsys, "fit", str(data), "--outcomes", str(data), "--out",
                   str(tmp_path / "r.json"))

    assert f"--outcomes {data}: not a feedback database (SQLite); DATA ({data}) takes " in err
    assert "put DATA first" not in err


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--name", " team ", "--name must not start or end with a space, got ' team '; give 'team'"),
    ("--name", "team\u202e", "--name must be a non-empty string without '@' or control "
     "characters"),
    ("--source", "x" * 100_000, "--source must be at most 1,000 characters, got 100,000"),
    ("--source", "labels\x01\u202e", "--source must hold only printable characters"),
])
def test_fit_refuses_a_name_or_source_no_reader_could_trust(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, message: str,
) -> None:
    data = write_jsonl(tmp_path / "labels.jsonl", label_rows())
    out = tmp_path / "r.json"

    err = error_of(capsys, "fit", str(data), "--out", str(out), option, value)

    assert err.startswith(f"shoal fit: error: {message}")
    assert not out.exists()


# ---- models without an estimate ----


def unestimated_models() -> list[str]:
    """Catalog models with neither a quality prior nor labels in the shipped router."""
    labelled = set(load_router().models)
    return [e.id for e in load_catalog().models if e.quality is None and e.id not in labelled]


def test_readme_counts_the_models_without_a_quality_estimate() -> None:
    text = " ".join(README.read_text(encoding="utf-8").split())
    stated = re.search(r"(\d+) catalog models with neither an Arena score in the shipped "
                       r"snapshot nor labels in the shipped router", text)

    assert stated is not None
    assert int(stated.group(1)) == len(unestimated_models())


def test_candidates_without_an_estimate_say_how_to_give_one() -> None:
    without = unestimated_models()[:2]

    with pytest.raises(NoEligibleModelError) as refused:
        route("Write a haiku about rain.", candidates=without)

    message = str(refused.value)
    assert "give it a `quality` (0-1) in a user catalog file (--prices or SHOAL_PRICES)" in message


# ---- route inputs ----


def test_empty_candidates_are_an_error_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    for value in ("", " , "):
        err = error_of(capsys, "route", "Write a haiku.", "--candidates", value)
        assert "--candidates is empty" in err
    with pytest.raises(RoutingError, match="candidates is empty"):
        route("Write a haiku.", candidates=[])


NEW_MODEL_ROW = {
    "id": "my-finetune", "provider": "acme", "name": "My fine-tune", "input_per_mtok": 0.5,
    "output_per_mtok": 1.5, "cached_input_per_mtok": None, "cache_write_per_mtok": None,
    "context_window": 32768, "max_output_tokens": 4096, "encoding": None, "token_ratio": 1.1,
    "open_weights": False, "params_b": None, "active_params_b": None, "quality": 0.8,
    "quality_source": "our tests", "price_source": "our invoice", "as_of": "2026-11-30",
}


@pytest.mark.parametrize("row", [{"id": "claude-sonnet-4-5", "quality": 0.8}, NEW_MODEL_ROW],
                         ids=["catalog model", "model the file adds"])
def test_eval_takes_the_models_and_priors_of_its_prices_file(
    row: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The test data scores a model the training data lacks; only a prior can route it.
    train = write_jsonl(tmp_path / "train.jsonl", label_rows())
    newcomer = [{"prompt": prompt, "model": row["id"], "score": 0.9} for prompt, _, _ in TASKS]
    test = write_jsonl(tmp_path / "test.jsonl", [*label_rows(), *newcomer])
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"models": [row]}), encoding="utf-8")
    asked = ["eval", "--train", str(train), "--test", str(test), "--json", str(tmp_path / "e.json")]

    if row["id"] == "claude-sonnet-4-5":
        unknown = error_of(capsys, *asked)
        assert "cannot estimate 'claude-sonnet-4-5'" in unknown
        assert "give it a `quality`" in unknown

    assert main([*asked, "--prices", str(prices)]) == 0
    from_option = capsys.readouterr().out
    monkeypatch.setenv("SHOAL_PRICES", str(prices))
    assert main(asked) == 0
    assert capsys.readouterr().out == from_option
    assert "3 candidates" in from_option


def test_route_reads_the_router_shoal_router_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    team = tmp_path / "team.json"
    labels = Path(__file__).parent / "data" / "examples" / "labels.jsonl"
    assert main(["fit", str(labels), "--out", str(team)]) == 0
    capsys.readouterr()
    asked = ["route", "Prove that there are infinitely many primes.", "--candidates",
             "gpt-4.1-mini,gpt-5-mini", "--json"]

    monkeypatch.setenv("SHOAL_ROUTER", str(team))
    assert main(asked) == 0
    assert json.loads(capsys.readouterr().out)["router_version"].startswith("custom@")

    monkeypatch.setenv("SHOAL_ROUTER", str(tmp_path / "missing.json"))
    assert error_of(capsys, *asked).startswith("shoal route: error: SHOAL_ROUTER: ")


@pytest.mark.parametrize("empty", ["", "  "])
def test_an_empty_router_path_is_named_as_empty(empty: str) -> None:
    with pytest.raises(RoutingError) as raised:
        route("Prove that there are infinitely many primes.", router=empty)

    assert str(raised.value) == ("router is an empty path: give the path of a router file, or "
                                 "leave it out for the shipped router")


def test_a_trade_off_next_to_a_quality_floor_needs_a_previous_model(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(RoutingError, match="willingness_to_pay does nothing with min_quality"):
        route("Write a haiku.", min_quality=0.6, willingness_to_pay=5.0)
    err = error_of(capsys, "route", "Write a haiku.", "--min-quality", "0.6",
                   "--willingness-to-pay", "5")
    assert "--willingness-to-pay does nothing with --min-quality" in err

    # With the previous turn's model, the trade-off weighs a switch away from it.
    kept = route("Write a haiku.", min_quality=0.6, willingness_to_pay=5.0,
                 previous_model="gpt-4o")
    assert kept.model


def test_history_roles_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    history = tmp_path / "history.json"
    history.write_text(json.dumps([{"role": "alien", "content": "hi"}]), encoding="utf-8")

    err = error_of(capsys, "route", "and in Rust?", "--history", str(history))

    assert (f"--history: {history}: history[0]: role must be one of system, developer, user, "
            "assistant, tool, function, got 'alien'") in err
    with pytest.raises(RoutingError, match="role must be one of"):
        route("and in Rust?", history=[{"role": "alien", "content": "hi"}])


def test_a_history_file_may_hold_the_roles_count_chat_takes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # developer (OpenAI's newer name for system) was refused, though `count --chat` takes it.
    turns = [{"role": "developer", "content": "Answer in one line."},
             {"role": "user", "content": "What is Rust?"},
             {"role": "assistant", "content": "A systems language."}]
    history = tmp_path / "history.json"
    history.write_text(json.dumps(turns), encoding="utf-8")

    assert main(["route", "and in Go?", "--history", str(history), "--json"]) == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["conversation_turns"] == 3


def test_a_history_file_holds_at_most_eight_million_characters_over_all_turns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    from shoal import cli
    from shoal.router_policy import MAX_HISTORY_CHARACTERS

    history = tmp_path / "history.json"
    turns = [{"role": "user", "content": "x" * 4_000_000},
             {"role": "assistant", "content": "y" * 4_000_000, "name": "a"}]
    history.write_text(json.dumps(turns), encoding="utf-8")

    err = error_of(capsys, "route", "and in Rust?", "--history", str(history))

    assert err == (f"shoal route: error: --history: {history}: history: at most 8,000,000 "
                   "characters over all turns; the turns up to history[1] hold 8,000,001. Drop "
                   "or shorten earlier turns\n")
    assert cli.MAX_HISTORY_CHARACTERS == MAX_HISTORY_CHARACTERS
    with pytest.raises(SystemExit):
        main(["route", "--help"])
    assert "at most 8,000,000 characters over all turns" in " ".join(
        capsys.readouterr().out.split())


def test_a_history_routed_from_a_file_names_its_findings_as_python_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    history = tmp_path / "history.json"
    turns = [{"role": "user", "content": [{"type": "text", "text": "first part"},
                                          {"type": "text", "text": "key AKIAQYLPMN5HHHFPZAM2"}]},
             {"role": "assistant", "content": None, "tool_calls": [
                 {"id": "call_1", "type": "function",
                  "function": {"name": "send", "arguments": '{"to":"ana.lopez@gmail.com"}'}}]}]
    history.write_text(json.dumps(turns), encoding="utf-8")

    assert main(["route", "and now?", "--history", str(history), "--json"]) == 0

    found = json.loads(capsys.readouterr().out)["privacy"]["findings"]
    assert [(f["location"], f["start"], f["end"]) for f in found] == [
        ("history[0].content[1].text", 4, 24),
        ("history[1].tool_calls[0].function.arguments", 7, 26),
    ]
    assert found == route("and now?", history=turns).to_dict()["privacy"]["findings"]


def test_history_content_may_be_text_parts() -> None:
    parts = [{"type": "text", "text": "How do I sort a list"},
             {"type": "text", "text": "in Python?"}]

    with_parts = route("and in Rust?", history=[{"role": "user", "content": parts}])
    joined = route("and in Rust?",
                   history=[{"role": "user", "content": "How do I sort a list\nin Python?"}])

    assert with_parts.decision_id == joined.decision_id
    with pytest.raises(RoutingError,
                       match=r"history\[0\]\['content'\]\[0\] is an 'image_url' part"):
        route("and in Rust?", history=[{"role": "user", "content": [{"type": "image_url"}]}])


# An OpenAI conversation with a tool call: the assistant's turn has no content, the tool's
# result names its call.
TOOL_CALL_HISTORY = [
    {"role": "system", "content": "You answer briefly."},
    {"role": "user", "content": "What is the weather in Paris?", "name": "ada"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"},
]


def test_a_history_with_tool_calls_is_routed_and_counted_as_count_chat_counts_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    from shoal.tokens import count_chat

    prompt = "And tomorrow?"
    decision = route(prompt, history=TOOL_CALL_HISTORY)

    messages = [*TOOL_CALL_HISTORY, {"role": "user", "content": prompt}]
    assert decision.conversation_turns == 4
    # Every candidate's input is the chat count of the same messages, roles, name and call
    # included, whether its tokenizer is exact or an estimate.
    for candidate in decision.alternatives:
        assert candidate.input_tokens == count_chat(messages, model=candidate.model).tokens, (
            candidate.model)
    # The calls are the turn's text: another call is another conversation.
    other = [*TOOL_CALL_HISTORY[:2], {**TOOL_CALL_HISTORY[2], "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": '{"city": "Lyon"}'}}]},
        TOOL_CALL_HISTORY[3]]
    assert route(prompt, history=other).decision_id != decision.decision_id

    history = tmp_path / "history.json"
    history.write_text(json.dumps(TOOL_CALL_HISTORY), encoding="utf-8")
    assert main(["route", prompt, "--history", str(history), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["decision_id"] == decision.decision_id


def test_a_plain_history_counts_its_roles_and_a_single_prompt_its_text_alone() -> None:
    from shoal.tokens import count_chat, tokenizer_for

    model = "llama-3.1-8b-instruct"  # an estimated tokenizer: each role is scaled too
    history = [{"role": "user", "content": "How do I sort a list in Python?"},
               {"role": "assistant", "content": "Use sorted(items)."}]

    decision = route("And in Rust?", history=history)
    alone = route("And in Rust?")

    def tokens(decision: Any) -> int:
        return next(c.input_tokens for c in decision.alternatives if c.model == model)

    messages = [*history, {"role": "user", "content": "And in Rust?"}]
    assert tokens(decision) == count_chat(messages, model=model).tokens
    assert tokens(alone) == tokenizer_for(model=model).count("And in Rust?")


def test_only_an_assistant_turn_with_tool_calls_may_leave_out_its_content() -> None:
    with pytest.raises(RoutingError, match=r"history\[0\]: content is missing; give the turn's "
                                           r"text \(only an assistant turn with tool_calls"):
        route("and?", history=[{"role": "tool", "content": None, "tool_call_id": "call_1"}])
    with pytest.raises(RoutingError, match=r"history\[0\]: content is missing"):
        route("and?", history=[{"role": "user", "tool_calls": [{"id": "call_1"}]}])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"role": "user"}', "--history: {file}: expected a JSON list of turns"),
        ('[{"role": "user", "content": "a", "content": "b"}]',
         "--history: {file}: history[0] gives 'content' more than once; give each field once "
         "(only the last would be read)"),
        ('[{"role": "user", "content": [{"type": "text", "text": "a", "text": "b"}]}]',
         "--history: {file}: history[0]['content'][0] gives 'text' more than once; give each "
         "field once (only the last would be read)"),
        ('[{"role": "user", "content": 5}]',
         "--history: {file}: history[0]: content must be a str or a list of text parts"),
        ("nope", "--history: {file}: not valid JSON"),
    ],
)
def test_a_history_file_error_names_the_option_and_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str,
) -> None:
    history = tmp_path / "history.json"
    history.write_text(text, encoding="utf-8")

    err = error_of(capsys, "route", "and in Rust?", "--history", str(history))

    assert err.startswith("shoal route: error: " + message.format(file=history))


@pytest.mark.parametrize(("name", "problem"), [("nosuch.json", "does not exist"),
                                              ("folder", "is a folder; name a file"),
                                              ("/dev/null", "is under /dev")])
def test_a_history_file_that_cannot_be_read_is_named_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    name: str, problem: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()

    err = error_of(capsys, "route", "and in Rust?", "--history", name)

    assert err.startswith(f"shoal route: error: --history: {name} {problem}")
    assert err.count("--history") == 1


def test_a_byte_order_mark_on_a_stdin_prompt_is_read_past(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    prompt = "hello there"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(
        b"\xef\xbb\xbf" + prompt.encode("utf-8"))))

    assert main(["route", "-", "--json"]) == 0

    assert json.loads(capsys.readouterr().out)["decision_id"] == route(prompt).decision_id


def test_a_dash_reads_the_prompt_or_the_batch_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    prompt = "Prove that there are infinitely many primes."

    def routed(stdin: str, *argv: str) -> dict[str, object]:
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin.encode("utf-8"))))
        assert main(["route", *argv, "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    assert routed(prompt, "-")["decision_id"] == route(prompt).decision_id
    batch = routed(json.dumps({"prompt": prompt}) + "\n", "--file", "-")
    assert batch["decisions"][0]["decision_id"] == route(prompt).decision_id


def test_counts_of_one_are_singular() -> None:
    hosted, local = unestimated_models()[0], "llama-3.1-8b-instruct"

    decision = route("Write a haiku.", candidates=[hosted, local], local_only=True,
                     history=[{"role": "user", "content": "Hello."}])

    assert "among 1 eligible candidate at" in decision.reason
    assert decision.reason.endswith("1 candidate failed a hard constraint.")
    assert any(note.startswith("conversation: 1 earlier turn counted") for note in decision.notes)
    shortened = decision.shortened(alternatives=0, neighbours=39)
    assert "shortened: 1 more candidate and 1 more exemplar not shown" in shortened.notes


def test_a_task_kept_local_that_no_local_model_can_take_says_what_was_found() -> None:
    # Thousands of addresses: the prompt outgrows every local model's context window.
    prompt = "Mail: " + " ".join(f"user{n}.name@example-corp{n % 7}.com" for n in range(20_000))

    with pytest.raises(NoEligibleModelError) as refused:
        route(prompt, local_only=False)

    # The hosted models, which would take it, are kept out by the guard: the largest local
    # window is what the prompt must be cut to.
    message = str(refused.value)
    assert message.startswith(
        "privacy='local' keeps this task on local open-weight models because it found 20,000 "
        "private items (email): remove them, or set privacy='off' if a hosted model may see "
        "them; the prompt is larger than the largest candidate context window: deepseek-v3 "
        "takes at most 163,840 input tokens, and the prompt is "
    )
    assert message.endswith("`shoal.truncate()` keeps its start or end")


# ---- what fit and eval read, and what they say about it ----


def test_fit_and_eval_read_past_a_byte_order_mark(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    rows = tmp_path / "labels.jsonl"
    rows.write_text("\ufeff" + "".join(json.dumps(row) + "\n" for row in label_rows()),
                    encoding="utf-8")
    items = tmp_path / "labels.json"
    items.write_text("\ufeff" + json.dumps([{"question": p, "scores": {MATHS: m, POEMS: s}}
                                              for p, m, s in TASKS]), encoding="utf-8")

    for data in (rows, items):
        assert main(["fit", str(data), "--out", str(tmp_path / "router.json"), "--k", "2"]) == 0
        assert "6 exemplars, 2 models" in capsys.readouterr().out
    assert main(["eval", "--train", str(rows), "--test", str(items)]) == 0


def test_a_byte_order_mark_inside_a_file_is_named_where_it_stands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # What `cat a.jsonl b.jsonl` makes of two files that each start with one.
    lines = [json.dumps(row) for row in label_rows()]
    data = tmp_path / "labels.jsonl"
    data.write_text("\ufeff" + "\n".join(lines[:4]) + "\n\ufeff" + "\n".join(lines[4:]) + "\n",
                    encoding="utf-8")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "Say hi."}\n\ufeff{"prompt": "Say bye."}\n', encoding="utf-8")
    stray = ("the line starts with a byte order mark (U+FEFF), which only the start of a file "
             "may carry (joining files with `cat` leaves one where each began); remove it\n")

    assert error_of(capsys, "fit", str(data), "--out", str(tmp_path / "router.json")) == (
        f"shoal fit: error: {data}:5: {stray}")
    assert error_of(capsys, "eval", "--data", str(data), "--folds", "2") == (
        f"shoal eval: error: {data}:5: {stray}")
    assert error_of(capsys, "route", "--file", str(prompts)) == (
        f"shoal route: error: {prompts}:2: {stray}")


def test_rows_in_a_json_file_are_pointed_to_a_jsonl_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    data = write_jsonl(tmp_path / "labels.json", label_rows())
    broken = tmp_path / "broken.json"
    broken.write_text('[{"question": "Say hi."\n{"scores": {}}]\n', encoding="utf-8")

    assert error_of(capsys, "fit", str(data), "--out", str(tmp_path / "router.json")) == (
        f"shoal fit: error: {data}: not valid JSON (line 2, column 1: Extra data); it holds one "
        "JSON value per line, which fit and eval read from a .jsonl file: name it labels.jsonl\n")
    assert "name it labels.jsonl" in error_of(capsys, "eval", "--data", str(data), "--folds", "2")
    assert ".jsonl" not in error_of(capsys, "eval", "--data", str(broken), "--folds", "2")


@pytest.mark.parametrize(
    ("row", "problem"),
    [({"prompt": "Say hi.", "model": MATHS}, "the row has no score; give a number in [0, 1]"),
     ({"prompt": "Say hi.", "model": MATHS, "score": None},
      "score must be a number in [0, 1], got null"),
     ({"prompt": "Say hi.", "model": MATHS, "score": 1, "input_tokens": 1.5},
      "input_tokens must be a whole number >= 0, got 1.5"),
     ({"prompt": "Say hi.", "model": MATHS, "score": 1, "output_tokens": 1.5},
      "output_tokens must be a whole number >= 0, got 1.5"),
     ({"prompt": "Say hi.", "model": MATHS, "score": 1, "input_tokens": -1},
      "input_tokens must be a whole number >= 0, got -1"),
     ({"prompt": "Say hi.", "model": MATHS, "score": 1, "output_tokens": -1},
      "output_tokens must be a whole number >= 0, got -1"),
     ({"prompt": "Say hi.", "model": MATHS, "score": 1, "output_tokens": "12"},
      "output_tokens must be a whole number >= 0, got '12'")],
)
def test_a_rows_missing_or_mistyped_field_is_said_in_json_terms(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], row: dict[str, object], problem: str,
) -> None:
    data = write_jsonl(tmp_path / "labels.jsonl", [*label_rows(), row])

    err = error_of(capsys, "fit", str(data), "--out", str(tmp_path / "router.json"))

    assert err == f"shoal fit: error: {data}:13: {problem}\n"


def test_a_key_given_twice_in_a_label_file_is_refused_by_name_and_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    lines = [json.dumps(row) for row in label_rows()]
    lines[2] = f'{{"prompt": "Say hi.", "model": "{MATHS}", "score": 0.0, "score": 1.0}}'
    data = tmp_path / "labels.jsonl"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    items = tmp_path / "items.json"
    items.write_text(f'[{{"question": "Say hi.", "scores": {{"{MATHS}": 1.0, "{POEMS}": 0.0}}}},'
                     f' {{"question": "Say bye.", "scores": {{"{MATHS}": 0.0, "{MATHS}": 1.0}}}}]',
                     encoding="utf-8")

    assert error_of(capsys, "fit", str(data), "--out", str(tmp_path / "router.json")) == (
        f"shoal fit: error: {data}:3: the field 'score' is given more than once; give each field "
        "once (only the last would be read)\n")
    assert error_of(capsys, "eval", "--data", str(items), "--folds", "2") == (
        f"shoal eval: error: {items}: list item 1 (counting from 0): scores gives '{MATHS}' more "
        "than once; give each once (only the last would be read)\n")


def test_eval_on_sparse_labels_says_what_it_needs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", label_rows())
    # The poems model is scored on the first three prompts only.
    sparse = [row for row in label_rows()
              if row["model"] == MATHS or row["prompt"] in [p for p, _, _ in TASKS[:3]]]
    test = write_jsonl(tmp_path / "test.jsonl", sparse)

    err = error_of(capsys, "eval", "--train", str(train), "--test", str(test))

    assert (f"evaluation needs at least two models scored on every held-out prompt, and 1 is "
            f"({MATHS}): of 6 prompts, each model is scored on {POEMS} 3, {MATHS} 6. Score two "
            "or more models on every prompt, or leave out the prompts that lack a model's "
            "score") in err
    err = error_of(capsys, "eval", "--data", str(test), "--folds", "2")
    assert "of 6 prompts, each model is scored on" in err


THIRD = "gpt-4o-mini"
MATHS_PROMPTS = [prompt for prompt, maths, _ in TASKS if maths]


def partly_scored_rows() -> list[dict[str, object]]:
    """The two models on every prompt, a third on the first three only; a task on each."""
    rows = [{**row, "task": "maths" if row["prompt"] in MATHS_PROMPTS else "poems"}
            for row in label_rows()]
    third = [{"prompt": prompt, "model": THIRD, "score": 0.5,
              "task": "maths" if prompt in MATHS_PROMPTS else "poems"}
             for prompt, _, _ in TASKS[:3]]
    return rows + third


@pytest.mark.parametrize("split", [["--data", "{data}", "--folds", "2"],
                                   ["--data", "{data}", "--folds", "task"],
                                   ["--train", "{data}", "--test", "{data}"]])
def test_eval_leaves_out_a_model_scored_on_some_prompts_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], split: list[str],
) -> None:
    data = write_jsonl(tmp_path / "labels.jsonl", partly_scored_rows())
    report = tmp_path / "eval.json"

    argv = [part.format(data=data) for part in split]
    assert main(["eval", *argv, "--json", str(report)]) == 0

    printed = capsys.readouterr().out
    assert (f"note: not evaluated: {THIRD} (scored on 3 of the 6 held-out prompts); every "
            "policy is compared on the same prompts, so only models scored on every held-out "
            "prompt are candidates") in printed
    written = json.loads(report.read_text(encoding="utf-8"))
    assert written["models"] == [POEMS, MATHS]
    # Neither a baseline nor the oracle may pick the model left out.
    points = [*written["router_curve"], *written["oracle_curve"], written["oracle"],
              written["random"], *written["singles"]]
    assert all(THIRD not in (point["picks"] or {}) for point in points)
    assert f"single:{THIRD}" not in {point["policy"] for point in written["singles"]}


def test_a_named_candidate_without_a_score_on_a_prompt_is_an_error() -> None:
    prompts = [LabelledPrompt(p, {MATHS: m, POEMS: s}, {MATHS: 1e-5, POEMS: 2e-5}, {})
               for p, m, s in TASKS]
    router = load_router()
    prompts[4] = LabelledPrompt(TASKS[4][0], {MATHS: 1.0}, {MATHS: 1e-5, POEMS: 2e-5}, {})

    with pytest.raises(EvaluationError, match=(
        f"held-out prompt 4 \\(counting from 0\\) has no score for {POEMS}: every candidate "
        "needs a score on every held-out prompt"
    )):
        evaluate_router(prompts, router=router, models=[MATHS, POEMS])


def test_the_eval_help_states_what_evaluation_needs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    text = " ".join(capsys.readouterr().out.split())

    assert "The models evaluated are those scored on every held-out prompt" in text
    assert "a model scored on only some of them is left out, with a note saying so" in text
    assert "a row's own output_tokens (and input_tokens) take precedence" in text


def test_fit_with_nothing_to_learn_says_which_input_was_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")

    err = error_of(capsys, "fit", str(empty), "--out", str(tmp_path / "router.json"))

    assert f"nothing to fit: {empty} holds no labelled rows" in err
    assert "rows is empty" not in err


def test_fit_notes_conflicting_duplicate_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    rows = label_rows()
    # Two conflicting repeats of one pair, and one repeat that agrees (nothing to average).
    rows += [{**rows[0], "score": 0.0}, {**rows[0], "score": 0.5}, dict(rows[3])]
    data = write_jsonl(tmp_path / "labels.jsonl", rows)

    assert main(["fit", str(data), "--out", str(tmp_path / "router.json"), "--k", "2"]) == 0
    err = capsys.readouterr().err

    assert ("note: 1 prompt-model pair labelled more than once with different scores; each "
            "pair's scores were averaged") in err
    assert main(["fit", str(write_jsonl(tmp_path / "clean.jsonl", label_rows())), "--out",
                 str(tmp_path / "clean.json"), "--k", "2"]) == 0
    assert "labelled more than once" not in capsys.readouterr().err


def test_eval_notes_labels_averaged_as_fit_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    rows = label_rows()
    rows += [{**rows[0], "score": 0.0}, dict(rows[3])]
    data = write_jsonl(tmp_path / "labels.jsonl", rows)
    clean = write_jsonl(tmp_path / "clean.jsonl", label_rows())
    averaged = ("1 prompt-model pair labelled more than once with different scores; each "
                "pair's scores were averaged")

    assert main(["eval", "--data", str(data), "--folds", "2"]) == 0
    assert f"note: --data: {averaged}\n" in capsys.readouterr().out
    assert main(["eval", "--train", str(clean), "--test", str(data)]) == 0
    printed = capsys.readouterr().out
    assert f"note: --test: {averaged}\n" in printed and "--train: 1 prompt-model" not in printed
    assert main(["eval", "--data", str(clean), "--folds", "2"]) == 0
    assert "labelled more than once" not in capsys.readouterr().out


def test_eval_warns_when_the_test_prompts_were_trained_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    data = write_jsonl(tmp_path / "labels.jsonl", label_rows())
    apart = write_jsonl(tmp_path / "first.jsonl", label_rows()[:8])

    assert main(["eval", "--train", str(data), "--test", str(data)]) == 0
    assert ("note: 6 of the 6 held-out prompts also occur in --train: the router was fitted on "
            "them") in capsys.readouterr().out
    assert main(["eval", "--train", str(apart), "--test", str(data)]) == 0
    assert "note: 4 of the 6 held-out prompts also occur in --train" in capsys.readouterr().out
    assert main(["eval", "--router", str(fitted_router(tmp_path, data)), "--test",
                 str(data)]) == 0
    assert "also occur in --train" not in capsys.readouterr().out


def test_eval_counts_one_held_out_prompt_in_the_singular(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    data = write_jsonl(tmp_path / "labels.jsonl", label_rows())
    one = write_jsonl(tmp_path / "one.jsonl", label_rows()[:2])
    router = fitted_router(tmp_path, write_jsonl(tmp_path / "first.jsonl", label_rows()[:2]))
    plot = tmp_path / "eval.svg"
    capsys.readouterr()

    assert main(["eval", "--train", str(data), "--test", str(one), "--plot", str(plot)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("1 held-out prompt, 2 candidates; ")
    assert ("note: 1 of the 1 held-out prompt also occurs in --train: the router was fitted on "
            "it, so these figures flatter it") in printed
    assert ">1 held-out prompt, 2 candidates</text>" in plot.read_text(encoding="utf-8")
    assert main(["eval", "--router", str(router), "--test", str(data)]) == 0
    assert ("note: 1 of the 6 held-out prompts appears to occur in --router's exemplars") in (
        capsys.readouterr().out)


def test_eval_warns_when_the_test_prompts_appear_to_be_the_routers_exemplars(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    data = write_jsonl(tmp_path / "labels.jsonl", label_rows())
    first = fitted_router(tmp_path, write_jsonl(tmp_path / "first.jsonl", label_rows()[:8]))
    router = load_router(first)
    found = router.stored_exemplar(TASKS[0][0])
    assert found is not None and router.previews[found] == TASKS[0][0]
    assert router.stored_exemplar(TASKS[4][0]) is None
    # Two prompts alike in their first 80 characters share a preview, not an embedding code.
    notes = "Summarise these meeting notes for the engineering team and list each action item: "
    long = fit_router([{"prompt": notes + "ship", "model": MATHS, "score": 1.0}], k=1)
    assert long.previews[0] == long.previews[0][:79] + "…"
    assert long.stored_exemplar(notes + "ship") == 0
    assert long.stored_exemplar(notes + "test") is None

    assert main(["eval", "--router", str(first), "--test", str(data)]) == 0
    assert ("note: 4 of the 6 held-out prompts appear to occur in --router's exemplars (judged "
            "by the 80-character preview and the int8 embedding code the file keeps of each, "
            "both equal): the router was likely fitted on them, so these figures flatter it; "
            "test on prompts its training data lacks\n") in capsys.readouterr().out
    unseen = write_jsonl(tmp_path / "unseen.jsonl", [
        dict(row, prompt=f"{row['prompt']} Answer briefly.") for row in label_rows()])
    assert main(["eval", "--router", str(first), "--test", str(unseen)]) == 0
    assert "appear to occur" not in capsys.readouterr().out


def fitted_router(tmp_path: Path, data: Path) -> Path:
    out = tmp_path / "router.json"
    assert main(["fit", str(data), "--out", str(out), "--k", "2"]) == 0
    return out


def test_an_old_format_version_names_shoal_fit(tmp_path: Path) -> None:
    document = json.loads(fitted_router(tmp_path, write_jsonl(tmp_path / "l.jsonl",
                                                                label_rows())).read_text())
    document["format_version"] = 2
    old = tmp_path / "old.json"
    old.write_text(json.dumps(document), encoding="utf-8")

    with pytest.raises(ValueError, match=r"format_version 2 is not supported .* rebuild it from "
                       r"its labelled rows with `shoal fit LABELS --out ROUTER`"):
        load_router(old)


def test_a_format_version_that_is_not_a_number_is_named_as_such(tmp_path: Path) -> None:
    document = json.loads(fitted_router(tmp_path, write_jsonl(tmp_path / "l.jsonl",
                                                                label_rows())).read_text())
    document["format_version"] = str(document["format_version"])
    quoted = tmp_path / "quoted.json"
    quoted.write_text(json.dumps(document), encoding="utf-8")

    with pytest.raises(ValueError, match=r"format_version must be a number \(this shoal reads "
                       r"3\), got '3', a string$"):
        load_router(quoted)


def test_route_help_says_what_willingness_to_pay_means(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["route", "--help"])
    text = " ".join(capsys.readouterr().out.split())

    assert "USD you would pay per call for a whole quality point" in text
    assert "give up" not in text


# ---- model names: read through the catalog, and which models routing then considers ----


def spelt_rows() -> list[dict[str, object]]:
    """gpt-4.1 labelled under three spellings (one of them twice on the same prompt, disagreeing),
    and gpt-4.1-mini under its id."""
    rows: list[dict[str, object]] = []
    for number, (prompt, maths, poems) in enumerate(TASKS):
        spelling = ("openai/gpt-4.1", "GPT-4.1", "gpt-4.1")[number % 3]
        rows.append({"prompt": prompt, "model": spelling, "score": maths})
        rows.append({"prompt": prompt, "model": "gpt-4.1-mini", "score": poems})
    rows.append({"prompt": TASKS[0][0], "model": "GPT-4.1", "score": 0.0})
    return rows


def estimate_sources(
    capsys: pytest.CaptureFixture[str], router_file: Path, *options: str,
) -> dict[str, str]:
    """Where `shoal route` took each candidate's quality from (exemplars or catalog prior)."""
    assert main(["route", "Solve 3x - 4 = 11 for x.", "--router", str(router_file), *options,
                 "--json"]) == 0
    decision = json.loads(capsys.readouterr().out)
    return {item["model"]: item["estimate_source"] for item in decision["alternatives"]}


def test_fit_counts_a_models_spellings_as_its_catalog_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    data = write_jsonl(tmp_path / "labels.jsonl", spelt_rows())
    out = tmp_path / "router.json"

    assert main(["fit", str(data), "--out", str(out), "--k", "2"]) == 0

    captured = capsys.readouterr()
    router = load_router(out)
    assert router.models == ("gpt-4.1", "gpt-4.1-mini")
    assert captured.out.count("labels for openai/gpt-4.1 and GPT-4.1 counted as gpt-4.1\n") == 1
    assert "not in the catalog" not in captured.err
    # The merged duplicate is averaged like any repeated label, and noted the same way.
    assert router.scores[router.previews.index(TASKS[0][0])][0] == 0.5
    assert "note: 1 prompt-model pair labelled more than once with different scores" in captured.err

    sources = estimate_sources(capsys, out, "--candidates", "openai/gpt-4.1,gpt-4.1-mini")
    assert sources == {"gpt-4.1": "exemplars", "gpt-4.1-mini": "exemplars"}


def test_fit_says_which_models_route_chooses_among(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    data = write_jsonl(tmp_path / "labels.jsonl", label_rows())
    out = tmp_path / "router.json"

    assert main(["fit", str(data), "--out", str(out), "--k", "2"]) == 0

    assert (f"`shoal route --router {out}` still chooses among every catalog model not retired, "
            "placing the ones without labels by their catalog quality prior; add --candidates "
            f"{POEMS},{MATHS} to keep to the labelled ones\n") in capsys.readouterr().out
    # What the sentence says: by default an unlabelled model is a candidate, by its prior.
    sources = estimate_sources(capsys, out)
    assert sources[MATHS] == sources[POEMS] == "exemplars"
    assert "catalog prior" in set(sources.values())
    assert estimate_sources(capsys, out, "--candidates", f"{POEMS},{MATHS}") == {
        POEMS: "exemplars", MATHS: "exemplars"}


def test_the_readme_says_which_models_a_fitted_router_chooses_among() -> None:
    text = " ".join(README.read_text(encoding="utf-8").split())

    assert ("still chooses among every catalog model not retired, placing the ones without "
            "labels by their catalog quality prior; add --candidates") in text


def test_fit_leaves_retired_models_out_of_its_candidates_advice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = [{"prompt": prompt, "model": model, "score": score}
            for prompt in ("What is 2+2?", "Write a poem")
            for model, score in (("gpt-4.1-mini", 0.5), ("O3", 0.9))]
    data = write_jsonl(tmp_path / "labels.jsonl", rows)
    monkeypatch.setenv("SHOAL_TODAY", "2026-12-20")  # o3 retires on 2026-12-11 per the catalog

    assert main(["fit", str(data), "--out", str(tmp_path / "router.json"), "--k", "1"]) == 0

    printed = capsys.readouterr().out
    assert "labels for O3 counted as o3\n" in printed
    assert ("add --candidates gpt-4.1-mini to keep to the labelled ones (o3, labelled too, is "
            "retired per the catalog)\n") in printed


def catalog_rows() -> list[dict[str, object]]:
    """Three catalog models labelled under their catalog ids."""
    rows: list[dict[str, object]] = []
    for prompt, maths, poems in TASKS:
        rows += [{"prompt": prompt, "model": "gpt-4.1", "score": maths},
                 {"prompt": prompt, "model": "gpt-4.1-mini", "score": poems},
                 {"prompt": prompt, "model": "o3", "score": 0.5}]
    return rows


@pytest.mark.parametrize("spelt", [str.upper, lambda model: f"openai/{model}"],
                         ids=["upper case", "provider prefix"])
def test_fit_router_in_python_reads_names_through_the_catalog(spelt: Any) -> None:
    router = fit_router([dict(row, model=spelt(row["model"])) for row in catalog_rows()], k=2)

    assert router.models == ("gpt-4.1", "gpt-4.1-mini", "o3")
    decision = route("Solve 3x - 4 = 11 for x.", router=router)
    sources = {item.model: item.estimate_source for item in decision.alternatives}
    assert sources["gpt-4.1"] == sources["gpt-4.1-mini"] == sources["o3"] == "exemplars"
    assert not any(note.startswith(NO_LABELLED_CANDIDATE) for note in decision.notes)


def test_fit_router_keeps_names_the_catalog_does_not_know() -> None:
    rows = [dict(row, model="Team-Model-7") if row["model"] == "o3" else row
            for row in catalog_rows()]

    assert fit_router(rows, k=2).models == ("Team-Model-7", "gpt-4.1", "gpt-4.1-mini")


def test_route_reads_a_router_files_model_names_through_the_catalog(tmp_path: Path) -> None:
    # A file whose names are not catalog ids (edited, or from an earlier shoal) keeps its labels.
    document = json.loads(fit_router(catalog_rows(), k=2).to_json())
    document["models"] = ["GPT-4.1", "openai/gpt-4.1-mini", "O3"]
    path = tmp_path / "router.json"
    path.write_text(json.dumps(with_hash(document)), encoding="utf-8")

    decision = route("Solve 3x - 4 = 11 for x.", router=path)

    sources = {item.model: item.estimate_source for item in decision.alternatives}
    assert sources["gpt-4.1"] == sources["gpt-4.1-mini"] == sources["o3"] == "exemplars"
    assert "prior → mean score: shift through the mean of 3 labelled models" in " ".join(
        decision.notes)
    # shoal eval reads the held-out data's names the same way.
    router = load_router(path)
    prompt = LabelledPrompt("Solve 3x - 4 = 11 for x.", {"gpt-4.1": 1.0, "O3": 0.5}, {}, {})
    (predicted,) = predict(router, [prompt], ["gpt-4.1", "O3"], load_catalog())
    labelled = router.predict(router.neighbours(prompt.prompt))
    assert predicted == {"gpt-4.1": labelled[0][0], "O3": labelled[2][0]}


def with_hash(document: dict[str, Any]) -> dict[str, Any]:
    """The router document with its content hash computed again, as a hand edit would."""
    body = {key: value for key, value in document.items() if key != "content_hash"}
    return {**body, "content_hash": _content_hash(body)}


def test_a_router_whose_labels_match_no_candidate_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    router = fit_router(catalog_rows(), name="team", k=2)

    decision = route("Solve 3x - 4 = 11 for x.", router=router,
                     candidates=["gpt-4o", "phi-4"])

    assert {item.estimate_source for item in decision.alternatives} == {"catalog prior"}
    assert ("no candidate has labels in router team: none of its labelled models (gpt-4.1, "
            "gpt-4.1-mini, o3) is a candidate, so every estimate comes from a catalog quality "
            "prior; name them in candidates to use them") in decision.notes
    path = router.save(tmp_path / "team.json")
    assert main(["route", "Solve 3x - 4 = 11 for x.", "--router", str(path), "--candidates",
                 "gpt-4o,phi-4"]) == 0
    assert "\n  note: no candidate has labels in router team: " in capsys.readouterr().out


def test_fit_says_how_route_prices_each_labelled_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    rows: list[dict[str, object]] = []
    for prompt, maths, poems in TASKS:
        rows += [{"prompt": prompt, "model": "team-ft", "score": maths, "cost_usd": 0.003},
                 {"prompt": prompt, "model": "team-draft", "score": poems},
                 {"prompt": prompt, "model": "gpt-4.1-mini", "score": poems, "cost_usd": 0.1}]
    out = tmp_path / "router.json"

    assert main(["fit", str(write_jsonl(tmp_path / "labels.jsonl", rows)), "--out", str(out),
                 "--k", "2"]) == 0

    captured = capsys.readouterr()
    assert "add --candidates gpt-4.1-mini,team-ft to keep to the labelled ones\n" in captured.out
    assert ("note: team-ft not in the catalog: `shoal route` prices it at the mean cost_usd of "
            "its rows, whatever the prompt's length\n") in captured.err
    assert ("note: team-draft not in the catalog and no cost_usd in the rows: `shoal route` "
            "cannot price it, so never chooses it; give it a row in a catalog file (--prices, "
            "SHOAL_PRICES) or cost_usd in its rows\n") in captured.err
    assert ("note: cost_usd of gpt-4.1-mini kept in the router file; `shoal route` prices "
            "catalog models from the catalog with each prompt's own token count\n"
            ) in captured.err
    assert main(["route", "Solve 3x - 4 = 11 for x.", "--router", str(out), "--candidates",
                 "gpt-4.1-mini,team-ft", "--json"]) == 0
    costs = {item["model"]: item["expected_cost_usd"]
             for item in json.loads(capsys.readouterr().out)["alternatives"]}
    assert costs["team-ft"] == 0.003 and costs["gpt-4.1-mini"] < 0.001


def test_the_fit_and_route_help_say_how_labelled_models_are_priced(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for command in ("fit", "route"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "mean cost_usd of its" in text and "1 - |observed - predicted|" in text


def test_the_content_hash_is_what_the_readme_says_to_recompute() -> None:
    import hashlib
    from importlib import resources

    document = json.loads((resources.files("shoal") / "data" / "router_default.json")
                          .read_text(encoding="utf-8"))
    body = {key: value for key, value in document.items() if key != "content_hash"}

    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    assert document["content_hash"] == "sha256:" + hashlib.sha256(text.encode()).hexdigest()
