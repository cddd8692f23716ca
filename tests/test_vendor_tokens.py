"""Mistral's Tekken encoding: ids identical to mistral-common's reference tokenizer (offline).

Both backends are compared with mistral-common and with each other: the Rust core and its pure
twin, whichever one ``shoal._backend`` picked for ``shoal.vendor_tokens``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hang_guard import HANG_GUARD_S
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal import _core, _pure, tokens, vendor_tokens
from shoal._build.tekken_vocab import rank_file
from shoal._pure import tokens as pure_tokens
from shoal.catalog import load_catalog

mistral_common = pytest.importorskip("mistral_common")
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer  # noqa: E402

TEKKEN = "tekken_240718"
CORPUS = Path(__file__).parent / "data" / "corpus"
MISTRAL_DATA = Path(mistral_common.__file__).parent / "data"
# The pure path runs about 2 MB/s: it gets the first part of each file, the Rust path all of it.
SAMPLE_CHARS = 150_000
BACKENDS = {"rust": _core, "pure": _pure}


@pytest.fixture(scope="module")
def reference():  # type: ignore[no-untyped-def]
    """mistral-common's Tekkenizer for Mistral NeMo, loaded from the file in its wheel."""
    return MistralTokenizer.v3(is_tekken=True).instruct_tokenizer.tokenizer


def reference_ids(reference, text: str) -> list[int]:  # type: ignore[no-untyped-def]
    return reference.encode(text, bos=False, eos=False)


@pytest.mark.parametrize("name", sorted(path.name for path in CORPUS.glob("*.txt")))
def test_ids_match_mistral_common_on_the_corpus(reference, name: str) -> None:  # type: ignore[no-untyped-def]
    text = (CORPUS / name).read_text(encoding="utf-8")
    expected = reference_ids(reference, text)
    assert _core.encode(TEKKEN, text) == expected
    assert _core.count(TEKKEN, text) == len(expected)
    assert _core.count_many(TEKKEN, [text, text[:SAMPLE_CHARS]]) == [
        len(expected),
        len(reference_ids(reference, text[:SAMPLE_CHARS])),
    ]

    sample = text[:SAMPLE_CHARS]
    assert _pure.encode(TEKKEN, sample) == _core.encode(TEKKEN, sample)
    assert vendor_tokens.encode(TEKKEN, sample) == _core.encode(TEKKEN, sample)


@pytest.mark.parametrize("name", sorted(path.name for path in CORPUS.glob("*.txt")))
def test_backends_agree_with_control_tokens_allowed(name: str) -> None:
    # Control-token text spliced into real text, at places a piece would otherwise span.
    text = (CORPUS / name).read_text(encoding="utf-8")[:20_000]
    spliced = "[INST]".join(text[index : index + 997] for index in range(0, len(text), 997))
    spliced = spliced.replace("\n", "</s><SPECIAL_42>\n", 40)
    for allow_special in (False, True):
        rust = _core.encode(TEKKEN, spliced, allow_special=allow_special)
        assert rust == _pure.encode(TEKKEN, spliced, allow_special=allow_special)
        assert _core.count(TEKKEN, spliced, allow_special=allow_special) == len(rust)
        assert _core.decode(TEKKEN, rust) == spliced.encode("utf-8")


# Scripts and shapes that exercise every pattern alternative: case splits, marks, digits,
# punctuation runs with trailing newlines and slashes, whitespace before text and at the end.
ALPHABET = (
    "abcXYZ'’ \t\n\r\u00a0\u3000/-_.,!?()[]{}<>|0123456789٣४"
    "ÀéßÇñ Привет мир Γειά 中文字 日本語 한국어 العربية עברית हिन्दी ไทย"
    "\u0301\u0308\u200d👍🏽👨‍👩‍👧"
)


def test_ids_match_mistral_common_on_random_mixed_script_text(reference) -> None:  # type: ignore[no-untyped-def]
    generator = random.Random(20261204)
    for _ in range(300):
        length = generator.randint(0, 80)
        text = "".join(generator.choice(ALPHABET) for _ in range(length))
        expected = reference_ids(reference, text)
        for backend in BACKENDS.values():
            assert backend.encode(TEKKEN, text) == expected, (backend.__name__, repr(text))


# Control-token texts, near misses, and the pieces around them.
FRAGMENTS = (
    "[INST]",
    "[/INST]",
    "[INST",
    "<s>",
    "</s>",
    "<unk>",
    "<SPECIAL_20>",
    "<SPECIAL_999>",
    "<SPECIAL_1000>",
    "<SPECIAL_",
    "[TOOL_CALLS]",
    "[AVAILABLE_TOOLS]",
    "don't",
    "2024",
    " \n\n ",
    "\u00a0",
    "Привет",
    "中文",
)
MIXED_TEXT = st.one_of(
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=60),
    st.text(alphabet=ALPHABET, max_size=80),
    st.lists(st.sampled_from(FRAGMENTS) | st.text(ALPHABET, max_size=5), max_size=12).map("".join),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(MIXED_TEXT)
