"""`shoal count`, `truncate` and `split`: their input read under one set of rules, options that do
not apply refused by name, and answers worded for the numbers they carry."""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hang_guard import HANG_GUARD_S

from shoal.cli import main

# Address space for a command under test: ample for shoal, far short of reading /dev/zero whole.
MEMORY_LIMIT_BYTES = 2 * 1024**3


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def run_guarded(*argv: str) -> subprocess.CompletedProcess[str]:
    """The command in its own process, which a hang or a runaway read cannot take the tests
    (or the machine's memory) down with: a reader that runs away on a device fails for memory,
    one that waits on a pipe at the hang guard."""
    return subprocess.run(
        [sys.executable, "-m", "shoal", *argv],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
        preexec_fn=limit_memory,
    )


def limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))


def use_stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode("utf-8"))))


# ---- truncate and split read --file as count reads files ----


@pytest.mark.parametrize("command", ["truncate", "split"])
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_as_file_is_refused_at_once(command: str, device: str) -> None:
    result = run_guarded(command, "--max-tokens", "5", "--file", device)

    assert result.returncode == 2
    assert f"shoal {command}: error: {device} is under /dev, which shoal never reads" in (
        result.stderr
    )


@pytest.mark.parametrize("command", ["truncate", "split"])
def test_a_named_pipe_as_file_is_refused_without_waiting(command: str, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # no writer ever opens it: a reader that opened it would wait forever

    result = run_guarded(command, "--max-tokens", "5", "--file", str(fifo))

    assert result.returncode == 2
    assert f"{fifo} is not a regular file" in result.stderr


@pytest.mark.parametrize("command", ["truncate", "split"])
def test_a_file_over_the_limit_names_the_option_that_raises_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    path = tmp_path / "a.txt"
    path.write_text("word " * 20, encoding="utf-8")

    status, _, err = run(
        capsys, command, "--max-tokens", "5", "--file", str(path), "--max-file-bytes", "50"
    )
    raised = run(
        capsys, command, "--max-tokens", "5", "--file", str(path), "--max-file-bytes", "100"
    )

    assert status == 2
    assert f"{path} is 100 bytes, over the 50-byte limit; raise --max-file-bytes to read it" in err
    assert raised[0] == 0


def test_truncate_reads_stdin_for_a_dash_or_no_text(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for argv in ((), ("-",), ("--file", "-")):
        use_stdin(monkeypatch, "The quick brown fox")
        status, out, _ = run(capsys, "truncate", "--max-tokens", "2", *argv)
        assert (status, out) == (0, "The quick"), argv


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1", "argument --max-file-bytes: must be at least 1, not -1"),
        ("0", "argument --max-file-bytes: must be at least 1, not 0"),
        ("9223372036854775807", "argument --max-file-bytes: must be at most 1,073,741,824 (1 GiB)"),
        ("99999999999999999999", "argument --max-file-bytes: must be at most 1,073,741,824"),
        ("lots", "argument --max-file-bytes: not a whole number: 'lots'"),
    ],
)
@pytest.mark.parametrize("command", ["count", "truncate", "split"])
def test_a_file_size_limit_out_of_range_names_only_the_option(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str, value: str, message: str
) -> None:
    path = tmp_path / "a.txt"
    path.write_text("a", encoding="utf-8")
    budget = [] if command == "count" else ["--max-tokens", "5"]

    with pytest.raises(SystemExit) as stopped:
        main([command, *budget, "--file", str(path), "--max-file-bytes", value])

    err = capsys.readouterr().err
    assert stopped.value.code == 2
    assert message in err and "max_files" not in err


# ---- count --chat ----


