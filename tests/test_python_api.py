"""The Python API: every MCP tool's function importable from ``shoal``, and the README's examples
run as doctests so that they cannot drift from what the code prints."""

from __future__ import annotations

import dataclasses
import doctest
import inspect
import re
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import shoal
from shoal.server import build_server
from shoal.server_policy import registered_tools

README = Path(__file__).parent.parent / "README.md"

# MCP tool -> the function in `shoal` that does its work.
TOOL_FUNCTIONS = {
    "count_tokens": "count_tokens",
    "count_chat_tokens": "count_chat",
    "truncate_text": "truncate",
    "split_text": "split_chunks",
    "count_files": "count_files",
    "route_task": "route",
    "scan_private_data": "scan_text",
    "record_outcome": "record_outcome",
    "estimate_cost": "estimate_cost",
    "compare_costs": "compare_costs",
    "check_hardware_fit": "hardware_fit",
    "port_chip": "port_chip",
    "sweep_hardware": "pareto_front",
    "fit_budget": "fit_budget",
    "trim_chat": "trim_chat",
    "record_usage": "record_usage",
    "set_budget_limit": "set_limit",
    "budget_status": "budget_status",
    "savings_report": "savings_report",
}


def test_every_tool_has_a_function_importable_from_shoal() -> None:
    tools = {tool.name for tool in registered_tools(build_server())}

    assert tools == set(TOOL_FUNCTIONS)
    for name in TOOL_FUNCTIONS.values():
        assert name in shoal.__all__
        function = getattr(shoal, name)
        assert inspect.isfunction(function) and function.__doc__, name


def test_the_readme_names_every_tool_function_that_returns_no_frozen_dataclass() -> None:
    text = README.read_text(encoding="utf-8")
    opening = " ".join(text.split("## Python API\n", 1)[1].strip().split("\n\n", 1)[0].split())
    functions = {*TOOL_FUNCTIONS.values(), "redact"}

    others = set()
    for name in functions:
        returned = typing.get_type_hints(getattr(shoal, name))["return"]
        if not (dataclasses.is_dataclass(returned) and returned.__dataclass_params__.frozen):
            others.add(name)

    assert others
    assert "Each returns a frozen dataclass except" in opening
    assert set(re.findall(r"`(\w+)` \(", opening)) == others


# Modules of the command line and the build whose errors never reach a caller of the library.
COMMAND_LINE_MODULES = ("shoal.batch_cli", "shoal.hardware_cli", "shoal._build.routing_data",
                        "shoal._build.crate_licenses", "shoal._pure.tokens", "shoal.cli")


def _shoal_error_classes() -> set[type[BaseException]]:
    """Every error class of shoal's library modules (imported by now through the exports)."""
    import sys

    found: set[type[BaseException]] = set()
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith("shoal") or module_name in COMMAND_LINE_MODULES:
            continue
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, BaseException)
                    and value.__module__ == module_name):
                found.add(value)
    return found


def test_every_error_class_is_a_shoal_error_and_a_value_error_exported_from_shoal() -> None:
    exported = {getattr(shoal, name) for name in shoal.__all__ if name.endswith("Error")}
    defined = _shoal_error_classes()

    assert shoal.ShoalError in exported and shoal.InputError in exported
    assert defined == exported
    for error in exported - {shoal.ShoalError}:
        # A damaged install is a file that cannot be used, as an unreadable one is.
        base = OSError if error is shoal.DamagedInstallError else ValueError
        assert issubclass(error, shoal.ShoalError) and issubclass(error, base), error


def test_every_error_class_the_readme_names_is_importable_from_shoal() -> None:
    text = README.read_text(encoding="utf-8")
    named = set(re.findall(r"`(\w+Error)`", text)) - {"ValueError", "TypeError", "OSError"}

    assert {"ShoalError", "InputError", "UnknownModelError", "BudgetExceededError"} <= named
    assert named == {name for name in shoal.__all__ if name.endswith("Error")}
    with pytest.raises(shoal.RoutingError):
        shoal.route("hello", willingness_to_pay=0)


