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
//!
//! **Straight to L1** (the background worker's flushes; `flush()` and manual
//! steps write L0 only, as their documentation promises). A memrun's records
//! above every timestamp already flushed (in L0, L1 and patches, and above
//! every older memrun's) overlap nothing, so they skip L0 and its compaction:
//! they are written as L1 segments, one or more per window. The rest goes to L0: the
//! late records below that mark, a segment per cluster (wide gaps between them
//! separate a lagging writer's records from the leading writer's late ones, so
//! that a compaction can lay them over L1 as patches as they are), and a *tail*
//! just below the memrun's newest timestamp, where the next memrun's late records are expected to land (one
//! segment holding both would span the L1 part, and compaction would rewrite
//! it). The tail is twice how far late records recently reached behind the
//! newest flushed timestamp. Equal timestamps keep their order: every L1 record
//! written this way is newer than every older record at its timestamp (there is
//! none) and older than every later one, which lands in L0 or a later memrun.
//! Compaction then merges only small L0 segments, and with the L1 segments they
//! overlap, which are the small ones built from earlier tails.

use crate::counters::Counters;
use crate::manifest::Quiet;
use crate::memtable::{Edge, Memtable};
use crate::segment::{Level, Segment, SeqSpan, Window};
use crate::snapshot::Range;
use crate::source::ts_bounds;
use crate::store::Store;
use crate::sync::{par_map, wait_until, Arc, AtomicU64, Mutex, Ordering};
use crate::tombstone::{within, Piece, Tomb};
use crate::Value;

use super::seal;
use super::signal::Signals;

/// What one flush did, for the stages that react to it.
pub(crate) struct Flushed {
    /// Records and time span of each segment written (for the window controller).
    pub(crate) densities: Vec<(usize, i128)>,
    /// Whether tombstones were added to the manifest's index.
    pub(crate) new_tombs: bool,
    /// Whether segments were written straight to L1 (they may be small, for
    /// compaction to tidy).
    pub(crate) new_l1: bool,
}

/// Most L1 windows one memrun may be written into directly; a memrun spanning
/// more (tiny windows) goes to L0 whole, for compaction to partition.
const MAX_DIRECT_WINDOWS: i128 = 64;

/// The flush stage: its lock serialises flushes.
pub(crate) struct Flusher {
    lock: Mutex<()>,
    /// How far behind the newest flushed timestamp late records recently
    /// reached (decaying by an eighth per flushed memrun): sizes the L0 tail.
    reach: AtomicU64,
}

/// One memrun's segments: for L0, and straight for L1.
type Built<V> = (Vec<Segment<V>>, Vec<Segment<V>>);

/// Where one memrun's records go: `[a, b]` straight to L1, the rest to L0.
#[derive(Clone, Copy)]
struct Direct {
    a: i64,
    b: i64,
}

impl Flusher {
    pub(crate) fn new() -> Self {
        Flusher { lock: Mutex::new(()), reach: AtomicU64::new(0) }
    }