def write_chat(tmp_path: Path, request: Any) -> str:
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "chat.json"
    path.write_text(json.dumps(request), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["hello"], "TEXT does not go with --chat"),
        (["--file", "a.txt"], "--file does not go with --chat"),
        (["--limit", "5"], "--limit applies to text, not --chat"),
        (["--allow-special"], "--allow-special does not apply to --chat"),
        (["--no-gitignore"], "--no-gitignore applies to --file folders, not --chat"),
    ],
)
def test_options_that_do_not_apply_to_a_chat_are_refused_by_name(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, extra: list[str], message: str
) -> None:
    chat = write_chat(tmp_path, [{"role": "user", "content": "Hi"}])

    status, out, err = run(capsys, "count", "--chat", chat, *extra)

    assert status == 2 and out == ""
    assert message in err


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"mesages": []}, "a chat request needs a 'messages' list, and its keys are 'mesages'"),
        ({}, "a chat request needs a 'messages' list, and it is an empty object"),
        ({"messages": 5}, "'messages' must be a list, not a number"),
        ({"messages": [], "tools": {"name": "f"}}, "'tools' must be a list, not an object"),
        ("hello", "a chat request is a list of messages or an object with a 'messages' list, "
                  "not a string"),
        ([{"role": "user"}], "messages[0] has no 'content'"),
        ([{"content": "Hi"}], "messages[0] has no 'role'"),
    ],
)
def test_a_malformed_chat_file_is_named_with_its_fault(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, request_: Any, message: str
) -> None:
    chat = write_chat(tmp_path, request_)

    status, out, err = run(capsys, "count", "--chat", chat)

    assert status == 2 and out == ""
    assert f"shoal count: error: {chat}: {message}" in err


def test_an_unknown_model_for_a_chat_is_not_blamed_on_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    chat = write_chat(tmp_path, [{"role": "user", "content": "Hi"}])

    status, _, err = run(capsys, "count", "--chat", chat, "--model", "no-such-model")

    assert status == 2
    assert err.startswith("shoal count: error: unknown model 'no-such-model'")


def test_a_chat_is_read_from_stdin_for_a_dash(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    request = [{"role": "user", "content": "Hello there"}]
    use_stdin(monkeypatch, json.dumps(request))

    from_stdin = run(capsys, "count", "--chat", "-", "--json")
    from_file = run(capsys, "count", "--chat", write_chat(tmp_path, request), "--json")

    assert from_stdin[0] == 0
    assert json.loads(from_stdin[1]) == json.loads(from_file[1])


def test_a_chat_file_is_read_under_the_file_rules() -> None:
    result = run_guarded("count", "--chat", "/dev/zero")

    assert result.returncode == 2
    assert "/dev/zero is under /dev, which shoal never reads" in result.stderr


def test_split_refuses_too_many_chunks_and_names_the_option(tmp_path: Path) -> None:
    # 2,000,001 tokens: at --max-tokens 1, two million chunks, more than the memory cap holds,
    # so a split that cut them all fails here. That the refusal comes before any chunk is cut is
    # checked in test_token_budget.py.
    text = tmp_path / "words.txt"
    text.write_text("word " * 2_000_000, encoding="utf-8")

    result = run_guarded("split", "--max-tokens", "1", "--file", str(text), "--json")

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "shoal split: error: --max-tokens=1 would split the text's 2,000,001 tokens into more "
        "than 100,000 chunks, the most one split makes; raise --max-tokens to at least 21, or "
        "split a part of the text\n"
    )


# ---- count --file: a named file that cannot be counted is an error ----


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("binary.dat", "binary (NUL byte in the first 8 KiB)"),
        ("latin1.txt", "not UTF-8 text (byte 0xE9 at offset 3)"),
        ("pipe", "not a regular file"),
        ("large.txt", "too large: 2,000 bytes, over the 1,000-byte limit (raise --max-file-bytes, "
                      "or count a part with truncate or split)"),
        ("loop", "cannot open: Too many levels of symbolic links"),
    ],
)
def test_a_named_file_that_cannot_be_counted_is_an_error_with_the_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, reason: str
) -> None:
    folder = unreadable_files(tmp_path)
    path = folder / name

    status, out, err = run(capsys, "count", "--file", str(path), "--file", str(folder / "ok.txt"),
                           "--max-file-bytes", "1000")

    assert (status, out) == (2, "")
    assert err == f"shoal count: error: --file {path} cannot be counted: {reason}\n"


