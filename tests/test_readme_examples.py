"""The README's examples print what it shows, and what it says about commands holds.

Every console transcript of the README (a `$ command` line, then what it prints) runs from a
working folder that holds the repository files the commands read, through ``shoal.cli.main``,
and its stdout, then its stderr, must equal the README's lines (these commands write their
stderr lines after their output, so that is what a terminal shows); a transcript that leaves
lines out with a `...` line must show the rest in order. The cross-validations behind the
routing figures tables show no output of their own: each is replayed and must print the figures
of its table row. A transcript that cannot be replayed is named in `NOT_REPLAYED` with the
reason. The MCP examples (a tool call in backticks, then its
text, then optionally its structured content) are called through the SDK's in-memory client.
The README is parsed on every run, so an edit to either side that makes them disagree fails
here.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import re
import shlex
import shutil
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from mcp import Client
from mcp.types import TextContent

from shoal import cli, hardware_cli
from shoal._backend import BACKEND
from shoal._build import routing_data
from shoal.server import build_server

REPOSITORY = Path(__file__).resolve().parents[1]
README = REPOSITORY / "README.md"
EXAMPLES = Path("tests/data/examples")

# The transcripts that are not replayed, by a part of their command, and why.
NOT_REPLAYED = {
    "pip install": "installs packages",
    "bench/bench_": "a benchmark: its figures are one run on one machine",
    "shoal ledger status": "its figures run on the clock (the first call 3 s ago, a burn rate)",
    "shoal feedback export": "prints the time the outcome was recorded",
}
# Transcripts that fit routers on thousands of labelled prompts: seconds on the Rust core,
# minutes each on the pure-Python path, whose results equal the Rust core's (tests/
# test_router_eval.py, the parity tests).
REPLAYED_ON_THE_RUST_CORE_ONLY = ("shoal eval --train",)

# The cross-validations behind the routing figures tables: they show no output of their own, so
# each is replayed by test_each_cross_validation_gives_the_figures_its_table_row_shows against
# the table row of its data file and folds (a first cell and a second cell the row starts with).
CROSS_VALIDATION = "--folds"
FIGURES_ROWS = {
    ("llmrouter/train.json", "5"): ("LLMRouter train.json", "5-fold"),
    ("llmrouter/train.json", "task"): ("LLMRouter train.json", "by cluster"),
    ("arena_hard_v1/arena_hard.json", "5"): ("arena-bench-v1", "5-fold"),
    ("routellm/gsm8k.json", "5"): ("GSM8K", "5-fold"),
    ("routellm/mmlu_slice.json", "5"): ("MMLU slice", "5-fold"),
    ("routellm/mmlu_slice.json", "task"): ("MMLU slice", "by subject"),
}
# Seconds on the Rust core (the largest, 57 folds of 2,809 prompts, about two minutes) and ten
# times that on the pure-Python path, whose results equal the Rust core's: there only the
# arena-bench-v1 run (271 prompts, about 10 s) is replayed.
CROSS_VALIDATED_ON_BOTH_PATHS = ("arena_hard_v1/arena_hard.json",)


@dataclass(frozen=True)
class Example:
    """One `$ command` of a README block and the lines the README shows under it."""

    line: int
    command: str
    printed: str


def _blocks(text: str) -> Iterator[tuple[int, str]]:
    """Each fenced block's first line number (1-based) and body."""
    for match in re.finditer(r"^```[a-z]*\n(.*?)^```$", text, re.MULTILINE | re.DOTALL):
        yield text.count("\n", 0, match.start()) + 2, match.group(1)


def _examples(body: str, first_line: int) -> list[Example]:
    """The `$ ` commands of a block with what each prints; a command line ending in a
    backslash goes on on the next line, as in a shell."""
    examples: list[Example] = []
    for offset, line in enumerate(body.splitlines()):
        if line.startswith("$ "):
            examples.append(Example(first_line + offset, line[2:], ""))
        elif examples and examples[-1].command.endswith("\\") and not examples[-1].printed:
            last = examples[-1]
            examples[-1] = Example(last.line, f"{last.command[:-1].rstrip()} {line.strip()}", "")
        elif examples:
            last = examples[-1]
            examples[-1] = Example(last.line, last.command, last.printed + line + "\n")
    return examples


def every_transcript() -> list[Example]:
    """Every console transcript of the README, in README order; the blank lines that part one
    from the next belong to neither."""
    return [replace(example, printed=example.printed.rstrip("\n") + "\n" if example.printed
                    else "")
            for first_line, body in _blocks(README.read_text(encoding="utf-8"))
            for example in _examples(body, first_line)]


def readme_examples() -> list[Example]:
    """The transcripts replayed against the lines under them, in README order."""
    return [example for example in every_transcript()
            if not any(part in example.command for part in (*NOT_REPLAYED, CROSS_VALIDATION))]


def cross_validations() -> list[Example]:
    """The `shoal eval --data ... --folds` commands whose figures the README's tables show."""
    return [example for example in every_transcript() if CROSS_VALIDATION in example.command]


