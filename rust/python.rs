//! PyO3 bindings: the `shoal._core` extension module.
//!
//! Every function releases the GIL around its pure work and maps Rust errors to `ValueError`
//! here, in one place. Panics are caught at this boundary and never reach Python as
//! `PanicException`.

use pyo3::prelude::*;

// ---- embedding ----

fn embed_error(error: crate::embed::EmbedError) -> PyErr {
    pyo3::exceptions::PyValueError::new_err(error.to_string())
}

fn embed_dim(dim: i64) -> PyResult<usize> {
    let max = crate::embed::MAX_DIM as i64;
    if !(1..=max).contains(&dim) {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "dim must be between 1 and {max}, got {dim}"
        )));
    }
    Ok(dim as usize)
}

/// Embed texts into unit vectors by feature hashing (see `rust/embed.rs`).
#[pyfunction]
#[pyo3(signature = (texts, *, dim))]
fn embed(py: Python<'_>, texts: Vec<String>, dim: i64) -> PyResult<Vec<Vec<f64>>> {
    let dim = embed_dim(dim)?;
    py.detach(|| crate::embed::embed(&texts, dim))
        .map_err(embed_error)
}

/// Per dimension, the correctly rounded sum of the texts' embeddings (as `math.fsum` over each
/// column), holding one embedding per thread at a time.
#[pyfunction]
#[pyo3(signature = (texts, *, dim))]
fn embedding_sums(py: Python<'_>, texts: Vec<String>, dim: i64) -> PyResult<Vec<f64>> {
    let dim = embed_dim(dim)?;
    py.detach(|| crate::embed::embedding_sums(&texts, dim))
        .map_err(embed_error)
}

/// Each text's embedding minus `centre`, as int8 codes row after row (`bytes`), each row scaled
/// so its largest magnitude is 127, as `ExemplarIndex` codes its rows.
#[pyfunction]
#[pyo3(signature = (texts, *, dim, centre))]
fn embed_int8<'py>(
    py: Python<'py>,
    texts: Vec<String>,
    dim: i64,
    centre: Vec<f64>,
) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
    let dim = embed_dim(dim)?;
    let codes = py
        .detach(|| crate::embed::embed_int8(&texts, dim, &centre))
        .map_err(embed_error)?;
    // Collected in place: i8 and u8 have one layout, so no second buffer is allocated.
    let raw: Vec<u8> = codes
        .into_iter()
        .map(|code| code.to_ne_bytes()[0])
        .collect();
    Ok(pyo3::types::PyBytes::new(py, &raw))
}

/// Exemplar vectors (int8 codes) searched by brute-force cosine similarity.
#[pyclass(frozen, module = "shoal._core", name = "ExemplarIndex")]
struct PyExemplarIndex {
    inner: crate::embed::ExemplarIndex,
}

fn float32_values(raw: &[u8]) -> PyResult<Vec<f64>> {
    if raw.len() % 4 != 0 {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "vectors bytes length {} is not a multiple of 4 (float32)",
            raw.len()
        )));
    }
    let values = raw
        .chunks_exact(4)
        .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        .collect();
    Ok(values)
}

fn flatten_rows(rows: Vec<Vec<f64>>, dim: usize) -> PyResult<Vec<f64>> {
    let mut values = Vec::with_capacity(rows.len() * dim);
    for (position, row) in rows.into_iter().enumerate() {
        if row.len() != dim {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "vectors row {position} has {} values, expected dim={dim}",
                row.len()
            )));
        }
        values.extend(row);
    }
    Ok(values)
}

#[pymethods]
impl PyExemplarIndex {
    #[new]
    fn new(py: Python<'_>, vectors: &Bound<'_, PyAny>, dim: i64) -> PyResult<Self> {
        let dim = embed_dim(dim)?;
        let values = if let Ok(raw) = vectors.cast::<pyo3::types::PyBytes>() {
            float32_values(raw.as_bytes())?
        } else {
            flatten_rows(vectors.extract::<Vec<Vec<f64>>>()?, dim)?
        };
        let inner = py.detach(|| crate::embed::ExemplarIndex::new(values, dim));
        Ok(Self {
            inner: inner.map_err(embed_error)?,
        })
    }

    /// An index over int8 codes (`bytes`, row after row), used as they are.
    #[staticmethod]
    fn from_int8(py: Python<'_>, codes: &[u8], dim: i64) -> PyResult<Self> {
        let dim = embed_dim(dim)?;
        let codes: Vec<i8> = codes.iter().map(|&b| i8::from_ne_bytes([b])).collect();
        let inner = py.detach(|| crate::embed::ExemplarIndex::from_codes(codes, dim));
        Ok(Self {
            inner: inner.map_err(embed_error)?,
        })
    }

