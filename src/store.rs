//! The store: what every stage of the pipeline reads and publishes through — the
//! configuration, the sequencer, the manifest cell and the counters — plus the
//! storage-level operations built on them (snapshots, segment building, the
//! structural check). It knows nothing of the stages above it.

use crate::config::Config;
use crate::counters::Counters;
use crate::error::{Error, Result};
use crate::manifest::{Manifest, ManifestCell};
use crate::memtable::Memtable;
use crate::segment::{Level, Segment, SeqSpan, Tally, Window};
use crate::seq::Sequencer;
use crate::snapshot::Range;
use crate::snapshot::Snapshot;
use crate::sync::{spin_loop, Arc, AtomicU64, Mutex, Ordering};
use crate::tombstone::TombIndex;
use crate::Value;

/// The shared storage state of one log.
pub(crate) struct Store<V> {
    pub(crate) cfg: Config,
    pub(crate) seq: Sequencer,
    pub(crate) manifest: ManifestCell<V>,
    pub(crate) counters: Counters,
    /// Every segment of this log that is still alive (published or pinned).
    pub(crate) tally: Arc<Tally>,
    /// Archives in progress (see [`Fence`]).
    pub(crate) fences: Mutex<Vec<Fence>>,
    pub(crate) next_fence_id: AtomicU64,
    next_segment_id: AtomicU64,
}

/// An archive in progress over `[lo, hi]`, whose snapshot saw exactly the records
/// numbered below `below` (a seal point) and whose bounded delete will hide
/// those. Until that delete is visible, compaction merges no segments numbered
/// on both sides of `below` when one of them has records in `[lo, hi]`: such a
/// segment would hold, in the range, records the delete must hide and records it
/// must keep, and segments carry no per-record numbers to tell them apart.
/// Installed before the seal that fixes `below`. An archive that gives up
/// removes it at once (no bounded delete exists to misjudge a merge); one whose
/// delete is written marks it `released` with the delete's number, and it goes
/// once no compaction round can have a snapshot that misses the delete
/// ([`Store::retire_fences`]): rounds whose snapshot sees the delete ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fence {
    pub(crate) id: u64,
    pub(crate) lo: i64,
    pub(crate) hi: i64,
    pub(crate) below: u64,
    pub(crate) released: Option<u64>,
}

impl Fence {
    /// Whether a compaction whose snapshot has watermark `w` must respect it.
    fn binds(&self, w: u64) -> bool {
        self.released.is_none_or(|s| s >= w)
    }

    /// How many of the oldest `l0` segments lie wholly below every bound of
    /// `fences` (`l0.len()` without fences): a compaction that takes no more than
    /// these from L0 merges nothing across a bound in L0 (its L1 inputs are
    /// checked by [`Fence::forbid`]).
    pub(crate) fn l0_cap<V>(fences: &[Fence], l0: &[Arc<Segment<V>>]) -> usize {
        let Some(low) = fences.iter().map(|f| f.below).min() else { return l0.len() };
        l0.iter().position(|s| s.seqs.last >= low).unwrap_or(l0.len())
    }

    /// Whether `fences` forbid merging `inputs`: their sequence spans straddle a
    /// fence's bound and one of them has records in its range.
    pub(crate) fn forbid<'a, V: 'a>(
        fences: &[Fence],
        inputs: impl Iterator<Item = &'a Arc<Segment<V>>> + Clone,
    ) -> bool {
        if fences.is_empty() {
            return false;
        }
        let Some(span) = inputs.clone().map(|s| s.seqs).reduce(SeqSpan::union) else { return false };
        fences.iter().any(|f| {
            span.straddles(f.below) && inputs.clone().any(|s| s.max_ts() >= f.lo && s.min_ts() <= f.hi)
        })
    }
}

