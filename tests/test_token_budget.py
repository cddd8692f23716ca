"""Budget primitives (count until a limit, truncate, split) and chat/tool prompt counts."""

from __future__ import annotations

import itertools
import math
import random
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp import Client

from shoal import token_budget, tokens
from shoal.catalog import load_catalog
from shoal.errors import InputError
from shoal.server import build_server
from shoal.token_budget import (
    SAFE_BREAK,
    TokenBudgetError,
    count_till_limit,
    split_chunks,
    truncate,
)

CORPUS = Path(__file__).parent / "data" / "corpus"
ENCODINGS = ("o200k_base", "cl100k_base", "tekken_240718")

# Letters, digits, spaces and newlines in the combinations the safe breaks look at, plus
# characters that straddle token boundaries (CJK and emoji in cl100k_base) and marks.
MIXED = st.text(
    alphabet=st.sampled_from(list("ab Zé1 2\n\n  \t.'s/世界👍\u0301\u00a0-_Ⅻ")), max_size=120
)


@pytest.fixture(scope="module")
def prose() -> str:
    return (CORPUS / "prompts_en.txt").read_text(encoding="utf-8")[:60_000]


def count(text: str, encoding: str) -> int:
    return tokens.count_tokens(text, encoding=encoding).tokens


# ---- count_till_limit ----


def ids_by_safe_parts(text: str, encoding: str) -> list[int]:
    cuts = [0, *(match.end() for match in SAFE_BREAK.finditer(text)), len(text)]
    parts = [text[start:end] for start, end in itertools.pairwise(cuts)]
    return [token for part in parts for token in tokens.encode(part, encoding=encoding)]


@settings(max_examples=150, deadline=None)
@given(text=MIXED, encoding=st.sampled_from(ENCODINGS))
def test_encoding_the_parts_between_safe_breaks_gives_the_whole_ids(
    text: str, encoding: str
) -> None:
    assert ids_by_safe_parts(text, encoding) == tokens.encode(text, encoding=encoding)


def test_safe_breaks_on_seeded_random_text() -> None:
    # Includes the shapes a looser rule gets wrong, e.g. o200k's "?\n/" (one piece).
    generator = random.Random(1)
    alphabet = list("ab Zé1 2\n\n  \t.'s/世界👍\u0301\u00a0-_Ⅻ!?")
    for _ in range(2500):
        text = "".join(generator.choice(alphabet) for _ in range(generator.randint(1, 30)))
        for encoding in ("o200k_base", "cl100k_base"):
            assert ids_by_safe_parts(text, encoding) == tokens.encode(text, encoding=encoding)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_count_till_limit_equals_the_full_count_under_the_limit(prose: str, encoding: str) -> None:
    text = prose[:20_000]
    result = count_till_limit(text, 10**9, encoding=encoding)
    assert result.tokens == count(text, encoding)
    assert not result.exceeded and result.characters_read == len(text) and result.exact


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_count_till_limit_stops_early_with_an_exact_prefix_count(prose: str, encoding: str) -> None:
    result = count_till_limit(prose, 300, encoding=encoding)
    assert result.exceeded and result.tokens > 300
    assert result.characters_read < len(prose) // 4
    assert result.tokens == count(prose[: result.characters_read], encoding)
    assert result.tokens <= count(prose, encoding)


def test_count_till_limit_at_the_exact_count_is_not_exceeded() -> None:
    text = "one two three four"
    exact = count(text, "o200k_base")
    assert not count_till_limit(text, exact).exceeded
    assert count_till_limit(text, exact - 1).exceeded
    assert count_till_limit("", 0) == count_till_limit("", 0)
    assert not count_till_limit("", 0).exceeded


def test_count_till_limit_for_an_estimated_model_scales_and_labels() -> None:
    entry = load_catalog().model("claude-sonnet-4-5")
    text = "Estimate me. " * 50
    result = count_till_limit(text, 10_000, model=entry.id)
    assert result.exact is False and result.encoding == "o200k_base"
    assert result.token_ratio == entry.token_ratio
    assert result.tokens == tokens.count_tokens(text, model=entry.id).tokens
    over = count_till_limit(text, 20, model=entry.id)
    assert over.exceeded and over.tokens > 20


