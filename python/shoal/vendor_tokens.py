"""Exact token ids for the vendor tokenizers shoal can ship: Mistral's Tekken.

``tekken_240718`` is the tokenizer of Mistral NeMo (``tekken_240718.json``) and Pixtral 12B
(``tekken_240911.json``, the same ranks and pattern), both Apache-2.0 in the ``mistral-common``
wheel. Like tiktoken it is byte-level BPE after a regex pre-tokenization; the pattern is
``o200k_base``'s without the English contractions and with single digits. The ids are those of
mistral-common's ``Tekkenizer.encode(text, bos=False, eos=False)``: the 130,072 ordinary ranks
follow 1,000 control tokens, so rank ``r`` is id ``r + 1000``.

This is pure Python (about 2 MB/s on prose, the speed of ``shoal._pure.tokens``): it reuses that
module's Unicode 16 class table and its BPE merge, so the pre-tokenizer classifies characters
exactly as tiktoken's regex engine does. The rank file is ``data/vocab/tekken_240718.tiktoken.gz``,
written by ``shoal._build.tekken_vocab`` and verified by SHA-256 when first loaded.

The functions have the signatures of ``shoal._core``'s token functions, so ``shoal.tokens`` can
dispatch an encoding name to either.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import logging
import re
import threading
from collections.abc import Sequence
from pathlib import Path

from shoal._pure.tokens import _check_text, _classes, _count_many, _encode_text, _Encoding

logger = logging.getLogger(__name__)

ENCODINGS: tuple[str, ...] = ("tekken_240718",)

VOCABULARY_DIR = Path(__file__).resolve().parent / "data" / "vocab"

# SHA-256 of the decompressed rank file, and of the mistral-common file it was written from.
RANK_FILE_SHA256 = {
    "tekken_240718": "64a081edb3cbb8639a4eea9a7135ab9a0467c50676c672b217ba655f4d50e127",
}
SOURCE_SHA256 = {
    "tekken_240718": "eccd1665d2e477697c33cb7f0daa6f6dfefc57a0a6bceb66d4be52952f827516",
}

RANK_COUNT = 130_072
CONTROL_TOKEN_COUNT = 1_000

# mistral-common's Tekkenizer.DEPRECATED_SPECIAL_TOKENS (ids 0-19); ids 20-999 are fillers
# named <SPECIAL_id>.
CONTROL_TOKENS: tuple[str, ...] = (
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


def _tekken_pattern() -> re.Pattern[str]:
    """Tekken's pre-tokenization pattern (from ``tekken_240718.json``), in ``re`` syntax."""
    c = _classes()
    letter, number, space, upper, lower = c["L"], c["N"], c["S"], c["UPPER"], c["LOWER"]
    alternatives = [
        f"[^\\r\\n{letter}{number}]?[{upper}]*[{lower}]+",
        f"[^\\r\\n{letter}{number}]?[{upper}]+[{lower}]*",
        f"[{number}]",
        f" ?[^{space}{letter}{number}]+[\\r\\n/]*",
        f"[{space}]*[\\r\\n]+",
        f"[{space}]+(?![^{space}])",
        f"[{space}]+",
    ]
    return re.compile("|".join(alternatives))


_LOCK = threading.Lock()
_LOADED: dict[str, _Encoding] = {}


def _load(name: str) -> _Encoding:
    """The encoding called ``name``, loaded and verified on first use."""
    loaded = _LOADED.get(name)
    if loaded is not None:
        return loaded
    if name not in ENCODINGS:
        raise ValueError(
            f"unknown encoding {json.dumps(name)}; "
            f"valid vendor encodings are {', '.join(ENCODINGS)}"
        )

    with _LOCK:
        if name not in _LOADED:
            _LOADED[name] = _read_vocabulary(name)
    return _LOADED[name]


def _read_vocabulary(name: str) -> _Encoding:
    path = VOCABULARY_DIR / f"{name}.tiktoken.gz"
    contents = gzip.decompress(path.read_bytes())
    digest = hashlib.sha256(contents).hexdigest()
    if digest != RANK_FILE_SHA256[name]:
        raise RuntimeError(
            f"vocabulary file {path} has SHA-256 {digest} once decompressed, expected "
            f"{RANK_FILE_SHA256[name]}; reinstall shoal to restore the genuine file"
        )

    # Ranks are 0, 1, 2, ... in file order (the SHA-256 check pins the file).
    tokens = [base64.b64decode(line.split()[0]) for line in contents.splitlines() if line]
    control_tokens = {text: index for index, text in enumerate(CONTROL_TOKENS)}
    for index in range(len(CONTROL_TOKENS), CONTROL_TOKEN_COUNT):
        control_tokens[f"<SPECIAL_{index}>"] = index
    logger.debug("loaded %s: %d ranks from %s", name, len(tokens), path)
    return _Encoding(
        name=name,
        ranks={token: rank for rank, token in enumerate(tokens)},
        tokens=tokens,
        special_tokens=control_tokens,
        pattern=_tekken_pattern(),
        # Longest first, so that no control token is cut short by another that prefixes it.
        special_pattern=re.compile(
            "|".join(map(re.escape, sorted(control_tokens, key=len, reverse=True)))
        ),
        id_offset=CONTROL_TOKEN_COUNT,
    )


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
    text = _check_text(text, "text")
    return _encode_text(_load(encoding), text, allow_special)


def count(encoding: str, text: str, *, allow_special: bool = False) -> int:
    """Number of tokens of ``text`` in ``encoding`` (see ``encode``)."""
    text = _check_text(text, "text")
    return len(_encode_text(_load(encoding), text, allow_special))


def count_many(encoding: str, texts: Sequence[str], *, allow_special: bool = False) -> list[int]:
    """Number of tokens of each text, in order (see ``encode``)."""
    return _count_many(_load, encoding, texts, allow_special)


def decode(encoding: str, ids: Sequence[int]) -> bytes:
    """The bytes of the token ``ids``, concatenated; a control token gives its text.

    Raises:
        ValueError: An id the encoding does not define.
        TypeError: An id that is not an int.
    """
    loaded = _load(encoding)
    control_text = {index: text.encode("utf-8") for text, index in loaded.special_tokens.items()}
    parts: list[bytes] = []
    for index, token in enumerate(ids):
        if not isinstance(token, int):
            raise TypeError(f"ids[{index}] must be int, not {type(token).__name__}")
        if CONTROL_TOKEN_COUNT <= token < CONTROL_TOKEN_COUNT + len(loaded.tokens):
            parts.append(loaded.tokens[token - CONTROL_TOKEN_COUNT])
        elif 0 <= token < CONTROL_TOKEN_COUNT:
            parts.append(control_text[token])
        else:
            raise ValueError(f"token id {token} is not defined in encoding {loaded.name}")
    return b"".join(parts)
