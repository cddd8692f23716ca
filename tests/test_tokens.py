"""Token ids and counts: Rust core and pure-Python fallback against tiktoken 0.14.

tiktoken is built offline from the vocabulary files shipped in ``shoal/data/vocab``: its own
``openai_public`` constructors supply the patterns and special tokens, with the rank file read
from the local path (and tiktoken's download cache disabled), so nothing is ever fetched.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from fractions import Fraction
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
from shoal._pure import tokens as pure_tokens
from shoal.token_budget import count_till_limit, split_chunks, truncate

ENCODINGS = ("cl100k_base", "o200k_base")
BACKENDS = {"rust": _core, "pure": _pure}
VOCABULARY_DIR = Path(tokens.__file__).parent / "data" / "vocab"
CORPUS_DIR = Path(__file__).parent / "data" / "corpus"
CORPUS_FILES = sorted(path.name for path in CORPUS_DIR.glob("*.txt"))

# Inputs of one repeated character that tiktoken mishandles (tokens.md §5).
PATHOLOGICAL_UNITS = ("a", " ", "\t", "\u00a0", "-")
RUST_PATHOLOGICAL_LENGTH = 1_000_000
# The pure path's heap merge runs about 100k characters a second on one repeated character;
# a tenth of the Rust length keeps the suite fast while still exercising the heap.
PURE_PATHOLOGICAL_LENGTH = 100_000


@pytest.fixture(scope="session")
def reference() -> Iterator[dict[str, tiktoken.Encoding]]:
    """tiktoken encodings built from the shipped vocabulary files."""
    real_loader = tiktoken.load.load_tiktoken_bpe

    def local_ranks(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        local = VOCABULARY_DIR / url.rsplit("/", 1)[-1]
        assert local.is_file(), f"no shipped vocabulary for {url}"
        return real_loader(str(local), expected_hash=expected_hash)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TIKTOKEN_CACHE_DIR", "")  # read the local file; write no cache copy
        patch.setattr(openai_public, "load_tiktoken_bpe", local_ranks)
        encodings = {
            name: tiktoken.Encoding(**getattr(openai_public, name)()) for name in ENCODINGS
        }
    yield encodings


@pytest.fixture(scope="session")
def corpus() -> dict[str, str]:
    return {name: (CORPUS_DIR / name).read_text(encoding="utf-8") for name in CORPUS_FILES}


@pytest.fixture(scope="session")
def corpus_ids(reference: dict[str, tiktoken.Encoding], corpus: dict[str, str]) -> dict:
    """tiktoken's ids for every (encoding, corpus file), computed once."""
    return {
        (encoding, name): reference[encoding].encode_ordinary(text)
        for encoding in ENCODINGS
        for name, text in corpus.items()
    }


def test_shipped_vocabularies_match_published_hashes() -> None:
    import hashlib

    for name in ENCODINGS:
        digest = hashlib.sha256((VOCABULARY_DIR / f"{name}.tiktoken").read_bytes()).hexdigest()
        assert digest == pure_tokens.VOCABULARY_SHA256[name]


def test_encodings_listed() -> None:
    # Tekken is tested against mistral-common in test_vendor_tokens.py.
    assert _core.ENCODINGS == _pure.ENCODINGS == tokens.ENCODINGS == (*ENCODINGS, "tekken_240718")


# ---- exact ids on the corpus ----


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", CORPUS_FILES)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_corpus_ids_identical_to_tiktoken(
    backend: str, name: str, encoding: str, corpus: dict[str, str], corpus_ids: dict
) -> None:
    core = BACKENDS[backend]
    expected = corpus_ids[(encoding, name)]
    assert core.encode(encoding, corpus[name]) == expected
    assert core.count(encoding, corpus[name]) == len(expected)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_count_many_equals_count_per_text(
    backend: str, encoding: str, corpus: dict[str, str]
) -> None:
    core = BACKENDS[backend]
    # Enough text (well over 64 KiB) for the Rust core to spread the batch over threads.
    lines = [line for text in corpus.values() for line in text.splitlines()[:1500]]
    assert sum(map(len, lines)) > 200_000
    assert core.count_many(encoding, lines) == [core.count(encoding, line) for line in lines]
    assert core.count_many(encoding, []) == []


# ---- differential tests on generated text ----

