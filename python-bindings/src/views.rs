//! Zero-copy views of flushed segment pages: `Timelog.views()` /
//! `Timelog.page_spans()`, `PageSpanIter`, `PageSpan`, `PageSpanObjectsView` and its
//! iterator.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use pyo3::exceptions::{PyBufferError, PyIndexError, PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PySlice, PyString};
use pyo3::{ffi, PyTraverseError, PyVisit};

use timelog::PageRef;

use crate::buffer;
use crate::coerce::{self, Arg};
use crate::pin::{Pin, Pins};
use crate::slab::{self, PyVal};
use crate::state::PyTimelog;

/// Iterator of `PageSpan` objects (flushed segment pages, clipped to the requested
/// range, segment by segment). Pins the log until exhausted or closed. Has no `len()`.
#[pyclass(frozen, module = "timelog._timelog", name = "PageSpanIter")]
pub struct PageSpanIter {
    st: Mutex<SpanIterState>,
    log: Py<PyAny>,
    pins: Pins,
}

struct SpanIterState {
    pages: std::vec::IntoIter<PageRef<PyVal>>,
    pin: Option<Pin>,
    closed: bool,
}

impl PageSpanIter {
    pub fn new(log: Py<PyAny>, pins: &Pins, pages: Vec<PageRef<PyVal>>) -> PageSpanIter {
        PageSpanIter {
            st: Mutex::new(SpanIterState {
                pages: pages.into_iter(),
                pin: Some(Pin::new(pins)),
                closed: false,
            }),
            log,
            pins: pins.clone(),
        }
    }
}

#[pymethods]
impl PageSpanIter {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<PageSpan>> {
        let mut st = self.st.lock();
        if st.closed {
            return Ok(None);
        }
        match st.pages.next() {
            Some(p) => Ok(Some(PageSpan::new(self.log.clone_ref(py), &self.pins, p))),
            None => {
                st.closed = true;
                st.pin = None;
                st.pages = Vec::new().into_iter();
                Ok(None)
            }
        }
    }

    /// Stops the iteration and unpins the log (idempotent). Spans already handed
    /// out stay valid.
    fn close(&self) {
        let mut st = self.st.lock();
        st.closed = true;
        st.pin = None;
        st.pages = Vec::new().into_iter();
    }

    /// True once exhausted or closed.
    #[getter]
    fn closed(&self) -> bool {
        self.st.lock().closed
    }

    /// `with spans:` returns the iterator itself; leaving the block closes it.
    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// Closes the iterator (unpinning the log); exceptions propagate.
    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close();
        false
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.log)
    }
}

struct SpanInner {
    page: PageRef<PyVal>,
    /// The page's timestamps decoded, if its segment keeps them packed (L1): the
    /// span's buffer then exports this copy, which lives as long as the span.
    decoded: Option<Box<[i64]>>,
    _pin: Pin,
}

impl SpanInner {
    /// The span's timestamps: the page memory, or the decoded copy.
    fn ts(&self) -> std::borrow::Cow<'_, [i64]> {
        match &self.decoded {
            Some(d) => std::borrow::Cow::Borrowed(d),
            None => self.page.timestamps(),
        }
    }
}

/// A span of one flushed page: its timestamps are exported as a read-only int64
/// buffer (`memoryview(span)`, `np.asarray(span)`, `span.timestamps`) backed by the
/// segment's memory (L0 pages, zero-copy) or by a copy the span decoded when it was
/// made (L1 pages, whose segments keep their timestamps packed). Physical: records deleted but not yet compacted
/// away are included. Pins the log until closed.
#[pyclass(frozen, module = "timelog._timelog", name = "PageSpan")]
pub struct PageSpan {
    inner: Mutex<Option<SpanInner>>,
    exports: AtomicUsize,
    log: Py<PyAny>,
    shape: [ffi::Py_ssize_t; 1],
    strides: [ffi::Py_ssize_t; 1],
}

impl PageSpan {
    fn new(log: Py<PyAny>, pins: &Pins, page: PageRef<PyVal>) -> PageSpan {
        let n = page.len() as ffi::Py_ssize_t;
        let decoded = page.is_packed().then(|| page.timestamps().into_owned().into_boxed_slice());
        PageSpan {
            inner: Mutex::new(Some(SpanInner { page, decoded, _pin: Pin::new(pins) })),
            exports: AtomicUsize::new(0),
            log,
            shape: [n],
            strides: [8],
        }
    }

    fn with_page<R>(&self, f: impl FnOnce(&PageRef<PyVal>) -> PyResult<R>) -> PyResult<R> {
        self.with_inner(|s| f(&s.page))
    }

    fn with_inner<R>(&self, f: impl FnOnce(&SpanInner) -> PyResult<R>) -> PyResult<R> {
        let g = self.inner.lock();
        match g.as_ref() {
            Some(s) => f(s),
            None => Err(PyValueError::new_err("PageSpan is closed")),
        }
    }

    fn is_closed(&self) -> bool {
        self.inner.lock().is_none()
    }
}

#[pymethods]
impl PageSpan {
    fn __len__(&self) -> usize {
        self.inner.lock().as_ref().map_or(0, |s| s.page.len())
    }

