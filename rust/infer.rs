//! Inference arithmetic: memory fit, decode and prefill speed, energy per token.
//!
//! The model is a two-term roofline. Decode of one step reads the weights its tokens route to
//! (the active weights; for a mixture of experts, the union of a batch's experts) and the KV
//! cache once, so its time is `bytes / (decode_efficiency * bandwidth) + per_token_overhead`,
//! or the compute time when that is longer (large batches). Prefill is compute-bound:
//! `flops_per_token / (prefill_efficiency * peak)`. Efficiencies and the per-token overhead
//! belong to a device class and are fitted on measured runs (see the Python `hardware` module).
//!
//! Energy per token is the average decode power (a class fraction of the device's power) times
//! the step time. A device ported to another process node (`pareto::port_device`) does the
//! same work per step at the node's energy per operation: its memory interface's share is
//! charged as before, its die's at the ported power over the step time of the design as built,
//! divided by the performance ratio (see `estimate`).
//!
//! On-die SRAM: a device may hold a share of the weights and KV cache in SRAM (`sram_gb`), read
//! at `sram_bandwidth_gbs` and `sram_pj_per_bit`. The share is the SRAM capacity over the whole
//! resident set (all weights, every expert, plus the KV cache), capped at 1, and decode reads that
//! share of its bytes from SRAM. This assumes the runtime pins the share (as SRAM-first
//! accelerators do); engines that stream weights through a cache get no reuse, so callers
//! describing today's GPUs pass `sram_gb = 0`.
//!
//! Units: parameters in billions, memory in GB (1e9 bytes: callers convert the binary GB vendors
//! quote for capacities), bandwidth in GB/s, compute in TFLOPS, power in W, time in seconds
//! unless a name says otherwise. Every formula uses only `+ - * /`, `min` and `max` so that the
//! pure-Python fallback reproduces it bit for bit; the order of operations is part of the
//! contract.

use std::fmt;

/// A model's shape as far as inference arithmetic needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelShape {
    /// Total parameters (billions): sets the memory footprint.
    pub params_b: f64,
    /// Parameters read per token (billions): equal to `params_b` for dense models.
    pub active_params_b: f64,
    /// Of the active parameters, those every token reads whatever the routing (attention,
    /// router, shared experts, output projection). Formats may store them at another precision
    /// (`Workload::dense_bits_per_weight`); 0 when the distinction does not matter.
    pub dense_params_b: f64,
    pub layers: f64,
    /// Query heads (for attention FLOPs).
    pub attention_heads: f64,
    /// Key/value heads (GQA/MQA): sets the KV cache.
    pub kv_heads: f64,
    pub head_dim: f64,
    /// Sliding-window length in tokens, 0 when no layer uses one.
    pub sliding_window: f64,
    /// How many of `layers` use the sliding window.
    pub sliding_window_layers: f64,
}

/// Per-device-class efficiency factors (fitted on measured runs).
#[derive(Clone, Debug, PartialEq)]
pub struct Efficiency {
    pub decode: f64,
    pub decode_low: f64,
    pub decode_high: f64,
    /// Fixed time per decode step in milliseconds (kernel launches, sampling, sync).
    pub overhead_ms: f64,
    pub overhead_ms_low: f64,
    pub overhead_ms_high: f64,
    /// Share of the compute peak that prefill reaches, in (0, 1].
    pub prefill: f64,
    pub prefill_low: f64,
    pub prefill_high: f64,
    /// Average power during decode as a fraction of `power_w`.
    pub power_fraction: f64,
}

/// A device as far as inference arithmetic needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Device {
    pub memory_gb: f64,
    /// Fraction of `memory_gb` a model may use (OS, driver and app limits take the rest).
    pub usable_fraction: f64,
    pub bandwidth_gbs: f64,
    /// Dense FP16/BF16 peak the inference engine's matrix kernels can reach.
    pub tflops: f64,
    pub power_w: f64,
    /// DRAM energy per bit moved, for the DRAM floor of energy per token.
    pub dram_pj_per_bit: f64,
    /// Fixed runtime memory (driver context, compute buffers) in GB.
    pub runtime_overhead_gb: f64,
    /// On-die SRAM that may hold pinned weights and KV cache, in GB (0: none is used).
    pub sram_gb: f64,
    /// Read bandwidth of that SRAM, GB/s (needed when `sram_gb` > 0).
    pub sram_bandwidth_gbs: f64,
    pub sram_pj_per_bit: f64,
    /// Compute peak over that of the design as built: 1, unless the device was ported to
    /// another process node, whose performance ratio it then is.
    pub performance_ratio: f64,
    pub efficiency: Efficiency,
}

