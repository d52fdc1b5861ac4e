//! [`RecordBatches`]: an owning reader of Arrow record batches over a snapshot range.

use std::ops::Range as Span;

use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions, RecordBatchReader};
use arrow_buffer::ScalarBuffer;
use arrow_schema::{ArrowError, SchemaRef};

use super::memory::{keep, Shared};
use super::value::{arrow_err, Native, ValueEncoder};
use super::{ts_array, ExportOptions};
use crate::error::{Error, Result};
use crate::snapshot::Cursor;

/// An owning reader of Arrow [`RecordBatch`]es over one snapshot range, made by
/// [`Snapshot::record_batches`](crate::Snapshot::record_batches) (or `_with`, for an
/// encoder of your own). It holds the snapshot, so it is `Send + 'static` and
/// outlives the log; dropping it (and the batches it handed out) releases what it
/// pins.
///
/// Rows come exactly as [`Snapshot::range`](crate::Snapshot::range) yields them:
/// ascending timestamps, equal timestamps in insertion order, deleted records left
/// out. Long stretches of one compacted segment become batches whose `ts` (and, for
/// integer and float payloads, `value`) columns share the segment's memory; records
/// that interleave across sources (memtables, overlapping L0 segments) are merged
/// into new buffers, coalesced to the target row count. A batch ends early only at
/// the edge of such a stretch, at the end of the range, or where a variable-width
/// column would pass the byte limit (its 32-bit offsets).
///
/// It is an [`Iterator`] of `Result<RecordBatch, ArrowError>` and an Arrow
/// [`RecordBatchReader`], so it can be handed to anything that reads those, or
/// exported through the C stream interface ([`RecordBatches::into_ffi_stream`]).
pub struct RecordBatches<V, E = Native<V>> {
    cur: Option<Cursor<V>>,
    enc: E,
    schema: SchemaRef,
    opts: ExportOptions,
    has_value: bool,
    /// Stretches copied into the next batch: (source, positions).
    pending: Vec<(usize, Span<usize>)>,
    rows: usize,
    bytes: usize,
    /// What a stretch left when the batch it was cut into filled up.
    carry: Option<(usize, Span<usize>)>,
    /// The shortest stretch of a segment that becomes a batch of its own.
    min_share: usize,
}

impl<V: crate::Value, E: ValueEncoder<V>> RecordBatches<V, E> {
    pub(crate) fn new(cur: Option<Cursor<V>>, enc: E, opts: ExportOptions) -> Self {
        let field = enc.field();
        let has_value = field.is_some();
        let schema = super::schema(&opts, field);
        let min_share = (opts.batch_rows / 16).clamp(1, 4096);
        RecordBatches {
            cur,
            enc,
            schema,
            opts,
            has_value,
            pending: Vec::new(),
            rows: 0,
            bytes: 0,
            carry: None,
            min_share,
        }
    }

    /// The schema of every batch: `ts`, then `value` (unless the payload has no
    /// column), with the sort order in its metadata (see [`super::SORTED_BY`]).
    pub fn schema_ref(&self) -> &SchemaRef {
        &self.schema
    }

    /// Rows not handed out yet (exact).
    pub fn remaining_rows(&self) -> usize {
        let carried = self.carry.as_ref().map_or(0, |(_, r)| r.len());
        self.cur.as_ref().map_or(0, |c| c.remaining()) + self.rows + carried
    }

    /// Exports the reader through the Arrow C stream interface, for any consumer
    /// of `ArrowArrayStream` (pyarrow, DuckDB, polars, another process's Arrow).
    pub fn into_ffi_stream(self) -> arrow_array::ffi_stream::FFI_ArrowArrayStream
    where
        V: Send + Sync,
    {
        arrow_array::ffi_stream::FFI_ArrowArrayStream::new(Box::new(self))
    }

