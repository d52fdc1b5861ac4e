//! Input validation for the batch writers (`extend`, `bulk_append`): everything is
//! converted and checked before anything is inserted.

use std::ffi::CString;

use pyo3::exceptions::{PyOverflowError, PyRuntimeWarning, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyString, PyTuple};

use crate::coerce;

/// A validated batch.
pub struct Batch<'py> {
    pub ts: Vec<i64>,
    pub objs: Vec<Bound<'py, PyAny>>,
    /// Records skipped for a bad timestamp (lenient mode only).
    pub skipped: usize,
}

impl<'py> Batch<'py> {
    fn with_capacity(n: usize) -> Self {
        Batch { ts: Vec::with_capacity(n), objs: Vec::with_capacity(n), skipped: 0 }
    }

    /// Adds one record after coercing its timestamp. In lenient mode a TypeError or
    /// OverflowError from the coercion skips the record.
    #[inline]
    fn push(
        &mut self,
        ts: &Bound<'py, PyAny>,
        obj: Bound<'py, PyAny>,
        lenient: bool,
        floor: Option<i64>,
    ) -> PyResult<()> {
        let t = match coerce::ts(ts) {
            Ok(t) => t,
            Err(e)
                if lenient
                    && (e.is_instance_of::<PyTypeError>(ts.py())
                        || e.is_instance_of::<PyOverflowError>(ts.py())) =>
            {
                self.skipped += 1;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if let Some(f) = floor {
            if t < f {
                return Err(PyValueError::new_err(format!("timestamp {t} is below min_ts boundary ({f})")));
            }
        }
        self.ts.push(t);
        self.objs.push(obj);
        Ok(())
    }
}

fn not_a_pair(py: Python<'_>, cause: PyErr) -> PyErr {
    let e = PyValueError::new_err("extend() expects (ts, obj) pairs");
    e.set_cause(py, Some(cause));
    e
}

/// Unpacks one item into exactly two values, like `a, b = item`.
#[inline]
fn unpack<'py>(item: &Bound<'py, PyAny>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let py = item.py();
    if let Ok(t) = item.cast::<PyTuple>() {
        return match t.len() {
            2 => Ok((t.get_item(0)?, t.get_item(1)?)),
            n if n < 2 => Err(not_a_pair(
                py,
                PyValueError::new_err(format!("not enough values to unpack (expected 2, got {n})")),
            )),
            _ => Err(not_a_pair(py, PyValueError::new_err("too many values to unpack (expected 2)"))),
        };
    }
    let mut it = item.try_iter().map_err(|e| not_a_pair(py, e))?;
    let mut next = |got: usize| -> PyResult<Bound<'py, PyAny>> {
        match it.next() {
            Some(r) => r.map_err(|e| not_a_pair(py, e)),
            None => Err(not_a_pair(
                py,
                PyValueError::new_err(format!("not enough values to unpack (expected 2, got {got})")),
            )),
        }
    };
    let a = next(0)?;
    let b = next(1)?;
    match it.next() {
        None => Ok((a, b)),
        Some(Err(e)) => Err(not_a_pair(py, e)),
        Some(Ok(_)) => Err(not_a_pair(py, PyValueError::new_err("too many values to unpack (expected 2)"))),
    }
}

fn require_len(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<usize> {
    obj.len().map_err(|_| {
        PyTypeError::new_err(format!(
            "extend(insert_on_error=False) requires {what} with len() (a sequence), not {}; \
             materialise generators and iterators with list() first",
            obj.get_type().name().map(|n| n.to_string()).unwrap_or_default()
        ))
    })
}

/// `extend(pairs)`.
pub fn pairs<'py>(src: &Bound<'py, PyAny>, lenient: bool, floor: Option<i64>) -> PyResult<Batch<'py>> {
    if !lenient {
        require_len(src, "an iterable of pairs")?;
    }
    if let Ok(list) = src.cast::<PyList>() {
        let mut b = Batch::with_capacity(list.len());
        // A list may change while its items' __index__ runs: index it afresh each time.
        let mut i = 0;
        while i < list.len() {
            let item = list.get_item(i)?;
            let (t, o) = unpack(&item)?;
            b.push(&t, o, lenient, floor)?;
            i += 1;
        }
        return Ok(b);
    }
    let hint = src.len().unwrap_or(0);
    let mut b = Batch::with_capacity(hint);
    for item in src.try_iter()? {
        let item = item?;
        let (t, o) = unpack(&item)?;
        b.push(&t, o, lenient, floor)?;
    }
    Ok(b)
}

