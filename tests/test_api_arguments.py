"""Python API: a bad argument is a TypeError (wrong type) or a ValueError subclass (bad value)
that names the parameter; never an error from deep inside, a crash of the interpreter's stack or
a value quietly taken for another."""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shoal import (
    budget_status,
    compare_costs,
    count_chat,
    count_files,
    count_tokens,
    decode,
    encode,
    estimate_cost,
    estimate_cost_for_text,
    fit_budget,
    fit_router,
    load_catalog,
    load_router,
    port_chip,
    record_outcome,
    record_usage,
    redact,
    route,
    savings_report,
    scan_conversation,
    scan_text,
    set_limit,
    trim_chat,
)
from shoal.catalog import CatalogError, UnknownModelError
from shoal.errors import InputError
from shoal.feedback import FeedbackError
from shoal.hardware import UnknownNodeError
from shoal.ledger import Ledger, LedgerError
from shoal.router import RoutingError
from shoal.router_model import RouterFileError

DECISION = "d-" + "0" * 24
USER = {"role": "user", "content": "hi"}


class Float64(float):
    """A float subclass with a repr of its own, as numpy's float64 is (``np.float64(2.5)``)."""

    def __repr__(self) -> str:
        return f"np.float64({float(self)!r})"


def _labelled_rows() -> list[dict[str, Any]]:
    return [{"prompt": f"task {i}", "model": model, "score": 1.0}
            for i in range(5) for model in ("a", "b")]


def _nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


# ---- set_limit: hard ----------------------------------------------------------------------


@pytest.mark.parametrize("hard", [0.5, "no", 1, None])
def test_hard_must_be_a_bool(tmp_path: Path, hard: object) -> None:
    # 0.5 was stored as int(0.5), a soft limit, while the answer said hard=True.
    location = tmp_path / "ledger.sqlite3"
    with pytest.raises(TypeError, match=r"^hard must be True or False, got "):
        set_limit("s", 1, hard=hard, ledger=location)  # type: ignore[arg-type]
    assert not location.exists()
    with Ledger(location) as ledger, pytest.raises(TypeError, match=r"^hard must be True"):
        ledger.set_limit("s", 1, hard=hard)  # type: ignore[arg-type]


# ---- fit_router: the IRT fit's parameters ------------------------------------------------


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"irt_iterations": 0}, "irt_iterations must be an int between 1 and 1,000, got 0"),
        ({"irt_iterations": 10**9}, "irt_iterations must be an int between 1 and 1,000"),
        ({"irt_iterations": 2.5}, "irt_iterations must be an int between 1 and 1,000, got 2.5"),
        ({"irt_iterations": True}, "irt_iterations must be an int"),
        ({"irt_penalty": -1}, "irt_penalty must be above 0 and at most 1,000,000, got -1"),
        ({"irt_penalty": 0}, "irt_penalty must be above 0"),
        ({"irt_penalty": math.nan}, "irt_penalty must be above 0 and at most 1,000,000, got nan"),
        ({"irt_penalty": math.inf}, "irt_penalty must be above 0"),
        ({"irt_penalty": "0.05"}, "irt_penalty must be above 0"),
    ],
)
def test_irt_parameters_out_of_range_are_named(parameters: dict[str, Any], message: str) -> None:
    # Every model scored 1 on every prompt: with no penalty the fit divided by zero.
    rows = [{"prompt": f"task {i}", "model": model, "score": 1.0}
            for i in range(5) for model in ("a", "b")]
    with pytest.raises(RouterFileError, match="^" + message.replace(".", r"\.")):
        fit_router(rows, **parameters)


# ---- catalog ------------------------------------------------------------------------------


CATALOG_MESSAGE = (r"^catalog must be a Catalog \(shoal\.catalog\.load_catalog\(\)\) or None, "
                   "got str")


@pytest.mark.parametrize(
    "call",
    [
        lambda: estimate_cost("gpt-4o", input_tokens=1, catalog="x"),  # type: ignore[arg-type]
        lambda: compare_costs(["gpt-4o"], input_tokens=1, catalog="x"),  # type: ignore[arg-type]
        lambda: estimate_cost_for_text("gpt-4o", "hello", catalog="x"),  # type: ignore[arg-type]
        lambda: record_outcome(DECISION, "gpt-4o", 0.5, catalog="x"),  # type: ignore[arg-type]
    ],
)
def test_a_catalog_of_the_wrong_type_is_named(call: Callable[[], Any]) -> None:
    with pytest.raises(TypeError, match=CATALOG_MESSAGE):
        call()


