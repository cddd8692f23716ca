"""Token counting speed: shoal against tiktoken, gigatoken, HF tokenizers and bpe-openai.

Run ``pytest bench/bench_tokens.py --benchmark-json=tokens.json`` and then
``python bench/bench_tokens.py tokens.json`` for the markdown tables in the README.

Groups (all in one run, side by side):

- ``one-thread <encoding> <file>``: each engine tokenizes one whole corpus file in one call on one
  thread. shoal and gigatoken keep caches of merged pieces across calls, so each is timed warm
  (the same text again, the figure a long-running agent sees) and cold (shoal: each round on a
  fresh thread, whose piece cache is empty, thread start included; gigatoken: a fresh tokenizer
  each round, built outside the timing). tiktoken, tokenizers and bpe-openai keep no such cache.
- ``worst <encoding> <input>``: 1 MB and 10 MB of one repeated character, minified JSON, base64
  and separator-free CJK; shoal ``count`` (tiktoken at 1 MB for scale).
- ``all-cores <encoding>``: the corpus cut into documents of about 64 KB; shoal ``count_many``
  against shoal ``count`` in a loop on one thread, and tiktoken's batch API on every core.
- ``per-call``: one 20-character string.
- ``tekken <file>``: Mistral's ``tekken_240718`` on one thread, shoal's warm count and encode
  against mistral-common's ``Tekkenizer.encode`` (ids checked equal before timing).

``extra_info`` holds ``bytes``, ``mb_per_s`` (UTF-8 megabytes of 1e6 bytes per second at the mean
time of the rounds: 5 per file, 7 for all cores), ``ms_per_mb`` for the worst cases (the mean of
3 rounds for shoal, 2 for tiktoken), ``ns_per_call`` for the per-call group (the fastest round,
each round averaging many calls) and ``ids_exact`` (ids equal to tiktoken's on that input,
checked before timing). Other engines' throughput is reported even when their ids differ, marked
as such.
"""

from __future__ import annotations

import base64
import json
import os
import random
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tiktoken
import tiktoken.load
import tiktoken_ext.openai_public as openai_public

from shoal import _core, tokens

ENCODINGS = ("cl100k_base", "o200k_base")
VOCABULARY_DIR = Path(tokens.__file__).parent / "data" / "vocab"
CORPUS_DIR = Path(__file__).resolve().parent.parent / "tests" / "data" / "corpus"
CORPUS_FILES = sorted(path.name for path in CORPUS_DIR.glob("*.txt"))
CORES = os.cpu_count() or 1
DOCUMENT_BYTES = 64_000
SHORT_TEXT = "Hello, how are you??"


# ---- engines ----


