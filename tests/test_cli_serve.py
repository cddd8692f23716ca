"""`shoal serve` reads the files it is given before it serves: a bad price file, router file or
ledger location stops it with the file's error (exit 2) instead of a server that is ready and fails
every call; its log says where spend and outcomes are kept."""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hang_guard import HANG_GUARD_S
from permission_support import as_another_user

from shoal.cli import main


@pytest.fixture(autouse=True)
def restored_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`serve` points SHOAL_PRICES and SHOAL_LEDGER at what it is given; put them back after.
    A SHOAL_ROUTER of the user's own is not the one a test serves."""
    monkeypatch.setenv("SHOAL_LEDGER", str(tmp_path / "ledger.sqlite3"))
    monkeypatch.setenv("SHOAL_PRICES", "")
    monkeypatch.setenv("SHOAL_ROUTER", "")


def serve(capsys: pytest.CaptureFixture[str], root: Path, *options: str) -> tuple[int, str]:
    """Run `shoal serve` in this process: every case here stops before serving."""
    status = main(["serve", "--root", str(root), *options])
    return status, capsys.readouterr().err


def serve_process(root: Path, *options: str, env: dict[str, str] | None = None) -> (
    subprocess.CompletedProcess[str]
):
    """Run `shoal serve` as a host does; with no input, a server that starts ends at once."""
    return subprocess.run(
        [sys.executable, "-m", "shoal", "serve", "--root", str(root), *options],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
        env={**os.environ, **(env or {})},
    )


