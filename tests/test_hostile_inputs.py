"""Hostile input for every MCP tool and every file shoal loads.

The argument matrix is derived from each registered tool's input schema, so a tool added later is
covered without a line here: for every parameter (and every field of an object inside one) it
sends wrong types, values out of range, strings and lists over their bound, lone surrogates,
NaN, absurd nesting, unknown ids, empty values and extra fields, and drops each required
parameter. Each must come back as a tool error that names the parameter, within a bounded CPU
time, and the next call on the same server must succeed. Once per tool, a 100 MB string and a
million-item list are refused within a bound too. The file loaders (catalog, router, devices,
architectures, feedback and ledger databases) get malformed files and must name the file and the
field.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from test_server import CALLS

from shoal import catalog, feedback, hardware, ledger, router_model
from shoal.server import build_server
from shoal.server_policy import (
    MAX_ARGUMENT_DEPTH,
    argument_problem,
    name_the_argument,
    registered_tools,
    tool_group,
)

pytestmark = pytest.mark.anyio

# CPU seconds (this process's: the in-memory client and the server, every thread) a call may take.
# A refusal takes milliseconds and the huge values under a second, on a slow machine ten times
# that; the bounds catch a value that sets the server to work instead. Waiting for a CPU on a busy
# machine adds no CPU time, so load alone cannot reach them.
CALL_CPU_S = 10.0
HUGE_CPU_S = 30.0
UNKNOWN = "no-such-id-4f2a"

# Parameters whose value names a table entry: an unknown id must be refused and named.
ID_PARAMETERS = {
    "model",
    "device",
    "to_node",
    "from_node",
    "baseline",
    "previous_model",
    "quantisation",
    "models",
    "devices",
    "candidates",
    "excluded",
    "quantisations",
    "nodes",
    "kv_cache_type",
}
# Id parameters that take any string (none today: record_outcome checks its model too).
FREE_IDS: set[tuple[str, str]] = set()

Case = tuple[str, str, Any, bool]  # (where, label, value, must be refused)


@pytest.fixture(scope="module", autouse=True)
def private_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    folder = tmp_path_factory.mktemp("hostile")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHOAL_LEDGER", str(folder / "ledger.sqlite3"))
        patch.setenv("SHOAL_FEEDBACK_DB", str(folder / "feedback.sqlite3"))
        yield


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def server():  # type: ignore[no-untyped-def]
    return build_server()


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return defs[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _example(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    """A value that satisfies ``schema``: the container to put one hostile field into."""
    schema = _resolve(schema, defs)
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "string":
        return "x" * max(1, schema.get("minLength", 1))
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 0.5
    if kind == "boolean":
        return False
    if kind == "array":
        return [_example(schema.get("items", {}), defs)]
    properties = schema.get("properties", {})
    return {name: _example(properties[name], defs) for name in schema.get("required", [])}


def _wrong_types(kind: str | None) -> list[Any]:
    every = {"s": "7", "i": 7, "f": 1.5, "b": True, "n": None, "l": [], "o": {}}
    fits = {
        "string": "s",
        "integer": "i",
        "number": "if",
        "boolean": "b",
        "array": "l",
        "object": "o",
    }.get(kind or "", "")
    return [value for key, value in every.items() if key not in fits]


def _cases(schema: dict[str, Any], defs: dict[str, Any], where: str, top: bool) -> list[Case]:
    """Hostile values for one (sub)schema: (where, label, value, must be refused)."""
    schema = _resolve(schema, defs)
    kind = schema.get("type")
    cases: list[Case] = [(where, f"type {type(v).__name__}", v, True) for v in _wrong_types(kind)]
    if kind == "string":
        cases.append((where, "lone surrogate", "ab\ud800c", True))
        if "maxLength" in schema:
            cases.append((where, "over maxLength", "a" * (schema["maxLength"] + 1), True))
        if "enum" in schema:
            cases.append((where, "not in enum", UNKNOWN, True))
        if schema.get("minLength", 0) > 0:
            cases.append((where, "empty", "", True))
        elif top:
            cases += [(where, "empty", "", False), (where, "NUL", "a\x00b", False)]
        if top and "enum" not in schema:
            cases.append((where, "unknown id", UNKNOWN, False))
    if kind in ("integer", "number"):
        cases += [(where, "-1e30", -(10**30), True), (where, "1e30", 10**30, True)]
        if "minimum" in schema:
            cases.append((where, "below minimum", schema["minimum"] - 1, True))
        if "exclusiveMinimum" in schema:
            cases.append((where, "at exclusive minimum", schema["exclusiveMinimum"], True))
        if "maximum" in schema:
            cases.append((where, "above maximum", schema["maximum"] + 1, True))
    if kind == "array":
        items = schema.get("items", {})
        if "maxItems" in schema:
            over = [_example(items, defs)] * (schema["maxItems"] + 1)
            cases.append((where, "over maxItems", over, True))
        if schema.get("minItems", 0) > 0:
            cases.append((where, "empty", [], True))
        elif top:
            cases.append((where, "empty", [], False))
        if top and _resolve(items, defs).get("type") == "string":
            cases.append((where, "unknown id", [UNKNOWN], False))
        for inner, label, value, refused in _cases(items, defs, f"{where}.0", False):
            if refused:
                cases.append((inner, label, [value], True))
        cases.append((where, "nested too deep", _deep(MAX_ARGUMENT_DEPTH + 2), True))
    if kind == "object":
        cases += _object_cases(schema, defs, where)
    return cases


def _object_cases(schema: dict[str, Any], defs: dict[str, Any], where: str) -> list[Case]:
    base = _example(schema, defs)
    cases: list[Case] = []
    for name, prop in schema.get("properties", {}).items():
        for inner, label, value, refused in _cases(prop, defs, f"{where}.{name}", False):
            if refused:
                cases.append((inner, label, {**base, name: value}, True))
    for name in schema.get("required", []):
        cases.append((where, f"no {name}", {k: v for k, v in base.items() if k != name}, True))
    extra = schema.get("additionalProperties")
    if "properties" in schema:
        cases.append((where, "extra field", {**base, "unexpected_field": 1}, True))
    if isinstance(extra, dict):
        for inner, label, value, refused in _cases(extra, defs, f"{where}.role", False):
            if refused:
                cases.append((inner, label, {**base, "role": value}, True))
    return cases


def _deep(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels):
        value = [value]
    return value


def _tool_cases(tool: Any) -> list[tuple[str, str, dict[str, Any], bool, str]]:
    """Every hostile call of one tool: (where, label, arguments, must be refused, parameter)."""
    schema = tool.parameters
    defs = schema.get("$defs", {})
    base = CALLS[tool.name]
    calls = []
    for name, prop in schema["properties"].items():
        for where, label, value, refused in _cases(prop, defs, name, True):
            if label == "unknown id":
                refused = name in ID_PARAMETERS and (tool.name, name) not in FREE_IDS
            calls.append((where, label, {**base, name: value}, refused, name))
    for name in schema.get("required", []):
        without = {key: value for key, value in base.items() if key != name}
        calls.append((name, "missing", without, True, name))
    calls.append(("arguments", "extra", {**base, "unexpected_argument": 1}, True, "unexpected"))
    return calls


def _text(result: Any) -> str:
    return result.content[0].text if result.content else ""


def _tool_names() -> list[str]:
    return [tool.name for tool in registered_tools(build_server())]


@pytest.mark.parametrize("name", _tool_names())
async def test_every_parameter_refuses_hostile_values_by_name(server, name: str) -> None:  # type: ignore[no-untyped-def]
    tool = server._tool_manager.get_tool(name)
    problems = []

    def named(parameter: str) -> str:
        # The hardware tools lead every refusal with its argument, as the argument check does:
        # from_node and to_node take the same ids, and an empty one quotes as ''.
        return f"argument '{parameter}" if tool_group(tool.fn) == "hardware" else parameter

    async with Client(server) as client:
        for where, label, arguments, refused, parameter in _tool_cases(tool):
            started = time.process_time()
            result = await client.call_tool(name, arguments)
            cpu_s = time.process_time() - started
            text = _text(result)
            case = f"{name}.{where} [{label}]"

            if cpu_s > CALL_CPU_S:
                problems.append(f"{case}: took {cpu_s:.1f} s of CPU")
            if refused and not result.is_error:
                problems.append(f"{case}: accepted")
            if result.is_error and named(parameter) not in text:
                problems.append(f"{case}: error does not name '{parameter}': {text[:160]}")
            if result.is_error and ("Traceback" in text or text.endswith(f"tool {name}")):
                problems.append(f"{case}: not a clear error: {text[:160]}")

            after = await client.call_tool("count_tokens", {"text": "still serving"})
            if after.is_error:
                problems.append(f"{case}: the next call failed: {_text(after)[:160]}")

        own = await client.call_tool(name, CALLS[name])
    assert not problems, "\n".join(problems)
    assert not own.is_error, _text(own)


def _first(schema: dict[str, Any], kind: str) -> str | None:
    for name, prop in schema["properties"].items():
        if prop.get("type") == kind and (kind != "string" or "enum" not in prop):
            return name
    return None


@pytest.mark.parametrize("name", _tool_names())
async def test_huge_strings_and_lists_are_refused_in_bounded_time(server, name: str) -> None:  # type: ignore[no-untyped-def]
    tool = server._tool_manager.get_tool(name)
    schema = tool.parameters
    huge: list[tuple[str, Any]] = []
    if (text := _first(schema, "string")) is not None:
        huge.append((text, "a" * 100_000_000))
    if (items := _first(schema, "array")) is not None:
        item = _example(schema["properties"][items].get("items", {}), schema.get("$defs", {}))
        huge.append((items, [item if isinstance(item, str) else 0] * 1_000_000))
    if not huge:
        pytest.skip(f"{name} takes no string or list")

    async with Client(server) as client:
        for parameter, value in huge:
            started = time.process_time()
            result = await client.call_tool(name, {**CALLS[name], parameter: value})
            cpu_s = time.process_time() - started
            assert result.is_error and parameter in _text(result), _text(result)[:200]
            assert cpu_s < HUGE_CPU_S, f"{name}.{parameter}: {cpu_s:.1f} s of CPU"
            assert len(_text(result)) < 500
        after = await client.call_tool(name, CALLS[name])
    assert not after.is_error, _text(after)


@pytest.mark.parametrize("name", _tool_names())
def test_nan_and_infinity_are_refused_wherever_a_number_goes(server, name: str) -> None:  # type: ignore[no-untyped-def]
    # The in-memory client turns NaN into null; a raw JSON client may send NaN itself, so the
    # server's argument check sees it here as it would arrive.
    tool = server._tool_manager.get_tool(name)
    defs = tool.parameters.get("$defs", {})
    checked = 0
    for parameter, prop in tool.parameters["properties"].items():
        for value in _numeric_slots(prop, defs, math.nan) + _numeric_slots(prop, defs, math.inf):
            problem = argument_problem(tool, {"arguments": {**CALLS[name], parameter: value}})
            assert problem is not None and f"'{parameter}" in problem and "finite" in problem
            checked += 1
    if checked == 0:
        pytest.skip(f"{name} takes no number")


def _numeric_slots(schema: dict[str, Any], defs: dict[str, Any], bad: float) -> list[Any]:
    """``schema``'s example with ``bad`` in each place a number goes."""
    schema = _resolve(schema, defs)
    kind = schema.get("type")
    if kind in ("number", "integer"):
        return [bad]
    if kind == "array":
        return [[slot] for slot in _numeric_slots(schema.get("items", {}), defs, bad)]
    if kind == "object":
        base = _example(schema, defs)
        return [
            {**base, name: slot}
            for name, prop in schema.get("properties", {}).items()
            for slot in _numeric_slots(prop, defs, bad)
        ]
    return []


