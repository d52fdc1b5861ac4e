//! Arrow export: `Timelog.to_arrow()`, `Timelog.__arrow_c_stream__` and the
//! `TimelogArrowStream` class (the Arrow PyCapsule interface).
//!
//! A `TimelogArrowStream` holds every record batch of one snapshot range, built when
//! it is created, with the GIL held: payloads are converted to Arrow then (so a
//! payload that does not fit raises there), and the object keeps no reference to the
//! log nor to any Python object. Each `__arrow_c_stream__` call hands out a fresh C
//! stream over the same batches (cheap `Arc` clones); a consumer pulls from it on any
//! thread without the GIL. The payload rules live in [`crate::arrow_values`].

use std::ffi::CStr;
use std::ops::Bound as RBound;
use std::sync::Arc;

use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::types::{
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use arrow_array::{
    Array, ArrayRef, Int64Array, PrimitiveArray, RecordBatch, RecordBatchOptions, RecordBatchReader,
};
use arrow_buffer::ScalarBuffer;
use arrow_schema::ffi::FFI_ArrowSchema;
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit as ArrowUnit};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyCapsuleMethods, PyDict, PyString};
use timelog::arrow::{ExportOptions, ValueEncoder};
use timelog::{Snapshot, TimeUnit};

use crate::arrow_values::{self, Payload};
use crate::log::{Arg, Open};
use crate::slab::PyVal;

/// Capsule names of the Arrow PyCapsule interface.
pub const STREAM_CAPSULE: &CStr = c"arrow_array_stream";
pub const SCHEMA_CAPSULE: &CStr = c"arrow_schema";
pub const ARRAY_CAPSULE: &CStr = c"arrow_array";

/// Rows per record batch of the export.
pub const BATCH_ROWS: usize = 65_536;

/// The type of the `ts` column.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TsType {
    /// `timestamp[<the log's unit>]`, no time zone (the default).
    Timestamp,
    /// `int64`.
    Int64,
}

pub fn parse_ts(ts: &Arg<'_>) -> PyResult<TsType> {
    let Arg::Given(v) = ts else { return Ok(TsType::Timestamp) };
    let bad = || {
        PyValueError::new_err(format!(
            "to_arrow(): ts must be 'timestamp' or 'int64', not {}",
            v.repr().map(|r| r.to_string()).unwrap_or_default()
        ))
    };
    let Ok(s) = v.cast::<PyString>() else { return Err(bad()) };
    match s.to_str()? {
        "timestamp" => Ok(TsType::Timestamp),
        "int64" => Ok(TsType::Int64),
        _ => Err(bad()),
    }
}

fn arrow_unit(unit: TimeUnit) -> ArrowUnit {
    timelog::arrow::arrow_unit(unit)
}

/// The export options (the `ts` column's type) of `ts` for a log of `unit`.
pub fn options(ts: TsType, unit: TimeUnit) -> ExportOptions {
    let o = ExportOptions::new().batch_rows(BATCH_ROWS);
    match ts {
        TsType::Timestamp => o.timestamp(unit),
        TsType::Int64 => o.int64(),
    }
}

/// A `ts` column of type `dt` (Int64 or a Timestamp type) over `ts`.
pub fn ts_array(ts: ScalarBuffer<i64>, dt: &DataType) -> ArrayRef {
    fn stamp<T: arrow_array::types::ArrowTimestampType>(
        ts: ScalarBuffer<i64>,
        tz: &Option<Arc<str>>,
    ) -> ArrayRef {
        Arc::new(PrimitiveArray::<T>::new(ts, None).with_timezone_opt(tz.clone()))
    }
    match dt {
        DataType::Timestamp(ArrowUnit::Second, tz) => stamp::<TimestampSecondType>(ts, tz),
        DataType::Timestamp(ArrowUnit::Millisecond, tz) => stamp::<TimestampMillisecondType>(ts, tz),
        DataType::Timestamp(ArrowUnit::Microsecond, tz) => stamp::<TimestampMicrosecondType>(ts, tz),
        DataType::Timestamp(ArrowUnit::Nanosecond, tz) => stamp::<TimestampNanosecondType>(ts, tz),
        _ => Arc::new(Int64Array::new(ts, None)),
    }
}

/// A batch of `columns` with `schema` (the columns match it by construction).
pub fn batch(schema: &SchemaRef, columns: Vec<ArrayRef>, rows: usize) -> PyResult<RecordBatch> {
    let opts = RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(schema.clone(), columns, &opts).map_err(arrow_py_err)
}

pub fn arrow_py_err(e: ArrowError) -> PyErr {
    PyValueError::new_err(format!("arrow: {e}"))
}

/// The value encoder of `payload="none"`: no `value` column.
pub struct TsOnly;

impl ValueEncoder<PyVal> for TsOnly {
    fn field(&self) -> Option<Field> {
        None
    }

    fn encode(&mut self, _: &[&PyVal]) -> timelog::Result<ArrayRef> {
        Err(timelog::Error::Arrow("payload='none' exports no value column".into()))
    }
}