# ---- truncate ----


@settings(max_examples=150, deadline=None)
@given(
    text=MIXED,
    budget=st.integers(min_value=0, max_value=40),
    side=st.sampled_from(["head", "tail"]),
    encoding=st.sampled_from(ENCODINGS),
)
def test_truncate_keeps_an_end_within_budget(
    text: str, budget: int, side: str, encoding: str
) -> None:
    result = truncate(text, budget, side=side, encoding=encoding)  # type: ignore[arg-type]
    assert result.tokens == count(result.text, encoding) <= budget
    assert result.original_tokens == count(text, encoding)
    if side == "head":
        assert text.startswith(result.text)
    else:
        assert text.endswith(result.text)
    assert result.truncated == (result.text != text)
    if result.original_tokens <= budget:
        assert result.text == text


def test_truncate_never_splits_a_character() -> None:
    text = "世界" * 30 + "👨‍👩‍👧‍👦" * 5
    for budget in range(0, 30):
        for side in ("head", "tail"):
            kept = truncate(text, budget, side=side, encoding="cl100k_base").text  # type: ignore[arg-type]
            assert "\ufffd" not in kept
            assert kept.encode("utf-8").decode("utf-8") == kept


def test_truncate_keeps_close_to_the_budget_on_prose(prose: str) -> None:
    head = truncate(prose, 1000)
    tail = truncate(prose, 1000, side="tail")
    assert 990 <= head.tokens <= 1000 and 990 <= tail.tokens <= 1000
    assert head.truncated and prose.startswith(head.text) and prose.endswith(tail.text)


def test_truncate_to_a_model_estimate_stays_within_the_budget() -> None:
    entry = load_catalog().model("claude-opus-4-7")
    text = "The budget applies to the scaled estimate. " * 30
    result = truncate(text, 100, model=entry.id)
    assert not result.exact and result.tokens <= 100
    base = count(result.text, "o200k_base")
    assert result.tokens == math.ceil(base * Fraction(str(entry.token_ratio)))


# ---- split_chunks ----


@settings(max_examples=150, deadline=None)
@given(
    text=MIXED, budget=st.integers(min_value=4, max_value=30), encoding=st.sampled_from(ENCODINGS)
)
def test_split_chunks_cover_the_text_within_budget(text: str, budget: int, encoding: str) -> None:
    try:
        result = split_chunks(text, budget, encoding=encoding)
    except TokenBudgetError as error:
        # Any one code point fits 4 tokens, but a letter with marks (`1` + two accents: 5
        # Tekken tokens) may not, and no cut splits it: the refusal must say so.
        assert "make one user-visible character" in str(error)
        return
    assert "".join(result.texts) == text
    position = 0
    for chunk, piece in zip(result.chunks, result.texts, strict=True):
        assert chunk.start == position and text[chunk.start : chunk.end] == piece
        assert piece and chunk.tokens == count(piece, encoding) <= budget
        position = chunk.end
    assert position == len(text)
    assert result.total_tokens == count(text, encoding)


# User-visible characters of several code points, in the cases a cut must not tear: a letter
# and its accent, CR LF, flags (two regional indicators; a subdivision flag of tag characters),
# skin tones, zero width joiner sequences, a variation selector; and single code points.
CLUSTERS = ["a", "b", " ", "\n", "中", "e\u0301", "a\u0301\u0323", "\r\n", "🇯🇵", "🇫🇷",
            "🇩🇪", "👍🏽", "👩🏽\u200d🚀", "👨\u200d👩\u200d👧\u200d👦",
            "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f", "\u2764\ufe0f",
            "ท\u0e33", "น\u0e49\u0e33", "ທ\u0eb3"]


