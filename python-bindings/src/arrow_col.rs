//! The conversion pass of the Arrow export: payload objects into `value` columns.
//!
//! One walk of the snapshot range ([`convert`]), with the GIL held: each row's
//! payload is converted to the column's [`Kind`] (or pickled), into columns that end
//! where the `ts` batches they are paired with end (the engine's timestamps-only
//! export, which shares the `ts` columns of L0 segments and decodes the packed ones
//! of compacted segments batch by batch), after [`BATCH_ROWS`] rows, and where a string or binary column would pass
//! what its 32-bit offsets address. The payload objects
//! are prefetched [`AHEAD`] rows before they are read. Other threads get the GIL
//! every 65,536 rows (`export::each`); the snapshot and the caller's open guard keep
//! every payload alive meanwhile.

use std::ops::Bound as RBound;
use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, BooleanBufferBuilder, StringBuilder};
use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, NullArray};
use arrow_buffer::{NullBufferBuilder, ScalarBuffer};
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use timelog::Snapshot;

use crate::arrow_ts::BATCH_ROWS;
use crate::arrow_values::{class_of, type_name, Class, Kind, Payload};
use crate::slab::PyVal;

/// Most bytes of string or binary data in one batch's column (32-bit offsets).
const MAX_BYTES: usize = i32::MAX as usize;
/// Rows between a payload's prefetch and its conversion.
const AHEAD: usize = 16;
/// First guess of the bytes per row of a string or binary column (capacity only:
/// pages never written are never faulted in).
const BYTES_PER_ROW: usize = 32;

/// Why one payload did not convert.
enum Fail {
    /// Its type does not convert to the column's.
    Type,
    /// A number out of the column's range (the Python error, if one was raised).
    Overflow(Option<PyErr>),
    /// Another error raised by Python (an unencodable str, a pickling error).
    Py(PyErr),
}

/// The builder of one batch's `value` column.
enum Col {
    Null(usize),
    Int(Vec<i64>, NullBufferBuilder),
    Float(Vec<f64>, NullBufferBuilder),
    Bool(BooleanBufferBuilder, NullBufferBuilder),
    Str(StringBuilder, usize),
    Bin(BinaryBuilder, usize),
}

impl Col {
    /// A column for `rows` rows (capacity), `bytes` of string or binary data.
    fn new(kind: Kind, rows: usize, bytes: usize) -> Col {
        match kind {
            Kind::Null => Col::Null(0),
            Kind::Int64 => Col::Int(Vec::with_capacity(rows), NullBufferBuilder::new(rows)),
            Kind::Float64 => Col::Float(Vec::with_capacity(rows), NullBufferBuilder::new(rows)),
            Kind::Bool => Col::Bool(BooleanBufferBuilder::new(rows), NullBufferBuilder::new(rows)),
            Kind::Utf8 => Col::Str(StringBuilder::with_capacity(rows, bytes), 0),
            Kind::Binary => Col::Bin(BinaryBuilder::with_capacity(rows, bytes), 0),
        }
    }

    /// Bytes of string or binary data so far.
    fn bytes(&self) -> usize {
        match self {
            Col::Str(_, b) | Col::Bin(_, b) => *b,
            _ => 0,
        }
    }

    /// Appends `p` (a live object, not None-checked yet); `Ok(false)` when the
    /// batch's column is full (its bytes), leaving the row for the next batch.
    ///
    /// # Safety
    /// `p` is a live object and the caller is attached to the interpreter.
    #[inline]
    unsafe fn push(&mut self, py: Python<'_>, p: *mut ffi::PyObject) -> Result<bool, Fail> {
        // SAFETY: per the contract.
        let none = unsafe { p == ffi::Py_None() };
        match self {
            Col::Null(n) => {
                if !none {
                    return Err(Fail::Type);
                }
                *n += 1;
            }
            Col::Int(v, nulls) => {
                if none {
                    v.push(0);
                    nulls.append_null();
                } else {
                    // SAFETY: per the contract.
                    v.push(unsafe { as_i64(py, p) }?);
                    nulls.append_non_null();
                }
            }
            Col::Float(v, nulls) => {
                if none {
                    v.push(0.0);
                    nulls.append_null();
                } else {
                    // SAFETY: per the contract.
                    v.push(unsafe { as_f64(py, p) }?);
                    nulls.append_non_null();
                }
            }
            Col::Bool(v, nulls) => {
                if none {
                    v.append(false);
                    nulls.append_null();
                } else {
                    // SAFETY: `Py_True`/`Py_False` are static objects.
                    let (t, f) = unsafe { (ffi::Py_True(), ffi::Py_False()) };
                    if p != t && p != f {
                        return Err(Fail::Type);
                    }
                    v.append(p == t);
                    nulls.append_non_null();
                }
            }
            Col::Str(b, bytes) => {
                if none {
                    b.append_null();
                } else {
                    // SAFETY: per the contract.
                    let s = unsafe { as_str(py, p) }?;
                    if *bytes + s.len() > MAX_BYTES {
                        return Ok(false);
                    }
                    *bytes += s.len();
                    b.append_value(s);
                }
            }
            Col::Bin(b, bytes) => {
                if none {
                    b.append_null();
                } else {
                    // SAFETY: per the contract.
                    let s = unsafe { as_bytes(p) }.ok_or(Fail::Type)?;
                    if !push_bytes(b, bytes, s) {
                        return Ok(false);
                    }
                }
            }
        }
        Ok(true)
    }

