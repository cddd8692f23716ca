"""Command-line checks: options that would do nothing are refused by name, errors name the
options typed rather than the library's parameters, --prices reaches the token commands, and
counts are worded in the singular for one."""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from shoal.cli import main

USER_MODEL = {
    "id": "my-model",
    "provider": "me",
    "name": "My Model",
    "input_per_mtok": 1.0,
    "output_per_mtok": 2.0,
    "cached_input_per_mtok": None,
    "cache_write_per_mtok": None,
    "context_window": 8192,
    "max_output_tokens": 1024,
    "encoding": None,
    "token_ratio": 2.0,
    "open_weights": False,
    "params_b": None,
    "active_params_b": None,
    "quality": None,
    "quality_source": "none",
    "price_source": "me",
    "as_of": "2025-01-01",
}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def prices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user price file adding my-model (o200k_base x 2); --prices sets SHOAL_PRICES, which
    this restores afterwards."""
    monkeypatch.setenv("SHOAL_PRICES", "")
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"models": [USER_MODEL]}), encoding="utf-8")
    return path


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SHOAL_LEDGER", str(tmp_path / "other.sqlite3"))
    return str(tmp_path / "ledger.sqlite3")


# ---- --prices reaches count, truncate and split ----



def _command(argv: list[str]) -> str:
    """The command an error leads with: with its action for commands that have them."""
    return " ".join(argv[:2] if argv[0] in {"budget", "feedback", "hw", "ledger"} else argv[:1])

@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["count", "--model", "my-model", "hello", "world"],
         "4 tokens for my-model (estimate: o200k_base count x 2.00, rounded up"),
        (["count", "--model", "my-model", "--limit", "3", "hello", "world"],
         "over the limit: 4 tokens, more than 3"),
        (["truncate", "--model", "my-model", "--max-tokens", "2", "hello", "world"], "hello"),
        (["split", "--model", "my-model", "--max-tokens", "2", "hello", "world"],
         "2 chunks, 4 tokens (estimate: o200k_base x 2.00)"),
    ],
)
def test_token_commands_count_a_model_of_the_price_file(capsys, prices, argv, expected):
    assert run(capsys, *argv)[0] == 2  # unknown to the shipped catalog
    code, out, _ = run(capsys, *argv, "--prices", str(prices))
    assert expected in out
    assert code == (1 if "--limit" in argv else 0)


def test_a_chat_is_counted_for_a_model_of_the_price_file(capsys, prices, tmp_path):
    chat = tmp_path / "chat.json"
    chat.write_text(json.dumps([{"role": "user", "content": "hi"}]), encoding="utf-8")
    code, out, _ = run(capsys, "count", "--chat", str(chat), "--model", "my-model",
                       "--prices", str(prices))
    assert code == 0
    assert out.startswith("10 prompt tokens for my-model (estimate: o200k_base x 2.00)")


# ---- options that would change nothing are refused ----


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["truncate", "--max-tokens", "3", "--max-file-bytes", "5", "text"],
         "--max-file-bytes limits the --file it reads or standard input; it does not apply to "
         "TEXT on the command line"),
        (["count", "--max-file-bytes", "5", "text"],
         "--max-file-bytes limits --file and --chat files, and standard input; it does not "
         "apply to TEXT"),
        (["route", "--min-quality", "0.5", "--willingness-to-pay", "0.1", "hello"],
         "--willingness-to-pay does nothing with --min-quality (the cheapest candidate predicted "
         "to reach it is chosen) unless --previous-model is given"),
        (["route", "--candidates", "gpt-4o,o3,gpt-4o", "hello"],
         "--candidates names gpt-4o more than once; list each once"),
        (["budget", "fit", "--model", "gpt-4o", "--budget", "100"],
         "no items to fit: give ITEMS_FILE (a JSON list of items) or --file PATH"),
        (["hw", "port", "h100-sxm", "--to", "nanostack-claimed", "--models", ""],
         "--models names no model: list model ids, or leave the option out"),
        (["hw", "sweep", "--mode", "iso-area", "--models", "gemma-3-1b-it", "--devices",
          "apple-m4-pro"],
         "--mode iso-area is how a node change is spent, and no node is changed (as-built only)"),
        (["hw", "sweep", "--mode", "iso-power", "--nodes", "as-built", "--models",
          "gemma-3-1b-it"], "--mode iso-power is how a node change is spent"),
        (["hw", "sweep", "--nodes", ","], "--nodes names no node"),
        (["hw", "sweep", "--devices", ""], "--devices must not be empty"),
    ],
)
def test_options_that_would_do_nothing_are_refused(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.startswith(f"shoal {_command(argv)}: error: {message}")


def test_a_ledger_record_without_tokens_is_refused(capsys, ledger):
    record = ["ledger", "record", "--scope", "s", "--model", "gpt-4o", "--ledger", ledger]
    code, _, err = run(capsys, *record)
    assert code == 2
    assert "give the call's tokens: --input, --output, --cached, --cache-write or --reasoning" in (
        err
    )
    assert not Path(ledger).exists()

    code, out, _ = run(capsys, *record, "--output", "10")
    assert code == 0 and out.startswith("recorded: gpt-4o $0.0001 to s")


def test_an_empty_items_file_is_named(capsys, tmp_path):
    items = tmp_path / "items.json"
    items.write_text("[]", encoding="utf-8")
    code, _, err = run(capsys, "budget", "fit", str(items), "--model", "gpt-4o", "--budget", "9")
    assert code == 2
    assert f"items file: {items} holds no items and no --file is given: nothing to fit" in err


def test_a_mode_with_a_node_to_port_to_is_used(capsys):
    code, out, _ = run(capsys, "hw", "sweep", "--mode", "iso-area", "--nodes",
                       "as-built,nanostack-claimed", "--models", "gemma-3-1b-it", "--devices",
                       "apple-m4-pro", "--json")
    assert code == 0
    assert {point["node"] for point in json.loads(out)["points"]} <= {
        "as-built", "nanostack-claimed"
    }


def test_willingness_to_pay_under_a_quality_floor_weighs_a_switch(capsys):
    code, out, _ = run(capsys, "route", "--min-quality", "0.5", "--willingness-to-pay", "0.1",
                       "--previous-model", "gpt-4o", "hello", "--json")
    assert code == 0
    assert json.loads(out)["stickiness"]["previous_model"] == "gpt-4o"


# ---- errors name the options typed ----


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["count", "--limit", "-1", "hi"], "--limit must be at least 0, not -1"),
        (["truncate", "--max-tokens", "-1", "hi"], "--max-tokens must be at least 0, not -1"),
        (["split", "--max-tokens", "0", "hi"], "--max-tokens must be at least 1, not 0"),
        (["split", "--max-tokens", "1", "--model", "claude-sonnet-4-5", "hi"],
         "--max-tokens=1 is under one o200k_base token once scaled by 1.3"),
        (["route", "--max-cost", "-1", "hi"], "--max-cost must be 0 or more, got -1; leave it out "
         "for no limit"),
        (["route", "--output-tokens", "-1", "hi"],
         "--output-tokens must be an int from 0 to 1,000,000, got -1"),
        (["route", "--stickiness-margin", "5", "--previous-model", "gpt-4o", "hi"],
         "--stickiness-margin must be between 0 and 1, got 5\n"),
        (["route", "--stickiness-margin", "-1", "--previous-model", "gpt-4o", "hi"],
         "--stickiness-margin must be between 0 and 1, got -1\n"),
        (["route", "--exclude", "gpt-4o-nope", "hi"], "--exclude: unknown model 'gpt-4o-nope'"),
        (["route", "--privacy", "block", "mail ada@lovelace.org"],
         "--privacy block refused the task: found personal data (email in prompt[5:21]). Remove "
         "it, or use --privacy local"),
        (["route", "--privacy", "block", "keys AKIAQYLPMN5HHHFPZAM2 AKIAQYLPMN5HHHFPZAM3"],
         "--privacy block refused the task: found secrets (aws_access_key_id in prompt[5:25]; "
         "aws_access_key_id in prompt[26:46]). Remove them, or"),
        (["route", "--local-only", "--candidates", "gpt-4o", "hi"],
         "no candidate passes the constraints; relax --candidates, --exclude, --local-only, "
         "--max-cost or --output-tokens. gpt-4o: breaks --local-only (hosted only)\n"),
        (["budget", "fit", "--model", "gpt-4o", "--budget", "0", "--file", __file__],
         "--budget must be 1 to 100,000,000, got 0"),
        (["hw", "port", "h100-sxm", "--to", "nanostack-claimed", "--sram-mb", "1000001"],
         "--sram-mb must be a number of MB from 0 to 1,000,000, got 1,000,001"),
    ],
)
def test_errors_name_the_option(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.startswith(f"shoal {_command(argv)}: error: {message}")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["record", "--scope", "s", "--model", "gpt-4o", "--input", "-1"],
         "--input must be at least 0, got -1"),
        (["record", "--scope", "s", "--model", "gpt-4o", "--input", "1", "--cached", "5"],
         "--cached (5) plus --cache-write (0) must not exceed --input (1)"),
        (["limit", "--scope", "s", "--usd", "-1"], "--usd must be a finite amount of at least 0"),
        (["status", "--scope", "s", "--window", "-1"],
         "--window must be from one second (1/3600) to a year (8784), got -1"),
    ],
)
def test_ledger_errors_name_the_option(capsys, ledger, argv, message):
    run(capsys, "ledger", "record", "--scope", "s", "--model", "gpt-4o", "--input", "1",
        "--ledger", ledger)
    code, _, err = run(capsys, "ledger", *argv, "--ledger", ledger)
    assert code == 2
    assert err.startswith(f"shoal ledger {argv[0]}: error: {message}")


@pytest.mark.parametrize("action", ["record", "status", "limit"])
def test_a_blank_scope_is_called_blank(capsys, ledger, action):
    extra = {"record": ["--model", "gpt-4o", "--input", "1"], "limit": ["--usd", "1"]}
    with pytest.raises(SystemExit) as exit_info:
        main(["ledger", action, "--scope", "   ", *extra.get(action, []), "--ledger", ledger])
    assert exit_info.value.code == 2
    assert "argument --scope: blank: name the scope, e.g. session:4f2a" in capsys.readouterr().err


def test_a_skipped_file_advises_the_option(capsys, tmp_path):
    # In a folder walk the file is skipped with the advice; named alone it is an error.
    large = tmp_path / "large.txt"
    large.write_text("word " * 400, encoding="utf-8")
    code, out, _ = run(capsys, "count", "--file", str(tmp_path), "--max-file-bytes", "1000")
    assert code == 0
    assert ("too large: 2,000 bytes, over the 1,000-byte limit (raise --max-file-bytes, or count "
            "a part with truncate or split)") in out


@pytest.mark.parametrize(("content", "what"), [("", "empty"), (" \n", "blank")])
def test_a_prompt_file_without_text_is_named(capsys, tmp_path, content, what):
    prompt = tmp_path / f"{what}.txt"
    prompt.write_text(content, encoding="utf-8")
    code, _, err = run(capsys, "feedback", "record", "d-0123456789abcdef01234567", "gpt-4o",
                       "0.5", "--prompt-file", str(prompt), "--db", str(tmp_path / "f.sqlite3"))
    assert code == 2
    assert f"--prompt-file {prompt} has no text: give the task text" in err


def test_a_feedback_cost_names_the_option(capsys, tmp_path):
    code, _, err = run(capsys, "feedback", "record", "d-0123456789abcdef01234567", "gpt-4o",
                       "0.5", "--cost", "-1", "--db", str(tmp_path / "f.sqlite3"))
    assert code == 2
    assert err.startswith("shoal feedback record: error: --cost must be finite and >= 0")


def test_amounts_past_their_bound_are_quoted_as_typed(capsys, tmp_path):
    code, _, err = run(capsys, "feedback", "record", "d-0123456789abcdef01234567", "gpt-4o",
                       "0.5", "--cost", "99999999999999999999", "--db", str(tmp_path / "f.sqlite3"))
    assert code == 2
    assert err == ("shoal feedback record: error: --cost must be at most 4,611,686,018.42, got "
                   "99,999,999,999,999,999,999; check the units\n")

    code, _, err = run(capsys, "ledger", "limit", "--scope", "s", "--usd",
                       "99999999999999999999999", "--ledger", str(tmp_path / "l.sqlite3"))
    assert code == 2
    assert err == ("shoal ledger limit: error: --usd must be at most $4,611,686,018.42, got "
                   "99,999,999,999,999,999,999,999\n")


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        ('{"input_tokens": NaN}', "must be a whole number, got NaN, which is not finite"),
        ('{"input_tokens": 2.5}', "must be a whole number, got 2.5, which is not whole"),
        ('{"input_tokens": 5.0}',
         "must be a whole number, got 5.0; write it as 5, without the decimal point"),
        ('{"input_tokens": 1e-400}', "must be a whole number, got 1e-400, which is not whole"),
        # Past a float's range: too large, quoted as the file spells it, not as Infinity.
        ('{"input_tokens": 1e400}', "must be at most 100,000,000, got 1e400; check the units"),
        ('{"input_tokens": -1e400}', "must be at least 0, got -1e400"),
    ],
)
def test_a_plan_step_says_what_is_wrong_with_its_number(capsys, tmp_path, step, problem):
    plan = tmp_path / "plan.json"
    plan.write_text(f"[{step}]", encoding="utf-8")
    code, _, err = run(capsys, "cost", "gpt-4o", "--plan", str(plan))
    assert code == 2
    assert f"plan step 1: input_tokens {problem}" in err


# ---- batches, plurals and the terminal ----


def test_a_refused_prompt_of_a_batch_is_named_by_its_line(capsys, tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "hello"}\n\n{"prompt": "mail ada@lovelace.org"}\n',
                       encoding="utf-8")
    code, out, err = run(capsys, "route", "--file", str(prompts), "--privacy", "block")
    # The rows before it were printed as they were routed; the batch has no summary.
    assert code == 2
    assert [line.split()[0] for line in out.splitlines()] == ["line", "1"]
    assert err.startswith(f"shoal route: error: {prompts}:3: --privacy block refused the task")


def test_one_of_a_kind_is_singular(capsys, tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "hello"}\n', encoding="utf-8")
    assert "\nrouted:   1 prompt, " in run(capsys, "route", "--file", str(prompts))[1]

    code, out, _ = run(capsys, "count", "--limit", "0", "a")
    assert (code, out) == (1, "over the limit: 1 token, more than 0 (counted all 1 character; "
                              "exact, o200k_base)\n")
    assert run(capsys, "count", "--limit", "1", "a")[1].startswith(
        "within the limit: 1 of 1 token (exact")

    code, out, _ = run(capsys, "hw", "sweep", "--models", "gemma-3-1b-it", "--devices",
                       "apple-m4-pro")
    assert code == 0 and out.startswith("1 configuration, 1 fit in memory, 1 on the Pareto front")


@pytest.mark.parametrize(("terminal", "expected"), [(True, "hello\n"), (False, "hello")])
def test_truncate_ends_its_text_with_a_newline_on_a_terminal(
    capsys, monkeypatch, terminal, expected
):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: terminal)
    code, out, err = run(capsys, "truncate", "--max-tokens", "1", "hello world")
    assert (code, out) == (0, expected)
    assert err.startswith("kept the head: 1 of 2 tokens")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["route", "hello", "--stickiness-margin", "0.1"],
         "shoal route: error: --stickiness-margin weighs a switch from --previous-model"),
        (["budget", "fit", "--model", "gpt-4o", "--budget", "100", "--file", "README.md",
          "--root", "/nonexistent-folder"],
         "shoal budget fit: error: --root /nonexistent-folder does not exist"),
    ],
)
def test_options_that_would_be_misread_are_refused(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert message in err


@pytest.mark.parametrize("command", [["split", "--max-tokens", "3", "hi", "--out-dir", ""],
                                     ["serve", "--root", ""]])
def test_an_empty_folder_path_is_refused_not_read_as_the_current_folder(capsys, command):
    with pytest.raises(SystemExit) as stopped:
        main(command)

    assert stopped.value.code == 2
    assert "an empty path names no folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command",
    [
        ["cost", "gpt-4o", "--input", "5", "--prices", ""],
        ["count", "--file", ""],
        ["fit", "", "--out", "router.json"],
        ["eval", "--data", "", "--folds", "2"],
        ["privacy", "--file", ""],
        ["budget", "trim", ""],
    ],
)
def test_an_empty_file_path_is_refused_not_read_as_the_current_folder(capsys, command):
    with pytest.raises(SystemExit) as stopped:
        main(command)

    assert stopped.value.code == 2
    assert "an empty path names no file" in capsys.readouterr().err


def test_count_file_dash_points_to_standard_input(capsys):
    code, out, err = run(capsys, "count", "--file", "-")

    assert (code, out) == (2, "")
    assert "`shoal count -` counts standard input" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["cost", "gpt-4o", "--input", "-5"], "shoal cost: error: --input must be at least 0"),
        (["cost", "--compare", "gpt-4o,gpt-4.1", "--input", "5", "--baseline", "gpt-4.1-mimi"],
         "shoal cost: error: --baseline: unknown model 'gpt-4.1-mimi'"),
        (["report", "--baseline", "gpt-4.1-mimi"],
         "shoal report: error: --baseline: unknown model 'gpt-4.1-mimi'"),
        (["report", "--baseline", ""], "shoal report: error: --baseline names no model"),
        (["cost", "--compare", "gpt-4o,,gpt-4.1", "--input", "5"],
         "shoal cost: error: --compare has an empty entry ('gpt-4o,,gpt-4.1')"),
        (["cost", "--compare", "gpt-4o,", "--input", "5"],
         "shoal cost: error: --compare has an empty entry ('gpt-4o,'); list ids separated by "
         "single commas, with no comma before the first or after the last"),
        (["route", "--candidates", ",gpt-4o", "hi"],
         "shoal route: error: --candidates has an empty entry (',gpt-4o')"),
        (["route", "--exclude", "gpt-4o,,gpt-4.1", "hi"],
         "shoal route: error: --exclude has an empty entry ('gpt-4o,,gpt-4.1')"),
        (["serve", "--tools", "tokens,tokens"], "shoal serve: error: --tools names tokens more "
         "than once"),
        (["cost", "--compare", "gpt-4o,gpt-4.1", "--input", "5", "--baseline", ""],
         "shoal cost: error: --baseline names no model"),
        (["cost", "gpt-4o", "--input", "5", "--prices", "/nonexistent/prices.json"],
         "shoal cost: error: --prices: cannot read catalog file '/nonexistent/prices.json'"),
        (["cost", "gpt-4o", "--input", "10", "--calls", "0"],
         "shoal cost: error: --calls must be at least 1"),
        (["cost", "--compare", "gpt-4o,gpt-4o", "--input", "10"],
         "shoal cost: error: --compare names gpt-4o more than once"),
        (["eval", "--data", "x.jsonl", "--folds", "1"],
         "shoal eval: error: --folds must be 2 or more (or 'task'), got 1"),
        (["report", "--since", "garbage"], "shoal report: error: --since must be ISO 8601"),
        (["report", "--since", "2030-01-01", "--until", "2020-01-01"],
         "shoal report: error: --until must be later than --since\n"),
        (["route", "--file", "prompts.jsonl", "--previous-model", "gpt-4.1"],
         "shoal route: error: --file routes independent prompts and takes no --previous-model, "
         "which is about one conversation"),
        # Beyond these bounds --json would write Infinity, which is not JSON.
        (["route", "--json", "--willingness-to-pay", "5000", "hi"],
         "shoal route: error: --willingness-to-pay must be above 0 (at least 0.000000000001) and "
         "at most 1,000 USD per quality point, got 5,000\n"),
        (["route", "--willingness-to-pay", "0", "hi"],
         "shoal route: error: --willingness-to-pay must be above 0 (at least 0.000000000001) and "
         "at most 1,000 USD per quality point, got 0\n"),
        (["route", "--max-cost", "5000", "hi"],
         "shoal route: error: --max-cost must be between $0 and $1,000.00, got 5,000"),
        (["route", "--candidates", "gpt-4.1", "mail bob@corp.com"],
         "shoal route: error: --privacy local keeps this task on local open-weight models "
         "because it found 1 private item (email): remove them, or set --privacy off if"),
    ],
)
def test_more_errors_name_the_option_typed(capsys, ledger, monkeypatch, argv, message):
    monkeypatch.setenv("SHOAL_LEDGER", ledger)
    assert run(capsys, "ledger", "record", "--scope", "s", "--model", "gpt-4o", "--input",
               "10")[0] == 0
    capsys.readouterr()

    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.startswith(message)


def test_fit_and_eval_errors_name_the_option_typed(capsys, tmp_path):
    labels = tmp_path / "labels.jsonl"  # no task field
    labels.write_text("".join(
        json.dumps({"prompt": f"prompt {n}", "model": model, "score": n / 4}) + "\n"
        for n in range(4) for model in ("gpt-4o", "gpt-4o-mini")
    ), encoding="utf-8")
    out = str(tmp_path / "router.json")

    assert run(capsys, "fit", str(labels), "--out", out, "--name", "team@b") == (
        2, "", "shoal fit: error: --name must be a non-empty string without '@' or control "
        "characters, got 'team@b'\n")
    assert run(capsys, "eval", "--data", str(labels), "--folds", "task") == (
        2, "", "shoal eval: error: --folds task needs a task (or cluster_id) on every prompt\n")


def test_fit_names_its_neighbour_count(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["fit", "x.jsonl", "--out", "y.json", "--k", "0"])

    assert stopped.value.code == 2
    assert "argument --k: must be 1 to 1,000, got 0" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["route", "hello", "--exclude", "gpt-4o,gpt-4o"], "shoal route: error: --exclude"),
        (["hw", "sweep", "--models", "gemma-3-1b-it,gemma-3-1b-it", "--devices", "apple-m4-pro"],
         "shoal hw sweep: error: --models"),
        (["hw", "sweep", "--models", "gemma-3-1b-it", "--devices", "apple-m4-pro,apple-m4-pro"],
         "shoal hw sweep: error: --devices"),
        (["hw", "port", "h100-sxm", "--to", "nanostack-claimed", "--models", "a,a"],
         "shoal hw port: error: --models"),
        (["eval", "--train", "a.json", "--test", "b.json", "--holdout-models", "x,x"],
         "shoal eval: error: --holdout-models"),
    ],
)
def test_an_id_named_twice_is_refused_by_every_list_option(capsys, argv, message):
    code, out, err = run(capsys, *argv)

    assert (code, out) == (2, "")
    assert err.startswith(message) and "more than once; list each once" in err


@pytest.mark.parametrize(
    ("option", "models"),
    [("--candidates", "gpt-4o,openai/gpt-4o"), ("--exclude", "gpt-4o,GPT-4o")],
)
def test_route_refuses_a_model_named_twice_by_two_spellings(capsys, option, models):
    first, second = models.split(",")

    code, out, err = run(capsys, "route", "hello", option, models)

    assert (code, out) == (2, "")
    assert err == (f"shoal route: error: {option} names gpt-4o (as '{first}' and '{second}') "
                   "more than once; list each model once\n")


def test_route_text_states_costs_without_scientific_notation(capsys):
    code, _out, err = run(capsys, "route", "--max-cost", "0", "--candidates",
                          "llama-3.1-8b-instruct,gpt-4.1", "hello world")

    assert code == 2
    assert "--max-cost ($0.0000129 against $0)" in err
    assert "e-0" not in err


def test_route_text_states_the_willingness_to_pay_in_dollars(capsys):
    code, out, _err = run(capsys, "route", "--willingness-to-pay", "0.00005", "hello world")

    assert code == 0
    assert "at a willingness to pay of $0.00005 per quality point" in out


def test_route_lists_may_be_given_over_several_options(capsys):
    code, out, err = run(capsys, "route", "--json", "--candidates", "gpt-4.1",
                         "--candidates", "gpt-4.1-mini,gpt-4o", "--exclude", "gpt-4o",
                         "--exclude", "gpt-4.1", "hello")

    assert code == 0, err
    decision = json.loads(out)
    assert decision["model"] == "gpt-4.1-mini"
    considered = {decision["model"], *(item["model"] for item in decision["alternatives"])}
    assert considered == {"gpt-4.1", "gpt-4.1-mini", "gpt-4o"}
    refused = {item["model"] for item in decision["alternatives"] if not item["eligible"]}
    assert refused == {"gpt-4.1", "gpt-4o"}


# ---- ids are quoted back bounded and escaped ----

LONG_ID = "x" * 100_000


def run_to_the_end(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`run`, also for an error argparse reports by exiting."""
    try:
        code = main(list(argv))
    except SystemExit as stopped:
        code = int(stopped.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    "argv",
    [
        ["hw", "fit", LONG_ID, "apple-m4-pro"],
        ["hw", LONG_ID, "apple-m4-pro"],
        ["hw", "fit", "llama-3.1-8b-instruct", "apple-m4-pro", "--quant", LONG_ID],
        ["hw", "port", LONG_ID, "--to", "n2"],
        ["hw", "port", "iphone-16-pro", "--to", LONG_ID],
        ["hw", "port", "iphone-16-pro", "--to", "n2", "--models", LONG_ID],
        ["hw", "sweep", "--models", LONG_ID, "--devices", "rtx-4090"],
        ["cost", LONG_ID, "--input", "5"],
        ["cost", "--compare", f"gpt-4o,{LONG_ID}", "--input", "5"],
        ["cost", "--compare", f"{LONG_ID},", "--input", "5"],
        ["ledger", "record", "--scope", "s", "--model", LONG_ID, "--input", "5"],
        ["ledger", "record", "--scope", "s", "--model", "gpt-4o", "--input", "5",
         "--request-id", LONG_ID],
        ["route", "hello", "--candidates", LONG_ID],
        ["route", "hello", "--device", LONG_ID],
        ["count", "hello", "--model", LONG_ID],
        ["models", "--provider", LONG_ID],
        ["report", "--baseline", LONG_ID],
        ["feedback", "record", "d-" + "0" * 24, LONG_ID, "1"],
    ],
    ids=lambda argv: " ".join(word[:20] for word in argv),
)
def test_an_id_of_any_length_gives_an_error_of_a_few_lines(capsys, ledger, argv):
    code, out, err = run_to_the_end(capsys, *argv, *(
        ["--ledger", ledger] if argv[0] in ("ledger", "report") else []))

    assert (code, out) == (2, "")
    assert "at most 200 characters, got 100,000" in err
    assert len(err) < 1_000 and "'xxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxx'" in err