    /// First timestamp of the span.
    #[getter]
    fn start_ts(&self) -> PyResult<i64> {
        self.with_inner(|s| Ok(s.ts()[0]))
    }

    /// Last timestamp of the span (inclusive).
    #[getter]
    fn end_ts(&self) -> PyResult<i64> {
        self.with_inner(|s| Ok(*s.ts().last().expect("non-empty page")))
    }

    /// Alias of `end_ts`.
    #[getter]
    fn last_ts(&self) -> PyResult<i64> {
        self.end_ts()
    }

    /// A new read-only memoryview (format 'q') of the span's timestamps, backed by
    /// the page memory (or by the span's decoded copy of a packed page).
    #[getter]
    fn timestamps<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        if slf.get().is_closed() {
            return Err(PyValueError::new_err("PageSpan is closed"));
        }
        // SAFETY: `slf` is a live object exporting a buffer; the result is a new
        // reference or NULL with an exception set.
        unsafe {
            let mv = ffi::PyMemoryView_FromObject(slf.as_ptr());
            Bound::from_owned_ptr_or_err(slf.py(), mv)
        }
    }

    /// The timestamps as a new list of ints.
    fn copy_timestamps(&self) -> PyResult<Vec<i64>> {
        self.with_inner(|s| Ok(s.ts().to_vec()))
    }

    /// A new lazy view of the payloads, position by position with the timestamps.
    fn objects(slf: &Bound<'_, Self>) -> PyResult<PageSpanObjectsView> {
        if slf.get().is_closed() {
            return Err(PyValueError::new_err("PageSpan is closed"));
        }
        Ok(PageSpanObjectsView { span: slf.clone().unbind() })
    }

    /// Releases the span. Raises BufferError (and stays open) while a buffer
    /// export (memoryview, numpy array) is alive. Idempotent once closed.
    fn close(&self) -> PyResult<()> {
        let mut g = self.inner.lock();
        if g.is_none() {
            return Ok(());
        }
        let n = self.exports.load(Ordering::SeqCst);
        if n > 0 {
            return Err(PyBufferError::new_err(format!(
                "PageSpan has {n} live buffer export(s) (memoryview / numpy array); release them first"
            )));
        }
        *g = None;
        Ok(())
    }

    /// True once closed.
    #[getter]
    fn closed(&self) -> bool {
        self.is_closed()
    }

    /// `with span:` returns the span itself; leaving the block closes it.
    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// Closes the span unless buffer exports are alive (then it silently stays open).
    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        let _ = self.close();
        false
    }

    /// Exports the span's timestamps, read-only (buffer protocol).
    ///
    /// # Safety
    /// Called by Python only, with `view` a `Py_buffer` to fill (or null).
    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        if view.is_null() {
            return Err(PyBufferError::new_err("view is null"));
        }
        if flags & ffi::PyBUF_WRITABLE == ffi::PyBUF_WRITABLE {
            return Err(PyBufferError::new_err("PageSpan buffers are read-only"));
        }
        let me = slf.get();
        let g = me.inner.lock();
        let Some(inner) = g.as_ref() else {
            return Err(PyValueError::new_err("PageSpan is closed"));
        };
        let ts = inner.ts();
        debug_assert!(matches!(ts, std::borrow::Cow::Borrowed(_)), "a span exports memory it keeps");
        let (buf, items) = (ts.as_ptr().cast_mut().cast::<c_void>(), ts.len());
        drop(ts);
        me.exports.fetch_add(1, Ordering::SeqCst);
        drop(g);
        let e = buffer::Export {
            buf,
            items,
            readonly: true,
            format: c"q",
            shape: &me.shape,
            strides: &me.strides,
        };
        // SAFETY: `view` is a valid Py_buffer to fill (the caller's contract). The page
        // memory (or the span's decoded copy of it) stays alive and unchanged while the
        // export exists: the span keeps its page (and so its segment) and its copy until closed, and `close()` refuses while
        // `exports > 0`; the view keeps the span alive through `obj`. Shape and strides
        // live in the span.
        unsafe { buffer::fill_view(view, flags, slf.clone().into_any(), e) };
        Ok(())
    }

    /// Ends one export (`close()` refuses while any is alive).
    ///
    /// # Safety
    /// Called by Python only, once per view this span filled.
    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {
        self.exports.fetch_sub(1, Ordering::SeqCst);
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.log)
    }
}

/// Lazy, read-only sequence of the payloads of a span (position by position with
/// its timestamps). Keeps its span alive; every operation raises ValueError once
/// the span was closed.
#[pyclass(frozen, sequence, module = "timelog._timelog", name = "PageSpanObjectsView")]
pub struct PageSpanObjectsView {
    span: Py<PageSpan>,
}

fn payload<'py>(py: Python<'py>, p: &PageRef<PyVal>, i: usize) -> Bound<'py, PyAny> {
    slab::get(py, &p.values()[i])
}

#[pymethods]
impl PageSpanObjectsView {
    fn __len__(&self) -> PyResult<usize> {
        self.span.get().with_page(|p| Ok(p.len()))
    }

