"""Can this model run on that machine, how fast, at what energy; and what a new node changes.

Estimates come from a two-term roofline (see ``shoal._pure.hardware`` for the formulas) with
efficiency factors per device class fitted on measured runs (``data/measured.json``). Every
result is an estimate with a low-high range, never a measurement.

Typical use::

    fit = hardware_fit("llama-3.1-8b-instruct", "apple-m4-pro", quantisation="Q4_K_M")
    chip = port_chip("h100-sxm", to_node="nanostack-claimed", mode="iso-area")
    front = pareto_front(devices=["apple-m4-pro", "rtx-4090"], nodes=[None, "nanostack-claimed"])
"""

from __future__ import annotations

import difflib
import itertools
import logging
import math
import os
import re
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeGuard, TypeVar

from shoal import shipped_data
from shoal._backend import core
from shoal._pure.hardware import port_device
from shoal.errors import InputError, ShoalError
from shoal.excerpts import excerpt, grouped_number, unknown_field, unprintable
from shoal.files import (
    first_repeat,
    number_as_written,
    object_keeping_repeated_keys,
    read_json_file,
)
from shoal.frozen_mapping import FrozenDict
from shoal.numbers_in import real_number, whole_number

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).parent / "data"

PortMode = Literal["iso-power", "iso-performance", "iso-area"]
PORT_MODES: tuple[PortMode, ...] = ("iso-power", "iso-performance", "iso-area")
"""How a node change is spent: the same power (faster), the same performance (less power) or
the same die area (more logic and SRAM)."""

DEFAULT_SRAM_AREA_FRACTION = 0.3
"""Share of a die taken by SRAM when the chip does not say: TSMC's "typical SoC" mix (60 %
logic / 30 % SRAM / 10 % analog) used for its N5 density claim."""

# User files that add or replace devices and architectures at start-up (os.pathsep-separated).
DEVICES_ENVIRONMENT_VARIABLE = "SHOAL_DEVICES"
ARCHITECTURES_ENVIRONMENT_VARIABLE = "SHOAL_ARCHITECTURES"


SRAM_BANDWIDTH_RATIO = 3.6
"""On-die SRAM read bandwidth as a multiple of the device's DRAM bandwidth, for pinned weights:
H100 SXM L2 at about 12 TB/s against 3.35 TB/s HBM3 (third-party profile,
https://mikamirai.com/blog/gpu-memory-bandwidth/). An assumption for every device."""

SRAM_PJ_PER_BIT = 0.16
"""Energy of an SRAM read per bit: 5 pJ per 32-bit read of an 8 KB array at 45 nm (Han et al.
2015, arXiv 1506.02626, after Horowitz ISSCC 2014). Large arrays cost more in wires and newer
nodes less; against 5-8 pJ/bit of DRAM the term is small either way."""

GB_PER_GIB = 2**30 / 1e9
"""Gigabytes (1e9 bytes) in a binary gigabyte (GiB, 2**30 bytes). Vendors quote DRAM, HBM and
SRAM capacities in binary units under decimal names (a 24 GB card holds 24 GiB, nvidia-smi's
24,564 MiB); shoal counts every memory figure it shows in GB of 1e9 bytes, as it counts
weights."""

GB_PER_MIB = 2**20 / 1e9
"""Gigabytes (1e9 bytes) in a binary megabyte (MiB): on-die SRAM is quoted in MB that are MiB
(the RTX 4090's 72 MB of L2 is 72 x 2**20 bytes), as ``sram_mb`` is read."""

AS_BUILT = "as-built"
"""Node name meaning "the device as built" in :func:`pareto_front` and the CLI."""

# Beyond these the arithmetic still runs but describes no machine: refuse them instead. The MCP
# tools declare the same bounds in their schemas.
MAX_CONTEXT_TOKENS = 10_000_000
MAX_BATCH = 4_096
MAX_SRAM_MB = 1_000_000

# The weight format of an estimate that names none (a model address's tag names one).
DEFAULT_QUANTISATION = "Q4_K_M"
# The KV-cache format of an estimate that names none: llama.cpp's and vLLM's default.
DEFAULT_KV_CACHE_TYPE = "F16"

# port_chip's inference comparison when its arguments are left out.
PORT_QUANTISATION = DEFAULT_QUANTISATION
PORT_CONTEXT_TOKENS = 4096


class UnknownNameError(ShoalError, ValueError):
    """A model, device, node or quantisation name is not in the tables.

    Attributes:
        parameter: The argument of :func:`hardware_fit`, :func:`port_chip` or
            :func:`pareto_front` that gave the name (``model``, ``from_node``, ``nodes``), as
            :class:`ParameterError` names its argument, so that each surface can name its own
            argument or option; None when the name was looked up on its own
            (:func:`get_device`).
    """

    parameter: str | None = None


class UnknownDeviceError(UnknownNameError):
    """The device id is not in the device table."""


class UnknownArchitectureError(UnknownNameError):
    """The model id has no architecture entry."""


class UnknownNodeError(UnknownNameError):
    """The process-node id is not in the node table."""


class UnknownQuantisationError(UnknownNameError):
    """The weight or KV-cache format is not in the quantisation table."""


class UserFileError(ShoalError, ValueError):
    """A user device or architecture file named by ``SHOAL_DEVICES`` or ``SHOAL_ARCHITECTURES``
    cannot be used; the message is the file's error led by the variable
    (``SHOAL_DEVICES: cannot read table file: missing.json does not exist``), as the user may
    not know the file came from there.

    Attributes:
        variable: The environment variable that names the file.
        path: The file as the variable names it, so a command line that put it there can name
            its own option instead.
        problem: The file's error, without the variable.
    """

    def __init__(self, problem: str, variable: str, path: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.path = path
        self.problem = problem


class ParameterError(ShoalError, ValueError):
    """An argument is out of its range or does not go with the others: a number too small or
    too large, an empty list, a list naming one item twice, an unknown port mode or one with no
    node to port to, a node without the figures a port needs.

    Attributes:
        parameter: The argument's name in Python and over MCP (``sram_mb``, ``batch``), so a
            command line can name its own option instead.
        problem: What is wrong, without the name.
    """

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"{parameter} {problem}")
        self.parameter = parameter
        self.problem = problem


# ---------------------------------------------------------------------------------------------
# Table rows


@dataclass(frozen=True)
class DeviceClass:
    """Efficiency factors shared by a class of devices, fitted on measured runs."""

    id: str
    description: str
    usable_fraction: float
    runtime_overhead_gb: float
    prefill_peak: Literal["int8", "fp16"]
    decode_efficiency: float
    decode_efficiency_low: float
    decode_efficiency_high: float
    overhead_ms: float
    overhead_ms_low: float
    overhead_ms_high: float
    prefill_efficiency: float
    prefill_efficiency_low: float
    prefill_efficiency_high: float
    power_fraction: float
    source: str


@dataclass(frozen=True)
class DeviceProfile:
    """A device's peak specs, with where each figure comes from.

    ``memory_gb`` is the capacity as the vendor quotes it, which for DRAM and HBM is in binary
    gigabytes (GiB): a 24 GB card holds 24 x 2**30 bytes. :attr:`memory_capacity_gb` gives it
    in GB of 1e9 bytes, the unit of every memory figure of an estimate. Bandwidths (GB/s) are
    decimal, as vendors quote them.

    ``claim_type`` (the kind of claim behind each figure: ``{"bandwidth": "vendor"}``) is a
    read-only dict: the profile is the device table's own, shared by every later call.
    """

    id: str
    name: str
    device_class: str
    memory_gb: float
    memory_type: str | None
    bandwidth_gbs: float
    fp16_tflops: float
    int8_tops: float | None
    power_w: float
    process: str | None
    node: str | None
    die_area_mm2: float | None
    sram_mb: float | None
    claim_type: Mapping[str, str]
    source: str | None
    as_of: str | None
    notes: str = ""

    @property
    def memory_capacity_gb(self) -> float:
        """The memory in GB of 1e9 bytes (``memory_gb`` is binary, see the class)."""
        return self.memory_gb * GB_PER_GIB


@dataclass(frozen=True)
class Architecture:
    """A model's shape, from its config.json and model card."""

    id: str
    hf_repo: str | None
    layers: int
    hidden_size: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    params_b: float
    active_params_b: float
    experts: int | None
    active_experts: int | None
    sliding_window: int
    sliding_window_layers: int
    max_context: int
    vocab_size: int | None
    source: str | None
    notes: str = ""
    dense_params_b: float = 0.0
    """Active parameters every token reads whatever the routing (attention, router, shared
    experts, output projection)."""
    dense_bits_formats: tuple[str, ...] = ()
    """Weight formats in which this model's files keep the always-read parameters at higher
    precision, so that they take the format's ``dense_bits_per_weight`` (gpt-oss ships MXFP4
    experts beside 8-bit and wider attention and embeddings). In any other format every weight
    is at the format's ``bits_per_weight``, for memory and decode alike."""

    @property
    def is_moe(self) -> bool:
        """True for mixture-of-experts models (fewer parameters read than stored)."""
        return self.active_params_b < self.params_b


@dataclass(frozen=True)
class Quantisation:
    """A weight format's effective bits per weight (block scales included)."""

    id: str
    bits_per_weight: float
    int8_kernels: bool
    derivation: str
    source: str
    dense_bits_per_weight: float | None = None
    """Bits of the always-read parameters of a model that keeps them at higher precision in this
    format (one whose :attr:`Architecture.dense_bits_formats` lists it); ``None``: the format
    stores every weight at ``bits_per_weight``."""


@dataclass(frozen=True)
class NodeProfile:
    """A process node, cumulative against TSMC N7 = 1 (``None`` where unknown)."""

    id: str
    name: str
    logic_density: float | None
    sram_density: float | None
    perf_iso_power: float | None
    power_iso_perf: float | None
    sram_bitcell_um2: float | None
    backside_power: bool
    claim_type: str
    confidence: str
    source: str
    notes: str = ""


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class MemoryBreakdown:
    """Where the memory goes, in GB (1e9 bytes)."""

    weights_gb: float
    kv_cache_gb: float
    runtime_overhead_gb: float


@dataclass(frozen=True)
class HardwareFit:
    """Whether a model fits a device and how fast it runs there (estimates)."""

    model: str
    device: str
    quantisation: str
    kv_cache_type: str
    context_tokens: int
    batch: int
    fits: bool
    memory_needed_gb: float
    memory_available_gb: float
    margin_gb: float
    breakdown: MemoryBreakdown
    decode_tokens_per_s: float
    decode_tokens_per_s_low: float
    decode_tokens_per_s_high: float
    decode_batch_tokens_per_s: float
    decode_bound: Literal["memory bandwidth", "compute"]
    prefill_tokens_per_s: float
    prefill_tokens_per_s_low: float
    prefill_tokens_per_s_high: float
    time_to_first_token_s: float
    time_to_first_token_s_low: float
    time_to_first_token_s_high: float
    joules_per_token: float
    joules_per_token_low: float
    joules_per_token_high: float
    average_power_w: float
    dram_joules_per_token: float | None
    device_class: str
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Chip:
    """A chip to port between nodes. Leave ``area_mm2``/``sram_mb`` as ``None`` if unknown.

    The fields are checked as a device file's are: ``name`` and ``node`` non-empty and
    printable (no control or format character, which would reach the terminal in the ported
    chip's name), ``node`` in the node table, ``power_w``, ``performance_tflops`` and
    ``area_mm2`` from :data:`CHIP_FIELD_MINIMUMS` to :data:`CHIP_FIELD_LIMITS`, ``sram_mb``
    from 0 to :data:`MAX_SRAM_MB`, ``sram_area_fraction`` from 0 up to 1 (not 1). A field of
    the wrong type is a ``TypeError``, a bad value a :class:`ParameterError`, each naming the
    field.
    """

    name: str
    node: str
    power_w: float
    performance_tflops: float
    area_mm2: float | None = None
    sram_mb: float | None = None
    sram_area_fraction: float = DEFAULT_SRAM_AREA_FRACTION

    def __post_init__(self) -> None:
        # A negative or NaN figure ported to a negative or NaN result without a word.
        for name in ("name", "node"):
            _check_text(name, getattr(self, name))
        # The node to port from, refused here (with near matches) rather than at the port.
        get_node(self.node)
        for name in ("power_w", "performance_tflops", "area_mm2"):
            if name != "area_mm2" or self.area_mm2 is not None:
                # Kept as the plain number checked (a numpy value as an int or float).
                object.__setattr__(self, name, _check_figure(
                    name, getattr(self, name), CHIP_FIELD_MINIMUMS[name], CHIP_FIELD_LIMITS[name]))
        object.__setattr__(self, "sram_mb", _checked_sram_mb(self.sram_mb))
        object.__setattr__(self, "sram_area_fraction",
                           _check_fraction("sram_area_fraction", self.sram_area_fraction))


@dataclass(frozen=True)
class PortedChip:
    """A chip after a node change: absolute figures where the input had them, and the ratios."""

    name: str
    from_node: str
    to_node: str
    mode: PortMode
    power_w: float
    performance_tflops: float
    area_mm2: float | None
    sram_mb: float | None
    sram_mb_at_iso_area: float | None
    power_ratio: float
    """Total power after over before: the die's, which follows the node, and for a device the
    memory interface's, which does not."""
    performance_ratio: float
    area_ratio: float
    sram_capacity_ratio: float
    perf_per_watt_ratio: float
    claim_type: str
    power_w_before: float
    die_power_w_before: float
    die_power_w: float
    """The die's power after the move: the power that scales with the node. For a
    :class:`Chip` the whole power; for a device its power less the memory interface's."""
    die_power_ratio: float
    memory_interface_power_w: float | None
    """A device's DRAM interface at full bandwidth (bandwidth x DRAM energy per bit, at most
    the device power), the same before and after: it belongs to the memory, not the node.
    ``None`` for a :class:`Chip`, which has no memory system, and for a device whose memory type
    has no DRAM energy per bit in the device table (unknown: all its power is counted as the
    die's)."""
    power_density_w_per_mm2_before: float | None
    power_density_w_per_mm2: float | None
    """Die power over die area after the move (``None`` when the area is unknown)."""
    notes: tuple[str, ...] = field(default_factory=tuple)
    inference: tuple[PortedInference, ...] = ()
    """What the node change does to inference on the device, one entry per model."""


@dataclass(frozen=True)
class PortedInference:
    """One model on a device before and after a node change (estimates).

    Both sides assume the runtime pins as much of the weights and KV cache in on-die SRAM as
    fits (see :data:`SRAM_BANDWIDTH_RATIO`); ``hardware_fit`` leaves SRAM out, as today's
    engines stream weights through caches without reuse.
    """

    model: str
    quantisation: str
    context_tokens: int
    fits: bool
    memory_needed_gb: float
    memory_available_gb: float
    resident_set_gb: float
    sram_resident_fraction_before: float
    sram_resident_fraction_after: float
    decode_tokens_per_s_before: float
    decode_tokens_per_s_after: float
    joules_per_token_before: float
    joules_per_token_after: float
    """The same work per token after the move: the memory interface's energy as before, the
    die's at the node's energy per operation (the power ratio over the performance ratio: W at
    iso-performance and iso-area, 1/P at iso-power), whatever its power and speed."""
    prefill_tokens_per_s_before: float
    prefill_tokens_per_s_after: float

    @property
    def resident(self) -> bool:
        """True when the whole model and KV cache fit in the ported chip's SRAM."""
        return self.sram_resident_fraction_after >= 1.0


# ---------------------------------------------------------------------------------------------
# Tables


def _read_shipped_json(name: str) -> dict[str, Any]:
    """A table shoal ships, checked against its digest first: a damaged install is named as
    such, not as a table with a wrong field."""
    shipped_data.verify(name)
    return _read_json(DATA_DIR / name)


def _read_json(path: str | Path) -> dict[str, Any]:
    # A table, shipped or the user's, is a settings file: a regular one, nothing under /proc,
    # /dev or /sys, at most 16 MiB.
    try:
        document = read_json_file(path, object_pairs_hook=object_keeping_repeated_keys,
                                  parse_float=number_as_written)
    except ValueError as error:
        raise InputError(f"cannot read table file: {error}") from None
    if not isinstance(document, dict):
        raise InputError(f"{path}: expected a JSON object at the top level")
    _refuse_repeated_keys(path, document)
    return document


def _refuse_repeated_keys(path: str | Path, document: dict[str, Any]) -> None:
    """Refuse a file with an object, at any depth, that gives a key twice, naming where."""
    found = first_repeat(document)
    if found is not None:
        place, repeated = found
        raise InputError(f"{path}: {_place(place)} gives {excerpt(repeated.repeated)} more "
                         "than once; give each key once (only the last would be read)")


def _place(place: Sequence[str | int]) -> str:
    """Where in a table file a value is, as errors name it: ``devices row 2 field
    'claim_type'``, ``dram_pj_per_bit entry 'GDDR6'`` or ``the top level``."""
    if not place:
        return "the top level"
    words = [str(place[0])]
    for previous, part in itertools.pairwise(place):
        if isinstance(part, int):
            words.append(f"row {part + 1}")
        else:
            words.append(f"{'field' if isinstance(previous, int) else 'entry'} {excerpt(part)}")
    return " ".join(words)


