//! Snapshots: a pinned manifest plus a sequence watermark.

use std::ops::{Bound, RangeBounds};

use crate::cursor::{Cursor, Range, Slot, Src, MEM_RANK};
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::memtable::Edge;
use crate::segment::Segment;
use crate::sync::Arc;
use crate::tombstone::{record_visible, step_function, Piece, Tomb};

/// The inclusive bounds `[lo, hi]` of a delete over `r`: `Ok(None)` for an empty
/// range (`a..a`, `..i64::MIN`), which deletes nothing, as `Vec::drain(a..a)`
/// removes nothing; [`Error::InvalidRange`] for an inverted one (`5..3`).
pub(crate) fn delete_bounds(r: &impl RangeBounds<i64>) -> Result<Option<(i64, i64)>> {
    let start = match r.start_bound() {
        Bound::Included(&a) => a as i128,
        Bound::Excluded(&a) => a as i128 + 1,
        Bound::Unbounded => i64::MIN as i128,
    };
    let end = match r.end_bound() {
        Bound::Included(&b) => b as i128 + 1,
        Bound::Excluded(&b) => b as i128,
        Bound::Unbounded => i64::MAX as i128 + 1,
    };
    match start.cmp(&end) {
        std::cmp::Ordering::Greater => Err(Error::InvalidRange),
        std::cmp::Ordering::Equal => Ok(None),
        // Both fit: `start < end <= i64::MAX + 1` and `start >= i64::MIN`.
        std::cmp::Ordering::Less => Ok(Some((start as i64, (end - 1) as i64))),
    }
}

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

/// The values of a point lookup, in insertion order: the first stretch as a
/// slice, and everything once a second stretch arrives in `more`.
struct Gather<'a, V> {
    first: &'a [V],
    more: Vec<&'a V>,
}

impl<'a, V> Gather<'a, V> {
    fn slice(&mut self, s: &'a [V]) {
        if self.first.is_empty() && self.more.is_empty() {
            self.first = s;
        } else {
            self.spill();
            self.more.extend(s);
        }
    }

    /// Moves the slice into `more`, so later values can follow it.
    fn spill(&mut self) {
        self.more.extend(std::mem::take(&mut self.first));
    }
}

/// Iterator over the values stored at one timestamp, in insertion order, made by
/// [`Snapshot::point`]: a slice of one segment, or the values gathered from several
/// layers.
pub struct Point<'a, V>(PointInner<'a, V>);

enum PointInner<'a, V> {
    Slice(std::slice::Iter<'a, V>),
    Vec(std::vec::IntoIter<&'a V>),
}

impl<'a, V> Iterator for Point<'a, V> {
    type Item = &'a V;

    #[inline]
    fn next(&mut self) -> Option<&'a V> {
        match &mut self.0 {
            PointInner::Slice(it) => it.next(),
            PointInner::Vec(it) => it.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            PointInner::Slice(it) => it.size_hint(),
            PointInner::Vec(it) => it.size_hint(),
        }
    }
}

impl<V> DoubleEndedIterator for Point<'_, V> {
    #[inline]
    fn next_back(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            PointInner::Slice(it) => it.next_back(),
            PointInner::Vec(it) => it.next_back(),
        }
    }
}

impl<V> ExactSizeIterator for Point<'_, V> {}

impl<V> std::iter::FusedIterator for Point<'_, V> {}