# ---- domain errors name the argument -------------------------------------------------------


async def test_domain_errors_name_the_argument_whose_value_they_quote(server) -> None:  # type: ignore[no-untyped-def]
    async with Client(server) as client:
        to_node = await client.call_tool(
            "port_chip", {"device": "rtx-4090", "to_node": UNKNOWN, "from_node": "n2"}
        )
        from_node = await client.call_tool(
            "port_chip", {"device": "rtx-4090", "to_node": "n2", "from_node": UNKNOWN}
        )
        baseline = await client.call_tool(
            "compare_costs", {"models": ["gpt-4o"], "baseline": UNKNOWN, "input_tokens": 5}
        )
        quantisation = await client.call_tool(
            "sweep_hardware", {"quantisations": [UNKNOWN], "devices": ["rtx-4090"]}
        )

    assert "argument 'to_node': unknown process node" in _text(to_node)
    assert "argument 'from_node': unknown process node" in _text(from_node)
    assert "the resource shoal://nodes lists them" in _text(to_node)
    assert "argument 'baseline': unknown model" in _text(baseline)
    assert "argument 'quantisations'" in _text(quantisation)
    assert "choose among" in _text(quantisation) and "Q4_K_M" in _text(quantisation)


def test_naming_leaves_a_message_alone_when_it_is_named_or_ambiguous() -> None:
    arguments = {"models": ["gpt-4o"], "baseline": "gpt-4o", "since": "yesterday"}
    assert name_the_argument("since must be ISO 8601, got 'yesterday'", arguments).startswith(
        "since"
    )
    assert name_the_argument("unknown model 'gpt-4o'", arguments) == "unknown model 'gpt-4o'"
    assert name_the_argument("prices changed", arguments) == "prices changed"