def test_an_id_of_200_characters_is_looked_up(capsys):
    code, _, err = run_to_the_end(capsys, "cost", "x" * 200, "--input", "5")

    assert code == 2 and "unknown model 'xxx" in err


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["hw", "devices", "a\u202eb"], "unrecognized arguments: a\\u202eb"),
        (["cost", "--compare", "a\u202eb,a\u202eb", "--input", "5"],
         "--compare names a\\u202eb more than once"),
        (["hw", "fit", "llama-3.1-8b-instruct", "my-box\u202e"],
         "unknown device 'my-box\\u202e'"),
        (["route", "hello", "--privacy", "\x1b[2Kblock"], "'\\x1b[2Kblock'"),
    ],
)
def test_characters_that_do_not_print_are_escaped_in_errors(capsys, argv, shown):
    code, out, err = run_to_the_end(capsys, *argv)

    assert (code, out) == (2, "")
    assert shown in err
    assert "\u202e" not in err and "\x1b" not in err


@pytest.mark.parametrize(
    ("option", "value", "shown"),
    [
        ("--scope", "session:\u202e4f2a", "'\\u202e' in 'session:\\u202e4f2a'"),
        ("--scope", "session:\u00a04f2a", "'\\xa0' in 'session:\\xa04f2a'"),
        ("--request-id", "call-\x1b[2K1", "'\\x1b' in 'call-\\x1b[2K1'"),
    ],
)
def test_a_stored_name_that_does_not_print_is_refused(capsys, ledger, option, value, shown):
    argv = {"--scope": "s", "--request-id": "r", option: value}
    code, out, err = run_to_the_end(
        capsys, "ledger", "record", "--scope", argv["--scope"], "--request-id",
        argv["--request-id"], "--model", "gpt-4o", "--input", "5", "--ledger", ledger)

    assert (code, out) == (2, "")
    assert err == (f"shoal ledger record: error: {option} must hold only printable characters "
                   f"(no control or format characters, no space but ' '), got {shown}\n")
    assert not Path(ledger).exists()