/// The `ts` batches of `range` of `snap` (no `value` column): the engine's reader,
/// which shares the `ts` columns of compacted segments instead of copying them. No
/// Python object is touched, so the GIL is released meanwhile.
pub fn ts_batches(
    py: Python<'_>,
    snap: &Snapshot<PyVal>,
    range: (RBound<i64>, RBound<i64>),
    opts: &ExportOptions,
) -> PyResult<Vec<RecordBatch>> {
    let reader = snap.record_batches_with(range, opts, TsOnly);
    py.detach(move || reader.collect::<Result<Vec<RecordBatch>, ArrowError>>()).map_err(arrow_py_err)
}

/// Builds the stream object of `range` of a fresh snapshot of `open` (the caller
/// holds the log open and pinned, with the GIL).
pub fn export(
    py: Python<'_>,
    open: &Open,
    range: (RBound<i64>, RBound<i64>),
    payload: &Arg<'_>,
    ts: &Arg<'_>,
) -> PyResult<TimelogArrowStream> {
    let payload = arrow_values::parse_payload(payload)?;
    let ts = parse_ts(ts)?;
    let opts = options(ts, open.unit);
    let snap = open.log.snapshot();
    let (schema, batches) = match payload {
        Payload::TsOnly => {
            let schema = timelog::arrow::schema(&opts, None);
            (schema, ts_batches(py, &snap, range, &opts)?)
        }
        other => arrow_values::batches(py, &snap, range, other, &opts)?,
    };
    drop(snap);
    Ok(TimelogArrowStream::new(schema, batches, open.unit))
}

/// Replays a stream object's batches: the reader behind one C stream.
struct Replay {
    schema: SchemaRef,
    batches: Arc<[RecordBatch]>,
    next: usize,
}

impl Iterator for Replay {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.batches.get(self.next)?.clone();
        self.next += 1;
        Some(Ok(b))
    }
}

impl RecordBatchReader for Replay {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

/// The `arrow_schema` capsule behind `obj`: the capsule itself, or what its
/// `__arrow_c_schema__()` returns.
pub fn schema_capsule<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Bound<'py, PyCapsule>> {
    let cap = if let Ok(c) = obj.cast::<PyCapsule>() {
        c.clone()
    } else if obj.hasattr(pyo3::intern!(obj.py(), "__arrow_c_schema__"))? {
        obj.call_method0(pyo3::intern!(obj.py(), "__arrow_c_schema__"))?.cast_into::<PyCapsule>()?
    } else {
        return Err(PyTypeError::new_err(format!(
            "{what} must be an Arrow schema: an object with __arrow_c_schema__ or an \
             'arrow_schema' PyCapsule, not {}",
            obj.get_type().name()?
        )));
    };
    if !cap.is_valid_checked(Some(SCHEMA_CAPSULE)) {
        return Err(PyTypeError::new_err(format!("{what}: expected a PyCapsule named 'arrow_schema'")));
    }
    Ok(cap)
}

/// Reads the ArrowSchema held by an `arrow_schema` capsule with `f` (the capsule
/// keeps it; nothing is moved out).
pub fn read_schema<R>(
    cap: &Bound<'_, PyCapsule>,
    f: impl FnOnce(&FFI_ArrowSchema) -> Result<R, ArrowError>,
) -> PyResult<R> {
    let p = cap.pointer_checked(Some(SCHEMA_CAPSULE))?;
    // SAFETY: by the Arrow PyCapsule interface, a capsule named "arrow_schema" points
    // to an ArrowSchema struct that the capsule owns and keeps alive; we hold a
    // reference to the capsule and run no Python code while `f` reads it (a shared
    // borrow: nothing is moved out or released). A released struct (null `release`)
    // is refused before any other field is read.
    let s = unsafe { p.cast::<FFI_ArrowSchema>().as_ref() };
    if s.release.is_none() {
        return Err(PyValueError::new_err("the 'arrow_schema' capsule holds a released schema"));
    }
    f(s).map_err(arrow_py_err)
}

/// The pyarrow spelling of a data type (for `schema` and messages).
pub fn type_name(dt: &DataType) -> String {
    match dt {
        DataType::Null => "null".into(),
        DataType::Boolean => "bool".into(),
        DataType::Int64 => "int64".into(),
        DataType::Float64 => "double".into(),
        DataType::Utf8 => "string".into(),
        DataType::Binary => "binary".into(),
        DataType::Timestamp(u, tz) => {
            let u = match u {
                ArrowUnit::Second => "s",
                ArrowUnit::Millisecond => "ms",
                ArrowUnit::Microsecond => "us",
                ArrowUnit::Nanosecond => "ns",
            };
            match tz {
                None => format!("timestamp[{u}]"),
                Some(tz) => format!("timestamp[{u}, tz={tz}]"),
            }
        }
        other => other.to_string(),
    }
}

