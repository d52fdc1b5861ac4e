//! `TimelogIter`: a record iterator over one snapshot.

use std::sync::atomic::AtomicPtr;

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyList, PyTuple};
use pyo3::{ffi, PyTraverseError, PyVisit};

use timelog::iter::Cursor;
use timelog::Snapshot;

use crate::cell::StateCell;
use crate::pin::{Pin, Pins};
use crate::slab::{self, PyVal};
use crate::state::PyTimelog;
use crate::views::PageSpanIter;

/// Builds the `(ts, obj)` tuple for one record (`obj`: a borrowed, non-null pointer).
#[inline]
fn pair(py: Python<'_>, ts: i64, obj: *mut ffi::PyObject) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: we are attached; `obj` is a live object; every pointer created here is
    // checked for NULL. `PyTuple_Pack` takes its own references to both items, so the
    // int's creation reference is released afterwards.
    unsafe {
        let l = ffi::PyLong_FromLongLong(ts);
        if l.is_null() {
            return Err(PyErr::fetch(py));
        }
        let t = ffi::PyTuple_Pack(2, l, obj);
        ffi::Py_DecRef(l);
        if t.is_null() {
            return Err(PyErr::fetch(py));
        }
        // (Untracking tuples of non-containers from the GC was tried: unlinking them
        // costs more than the collections it saves.)
        Ok(t)
    }
}

struct IterState {
    /// The cursor (owns the snapshot); dropped on close or when the end is observed.
    cur: Option<Cursor<PyVal>>,
    /// Released as soon as no row is left (even before the end is observed).
    pin: Option<Pin>,
    remaining: usize,
    closed: bool,
    /// The last tuple `__next__` returned. When the caller has dropped it (we hold
    /// the only reference), it is refilled instead of allocating a new one — the
    /// `for ts, obj in it` pattern, as CPython's own `zip`/`enumerate` do.
    spare: Option<Py<PyTuple>>,
    /// Set once a spare was still referenced by the caller (e.g. `list(it)` keeps
    /// every row): then keeping spares only costs, so stop.
    #[cfg_attr(Py_GIL_DISABLED, allow(dead_code))]
    no_spare: bool,
    /// Look-ahead: rows taken from the cursor but not yet returned, as
    /// `(ts, slab slot)`; their slots (and then their objects) are prefetched so that
    /// the dependent loads of `__next__` hit the cache. The cursor's snapshot keeps
    /// every buffered record (and so its slot) alive. The object pointer is loaded
    /// from the slot only when the row is returned (a forced release nulls it).
    ahead: Box<[Row; AHEAD]>,
    head: usize,
    len: usize,
    /// Walk the cursor backwards (`reversed(it)`).
    rev: bool,
    /// Rows to return once the cursor is exhausted, last first (`pop`): what a reversed
    /// iterator inherits from the look-ahead of the iterator it reverses.
    back: Vec<Row>,
    /// `(type pointer, is a GC container)` of the last payload type seen.
    type_cache: (usize, bool),
}