# ---- numbers are typed in plain decimal notation ----


def _numeric_actions() -> list[tuple[str, argparse.ArgumentParser, argparse.Action]]:
    """Every option of every shoal command that takes a number, with its parser."""
    from shoal import cli, hardware_cli

    def leaves(parser: argparse.ArgumentParser, prefix: str) -> list[tuple[str, Any]]:
        found = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    found += leaves(child, f"{prefix} {name}")
        return found or [(prefix, parser)]

    parsers = leaves(cli.build_parser(), "shoal") + leaves(hardware_cli.build_parser(), "shoal hw")
    numeric = []
    for command, parser in parsers:
        for action in parser._actions:
            kind = parser._registry_get("type", action.type, action.type)
            if action.type in (int, float) or getattr(kind, "__name__", "").lstrip("_") in (
                    "port", "max_file_bytes", "megabytes", "parse"):
                numeric.append((command, parser, action))
    return numeric


def test_every_numeric_option_refuses_what_is_not_plain_decimal_notation() -> None:
    actions = _numeric_actions()
    assert len(actions) > 30, "the walk over the parsers lost the numeric options"
    for command, parser, action in actions:
        kind = parser._registry_get("type", action.type, action.type)
        for typed in ("١٢", "1_000", "1e3", " 12", "inf"):
            with pytest.raises(argparse.ArgumentTypeError, match=re.escape(repr(typed))):
                kind(typed)
        assert kind("12") == 12, f"{command} {action.option_strings}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ledger", "limit", "--scope", "s", "--usd", "1e400"],
         "argument --usd: not a plain decimal number: '1e400'"),
        (["ledger", "limit", "--scope", "s", "--usd", "1e-10"],
         "argument --usd: not a plain decimal number: '1e-10'"),
        (["ledger", "limit", "--scope", "s", "--usd", "١٢"],
         "argument --usd: not a plain decimal number: '١٢'"),
        (["ledger", "limit", "--scope", "s", "--usd", "1_000"],
         "argument --usd: not a plain decimal number: '1_000'"),
        (["ledger", "limit", "--scope", "s", "--usd", "1" + "0" * 400],
         "argument --usd: '10000000000000000...000000000000000000' is too large to read"),
        (["ledger", "limit", "--scope", "s", "--usd", "0." + "0" * 400 + "1"],
         "argument --usd: '0.000000000000000...000000000000000001' is too small to read"),
        (["ledger", "limit", "--scope", "s", "--usd", "0.0000000001"],
         "--usd 0.0000000001 rounds to $0"),
        # Within a float's range, but past what an error quotes whole: its significant digits
        # and a power of ten, as every error quotes such a number.
        (["ledger", "limit", "--scope", "s", "--usd", "0." + "0" * 300 + "1"],
         "--usd 1e-301 rounds to $0: the ledger keeps whole nano-dollars"),
        (["ledger", "limit", "--scope", "s", "--usd", "1" + "0" * 300],
         "--usd must be at most $4,611,686,018.42, got 1e+300\n"),
        (["ledger", "limit", "--scope", "s", "--usd", "5000000000"],
         "--usd must be at most $4,611,686,018.42, got 5,000,000,000\n"),
        (["ledger", "limit", "--scope", "s", "--usd", "-1"],
         "--usd must be a finite amount of at least 0, got -1\n"),
        (["cost", "gpt-4o", "--input", "١٢"], "argument --input: not a whole number: '١٢'"),
        # Past any option's reach: quoted as an excerpt, before a bound quotes all 400 digits.
        (["cost", "gpt-4o", "--input", "9" * 400],
         "argument --input: '99999999999999999...999999999999999999' (400 digits) is larger "
         "than any option takes\n"),
        (["count", "--limit", "9" * 37, "hi"],
         f"argument --limit: '{'9' * 37}' (37 digits) is larger than any option"),
        (["eval", "--data", "x.json", "--folds", "2", "--output-tokens", "-" + "9" * 400],
         "argument --output-tokens: '-9999999999999999...999999999999999999' (400 digits)"),
        (["route", "hello", "--min-quality", "-0.00001"],
         "--min-quality must be between 0 and 1, got -0.00001\n"),
        (["route", "hello", "--max-cost", "-0.00001"],
         "--max-cost must be 0 or more, got -0.00001;"),
        (["hw", "sweep", "--contexts", "4_096"],
         "--contexts takes whole numbers of tokens, got '4_096'"),
        (["hw", "port", "h100-sxm", "--to", "n2", "--sram-mb", "1e3"],
         "argument --sram-mb: not a plain decimal number: '1e3'"),
        (["eval", "--data", "x.json", "--folds", "1e3"],
         "--folds must be a whole number or 'task', got '1e3'"),
    ],
)
def test_a_number_not_in_plain_notation_is_refused_quoting_what_was_typed(
    capsys, ledger, argv, message
):
    extra = ["--ledger", ledger] if argv[0] == "ledger" else []
    code, out, err = run_to_the_end(capsys, *argv, *extra)

    assert (code, out) == (2, "")
    assert message in err


