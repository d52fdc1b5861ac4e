//! [`Cursor`]: the owning iterator over a snapshot range, and the columns it owns.

use super::Snapshot;
use crate::merge::{Back, Dir, Front, Merge};
use crate::packed::PackedTs;
use crate::segment::{Segment, TsView};
use crate::source::{Columns, Slot};
use crate::sync::Arc;

/// Columns a [`Cursor`] owns: a segment (kept alive by its `Arc`), or a copy of the
/// visible memtable records of the range, merged into one source in insertion
/// order when the cursor was made. Neither needs a per-record check or sequence
/// numbers (the memtable records have no other memtable source to be ordered
/// against).
pub(crate) enum Owned<V> {
    Seg(Arc<Segment<V>>),
    Mem(Vec<i64>, Vec<V>),
}

impl<V> Owned<V> {
    #[inline]
    fn columns(&self) -> (TsView<'_>, &[V]) {
        match self {
            Owned::Seg(s) => (s.ts(), s.vals()),
            Owned::Mem(ts, vals) => (TsView::Raw(ts), vals),
        }
    }
}

impl<V> Columns for Owned<V> {
    /// Nothing to keep: the cursor cannot hold slices of its own sources, so its hot
    /// path reaches the columns through the source (or walks them in bulk, `fill`).
    type Fast = ();

    #[inline(always)]
    fn ts_at(&self, j: usize) -> i64 {
        self.columns().0.get(j)
    }

    #[inline]
    fn packed(&self) -> Option<&PackedTs> {
        match self.columns().0 {
            TsView::Packed(p) => Some(p),
            TsView::Raw(_) => None,
        }
    }

    #[inline]
    fn seq(&self, _: usize) -> u64 {
        0
    }

    fn fast(&self) -> Option<()> {
        Some(())
    }

    #[inline(always)]
    fn prefetch(&self, j: usize) {
        let (ts, vals) = self.columns();
        match ts {
            TsView::Raw(ts) => crate::hint::prefetch_ptr(ts.as_ptr().wrapping_add(j)),
            TsView::Packed(_) if j < vals.len() => ts.prefetch(j),
            TsView::Packed(_) => {}
        }
        crate::hint::prefetch_ptr(vals.as_ptr().wrapping_add(j));
    }

    /// None: the handle is `()`, and a tree over owned sources never takes its plain
    /// path.
    fn fast_ts(_: &()) -> &[i64] {
        &[]
    }

    fn fast_prefetch(_: &(), _: usize) {}
}

impl<V> Slot<Owned<V>> {
    /// Records `[lo, hi)` of a segment (all visible), owned through its `Arc`.
    pub(crate) fn owned_seg(seg: Arc<Segment<V>>, rank: u32, lo: usize, hi: usize) -> Self {
        Slot::new(Owned::Seg(seg), rank, lo, hi, 0, false)
    }
}

/// What [`Cursor::source`] shows of a source: its timestamps, its values, and its
/// segment when it is one.
#[cfg(feature = "arrow")]
pub(crate) type SourceColumns<'c, V> = (TsView<'c>, &'c [V], Option<&'c Arc<Segment<V>>>);

/// A range cursor that owns what it reads, made by
/// [`Snapshot::into_cursor`](crate::Snapshot::into_cursor): for holders that cannot
/// keep a borrow alive, such as language bindings. Same order and filtering as
/// [`Snapshot::range`](crate::Snapshot::range).
///
/// It keeps the segments it reads alive (by `Arc`) and holds its own copy of the
/// visible memtable records of the range (copied when it was made: memtables are
/// small), so it outlives the log and the snapshot it came from; dropping it
/// releases them. As an [`Iterator`] it yields cloned values; the lending
/// accessors [`next_ref`](Cursor::next_ref), [`next_back_ref`](Cursor::next_back_ref)
/// and the batch [`fill_front`](Cursor::fill_front)/[`fill_back`](Cursor::fill_back)
/// lend them instead.
///
/// ```
/// use timelog::Timelog;
/// let log = Timelog::new();
/// let _ = log.append_batch([(1, 'a'), (2, 'b'), (3, 'c'), (4, 'd')]);
/// let mut cur = log.snapshot().into_cursor(..);
/// drop(log);
/// assert_eq!(cur.remaining(), 4);
/// assert_eq!(cur.next_ref(), Some((1, &'a')));
/// assert_eq!(cur.next_back(), Some((4, 'd')));
/// let mut got = Vec::new();
/// assert_eq!(cur.fill_front(10, |ts, v| got.push((ts, *v))), 2);
/// assert_eq!(got, [(2, 'b'), (3, 'c')]);
/// assert_eq!(cur.remaining(), 0);
/// ```
pub struct Cursor<V> {
    m: Merge<Owned<V>, ()>,
    snap: Snapshot<V>,
}

