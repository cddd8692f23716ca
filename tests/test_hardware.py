"""Hardware fit, decode/prefill/energy estimates, node porting, Pareto sweeps and validation."""

from __future__ import annotations

import json
import logging
import math
import random
import re
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from shoal import _pure, hardware, hardware_calibration

_core = pytest.importorskip("shoal._core")

BACKENDS = [pytest.param(_core, id="rust"), pytest.param(_pure, id="python")]

DEVICE_KW = {
    "memory_gb": 24.0,
    "usable_fraction": 0.75,
    "bandwidth_gbs": 273.0,
    "tflops": 9.2,
    "power_w": 50.0,
    "dram_pj_per_bit": 5.0,
    "runtime_overhead_gb": 0.3,
    "decode_efficiency": 0.9,
    "decode_efficiency_low": 0.7,
    "decode_efficiency_high": 1.1,
    "overhead_ms": 3.5,
    "overhead_ms_low": 2.0,
    "overhead_ms_high": 5.0,
    "prefill_efficiency": 0.7,
    "prefill_efficiency_low": 0.5,
    "prefill_efficiency_high": 0.9,
    "power_fraction": 0.8,
}
LLAMA_8B_KW = {
    "params_b": 8.03,
    "active_params_b": 8.03,
    "layers": 32,
    "attention_heads": 32,
    "kv_heads": 8,
    "head_dim": 128,
}


@pytest.fixture(autouse=True)
def _fresh_tables():
    hardware.reset_tables()
    yield
    hardware.reset_tables()


def _random_case(rng: random.Random) -> dict[str, float]:
    params = rng.uniform(0.5, 700.0)
    layers = rng.randint(8, 128)
    window_layers = rng.choice([0, rng.randint(1, layers)])
    low, high = sorted(rng.uniform(0.1, 1.2) for _ in range(2))
    overhead_low, overhead_high = sorted(rng.uniform(0.0, 8.0) for _ in range(2))
    prefill_low, prefill_high = sorted(rng.uniform(0.02, 0.9) for _ in range(2))
    active = params * rng.choice([1.0, rng.uniform(0.02, 1.0)])
    sram = rng.choice([0.0, rng.uniform(0.01, 4.0)])
    return {
        "params_b": params,
        "active_params_b": active,
        "dense_params_b": active * rng.choice([0.0, rng.uniform(0.0, 1.0)]),
        "layers": layers,
        "attention_heads": rng.choice([8, 16, 32, 64, 128]),
        "kv_heads": rng.choice([1, 2, 4, 8, 16]),
        "head_dim": rng.choice([64, 128, 256, 288]),
        "sliding_window": rng.choice([128, 512, 1024, 4096]) if window_layers else 0,
        "sliding_window_layers": window_layers,
        "bits_per_weight": rng.choice([4.34, 4.55, 4.89, 5.69, 6.57, 8.5, 16.0]),
        "kv_bits": rng.choice([4.5, 8.5, 16.0]),
        "context_tokens": rng.choice([1, 128, 4096, 32768, 131072]),
        "batch": rng.choice([1, 2, 8, 64, 512]),
        "weight_overhead_fraction": rng.uniform(0.0, 0.2),
        "memory_gb": rng.uniform(4.0, 512.0),
        "usable_fraction": rng.uniform(0.4, 1.0),
        "bandwidth_gbs": rng.uniform(50.0, 8000.0),
        "tflops": rng.uniform(1.0, 4500.0),
        "power_w": rng.uniform(5.0, 1000.0),
        "dram_pj_per_bit": rng.uniform(0.0, 10.0),
        "runtime_overhead_gb": rng.uniform(0.0, 2.0),
        "sram_gb": sram,
        "sram_bandwidth_gbs": rng.uniform(100.0, 40000.0) if sram else 0.0,
        "sram_pj_per_bit": rng.uniform(0.0, 1.0),
        # A ported device's: its compute peak over its design's as built.
        "performance_ratio": rng.choice([1.0, rng.uniform(0.2, 5.0)]),
        "decode_efficiency": (low + high) / 2,
        "decode_efficiency_low": low,
        "decode_efficiency_high": high,
        "overhead_ms": (overhead_low + overhead_high) / 2,
        "overhead_ms_low": overhead_low,
        "overhead_ms_high": overhead_high,
        "prefill_efficiency": (prefill_low + prefill_high) / 2,
        "prefill_efficiency_low": prefill_low,
        "prefill_efficiency_high": prefill_high,
        "power_fraction": rng.uniform(0.1, 1.0),
    }


# --- Rust and pure Python agree exactly ------------------------------------------------------


def test_estimate_parity_is_exact_on_random_cases():
    rng = random.Random(20261204)
    for _ in range(300):
        case = _random_case(rng)
        case["dense_bits_per_weight"] = rng.choice([None, 8.5, 9.2, 16.0])
        assert _core.estimate_inference(**case) == _pure.estimate_inference(**case), case


def test_power_shown_is_the_energy_shown_at_the_rate_shown():
    # SRAM's saving and the floor of the bytes' own energy both lower or raise J/token; the
    # watts shown must follow, or J/token x tokens/s disagrees with them.
    rng = random.Random(20261205)
    sram_cases = 0
    for _ in range(300):
        case = _random_case(rng)
        sram_cases += case["sram_gb"] > 0
        for estimate in (_core.estimate_inference(**case), _pure.estimate_inference(**case)):
            drawn_w = estimate["joules_per_token"] * estimate["decode_batch_tokens_per_s"]
            assert estimate["average_power_w"] == pytest.approx(drawn_w, rel=1e-12), case
    assert sram_cases > 100


def test_sweep_parity_is_exact_and_matches_single_estimates():
    rng = random.Random(7)
    cases = [_random_case(rng) for _ in range(4)]
    models = [{k: c[k] for k in _pure.hardware.MODEL_FIELDS} for c in cases]
    devices = [{k: c[k] for k in _pure.hardware.DEVICE_FIELDS} for c in cases[:3]]
    kwargs = {
        "models": models,
        "devices": devices,
        "bits_per_weight": [4.89, 8.5],
        "context_tokens": [512, 32768],
        "kv_bits": 8.5,
        "batch": 4,
    }
    rust, python = _core.sweep_inference(**kwargs), _pure.sweep_inference(**kwargs)
    assert rust == python
    assert len(rust["decode_tokens_per_s"]) == 4 * 3 * 2 * 2

    # Row 15 = ((model 1 x 3 devices + device 0) x 2 + bits 1) x 2 + context 1.
    assert (rust["model_index"][15], rust["device_index"][15]) == (1, 0)
    assert (rust["bits_index"][15], rust["context_index"][15]) == (1, 1)
    single = _core.estimate_inference(
        **models[1],
        **devices[0],
        bits_per_weight=8.5,
        context_tokens=32768,
        kv_bits=8.5,
        batch=4,
    )
    assert rust["decode_tokens_per_s"][15] == single["decode_tokens_per_s"]
    assert rust["joules_per_token"][15] == single["joules_per_token"]


def test_scale_chip_parity_is_exact():
    rng = random.Random(3)
    for _ in range(200):
        figures = {
            f"{side}_{name}": rng.uniform(0.05, 8.0)
            for side in ("from", "to")
            for name in ("logic_density", "sram_density", "perf_iso_power", "power_iso_perf")
        }
        for mode in ("iso-power", "iso-performance", "iso-area"):
            fraction = rng.uniform(0.0, 0.9)
            assert _core.scale_chip(
                mode=mode, sram_area_fraction=fraction, **figures
            ) == _pure.scale_chip(mode=mode, sram_area_fraction=fraction, **figures)


def test_public_results_are_identical_on_both_backends(monkeypatch):
    rust = hardware.hardware_fit("gemma-3-27b-it", "rtx-5090", context_tokens=32768)
    monkeypatch.setattr(hardware, "core", _pure)
    python = hardware.hardware_fit("gemma-3-27b-it", "rtx-5090", context_tokens=32768)
    assert asdict(rust) == asdict(python)