# ---- free-form arguments and files through the tools -----------------------------------------


@pytest.mark.parametrize(
    ("name", "arguments", "named"),
    [
        (
            "count_chat_tokens",
            {
                "messages": [],
                "tools": [{"type": "function", "function": {"name": "f", "parameters": "x"}}],
            },
            "tools[0] function.parameters must be an object",
        ),
        (
            "count_chat_tokens",
            {
                "messages": [],
                "tools": [
                    {
                        "function": {
                            "name": "f",
                            "parameters": {"type": "object", "properties": {"a": 5}},
                        }
                    }
                ],
            },
            "tools[0] property 'a' must be an object",
        ),
        (
            "count_chat_tokens",
            {
                "messages": [],
                "tools": [
                    {
                        "function": {
                            "name": "f",
                            "parameters": {
                                "type": "object",
                                "properties": {"a": {"type": "string", "enum": "ab"}},
                            },
                        }
                    }
                ],
            },
            "enum must be a list",
        ),
        (
            "fit_budget",
            {
                "items": [{"id": "a", "text": "x", "path": "README.md"}],
                "budget_tokens": 9,
                "model": "gpt-4o",
            },
            "exactly one of text and path",
        ),
        (
            "route_task",
            {"prompt": "hi", "history": [{"role": "user", "content": 5}]},
            "content must be a str or a list of text parts",
        ),
    ],
)
async def test_malformed_free_form_arguments_are_clear_tool_errors(
    server, name: str, arguments: dict[str, Any], named: str
) -> None:  # type: ignore[no-untyped-def]
    async with Client(server) as client:
        result = await client.call_tool(name, arguments)
        after = await client.call_tool(name, CALLS[name])
    assert result.is_error and named in _text(result), _text(result)
    assert not after.is_error