/// What is being run.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    /// Effective bits per weight of the quantisation, including block scales.
    pub bits_per_weight: f64,
    /// Bits per weight at which the format stores the model's `dense_params_b`.
    pub dense_bits_per_weight: f64,
    pub kv_bits: f64,
    pub context_tokens: f64,
    pub batch: f64,
    /// Extra weight memory as a fraction of the weights, for bits-per-weight figures that
    /// count only the block format; 0 for whole-file figures, which include the tensors
    /// kept at higher precision (shoal's tables give whole-file figures).
    pub weight_overhead_fraction: f64,
}

/// The estimate: memory fit, speed and energy, with low/high bounds where they vary.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    pub weights_gb: f64,
    pub weight_overhead_gb: f64,
    pub kv_cache_gb: f64,
    pub runtime_overhead_gb: f64,
    pub memory_needed_gb: f64,
    pub memory_available_gb: f64,
    pub margin_gb: f64,
    pub fits: bool,
    pub bytes_per_step_gb: f64,
    /// Weights one decode step reads (the rest of `bytes_per_step_gb` is KV cache).
    pub weights_read_gb: f64,
    /// Share of the resident set (weights and KV cache) held in on-die SRAM, in [0, 1].
    pub sram_resident_fraction: f64,
    /// Bytes of one decode step read from SRAM rather than DRAM.
    pub sram_bytes_per_step_gb: f64,
    /// True when the decode step is limited by compute rather than memory bandwidth.
    pub decode_compute_bound: bool,
    /// Decode speed of one sequence at a context depth of `context_tokens`.
    pub decode_tokens_per_s: f64,
    pub decode_tokens_per_s_low: f64,
    pub decode_tokens_per_s_high: f64,
    /// Decode speed summed over the batch.
    pub decode_batch_tokens_per_s: f64,
    pub prefill_tokens_per_s: f64,
    pub prefill_tokens_per_s_low: f64,
    pub prefill_tokens_per_s_high: f64,
    pub time_to_first_token_s: f64,
    pub time_to_first_token_s_low: f64,
    pub time_to_first_token_s_high: f64,
    pub average_power_w: f64,
    pub joules_per_token: f64,
    pub joules_per_token_low: f64,
    pub joules_per_token_high: f64,
    /// Energy of the DRAM traffic alone: a floor under `joules_per_token`.
    pub dram_joules_per_token: f64,
}

impl Estimate {
    /// Decode speed and energy as the Pareto sweep compares them.
    pub fn decode_point(&self) -> (f64, f64) {
        (self.decode_tokens_per_s, self.joules_per_token)
    }
}

/// Why an input was refused.
#[derive(Clone, Debug, PartialEq)]
pub enum InferError {
    /// The named parameter is NaN, infinite, negative or zero where it must be positive.
    Invalid {
        parameter: &'static str,
        value: f64,
        rule: &'static str,
    },
    /// Two parameters contradict each other.
    Inconsistent { message: String },
}

impl fmt::Display for InferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InferError::Invalid {
                parameter,
                value,
                rule,
            } => {
                write!(f, "{parameter} must be {rule}, got {value}")
            }
            InferError::Inconsistent { message } => f.write_str(message),
        }
    }
}

impl std::error::Error for InferError {}

const GIGA: f64 = 1e9;
const TERA: f64 = 1e12;

fn positive(parameter: &'static str, value: f64) -> Result<(), InferError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(InferError::Invalid {
            parameter,
            value,
            rule: "a finite number > 0",
        })
    }
}

fn non_negative(parameter: &'static str, value: f64) -> Result<(), InferError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(InferError::Invalid {
            parameter,
            value,
            rule: "a finite number >= 0",
        })
    }
}

fn fraction(parameter: &'static str, value: f64) -> Result<(), InferError> {
    if value.is_finite() && value > 0.0 && value <= 1.0 {
        Ok(())
    } else {
        Err(InferError::Invalid {
            parameter,
            value,
            rule: "in (0, 1]",
        })
    }
}

fn ordered(names: &str, low: f64, point: f64, high: f64) -> Result<(), InferError> {
    if low <= point && point <= high {
        Ok(())
    } else {
        Err(InferError::Inconsistent {
            message: format!("{names} must satisfy low <= point <= high"),
        })
    }
}