def test_a_status_window_is_stated_in_plain_notation(capsys, ledger):
    assert main(["ledger", "record", "--scope", "s", "--model", "gpt-4o", "--input", "5",
                 "--ledger", ledger]) == 0
    capsys.readouterr()

    code, out, _ = run_to_the_end(capsys, "ledger", "status", "--scope", "s", "--window",
                                  "0.0003", "--ledger", ledger)

    assert code == 0 and "in the last 0.0003 h" in out


# ---- removing a limit, and RFC 3339 times ----


def test_a_limit_is_removed_with_remove_and_its_spend_kept(capsys, ledger):
    assert main(["ledger", "record", "--scope", "s", "--model", "gpt-4o", "--input", "1000",
                 "--ledger", ledger]) == 0
    assert main(["ledger", "limit", "--scope", "s", "--usd", "0.001", "--ledger", ledger]) == 0
    capsys.readouterr()

    assert run(capsys, "ledger", "limit", "--scope", "s", "--remove", "--ledger", ledger) == (
        0, "s: limit removed; its spend is kept\n", "")
    assert run(capsys, "ledger", "limit", "--scope", "s", "--remove", "--ledger", ledger) == (
        0, "s: had no limit; nothing changed\n", "")
    code, out, _ = run(capsys, "ledger", "status", "--scope", "s", "--ledger", ledger)
    assert code == 0 and "no limit set" in out and "1 call recorded" in out

    with pytest.raises(SystemExit):
        main(["ledger", "limit", "--scope", "s", "--remove", "--usd", "1", "--ledger", ledger])
    assert "argument --usd: not allowed with argument --remove" in capsys.readouterr().err


