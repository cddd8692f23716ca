"""Exact BPE token ids and counts for OpenAI's ``cl100k_base`` and ``o200k_base`` and Mistral's
``tekken_240718``, in pure Python.

This mirrors ``rust/tokens.rs`` and gives the ids of tiktoken 0.14, and for Tekken those of
mistral-common's ``Tekkenizer.encode(text, bos=False, eos=False)`` (see ``shoal.vendor_tokens``).
Encoding has two steps:

1. Pre-tokenization splits the text into pieces with the encoding's pattern. The patterns below
   are tiktoken's, rewritten for the standard-library ``re`` module: ``\\p{...}`` and ``\\s``
   become explicit character sets, ``$`` becomes ``\\Z``, and possessive quantifiers become plain
   ones (nothing after them can fail, so the matches are the same).
2. Each piece is merged by byte-pair encoding: the adjacent pair with the lowest rank merges
   first, the leftmost on ties. Long pieces use a heap so that a run of one character stays
   O(n log n). Merged pieces are cached per encoding.

The character sets come from ``shoal/data/vocab/unicode_classes.json``: the Unicode 16.0.0 tables
of ``regex-syntax``, which tiktoken 0.14 and the Rust core use, written out by the Rust tests
(which also fail when the file and the Rust tables differ). Python's own ``unicodedata`` is not
used because its Unicode version follows the interpreter (14.0.0 on Python 3.11, where 9,485
letters, numbers and marks of Unicode 15 and 16 are unassigned and would split differently).

The vocabularies are the rank files shipped in ``shoal/data/vocab``, verified by SHA-256 when
first loaded (Tekken's is gzip-compressed; its SHA-256 is that of the decompressed file).
"""

from __future__ import annotations

import base64
import functools
import gzip
import heapq
import itertools
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shoal import shipped_data
from shoal.shipped_data import DamagedInstallError

logger = logging.getLogger(__name__)

ENCODINGS: tuple[str, ...] = ("cl100k_base", "o200k_base", "tekken_240718")

VOCABULARY_DIR = Path(__file__).resolve().parent.parent / "data" / "vocab"

# The rank file of each encoding in VOCABULARY_DIR; a .gz file is decompressed when read.
VOCABULARY_FILES = {
    "cl100k_base": "cl100k_base.tiktoken",
    "o200k_base": "o200k_base.tiktoken",
    "tekken_240718": "tekken_240718.tiktoken.gz",
}

# SHA-256 of each shipped rank file's contents: the values tiktoken pins for the published
# files; for Tekken, that of the file shoal._build.tekken_vocab writes from mistral-common's.
VOCABULARY_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "tekken_240718": "64a081edb3cbb8639a4eea9a7135ab9a0467c50676c672b217ba655f4d50e127",
}

# Tekken's control tokens take ids 0-999 and its ranks follow, so rank r is id r + 1000. The
# first 20 are mistral-common's Tekkenizer.DEPRECATED_SPECIAL_TOKENS; ids 20-999 are fillers
# named <SPECIAL_id>.
TEKKEN_CONTROL_TOKEN_COUNT = 1_000
TEKKEN_NAMED_CONTROL_TOKENS: tuple[str, ...] = (
    "<unk>",
    "<s>",
    "</s>",
    "[INST]",
    "[/INST]",
    "[AVAILABLE_TOOLS]",
    "[/AVAILABLE_TOOLS]",
    "[TOOL_RESULTS]",
    "[/TOOL_RESULTS]",
    "[TOOL_CALLS]",
    "[IMG]",
    "<pad>",
    "[IMG_BREAK]",
    "[IMG_END]",
    "[PREFIX]",
    "[MIDDLE]",
    "[SUFFIX]",
    "[SYSTEM_PROMPT]",
    "[/SYSTEM_PROMPT]",
    "[TOOL_CONTENT]",
)

