"""Inference and process-node arithmetic: the pure-Python twin of ``rust/infer.rs`` and ``ppa.rs``.

Every formula performs the same floating-point operations in the same order as the Rust code, so
both give bit-identical results. Units: parameters in billions, memory in GB (1e9 bytes),
bandwidth in GB/s, compute in TFLOPS, power in W, time in seconds unless a name says otherwise.

Decode is a two-term roofline: one step reads the active weights and the KV cache once, taking
``bytes / (decode_efficiency * bandwidth) + overhead`` (or the compute time when that is longer).
Prefill is compute-bound. Energy per token is the average decode power times the step time.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any

logger = logging.getLogger(__name__)

GIGA = 1e9
TERA = 1e12

MODEL_FIELDS = (
    "params_b",
    "active_params_b",
    "layers",
    "attention_heads",
    "kv_heads",
    "head_dim",
    "sliding_window",
    "sliding_window_layers",
)
"""Keys of a model mapping in :func:`sweep_inference` (the model-shape keywords of
:func:`estimate_inference`)."""

DEVICE_FIELDS = (
    "memory_gb",
    "usable_fraction",
    "bandwidth_gbs",
    "tflops",
    "power_w",
    "dram_pj_per_bit",
    "runtime_overhead_gb",
    "decode_efficiency",
    "decode_efficiency_low",
    "decode_efficiency_high",
    "overhead_ms",
    "overhead_ms_low",
    "overhead_ms_high",
    "prefill_efficiency",
    "prefill_efficiency_low",
    "prefill_efficiency_high",
    "power_fraction",
)
"""Keys of a device mapping in :func:`sweep_inference` (the device keywords of
:func:`estimate_inference`)."""

SWEEP_COLUMNS = (
    "model_index",
    "device_index",
    "bits_index",
    "context_index",
    "fits",
    "memory_needed_gb",
    "margin_gb",
    "decode_tokens_per_s",
    "decode_tokens_per_s_low",
    "decode_tokens_per_s_high",
    "prefill_tokens_per_s",
    "time_to_first_token_s",
    "joules_per_token",
)

_MODES = ("iso-power", "iso-performance", "iso-area")

MAX_SWEEP_ROWS = 10_000_000
"""Upper bound on the combinations of one sweep (as in the Rust core)."""


def _number(name: str, value: Any) -> float:
    if not isinstance(value, Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    return float(value)


def _positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")


def _non_negative(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")


def _fraction(name: str, value: float) -> None:
    if not (math.isfinite(value) and 0.0 < value <= 1.0):
        raise ValueError(f"{name} must be in (0, 1], got {value}")


def _ordered(names: str, low: float, point: float, high: float) -> None:
    if not (low <= point <= high):
        raise ValueError(f"{names} must satisfy low <= point <= high")


def _model(values: Mapping[str, Any]) -> dict[str, float]:
    model = {name: _number(name, values[name]) for name in MODEL_FIELDS}
    for name in MODEL_FIELDS[:6]:
        _positive(name, model[name])
    _non_negative("sliding_window", model["sliding_window"])
    _non_negative("sliding_window_layers", model["sliding_window_layers"])
    if model["active_params_b"] > model["params_b"]:
        raise ValueError("active_params_b must not exceed params_b")
    if model["sliding_window_layers"] > model["layers"]:
        raise ValueError("sliding_window_layers must not exceed layers")
    if model["sliding_window_layers"] > 0.0 and model["sliding_window"] == 0.0:
        raise ValueError("sliding_window_layers > 0 needs a sliding_window > 0")
    return model


def _device(values: Mapping[str, Any]) -> dict[str, float]:
    device = {name: _number(name, values[name]) for name in DEVICE_FIELDS}
    _positive("memory_gb", device["memory_gb"])
    _fraction("usable_fraction", device["usable_fraction"])
    _positive("bandwidth_gbs", device["bandwidth_gbs"])
    _positive("tflops", device["tflops"])
    _positive("power_w", device["power_w"])
    _non_negative("dram_pj_per_bit", device["dram_pj_per_bit"])
    _non_negative("runtime_overhead_gb", device["runtime_overhead_gb"])
    for name in ("decode_efficiency", "decode_efficiency_low", "decode_efficiency_high"):
        _positive(name, device[name])
    for name in ("overhead_ms", "overhead_ms_low", "overhead_ms_high"):
        _non_negative(name, device[name])
    for name in ("prefill_efficiency", "prefill_efficiency_low", "prefill_efficiency_high"):
        _positive(name, device[name])
    _fraction("power_fraction", device["power_fraction"])
    _ordered(
        "decode_efficiency_{low,,high}",
        device["decode_efficiency_low"],
        device["decode_efficiency"],
        device["decode_efficiency_high"],
    )
    _ordered(
        "overhead_ms_{low,,high}",
        device["overhead_ms_low"],
        device["overhead_ms"],
        device["overhead_ms_high"],
    )
    _ordered(
        "prefill_efficiency_{low,,high}",
        device["prefill_efficiency_low"],
        device["prefill_efficiency"],
        device["prefill_efficiency_high"],
    )
    return device


def _workload(
    bits_per_weight: Any,
    kv_bits: Any,
    context_tokens: Any,
    batch: Any,
    weight_overhead_fraction: Any,
) -> dict[str, float]:
    workload = {
        "bits_per_weight": _number("bits_per_weight", bits_per_weight),
        "kv_bits": _number("kv_bits", kv_bits),
        "context_tokens": _number("context_tokens", context_tokens),
        "batch": _number("batch", batch),
        "weight_overhead_fraction": _number("weight_overhead_fraction", weight_overhead_fraction),
    }
    for name in ("bits_per_weight", "kv_bits", "context_tokens", "batch"):
        _positive(name, workload[name])
    _non_negative("weight_overhead_fraction", workload["weight_overhead_fraction"])
    return workload


def _attended_tokens(model: Mapping[str, float], depth: float) -> float:
    # Full-attention layers hold every token; sliding-window layers at most the window.
    full_layers = model["layers"] - model["sliding_window_layers"]
    window = model["sliding_window"]
    window_tokens = min(depth, window) if window > 0.0 else depth
    return full_layers * depth + model["sliding_window_layers"] * window_tokens


def _flops_per_token(model: Mapping[str, float], depth: float) -> float:
    attention = 4.0 * model["attention_heads"] * model["head_dim"] * _attended_tokens(model, depth)
    return 2.0 * model["active_params_b"] * GIGA + attention


def _decode_step_s(
    bytes_gb: float,
    flops: float,
    device: Mapping[str, float],
    efficiency: float,
    overhead_ms: float,
) -> tuple[float, bool]:
    memory_s = bytes_gb / (efficiency * device["bandwidth_gbs"])
    compute_s = flops / (device["prefill_efficiency"] * device["tflops"] * TERA)
    bound_s = max(memory_s, compute_s)
    return bound_s + overhead_ms / 1000.0, compute_s > memory_s


def _estimate(
    model: Mapping[str, float], device: Mapping[str, float], workload: Mapping[str, float]
) -> dict[str, Any]:
    context = workload["context_tokens"]
    batch = workload["batch"]
    bits = workload["bits_per_weight"]

    # Memory: weights use the total parameter count (every expert is resident).
    weights_gb = model["params_b"] * bits / 8.0
    weight_overhead_gb = weights_gb * workload["weight_overhead_fraction"]
    kv_values = 2.0 * model["kv_heads"] * model["head_dim"] * _attended_tokens(model, context)
    kv_cache_gb = kv_values * batch * workload["kv_bits"] / 8.0 / GIGA
    runtime_gb = device["runtime_overhead_gb"]
    memory_needed_gb = weights_gb + weight_overhead_gb + kv_cache_gb + runtime_gb
    memory_available_gb = device["memory_gb"] * device["usable_fraction"]
    margin_gb = memory_available_gb - memory_needed_gb

    # Decode: one step reads the active weights once and every sequence's KV cache.
    bytes_per_step_gb = model["active_params_b"] * bits / 8.0 + kv_cache_gb
    step_flops = batch * _flops_per_token(model, context)
    step_s, compute_bound = _decode_step_s(
        bytes_per_step_gb, step_flops, device, device["decode_efficiency"], device["overhead_ms"]
    )
    slow_s, _ = _decode_step_s(
        bytes_per_step_gb,
        step_flops,
        device,
        device["decode_efficiency_low"],
        device["overhead_ms_high"],
    )
    fast_s, _ = _decode_step_s(
        bytes_per_step_gb,
        step_flops,
        device,
        device["decode_efficiency_high"],
        device["overhead_ms_low"],
    )

    # Prefill: compute-bound; a prompt of S tokens attends to S/2 tokens on average.
    prefill_flops = _flops_per_token(model, context / 2.0)
    peak_flops = device["tflops"] * TERA
    prefill = device["prefill_efficiency"] * peak_flops / prefill_flops
    prefill_low = device["prefill_efficiency_low"] * peak_flops / prefill_flops
    prefill_high = device["prefill_efficiency_high"] * peak_flops / prefill_flops

    # Energy: average power while decoding, spread over the tokens of the batch.
    average_power_w = device["power_w"] * device["power_fraction"]
    dram_joules = bytes_per_step_gb * GIGA * 8.0 * device["dram_pj_per_bit"] / TERA / batch

    return {
        "weights_gb": weights_gb,
        "weight_overhead_gb": weight_overhead_gb,
        "kv_cache_gb": kv_cache_gb,
        "runtime_overhead_gb": runtime_gb,
        "memory_needed_gb": memory_needed_gb,
        "memory_available_gb": memory_available_gb,
        "margin_gb": margin_gb,
        "fits": margin_gb >= 0.0,
        "bytes_per_step_gb": bytes_per_step_gb,
        "decode_compute_bound": compute_bound,
        "decode_tokens_per_s": 1.0 / step_s,
        "decode_tokens_per_s_low": 1.0 / slow_s,
        "decode_tokens_per_s_high": 1.0 / fast_s,
        "decode_batch_tokens_per_s": batch / step_s,
        "prefill_tokens_per_s": prefill,
        "prefill_tokens_per_s_low": prefill_low,
        "prefill_tokens_per_s_high": prefill_high,
        "time_to_first_token_s": context / prefill,
        "time_to_first_token_s_low": context / prefill_high,
        "time_to_first_token_s_high": context / prefill_low,
        "average_power_w": average_power_w,
        "joules_per_token": average_power_w * step_s / batch,
        "joules_per_token_low": average_power_w * fast_s / batch,
        "joules_per_token_high": average_power_w * slow_s / batch,
        "dram_joules_per_token": dram_joules,
    }


def estimate_inference(
    *,
    params_b: float,
    active_params_b: float,
    layers: float,
    attention_heads: float,
    kv_heads: float,
    head_dim: float,
    sliding_window: float = 0.0,
    sliding_window_layers: float = 0.0,
    bits_per_weight: float,
    kv_bits: float = 16.0,
    context_tokens: float,
    batch: float = 1.0,
    weight_overhead_fraction: float = 0.1,
    memory_gb: float,
    usable_fraction: float,
    bandwidth_gbs: float,
    tflops: float,
    power_w: float,
    dram_pj_per_bit: float = 0.0,
    runtime_overhead_gb: float = 0.0,
    decode_efficiency: float,
    decode_efficiency_low: float,
    decode_efficiency_high: float,
    overhead_ms: float,
    overhead_ms_low: float,
    overhead_ms_high: float,
    prefill_efficiency: float,
    prefill_efficiency_low: float,
    prefill_efficiency_high: float,
    power_fraction: float,
) -> dict[str, Any]:
    """Estimate memory fit, decode/prefill speed and energy of one model on one device.

    Returns:
        A dict with the memory breakdown (``weights_gb``, ``kv_cache_gb``, ...), ``fits`` and
        ``margin_gb``, decode tokens/s (point, low, high), prefill tokens/s, time to first token,
        average power and joules per token.

    Raises:
        ValueError: a parameter is NaN, infinite, negative, zero where it must be positive, or
            contradicts another one; the message names it.
        TypeError: a parameter is not a number.
    """
    local = locals()
    model = _model(local)
    device = _device(local)
    workload = _workload(bits_per_weight, kv_bits, context_tokens, batch, weight_overhead_fraction)
    return _estimate(model, device, workload)


def _entries(name: str, items: Any, fields: Sequence[str], defaults: Mapping[str, float]) -> list:
    if not isinstance(items, Sequence) or isinstance(items, (str, bytes)):
        raise TypeError(f"{name} must be a list of dicts")
    entries = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise TypeError(f"{name}[{index}] must be a dict")
        missing = [field for field in fields if field not in item and field not in defaults]
        if missing:
            raise ValueError(f"{name}[{index}] is missing {', '.join(missing)}")
        entries.append({field: item.get(field, defaults.get(field)) for field in fields})
    return entries


def _numbers(name: str, values: Any) -> list[float]:
    if not isinstance(values, Sequence) or isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a list of numbers")
    return [_number(f"{name}[{index}]", value) for index, value in enumerate(values)]


def sweep_inference(
    *,
    models: Sequence[Mapping[str, float]],
    devices: Sequence[Mapping[str, float]],
    bits_per_weight: Sequence[float],
    context_tokens: Sequence[float],
    kv_bits: float = 16.0,
    batch: float = 1.0,
    weight_overhead_fraction: float = 0.1,
) -> dict[str, list[Any]]:
    """Estimate every combination of models × devices × bits per weight × contexts.

    Rows are nested in that order (the context index varies fastest). Each model is a mapping
    with the keys of :data:`MODEL_FIELDS`, each device with :data:`DEVICE_FIELDS`
    (``sliding_window``, ``sliding_window_layers``, ``dram_pj_per_bit`` and
    ``runtime_overhead_gb`` default to 0).

    Returns:
        Flat columns, one list per name in :data:`SWEEP_COLUMNS`, all of the same length.
    """
    model_defaults = {"sliding_window": 0.0, "sliding_window_layers": 0.0}
    device_defaults = {"dram_pj_per_bit": 0.0, "runtime_overhead_gb": 0.0}
    model_entries = [_model(m) for m in _entries("models", models, MODEL_FIELDS, model_defaults)]
    device_entries = [
        _device(d) for d in _entries("devices", devices, DEVICE_FIELDS, device_defaults)
    ]
    bits_list = _numbers("bits_per_weight", bits_per_weight)
    context_list = _numbers("context_tokens", context_tokens)
    kv = _number("kv_bits", kv_bits)
    batch_size = _number("batch", batch)
    overhead = _number("weight_overhead_fraction", weight_overhead_fraction)

    if (
        len(model_entries) * len(device_entries) * len(bits_list) * len(context_list)
        > MAX_SWEEP_ROWS
    ):
        raise ValueError(f"a sweep may hold at most {MAX_SWEEP_ROWS} combinations")

    columns: dict[str, list[Any]] = {name: [] for name in SWEEP_COLUMNS}
    for model_index, model in enumerate(model_entries):
        for device_index, device in enumerate(device_entries):
            for bits_index, bits in enumerate(bits_list):
                for context_index, context in enumerate(context_list):
                    workload = _workload(bits, kv, context, batch_size, overhead)
                    estimate = _estimate(model, device, workload)
                    columns["model_index"].append(model_index)
                    columns["device_index"].append(device_index)
                    columns["bits_index"].append(bits_index)
                    columns["context_index"].append(context_index)
                    for name in SWEEP_COLUMNS[4:]:
                        columns[name].append(estimate[name])
    return columns


def scale_chip(
    *,
    mode: str,
    sram_area_fraction: float,
    from_logic_density: float,
    from_sram_density: float,
    from_perf_iso_power: float,
    from_power_iso_perf: float,
    to_logic_density: float,
    to_sram_density: float,
    to_perf_iso_power: float,
    to_power_iso_perf: float,
) -> dict[str, float]:
    """Ratios new/old of power, performance, area and SRAM capacity for a chip ported between nodes.

    Node figures are relative to one common baseline. ``mode`` is ``"iso-power"`` (same power,
    faster), ``"iso-performance"`` (same speed, less power) or ``"iso-area"`` (same die area
    filled with more logic and SRAM). ``sram_area_fraction`` is the share of the die taken by
    SRAM, in [0, 1).

    Raises:
        ValueError: an unknown mode, or a figure that is not a finite positive number.
    """
    if not isinstance(mode, str):
        raise TypeError(f"mode must be a string, got {type(mode).__name__}")
    if mode not in _MODES:
        raise ValueError(f"mode must be 'iso-power', 'iso-performance' or 'iso-area', got '{mode}'")
    local = locals()
    names = (
        "from_logic_density",
        "from_sram_density",
        "from_perf_iso_power",
        "from_power_iso_perf",
        "to_logic_density",
        "to_sram_density",
        "to_perf_iso_power",
        "to_power_iso_perf",
    )
    node = {name: _number(name, local[name]) for name in names}
    for name in names:
        _positive(name, node[name])
    fraction = _number("sram_area_fraction", sram_area_fraction)
    if not (math.isfinite(fraction) and 0.0 <= fraction < 1.0):
        raise ValueError(f"sram_area_fraction must be in [0, 1), got {fraction}")

    logic_ratio = node["to_logic_density"] / node["from_logic_density"]
    sram_ratio = node["to_sram_density"] / node["from_sram_density"]
    perf_ratio = node["to_perf_iso_power"] / node["from_perf_iso_power"]
    power_ratio = node["to_power_iso_perf"] / node["from_power_iso_perf"]
    shrunk_area = (1.0 - fraction) / logic_ratio + fraction / sram_ratio

    if mode == "iso-power":
        power, performance, area, sram = 1.0, perf_ratio, shrunk_area, 1.0
    elif mode == "iso-performance":
        power, performance, area, sram = power_ratio, 1.0, shrunk_area, 1.0
    else:
        power, performance, area, sram = logic_ratio * power_ratio, logic_ratio, 1.0, sram_ratio
    return {
        "power_ratio": power,
        "performance_ratio": performance,
        "area_ratio": area,
        "sram_capacity_ratio": sram,
        "sram_capacity_ratio_iso_area": sram_ratio,
        "perf_per_watt_ratio": performance / power,
    }
