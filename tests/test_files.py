"""Counting files and folders: .gitignore rules, binary and size skips, confinement to roots."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from shoal.files import MAX_FILE_BYTES_LIMIT, PathNotAllowedError, count_files
from shoal.gitignore import IgnoreMatcher, parse_gitignore
from shoal.tokens import count_tokens


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, contents in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(contents, bytes):
            path.write_bytes(contents)
        else:
            path.write_text(contents, encoding="utf-8")


def counted(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [Path(item.path).as_posix() for item in result.files]


# ---- gitignore rules ----


def ignored(lines: str, path: str, is_directory: bool = False, base: str = "") -> bool:
    return IgnoreMatcher(tuple(parse_gitignore(lines, base))).ignored(path, is_directory)


@pytest.mark.parametrize(
    ("lines", "path", "is_directory", "expected"),
    [
        ("*.log", "a/b/debug.log", False, True),  # no slash: any depth
        ("*.log\n!keep.log", "x/keep.log", False, False),  # negation, last match wins
        ("!keep.log\n*.log", "keep.log", False, True),
        ("build/", "build", True, True),  # directory only
        ("build/", "build", False, False),
        ("/top.txt", "top.txt", False, True),  # anchored by a leading slash
        ("/top.txt", "sub/top.txt", False, False),
        ("doc/frotz", "doc/frotz", False, True),  # anchored by a middle slash
        ("doc/frotz", "a/doc/frotz", False, False),
        ("**/foo", "a/b/foo", False, True),
        ("a/**/b", "a/b", False, True),
        ("a/**/b", "a/x/y/b", False, True),
        ("abc/**", "abc/x/y", False, True),
        ("abc/**", "abc", True, False),
        ("f?o.[ch]", "fxo.c", False, True),
        ("f?o.[!ch]", "fxo.c", False, False),
        ("*", "a/b", False, True),
        ("a*", "x/a/b", False, False),  # * stops at a slash
        ("# comment\n\n", "# comment", False, False),
        ("\\#hash", "#hash", False, True),
        ("\\!bang", "!bang", False, True),
        ("trail\\ ", "trail ", False, True),
        ("trail   ", "trail", False, True),
    ],
)
def test_gitignore_patterns(lines: str, path: str, is_directory: bool, expected: bool) -> None:
    assert ignored(lines, path, is_directory) is expected


def test_nested_gitignore_is_relative_to_its_folder_and_overrides_parents(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            ".gitignore": "*.tmp\nsecret/\n",
            "a.txt": "a",
            "a.tmp": "ignored",
            "secret/x.txt": "ignored folder",
            "sub/.gitignore": "!keep.tmp\n/local.txt\n",
            "sub/keep.tmp": "re-included by the nested file",
            "sub/other.tmp": "still ignored",
            "sub/local.txt": "anchored to sub",
            "sub/deeper/local.txt": "not anchored here",
        },
    )
    result = count_files([tmp_path])
    names = [Path(path).relative_to(tmp_path).as_posix() for path in counted(result)]
    assert names == [
        ".gitignore",
        "a.txt",
        "sub/.gitignore",
        "sub/deeper/local.txt",
        "sub/keep.tmp",
    ]
    assert result.ignored == 4
    assert len(count_files([tmp_path], respect_gitignore=False).files) == 9


# ---- what is counted ----


def test_counts_each_file_and_the_total(tmp_path: Path) -> None:
    texts = {"one.md": "Hello, world.\n", "two.py": "def f(x):\n    return x * 2\n", "e.txt": ""}
    write(tmp_path, texts)
    result = count_files([tmp_path], workers=2)
    by_name = {Path(item.path).name: item for item in result.files}
    for name, text in texts.items():
        assert by_name[name].tokens == count_tokens(text).tokens
        assert by_name[name].bytes == len(text.encode())
    assert result.total_tokens == sum(item.tokens for item in result.files)
    assert result.exact and result.encoding == "o200k_base"
    assert count_files([tmp_path], workers=1) == result


def test_binary_undecodable_and_oversized_files_are_skipped_with_reasons(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"bin.dat": b"PK\x03\x04\x00\x00rest", "latin.txt": b"caf\xe9", "big.txt": "x" * 2000},
    )
    result = count_files([tmp_path], max_file_bytes=1000)
    reasons = {Path(item.path).name: item.reason for item in result.skipped}
    assert reasons["bin.dat"].startswith("binary")
    assert reasons["latin.txt"] == "not UTF-8 text (byte 0xE9 at offset 3)"
    assert "over the 1,000-byte limit" in reasons["big.txt"]
    assert result.files == ()


def test_model_estimates_are_labelled(tmp_path: Path) -> None:
    write(tmp_path, {"a.txt": "Some words to estimate. " * 20})
    result = count_files([tmp_path / "a.txt"], model="claude-sonnet-4-5")
    assert not result.exact and result.token_ratio is not None and result.encoding == "o200k_base"
    assert (
        result.total_tokens
        == count_tokens("Some words to estimate. " * 20, model="claude-sonnet-4-5").tokens
    )


def test_progress_is_reported_and_cancellation_stops_between_files(tmp_path: Path) -> None:
    write(tmp_path, {f"f{index:02}.txt": f"file {index}" for index in range(20)})
    seen: list[tuple[int, int]] = []
    count_files([tmp_path], progress=lambda done, total: seen.append((done, total)), workers=1)
    assert seen[-1] == (20, 20) and [done for done, _ in seen] == sorted(done for done, _ in seen)

    class Stop(Exception):
        pass

    calls = 0

    def check() -> None:
        nonlocal calls
        calls += 1
        if calls > 3:
            raise Stop

    with pytest.raises(Stop):
        count_files([tmp_path], check_cancelled=check, workers=1)
    assert calls == 4


# ---- confinement ----


@pytest.fixture
def fenced(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    write(root, {"inside.txt": "inside"})
    write(outside, {"secret.txt": "secret"})
    return root, outside


def test_relative_paths_come_from_the_first_root(fenced: tuple[Path, Path]) -> None:
    root, _ = fenced
    assert counted(count_files(["inside.txt"], roots=[root])) == ["inside.txt"]
    assert len(count_files(["."], roots=[root]).files) == 1
    # A missing relative path is named with where it was looked for.
    with pytest.raises(ValueError, match=re.escape(f"gone.txt ({root / 'gone.txt'}) does not")):
        count_files(["gone.txt"], roots=[root])


@pytest.mark.parametrize("escape", ["../outside/secret.txt", "..", "sub/../../outside"])
def test_dot_dot_cannot_leave_the_roots(fenced: tuple[Path, Path], escape: str) -> None:
    root, _ = fenced
    with pytest.raises(PathNotAllowedError, match="outside the allowed roots"):
        count_files([escape], roots=[root])


def test_absolute_paths_outside_the_roots_are_refused(fenced: tuple[Path, Path]) -> None:
    root, outside = fenced
    with pytest.raises(PathNotAllowedError, match="outside the allowed roots"):
        count_files([outside / "secret.txt"], roots=[root])
    assert count_files([outside / "secret.txt"], roots=[root, outside]).total_tokens > 0


def test_symbolic_links_cannot_lead_out(fenced: tuple[Path, Path]) -> None:
    root, outside = fenced
    (root / "link_file").symlink_to(outside / "secret.txt")
    (root / "link_dir").symlink_to(outside)
    (root / "inner_link").symlink_to(root / "inside.txt")
    with pytest.raises(PathNotAllowedError):
        count_files(["link_file"], roots=[root])
    with pytest.raises(PathNotAllowedError):
        count_files(["link_dir/secret.txt"], roots=[root])

    # Without roots (as `shoal count --file` walks) the folder named is what a link may not
    # leave, and the reason says so: no roots were given.
    result = count_files([root])
    reasons = {Path(item.path).name: item.reason for item in result.skipped}
    assert reasons == {
        "link_file": "symbolic link out of the folder counted (name the link to count its target)",
        "link_dir": "symbolic link out of the folder counted (name the link to count its target)",
    }
    confined = count_files(["."], roots=[root])
    assert {Path(item.path).name: item.reason for item in confined.skipped} == {
        "link_file": "symbolic link out of the allowed roots",
        "link_dir": "symbolic link out of the allowed roots",
    }
    # The link inside the root is the same file as inside.txt: counted once, under the first
    # path the walk reached it by.
    assert sorted(Path(path).name for path in counted(result)) == ["inner_link"]
    assert result.repeats_merged == 1


def test_proc_dev_and_fifos_are_refused(tmp_path: Path) -> None:
    for path in ("/proc/self/status", "/dev/zero"):
        with pytest.raises(PathNotAllowedError, match="shoal never reads"):
            count_files([path], roots=["/"])
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = count_files([tmp_path])
    assert [(Path(item.path).name, item.reason) for item in result.skipped] == [
        ("pipe", "not a regular file")
    ]
    assert count_files([fifo]).skipped[0].reason == "not a regular file"


def test_bad_arguments_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        count_files([tmp_path / "missing"])
    with pytest.raises(ValueError, match=r"^2 paths do not exist: \./gone/ \(.*gone\), lost \("):
        count_files([".", "./gone/", "lost"], roots=[tmp_path])
    with pytest.raises(ValueError, match="paths is empty"):
        count_files([])
    with pytest.raises(TypeError, match="not a single path"):
        count_files(str(tmp_path))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^paths must be a list of paths, not NoneType$"):
        count_files(None)  # type: ignore[arg-type]
    write(tmp_path, {"a.txt": "a", "b.txt": "b"})
    with pytest.raises(ValueError, match="more than 1 file to count"):
        count_files([tmp_path], max_files=1)


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"max_file_bytes": -1}, r"^max_file_bytes must be at least 1, not -1$"),
        ({"max_file_bytes": 0}, r"^max_file_bytes must be at least 1, not 0$"),
        ({"max_file_bytes": 2**30 + 1}, r"^max_file_bytes must be at most 1,073,741,824 \(1 GiB\)"),
        ({"max_file_bytes": 2**63 - 1}, r"^max_file_bytes must be at most 1,073,741,824"),
        ({"max_file_bytes": 10**20}, r"^max_file_bytes must be at most 1,073,741,824"),
        ({"max_files": 0}, r"^max_files must be at least 1, not 0$"),
    ],
)
def test_limits_out_of_range_name_the_limit_at_fault(
    tmp_path: Path, limits: dict[str, int], message: str
) -> None:
    write(tmp_path, {"a.txt": "a"})
    with pytest.raises(ValueError, match=message):
        count_files([tmp_path / "a.txt"], **limits)  # type: ignore[arg-type]


def test_the_largest_limit_is_accepted(tmp_path: Path) -> None:
    write(tmp_path, {"a.txt": "alpha"})
    assert count_files([tmp_path / "a.txt"], max_file_bytes=MAX_FILE_BYTES_LIMIT).total_bytes == 5


def test_summary_notes_count_in_the_singular_and_plural(tmp_path: Path) -> None:
    write(tmp_path, {"a.txt": "a", "b.txt": "b b", "x.bin": b"\0", "y.bin": b"\0"})
    result = count_files([tmp_path])

    assert result.summary(max_files=1).notes == (
        "1 smaller file not listed (their tokens are in the total); raise max_files to list them",
        "1 more skipped file not listed",
    )
    assert result.summary(max_files=2).notes == ()


def test_rules_of_the_enclosing_work_tree_apply_to_a_subfolder(tmp_path: Path) -> None:
    write(
        tmp_path,
        {".git/HEAD": "ref", ".gitignore": "*.log\n", "src/a.py": "x = 1", "src/b.log": "log"},
    )
    assert [Path(path).name for path in counted(count_files([tmp_path / "src"]))] == ["a.py"]
    # Confined to src, the work tree's top is out of reach, so its rules are not read.
    confined = count_files(["."], roots=[tmp_path / "src"])
    assert sorted(Path(path).name for path in counted(confined)) == ["a.py", "b.log"]


# ---- the CLI and the MCP tool ----


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_cli_counts_a_folder_with_a_progress_bar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from shoal import cli, progress

    write(tmp_path, {"a.txt": "alpha beta", "b.bin": b"\0\0"})
    monkeypatch.setattr(progress, "PROGRESS_DELAY_S", 0.0)
    assert cli.main(["count", "--file", str(tmp_path), "--progress", "always"]) == 0
    captured = capsys.readouterr()
    assert "counting [" in captured.err and "2/2 files" in captured.err
    assert "2  total: 1 file," in captured.out and "b.bin: binary" in captured.out


@pytest.mark.anyio
async def test_mcp_count_files_reports_progress_and_stays_in_its_roots(tmp_path: Path) -> None:
    from mcp import Client

    from shoal.server import build_server

    write(tmp_path / "root", {f"f{index:02}.txt": f"file {index}" for index in range(12)})
    server = build_server(roots=[tmp_path / "root"])
    seen: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total))

    async with Client(server) as client:
        result = await client.call_tool(
            "count_files", {"paths": ["."], "max_files": 3}, progress_callback=on_progress
        )
        escaped = await client.call_tool("count_files", {"paths": ["../"]})

    assert not result.is_error
    content = result.structured_content
    assert content["files_counted"] == 12 and len(content["largest_files"]) == 3
    assert content["notes"] == [
        "9 smaller files not listed (their tokens are in the total); raise max_files to list them"
    ]
    assert seen and seen[-1] == (12, 12)
    assert escaped.is_error and "outside the allowed roots" in escaped.content[0].text


@pytest.mark.anyio
async def test_mcp_names_every_missing_path_as_spelt_under_its_argument(tmp_path: Path) -> None:
    from mcp import Client

    from shoal.server import build_server

    write(tmp_path, {"a.txt": "alpha"})
    async with Client(build_server(roots=[tmp_path])) as client:
        one = await client.call_tool("count_files", {"paths": ["./missing"]})
        several = await client.call_tool("count_files", {"paths": ["a.txt", "gone/", "lost"]})

    assert one.is_error and one.content[0].text == (
        f"count_files: argument 'paths': ./missing ({tmp_path / 'missing'}) does not exist"
    )
    assert several.is_error and several.content[0].text.startswith(
        "count_files: argument 'paths': 2 paths do not exist: gone/ ("
    )


@pytest.mark.anyio
async def test_a_space_around_a_missing_path_is_shown_quoted(tmp_path: Path) -> None:
    from mcp import Client

    from shoal.server import build_server

    async with Client(build_server(roots=[tmp_path])) as client:
        spaced = await client.call_tool("count_files", {"paths": [".", " ."]})

    assert spaced.is_error and spaced.content[0].text == (
        f"count_files: argument 'paths': ' .' ({tmp_path / ' .'}) does not exist"
    )


def test_many_missing_paths_are_named_by_the_first_few_and_counted(tmp_path: Path) -> None:
    missing = [f"nope{index}" for index in range(1000)]

    with pytest.raises(ValueError) as refused:
        count_files(missing, roots=[tmp_path])

    assert str(refused.value) == (
        "1,000 paths do not exist: "
        + ", ".join(f"nope{index} ({tmp_path / f'nope{index}'})" for index in range(5))
        + " and 995 more"
    )


def test_a_long_path_is_shown_cut_in_the_middle(tmp_path: Path) -> None:
    long = "deep/" + "p" * 4000 + "/end.txt"

    with pytest.raises(ValueError) as refused:
        count_files([long, long + "2"], roots=[tmp_path])
    with pytest.raises(ValueError) as too_long:
        count_files(["a" * 300], roots=[tmp_path])

    message = str(refused.value)
    assert message.startswith("2 paths do not exist: 'deep/pppp") and len(message) < 600
    assert "p...p" in message and message.count("/end.txt") == 4  # as typed and as resolved
    assert str(too_long.value).startswith("cannot read 'aaaa")
    assert str(too_long.value).endswith("'): File name too long") and len(str(too_long.value)) < 300


@pytest.mark.anyio
async def test_a_thousand_long_missing_paths_make_a_short_tool_error(tmp_path: Path) -> None:
    from mcp import Client

    from shoal.server import build_server

    paths = [f"nope/{index}/" + "p" * 4000 for index in range(1000)]
    async with Client(build_server(roots=[tmp_path])) as client:
        result = await client.call_tool("count_files", {"paths": paths})

    text = result.content[0].text
    assert result.is_error and text.startswith(
        "count_files: argument 'paths': 1,000 paths do not exist: 'nope/0/ppp"
    )
    assert text.endswith(" and 995 more") and count_tokens(text).tokens < 1_000


@pytest.mark.anyio
async def test_count_files_lists_as_many_files_as_one_answer_holds(tmp_path: Path) -> None:
    from mcp import Client

    from shoal.server import build_server

    write(tmp_path, {f"a_rather_long_file_name_number_{n:03}.txt": "word " * n for n in range(400)})
    async with Client(build_server(roots=[tmp_path])) as client:
        answer = await client.call_tool("count_files", {"paths": ["."], "max_files": 1000})

    listed = answer.structured_content["largest_files"]
    assert not answer.is_error and 50 < len(listed) < 400
    assert answer.structured_content["files_counted"] == 400
    assert answer.structured_content["notes"] == [
        f"{400 - len(listed)} smaller files not listed (their tokens are in the total); one "
        f"answer holds {len(listed)} files; shoal count --file lists every one"
    ]


@pytest.mark.parametrize("roots", ["proj", Path("proj"), b"proj"])
def test_a_single_path_as_roots_is_refused_not_read_letter_by_letter(
    tmp_path: Path, roots: object
) -> None:
    # Taken as a sequence, "proj" would be the roots p, r, o, j, and "/proj" would allow "/".
    from shoal.budget import fit_budget
    from shoal.server import build_server

    outside = tmp_path / "outside.txt"
    outside.write_text("not yours", encoding="utf-8")
    message = "roots must be a list of folders, not a single path"

    with pytest.raises(TypeError, match=message):
        count_files([str(outside)], roots=roots)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=message):
        fit_budget([{"id": "a", "path": str(outside)}], budget_tokens=100, model="gpt-4o",
                   roots=roots)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=message):
        build_server(roots=roots)  # type: ignore[arg-type]