impl<V> std::fmt::Debug for Point<'_, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Point").field("len", &self.len()).finish()
    }
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
    /// then L0 oldest first (rank `1 + age`).
    fn each_segment<'s>(&'s self, lo: i64, hi: i64, mut f: impl FnMut(&'s Arc<Segment<V>>, u32)) {
        for s in self.m.l1_overlapping(lo, hi) {
            f(s, 0);
        }
        for (i, s) in self.m.l0.iter().enumerate() {
            if s.max_ts() >= lo && s.min_ts() <= hi {
                f(s, 1 + i as u32);
            }
        }
        debug_assert!(self.m.l0.len() < MEM_RANK as usize - 1);
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

    /// Values stored at exactly `ts`, in insertion order, as an
    /// [`iter::Point`](crate::iter::Point) (double-ended, exact size).
    ///
    /// A dedicated path: no merge is needed at a single timestamp (L1, then L0
    /// segments oldest first, then memtable records by sequence number is insertion
    /// order), so it does one search per overlapping segment; when the values are
    /// one stretch of one segment (the usual case) it allocates nothing.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(7, "a"), (3, "x"), (7, "b")]);
    /// let snap = log.snapshot();
    /// assert_eq!(snap.point(7).copied().collect::<Vec<_>>(), ["a", "b"]);
    /// assert_eq!(snap.point(7).rev().len(), 2);
    /// assert_eq!(snap.point(8).next(), None);
    /// ```
    pub fn point(&self, ts: i64) -> Point<'_, V> {
        let mut g = Gather { first: &[], more: Vec::new() };
        self.point_gather(ts, &mut g);
        Point(if g.more.is_empty() {
            PointInner::Slice(g.first.iter())
        } else {
            PointInner::Vec(g.more.into_iter())
        })
    }

    /// Appends the values stored at exactly `ts` to `out`, in insertion order.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(2, 'a'), (2, 'b'), (3, 'c')]);
    /// let snap = log.snapshot();
    /// let mut out = Vec::new();
    /// snap.point_into(2, &mut out);
    /// assert_eq!(out, [&'a', &'b']);
    /// ```
    pub fn point_into<'a>(&'a self, ts: i64, out: &mut Vec<&'a V>) {
        let mut g = Gather { first: &[], more: Vec::new() };
        self.point_gather(ts, &mut g);
        out.extend(g.first);
        out.extend(g.more);
    }

    fn point_gather<'a>(&'a self, ts: i64, g: &mut Gather<'a, V>) {
        let l1 = &self.m.l1;
        let i = self.m.l1_from(ts);
        let l1_seg = l1.get(i).filter(|s| s.min_ts() <= ts);
        // The segment's memory loads while the tombstones are computed.
        if let Some(s) = l1_seg {
            s.prefetch(ts);
        }
        // The step function of one timestamp is one piece: its newest cover.
        let cover = self.cover_at(ts);
        let one = [Piece { lo: ts, hi: ts, seq: cover }];
        let pieces: &[Piece] = if cover > 0 { &one } else { &[] };
        let segs = l1_seg.into_iter().chain(self.m.l0.iter());
        for seg in segs {
            if seg.min_ts() <= ts && ts <= seg.max_ts() {
                seg.visible_ranges(ts, ts, pieces, |a, b| g.slice(&seg.vals()[a..b]));
            }
        }
        let mut mem: Vec<(u64, &'a V)> = Vec::new();
        for mt in self.m.memruns.iter().chain(std::iter::once(&self.m.active)) {
            mt.point_into(ts, &mut |seq, v| {
                if record_visible(pieces, self.w, ts, seq) {
                    mem.push((seq, v));
                }
            });
        }
        if !mem.is_empty() {
            mem.sort_unstable_by_key(|&(seq, _)| seq);
            g.spill();
            g.more.extend(mem.into_iter().map(|(_, v)| v));
        }
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

    /// Smallest visible timestamp.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(4, ()), (i64::MIN, ())]);
    /// assert_eq!(log.snapshot().first_ts(), Some(i64::MIN));
    /// ```
    pub fn first_ts(&self) -> Option<i64> {
        self.edge(i64::MIN, i64::MAX, true)
    }

    /// Largest visible timestamp.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(4, ()), (9, ())]);
    /// log.delete_range(9..).unwrap();
    /// assert_eq!(log.snapshot().last_ts(), Some(4));
    /// ```
    pub fn last_ts(&self) -> Option<i64> {
        self.edge(i64::MIN, i64::MAX, false)
    }

    /// Smallest visible timestamp strictly above `ts`.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, ()), (7, ())]);
    /// assert_eq!(log.snapshot().next_ts(1), Some(7));
    /// assert_eq!(log.snapshot().next_ts(i64::MAX), None);
    /// ```
    pub fn next_ts(&self, ts: i64) -> Option<i64> {
        self.edge(ts.checked_add(1)?, i64::MAX, true)
    }

    /// Largest visible timestamp strictly below `ts`.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, ()), (7, ())]);
    /// assert_eq!(log.snapshot().prev_ts(7), Some(1));
    /// assert_eq!(log.snapshot().prev_ts(i64::MIN), None);
    /// ```
    pub fn prev_ts(&self, ts: i64) -> Option<i64> {
        self.edge(i64::MIN, ts.checked_sub(1)?, false)
    }

    /// The smallest (`front`) or largest visible timestamp in `[lo, hi]`, found per
    /// source without merging: a few binary searches per segment, and in memtables
    /// a walk from the boundary that stops at the first visible record.
    fn edge(&self, lo: i64, hi: i64, front: bool) -> Option<i64> {
        if lo > hi {
            return None;
        }
        let pieces = self.pieces(lo, hi);
        let mut best: Option<i64> = None;
        let mut offer = |t: i64| {
            best = Some(match best {
                None => t,
                Some(b) if front => b.min(t),
                Some(b) => b.max(t),
            })
        };
        // L1 segments are disjoint and sorted: the first (last) one with a visible
        // record in range holds the answer among L1, so the walk stops there
        // (usually at the first segment it looks at).
        let l1 = self.m.l1_overlapping(lo, hi);
        let found = if front {
            l1.iter().find_map(|s| seg_edge(s, lo, hi, &pieces, true))
        } else {
            l1.iter().rev().find_map(|s| seg_edge(s, lo, hi, &pieces, false))
        };
        if let Some(t) = found {
            offer(t);
        }
        for seg in &self.m.l0 {
            if seg.max_ts() >= lo && seg.min_ts() <= hi {
                if let Some(t) = seg_edge(seg, lo, hi, &pieces, front) {
                    offer(t);
                }
            }
        }
        for mt in self.m.memruns.iter().chain(std::iter::once(&self.m.active)) {
            let visible = |ts, seq| record_visible(&pieces, self.w, ts, seq);
            if let Some(t) = mt.edge(&Edge { lo, hi, front, visible: &visible }) {
                offer(t);
            }
        }
        best
    }
}

