"""Fit text to a token budget: count until a limit, truncate, split into chunks.

Every function takes an ``encoding`` or a catalog ``model`` as ``shoal.tokens.count_tokens``
does, and says in its answer whether the numbers are exact. For a model whose tokenizer is not
public, budgets are applied to the scaled ``o200k_base`` estimate, so that the estimate of what is
kept never exceeds the budget; the answer's ``encoding`` is then ``o200k_base`` and its
``token_ratio`` the scale.

Cuts fall on token boundaries of the whole text's encoding that are also boundaries of
user-visible characters by the rule of :func:`cut_allowed`: never inside a code point (so every
result decodes to valid text), and never where the two sides would read as one character torn in
two (an accent from its letter, a skin tone or a zero width joiner sequence from its emoji, one
flag's two regional indicators, CR from LF). Encoding a piece of text on its own can merge bytes
differently from encoding it inside the whole text, so each kept piece is counted again and the
cut moved back until the piece fits; the counts returned are those of the pieces themselves.

The whole text's tokens are those of its parts between safe breaks (see ``SAFE_BREAK``) put end
to end, so only the part a cut needs is ever encoded: ``truncate`` encodes from the kept end until
the budget is passed and counts the rest without encoding it, and ``split_chunks`` encodes one
block at a time, keeping a byte offset per token (8 bytes) rather than a list of ids. A text
without safe breaks (one long line without spaces) is encoded whole.

Positions and lengths (a chunk's ``start`` and ``end``, ``characters``) count Unicode code
points, as Python indexes a str: ``text[start:end]``. A host that indexes UTF-16 code units
(JavaScript) must convert them: a character past U+FFFF is one code point and two units.
"""

from __future__ import annotations

import itertools
import logging
import re
import unicodedata
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from shoal.errors import InputError, ShoalError
from shoal.excerpts import excerpt
from shoal.numbers_in import whole_number
from shoal.tokens import Tokenizer, check_allow_special, check_unicode, tokenizer_for

logger = logging.getLogger(__name__)

# Characters counted per token of limit in the first block of count_till_limit: generous enough
# that English, code and JSON (2.4-4.4 characters per token) rarely need a second block.
FIRST_BLOCK_CHARACTERS_PER_TOKEN = 6
MIN_BLOCK_CHARACTERS = 4096

# Characters encoded (or counted) at once where a whole stretch is needed: a block's ids, as a
# Python list, take about 36 bytes a token, so a whole 50 MB text encoded at once took over a
# gigabyte; blocks of this size keep that to tens of megabytes.
ENCODE_BLOCK_CHARACTERS = 1 << 20

# Most chunks one split makes. Each chunk is counted on its own and kept as text and as a range,
# so a split into millions (a 20 MB file at max_tokens=1) took gigabytes and most of a minute;
# this many is a book in chunks of 10 tokens.
MAX_CHUNKS = 100_000

# Places where every encoding shoal knows must start a new pre-tokenization piece, whatever
# follows: between a letter and a space that precedes a letter, and after a newline that follows
# a letter or digit and precedes one. No pattern alternative of cl100k_base, o200k_base or Tekken
# matches across either place, and matching after it does not depend on the text before it, so
# the counts of the two sides add up to the count of the whole. Each alternative tests its
# literal (the space, the newline) first, which fails fastest at most places (twice as fast).
SAFE_BREAK = re.compile(r"(?= [^\W\d_])(?<=[^\W\d_])|(?<=\n)(?<=[^\W_]\n)(?=[^\W_])")


# Code points that never begin a user-visible character of their own, beside the marks.
ZERO_WIDTH_JOINER = "\u200d"
ZERO_WIDTH_JOINER_UTF8 = ZERO_WIDTH_JOINER.encode("utf-8")
EMOJI_MODIFIERS = range(0x1F3FB, 0x1F400)  # the five skin tones
TAG_CHARACTERS = range(0xE0020, 0xE0080)  # spell a subdivision flag after U+1F3F4
# Thai SARA AM and Lao AM: letters by category (Lo) that Unicode's grapheme rules treat as
# spacing marks, the only two outside the categories M; ทำ ("do") is one character.
SPACING_MARK_LETTERS = frozenset("\u0e33\u0eb3")
# The UTF-8 of U+1F1E6-U+1F1FF, the regional indicators a flag is a pair of: these three bytes,
# then 0xA6-0xBF.
REGIONAL_INDICATOR_LEAD = b"\xf0\x9f\x87"


