//! Writes and deletes of `Timelog`: `append`, `log[ts] = obj`, `extend` (pairs,
//! columns, Arrow data), `bulk_append`, `delete`, `del log[...]`, `cutoff` and their
//! native forms. Each stores through the engine and applies the busy policy.

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PySlice;

use timelog::TimeUnit;

use crate::arrow_import;
use crate::coerce::{self, engine_err, Arg, TimelogBusyError, TS_MAX, TS_MIN};
use crate::gil;
use crate::ingest;
use crate::slab;
use crate::state::{Open, PyTimelog};

/// How many retired payloads a write of `n` records releases first: all of them
/// (`drain_batch_limit` 0), else at least twice what it stores. With a bare
/// `drain_batch_limit` per call, a retention workload (each batch retires as many
/// payloads as it stores) would grow the queue, the slab and the dead payloads without
/// bound; this way the queue shrinks while the cost stays proportional to the call.
fn drain_quota(limit: usize, n: usize) -> usize {
    if limit == 0 {
        0
    } else {
        limit.max(n.saturating_mul(2))
    }
}

/// The wall clock in `unit`.
fn now_ts(unit: TimeUnit) -> i64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH);
    let ns: i128 = match d {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    };
    let div: i128 = match unit {
        TimeUnit::Seconds => 1_000_000_000,
        TimeUnit::Millis => 1_000_000,
        TimeUnit::Micros => 1_000,
        TimeUnit::Nanos => 1,
    };
    ns.div_euclid(div) as i64
}

/// Stores one validated record and applies the busy policy.
#[inline(always)]
fn append_one(log: &PyTimelog, py: Python<'_>, open: &Open, t: i64, obj: Bound<'_, PyAny>) -> PyResult<()> {
    open.check_floor(t)?;
    slab::drain(py, drain_quota(open.drain_limit, 1));
    let v = slab::alloc(open.owner, &open.any_gc, obj)?;
    let acc = open.log.append(t, v).accepted;
    log.accepted(py, open, acc)
}

/// Stores a validated batch atomically and applies the busy policy.
fn insert_batch(
    log: &PyTimelog,
    py: Python<'_>,
    open: &Open,
    ts: Vec<i64>,
    objs: Vec<Bound<'_, PyAny>>,
) -> PyResult<()> {
    if ts.is_empty() {
        return Ok(());
    }
    slab::drain(py, drain_quota(open.drain_limit, ts.len()));
    let vals = slab::alloc_many(open.owner, &open.any_gc, objs)?;
    let engine = &open.log;
    let acc = gil::engine_part(py, ts.len(), || engine.append_columns(ts, vals).accepted);
    log.accepted(py, open, acc)
}

/// Deletes `[t1, t2)` (`t1 > t2`: ValueError; empty: nothing).
fn delete_checked(log: &PyTimelog, py: Python<'_>, open: &Open, t1: i64, t2: i64) -> PyResult<()> {
    if t1 > t2 {
        return Err(PyValueError::new_err(format!("invalid range: t1 ({t1}) must be <= t2 ({t2})")));
    }
    if t1 == t2 {
        return Ok(());
    }
    // A log that is only deleted from (its writer elsewhere or gone) still releases
    // the payloads the background worker dropped.
    slab::drain(py, open.drain_limit);
    let acc = open.log.delete_range(t1..t2).map_err(engine_err)?.accepted;
    log.accepted(py, open, acc)
}

/// Deletes the records at `ts`.
fn delete_point(log: &PyTimelog, py: Python<'_>, open: &Open, ts: i64) -> PyResult<()> {
    if ts == TS_MAX {
        return Err(PyValueError::new_err(format!(
            "point delete at TL_TS_MAX ({TS_MAX}) is not representable with half-open \
             delete ranges"
        )));
    }
    delete_checked(log, py, open, ts, ts + 1)
}