SPECIAL_TOKENS = {
    "cl100k_base": {
        "<|endoftext|>": 100257,
        "<|fim_prefix|>": 100258,
        "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260,
        "<|endofprompt|>": 100276,
    },
    "o200k_base": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    "tekken_240718": {
        **{text: index for index, text in enumerate(TEKKEN_NAMED_CONTROL_TOKENS)},
        **{
            f"<SPECIAL_{index}>": index
            for index in range(len(TEKKEN_NAMED_CONTROL_TOKENS), TEKKEN_CONTROL_TOKEN_COUNT)
        },
    },
}

# Added to a rank to make its id.
ID_OFFSETS = {"tekken_240718": TEKKEN_CONTROL_TOKEN_COUNT}

# Pieces at least this long are merged with the heap; shorter ones by a direct scan.
LARGE_PIECE = 16

# Merged pieces kept per encoding before the cache is emptied and refilled.
PIECE_CACHE_LIMIT = 200_000

UNICODE_CLASSES_PATH = VOCABULARY_DIR / "unicode_classes.json"
# SHA-256 of the shipped classes, which rust/pretokenize.rs's tests write from the Rust tables
# (update it with them): an edited file would change counts that still say "exact".
UNICODE_CLASSES_SHA256 = "365d73286b11911f44fd8c2e168fac6445d31a29bc3e0531d7cab70d10077ceb"


class VocabularyError(DamagedInstallError):
    """A shipped vocabulary or class file is not the genuine one (a damaged or edited install);
    an OSError, as a file that cannot be read is, so callers handle the two alike."""

# (?i:'s|'t|'re|'ve|'m|'ll|'d) with the case folding spelled out: U+017F (long s) folds to s.
CONTRACTION = "'(?:[sS\u017f]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])"


def _set_body(ranges: Iterable[tuple[int, int]]) -> str:
    """The inside of a ``[...]`` set matching the inclusive code point ``ranges``."""
    return "".join(f"\\U{start:08x}-\\U{end:08x}" for start, end in ranges)


@functools.cache
def _classes() -> dict[str, str]:
    """Set bodies for the pattern classes: L, N, S (white space), UPPER and LOWER (o200k)."""
    try:
        contents = UNICODE_CLASSES_PATH.read_bytes()
    except OSError as error:
        raise VocabularyError(str(shipped_data.unreadable(UNICODE_CLASSES_PATH, error,
                                                          kind="vocabulary file"))) from None
    _check_digest(UNICODE_CLASSES_PATH, contents, UNICODE_CLASSES_SHA256)
    document = json.loads(contents)
    return {name: _set_body(ranges) for name, ranges in document["classes"].items()}


def _check_digest(
    path: Path, contents: bytes, expected: str, *, decompressed: bool = False
) -> None:
    try:
        shipped_data.check_digest(path, contents, expected, kind="vocabulary file",
                                  decompressed=decompressed)
    except DamagedInstallError as error:
        raise VocabularyError(str(error)) from None


def _pattern(name: str) -> re.Pattern[str]:
    """tiktoken's pre-tokenization pattern for ``name`` (Tekken's from ``tekken_240718.json``), in
    ``re`` syntax."""
    c = _classes()
    letter, number, space = c["L"], c["N"], c["S"]
    if name == "cl100k_base":
        alternatives = [
            CONTRACTION,
            f"[^\\r\\n{letter}{number}]?[{letter}]+",
            f"[{number}]{{1,3}}",
            f" ?[^{space}{letter}{number}]+[\\r\\n]*",
            f"[{space}]+\\Z",
            f"[{space}]*[\\r\\n]",
            f"[{space}]+(?![^{space}])",
            f"[{space}]",
        ]
    else:
        # Tekken's is o200k's without the contractions, and one digit a piece.
        upper, lower = c["UPPER"], c["LOWER"]
        tekken = name == "tekken_240718"
        contraction = "" if tekken else f"(?:{CONTRACTION})?"
        digits = f"[{number}]" if tekken else f"[{number}]{{1,3}}"
        alternatives = [
            f"[^\\r\\n{letter}{number}]?[{upper}]*[{lower}]+{contraction}",
            f"[^\\r\\n{letter}{number}]?[{upper}]+[{lower}]*{contraction}",
            digits,
            f" ?[^{space}{letter}{number}]+[\\r\\n/]*",
            f"[{space}]*[\\r\\n]+",
            f"[{space}]+(?![^{space}])",
            f"[{space}]+",
        ]
    return re.compile("|".join(alternatives))


