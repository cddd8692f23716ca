//! Sweeps over models × devices × process nodes × weight formats × contexts, reduced to the
//! Pareto front of decode speed against energy per token.
//!
//! A device can be taken as built or ported to another process node (`ppa::scale`). Porting
//! changes what the node changes and nothing else:
//! - compute (`tflops`) × the performance ratio;
//! - power: the DRAM interface's share (its bandwidth × energy per bit, at most the device
//!   power) stays, the rest × the power ratio;
//! - on-die SRAM capacity × the SRAM capacity ratio, and SRAM energy per bit × the energy per
//!   operation ratio;
//! - the die's energy per step: the as-built work at that energy per operation (`infer::estimate`
//!   reads the performance ratio for it).
//!
//! DRAM bandwidth and DRAM energy per bit belong to the memory technology, not the node.
//!
//! The front keeps the configurations that fit in memory and that no other fitting
//! configuration beats on both decode tokens/s (higher) and joules per token (lower). Equal
//! points keep the first in sweep order. The order of floating-point operations is part of the
//! contract: the pure-Python twin must reproduce every figure bit for bit.

use std::cmp::Ordering;
use std::fmt;

use crate::infer::{self, Device, Estimate, InferError, ModelShape, Workload};
use crate::ppa::{self, Mode, Node, PpaError, Scaling};

/// Upper bound on the configurations of one Pareto sweep.
pub const MAX_CONFIGURATIONS: usize = 100_000_000;

/// A weight format as the sweep needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Format {
    pub bits_per_weight: f64,
    /// Bits of the parameters every token reads (attention, output projection) in this format.
    pub dense_bits_per_weight: f64,
    /// True when the engine runs this format on integer (INT8) matrix kernels.
    pub int8_kernels: bool,
}

/// A device with what porting it needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// The device as built; `device.tflops` is its FP16 peak.
    pub device: Device,
    /// Peak for formats on integer kernels (equal to `device.tflops` when there are none).
    pub int8_tflops: f64,
    /// The node the device is built on; `None` when unknown (it is then only taken as built).
    pub node: Option<Node>,
    /// Share of the die taken by SRAM, in [0, 1).
    pub sram_area_fraction: f64,
}

/// One configuration on the front: indices into the inputs and its estimate.
#[derive(Clone, Debug, PartialEq)]
pub struct FrontPoint {
    pub model_index: usize,
    pub device_index: usize,
    pub node_index: usize,
    pub format_index: usize,
    pub context_index: usize,
    pub estimate: Estimate,
}

/// The result of a sweep: how many configurations were seen and the front.
#[derive(Clone, Debug, PartialEq)]
pub struct Front {
    /// Configurations estimated.
    pub evaluated: usize,
    /// Of those, the ones that fit in memory.
    pub fitting: usize,
    /// Configurations not estimated: a device with no known node asked to be ported.
    pub skipped: usize,
    /// Sorted by joules per token (ascending), so decode speed rises along it.
    pub points: Vec<FrontPoint>,
}

/// Why a sweep was refused.
#[derive(Clone, Debug, PartialEq)]
pub enum SweepError {
    Infer(InferError),
    Ppa(PpaError),
    Invalid {
        parameter: &'static str,
        value: f64,
        rule: &'static str,
    },
    TooLarge,
}

impl fmt::Display for SweepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SweepError::Infer(error) => error.fmt(f),
            SweepError::Ppa(error) => error.fmt(f),
            SweepError::Invalid {
                parameter,
                value,
                rule,
            } => write!(f, "{parameter} must be {rule}, got {value}"),
            SweepError::TooLarge => write!(
                f,
                "a Pareto sweep may hold at most {MAX_CONFIGURATIONS} configurations"
            ),
        }
    }
}

impl std::error::Error for SweepError {}

impl From<InferError> for SweepError {
    fn from(error: InferError) -> Self {
        SweepError::Infer(error)
    }
}

impl From<PpaError> for SweepError {
    fn from(error: PpaError) -> Self {
        SweepError::Ppa(error)
    }
}

fn positive(parameter: &'static str, value: f64) -> Result<(), SweepError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(SweepError::Invalid {
            parameter,
            value,
            rule: "a finite number > 0",
        })
    }
}