def cut_allowed(data: bytes, offset: int) -> bool:
    """Whether UTF-8 text ``data`` may be cut at byte ``offset`` without tearing a character.

    The start and the end always may. Elsewhere a cut is refused inside a code point and
    between two code points that belong to one user-visible character in the common cases of
    Unicode's grapheme cluster rules (UAX #29): before a combining mark (any of Unicode's
    categories Mn, Mc and Me, which take in the variation selectors, and the Thai and Lao
    vowel AM, the two spacing marks categorised as letters), an emoji skin-tone
    modifier, a zero width joiner or a tag character; after a zero width joiner; between CR and
    LF; and between the two regional indicators of a flag (counted in pairs from the first of a
    run). Marks are known as Python's ``unicodedata`` knows them. Not covered: Hangul syllables
    spelt in conjoining jamo, prepended concatenation marks and Indic conjuncts joined after a
    virama, which may still be cut between their code points.
    """
    if offset <= 0 or offset >= len(data):
        return True
    after_byte = data[offset]
    if after_byte & 0xC0 == 0x80:
        return False  # inside a code point
    before_byte = data[offset - 1]
    if after_byte < 0x80:  # no ASCII character joins what precedes it
        if before_byte < 0x80:
            return not (before_byte == 0x0D and after_byte == 0x0A)
        return not _after_a_joiner(data, offset)
    after = data[offset : offset + 4].decode("utf-8", "ignore")[:1]
    if _after_a_joiner(data, offset) or _joins_the_character_before(after):
        return False
    if _regional_indicator_at(data, offset) and _regional_indicator_at(data, offset - 4):
        return _regional_indicators_before(data, offset) % 2 == 0
    return True


def _after_a_joiner(data: bytes, offset: int) -> bool:
    # Checked for a start of 0 or more: a negative one would count from the end.
    return offset >= 3 and data.startswith(ZERO_WIDTH_JOINER_UTF8, offset - 3)


def _joins_the_character_before(character: str) -> bool:
    code = ord(character)
    if code < 0x300:
        return False  # nothing below the combining diacritics joins what precedes it
    return (
        character == ZERO_WIDTH_JOINER
        or code in EMOJI_MODIFIERS
        or code in TAG_CHARACTERS
        or character in SPACING_MARK_LETTERS
        or unicodedata.category(character).startswith("M")
    )


def _regional_indicator_at(data: bytes, offset: int) -> bool:
    """Whether the four bytes of a regional indicator start at ``offset``."""
    return (
        0 <= offset <= len(data) - 4
        and data.startswith(REGIONAL_INDICATOR_LEAD, offset)
        and 0xA6 <= data[offset + 3] <= 0xBF
    )


def _regional_indicators_before(data: bytes, offset: int) -> int:
    """How many regional indicators run back from ``offset`` without a break."""
    count = 0
    while offset >= 4 and _regional_indicator_at(data, offset - 4):
        count += 1
        offset -= 4
    return count


class TokenBudgetError(ShoalError, ValueError):
    """A budget that cannot be met, such as chunks smaller than one character's tokens."""


@dataclass(frozen=True)
class LimitCount:
    """The result of counting until a limit.

    Attributes:
        tokens: Tokens counted: the whole text's count when ``exceeded`` is False, else the count
            of the part read so far (more than ``limit``).
        limit: The limit asked for.
        exceeded: True when the text has more than ``limit`` tokens.
        characters_read: How much of the text was counted before stopping, in code points.
        characters: Length of the whole text in code points.
        encoding: The encoding that counted (for an estimate, the one whose counts were scaled).
        exact: True when ``tokens`` is the model's (or encoding's) exact count.
        model: The catalog model id, or None.
        token_ratio: For an estimate, the model's tokens per ``encoding`` token; None when exact.
        ratio_source: For an estimate, where the catalog's ratio comes from; None when exact.
    """

    tokens: int
    limit: int
    exceeded: bool
    characters_read: int
    characters: int
    encoding: str
    exact: bool
    model: str | None
    token_ratio: float | None = None
    ratio_source: str | None = None