    fn finish(self) -> ArrayRef {
        match self {
            Col::Null(n) => Arc::new(NullArray::new(n)),
            Col::Int(v, mut nulls) => Arc::new(Int64Array::new(ScalarBuffer::from(v), nulls.finish())),
            Col::Float(v, mut nulls) => Arc::new(Float64Array::new(ScalarBuffer::from(v), nulls.finish())),
            Col::Bool(mut v, mut nulls) => Arc::new(BooleanArray::new(v.finish(), nulls.finish())),
            Col::Str(mut b, _) => Arc::new(b.finish()),
            Col::Bin(mut b, _) => Arc::new(b.finish()),
        }
    }
}

fn push_bytes(b: &mut BinaryBuilder, bytes: &mut usize, s: &[u8]) -> bool {
    if *bytes + s.len() > MAX_BYTES {
        return false;
    }
    *bytes += s.len();
    b.append_value(s);
    true
}

/// An int (not a bool) as i64.
///
/// # Safety
/// `p` is a live object other than None; attached.
#[inline]
unsafe fn as_i64(py: Python<'_>, p: *mut ffi::PyObject) -> Result<i64, Fail> {
    // SAFETY: per the contract.
    unsafe {
        if class_of(p) != Class::Int {
            return Err(Fail::Type);
        }
        let mut overflow = 0;
        let v = ffi::PyLong_AsLongLongAndOverflow(p, &mut overflow);
        if overflow != 0 {
            return Err(Fail::Overflow(None));
        }
        if v == -1 && !ffi::PyErr_Occurred().is_null() {
            return Err(Fail::Py(PyErr::fetch(py)));
        }
        Ok(v)
    }
}

/// A float, or an int (not a bool), as f64.
///
/// # Safety
/// As [`as_i64`].
#[inline]
unsafe fn as_f64(py: Python<'_>, p: *mut ffi::PyObject) -> Result<f64, Fail> {
    // SAFETY: per the contract.
    unsafe {
        let (v, int) = match class_of(p) {
            Class::Float => (ffi::PyFloat_AsDouble(p), false),
            Class::Int => (ffi::PyLong_AsDouble(p), true),
            _ => return Err(Fail::Type),
        };
        if v == -1.0 && !ffi::PyErr_Occurred().is_null() {
            let e = PyErr::fetch(py);
            return Err(if int { Fail::Overflow(Some(e)) } else { Fail::Py(e) });
        }
        Ok(v)
    }
}

/// A str's UTF-8 bytes (borrowed from the object, which caches them).
///
/// # Safety
/// As [`as_i64`]; the returned slice is used before any Python code runs and while
/// the object lives.
#[inline]
unsafe fn as_str<'a>(py: Python<'_>, p: *mut ffi::PyObject) -> Result<&'a str, Fail> {
    // SAFETY: per the contract.
    unsafe {
        if class_of(p) != Class::Str {
            return Err(Fail::Type);
        }
        let mut n: ffi::Py_ssize_t = 0;
        let s = ffi::PyUnicode_AsUTF8AndSize(p, &mut n);
        if s.is_null() {
            return Err(Fail::Py(PyErr::fetch(py)));
        }
        // CPython hands out valid UTF-8 of `n` bytes, owned by the str object.
        Ok(std::str::from_utf8_unchecked(std::slice::from_raw_parts(s.cast::<u8>(), n as usize)))
    }
}

/// A bytes object's contents, or `None` for any other type.
///
/// # Safety
/// As [`as_str`].
#[inline]
unsafe fn as_bytes<'a>(p: *mut ffi::PyObject) -> Option<&'a [u8]> {
    // SAFETY: per the contract.
    unsafe {
        if class_of(p) != Class::Bytes {
            return None;
        }
        let n = ffi::PyBytes_Size(p);
        let s = ffi::PyBytes_AsString(p);
        if s.is_null() || n < 0 {
            ffi::PyErr_Clear();
            return None;
        }
        Some(std::slice::from_raw_parts(s.cast::<u8>(), n as usize))
    }
}

