//! Patches: sorted runs of late records that lie over L1 segments instead of
//! being merged into them.
//!
//! When the records a compaction takes from L0 fall between records that L1
//! already holds (a second writer lagging the first, late data landing in a
//! window written long ago), merging them into L1 rewrites every L1 record of
//! the stretch, usually many more than arrive. A compaction may instead lay
//! them over L1 as *patches*: segments that overlap L1 segments (and older
//! patches) and that reads merge as one more source. A patch is either written
//! (an L1-format segment of the stretch's L0 records) or an L0 segment
//! *adopted* as it is, without a copy, when it lies wholly inside the stretch,
//! overlaps no other L0 input and no tombstone hides any of its records. See
//! `pipeline::compaction::plan` for when a stretch becomes patches.
//!
//! Equal timestamps keep insertion order through *ranks*: a patch is newer than
//! every L1 record it overlaps (compaction never writes L1 over a patch without
//! merging the patch in, and flushes write L1 only above every patch) and older
//! than every L0 record (patches are made from the oldest L0 segments). Among
//! patches, each one is ranked above every older patch it overlaps when it is
//! added, so the ranks order every two overlapping patches by age; disjoint
//! patches may share a rank. Merges give L1 rank 0, a patch its rank, and L0
//! segments ranks above [`Patches::rank_max`].

use crate::segment::Segment;
use crate::sync::Arc;

/// Highest rank a patch may take: a compaction that would rank a new patch
/// above this merges the stretch and the patches over it into L1 instead.
/// Patches that overlap have distinct ranks, so it bounds how many patches a
/// read merges at any timestamp (one L1 segment, this many patches, L0,
/// memtables).
pub(crate) const MAX_PATCH_DEPTH: usize = 4;

/// Most patches the L1 segments of one compaction stretch may carry, side by
/// side or stacked: a compaction that would lay another there merges them all
/// into L1 instead. It bounds the number of patches by the number of L1
/// segments (disjoint patches all take rank 1, so [`MAX_PATCH_DEPTH`] alone
/// would not). At 16, two writers drifting apart hit it in one run of three
/// and rewrote a quarter of the log; patches do not stay once the log is at
/// rest (see `pipeline/compaction/settle.rs`).
pub(crate) const MAX_STRETCH_PATCHES: usize = 64;

/// The patches of one manifest, sorted by first timestamp, with the index that
/// finds the ones overlapping a range.
pub(crate) struct Patches<V> {
    segs: Vec<Arc<Segment<V>>>,
    /// `reach[i]`: the largest last timestamp of `segs[..=i]` (non-decreasing).
    reach: Vec<i64>,
    /// The merge rank of each patch (at least 1).
    ranks: Vec<u32>,
    /// When each patch was added (for `check`): later ones have larger numbers.
    added: Vec<u64>,
    rank_max: u32,
    next: u64,
}

impl<V> Default for Patches<V> {
    fn default() -> Self {
        Patches {
            segs: Vec::new(),
            reach: Vec::new(),
            ranks: Vec::new(),
            added: Vec::new(),
            rank_max: 0,
            next: 0,
        }
    }
}

impl<V> Clone for Patches<V> {
    fn clone(&self) -> Self {
        Patches {
            segs: self.segs.clone(),
            reach: self.reach.clone(),
            ranks: self.ranks.clone(),
            added: self.added.clone(),
            rank_max: self.rank_max,
            next: self.next,
        }
    }
}

impl<V> Patches<V> {
    /// Number of patches.
    pub(crate) fn len(&self) -> usize {
        self.segs.len()
    }