async def test_files_with_invalid_utf8_are_skipped_or_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("plain words", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (tmp_path / "cut.txt").write_bytes("naïve".encode()[:3])
    (tmp_path / "surrogate.txt").write_bytes(b"ab\xed\xa0\x80cd")
    served = build_server(roots=[tmp_path])
    async with Client(served) as client:
        counted = await client.call_tool("count_files", {"paths": ["."]})
        fitted = await client.call_tool(
            "fit_budget",
            {
                "items": [{"id": "doc", "path": "surrogate.txt"}],
                "budget_tokens": 50,
                "model": "gpt-4o",
            },
        )
        after = await client.call_tool("count_files", {"paths": ["good.txt"]})

    summary = counted.structured_content
    assert summary["files_counted"] == 1 and summary["files_skipped"] == 3
    reasons = {item["path"]: item["reason"] for item in summary["skipped"]}
    assert all("not UTF-8" in reason for reason in reasons.values()), reasons
    assert "byte 0xED at offset 2" in reasons["./surrogate.txt"]
    assert fitted.is_error and "'doc'" in _text(fitted) and "not UTF-8" in _text(fitted)
    assert not after.is_error and after.structured_content["total_tokens"] == 2


# ---- malformed files -------------------------------------------------------------------------

MALFORMED = {
    "empty": b"",
    "not JSON": b"{not json",
    "invalid UTF-8": b'{"models": [{"id": "\xff\xfe"}]}',
    "nested 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
    "null": b"null",
}


def _load_devices(path: Path) -> Any:
    try:
        return hardware.load_devices(path)
    finally:
        hardware.reset_tables()


def _load_architectures(path: Path) -> Any:
    try:
        return hardware.load_architectures(path)
    finally:
        hardware.reset_tables()


LOADERS = {
    "catalog": catalog.load_catalog,
    "router": router_model.read_router,
    "devices": _load_devices,
    "architectures": _load_architectures,
}


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("content", MALFORMED)
def test_malformed_files_name_the_file(tmp_path: Path, loader: str, content: str) -> None:
    path = tmp_path / f"user-{loader}.json"
    path.write_bytes(MALFORMED[content])
    with pytest.raises(ValueError, match=r"user-\w+\.json"):
        LOADERS[loader](path)


@pytest.mark.parametrize(
    ("table", "row", "message"),
    [
        ("devices", {"memory_gb": math.inf}, "devices row 1 .*'memory_gb' must be a positive"),
        ("devices", {"memory_type": []}, "devices row 1 .*'memory_type' must be a string"),
        ("devices", {"sram_mb": "lots"}, "devices row 1 .*'sram_mb' must be a number"),
        ("devices", {"sram_mb": -1}, "devices row 1 .*'sram_mb'"),
        ("devices", {"claim_type": "vendor"}, "devices row 1 .*'claim_type' must be an object"),
        ("architectures", {"experts": "eight"}, "architectures row 1 .*'experts'"),
        ("architectures", {"layers": math.nan}, "architectures row 1 .*'layers'"),
    ],
)
def test_malformed_table_rows_name_row_and_field(
    tmp_path: Path, table: str, row: dict[str, Any], message: str
) -> None:
    shipped = json.loads((Path(hardware.__file__).parent / "data" / f"{table}.json").read_text())
    bad = {**shipped[table][0], "id": "user-row", **row}
    path = tmp_path / f"{table}.json"
    path.write_text(json.dumps({table: [bad]}))
    with pytest.raises(ValueError, match=message):
        LOADERS[table](path)
    path.write_text(json.dumps({"rows": [bad]}))
    with pytest.raises(ValueError, match=r"unknown top-level field 'rows'; an? [a-z]+ file holds"):
        LOADERS[table](path)
    path.write_text(json.dumps({"as_of": "2026-12-01"}))
    with pytest.raises(ValueError, match=f"no '{table}' list"):
        LOADERS[table](path)


def test_user_catalog_rows_name_file_row_and_field(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"models": [{"id": "gpt-4o", "input_per_mtok": "cheap"}]}))
    with pytest.raises(ValueError, match=r"prices\.json model #1 \(id 'gpt-4o'\).*input_per_mtok"):
        catalog.load_catalog(path)
    path.write_text(json.dumps({"models": [{"id": "gpt-4o"}, 5]}))
    with pytest.raises(ValueError, match=r"prices\.json model #2: each model needs a string 'id'"):
        catalog.load_catalog(path)


