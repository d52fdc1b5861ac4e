//! Conversions at the Python boundary: the one strict timestamp coercion (also
//! `timelog._api._coerce_ts`), bounds and optional arguments, the exception types
//! and the mapping of engine errors.

use std::ops::Bound as RBound;
use std::os::raw::c_int;

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyFloat, PySlice, PyType};
use pyo3::{create_exception, ffi};

create_exception!(
    timelog._timelog,
    TimelogError,
    pyo3::exceptions::PyException,
    "Base class of the errors raised by timelog (closed log, invalid state, ...)."
);
create_exception!(
    timelog._timelog,
    TimelogBusyError,
    TimelogError,
    "A write was accepted (it IS stored: do not retry it) but the engine reported backpressure."
);

pub const TS_MIN: i64 = i64::MIN;
pub const TS_MAX: i64 = i64::MAX;

/// The error raised by every data method of a closed log.
#[cold]
pub fn closed_err() -> PyErr {
    TimelogError::new_err("Timelog is closed")
}

/// Maps an engine error to the Python exception the API documents (`docs/api.md`, "Errors").
pub fn engine_err(e: timelog::Error) -> PyErr {
    match e {
        timelog::Error::InvalidConfig { .. } | timelog::Error::InvalidRange => {
            PyValueError::new_err(format!("invalid argument: {e}"))
        }
        timelog::Error::WrongMode => TimelogError::new_err(format!("invalid state: {e}")),
        timelog::Error::Corrupt(_) => TimelogError::new_err(e.to_string()),
        _ => pyo3::exceptions::PySystemError::new_err(e.to_string()),
    }
}

#[cold]
fn overflow(v: &Bound<'_, PyAny>) -> PyErr {
    let shown = v.str().map(|s| s.to_string()).unwrap_or_else(|_| "?".into());
    PyOverflowError::new_err(format!("timestamp {shown} is outside int64 range [{TS_MIN}, {TS_MAX}]"))
}

/// `int(v)` as an i64, for an object that is exactly an int (or the result of
/// `__index__`). Raises OverflowError naming the value outside int64.
#[inline(always)]
fn long_to_i64(v: &Bound<'_, PyAny>) -> PyResult<i64> {
    let mut overflow_flag: c_int = 0;
    // SAFETY: `v` is a live int object (checked by the callers) and we are attached.
    let x = unsafe { ffi::PyLong_AsLongLongAndOverflow(v.as_ptr(), &mut overflow_flag) };
    if overflow_flag != 0 {
        return Err(overflow(v));
    }
    if x == -1 {
        if let Some(e) = PyErr::take(v.py()) {
            return Err(e);
        }
    }
    Ok(x)
}

static DATE_TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn is_date(v: &Bound<'_, PyAny>) -> bool {
    let py = v.py();
    let ty = DATE_TYPE.get_or_try_init(py, || -> PyResult<Py<PyType>> {
        Ok(py.import("datetime")?.getattr("date")?.cast_into::<PyType>()?.unbind())
    });
    match ty {
        Ok(t) => v.is_instance(t.bind(py)).unwrap_or(false),
        Err(_) => false,
    }
}

/// Strict timestamp coercion (`docs/api.md`, "Timestamps"): `bool` is rejected, anything
/// with `__index__` is accepted, the result must fit in int64. Raises TypeError for a
/// bool or an object without `__index__` (floats and datetimes get an explanatory
/// message) and OverflowError for a value outside int64.
#[inline(always)]
pub fn ts(v: &Bound<'_, PyAny>) -> PyResult<i64> {
    // SAFETY: `v` is a live object.
    if unsafe { ffi::PyLong_CheckExact(v.as_ptr()) } != 0 {
        return long_to_i64(v);
    }
    ts_slow(v)
}

#[cold]
fn ts_slow(v: &Bound<'_, PyAny>) -> PyResult<i64> {
    if v.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err("timestamp must be int (bool not allowed)"));
    }
    // SAFETY: `v` is a live object and we are attached.
    let idx = unsafe { ffi::PyNumber_Index(v.as_ptr()) };
    if idx.is_null() {
        let err = PyErr::fetch(v.py());
        if v.is_instance_of::<PyFloat>() || is_numpy_float(v) {
            return Err(PyTypeError::new_err(format!(
                "timestamps are integers in the log's time_unit, not float ({}); use int(x), \
                 or a finer time_unit ('us'/'ns') if you need sub-unit precision \
                 ('{}' object cannot be interpreted as an integer)",
                v.repr().map(|r| r.to_string()).unwrap_or_default(),
                v.get_type().name().map(|r| r.to_string()).unwrap_or_default()
            )));
        }
        if is_date(v) {
            return Err(PyTypeError::new_err(
                "timestamps are integers in the log's time_unit; convert a datetime with \
                 e.g. int(dt.timestamp() * 1000) for time_unit='ms'",
            ));
        }
        return Err(err);
    }
    // SAFETY: `idx` is a new reference returned by PyNumber_Index.
    let idx = unsafe { Bound::from_owned_ptr(v.py(), idx) };
    long_to_i64(&idx)
}

