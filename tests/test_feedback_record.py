"""Recording outcomes: corrections keep what they leave out, models and text are checked, a
database of something else is refused, exports name a missing database and what they leave
out, and a database this user may only read is read without side files and never written."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from mcp import Client
from permission_support import as_another_user
from test_feedback_fit import OWN_MODEL, write_own_catalog, write_own_router

from shoal.cli import main
from shoal.feedback import (
    FeedbackError,
    outcomes_as_rows,
    outcomes_without_prompt,
    record_outcome,
)
from shoal.render import recorded_outcome
from shoal.router import RouterFileError, load_router
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


@pytest.mark.anyio
async def test_record_outcome_says_it_checks_only_the_form_of_a_decision_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Decisions are not stored: an id route_task never gave is recorded, and the tool says so.
    monkeypatch.setenv("SHOAL_FEEDBACK_DB", str(tmp_path / "outcomes.sqlite3"))
    never_issued = "d-" + "0" * 24

    async with Client(build_server()) as client:
        [tool] = [tool for tool in (await client.list_tools()).tools
                  if tool.name == "record_outcome"]
        recorded = await client.call_tool(
            "record_outcome", {"decision_id": never_issued, "model": "gpt-4o", "score": 1})

    assert not recorded.is_error and recorded.structured_content["decision_id"] == never_issued
    description = " ".join(tool.description.split())
    assert ("shoal keeps no log of routing decisions (an id is a hash of the decision's inputs), "
            "so an id of the right form that route_task never gave is recorded too") in description
    assert "only its form is checked" in tool.input_schema["properties"]["decision_id"][
        "description"]


def test_a_model_the_router_labels_is_recorded_under_that_router(tmp_path: Path) -> None:
    database = tmp_path / "feedback.sqlite3"
    router_file = write_own_router(tmp_path / "router.json")

    with pytest.raises(FeedbackError, match="give that router: --router FILE or SHOAL_ROUTER"):
        record_outcome(DECISION, OWN_MODEL, 0.5, db_path=database)
    by_path = record_outcome(DECISION, OWN_MODEL, 0.5, db_path=database, router=router_file)
    # Any case, as route matches a model the catalog lacks; stored as the router spells it.
    by_router = record_outcome(DECISION, "MY-LOCAL-LLM", 0.6, db_path=database,
                               router=load_router(router_file))
    catalogued = record_outcome(DECISION, "GPT-4.1", 0.4, db_path=database, router=router_file)

    assert (by_path.model, by_path.status) == (OWN_MODEL, "recorded")
    assert (by_router.model, by_router.status) == (OWN_MODEL, "replaced")
    assert catalogued.model == "gpt-4.1"
    with pytest.raises(FeedbackError, match=f"did you mean '{OWN_MODEL}'"):
        record_outcome(DECISION, "my-local-lm", 0.5, db_path=database, router=router_file)
    # The router is read only for a model the catalog lacks.
    with pytest.raises(RouterFileError, match="does not exist"):
        record_outcome(DECISION, OWN_MODEL, 0.5, db_path=database,
                       router=tmp_path / "routr.json")
    assert record_outcome(DECISION, "gpt-4.1", 0.5, db_path=database,
                          router=tmp_path / "routr.json").status == "replaced"


def broken_router_file(path: Path) -> Path:
    """A router file cut short, as an interrupted copy leaves it."""
    text = write_own_router(path).read_text(encoding="utf-8")
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    return path


def test_a_broken_router_file_does_not_stop_the_outcome_of_a_catalog_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    database = tmp_path / "feedback.sqlite3"
    monkeypatch.setenv("SHOAL_ROUTER", str(broken_router_file(tmp_path / "router.json")))

    assert main(["feedback", "record", DECISION, "gpt-4.1-mini", "0.5",
                 "--db", str(database)]) == 0
    recorded = capsys.readouterr()
    assert main(["feedback", "record", DECISION, OWN_MODEL, "0.5", "--db", str(database)]) == 2
    refused = capsys.readouterr()

    assert recorded.out.startswith("recorded")
    assert recorded.err.startswith("shoal feedback record: note: SHOAL_ROUTER: cannot read "
                                   "router file")
    assert recorded.err.endswith("(not needed: the catalog knows gpt-4.1-mini)\n")
    with contextlib.closing(sqlite3.connect(database)) as connection:
        stored = connection.execute("SELECT model FROM outcomes").fetchall()
    assert stored == [("gpt-4.1-mini",)]
    assert "SHOAL_ROUTER: cannot read router file" in refused.err


@pytest.mark.anyio
async def test_the_record_outcome_tool_records_a_catalog_model_when_the_router_file_breaks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "feedback.sqlite3"
    monkeypatch.setenv("SHOAL_FEEDBACK_DB", str(database))
    router_file = write_own_router(tmp_path / "router.json")
    arguments = {"decision_id": DECISION, "score": 0.5}

    async with Client(build_server(router=str(router_file))) as client:
        broken_router_file(router_file)
        catalogued = await client.call_tool("record_outcome",
                                            {**arguments, "model": "gpt-4.1-mini"})
        labelled = await client.call_tool("record_outcome", {**arguments, "model": OWN_MODEL})

    assert not catalogued.is_error, catalogued.content[0].text
    assert catalogued.structured_content["model"] == "gpt-4.1-mini"
    assert labelled.is_error
    assert "router file is at fault" in labelled.content[0].text


@pytest.mark.anyio
async def test_the_record_outcome_tool_takes_the_models_of_the_server_router(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOAL_FEEDBACK_DB", str(tmp_path / "feedback.sqlite3"))
    router_file = write_own_router(tmp_path / "router.json")
    arguments = {"decision_id": DECISION, "score": 0.5}

    async with Client(build_server(router=str(router_file))) as client:
        recorded = await client.call_tool("record_outcome", {**arguments, "model": OWN_MODEL})
        misspelt = await client.call_tool("record_outcome",
                                          {**arguments, "model": "my-local-lm"})
    async with Client(build_server()) as client:
        shipped = await client.call_tool("record_outcome", {**arguments, "model": OWN_MODEL})

    assert not recorded.is_error and recorded.structured_content["model"] == OWN_MODEL
    assert misspelt.is_error
    assert misspelt.content[0].text.startswith(
        f"record_outcome: argument 'model': unknown model 'my-local-lm': did you mean "
        f"'{OWN_MODEL}'?"
    )
    assert shipped.is_error
    text = shipped.content[0].text
    assert f"argument 'model': unknown model '{OWN_MODEL}'" in text
    assert "--router FILE or SHOAL_ROUTER" in text and text.count("SHOAL_PRICES") == 1


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
        f"shoal feedback record: error: {option} is not UTF-8 text (byte 0xFF at offset 1)\n")
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


# ---- a database this user may only read --------------------------------------------------------


def _run(arguments: list[str]) -> list[object]:
    """A command's exit status, output and error output, captured without pytest's help (it runs
    in the child process of `as_another_user`)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(arguments)
    return [status, out.getvalue(), err.getvalue()]