FRAGMENTS = (
    " ", "  ", "   ", "\n", "\n\n", "\r\n", "\t", "\u00a0", "\u3000", "\u2028", "\x85", "\x0b",
    "\x1c", "'s", "'S", "'ll", "'VE", "'re", "'\u017f", "'d", "'", "don't", "HELLO'S",
    "<|endoftext|>", "<|fim_prefix|>", "<|endofprompt|>", "<|", "|>", "Hello", "HTTPServer",
    "camelCase", "ǅemal", "\u02b0", "123456", "42", "\u2167", "\u00b2", "\u0661\u0662",
    "\u0e23\u0e23\u0e35\u0e1a", "e\u0301", "\u0301", "\u0928\u092e\u0938\u094d\u0924\u0947",
    "漢字", "かな", "한국어", "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f642",
    "—", "...", "/", "//", "!\n/", "{\"a\": [1, 2]}", "def f(x):\n    return x\n", "-->",
)


def _texts() -> st.SearchStrategy[str]:
    characters = st.characters(exclude_categories=("Cs",))
    part = st.one_of(st.sampled_from(FRAGMENTS), st.text(characters, max_size=6))
    return st.lists(part, max_size=24).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_texts())
def test_generated_text_ids_identical_to_tiktoken(
    reference: dict[str, tiktoken.Encoding], text: str
) -> None:
    for encoding in ENCODINGS:
        expected = reference[encoding].encode_ordinary(text)
        assert _core.encode(encoding, text) == expected
        assert _core.count(encoding, text) == len(expected)

        special = reference[encoding].encode(text, allowed_special="all")
        assert _core.encode(encoding, text, allow_special=True) == special
        assert _core.count(encoding, text, allow_special=True) == len(special)

        assert _pure.encode(encoding, text) == expected
        assert _pure.encode(encoding, text, allow_special=True) == special


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_texts())
def test_decode_round_trip(text: str) -> None:
    for encoding in ENCODINGS:
        for allow_special in (False, True):
            ids = _core.encode(encoding, text, allow_special=allow_special)
            assert _core.decode(encoding, ids) == text.encode("utf-8")
            assert _pure.decode(encoding, ids) == text.encode("utf-8")


def test_letters_newer_than_this_python_match_tiktoken(
    reference: dict[str, tiktoken.Encoding],
) -> None:
    # Unicode 15.0/16.0 letters, a digit and two marks that Python 3.11's unicodedata leaves
    # unassigned: CJK Extension H and I, Kawi, Nag Mundari, Garay, Tulu-Tigalari.
    newer = "\U00031350\U0002ebf0\U00011f04\U0001e4d0\U00010d4a\U00010d40\U000113b8\U000113bb"
    text = f"x{newer} A{newer}b {newer[3:]}!"
    for encoding in ENCODINGS:
        expected = reference[encoding].encode_ordinary(text)
        assert _core.encode(encoding, text) == expected
        assert _pure.encode(encoding, text) == expected


# ---- pathological inputs ----


def _is_tiktoken_panic(error: BaseException) -> bool:
    return type(error).__name__ == "PanicException"


@pytest.mark.parametrize("unit", PATHOLOGICAL_UNITS, ids=repr)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_rust_pathological_runs_match_tiktoken(
    reference: dict[str, tiktoken.Encoding], encoding: str, unit: str
) -> None:
    text = unit * RUST_PATHOLOGICAL_LENGTH
    ids = grows_in_step(partial(_core.encode, encoding), text, f"{encoding} encode of {unit!r}")
    assert _core.count(encoding, text) == len(ids)

    try:
        expected = reference[encoding].encode_ordinary(text)
    except BaseException as error:  # tiktoken raises PanicException, a BaseException
        if not _is_tiktoken_panic(error):
            raise
        # tiktoken's regex gives up on a million white-space characters. At the end of a text
        # such a run is one piece, so tiktoken's BPE on that one piece is the reference.
        assert unit.isspace(), f"tiktoken panicked on {unit!r}"
        expected = reference[encoding]._encode_single_piece(text)
    assert ids == expected


def test_rust_long_whitespace_before_a_word(reference: dict[str, tiktoken.Encoding]) -> None:
    # tiktoken 0.14 panics on this input for both encodings; the pieces are n - 1 spaces, then
    # " x", so tiktoken's BPE on those two pieces is the reference.
    text = " " * RUST_PATHOLOGICAL_LENGTH + "x"
    for encoding in ENCODINGS:
        tiktoken_encoding = reference[encoding]
        expected = tiktoken_encoding._encode_single_piece(text[:-2])
        expected += tiktoken_encoding.encode_ordinary(" x")
        assert _core.encode(encoding, text) == expected