    /// Number of values per vector.
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Cosine similarity of `query` with every exemplar, in exemplar order.
    fn scores(&self, py: Python<'_>, query: Vec<f64>) -> PyResult<Vec<f64>> {
        py.detach(|| self.inner.scores(&query)).map_err(embed_error)
    }

    /// The `k` most similar exemplars as `(index, cosine)`, best first, ties by lower index.
    fn top_k(&self, py: Python<'_>, query: Vec<f64>, k: i64) -> PyResult<Vec<(usize, f64)>> {
        if k < 0 {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "k must be >= 0, got {k}"
            )));
        }
        let k = usize::try_from(k).unwrap_or(usize::MAX);
        py.detach(|| self.inner.top_k(&query, k))
            .map_err(embed_error)
    }
}

// ---- routing estimates ----

fn estimate_error(error: crate::estimate::EstimateError) -> PyErr {
    pyo3::exceptions::PyValueError::new_err(error.to_string())
}

/// Quality estimates for every candidate from the nearest exemplars (see `rust/estimate.rs`).
#[pyclass(frozen, module = "shoal._core", name = "NeighbourEstimator")]
struct PyNeighbourEstimator {
    inner: crate::estimate::Estimator,
}

#[pymethods]
impl PyNeighbourEstimator {
    #[new]
    #[pyo3(signature = (scores, difficulties, abilities, mean_scores, calibration, *,
                        similarity_power, shrinkage))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        scores: Vec<Vec<Option<f64>>>,
        difficulties: Vec<f64>,
        abilities: Vec<f64>,
        mean_scores: Vec<f64>,
        calibration: Vec<Vec<(f64, f64)>>,
        similarity_power: f64,
        shrinkage: f64,
    ) -> PyResult<Self> {
        let models = abilities.len();
        if scores.len() != difficulties.len() {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "scores has {} rows but difficulties has {} exemplars",
                scores.len(),
                difficulties.len()
            )));
        }
        if let Some(row) = scores.iter().position(|row| row.len() != models) {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "scores row {row} has {} values, expected one per model ({models})",
                scores[row].len()
            )));
        }
        let vote = crate::estimate::Vote {
            similarity_power,
            shrinkage,
        };
        let inner = py.detach(|| {
            let flat = scores.into_iter().flatten().collect();
            crate::estimate::Estimator::new(
                flat,
                difficulties,
                abilities,
                mean_scores,
                calibration,
                vote,
            )
        });
        Ok(Self {
            inner: inner.map_err(estimate_error)?,
        })
    }

    /// Number of labelled models.
    #[getter]
    fn models(&self) -> usize {
        self.inner.models()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// `(quality, evidence)` for every labelled model, then for every prior-only model.
    #[pyo3(signature = (neighbours, prior_abilities = Vec::new(), prior_means = Vec::new()))]
    fn estimate(
        &self,
        py: Python<'_>,
        neighbours: Vec<(i64, f64)>,
        prior_abilities: Vec<f64>,
        prior_means: Vec<f64>,
    ) -> PyResult<Vec<(f64, f64)>> {
        let count = self.inner.len();
        let mut pairs = Vec::with_capacity(neighbours.len());
        for (index, similarity) in neighbours {
            let Ok(index) = usize::try_from(index) else {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "neighbour index {index} is outside 0..{count}"
                )));
            };
            pairs.push((index, similarity));
        }
        let estimates = py.detach(|| self.inner.estimate(&pairs, &prior_abilities, &prior_means));
        Ok(estimates
            .map_err(estimate_error)?
            .into_iter()
            .map(|e| (e.quality, e.evidence))
            .collect())
    }
}

// ---- hardware ----

mod hardware {
    //! Inference fit/speed/energy estimates and process-node scaling (`infer`, `ppa`).

    use std::collections::HashMap;

    use pyo3::exceptions::PyValueError;
    use pyo3::prelude::*;
    use pyo3::types::PyDict;

    use crate::infer::{self, Device, Efficiency, Estimate, ModelShape, Workload};
    use crate::pareto::{self, Candidate, Format};
    use crate::ppa::{self, Mode, Node};

    fn value_error(error: impl std::fmt::Display) -> PyErr {
        PyValueError::new_err(error.to_string())
    }

