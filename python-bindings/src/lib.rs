//! `timelog._timelog`: the native half of the `timelog` Python package (pyo3).
//!
//! Thin glue over the `timelog-engine` crate: conversions, exceptions, GIL
//! handling, reader pins and payload lifetime. The engine logic lives in the
//! engine; the public facade (`timelog/__init__.py`) lives in Python. The native
//! `Timelog` class is declared in `state` and its methods are grouped by concept,
//! one `#[pymethods]` block per file (pyo3's `multiple-pymethods`).

mod arrow;
mod arrow_col;
mod arrow_ffi;
mod arrow_import;
mod arrow_ts;
mod arrow_values;
mod buffer;
mod cell;
mod coerce;
mod export;
mod gil;
mod ingest;
mod iter;
mod maintenance;
mod options;
mod parquet;
mod pin;
mod reads;
mod slab;
mod state;
mod stats;
mod views;
mod writes;

use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Process-wide payload slab figures (private diagnostics, not documented API):
/// `slots` in use (stored payloads, including deleted records the engine still holds,
/// and retired ones not yet released), `chunks` allocated, their `bytes`, and
/// `retired` (released by the engine, waiting for a Python thread).
#[pyfunction]
fn _slab_info(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let (slots, chunks, retired) = slab::info();
    let d = PyDict::new(py);
    d.set_item("slots", slots)?;
    d.set_item("chunks", chunks)?;
    d.set_item("bytes", chunks * slab::CHUNK_BYTES)?;
    d.set_item("retired", retired)?;
    Ok(d)
}

/// The native module.
#[pymodule(gil_used = true)]
fn _timelog(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("TimelogError", py.get_type::<coerce::TimelogError>())?;
    m.add("TimelogBusyError", py.get_type::<coerce::TimelogBusyError>())?;
    m.add_class::<state::PyTimelog>()?;
    m.add_class::<iter::TimelogIter>()?;
    m.add_class::<views::PageSpan>()?;
    m.add_class::<views::PageSpanIter>()?;
    m.add_class::<views::PageSpanObjectsView>()?;
    m.add_class::<buffer::OwnedBuffer>()?;
    m.add_class::<arrow::TimelogArrowStream>()?;
    m.add_function(wrap_pyfunction!(_slab_info, m)?)?;
    m.add_function(wrap_pyfunction!(coerce::_coerce_ts, m)?)?;
    m.add("_OPTIONS", options::to_python(py)?)?;
    m.add("TL_TS_MIN", coerce::TS_MIN)?;
    m.add("TL_TS_MAX", coerce::TS_MAX)?;
    Ok(())
}
