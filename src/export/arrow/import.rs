//! Import: Arrow record batches appended to a log.

use arrow_array::types::{
    Int64Type, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use arrow_array::{Array, PrimitiveArray, RecordBatch, RecordBatchReader};
use arrow_schema::DataType;

use super::log_unit;
use super::value::{arrow_err, ArrowValue};
use crate::error::{Error, Result};
use crate::{TimeUnit, Timelog, Written};

/// Ticks of `unit` per second.
fn per_second(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Seconds => 1,
        TimeUnit::Millis => 1_000,
        TimeUnit::Micros => 1_000_000,
        TimeUnit::Nanos => 1_000_000_000,
    }
}

/// The timestamps of a `ts` column in the log's unit `unit`: `Int64` values as
/// they are, `Timestamp` values converted from their unit (a finer one must
/// convert exactly, a coarser one must not overflow). Nulls are refused. Errors
/// name the first row that fails.
///
/// ```
/// use arrow_array::{Int64Array, TimestampSecondArray};
/// use timelog::arrow::timestamps;
/// use timelog::TimeUnit;
/// let secs = TimestampSecondArray::from(vec![1, 2]);
/// assert_eq!(timestamps(&secs, TimeUnit::Millis).unwrap(), [1_000, 2_000]);
/// assert_eq!(timestamps(&Int64Array::from(vec![7]), TimeUnit::Nanos).unwrap(), [7]);
/// assert!(timestamps(&Int64Array::from(vec![Some(1), None]), TimeUnit::Millis).is_err());
/// ```
pub fn timestamps(array: &dyn Array, unit: TimeUnit) -> Result<Vec<i64>> {
    fn raw<T: arrow_array::ArrowPrimitiveType<Native = i64>>(array: &dyn Array) -> &[i64] {
        array.as_any().downcast_ref::<PrimitiveArray<T>>().expect("checked type").values()
    }
    let (values, from) = match array.data_type() {
        DataType::Int64 => (raw::<Int64Type>(array), unit),
        DataType::Timestamp(u, _) => {
            let v = match u {
                arrow_schema::TimeUnit::Second => raw::<TimestampSecondType>(array),
                arrow_schema::TimeUnit::Millisecond => raw::<TimestampMillisecondType>(array),
                arrow_schema::TimeUnit::Microsecond => raw::<TimestampMicrosecondType>(array),
                arrow_schema::TimeUnit::Nanosecond => raw::<TimestampNanosecondType>(array),
            };
            (v, log_unit(*u))
        }
        other => {
            return Err(Error::Arrow(format!("the ts column is {other}; expected Int64 or a Timestamp type")))
        }
    };
    if let Some(row) = array.nulls().and_then(|n| (0..n.len()).find(|&i| n.is_null(i))) {
        return Err(Error::Arrow(format!("the ts column has a null at row {row}")));
    }
    let (pf, pt) = (per_second(from), per_second(unit));
    if pf == pt {
        return Ok(values.to_vec());
    }
    if pf < pt {
        let k = pt / pf;
        values
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                t.checked_mul(k).ok_or_else(|| {
                    Error::Arrow(format!(
                        "ts at row {i} ({t} {}) does not fit the log's unit {} in 64 bits",
                        from.as_str(),
                        unit.as_str()
                    ))
                })
            })
            .collect()
    } else {
        let k = pf / pt;
        values
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                if t % k == 0 {
                    Ok(t / k)
                } else {
                    Err(Error::Arrow(format!(
                        "ts at row {i} ({t} {}) is finer than the log's unit {}: converting it would lose precision",
                        from.as_str(),
                        unit.as_str()
                    )))
                }
            })
            .collect()
    }
}