    /// The next batch, or `None` at the end of the range.
    fn next_batch(&mut self) -> Option<Result<RecordBatch>> {
        let target = self.opts.batch_rows;
        let max_bytes = self.opts.max_batch_bytes;
        // Timestamps of long segment stretches are always shared (when zero copy is
        // on); values too where the encoder can.
        let share = self.opts.zero_copy;
        while let Some(cur) = self.cur.as_mut() {
            let (i, r) = match self.carry.take() {
                Some(c) => c,
                None => match cur.next_chunk(target - self.rows) {
                    Some(c) => c,
                    None => break,
                },
            };
            // A stretch of a segment long enough to stand alone is shared, never
            // copied whole: rows copied before it end their batch first, topped up from
            // the stretch's head to at least `min_share` rows so that batches stay large.
            let mut stop = r.end;
            if share && r.len() >= self.min_share && cur.source(i).2.is_some() {
                if self.rows == 0 {
                    let seg = cur.source(i).2.expect("checked").clone();
                    if let Some(b) = self.shared_batch(&seg, r.clone()) {
                        return Some(b);
                    }
                    // The encoder declined: the stretch is copied below.
                } else if self.rows >= self.min_share {
                    self.carry = Some((i, r));
                    return Some(self.copied_batch());
                } else if r.len() - (self.min_share - self.rows) >= self.min_share {
                    stop = r.start + (self.min_share - self.rows);
                }
            }
            let (_, vals, _) = self.cur.as_ref().expect("a stretch comes from a cursor").source(i);
            // Cut where the variable-width bytes would pass the limit.
            let mut end = stop;
            if self.has_value {
                for (k, v) in vals[r.start..stop].iter().enumerate() {
                    let b = self.enc.data_bytes(v);
                    if self.bytes + b > max_bytes {
                        if self.rows + k == 0 {
                            return Some(Err(Error::Arrow(format!(
                                "one value holds {b} bytes, more than a batch's column may hold ({max_bytes})"
                            ))));
                        }
                        end = r.start + k;
                        break;
                    }
                    self.bytes += b;
                }
            }
            if end > r.start {
                self.pending.push((i, r.start..end));
                self.rows += end - r.start;
            }
            if end < r.end {
                self.carry = Some((i, end..r.end));
                return Some(self.copied_batch());
            }
            if self.rows >= target {
                return Some(self.copied_batch());
            }
        }
        if self.rows > 0 {
            return Some(self.copied_batch());
        }
        // The end: release the snapshot at once, not when the reader is dropped.
        self.cur = None;
        None
    }

    /// A batch of records `r` of one segment: its timestamps shared, its values
    /// shared where the encoder can and copied otherwise; `None` to copy the stretch
    /// instead (its variable-width bytes pass the batch limit).
    fn shared_batch(
        &mut self,
        seg: &crate::sync::Arc<crate::segment::Segment<V>>,
        r: Span<usize>,
    ) -> Option<Result<RecordBatch>> {
        let owner = keep(seg.clone());
        // A packed column is decoded for the batch; a plain one is shared.
        let ts = match seg.ts().as_slice() {
            Some(ts) => Shared::new(&ts[r.clone()], &owner).buffer(),
            None => ScalarBuffer::from(seg.ts_range(r.clone()).into_owned()),
        };
        let mut cols: Vec<ArrayRef> = vec![ts_array(ts, &self.opts)];
        if self.has_value {
            let vals = &seg.vals()[r.clone()];
            let shared = if self.enc.can_share() { self.enc.share(Shared::new(vals, &owner)) } else { None };
            let v = match shared {
                Some(v) => v,
                None => {
                    // The values are copied, the timestamps still shared; a stretch
                    // whose variable-width bytes pass the limit goes to the copy path,
                    // which cuts it.
                    let bytes: usize = vals.iter().map(|v| self.enc.data_bytes(v)).sum();
                    if bytes > self.opts.max_batch_bytes {
                        return None;
                    }
                    let refs: Vec<&V> = vals.iter().collect();
                    match self.enc.encode(&refs) {
                        Ok(a) => a,
                        Err(e) => return Some(Err(e)),
                    }
                }
            };
            cols.push(v);
        }
        Some(self.finish(cols, r.len()))
    }

    /// The batch of the pending stretches, copied.
    fn copied_batch(&mut self) -> Result<RecordBatch> {
        let cur = self.cur.as_ref().expect("pending rows come from a cursor");
        let mut ts: Vec<i64> = Vec::with_capacity(self.rows);
        let mut vals: Vec<&V> = Vec::with_capacity(if self.has_value { self.rows } else { 0 });
        for (i, r) in self.pending.drain(..) {
            let (t, v, _) = cur.source(i);
            t.decode_range(r.start, r.end, &mut ts);
            if self.has_value {
                vals.extend(&v[r]);
            }
        }
        let n = ts.len();
        self.rows = 0;
        self.bytes = 0;
        let mut cols: Vec<ArrayRef> = vec![ts_array(ScalarBuffer::from(ts), &self.opts)];
        if self.has_value {
            match self.enc.encode(&vals) {
                Ok(a) => cols.push(a),
                Err(e) => return Err(e),
            }
        }
        drop(vals);
        self.finish(cols, n)
    }

    fn finish(&self, cols: Vec<ArrayRef>, rows: usize) -> Result<RecordBatch> {
        let opts = RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(self.schema.clone(), cols, &opts).map_err(arrow_err)
    }
}

impl<V: crate::Value, E: ValueEncoder<V>> Iterator for RecordBatches<V, E> {
    type Item = std::result::Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_batch().map(|r| r.map_err(|e| ArrowError::ExternalError(Box::new(e))))
    }
}

impl<V: crate::Value, E: ValueEncoder<V>> RecordBatchReader for RecordBatches<V, E> {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

impl<V, E> std::fmt::Debug for RecordBatches<V, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordBatches").field("schema", &self.schema).finish_non_exhaustive()
    }
}