#[pymethods]
impl PyTimelog {
    /// Appends one record. Forms: `append(ts, obj)`, `append(obj, ts=T)`, and
    /// `append(obj)` (timestamp = wall clock in the log's time unit). Strict
    /// timestamp coercion; timestamps below the min_ts floor raise ValueError.
    #[pyo3(signature = (obj_or_ts = Arg::Missing, obj_or_none = Arg::Missing, *, ts = Arg::Missing))]
    fn append(&self, py: Python<'_>, obj_or_ts: Arg<'_>, obj_or_none: Arg<'_>, ts: Arg<'_>) -> PyResult<()> {
        let g = self.open()?;
        let open = &*g;
        let ts_kw = match ts {
            Arg::Given(t) if !t.is_none() => Some(t),
            _ => None,
        };
        let (t, obj) = match (obj_or_ts, obj_or_none) {
            (Arg::Missing, _) => {
                return Err(PyTypeError::new_err("append() missing required argument 'obj_or_ts' (pos 1)"))
            }
            (Arg::Given(t), Arg::Given(o)) => {
                if ts_kw.is_some() {
                    return Err(PyTypeError::new_err(
                        "append(ts, obj) got a ts= keyword as well; pass the timestamp once",
                    ));
                }
                (coerce::ts(&t)?, o)
            }
            (Arg::Given(o), Arg::Missing) => match ts_kw {
                Some(t) => (coerce::ts(&t)?, o),
                None => (now_ts(open.unit), o),
            },
        };
        append_one(self, py, open, t, obj)
    }