def test_refusals_of_plain_arguments_are_shoal_errors(tmp_path: Path) -> None:
    with pytest.raises(shoal.LedgerError, match="only postgresql:// URLs or SQLite file paths"):
        shoal.budget_status("s", ledger="http://127.0.0.1:1/x")
    with pytest.raises(shoal.InputError, match="window_hours"):
        shoal.budget_status("s", window_hours=-1, ledger=tmp_path / "ledger.sqlite3")
    with pytest.raises(shoal.ShoalError, match="max_tokens"):
        shoal.truncate("hello", max_tokens=-1)
    with pytest.raises(shoal.ShoalError, match="unknown encoding 'nope'"):
        shoal.count_tokens("hello", encoding="nope")
    with pytest.raises(shoal.InputError, match=r"history\[0\]: content is missing"):
        shoal.scan_conversation("hello", [{"role": "user"}])
    # The cores refuse these with plain ValueErrors; the library passes them on as its own.
    with pytest.raises(shoal.InputError, match="token id -1 is not defined"):
        shoal.decode([-1])
    for refused in (shoal.encode, shoal.count_tokens, shoal.scan_text):
        with pytest.raises(shoal.InputError, match="unpaired surrogate at index 1"):
            refused("a\ud800")


def test_every_exported_name_resolves_and_unknown_names_are_attribute_errors() -> None:
    for name in shoal.__all__:
        assert getattr(shoal, name) is not None

    with pytest.raises(AttributeError, match="no attribute 'fit_budgets'"):
        shoal.fit_budgets  # noqa: B018 - the lookup is the test


def test_dir_and_tab_completion_list_the_names_that_load_on_first_use() -> None:
    import rlcompleter

    completer = rlcompleter.Completer({"shoal": shoal})

    assert set(shoal.__all__) <= set(dir(shoal))
    assert {"__version__", "__doc__", "BACKEND"} <= set(dir(shoal))
    assert dir(shoal) == sorted(dir(shoal))
    assert completer.complete("shoal.fit_r", 0) == "shoal.fit_router("
    assert completer.complete("shoal.load_r", 0) == "shoal.load_router("


def test_readme_python_examples(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SHOAL_LEDGER", str(tmp_path / "ledger.sqlite3"))
    monkeypatch.setenv("SHOAL_FEEDBACK_DB", str(tmp_path / "feedback.sqlite3"))
    text = README.read_text(encoding="utf-8")
    examples = "\n".join(
        block.split("\n", 1)[1] for block in text.split("```python")[1:] if ">>> " in block
    )
    examples = examples.replace("```", "")
    test = doctest.DocTestParser().get_doctest(examples, {}, "README", str(README), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)

    runner.run(test)

    assert len(test.examples) >= 10
    assert runner.failures == 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"prompt": "\ud800 hi"}, r"^prompt has an unpaired surrogate at index 0;"),
        ({"prompt": "hi", "history": [{"role": "user", "content": "ok \udc00"}]},
         r"^history\[0\]\['content'\] has an unpaired surrogate at index 3;"),
    ],
)
def test_route_names_a_lone_surrogate_as_a_routing_error(
    arguments: dict[str, object], message: str
) -> None:
    from shoal.router import RoutingError

    with pytest.raises(RoutingError, match=message):
        shoal.route(**arguments)  # type: ignore[arg-type]


# ---- what errors quote -------------------------------------------------------------------------

HUGE_ID = "x" * 2_000_000


