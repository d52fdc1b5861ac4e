//! Arrow export and import (cargo feature `arrow`).
//!
//! - **Export**: [`Snapshot::record_batches`](crate::Snapshot::record_batches) turns
//!   any range of a snapshot into an owning [`RecordBatches`] reader (`Send +
//!   'static`, an Arrow `RecordBatchReader`) with the columns `ts` (`Int64`, or a
//!   `Timestamp` type on request) and `value` (the payload's Arrow type, see
//!   [`ArrowValue`]). Rows come as `range` yields them; columns of compacted
//!   segments are shared, not copied.
//! - **Import**: [`Timelog::append_record_batch`](crate::Timelog::append_record_batch)
//!   appends a batch with a `ts` column (`Int64` or any `Timestamp` unit) and a
//!   `value` column, atomically, like `append_batch`.
//!
//! ```
//! use arrow_array::{Array, Int64Array, UInt64Array};
//! use timelog::arrow::ExportOptions;
//! use timelog::Timelog;
//!
//! let log: Timelog<u64> = Timelog::new();
//! let _ = log.append_batch((0..1000).map(|t| (t, t as u64 * 2)));
//! log.compact_now();
//!
//! let batches = log.snapshot().record_batches(100..200, &ExportOptions::new().batch_rows(64));
//! let mut sum = 0;
//! for batch in batches {
//!     let batch = batch.unwrap();
//!     let ts = batch.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
//!     let v = batch.column(1).as_any().downcast_ref::<UInt64Array>().unwrap();
//!     assert!(batch.num_rows() <= 64);
//!     sum += ts.values().iter().sum::<i64>() as u64 + v.values().iter().sum::<u64>();
//! }
//! assert_eq!(sum, (100..200).map(|t| t * 3).sum::<u64>());
//! ```
//!
//! The C stream interface hands a reader to any Arrow implementation in the same
//! process: [`RecordBatches::into_ffi_stream`], and back with arrow's
//! `ArrowArrayStreamReader`.

mod import;
mod memory;
mod reader;
mod value;

use std::ops::RangeBounds;
use std::sync::Arc as StdArc;

use arrow_array::types::{
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use arrow_array::{ArrayRef, Int64Array, PrimitiveArray};
use arrow_buffer::ScalarBuffer;
use arrow_schema::{DataType, Field, Schema, SchemaRef};

pub use import::timestamps;
pub use memory::Shared;
pub use reader::RecordBatches;
pub use value::{ArrowValue, Native, ValueEncoder};

use crate::bounds::inclusive;
use crate::{Snapshot, TimeUnit, Value};

/// The schema metadata key that states the rows' order; its value is
/// [`SORTED_BY_TS`].
pub const SORTED_BY: &str = "timelog.sorted_by";
/// The order of exported rows: ascending `ts`, equal timestamps in insertion order.
pub const SORTED_BY_TS: &str = "ts ASC, insertion order";

/// How an export lays out its batches.
///
/// ```
/// use timelog::arrow::ExportOptions;
/// use timelog::TimeUnit;
/// let opts = ExportOptions::new().batch_rows(8192).timestamp(TimeUnit::Nanos);
/// assert_eq!(opts.rows_per_batch(), 8192);
/// assert_eq!(opts.ts_type().to_string(), "Timestamp(ns)");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ExportOptions {
    pub(crate) batch_rows: usize,
    ts: DataType,
    pub(crate) zero_copy: bool,
    pub(crate) max_batch_bytes: usize,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            batch_rows: 65_536,
            ts: DataType::Int64,
            zero_copy: true,
            max_batch_bytes: i32::MAX as usize,
        }
    }
}

impl ExportOptions {
    /// The defaults: batches of 65,536 rows, `ts` as `Int64`, segments shared
    /// without copying, variable-width columns cut below 2 GiB per batch.
    pub fn new() -> Self {
        ExportOptions::default()
    }

    /// Target rows per batch (at least 1). Batches hold exactly this many rows
    /// except at the end of the range and at the edges of shared segment stretches.
    pub fn batch_rows(mut self, rows: usize) -> Self {
        self.batch_rows = rows.max(1);
        self
    }