@pytest.fixture
def example_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder laid out as the repository root, so the README's relative paths resolve
    and the files the examples write (router.json, a ledger, SVGs) land in it."""
    shutil.copytree(REPOSITORY / EXAMPLES, tmp_path / EXAMPLES)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHOAL_LEDGER", str(tmp_path / "default-ledger.sqlite3"))
    monkeypatch.setenv("SHOAL_FEEDBACK_DB", str(tmp_path / "feedback.sqlite3"))
    monkeypatch.delenv("SHOAL_PRICES", raising=False)
    return tmp_path


def _copy_files_read(examples: list[Example], folder: Path) -> None:
    """Copy into ``folder`` each repository file or folder the commands name by a relative path
    (tests/data/corpus, python/shoal/data/mt_bench_questions.jsonl)."""
    named = {word for example in examples for words in _commands(example.command)
             for word in words if "/" in word and not word.startswith(("/", "-"))}
    for word in sorted(named):
        source, copy = REPOSITORY / word, folder / word
        if source.is_dir():
            shutil.copytree(source, copy, dirs_exist_ok=True)
        elif source.is_file() and not copy.exists():
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, copy)


def _load_script(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _commands(line: str) -> list[list[str]]:
    """The words of each command of a shell line (commands joined by ';', comments dropped)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";")
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for word in lexer:
        if word == ";":
            commands.append([])
        else:
            commands[-1].append(word)
    return [words for words in commands if words]


def _piped_input(words: list[str]) -> tuple[bytes | None, list[str]]:
    """What a command reads on standard input (``head -c N FILE |`` or ``echo TEXT |`` before
    it), and the command's own words."""
    if "|" not in words:
        return None, words
    bar = words.index("|")
    source, command = words[:bar], words[bar + 1:]
    if source[:2] == ["head", "-c"]:
        return Path(source[3]).read_bytes()[:int(source[2])], command
    if source[0] == "echo":
        return (" ".join(source[1:]) + "\n").encode(), command
    raise AssertionError(f"no way to run {' '.join(source)} before a pipe")


def _run(example: Example, capsys: pytest.CaptureFixture[str],
         monkeypatch: pytest.MonkeyPatch) -> str:
    printed = ""
    code = 0
    for words in _commands(example.command):
        stdin, words = _piped_input(words)
        if stdin is not None:
            monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        if words == ["echo", "exit status $?"]:
            printed += f"exit status {code}\n"
            continue
        if words[0] == "shoal":
            code = cli.main(words[1:])
        elif words[0] == "python" and words[1].startswith(str(EXAMPLES)):
            code = _load_script(Path(words[1])).main(words[2:])
        else:
            raise AssertionError(f"README.md:{example.line}: no way to run {example.command!r}")
        captured = capsys.readouterr()
        # A command fails only where the transcript shows it: its error, or its exit status.
        shown = ": error: " in captured.err or "exit status $?" in example.command
        assert code == 0 or shown, f"README.md:{example.line}: {example.command}\n{captured.err}"
        printed += captured.out + captured.err
    return printed


def _shows(printed: str, shown: str) -> bool:
    """Whether ``printed`` is what the README shows: every line, or, where a `...` line leaves
    some out, the lines shown in their order."""
    if not any(line.strip() == "..." for line in shown.splitlines()):
        return printed == shown
    lines = iter(printed.splitlines())
    return all(any(line == wanted for line in lines)
               for wanted in shown.splitlines() if wanted.strip() != "...")