    fn estimate_dict<'py>(py: Python<'py>, e: &Estimate) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        dict.set_item("weights_gb", e.weights_gb)?;
        dict.set_item("weight_overhead_gb", e.weight_overhead_gb)?;
        dict.set_item("kv_cache_gb", e.kv_cache_gb)?;
        dict.set_item("runtime_overhead_gb", e.runtime_overhead_gb)?;
        dict.set_item("memory_needed_gb", e.memory_needed_gb)?;
        dict.set_item("memory_available_gb", e.memory_available_gb)?;
        dict.set_item("margin_gb", e.margin_gb)?;
        dict.set_item("fits", e.fits)?;
        dict.set_item("bytes_per_step_gb", e.bytes_per_step_gb)?;
        dict.set_item("weights_read_gb", e.weights_read_gb)?;
        dict.set_item("sram_resident_fraction", e.sram_resident_fraction)?;
        dict.set_item("sram_bytes_per_step_gb", e.sram_bytes_per_step_gb)?;
        dict.set_item("decode_compute_bound", e.decode_compute_bound)?;
        dict.set_item("decode_tokens_per_s", e.decode_tokens_per_s)?;
        dict.set_item("decode_tokens_per_s_low", e.decode_tokens_per_s_low)?;
        dict.set_item("decode_tokens_per_s_high", e.decode_tokens_per_s_high)?;
        dict.set_item("decode_batch_tokens_per_s", e.decode_batch_tokens_per_s)?;
        dict.set_item("prefill_tokens_per_s", e.prefill_tokens_per_s)?;
        dict.set_item("prefill_tokens_per_s_low", e.prefill_tokens_per_s_low)?;
        dict.set_item("prefill_tokens_per_s_high", e.prefill_tokens_per_s_high)?;
        dict.set_item("time_to_first_token_s", e.time_to_first_token_s)?;
        dict.set_item("time_to_first_token_s_low", e.time_to_first_token_s_low)?;
        dict.set_item("time_to_first_token_s_high", e.time_to_first_token_s_high)?;
        dict.set_item("average_power_w", e.average_power_w)?;
        dict.set_item("joules_per_token", e.joules_per_token)?;
        dict.set_item("joules_per_token_low", e.joules_per_token_low)?;
        dict.set_item("joules_per_token_high", e.joules_per_token_high)?;
        dict.set_item("dram_joules_per_token", e.dram_joules_per_token)?;
        Ok(dict)
    }

    /// Memory fit, decode/prefill speed and energy of one model on one device.
    #[pyfunction]
    #[pyo3(signature = (
        *, params_b, active_params_b, layers, attention_heads, kv_heads, head_dim,
        sliding_window = 0.0, sliding_window_layers = 0.0, dense_params_b = 0.0,
        bits_per_weight, dense_bits_per_weight = None, kv_bits = 16.0, context_tokens,
        batch = 1.0, weight_overhead_fraction = 0.0,
        memory_gb, usable_fraction, bandwidth_gbs, tflops, power_w,
        dram_pj_per_bit = 0.0, runtime_overhead_gb = 0.0,
        sram_gb = 0.0, sram_bandwidth_gbs = 0.0, sram_pj_per_bit = 0.0, performance_ratio = 1.0,
        decode_efficiency, decode_efficiency_low, decode_efficiency_high,
        overhead_ms, overhead_ms_low, overhead_ms_high,
        prefill_efficiency, prefill_efficiency_low, prefill_efficiency_high,
        power_fraction,
    ))]
    #[allow(clippy::too_many_arguments)]
    pub fn estimate_inference<'py>(
        py: Python<'py>,
        params_b: f64,
        active_params_b: f64,
        layers: f64,
        attention_heads: f64,
        kv_heads: f64,
        head_dim: f64,
        sliding_window: f64,
        sliding_window_layers: f64,
        dense_params_b: f64,
        bits_per_weight: f64,
        dense_bits_per_weight: Option<f64>,
        kv_bits: f64,
        context_tokens: f64,
        batch: f64,
        weight_overhead_fraction: f64,
        memory_gb: f64,
        usable_fraction: f64,
        bandwidth_gbs: f64,
        tflops: f64,
        power_w: f64,
        dram_pj_per_bit: f64,
        runtime_overhead_gb: f64,
        sram_gb: f64,
        sram_bandwidth_gbs: f64,
        sram_pj_per_bit: f64,
        performance_ratio: f64,
        decode_efficiency: f64,
        decode_efficiency_low: f64,
        decode_efficiency_high: f64,
        overhead_ms: f64,
        overhead_ms_low: f64,
        overhead_ms_high: f64,
        prefill_efficiency: f64,
        prefill_efficiency_low: f64,
        prefill_efficiency_high: f64,
        power_fraction: f64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let model = ModelShape {
            params_b,
            active_params_b,
            dense_params_b,
            layers,
            attention_heads,
            kv_heads,
            head_dim,
            sliding_window,
            sliding_window_layers,
        };
        let device = Device {
            memory_gb,
            usable_fraction,
            bandwidth_gbs,
            tflops,
            power_w,
            dram_pj_per_bit,
            runtime_overhead_gb,
            sram_gb,
            sram_bandwidth_gbs,
            sram_pj_per_bit,
            performance_ratio,
            efficiency: Efficiency {
                decode: decode_efficiency,
                decode_low: decode_efficiency_low,
                decode_high: decode_efficiency_high,
                overhead_ms,
                overhead_ms_low,
                overhead_ms_high,
                prefill: prefill_efficiency,
                prefill_low: prefill_efficiency_low,
                prefill_high: prefill_efficiency_high,
                power_fraction,
            },
        };
        let workload = Workload {
            bits_per_weight,
            dense_bits_per_weight: dense_bits_per_weight.unwrap_or(bits_per_weight),
            kv_bits,
            context_tokens,
            batch,
            weight_overhead_fraction,
        };
        let estimate = py
            .detach(|| infer::estimate(&model, &device, &workload))
            .map_err(value_error)?;
        estimate_dict(py, &estimate)
    }

    fn field(
        entry: &HashMap<String, f64>,
        list: &str,
        index: usize,
        name: &str,
        default: Option<f64>,
    ) -> PyResult<f64> {
        match (entry.get(name), default) {
            (Some(&value), _) => Ok(value),
            (None, Some(value)) => Ok(value),
            (None, None) => Err(PyValueError::new_err(format!(
                "{list}[{index}] is missing {name}"
            ))),
        }
    }

    fn model_shape(entry: &HashMap<String, f64>, index: usize) -> PyResult<ModelShape> {
        let get = |name: &str, default| field(entry, "models", index, name, default);
        Ok(ModelShape {
            params_b: get("params_b", None)?,
            active_params_b: get("active_params_b", None)?,
            dense_params_b: get("dense_params_b", Some(0.0))?,
            layers: get("layers", None)?,
            attention_heads: get("attention_heads", None)?,
            kv_heads: get("kv_heads", None)?,
            head_dim: get("head_dim", None)?,
            sliding_window: get("sliding_window", Some(0.0))?,
            sliding_window_layers: get("sliding_window_layers", Some(0.0))?,
        })
    }

    fn device(entry: &HashMap<String, f64>, index: usize) -> PyResult<Device> {
        let get = |name: &str, default| field(entry, "devices", index, name, default);
        Ok(Device {
            memory_gb: get("memory_gb", None)?,
            usable_fraction: get("usable_fraction", None)?,
            bandwidth_gbs: get("bandwidth_gbs", None)?,
            tflops: get("tflops", None)?,
            power_w: get("power_w", None)?,
            dram_pj_per_bit: get("dram_pj_per_bit", Some(0.0))?,
            runtime_overhead_gb: get("runtime_overhead_gb", Some(0.0))?,
            sram_gb: get("sram_gb", Some(0.0))?,
            sram_bandwidth_gbs: get("sram_bandwidth_gbs", Some(0.0))?,
            sram_pj_per_bit: get("sram_pj_per_bit", Some(0.0))?,
            performance_ratio: get("performance_ratio", Some(1.0))?,
            efficiency: Efficiency {
                decode: get("decode_efficiency", None)?,
                decode_low: get("decode_efficiency_low", None)?,
                decode_high: get("decode_efficiency_high", None)?,
                overhead_ms: get("overhead_ms", None)?,
                overhead_ms_low: get("overhead_ms_low", None)?,
                overhead_ms_high: get("overhead_ms_high", None)?,
                prefill: get("prefill_efficiency", None)?,
                prefill_low: get("prefill_efficiency_low", None)?,
                prefill_high: get("prefill_efficiency_high", None)?,
                power_fraction: get("power_fraction", None)?,
            },
        })
    }

    /// Every combination of models × devices × bits per weight × contexts, as flat columns.
    #[pyfunction]
    #[pyo3(signature = (
        *, models, devices, bits_per_weight, context_tokens, dense_bits_per_weight = None,
        kv_bits = 16.0, batch = 1.0, weight_overhead_fraction = 0.0,
    ))]
    #[allow(clippy::too_many_arguments)]
    pub fn sweep_inference<'py>(
        py: Python<'py>,
        models: Vec<HashMap<String, f64>>,
        devices: Vec<HashMap<String, f64>>,
        bits_per_weight: Vec<f64>,
        context_tokens: Vec<f64>,
        dense_bits_per_weight: Option<f64>,
        kv_bits: f64,
        batch: f64,
        weight_overhead_fraction: f64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let shapes = models
            .iter()
            .enumerate()
            .map(|(i, m)| model_shape(m, i))
            .collect::<PyResult<Vec<_>>>()?;
        let profiles = devices
            .iter()
            .enumerate()
            .map(|(i, d)| device(d, i))
            .collect::<PyResult<Vec<_>>>()?;
        let rows = py
            .detach(|| {
                infer::sweep(
                    &shapes,
                    &profiles,
                    &bits_per_weight,
                    &context_tokens,
                    dense_bits_per_weight,
                    kv_bits,
                    batch,
                    weight_overhead_fraction,
                )
            })
            .map_err(value_error)?;

        let columns = PyDict::new(py);
        columns.set_item(
            "model_index",
            rows.iter().map(|r| r.model_index).collect::<Vec<_>>(),
        )?;
        columns.set_item(
            "device_index",
            rows.iter().map(|r| r.device_index).collect::<Vec<_>>(),
        )?;
        columns.set_item(
            "bits_index",
            rows.iter().map(|r| r.bits_index).collect::<Vec<_>>(),
        )?;
        columns.set_item(
            "context_index",
            rows.iter().map(|r| r.context_index).collect::<Vec<_>>(),
        )?;
        let column =
            |pick: fn(&Estimate) -> f64| rows.iter().map(|r| pick(&r.estimate)).collect::<Vec<_>>();
        columns.set_item(
            "fits",
            rows.iter().map(|r| r.estimate.fits).collect::<Vec<_>>(),
        )?;
        columns.set_item("memory_needed_gb", column(|e| e.memory_needed_gb))?;
        columns.set_item("margin_gb", column(|e| e.margin_gb))?;
        columns.set_item("decode_tokens_per_s", column(|e| e.decode_tokens_per_s))?;
        columns.set_item(
            "decode_tokens_per_s_low",
            column(|e| e.decode_tokens_per_s_low),
        )?;
        columns.set_item(
            "decode_tokens_per_s_high",
            column(|e| e.decode_tokens_per_s_high),
        )?;
        columns.set_item("prefill_tokens_per_s", column(|e| e.prefill_tokens_per_s))?;
        columns.set_item("time_to_first_token_s", column(|e| e.time_to_first_token_s))?;
        columns.set_item("joules_per_token", column(|e| e.joules_per_token))?;
        Ok(columns)
    }

    /// Ratios new/old of power, performance, area and SRAM capacity after a node change.
    #[pyfunction]
    #[pyo3(signature = (
        *, mode, sram_area_fraction,
        from_logic_density, from_sram_density, from_perf_iso_power, from_power_iso_perf,
        to_logic_density, to_sram_density, to_perf_iso_power, to_power_iso_perf,
    ))]
    #[allow(clippy::too_many_arguments)]
    pub fn scale_chip<'py>(
        py: Python<'py>,
        mode: &str,
        sram_area_fraction: f64,
        from_logic_density: f64,
        from_sram_density: f64,
        from_perf_iso_power: f64,
        from_power_iso_perf: f64,
        to_logic_density: f64,
        to_sram_density: f64,
        to_perf_iso_power: f64,
        to_power_iso_perf: f64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mode = Mode::parse(mode).map_err(value_error)?;
        let from = Node {
            logic_density: from_logic_density,
            sram_density: from_sram_density,
            perf_iso_power: from_perf_iso_power,
            power_iso_perf: from_power_iso_perf,
        };
        let to = Node {
            logic_density: to_logic_density,
            sram_density: to_sram_density,
            perf_iso_power: to_perf_iso_power,
            power_iso_perf: to_power_iso_perf,
        };
        let s = py
            .detach(|| ppa::scale(&from, &to, mode, sram_area_fraction))
            .map_err(value_error)?;
        let dict = PyDict::new(py);
        dict.set_item("power_ratio", s.power_ratio)?;
        dict.set_item("performance_ratio", s.performance_ratio)?;
        dict.set_item("area_ratio", s.area_ratio)?;
        dict.set_item("sram_capacity_ratio", s.sram_capacity_ratio)?;
        dict.set_item(
            "sram_capacity_ratio_iso_area",
            s.sram_capacity_ratio_iso_area,
        )?;
        dict.set_item("perf_per_watt_ratio", s.perf_per_watt_ratio)?;
        dict.set_item("energy_per_operation_ratio", s.energy_per_operation_ratio)?;
        Ok(dict)
    }

    const NODE_KEYS: [&str; 4] = [
        "logic_density",
        "sram_density",
        "perf_iso_power",
        "power_iso_perf",
    ];

    /// A node from four named figures (`prefix` + key); `None` when none of them is given.
    fn node(
        entry: &HashMap<String, f64>,
        list: &str,
        index: usize,
        prefix: &str,
    ) -> PyResult<Option<Node>> {
        let names = NODE_KEYS.map(|key| format!("{prefix}{key}"));
        let given = names
            .iter()
            .filter(|name| entry.contains_key(name.as_str()))
            .count();
        if given == 0 {
            return Ok(None);
        }
        let get = |i: usize| field(entry, list, index, &names[i], None);
        Ok(Some(Node {
            logic_density: get(0)?,
            sram_density: get(1)?,
            perf_iso_power: get(2)?,
            power_iso_perf: get(3)?,
        }))
    }

    fn candidate(entry: &HashMap<String, f64>, index: usize) -> PyResult<Candidate> {
        let profile = device(entry, index)?;
        Ok(Candidate {
            int8_tflops: field(entry, "devices", index, "int8_tflops", Some(profile.tflops))?,
            node: node(entry, "devices", index, "node_")?,
            sram_area_fraction: field(entry, "devices", index, "sram_area_fraction", Some(0.3))?,
            device: profile,
        })
    }

    fn weight_format(entry: &HashMap<String, f64>, index: usize) -> PyResult<Format> {
        let bits = field(entry, "formats", index, "bits_per_weight", None)?;
        Ok(Format {
            bits_per_weight: bits,
            dense_bits_per_weight: field(
                entry,
                "formats",
                index,
                "dense_bits_per_weight",
                Some(bits),
            )?,
            int8_kernels: field(entry, "formats", index, "int8_kernels", Some(0.0))? != 0.0,
        })
    }

    /// The Pareto front of decode tokens/s against joules per token over models × devices ×
    /// nodes × formats × contexts, as columns (see `rust/pareto.rs`).
    #[pyfunction]
    #[pyo3(signature = (
        *, models, devices, formats, context_tokens, nodes, mode = "iso-power",
        kv_bits = 16.0, batch = 1.0, weight_overhead_fraction = 0.0,
    ))]
    #[allow(clippy::too_many_arguments)]
    pub fn pareto_sweep<'py>(
        py: Python<'py>,
        models: Vec<HashMap<String, f64>>,
        devices: Vec<HashMap<String, f64>>,
        formats: Vec<HashMap<String, f64>>,
        context_tokens: Vec<f64>,
        nodes: Vec<Option<HashMap<String, f64>>>,
        mode: &str,
        kv_bits: f64,
        batch: f64,
        weight_overhead_fraction: f64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mode = Mode::parse(mode).map_err(value_error)?;
        let shapes = models
            .iter()
            .enumerate()
            .map(|(i, m)| model_shape(m, i))
            .collect::<PyResult<Vec<_>>>()?;
        let candidates = devices
            .iter()
            .enumerate()
            .map(|(i, d)| candidate(d, i))
            .collect::<PyResult<Vec<_>>>()?;
        let formats = formats
            .iter()
            .enumerate()
            .map(|(i, f)| weight_format(f, i))
            .collect::<PyResult<Vec<_>>>()?;
        let targets = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| match n {
                None => Ok(None),
                Some(entry) => node(entry, "nodes", i, "")?
                    .map(Some)
                    .ok_or_else(|| PyValueError::new_err(format!("nodes[{i}] has no figures"))),
            })
            .collect::<PyResult<Vec<_>>>()?;
        let front = py
            .detach(|| {
                pareto::pareto_sweep(
                    &shapes,
                    &candidates,
                    &formats,
                    &context_tokens,
                    &targets,
                    mode,
                    kv_bits,
                    batch,
                    weight_overhead_fraction,
                )
            })
            .map_err(value_error)?;

        let result = PyDict::new(py);
        result.set_item("evaluated", front.evaluated)?;
        result.set_item("fitting", front.fitting)?;
        result.set_item("skipped", front.skipped)?;
        let points = &front.points;
        result.set_item(
            "model_index",
            points.iter().map(|p| p.model_index).collect::<Vec<_>>(),
        )?;
        result.set_item(
            "device_index",
            points.iter().map(|p| p.device_index).collect::<Vec<_>>(),
        )?;
        result.set_item(
            "node_index",
            points.iter().map(|p| p.node_index).collect::<Vec<_>>(),
        )?;
        result.set_item(
            "format_index",
            points.iter().map(|p| p.format_index).collect::<Vec<_>>(),
        )?;
        result.set_item(
            "context_index",
            points.iter().map(|p| p.context_index).collect::<Vec<_>>(),
        )?;
        let column = |pick: fn(&Estimate) -> f64| {
            points.iter().map(|p| pick(&p.estimate)).collect::<Vec<_>>()
        };
        for (name, pick) in PARETO_COLUMNS {
            result.set_item(name, column(pick))?;
        }
        Ok(result)
    }

    type Pick = fn(&Estimate) -> f64;

    const PARETO_COLUMNS: [(&str, Pick); 10] = [
        ("decode_tokens_per_s", |e| e.decode_tokens_per_s),
        ("decode_tokens_per_s_low", |e| e.decode_tokens_per_s_low),
        ("decode_tokens_per_s_high", |e| e.decode_tokens_per_s_high),
        ("joules_per_token", |e| e.joules_per_token),
        ("joules_per_token_low", |e| e.joules_per_token_low),
        ("joules_per_token_high", |e| e.joules_per_token_high),
        ("memory_needed_gb", |e| e.memory_needed_gb),
        ("margin_gb", |e| e.margin_gb),
        ("prefill_tokens_per_s", |e| e.prefill_tokens_per_s),
        ("sram_resident_fraction", |e| e.sram_resident_fraction),
    ];
}

