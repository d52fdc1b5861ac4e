//! Arrow import: `Timelog.extend(obj)` for an object of the Arrow PyCapsule
//! interface (`__arrow_c_stream__`, or `__arrow_c_array__` of a struct array): a
//! pyarrow Table / RecordBatch / RecordBatchReader, a polars DataFrame, ...
//!
//! The input has a `ts` column (int64 as it is, or a timestamp of any unit, converted
//! exactly to the log's unit) and an optional `value` column whose rows become the
//! payloads (Python objects; `None` for nulls, and for every row without a `value`
//! column). The schema is checked before anything is appended; then each incoming
//! record batch is converted and appended as one atomic batch, in order. An error in
//! a later batch (a timestamp that does not convert, one below the floor, a failing
//! producer) leaves the batches before it appended.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::ffi::{from_ffi, FFI_ArrowArray};
use arrow_array::ffi_stream::{ArrowArrayStreamReader, FFI_ArrowArrayStream};
use arrow_array::types::{
    Float16Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrowPrimitiveType, RecordBatch, StructArray};
use arrow_schema::{DataType, Schema};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyCapsuleMethods, PyList, PyTuple};
use timelog::TimeUnit;

use crate::arrow_ffi::{arrow_py_err, read_schema, ARRAY_CAPSULE, SCHEMA_CAPSULE, STREAM_CAPSULE};
use crate::state::PyTimelog;

/// Whether `extend` takes `obj` as Arrow data: lists and tuples never are, nor logs
/// (iterated as pairs, payloads as they are, as before Arrow support).
pub fn is_arrow(obj: &Bound<'_, PyAny>) -> bool {
    if obj.is_exact_instance_of::<PyList>()
        || obj.is_exact_instance_of::<PyTuple>()
        || obj.is_instance_of::<PyTimelog>()
    {
        return false;
    }
    let py = obj.py();
    obj.hasattr(pyo3::intern!(py, "__arrow_c_stream__")).unwrap_or(false)
        || obj.hasattr(pyo3::intern!(py, "__arrow_c_array__")).unwrap_or(false)
}

/// Where the batches come from.
enum Source {
    Stream(ArrowArrayStreamReader),
    One(Option<RecordBatch>),
}

impl Source {
    fn schema(&self) -> Option<Arc<Schema>> {
        match self {
            Source::Stream(r) => Some(arrow_array::RecordBatchReader::schema(r)),
            Source::One(b) => b.as_ref().map(RecordBatch::schema),
        }
    }

    fn next_batch(&mut self) -> Option<PyResult<RecordBatch>> {
        match self {
            Source::Stream(r) => r.next().map(|b| {
                b.map_err(|e| {
                    PyValueError::new_err(format!("extend(): reading the Arrow stream failed: {e}"))
                })
            }),
            Source::One(b) => b.take().map(Ok),
        }
    }
}

fn open_source(obj: &Bound<'_, PyAny>) -> PyResult<Source> {
    let py = obj.py();
    if obj.hasattr(pyo3::intern!(py, "__arrow_c_stream__"))? {
        let cap = obj.call_method0(pyo3::intern!(py, "__arrow_c_stream__"))?;
        let cap = capsule(&cap, STREAM_CAPSULE, "__arrow_c_stream__()")?;
        let p = cap.pointer_checked(Some(STREAM_CAPSULE))?;
        // SAFETY: a capsule named "arrow_array_stream" points to an ArrowArrayStream
        // owned by the capsule (Arrow PyCapsule interface). `from_raw` moves the
        // stream out and marks the capsule's copy released (null `release`), as the
        // interface specifies for a consumer; the capsule's destructor then has
        // nothing to release.
        let stream = unsafe { FFI_ArrowArrayStream::from_raw(p.cast().as_ptr()) };
        let reader = ArrowArrayStreamReader::try_new(stream).map_err(|e| {
            PyTypeError::new_err(format!(
                "extend(): the Arrow stream is not table-like (a stream of record batches with \
                 a ts column): {e}"
            ))
        })?;
        return Ok(Source::Stream(reader));
    }
    let pair = obj.call_method0(pyo3::intern!(py, "__arrow_c_array__"))?;
    let pair = pair.cast_into::<PyTuple>()?;
    if pair.len() != 2 {
        return Err(PyTypeError::new_err("extend(): __arrow_c_array__() must return a 2-tuple of capsules"));
    }
    let schema_cap = capsule(&pair.get_item(0)?, SCHEMA_CAPSULE, "__arrow_c_array__()[0]")?;
    let array_cap = capsule(&pair.get_item(1)?, ARRAY_CAPSULE, "__arrow_c_array__()[1]")?;
    let dt = read_schema(&schema_cap, |s| DataType::try_from(s))?;
    if !matches!(dt, DataType::Struct(_)) {
        return Err(PyTypeError::new_err(format!(
            "extend(): an Arrow array must be a struct array with a ts field (a record batch), \
             not {dt}"
        )));
    }
    let p = array_cap.pointer_checked(Some(ARRAY_CAPSULE))?;
    // SAFETY: a capsule named "arrow_array" points to an ArrowArray owned by the
    // capsule; `from_raw` moves it out (the capsule's copy is marked released).
    let array = unsafe { FFI_ArrowArray::from_raw(p.cast().as_ptr()) };
    let data = read_schema(&schema_cap, |s| {
        // SAFETY: `array` was exported together with the schema `s` (the pair of
        // capsules of one `__arrow_c_array__` call), as `from_ffi` requires.
        unsafe { from_ffi(array, s) }
    })?;
    let sa = StructArray::from(data);
    if sa.null_count() > 0 {
        return Err(PyValueError::new_err("extend(): the Arrow struct array has null rows"));
    }
    Ok(Source::One(Some(RecordBatch::from(sa))))
}

