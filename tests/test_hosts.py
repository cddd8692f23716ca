"""The host configurations in README.md: every JSON snippet is valid and starts a working server.

Each snippet names `/absolute/path/to/shoal` and `--root /absolute/path/to/your/project`; the
test puts the installed script's absolute path and a real folder there, starts the server as the
host would (command, args, env; no shell, no PATH lookup) and runs a real initialize and
tools/list over stdio.
"""

from __future__ import annotations

import json
import re
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

pytestmark = pytest.mark.anyio

README = Path(__file__).parent.parent / "README.md"
PLACEHOLDER = "/absolute/path/to/shoal"
ROOT_PLACEHOLDER = "/absolute/path/to/your/project"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def host_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Add shoal to your host")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def json_snippets() -> list[str]:
    return re.findall(r"```json\n(.*?)```", host_section(), flags=re.DOTALL)


def shoal_script() -> Path:
    script = Path(sysconfig.get_path("scripts")) / "shoal"
    if not script.exists():
        pytest.fail(f"no installed shoal script at {script}; run pip install -e .")
    return script


def with_root(arguments: list[str], root: Path) -> list[str]:
    """The snippet's arguments with its placeholder folder replaced by a real one."""
    assert arguments[arguments.index("--root") + 1] == ROOT_PLACEHOLDER, arguments
    return [str(root) if argument == ROOT_PLACEHOLDER else argument for argument in arguments]


def servers_of(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The server entries of a host file: `mcpServers` (Claude, Cursor) or `servers` (VS Code)."""
    servers = config.get("mcpServers", config.get("servers"))
    assert isinstance(servers, dict) and servers, f"no mcpServers/servers in {config}"
    return servers


def test_the_section_has_a_snippet_for_each_host() -> None:
    section = host_section()
    for host in ("Claude Desktop", "Claude Code", "VS Code", "Cursor"):
        assert f"**{host}**" in section
    assert len(json_snippets()) >= 4
    assert "claude mcp add --transport stdio shoal -- /absolute/path/to/shoal serve" in section


@pytest.mark.parametrize("number", range(len(json_snippets())))
async def test_each_snippet_is_valid_json_and_starts_the_server_it_names(
    number: int, tmp_path: Path
) -> None:
    config = json.loads(json_snippets()[number])

    for name, entry in servers_of(config).items():
        assert name == "shoal"
        assert entry["command"] == PLACEHOLDER, "a host needs the script's absolute path"
        assert entry.get("type", "stdio") == "stdio"
        parameters = StdioServerParameters(
            command=str(shoal_script()), args=with_root(entry["args"], tmp_path),
            env=entry.get("env"),
        )
        async with Client(parameters, mode="legacy") as client:
            tools = (await client.list_tools()).tools
            counted = await client.call_tool("count_tokens", {"text": "hello world"})
        assert "count_tokens" in {tool.name for tool in tools}
        assert counted.structured_content["tokens"] == 2


async def test_the_claude_code_command_starts_the_server(tmp_path: Path) -> None:
    line = next(
        line
        for line in host_section().splitlines()
        if line.startswith("claude mcp add --transport stdio")
    )
    command = line.split(" -- ", 1)[1].split()
    assert command[0] == PLACEHOLDER
    parameters = StdioServerParameters(
        command=str(shoal_script()), args=with_root(command[1:], tmp_path)
    )
    async with Client(parameters, mode="legacy") as client:
        assert (await client.list_tools()).tools


async def test_read_only_args_serve_only_read_only_tools() -> None:
    parameters = StdioServerParameters(
        command=sys.executable,
        args=["-m", "shoal", "serve", "--read-only", "--tools", "tokens,cost"],
    )
    async with Client(parameters, mode="legacy") as client:
        tools = (await client.list_tools()).tools
    assert tools
    assert all(tool.annotations.read_only_hint for tool in tools)
    assert {"count_tokens", "estimate_cost"} <= {tool.name for tool in tools}
    assert "route_task" not in {tool.name for tool in tools}