fn length_mismatch() -> PyErr {
    PyValueError::new_err("extend(): timestamps and objects must have the same length")
}

/// `extend(timestamps, objects)`.
pub fn columns<'py>(
    ts: &Bound<'py, PyAny>,
    objs: &Bound<'py, PyAny>,
    lenient: bool,
    floor: Option<i64>,
) -> PyResult<Batch<'py>> {
    let (a, b) = if lenient {
        (ts.len().ok(), objs.len().ok())
    } else {
        (Some(require_len(ts, "timestamps")?), Some(require_len(objs, "objects")?))
    };
    if let (Some(a), Some(b)) = (a, b) {
        if a != b {
            return Err(length_mismatch());
        }
    }
    let mut batch = Batch::with_capacity(a.or(b).unwrap_or(0));
    let mut ti = ts.try_iter()?;
    let mut oi = objs.try_iter()?;
    loop {
        match (ti.next(), oi.next()) {
            (None, None) => break,
            (Some(t), Some(o)) => batch.push(&t?, o?, lenient, floor)?,
            (Some(Err(e)), None) | (None, Some(Err(e))) => return Err(e),
            _ => return Err(length_mismatch()),
        }
    }
    Ok(batch)
}

/// Emits the one RuntimeWarning of a lenient `extend` that skipped records.
pub fn warn_skipped(py: Python<'_>, n: usize) -> PyResult<()> {
    let msg = CString::new(format!(
        "extend() skipped {n} record(s) with invalid timestamps (insert_on_error=True); pass \
         insert_on_error=False to validate the whole batch instead"
    ))
    .expect("no NUL");
    PyErr::warn(py, &py.get_type::<PyRuntimeWarning>(), &msg, 1)
}

/// A borrowed buffer view, released on drop.
struct View(ffi::Py_buffer);

impl Drop for View {
    fn drop(&mut self) {
        // SAFETY: the view was filled by a successful PyObject_GetBuffer and is
        // released exactly once; dropped while attached (the caller holds `py`).
        unsafe { ffi::PyBuffer_Release(&mut self.0) };
    }
}

fn is_int64_format(fmt: &[u8]) -> bool {
    let (prefix, code) = match fmt {
        [c] => (None, *c),
        [p, c] => (Some(*p), *c),
        _ => return false,
    };
    let native_prefix = match prefix {
        None | Some(b'@') | Some(b'=') => true,
        Some(b'<') => cfg!(target_endian = "little"),
        Some(b'>') | Some(b'!') => cfg!(target_endian = "big"),
        _ => false,
    };
    native_prefix && (code == b'q' || code == b'l')
}