/// The device after a node change described by `scaling`, with `tflops` as its peak.
pub fn port_device(device: &Device, tflops: f64, scaling: &Scaling) -> Device {
    let dram_power_w = infer::memory_interface_power_w(device);
    let mut ported = device.clone();
    ported.tflops = tflops * scaling.performance_ratio;
    ported.performance_ratio = device.performance_ratio * scaling.performance_ratio;
    ported.power_w = dram_power_w + (device.power_w - dram_power_w) * scaling.power_ratio;
    ported.sram_gb = device.sram_gb * scaling.sram_capacity_ratio;
    ported.sram_pj_per_bit = device.sram_pj_per_bit * scaling.energy_per_operation_ratio;
    ported
}

/// A fitting configuration, reduced to what ranks it.
struct Scored {
    joules: f64,
    tokens_per_s: f64,
    order: usize,
}

/// Ascending joules, then descending speed, then sweep order.
fn rank(a: &Scored, b: &Scored) -> Ordering {
    a.joules
        .total_cmp(&b.joules)
        .then(b.tokens_per_s.total_cmp(&a.tokens_per_s))
        .then(a.order.cmp(&b.order))
}

/// The sweep's dimensions, for turning a linear order back into indices.
struct Shape {
    devices: usize,
    nodes: usize,
    formats: usize,
    contexts: usize,
}

impl Shape {
    fn order(&self, m: usize, d: usize, n: usize, f: usize, c: usize) -> usize {
        (((m * self.devices + d) * self.nodes + n) * self.formats + f) * self.contexts + c
    }

    fn indices(&self, order: usize) -> (usize, usize, usize, usize, usize) {
        let c = order % self.contexts;
        let rest = order / self.contexts;
        let f = rest % self.formats;
        let rest = rest / self.formats;
        let n = rest % self.nodes;
        let rest = rest / self.nodes;
        (rest / self.devices, rest % self.devices, n, f, c)
    }
}

/// The devices of the sweep: one per (device, node, format), `None` when it cannot be ported.
fn ported_devices(
    candidates: &[Candidate],
    nodes: &[Option<Node>],
    formats: &[Format],
    mode: Mode,
) -> Result<Vec<Option<Device>>, SweepError> {
    let mut devices = Vec::with_capacity(candidates.len() * nodes.len() * formats.len());
    for candidate in candidates {
        for target in nodes {
            let scaling = match (target, &candidate.node) {
                (None, _) => None,
                (Some(to), Some(from)) => {
                    Some(ppa::scale(from, to, mode, candidate.sram_area_fraction)?)
                }
                (Some(_), None) => {
                    devices.extend(formats.iter().map(|_| None));
                    continue;
                }
            };
            for format in formats {
                let peak = if format.int8_kernels {
                    candidate.int8_tflops
                } else {
                    candidate.device.tflops
                };
                let device = match &scaling {
                    None => Device {
                        tflops: peak,
                        ..candidate.device.clone()
                    },
                    Some(scaling) => port_device(&candidate.device, peak, scaling),
                };
                devices.push(Some(device));
            }
        }
    }
    Ok(devices)
}

fn validate(
    models: &[ModelShape],
    candidates: &[Candidate],
    formats: &[Format],
    context_tokens: &[f64],
    nodes: &[Option<Node>],
) -> Result<usize, SweepError> {
    for model in models {
        model.validate()?;
    }
    for candidate in candidates {
        candidate.device.validate()?;
        positive("int8_tflops", candidate.int8_tflops)?;
    }
    for format in formats {
        positive("bits_per_weight", format.bits_per_weight)?;
        positive("dense_bits_per_weight", format.dense_bits_per_weight)?;
    }
    for &context in context_tokens {
        positive("context_tokens", context)?;
    }
    // An identity port checks each node's figures (and the SRAM share) before any work.
    for target in nodes.iter().flatten() {
        ppa::scale(target, target, Mode::IsoPower, 0.0)?;
    }
    for candidate in candidates {
        if let Some(node) = &candidate.node {
            ppa::scale(node, node, Mode::IsoPower, candidate.sram_area_fraction)?;
        }
    }
    [
        candidates.len(),
        nodes.len(),
        formats.len(),
        context_tokens.len(),
    ]
    .iter()
    .try_fold(models.len(), |product, &n| product.checked_mul(n))
    .filter(|&n| n <= MAX_CONFIGURATIONS)
    .ok_or(SweepError::TooLarge)
}

