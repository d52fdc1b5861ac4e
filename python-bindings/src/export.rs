//! The record walk of the one-shot exports ([`each`]) and the exports to Python
//! containers: `to_dict`, and the Rust half of `to_numpy` (one pass over the snapshot
//! that fills the int64 timestamp column and converts the values of exact
//! `int`/`float`/`bool` type; values of any other type are handed back with their row
//! numbers so that numpy converts them with its own rules: None -> NaN, numeric
//! strings, Decimal, ...).

use std::ops::Bound as RBound;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use pyo3::{ffi, IntoPyObjectExt};
use timelog::Snapshot;

use crate::buffer::OwnedBuffer;
use crate::coerce;
use crate::pin::Pin;
use crate::slab::{self, PyVal};
use crate::state::{Open, PyTimelog};

/// Rows between two chances for other threads to run.
const CHUNK: usize = 65_536;

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

/// Calls `f(row, ts, payload)` on every record of `range` of `snap`, in order (the
/// payload is never null: a force-released one reads as `None`); other threads get
/// the GIL every `CHUNK` rows. One-shot exports read a borrowed range of a snapshot
/// held by the caller rather than an owning cursor: no copy of the memtable records,
/// and the range's `fold` walks stretches of one source as slices. The payload
/// pointers stay valid while the snapshot lives (its records hold their slots) and
/// the caller holds the log open. Returns the number of rows.
pub fn each(
    py: Python<'_>,
    snap: &Snapshot<PyVal>,
    range: (RBound<i64>, RBound<i64>),
    mut f: impl FnMut(usize, i64, *mut ffi::PyObject),
) -> usize {
    // SAFETY: `Py_None` is a static object.
    let none = unsafe { ffi::Py_None() };
    snap.range(range).fold(0usize, |row, (t, v)| {
        let p = slab::raw(v);
        f(row, t, if p.is_null() { none } else { p });
        let row = row + 1;
        if row.is_multiple_of(CHUNK) {
            // Let other threads run between chunks (the snapshot and the open guard
            // are held by the caller, so nothing read so far can be released).
            py.detach(|| ());
        }
        row
    })
}

fn numpy_raw<'py>(
    py: Python<'py>,
    open: &Open,
    range: (RBound<i64>, RBound<i64>),
    kind: &str,
) -> PyResult<Bound<'py, PyTuple>> {
    let snap = open.log.snapshot();
    let cap = snap.range(range).size_hint().1.unwrap_or(0);
    let mut ts: Vec<i64> = Vec::with_capacity(cap);
    let mut slow_rows: Vec<usize> = Vec::new();
    let mut slow_objs: Vec<*mut ffi::PyObject> = Vec::new();
    let col = match kind {
        "f8" => {
            let mut c: Vec<f64> = Vec::with_capacity(cap);
            each(py, &snap, range, |row, t, p| {
                ts.push(t);
                c.push(fast_f64(p).unwrap_or_else(|| {
                    slow_rows.push(row);
                    slow_objs.push(p);
                    f64::NAN
                }));
            });
            Col::F64(c)
        }
        "i8" => {
            let mut c: Vec<i64> = Vec::with_capacity(cap);
            each(py, &snap, range, |row, t, p| {
                ts.push(t);
                c.push(fast_i64(p).unwrap_or_else(|| {
                    slow_rows.push(row);
                    slow_objs.push(p);
                    0
                }));
            });
            Col::I64(c)
        }
        _ => {
            let mut c: Vec<*mut ffi::PyObject> = Vec::with_capacity(cap);
            each(py, &snap, range, |_, t, p| {
                ts.push(t);
                c.push(p);
            });
            Col::Obj(c)
        }
    };
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
    drop(snap);
    PyTuple::new(py, [ts_buf, vals, rows, objs])
}

#[pymethods]
impl PyTimelog {
    /// `{ts: obj}` for the records in `[t1, t2)` (slicing bounds; with duplicate
    /// timestamps the last one in insertion order wins).
    #[pyo3(signature = (t1 = None, t2 = None))]
    fn to_dict<'py>(
        &self,
        py: Python<'py>,
        t1: Option<&Bound<'py, PyAny>>,
        t2: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let g = self.open()?;
        let open = &*g;
        let range = coerce::read_range(t1, t2)?;
        let _pin = Pin::new(&self.pins);
        let snap = open.log.snapshot();
        let d = PyDict::new(py);
        let mut res = Ok(());
        each(py, &snap, range, |_, ts, p| {
            if res.is_err() {
                return;
            }
            // SAFETY: we are attached; the new int is checked and handed to the dict
            // (which takes its own references), then released; `p` is a live payload
            // kept alive by the snapshot.
            unsafe {
                let k = ffi::PyLong_FromLongLong(ts);
                if k.is_null() {
                    res = Err(PyErr::fetch(py));
                    return;
                }
                let r = ffi::PyDict_SetItem(d.as_ptr(), k, p);
                ffi::Py_DecRef(k);
                if r != 0 {
                    res = Err(PyErr::fetch(py));
                }
            }
        });
        res?;
        Ok(d)
    }

    /// Raw material of `to_numpy` (see the facade): `(ts_buffer, values, slow_rows,
    /// slow_objects)`. `kind` is "f8" (float64), "i8" (int64) or "obj" (values as a
    /// list). Values of exact int/float/bool type are converted here; the others
    /// are returned with their row numbers for numpy to convert.
    #[pyo3(signature = (t1, t2, kind))]
    fn _to_numpy_raw<'py>(
        &self,
        py: Python<'py>,
        t1: Option<&Bound<'py, PyAny>>,
        t2: Option<&Bound<'py, PyAny>>,
        kind: &str,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let g = self.open()?;
        let open = &*g;
        let range = coerce::read_range(t1, t2)?;
        let _pin = Pin::new(&self.pins);
        numpy_raw(py, open, range, kind)
    }
}