@pytest.mark.parametrize("unit", PATHOLOGICAL_UNITS, ids=repr)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_pure_pathological_runs_match_rust(encoding: str, unit: str) -> None:
    text = unit * PURE_PATHOLOGICAL_LENGTH
    assert _pure.encode(encoding, text) == _core.encode(encoding, text)


# ---- special tokens, errors ----


@pytest.mark.parametrize("backend", BACKENDS)
def test_special_token_text_is_ordinary_unless_allowed(backend: str) -> None:
    core = BACKENDS[backend]
    text = "end <|endoftext|> start"
    ordinary = core.encode("o200k_base", text)
    assert 199999 not in ordinary
    assert len(ordinary) > 3
    # The special token splits the text: each side is pre-tokenized on its own.
    for encoding, special in (("o200k_base", 199999), ("cl100k_base", 100257)):
        expected = [*core.encode(encoding, "end "), special, *core.encode(encoding, " start")]
        assert core.encode(encoding, text, allow_special=True) == expected
        assert core.count(encoding, text, allow_special=True) == len(expected)
    # A cl100k special token is ordinary text in o200k, allowed or not.
    fim = "<|fim_prefix|>"
    assert core.encode("o200k_base", fim, allow_special=True) == core.encode("o200k_base", fim)
    assert core.encode("cl100k_base", fim, allow_special=True) == [100258]