def test_record_usage_names_a_wrong_catalog_before_opening_the_ledger(tmp_path: Path) -> None:
    location = tmp_path / "ledger.sqlite3"
    with pytest.raises(TypeError, match=CATALOG_MESSAGE):
        record_usage("s", "gpt-4o", input_tokens=1, catalog="x", ledger=location)  # type: ignore[arg-type]
    assert not location.exists()


def test_route_names_a_wrong_catalog_as_its_other_argument_errors() -> None:
    with pytest.raises(RoutingError, match=CATALOG_MESSAGE):
        route("Translate 'hello' into French.", catalog="x")  # type: ignore[arg-type]


# ---- privacy ------------------------------------------------------------------------------

EMAIL_TEXT = "mail me at bob.smith@gmail.com please"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: scan_conversation("x", "hi"),  # type: ignore[arg-type]
         "history must be a list of turns (dicts with 'content'), not str"),
        (lambda: scan_conversation("x", [None]),  # type: ignore[list-item]
         "history[0] must be a dict with 'content', not NoneType"),
        (lambda: scan_conversation(5, []), "prompt must be str, not int"),  # type: ignore[arg-type]
        (lambda: redact("x", findings=[1]),  # type: ignore[list-item]
         "findings[0] must be a PrivacyFinding (from scan_text), not int"),
        (lambda: redact("x", findings="abc"),  # type: ignore[arg-type]
         "findings must be a list of PrivacyFinding (from scan_text), not str"),
        (lambda: redact(5, findings=[]), "text must be str, not int"),  # type: ignore[arg-type]
        (lambda: scan_text("x", location=None), "location must be str, not NoneType"),  # type: ignore[arg-type]
        (lambda: scan_text("x", location=5), "location must be str, not int"),  # type: ignore[arg-type]
    ],
)
def test_privacy_arguments_of_the_wrong_type_are_named(call: Callable[[], Any],
                                                       message: str) -> None:
    with pytest.raises(TypeError) as raised:
        call()
    assert str(raised.value) == message


def test_findings_of_another_text_are_refused() -> None:
    findings = scan_text(EMAIL_TEXT)
    assert redact(EMAIL_TEXT, findings) == "mail me at [email] please"
    with pytest.raises(ValueError, match=r"^findings\[0\] \(email in prompt\[11:30\]\) lies "
                                         "outside the text of 5 characters"):
        redact("short", findings)


# ---- count_files --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("paths", "workers", "message"),
    [
        (["a\ud800b"], None, r"^paths\[0\] has an unpaired surrogate at index 1"),
        ([".", ""], None, r"^paths\[1\] is empty; give a file or folder \('\.' for the current"),
        (["."], -3, r"^workers must be 1 to 1,024 \(None: one per CPU\), not -3"),
        (["."], 0, r"^workers must be 1 to 1,024"),
        (["."], 10**9, r"^workers must be 1 to 1,024"),
    ],
)
def test_count_files_refuses_a_bad_path_or_worker_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, paths: list[str], workers: int | None,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=message):
        count_files(paths, workers=workers)


def test_count_files_still_counts_a_name_of_undecodable_bytes(tmp_path: Path) -> None:
    # Such a name arrives as surrogate escapes, which name a real file: not refused as text.
    name = os.fsdecode(b"bad\xff.txt")
    try:
        (tmp_path / name).write_text("hello", encoding="utf-8")
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system does not take a name of undecodable bytes")
    assert count_files([str(tmp_path / name)]).total_tokens == 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"paths": [5]}, r"^paths\[0\] must be a str or os\.PathLike, not int"),
        ({"paths": ["."], "workers": 2.0}, "^workers must be an int or None, not float"),
        ({"paths": ["."], "max_files": "10"}, "^max_files must be an int, not str"),
        ({"paths": ["."], "allow_special": "yes"}, "^allow_special must be bool, not str"),
        # Taken by its truth, "no" kept .gitignore on; a callback was refused only when called.
        ({"paths": ["."], "respect_gitignore": "no"}, "^respect_gitignore must be bool, not str"),
        ({"paths": ["."], "progress": 5}, "^progress must be a function or None, not int"),
        ({"paths": ["."], "check_cancelled": "x"},
         "^check_cancelled must be a function or None, not str"),
    ],
)
def test_count_files_names_an_argument_of_the_wrong_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arguments: dict[str, Any], message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TypeError, match=message):
        count_files(**arguments)