def _require(
    row: Mapping[str, Any],
    texts: Sequence[str],
    positives: Sequence[str],
    *,
    allowed: Sequence[str],
    non_negatives: Sequence[str] = (),
    optional_texts: Sequence[str] = (),
    optional_numbers: Sequence[str] = (),
    optional_positives: Sequence[str] = (),
    limits: Mapping[str, float] | None = None,
    minimums: Mapping[str, float] | None = None,
) -> None:
    """Refuse a row with a field not in ``allowed`` (a misspelt field would be ignored and its
    default used), whose required text fields are missing, whose figures are not positive (or,
    for ``non_negatives``, at least 0) finite numbers within their ``limits`` and, unless 0, at
    least their ``minimums``, or whose optional fields (absent or null allowed) have the wrong
    type or sign, before a bad value reaches the arithmetic. Values are shown as the file spells
    them (null, true, NaN, 1E7)."""
    if not isinstance(row, Mapping):
        raise TypeError("each row must be a JSON object")
    unknown = unknown_field(row, allowed)
    if unknown is not None:
        # A near match says enough; without one, the whole list shows what the row may hold.
        listed = "" if "did you mean" in unknown else f"; allowed fields are {', '.join(allowed)}"
        raise InputError(unknown + listed)
    for name, value in row.items():
        _check_printable(f"field '{name}'", value)
    for name in texts:
        if not isinstance(row.get(name), str) or not row[name].strip():
            raise InputError(f"field '{name}' must be a non-empty string")
    for name in positives:
        if not _positive(row.get(name)):
            raise InputError(f"field '{name}' must be a positive number, got "
                             f"{excerpt(row.get(name))}")
    for name in non_negatives:
        if not _non_negative(row.get(name)):
            raise InputError(f"field '{name}' must be a number >= 0, got {excerpt(row.get(name))}")
    for name in optional_texts:
        value = row.get(name)
        if value is not None and not isinstance(value, str):
            raise InputError(f"field '{name}' must be a string or null, got {excerpt(value)}")
    for name in optional_numbers:
        value = row.get(name)
        if value is not None and not _non_negative(value):
            raise InputError(f"field '{name}' must be a number >= 0 or null, got {excerpt(value)}")
    for name in optional_positives:
        value = row.get(name)
        if value is not None and not _positive(value):
            raise InputError(f"field '{name}' must be a positive number or null, got "
                             f"{excerpt(value)}")
    for name, limit in (limits or {}).items():
        value = row.get(name)
        if value is not None and value > limit:
            raise InputError(f"field '{name}' must be at most {limit:,.0f}, got {excerpt(value)}")
    for name, minimum in (minimums or {}).items():
        value = row.get(name)
        if value is not None and 0 < value < minimum:
            # 0 stays "none" where the field allows it, as for int8_tops.
            zero = " (or 0 for none)" if name in (*non_negatives, *optional_numbers) else ""
            raise InputError(f"field '{name}' must be at least {minimum:g}{zero}, got "
                             f"{excerpt(value)}: {_BELOW_EVERY_MACHINE}")


def _check_printable(what: str, value: object) -> None:
    """Refuse a text, or a text in an object (a device's claim_type), holding a character that
    does not print. Every text of a table file is printed back, in tables, answers and notes,
    where a control character (an ESC that clears the terminal, a NUL) or a format one (U+202E
    reverses the text after it) would make the line read as something it does not say."""
    texts = [*value.keys(), *value.values()] if isinstance(value, Mapping) else [value]
    for text in texts:
        problem = unprintable(text) if isinstance(text, str) else None
        if problem is not None:
            raise InputError(f"{what} {problem}")


def _positive(value: object) -> bool:
    return _non_negative(value) and value != 0


def _non_negative(value: object) -> TypeGuard[float]:
    # A bool is no figure, though Python counts False as 0 and True as 1.
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


# Far above any machine a device row describes (a wafer-scale system: 44 GB of SRAM read at
# 21 PB/s, 125 PFLOPS, 46,000 mm2, 23 kW); a larger figure is a unit slip, and one near the
# float limit turns every estimate into inf.
DEVICE_FIELD_LIMITS = {
    "memory_gb": 1e6,
    "bandwidth_gbs": 1e8,
    "fp16_tflops": 1e6,
    "int8_tops": 1e7,
    "power_w": 1e6,
    "die_area_mm2": 1e5,
    "sram_mb": MAX_SRAM_MB,
}

# Far below any machine a device row describes (the shipped ones span 8 to 512 GiB of memory,
# 60 to 8,000 GB/s, 1.6 to 2,250 FP16 TFLOPS, 22 to 4,500 INT8 TOPS, 8 to 1,000 W and 276 to
# 826 mm2 of die); a smaller figure is a unit slip, and one near 0 (5e-324) turned estimates
# infinite: 0 tok/s at inf J/token, which no JSON can hold. SRAM has no floor: a tiny SRAM only
# holds nothing.
DEVICE_FIELD_MINIMUMS = {
    "memory_gb": 0.1,
    "bandwidth_gbs": 0.1,
    "fp16_tflops": 0.001,
    "int8_tops": 0.001,
    "power_w": 0.1,
    "die_area_mm2": 1.0,
}
_BELOW_EVERY_MACHINE = "far below any machine, and estimates would not be finite"

# A Chip's figures have the bounds of the device figures they correspond to (sram_mb is checked
# as port_chip's sram_mb is, from 0).
CHIP_FIELD_LIMITS = {
    "power_w": DEVICE_FIELD_LIMITS["power_w"],
    "performance_tflops": DEVICE_FIELD_LIMITS["fp16_tflops"],
    "area_mm2": DEVICE_FIELD_LIMITS["die_area_mm2"],
}
CHIP_FIELD_MINIMUMS = {
    "power_w": DEVICE_FIELD_MINIMUMS["power_w"],
    "performance_tflops": DEVICE_FIELD_MINIMUMS["fp16_tflops"],
    "area_mm2": DEVICE_FIELD_MINIMUMS["die_area_mm2"],
}


# The fields a row may have: a copy of a shipped table loads as a user file. A device class
# keeps the priors its fit started from (read by shoal.hardware_calibration) and where its
# assumptions come from; an architecture, where its always-read parameter count comes from.
DEVICE_ROW_FIELDS = tuple(f.name for f in fields(DeviceProfile))
DEVICE_CLASS_ROW_FIELDS = (
    *(f.name for f in fields(DeviceClass)),
    "usable_fraction_source", "power_fraction_source", "decode_efficiency_prior",
    "prefill_efficiency_prior", "overhead_prior_ms", "overhead_prior_from",
    "overhead_prior_source",
)
ARCHITECTURE_ROW_FIELDS = (*(f.name for f in fields(Architecture)), "dense_params_source")

# The keys of each file's top-level object; as_of, description and claim_type describe the file.
DEVICE_FILE_FIELDS = ("as_of", "description", "dram_pj_per_bit", "devices", "device_classes")
ARCHITECTURE_FILE_FIELDS = ("as_of", "description", "claim_type", "architectures")
DRAM_ENERGY_FIELDS = ("value", "source")

_CLASS_EFFICIENCIES = (
    "decode_efficiency", "decode_efficiency_low", "decode_efficiency_high",
    "prefill_efficiency", "prefill_efficiency_low", "prefill_efficiency_high",
)
_CLASS_OVERHEADS = ("overhead_ms", "overhead_ms_low", "overhead_ms_high")

# A share of the peak figure. A decode efficiency may pass 1 (a fitted high end standing for less
# per-token overhead; the estimate never passes the bytes read at full bandwidth); ten times the
# peak is a percentage typed for a share.
MAX_EFFICIENCY = 10.0
# A prefill efficiency is a share of the compute peak: past 1, prefill would outrun the chip.
MAX_PREFILL_EFFICIENCY = 1.0
_PREFILL_EFFICIENCIES = (
    "prefill_efficiency", "prefill_efficiency_low", "prefill_efficiency_high",
    "prefill_efficiency_prior",
)
# A fixed cost per generated token: ten seconds of it describes no runtime, only a unit slip.
MAX_OVERHEAD_MS = 10_000.0
DEVICE_CLASS_FIELD_LIMITS = {
    "usable_fraction": 1.0,
    "power_fraction": 1.0,
    "runtime_overhead_gb": DEVICE_FIELD_LIMITS["memory_gb"],
    **dict.fromkeys((*_CLASS_EFFICIENCIES, "decode_efficiency_prior"), MAX_EFFICIENCY),
    **dict.fromkeys(_PREFILL_EFFICIENCIES, MAX_PREFILL_EFFICIENCY),
    **dict.fromkeys((*_CLASS_OVERHEADS, "overhead_prior_ms"), MAX_OVERHEAD_MS),
}
# Far below any fitted class (shares of memory and power from 0.6, efficiencies from 0.04): as
# for a device's figures, a share near 0 made a step take forever or a token cost nothing.
MIN_SHARE = 0.01
MIN_EFFICIENCY = 0.001
DEVICE_CLASS_FIELD_MINIMUMS = {
    "usable_fraction": MIN_SHARE,
    "power_fraction": MIN_SHARE,
    **dict.fromkeys(
        (*_CLASS_EFFICIENCIES, "decode_efficiency_prior", "prefill_efficiency_prior"),
        MIN_EFFICIENCY,
    ),
}
# Energy to move one bit between DRAM and the chip: 6 to 8 pJ for the memories of the shipped
# table; over a hundred times that is a unit slip.
MAX_DRAM_PJ_PER_BIT = 1_000.0
PREFILL_PEAKS = ("int8", "fp16")


def _device_class(row: Mapping[str, Any]) -> DeviceClass:
    _require(
        row,
        ("id", "description", "source"),
        ("usable_fraction", "power_fraction", *_CLASS_EFFICIENCIES),
        allowed=DEVICE_CLASS_ROW_FIELDS,
        non_negatives=("runtime_overhead_gb", *_CLASS_OVERHEADS),
        optional_texts=("usable_fraction_source", "power_fraction_source", "overhead_prior_from",
                        "overhead_prior_source"),
        optional_numbers=("overhead_prior_ms",),
        optional_positives=("decode_efficiency_prior", "prefill_efficiency_prior"),
        limits=DEVICE_CLASS_FIELD_LIMITS,
        minimums=DEVICE_CLASS_FIELD_MINIMUMS,
    )
    if row.get("prefill_peak") not in PREFILL_PEAKS:
        raise InputError("field 'prefill_peak' must be \"int8\" or \"fp16\", got "
                         f"{excerpt(row.get('prefill_peak'))}")
    for figure in ("decode_efficiency", "overhead_ms", "prefill_efficiency"):
        _check_range(row, figure)
    return DeviceClass(**{name: row[name] for name in DeviceClass.__dataclass_fields__})


def _check_range(row: Mapping[str, Any], figure: str) -> None:
    """Refuse a fitted figure outside its own low-high range."""
    low, point, high = row[f"{figure}_low"], row[figure], row[f"{figure}_high"]
    if low > point:
        raise InputError(f"field '{figure}_low' ({low:g}) must not exceed '{figure}' ({point:g})")
    if point > high:
        raise InputError(f"field '{figure}' ({point:g}) must not exceed '{figure}_high' "
                         f"({high:g})")


def _device(row: Mapping[str, Any], nodes: Mapping[str, NodeProfile]) -> DeviceProfile:
    _require(
        row,
        ("id", "name", "device_class"),
        ("memory_gb", "bandwidth_gbs", "fp16_tflops", "power_w"),
        allowed=DEVICE_ROW_FIELDS,
        optional_texts=("memory_type", "process", "node", "source", "as_of", "notes"),
        optional_numbers=("int8_tops", "sram_mb"),
        # A die of 0 mm2 would divide the power density by zero.
        optional_positives=("die_area_mm2",),
        limits=DEVICE_FIELD_LIMITS,
        minimums=DEVICE_FIELD_MINIMUMS,
    )
    claim_type = row.get("claim_type") or {}
    if not isinstance(claim_type, Mapping) or not all(
        isinstance(kind, str) for kind in claim_type.values()
    ):
        raise InputError("field 'claim_type' must be an object naming the kind of claim of each "
                         f"figure (\"bandwidth\": \"vendor\"), got {excerpt(claim_type)}")
    return DeviceProfile(
        id=row["id"],
        name=row["name"],
        device_class=row["device_class"],
        memory_gb=row["memory_gb"],
        memory_type=row.get("memory_type"),
        bandwidth_gbs=row["bandwidth_gbs"],
        fp16_tflops=row["fp16_tflops"],
        int8_tops=row.get("int8_tops"),
        power_w=row["power_w"],
        process=row.get("process"),
        node=_device_node(row.get("node"), nodes),
        die_area_mm2=row.get("die_area_mm2"),
        sram_mb=row.get("sram_mb"),
        claim_type=FrozenDict(claim_type),
        source=row.get("source"),
        as_of=row.get("as_of"),
        notes=row.get("notes") or "",
    )


def _device_node(node: str | None, nodes: Mapping[str, NodeProfile]) -> str | None:
    """A device row's node as the node table spells it. An unknown one is refused here, with
    near matches, rather than blamed later on a port whose command line never named it."""
    if node is None:
        return None
    try:
        return str(_lookup(nodes, node, "process node", UnknownNodeError).id)
    except UnknownNodeError as error:
        raise InputError(f"field 'node': {error} (null for a process the node table lacks)"
                         ) from None


# Far above any published model (the largest open ones hold about 2,000 B parameters in about
# 100 layers); a larger figure is a unit slip, such as parameters given in units, not billions.
ARCHITECTURE_FIELD_LIMITS = {
    "params_b": 100_000,
    "layers": 10_000,
    "hidden_size": 1_000_000,
    "attention_heads": 10_000,
    "kv_heads": 10_000,
    "head_dim": 100_000,
    "experts": 100_000,
    "max_context": MAX_CONTEXT_TOKENS,
}

# Pairs (part, whole) where the part cannot exceed the whole.
_ARCHITECTURE_PARTS = (
    ("kv_heads", "attention_heads"),
    ("active_params_b", "params_b"),
    ("dense_params_b", "active_params_b"),
    ("active_experts", "experts"),
    ("sliding_window_layers", "layers"),
)


def _architecture(row: Mapping[str, Any]) -> Architecture:
    _require(
        row,
        ("id",),
        allowed=ARCHITECTURE_ROW_FIELDS,
        positives=(
            "layers",
            "hidden_size",
            "attention_heads",
            "kv_heads",
            "head_dim",
            "params_b",
            "max_context",
        ),
        optional_texts=("hf_repo", "source", "notes", "dense_params_source"),
        optional_numbers=(
            "active_params_b",
            "experts",
            "active_experts",
            "sliding_window",
            "sliding_window_layers",
            "vocab_size",
            "dense_params_b",
        ),
        limits=ARCHITECTURE_FIELD_LIMITS,
    )
    repository = row.get("hf_repo")
    if repository is not None and not _REPOSITORY_ID.fullmatch(repository):
        # The id names the model (`shoal hw fit Qwen/Qwen3-8B`) and is matched against page
        # addresses: an empty one or a sentence would never be, and reads as a mistake.
        raise InputError("field 'hf_repo' must be a Hugging Face repository id, owner/name "
                         "(letters, digits, '-', '_' and '.'), or null, got "
                         f"{excerpt(repository)}")
    _check_parts(row)
    dense_params_b = row.get("dense_params_b") or _dense_params_b(row)
    dense_bits_formats = _dense_bits_formats(row, dense_params_b)
    return Architecture(
        id=row["id"],
        hf_repo=row.get("hf_repo"),
        layers=row["layers"],
        hidden_size=row["hidden_size"],
        attention_heads=row["attention_heads"],
        kv_heads=row["kv_heads"],
        head_dim=row["head_dim"],
        params_b=row["params_b"],
        active_params_b=row.get("active_params_b") or row["params_b"],
        experts=row.get("experts"),
        active_experts=row.get("active_experts"),
        sliding_window=row.get("sliding_window") or 0,
        sliding_window_layers=row.get("sliding_window_layers") or 0,
        max_context=row["max_context"],
        vocab_size=row.get("vocab_size"),
        source=row.get("source"),
        notes=row.get("notes") or "",
        dense_params_b=dense_params_b,
        dense_bits_formats=dense_bits_formats,
    )


# A Hugging Face repository id as the Hub spells one: owner/name of ASCII letters, digits, '-',
# '_' and '.'.
_REPOSITORY_ID = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")

# Counts of things: a fraction of a layer or head is a typing slip.
_ARCHITECTURE_COUNTS = (
    "layers", "hidden_size", "attention_heads", "kv_heads", "head_dim", "max_context",
    "experts", "active_experts", "sliding_window", "sliding_window_layers", "vocab_size",
)