    fn __getitem__<'py>(&self, py: Python<'py>, index: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        if index.is_instance_of::<PySlice>() || index.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(format!(
                "PageSpanObjectsView indices must be integers, not {}",
                index.get_type().name()?
            )));
        }
        // SAFETY: live object.
        if unsafe { ffi::PyIndex_Check(index.as_ptr()) } == 0 {
            return Err(PyTypeError::new_err(format!(
                "PageSpanObjectsView indices must be integers, not {}",
                index.get_type().name()?
            )));
        }
        let i: i64 = match index.extract::<i64>() {
            Ok(i) => i,
            Err(e) if e.is_instance_of::<PyOverflowError>(py) => {
                return Err(PyIndexError::new_err("PageSpanObjectsView index out of range"))
            }
            Err(e) => return Err(e),
        };
        self.span.get().with_page(|p| {
            let n = p.len() as i64;
            let j = if i < 0 { i + n } else { i };
            if j < 0 || j >= n {
                return Err(PyIndexError::new_err("PageSpanObjectsView index out of range"));
            }
            Ok(payload(py, p, j as usize))
        })
    }

    fn __iter__(&self, py: Python<'_>) -> PyResult<PageSpanObjectsViewIter> {
        self.span.get().with_page(|_| Ok(()))?;
        Ok(PageSpanObjectsViewIter { span: self.span.clone_ref(py), pos: AtomicUsize::new(0) })
    }

    /// The payloads as a new list.
    fn copy<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.span.get().with_page(|p| PyList::new(py, (0..p.len()).map(|i| payload(py, p, i))))
    }

    /// True once the parent span is closed.
    #[getter]
    fn closed(&self) -> bool {
        self.span.get().is_closed()
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.span)
    }
}

/// Iterator over a `PageSpanObjectsView`.
#[pyclass(frozen, module = "timelog._timelog", name = "PageSpanObjectsViewIter")]
pub struct PageSpanObjectsViewIter {
    span: Py<PageSpan>,
    pos: AtomicUsize,
}

#[pymethods]
impl PageSpanObjectsViewIter {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.span.get().with_page(|p| {
            let i = self.pos.fetch_add(1, Ordering::Relaxed);
            if i < p.len() {
                Ok(Some(payload(py, p, i)))
            } else {
                self.pos.store(p.len(), Ordering::Relaxed);
                Ok(None)
            }
        })
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.span)
    }
}

/// Checks `kind=` of `views()` / `page_spans()`: only "segment".
fn check_kind(kind: &Arg<'_>) -> PyResult<()> {
    let Arg::Given(k) = kind else { return Ok(()) };
    let Ok(s) = k.cast::<PyString>() else {
        let shown = if k.is_none() { "None".to_string() } else { k.get_type().name()?.to_string() };
        return Err(PyTypeError::new_err(format!("kind: argument 3 must be str, not {shown}")));
    };
    if s.to_str()? != "segment" {
        return Err(PyValueError::new_err(format!("page_spans: kind must be 'segment', got {}", s.repr()?)));
    }
    Ok(())
}

#[pymethods]
impl PyTimelog {
    /// `PageSpanIter` over flushed segment pages clipped to `[t1, t2)` (no bounds:
    /// everything, including TL_TS_MAX). Physical: memtable records are not
    /// included and deleted-but-not-compacted records are.
    #[pyo3(signature = (t1 = None, t2 = None, *, kind = Arg::Missing))]
    fn views(
        slf: &Bound<'_, Self>,
        t1: Option<&Bound<'_, PyAny>>,
        t2: Option<&Bound<'_, PyAny>>,
        kind: Arg<'_>,
    ) -> PyResult<PageSpanIter> {
        let g = slf.get().open()?;
        let open = &*g;
        // The reference's order: both-or-neither, the bounds, then `kind`.
        if t1.is_none() != t2.is_none() {
            return Err(PyValueError::new_err("views() requires both t1 and t2, or neither"));
        }
        let (a, b) = (coerce::opt_ts(t1)?, coerce::opt_ts(t2)?);
        check_kind(&kind)?;
        let pages = match (a, b) {
            (None, None) => open.log.snapshot().segment_pages(..),
            (Some(a), Some(b)) => {
                if a > b {
                    return Err(PyValueError::new_err(format!(
                        "invalid range: t1 ({a}) must be <= t2 ({b})"
                    )));
                }
                open.log.snapshot().segment_pages(a..b)
            }
            _ => return Err(PyValueError::new_err("views() requires both t1 and t2, or neither")),
        };
        Ok(PageSpanIter::new(slf.clone().into_any().unbind(), &slf.get().pins, pages))
    }

    /// Native form of `views(t1, t2)`: both bounds required.
    #[pyo3(signature = (t1, t2, kind = Arg::Missing))]
    fn page_spans(
        slf: &Bound<'_, Self>,
        t1: &Bound<'_, PyAny>,
        t2: &Bound<'_, PyAny>,
        kind: Arg<'_>,
    ) -> PyResult<PageSpanIter> {
        Self::views(slf, Some(t1), Some(t2), kind)
    }
}
