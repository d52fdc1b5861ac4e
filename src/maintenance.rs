//! The maintenance step and the adaptive window controller.
//!
//! Flushes ([`crate::memrun`]) are serialised by one mutex (`Inner::flush_lock`)
//! and compactions ([`crate::compaction`]) by another (`Inner::compact_lock`), so a
//! long compaction never holds up the flushes that keep writers out of
//! backpressure. Neither lock is on the write or read path. Builds run on rayon;
//! results are installed with one manifest CAS each, so readers and writers never
//! wait for maintenance. A flush only appends L0 segments and a compaction only
//! removes the oldest ones, so the two commute. The background threads' loop is
//! in `timelog.rs` (`Inner::worker_loop`).

use crate::config::{AdaptiveConfig, Config};
use crate::cursor::Range;
use crate::segment::{Level, Segment, Window};
use crate::sync::Ordering;
use crate::timelog::Inner;
use crate::Value;

/// Shortest time between two background calls of [`Inner::release_memory`].
const RELEASE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// State owned by whoever holds the maintenance lock.
pub(crate) struct MaintState {
    pub(crate) window: i64,
    adaptive: AdaptiveConfig,
    adaptive_on: bool,
    ewma: f64,
    flushes: u64,
    since_sample: u64,
    pub(crate) failures: u64,
    /// When the allocator was last asked to release free memory.
    last_release: Option<std::time::Instant>,
    /// Tombstones at the last survey for dead segments, and when it ran.
    pub(crate) surveyed_tombs: usize,
    pub(crate) last_survey: Option<std::time::Instant>,
}

/// What `stats()` shows of the controller.
pub(crate) struct MaintReport {
    pub window: i64,
    pub ewma_density: f64,
    pub flushes: u64,
    pub failures: u64,
}

impl MaintState {
    pub(crate) fn new(cfg: &Config) -> Self {
        MaintState {
            window: cfg.window_size,
            adaptive: cfg.adaptive,
            adaptive_on: cfg.adaptive.target_records > 0,
            ewma: 0.0,
            flushes: 0,
            since_sample: 0,
            failures: 0,
            last_release: None,
            surveyed_tombs: 0,
            last_survey: None,
        }
    }

    pub(crate) fn report(&self) -> MaintReport {
        MaintReport {
            window: if self.adaptive_on { self.window } else { 0 },
            ewma_density: self.ewma,
            flushes: self.flushes,
            failures: self.failures,
        }
    }

    /// Feeds one flushed segment's density (records per time unit) to the controller.
    pub(crate) fn observe(&mut self, records: usize, span: i128) {
        if !self.adaptive_on {
            return;
        }
        self.flushes += 1;
        let a = &self.adaptive;
        // A flush of fewer than two records, or of a single timestamp, says nothing
        // about density; after `stale_flushes` of those in a row the estimate is
        // forgotten and rebuilt from the next real sample.
        if records < 2 || span <= 1 {
            self.since_sample += 1;
            if a.stale_flushes > 0 && self.since_sample >= a.stale_flushes as u64 {
                self.ewma = 0.0;
            }
            return;
        }
        self.since_sample = 0;
        let sample = records as f64 / (span.max(1) as f64);
        let alpha = if a.alpha > 0.0 { a.alpha } else { 0.2 };
        self.ewma = if self.ewma == 0.0 { sample } else { alpha * sample + (1.0 - alpha) * self.ewma };
        if self.flushes < a.warmup_flushes as u64 || self.ewma <= 0.0 {
            return;
        }
        let mut want = (a.target_records as f64 / self.ewma).clamp(1.0, i64::MAX as f64 / 4.0) as i64;
        if a.min_window > 0 {
            want = want.max(a.min_window);
        }
        if a.max_window > 0 {
            want = want.min(a.max_window);
        }
        if a.window_quantum > 1 {
            want = ((want + a.window_quantum - 1) / a.window_quantum).max(1) * a.window_quantum;
        }
        let cur = self.window as f64;
        let change = ((want as f64 - cur) / cur).abs() * 100.0;
        if change > a.hysteresis_pct as f64 {
            self.window = want.max(1);
        }
    }

