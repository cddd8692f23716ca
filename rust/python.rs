//! PyO3 bindings: the `shoal._core` extension module.
//!
//! Every function releases the GIL around its pure work and maps Rust errors to `ValueError`
//! here, in one place. Panics are caught at this boundary and never reach Python as
//! `PanicException`.

use pyo3::prelude::*;

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
        let outcome = py.detach(|| {
            catch_unwind(AssertUnwindSafe(|| tokens::encoding(name).map(work)))
        });
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
        with_encoding(py, encoding, |encoding| encoding.encode(text, allow_special))
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
            return Err(PyTypeError::new_err("texts must be a sequence of str, not a str"));
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
        with_encoding(py, encoding, |encoding| encoding.count_many(&views, allow_special))
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
        module.add("ENCODINGS", pyo3::types::PyTuple::new(module.py(), tokens::ENCODINGS)?)?;
        module.add_function(wrap_pyfunction!(encode, module)?)?;
        module.add_function(wrap_pyfunction!(count, module)?)?;
        module.add_function(wrap_pyfunction!(count_many, module)?)?;
        module.add_function(wrap_pyfunction!(decode, module)?)?;
        Ok(())
    }
}

#[pymodule]
fn _core(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    tokens::register(module)?;
    Ok(())
}
