//! Counters and the [`Stats`] report.

use crate::sync::{AtomicU64, Ordering};

/// Cumulative counters kept by the engine (all relaxed: they are statistics).
#[derive(Default)]
pub(crate) struct Counters {
    pub seals: AtomicU64,
    pub ooo_budget_hits: AtomicU64,
    pub backpressure_waits: AtomicU64,
    pub backpressure_events: AtomicU64,
    pub flushes: AtomicU64,
    pub compactions: AtomicU64,
    pub compaction_retries: AtomicU64,
    pub select_calls: AtomicU64,
    pub select_l0_inputs: AtomicU64,
    pub select_l1_inputs: AtomicU64,
    pub select_no_work: AtomicU64,
    pub segments_dropped: AtomicU64,
    pub flushed_records: AtomicU64,
    pub compacted_records: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(c: &AtomicU64, by: u64) {
        c.fetch_add(by, Ordering::Relaxed);
    }
    pub(crate) fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// A report on the log's layers and activity (see [`Timelog::stats`](crate::Timelog::stats)).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// L0 segments (flushed, may overlap).
    pub l0_segments: usize,
    /// L1 segments (compacted, windowed, never overlapping).
    pub l1_segments: usize,
    /// Pages across all segments.
    pub pages: usize,
    /// Exact number of visible records (tombstones applied).
    pub records: usize,
    /// Smallest stored timestamp (records only, including deleted-but-not-yet-compacted ones).
    pub min_ts: Option<i64>,
    /// Largest stored timestamp (same rule as `min_ts`).
    pub max_ts: Option<i64>,
    /// Tombstones still tracked.
    pub tombstones: usize,
    /// Records in the active memtable's in-order runs.
    pub memtable_records: usize,
    /// Records in the active memtable that arrived out of order for their writer
    /// (held in its late piles and its skiplist).
    pub memtable_ooo_records: usize,
    /// Sealed memtables waiting for flush.
    pub sealed_memruns: usize,
    /// Memtable seals since creation.
    pub seals: u64,
    /// Seals forced by the out-of-order budget.
    pub ooo_budget_hits: u64,
    /// Times a writer waited for the sealed queue to drain.
    pub backpressure_waits: u64,
    /// Writes that reported backpressure.
    pub backpressure_events: u64,
    /// Memruns flushed to L0.
    pub flushes: u64,
    /// Completed compactions.
    pub compactions: u64,
    /// Compaction publish retries (the manifest changed under it).
    pub compaction_retries: u64,
    /// Compaction selection attempts.
    pub select_calls: u64,
    /// L0 inputs selected, in total.
    pub select_l0_inputs: u64,
    /// L1 inputs selected, in total.
    pub select_l1_inputs: u64,
    /// Selections that found nothing to do.
    pub select_no_work: u64,
    /// Current L1 window size.
    pub window: i64,
    /// Smoothed records per time unit seen by the adaptive controller.
    pub ewma_density: f64,
    /// Flushes seen by the adaptive controller.
    pub adaptive_flushes: u64,
    /// Consecutive compaction failures seen by the adaptive controller.
    pub adaptive_failures: u64,
    /// Approximate bytes held by segments and memtables.
    pub memory_bytes: usize,
    /// Records stored but hidden by tombstones (waiting for their segment to be
    /// dropped or rewritten, or their memtable to be flushed). `records +
    /// dead_records` is what the log holds.
    pub dead_records: usize,
    /// The part of `memory_bytes` held by visible records (each segment's and
    /// memtable's bytes shared out in proportion to its records).
    pub live_bytes: usize,
    /// The part of `memory_bytes` held by deleted records (`memory_bytes -
    /// live_bytes`). See `docs/architecture.md`, "Deleted data", for its bound.
    pub dead_bytes: usize,
    /// Segments dropped whole, without a rewrite, because every record in them
    /// was deleted.
    pub segments_dropped: u64,
    /// Records written into L0 segments by flushes, in total.
    pub flushed_records: u64,
    /// Records written into L1 segments by compactions (including rewrites of
    /// partly deleted segments), in total. With `flushed_records`, the write
    /// amplification: `(flushed_records + compacted_records) / records written`.
    pub compacted_records: u64,
}