def test_ids_match_mistral_common_on_generated_text(reference, text: str) -> None:  # type: ignore[no-untyped-def]
    expected = reference_ids(reference, text)
    assert _core.encode(TEKKEN, text) == expected
    assert _pure.encode(TEKKEN, text) == expected
    assert _core.count(TEKKEN, text) == len(expected)


@settings(max_examples=300, deadline=None)
@given(MIXED_TEXT, st.booleans())
def test_backends_agree_and_round_trip(text: str, allow_special: bool) -> None:
    rust = _core.encode(TEKKEN, text, allow_special=allow_special)
    assert rust == _pure.encode(TEKKEN, text, allow_special=allow_special)
    assert _core.count(TEKKEN, text, allow_special=allow_special) == len(rust)
    assert _core.count_many(TEKKEN, [text, ""], allow_special=allow_special) == [len(rust), 0]
    assert _core.decode(TEKKEN, rust) == _pure.decode(TEKKEN, rust) == text.encode("utf-8")


@pytest.mark.parametrize(
    "text",
    [
        "a" * 5000,
        " " * 3000 + "x",
        "\t" * 2000,
        "\u00a0" * 2000,
        "-" * 4000,
        "1234567890" * 50,
        "don't I'LL we've",
        "x\n\n  \n/y",
        "  trailing   ",
    ],
)
def test_ids_match_mistral_common_on_long_runs_and_edges(reference, text: str) -> None:  # type: ignore[no-untyped-def]
    expected = reference_ids(reference, text)
    for backend in BACKENDS.values():
        assert backend.encode(TEKKEN, text) == expected, backend.__name__


@pytest.mark.parametrize("backend", BACKENDS)
def test_long_runs_count_as_they_encode(backend: str) -> None:
    # Long enough for the Rust path's periodic and backtracking merges.
    for unit in ("a", " ", "\t", "\u00a0", "-", "7", "中"):
        text = unit * 20_000
        ids = BACKENDS[backend].encode(TEKKEN, text)
        assert BACKENDS[backend].count(TEKKEN, text) == len(ids)
        assert ids == _core.encode(TEKKEN, text), unit


@pytest.mark.parametrize("backend", BACKENDS)
def test_control_tokens_are_text_unless_allowed(backend: str) -> None:
    core = BACKENDS[backend]
    text = "[INST] hi [/INST]</s>"
    ordinary = core.encode(TEKKEN, text)
    assert all(token >= vendor_tokens.CONTROL_TOKEN_COUNT for token in ordinary)
    allowed = core.encode(TEKKEN, text, allow_special=True)
    assert allowed[0] == 3 and allowed[-2:] == [4, 2]
    assert core.count(TEKKEN, text, allow_special=True) == len(allowed)
    assert core.encode(TEKKEN, "<SPECIAL_999>", allow_special=True) == [999]
    assert core.decode(TEKKEN, allowed) == text.encode()
    for index, name in enumerate(vendor_tokens.CONTROL_TOKENS):
        assert core.encode(TEKKEN, name, allow_special=True) == [index]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("unit", ["[INST]", "<s>", "</s>x"])
