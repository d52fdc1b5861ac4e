//! Arrow export: `Timelog.to_arrow()`, `Timelog.__arrow_c_stream__` and the
//! `TimelogArrowStream` class (the Arrow PyCapsule interface).
//!
//! A `TimelogArrowStream` holds every record batch of one snapshot range, built when
//! it is created, with the GIL held: payloads are converted to Arrow then (so a
//! payload that does not fit raises there), and the object keeps no reference to the
//! log nor to any Python object. Each `__arrow_c_stream__` call hands out a fresh C
//! stream over the same batches (cheap `Arc` clones); a consumer pulls from it on any
//! thread without the GIL. The payload rules live in `arrow_values`, their conversion
//! in `arrow_col`.

use std::ops::Bound as RBound;
use std::sync::Arc;

use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{Array, RecordBatch, RecordBatchOptions, RecordBatchReader};
use arrow_buffer::ScalarBuffer;
use arrow_schema::ffi::FFI_ArrowSchema;
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit as ArrowUnit};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict};
use timelog::arrow::ExportOptions;
use timelog::{Snapshot, TimeUnit};

use crate::arrow_col::{convert, Stop};
use crate::arrow_ffi::{
    arrow_py_err, read_schema, schema_capsule, type_name, SCHEMA_CAPSULE, STREAM_CAPSULE,
};
use crate::arrow_ts::{arrow_unit, batch, options, parse_ts, ts_array, ts_batches};
use crate::arrow_values::{self, first_kind, infer, Kind, Payload};
use crate::coerce::{self, Arg};
use crate::pin::Pin;
use crate::slab::PyVal;
use crate::state::{Open, PyTimelog};

/// Builds the stream object of `range` of a fresh snapshot of `open` (the caller
/// holds the log open and pinned, with the GIL).
fn export(
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
        other => batches(py, &snap, range, other, &opts)?,
    };
    drop(snap);
    Ok(TimelogArrowStream::new(schema, batches, open.unit))
}

/// The schema and batches of `range` of `snap` under `payload` (not `TsOnly`): the
/// `ts` batches of the engine's timestamps-only export (`ts_batches`, in the same
/// row order), each paired with the converted payloads of its rows (split where a
/// value column is full).
pub fn batches(
    py: Python<'_>,
    snap: &Snapshot<PyVal>,
    range: (RBound<i64>, RBound<i64>),
    payload: Payload,
    opts: &ExportOptions,
) -> PyResult<(SchemaRef, Vec<RecordBatch>)> {
    let ts_batches = ts_batches(py, snap, range, opts)?;
    let cuts: Vec<usize> = ts_batches
        .iter()
        .scan(0, |end, b| {
            *end += b.num_rows();
            Some(*end)
        })
        .collect();
    let run = |kind, trial| convert(py, snap, range, (payload, kind, trial), &cuts);
    let (kind, converted) = match payload {
        Payload::Fixed(k) => (k, run(k, false)),
        Payload::Pickle | Payload::TsOnly => (Kind::Binary, run(Kind::Binary, false)),
        Payload::Auto => {
            // Convert with the first payload's kind; only if a row does not fit, apply
            // the rule over every row (naming the first row that fits no kind) and
            // convert again with its kind.
            let guess = first_kind(snap, range);
            match run(guess, true) {
                Err(Stop::Guess) => {
                    let kind = infer(py, "to_arrow", snap, range)?;
                    (kind, run(kind, false))
                }
                other => (guess, other),
            }
        }
    };
    let cols = converted.map_err(|s| match s {
        Stop::Err(e) => e,
        Stop::Guess => unreachable!("only a trial stops on a guess"),
    })?;
    let schema = timelog::arrow::schema(opts, Some(Field::new("value", kind.data_type(), true)));
    let mut out = Vec::with_capacity(cols.len());
    let (mut j, mut at) = (0, 0);
    for (values, n) in cols {
        // Each column lies within one `ts` batch (it ends at the batch's end at the latest).
        while at == ts_batches[j].num_rows() {
            (j, at) = (j + 1, 0);
        }
        let ts = ts_batches[j].column(0).slice(at, n);
        at += n;
        out.push(batch(&schema, vec![ts, values], n)?);
    }
    Ok((schema, out))
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

#[pymethods]
impl PyTimelog {
    /// `[t1, t2)` (slicing bounds) of a fresh snapshot as Arrow record batches: a
    /// `TimelogArrowStream` (Arrow PyCapsule interface; pyarrow, polars, DuckDB, ...
    /// read it) with the columns `ts` (`ts="timestamp"`: timestamp of the log's
    /// time_unit; `ts="int64"`) and `value`. Payloads are converted now, with the GIL
    /// held: `payload="auto"` infers one type over the range (int -> int64, float or
    /// int mixed with float -> float64, str -> utf8, bytes -> binary, bool -> bool,
    /// None -> null; no other type, and no other mix: TypeError naming the row; an int
    /// past int64: OverflowError); an Arrow type (`"int64"`, `"float64"`, `"utf8"`,
    /// `"binary"`, `"bool"`, `"null"`, or `pyarrow.int64()`...) fixes it;
    /// `payload="none"` exports timestamps only (zero-copy for flushed L0 segments;
    /// compacted segments' packed timestamps are decoded batch by batch);
    /// `payload="pickle"` exports every object pickled (protocol 5) as binary. The
    /// stream stays readable after `close()`.
    #[pyo3(
        signature = (t1 = None, t2 = None, *, payload = Arg::Missing, ts = Arg::Missing),
        text_signature = "(self, t1=None, t2=None, *, payload='auto', ts='timestamp')"
    )]
    fn to_arrow(
        &self,
        py: Python<'_>,
        t1: Option<&Bound<'_, PyAny>>,
        t2: Option<&Bound<'_, PyAny>>,
        payload: Arg<'_>,
        ts: Arg<'_>,
    ) -> PyResult<TimelogArrowStream> {
        let g = self.open()?;
        let open = &*g;
        let range = coerce::read_range(t1, t2)?;
        let _pin = Pin::new(&self.pins);
        export(py, open, range, &payload, &ts)
    }

    /// Arrow PyCapsule interface: `to_arrow()` of every record (fresh snapshot, default
    /// options) as an `arrow_array_stream` capsule, so that `pyarrow.table(log)`,
    /// `polars.DataFrame(log)` and DuckDB queries naming the log work.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let s = self.to_arrow(py, None, None, Arg::Missing, Arg::Missing)?;
        s.stream_capsule(py, requested_schema)
    }
}