def _tiny_router() -> dict[str, Any]:
    rows = [
        {"prompt": f"task {index} about {topic}", "model": model, "score": index % 3 / 2}
        for index, topic in enumerate(["sums", "code", "poems", "law"] * 2)
        for model in ("gpt-4o", "gpt-4.1-mini")
    ]
    return json.loads(router_model.fit_router(rows, dim=16, k=2).to_json())


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        (("abilities", 0), None, r"abilities\[0\] must be a finite number"),
        (("mean_scores", 1), [], r"mean_scores\[1\] must be a finite number"),
        (("costs_usd", 0), "free", r"costs_usd\[0\] must be a finite number or null"),
        (("embedding", "centre", 3), {}, r"embedding\.centre\[3\] must be a finite number"),
        (("exemplars", "difficulties", 0), 1e999, r"exemplars\.difficulties\[0\]"),
        (("exemplars", "previews", 0), 7, r"exemplars\.previews\[0\] must be a string"),
        (("models", 1), None, r"models\[1\] must be a string"),
        (("exemplars", "vectors_int8"), "***", r"exemplars\.vectors_int8 is not valid base64"),
        (("exemplars", "scores_uint16"), "AAA=", r"exemplars\.scores_uint16"),
    ],
)
def test_router_files_with_a_valid_hash_still_name_a_bad_field(
    tmp_path: Path, where: tuple[Any, ...], value: Any, message: str
) -> None:
    # The content hash catches edits; a file written by another tool (right hash, wrong
    # content) must still be refused field by field, never with a TypeError from deep inside.
    document = _tiny_router()
    target = document
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    body = {key: item for key, item in document.items() if key != "content_hash"}
    document["content_hash"] = router_model._content_hash(body)
    path = tmp_path / "router.json"
    path.write_text(json.dumps(document))
    with pytest.raises(router_model.RouterFileError, match=f"router file .*router.json: {message}"):
        router_model.read_router(path)


def test_feedback_and_ledger_paths_that_are_not_databases_are_named(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not a database " * 100)
    decision = "d-" + "0" * 24
    with pytest.raises(ValueError, match=r"feedback database .*garbage\.sqlite3"):
        feedback.record_outcome(decision, "gpt-4o", 0.5, db_path=garbage)
    with pytest.raises(ValueError, match="feedback database .*" + tmp_path.name):
        feedback.record_outcome(decision, "gpt-4o", 0.5, db_path=tmp_path)
    with pytest.raises(ValueError, match=r"ledger .*garbage\.sqlite3"):
        ledger.open_ledger(garbage)
    with pytest.raises(ValueError, match="ledger .*" + tmp_path.name):
        ledger.record_usage(
            "s",
            "gpt-4o",
            input_tokens=1,
            output_tokens=1,
            request_id="r",
            ledger=ledger.open_ledger(tmp_path),
        )
    assert garbage.read_bytes() == b"not a database " * 100
