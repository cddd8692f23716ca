"""Type stubs for the Rust extension ``shoal._core``."""

from collections.abc import Mapping, Sequence
from typing import Any, final

__all__ = [
    "ENCODINGS",
    "PRIVACY_PATTERNS",
    "ExemplarIndex",
    "NeighbourEstimator",
    "__version__",
    "count",
    "count_many",
    "decode",
    "embed",
    "embed_int8",
    "embedding_sums",
    "encode",
    "estimate_inference",
    "pareto_sweep",
    "scale_chip",
    "scan_privacy",
    "sweep_inference",
]
__version__: str

# ---- hardware ----

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
) -> dict[str, float | bool]:
    """Memory fit, decode/prefill speed and energy of one model on one device (estimates).

    Units: billions of parameters, GB (1e9 bytes; memory_gb too, so a vendor's binary GB is
    converted first), GB/s, TFLOPS, W, ms for overheads. Prefill efficiencies are shares of the
    compute peak, in (0, 1].
    Memory = weights (params_b x bits/8) x (1 + weight_overhead_fraction; 0 by default, as
    whole-file bits per weight already count tensors kept at higher precision) + KV cache
    (2 x kv_heads x head_dim x tokens held over all layers, sliding-window layers capped at
    the window, x batch x kv_bits/8) + runtime_overhead_gb; available = memory_gb x
    usable_fraction. A decode step reads the routed parameters its batch touches (for one
    token active_params_b - dense_params_b; for a batch of B, the routed total x
    (1 - (1 - f)^B), f the share one token reads) x bits/8 + dense_params_b x
    dense_bits_per_weight/8 (default: bits_per_weight) plus the KV cache; the
    share sram_gb / (weights + KV cache), capped at 1, comes from SRAM at sram_bandwidth_gbs, the
    rest from DRAM. The step takes max(DRAM bytes / (decode_efficiency x bandwidth) + SRAM bytes /
    sram_bandwidth_gbs, FLOPs / (prefill_efficiency x peak)) + overhead_ms; the _low/_high
    factors, of both efficiencies and the overhead, give the range. Prefill tokens/s =
    prefill_efficiency x peak / FLOPs per token (2 x active params + attention at half the
    context). Joules per token = power_w x power_fraction x step time / batch, less the
    DRAM-minus-SRAM access energy of the SRAM bytes, and never under the access energy of the
    bytes moved. performance_ratio (1 for a device as built) is a ported device's compute peak
    over its design's as built: the die's power (power_w less the memory interface's,
    bandwidth x dram_pj_per_bit) is then charged over the step time at the as-built peak
    divided by it, the as-built work at the node's energy per operation.

    Returns a dict with keys weights_gb, weight_overhead_gb, kv_cache_gb, runtime_overhead_gb,
    memory_needed_gb, memory_available_gb, margin_gb, fits, bytes_per_step_gb, weights_read_gb,
    sram_resident_fraction, sram_bytes_per_step_gb, decode_compute_bound,
    decode_tokens_per_s(_low/_high), decode_batch_tokens_per_s,
    prefill_tokens_per_s(_low/_high), time_to_first_token_s(_low/_high), average_power_w,
    joules_per_token(_low/_high), dram_joules_per_token. Bit-identical to
    ``shoal._pure.hardware``. Raises ValueError naming a NaN, infinite, negative or zero
    parameter, a prefill efficiency above 1, or two that contradict; TypeError for a non-number.
    """

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
    """``estimate_inference`` over models x devices x bits x contexts (context fastest).

    Models carry the model-shape keywords, devices the device keywords (sliding_window,
    sliding_window_layers, dram_pj_per_bit and runtime_overhead_gb default to 0). Returns flat
    columns model_index, device_index, bits_index, context_index, fits, memory_needed_gb,
    margin_gb, decode_tokens_per_s(_low/_high), prefill_tokens_per_s, time_to_first_token_s,
    joules_per_token. Computed without the GIL; at most 10,000,000 combinations.
    """

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
    """Ratios new/old after moving a chip between process nodes (figures on one baseline).

    mode: "iso-power" (performance x perf ratio), "iso-performance" (power x power ratio) or
    "iso-area" (performance x logic-density ratio, power x density ratio x power ratio, SRAM
    capacity x SRAM-density ratio). Returns power_ratio, performance_ratio, area_ratio,
    sram_capacity_ratio, sram_capacity_ratio_iso_area, perf_per_watt_ratio,
    energy_per_operation_ratio (power ratio over performance ratio: the power at
    iso-performance ratio, except at iso-power, where it is 1 / the performance ratio). Raises
    ValueError for an unknown mode or a figure that is not finite and > 0, or
    sram_area_fraction outside [0, 1).
    """

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
    """Pareto front of decode tokens/s against joules per token over models x devices x nodes
    x formats x contexts (that nesting order), computed without the GIL.

    Devices carry the device keywords plus optional int8_tflops (peak for formats with
    int8_kernels), node_logic_density / node_sram_density / node_perf_iso_power /
    node_power_iso_perf (their own node) and sram_area_fraction (default 0.3). Formats carry
    bits_per_weight and optional dense_bits_per_weight and int8_kernels (0/1). Each entry of
    nodes is a mapping of logic_density, sram_density, perf_iso_power, power_iso_perf (port
    every device there with ``mode``; devices with no node are skipped) or None (as built).
    Porting scales compute by the performance ratio, the non-DRAM share of power by the power
    ratio, SRAM capacity and SRAM energy per bit by their ratios, and charges the die's work at
    the energy per operation (see estimate_inference's performance_ratio); DRAM bandwidth and
    energy stay.

    Returns evaluated, fitting and skipped counts and, per front point sorted by rising joules
    per token, model_index, device_index, node_index, format_index, context_index,
    decode_tokens_per_s(_low/_high), joules_per_token(_low/_high), memory_needed_gb, margin_gb,
    prefill_tokens_per_s, sram_resident_fraction. Only fitting configurations count; equal points
    keep the first in sweep order. At most 100,000,000 configurations. Identical to
    ``shoal._pure.hardware.pareto_sweep``.
    """