    /// `log[ts] = obj`: appends a record (never replaces).
    fn __setitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>, obj: Bound<'_, PyAny>) -> PyResult<()> {
        let g = self.open()?;
        let open = &*g;
        if key.is_instance_of::<PySlice>() {
            return Err(PyTypeError::new_err(
                "slice assignment is not supported; use log[ts] = obj or extend()",
            ));
        }
        let t = coerce::ts(key)?;
        append_one(self, py, open, t, obj)
    }

    /// Appends many records as one atomic batch: `extend(pairs)` or
    /// `extend(timestamps, objects)`. With `insert_on_error=True` (default),
    /// records whose timestamp has the wrong type or is out of int64 range are
    /// skipped (counted in `extend_skipped`, one RuntimeWarning per call); any other
    /// error (non-pair item, floor violation, length mismatch, iterator error)
    /// raises and inserts nothing. With `insert_on_error=False` every record is
    /// validated first and any error raises, inserting nothing. An Arrow object
    /// (`__arrow_c_stream__`/`__arrow_c_array__`: a pyarrow Table, a polars
    /// DataFrame, ...) with a `ts` column (int64 or timestamp) and an optional `value`
    /// column is appended one atomic batch per record batch (see docs/api.md, "Arrow").
    #[pyo3(signature = (ts_or_iterable, objects = None, *, mostly_ordered = None, insert_on_error = None))]
    fn extend(
        &self,
        py: Python<'_>,
        ts_or_iterable: &Bound<'_, PyAny>,
        objects: Option<&Bound<'_, PyAny>>,
        mostly_ordered: Option<&Bound<'_, PyAny>>,
        insert_on_error: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let _ = mostly_ordered; // accepted for compatibility; order never matters
        let g = self.open()?;
        let open = &*g;
        let lenient = match insert_on_error {
            None => true,
            Some(v) => v.is_truthy()?,
        };
        if objects.is_none() && arrow_import::is_arrow(ts_or_iterable) {
            // Arrow data (pyarrow, polars, ...): one atomic batch per record batch. A
            // busy error (the batch IS stored) is raised once every batch is stored.
            let mut busy = None;
            arrow_import::extend(ts_or_iterable, open.unit, open.floor, |ts, objs| {
                match insert_batch(self, py, open, ts, objs) {
                    Err(e) if e.is_instance_of::<TimelogBusyError>(py) => {
                        busy.get_or_insert(e);
                        Ok(())
                    }
                    other => other,
                }
            })?;
            return busy.map_or(Ok(()), Err);
        }
        let batch = match objects {
            None => ingest::pairs(ts_or_iterable, lenient, open.floor)?,
            Some(objs) => ingest::columns(ts_or_iterable, objs, lenient, open.floor)?,
        };
        let skipped = batch.skipped;
        // The batch is stored even when the busy policy raises: count and report the
        // skipped records in every case.
        let stored = insert_batch(self, py, open, batch.ts, batch.objs);
        if skipped > 0 {
            self.extend_skipped.fetch_add(skipped as u64, Ordering::Relaxed);
            let warned = ingest::warn_skipped(py, skipped);
            if stored.is_ok() {
                warned?;
            }
        }
        stored
    }

    /// Typed fast path: `timestamps` is a 1-D C-contiguous native int64 buffer
    /// (numpy int64 array, `array.array('q')`, memoryview), `objects` a sequence of
    /// the same length. One atomic batch; nothing is inserted on any error.
    #[pyo3(signature = (timestamps, objects, /, *, mostly_ordered = None))]
    fn bulk_append(
        &self,
        py: Python<'_>,
        timestamps: &Bound<'_, PyAny>,
        objects: &Bound<'_, PyAny>,
        mostly_ordered: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let _ = mostly_ordered;
        let g = self.open()?;
        let open = &*g;
        ingest::reject_text_objects(objects)?;
        let ts = ingest::int64_buffer(timestamps)?;
        let objs = ingest::sequence_objects(objects, ts.len())?;
        if let Some(f) = open.floor {
            if let Some(i) = ts.iter().position(|&t| t < f) {
                return Err(PyValueError::new_err(format!(
                    "timestamp {} at index {i} is below min_ts boundary ({f})",
                    ts[i]
                )));
            }
        }
        insert_batch(self, py, open, ts, objs)
    }

    /// `delete(ts)` deletes the records at `ts`; `delete(t1, t2)` those in `[t1, t2)`.
    /// Deletes hide only records written before them. `t1 > t2` raises ValueError;
    /// a point delete at TL_TS_MAX raises ValueError.
    #[pyo3(signature = (t1, t2 = None))]
    fn delete(&self, py: Python<'_>, t1: &Bound<'_, PyAny>, t2: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let g = self.open()?;
        let open = &*g;
        let a = coerce::ts(t1)?;
        match coerce::opt_ts(t2)? {
            None => delete_point(self, py, open, a),
            Some(b) => delete_checked(self, py, open, a, b),
        }
    }

    /// `del log[ts]` or `del log[t1:t2]` (missing bounds: TL_TS_MIN / TL_TS_MAX, exclusive).
    fn __delitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let g = self.open()?;
        let open = &*g;
        if let Ok(s) = key.cast::<PySlice>() {
            let (a, b) = coerce::slice_bounds(s)?;
            delete_checked(self, py, open, a.unwrap_or(TS_MIN), b.unwrap_or(TS_MAX))
        } else {
            let t = coerce::ts(key)?;
            delete_point(self, py, open, t)
        }
    }

    /// Deletes every record below `ts` (tombstone over `[TL_TS_MIN, ts)`).
    fn cutoff(&self, py: Python<'_>, ts: &Bound<'_, PyAny>) -> PyResult<()> {
        let g = self.open()?;
        let open = &*g;
        let t = coerce::ts(ts)?;
        delete_checked(self, py, open, TS_MIN, t)
    }

    /// Native form of `delete(t1, t2)` (positional only).
    #[pyo3(signature = (t1, t2, /))]
    fn delete_range(&self, py: Python<'_>, t1: &Bound<'_, PyAny>, t2: &Bound<'_, PyAny>) -> PyResult<()> {
        let g = self.open()?;
        let open = &*g;
        let (a, b) = (coerce::ts(t1)?, coerce::ts(t2)?);
        delete_checked(self, py, open, a, b)
    }

    /// Native form of `cutoff(ts)` (positional only).
    #[pyo3(signature = (ts, /))]
    fn delete_before(&self, py: Python<'_>, ts: &Bound<'_, PyAny>) -> PyResult<()> {
        self.cutoff(py, ts)
    }
}