    /// `ts` as `Timestamp(unit)` without a time zone (the log's timestamps are
    /// counted in `unit` since the Unix epoch).
    pub fn timestamp(mut self, unit: TimeUnit) -> Self {
        self.ts = DataType::Timestamp(arrow_unit(unit), None);
        self
    }

    /// `ts` as `Timestamp(unit, tz)`: the same instants, shown in time zone `tz`
    /// (an IANA name such as `"Europe/Paris"` or an offset such as `"+02:00"`).
    pub fn timestamp_tz(mut self, unit: TimeUnit, tz: &str) -> Self {
        self.ts = DataType::Timestamp(arrow_unit(unit), Some(tz.into()));
        self
    }

    /// `ts` as `Int64` (the default).
    pub fn int64(mut self) -> Self {
        self.ts = DataType::Int64;
        self
    }

    /// Whether columns of compacted segments may be shared instead of copied (on by
    /// default; off copies every batch into fresh buffers, which then pin nothing).
    pub fn zero_copy(mut self, on: bool) -> Self {
        self.zero_copy = on;
        self
    }

    /// Most bytes of variable-width data (strings, binaries) one batch's column
    /// holds; at most and by default `i32::MAX`, what 32-bit offsets address.
    pub fn max_batch_bytes(mut self, bytes: usize) -> Self {
        self.max_batch_bytes = bytes.clamp(1, i32::MAX as usize);
        self
    }

    /// The target rows per batch.
    pub fn rows_per_batch(&self) -> usize {
        self.batch_rows
    }

    /// The type of the `ts` column.
    pub fn ts_type(&self) -> &DataType {
        &self.ts
    }
}

/// Arrow's name for a [`TimeUnit`].
pub fn arrow_unit(unit: TimeUnit) -> arrow_schema::TimeUnit {
    match unit {
        TimeUnit::Seconds => arrow_schema::TimeUnit::Second,
        TimeUnit::Millis => arrow_schema::TimeUnit::Millisecond,
        TimeUnit::Micros => arrow_schema::TimeUnit::Microsecond,
        TimeUnit::Nanos => arrow_schema::TimeUnit::Nanosecond,
    }
}

/// The [`TimeUnit`] of an Arrow time unit.
pub fn log_unit(unit: arrow_schema::TimeUnit) -> TimeUnit {
    match unit {
        arrow_schema::TimeUnit::Second => TimeUnit::Seconds,
        arrow_schema::TimeUnit::Millisecond => TimeUnit::Millis,
        arrow_schema::TimeUnit::Microsecond => TimeUnit::Micros,
        arrow_schema::TimeUnit::Nanosecond => TimeUnit::Nanos,
    }
}

/// The schema of an export: `ts` (never null) of the options' type, then `value`
/// if there is one, with [`SORTED_BY`] in its metadata.
///
/// ```
/// use timelog::arrow::{schema, ArrowValue, ExportOptions};
/// let s = schema(&ExportOptions::new(), Some(arrow_schema::Field::new("value", String::data_type(), false)));
/// assert_eq!(s.field(0).name(), "ts");
/// assert_eq!(s.field(1).data_type(), &arrow_schema::DataType::Utf8);
/// assert_eq!(s.metadata()["timelog.sorted_by"], "ts ASC, insertion order");
/// ```
pub fn schema(opts: &ExportOptions, value: Option<Field>) -> SchemaRef {
    let mut fields = vec![Field::new("ts", opts.ts.clone(), false)];
    fields.extend(value);
    let meta = [(SORTED_BY.to_string(), SORTED_BY_TS.to_string())].into_iter().collect();
    StdArc::new(Schema::new_with_metadata(fields, meta))
}

/// The schema [`Snapshot::record_batches`] gives a `Timelog<V>` with `opts`.
///
/// ```
/// use timelog::arrow::{schema_of, ExportOptions};
/// assert_eq!(schema_of::<()>(&ExportOptions::new()).fields().len(), 1);
/// ```
pub fn schema_of<V: ArrowValue>(opts: &ExportOptions) -> SchemaRef {
    schema(opts, ValueEncoder::<V>::field(&Native::<V>::default()))
}

