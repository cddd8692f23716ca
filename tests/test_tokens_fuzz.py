"""Exact ids on long generated text and on the pathological inputs that break tokenizers.

Differential tests against tiktoken 0.14 (built offline from the shipped vocabularies, as in
``test_tokens.py``): a seeded generator of long random mixed-script strings, hypothesis runs of
one repeated character around the lengths where the Rust core changes merge strategy (scan,
heap, linear backtracking, periodic runs), and each pathological input tokenizers are known to
choke on. On those, time is checked only for growth (the whole input against a tenth of it, not
against the clock); ``bench/bench_tokens.py`` measures speed.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
import tiktoken
import tiktoken.load
import tiktoken_ext.openai_public as openai_public
from growth_support import grows_in_step
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal import _core, _pure, tokens

ENCODINGS = ("cl100k_base", "o200k_base")
VOCABULARY_DIR = Path(tokens.__file__).parent / "data" / "vocab"


@pytest.fixture(scope="module")
def reference() -> Iterator[dict[str, tiktoken.Encoding]]:
    """tiktoken encodings built from the shipped vocabulary files, nothing fetched."""
    real_loader = tiktoken.load.load_tiktoken_bpe

    def local_ranks(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        return real_loader(str(VOCABULARY_DIR / url.rsplit("/", 1)[-1]), expected_hash)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TIKTOKEN_CACHE_DIR", "")
        patch.setattr(openai_public, "load_tiktoken_bpe", local_ranks)
        yield {name: tiktoken.Encoding(**getattr(openai_public, name)()) for name in ENCODINGS}


# ---- seeded long random mixed-script strings ----

# Code point ranges per script, plus fragments that stress the pre-tokenizer's rules.
SCRIPTS = {
    "latin": [(0x41, 0x5A), (0x61, 0x7A), (0xC0, 0xFF), (0x100, 0x17F)],
    "greek": [(0x391, 0x3C9)],
    "cyrillic": [(0x410, 0x44F)],
    "arabic": [(0x621, 0x64A), (0x64B, 0x652)],
    "devanagari": [(0x905, 0x939), (0x93E, 0x94D)],
    "thai": [(0xE01, 0xE30), (0xE31, 0xE3A), (0xE47, 0xE4E)],
    "han": [(0x4E00, 0x9FFF)],
    "kana": [(0x3041, 0x3096), (0x30A1, 0x30FA)],
    "hangul": [(0xAC00, 0xD7A3)],
    "digits": [(0x30, 0x39), (0x660, 0x669), (0xFF10, 0xFF19)],
    "symbols": [(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E), (0x2010, 0x2027)],
    "emoji": [(0x1F600, 0x1F64F), (0x1F300, 0x1F5FF)],
}
FRAGMENTS = (
    " ", "  ", "\n", "\n\n", "\r\n", "\t", "\u00a0", "\u3000", "\u200d", "'s", "'LL", "n't",
    "<|endoftext|>", "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466", "e\u0301",
    "    ", "//", "...", "=====", "----", "____",
)


def _mixed_script(generator: random.Random, length: int) -> str:
    """About ``length`` characters in runs of random scripts and fragments."""
    parts: list[str] = []
    size = 0
    while size < length:
        if generator.random() < 0.3:
            part = generator.choice(FRAGMENTS) * generator.randint(1, 3)
        else:
            ranges = SCRIPTS[generator.choice(list(SCRIPTS))]
            run = generator.choice((1, 2, 3, 5, 8, 13, 40, 200))
            part = "".join(chr(generator.randint(*generator.choice(ranges))) for _ in range(run))
        parts.append(part)
        size += len(part)
    return "".join(parts)


def _long_strings(seed: int, count: int, length: int) -> list[str]:
    generator = random.Random(seed)
    return [_mixed_script(generator, generator.randint(length // 4, length)) for _ in range(count)]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_long_mixed_script_strings_rust(
    reference: dict[str, tiktoken.Encoding], encoding: str
) -> None:
    for index, text in enumerate(_long_strings(seed=20261204, count=60, length=20_000)):
        expected = reference[encoding].encode_ordinary(text)
        assert _core.encode(encoding, text) == expected, f"string {index}"
        assert _core.count(encoding, text) == len(expected), f"string {index}"
        special = reference[encoding].encode(text, allowed_special="all")
        assert _core.encode(encoding, text, allow_special=True) == special, f"string {index}"


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_long_mixed_script_strings_pure(
    reference: dict[str, tiktoken.Encoding], encoding: str
) -> None:
    for index, text in enumerate(_long_strings(seed=7, count=8, length=6_000)):
        expected = reference[encoding].encode_ordinary(text)
        assert _pure.encode(encoding, text) == expected, f"string {index}"
        assert _pure.count(encoding, text) == len(expected), f"string {index}"


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_long_pieces_without_separators(
    reference: dict[str, tiktoken.Encoding], encoding: str
) -> None:
    # Single pieces of thousands of bytes: the heap merge and, from 4 KiB, the linear one.
    generator = random.Random(11)
    texts = [
        "".join(chr(generator.randint(0x4E00, 0x9FFF)) for _ in range(length))
        for length in (30, 700, 1400, 5000)
    ]
    texts += [
        "".join(generator.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(length))
        for length in (100, 3000, 9000)
    ]
    texts.append("".join(generator.choice("ab") for _ in range(12_000)))
    texts.append("".join(chr(generator.randint(0xAC00, 0xD7A3)) for _ in range(4000)))
    for text in texts:
        expected = reference[encoding].encode_ordinary(text)
        assert _core.encode(encoding, text) == expected, text[:20]
        assert _core.count(encoding, text) == len(expected), text[:20]


# ---- runs of one character around the merge thresholds ----

RUN_UNITS = ("a", "Z", " ", "\t", "\n", "\u00a0", "-", "_", "=", "0", "é", "\u4e00", "\U0001f642")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    unit=st.one_of(
        st.sampled_from(RUN_UNITS),
        st.characters(exclude_categories=("Cs",), max_codepoint=0x2FFFF),
    ),
    length=st.one_of(st.integers(1, 300), st.integers(2000, 30_000)),
    head=st.sampled_from(("", "x", " ", "Hello", "\n", "é")),
    tail=st.sampled_from(("", "b", "!", " x", "\n", "1")),
)
def test_runs_of_one_character(
    reference: dict[str, tiktoken.Encoding], unit: str, length: int, head: str, tail: str
) -> None:
    text = head + unit * length + tail
    for encoding in ENCODINGS:
        expected = reference[encoding].encode_ordinary(text)
        assert _core.encode(encoding, text) == expected
        assert _core.count(encoding, text) == len(expected)


# ---- known worst cases ----


def _minified_json(size: int) -> str:
    generator = random.Random(3)
    items = []
    while sum(map(len, items)) < size:
        item = {
            "id": generator.randrange(10**9),
            "name": "".join(generator.choice("abcdefghij") for _ in range(8)),
            "nested": {"x": [1, 2.5, None, True], "s": "caf\u00e9 \u4e16\u754c"},
        }
        items.append(json.dumps(item, separators=(",", ":"), ensure_ascii=False))
    return "[" + ",".join(items) + "]"


def _base64(size: int) -> str:
    return base64.b64encode(random.Random(5).randbytes(size * 3 // 4)).decode()


WORST_TEXTS = {
    "minified json": lambda: _minified_json(1_000_000),
    "base64": lambda: _base64(1_000_000),
    "base64 data uri in json": lambda: json.dumps(
        {"image": "data:image/png;base64," + _base64(300_000)}
    ),
    "cjk without separators": lambda: "".join(
        chr(random.Random(9).randint(0x4E00, 0x9FFF)) for _ in range(100_000)
    ),
    "emoji zwj": lambda: "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 " * 20_000,
    "thai": lambda: "\u0e01\u0e32\u0e23\u0e23\u0e35\u0e1a\u0e23\u0e31\u0e01\u0e43\u0e04\u0e23"
    * 20_000,
    "devanagari": lambda: "\u0928\u092e\u0938\u094d\u0924\u0947 "
    "\u0926\u0941\u0928\u093f\u092f\u093e " * 20_000,
    "hello then dashes": lambda: "Hello" + "-" * 32_768,
    "underscores": lambda: "_" * 200_000,
}


@pytest.mark.parametrize("case", WORST_TEXTS)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_worst_cases_match_tiktoken(
    reference: dict[str, tiktoken.Encoding], encoding: str, case: str
) -> None:
    text = WORST_TEXTS[case]()
    ids = grows_in_step(partial(_core.encode, encoding), text, f"{encoding} encode of {case}")
    assert ids == reference[encoding].encode_ordinary(text)
    assert _core.count(encoding, text) == len(ids)


@pytest.mark.parametrize("unit", (" ", "\t", "\u00a0", "-", "a"), ids=repr)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_ten_megabytes_of_one_character(encoding: str, unit: str) -> None:
    # tiktoken panics on a million white-space characters and takes seconds on the rest, so
    # the ids at this size are checked by their structure: the run's tokens repeat a block
    # (test_tokens.py checks 1 MB against tiktoken), and decode gives the text back.
    text = unit * (10_000_000 // len(unit.encode("utf-8")))
    count = grows_in_step(partial(_core.count, encoding), text, f"{encoding} count of {unit!r}")
    ids = _core.encode(encoding, text)
    assert len(ids) == count
    assert _core.decode(encoding, ids) == text.encode("utf-8")
    million = _core.encode(encoding, unit * (1_000_000 // len(unit.encode("utf-8"))))
    assert ids[:1000] == million[:1000]


def test_count_many_on_all_cores_matches_count() -> None:
    texts = _long_strings(seed=3, count=40, length=8_000) * 3
    for encoding in ENCODINGS:
        assert _core.count_many(encoding, texts) == [_core.count(encoding, t) for t in texts]
