"""Paths that reach the same file more than once: each resolved file is counted once, under the
first path that reached it, and the summary says how many repeats were merged."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from shoal import files
from shoal.cli import main
from shoal.files import count_files
from shoal.server import build_server

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("print('hello')\n", encoding="utf-8")
    (tmp_path / "src" / "blob.bin").write_bytes(b"\0binary")
    (tmp_path / "README.md").write_text("A small project.\n", encoding="utf-8")
    return tmp_path


def paths_of(result: Any) -> list[str]:
    return [item.path for item in result.files]


def test_overlapping_paths_count_each_file_once(project: Path) -> None:
    alone = count_files(["."], roots=[project])

    merged = count_files([".", "src", "src/app.py", "./src/../src/app.py"], roots=[project])

    assert paths_of(merged) == ["./README.md", "./src/app.py"]
    assert [item.path for item in merged.skipped] == ["./src/blob.bin"]
    assert merged.total_tokens == alone.total_tokens
    # src reaches app.py and blob.bin again; then app.py twice more.
    assert merged.repeats_merged == 4
    assert alone.repeats_merged == 0


def test_the_first_path_that_reaches_a_file_names_it(project: Path) -> None:
    result = count_files(["src/app.py", "."], roots=[project])

    assert paths_of(result) == ["./README.md", "src/app.py"]
    assert result.repeats_merged == 1


def test_a_path_repeated_a_thousand_times_is_walked_and_read_once(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed: list[str] = []
    read: list[Path] = []
    scandir, read_regular_file = os.scandir, files.read_regular_file

    def counting_scandir(path: Any) -> Any:
        listed.append(str(path))
        return scandir(path)

    def counting_read(path: Path, limit: int) -> bytes | str:
        read.append(path)
        return read_regular_file(path, limit)

    monkeypatch.setattr(files.os, "scandir", counting_scandir)
    monkeypatch.setattr(files, "read_regular_file", counting_read)

    result = count_files(["src"] * 1000, roots=[project])

    assert paths_of(result) == ["src/app.py"]
    assert result.repeats_merged == 999 * 2
    assert len(listed) == 1
    assert len(read) == 2  # app.py and blob.bin, once each


def test_max_files_counts_files_not_repeats(project: Path) -> None:
    # Three distinct files, reached six times: within a limit of three.
    result = count_files(["src/app.py", ".", "src"], roots=[project], max_files=3)

    assert paths_of(result) == ["./README.md", "src/app.py"]


def test_the_summary_says_how_many_repeats_were_merged(project: Path) -> None:
    summary = count_files(["src", "src"], roots=[project]).summary(max_files=10)

    assert summary.repeats_merged == 2
    assert summary.notes == (
        "2 repeats merged: files reached by more than one of the paths are counted once, under "
        "the first path that reached them",
    )
    assert count_files(["src"], roots=[project]).summary(max_files=10).notes == ()


def test_the_command_line_merges_repeats_and_says_so(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project)

    status = main(["count", "--file", "src", "--file", "src/app.py"])

    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    assert lines[0].endswith("  src/app.py")
    assert lines[1].startswith("     skipped  src/blob.bin: binary")
    assert "total: 1 file" in lines[2] and "1 skipped" in lines[2]
    assert lines[3].startswith("note: 1 repeat merged")
    assert len(lines) == 4


async def test_count_files_over_mcp_merges_repeats(project: Path) -> None:
    server = build_server(roots=[project])

    async with Client(server) as client:
        repeated = await client.call_tool("count_files", {"paths": ["src"] * 1000})
        overlapping = await client.call_tool(
            "count_files", {"paths": [".", "src", "src/app.py", "./src/../src/app.py"]}
        )

    assert not repeated.is_error
    assert repeated.structured_content["files_counted"] == 1
    assert repeated.structured_content["files_skipped"] == 1
    assert repeated.structured_content["repeats_merged"] == 1998
    assert overlapping.structured_content["files_counted"] == 2
    assert overlapping.structured_content["repeats_merged"] == 4
    assert "4 repeats merged" in overlapping.content[0].text
