//! Point lookups: the values stored at one timestamp.

use super::Snapshot;
use crate::segment::Segment;
use crate::sync::Arc;
use crate::tombstone::{record_visible, Piece};

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

impl<V: crate::Value> Snapshot<V> {
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
        // Patches over `ts` overlap each other, so their ranks order them by age.
        let mut patches: Vec<(&Arc<Segment<V>>, u32)> = Vec::new();
        if !self.m.patches.is_empty() {
            patches.extend(self.m.patches.overlapping(ts, ts));
            patches.sort_unstable_by_key(|&(_, r)| r);
        }
        let segs = l1_seg.into_iter().chain(patches.into_iter().map(|(s, _)| s)).chain(self.m.l0.iter());
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
}