# ---- embedding ----

def embed(texts: Sequence[str], *, dim: int) -> list[list[float]]:
    """Embed texts into unit vectors by feature hashing; a text without words gives zeros.

    Word unigrams, bigrams and character 3-5-grams, signed FNV-1a hashing into ``dim``
    buckets, square-root term frequency, L2 norm. Bit-identical to ``shoal._pure.embed``.
    Raises ValueError if ``dim`` is not in 1..2**20, TypeError if ``texts`` is a str.
    """

def embedding_sums(texts: Sequence[str], *, dim: int) -> list[float]:
    """Per dimension, the correctly rounded sum of the texts' embeddings (``math.fsum`` over
    each column of ``embed(texts, dim=dim)``), holding one embedding per thread at a time.

    Raises ValueError if ``dim`` is not in 1..2**20, TypeError if ``texts`` is a str.
    """

def embed_int8(texts: Sequence[str], *, dim: int, centre: Sequence[float]) -> bytes:
    """Each text's embedding minus ``centre``, as int8 codes row after row, each row scaled so
    its largest magnitude is 127 (rounded half to even), as ``ExemplarIndex`` codes its rows.

    Raises ValueError if ``dim`` is not in 1..2**20 or ``centre`` does not hold ``dim`` finite
    values, TypeError if ``texts`` is a str.
    """

@final
class ExemplarIndex:
    """Exemplar vectors searched by brute-force cosine similarity.

    Rows are held as int8 codes (largest magnitude 127) and queries as int16 codes (largest
    magnitude 32767); a score is the cosine of the codes from exact integer dot products and
    squared norms, identical in both backends.

    ``vectors`` is a sequence of rows of ``dim`` floats, or ``bytes`` of little-endian float32
    values laid out row after row. Raises ValueError on a ragged or non-finite input.
    """

    def __new__(cls, vectors: bytes | Sequence[Sequence[float]], dim: int) -> ExemplarIndex: ...
    @staticmethod
    def from_int8(codes: bytes, dim: int) -> ExemplarIndex:
        """An index over int8 codes (``bytes``, row after row), used as they are."""
    @property
    def dim(self) -> int: ...
    def __len__(self) -> int: ...
    def scores(self, query: Sequence[float]) -> list[float]:
        """Cosine similarity of ``query`` with every exemplar, in exemplar order."""
    def top_k(self, query: Sequence[float], k: int) -> list[tuple[int, float]]:
        """The ``k`` most similar exemplars as ``(index, cosine)``; ties go to the lower index."""

