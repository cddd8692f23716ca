//! The hot path of shoal.
//!
//! Each module holds plain Rust logic with its own error type; `python` (behind the `python`
//! feature) is the only place that knows about Python, and the only place errors are mapped to
//! Python exceptions.

#[cfg(feature = "python")]
mod python;

pub mod embed;
pub mod estimate;
pub mod infer;
pub mod pareto;
pub mod ppa;
mod pretokenize;
pub mod privacy;
pub mod tokens;