fn is_numpy_float(v: &Bound<'_, PyAny>) -> bool {
    // numpy floating scalars (float32, float16, ...) that are not float subclasses.
    v.get_type().getattr("__module__").map(|m| m.to_string() == "numpy").unwrap_or(false)
        && v.hasattr("is_integer").unwrap_or(false)
}

/// Optional bound: `None` stays `None`.
pub fn opt_ts(v: Option<&Bound<'_, PyAny>>) -> PyResult<Option<i64>> {
    match v {
        None => Ok(None),
        Some(x) if x.is_none() => Ok(None),
        Some(x) => ts(x).map(Some),
    }
}

/// A slice step must be `None` or the int 1 (not `True`, not `1.0`).
pub fn check_step(step: &Bound<'_, PyAny>) -> PyResult<()> {
    if step.is_none() {
        return Ok(());
    }
    // SAFETY: live object.
    let exact_int = unsafe { ffi::PyLong_Check(step.as_ptr()) } != 0 && !step.is_instance_of::<PyBool>();
    if exact_int && step.extract::<i64>().ok() == Some(1) {
        return Ok(());
    }
    Err(PyValueError::new_err(format!(
        "Timelog slice step must be None or 1, not {}",
        step.repr().map(|r| r.to_string()).unwrap_or_default()
    )))
}

/// `timelog._api._coerce_ts(x)`: the strict timestamp coercion of every method, for
/// Python code (bool rejected, `__index__` accepted, int64 range; TypeError or
/// OverflowError otherwise).
#[pyfunction]
pub fn _coerce_ts(x: &Bound<'_, PyAny>) -> PyResult<i64> {
    ts(x)
}

/// One argument that may be absent (distinct from an explicit `None`).
pub enum Arg<'py> {
    Missing,
    Given(Bound<'py, PyAny>),
}

impl<'a, 'py> FromPyObject<'a, 'py> for Arg<'py> {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        Ok(Arg::Given(obj.to_owned()))
    }
}

/// The `(start, stop)` of a slice key (its step checked).
pub fn slice_bounds(key: &Bound<'_, PySlice>) -> PyResult<(Option<i64>, Option<i64>)> {
    check_step(&key.getattr(pyo3::intern!(key.py(), "step"))?)?;
    let start = opt_ts(Some(&key.getattr(pyo3::intern!(key.py(), "start"))?))?;
    let stop = opt_ts(Some(&key.getattr(pyo3::intern!(key.py(), "stop"))?))?;
    Ok((start, stop))
}

/// Read bounds with slicing semantics: reversed bounds give an empty range.
pub fn read_bounds(t1: Option<i64>, t2: Option<i64>) -> (i64, Option<i64>) {
    let lo = t1.unwrap_or(TS_MIN);
    match t2 {
        None => (lo, None),
        Some(h) if h < lo => (lo, Some(lo)),
        Some(h) => (lo, Some(h)),
    }
}

/// The engine range of `[t1, t2)` given as optional Python bounds, with slicing
/// semantics (missing bounds: everything; reversed bounds: empty).
pub fn read_range(
    t1: Option<&Bound<'_, PyAny>>,
    t2: Option<&Bound<'_, PyAny>>,
) -> PyResult<(RBound<i64>, RBound<i64>)> {
    let (lo, hi) = read_bounds(opt_ts(t1)?, opt_ts(t2)?);
    Ok((
        RBound::Included(lo),
        match hi {
            None => RBound::Unbounded,
            Some(h) => RBound::Excluded(h),
        },
    ))
}

/// Bounds of a point query at `ts`: `[ts, ts+1)`, open-ended at TL_TS_MAX.
pub fn point_bounds(ts: i64) -> (i64, Option<i64>) {
    if ts == TS_MAX {
        (ts, None)
    } else {
        (ts, Some(ts + 1))
    }
}
