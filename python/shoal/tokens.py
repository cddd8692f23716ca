"""Token counts: exact for the OpenAI encodings, labelled estimates for other models.

``count_tokens`` counts a text exactly with ``cl100k_base`` or ``o200k_base`` (ids identical to
tiktoken 0.14). Given a model, it uses the model's encoding from the catalog; a model without a
public encoding gets an ``o200k_base`` count scaled by the catalog's ``token_ratio``, rounded up
and marked ``exact=False``. ``count_chat`` adds OpenAI's published per-message overhead.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from shoal._backend import core
from shoal.catalog import load_catalog

logger = logging.getLogger(__name__)

ENCODINGS: tuple[str, ...] = tuple(core.ENCODINGS)

DEFAULT_ENCODING = "o200k_base"

# The encoding an estimate for a model without a public tokenizer starts from.
ESTIMATE_BASE_ENCODING = "o200k_base"

# OpenAI's chat overhead (openai-cookbook, How_to_count_tokens_with_tiktoken, for gpt-3.5-turbo
# 0125, gpt-4 and gpt-4o models): each message is wrapped as <|start|>{role/name}\n{content}
# <|end|>\n, a name adds one token, and every reply is primed with <|start|>assistant<|message|>.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3


@dataclass(frozen=True)
class TokenCount:
    """How many tokens a text is, and how that number was obtained.

    Attributes:
        tokens: The count (an upper-rounded estimate when ``exact`` is False).
        encoding: The encoding counted with, e.g. ``o200k_base``, or for an estimate a label such
            as ``estimate(o200k_base x 1.20)``.
        exact: True when the count is the model's (or encoding's) exact token count.
        model: The catalog id of the model asked about, or None when counting by encoding.
        characters: Length of the text in Unicode code points.
    """

    tokens: int
    encoding: str
    exact: bool
    model: str | None
    characters: int


def count_tokens(
    text: str,
    *,
    encoding: str = DEFAULT_ENCODING,
    model: str | None = None,
    allow_special: bool = False,
) -> TokenCount:
    """Count the tokens of ``text``.

    Args:
        text: The text to count.
        encoding: The encoding to count with when no model is given (``cl100k_base`` or
            ``o200k_base``).
        model: A catalog model id; when given it decides the encoding, and ``encoding`` is
            ignored. A model whose tokenizer is not public gets an estimate.
        allow_special: Count special-token text such as ``<|endoftext|>`` as one special token;
            by default it is ordinary text.

    Returns:
        The count with its method.

    Raises:
        ValueError: Unknown encoding or model (the message lists valid names or near matches),
            or a text with an unpaired surrogate.
    """
    if model is None:
        tokens = core.count(encoding, text, allow_special=allow_special)
        return TokenCount(tokens, encoding, True, None, len(text))

    entry = load_catalog().model(model)
    if entry.encoding is not None:
        tokens = core.count(entry.encoding, text, allow_special=allow_special)
        return TokenCount(tokens, entry.encoding, True, entry.id, len(text))

    base = core.count(ESTIMATE_BASE_ENCODING, text, allow_special=allow_special)
    label = f"estimate({ESTIMATE_BASE_ENCODING} x {entry.token_ratio:.2f})"
    return TokenCount(_scaled(base, entry.token_ratio), label, False, entry.id, len(text))


def _scaled(tokens: int, ratio: float) -> int:
    """``tokens * ratio`` rounded up, computed on the ratio's decimal value.

    Binary floating point would make 10 x 1.1 = 11.000000000000002 and round it up to 12.
    """
    return math.ceil(tokens * Fraction(str(ratio)))


def encode(
    text: str, *, encoding: str = DEFAULT_ENCODING, allow_special: bool = False
) -> list[int]:
    """Token ids of ``text``, identical to tiktoken 0.14's.

    Args:
        text: The text to encode.
        encoding: ``cl100k_base`` or ``o200k_base``.
        allow_special: Encode special-token text such as ``<|endoftext|>`` as its special id;
            by default it is ordinary text.

    Raises:
        ValueError: Unknown encoding, or a text with an unpaired surrogate.
    """
    return core.encode(encoding, text, allow_special=allow_special)


def decode(ids: Sequence[int], *, encoding: str = DEFAULT_ENCODING) -> str:
    """The text of token ``ids``.

    Bytes that do not form valid UTF-8 (a sequence cut inside a character) become U+FFFD, as in
    tiktoken's ``decode``; use ``decode_bytes`` for the raw bytes.

    Raises:
        ValueError: An id the encoding does not define, or an unknown encoding.
    """
    return decode_bytes(ids, encoding=encoding).decode("utf-8", errors="replace")


def decode_bytes(ids: Sequence[int], *, encoding: str = DEFAULT_ENCODING) -> bytes:
    """The bytes of token ``ids``, concatenated (see ``decode``)."""
    return core.decode(encoding, ids)


def count_chat(messages: Sequence[Mapping[str, str]], *, model: str = "gpt-4o") -> int:
    """Prompt tokens of a Chat Completions request's ``messages`` for an OpenAI model.

    Follows the rules OpenAI publishes in its cookbook: every value of every message (role,
    content, name) is encoded and summed, each message adds 3 tokens, a ``name`` adds 1, and the
    reply priming adds 3. OpenAI calls these rules an estimate that can drift for new models;
    they reproduce the API's counts for the gpt-3.5-turbo-0125, gpt-4 and gpt-4o families.
    Tool definitions are not counted.

    Args:
        messages: Messages such as ``{"role": "user", "content": "Hi"}``; values must be str.
        model: A catalog model id with a known encoding (an OpenAI model).

    Returns:
        The prompt token count.

    Raises:
        ValueError: Unknown model, or a model whose tokenizer is not public (use
            ``count_tokens(text, model=...)`` for a labelled estimate instead).
        TypeError: A message that is not a mapping of str to str.
    """
    entry = load_catalog().model(model)
    if entry.encoding is None:
        raise ValueError(
            f"count_chat applies OpenAI's chat overhead rules and needs an exact encoding; "
            f"model {entry.id!r} has none. Use count_tokens(text, model={entry.id!r}) for a "
            "labelled estimate."
        )

    texts: list[str] = []
    names = 0
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise TypeError(f"messages[{index}] must be a dict, not {type(message).__name__}")
        for key, value in message.items():
            if not isinstance(value, str):
                raise TypeError(
                    f"messages[{index}][{key!r}] must be str, not {type(value).__name__}"
                )
            texts.append(value)
            names += key == "name"

    content_tokens = sum(core.count_many(entry.encoding, texts))
    overhead = TOKENS_PER_MESSAGE * len(messages) + TOKENS_PER_NAME * names + REPLY_PRIMING_TOKENS
    return content_tokens + overhead