impl ModelShape {
    /// Routed (expert) parameters one decode step reads for a batch of sequences, in billions.
    ///
    /// One token reads `active - dense` of the `params - dense` routed parameters, a share `f`.
    /// A batch reads the union of its tokens' experts: with each token choosing independently
    /// and uniformly, `1 - (1 - f)^batch` of them (64 tokens choosing 8 of 128 experts read
    /// 98 %). Real routers favour some experts, so large batches read somewhat less than this.
    /// A dense model, or a batch of one, reads the active parameters.
    pub fn routed_params_read_b(&self, batch: f64) -> f64 {
        let per_token = self.active_params_b - self.dense_params_b;
        let resident = self.params_b - self.dense_params_b;
        if batch <= 1.0 || per_token >= resident {
            return per_token;
        }
        let missed_by_each = 1.0 - per_token / resident;
        resident * (1.0 - integer_power(missed_by_each, batch.ceil() as u64))
    }

    pub fn validate(&self) -> Result<(), InferError> {
        positive("params_b", self.params_b)?;
        positive("active_params_b", self.active_params_b)?;
        non_negative("dense_params_b", self.dense_params_b)?;
        positive("layers", self.layers)?;
        positive("attention_heads", self.attention_heads)?;
        positive("kv_heads", self.kv_heads)?;
        positive("head_dim", self.head_dim)?;
        non_negative("sliding_window", self.sliding_window)?;
        non_negative("sliding_window_layers", self.sliding_window_layers)?;
        if self.active_params_b > self.params_b {
            return Err(InferError::Inconsistent {
                message: "active_params_b must not exceed params_b".to_string(),
            });
        }
        if self.dense_params_b > self.active_params_b {
            return Err(InferError::Inconsistent {
                message: "dense_params_b must not exceed active_params_b".to_string(),
            });
        }
        if self.sliding_window_layers > self.layers {
            return Err(InferError::Inconsistent {
                message: "sliding_window_layers must not exceed layers".to_string(),
            });
        }
        if self.sliding_window_layers > 0.0 && self.sliding_window == 0.0 {
            return Err(InferError::Inconsistent {
                message: "sliding_window_layers > 0 needs a sliding_window > 0".to_string(),
            });
        }
        Ok(())
    }

    /// Sum over layers of the tokens each layer attends to (and caches) at `depth`.
    ///
    /// Full-attention layers hold every token; sliding-window layers hold at most the window.
    pub fn attended_tokens(&self, depth: f64) -> f64 {
        let full_layers = self.layers - self.sliding_window_layers;
        let window_tokens = if self.sliding_window > 0.0 {
            depth.min(self.sliding_window)
        } else {
            depth
        };
        full_layers * depth + self.sliding_window_layers * window_tokens
    }

    /// Forward FLOPs for one token at `depth`: 2 per active weight plus QK^T and AV.
    pub fn flops_per_token(&self, depth: f64) -> f64 {
        let attention = 4.0 * self.attention_heads * self.head_dim * self.attended_tokens(depth);
        2.0 * self.active_params_b * GIGA + attention
    }
}

impl Efficiency {
    pub fn validate(&self) -> Result<(), InferError> {
        positive("decode_efficiency", self.decode)?;
        positive("decode_efficiency_low", self.decode_low)?;
        positive("decode_efficiency_high", self.decode_high)?;
        non_negative("overhead_ms", self.overhead_ms)?;
        non_negative("overhead_ms_low", self.overhead_ms_low)?;
        non_negative("overhead_ms_high", self.overhead_ms_high)?;
        // A share of the compute peak: past 1, prefill (or compute-bound decode) would run
        // faster than the chip computes.
        fraction("prefill_efficiency", self.prefill)?;
        fraction("prefill_efficiency_low", self.prefill_low)?;
        fraction("prefill_efficiency_high", self.prefill_high)?;
        fraction("power_fraction", self.power_fraction)?;
        ordered(
            "decode_efficiency_{low,,high}",
            self.decode_low,
            self.decode,
            self.decode_high,
        )?;
        ordered(
            "overhead_ms_{low,,high}",
            self.overhead_ms_low,
            self.overhead_ms,
            self.overhead_ms_high,
        )?;
        ordered(
            "prefill_efficiency_{low,,high}",
            self.prefill_low,
            self.prefill,
            self.prefill_high,
        )
    }
}