fn seg_edge<V>(
    seg: &crate::segment::Segment<V>,
    lo: i64,
    hi: i64,
    pieces: &[Piece],
    front: bool,
) -> Option<i64> {
    let mut out = None;
    seg.visible_ranges(lo, hi, pieces, |a, b| {
        if front {
            out = out.or(Some(seg.ts()[a]));
        } else {
            out = Some(seg.ts()[b - 1]);
        }
    });
    out
}

impl<V: crate::Value> Snapshot<V> {
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

    /// The physical pages of flushed segments that overlap `r`, clipped to it:
    /// L1 segments in timestamp order, then L0 segments oldest first, page by page.
    /// Records deleted but not yet compacted away are still included, and records
    /// still in memtables are not (this is a storage view, not a query).
    ///
    /// ```
    /// use timelog::{Level, Timelog};
    /// let log = Timelog::new();
    /// let _ = log.append_batch((0..100).map(|t| (t, t)));
    /// log.compact_now();
    /// let pages = log.snapshot().segment_pages(10..20);
    /// let n: usize = pages.iter().map(|p| p.len()).sum();
    /// assert_eq!(n, 10);
    /// assert!(pages.iter().all(|p| p.level() == Level::L1 && !p.is_empty()));
    /// assert_eq!(pages[0].timestamps()[0], 10);
    /// assert_eq!(pages[0].values()[0], 10);
    /// ```
    pub fn segment_pages(&self, r: impl RangeBounds<i64>) -> Vec<PageRef<V>> {
        let mut out = Vec::new();
        let Some((lo, hi)) = inclusive(&r) else {
            return out;
        };
        self.each_segment(lo, hi, |seg, _| {
            let (a, b) = (seg.lower_bound(lo), seg.upper_bound(hi));
            for p in 0..seg.page_count() {
                let pr = seg.page(p);
                let (s, e) = (pr.start.max(a), pr.end.min(b));
                if s < e {
                    out.push(PageRef { seg: seg.clone(), start: s, end: e });
                }
            }
        });
        out
    }
}

/// A clipped page of one flushed segment (see [`Snapshot::segment_pages`]). It
/// keeps its segment alive.
pub struct PageRef<V> {
    seg: Arc<crate::segment::Segment<V>>,
    start: usize,
    end: usize,
}

impl<V> Clone for PageRef<V> {
    fn clone(&self) -> Self {
        PageRef { seg: self.seg.clone(), start: self.start, end: self.end }
    }
}

impl<V> PageRef<V> {
    /// The page's timestamps (sorted).
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, 'a'), (2, 'b')]);
    /// log.flush();
    /// let page = &log.snapshot().segment_pages(..)[0];
    /// assert_eq!(page.timestamps(), [1, 2]);
    /// ```
    pub fn timestamps(&self) -> &[i64] {
        &self.seg.ts()[self.start..self.end]
    }

    /// The page's values, position by position with [`PageRef::timestamps`].
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, 'a'), (2, 'b')]);
    /// log.flush();
    /// let page = &log.snapshot().segment_pages(..)[0];
    /// assert_eq!(page.values(), ['a', 'b']);
    /// ```
    pub fn values(&self) -> &[V] {
        &self.seg.vals()[self.start..self.end]
    }

    /// Number of records in the page.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, 'a'), (2, 'b')]);
    /// log.flush();
    /// let page = &log.snapshot().segment_pages(..)[0];
    /// assert_eq!(page.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Always `false`: empty pages are never returned.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, 'a'), (2, 'b')]);
    /// log.flush();
    /// let page = &log.snapshot().segment_pages(..)[0];
    /// assert!(!page.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// The level of the segment the page belongs to.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, 'a'), (2, 'b')]);
    /// log.flush();
    /// let page = &log.snapshot().segment_pages(..)[0];
    /// assert_eq!(page.level(), timelog::Level::L0);
    /// ```
    pub fn level(&self) -> crate::Level {
        self.seg.level
    }
}

impl<V> std::fmt::Debug for PageRef<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageRef").field("len", &self.len()).field("level", &self.seg.level).finish()
    }
}
