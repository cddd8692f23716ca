"""Files named for reading that are not regular files, or hold nothing: a token file, the
feedback database and the outcomes folded into a fit are refused at once, never waited on,
grown into memory, or turned into a new database."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shoal.cli import main
from shoal.feedback import FeedbackError, outcomes_as_rows
from shoal.http_transport import read_token


@pytest.fixture
def pipe(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("special", ["/dev/zero", "pipe"])
def test_a_token_file_that_is_not_a_regular_file_is_refused(
    special: str, pipe: Path
) -> None:
    path = pipe if special == "pipe" else Path(special)

    with pytest.raises(ValueError, match=r"^the token file: .*(never reads|not a regular file)"):
        read_token(path)


def test_reading_outcomes_leaves_an_empty_file_empty(tmp_path: Path) -> None:
    empty = tmp_path / "outcomes.sqlite3"
    empty.touch()

    with pytest.raises(FeedbackError, match="an empty file, no outcomes, at"):
        outcomes_as_rows(empty)

    assert empty.stat().st_size == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outcomes.sqlite3"]


def test_the_feedback_database_is_never_a_pipe(
    pipe: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    record = ["feedback", "record", "d-" + "0" * 24, "gpt-4o", "1", "--db", str(pipe)]

    assert main(record) == 2
    assert "it is not a regular file" in capsys.readouterr().err
    assert main(["feedback", "export", "--db", str(pipe)]) == 2
    assert "it is not a regular file" in capsys.readouterr().err
    assert main(["fit", "--outcomes", str(pipe), "--out", str(tmp_path / "r.json")]) == 2
    assert "it is not a regular file" in capsys.readouterr().err