/// The columns of `batch` checked and converted: timestamps in the log's unit and
/// the values.
fn columns<V: ArrowValue>(batch: &RecordBatch, unit: TimeUnit) -> Result<(Vec<i64>, Vec<V>)> {
    let schema = batch.schema();
    let mut ts_col = None;
    let mut value_col = None;
    for (i, f) in schema.fields().iter().enumerate() {
        match f.name().as_str() {
            "ts" => ts_col = Some(i),
            "value" if V::has_column() => value_col = Some(i),
            "value" => {
                return Err(Error::Arrow(
                    "the batch has a value column, but this log's values are () and hold none".into(),
                ))
            }
            other => {
                return Err(Error::Arrow(format!(
                    "unexpected column {other:?}: a batch holds a ts column and a value column"
                )))
            }
        }
    }
    let ts_col = ts_col.ok_or_else(|| Error::Arrow("the batch has no ts column".into()))?;
    let ts = timestamps(batch.column(ts_col).as_ref(), unit)?;
    let vals: Vec<V> = match value_col {
        Some(i) => {
            let decoded = V::decode(batch.column(i).as_ref())?;
            let mut out = Vec::with_capacity(decoded.len());
            for (row, v) in decoded.into_iter().enumerate() {
                match v {
                    Some(v) => out.push(v),
                    None => {
                        return Err(Error::Arrow(format!(
                            "the value column has a null at row {row}, and this log's values cannot hold one (use Option<T>)"
                        )))
                    }
                }
            }
            out
        }
        None if !V::has_column() => {
            let unit_col = V::decode(&arrow_array::NullArray::new(ts.len()))?;
            unit_col.into_iter().map(|v| v.expect("() decodes to values")).collect()
        }
        None if V::nullable() => {
            // A column of nulls of the value type: every value `None`.
            let nulls = arrow_array::new_null_array(&V::data_type(), ts.len());
            let decoded = V::decode(nulls.as_ref())?;
            decoded.into_iter().map(|v| v.expect("Option<T> decodes a null to Some(None)")).collect()
        }
        None => return Err(Error::Arrow("the batch has no value column".into())),
    };
    Ok((ts, vals))
}

impl<V: ArrowValue> Timelog<V> {
    /// Appends the rows of an Arrow record batch, atomically (like
    /// [`append_batch`](Timelog::append_batch): a snapshot sees all of it or none).
    ///
    /// The batch has a `ts` column, `Int64` (taken as it is) or any `Timestamp`
    /// unit (converted to the log's [`TimeUnit`]; a finer unit must convert
    /// exactly), and a `value` column that [`ArrowValue::decode`] reads (it may be
    /// left out for `Option<T>` values, which are then `None`, and must be for `()`).
    /// Nothing is appended if any row fails; the error names it. Cargo feature `arrow`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_array::{RecordBatch, StringArray, TimestampSecondArray};
    /// use timelog::Timelog;
    ///
    /// let log: Timelog<String> = Timelog::new(); // milliseconds
    /// let batch = RecordBatch::try_from_iter([
    ///     ("ts", Arc::new(TimestampSecondArray::from(vec![2, 1])) as _),
    ///     ("value", Arc::new(StringArray::from(vec!["b", "a"])) as _),
    /// ])
    /// .unwrap();
    /// log.append_record_batch(&batch).unwrap();
    /// assert_eq!(log.range_vec(..), [(1_000, "a".to_string()), (2_000, "b".to_string())]);
    /// ```
    pub fn append_record_batch(&self, batch: &RecordBatch) -> Result<Written> {
        let (ts, vals) = columns::<V>(batch, self.config().time_unit())?;
        Ok(self.append_columns(ts, vals))
    }

    /// Appends every batch of `reader`, each atomically, in order; returns the number
    /// of rows appended. On an error (of the reader, or a batch that does not
    /// convert) the batches before it stay appended and the rest are not read.
    ///
    /// ```
    /// use arrow_array::RecordBatchIterator;
    /// use timelog::arrow::ExportOptions;
    /// use timelog::Timelog;
    /// let src: Timelog<f64> = Timelog::new();
    /// let _ = src.append_batch((0..10).map(|t| (t, t as f64 / 2.0)));
    /// let dst: Timelog<f64> = Timelog::new();
    /// assert_eq!(dst.append_record_batches(src.snapshot().record_batches(.., &ExportOptions::new())).unwrap(), 10);
    /// assert_eq!(dst.range_vec(..), src.range_vec(..));
    /// ```
    pub fn append_record_batches(&self, reader: impl RecordBatchReader) -> Result<usize> {
        let mut rows = 0;
        for batch in reader {
            let batch = batch.map_err(arrow_err)?;
            self.append_record_batch(&batch)?;
            rows += batch.num_rows();
        }
        Ok(rows)
    }
}