def _refusal(record: Callable[[], object]) -> str:
    try:
        record()
    except FeedbackError as error:
        return str(error)
    return "recorded"


async def _tool_refusal() -> str:
    async with Client(build_server()) as client:
        result = await client.call_tool(
            "record_outcome", {"decision_id": DECISION, "model": "gpt-4o", "score": 0.9}
        )
    return result.content[0].text if result.is_error else "recorded"


def test_a_read_only_database_is_read_and_a_record_names_why_it_cannot_be(
    shared_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = shared_folder / "feedback.sqlite3"
    record_outcome(DECISION, "gpt-4o", 0.5, prompt="Write a haiku.", db_path=database)
    record_outcome("d-" + "1" * 24, "gpt-4o", 0.9, db_path=database)
    database.chmod(0o444)
    monkeypatch.setenv("SHOAL_FEEDBACK_DB", str(database))
    # The server names its ledger at start; the session's lies where that user may not look.
    monkeypatch.setenv("SHOAL_LEDGER", str(shared_folder / "ledger.sqlite3"))
    refusal = (f"cannot write the feedback database {database}: the file is read-only to this "
               "user (mode 0444); make it writable to record outcomes")

    exported, rows, left_out, recorded, in_python, over_mcp = as_another_user(lambda: [
        _run(["feedback", "export"]),
        [row["prompt"] for row in outcomes_as_rows()],
        outcomes_without_prompt(),
        _run(["feedback", "record", DECISION, "gpt-4o", "0.9"]),
        _refusal(lambda: record_outcome(DECISION, "gpt-4o", 0.9)),
        anyio.run(_tool_refusal),
    ])

    assert exported[0] == 0 and json.loads(exported[1])["prompt"] == "Write a haiku."
    assert "1 outcome recorded without a prompt left out" in exported[2]
    assert (rows, left_out) == (["Write a haiku."], 1)
    assert recorded == [2, "", f"shoal feedback record: error: {refusal}\n"]
    assert in_python == refusal
    # Over MCP the database is the server's: no argument of the call can mend it.
    assert over_mcp == ("record_outcome: the server's own feedback database is at fault, not "
                        "this call's arguments, and only the server's operator can fix it: "
                        f"{refusal}")
    # No -wal or -shm left behind, read-only, to break the writers that come next.
    assert sorted(path.name for path in shared_folder.iterdir()) == ["feedback.sqlite3"]
    database.chmod(0o644)
    assert record_outcome(DECISION, "gpt-4o", 0.9).status == "replaced"


def test_a_read_only_database_is_read_through_the_log_of_a_writer_that_has_it_open(
    shared_folder: Path,
) -> None:
    database = shared_folder / "feedback.sqlite3"
    record_outcome(DECISION, "gpt-4o", 0.5, prompt="Write a haiku.", db_path=database)
    writer = sqlite3.connect(database, isolation_level=None)
    writer.execute("UPDATE outcomes SET score = 0.75")  # held in the write-ahead log
    database.chmod(0o444)
    assert (shared_folder / "feedback.sqlite3-wal").stat().st_size > 0

    scores = as_another_user(lambda: [row["score"] for row in outcomes_as_rows(database)])

    writer.close()
    assert scores == [0.75]


@pytest.mark.anyio
async def test_a_decision_id_in_upper_case_names_the_same_decision_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Hex digits in either case, as a spreadsheet or a terminal may copy them; the id is kept as
    # route_task writes it, so that the three records below are one outcome.
    database = tmp_path / "feedback.sqlite3"
    monkeypatch.setenv("SHOAL_FEEDBACK_DB", str(database))
    upper = "D-0123456789ABCDEF01234567"

    first = record_outcome(upper, "gpt-4o", 0.5, db_path=database)
    assert main(["feedback", "record", DECISION.upper(), "gpt-4o", "0.7", "--db",
                 str(database)]) == 0
    capsys.readouterr()
    async with Client(build_server()) as client:
        result = await client.call_tool(
            "record_outcome", {"decision_id": "d-0123456789AbCdEf01234567", "model": "gpt-4o",
                               "score": 0.7})

    assert first.decision_id == DECISION
    assert not result.is_error and result.structured_content["status"] == "unchanged"
    with contextlib.closing(sqlite3.connect(database)) as connection:
        stored = connection.execute("SELECT decision_id, model, score FROM outcomes").fetchall()
    assert stored == [(DECISION, "gpt-4o", 0.7)]


# A grader may paste what it judged, secrets and all, into the note as well as the prompt.
SECRETS = "AKIAQYLPMN5HHHFPZAM2 password=Tr0ub4dor&3xyz jurgen.kowalski@gmail.com"
SECRETS_REDACTED = "[aws_access_key_id] password=[password] [email]"
SECRET_VALUES = ("AKIAQYLPMN5HHHFPZAM2", "Tr0ub4dor", "jurgen.kowalski")


def _stored_texts(database: Path) -> list[tuple[str, str]]:
    with contextlib.closing(sqlite3.connect(database)) as connection:
        return connection.execute("SELECT prompt, note FROM outcomes").fetchall()


def _check_stored_redacted(database: Path) -> None:
    assert _stored_texts(database) == [(SECRETS_REDACTED, f"judged by {SECRETS_REDACTED}")]
    # The database and any write-ahead log beside it.
    stored = "".join(path.read_bytes().decode("utf-8", "replace")
                     for path in database.parent.glob(f"{database.name}*"))
    assert not [value for value in SECRET_VALUES if value in stored]


def test_the_note_is_stored_redacted_as_the_prompt_is(tmp_path: Path) -> None:
    database = tmp_path / "feedback.sqlite3"

    result = record_outcome(DECISION, "gpt-4.1-mini", 0.8, prompt=SECRETS,
                            note=f"judged by {SECRETS}", db_path=database)
    kept = record_outcome(DECISION, "gpt-4.1-mini", 0.9, db_path=database)

    _check_stored_redacted(database)
    assert (result.redactions, result.note_redactions) == (3, 3)
    assert recorded_outcome(result).endswith(
        "prompt stored, 3 private items redacted; note stored with 3 private items redacted")
    # No note this time: the one recorded before stands, and nothing was redacted now.
    assert kept.note_redactions == 0 and "note" not in recorded_outcome(kept)


def test_the_command_line_stores_the_note_redacted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "feedback.sqlite3"

    assert main(["feedback", "record", DECISION, "gpt-4.1-mini", "0.8", "--prompt", SECRETS,
                 "--note", f"judged by {SECRETS}", "--db", str(database), "--json"]) == 0

    _check_stored_redacted(database)
    printed = json.loads(capsys.readouterr().out)
    assert (printed["redactions"], printed["note_redactions"]) == (3, 3)


@pytest.mark.anyio
async def test_the_record_outcome_tool_stores_the_note_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "feedback.sqlite3"
    monkeypatch.setenv("SHOAL_FEEDBACK_DB", str(database))

    async with Client(build_server()) as client:
        [tool] = [tool for tool in (await client.list_tools()).tools
                  if tool.name == "record_outcome"]
        result = await client.call_tool("record_outcome", {
            "decision_id": DECISION, "model": "gpt-4.1-mini", "score": 0.8, "prompt": SECRETS,
            "note": f"judged by {SECRETS}"})

    assert not result.is_error, result.content[0].text
    _check_stored_redacted(database)
    assert result.structured_content["note_redactions"] == 3
    assert result.content[0].text.endswith("; note stored with 3 private items redacted")
    note = tool.input_schema["properties"]["note"]["description"]
    assert "stored with secrets and personal data replaced by [kind]" in note


def test_a_folder_is_refused_as_the_feedback_database_in_the_same_words_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    said = (f"cannot open the feedback database {tmp_path}: it is a folder; give a SQLite "
            "file's path")
    record = ["feedback", "record", "d-" + "0" * 24, "gpt-4o", "1", "--db", str(tmp_path)]

    assert main(record) == 2
    assert said in capsys.readouterr().err
    assert main(["feedback", "export", "--db", str(tmp_path)]) == 2
    assert said in capsys.readouterr().err


@pytest.mark.parametrize("action", ["record", "export"])
def test_the_db_help_says_which_database_is_the_default(
    action: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["feedback", action, "--help"])

    shown = " ".join(capsys.readouterr().out.split())
    assert ("--db DB feedback database (default: SHOAL_FEEDBACK_DB if set, else "
            "shoal/feedback.sqlite3 in the user data directory)") in shown