# --- Hand-checked arithmetic ----------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_llama_8b_q4_k_m_on_an_m4_pro_class_device_by_hand(backend):
    result = backend.estimate_inference(
        **LLAMA_8B_KW, bits_per_weight=4.89, context_tokens=4096, **DEVICE_KW
    )

    # Weights 8.03e9 x 4.89 / 8 bytes; KV 2 x 32 layers x 8 heads x 128 x 4096 tokens x 2 bytes.
    assert result["weights_gb"] == pytest.approx(4.9083375, rel=1e-12)
    assert result["kv_cache_gb"] == pytest.approx(0.536870912, rel=1e-12)
    # 4.89 bits is a whole-file figure (higher-precision tensors included): nothing is added.
    assert result["memory_needed_gb"] == pytest.approx(4.9083375 + 0.536870912 + 0.3)
    assert result["memory_available_gb"] == pytest.approx(18.0)
    assert result["fits"] is True

    # Step = 5.4452 GB / (0.9 x 273 GB/s) + 3.5 ms = 25.66 ms -> 38.97 tokens/s.
    step = (4.9083375 + 0.536870912) / (0.9 * 273.0) + 0.0035
    assert result["decode_tokens_per_s"] == pytest.approx(1.0 / step, rel=1e-12)
    assert result["decode_tokens_per_s"] == pytest.approx(38.97, abs=0.01)

    # Prefill: 2 x 8.03e9 + 4 x 32 x 128 x 32 layers x 2048 tokens FLOPs per token at 0.7 x 9.2T.
    flops = 2 * 8.03e9 + 4 * 32 * 128 * 32 * 2048
    assert result["prefill_tokens_per_s"] == pytest.approx(0.7 * 9.2e12 / flops, rel=1e-12)
    assert result["time_to_first_token_s"] == pytest.approx(4096 * flops / (0.7 * 9.2e12))

    # Energy: 50 W x 0.8 over one step; DRAM floor 5.4452 GB x 8 bits x 5 pJ = 0.218 J.
    assert result["joules_per_token"] == pytest.approx(40.0 * step, rel=1e-12)
    assert result["dram_joules_per_token"] == pytest.approx(5.445208412 * 8 * 5e-3, rel=1e-9)
    assert result["decode_tokens_per_s_low"] < result["decode_tokens_per_s"]
    assert result["decode_tokens_per_s"] < result["decode_tokens_per_s_high"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_decode_bound_is_faster_than_the_bytes_at_full_bandwidth(backend):
    # A high efficiency above 1 with a small overhead put the high bound past the roofline.
    device = {**DEVICE_KW, "decode_efficiency_high": 1.5, "overhead_ms_low": 0.0}
    result = backend.estimate_inference(
        **LLAMA_8B_KW, bits_per_weight=4.89, context_tokens=4096, **device
    )

    assert result["decode_tokens_per_s_high"] == pytest.approx(
        273.0 / result["bytes_per_step_gb"], rel=1e-12
    )
    assert result["decode_tokens_per_s"] < result["decode_tokens_per_s_high"]
    assert result["joules_per_token_low"] == pytest.approx(
        40.0 * result["bytes_per_step_gb"] / 273.0, rel=1e-12
    )


def test_the_decode_range_of_a_70b_model_on_an_m4_max_stops_at_the_roofline():
    # apple_silicon's high efficiency (1.12) gave 13.2 tok/s, past the 546 GB/s that move the
    # 44.5 GB of weights and KV cache each token reads at most 12.27 times a second.
    fit = hardware.hardware_fit("llama-3.1-70b-instruct", "apple-m4-max")
    roofline = 546.0 / (fit.breakdown.weights_gb + fit.breakdown.kv_cache_gb)

    assert roofline == pytest.approx(12.27, abs=0.01)
    assert fit.decode_tokens_per_s_high == pytest.approx(roofline, rel=1e-12)
    assert fit.decode_tokens_per_s < fit.decode_tokens_per_s_high


@pytest.mark.parametrize("device", [device.id for device in hardware.list_devices()])
def test_no_shipped_device_is_estimated_past_its_memory_bandwidth(device):
    profile = hardware.get_device(device)
    for model in ("llama-3.2-1b-instruct", "llama-3.1-70b-instruct"):
        fit = hardware.hardware_fit(model, device)
        bytes_per_token = fit.breakdown.weights_gb + fit.breakdown.kv_cache_gb
        assert fit.decode_tokens_per_s_high <= profile.bandwidth_gbs / bytes_per_token * (
            1 + 1e-12
        )


@pytest.mark.parametrize(
    ("model", "device", "quantisation", "context"),
    [
        # Measured at 19.9 tokens/s (measured.json row m3ultra-ollama-deepseek-r1).
        ("deepseek-r1", "apple-m3-ultra", "Q4_K_M", 512),
        ("qwen2.5-32b-instruct", "rtx-4090", "Q4_K_M", 12_000),
        ("llama-3.1-70b-instruct", "h100-sxm", "FP8", 8192),
    ],
)
def test_device_memory_is_read_as_the_binary_gigabytes_vendors_quote(
    model, device, quantisation, context
):
    # A 512 GB Mac holds 512 GiB and a 24 GB card 24 GiB; read as 1e9 bytes, each of these
    # fell short by 1 to 27 GB while the weights beside them count 1e9 bytes to the GB.
    fit = hardware.hardware_fit(model, device, quantisation=quantisation, context_tokens=context)
    profile = hardware.get_device(device)
    klass = next(c for c in hardware.list_device_classes() if c.id == profile.device_class)

    assert fit.memory_available_gb == pytest.approx(
        profile.memory_gb * 2**30 / 1e9 * klass.usable_fraction
    )
    assert fit.fits


def test_every_measured_run_fits_its_device():
    # A run that was measured ran: the fit check must not say it cannot.
    for row in hardware.measured_rows():
        if row.get("include", True):
            fit = hardware.hardware_fit(row["model"], row["device"],
                                        quantisation=row["quantisation"],
                                        context_tokens=row["context_tokens"])
            assert fit.fits, row["id"]


def test_public_fit_for_llama_8b_on_m4_pro_uses_the_class_factors():
    fit = hardware.hardware_fit("llama-3.1-8b-instruct", "apple-m4-pro", context_tokens=4096)
    klass = next(c for c in hardware.list_device_classes() if c.id == "apple_silicon")

    kv = 2 * 32 * 8 * 128 * 4096 * 2 / 1e9
    step = (8.03 * 4.89 / 8 + kv) / (klass.decode_efficiency * 273.0) + klass.overhead_ms / 1000
    assert fit.fits
    assert fit.breakdown.kv_cache_gb == pytest.approx(kv)
    # 24 GB of LPDDR5X is 24 GiB; usable is 3/4 of it, in GB of 1e9 bytes.
    assert fit.memory_available_gb == pytest.approx(24 * 2**30 / 1e9 * 0.75)
    assert fit.decode_tokens_per_s == pytest.approx(1 / step, rel=1e-12)
    assert fit.decode_bound == "memory bandwidth"
    # Measured on an M4 Pro (llmfit community run, shallow context): 47.25 tokens/s.
    shallow = hardware.hardware_fit("llama-3.1-8b-instruct", "apple-m4-pro", context_tokens=128)
    assert shallow.decode_tokens_per_s == pytest.approx(47.25, rel=0.15)
    assert fit.decode_tokens_per_s < shallow.decode_tokens_per_s
    assert any("estimate" in note for note in fit.notes)


# --- Fit, MoE, GQA, sliding window -----------------------------------------------------------


def test_70b_does_not_fit_a_24_gb_gpu_but_fits_an_h100():
    small = hardware.hardware_fit("llama-3.1-70b-instruct", "rtx-4090")
    big = hardware.hardware_fit("llama-3.1-70b-instruct", "h100-sxm")
    assert not small.fits and small.margin_gb < -20
    assert big.fits and big.margin_gb > 10
    assert any("does not fit" in note for note in small.notes)


def test_spilling_rows_in_the_measurements_are_predicted_not_to_fit():
    for row in hardware.measured_rows():
        if row["id"].endswith("-spill"):
            assert not hardware.hardware_fit(
                row["model"], row["device"], quantisation=row["quantisation"]
            ).fits


def test_moe_stores_total_but_reads_active_parameters():
    moe = hardware.hardware_fit("qwen3-30b-a3b", "apple-m4-max")
    dense = hardware.hardware_fit("qwen2.5-32b-instruct", "apple-m4-max")
    assert moe.breakdown.weights_gb == pytest.approx(30.5 * 4.89 / 8)
    assert moe.decode_tokens_per_s > 4 * dense.decode_tokens_per_s
    assert any("MoE" in note for note in moe.notes)

    raw = _core.estimate_inference(
        **{**LLAMA_8B_KW, "params_b": 30.5, "active_params_b": 3.3},
        bits_per_weight=4.89,
        context_tokens=4096,
        **DEVICE_KW,
    )
    assert raw["bytes_per_step_gb"] == pytest.approx(3.3 * 4.89 / 8 + raw["kv_cache_gb"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_batch_of_an_moe_model_reads_the_union_of_its_experts(backend):
    shape = {**LLAMA_8B_KW, "params_b": 31.0, "active_params_b": 4.0, "dense_params_b": 1.0}

    def weights_read(batch: int) -> float:
        raw = backend.estimate_inference(
            **shape, bits_per_weight=8.0, context_tokens=1024, batch=batch, **DEVICE_KW
        )
        return raw["weights_read_gb"]

    # One token reads 3 of the 30 B routed parameters (f = 0.1) and the 1 B dense ones; two
    # tokens miss an expert with probability 0.9 ** 2, so they read 30 x 0.19 = 5.7 B.
    assert weights_read(1) == 4.0
    assert weights_read(2) == pytest.approx(1.0 + 30.0 * (1 - 0.9**2))
    assert weights_read(64) == pytest.approx(1.0 + 30.0 * (1 - 0.9**64))
    dense = {**shape, "params_b": 4.0}
    assert backend.estimate_inference(
        **dense, bits_per_weight=8.0, context_tokens=1024, batch=64, **DEVICE_KW
    )["weights_read_gb"] == 4.0


def test_a_served_moe_batch_is_slower_per_sequence_and_says_how_much_it_reads():
    single = hardware.hardware_fit("qwen3-30b-a3b", "h100-sxm", context_tokens=1024)
    batched = hardware.hardware_fit("qwen3-30b-a3b", "h100-sxm", context_tokens=1024, batch=64)

    # 64 tokens choosing 8 of 128 experts leave almost none unread: each step streams nearly
    # all 18.6 GB where one token streams about 2 GB.
    assert batched.decode_tokens_per_s < single.decode_tokens_per_s / 4
    assert "a step of 64 sequences reads 18.4 of the 18.6 GB of weights" in " ".join(
        batched.notes
    )
    assert "each token reads the 3.3 B active ones" in " ".join(single.notes)


def test_dense_parameters_of_a_mixture_of_experts_follow_from_its_expert_counts():
    # Qwen3-30B-A3B: 8 of 128 experts; attention (0.91 B) and untied embeddings (0.62 B).
    assert hardware.get_architecture("qwen3-30b-a3b").dense_params_b == pytest.approx(1.49, 0.01)
    assert hardware.get_architecture("gpt-oss-20b").dense_params_b == 1.22  # given in its row
    assert hardware.get_architecture("llama-3.1-8b-instruct").dense_params_b == 0.0


def test_gqa_kv_cache_scales_with_kv_heads_not_query_heads():
    common = {"bits_per_weight": 4.89, "context_tokens": 32768, **DEVICE_KW}
    gqa = _core.estimate_inference(**LLAMA_8B_KW, **common)
    mha = _core.estimate_inference(**{**LLAMA_8B_KW, "kv_heads": 32}, **common)
    assert mha["kv_cache_gb"] == pytest.approx(4 * gqa["kv_cache_gb"])
    assert gqa["kv_cache_gb"] == pytest.approx(4.294967296)


def test_sliding_window_and_quantised_kv_shrink_the_cache():
    fit = hardware.hardware_fit("gemma-3-27b-it", "rtx-5090", context_tokens=131072)
    # 10 global layers hold every token, 52 local layers hold 1,024.
    expected = 2 * 16 * 128 * (10 * 131072 + 52 * 1024) * 2 / 1e9
    assert fit.breakdown.kv_cache_gb == pytest.approx(expected)

    q8 = hardware.hardware_fit(
        "gemma-3-27b-it", "rtx-5090", context_tokens=131072, kv_cache_type="q8_0"
    )
    assert q8.breakdown.kv_cache_gb == pytest.approx(expected * 8.5 / 16)


def test_long_context_slows_decode_and_batching_raises_throughput():
    short = hardware.hardware_fit("qwen2.5-7b-instruct", "dgx-spark", context_tokens=512)
    long = hardware.hardware_fit("qwen2.5-7b-instruct", "dgx-spark", context_tokens=32768)
    assert long.decode_tokens_per_s < short.decode_tokens_per_s
    batched = hardware.hardware_fit("qwen2.5-7b-instruct", "h100-sxm", batch=16, context_tokens=512)
    assert batched.decode_batch_tokens_per_s > 8 * batched.decode_tokens_per_s
    assert (
        batched.joules_per_token
        < hardware.hardware_fit(
            "qwen2.5-7b-instruct", "h100-sxm", context_tokens=512
        ).joules_per_token
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_compute_bound_decode_spans_the_compute_efficiency_range(backend):
    # The low and high cases varied only the memory efficiency, so a compute-bound step had
    # next to no range: deepseek-r1 on an M3 Ultra at 131,072 tokens read 14.6 (14.5-14.6).
    result = backend.estimate_inference(
        **LLAMA_8B_KW, bits_per_weight=4.89, context_tokens=128, batch=512, **DEVICE_KW
    )
    assert result["decode_compute_bound"]
    flops = 512 * (2 * 8.03e9 + 4 * 32 * 128 * 32 * 128)

    def speed(share: float, overhead_ms: float) -> float:
        return 1 / (flops / (share * 9.2e12) + overhead_ms / 1000)

    # DEVICE_KW: prefill efficiency 0.5-0.9 around 0.7, overhead 5 ms slow and 2 ms fast.
    assert result["decode_tokens_per_s"] == pytest.approx(speed(0.7, 3.5), rel=1e-12)
    assert result["decode_tokens_per_s_low"] == pytest.approx(speed(0.5, 5.0), rel=1e-12)
    assert result["decode_tokens_per_s_high"] == pytest.approx(speed(0.9, 2.0), rel=1e-12)

    deep = hardware.hardware_fit("deepseek-r1", "apple-m3-ultra", context_tokens=131_072)
    assert deep.decode_bound == "compute"
    assert deep.decode_tokens_per_s_high > 1.15 * deep.decode_tokens_per_s_low


# --- Errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("kv_heads", float("nan")),
        ("bandwidth_gbs", -1.0),
        ("context_tokens", 0),
        ("tflops", float("inf")),
        ("usable_fraction", 1.5),
        ("overhead_ms", -0.1),
        # A share of the compute peak: past 1 the prefill range would pass the chip's peak.
        ("prefill_efficiency_high", 2.4765),
    ],
)
def test_bad_numbers_raise_value_error_naming_the_parameter(backend, name, value):
    kwargs = {**LLAMA_8B_KW, "bits_per_weight": 4.89, "context_tokens": 4096, **DEVICE_KW}
    kwargs[name] = value
    with pytest.raises(ValueError, match=f"^{name}"):
        backend.estimate_inference(**kwargs)


@pytest.mark.parametrize("backend", BACKENDS)
def test_contradictions_and_wrong_types_are_refused(backend):
    base = {**LLAMA_8B_KW, "bits_per_weight": 4.89, "context_tokens": 4096, **DEVICE_KW}
    with pytest.raises(ValueError, match="active_params_b must not exceed params_b"):
        backend.estimate_inference(**{**base, "active_params_b": 9.0})
    with pytest.raises(ValueError, match="low <= point <= high"):
        backend.estimate_inference(**{**base, "decode_efficiency_low": 0.95})
    with pytest.raises(TypeError):
        backend.estimate_inference(**{**base, "layers": "32"})
    with pytest.raises(ValueError, match="mode must be"):
        backend.scale_chip(
            mode="iso-volume",
            sram_area_fraction=0.3,
            **{f"{s}_{n}": 1.0 for s in ("from", "to") for n in _NODE_NAMES},
        )
    with pytest.raises(ValueError, match="missing layers"):
        backend.sweep_inference(
            models=[{k: v for k, v in LLAMA_8B_KW.items() if k != "layers"}],
            devices=[DEVICE_KW],
            bits_per_weight=[4.89],
            context_tokens=[512],
        )


_NODE_NAMES = ("logic_density", "sram_density", "perf_iso_power", "power_iso_perf")


def test_unknown_names_list_near_matches():
    with pytest.raises(hardware.UnknownArchitectureError, match=r"llama-3\.1-8b-instruct"):
        hardware.hardware_fit("llama-3.1-8b", "apple-m4-pro")
    with pytest.raises(hardware.UnknownDeviceError, match="apple-m4-pro"):
        hardware.hardware_fit("llama-3.1-8b-instruct", "apple-m4pro")
    with pytest.raises(hardware.UnknownQuantisationError, match="Q4_K_M"):
        hardware.hardware_fit("llama-3.1-8b-instruct", "apple-m4-pro", quantisation="Q4_KM")
    with pytest.raises(hardware.UnknownNodeError, match="nanostack-claimed"):
        hardware.port_chip("h100-sxm", to_node="nanostack")
    with pytest.raises(ValueError, match="context_tokens must be > 0"):
        hardware.hardware_fit("llama-3.1-8b-instruct", "apple-m4-pro", context_tokens=0)
    with pytest.raises(TypeError, match="batch must be an int"):
        hardware.hardware_fit("llama-3.1-8b-instruct", "apple-m4-pro", batch=1.5)


@pytest.mark.parametrize(
    ("call", "parameter", "problem"),
    [
        (lambda: hardware.hardware_fit("qwen3-8b", "rtx-4090", batch=4097), "batch",
         "must be at most 4,096, got 4,097"),
        (lambda: hardware.hardware_fit("qwen3-8b", "rtx-4090", context_tokens=10_000_001),
         "context_tokens", "must be at most 10,000,000, got 10,000,001"),
        (lambda: hardware.pareto_front(["qwen3-8b"], ["rtx-4090"], contexts=[4096, 10**11]),
         "contexts[1]", "must be at most 10,000,000, got 100,000,000,000"),
        (lambda: hardware.sweep(["qwen3-8b"], ["rtx-4090"], contexts=[10**11]),
         "contexts[0]", "must be at most 10,000,000, got 100,000,000,000"),
        (lambda: hardware.pareto_front(["qwen3-8b"], ["rtx-4090"], batch=5000), "batch",
         "must be at most 4,096, got 5,000"),
        (lambda: hardware.port_chip("iphone-16-pro", to_node="n2", sram_mb=1e300), "sram_mb",
         "must be a number of MB from 0 to 1,000,000, got 1e+300"),
        (lambda: hardware.port_chip("iphone-16-pro", to_node="n2", sram_mb=math.inf), "sram_mb",
         "must be a number of MB from 0 to 1,000,000, got inf"),
        (lambda: hardware.port_chip("iphone-16-pro", to_node="n2", sram_mb=math.nan), "sram_mb",
         "must be a number of MB from 0 to 1,000,000, got nan"),
        (lambda: hardware.port_chip("iphone-16-pro", to_node="n2", sram_mb=-1), "sram_mb",
         "must be a number of MB from 0 to 1,000,000, got -1"),
        # A Chip's figures: negative ones ported to negative results, NaN to NaN.
        (lambda: _chip(power_w=-1), "power_w",
         "must be a number from 0.1 to 1,000,000, got -1"),
        (lambda: _chip(power_w=math.nan), "power_w",
         "must be a number from 0.1 to 1,000,000, got nan"),
        (lambda: _chip(performance_tflops=-5), "performance_tflops",
         "must be a number from 0.001 to 1,000,000, got -5"),
        (lambda: _chip(performance_tflops=2e6), "performance_tflops",
         "must be a number from 0.001 to 1,000,000, got 2,000,000"),
        (lambda: _chip(area_mm2=0), "area_mm2",
         "must be a number from 1 to 100,000, got 0"),
        (lambda: _chip(area_mm2=-3), "area_mm2",
         "must be a number from 1 to 100,000, got -3"),
        # A die of 5e-324 mm2 drew an infinite power density, and --json wrote Infinity.
        (lambda: _chip(area_mm2=5e-324), "area_mm2",
         "must be a number from 1 to 100,000, got 5e-324"),
        (lambda: _chip(performance_tflops=1e-300), "performance_tflops",
         "must be a number from 0.001 to 1,000,000, got 1e-300"),
        (lambda: _chip(sram_mb=-2), "sram_mb",
         "must be a number of MB from 0 to 1,000,000, got -2"),
        (lambda: _chip(sram_area_fraction=1), "sram_area_fraction",
         "must be a number from 0 up to (not including) 1, got 1"),
        # Quoted short, its significant digits and a power of ten, and a count past Python's
        # digit limit by its length (it made the error itself fail).
        (lambda: _chip(area_mm2=1e300), "area_mm2",
         "must be a number from 1 to 100,000, got 1e+300"),
        (lambda: hardware.hardware_fit("qwen3-8b", "rtx-4090", context_tokens=10**5000),
         "context_tokens", "must be at most 10,000,000, got a whole number of about 5,001 digits"),
        (lambda: _chip(name=" "), "name", "must not be empty"),
        (lambda: _chip(node=""), "node", "must not be empty"),
        # Past the float range: checking it converted it, and OverflowError escaped.
        (lambda: hardware.port_chip("h100-sxm", to_node="n2", sram_mb=10**400), "sram_mb",
         "must be a number of MB from 0 to 1,000,000, got 1e+400"),
        (lambda: _chip(power_w=10**400), "power_w",
         "must be a number from 0.1 to 1,000,000, got 1e+400"),
        (lambda: _chip(sram_area_fraction=-(10**400)), "sram_area_fraction",
         "must be a number from 0 up to (not including) 1, got -1e+400"),
        # A device row's texts print as they read; a Chip's name came back in the ported chip's.
        (lambda: _chip(name="a\x1b[31mred\u202e"), "name",
         "must hold only printable characters (no control or format characters, no space but "
         "' '), got '\\x1b' in 'a\\x1b[31mred\\u202e'"),
    ],
)
def test_numeric_arguments_have_the_mcp_bounds_and_name_the_parameter(call, parameter, problem):
    with pytest.raises(hardware.ParameterError) as caught:
        call()
    assert (caught.value.parameter, caught.value.problem) == (parameter, problem)
    assert str(caught.value) == f"{parameter} {problem}"


def _chip(**changes: object) -> hardware.Chip:
    figures: dict[str, Any] = {"name": "npu", "node": "n5", "power_w": 10.0,
                               "performance_tflops": 40.0}
    return hardware.Chip(**{**figures, **changes})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"power_w": "10"}, "power_w must be a number, got str"),
        ({"area_mm2": True}, "area_mm2 must be a number, got bool"),
        ({"sram_mb": "64"}, "sram_mb must be a number, got str"),
        ({"sram_area_fraction": None}, "sram_area_fraction must be a number, got None"),
        ({"name": None}, "name must be a string, got None"),
        ({"node": 5}, "node must be a string, got int"),
    ],
)
def test_a_chip_figure_of_the_wrong_type_names_the_field(changes, message):
    with pytest.raises(TypeError) as caught:
        _chip(**changes)
    assert str(caught.value) == message