def test_a_missing_price_file_stops_the_server_before_it_is_ready(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"

    given = serve_process(tmp_path, "--prices", str(missing))
    from_environment = serve_process(tmp_path, env={"SHOAL_PRICES": str(missing)})

    for result, named in ((given, "--prices"), (from_environment, "SHOAL_PRICES")):
        assert result.returncode == 2
        assert (f"shoal serve: error: {named}: cannot read catalog file '{missing}': No such "
                "file or directory") in result.stderr
        assert "ready" not in result.stderr and "Traceback" not in result.stderr


def test_a_malformed_shoal_today_stops_the_server_before_it_is_ready(tmp_path: Path) -> None:
    # It started and said ready, then failed every priced tool call.
    result = serve_process(tmp_path, env={"SHOAL_TODAY": "next tuesday"})

    assert result.returncode == 2
    assert ("shoal serve: error: SHOAL_TODAY must be a date like 2026-12-05, got 'next tuesday'"
            in result.stderr)
    assert "ready" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "prices.json: not valid JSON"),
        (json.dumps({"models": [{"id": "gpt-4o", "input_per_mtok": "cheap"}]}),
         "field 'input_per_mtok' must be a finite number, got 'cheap'"),
        (json.dumps({"models": [], "sources": [1]}),
         "prices.json: field 'sources' must be an object mapping each source name to its"),
    ],
)
def test_a_malformed_price_file_stops_the_server_with_its_error(
    text: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(text, encoding="utf-8")

    status, err = serve(capsys, tmp_path, "--prices", str(prices))

    assert status == 2 and message in err


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("missing/ledger.sqlite3", r"the folder .*missing does not exist"),
        (".", "it is a folder"),
        ("notes.txt", "file is not a database"),
        ("app.db", "it is a database of something else"),
        ("file:ledger.sqlite3", "not a file: URI"),
    ],
)
def test_a_ledger_location_the_first_call_would_refuse_stops_the_server(
    location: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("shopping list\n" * 100, encoding="utf-8")
    with sqlite3.connect(tmp_path / "app.db") as connection:
        connection.execute("CREATE TABLE customers (name TEXT)")
    connection.close()

    status, err = serve(capsys, tmp_path, "--ledger", location)

    assert status == 2 and err.startswith("shoal serve: error: --ledger: ")
    assert re.search(message, err), err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["app.db", "notes.txt"]


def test_a_ledger_location_from_the_environment_is_named_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOAL_LEDGER", str(tmp_path))

    status, err = serve(capsys, tmp_path)

    assert status == 2
    assert err.startswith(f"shoal serve: error: SHOAL_LEDGER: cannot open the ledger {tmp_path}: "
                          "it is a folder")


def test_an_empty_ledger_option_is_refused_not_read_as_the_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        serve(capsys, tmp_path, "--ledger", "")

    assert stopped.value.code == 2
    assert "argument --ledger: empty" in capsys.readouterr().err


def test_an_empty_ledger_file_is_served_and_left_empty(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite3"
    empty.write_bytes(b"")

    result = serve_process(tmp_path, "--ledger", str(empty))

    assert result.returncode == 0, result.stderr
    assert "ready" in result.stderr
    assert empty.read_bytes() == b""
    assert sorted(path.name for path in tmp_path.iterdir()) == ["empty.sqlite3"]


def test_without_the_budget_tools_the_ledger_is_not_checked(tmp_path: Path) -> None:
    result = serve_process(tmp_path, "--tools", "tokens,cost", "--ledger",
                           str(tmp_path / "missing" / "ledger.sqlite3"))

    assert result.returncode == 0, result.stderr
    assert "ready" in result.stderr


def team_router(folder: Path) -> Path:
    """A router fitted from a few labels, as a team's `shoal fit` makes one."""
    from shoal.router import fit_router

    rows = [{"prompt": prompt, "model": model, "score": score}
            for prompt, scores in (("Solve 2x + 1 = 5 for x.", (1.0, 0.0)),
                                   ("Write a haiku about autumn leaves.", (0.0, 1.0)))
            for model, score in zip(("qwen2.5-7b-instruct", "gemma-2-9b-it"), scores, strict=True)]
    return fit_router(rows, name="team", dim=32, k=2).save(folder / "team.json")


def test_a_router_file_is_served_from_the_option_or_the_environment(tmp_path: Path) -> None:
    from shoal.router import load_router

    team = team_router(tmp_path)
    version = load_router(team).version

    given = serve_process(tmp_path, "--router", str(team))
    from_environment = serve_process(tmp_path, env={"SHOAL_ROUTER": str(team)})

    for result in (given, from_environment):
        assert result.returncode == 0, result.stderr
        assert f"route_task chooses with router {version} from {team}" in result.stderr
        assert "ready" in result.stderr


def test_an_empty_router_variable_means_the_shipped_router(tmp_path: Path) -> None:
    result = serve_process(tmp_path, env={"SHOAL_ROUTER": " "})

    assert result.returncode == 0, result.stderr
    assert "ready" in result.stderr and "chooses with router" not in result.stderr


@pytest.mark.parametrize("source", ["--router", "SHOAL_ROUTER"])
@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "router file {file} does not exist"), ("{not json", "cannot read router file")],
)
def test_a_bad_router_file_stops_the_server_under_the_name_that_gave_it(
    source: str, content: str | None, message: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    file = tmp_path / "router.json"
    if content is not None:
        file.write_text(content, encoding="utf-8")
    options = ["--router", str(file)] if source == "--router" else []
    if source == "SHOAL_ROUTER":
        monkeypatch.setenv("SHOAL_ROUTER", str(file))

    status, err = serve(capsys, tmp_path, *options)

    assert status == 2
    assert err.startswith(f"shoal serve: error: {source}: {message.format(file=file)}"), err


@pytest.mark.parametrize(
    "source", ["--devices", "--architectures", "SHOAL_DEVICES", "SHOAL_ARCHITECTURES"]
)
def test_a_bad_device_or_architecture_file_stops_the_server_under_the_name_that_gave_it(
    source: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    file = tmp_path / "table.json"
    file.write_text("[1]", encoding="utf-8")
    for variable in ("SHOAL_DEVICES", "SHOAL_ARCHITECTURES"):
        monkeypatch.setenv(variable, str(file) if variable == source else "")
    options = [source, str(file)] if source.startswith("--") else []

    status, err = serve(capsys, tmp_path, *options)

    assert status == 2
    assert err == (f"shoal serve: error: {source}: {file}: expected a JSON object at the top "
                   "level\n")


def test_a_bad_device_file_is_named_by_the_option_among_good_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps({"devices": []}), encoding="utf-8")
    bad.write_text(json.dumps({"devices": [{"id": 3}]}), encoding="utf-8")
    monkeypatch.setenv("SHOAL_DEVICES", str(good))

    status, err = serve(capsys, tmp_path, "--devices", str(good), "--devices", str(bad))

    assert status == 2
    assert err.startswith(f"shoal serve: error: --devices: {bad}: devices row 1 is malformed")


def test_a_misspelt_field_of_a_device_file_stops_the_server_with_its_near_match(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # The device loaded without its INT8 peak, and the server served estimates from FP16.
    file = tmp_path / "devices.json"
    file.write_text(json.dumps({"devices": [{
        "id": "my-box", "name": "My box", "device_class": "discrete_gpu", "memory_gb": 48,
        "bandwidth_gbs": 960, "fp16_tflops": 150, "int8_top": 600, "power_w": 300,
    }]}), encoding="utf-8")

    status, err = serve(capsys, tmp_path, "--devices", str(file))

    assert status == 2
    assert err == (f"shoal serve: error: --devices: {file}: devices row 1 is malformed: unknown "
                   "field 'int8_top' (did you mean 'int8_tops'?)\n")


def test_a_device_file_whose_texts_hold_terminal_escapes_stops_the_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # port_chip answered with the device's name and memory type raw, escapes and all.
    file = tmp_path / "ctl.json"
    file.write_text(json.dumps({"devices": [{
        "id": "ctl", "name": "evil\u001b[2J\u202ename\u0000", "device_class": "discrete_gpu",
        "memory_gb": 24, "memory_type": "X\u001b[2J", "bandwidth_gbs": 1000, "fp16_tflops": 100,
        "power_w": 300, "node": "n5",
    }]}), encoding="utf-8")

    status, err = serve(capsys, tmp_path, "--devices", str(file))

    assert status == 2
    assert err == (f"shoal serve: error: --devices: {file}: devices row 1 is malformed: field "
                   "'name' must hold only printable characters (no control or format "
                   "characters, no space but ' '), got '\\x1b' in "
                   "'evil\\x1b[2J\\u202ename\\x00'\n")


@pytest.mark.parametrize(("content", "message"),
                         [(None, "--token-file: {file} does not exist"),
                          ("", "--token-file {file} is empty")])
def test_a_bad_token_file_is_named_by_its_option_before_the_start_up_log(
    content: str | None, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    file = tmp_path / "token"
    if content is not None:
        file.write_text(content, encoding="utf-8")

    status, err = serve(capsys, tmp_path, "--http", "--port", "18175", "--token-file", str(file))

    assert status == 2
    assert err == f"shoal serve: error: {message.format(file=file)}\n"


HEADER_REFUSAL = ("holds a token an HTTP header cannot carry: its character {number} is {kind}. "
                  "A bearer token is one line of printable ASCII characters; only the white "
                  "space around it is ignored")


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another socket listens on: a server that got as far as binding it would
    stop with `cannot listen`, so a refusal that should come first cannot be missed."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


@pytest.mark.parametrize(("content", "number", "kind"), [
    ("line1\nline2\n", 6, "a line break"),
    ("line1\r\nline2", 6, "a line break"),
    ("tok\ten", 4, "a tab"),
    ("tok\x1ben", 4, "a control character"),
    ("t\u00f6ken", 2, "not ASCII"),
])
def test_a_token_no_header_could_carry_stops_the_server_without_showing_it(
    content: str, number: int, kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, taken_port: int,
) -> None:
    # The server started with "bearer token required" and refused every client: `Bearer line1`,
    # `Bearer line1 line2` and `Bearer line1line2` all got 401.
    file = tmp_path / "token"
    file.write_text(content, encoding="utf-8")
    refusal = HEADER_REFUSAL.format(number=number, kind=kind)
    options = ("--http", "--port", str(taken_port))

    from_file = serve(capsys, tmp_path, *options, "--token-file", str(file))
    monkeypatch.setenv("SHOAL_HTTP_TOKEN", content)
    from_environment = serve(capsys, tmp_path, *options)

    assert from_file == (2, f"shoal serve: error: --token-file {file} {refusal}\n")
    assert from_environment == (2, f"shoal serve: error: SHOAL_HTTP_TOKEN {refusal}\n")


def test_white_space_around_a_token_is_ignored(tmp_path: Path) -> None:
    from shoal.http_transport import read_token

    file = tmp_path / "token"
    file.write_bytes(b"  shoal token 7f3a\r\n\n")

    assert read_token(file) == "shoal token 7f3a"


def test_a_router_option_without_the_routing_tools_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err = serve(capsys, tmp_path, "--tools", "tokens", "--router",
                        str(team_router(tmp_path)))

    assert status == 2
    assert "--router sets the router of route_task, which --tools leaves out" in err


def test_the_log_says_where_spend_and_outcomes_are_kept_without_making_them(
    tmp_path: Path,
) -> None:
    ledger, feedback = tmp_path / "spend.sqlite3", tmp_path / "outcomes.sqlite3"
    feedback.write_bytes(b"")
    env = {"SHOAL_LEDGER": str(ledger), "SHOAL_FEEDBACK_DB": str(feedback)}

    result = serve_process(tmp_path, env=env)
    read_only = serve_process(tmp_path, "--read-only", env=env)
    neither = serve_process(tmp_path, "--tools", "tokens,hardware", env=env)

    assert result.returncode == 0, result.stderr
    assert (f"INFO shoal.server: spend ledger of record_usage, set_budget_limit, budget_status, "
            f"savings_report: {ledger} (not made yet; the first write makes it)") in result.stderr
    assert f"INFO shoal.server: feedback database of record_outcome: {feedback} (exists)" \
        in result.stderr
    assert f"spend ledger of budget_status, savings_report: {ledger}" in read_only.stderr
    assert "feedback database" not in read_only.stderr
    assert "spend ledger" not in neither.stderr and "feedback database" not in neither.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["outcomes.sqlite3"]


def test_relative_ledger_and_feedback_paths_are_logged_and_kept_absolute(tmp_path: Path) -> None:
    # The log said `spend ledger ...: led.sqlite3`, relative to a directory the host chose.
    started_in = tmp_path / "host"
    started_in.mkdir()

    result = subprocess.run(
        [sys.executable, "-m", "shoal", "serve", "--root", str(tmp_path), "--ledger",
         "led.sqlite3"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=HANG_GUARD_S,
        cwd=started_in, env={**os.environ, "SHOAL_FEEDBACK_DB": "fb.sqlite3"},
    )

    assert result.returncode == 0, result.stderr
    assert (f"savings_report: {started_in / 'led.sqlite3'} (not made yet; the first write makes "
            "it)") in result.stderr
    assert f"feedback database of record_outcome: {started_in / 'fb.sqlite3'} (not made yet" \
        in result.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX folder permissions")
def test_a_ledger_in_a_folder_closed_to_this_user_is_logged_not_raised(
    shared_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging

    from shoal.server import build_server, registered_tools

    closed = shared_folder / "private"
    closed.mkdir(mode=0o700)  # owned by this user; as_another_user looks in as someone else
    monkeypatch.setenv("SHOAL_LEDGER", str(closed / "spend.sqlite3"))
    monkeypatch.setenv("SHOAL_FEEDBACK_DB", str(shared_folder / "outcomes.sqlite3"))

    def build_and_log() -> list[str]:
        lines: list[str] = []
        handler = logging.Handler()
        handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
        logging.getLogger("shoal.server").addHandler(handler)
        logging.getLogger("shoal.server").setLevel(logging.INFO)
        server = build_server(roots=[shared_folder])
        return [*lines, f"{len(registered_tools(server))} tools"]

    lines = as_another_user(build_and_log)

    ledger_line = next(line for line in lines if line.startswith("spend ledger of"))
    assert ledger_line.endswith(
        f"{closed / 'spend.sqlite3'} (cannot be checked: Permission denied)"
    )
    assert lines[-1] == f"{len(registered_tools(build_server(roots=[shared_folder])))} tools"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX folder permissions")
def test_a_ledger_that_can_be_read_but_not_written_is_warned_of_at_start(
    shared_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging

    from shoal.ledger import Ledger
    from shoal.server import build_server

    with Ledger(shared_folder / "spend.sqlite3") as ledger:
        ledger.record_usage("s", "gpt-4o", input_tokens=1_000)
    (shared_folder / "spend.sqlite3").chmod(0o644)
    monkeypatch.setenv("SHOAL_LEDGER", str(shared_folder / "spend.sqlite3"))
    monkeypatch.setenv("SHOAL_FEEDBACK_DB", str(shared_folder / "outcomes.sqlite3"))

    def build_and_log(read_only: bool) -> list[str]:
        lines: list[str] = []
        handler = logging.Handler()
        handler.emit = lambda record: lines.append(  # type: ignore[method-assign]
            f"{record.levelname} {record.getMessage()}")
        logging.getLogger("shoal.server").addHandler(handler)
        logging.getLogger("shoal.server").setLevel(logging.INFO)
        build_server(roots=[shared_folder], read_only=read_only)
        return lines

    writing = as_another_user(lambda: build_and_log(read_only=False))
    read_only = as_another_user(lambda: build_and_log(read_only=True))

    warnings = [line for line in writing if line.startswith("WARNING")]
    assert warnings == [
        f"WARNING record_usage and set_budget_limit will be refused: the ledger "
        f"{shared_folder / 'spend.sqlite3'} cannot be written: the file is read-only to this "
        "user (mode 0644); make it writable to record calls or set limits; or give another "
        "--ledger, or serve with --read-only to leave them out"]
    assert not [line for line in read_only if line.startswith("WARNING")]


@pytest.mark.parametrize("name", [".", "outcomes"])
def test_a_feedback_database_that_is_a_folder_stops_the_server(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "outcomes").mkdir()
    monkeypatch.setenv("SHOAL_FEEDBACK_DB", name)
    folder = tmp_path / name if name != "." else tmp_path

    status, err = serve(capsys, tmp_path)

    assert status == 2
    assert err == (f"shoal serve: error: SHOAL_FEEDBACK_DB: cannot open the feedback database "
                   f"{folder}: it is a folder; give a SQLite file's path\n")


def test_without_record_outcome_the_feedback_database_is_not_checked(tmp_path: Path) -> None:
    env = {**os.environ, "SHOAL_FEEDBACK_DB": str(tmp_path)}
    for options in (("--tools", "tokens,budget"), ("--read-only",)):
        result = serve_process(tmp_path, *options, env=env)

        assert result.returncode == 0, result.stderr
        assert "ready" in result.stderr