/// A buffered row: its timestamp and its payload's slab slot.
type Row = (i64, &'static AtomicPtr<ffi::PyObject>);

/// Rows read ahead of the caller.
const AHEAD: usize = 32;
/// How far ahead (in rows) an object header is prefetched.
const OBJ_AHEAD: usize = 6;

impl IterState {
    /// The next row: `(ts, borrowed payload pointer, payload is a GC container)`.
    /// The pointer is never null (a force-released payload reads as `None`).
    #[inline(always)]
    fn next_row(&mut self) -> Option<(i64, *mut ffi::PyObject, bool)> {
        let (ts, p) = if self.head < self.len { self.take_buffered() } else { self.refill_ahead()? };
        // SAFETY: `Py_None` is a static object.
        let p = if p.is_null() { unsafe { ffi::Py_None() } } else { p };
        let gc = self.is_gc(p);
        Some((ts, p, gc))
    }

    /// The next buffered row (`head < len`), prefetching the object of a later one.
    #[inline(always)]
    fn take_buffered(&mut self) -> (i64, *mut ffi::PyObject) {
        let rows = &self.ahead[..self.len];
        let (ts, s) = rows[self.head];
        if let Some(&(_, later)) = rows.get(self.head + OBJ_AHEAD) {
            slab::prefetch_obj(later);
        }
        self.head += 1;
        (ts, slab::raw_in(s))
    }

    /// The buffer is used up: refills it from the cursor (prefetching the slots, then
    /// the first objects) and takes its first row; once the cursor is exhausted, the
    /// rows inherited by a reversed iterator. Out of line: once per `AHEAD` rows.
    #[inline(never)]
    fn refill_ahead(&mut self) -> Option<(i64, *mut ffi::PyObject)> {
        self.head = 0;
        self.len = 0;
        if let Some(cur) = self.cur.as_mut() {
            let ahead = &mut self.ahead;
            let mut k = 0;
            let mut take = |ts: i64, v: &PyVal| {
                let s = slab::slot_of(v);
                slab::prefetch_slot(s);
                ahead[k] = (ts, s);
                k += 1;
            };
            self.len =
                if self.rev { cur.fill_back(AHEAD, &mut take) } else { cur.fill_front(AHEAD, &mut take) };
        }
        if self.len == 0 {
            return self.back.pop().map(|(ts, s)| (ts, slab::raw_in(s)));
        }
        for &(_, s) in &self.ahead[..OBJ_AHEAD.min(self.len)] {
            slab::prefetch_obj(s);
        }
        Some(self.take_buffered())
    }
}

impl IterState {
    /// Marks the end; returns the spare tuple so that the caller drops it after
    /// releasing the lock (dropping Python objects can run arbitrary code).
    #[must_use]
    fn finish(&mut self) -> Option<Py<PyTuple>> {
        self.cur = None;
        self.pin = None;
        self.remaining = 0;
        self.closed = true;
        self.head = 0;
        self.len = 0;
        self.back = Vec::new();
        self.spare.take()
    }

    /// Whether `obj`'s type is a GC container (cached for runs of one type).
    #[inline]
    fn is_gc(&mut self, obj: *mut ffi::PyObject) -> bool {
        // SAFETY: `obj` is a live object; its type is live while it is.
        let ty = unsafe { ffi::Py_TYPE(obj) };
        if ty as usize != self.type_cache.0 {
            // SAFETY: as above.
            let gc = unsafe { ffi::PyType_GetFlags(ty) } & ffi::Py_TPFLAGS_HAVE_GC != 0;
            self.type_cache = (ty as usize, gc);
        }
        self.type_cache.1
    }
}

/// Refills `t` (whose only reference we hold) with `(ts, obj)`.
///
/// # Safety
/// `t` is a 2-tuple with reference count 1 owned by the caller; `obj` is a live
/// object (or null) whose previous occupant of the tuple stays alive elsewhere
/// (it is owned by its slot, kept by the iterator's snapshot), so the decrefs done by
/// `PyTuple_SetItem` run no arbitrary code; attached to the interpreter.
#[cfg(not(Py_GIL_DISABLED))]
#[inline]
unsafe fn refill(
    py: Python<'_>,
    t: *mut ffi::PyObject,
    ts: i64,
    obj: *mut ffi::PyObject,
    gc: bool,
) -> PyResult<()> {
    // SAFETY: see the function contract.
    unsafe {
        let l = ffi::PyLong_FromLongLong(ts);
        if l.is_null() {
            return Err(PyErr::fetch(py));
        }
        ffi::Py_INCREF(obj);
        ffi::PyTuple_SetItem(t, 0, l);
        ffi::PyTuple_SetItem(t, 1, obj);
        // The tuple may have been untracked by the collector while it held only
        // atomic items; it must be tracked if it now holds a container.
        if gc && ffi::PyObject_GC_IsTracked(t) == 0 {
            ffi::PyObject_GC_Track(t.cast());
        }
    }
    Ok(())
}

/// Iterator over `(ts, obj)` records of one immutable snapshot, in timestamp order
/// (equal timestamps in insertion order). Single use; `len()` is the number of rows
/// left. Created by the read methods of `Timelog`; not constructible.
#[pyclass(frozen, module = "timelog._timelog", name = "TimelogIter")]
pub struct TimelogIter {
    st: StateCell<IterState>,
    log: Py<PyAny>,
    pins: Pins,
    lo: i64,
    /// Exclusive upper bound; `None` = open-ended (up to and including TL_TS_MAX).
    hi: Option<i64>,
}

impl TimelogIter {
    /// An iterator over `[lo, hi)` (`hi == None`: `[lo, TL_TS_MAX]`) of `snap`.
    pub fn new(log: Py<PyAny>, pins: &Pins, snap: Snapshot<PyVal>, lo: i64, hi: Option<i64>) -> TimelogIter {
        let cur = match hi {
            None => snap.into_cursor(lo..),
            Some(h) => snap.into_cursor(lo..h.max(lo)),
        };
        let remaining = cur.remaining();
        let pin = (remaining > 0).then(|| Pin::new(pins));
        TimelogIter {
            st: StateCell::new(IterState {
                cur: Some(cur),
                pin,
                remaining,
                closed: false,
                spare: None,
                no_spare: false,
                ahead: Box::new([(0, &slab::NO_SLOT); AHEAD]),
                head: 0,
                len: 0,
                rev: false,
                back: Vec::new(),
                type_cache: (0, false),
            }),
            log,
            pins: pins.clone(),
            lo,
            hi,
        }
    }
}

fn batch_size(n: &Bound<'_, PyAny>) -> PyResult<usize> {
    // SAFETY: live object.
    if unsafe { ffi::PyLong_Check(n.as_ptr()) } == 0 && !n.is_instance_of::<PyBool>() {
        // Accept other integer-likes (numpy ints) but nothing else.
        // SAFETY: live object.
        if unsafe { ffi::PyIndex_Check(n.as_ptr()) } == 0 {
            return Err(PyTypeError::new_err(format!(
                "next_batch() argument must be an int, not {}",
                n.get_type().name()?
            )));
        }
    }
    match n.extract::<i64>() {
        Ok(v) if v < 0 => Err(PyValueError::new_err("next_batch() n must be >= 0")),
        Ok(v) => Ok(v as usize),
        Err(e) if e.is_instance_of::<PyOverflowError>(n.py()) => {
            if n.lt(0)? {
                Err(PyValueError::new_err("next_batch() n must be >= 0"))
            } else {
                Ok(usize::MAX)
            }
        }
        Err(e) => Err(e),
    }
}

#[pymethods]
impl TimelogIter {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__<'py>(slf: &Bound<'py, Self>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let py = slf.py();
        let mut guard = slf.get().st.borrow(py)?;
        let st = &mut *guard;
        {
            if let Some((ts, obj, gc)) = st.next_row() {
                st.remaining = st.remaining.saturating_sub(1);
                if st.remaining == 0 {
                    st.pin = None;
                }
                #[cfg(not(Py_GIL_DISABLED))]
                if let Some(t) = st.spare.as_ref() {
                    // SAFETY: reading the reference count of a live object.
                    if unsafe { ffi::Py_REFCNT(t.as_ptr()) } == 1 {
                        // SAFETY: we hold the only reference to the 2-tuple `t`; the
                        // payload it held is owned by its slot (our snapshot keeps that
                        // record), so `refill`'s contract holds.
                        unsafe { refill(py, t.as_ptr(), ts, obj, gc)? };
                        return Ok(Some(t.clone_ref(py).into_bound(py).into_any()));
                    }
                    st.no_spare = true;
                }
                let t = pair(py, ts, obj)?;
                // SAFETY: `t` is a new, non-null reference from `pair`.
                let t = unsafe { Bound::from_owned_ptr(py, t) };
                #[cfg(not(Py_GIL_DISABLED))]
                {
                    let new_spare = if st.no_spare {
                        None
                    } else {
                        // SAFETY: `pair` returns a tuple.
                        Some(unsafe { t.clone().cast_into_unchecked::<PyTuple>() }.unbind())
                    };
                    let old = std::mem::replace(&mut st.spare, new_spare);
                    drop(guard);
                    drop(old);
                }
                return Ok(Some(t));
            }
        }
        let spare = st.finish();
        drop(guard);
        drop(spare);
        Ok(None)
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        let st = self.st.borrow(py)?;
        Ok(if st.closed { 0 } else { st.remaining })
    }

    /// Returns a list of up to `n` next rows. Fewer than `n` rows means the end was
    /// reached, and the iterator is then closed. `n == 0` returns `[]`; `n < 0`
    /// raises ValueError.
    #[pyo3(signature = (n, /))]
    fn next_batch<'py>(&self, py: Python<'py>, n: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let n = batch_size(n)?;
        let mut guard = self.st.borrow(py)?;
        let st = &mut *guard;
        let want = n.min(st.remaining);
        let mut list = PyList::empty(py);
        if n == 0 {
            return Ok(list);
        }
        let mut got = 0usize;
        if st.cur.is_some() {
            let mut rows: Vec<*mut ffi::PyObject> = Vec::with_capacity(want);
            while got < n {
                let Some((ts, obj, _)) = st.next_row() else { break };
                match pair(py, ts, obj) {
                    Ok(t) => rows.push(t),
                    Err(e) => {
                        for t in rows {
                            // SAFETY: each `t` is an owned tuple from `pair`.
                            unsafe { ffi::Py_DecRef(t) };
                        }
                        return Err(e);
                    }
                }
                got += 1;
            }
            // The list is allocated once, at its final size.
            // SAFETY: we are attached. `PyList_New(k)` returns a new list of `k` NULL
            // items (checked for NULL); each owned tuple is moved into its own index
            // (`PyList_SetItem` steals it), so every item is set before the list is
            // handed out.
            unsafe {
                let l = ffi::PyList_New(rows.len() as ffi::Py_ssize_t);
                if l.is_null() {
                    for t in rows {
                        ffi::Py_DecRef(t);
                    }
                    return Err(PyErr::fetch(py));
                }
                for (k, t) in rows.into_iter().enumerate() {
                    ffi::PyList_SetItem(l, k as ffi::Py_ssize_t, t);
                }
                list = Bound::from_owned_ptr(py, l).cast_into_unchecked();
            }
            st.remaining = st.remaining.saturating_sub(got);
            if st.remaining == 0 {
                st.pin = None;
            }
        }
        if got < n {
            let spare = st.finish();
            drop(guard);
            drop(spare);
        }
        Ok(list)
    }

    /// Releases the snapshot (idempotent).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let spare = self.st.borrow(py)?.finish();
        drop(spare);
        Ok(())
    }

    /// True after `close()` or once the end of the rows was observed.
    #[getter]
    fn closed(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.st.borrow(py)?.closed)
    }

    /// `with it:` returns the iterator itself; leaving the block closes it.
    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// Closes the iterator (releasing its snapshot); exceptions propagate.
    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    /// `reversed(it)`: a new iterator that returns the rows this one has not returned
    /// yet, in the opposite order (descending timestamps, equal timestamps in reverse
    /// insertion order), from the same snapshot. This iterator is closed: its rows
    /// (and its pin) move to the new one.
    fn __reversed__(&self, py: Python<'_>) -> PyResult<TimelogIter> {
        let mut st = self.st.borrow(py)?;
        let rev = !st.rev;
        let back: Vec<Row> = st.ahead[st.head..st.len].to_vec();
        let front = std::mem::take(&mut st.back);
        let mut ahead: Box<[Row; AHEAD]> = Box::new([(0, &slab::NO_SLOT); AHEAD]);
        ahead[..front.len()].copy_from_slice(&front);
        let new = IterState {
            cur: st.cur.take(),
            pin: st.pin.take(),
            remaining: if st.closed { 0 } else { st.remaining },
            closed: st.closed,
            spare: None,
            no_spare: false,
            ahead,
            head: 0,
            len: front.len(),
            rev,
            back,
            type_cache: (0, false),
        };
        let spare = st.finish();
        drop(st);
        drop(spare);
        Ok(TimelogIter {
            st: StateCell::new(new),
            log: self.log.clone_ref(py),
            pins: self.pins.clone(),
            lo: self.lo,
            hi: self.hi,
        })
    }

    /// A `PageSpanIter` over the flushed segment pages of this iterator's original
    /// range, read from the iterator's own snapshot (open-ended ranges include
    /// TL_TS_MAX). Raises ValueError on a closed iterator.
    fn view(&self, py: Python<'_>) -> PyResult<PageSpanIter> {
        let st = self.st.borrow(py)?;
        let Some(cur) = st.cur.as_ref() else {
            return Err(PyValueError::new_err("TimelogIter is closed"));
        };
        let pages = match self.hi {
            None => cur.snapshot().segment_pages(self.lo..),
            Some(h) => cur.snapshot().segment_pages(self.lo..h.max(self.lo)),
        };
        // The new span iterator pins the log: do it under the log's own lock, so that
        // it cannot slip in while `close()` releases the payloads.
        let log = self.log.bind(py).cast::<PyTimelog>()?;
        log.get().while_open(|| Ok(PageSpanIter::new(self.log.clone_ref(py), &self.pins, pages)))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let st = self.st.borrow(py)?;
        if st.closed {
            return Ok("<TimelogIter closed>".into());
        }
        Ok(match self.hi {
            Some(h) => format!("<TimelogIter [{}..{}) remaining={}>", self.lo, h, st.remaining),
            None => format!("<TimelogIter [{}..) remaining={}>", self.lo, st.remaining),
        })
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.log)?;
        // Never block in the GC; skipping is conservative.
        if let Some(st) = self.st.try_borrow_in_gc() {
            visit.call(&st.spare)?;
        }
        Ok(())
    }

    fn __clear__(&self) {
        let spare = self.st.try_borrow_in_gc().and_then(|mut st| st.spare.take());
        drop(spare);
    }
}