/// Every configuration of models × devices × nodes × formats × contexts, reduced to its front.
///
/// `nodes` lists the targets; `None` takes each device as built. Indices in the result refer to
/// the input slices. All inputs are validated before any work.
#[allow(clippy::too_many_arguments)]
pub fn pareto_sweep(
    models: &[ModelShape],
    candidates: &[Candidate],
    formats: &[Format],
    context_tokens: &[f64],
    nodes: &[Option<Node>],
    mode: Mode,
    kv_bits: f64,
    batch: f64,
    weight_overhead_fraction: f64,
) -> Result<Front, SweepError> {
    validate(models, candidates, formats, context_tokens, nodes)?;
    let shape = Shape {
        devices: candidates.len(),
        nodes: nodes.len(),
        formats: formats.len(),
        contexts: context_tokens.len(),
    };
    let devices = ported_devices(candidates, nodes, formats, mode)?;
    let workload = |format: &Format, context: f64| Workload {
        bits_per_weight: format.bits_per_weight,
        dense_bits_per_weight: format.dense_bits_per_weight,
        kv_bits,
        context_tokens: context,
        batch,
        weight_overhead_fraction,
    };

    let (mut evaluated, mut skipped) = (0usize, 0usize);
    let mut scored = Vec::new();
    for (m, model) in models.iter().enumerate() {
        for (slot, device) in devices.iter().enumerate() {
            let (d, n, f) = (
                slot / (shape.nodes * shape.formats),
                slot / shape.formats % shape.nodes,
                slot % shape.formats,
            );
            let Some(device) = device else {
                skipped += shape.contexts;
                continue;
            };
            for (c, &context) in context_tokens.iter().enumerate() {
                let estimate = infer::estimate(model, device, &workload(&formats[f], context))?;
                evaluated += 1;
                if estimate.fits {
                    let (tokens_per_s, joules) = estimate.decode_point();
                    scored.push(Scored {
                        joules,
                        tokens_per_s,
                        order: shape.order(m, d, n, f, c),
                    });
                }
            }
        }
    }
    let fitting = scored.len();

    // Walk by rising energy: a point joins the front when it is faster than all before it.
    scored.sort_unstable_by(rank);
    let mut points = Vec::new();
    let mut fastest = f64::NEG_INFINITY;
    for point in &scored {
        if point.tokens_per_s > fastest {
            fastest = point.tokens_per_s;
            let (m, d, n, f, c) = shape.indices(point.order);
            let Some(device) = &devices[(d * shape.nodes + n) * shape.formats + f] else {
                continue; // unreachable: only estimated devices are scored
            };
            let estimate = infer::estimate(
                &models[m],
                device,
                &workload(&formats[f], context_tokens[c]),
            )?;
            points.push(FrontPoint {
                model_index: m,
                device_index: d,
                node_index: n,
                format_index: f,
                context_index: c,
                estimate,
            });
        }
    }
    Ok(Front {
        evaluated,
        fitting,
        skipped,
        points,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::Efficiency;

    fn model(params_b: f64) -> ModelShape {
        ModelShape {
            params_b,
            active_params_b: params_b,
            dense_params_b: 0.0,
            layers: 32.0,
            attention_heads: 32.0,
            kv_heads: 8.0,
            head_dim: 128.0,
            sliding_window: 0.0,
            sliding_window_layers: 0.0,
        }
    }

    fn device(memory_gb: f64, bandwidth_gbs: f64, power_w: f64) -> Device {
        Device {
            memory_gb,
            usable_fraction: 0.9,
            bandwidth_gbs,
            tflops: 50.0,
            power_w,
            dram_pj_per_bit: 5.0,
            runtime_overhead_gb: 0.5,
            sram_gb: 0.05,
            sram_bandwidth_gbs: 4.0 * bandwidth_gbs,
            sram_pj_per_bit: 0.2,
            performance_ratio: 1.0,
            efficiency: Efficiency {
                decode: 0.8,
                decode_low: 0.7,
                decode_high: 0.9,
                overhead_ms: 1.0,
                overhead_ms_low: 1.0,
                overhead_ms_high: 1.0,
                prefill: 0.3,
                prefill_low: 0.2,
                prefill_high: 0.4,
                power_fraction: 0.7,
            },
        }
    }

    fn n5() -> Node {
        Node {
            logic_density: 1.8,
            sram_density: 1.29,
            perf_iso_power: 1.15,
            power_iso_perf: 0.7,
        }
    }

    fn nanostack() -> Node {
        Node {
            logic_density: 6.6,
            sram_density: 2.57,
            perf_iso_power: 2.29,
            power_iso_perf: 0.10,
        }
    }

    fn candidates() -> Vec<Candidate> {
        vec![
            Candidate {
                device: device(24.0, 1000.0, 450.0),
                int8_tflops: 200.0,
                node: Some(n5()),
                sram_area_fraction: 0.3,
            },
            Candidate {
                device: device(128.0, 500.0, 90.0),
                int8_tflops: 50.0,
                node: None,
                sram_area_fraction: 0.3,
            },
        ]
    }

    fn formats() -> Vec<Format> {
        vec![
            Format {
                bits_per_weight: 4.89,
                dense_bits_per_weight: 4.89,
                int8_kernels: true,
            },
            Format {
                bits_per_weight: 16.0,
                dense_bits_per_weight: 16.0,
                int8_kernels: false,
            },
        ]
    }

    fn sweep(nodes: &[Option<Node>], mode: Mode) -> Front {
        pareto_sweep(
            &[model(8.0), model(70.0), model(1.2)],
            &candidates(),
            &formats(),
            &[512.0, 8192.0],
            nodes,
            mode,
            16.0,
            1.0,
            0.1,
        )
        .unwrap()
    }

    /// Every fitting configuration, estimated one by one: the brute-force oracle.
    fn brute_force(nodes: &[Option<Node>], mode: Mode) -> Vec<(usize, f64, f64)> {
        let candidates = candidates();
        let devices = ported_devices(&candidates, nodes, &formats(), mode).unwrap();
        let shape = Shape {
            devices: 2,
            nodes: nodes.len(),
            formats: 2,
            contexts: 2,
        };
        let mut all = Vec::new();
        for (m, model) in [model(8.0), model(70.0), model(1.2)].iter().enumerate() {
            for d in 0..2 {
                for n in 0..nodes.len() {
                    for (f, format) in formats().iter().enumerate() {
                        let Some(device) = &devices[(d * nodes.len() + n) * 2 + f] else {
                            continue;
                        };
                        for (c, context) in [512.0, 8192.0].iter().enumerate() {
                            let workload = Workload {
                                bits_per_weight: format.bits_per_weight,
                                dense_bits_per_weight: format.dense_bits_per_weight,
                                kv_bits: 16.0,
                                context_tokens: *context,
                                batch: 1.0,
                                weight_overhead_fraction: 0.1,
                            };
                            let e = infer::estimate(model, device, &workload).unwrap();
                            if e.fits {
                                let order = shape.order(m, d, n, f, c);
                                all.push((order, e.decode_tokens_per_s, e.joules_per_token));
                            }
                        }
                    }
                }
            }
        }
        all
    }

    #[test]
    fn front_is_exactly_the_non_dominated_fitting_points() {
        let nodes = [None, Some(nanostack())];
        let front = sweep(&nodes, Mode::IsoPerformance);
        let all = brute_force(&nodes, Mode::IsoPerformance);
        assert_eq!(front.fitting, all.len());
        // 3 models x 2 devices x 2 nodes x 2 formats x 2 contexts, the unported device skipped
        // on the nanostack target.
        assert_eq!(front.evaluated + front.skipped, 48);
        assert_eq!(front.skipped, 12);

        let dominated = |&(order, speed, joules): &(usize, f64, f64)| {
            all.iter().any(|&(other, s, j)| {
                (s >= speed && j <= joules && (s > speed || j < joules))
                    || (s == speed && j == joules && other < order)
            })
        };
        let expected: Vec<usize> = all.iter().filter(|p| !dominated(p)).map(|p| p.0).collect();
        let shape = Shape {
            devices: 2,
            nodes: 2,
            formats: 2,
            contexts: 2,
        };
        let mut got: Vec<usize> = front
            .points
            .iter()
            .map(|p| {
                shape.order(
                    p.model_index,
                    p.device_index,
                    p.node_index,
                    p.format_index,
                    p.context_index,
                )
            })
            .collect();
        got.sort_unstable();
        let mut expected = expected;
        expected.sort_unstable();
        assert_eq!(got, expected);
        for pair in front.points.windows(2) {
            assert!(pair[0].estimate.joules_per_token <= pair[1].estimate.joules_per_token);
            assert!(pair[0].estimate.decode_tokens_per_s < pair[1].estimate.decode_tokens_per_s);
        }
    }

    #[test]
    fn porting_keeps_dram_power_and_scales_the_rest() {
        let candidate = &candidates()[0];
        let scaling = ppa::scale(&n5(), &nanostack(), Mode::IsoPerformance, 0.3).unwrap();
        let ported = port_device(&candidate.device, candidate.int8_tflops, &scaling);
        let dram_w = 1000.0 * 8.0 * 5.0 / 1000.0;
        let expected = dram_w + (450.0 - dram_w) * (0.10 / 0.7);
        assert!((ported.power_w - expected).abs() < 1e-9);
        assert_eq!(ported.tflops, 200.0);
        assert_eq!(ported.bandwidth_gbs, 1000.0);

        let area = ppa::scale(&n5(), &nanostack(), Mode::IsoArea, 0.3).unwrap();
        let filled = port_device(&candidate.device, candidate.device.tflops, &area);
        assert!((filled.sram_gb - 0.05 * 2.57 / 1.29).abs() < 1e-12);
        assert!((filled.tflops - 50.0 * 6.6 / 1.8).abs() < 1e-9);
    }

    #[test]
    fn a_ported_die_spends_the_nodes_energy_per_operation_on_the_same_work() {
        // Memory-bound decode without SRAM: the step takes as long before and after, so only
        // the energy per operation of the die's share changes; the memory interface's stays.
        let mut device = candidates()[0].device.clone();
        device.sram_gb = 0.0;
        let workload = Workload {
            bits_per_weight: 4.89,
            dense_bits_per_weight: 4.89,
            kv_bits: 16.0,
            context_tokens: 4096.0,
            batch: 1.0,
            weight_overhead_fraction: 0.0,
        };
        let before = infer::estimate(&model(8.0), &device, &workload).unwrap();
        let interface_w = 1000.0 * 8.0 * 5.0 / 1000.0;
        let die_w = 450.0 - interface_w;
        let step_s = 1.0 / before.decode_tokens_per_s;
        for (from, to, mode) in [
            (nanostack(), n5(), Mode::IsoArea),
            (nanostack(), n5(), Mode::IsoPower),
            (n5(), nanostack(), Mode::IsoArea),
            (n5(), nanostack(), Mode::IsoPower),
            (n5(), nanostack(), Mode::IsoPerformance),
        ] {
            let scaling = ppa::scale(&from, &to, mode, 0.3).unwrap();
            let ported = port_device(&device, device.tflops, &scaling);
            let after = infer::estimate(&model(8.0), &ported, &workload).unwrap();
            assert_eq!(after.decode_tokens_per_s, before.decode_tokens_per_s);
            let expected =
                0.7 * (interface_w + die_w * scaling.energy_per_operation_ratio) * step_s;
            assert!((after.joules_per_token - expected).abs() < 1e-9 * expected);
            let older = scaling.energy_per_operation_ratio > 1.0;
            assert_eq!(after.joules_per_token > before.joules_per_token, older);
        }
    }

    #[test]
    fn iso_performance_port_saves_energy_not_speed() {
        let as_built = sweep(&[None], Mode::IsoPerformance);
        let ported = sweep(&[Some(nanostack())], Mode::IsoPerformance);
        let best = |front: &Front| front.points.first().unwrap().estimate.joules_per_token;
        assert!(best(&ported) < best(&as_built));
    }

    #[test]
    fn refuses_bad_inputs() {
        let mut formats = formats();
        formats[0].dense_bits_per_weight = 0.0;
        let error = pareto_sweep(
            &[model(8.0)],
            &candidates(),
            &formats,
            &[512.0],
            &[None],
            Mode::IsoPower,
            16.0,
            1.0,
            0.1,
        )
        .unwrap_err();
        assert!(error.to_string().starts_with("dense_bits_per_weight"));

        let mut bad = nanostack();
        bad.perf_iso_power = f64::NAN;
        let error = pareto_sweep(
            &[model(8.0)],
            &candidates(),
            &self::formats(),
            &[512.0],
            &[Some(bad)],
            Mode::IsoPower,
            16.0,
            1.0,
            0.1,
        )
        .unwrap_err();
        assert!(error.to_string().contains("perf_iso_power"));
    }
}
