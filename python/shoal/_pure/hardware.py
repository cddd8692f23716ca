"""Inference and process-node arithmetic: the pure-Python twin of ``rust/infer.rs`` and ``ppa.rs``.

Every formula performs the same floating-point operations in the same order as the Rust code, so
both give bit-identical results. Units: parameters in billions, memory in GB (1e9 bytes; callers
convert the binary GB vendors quote for capacities), bandwidth in GB/s, compute in TFLOPS, power
in W, time in seconds unless a name says otherwise.

Decode is a two-term roofline: one step reads the active weights and the KV cache once, taking
``bytes / (decode_efficiency * bandwidth) + overhead`` (or the compute time when that is longer).
Prefill is compute-bound. Energy per token is the average decode power times the step time; a
device ported to another process node does the same work per step at the node's energy per
operation (see :func:`_estimate`).
A device may pin a share of the weights and KV cache in on-die SRAM (``sram_gb``); decode reads
that share at SRAM bandwidth and energy. :func:`pareto_sweep` ports devices between process nodes
and keeps the Pareto front of decode tokens/s against joules per token (see ``rust/pareto.rs``).
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
    "dense_params_b",
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
    "sram_gb",
    "sram_bandwidth_gbs",
    "sram_pj_per_bit",
    "performance_ratio",
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

MAX_CONFIGURATIONS = 100_000_000
"""Upper bound on the configurations of one Pareto sweep (as in the Rust core)."""

MODEL_DEFAULTS = {"sliding_window": 0.0, "sliding_window_layers": 0.0, "dense_params_b": 0.0}
DEVICE_DEFAULTS = {
    "dram_pj_per_bit": 0.0,
    "runtime_overhead_gb": 0.0,
    "sram_gb": 0.0,
    "sram_bandwidth_gbs": 0.0,
    "sram_pj_per_bit": 0.0,
    "performance_ratio": 1.0,
}

PARETO_COLUMNS = (
    "decode_tokens_per_s",
    "decode_tokens_per_s_low",
    "decode_tokens_per_s_high",
    "joules_per_token",
    "joules_per_token_low",
    "joules_per_token_high",
    "memory_needed_gb",
    "margin_gb",
    "prefill_tokens_per_s",
    "sram_resident_fraction",
)
"""Estimate columns of each front point in :func:`pareto_sweep` (after the index columns)."""

NODE_KEYS = ("logic_density", "sram_density", "perf_iso_power", "power_iso_perf")


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
    _non_negative("dense_params_b", model["dense_params_b"])
    _non_negative("sliding_window", model["sliding_window"])
    _non_negative("sliding_window_layers", model["sliding_window_layers"])
    if model["active_params_b"] > model["params_b"]:
        raise ValueError("active_params_b must not exceed params_b")
    if model["dense_params_b"] > model["active_params_b"]:
        raise ValueError("dense_params_b must not exceed active_params_b")
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
    _non_negative("sram_gb", device["sram_gb"])
    _non_negative("sram_bandwidth_gbs", device["sram_bandwidth_gbs"])
    _non_negative("sram_pj_per_bit", device["sram_pj_per_bit"])
    _positive("performance_ratio", device["performance_ratio"])
    if device["sram_gb"] > 0.0 and device["sram_bandwidth_gbs"] == 0.0:
        raise ValueError("sram_gb > 0 needs a sram_bandwidth_gbs > 0")
    for name in ("decode_efficiency", "decode_efficiency_low", "decode_efficiency_high"):
        _positive(name, device[name])
    for name in ("overhead_ms", "overhead_ms_low", "overhead_ms_high"):
        _non_negative(name, device[name])
    # A share of the compute peak: past 1, prefill would run faster than the chip computes.
    for name in ("prefill_efficiency", "prefill_efficiency_low", "prefill_efficiency_high"):
        _fraction(name, device[name])
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
    dense_bits_per_weight: Any = None,
) -> dict[str, float]:
    dense_bits = bits_per_weight if dense_bits_per_weight is None else dense_bits_per_weight
    workload = {
        "bits_per_weight": _number("bits_per_weight", bits_per_weight),
        "dense_bits_per_weight": _number("dense_bits_per_weight", dense_bits),
        "kv_bits": _number("kv_bits", kv_bits),
        "context_tokens": _number("context_tokens", context_tokens),
        "batch": _number("batch", batch),
        "weight_overhead_fraction": _number("weight_overhead_fraction", weight_overhead_fraction),
    }
    for name in ("bits_per_weight", "dense_bits_per_weight", "kv_bits", "context_tokens", "batch"):
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
    dram_gb: float,
    sram_gb: float,
    flops: float,
    device: Mapping[str, float],
    tflops: float,
    memory_efficiency: float,
    compute_efficiency: float,
    overhead_ms: float,
) -> tuple[float, bool]:
    # ``tflops`` is the device's compute peak, or that of its design as built. The low and high
    # cases pass the ends of both the bandwidth and the compute ranges, so a compute-bound step
    # has a range as a memory-bound one does.
    # SRAM is read at its own bandwidth; the fitted efficiency describes DRAM streaming only.
    sram_s = sram_gb / device["sram_bandwidth_gbs"] if sram_gb > 0.0 else 0.0
    memory_s = dram_gb / (memory_efficiency * device["bandwidth_gbs"]) + sram_s
    compute_s = flops / (compute_efficiency * tflops * TERA)
    bound_s = max(memory_s, compute_s)
    # Never under the roofline, the bytes read at full bandwidth: an efficiency above 1 (a
    # class's high bound) stands for a smaller per-token overhead, not a faster memory.
    roofline_s = dram_gb / device["bandwidth_gbs"] + sram_s
    return max(bound_s + overhead_ms / 1000.0, roofline_s), compute_s > memory_s


def _routed_params_read_b(model: Mapping[str, float], batch: float) -> float:
    """Routed (expert) parameters one decode step reads for a batch, in billions: the union of
    the batch's experts, ``1 - (1 - f)^batch`` of them under uniform independent routing (see
    ``rust/infer.rs``); the active parameters for a dense model or a batch of one."""
    per_token = model["active_params_b"] - model["dense_params_b"]
    resident = model["params_b"] - model["dense_params_b"]
    if batch <= 1.0 or per_token >= resident:
        return per_token
    missed_by_each = 1.0 - per_token / resident
    return resident * (1.0 - _integer_power(missed_by_each, math.ceil(batch)))


def _integer_power(base: float, exponent: int) -> float:
    """``base`` to a whole power by repeated squaring, multiplying in the Rust twin's order."""
    result = 1.0
    square = base
    remaining = exponent
    while remaining > 0:
        if remaining & 1:
            result *= square
        square *= square
        remaining >>= 1
    return result