@dataclass(frozen=True)
class Truncation:
    """A text cut to a token budget.

    Attributes:
        text: The kept text: a prefix (``side="head"``) or suffix (``side="tail"``).
        tokens: Tokens of the kept text, counted on its own.
        original_tokens: Tokens of the whole text.
        truncated: True when anything was cut.
        side: Which end was kept.
        characters: Length of the kept text in code points.
        original_characters: Length of the whole text in code points.
        encoding: The encoding that counted (for an estimate, the one whose counts were scaled).
        exact: True when the counts are exact.
        model: The catalog model id, or None.
        token_ratio: For an estimate, the model's tokens per ``encoding`` token; None when exact.
        ratio_source: For an estimate, where the catalog's ratio comes from; None when exact.
    """

    text: str
    tokens: int
    original_tokens: int
    truncated: bool
    side: str
    characters: int
    original_characters: int
    encoding: str
    exact: bool
    model: str | None
    token_ratio: float | None = None
    ratio_source: str | None = None


@dataclass(frozen=True)
class Chunk:
    """One chunk of a split text: ``text[start:end]`` and its token count; ``start`` and ``end``
    count code points, as Python indexes a str."""

    start: int
    end: int
    tokens: int


@dataclass(frozen=True)
class Chunks:
    """A text split into chunks of at most ``max_tokens`` tokens, in order, covering it exactly.

    Attributes:
        chunks: Code point ranges and counts of the chunks; ``"".join(text[c.start:c.end]
            ...)`` is the original text.
        texts: The chunks' text, in order.
        max_tokens: The budget per chunk.
        total_tokens: Tokens of the whole text.
        encoding: The encoding that counted (for an estimate, the one whose counts were scaled).
        exact: True when the counts are exact.
        model: The catalog model id, or None.
        token_ratio: For an estimate, the model's tokens per ``encoding`` token; None when exact.
        ratio_source: For an estimate, where the catalog's ratio comes from; None when exact.
    """

    chunks: tuple[Chunk, ...]
    texts: tuple[str, ...]
    max_tokens: int
    total_tokens: int
    encoding: str
    exact: bool
    model: str | None
    token_ratio: float | None = None
    ratio_source: str | None = None

    def summary(self, *, max_chunks: int, include_text: bool) -> ChunkList:
        """The first ``max_chunks`` chunks (with their text when asked), and what was left out."""
        shown = self.chunks[:max_chunks]
        note = ""
        if len(shown) < len(self.chunks):
            unlisted = chunk_numbers(len(shown) + 1, len(self.chunks))
            note = f"{unlisted} not listed; raise max_chunks to see them"
        return ChunkList(
            chunk_count=len(self.chunks),
            chunks=shown,
            texts=self.texts[: len(shown)] if include_text else (),
            max_tokens=self.max_tokens,
            total_tokens=self.total_tokens,
            encoding=self.encoding,
            exact=self.exact,
            model=self.model,
            note=note,
            token_ratio=self.token_ratio,
            ratio_source=self.ratio_source,
        )


@dataclass(frozen=True)
class ChunkList:
    """A split text, shortened for a reply: the first chunks' ranges and, if asked, their text.

    Attributes:
        chunk_count: How many chunks the text splits into.
        chunks: The first chunks' code point ranges and counts.
        texts: Their text, or empty when not asked for.
        max_tokens: The budget per chunk.
        total_tokens: Tokens of the whole text.
        encoding: The encoding that counted (for an estimate, the one whose counts were scaled).
        exact: True when the counts are exact.
        model: The catalog model id, or None.
        note: What was left out, if anything.
        token_ratio: For an estimate, the model's tokens per ``encoding`` token; None when exact.
        ratio_source: For an estimate, where the catalog's ratio comes from; None when exact.
    """

    chunk_count: int
    chunks: tuple[Chunk, ...]
    texts: tuple[str, ...]
    max_tokens: int
    total_tokens: int
    encoding: str
    exact: bool
    model: str | None
    note: str
    token_ratio: float | None = None
    ratio_source: str | None = None


def chunk_numbers(first: int, last: int) -> str:
    """Chunks ``first`` to ``last`` (numbered from 1), as a note names them."""
    if first == last:
        return f"chunk {first:,}"
    return f"chunks {first:,}-{last:,}"


