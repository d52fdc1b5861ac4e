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
use crate::tombstone::{Piece, Tomb};
use crate::Value;

/// Longest time tombstones wait for a survey while they keep arriving (see
/// [`Inner::survey_due`]).
const SURVEY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

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
    fn delete_debt(&self, snap: &Snapshot<V>, pieces: &[Piece]) -> f64 {
        let m = &snap.m;
        let total: usize = m.l0.iter().chain(m.l1.iter()).map(|s| s.len()).sum();
        if total == 0 {
            return 0.0;
        }
        if pieces.is_empty() {
            return 0.0;
        }
        let visible: usize =
            m.l0.iter().chain(m.l1.iter()).map(|s| s.count(i64::MIN, i64::MAX, pieces)).sum();
        (total - visible) as f64 / total as f64
    }

    /// Drops, in one manifest update and without rewriting anything, the segments
    /// of `snap` all of whose records `pieces` (its step function) hides, and the
    /// tombstones that can hide nothing any more. Returns whether the manifest
    /// changed.
    fn prune(&self, snap: &Snapshot<V>, pieces: &[Piece]) -> bool {
        let m = &snap.m;
        let dead: Vec<&Arc<Segment<V>>> = if pieces.is_empty() {
            Vec::new()
        } else {
            m.l0.iter().chain(m.l1.iter()).filter(|s| s.count(i64::MIN, i64::MAX, pieces) == 0).collect()
        };
        if dead.is_empty() && m.tombs.is_empty() {
            return false;
        }
        let mut changed = false;
        self.manifest.update(|cur| {
            let mut n: Manifest<V> = cur.clone();
            let before = n.l0.len() + n.l1.len();
            n.l0.retain(|s| !dead.iter().any(|x| Arc::ptr_eq(x, s)));
            if n.l1.iter().any(|s| dead.iter().any(|x| Arc::ptr_eq(x, s))) {
                let l1 = n.l1.iter().filter(|s| !dead.iter().any(|x| Arc::ptr_eq(x, s))).cloned().collect();
                n.set_l1(l1);
            }
            let dropped = before - n.l0.len() - n.l1.len();
            let retired = retire_tombs(&mut n);
            changed = dropped > 0 || retired;
            if !changed {
                return None;
            }
            Counters::bump(&self.counters.segments_dropped, dropped as u64);
            Some(n)
        });
        if changed {
            self.notify_room();
        }
        changed
    }

    /// Whether to look for dead segments and retiring tombstones now. A survey
    /// costs O(T log T) for T tombstones (the step function of all of them, then
    /// the index rebuilt without the retired ones), so with many tombstones it runs
    /// only once their number has grown by an eighth since the last one, or
    /// [`SURVEY_INTERVAL`] has passed: amortised O(log T) per tombstone, while a
    /// stream of deletes is never left unsurveyed for long.
    fn survey_due(&self, snap: &Snapshot<V>) -> bool {
        let m = &snap.m;
        let t = m.tombs.len()
            + m.memruns.iter().chain(std::iter::once(&m.active)).map(|mt| mt.tomb_count()).sum::<usize>();
        let mut st = self.maint.lock();
        let now = std::time::Instant::now();
        let due = t <= 256
            || t >= st.surveyed_tombs + st.surveyed_tombs / 8
            || st.last_survey.is_none_or(|at| now.duration_since(at) >= SURVEY_INTERVAL);
        if due {
            st.surveyed_tombs = t;
            st.last_survey = Some(now);
        }
        due
    }

    /// Runs one compaction if one is due (or `force`d: compact every L0 segment and
    /// every L1 segment holding deleted records); `true` if it did.
    ///
    /// Deleted data goes first: segments whose records are all deleted are dropped
    /// whole ([`Inner::prune`]), and segments with at least
    /// `segment_dead_fraction` of their records deleted are rewritten, each alone
    /// (one window's worth of work, not the whole log).
    pub(crate) fn compact_once(&self, force: bool) -> bool {
        let _c = self.compact_lock.lock();
        // Take the requests before the snapshot: a request made after this point is
        // seen by the next round.
        let requested = force || self.compact_requested.swap(false, Ordering::AcqRel);
        let tombs_changed = self.tombs_changed.swap(false, Ordering::AcqRel);
        let mut snap = self.snapshot();
        let survey = requested || (tombs_changed && self.survey_due(&snap));
        if tombs_changed && !survey {
            // Not yet worth it: look again at the next wake-up.
            self.tombs_changed.store(true, Ordering::Release);
        }
        if !(survey || snap.m.l0.len() > self.cfg.max_l0_segments || self.cfg.delete_debt_threshold > 0.0) {
            // Nothing can be due: return before building the step function of every
            // tombstone (O(T log T)).
            return false;
        }
        // The step function of every tombstone, for the survey and for the debt
        // rules (the build itself takes each stretch's own pieces).
        let whole = survey || self.cfg.delete_debt_threshold > 0.0;
        let all_pieces =
            |snap: &Snapshot<V>| if whole { snap.pieces(i64::MIN, i64::MAX) } else { Vec::new() };
        let mut pieces = all_pieces(&snap);
        let mut pruned = false;
        if survey && self.prune(&snap, &pieces) {
            pruned = true;
            snap = self.snapshot();
            pieces = all_pieces(&snap);
        }
        let m = &snap.m;
        // Partly deleted segments worth a rewrite.
        let mut dead_l1: Vec<usize> = Vec::new();
        let mut dead_l0 = 0; // L0 segments to take (a prefix) so that the dead ones are rewritten
        if survey && !pieces.is_empty() {
            let f = self.cfg.segment_dead_fraction;
            let worth = |s: &Segment<V>| {
                let dead = s.len() - s.count(i64::MIN, i64::MAX, &pieces);
                dead > 0 && dead as f64 >= f * s.len() as f64
            };
            dead_l1 = (0..m.l1.len()).filter(|&i| worth(&m.l1[i])).collect();
            dead_l0 = m.l0.iter().rposition(|s| worth(s)).map_or(0, |i| i + 1);
        }
        let over = m.l0.len() > self.cfg.max_l0_segments;
        let debt = self.cfg.delete_debt_threshold > 0.0 && {
            let d = self.delete_debt(&snap, &pieces);
            d > 0.0 && d >= self.cfg.delete_debt_threshold
        };
        if !(requested || over || debt || dead_l0 > 0 || !dead_l1.is_empty()) {
            return pruned;
        }
        Counters::bump(&self.counters.select_calls, 1);
        // L0 inputs: the oldest ones (a prefix, so that all remaining L0 segments stay
        // newer than all L1 records), within the caps.
        let caps = self.cfg.compaction;
        let mut k = if requested || over || debt { m.l0.len() } else { dead_l0 };
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
        let mut forced_l1: Vec<usize> = dead_l1;
        if (debt || requested) && !pieces.is_empty() {
            forced_l1 = (0..m.l1.len())
                .filter(|&i| m.l1[i].count(i64::MIN, i64::MAX, &pieces) < m.l1[i].len())
                .collect();
        }
        if k == 0 && forced_l1.is_empty() {
            Counters::bump(&self.counters.select_no_work, 1);
            return pruned;
        }
        let window = self.maint.lock().window;
        let mut plan = self.plan(m, k, &forced_l1, window);
        let mut capped = false;
        while caps.max_windows > 0 && plan.windows > caps.max_windows as usize && k > 1 {
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
        let outputs: Vec<Arc<Segment<V>>> = par_map(&plan.stretches, |&(w, lo, hi)| {
            let pieces = snap.pieces(lo, hi);
            let mut srcs = Vec::new();
            for s in &l1_in {
                s.sources(lo, hi, &pieces, 0, &mut srcs);
            }
            for (i, s) in l0_in.iter().enumerate() {
                s.sources(lo, hi, &pieces, 1 + i as u32, &mut srcs);
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
            if survey {
                // (Otherwise the next survey retires what this made retirable.)
                retire_tombs(&mut n);
            }
            Some(n)
        });
        self.notify_room();
        Counters::bump(&self.counters.compacted_records, outputs.iter().map(|s| s.len() as u64).sum());
        Counters::bump(&self.counters.compaction_retries, retries.unwrap_or(0));
        Counters::bump(&self.counters.compactions, 1);
        // A request is satisfied once every L0 segment of its snapshot was compacted;
        // when the caps cut it short, keep it pending.
        if requested && !force && k < m.l0.len() {
            self.compact_requested.store(true, Ordering::Release);
        }
        true
    }

    /// Chooses the L1 inputs and the output stretches for compacting `l0[..k]`
    /// (plus the L1 segments `forced`).
    ///
    /// Each input's records are cut by window into closed intervals `[first,
    /// last]`; overlapping intervals of a window merge. Every L1 segment that
    /// overlaps an interval is pulled in (its records add intervals), until
    /// nothing changes. Each resulting interval is one output stretch: outputs
    /// stay inside their interval, so they overlap no L1 segment left in place,
    /// and a window whose inputs lie far apart (an old, partly deleted segment
    /// and this hour's new records, say) does not drag in everything between.
    fn plan(&self, m: &Manifest<V>, k: usize, forced: &[usize], size: i64) -> Plan {
        let origin = self.cfg.window_origin;
        // window lo -> (window, disjoint sorted intervals of records going there)
        type Spans = std::collections::BTreeMap<i64, (Window, Vec<(i64, i64)>)>;
        let mut spans: Spans = Default::default();
        let add = |s: &Segment<V>, spans: &mut Spans| {
            let ts = s.ts();
            let mut i = 0;
            while i < ts.len() {
                let w = window_of(ts[i], size, origin);
                let end = s.upper_bound(w.hi);
                let e = spans.entry(w.lo).or_insert((w, Vec::new()));
                merge_interval(&mut e.1, (ts[i], ts[end - 1]));
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
                let overlaps = spans
                    .range(..=s.max_ts())
                    .any(|(_, (_, iv))| iv.iter().any(|&(a, b)| s.min_ts() <= b && s.max_ts() >= a));
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
        let windows = spans.len();
        let stretches = spans.values().flat_map(|(w, iv)| iv.iter().map(move |&(a, b)| (*w, a, b))).collect();
        Plan { l1, windows, stretches }
    }
}

/// Adds the closed interval `x` to `ivs` (sorted, pairwise disjoint), merging it
/// with every interval it overlaps.
fn merge_interval(ivs: &mut Vec<(i64, i64)>, x: (i64, i64)) {
    let (mut a, mut b) = x;
    // First interval that ends at or after `a`, and first that starts after `b`.
    let from = ivs.partition_point(|&(_, hi)| hi < a);
    let to = ivs.partition_point(|&(lo, _)| lo <= b);
    if from < to {
        a = a.min(ivs[from].0);
        b = b.max(ivs[to - 1].1);
    }
    ivs.splice(from..to, std::iter::once((a, b)));
}

/// Removes from `m`'s tombstone index every tombstone that can hide nothing any
/// more, and every one that newer tombstones make redundant; `true` if any went.
///
/// An indexed tombstone can only hide records of segments: it came from a flushed
/// memtable, and every memtable still unflushed holds only newer records. In a
/// segment it hides records only if it is not applied there yet and the segment
/// has records in its range ([`Segment::hidden_by`]). Called inside manifest
/// updates, on the manifest about to be published, so a segment added
/// concurrently is always taken into account.
pub(crate) fn retire_tombs<V>(m: &mut Manifest<V>) -> bool {
    if m.tombs.is_empty() {
        return false;
    }
    let (l0, l1) = (&m.l0, &m.l1);
    let live = |t: &Tomb| {
        l0.iter().any(|s| s.hidden_by(t.lo, t.hi, t.seq))
            || l1[m.l1_from(t.lo)..]
                .iter()
                .take_while(|s| s.min_ts() <= t.hi)
                .any(|s| s.hidden_by(t.lo, t.hi, t.seq))
    };
    match m.tombs.retained(live) {
        Some(index) => {
            let fewer = index.len() < m.tombs.len();
            m.tombs = Arc::new(index);
            fewer
        }
        None => false,
    }
}

struct Plan {
    /// Indices of L1 inputs.
    l1: Vec<usize>,
    /// Number of distinct output windows.
    windows: usize,
    /// Output stretches, ascending: a window and a closed interval inside it.
    stretches: Vec<(Window, i64, i64)>,
}

#[cfg(test)]
mod tests {
    use super::merge_interval;

    #[test]
    fn intervals_merge_only_when_they_overlap() {
        let mut iv = Vec::new();
        merge_interval(&mut iv, (10, 20));
        merge_interval(&mut iv, (40, 50));
        merge_interval(&mut iv, (21, 30)); // touching is not overlapping
        assert_eq!(iv, vec![(10, 20), (21, 30), (40, 50)]);
        merge_interval(&mut iv, (25, 45));
        assert_eq!(iv, vec![(10, 20), (21, 50)]);
        merge_interval(&mut iv, (i64::MIN, 10));
        assert_eq!(iv, vec![(i64::MIN, 20), (21, 50)]);
        merge_interval(&mut iv, (60, i64::MAX));
        merge_interval(&mut iv, (0, 100));
        assert_eq!(iv, vec![(i64::MIN, i64::MAX)]);
    }
}