impl<V> Cursor<V> {
    /// A cursor over owned sources, keeping `snap` for [`Cursor::snapshot`].
    pub(crate) fn new(srcs: Vec<Slot<Owned<V>>>, snap: Snapshot<V>) -> Self {
        debug_assert!(srcs.iter().all(|s| !s.check));
        Cursor { m: Merge::new(srcs, Vec::new(), snap.w), snap }
    }

    /// The next record in direction `D`.
    #[inline(always)]
    fn take<D: Dir>(&mut self) -> Option<(i64, &V)> {
        let (i, j, t) = match self.m.take_fast::<D>(1) {
            Some((i, r, ())) => (i, r.start, self.m.window_ts::<D>(&r).map(|w| w.get(0))),
            None => {
                let (i, j) = self.step::<D>()?;
                (i, j, None)
            }
        };
        let (ts, vals) = self.m.srcs[i].cols.columns();
        Some((t.unwrap_or_else(|| ts.get(j)), &vals[j]))
    }

    #[cold]
    fn step<D: Dir>(&mut self) -> Option<(usize, usize)> {
        self.m.step::<D>()
    }

    /// Calls `f` on up to `max` next records in direction `D`; returns how many.
    /// Records reach `f` from two places: a fold over a slice (a stretch, or the one
    /// record a pick starts with), and the tree's merge loop.
    #[inline(always)]
    fn fill<D: Dir>(&mut self, max: usize, mut f: impl FnMut(i64, &V)) -> usize {
        let mut n = 0;
        while n < max {
            // While the tree is on, the direction has no stretch.
            if self.m.tree_on::<D>() {
                let g = |(), s: &Slot<Owned<V>>, j: usize| {
                    let (ts, vals) = s.cols.columns();
                    f(ts.get(j), &vals[j]);
                };
                n += self.m.tree_bulk::<D, ()>(max - n, (), g).1;
                continue;
            }
            let (i, r) = match self.m.take_fast::<D>(max - n) {
                Some((i, r, ())) => (i, r),
                None => match self.step::<D>() {
                    Some((i, j)) => (i, j..j + 1),
                    None => break,
                },
            };
            let (ts, vals) = self.m.srcs[i].cols.columns();
            n += r.len();
            // Records of a packed column's stretch: from its decoded window.
            match (self.m.window_ts::<D>(&r), ts) {
                (Some(w), _) => D::fold_win(w, &vals[r], (), |(), (t, v)| f(t, v)),
                (None, TsView::Raw(ts)) => D::fold(&ts[r.clone()], &vals[r], (), |(), (t, v)| f(t, v)),
                (None, ts) => r.for_each(|j| f(ts.get(j), &vals[j])),
            }
        }
        n
    }