fn capsule<'py>(
    obj: &Bound<'py, PyAny>,
    name: &std::ffi::CStr,
    what: &str,
) -> PyResult<Bound<'py, PyCapsule>> {
    match obj.cast::<PyCapsule>() {
        Ok(c) if c.is_valid_checked(Some(name)) => Ok(c.clone()),
        _ => Err(PyTypeError::new_err(format!(
            "extend(): {what} must return a PyCapsule named '{}'",
            name.to_string_lossy()
        ))),
    }
}

/// The positions of the `ts` and `value` columns, checked.
fn plan(schema: &Schema) -> PyResult<(usize, Option<usize>)> {
    let find = |name: &str| schema.fields().iter().position(|f| f.name() == name);
    let Some(ts) = find("ts") else {
        let names = schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ");
        return Err(PyValueError::new_err(format!(
            "extend(): the Arrow input has no 'ts' column (columns: {names})"
        )));
    };
    let value = find("value");
    if let Some(other) = schema.fields().iter().find(|f| f.name() != "ts" && f.name() != "value") {
        return Err(PyValueError::new_err(format!(
            "extend(): unexpected Arrow column '{}'; the input holds a 'ts' column and \
             optionally a 'value' column",
            other.name()
        )));
    }
    match schema.field(ts).data_type() {
        DataType::Int64 | DataType::Timestamp(_, _) => {}
        other => {
            return Err(PyTypeError::new_err(format!(
                "extend(): the Arrow 'ts' column is {other}; it must be int64 (ticks of the \
                 log's time_unit) or a timestamp (any unit, converted exactly)"
            )))
        }
    }
    if let Some(v) = value {
        let dt = schema.field(v).data_type();
        if !supported(dt) {
            return Err(PyTypeError::new_err(format!(
                "extend(): the Arrow 'value' column is {dt}, which does not convert to Python \
                 payloads here; supported: integer, float, bool, utf8 (any layout), binary (any \
                 layout) and null columns; cast it first (e.g. with pyarrow)"
            )));
        }
    }
    Ok((ts, value))
}

fn supported(dt: &DataType) -> bool {
    use DataType::*;
    matches!(
        dt,
        Null | Boolean
            | Int8
            | Int16
            | Int32
            | Int64
            | UInt8
            | UInt16
            | UInt32
            | UInt64
            | Float16
            | Float32
            | Float64
            | Utf8
            | LargeUtf8
            | Utf8View
            | Binary
            | LargeBinary
            | BinaryView
    )
}

/// Appends every batch of `obj` with `insert(ts, objects)` (one atomic batch each);
/// returns the rows appended.
pub fn extend<'py>(
    obj: &Bound<'py, PyAny>,
    unit: TimeUnit,
    floor: Option<i64>,
    mut insert: impl FnMut(Vec<i64>, Vec<Bound<'py, PyAny>>) -> PyResult<()>,
) -> PyResult<usize> {
    let py = obj.py();
    let mut src = open_source(obj)?;
    let Some(schema) = src.schema() else { return Ok(0) };
    let (ts_col, value_col) = plan(&schema)?;
    let mut done = 0usize;
    while let Some(batch) = src.next_batch() {
        let batch = batch?;
        let n = batch.num_rows();
        // The C data interface does not check what it imports: a producer's bad
        // offsets or invalid UTF-8 become an error here, not undefined behaviour.
        for i in std::iter::once(ts_col).chain(value_col) {
            batch.column(i).to_data().validate_full().map_err(|e| {
                PyValueError::new_err(format!("extend(): invalid Arrow data in column {i}: {e}"))
            })?;
        }
        let ts = timelog::arrow::timestamps(batch.column(ts_col).as_ref(), unit).map_err(|e| {
            let msg = match e {
                timelog::Error::Arrow(m) => m,
                other => other.to_string(),
            };
            PyValueError::new_err(format!("extend(): Arrow input rows {done}..{}: {msg}", done + n))
        })?;
        if let Some(f) = floor {
            if let Some(i) = ts.iter().position(|&t| t < f) {
                return Err(PyValueError::new_err(format!(
                    "timestamp {} at index {} is below min_ts boundary ({f})",
                    ts[i],
                    done + i
                )));
            }
        }
        let objs = match value_col {
            Some(v) => objects(py, batch.column(v).as_ref())?,
            // SAFETY: `Py_None` is a static object; we are attached.
            None => (0..n).map(|_| unsafe { Bound::from_borrowed_ptr(py, ffi::Py_None()) }).collect(),
        };
        insert(ts, objs)?;
        done += n;
    }
    Ok(done)
}

