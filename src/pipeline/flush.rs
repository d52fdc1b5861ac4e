//! Flush: sealed memtables (memruns) become L0 segments.
//!
//! A memrun is a [`Memtable`] whose `seal_seq` is set: it takes no new sequence
//! numbers, and once the watermark passes its seal, no in-flight writer can still
//! touch it. Flush takes the oldest complete memruns, merges each one (runs and
//! skiplist, tombstones visible to the flush's snapshot applied, records hidden by
//! them left out) into one L0 segment, in parallel on rayon, and installs the
//! segments with the memruns' tombstones folded into the manifest's index.
//! Flushes are serialised by the [`Flusher`]'s lock, which is on neither the
//! write nor the read path.

use crate::cursor::{ts_bounds, Range};
use crate::manifest::Quiet;
use crate::memtable::Memtable;
use crate::segment::{Level, Segment};
use crate::stats::Counters;
use crate::store::Store;
use crate::sync::{par_map, wait_until, Arc, Mutex};
use crate::tombstone::{Piece, Tomb};
use crate::Value;

use super::seal;
use super::signal::Signals;

/// What one flush did, for the stages that react to it.
pub(crate) struct Flushed {
    /// Records and time span of each segment written (for the window controller).
    pub(crate) densities: Vec<(usize, i128)>,
    /// Whether tombstones were added to the manifest's index.
    pub(crate) new_tombs: bool,
}

/// The flush stage: its lock serialises flushes.
pub(crate) struct Flusher {
    lock: Mutex<()>,
}

impl Flusher {
    pub(crate) fn new() -> Self {
        Flusher { lock: Mutex::new(()) }
    }

    /// Seals the active memtable (if it holds anything) and flushes every memrun,
    /// waiting for in-flight writers; `each` sees every flush's report.
    pub(crate) fn flush_all<V: Value>(
        &self,
        store: &Store<V>,
        signals: &Signals,
        mut each: impl FnMut(Flushed),
    ) {
        let _f = self.lock.lock();
        let _quiet = Quiet::enter();
        {
            let guard = store.manifest.pin();
            let m = store.manifest.load(&guard);
            let active = &m.active;
            if !active.is_empty() {
                if active.begin_seal() {
                    let _ = seal::seal(store, active);
                } else {
                    // A writer is sealing it right now: wait for its manifest.
                    let p: *const Memtable<V> = &**active;
                    wait_until(|| !std::ptr::eq(&*store.manifest.load(&guard).active, p));
                }
            }
        }
        while let Some(done) = flush_locked(store, signals, true) {
            each(done);
        }
        signals.notify_room();
    }

    /// Flushes the memruns that are complete (with `wait`, waits for in-flight
    /// writers of the oldest one); `None` if there were none.
    pub(crate) fn flush<V: Value>(&self, store: &Store<V>, signals: &Signals, wait: bool) -> Option<Flushed> {
        let _f = self.lock.lock();
        let _quiet = Quiet::enter();
        flush_locked(store, signals, wait)
    }
}

/// Flushes sealed memruns (a prefix of the queue) into L0 segments. With `wait`,
/// waits for in-flight writers of the oldest memrun; otherwise only flushes the
/// ones already complete.
fn flush_locked<V: Value>(store: &Store<V>, signals: &Signals, wait: bool) -> Option<Flushed> {
    let mut snap = store.snapshot();
    let first_seal = snap.m.memruns.first()?.seal_seq().expect("memruns are sealed");
    if first_seal >= snap.w {
        if !wait {
            return None;
        }
        wait_until(|| store.seq.visible() > first_seal);
        snap = store.snapshot();
    }
    let limit = match store.cfg.drain_batch_limit {
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
        return None;
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
        store.collect_segments(it, usize::MAX, snap.w, Level::L0, None)
    });
    let segs: Vec<Arc<Segment<V>>> = built.into_iter().flatten().map(Arc::new).collect();
    let mut new_tombs: Vec<Tomb> = Vec::new();
    for mr in &memruns {
        mr.tombs_below(u64::MAX, &mut new_tombs);
    }
    store.manifest.update(|m| {
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
    Counters::bump(&store.counters.flushes, memruns.len() as u64);
    Counters::bump(&store.counters.flushed_records, segs.iter().map(|s| s.len() as u64).sum());
    drop(snap);
    signals.notify_room();
    Some(Flushed {
        densities: segs.iter().map(|s| (s.len(), s.max_ts() as i128 - s.min_ts() as i128 + 1)).collect(),
        new_tombs: !new_tombs.is_empty(),
    })
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
