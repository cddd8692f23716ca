"""The `shoal` command line: the main job on real input, and user mistakes answered with a clear
message and exit status 2, never a traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hang_guard import HANG_GUARD_S

from shoal.cli import main
from shoal.ledger import open_ledger
from shoal.router import route

MT_BENCH = Path(__file__).parents[1] / "python" / "shoal" / "data" / "mt_bench_questions.jsonl"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_routing_the_mt_bench_questions_prints_a_choice_per_question_and_the_saving(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = run(capsys, "route", "--file", str(MT_BENCH))

    rows = [line.split() for line in out.splitlines() if line[:5].strip().isdigit()]
    assert status == 0
    assert len(rows) == 80
    assert "routed:   80 prompts" in out
    assert "routing saves" in out
    # Each row names its line and its decision, which `shoal feedback record` takes.
    first = json.loads(MT_BENCH.read_text(encoding="utf-8").splitlines()[0])["turns"][0]
    assert rows[0][0] == "1" and rows[0][4] == route(first).decision_id


def test_a_batch_names_each_decision_by_its_line_past_a_byte_order_mark_and_blank_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    batch = tmp_path / "prompts.jsonl"
    batch.write_text('\ufeff{"prompt": "Write a haiku."}\n\n{"prompt": "Solve 2x + 1 = 5."}\n',
                     encoding="utf-8")

    status, out, _ = run(capsys, "route", "--file", str(batch), "--json")
    text_status, text, _ = run(capsys, "route", "--file", str(batch))

    assert status == text_status == 0
    decisions = json.loads(out)["decisions"]
    assert [(decision["line"], decision["decision_id"]) for decision in decisions] == [
        (1, route("Write a haiku.").decision_id), (3, route("Solve 2x + 1 = 5.").decision_id)]
    rows = [line.split() for line in text.splitlines()[1:3]]
    assert [(row[0], row[4]) for row in rows] == [
        ("1", decisions[0]["decision_id"]), ("3", decisions[1]["decision_id"])]


def test_batch_json_carries_the_decisions_and_the_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = run(capsys, "route", "--file", str(MT_BENCH), "--json")

    document = json.loads(out)
    assert status == 0
    assert len(document["decisions"]) == 80
    summary = document["summary"]
    assert summary["prompts"] == 80
    assert summary["routed_cost_usd"] <= summary["strongest_cost_usd"]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"prompt": 5}'], "'prompt' must be a non-empty string"),
        (['{"turns": []}'], "'turns' must be a non-empty list of strings"),
        (['"just a string"'], "each line must be a JSON object, got string"),
        (["[1]"], "each line must be a JSON object, got array"),
        (['{"text": "hi"}'], "no 'prompt', 'question' or 'turns' field"),
        (['{"prompt": "ok"}', "{broken"], ":2: not valid JSON"),
        (['{"prompt": "a\\ud800b"}'], "unpaired surrogate"),
        ([], "no prompts"),
    ],
)
def test_a_bad_prompt_file_names_the_line_and_the_problem(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, lines: list[str], message: str
) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    status, out, err = run(capsys, "route", "--file", str(path))

    assert status == 2 and out == ""
    assert message in err


def test_missing_folder_and_binary_prompt_files_are_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    binary = tmp_path / "prompts.jsonl"
    binary.write_bytes(b"\x00\xa6\xff")

    assert run(capsys, "route", "--file", str(tmp_path / "absent.jsonl"))[2].endswith(
        "absent.jsonl does not exist\n"
    )
    assert "is a folder" in run(capsys, "route", "--file", str(tmp_path))[2]
    assert "is binary (NUL byte in the first 8 KiB)" in run(
        capsys, "route", "--file", str(binary)
    )[2]


@pytest.mark.parametrize(
    "command",
    [["truncate", "--max-tokens", "5"], ["split", "--max-tokens", "5"],
     ["budget", "trim", "--model", "gpt-4o", "--budget", "50"], ["privacy"]],
)
def test_a_named_binary_file_is_refused_in_the_words_count_uses(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[str]
) -> None:
    # Valid UTF-8 with a NUL: read as text it was cut and split as if it were prose.
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"ab\x00cd")
    where = [str(binary)] if command[0] == "budget" else ["--file", str(binary)]

    status, out, err = run(capsys, *command, *where)

    assert status == 2 and out == ""
    assert f"{binary} is binary (NUL byte in the first 8 KiB)" in err
    assert "cannot be counted" in run(capsys, "count", "--file", str(binary))[2]


def test_an_empty_prompt_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "route", "   ")

    assert status == 2 and "prompt is empty" in err


def test_terminal_escapes_in_prompts_do_not_reach_the_table(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_text(json.dumps({"prompt": "\x1b[31mred\x1b[0m text"}) + "\n", encoding="utf-8")

    status, out, _ = run(capsys, "route", "--file", str(path))

    assert status == 0 and "\x1b" not in out


def test_encoding_and_model_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(
        capsys, "count", "hello", "--encoding", "cl100k_base", "--model", "gpt-4.1"
    )

    assert status == 2 and "not both" in err
    assert run(capsys, "count", "hello", "--model", "gpt-4.1")[1].startswith("1 token for gpt-4.1")


@pytest.mark.parametrize(
    ("argv", "unknown"),
    [
        (["eval", "--data", "x.json", "--out", "y.json"], "--out"),
        (["hw", "sweep", "--mod", "llama-3.1-8b"], "--mod"),
    ],
)
def test_option_prefixes_are_refused_instead_of_guessed(
    capsys: pytest.CaptureFixture[str], argv: list[str], unknown: str,
) -> None:
    # argparse would otherwise read "--out" as "--output-tokens", and fail on its value.
    with pytest.raises(SystemExit) as stopped:
        main(argv)

    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert f"unrecognized arguments: {unknown}" in err
    # Reported under the subcommand's own usage, which lists the options it does take.
    assert err.startswith(f"usage: shoal {' '.join(argv[:2 if argv[0] == 'hw' else 1])} ")


def test_a_chat_is_counted_by_a_model_not_an_encoding(
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    chat = tmp_path / "chat.json"
    chat.write_text(json.dumps([{"role": "user", "content": "Hello"}]), encoding="utf-8")

    status, _, err = run(capsys, "count", "--chat", str(chat), "--encoding", "tekken_240718")

    assert status == 2 and "name the model with --model" in err
    assert run(capsys, "count", "--chat", str(chat), "--model", "gpt-4o")[0] == 0


def test_serve_refuses_a_root_that_is_not_a_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x", encoding="utf-8")

    missing = run(capsys, "serve", "--root", str(tmp_path / "missing"))
    not_a_folder = run(capsys, "serve", "--root", str(a_file))

    assert missing[0] == 2 and "does not exist" in missing[2]
    assert not_a_folder[0] == 2 and "is not a folder" in not_a_folder[2]


def test_binary_standard_input_is_named_not_a_surrogate_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "shoal", "count", "-"],
        input=b"ok\xa6\xff",
        capture_output=True,
        timeout=HANG_GUARD_S,
    )

    assert result.returncode == 2
    assert b"standard input is not UTF-8 text (byte 0xA6 at offset 2)" in result.stderr


def test_text_that_is_not_utf8_is_refused_alike_on_the_command_line_and_stdin() -> None:
    def privacy(*argv: bytes, stdin: bytes = b"") -> bytes:
        result = subprocess.run([sys.executable, "-m", "shoal", "privacy", *argv], input=stdin,
                                capture_output=True, timeout=HANG_GUARD_S)
        assert result.returncode == 2
        return result.stderr

    assert privacy(b"abc\xff mail bob@gmail.com") == (
        b"shoal privacy: error: TEXT is not UTF-8 text (byte 0xFF at offset 3)\n")
    assert privacy(b"-", stdin=b"abc\xff mail bob@gmail.com") == (
        b"shoal privacy: error: standard input is not UTF-8 text (byte 0xFF at offset 3)\n")


# What Python makes of the argument b"caf\xe9 ok" (Latin-1) on a UTF-8 system.
LATIN_1 = b"caf\xe9 ok".decode("utf-8", "surrogateescape")
DECISION = "d-0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["privacy", LATIN_1], "shoal privacy: error: TEXT"),
        (["privacy", "--redact", LATIN_1], "shoal privacy: error: TEXT"),
        (["route", LATIN_1], "shoal route: error: PROMPT"),
        (["count", "fine", LATIN_1], "shoal count: error: TEXT argument 2"),
        (["count", LATIN_1], "shoal count: error: TEXT"),
        (["truncate", "--max-tokens", "5", LATIN_1], "shoal truncate: error: TEXT"),
        (["split", "--max-tokens", "5", "a", LATIN_1], "shoal split: error: TEXT argument 2"),
        (["cost", LATIN_1, "--input", "5"], "shoal cost: error: MODEL"),
        (["cost", "--compare", LATIN_1, "--input", "5"], "shoal cost: error: --compare"),
        (["models", "--provider", LATIN_1], "shoal models: error: --provider"),
        (["report", "--scope", LATIN_1], "shoal report: error: --scope"),
        (["feedback", "record", DECISION, "gpt-4o", "1", "--note", LATIN_1],
         "shoal feedback record: error: --note"),
        (["fit", "labels.jsonl", "--out", "r.json", "--source", LATIN_1],
         "shoal fit: error: --source"),
        (["hw", "fit", LATIN_1, "apple-m4-pro"], "shoal hw fit: error: MODEL"),
        (["hw", "sweep", "--models", "a", LATIN_1], "shoal hw sweep: error: --models argument 2"),
    ],
)
def test_every_command_names_its_argument_that_is_not_utf8(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Refused before any file is read or written.
    monkeypatch.chdir(tmp_path)

    status, out, err = run(capsys, *argv)

    assert (status, out) == (2, "")
    assert err == f"{named} is not UTF-8 text (byte 0xE9 at offset 3)\n"
    assert list(tmp_path.iterdir()) == []


def test_a_file_name_that_is_not_utf8_is_still_read(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # A file name is bytes to the system: only text arguments must be UTF-8.
    name = tmp_path / LATIN_1
    name.write_bytes(b"mail bob.smith@gmail.com\n")

    status, out, _ = run(capsys, "privacy", "--redact", "--file", str(name))

    assert (status, out) == (0, "mail [email]\n")


def test_models_lists_the_catalog_with_filters(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "models", "--provider", "anthropic")
    assert status == 0
    assert "claude-haiku-4-5" in out and "gpt-4.1" not in out

    status, out, _ = run(capsys, "models", "--open-weights", "--json")
    document = json.loads(out)
    assert status == 0
    assert document["models"] and all(row["open_weights"] for row in document["models"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--http", "--port", "70000"], "port must be 1-65535"),
        (["serve", "--http", "--port", "-1"], "port must be 1-65535"),
        (["serve", "--stateless"], "--stateless needs --http"),
        (["serve", "--port", "9000", "--stateless"], "--stateless, --port need --http"),
        (["serve", "--body-timeout", "5"], "--body-timeout needs --http"),
        (["serve", "--http", "--body-timeout", "0"],
         "argument --body-timeout: body timeout must be at least 0.1 and at most 3,600 seconds, "
         "got 0"),
        # Below a tenth of a second even a local client's short body may be refused.
        (["serve", "--http", "--body-timeout", "0.0000000000000000000000000000000000001"],
         "at least 0.1 and at most 3,600 seconds, got 0.0000000000000000000000000000000000001"),
        (["serve", "--http", "--body-timeout", "3601"], "at most 3,600 seconds, got 3,601"),
        (["serve", "--http", "--body-timeout", "1e3"],
         "argument --body-timeout: not a plain decimal number: '1e3'"),
        (["serve", "--session-idle-timeout", "60"], "--session-idle-timeout needs --http"),
        (["serve", "--http", "--stateless", "--session-idle-timeout", "60"],
         "--session-idle-timeout needs sessions, which --stateless does not keep"),
        (["serve", "--http", "--session-idle-timeout", "0.5"],
         "argument --session-idle-timeout: session idle timeout must be at least 1 and at most "
         "86,400 seconds, got 0.5"),
        (["serve", "--tools", ""], "--tools names no group"),
        (["serve", "--tools", "tokens,nope"],
         "shoal serve: error: --tools names unknown group(s) nope; choose among tokens, routing, "
         "cost, budget, hardware"),
    ],
)
def test_serve_refuses_options_it_cannot_honour(argv: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "shoal", *argv],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
    )

    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_the_command_line_body_timeout_default_is_the_transport_default() -> None:
    from shoal import cli, http_transport

    assert cli.DEFAULT_BODY_TIMEOUT_S == http_transport.DEFAULT_BODY_TIMEOUT_S


def test_serve_says_when_the_port_is_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "shoal", "serve", "--http", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=HANG_GUARD_S,
        )

    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "serving" not in result.stderr


def _time_wait_ports() -> set[int]:
    """The local ports of this machine's IPv4 TCP connections in TIME-WAIT."""
    table = Path("/proc/net/tcp")
    if not table.exists():
        pytest.skip("no /proc/net/tcp here")
    rows = [line.split() for line in table.read_text().splitlines()[1:]]
    return {int(row[1].rsplit(":", 1)[1], 16) for row in rows if row[3] == "06"}  # 06: TIME_WAIT