def memory_interface_power_w(device: Mapping[str, float]) -> float:
    """A device's memory interface power at full bandwidth: bandwidth x DRAM energy per bit, at
    most the device's power. It belongs to the memory, not the process node."""
    return min(
        device["bandwidth_gbs"] * GIGA * 8.0 * device["dram_pj_per_bit"] / TERA, device["power_w"]
    )


# The efficiencies and overhead of a decode step's typical, slow and fast cases.
_STEP_CASES = (
    ("decode_efficiency", "prefill_efficiency", "overhead_ms"),
    ("decode_efficiency_low", "prefill_efficiency_low", "overhead_ms_high"),
    ("decode_efficiency_high", "prefill_efficiency_high", "overhead_ms_low"),
)


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

    # Decode: one step reads the weights its tokens route to once and every sequence's KV
    # cache. Routed weights are at the format's average bits; always-read ones at the format's
    # dense bits.
    read_weights_gb = (
        _routed_params_read_b(model, batch) * bits / 8.0
        + model["dense_params_b"] * workload["dense_bits_per_weight"] / 8.0
    )
    bytes_per_step_gb = read_weights_gb + kv_cache_gb

    # SRAM holds a share of the resident set; decode reads that share of its bytes from it.
    if device["sram_gb"] > 0.0:
        sram_resident_fraction = min(device["sram_gb"] / (weights_gb + kv_cache_gb), 1.0)
    else:
        sram_resident_fraction = 0.0
    sram_gb = bytes_per_step_gb * sram_resident_fraction
    dram_gb = bytes_per_step_gb - sram_gb

    step_flops = batch * _flops_per_token(model, context)

    def steps(tflops: float) -> list[tuple[float, bool]]:
        """The step at the compute peak ``tflops``, typical, slow and fast."""
        return [
            _decode_step_s(
                dram_gb, sram_gb, step_flops, device, tflops,
                device[memory], device[compute], device[overhead],
            )
            for memory, compute, overhead in _STEP_CASES
        ]

    (step_s, compute_bound), (slow_s, _), (fast_s, _) = steps(device["tflops"])
    # The same steps on the design as built (equal to them when the device was not ported).
    (built_step_s, _), (built_slow_s, _), (built_fast_s, _) = steps(
        device["tflops"] / device["performance_ratio"]
    )

    # Prefill: compute-bound; a prompt of S tokens attends to S/2 tokens on average.
    prefill_flops = _flops_per_token(model, context / 2.0)
    peak_flops = device["tflops"] * TERA
    prefill = device["prefill_efficiency"] * peak_flops / prefill_flops
    prefill_low = device["prefill_efficiency_low"] * peak_flops / prefill_flops
    prefill_high = device["prefill_efficiency_high"] * peak_flops / prefill_flops

    # Energy: average power while decoding, spread over the tokens of the batch. The class
    # power fraction was fitted with every byte from DRAM, so bytes served by SRAM give back
    # the difference in access energy; no estimate goes under the energy of the bytes moved.
    #
    # A ported die does the work of a step at the node's energy per operation, its power ratio
    # over its performance ratio (W at iso-performance and iso-area, 1/P at iso-power), not at
    # its power over however long it waits on DRAM: at iso-area an older node's die has fewer
    # transistors and less power, but each operation costs it more. So its share (the power
    # beyond the memory interface's, which port_device scaled by the power ratio) is charged
    # over the step's time as built, divided by the performance ratio: the as-built die's
    # energy times the energy per operation. As built the two times are one and the charge is
    # the class power over the step.
    class_power_w = device["power_w"] * device["power_fraction"]
    die_w = device["power_w"] - memory_interface_power_w(device)
    dram_joules = dram_gb * GIGA * 8.0 * device["dram_pj_per_bit"] / TERA / batch
    sram_joules = sram_gb * GIGA * 8.0 * device["sram_pj_per_bit"] / TERA / batch
    sram_saving = (
        sram_gb
        * GIGA
        * 8.0
        * (device["dram_pj_per_bit"] - device["sram_pj_per_bit"])
        / TERA
        / batch
    )
    floor = dram_joules + sram_joules

    def joules(step: float, built_step: float) -> float:
        die_time_change_s = built_step / device["performance_ratio"] - step  # 0 as built
        step_joules = class_power_w * step + device["power_fraction"] * die_w * die_time_change_s
        return max(step_joules / batch - sram_saving, floor)

    # The power shown is the energy shown at the rate shown (joules per token times tokens per
    # second), so SRAM's saving and the floor of the bytes' own energy both show in it.
    average_power_w = joules(step_s, built_step_s) * batch / step_s

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
        "weights_read_gb": read_weights_gb,
        "sram_resident_fraction": sram_resident_fraction,
        "sram_bytes_per_step_gb": sram_gb,
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
        "joules_per_token": joules(step_s, built_step_s),
        "joules_per_token_low": joules(fast_s, built_fast_s),
        "joules_per_token_high": joules(slow_s, built_slow_s),
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
    dense_params_b: float = 0.0,
    bits_per_weight: float,
    dense_bits_per_weight: float | None = None,
    kv_bits: float = 16.0,
    context_tokens: float,
    batch: float = 1.0,
    weight_overhead_fraction: float = 0.0,
    memory_gb: float,
    usable_fraction: float,
    bandwidth_gbs: float,
    tflops: float,
    power_w: float,
    dram_pj_per_bit: float = 0.0,
    runtime_overhead_gb: float = 0.0,
    sram_gb: float = 0.0,
    sram_bandwidth_gbs: float = 0.0,
    sram_pj_per_bit: float = 0.0,
    performance_ratio: float = 1.0,
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
    # Every argument is type-checked before any value is, as the Rust binding converts them all
    # to f64 first: a wrong type is a TypeError whatever else is wrong.
    for name, value in local.items():
        if value is not None or name != "dense_bits_per_weight":
            _number(name, value)
    model = _model(local)
    device = _device(local)
    workload = _workload(
        bits_per_weight,
        kv_bits,
        context_tokens,
        batch,
        weight_overhead_fraction,
        dense_bits_per_weight,
    )
    return _estimate(model, device, workload)