@pytest.mark.parametrize(("root", "problem"), [("missing", "does not exist"),
                                             ("notes.txt", "is not a folder")])
def test_a_root_that_is_no_folder_is_named_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, root: str, problem: str,
) -> None:
    # Every path was refused as outside the roots, with advice to restart a server with
    # another --root: a library call has no server.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    message = f"^root '{root}' {problem}; roots are the folders files are read from$"

    with pytest.raises(InputError, match=message):
        count_files([str(tmp_path / "notes.txt")], roots=[root])
    with pytest.raises(InputError, match=message):
        fit_budget([{"id": "a", "path": "notes.txt"}], budget_tokens=100, model="gpt-4o",
                   roots=[root])


# ---- ledger and feedback: numbers and times beyond range ----------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda ledger: record_usage("s", "gpt-4o", input_tokens=1, at=10**400, ledger=ledger),
         "at must be a time, got an integer of seconds too large for any date"),
        (lambda ledger: set_limit("s", 10**400, ledger=ledger),
         r"usd must be at most \$4,611,686,018\.42, got 1e\+400$"),
        # A float subclass's own repr (np.float64(-1.0)) is no number to quote.
        (lambda ledger: set_limit("s", Float64(-1), ledger=ledger),
         "usd must be a finite amount of at least 0, got -1$"),
        (lambda ledger: set_limit("s", Float64(1e300), ledger=ledger),
         r"usd must be at most \$4,611,686,018\.42, got 1e\+300$"),
        (lambda ledger: budget_status("s", now=1e300, ledger=ledger),
         r"now must be from 1970-01-01 to before 9999-01-01 \(UTC\), got 1e\+300 seconds"),
        (lambda ledger: budget_status("s", now=-1e12, ledger=ledger),
         r"now must be from 1970-01-01 to before 9999-01-01 \(UTC\), got -1,000,000,000,000 "
         r"seconds"),
        (lambda ledger: budget_status("s", now="0001-01-01", ledger=ledger),
         r"now must be from 1970-01-01 .*, got 0001-01-01T00:00:00\.000000Z"),
        (lambda ledger: budget_status("s", now=10**400, ledger=ledger),
         "now must be a time, got an integer"),
        (lambda ledger: savings_report(since=-1e12, ledger=ledger),
         "since must be from 1970-01-01 to before 9999-01-01"),
        (lambda ledger: savings_report(until="9999-06-01", ledger=ledger),
         "until must be from 1970-01-01 to before 9999-01-01"),
    ],
)
def test_times_and_amounts_out_of_range_are_named(tmp_path: Path, call: Callable[[Path], Any],
                                                  message: str) -> None:
    with pytest.raises(ValueError, match="^" + message):
        call(tmp_path / "ledger.sqlite3")


def test_an_amount_of_a_float_subclass_is_taken_as_its_float(tmp_path: Path) -> None:
    # Read as Decimal(repr(usd)), np.float64(2.5) raised decimal.InvalidOperation.
    location = tmp_path / "ledger.sqlite3"

    assert set_limit("p:l", Float64(2.5), ledger=location).usd == 2.5
    assert budget_status("p:l", ledger=location).limit.usd == 2.5  # type: ignore[union-attr]
    with pytest.raises(TypeError, match=r"^usd must be a number, got str$"):
        set_limit("p:l", "2.5", ledger=location)  # type: ignore[arg-type]


def test_a_time_out_of_range_is_named_on_a_ledger_already_made(tmp_path: Path) -> None:
    location = tmp_path / "ledger.sqlite3"
    set_limit("s", 1, ledger=location)
    with pytest.raises(ValueError, match=r"^now must be from 1970-01-01"):
        budget_status("s", now=-1e12, ledger=location)