/// The record batches of one snapshot range of a `Timelog`, converted to Arrow when
/// the object was created (see `Timelog.to_arrow`). Implements the Arrow PyCapsule
/// interface: `pyarrow.table(s)`, `polars.DataFrame(s)`, DuckDB queries naming it,
/// ... Every `__arrow_c_stream__()` call hands out a new C stream over the same
/// data, so the object can be read any number of times, from any thread; it holds
/// no reference to the log and stays readable after the log is closed. Not
/// constructible from Python.
#[pyclass(frozen, module = "timelog._timelog", name = "TimelogArrowStream")]
pub struct TimelogArrowStream {
    schema: SchemaRef,
    batches: Arc<[RecordBatch]>,
    rows: usize,
    /// The log's time unit (a requested timestamp type must have it).
    unit: ArrowUnit,
}

impl TimelogArrowStream {
    pub fn new(schema: SchemaRef, batches: Vec<RecordBatch>, unit: TimeUnit) -> Self {
        let rows = batches.iter().map(RecordBatch::num_rows).sum();
        TimelogArrowStream { schema, batches: batches.into(), rows, unit: arrow_unit(unit) }
    }

    /// Our batches in `requested` where that is only a change of the `ts` column's
    /// type between int64 and a timestamp of the log's unit (any time zone: the same
    /// numbers); `None` when the request is ours already or cannot be met (then the
    /// PyCapsule interface lets the producer keep its own schema).
    fn adapt(&self, requested: &Schema) -> Option<(SchemaRef, Arc<[RecordBatch]>)> {
        let ours = self.schema.fields();
        let theirs = requested.fields();
        if ours.len() != theirs.len()
            || ours.iter().zip(theirs.iter()).any(|(a, b)| a.name() != b.name())
            || ours.iter().skip(1).zip(theirs.iter().skip(1)).any(|(a, b)| a.data_type() != b.data_type())
        {
            return None;
        }
        let want = theirs[0].data_type();
        let fits = match want {
            DataType::Int64 => true,
            DataType::Timestamp(u, _) => *u == self.unit,
            _ => false,
        };
        if !fits || want == ours[0].data_type() {
            return None;
        }
        let mut fields: Vec<Field> = ours.iter().map(|f| f.as_ref().clone()).collect();
        fields[0] = fields[0].clone().with_data_type(want.clone());
        let schema = Arc::new(Schema::new_with_metadata(fields, self.schema.metadata().clone()));
        let mut out = Vec::with_capacity(self.batches.len());
        for b in self.batches.iter() {
            let ts = b.column(0).to_data();
            let values: ScalarBuffer<i64> = ScalarBuffer::new(ts.buffers()[0].clone(), ts.offset(), ts.len());
            let mut cols = b.columns().to_vec();
            cols[0] = ts_array(values, want);
            let opts = RecordBatchOptions::new().with_row_count(Some(b.num_rows()));
            out.push(RecordBatch::try_new_with_options(schema.clone(), cols, &opts).ok()?);
        }
        Some((schema, out.into()))
    }

    /// A fresh C stream over the batches, as an `arrow_array_stream` capsule.
    pub fn stream_capsule<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let (mut schema, mut batches) = (self.schema.clone(), self.batches.clone());
        if let Some(req) = requested_schema.filter(|r| !r.is_none()) {
            let cap = schema_capsule(req, "requested_schema")?;
            // An unreadable request is ignored like an unmet one.
            if let Ok(requested) = read_schema(&cap, |s| Schema::try_from(s)) {
                if let Some((s, b)) = self.adapt(&requested) {
                    (schema, batches) = (s, b);
                }
            }
        }
        let reader = Replay { schema, batches, next: 0 };
        let stream = FFI_ArrowArrayStream::new(Box::new(reader));
        PyCapsule::new_with_value(py, stream, STREAM_CAPSULE)
    }

    fn schema_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for f in self.schema.fields() {
            d.set_item(f.name(), type_name(f.data_type()))?;
        }
        Ok(d)
    }
}

#[pymethods]
impl TimelogArrowStream {
    /// Arrow PyCapsule interface: a new `arrow_array_stream` capsule over all the
    /// batches (a C stream is read once; call this again for another). A
    /// `requested_schema` equal to ours, or differing only in the `ts` column's type
    /// (int64 or a timestamp of the log's unit), is honoured; any other is ignored
    /// (the consumer gets this object's own schema, as the interface allows).
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        self.stream_capsule(py, requested_schema)
    }

    /// Arrow PyCapsule interface: the schema as an `arrow_schema` capsule
    /// (`pyarrow.schema(s)` reads it).
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let ffi = FFI_ArrowSchema::try_from(self.schema.as_ref()).map_err(arrow_py_err)?;
        PyCapsule::new_with_value(py, ffi, SCHEMA_CAPSULE)
    }

    /// The columns and their Arrow types, without pyarrow: a new dict such as
    /// `{"ts": "timestamp[ms]", "value": "int64"}` (pyarrow's type names).
    #[getter]
    fn schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.schema_dict(py)
    }

    /// Number of rows (records) in the stream.
    #[getter]
    fn num_rows(&self) -> usize {
        self.rows
    }

    /// Number of record batches each C stream yields.
    #[getter]
    fn num_batches(&self) -> usize {
        self.batches.len()
    }

    /// `TimelogArrowStream(num_rows=N, schema={...})`.
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("TimelogArrowStream(num_rows={}, schema={})", self.rows, self.schema_dict(py)?.repr()?))
    }
}