def _entries(
    name: str, items: Any, fields: Sequence[str], defaults: Mapping[str, float | None]
) -> list:
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


def _check_types(
    *,
    numbers: Mapping[str, Any] = {},
    optional_numbers: Mapping[str, Any] = {},
    number_lists: Mapping[str, Any] = {},
    dict_lists: Mapping[str, Any] = {},
    texts: Mapping[str, Any] = {},
) -> None:
    """Raise TypeError for any argument of the wrong type, before any value is checked.

    The Rust binding converts every argument (numbers to f64, lists of dicts to maps of f64)
    before it looks at a value, so a wrong type anywhere is a TypeError there whatever else is
    wrong; checking types first here keeps the two alike. None is allowed where Rust takes an
    Option: ``optional_numbers`` and the entries of ``nodes``.
    """
    for name, value in texts.items():
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    for name, value in numbers.items():
        _number(name, value)
    for name, value in optional_numbers.items():
        if value is not None:
            _number(name, value)
    for name, values in number_lists.items():
        _numbers(name, values)
    for name, values in dict_lists.items():
        if not isinstance(values, Sequence) or isinstance(values, (str, bytes)):
            raise TypeError(f"{name} must be a list of dicts")
        for index, entry in enumerate(values):
            if entry is None and name == "nodes":
                continue
            if not isinstance(entry, Mapping):
                raise TypeError(f"{name}[{index}] must be a dict")
            for key, value in entry.items():
                if not isinstance(key, str):
                    raise TypeError(f"{name}[{index}] keys must be strings")
                _number(f"{name}[{index}][{key!r}]", value)