def _check_parts(row: Mapping[str, Any]) -> None:
    """Refuse a row whose counts are not whole, whose part exceeds its whole (8 KV heads of 4
    query heads), or whose fields contradict each other, naming the fields, before the
    arithmetic meets it."""
    for name in _ARCHITECTURE_COUNTS:
        value = row.get(name)
        if value is not None and value != int(value):
            raise InputError(f"field '{name}' must be a whole number, got {excerpt(value)}")
    for part, whole in _ARCHITECTURE_PARTS:
        value = row.get(part)
        if not value:
            continue
        limit = row.get(whole) if whole != "active_params_b" else (
            row.get("active_params_b") or row["params_b"]
        )
        if whole == "experts" and not limit:
            raise InputError(f"field '{part}' needs field 'experts' beside it")
        if limit is not None and value > limit:
            raise InputError(f"field '{part}' ({value:g}) must not exceed '{whole}' ({limit:g})")
    heads, kv_heads = row["attention_heads"], row["kv_heads"]
    if heads % kv_heads:
        raise InputError(f"field 'attention_heads' ({heads:g}) must be a multiple of 'kv_heads' "
                         f"({kv_heads:g}): each KV head serves a whole group of query heads")
    if row.get("sliding_window_layers") and not row.get("sliding_window"):
        raise InputError("field 'sliding_window_layers' needs a 'sliding_window' above 0")
    _check_experts(row)


def _check_experts(row: Mapping[str, Any]) -> None:
    """Refuse expert counts that contradict each other or the parameter counts. A row without
    experts (null, absent or 0) is a dense model, which reads all its parameters; a row with
    experts gives the number each token is routed to, and reads fewer parameters than it holds
    exactly when that is fewer than all of them."""
    params, active = row["params_b"], row.get("active_params_b") or row["params_b"]
    experts, chosen = row.get("experts"), row.get("active_experts")
    if not experts:
        if active < params:
            given = "0" if experts == 0 else "not given"
            raise InputError(f"field 'experts' is {given} (a dense model) but 'active_params_b' "
                             f"({active:g}) is below 'params_b' ({params:g}); a mixture of "
                             "experts gives 'experts' and 'active_experts'")
        return
    if not chosen:
        raise InputError(f"field 'experts' ({experts:g}) needs 'active_experts' beside it: the "
                         "experts each token is routed to")
    if chosen >= experts and active < params:
        raise InputError(f"field 'active_experts' ({chosen:g}) reads every expert, so "
                         f"'active_params_b' ({active:g}) must equal 'params_b' ({params:g})")
    if chosen < experts and active >= params:
        raise InputError(f"field 'active_experts' ({chosen:g} of {experts:g}) reads a share of "
                         f"the experts, so 'active_params_b' ({active:g}) must be below "
                         f"'params_b' ({params:g})")


def _dense_bits_formats(row: Mapping[str, Any], dense_params_b: float) -> tuple[str, ...]:
    """A row's ``dense_bits_formats`` as the format table spells them. A format without a
    dense figure, or a model without always-read parameters, would make the field change
    nothing: refused, as a misspelt field is."""
    listed = row.get("dense_bits_formats") or []
    if not isinstance(listed, list) or not all(isinstance(name, str) for name in listed):
        raise InputError("field 'dense_bits_formats' must be a list of weight formats (\"MXFP4\") "
                         f"or null, got {excerpt(listed)}")
    ids = []
    for name in listed:
        try:
            quant = _shipped_formats().find(name)
        except UnknownQuantisationError as error:
            raise InputError(f"field 'dense_bits_formats': {error}") from None
        if quant.dense_bits_per_weight is None:
            raise InputError(f"field 'dense_bits_formats' names {quant.id}, which has no "
                             "dense_bits_per_weight: it stores every weight alike")
        ids.append(quant.id)
    if ids and not dense_params_b:
        raise InputError("field 'dense_bits_formats' needs always-read parameters: "
                         "'dense_params_b', or 'experts' and 'active_experts' to derive them")
    return tuple(dict.fromkeys(ids))


def _dense_params_b(row: Mapping[str, Any]) -> float:
    """Always-read parameters of a mixture of experts whose row does not give them, from its
    expert counts: one token reads the dense part and a share ``f = active_experts / experts``
    of the rest, so ``active = dense + f (params - dense)``. Qwen3-30B-A3B: 1.49 B (attention
    0.91 B plus untied embeddings 0.62 B by its config); 0 for a dense model. Needed for the
    experts a batch reads (see ``rust/infer.rs``), where attention must not count as experts.
    """
    experts, chosen = row.get("experts"), row.get("active_experts")
    params, active = row["params_b"], row.get("active_params_b") or row["params_b"]
    if not experts or not chosen or chosen >= experts or active >= params:
        return 0.0
    share = chosen / experts
    return max(0.0, (active - share * params) / (1.0 - share))


def _nodes(rows: Sequence[Mapping[str, Any]]) -> dict[str, NodeProfile]:
    # Cumulative figures are products of step factors along the relative_to chain.
    by_id = {row["id"]: row for row in rows}
    keys = ("logic_density", "sram_density", "perf_iso_power", "power_iso_perf")

    def cumulative(node_id: str, key: str, seen: frozenset[str]) -> float | None:
        if node_id in seen:
            raise InputError(f"node table: relative_to forms a loop at {node_id!r}")
        row = by_id[node_id]
        step = row["step"][key]
        if step is None:
            return None
        parent = row.get("relative_to")
        if parent is None:
            return float(step)
        if parent not in by_id:
            raise InputError(f"node table: {node_id!r} is relative to unknown node {parent!r}")
        base = cumulative(parent, key, seen | {node_id})
        return None if base is None else base * step

    nodes = {}
    for row in rows:
        figures = {key: cumulative(row["id"], key, frozenset()) for key in keys}
        nodes[row["id"]] = NodeProfile(
            id=row["id"],
            name=row["name"],
            sram_bitcell_um2=row.get("sram_bitcell_um2"),
            backside_power=bool(row.get("backside_power")),
            claim_type=row["claim_type"],
            confidence=row["confidence"],
            source=row["source"],
            notes=row.get("notes", ""),
            **figures,
        )
    return nodes


@dataclass(frozen=True)
class _Formats:
    """The weight formats by id, the other names they go by (``Q4_K``, ``F16``), and the
    KV-cache formats with their bits per value."""

    weights: dict[str, Quantisation]
    aliases: dict[str, str]
    kv_cache_bits: dict[str, float]

    def find(self, name: Any, kind: str = "quantisation", shown: str | None = None
             ) -> Quantisation:
        """The weight format ``name`` names, by id or alias in any case; an unknown one is
        refused as a ``kind``, quoted as ``shown`` (see :func:`_lookup`) or as typed."""
        if isinstance(name, str):
            shown = shown or excerpt(name)
            name = self.weight_id(name)
        return _lookup(self.weights, name, kind, UnknownQuantisationError, shown)

    def weight_id(self, name: str) -> str:
        """The id of the weight format ``name`` names, by id or alias in any case, with ``-``
        and ``_`` alike (``int4_awq``, ``q4-k-m``); a name of neither in capitals, for the
        lookup to refuse."""
        spellings = {_format_key(weight): weight for weight in self.weights}
        spellings.update((_format_key(alias), weight) for alias, weight in self.aliases.items())
        return spellings.get(_format_key(name), name.strip().upper())

    def kv_cache_id(self, name: str) -> str:
        """The KV-cache format ``name`` names: its id, or a name the weight format of the same
        encoding goes by (``FP16`` for ``F16``, ``Q8`` for ``Q8_0``), so that both options take
        the same spellings, in any case and with ``-`` and ``_`` alike. A name of neither comes
        back in capitals, for the lookup to refuse."""
        key = _format_key(name)
        weight = _format_key(self.weight_id(name))
        spellings = {weight, *(_format_key(alias) for alias, target in self.aliases.items()
                               if _format_key(target) == weight)}
        return next((kv for kv in self.kv_cache_bits if _format_key(kv) in {key, *spellings}),
                    name.strip().upper())


def _format_key(name: str) -> str:
    """A format name as the tables are matched: capitals, ``-`` read as ``_`` (``INT4-AWQ`` is
    written either way, as llama.cpp writes ``Q4_K_M`` with underscores)."""
    return name.strip().upper().replace("-", "_")


@dataclass
class _Tables:
    device_classes: dict[str, DeviceClass]
    devices: dict[str, DeviceProfile]
    dram_pj_per_bit: dict[str, float]
    architectures: dict[str, Architecture]
    nodes: dict[str, NodeProfile]


@lru_cache(maxsize=1)
def _shipped_formats() -> _Formats:
    """The format table, which no user file changes: read without the user's files, so that
    help texts listing the formats show even when one of those files is bad."""
    document = _read_shipped_json("quantisations.json")
    weights = {
        row["id"]: Quantisation(
            id=row["id"],
            bits_per_weight=row["bits_per_weight"],
            int8_kernels=row["int8_kernels"],
            derivation=row["derivation"],
            source=row["source"],
            dense_bits_per_weight=row.get("dense_bits_per_weight"),
        )
        for row in document["weights"]
    }
    return _Formats(
        weights=weights,
        aliases=dict(document.get("aliases", {})),
        kv_cache_bits={row["id"]: row["bits"] for row in document["kv_cache"]},
    )


@lru_cache(maxsize=1)
def _tables() -> _Tables:
    devices = _read_shipped_json("devices.json")
    architectures = _read_shipped_json("architectures.json")
    nodes = _nodes(_read_shipped_json("nodes.json")["nodes"])
    tables = _Tables(
        device_classes={row["id"]: _device_class(row) for row in devices["device_classes"]},
        devices={row["id"]: _device(row, nodes) for row in devices["devices"]},
        dram_pj_per_bit={k: v["value"] for k, v in devices["dram_pj_per_bit"].items()},
        architectures={row["id"]: _architecture(row) for row in architectures["architectures"]},
        nodes=nodes,
    )

    for variable, path in user_data_files():
        try:
            if variable == DEVICES_ENVIRONMENT_VARIABLE:
                _add_devices(tables, path)
            else:
                _add_architectures(tables, path)
        except ValueError as error:
            raise UserFileError(str(error), variable, path) from None
    return tables


def _user_files(variable: str) -> list[str]:
    """The user files an environment variable names, separated like PATH entries."""
    return [part for part in os.environ.get(variable, "").split(os.pathsep) if part.strip()]


def user_data_files() -> list[tuple[str, str]]:
    """The user device and architecture files the environment names, each with its variable
    (the files a command reads besides the shipped tables)."""
    return [
        (variable, path)
        for variable in (DEVICES_ENVIRONMENT_VARIABLE, ARCHITECTURES_ENVIRONMENT_VARIABLE)
        for path in _user_files(variable)
    ]


def _rows(path: str | Path, document: dict[str, Any], key: str, build: Any) -> list[Any]:
    """Build every row of ``document[key]``, naming the file, row and field of a bad one."""
    rows = document.get(key, [])
    if not isinstance(rows, list):
        raise InputError(f"{path}: '{key}' must be a list")
    built = []
    for number, row in enumerate(rows, start=1):
        try:
            built.append(build(row))
        except KeyError as error:
            raise InputError(f"{path}: {key} row {number} lacks the field {error}") from None
        except (TypeError, ValueError, AttributeError) as error:
            raise InputError(f"{path}: {key} row {number} is malformed: {error}") from None
    return built


def load_devices(path: str | Path) -> tuple[DeviceProfile, ...]:
    """Add or replace devices (and device classes) from a JSON file shaped like ``devices.json``.

    The file has a ``devices`` list, a ``device_classes`` list or a ``dram_pj_per_bit`` object
    (energy per bit of each memory type), or several; entries replace shipped ones with the same
    id (a device's in any case) or memory type. A row holds only the fields of the shipped rows
    (:data:`DEVICE_ROW_FIELDS`, :data:`DEVICE_CLASS_ROW_FIELDS`), and the file only the keys of
    :data:`DEVICE_FILE_FIELDS`. A device's ``node`` must be in the node table (any case) or
    null, and the file may name each device and device class once. Returns the devices read.
    The environment variable ``SHOAL_DEVICES`` names files to load this way at start-up
    (``shoal serve --devices``).

    Raises:
        ValueError: If the file cannot be read or holds an unknown or malformed field; the
            message names the file, the row and the field, and the tables are unchanged.
    """
    return _add_devices(_tables(), path)


def _add_devices(tables: _Tables, path: str | Path) -> tuple[DeviceProfile, ...]:
    # Check the whole file before changing the tables, so a bad file changes nothing.
    document = _read_json(path)
    _check_top_level(path, document, DEVICE_FILE_FIELDS, "a device file")
    if not any(name in document for name in ("devices", "device_classes", "dram_pj_per_bit")):
        raise InputError(f"{path}: no 'devices' list (nor 'device_classes' or "
                         "'dram_pj_per_bit'); see devices.json")
    class_rows = _rows(path, document, "device_classes", _device_class)
    _check_one_row_each(path, "device_classes", class_rows, ("id",), "device class")
    classes = {row.id: row for row in class_rows}
    dram_energies = _dram_energies(path, document.get("dram_pj_per_bit"))
    added = tuple(_rows(path, document, "devices", lambda row: _device(row, tables.nodes)))
    _check_one_row_each(path, "devices", added, ("id",), "device")
    known = {**tables.device_classes, **classes}
    for device in added:
        if device.device_class not in known:
            raise InputError(
                f"{path}: device {device.id!r} has unknown device_class "
                f"{device.device_class!r}; known: {', '.join(sorted(known))}"
            )
    _check_memory_interface_power(path, tables, added, dram_energies)

    tables.device_classes.update(classes)
    tables.dram_pj_per_bit.update(dram_energies)
    for device in added:
        _replace_any_case(tables.devices, device.id, device)
    logger.info("loaded %d devices from %s", len(added), path)
    return added


def _check_memory_interface_power(
    path: str | Path, tables: _Tables, added: Sequence[DeviceProfile],
    dram_energies: Mapping[str, float],
) -> None:
    """Refuse a file after which a device's memory interface at full bandwidth (bandwidth x 8
    bits x DRAM energy per bit) would draw more than the whole device: one of the three figures
    is wrong, and the estimates would contradict the device's power (the energy of the bytes a
    token moves, times the tokens per second, kilowatts on a 450 W card). A device of the file
    is named by its row; a table device, by the dram_pj_per_bit entry that prices its memory."""
    energies = {**tables.dram_pj_per_bit, **dram_energies}
    for number, device in enumerate(added, start=1):
        interface_w = _full_bandwidth_power_w(device, energies)
        if interface_w > device.power_w:
            raise InputError(
                f"{path}: devices row {number} ({device.id!r}): its memory interface at full "
                f"bandwidth would draw {_power_over(device, energies, interface_w)}"
            )
    replaced = {device.id.lower() for device in added}
    for device in tables.devices.values():
        if device.id.lower() in replaced or device.memory_type not in dram_energies:
            continue
        interface_w = _full_bandwidth_power_w(device, energies)
        if interface_w > device.power_w:
            raise InputError(
                f"{path}: dram_pj_per_bit entry {excerpt(device.memory_type)} would have the "
                f"memory interface of {device.id!r} at full bandwidth draw "
                f"{_power_over(device, energies, interface_w)}"
            )


def _full_bandwidth_power_w(device: DeviceProfile, energies: Mapping[str, float]) -> float:
    """A device's DRAM interface power at full bandwidth; 0 without an energy per bit."""
    pj_per_bit = energies.get(device.memory_type or "", 0.0)
    return device.bandwidth_gbs * 1e9 * 8.0 * pj_per_bit / 1e12


def _power_over(device: DeviceProfile, energies: Mapping[str, float], interface_w: float) -> str:
    """The end of a refusal of a memory interface that draws more than its device."""
    memory = device.memory_type or ""
    return (
        f"{interface_w:,.0f} W ({device.bandwidth_gbs:,g} GB/s x {energies[memory]:,g} pJ/bit of "
        f"{memory}), more than the device's power_w of {device.power_w:,g} W; check the "
        f"device's bandwidth_gbs and power_w and the energy per bit of {memory}"
    )


def load_architectures(path: str | Path) -> tuple[Architecture, ...]:
    """Add or replace model architectures from a JSON file shaped like ``architectures.json``.

    A row holds only the fields of the shipped rows (:data:`ARCHITECTURE_ROW_FIELDS`), and the
    file only the keys of :data:`ARCHITECTURE_FILE_FIELDS`; a malformed file is a ValueError
    naming the file, the row and the field, and changes nothing. The environment variable
    ``SHOAL_ARCHITECTURES`` names files to load this way at start-up (``shoal serve
    --architectures``).
    """
    return _add_architectures(_tables(), path)


