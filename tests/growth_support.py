"""Check that work grows in step with its input, for the tests that guard against a quadratic or
backtracking blowup.

A limit in seconds fails on a busy machine and lets a slow algorithm through on a fast one. Here
the same work is timed on a tenth of its input and on all of it, moments apart in one process, so
the machine's speed cancels out. The time is the CPU time of this process (every thread), which
waiting for a CPU on a loaded machine does not add to.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import TypeVar, cast

Input = TypeVar("Input", bound=Sequence[object])
Result = TypeVar("Result")

# The whole input is this many times each part timed against it.
GROWTH = 10
# Linear work on the whole takes about GROWTH times as long as on a part, somewhat more when the
# whole outgrows a cache; quadratic work takes GROWTH**2 = 100 times as long.
MOST_SLOWDOWN = 3 * GROWTH
# Parts timed; the fastest counts, so one burst of noise cannot make a part look slow.
PARTS = 3
# Below this much CPU time on the whole input the ratio is timer and cache noise, and no blowup
# is that fast: the inputs here are sized so that a quadratic one would take seconds.
NOISE_FLOOR_S = 0.02


def cpu_seconds(call: Callable[[], Result]) -> tuple[Result, float]:
    """The call's result and the CPU time (this process, every thread) it took."""
    started = time.process_time()
    result = call()
    return result, time.process_time() - started


async def cpu_seconds_awaiting(call: Awaitable[Result]) -> tuple[Result, float]:
    """The awaited call's result and the CPU time (this process, every thread) it took, for an
    in-memory client and server that share this process and nothing else running in it."""
    started = time.process_time()
    result = await call
    return result, time.process_time() - started


def assert_growth_in_step(part_s: float, whole_s: float, what: str) -> None:
    """Fail unless work on an input GROWTH times larger took under MOST_SLOWDOWN times as long."""
    if whole_s < NOISE_FLOOR_S:
        return
    assert whole_s < MOST_SLOWDOWN * part_s, (
        f"{what}: {GROWTH}x the input took {whole_s / max(part_s, 1e-9):.0f}x the time "
        f"({part_s * 1000:.1f} ms, then {whole_s * 1000:.1f} ms); linear work takes about "
        f"{GROWTH}x, quadratic {GROWTH**2}x"
    )


def grows_in_step(work: Callable[[Input], Result], whole: Input, what: str) -> Result:
    """Run `work` on PARTS different tenths of `whole`, then on `whole`, and fail unless the whole
    took under MOST_SLOWDOWN times the fastest part. Returns the result on `whole`.

    Each part is a different slice, so a cache that the work fills (the tokenizer's piece cache)
    does not make a repeated part look faster than it is. A whole that took up to twice the
    bound is timed once more before the test fails, so that one burst of noise is no failure.
    """
    size = len(whole) // GROWTH
    parts = [cast(Input, whole[index * size : (index + 1) * size]) for index in range(PARTS)]
    part_s = min(cpu_seconds(partial(work, part))[1] for part in parts)
    result, whole_s = cpu_seconds(lambda: work(whole))
    if NOISE_FLOOR_S <= whole_s and MOST_SLOWDOWN * part_s <= whole_s < 2 * MOST_SLOWDOWN * part_s:
        whole_s = min(whole_s, cpu_seconds(lambda: work(whole))[1])
    assert_growth_in_step(part_s, whole_s, what)
    return result