/// Python objects of `n` rows: `make(i)` (a new reference, or null with an error
/// set) for each valid row, None for each null.
fn build<'py>(
    py: Python<'py>,
    a: &dyn Array,
    mut make: impl FnMut(usize) -> *mut ffi::PyObject,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let n = a.len();
    let mut out = Vec::with_capacity(n);
    let nulls = a.logical_nulls();
    for i in 0..n {
        if nulls.as_ref().is_some_and(|b| b.is_null(i)) {
            // SAFETY: `Py_None` is a static object; we are attached.
            out.push(unsafe { Bound::from_borrowed_ptr(py, ffi::Py_None()) });
            continue;
        }
        let p = make(i);
        if p.is_null() {
            return Err(PyErr::fetch(py));
        }
        // SAFETY: `p` is a new (owned) reference returned by a CPython constructor.
        out.push(unsafe { Bound::from_owned_ptr(py, p) });
    }
    Ok(out)
}

fn ints<'py, T: ArrowPrimitiveType>(
    py: Python<'py>,
    a: &dyn Array,
    f: impl Fn(T::Native) -> *mut ffi::PyObject,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let v = a.as_primitive::<T>().values();
    build(py, a, |i| f(v[i]))
}

/// The payload objects of a `value` column (a supported type, see `plan`).
fn objects<'py>(py: Python<'py>, a: &dyn Array) -> PyResult<Vec<Bound<'py, PyAny>>> {
    // SAFETY: (every closure below) the CPython constructors are called while
    // attached, with valid arguments (a pointer and length of live Arrow memory,
    // validated by `extend`, for the string and bytes ones); each returns a new
    // reference or null with an error set, which `build` checks.
    unsafe {
        let signed = |v: i64| ffi::PyLong_FromLongLong(v);
        let unsigned = |v: u64| ffi::PyLong_FromUnsignedLongLong(v);
        let float = |v: f64| ffi::PyFloat_FromDouble(v);
        let text = |s: &str| ffi::PyUnicode_FromStringAndSize(s.as_ptr().cast(), s.len() as ffi::Py_ssize_t);
        let blob = |s: &[u8]| ffi::PyBytes_FromStringAndSize(s.as_ptr().cast(), s.len() as ffi::Py_ssize_t);
        match a.data_type() {
            DataType::Null => {
                Ok((0..a.len()).map(|_| Bound::from_borrowed_ptr(py, ffi::Py_None())).collect())
            }
            DataType::Boolean => {
                let b = a.as_boolean();
                build(py, a, |i| {
                    let p = if b.value(i) { ffi::Py_True() } else { ffi::Py_False() };
                    ffi::Py_IncRef(p);
                    p
                })
            }
            DataType::Int8 => ints::<Int8Type>(py, a, |v| signed(v.into())),
            DataType::Int16 => ints::<Int16Type>(py, a, |v| signed(v.into())),
            DataType::Int32 => ints::<Int32Type>(py, a, |v| signed(v.into())),
            DataType::Int64 => ints::<Int64Type>(py, a, signed),
            DataType::UInt8 => ints::<UInt8Type>(py, a, |v| unsigned(v.into())),
            DataType::UInt16 => ints::<UInt16Type>(py, a, |v| unsigned(v.into())),
            DataType::UInt32 => ints::<UInt32Type>(py, a, |v| unsigned(v.into())),
            DataType::UInt64 => ints::<UInt64Type>(py, a, unsigned),
            DataType::Float16 => ints::<Float16Type>(py, a, |v| float(v.to_f64())),
            DataType::Float32 => ints::<Float32Type>(py, a, |v| float(v.into())),
            DataType::Float64 => ints::<Float64Type>(py, a, float),
            DataType::Utf8 => {
                let s = a.as_string::<i32>();
                build(py, a, |i| text(s.value(i)))
            }
            DataType::LargeUtf8 => {
                let s = a.as_string::<i64>();
                build(py, a, |i| text(s.value(i)))
            }
            DataType::Utf8View => {
                let s = a.as_string_view();
                build(py, a, |i| text(s.value(i)))
            }
            DataType::Binary => {
                let s = a.as_binary::<i32>();
                build(py, a, |i| blob(s.value(i)))
            }
            DataType::LargeBinary => {
                let s = a.as_binary::<i64>();
                build(py, a, |i| blob(s.value(i)))
            }
            DataType::BinaryView => {
                let s = a.as_binary_view();
                build(py, a, |i| blob(s.value(i)))
            }
            other => Err(arrow_py_err(arrow_schema::ArrowError::NotYetImplemented(format!(
                "value column of type {other}"
            )))),
        }
    }
}