def _add_architectures(tables: _Tables, path: str | Path) -> tuple[Architecture, ...]:
    document = _read_json(path)
    _check_top_level(path, document, ARCHITECTURE_FILE_FIELDS, "an architecture file")
    if "architectures" not in document:
        raise InputError(f"{path}: no 'architectures' list; see architectures.json")
    added = tuple(_rows(path, document, "architectures", _architecture))
    _check_one_row_each(path, "architectures", added, ("id", "hf_repo"), "model")
    for architecture in added:
        _replace_any_case(tables.architectures, architecture.id, architecture)
    logger.info("loaded %d architectures from %s", len(added), path)
    return added


def _check_top_level(
    path: str | Path, document: Mapping[str, Any], allowed: Sequence[str], kind: str
) -> None:
    """Refuse a key that ``kind`` of file ("a device file") does not hold, since a misspelt one
    would be ignored unseen, and a description of the file that is not text."""
    unknown = unknown_field(document, allowed, "top-level field")
    if unknown is not None:
        raise InputError(f"{path}: {unknown}; {kind} holds {', '.join(allowed)}")
    for name in ("as_of", "description", "claim_type"):
        value = document.get(name)
        if name in allowed and value is not None and not isinstance(value, str):
            raise InputError(f"{path}: top-level field '{name}' must be a string or null, got "
                             f"{excerpt(value)}")
        try:
            _check_printable(f"top-level field '{name}'", value)
        except ValueError as error:
            raise InputError(f"{path}: {error}") from None


def _dram_energies(path: str | Path, entries: Any) -> dict[str, float]:
    """A device file's ``dram_pj_per_bit``: each memory type (as devices' ``memory_type`` spell
    it) mapped to ``{"value": pJ per bit, "source": where it comes from}``."""
    if entries is None:
        return {}
    if not isinstance(entries, Mapping):
        raise InputError(f"{path}: 'dram_pj_per_bit' must be an object mapping each memory type "
                         f"to {{\"value\": pJ per bit, \"source\": ...}}, got {excerpt(entries)}")
    energies = {}
    for memory_type, entry in entries.items():
        where = f"{path}: dram_pj_per_bit entry {excerpt(memory_type)}"
        try:
            # The memory type is printed in power-split notes, as devices' memory_type is.
            _check_printable("the memory type", memory_type)
        except ValueError as error:
            raise InputError(f"{where}: {error}") from None
        if not isinstance(entry, Mapping):
            raise InputError(f"{where} must be an object {{\"value\": pJ per bit, \"source\": "
                             f"...}}, got {excerpt(entry)}")
        unknown = unknown_field(entry, DRAM_ENERGY_FIELDS)
        if unknown is not None:
            raise InputError(f"{where}: {unknown}; an entry holds value and source")
        value = entry.get("value")
        if not _non_negative(value) or value > MAX_DRAM_PJ_PER_BIT:
            raise InputError(f"{where}: field 'value' must be a number of pJ per bit from 0 to "
                             f"{MAX_DRAM_PJ_PER_BIT:,.0f}, got {excerpt(value)}")
        if entry.get("source") is not None and not isinstance(entry["source"], str):
            raise InputError(f"{where}: field 'source' must be a string, got "
                             f"{excerpt(entry['source'])}")
        try:
            _check_printable("field 'source'", entry.get("source"))
        except ValueError as error:
            raise InputError(f"{where}: {error}") from None
        energies[memory_type] = float(value)
    return energies


def _replace_any_case(table: dict[str, Any], key: str, value: Any) -> None:
    """Set ``table[key]``, dropping an entry whose key differs only in case: ids match in any
    case, so a user's row replaces the shipped one however it spells the id."""
    for existing in [k for k in table if k.lower() == key.lower()]:
        del table[existing]
    table[key] = value


def _check_one_row_each(
    path: str | Path, table: str, added: Sequence[Any], fields: Sequence[str], kind: str
) -> None:
    """Refuse a file that names one entry twice by any of ``fields`` (an id, a Hugging Face
    repository), in any case: the later row would silently win, or lookups would pick one."""
    for field_name in fields:
        first: dict[str, int] = {}
        for number, row in enumerate(added, start=1):
            value = (getattr(row, field_name) or "").lower()
            if not value:
                continue
            if value in first:
                raise InputError(
                    f"{path}: {table} rows {first[value]} and {number} have the same "
                    f"{field_name} ({getattr(row, field_name)!r}, in any case); give each {kind} "
                    "one row"
                )
            first[value] = number


def reset_tables() -> None:
    """Forget user additions and reload the shipped tables on next use."""
    _tables.cache_clear()
    _shipped_formats.cache_clear()


def list_devices() -> tuple[DeviceProfile, ...]:
    """Every known device, in table order."""
    return tuple(_tables().devices.values())


def list_device_classes() -> tuple[DeviceClass, ...]:
    """Every device class with its efficiency factors."""
    return tuple(_tables().device_classes.values())


def list_nodes() -> tuple[NodeProfile, ...]:
    """Every known process node, cumulative against TSMC N7 = 1."""
    return tuple(_tables().nodes.values())


def list_architectures() -> tuple[Architecture, ...]:
    """Every model with a known architecture."""
    return tuple(_tables().architectures.values())


def list_quantisations() -> tuple[Quantisation, ...]:
    """Every known weight format."""
    return tuple(_shipped_formats().weights.values())


# Where a user finds every id of a kind, for an unknown name with no close match.
_LISTED_BY = {
    "device": "`shoal hw devices`",
    "model": "`shoal hw models`",
    "process node": "`shoal hw nodes`",
}


# Endings that name a variant or release of a model rather than another model: a model named
# with one its id lacks (Qwen3-8B-Instruct for qwen3-8b) or without one its id has (gemma-3-4b
# for gemma-3-4b-it, mistral-7b for mistral-7b-instruct-v0.3) is the same family and size.
_VARIANT_WORDS = frozenset({"instruct", "it", "chat", "base", "hf", "gguf"})
_RELEASE = re.compile(r"v[0-9]+(?:\.[0-9]+)*")


def _stem(name: str) -> str:
    """A lowercased id or repository name without its owner (``qwen/``) and variant endings."""
    words = name.rsplit("/", 1)[-1].split("-")
    while len(words) > 1 and (words[-1] in _VARIANT_WORDS or _RELEASE.fullmatch(words[-1])):
        words.pop()
    return "-".join(words)


def _near(name: str, known: Mapping[str, str]) -> list[str]:
    """Up to five ids close to ``name``; ``known`` maps lowercased ids to ids.

    Ids whose stems (see `_stem`) are equal come first, then ids with close stems, then ids
    close as written and ids that contain ``name``: for ``qwen3-8b-instruct`` the id
    ``qwen3-8b`` leads, where comparing whole ids ranks ``qwen2.5-7b-instruct`` first.
    """
    candidates = list(known)
    # difflib cannot match a name over 2.4 times as long as every id, and comparing one costs
    # its length: a megabyte name is not compared.
    comparable = len(name) <= 3 * max((len(key) for key in candidates), default=0)
    stems = {key: _stem(key) for key in candidates}
    stem = _stem(name)
    close_stems = (difflib.get_close_matches(stem, set(stems.values()), n=5, cutoff=0.5)
                   if comparable else [])
    ranked = sorted(
        (key for key in candidates if stems[key] in close_stems),
        key=lambda key: (stems[key] != stem, close_stems.index(stems[key])),
    )
    if comparable:
        ranked += difflib.get_close_matches(name, candidates, n=5, cutoff=0.5)
    ranked += [key for key in candidates if name and name in key]
    return [known[key] for key in dict.fromkeys(ranked)][:5]


def _lookup(
    table: Mapping[str, Any], name: str, kind: str, error: type[UnknownNameError],
    shown: str | None = None, choices: str | None = None,
) -> Any:
    # Ids match case-insensitively; the message suggests the closest ones, or else ``choices``
    # (the table's ids by default). It quotes the name, or says where it was found as ``shown``
    # does.
    if not isinstance(name, str):
        raise TypeError(f"{kind} must be a string id, got {_type_name(name)}")
    lowered = {key.lower(): key for key in table}
    key = name.strip().lower()
    if key in lowered:
        return table[lowered[key]]

    near = _near(key, lowered)
    if near:
        hint = f"near matches: {', '.join(near)}"
    elif kind in _LISTED_BY:
        hint = f"no close match; {_LISTED_BY[kind]} lists them"
    else:
        hint = f"no close match; choose among {choices or ', '.join(sorted(table))}"
    if kind == "model":
        hint = _closed_weights_hint(name) or hint
    raise error(f"unknown {kind} {shown or excerpt(name)}; {hint}")


def _closed_weights_hint(name: str) -> str | None:
    """For a catalog model without open weights, say so instead of suggesting look-alikes."""
    from shoal.catalog import configured_catalog

    try:
        entry = configured_catalog().model(name)
    except ValueError:
        return None
    if entry.open_weights:
        return None
    return (
        f"{entry.id} has no open weights, so it cannot run on your own hardware; "
        "`shoal hw models` lists the models that can"
    )


def get_device(device_id: str) -> DeviceProfile:
    """The device with this id (``UnknownDeviceError`` lists near matches)."""
    return _lookup(_tables().devices, device_id, "device", UnknownDeviceError)


def get_architecture(model_id: str) -> Architecture:
    """The architecture of this model id, or of its Hugging Face repository
    (``meta-llama/Llama-3.1-8B-Instruct``, any case, the address of its page on
    huggingface.co, or Ollama's ``hf.co/OWNER/NAME:FORMAT``); ``UnknownArchitectureError``
    lists near matches, or says why an address on the hub is no model page's (a ``..``
    segment, a path past ``/tree/REVISION``, a format tag after an https address), and
    ``UnknownQuantisationError`` refuses a format tag that names no format."""
    architectures = _tables().architectures
    if isinstance(model_id, str) and "/" in model_id:
        # An address is looked up, and its near matches found, by the repository it names; a
        # format tag naming no format is refused rather than dropped.
        address_format(model_id)
        model_id = _hub_address(model_id)[0]
        wanted = model_id.lower()
        # The latest loaded first: a user file's row for a repository overrides the shipped one.
        for architecture in reversed(list(architectures.values())):
            if architecture.hf_repo and architecture.hf_repo.lower() == wanted:
                return architecture
    return _lookup(architectures, model_id, "model", UnknownArchitectureError)


# The start of an address on the Hugging Face hub, with or without its scheme.
_HUB = re.compile(r"(?P<scheme>https?://)?(?:www\.)?(?:huggingface\.co|hf\.co)/",
                  re.IGNORECASE)

# The tag Ollama reads as "no tag": the repository's default file (Q4_K_M where there is one).
OLLAMA_DEFAULT_TAG = "latest"

# A model page's address as a browser shows it, https://huggingface.co/<owner>/<name>[/] or
# .../tree/<revision>[/], a clone URL (<name>.git) or Ollama's hf.co/<owner>/<name>:<format>,
# each with any query or fragment after it: the path as it follows the hub's address. The
# owner, the name and the revision are spelt as the hub spells repository ids (letters, digits,
# '_', '-' and '.', starting and ending with a letter, digit or '_', so never "." or ".."): a
# path a browser would take elsewhere (Qwen/Qwen3-8B/../../meta-llama/...) or that goes on to
# a file or another page is no model page, and must not be read as the model it starts with.
# The name is matched lazily, so that a clone URL's ".git" is not taken as part of it.
_PART = r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*?[A-Za-z0-9_])?"
_MODEL_PAGE = re.compile(
    rf"(?P<repository>{_PART}/{_PART})"
    rf"(?:\.git|:(?P<tag>[A-Za-z0-9_.-]+)|/(?:tree/{_PART}/?)?)?(?:[?#].*)?",
    re.DOTALL,
)


def _hub_address(text: str) -> tuple[str, str | None]:
    """``owner/name`` and the format tag from a repository id or an address on the Hugging Face
    hub (the tag None when there is none, or it is Ollama's ``latest``); other text as it is.

    Raises:
        UnknownArchitectureError: An address on the hub that is not a model page's, or a tag
            after an https address: ``:FORMAT`` is Ollama's, which has no scheme, and a browser
            given one would look for a repository whose name ends in it.
    """
    text = text.strip()
    hub = _HUB.match(text)
    if hub is None:
        return text, None
    page = _MODEL_PAGE.fullmatch(text, hub.end())
    if page is None:
        raise UnknownArchitectureError(
            f"unknown model {excerpt(text)}: not the address of a model page, as "
            f"{_not_a_page(text[hub.end():])}; give https://huggingface.co/OWNER/NAME (with at "
            "most /tree/REVISION after it) or the repository id OWNER/NAME"
        )
    tag = page["tag"]
    if tag is not None and hub["scheme"]:
        raise UnknownArchitectureError(
            f"unknown model {excerpt(text)}: a format tag ({excerpt(':' + tag)}) ends only "
            "Ollama's address hf.co/OWNER/NAME:FORMAT, which has no https://; give that, or "
            "the page's address with the format as its own argument"
        )
    if tag is not None and tag.lower() == OLLAMA_DEFAULT_TAG:
        tag = None
    return page["repository"], tag


def address_format(model: str) -> Quantisation | None:
    """The weight format the tag of an Ollama-style address names (``Q8_0`` for
    ``hf.co/Qwen/Qwen3-8B:Q8_0``, by id or alias in any case); None for a model named any other
    way, or tagged ``latest``.

    Raises:
        UnknownQuantisationError: A tag that names no format (with the formats near it).
        UnknownArchitectureError: An address on the hub that is no model page's.
    """
    if not isinstance(model, str) or "/" not in model:
        return None
    tag = _hub_address(model)[1]
    if tag is None:
        return None
    shown = f"{excerpt(':' + tag)} in {excerpt(model.strip())}"
    return _shipped_formats().find(tag, "format tag", shown)


def _not_a_page(path: str) -> str:
    """Why the path after the hub's address is not a model page's, for the refusal."""
    page = re.split(r"[?#]", path, maxsplit=1)[0]
    if page.endswith(":"):
        return "the format tag after its ':' is empty"
    segments = page.split("/")
    if {".", ".."} & set(segments):
        return "its path has a '.' or '..' segment, which a browser would follow to another page"
    return "its path is not OWNER/NAME, or goes on past it"


def get_node(node_id: str) -> NodeProfile:
    """The process node with this id (``UnknownNodeError`` lists near matches)."""
    return _lookup(_tables().nodes, node_id, "process node", UnknownNodeError)


def get_quantisation(name: str) -> Quantisation:
    """The weight format with this name; common aliases (``Q4_K``, ``AWQ``) are accepted."""
    return _shipped_formats().find(name)


_Found = TypeVar("_Found")


def _given_as(
    parameter: str, lookup: Callable[[Any], _Found], name: Any, index: int | None = None
) -> _Found:
    """``lookup(name)``, its unknown-name error marked as the value of ``parameter``: two
    arguments may take the same kind of name (from_node and to_node), and an empty or blank one
    quotes as nothing that tells them apart. A name that is no string is refused naming the
    argument, and ``index``, its place in the argument's list."""
    if not isinstance(name, str):
        where = parameter if index is None else f"{parameter}[{index}]"
        raise TypeError(f"{where} must be a string id, got {_type_name(name)}")
    try:
        return lookup(name)
    except UnknownNameError as error:
        error.parameter = parameter
        raise


def _type_name(value: Any) -> str:
    """The type of a refused value as a Python caller writes it: ``None``, not ``NoneType``."""
    return "None" if value is None else type(value).__name__


def list_kv_cache_types() -> tuple[str, ...]:
    """The KV-cache formats :func:`kv_cache_bits` knows, in table order."""
    return tuple(_shipped_formats().kv_cache_bits)


def kv_cache_bits(name: str) -> float:
    """Bits per value of a KV-cache type, one of :func:`list_kv_cache_types` (any case), or
    a name its weight format goes by (``FP16``, ``Q8``, ``Q4``)."""
    return _kv_cache(name)[1]


def _kv_cache_given(kv_cache_type: str | None) -> tuple[str, float]:
    """The id and bits of the ``kv_cache_type`` argument; None is the default, as None is for
    the weight format beside it."""
    name = DEFAULT_KV_CACHE_TYPE if kv_cache_type is None else kv_cache_type
    return _given_as("kv_cache_type", _kv_cache, name)


def _kv_cache(name: str) -> tuple[str, float]:
    """The id and bits per value of the KV-cache type ``name`` names (see :func:`kv_cache_bits`)."""
    formats = _shipped_formats()
    key = formats.kv_cache_id(name) if isinstance(name, str) else name
    # An unknown one is quoted as typed, not in the capitals it was looked up in; the choices
    # carry their bits, since a name like INT8 says a width the table spells otherwise.
    choices = ", ".join(f"{kv} ({bits:g} bits)" for kv, bits in formats.kv_cache_bits.items())
    bits = _lookup(formats.kv_cache_bits, key, "KV-cache type", UnknownQuantisationError,
                   excerpt(name) if isinstance(name, str) else None, choices)
    return key, bits


# ---------------------------------------------------------------------------------------------
# Inference estimates