def test_a_limit_of_a_fraction_of_a_cent_is_printed_as_set(capsys, ledger):
    assert run(capsys, "ledger", "limit", "--scope", "s", "--usd", "1.005", "--ledger",
               ledger) == (0, "s: hard limit $1.005\n", "")
    code, out, _ = run(capsys, "ledger", "status", "--scope", "s", "--ledger", ledger)
    assert code == 0 and "  hard limit $1.005: $1.005 left\n" in out


def test_a_decision_id_copied_in_upper_case_is_recorded_as_route_writes_it(capsys, ledger):
    code, out, _ = run(capsys, "ledger", "record", "--scope", "s", "--model", "gpt-4o",
                       "--input", "10", "--decision-id", "d-0BF26A0123456789ABCDEF01",
                       "--ledger", ledger, "--json")

    assert code == 0 and json.loads(out)["decision_id"] == "d-0bf26a0123456789abcdef01"
    code, _, err = run(capsys, "ledger", "record", "--scope", "s", "--model", "gpt-4o",
                       "--input", "10", "--decision-id", "d-0BF26A0123456789ABCDEF0G",
                       "--ledger", ledger)
    assert code == 2 and "--decision-id must be a route_task decision id ('d-' and 24 hex " in err


def test_ledger_limit_help_says_what_it_does(capsys):
    with pytest.raises(SystemExit):
        main(["ledger", "limit", "--help"])
    out = capsys.readouterr().out
    assert "Set a scope's spending limit, replacing its earlier one" in out
    assert "--remove" in out


def test_a_record_time_may_use_a_lower_case_t_and_z(capsys, ledger):
    moment = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1))
    typed = moment.strftime("%Y-%m-%dt%H:%M:%Sz")
    code, out, err = run(capsys, "ledger", "record", "--scope", "s", "--model", "gpt-4o",
                         "--input", "5", "--at", typed, "--ledger", ledger, "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)["recorded_at"] == moment.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