def test_many_missing_files_make_an_error_of_one_short_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = [str(tmp_path / f"gone{index}.txt") for index in range(300)]

    status, out, err = run(capsys, "count", *(f"--file={path}" for path in missing))
    _, _, too_long = run(capsys, "count", "--file", str(tmp_path / ("a" * 300)))

    assert (status, out) == (2, "")
    assert err == (f"shoal count: error: 300 paths do not exist: {', '.join(missing[:5])} and "
                   "295 more\n")
    assert too_long.startswith("shoal count: error: cannot read '/")
    assert too_long.endswith("aaaa': File name too long\n") and len(too_long) < 200


def test_a_folder_walk_still_skips_what_it_cannot_count(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = unreadable_files(tmp_path)

    status, out, _ = run(capsys, "count", "--file", str(folder), "--max-file-bytes", "1000",
                         "--json")

    assert status == 0
    result = json.loads(out)
    assert [Path(item["path"]).name for item in result["files"]] == ["ok.txt"]
    assert [Path(item["path"]).name for item in result["skipped"]] == [
        "binary.dat", "large.txt", "latin1.txt", "loop", "pipe"
    ]


def test_a_link_out_of_the_folder_counted_is_skipped_in_words_that_fit_the_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # `shoal count` has no roots: a folder's link that leads out is left out as leaving the
    # folder named, and naming the link counts what it leads to.
    folder = tmp_path / "folder"
    folder.mkdir()
    (tmp_path / "outside.txt").write_text("hello", encoding="utf-8")
    (folder / "link").symlink_to(tmp_path / "outside.txt")

    walked = run(capsys, "count", "--file", str(folder))
    named = run(capsys, "count", "--file", str(folder / "link"))

    assert walked[0] == 0 and f"skipped  {folder}/link: symbolic link out of the folder counted " \
        "(name the link to count its target)" in walked[1]
    assert "roots" not in walked[1]
    assert named[0] == 0 and named[1].splitlines()[0].split() == ["1", f"{folder}/link"]


def unreadable_files(tmp_path: Path) -> Path:
    """A folder of one countable file and one of each kind a count skips."""
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "ok.txt").write_text("hello", encoding="utf-8")
    (folder / "binary.dat").write_bytes(b"a\0b")
    (folder / "latin1.txt").write_bytes(b"caf\xe9")
    (folder / "large.txt").write_text("word " * 400, encoding="utf-8")
    os.mkfifo(folder / "pipe")
    (folder / "loop").symlink_to("loop")
    return folder


# ---- standard input by its /dev name ----


@pytest.mark.parametrize(
    ("argv", "refusal"),
    [
        (("count", "--file", "/dev/stdin"),
         "--file /dev/stdin is standard input, which --file does not read; `shoal count -` "
         "counts standard input"),
        (("truncate", "--max-tokens", "1", "--file", "/dev/stdin"),
         "/dev/stdin is standard input, which shoal reads only when it is named '-'; give '-' "
         "instead"),
        (("split", "--max-tokens", "1", "--file", "/dev/fd/0"),
         "/dev/fd/0 is standard input, which shoal reads only when it is named '-'; give '-' "
         "instead"),
    ],
)
def test_standard_input_by_its_dev_name_is_refused_saying_to_give_a_dash(
    tmp_path: Path, argv: tuple[str, ...], refusal: str
) -> None:
    # Redirected from a file, /dev/stdin leads to that file: still nothing under /dev is read.
    notes = tmp_path / "notes.txt"
    notes.write_text("hello there", encoding="utf-8")
    with notes.open("rb") as stdin:
        result = subprocess.run([sys.executable, "-m", "shoal", *argv], stdin=stdin,
                                capture_output=True, text=True, timeout=HANG_GUARD_S)

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"shoal {argv[0]}: error: {refusal}\n"


# ---- wording ----


def test_a_files_total_of_one_byte_is_singular(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "one.txt").write_text("a", encoding="utf-8")

    status, out, _ = run(capsys, "count", "--file", str(tmp_path / "one.txt"))

    assert status == 0
    assert out.splitlines()[-1].split("total: ")[1].startswith("1 file, 1 byte (exact")


def test_split_counts_in_the_singular_and_plural(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "split", "--max-tokens", "100", "hi")

    assert status == 0
    assert out.splitlines() == [
        "chunk 1: characters 0-2, 1 token",
        "1 chunk, 1 token (exact, o200k_base)",
    ]