@pytest.mark.parametrize("backend", BACKENDS)
def test_lone_surrogate_is_a_value_error(backend: str) -> None:
    core = BACKENDS[backend]
    text = "ok\ud800bad"
    for function in (core.encode, core.count):
        with pytest.raises(ValueError, match="text has an unpaired surrogate at index 2"):
            function("o200k_base", text)
    with pytest.raises(ValueError, match=r"texts\[1\] has an unpaired surrogate at index 0"):
        core.count_many("o200k_base", ["fine", "\udc00"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_unknown_encoding_names_the_valid_ones(backend: str) -> None:
    core = BACKENDS[backend]
    message = (
        'unknown encoding "p50k_base"; valid encodings are cl100k_base, o200k_base, tekken_240718'
    )
    for call in (
        lambda: core.encode("p50k_base", "x"),
        lambda: core.count("p50k_base", "x"),
        lambda: core.count_many("p50k_base", ["x"]),
        lambda: core.decode("p50k_base", [1]),
    ):
        with pytest.raises(ValueError) as raised:
            call()
        assert str(raised.value) == message


@pytest.mark.parametrize("backend", BACKENDS)
def test_decode_rejects_ids_outside_the_vocabulary(backend: str) -> None:
    core = BACKENDS[backend]
    for unused in (100256, 100261, 100275, 100277, -1):
        with pytest.raises(ValueError, match=f"token id {unused} is not defined in encoding"):
            core.decode("cl100k_base", [unused])
    with pytest.raises(ValueError, match=r"token id 1180591620717411303424 at ids\[0\]"):
        core.decode("o200k_base", [2**70])
    with pytest.raises(TypeError, match=r"ids\[1\] must be int, not str"):
        core.decode("o200k_base", [1, "2"])
    assert core.decode("o200k_base", [199999, 200018]) == b"<|endoftext|><|endofprompt|>"


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_argument_types(backend: str) -> None:
    core = BACKENDS[backend]
    with pytest.raises(TypeError):
        core.count("o200k_base", b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not a str"):
        core.count_many("o200k_base", "abc")
    with pytest.raises(TypeError, match=r"texts\[1\] must be str, not int"):
        core.count_many("o200k_base", ["a", 1])  # type: ignore[list-item]


def test_pure_path_refuses_a_tampered_vocabulary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tampered = (VOCABULARY_DIR / "cl100k_base.tiktoken").read_bytes().replace(b" 0\n", b" 1\n", 1)
    (tmp_path / "cl100k_base.tiktoken").write_bytes(tampered)
    monkeypatch.setattr(pure_tokens, "VOCABULARY_DIR", tmp_path)
    monkeypatch.setattr(pure_tokens, "_LOADED", {})
    with pytest.raises(OSError, match="SHA-256"):
        pure_tokens.count("cl100k_base", "x")


# ---- public API ----

CHAT_EXAMPLE = [  # openai-cookbook, How_to_count_tokens_with_tiktoken, section 6
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate "
        "jargon into plain English.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "New synergies will help drive top-line growth.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities "
        "for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client "
        "deliverable.",
    },
]


def test_count_chat_reproduces_the_cookbook_api_counts() -> None:
    # The cookbook's counts, verified there against the API: 129 for gpt-4 / gpt-3.5-turbo
    # (cl100k_base) and 124 for gpt-4o (o200k_base).
    assert tokens.count_chat(CHAT_EXAMPLE, model="gpt-4").tokens == 129
    assert tokens.count_chat(CHAT_EXAMPLE, model="gpt-3.5-turbo").tokens == 129
    assert tokens.count_chat(CHAT_EXAMPLE, model="gpt-4o").tokens == 124
    assert tokens.count_chat(CHAT_EXAMPLE).tokens == 124


def test_count_chat_overhead_rules() -> None:
    one = [{"role": "user", "content": "Hi"}]
    content = tokens.count_tokens("user").tokens + tokens.count_tokens("Hi").tokens
    assert tokens.count_chat(one).tokens == content + 3 + 3
    named = [{"role": "user", "name": "bob", "content": "Hi"}]
    bob = tokens.count_tokens("bob").tokens
    assert tokens.count_chat(named).tokens == content + bob + 3 + 1 + 3
    assert tokens.count_chat([]).tokens == 3


def test_count_chat_refuses_bad_input() -> None:
    with pytest.raises(TypeError, match=r"messages\[0\]\['content'\] must be a string"):
        tokens.count_chat([{"role": "user", "content": 5}])  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="messages must be a list of message dicts, not int"):
        tokens.count_chat(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tools must be a list of tool definitions, not int"):
        tokens.count_chat([], tools=5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ([{"role": "user"}], r"messages\[0\] has no 'content'"),
        ([{"role": "user", "content": "a"}, {"role": "user", "content": None}],
         r"messages\[1\] has no 'content' \(or it is null\); only an assistant message with "
         "'tool_calls' may leave it out"),
        ([{"role": "assistant"}], r"messages\[0\] has no 'content'"),
        ([{"role": "user", "content": None, "tool_calls": [{"id": "c1"}]}],
         r"messages\[0\] has no 'content'"),
        ([{"content": "Hi"}], r"messages\[0\] has no 'role'"),
    ],
)
def test_count_chat_refuses_a_message_the_api_would_refuse(
    messages: list[dict[str, object]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        tokens.count_chat(messages)


def test_count_chat_counts_an_assistant_tool_call_without_content_as_compact_json() -> None:
    calls = [{"id": "c1", "type": "function",
              "function": {"name": "weather", "arguments": '{"city":"Paris"}'}}]
    compact = json.dumps(calls, separators=(",", ":"))
    expected = (tokens.count_tokens("assistant").tokens + tokens.count_tokens(compact).tokens
                + tokens.TOKENS_PER_MESSAGE + tokens.REPLY_PRIMING_TOKENS)

    for content in ({}, {"content": None}):
        counted = tokens.count_chat([{"role": "assistant", **content, "tool_calls": calls}])
        assert counted.tokens == expected
        assert counted.exact is False and tokens.TOOL_CALLS_NOTE in counted.method


def test_count_chat_counts_text_parts_as_separate_texts() -> None:
    parts = [{"role": "user", "content": [{"type": "text", "text": "Hi"},
                                          {"type": "text", "text": " there"}]}]
    as_text = [{"role": "user", "content": "Hi"}]

    counted = tokens.count_chat(parts)
    expected = tokens.count_chat(as_text).tokens + tokens.count_tokens(" there").tokens

    assert counted.tokens == expected
    assert counted.exact is False and tokens.CONTENT_PARTS_NOTE in counted.method
    assert tokens.count_chat(as_text).exact is True


def test_count_chat_refuses_parts_it_cannot_count() -> None:
    image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]
    with pytest.raises(ValueError, match=r"messages\[0\]\['content'\]\[0\] is an 'image_url' part"):
        tokens.count_chat(image)
    with pytest.raises(TypeError, match=r"\[0\]\['text'\] must be a string"):
        tokens.count_chat([{"role": "user", "content": [{"type": "text", "text": 5}]}])
    with pytest.raises(TypeError, match=r"messages\[0\]\['name'\] must be a string"):
        tokens.count_chat(
            [{"role": "user", "name": [{"type": "text", "text": "a"}], "content": "b"}]
        )


def test_count_tokens_exact_by_encoding_and_model(corpus: dict[str, str]) -> None:
    text = corpus["prompts_en.txt"][:5000]
    by_encoding = tokens.count_tokens(text, encoding="cl100k_base")
    assert by_encoding == tokens.TokenCount(
        _core.count("cl100k_base", text), "cl100k_base", True, None, len(text)
    )
    by_model = tokens.count_tokens(text, model="gpt-4o")
    assert by_model.exact and by_model.encoding == "o200k_base" and by_model.model == "gpt-4o"
    assert by_model.tokens == _core.count("o200k_base", text)


@pytest.mark.parametrize(
    "call",
    [
        lambda: tokens.count_tokens("hi", encoding="cl100k_base", model="gpt-4o"),
        lambda: truncate("hi", 1, encoding="o200k_base", model="gpt-4o"),
        lambda: split_chunks("hi", 1, encoding="o200k_base", model="gpt-4o"),
        lambda: count_till_limit("hi", 1, encoding="o200k_base", model="gpt-4o"),
    ],
)
def test_encoding_and_model_together_are_refused_not_one_ignored(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="give encoding or model, not both"):
        call()


def test_count_tokens_estimate_for_model_without_public_tokenizer() -> None:
    from shoal.catalog import load_catalog

    entry = load_catalog().model("claude-opus-4-7")
    assert entry.encoding is None
    text = "Estimate me, please. " * 40
    estimate = tokens.count_tokens(text, model="claude-opus-4-7")
    base = _core.count("o200k_base", text)
    assert estimate.exact is False
    # The encoding that ran, a name --encoding takes back; the scale and its source beside it.
    assert estimate.encoding == "o200k_base"
    assert estimate.token_ratio == entry.token_ratio
    assert estimate.ratio_source == entry.token_ratio_source
    assert estimate.tokens == math.ceil(base * Fraction(str(entry.token_ratio)))
    assert estimate.tokens >= base * entry.token_ratio
    assert estimate.characters == len(text)


def test_estimate_rounds_up_on_the_decimal_ratio() -> None:
    from shoal.tokens import _scaled

    assert _scaled(10, 1.1) == 11  # 10 * 1.1 is 11.000000000000002 in binary floating point
    assert _scaled(10, 1.15) == 12
    assert _scaled(0, 1.3) == 0


def test_unknown_model_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="gpt-4o"):
        tokens.count_tokens("x", model="gpt-4oo")


def test_public_encode_decode() -> None:
    text = "Grüße, 世界 <|endoftext|>"
    assert tokens.decode(tokens.encode(text)) == text
    assert tokens.encode(text, allow_special=True)[-1] == 199999
    # A lone byte of a multi-byte character decodes to U+FFFD in text, intact in bytes.
    ids = tokens.encode("世", encoding="cl100k_base")
    assert len(ids) > 1
    assert tokens.decode(ids[:1], encoding="cl100k_base").endswith("\ufffd")
    assert tokens.decode_bytes(ids, encoding="cl100k_base") == "世".encode()



ANTHROPIC_TOOL_CHAT = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "t1", "name": "weather", "input": {"city": "Paris"}},
    ]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]},
]