def test_a_chip_of_the_largest_accepted_figures_ports_to_finite_ones():
    chip = _chip(**hardware.CHIP_FIELD_LIMITS, sram_mb=hardware.MAX_SRAM_MB)
    ported = hardware.port_chip(chip, to_node="n2", mode="iso-area")
    figures = (ported.power_w, ported.performance_tflops, ported.area_mm2, ported.sram_mb)
    assert all(math.isfinite(value) and value > 0 for value in figures)


def test_the_largest_accepted_values_run():
    assert hardware.hardware_fit("qwen3-8b", "h100-sxm", batch=hardware.MAX_BATCH).batch == 4096
    ported = hardware.port_chip("iphone-16-pro", to_node="n2", sram_mb=hardware.MAX_SRAM_MB,
                                models=["gemma-3-1b-it"])
    assert math.isfinite(ported.sram_mb) and ported.inference[0].resident


def test_the_kv_cache_types_listed_are_the_ones_accepted():
    types = hardware.list_kv_cache_types()
    assert set(types) == {"F16", "BF16", "FP8", "Q8_0", "Q4_0"}
    for name in types:
        assert hardware.kv_cache_bits(name.lower()) > 0


# --- Tables ---------------------------------------------------------------------------------

BRIEF_MODELS = (
    "llama-3.1-8b-instruct llama-3.1-70b-instruct llama-3.3-70b-instruct llama-3.2-1b-instruct "
    "llama-3.2-3b-instruct qwen2.5-7b-instruct qwen2.5-14b-instruct qwen2.5-32b-instruct "
    "qwen2.5-72b-instruct qwen3-8b qwen3-30b-a3b gemma-2-9b-it gemma-3-4b-it gemma-3-12b-it "
    "gemma-3-27b-it mistral-7b-instruct-v0.3 mistral-nemo-12b-instruct mixtral-8x7b-instruct-v0.1 "
    "mixtral-8x22b-instruct-v0.1 phi-4 gpt-oss-20b gpt-oss-120b deepseek-v3 codegemma-7b "
    "llama3-chatqa-1.5-8b llama3-chatqa-1.5-70b llama-3.1-nemotron-51b-instruct "
    "llama-3.3-nemotron-super-49b-v1"
).split()


def test_every_open_weight_model_has_a_sourced_architecture_and_runs_somewhere():
    for model in BRIEF_MODELS:
        arch = hardware.get_architecture(model)
        assert arch.source and arch.layers > 0 and arch.kv_heads <= arch.attention_heads
        assert arch.sliding_window_layers <= arch.layers
        assert hardware.hardware_fit(model, "b200").decode_tokens_per_s > 0


def test_nvidia_rows_give_dense_fp16_accumulate_tensor_rates_at_half_the_int8_rate():
    # NVIDIA's tensor cores run INT8 at twice their FP16-accumulate rate. The RTX 3090 gave 71
    # TFLOPS, its FP32-accumulate rate (4x below INT8); the GA102 whitepaper gives 142.
    nvidia = [d for d in hardware.list_devices() if d.name.startswith("NVIDIA")]

    assert len(nvidia) >= 10
    for profile in nvidia:
        assert profile.int8_tops == pytest.approx(2 * profile.fp16_tflops, rel=1e-3), profile.id
    rtx_3090 = hardware.get_device("rtx-3090")
    assert rtx_3090.fp16_tflops == 142.0
    assert "71 with FP32 accumulate" in rtx_3090.claim_type["fp16_tflops"]
    assert "GA102 whitepaper" in (rtx_3090.source or "")


def test_tables_are_sourced_and_dated():
    devices = hardware.list_devices()
    assert len(devices) >= 15
    assert {d.device_class for d in devices} >= {
        "phone",
        "apple_silicon",
        "discrete_gpu",
        "datacenter_gpu",
    }
    for profile in devices:
        assert profile.source and profile.as_of and profile.claim_type
    for quant in ("Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "MXFP4", "FP8", "BF16", "INT4-AWQ"):
        assert hardware.get_quantisation(quant).source
    assert hardware.get_quantisation("awq").id == "INT4-AWQ"
    node_ids = {n.id for n in hardware.list_nodes()}
    assert {"n7", "n5", "n3e", "n2", "a16", "intel-18a", "nanostack-claimed"} <= node_ids


@pytest.mark.parametrize(
    ("device", "megatransfers_per_s"),
    [("iphone-17-pro", 9600), ("pixel-10-pro", 8533)],
)
def test_phone_bandwidth_is_its_data_rate_on_a_64_bit_bus(device, megatransfers_per_s):
    # The iPhone 17 Pro read 75.8 GB/s, the leak's figure, which its own LPDDR5X-9600 on the
    # 64-bit bus of an iPhone does not give (76.8).
    assert hardware.get_device(device).bandwidth_gbs == pytest.approx(
        megatransfers_per_s * 1e6 * 64 / 8 / 1e9, abs=0.05)


def test_cumulative_node_figures_follow_the_chain():
    n5, n2 = hardware.get_node("n5"), hardware.get_node("n2")
    assert n5.perf_iso_power == pytest.approx(1.15)
    assert n2.perf_iso_power == pytest.approx(1.15 * 1.18 * 1.125)
    assert n2.power_iso_perf == pytest.approx(0.70 * 0.68 * 0.725)
    assert n2.sram_density == pytest.approx(0.027 / 0.0175)


# --- Porting chips ----------------------------------------------------------------------------


def test_nanostack_vendor_preset_reproduces_the_claim_against_2nm():
    chip = hardware.Chip(name="npu", node="n2", power_w=10.0, performance_tflops=40.0, sram_mb=64)
    faster = hardware.port_chip(chip, to_node="nanostack-claimed", mode="iso-power")
    assert faster.performance_ratio == pytest.approx(1.5)
    assert faster.power_w == pytest.approx(10.0)
    assert faster.performance_tflops == pytest.approx(60.0)

    cooler = hardware.port_chip(chip, to_node="nanostack-claimed", mode="iso-performance")
    assert cooler.power_ratio == pytest.approx(0.3)
    assert cooler.area_ratio == pytest.approx(0.7 / 2.0 + 0.3 * 0.6)

    filled = hardware.port_chip(chip, to_node="nanostack-claimed", mode="iso-area")
    assert filled.sram_mb == pytest.approx(64 / 0.6)
    assert filled.performance_ratio == pytest.approx(2.0)

    conservative = hardware.port_chip(chip, to_node="nanostack-conservative", mode="iso-power")
    assert 1.0 < conservative.performance_ratio < faster.performance_ratio

    # A chip has no memory system: all its power is the die's and follows the node.
    assert cooler.memory_interface_power_w is None
    assert cooler.power_w == cooler.die_power_w == pytest.approx(10.0 * 0.3)
    assert cooler.perf_per_watt_ratio == pytest.approx(1 / 0.3)


def test_porting_a_device_uses_its_node_and_refuses_missing_figures():
    h100 = hardware.port_chip("h100-sxm", to_node="n2", mode="iso-performance")
    hbm3_w = 3350 * 8 * 8.0 / 1000  # GB/s x bits x pJ/bit
    assert h100.from_node == "n5"
    assert h100.power_w == pytest.approx(hbm3_w + (700 - hbm3_w) * 0.68 * 0.725)
    assert h100.area_mm2 is not None and h100.area_mm2 < 814
    assert h100.sram_mb == pytest.approx(50)
    assert h100.sram_mb_at_iso_area > 50

    with pytest.raises(hardware.ParameterError, match=r"^from_node is needed: .*\(Samsung 8N\)"):
        hardware.port_chip("rtx-3090", to_node="n2")
    with pytest.raises(hardware.ParameterError,
                       match=r"^to_node names process node 'intel-18a', which has no performance"):
        hardware.port_chip("h100-sxm", to_node="intel-18a")
    back = hardware.port_chip("rtx-3090", from_node="n7", to_node="n7", mode="iso-area")
    assert (back.power_ratio, back.performance_ratio, back.area_ratio) == (1.0, 1.0, 1.0)


def test_a_node_without_an_sram_figure_is_refused_naming_it_and_the_node_to_use_instead():
    # IBM's 2nm test chip has no SRAM density: the area and SRAM of any port depend on it.
    with pytest.raises(hardware.ParameterError) as refused:
        hardware.port_chip("h100-sxm", from_node="ibm-2nm", to_node="nanostack-claimed")
    message = str(refused.value)

    assert refused.value.parameter == "from_node"
    assert message.startswith("from_node names process node 'ibm-2nm', which has no SRAM density "
                              "figure against the N7 baseline, and every port needs all four "
                              "node figures")
    assert "use n2 in its place (port from n2 to a nanostack row for IBM's claims)" in message
    # What it advises answers: IBM's claims in full, as the nanostack row applies them to n2.
    instead = hardware.port_chip("h100-sxm", from_node="n2", to_node="nanostack-claimed")
    assert instead.performance_ratio == pytest.approx(1.5)


def test_intel_18a_says_it_cannot_be_ported_as_the_port_refuses_it():
    intel = hardware.get_node("intel-18a")
    assert intel.perf_iso_power is None and intel.power_iso_perf is None
    assert "nothing can be ported to or from it" in intel.notes
    assert "only area and SRAM scale" not in intel.notes
    for given in ({"to_node": "intel-18a"}, {"from_node": "intel-18a", "to_node": "n2"}):
        with pytest.raises(hardware.ParameterError) as refused:
            hardware.port_chip("h100-sxm", **given)
        assert str(refused.value).endswith(intel.notes)


def test_a14_takes_the_mid_points_of_its_source_ranges():
    # +10-15 % speed and -25-30 % power against N2, as every other ranged row takes them.
    a14, n2 = hardware.get_node("a14"), hardware.get_node("n2")
    assert a14.perf_iso_power / n2.perf_iso_power == pytest.approx(1.125)
    assert a14.power_iso_perf / n2.power_iso_perf == pytest.approx(0.725)
    assert "m4components.com" in a14.source and "mid-points" in a14.source


def nanostack_against(node_id: str, against: str) -> dict[str, float]:
    """A node's figures over another's, as a port between them would take them."""
    node, base = hardware.get_node(node_id), hardware.get_node(against)
    return {
        "logic": node.logic_density / base.logic_density,
        "perf": node.perf_iso_power / base.perf_iso_power,
        "power": node.power_iso_perf / base.power_iso_perf,
    }


@pytest.mark.parametrize("node_id", ["nanostack-claimed", "nanostack-conservative"])
def test_the_nanostack_notes_say_what_the_rows_read_against_ibm_2nm(node_id):
    # IBM's claims are against its 2021 2nm chip, but the rows stand on TSMC N2, whose chain
    # from N7 differs from IBM's own 2nm claims: against ibm-2nm they read otherwise.
    against_ibm = nanostack_against(node_id, "ibm-2nm")
    notes = hardware.get_node(node_id).notes

    assert "against this table's ibm-2nm row" in notes
    assert (f"+{(against_ibm['perf'] - 1) * 100:.0f} % perf / "
            f"-{(1 - against_ibm['power']) * 100:.0f} % power and "
            f"{against_ibm['logic']:.2f}x logic") in notes


def test_nanostack_claimed_gives_ibm_s_figures_against_n2():
    against_n2 = nanostack_against("nanostack-claimed", "n2")
    assert against_n2 == pytest.approx({"logic": 2.0, "perf": 1.5, "power": 0.3})
    assert "against n2 (+50 % perf / -70 % power, 2x logic)" in (
        hardware.get_node("nanostack-claimed").notes)


@pytest.mark.parametrize(
    ("arguments", "parameter", "problem"),
    [
        ({"to_node": "intel-18a"}, "to_node", "names process node 'intel-18a', which has no "
         "performance at iso-power or power at iso-performance figure against the N7 baseline"),
        ({"from_node": "intel-18a", "to_node": "n2"}, "from_node", "names process node "
         "'intel-18a', which has no performance at iso-power"),
    ],
)
def test_a_node_without_the_figures_a_port_needs_is_named_by_its_argument(
    arguments, parameter, problem
):
    # The two refusals read alike, and the command line could not say which option to change.
    with pytest.raises(hardware.ParameterError) as refused:
        hardware.port_chip("h100-sxm", **arguments)
    with pytest.raises(hardware.ParameterError) as swept:
        hardware.pareto_front(["qwen3-8b"], ["h100-sxm"], nodes=["intel-18a"])

    assert refused.value.parameter == parameter
    assert refused.value.problem.startswith(problem)
    assert refused.value.problem.endswith(hardware.get_node("intel-18a").notes)
    assert swept.value.parameter == "nodes"
    assert swept.value.problem.startswith("names process node 'intel-18a', which has no ")


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_unknown_mode_is_a_parameter_error_in_the_same_words_on_both_backends(
    backend, monkeypatch
):
    monkeypatch.setattr(hardware, "core", backend)
    message = "mode must be 'iso-power', 'iso-performance' or 'iso-area', got 'iso-volume'"

    # A plain ValueError from the core here, an InputError from pareto_front.
    with pytest.raises(hardware.ParameterError) as ported:
        hardware.port_chip("h100-sxm", to_node="n2", mode="iso-volume")  # type: ignore[arg-type]
    with pytest.raises(hardware.ParameterError) as swept:
        hardware.pareto_front(["qwen3-8b"], ["h100-sxm"], nodes=["n2"],
                              mode="iso-volume")  # type: ignore[arg-type]
    # A wrong type is a TypeError, as for every argument: the cores said it in their own words.
    with pytest.raises(TypeError) as none:
        hardware.port_chip("h100-sxm", to_node="n2", mode=None)  # type: ignore[arg-type]

    assert str(ported.value) == str(swept.value) == message
    assert ported.value.parameter == swept.value.parameter == "mode"
    assert str(none.value) == "mode must be a string, got None"


def test_an_empty_model_list_is_refused_pointing_to_none():
    # It compared no model, silently: an answer with no inference rows.
    with pytest.raises(hardware.ParameterError) as refused:
        hardware.port_chip("h100-sxm", to_node="n2", models=[])

    assert refused.value.parameter == "models"
    assert refused.value.problem == (
        "must not be empty: pass None (or leave models out) to compare every model"
    )


NPU = hardware.Chip("npu", "n2", 100.0, 50.0, 100.0, 64.0)


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [
        ({"sram_mb": 999}, "sram_mb"),
        ({"models": ["gemma-3-1b-it"]}, "models"),
        ({"quantisation": "Q8_0"}, "quantisation"),
        ({"context_tokens": 8192}, "context_tokens"),
    ],
)
def test_a_chip_refuses_the_arguments_only_a_device_uses(arguments, parameter):
    # Each was dropped: sram_mb=999 ported the chip's own 64 MB.
    with pytest.raises(hardware.ParameterError) as refused:
        hardware.port_chip(NPU, to_node="nanostack-claimed", mode="iso-area", **arguments)

    assert refused.value.parameter == parameter
    assert "Chip" in refused.value.problem and f"leave {parameter} out" in refused.value.problem