def test_split_refuses_an_out_dir_that_is_a_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    a_file = tmp_path / "a.txt"
    a_file.write_text("keep me", encoding="utf-8")

    status, _, err = run(capsys, "split", "--max-tokens", "5", "--out-dir", str(a_file), "hi")
    under, _, under_err = run(
        capsys, "split", "--max-tokens", "5", "--out-dir", str(a_file / "sub"), "hi"
    )

    assert status == 2 and f"--out-dir {a_file} is a file, not a folder" in err
    assert under == 2 and f"lies under {a_file}, a file" in under_err
    assert a_file.read_text(encoding="utf-8") == "keep me"


@pytest.mark.parametrize("command", [["count"], ["truncate", "--max-tokens", "5"],
                                     ["split", "--max-tokens", "5"]])
def test_text_that_is_not_utf8_on_the_command_line_is_named(command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "shoal", *command, "fine", b"caf\xe9"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=HANG_GUARD_S,
    )

    assert result.returncode == 2
    assert b"TEXT argument 2 is not UTF-8 text (byte 0xE9 at offset 3)" in result.stderr
    assert b"surrogate" not in result.stderr


def test_the_command_line_default_file_size_limit_is_the_library_default() -> None:
    from shoal import cli, files

    assert cli.DEFAULT_MAX_FILE_BYTES == files.DEFAULT_MAX_FILE_BYTES
    assert cli.MAX_FILE_BYTES_LIMIT == files.MAX_FILE_BYTES_LIMIT
    assert cli.DEFAULT_MAX_BATCH_FILE_BYTES == files.DEFAULT_MAX_DATA_FILE_BYTES


@pytest.mark.parametrize(
    ("command", "limits"),
    [
        (["count"], "(default: 16,777,216 (16 MiB); at most 1,073,741,824 (1 GiB))"),
        (["privacy"], "(default: 16,777,216 (16 MiB); 268,435,456 (256 MiB) for --evaluate; at "
                      "most 1,073,741,824 (1 GiB))"),
        (["fit"], "(default: 268,435,456 (256 MiB); at most 1,073,741,824 (1 GiB))"),
    ],
)
def test_the_file_size_limit_help_writes_its_figures_with_separators(
    capsys: pytest.CaptureFixture[str], command: list[str], limits: str
) -> None:
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    help_text = " ".join(capsys.readouterr().out.split())

    assert limits in help_text
    assert "16777216" not in help_text and "1073741824" not in help_text


# ---- estimates, refusals and help worded for what they are ----


def test_an_estimate_says_so_once_with_its_encoding_ratio_and_source(capsys) -> None:
    code, out, _ = run(capsys, "count", "--model", "claude-sonnet-4-5", "Hello world")
    first, ratio = out.splitlines()
    assert code == 0
    assert first == ("3 tokens for claude-sonnet-4-5 (estimate: o200k_base count x 1.30, "
                     "rounded up; 11 characters)")
    assert ratio.startswith("  ratio 1.30: no local Claude tokenizer exists; pr-agent uses")
    assert out.count("estimate") == 1


def test_a_measured_ratio_shows_its_measured_figures(capsys) -> None:
    _, out, _ = run(capsys, "count", "--model", "mistral-large-3", "Hello world")
    assert out.splitlines()[1] == (
        "  ratio 1.10: measured: Tekken (tekken_240718, mistral-common 1.12.0) per o200k "
        "token = 1.04 English prose, 1.05 Python, 1.14 JSON, 1.07 CJK"
    )


