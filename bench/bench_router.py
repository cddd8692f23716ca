"""Routing speed: one decision in-process, the neighbour search alone, and embedding throughput.

Run with ``pytest bench/bench_router.py``. Groups:

* ``decision``: :func:`shoal.route` on one prompt with the shipped router (5,608 exemplars, every
  routable catalog model as a candidate), warm; and the same with a router of 50,000 exemplars
  (the shipped ones repeated: the search cost depends on the count, not on the content).
* ``neighbours``: embedding plus the top-k search only, for both sizes.
* ``estimate``: every candidate's quality for one decision (the shipped router's 9 labelled
  models plus the catalog's 26 prior-only ones) in one ``NeighbourEstimator`` call, Rust core
  against its pure-Python twin.
* ``embedding``: shoal's hashed embedding (Rust core, 512 buckets) against WordLlama 0.4
  (``l2_supercat``, 256 dimensions, the weights in its wheel) on the same 500 LLMRouter test
  prompts in one batch; ``extra_info`` has prompts/s and MB/s of UTF-8 input at the mean time.

Targets: a decision within 1 ms (median) with the shipped router and 3 ms with 50,000 exemplars.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest

from shoal import _pure, route
from shoal._backend import core
from shoal.router import load_router
from shoal.router_model import Router

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "llmrouter"
PROMPT = "Write a Python function that checks whether a string is a palindrome."
LARGE = 50_000


def _repeated(router: Router, count: int) -> Router:
    """A router whose exemplars are the given router's, repeated up to ``count``."""
    size = len(router)
    picks = [i % size for i in range(count)]
    width = router.dim
    vectors = b"".join(router.vectors_int8[i * width : (i + 1) * width] for i in picks)
    fields = {f.name: getattr(router, f.name) for f in dataclasses.fields(router) if f.init}
    fields.update(
        name=f"{router.name}-x{count}", content_hash="", vectors_int8=vectors,
        difficulties=tuple(router.difficulties[i] for i in picks),
        scores=tuple(router.scores[i] for i in picks),
        previews=tuple(router.previews[i] for i in picks),
    )
    return Router(**fields)


@pytest.fixture(scope="module")
def routers() -> dict[str, Router]:
    shipped = load_router()
    return {"shipped": shipped, "large": _repeated(shipped, LARGE)}


@pytest.fixture(scope="module")
def prompts() -> list[str]:
    items = json.loads((DATA / "test.json").read_text(encoding="utf-8"))
    return [item["question"] for item in items]


@pytest.mark.benchmark(group="decision")
@pytest.mark.parametrize("size", ["shipped", "large"])
def test_decision(benchmark: Any, routers: dict[str, Router], size: str) -> None:
    router = routers[size]
    route(PROMPT, router=router)  # warm: index built, catalog loaded

    decision = benchmark(route, PROMPT, router=router)

    benchmark.extra_info["exemplars"] = len(router)
    benchmark.extra_info["candidates"] = len(decision.alternatives)


@pytest.mark.benchmark(group="neighbours")
@pytest.mark.parametrize("size", ["shipped", "large"])
def test_neighbours(benchmark: Any, routers: dict[str, Router], size: str) -> None:
    router = routers[size]
    router.neighbours(PROMPT)

    found = benchmark(router.neighbours, PROMPT)

    assert len(found) == router.k
    benchmark.extra_info["exemplars"] = len(router)


@pytest.mark.benchmark(group="estimate")
@pytest.mark.parametrize("backend", ["rust", "pure"])
def test_estimate(benchmark: Any, routers: dict[str, Router], backend: str) -> None:
    router = routers["shipped"]
    module = pytest.importorskip("shoal._core") if backend == "rust" else _pure
    estimator = module.NeighbourEstimator(
        router.scores, router.difficulties, router.abilities, router.mean_scores,
        router.calibration, similarity_power=router.similarity_power, shrinkage=router.shrinkage,
    )
    pairs = [(n.index, n.similarity) for n in router.neighbours(PROMPT)]
    abilities = [-1.0 + i / 13 for i in range(26)]
    means = [router.expected_mean_score(a) for a in abilities]

    estimates = benchmark(estimator.estimate, pairs, abilities, means)

    assert len(estimates) == len(router.models) + len(abilities)


def _throughput(benchmark: Any, texts: list[str]) -> None:
    size = sum(len(text.encode("utf-8")) for text in texts)
    mean = benchmark.stats.stats.mean
    benchmark.extra_info["prompts_per_s"] = round(len(texts) / mean)
    benchmark.extra_info["mb_per_s"] = round(size / mean / 1e6, 2)


@pytest.mark.benchmark(group="embedding")
def test_embedding_shoal(benchmark: Any, prompts: list[str]) -> None:
    vectors = benchmark(core.embed, prompts, dim=512)

    assert len(vectors) == len(prompts)
    _throughput(benchmark, prompts)


@pytest.mark.benchmark(group="embedding")
def test_embedding_wordllama(benchmark: Any, prompts: list[str]) -> None:
    wordllama = pytest.importorskip("wordllama")
    package = Path(wordllama.__file__).parent
    with tempfile.TemporaryDirectory() as cache:
        # WordLlama 0.4 ships its tokenizer under tokenizers/ but looks for it under tokenizer/
        # before the cache, so point the cache at the shipped file and never download.
        (Path(cache) / "tokenizers").mkdir()
        name = "l2_supercat_tokenizer_config.json"
        (Path(cache) / "tokenizers" / name).symlink_to(package / "tokenizers" / name)
        model = wordllama.WordLlama.load(cache_dir=Path(cache), disable_download=True)

    vectors = benchmark(model.embed, prompts)

    assert vectors.shape[0] == len(prompts)
    _throughput(benchmark, prompts)
