"""Mistral's Tekken encoding: ids identical to mistral-common's reference tokenizer (offline)."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal import tokens, vendor_tokens
from shoal._build.tekken_vocab import rank_file
from shoal.catalog import load_catalog

mistral_common = pytest.importorskip("mistral_common")
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer  # noqa: E402

TEKKEN = "tekken_240718"
CORPUS = Path(__file__).parent / "data" / "corpus"
MISTRAL_DATA = Path(mistral_common.__file__).parent / "data"
SAMPLE_CHARS = 150_000


@pytest.fixture(scope="module")
def reference():  # type: ignore[no-untyped-def]
    """mistral-common's Tekkenizer for Mistral NeMo, loaded from the file in its wheel."""
    return MistralTokenizer.v3(is_tekken=True).instruct_tokenizer.tokenizer


def reference_ids(reference, text: str) -> list[int]:  # type: ignore[no-untyped-def]
    return reference.encode(text, bos=False, eos=False)


@pytest.mark.parametrize("name", sorted(path.name for path in CORPUS.glob("*.txt")))
def test_ids_match_mistral_common_on_the_corpus(reference, name: str) -> None:  # type: ignore[no-untyped-def]
    text = (CORPUS / name).read_text(encoding="utf-8")[:SAMPLE_CHARS]
    assert vendor_tokens.encode(TEKKEN, text) == reference_ids(reference, text)


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
        assert vendor_tokens.encode(TEKKEN, text) == reference_ids(reference, text), repr(text)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=60))
def test_ids_match_mistral_common_on_generated_text(reference, text: str) -> None:  # type: ignore[no-untyped-def]
    assert vendor_tokens.encode(TEKKEN, text) == reference_ids(reference, text)


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
    assert vendor_tokens.encode(TEKKEN, text) == reference_ids(reference, text)


def test_control_tokens_are_text_unless_allowed() -> None:
    text = "[INST] hi [/INST]</s>"
    ordinary = vendor_tokens.encode(TEKKEN, text)
    assert all(token >= vendor_tokens.CONTROL_TOKEN_COUNT for token in ordinary)
    allowed = vendor_tokens.encode(TEKKEN, text, allow_special=True)
    assert allowed[0] == 3 and allowed[-2:] == [4, 2]
    assert vendor_tokens.encode(TEKKEN, "<SPECIAL_999>", allow_special=True) == [999]
    assert vendor_tokens.decode(TEKKEN, allowed) == text.encode()


def test_decode_round_trips_and_rejects_unknown_ids() -> None:
    text = "Grüße, 世界 👨‍👩‍👧 [INST]"
    assert tokens.decode(tokens.encode(text, encoding=TEKKEN), encoding=TEKKEN) == text
    with pytest.raises(ValueError, match="not defined in encoding tekken_240718"):
        vendor_tokens.decode(TEKKEN, [131_072])
    with pytest.raises(TypeError, match=r"ids\[0\] must be int"):
        vendor_tokens.decode(TEKKEN, ["1"])  # type: ignore[list-item]


def test_bad_text_and_unknown_encoding_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="unpaired surrogate"):
        vendor_tokens.count(TEKKEN, "ok\ud800")
    with pytest.raises(ValueError, match=r"valid encodings are .*tekken_240718"):
        tokens.count_tokens("x", encoding="tekken")


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
    monkeypatch.setattr(vendor_tokens, "VOCABULARY_DIR", tmp_path)
    monkeypatch.setattr(vendor_tokens, "_LOADED", {})
    with pytest.raises(RuntimeError, match="SHA-256"):
        vendor_tokens.count(TEKKEN, "x")


def test_mistral_nemo_counts_exactly_through_the_public_api(reference) -> None:  # type: ignore[no-untyped-def]
    assert load_catalog().model("mistral-nemo-12b-instruct").encoding == TEKKEN
    text = "Mistral NeMo uses the Tekken tokenizer: 131,072 ids, 1,000 of them control tokens."
    result = tokens.count_tokens(text, model="mistral-nemo-12b-instruct")
    assert result.exact and result.encoding == TEKKEN
    assert result.tokens == len(reference_ids(reference, text))
    assert vendor_tokens.count_many(TEKKEN, [text, ""]) == [result.tokens, 0]
