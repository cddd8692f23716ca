//! PyO3 bindings: the `shoal._core` extension module.
//!
//! Every function releases the GIL around its pure work and maps Rust errors to `ValueError`
//! here, in one place. Panics are caught at this boundary and never reach Python as
//! `PanicException`.

use pyo3::prelude::*;

#[pymodule]
fn _core(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