// ---- tokens ----

mod tokens {
    //! Exact BPE token ids and counts for the OpenAI encodings (`crate::tokens`).

    use std::panic::{catch_unwind, AssertUnwindSafe};

    use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
    use pyo3::prelude::*;
    use pyo3::types::{PyBytes, PyInt, PyString};

    use crate::tokens::{self, Encoding, Rank};

    /// Runs `work` without the GIL on the encoding called `name`, turning an unknown name into
    /// `ValueError` and a panic (a bug) into `RuntimeError` instead of letting it reach Python.
    fn with_encoding<T: Send>(
        py: Python<'_>,
        name: &str,
        work: impl FnOnce(&'static Encoding) -> T + Send,
    ) -> PyResult<T> {
        let outcome =
            py.detach(|| catch_unwind(AssertUnwindSafe(|| tokens::encoding(name).map(work))));
        match outcome {
            Ok(result) => result.map_err(|error| PyValueError::new_err(error.to_string())),
            Err(_) => Err(PyRuntimeError::new_err(format!(
                "internal error while tokenizing with {name}; please report it"
            ))),
        }
    }

    /// The UTF-8 view of a Python string, or `ValueError` locating its first lone surrogate
    /// (such a string has no UTF-8 form, so it cannot be tokenized).
    fn utf8<'a>(text: &'a Bound<'_, PyString>, what: &str) -> PyResult<&'a str> {
        text.to_str().map_err(|error| {
            let index = error
                .value(text.py())
                .getattr("start")
                .and_then(|start| start.extract::<usize>())
                .map_or_else(|_| "unknown".to_owned(), |start| start.to_string());
            PyValueError::new_err(format!(
                "{what} has an unpaired surrogate at index {index}; text must be valid Unicode \
                 (replace or drop lone surrogates, e.g. with str.encode('utf-8', 'replace'))"
            ))
        })
    }

    /// Token ids of `text` in `encoding`.
    #[pyfunction]
    #[pyo3(signature = (encoding, text, *, allow_special = false))]
    pub fn encode(
        py: Python<'_>,
        encoding: &str,
        text: &Bound<'_, PyString>,
        allow_special: bool,
    ) -> PyResult<Vec<Rank>> {
        let text = utf8(text, "text")?;
        with_encoding(py, encoding, |encoding| {
            encoding.encode(text, allow_special)
        })
    }

    /// Number of tokens of `text` in `encoding`.
    #[pyfunction]
    #[pyo3(signature = (encoding, text, *, allow_special = false))]
    pub fn count(
        py: Python<'_>,
        encoding: &str,
        text: &Bound<'_, PyString>,
        allow_special: bool,
    ) -> PyResult<usize> {
        let text = utf8(text, "text")?;
        with_encoding(py, encoding, |encoding| encoding.count(text, allow_special))
    }

    /// Number of tokens of each text, in order; large batches use every core.
    #[pyfunction]
    #[pyo3(signature = (encoding, texts, *, allow_special = false))]
    pub fn count_many(
        py: Python<'_>,
        encoding: &str,
        texts: &Bound<'_, PyAny>,
        allow_special: bool,
    ) -> PyResult<Vec<usize>> {
        if texts.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(
                "texts must be a sequence of str, not a str",
            ));
        }
        let mut strings = Vec::new();
        for (index, item) in texts.try_iter()?.enumerate() {
            let item = item?;
            let string = item.cast_into::<PyString>().map_err(|error| {
                let type_name = error
                    .into_inner()
                    .get_type()
                    .name()
                    .map_or_else(|_| "?".to_owned(), |name| name.to_string());
                PyTypeError::new_err(format!("texts[{index}] must be str, not {type_name}"))
            })?;
            strings.push(string);
        }
        let views = strings
            .iter()
            .enumerate()
            .map(|(index, string)| utf8(string, &format!("texts[{index}]")))
            .collect::<PyResult<Vec<&str>>>()?;
        with_encoding(py, encoding, |encoding| {
            encoding.count_many(&views, allow_special)
        })
    }

    /// The bytes of the token `ids` in `encoding`, concatenated.
    #[pyfunction]
    #[pyo3(signature = (encoding, ids))]
    pub fn decode<'py>(
        py: Python<'py>,
        encoding: &str,
        ids: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let mut tokens = Vec::new();
        for (index, item) in ids.try_iter()?.enumerate() {
            let item = item?;
            if !item.is_instance_of::<PyInt>() {
                let type_name = item.get_type().name()?;
                return Err(PyTypeError::new_err(format!(
                    "ids[{index}] must be int, not {type_name}"
                )));
            }
            let token = item.extract::<i64>().map_err(|_| {
                PyValueError::new_err(format!(
                    "token id {item} at ids[{index}] is not defined in encoding {encoding}"
                ))
            })?;
            tokens.push(token);
        }
        let bytes = with_encoding(py, encoding, |encoding| encoding.decode(&tokens))?
            .map_err(|error| PyValueError::new_err(error.to_string()))?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Adds the functions and `ENCODINGS` to the module.
    pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
        module.add(
            "ENCODINGS",
            pyo3::types::PyTuple::new(module.py(), tokens::ENCODINGS)?,
        )?;
        module.add_function(wrap_pyfunction!(encode, module)?)?;
        module.add_function(wrap_pyfunction!(count, module)?)?;
        module.add_function(wrap_pyfunction!(count_many, module)?)?;
        module.add_function(wrap_pyfunction!(decode, module)?)?;
        Ok(())
    }
}

