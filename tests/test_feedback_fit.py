"""Feedback folding end to end: route, record outcomes, `shoal fit --outcomes`, route again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shoal import route
from shoal.catalog import load_catalog
from shoal.cli import main
from shoal.feedback import outcomes_as_rows, record_outcome
from shoal.router import load_router
from shoal.router_model import fit_router

MATHS, POEMS = "qwen2.5-7b-instruct", "gemma-2-9b-it"
CANDIDATES = f"{POEMS},{MATHS}"

TASKS = [
    ("Solve 2x + 1 = 5 for x.", True),
    ("What is 17 times 23?", True),
    ("Compute the derivative of x^3 + 2x.", True),
    ("Factor x^2 - 9 completely.", True),
    ("Write a haiku about autumn leaves.", False),
    ("Compose a limerick about a cat named Max.", False),
    ("Write a sonnet about the sea at night.", False),
    ("Write a short poem for maria.gonzalez@gmail.com about spring.", False),
]


def write_own_catalog(
    path: Path, model: str = "my-finetune", aliases: tuple[str, ...] = (),
) -> Path:
    """A user catalog file adding the hosted model ``model`` (no quality prior)."""
    own_model = {
        "id": model, "aliases": list(aliases), "provider": "acme", "name": "My fine-tune",
        "input_per_mtok": 0.01, "output_per_mtok": 0.02, "cached_input_per_mtok": None,
        "cache_write_per_mtok": None, "context_window": 32768, "max_output_tokens": 4096,
        "encoding": None, "token_ratio": 1.1, "open_weights": False, "params_b": None,
        "active_params_b": None, "quality": None, "quality_source": "none yet",
        "price_source": "our invoice", "as_of": "2026-11-30",
    }
    path.write_text(json.dumps({"models": [own_model]}), encoding="utf-8")
    return path


# A model only a router fitted on the team's labels knows: the catalog has no row for it, so
# `shoal route` prices it at the mean cost_usd of its label rows.
OWN_MODEL, OWN_MODEL_COST = "my-local-llm", 1e-4
CODE_TASKS = [f"Write a Python function that {task}." for task in (
    "reverses a string", "sums a list", "parses a date", "merges two dicts", "counts words",
    "finds primes",
)]


def write_own_labels(path: Path) -> Path:
    """Labels of gpt-4.1, gpt-4.1-mini and the catalog-less `OWN_MODEL`, which does best."""
    rows = [row for prompt in CODE_TASKS for row in (
        {"prompt": prompt, "model": OWN_MODEL, "score": 0.9, "cost_usd": OWN_MODEL_COST},
        {"prompt": prompt, "model": "gpt-4.1", "score": 0.8},
        {"prompt": prompt, "model": "gpt-4.1-mini", "score": 0.5},
    )]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def write_own_router(path: Path) -> Path:
    """A router file fitted on `write_own_labels`, which labels `OWN_MODEL`."""
    labels = write_own_labels(path.with_name("own-labels.jsonl"))
    rows = [json.loads(line) for line in labels.read_text(encoding="utf-8").splitlines()]
    fit_router(rows, name="own", k=2).save(path)
    return path


def record_all(database: Path, capsys: pytest.CaptureFixture) -> None:
    """Route each task, then record how both models did: through the CLI for the first half,
    through the API for the rest."""
    for number, (prompt, is_maths) in enumerate(TASKS):
        decision = route(prompt, candidates=CANDIDATES.split(","), privacy="off")
        scores = {MATHS: 1.0 if is_maths else 0.0, POEMS: 0.0 if is_maths else 1.0}
        for model, score in scores.items():
            if number % 2 == 0:
                arguments = ["feedback", "record", decision.decision_id, model, str(score),
                             "--prompt", prompt, "--db", str(database)]
                assert main(arguments) == 0
            else:
                record_outcome(decision.decision_id, model, score, prompt=prompt,
                               cost_usd=1e-5, db_path=database)
    capsys.readouterr()


def test_fit_from_recorded_outcomes_routes_by_them(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    database, router_file = tmp_path / "feedback.sqlite3", tmp_path / "router.json"
    record_all(database, capsys)

    assert main(["fit", "--outcomes", str(database), "--out", str(router_file), "--k", "2",
                 "--name", "from-feedback"]) == 0

    printed = capsys.readouterr().out
    assert "8 exemplars, 2 models" in printed and "16 recorded outcomes folded in" in printed
    router = load_router(router_file)
    assert router.name == "from-feedback" and len(router) == 8
    assert router.source.endswith("16 recorded outcomes from feedback.sqlite3")
    # The stored prompts are the redacted ones: the e-mail address never reaches the router.
    assert not any("maria" in preview for preview in router.previews)
    assert any("[email]" in preview for preview in router.previews)
    for prompt, model in [("Solve 7x - 3 = 11 for x.", MATHS),
                          ("Write a haiku about winter snow.", POEMS)]:
        assert main(["route", prompt, "--router", str(router_file), "--candidates", CANDIDATES,
                     "--willingness-to-pay", "1000", "--json"]) == 0
        decision = json.loads(capsys.readouterr().out)
        assert decision["model"] == model
        assert decision["router_version"] == router.version


def test_outcomes_join_labelled_data(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    database, data = tmp_path / "feedback.sqlite3", tmp_path / "labels.jsonl"
    record_all(database, capsys)
    rows = [{"prompt": "Integrate x^2 from 0 to 3.", "model": MATHS, "score": 1.0},
            {"prompt": "Integrate x^2 from 0 to 3.", "model": POEMS, "score": 0.0},
            # The same task as a recorded outcome: its labels are averaged, not duplicated.
            {"prompt": "Solve 2x + 1 = 5 for x.", "model": POEMS, "score": 1.0}]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    router_file = tmp_path / "router.json"

    assert main(["fit", str(data), "--outcomes", str(database), "--out", str(router_file),
                 "--k", "2"]) == 0

    router = load_router(router_file)
    assert len(router) == 9
    solved = router.previews.index("Solve 2x + 1 = 5 for x.")
    assert router.scores[solved][router.models.index(POEMS)] == 0.5
    assert router.costs_usd[router.models.index(MATHS)] == 1e-5


def test_outcomes_default_to_the_configured_database(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "default.sqlite3"
    monkeypatch.setenv("SHOAL_FEEDBACK_DB", str(database))
    record_all(database, capsys)
    router_file = tmp_path / "router.json"

    assert main(["fit", "--outcomes", "--out", str(router_file), "--k", "2"]) == 0

    assert len(load_router(router_file)) == len(outcomes_as_rows(database)) // 2


def test_fit_names_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = str(tmp_path / "router.json")

    assert main(["fit", "--out", out]) == 2
    assert "give labelled data, --outcomes, or both" in capsys.readouterr().err
    assert main(["fit", "--outcomes", str(tmp_path / "none.sqlite3"), "--out", out]) == 2
    assert "no feedback database at" in capsys.readouterr().err
    empty = tmp_path / "empty.sqlite3"
    record_outcome("d-" + "0" * 24, MATHS, 1.0, db_path=empty)  # no prompt: cannot teach
    assert main(["fit", "--outcomes", str(empty), "--out", out]) == 2
    err = capsys.readouterr().err
    assert f"nothing to fit: no outcome recorded in {empty} carries a prompt" in err
    assert "--prompt" in err
    assert "rows is empty" not in err


def labels_beside_gpt_4o(tmp_path: Path, model: str) -> Path:
    """A labels file scoring ``model`` and gpt-4o on one prompt."""
    data = tmp_path / "labels.jsonl"
    rows = [
        {"prompt": "Sort a list in Python.", "model": model, "score": 1.0},
        {"prompt": "Sort a list in Python.", "model": "gpt-4o", "score": 0.5},
    ]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return data


def test_fit_notes_models_that_route_cannot_consider(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SHOAL_PRICES", raising=False)
    data = labels_beside_gpt_4o(tmp_path, "no-such-model-x")

    assert main(["fit", str(data), "--out", str(tmp_path / "router.json"), "--k", "1"]) == 0

    err = capsys.readouterr().err
    assert "no-such-model-x not in the catalog" in err and "gpt-4o" not in err


def test_fit_offers_the_near_matches_of_a_misspelt_model_as_every_command_does(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SHOAL_PRICES", raising=False)
    data = labels_beside_gpt_4o(tmp_path, "gpt-4.1-mimi")
    assert main(["route", "hello", "--candidates", "gpt-4.1-mimi"]) == 2
    elsewhere = capsys.readouterr().err

    assert main(["fit", str(data), "--out", str(tmp_path / "router.json"), "--k", "1"]) == 0

    err = capsys.readouterr().err
    hint = "did you mean 'gpt-4.1-mini', "
    assert hint in elsewhere
    assert f"note: gpt-4.1-mimi ({hint}" in err and "?) not in the catalog" in err


def test_route_considers_a_model_a_price_file_adds(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SHOAL_PRICES", raising=False)
    prices = write_own_catalog(tmp_path / "prices.json")
    data = tmp_path / "labels.jsonl"
    rows = [
        {"prompt": f"Sort a list of {n} numbers in Python.", "model": model, "score": score}
        for n in range(4) for model, score in (("my-finetune", 0.9), ("gpt-4o", 0.8))
    ]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    router_file = tmp_path / "router.json"
    assert main(["fit", str(data), "--out", str(router_file), "--k", "2"]) == 0
    capsys.readouterr()

    argv = ["route", "Sort these numbers in Python.", "--router", str(router_file),
            "--candidates", "my-finetune,gpt-4o", "--json"]
    assert main([*argv, "--prices", str(prices)]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "my-finetune"

    monkeypatch.setenv("SHOAL_PRICES", str(prices))
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "my-finetune"


def test_outcomes_and_labels_meet_under_the_catalog_id_fit_prices_with(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Outcomes recorded while the team's price file called its model acme-ft; it has since been
    # renamed my-finetune, with acme-ft kept as an alias, and the labels use a third spelling.
    monkeypatch.delenv("SHOAL_PRICES", raising=False)
    database = tmp_path / "feedback.sqlite3"
    before = load_catalog(write_own_catalog(tmp_path / "before.json", "acme-ft"))
    for prompt, is_maths in TASKS[:4]:
        decision = route(prompt, candidates=[MATHS], privacy="off")
        record_outcome(decision.decision_id, "acme-ft", 1.0 if is_maths else 0.0, prompt=prompt,
                       db_path=database, catalog=before)
    prices = write_own_catalog(tmp_path / "prices.json", "my-finetune", ("acme-ft",))
    data = tmp_path / "labels.jsonl"
    rows = [{"prompt": prompt, "model": model, "score": score} for prompt, _ in TASKS[4:]
            for model, score in (("ACME/My-Finetune", 0.0), (MATHS, 1.0))]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    router_file = tmp_path / "router.json"

    assert main(["fit", str(data), "--outcomes", str(database), "--out", str(router_file),
                 "--k", "2", "--prices", str(prices)]) == 0

    printed = capsys.readouterr().out
    assert load_router(router_file).models == ("my-finetune", MATHS)
    assert "labels for ACME/My-Finetune and acme-ft counted as my-finetune" in printed
    assert f"add --candidates my-finetune,{MATHS} to keep to the labelled ones" in printed


def test_an_outcome_of_a_model_only_the_router_knows_is_recorded_and_folded_in(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SHOAL_PRICES", raising=False)
    monkeypatch.setenv("SHOAL_FEEDBACK_DB", str(tmp_path / "feedback.sqlite3"))
    labels, router_file = write_own_labels(tmp_path / "labels.jsonl"), tmp_path / "router.json"
    assert main(["fit", str(labels), "--out", str(router_file), "--k", "2"]) == 0
    capsys.readouterr()
    prompt = "Write a Python function that sorts a list."
    assert main(["route", prompt, "--router", str(router_file), "--candidates",
                 f"{OWN_MODEL},gpt-4.1", "--json"]) == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["model"] == OWN_MODEL
    record = ["feedback", "record", decision["decision_id"]]

    # Without the router the model is unknown, and the refusal says how to name the router.
    assert main([*record, OWN_MODEL, "0.7", "--prompt", prompt]) == 2
    err = capsys.readouterr().err
    assert f"unknown model '{OWN_MODEL}'" in err and "--router FILE or SHOAL_ROUTER" in err
    assert main([*record, OWN_MODEL, "0.7", "--prompt", prompt, "--cost", "0.0003",
                 "--router", str(router_file)]) == 0
    assert capsys.readouterr().out.startswith(f"recorded: {OWN_MODEL} scored 0.700")
    # SHOAL_ROUTER names it as it does for `shoal route`; the router's spelling is stored.
    monkeypatch.setenv("SHOAL_ROUTER", str(router_file))
    assert main([*record, "My-Local-LLM", "0.8"]) == 0
    assert capsys.readouterr().out.startswith(f"replaced: {OWN_MODEL} scored 0.800")
    # A slip gets the router's model among its near matches; the router is named, not advised.
    assert main([*record, "my-local-lm", "0.8"]) == 2
    err = capsys.readouterr().err
    assert f"did you mean '{OWN_MODEL}'?" in err
    assert load_router(router_file).version in err and "--router FILE" not in err

    refitted = tmp_path / "refitted.json"
    assert main(["fit", str(labels), "--outcomes", "--out", str(refitted), "--k", "2"]) == 0
    assert "1 recorded outcome folded in" in capsys.readouterr().out
    router = load_router(refitted)
    own = router.models.index(OWN_MODEL)
    assert router.models == ("gpt-4.1", "gpt-4.1-mini", OWN_MODEL)
    assert router.scores[router.previews.index(prompt)][own] == pytest.approx(0.8, abs=1e-4)
    # Priced at the mean cost_usd of its rows, the recorded outcome's among them.
    expected = (len(CODE_TASKS) * OWN_MODEL_COST + 0.0003) / (len(CODE_TASKS) + 1)
    assert router.costs_usd[own] == pytest.approx(expected, rel=1e-9)


def test_a_router_is_the_same_file_whatever_the_order_its_labels_come_in(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    labels = [{"prompt": prompt, "model": model, "score": score}
              for prompt, is_maths in TASKS
              for model, score in ((MATHS, float(is_maths)), (POEMS, float(not is_maths)))]
    # Two exemplars alike to the router (it ignores case): a tie that only a stable key breaks
    # the same way whichever came first.
    labels += [{"prompt": "poem about the cat", "model": POEMS, "score": 0.0},
               {"prompt": "Poem about the cat", "model": POEMS, "score": 1.0}]
    forward, backward = tmp_path / "forward.jsonl", tmp_path / "backward.jsonl"
    forward.write_text("".join(json.dumps(row) + "\n" for row in labels), encoding="utf-8")
    backward.write_text("".join(json.dumps(row) + "\n" for row in labels[::-1]),
                        encoding="utf-8")
    files = []
    for data in (forward, backward):
        files.append(data.with_suffix(".router.json"))
        assert main(["fit", str(data), "--out", str(files[-1]), "--k", "1"]) == 0

    assert files[0].read_bytes() == files[1].read_bytes()
    router = load_router(files[0])
    assert list(router.previews) == sorted(router.previews)
    (nearest,) = router.neighbours("POEM ABOUT THE CAT")
    assert router.previews[nearest.index] == "Poem about the cat"


def test_recorded_outcomes_fit_the_same_router_whatever_order_they_were_recorded_in(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    outcomes = [(f"d-{number:024x}", prompt, MATHS, float(is_maths))
                for number, (prompt, is_maths) in enumerate(TASKS[:3] + TASKS[4:5])]
    files = []
    for folder, order in (("first", outcomes), ("second", outcomes[::-1])):
        # The same file name in two folders: the router's source names the file, not its folder.
        database = tmp_path / folder / "feedback.sqlite3"
        database.parent.mkdir()
        for decision_id, prompt, model, score in order:
            record_outcome(decision_id, model, score, prompt=prompt, db_path=database)
        files.append(tmp_path / folder / "router.json")
        assert main(["fit", "--outcomes", str(database), "--out", str(files[-1]),
                     "--k", "2"]) == 0

    assert files[0].read_bytes() == files[1].read_bytes()


def test_fit_notes_the_outcomes_it_leaves_out_for_want_of_a_prompt(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    database = tmp_path / "feedback.sqlite3"
    record_outcome("d-" + "1" * 24, MATHS, 1.0, prompt=TASKS[0][0], db_path=database)
    record_outcome("d-" + "2" * 24, MATHS, 0.5, db_path=database)

    assert main(["fit", "--outcomes", str(database), "--out", str(tmp_path / "router.json"),
                 "--k", "1"]) == 0
    fitted = capsys.readouterr()
    assert main(["feedback", "export", "--db", str(database)]) == 0
    exported = capsys.readouterr()

    note = ("note: 1 outcome recorded without a prompt left out: shoal fit learns from prompts "
            "(record again with --prompt to add one)")
    assert "1 recorded outcome folded in" in fitted.out
    assert f"\n{note}\n" in f"\n{fitted.err}"
    assert f"shoal feedback export: {note}\n" in exported.err


def test_the_example_labels_give_an_exemplar_its_own_low_raw_confidence_as_the_readme_says(
) -> None:
    from shoal.router import estimate_qualities
    from shoal.router_model import closeness

    labels = Path(__file__).parent / "data" / "examples" / "labels.jsonl"
    rows = [json.loads(line) for line in labels.read_text(encoding="utf-8").splitlines()]
    router = fit_router(rows, calibrate_confidence=False)
    neighbours = router.neighbours(str(rows[0]["prompt"]))

    assert len(router) == len(neighbours) == 16 and neighbours[0].similarity > 0.9999
    assert round(closeness(neighbours), 2) == 0.07
    confidences = {round(confidence, 2) for _, confidence, _ in
                   estimate_qualities(router, load_catalog(), list(router.models), neighbours)}
    assert confidences == {0.04}
