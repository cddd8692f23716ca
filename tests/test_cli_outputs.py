"""Options that write a file never replace an input of their command, nor a file of another
kind, and refuse before the command does its work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hang_guard import HANG_GUARD_S
from permission_support import as_another_user

from shoal import hardware
from shoal.cli import main

PRICES = {"models": [{"id": "gpt-4o", "input_per_mtok": 2.5, "output_per_mtok": 10}]}
NOTES = "# My notes\n"
CHAT = [{"role": "user", "content": "Hello there."}, {"role": "assistant", "content": "Hi."}]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ledger with one call; --ledger and --prices set these variables for the process."""
    path = tmp_path / "spend.sqlite3"
    monkeypatch.setenv("SHOAL_LEDGER", str(path))
    monkeypatch.setenv("SHOAL_PRICES", "")
    assert main(["ledger", "record", "--scope", "session:a", "--model", "gpt-4o", "--input",
                 "1000", "--ledger", str(path)]) == 0
    return path


@pytest.fixture
def prices(tmp_path: Path) -> Path:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(PRICES), encoding="utf-8")
    return path


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    """A file of another kind than any output: a user's own notes."""
    path = tmp_path / "README.md"
    path.write_text(NOTES, encoding="utf-8")
    return path


@pytest.fixture
def labels(tmp_path: Path) -> Path:
    rows = []
    for prompt, maths in [("Solve 2x + 1 = 5.", 1.0), ("Write a haiku about rain.", 0.0),
                          ("What is 17 times 23?", 1.0), ("Compose a limerick.", 0.0)]:
        rows.append({"prompt": prompt, "model": "qwen2.5-7b-instruct", "score": maths})
        rows.append({"prompt": prompt, "model": "gemma-2-9b-it", "score": 1.0 - maths})
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_report_svg_never_replaces_its_ledger(
    ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = ledger.read_bytes()

    code, err = run(capsys, "report", "--ledger", str(ledger), "--svg", str(ledger))

    assert code == 2
    assert f"--svg {ledger} is the input {ledger}: writing the chart there would overwrite" in err
    assert ledger.read_bytes() == before


def test_report_svg_never_replaces_the_ledger_it_finds_in_the_environment(
    ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = ledger.read_bytes()

    code, err = run(capsys, "report", "--svg", str(ledger))

    assert code == 2 and f"is the input {ledger} (SHOAL_LEDGER)" in err
    assert ledger.read_bytes() == before


def test_report_svg_names_the_default_ledger_as_the_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHOAL_LEDGER", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    default = tmp_path / "shoal" / "ledger.sqlite3"

    code, err = run(capsys, "report", "--svg", str(default))

    assert code == 2 and f"is the input {default} (the default ledger)" in err


def test_report_svg_never_replaces_its_price_file(
    ledger: Path, prices: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = prices.read_bytes()

    code, err = run(capsys, "report", "--ledger", str(ledger), "--prices", str(prices), "--svg",
                    str(prices))
    assert code == 2 and f"--svg {prices} is the input {prices}:" in err

    monkeypatch.setenv("SHOAL_PRICES", str(prices))
    code, err = run(capsys, "report", "--ledger", str(ledger), "--svg", str(prices))
    assert code == 2 and f"is the input {prices} (SHOAL_PRICES)" in err
    assert prices.read_bytes() == before


def test_report_svg_refuses_another_name_of_the_ledger(
    ledger: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other_name = tmp_path / "chart.svg"
    os.link(ledger, other_name)

    code, err = run(capsys, "report", "--ledger", str(ledger), "--svg", str(other_name))

    assert code == 2 and f"--svg {other_name} is the input {ledger}" in err


def test_report_svg_replaces_an_svg_but_not_a_file_of_another_kind(
    ledger: Path, notes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chart = tmp_path / "chart.svg"
    chart.write_text('\n<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
                     encoding="utf-8")
    empty = tmp_path / "empty.svg"
    empty.touch()

    code, err = run(capsys, "report", "--ledger", str(ledger), "--svg", str(notes))
    assert code == 2
    assert f"--svg {notes} exists and is not an SVG; remove it or choose another name" in err
    assert notes.read_text(encoding="utf-8") == NOTES

    for replaced in (chart, empty):
        assert run(capsys, "report", "--ledger", str(ledger), "--svg", str(replaced))[0] == 0
        assert replaced.read_text(encoding="utf-8").startswith("<svg")


def test_an_output_that_is_a_folder_is_refused(
    ledger: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run(capsys, "report", "--ledger", str(ledger), "--svg", str(tmp_path))

    assert code == 2 and f"--svg {tmp_path} is a folder; name a file" in err


def test_hw_sweep_plot_refuses_before_the_sweep(
    notes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_sweep(*args: object, **kwargs: object) -> None:
        raise AssertionError("the sweep ran before the --plot file was checked")

    monkeypatch.setattr(hardware, "pareto_front", no_sweep)
    database = tmp_path / "some.sqlite3"
    database.write_bytes(b"SQLite format 3\x00" + bytes(100))
    sweep = ["hw", "sweep", "--models", "llama-3.2-1b-instruct", "--devices", "rtx-4090"]

    for target in (database, notes):
        before = target.read_bytes()
        code, err = run(capsys, *sweep, "--plot", str(target))
        assert code == 2
        assert f"--plot {target} exists and is not an SVG; remove it or choose another" in err
        assert target.read_bytes() == before


def test_hw_sweep_plot_never_replaces_a_user_device_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Empty, the file passes the kind check: only its being an input refuses it.
    devices = tmp_path / "devices.json"
    devices.touch()
    monkeypatch.setenv("SHOAL_DEVICES", str(devices))

    code, err = run(capsys, "hw", "sweep", "--plot", str(devices))

    assert code == 2 and f"--plot {devices} is the input {devices} (SHOAL_DEVICES)" in err
    assert devices.read_bytes() == b""


def test_eval_outputs_refuse_files_of_another_kind(
    labels: Path, notes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other_labels = tmp_path / "more-labels.jsonl"
    other_labels.write_bytes(labels.read_bytes())
    evaluate = ["eval", "--train", str(labels), "--test", str(labels)]

    code, err = run(capsys, *evaluate, "--plot", str(notes))
    assert code == 2 and f"--plot {notes} exists and is not an SVG" in err
    code, err = run(capsys, *evaluate, "--json", str(other_labels))
    assert code == 2 and f"--json {other_labels} exists and is not a shoal eval result" in err
    assert notes.read_text(encoding="utf-8") == NOTES
    assert other_labels.read_bytes() == labels.read_bytes()


def test_eval_and_fit_never_replace_the_price_file_of_the_environment(
    labels: Path, prices: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHOAL_PRICES", str(prices))
    before = prices.read_bytes()

    code, err = run(capsys, "eval", "--train", str(labels), "--test", str(labels), "--json",
                    str(prices))
    assert code == 2 and f"--json {prices} is the input {prices} (SHOAL_PRICES)" in err
    code, err = run(capsys, "fit", str(labels), "--out", str(prices))
    assert code == 2 and f"--out {prices} is the input {prices} (SHOAL_PRICES)" in err
    assert prices.read_bytes() == before


def test_fit_out_replaces_a_router_but_not_a_labels_file(
    labels: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other_labels, router = tmp_path / "more-labels.jsonl", tmp_path / "router.json"
    other_labels.write_bytes(labels.read_bytes())

    code, err = run(capsys, "fit", str(labels), "--out", str(other_labels), "--k", "2")
    assert code == 2 and f"--out {other_labels} exists and is not a shoal router file" in err
    assert other_labels.read_bytes() == labels.read_bytes()

    assert run(capsys, "fit", str(labels), "--out", str(router), "--k", "2")[0] == 0
    assert run(capsys, "fit", str(labels), "--out", str(router), "--k", "3")[0] == 0
    assert json.loads(router.read_text(encoding="utf-8"))


def test_budget_trim_output_never_replaces_the_chat_or_another_kind_of_file(
    notes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chat = tmp_path / "chat.json"
    chat.write_text(json.dumps(CHAT), encoding="utf-8")
    trim = ["budget", "trim", str(chat), "--model", "gpt-4o", "--budget", "100"]
    before = chat.read_bytes()

    code, err = run(capsys, *trim, "--output", str(chat))
    assert code == 2 and f"--output {chat} is the input {chat}: writing the kept messages" in err
    code, err = run(capsys, *trim, "--output", str(notes))
    assert code == 2 and f"--output {notes} exists and is not a JSON list of chat messages" in err
    assert chat.read_bytes() == before
    assert notes.read_text(encoding="utf-8") == NOTES


# ---- an existing file is replaced only by an output of its own kind ----


def test_eval_json_replaces_an_evaluation_but_not_a_router(
    labels: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    router, report = tmp_path / "router.json", tmp_path / "eval.json"
    evaluate = ["eval", "--train", str(labels), "--test", str(labels)]
    assert run(capsys, "fit", str(labels), "--out", str(router), "--k", "2")[0] == 0
    saved = router.read_bytes()

    code, err = run(capsys, *evaluate, "--json", str(router))
    assert code == 2 and f"--json {router} exists and is not a shoal eval result" in err
    assert router.read_bytes() == saved

    assert run(capsys, *evaluate, "--json", str(report))[0] == 0
    report.write_text(report.read_text(encoding="utf-8").replace('"prompts": 4', '"prompts": 0'),
                      encoding="utf-8")
    assert run(capsys, *evaluate, "--json", str(report))[0] == 0
    assert json.loads(report.read_text(encoding="utf-8"))["prompts"] == 4


def test_fit_out_refuses_a_price_file_and_an_evaluation_it_does_not_read(
    labels: Path, prices: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "eval.json"
    assert run(capsys, "eval", "--train", str(labels), "--test", str(labels), "--json",
               str(report))[0] == 0
    before = {path: path.read_bytes() for path in (prices, report)}

    for target in (prices, report):
        code, err = run(capsys, "fit", str(labels), "--out", str(target), "--k", "2")
        assert code == 2 and f"--out {target} exists and is not a shoal router file" in err
    assert {path: path.read_bytes() for path in (prices, report)} == before


def test_budget_trim_output_replaces_kept_messages_but_not_a_price_file(
    prices: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chat, kept = tmp_path / "chat.json", tmp_path / "kept.json"
    chat.write_text(json.dumps(CHAT), encoding="utf-8")
    kept.write_text(json.dumps(CHAT[:1]), encoding="utf-8")
    trim = ["budget", "trim", str(chat), "--model", "gpt-4o", "--budget", "100"]
    before = prices.read_bytes()

    code, err = run(capsys, *trim, "--output", str(prices))
    assert code == 2
    assert f"--output {prices} exists and is not a JSON list of chat messages" in err
    assert prices.read_bytes() == before

    assert run(capsys, *trim, "--output", str(kept))[0] == 0
    assert json.loads(kept.read_text(encoding="utf-8")) == CHAT


# ---- paths that name no file to write ----


def every_output_option(ledger: Path, labels: Path, tmp_path: Path) -> dict[str, list[str]]:
    """A command line per output option, each ending with the option, to which a path is added."""
    chat = tmp_path / "chat.json"
    chat.write_text(json.dumps(CHAT), encoding="utf-8")
    return {
        "--out": ["fit", str(labels), "--k", "2", "--out"],
        "--json": ["eval", "--train", str(labels), "--test", str(labels), "--json"],
        "--plot": ["eval", "--train", str(labels), "--test", str(labels), "--plot"],
        "--svg": ["report", "--ledger", str(ledger), "--svg"],
        "--output": ["budget", "trim", str(chat), "--model", "gpt-4o", "--budget", "100",
                     "--output"],
    }


def test_a_dash_is_refused_as_an_output_path(
    ledger: Path, labels: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    commands = every_output_option(ledger, labels, tmp_path)
    monkeypatch.chdir(tmp_path)

    for option, command in commands.items():
        code, err = run(capsys, *command, "-")
        assert code == 2 and f"{option} -: output goes to a file; name one" in err
    assert not (tmp_path / "-").exists()


def test_an_output_in_a_missing_folder_is_refused_before_the_evaluation(
    ledger: Path, labels: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_evaluation(*args: object, **kwargs: object) -> None:
        raise AssertionError("the evaluation ran before the output file was checked")

    monkeypatch.setattr("shoal.router_cli.evaluate_router", no_evaluation)
    missing = tmp_path / "nosuch"

    for option, command in every_output_option(ledger, labels, tmp_path).items():
        target = missing / "out"
        code, err = run(capsys, *command, str(target))
        assert code == 2
        assert f"{option} {target}: the folder {missing} does not exist; create it first" in err
    assert not missing.exists()

    inside_a_file = labels / "router.json"
    code, err = run(capsys, "fit", str(labels), "--out", str(inside_a_file))
    assert code == 2 and f"--out {inside_a_file}: {labels} is not a folder" in err


def test_an_output_that_is_a_named_pipe_is_refused(
    ledger: Path, labels: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    # A reader keeps a write from blocking, so that without the check the command would
    # finish (and the test fail) rather than hang: every output here fits in the pipe's buffer.
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        for option, command in every_output_option(ledger, labels, tmp_path).items():
            code, err = run(capsys, *command, str(fifo))
            assert code == 2 and f"{option} {fifo} is a named pipe, not a regular file" in err
            assert os.read(reader, 1 << 16) == b""
    finally:
        os.close(reader)


def test_standard_output_named_as_a_path_takes_the_data_alone(
    labels: Path, tmp_path: Path
) -> None:
    # Piped, /dev/stdout is a pipe; naming it is how `--out /dev/stdout | jq` is written, and
    # what the command says about the file goes to stderr so as not to corrupt the data.
    def shoal(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "shoal", *argv], capture_output=True,
                              text=True, timeout=HANG_GUARD_S, check=False)

    fitted = shoal("fit", str(labels), "--k", "2", "--out", "/dev/stdout")
    assert fitted.returncode == 0, fitted.stderr
    assert json.loads(fitted.stdout)["format"] == "shoal-router"
    assert "wrote /dev/stdout" in fitted.stderr

    evaluated = shoal("eval", "--train", str(labels), "--test", str(labels), "--json",
                      "/dev/stdout")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "aiq" in json.loads(evaluated.stdout) and "AIQ" in evaluated.stderr

    chat = tmp_path / "chat.json"
    chat.write_text(json.dumps([{"role": "user", "content": "hi"}]), encoding="utf-8")
    trimmed = shoal("budget", "trim", str(chat), "--model", "gpt-4o", "--budget", "100",
                    "--output", "/dev/stdout")
    assert trimmed.returncode == 0, trimmed.stderr
    assert json.loads(trimmed.stdout) == [{"role": "user", "content": "hi"}]

    swept = shoal("hw", "sweep", "--models", "llama-3.1-8b-instruct", "--devices",
                  "apple-m4-max", "--plot", "/dev/stdout")
    assert swept.returncode == 0, swept.stderr
    assert swept.stdout.startswith("<svg") and swept.stdout.rstrip().endswith("</svg>")
    assert "configurations" in swept.stderr


def test_standard_output_appended_to_a_file_of_another_kind_says_to_redirect(
    labels: Path, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n", encoding="utf-8")
    with notes.open("a", encoding="utf-8") as appended:
        fitted = subprocess.run([sys.executable, "-m", "shoal", "fit", str(labels), "--out",
                                 "/dev/stdout"], stdout=appended, stderr=subprocess.PIPE,
                                text=True, timeout=HANG_GUARD_S, check=False)

    assert fitted.returncode == 2
    assert ("--out /dev/stdout goes to an existing file that is not a shoal router file; "
            "redirect it to a new file") in fitted.stderr
    assert notes.read_text(encoding="utf-8") == "hello\n"


def test_a_full_standard_output_is_one_clean_error() -> None:
    with open("/dev/full", "w", encoding="utf-8") as full:
        costed = subprocess.run([sys.executable, "-m", "shoal", "cost", "gpt-4o", "--input", "5"],
                                stdout=full, stderr=subprocess.PIPE, text=True,
                                timeout=HANG_GUARD_S, check=False)

    assert costed.returncode == 2
    assert costed.stderr.strip().endswith("shoal cost: error: No space left on device")


def shoal_with_closed(redirection: str, *argv: str,
                      cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`shoal ARGV` run by a shell with ``redirection`` (``>&-``, ``<&-``) closing a standard
    stream, as a user's script may; what is left open is captured."""
    return subprocess.run(["sh", "-c", f'exec "$@" {redirection}', "sh", sys.executable, "-m",
                           "shoal", *argv], capture_output=True, text=True, cwd=cwd,
                          timeout=HANG_GUARD_S, check=False)


@pytest.mark.parametrize("argv", [
    ["count", "hi"],
    ["truncate", "--max-tokens", "5", "--file", "big.txt"],
    ["route", "--jsonl", "--file", "questions.txt"],
    ["models"],
    ["report", "--json"],
    ["hw", "sweep", "--models", "llama-3.1-8b-instruct", "--devices", "apple-m4-max"],
    ["serve"],
])
def test_a_closed_standard_output_is_refused_before_the_work(
    argv: list[str], tmp_path: Path
) -> None:
    (tmp_path / "big.txt").write_text("word " * 100, encoding="utf-8")
    (tmp_path / "questions.txt").write_text("Prove that 17 is prime.\n", encoding="utf-8")

    done = shoal_with_closed(">&-", *argv, cwd=tmp_path)

    assert done.returncode == 2
    assert done.stderr == (f"shoal {argv[0]}: error: standard output is closed; redirect it to "
                           "/dev/null to discard what it shows\n")


@pytest.mark.parametrize("option", ["--help", "--version"])
def test_help_and_version_fail_when_they_cannot_be_written(option: str) -> None:
    closed = shoal_with_closed(">&-", option)
    assert (closed.returncode, closed.stderr) == (2, "shoal: error: standard output is closed; "
                                                  "redirect it to /dev/null to discard what it "
                                                  "shows\n")

    with open("/dev/full", "w", encoding="utf-8") as full:
        filled = subprocess.run([sys.executable, "-m", "shoal", option], stdout=full,
                                stderr=subprocess.PIPE, text=True, timeout=HANG_GUARD_S,
                                check=False)
    assert (filled.returncode, filled.stderr) == (2, "shoal: error: No space left on device\n")


@pytest.mark.parametrize("argv", [
    ["count", "-"], ["route", "-"], ["truncate", "--max-tokens", "5"],
])
def test_a_closed_standard_input_is_one_error_when_read(argv: list[str]) -> None:
    done = shoal_with_closed("<&-", *argv)

    assert done.returncode == 2
    assert done.stderr == f"shoal {argv[0]}: error: standard input is closed\n"
    assert done.stdout == ""


def test_a_stdio_server_started_with_standard_input_closed_is_refused_before_ready() -> None:
    done = shoal_with_closed("<&-", "serve")

    assert done.returncode == 2
    assert done.stderr == ("shoal serve: error: standard input is closed, and the stdio server "
                           "reads its MCP requests from it; start it from an MCP host, which "
                           "opens it, or use --http\n")


def test_a_closed_standard_input_does_not_stop_a_command_that_does_not_read_it() -> None:
    done = shoal_with_closed("<&-", "count", "hi")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("1 token")


def test_dev_null_may_take_an_output(labels: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "fit", str(labels), "--k", "2", "--out", os.devnull)[0] == 0
    assert run(capsys, "eval", "--train", str(labels), "--test", str(labels), "--json",
               os.devnull)[0] == 0


class ClosedStdout:
    """Standard output whose reader has gone, as under `| true`."""

    def write(self, text: str) -> int:
        raise BrokenPipeError

    def flush(self) -> None:
        raise BrokenPipeError


def test_eval_writes_its_files_even_when_the_table_cannot_be_printed(
    labels: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report, plot = tmp_path / "eval.json", tmp_path / "eval.svg"
    monkeypatch.setattr("sys.stdout", ClosedStdout())

    assert main(["eval", "--train", str(labels), "--test", str(labels), "--json", str(report),
                 "--plot", str(plot)]) == 0

    assert json.loads(report.read_text(encoding="utf-8"))["prompts"] == 4
    assert plot.read_text(encoding="utf-8").startswith("<svg")


# ---- replaced in one step ------------------------------------------------------------------------


def test_a_router_loaded_during_a_refit_is_the_whole_old_one(
    labels: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    router = tmp_path / "router.json"
    assert run(capsys, "fit", str(labels), "--out", str(router), "--k", "2")[0] == 0
    old = router.read_bytes()

    with router.open("rb") as loading:  # a `shoal route` that opened it before the refit
        assert run(capsys, "fit", str(labels), "--out", str(router), "--k", "3")[0] == 0
        assert loading.read() == old

    assert router.read_bytes() != old and json.loads(router.read_bytes())


@pytest.mark.skipif(sys.platform == "win32",
                    reason="needs POSIX file size limits")
def test_a_refit_that_fails_mid_write_leaves_the_previous_router(
    labels: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    router = tmp_path / "router.json"
    assert run(capsys, "fit", str(labels), "--out", str(router), "--k", "2")[0] == 0
    old = router.read_bytes()
    # A write that fails part way, as on a full disk: files may grow to 1,000 bytes at most.
    script = ("import resource, signal, sys\nsignal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
              "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))\n"
              "from shoal.cli import main\nsys.exit(main(sys.argv[1:]))\n")

    done = subprocess.run(
        [sys.executable, "-c", script, "fit", str(labels), "--out", str(router), "--k", "3"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )

    assert len(old) > 1000
    assert done.returncode == 2 and "File too large" in done.stderr, done.stderr
    assert router.read_bytes() == old
    assert sorted(path.name for path in tmp_path.iterdir()) == ["labels.jsonl", "router.json"]


@pytest.mark.skipif(sys.platform == "win32",
                    reason="needs POSIX file size limits")
def test_a_split_that_fails_mid_write_leaves_only_whole_chunks(tmp_path: Path) -> None:
    from shoal.token_budget import split_chunks

    # Two chunks of 200 tokens: 799 bytes, then 2,800, past the limit below.
    text = "cat" + " cat" * 199 + " understanding" * 200
    first, second = split_chunks(text, 200).texts
    out_dir = tmp_path / "chunks"
    # A write that fails part way, as on a full disk: files may grow to 1,000 bytes at most.
    script = ("import resource, signal, sys\nsignal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
              "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))\n"
              "from shoal.cli import main\nsys.exit(main(sys.argv[1:]))\n")

    done = subprocess.run(
        [sys.executable, "-c", script, "split", "--max-tokens", "200", "--out-dir",
         str(out_dir), text],
        capture_output=True, text=True, timeout=HANG_GUARD_S,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )

    assert len(first.encode()) < 1000 < len(second.encode())
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"shoal split: error: --out-dir {out_dir}: cannot write chunk_0002.txt: File too large "
        "(chunk_0001.txt is whole; remove it before splitting again)\n"
    )
    # No cut chunk_0002.txt, and no temporary file left beside the whole first chunk.
    assert sorted(path.name for path in out_dir.iterdir()) == ["chunk_0001.txt"]
    assert (out_dir / "chunk_0001.txt").read_text(encoding="utf-8") == first


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes and symbolic links")
@pytest.mark.parametrize("durable", [True, False])
def test_a_replaced_output_keeps_its_mode_and_its_link(tmp_path: Path, durable: bool) -> None:
    from shoal import atomic_file

    chart = tmp_path / "charts" / "spend.svg"
    chart.parent.mkdir()
    chart.write_text("<svg/>", encoding="utf-8")
    chart.chmod(0o640)
    link = tmp_path / "latest.svg"
    link.symlink_to(chart)

    atomic_file.write_text(link, "<svg>new</svg>", durable=durable)

    assert link.is_symlink() and chart.read_text(encoding="utf-8") == "<svg>new</svg>"
    assert chart.stat().st_mode & 0o777 == 0o640
    assert sorted(path.name for path in chart.parent.iterdir()) == ["spend.svg"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX folder permissions")
def test_an_output_this_user_cannot_write_is_refused_before_the_work(
    labels: Path, shared_folder: Path
) -> None:
    import contextlib
    import io
    import sqlite3  # noqa: F401 - imported now: that user may not read the interpreter's files

    import shoal.router_cli  # likewise, with what fit and eval import
    import shoal.router_eval  # noqa: F401

    readable = shared_folder / "labels.jsonl"
    readable.write_bytes(labels.read_bytes())
    readable.chmod(0o644)
    closed = shared_folder / "closed"
    closed.mkdir(mode=0o755)  # this user's; as_another_user writes as someone else
    kept = closed / "kept.json"
    kept.write_text("{}", encoding="utf-8")
    kept.chmod(0o644)

    def run_as_that_user(*argv: str) -> list[object]:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(list(argv))
        return [code, err.getvalue()]

    fit = as_another_user(lambda: run_as_that_user(
        "fit", str(readable), "--out", str(closed / "r.json")))
    evaluation = as_another_user(lambda: run_as_that_user(
        "eval", "--data", str(readable), "--folds", "2", "--json", str(kept)))

    assert fit == [2, f"shoal fit: error: --out {closed / 'r.json'}: this user may not create "
                      f"files in {closed}; name a file you can write\n"]
    assert evaluation == [2, f"shoal eval: error: --json {kept}: {kept} is read-only to this "
                             "user; name a file you can write\n"]
    assert sorted(path.name for path in closed.iterdir()) == ["kept.json"]


READ_ONLY = "read-only (mode 0444); make it writable or choose another path"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
def test_a_read_only_output_is_refused_whoever_runs_the_command(
    ledger: Path, labels: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # Each was replaced by a rename, which the folder allows (and root may write any file).
    commands = every_output_option(ledger, labels, tmp_path)
    commands["hw sweep --plot"] = ["hw", "sweep", "--models", "llama-3.2-1b-instruct",
                                   "--devices", "rtx-4090", "--plot"]
    for name, command in commands.items():
        target = tmp_path / f"out-{command[0]}-{command[-1].lstrip('-')}"
        assert run(capsys, *command, str(target))[0] == 0  # an output of its own kind
        before = target.read_bytes()
        target.chmod(0o444)

        code, err = run(capsys, *command, str(target))

        assert code == 2 and err.endswith(f": error: {command[-1]} {target}: {READ_ONLY}\n"), name
        assert target.read_bytes() == before and target.stat().st_mode & 0o777 == 0o444


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
def test_every_file_written_whole_refuses_a_read_only_one(tmp_path: Path) -> None:
    from shoal import atomic_file
    from shoal.router import RouterFileError, load_router

    kept = tmp_path / "chunk_0001.txt"
    kept.write_text("kept", encoding="utf-8")
    kept.chmod(0o555)  # no write bit, whatever else
    router = tmp_path / "router.json"
    load_router().save(router)
    router.chmod(0o444)

    with pytest.raises(PermissionError) as refused:
        atomic_file.write_text(kept, "new", durable=False)
    with pytest.raises(RouterFileError) as save_refused:
        load_router().save(router)

    assert (refused.value.filename, refused.value.strerror) == (
        str(kept), "read-only (mode 0555); make it writable or choose another path")
    assert str(save_refused.value) == f"path {router}: {READ_ONLY}"
    assert kept.read_text(encoding="utf-8") == "kept"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["chunk_0001.txt", "router.json"]
    # A write bit for anyone leaves the choice to the file system, as before.
    kept.chmod(0o464)
    atomic_file.write_text(kept, "new", durable=False)
    assert kept.read_text(encoding="utf-8") == "new"


def test_a_ctrl_c_raised_as_the_temporary_file_is_made_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shoal import atomic_file

    made = []
    real_open = os.open

    def open_then_interrupted(path: str, flags: int, mode: int = 0o777) -> int:
        # The file is made; the signal that came meanwhile is raised as the call returns.
        descriptor = real_open(path, flags, mode)
        os.close(descriptor)
        made.append(path)
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic_file.os, "open", open_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_file.write_text(tmp_path / "chunk_0001.txt", "text", durable=False)
    monkeypatch.undo()

    assert len(made) == 1 and list(tmp_path.iterdir()) == []