def test_serve_starts_at_once_on_a_port_a_stopped_server_left_in_time_wait(
    tmp_path: Path,
) -> None:
    from mcp_load import start_http_server, stop_process

    # A server that closed its connection first (as one stopping does) leaves it in TIME-WAIT on
    # its own port for a minute; uvicorn binds such a port, so shoal must not refuse it.
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = listener.accept()
            accepted.close()
            assert client.recv(1) == b""  # the server's FIN has arrived
    assert port in _time_wait_ports()

    process, _ = start_http_server(tmp_path / "server.log", port=port)
    stop_process(process)
    assert "cannot listen" not in (tmp_path / "server.log").read_text()


def test_an_empty_http_token_stops_the_server_instead_of_disabling_auth() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "shoal", "serve", "--http", "--port", "1"],
        env={**os.environ, "SHOAL_HTTP_TOKEN": "  "},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
    )

    assert result.returncode == 2
    assert "SHOAL_HTTP_TOKEN is set but empty" in result.stderr


def test_files_that_cannot_be_written_and_deep_json_are_errors_not_tracebacks(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000, encoding="utf-8")

    assert "nested too deeply" in run(capsys, "count", "--chat", str(deep))[2]
    assert "nested too deeply" in run(capsys, "route", "--file", str(deep))[2]
    open_ledger()  # the session's ledger: report reads only a ledger that exists
    status, _, err = run(capsys, "report", "--svg", str(tmp_path / "absent" / "x.svg"))
    assert status == 2 and "the folder" in err and "does not exist" in err