impl Device {
    pub fn validate(&self) -> Result<(), InferError> {
        positive("memory_gb", self.memory_gb)?;
        fraction("usable_fraction", self.usable_fraction)?;
        positive("bandwidth_gbs", self.bandwidth_gbs)?;
        positive("tflops", self.tflops)?;
        positive("power_w", self.power_w)?;
        non_negative("dram_pj_per_bit", self.dram_pj_per_bit)?;
        non_negative("runtime_overhead_gb", self.runtime_overhead_gb)?;
        non_negative("sram_gb", self.sram_gb)?;
        non_negative("sram_bandwidth_gbs", self.sram_bandwidth_gbs)?;
        non_negative("sram_pj_per_bit", self.sram_pj_per_bit)?;
        positive("performance_ratio", self.performance_ratio)?;
        if self.sram_gb > 0.0 && self.sram_bandwidth_gbs == 0.0 {
            return Err(InferError::Inconsistent {
                message: "sram_gb > 0 needs a sram_bandwidth_gbs > 0".to_string(),
            });
        }
        self.efficiency.validate()
    }
}

impl Workload {
    pub fn validate(&self) -> Result<(), InferError> {
        positive("bits_per_weight", self.bits_per_weight)?;
        positive("dense_bits_per_weight", self.dense_bits_per_weight)?;
        positive("kv_bits", self.kv_bits)?;
        positive("context_tokens", self.context_tokens)?;
        positive("batch", self.batch)?;
        non_negative("weight_overhead_fraction", self.weight_overhead_fraction)
    }
}

/// Bytes of one decode step split between DRAM and on-die SRAM.
#[derive(Clone, Copy)]
struct StepBytes {
    dram_gb: f64,
    sram_gb: f64,
}

/// `base` to a whole power by repeated squaring: only multiplications, in an order the
/// pure-Python twin repeats, so both give the same bits.
fn integer_power(base: f64, exponent: u64) -> f64 {
    let mut result = 1.0;
    let mut square = base;
    let mut remaining = exponent;
    while remaining > 0 {
        if remaining & 1 == 1 {
            result *= square;
        }
        square *= square;
        remaining >>= 1;
    }
    result
}

/// Time of one decode step (all sequences of the batch advance one token), never under the
/// roofline: the step's bytes read at the full DRAM (and SRAM) bandwidth.
///
/// `memory_efficiency` is a share of the DRAM bandwidth and `compute_efficiency` of the compute
/// peak `tflops` (the device's own, or that of its design as built); the low and high cases
/// pass the ends of both ranges, so that a compute-bound step has a range as a memory-bound one
/// does.
fn decode_step_s(
    bytes: StepBytes,
    flops: f64,
    device: &Device,
    tflops: f64,
    memory_efficiency: f64,
    compute_efficiency: f64,
    overhead_ms: f64,
) -> (f64, bool) {
    // SRAM is read at its own bandwidth; the fitted efficiency describes DRAM streaming only.
    let sram_s = if bytes.sram_gb > 0.0 {
        bytes.sram_gb / device.sram_bandwidth_gbs
    } else {
        0.0
    };
    let memory_s = bytes.dram_gb / (memory_efficiency * device.bandwidth_gbs) + sram_s;
    let compute_s = flops / (compute_efficiency * tflops * TERA);
    let bound_s = memory_s.max(compute_s);
    // A fitted efficiency above 1 (a class's high bound) stands for runs whose per-token
    // overhead was below the class's; with a large model, where the overhead is small beside
    // the bytes, it would claim more than the memory can deliver.
    let roofline_s = bytes.dram_gb / device.bandwidth_gbs + sram_s;
    (
        (bound_s + overhead_ms / 1000.0).max(roofline_s),
        compute_s > memory_s,
    )
}

/// A device's memory interface power at full bandwidth: bandwidth x DRAM energy per bit, at
/// most the device's power. It belongs to the memory, not the process node.
pub fn memory_interface_power_w(device: &Device) -> f64 {
    (device.bandwidth_gbs * GIGA * 8.0 * device.dram_pj_per_bit / TERA).min(device.power_w)
}