@settings(max_examples=200, deadline=None)
@given(
    clusters=st.lists(st.sampled_from(CLUSTERS), max_size=30),
    budget=st.integers(min_value=1, max_value=24),
    encoding=st.sampled_from(ENCODINGS),
)
def test_cuts_never_tear_a_user_visible_character(
    clusters: list[str], budget: int, encoding: str
) -> None:
    text = "".join(clusters)
    whole = {0, *itertools.accumulate(len(cluster) for cluster in clusters)}

    for side in ("head", "tail"):
        kept = truncate(text, budget, side=side, encoding=encoding)  # type: ignore[arg-type]
        cut = len(kept.text) if side == "head" else len(text) - len(kept.text)
        assert cut in whole and kept.tokens <= budget
    try:
        chunks = split_chunks(text, budget, encoding=encoding).chunks
    except TokenBudgetError as error:
        assert "raise max_tokens" in str(error)
        return
    assert {chunk.end for chunk in chunks} <= whole and all(c.tokens <= budget for c in chunks)


def test_flags_emoji_sequences_and_accents_are_kept_whole() -> None:
    flags = "🇯🇵🇫🇷🇩🇪"  # 4 o200k_base tokens a flag

    assert split_chunks(flags, 4).texts == ("🇯🇵", "🇫🇷", "🇩🇪")
    assert split_chunks(flags, 9).texts == ("🇯🇵🇫🇷", "🇩🇪")
    assert truncate(flags, 5, side="tail").text == "🇩🇪"
    # The astronaut is woman, skin tone, joiner, rocket: all or nothing.
    assert truncate("👩🏽\u200d🚀 astronaut", 3).text == ""
    assert truncate("e\u0301e\u0301", 1).text == ""
    # Thai SARA AM is a letter by category, a spacing mark to the grapheme rules: ทำ is whole.
    assert split_chunks("น้ำทำนา", 2).texts == ("น้ำ", "ทำน", "า")
    with pytest.raises(TokenBudgetError, match=r"characters 0-1 \(they make one user-visible "
                       r"character, such as a flag, an emoji sequence or a letter and its marks, "
                       r"which no cut splits\) take 4 o200k_base tokens"):
        split_chunks(flags, 2)


def test_split_chunks_fill_the_budget_on_prose(prose: str) -> None:
    result = split_chunks(prose, 512)
    assert "".join(result.texts) == prose
    assert all(chunk.tokens <= 512 for chunk in result.chunks)
    assert all(chunk.tokens >= 500 for chunk in result.chunks[:-1])


def test_split_chunks_refuses_a_budget_below_one_character() -> None:
    with pytest.raises(
        TokenBudgetError,
        match=r"^max_tokens=1 is too small: no cut at or below 1 cl100k_base token follows "
        r"character 2: character 2 takes 2 cl100k_base tokens in the text; raise max_tokens to "
        r"at least 2, what the text's widest such run takes$",
    ):
        split_chunks("ab世", 1, encoding="cl100k_base")
    assert split_chunks("", 5).chunks == ()


@pytest.mark.parametrize("model", [None, "claude-sonnet-4-5"])
def test_a_split_into_too_many_chunks_is_refused_before_any_chunk_is_cut(
    monkeypatch: pytest.MonkeyPatch, model: str | None
) -> None:
    # With at most 10 chunks, 20 words at 1 token a chunk (2 under an estimate: 1 base token)
    # are refused from the token count alone; cutting 10 chunks first and refusing at the 11th
    # would give the same error later, after the work the check exists to save.
    cut: list[int] = []
    real_next_chunk = token_budget._next_chunk

    def counting_next_chunk(*arguments: Any) -> Any:
        cut.append(1)
        return real_next_chunk(*arguments)

    monkeypatch.setattr(token_budget, "MAX_CHUNKS", 10)
    monkeypatch.setattr(token_budget, "_next_chunk", counting_next_chunk)
    budget = 1 if model is None else 2
    with pytest.raises(TokenBudgetError, match="more than 10 chunks"):
        split_chunks("word " * 20, budget, model=model)
    assert cut == []

    chunks = split_chunks("word " * 5, budget, model=model)
    assert len(cut) == len(chunks.chunks) == 6  # each chunk is cut by the function counted