impl<V: Value> Store<V> {
    /// An empty store: one empty active memtable owning sequence numbers from 1.
    pub(crate) fn new(cfg: Config) -> Self {
        let active = Arc::new(Memtable::new(&cfg, 1));
        let manifest = ManifestCell::new(Manifest {
            active,
            memruns: Vec::new(),
            l0: Vec::new(),
            l1: Vec::new(),
            l1_max: Vec::new(),
            patches: Default::default(),
            tombs: Arc::new(TombIndex::default()),
        });
        Store {
            cfg,
            seq: Sequencer::new(),
            manifest,
            counters: Counters::default(),
            tally: Arc::new(Tally::default()),
            fences: Mutex::new(Vec::new()),
            next_fence_id: AtomicU64::new(1),
            next_segment_id: AtomicU64::new(1),
        }
    }

    /// A consistent snapshot: a manifest and the watermark it is complete for.
    pub(crate) fn snapshot(&self) -> Snapshot<V> {
        let guard = self.manifest.pin();
        loop {
            let m = self.manifest.load(&guard);
            let w = self.seq.visible();
            // If the manifest did not change between the two loads, every write below
            // `w` is in one of its sources: a write goes to the memtable of the manifest
            // it loaded, and a newer manifest would have been published (and seen here,
            // by the acquire chain through `visible`) before that write completed. (The
            // box cannot be freed and its address reused while `guard` is pinned.)
            if self.manifest.load_addr(&guard) == (m as *const Arc<Manifest<V>> as usize) {
                return Snapshot { m: m.clone(), w };
            }
            spin_loop();
        }
    }

    /// The fences a compaction round whose snapshot has watermark `w` must
    /// respect, read once per round (after its snapshot: a fence installed later
    /// has a bound above every record that snapshot holds). Released fences such
    /// a round would ignore are dropped on the way: the caller holds the
    /// compaction lock, and every later round's snapshot sees their deletes.
    ///
    /// The loom build reads none: its models never evict, and the lock would add
    /// a scheduling point to every round of every model (the shuttle schedules
    /// cover evict).
    pub(crate) fn round_fences(&self, w: u64) -> Vec<Fence> {
        #[cfg(timelog_loom)]
        {
            let _ = w;
            Vec::new()
        }
        #[cfg(not(timelog_loom))]
        {
            let mut fences = self.fences.lock();
            if fences.is_empty() {
                return Vec::new();
            }
            fences.retain(|f| f.binds(w));
            fences.clone()
        }
    }

    /// Drops the released fences whose delete is below `w` (see
    /// [`Store::round_fences`]; the caller holds the compaction lock).
    pub(crate) fn retire_fences(&self, w: u64) {
        let mut fences = self.fences.lock();
        if !fences.is_empty() {
            fences.retain(|f| f.binds(w));
        }
    }

    /// Records per segment page for this value type.
    pub(crate) fn page_len(&self) -> usize {
        self.cfg.page_records(std::mem::size_of::<V>())
    }

    /// Largest L1 segment a compaction writes, in records (a window holding more
    /// is split into several non-overlapping segments, so that a compaction only
    /// rewrites the stretch its inputs overlap).
    pub(crate) fn l1_segment_records(&self) -> usize {
        self.page_len() * 64
    }

