"""The chat files of `shoal count --chat` and `shoal budget trim`: a key given twice, anywhere in
the request, is refused by where it is (a reader would keep the last value without a word), and a
file nested too deeply to read is refused by its name."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from shoal.cli import main

GIVE_ONCE = "give each field once (only the last would be read)"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# Each reader of a chat file, with the words it puts before the file's name in an error.
READERS = [
    pytest.param(["count", "--chat"], "shoal count: error: ", id="count"),
    pytest.param(["budget", "trim"], "shoal budget trim: error: messages file: ", id="trim"),
]
TRIM_OPTIONS = ["--model", "gpt-4o", "--budget", "1000"]


@pytest.mark.parametrize(("command", "lead"), READERS)
@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"messages": [{"role": "user", "content": "x"}], '
         '"messages": [{"role": "user", "content": "yyyy yyy yyy"}]}',
         "the request gives 'messages' more than once"),
        ('[{"role": "user", "role": "assistant", "content": "x"}]',
         "messages[0] gives 'role' more than once"),
        ('{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": '
         '[{"type": "text", "text": "short", "text": "a much longer text"}]}]}',
         "messages[1]['content'][0] gives 'text' more than once"),
        ('{"messages": [{"role": "user", "content": "a"}], "tools": [{"type": "function", '
         '"function": {"name": "f", "name": "g"}}]}',
         "tools[0]['function'] gives 'name' more than once"),
    ],
    ids=["request", "message", "part", "tool"],
)
def test_a_key_given_twice_in_a_chat_file_is_refused_by_where_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], lead: str,
    text: str, where: str,
) -> None:
    chat = tmp_path / "chat.json"
    chat.write_text(text, encoding="utf-8")
    options = TRIM_OPTIONS if command[0] == "budget" else []

    status, out, err = run(capsys, *command, str(chat), *options)

    assert (status, out) == (2, "")
    assert err == f"{lead}{chat}: {where}; {GIVE_ONCE}\n"


@pytest.mark.parametrize(("command", "lead"), READERS)
def test_a_chat_file_nested_too_deeply_is_refused_by_its_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], lead: str,
) -> None:
    chat = tmp_path / "deep.json"
    chat.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    options = TRIM_OPTIONS if command[0] == "budget" else []

    status, out, err = run(capsys, *command, str(chat), *options)

    assert (status, out) == (2, "")
    assert err == f"{lead}{chat}: JSON nested too deeply\n"


def test_budget_trim_says_why_it_kept_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chat = tmp_path / "toolturn.json"
    chat.write_text(
        '[{"role": "user", "content": "What is the weather in Paris?"},'
        ' {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",'
        '  "function": {"name": "weather", "arguments": "{\\"city\\":\\"Paris\\"}"}}]},'
        ' {"role": "tool", "tool_call_id": "c1", "content": "18 C, sunny"},'
        ' {"role": "assistant", "content": "It is 18 C and sunny in Paris."}]',
        encoding="utf-8",
    )
    _, counted, _ = run(capsys, "count", "--chat", str(chat))
    whole = int(counted.split()[0])

    status, out, err = run(capsys, "budget", "trim", str(chat), "--model", "gpt-4o", "--budget",
                           str(whole - 1))

    assert (status, err) == (0, "")
    assert out.startswith(f"kept 0 of 4 messages: 3 of {whole - 1} tokens for gpt-4o")
    assert ("  note: kept nothing: the latest 3 messages fit, but none is a user message, and the "
            "kept turns must start at one (as Anthropic's API requires); a budget of "
            f"{whole} tokens keeps the latest user message (message 0) and the 3 messages after "
            "it\n") in out


def test_trim_takes_max_file_bytes_as_count_chat_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chat = tmp_path / "chat.json"
    chat.write_text('[{"role": "user", "content": "Hello there."}]', encoding="utf-8")
    size = chat.stat().st_size

    for command, lead in (["count", "--chat"], "shoal count: error: "), (
            ["budget", "trim"], "shoal budget trim: error: messages file: "):
        options = TRIM_OPTIONS if command[0] == "budget" else []
        assert run(capsys, *command, str(chat), *options, "--max-file-bytes", "20")[::2] == (
            2, f"{lead}{chat} is {size:,} bytes, over the 20-byte limit; raise "
            "--max-file-bytes to read it\n")
        assert run(capsys, *command, str(chat), *options, "--max-file-bytes", str(size))[0] == 0


def test_trim_groups_its_message_counts_in_threes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chat = tmp_path / "chat.json"
    chat.write_text(json.dumps([{"role": "user", "content": "hi"}] * 1_200), encoding="utf-8")

    status, out, err = run(capsys, "budget", "trim", str(chat), *TRIM_OPTIONS)

    assert (status, err) == (0, "")
    assert re.match(r"kept \d+ of 1,200 messages: ", out), out
