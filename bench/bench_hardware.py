"""Pareto sweep throughput: the Rust core against the pure-Python twin, side by side.

Run with ``pytest bench/bench_hardware.py``. The full sweep is every model with an architecture ×
every device × the devices as built plus every node with complete figures × every weight format
× ten context lengths, ported at iso-performance: more than a million configurations, estimated
and reduced to the Pareto front of decode tokens/s against joules per token in one Rust call.
The pure-Python twin runs a sample of the same sweep (three models); the Rust core runs the same
sample too, so the two sides compare on identical work. ``extra_info["configs_per_s"]`` is
configurations estimated per second at the mean time. Before timing, the sample's fronts from
both sides are checked identical.
"""

from __future__ import annotations

from typing import Any

import pytest

from shoal import _pure, hardware

_core = pytest.importorskip("shoal._core")

CONTEXTS = (512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 98304, 131072)
SAMPLE_MODELS = ("llama-3.2-1b-instruct", "llama-3.1-8b-instruct", "gpt-oss-20b")
MODE = "iso-performance"


def _complete(node: hardware.NodeProfile) -> bool:
    figures = (node.logic_density, node.sram_density, node.perf_iso_power, node.power_iso_perf)
    return None not in figures


def _sweep_keywords(model_ids: list[str]) -> dict[str, Any]:
    """The keyword arguments of ``pareto_sweep`` for a sweep, as ``pareto_front`` builds them
    for one call, with every weight at its format's bits (``pareto_front`` calls the core apart
    for the models that keep their always-read weights apart, gpt-oss in MXFP4)."""
    archs = [hardware.get_architecture(m) for m in model_ids]
    profiles = hardware.list_devices()
    quants = hardware.list_quantisations()
    nodes = [n for n in hardware.list_nodes() if _complete(n)]
    return {
        "models": [hardware.model_keywords(a) for a in archs],
        "devices": [hardware.pareto_device_keywords(p, pin_sram=True) for p in profiles],
        "formats": [
            {"bits_per_weight": q.bits_per_weight, "int8_kernels": float(q.int8_kernels)}
            for q in quants
        ],
        "context_tokens": [float(c) for c in CONTEXTS],
        "nodes": [None] + [hardware.node_keywords(n) for n in nodes],
        "mode": MODE,
    }


@pytest.fixture(scope="module")
def full() -> dict[str, Any]:
    return _sweep_keywords([a.id for a in hardware.list_architectures()])


@pytest.fixture(scope="module")
def sample() -> dict[str, Any]:
    keywords = _sweep_keywords(list(SAMPLE_MODELS))
    assert _core.pareto_sweep(**keywords) == _pure.pareto_sweep(**keywords)
    return keywords


def _record(benchmark: Any, result: dict[str, Any]) -> None:
    evaluated = result["evaluated"]
    benchmark.extra_info["configurations"] = evaluated
    benchmark.extra_info["fitting"] = result["fitting"]
    benchmark.extra_info["front_points"] = len(result["model_index"])
    benchmark.extra_info["configs_per_s"] = round(evaluated / benchmark.stats.stats.mean)


@pytest.mark.benchmark(group="pareto-sweep-full")
def test_rust_full_sweep(benchmark: Any, full: dict[str, Any]) -> None:
    result = benchmark.pedantic(_core.pareto_sweep, kwargs=full, rounds=3, warmup_rounds=1)
    assert result["evaluated"] >= 1_000_000
    _record(benchmark, result)


@pytest.mark.benchmark(group="pareto-sweep-sample")
def test_rust_sample(benchmark: Any, sample: dict[str, Any]) -> None:
    result = benchmark.pedantic(_core.pareto_sweep, kwargs=sample, rounds=5, warmup_rounds=1)
    _record(benchmark, result)


@pytest.mark.benchmark(group="pareto-sweep-sample")
def test_pure_python_sample(benchmark: Any, sample: dict[str, Any]) -> None:
    result = benchmark.pedantic(_pure.pareto_sweep, kwargs=sample, rounds=3, iterations=1)
    _record(benchmark, result)
