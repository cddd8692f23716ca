"""Recording outcomes: corrections keep what they leave out, models and text are checked, a
database of something else is refused, exports name a missing database and what they leave
out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client
from test_feedback_fit import write_own_catalog

from shoal.cli import main
from shoal.feedback import FeedbackError, outcomes_as_rows, record_outcome
from shoal.render import recorded_outcome
from shoal.server import build_server

DECISION = "d-0123456789abcdef01234567"
PROMPT = "Write a short poem for maria.gonzalez@gmail.com about spring."


def test_a_correction_without_a_prompt_keeps_the_recorded_one(tmp_path: Path) -> None:
    database = tmp_path / "feedback.sqlite3"
    first = record_outcome(DECISION, "gpt-4o", 0.5, prompt=PROMPT, cost_usd=0.01,
                           input_tokens=20, note="graded by hand", db_path=database)

    corrected = record_outcome(DECISION, "gpt-4o", 0.7, db_path=database)
    again = record_outcome(DECISION, "gpt-4o", 0.7, db_path=database)

    assert (first.status, corrected.status, again.status) == ("recorded", "replaced", "unchanged")
    assert corrected.prompt_stored and corrected.redactions == 1
    assert corrected.prompt_kept and again.prompt_kept and not first.prompt_kept
    (row,) = outcomes_as_rows(database)
    assert row["score"] == 0.7 and row["prompt"] == PROMPT.replace(
        "maria.gonzalez@gmail.com", "[email]"
    )
    assert (row["cost_usd"], row["input_tokens"]) == (0.01, 20)


def test_a_new_prompt_replaces_the_recorded_one(tmp_path: Path) -> None:
    database = tmp_path / "feedback.sqlite3"
    record_outcome(DECISION, "gpt-4o", 0.5, prompt=PROMPT, db_path=database)

    replaced = record_outcome(DECISION, "gpt-4o", 0.5, prompt="Write a haiku.", db_path=database)

    assert replaced.status == "replaced" and replaced.redactions == 0
    assert not replaced.prompt_kept
    assert recorded_outcome(replaced).endswith("; prompt stored")
    assert [row["prompt"] for row in outcomes_as_rows(database)] == ["Write a haiku."]


def test_the_command_line_keeps_the_prompt_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = str(tmp_path / "feedback.sqlite3")
    assert main(["feedback", "record", DECISION, "gpt-4o", "0.5", "--prompt", PROMPT,
                 "--db", database]) == 0
    assert main(["feedback", "record", DECISION, "gpt-4o", "0.9", "--db", database]) == 0
    assert main(["feedback", "export", "--db", database]) == 0

    printed = capsys.readouterr().out.splitlines()
    assert printed[0].endswith("prompt stored, 1 private item redacted")
    # No --prompt this time: nothing was redacted now; the earlier prompt stands.
    assert printed[1] == (f"replaced: gpt-4o scored 0.900 on decision {DECISION}; the prompt "
                          "recorded before is kept (1 private item redacted then)")
    assert json.loads(printed[2])["prompt"].startswith("Write a short poem for [email]")


def test_exporting_a_missing_database_is_an_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere" / "feedback.sqlite3"

    assert main(["feedback", "export", "--db", str(missing)]) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"no feedback database at {missing}" in captured.err
    assert not missing.parent.exists()


def test_unknown_models_are_refused_with_near_matches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "feedback.sqlite3"

    with pytest.raises(FeedbackError, match=r"model: unknown model 'gpt-99': did you mean"):
        record_outcome(DECISION, "gpt-99", 0.5, db_path=database)
    assert main(["feedback", "record", DECISION, "gpt-4.1-mimi", "0.5", "--db",
                 str(database)]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'gpt-4.1-mini'" in err
    assert err.count("SHOAL_PRICES") == 1  # how to add a model, said once
    assert not database.exists()


def test_models_are_stored_by_catalog_id_and_a_price_file_adds_yours(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SHOAL_PRICES", raising=False)
    database = tmp_path / "feedback.sqlite3"
    prices = write_own_catalog(tmp_path / "prices.json")

    assert record_outcome(DECISION, "GPT-4o", 0.5, db_path=database).model == "gpt-4o"
    argv = ["feedback", "record", DECISION, "my-finetune", "0.8", "--db", str(database)]
    assert main(argv) == 2
    assert main([*argv, "--prices", str(prices)]) == 0
    assert "recorded: my-finetune" in capsys.readouterr().out


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_the_record_outcome_tool_refuses_an_unknown_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOAL_FEEDBACK_DB", str(tmp_path / "feedback.sqlite3"))
    async with Client(build_server()) as client:
        result = await client.call_tool(
            "record_outcome", {"decision_id": DECISION, "model": "gpt-99", "score": 0.5}
        )

    assert result.is_error
    assert "argument 'model': unknown model 'gpt-99': did you mean" in result.content[0].text


def test_one_redaction_is_singular(tmp_path: Path) -> None:
    result = record_outcome(DECISION, "gpt-4o", 0.5, prompt=PROMPT,
                            db_path=tmp_path / "feedback.sqlite3")

    assert recorded_outcome(result).endswith("prompt stored, 1 private item redacted")


def test_a_database_of_something_else_is_refused_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from shoal.ledger import Ledger

    ledger = tmp_path / "ledger-copy.sqlite3"
    with Ledger(ledger) as opened:
        opened.record_usage("s", "gpt-4o", input_tokens=1_000)
    before = ledger.read_bytes()
    refusal = (f"cannot use {ledger} as the feedback database: it is a database of something "
               "else (tables: shoal_limits, shoal_meta, shoal_usage) with no outcomes table. "
               "Give the feedback database a file of its own")

    assert main(["feedback", "record", DECISION, "gpt-4o", "0.5", "--prompt", "hi",
                 "--db", str(ledger)]) == 2
    assert capsys.readouterr().err == f"shoal feedback record: error: {refusal}\n"
    with pytest.raises(FeedbackError, match="a database of something else"):
        outcomes_as_rows(ledger)
    assert ledger.read_bytes() == before


@pytest.mark.parametrize(("option", "parameter"), [("--note", "note"), ("--prompt", "prompt")])
def test_text_that_is_not_valid_utf8_is_refused_by_name(
    option: str, parameter: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # What Python makes of the byte 0xff in a command-line argument.
    undecodable = "a\udcffb"
    database = tmp_path / "feedback.sqlite3"

    assert main(["feedback", "record", DECISION, "gpt-4o", "0.5", option, undecodable,
                 "--db", str(database)]) == 2
    assert capsys.readouterr().err == (
        f"shoal feedback record: error: {option} is not valid UTF-8 (an undecodable byte or lone "
        "surrogate at character 1)\n")
    with pytest.raises(FeedbackError, match=f"^{parameter} is not valid UTF-8"):
        record_outcome(DECISION, "gpt-4o", 0.5, db_path=database, **{parameter: undecodable})


def test_a_score_of_minus_zero_is_zero(tmp_path: Path) -> None:
    recorded = record_outcome(DECISION, "gpt-4o", -0.0, prompt="Write a haiku.",
                              db_path=tmp_path / "feedback.sqlite3")

    assert str(recorded.score) == "0.0"
    assert " scored 0.000 " in recorded_outcome(recorded)
    assert str(outcomes_as_rows(tmp_path / "feedback.sqlite3")[0]["score"]) == "0.0"


def test_export_says_how_many_outcomes_without_a_prompt_it_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "feedback.sqlite3"
    record_outcome(DECISION, "gpt-4o", 0.5, prompt="Write a haiku.", db_path=database)
    record_outcome(DECISION, "gpt-4o-mini", 0.4, db_path=database)
    record_outcome("d-" + "1" * 24, "gpt-4o", 0.9, db_path=database)

    assert main(["feedback", "export", "--db", str(database)]) == 0

    out, err = capsys.readouterr()
    assert [json.loads(line)["model"] for line in out.splitlines()] == ["gpt-4o"]
    assert err == ("shoal feedback export: note: 2 outcomes recorded without a prompt left out: "
                   "shoal fit learns from prompts (record again with --prompt to add one)\n")