    /// Whether there are none.
    pub(crate) fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }

    /// Every patch, by first timestamp.
    pub(crate) fn iter(&self) -> std::slice::Iter<'_, Arc<Segment<V>>> {
        self.segs.iter()
    }

    /// The `i`-th patch (in [`iter`](Self::iter) order) with its rank.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub(crate) fn get(&self, i: usize) -> (&Arc<Segment<V>>, u32) {
        (&self.segs[i], self.ranks[i])
    }

    /// The highest rank of any patch (0 without patches): L0 ranks start above it.
    pub(crate) fn rank_max(&self) -> u32 {
        self.rank_max
    }

    /// The largest timestamp any patch holds.
    pub(crate) fn max_ts(&self) -> Option<i64> {
        self.reach.last().copied()
    }

    /// The patches with records in `[lo, hi]`'s span (first to last timestamp
    /// overlapping it), by first timestamp, with their ranks.
    pub(crate) fn overlapping(&self, lo: i64, hi: i64) -> impl Iterator<Item = (&Arc<Segment<V>>, u32)> + '_ {
        // Patches before `from` all end below `lo`; from there, the ones that
        // start at or below `hi`, less those that end below `lo`.
        let from = if lo > hi { self.segs.len() } else { self.reach.partition_point(|&r| r < lo) };
        self.segs[from..]
            .iter()
            .zip(&self.ranks[from..])
            .take_while(move |(s, _)| s.min_ts() <= hi)
            .filter(move |(s, _)| s.max_ts() >= lo)
            .map(|(s, &r)| (s, r))
    }

    /// The rank a new patch over `[lo, hi]` would get: one above every patch it
    /// overlaps.
    pub(crate) fn rank_for(&self, lo: i64, hi: i64) -> u32 {
        1 + self.overlapping(lo, hi).map(|(_, r)| r).max().unwrap_or(0)
    }

    /// These patches without the ones in `gone`, plus `added` in its order (each
    /// newer than the ones before it), each ranked above every patch it overlaps
    /// that stays or was added before it.
    pub(crate) fn replaced(&self, gone: &[&Arc<Segment<V>>], added: &[Arc<Segment<V>>]) -> Patches<V> {
        let mut kept: Vec<(Arc<Segment<V>>, u32, u64)> = (0..self.segs.len())
            .filter(|&i| !gone.iter().any(|g| Arc::ptr_eq(g, &self.segs[i])))
            .map(|i| (self.segs[i].clone(), self.ranks[i], self.added[i]))
            .collect();
        let base = Patches::from_ranked(kept.clone(), self.next);
        let mut next = self.next;
        for (i, a) in added.iter().enumerate() {
            let (lo, hi) = (a.min_ts(), a.max_ts());
            let before = added[..i].iter().zip(&kept[kept.len() - i..]);
            let under = before.filter(|(b, _)| b.min_ts() <= hi && lo <= b.max_ts()).map(|(_, &(_, r, _))| r);
            let rank = under.fold(base.rank_for(lo, hi), |r, u| r.max(u + 1));
            kept.push((a.clone(), rank, next));
            next += 1;
        }
        Patches::from_ranked(kept, next)
    }

    fn from_ranked(mut v: Vec<(Arc<Segment<V>>, u32, u64)>, next: u64) -> Patches<V> {
        v.sort_by_key(|(s, _, _)| s.min_ts());
        let mut reach = Vec::with_capacity(v.len());
        let mut r = i64::MIN;
        for (s, _, _) in &v {
            r = r.max(s.max_ts());
            reach.push(r);
        }
        let ranks: Vec<u32> = v.iter().map(|&(_, r, _)| r).collect();
        let added = v.iter().map(|&(_, _, g)| g).collect();
        let rank_max = ranks.iter().copied().max().unwrap_or(0);
        Patches { segs: v.into_iter().map(|(s, _, _)| s).collect(), reach, ranks, added, rank_max, next }
    }

    /// Checks the index and the rank order (for `validate`): `None` if sound.
    pub(crate) fn check(&self) -> Option<String> {
        let mut r = i64::MIN;
        for (i, s) in self.segs.iter().enumerate() {
            if i > 0 && self.segs[i - 1].min_ts() > s.min_ts() {
                return Some(format!("patches {} and {} out of order", self.segs[i - 1].id, s.id));
            }
            r = r.max(s.max_ts());
            if self.reach[i] != r {
                return Some("the patch reach index is out of step with the patches".to_string());
            }
            if self.ranks[i] == 0 {
                return Some(format!("patch {} has rank 0", s.id));
            }
            // Every overlapping pair: the one added later ranks higher.
            let from = self.reach.partition_point(|&r| r < s.min_ts());
            for j in (from..self.segs.len()).take_while(|&j| self.segs[j].min_ts() <= s.max_ts()) {
                let o = &self.segs[j];
                if j == i || o.max_ts() < s.min_ts() {
                    continue;
                }
                let (old, new) = if self.added[j] < self.added[i] {
                    (self.ranks[j], self.ranks[i])
                } else {
                    (self.ranks[i], self.ranks[j])
                };
                if old >= new {
                    return Some(format!("overlapping patches {} and {} are not ranked by age", o.id, s.id));
                }
            }
        }
        if self.rank_max != self.ranks.iter().copied().max().unwrap_or(0) {
            return Some("the patches' highest rank is out of step".to_string());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::Patches;
    use crate::segment::{Level, Segment, SeqSpan};
    use crate::sync::Arc;

    fn seg(lo: i64, hi: i64) -> Arc<Segment<u64>> {
        let ts: Vec<i64> = vec![lo, hi];
        Arc::new(Segment::new(0, ts, vec![0, 0], 7, 1, SeqSpan { first: 0, last: 0 }, Level::L1, None))
    }

    fn spans(p: &Patches<u64>, lo: i64, hi: i64) -> Vec<(i64, i64, u32)> {
        p.overlapping(lo, hi).map(|(s, r)| (s.min_ts(), s.max_ts(), r)).collect()
    }

    #[test]
    fn overlapping_patches_rank_by_age_and_the_index_finds_them() {
        let long = seg(0, 100);
        let p = Patches::default().replaced(&[], &[long.clone(), seg(200, 300)]);
        assert_eq!(spans(&p, 150, 199), []);
        assert_eq!(spans(&p, 100, 200), [(0, 100, 1), (200, 300, 1)]);
        // Added later and overlapping: ranked above; added together, in order.
        let p = p.replaced(&[], &[seg(50, 60), seg(55, 250)]);
        assert_eq!(spans(&p, 0, 1000), [(0, 100, 1), (50, 60, 2), (55, 250, 3), (200, 300, 1)]);
        assert_eq!(p.rank_max(), 3);
        assert_eq!(p.rank_for(61, 70), 4, "over (0, 100) and (55, 250)");
        assert_eq!(p.rank_for(301, 400), 1);
        // A long early patch keeps later short ones findable (the running maximum).
        assert_eq!(spans(&p, 90, 90), [(0, 100, 1), (55, 250, 3)]);
        assert_eq!(spans(&p, 7, 6), [], "an inverted range overlaps nothing");
        assert_eq!(p.check(), None);
        // Without the long one, ranks stay as they were.
        let q = p.replaced(&[&long], &[]);
        assert_eq!(spans(&q, i64::MIN, i64::MAX), [(50, 60, 2), (55, 250, 3), (200, 300, 1)]);
        assert_eq!((q.len(), q.max_ts(), q.check()), (3, Some(300), None));
    }
}
