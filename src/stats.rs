//! The [`Stats`] report, collected from the store's layers and counters.

use crate::counters::Counters;
use crate::memtable::Memtable;
use crate::snapshot::{Range, Snapshot};
use crate::store::Store;
use crate::Value;

/// A report on the log's layers and activity (see [`Timelog::stats`](crate::Timelog::stats)).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// L0 segments (flushed, may overlap).
    pub l0_segments: usize,
    /// L1 segments (compacted, windowed, never overlapping).
    pub l1_segments: usize,
    /// Patches: segments of late records that compaction laid over L1 segments
    /// instead of rewriting them (each inside one window; they overlap L1 and
    /// each other, and reads merge them in). Written ones are packed like L1;
    /// adopted ones are L0 segments taken over as they are. A full compaction
    /// merges them into L1.
    pub patch_segments: usize,
    /// The highest merge rank of any patch (0 without patches). Overlapping
    /// patches have distinct ranks, so no more than this many overlap at any
    /// timestamp: a read merges at most this many patches besides L1, L0 and
    /// the memtables. At most 4.
    pub patch_depth: usize,
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
    /// Compaction rounds put off because an archive was between its export and
    /// its delete over their inputs ([`Timelog::archive`](crate::Timelog::archive)).
    pub compactions_fenced: u64,
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
    /// Records written into L1 segments and patches by compactions (including
    /// rewrites of partly deleted segments), in total. With `flushed_records`,
    /// the write amplification: `(flushed_records + compacted_records) / records
    /// written`.
    pub compacted_records: u64,
    /// Of `compacted_records`, the records written as patches.
    pub patched_records: u64,
    /// Records of L0 segments that compactions laid over L1 as patches without
    /// writing them again (not part of `compacted_records`).
    pub adopted_records: u64,
    /// Of `compacted_records`, the records rewritten to merge small neighbouring
    /// L1 segments of a window (left by small flushes), so that the number of
    /// segments follows the data.
    pub tidied_records: u64,
    /// Segments the log no longer uses that are still alive because snapshots,
    /// cursors or exported Arrow batches hold them (they hold back reclamation until
    /// dropped). While a flush or compaction runs, the segments it has built but not
    /// published yet count here too.
    pub pinned_segments: usize,
    /// The bytes of `pinned_segments` (not part of `memory_bytes`).
    pub pinned_bytes: usize,
}

/// What `stats()` shows of the window controller.
pub(crate) struct WindowReport {
    pub window: i64,
    pub ewma_density: f64,
    pub flushes: u64,
    pub failures: u64,
}

/// The [`Stats`] report of `store` (`window`: the window controller's part).
pub(crate) fn collect<V: Value>(store: &Store<V>, window: WindowReport) -> Stats {
    let snap = store.snapshot();
    let m = &snap.m;
    let st = window;
    let segs = || m.segments();
    let mut min_ts = segs().map(|s| s.min_ts()).min();
    let mut max_ts = segs().map(|s| s.max_ts()).max();
    let mut mem_bytes = 0;
    // Live and dead records and bytes: each source's bytes shared out in
    // proportion to its visible and hidden records.
    let pieces = snap.pieces(i64::MIN, i64::MAX);
    let (mut dead_records, mut dead_bytes) = (0usize, 0usize);
    let mut share = |stored: usize, visible: usize, bytes: usize| {
        let dead = stored.saturating_sub(visible);
        dead_records += dead;
        if stored > 0 {
            dead_bytes += (bytes as u128 * dead as u128 / stored as u128) as usize;
        }
    };
    for s in segs() {
        share(s.len(), s.count(i64::MIN, i64::MAX, &pieces), s.bytes());
    }
    for mt in m.memruns.iter().chain(std::iter::once(&m.active)) {
        mem_bytes += mt.bytes();
        let mut stored = 0;
        for (t, _) in mem_records(&snap, mt) {
            stored += 1;
            min_ts = Some(min_ts.map_or(t, |x: i64| x.min(t)));
            max_ts = Some(max_ts.map_or(t, |x: i64| x.max(t)));
        }
        let mut srcs = Vec::new();
        mt.sources(i64::MIN, i64::MAX, &mut srcs);
        let visible = Range::new(srcs, pieces.clone(), snap.w).count();
        share(stored, visible, mt.bytes());
    }
    let memory_bytes = segs().map(|s| s.bytes()).sum::<usize>() + mem_bytes;
    let (runs, ooo) = m.active.record_split();
    let (alive, alive_bytes) = store.tally.get();
    let published = segs().count() as u64;
    let published_bytes = segs().map(|s| s.bytes() as u64).sum::<u64>();
    let c = &store.counters;
    Stats {
        l0_segments: m.l0.len(),
        l1_segments: m.l1.len(),
        patch_segments: m.patches.len(),
        patch_depth: m.patches.rank_max() as usize,
        pages: segs().map(|s| s.page_count()).sum(),
        records: snap.count(..),
        min_ts,
        max_ts,
        tombstones: m.tombs.len()
            + m.memruns.iter().chain(std::iter::once(&m.active)).map(|mt| mt.tomb_count()).sum::<usize>(),
        memtable_records: runs,
        memtable_ooo_records: ooo,
        sealed_memruns: m.memruns.len(),
        seals: Counters::get(&c.seals),
        ooo_budget_hits: Counters::get(&c.ooo_budget_hits),
        backpressure_waits: Counters::get(&c.backpressure_waits),
        backpressure_events: Counters::get(&c.backpressure_events),
        flushes: Counters::get(&c.flushes),
        compactions: Counters::get(&c.compactions),
        compaction_retries: Counters::get(&c.compaction_retries),
        compactions_fenced: Counters::get(&c.compactions_fenced),
        select_calls: Counters::get(&c.select_calls),
        select_l0_inputs: Counters::get(&c.select_l0_inputs),
        select_l1_inputs: Counters::get(&c.select_l1_inputs),
        select_no_work: Counters::get(&c.select_no_work),
        window: st.window,
        ewma_density: st.ewma_density,
        adaptive_flushes: st.flushes,
        adaptive_failures: st.failures,
        memory_bytes,
        dead_records,
        live_bytes: memory_bytes.saturating_sub(dead_bytes),
        dead_bytes,
        segments_dropped: Counters::get(&c.segments_dropped),
        flushed_records: Counters::get(&c.flushed_records),
        compacted_records: Counters::get(&c.compacted_records),
        patched_records: Counters::get(&c.patched_records),
        adopted_records: Counters::get(&c.adopted_records),
        tidied_records: Counters::get(&c.tidied_records),
        pinned_segments: alive.saturating_sub(published) as usize,
        pinned_bytes: alive_bytes.saturating_sub(published_bytes) as usize,
    }
}

/// Records of one memtable of `snap` below its watermark (deleted or not).
fn mem_records<'a, V: Value>(snap: &'a Snapshot<V>, mt: &'a Memtable<V>) -> Range<'a, V> {
    let mut srcs = Vec::new();
    mt.sources(i64::MIN, i64::MAX, &mut srcs);
    Range::new(srcs, Vec::new(), snap.w)
}
