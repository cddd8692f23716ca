"""Paths a model may name: the file-reading tools (count_files, fit_budget's file items) read only
inside the roots allowed at start, and every hostile path is refused or bounded with a clear
message, without blocking, in the Python API and through the MCP server.

The hostile paths: ``..``, absolute paths outside, links out (to files, folders, /proc), link
loops, /proc, /dev and /sys, FIFOs (which must never block), sockets, device nodes, files that
grow while they are read, sparse files of many gigabytes, folders nested past any real tree, and
``.gitignore`` files that are FIFOs, links out or huge.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from hang_guard import HANG_GUARD_S, without_hanging
from mcp import Client
from permission_support import as_another_user

from shoal import budget, files, gitignore
from shoal.budget import fit_budget
from shoal.files import count_files, read_regular_file
from shoal.server import build_server

SPARSE_BYTES = 64 * 1024**3
SECRET = "the outside secret " * 50
INSIDE = "inside the root"


@dataclass
class Fence:
    """A root folder the tools may read, a folder beside it they may not, and hostile entries."""

    root: Path
    outside: Path


@pytest.fixture
def fence(tmp_path: Path) -> Iterator[Fence]:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (root / "inside.txt").write_text(INSIDE, encoding="utf-8")
    (outside / "secret.txt").write_text(SECRET, encoding="utf-8")
    (root / "link_out").symlink_to(outside / "secret.txt")
    (root / "dir_out").symlink_to(outside)
    (root / "loop_a").symlink_to(root / "loop_b")
    (root / "loop_b").symlink_to(root / "loop_a")
    (root / "proc_link").symlink_to("/proc/self/environ")
    os.mkfifo(root / "pipe")
    with open(root / "huge", "wb") as handle:
        handle.truncate(SPARSE_BYTES)  # sparse: costs no disk
    yield Fence(root, outside)
    _unblock_fifos(tmp_path)


def _unblock_fifos(folder: Path) -> None:
    """Open every FIFO for writing without blocking, so a reader stuck on one (a failed test)
    gets end-of-file instead of hanging the session."""
    for path in folder.rglob("*"):
        if path.is_fifo():
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass  # no reader waiting


# ---- the four ways in: two tools, each through the Python API and the MCP server ----


def api_count(path: str, roots: list[str | Path]) -> str:
    """Outcome of count_files on one path: 'refused: ...', 'skipped: ...' or 'read N tokens'."""
    try:
        result = count_files([path], roots=roots)
    except ValueError as error:
        return f"refused: {error}"
    if result.skipped:
        return f"skipped: {result.skipped[0].reason}"
    return f"read {result.total_tokens} tokens"


def api_fit(path: str, roots: list[str | Path]) -> str:
    """Outcome of fit_budget with one file item."""
    try:
        plan = fit_budget(
            [{"id": "file", "path": path}], budget_tokens=1_000_000, model="gpt-4o", roots=roots
        )
    except ValueError as error:
        return f"refused: {error}"
    return f"read {plan.items[0].tokens} tokens"


def _mcp(tool: str, arguments: dict[str, Any], roots: list[str | Path]) -> Any:
    async def call() -> Any:
        async with Client(build_server(roots=roots)) as client:
            return await client.call_tool(tool, arguments)

    return anyio.run(call)


def mcp_count(path: str, roots: list[str | Path]) -> str:
    """Outcome of the count_files tool over an in-memory MCP session."""
    result = _mcp("count_files", {"paths": [path]}, roots)
    if result.is_error:
        return f"refused: {result.content[0].text}"
    content = result.structured_content
    if content["skipped"]:
        return f"skipped: {content['skipped'][0]['reason']}"
    return f"read {content['total_tokens']} tokens"


def mcp_fit(path: str, roots: list[str | Path]) -> str:
    """Outcome of the fit_budget tool with one file item over an in-memory MCP session."""
    arguments = {
        "items": [{"id": "file", "path": path}],
        "budget_tokens": 1_000_000,
        "model": "gpt-4o",
    }
    result = _mcp("fit_budget", arguments, roots)
    if result.is_error:
        return f"refused: {result.content[0].text}"
    return f"read {result.structured_content['items'][0]['tokens']} tokens"


READERS = {
    "count_files": api_count,
    "fit_budget": api_fit,
    "mcp count_files": mcp_count,
    "mcp fit_budget": mcp_fit,
}
reader_names = pytest.mark.parametrize("reader", list(READERS))


# ---- refused by every reader ----

OUTSIDE = "outside the allowed"
NEVER = "which shoal never reads"


@reader_names
@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../outside/secret.txt", OUTSIDE),
        ("sub/../../outside/secret.txt", OUTSIDE),
        ("..", OUTSIDE),
        ("{outside}/secret.txt", OUTSIDE),
        ("{outside}/no-such-file", OUTSIDE),  # same answer: no probing what exists outside
        ("link_out", OUTSIDE),
        ("dir_out/secret.txt", OUTSIDE),
        ("{root}/sub/../../outside/secret.txt", OUTSIDE),
        ("inside.txt\0.png", "NUL character"),
    ],
)
def test_paths_out_of_the_root_are_refused(
    fence: Fence, reader: str, path: str, message: str
) -> None:
    named = path.format(root=fence.root, outside=fence.outside)
    outcome = without_hanging(lambda: READERS[reader](named, [fence.root]))
    assert outcome.startswith("refused: ") and message in outcome, outcome
    assert "outside secret" not in outcome


@reader_names
@pytest.mark.parametrize(
    "path", ["/proc/self/environ", "/proc/self/mem", "/dev/zero", "/dev/stdin", "/sys/kernel"]
)
def test_system_files_are_refused_even_under_a_root_of_slash(reader: str, path: str) -> None:
    if not os.path.exists(path):
        pytest.skip(f"{path} does not exist here")
    outcome = without_hanging(lambda: READERS[reader](path, ["/"]))
    assert outcome.startswith("refused: ") and NEVER in outcome, outcome


@reader_names
def test_a_root_of_proc_still_does_not_open_proc(fence: Fence, reader: str) -> None:
    outcome = without_hanging(lambda: READERS[reader]("/proc/self/status", ["/proc"]))
    assert outcome.startswith("refused: ") and NEVER in outcome, outcome
    linked = without_hanging(lambda: READERS[reader]("proc_link", [fence.root, "/proc"]))
    assert linked.startswith("refused: ") and NEVER in linked, linked


@reader_names
def test_no_roots_means_no_file_is_read(fence: Fence, reader: str) -> None:
    outcome = without_hanging(lambda: READERS[reader](str(fence.root / "inside.txt"), []))
    assert outcome.startswith("refused: ") and "are allowed" in outcome, outcome


@reader_names
def test_a_file_inside_the_root_is_read(fence: Fence, reader: str) -> None:
    expected = f"read {len(INSIDE.split())} tokens"
    assert without_hanging(lambda: READERS[reader]("inside.txt", [fence.root])) == expected
    # An absolute path and a link that stays inside are fine too.
    (fence.root / "link_in").symlink_to(fence.root / "inside.txt")
    assert without_hanging(lambda: READERS[reader]("link_in", [fence.root])) == expected
    absolute = str(fence.root / "sub" / ".." / "inside.txt")
    assert without_hanging(lambda: READERS[reader](absolute, [fence.root])) == expected


@reader_names
def test_a_tilde_is_the_home_folder_and_stays_confined(
    fence: Fence, reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The home folder holds the root and the folder beside it.
    monkeypatch.setenv("HOME", str(fence.root.parent))

    inside = without_hanging(lambda: READERS[reader]("~/root/inside.txt", [fence.root]))
    outside = without_hanging(lambda: READERS[reader]("~/outside/secret.txt", [fence.root]))
    home = without_hanging(lambda: READERS[reader]("~", [fence.root]))

    assert inside == f"read {len(INSIDE.split())} tokens"
    for refused in (outside, home):
        assert refused.startswith("refused: ") and OUTSIDE in refused, refused
    assert "outside secret" not in outside


@reader_names
def test_another_users_home_is_a_name_inside_the_root(fence: Fence, reader: str) -> None:
    # ~root expanded would be refused as outside (so root exists); ~nobody would resolve to
    # /nonexistent: each refusal would answer a probe for accounts outside the root.
    (fence.root / "~root").mkdir()
    (fence.root / "~root" / "inside.txt").write_text(INSIDE, encoding="utf-8")

    kept = without_hanging(lambda: READERS[reader]("~root/inside.txt", [fence.root]))
    probes = [without_hanging(lambda p=p: READERS[reader](p, [fence.root]))  # type: ignore[misc]
              for p in ("~nobody", "~no-such-user-4f2a/x.txt")]

    assert kept == f"read {len(INSIDE.split())} tokens"
    for outcome in probes:
        assert outcome.startswith("refused: "), outcome
        # Missing inside the root, as any other name that is not there.
        assert outcome.endswith(("does not exist", "No such file or directory")), outcome
        assert OUTSIDE not in outcome and "/nonexistent" not in outcome, outcome


def test_the_command_line_takes_a_quoted_tilde_as_the_home_folder(
    fence: Fence, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from shoal.cli import main

    monkeypatch.setenv("HOME", str(fence.root.parent))
    tokens = len(INSIDE.split())

    assert main(["count", "--file", "~/root/inside.txt"]) == 0
    counted = capsys.readouterr().out
    assert main(["budget", "fit", "--file", "~/root/inside.txt", "--root", str(fence.root),
                 "--model", "gpt-4o", "--budget", "100", "--json"]) == 0
    (item,) = json.loads(capsys.readouterr().out)["items"]

    assert counted.splitlines()[0].split() == [str(tokens), "~/root/inside.txt"]
    assert (item["tokens"], item["source"]) == (tokens, str(fence.root / "inside.txt"))


# ---- special files: skipped (count_files) or refused (fit_budget), never blocking ----


@pytest.mark.parametrize(
    ("path", "count_outcome", "fit_outcome"),
    [
        ("pipe", "skipped: not a regular file", "refused: .*cannot read 'pipe': not a regular"),
        # Named, a loop of links is skipped with its reason, as it is inside a folder.
        ("loop_a", "skipped: cannot open: Too many levels of symbolic links",
         "refused: .*cannot read 'loop_a': cannot open: Too many levels of symbolic links"),
        ("huge", "skipped: too large: 68,719,476,736 bytes, over the 16,777,216-byte limit",
         "refused: .*cannot read 'huge': too large: 68,719,476,736 bytes"),
    ],
)
@pytest.mark.parametrize("through", ["api", "mcp"])
def test_special_files_are_skipped_or_refused_without_blocking(
    fence: Fence, path: str, count_outcome: str, fit_outcome: str, through: str
) -> None:
    count, fit = (api_count, api_fit) if through == "api" else (mcp_count, mcp_fit)
    assert re.match(count_outcome, without_hanging(lambda: count(path, [fence.root])))
    assert re.match(fit_outcome, without_hanging(lambda: fit(path, [fence.root])))


def test_a_fifo_held_open_by_a_silent_writer_does_not_block(fence: Fence) -> None:
    pipe = fence.root / "pipe"
    # A writer that connects and never writes: a blocking read would wait for it forever.
    writer = os.open(pipe, os.O_RDWR)
    try:
        counted = without_hanging(lambda: api_count("pipe", [fence.root]))
        assert counted == "skipped: not a regular file"
        assert without_hanging(lambda: read_regular_file(pipe, 1024)) == "not a regular file"
    finally:
        os.close(writer)


def test_sockets_and_device_nodes_inside_the_root_are_not_read(fence: Fence) -> None:
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(fence.root / "socket"))
    try:
        assert without_hanging(lambda: api_count("socket", [fence.root])) == (
            "skipped: not a regular file"
        )
        assert "cannot read 'socket'" in without_hanging(lambda: api_fit("socket", [fence.root]))
    finally:
        listener.close()

    try:
        os.mknod(fence.root / "zero", 0o600 | 0o020000, os.makedev(1, 5))  # a copy of /dev/zero
    except (PermissionError, AttributeError):
        pytest.skip("creating a device node needs privileges")
    assert without_hanging(lambda: api_count("zero", [fence.root])) == "skipped: not a regular file"
    assert "not a regular file" in without_hanging(lambda: api_fit("zero", [fence.root]))


def test_a_link_swapped_in_at_the_last_moment_is_not_followed(fence: Fence) -> None:
    # read_regular_file takes a real path; a link there now was put in after the check.
    assert read_regular_file(fence.root / "link_out", 1 << 20) == (
        "cannot open: Too many levels of symbolic links"
    )


# ---- growing files: bounded by the size limit, whatever the size said at the start ----


def test_a_file_that_grows_after_its_size_was_checked_is_read_no_further(
    fence: Fence, monkeypatch: pytest.MonkeyPatch
) -> None:
    grown = fence.root / "grown.txt"
    grown.write_text("word " * 4000, encoding="utf-8")  # 20,000 bytes
    real_fstat = os.fstat

    def fstat_from_before(descriptor: int) -> os.stat_result:
        # What fstat said before the file grew: 10 bytes.
        info = real_fstat(descriptor)
        return os.stat_result((info.st_mode, *info[1:6], 10, *info[7:]))

    monkeypatch.setattr(files.os, "fstat", fstat_from_before)
    assert read_regular_file(grown, 1000) == (
        "too large: grew past the 1,000-byte limit while being read"
    )
    result = count_files([grown], roots=[fence.root], max_file_bytes=1000)
    assert [item.reason for item in result.skipped] == [
        "too large: grew past the 1,000-byte limit while being read"
    ]


def test_a_file_being_appended_to_is_counted_within_the_limit_or_skipped(fence: Fence) -> None:
    growing = fence.root / "growing.log"
    growing.write_text("", encoding="utf-8")
    limit = 256 * 1024
    stop = threading.Event()

    def append() -> None:
        with open(growing, "a", encoding="utf-8") as handle:
            while not stop.is_set() and handle.tell() < 64 * limit:
                handle.write("log line\n" * 512)
                handle.flush()

    writer = threading.Thread(target=append, daemon=True)
    writer.start()
    try:
        outcomes = [
            without_hanging(lambda: count_files(["growing.log"], roots=[fence.root],
                                         max_file_bytes=limit))
            for _ in range(20)
        ]
    finally:
        stop.set()
        writer.join()

    for result in outcomes:
        assert all(item.bytes <= limit for item in result.files)
        assert all(item.reason.startswith("too large") for item in result.skipped)
        assert len(result.files) + len(result.skipped) == 1


# ---- walking a folder full of hostile entries ----


def test_walking_a_hostile_folder_reads_only_what_is_inside(fence: Fence) -> None:
    (fence.root / "sub" / "ok.txt").write_text("fine", encoding="utf-8")
    os.mkfifo(fence.root / "sub" / ".gitignore")  # a FIFO where rules are read
    (fence.root / ".gitignore").symlink_to(fence.outside / "rules")
    (fence.outside / "rules").write_text("*.txt\n", encoding="utf-8")  # would hide inside.txt
    (fence.root / "dir_loop").symlink_to(fence.root)

    result = without_hanging(lambda: count_files(["."], roots=[fence.root]))
    reasons = {Path(item.path).as_posix(): item.reason for item in result.skipped}
    assert [Path(item.path).as_posix() for item in result.files] == ["inside.txt", "sub/ok.txt"]
    assert reasons == {
        ".gitignore": "symbolic link out of the allowed roots",  # so its rules are not applied
        "sub/.gitignore": "not a regular file",
        "link_out": "symbolic link out of the allowed roots",
        "dir_out": "symbolic link out of the allowed roots",
        "loop_a": "cannot open: Too many levels of symbolic links",
        "loop_b": "cannot open: Too many levels of symbolic links",
        "proc_link": "symbolic link out of the allowed roots",
        "pipe": "not a regular file",
        "huge": "too large: 68,719,476,736 bytes, over the 16,777,216-byte limit "
        "(raise max_file_bytes, or count a part with truncate or split)",
        "dir_loop": "symbolic link to a folder (not followed)",
    }
    assert result.total_tokens == len(INSIDE.split()) + 1

    mcp = without_hanging(lambda: _mcp("count_files", {"paths": ["."]}, [fence.root]))
    assert not mcp.is_error
    assert mcp.structured_content["total_tokens"] == result.total_tokens
    assert mcp.structured_content["files_skipped"] == len(reasons)


def test_under_a_root_of_slash_links_to_system_files_are_skipped(fence: Fence) -> None:
    result = without_hanging(lambda: count_files([fence.root], roots=["/"]))
    reasons = {Path(item.path).name: item.reason for item in result.skipped}
    assert reasons["proc_link"] == "symbolic link to a system file shoal never reads"
    assert "link_out" not in reasons  # inside "/", so allowed, and counted
    assert any(Path(item.path).name == "link_out" for item in result.files)


def test_a_gitignore_is_read_only_when_it_is_a_small_regular_file(
    fence: Fence, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    folder = fence.root / "sub"
    (folder / "a.txt").write_text("a", encoding="utf-8")
    (folder / "b.log").write_text("b", encoding="utf-8")

    def names() -> list[str]:
        result = without_hanging(lambda: count_files([folder], roots=[fence.root]))
        return sorted(Path(item.path).name for item in result.files)

    (folder / ".gitignore").write_text("*.log\n", encoding="utf-8")
    assert names() == [".gitignore", "a.txt"]

    monkeypatch.setattr(gitignore, "MAX_GITIGNORE_BYTES", 4)
    assert names() == [".gitignore", "a.txt", "b.log"]
    assert "not applied: over 4 bytes" in caplog.text
    monkeypatch.undo()

    (folder / ".gitignore").unlink()
    (fence.outside / "rules").write_text("*.log\n", encoding="utf-8")
    (folder / ".gitignore").symlink_to(fence.outside / "rules")
    assert "b.log" in names()
    assert "not applied: Too many levels of symbolic links" in caplog.text


def _count_without_file_permission_override(folder: Path) -> subprocess.CompletedProcess[str]:
    """``shoal count --file folder`` in a process that file modes bind: as root, one without
    the capabilities that override them (as an unprivileged user runs it)."""
    command = [sys.executable, "-m", "shoal", "count", "--file", str(folder)]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv to drop the file-permission override")
        command = [setpriv, "--bounding-set=-dac_override,-dac_read_search", *command]
    environment = {**os.environ,
                   "PYTHONPATH": str(Path(files.__file__).resolve().parents[1])}
    return subprocess.run(command, capture_output=True, text=True, timeout=60,
                          env=environment, check=False)


def test_a_folder_that_cannot_be_listed_is_skipped_without_a_gitignore_warning(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "project"
    (folder / "sealed").mkdir(parents=True)
    (folder / "open").mkdir()
    (folder / "a.txt").write_text("a", encoding="utf-8")
    (folder / "open" / "b.log").write_text("b", encoding="utf-8")
    (folder / "open" / ".gitignore").write_text("*.log\n", encoding="utf-8")
    (folder / "sealed").chmod(0)
    (folder / "open" / ".gitignore").chmod(0)
    try:
        done = _count_without_file_permission_override(folder)
    finally:
        (folder / "sealed").chmod(0o755)
        (folder / "open" / ".gitignore").chmod(0o644)

    assert done.returncode == 0, done.stderr
    assert f"{folder / 'sealed'}: cannot list folder: Permission denied" in done.stdout
    # The folder's skip says it all: whether it holds a .gitignore cannot be known.
    assert f"{folder / 'sealed' / '.gitignore'}" not in done.stderr
    # A .gitignore that is there but cannot be read is still named.
    assert f"{folder / 'open' / '.gitignore'} not applied: Permission denied" in done.stderr


def test_a_named_folder_that_cannot_be_listed_is_skipped_as_a_nested_one_is(
    shared_folder: Path,
) -> None:
    sealed = shared_folder / "sealed"
    sealed.mkdir()
    (sealed / "a.txt").write_text("hi", encoding="utf-8")
    readers = (api_count, mcp_count)
    assert [read("sealed", [shared_folder]) for read in readers] == ["read 1 tokens"] * 2
    sealed.chmod(0)
    try:
        # Whether the folder is a git work tree cannot be seen either: that is no fault of its own.
        outcomes = as_another_user(lambda: [read("sealed", [shared_folder]) for read in readers])
        done = _count_without_file_permission_override(sealed)
    finally:
        sealed.chmod(0o755)

    assert outcomes == ["skipped: cannot list folder: Permission denied"] * 2
    # The command line refuses a path it was asked about rather than total without it.
    assert done.returncode == 2
    assert done.stderr == (
        f"shoal count: error: --file {sealed} cannot be counted: cannot list folder: "
        "Permission denied\n"
    )


def test_folders_nested_past_any_real_tree_are_not_walked(fence: Fence) -> None:
    deep = fence.root / "deep"
    bottom = deep.joinpath(*["d"] * (files.MAX_FOLDER_DEPTH + 20))
    bottom.mkdir(parents=True)
    (bottom / "bottom.txt").write_text("bottom", encoding="utf-8")
    (deep / "top.txt").write_text("top", encoding="utf-8")

    result = without_hanging(lambda: count_files([deep], roots=[fence.root]))
    assert [Path(item.path).name for item in result.files] == ["top.txt"]
    assert [item.reason for item in result.skipped] == [
        f"folder nested more than {files.MAX_FOLDER_DEPTH} levels deep"
    ]


def test_the_walk_stops_at_max_files_and_at_cancellation(fence: Fence) -> None:
    many = fence.root / "many"
    for index in range(40):
        (many / f"f{index:02}").mkdir(parents=True)
        (many / f"f{index:02}" / "x.txt").write_text("x", encoding="utf-8")

    counted: list[int] = []
    with pytest.raises(ValueError, match="more than 5 files to count"):
        count_files([many], roots=[fence.root], max_files=5,
                    progress=lambda done, total: counted.append(done))
    assert counted == []  # refused before anything was read

    class Cancelled(Exception):
        pass

    folders_seen = 0

    def check_cancelled() -> None:
        nonlocal folders_seen
        folders_seen += 1
        if folders_seen == 4:
            raise Cancelled

    with pytest.raises(Cancelled):
        count_files([many], roots=[fence.root], check_cancelled=check_cancelled,
                    progress=lambda done, total: counted.append(done))
    assert counted == [] and folders_seen == 4  # stopped in the walk, before counting


# ---- fit_budget: what all file items hold together is bounded ----


def test_file_items_are_bounded_in_total(fence: Fence, monkeypatch: pytest.MonkeyPatch) -> None:
    for index in range(3):
        (fence.root / f"page{index}.txt").write_text("x" * 600, encoding="utf-8")
    monkeypatch.setattr(budget, "MAX_TOTAL_FILE_CHARACTERS", 1000)
    items = [{"id": f"page{index}", "path": f"page{index}.txt"} for index in range(3)]
    with pytest.raises(ValueError, match=r"file items hold more than 1,000 characters in all "
                                         r"\(at item 'page1'\)"):
        fit_budget(items, budget_tokens=10_000, model="gpt-4o", roots=[fence.root])
    assert fit_budget(items[:1], budget_tokens=10_000, model="gpt-4o", roots=[fence.root])


# ---- the server keeps serving after every refusal ----


def test_one_session_survives_every_hostile_path(fence: Fence) -> None:
    hostile = ["../outside/secret.txt", "link_out", "loop_a", "pipe", "huge", "/proc/self/environ",
               "/dev/zero", "dir_out/secret.txt", str(fence.outside / "secret.txt")]

    async def session() -> tuple[list[Any], Any]:
        async with Client(build_server(roots=[fence.root])) as client:
            answers = []
            for path in hostile:
                answers.append(await client.call_tool("count_files", {"paths": [path]}))
                answers.append(await client.call_tool(
                    "fit_budget",
                    {"items": [{"id": "f", "path": path}], "budget_tokens": 100,
                     "model": "gpt-4o"},
                ))
            return answers, await client.call_tool("count_files", {"paths": ["inside.txt"]})

    answers, after = without_hanging(lambda: anyio.run(session))
    for answer in answers:
        text = answer.content[0].text
        assert "outside secret" not in text and "SHOAL" not in text
        if not answer.is_error:  # count_files skips special files with a reason
            assert answer.structured_content["files_counted"] == 0
    assert not after.is_error and after.structured_content["total_tokens"] == 3


# ---- a name the locale cannot write ----


# Run under an ASCII-only locale with neither Python's UTF-8 mode nor its locale coercion, where
# the file system encoding is ASCII: each name's refusal from the Python API and over MCP.
_REFUSALS_UNDER_ASCII = """
import json, sys
import anyio
from mcp import Client
import shoal
from shoal.server import build_server