/// Estimate memory fit, speed and energy of `model` on `device` for `workload`.
pub fn estimate(
    model: &ModelShape,
    device: &Device,
    workload: &Workload,
) -> Result<Estimate, InferError> {
    model.validate()?;
    device.validate()?;
    workload.validate()?;
    let eff = &device.efficiency;

    // Memory: weights use the total parameter count (every expert is resident).
    let weights_gb = model.params_b * workload.bits_per_weight / 8.0;
    let weight_overhead_gb = weights_gb * workload.weight_overhead_fraction;
    let kv_values =
        2.0 * model.kv_heads * model.head_dim * model.attended_tokens(workload.context_tokens);
    let kv_cache_gb = kv_values * workload.batch * workload.kv_bits / 8.0 / GIGA;
    let memory_needed_gb =
        weights_gb + weight_overhead_gb + kv_cache_gb + device.runtime_overhead_gb;
    let memory_available_gb = device.memory_gb * device.usable_fraction;
    let margin_gb = memory_available_gb - memory_needed_gb;

    // Decode: one step reads the weights its tokens route to once and every sequence's KV
    // cache. Routed weights are at the format's average bits; always-read ones at the format's
    // dense bits.
    let read_weights_gb = model.routed_params_read_b(workload.batch) * workload.bits_per_weight
        / 8.0
        + model.dense_params_b * workload.dense_bits_per_weight / 8.0;
    let bytes_per_step_gb = read_weights_gb + kv_cache_gb;

    // SRAM holds a share of the resident set; decode reads that share of its bytes from it.
    let sram_resident_fraction = if device.sram_gb > 0.0 {
        (device.sram_gb / (weights_gb + kv_cache_gb)).min(1.0)
    } else {
        0.0
    };
    let sram_bytes_gb = bytes_per_step_gb * sram_resident_fraction;
    let bytes = StepBytes {
        dram_gb: bytes_per_step_gb - sram_bytes_gb,
        sram_gb: sram_bytes_gb,
    };

    let step_flops = workload.batch * model.flops_per_token(workload.context_tokens);
    // The step at the given compute peak, typical, slow and fast.
    let steps = |tflops: f64| {
        [
            decode_step_s(
                bytes,
                step_flops,
                device,
                tflops,
                eff.decode,
                eff.prefill,
                eff.overhead_ms,
            ),
            decode_step_s(
                bytes,
                step_flops,
                device,
                tflops,
                eff.decode_low,
                eff.prefill_low,
                eff.overhead_ms_high,
            ),
            decode_step_s(
                bytes,
                step_flops,
                device,
                tflops,
                eff.decode_high,
                eff.prefill_high,
                eff.overhead_ms_low,
            ),
        ]
    };
    let [(step_s, compute_bound), (slow_s, _), (fast_s, _)] = steps(device.tflops);
    // The same steps on the design as built (equal to them when the device was not ported).
    let [(built_step_s, _), (built_slow_s, _), (built_fast_s, _)] =
        steps(device.tflops / device.performance_ratio);

    // Prefill: compute-bound; a prompt of S tokens attends to S/2 tokens on average.
    let prefill_flops = model.flops_per_token(workload.context_tokens / 2.0);
    let peak_flops = device.tflops * TERA;
    let prefill = eff.prefill * peak_flops / prefill_flops;
    let prefill_low = eff.prefill_low * peak_flops / prefill_flops;
    let prefill_high = eff.prefill_high * peak_flops / prefill_flops;

    // Energy: average power while decoding, spread over the tokens of the batch. The class
    // power fraction was fitted with every byte from DRAM, so bytes served by SRAM give back
    // the difference in access energy; no estimate goes under the energy of the bytes moved.
    //
    // A ported die does the work of a step at the node's energy per operation, its power ratio
    // over its performance ratio (W at iso-performance and iso-area, 1/P at iso-power), not at
    // its power over however long it waits on DRAM: at iso-area an older node's die has fewer
    // transistors and less power, but each operation costs it more. So its share (the power
    // beyond the memory interface's, which `pareto::port_device` scaled by the power ratio) is
    // charged over the step's time as built, divided by the performance ratio: the as-built
    // die's energy times the energy per operation. As built the two times are one and the
    // charge is the class power over the step.
    let class_power_w = device.power_w * eff.power_fraction;
    let interface_w = memory_interface_power_w(device);
    let die_w = device.power_w - interface_w;
    let dram_joules = bytes.dram_gb * GIGA * 8.0 * device.dram_pj_per_bit / TERA / workload.batch;
    let sram_joules = bytes.sram_gb * GIGA * 8.0 * device.sram_pj_per_bit / TERA / workload.batch;
    let sram_saving =
        bytes.sram_gb * GIGA * 8.0 * (device.dram_pj_per_bit - device.sram_pj_per_bit)
            / TERA
            / workload.batch;
    let floor = dram_joules + sram_joules;
    let joules = |step: f64, built_step: f64| {
        let die_time_change_s = built_step / device.performance_ratio - step; // 0 as built
        let step_joules = class_power_w * step + eff.power_fraction * die_w * die_time_change_s;
        (step_joules / workload.batch - sram_saving).max(floor)
    };
    // The power shown is the energy shown at the rate shown (joules per token times tokens per
    // second), so SRAM's saving and the floor of the bytes' own energy both show in it.
    let average_power_w = joules(step_s, built_step_s) * workload.batch / step_s;

    Ok(Estimate {
        weights_gb,
        weight_overhead_gb,
        kv_cache_gb,
        runtime_overhead_gb: device.runtime_overhead_gb,
        memory_needed_gb,
        memory_available_gb,
        margin_gb,
        fits: margin_gb >= 0.0,
        bytes_per_step_gb,
        weights_read_gb: read_weights_gb,
        sram_resident_fraction,
        sram_bytes_per_step_gb: sram_bytes_gb,
        decode_compute_bound: compute_bound,
        decode_tokens_per_s: 1.0 / step_s,
        decode_tokens_per_s_low: 1.0 / slow_s,
        decode_tokens_per_s_high: 1.0 / fast_s,
        decode_batch_tokens_per_s: workload.batch / step_s,
        prefill_tokens_per_s: prefill,
        prefill_tokens_per_s_low: prefill_low,
        prefill_tokens_per_s_high: prefill_high,
        time_to_first_token_s: workload.context_tokens / prefill,
        time_to_first_token_s_low: workload.context_tokens / prefill_high,
        time_to_first_token_s_high: workload.context_tokens / prefill_low,
        average_power_w,
        joules_per_token: joules(step_s, built_step_s),
        joules_per_token_low: joules(fast_s, built_fast_s),
        joules_per_token_high: joules(slow_s, built_slow_s),
        dram_joules_per_token: dram_joules,
    })
}

