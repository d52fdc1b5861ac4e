//! Snapshots: a pinned manifest plus a sequence watermark, and the queries over
//! them. The iterators they return live beside them: [`Range`] (`range.rs`),
//! [`Cursor`] (`cursor.rs`), [`Point`] (`point.rs`); the neighbours of a timestamp
//! in `nav.rs`, the storage view of segment pages in `page.rs`.

use std::ops::RangeBounds;

use crate::bounds::inclusive;
use crate::manifest::Manifest;
use crate::segment::Segment;
use crate::source::{Slot, Src, MEM_RANK};
use crate::sync::Arc;
use crate::tombstone::{step_function, Piece, Tomb};

mod cursor;
mod nav;
mod page;
mod point;
mod range;
#[cfg(test)]
mod tests;

pub use cursor::Cursor;
pub use page::PageRef;
pub use point::Point;
pub use range::Range;

/// A consistent, immutable view of a [`Timelog`](crate::Timelog).
///
/// Taking one is O(1) (an `Arc` clone and an atomic load). It never changes:
/// later writes, deletes, seals, flushes and compactions are invisible to it, and
/// a batch is either entirely in it or not at all. It is `Clone + Send + Sync`
/// and holds no epoch guard, so it can be kept as long as needed (it keeps the
/// data it can see alive).
///
/// ```
/// use timelog::Timelog;
/// let log = Timelog::new();
/// log.append(10, "a");
/// let snap = log.snapshot();
/// log.append(11, "b");
/// assert_eq!(snap.range(..).collect::<Vec<_>>(), vec![(10, &"a")]);
/// assert_eq!(log.snapshot().count(..), 2);
/// ```
pub struct Snapshot<V> {
    pub(crate) m: Arc<Manifest<V>>,
    pub(crate) w: u64,
}

impl<V> Clone for Snapshot<V> {
    fn clone(&self) -> Self {
        Snapshot { m: self.m.clone(), w: self.w }
    }
}

impl<V> std::fmt::Debug for Snapshot<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").field("watermark", &self.w).finish_non_exhaustive()
    }
}

impl<V: crate::Value> Snapshot<V> {
    /// The sequence watermark: every write numbered below it is visible here.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let before = log.snapshot().watermark();
    /// let w = log.append(1, ());
    /// assert!(w.first_seq >= before && log.snapshot().watermark() > w.first_seq);
    /// ```
    pub fn watermark(&self) -> u64 {
        self.w
    }

    /// The largest sequence number of a tombstone visible here that covers `ts`
    /// (0 if none): the step function at one point, without building it.
    fn cover_at(&self, ts: i64) -> u64 {
        let mut c = self.m.tombs.cover(ts);
        for mt in self.m.memruns.iter().chain(std::iter::once(&self.m.active)) {
            if mt.tomb_count() > 0 {
                c = c.max(mt.tomb_cover(ts, self.w));
            }
        }
        c
    }

    /// Tombstone step function over `[lo, hi]` for this snapshot.
    pub(crate) fn pieces(&self, lo: i64, hi: i64) -> Vec<Piece> {
        // The common case, no tombstone anywhere, without building anything.
        if self.m.tombs.is_empty()
            && self.m.active.tomb_count() == 0
            && self.m.memruns.iter().all(|mt| mt.tomb_count() == 0)
        {
            return Vec::new();
        }
        let mut tombs: Vec<Tomb> = Vec::new();
        self.m.tombs.overlapping(lo, hi, &mut tombs);
        for mt in self.m.memruns.iter().chain(std::iter::once(&self.m.active)) {
            if mt.tombs_overlapping_indexed(lo, hi, self.w, &mut tombs) {
                continue;
            }
            let start = tombs.len();
            mt.tombs_below(self.w, &mut tombs);
            // Keep only the ones that overlap the query.
            let mut k = start;
            for i in start..tombs.len() {
                if tombs[i].hi >= lo && tombs[i].lo <= hi {
                    tombs[k] = tombs[i];
                    k += 1;
                }
            }
            tombs.truncate(k);
        }
        step_function(&mut tombs, lo, hi)
    }

    /// Calls `f(segment, rank)` for every segment overlapping `[lo, hi]`: L1 (rank 0),
    /// the patches (their ranks, see [`Patches`](crate::manifest::Patches)), then
    /// L0 oldest first (rank `1 + patch ranks + age`).
    pub(crate) fn each_segment<'s>(&'s self, lo: i64, hi: i64, mut f: impl FnMut(&'s Arc<Segment<V>>, u32)) {
        for s in self.m.l1_overlapping(lo, hi) {
            f(s, 0);
        }
        for (s, rank) in self.m.patches.overlapping(lo, hi) {
            f(s, rank);
        }
        let l0_rank = 1 + self.m.patches.rank_max();
        for (i, s) in self.m.l0.iter().enumerate() {
            if s.max_ts() >= lo && s.min_ts() <= hi {
                f(s, l0_rank + i as u32);
            }
        }
        debug_assert!((l0_rank as usize + self.m.l0.len()) < MEM_RANK as usize - 1);
    }

