"""`shoal budget`, `shoal cost` and `shoal models` through ``shoal.cli.main``: what they refuse,
how they word it, and that the README shows what they print."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import pytest

from shoal import budget, cli
from shoal.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
# The catalog lists claude-sonnet-4-5 as retired on the tests' date (conftest.TEST_TODAY).
SONNET_4_5_RETIRED = ("claude-sonnet-4-5 was retired on 2026-11-30 per the catalog; its prices "
                      "may no longer apply")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


# ---- shoal budget -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "document", "message"),
    [
        ("fit", [1, 2], "items file: {path}: items[0] must be an object with an id and a text or "
                        "path (a dict or BudgetItem), got 1"),
        ("fit", [{"text": "x"}], "items file: {path}: items[0] has no 'id'; every item needs a "
                                 "unique id"),
        ("fit", [{"id": "a", "text": "x", "priority": "high"}],
         "items file: {path}: item 'a': priority must be a number, got 'high'"),
        ("fit", {"id": "a", "text": "x"}, "items file: {path}: must hold a JSON list of items"),
        ("fit", [{"id": "a"}], "items file: {path}: item 'a' gives neither text nor path; give "
                               "exactly one of text and path"),
        ("fit", [{"id": "a", "path": ""}], "items file: {path}: item 'a': path is empty; name a "
                                           "file"),
        ("trim", [1, "x", None],
         "messages file: {path}: messages[0] must be an object with a role, got int 1"),
        ("trim", [{"role": "wizard", "content": "x"}],
         "messages file: {path}: messages[0] has the unknown role 'wizard'; the roles are system, "
         "developer, user, assistant, tool, function"),
        ("trim", {"role": "user"}, "messages file: {path}: a chat request needs a 'messages' "
                                   "list, and its keys are 'role'"),
        ("trim", [{"role": "user", "content": 5}],
         "messages file: {path}: messages[0]['content'] must be a string, not a number"),
    ],
)
def test_budget_names_the_file_and_the_item_of_a_malformed_file(
    action: str, document: object, message: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = _write(tmp_path / "input.json", document)

    code, out, err = _run(capsys, "budget", action, str(path), "--model", "gpt-4o",
                          "--budget", "100")

    assert (code, out) == (2, "")
    assert err == f"shoal budget {action}: error: {message.format(path=path)}\n"


def test_budget_trim_reads_a_chat_request_as_count_chat_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    tools = [{"type": "function", "function": {"name": "lookup", "description": "Find a fact."}}]
    request = _write(tmp_path / "request.json", {"messages": messages, "tools": tools})
    bare = _write(tmp_path / "bare.json", messages)

    code, out, err = _run(capsys, "count", "--chat", str(request), "--json")
    assert (code, err) == (0, "")
    counted = json.loads(out)

    code, out, err = _run(capsys, "budget", "trim", str(request), "--model", "gpt-4o",
                          "--budget", "1000", "--json")
    assert (code, err) == (0, "")
    trimmed = json.loads(out)
    assert trimmed["kept"] == [0, 1]
    assert (trimmed["tokens"], trimmed["tool_tokens"]) == (counted["tokens"],
                                                          counted["tool_tokens"])

    code, out, _ = _run(capsys, "budget", "trim", str(bare), "--model", "gpt-4o",
                        "--budget", "1000", "--json")
    assert code == 0
    assert json.loads(out)["tokens"] == counted["tokens"] - counted["tool_tokens"]


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        (b'[{"id": "a", "text": 5}]', ": item 'a': text must be a string, got 5"),
        (b"x", ": not valid JSON (line 1, column 1: Expecting value)"),
        (b"\xff", " is not UTF-8 text (byte 0xFF at offset 0)"),
        (b"[]", " holds no items and no --file is given: nothing to fit"),
        (b"{}", ": must hold a JSON list of items"),
    ],
)
def test_budget_fit_reads_items_from_stdin_and_names_stdin_in_errors_one_way(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], given: bytes,
    problem: str,
) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(given)))

    code, _, err = _run(capsys, "budget", "fit", "-", "--model", "gpt-4o", "--budget", "100")

    assert code == 2
    assert err == f"shoal budget fit: error: items file: standard input{problem}\n"


def test_budget_fit_cuts_below_the_default_minimum_only_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "small.txt").write_text("hello world", encoding="utf-8")
    path = _write(tmp_path / "items.json", [
        {"id": "best", "text": "The quick brown fox jumps over the lazy dog again", "priority": 5},
        {"id": "file", "path": "small.txt", "priority": 1},
    ])
    argv = ["budget", "fit", str(path), "--model", "gpt-4o", "--budget", "8", "--truncate-last",
            "--root", str(tmp_path)]

    code, out, _ = _run(capsys, *argv)
    assert code == 0
    assert ("dropped   best: 10 tokens; rank 1 by priority per token; 10 tokens do not fit in "
            "the 8 left; not cut: 6 tokens of it would fit, fewer than --min-truncated-tokens "
            "(32)") in out

    code, out, _ = _run(capsys, *argv, "--min-truncated-tokens", "7", "--json")
    reasons = [item["reason"] for item in json.loads(out)["items"]]
    assert code == 0 and "fewer than --min-truncated-tokens (7)" in reasons[0]

    code, out, _ = _run(capsys, *argv, "--min-truncated-tokens", "4")
    assert code == 0 and "truncated best: 6 of 10 tokens" in out

    code, _, err = _run(capsys, *[word for word in argv if word != "--truncate-last"],
                        "--min-truncated-tokens", "4")
    assert code == 2 and "--min-truncated-tokens goes with --truncate-last" in err


def test_budget_fit_takes_a_relative_file_from_the_current_folder_not_the_first_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text("a guide", encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.md").write_text("some notes", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("password", encoding="utf-8")
    monkeypatch.chdir(work)
    fit = ["budget", "fit", "--model", "gpt-4o", "--budget", "100", "--json"]

    code, out, err = _run(capsys, *fit, "--file", "../docs/guide.md", "--file", "notes.md",
                          "--root", "..")

    assert (code, err) == (0, "")
    items = json.loads(out)["items"]
    assert [(item["id"], item["source"]) for item in items] == [
        ("../docs/guide.md", str(tmp_path / "docs" / "guide.md")),
        ("notes.md", str(work / "notes.md")),
    ]

    # Inside no --root: the error gives the path as typed and where it leads.
    code, out, err = _run(capsys, *fit, "--file", "../secret.txt", "--root", ".")
    assert (code, out) == (2, "")
    assert err == (f"shoal budget fit: error: item '../secret.txt': '{tmp_path / 'secret.txt'}' is "
                   f"outside the allowed directories ({work})\n")


def test_budget_fit_names_a_file_the_file_system_cannot_take_and_ids_a_long_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = Path(*["folder-of-twenty-one"] * 12, "notes.md")  # 257 characters, a real file
    (tmp_path / deep).parent.mkdir(parents=True)
    (tmp_path / deep).write_text("some notes", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    fit = ["budget", "fit", "--model", "gpt-4o", "--budget", "100"]

    code, out, err = _run(capsys, *fit, "--json", "--file", str(deep))
    assert (code, err) == (0, "")
    [item] = json.loads(out)["items"]
    assert item["source"] == str(tmp_path / deep) and len(item["id"]) == budget.MAX_ID_LENGTH - 1
    assert item["id"].startswith("folder-of-twenty-one/") and item["id"].endswith("/notes.md")

    code, out, err = _run(capsys, *fit, "--file", "é" * 150)  # 300 bytes, past NAME_MAX
    assert (code, out) == (2, "")
    assert err.startswith(f"shoal budget fit: error: item '{'é' * 150}': cannot read '/")
    assert err.endswith("éééé': File name too long\n")

    code, out, err = _run(capsys, *fit, "--file", "notes.md", "--root", "r" * 300)
    assert (code, out) == (2, "")
    assert err == (f"shoal budget fit: error: --root '{'r' * 47}...{'r' * 48}' cannot be read "
                   "(File name too long): files are read only from folders\n")


def test_budget_fit_says_the_file_limit_is_fixed_rather_than_name_an_option_it_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as sparse:
        sparse.truncate(budget.MAX_FILE_BYTES + 1)

    code, out, err = _run(capsys, "budget", "fit", "--file", str(huge), "--model", "gpt-4o",
                          "--budget", "100", "--root", str(tmp_path))

    assert (code, out) == (2, "")
    assert err == (f"shoal budget fit: error: item '{huge}': cannot read '{huge}': too large: "
                   "20,000,001 bytes, over the 20,000,000-byte limit (a fixed limit for file "
                   "items: split the file into parts with shoal split --out-dir and name those, "
                   "or give a part of it as a text item)\n")


def test_budget_help_says_file_and_the_default_minimum_cut(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["budget", "fit", "--help"])
    fit_help = " ".join(capsys.readouterr().out.split())
    with pytest.raises(SystemExit):
        main(["budget", "trim", "--help"])
    trim_help = " ".join(capsys.readouterr().out.split())

    assert "ITEMS_FILE a file holding a JSON list of items" in fit_help
    assert ("a relative path starts at the current folder and ~ at the home folder, as in the "
            "shell") in fit_help
    assert "an empty text beside a path (or an empty path beside a text) counts as not given" \
        in fit_help
    assert "a relative path in ITEMS_FILE starts at the first" in fit_help
    assert "CHAT_FILE a file holding a JSON list of chat messages" in trim_help
    assert f"(default: {budget.DEFAULT_MIN_TRUNCATED_TOKENS})" in fit_help
    assert "--ledger" not in fit_help and "--ledger" not in trim_help


@pytest.mark.parametrize("action", ["fit", "trim"])
def test_budget_refuses_a_ledger_it_would_not_use(
    action: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path / "in.json", [])
    with pytest.raises(SystemExit) as exit_info:
        main(["budget", action, str(path), "--model", "gpt-4o", "--budget", "10",
              "--ledger", str(tmp_path / "ledger.sqlite3")])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --ledger" in capsys.readouterr().err


# ---- the safety net in main -------------------------------------------------------------------


@pytest.mark.parametrize("error", [TypeError("a list, not an int"), OverflowError("too large")])
def test_a_type_or_overflow_error_from_a_handler_is_an_error_with_the_traceback_in_the_log(
    error: Exception, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    def failing(args: object) -> int:
        raise error

    monkeypatch.setattr(cli, "_models", failing)
    caplog.set_level(logging.DEBUG, logger="shoal.cli")

    code, out, err = _run(capsys, "-v", "models")

    assert (code, out, err) == (2, "", f"shoal models: error: {error}\n")
    [record] = [r for r in caplog.records if r.name == "shoal.cli" and r.exc_info]
    assert record.levelno == logging.DEBUG and record.exc_info[1] is error


# ---- shoal models -----------------------------------------------------------------------------


def test_models_refuses_an_unknown_provider_and_lists_the_known_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = _run(capsys, "models", "--provider", "nope")

    assert (code, out) == (2, "")
    assert err.startswith("shoal models: error: no provider 'nope' in the catalog; the providers "
                          "are anthropic, ")
    assert "openai" in err
    assert _run(capsys, "models", "--provider", "OpenAI")[0] == 0


def test_models_leaves_out_the_retired_and_counts_them(capsys: pytest.CaptureFixture[str]) -> None:
    from shoal.catalog import load_catalog, retired

    retired_ids = [entry.id for entry in load_catalog() if retired(entry)]
    code, out, _ = _run(capsys, "models")
    listed = [line.split()[0] for line in out.splitlines()[1:-1]]

    assert code == 0 and retired_ids and "claude-sonnet-4-5" in retired_ids
    assert not set(retired_ids) & set(listed)
    assert out.splitlines()[-1].endswith(
        f"; {len(retired_ids)} retired by 2026-12-05 left out (--include-retired lists them)")

    code, out, _ = _run(capsys, "models", "--include-retired")
    lines = {line.split()[0]: line for line in out.splitlines()[1:-1]}
    assert code == 0 and len(lines) == len(load_catalog())
    assert lines["claude-sonnet-4-5"].endswith("retired 2026-11-30")
    assert lines["gpt-4o"].endswith("retires 2027-01-14")
    assert "left out" not in out.splitlines()[-1]


def test_models_judges_retirement_on_shoal_today_and_refuses_a_malformed_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHOAL_TODAY", "2026-12-12")
    out = _run(capsys, "models", "--include-retired")[1]
    assert "gpt-5-mini" in out and "retired 2026-12-11" in out
    assert "gpt-5-mini" not in _run(capsys, "models")[1]

    monkeypatch.setenv("SHOAL_TODAY", "garbage")
    code, out, err = _run(capsys, "models")
    assert (code, out) == (2, "")
    assert err == ("shoal models: error: SHOAL_TODAY must be a date like 2026-12-05, got "
                   "'garbage'; unset it to use today's\n")


def test_models_json_says_which_are_retired_and_on_what_day(
    capsys: pytest.CaptureFixture[str],
) -> None:
    document = json.loads(_run(capsys, "models", "--json", "--include-retired")[1])
    rows = {row["id"]: row for row in document["models"]}

    assert document["retirements_judged_on"] == "2026-12-05"
    assert document["retired_left_out"] == 0
    assert rows["claude-sonnet-4-5"]["retired"] is True and rows["gpt-4o"]["retired"] is False

    current = json.loads(_run(capsys, "models", "--json")[1])
    assert not any(row["retired"] for row in current["models"])
    assert current["retired_left_out"] == len(rows) - len(current["models"]) > 0


def test_models_reads_retirement_from_the_price_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHOAL_PRICES", "")  # --prices sets it; put it back after
    prices = _write(tmp_path / "prices.json",
                    {"models": [{"id": "gpt-4o", "deprecation_date": "2026-12-01"}]})

    assert "gpt-4o " in _run(capsys, "models")[1]
    out = _run(capsys, "models", "--prices", str(prices), "--include-retired")[1]
    assert next(line for line in out.splitlines() if line.startswith("gpt-4o ")).endswith(
        "retired 2026-12-01")
    assert "gpt-4o " not in _run(capsys, "models", "--prices", str(prices))[1]


def test_models_takes_several_providers(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "models", "--provider", "openai", "--provider", "Anthropic",
                        "--include-retired")
    providers = {line.split()[1] for line in out.splitlines()[1:-1]}

    assert code == 0 and providers == {"openai", "anthropic"}
    code, _, err = _run(capsys, "models", "--provider", "openai", "--provider", "nope")
    assert code == 2 and "no provider 'nope' in the catalog" in err


# ---- shoal cost -------------------------------------------------------------------------------


@pytest.mark.parametrize("models", [["gpt-4o"], ["--compare", "gpt-4o,gpt-4.1-mini"]])
@pytest.mark.parametrize("extra", [[], ["--calls", "3"]])
def test_cost_without_token_counts_is_refused(
    models: list[str], extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "cost", *models, *extra)

    assert (code, out) == (2, "")
    assert err == ("shoal cost: error: give the tokens to price: --input, --output, --cached, "
                   "--cache-write or --reasoning (or --plan FILE)\n")


@pytest.mark.parametrize(
    "argv",
    [
        ["gpt-4o", "--output", "0"],
        ["--compare", "gpt-4o,gpt-4.1", "--input", "0"],
        ["gpt-4o", "--input", "0", "--reasoning", "0", "--calls", "3"],
    ],
)
def test_cost_with_only_zero_token_counts_is_refused_by_the_pricing_under_the_options(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "cost", *argv)

    assert (code, out) == (2, "")
    assert err == ("shoal cost: error: give the tokens to price: --input, --output, --cached, "
                   "--cache-write and --reasoning are all 0, so every call would be priced $0\n")


def test_cost_of_a_plan_of_no_tokens_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _write(tmp_path / "plan.json", [{"input_tokens": 0}, {"calls": 2}])

    code, out, err = _run(capsys, "cost", "gpt-4o", "--plan", str(plan))

    assert (code, out) == (2, "")
    assert err.endswith("are all 0 in every step, so the plan would be priced $0\n")


# Each refusal of what a plan holds, after "--plan FILE: ".
PLAN_REFUSALS = [
    ('[{"input_tokens": 100, "input_tokens": 200}]',
     "plan step 1: the field 'input_tokens' is given more than once; give each field once (only "
     "the last would be read)"),
    ('[{"input_tokens": 5}, {"calls": 2, "output_tokens": 1, "calls": 3}]',
     "plan step 2: the field 'calls' is given more than once; give each field once (only the "
     "last would be read)"),
    ('[{"input_tokens": -1}]', "plan step 1: input_tokens must be at least 0, got -1"),
    ('[{"input_tokens": 5, "calls": 0}]', "plan step 1: calls must be at least 1, got 0"),
    ('[{"input_tokens": 0}, {"calls": 2}]',
     "give the tokens to price: input_tokens, output_tokens, cached_input_tokens, "
     "cache_write_tokens and reasoning_tokens are all 0 in every step, so the plan would be "
     "priced $0"),
    ('[{"input_tokens": 5, "cached_input_tokens": 10}]',
     "plan step 1: cached_input_tokens (10) plus cache_write_tokens (0) must not exceed "
     "input_tokens (5); they are parts of the prompt"),
    ('[{"inputs": 5}]', "plan step 1 has unknown keys ['inputs']; use input_tokens, "
     "output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, calls"),
    ("[]", "plan must have at least one step"),
    ('{"input_tokens": 5}', "the plan must be a JSON list of steps, each an object of token "
     "counts"),
]


@pytest.mark.parametrize(("plan", "problem"), PLAN_REFUSALS)
@pytest.mark.parametrize("models", [["gpt-4o"], ["--compare", "gpt-4o,gpt-4.1-mini"]])
def test_every_refusal_of_a_plan_names_the_plan_file(
    plan: str, problem: str, models: list[str], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "plan.json"
    path.write_text(plan, encoding="utf-8")

    code, out, err = _run(capsys, "cost", *models, "--plan", str(path))

    assert (code, out) == (2, "")
    assert err == f"shoal cost: error: --plan {path}: {problem}\n"


@pytest.mark.parametrize(("plan", "problem"), PLAN_REFUSALS)
def test_every_refusal_of_a_plan_on_standard_input_names_standard_input(
    plan: str, problem: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(plan.encode())))

    code, out, err = _run(capsys, "cost", "gpt-4o", "--plan", "-")

    assert (code, out) == (2, "")
    assert err == f"shoal cost: error: --plan standard input: {problem}\n"


@pytest.mark.parametrize("steps", [10, 10_000])
def test_a_plan_of_many_alike_steps_prints_each_note_once(
    steps: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    step = {"input_tokens": 8_000, "output_tokens": 100, "reasoning_tokens": 5_000}
    path = _write(tmp_path / "plan.json", [step] * steps)

    code, out, _ = _run(capsys, "cost", "gpt-4", "--plan", str(path))
    compared_code, compared, _ = _run(capsys, "cost", "--compare", "gpt-4,gpt-4o", "--plan",
                                      str(path))

    # A note per kind (the retirement, the context window, the output limit, reasoning priced
    # as output), not one per step and kind: 30,000 lines for 10,000 steps.
    notes = [line for line in out.splitlines() if line.startswith("  note: ")]
    assert code == compared_code == 0
    assert len(notes) == 4
    assert all(f"steps 1-{steps:,}: " in note for note in notes[1:])
    assert notes[3] == (f"  note: steps 1-{steps:,}: gpt-4 is not listed as a reasoning model; "
                        "reasoning tokens priced as output anyway")
    assert len([line for line in compared.splitlines() if "note: " in line]) <= 8


def test_a_mistyped_model_is_not_blamed_on_the_plan_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _write(tmp_path / "plan.json", [{"input_tokens": 10}])

    code, _, err = _run(capsys, "cost", "gpt-4oo", "--plan", str(plan))

    assert code == 2
    assert err.startswith("shoal cost: error: unknown model 'gpt-4oo'")


@pytest.mark.parametrize(("sign", "bound"), [("", "at most 100,000,000"), ("-", "at least 0")])
def test_a_count_of_thousands_of_digits_in_a_plan_is_out_of_range_in_a_short_error(
    sign: str, bound: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "plan.json"
    path.write_text(f'[{{"input_tokens": {sign}1{"0" * 5000}}}]', encoding="utf-8")

    code, _, err = _run(capsys, "cost", "gpt-4o", "--plan", str(path))

    # A whole number too long for a float is too large, not "a float that is not finite".
    units = "; check the units" if not sign else ""
    assert code == 2
    assert err == (f"shoal cost: error: --plan {path}: plan step 1: input_tokens must be {bound}, "
                   f"got {sign}1e+5000{units}\n")


def test_a_plan_key_of_megabytes_is_named_by_an_excerpt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    step = {"k" * 1_000_000: 1, **{name: 1 for name in "abcdef"}}
    plan = _write(tmp_path / "plan.json", [step])

    code, _, err = _run(capsys, "cost", "gpt-4o", "--plan", str(plan))

    assert code == 2 and len(err) < 400
    assert "plan step 1 has unknown keys ['a', 'b', 'c', 'd', 'e' and 2 more]; use" in err


def test_budget_fit_refuses_an_item_that_gives_a_field_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "items.json"
    path.write_text('[{"id": "a", "text": "hi", "text": "a much longer text"}]',
                    encoding="utf-8")

    code, out, err = _run(capsys, "budget", "fit", str(path), "--model", "gpt-4o",
                          "--budget", "100")

    assert (code, out) == (2, "")
    assert err == (f"shoal budget fit: error: items file: {path}: items[0]: the field 'text' is "
                   "given more than once; give each field once (only the last would be read)\n")


def test_cost_with_one_count_above_zero_prices(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "cost", "gpt-4o", "--input", "0", "--output", "1")
    # A hundred-thousandth of a dollar, in figures rather than scientific notation ($1e-05).
    assert code == 0 and out.startswith("gpt-4o: $0.00001 (")


@pytest.mark.parametrize("plan", [False, True])
def test_cost_compare_refuses_a_model_named_twice_by_two_spellings(
    plan: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workload = (["--plan", str(_write(tmp_path / "plan.json", [{"input_tokens": 10}]))] if plan
                else ["--input", "10"])

    code, out, err = _run(capsys, "cost", "--compare", "gpt-4o,openai/gpt-4o", *workload)

    assert (code, out) == (2, "")
    assert err == ("shoal cost: error: --compare names gpt-4o (as 'gpt-4o' and 'openai/gpt-4o') "
                   "more than once; list each model once\n")


def test_cost_refuses_per_call_options_with_a_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _write(tmp_path / "plan.json", [{"input_tokens": 500}])

    code, out, err = _run(capsys, "cost", "gpt-4o", "--plan", str(plan), "--input", "5",
                          "--calls", "2")

    assert (code, out) == (2, "")
    assert err == "shoal cost: error: --plan gives every call's tokens; drop --input, --calls\n"
    assert _run(capsys, "cost", "gpt-4o", "--plan", str(plan))[0] == 0


def test_cost_gives_the_date_and_file_of_prices_a_user_file_sets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHOAL_PRICES", "")  # --prices sets it; put it back after
    prices = _write(tmp_path / "prices.json", {"models": [
        {"id": "gpt-4o", "input_per_mtok": 2.0, "output_per_mtok": 8.0, "as_of": "2026-11-30"},
    ]})
    plan = _write(tmp_path / "plan.json", [{"input_tokens": 1000}])
    priced = ["--prices", str(prices)]

    code, out, _ = _run(capsys, "cost", "gpt-4o", "--input", "1000", *priced)
    assert code == 0
    assert out.splitlines()[0] == "gpt-4o: $0.002 (prices of 2026-11-30 from user file prices.json)"

    code, out, _ = _run(capsys, "cost", "gpt-4o", "--plan", str(plan), *priced, "--json")
    estimate = json.loads(out)
    assert code == 0
    assert (estimate["prices_as_of"], estimate["price_file"]) == ("2026-11-30", "prices.json")
    assert estimate["catalog_date"] == "2026-12-04"

    code, out, _ = _run(capsys, "cost", "--compare", "gpt-4o,gpt-4.1-mini", "--input", "1000",
                        *priced, "--json")
    dates = {row["model"]: (row["estimate"]["prices_as_of"], row["estimate"]["price_file"])
             for row in json.loads(out)}
    assert code == 0
    assert dates == {"gpt-4o": ("2026-11-30", "prices.json"),
                     "gpt-4.1-mini": ("2026-12-04", None)}


def test_a_dearer_model_costs_more_instead_of_saving_a_negative_amount(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = _run(capsys, "cost", "--compare", "gpt-4o,claude-sonnet-4-5", "--baseline",
                        "gpt-4o", "--input", "12000", "--output", "800")

    assert code == 0
    assert out.splitlines() == [
        "gpt-4o: $0.038 (the baseline)",
        "claude-sonnet-4-5: $0.048, costs $0.01 (26%) more than gpt-4o",
        f"  note: {SONNET_4_5_RETIRED}",
    ]


def test_the_readme_cost_comparison_is_what_the_command_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    block = re.search(r"```\n\$ shoal (cost --compare .*?)\n(.*?)```", README.read_text("utf-8"),
                      re.DOTALL)
    assert block is not None
    command, printed = block.group(1).split(), block.group(2)

    code, out, _ = _run(capsys, *command)

    assert code == 0 and out == printed


def test_a_comparison_carries_each_model_s_notes_and_a_baseline_not_compared(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = _run(capsys, "cost", "--compare", "gpt-4o,claude-sonnet-4-5", "--baseline",
                        "gemini-2.5-pro", "--input", "1000", "--cache-write", "500")

    assert code == 0
    assert out.splitlines() == [
        "gpt-4o: $0.0025, costs $0.00125 (100%) more than gemini-2.5-pro",
        "  note: gpt-4o lists no cache-write rate; cache writes priced as input",
        # $0.003375 and $0.002125 exactly, rounded half to even.
        "claude-sonnet-4-5: $0.00338, costs $0.00212 (170%) more than gemini-2.5-pro",
        f"  note: {SONNET_4_5_RETIRED}",
        "baseline gemini-2.5-pro: $0.00125 (not one of the compared models)",
        "  note: gemini-2.5-pro was retired on 2026-12-01 per the catalog; its prices may no "
        "longer apply",
        "  note: gemini-2.5-pro lists no cache-write rate; cache writes priced as input",
    ]


@pytest.mark.parametrize("baseline", ["gpt-5", "gpt-4o"])
def test_a_comparison_in_json_gives_the_baseline_s_total_as_the_text_does(
    baseline: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _write(tmp_path / "plan.json", [{"input_tokens": 12_000, "output_tokens": 800}])
    for workload in (["--input", "12000", "--output", "800"], ["--plan", str(plan)]):
        compared = ["cost", "--compare", "gpt-4o,gpt-4.1-mini", "--baseline", baseline,
                    *workload]
        code, out, _ = _run(capsys, *compared, "--json")
        rows = json.loads(out)
        assert code == 0

        # gpt-5: 12,000 x $1.25/Mtok + 800 x $10/Mtok; gpt-4o: x $2.50 and x $10.
        total = {"gpt-5": 0.023, "gpt-4o": 0.038}[baseline]
        assert [row["baseline_total_usd"] for row in rows] == [total, total]
        for row in rows:
            assert row["baseline_total_usd"] == pytest.approx(row["total_usd"]
                                                              + row["savings_usd"])
        assert _run(capsys, *compared)[1].count("$0.023 (not one of the compared models)") == (
            baseline == "gpt-5")

    code, out, _ = _run(capsys, "cost", "--compare", "gpt-4o,gpt-4.1-mini", "--input", "5",
                        "--json")
    assert code == 0 and [row["baseline_total_usd"] for row in json.loads(out)] == [None, None]


def test_json_money_figures_carry_no_float_noise(capsys: pytest.CaptureFixture[str]) -> None:
    # 1,000 x $2.5/Mtok + 200 x $10/Mtok sums to 0.0045000000000000005 in binary floating point.
    code, out, _ = _run(capsys, "cost", "gpt-4o", "--input", "1000", "--output", "200", "--json")

    estimate = json.loads(out)
    assert code == 0
    assert estimate["total_usd"] == 0.0045 and '"total_usd": 0.0045\n' in out
    assert [line["usd"] for line in estimate["line_items"]] == [0.0025, 0.002]


@pytest.mark.parametrize("command", [("cost",), ("ledger", "record")])
def test_the_help_says_reasoning_is_charged_on_top_of_output(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    text = " ".join(capsys.readouterr().out.split())

    assert ("--reasoning is charged on top, so from an OpenAI usage report give "
            "completion_tokens minus reasoning_tokens") in text
    assert "charged at the output rate on top of --output" in text
    assert text.count("counted in --input too") == 2  # --cached and --cache-write


def test_a_budget_plan_on_a_retired_model_says_so_in_its_text(
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    # The note was in --json's cost.notes only.
    path = _write(tmp_path / "items.json", [{"id": "a", "text": "hello there"}])

    code, out, _ = _run(capsys, "budget", "fit", str(path), "--model", "claude-sonnet-4-5",
                        "--budget", "100")

    assert code == 0
    assert out.splitlines()[-1] == ("  note: claude-sonnet-4-5 was retired on 2026-11-30 per the "
                                    "catalog; its prices may no longer apply")


def test_a_plan_over_the_step_limit_says_how_to_shorten_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps([{"input_tokens": 10}] * 10_001), encoding="utf-8")

    assert main(["cost", "gpt-4o", "--plan", str(plan)]) == 2
    assert capsys.readouterr().err == (
        f"shoal cost: error: --plan {plan}: plan must have at most 10,000 steps, got 10,001; give "
        "identical steps once with a 'calls' count, or split the plan\n")