@pytest.mark.parametrize("call", [
    lambda: shoal.estimate_cost(HUGE_ID, input_tokens=1),
    lambda: shoal.compare_costs([HUGE_ID, "gpt-4o"], input_tokens=1),
    lambda: shoal.count_tokens("x", model=HUGE_ID),
    lambda: shoal.count_tokens("x", encoding=HUGE_ID),
    lambda: shoal.hardware_fit(HUGE_ID, "rtx-4090"),
    lambda: shoal.hardware_fit("qwen3-8b", HUGE_ID),
    lambda: shoal.route("hello", candidates=[HUGE_ID]),
    # These quoted the value whole: ten megabytes of error for ten megabytes sent.
    lambda: shoal.truncate("abc", 3, side=HUGE_ID),  # type: ignore[arg-type]
    lambda: shoal.route("hi", privacy=HUGE_ID),
    lambda: shoal.route("hi", expected_output_tokens=HUGE_ID),  # type: ignore[arg-type]
    lambda: shoal.route("hi", history=[{"role": HUGE_ID, "content": "x"}]),
    lambda: shoal.savings_report(bucket=HUGE_ID),
    lambda: shoal.set_limit("p:x", 1, period=HUGE_ID),
    lambda: shoal.record_outcome(HUGE_ID, "gpt-4o", 0.5),
    lambda: shoal.fit_budget([{"id": "a", "text": "x", HUGE_ID: 1}], budget_tokens=100,
                             model="gpt-4o"),
    lambda: shoal.pareto_front(HUGE_ID, ["apple-m4-pro"]),
    lambda: shoal.sweep(["gemma-3-1b-it"], ["apple-m4-pro"], quantisations=HUGE_ID),
    lambda: shoal.port_chip("iphone-16-pro", to_node="n2", models=HUGE_ID),
    lambda: shoal.count_tokens("x", encoding=HUGE_ID, model="gpt-4o"),
], ids=["estimate_cost", "compare_costs", "count_tokens model", "count_tokens encoding",
        "hardware_fit model", "hardware_fit device", "route candidates", "truncate side",
        "route privacy", "route expected_output_tokens", "route history role",
        "savings_report bucket", "set_limit period", "record_outcome decision_id",
        "fit_budget field", "pareto_front models", "sweep quantisations", "port_chip models",
        "count_tokens both"])
def test_an_error_quotes_a_huge_id_as_an_excerpt_as_the_cli_and_mcp_do(
    call: Callable[[], object],
) -> None:
    # A wrong type (one string where a list goes) is Python's TypeError, quoted alike.
    with pytest.raises((shoal.ShoalError, TypeError)) as raised:
        call()

    message = str(raised.value)
    assert "'xxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxx'" in message
    assert len(message) < 500


