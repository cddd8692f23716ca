"""What the text renderers say about counts, truncations and chunks."""

from __future__ import annotations

from shoal import render
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