    /// The next record from the front, its value lent.
    #[inline]
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, 'a'), (2, 'b'), (3, 'c')]);
    /// let mut cur = log.snapshot().into_cursor(..);
    /// assert_eq!(cur.next_ref(), Some((1, &'a')));
    /// ```
    pub fn next_ref(&mut self) -> Option<(i64, &V)> {
        self.take::<Front>()
    }

    /// The next record from the back, its value lent.
    #[inline]
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, 'a'), (2, 'b'), (3, 'c')]);
    /// let mut cur = log.snapshot().into_cursor(..);
    /// assert_eq!(cur.next_back_ref(), Some((3, &'c')));
    /// ```
    pub fn next_back_ref(&mut self) -> Option<(i64, &V)> {
        self.take::<Back>()
    }

    /// Calls `f(ts, &value)` on up to `max` next records from the front, in order;
    /// returns how many (fewer than `max` only at the end). Stretches of one source
    /// are walked as slices: the cheapest way to read many records.
    #[inline]
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, 'a'), (2, 'b'), (3, 'c')]);
    /// let mut cur = log.snapshot().into_cursor(..);
    /// let mut got = Vec::new();
    /// assert_eq!(cur.fill_front(2, |t, v| got.push((t, *v))), 2);
    /// assert_eq!(got, [(1, 'a'), (2, 'b')]);
    /// ```
    pub fn fill_front(&mut self, max: usize, f: impl FnMut(i64, &V)) -> usize {
        self.fill::<Front>(max, f)
    }

    /// [`fill_front`](Cursor::fill_front) from the back: descending timestamps,
    /// equal timestamps in reverse insertion order.
    #[inline]
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, 'a'), (2, 'b'), (3, 'c')]);
    /// let mut cur = log.snapshot().into_cursor(..);
    /// let mut got = Vec::new();
    /// assert_eq!(cur.fill_back(10, |t, _| got.push(t)), 3);
    /// assert_eq!(got, [3, 2, 1]);
    /// ```
    pub fn fill_back(&mut self, max: usize, f: impl FnMut(i64, &V)) -> usize {
        self.fill::<Back>(max, f)
    }

    /// Exact number of records not yet returned.
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, 'a'), (2, 'b'), (3, 'c')]);
    /// let mut cur = log.snapshot().into_cursor(..);
    /// let _ = cur.next();
    /// assert_eq!(cur.remaining(), 2);
    /// ```
    pub fn remaining(&self) -> usize {
        self.m.remaining()
    }

    /// Takes the next stretch of at most `max` records of one source from the front:
    /// the source's index (see [`Cursor::source`]) and the records' positions in it,
    /// ascending. A stretch the merge walks as a slice comes whole (the export turns
    /// long stretches of a segment into zero-copy columns); records the loser tree
    /// merges come one at a time.
    #[cfg(feature = "arrow")]
    pub(crate) fn next_chunk(&mut self, max: usize) -> Option<(usize, std::ops::Range<usize>)> {
        if max == 0 {
            return None;
        }
        if !self.m.tree_on::<Front>() {
            if let Some((i, r)) = self.m.take_run::<Front>(max) {
                return Some((i, r));
            }
        }
        let (i, j) = self.m.step::<Front>()?;
        // A pick hands out the first record of its stretch: join the rest of it.
        let st = &self.m.stretch[Front::I];
        if max > 1 && !self.m.tree_on::<Front>() && st.src == Some(i) && st.pos == j + 1 {
            if let Some((_, r)) = self.m.take_run::<Front>(max - 1) {
                debug_assert_eq!(r.start, j + 1);
                return Some((i, j..r.end));
            }
        }
        Some((i, j..j + 1))
    }

    /// The columns of source `i` of [`Cursor::next_chunk`], and its segment when it
    /// is one (not the copy of the range's memtable records).
    #[cfg(feature = "arrow")]
    pub(crate) fn source(&self, i: usize) -> SourceColumns<'_, V> {
        match &self.m.srcs[i].cols {
            Owned::Seg(s) => (s.ts(), s.vals(), Some(s)),
            Owned::Mem(ts, vals) => (TsView::Raw(ts), vals, None),
        }
    }

    /// The snapshot this cursor reads.
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, 'a'), (2, 'b'), (3, 'c')]);
    /// let mut cur = log.snapshot().into_cursor(..);
    /// assert_eq!(cur.snapshot().len(), 3);
    /// ```
    pub fn snapshot(&self) -> &Snapshot<V> {
        &self.snap
    }
}

impl<V: Clone> Iterator for Cursor<V> {
    type Item = (i64, V);

    #[inline]
    fn next(&mut self) -> Option<(i64, V)> {
        self.next_ref().map(|(t, v)| (t, v.clone()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.m.size_hint()
    }

    fn count(self) -> usize {
        self.remaining()
    }
}

impl<V: Clone> DoubleEndedIterator for Cursor<V> {
    #[inline]
    fn next_back(&mut self) -> Option<(i64, V)> {
        self.next_back_ref().map(|(t, v)| (t, v.clone()))
    }
}

impl<V: Clone> ExactSizeIterator for Cursor<V> {}

impl<V: Clone> std::iter::FusedIterator for Cursor<V> {}

impl<V> std::fmt::Debug for Cursor<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor").field("snapshot", &self.snap).finish_non_exhaustive()
    }
}