def test_an_estimate_in_json_names_an_encoding_that_count_takes_back(capsys) -> None:
    _, out, _ = run(capsys, "count", "--json", "--model", "claude-sonnet-4-5", "Hello world")
    estimate = json.loads(out)
    assert (estimate["encoding"], estimate["exact"], estimate["token_ratio"]) == (
        "o200k_base", False, 1.3)
    assert estimate["ratio_source"].startswith("estimate: no local Claude tokenizer")

    code, out, _ = run(capsys, "count", "--json", "--encoding", estimate["encoding"],
                       "Hello world")
    exact = json.loads(out)
    assert code == 0 and exact["token_ratio"] is None and exact["ratio_source"] is None
    assert estimate["tokens"] == -(-exact["tokens"] * 13 // 10)


def test_a_split_with_no_cut_names_the_token_that_spans_characters(capsys, monkeypatch) -> None:
    # Tekken encodes ' \xa0' as b' \xc2' + b'\xa0', though each character alone is 1 token.
    use_stdin(monkeypatch, " \xa0")
    code, _, err = run(capsys, "split", "--max-tokens", "1", "--encoding", "tekken_240718")
    assert code == 2
    assert ("no cut at or below 1 tekken_240718 token follows character 0: characters 0-1 (a "
            "token spans more than one of them, so no cut falls between them) take 2 "
            "tekken_240718 tokens in the text; raise --max-tokens to at least 2") in err
    assert "alone takes" not in err

    use_stdin(monkeypatch, " \xa0")
    code, out, _ = run(capsys, "split", "--max-tokens", "2", "--encoding", "tekken_240718")
    assert code == 0 and out.startswith("chunk 1: characters 0-2, 2 tokens")


def test_a_lone_surrogate_in_a_chat_file_names_the_message(capsys, tmp_path) -> None:
    chat = tmp_path / "chat.json"
    chat.write_text('[{"role": "user", "content": "abc\\ud800"}]', encoding="utf-8")
    code, _, err = run(capsys, "count", "--chat", str(chat))
    assert code == 2
    assert f"{chat}: messages[0]['content'] has an unpaired surrogate at index 3" in err
    assert "texts[" not in err


def test_a_lone_surrogate_in_a_budget_item_names_the_item(capsys, tmp_path) -> None:
    items = tmp_path / "items.json"
    items.write_text('[{"id": "a", "text": "ok"}, {"id": "b", "text": "x\\udc00"}]',
                     encoding="utf-8")
    code, _, err = run(capsys, "budget", "fit", str(items), "--model", "gpt-4o",
                       "--budget", "100")
    assert code == 2
    assert "item 'b': text has an unpaired surrogate at index 1" in err
    assert "texts[" not in err


def test_truncate_help_describes_the_cut_it_makes(capsys, monkeypatch) -> None:
    with pytest.raises(SystemExit):
        main(["truncate", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "longest" not in help_text
    assert "its first (or last) MAX_TOKENS tokens as the whole text encodes are kept" in (
        help_text)

    # What the help says: the text's own tokens, though two tabs alone are 1 token.
    use_stdin(monkeypatch, "\t\t1")
    code, out, _ = run(capsys, "truncate", "--max-tokens", "1", "--encoding", "cl100k_base")
    assert code == 0 and out == "\t"


def test_a_files_count_and_a_budget_plan_name_an_estimate_as_a_single_count_does(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Both said "estimate, estimate(o200k_base x 1.30)": the word twice and a label that
    # --encoding would not take back.
    from shoal import count_files, fit_budget

    (tmp_path / "a.txt").write_text("hello world", encoding="utf-8")
    files = count_files([tmp_path / "a.txt"], model="claude-sonnet-4-5")
    plan = fit_budget([{"id": "a", "text": "hello world"}], model="claude-sonnet-4-5",
                      budget_tokens=100)

    for answer in (files, plan):
        assert (answer.encoding, answer.token_ratio) == ("o200k_base", 1.3)
        assert answer.ratio_source and "Claude" in answer.ratio_source
    assert (count_files([tmp_path / "a.txt"]).token_ratio, files.exact) == (None, False)

    status, out, _ = run(capsys, "count", "--model", "claude-sonnet-4-5", "--file",
                         str(tmp_path / "a.txt"))
    assert status == 0 and "(estimate: o200k_base x 1.30)" in out and "estimate(" not in out
    assert "\n  ratio 1.30: " in out


WEATHER_SCHEMA = {"type": "object", "properties": {
    "city": {"type": "string", "description": "City name"},
    "unit": {"type": "string", "enum": ["c", "f"]}}}
WEATHER = {"name": "get_weather", "description": "Get the weather for a city."}


@pytest.mark.parametrize("tool", [
    {**WEATHER, "input_schema": WEATHER_SCHEMA},   # Anthropic
    {**WEATHER, "inputSchema": WEATHER_SCHEMA},    # MCP
])
def test_tools_in_anthropic_and_mcp_shape_count_their_schema(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tool: dict[str, Any]
) -> None:
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    openai = {"type": "function", "function": {**WEATHER, "parameters": WEATHER_SCHEMA}}
    counted = {}
    for name, definition in (("openai", openai), ("other", tool)):
        chat = write_chat(tmp_path, {"messages": messages, "tools": [definition]})
        status, out, err = run(capsys, "count", "--chat", chat, "--json")
        assert status == 0, err
        counted[name] = json.loads(out)

    assert counted["other"]["tool_tokens"] == counted["openai"]["tool_tokens"]
    assert counted["openai"]["exact"] and not counted["other"]["exact"]
    assert "input_schema or inputSchema" in counted["other"]["method"]


def test_a_tool_with_two_schemas_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    tool = {**WEATHER, "parameters": WEATHER_SCHEMA, "input_schema": WEATHER_SCHEMA}
    chat = write_chat(tmp_path, {"messages": [{"role": "user", "content": "Hi"}], "tools": [tool]})

    status, _, err = run(capsys, "count", "--chat", chat)

    assert status == 2
    assert "tools[0] gives its parameters twice (parameters and input_schema)" in err


def test_an_anthropic_system_field_is_counted_as_a_system_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    system = "You are a terse assistant who answers in French."
    user = {"role": "user", "content": "Hello there"}
    as_field = write_chat(tmp_path, {"model": "claude-sonnet-4-5", "max_tokens": 100,
                                     "system": system, "messages": [user]})
    field_count = json.loads(run(capsys, "count", "--chat", as_field, "--json")[1])
    as_message = write_chat(tmp_path / "other", [{"role": "system", "content": system}, user])
    message_count = json.loads(run(capsys, "count", "--chat", as_message, "--json")[1])

    assert field_count["tokens"] == message_count["tokens"] > 20
    assert field_count["messages"] == 2

    status, _, err = run(capsys, "budget", "trim", as_field, "--model", "gpt-4o",
                         "--budget", "100")
    assert status == 2
    assert "top-level 'system' (Anthropic's form), which trim would leave out" in err


def test_a_vendor_defined_tool_is_counted_by_name_and_not_called_exact(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    chat = write_chat(tmp_path, {"messages": [{"role": "user", "content": "hi"}],
                                 "tools": [{"type": "web_search_20250305", "name": "web_search"}]})

    status, out, err = run(capsys, "count", "--chat", chat, "--json")

    assert status == 0, err
    counted = json.loads(out)
    assert not counted["exact"] and counted["tool_tokens"] > 0
    assert "tools of a vendor-defined type counted by their name alone" in counted["method"]


# An ASCII-only locale with neither Python's UTF-8 mode nor its locale coercion: arguments and
# file names arrive with their non-ASCII bytes as lone surrogates, and stdout encodes ASCII.
ASCII_LOCALE = {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}


@pytest.mark.skipif(sys.platform == "win32", reason="the C locale is a POSIX one")
def test_an_ascii_only_locale_reads_and_writes_utf8(tmp_path: Path) -> None:
    (tmp_path / "café.txt").write_text("café au lait", encoding="utf-8")

    def shoal(*argv: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "shoal", *argv], capture_output=True,
                              cwd=tmp_path, env={**os.environ, **ASCII_LOCALE},
                              timeout=HANG_GUARD_S, check=False)

    counted = shoal("count", "café ☕")
    assert (counted.returncode, counted.stderr) == (0, b"")
    assert counted.stdout == b"4 tokens (exact, o200k_base; 6 characters)\n"

    kept = shoal("truncate", "--max-tokens", "2", "--file", "café.txt")
    assert (kept.returncode, kept.stdout) == (0, "café".encode())

    listed = shoal("count", "--file", "café.txt")
    assert listed.returncode == 0
    assert listed.stdout.splitlines()[0].split() == [b"4", "café.txt".encode()]

    # Bytes that are not UTF-8 are still refused by name.
    refused = shoal("count", os.fsdecode(b"caf\xe9"))
    assert refused.returncode == 2
    assert refused.stderr == b"shoal count: error: TEXT is not UTF-8 text (byte 0xE9 at offset 3)\n"