    pub(crate) fn sources(&self, lo: i64, hi: i64, pieces: &[Piece]) -> Vec<Src<'_, V>> {
        let mut srcs = Vec::new();
        self.each_segment(lo, hi, |s, rank| s.sources(lo, hi, pieces, rank, &mut srcs));
        for mt in &self.m.memruns {
            mt.sources(lo, hi, &mut srcs);
        }
        self.m.active.sources(lo, hi, &mut srcs);
        srcs
    }

    /// Records with timestamps in `r`, ascending (equal timestamps in insertion
    /// order), as an [`iter::Range`](crate::iter::Range). It is double-ended: `.rev()`
    /// walks the range backwards, and both ends can be taken from in any order.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// for ts in [5, 1, 3, 3] {
    ///     log.append(ts, ts * 10);
    /// }
    /// let snap = log.snapshot();
    /// let fwd: Vec<i64> = snap.range(2..).map(|(t, _)| t).collect();
    /// assert_eq!(fwd, [3, 3, 5]);
    /// let back: Vec<i64> = snap.range(..=3).rev().map(|(t, _)| t).collect();
    /// assert_eq!(back, [3, 3, 1]);
    /// ```
    pub fn range(&self, r: impl RangeBounds<i64>) -> Range<'_, V> {
        let Some((lo, hi)) = inclusive(&r) else {
            return Range::empty();
        };
        let pieces = self.pieces(lo, hi);
        let srcs = self.sources(lo, hi, &pieces);
        Range::new(srcs, pieces, self.w)
    }

    /// Number of visible records in `r`. Segments are counted with binary searches;
    /// only memtable records are visited one by one.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch((0..10).map(|t| (t, t)));
    /// log.delete_range(2..4).unwrap();
    /// assert_eq!(log.snapshot().count(0..5), 3);
    /// ```
    pub fn count(&self, r: impl RangeBounds<i64>) -> usize {
        let Some((lo, hi)) = inclusive(&r) else {
            return 0;
        };
        let pieces = self.pieces(lo, hi);
        let mut n = 0;
        // Only the L1 segments overlapping the range (found by search), not all.
        self.each_segment(lo, hi, |s, _| n += s.count(lo, hi, &pieces));
        let mut srcs = Vec::new();
        for mt in self.m.memruns.iter().chain(std::iter::once(&self.m.active)) {
            mt.sources(lo, hi, &mut srcs);
        }
        if srcs.is_empty() {
            return n;
        }
        n + Range::new(srcs, pieces, self.w).remaining()
    }

    /// Whether no record is visible.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::<u8>::new();
    /// assert!(log.snapshot().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.first_ts().is_none()
    }

    /// Number of visible records.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, ()), (1, ())]);
    /// assert_eq!(log.snapshot().len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.count(..)
    }

    /// Turns the snapshot into an owning [`iter::Cursor`](crate::iter::Cursor) over
    /// `r`: same records and order as [`Snapshot::range`], but the cursor owns what
    /// it reads (the segments by `Arc`; the visible memtable records of the range are
    /// merged and copied now, cloning their values: O(memtable records in `r`)), so it
    /// can be kept where a borrow cannot (language bindings), even after the log is
    /// dropped.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, 'a'), (2, 'b'), (3, 'c')]);
    /// let mut cur = log.snapshot().into_cursor(2..);
    /// assert_eq!(cur.remaining(), 2);
    /// assert_eq!(cur.next_ref(), Some((2, &'b')));
    /// assert_eq!(cur.next_back_ref(), Some((3, &'c')));
    /// assert_eq!(cur.next(), None);
    /// ```
    pub fn into_cursor(self, r: impl RangeBounds<i64>) -> Cursor<V> {
        let mut srcs = Vec::new();
        if let Some((lo, hi)) = inclusive(&r) {
            let pieces = self.pieces(lo, hi);
            self.each_segment(lo, hi, |seg, rank| {
                seg.visible_ranges(lo, hi, &pieces, |a, b| {
                    srcs.push(Slot::owned_seg(seg.clone(), rank, a, b))
                })
            });
            // The visible memtable records, merged and copied (memtables are small).
            let mut mem = Vec::new();
            for mt in self.m.memruns.iter().chain(std::iter::once(&self.m.active)) {
                mt.sources(lo, hi, &mut mem);
            }
            srcs.extend(Range::new(mem, pieces, self.w).into_owned());
        }
        Cursor::new(srcs, self)
    }
}