def test_a_chip_checks_the_device_arguments_as_a_device_does():
    # A context of 0 and an unknown format passed with a Chip, while an unknown model did not.
    with pytest.raises(hardware.ParameterError) as no_context:
        hardware.port_chip(NPU, to_node="n2", context_tokens=0)
    with pytest.raises(hardware.UnknownQuantisationError) as unknown_format:
        hardware.port_chip(NPU, to_node="n2", quantisation="Q3")
    assert str(no_context.value) == "context_tokens must be > 0, got 0"
    assert str(unknown_format.value).startswith("unknown quantisation 'Q3'")

    # The defaults, however spelt, ask for nothing a Chip lacks.
    ported = hardware.port_chip(NPU, to_node="n2", quantisation="q4_k_m", context_tokens=4096)
    assert ported.sram_mb == pytest.approx(64.0) and ported.inference == ()


def test_port_warns_of_a_context_past_the_model_maximum_as_fit_does():
    fit = hardware.hardware_fit("gemma-3-1b-it", "h100-sxm", context_tokens=10_000_000)
    one = hardware.port_chip("h100-sxm", to_node="nanostack-claimed", models=["gemma-3-1b-it"],
                             context_tokens=10_000_000)
    several = hardware.port_chip("h100-sxm", to_node="nanostack-claimed",
                                 models=["gemma-3-1b-it", "llama-3.1-8b-instruct"],
                                 context_tokens=100_000)
    within = hardware.port_chip("h100-sxm", to_node="nanostack-claimed",
                                models=["gemma-3-1b-it"], context_tokens=32_768)

    warning = "context 10,000,000 exceeds the model's maximum of 32,768"
    assert warning in fit.notes and warning in one.notes
    assert ("context 100,000 exceeds the maximum context of 1 of the 2 models compared: "
            "gemma-3-1b-it (32,768)") in several.notes
    assert not any(note.startswith("context ") for note in within.notes)


def test_porting_a_device_without_a_node_asks_for_from_node_over_mcp(tmp_path, monkeypatch):
    import anyio
    from mcp import Client

    from shoal.server import build_server

    monkeypatch.setenv("SHOAL_FEEDBACK_DB", str(tmp_path / "feedback.sqlite3"))

    async def port_without_a_node():  # type: ignore[no-untyped-def]
        async with Client(build_server()) as client:
            return await client.call_tool("port_chip", {"device": "rtx-3090", "to_node": "n2"})

    result = anyio.run(port_without_a_node)
    assert result.is_error
    assert result.content[0].text == (
        "port_chip: argument 'from_node': is needed: the device's process (Samsung 8N) has no "
        "node in the node table to port from"
    )


def test_porting_a_device_keeps_its_memory_interface_power_and_scales_the_die():
    h100 = hardware.port_chip(
        "h100-sxm",
        to_node="nanostack-claimed",
        mode="iso-performance",
        models=["llama-3.1-8b-instruct"],
    )
    hbm3_w = 3350 * 8 * 8.0 / 1000  # 3.35 TB/s of HBM3 at 8 pJ/bit: about 214 W
    assert h100.memory_interface_power_w == pytest.approx(hbm3_w)
    assert h100.power_w_before == 700.0
    assert h100.die_power_w_before == pytest.approx(700 - hbm3_w)
    assert h100.die_power_w == pytest.approx((700 - hbm3_w) * h100.die_power_ratio)
    assert h100.power_w == pytest.approx(hbm3_w + h100.die_power_w)
    assert h100.power_ratio == pytest.approx(h100.power_w / 700)
    assert h100.die_power_ratio < 0.2 and h100.power_ratio > 0.4
    assert h100.perf_per_watt_ratio == pytest.approx(1 / h100.power_ratio)
    assert any("214.4 W at full bandwidth (3,350 GB/s x 8 pJ/bit of HBM3)" in note
               for note in h100.notes)

    # The headline agrees with the rows under it: decode draws the class's share of that power.
    row = h100.inference[0]
    decode_w = row.joules_per_token_after * row.decode_tokens_per_s_after
    datacenter = {k.id: k for k in hardware.list_device_classes()}["datacenter_gpu"]
    assert decode_w == pytest.approx(datacenter.power_fraction * h100.power_w, rel=0.01)


def test_porting_a_device_without_a_dram_energy_figure_scales_all_its_power():
    m4 = hardware.port_chip("apple-m4-pro", to_node="nanostack-claimed", mode="iso-performance")
    # Unknown, not 0 W: null in JSON, as a fit's dram_joules_per_token is.
    assert m4.memory_interface_power_w is None
    assert m4.power_w == pytest.approx(50.0 * m4.die_power_ratio)
    assert any("no DRAM energy per bit for LPDDR5X, so the memory interface's power is unknown"
               in note for note in m4.notes)
    assert hardware.hardware_fit("qwen3-8b", "apple-m4-pro").dram_joules_per_token is None


def test_a_sweep_names_the_ported_devices_whose_dram_power_is_unknown():
    # The note said every ported device keeps its DRAM power while LPDDR devices, whose memory
    # has no energy per bit in the table, had all their power scaled with the node.
    front = hardware.pareto_front(
        ["llama-3.2-1b-instruct"], ["apple-m4-pro", "h100-sxm", "iphone-16-pro", "dgx-spark"],
        nodes=[None, "nanostack-claimed"], mode="iso-performance",
    )
    assert ("DRAM power unknown (no DRAM energy per bit for LPDDR5X), so all the power of these "
            "ported devices follows the node, DRAM power included: apple-m4-pro, iphone-16-pro, "
            "dgx-spark") in front.notes
    assert any(note.startswith("ported devices keep their DRAM bandwidth and, where the device "
                               "table has their memory's energy per bit, their DRAM power")
               for note in front.notes)
    as_built = hardware.pareto_front(["llama-3.2-1b-instruct"], ["apple-m4-pro"])
    assert not any("DRAM power unknown" in note for note in as_built.notes)


def test_iso_power_reports_the_die_power_density_and_the_energy_per_operation():
    h100 = hardware.port_chip(
        "h100-sxm", to_node="nanostack-claimed", models=["llama-3.1-8b-instruct"]
    )
    before = (700 - 3350 * 8 * 8.0 / 1000) / 814
    assert h100.power_density_w_per_mm2_before == pytest.approx(before)
    assert h100.power_density_w_per_mm2 == pytest.approx(before / h100.area_ratio)
    assert h100.power_density_w_per_mm2 / before > 2.9  # the same die power on a third of it
    assert any(note.startswith("die power density rises x2.94") for note in h100.notes)
    assert ("energy per token: the die's work per token costs x0.50 (the energy per operation "
            "at iso-power: power ratio over performance ratio), and the memory interface's "
            "energy stays: J/token follows the work done, not the power drawn while waiting on "
            "DRAM") in h100.notes

    # What the note says: DRAM-bound decode without SRAM, all of whose power is the die's (no
    # DRAM energy figure), runs as fast as before and spends 1/P of the energy on each token.
    # It spent as much as before: a faster die waiting on DRAM was charged its power.
    m4 = hardware.port_chip("apple-m4-pro", to_node="nanostack-claimed", models=["qwen3-8b"])
    row = m4.inference[0]
    assert row.decode_tokens_per_s_after == row.decode_tokens_per_s_before
    assert row.joules_per_token_after == pytest.approx(
        row.joules_per_token_before / m4.performance_ratio, rel=1e-12
    )
    assert m4.power_density_w_per_mm2 is None  # no die area in the table

    cooler = hardware.port_chip("h100-sxm", to_node="nanostack-claimed", mode="iso-performance")
    assert cooler.power_density_w_per_mm2 < cooler.power_density_w_per_mm2_before
    assert not any("density rises" in note for note in cooler.notes)
    assert any(note.startswith(f"energy per token: the die's work per token costs "
                               f"x{cooler.die_power_ratio:.2f} (the energy per operation at "
                               "iso-performance") for note in cooler.notes)


def _portable_nodes() -> list[hardware.NodeProfile]:
    return [node for node in hardware.list_nodes()
            if None not in (node.logic_density, node.sram_density, node.perf_iso_power,
                            node.power_iso_perf)]


def _energy_per_operation(source: hardware.NodeProfile, target: hardware.NodeProfile,
                          mode: str) -> float:
    """The die's energy per operation after over before: W, or 1/P at iso-power."""
    assert source.perf_iso_power and source.power_iso_perf  # portable nodes
    assert target.perf_iso_power and target.power_iso_perf
    if mode == "iso-power":
        return source.perf_iso_power / target.perf_iso_power
    return target.power_iso_perf / source.power_iso_perf


def _moves_with(before: float, after: float, ratio: float) -> bool:
    """Whether ``after`` lies on the side of ``before`` that ``ratio`` does of 1 (equal, to
    rounding, where it is 1)."""
    if ratio == pytest.approx(1, rel=1e-12):
        return after == pytest.approx(before, rel=1e-9)
    return (after > before) == (ratio > 1)


