"""What the text renderers say about counts, truncations and chunks."""

from __future__ import annotations

from pathlib import Path

from shoal import render
from shoal.files import count_files
from shoal.token_budget import count_till_limit, split_chunks, truncate


def test_a_limit_count_that_read_everything_does_not_say_it_stopped() -> None:
    message = render.limit_count(count_till_limit("a" * 50_000, 100))
    assert "stopped" not in message
    assert message.startswith(
        "over the limit: 6,250 tokens, more than 100 (counted all 50,000 characters"
    )


def test_a_limit_count_that_stopped_early_says_where() -> None:
    message = render.limit_count(count_till_limit("word " * 100_000, 1000))
    assert "stopped at 1,201 after 6,004 of 500,000 characters" in message


def test_one_token_is_singular() -> None:
    assert render.truncation(truncate("hi", 5)).startswith("kept all 1 token (")
    chunks = split_chunks("hi", 5).summary(max_chunks=5, include_text=False)
    assert "[0:2] 1 token" in render.chunk_list(chunks)
    assert render.chunk_list(chunks).startswith("1 chunk of at most 5 tokens, 1 token in all (")


def test_one_byte_is_singular(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a", encoding="utf-8")
    summary = count_files([tmp_path / "a.txt"]).summary(max_files=5)

    assert render.files_summary(summary).startswith("1 token in 1 file (1 byte; exact, ")