async def over_mcp(name):
    async with Client(build_server(roots=["."])) as client:
        return (await client.call_tool("count_files", {"paths": [name]})).content[0].text

def from_python(name):
    try:
        shoal.count_files([name], roots=["."])
    except shoal.InputError as error:
        return str(error)

names = json.loads(sys.argv[1])
print(json.dumps([[from_python(name), anyio.run(over_mcp, name)] for name in names]))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="the C locale is a POSIX one")
def test_a_name_an_ascii_locale_cannot_write_is_told_apart_from_a_lone_surrogate(
    tmp_path: Path,
) -> None:
    (tmp_path / "café.txt").write_text("au lait", encoding="utf-8")
    ascii_locale = {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}

    done = subprocess.run(
        [sys.executable, "-c", _REFUSALS_UNDER_ASCII, json.dumps(["café.txt", "caf\ud800.txt"])],
        capture_output=True, text=True, encoding="utf-8", cwd=tmp_path,
        env={**os.environ, **ascii_locale}, timeout=HANG_GUARD_S, check=False)

    assert done.returncode == 0, done.stderr
    (python_cafe, mcp_cafe), (python_surrogate, mcp_surrogate) = json.loads(done.stdout)
    unwritable = ("paths[0] café.txt holds 'é', which this locale's file system encoding, "
                  "'ascii', cannot write; start the process under a UTF-8 locale (e.g. "
                  "LC_ALL=C.UTF-8)")
    assert python_cafe == unwritable
    assert mcp_cafe.endswith(unwritable.removeprefix("paths[0] "))
    # A real lone surrogate is still refused as one (over MCP by the argument check first).
    assert python_surrogate.startswith(
        "paths[0] has an unpaired surrogate at index 3, which no file name holds")
    assert "holds an unpaired surrogate" in mcp_surrogate and "locale" not in mcp_surrogate
