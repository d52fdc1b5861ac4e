//! Snapshots: a pinned manifest plus a sequence watermark.

use std::ops::{Bound, RangeBounds};

use crate::cursor::{Range, Src, MEM_RANK};
use crate::manifest::Manifest;
use crate::sync::Arc;
use crate::tombstone::{step_function, Piece, Tomb};

/// Converts any `RangeBounds<i64>` into inclusive `[lo, hi]`, or `None` if empty.
pub(crate) fn inclusive(r: &impl RangeBounds<i64>) -> Option<(i64, i64)> {
    let lo = match r.start_bound() {
        Bound::Included(&a) => a,
        Bound::Excluded(&a) => a.checked_add(1)?,
        Bound::Unbounded => i64::MIN,
    };
    let hi = match r.end_bound() {
        Bound::Included(&b) => b,
        Bound::Excluded(&b) => b.checked_sub(1)?,
        Bound::Unbounded => i64::MAX,
    };
    (lo <= hi).then_some((lo, hi))
}

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
        Snapshot {
            m: self.m.clone(),
            w: self.w,
        }
    }
}

impl<V> std::fmt::Debug for Snapshot<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("watermark", &self.w)
            .finish_non_exhaustive()
    }
}

impl<V: crate::Value> Snapshot<V> {
    /// The sequence watermark: every write numbered below it is visible here.
    pub fn watermark(&self) -> u64 {
        self.w
    }

    /// Tombstone step function over `[lo, hi]` for this snapshot.
    pub(crate) fn pieces(&self, lo: i64, hi: i64) -> Vec<Piece> {
        let mut tombs: Vec<Tomb> = Vec::new();
        self.m.tombs.overlapping(lo, hi, &mut tombs);
        for mt in self.m.memruns.iter().chain(std::iter::once(&self.m.active)) {
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

    pub(crate) fn sources(&self, lo: i64, hi: i64, pieces: &[Piece]) -> Vec<Src<'_, V>> {
        let mut srcs = Vec::new();
        // L1: sorted and disjoint, so only the overlapping stretch is visited.
        let l1 = &self.m.l1;
        let first = l1.partition_point(|s| s.max_ts() < lo);
        for s in &l1[first..] {
            if s.min_ts() > hi {
                break;
            }
            s.sources(lo, hi, pieces, 0, &mut srcs);
        }
        for (i, s) in self.m.l0.iter().enumerate() {
            if s.max_ts() >= lo && s.min_ts() <= hi {
                s.sources(lo, hi, pieces, 1 + i as u32, &mut srcs);
            }
        }
        for mt in &self.m.memruns {
            mt.sources(lo, hi, &mut srcs);
        }
        self.m.active.sources(lo, hi, &mut srcs);
        debug_assert!(self.m.l0.len() < MEM_RANK as usize - 1);
        srcs
    }

    /// Records with timestamps in `r`, ascending (equal timestamps in insertion
    /// order). The iterator is double-ended: `.rev()` walks the range backwards.
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

    /// Values stored at exactly `ts`, in insertion order.
    pub fn point(&self, ts: i64) -> impl DoubleEndedIterator<Item = &V> + '_ {
        self.range(ts..=ts).map(|(_, v)| v)
    }

    /// Number of visible records in `r`. Segments are counted with binary searches;
    /// only memtable records are visited one by one.
    pub fn count(&self, r: impl RangeBounds<i64>) -> usize {
        let Some((lo, hi)) = inclusive(&r) else {
            return 0;
        };
        let pieces = self.pieces(lo, hi);
        let mut n = 0;
        for s in self.m.l0.iter().chain(self.m.l1.iter()) {
            if s.max_ts() >= lo && s.min_ts() <= hi {
                n += s.count(lo, hi, &pieces);
            }
        }
        let mut srcs = Vec::new();
        for mt in self.m.memruns.iter().chain(std::iter::once(&self.m.active)) {
            mt.sources(lo, hi, &mut srcs);
        }
        n + Range::new(srcs, pieces, self.w).remaining()
    }

    /// Whether no record is visible.
    pub fn is_empty(&self) -> bool {
        self.first_ts().is_none()
    }

    /// Number of visible records.
    pub fn len(&self) -> usize {
        self.count(..)
    }

    /// Smallest visible timestamp.
    pub fn first_ts(&self) -> Option<i64> {
        self.range(..).next().map(|(t, _)| t)
    }

    /// Largest visible timestamp.
    pub fn last_ts(&self) -> Option<i64> {
        self.range(..).next_back().map(|(t, _)| t)
    }

    /// Smallest visible timestamp strictly above `ts`.
    pub fn next_ts(&self, ts: i64) -> Option<i64> {
        let from = ts.checked_add(1)?;
        self.range(from..).next().map(|(t, _)| t)
    }

    /// Largest visible timestamp strictly below `ts`.
    pub fn prev_ts(&self, ts: i64) -> Option<i64> {
        self.range(..ts).next_back().map(|(t, _)| t)
    }
}