def count_till_limit(
    text: str,
    limit: int,
    *,
    encoding: str | None = None,
    model: str | None = None,
    allow_special: bool = False,
) -> LimitCount:
    """Count the tokens of ``text``, stopping as soon as the count passes ``limit``.

    The text is counted in blocks that end at safe piece boundaries, the first sized for the
    limit and each next one twice as long, so a huge text over the limit costs about as much as
    counting a few times ``limit`` tokens. A text without safe boundaries (one long line without
    spaces) is counted whole.

    Args:
        text: The text to count.
        limit: The most tokens allowed (0 or more).
        encoding: The encoding (default ``DEFAULT_ENCODING``); not together with ``model``.
        model: A catalog model id; decides the tokenizer (estimate when not public).
        allow_special: Count special-token text as special tokens.

    Returns:
        The count so far and whether the limit was passed.

    Raises:
        TypeError: ``text`` not a str, ``limit`` not an int, or ``allow_special`` not a bool.
        ValueError: A negative limit, an unknown encoding or model, or invalid text.
    """
    _check_text(text)
    check_allow_special(allow_special)
    limit = _check_budget(limit, "limit", minimum=0)
    tokenizer = tokenizer_for(encoding=encoding, model=model)
    base_limit = tokenizer.base_budget(limit)

    base_tokens = 0
    position = 0
    for end in _block_ends(text, limit):
        base_tokens += tokenizer.backend.count(
            tokenizer.encoding, text[position:end], allow_special=allow_special
        )
        position = end
        if base_tokens > base_limit:
            break

    tokens = tokenizer.scale(base_tokens)
    return LimitCount(
        tokens=tokens,
        limit=limit,
        exceeded=tokens > limit,
        characters_read=position,
        characters=len(text),
        **tokenizer.method(),
    )


def _block_ends(text: str, limit: int) -> Iterator[int]:
    """Ends of successive blocks of ``text``, each at a safe break (the last at the end)."""
    size = max(MIN_BLOCK_CHARACTERS, FIRST_BLOCK_CHARACTERS_PER_TOKEN * limit)
    position = 0
    while position < len(text):
        if position + size >= len(text):
            yield len(text)
            return
        match = _safe_break(text, position + size)
        end = match.end() if match else len(text)
        yield end
        position = end
        size *= 2


def _safe_break(text: str, start: int) -> re.Match[str] | None:
    """The first safe break at or after ``start``. Every break sits at a space or just after a
    newline, so a stretch without either (a long line of one word) is skipped by ``str.find``
    at memory speed before the pattern is tried."""
    space, newline = text.find(" ", start), text.find("\n", max(start - 1, 0))
    candidates = [found for found in (space, newline) if found >= 0]
    if not candidates:
        return None
    return SAFE_BREAK.search(text, max(start, min(candidates)))


def _head_window(
    tokenizer: Tokenizer, text: str, budget: int, allow_special: bool
) -> tuple[int, int]:
    """The end of the first blocks of ``text`` that hold more than ``budget`` tokens, and
    their count; the whole text's length and count when it holds no more."""
    tokens = 0
    position = 0
    for end in _block_ends(text, budget):
        tokens += _count_between(tokenizer, text, position, end, allow_special)
        position = end
        if tokens > budget:
            break
    return position, tokens


def _tail_window(
    tokenizer: Tokenizer, text: str, budget: int, allow_special: bool
) -> tuple[int, int]:
    """The start of the last blocks of ``text`` that hold more than ``budget`` tokens, and
    their count; 0 and the whole text's count when it holds no more.

    Blocks start at safe breaks, the first about ``budget`` tokens from the end and each one
    twice as far back as the last.
    """
    size = max(MIN_BLOCK_CHARACTERS, FIRST_BLOCK_CHARACTERS_PER_TOKEN * budget)
    tokens = 0
    end = len(text)
    while end > 0 and tokens <= budget:
        start = _break_before(text, len(text) - size, end)
        size *= 2
        if start < end:
            tokens += _count_between(tokenizer, text, start, end, allow_special)
            end = start
    return end, tokens


def _break_before(text: str, start: int, end: int) -> int:
    """The first safe break at or after ``start`` and before ``end``; 0 when ``start`` is, and
    ``end`` when there is no such break."""
    if start <= 0:
        return 0
    match = _safe_break(text, start)
    return match.end() if match and match.end() < end else end


def _ends_between(text: str, start: int, end: int) -> Iterator[int]:
    """Ends of blocks of about ``ENCODE_BLOCK_CHARACTERS`` from ``start`` to ``end`` (both
    safe breaks or ends of the text), each at a safe break, the last at ``end``."""
    position = start
    while position < end:
        match = None
        if end - position > ENCODE_BLOCK_CHARACTERS:
            match = _safe_break(text, position + ENCODE_BLOCK_CHARACTERS)
        position = match.end() if match and match.end() < end else end
        yield position


