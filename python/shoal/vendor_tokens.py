"""Exact token ids for the vendor tokenizers shoal can ship: Mistral's Tekken.

``tekken_240718`` is the tokenizer of Mistral NeMo (``tekken_240718.json``) and Pixtral 12B
(``tekken_240911.json``, the same ranks and pattern), both Apache-2.0 in the ``mistral-common``
wheel. Like tiktoken it is byte-level BPE after a regex pre-tokenization; the pattern is
``o200k_base``'s without the English contractions and with single digits. The ids are those of
mistral-common's ``Tekkenizer.encode(text, bos=False, eos=False)``: the 130,072 ordinary ranks
follow 1,000 control tokens, so rank ``r`` is id ``r + 1000``.

The encoding is one of the core's (``shoal._core``, in Rust, or its pure-Python twin
``shoal._pure`` under ``SHOAL_PURE_PYTHON=1``), so these functions are the core's token
functions for this encoding. In Rust it runs about as fast as ``o200k_base``, 44-76x
mistral-common's ``encode`` when counting the test corpus (``pytest bench/bench_tokens.py -k
tekken``). Both read
``data/vocab/tekken_240718.tiktoken.gz``, written by ``shoal._build.tekken_vocab`` and verified
by SHA-256: at build time for Rust, when first loaded in Python.

Control-token text such as ``[INST]`` is ordinary text unless ``allow_special`` is set; then
each control token's text (the longest at a position) becomes its id.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from shoal._backend import core
from shoal._pure.tokens import (
    TEKKEN_CONTROL_TOKEN_COUNT,
    TEKKEN_NAMED_CONTROL_TOKENS,
    VOCABULARY_DIR,
    VOCABULARY_SHA256,
)
from shoal.errors import InputError

logger = logging.getLogger(__name__)

ENCODINGS: tuple[str, ...] = ("tekken_240718",)

# SHA-256 of the decompressed rank file, and of the mistral-common file it was written from.
RANK_FILE_SHA256 = {name: VOCABULARY_SHA256[name] for name in ENCODINGS}
SOURCE_SHA256 = {
    "tekken_240718": "eccd1665d2e477697c33cb7f0daa6f6dfefc57a0a6bceb66d4be52952f827516",
}

RANK_COUNT = 130_072
CONTROL_TOKEN_COUNT = TEKKEN_CONTROL_TOKEN_COUNT

# mistral-common's Tekkenizer.DEPRECATED_SPECIAL_TOKENS (ids 0-19); ids 20-999 are fillers
# named <SPECIAL_id>.
CONTROL_TOKENS = TEKKEN_NAMED_CONTROL_TOKENS

__all__ = [
    "CONTROL_TOKENS",
    "CONTROL_TOKEN_COUNT",
    "ENCODINGS",
    "RANK_COUNT",
    "RANK_FILE_SHA256",
    "SOURCE_SHA256",
    "VOCABULARY_DIR",
    "count",
    "count_many",
    "decode",
    "encode",
]


def _vendor(encoding: str) -> str:
    """``encoding``, after checking it is a vendor encoding."""
    if encoding not in ENCODINGS:
        raise InputError(
            f"unknown encoding {json.dumps(encoding)}; "
            f"valid vendor encodings are {', '.join(ENCODINGS)}"
        )
    return encoding


def encode(encoding: str, text: str, *, allow_special: bool = False) -> list[int]:
    """Token ids of ``text`` in the vendor ``encoding``.

    Args:
        encoding: One of ``ENCODINGS``.
        text: The text; control-token text such as ``[INST]`` is ordinary text unless
            ``allow_special`` is set.
        allow_special: Encode control-token text as the control token's id.

    Returns:
        The ids, identical to mistral-common's ``Tekkenizer.encode(text, bos=False, eos=False)``
        for ordinary text.

    Raises:
        ValueError: Unknown encoding, or text with an unpaired surrogate.
    """
    ids: list[int] = core.encode(_vendor(encoding), text, allow_special=allow_special)
    return ids


def count(encoding: str, text: str, *, allow_special: bool = False) -> int:
    """Number of tokens of ``text`` in ``encoding`` (see ``encode``)."""
    tokens: int = core.count(_vendor(encoding), text, allow_special=allow_special)
    return tokens


def count_many(encoding: str, texts: Sequence[str], *, allow_special: bool = False) -> list[int]:
    """Number of tokens of each text, in order (see ``encode``)."""
    counts: list[int] = core.count_many(_vendor(encoding), texts, allow_special=allow_special)
    return counts


def decode(encoding: str, ids: Sequence[int]) -> bytes:
    """The bytes of the token ``ids``, concatenated; a control token gives its text.

    Raises:
        ValueError: An id the encoding does not define.
        TypeError: An id that is not an int.
    """
    decoded: bytes = core.decode(_vendor(encoding), ids)
    return decoded
