//! Reads of `Timelog`: `log[ts]`, `log[t1:t2]`, `at`, `in`, `len`, iteration and the
//! iterator methods (`all`, `range`, `since`, `until`, `equal`, `point`) and the
//! timestamp navigation (`min_ts`, `max_ts`, `next_ts`, `prev_ts`).

use pyo3::exceptions::PyValueError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyList, PySlice};

use crate::coerce::{self, TS_MIN};
use crate::iter::TimelogIter;
use crate::slab::{self, PyVal};
use crate::state::{Open, PyTimelog};

/// A `TimelogIter` over `[lo, hi)` of a fresh snapshot of `open`.
fn new_iter(slf: &Bound<'_, PyTimelog>, open: &Open, lo: i64, hi: Option<i64>) -> PyResult<Py<TimelogIter>> {
    let py = slf.py();
    let it = TimelogIter::new(slf.clone().into_any().unbind(), &slf.get().pins, open.log.snapshot(), lo, hi);
    Py::new(py, it)
}

/// The payloads at `ts` as a new list, built in place: the point iterator knows its
/// length, so the list is allocated once and filled without an intermediate vector.
fn point_list<'py>(py: Python<'py>, open: &Open, ts: i64) -> PyResult<Bound<'py, PyList>> {
    let snap = open.log.snapshot();
    let mut vals = snap.point(ts);
    let first = vals.next();
    let n = vals.len() + usize::from(first.is_some());
    // The first slot (a likely cache miss on a large log) loads while the list is
    // allocated.
    if let Some(v) = first {
        slab::prefetch_slot(slab::slot_of(v));
    }
    // SAFETY: we are attached. `PyList_New(n)` returns a new list of `n` NULL items
    // (checked for NULL); each of the exactly `n` values (`first`, then the rest)
    // stores a new strong reference into its own index (`PyList_SetItem` steals
    // it), so the list is fully initialised before it is handed to Python. Each
    // pointer is a live payload owned by its slot (our snapshot keeps the record,
    // hence the slot), or `None` after a forced release.
    unsafe {
        let list = ffi::PyList_New(n as ffi::Py_ssize_t);
        if list.is_null() {
            return Err(PyErr::fetch(py));
        }
        let put = |k: usize, v: &PyVal| {
            let p = slab::raw(v);
            let p = if p.is_null() { ffi::Py_None() } else { p };
            ffi::Py_INCREF(p);
            ffi::PyList_SetItem(list, k as ffi::Py_ssize_t, p);
        };
        if let Some(v) = first {
            put(0, v);
            for (k, v) in vals.enumerate() {
                put(k + 1, v);
            }
        }
        Ok(Bound::from_owned_ptr(py, list).cast_into_unchecked())
    }
}