# Every public function's required arguments, so that one argument at a time can be replaced.
VALID_ARGUMENTS: dict[str, dict[str, object]] = {
    "budget_status": {"scope": "s"},
    "compare_costs": {"models": ["gpt-4o"], "input_tokens": 1},
    "count_chat": {"messages": [{"role": "user", "content": "hi"}]},
    "count_files": {"paths": ["notes.txt"]},
    "count_till_limit": {"text": "x", "limit": 5},
    "count_tokens": {"text": "x"},
    "decode": {"ids": [1]},
    "encode": {"text": "x"},
    "estimate_cost": {"model": "gpt-4o", "input_tokens": 1},
    "estimate_cost_for_text": {"model": "gpt-4o", "prompt": "hi"},
    "fit_budget": {"items": [{"id": "a", "text": "x"}], "budget_tokens": 100, "model": "gpt-4o"},
    "fit_router": {"rows": [{"prompt": f"task {i}", "model": model, "score": 1.0}
                            for i in range(5) for model in ("a", "b")]},
    "hardware_fit": {"model": "qwen3-8b", "device": "rtx-4090"},
    "import_usage": {"records": [{"scope": "s", "model": "gpt-4o", "input_tokens": 1}]},
    "load_catalog": {},
    "load_router": {},
    "pareto_front": {"models": ["gemma-3-1b-it"], "devices": ["apple-m4-pro"]},
    "port_chip": {"device_or_chip": "iphone-16-pro", "to_node": "n2"},
    "record_outcome": {"decision_id": "d-" + "0" * 24, "model": "gpt-4o", "score": 0.5},
    "record_usage": {"scope": "s", "model": "gpt-4o", "input_tokens": 1},
    "redact": {"text": "x"},
    "route": {"prompt": "hi"},
    "savings_report": {},
    "scan_conversation": {"prompt": "hi"},
    "scan_text": {"text": "x"},
    "set_limit": {"scope": "s", "usd": 1},
    "split_chunks": {"text": "x", "max_tokens": 5},
    "sweep": {"models": ["gemma-3-1b-it"], "devices": ["apple-m4-pro"]},
    "trim_chat": {"messages": [{"role": "user", "content": "hi"}], "budget_tokens": 100,
                  "model": "gpt-4o"},
    "truncate": {"text": "abc", "max_tokens": 3},
}
# Texts to count, scan or label: any string is one, so a huge one is taken, not refused.
TEXT_PARAMETERS = {
    ("count_tokens", "text"), ("count_till_limit", "text"), ("encode", "text"),
    ("split_chunks", "text"), ("truncate", "text"), ("redact", "text"), ("scan_text", "text"),
    ("redact", "location"), ("scan_text", "location"), ("scan_conversation", "prompt"),
    ("route", "prompt"), ("estimate_cost_for_text", "prompt"), ("fit_router", "source"),
}
HUGE_VALUE = "x" * 1_000_000
# Far more than any refusal needs, far less than the value.
BOUNDED_MESSAGE = 1_000


def _huge_arguments() -> list[Any]:
    cases = []
    for name, valid in VALID_ARGUMENTS.items():
        for parameter in inspect.signature(getattr(shoal, name)).parameters:
            if (name, parameter) in TEXT_PARAMETERS:
                continue
            for shape, value in (("string", HUGE_VALUE), ("list", [HUGE_VALUE])):
                cases.append(pytest.param(name, {**valid, parameter: value},
                                          id=f"{name}.{parameter} {shape}"))
    return cases


def test_the_huge_argument_table_names_every_public_function() -> None:
    functions = {name for name in shoal.__all__ if inspect.isfunction(getattr(shoal, name))}
    without_parameters = {name for name in functions
                          if not inspect.signature(getattr(shoal, name)).parameters}

    assert set(VALID_ARGUMENTS) == functions - without_parameters


@pytest.mark.parametrize(("name", "arguments"), _huge_arguments())
def test_every_argument_of_megabytes_gets_an_error_of_a_few_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, arguments: dict[str, object],
) -> None:
    # Paths, ids and names alike: an error quotes an excerpt, never the value whole. Anything
    # but a shoal error or a TypeError (a bare OSError quoting a path) fails the test too.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHOAL_LEDGER", str(tmp_path / "ledger.sqlite3"))
    monkeypatch.setenv("SHOAL_FEEDBACK_DB", str(tmp_path / "feedback.sqlite3"))
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    try:
        getattr(shoal, name)(**arguments)
    except (shoal.ShoalError, TypeError) as error:
        assert len(str(error)) < BOUNDED_MESSAGE, str(error)[:200]


def test_an_unknown_model_error_keeps_the_whole_id_as_an_attribute() -> None:
    with pytest.raises(shoal.UnknownModelError) as raised:
        shoal.estimate_cost(HUGE_ID, input_tokens=1)

    assert raised.value.model_id == HUGE_ID


@pytest.mark.parametrize("model_id", ["", "   "])
def test_an_empty_model_id_is_called_empty(model_id: str) -> None:
    with pytest.raises(shoal.UnknownModelError, match=r"^the model id is empty \(got '\s*'\); "
                       r"give a catalog id such as 'gpt-4.1-mini'"):
        shoal.load_catalog().model(model_id)