    /// Seals the active memtable (if it holds anything) and flushes every memrun
    /// into L0, waiting for in-flight writers; `each` sees every flush's report.
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
        while let Some(done) = self.flush_locked(store, signals, true, None) {
            each(done);
        }
        signals.notify_room();
    }

    /// Flushes the memruns that are complete (with `wait`, waits for in-flight
    /// writers of the oldest one); `None` if there were none. With `direct`, the
    /// L1 window size in force, records that overlap nothing go straight to L1;
    /// without, everything goes to L0.
    pub(crate) fn flush<V: Value>(
        &self,
        store: &Store<V>,
        signals: &Signals,
        wait: bool,
        direct: Option<i64>,
    ) -> Option<Flushed> {
        let _f = self.lock.lock();
        let _quiet = Quiet::enter();
        self.flush_locked(store, signals, wait, direct)
    }

    /// Decides, memrun by memrun (oldest first), which records go straight to L1
    /// (see the module docs); `mark` is the newest flushed timestamp so far.
    fn direct<V: Value>(
        &self,
        memruns: &[Arc<Memtable<V>>],
        mut mark: Option<i64>,
        window: i64,
    ) -> Vec<Option<Direct>> {
        let any = |_: i64, _: u64| true;
        memruns
            .iter()
            .map(|mr| {
                let all = |front| Edge { lo: i64::MIN, hi: i64::MAX, front, visible: &any };
                let lo = mr.edge(&all(true))?;
                let hi = mr.edge(&all(false))?;
                let mut reach = self.reach.load(Ordering::Relaxed);
                reach -= reach / 8;
                if let Some(m) = mark.filter(|&m| lo <= m) {
                    reach = reach.max((m as i128 - lo as i128 + 1).min(u64::MAX as i128 / 4) as u64);
                }
                self.reach.store(reach, Ordering::Relaxed);
                let a = match mark {
                    None => lo,
                    Some(m) if m < hi => lo.max(m + 1),
                    Some(_) => {
                        return None;
                    }
                };
                mark = Some(mark.map_or(hi, |m| m.max(hi)));
                // The tail: twice the reach, but at most a quarter of the records'
                // span above the mark. Late records beyond it become patches over
                // L1 (a writer lagging by more than a memrun reaches far back).
                let tail = (2 * reach as i128).min((hi as i128 - a as i128) / 4);
                let b = (hi as i128 - tail).max(i64::MIN as i128) as i64;
                let windows = (b as i128 - a as i128) / window as i128 + 2;
                (a <= b && windows <= MAX_DIRECT_WINDOWS).then_some(Direct { a, b })
            })
            .collect()
    }

    /// Flushes sealed memruns (a prefix of the queue) into L0 segments, and with
    /// `to_l1` (the window size in force) what overlaps nothing into L1 segments.
    /// With `wait`, waits for in-flight writers of the oldest memrun; otherwise
    /// only flushes the ones already complete.
    fn flush_locked<V: Value>(
        &self,
        store: &Store<V>,
        signals: &Signals,
        wait: bool,
        to_l1: Option<i64>,
    ) -> Option<Flushed> {
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
        let mark = snap.m.segments_max_ts();
        // The lateness estimate learns from every flush, direct or not.
        let plan = self.direct(&memruns, mark, to_l1.unwrap_or(i64::MAX));
        let plan = plan.into_iter().map(|d| d.filter(|_| to_l1.is_some()));
        let jobs: Vec<(Arc<Memtable<V>>, Option<Direct>)> = memruns.iter().cloned().zip(plan).collect();
        let (origin, window) = (store.cfg.window_origin, to_l1.unwrap_or(i64::MAX));
        // The step function over the span of every memrun flushed, built once: built
        // per memrun, it would walk every memrun's tombstones once per memrun
        // (quadratic in the queue, which manual maintenance does not bound).
        let any = |_: i64, _: u64| true;
        let end = |front| Edge { lo: i64::MIN, hi: i64::MAX, front, visible: &any };
        let span = memruns
            .iter()
            .filter_map(|mr| Some((mr.edge(&end(true))?, mr.edge(&end(false))?)))
            .reduce(|(a, b), (lo, hi)| (a.min(lo), b.max(hi)));
        let all_pieces = span.map_or_else(Vec::new, |(lo, hi)| snap.pieces(lo, hi));
        let built: Vec<Built<V>> = par_map(&jobs, |(mr, direct)| {
            let mut srcs = Vec::new();
            mr.sources(i64::MIN, i64::MAX, &mut srcs);
            let Some((lo, hi)) = ts_bounds(&srcs) else { return (Vec::new(), Vec::new()) };
            // (The memrun's records lie within `span`; were they not, its own step
            // function would be built.)
            let pieces = match span {
                Some((a, b)) if a <= lo && hi <= b => within(&all_pieces, lo, hi),
                _ => snap.pieces(lo, hi),
            };
            let seal = mr.seal_seq().expect("memruns are sealed");
            // Every record of the memrun is numbered in `start_seq..seal`.
            let seqs = SeqSpan { first: mr.start_seq, last: seal.saturating_sub(1) };
            if hides_all(&pieces, lo, hi, seal) {
                // Deleted whole: nothing to copy.
                return (Vec::new(), Vec::new());
            }
            let Some(Direct { a, b }) = *direct else {
                // One L0 segment per memrun (no size cap), so L0 age order is memrun order.
                let it = Range::new(srcs, pieces, snap.w);
                return (store.collect_segments(it, usize::MAX, snap.w, seqs, Level::L0, None), Vec::new());
            };
            drop(srcs);
            // L0: what lies below `a`, one segment per cluster (a lagging writer's
            // records apart from the leading writer's late ones: see
            // `Store::collect_clusters`), and the tail above `b` as one more (one
            // segment would span the L1 part too, and compaction would rewrite
            // it). They hold no equal timestamps, so their order in L0 does not
            // matter.
            let mut l0 = Vec::new();
            for (late, from, to) in [(true, Some(lo), a.checked_sub(1)), (false, b.checked_add(1), Some(hi))]
            {
                let (Some(from), Some(to)) = (from, to) else { continue };
                if from > to {
                    continue;
                }
                let mut part = Vec::new();
                mr.sources(from, to, &mut part);
                let it = Range::new(part, pieces.clone(), snap.w);
                l0.extend(match late {
                    true => store.collect_clusters(it, snap.w, seqs),
                    false => store.collect_segments(it, usize::MAX, snap.w, seqs, Level::L0, None),
                });
            }
            // L1: `[a, b]`, window by window.
            let mut l1 = Vec::new();
            let mut from = a;
            loop {
                let w = Window::of(from, window, origin);
                let to = w.hi.min(b);
                let mut part = Vec::new();
                mr.sources(from, to, &mut part);
                let it = Range::new(part, pieces.clone(), snap.w);
                l1.extend(store.collect_segments(
                    it,
                    store.l1_segment_records(),
                    snap.w,
                    seqs,
                    Level::L1,
                    Some(w),
                ));
                if to >= b {
                    break;
                }
                from = to + 1;
            }
            (l0, l1)
        });
        let mut l0: Vec<Arc<Segment<V>>> = Vec::new();
        let mut l1: Vec<Arc<Segment<V>>> = Vec::new();
        for (a, b) in built {
            l0.extend(a.into_iter().map(Arc::new));
            l1.extend(b.into_iter().map(Arc::new));
        }
        let mut new_tombs: Vec<Tomb> = Vec::new();
        for mr in &memruns {
            mr.tombs_below(u64::MAX, &mut new_tombs);
        }
        store.manifest.update(|m| {
            let mut n = m.clone();
            // The flushed memruns are the oldest ones, in order.
            debug_assert!(memruns.iter().zip(&n.memruns).all(|(a, b)| Arc::ptr_eq(a, b)));
            n.memruns.drain(..memruns.len());
            n.l0.extend(l0.iter().cloned());
            if !l1.is_empty() {
                // Above every L1 segment and patch: compactions that ran meanwhile
                // only rewrote segments older than this flush, all below `mark`.
                debug_assert!(n
                    .l1_max
                    .last()
                    .copied()
                    .max(n.patches.max_ts())
                    .is_none_or(|x| l1.iter().all(|s| s.min_ts() > x)));
                let mut all = n.l1.clone();
                all.extend(l1.iter().cloned());
                n.set_l1(all);
            }
            if !new_tombs.is_empty() {
                n.tombs = Arc::new(n.tombs.with_added(new_tombs.clone()));
            }
            Some(n)
        });
        let segs = || l0.iter().chain(l1.iter());
        Counters::bump(&store.counters.flushes, memruns.len() as u64);
        Counters::bump(&store.counters.flushed_records, segs().map(|s| s.len() as u64).sum());
        drop(snap);
        signals.notify_room();
        Some(Flushed {
            densities: segs().map(|s| (s.len(), s.max_ts() as i128 - s.min_ts() as i128 + 1)).collect(),
            new_tombs: !new_tombs.is_empty(),
            new_l1: !l1.is_empty(),
        })
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
