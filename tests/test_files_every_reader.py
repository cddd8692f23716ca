"""Every option that reads a file, and every command that reads standard input, under one set of
rules: a regular file only, nothing under /proc, /dev or /sys, and no more than the limit for the
kind of file. Each command runs in its own process with a memory cap and a hang guard, so a
reader that runs away on /dev/zero or waits on a pipe fails the test instead of taking the
machine."""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from hang_guard import HANG_GUARD_S

from shoal import catalog, hardware
from shoal.files import (
    DEFAULT_MAX_DATA_FILE_BYTES,
    DEFAULT_MAX_FILE_BYTES,
    MAX_ROUTER_FILE_BYTES,
    FileTooLargeError,
    read_text_stream,
)
from shoal.router_eval import EvaluationError, read_labelled, read_prices
from shoal.router_model import RouterFileError, read_router

# Address space for a command under test: ample for shoal, far short of reading /dev/zero whole.
MEMORY_LIMIT_BYTES = 2 * 1024**3
DECISION = "d-0123456789abcdef01234567"

# Each option that names a file, with FILE where the file goes. Options a reader without the
# rules would run away on or hang at.
FILE_OPTIONS = {
    "models --prices": ["models", "--prices", "FILE"],
    "route --router": ["route", "hello", "--router", "FILE"],
    "route --file": ["route", "--file", "FILE"],
    "route --history": ["route", "hello", "--history", "FILE"],
    "cost --plan": ["cost", "gpt-4o", "--plan", "FILE"],
    "budget fit ITEMS_FILE": ["budget", "fit", "FILE", "--model", "gpt-4o", "--budget", "10"],
    "budget trim CHAT_FILE": ["budget", "trim", "FILE", "--model", "gpt-4o", "--budget", "10"],
    "fit DATA": ["fit", "FILE", "--out", "OUT"],
    "eval --data": ["eval", "--data", "FILE", "--folds", "2"],
    "eval --train": ["eval", "--train", "FILE", "--test", "FILE"],
    "eval --test": ["eval", "--router", "ROUTER", "--test", "FILE"],
    "eval --prices": ["eval", "--data", "DATA", "--folds", "2", "--prices", "FILE"],
    "feedback record --prompt-file": ["feedback", "record", DECISION, "gpt-4o", "1",
                                      "--prompt-file", "FILE"],
    "count --chat": ["count", "--chat", "FILE"],
    "truncate --file": ["truncate", "--max-tokens", "5", "--file", "FILE"],
}

# User files named by an environment variable, with a command that loads them.
FILE_VARIABLES = {
    "SHOAL_PRICES": ["models"],
    "SHOAL_DEVICES": ["hw", "devices"],
    "SHOAL_ARCHITECTURES": ["hw", "models"],
}

# Each command that reads standard input for '-', and the option that raises its limit if any.
STDIN_COMMANDS = {
    "count -": (["count", "-"], "--max-file-bytes"),
    "count --limit 100 -": (["count", "--limit", "100", "-"], "--max-file-bytes"),
    "count --chat -": (["count", "--chat", "-"], "--max-file-bytes"),
    "truncate": (["truncate", "--max-tokens", "5"], "--max-file-bytes"),
    "split -": (["split", "--max-tokens", "5", "-"], "--max-file-bytes"),
    "route -": (["route", "-"], "--max-file-bytes"),
    "route --file -": (["route", "--file", "-"], "--max-file-bytes"),
    "cost --plan -": (["cost", "gpt-4o", "--plan", "-"], None),
    "budget fit -": (["budget", "fit", "-", "--model", "gpt-4o", "--budget", "10"], None),
    "budget trim -": (["budget", "trim", "-", "--model", "gpt-4o", "--budget", "10"],
                      "--max-file-bytes"),
    "feedback record --prompt-file -": (
        ["feedback", "record", DECISION, "gpt-4o", "1", "--prompt-file", "-"], None
    ),
}


def limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))