def test_a_limit_reached_after_9998_has_no_date(tmp_path: Path) -> None:
    # A cent's spend a day against four billion dollars would be reached in the year 10**9.
    location = tmp_path / "ledger.sqlite3"
    set_limit("s", 4_000_000_000, ledger=location)
    record_usage("s", "gpt-4o-mini", input_tokens=1, at=time.time() - 20 * 3600,
                 ledger=location)
    status = budget_status("s", ledger=location)
    assert status.burn_rate_usd_per_hour
    assert (status.hours_to_limit, status.limit_reached_at) == (None, None)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("input_tokens", 10**20, "input_tokens must be at most 100,000,000, got "
         "100,000,000,000,000,000,000;"),
        # Past what an error quotes whole: its significant digits and a power of ten.
        ("input_tokens", 10**30, "input_tokens must be at most 100,000,000, got 1e+30;"),
        ("output_tokens", 10**400, "output_tokens must be at most 100,000,000, got 1e+400;"),
        ("cost_usd", 10**400, "cost_usd must be at most 4,611,686,018.42, got 1e+400;"),
        ("cost_usd", 5e9, "cost_usd must be at most 4,611,686,018.42, got 5,000,000,000;"),
        ("cost_usd", 1e20,
         "cost_usd must be at most 4,611,686,018.42, got 100,000,000,000,000,000,000;"),
    ],
)
def test_record_outcome_bounds_its_numbers(tmp_path: Path, field: str, value: int,
                                           message: str) -> None:
    numbers: dict[str, Any] = {field: value}
    with pytest.raises(FeedbackError) as raised:
        record_outcome(DECISION, "gpt-4o", 0.5, db_path=tmp_path / "feedback.sqlite3",
                       **numbers)
    assert str(raised.value).startswith(message)


# ---- ledger locations ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda: record_usage("s", "gpt-4o", input_tokens=1, ledger=5),  # type: ignore[arg-type]
        lambda: set_limit("s", 1, ledger=5),  # type: ignore[arg-type]
        lambda: budget_status("s", ledger=5),  # type: ignore[arg-type]
        lambda: savings_report(ledger=5),  # type: ignore[arg-type]
        lambda: record_usage("s", "gpt-4o", input_tokens=1, ledger=b"x"),  # type: ignore[arg-type]
    ],
)
def test_a_ledger_of_the_wrong_type_makes_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  call: Callable[[], Any]) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TypeError, match=r"^ledger must be a SQLite file path \(str or "
                                        r"os\.PathLike\) or a postgresql:// URL, got "):
        call()
    assert list(tmp_path.iterdir()) == []


PATH_ARGUMENTS = [
    ("ledger", LedgerError, lambda path: record_usage("s", "gpt-4o", input_tokens=1,
                                                      ledger=path)),
    ("ledger", LedgerError, lambda path: budget_status("s", ledger=path)),
    ("ledger", LedgerError, lambda path: savings_report(ledger=path)),
    ("ledger", LedgerError, lambda path: set_limit("s", 1, ledger=path)),
    ("db_path", FeedbackError, lambda path: record_outcome(DECISION, "gpt-4o", 0.5,
                                                           db_path=path)),
    ("router", RoutingError, lambda path: route("hi", router=path)),
    ("path", RouterFileError, lambda path: load_router(path)),
    ("path", CatalogError, lambda path: load_catalog(path)),
    ("paths[0]", InputError, lambda path: count_files([path])),
    ("roots[0]", InputError, lambda path: count_files(["."], roots=[path])),
    ("roots[0]", InputError, lambda path: fit_budget([{"id": "a", "text": "x"}],
                                                     budget_tokens=100, model="gpt-4o",
                                                     roots=[path])),
]


@pytest.mark.parametrize(("parameter", "error", "call"), PATH_ARGUMENTS,
                         ids=[f"{call[0]}-{index}" for index, call in enumerate(PATH_ARGUMENTS)])