#[pymethods]
impl PyTimelog {
    /// `log[ts]` -> list of the payloads at `ts`; `log[t1:t2]` -> TimelogIter over
    /// `[t1, t2)` (reversed bounds: empty).
    fn __getitem__<'py>(slf: &Bound<'py, Self>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let me = slf.get();
        let g = me.open()?;
        let open = &*g;
        if let Ok(s) = key.cast::<PySlice>() {
            let (a, b) = coerce::slice_bounds(s)?;
            let (lo, hi) = coerce::read_bounds(a, b);
            return Ok(new_iter(slf, open, lo, hi)?.into_bound(py).into_any());
        }
        let t = coerce::ts(key)?;
        Ok(point_list(py, open, t)?.into_any())
    }

    /// The payloads stored at exactly `ts` (a new list; same as `log[ts]`).
    fn at<'py>(&self, py: Python<'py>, ts: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let g = self.open()?;
        let open = &*g;
        let t = coerce::ts(ts)?;
        point_list(py, open, t)
    }

    fn __contains__(&self, ts: &Bound<'_, PyAny>) -> PyResult<bool> {
        let g = self.open()?;
        let open = &*g;
        let t = coerce::ts(ts)?;
        Ok(open.log.snapshot().point(t).next().is_some())
    }

    /// Number of visible records (tombstone-aware, fresh snapshot).
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        let g = self.open()?;
        let open = &*g;
        slab::drain(py, open.drain_limit);
        Ok(open.log.len())
    }

    fn __bool__(&self) -> PyResult<bool> {
        let g = self.open()?;
        Ok(!g.log.is_empty())
    }

    fn __iter__(slf: &Bound<'_, Self>) -> PyResult<Py<TimelogIter>> {
        Self::all(slf)
    }

    /// `reversed(log)`: every record, newest timestamp first (equal timestamps in
    /// reverse insertion order), from a fresh snapshot. The reference raises
    /// `TypeError` here; this package supports it.
    fn __reversed__(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let it = Self::all(slf)?;
        Ok(it.bind(slf.py()).call_method0("__reversed__")?.unbind())
    }

    /// Iterator over every record.
    fn all(slf: &Bound<'_, Self>) -> PyResult<Py<TimelogIter>> {
        let g = slf.get().open()?;
        new_iter(slf, &g, TS_MIN, None)
    }

    /// Iterator over `[t1, t2)`; `t1 > t2` raises ValueError (unlike slicing).
    #[pyo3(signature = (t1, t2, /))]
    fn range(
        slf: &Bound<'_, Self>,
        t1: &Bound<'_, PyAny>,
        t2: &Bound<'_, PyAny>,
    ) -> PyResult<Py<TimelogIter>> {
        let g = slf.get().open()?;
        let (a, b) = (coerce::ts(t1)?, coerce::ts(t2)?);
        if a > b {
            return Err(PyValueError::new_err(format!("invalid range: t1 ({a}) must be <= t2 ({b})")));
        }
        new_iter(slf, &g, a, Some(b))
    }

    /// Iterator over `ts >= t`.
    #[pyo3(signature = (ts, /))]
    fn since(slf: &Bound<'_, Self>, ts: &Bound<'_, PyAny>) -> PyResult<Py<TimelogIter>> {
        let g = slf.get().open()?;
        let t = coerce::ts(ts)?;
        new_iter(slf, &g, t, None)
    }

    /// Iterator over `ts < t`.
    #[pyo3(signature = (ts, /))]
    fn until(slf: &Bound<'_, Self>, ts: &Bound<'_, PyAny>) -> PyResult<Py<TimelogIter>> {
        let g = slf.get().open()?;
        let t = coerce::ts(ts)?;
        new_iter(slf, &g, TS_MIN, Some(t))
    }

    /// Iterator over the records at exactly `ts`.
    #[pyo3(signature = (ts, /))]
    fn equal(slf: &Bound<'_, Self>, ts: &Bound<'_, PyAny>) -> PyResult<Py<TimelogIter>> {
        let g = slf.get().open()?;
        let (lo, hi) = coerce::point_bounds(coerce::ts(ts)?);
        new_iter(slf, &g, lo, hi)
    }

    /// Same as `equal(ts)`.
    #[pyo3(signature = (ts, /))]
    fn point(slf: &Bound<'_, Self>, ts: &Bound<'_, PyAny>) -> PyResult<Py<TimelogIter>> {
        Self::equal(slf, ts)
    }

    /// Smallest visible timestamp, or None.
    fn min_ts(&self) -> PyResult<Option<i64>> {
        let g = self.open()?;
        Ok(g.log.first_ts())
    }

    /// Largest visible timestamp, or None (O(log n)).
    fn max_ts(&self) -> PyResult<Option<i64>> {
        let g = self.open()?;
        Ok(g.log.last_ts())
    }

    /// Smallest visible timestamp strictly above `ts`, or None.
    #[pyo3(signature = (ts, /))]
    fn next_ts(&self, ts: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
        let g = self.open()?;
        let t = coerce::ts(ts)?;
        Ok(g.log.next_ts(t))
    }

    /// Largest visible timestamp strictly below `ts`, or None (O(log n)).
    #[pyo3(signature = (ts, /))]
    fn prev_ts(&self, ts: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
        let g = self.open()?;
        let t = coerce::ts(ts)?;
        Ok(g.log.prev_ts(t))
    }
}
