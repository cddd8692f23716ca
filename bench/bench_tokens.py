"""Token counting throughput: shoal against tiktoken 0.14, side by side per corpus file.

Run with ``pytest bench/bench_tokens.py``. Each group is one corpus file and one encoding; in it
shoal's ``count`` and ``encode`` (Rust core) and tiktoken's ``encode_ordinary`` each tokenize the
whole file in one call on one thread. The ``all-cores`` groups tokenize the whole corpus as one
batch of documents of about 64 KB (cut at line ends): shoal's ``count_many`` against tiktoken's
``encode_ordinary_batch`` with one thread per core. ``extra_info["mb_per_s"]`` is UTF-8 input
megabytes (1e6 bytes) per second at the mean time. Neither side caches results between calls.
Ids (or counts, for batches) are checked equal before timing.
"""

from __future__ import annotations

import os
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


def _documents(corpus_dir: Path, size: int) -> list[str]:
    """The corpus files cut into documents of about ``size`` bytes at line ends."""
    documents: list[str] = []
    for name in CORPUS_FILES:
        current: list[str] = []
        current_bytes = 0
        for line in (corpus_dir / name).read_text(encoding="utf-8").splitlines(keepends=True):
            current.append(line)
            current_bytes += len(line.encode("utf-8"))
            if current_bytes >= size:
                documents.append("".join(current))
                current, current_bytes = [], 0
        if current:
            documents.append("".join(current))
    return documents


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


def _measure(benchmark: Any, group: str, size: int, work: Callable[[], object]) -> None:
    benchmark.group = group
    benchmark.extra_info["bytes"] = size
    benchmark.pedantic(work, rounds=5, warmup_rounds=1, iterations=1)
    benchmark.extra_info["mb_per_s"] = round(size / benchmark.stats.stats.mean / 1e6, 2)


ENGINES = ("shoal count", "shoal encode", "tiktoken encode_ordinary")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", CORPUS_FILES)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_one_thread(
    benchmark: Any, reference: dict[str, tiktoken.Encoding], encoding: str, name: str, engine: str
) -> None:
    text = (CORPUS_DIR / name).read_text(encoding="utf-8")
    expected = reference[encoding].encode_ordinary(text)
    assert _core.encode(encoding, text) == expected

    work = {
        "shoal count": lambda: _core.count(encoding, text),
        "shoal encode": lambda: _core.encode(encoding, text),
        "tiktoken encode_ordinary": lambda: reference[encoding].encode_ordinary(text),
    }[engine]
    _measure(benchmark, f"{encoding} {name}", len(text.encode("utf-8")), work)


@pytest.mark.parametrize("engine", ("shoal count_many", "tiktoken encode_ordinary_batch"))
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_all_cores(
    benchmark: Any, reference: dict[str, tiktoken.Encoding], encoding: str, engine: str
) -> None:
    documents = _documents(CORPUS_DIR, DOCUMENT_BYTES)
    expected = [len(ids) for ids in reference[encoding].encode_ordinary_batch(documents)]
    assert _core.count_many(encoding, documents) == expected

    tiktoken_encoding = reference[encoding]
    work = {
        "shoal count_many": lambda: _core.count_many(encoding, documents),
        "tiktoken encode_ordinary_batch": lambda: tiktoken_encoding.encode_ordinary_batch(
            documents, num_threads=CORES
        ),
    }[engine]
    size = sum(len(document.encode("utf-8")) for document in documents)
    _measure(benchmark, f"{encoding} all-cores ({CORES}) corpus documents", size, work)