@dataclass
class _Encoding:
    """One loaded encoding: ranks, tokens by rank, special tokens, pattern and piece cache.

    ``id_offset`` is added to every rank to make its id: 0 for OpenAI's encodings, where ranks
    are ids; Tekken numbers its ranks after its 1,000 control tokens.
    """

    name: str
    ranks: dict[bytes, int]
    tokens: list[bytes]
    special_tokens: dict[str, int]
    special_bytes: dict[int, bytes]
    pattern: re.Pattern[str]
    special_pattern: re.Pattern[str]
    id_offset: int = 0
    piece_cache: dict[bytes, tuple[int, ...]] = field(default_factory=dict)


_LOCK = threading.Lock()
_LOADED: dict[str, _Encoding] = {}


def _load(name: str) -> _Encoding:
    """The encoding called ``name``, loaded and verified on first use."""
    loaded = _LOADED.get(name)
    if loaded is not None:
        return loaded
    if name not in ENCODINGS:
        raise ValueError(
            f"unknown encoding {json.dumps(name)}; valid encodings are {', '.join(ENCODINGS)}"
        )

    with _LOCK:
        if name not in _LOADED:
            _LOADED[name] = _read_encoding(name)
    return _LOADED[name]


def vocabulary_contents(name: str) -> bytes:
    """The contents of the rank file of ``name``, decompressed, before any check."""
    path = VOCABULARY_DIR / VOCABULARY_FILES[name]
    contents = path.read_bytes()
    return gzip.decompress(contents) if path.suffix == ".gz" else contents


def _read_encoding(name: str) -> _Encoding:
    path = VOCABULARY_DIR / VOCABULARY_FILES[name]
    try:
        contents = vocabulary_contents(name)
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        # A truncated .gz ends in EOFError, which names no file.
        raise VocabularyError(str(shipped_data.unreadable(path, error, kind="vocabulary file"))
                              ) from None
    _check_digest(path, contents, VOCABULARY_SHA256[name], decompressed=path.suffix == ".gz")

    tokens: list[bytes] = []
    for line in contents.splitlines():
        if line:
            # Ranks are 0, 1, 2, ... in file order (the SHA-256 check pins the file), so the
            # list index is the id.
            encoded, _rank = line.split()
            tokens.append(base64.b64decode(encoded))

    special_tokens = SPECIAL_TOKENS[name]
    logger.debug("loaded %s: %d ranks from %s", name, len(tokens), path)
    return _Encoding(
        name=name,
        ranks={token: rank for rank, token in enumerate(tokens)},
        tokens=tokens,
        special_tokens=special_tokens,
        special_bytes={special: text.encode("utf-8") for text, special in special_tokens.items()},
        pattern=_pattern(name),
        # Longest first, so that no special token is cut short by another that prefixes it.
        special_pattern=re.compile(
            "|".join(map(re.escape, sorted(special_tokens, key=len, reverse=True)))
        ),
        id_offset=ID_OFFSETS.get(name, 0),
    )


def _check_text(text: object, what: str) -> str:
    """``text`` itself, after checking it is a str with a UTF-8 form."""
    if not isinstance(text, str):
        raise TypeError(f"{what} must be str, not {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(
            f"{what} has an unpaired surrogate at index {error.start}; text must be valid Unicode "
            "(replace or drop lone surrogates, e.g. with str.encode('utf-8', 'replace'))"
        ) from None
    return text