# Small dense, mixture of experts, and one too large for phones (estimated as if it fitted).
PORTED_MODELS = ["gemma-3-1b-it", "qwen3-30b-a3b", "llama-3.1-8b-instruct"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_port_s_energy_per_token_moves_with_the_node_s_energy_per_operation(
    backend, monkeypatch
):
    # An older node at iso-area (fewer transistors, less power) once made the same work
    # cheaper: the H100 to N7 went 2.18 -> 1.87 J/token, though each operation costs W = 1.43.
    monkeypatch.setattr(hardware, "core", backend)
    nodes = _portable_nodes()
    compared = 0
    for device in hardware.list_devices():
        source = hardware.get_node(device.node) if device.node else None
        if source not in nodes:
            continue
        assert source is not None
        for target in nodes:
            for mode in hardware.PORT_MODES:
                ratio = _energy_per_operation(source, target, mode)
                power_ratio = target.power_iso_perf / source.power_iso_perf  # type: ignore[operator]
                sram_ratio = target.sram_density / source.sram_density  # type: ignore[operator]
                # Without SRAM the work per token is the same before and after; with it, at
                # iso-area the SRAM that holds weights grows or shrinks with the node too,
                # which moves the same way where S and W lie on either side of 1.
                srams = [0.0]
                if mode != "iso-area" or (sram_ratio - 1) * (power_ratio - 1) <= 0:
                    srams.append(400.0)
                for sram_mb in srams:
                    ported = hardware.port_chip(device.id, to_node=target.id, mode=mode,
                                                models=PORTED_MODELS, sram_mb=sram_mb)
                    for row in ported.inference:
                        compared += 1
                        assert _moves_with(row.joules_per_token_before,
                                           row.joules_per_token_after, ratio), (
                            device.id, target.id, mode, sram_mb, row)
    assert compared > 2000


def test_the_energy_per_operation_is_w_except_at_iso_power_where_only_a16_and_a14_differ():
    # W (power at iso-performance) and 1/P (P, performance at iso-power) lie on one side of 1
    # for every pair of nodes but A16 and A14: A14 draws 5 % less at A16's speed, but runs 4 %
    # slower at its power. There the J/token at iso-power follows 1/P, the die's operating point.
    nodes = _portable_nodes()
    apart = {(source.id, target.id) for source in nodes for target in nodes
             if (_energy_per_operation(source, target, "iso-power") - 1)
             * (_energy_per_operation(source, target, "iso-performance") - 1) < 0}
    assert apart == {("a16", "a14"), ("a14", "a16")}

    for mode in hardware.PORT_MODES:
        scaling = _core.scale_chip(
            mode=mode, sram_area_fraction=0.3,
            **{f"from_{key}": value for key, value in hardware.node_keywords(
                hardware.get_node("a16")).items()},
            **{f"to_{key}": value for key, value in hardware.node_keywords(
                hardware.get_node("a14")).items()},
        )
        assert scaling["energy_per_operation_ratio"] == pytest.approx(
            scaling["power_ratio"] / scaling["performance_ratio"])
        assert scaling["energy_per_operation_ratio"] == pytest.approx(
            _energy_per_operation(hardware.get_node("a16"), hardware.get_node("a14"), mode))
    slower = hardware.port_chip("h100-sxm", from_node="a16", to_node="a14",
                                models=["llama-3.1-8b-instruct"], sram_mb=0)
    assert slower.inference[0].joules_per_token_after > slower.inference[0].joules_per_token_before


def test_a_port_charges_the_die_s_work_and_keeps_the_memory_interface_s_energy():
    # The H100 to N7 at iso-area: its die draws x0.79 (0.56 of the logic at 1.43x the power
    # each), decode is DRAM-bound and as fast, and each operation costs W = 1/0.7.
    ported = hardware.port_chip("h100-sxm", to_node="n7", mode="iso-area",
                                models=["llama-3.1-8b-instruct"], sram_mb=0)
    row = ported.inference[0]
    assert ported.die_power_ratio == pytest.approx(0.7937, abs=1e-4)
    assert row.decode_tokens_per_s_after == pytest.approx(row.decode_tokens_per_s_before)

    datacenter = {k.id: k for k in hardware.list_device_classes()}["datacenter_gpu"]
    assert ported.memory_interface_power_w is not None
    step_s = 1 / row.decode_tokens_per_s_before
    interface_j = datacenter.power_fraction * ported.memory_interface_power_w * step_s
    die_j = datacenter.power_fraction * ported.die_power_w_before * step_s
    assert row.joules_per_token_before == pytest.approx(interface_j + die_j)
    assert row.joules_per_token_after == pytest.approx(interface_j + die_j / 0.7)
    assert row.joules_per_token_after / row.joules_per_token_before == pytest.approx(1.30, abs=0.01)

    # A device as built is estimated as it was: a port to its own node changes nothing.
    same = hardware.port_chip("h100-sxm", to_node="n5", mode="iso-area",
                              models=["llama-3.1-8b-instruct"])
    assert same.inference[0].joules_per_token_after == pytest.approx(
        same.inference[0].joules_per_token_before, rel=1e-12)


def test_ported_inference_says_what_memory_a_model_needs():
    chip = hardware.port_chip(
        "rtx-4090", to_node="nanostack-claimed",
        models=["llama-3.1-8b-instruct", "llama-3.1-70b-instruct"],
    )
    small, large = chip.inference
    assert small.fits and not large.fits
    assert large.memory_needed_gb > large.memory_available_gb == small.memory_available_gb
    fit = hardware.hardware_fit("llama-3.1-70b-instruct", "rtx-4090")
    assert large.memory_needed_gb == fit.memory_needed_gb


# --- Sweeps and user files ---------------------------------------------------------------------


def test_sweep_rows_equal_single_fits():
    result = hardware.sweep(
        ["llama-3.1-8b-instruct", "qwen3-30b-a3b"],
        ["apple-m4-pro", "rtx-4090", "h100-sxm"],
        quantisations=["Q4_K_M", "Q8_0"],
        contexts=[512, 8192],
    )
    assert len(result.decode_tokens_per_s) == 2 * 3 * 2 * 2
    for index in (0, 7, 23):
        fit = hardware.hardware_fit(
            result.model[index],
            result.device[index],
            quantisation=result.quantisation[index],
            context_tokens=result.context_tokens[index],
        )
        assert result.decode_tokens_per_s[index] == fit.decode_tokens_per_s
        assert result.fits[index] == fit.fits
        assert result.joules_per_token[index] == fit.joules_per_token


def test_user_files_add_devices_and_architectures(tmp_path):
    devices = tmp_path / "devices.json"
    profile = {**json.loads((hardware.DATA_DIR / "devices.json").read_text())["devices"][8]}
    profile.update(id="my-mac", name="My Mac", memory_gb=64, bandwidth_gbs=300)
    devices.write_text(json.dumps({"devices": [profile]}))
    assert hardware.load_devices(devices)[0].id == "my-mac"

    archs = tmp_path / "archs.json"
    arch = {
        "id": "tiny-moe",
        "hf_repo": "example/tiny-moe",
        "layers": 12,
        "hidden_size": 1024,
        "attention_heads": 16,
        "kv_heads": 4,
        "head_dim": 64,
        "params_b": 4.0,
        "active_params_b": 1.0,
        "experts": 8,
        "active_experts": 2,
        "max_context": 8192,
        "source": "test",
    }
    archs.write_text(json.dumps({"architectures": [arch]}))
    hardware.load_architectures(archs)
    fit = hardware.hardware_fit("tiny-moe", "my-mac")
    # A user's memory_gb is binary too, as vendors quote it: 64 GiB at 0.75 usable.
    assert fit.fits and fit.memory_available_gb == pytest.approx(48 * 2**30 / 1e9)


# --- Validation against measured runs -------------------------------------------------------


def test_shipped_class_factors_come_from_the_documented_fit():
    fitted = hardware_calibration.calibrate()
    for klass in hardware.list_device_classes():
        again = fitted[klass.id]
        for name in ("decode_efficiency", "overhead_ms", "prefill_efficiency"):
            assert getattr(again, name) == pytest.approx(getattr(klass, name), abs=1e-4), name


def test_the_calibration_says_what_it_wrote_and_rewrites_the_shipped_table_unchanged(
    tmp_path, monkeypatch, caplog
):
    shipped = hardware.DATA_DIR
    copy = tmp_path / "data"
    shutil.copytree(shipped, copy)
    monkeypatch.setattr(hardware, "DATA_DIR", copy)
    caplog.set_level(logging.INFO, logger="shoal.hardware_calibration")
    try:
        assert hardware_calibration.main(["--write"]) == 0
    finally:
        monkeypatch.undo()
        hardware.reset_tables()

    messages = [record.getMessage() for record in caplog.records]
    assert messages[-1] == f"wrote the fit of 7 device classes to {copy / 'devices.json'}"
    assert any("fitted on 3 rows (efficiency; overhead fixed); prefill from 1 row" in message
               for message in messages)
    # The shipped factors and sources are what the documented fit writes.
    assert (copy / "devices.json").read_bytes() == (shipped / "devices.json").read_bytes()


def test_no_prefill_range_passes_the_compute_peak():
    # apple_silicon's prefill reached 2.48 of the peak, fitted on the M5 Max run with Neural
    # Accelerators that the GPU-shader profile cannot model: an M4 Pro's 8B prefill ranged up
    # to 1,330 tokens/s, where all of its 9.2 TFLOPS give 537.
    fit = hardware.hardware_fit("llama-3.1-8b-instruct", "apple-m4-pro")
    assert fit.prefill_tokens_per_s_high <= 9.2e12 / (2 * 8.03e9 + 4 * 32 * 128 * 32 * 2048)
    assert all(k.prefill_efficiency_high <= 1.0 for k in hardware.list_device_classes())

    # The fit keeps every end at most 1 even with that run put back in.
    rows = [{**row, "include": True} if row["id"].endswith("-neural-accelerators") else row
            for row in hardware.measured_rows()]
    apple = hardware_calibration.calibrate(rows)["apple_silicon"]
    assert apple.prefill_efficiency_low <= apple.prefill_efficiency
    assert apple.prefill_efficiency <= apple.prefill_efficiency_high == 1.0


def test_rows_the_profile_cannot_model_are_left_out_of_the_fit():
    excluded = {row["id"]: row for row in hardware.measured_rows() if not row.get("include", True)}
    assert "Neural Accelerators" in excluded[
        "scoreboard-apple-m5-max-neural-accelerators"]["excluded_because"]
    assert "scoreboard-apple-m5-max-neural-accelerators" in dict(hardware.validate().excluded)


def test_a_class_without_an_overhead_prior_is_refused_by_name_when_it_needs_one():
    config = dict(hardware_calibration._class_configs()["datacenter_gpu"])
    config.pop("overhead_prior_ms", None)
    config.pop("overhead_prior_from", None)

    # No measured rows: the overhead can only come from a prior, and there is none.
    with pytest.raises(ValueError, match="'datacenter_gpu' needs an overhead prior"):
        hardware_calibration._fit_class(config, [], None)


def test_validation_mdape_against_measured_decode():
    report = hardware.validate()
    out_of_sample = hardware.validate(leave_one_out=True)
    print(
        f"\ndecode MdAPE {report.decode_mdape:.1f} % in-sample, "
        f"{out_of_sample.decode_mdape:.1f} % leave-one-out, over {len(report.rows)} rows; "
        f"MAPE {report.decode_mape:.1f} %; prefill MdAPE {report.prefill_mdape:.1f} %; "
        f"measured inside range {report.within_range_fraction:.0%}; energy MdAPE "
        f"{report.energy_mdape:.1f} %, inside {report.energy_within_range_fraction:.0%}"
    )
    for klass, error in report.decode_mdape_by_class.items():
        print(f"  {klass:15s} {error:5.1f} %")

    assert len(report.rows) >= 40
    assert report.excluded and all(reason for _, reason in report.excluded)
    # Measured on 2026-12-04: 3.9 % in-sample, 5.7 % leave-one-out, 86 % / 78 % of rows inside
    # the range (5.3 %, 6.7 %, 88 %, 80 % with the M5 Max run on Neural Accelerators fitted;
    # 6.7 %, 8.4 %, 82 %, 70 % before MXFP4's always-read tensors were modelled).
    assert report.decode_mdape <= 6.0
    assert out_of_sample.decode_mdape <= 7.5
    assert report.within_range_fraction >= 0.85
    assert out_of_sample.within_range_fraction >= 0.75
    assert all(math.isfinite(row.error_pct) for row in report.rows)


def test_validation_checks_energy_and_prefill_against_their_ranges():
    report = hardware.validate()
    powered = {row["id"] for row in hardware.measured_rows()
               if row.get("include", True) and row.get("measured_power_w")}
    checked = {row.id: row.energy for row in report.rows if row.energy is not None}
    assert set(checked) == powered and len(powered) == 6

    # Measured: the run's watts over its tokens per second; predicted: the fit at its context.
    gpt = checked["m3ultra-ollama-gpt-oss-20b"]
    assert gpt.measured_joules_per_token == pytest.approx(227 / 115.29)
    fit = hardware.hardware_fit("gpt-oss-20b", "apple-m3-ultra", quantisation="MXFP4",
                                context_tokens=512)
    assert (gpt.predicted_low, gpt.predicted_joules_per_token, gpt.predicted_high) == (
        fit.joules_per_token_low, fit.joules_per_token, fit.joules_per_token_high)
    assert gpt.within_range
    assert report.energy_within_range_fraction == pytest.approx(
        sum(check.within_range for check in checked.values()) / 6)
    assert report.energy_mdape is not None and report.energy_mdape < 15

    prefill = [row for row in report.rows if row.prefill_within_range is not None]
    assert prefill and report.prefill_within_range_fraction == pytest.approx(
        sum(bool(row.prefill_within_range) for row in prefill) / len(prefill))
    for row in prefill:
        assert row.predicted_prefill_low <= row.predicted_prefill_tokens_per_s
        assert row.predicted_prefill_tokens_per_s <= row.predicted_prefill_high


def test_always_read_parameters_fix_the_moe_rows():
    # gpt-oss keeps attention and the output projection (1.545 B of 5.13 B active) outside
    # MXFP4; llama.cpp's file stores them at about 9.2 bits.
    fit = hardware.hardware_fit("gpt-oss-120b", "dgx-spark", quantisation="MXFP4")
    raw = _core.estimate_inference(
        **hardware.model_keywords(hardware.get_architecture("gpt-oss-120b")),
        **hardware.device_keywords(
            hardware.get_device("dgx-spark"), hardware.get_quantisation("MXFP4")
        ),
        bits_per_weight=4.34,
        dense_bits_per_weight=9.2,
        context_tokens=4096,
    )
    assert raw["bytes_per_step_gb"] == pytest.approx(
        (5.13 - 1.545) * 4.34 / 8 + 1.545 * 9.2 / 8 + raw["kv_cache_gb"]
    )
    assert fit.decode_tokens_per_s == raw["decode_tokens_per_s"]
    moe_rows = [
        row
        for row in hardware.validate(leave_one_out=True).rows
        if hardware.get_architecture(row.model).is_moe
    ]
    errors = sorted(abs(row.error_pct) for row in moe_rows)
    assert errors[len(errors) // 2] < 12.0  # 17.8 % before the change


def test_mxfp4_keeps_the_always_read_weights_apart_only_where_the_model_says_so():
    # Qwen3-30B-A3B read its 1.49 B always-read parameters at gpt-oss's 9.2 bits while memory
    # counted them at 4.34, and decoded slower in MXFP4 (220.5 tok/s) than in Q4_K_M (269.1).
    mxfp4 = hardware.get_quantisation("MXFP4")
    qwen, gpt_oss = (hardware.get_architecture(m) for m in ("qwen3-30b-a3b", "gpt-oss-120b"))
    fit = hardware.hardware_fit("qwen3-30b-a3b", "rtx-4090", quantisation="mxfp4")
    q4 = hardware.hardware_fit("qwen3-30b-a3b", "rtx-4090", quantisation="Q4_K_M")
    raw = _core.estimate_inference(
        **hardware.model_keywords(qwen),
        **hardware.device_keywords(hardware.get_device("rtx-4090"), mxfp4),
        bits_per_weight=4.34,
        context_tokens=4096,
    )

    assert hardware.format_keywords(mxfp4, qwen)["dense_bits_per_weight"] == 4.34
    assert raw["bytes_per_step_gb"] == pytest.approx(3.3 * 4.34 / 8 + raw["kv_cache_gb"])
    assert raw["weights_gb"] == pytest.approx(30.5 * 4.34 / 8)
    assert fit.decode_tokens_per_s == raw["decode_tokens_per_s"]
    assert fit.decode_tokens_per_s > q4.decode_tokens_per_s
    assert gpt_oss.dense_bits_formats == ("MXFP4",) and qwen.dense_bits_formats == ()
    assert hardware.format_keywords(mxfp4, gpt_oss)["dense_bits_per_weight"] == 9.2
    assert hardware.format_keywords(hardware.get_quantisation("Q8_0"), gpt_oss) == {
        "bits_per_weight": 8.5, "dense_bits_per_weight": 8.5
    }


@pytest.mark.parametrize(
    ("model", "quantisation", "bits", "dense_bits"),
    [("qwen3-30b-a3b", "MXFP4", 4.34, 4.34), ("gpt-oss-20b", "MXFP4", 4.34, 9.2),
     ("gpt-oss-20b", "Q4_K_M", 4.89, 4.89)],
)
def test_every_surface_reads_a_model_in_one_weight_layout(model, quantisation, bits, dense_bits):
    expected = _core.estimate_inference(
        **hardware.model_keywords(hardware.get_architecture(model)),
        **hardware.device_keywords(hardware.get_device("h100-sxm"),
                                   hardware.get_quantisation(quantisation)),
        bits_per_weight=bits, dense_bits_per_weight=dense_bits, context_tokens=4096,
    )
    fit = hardware.hardware_fit(model, "h100-sxm", quantisation=quantisation)
    rows = hardware.sweep([model, "llama-3.1-8b-instruct"], ["h100-sxm"],
                          quantisations=[quantisation])
    (point,) = hardware.pareto_front([model], ["h100-sxm"], quantisations=[quantisation]).points
    # With no SRAM to pin weights in, a port's "before" is the device as it is.
    (ported,) = hardware.port_chip("h100-sxm", to_node="n2", models=[model],
                                   quantisation=quantisation, sram_mb=0).inference

    for decode in (fit.decode_tokens_per_s, rows.decode_tokens_per_s[0],
                   point.decode_tokens_per_s, ported.decode_tokens_per_s_before):
        assert decode == expected["decode_tokens_per_s"]
    assert fit.memory_needed_gb == ported.memory_needed_gb == expected["memory_needed_gb"]


# --- Pareto sweep -----------------------------------------------------------------------------


def _random_pareto_inputs(rng: random.Random) -> dict:
    cases = [_random_case(rng) for _ in range(5)]
    models = [{k: c[k] for k in _pure.hardware.MODEL_FIELDS} for c in cases[:3]]
    devices = []
    for case in cases[:4]:
        device = {k: case[k] for k in _pure.hardware.DEVICE_FIELDS}
        device["int8_tflops"] = device["tflops"] * rng.choice([1.0, 2.0])
        device["memory_gb"] = rng.uniform(16.0, 1500.0)  # so that some configurations fit
        if rng.random() < 0.75:
            device.update({f"node_{k}": rng.uniform(0.5, 4.0) for k in _NODE_NAMES})
        devices.append(device)
    return {
        "models": models,
        "devices": devices,
        "formats": [
            {"bits_per_weight": 4.89, "int8_kernels": 1.0},
            {"bits_per_weight": 4.34, "dense_bits_per_weight": 9.2},
            {"bits_per_weight": 16.0, "int8_kernels": 0.0},
        ],
        "context_tokens": [512.0, 8192.0, 65536.0],
        "nodes": [None, {k: rng.uniform(0.5, 8.0) for k in _NODE_NAMES}],
        "mode": rng.choice(["iso-power", "iso-performance", "iso-area"]),
        "batch": rng.choice([1.0, 4.0]),
    }


def test_pareto_sweep_parity_is_exact():
    rng = random.Random(11)
    for _ in range(25):
        kwargs = _random_pareto_inputs(rng)
        rust, python = _core.pareto_sweep(**kwargs), _pure.pareto_sweep(**kwargs)
        assert rust == python, kwargs


@pytest.mark.parametrize("backend", BACKENDS)
def test_pareto_front_is_exactly_the_non_dominated_fitting_configurations(backend):
    rng = random.Random(5)
    kwargs = _random_pareto_inputs(rng)
    kwargs["mode"] = "iso-area"
    result = backend.pareto_sweep(**kwargs)

    # Brute force: port and estimate every configuration one by one.
    everything = []
    for m, model in enumerate(kwargs["models"]):
        for d, device in enumerate(kwargs["devices"]):
            for n, target in enumerate(kwargs["nodes"]):
                own = {k: device[f"node_{k}"] for k in _NODE_NAMES if f"node_{k}" in device}
                if target is not None and not own:
                    continue
                for f, form in enumerate(kwargs["formats"]):
                    peak = device["int8_tflops"] if form.get("int8_kernels") else device["tflops"]
                    plain = {k: device[k] for k in _pure.hardware.DEVICE_FIELDS}
                    if target is None:
                        ported = {**plain, "tflops": peak}
                    else:
                        scaling = _pure.scale_chip(
                            mode="iso-area",
                            sram_area_fraction=0.3,
                            **{f"from_{k}": v for k, v in own.items()},
                            **{f"to_{k}": v for k, v in target.items()},
                        )
                        ported = _pure.hardware.port_device(plain, peak, scaling)
                    for c, context in enumerate(kwargs["context_tokens"]):
                        e = _pure.estimate_inference(
                            **model,
                            **ported,
                            bits_per_weight=form["bits_per_weight"],
                            dense_bits_per_weight=form.get("dense_bits_per_weight"),
                            context_tokens=context,
                            batch=kwargs["batch"],
                        )
                        if e["fits"]:
                            speed, joules = e["decode_tokens_per_s"], e["joules_per_token"]
                            everything.append(((m, d, n, f, c), speed, joules))

    def dominated(index, speed, joules):
        return any(
            (s >= speed and j <= joules and (s > speed or j < joules))
            or (s == speed and j == joules and other < index)
            for other, s, j in everything
        )

    expected = {index for index, s, j in everything if not dominated(index, s, j)}
    columns = ("model_index", "device_index", "node_index", "format_index", "context_index")
    got = set(zip(*(result[name] for name in columns), strict=True))
    assert result["fitting"] == len(everything)
    assert got == expected and expected
    joules = result["joules_per_token"]
    speeds = result["decode_tokens_per_s"]
    assert joules == sorted(joules) and speeds == sorted(speeds)


@pytest.mark.parametrize("backend", BACKENDS)
def test_pareto_sweep_refuses_bad_inputs(backend):
    kwargs = _random_pareto_inputs(random.Random(2))
    with pytest.raises(ValueError, match="mode must be"):
        backend.pareto_sweep(**{**kwargs, "mode": "iso-cost"})
    bad_node = {**kwargs["nodes"][1], "perf_iso_power": float("nan")}
    with pytest.raises(ValueError, match="perf_iso_power"):
        backend.pareto_sweep(**{**kwargs, "nodes": [None, bad_node]})
    with pytest.raises(ValueError, match="context_tokens"):
        backend.pareto_sweep(**{**kwargs, "context_tokens": [512.0, 0.0]})
    with pytest.raises(ValueError, match="dense_bits_per_weight"):
        backend.pareto_sweep(
            **{**kwargs, "formats": [{"bits_per_weight": 4.0, "dense_bits_per_weight": -1.0}]}
        )
    partial = {**kwargs["devices"][0]}
    partial.pop("node_sram_density", None)
    partial["node_logic_density"] = 1.0
    with pytest.raises(ValueError, match="node_sram_density"):
        backend.pareto_sweep(**{**kwargs, "devices": [partial]})


@pytest.mark.parametrize("empty", ["models", "devices", "quantisations", "contexts"])
def test_sweep_refuses_an_empty_list_naming_it(empty):
    # An empty list would give zero rows, as if nothing fitted.
    lists = {"models": ["llama-3.2-1b-instruct"], "devices": ["rtx-4090"],
             "quantisations": ["Q4_K_M"], "contexts": [4096]}

    with pytest.raises(hardware.ParameterError, match=f"^{empty} must not be empty$"):
        hardware.sweep(**{**lists, empty: []})


@pytest.mark.parametrize(
    ("repeated", "message"),
    [
        ({"models": ["qwen3-8b", "Qwen3-8B"]}, "models names qwen3-8b (as qwen3-8b, Qwen3-8B)"),
        ({"devices": ["rtx-4090", "rtx-4090"]}, "devices names rtx-4090 more"),
        ({"quantisations": ["Q4_K_M", "q4_k"]}, "quantisations names Q4_K_M (as Q4_K_M, q4_k)"),
        ({"contexts": [4096, 8192, 4096]}, "contexts names 4096 more"),
    ],
)
def test_sweeps_refuse_an_item_named_twice_by_its_canonical_id(repeated, message):
    # A repeat would be estimated twice; it is more often a slip for another id.
    lists = {"models": ["qwen3-8b"], "devices": ["rtx-4090"], "quantisations": ["Q4_K_M"],
             "contexts": [4096], **repeated}

    with pytest.raises(hardware.ParameterError, match=re.escape(message)):
        hardware.sweep(**lists)
    with pytest.raises(hardware.ParameterError, match=re.escape(message)):
        hardware.pareto_front(**lists)


def test_pareto_front_refuses_a_node_named_twice_as_built_or_not():
    with pytest.raises(hardware.ParameterError, match=r"^nodes names as-built more than once"):
        hardware.pareto_front(["qwen3-8b"], ["rtx-4090"], nodes=[None, "n2", hardware.AS_BUILT])
    with pytest.raises(hardware.ParameterError, match=r"^nodes names n2 \(as n2, N2\) more"):
        hardware.pareto_front(["qwen3-8b"], ["rtx-4090"], nodes=["n2", "N2"])


def test_pareto_front_refuses_a_mode_with_no_node_to_port_to():
    with pytest.raises(hardware.ParameterError) as refused:
        hardware.pareto_front(["qwen3-8b"], ["rtx-4090"], mode="iso-area")

    assert str(refused.value) == (
        "mode iso-area is how a node change is spent, and no node is changed (as-built only): "
        "add a node to nodes, or leave mode out"
    )
    # Left out, the mode is iso-power, with or without a node change.
    assert hardware.pareto_front(["qwen3-8b"], ["rtx-4090"]).mode == "iso-power"
    ported = hardware.pareto_front(["qwen3-8b"], ["apple-m4-pro"], nodes=["n2"])
    assert ported.mode == "iso-power" and ported.evaluated == 1


def test_pareto_front_that_can_port_no_device_says_why():
    with pytest.raises(hardware.ParameterError) as refused:
        hardware.pareto_front(["qwen3-8b"], ["rtx-3090"], nodes=["nanostack-claimed"])

    assert refused.value.parameter == "nodes"
    assert str(refused.value).startswith(
        "nodes name only nodes to port to (nanostack-claimed), and rtx-3090 has no known process "
        "node to port from, so nothing was estimated: add as-built to the nodes"
    )
    # One device with a node is enough for an answer; the other is skipped and counted.
    front = hardware.pareto_front(["qwen3-8b"], ["rtx-3090", "apple-m4-pro"], nodes=["n2"])
    assert (front.evaluated, front.skipped) == (1, 1)


def test_the_python_api_table_names_what_the_sweep_hardware_tool_calls():
    import shoal
    from shoal import server

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    named = re.search(r"\| `sweep_hardware` \| `(\w+)` \|", readme)

    assert named is not None and named.group(1) in shoal.__all__
    assert getattr(shoal, named.group(1)) is server.pareto_front


def test_public_pareto_front_as_built_matches_hardware_fit():
    front = hardware.pareto_front(
        ["llama-3.2-1b-instruct", "llama-3.1-8b-instruct", "llama-3.1-70b-instruct"],
        ["iphone-16-pro", "apple-m4-pro", "rtx-4090", "h100-sxm"],
        quantisations=["Q4_K_M", "Q8_0"],
        contexts=[2048, 32768],
    )
    assert front.evaluated == 3 * 4 * 2 * 2 and front.skipped == 0
    assert 0 < front.fitting < front.evaluated
    assert front.points and all(p.margin_gb >= 0 for p in front.points)
    for point in front.points:
        fit = hardware.hardware_fit(
            point.model,
            point.device,
            quantisation=point.quantisation,
            context_tokens=point.context_tokens,
        )
        assert fit.fits
        assert point.decode_tokens_per_s == fit.decode_tokens_per_s
        assert point.joules_per_token == fit.joules_per_token
        assert point.node == hardware.AS_BUILT


def test_porting_on_the_front_saves_energy_and_skips_unknown_nodes():
    models = ["llama-3.2-1b-instruct", "llama-3.1-8b-instruct"]
    devices = ["apple-m4-pro", "rtx-3090", "h100-sxm"]  # the RTX 3090's node is not in the table
    as_built = hardware.pareto_front(models, devices)
    ported = hardware.pareto_front(
        models, devices, nodes=[None, "nanostack-claimed"], mode="iso-performance"
    )
    assert ported.skipped == 2  # two models on the RTX 3090 at nanostack
    assert ported.evaluated == 2 * 3 * 2 - 2
    assert ported.points[0].joules_per_token < as_built.points[0].joules_per_token
    assert ported.points[0].node == "nanostack-claimed"
    assert any("rtx-3090" in note for note in ported.notes)

    # iso-power spends the node on speed: DRAM-bound decode and its energy stay as they were.
    same = hardware.pareto_front(models, ["apple-m4-pro"], nodes=["n2"], mode="iso-power")
    before = hardware.pareto_front(models, ["apple-m4-pro"])
    assert [p.decode_tokens_per_s for p in same.points] == pytest.approx(
        [p.decode_tokens_per_s for p in before.points]
    )

    with pytest.raises(hardware.ParameterError,
                       match=r"^nodes names process node 'intel-18a', which has no performance"):
        hardware.pareto_front(models, devices, nodes=["intel-18a"])
    with pytest.raises(hardware.UnknownNodeError, match="nanostack-claimed"):
        hardware.pareto_front(models, devices, nodes=["nanostak"])
    with pytest.raises(TypeError, match="list of ids"):
        hardware.pareto_front("llama-3.1-8b-instruct", devices)
    with pytest.raises(ValueError, match="must not be empty"):
        hardware.pareto_front(models, [])


def test_pareto_front_is_identical_on_both_backends(monkeypatch):
    kwargs = {
        "quantisations": ["Q4_K_M", "MXFP4", "BF16"],
        "contexts": [4096, 65536],
        "nodes": [None, "n2", "nanostack-conservative"],
        "mode": "iso-area",
        "pin_sram": True,
    }
    rust = hardware.pareto_front(["gpt-oss-20b", "gemma-3-4b-it"], None, **kwargs)
    monkeypatch.setattr(hardware, "core", _pure)
    python = hardware.pareto_front(["gpt-oss-20b", "gemma-3-4b-it"], None, **kwargs)
    assert asdict(rust) == asdict(python)


# --- What a node change does to inference ---------------------------------------------------


def test_port_reports_sram_residency_speed_and_energy():
    small = ["gemma-3-1b-it", "llama-3.2-1b-instruct", "llama-3.1-8b-instruct"]
    chip = hardware.port_chip(
        "iphone-16-pro", to_node="nanostack-claimed", mode="iso-area", sram_mb=400, models=small
    )
    assert chip.sram_mb == pytest.approx(400 * 2.571428571428571 / 1.2857142857142856)
    rows = {row.model: row for row in chip.inference}
    gemma = rows["gemma-3-1b-it"]
    assert gemma.resident and gemma.sram_resident_fraction_after == 1.0
    # 400 MB of SRAM is 400 MiB, as cache sizes are quoted (the RTX 4090's 72 MB of L2 is 72 MiB).
    assert gemma.sram_resident_fraction_before == pytest.approx(
        400 * 2**20 / 1e9 / gemma.resident_set_gb
    )
    assert gemma.decode_tokens_per_s_after > gemma.decode_tokens_per_s_before
    assert gemma.joules_per_token_after < gemma.joules_per_token_before
    assert not rows["llama-3.2-1b-instruct"].resident
    assert not rows["llama-3.1-8b-instruct"].fits  # 8 GB phone

    # The same configuration on the Pareto path gives the same figures.
    front = hardware.pareto_front(
        ["gemma-3-1b-it"], ["h100-sxm"], nodes=["nanostack-claimed"], mode="iso-area", pin_sram=True
    )
    h100 = hardware.port_chip(
        "h100-sxm", to_node="nanostack-claimed", mode="iso-area", models=["gemma-3-1b-it"]
    )
    assert front.points[0].decode_tokens_per_s == h100.inference[0].decode_tokens_per_s_after
    assert front.points[0].joules_per_token == h100.inference[0].joules_per_token_after


@pytest.mark.parametrize(("sram_mb", "shown"), [
    # 5e-324 was written as 0.0000000000000000...0000000000000000005.
    (5e-324, "(5e-324 MB)"), (1.5e-7, "(1.5e-07 MB)"), (0.004, "(0.004 MB)"), (12.0, "(12 MB)"),
])
def test_a_ported_chip_shows_a_tiny_sram_figure_in_two_significant_digits(sram_mb, shown):
    from shoal import render

    chip = hardware.port_chip("h100-sxm", to_node="nanostack-claimed", sram_mb=sram_mb)

    assert f"SRAM capacity x1.00 {shown}," in render.ported_chip(chip)


def test_port_without_sram_changes_energy_not_dram_bound_speed():
    chip = hardware.port_chip(
        "apple-m4-pro", to_node="nanostack-claimed", mode="iso-performance", models=None
    )
    assert len(chip.inference) == len(hardware.list_architectures())
    assert any("sram_mb" in note for note in chip.notes)
    for row in chip.inference:
        assert row.sram_resident_fraction_after == 0.0
        assert row.decode_tokens_per_s_after == row.decode_tokens_per_s_before
        assert row.joules_per_token_after < row.joules_per_token_before
    described = hardware.port_chip(
        hardware.Chip(name="npu", node="n3e", power_w=5.0, performance_tflops=20.0),
        to_node="nanostack-claimed",
    )
    assert described.inference == ()
    with pytest.raises(ValueError, match="sram_mb"):
        hardware.port_chip("apple-m4-pro", to_node="n2", sram_mb=-1)


# --- SVG plot -----------------------------------------------------------------------------------


def test_pareto_svg_is_well_formed_and_deterministic():
    import xml.etree.ElementTree as ElementTree

    from shoal.hardware_plot import pareto_svg

    front = hardware.pareto_front(
        ["llama-3.2-1b-instruct", "gpt-oss-20b"],
        ["apple-m4-pro", "rtx-4090", "h100-sxm", "iphone-16-pro"],
        quantisations=["Q4_K_M", "MXFP4"],
        nodes=[None, "nanostack-claimed"],
        mode="iso-performance",
    )
    svg = pareto_svg(front)
    assert svg == pareto_svg(front)
    root = ElementTree.fromstring(svg)
    namespace = "{http://www.w3.org/2000/svg}"
    points = [c for c in root.iter(f"{namespace}circle") if c.find(f"{namespace}title") is not None]
    assert len(points) == len(front.points)
    # Speed rises along the front: higher points sit higher on the page (smaller y).
    heights = [float(c.get("cy")) for c in points]
    assert heights == sorted(heights, reverse=True)
    assert "nanostack-claimed" in svg and "energy per token" in svg

    empty = hardware.pareto_front(["llama-3.1-70b-instruct"], ["iphone-16-pro"])
    with pytest.raises(ValueError, match="front is empty"):
        pareto_svg(empty)


def test_pareto_svg_titles_one_model_device_and_node_in_the_singular():
    from shoal.hardware_plot import pareto_svg

    one = pareto_svg(hardware.pareto_front(["llama-3.2-1b-instruct"], ["rtx-4090"]))
    many = pareto_svg(hardware.pareto_front(["llama-3.2-1b-instruct", "qwen3-8b"],
                                            ["rtx-4090", "h100-sxm"],
                                            nodes=[None, "nanostack-claimed"]))

    assert "(1 model, 1 device, 1 node)" in one
    assert "(2 models, 2 devices, 2 nodes)" in many


def test_a_hugging_face_repository_names_its_architecture():
    by_repo = hardware.get_architecture("meta-llama/Llama-3.1-8B-Instruct")

    assert by_repo is hardware.get_architecture("llama-3.1-8b-instruct")
    assert hardware.get_architecture(" META-LLAMA/llama-3.1-8b-instruct ") is by_repo
    with pytest.raises(hardware.UnknownNameError, match="unknown model 'meta-llama/nope'"):
        hardware.get_architecture("meta-llama/nope")


@pytest.mark.parametrize("address", [
    "https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct",
    "huggingface.co/meta-llama/Llama-3.1-8B-Instruct/tree/main",
    "https://hf.co/meta-llama/Llama-3.1-8B-Instruct?library=transformers",
    "https://www.huggingface.co/meta-llama/llama-3.1-8b-instruct/",
    "HTTPS://HuggingFace.co/meta-llama/Llama-3.1-8B-Instruct",
    "https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct.git",
    "hf.co/meta-llama/Llama-3.1-8B-Instruct:Q4_K_M",  # as Ollama names it
])
def test_a_hugging_face_page_address_names_its_architecture(address):
    assert hardware.get_architecture(address).id == "llama-3.1-8b-instruct"


@pytest.mark.parametrize("address", [
    "https://huggingface.co/meta-llama",
    "https://example.com/meta-llama/Llama-3.1-8B-Instruct",
])
def test_an_address_that_is_not_a_model_page_stays_unknown(address):
    with pytest.raises(hardware.UnknownNameError, match="unknown model"):
        hardware.get_architecture(address)


def test_a_batch_says_its_summed_speed_and_what_time_to_first_token_means():
    fit = hardware.hardware_fit("llama-3.1-8b-instruct", "h100-sxm", batch=16)
    notes = " ".join(fit.notes)

    assert f"({fit.decode_batch_tokens_per_s:,.0f} tok/s summed)" in notes
    assert fit.decode_batch_tokens_per_s > 1
    assert "16 prompts arriving together take up to 16x as long to prefill" in notes
    single = hardware.hardware_fit("llama-3.1-8b-instruct", "h100-sxm")
    assert "batch of" not in " ".join(single.notes)


@pytest.mark.parametrize(("spelling", "format_id"), [
    # Each but Q4_K was refused: INT4 worked while INT4_AWQ, its own id with '_', did not.
    ("int4_awq", "INT4-AWQ"), ("Int4-Gptq", "INT4-GPTQ"), ("int4_gptq", "INT4-GPTQ"),
    ("q4-k-m", "Q4_K_M"), ("Q4-K", "Q4_K_M"), ("mxfp4_moe", "MXFP4"), ("q8-0", "Q8_0"),
])
def test_a_weight_format_is_found_in_any_case_with_dash_or_underscore(spelling, format_id):
    assert hardware.get_quantisation(spelling).id == format_id


def test_a_fit_says_which_format_an_alias_was_read_as():
    # INT4 silently meant INT4-AWQ, though INT4-GPTQ is as much an INT4 format.
    by_alias = hardware.hardware_fit("llama-3.1-8b-instruct", "rtx-4090", quantisation="int4")
    by_id = hardware.hardware_fit("llama-3.1-8b-instruct", "rtx-4090", quantisation="int4_awq")

    assert by_alias.quantisation == by_id.quantisation == "INT4-AWQ"
    assert by_alias.notes[-1] == "format 'int4' read as INT4-AWQ"
    assert by_alias.notes[:-1] == by_id.notes
    assert not any("read as" in note for note in by_id.notes)


@pytest.mark.parametrize("spelling", ["q8-0", "Q4-0", "fp16"])
def test_a_kv_cache_type_is_found_in_any_case_with_dash_or_underscore(spelling):
    assert hardware.kv_cache_bits(spelling) == hardware.kv_cache_bits(
        {"q8-0": "Q8_0", "Q4-0": "Q4_0", "fp16": "F16"}[spelling])


def test_a_kv_cache_type_of_none_is_the_default_as_a_quantisation_of_none_is():
    # None raised TypeError here, while quantisation=None beside it took the default.
    model, device = "llama-3.1-8b-instruct", "rtx-4090"
    fit = hardware.hardware_fit(model, device, quantisation=None, kv_cache_type=None)

    assert fit == hardware.hardware_fit(model, device)
    assert fit.kv_cache_type == hardware.DEFAULT_KV_CACHE_TYPE
    assert hardware.pareto_front([model], [device], kv_cache_type=None) == (
        hardware.pareto_front([model], [device]))
    assert hardware.sweep([model], [device], kv_cache_type=None) == (
        hardware.sweep([model], [device]))


def test_a_sweep_with_quantisations_of_none_takes_the_default_format():
    # None swept no format at all and was refused for its nodes, which were not at fault.
    front = hardware.pareto_front(["qwen3-8b"], ["rtx-4090"], quantisations=None)

    assert front == hardware.pareto_front(["qwen3-8b"], ["rtx-4090"])
    assert front.quantisations == (hardware.DEFAULT_QUANTISATION,)


def test_an_unknown_kv_cache_type_lists_each_choice_with_its_bits():
    # INT8 got "no close match" and the ids alone, which do not say which of them is 8 bits.
    with pytest.raises(hardware.UnknownQuantisationError) as refused:
        hardware.kv_cache_bits("INT8")

    assert str(refused.value) == (
        "unknown KV-cache type 'INT8'; no close match; choose among F16 (16 bits), "
        "BF16 (16 bits), FP8 (8 bits), Q8_0 (8.5 bits), Q4_0 (4.5 bits)"
    )


def test_a_batch_summed_below_one_token_per_second_keeps_its_digits_in_the_note():
    # Past any memory, the whole batch crawls: rounded to whole tokens it read as a standstill.
    fit = hardware.hardware_fit("qwen3-30b-a3b", "dgx-spark", context_tokens=10_000_000,
                                 batch=4096)
    (note,) = [n for n in fit.notes if n.startswith("batch of")]

    assert 0.1 < fit.decode_batch_tokens_per_s < 1
    assert f"({fit.decode_batch_tokens_per_s:.2g} tok/s summed)" in note
    assert "(0 tok/s summed)" not in note


def test_a_sweep_says_whether_devices_without_a_node_were_taken_as_built_or_left_out():
    def note(nodes: list[str]) -> str:
        front = hardware.pareto_front(
            ["llama-3.1-8b-instruct"], ["rtx-3090", "rtx-4090"], nodes=nodes
        )
        (line,) = [n for n in front.notes if n.startswith("no node known")]
        return line

    assert note(["as-built", "nanostack-claimed"]) == (
        "no node known, so only taken as built: rtx-3090"
    )
    assert note(["nanostack-claimed"]) == (
        "no node known, so left out (as-built not swept): rtx-3090"
    )


def test_a_sweep_where_nothing_fits_says_what_even_its_likeliest_fit_needs():
    front = hardware.pareto_front(["deepseek-v3", "llama-3.1-70b-instruct"],
                                  ["rtx-4090", "iphone-16-pro"], quantisations=["Q8_0", "Q4_K_M"])
    need = hardware.hardware_fit("llama-3.1-70b-instruct", "rtx-4090", quantisation="Q4_K_M")

    assert front.fitting == 0 and front.points == ()
    assert front.notes[-1] == (
        "nothing fits in memory: even llama-3.1-70b-instruct at Q4_K_M with 4,096 tokens of "
        f"context on rtx-4090 needs {need.memory_needed_gb:,.1f} GB of "
        f"{need.memory_available_gb:,.1f} GB; try smaller models or formats, shorter contexts "
        "or devices with more memory"
    )
    fitting = hardware.pareto_front(["qwen3-8b"], ["rtx-4090"])
    assert not any(note.startswith("nothing fits") for note in fitting.notes)


def test_a_sweep_leaves_out_contexts_past_a_models_maximum_and_says_how_many():
    # llama-3-8b (8,192 tokens at most) was on the front at 131,072, without a word.
    front = hardware.pareto_front(["llama-3-8b", "qwen3-8b"], ["rtx-4090", "h100-sxm"],
                                  contexts=[4096, 131072], nodes=[None, "n2"])

    assert ("llama-3-8b", 131072) not in {(p.model, p.context_tokens) for p in front.points}
    assert front.beyond_max_context == 1 * 2 * 2 * 1
    assert front.evaluated + front.skipped + front.beyond_max_context == 2 * 2 * 2 * 2
    assert front.notes[-1] == ("4 configurations left out, not estimated: their context exceeds "
                               "the model's maximum (llama-3-8b 8,192)")
    within = hardware.pareto_front(["qwen3-8b"], ["rtx-4090"], contexts=[131072])
    assert within.beyond_max_context == 0
    assert not any("left out" in note for note in within.notes)


def test_a_sweep_whose_every_context_is_past_every_models_maximum_is_refused():
    with pytest.raises(hardware.ParameterError) as refused:
        hardware.pareto_front(["llama-3-8b", "phi-4"], ["rtx-4090"], contexts=[131072])

    assert refused.value.parameter == "contexts"
    assert refused.value.problem == ("all exceed the maximum context of every model: "
                                     "llama-3-8b 8,192, phi-4 16,384; nothing to estimate")


def test_sweep_rows_say_which_contexts_are_within_the_models_maximum():
    rows = hardware.sweep(["gemma-3-1b-it", "qwen3-8b"], ["rtx-4090"], contexts=[4096, 100000])

    assert list(zip(rows.model, rows.context_tokens, rows.within_max_context, strict=True)) == [
        ("gemma-3-1b-it", 4096, True), ("gemma-3-1b-it", 100000, False),
        ("qwen3-8b", 4096, True), ("qwen3-8b", 100000, True),
    ]


def _front_by_brute_force(rows: hardware.SweepResult) -> list[tuple]:
    """The non-dominated fitting rows within their model's maximum context, by rising energy:
    of equal points, the first in sweep order."""
    kept = [
        (rows.joules_per_token[i], -rows.decode_tokens_per_s[i], i)
        for i in range(len(rows.model)) if rows.fits[i] and rows.within_max_context[i]
    ]
    front, fastest = [], -math.inf
    for joules, negative_speed, i in sorted(kept):
        if -negative_speed > fastest:
            fastest = -negative_speed
            front.append((rows.model[i], rows.device[i], rows.quantisation[i],
                          rows.context_tokens[i], rows.decode_tokens_per_s[i], joules))
    return front


def test_a_front_over_models_of_different_layouts_and_maxima_is_the_whole_sweeps_front():
    # Four groups for the core: gpt-oss's own MXFP4 layout, and three maxima of context.
    lists = {
        "models": ["gpt-oss-20b", "qwen3-30b-a3b", "llama-3-8b", "gemma-3-1b-it", "phi-4"],
        "devices": ["rtx-4090", "apple-m4-pro", "h100-sxm", "iphone-16-pro"],
        "quantisations": ["MXFP4", "Q4_K_M", "Q8_0"],
        "contexts": [4096, 16384, 65536],
    }
    front = hardware.pareto_front(lists["models"], lists["devices"],
                                  **{k: lists[k] for k in ("quantisations", "contexts")})
    expected = _front_by_brute_force(hardware.sweep(**lists))

    assert [(p.model, p.device, p.quantisation, p.context_tokens, p.decode_tokens_per_s,
             p.joules_per_token) for p in front.points] == expected
    assert len(expected) > 3 and front.beyond_max_context == (2 + 1 + 1) * 4 * 3


def test_a_format_tag_of_an_ollama_address_sets_the_format():
    # The tag was dropped, and Q4_K_M estimated.
    tagged = hardware.hardware_fit("hf.co/Qwen/Qwen3-8B:Q8_0", "rtx-4090")

    assert tagged == hardware.hardware_fit("qwen3-8b", "rtx-4090", quantisation="Q8_0")
    assert hardware.hardware_fit("hf.co/Qwen/Qwen3-8B:q8", "rtx-4090").quantisation == "Q8_0"
    assert hardware.hardware_fit("hf.co/Qwen/Qwen3-8B:Q8_0", "rtx-4090",
                                 quantisation="q8_0") == tagged
    assert hardware.hardware_fit("huggingface.co/Qwen/Qwen3-8B:latest",
                                 "rtx-4090").quantisation == "Q4_K_M"
    assert hardware.address_format("qwen3-8b") is None


@pytest.mark.parametrize(
    ("call", "parameter", "message"),
    [
        (lambda: hardware.hardware_fit("hf.co/Qwen/Qwen3-8B:Q8_0", "rtx-4090",
                                       quantisation="Q4_K_M"),
         "quantisation", "quantisation Q4_K_M clashes with Q8_0, the format the tag of model "
         "'hf.co/Qwen/Qwen3-8B:Q8_0' names: give the format once, or the same in both"),
        (lambda: hardware.hardware_fit("hf.co/Qwen/Qwen3-8B:garbage", "rtx-4090"),
         "model", "unknown format tag ':garbage' in 'hf.co/Qwen/Qwen3-8B:garbage'; no close "
         "match; choose among BF16, FP16, FP8, INT4-AWQ, INT4-GPTQ, MXFP4, Q4_0, Q4_1, Q4_K_M, "
         "Q5_K_M, Q6_K, Q8_0"),
        (lambda: hardware.hardware_fit("hf.co/Qwen/Qwen3-8B:Q8_K", "rtx-4090"),
         "model", "unknown format tag ':Q8_K' in 'hf.co/Qwen/Qwen3-8B:Q8_K'; near matches: "
         "Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_1"),
        # A browser's address names no format: it would look for a repository "Qwen3-8B:Q8_0".
        (lambda: hardware.hardware_fit("https://huggingface.co/Qwen/Qwen3-8B:Q8_0", "rtx-4090"),
         "model", "unknown model 'https://huggingfa...Qwen/Qwen3-8B:Q8_0': a format tag "
         "(':Q8_0') ends only Ollama's address hf.co/OWNER/NAME:FORMAT, which has no https://; "
         "give that, or the page's address with the format as its own argument"),
        # Given no format, a port has the default one: the refusal says so, and names the
        # models, as the format is most likely not given (it named quantisation).
        (lambda: hardware.port_chip("rtx-4090", to_node="n2",
                                    models=["hf.co/Qwen/Qwen3-8B:Q8_0"]),
         "models", "models name 'hf.co/Qwen/Qwen3-8B:Q8_0', whose tag names Q8_0, while the "
         "format compared is Q4_K_M, the default when none is given: give Q8_0 as the format, "
         "or drop the tag"),
        (lambda: hardware.port_chip("rtx-4090", to_node="n2", quantisation="Q6_K",
                                    models=["hf.co/Qwen/Qwen3-8B:Q8_0"]),
         "quantisation", "quantisation Q6_K clashes with Q8_0, the format the tag of model "
         "'hf.co/Qwen/Qwen3-8B:Q8_0' names: drop the tag, or give the same format"),
        (lambda: hardware.pareto_front(["hf.co/Qwen/Qwen3-8B:Q8_0"], ["rtx-4090"]),
         "models", "models name 'hf.co/Qwen/Qwen3-8B:Q8_0', whose tag names Q8_0, while the "
         "format compared is Q4_K_M, the default when none is given: give Q8_0 as the format, "
         "or drop the tag"),
        (lambda: hardware.hardware_fit("hf.co/Qwen/Qwen3-8B:", "rtx-4090"),
         "model", "unknown model 'hf.co/Qwen/Qwen3-8B:': not the address of a model page, as "
         "the format tag after its ':' is empty; give https://huggingface.co/OWNER/NAME (with "
         "at most /tree/REVISION after it) or the repository id OWNER/NAME"),
        (lambda: hardware.pareto_front(["hf.co/Qwen/Qwen3-8B:Q8_0"], ["rtx-4090"],
                                       quantisations=["Q4_K_M", "Q6_K"]),
         "quantisations", "quantisations (Q4_K_M, Q6_K) leave out Q8_0, the format the tag of "
         "model 'hf.co/Qwen/Qwen3-8B:Q8_0' names: add it, or drop the tag"),
    ],
)
def test_a_format_tag_that_names_no_format_or_another_one_is_refused(call, parameter, message):
    with pytest.raises(hardware.UnknownNameError if parameter == "model"
                       else hardware.ParameterError) as refused:
        call()

    assert refused.value.parameter == parameter
    assert str(refused.value) == message


def test_a_sweep_takes_a_format_tag_among_its_formats():
    front = hardware.pareto_front(["hf.co/Qwen/Qwen3-8B:Q8_0"], ["rtx-4090"],
                                  quantisations=["Q4_K_M", "q8"])
    assert front.models == ("qwen3-8b",)


@pytest.mark.parametrize(("given", "canonical"),
                         [("fp16", "F16"), ("f16", "F16"), ("q8", "Q8_0"), ("Q4", "Q4_0"),
                          ("bf16", "BF16")])
def test_the_kv_cache_takes_the_names_its_weight_format_goes_by(given, canonical):
    # --quant took FP16 and Q8 while --kv-cache refused them.
    fit = hardware.hardware_fit("qwen3-8b", "rtx-4090", kv_cache_type=given)
    front = hardware.pareto_front(["qwen3-8b"], ["rtx-4090"], kv_cache_type=given)

    assert fit == hardware.hardware_fit("qwen3-8b", "rtx-4090", kv_cache_type=canonical)
    assert fit.kv_cache_type == front.kv_cache_type == canonical
    assert hardware.kv_cache_bits(given) == hardware.kv_cache_bits(canonical)


def test_a_kv_cache_name_no_format_goes_by_is_still_refused():
    with pytest.raises(hardware.UnknownQuantisationError,
                       match=r"^unknown KV-cache type 'q4_k_m'; near matches: Q4_0"):
        hardware.kv_cache_bits("q4_k_m")


@pytest.mark.parametrize("address", [
    # A browser takes each of these to another page than the model it starts with.
    "https://huggingface.co/Qwen/Qwen3-8B/../../meta-llama/Llama-3.1-8B-Instruct",
    "https://huggingface.co/Qwen/Qwen3-8B/tree/main/../../../meta-llama/Llama-3.1-8B-Instruct",
    "hf.co/Qwen/Qwen3-8B:Q4_K_M/../../meta-llama/Llama-3.1-8B-Instruct",
    "https://huggingface.co/Qwen/Qwen3-8B.git/../x",
    "https://huggingface.co/./Qwen/Qwen3-8B",
    "https://huggingface.co/Qwen/Qwen3-8B/.",
])
def test_a_page_address_with_dot_segments_is_refused_not_read_as_its_first_model(address):
    with pytest.raises(hardware.UnknownArchitectureError,
                       match=r"^unknown model '.*': not the address of a model page, as its "
                             r"path has a '\.' or '\.\.' segment"):
        hardware.get_architecture(address)


@pytest.mark.parametrize("address", [
    "https://huggingface.co/Qwen/Qwen3-8B/blob/main/config.json",
    "https://huggingface.co/Qwen/Qwen3-8B/%2e%2e/%2e%2e/meta-llama/Llama-3.1-8B-Instruct",
    "https://huggingface.co/Qwen/Qwen3-8B\\..\\..\\meta-llama\\Llama-3.1-8B-Instruct",
    "https://huggingface.co/Qwen//Qwen3-8B",
    "https://huggingface.co/Qwen/Qwen3-8B/discussions",
])
def test_a_hub_address_past_a_model_page_is_refused_saying_what_one_holds(address):
    with pytest.raises(hardware.UnknownArchitectureError,
                       match=r"not the address of a model page, as its path is not OWNER/NAME, "
                             r"or goes on past it; give https://huggingface.co/OWNER/NAME "
                             r"\(with at most /tree/REVISION after it\)"):
        hardware.get_architecture(address)


def test_a_query_or_fragment_after_a_model_page_is_no_part_of_its_path():
    # A browser keeps "/../" in a query or fragment as it is: the page is the model's.
    for address in ("https://huggingface.co/Qwen/Qwen3-8B?x=/../../meta-llama/Llama-3.1-8B",
                    "https://huggingface.co/Qwen/Qwen3-8B/tree/main#/../../meta-llama"):
        assert hardware.get_architecture(address).id == "qwen3-8b"


@pytest.mark.parametrize(
    ("name", "first"),
    [
        ("Qwen3-8B-Instruct", "qwen3-8b"),
        ("qwen3-8b-it", "qwen3-8b"),
        ("Qwen/Qwen3-8B-Chat", "qwen3-8b"),
        ("Llama-3.1-8B", "llama-3.1-8b-instruct"),
        ("gemma-3-4b", "gemma-3-4b-it"),
        ("mistral-7b", "mistral-7b-instruct-v0.3"),
        ("phi-4-instruct", "phi-4"),
    ],
)
def test_near_matches_lead_with_the_same_family_and_size_whatever_its_variant_ending(
    name, first
):
    # Whole names compared, Qwen3-8B-Instruct was nearer qwen2.5-7b-instruct than qwen3-8b.
    with pytest.raises(hardware.UnknownArchitectureError) as refused:
        hardware.get_architecture(name)

    near = str(refused.value).split("near matches: ", 1)[1].split(", ")
    assert near[0] == first and len(near) <= 5


@pytest.mark.parametrize(
    ("call", "parameter"),
    [
        (lambda: hardware.hardware_fit("qwen3-8b", "rtx-4090", quantisation=""), "quantisation"),
        (lambda: hardware.hardware_fit("qwen3-8b", "rtx-4090", kv_cache_type="Q9"),
         "kv_cache_type"),
        (lambda: hardware.hardware_fit("nope", "rtx-4090"), "model"),
        (lambda: hardware.hardware_fit("qwen3-8b", "nope"), "device"),
        # A blank node was a chip whose node is empty ("node must not be empty").
        (lambda: hardware.port_chip("rtx-4090", from_node="  ", to_node="n2"), "from_node"),
        (lambda: hardware.port_chip("rtx-4090", to_node="rtx-4090"), "to_node"),
        (lambda: hardware.port_chip("nope", to_node="n2"), "device_or_chip"),
        (lambda: hardware.port_chip("rtx-4090", to_node="n2", models=[""]), "models"),
        (lambda: hardware.pareto_front(["qwen3-8b"], ["rtx-4090"], nodes=["as-bilt"]), "nodes"),
        (lambda: hardware.pareto_front(["qwen3-8b"], ["rtx-4090"], quantisations=[" "]),
         "quantisations"),
    ],
)
def test_an_unknown_name_says_which_argument_gave_it(call, parameter):
    with pytest.raises(hardware.UnknownNameError) as caught:
        call()

    assert caught.value.parameter == parameter


def test_a_name_looked_up_on_its_own_names_no_argument():
    with pytest.raises(hardware.UnknownNodeError) as caught:
        hardware.get_node("nope")

    assert caught.value.parameter is None


def test_an_unknown_page_address_gets_the_near_matches_of_its_repository():
    with pytest.raises(hardware.UnknownNameError,
                       match=r"unknown model 'Qwen/Qwen3-8B-GGUF'; near matches: qwen3-8b"):
        hardware.get_architecture("https://huggingface.co/Qwen/Qwen3-8B-GGUF")


@pytest.mark.parametrize("spelling", ["AS-BUILT", "As-Built", " as-built "])
def test_as_built_is_a_node_in_any_case_as_node_ids_are(spelling):
    # `--to N2` worked while `--nodes AS-BUILT` was an unknown process node.
    front = hardware.pareto_front(["gemma-3-1b-it"], ["rtx-4090"], nodes=[spelling, "N2"])

    assert front.nodes == ("as-built", "n2")
    assert {point.node for point in front.points} <= {"as-built", "n2"}
    with pytest.raises(hardware.ParameterError, match=r"names as-built \(as as-built, "):
        hardware.pareto_front(["gemma-3-1b-it"], ["rtx-4090"], nodes=["as-built", spelling])


@pytest.mark.parametrize(
    ("node", "message"),
    [
        ("as-bilt", "unknown process node 'as-bilt'; did you mean as-built (the device as built)?"),
        ("xyzzy", "unknown process node 'xyzzy'; no close match; `shoal hw nodes` lists them; "
                  "as-built keeps a device as built"),
    ],
)
def test_an_unknown_sweep_node_names_as_built_too(node, message):
    with pytest.raises(hardware.UnknownNodeError) as refused:
        hardware.pareto_front(["gemma-3-1b-it"], ["rtx-4090"], nodes=[node])

    assert str(refused.value) == message


def test_a_chip_on_an_unknown_node_is_refused_when_it_is_made():
    # Accepted here, and refused only when ported.
    with pytest.raises(hardware.UnknownNodeError, match=r"^unknown process node 'n3'; near "
                       r"matches: n3p, n3e, n3b"):
        hardware.Chip(name="npu", node="n3", power_w=10.0, performance_tflops=40.0)

    assert hardware.Chip(name="npu", node="N3E", power_w=10.0, performance_tflops=40.0)