    /// Drains `iter` into segments of at most about `max_records` records each. A cut
    /// never separates equal timestamps, so the segments do not overlap.
    pub(crate) fn collect_segments(
        &self,
        mut iter: Range<'_, V>,
        max_records: usize,
        applied: u64,
        seqs: SeqSpan,
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
            crate::hint::populate(&mut ts);
            crate::hint::populate(&mut vals);
            if let Some((t, v)) = carry.take() {
                ts.push(t);
                vals.push(v);
            }
            carry = iter.drain_into(&mut ts, &mut vals, max_records);
            if !ts.is_empty() {
                out.push(self.segment(ts, vals, page_len, applied, seqs, level, window));
            }
            if carry.is_none() {
                return out;
            }
        }
    }

    /// Drains `iter` into L0 segments, one per cluster of its records: a gap
    /// between neighbouring timestamps wider than a sixteenth of the records'
    /// whole span starts a new one (so there are at most 16), unless the cluster
    /// before it or the rest after it would hold fewer than
    /// [`MIN_CLUSTER_RECORDS`] (a few stray late records get no segment of their
    /// own: it would cost a compaction input, an index and a patch for little). A flush cuts the
    /// late part of a memrun this way: a lagging writer's records and the leading
    /// writer's own late ones just below the mark land in segments of their own,
    /// which a compaction can then lay over L1 as patches without copying them
    /// (see `pipeline::compaction`). Clusters share no timestamp.
    pub(crate) fn collect_clusters(
        &self,
        mut iter: Range<'_, V>,
        applied: u64,
        seqs: SeqSpan,
    ) -> Vec<Segment<V>> {
        let page_len = self.page_len();
        let cap = iter.size_hint().1.unwrap_or(0);
        let mut ts: Vec<i64> = Vec::with_capacity(cap);
        let mut vals: Vec<V> = Vec::with_capacity(cap);
        crate::hint::populate(&mut ts);
        crate::hint::populate(&mut vals);
        let carry = iter.drain_into(&mut ts, &mut vals, usize::MAX);
        debug_assert!(carry.is_none(), "no cap, no carry");
        let mut out = Vec::new();
        // From the last cluster back: each record moves at most once.
        for c in cluster_starts(&ts, MIN_CLUSTER_RECORDS).into_iter().rev() {
            let (t, v) = (ts.drain(c..).collect(), vals.drain(c..).collect());
            out.push(self.segment(t, v, page_len, applied, seqs, Level::L0, None));
        }
        if !ts.is_empty() {
            out.push(self.segment(ts, vals, page_len, applied, seqs, Level::L0, None));
        }
        out.reverse();
        out
    }

    /// A new segment of this log (numbered, tallied), its columns trimmed to
    /// their length.
    #[allow(clippy::too_many_arguments)]
    fn segment(
        &self,
        mut ts: Vec<i64>,
        mut vals: Vec<V>,
        page_len: usize,
        applied: u64,
        seqs: SeqSpan,
        level: Level,
        window: Option<Window>,
    ) -> Segment<V> {
        // Give back room the records did not use (deleted or hidden ones).
        ts.shrink_to_fit();
        vals.shrink_to_fit();
        let id = self.next_segment_id.fetch_add(1, Ordering::Relaxed);
        Segment::new(id, ts, vals, page_len, applied, seqs, level, window).tallied(&self.tally)
    }

    /// Checks the structural invariants of the current state (see
    /// [`Timelog::validate`](crate::Timelog::validate)).
    pub(crate) fn validate(&self) -> Result<()> {
        let snap = self.snapshot();
        let m = &snap.m;
        let corrupt = |s: String| Err(Error::Corrupt(s));
        for s in m.segments() {
            if let Err(e) = s.validate() {
                return corrupt(e);
            }
        }
        for s in &m.l0 {
            if s.level != Level::L0 {
                return corrupt(format!("segment {} in L0 is not an L0 segment", s.id));
            }
        }
        if m.l1_max.len() != m.l1.len() || m.l1.iter().zip(&m.l1_max).any(|(s, &k)| s.max_ts() != k) {
            return corrupt("the L1 last-key array is out of step with the L1 segments".to_string());
        }
        for (i, s) in m.l1.iter().enumerate() {
            if s.level != Level::L1 {
                return corrupt(format!("segment {} in L1 is not an L1 segment", s.id));
            }
            let Some(w) = s.window else {
                return corrupt(format!("L1 segment {} has no window", s.id));
            };
            if !w.is_aligned(self.cfg.window_origin) {
                return corrupt(format!("L1 segment {} window [{}, {}] is not aligned", s.id, w.lo, w.hi));
            }
            if i > 0 && m.l1[i - 1].max_ts() >= s.min_ts() {
                return corrupt(format!("L1 segments {} and {} overlap", m.l1[i - 1].id, s.id));
            }
        }
        if let Some(e) = m.patches.check() {
            return corrupt(e);
        }
        for s in m.patches.iter() {
            // Written patches are L1 segments of an aligned window; adopted ones,
            // L0 segments taken over as they are.
            let aligned = s.window.is_some_and(|w| w.is_aligned(self.cfg.window_origin));
            if !(s.level == Level::L1 && aligned || s.level == Level::L0 && s.window.is_none()) {
                return corrupt(format!("patch {} is neither a windowed L1 segment nor an L0 segment", s.id));
            }
        }
        for mt in m.memruns.iter().chain(std::iter::once(&m.active)) {
            if let Err(e) = mt.validate() {
                return corrupt(e);
            }
        }
        for (i, mr) in m.memruns.iter().enumerate() {
            if mr.seal_seq().is_none() {
                return corrupt(format!("memrun {i} has no seal sequence"));
            }
        }
        let counted = snap.count(..);
        let walked = snap.range(..).fold(0usize, |n, _| n + 1);
        if counted != walked {
            return corrupt(format!("count() says {counted} but iteration yields {walked}"));
        }
        let back = snap.range(..).rev().fold(0usize, |n, _| n + 1);
        if back != walked {
            return corrupt(format!("forward iteration yields {walked} records, backward {back}"));
        }
        Ok(())
    }
}