def _positive_int(name: str, value: Any, limit: int) -> int:
    number = whole_number(value)
    if number is None:
        raise TypeError(f"{name} must be an int, got {_type_name(value)}")
    if number <= 0:
        raise ParameterError(name, f"must be > 0, got {grouped_number(number)}")
    if number > limit:
        raise ParameterError(name, f"must be at most {limit:,}, got {grouped_number(number)}")
    return number


def _check_number(name: str, value: Any) -> float:
    number = real_number(value)
    if number is None:
        raise TypeError(f"{name} must be a number, got {_type_name(value)}")
    return number


def _finite(value: float) -> bool:
    # An int is finite however large: math.isfinite would convert it to a float, and one past
    # the float range (10**400) raised OverflowError instead of being refused by its bound.
    return isinstance(value, int) or math.isfinite(value)


def _check_text(name: str, value: Any) -> None:
    """A non-empty text that prints as it reads, as a device row's texts are checked."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {_type_name(value)}")
    if not value.strip():
        raise ParameterError(name, "must not be empty")
    problem = unprintable(value)
    if problem is not None:
        raise ParameterError(name, problem)


def _check_mode(mode: Any) -> PortMode:
    """A port mode, one of :data:`PORT_MODES`. Checked here, not left to the cores, whose
    refusals differ (a plain ValueError, and for None a TypeError in each core's words)."""
    if not isinstance(mode, str):
        raise TypeError(f"mode must be a string, got {_type_name(mode)}")
    for known in PORT_MODES:
        if mode == known:
            return known
    raise ParameterError("mode", "must be 'iso-power', 'iso-performance' or 'iso-area', got "
                         f"{excerpt(mode)}")


def _check_figure(name: str, value: Any, minimum: float, limit: float) -> float:
    """A finite number from ``minimum`` (above 0) to ``limit``."""
    number = _check_number(name, value)
    if not (_finite(number) and minimum <= number <= limit):
        raise ParameterError(name, f"must be a number from {minimum:g} to {limit:,.0f}, "
                             f"got {grouped_number(number)}")
    return number


def _check_fraction(name: str, value: Any) -> float:
    """A share from 0 up to, not including, 1."""
    number = _check_number(name, value)
    if not (_finite(number) and 0 <= number < 1):
        raise ParameterError(name, "must be a number from 0 up to (not including) 1, got "
                             f"{grouped_number(number)}")
    return number


def _check_flag(name: str, value: Any) -> bool:
    # 'yes', 1 or None would be taken as true or false and reported back as given.
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {_type_name(value)}")
    return value


def _checked_sram_mb(sram_mb: Any) -> float | None:
    """``sram_mb`` when it is None or a finite number of MB (binary, as cache sizes are quoted)
    from 0 to :data:`MAX_SRAM_MB`."""
    if sram_mb is None:
        return None
    given = sram_mb
    sram_mb = real_number(given)
    if sram_mb is None:
        raise TypeError(f"sram_mb must be a number, got {_type_name(given)}")
    if not (_finite(sram_mb) and 0 <= sram_mb <= MAX_SRAM_MB):
        # Every digit, grouped as the limit is: a rounded value (1e+06 for 1,000,001) would
        # look in range.
        raise ParameterError("sram_mb", f"must be a number of MB from 0 to {MAX_SRAM_MB:,}, "
                             f"got {grouped_number(sram_mb)}")
    # -0.0 (what -1e-400 underflows to) is no SRAM; kept, it printed as "-0 MB".
    return 0.0 if sram_mb == 0 else float(sram_mb)


def model_keywords(arch: Architecture) -> dict[str, float]:
    """The model-shape keywords of ``core.estimate_inference`` for an architecture."""
    return {
        "params_b": arch.params_b,
        "active_params_b": arch.active_params_b,
        "layers": arch.layers,
        "attention_heads": arch.attention_heads,
        "kv_heads": arch.kv_heads,
        "head_dim": arch.head_dim,
        "sliding_window": arch.sliding_window,
        "sliding_window_layers": arch.sliding_window_layers,
        "dense_params_b": arch.dense_params_b,
    }


def format_keywords(quant: Quantisation, arch: Architecture) -> dict[str, float]:
    """The weight-format keywords of ``core.estimate_inference`` for a model in a format.

    The always-read parameters take the format's ``dense_bits_per_weight`` only in a format
    the model's row lists in ``dense_bits_formats`` (gpt-oss in MXFP4); otherwise every weight
    is read at ``bits_per_weight``, the bits memory counts it at.
    """
    dense = quant.dense_bits_per_weight
    if dense is None or quant.id not in arch.dense_bits_formats:
        dense = quant.bits_per_weight
    return {"bits_per_weight": quant.bits_per_weight, "dense_bits_per_weight": dense}


def device_keywords(
    profile: DeviceProfile, quant: Quantisation, klass: DeviceClass | None = None
) -> dict[str, float]:
    """The device keywords of ``core.estimate_inference`` for a device running a format.

    The compute peak is the dense INT8 rate when the class's engines run integer kernels for
    this format (llama.cpp's quantised matrix kernels on NVIDIA), else the dense FP16 rate.
    """
    tables = _tables()
    klass = klass or tables.device_classes[profile.device_class]
    runs_int8 = klass.prefill_peak == "int8" and quant.int8_kernels
    compute_peak = profile.int8_tops if runs_int8 and profile.int8_tops else profile.fp16_tflops
    # The cores take 0 for an unknown energy: no DRAM floor, and all power follows the node.
    dram_pj_per_bit = dram_energy_per_bit(profile)
    return {
        "memory_gb": profile.memory_capacity_gb,
        "usable_fraction": klass.usable_fraction,
        "bandwidth_gbs": profile.bandwidth_gbs,
        "tflops": compute_peak,
        "power_w": profile.power_w,
        "dram_pj_per_bit": 0.0 if dram_pj_per_bit is None else dram_pj_per_bit,
        "runtime_overhead_gb": klass.runtime_overhead_gb,
        "decode_efficiency": klass.decode_efficiency,
        "decode_efficiency_low": klass.decode_efficiency_low,
        "decode_efficiency_high": klass.decode_efficiency_high,
        "overhead_ms": klass.overhead_ms,
        "overhead_ms_low": klass.overhead_ms_low,
        "overhead_ms_high": klass.overhead_ms_high,
        "prefill_efficiency": klass.prefill_efficiency,
        "prefill_efficiency_low": klass.prefill_efficiency_low,
        "prefill_efficiency_high": klass.prefill_efficiency_high,
        "power_fraction": klass.power_fraction,
    }


def dram_energy_per_bit(profile: DeviceProfile) -> float | None:
    """The DRAM energy per bit of the device's memory type, ``None`` where the device table
    has none (LPDDR5, LPDDR5X and GDDR7 have no sourced figure)."""
    if profile.memory_type is None:
        return None
    return _tables().dram_pj_per_bit.get(profile.memory_type)


def _moe_note(arch: Architecture, raw: Mapping[str, Any], batch: int) -> str:
    held = f"MoE: memory holds all {arch.params_b:g} B parameters; "
    if batch == 1:
        return held + f"each token reads the {arch.active_params_b:g} B active ones"
    # The core counts the union of the batch's experts (uniform routing, see rust/infer.rs).
    return held + (
        f"a step of {batch} sequences reads {raw['weights_read_gb']:.3g} of the "
        f"{raw['weights_gb']:.3g} GB of weights, as its tokens route to different experts "
        "(routing assumed uniform; real routers favour some experts, so somewhat less)"
    )


def _notes(
    arch: Architecture, profile: DeviceProfile, raw: Mapping[str, Any], context: int,
    batch: int,
) -> tuple[str, ...]:
    notes = [
        (
            "estimate: two-term roofline with efficiency factors fitted per device class, not a "
            "measurement"
        ),
        (
            f"decode speed is at a context depth of {context:,} token{'s' * (context != 1)}; "
            "prefill assumes the whole context is the prompt and excludes model load time"
        ),
        (
            "energy is average decode power (a class fraction of the device's power) times the "
            "step time"
        ),
    ]
    if arch.is_moe:
        notes.append(_moe_note(arch, raw, batch))
    if arch.sliding_window_layers:
        notes.append(
            f"{arch.sliding_window_layers} of {arch.layers} layers cache at most "
            f"{arch.sliding_window:,} tokens (sliding window)"
        )
    if context > arch.max_context:
        notes.append(f"context {context:,} exceeds the model's maximum of {arch.max_context:,}")
    if not raw["fits"]:
        notes.append("does not fit: offloading to system memory would be far slower than shown")
    if batch > 1:
        summed = format_speed(raw["decode_batch_tokens_per_s"], decimals=0)
        notes.append(
            f"batch of {batch}: decode speed is per sequence ({summed} tok/s summed); time to "
            f"first token is one prompt's alone ({batch} prompts arriving together take up to "
            f"{batch}x as long to prefill); the class factors were fitted on single-sequence "
            "runs, so batched serving engines may differ"
        )
    if raw["decode_compute_bound"]:
        notes.append("decode is compute-bound at this batch size and context depth")
    if arch.notes:
        notes.append(f"architecture: {arch.notes}")
    if profile.notes:
        notes.append(f"device: {profile.notes}")
    return tuple(notes)


def hardware_fit(
    model: str,
    device: str,
    *,
    quantisation: str | None = None,
    context_tokens: int = 4096,
    batch: int = 1,
    kv_cache_type: str | None = DEFAULT_KV_CACHE_TYPE,
) -> HardwareFit:
    """Whether ``model`` fits ``device`` and its decode/prefill speed and energy there.

    Args:
        model: an open-weight model id with an architecture entry (e.g. ``"qwen3-30b-a3b"``),
            its Hugging Face repository or page address, or Ollama's
            ``hf.co/OWNER/NAME:FORMAT``, whose tag sets the weight format.
        device: a device id from :func:`list_devices` (e.g. ``"apple-m4-pro"``).
        quantisation: weight format (``Q4_0``, ``Q4_K_M``, ``Q5_K_M``, ``Q6_K``, ``Q8_0``,
            ``MXFP4``, ``FP8``, ``BF16``, ``FP16``, ``INT4-AWQ``, ``INT4-GPTQ``); None: the
            format the model's address names in its tag, else :data:`DEFAULT_QUANTISATION`.
        context_tokens: context length held in the KV cache, and the decode depth (1 to
            :data:`MAX_CONTEXT_TOKENS`).
        batch: concurrent sequences (1 to :data:`MAX_BATCH`).
        kv_cache_type: KV-cache format, one of :func:`list_kv_cache_types`; None: F16, as when
            left out.

    Raises:
        UnknownNameError: an unknown model, device or format, or a format tag naming no format
            (the message lists near matches).
        ParameterError: ``context_tokens`` or ``batch`` out of range; a ``quantisation``
            other than the format the model's address names in its tag.
    """
    context = _positive_int("context_tokens", context_tokens, MAX_CONTEXT_TOKENS)
    batch_size = _positive_int("batch", batch, MAX_BATCH)
    arch = _given_as("model", get_architecture, model)
    profile = _given_as("device", get_device, device)
    quant = _fit_format(model, quantisation)
    kv_type, kv_bits = _kv_cache_given(kv_cache_type)
    klass = _tables().device_classes[profile.device_class]

    raw = core.estimate_inference(
        **model_keywords(arch),
        **device_keywords(profile, quant, klass),
        **format_keywords(quant, arch),
        kv_bits=kv_bits,
        context_tokens=context,
        batch=batch_size,
    )
    dram_known = dram_energy_per_bit(profile) is not None
    return HardwareFit(
        model=arch.id,
        device=profile.id,
        quantisation=quant.id,
        kv_cache_type=kv_type,
        context_tokens=context,
        batch=batch_size,
        fits=raw["fits"],
        memory_needed_gb=raw["memory_needed_gb"],
        memory_available_gb=raw["memory_available_gb"],
        margin_gb=raw["margin_gb"],
        breakdown=MemoryBreakdown(
            weights_gb=raw["weights_gb"],
            kv_cache_gb=raw["kv_cache_gb"],
            runtime_overhead_gb=raw["runtime_overhead_gb"],
        ),
        decode_tokens_per_s=raw["decode_tokens_per_s"],
        decode_tokens_per_s_low=raw["decode_tokens_per_s_low"],
        decode_tokens_per_s_high=raw["decode_tokens_per_s_high"],
        decode_batch_tokens_per_s=raw["decode_batch_tokens_per_s"],
        decode_bound="compute" if raw["decode_compute_bound"] else "memory bandwidth",
        prefill_tokens_per_s=raw["prefill_tokens_per_s"],
        prefill_tokens_per_s_low=raw["prefill_tokens_per_s_low"],
        prefill_tokens_per_s_high=raw["prefill_tokens_per_s_high"],
        time_to_first_token_s=raw["time_to_first_token_s"],
        time_to_first_token_s_low=raw["time_to_first_token_s_low"],
        time_to_first_token_s_high=raw["time_to_first_token_s_high"],
        joules_per_token=raw["joules_per_token"],
        joules_per_token_low=raw["joules_per_token_low"],
        joules_per_token_high=raw["joules_per_token_high"],
        average_power_w=raw["average_power_w"],
        dram_joules_per_token=raw["dram_joules_per_token"] if dram_known else None,
        device_class=klass.id,
        notes=(*_notes(arch, profile, raw, context, batch_size),
               *_alias_note(quantisation, quant)),
    )


def _alias_note(given: object, quant: Quantisation) -> tuple[str, ...]:
    """A note saying which format an alias was read as (INT4 is INT4-AWQ, not INT4-GPTQ);
    none for the format's own id in another case or with ``-`` for ``_``."""
    if not isinstance(given, str) or _format_key(given) == _format_key(quant.id):
        return ()
    return (f"format {excerpt(given.strip())} read as {quant.id}",)


def _fit_format(model: str, quantisation: str | None) -> Quantisation:
    """The weight format of a fit: ``quantisation``, else the one the tag of the model's address
    names, else :data:`DEFAULT_QUANTISATION`. A ``quantisation`` other than the tag's is
    refused naming both: which of the two was meant cannot be told."""
    tagged = address_format(model)
    if quantisation is None:
        return tagged or get_quantisation(DEFAULT_QUANTISATION)
    quant = _given_as("quantisation", get_quantisation, quantisation)
    if tagged is not None and tagged.id != quant.id:
        raise ParameterError("quantisation", _clash(quant, tagged, model,
                                                    "give the format once, or the same in both"))
    return quant


def _clash(quant: Quantisation, tagged: Quantisation, model: str, advice: str) -> str:
    """Why a format argument is refused beside a model address whose tag names another."""
    return (f"{quant.id} clashes with {tagged.id}, the format the tag of model "
            f"{excerpt(model.strip())} names: {advice}")


def _check_format_tags(
    models: Sequence[Any], quants: Sequence[Quantisation], parameter: str
) -> None:
    """Refuse a model address whose tag names a format that ``parameter`` (the formats of a port
    or a sweep, which apply to every model) does not hold: the tag would be dropped unseen.

    Against the default format, which the caller most likely did not give, the tag is what was
    asked for, and ``models`` is named."""
    used = [quant.id for quant in quants]
    for model in models:
        tagged = address_format(model)
        if tagged is None or tagged.id in used:
            continue
        if used == [DEFAULT_QUANTISATION]:
            raise ParameterError("models", f"name {excerpt(model.strip())}, whose tag names "
                                 f"{tagged.id}, while the format compared is {used[0]}, the "
                                 f"default when none is given: give {tagged.id} as the format, "
                                 "or drop the tag")
        if len(used) == 1:
            raise ParameterError(parameter, _clash(quants[0], tagged, model,
                                                   "drop the tag, or give the same format"))
        raise ParameterError(parameter, f"({', '.join(used)}) leave out {tagged.id}, the format "
                             f"the tag of model {excerpt(model.strip())} names: add it, or drop "
                             "the tag")


# ---------------------------------------------------------------------------------------------
# Process nodes


# Each node figure in words, for the refusal of a node without one.
_NODE_FIGURE_WORDS = {
    "logic_density": "logic density",
    "sram_density": "SRAM density",
    "perf_iso_power": "performance at iso-power",
    "power_iso_perf": "power at iso-performance",
}


def _node_figures(
    profile: NodeProfile, side: str, parameter: str, *, named: bool = True
) -> dict[str, float]:
    """The four figures of a node, keyed ``{side}_logic_density`` and so on, as the cores take
    them. A node missing one is refused as the value of ``parameter``, the argument that gave it
    (``named``) or that must give another (the node was the device's or the chip's own): the
    two nodes of a port are of one kind, and the message alone would not say which of them
    to change."""
    figures = {
        "logic_density": profile.logic_density,
        "sram_density": profile.sram_density,
        "perf_iso_power": profile.perf_iso_power,
        "power_iso_perf": profile.power_iso_perf,
    }
    missing = [_NODE_FIGURE_WORDS[name] for name, value in figures.items() if value is None]
    if missing:
        lacking = (f"process node {profile.id!r}, which has no {' or '.join(missing)} figure "
                   "against the N7 baseline, and every port needs all four node figures (the "
                   "densities set the area and the SRAM that fits, the other two the speed and "
                   "the power)")
        # The node's notes say why the figure is missing and which node to ask for instead.
        why = profile.notes or profile.source
        if named:
            raise ParameterError(parameter, f"names {lacking}: {why}")
        raise ParameterError(parameter, f"is needed: the chip's own node is {lacking}; name "
                             f"another node to port from: {why}")
    return {f"{side}_{name}": value for name, value in figures.items() if value is not None}


def _chip_from_device(
    profile: DeviceProfile, from_node: str | None, sram_mb: float | None = None
) -> Chip:
    node_id = from_node or profile.node
    if node_id is None:
        # A ParameterError, so that each surface names its own option (--from on the CLI). The
        # device id stays out: over MCP a quoted argument value would be blamed for the error.
        raise ParameterError(
            "from_node",
            f"is needed: the device's process ({profile.process or 'not given'}) has no node "
            "in the node table to port from",
        )
    return Chip(
        name=profile.name,
        node=node_id,
        power_w=profile.power_w,
        performance_tflops=profile.fp16_tflops,
        area_mm2=profile.die_area_mm2,
        sram_mb=profile.sram_mb if sram_mb is None else sram_mb,
    )


def _sram_keywords(sram_mb: float | None, bandwidth_gbs: float) -> dict[str, float]:
    """SRAM keywords of ``core.estimate_inference`` for a chip whose runtime pins weights."""
    return {
        "sram_gb": 0.0 if sram_mb is None else sram_mb * GB_PER_MIB,
        "sram_bandwidth_gbs": SRAM_BANDWIDTH_RATIO * bandwidth_gbs,
        "sram_pj_per_bit": SRAM_PJ_PER_BIT,
    }


def _port_inference(
    profile: DeviceProfile,
    sram_mb: float | None,
    ratios: Mapping[str, float],
    archs: Sequence[Architecture],
    quant: Quantisation,
    context: int,
) -> tuple[PortedInference, ...]:
    before_device = {
        **device_keywords(profile, quant),
        **_sram_keywords(sram_mb, profile.bandwidth_gbs),
    }
    after_device = port_device(before_device, before_device["tflops"], ratios)
    results = []
    for arch in archs:
        common = {
            **model_keywords(arch), **format_keywords(quant, arch), "context_tokens": context
        }
        before = core.estimate_inference(**common, **before_device)
        after = core.estimate_inference(**common, **after_device)
        results.append(
            PortedInference(
                model=arch.id,
                quantisation=quant.id,
                context_tokens=context,
                fits=before["fits"],
                memory_needed_gb=before["memory_needed_gb"],
                memory_available_gb=before["memory_available_gb"],
                resident_set_gb=before["weights_gb"] + before["kv_cache_gb"],
                sram_resident_fraction_before=before["sram_resident_fraction"],
                sram_resident_fraction_after=after["sram_resident_fraction"],
                decode_tokens_per_s_before=before["decode_tokens_per_s"],
                decode_tokens_per_s_after=after["decode_tokens_per_s"],
                joules_per_token_before=before["joules_per_token"],
                joules_per_token_after=after["joules_per_token"],
                prefill_tokens_per_s_before=before["prefill_tokens_per_s"],
                prefill_tokens_per_s_after=after["prefill_tokens_per_s"],
            )
        )
    return tuple(results)


def _port_models(models: Any) -> list[Architecture]:
    """The architectures of a port's ``models``, each named once. An empty list is refused: it
    would compare nothing, which reads as a result rather than as nothing asked."""
    listed = _id_list(models, "models")
    if not listed:
        raise ParameterError("models", "must not be empty: pass None (or leave models out) to "
                             "compare every model")
    archs = [_given_as("models", get_architecture, model, index)
             for index, model in enumerate(listed)]
    # A repeat (by any spelling) would be estimated and listed twice.
    _each_once([arch.id for arch in archs], listed, "models")
    return archs


def _refuse_device_arguments(
    archs: Sequence[Architecture] | None, sram_mb: float | None, quant: Quantisation, context: int
) -> None:
    """Refuse, for a :class:`Chip`, the arguments that only a device uses: the chip gives its
    own SRAM, and has no memory system to run models on, so each would be dropped unseen."""
    if sram_mb is not None:
        raise ParameterError("sram_mb", "is a device's on-die SRAM; a Chip gives its own "
                             "(Chip(..., sram_mb=...)): leave sram_mb out")
    comparison = {
        "models": archs is not None,
        "quantisation": quant.id != get_quantisation(PORT_QUANTISATION).id,
        "context_tokens": context != PORT_CONTEXT_TOKENS,
    }
    for name, given in comparison.items():
        if given:
            raise ParameterError(name, "sets the inference compared on a device, and a Chip "
                                 f"has no memory system to run models on: leave {name} out")


def _context_notes(archs: Sequence[Architecture], context: int) -> list[str]:
    """A warning for the compared models whose maximum context is below ``context``, in the
    words of :func:`hardware_fit`'s when one model is compared."""
    over = [arch for arch in archs if context > arch.max_context]
    if not over:
        return []
    if len(archs) == 1:
        return [f"context {context:,} exceeds the model's maximum of {over[0].max_context:,}"]
    listed = ", ".join(f"{arch.id} ({arch.max_context:,})" for arch in over)
    return [f"context {context:,} exceeds the maximum context of {len(over)} of the "
            f"{len(archs)} models compared: {listed}"]


def port_chip(
    device_or_chip: str | Chip,
    *,
    from_node: str | None = None,
    to_node: str,
    mode: PortMode = "iso-power",
    models: Sequence[str] | None = None,
    quantisation: str = PORT_QUANTISATION,
    context_tokens: int = PORT_CONTEXT_TOKENS,
    sram_mb: float | None = None,
) -> PortedChip:
    """Move a device's chip (or any :class:`Chip`) to another process node.

    Args:
        device_or_chip: a device id from :func:`list_devices`, or a :class:`Chip`.
        from_node: the source node; defaults to the device's or chip's own node.
        to_node: the target node id from :func:`list_nodes` (e.g. ``"nanostack-claimed"``).
        mode: ``"iso-power"`` (same power, faster), ``"iso-performance"`` (same speed, less
            power) or ``"iso-area"`` (same die area, more logic and SRAM).
        models: for a device, the models whose inference to compare before and after (``None``:
            every model with an architecture; an empty list is refused).
        quantisation: weight format of those models.
        context_tokens: context held in the KV cache, 1 to :data:`MAX_CONTEXT_TOKENS`; a
            context past a model's maximum is warned of in the notes, as by
            :func:`hardware_fit`.
        sram_mb: on-die SRAM of the device in MB, binary (MiB) as cache sizes are quoted, 0 to
            :data:`MAX_SRAM_MB`, when its table entry has none, or a what-if value.

        ``models``, ``quantisation``, ``context_tokens`` and ``sram_mb`` describe a device's
        inference and memory: they are checked whatever is ported, and for a :class:`Chip`,
        which has no memory system and gives its own ``sram_mb``, refused unless left out (or
        given their defaults), rather than dropped unseen.

    Returns:
        The ported chip's power, performance, area and SRAM, and in ``inference`` what the
        change does to each model: the share of weights and KV cache resident in SRAM, decode
        tokens/s, joules per token and prefill tokens/s, before and after. A device's power is
        split into its memory interface's (bandwidth x DRAM energy per bit), which stays, and
        the die's, which scales with the node; a :class:`Chip`'s power is all die power.

    Raises:
        UnknownNameError: an unknown device, node, model or format (the message lists near
            matches).
        TypeError: an argument of the wrong type (``mode`` not a string, ``from_node`` neither
            a string nor None, ``models`` one string).
        ParameterError: an unknown ``mode``; ``sram_mb`` or ``context_tokens`` out of range;
            an empty ``models``; no ``from_node`` for a device whose node is not in the node
            table; a node (``from_node``, ``to_node``) without the figures the port needs; a
            device-only argument given with a :class:`Chip`; a model address whose format tag
            names another format than ``quantisation``.

    Decode speed bound by DRAM bandwidth does not change with the node; prefill (compute), the
    energy of arithmetic and SRAM, and how much SRAM fits beside the compute do.
    """
    mode = _check_mode(mode)
    sram_mb = _checked_sram_mb(sram_mb)
    context = _positive_int("context_tokens", context_tokens, MAX_CONTEXT_TOKENS)
    quant = _given_as("quantisation", get_quantisation, quantisation)
    archs = None if models is None else _port_models(models)
    if models is not None:
        _check_format_tags(list(models), [quant], "quantisation")
    if from_node is not None:
        # "", False or [] are no node, where taken by their truth they meant the device's own.
        if not isinstance(from_node, str):
            raise TypeError(f"from_node must be a node id (str) or None, got "
                            f"{_type_name(from_node)}")
        # Looked up here, not only as the node of the chip made from it, so that a blank one
        # is an unknown from_node, not a chip whose node is empty.
        _given_as("from_node", get_node, from_node)
    profile = None
    if isinstance(device_or_chip, Chip):
        _refuse_device_arguments(archs, sram_mb, quant, context)
        chip = device_or_chip if from_node is None else _replace_node(device_or_chip, from_node)
    elif isinstance(device_or_chip, str):
        profile = _given_as("device_or_chip", get_device, device_or_chip)
        chip = _chip_from_device(profile, from_node, sram_mb)
    else:
        raise TypeError("device_or_chip must be a device id (str) or a Chip, got "
                        f"{_type_name(device_or_chip)}")
    source = get_node(chip.node)
    target = _given_as("to_node", get_node, to_node)

    ratios = core.scale_chip(
        mode=mode,
        sram_area_fraction=chip.sram_area_fraction,
        **_node_figures(source, "from", "from_node", named=from_node is not None),
        **_node_figures(target, "to", "to_node"),
    )
    notes = [
        f"{target.name}: {target.claim_type} figures, confidence {target.confidence}",
        (
            "cumulative node figures chain claims from different vendors: use for relative "
            "what-if comparisons"
        ),
        "DRAM-bound decode speed does not change with the node",
    ]
    if target.notes:
        notes.append(target.notes)

    # The memory interface's power stays with the memory; only the die's follows the node. With
    # no DRAM energy figure the interface's power is unknown (None) and all of it is counted as
    # the die's.
    interface_w = None
    if profile is not None:
        device = device_keywords(profile, quant)
        if dram_energy_per_bit(profile) is not None:
            interface_w = _memory_interface_power_w(device)
        notes.append(_power_split_note(profile, device, interface_w))
    die_w_before = chip.power_w - (interface_w or 0.0)
    die_w = die_w_before * ratios["power_ratio"]
    power_w = (interface_w or 0.0) + die_w

    def scaled(value: float | None, ratio: float) -> float | None:
        return None if value is None else value * ratio

    area_mm2 = scaled(chip.area_mm2, ratios["area_ratio"])
    density_before = None if chip.area_mm2 is None else die_w_before / chip.area_mm2
    density_after = None if area_mm2 is None else die_w / area_mm2
    if density_before is not None and density_after is not None and density_after > density_before:
        notes.append(
            f"die power density rises x{density_after / density_before:.2f}: the estimate "
            "assumes the cooling removes the extra heat per mm2 (no thermal limit on the clock)"
        )

    inference: tuple[PortedInference, ...] = ()
    if profile is not None:
        compared = list(list_architectures()) if archs is None else archs
        inference = _port_inference(profile, chip.sram_mb, ratios, compared, quant, context)
        notes.extend(_context_notes(compared, context))
        notes.extend(_inference_notes(profile, chip.sram_mb, mode,
                                      ratios["energy_per_operation_ratio"], interface_w))

    power_ratio = power_w / chip.power_w
    return PortedChip(
        name=chip.name,
        from_node=source.id,
        to_node=target.id,
        mode=mode,
        power_w=power_w,
        performance_tflops=chip.performance_tflops * ratios["performance_ratio"],
        area_mm2=area_mm2,
        sram_mb=scaled(chip.sram_mb, ratios["sram_capacity_ratio"]),
        sram_mb_at_iso_area=scaled(chip.sram_mb, ratios["sram_capacity_ratio_iso_area"]),
        power_ratio=power_ratio,
        performance_ratio=ratios["performance_ratio"],
        area_ratio=ratios["area_ratio"],
        sram_capacity_ratio=ratios["sram_capacity_ratio"],
        perf_per_watt_ratio=ratios["performance_ratio"] / power_ratio,
        claim_type=target.claim_type,
        # A float, as every other figure is (a device table gives whole watts as 700).
        power_w_before=float(chip.power_w),
        die_power_w_before=die_w_before,
        die_power_w=die_w,
        die_power_ratio=ratios["power_ratio"],
        memory_interface_power_w=interface_w,
        power_density_w_per_mm2_before=density_before,
        power_density_w_per_mm2=density_after,
        notes=tuple(notes),
        inference=inference,
    )


def format_speed(tokens_per_s: float, *, decimals: int = 1) -> str:
    """``135.6``, ``9,566``; under 1 token/s two significant digits (``0.0031``), so a crawl
    does not read as a standstill."""
    if tokens_per_s == 0 or tokens_per_s >= 1:
        return f"{tokens_per_s:,.{decimals}f}"
    return f"{tokens_per_s:.2g}"


def format_figure(value: float, decimals: int = 1) -> str:
    """A power, compute, SRAM or density figure of a port as its text shows it: ``decimals``
    places with the thousands grouped (``1,970.1``), or two significant digits where those
    places would show fewer (``0.0067``, not ``0.0``): a small device's figures do not read as
    nothing. Below 0.0001 the digits take a power of ten (``1.5e-07``, ``5e-324``), as a float
    prints: in plain decimals a figure near the float limit ran to 300 zeros."""
    if value == 0 or not math.isfinite(value):
        return f"{value:,.{decimals}f}"
    rounded = float(f"{value:.2g}")
    if abs(rounded) >= 10.0 ** (1 - decimals):
        return f"{value:,.{decimals}f}"
    return repr(rounded)


def _memory_interface_power_w(device: Mapping[str, float]) -> float:
    """A device's DRAM interface power at full bandwidth: bandwidth x DRAM energy per bit, at
    most the device power (no table device's memory draws more: a file saying so is refused;
    the cap is the core's, which takes any input). ``port_device`` keeps the same share, in the
    same arithmetic, for the inference estimates, so the ported power agrees with their energy
    per token."""
    interface_w = device["bandwidth_gbs"] * 1e9 * 8.0 * device["dram_pj_per_bit"] / 1e12
    return min(interface_w, device["power_w"])


def _power_split_note(
    profile: DeviceProfile, device: Mapping[str, float], interface_w: float | None
) -> str:
    """How a device's power was split between its memory interface and its die."""
    memory = profile.memory_type or "its memory"
    if interface_w is None:
        return (
            f"power: the device table has no DRAM energy per bit for {memory}, so the memory "
            f"interface's power is unknown: all {format_figure(profile.power_w)} W count as die "
            "power and scale with the node, DRAM power included"
        )
    interface = (
        f"{device['bandwidth_gbs']:,g} GB/s x {device['dram_pj_per_bit']:g} pJ/bit of {memory}"
    )
    return (
        f"power split: the memory interface draws {format_figure(interface_w)} W at full "
        f"bandwidth ({interface}) and stays with the memory; the remaining "
        f"{format_figure(profile.power_w - interface_w)} W is the die's and scales with the node"
    )


def _inference_notes(
    profile: DeviceProfile, sram_mb: float | None, mode: PortMode, energy_ratio: float,
    interface_w: float | None,
) -> list[str]:
    """The assumptions behind a device's before-and-after inference estimates; the die's
    energy per operation after over before is ``energy_ratio``, and the memory interface's power
    ``interface_w`` (None: unknown, all of the power the die's)."""
    notes = [
        "inference before and after assumes the runtime pins what fits of the weights and "
        f"KV cache in on-die SRAM, read at {SRAM_BANDWIDTH_RATIO:g}x DRAM bandwidth "
        "(an assumption)"
    ]
    if sram_mb is None:
        notes.append(
            f"{profile.id} has no on-die SRAM figure in the device table: give one (sram_mb "
            "in Python and over MCP, --sram-mb on the command line) to see which models "
            "become resident"
        )
    # Energy per token is the work done, not the power drawn while waiting on DRAM: an older
    # node's die at iso-area draws less (fewer transistors), yet each operation costs more.
    memory = ("and the memory interface's energy stays" if interface_w is not None
              else "all of the device's energy counted as the die's")
    notes.append(
        f"energy per token: the die's work per token costs x{energy_ratio:.2f} (the energy per "
        f"operation at {mode}: power ratio over performance ratio), {memory}: J/token follows "
        "the work done, not the power drawn while waiting on DRAM"
    )
    return notes


def _replace_node(chip: Chip, node_id: str) -> Chip:
    return Chip(
        name=chip.name,
        node=node_id,
        power_w=chip.power_w,
        performance_tflops=chip.performance_tflops,
        area_mm2=chip.area_mm2,
        sram_mb=chip.sram_mb,
        sram_area_fraction=chip.sram_area_fraction,
    )


# ---------------------------------------------------------------------------------------------
# Sweeps


@dataclass(frozen=True)
class SweepResult:
    """Flat columns of a models × devices × formats × contexts sweep (one entry per row)."""

    model: tuple[str, ...]
    device: tuple[str, ...]
    quantisation: tuple[str, ...]
    context_tokens: tuple[int, ...]
    fits: tuple[bool, ...]
    memory_needed_gb: tuple[float, ...]
    margin_gb: tuple[float, ...]
    decode_tokens_per_s: tuple[float, ...]
    decode_tokens_per_s_low: tuple[float, ...]
    decode_tokens_per_s_high: tuple[float, ...]
    prefill_tokens_per_s: tuple[float, ...]
    time_to_first_token_s: tuple[float, ...]
    joules_per_token: tuple[float, ...]
    within_max_context: tuple[bool, ...]
    """False where the context exceeds the model's maximum: the row is estimated, as a model
    that does not fit is, but describes no run (:func:`pareto_front` leaves such
    configurations out)."""


@dataclass(frozen=True)
class _SweepGroup:
    """Models of a sweep that one core call estimates together: each at the same contexts
    and, in every format, with its always-read parameters at the same bits."""

    models: tuple[int, ...]
    """Indices into the sweep's models."""
    contexts: tuple[int, ...]
    """Indices into the sweep's contexts."""
    dense_bits: tuple[float, ...]
    """The always-read parameters' bits in each of the sweep's formats."""


def _sweep_groups(
    archs: Sequence[Architecture], quants: Sequence[Quantisation], contexts: Sequence[int],
    *, within_max_context: bool,
) -> list[_SweepGroup]:
    """The sweep's models grouped for the core, which takes one weight layout per format and
    one list of contexts for all its models; ``within_max_context`` leaves each model's
    contexts past its maximum out (a model with none left is in no group). Groups follow
    the models' order."""
    grouped: dict[tuple[tuple[int, ...], tuple[float, ...]], list[int]] = {}
    for index, arch in enumerate(archs):
        kept = tuple(
            c for c, tokens in enumerate(contexts)
            if not within_max_context or tokens <= arch.max_context
        )
        dense_bits = tuple(format_keywords(q, arch)["dense_bits_per_weight"] for q in quants)
        if kept:
            grouped.setdefault((kept, dense_bits), []).append(index)
    return [
        _SweepGroup(models=tuple(models), contexts=kept, dense_bits=dense_bits)
        for (kept, dense_bits), models in grouped.items()
    ]


def sweep(
    models: Sequence[str],
    devices: Sequence[str],
    *,
    quantisations: Sequence[str] = ("Q4_K_M",),
    contexts: Sequence[int] = (4096,),
    batch: int = 1,
    kv_cache_type: str | None = DEFAULT_KV_CACHE_TYPE,
) -> SweepResult:
    """Estimate every combination of models × devices × formats × contexts in the core.

    The raw rows of every configuration, fitting or not, and within the model's maximum
    context or not (``within_max_context`` says which); :func:`pareto_front` (what the MCP
    tool ``sweep_hardware`` calls) adds process nodes and SRAM pinning, leaves contexts past a
    model's maximum out and keeps only the front. The per-device compute peak depends on the
    format (INT8 vs FP16 kernels), so the core is called once per format, and per group of
    models sharing a weight layout (see :func:`format_keywords`); rows come back nested model,
    device, format, context.

    Raises:
        UnknownNameError: an unknown model, device or format (with near matches).
        ParameterError: an empty list, a list naming one item twice, a context or the batch
            out of range, a model address whose format tag is not among ``quantisations``.
    """
    batch_size = _positive_int("batch", batch, MAX_BATCH)
    # An empty list would return no rows, which reads as "nothing fits" rather than "not asked".
    contexts = [_positive_int(f"contexts[{index}]", context, MAX_CONTEXT_TOKENS)
                for index, context in enumerate(_non_empty(contexts, "contexts", "token counts"))]
    model_ids = _non_empty(models, "models")
    device_ids = _non_empty(devices, "devices")
    quant_ids = _non_empty(quantisations, "quantisations")
    archs = [_given_as("models", get_architecture, m, i) for i, m in enumerate(model_ids)]
    profiles = [_given_as("devices", get_device, d, i) for i, d in enumerate(device_ids)]
    quants = [_given_as("quantisations", get_quantisation, q, i) for i, q in enumerate(quant_ids)]
    kv_bits = _kv_cache_given(kv_cache_type)[1]
    _check_sweep_lists(model_ids, archs, device_ids, profiles, quant_ids, quants, list(contexts))
    _check_format_tags(model_ids, quants, "quantisations")

    # Each (format, model): the core's columns that hold it, and its place among their models.
    estimated: dict[tuple[int, int], tuple[dict[str, list[Any]], int]] = {}
    for group in _sweep_groups(archs, quants, contexts, within_max_context=False):
        for q_index, q in enumerate(quants):
            result = core.sweep_inference(
                models=[model_keywords(archs[m]) for m in group.models],
                devices=[device_keywords(p, q) for p in profiles],
                bits_per_weight=[q.bits_per_weight],
                dense_bits_per_weight=group.dense_bits[q_index],
                context_tokens=list(contexts),
                kv_bits=kv_bits,
                batch=batch_size,
            )
            for place, m_index in enumerate(group.models):
                estimated[q_index, m_index] = (result, place)

    names = [n for n in SweepResult.__dataclass_fields__ if n not in _SWEEP_LABELS]
    columns: dict[str, list[Any]] = {name: [] for name in SweepResult.__dataclass_fields__}
    per_cell = len(contexts)
    for m_index, arch in enumerate(archs):
        for d_index, profile in enumerate(profiles):
            for q_index, q in enumerate(quants):
                result, place = estimated[q_index, m_index]
                start = (place * len(profiles) + d_index) * per_cell
                for c_index, context in enumerate(contexts):
                    columns["model"].append(arch.id)
                    columns["device"].append(profile.id)
                    columns["quantisation"].append(q.id)
                    columns["context_tokens"].append(context)
                    columns["within_max_context"].append(context <= arch.max_context)
                    for name in names:
                        columns[name].append(result[name][start + c_index])
    return SweepResult(**{name: tuple(values) for name, values in columns.items()})


# The columns sweep() fills itself; the others are the core's.
_SWEEP_LABELS = ("model", "device", "quantisation", "context_tokens", "within_max_context")


@dataclass(frozen=True)
class ParetoPoint:
    """A configuration no other fitting one beats on both decode speed and energy per token."""

    model: str
    device: str
    node: str
    """The device's process node after porting, or :data:`AS_BUILT`."""
    quantisation: str
    context_tokens: int
    decode_tokens_per_s: float
    decode_tokens_per_s_low: float
    decode_tokens_per_s_high: float
    joules_per_token: float
    joules_per_token_low: float
    joules_per_token_high: float
    memory_needed_gb: float
    margin_gb: float
    prefill_tokens_per_s: float
    sram_resident_fraction: float


@dataclass(frozen=True)
class ParetoFront:
    """The Pareto front of a sweep: decode tokens/s (higher) against joules per token (lower).

    ``points`` are sorted by rising joules per token, so speed rises along the front too.
    """

    points: tuple[ParetoPoint, ...]
    evaluated: int
    """Configurations estimated."""
    fitting: int
    """Of those, the ones that fit in memory (only these can be on the front)."""
    skipped: int
    """Configurations not estimated: devices without a known node asked to be ported."""
    models: tuple[str, ...]
    devices: tuple[str, ...]
    quantisations: tuple[str, ...]
    contexts: tuple[int, ...]
    nodes: tuple[str, ...]
    mode: PortMode
    batch: int
    kv_cache_type: str
    pin_sram: bool
    notes: tuple[str, ...] = field(default_factory=tuple)
    beyond_max_context: int = 0
    """Configurations left out, not estimated: their context exceeds the model's maximum."""


def node_keywords(profile: NodeProfile, parameter: str = "nodes") -> dict[str, float]:
    """The four figures of a node as ``core.pareto_sweep`` takes them; a node missing one is
    refused as a value of ``parameter`` (a :class:`ParameterError`)."""
    figures = _node_figures(profile, "to", parameter)
    return {key[len("to_") :]: value for key, value in figures.items()}


def pareto_device_keywords(profile: DeviceProfile, pin_sram: bool) -> dict[str, float]:
    """A device mapping of ``core.pareto_sweep``: both compute peaks, SRAM, its own node.

    With ``pin_sram`` the device's on-die SRAM (where the table knows it) may hold weights.
    """
    klass = _tables().device_classes[profile.device_class]
    int8_tops = profile.int8_tops if klass.prefill_peak == "int8" else None
    entry = {
        **device_keywords(profile, _FP16_FORMAT, klass),
        "int8_tflops": int8_tops or profile.fp16_tflops,
        **_sram_keywords(profile.sram_mb if pin_sram else None, profile.bandwidth_gbs),
    }
    node = _tables().nodes.get(profile.node) if profile.node else None
    if node is not None and None not in (
        node.logic_density,
        node.sram_density,
        node.perf_iso_power,
        node.power_iso_perf,
    ):
        entry.update({f"node_{key}": value for key, value in node_keywords(node).items()})
    return entry


_FP16_FORMAT = Quantisation(
    id="FP16", bits_per_weight=16.0, int8_kernels=False, derivation="", source=""
)


def _id_list(values: Any, name: str, items: str = "ids") -> list[Any]:
    """``values`` as a list; one string is refused, as iterating it would read each letter as
    an id ("unknown model 'g'")."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a list of {items}, not one string "
                        f"({excerpt(values)})")
    # A dict would give its keys and a set its items in no set order, each without a word.
    if not isinstance(values, Iterable) or isinstance(values, (Mapping, AbstractSet)):
        raise TypeError(f"{name} must be a list of {items}, got {_type_name(values)}")
    return list(values)


def _non_empty(values: Any, name: str, items: str = "ids") -> list[Any]:
    """``values`` as a list (see :func:`_id_list`), refused when empty."""
    listed = _id_list(values, name, items)
    if not listed:
        raise ParameterError(name, "must not be empty")
    return listed


def _names(values: Sequence[str] | str | None, kind: str, everything: Sequence[str]) -> list[str]:
    if values is None:
        return list(everything)
    return _non_empty(values, kind)


def _each_once(ids: Sequence[Any], given: Sequence[Any], name: str) -> None:
    """Refuse a list that names one item twice. ``ids`` are the items' canonical ids (Q4_K_M for
    ``q4_k``), ``given`` the items as the caller wrote them: a sweep would estimate a repeated
    item twice, and a repeat is more often a slip for another id than a wish."""
    spellings: dict[Any, list[str]] = {}
    for canonical, written in zip(ids, given, strict=True):
        spellings.setdefault(canonical, []).append(str(written))
    repeated = [
        # Name the canonical id, and how it was written when that differs ("Q4_K_M (as q4_k)").
        str(canonical) if set(written) == {str(canonical)} else
        f"{canonical} (as {', '.join(written)})"
        for canonical, written in spellings.items()
        if len(written) > 1
    ]
    if repeated:
        raise ParameterError(name, f"names {', '.join(repeated)} more than once; list each once")


def pareto_front(
    models: Sequence[str] | None = None,
    devices: Sequence[str] | None = None,
    *,
    quantisations: Sequence[str] | None = (DEFAULT_QUANTISATION,),
    contexts: Sequence[int] = (4096,),
    nodes: Sequence[str | None] = (None,),
    mode: PortMode | None = None,
    batch: int = 1,
    kv_cache_type: str | None = DEFAULT_KV_CACHE_TYPE,
    pin_sram: bool = False,
) -> ParetoFront:
    """The Pareto front of decode tokens/s against joules per token over a whole sweep.

    Every combination of models × devices × nodes × quantisations × contexts is estimated in
    the Rust core (without the GIL); the configurations that fit in memory and that no other
    fitting one beats on both speed and energy form the front. A context past a model's
    maximum describes no run: those configurations are left out, counted in
    ``beyond_max_context`` and named in a note, so that none hides a real one from the front.

    Args:
        models: model ids with an architecture (default: all of them).
        devices: device ids (default: all of them).
        quantisations: weight formats; a model address's format tag must be one of them. None:
            Q4_K_M.
        contexts: context lengths (tokens), each also the decode depth.
        nodes: process nodes to port each device to (any case); ``None`` or ``"as-built"``
            (any case too) keeps the device as it is. Porting uses the node ratios against the
            device's own node (see :func:`port_chip`); devices whose node is unknown are
            skipped for node targets.
        mode: how a node change is spent: ``"iso-power"`` (when left out),
            ``"iso-performance"`` or ``"iso-area"``; refused when ``nodes`` change no node.
        batch: concurrent sequences (speed is per sequence; energy per generated token), 1 to
            :data:`MAX_BATCH`.
        kv_cache_type: KV-cache format, one of :func:`list_kv_cache_types`; None: F16, as when
            left out.
        pin_sram: let the runtime pin what fits of the weights and KV cache in on-die SRAM
            (where the device table knows its size); off by default, as in :func:`hardware_fit`.

    Raises:
        UnknownNameError: an unknown model, device, node or format (with near matches).
        TypeError: an argument of the wrong type (``pin_sram`` not True or False, ``mode``
            not a string, a list that is one string).
        ParameterError: a context or the batch out of range, an empty list, a list naming one
            item twice, an unknown mode or one with no node to port to, a node without the
            figures a port needs, or nodes that only port devices without a known node
            (nothing to estimate).
    """
    batch_size = _positive_int("batch", batch, MAX_BATCH)
    _check_flag("pin_sram", pin_sram)
    model_ids = _names(models, "models", [a.id for a in list_architectures()])
    device_ids = _names(devices, "devices", [d.id for d in list_devices()])
    # None is the default, as for the weight format of a fit: no formats would estimate nothing.
    quant_ids = _names(quantisations, "quantisations", (DEFAULT_QUANTISATION,))
    context_list = [
        _positive_int(f"contexts[{i}]", c, MAX_CONTEXT_TOKENS)
        for i, c in enumerate(_id_list(contexts, "contexts", "token counts"))
    ]
    if not context_list:
        raise ParameterError("contexts", "must not be empty")
    nodes = _id_list(nodes, "nodes")
    if not nodes:
        raise ParameterError("nodes", "must not be empty (use [None] for the devices as built)")
    if mode is not None:
        mode = _check_mode(mode)

    archs = [_given_as("models", get_architecture, m, i) for i, m in enumerate(model_ids)]
    profiles = [_given_as("devices", get_device, d, i) for i, d in enumerate(device_ids)]
    quants = [_given_as("quantisations", get_quantisation, q, i) for i, q in enumerate(quant_ids)]
    # None is the devices as built, as AS_BUILT is.
    targets = [None if n is None else _given_as("nodes", _sweep_target, n, i)
               for i, n in enumerate(nodes)]
    kv_type, kv_bits = _kv_cache_given(kv_cache_type)
    _check_sweep_lists(model_ids, archs, device_ids, profiles, quant_ids, quants, context_list)
    _check_format_tags(model_ids, quants, "quantisations")
    node_names = [AS_BUILT if t is None else t.id for t in targets]
    _each_once(node_names, [AS_BUILT if n is None else n for n in nodes], "nodes")
    if mode is not None and all(t is None for t in targets):
        # A mode says how a node change is spent; given with none, it would be ignored unseen.
        raise ParameterError("mode", f"{mode} is how a node change is spent, and no node is "
                             f"changed ({AS_BUILT} only): add a node to nodes, or leave mode out")

    groups = _sweep_groups(archs, quants, context_list, within_max_context=True)
    if not groups:
        raise ParameterError("contexts", "all exceed the maximum context of every model: "
                             f"{_maximum_contexts(archs)}; nothing to estimate")
    devices_keywords = [pareto_device_keywords(p, pin_sram) for p in profiles]
    node_figures = [None if t is None else node_keywords(t) for t in targets]
    swept = [
        (group, core.pareto_sweep(
            models=[model_keywords(archs[m]) for m in group.models],
            devices=devices_keywords,
            formats=[
                {"bits_per_weight": q.bits_per_weight, "dense_bits_per_weight": dense_bits,
                 "int8_kernels": float(q.int8_kernels)}
                for q, dense_bits in zip(quants, group.dense_bits, strict=True)
            ],
            context_tokens=[float(context_list[c]) for c in group.contexts],
            nodes=node_figures,
            mode=mode or "iso-power",
            kv_bits=kv_bits,
            batch=float(batch_size),
        ))
        for group in groups
    ]
    evaluated, fitting, skipped = (sum(raw[count] for _, raw in swept)
                                   for count in ("evaluated", "fitting", "skipped"))
    if evaluated == 0:
        _refuse_nothing_to_port(profiles, node_names)
    shape = (len(profiles), len(targets), len(quants), len(context_list))
    points = tuple(
        ParetoPoint(
            model=archs[group.models[raw["model_index"][i]]].id,
            device=profiles[raw["device_index"][i]].id,
            node=node_names[raw["node_index"][i]],
            quantisation=quants[raw["format_index"][i]].id,
            context_tokens=context_list[group.contexts[raw["context_index"][i]]],
            **{name: raw[name][i] for name in _PARETO_VALUES},
        )
        for group, raw, i in _front_of_groups(swept, shape)
    )
    beyond = _beyond_max_context(archs, context_list)
    configurations_per_context = len(profiles) * len(targets) * len(quants)
    return ParetoFront(
        points=points,
        evaluated=evaluated,
        fitting=fitting,
        skipped=skipped,
        models=tuple(a.id for a in archs),
        devices=tuple(p.id for p in profiles),
        quantisations=tuple(q.id for q in quants),
        contexts=tuple(context_list),
        nodes=tuple(node_names),
        mode=mode or "iso-power",
        batch=batch_size,
        kv_cache_type=kv_type,
        pin_sram=pin_sram,
        notes=(
            *_pareto_notes(profiles, targets, pin_sram),
            *_beyond_max_context_note(beyond, configurations_per_context),
            *(() if fitting else _nothing_fits_note(
                archs, profiles, quants, min(context_list), batch_size, kv_type
            )),
        ),
        beyond_max_context=sum(count for _, count in beyond) * configurations_per_context,
    )


def _front_of_groups(
    swept: Sequence[tuple[_SweepGroup, Mapping[str, Any]]], shape: tuple[int, int, int, int]
) -> list[tuple[_SweepGroup, Mapping[str, Any], int]]:
    """The front over every group's front, as one core call over all of them would give it:
    each point as (group, its core result, its row there), by rising joules per token.

    A point on the whole front is on its group's, so the groups' fronts hold every candidate.
    They are walked as the core walks its points: by rising energy, then falling speed, then
    sweep order (model, device, node, format, context, by the sweep's own indices), a point
    kept when it is faster than every one before it, so of equal points the first in sweep
    order stays.
    """
    devices, nodes, formats, contexts = shape
    candidates = []
    for group, raw in swept:
        for i in range(len(raw["model_index"])):
            model = group.models[raw["model_index"][i]]
            context = group.contexts[raw["context_index"][i]]
            order = (((model * devices + raw["device_index"][i]) * nodes + raw["node_index"][i])
                     * formats + raw["format_index"][i]) * contexts + context
            rank = (raw["joules_per_token"][i], -raw["decode_tokens_per_s"][i], order)
            candidates.append((rank, group, raw, i))
    candidates.sort(key=lambda candidate: candidate[0])
    front = []
    fastest = -math.inf
    for (_, negative_speed, _), group, raw, i in candidates:
        if -negative_speed > fastest:
            fastest = -negative_speed
            front.append((group, raw, i))
    return front


def _beyond_max_context(
    archs: Sequence[Architecture], contexts: Sequence[int]
) -> list[tuple[Architecture, int]]:
    """The models with contexts past their maximum, each with how many of the contexts."""
    counted = [(arch, sum(tokens > arch.max_context for tokens in contexts)) for arch in archs]
    return [(arch, count) for arch, count in counted if count]


def _maximum_contexts(archs: Iterable[Architecture]) -> str:
    """Each model's maximum context, for a note or a refusal: ``llama-3-8b 8,192``."""
    return ", ".join(f"{arch.id} {arch.max_context:,}" for arch in archs)


def _beyond_max_context_note(
    beyond: Sequence[tuple[Architecture, int]], per_context: int
) -> tuple[str, ...]:
    """Say how many configurations were left out for a context past the model's maximum."""
    if not beyond:
        return ()
    from shoal.render import plural

    count = sum(contexts for _, contexts in beyond) * per_context
    maxima = _maximum_contexts(arch for arch, _ in beyond)
    return (f"{plural(count, 'configuration')} left out, not estimated: their context exceeds "
            f"the model's maximum ({maxima})",)


def is_as_built(node: str | None) -> bool:
    """True for a sweep node that keeps a device as built: ``None`` or :data:`AS_BUILT` in any
    case, as node ids are matched."""
    return node is None or (isinstance(node, str) and node.strip().lower() == AS_BUILT)


def _sweep_target(node: str | None) -> NodeProfile | None:
    """A sweep's node: ``None`` for the device as built, else the node table's. An unknown one
    is refused naming :data:`AS_BUILT` too, which no node table lists."""
    if node is None or is_as_built(node):
        return None
    try:
        return get_node(node)
    except UnknownNodeError as error:
        if difflib.get_close_matches(node.strip().lower(), [AS_BUILT], n=1, cutoff=0.6):
            raise UnknownNodeError(f"unknown process node {node!r}; did you mean {AS_BUILT} (the "
                                   "device as built)?") from None
        raise UnknownNodeError(f"{error}; {AS_BUILT} keeps a device as built") from None


def _nothing_fits_note(
    archs: Sequence[Architecture], profiles: Sequence[DeviceProfile],
    quants: Sequence[Quantisation], context: int, batch: int, kv_cache_type: str,
) -> tuple[str]:
    """Why a sweep's front is empty, by its likeliest fit: the smallest model in the smallest
    format at the shortest context on the device with the most usable memory (of the models
    estimated at that context, within their maximum)."""
    model = min((a for a in archs if a.max_context >= context), key=lambda a: (a.params_b, a.id))
    device = max(profiles, key=lambda p: (p.memory_gb, p.id))
    quant = min(quants, key=lambda q: (q.bits_per_weight, q.id))
    fit = hardware_fit(model.id, device.id, quantisation=quant.id, context_tokens=context,
                       batch=batch, kv_cache_type=kv_cache_type)
    return (
        f"nothing fits in memory: even {model.id} at {quant.id} with {context:,} "
        f"token{'s' * (context != 1)} of context on {device.id} needs "
        f"{fit.memory_needed_gb:,.1f} GB of "
        f"{fit.memory_available_gb:,.1f} GB; try smaller models or formats, shorter contexts or "
        "devices with more memory",
    )


def _check_sweep_lists(
    model_ids: Sequence[str],
    archs: Sequence[Architecture],
    device_ids: Sequence[str],
    profiles: Sequence[DeviceProfile],
    quant_ids: Sequence[str],
    quants: Sequence[Quantisation],
    contexts: Sequence[int],
) -> None:
    """Refuse a sweep list naming one item twice, by canonical id."""
    _each_once([a.id for a in archs], model_ids, "models")
    _each_once([p.id for p in profiles], device_ids, "devices")
    _each_once([q.id for q in quants], quant_ids, "quantisations")
    _each_once(contexts, contexts, "contexts")


def _refuse_nothing_to_port(profiles: Sequence[DeviceProfile], node_names: Sequence[str]) -> None:
    """Every configuration was skipped: the nodes only port, and no device has a known node to
    port from. An empty front would read as "nothing fits"; say what to change instead."""
    unported = ", ".join(p.id for p in profiles)
    has = "has" if len(profiles) == 1 else "have"
    raise ParameterError(
        "nodes",
        f"name only nodes to port to ({', '.join(node_names)}), and {unported} {has} no known "
        f"process node to port from, so nothing was estimated: add {AS_BUILT} to the nodes to "
        "take the devices as built, or choose devices with a node (`shoal hw devices` shows "
        "each one's node)",
    )


_PARETO_VALUES = (
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


def _pareto_notes(
    profiles: Sequence[DeviceProfile], targets: Sequence[NodeProfile | None], pin_sram: bool
) -> tuple[str, ...]:
    notes = [
        (
            "estimates: decode speed per sequence at the context depth; energy is average decode "
            "power times step time per generated token"
        ),
        "only configurations that fit in memory are on the front",
    ]
    ported = [t for t in targets if t is not None]
    if ported:
        notes.append(
            "ported devices keep their DRAM bandwidth and, where the device table has their "
            "memory's energy per bit, their DRAM power; compute, the rest of the power and "
            "on-die SRAM follow the node ratios, and the die's work per token costs the node's "
            "energy per operation ("
            + ", ".join(f"{t.id}: {t.claim_type}" for t in ported)
            + ")"
        )
        unported = [p.id for p in profiles if p.node is None]
        if unported:
            fate = "only taken as built" if None in targets else "left out (as-built not swept)"
            notes.append(f"no node known, so {fate}: {', '.join(unported)}")
        unpriced = [p for p in profiles if p.node is not None and dram_energy_per_bit(p) is None]
        if unpriced:
            notes.append(_unknown_dram_power_note(unpriced))
    if pin_sram:
        notes.append(
            "the runtime is assumed to pin what fits of the weights and KV cache in on-die SRAM"
        )
    return tuple(notes)


def _unknown_dram_power_note(profiles: Sequence[DeviceProfile]) -> str:
    """Which ported devices' DRAM power is unknown, so that all their power follows the node."""
    memories = sorted({p.memory_type or "memory type not given" for p in profiles})
    return (
        f"DRAM power unknown (no DRAM energy per bit for {', '.join(memories)}), so all the "
        "power of these ported devices follows the node, DRAM power included: "
        + ", ".join(p.id for p in profiles)
    )


# ---------------------------------------------------------------------------------------------
# Validation against measured runs


@dataclass(frozen=True)
class EnergyCheck:
    """A run's measured energy per token beside the estimate's range at the run's context."""

    measured_power_w: float
    measured_joules_per_token: float
    """The measured power over the measured decode speed."""
    predicted_joules_per_token: float
    predicted_low: float
    predicted_high: float
    error_pct: float
    within_range: bool


@dataclass(frozen=True)
class ValidationRow:
    """One measured run next to its estimate: decode speed, and prefill speed and energy per
    token where the run measured them (``None`` where it did not)."""

    id: str
    device: str
    device_class: str
    model: str
    quantisation: str
    engine: str
    measured_tokens_per_s: float
    predicted_tokens_per_s: float
    predicted_low: float
    predicted_high: float
    error_pct: float
    within_range: bool
    measured_prefill_tokens_per_s: float | None
    predicted_prefill_tokens_per_s: float | None
    predicted_prefill_low: float | None = None
    predicted_prefill_high: float | None = None
    prefill_within_range: bool | None = None
    energy: EnergyCheck | None = None
    """Energy per token, for a run that measured its power."""


@dataclass(frozen=True)
class ValidationReport:
    """Decode, prefill and energy error of the estimates against measured runs, each with the
    share of measurements inside the predicted range (``None`` where no row measured it)."""

    rows: tuple[ValidationRow, ...]
    excluded: tuple[tuple[str, str], ...]
    decode_mdape: float
    decode_mape: float
    decode_mdape_by_class: Mapping[str, float]
    within_range_fraction: float
    prefill_mdape: float | None
    leave_one_out: bool
    prefill_within_range_fraction: float | None = None
    energy_mdape: float | None = None
    energy_within_range_fraction: float | None = None


def measured_rows(path: str | Path | None = None) -> tuple[dict[str, Any], ...]:
    """The measured runs shipped in ``data/measured.json`` (or read from ``path``)."""
    document = _read_json(path) if path else _read_shipped_json("measured.json")
    return tuple(document["rows"])


def _predict(row: Mapping[str, Any], klass: DeviceClass | None = None) -> tuple[dict, dict | None]:
    arch = get_architecture(row["model"])
    profile = get_device(row["device"])
    quant = get_quantisation(row["quantisation"])
    device_kw = device_keywords(profile, quant, klass)
    common = {**model_keywords(arch), **device_kw, **format_keywords(quant, arch)}
    decode = core.estimate_inference(**common, context_tokens=row["context_tokens"])
    prefill = None
    if row.get("prefill_tokens_per_s") and row.get("prompt_tokens"):
        prefill = core.estimate_inference(**common, context_tokens=row["prompt_tokens"])
    return decode, prefill


def validate(
    rows: Sequence[Mapping[str, Any]] | None = None, *, leave_one_out: bool = False
) -> ValidationReport:
    """Compare estimated with measured decode speed, prefill speed and energy per token.

    Energy is checked where a run measured its power: the measured joules per token are that
    power over the measured decode speed, against the estimate's range at the run's context.

    Args:
        rows: measured runs shaped like ``data/measured.json`` rows; the shipped ones by default.
            Rows with ``include`` false are listed in ``excluded`` with their reason.
        leave_one_out: refit the row's device class without that row before predicting it
            (an out-of-sample check of the calibration; see ``shoal.hardware_calibration``).

    Returns:
        Per-row errors, the median absolute percentage error (MdAPE) of decode speed overall and
        per device class, of prefill speed and of energy per token, and for each the share of
        measurements inside the predicted range.
    """
    from shoal import hardware_calibration

    _check_flag("leave_one_out", leave_one_out)
    rows = measured_rows() if rows is None else tuple(rows)
    included = [r for r in rows if r.get("include", True)]
    excluded = tuple((r["id"], r.get("excluded_because", "")) for r in rows if r not in included)
    results = []
    for row in included:
        klass = hardware_calibration.refit_without(row, included) if leave_one_out else None
        decode, prefill = _predict(row, klass)
        results.append(_validation_row(row, decode, prefill))
    if not results:
        raise InputError("validate needs at least one included row")

    by_class: dict[str, list[float]] = {}
    for result in results:
        by_class.setdefault(result.device_class, []).append(abs(result.error_pct))
    errors = [abs(r.error_pct) for r in results]
    prefill_rows = [r for r in results if r.prefill_within_range is not None]
    prefill_errors = [
        abs(100.0 * (r.predicted_prefill_tokens_per_s - r.measured_prefill_tokens_per_s))
        / r.measured_prefill_tokens_per_s
        for r in prefill_rows
        if r.predicted_prefill_tokens_per_s and r.measured_prefill_tokens_per_s
    ]
    energy_checks = [r.energy for r in results if r.energy is not None]
    return ValidationReport(
        rows=tuple(results),
        excluded=excluded,
        decode_mdape=statistics.median(errors),
        decode_mape=statistics.fmean(errors),
        decode_mdape_by_class={k: statistics.median(v) for k, v in sorted(by_class.items())},
        within_range_fraction=sum(r.within_range for r in results) / len(results),
        prefill_mdape=statistics.median(prefill_errors) if prefill_errors else None,
        leave_one_out=leave_one_out,
        prefill_within_range_fraction=_share_inside([r.prefill_within_range for r in prefill_rows]),
        energy_mdape=(statistics.median(abs(check.error_pct) for check in energy_checks)
                      if energy_checks else None),
        energy_within_range_fraction=_share_inside(
            [check.within_range for check in energy_checks]
        ),
    )


def _share_inside(checks: Sequence[bool | None]) -> float | None:
    """The share of true checks, ``None`` for none."""
    return sum(bool(check) for check in checks) / len(checks) if checks else None


def _validation_row(
    row: Mapping[str, Any], decode: Mapping[str, Any], prefill: Mapping[str, Any] | None
) -> ValidationRow:
    """A measured run beside its estimates: decode, and prefill and energy where measured."""
    measured = float(row["decode_tokens_per_s"])
    predicted = decode["decode_tokens_per_s"]
    low, high = decode["decode_tokens_per_s_low"], decode["decode_tokens_per_s_high"]
    return ValidationRow(
        id=row["id"],
        device=row["device"],
        device_class=get_device(row["device"]).device_class,
        model=row["model"],
        quantisation=row["quantisation"],
        engine=row.get("engine", ""),
        measured_tokens_per_s=measured,
        predicted_tokens_per_s=predicted,
        predicted_low=low,
        predicted_high=high,
        error_pct=100.0 * (predicted - measured) / measured,
        within_range=low <= measured <= high,
        measured_prefill_tokens_per_s=row.get("prefill_tokens_per_s"),
        predicted_prefill_tokens_per_s=prefill["prefill_tokens_per_s"] if prefill else None,
        **_prefill_check(row, prefill),
        energy=_energy_check(row, decode),
    )


def _prefill_check(row: Mapping[str, Any], prefill: Mapping[str, Any] | None) -> dict[str, Any]:
    """The predicted prefill range of a run that measured prefill, and whether it holds it."""
    if prefill is None:
        return {}
    low, high = prefill["prefill_tokens_per_s_low"], prefill["prefill_tokens_per_s_high"]
    return {
        "predicted_prefill_low": low,
        "predicted_prefill_high": high,
        "prefill_within_range": low <= float(row["prefill_tokens_per_s"]) <= high,
    }


def _energy_check(row: Mapping[str, Any], decode: Mapping[str, Any]) -> EnergyCheck | None:
    """A run's measured energy per token (measured watts over measured tokens per second)
    against the estimate's; ``None`` for a run that did not measure its power."""
    power_w = row.get("measured_power_w")
    if not power_w:
        return None
    measured = float(power_w) / float(row["decode_tokens_per_s"])
    predicted = decode["joules_per_token"]
    low, high = decode["joules_per_token_low"], decode["joules_per_token_high"]
    return EnergyCheck(
        measured_power_w=float(power_w),
        measured_joules_per_token=measured,
        predicted_joules_per_token=predicted,
        predicted_low=low,
        predicted_high=high,
        error_pct=100.0 * (predicted - measured) / measured,
        within_range=low <= measured <= high,
    )
