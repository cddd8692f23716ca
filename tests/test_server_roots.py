"""The folders the file tools may read: `shoal serve` never defaults to / or the home folder,
says in its log what it serves, and every host snippet in README.md names its folder."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hang_guard import HANG_GUARD_S
from mcp import Client, StdioServerParameters

README = Path(__file__).parent.parent / "README.md"
PACKAGE = Path(__file__).parent.parent / "python"
ROOT_PLACEHOLDER = "/absolute/path/to/your/project"
INITIALIZE = {
    "jsonrpc": "2.0", "id": 0, "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {},
               "clientInfo": {"name": "roots", "version": "0"}},
}


def _environment(home: Path | None = None) -> dict[str, str]:
    """This interpreter's environment, with the package importable from any working directory."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(PACKAGE), *filter(None, [environment.get("PYTHONPATH")])]
    )
    if home is not None:
        environment["HOME"] = str(home)
    return environment


def _serve(
    *arguments: str, cwd: Path, home: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`shoal serve` as a host starts it, fed one initialize request, then end of input."""
    return subprocess.run(
        [sys.executable, "-m", "shoal", "serve", *arguments],
        input=json.dumps(INITIALIZE) + "\n",
        capture_output=True, text=True, cwd=cwd, env=_environment(home), timeout=HANG_GUARD_S,
        check=False,
    )


def test_without_root_the_server_refuses_the_filesystem_root() -> None:
    started = _serve(cwd=Path("/"))

    assert started.returncode == 2
    assert "shoal serve: error: no --root given" in started.stderr
    assert "is the filesystem root" in started.stderr and "Pass --root" in started.stderr
    assert started.stdout == ""


def test_a_server_without_file_tools_needs_no_root(tmp_path: Path) -> None:
    started = _serve("--tools", "cost,hardware,routing", cwd=Path("/"), home=tmp_path)

    assert started.returncode == 0, started.stderr
    assert "may read only inside" not in started.stderr
    assert [json.loads(line)["id"] for line in started.stdout.splitlines()] == [0]

    for group in ("tokens", "budget"):
        started = _serve("--tools", f"cost,{group}", cwd=Path("/"), home=tmp_path)
        assert started.returncode == 2 and "no --root given" in started.stderr


def test_without_root_the_server_refuses_the_home_folder(tmp_path: Path) -> None:
    started = _serve(cwd=tmp_path, home=tmp_path)

    assert started.returncode == 2
    assert f"the current directory {tmp_path.resolve()} is your home folder" in started.stderr
    assert started.stdout == ""


def test_root_is_served_and_logged_on_stderr_only(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()

    started = _serve("--root", str(project), cwd=Path("/"), home=tmp_path)

    assert started.returncode == 0, started.stderr
    logged = f"file tools (count_files, fit_budget) may read only inside: {project.resolve()}"
    assert f"INFO shoal.server: {logged}" in started.stderr
    answers = [json.loads(line) for line in started.stdout.splitlines()]
    assert [answer["id"] for answer in answers] == [0]


def test_without_root_another_folder_is_served_and_logged(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()

    started = _serve(cwd=project, home=tmp_path)

    assert started.returncode == 0, started.stderr
    assert f"may read only inside: {project.resolve()}" in started.stderr


def test_without_file_tools_no_folder_is_logged(tmp_path: Path) -> None:
    started = _serve("--root", str(tmp_path), "--tools", "cost", cwd=tmp_path)

    assert started.returncode == 0, started.stderr
    assert "may read only inside" not in started.stderr


@pytest.mark.parametrize("root", ["~/project", "$HOME/project", "${HOME}/project"])
def test_a_root_a_shell_would_have_expanded_is_refused_with_what_to_do(
    root: str, tmp_path: Path
) -> None:
    # A host passes its JSON's arguments as written: the message said only "does not exist".
    (tmp_path / "project").mkdir()

    started = _serve("--root", root, cwd=tmp_path, home=tmp_path)

    assert started.returncode == 2
    assert started.stderr == (
        f"shoal serve: error: --root {root} does not exist: the file tools could read nothing "
        "there. A host's configuration does not expand ~ or $VARIABLES as a shell does (nor "
        "does a shell inside quotes): give the absolute path\n")


def test_an_absolute_root_that_is_missing_gets_no_expansion_hint(tmp_path: Path) -> None:
    started = _serve("--root", str(tmp_path / "missing"), cwd=tmp_path)

    assert started.returncode == 2
    assert started.stderr.endswith("does not exist: the file tools could read nothing there\n")


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_root_that_is_a_link_serves_the_folder_logged_at_start(
    tmp_path: Path, anyio_backend: str
) -> None:
    # Each call resolved the link again: pointed at projB, it made projB readable and projA not.
    first, second = tmp_path / "projA", tmp_path / "projB"
    for folder, name in ((first, "a.txt"), (second, "b.txt")):
        folder.mkdir()
        (folder / name).write_text("hello world", encoding="utf-8")
    link = tmp_path / "project"
    link.symlink_to(first, target_is_directory=True)
    parameters = StdioServerParameters(
        command=sys.executable, args=["-m", "shoal", "serve", "--root", str(link)],
        env=_environment(), cwd=tmp_path,
    )

    async with Client(parameters, mode="legacy") as client:
        link.unlink()
        link.symlink_to(second, target_is_directory=True)
        kept = await client.call_tool("count_files", {"paths": ["a.txt"]})
        by_link = await client.call_tool("count_files", {"paths": [str(link / "b.txt")]})

    assert not kept.is_error, kept.content
    assert kept.structured_content["total_tokens"] == 2
    assert by_link.is_error
    assert f"outside the allowed roots ({first})" in by_link.content[0].text


def _host_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Add shoal to your host")
    return text[start : text.index("\n## ", start + 1)]


def test_every_host_snippet_passes_an_absolute_root() -> None:
    section = _host_section()
    configs = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", section, re.S)]
    entries = [
        entry for config in configs
        for entry in config.get("mcpServers", config.get("servers", {})).values()
    ]
    command_lines = [line for line in section.splitlines() if line.startswith("claude mcp add")]

    assert len(entries) >= 4
    for entry in entries:
        arguments = entry["args"]
        assert arguments[0] == "serve"
        assert arguments[arguments.index("--root") + 1] == ROOT_PLACEHOLDER, entry
    stdio_lines = [line for line in command_lines if "--transport stdio" in line]
    assert stdio_lines and all(f"--root {ROOT_PLACEHOLDER}" in line for line in stdio_lines)
    assert "refuses to start" in section