def _segments(encoding: _Encoding, text: str, allow_special: bool) -> Iterable[str | int]:
    """Ordinary stretches of ``text`` (str) and, when allowed, special token ids (int).

    tiktoken pre-tokenizes each ordinary stretch on its own, so ``$`` and the look-ahead see the
    stretch's end at a special token.
    """
    if not allow_special:
        yield text
        return

    start = 0
    for match in encoding.special_pattern.finditer(text):
        if match.start() > start:
            yield text[start : match.start()]
        yield encoding.special_tokens[match.group()]
        start = match.end()
    if start < len(text):
        yield text[start:]


def _encode_text(encoding: _Encoding, text: str, allow_special: bool) -> list[int]:
    ids: list[int] = []
    for segment in _segments(encoding, text, allow_special):
        if isinstance(segment, int):
            ids.append(segment)
            continue
        for piece in encoding.pattern.findall(segment):
            ids.extend(_encode_piece(encoding, piece.encode("utf-8")))
    return ids


def _count_text(encoding: _Encoding, text: str, allow_special: bool) -> int:
    """``len(_encode_text(...))`` without the list of ids or of pieces, which for a long text
    take tens of bytes a token."""
    count = 0
    for segment in _segments(encoding, text, allow_special):
        if isinstance(segment, int):
            count += 1
            continue
        for piece in encoding.pattern.finditer(segment):
            count += len(_encode_piece(encoding, piece.group().encode("utf-8")))
    return count


def _encode_piece(encoding: _Encoding, piece: bytes) -> tuple[int, ...]:
    rank = encoding.ranks.get(piece)
    if rank is not None:
        return (rank + encoding.id_offset,)

    cached = encoding.piece_cache.get(piece)
    if cached is not None:
        return cached

    boundaries = _merge(encoding.ranks, piece)
    ids = tuple(
        encoding.ranks[piece[start:end]] + encoding.id_offset
        for start, end in itertools.pairwise(boundaries)
    )
    if len(encoding.piece_cache) >= PIECE_CACHE_LIMIT:
        encoding.piece_cache.clear()
    encoding.piece_cache[piece] = ids
    return ids


def _merge(ranks: dict[bytes, int], piece: bytes) -> list[int]:
    """Byte-pair merge of one piece; returns the part boundaries (first 0, last ``len(piece)``)."""
    if len(piece) < LARGE_PIECE:
        return _merge_by_scan(ranks, piece)
    return _merge_by_heap(ranks, piece)


def _merge_by_scan(ranks: dict[bytes, int], piece: bytes) -> list[int]:
    """Quadratic merge for short pieces: after each merge, rescan for the lowest-rank pair."""
    starts = list(range(len(piece) + 1))

    def pair_rank(index: int) -> int | None:
        if index + 2 >= len(starts):
            return None
        return ranks.get(piece[starts[index] : starts[index + 2]])

    pair_ranks = [pair_rank(index) for index in range(len(starts) - 1)]
    while True:
        lowest = None
        lowest_rank = 0
        for index, rank in enumerate(pair_ranks):
            if rank is not None and (lowest is None or rank < lowest_rank):
                lowest, lowest_rank = index, rank
        if lowest is None:
            return starts

        del starts[lowest + 1]
        del pair_ranks[lowest + 1]
        pair_ranks[lowest] = pair_rank(lowest)
        if lowest > 0:
            pair_ranks[lowest - 1] = pair_rank(lowest - 1)


def _merge_by_heap(ranks: dict[bytes, int], piece: bytes) -> list[int]:
    """O(n log n) merge for long pieces: a heap of (rank, start) over a linked list of parts.

    Entries made stale by a neighbouring merge are skipped when popped; a pair's rank changes
    whenever its bytes change, because a longer byte string is a different token.
    """
    length = len(piece)
    following = list(range(1, length + 1))
    preceding = list(range(-1, length - 1))
    pair_ranks: list[int | None] = [ranks.get(piece[start : start + 2]) for start in range(length)]
    pair_ranks[-1] = None
    heap = [(rank, start) for start, rank in enumerate(pair_ranks) if rank is not None]
    heapq.heapify(heap)

    def update(start: int, end: int) -> None:
        pair_ranks[start] = rank = ranks.get(piece[start:end])
        if rank is not None:
            heapq.heappush(heap, (rank, start))

    while heap:
        rank, start = heapq.heappop(heap)
        if pair_ranks[start] != rank:
            continue
        absorbed = following[start]
        after = following[absorbed]
        following[start] = after
        pair_ranks[absorbed] = None
        if after < length:
            preceding[after] = start
            update(start, following[after])
        else:
            pair_ranks[start] = None
        before = preceding[start]
        if before >= 0:
            update(before, after)

    boundaries = [0]
    while boundaries[-1] < length:
        boundaries.append(following[boundaries[-1]])
    return boundaries