def test_count_chat_counts_anthropic_tool_blocks_as_trim_chat_does() -> None:
    from shoal.budget import trim_chat

    counted = tokens.count_chat(ANTHROPIC_TOOL_CHAT, model="claude-sonnet-4-5")
    trimmed = trim_chat(ANTHROPIC_TOOL_CHAT, budget_tokens=10_000, model="claude-sonnet-4-5")

    assert counted.tokens == trimmed.tokens
    assert counted.exact is False and tokens.TOOL_BLOCKS_NOTE in counted.method
    call = ANTHROPIC_TOOL_CHAT[1]
    compact = json.dumps(call["content"], separators=(",", ":"))
    assert tokens.count_chat([call]).tokens == (
        tokens.count_tokens("assistant").tokens + tokens.count_tokens(compact).tokens
        + tokens.TOKENS_PER_MESSAGE + tokens.REPLY_PRIMING_TOKENS
    )


@pytest.mark.parametrize(
    ("content", "where", "kind"),
    [
        ([{"type": "tool_result", "tool_use_id": "t1", "content": "x"},
          {"type": "image", "source": {"type": "base64", "data": "..."}}], r"\[1\]", "image"),
        ([{"type": "tool_result", "tool_use_id": "t1",
           "content": [{"type": "text", "text": "chart:"}, {"type": "image", "source": {}}]}],
         r"\[0\]\['content'\]\[1\]", "image"),
        ([{"type": "tool_use", "id": "t1", "name": "say", "input": {}},
          {"type": "input_audio", "input_audio": {"data": "..."}}], r"\[1\]", "input_audio"),
    ],
)
def test_count_chat_still_refuses_images_and_audio_beside_tool_blocks(
    content: list[dict[str, object]], where: str, kind: str
) -> None:
    with pytest.raises(ValueError, match=rf"messages\[0\]\['content'\]{where} is an '{kind}' part"):
        tokens.count_chat([{"role": "user", "content": content}])