def test_split_refuses_a_folder_that_already_holds_chunks(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    assert run(capsys, "split", "--max-tokens", "4", "--out-dir", str(tmp_path), text)[0] == 0

    status, _, err = run(capsys, "split", "--max-tokens", "40", "--out-dir", str(tmp_path), text)

    assert status == 2 and "already holds chunk files" in err
    assert "".join(p.read_text() for p in sorted(tmp_path.glob("chunk_*.txt"))) == text


def test_a_ledger_url_of_another_database_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHOAL_LEDGER", "mysql://db/ledger")

    status, _, err = run(capsys, "ledger", "status", "--scope", "a")

    assert status == 2 and "only postgresql:// URLs or SQLite file paths" in err
    assert not any(tmp_path.iterdir())


def test_a_named_retired_model_is_noted_in_the_decision_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The note was only in --json; the text recommended a retired model without a word.
    status, out, _ = run(capsys, "route", "Summarise the plot of Hamlet.", "--candidates",
                         "gemini-2.5-pro,gpt-4o")

    assert status == 0
    assert ("  note: gemini-2.5-pro was retired on 2026-12-01 per the catalog; its prices may no "
            "longer apply; considered because it was named") in out.splitlines()
    assert "note:" not in run(capsys, "route", "Summarise the plot of Hamlet.")[1]


@pytest.mark.parametrize(("given", "bound", "shown"), [
    ("[::1]", "::1", "[::1]"), ("::1", "::1", "[::1]"), ("127.0.0.1", "127.0.0.1", "127.0.0.1"),
])
def test_an_ipv6_host_is_taken_with_or_without_brackets_and_shown_with_them(
    given: str, bound: str, shown: str
) -> None:
    from shoal.cli import _bind_address, _url_host

    assert _bind_address(given) == bound
    assert _url_host(bound) == shown


def test_commands_other_than_serve_do_not_load_the_mcp_sdk(tmp_path: Path) -> None:
    # Importing the SDK (pydantic models, anyio, starlette) costs a second or more: a command
    # that serves nothing must not pay it, --router and SHOAL_ROUTER included.
    router = tmp_path / "router.json"
    router.write_bytes(
        (Path(__file__).parents[1] / "python" / "shoal" / "data" / "router_default.json")
        .read_bytes())
    script = (
        "import sys\n"
        "from shoal.cli import main\n"
        f"assert main(['route', 'hello', '--router', {str(router)!r}]) == 0\n"
        "assert main(['route', 'hello']) == 0\n"
        "assert main(['count', 'hello']) == 0\n"
        "assert main(['cost', 'gpt-4o', '--input', '10']) == 0\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'mcp'))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "SHOAL_ROUTER": str(router)},
                          timeout=HANG_GUARD_S, check=False)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"
