"""`shoal route --file`: decisions written as each row is routed (--jsonl), rows that stop a
batch or are skipped past (--keep-going), and the checks every row of a batch passes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hang_guard import HANG_GUARD_S

from shoal.batch_cli import route_file
from shoal.cli import main
from shoal.router import route

MT_BENCH = Path(__file__).parents[1] / "python" / "shoal" / "data" / "mt_bench_questions.jsonl"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def batch_file(folder: Path, *rows: str) -> Path:
    path = folder / "mix.jsonl"
    path.write_text("".join(row + "\n" for row in rows), encoding="utf-8")
    return path


# Line 2 is malformed, line 4 holds an e-mail address that --privacy block refuses.
MIXED_ROWS = (
    '{"prompt": "Write a haiku about autumn."}',
    '{"turns": ["", "second"]}',
    '{"prompt": "Solve 2x + 1 = 5."}',
    '{"prompt": "Reply to ada@lovelace.org about the meeting."}',
    '{"question": "Name three prime numbers."}',
)


# ---- JSON Lines ----


def test_jsonl_writes_the_json_decisions_one_per_line_then_the_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = run(capsys, "route", "--file", str(MT_BENCH), "--jsonl")
    json_status, document, _ = run(capsys, "route", "--file", str(MT_BENCH), "--json")

    lines = out.splitlines()
    assert status == json_status == 0
    assert len(lines) == 81
    whole = json.loads(document)
    assert [json.loads(line) for line in lines[:-1]] == whole["decisions"]
    assert json.loads(lines[-1]) == {"summary": whole["summary"]}
    # One value per line, compact.
    assert all(line.startswith("{") and ": " not in line[:20] for line in lines)


def test_jsonl_and_keep_going_are_for_a_batch(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "route", "hello", "--jsonl")
    assert status == 2
    assert err == ("shoal route: error: --jsonl goes with --file (a batch): for one PROMPT's "
                   "decision as JSON use --json\n")
    # --json is no stand-in for --keep-going: one prompt has no rows to skip.
    assert run(capsys, "route", "hello", "--keep-going")[2] == (
        "shoal route: error: --keep-going goes with --file (a batch): one PROMPT has no rows to "
        "skip\n")
    assert run(capsys, "route", "--file", str(MT_BENCH), "--json", "--jsonl")[2] == (
        "shoal route: error: give --json (one document) or --jsonl (a line per decision), not "
        "both\n")


@pytest.mark.parametrize("mode", ["auto", "always", "never"])
def test_progress_is_for_a_batch(
    mode: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Even `auto`, the default, is refused when typed: it would read as a choice that applied.
    assert run(capsys, "route", "hello", "--progress", mode)[::2] == (
        2, "shoal route: error: --progress goes with --file (a batch): one PROMPT is routed in "
        "one step, with no progress to show\n")
    batch = batch_file(tmp_path, MIXED_ROWS[0], MIXED_ROWS[2])
    assert run(capsys, "route", "--file", str(batch), "--progress", mode)[0] == 0


def test_jsonl_rows_are_written_as_they_are_routed(tmp_path: Path) -> None:
    # A row that stops the batch comes after two good ones: they are on stdout already.
    batch = batch_file(tmp_path, *MIXED_ROWS[:1], MIXED_ROWS[2], MIXED_ROWS[3])
    done = subprocess.run(
        [sys.executable, "-m", "shoal", "route", "--file", str(batch), "--jsonl", "--privacy",
         "block"], capture_output=True, text=True, timeout=HANG_GUARD_S, check=False)

    assert done.returncode == 2
    assert [json.loads(line)["line"] for line in done.stdout.splitlines()] == [1, 2]
    assert done.stderr.startswith(f"shoal route: error: {batch}:3: --privacy block refused")


class InterruptedAfter(io.StringIO):
    """Standard output on which Ctrl-C lands once ``writes`` writes have returned, as a signal
    does between two calls: what is written by then is what the terminal shows."""

    def __init__(self, writes: int) -> None:
        super().__init__()
        self.writes_left = writes

    def write(self, text: str) -> int:
        written = super().write(text)
        self.writes_left -= 1
        if self.writes_left == 0:
            raise KeyboardInterrupt
        return written


# The table writes a header, three rows and the summary; JSON Lines the rows and the summary.
@pytest.mark.parametrize(("form", "lines"), [("text", 5), ("jsonl", 4)])
def test_an_interrupt_between_any_two_writes_leaves_only_whole_lines(
    form: str, lines: int, monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = "".join(MIXED_ROWS[i] + "\n" for i in (0, 2, 4))
    # Every place the interrupt can land, up to the last line.
    for writes in range(1, lines + 1):
        stdout = InterruptedAfter(writes)
        monkeypatch.setattr(sys, "stdout", stdout)

        with pytest.raises(KeyboardInterrupt):
            route_file(text, "mix.jsonl", route, form=form, keep_going=False)

        assert stdout.getvalue().endswith("\n"), (form, writes, stdout.getvalue())


# ---- stopping on a bad row, or going past it ----


def test_json_prints_nothing_when_a_row_stops_the_batch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    batch = batch_file(tmp_path, MIXED_ROWS[0], MIXED_ROWS[3])

    status, out, err = run(capsys, "route", "--file", str(batch), "--json", "--privacy", "block")

    assert (status, out) == (2, "")
    assert err.startswith(f"shoal route: error: {batch}:2: --privacy block refused the task")


def test_keep_going_routes_past_bad_rows_and_names_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    batch = batch_file(tmp_path, *MIXED_ROWS)

    status, out, err = run(capsys, "route", "--file", str(batch), "--privacy", "block",
                           "--keep-going")

    assert status == 1
    assert [line.split()[0] for line in out.splitlines()[1:4]] == ["1", "3", "5"]
    assert "\nrouted:   3 prompts, " in out
    assert out.endswith(f"\nskipped:  2 rows ({batch}:2, {batch}:4); exit status 1\n")
    skipped = err.splitlines()
    assert skipped[0] == (f"shoal route: skipped {batch}:2: 'turns' starts with an empty turn; "
                          "the first turn is the prompt routed")
    assert skipped[1].startswith(f"shoal route: skipped {batch}:4: --privacy block refused")
    assert len(skipped) == 2


def test_keep_going_lists_the_skipped_rows_in_json_and_jsonl(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    batch = batch_file(tmp_path, *MIXED_ROWS)
    options = ("route", "--file", str(batch), "--privacy", "block", "--keep-going")

    status, out, _ = run(capsys, *options, "--json")
    lines_status, lines, _ = run(capsys, *options, "--jsonl")

    document = json.loads(out)
    assert status == lines_status == 1
    assert [decision["line"] for decision in document["decisions"]] == [1, 3, 5]
    assert [row["line"] for row in document["skipped"]] == [2, 4]
    assert document["skipped"][0]["error"].startswith(f"{batch}:2: 'turns' starts with")
    assert document["summary"]["prompts"] == 3
    last = json.loads(lines.splitlines()[-1])
    assert last == {"summary": document["summary"], "skipped": document["skipped"]}


def test_keep_going_with_nothing_to_skip_exits_0_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    batch = batch_file(tmp_path, MIXED_ROWS[0])

    status, out, _ = run(capsys, "route", "--file", str(batch), "--keep-going")
    json_status, document, _ = run(capsys, "route", "--file", str(batch), "--keep-going",
                                   "--json")

    assert status == json_status == 0
    assert out.endswith("\nskipped:  no rows\n")
    assert json.loads(document)["skipped"] == []


def test_a_batch_whose_every_row_is_skipped_writes_an_empty_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    batch = batch_file(tmp_path, MIXED_ROWS[1])

    status, out, _ = run(capsys, "route", "--file", str(batch), "--keep-going", "--json")

    assert status == 1
    document = json.loads(out)
    assert document["decisions"] == [] and document["summary"]["prompts"] == 0


# ---- the rows themselves ----


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ('{"turns": ["", "second"]}',
         "'turns' starts with an empty turn; the first turn is the prompt routed"),
        ('{"turns": ["ok", 5]}', "'turns' must be a non-empty list of strings"),
        ('{"prompt": "a", "prompt": "b"}',
         "the field 'prompt' is given more than once; give each field once (only the last "
         "would be read)"),
        ('{"question": "a", "task": "x", "task": "y"}',
         "the field 'task' is given more than once"),
        # Only one would be routed, and the other dropped without a word.
        ('{"prompt": "a", "question": "b"}',
         "gives both 'prompt' and 'question'; give one prompt per row: only one of them would "
         "be routed"),
        ('{"question": "a", "turns": ["b"], "prompt": "c"}',
         "gives 'prompt', 'question' and 'turns'; give one prompt per row"),
    ],
)
def test_a_bad_row_is_refused_by_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], row: str, message: str,
) -> None:
    batch = batch_file(tmp_path, '{"prompt": "fine"}', row)

    status, out, err = run(capsys, "route", "--file", str(batch))

    assert (status, out) == (2, "")
    assert err.startswith(f"shoal route: error: {batch}:2: {message}")


def test_an_mt_bench_row_routes_its_first_turn_as_help_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    batch = batch_file(tmp_path, '{"turns": ["Write a haiku.", "Now make it rhyme."]}')

    status, out, _ = run(capsys, "route", "--file", str(batch), "--json")

    decision = json.loads(out)["decisions"][0]
    assert status == 0
    assert decision["decision_id"] == route("Write a haiku.").decision_id
    assert decision["conversation_turns"] == 0
    with pytest.raises(SystemExit):
        main(["route", "--help"])
    assert "the first turn is routed" in " ".join(capsys.readouterr().out.split())


def test_max_file_bytes_raises_the_limit_of_a_batch_and_a_prompt_on_stdin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = batch_file(tmp_path, '{"prompt": "Write a haiku about autumn."}')
    size = batch.stat().st_size

    assert run(capsys, "route", "--file", str(batch), "--max-file-bytes", "20")[::2] == (
        2, f"shoal route: error: --file: {batch} is {size:,} bytes, over the 20-byte limit; "
        "raise --max-file-bytes to read it\n")
    assert run(capsys, "route", "--file", str(batch), "--max-file-bytes", str(size))[0] == 0

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"Solve 2x + 1 = 5.")))
    assert run(capsys, "route", "-", "--max-file-bytes", "10")[::2] == (
        2, "shoal route: error: standard input is over the 10-byte limit; raise "
        "--max-file-bytes to read it\n")

    # Beside a PROMPT typed out it would change nothing.
    status, _, err = run(capsys, "route", "Solve 2x + 1 = 5.", "--max-file-bytes", "10")
    assert (status, err) == (2, "shoal route: error: --max-file-bytes limits --file and a PROMPT "
                                "read from stdin ('-'); it does not apply to a PROMPT on the "
                                "command line\n")


# ---- how much each decision says, and progress ----


def test_max_alternatives_and_neighbours_shorten_each_decision_but_not_the_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, whole, _ = run(capsys, "route", "--file", str(MT_BENCH), "--jsonl")
    status, short, _ = run(capsys, "route", "--file", str(MT_BENCH), "--jsonl",
                           "--max-alternatives", "1", "--max-neighbours", "2")
    json_status, document, _ = run(capsys, "route", "--file", str(MT_BENCH), "--json",
                                   "--max-alternatives", "1", "--max-neighbours", "2")

    assert status == json_status == 0
    full = [json.loads(line) for line in whole.splitlines()]
    shortened = [json.loads(line) for line in short.splitlines()]
    # The summary weighs every candidate of every decision, whatever each decision lists.
    assert shortened[-1] == full[-1]
    for before, after in zip(full[:-1], shortened[:-1], strict=True):
        assert after["decision_id"] == before["decision_id"] and after["model"] == before["model"]
        assert after["alternatives"] == before["alternatives"][:2]
        assert after["neighbours"] == before["neighbours"][:2]
        assert after["notes"][-1].startswith("shortened: ")
    assert json.loads(document)["decisions"] == shortened[:-1]
    # About 19 kB a decision in full (the README says so), under a sixth of that shortened.
    assert 15_000 < len(whole) / 80 < 25_000
    assert len(short) < len(whole) / 6


def test_a_batch_shows_its_progress_on_stderr_when_asked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    from shoal import progress

    monkeypatch.setattr(progress, "PROGRESS_DELAY_S", 0.0)
    status, out, err = run(capsys, "route", "--file", str(MT_BENCH), "--jsonl",
                           "--progress", "always")
    assert status == 0 and len(out.splitlines()) == 81
    assert "\rrouting [" in err and err.endswith(f"[{'#' * 30}] 80/80 prompts\n")

    # Not on a terminal, none by default.
    assert "routing [" not in run(capsys, "route", "--file", str(MT_BENCH), "--jsonl")[2]


def test_a_skipped_row_is_named_on_a_line_of_its_own_under_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    from shoal import progress

    monkeypatch.setattr(progress, "PROGRESS_DELAY_S", 0.0)
    batch = batch_file(tmp_path, *MIXED_ROWS)
    status, _, err = run(capsys, "route", "--file", str(batch), "--keep-going", "--progress",
                         "always", "--privacy", "block")
    assert status == 1
    # The progress line is blanked, back to its start, before each message.
    messages = err.split("shoal route: skipped ")[1:]
    assert len(messages) == 2
    for before in err.split("shoal route: skipped ")[:-1]:
        assert before == "" or before.endswith(("\r", "\n"))
    assert "routing [" in err