/// One row of a sweep: the indices into the inputs and the estimate.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepRow {
    pub model_index: usize,
    pub device_index: usize,
    pub bits_index: usize,
    pub context_index: usize,
    pub estimate: Estimate,
}

/// Upper bound on the rows of one sweep (each row holds about 200 bytes).
pub const MAX_SWEEP_ROWS: usize = 10_000_000;

/// Every combination of models × devices × bits per weight × contexts, in that nesting order.
///
/// `dense_bits_per_weight` applies to every format of the call (default: each format's own bits).
/// All inputs are validated before any work, so a sweep either fails fast or returns every row.
#[allow(clippy::too_many_arguments)]
pub fn sweep(
    models: &[ModelShape],
    devices: &[Device],
    bits_per_weight: &[f64],
    context_tokens: &[f64],
    dense_bits_per_weight: Option<f64>,
    kv_bits: f64,
    batch: f64,
    weight_overhead_fraction: f64,
) -> Result<Vec<SweepRow>, InferError> {
    for model in models {
        model.validate()?;
    }
    for device in devices {
        device.validate()?;
    }
    let count = [devices.len(), bits_per_weight.len(), context_tokens.len()]
        .iter()
        .try_fold(models.len(), |product, &n| product.checked_mul(n))
        .filter(|&n| n <= MAX_SWEEP_ROWS)
        .ok_or_else(|| InferError::Inconsistent {
            message: format!("a sweep may hold at most {MAX_SWEEP_ROWS} combinations"),
        })?;
    let mut rows = Vec::with_capacity(count);
    for (model_index, model) in models.iter().enumerate() {
        for (device_index, device) in devices.iter().enumerate() {
            for (bits_index, &bits) in bits_per_weight.iter().enumerate() {
                for (context_index, &context) in context_tokens.iter().enumerate() {
                    let workload = Workload {
                        bits_per_weight: bits,
                        dense_bits_per_weight: dense_bits_per_weight.unwrap_or(bits),
                        kv_bits,
                        context_tokens: context,
                        batch,
                        weight_overhead_fraction,
                    };
                    let estimate = estimate(model, device, &workload)?;
                    rows.push(SweepRow {
                        model_index,
                        device_index,
                        bits_index,
                        context_index,
                        estimate,
                    });
                }
            }
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn llama_8b() -> ModelShape {
        ModelShape {
            params_b: 8.03,
            active_params_b: 8.03,
            dense_params_b: 0.0,
            layers: 32.0,
            attention_heads: 32.0,
            kv_heads: 8.0,
            head_dim: 128.0,
            sliding_window: 0.0,
            sliding_window_layers: 0.0,
        }
    }

    fn device() -> Device {
        Device {
            memory_gb: 24.0,
            usable_fraction: 0.75,
            bandwidth_gbs: 273.0,
            tflops: 8.0,
            power_w: 60.0,
            dram_pj_per_bit: 5.0,
            runtime_overhead_gb: 0.5,
            sram_gb: 0.0,
            sram_bandwidth_gbs: 0.0,
            sram_pj_per_bit: 0.0,
            performance_ratio: 1.0,
            efficiency: Efficiency {
                decode: 0.8,
                decode_low: 0.7,
                decode_high: 0.9,
                overhead_ms: 2.0,
                overhead_ms_low: 1.0,
                overhead_ms_high: 4.0,
                prefill: 0.5,
                prefill_low: 0.4,
                prefill_high: 0.6,
                power_fraction: 0.5,
            },
        }
    }

    fn workload() -> Workload {
        Workload {
            bits_per_weight: 4.89,
            dense_bits_per_weight: 4.89,
            kv_bits: 16.0,
            context_tokens: 4096.0,
            batch: 1.0,
            weight_overhead_fraction: 0.1,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn kv_cache_uses_kv_heads_not_query_heads() {
        let e = estimate(&llama_8b(), &device(), &workload()).unwrap();
        // 2 * 32 layers * 8 kv heads * 128 * 4096 tokens * 2 bytes = 0.537 GB.
        assert!(close(
            e.kv_cache_gb,
            2.0 * 32.0 * 8.0 * 128.0 * 4096.0 * 2.0 / 1e9
        ));
    }

    #[test]
    fn hand_checked_decode() {
        let e = estimate(&llama_8b(), &device(), &workload()).unwrap();
        let bytes = 8.03 * 4.89 / 8.0 + e.kv_cache_gb;
        let step = bytes / (0.8 * 273.0) + 0.002;
        assert!(close(e.decode_tokens_per_s, 1.0 / step));
        assert!(e.decode_tokens_per_s_low < e.decode_tokens_per_s);
        assert!(e.decode_tokens_per_s < e.decode_tokens_per_s_high);
        assert!(e.fits);
    }

    #[test]
    fn no_bound_is_faster_than_reading_the_bytes_at_full_bandwidth() {
        // A high efficiency above 1 with a small overhead once put the high bound past the
        // roofline; the step's bytes at the full bandwidth bound it instead.
        let mut fast = device();
        fast.efficiency.decode_high = 1.5;
        fast.efficiency.overhead_ms_low = 0.0;
        let e = estimate(&llama_8b(), &fast, &workload()).unwrap();
        assert!(close(
            e.decode_tokens_per_s_high,
            273.0 / e.bytes_per_step_gb
        ));
        assert!(e.decode_tokens_per_s < e.decode_tokens_per_s_high);
    }

    #[test]
    fn sliding_window_caps_cache() {
        let mut model = llama_8b();
        model.sliding_window = 1024.0;
        model.sliding_window_layers = 16.0;
        let e = estimate(&model, &device(), &workload()).unwrap();
        let expected = 2.0 * 8.0 * 128.0 * (16.0 * 4096.0 + 16.0 * 1024.0) * 2.0 / 1e9;
        assert!(close(e.kv_cache_gb, expected));
    }

    #[test]
    fn moe_reads_active_but_stores_total() {
        let mut model = llama_8b();
        model.params_b = 30.5;
        model.active_params_b = 3.3;
        let e = estimate(&model, &device(), &workload()).unwrap();
        assert!(close(e.weights_gb, 30.5 * 4.89 / 8.0));
        assert!(close(e.bytes_per_step_gb, 3.3 * 4.89 / 8.0 + e.kv_cache_gb));
    }

    #[test]
    fn dense_parameters_are_read_at_their_own_precision() {
        let mut model = llama_8b();
        model.params_b = 116.8;
        model.active_params_b = 5.1;
        model.dense_params_b = 1.5;
        let mut w = workload();
        w.bits_per_weight = 4.25;
        w.dense_bits_per_weight = 8.5;
        let e = estimate(&model, &device(), &w).unwrap();
        assert!(close(
            e.bytes_per_step_gb,
            3.6 * 4.25 / 8.0 + 1.5 * 8.5 / 8.0 + e.kv_cache_gb
        ));
        // Memory still holds every parameter at the format's average bits.
        assert!(close(e.weights_gb, 116.8 * 4.25 / 8.0));
    }

    #[test]
    fn sram_resident_share_is_read_at_sram_speed_and_energy() {
        let mut d = device();
        d.dram_pj_per_bit = 5.0;
        d.sram_pj_per_bit = 0.2;
        let base = estimate(&llama_8b(), &d, &workload()).unwrap();
        assert_eq!(base.sram_resident_fraction, 0.0);

        // Enough SRAM for a quarter of the weights and KV cache.
        d.sram_gb = (base.weights_gb + base.kv_cache_gb) / 4.0;
        d.sram_bandwidth_gbs = 4.0 * d.bandwidth_gbs;
        let e = estimate(&llama_8b(), &d, &workload()).unwrap();
        assert!(close(e.sram_resident_fraction, 0.25));
        assert!(close(e.sram_bytes_per_step_gb, 0.25 * e.bytes_per_step_gb));
        let step = 0.75 * e.bytes_per_step_gb / (0.8 * 273.0)
            + 0.25 * e.bytes_per_step_gb / (4.0 * 273.0)
            + 0.002;
        assert!(close(e.decode_tokens_per_s, 1.0 / step));
        assert!(e.joules_per_token < base.joules_per_token);
        assert!(close(
            e.dram_joules_per_token,
            0.75 * base.dram_joules_per_token
        ));

        // All of it resident: the share caps at 1 and DRAM traffic vanishes.
        d.sram_gb = 1000.0;
        let all = estimate(&llama_8b(), &d, &workload()).unwrap();
        assert_eq!(all.sram_resident_fraction, 1.0);
        assert_eq!(all.dram_joules_per_token, 0.0);
        assert!(all.joules_per_token > 0.0);

        d.sram_bandwidth_gbs = 0.0;
        assert!(estimate(&llama_8b(), &d, &workload()).is_err());
    }

    #[test]
    fn too_big_does_not_fit() {
        let mut model = llama_8b();
        model.params_b = 70.0;
        model.active_params_b = 70.0;
        let e = estimate(&model, &device(), &workload()).unwrap();
        assert!(!e.fits);
        assert!(e.margin_gb < 0.0);
    }

    #[test]
    fn large_batch_becomes_compute_bound() {
        let mut w = workload();
        w.batch = 512.0;
        w.context_tokens = 128.0;
        let e = estimate(&llama_8b(), &device(), &w).unwrap();
        assert!(e.decode_compute_bound);
    }

    #[test]
    fn refuses_a_prefill_efficiency_past_the_compute_peak() {
        // 2.48 of the peak once put a Mac's prefill range above its FP16 rate.
        let mut d = device();
        d.efficiency.prefill_high = 2.48;
        assert!(estimate(&llama_8b(), &d, &workload())
            .unwrap_err()
            .to_string()
            .starts_with("prefill_efficiency_high must be in (0, 1]"));
        d.efficiency.prefill_high = 1.0;
        let e = estimate(&llama_8b(), &d, &workload()).unwrap();
        let peak_bound = 8.0e12 / llama_8b().flops_per_token(2048.0);
        assert!(close(e.prefill_tokens_per_s_high, peak_bound));
    }

    #[test]
    fn compute_bound_decode_spans_the_compute_efficiency_range() {
        // Only the memory efficiency once varied, so a compute-bound step had no range.
        let mut w = workload();
        w.batch = 512.0;
        w.context_tokens = 128.0;
        let e = estimate(&llama_8b(), &device(), &w).unwrap();
        assert!(e.decode_compute_bound);
        let flops = 512.0 * llama_8b().flops_per_token(128.0);
        // Prefill efficiency 0.4-0.6 around 0.5; overhead 4 ms slow, 1 ms fast, 2 ms between.
        let speed = |share: f64, overhead_s: f64| 1.0 / (flops / (share * 8.0e12) + overhead_s);
        assert!(close(e.decode_tokens_per_s, speed(0.5, 0.002)));
        assert!(close(e.decode_tokens_per_s_low, speed(0.4, 0.004)));
        assert!(close(e.decode_tokens_per_s_high, speed(0.6, 0.001)));
    }

    #[test]
    fn refuses_bad_inputs() {
        let mut model = llama_8b();
        model.kv_heads = f64::NAN;
        let err = estimate(&model, &device(), &workload()).unwrap_err();
        assert!(err.to_string().starts_with("kv_heads"));
        let mut d = device();
        d.bandwidth_gbs = -1.0;
        assert!(estimate(&llama_8b(), &d, &workload())
            .unwrap_err()
            .to_string()
            .starts_with("bandwidth_gbs"));
        let mut w = workload();
        w.context_tokens = 0.0;
        assert!(estimate(&llama_8b(), &device(), &w)
            .unwrap_err()
            .to_string()
            .starts_with("context_tokens"));
        let mut m = llama_8b();
        m.active_params_b = 9.0;
        assert!(estimate(&m, &device(), &workload()).is_err());
    }

    #[test]
    fn sweep_covers_every_combination() {
        let rows = sweep(
            &[llama_8b()],
            &[device(), device()],
            &[4.89, 8.5],
            &[512.0, 4096.0, 8192.0],
            None,
            16.0,
            1.0,
            0.1,
        )
        .unwrap();
        assert_eq!(rows.len(), 12);
        assert_eq!(
            (
                rows[11].device_index,
                rows[11].bits_index,
                rows[11].context_index
            ),
            (1, 1, 2)
        );
    }
}
