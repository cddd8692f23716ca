"""The file items of a budget plan, alike in Python, over MCP and on the command line: a file goes
in once whatever path names it, a name that is not UTF-8 is read (an id made from it is valid
text), a path written under /dev is refused even where it leads to a file, and a plan needs an
item."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hang_guard import HANG_GUARD_S
from mcp import Client

from shoal.budget import fit_budget
from shoal.cli import main
from shoal.errors import InputError
from shoal.server import build_server

# A file name with the byte 0xFF, which is not UTF-8, as Python reads it from the file system.
NOT_UTF8 = os.fsdecode(b"bad\xffname.txt")
ASK = {"budget_tokens": 50, "model": "gpt-4o"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current folder, holding a.txt and an empty sub/."""
    (tmp_path / "a.txt").write_text("hi there\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---- the same file by any path ----


@pytest.mark.parametrize(
    ("second", "refusal"),
    [
        ("sub/../a.txt", "--file a.txt and --file sub/../a.txt name the same file"),
        ("./a.txt", "--file a.txt is given twice"),
    ],
)
def test_budget_fit_refuses_a_file_given_twice_by_any_path(
    folder: Path, capsys: pytest.CaptureFixture[str], second: str, refusal: str
) -> None:
    code, out, err = _run(capsys, "budget", "fit", "--file", "a.txt", "--file", second,
                          "--model", "gpt-4o", "--budget", "50")

    assert (code, out) == (2, "")
    assert err == f"shoal budget fit: error: {refusal}; give each file once\n"


def test_two_items_naming_one_file_are_refused_in_python_and_in_an_items_file(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = [{"id": "one", "path": "a.txt"}, {"id": "two", "path": "sub/../a.txt"}]
    refusal = (f"items 'one' and 'two' name the same file, '{folder / 'a.txt'}'; give each file "
               "once")
    (folder / "items.json").write_text(json.dumps(items), encoding="utf-8")
    (folder / "one.json").write_text(json.dumps(items[:1]), encoding="utf-8")

    with pytest.raises(InputError) as refused:
        fit_budget(items, roots=[folder], **ASK)  # type: ignore[arg-type]
    code, _, err = _run(capsys, "budget", "fit", "items.json", "--model", "gpt-4o",
                        "--budget", "50")
    # An items file's item and a --file item are two items too.
    _, _, beside = _run(capsys, "budget", "fit", "one.json", "--file", "a.txt",
                        "--model", "gpt-4o", "--budget", "50")

    assert str(refused.value) == refusal
    assert code == 2 and err == f"shoal budget fit: error: {refusal}\n"
    assert beside == ("shoal budget fit: error: items 'one' and 'a.txt' name the same file, "
                      f"'{folder / 'a.txt'}'; give each file once\n")


@pytest.mark.anyio
async def test_fit_budget_over_mcp_refuses_two_items_naming_one_file(folder: Path) -> None:
    items = [{"id": "one", "path": "a.txt"}, {"id": "two", "path": "./a.txt"}]
    async with Client(build_server(roots=[folder])) as client:
        result = await client.call_tool("fit_budget", {"items": items, **ASK})

    assert result.is_error
    assert result.content[0].text == (  # type: ignore[union-attr]
        f"fit_budget: items 'one' and 'two' name the same file, '{folder / 'a.txt'}'; give each "
        "file once"
    )


# ---- a file name that is not UTF-8 ----


def test_a_name_that_is_not_utf8_is_read_and_its_id_made_valid_text(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / NOT_UTF8).write_text("hello\n", encoding="utf-8")

    code, out, err = _run(capsys, "budget", "fit", "--file", NOT_UTF8, "--model", "gpt-4o",
                          "--budget", "100")
    plan = fit_budget([{"id": "x", "path": NOT_UTF8}], roots=[folder], **ASK)  # type: ignore[arg-type]

    assert code == 0, err
    assert "  included  bad\ufffdname.txt: 2 tokens;" in out
    assert plan.items[0].tokens == 2 and plan.items[0].source == str(folder / NOT_UTF8)


def test_an_id_given_is_still_held_to_valid_text(folder: Path) -> None:
    with pytest.raises(InputError, match=r"^items\[0\]\.id has an unpaired surrogate at index 3"):
        fit_budget([{"id": NOT_UTF8, "path": "a.txt"}], roots=[folder], **ASK)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"^item 'x': path has an unpaired surrogate at index 1"):
        fit_budget([{"id": "x", "path": "a\ud800"}], roots=[folder], **ASK)  # type: ignore[arg-type]


# ---- standard input by its /dev name ----


def test_dev_stdin_is_refused_even_when_standard_input_is_a_file(folder: Path) -> None:
    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        with open(folder / "a.txt", "rb") as stdin:
            return subprocess.run([sys.executable, "-m", "shoal", *argv], cwd=folder,
                                  stdin=stdin, capture_output=True, text=True,
                                  timeout=HANG_GUARD_S)

    as_file = run("budget", "fit", "--file", "/dev/stdin", "--model", "gpt-4o", "--budget", "50")
    as_item = run("budget", "fit", "-", "--root", "/", "--model", "gpt-4o", "--budget", "50")

    assert as_file.returncode == 2 and as_file.stderr == (
        "shoal budget fit: error: --file /dev/stdin is standard input, which --file does not "
        "read; give the text as an item of ITEMS_FILE, which '-' reads from standard input\n"
    )
    # Standard input as '-' is the items file itself: a.txt is no JSON list of items.
    assert as_item.returncode == 2 and "items file: standard input: not valid JSON" in (
        as_item.stderr
    )


def test_an_item_path_written_under_dev_is_refused_where_it_leads(tmp_path: Path) -> None:
    # /dev/fd/N names an open file; where the descriptor leads is a file inside the root.
    with open(tmp_path / "notes.txt", "w", encoding="utf-8") as handle:
        handle.write("hello")
        handle.flush()
        path = f"/dev/fd/{handle.fileno()}"
        with pytest.raises(InputError) as refused:
            fit_budget([{"id": "x", "path": path}], roots=["/"], **ASK)  # type: ignore[arg-type]

    assert str(refused.value) == f"item 'x': '{path}' is under /dev, which shoal never reads"


# ---- a plan needs an item ----


@pytest.mark.anyio
async def test_an_empty_list_of_items_is_refused_everywhere(
    capsys: pytest.CaptureFixture[str], folder: Path
) -> None:
    (folder / "items.json").write_text("[]", encoding="utf-8")

    with pytest.raises(InputError) as refused:
        fit_budget([], **ASK)  # type: ignore[arg-type]
    async with Client(build_server(roots=[folder])) as client:
        served = await client.call_tool("fit_budget", {"items": [], **ASK})
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    code, _, err = _run(capsys, "budget", "fit", "items.json", "--model", "gpt-4o",
                        "--budget", "30")

    assert str(refused.value) == "items is empty; give at least one item to fit"
    assert served.is_error and served.content[0].text.startswith(  # type: ignore[union-attr]
        "fit_budget: argument 'items': must not be empty")
    schema: dict[str, Any] = tools["fit_budget"].input_schema["properties"]["items"]
    assert schema["minItems"] == 1
    assert code == 2 and "holds no items and no --file is given: nothing to fit" in err