@pytest.fixture(scope="module")
def reference() -> dict[str, tiktoken.Encoding]:
    """tiktoken encodings built offline from shoal's shipped vocabulary files."""
    real_loader = tiktoken.load.load_tiktoken_bpe

    def local_ranks(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        return real_loader(str(VOCABULARY_DIR / url.rsplit("/", 1)[-1]), expected_hash)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TIKTOKEN_CACHE_DIR", "")
        patch.setattr(openai_public, "load_tiktoken_bpe", local_ranks)
        return {name: tiktoken.Encoding(**getattr(openai_public, name)()) for name in ENCODINGS}


def _gigatoken(encoding: str) -> Any:
    gigatoken = pytest.importorskip("gigatoken")
    return gigatoken.Tokenizer.from_tiktoken(str(VOCABULARY_DIR / f"{encoding}.tiktoken"))


_HF_CACHE: dict[str, Any] = {}


def _hf_tokenizer(encoding: str, reference: tiktoken.Encoding) -> Any:
    """An HF ``tokenizers`` byte-level BPE built from the rank file: every split of a token into
    two tokens becomes a merge with the token's rank, the pattern is tiktoken's own."""
    if encoding in _HF_CACHE:
        return _HF_CACHE[encoding]
    tokenizers = pytest.importorskip("tokenizers")
    ranks = tiktoken.load.load_tiktoken_bpe(str(VOCABULARY_DIR / f"{encoding}.tiktoken"))
    byte_chars = _bytes_to_unicode()

    def spelled(token: bytes) -> str:
        return "".join(byte_chars[byte] for byte in token)

    merges = []
    for token, rank in ranks.items():
        for cut in range(1, len(token)):
            left, right = token[:cut], token[cut:]
            if left in ranks and right in ranks and max(ranks[left], ranks[right]) < rank:
                merges.append((rank, spelled(left), spelled(right)))
    merges.sort()
    model = tokenizers.models.BPE(
        {spelled(token): rank for token, rank in ranks.items()},
        [(left, right) for _, left, right in merges],
    )
    hf = tokenizers.Tokenizer(model)
    split = tokenizers.pre_tokenizers.Split(
        tokenizers.Regex(reference._pat_str), behavior="isolated"
    )
    byte_level = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    hf.pre_tokenizer = tokenizers.pre_tokenizers.Sequence([split, byte_level])
    _HF_CACHE[encoding] = hf
    return hf


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's printable stand-in character for every byte (HF byte-level BPE spells tokens so)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    characters = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            characters.append(256 + extra)
            extra += 1
    return {byte: chr(code) for byte, code in zip(printable, characters, strict=True)}


def _bpe_openai(encoding: str) -> Any:
    bpe_openai = pytest.importorskip("bpe_openai")
    return bpe_openai.get_encoding(encoding)


def _in_fresh_thread(work: Callable[[], object]) -> Callable[[], None]:
    """``work`` run on a new thread: shoal's per-thread piece cache starts empty."""

    def run() -> None:
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()

    return run


def _measure(
    benchmark: Any,
    group: str,
    size: int,
    work: Callable[[], object],
    exact: bool,
    rounds: int = 5,
    setup: Callable[[], object] | None = None,
) -> None:
    benchmark.group = group
    benchmark.extra_info["bytes"] = size
    benchmark.extra_info["ids_exact"] = exact
    if setup is None:
        benchmark.pedantic(work, rounds=rounds, warmup_rounds=1, iterations=1)
    else:
        benchmark.pedantic(
            lambda _: work(), setup=lambda: ((setup(),), {}), rounds=rounds, iterations=1
        )
    benchmark.extra_info["mb_per_s"] = round(size / benchmark.stats.stats.mean / 1e6, 2)


# ---- one thread, per corpus file ----

ONE_THREAD = (
    "shoal count",
    "shoal count cold",
    "shoal encode",
    "tiktoken encode_ordinary",
    "gigatoken encode",
    "gigatoken encode cold",
    "tokenizers encode",
    "bpe-openai encode_ordinary",
)


@pytest.mark.parametrize("engine", ONE_THREAD)
@pytest.mark.parametrize("name", CORPUS_FILES)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_one_thread(
    benchmark: Any, reference: dict[str, tiktoken.Encoding], encoding: str, name: str, engine: str
) -> None:
    text = (CORPUS_DIR / name).read_text(encoding="utf-8")
    expected = reference[encoding].encode_ordinary(text)
    assert _core.encode(encoding, text) == expected
    assert _core.count(encoding, text) == len(expected)
    group = f"one-thread {encoding} {name}"
    size = len(text.encode("utf-8"))

    if engine.startswith("shoal"):
        work = {
            "shoal count": lambda: _core.count(encoding, text),
            "shoal count cold": _in_fresh_thread(lambda: _core.count(encoding, text)),
            "shoal encode": lambda: _core.encode(encoding, text),
        }[engine]
        _measure(benchmark, group, size, work, exact=True)
    elif engine == "tiktoken encode_ordinary":
        _measure(benchmark, group, size, lambda: reference[encoding].encode_ordinary(text), True)
    elif engine.startswith("gigatoken"):
        giga = _gigatoken(encoding)
        exact = giga.encode(text).tolist() == expected
        if engine == "gigatoken encode":
            _measure(benchmark, group, size, lambda: giga.encode(text), exact)
        else:
            fresh: list[Any] = []
            _measure(
                benchmark, group, size, lambda: fresh[-1].encode(text), exact,
                setup=lambda: fresh.append(_gigatoken(encoding)),
            )
    elif engine == "tokenizers encode":
        hf = _hf_tokenizer(encoding, reference[encoding])
        exact = hf.encode(text, add_special_tokens=False).ids == expected
        _measure(benchmark, group, size, lambda: hf.encode(text, add_special_tokens=False), exact)
    else:
        bpe = _bpe_openai(encoding)
        try:
            exact = bpe.encode_ordinary(text) == expected
        except ValueError as refused:  # it declines long inputs
            pytest.skip(f"bpe-openai refused the input: {refused}")
        _measure(benchmark, group, size, lambda: bpe.encode_ordinary(text), exact)


# ---- worst cases ----


def _minified_json(size: int, seed: int = 7) -> str:
    generator = random.Random(seed)
    items: list[str] = []
    length = 0
    while length < size:
        item = {
            "id": generator.randrange(10**9),
            "name": "".join(generator.choice("abcdefghij") for _ in range(8)),
            "tags": ["x", "yy", "zzz"],
            "score": generator.random(),
        }
        items.append(json.dumps(item, separators=(",", ":")))
        length += len(items[-1]) + 1
    return ("[" + ",".join(items) + "]")[:size]


def _base64(size: int, seed: int = 7) -> str:
    return base64.b64encode(random.Random(seed).randbytes(size * 3 // 4 + 3)).decode()[:size]


def _cjk_run(size: int, seed: int = 7) -> str:
    generator = random.Random(seed)
    return "".join(chr(generator.randrange(0x4E00, 0x9FFF)) for _ in range(size // 3))


WORST_CASES: dict[str, Callable[[int], str]] = {
    **{
        name: (lambda size, unit=unit: unit * (size // len(unit.encode("utf-8"))))
        for name, unit in (
            ("letter a", "a"), ("space", " "), ("tab", "\t"), ("nbsp", "\u00a0"), ("dash", "-"),
        )
    },
    "minified json": _minified_json,
    "base64": _base64,
    "cjk without separators": _cjk_run,
}
MEGABYTES = (1, 10)


@pytest.mark.parametrize("megabytes", MEGABYTES)
@pytest.mark.parametrize("case", WORST_CASES)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_worst_case_shoal(benchmark: Any, encoding: str, case: str, megabytes: int) -> None:
    text = WORST_CASES[case](megabytes * 1_000_000)
    _core.count(encoding, text[:100_000])  # build the encoding and any lazy tables first
    size = len(text.encode("utf-8"))
    _measure(
        benchmark, f"worst {encoding} {case}", size,
        _in_fresh_thread(lambda: _core.count(encoding, text)), exact=True, rounds=3,
    )
    benchmark.extra_info["ms_per_mb"] = round(benchmark.stats.stats.mean * 1e9 / size, 2)


@pytest.mark.parametrize("case", WORST_CASES)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_worst_case_tiktoken(
    benchmark: Any, reference: dict[str, tiktoken.Encoding], encoding: str, case: str
) -> None:
    text = WORST_CASES[case](1_000_000)
    try:
        expected = reference[encoding].encode_ordinary(text)
    except BaseException as error:  # tiktoken raises PanicException, a BaseException
        if type(error).__name__ != "PanicException":
            raise
        pytest.skip("tiktoken panicked")
    assert _core.count(encoding, text) == len(expected)
    size = len(text.encode("utf-8"))
    _measure(
        benchmark, f"worst {encoding} {case}", size,
        lambda: reference[encoding].encode_ordinary(text), exact=True, rounds=2,
    )
    benchmark.extra_info["ms_per_mb"] = round(benchmark.stats.stats.mean * 1e9 / size, 2)


# ---- all cores ----


def _documents(size: int) -> list[str]:
    """The corpus files cut into documents of about ``size`` bytes at line ends."""
    documents: list[str] = []
    for name in CORPUS_FILES:
        current: list[str] = []
        current_bytes = 0
        for line in (CORPUS_DIR / name).read_text(encoding="utf-8").splitlines(keepends=True):
            current.append(line)
            current_bytes += len(line.encode("utf-8"))
            if current_bytes >= size:
                documents.append("".join(current))
                current, current_bytes = [], 0
        if current:
            documents.append("".join(current))
    return documents


ALL_CORES = ("shoal count_many", "shoal count one thread", "tiktoken encode_ordinary_batch")


@pytest.mark.parametrize("engine", ALL_CORES)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_all_cores(
    benchmark: Any, reference: dict[str, tiktoken.Encoding], encoding: str, engine: str
) -> None:
    documents = _documents(DOCUMENT_BYTES)
    expected = [len(ids) for ids in reference[encoding].encode_ordinary_batch(documents)]
    assert _core.count_many(encoding, documents) == expected

    tiktoken_encoding = reference[encoding]
    work = {
        "shoal count_many": lambda: _core.count_many(encoding, documents),
        "shoal count one thread": lambda: [_core.count(encoding, text) for text in documents],
        "tiktoken encode_ordinary_batch": lambda: tiktoken_encoding.encode_ordinary_batch(
            documents, num_threads=CORES
        ),
    }[engine]
    size = sum(len(document.encode("utf-8")) for document in documents)
    _measure(benchmark, f"all-cores {encoding} ({CORES} cores)", size, work, True, rounds=7)


# ---- per call ----

PER_CALL = ("shoal count", "shoal encode", "tiktoken encode_ordinary", "gigatoken encode")


@pytest.mark.parametrize("engine", PER_CALL)
def test_per_call(benchmark: Any, reference: dict[str, tiktoken.Encoding], engine: str) -> None:
    expected = reference["o200k_base"].encode_ordinary(SHORT_TEXT)
    if engine == "gigatoken encode":
        giga = _gigatoken("o200k_base")

        def work() -> object:
            return giga.encode(SHORT_TEXT)

    else:
        work = {  # type: ignore[assignment]
            "shoal count": lambda: _core.count("o200k_base", SHORT_TEXT),
            "shoal encode": lambda: _core.encode("o200k_base", SHORT_TEXT),
            "tiktoken encode_ordinary": lambda: reference["o200k_base"].encode_ordinary(
                SHORT_TEXT
            ),
        }[engine]
    assert _core.encode("o200k_base", SHORT_TEXT) == expected
    benchmark.group = "per-call o200k_base 20 characters"
    benchmark(work)
    benchmark.extra_info["ns_per_call"] = round(benchmark.stats.stats.min * 1e9)


# ---- Tekken ----

TEKKEN = ("shoal count", "shoal encode", "mistral-common encode")


@pytest.mark.parametrize("engine", TEKKEN)
@pytest.mark.parametrize("name", CORPUS_FILES)
def test_tekken(benchmark: Any, name: str, engine: str) -> None:
    mistral = pytest.importorskip("mistral_common.tokens.tokenizers.mistral")
    tekkenizer = mistral.MistralTokenizer.v3(is_tekken=True).instruct_tokenizer.tokenizer
    text = (CORPUS_DIR / name).read_text(encoding="utf-8")
    expected = tekkenizer.encode(text, bos=False, eos=False)
    assert _core.encode("tekken_240718", text) == expected

    work = {
        "shoal count": lambda: _core.count("tekken_240718", text),
        "shoal encode": lambda: _core.encode("tekken_240718", text),
        "mistral-common encode": lambda: tekkenizer.encode(text, bos=False, eos=False),
    }[engine]
    _measure(benchmark, f"tekken {name}", len(text.encode("utf-8")), work, exact=True)


# ---- README tables from a --benchmark-json file ----


def _table(header: list[str], columns: list[str], rows: dict[str, dict[str, str]]) -> list[str]:
    """One markdown table: each row's key fills the cells of ``header`` before ``columns``, then a
    cell per column. No lines at all when there are no rows, as after a run of some groups only."""
    if not rows:
        return []
    lines = ["| " + " | ".join([*header, *columns]) + " |",
             "|---" * (len(header) + len(columns)) + "|"]
    for key, row in rows.items():
        lines.append(f"| {key} | " + " | ".join(row.get(column, "-") for column in columns) + " |")
    return lines


def _tables(results: dict[str, Any]) -> str:
    """Markdown tables of one run: throughput per corpus file, worst cases, batch, per call;
    sections the run has no results for are left out."""
    one_thread: dict[str, dict[str, str]] = {}
    tekken: dict[str, dict[str, str]] = {}
    worst: dict[str, dict[str, str]] = {}
    other: dict[str, dict[str, str]] = {}
    for bench in results["benchmarks"]:
        info, params = bench["extra_info"], bench["params"]
        test = bench["name"].split("[")[0]
        if test == "test_one_thread":
            row = one_thread.setdefault(f"{params['encoding']} {params['name']}", {})
            marker = "" if info["ids_exact"] else " (ids differ)"
            row[params["engine"]] = f"{info['mb_per_s']:,.0f}{marker}"
        elif test == "test_tekken":
            tekken.setdefault(params["name"], {})[params["engine"]] = f"{info['mb_per_s']:,.0f}"
        elif test.startswith("test_worst_case"):
            row = worst.setdefault(f"{params['encoding']} {params['case']}", {})
            column = f"shoal {params['megabytes']} MB" if "megabytes" in params else "tiktoken 1 MB"
            row[column] = f"{info['ms_per_mb']:,.1f}"
        elif test == "test_all_cores":
            figure = f"{info['mb_per_s']:,.0f} MB/s"
            other[f"{bench['group']} | {params['engine']}"] = {"figure": figure}
        else:
            figure = f"{info['ns_per_call']:,} ns"
            other[f"{bench['group']} | {params['engine']}"] = {"figure": figure}

    engines = [engine for engine in ONE_THREAD if any(engine in row for row in one_thread.values())]
    sections = [
        _table(["encoding, file"], engines, one_thread),
        _table(["encoding, input (ms per MB)"], ["shoal 1 MB", "shoal 10 MB", "tiktoken 1 MB"],
               worst),
        _table(["group", "engine"], ["figure"], other),
        _table(["tekken_240718, file"], list(TEKKEN), tekken),
    ]
    return "\n\n".join("\n".join(lines) for lines in sections if lines)


if __name__ == "__main__":
    tables = _tables(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")))
    if not tables:
        sys.exit(f"{sys.argv[1]}: no results of bench/bench_tokens.py to tabulate")
    print(tables)