# ---- routing estimates ----

@final
class NeighbourEstimator:
    """Quality estimates for every candidate model from a prompt's nearest labelled exemplars.

    ``scores`` has one row per exemplar and one score (None: not labelled) per model; a labelled
    model's quality is its neighbour-weighted score shrunk towards the neighbours' item-response
    expectation, then mapped through its ``calibration`` knots (piecewise linear, flat beyond the
    ends; empty: identity). Identical to ``shoal._pure.estimate.NeighbourEstimator``. Raises
    ValueError when sizes disagree, a value is not finite or knots do not rise strictly in x.
    """

    def __new__(
        cls,
        scores: Sequence[Sequence[float | None]],
        difficulties: Sequence[float],
        abilities: Sequence[float],
        mean_scores: Sequence[float],
        calibration: Sequence[Sequence[tuple[float, float]]],
        *,
        similarity_power: float,
        shrinkage: float,
    ) -> NeighbourEstimator: ...
    @property
    def models(self) -> int: ...
    def __len__(self) -> int: ...
    def estimate(
        self,
        neighbours: Sequence[tuple[int, float]],
        prior_abilities: Sequence[float] = ...,
        prior_means: Sequence[float] = ...,
    ) -> list[tuple[float, float]]:
        """``(quality, evidence)`` for every labelled model, then every prior-only model."""

# ---- tokens ----

ENCODINGS: tuple[str, ...]
"""Names of the BPE encodings ``encode``/``count``/``decode`` accept: cl100k_base, o200k_base,
tekken_240718."""

def encode(encoding: str, text: str, *, allow_special: bool = False) -> list[int]:
    """Token ids of ``text`` in ``encoding``, identical to tiktoken 0.14's (to mistral-common's
    ``Tekkenizer.encode(text, bos=False, eos=False)`` for ``tekken_240718``).

    Special-token text such as ``<|endoftext|>`` or Tekken's ``[INST]`` is ordinary text unless
    ``allow_special`` is set, when it becomes the special token's id. Raises ValueError for an
    unknown encoding (the message lists the valid ones) or a text with an unpaired surrogate (the
    message gives its index).
    """

def count(encoding: str, text: str, *, allow_special: bool = False) -> int:
    """Number of tokens of ``text`` in ``encoding``, without building the id list.

    Same rules and errors as ``encode``.
    """

def count_many(encoding: str, texts: Sequence[str], *, allow_special: bool = False) -> list[int]:
    """Number of tokens of each text, in order; a large batch is spread over the cores.

    Raises TypeError if ``texts`` is a str or holds a non-str, ValueError as ``encode``.
    """

def decode(encoding: str, ids: Sequence[int]) -> bytes:
    """The bytes of the token ``ids`` in ``encoding``, concatenated (not always valid UTF-8).

    Raises ValueError for an id the encoding does not define (including unused gaps such as
    100256 in cl100k_base), TypeError for an id that is not an int.
    """

# ---- end tokens ----

# ---- privacy ----

PRIVACY_PATTERNS: tuple[tuple[str, str, str], ...]
"""``(kind, category, pattern)`` of every detector, in tie-breaking order."""

def scan_privacy(text: str) -> list[tuple[str, str, int, int]]:
    """Secrets and personal data in ``text``: ``(kind, category, start, end)`` sorted by start.

    Offsets count characters (code points) of ``text``; the value itself is never returned.
    Overlapping findings keep the earliest, then the longest, then the first detector. Identical
    to ``shoal._pure.privacy.scan_privacy``. Raises ValueError for an unpaired surrogate.
    """
