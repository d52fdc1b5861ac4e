//! The Rust half of `to_numpy`: one pass over the snapshot that fills the int64
//! timestamp column and converts the values of exact `int`/`float`/`bool` type;
//! values of any other type are handed back with their row numbers so that numpy
//! converts them with its own rules (None -> NaN, numeric strings, Decimal, ...).

use std::ops::Bound as RBound;

use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use pyo3::{ffi, IntoPyObjectExt};

use crate::buffer::OwnedBuffer;
use crate::log::Open;
use crate::slab;

/// Rows between two chances for other threads to run.
const CHUNK: usize = 65_536;
/// Rows taken from the cursor at a time (divides `CHUNK`).
const BATCH: usize = 1024;

enum Col {
    F64(Vec<f64>),
    I64(Vec<i64>),
    Obj(Vec<*mut ffi::PyObject>),
}

/// Fast conversion of one value, or `None` when numpy must do it.
#[inline]
fn fast_f64(p: *mut ffi::PyObject) -> Option<f64> {
    // SAFETY: `p` is a live object (owned by its slot, GIL held).
    unsafe {
        if ffi::PyFloat_CheckExact(p) != 0 {
            return Some(ffi::PyFloat_AsDouble(p));
        }
        if ffi::PyLong_CheckExact(p) != 0 {
            let d = ffi::PyLong_AsDouble(p);
            if d == -1.0 && !ffi::PyErr_Occurred().is_null() {
                ffi::PyErr_Clear();
                return None;
            }
            return Some(d);
        }
        if p == ffi::Py_True() {
            return Some(1.0);
        }
        if p == ffi::Py_False() {
            return Some(0.0);
        }
    }
    None
}

#[inline]
fn fast_i64(p: *mut ffi::PyObject) -> Option<i64> {
    // SAFETY: as in `fast_f64`.
    unsafe {
        if ffi::PyLong_CheckExact(p) != 0 {
            let mut of = 0;
            let v = ffi::PyLong_AsLongLongAndOverflow(p, &mut of);
            if of != 0 || (v == -1 && !ffi::PyErr_Occurred().is_null()) {
                ffi::PyErr_Clear();
                return None;
            }
            return Some(v);
        }
        if p == ffi::Py_True() {
            return Some(1);
        }
        if p == ffi::Py_False() {
            return Some(0);
        }
    }
    None
}

pub fn numpy_raw<'py>(
    py: Python<'py>,
    open: &Open,
    range: (RBound<i64>, RBound<i64>),
    kind: &str,
) -> PyResult<Bound<'py, PyTuple>> {
    let mut cur = open.log.snapshot().into_cursor(range);
    let n = cur.remaining();
    let mut ts: Vec<i64> = Vec::with_capacity(n);
    let mut col = match kind {
        "f8" => Col::F64(Vec::with_capacity(n)),
        "i8" => Col::I64(Vec::with_capacity(n)),
        _ => Col::Obj(Vec::with_capacity(n)),
    };
    let mut slow_rows: Vec<usize> = Vec::new();
    let mut slow_objs: Vec<*mut ffi::PyObject> = Vec::new();
    let none = py.None();
    // A batch at a time: the cursor hands out timestamps (straight into `ts`) and
    // payload pointers (into `ptrs`), then the batch is converted in a plain loop.
    let mut ptrs: Vec<*mut ffi::PyObject> = Vec::with_capacity(BATCH);
    loop {
        ptrs.clear();
        let got = cur.fill_front(BATCH, |t, v| {
            ts.push(t);
            let p = slab::raw(v);
            ptrs.push(if p.is_null() { none.as_ptr() } else { p });
        });
        let rows = ts.len() - got..;
        match &mut col {
            Col::F64(c) => {
                for (row, &p) in rows.zip(&ptrs) {
                    match fast_f64(p) {
                        Some(x) => c.push(x),
                        None => {
                            c.push(f64::NAN);
                            slow_rows.push(row);
                            slow_objs.push(p);
                        }
                    }
                }
            }
            Col::I64(c) => {
                for (row, &p) in rows.zip(&ptrs) {
                    match fast_i64(p) {
                        Some(x) => c.push(x),
                        None => {
                            c.push(0);
                            slow_rows.push(row);
                            slow_objs.push(p);
                        }
                    }
                }
            }
            Col::Obj(c) => c.extend_from_slice(&ptrs),
        }
        if got < BATCH {
            break;
        }
        if ts.len().is_multiple_of(CHUNK) {
            // Let other threads run between chunks (the cursor keeps its snapshot,
            // and the borrowed payload pointers stay valid: their handles live in it).
            py.detach(|| ());
        }
    }
    let borrowed_list = |ptrs: &[*mut ffi::PyObject]| -> PyResult<Bound<'py, PyList>> {
        PyList::new(
            py,
            ptrs.iter().map(|&p| {
                // SAFETY: each pointer is a live object kept alive by the snapshot's
                // handles (or None); we take a new reference for the list.
                unsafe { Bound::from_borrowed_ptr(py, p) }
            }),
        )
    };
    let ts_buf = Bound::new(py, OwnedBuffer::from_i64(ts))?.into_any();
    let (vals, rows, objs) = match col {
        Col::F64(c) => (
            Bound::new(py, OwnedBuffer::from_f64(c))?.into_any(),
            slow_rows.into_bound_py_any(py)?,
            borrowed_list(&slow_objs)?.into_any(),
        ),
        Col::I64(c) => (
            Bound::new(py, OwnedBuffer::from_i64(c))?.into_any(),
            slow_rows.into_bound_py_any(py)?,
            borrowed_list(&slow_objs)?.into_any(),
        ),
        Col::Obj(c) => (borrowed_list(&c)?.into_any(), py.None().into_bound(py), py.None().into_bound(py)),
    };
    drop(cur);
    PyTuple::new(py, [ts_buf, vals, rows, objs])
}