def test_a_text_made_of_control_tokens_counts_every_one(backend: str, unit: str) -> None:
    # Each unit holds one control token and only one of Tekken's two first bytes ('[', '<'):
    # the search for the absent one must not restart at every match (that was quadratic).
    text = unit * 50_000
    ids_per_unit = len(BACKENDS[backend].encode(TEKKEN, unit, allow_special=True))

    assert BACKENDS[backend].count(TEKKEN, text, allow_special=True) == (
        50_000 * ids_per_unit
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_decode_round_trips_and_rejects_unknown_ids(backend: str) -> None:
    core = BACKENDS[backend]
    text = "Grüße, 世界 👨‍👩‍👧 [INST]"
    assert core.decode(TEKKEN, core.encode(TEKKEN, text)).decode() == text
    assert tokens.decode(tokens.encode(text, encoding=TEKKEN), encoding=TEKKEN) == text
    assert core.decode(TEKKEN, [0, 999, 1000, 131_071]) == _pure.decode(
        TEKKEN, [0, 999, 1000, 131_071]
    )
    for unknown in (131_072, -1, 2**63 - 1, 2**63, -(2**63) - 1):
        with pytest.raises(ValueError, match="not defined in encoding tekken_240718"):
            core.decode(TEKKEN, [unknown])
    with pytest.raises(TypeError, match=r"ids\[0\] must be int"):
        core.decode(TEKKEN, ["1"])  # type: ignore[list-item]


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_text(backend: str) -> None:
    core = BACKENDS[backend]
    assert core.encode(TEKKEN, "") == core.encode(TEKKEN, "", allow_special=True) == []
    assert core.count(TEKKEN, "") == 0
    assert core.count_many(TEKKEN, []) == []
    assert core.count_many(TEKKEN, ["", ""]) == [0, 0]
    assert core.decode(TEKKEN, []) == b""


def test_lone_surrogates_are_the_same_error_as_other_encodings() -> None:
    for backend in BACKENDS.values():
        for function, argument in ((backend.encode, "ok\ud800"), (backend.count, "\udfff")):
            messages = []
            for encoding in ("o200k_base", TEKKEN):
                with pytest.raises(ValueError, match="unpaired surrogate") as raised:
                    function(encoding, argument)
                messages.append(str(raised.value))
            assert messages[0] == messages[1], backend.__name__
        with pytest.raises(ValueError, match=r"texts\[1\] has an unpaired surrogate"):
            backend.count_many(TEKKEN, ["fine", "\ud800"])


def test_bad_text_and_unknown_encoding_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="unpaired surrogate"):
        vendor_tokens.count(TEKKEN, "ok\ud800")
    with pytest.raises(ValueError, match=r"valid encodings are .*tekken_240718"):
        tokens.count_tokens("x", encoding="tekken")
    with pytest.raises(ValueError, match="valid vendor encodings are tekken_240718"):
        vendor_tokens.count("o200k_base", "x")


def test_the_backend_in_use_encodes_tekken() -> None:
    # shoal.tokens and shoal.vendor_tokens go to the Rust core, or to the pure twin when
    # SHOAL_PURE_PYTHON=1, in a fresh interpreter each.
    script = (
        "from shoal import tokens, vendor_tokens; "
        f"print(tokens.tokenizer_for(encoding={TEKKEN!r}).backend.__name__, "
        "vendor_tokens.core.__name__)"
    )
    for switch, expected in (("0", "shoal._core"), ("1", "shoal._pure")):
        environment = {**os.environ, "SHOAL_PURE_PYTHON": switch}
        completed = subprocess.run(
            [sys.executable, "-c", script],
            env=environment,
            capture_output=True,
            text=True,
            check=True,
            timeout=HANG_GUARD_S,
        )
        assert completed.stdout.split() == [expected, expected]


def test_shipped_rank_file_is_the_one_in_mistral_common() -> None:
    shipped = gzip.decompress((vendor_tokens.VOCABULARY_DIR / f"{TEKKEN}.tiktoken.gz").read_bytes())
    source = (MISTRAL_DATA / "tekken_240718.json").read_bytes()
    assert hashlib.sha256(shipped).hexdigest() == vendor_tokens.RANK_FILE_SHA256[TEKKEN]
    assert rank_file(json.loads(source)) == shipped
    # Pixtral 12B's file holds the same ranks, so the same encoding counts it exactly.
    assert rank_file(json.loads((MISTRAL_DATA / "tekken_240911.json").read_bytes())) == shipped
    if hashlib.sha256(source).hexdigest() != vendor_tokens.SOURCE_SHA256[TEKKEN]:
        pytest.fail("mistral-common's tekken_240718.json changed; recheck and update the pin")


def test_tampered_rank_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = gzip.decompress(
        (vendor_tokens.VOCABULARY_DIR / f"{TEKKEN}.tiktoken.gz").read_bytes()
    )
    tampered = original.replace(b" 300\n", b" 301\n", 1)
    (tmp_path / f"{TEKKEN}.tiktoken.gz").write_bytes(gzip.compress(tampered))
    monkeypatch.setattr(pure_tokens, "VOCABULARY_DIR", tmp_path)
    monkeypatch.setattr(pure_tokens, "_LOADED", {})
    with pytest.raises(OSError, match=r"SHA-256 \w+ once decompressed"):
        _pure.count(TEKKEN, "x")


def test_mistral_nemo_counts_exactly_through_the_public_api(reference) -> None:  # type: ignore[no-untyped-def]
    assert load_catalog().model("mistral-nemo-12b-instruct").encoding == TEKKEN
    text = "Mistral NeMo uses the Tekken tokenizer: 131,072 ids, 1,000 of them control tokens."
    result = tokens.count_tokens(text, model="mistral-nemo-12b-instruct")
    assert result.exact and result.encoding == TEKKEN
    assert result.tokens == len(reference_ids(reference, text))
    assert vendor_tokens.count_many(TEKKEN, [text, ""]) == [result.tokens, 0]