@pytest.mark.parametrize(("path", "problem"), [
    ("a\0b", r" 'a\\x00b' contains a NUL character; no file name can$"),
    ("a\ud800b", " has an unpaired surrogate at index 1, which no file name holds"),
    # Longer than any system takes (4,095 bytes on Linux): the OSError quoted it whole.
    pytest.param("p" * 100_000, " 'ppppppppp.*pppp' is 100,000 bytes long; no path here is "
                 "longer than ", marks=pytest.mark.skipif(not hasattr(os, "pathconf"),
                                                          reason="no PATH_MAX to read")),
], ids=["NUL", "surrogate", "too long"])
def test_a_path_no_file_can_have_is_named_by_its_parameter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parameter: str, error: type[Exception],
    call: Callable[[str], Any], path: str, problem: str,
) -> None:
    # A bare "embedded null byte" ValueError or UnicodeEncodeError named neither.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error, match="^" + re.escape(parameter) + problem):
        call(path)
    assert list(tmp_path.iterdir()) == []


# ---- deep JSON in chats -------------------------------------------------------------------


def test_count_chat_refuses_tool_call_arguments_nested_too_deep() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": _nested(990)}}
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    with pytest.raises(ValueError, match=r"^messages\[0\]\['tool_calls'\] is nested more than "
                                         "64 levels deep"):
        count_chat([message], model="gpt-4o")


def test_count_chat_takes_tool_calls_up_to_the_depth() -> None:
    # tool_calls (1), the call (2), function (3), arguments (4): 60 more levels make 64.
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": _nested(60)}}
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    assert count_chat([message], model="gpt-4o").tokens > 0


def test_trim_chat_refuses_a_tool_use_input_nested_too_deep() -> None:
    block = {"type": "tool_use", "id": "t1", "name": "f", "input": _nested(990)}
    messages: list[dict[str, Any]] = [USER, {"role": "assistant", "content": [block]}]
    with pytest.raises(ValueError, match=r"^messages\[1\]\['content'\] is nested more than 64 "):
        trim_chat(messages, budget_tokens=100, model="gpt-4o")


# ---- tokens -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: count_tokens("x", allow_special="yes"), "allow_special must be bool, not str"),  # type: ignore[arg-type]
        (lambda: count_tokens("x", model="gpt-4o", allow_special=1),  # type: ignore[arg-type]
         "allow_special must be bool, not int"),
        (lambda: encode("x", allow_special="yes"), "allow_special must be bool, not str"),  # type: ignore[arg-type]
        (lambda: count_tokens("x", encoding=5), "encoding must be str, not int"),  # type: ignore[arg-type]
        (lambda: encode("x", encoding=None), "encoding must be str, not NoneType"),  # type: ignore[arg-type]
        (lambda: decode([True]), "ids[0] must be int, not bool"),
        (lambda: decode([1, False]), "ids[1] must be int, not bool"),
        (lambda: decode(5), "ids must be a list of int, not int"),  # type: ignore[arg-type]
        # Iterated, these decoded: a dict's keys, a set in no order, a bytearray's bytes as ids.
        (lambda: decode({1: 2}), "ids must be a list of int, not dict"),  # type: ignore[arg-type]
        (lambda: decode({1, 2}), "ids must be a list of int, not set"),  # type: ignore[arg-type]
        (lambda: decode(bytearray(b"a")), "ids must be a list of int, not bytearray"),  # type: ignore[arg-type]
    ],
)
def test_token_arguments_of_the_wrong_type_are_named(call: Callable[[], Any],
                                                     message: str) -> None:
    with pytest.raises(TypeError) as raised:
        call()
    assert str(raised.value) == message


def test_the_pure_core_refuses_a_non_bool_allow_special() -> None:
    from shoal._pure import tokens as pure

    for call in (lambda: pure.count("o200k_base", "x", allow_special="yes"),  # type: ignore[arg-type]
                 lambda: pure.encode("o200k_base", "x", allow_special="yes"),  # type: ignore[arg-type]
                 lambda: pure.count_many("o200k_base", ["x"], allow_special="yes")):  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"^allow_special must be bool, not str$"):
            call()