/// Fewest records [`Store::collect_clusters`] gives a segment of its own.
const MIN_CLUSTER_RECORDS: usize = 512;

/// Where the clusters of sorted `ts` after the first one start: the indices
/// whose gap to the timestamp before it is wider than a sixteenth of the whole
/// span (fewer than 16, since the gaps add up to the span; none when all
/// timestamps are equal), from the first on, each kept if at least `min`
/// records lie between it and the last one kept (or the start) and after it.
fn cluster_starts(ts: &[i64], min: usize) -> Vec<usize> {
    let (Some(&first), Some(&last)) = (ts.first(), ts.last()) else { return Vec::new() };
    let wide = (last as i128 - first as i128) / 16;
    let mut from = 0;
    let mut out = Vec::new();
    for i in 1..ts.len() {
        if ts[i] as i128 - ts[i - 1] as i128 > wide && i - from >= min && ts.len() - i >= min {
            out.push(i);
            from = i;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::cluster_starts;

    #[test]
    fn clusters_start_at_gaps_wider_than_a_sixteenth_of_the_span() {
        let cuts = |ts: &[i64]| cluster_starts(ts, 1);
        assert_eq!(cuts(&[]), Vec::<usize>::new());
        assert_eq!(cuts(&[5]), Vec::<usize>::new());
        assert_eq!(cuts(&[7, 7, 7, 7]), Vec::<usize>::new(), "all equal: one cluster");
        // Span 160: gaps over 10 cut, a gap of exactly 10 does not.
        assert_eq!(cuts(&[0, 1, 2, 13, 23, 150, 160]), vec![3, 5]);
        // Two timestamps: the one gap is the whole span.
        assert_eq!(cuts(&[0, 100]), vec![1]);
        // Span 15: a sixteenth rounds to 0, so every step cuts, equal ones do not.
        assert_eq!(cuts(&[0, 0, 15]), vec![2]);
        // The full i64 range (the span overflows i64).
        assert_eq!(cuts(&[i64::MIN, i64::MIN + 1, 0, i64::MAX]), vec![2, 3]);
        assert_eq!(cuts(&[i64::MIN, -1, 0, 1, i64::MAX]), vec![1, 4]);
        // Evenly spread: no cut, however many records.
        let even: Vec<i64> = (0..1_000).map(|i| i * 3).collect();
        assert_eq!(cuts(&even), Vec::<usize>::new());
    }

    #[test]
    fn clusters_smaller_than_the_minimum_stay_with_their_neighbours() {
        // Clusters of 3, 1, 2 and 3 records.
        let ts = [0, 1, 2, 100, 200, 201, 300, 301, 302];
        assert_eq!(cluster_starts(&ts, 1), vec![3, 4, 6]);
        assert_eq!(cluster_starts(&ts, 2), vec![3, 6], "the stray record at 100 joins the next");
        assert_eq!(cluster_starts(&ts, 3), vec![3, 6]);
        assert_eq!(cluster_starts(&ts, 4), vec![4], "at least 4 on each side");
        assert_eq!(cluster_starts(&ts, 5), vec![], "no cut leaves 5 on both sides");
        // One stray record far behind a dense run: no segment of its own.
        let mut late: Vec<i64> = vec![-1_000_000];
        late.extend(0..2_000);
        assert_eq!(cluster_starts(&late, 1), vec![1]);
        assert_eq!(cluster_starts(&late, 512), vec![]);
    }
}
