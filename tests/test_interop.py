"""shoal against the protocol's own tools: the official MCP Inspector CLI and conformance suite.

Both are Node programs (Node >= 22). CI installs them with `.ci/node.sh` into ``$SHOAL_NODE_DIR``
(default ~/.cache/shoal-node); locally, ``source .ci/node.sh && shoal_node_install`` does the
same. Without Node 22 the tests skip and say so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from test_http import RunningServer, start_server, stop_server
from test_server import CALLS

NODE_DIR = Path(os.environ.get("SHOAL_NODE_DIR", Path.home() / ".cache" / "shoal-node"))
NODE_BIN = NODE_DIR / "node_modules" / ".bin"
EXPECTED_FAILURES = Path(__file__).parent / "conformance-expected-failures.yml"
INSTALL_HINT = "source .ci/node.sh && shoal_node_install"

# Scenarios that apply to a product server, per requirement set: each must pass in full.
APPLICABLE = {
    "2025-11-25": [
        "server-initialize",
        "ping",
        "tools-list",
        "resources-list",
        "prompts-list",
        "server-sse-multiple-streams",
        "dns-rebinding-protection",
    ],
    "2026-07-28": [
        "tools-list",
        "resources-list",
        "prompts-list",
        "sep-2164-resource-not-found",
        "caching",
        "http-header-validation",
        "dns-rebinding-protection",
        "input-required-result-unsupported-methods",
        "input-required-result-validate-input",
    ],
}


def _node_22() -> Path | None:
    for candidate in (NODE_BIN / "node", shutil.which("node")):
        if candidate is None or not Path(candidate).exists():
            continue
        version = subprocess.run(
            [str(candidate), "--version"], capture_output=True, text=True, check=False
        ).stdout
        match = re.match(r"v(\d+)\.", version)
        if match and int(match[1]) >= 22:
            return Path(candidate)
    return None


NODE = _node_22()
pytestmark = pytest.mark.skipif(
    NODE is None, reason=f"Node >= 22 not found (CI installs it; locally: {INSTALL_HINT})"
)


def _tool(name: str) -> str:
    path = NODE_BIN / name
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed next to Node 22; install it with: {INSTALL_HINT}")
    return found


def _environment() -> dict[str, str]:
    assert NODE is not None
    return {**os.environ, "PATH": f"{NODE.parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def _shoal_script() -> str:
    """The `shoal` script installed for this interpreter, as a host would start it."""
    script = Path(sysconfig.get_path("scripts")) / "shoal"
    return str(script) if script.exists() else f"{sys.executable} -m shoal"


def inspect(*arguments: str, target: list[str]) -> tuple[int, dict[str, Any]]:
    """Run the Inspector CLI once; its exit code and its JSON answer."""
    command = [_tool("mcp-inspector"), "--cli", "--format", "json",
               # Its 15 s default fails on a busy machine while the server loads.
               "--connect-timeout", "120000", *_server_environment(target), *arguments, *target]
    done = subprocess.run(
        command, capture_output=True, text=True, env=_environment(), timeout=120, check=False
    )
    try:
        answer = json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"the Inspector printed no JSON (exit {done.returncode}): {done.stderr[-2000:]!s}"
        )
    return done.returncode, answer


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("interop") / "server.log"
    process, url = start_server(log)
    yield RunningServer(url, log)
    stop_server(process)


def _server_environment(target: list[str]) -> list[str]:
    """``-e`` options giving a stdio server the test session's SHOAL_* variables: a host passes
    a server only a few variables of its own (HOME, PATH), so without them it would record to
    the user's own ledger and feedback database, and judge retirements on today's date."""
    if target[0].startswith("http"):
        return []
    shoal = sorted((name, value) for name, value in os.environ.items()
                   if name.startswith("SHOAL_"))
    return [option for name, value in shoal for option in ("-e", f"{name}={value}")]


def _stdio_target() -> list[str]:
    return [*_shoal_script().split(" "), "serve"]


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_inspector_lists_every_tool_over_stdio_and_http(
    http_server: RunningServer, era: str
) -> None:
    for target in (_stdio_target(), [http_server.url]):
        code, answer = inspect("--protocol-era", era, "--method", "tools/list", target=target)

        assert code == 0, answer
        tools = answer["result"]["tools"]
        assert sorted(tool["name"] for tool in tools) == sorted(CALLS)
        for tool in tools:
            assert tool["annotations"]["readOnlyHint"] in (True, False)
            assert tool["outputSchema"]["type"] == "object"


def _call_every_tool(target: list[str], era: str) -> None:
    def call(name: str) -> tuple[int, dict[str, Any]]:
        arguments = json.dumps(CALLS[name])
        return inspect(
            "--protocol-era",
            era,
            "--method",
            "tools/call",
            "--tool-name",
            name,
            "--tool-args-json",
            arguments,
            target=target,
        )

    # One Inspector (and, over stdio, one server) per call: run a few at a time.
    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = dict(zip(CALLS, pool.map(call, CALLS), strict=True))

    for name, (code, answer) in answers.items():
        assert code == 0, f"{name}: {answer}"
        result = answer["result"]
        assert result["isError"] is False, f"{name}: {result['content']}"
        assert result["content"][0]["type"] == "text" and result["content"][0]["text"]
        assert isinstance(result["structuredContent"], dict) and result["structuredContent"]
        if name == "count_tokens":
            assert result["structuredContent"]["tokens"] == 10


def test_inspector_calls_every_tool_over_stdio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOAL_LEDGER", str(tmp_path / "ledger.sqlite3"))
    monkeypatch.setenv("SHOAL_FEEDBACK_DB", str(tmp_path / "feedback.sqlite3"))

    _call_every_tool(_stdio_target(), "legacy")

    # The server the Inspector started wrote where this test said, not to the user's files.
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as ledger:
        scopes = ledger.execute("SELECT DISTINCT scope FROM shoal_usage").fetchall()
    assert scopes == [(CALLS["record_usage"]["scope"],)]
    assert (tmp_path / "feedback.sqlite3").is_file()


def test_inspector_calls_every_tool_over_http(http_server: RunningServer) -> None:
    _call_every_tool([http_server.url], "modern")


def test_inspector_sees_a_mistake_as_a_tool_error(http_server: RunningServer) -> None:
    code, answer = inspect(
        "--method",
        "tools/call",
        "--tool-name",
        "estimate_cost",
        "--tool-args-json",
        json.dumps({"model": "gpt-4.1-mimi"}),
        target=[http_server.url],
    )
    assert code == 5, "the Inspector exits 5 when a tool answers isError"
    assert "gpt-4.1-mini" in json.dumps(answer)


def _scenario_results(folder: Path) -> dict[str, list[dict[str, Any]]]:
    results = {}
    for checks in folder.glob("server-*/checks.json"):
        scenario = re.sub(r"^server-|-\d{4}-\d{2}-\d{2}T.*$", "", checks.parent.name)
        results[scenario] = json.loads(checks.read_text())
    return results


@pytest.mark.parametrize("requirements", sorted(APPLICABLE))
def test_conformance_suite_passes_every_scenario_that_applies(
    http_server: RunningServer, requirements: str, tmp_path: Path
) -> None:
    command = [
        _tool("conformance"),
        "server",
        "--url",
        http_server.url,
        "--requirements",
        requirements,
        "--expected-failures",
        str(EXPECTED_FAILURES),
        "-o",
        str(tmp_path),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, env=_environment(), timeout=600, check=False
    )
    summary = done.stdout[done.stdout.find("=== SUMMARY") :]

    assert done.returncode == 0, (
        "conformance found an unexpected failure, or an expected one that now passes (then "
        f"remove it from {EXPECTED_FAILURES.name}):\n{summary[-4000:]}"
    )
    results = _scenario_results(tmp_path)
    for scenario in APPLICABLE[requirements]:
        checks = results.get(scenario)
        assert checks, f"{scenario} did not run under {requirements}"
        failed = [check for check in checks if check["status"] not in ("SUCCESS", "INFO")]
        assert not failed, f"{scenario}: {failed}"
