//! Sequenced range tombstones and their step-function index.
//!
//! A tombstone `[lo, hi]` (inclusive bounds internally, so that `i64::MAX` can be
//! covered) with sequence `seq` hides every record in its range whose sequence
//! number is below `seq`. A delete is written at a sequence number of its own
//! (which decides the snapshots that see it) and usually hides everything written
//! before it, so `seq` is that number; a *bounded* delete (the archive's: "what
//! this snapshot saw") hides less, and its `seq` is the bound. For reading, a set of tombstones is turned into a step
//! function: disjoint pieces of the timestamp axis, each with the largest
//! tombstone sequence covering it. A record `(ts, seq)` is hidden iff the piece
//! containing `ts` has a larger sequence.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// One range delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tomb {
    /// First deleted timestamp.
    pub lo: i64,
    /// Last deleted timestamp (inclusive).
    pub hi: i64,
    /// Records below this sequence number are hidden: the delete's own number,
    /// or for a bounded delete its bound (never above its own number).
    pub seq: u64,
}

/// A piece of the step function: timestamps `lo..=hi` are covered by tombstones whose
/// largest sequence number is `seq` (always > 0 for a stored piece).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Piece {
    pub lo: i64,
    pub hi: i64,
    pub seq: u64,
}

/// Builds the step function of `tombs`, clipped to `[clip_lo, clip_hi]`.
/// Pieces are sorted, disjoint, non-adjacent when their sequences are equal.
pub(crate) fn step_function(tombs: &mut [Tomb], clip_lo: i64, clip_hi: i64) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::new();
    if tombs.is_empty() || clip_lo > clip_hi {
        return out;
    }
    tombs.sort_unstable_by_key(|t| t.lo);
    // Boundaries where the covering set can change (i128: `hi + 1` may pass i64::MAX).
    let mut points: Vec<i128> = Vec::with_capacity(tombs.len() * 2);
    for t in tombs.iter() {
        points.push(t.lo as i128);
        points.push(t.hi as i128 + 1);
    }
    points.sort_unstable();
    points.dedup();
    let mut heap: BinaryHeap<(u64, Reverse<i64>)> = BinaryHeap::new();
    let mut next = 0usize;
    for w in 0..points.len() {
        let p = points[w];
        while next < tombs.len() && (tombs[next].lo as i128) <= p {
            heap.push((tombs[next].seq, Reverse(tombs[next].hi)));
            next += 1;
        }
        while let Some(&(_, Reverse(hi))) = heap.peek() {
            if (hi as i128) < p {
                heap.pop();
            } else {
                break;
            }
        }
        let Some(&(seq, _)) = heap.peek() else {
            continue;
        };
        let end = match points.get(w + 1) {
            Some(&q) => q - 1,
            None => continue, // unreachable: the last point is some hi + 1
        };
        let lo = p.max(clip_lo as i128);
        let hi = end.min(clip_hi as i128);
        if lo > hi {
            continue;
        }
        let (lo, hi) = (lo as i64, hi as i64);
        if let Some(last) = out.last_mut() {
            if last.seq == seq && last.hi as i128 + 1 == lo as i128 {
                last.hi = hi;
                continue;
            }
        }
        out.push(Piece { lo, hi, seq });
    }
    out
}

/// One level of a [`TombIndex`]: tombstones and their step function.
#[derive(Debug)]
struct TombLevel {
    tombs: Vec<Tomb>,
    pieces: Vec<Piece>,
}

impl TombLevel {
    /// The level of `tombs`, without the ones the others make redundant.
    fn new(mut tombs: Vec<Tomb>) -> Self {
        let pieces = step_function(&mut tombs, i64::MIN, i64::MAX);
        drop_redundant(&mut tombs, &pieces);
        TombLevel { tombs, pieces }
    }
}

/// Removes from `tombs` every tombstone that is not the newest cover of any
/// timestamp in `pieces` (the step function of `tombs`).
///
/// Such a tombstone changes no answer: wherever it lies, a newer tombstone
/// covers the same timestamps, and hides every record it would hide (a record
/// older than the dominated tombstone is older than the newer one too). The step
/// function is the same without it. This is what keeps a rolling retention rule
/// (`delete_before(now - keep)` over and over) at one tombstone instead of one
/// per call. Sequence numbers are unique, so "newest cover somewhere" is "its
/// sequence number appears in a piece".
fn drop_redundant(tombs: &mut Vec<Tomb>, pieces: &[Piece]) {
    if tombs.len() <= 1 {
        return;
    }
    let mut used: Vec<u64> = pieces.iter().map(|p| p.seq).collect();
    used.sort_unstable();
    used.dedup();
    tombs.retain(|t| used.binary_search(&t.seq).is_ok());
}

/// An immutable set of tombstones held by a manifest, indexed for range lookups.
///
/// It is log-structured: each flush adds its tombstones as a new small level, and
/// levels are merged while the newest is at least half the size of the one before
/// (a binary counter), so adding costs amortised O(log T) per tombstone instead of
/// rebuilding the whole index, and a lookup binary-searches O(log T) levels.
/// Levels are shared (`Arc`) between successive manifests.
#[derive(Debug, Default)]
pub(crate) struct TombIndex {
    levels: Vec<std::sync::Arc<TombLevel>>,
}