/// Copies a 1-D, C-contiguous, aligned, native int64 buffer into a Vec.
pub fn int64_buffer(obj: &Bound<'_, PyAny>) -> PyResult<Vec<i64>> {
    let py = obj.py();
    if let Ok(dt) = obj.getattr(pyo3::intern!(py, "dtype")) {
        if let Ok(k) = dt.getattr(pyo3::intern!(py, "kind")) {
            if let Ok(k) = k.extract::<String>() {
                if k == "M" || k == "m" {
                    return Err(PyValueError::new_err(
                        "bulk_append() timestamps must be int64, not datetime64/timedelta64; \
                         pass arr.view('int64') (ticks in the log's time_unit)",
                    ));
                }
            }
        }
    }
    let mut raw = ffi::Py_buffer::new();
    // SAFETY: `obj` is live, `raw` is a writable Py_buffer; on success it must be
    // released, which `View` does.
    let r = unsafe { ffi::PyObject_GetBuffer(obj.as_ptr(), &mut raw, ffi::PyBUF_RECORDS_RO) };
    if r != 0 {
        let e = PyErr::fetch(py);
        if e.is_instance_of::<PyTypeError>(py) {
            let t = PyTypeError::new_err(format!(
                "bulk_append() timestamps must be an int64 buffer (e.g. numpy int64 array or \
                 array.array('q')), not {}; build one with array.array('q', ts) or \
                 np.asarray(ts, dtype=np.int64), or use extend() for lists",
                obj.get_type().name()?
            ));
            t.set_cause(py, Some(e));
            return Err(t);
        }
        return Err(e);
    }
    let v = View(raw);
    let b = &v.0;
    if b.ndim != 1 {
        return Err(PyValueError::new_err(format!(
            "bulk_append() timestamps must be 1-D, got {} dimension(s)",
            b.ndim
        )));
    }
    // SAFETY: ndim == 1 and we asked for shape/strides (PyBUF_RECORDS_RO), so both
    // arrays have one element.
    let (n, stride) = unsafe { (*b.shape, *b.strides) };
    if n > 1 && stride != b.itemsize {
        return Err(PyValueError::new_err("bulk_append() timestamps must be C-contiguous"));
    }
    if b.itemsize != 8 {
        return Err(PyValueError::new_err(format!(
            "bulk_append() timestamps must be int64 (8-byte items), got {}-byte items",
            b.itemsize
        )));
    }
    let fmt: &[u8] = if b.format.is_null() {
        b"B"
    } else {
        // SAFETY: a non-null format is a NUL-terminated string owned by the exporter
        // for the life of the view.
        unsafe { std::ffi::CStr::from_ptr(b.format) }.to_bytes()
    };
    if !is_int64_format(fmt) {
        return Err(PyValueError::new_err(format!(
            "bulk_append() timestamps must be native signed int64 (format 'q'), got format {:?}",
            String::from_utf8_lossy(fmt)
        )));
    }
    if !(b.buf as usize).is_multiple_of(8) {
        return Err(PyValueError::new_err("bulk_append() timestamps buffer is not 8-byte aligned"));
    }
    let n = n.max(0) as usize;
    if n == 0 {
        return Ok(Vec::new());
    }
    // SAFETY: the exporter guarantees `n` contiguous (checked), aligned (checked)
    // 8-byte items at `buf` for the life of the view; we copy them out.
    let s = unsafe { std::slice::from_raw_parts(b.buf.cast::<i64>(), n) };
    Ok(s.to_vec())
}

/// `bulk_append` payloads given as text (checked before the timestamps, as the
/// reference does).
pub fn reject_text_objects(objs: &Bound<'_, PyAny>) -> PyResult<()> {
    if objs.is_instance_of::<PyString>()
        || objs.is_instance_of::<PyBytes>()
        || objs.is_instance_of::<PyByteArray>()
    {
        return Err(PyTypeError::new_err(format!(
            "bulk_append() objects must be a sequence of payload objects, not str/bytes (got {})",
            objs.get_type().name()?
        )));
    }
    Ok(())
}

/// The payloads of `bulk_append`: a concrete sequence of exactly `n` items.
pub fn sequence_objects<'py>(objs: &Bound<'py, PyAny>, n: usize) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let tn = || objs.get_type().name().map(|s| s.to_string()).unwrap_or_default();
    reject_text_objects(objs)?;
    // SAFETY: live object.
    if unsafe { ffi::PySequence_Check(objs.as_ptr()) } == 0 {
        return Err(PyTypeError::new_err(format!(
            "bulk_append() objects must be a sequence (list, tuple, numpy array, ...) \
             supporting len() and indexing, not {}",
            tn()
        )));
    }
    let len = objs.len()?;
    if len != n {
        return Err(PyValueError::new_err(format!("bulk_append() got {n} timestamps but {len} objects")));
    }
    let mut out = Vec::with_capacity(n);
    if let Ok(l) = objs.cast::<PyList>() {
        for i in 0..n {
            out.push(l.get_item(i)?);
        }
    } else if let Ok(t) = objs.cast::<PyTuple>() {
        for i in 0..n {
            out.push(t.get_item(i)?);
        }
    } else {
        for i in 0..n {
            out.push(objs.get_item(i)?);
        }
    }
    Ok(out)
}
