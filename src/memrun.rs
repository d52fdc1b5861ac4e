//! Memruns: sealed memtables waiting to be flushed, and the flush that turns
//! them into L0 segments.
//!
//! A memrun is a [`Memtable`] whose `seal_seq` is set: it takes no new sequence
//! numbers, and once the watermark passes its seal, no in-flight writer can still
//! touch it. Flush takes the oldest complete memruns, merges each one (runs and
//! skiplist, tombstones visible to the flush's snapshot applied, records hidden by
//! them left out) into one L0 segment, in parallel on rayon, and installs the
//! segments with the memruns' tombstones folded into the manifest's index.

use crate::cursor::{ts_bounds, Range};
use crate::memtable::Memtable;
use crate::segment::{Level, Segment};
use crate::stats::Counters;
use crate::sync::{par_map, wait_until, Arc, Ordering};
use crate::timelog::Inner;
use crate::tombstone::{Piece, Tomb};
use crate::Value;

/// A sealed memtable.
pub(crate) type Memrun<V> = Memtable<V>;

impl<V: Value> Inner<V> {
    /// Seals the active memtable (if it holds anything) and flushes every memrun.
    pub(crate) fn flush_all(&self) {
        let _f = self.flush_lock.lock();
        {
            let guard = self.manifest.pin();
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
        // Settled: return what the flushes (and compactions so far) retired.
        self.release_memory(true);
    }

    /// Flushes sealed memruns (a prefix of the queue) into L0 segments. With `wait`,
    /// waits for in-flight writers of the oldest memrun; otherwise only flushes the
    /// ones already complete. Returns whether anything was flushed.
    pub(crate) fn flush_memruns_locked(&self, wait: bool) -> bool {
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
        let memruns: Vec<Arc<Memrun<V>>> = snap
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
        let built: Vec<Vec<Segment<V>>> = par_map(&memruns, |mr| {
            let mut srcs = Vec::new();
            mr.sources(i64::MIN, i64::MAX, &mut srcs);
            let Some((lo, hi)) = ts_bounds(&srcs) else { return Vec::new() };
            let pieces = snap.pieces(lo, hi);
            if hides_all(&pieces, lo, hi, mr.seal_seq().expect("memruns are sealed")) {
                // Deleted whole: nothing to copy.
                return Vec::new();
            }
            let it = Range::new(srcs, pieces, snap.w);
            // One L0 segment per memrun (no size cap), so L0 age order is memrun order.
            self.collect_segments(it, usize::MAX, snap.w, Level::L0, None)
        });
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
                n.tombs = Arc::new(n.tombs.with_added(new_tombs.clone()));
            }
            Some(n)
        });
        if !new_tombs.is_empty() {
            // New tombstones may have made segments dead, or tombstones redundant.
            self.tombs_changed.store(true, Ordering::Release);
            self.wake_compactor();
        }
        Counters::bump(&self.counters.flushes, memruns.len() as u64);
        Counters::bump(&self.counters.flushed_records, segs.iter().map(|s| s.len() as u64).sum());
        drop(snap);
        self.notify_room();
        true
    }
}

/// Whether `pieces` (sorted, disjoint) cover every timestamp of `[lo, hi]` with
/// tombstones newer than `seal`, so that they hide every record of a memtable
/// sealed at `seal` (its records all have smaller sequence numbers).
fn hides_all(pieces: &[Piece], lo: i64, hi: i64, seal: u64) -> bool {
    let mut next = lo as i128; // first timestamp not known to be covered
    for p in pieces {
        if (p.hi as i128) < next {
            continue; // before the span
        }
        if (p.lo as i128) > next || p.seq <= seal {
            return false; // a gap, or a piece that does not hide this memtable's records
        }
        next = p.hi as i128 + 1;
        if next > hi as i128 {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_all_needs_newer_cover_of_the_whole_span() {
        let p = |lo, hi, seq| Piece { lo, hi, seq };
        assert!(hides_all(&[p(0, 10, 9)], 2, 8, 5));
        assert!(hides_all(&[p(i64::MIN, 3, 9), p(4, i64::MAX, 7)], i64::MIN, i64::MAX, 5));
        assert!(!hides_all(&[p(0, 10, 5)], 2, 8, 5), "a tombstone older than the seal");
        assert!(!hides_all(&[p(0, 4, 9), p(6, 10, 9)], 2, 8, 5), "a gap at 5");
        assert!(!hides_all(&[p(0, 4, 9), p(5, 10, 3)], 2, 8, 5), "an old piece in the middle");
        assert!(!hides_all(&[p(3, 10, 9)], 2, 8, 5), "the start is uncovered");
        assert!(!hides_all(&[p(0, 7, 9)], 2, 8, 5), "the end is uncovered");
        assert!(!hides_all(&[], 2, 8, 5));
        assert!(hides_all(&[p(-5, -1, 1), p(0, 10, 9)], 2, 8, 5), "pieces before the span are skipped");
    }
}