impl TombIndex {
    pub(crate) fn new(tombs: Vec<Tomb>) -> Self {
        if tombs.is_empty() {
            return TombIndex::default();
        }
        TombIndex { levels: vec![std::sync::Arc::new(TombLevel::new(tombs))] }
    }

    /// This index plus `added`.
    pub(crate) fn with_added(&self, added: Vec<Tomb>) -> Self {
        let mut levels = self.levels.clone();
        if added.is_empty() {
            return TombIndex { levels };
        }
        let mut cur = added;
        while let Some(last) = levels.last() {
            if cur.len() * 2 < last.tombs.len() {
                break;
            }
            let last = levels.pop().expect("checked");
            cur.extend_from_slice(&last.tombs);
        }
        levels.push(std::sync::Arc::new(TombLevel::new(cur)));
        TombIndex { levels }
    }

    /// This index without the tombstones that `keep` rejects and without the
    /// ones the others make redundant, as one level (`None` when nothing would
    /// change).
    pub(crate) fn retained(&self, mut keep: impl FnMut(&Tomb) -> bool) -> Option<Self> {
        let before = self.len();
        let kept: Vec<Tomb> = self.tombs().filter(|t| keep(t)).copied().collect();
        let index = TombIndex::new(kept);
        if index.len() == before && self.levels.len() <= 1 {
            return None;
        }
        Some(index)
    }

    /// Every stored tombstone.
    pub(crate) fn tombs(&self) -> impl Iterator<Item = &Tomb> + '_ {
        self.levels.iter().flat_map(|l| l.tombs.iter())
    }

    /// Whether no tombstone is stored.
    pub(crate) fn is_empty(&self) -> bool {
        self.levels.iter().all(|l| l.tombs.is_empty())
    }

    /// Number of stored tombstones.
    pub(crate) fn len(&self) -> usize {
        self.levels.iter().map(|l| l.tombs.len()).sum()
    }

    /// The largest sequence number of a tombstone covering `ts` (0 if none).
    pub(crate) fn cover(&self, ts: i64) -> u64 {
        self.levels.iter().map(|l| cover(&l.pieces, ts)).max().unwrap_or(0)
    }

    /// Pieces overlapping `[lo, hi]`, as tombstones (clipped later by the caller).
    pub(crate) fn overlapping(&self, lo: i64, hi: i64, out: &mut Vec<Tomb>) {
        for level in &self.levels {
            let start = level.pieces.partition_point(|p| p.hi < lo);
            for p in &level.pieces[start..] {
                if p.lo > hi {
                    break;
                }
                out.push(Tomb { lo: p.lo, hi: p.hi, seq: p.seq });
            }
        }
    }
}

/// The part of a step function (`pieces`: sorted, disjoint) within `[lo, hi]`, its
/// end pieces clipped to it: what [`step_function`] of the same tombstones clipped
/// to `[lo, hi]` gives, without the tombstones. Lets a stage that needs the step
/// function of many sub-ranges of one snapshot build it once.
pub(crate) fn within(pieces: &[Piece], lo: i64, hi: i64) -> Vec<Piece> {
    if lo > hi {
        return Vec::new();
    }
    let first = pieces.partition_point(|p| p.hi < lo);
    pieces[first..]
        .iter()
        .take_while(|p| p.lo <= hi)
        .map(|p| Piece { lo: p.lo.max(lo), hi: p.hi.min(hi), seq: p.seq })
        .collect()
}

/// Whether a memtable record `(ts, seq)` is visible to a snapshot with watermark
/// `watermark` whose tombstone step function is `pieces`.
#[inline]
pub(crate) fn record_visible(pieces: &[Piece], watermark: u64, ts: i64, seq: u64) -> bool {
    seq < watermark && (pieces.is_empty() || cover(pieces, ts) <= seq)
}

