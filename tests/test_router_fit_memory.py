"""Fitting a router in bounded memory per exemplar, writing the same file as ever, and letting
it go once it is no longer used.

The fit reads each prompt's embedding up to three times (for the mean, for the int8 codes, as a
calibration query) rather than keeping a float vector per exemplar: 512 Python floats a prompt
took about 16 KB, and a fit of 200,000 labels peaked at 1.5 GB. The Rust path embeds the prompt
again each time; the pure path hashes it once and keeps its bucket sums as small ints.
"""

from __future__ import annotations

import gc
import hashlib
import importlib
import random
import tracemalloc
import weakref
from collections.abc import Callable
from typing import Any

import pytest

from shoal._backend import BACKEND
from shoal.router import fit_router, route

WORDS = (
    "solve write translate explain summarise debug the a of to for with equation function "
    "query list customer order poem essay proof sort graph memory cost price email French "
    "German integral derivative python rust sql table join index tree hash vector naïve café "
    "東京 données"
).split()
MODELS = ("model-a", "model-b", "model-c")

# sha256 of the file fitted in test_a_fitted_router_file_is_pinned_byte_for_byte (with its
# confidence map), as written when the fit held every float vector (both paths), with the two
# knots that carry the confidence map down to raw 0 (the file differs from that one in those
# knots and its content hash only), and with the exemplars in prompt order (the same rows, in
# another order: sorted, each list and array of the file equals the earlier file's).
PINNED_SHA256 = "301c1e6bc309171b0e3cf35098b9923f51bb5a559a095cf077d5d88da872b490"
# A dim-512 embedding held as a list of Python floats: a pointer and a float object per value.
FLOAT_VECTOR_BYTES = 512 * (8 + 24)


def labels(prompts: int, seed: int) -> list[dict[str, Any]]:
    """Every model scored on ``prompts`` distinct prompts of 3 to 60 words."""
    rng = random.Random(seed)
    rows = []
    for number in range(prompts):
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 60)))
        prompt = f"{number}. {words}?"
        rows += [{"prompt": prompt, "model": m, "score": rng.random()} for m in MODELS]
    return rows


def test_a_fitted_router_file_is_pinned_byte_for_byte() -> None:
    """The centre, codes and calibration queries are computed prompt by prompt; the file (dim
    512, calibrated: every model has over 100 labels) is byte for byte what a fit over every
    prompt's float vector at once wrote, on both paths."""
    router = fit_router(labels(130, seed=3), name="pinned", calibrate=True)

    assert all(router.calibration)
    digest = hashlib.sha256(router.to_json().encode("utf-8")).hexdigest()
    assert digest == PINNED_SHA256


def peak_bytes(call: Callable[[], object]) -> int:
    """The most memory Python held during ``call`` above what it held before (tracemalloc)."""
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        call()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        if not tracing:
            tracemalloc.stop()


def test_fit_holds_no_float_vector_per_exemplar() -> None:
    """Twice the exemplars may take more memory at the peak for what the router holds (codes,
    scores, previews) and its file's text, but less than a float embedding per exemplar."""
    # Calibrating predicts every exemplar from the others, which takes the pure path longer.
    # Both calibrations build the exemplar index, whose codes the pure path held as Python ints
    # (about 10 KB an exemplar) before it kept them as bytes.
    count = 500 if BACKEND == "rust" else 250
    fit_router(labels(20, seed=0))  # first use: imports and caches

    fewer = peak_bytes(lambda: fit_router(labels(count, seed=1)))
    more = peak_bytes(lambda: fit_router(labels(2 * count, seed=2)))

    # About 8.5 KB an exemplar now; a float embedding held per exemplar made it 24 KB.
    per_exemplar = (more - fewer) / count
    assert per_exemplar < 0.75 * FLOAT_VECTOR_BYTES, (
        f"{count:,} more exemplars raised the fit's peak by {per_exemplar:,.0f} bytes each; a "
        f"float embedding alone is {FLOAT_VECTOR_BYTES:,}"
    )



@pytest.mark.skipif(BACKEND != "python", reason="the Rust path embeds again, quickly")
def test_the_pure_fit_hashes_each_prompt_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hashing is most of a pure-Python embedding's time: one fit, calibrations included, hashes
    each prompt once (it hashed it for the mean, again for the code and again as a query)."""
    pure_embed = importlib.import_module("shoal._pure.embed")
    split_words = pure_embed._split_words
    hashed: list[str] = []

    def hashing(text: str) -> list[str]:
        hashed.append(text)
        return split_words(text)

    monkeypatch.setattr(pure_embed, "_split_words", hashing)
    rows = labels(110, seed=5)  # over 100 labels a model: the quality calibration runs
    router = fit_router(rows)

    assert all(router.calibration)
    assert sorted(hashed) == sorted({row["prompt"] for row in rows})


def test_routing_lets_go_of_a_router_used_nowhere_else() -> None:
    """Routing caches what it derives from a router (candidate tables, prior anchors, default
    pools, abilities from priors) but not the router: a cross-validation fits one per fold, each
    the size of its training data, and holding them all made its memory grow with the folds."""
    router = fit_router(labels(30, seed=4), dim=64, k=5, calibrate=False)
    decision = route("Solve 2x + 3 = 7 for x.", router=router)
    assert decision.model
    gone = weakref.ref(router)

    del router, decision
    gc.collect()

    assert gone() is None