def run_guarded(
    argv: list[str], folder: Path, *, stdin: int | io.BufferedReader = subprocess.DEVNULL,
    environment: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """The command in its own process, with shoal's own data kept inside ``folder``."""
    private = {
        "SHOAL_LEDGER": str(folder / "ledger.sqlite3"),
        "SHOAL_FEEDBACK_DB": str(folder / "feedback.sqlite3"),
        "XDG_DATA_HOME": str(folder / "data"),
    }
    return subprocess.run(
        [sys.executable, "-m", "shoal", *argv],
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
        preexec_fn=limit_memory,
        env={**os.environ, **private, **(environment or {})},
        cwd=folder,
    )


def filled_in(template: list[str], file: str, folder: Path) -> list[str]:
    """The command with FILE as ``file`` and every other file it needs a good one."""
    data = folder / "labels.jsonl"
    rows = [{"prompt": f"task {n}", "model": model, "score": n % 2}
            for n in range(4) for model in ("gpt-4o", "gpt-4o-mini")]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    others = {"OUT": str(folder / "router.json"), "DATA": str(data),
              "ROUTER": str(catalog_router())}
    return [file if word == "FILE" else others.get(word, word) for word in template]


def catalog_router() -> Path:
    return Path(hardware.DATA_DIR) / "router_default.json"


@pytest.fixture
def fifo(tmp_path: Path) -> str:
    path = tmp_path / "pipe"
    os.mkfifo(path)  # no writer ever opens it: a reader that opened it would wait forever
    return str(path)


# ---- a device or a pipe where a file goes ----


@pytest.mark.parametrize("option", FILE_OPTIONS)
def test_a_device_is_refused_at_once(option: str, tmp_path: Path) -> None:
    result = run_guarded(filled_in(FILE_OPTIONS[option], "/dev/zero", tmp_path), tmp_path)

    assert result.returncode == 2, result.stderr
    assert "/dev/zero is under /dev, which shoal never reads" in result.stderr


@pytest.mark.parametrize("option", FILE_OPTIONS)
def test_a_named_pipe_is_refused_without_waiting(option: str, tmp_path: Path, fifo: str) -> None:
    result = run_guarded(filled_in(FILE_OPTIONS[option], fifo, tmp_path), tmp_path)

    assert result.returncode == 2, result.stderr
    assert f"{fifo} is not a regular file (a pipe, device or socket)" in result.stderr


@pytest.mark.parametrize("variable", FILE_VARIABLES)
@pytest.mark.parametrize("kind", ["device", "pipe"])
def test_a_device_or_pipe_in_a_user_file_variable_is_refused(
    variable: str, kind: str, tmp_path: Path, fifo: str
) -> None:
    named = "/dev/zero" if kind == "device" else fifo

    result = run_guarded(FILE_VARIABLES[variable], tmp_path, environment={variable: named})

    assert result.returncode == 2, result.stderr
    assert named in result.stderr
    assert "never reads" in result.stderr


# ---- standard input ----


@pytest.mark.parametrize("command", STDIN_COMMANDS)
def test_endless_standard_input_is_refused_at_the_limit(command: str, tmp_path: Path) -> None:
    argv, raise_with = STDIN_COMMANDS[command]

    with open("/dev/zero", "rb") as zeros:
        result = run_guarded(argv, tmp_path, stdin=zeros)

    assert result.returncode == 2, result.stderr
    limit = DEFAULT_MAX_DATA_FILE_BYTES if command == "route --file -" else DEFAULT_MAX_FILE_BYTES
    assert f"standard input is over the {limit:,}-byte limit" in result.stderr
    if raise_with is not None:
        assert f"raise {raise_with} to read it" in result.stderr
    else:
        assert "raise" not in result.stderr


def test_max_file_bytes_sets_the_standard_input_limit(tmp_path: Path) -> None:
    path = tmp_path / "text.txt"
    path.write_text("word " * 20, encoding="utf-8")  # 100 bytes

    with open(path, "rb") as text:
        refused = run_guarded(["count", "-", "--max-file-bytes", "99"], tmp_path, stdin=text)
    with open(path, "rb") as text:
        read = run_guarded(["count", "-", "--max-file-bytes", "100"], tmp_path, stdin=text)

    assert refused.returncode == 2
    assert "standard input is over the 99-byte limit; raise --max-file-bytes" in refused.stderr
    assert read.returncode == 0 and "100 characters" in read.stdout


def test_a_stream_is_read_up_to_its_limit_and_one_byte_further() -> None:
    assert read_text_stream(io.BytesIO(b"hello"), max_bytes=5) == "hello"
    stream = io.BytesIO(b"x" * 1000)
    with pytest.raises(FileTooLargeError) as caught:
        read_text_stream(stream, max_bytes=10)

    assert stream.tell() == 11
    assert str(caught.value) == (
        "standard input is over the 10-byte limit; raise max_file_bytes to read it"
    )
    with pytest.raises(ValueError,
                       match=r"standard input is not UTF-8 text \(byte 0xFF at offset 1\)"):
        read_text_stream(io.BytesIO(b"a\xff"))


# ---- the limit of each kind of file ----


def sparse(path: Path, size: int) -> Path:
    """A file of ``size`` bytes that takes no disk space: the size is checked before reading."""
    with open(path, "wb") as handle:
        handle.truncate(size)
    return path


def test_settings_files_stop_at_their_fixed_limit(tmp_path: Path) -> None:
    big = sparse(tmp_path / "big.json", DEFAULT_MAX_FILE_BYTES + 1)
    limit = DEFAULT_MAX_FILE_BYTES
    over = f"is {limit + 1:,} bytes, over the {limit:,}-byte limit"

    with pytest.raises(catalog.CatalogError, match=f"cannot read catalog file: .*{over}$"):
        catalog.load_catalog(big)
    with pytest.raises(ValueError, match=f"cannot read table file: .*{over}$"):
        hardware.load_devices(big)
    with pytest.raises(EvaluationError, match=f"cannot read price file: .*{over}$"):
        read_prices(big)


def test_a_router_file_stops_at_its_limit(tmp_path: Path) -> None:
    big = sparse(tmp_path / "router.json", MAX_ROUTER_FILE_BYTES + 1)

    with pytest.raises(RouterFileError, match=f"over the {MAX_ROUTER_FILE_BYTES:,}-byte limit$"):
        read_router(big)


def test_labelled_data_has_a_default_limit_the_user_can_raise(tmp_path: Path) -> None:
    big = sparse(tmp_path / "labels.jsonl", DEFAULT_MAX_DATA_FILE_BYTES + 1)
    small = tmp_path / "small.jsonl"
    small.write_text(json.dumps({"prompt": "a task", "model": "gpt-4o", "score": 1}) + "\n",
                     encoding="utf-8")

    with pytest.raises(EvaluationError, match=r"; raise max_file_bytes to read it$"):
        read_labelled(big)
    with pytest.raises(EvaluationError, match="over the 10-byte limit"):
        read_labelled(small, max_file_bytes=10)
    assert [item.prompt for item in read_labelled(small, max_file_bytes=1000)] == ["a task"]


@pytest.mark.parametrize("reading", [["fit", "DATA", "--out", "OUT"],
                                     ["eval", "--data", "DATA", "--folds", "2"],
                                     ["eval", "--train", "DATA", "--test", "DATA"]],
                         ids=["fit", "eval --data", "eval --train"])
def test_fit_and_eval_name_their_option_for_a_larger_data_file(
    tmp_path: Path, reading: list[str],
) -> None:
    data = tmp_path / "labels.jsonl"
    rows = [{"prompt": f"task {n}", "model": model, "score": 1}
            for n in range(3) for model in ("gpt-4o", "gpt-4o-mini")]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    argv = [{"DATA": str(data), "OUT": str(tmp_path / "router.json")}.get(word, word)
            for word in reading]

    refused = run_guarded([*argv, "--max-file-bytes", "10"], tmp_path)
    read = run_guarded(argv, tmp_path)

    assert refused.returncode == 2
    # The command line's option only, as every other command names it: not the parameter.
    assert refused.stderr.endswith("over the 10-byte limit; raise --max-file-bytes to read it\n")
    assert "max_file_bytes" not in refused.stderr
    assert read.returncode == 0, read.stderr


# JSON cut off inside a string: Python's reader says "Unterminated string starting at" and leaves
# the place to its own str(); an error that quoted that phrase alone stopped mid-sentence.
TRUNCATED_JSON = '{"prompt": "Write a poem'


@pytest.mark.parametrize("option", [
    "models --prices", "route --router", "route --history", "cost --plan",
    "budget fit ITEMS_FILE", "budget trim CHAT_FILE", "count --chat",
])
def test_a_truncated_json_file_is_named_with_the_place_the_string_starts(
    option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from shoal.cli import main

    path = tmp_path / "cut.json"
    path.write_text(TRUNCATED_JSON, encoding="utf-8")

    assert main([str(path) if part == "FILE" else part for part in FILE_OPTIONS[option]]) == 2
    err = capsys.readouterr().err
    assert err.endswith(f"{path}: not valid JSON (Unterminated string starting at line 1, "
                        "column 12)\n"), err


@pytest.mark.parametrize("option", ["route --file", "fit DATA", "eval --data"])
def test_a_truncated_json_line_is_named_with_the_column_the_string_starts(
    option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from shoal.cli import main

    path = tmp_path / "cut.jsonl"
    path.write_text(TRUNCATED_JSON + "\n", encoding="utf-8")
    argv = [str(path) if part == "FILE" else part for part in FILE_OPTIONS[option]]

    assert main([str(tmp_path / "router.json") if part == "OUT" else part for part in argv]) == 2
    err = capsys.readouterr().err
    assert f"{path}:1: not valid JSON (Unterminated string starting at column 12)" in err, err
