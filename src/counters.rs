//! The engine's cumulative activity counters, bumped by the pipeline stages and
//! read into [`Stats`](crate::Stats).

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
    pub compactions_fenced: AtomicU64,
    pub select_calls: AtomicU64,
    pub select_l0_inputs: AtomicU64,
    pub select_l1_inputs: AtomicU64,
    pub select_no_work: AtomicU64,
    pub segments_dropped: AtomicU64,
    pub flushed_records: AtomicU64,
    pub compacted_records: AtomicU64,
    pub patched_records: AtomicU64,
    pub adopted_records: AtomicU64,
    pub tidied_records: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(c: &AtomicU64, by: u64) {
        c.fetch_add(by, Ordering::Relaxed);
    }
    pub(crate) fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}
