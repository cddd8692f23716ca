"""The spend tools through the SDK's client: reading a ledger not made yet leaves nothing behind,
pricing needs tokens and each model once, a hard limit's refusal blames no argument, and a tool
this server leaves out says why."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS

from shoal.ledger import open_ledger
from shoal.server import build_server
from shoal.server_policy import name_the_argument, server_file_problem

pytestmark = pytest.mark.anyio

RECORD = {"scope": "session:capped", "model": "gpt-4o", "request_id": "r-1",
          "input_tokens": 100_000, "output_tokens": 10_000}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def files_under(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


Answers = tuple[dict[str, Any], str, dict[str, Any], str]


async def read_both(server_options: dict[str, Any]) -> Answers:
    """budget_status and savings_report answers of a server of these options, each structured
    content then text."""
    async with Client(build_server(**server_options)) as client:
        status = await client.call_tool("budget_status", {"scope": "session:a"})
        report = await client.call_tool("savings_report", {})
    assert not status.is_error and not report.is_error
    return (status.structured_content, status.content[0].text,
            report.structured_content, report.content[0].text)


# ---- a ledger not made yet ----------------------------------------------------------------------


@pytest.mark.parametrize("server_options", [{"read_only": True}, {}])
async def test_read_tools_answer_a_missing_ledger_as_empty_and_make_no_file(
    server_options: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    location = tmp_path / "ledger.sqlite3"
    monkeypatch.setenv("SHOAL_LEDGER", str(location))

    status, status_text, report, report_text = await read_both(server_options)

    assert files_under(tmp_path) == []
    note = f"no ledger yet at {location}"
    assert status["records"] == 0 and status["spent_usd"] == 0 and status["limit"] is None
    assert status["notes"] and status["notes"][0].startswith(note)
    assert report["records"] == 0 and report["notes"][0].startswith(note)
    assert note in status_text and note in report_text


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG_DATA_HOME is Linux's")
async def test_read_tools_do_not_make_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHOAL_LEDGER")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))

    _, status_text, _, _ = await read_both({"read_only": True})

    assert files_under(tmp_path) == []
    assert f"no ledger yet at {tmp_path / 'data' / 'shoal' / 'ledger.sqlite3'}" in status_text


async def test_an_empty_ledger_file_is_read_as_empty_and_left_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    location = tmp_path / "ledger.sqlite3"
    location.write_bytes(b"")
    monkeypatch.setenv("SHOAL_LEDGER", str(location))

    status, _, _, _ = await read_both({"read_only": True})

    assert files_under(tmp_path) == ["ledger.sqlite3"] and location.stat().st_size == 0
    assert status["records"] == 0 and status["notes"]


async def test_a_ledger_with_records_is_read_without_the_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOAL_LEDGER", str(tmp_path / "ledger.sqlite3"))

    async with Client(build_server()) as client:
        await client.call_tool("record_usage", {**RECORD, "scope": "session:a"})
    status, status_text, report, report_text = await read_both({"read_only": True})

    assert status["records"] == 1 and status["notes"] == []
    assert report["records"] == 1 and report["notes"] == []
    assert "no ledger yet" not in status_text + report_text


# ---- pricing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("estimate_cost", {"model": "gpt-4o"}),
        ("estimate_cost", {"model": "gpt-4o", "input_tokens": 0, "calls": 5}),
        ("compare_costs", {"models": ["gpt-4o", "gpt-4.1-mini"]}),
    ],
)
async def test_pricing_no_tokens_is_refused_naming_the_token_arguments(
    tool: str, arguments: dict[str, object]
) -> None:
    async with Client(build_server()) as client:
        result = await client.call_tool(tool, arguments)

    text = result.content[0].text
    assert result.is_error
    assert "give the tokens to price: input_tokens, output_tokens, cached_input_tokens" in text
    assert "reasoning_tokens are all 0" in text


async def test_record_usage_takes_left_out_counts_as_zero_and_refuses_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOAL_LEDGER", str(tmp_path / "ledger.sqlite3"))
    call = {"scope": "s", "model": "gpt-4o", "request_id": "r-1"}

    async with Client(build_server()) as client:
        refused = await client.call_tool("record_usage", call)
        recorded = await client.call_tool("record_usage", {**call, "output_tokens": 1_000})

    assert refused.is_error and "give the call's tokens: input_tokens, output_tokens" in (
        refused.content[0].text)
    assert not recorded.is_error
    assert recorded.structured_content["input_tokens"] == 0
    assert recorded.structured_content["cost_usd"] == pytest.approx(0.01)


async def test_pricing_no_tokens_on_an_unknown_model_names_the_model_first() -> None:
    async with Client(build_server()) as client:
        result = await client.call_tool("compare_costs", {"models": ["gpt-4o", "gpt-4.1-mimi"]})

    assert result.is_error and "unknown model 'gpt-4.1-mimi'" in result.content[0].text


async def test_compare_costs_refuses_a_model_listed_twice() -> None:
    arguments = {"models": ["gpt-4o", "gpt-4.1-mini", "gpt-4o"], "input_tokens": 1_000}

    async with Client(build_server()) as client:
        result = await client.call_tool("compare_costs", arguments)

    assert result.is_error
    assert "models names gpt-4o more than once" in result.content[0].text


@pytest.mark.parametrize(
    ("models", "spellings"),
    [(["gpt-4o", "GPT-4o"], "'gpt-4o' and 'GPT-4o'"),
     (["gpt-4o", "openai/gpt-4o"], "'gpt-4o' and 'openai/gpt-4o'")],
)
async def test_compare_costs_refuses_a_model_listed_twice_under_two_spellings(
    models: list[str], spellings: str
) -> None:
    async with Client(build_server()) as client:
        result = await client.call_tool("compare_costs", {"models": models, "input_tokens": 1_000})

    assert result.is_error
    assert result.content[0].text == (f"compare_costs: models names gpt-4o (as {spellings}) more "
                                      "than once; list each model once")


async def test_compare_costs_prices_cache_writes_as_estimate_cost_does() -> None:
    workload = {"input_tokens": 10_000, "cache_write_tokens": 8_000, "output_tokens": 100}

    async with Client(build_server()) as client:
        compared = await client.call_tool("compare_costs", {"models": ["claude-sonnet-4-5"],
                                                            **workload})
        estimated = await client.call_tool("estimate_cost", {"model": "claude-sonnet-4-5",
                                                             **workload})
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}

    row = compared.structured_content["comparisons"][0]
    assert not compared.is_error and row["estimate"] == estimated.structured_content
    assert "cache_write" in [line["kind"] for line in row["estimate"]["line_items"]]
    schemas = [tools[name].input_schema["properties"]["cache_write_tokens"]
               for name in ("compare_costs", "estimate_cost")]
    assert schemas[0] == schemas[1]


@pytest.mark.parametrize("models", [["gpt-4o"], ["claude-sonnet-4-5"]])
async def test_compare_costs_names_an_unknown_baseline_argument(models: list[str]) -> None:
    arguments = {"models": models, "baseline": "gpt-4.1-mimi", "input_tokens": 1_000}

    async with Client(build_server()) as client:
        result = await client.call_tool("compare_costs", arguments)

    assert result.is_error
    assert result.content[0].text.startswith(
        "compare_costs: argument 'baseline': unknown model 'gpt-4.1-mimi': did you mean")


# ---- a hard limit's refusal --------------------------------------------------------------------


async def test_a_hard_limit_refusal_is_not_blamed_on_the_scope_argument(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOAL_LEDGER", str(tmp_path / "ledger.sqlite3"))

    async with Client(build_server()) as client:
        await client.call_tool("set_budget_limit", {"scope": "session:capped", "usd": 0.01})
        refused = await client.call_tool("record_usage", RECORD)

    text = refused.content[0].text
    assert refused.is_error
    assert "refused: scope 'session:capped' has a hard limit of $0.01" in text
    assert "argument '" not in text


def test_a_refusal_is_left_alone_while_a_quoted_value_still_names_its_argument() -> None:
    arguments = {"scope": "session:a", "model": "gpt-4o"}
    refusal = "refused: scope 'session:a' has a hard limit of $1"

    assert name_the_argument(refusal, arguments) == refusal
    assert name_the_argument("unknown model 'gpt-4o'", arguments).startswith("argument 'model'")
    # Only a message that starts as a refusal is one.
    assert name_the_argument("no prices for 'gpt-4o', so it is refused", arguments).startswith(
        "argument 'model'"
    )


def test_a_problem_of_the_server_s_own_file_names_no_argument_and_says_who_can_fix_it() -> None:
    arguments = {"scope": "alpha-project", "model": "gpt-4o"}
    folder = server_file_problem(
        "ledger", "cannot open the ledger /srv/alpha-project/ledger.sqlite3: it is a folder")
    busy = server_file_problem(
        "ledger", "the ledger /srv/l.sqlite3 is busy: another process has held it for 5 s; "
        "nothing was changed, so try again once it is done")

    # The scope is quoted in the ledger's path, but no argument of the call is at fault.
    assert name_the_argument(folder, arguments) == folder
    assert folder == ("the server's own ledger is at fault, not this call's arguments, and only "
                      "the server's operator can fix it: cannot open the ledger "
                      "/srv/alpha-project/ledger.sqlite3: it is a folder")
    # A ledger busy with another writer passes by itself: no operator is needed.
    assert busy.startswith("the server's own ledger is at fault, not this call's arguments: ")


async def test_a_request_id_recorded_with_other_counts_is_still_the_call_s_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOAL_LEDGER", str(tmp_path / "ledger.sqlite3"))

    async with Client(build_server()) as client:
        first = await client.call_tool("record_usage", RECORD)
        again = await client.call_tool("record_usage", {**RECORD, "input_tokens": 7})

    assert not first.is_error, first.content[0].text
    assert again.is_error
    assert "the server's own" not in again.content[0].text


# ---- tools a server leaves out ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server_options", "tool", "why"),
    [
        ({"read_only": True}, "record_usage", "it writes and the server is read-only "
                                              "(shoal serve --read-only)"),
        ({"read_only": True}, "set_budget_limit", "shoal serve --read-only"),
        ({"groups": ["tokens", "cost"]}, "budget_status",
         "its group, budget, is not among the groups served (tokens, cost; shoal serve --tools)"),
    ],
)
async def test_calling_a_left_out_tool_says_why_it_is_not_served(
    server_options: dict[str, Any], tool: str, why: str
) -> None:
    async with Client(build_server(**server_options)) as client:
        with pytest.raises(MCPError) as left_out:
            await client.call_tool(tool, {"scope": "s"})

    message = left_out.value.error.message
    assert left_out.value.error.code == INVALID_PARAMS
    assert message.startswith(f"Tool {tool} is not served here: this server leaves it out because")
    assert why in message


async def test_a_tool_shoal_does_not_have_is_still_just_unknown() -> None:
    async with Client(build_server(read_only=True)) as client:
        with pytest.raises(MCPError) as unknown:
            await client.call_tool("record_usages", {})

    assert unknown.value.error.message.startswith("Unknown tool: 'record_usages'. Tools: ")


async def test_set_budget_limit_takes_the_bound_set_limit_takes_and_no_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shoal.ledger import MAX_LIMIT_USD

    monkeypatch.setenv("SHOAL_LEDGER", str(tmp_path / "ledger.sqlite3"))
    async with Client(build_server()) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        largest = await client.call_tool("set_budget_limit", {"scope": "s", "usd": MAX_LIMIT_USD})
        two_billion = await client.call_tool("set_budget_limit", {"scope": "s", "usd": 2e9})
        beyond = await client.call_tool("set_budget_limit", {"scope": "s", "usd": 5e9})

    assert tools["set_budget_limit"].input_schema["properties"]["usd"]["maximum"] == MAX_LIMIT_USD
    assert not largest.is_error and not two_billion.is_error
    assert two_billion.structured_content["usd"] == 2e9
    assert beyond.is_error


@pytest.mark.parametrize(
    ("usd", "message"),
    [
        # Past a float's range, the number the client sent is still quoted, short, and the
        # bound is the one set_limit and `shoal ledger limit --usd` state, in dollars.
        (10**400, "must be at most $4,611,686,018.42 (got 1e+400)"),
        (-(10**400), "must be at least $0 (got -1e+400)"),
        (5e9, "must be at most $4,611,686,018.42 (got 5,000,000,000)"),
        (1e300, "must be at most $4,611,686,018.42 (got 1e+300)"),
        (10**30, "must be at most $4,611,686,018.42 (got 1e+30)"),
        (-5, "must be at least $0 (got -5)"),
    ],
    ids=["400 digits", "-400 digits", "5e9", "1e300", "10**30", "-5"],
)
async def test_a_limit_out_of_bounds_is_refused_in_dollars_quoting_what_was_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, usd: float, message: str
) -> None:
    monkeypatch.setenv("SHOAL_LEDGER", str(tmp_path / "ledger.sqlite3"))
    async with Client(build_server()) as client:
        refused = await client.call_tool("set_budget_limit", {"scope": "s", "usd": usd})

    assert refused.is_error
    assert refused.content[0].text == f"set_budget_limit: argument 'usd': {message}"


async def test_a_token_bound_is_written_with_thousands_separated() -> None:
    async with Client(build_server()) as client:
        too_many = await client.call_tool("truncate_text", {"text": "a", "max_tokens": 10**30})
        too_few = await client.call_tool("split_text", {"text": "a", "max_tokens": 0})

    assert too_many.content[0].text == (
        "truncate_text: argument 'max_tokens': must be at most 100,000,000 (got 1e+30)"
    )
    assert too_few.content[0].text == (
        "split_text: argument 'max_tokens': must be at least 1 (got 0)"
    )


async def test_a_limit_below_the_scope_s_spend_is_set_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOAL_LEDGER", str(tmp_path / "ledger.sqlite3"))
    async with Client(build_server()) as client:
        await client.call_tool("record_usage", RECORD)  # $0.35 on gpt-4o
        below = await client.call_tool(
            "set_budget_limit", {"scope": RECORD["scope"], "usd": 0.1, "period": "day"}
        )
        above = await client.call_tool("set_budget_limit", {"scope": RECORD["scope"], "usd": 1.0})

    assert not below.is_error
    assert below.structured_content["notes"] == [
        "session:capped has already spent $0.35 this day, over this limit of $0.10: every call "
        "that costs anything is refused until the day ends or the limit is raised"
    ]
    assert below.content[0].text.splitlines()[1].startswith("  note: session:capped has already")
    assert above.structured_content["notes"] == [
        "replaces the earlier hard limit of $0.10 per day: a scope has one limit"]


async def test_pricing_a_retired_model_over_mcp_carries_the_retirement_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOAL_LEDGER", str(tmp_path / "ledger.sqlite3"))
    retired = ("claude-sonnet-4-5 was retired on 2026-11-30 per the catalog; its prices may no "
               "longer apply")
    workload = {"input_tokens": 1_000, "output_tokens": 100}
    async with Client(build_server()) as client:
        estimated = await client.call_tool("estimate_cost", {"model": "claude-sonnet-4-5",
                                                             **workload})
        compared = await client.call_tool("compare_costs", {"models": ["gpt-4o"],
                                                            "baseline": "claude-sonnet-4-5",
                                                            **workload})
        recorded = await client.call_tool("record_usage", {**RECORD, "model": "claude-sonnet-4-5"})

    assert estimated.structured_content["notes"] == [retired]
    assert f"note: {retired}" in estimated.content[0].text
    assert compared.structured_content["comparisons"][0]["baseline_notes"] == [retired]
    assert f"note: {retired}" in compared.content[0].text
    assert recorded.structured_content["notes"] == [retired]
    assert f"note: {retired}" in recorded.content[0].text


async def test_the_token_descriptions_say_reasoning_comes_on_top_of_output() -> None:
    async with Client(build_server()) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}

    for name in ("estimate_cost", "compare_costs", "record_usage"):
        properties = tools[name].input_schema["properties"]
        assert "completion_tokens minus reasoning_tokens" in properties["output_tokens"][
            "description"]
        assert "on top of output_tokens" in properties["reasoning_tokens"]["description"]
        for part in ("cached_input_tokens", "cache_write_tokens"):
            assert "counted in input_tokens too" in properties[part]["description"]


async def test_hours_and_fractions_come_back_without_float_noise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOAL_LEDGER", str(tmp_path / "ledger.sqlite3"))
    async with Client(build_server()) as client:
        for request, model in (("r-1", "gpt-4o"), ("r-2", "gpt-4.1-mini"), ("r-3", "gpt-4.1-mini")):
            await client.call_tool(
                "record_usage", {**RECORD, "request_id": request, "model": model}
            )
        status = await client.call_tool("budget_status", {"scope": RECORD["scope"]})
        report = await client.call_tool("savings_report", {"baseline": "gpt-4o"})

    span = status.structured_content["burn_span_hours"]
    assert 0 < span and len(Decimal(repr(span)).normalize().as_tuple().digits) <= 12
    fraction = report.structured_content["savings_fraction"]
    assert 0 < fraction < 1 and fraction == round(fraction, 6)


async def test_an_unknown_baseline_from_the_environment_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOAL_LEDGER", str(tmp_path / "ledger.sqlite3"))
    monkeypatch.setenv("SHOAL_BASELINE_MODEL", "bogus")
    async with Client(build_server()) as client:
        report = await client.call_tool("savings_report", {})

    assert report.is_error
    assert report.content[0].text.startswith(
        "savings_report: SHOAL_BASELINE_MODEL: unknown model 'bogus'")


async def test_a_scope_that_does_not_print_as_it_reads_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    location = tmp_path / "ledger.sqlite3"
    monkeypatch.setenv("SHOAL_LEDGER", str(location))
    async with Client(build_server()) as client:
        answer = await client.call_tool("record_usage", {**RECORD, "scope": "session:\u202e4f2a"})

    assert answer.is_error
    assert answer.content[0].text == (
        "record_usage: scope must hold only printable characters (no control or format "
        "characters, no space but ' '), got '\\u202e' in 'session:\\u202e4f2a'")
    assert not location.exists()


# ---- savings report -----------------------------------------------------------------------------


async def test_savings_report_notes_calls_past_the_baseline_s_limits_once_however_many(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    location = tmp_path / "ledger.sqlite3"
    monkeypatch.setenv("SHOAL_LEDGER", str(location))
    ledger = open_ledger(str(location))
    # 300 calls of as many prompt sizes past gpt-4o's input limit: a note for each would take
    # the answer past the server's cap.
    for number in range(300):
        ledger.record_usage("s", "gpt-4.1", input_tokens=130_000 + 500 * number,
                            output_tokens=10)
    expected = ("300 calls exceed gpt-4o's input limit of 128,000 tokens (the largest has "
                "279,500); the API would reject them")

    async with Client(build_server(read_only=True)) as client:
        answers = [await client.call_tool("savings_report", {"baseline": "gpt-4o", **scope})
                   for scope in ({}, {"scope": "s"})]

    for answer in answers:
        assert not answer.is_error, answer.content[0].text
        assert answer.structured_content["notes"] == [expected]
        assert f"  note: {expected}" in answer.content[0].text


async def test_savings_report_notes_a_retired_baseline_and_calls_past_its_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOAL_LEDGER", str(tmp_path / "ledger.sqlite3"))
    async with Client(build_server()) as client:
        for request, model, tokens in (("r-1", "gpt-4o", (8_000, 4_000)),
                                       ("r-2", "claude-haiku-4-5", (1_000, 20_000))):
            recorded = await client.call_tool("record_usage", {
                **RECORD, "request_id": request, "model": model, "input_tokens": tokens[0],
                "output_tokens": tokens[1]})
            assert not recorded.is_error, recorded.content[0].text
        report = await client.call_tool("savings_report", {"baseline": "gpt-4"})

    notes = [
        "gpt-4 was retired on 2026-10-23 per the catalog; its prices may no longer apply",
        "2 calls exceed gpt-4's context window of 8,192 tokens, which holds prompt and output "
        "together (the largest has 21,000); the API would reject them or cut the output short",
        "1 call exceeds gpt-4's max_output_tokens of 4,096 with output and reasoning (it has "
        "20,000)",
    ]
    assert report.structured_content["notes"] == notes
    assert all(f"  note: {note}" in report.content[0].text for note in notes)


async def test_savings_report_prices_the_dearest_model_call_by_call_and_counts_as_records_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOAL_LEDGER", str(tmp_path / "ledger.sqlite3"))
    calls = [("r-1", "gpt-5.4", {"input_tokens": 900_000, "output_tokens": 2_000}),
             ("r-2", "claude-sonnet-4-6", {"input_tokens": 1_000, "output_tokens": 100,
                                           "reasoning_tokens": 900, "cached_input_tokens": 500})]
    async with Client(build_server()) as client:
        for request, model, tokens in calls:
            recorded = await client.call_tool("record_usage", {"scope": "s", "model": model,
                                                               "request_id": request, **tokens})
            assert not recorded.is_error, recorded.content[0].text
        report = (await client.call_tool("savings_report", {})).structured_content
        named = await client.call_tool("savings_report", {"baseline": "gpt-5.4"})

    # Past its 272,000-token threshold gpt-5.4 bills the whole call at its long-context rates.
    assert report["baseline"] == "gpt-5.4"
    assert report["baseline_usd"] == named.structured_content["baseline_usd"]
    sonnet = next(row for row in report["by_model"] if row["model"] == "claude-sonnet-4-6")
    assert (sonnet["output_tokens"], sonnet["reasoning_tokens"],
            sonnet["cached_input_tokens"], sonnet["cache_write_tokens"]) == (100, 900, 500, 0)


async def test_savings_report_rounds_baseline_prices_as_the_ledger_rounds_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prices = tmp_path / "p1.json"
    # One input token is 7.5 nano-dollars, which the ledger rounds half to even, to 8.
    prices.write_text(json.dumps({"models": [
        {"id": "llama-3.1-8b-instruct", "input_per_mtok": 0.0075, "as_of": "2026-12-01"}]}),
        encoding="utf-8")
    monkeypatch.setenv("SHOAL_PRICES", str(prices))
    monkeypatch.setenv("SHOAL_LEDGER", str(tmp_path / "ledger.sqlite3"))
    async with Client(build_server()) as client:
        for scope, model in (("s", "llama-3.1-8b-instruct"), ("t", "gpt-4o")):
            recorded = await client.call_tool("record_usage", {
                "scope": scope, "model": model, "request_id": scope, "input_tokens": 1})
            assert not recorded.is_error, recorded.content[0].text
        same = await client.call_tool("savings_report", {"scope": "s"})
        repriced = await client.call_tool("savings_report", {
            "scope": "t", "baseline": "llama-3.1-8b-instruct"})

    assert same.structured_content["notes"] == [] and "note:" not in same.content[0].text
    assert same.structured_content["baseline_usd"] == 8e-9
    assert repriced.structured_content["baseline_usd"] == 8e-9


async def test_the_burn_rate_window_s_schema_states_the_bound_the_ledger_keeps() -> None:
    from shoal.ledger import MAX_WINDOW_HOURS, MIN_WINDOW_HOURS

    async with Client(build_server()) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        one_second = await client.call_tool("budget_status",
                                            {"scope": "s", "window_hours": MIN_WINDOW_HOURS})
        shorter = await client.call_tool("budget_status", {"scope": "s", "window_hours": 0.0002})

    window = tools["budget_status"].input_schema["properties"]["window_hours"]
    assert "exclusiveMinimum" not in window
    assert (window["minimum"], window["maximum"]) == (MIN_WINDOW_HOURS, MAX_WINDOW_HOURS)
    assert "one second (1/3600)" in window["description"]
    assert not one_second.is_error
    assert shorter.is_error and shorter.content[0].text == (
        "budget_status: argument 'window_hours': must be at least 0.0002777777777777778 "
        "(got 0.0002)")


async def test_a_routed_call_s_decision_id_is_taken_in_either_case_and_kept_in_lowercase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOAL_LEDGER", str(tmp_path / "ledger.sqlite3"))
    async with Client(build_server()) as client:
        recorded = await client.call_tool("record_usage", {
            **RECORD, "decision_id": "d-0BF26A0123456789ABCDEF01"})

    assert not recorded.is_error
    assert recorded.structured_content["decision_id"] == "d-0bf26a0123456789abcdef01"


async def test_a_limit_of_a_fraction_of_a_cent_is_stated_with_its_digits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOAL_LEDGER", str(tmp_path / "ledger.sqlite3"))
    # 401,200 input tokens of gpt-4o cost $1.003; another 1,000 would cost $0.0025.
    spend = {**RECORD, "input_tokens": 401_200, "output_tokens": 0}
    async with Client(build_server()) as client:
        limit = await client.call_tool("set_budget_limit", {"scope": RECORD["scope"], "usd": 1.005})
        recorded = await client.call_tool("record_usage", spend)
        refused = await client.call_tool("record_usage", {**spend, "request_id": "r-2",
                                                          "input_tokens": 1_000})
        status = await client.call_tool("budget_status", {"scope": RECORD["scope"]})

    assert limit.content[0].text == "session:capped: hard limit $1.005"
    assert "; spent $1.003 of $1.005" in recorded.content[0].text
    assert refused.is_error and ("has a hard limit of $1.005; $1.003 is spent, so $0.002 is "
                                 "left, and this call costs $0.0025.") in refused.content[0].text
    assert status.content[0].text.splitlines()[:2] == [
        "session:capped: spent $1.003; 1 call recorded, $1.003 in all",
        "  hard limit $1.005: $0.002 left",
    ]


async def test_compare_costs_gives_the_baseline_s_own_cost() -> None:
    async with Client(build_server()) as client:
        result = await client.call_tool("compare_costs", {
            "models": ["gpt-4o", "gpt-4.1-mini"], "input_tokens": 12_000, "output_tokens": 800,
            "baseline": "gpt-5"})

    assert not result.is_error
    rows = result.structured_content["comparisons"]
    assert [row["baseline_total_usd"] for row in rows] == [0.023, 0.023]
    assert "baseline gpt-5: $0.023 (not one of the compared models)" in result.content[0].text
