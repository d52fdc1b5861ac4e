//! [`Range`]: the borrowing, double-ended iterator over a snapshot range.

use super::cursor::Owned;
use crate::merge::{Back, Dir, Front, Merge};
use crate::source::{Borrowed, Columns, Slot, Src, MEM_RANK};
use crate::tombstone::Piece;

/// Iterator over `(ts, &value)` of a snapshot range, ascending by timestamp
/// (equal timestamps in insertion order), made by
/// [`Snapshot::range`](crate::Snapshot::range); iterate from the back with
/// [`DoubleEndedIterator::next_back`] or `.rev()`, or from both ends.
pub struct Range<'a, V> {
    m: Merge<Borrowed<'a, V>, (&'a [i64], &'a [V])>,
}

impl<'a, V> Range<'a, V> {
    pub(crate) fn new(srcs: Vec<Src<'a, V>>, pieces: Vec<Piece>, watermark: u64) -> Self {
        Range { m: Merge::new(srcs, pieces, watermark) }
    }

    /// The merge (for the tests of the merge through this iterator).
    #[cfg(test)]
    pub(super) fn merge(&self) -> &Merge<Borrowed<'a, V>, (&'a [i64], &'a [V])> {
        &self.m
    }

    pub(crate) fn empty() -> Self {
        Self::new(Vec::new(), Vec::new(), 0)
    }

    /// Exact number of records left, without consuming them.
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, ()), (2, ()), (3, ())]);
    /// let snap = log.snapshot();
    /// let mut r = snap.range(..);
    /// let _ = r.next_back();
    /// assert_eq!(r.remaining(), 2);
    /// ```
    pub fn remaining(&self) -> usize {
        self.m.remaining()
    }

    /// The next record in direction `D`: the hot path walks a stretch that needs no
    /// checks through the slices it keeps.
    #[inline(always)]
    fn take<D: Dir>(&mut self) -> Option<(i64, &'a V)> {
        let st = &mut self.m.stretch[D::I];
        if D::left(st.pos, st.end) > 0 {
            let j = D::take_n(&mut st.pos, 1).start;
            let (ts, vals): (&'a [i64], &'a [V]) = st.cols;
            let t = if st.paged { st.win.get(j) } else { ts[j] };
            return Some((t, &vals[j]));
        }
        self.take_slow::<D>()
    }

    #[cold]
    fn take_slow<D: Dir>(&mut self) -> Option<(i64, &'a V)> {
        let (i, j) = self.m.step::<D>()?;
        let cols = &self.m.srcs[i].cols;
        Some((cols.ts_at(j), cols.val(j)))
    }

    /// `fold` in direction `D`: hot windows are folded as slices, and while the
    /// direction merges with the tree, the records go from its merge loop to `g`.
    #[inline(always)]
    fn fold_dir<D: Dir, B>(mut self, mut acc: B, mut g: impl FnMut(B, (i64, &'a V)) -> B) -> B {
        loop {
            if let Some((_, r, (ts, vals))) = self.m.take_fast::<D>(usize::MAX) {
                acc = match self.m.window_ts::<D>(&r) {
                    Some(w) => D::fold_win(w, &vals[r], acc, &mut g),
                    None => D::fold(&ts[r.clone()], &vals[r], acc, &mut g),
                };
                continue;
            }
            if self.m.tree_on::<D>() {
                let f = |a, s: &Src<'a, V>, j: usize| g(a, (s.cols.ts_at(j), s.cols.val(j)));
                if self.m.tree_plain() {
                    let buffered = self.m.tree_buffered();
                    acc = self.m.tree_bulk::<D, B>(buffered, acc, f).0;
                    let h = |a, (ts, vals): (&'a [i64], &'a [V]), j: usize| g(a, (ts[j], &vals[j]));
                    acc = self.m.tree_fold_plain::<D, B>(acc, h);
                } else {
                    acc = self.m.tree_bulk::<D, B>(usize::MAX, acc, f).0;
                }
                continue;
            }
            match self.take_slow::<D>() {
                Some(x) => acc = g(acc, x),
                None => return acc,
            }
        }
    }
}

impl<V: Clone> Range<'_, V> {
    /// The records left, copied (values cloned) into one owned source for a
    /// [`Cursor`](super::Cursor) (a merge of memtable sources): a single source is copied stretch by
    /// stretch of visible records, several are merged.
    pub(crate) fn into_owned(mut self) -> Option<Slot<Owned<V>>> {
        let (mut ts, mut vals) = (Vec::new(), Vec::new());
        if let [s] = &self.m.srcs[..] {
            let (lo, hi) = self.m.window(0);
            ts.reserve(hi - lo);
            vals.reserve(hi - lo);
            let mut j = lo;
            while j < hi {
                let a = j;
                while j < hi && s.visible(j, &self.m.pieces, self.m.watermark) {
                    j += 1;
                }
                s.cols.ts.extend_into(a, j, &mut ts);
                match s.cols.fast() {
                    Some((_, v)) => vals.extend_from_slice(&v[a..j]),
                    None => vals.extend((a..j).map(|k| s.cols.val(k).clone())),
                }
                j += 1; // not visible (or `hi`)
            }
        } else {
            let n = self.size_hint().1.unwrap_or(0);
            ts.reserve(n);
            vals.reserve(n);
            self.drain_into(&mut ts, &mut vals, usize::MAX);
        }
        let n = ts.len();
        (n > 0).then(|| Slot::new(Owned::Mem(ts, vals), MEM_RANK, 0, n, 0, false))
    }

    /// Moves records into `ts`/`vals` (cloning values) until the range is empty
    /// (returns `None`) or `ts` holds at least `cap` records and the next record has
    /// a new timestamp: that record is consumed and returned, to start the next
    /// chunk, so that a cut never separates equal timestamps. Stretches of sources
    /// that need no per-record check are copied in bulk.
    pub(crate) fn drain_into(
        &mut self,
        ts: &mut Vec<i64>,
        vals: &mut Vec<V>,
        cap: usize,
    ) -> Option<(i64, V)> {
        loop {
            let room = cap.saturating_sub(ts.len());
            if let Some((_, r, (t, v))) = self.m.take_fast::<Front>(room) {
                match self.m.window_ts::<Front>(&r) {
                    Some(w) => w.extend_into(ts),
                    None => ts.extend_from_slice(&t[r.clone()]),
                }
                vals.extend_from_slice(&v[r]);
                continue;
            }
            if room > 0 && self.m.tree_on::<Front>() {
                self.m.tree_bulk::<Front, ()>(room, (), |(), s, j| {
                    ts.push(s.cols.ts_at(j));
                    vals.push(s.cols.val(j).clone());
                });
                continue;
            }
            let (t, v) = self.next()?;
            if room == 0 && ts.last() != Some(&t) {
                return Some((t, v.clone()));
            }
            ts.push(t);
            vals.push(v.clone());
        }
    }
}

impl<'a, V> Iterator for Range<'a, V> {
    type Item = (i64, &'a V);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.take::<Front>()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.m.size_hint()
    }

    fn count(self) -> usize {
        self.remaining()
    }

    fn last(mut self) -> Option<Self::Item> {
        self.next_back()
    }

    #[inline]
    fn fold<B, G: FnMut(B, Self::Item) -> B>(self, init: B, g: G) -> B {
        self.fold_dir::<Front, B>(init, g)
    }
}

impl<V> DoubleEndedIterator for Range<'_, V> {
    #[inline]
    fn next_back(&mut self) -> Option<Self::Item> {
        self.take::<Back>()
    }

    #[inline]
    fn rfold<B, G: FnMut(B, Self::Item) -> B>(self, init: B, g: G) -> B {
        self.fold_dir::<Back, B>(init, g)
    }
}

impl<V> std::iter::FusedIterator for Range<'_, V> {}

impl<V> std::fmt::Debug for Range<'_, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Range").field("sources", &self.m.srcs.len()).finish_non_exhaustive()
    }
}