def test_an_estimate_says_how_few_base_tokens_a_chunk_holds() -> None:
    # 2 estimated tokens at 1.3 hold one o200k_base token, so 120,001 base tokens (156,002
    # estimated) make more than 100,000 chunks although 156,002 / 2 would not.
    with pytest.raises(TokenBudgetError, match=r"more than 100,000 chunks \(each chunk holds at "
                       r"most 1 o200k_base token, scaled by 1.3\)"):
        split_chunks("word " * 120_000, 2, model="claude-sonnet-4-5")


@pytest.mark.parametrize("model", [None, "claude-sonnet-4-5"])
def test_the_advised_max_tokens_is_the_least_that_splits(model: str | None) -> None:
    # A 2-token character comes first, the widest (3 tokens) later: advice from the first alone
    # would fail again at the second.
    text = "仮" * 50 + "abc" + "🦜" * 5
    # Under an estimate, 1 is under one base token once scaled by 1.3: refused before the
    # characters are looked at, it must still name what the widest one needs.
    widest = r"to at least (\d+), what the text's widest"
    with pytest.raises(TokenBudgetError, match=widest) as refused:
        split_chunks(text, 1, model=model)
    least = int(re.search(r"at least (\d+),", str(refused.value)).group(1))

    assert "".join(split_chunks(text, least, model=model).texts) == text
    with pytest.raises(TokenBudgetError):
        split_chunks(text, least - 1, model=model)


def test_split_text_over_mcp_blames_max_tokens_not_the_encoding() -> None:
    async def call() -> Any:
        async with Client(build_server()) as client:
            return await client.call_tool("split_text", {"text": "🦜", "max_tokens": 1})

    result = anyio.run(call)

    assert result.is_error
    assert result.content[0].text.startswith(
        "split_text: max_tokens=1 is too small"
    )


def test_split_text_over_mcp_reads_special_token_text_as_truncate_text_does() -> None:
    text = "a<|endoftext|>b"

    async def call(tool: str, **arguments: Any) -> Any:
        async with Client(build_server()) as client:
            return await client.call_tool(tool, {"text": text, "max_tokens": 50, **arguments})

    plain = anyio.run(lambda: call("split_text"))
    special = anyio.run(lambda: call("split_text", allow_special=True))
    cut = anyio.run(lambda: call("truncate_text", allow_special=True))

    assert not special.is_error, special.content[0].text
    assert special.structured_content["total_tokens"] == cut.structured_content["tokens"] == (
        split_chunks(text, 50, allow_special=True).total_tokens
    ) == 3
    assert plain.structured_content["total_tokens"] == split_chunks(text, 50).total_tokens > 3


@pytest.mark.parametrize(
    ("cut", "argument"),
    [(truncate, 1), (split_chunks, 5), (count_till_limit, 5)],
)
def test_a_lone_surrogate_is_refused_as_count_tokens_refuses_it(cut: Any, argument: int) -> None:
    text = "ab\udc00c"
    with pytest.raises(InputError) as counted:
        tokens.count_tokens(text)

    with pytest.raises(InputError) as refused:
        cut(text, argument)

    assert str(refused.value) == str(counted.value)
    assert str(refused.value).startswith("text has an unpaired surrogate at index 2; ")


def test_a_chunk_summary_says_how_many_chunks_it_left_out() -> None:
    chunks = split_chunks("word" * 3000, 1)
    assert len(chunks.chunks) == 3000

    assert chunks.summary(max_chunks=2999, include_text=False).note == (
        "chunk 3,000 not listed; raise max_chunks to see them"
    )
    assert chunks.summary(max_chunks=1, include_text=False).note == (
        "chunks 2-3,000 not listed; raise max_chunks to see them"
    )
    assert chunks.summary(max_chunks=3000, include_text=False).note == ""


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: count_till_limit("x", -1), ValueError, "limit must be at least 0"),
        (lambda: truncate("x", 5, side="middle"), ValueError, "side must be 'head' or 'tail'"),  # type: ignore[arg-type]
        (lambda: split_chunks("x", 0), ValueError, "max_tokens must be at least 1"),
        (lambda: truncate("x", 1.5), TypeError, "max_tokens must be an int"),  # type: ignore[arg-type]
        (lambda: truncate("x", 5, encoding="p50k_base"), ValueError, "valid encodings are"),
        (lambda: truncate("ok\ud800", 5), ValueError, "unpaired surrogate"),
    ],
)
def test_bad_budgets_are_clear_errors(call, error: type[Exception], message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=message):
        call()