def encode(encoding: str, text: str, *, allow_special: bool = False) -> list[int]:
    """Token ids of ``text`` in ``encoding``.

    Args:
        encoding: One of ``ENCODINGS``.
        text: The text; special-token text such as ``<|endoftext|>`` (Tekken's control tokens
            such as ``[INST]``) is ordinary text unless ``allow_special`` is set.
        allow_special: Encode special-token text as the special token's id.

    Returns:
        The ids, identical to tiktoken 0.14's (to mistral-common's for Tekken).

    Raises:
        ValueError: Unknown encoding, or text with an unpaired surrogate.
    """
    text = _check_text(text, "text")
    _check_allow_special(allow_special)
    return _encode_text(_load(encoding), text, allow_special)


def count(encoding: str, text: str, *, allow_special: bool = False) -> int:
    """Number of tokens of ``text`` in ``encoding`` (see ``encode``)."""
    text = _check_text(text, "text")
    _check_allow_special(allow_special)
    return _count_text(_load(encoding), text, allow_special)


def count_many(encoding: str, texts: Sequence[str], *, allow_special: bool = False) -> list[int]:
    """Number of tokens of each text, in order (see ``encode``)."""
    return _count_many(_load, encoding, texts, allow_special)


def _count_many(
    load: Callable[[str], _Encoding], encoding: str, texts: Sequence[str], allow_special: bool
) -> list[int]:
    """``count_many`` for the encodings ``load`` knows; every text is checked before any count."""
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of str, not a str")
    # Types first, then Unicode, as the binding does: it converts the whole list before looking
    # for unpaired surrogates, so a non-str anywhere is a TypeError even after a bad str.
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{index}] must be str, not {type(text).__name__}")
    checked = [_check_text(text, f"texts[{index}]") for index, text in enumerate(texts)]
    _check_allow_special(allow_special)
    loaded = load(encoding)
    return [_count_text(loaded, text, allow_special) for text in checked]


def _check_allow_special(allow_special: object) -> None:
    # The binding refuses a non-bool too (a TypeError); without this, "no" would count as True.
    if not isinstance(allow_special, bool):
        raise TypeError(f"allow_special must be bool, not {type(allow_special).__name__}")


def decode(encoding: str, ids: Sequence[int]) -> bytes:
    """The bytes of the token ``ids`` in ``encoding``, concatenated.

    The result need not be valid UTF-8: a token may hold part of a character.

    Raises:
        ValueError: An id the encoding does not define (including the unused gaps).
        TypeError: An id that is not an int.
    """
    checked: list[int] = []
    for index, token in enumerate(ids):
        if not isinstance(token, int):
            raise TypeError(f"ids[{index}] must be int, not {type(token).__name__}")
        if not -(2**63) <= token < 2**63:
            raise ValueError(
                f"token id {token} at ids[{index}] is not defined in encoding {encoding}"
            )
        checked.append(token)

    loaded = _load(encoding)
    parts: list[bytes] = []
    for token in checked:
        rank = token - loaded.id_offset
        if 0 <= rank < len(loaded.tokens):
            parts.append(loaded.tokens[rank])
        elif token in loaded.special_bytes:
            parts.append(loaded.special_bytes[token])
        else:
            raise ValueError(f"token id {token} is not defined in encoding {loaded.name}")
    return b"".join(parts)