    pub(crate) fn compaction_failed(&mut self) {
        self.failures += 1;
        let a = &self.adaptive;
        if self.adaptive_on
            && a.failure_backoff_threshold > 0
            && self.failures >= a.failure_backoff_threshold as u64
        {
            let grown = self.window as i128 * (100 + a.failure_backoff_pct as i128) / 100;
            let mut w = grown.clamp(1, i64::MAX as i128 / 4) as i64;
            if a.max_window > 0 {
                w = w.min(a.max_window);
            }
            self.window = w;
            self.failures = 0;
        }
    }
}

impl<V: Value> Inner<V> {
    /// Drains `iter` into segments of at most about `max_records` records each. A cut
    /// never separates equal timestamps, so the segments do not overlap.
    pub(crate) fn collect_segments(
        &self,
        mut iter: Range<'_, V>,
        max_records: usize,
        applied: u64,
        level: Level,
        window: Option<Window>,
    ) -> Vec<Segment<V>> {
        let page_len = self.page_len();
        let (_, upper) = iter.size_hint();
        let cap = upper.unwrap_or(0).min(max_records);
        let mut out = Vec::new();
        let mut carry: Option<(i64, V)> = None;
        loop {
            let mut ts: Vec<i64> = Vec::with_capacity(cap);
            let mut vals: Vec<V> = Vec::with_capacity(cap);
            if let Some((t, v)) = carry.take() {
                ts.push(t);
                vals.push(v);
            }
            carry = iter.drain_into(&mut ts, &mut vals, max_records);
            if !ts.is_empty() {
                // Give back room the records did not use (deleted or hidden ones).
                ts.shrink_to_fit();
                vals.shrink_to_fit();
                out.push(Segment::new(self.segment_id(), ts, vals, page_len, applied, level, window));
            }
            if carry.is_none() {
                return out;
            }
        }
    }

    pub(crate) fn page_len(&self) -> usize {
        self.cfg.page_records(std::mem::size_of::<V>())
    }

    pub(crate) fn segment_id(&self) -> u64 {
        self.next_segment_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Largest L1 segment a compaction writes, in records (a window holding more
    /// is split into several non-overlapping segments, so that a compaction only
    /// rewrites the stretch its inputs overlap).
    pub(crate) fn l1_segment_records(&self) -> usize {
        self.page_len() * 64
    }

    /// Frees what maintenance retired (epoch garbage: replaced manifests and the
    /// segments, memruns and values only they held) and asks the allocator to
    /// return free pages to the system. Without `force`, at most once per
    /// [`RELEASE_INTERVAL`]: the allocator's walk costs about a millisecond per
    /// hundred megabytes of heap, and holds its locks meanwhile.
    pub(crate) fn release_memory(&self, force: bool) {
        {
            let mut st = self.maint.lock();
            let now = std::time::Instant::now();
            if !force && st.last_release.is_some_and(|t| now.duration_since(t) < RELEASE_INTERVAL) {
                return;
            }
            st.last_release = Some(now);
        }
        self.manifest.reclaim();
        crate::hint::release_free_memory();
    }

    /// One unit of maintenance; `true` if there was work.
    pub(crate) fn step(&self) -> bool {
        self.flush_memruns(false) || self.compact_once(false)
    }

    /// Flushes the memruns that are complete; `true` if there were any.
    pub(crate) fn flush_memruns(&self, wait: bool) -> bool {
        let _f = self.flush_lock.lock();
        self.flush_memruns_locked(wait)
    }

    /// Whether a compaction is due.
    pub(crate) fn compaction_due(&self) -> bool {
        self.compact_requested.load(Ordering::Acquire)
            || self.manifest.current().l0.len() > self.cfg.max_l0_segments
            || self.cfg.delete_debt_threshold > 0.0
            || self.tombs_changed.load(Ordering::Acquire)
    }
}
