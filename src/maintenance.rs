//! Flush (memruns → L0), compaction (L0 + overlapping L1 → windowed L1), the
//! adaptive window controller, and the maintenance step the worker runs.
//!
//! Flushes are serialised by one mutex (`Inner::flush_lock`) and compactions by
//! another (`Inner::compact_lock`), so a long compaction never holds up the
//! flushes that keep writers out of backpressure. Neither lock is on the write or
//! read path. Builds run on rayon; results are installed with one manifest CAS
//! each, so readers and writers never wait for maintenance. A flush only appends
//! L0 segments and a compaction only removes the oldest ones, so the two commute.

use rayon::prelude::*;

use crate::config::{AdaptiveConfig, Config};
use crate::cursor::{ts_bounds, Range};
use crate::manifest::Manifest;
use crate::memtable::Memtable;
use crate::segment::{Level, Segment, Window};
use crate::snapshot::Snapshot;
use crate::stats::Counters;
use crate::sync::{wait_until, Arc, Ordering};
use crate::timelog::Inner;
use crate::tombstone::{Tomb, TombIndex};
use crate::Value;

/// State owned by whoever holds the maintenance lock.
pub(crate) struct MaintState {
    pub(crate) window: i64,
    adaptive: AdaptiveConfig,
    adaptive_on: bool,
    ewma: f64,
    flushes: u64,
    since_sample: u64,
    failures: u64,
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
    fn observe(&mut self, records: usize, span: i128) {
        if !self.adaptive_on {
            return;
        }
        self.flushes += 1;
        let a = &self.adaptive;
        if a.stale_flushes > 0 && self.since_sample >= a.stale_flushes as u64 {
            self.ewma = 0.0;
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

    fn compaction_failed(&mut self) {
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

/// Inclusive bounds of the window (of size `size`, aligned to `origin`) holding `ts`.
pub(crate) fn window_of(ts: i64, size: i64, origin: i64) -> Window {
    let k = (ts as i128 - origin as i128).div_euclid(size as i128);
    let lo = origin as i128 + k * size as i128;
    let hi = lo + size as i128 - 1;
    Window { lo: lo.max(i64::MIN as i128) as i64, hi: hi.min(i64::MAX as i128) as i64, size }
}

/// Whether `w` is a window of the partition of size `w.size` aligned to `origin`.
pub(crate) fn is_aligned(w: Window, origin: i64) -> bool {
    w.size > 0 && window_of(w.lo, w.size, origin) == w
}

/// Drains `iter` into segments of at most about `max_records` records each. A cut
/// never separates equal timestamps, so the segments do not overlap.
fn collect_segments<V: Value>(
    next_id: &dyn Fn() -> u64,
    iter: Range<'_, V>,
    page_len: usize,
    max_records: usize,
    applied: u64,
    level: Level,
    window: Option<Window>,
) -> Vec<Segment<V>> {
    let (lower, _) = iter.size_hint();
    let cap = lower.min(max_records);
    let mut out = Vec::new();
    let mut ts: Vec<i64> = Vec::with_capacity(cap);
    let mut vals: Vec<V> = Vec::with_capacity(cap);
    let finish = |ts: &mut Vec<i64>, vals: &mut Vec<V>, out: &mut Vec<Segment<V>>| {
        if !ts.is_empty() {
            let mut t = std::mem::take(ts);
            let mut v = std::mem::take(vals);
            t.shrink_to_fit();
            v.shrink_to_fit();
            out.push(Segment::new(next_id(), t, v, page_len, applied, level, window));
        }
    };
    for (t, v) in iter {
        if ts.len() >= max_records && ts.last() != Some(&t) {
            finish(&mut ts, &mut vals, &mut out);
            ts.reserve(cap);
            vals.reserve(cap);
        }
        ts.push(t);
        vals.push(v.clone());
    }
    finish(&mut ts, &mut vals, &mut out);
    out
}

impl<V: Value> Inner<V> {
    fn page_len(&self) -> usize {
        self.cfg.page_records(std::mem::size_of::<V>())
    }

    fn segment_id(&self) -> u64 {
        self.next_segment_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Largest L1 segment a compaction writes, in records (a window holding more
    /// is split into several non-overlapping segments, so that a compaction only
    /// rewrites the stretch its inputs overlap).
    fn l1_segment_records(&self) -> usize {
        self.page_len() * 64
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
    }

    /// Seals the active memtable (if it holds anything) and flushes every memrun.
    pub(crate) fn flush_all(&self) {
        let _f = self.flush_lock.lock();
        {
            let guard = crossbeam_epoch::pin();
            let m = self.manifest.load(&guard);
            let active = &m.active;
            if !active.is_empty() {
                if active.begin_seal() {
                    let _ = self.seal(active);
                } else {
                    // A writer is sealing it right now: wait for its manifest.
                    let p: *const Memtable<V> = &**active;
                    wait_until(|| !std::ptr::eq(&*self.manifest.load(&guard).active, p));
                }
            }
        }
        while self.flush_memruns_locked(true) {}
        self.notify_room();
    }

    /// Flushes sealed memruns (a prefix of the queue) into L0 segments. With `wait`,
    /// waits for in-flight writers of the oldest memrun; otherwise only flushes the
    /// ones already complete. Returns whether anything was flushed.
    fn flush_memruns_locked(&self, wait: bool) -> bool {
        let mut snap = self.snapshot();
        let Some(first) = snap.m.memruns.first() else {
            return false;
        };
        let first_seal = first.seal_seq().expect("memruns are sealed");
        if first_seal >= snap.w {
            if !wait {
                return false;
            }
            wait_until(|| self.seq.visible() > first_seal);
            snap = self.snapshot();
        }
        let limit = match self.cfg.drain_batch_limit {
            0 => usize::MAX,
            n => n,
        };
        let memruns: Vec<Arc<Memtable<V>>> = snap
            .m
            .memruns
            .iter()
            .take_while(|mr| mr.seal_seq().is_some_and(|s| s < snap.w))
            .take(limit)
            .cloned()
            .collect();
        if memruns.is_empty() {
            return false;
        }
        let page_len = self.page_len();
        let built: Vec<Vec<Segment<V>>> = memruns
            .par_iter()
            .map(|mr| {
                let mut srcs = Vec::new();
                mr.sources(i64::MIN, i64::MAX, &mut srcs);
                let Some((lo, hi)) = ts_bounds(&srcs) else { return Vec::new() };
                let it = Range::new(srcs, snap.pieces(lo, hi), snap.w);
                // One L0 segment per memrun (no size cap), so L0 age order is memrun order.
                collect_segments(&|| self.segment_id(), it, page_len, usize::MAX, snap.w, Level::L0, None)
            })
            .collect();
        let segs: Vec<Arc<Segment<V>>> = built.into_iter().flatten().map(Arc::new).collect();
        {
            let mut st = self.maint.lock();
            for s in &segs {
                st.observe(s.len(), s.max_ts() as i128 - s.min_ts() as i128 + 1);
            }
        }
        let mut new_tombs: Vec<Tomb> = Vec::new();
        for mr in &memruns {
            mr.tombs_below(u64::MAX, &mut new_tombs);
        }
        self.manifest.update(|m| {
            let mut n = m.clone();
            // The flushed memruns are the oldest ones, in order.
            debug_assert!(memruns.iter().zip(&n.memruns).all(|(a, b)| Arc::ptr_eq(a, b)));
            n.memruns.drain(..memruns.len());
            n.l0.extend(segs.iter().cloned());
            if !new_tombs.is_empty() {
                let mut all = n.tombs.tombs().to_vec();
                all.extend_from_slice(&new_tombs);
                n.tombs = Arc::new(TombIndex::new(all));
            }
            Some(n)
        });
        Counters::bump(&self.counters.flushes, memruns.len() as u64);
        drop(snap);
        self.notify_room();
        true
    }

    /// Fraction of stored segment records hidden by tombstones.
    fn delete_debt(&self, snap: &Snapshot<V>) -> f64 {
        let m = &snap.m;
        let total: usize = m.l0.iter().chain(m.l1.iter()).map(|s| s.len()).sum();
        if total == 0 {
            return 0.0;
        }
        let pieces = snap.pieces(i64::MIN, i64::MAX);
        if pieces.is_empty() {
            return 0.0;
        }
        let visible: usize =
            m.l0.iter().chain(m.l1.iter()).map(|s| s.count(i64::MIN, i64::MAX, &pieces)).sum();
        (total - visible) as f64 / total as f64
    }

    /// Runs one compaction if one is due (or `force`d: compact every L0 segment and
    /// every L1 segment holding deleted records); `true` if it did.
    pub(crate) fn compact_once(&self, force: bool) -> bool {
        let _c = self.compact_lock.lock();
        // Take the request before the snapshot: a request made after this point is
        // seen by the next round.
        let requested = force || self.compact_requested.swap(false, Ordering::AcqRel);
        let snap = self.snapshot();
        let m = &snap.m;
        let over = m.l0.len() > self.cfg.max_l0_segments;
        let debt = self.cfg.delete_debt_threshold > 0.0 && {
            let d = self.delete_debt(&snap);
            d > 0.0 && d >= self.cfg.delete_debt_threshold
        };
        if !(requested || over || debt) {
            return false;
        }
        Counters::bump(&self.counters.select_calls, 1);
        let pieces = snap.pieces(i64::MIN, i64::MAX);
        // L0 inputs: the oldest ones (a prefix, so that all remaining L0 segments stay
        // newer than all L1 records), within the caps.
        let caps = self.cfg.compaction;
        let mut k = m.l0.len();
        if caps.max_inputs > 0 {
            k = k.min(caps.max_inputs as usize);
        }
        if caps.target_bytes > 0 {
            let mut bytes = 0u64;
            let mut take = 0;
            for s in &m.l0[..k] {
                take += 1;
                bytes += s.bytes() as u64;
                if bytes >= caps.target_bytes {
                    break;
                }
            }
            k = take;
        }
        // With debt, L1 segments holding deleted records are rewritten as well.
        let mut forced_l1: Vec<usize> = Vec::new();
        if debt || requested {
            for (i, s) in m.l1.iter().enumerate() {
                if !pieces.is_empty() && s.count(i64::MIN, i64::MAX, &pieces) < s.len() {
                    forced_l1.push(i);
                }
            }
        }
        if k == 0 && forced_l1.is_empty() {
            Counters::bump(&self.counters.select_no_work, 1);
            return false;
        }
        let window = self.maint.lock().window;
        let mut plan = self.plan(m, k, &forced_l1, window);
        let mut capped = false;
        while caps.max_windows > 0 && plan.windows.len() > caps.max_windows as usize && k > 1 {
            k -= 1;
            plan = self.plan(m, k, &forced_l1, window);
            capped = true;
        }
        {
            let mut st = self.maint.lock();
            if capped {
                st.compaction_failed();
            } else {
                st.failures = 0;
            }
        }
        Counters::bump(&self.counters.select_l0_inputs, k as u64);
        Counters::bump(&self.counters.select_l1_inputs, plan.l1.len() as u64);
        let page_len = self.page_len();
        let l0_in = &m.l0[..k];
        let l1_in: Vec<&Arc<Segment<V>>> = plan.l1.iter().map(|&i| &m.l1[i]).collect();
        let max_records = self.l1_segment_records();
        let outputs: Vec<Arc<Segment<V>>> = plan
            .windows
            .par_iter()
            .flat_map_iter(|&w| {
                let mut srcs = Vec::new();
                for s in &l1_in {
                    s.sources(w.lo, w.hi, &pieces, 0, &mut srcs);
                }
                for (i, s) in l0_in.iter().enumerate() {
                    s.sources(w.lo, w.hi, &pieces, 1 + i as u32, &mut srcs);
                }
                let it = Range::new(srcs, Vec::new(), snap.w);
                collect_segments(&|| self.segment_id(), it, page_len, max_records, snap.w, Level::L1, Some(w))
                    .into_iter()
                    .map(Arc::new)
            })
            .collect();
        let retries = self.manifest.update(|cur| {
            let mut n: Manifest<V> = cur.clone();
            n.l0.retain(|s| !l0_in.iter().any(|x| Arc::ptr_eq(x, s)));
            n.l1.retain(|s| !l1_in.iter().any(|x| Arc::ptr_eq(x, s)));
            n.l1.extend(outputs.iter().cloned());
            n.l1.sort_by_key(|s| s.min_ts());
            // Tombstones older than every segment's applied sequence can hide nothing
            // any more (memtable records are all newer than indexed tombstones).
            let min_applied = n.l0.iter().chain(n.l1.iter()).map(|s| s.applied_seq).min();
            let keep: Vec<Tomb> = match min_applied {
                None => Vec::new(),
                Some(a) => n.tombs.tombs().iter().filter(|t| t.seq >= a).copied().collect(),
            };
            if keep.len() != n.tombs.tombs().len() {
                n.tombs = Arc::new(TombIndex::new(keep));
            }
            Some(n)
        });
        Counters::bump(&self.counters.compaction_retries, retries.unwrap_or(0));
        Counters::bump(&self.counters.compactions, 1);
        // A request is satisfied once every L0 segment of its snapshot was compacted;
        // when the caps cut it short, keep it pending.
        if requested && !force && k < m.l0.len() {
            self.compact_requested.store(true, Ordering::Release);
        }
        true
    }

    /// Chooses the L1 inputs and output windows for compacting `l0[..k]` (plus the
    /// L1 segments `forced`): every L1 segment that overlaps the span an output
    /// window will cover is pulled in, until nothing changes.
    fn plan(&self, m: &Manifest<V>, k: usize, forced: &[usize], size: i64) -> Plan {
        let origin = self.cfg.window_origin;
        // window lo -> (window hi, min ts, max ts) of records going there
        let mut spans: std::collections::BTreeMap<i64, (Window, i64, i64)> = Default::default();
        let add = |s: &Segment<V>, spans: &mut std::collections::BTreeMap<i64, (Window, i64, i64)>| {
            let ts = s.ts();
            let mut i = 0;
            while i < ts.len() {
                let w = window_of(ts[i], size, origin);
                let end = s.upper_bound(w.hi);
                let e = spans.entry(w.lo).or_insert((w, ts[i], ts[end - 1]));
                e.1 = e.1.min(ts[i]);
                e.2 = e.2.max(ts[end - 1]);
                i = end;
            }
        };
        for s in &m.l0[..k] {
            add(s, &mut spans);
        }
        let mut pulled: Vec<bool> = vec![false; m.l1.len()];
        for &i in forced {
            pulled[i] = true;
            add(&m.l1[i], &mut spans);
        }
        loop {
            let mut changed = false;
            for (i, s) in m.l1.iter().enumerate() {
                if pulled[i] {
                    continue;
                }
                let overlaps = spans.values().any(|&(_, a, b)| s.min_ts() <= b && s.max_ts() >= a);
                if overlaps {
                    pulled[i] = true;
                    add(s, &mut spans);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let l1: Vec<usize> = (0..m.l1.len()).filter(|&i| pulled[i]).collect();
        let windows = spans.values().map(|&(w, _, _)| w).collect();
        Plan { l1, windows }
    }
}

struct Plan {
    /// Indices of L1 inputs.
    l1: Vec<usize>,
    /// Output windows, ascending.
    windows: Vec<Window>,
}