/// The largest tombstone sequence covering `ts` in `pieces` (0 if none).
#[inline]
pub(crate) fn cover(pieces: &[Piece], ts: i64) -> u64 {
    let i = pieces.partition_point(|p| p.hi < ts);
    match pieces.get(i) {
        Some(p) if p.lo <= ts => p.seq,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(tombs: &[Tomb], ts: i64) -> u64 {
        tombs.iter().filter(|t| t.lo <= ts && ts <= t.hi).map(|t| t.seq).max().unwrap_or(0)
    }

    #[test]
    fn step_function_matches_brute_force() {
        let mut tombs = vec![
            Tomb { lo: 0, hi: 10, seq: 3 },
            Tomb { lo: 5, hi: 7, seq: 9 },
            Tomb { lo: 8, hi: 20, seq: 1 },
            Tomb { lo: i64::MAX - 1, hi: i64::MAX, seq: 4 },
            Tomb { lo: i64::MIN, hi: i64::MIN + 2, seq: 2 },
        ];
        let copy = tombs.clone();
        let pieces = step_function(&mut tombs, i64::MIN, i64::MAX);
        for ts in
            [i64::MIN, i64::MIN + 2, i64::MIN + 3, -1, 0, 4, 5, 7, 8, 10, 11, 20, 21, i64::MAX - 1, i64::MAX]
        {
            assert_eq!(cover(&pieces, ts), brute(&copy, ts), "ts {ts}");
        }
    }

    #[test]
    fn levelled_index_answers_like_one_level() {
        let mut all = Vec::new();
        let mut idx = TombIndex::default();
        for k in 0..200i64 {
            let t = Tomb { lo: (k * 37) % 300, hi: (k * 37) % 300 + (k % 11), seq: 1 + k as u64 };
            all.push(t);
            idx = idx.with_added(vec![t]);
            assert!(idx.levels.len() <= 10, "levels stay logarithmic");
        }
        assert!(idx.len() <= all.len());
        same_cover_as_brute_force(&idx, &all, -5..320, "");
    }

    /// The index's step function agrees with brute force over `all` at every `ts`.
    fn same_cover_as_brute_force(idx: &TombIndex, all: &[Tomb], span: std::ops::Range<i64>, what: &str) {
        let mut got = Vec::new();
        idx.overlapping(i64::MIN, i64::MAX, &mut got);
        let pieces = step_function(&mut got, i64::MIN, i64::MAX);
        for ts in span {
            assert_eq!(cover(&pieces, ts), brute(all, ts), "{what} ts {ts}");
        }
    }

    #[test]
    fn rolling_delete_before_keeps_one_tombstone() {
        let mut idx = TombIndex::default();
        for k in 1..=1000i64 {
            idx = idx.with_added(vec![Tomb { lo: i64::MIN, hi: k * 10, seq: k as u64 * 3 }]);
        }
        // Binary-counter merges drop the dominated ones level by level.
        assert!(idx.len() <= 12, "{} tombstones kept", idx.len());
        let one = idx.retained(|_| true).unwrap_or(idx);
        assert_eq!(
            one.tombs().copied().collect::<Vec<_>>(),
            vec![Tomb { lo: i64::MIN, hi: 10_000, seq: 3000 }]
        );
    }

    #[test]
    fn dropping_redundant_tombstones_keeps_the_step_function() {
        // Pseudo-random overlapping tombstones; compare with brute force over all of them.
        let mut rng = timelog_compare::workload::XorShift64::new(0x9e37_79b9_7f4a_7c15);
        let mut next = || rng.next_u64();
        for round in 0..50 {
            let n = 1 + (next() % 40) as usize;
            let all: Vec<Tomb> = (0..n)
                .map(|i| {
                    let lo = (next() % 200) as i64 - 100;
                    Tomb { lo, hi: lo + (next() % 60) as i64, seq: 1 + i as u64 * 2 + round }
                })
                .collect();
            let idx = TombIndex::new(all.clone());
            assert!(idx.len() <= all.len());
            same_cover_as_brute_force(&idx, &all, -110..170, &format!("round {round}"));
            // Every kept tombstone is the newest cover somewhere.
            for t in idx.tombs() {
                assert!((t.lo..=t.hi).any(|ts| brute(&all, ts) == t.seq), "{t:?} is redundant but kept");
            }
        }
    }

    #[test]
    fn within_a_whole_step_function_is_the_step_function_of_the_window() {
        // Random tombstones over a small axis; every window of it, the empty and
        // inverted ones included, and the extremes of i64.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        for round in 0..200 {
            let n = 1 + next(12) as usize;
            let mut tombs: Vec<Tomb> = (0..n)
                .map(|i| {
                    let lo = next(40) as i64 - 20;
                    let hi = lo + next(15) as i64;
                    Tomb { lo, hi, seq: 1 + next(6) + i as u64 }
                })
                .collect();
            if round % 10 == 0 {
                tombs.push(Tomb { lo: i64::MIN, hi: -15, seq: 3 });
                tombs.push(Tomb { lo: 18, hi: i64::MAX, seq: 4 });
            }
            let whole = step_function(&mut tombs.clone(), i64::MIN, i64::MAX);
            let bounds = [i64::MIN, -25, -20, -3, 0, 1, 7, 19, 35, i64::MAX];
            for &lo in &bounds {
                for &hi in &bounds {
                    let direct = step_function(&mut tombs.clone(), lo, hi);
                    assert_eq!(within(&whole, lo, hi), direct, "round {round}, [{lo}, {hi}], {tombs:?}");
                }
            }
        }
        assert!(within(&[], 0, 10).is_empty());
    }

    #[test]
    fn clipping_keeps_only_the_window() {
        let mut tombs = vec![Tomb { lo: 0, hi: 100, seq: 5 }];
        let pieces = step_function(&mut tombs, 10, 20);
        assert_eq!(pieces, vec![Piece { lo: 10, hi: 20, seq: 5 }]);
    }
}