/// The error of a payload that did not convert, naming its row (and its
/// timestamp, when known) and the call (`op`).
#[allow(clippy::too_many_arguments)] // (each names part of the message)
fn row_err(
    py: Python<'_>,
    op: &str,
    payload: Payload,
    kind: Kind,
    row: usize,
    ts: Option<i64>,
    p: *mut ffi::PyObject,
    f: Fail,
) -> PyErr {
    let what = payload.shown();
    let at = ts.map(|t| format!(" (ts={t})")).unwrap_or_default();
    match f {
        Fail::Type => PyTypeError::new_err(format!(
            "{op}({what}): the payload at row {row}{at} is a {}, which does not convert to {}",
            type_name(py, p),
            kind.name()
        )),
        Fail::Overflow(cause) => {
            let e = PyOverflowError::new_err(format!(
                "{op}({what}): the int at row {row}{at} does not fit in {}",
                kind.name()
            ));
            e.set_cause(py, cause);
            e
        }
        Fail::Py(e) => {
            let note = format!("{op}({what}): raised converting the payload at row {row}{at}");
            let _ = e.value(py).call_method1(pyo3::intern!(py, "add_note"), (note,));
            e
        }
    }
}

/// One column of `kind` (pickled for `Payload::Pickle`) from `payloads` (live
/// objects, None for a released one, in row order; the first is row
/// `first_row` of the call `op`): the value encoder of the Parquet export, which
/// converts one batch at a time. A payload that does not convert raises, naming
/// its row; so does a column past what 32-bit offsets address.
pub fn column(
    py: Python<'_>,
    op: &str,
    (payload, kind): (Payload, Kind),
    first_row: usize,
    payloads: &[*mut ffi::PyObject],
) -> PyResult<ArrayRef> {
    let dumps = match payload {
        Payload::Pickle => Some(py.import("pickle")?.getattr("dumps")?),
        _ => None,
    };
    let mut col = Col::new(kind, payloads.len(), payloads.len() * BYTES_PER_ROW);
    for (i, &p) in payloads.iter().enumerate() {
        let pushed = match &dumps {
            // SAFETY: `p` is a live object (the caller's snapshot keeps it); attached.
            None => unsafe { col.push(py, p) },
            Some(d) => push_pickled(py, d, &mut col, p),
        };
        match pushed {
            Ok(true) => {}
            Ok(false) => {
                return Err(PyValueError::new_err(format!(
                    "{op}(): the payloads of one batch, up to row {}, hold more bytes than one Arrow \
                     column may ({MAX_BYTES}); export with a smaller batch",
                    first_row + i
                )))
            }
            Err(f) => return Err(row_err(py, op, payload, kind, first_row + i, None, p, f)),
        }
    }
    Ok(col.finish())
}

/// Why the conversion pass stopped.
pub enum Stop {
    /// A trial conversion (a guessed `auto` kind) met a row that does not fit.
    Guess,
    Err(PyErr),
}

fn push_pickled(
    py: Python<'_>,
    dumps: &Bound<'_, PyAny>,
    col: &mut Col,
    p: *mut ffi::PyObject,
) -> Result<bool, Fail> {
    // SAFETY: `p` is a live payload and we are attached; a new reference is taken.
    let obj = unsafe { Bound::from_borrowed_ptr(py, p) };
    let b = dumps.call1((obj, 5)).map_err(Fail::Py)?;
    let Col::Bin(builder, bytes) = col else { unreachable!("pickle builds a binary column") };
    // SAFETY: `b` is a live bytes object (pickle.dumps returns bytes); attached.
    let s = unsafe { as_bytes(b.as_ptr()) }.ok_or(Fail::Type)?;
    Ok(push_bytes(builder, bytes, s))
}

/// The state of one conversion pass.
struct Convert<'py> {
    py: Python<'py>,
    payload: Payload,
    kind: Kind,
    trial: bool,
    dumps: Option<Bound<'py, PyAny>>,
    /// Rows after which a column must end (ascending; the last is the range's rows).
    cuts: &'py [usize],
    /// The first cut after the current column's first row.
    cut: usize,
    /// Payloads prefetched, not converted yet, with their timestamps: row `r` sits at
    /// `r % AHEAD`.
    ring: [(*mut ffi::PyObject, i64); AHEAD],
    col: Col,
    /// The current column's first row, and its rows.
    col_start: usize,
    col_rows: usize,
    /// The finished columns and their rows.
    cols: Vec<(ArrayRef, usize)>,
    stop: Option<Stop>,
}

