"""Folders in paths the user gives: a missing one is an error, not created (only shoal's own data
directory and split's --out-dir itself are made), and a folder where a file belongs is named."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from shoal.budget import fit_budget
from shoal.cli import chunk_file_name, main
from shoal.feedback import FeedbackError, default_db_path, record_outcome
from shoal.files import read_regular_file
from shoal.server import build_server
from shoal.token_budget import MAX_CHUNKS

pytestmark = pytest.mark.anyio
DECISION = "d-0123456789abcdef01234567"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# ---- split --out-dir ----


def test_split_creates_its_out_dir_and_says_where_the_chunks_went(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_dir = tmp_path / "chunks"

    status, out, err = run(capsys, "split", "--max-tokens", "1", "--out-dir", str(out_dir),
                           "hello world")

    assert status == 0
    assert sorted(path.name for path in out_dir.iterdir()) == ["chunk_0001.txt", "chunk_0002.txt"]
    assert err == f"shoal split: wrote 2 chunk files to {out_dir}\n"
    assert out.endswith("2 chunks, 2 tokens (exact, o200k_base)\n")


def test_split_names_ten_thousand_chunks_and_more_so_that_they_sort_in_order(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_dir = tmp_path / "chunks"
    text = " a" * 10_001  # one token each

    status, _, err = run(capsys, "split", "--max-tokens", "1", "--out-dir", str(out_dir), text)

    assert status == 0 and err == f"shoal split: wrote 10,001 chunk files to {out_dir}\n"
    names = sorted(path.name for path in out_dir.iterdir())  # as a shell orders DIR/*
    assert (names[0], names[9_999], names[-1]) == (
        "chunk_00001.txt", "chunk_10000.txt", "chunk_10001.txt"
    )
    assert "".join((out_dir / name).read_text(encoding="utf-8") for name in names) == text


@pytest.mark.parametrize(
    ("count", "first", "last"),
    [(1, "chunk_0001.txt", "chunk_0001.txt"), (9_999, "chunk_0001.txt", "chunk_9999.txt"),
     (10_000, "chunk_00001.txt", "chunk_10000.txt"),
     (MAX_CHUNKS, "chunk_000001.txt", "chunk_100000.txt")],
)
def test_chunk_file_names_take_the_digits_of_the_last_chunk(
    count: int, first: str, last: str
) -> None:
    assert (chunk_file_name(1, count), chunk_file_name(count, count)) == (first, last)


def test_split_refuses_an_out_dir_whose_parent_is_missing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_dir = tmp_path / "mistyped" / "deeper" / "chunks"

    status, out, err = run(capsys, "split", "--max-tokens", "1", "--out-dir", str(out_dir),
                           "hello")

    assert status == 2 and out == ""
    assert err == (
        f"shoal split: error: --out-dir {out_dir}: the folder {out_dir.parent} does not exist; "
        "create it first (only the --out-dir folder itself is created)\n"
    )
    assert not (tmp_path / "mistyped").exists()


# ---- the feedback database ----


def test_a_feedback_database_in_a_missing_folder_is_refused(tmp_path: Path) -> None:
    database = tmp_path / "x" / "a" / "b" / "c" / "fb.sqlite3"

    with pytest.raises(FeedbackError) as caught:
        record_outcome(DECISION, "gpt-4o", 1.0, db_path=database)

    assert str(caught.value) == (
        f"cannot open the feedback database {database}: the folder {database.parent} does not "
        "exist"
    )
    assert not (tmp_path / "x").exists()


def test_a_feedback_database_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")

    with pytest.raises(FeedbackError, match=r"the folder .*notes\.txt is not a folder"):
        record_outcome(DECISION, "gpt-4o", 1.0, db_path=tmp_path / "notes.txt" / "fb.sqlite3")


def test_the_command_line_names_the_missing_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    database = tmp_path / "x" / "fb.sqlite3"

    status, _, err = run(capsys, "feedback", "record", DECISION, "gpt-4o", "1", "--db",
                         str(database))

    assert status == 2
    assert f"the folder {database.parent} does not exist" in err
    assert not database.parent.exists()


def test_shoals_own_data_directory_is_created_for_the_default_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHOAL_FEEDBACK_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))

    recorded = record_outcome(DECISION, "gpt-4o", 1.0)

    assert default_db_path() == tmp_path / "data" / "shoal" / "feedback.sqlite3"
    assert Path(recorded.db_path) == default_db_path()
    assert default_db_path().is_file()


# ---- a folder where a budget item's file belongs ----


def test_a_budget_item_naming_a_binary_file_is_refused_like_count_files_skips_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "blob.bin").write_bytes(b"PK\x03\x04\x00\x00 archive")

    with pytest.raises(ValueError) as caught:
        fit_budget([{"id": "a", "path": "blob.bin"}], budget_tokens=100, model="gpt-4o",
                   roots=[tmp_path])

    assert str(caught.value) == ("item 'a': 'blob.bin' is binary (NUL byte in the first "
                                 "8 KiB); name a text file")


def test_a_budget_item_naming_a_folder_is_a_named_error(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()

    with pytest.raises(ValueError) as caught:
        fit_budget([{"id": "a", "path": "docs"}], budget_tokens=100, model="gpt-4o",
                   roots=[tmp_path])

    assert str(caught.value) == "item 'a': 'docs' is a folder; name a file"


def test_budget_fit_names_a_folder_given_with_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "docs").mkdir()

    status, _, err = run(capsys, "budget", "fit", "--file", str(tmp_path / "docs"), "--model",
                         "gpt-4o", "--budget", "100", "--root", str(tmp_path))

    assert status == 2
    assert "docs' is a folder; name a file" in err


async def test_fit_budget_over_mcp_names_a_folder(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    server = build_server(roots=[tmp_path])

    async with Client(server) as client:
        fitted = await client.call_tool(
            "fit_budget",
            {"items": [{"id": "a", "path": "docs"}], "budget_tokens": 100, "model": "gpt-4o"},
        )

    assert fitted.is_error
    assert "item 'a': 'docs' is a folder; name a file" in fitted.content[0].text


def test_a_folder_read_as_a_regular_file_gives_a_reason(tmp_path: Path) -> None:
    # The walk may meet a folder swapped in where a file was: a reason, not an exception.
    assert read_regular_file(tmp_path, 100) == "a folder, not a file"