# ---- conversations -----------------------------------------------------------------------------


@pytest.mark.parametrize(("turn", "message"), [
    ({"role": "user", "content": 5},
     r"history\[0\]: content must be a str or a list of text parts .* got int"),
    ({"role": "narrator", "content": "hi"}, r"history\[0\]: role must be one of"),
    ({"role": "user"}, r"history\[0\]: content is missing"),
])
def test_scan_conversation_refuses_the_turns_route_refuses(
    turn: dict[str, object], message: str,
) -> None:
    with pytest.raises(shoal.InputError, match=message):
        shoal.scan_conversation("hello", [turn])
    with pytest.raises(shoal.RoutingError, match=message):
        shoal.route("hello", history=[turn])


def test_a_history_holds_at_most_eight_million_characters_over_all_turns() -> None:
    # Eight turns, each far under the cap, fill it exactly; a name of one letter is one too many.
    full = [{"role": "user", "content": "x" * 1_000_000}] * 8
    past = [*full, {"role": "user", "content": "", "name": "a"}]
    message = ("history: at most 8,000,000 characters over all turns; the turns up to "
               "history[8] hold 8,000,001. Drop or shorten earlier turns")

    assert shoal.scan_conversation("hello", full) == ()
    with pytest.raises(shoal.InputError) as scanned:
        shoal.scan_conversation("hello", past)
    with pytest.raises(shoal.RoutingError) as routed:
        shoal.route("hello", history=past)

    assert str(scanned.value) == str(routed.value) == message


DEVELOPER_CHAT = [
    {"role": "developer", "content": [{"type": "text", "text": "Mail bob.smith@gmail.com."}]},
    {"role": "user", "content": "What is Rust?"},
    {"role": "assistant", "content": "A systems language."},
]


def test_a_developer_turn_is_routed_and_scanned_as_a_system_turn_is() -> None:
    # Refused by route and scan_conversation ("role must be one of system, user, assistant,
    # tool"), though count_chat and trim_chat take it: a trimmed chat could not be routed.
    as_system = [{**DEVELOPER_CHAT[0], "role": "system"}, *DEVELOPER_CHAT[1:]]
    local = ["llama-3.1-8b-instruct"]  # the email keeps the task local
    routed = shoal.route("and in Go?", history=DEVELOPER_CHAT, candidates=local)
    counted = shoal.count_chat([*DEVELOPER_CHAT, {"role": "user", "content": "and in Go?"}],
                               model=local[0])

    [finding] = shoal.scan_conversation("and in Go?", DEVELOPER_CHAT)
    assert finding.location == "history[0].content[0].text"
    assert routed.privacy.findings == (finding,)
    assert routed.alternatives[0].input_tokens == counted.tokens
    assert routed.alternatives[0].input_tokens == shoal.route(
        "and in Go?", history=as_system, candidates=local).alternatives[0].input_tokens


def test_a_trimmed_chat_is_routed_as_it_is() -> None:
    trimmed = shoal.trim_chat([*DEVELOPER_CHAT, {"role": "function", "name": "f",
                                                 "content": "42"}],
                              budget_tokens=1_000, model="gpt-4o", start_on_user=False)

    decision = shoal.route("and in Go?", history=trimmed.messages)

    assert decision.conversation_turns == 4
    assert shoal.scan_conversation("and in Go?", trimmed.messages) == decision.privacy.findings


def test_scan_conversation_scans_text_parts_as_route_reads_them() -> None:
    part = {"type": "text", "text": "write to jane.doe@gmail.com"}
    history = [{"role": "user", "content": [part]}]

    [finding] = shoal.scan_conversation("hello", history)
    assert (finding.kind, finding.location) == ("email", "history[0].content[0].text")
    assert part["text"][finding.start : finding.end] == "jane.doe@gmail.com"
    assert shoal.route("hello", history=history).privacy.findings == (finding,)