def _count_between(
    tokenizer: Tokenizer, text: str, start: int, end: int, allow_special: bool
) -> int:
    """Tokens of ``text[start:end]``, whose ends are safe breaks or ends of the text, counted
    in blocks so that neither a copy of the stretch nor its ids are held at once."""
    total = 0
    for block_end in _ends_between(text, start, end):
        total += tokenizer.backend.count(
            tokenizer.encoding, text[start:block_end], allow_special=allow_special
        )
        start = block_end
    return total


def truncate(
    text: str,
    max_tokens: int,
    *,
    side: Literal["head", "tail"] = "head",
    encoding: str | None = None,
    model: str | None = None,
    allow_special: bool = False,
) -> Truncation:
    """Keep the first (``head``) or last (``tail``) part of ``text`` within ``max_tokens``.

    The text's first (or last) ``max_tokens`` tokens of the whole text's encoding are kept
    whole, cut back to a boundary between user-visible characters (see :func:`cut_allowed`) and then
    further while the kept part, counted on its own, exceeds the budget. Only the text's own
    token boundaries are tried, so this is not always the longest part that fits: a part
    encoded alone can merge into fewer tokens (two tabs and a "1" at 1 token keep one tab,
    though two tabs alone are 1 cl100k_base token). Only the kept end is encoded, block by
    block between safe breaks until the budget is passed (see ``count_till_limit``); the rest
    is counted without keeping its tokens.

    Args:
        text: The text to cut.
        max_tokens: The most tokens to keep (0 or more).
        side: ``"head"`` keeps the beginning, ``"tail"`` the end.
        encoding: The encoding (default ``DEFAULT_ENCODING``); not together with ``model``.
        model: A catalog model id; decides the tokenizer (estimate when not public).
        allow_special: Count special-token text as special tokens.

    Returns:
        The kept text with its count and the original's.

    Raises:
        TypeError: ``text`` not a str, ``max_tokens`` not an int, or ``allow_special`` not a
            bool.
        ValueError: A negative budget, an unknown side, encoding or model, or invalid text.
    """
    _check_text(text)
    check_allow_special(allow_special)
    max_tokens = _check_budget(max_tokens, "max_tokens", minimum=0)
    if side not in ("head", "tail"):
        raise InputError(f"side must be 'head' or 'tail', not {excerpt(side)}")
    tokenizer = tokenizer_for(encoding=encoding, model=model)
    budget = tokenizer.base_budget(max_tokens)

    if side == "head":
        window_end, window_tokens = _head_window(tokenizer, text, budget, allow_special)
        window_start = 0
    else:
        window_start, window_tokens = _tail_window(tokenizer, text, budget, allow_special)
        window_end = len(text)
    if window_tokens <= budget:  # the window is the whole text
        kept, kept_tokens, original_tokens = text, window_tokens, window_tokens
    else:
        cuts = _TokenCuts(tokenizer, text, allow_special, start=window_start, end=window_end)
        if side == "head":
            kept, kept_tokens, _ = cuts.longest_from(0, budget)
        else:
            kept, kept_tokens = cuts.longest_to(cuts.token_count, budget)
        rest = (window_end, len(text)) if side == "head" else (0, window_start)
        original_tokens = window_tokens + _count_between(tokenizer, text, *rest, allow_special)

    return Truncation(
        text=kept,
        tokens=tokenizer.scale(kept_tokens),
        original_tokens=tokenizer.scale(original_tokens),
        truncated=len(kept) < len(text),
        side=side,
        characters=len(kept),
        original_characters=len(text),
        **tokenizer.method(),
    )