// ---- privacy ----

mod privacy {
    //! Secrets and personal data in text (`crate::privacy`).

    use std::panic::{catch_unwind, AssertUnwindSafe};

    use pyo3::exceptions::{PyRuntimeError, PyValueError};
    use pyo3::prelude::*;
    use pyo3::types::{PyString, PyTuple};

    use crate::privacy;

    /// Findings `(kind, category, start, end)` in `text`, offsets in characters, sorted by start.
    #[pyfunction]
    #[pyo3(signature = (text))]
    pub fn scan_privacy(
        py: Python<'_>,
        text: &Bound<'_, PyString>,
    ) -> PyResult<Vec<(&'static str, &'static str, usize, usize)>> {
        let text = text.to_str().map_err(|error| {
            let index = error
                .value(py)
                .getattr("start")
                .and_then(|start| start.extract::<usize>())
                .map_or_else(|_| "unknown".to_owned(), |start| start.to_string());
            PyValueError::new_err(format!(
                "text has an unpaired surrogate at index {index}; text must be valid Unicode \
                 (replace or drop lone surrogates, e.g. with str.encode('utf-8', 'replace'))"
            ))
        })?;
        let outcome = py.detach(|| catch_unwind(AssertUnwindSafe(|| privacy::scan(text))));
        match outcome {
            Ok(Ok(findings)) => Ok(findings
                .into_iter()
                .map(|f| (f.kind, f.category, f.start, f.end))
                .collect()),
            Ok(Err(error)) => Err(PyRuntimeError::new_err(error.to_string())),
            Err(_) => Err(PyRuntimeError::new_err(
                "internal error while scanning for private data; please report it",
            )),
        }
    }

    /// Adds `scan_privacy` and `PRIVACY_PATTERNS` to the module.
    pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
        module.add(
            "PRIVACY_PATTERNS",
            PyTuple::new(module.py(), privacy::PATTERNS)?,
        )?;
        module.add_function(wrap_pyfunction!(scan_privacy, module)?)?;
        Ok(())
    }
}

#[pymodule]
fn _core(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    module.add_function(wrap_pyfunction!(hardware::estimate_inference, module)?)?;
    module.add_function(wrap_pyfunction!(hardware::sweep_inference, module)?)?;
    module.add_function(wrap_pyfunction!(hardware::scale_chip, module)?)?;
    module.add_function(wrap_pyfunction!(hardware::pareto_sweep, module)?)?;
    module.add_function(wrap_pyfunction!(embed, module)?)?;
    module.add_function(wrap_pyfunction!(embedding_sums, module)?)?;
    module.add_function(wrap_pyfunction!(embed_int8, module)?)?;
    module.add_class::<PyExemplarIndex>()?;
    module.add_class::<PyNeighbourEstimator>()?;
    tokens::register(module)?;
    privacy::register(module)?;
    Ok(())
}
