//! The `ts` column of the Arrow and Parquet exports: its type (`ts="timestamp"` or
//! `"int64"`), the export options and the timestamps-only batches the engine reads
//! (the `value` column, if any, is added to them by the payload conversion).

use std::ops::Bound as RBound;
use std::sync::Arc;

use arrow_array::types::{
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use arrow_array::{ArrayRef, Int64Array, PrimitiveArray, RecordBatch, RecordBatchOptions};
use arrow_buffer::ScalarBuffer;
use arrow_schema::{ArrowError, DataType, Field, SchemaRef, TimeUnit as ArrowUnit};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyString;
use timelog::arrow::{ExportOptions, ValueEncoder};
use timelog::{Snapshot, TimeUnit};

use crate::arrow_ffi::arrow_py_err;
use crate::coerce::Arg;
use crate::slab::PyVal;

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

/// Parses `ts=...` of the exports.
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

/// The Arrow unit of a log of `unit`.
pub fn arrow_unit(unit: TimeUnit) -> ArrowUnit {
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
/// which shares the `ts` columns of L0 segments and decodes the packed ones of
/// compacted segments batch by batch. No
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