/// The `ts` column of the options' type over `ts`.
pub(crate) fn ts_array(ts: ScalarBuffer<i64>, opts: &ExportOptions) -> ArrayRef {
    fn stamp<T: arrow_array::types::ArrowTimestampType>(
        ts: ScalarBuffer<i64>,
        tz: &Option<StdArc<str>>,
    ) -> ArrayRef {
        StdArc::new(PrimitiveArray::<T>::new(ts, None).with_timezone_opt(tz.clone()))
    }
    match &opts.ts {
        DataType::Timestamp(u, tz) => match u {
            arrow_schema::TimeUnit::Second => stamp::<TimestampSecondType>(ts, tz),
            arrow_schema::TimeUnit::Millisecond => stamp::<TimestampMillisecondType>(ts, tz),
            arrow_schema::TimeUnit::Microsecond => stamp::<TimestampMicrosecondType>(ts, tz),
            arrow_schema::TimeUnit::Nanosecond => stamp::<TimestampNanosecondType>(ts, tz),
        },
        _ => StdArc::new(Int64Array::new(ts, None)),
    }
}

/// The raw `i64` values of a batch's `ts` column (`Int64` or any `Timestamp`).
pub(crate) fn timestamps_raw(b: &arrow_array::RecordBatch) -> &[i64] {
    use arrow_array::cast::AsArray;
    let col = b.column(0);
    match col.data_type() {
        DataType::Timestamp(arrow_schema::TimeUnit::Second, _) => {
            col.as_primitive::<TimestampSecondType>().values()
        }
        DataType::Timestamp(arrow_schema::TimeUnit::Millisecond, _) => {
            col.as_primitive::<TimestampMillisecondType>().values()
        }
        DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, _) => {
            col.as_primitive::<TimestampMicrosecondType>().values()
        }
        DataType::Timestamp(arrow_schema::TimeUnit::Nanosecond, _) => {
            col.as_primitive::<TimestampNanosecondType>().values()
        }
        _ => col.as_primitive::<arrow_array::types::Int64Type>().values(),
    }
}

impl<V: Value> Snapshot<V> {
    /// The records of `r` as Arrow record batches (see [`RecordBatches`]): `ts`,
    /// then `value` as [`ArrowValue`] says. An empty range gives the schema and no
    /// batch. Cargo feature `arrow`.
    ///
    /// ```
    /// use timelog::arrow::ExportOptions;
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(2, "b".to_string()), (1, "a".to_string())]);
    /// let batches: Vec<_> =
    ///     log.snapshot().record_batches(.., &ExportOptions::new()).collect::<Result<_, _>>().unwrap();
    /// assert_eq!(batches.len(), 1);
    /// assert_eq!(batches[0].num_rows(), 2);
    /// ```
    pub fn record_batches(&self, r: impl RangeBounds<i64>, opts: &ExportOptions) -> RecordBatches<V>
    where
        V: ArrowValue,
    {
        self.record_batches_with(r, opts, Native::default())
    }

    /// [`record_batches`](Snapshot::record_batches) with the `value` column made by
    /// `encoder` (any value type; an encoder whose `field` is `None` exports
    /// timestamps only).
    ///
    /// ```
    /// use timelog::arrow::{ExportOptions, ValueEncoder};
    /// use timelog::Timelog;
    ///
    /// /// Exports no value column at all.
    /// struct TsOnly;
    /// impl<V> ValueEncoder<V> for TsOnly {
    ///     fn field(&self) -> Option<arrow_schema::Field> {
    ///         None
    ///     }
    ///     fn encode(&mut self, _: &[&V]) -> timelog::Result<arrow_array::ArrayRef> {
    ///         unreachable!("no value column")
    ///     }
    /// }
    ///
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, vec!['x']), (2, vec!['y'])]);
    /// let mut batches = log.snapshot().record_batches_with(.., &ExportOptions::new(), TsOnly);
    /// assert_eq!(batches.next().unwrap().unwrap().num_columns(), 1);
    /// ```
    pub fn record_batches_with<E: ValueEncoder<V>>(
        &self,
        r: impl RangeBounds<i64>,
        opts: &ExportOptions,
        encoder: E,
    ) -> RecordBatches<V, E> {
        let cur = inclusive(&r).map(|(lo, hi)| self.clone().into_cursor(lo..=hi));
        RecordBatches::new(cur, encoder, opts.clone())
    }
}
