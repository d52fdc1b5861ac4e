//! Compaction: the oldest L0 segments plus the L1 segments they overlap become
//! window-partitioned, non-overlapping L1 segments.
//!
//! Selection takes a prefix of L0 (oldest first, within the caps), so every L1
//! record stays older than every remaining L0 record: that keeps equal timestamps
//! in insertion order across levels. For each output window the planner computes
//! the span its records will cover and pulls in every L1 segment overlapping a span,
//! to a fixed point, so outputs never overlap untouched L1 segments. Each window is
//! built in parallel on rayon; records hidden by tombstones visible to the
//! compaction's snapshot are dropped, and the outputs' `applied_seq` is that
//! snapshot's watermark.

use crate::cursor::Range;
use crate::manifest::Manifest;
use crate::segment::{Level, Segment, Window};
use crate::snapshot::Snapshot;
use crate::stats::Counters;
use crate::sync::{par_map, Arc, Ordering};
use crate::timelog::Inner;
use crate::tombstone::{Tomb, TombIndex};
use crate::Value;

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

impl<V: Value> Inner<V> {
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
        let l0_in = &m.l0[..k];
        let l1_in: Vec<&Arc<Segment<V>>> = plan.l1.iter().map(|&i| &m.l1[i]).collect();
        let max_records = self.l1_segment_records();
        let outputs: Vec<Arc<Segment<V>>> = par_map(&plan.windows, |&w| {
            let mut srcs = Vec::new();
            for s in &l1_in {
                s.sources(w.lo, w.hi, &pieces, 0, &mut srcs);
            }
            for (i, s) in l0_in.iter().enumerate() {
                s.sources(w.lo, w.hi, &pieces, 1 + i as u32, &mut srcs);
            }
            let it = Range::new(srcs, Vec::new(), snap.w);
            self.collect_segments(it, max_records, snap.w, Level::L1, Some(w))
        })
        .into_iter()
        .flatten()
        .map(Arc::new)
        .collect();
        let retries = self.manifest.update(|cur| {
            let mut n: Manifest<V> = cur.clone();
            n.l0.retain(|s| !l0_in.iter().any(|x| Arc::ptr_eq(x, s)));
            let mut l1: Vec<Arc<Segment<V>>> =
                n.l1.iter().filter(|s| !l1_in.iter().any(|x| Arc::ptr_eq(x, s))).cloned().collect();
            l1.extend(outputs.iter().cloned());
            n.set_l1(l1);
            // Tombstones older than every segment's applied sequence can hide nothing
            // any more (memtable records are all newer than indexed tombstones).
            let min_applied = n.l0.iter().chain(n.l1.iter()).map(|s| s.applied_seq).min();
            let keep: Vec<Tomb> = match min_applied {
                None => Vec::new(),
                Some(a) => n.tombs.tombs().filter(|t| t.seq >= a).copied().collect(),
            };
            if keep.len() != n.tombs.len() {
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