def test_special_token_text_is_ordinary_unless_allowed() -> None:
    text = "before <|endoftext|> after"
    assert truncate(text, 100).tokens == count(text, "o200k_base")
    allowed = truncate(text, 100, allow_special=True)
    assert (
        allowed.tokens
        == tokens.count_tokens(text, allow_special=True).tokens
        < count(text, "o200k_base")
    )


# ---- chat and tools ----

WEATHER_TOOLS = [  # openai-cookbook, How_to_count_tokens_with_tiktoken, section 7
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {
                        "type": "string",
                        "description": "The city and state, e.g. San Francisco, CA",
                    },
                    "unit": {
                        "type": "string",
                        "description": "The unit of temperature to return",
                        "enum": ["celsius", "fahrenheit"],
                    },
                },
                "required": ["location"],
            },
        },
    }
]
WEATHER_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful assistant that can answer to questions about the weather.",
    },
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


@pytest.mark.parametrize(
    ("model", "expected"),
    [("gpt-3.5-turbo", 105), ("gpt-4", 105), ("gpt-4o", 101), ("gpt-4o-mini", 101)],
)
def test_count_chat_with_tools_reproduces_the_cookbook_api_counts(
    model: str, expected: int
) -> None:
    # The cookbook's prompt_tokens, checked there against the API.
    result = tokens.count_chat(WEATHER_MESSAGES, model=model, tools=WEATHER_TOOLS)
    assert result.tokens == expected
    assert result.tokens == result.message_tokens + result.tool_tokens
    assert result.exact and result.tools == 1 and result.messages == 2


def test_tool_overhead_parts() -> None:
    bare = [{"name": "ping"}]  # no description, no parameters, not wrapped in "function"
    result = tokens.count_chat([], model="gpt-4o", tools=bare)
    assert result.tool_tokens == 7 + count("ping:", "o200k_base") + 12
    assert tokens.count_chat([], model="gpt-4o").tool_tokens == 0


def test_count_chat_labels_assumed_rules_and_estimates() -> None:
    newer = tokens.count_chat(WEATHER_MESSAGES, model="gpt-4.1", tools=WEATHER_TOOLS)
    assert newer.tokens == 101 and newer.exact is False and "assumed" in newer.method
    claude = tokens.count_chat(WEATHER_MESSAGES, model="claude-sonnet-4-5", tools=WEATHER_TOOLS)
    assert claude.exact is False and claude.encoding == "o200k_base"
    assert claude.token_ratio == 1.3 and claude.ratio_source.startswith("estimate: no local")
    assert claude.method.startswith("estimate: texts counted as o200k_base tokens x 1.30, rounded")
    assert claude.tokens > newer.tokens
    nemo = tokens.count_chat(WEATHER_MESSAGES, model="mistral-nemo-12b-instruct")
    assert (
        nemo.encoding == "tekken_240718" and not nemo.exact and nemo.method.startswith("estimate")
    )