def sweep_inference(
    *,
    models: Sequence[Mapping[str, float]],
    devices: Sequence[Mapping[str, float]],
    bits_per_weight: Sequence[float],
    context_tokens: Sequence[float],
    dense_bits_per_weight: float | None = None,
    kv_bits: float = 16.0,
    batch: float = 1.0,
    weight_overhead_fraction: float = 0.0,
) -> dict[str, list[Any]]:
    """Estimate every combination of models × devices × bits per weight × contexts.

    Rows are nested in that order (the context index varies fastest). Each model is a mapping
    with the keys of :data:`MODEL_FIELDS`, each device with :data:`DEVICE_FIELDS` (those of
    :data:`MODEL_DEFAULTS` and :data:`DEVICE_DEFAULTS` default to 0). ``dense_bits_per_weight``
    applies to every format of the call (default: each format's own bits).

    Returns:
        Flat columns, one list per name in :data:`SWEEP_COLUMNS`, all of the same length.
    """
    _check_types(
        dict_lists={"models": models, "devices": devices},
        number_lists={"bits_per_weight": bits_per_weight, "context_tokens": context_tokens},
        optional_numbers={"dense_bits_per_weight": dense_bits_per_weight},
        numbers={
            "kv_bits": kv_bits,
            "batch": batch,
            "weight_overhead_fraction": weight_overhead_fraction,
        },
    )
    model_entries = [_model(m) for m in _entries("models", models, MODEL_FIELDS, MODEL_DEFAULTS)]
    device_entries = [
        _device(d) for d in _entries("devices", devices, DEVICE_FIELDS, DEVICE_DEFAULTS)
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
                    workload = _workload(
                        bits, kv, context, batch_size, overhead, dense_bits_per_weight
                    )
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
    _check_types(
        texts={"mode": mode},
        numbers={name: value for name, value in locals().items() if name != "mode"},
    )
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

    # The energy of one operation is the power ratio over the performance ratio: W, except at
    # iso-power, where the die runs faster at the same power.
    if mode == "iso-power":
        power, performance, area, sram, energy = 1.0, perf_ratio, shrunk_area, 1.0, 1.0 / perf_ratio
    elif mode == "iso-performance":
        power, performance, area, sram, energy = power_ratio, 1.0, shrunk_area, 1.0, power_ratio
    else:
        power, performance, area, sram = logic_ratio * power_ratio, logic_ratio, 1.0, sram_ratio
        energy = power_ratio
    return {
        "power_ratio": power,
        "performance_ratio": performance,
        "area_ratio": area,
        "sram_capacity_ratio": sram,
        "sram_capacity_ratio_iso_area": sram_ratio,
        "perf_per_watt_ratio": performance / power,
        "energy_per_operation_ratio": energy,
    }


def port_device(
    device: Mapping[str, float], tflops: float, scaling: Mapping[str, float]
) -> dict[str, float]:
    """The device after a node change described by ``scaling``, with ``tflops`` as its peak.

    Compute scales with the performance ratio; the DRAM interface's power (bandwidth × energy
    per bit, at most the device power) stays and the rest scales with the power ratio; SRAM
    capacity scales with the SRAM capacity ratio and SRAM energy per bit with the energy per
    operation ratio. DRAM bandwidth and energy per bit belong to the memory, not the node. The
    performance ratio is kept (``performance_ratio``, 1 for a device as built), for the
    estimate to charge the die's work at the node's energy per operation.
    """
    dram_power_w = memory_interface_power_w(device)
    ported = dict(device)
    ported["tflops"] = tflops * scaling["performance_ratio"]
    ported["performance_ratio"] = (
        device.get("performance_ratio", 1.0) * scaling["performance_ratio"]
    )
    ported["power_w"] = dram_power_w + (device["power_w"] - dram_power_w) * scaling["power_ratio"]
    ported["sram_gb"] = device["sram_gb"] * scaling["sram_capacity_ratio"]
    ported["sram_pj_per_bit"] = device["sram_pj_per_bit"] * scaling["energy_per_operation_ratio"]
    return ported


def _node(entry: Mapping[str, Any], name: str, prefix: str) -> dict[str, float] | None:
    """Four node figures named ``prefix`` + key, or ``None`` when none is given."""
    keys = [f"{prefix}{key}" for key in NODE_KEYS]
    if not any(key in entry for key in keys):
        return None
    missing = [key for key in keys if key not in entry]
    if missing:
        raise ValueError(f"{name} is missing {missing[0]}")
    return {key: _number(f"{prefix}{key}", entry[f"{prefix}{key}"]) for key in NODE_KEYS}


def _scale(
    source: Mapping[str, float], target: Mapping[str, float], mode: str, fraction: float
) -> dict[str, float]:
    return scale_chip(
        mode=mode,
        sram_area_fraction=fraction,
        **{f"from_{key}": source[key] for key in NODE_KEYS},
        **{f"to_{key}": target[key] for key in NODE_KEYS},
    )


def _candidates(devices: Any) -> list[dict[str, Any]]:
    entries = _entries("devices", devices, DEVICE_FIELDS, DEVICE_DEFAULTS)
    candidates = []
    for index, (raw, entry) in enumerate(zip(devices, entries, strict=True)):
        device = _device(entry)
        int8 = _number("int8_tflops", raw.get("int8_tflops", device["tflops"]))
        _positive("int8_tflops", int8)
        fraction = _number("sram_area_fraction", raw.get("sram_area_fraction", 0.3))
        candidates.append(
            {
                "device": device,
                "int8_tflops": int8,
                "node": _node(raw, f"devices[{index}]", "node_"),
                "sram_area_fraction": fraction,
            }
        )
    return candidates


def _formats(formats: Any) -> list[dict[str, Any]]:
    entries = _entries(
        "formats",
        formats,
        ("bits_per_weight", "dense_bits_per_weight", "int8_kernels"),
        {"dense_bits_per_weight": None, "int8_kernels": 0.0},
    )
    result = []
    for entry in entries:
        bits = _number("bits_per_weight", entry["bits_per_weight"])
        dense = entry["dense_bits_per_weight"]
        dense = bits if dense is None else _number("dense_bits_per_weight", dense)
        _positive("bits_per_weight", bits)
        _positive("dense_bits_per_weight", dense)
        kernels = _number("int8_kernels", entry["int8_kernels"]) != 0.0
        result.append(
            {"bits_per_weight": bits, "dense_bits_per_weight": dense, "int8_kernels": kernels}
        )
    return result


def _targets(nodes: Any) -> list[dict[str, float] | None]:
    if not isinstance(nodes, Sequence) or isinstance(nodes, (str, bytes)):
        raise TypeError("nodes must be a list of dicts or None")
    targets: list[dict[str, float] | None] = []
    for index, entry in enumerate(nodes):
        if entry is None:
            targets.append(None)
            continue
        if not isinstance(entry, Mapping):
            raise TypeError(f"nodes[{index}] must be a dict or None")
        target = _node(entry, f"nodes[{index}]", "")
        if target is None:
            raise ValueError(f"nodes[{index}] has no figures")
        targets.append(target)
    return targets


def _ported_devices(
    candidates: Sequence[Mapping[str, Any]],
    targets: Sequence[Mapping[str, float] | None],
    formats: Sequence[Mapping[str, Any]],
    mode: str,
) -> list[dict[str, float] | None]:
    """One device per (device, node, format); ``None`` where a device cannot be ported."""
    devices: list[dict[str, float] | None] = []
    for candidate in candidates:
        device = candidate["device"]
        for target in targets:
            if target is not None and candidate["node"] is None:
                devices.extend(None for _ in formats)
                continue
            scaling = None
            if target is not None:
                scaling = _scale(candidate["node"], target, mode, candidate["sram_area_fraction"])
            for form in formats:
                peak = candidate["int8_tflops"] if form["int8_kernels"] else device["tflops"]
                if scaling is None:
                    devices.append({**device, "tflops": peak})
                else:
                    devices.append(port_device(device, peak, scaling))
    return devices


def pareto_sweep(
    *,
    models: Sequence[Mapping[str, float]],
    devices: Sequence[Mapping[str, float]],
    formats: Sequence[Mapping[str, float]],
    context_tokens: Sequence[float],
    nodes: Sequence[Mapping[str, float] | None],
    mode: str = "iso-power",
    kv_bits: float = 16.0,
    batch: float = 1.0,
    weight_overhead_fraction: float = 0.0,
) -> dict[str, Any]:
    """The Pareto front of decode tokens/s against joules per token over a whole sweep.

    Configurations are models × devices × nodes × formats × contexts, nested in that order.
    A device mapping has :data:`DEVICE_FIELDS`, optionally ``int8_tflops`` (peak for formats on
    integer kernels), ``node_<figure>`` for the four :data:`NODE_KEYS` (its own node) and
    ``sram_area_fraction`` (default 0.3). A format has ``bits_per_weight`` and optionally
    ``dense_bits_per_weight`` and ``int8_kernels`` (0 or 1). ``nodes`` lists the targets: a
    mapping of the four figures, or ``None`` for the device as built; devices with no node of
    their own are skipped for node targets.

    Returns:
        ``evaluated``, ``fitting`` and ``skipped`` counts and, for each front point sorted by
        rising joules per token, its indices and the columns of :data:`PARETO_COLUMNS`. Among
        equal points the first in sweep order is kept.
    """
    _check_types(
        dict_lists={"models": models, "devices": devices, "formats": formats, "nodes": nodes},
        number_lists={"context_tokens": context_tokens},
        numbers={
            "kv_bits": kv_bits,
            "batch": batch,
            "weight_overhead_fraction": weight_overhead_fraction,
        },
        texts={"mode": mode},
    )
    if mode not in _MODES:
        raise ValueError(f"mode must be 'iso-power', 'iso-performance' or 'iso-area', got '{mode}'")
    model_entries = [_model(m) for m in _entries("models", models, MODEL_FIELDS, MODEL_DEFAULTS)]
    candidates = _candidates(devices)
    form_entries = _formats(formats)
    contexts = _numbers("context_tokens", context_tokens)
    for context in contexts:
        _positive("context_tokens", context)
    targets = _targets(nodes)
    for target in targets:
        if target is not None:
            _scale(target, target, "iso-power", 0.0)
    for candidate in candidates:
        if candidate["node"] is not None:
            _scale(
                candidate["node"], candidate["node"], "iso-power", candidate["sram_area_fraction"]
            )
    total = len(model_entries) * len(candidates) * len(targets) * len(form_entries) * len(contexts)
    if total > MAX_CONFIGURATIONS:
        raise ValueError(f"a Pareto sweep may hold at most {MAX_CONFIGURATIONS} configurations")

    kv = _number("kv_bits", kv_bits)
    batch_size = _number("batch", batch)
    overhead = _number("weight_overhead_fraction", weight_overhead_fraction)
    ported = _ported_devices(candidates, targets, form_entries, mode)
    workloads = [
        [
            _workload(
                form["bits_per_weight"],
                kv,
                context,
                batch_size,
                overhead,
                form["dense_bits_per_weight"],
            )
            for context in contexts
        ]
        for form in form_entries
    ]

    evaluated = skipped = 0
    scored: list[tuple[float, float, int, tuple[int, int, int, int, int]]] = []
    per_device = len(targets) * len(form_entries)
    for m, model in enumerate(model_entries):
        for slot, device in enumerate(ported):
            d = slot // per_device
            n = slot // len(form_entries) % len(targets)
            f = slot % len(form_entries)
            if device is None:
                skipped += len(contexts)
                continue
            for c in range(len(contexts)):
                estimate = _estimate(model, device, workloads[f][c])
                evaluated += 1
                if estimate["fits"]:
                    order = (
                        ((m * len(candidates) + d) * len(targets) + n) * len(form_entries) + f
                    ) * len(contexts) + c
                    scored.append(
                        (
                            estimate["joules_per_token"],
                            -estimate["decode_tokens_per_s"],
                            order,
                            (m, d, n, f, c),
                        )
                    )
    fitting = len(scored)

    # Walk by rising energy: a point joins the front when it is faster than all before it.
    scored.sort()
    columns: dict[str, Any] = {"evaluated": evaluated, "fitting": fitting, "skipped": skipped}
    names = ("model_index", "device_index", "node_index", "format_index", "context_index")
    for name in names + PARETO_COLUMNS:
        columns[name] = []
    fastest = -math.inf
    for _, negative_speed, _, (m, d, n, f, c) in scored:
        if -negative_speed > fastest:
            fastest = -negative_speed
            device = ported[(d * len(targets) + n) * len(form_entries) + f]
            assert device is not None  # only estimated devices are scored
            estimate = _estimate(model_entries[m], device, workloads[f][c])
            for name, index in zip(names, (m, d, n, f, c), strict=True):
                columns[name].append(index)
            for name in PARETO_COLUMNS:
                columns[name].append(estimate[name])
    return columns