def split_chunks(
    text: str,
    max_tokens: int,
    *,
    encoding: str | None = None,
    model: str | None = None,
    allow_special: bool = False,
) -> Chunks:
    """Split ``text`` into consecutive chunks of at most ``max_tokens`` tokens each.

    Each chunk ends at the last token boundary within the budget that is also a boundary
    between user-visible characters (see :func:`cut_allowed`; moved back if the chunk counted
    on its own comes out larger), and the next starts there; joined, the chunks are the
    original text. Chunk ranges count code points.

    Args:
        text: The text to split.
        max_tokens: The most tokens per chunk (1 or more).
        encoding: The encoding (default ``DEFAULT_ENCODING``); not together with ``model``.
        model: A catalog model id; decides the tokenizer (estimate when not public).
        allow_special: Count special-token text as special tokens.

    Returns:
        The chunks with their character ranges and counts.

    Raises:
        TypeError: ``text`` not a str, ``max_tokens`` not an int, or ``allow_special`` not a
            bool.
        TokenBudgetError: A budget too small for a single character at some place, or one that
            would make more than ``MAX_CHUNKS`` chunks (refused before any chunk is cut, when
            the text's token count shows it; the message gives the smallest max_tokens that
            would do).
        ValueError: An unknown encoding or model, or invalid text.
    """
    _check_text(text)
    check_allow_special(allow_special)
    max_tokens = _check_budget(max_tokens, "max_tokens", minimum=1)
    tokenizer = tokenizer_for(encoding=encoding, model=model)
    cuts = _TokenCuts(tokenizer, text, allow_special)
    budget = tokenizer.base_budget(max_tokens)
    if budget < 1:
        raise TokenBudgetError(
            f"max_tokens={max_tokens} is under one {tokenizer.encoding} token once scaled by "
            f"{tokenizer.ratio}; raise it to at least "
            f"{tokenizer.scale(cuts.widest_character_tokens()):,}, what the text's widest "
            "character takes"
        )
    # Every chunk holds at most `budget` tokens, so this many at least: known before any cut.
    if -(-cuts.token_count // budget) > MAX_CHUNKS:
        raise _too_many_chunks(cuts, max_tokens)

    chunks: list[Chunk] = []
    texts: list[str] = []
    token_index = 0
    character = 0
    while token_index < cuts.token_count:
        if len(chunks) == MAX_CHUNKS:
            # Chunks cut back to a character boundary can hold far fewer tokens than the budget.
            raise _too_many_chunks(cuts, max_tokens)
        piece, tokens, token_index = _next_chunk(cuts, token_index, budget, character, max_tokens)
        chunks.append(Chunk(character, character + len(piece), tokenizer.scale(tokens)))
        texts.append(piece)
        character += len(piece)

    return Chunks(
        chunks=tuple(chunks),
        texts=tuple(texts),
        max_tokens=max_tokens,
        total_tokens=tokenizer.scale(cuts.token_count),
        **tokenizer.method(),
    )


def _too_many_chunks(cuts: _TokenCuts, max_tokens: int) -> TokenBudgetError:
    """The refusal of a split into more than ``MAX_CHUNKS`` chunks, with the smallest
    max_tokens whose split makes few enough."""
    tokenizer = cuts.tokenizer
    smallest = tokenizer.scale(_smallest_budget_within_max_chunks(cuts))
    # An estimate cuts in base tokens: max_tokens=2 at 1.3 holds one, so 155,483 estimated
    # tokens (119,602 base) make more than 100,000 chunks although 155,483 / 2 does not.
    from shoal.render import plural  # render imports this module, so not at the top

    held = plural(tokenizer.base_budget(max_tokens), f"{tokenizer.encoding} token")
    scaled = "" if tokenizer.exact else (
        f" (each chunk holds at most {held}, scaled by {tokenizer.ratio})"
    )
    return TokenBudgetError(
        f"max_tokens={max_tokens:,} would split the text's {tokenizer.scale(cuts.token_count):,} "
        f"tokens into more than {MAX_CHUNKS:,} chunks{scaled}, the most one split makes; raise "
        f"max_tokens to at least {smallest:,}, or split a part of the text"
    )


def _smallest_budget_within_max_chunks(cuts: _TokenCuts) -> int:
    """The smallest budget (in ``encoding`` tokens) that splits the text into at most
    ``MAX_CHUNKS`` chunks.

    The token count alone gives a floor that can be too low: a chunk cannot end inside a
    character, so one of 3-token characters at a budget of 5 holds 3 tokens. Chunks of whole
    characters give a higher floor cheaply (no counting); splitting for real from there, with
    every piece counted again, gives a budget that is known to work.
    """
    floor = max(1, -(-cuts.token_count // MAX_CHUNKS))
    whole_characters = _smallest_passing(
        floor, lambda budget: _within_max_chunks(cuts, budget, recount=False)
    )
    return _smallest_passing(
        whole_characters, lambda budget: _within_max_chunks(cuts, budget, recount=True)
    )


def _within_max_chunks(cuts: _TokenCuts, budget: int, *, recount: bool) -> bool:
    """Whether a split at ``budget`` makes at most ``MAX_CHUNKS`` chunks, stopping once it
    makes more; without ``recount`` chunks end at the last whole character within the budget."""
    token_index = 0
    for _ in range(MAX_CHUNKS):
        if token_index == cuts.token_count:
            return True
        if recount:
            end = cuts.longest_from(token_index, budget)[2]
        else:
            end = cuts.last_character_boundary(token_index, budget)
        if end == token_index:
            return False  # a character alone takes more than the budget
        token_index = end
    return token_index == cuts.token_count


def _smallest_passing(lowest: int, passes: Callable[[int], bool]) -> int:
    """The smallest budget from ``lowest`` up that ``passes``, for a test that larger budgets
    pass once one does: steps up doubling until one passes, then halves the gap back."""
    failing = lowest - 1
    step = 1
    while not passes(failing + step):
        failing += step
        step *= 2
    passing = failing + step
    while passing - failing > 1:
        middle = (failing + passing) // 2
        if passes(middle):
            passing = middle
        else:
            failing = middle
    return passing


def _next_chunk(
    cuts: _TokenCuts, start: int, budget: int, character: int, max_tokens: int
) -> tuple[str, int, int]:
    piece, tokens, end = cuts.longest_from(start, budget)
    if end == start:
        raise _no_cut(cuts, start, budget, character, max_tokens)
    return piece, tokens, end


def _no_cut(
    cuts: _TokenCuts, start: int, budget: int, character: int, max_tokens: int
) -> TokenBudgetError:
    """The refusal of a split that finds no cut within the budget after ``character``.

    A chunk ends only where a token of the whole text ends between two characters. The text up
    to the first such place (one character, or several when a token joins the bytes of one to
    the next) is named with its tokens in the text and counted alone: the larger of the two
    exceeds the budget.
    """
    from shoal.render import plural  # render imports this module, so not at the top

    tokenizer = cuts.tokenizer
    run, in_text = cuts.unsplittable_run(start)
    alone = tokenizer.backend.count(tokenizer.encoding, run, allow_special=cuts.allow_special)
    last = character + len(run) - 1
    if last == character:
        what = f"character {character:,} takes"
    else:
        what = f"characters {character:,}-{last:,} ({_held_together(run)}) take"
    taken = plural(in_text, f"{tokenizer.encoding} token") + " in the text"
    if alone != in_text:
        taken += f" and {alone:,} counted alone"
    # Led by the argument to change: the encoding the message names is not at fault. The
    # least that works is what the text's widest run needs, not this one's: raising to this
    # one's would fail again at the next wider one.
    needed = tokenizer.scale(cuts.widest_character_tokens())
    return TokenBudgetError(
        f"max_tokens={max_tokens} is too small: no cut at or below "
        f"{plural(budget, tokenizer.encoding + ' token')} follows character {character:,}: "
        f"{what} {taken}; raise max_tokens to at least {needed:,}, what the text's widest "
        "such run takes"
    )


def _held_together(run: str) -> str:
    """Why no cut falls inside ``run``, a stretch of code points between two places a cut may
    fall: they read as one character, or a token of the text spans them."""
    data = run.encode("utf-8")
    inner = itertools.accumulate(len(character.encode("utf-8")) for character in run[:-1])
    if any(not cut_allowed(data, offset) for offset in inner):
        return ("they make one user-visible character, such as a flag, an emoji sequence or a "
                "letter and its marks, which no cut splits")
    return "a token spans more than one of them, so no cut falls between them"


def _check_text(text: object) -> None:
    # Checked first: the encoder's own complaint ("object of type 'NoneType' has no len()")
    # names no argument, and its refusal of a lone surrogate is no ShoalError.
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    check_unicode(text, "text")


def _check_budget(value: object, name: str, *, minimum: int) -> int:
    number = whole_number(value)
    if number is None:
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if number < minimum:
        raise InputError(f"{name} must be at least {minimum}, not {number}")
    return number


class _TokenCuts:
    """The tokens of a window of a text, as the whole text's encoding has them, and the byte
    offset where each token ends.

    The window runs from code point ``start`` to ``end``, both safe breaks or ends of the text,
    so its tokens are the whole text's there. ``data`` holds the window's UTF-8 and one code
    point either side of it, so that :func:`cut_allowed` sees at the window's edges what it
    would see in the whole text; token indexes count from the window's start.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        text: str,
        allow_special: bool,
        *,
        start: int = 0,
        end: int | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.allow_special = allow_special
        end = len(text) if end is None else end
        before = text[max(start - 1, 0) : start].encode("utf-8")
        self.data = before + text[start : end + 1].encode("utf-8")
        self.byte_offsets = array("q", [len(before)])
        for block_end in _ends_between(text, start, end):
            ids = tokenizer.backend.encode(
                tokenizer.encoding, text[start:block_end], allow_special=allow_special
            )
            lengths = _token_lengths(tokenizer, ids)
            ends = itertools.accumulate(lengths, initial=self.byte_offsets[-1])
            self.byte_offsets.extend(itertools.islice(ends, 1, None))
            start = block_end
        self.token_count = len(self.byte_offsets) - 1

    def _is_character_boundary(self, token_index: int) -> bool:
        """Whether the text may be cut after token ``token_index``: see :func:`cut_allowed`."""
        return cut_allowed(self.data, self.byte_offsets[token_index])

    def _piece(self, start: int, end: int) -> tuple[str, int]:
        """The text between two token boundaries (character boundaries) and its own count."""
        piece = self.data[self.byte_offsets[start] : self.byte_offsets[end]].decode("utf-8")
        tokens = self.tokenizer.backend.count(
            self.tokenizer.encoding, piece, allow_special=self.allow_special
        )
        return piece, tokens

    def longest_from(self, start: int, budget: int) -> tuple[str, int, int]:
        """The longest text from token ``start`` to a later token boundary of the whole text
        that counts at most ``budget`` on its own.

        Returns the text, its count and the token index where it ends (``start`` when not even
        one character fits).
        """
        end = self.last_character_boundary(start, budget)
        while end > start:
            piece, tokens = self._piece(start, end)
            if tokens <= budget:
                return piece, tokens, end
            end = self.last_character_boundary(start, end - start - max(1, tokens - budget))
        return "", 0, start

    def widest_character_tokens(self) -> int:
        """The most tokens one unsplittable run takes counted alone: the text between two
        consecutive token boundaries that are also character boundaries (one character, or a
        few when a token joins the end of one to the start of the next).

        Each distinct run is counted once, so a long text of a few scripts costs little.
        """
        runs = set()
        run_start = 0
        for index in range(1, self.token_count + 1):
            if self._is_character_boundary(index):
                if index - run_start > 1:
                    runs.add(self.data[self.byte_offsets[run_start] : self.byte_offsets[index]])
                run_start = index
        counts = (
            self.tokenizer.backend.count(self.tokenizer.encoding, run.decode("utf-8"),
                                         allow_special=self.allow_special)
            for run in runs
        )
        return max(counts, default=1)

    def unsplittable_run(self, start: int) -> tuple[str, int]:
        """The text from token ``start`` (a character boundary) to the next token boundary that
        is also a character boundary, and how many of the whole text's tokens it spans."""
        end = start + 1
        while end < self.token_count and not self._is_character_boundary(end):
            end += 1
        run = self.data[self.byte_offsets[start] : self.byte_offsets[end]].decode("utf-8")
        return run, end - start

    def last_character_boundary(self, start: int, budget: int) -> int:
        """The last token index at most ``budget`` tokens after ``start`` that ends a whole
        character (``start`` when there is none)."""
        end = max(start, min(start + budget, self.token_count))
        while end > start and not self._is_character_boundary(end):
            end -= 1
        return end

    def longest_to(self, end: int, budget: int) -> tuple[str, int]:
        """The longest text from a token boundary of the whole text to token ``end`` that
        counts at most ``budget`` on its own."""
        start = max(end - budget, 0)
        while start < end:
            if not self._is_character_boundary(start):
                start += 1
                continue
            piece, tokens = self._piece(start, end)
            if tokens <= budget:
                return piece, tokens
            start += max(1, tokens - budget)
        return "", 0


def _token_lengths(tokenizer: Tokenizer, ids: list[int]) -> list[int]:
    """Byte length of each token id, decoding each distinct id once."""
    cache = _LENGTHS.setdefault(tokenizer.encoding, {})
    missing = set(ids).difference(cache)
    for token in missing:
        cache[token] = len(tokenizer.backend.decode(tokenizer.encoding, [token]))
    return [cache[token] for token in ids]


# Byte length of each token id seen so far, per encoding (ids never change length).
_LENGTHS: dict[str, dict[int, int]] = {}