# ---- chats and budgets --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: trim_chat([USER], budget_tokens=100, model="gpt-4o", start_on_user="no"),  # type: ignore[arg-type]
         "start_on_user must be True or False, not str"),
        (lambda: fit_budget([{"id": "a", "text": "x"}], budget_tokens=100, model="gpt-4o",
                            truncate_last="no"),  # type: ignore[arg-type]
         "truncate_last must be True or False, not str"),
        (lambda: count_chat([{"role": "user", "content": "hi", 1: "y"}], model="gpt-4o"),  # type: ignore[dict-item]
         "messages[0] keys must be str, not int (1)"),
        # As count_chat refuses them: list() made a dict its keys and a string its letters.
        (lambda: trim_chat([USER], budget_tokens=100, model="gpt-4o", tools=None),  # type: ignore[arg-type]
         "tools must be a list of tool definitions, not NoneType"),
        (lambda: trim_chat([USER], budget_tokens=100, model="gpt-4o", tools={}),  # type: ignore[arg-type]
         "tools must be a list of tool definitions, not dict"),
        (lambda: trim_chat([USER], budget_tokens=100, model="gpt-4o", tools=""),  # type: ignore[arg-type]
         "tools must be a list of tool definitions, not str"),
    ],
)
def test_chat_and_budget_arguments_of_the_wrong_type_are_named(call: Callable[[], Any],
                                                               message: str) -> None:
    with pytest.raises(TypeError) as raised:
        call()
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("expected_output_tokens", "error", "message"),
    [
        (-1, InputError, "expected_output_tokens must be at least 0, got -1"),
        (10**9, InputError, "expected_output_tokens must be at most 100,000,000, got "
                            "1,000,000,000"),
        ("5", TypeError, "expected_output_tokens must be a whole number, got str"),
    ],
)
def test_fit_budget_names_its_expected_output_tokens(
    expected_output_tokens: object, error: type[Exception], message: str,
) -> None:
    # Checked only when the plan was priced, as output_tokens, a parameter it does not have.
    with pytest.raises(error) as raised:
        fit_budget([{"id": "a", "text": "x"}], budget_tokens=100, model="gpt-4o",
                   expected_output_tokens=expected_output_tokens)  # type: ignore[arg-type]
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        # from_node "" and False, 0, [] or {} meant the device's own node.
        (lambda: port_chip("iphone-16-pro", to_node="n2", from_node=""), UnknownNodeError,
         "unknown process node ''"),
        *[(lambda value=value: port_chip("iphone-16-pro", to_node="n2", from_node=value),
           TypeError, f"from_node must be a node id (str) or None, got {type(value).__name__}")
          for value in (False, 0, [], {})],
        # baseline "" and False, 0 or [] meant none, where compare_costs refuses "".
        (lambda: savings_report(baseline=""), UnknownModelError, "the model id is empty"),
        *[(lambda value=value: savings_report(baseline=value), TypeError,
           f"a model id must be a string, got {type(value).__name__}")
          for value in (False, 0, [])],
        # calibrate="no" calibrated, though k=True is refused.
        (lambda: fit_router(_labelled_rows(), calibrate="no"), TypeError,
         "calibrate must be True or False, not str"),
        (lambda: fit_router(_labelled_rows(), calibrate_confidence=0), TypeError,
         "calibrate_confidence must be True or False, not int"),
    ],
)
def test_a_value_of_the_wrong_type_is_not_taken_by_its_truth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: Callable[[], Any],
    error: type[Exception], message: str,
) -> None:
    monkeypatch.setenv("SHOAL_LEDGER", str(tmp_path / "ledger.sqlite3"))
    with pytest.raises(error) as raised:
        call()
    assert str(raised.value).startswith(message)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("db_path", [5, ""])
def test_a_feedback_database_that_is_no_path_is_named(db_path: object, tmp_path: Path) -> None:
    from shoal.feedback import outcomes_as_rows, record_outcome

    with pytest.raises(TypeError, match=r"^db_path must be a non-empty path"):
        record_outcome("d-" + "0" * 24, "gpt-4o", 0.5, db_path=db_path)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^db_path must be a non-empty path"):
        outcomes_as_rows(db_path)  # type: ignore[arg-type]


def test_a_model_id_of_the_wrong_type_is_named_for_any_parameter() -> None:
    with pytest.raises(TypeError, match=r"^a model id must be a string, got int"):
        count_tokens("x", model=5)  # type: ignore[arg-type]