def test_count_chat_refuses_malformed_tools() -> None:
    with pytest.raises(ValueError, match=r"tools\[0\] has no function name"):
        tokens.count_chat([], tools=[{"type": "function", "function": {}}])
    with pytest.raises(TypeError, match="tools must be a list"):
        tokens.count_chat([], tools={"name": "x"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="messages must be a list"):
        tokens.count_chat({"role": "user"})  # type: ignore[arg-type]


def test_a_split_into_more_than_max_chunks_is_refused_before_any_cut(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = "word " * 200_000  # 200,001 tokens

    with pytest.raises(TokenBudgetError) as refused:
        split_chunks(text, 1)

    assert str(refused.value) == (
        "max_tokens=1 would split the text's 200,001 tokens into more than 100,000 chunks, the "
        "most one split makes; raise max_tokens to at least 3, or split a part of the text"
    )
    assert len(split_chunks(text, 3).chunks) == 66_667

    # Not one chunk is cut: the refusal comes from the text's count alone.
    def no_cut(*args: object) -> None:
        raise AssertionError("a chunk was cut")

    monkeypatch.setattr(token_budget, "_next_chunk", no_cut)
    with pytest.raises(TokenBudgetError, match="more than 100,000 chunks"):
        split_chunks(text, 2)


def test_the_advised_max_tokens_splits_text_of_unsplittable_characters() -> None:
    # Each parrot is 3 o200k_base tokens that no cut may separate: at max_tokens=5 a chunk holds
    # one parrot, 150,000 chunks, although 450,000 tokens / 100,000 chunks rounds up to 5.
    parrots = "\U0001f99c" * 150_000

    for too_small in (1, 5):
        with pytest.raises(TokenBudgetError, match="raise max_tokens to at least 6,"):
            split_chunks(parrots, too_small)
    assert len(split_chunks(parrots, 6).chunks) == 75_000


def test_chunks_cut_back_to_whole_characters_are_bounded_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each of these characters is 3 o200k_base tokens, so chunks of 4 hold 3: 6 chunks where the
    # token count alone promises at least 5.
    text = "\U0001d518" * 6
    monkeypatch.setattr(token_budget, "MAX_CHUNKS", 5)

    with pytest.raises(TokenBudgetError, match="more than 5 chunks"):
        split_chunks(text, 4)
    assert len(split_chunks(text, 6).chunks) == 3


def test_a_split_refusal_names_the_least_max_tokens_that_splits_the_text() -> None:
    # Mixed scripts, marks and spaces make runs of characters that a token spans.
    alphabet = [" ", "\xa0", "\t", "a", "1", "é", "中", "😀", "👍🏽", "\u0301", "'", "\u200d"]
    rng = random.Random(7)
    refusals = 0
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
        for encoding in ("cl100k_base", "o200k_base", "tekken_240718"):
            for budget in range(1, 5):
                try:
                    split_chunks(text, budget, encoding=encoding)
                except TokenBudgetError as error:
                    refusals += 1
                    least = int(re.search(r"at least (\d+)", str(error)).group(1))
                    split_chunks(text, least, encoding=encoding)
                    with pytest.raises(TokenBudgetError):
                        split_chunks(text, least - 1, encoding=encoding)
    assert refusals > 100


def test_the_safe_break_search_finds_what_a_plain_scan_finds() -> None:
    # _safe_break skips ahead with str.find; every break it can report is the one a scan of the
    # pattern as first written, one place after another, reports.
    from shoal.token_budget import _safe_break

    written = re.compile(r"(?<=[^\W\d_])(?= [^\W\d_])|(?<=[^\W_]\n)(?=[^\W_])")
    generator = random.Random(5)
    for _ in range(5_000):
        text = "".join(generator.choice("a1 _\n\u00e9.Z") for _ in range(generator.randint(0, 30)))
        for start in range(len(text) + 1):
            scanned, skipped = written.search(text, start), _safe_break(text, start)
            assert (scanned and scanned.start()) == (skipped and skipped.start()), (text, start)


# ---- encoding only what a cut needs ----

# Text whose safe breaks fall beside what a cut must not tear: Thai SARA AM after a newline (a
# letter that joins the character before), flags, a ZWJ sequence, accents, CRLF and CJK.
EDGES = ["a", "b", "Zé", "1", " ", "\n", "\r\n", "\u0e33", "ท", "🇯🇵", "👩🏽\u200d🚀", "e\u0301",
         "世界", "<|endoftext|>", "[INST]", "\t", "..", "x y"]


def whole_text_cut(text: str, budget: int, side: str, encoding: str) -> tuple[str, int, int]:
    """What truncate keeps when the whole text is encoded at once: the kept text, its count and
    the whole text's count."""
    tokenizer = tokens.tokenizer_for(encoding=encoding)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(token_budget, "ENCODE_BLOCK_CHARACTERS", len(text) + 1)
        cuts = token_budget._TokenCuts(tokenizer, text, False)
    if cuts.token_count <= budget:
        return text, cuts.token_count, cuts.token_count
    if side == "head":
        kept, kept_tokens, _ = cuts.longest_from(0, budget)
    else:
        kept, kept_tokens = cuts.longest_to(cuts.token_count, budget)
    return kept, kept_tokens, cuts.token_count


def truncated_in_small_blocks(text: str, budget: int, side: str, encoding: str) -> Any:
    # Blocks of a few characters, so that even short texts are cut from a window of them.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(token_budget, "MIN_BLOCK_CHARACTERS", 3)
        patch.setattr(token_budget, "FIRST_BLOCK_CHARACTERS_PER_TOKEN", 1)
        patch.setattr(token_budget, "ENCODE_BLOCK_CHARACTERS", 5)
        return truncate(text, budget, side=side, encoding=encoding)  # type: ignore[arg-type]


def assert_cut_as_whole(text: str, budget: int, side: str, encoding: str) -> None:
    for result in (truncate(text, budget, side=side, encoding=encoding),  # type: ignore[arg-type]
                   truncated_in_small_blocks(text, budget, side, encoding)):
        kept = (result.text, result.tokens, result.original_tokens)
        assert kept == whole_text_cut(text, budget, side, encoding), (text, budget, side)


@settings(max_examples=200, deadline=None)
@given(
    text=st.lists(st.sampled_from(EDGES), max_size=60).map("".join) | MIXED,
    budget=st.integers(min_value=0, max_value=30),
    side=st.sampled_from(["head", "tail"]),
    encoding=st.sampled_from(ENCODINGS),
)
def test_truncate_keeps_what_encoding_the_whole_text_keeps(
    text: str, budget: int, side: str, encoding: str
) -> None:
    assert_cut_as_whole(text, budget, side, encoding)


@pytest.mark.parametrize("name", ["prompts_en.txt", "code_python.txt", "data_json.txt", "cjk.txt"])
def test_truncate_keeps_what_encoding_the_whole_text_keeps_on_the_corpus(name: str) -> None:
    text = (CORPUS / name).read_text(encoding="utf-8")[:40_000]
    for encoding in ENCODINGS:
        for budget in (0, 1, 17, 1000, 4000):
            for side in ("head", "tail"):
                assert_cut_as_whole(text, budget, side, encoding)


@settings(max_examples=100, deadline=None)
@given(text=st.lists(st.sampled_from(EDGES), max_size=80).map("".join) | MIXED,
       encoding=st.sampled_from(ENCODINGS))
def test_token_ends_encoded_in_blocks_are_the_whole_texts(text: str, encoding: str) -> None:
    tokenizer = tokens.tokenizer_for(encoding=encoding)
    whole = tokens.encode(text, encoding=encoding)
    lengths = (len(tokenizer.backend.decode(encoding, [token])) for token in whole)
    ends = list(itertools.accumulate(lengths))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(token_budget, "ENCODE_BLOCK_CHARACTERS", 4)
        cuts = token_budget._TokenCuts(tokenizer, text, False)
    assert list(cuts.byte_offsets) == [0, *ends]


def test_truncating_a_long_text_does_not_encode_all_of_it() -> None:
    # Encoded whole, 2 MB of prose took its ids and a byte offset per token as Python ints, about
    # 40 MB; only the kept end is encoded now, and the text's own UTF-8 (checked for lone
    # surrogates) is the largest thing made.
    import tracemalloc

    prose = (CORPUS / "prompts_en.txt").read_text(encoding="utf-8")
    text = (prose.encode("ascii", "ignore").decode("ascii") * 2)[:2_000_000]
    truncate("warm the encoding up", 1)
    for side in ("head", "tail"):
        tracemalloc.start()
        try:
            result = truncate(text, 1000, side=side)  # type: ignore[arg-type]
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert result.truncated and result.tokens <= 1000
        assert peak < 3 * len(text), f"{side}: {peak:,} bytes"