def test_the_readme_examples_print_what_the_readme_shows(
    example_folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    examples = readme_examples()
    commands = " ".join(example.command for example in examples)
    # The examples this file exists for; one missing means the README lost it or the parser did.
    for needed in ("count --chat", "budget fit", "budget trim", "--plan", "example_ledger.py",
                   "shoal report", "shoal fit", "--router router.json", "hw port", "hw sweep",
                   "--device apple-m4-pro", "--privacy block", "--previous-model",
                   "| shoal privacy --redact -", "shoal eval --train"):
        assert needed in commands, needed
    _copy_files_read(examples, example_folder)

    for example in examples:
        if example.command.startswith(REPLAYED_ON_THE_RUST_CORE_ONLY) and BACKEND != "rust":
            continue
        printed = _run(example, capsys, monkeypatch)
        assert _shows(printed, example.printed), f"README.md:{example.line}: {example.command}"


def test_the_first_command_prints_the_batch_table_the_readme_shows(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The output of the first of "The two commands", shown without its `$` line.
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## The two commands"):text.index("## Add shoal to your host")]
    (table,) = [body for _, body in _blocks(section) if body.startswith(" line  model")]
    monkeypatch.chdir(REPOSITORY)

    assert cli.main(["route", "--file", "python/shoal/data/mt_bench_questions.jsonl"]) == 0
    assert _shows(capsys.readouterr().out, table)
    assert "   ...\n" in table and len(table.splitlines()) < 80


def _figures_tables() -> dict[tuple[str, str], list[str]]:
    """The rows of the routing figures tables, by their first two cells."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Routing: method and figures"):text.index("## Privacy guard")]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) > 2 and re.fullmatch(r"\d\.\d{3}", cells[2]):
            rows[cells[0], cells[1]] = cells[2:]
    return rows


def _table_row(words: list[str]) -> list[str]:
    """The figures of the table row that the cross-validation ``words`` stand behind."""
    data = words[words.index("--data") + 1].removeprefix("tests/data/")
    first, second = FIGURES_ROWS[data, words[words.index("--folds") + 1]]
    (row,) = [cells for (data_cell, split), cells in _figures_tables().items()
              if data_cell.startswith(first) and split.startswith(second)]
    return row


def _printed_figures(printed: str, pair: bool) -> list[str]:
    """What a table row shows of ``eval``'s output: AIQ of the router, of the hull of single
    models and of the oracle, and the router at <= 50 % of the best single's cost (the best
    single's quality); for a two-model pair, APGR, CPT(50 %), CPT(80 %) and random APGR."""
    lines = printed.splitlines()

    def figure(label: str, column: int = 1) -> float:
        (line,) = [line for line in lines if line.startswith(label)]
        return float(line[len(label):].split()[column - 1].rstrip("%"))

    if pair:
        lines = lines[next(i for i, line in enumerate(lines) if line.startswith("two-model")):]
        return [f"{figure('router ', 1):.3f}", f"{figure('router ', 2):.1f} %",
                f"{figure('router ', 3):.1f} %", f"{figure('random ', 1):.3f}"]
    within = figure("router, cost <= 50% of best single")
    best = float(next(line for line in lines if "(best single" in line).split()[-2])
    return [f"{figure('  router '):.3f}", f"{figure('  singles_hull '):.3f}",
            f"{figure('  oracle '):.3f}", f"{within:.3f} ({best:.3f})"]


@pytest.mark.parametrize("example", cross_validations(), ids=lambda example: example.command)
def test_each_cross_validation_gives_the_figures_its_table_row_shows(
    example: Example, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The arena-bench-v1 command was refused for its price file's "source" fields unseen, as
    # these commands were not replayed.
    (words,) = _commands(example.command)
    if BACKEND != "rust" and not any(data in example.command
                                     for data in CROSS_VALIDATED_ON_BOTH_PATHS):
        pytest.skip("minutes on the pure-Python path; its results equal the Rust core's")
    monkeypatch.chdir(REPOSITORY)
    monkeypatch.delenv("SHOAL_PRICES", raising=False)

    code = cli.main(words[1:])

    captured = capsys.readouterr()
    assert code == 0, f"README.md:{example.line}: {example.command}\n{captured.err}"
    row = _table_row(words)
    assert _printed_figures(captured.out, pair="two-model" in captured.out) == row


def test_every_figures_table_row_has_its_command_in_the_readme() -> None:
    shown = {(cells[0], cells[1]) for cells in _figures_tables()}
    behind = {(data, split) for data, split in shown
              if any(data.startswith(first) and split.startswith(second)
                     for first, second in FIGURES_ROWS.values())}
    commands = [_commands(example.command)[0] for example in cross_validations()]

    # LLMRouter test.json's row is the `--train`/`--test` transcript's, replayed above.
    assert shown - behind == {("LLMRouter test.json", "train → test")}
    assert len(commands) == len(FIGURES_ROWS) == len(behind)
    assert all(_table_row(words) for words in commands)


def test_every_transcript_is_replayed_or_named_with_the_reason_it_is_not() -> None:
    transcripts = every_transcript()
    for part in NOT_REPLAYED:
        assert any(part in example.command for example in transcripts), part
    # Those left out are all there is: every other transcript is a shoal command or a script
    # of the examples folder, which the tests above run.
    for example in [*readme_examples(), *cross_validations()]:
        for words in _commands(example.command):
            _, words = _piped_input(words)
            assert words[0] == "shoal" or words == ["echo", "exit status $?"] or (
                words[0] == "python" and words[1].startswith(str(EXAMPLES))), example.command


@pytest.mark.parametrize("ledger", ["missing-folder/ledger.sqlite3", "."])
def test_the_example_ledger_script_shows_a_ledger_error_in_one_line(
    example_folder: Path, capsys: pytest.CaptureFixture[str], ledger: str
) -> None:
    script = _load_script(EXAMPLES / "example_ledger.py")

    code = script.main([ledger])

    error = capsys.readouterr().err
    assert code == 2
    assert error.startswith(f"example_ledger.py: error: cannot open the ledger {ledger}: ")
    assert error.count("\n") == 1 and "Traceback" not in error


def test_every_example_file_is_used_by_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    for path in sorted((REPOSITORY / EXAMPLES).iterdir()):
        assert f"{EXAMPLES}/{path.name}" in text, path.name


def test_the_data_table_names_every_shipped_data_file() -> None:
    text = README.read_text(encoding="utf-8")
    table = text[text.index("## Data and its sources"):text.index("## Development")]
    named = set(re.findall(r"^\| `([^`]+)` \|", table, re.MULTILINE))
    data = REPOSITORY / "python/shoal/data"
    shipped = {str(path.relative_to(data)) for path in data.rglob("*")
               if path.is_file() and path.parent.name != "licenses" and path.name != "NOTICE.md"}

    def listed(name: str) -> bool:
        return any(Path(name).match(pattern) for pattern in named)

    assert sorted(name for name in shipped if not listed(name)) == []


def test_the_readme_counts_the_measured_runs_as_shipped() -> None:
    from shoal import hardware

    rows = hardware.measured_rows()
    used = sum(row.get("include", True) for row in rows)
    text = " ".join(README.read_text(encoding="utf-8").split())

    assert f"{len(rows)} rows, of which {used} are used and {len(rows) - used} are kept" in text
    assert f"{len(rows)} rows, {used} used and {len(rows) - used} excluded" in text
    assert len(hardware.validate().rows) == used


# ---- MCP examples -------------------------------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def mcp_examples() -> list[tuple[str, dict[str, Any], str, Any]]:
    """Each README line `` `tool {arguments}` ``, the first block after it (the tool's text) and,
    when a ```json block follows at once, the structured content it shows (else None)."""
    text = README.read_text(encoding="utf-8")
    pattern = (r"^`([a-z_]+) (\{[^\n]*\})`\n\n```\n(.*?)```$"
               r"(?:\n```json\n(.*?)```$)?")
    return [(name, json.loads(arguments), printed, json.loads(shown) if shown else None)
            for name, arguments, printed, shown
            in re.findall(pattern, text, re.MULTILINE | re.DOTALL)]


@pytest.mark.anyio
async def test_the_readme_mcp_examples_answer_what_the_readme_shows(
    example_folder: Path,
) -> None:
    examples = mcp_examples()
    assert "check_hardware_fit" in [name for name, _, _, _ in examples]
    assert any(structured is not None for _, _, _, structured in examples)

    async with Client(build_server()) as client:
        for name, arguments, printed, structured in examples:
            answer = await client.call_tool(name, arguments)
            text = answer.content[0]
            assert isinstance(text, TextContent)
            assert not answer.is_error, text.text
            assert text.text + "\n" == printed, name
            if structured is not None:
                assert answer.structured_content == structured, name


@pytest.mark.anyio
async def test_route_task_alternatives_are_as_the_readme_describes(example_folder: Path) -> None:
    async with Client(build_server()) as client:
        answer = await client.call_tool(
            "route_task", {"prompt": "Prove that there are infinitely many primes.",
                           "local_only": True, "max_alternatives": 2},
        )

    alternatives = answer.structured_content["alternatives"]
    assert alternatives[0]["model"] == answer.structured_content["model"]
    assert len(alternatives) == 3
    described = " ".join(README.read_text(encoding="utf-8").split())
    assert "`alternatives`: the chosen model first, then up to `max_alternatives`" in described


# ---- what the README says about commands --------------------------------------------------------


def _leaves(
    parser: argparse.ArgumentParser, prefix: str = ""
) -> dict[str, argparse.ArgumentParser]:
    """Every runnable command under ``parser``, by its words (``budget fit``)."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found.update(_leaves(child, f"{prefix}{name} "))
    return found or {prefix.strip(): parser}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def test_the_readme_names_exactly_the_commands_that_take_prices() -> None:
    text = " ".join(README.read_text(encoding="utf-8").split())
    sentence = re.search(r"applies your own price file to the commands that price or look up "
                         r"catalog models: (.*?);", text)
    assert sentence is not None
    named = re.findall(r"`([a-z ]+)`", sentence.group(1))
    commands = {name: parser for name, parser in _leaves(cli.build_parser()).items()
                if name != "hw"}

    def covered(command: str) -> bool:
        return any(command == name or command.startswith(name + " ") for name in named)

    for command, parser in commands.items():
        assert ("--prices" in _options(parser)) == covered(command), command
    for command, parser in _leaves(hardware_cli.build_parser()).items():
        assert "--prices" not in _options(parser), f"hw {command}"
    assert "`shoal hw` takes no price file" in text and "`SHOAL_DEVICES`" in text


def test_shoal_hw_reads_devices_from_shoal_devices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The README sends `shoal hw` users to SHOAL_DEVICES, as it has no --devices FILE option.
    shipped = json.loads((REPOSITORY / "python/shoal/data/devices.json").read_text("utf-8"))
    device = {**next(d for d in shipped["devices"] if d["id"] == "rtx-4090"), "id": "my-box"}
    (tmp_path / "devices.json").write_text(json.dumps({"devices": [device]}), "utf-8")
    monkeypatch.setenv("SHOAL_DEVICES", str(tmp_path / "devices.json"))
    from shoal import hardware

    hardware.reset_tables()
    try:
        code = cli.main(["hw", "fit", "llama-3.1-8b-instruct", "my-box"])
    finally:
        monkeypatch.delenv("SHOAL_DEVICES")
        hardware.reset_tables()

    assert code == 0
    assert capsys.readouterr().out.startswith("llama-3.1-8b-instruct Q4_K_M on my-box: fits")


def _help(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    with pytest.raises(SystemExit):
        cli.main([*words, "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_the_models_help_names_only_the_table_columns_and_json_the_rest(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["models"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    summary = re.search(r"models (list the model catalog: .*?) hw ", _help(capsys))
    description = _help(capsys, "models")

    assert summary is not None and "tokenizer" not in header
    for text in (summary.group(1), description):
        # The tokenizer shows only under --json: the help may name it only after that.
        assert "tokenizer" in text
        assert text.index("--json") < text.index("tokenizer"), text


@pytest.mark.parametrize("command", ["port", "sweep"])
def test_hw_models_help_says_spaces_and_commas_both_work(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _help(capsys, "hw", command)
    models = re.search(r"--models MODEL \[MODEL \.\.\.\] (.*?) --", text)
    assert models is not None and "space- or comma-separated" in models.group(1)

    arguments = {"port": ["iphone-16-pro", "--to", "nanostack-claimed", "--sram-mb", "400"],
                 "sweep": ["--devices", "rtx-4090"]}[command]
    models_given = ["gemma-3-1b-it", "llama-3.2-1b-instruct"]
    assert cli.main(["hw", command, *arguments, "--models", *models_given]) == 0
    spaced = capsys.readouterr().out
    assert cli.main(["hw", command, *arguments, "--models", ",".join(models_given)]) == 0
    assert capsys.readouterr().out == spaced
    if command == "port":
        assert all(model in spaced for model in models_given)
    else:
        assert spaced.startswith("2 configurations")


def test_every_shoal_serve_command_line_of_the_host_section_passes_a_root() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Add shoal to your host")
    section = text[start:text.index("\n## ", start + 1)]
    lines = [line for _, body in _blocks(section) for line in body.splitlines()
             if re.search(r"/shoal serve\b", line)]

    assert any("inspector" in line for line in lines)
    for line in lines:
        assert "--root /absolute/path/to/your/project" in line, line


# ---- python -m shoal._build.routing_data --------------------------------------------------------


@pytest.mark.parametrize(("kind", "first_file"), [("routellm", "gsm8k_correct.csv"),
                                                  ("arena-hard", "questions.jsonl")])
def test_routing_data_names_a_missing_source_file_and_where_it_comes_from(
    kind: str, first_file: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = routing_data.main([kind, str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")])

    error = capsys.readouterr().err
    assert code == 2 and len(error.splitlines()) == 1
    assert error.startswith("python -m shoal._build.routing_data: error: cannot read "
                            f"{tmp_path / 'nowhere' / first_file} (No such file or directory)")
    assert ("lm-sys/RouteLLM" if kind == "routellm" else "lmarena/arena-hard-auto") in error
    assert not (tmp_path / "out").exists()


def test_routing_data_refuses_a_folder_in_place_of_a_source_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "questions.jsonl").mkdir()

    code = routing_data.main(["arena-hard", str(tmp_path), "--out", str(tmp_path / "out")])

    assert code == 2 and "questions.jsonl (Is a directory)" in capsys.readouterr().err


ROUTELLM_HEADER = "prompt,gpt-4-1106-preview,mistralai/Mixtral-8x7B-Instruct-v0.1"


@pytest.mark.parametrize(
    ("kind", "files", "message"),
    [
        ("routellm", {"gsm8k_correct.csv": b"garbage\n\xff\xfe\n"},
         "gsm8k_correct.csv: not UTF-8 text"),
        ("routellm", {"gsm8k_correct.csv": b"a,b\n1,2\n"},
         "gsm8k_correct.csv: the header lacks the column(s) prompt, gpt-4-1106-preview, "
         "mistralai/Mixtral-8x7B-Instruct-v0.1 (it reads [\"a\", \"b\"])"),
        ("routellm", {"mmlu_correct.csv": f"{ROUTELLM_HEADER}\n".encode()},
         "mmlu_correct.csv: a header and no rows"),
        ("routellm", {"mmlu_correct.csv": f"{ROUTELLM_HEADER}\nQ,True,yes\n".encode()},
         "mmlu_correct.csv: row 1: column mistralai/Mixtral-8x7B-Instruct-v0.1 must be True or "
         "False, got 'yes'"),
        ("routellm", {"mmlu_correct.csv": f"{ROUTELLM_HEADER}\nQ,True\n".encode()},
         "column mistralai/Mixtral-8x7B-Instruct-v0.1 must be True or False, but the row ends "
         "before it"),
        ("arena-hard", {"questions.jsonl": b'{"x": 1}\n'},
         "questions.jsonl:1: expected an object with question_id (a string) and turns"),
        ("arena-hard", {"questions.jsonl": b'{"question_id": "q1", "turns": ["Hi"]}\n{\n'},
         "questions.jsonl:2: not valid JSON (Expecting property name enclosed in double quotes)"),
        ("arena-hard", {"questions.jsonl": b"\xff\n"}, "questions.jsonl: not UTF-8 text"),
        ("arena-hard", {"scores.csv": b"a,b\n"},
         "scores.csv: the header lacks the column(s) question_id, model, score"),
        ("arena-hard", {"scores.csv": b"question_id,model,score\nq1,m,eleven\n"},
         "scores.csv: row 1: score must be a number from 1 to 10 or blank, got 'eleven'"),
        ("arena-hard", {"scores.csv": b"question_id,model,score\nq1,m,nan\n"},
         "scores.csv: row 1: score must be a number from 1 to 10 or blank, got 'nan'"),
    ],
)
def test_routing_data_names_a_malformed_source_file_and_what_is_wrong(
    kind: str, files: dict[str, bytes], message: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good = {
        "gsm8k_correct.csv": f"{ROUTELLM_HEADER}\nAdd 2 and 3.,True,False\n".encode(),
        "mmlu_correct.csv": f"{ROUTELLM_HEADER},subject\nName a prime.,True,True,maths\n".encode(),
        "questions.jsonl": b'{"question_id": "q1", "turns": ["Hi"]}\n',
        "scores.csv": b"question_id,model,score\nq1,m,7\n",
    }
    for name, content in {**good, **files}.items():
        (tmp_path / name).write_bytes(content)

    code = routing_data.main([kind, str(tmp_path), "--out", str(tmp_path / "out")])

    error = capsys.readouterr().err
    assert code == 2 and len(error.splitlines()) == 1
    assert error.startswith(f"python -m shoal._build.routing_data: error: {tmp_path}/")
    assert message in error
    assert not (tmp_path / "out").exists()


def test_routing_data_still_converts_a_complete_source(tmp_path: Path) -> None:
    header = "prompt,gpt-4-1106-preview,mistralai/Mixtral-8x7B-Instruct-v0.1"
    (tmp_path / "gsm8k_correct.csv").write_text(f"{header}\nAdd 2 and 3.,True,False\n", "utf-8")
    (tmp_path / "mmlu_correct.csv").write_text(
        f"{header},subject\nName a prime.,True,True,maths\n", "utf-8"
    )

    assert routing_data.main(["routellm", str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    rows = json.loads((tmp_path / "out" / "gsm8k.json").read_text("utf-8"))
    assert rows == [{"question": "Add 2 and 3.", "task": "gsm8k",
                     "scores": {"gpt-4-1106-preview": 1.0, "mixtral-8x7b-instruct-v0.1": 0.0}}]


def test_routing_data_converts_an_arena_hard_source_dropping_unjudged_prompts(
    tmp_path: Path,
) -> None:
    (tmp_path / "questions.jsonl").write_text(
        '{"question_id": "q1", "turns": ["Prove it."]}\n'
        '{"question_id": "q2", "turns": ["Sum it."]}\n', "utf-8")
    (tmp_path / "scores.csv").write_text(
        "question_id,model,score\nq1,a,10\nq1,b,1\nq2,a,4\nq2,b,\n", "utf-8")

    assert routing_data.main(["arena-hard", str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    rows = json.loads((tmp_path / "out" / "arena_hard.json").read_text("utf-8"))
    assert rows == [{"question": "Prove it.", "task": "arena-bench-v1",
                     "scores": {"a": 1.0, "b": 0.0}}]


# ---- bench/bench_server.py --port ---------------------------------------------------------------


@pytest.fixture
def bench_server() -> ModuleType:
    sys.path.insert(0, str(REPOSITORY / "tests"))
    try:
        return _load_script(REPOSITORY / "bench" / "bench_server.py")
    finally:
        sys.path.remove(str(REPOSITORY / "tests"))


def test_bench_server_serves_the_http_rows_on_the_port_given(
    bench_server: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ports: list[int | None] = []

    def measure(transport: str, clients: int, port: int | None = None) -> Any:
        ports.append(port)
        return bench_server.LoadReport()

    monkeypatch.setattr(bench_server, "measure", measure)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]

    bench_server.main(["--port", str(free)])
    bench_server.main([])

    assert ports == [free] * 4 + [None] * 4
    assert "--port" in README.read_text(encoding="utf-8").split("bench/bench_server.py")[1]


@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_bench_server_refuses_a_port_out_of_range(
    bench_server: ModuleType, port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        bench_server.main(["--port", port])

    assert stopped.value.code == 2 and "argument --port: a port is" in capsys.readouterr().err


def test_bench_server_refuses_a_port_in_use(
    bench_server: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(SystemExit) as stopped:
            bench_server.main(["--port", str(port)])

    assert stopped.value.code == 2
    assert f"127.0.0.1:{port} is in use" in capsys.readouterr().err


# ---- bench/bench_tokens.py tables and the speed figures the README states -----------------------


@pytest.fixture
def bench_tokens() -> ModuleType:
    pytest.importorskip("tiktoken")
    return _load_script(REPOSITORY / "bench" / "bench_tokens.py")


def _per_call_result(engine: str, ns_per_call: int) -> dict[str, Any]:
    return {"name": f"test_per_call[{engine}]", "group": "per-call o200k_base 20 characters",
            "params": {"engine": engine}, "extra_info": {"ns_per_call": ns_per_call}}


def test_bench_tables_of_a_partial_run_hold_only_the_groups_it_ran(
    bench_tokens: ModuleType,
) -> None:
    results = {"benchmarks": [_per_call_result("shoal count", 255),
                              _per_call_result("tiktoken encode_ordinary", 1209)]}

    tables = bench_tokens._tables(results)

    assert tables.splitlines() == [
        "| group | engine | figure |",
        "|---|---|---|",
        "| per-call o200k_base 20 characters | shoal count | 255 ns |",
        "| per-call o200k_base 20 characters | tiktoken encode_ordinary | 1,209 ns |",
    ]
    assert bench_tokens._tables({"benchmarks": []}) == ""


def _section(text: str, title: str) -> str:
    start = text.index(title)
    return " ".join(text[start:text.index("\n## ", start + 1)].split())


def test_the_readme_states_the_merge_thresholds_and_caches_of_the_rust_core() -> None:
    rust = (REPOSITORY / "rust" / "tokens.rs").read_text(encoding="utf-8")
    pure = (REPOSITORY / "python" / "shoal" / "_pure" / "tokens.py").read_text(encoding="utf-8")
    text = README.read_text(encoding="utf-8")
    how, speed = _section(text, "## How it works"), _section(text, "## Token counting speed")

    assert "const LARGE_PIECE: usize = 64;" in rust
    assert "const BACKTRACK_MIN_BYTES: usize = 4096;" in rust
    assert "const CACHE_LONG_BYTES: usize = 4 << 20;" in rust
    assert "\nLARGE_PIECE = 16\n" in pure
    assert ("a scan in fixed arrays for pieces under 64 bytes, a heap up to 4 KiB and, from 4 KiB, "
            "a linear-time merge") in how
    assert "the pure-Python path merges by scan under 16 bytes and by heap above" in how
    assert ("a scan merge in fixed arrays below 64 bytes; the heap merge up to 4 KiB" in speed
            and "from 4 KiB a linear-time merge" in speed)
    assert "4 MiB of long ones" in speed


def test_the_readme_tiktoken_worst_case_range_is_its_table_s() -> None:
    speed = README.read_text(encoding="utf-8").split("## Token counting speed", 1)[1]
    one_character = ("letter a", "space", "tab", "nbsp", "dash")
    figures = [float(cells[3]) for line in speed.splitlines()
               if (cells := [cell.strip() for cell in line.split("|")[1:-1]])
               and cells[0].endswith(one_character) and cells[3] != "-"]

    assert len(figures) == 8
    stated = f"tiktoken takes {min(figures):.0f}-{max(figures):.0f} ms per MB"
    assert stated in " ".join(speed.split())


def test_the_readme_command_table_names_every_shoal_serve_option() -> None:
    text = README.read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `shoal serve "))
    serve = _leaves(cli.build_parser())["serve"]

    named = set(re.findall(r"--[a-z][a-z-]*", row.split("` |", 1)[0]))
    assert named == _options(serve) - {"-h", "--help"}


# ---- bench/bench_privacy.py: the privacy speed figures ----------------------------------------


def _markdown_rows(table: str) -> list[list[str]]:
    """The cells of each row of a markdown table, header and separator left out."""
    return [[cell.strip() for cell in line.strip("|").split("|")]
            for line in table.splitlines()[2:]]


def _results_shown(tables: str) -> dict[str, Any]:
    """A --benchmark-json document holding the figures the README's privacy tables show."""
    text_table, prompt_table, shape_table = tables.split("\n\n")
    benchmarks: list[dict[str, Any]] = []
    for name, rust, pure, _ in _markdown_rows(text_table):
        benchmarks += [{"name": "test_text", "params": {"name": name, "engine": engine},
                        "extra_info": {"mb_per_s": float(figure.replace(",", ""))}}
                       for engine, figure in (("rust", rust), ("pure", pure))]
    for prompt_set, rust, pure, _ in _markdown_rows(prompt_table):
        benchmarks += [{"name": "test_per_prompt",
                        "params": {"prompt_set": prompt_set, "engine": engine},
                        "extra_info": {"us_per_prompt": float(figure)}}
                       for engine, figure in (("rust", rust), ("pure", pure))]
    columns = (("rust", 1_000_000), ("rust", 10_000_000), ("pure", 100_000), ("pure", 1_000_000))
    for shape, *figures, _ in _markdown_rows(shape_table):
        benchmarks += [{"name": "test_pathological",
                        "params": {"shape": shape.strip("`"), "engine": engine, "size": size},
                        "extra_info": {"s_per_mb": float(figure)}}
                       for (engine, size), figure in zip(columns, figures, strict=True)]
    return {"benchmarks": benchmarks}


def test_the_privacy_speed_figures_are_one_run_of_the_bench_and_the_summary_quotes_them() -> None:
    bench = _load_script(REPOSITORY / "bench" / "bench_privacy.py")
    readme = README.read_text(encoding="utf-8")
    section = readme.split("$ python bench/bench_privacy.py privacy.json")[1]
    tables = section[section.index("| text (one call) |"):section.index("\n\nIn this run")]

    # The tables are the bench's own rendering, ratios included, of every text, prompt set and
    # shape it measures.
    results = _results_shown(tables)
    assert bench._tables(results) == tables
    measured = {(b["name"], b["params"].get("name") or b["params"].get("prompt_set")
                 or b["params"]["shape"]) for b in results["benchmarks"]}
    assert measured == {("test_text", name) for name in bench.TEXTS} \
        | {("test_per_prompt", name) for name in bench.PROMPT_SETS} \
        | {("test_pathological", shape) for shape in bench.PATHOLOGICAL}

    # The summary at the top quotes a row of the per-prompt table, and a range of slowdowns
    # on long texts that holds every text's but CJK's (given on its own).
    summary = re.search(r"(\d+)x for the privacy scan of\s+one prompt \((\d+) µs against "
                        r"([\d.]+) µs\) and (\d+)x to (\d+)x on long texts", readme)
    assert summary is not None
    factor, pure, rust, fewest, most = summary.groups()
    text_table, prompt_table, _ = tables.split("\n\n")
    assert any(round(float(row[2])) == int(pure) and row[1] == rust
               and round(float(row[3].rstrip("x"))) == int(factor)
               for row in _markdown_rows(prompt_table))
    slowdowns = [float(row[3].rstrip("x")) for row in _markdown_rows(text_table)
                 if row[0] != "cjk.txt"]
    assert int(fewest) <= min(slowdowns) and max(slowdowns) <= int(most)


# ---- Process nodes ------------------------------------------------------------------------------


def _hardware_section() -> str:
    """The README's hardware section with its lines kept (tables are read line by line)."""
    text = README.read_text(encoding="utf-8")
    start = text.index("## Hardware and process nodes")
    return text[start:text.index("\n## ", start + 1)]


def test_the_readme_reads_the_nanostack_rows_against_n2_and_ibm_2nm_as_the_table_does() -> None:
    from shoal import hardware

    pattern = (r"^\| `(nanostack-[a-z]+)` \| `([a-z0-9-]+)` \| ([0-9.]+)x \| ([0-9.]+x|unknown) "
               r"\| ([+-][0-9]+) % \| ([+-][0-9]+) % \|$")
    rows = re.findall(pattern, _hardware_section(), re.MULTILINE)

    assert len(rows) == 4
    for node_id, against, logic, sram, perf, power in rows:
        node, base = hardware.get_node(node_id), hardware.get_node(against)
        assert logic == f"{node.logic_density / base.logic_density:.2f}"
        if base.sram_density is None:
            assert sram == "unknown"
        else:
            assert node.sram_density is not None
            assert sram == f"{node.sram_density / base.sram_density:.2f}x"
        assert int(perf) == round((node.perf_iso_power / base.perf_iso_power - 1) * 100)
        assert int(power) == round((node.power_iso_perf / base.power_iso_perf - 1) * 100)


def test_the_readme_port_method_gives_the_example_s_area_and_the_default_sram_share() -> None:
    from shoal import hardware

    text = " ".join(_hardware_section().split())
    share = hardware.DEFAULT_SRAM_AREA_FRACTION
    source, target = hardware.get_node("n5"), hardware.get_node("nanostack-claimed")
    logic = target.logic_density / source.logic_density
    sram = target.sram_density / source.sram_density
    perf = target.perf_iso_power / source.perf_iso_power
    ported = hardware.port_chip("h100-sxm", to_node="nanostack-claimed",
                                models=["llama-3.1-8b-instruct"])

    assert "the same design shrinks to an area of (1 - s)/L + s/S of the old" in text
    assert "| `iso-area` | x L | x L x W | x 1 | x S |" in text
    assert f"s is {share * 100:.0f} % unless given" in text
    assert ported.area_ratio == pytest.approx((1 - share) / logic + share / sram)
    assert (f"L = {target.logic_density:.2f} / {source.logic_density:.2f} = {logic:.2f} and "
            f"S = {target.sram_density:.2f} / {source.sram_density:.2f} = {sram:.2f}, so its area "
            f"is {1 - share:.1f} / {logic:.2f} + {share:.1f} / {sram:.2f} = "
            f"{ported.area_ratio:.2f} of the old, and P = {target.perf_iso_power:.2f} / "
            f"{source.perf_iso_power:.2f} = {perf:.2f}") in text
    assert f"area x{ported.area_ratio:.2f}" in text


def test_the_readme_gives_a_range_only_where_the_estimates_have_one() -> None:
    from dataclasses import fields

    from shoal import hardware

    text = " ".join(_hardware_section().split())
    ranged = {f.name for f in fields(hardware.HardwareFit) if f.name.endswith("_low")}
    swept = {f.name for f in fields(hardware.ParetoPoint) if f.name.endswith("_low")}
    ported = [f.name for cls in (hardware.PortedChip, hardware.PortedInference)
              for f in fields(cls) if f.name.endswith(("_low", "_high"))]

    assert "Every speed and energy figure is an estimate with a low-high range" not in text
    assert ranged == {"decode_tokens_per_s_low", "prefill_tokens_per_s_low",
                      "time_to_first_token_s_low", "joules_per_token_low"}
    assert swept == {"decode_tokens_per_s_low", "joules_per_token_low"}
    assert ported == []
    assert "`shoal hw port`'s before -> after figures are single values without a range" in text