impl Convert<'_> {
    /// Converts row `row` (payload `p`, a live object, at `ts`) into the current column.
    fn row(&mut self, row: usize, p: *mut ffi::PyObject, ts: i64) {
        loop {
            if row == (self.col_start + BATCH_ROWS).min(self.cuts[self.cut]) {
                self.finish_col();
            }
            let pushed = match &self.dumps {
                // SAFETY: `p` is a live payload (the caller's snapshot keeps it); we
                // are attached.
                None => unsafe { self.col.push(self.py, p) },
                Some(d) => push_pickled(self.py, d, &mut self.col, p),
            };
            let stop = match pushed {
                Ok(true) => {
                    self.col_rows += 1;
                    return;
                }
                // The column's bytes are full: the row goes to a new one.
                Ok(false) if self.col_rows > 0 => {
                    self.finish_col();
                    continue;
                }
                Ok(false) => Stop::Err(PyValueError::new_err(format!(
                    "to_arrow(): the payload at row {row} (ts={ts}) holds more bytes than one \
                     Arrow column may ({MAX_BYTES})"
                ))),
                Err(Fail::Type | Fail::Overflow(_)) if self.trial => Stop::Guess,
                Err(f) => {
                    Stop::Err(row_err(self.py, "to_arrow", self.payload, self.kind, row, Some(ts), p, f))
                }
            };
            self.stop = Some(stop);
            return;
        }
    }

    /// Ends the current column and starts the next, sized after it.
    fn finish_col(&mut self) {
        self.col_start += self.col_rows;
        while self.cut < self.cuts.len() && self.cuts[self.cut] <= self.col_start {
            self.cut += 1;
        }
        let total = self.cuts.last().copied().unwrap_or(0);
        let rows = total.saturating_sub(self.col_start).clamp(1, BATCH_ROWS);
        let per_row = (self.col.bytes() / self.col_rows.max(1)).max(1);
        let bytes = (rows * per_row).saturating_mul(5) / 4;
        let col = std::mem::replace(&mut self.col, Col::new(self.kind, rows, bytes.min(MAX_BYTES)));
        self.cols.push((col.finish(), self.col_rows));
        self.col_rows = 0;
    }
}

/// Walks `range` of `snap` once, converting the payloads to `kind` (pickled for
/// `Payload::Pickle`) into value columns, each ending at the latest at the next of
/// `cuts` (the ends of the `ts` batches the caller pairs them with; its last entry is
/// the range's rows) and after [`BATCH_ROWS`] rows. With `trial`, a payload that does
/// not fit (or an int out of range) stops the pass with `Stop::Guess`; otherwise it
/// raises, naming the row.
pub fn convert(
    py: Python<'_>,
    snap: &Snapshot<PyVal>,
    range: (RBound<i64>, RBound<i64>),
    (payload, kind, trial): (Payload, Kind, bool),
    cuts: &[usize],
) -> Result<Vec<(ArrayRef, usize)>, Stop> {
    let total = cuts.last().copied().unwrap_or(0);
    let rows = total.clamp(1, BATCH_ROWS);
    let dumps = match payload {
        Payload::Pickle => Some(py.import("pickle")?.getattr("dumps")?),
        _ => None,
    };
    let mut c = Convert {
        py,
        payload,
        kind,
        trial,
        dumps,
        cuts,
        cut: 0,
        ring: [(std::ptr::null_mut(), 0); AHEAD],
        col: Col::new(kind, rows, rows * BYTES_PER_ROW),
        col_start: 0,
        col_rows: 0,
        cols: Vec::with_capacity(cuts.len()),
        stop: None,
    };
    let mut seen = 0;
    crate::export::each(py, snap, range, |row, t, p| {
        seen = row + 1;
        if c.stop.is_some() || row >= total {
            return;
        }
        crate::slab::prefetch(p.cast());
        crate::slab::prefetch(p.cast::<u8>().wrapping_add(63));
        let slot = row % AHEAD;
        if row >= AHEAD {
            let (q, qt) = c.ring[slot];
            c.row(row - AHEAD, q, qt);
        }
        c.ring[slot] = (p, t);
    });
    if seen != total {
        return Err(Stop::Err(pyo3::exceptions::PySystemError::new_err(format!(
            "to_arrow(): the snapshot yielded {seen} payloads for {total} timestamps"
        ))));
    }
    for row in total.saturating_sub(AHEAD)..total {
        if c.stop.is_some() {
            break;
        }
        let (p, t) = c.ring[row % AHEAD];
        c.row(row, p, t);
    }
    if let Some(s) = c.stop.take() {
        return Err(s);
    }
    if c.col_rows > 0 {
        let col = std::mem::replace(&mut c.col, Col::Null(0));
        c.cols.push((col.finish(), c.col_rows));
    }
    Ok(c.cols)
}

impl From<PyErr> for Stop {
    fn from(e: PyErr) -> Self {
        Stop::Err(e)
    }
}