@pytest.mark.parametrize(
    ("part", "text"),
    [
        ({"type": "refusal", "refusal": "I cannot help with that."}, "I cannot help with that."),
        ({"type": "input_text", "text": "Summarise this."}, "Summarise this."),
        ({"type": "output_text", "text": "Here it is.", "annotations": []}, "Here it is."),
    ],
)
def test_count_chat_counts_a_part_that_carries_text_by_its_text(
    part: dict[str, object], text: str
) -> None:
    as_text_part = [{"role": "assistant", "content": [{"type": "text", "text": text}]}]

    counted = tokens.count_chat([{"role": "assistant", "content": [part]}])

    assert counted.tokens == tokens.count_chat(as_text_part).tokens
    assert counted.exact is False and tokens.CONTENT_PARTS_NOTE in counted.method


def test_count_chat_counts_a_thinking_block_by_its_text_alone_and_says_so() -> None:
    thought = "The user wants the weather; I should call the tool."
    thinking = {"type": "thinking", "thinking": thought, "signature": "EqQBCgIYAh" * 40}
    call = {"type": "tool_use", "id": "t1", "name": "weather", "input": {"city": "Paris"}}
    reply = {"type": "text", "text": "Checking."}
    overhead = (tokens.count_tokens("assistant").tokens + tokens.TOKENS_PER_MESSAGE
                + tokens.REPLY_PRIMING_TOKENS)

    with_text = tokens.count_chat([{"role": "assistant", "content": [thinking, reply]}])
    with_call = tokens.count_chat([{"role": "assistant", "content": [thinking, reply, call]}])

    thought_tokens = tokens.count_tokens(thought).tokens
    assert with_text.tokens == overhead + thought_tokens + tokens.count_tokens("Checking.").tokens
    compact = json.dumps([reply, call], separators=(",", ":"))
    assert with_call.tokens == overhead + thought_tokens + tokens.count_tokens(compact).tokens
    for counted in (with_text, with_call):
        assert counted.exact is False and tokens.THINKING_NOTE in counted.method


@pytest.mark.parametrize(
    ("part", "refusal"),
    [
        ({"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                         "data": "JVBERi0="}},
         "is a 'document' part: a document's tokens depend on how the vendor reads its file"),
        ({"type": "redacted_thinking", "data": "EmwKAhgB"},
         "is a 'redacted_thinking' part: its thinking is encrypted, so its tokens cannot be "
         "counted from its text; remove it to count the rest"),
        ({"type": "image", "source": {}},
         "is an 'image' part: images are billed by their size, not by text"),
        ({"type": "input_audio", "input_audio": {"data": "..."}},
         "is an 'input_audio' part: audio is billed by its length, not by text"),
        ({"type": "video"},
         "is a 'video' part: shoal counts the text parts (text, input_text, output_text, "
         "refusal, thinking) and tool_use and tool_result blocks, not this kind"),
        ({"text": "Hi"},
         "has no 'type'; give each part one, as in {'type': 'text', 'text': '...'}"),
    ],
)
def test_count_chat_refuses_a_part_without_text_for_its_own_reason(
    part: dict[str, object], refusal: str
) -> None:
    from shoal.budget import trim_chat

    messages = [{"role": "assistant", "content": [{"type": "text", "text": "Hi"}, part]}]
    with pytest.raises(ValueError) as counting:
        tokens.count_chat(messages)
    with pytest.raises(ValueError) as trimming:
        trim_chat(messages, budget_tokens=100, model="gpt-4o")

    assert str(counting.value) == str(trimming.value)
    assert str(counting.value).startswith(f"messages[0]['content'][1] {refusal}")


def test_count_chat_refuses_an_unknown_role_by_name() -> None:
    from shoal.budget import CHAT_ROLES

    with pytest.raises(ValueError, match=r"messages\[1\] has the unknown role 'robot'; the roles "
                                         f"are {', '.join(CHAT_ROLES)}"):
        tokens.count_chat([{"role": "user", "content": "Hi"}, {"role": "robot", "content": "Hi"}])
