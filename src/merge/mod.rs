//! The lock-free k-way merge of sorted sources, from both ends.
//!
//! Each source is a sorted window of one layer (a segment's visible sub-range, a
//! memtable run, the materialised part of a memtable's skiplist). The merge
//! takes them in the order of by the key `(ts, rank, seq)`:
//! - `rank` orders sources by age for equal timestamps: L1 (0), then L0 segments
//!   oldest first, then memtables (`u32::MAX`), whose records carry their own
//!   sequence numbers, which order them among themselves;
//! - so records with equal timestamps come out in insertion order.
//!
//! Instead of a heap step per record the merge works in *stretches*: it finds the
//! source whose head comes first and the second-best head among the others,
//! gallops to the end of the stretch that stays before that bound, and then emits
//! the stretch with a bounds check per record. Non-overlapping sources (the normal
//! case after compaction) therefore merge at nearly slice speed, and a single
//! source is a plain slice walk. The hot path of `iter::Range`'s `next`/`next_back` is a
//! compare of two positions and two slice reads; its `fold`/`rfold` (and so
//! `for_each`, `sum`, ...) walk a whole stretch as a slice.
//!
//! # One algorithm, two directions
//! [`Merge`] is written once, generic over a direction [`Dir`] ([`Front`] takes the
//! smallest key next, [`Back`] the largest): picking the best source, galloping to
//! the end of its stretch and stepping through it are the same code for both; the
//! direction primitives are written once too, on the constant [`Dir::BACK`]. Each
//! direction has at most one current [`Stretch`] (one type, kept twice), whose
//! position is the truth for its source's edge on that side while it is active
//! ([`Merge::window`]). A pick first ends the other direction's stretch (writing its
//! position back), so at most one stretch is active at any time and the pick reads
//! every window as it stands; a caller alternating between the ends re-picks at
//! every switch.
//!
//! The pick stops early at the first source that cannot win: sources are visited in
//! the direction's own order (by first key for the front: the order of `srcs`; by
//! last key, descending, for the back: `by_last`, built on the back's first pick),
//! and once a source the direction has not taken anything from is no better than
//! the second best so far, every later source is no better either (its head is at
//! or behind its initial head, which is at or behind this one's). So the early stop
//! is not a forward-only optimisation: the back gets it from its own order. A flush
//! merges dozens of runs that follow one another, and a scan over many L1 segments
//! has one source per segment: either way a pick looks at a few sources, not all.
//!
//! # Interleaved sources: the loser tree
//! When sources interleave record by record (L0 segments flushed from shuffled
//! data, before compaction), stretches are about one record long and each record
//! would pay a pick over all the sources. So each direction counts its short picks
//! in a row (a pick of the other direction resets the count), and after a few it
//! builds a loser tree over the sources with records left ([`tree`]): a record then
//! costs `log2(k)` branch-free comparisons of keys packed into one `u64` (or
//! `u128`), merged a block at a time, straight into `fold`/`rfold`, `fill_*` and
//! `drain_into`, or into a small buffer that `next`/`next_back` take from. Once a
//! block shows long runs of one source again, the tree ends and picks resume, so
//! ordered sources keep the stretch fast path. At most one of the two stretches and
//! the tree is active: a pick ends the other direction's tree too, putting the
//! records it merged and did not hand out back into their windows.
//!
//! # Borrowed and owned sources
//! The merge works on positions (source index, record index) and is generic over how
//! a source's columns are reached ([`Columns`]): `iter::Range` borrows them from a
//! snapshot ([`Borrowed`](crate::source::Borrowed), values handed out as `&'a V`), `iter::Cursor` owns them
//! (its `Owned` columns: segments behind their `Arc`; the visible memtable records of the
//! range merged into one copy when it is made), so it needs no borrow of the
//! snapshot and no `unsafe`.

use crate::packed::{PackedTs, WinTs, Window, BLOCK};
use crate::source::{Columns, Key, Slot};
use crate::tombstone::Piece;

mod dir;
mod key;
mod tree;

pub(crate) use dir::{Back, Dir, Front};
use tree::{Tree, SHORT, SHORT_PICKS};

/// Blocks of a packed timestamp column a stretch decodes at a time (4 KiB of
/// offsets: they stay in the first-level cache while the stretch is walked).
const WINDOW_BLOCKS: usize = 8;

/// A run of records of one source that a direction takes without looking at the
/// other sources: `[pos, lim)` for the front, `[lim, pos)` for the back.
///
/// The hot path takes records while `pos` has not reached `end` and reads them from
/// `cols`; nothing else. For a stretch whose records need no check `end` is `lim`;
/// otherwise `end` is the starting `pos` and `cols` a default, so the hot window is
/// empty for good and every record goes through [`Merge::step`].
///
/// A stretch over a packed timestamp column (`paged`) reads its timestamps from
/// `win`, a window of decoded blocks (records `win.base()..win.base() + win.len()`), and
/// its hot window ends at the window's edge (or at `lim`): [`Merge::step`] then
/// decodes the next window.
pub(crate) struct Stretch<F> {
    /// The source; `None`: the direction has no stretch.
    pub(crate) src: Option<usize>,
    /// The next record of the stretch.
    pub(crate) pos: usize,
    /// The end of the hot window (records that need no check).
    pub(crate) end: usize,
    lim: usize,
    /// The source's hot-path handle.
    pub(crate) cols: F,
    /// Whether the timestamps come from `win` (a packed column).
    pub(crate) paged: bool,
    /// Decoded blocks of the packed column.
    pub(crate) win: Window,
}

impl<F: Default> Stretch<F> {
    fn none() -> Self {
        Stretch {
            src: None,
            pos: 0,
            end: 0,
            lim: 0,
            cols: F::default(),
            paged: false,
            win: Window::default(),
        }
    }

    /// Decodes the window of `p` that the stretch walks next in direction `D`
    /// (whole blocks, up to [`WINDOW_BLOCKS`]), and ends the hot window at its
    /// edge. The stretch has records left.
    fn decode<D: Dir>(&mut self, p: &PackedTs) {
        let (b0, b1) = if D::BACK {
            let b1 = (self.pos - 1) / BLOCK + 1;
            (b1.saturating_sub(WINDOW_BLOCKS).max(self.lim / BLOCK), b1)
        } else {
            let b0 = self.pos / BLOCK;
            (b0, (b0 + WINDOW_BLOCKS).min((self.lim - 1) / BLOCK + 1))
        };
        p.decode_window(b0, b1, &mut self.win);
        let base = self.win.base();
        self.end = if D::BACK { base.max(self.lim) } else { (base + self.win.len()).min(self.lim) };
    }
}

/// The k-way merge of sorted sources, from both ends, over columns `C` (whose
/// stretches keep `F`, `C::Fast`; a parameter of its own so that `Range<'a, V>`
/// stays covariant in `'a`).
pub(crate) struct Merge<C, F> {
    /// The sources with records left when the merge was made, by first key.
    pub(crate) srcs: Vec<Slot<C>>,
    /// The tombstone pieces over the merged range (for checked sources).
    pub(crate) pieces: Vec<Piece>,
    /// The snapshot's watermark (for checked sources).
    pub(crate) watermark: u64,
    /// The current stretch of each direction: `[Front::I]` and `[Back::I]`.
    pub(crate) stretch: [Stretch<F>; 2],
    /// Source indices by last key, descending: the back's pick order.
    by_last: Vec<u32>,
    /// Short picks in a row of each direction (a pick of the other direction resets
    /// them): at [`SHORT_PICKS`], the direction builds its [`Tree`].
    short: [u8; 2],
    /// Per direction, a position in its pick order before which every source is
    /// exhausted: its picks start there. A scan over many L1 segments (one source
    /// each) would otherwise step over every exhausted source at every pick, a
    /// cost quadratic in the number of segments. A source exhausted at a pick stays
    /// so: windows only shrink, but for a tree putting back the records it merged
    /// and did not hand out ([`Merge::end_tree`]), and a tree takes records only
    /// from sources that had them when it was built, after every earlier pick (a
    /// pick finds no tree holding records: it ends the other direction's, and its
    /// own has ended).
    skip: [usize; 2],
    /// The loser tree of the direction whose stretches turned short, if any. At most
    /// one of the two stretches and the tree is active at any time.
    /// Boxed, and made on the first build: most merges never need one.
    tree: Option<Box<Tree<F>>>,
}

impl<C: Columns<Fast = F>, F: Copy + Default> Merge<C, F> {
    /// A merge of `srcs`, checking records of checked sources against `pieces` and
    /// `watermark`.
    pub(crate) fn new(srcs: Vec<Slot<C>>, pieces: Vec<Piece>, watermark: u64) -> Self {
        let mut srcs: Vec<_> = srcs.into_iter().filter(|s| s.lo < s.hi).collect();
        // By first key: the front's pick order.
        srcs.sort_by_key(|s| s.key(s.lo));
        // A memtable source needs per-record checks only if a tombstone overlaps it or
        // it holds records at or above the watermark: it is not sealed below it, and
        // its largest sequence number (one pass over a column, far cheaper than
        // checking records one by one) is not below it either.
        for s in srcs.iter_mut().filter(|s| s.check) {
            let (a, b) = (s.cols.ts_at(s.lo), s.cols.ts_at(s.hi - 1));
            let i = pieces.partition_point(|p| p.hi < a);
            let overlapped = pieces.get(i).is_some_and(|p| p.lo <= b);
            s.check = overlapped || (s.seal >= watermark && s.cols.max_seq(s.lo, s.hi) >= watermark);
        }
        Merge {
            srcs,
            pieces,
            watermark,
            stretch: [Stretch::none(), Stretch::none()],
            by_last: Vec::new(),
            short: [0; 2],
            skip: [0; 2],
            tree: None,
        }
    }

    /// The true window of source `i`: its edges, or the position of a stretch on it.
    #[inline]
    pub(crate) fn window(&self, i: usize) -> (usize, usize) {
        let s = &self.srcs[i];
        let at =
            |d: usize, edge: usize| if self.stretch[d].src == Some(i) { self.stretch[d].pos } else { edge };
        (at(Front::I, s.lo), at(Back::I, s.hi))
    }

    /// Ends direction `D`'s stretch, writing its position back to its source.
    #[inline]
    fn sync<D: Dir>(&mut self) {
        let st = &mut self.stretch[D::I];
        if let Some(i) = st.src.take() {
            *D::edge(&mut self.srcs[i]) = st.pos;
            // An empty hot window; the rest is left as it was, unread.
            st.end = st.pos;
            st.paged = false;
        }
    }

    /// Where direction `D`'s picks start in its order (see `skip`).
    #[cfg(test)]
    pub(crate) fn skipped<D: Dir>(&self) -> usize {
        self.skip[D::I]
    }

    /// The decoded timestamps of records `r` that [`Merge::take_fast`] just took
    /// from direction `D`'s stretch, if it walks a packed column (otherwise they
    /// are in the stretch's handle).
    #[inline(always)]
    pub(crate) fn window_ts<D: Dir>(&self, r: &std::ops::Range<usize>) -> Option<WinTs<'_>> {
        let st = &self.stretch[D::I];
        st.paged.then(|| st.win.slice(r.clone()))
    }

    /// Exact number of records left, without consuming them.
    pub(crate) fn remaining(&self) -> usize {
        let mut n = 0;
        for (i, s) in self.srcs.iter().enumerate() {
            let (lo, hi) = self.window(i);
            if s.check {
                n += (lo..hi).filter(|&j| s.visible(j, &self.pieces, self.watermark)).count();
            } else {
                n += hi.saturating_sub(lo);
            }
        }
        n + self.tree_buffered()
    }

    /// `size_hint`: exact unless some source needs per-record checks.
    pub(crate) fn size_hint(&self) -> (usize, Option<usize>) {
        let buffered = self.tree_buffered();
        let upper =
            (0..self.srcs.len()).map(|i| self.window(i)).map(|(lo, hi)| hi.saturating_sub(lo)).sum::<usize>()
                + buffered;
        let exact = self.srcs.iter().all(|s| !s.check);
        (if exact { upper } else { buffered }, Some(upper))
    }

    /// The next record in direction `D` as a position (source, record), past the hot
    /// path: steps through a checked stretch, or picks the next stretch. Kept small
    /// (the pick is out of line): checked sources come here for every record.
    #[inline]
    pub(crate) fn step<D: Dir>(&mut self) -> Option<(usize, usize)> {
        loop {
            let st = &mut self.stretch[D::I];
            if let Some(i) = st.src {
                if st.paged && D::left(st.pos, st.lim) > 0 {
                    if D::left(st.pos, st.end) == 0 {
                        let p = self.srcs[i].cols.packed().expect("a paged stretch walks a packed column");
                        st.decode::<D>(p);
                    }
                    return D::take(&mut st.pos, st.end).map(|j| (i, j));
                }
                if let Some(j) = D::take(&mut st.pos, st.lim) {
                    if self.srcs[i].visible(j, &self.pieces, self.watermark) {
                        return Some((i, j));
                    }
                    continue;
                }
                self.sync::<D>();
            }
            if self.tree_on::<D>() {
                if let Some(x) = self.tree_next::<D>() {
                    return Some(x);
                }
            }
            if !self.pick::<D>() {
                return None;
            }
        }
    }

    /// Starts direction `D`'s next stretch (its current one is ended): the source
    /// whose head comes first, up to the second-best head among the others.
    #[inline(never)]
    fn pick<D: Dir>(&mut self) -> bool {
        // With both stretches and the tree ended, every window is true.
        self.sync::<D::Other>();
        self.end_tree::<D::Other>();
        self.short[D::Other::I] = 0;
        D::prepare(self);
        let mut best: Option<(Key, usize)> = None;
        let mut second: Option<Key> = None;
        let from = self.skip[D::I];
        let mut first_live = None;
        for (k, i) in D::order(self.srcs.len(), &self.by_last, from).enumerate() {
            let s = &self.srcs[i];
            let (lo, hi) = (s.lo, s.hi);
            if lo >= hi {
                continue;
            }
            first_live.get_or_insert(from + k);
            let key = s.key(D::nth(lo, hi, 0));
            // The early stop (module docs): every later source is no better.
            if D::untouched(s) && second.is_some_and(|s2| !D::before(key, s2)) {
                break;
            }
            match best {
                Some((bk, _)) if !D::before(key, bk) => {
                    if second.is_none_or(|s2| D::before(key, s2)) {
                        second = Some(key);
                    }
                }
                _ => {
                    second = best.map(|(bk, _)| bk).or(second);
                    best = Some((key, i));
                }
            }
        }
        self.skip[D::I] = first_live.unwrap_or(self.srcs.len());
        let Some((_, i)) = best else { return false };
        let s = &self.srcs[i];
        let (lo, hi) = (s.lo, s.hi);
        let n = match second {
            None => hi - lo,
            Some(b) => s.stretch_len::<D>(lo, hi, b),
        };
        // Short because another source's head cut it (interleaving), not because
        // the source ran out (short segments one after the other need no tree).
        let short = &mut self.short[D::I];
        *short = if n < SHORT && n < hi - lo { short.saturating_add(1) } else { 0 };
        if *short >= SHORT_PICKS {
            *short = 0;
            if self.build_tree::<D>() {
                return true;
            }
        }
        let s = &self.srcs[i];
        let (pos, lim) = D::stretch(lo, hi, n);
        let fast = if s.check { None } else { s.cols.fast() };
        let st = &mut self.stretch[D::I];
        (st.src, st.pos, st.lim, st.paged) = (Some(i), pos, lim, false);
        match fast {
            Some(cols) => {
                (st.end, st.cols) = (lim, cols);
                if let Some(p) = s.cols.packed() {
                    st.paged = true;
                    st.decode::<D>(p);
                }
            }
            None => (st.end, st.cols) = (pos, F::default()),
        }
        true
    }

    /// Takes up to `max` records of direction `D`'s hot window:
    /// `(source, their indices, ascending, the stretch's columns)`.
    #[inline(always)]
    pub(crate) fn take_fast<D: Dir>(&mut self, max: usize) -> Option<(usize, std::ops::Range<usize>, F)> {
        let st = &mut self.stretch[D::I];
        let n = D::left(st.pos, st.end).min(max);
        let i = st.src?;
        (n > 0).then(|| (i, D::take_n(&mut st.pos, n), st.cols))
    }
}

impl<C: Columns<Fast = F>, F: Copy + Default> Merge<C, F> {
    /// Takes up to `max` records of direction `D`'s stretch if it needs no
    /// per-record check, past its hot window too (records of a packed column not
    /// decoded yet): `(source, their indices, ascending)`. For readers that take
    /// positions and read the columns themselves (the Arrow export).
    #[cfg(feature = "arrow")]
    pub(crate) fn take_run<D: Dir>(&mut self, max: usize) -> Option<(usize, std::ops::Range<usize>)> {
        let st = &mut self.stretch[D::I];
        let i = st.src?;
        let edge = if st.paged { st.lim } else { st.end };
        let n = D::left(st.pos, edge).min(max);
        (n > 0).then(|| (i, D::take_n(&mut st.pos, n)))
    }
}

impl<C: Columns> Slot<C> {
    /// Number of records from the head of `[lo, hi)` in direction `D` whose keys come
    /// before `b`, knowing the head's does (so at least 1): galloping from the head,
    /// then a binary search.
    fn stretch_len<D: Dir>(&self, lo: usize, hi: usize, b: Key) -> usize {
        let n = hi - lo;
        let before = |k: usize| D::before(self.key(D::nth(lo, hi, k)), b);
        // The whole window first: sources that do not overlap (L1 segments, one
        // after the other) then cost one probe instead of a gallop through cold
        // memory.
        if before(n - 1) {
            return n;
        }
        let (mut a, mut z, mut step) = (0, n - 1, 1); // `before(a)`; `z`: first known not to be
        while a + step < z {
            let p = a + step;
            if before(p) {
                a = p;
                step *= 2;
            } else {
                z = p;
                break;
            }
        }
        let mut x = a + 1;
        while x < z {
            let m = x + (z - x) / 2;
            if before(m) {
                x = m + 1;
            } else {
                z = m;
            }
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::{Back, Front};
    use crate::source::Src;

    #[test]
    fn stretch_len_gallops_to_the_bound_in_both_directions() {
        let ts: Vec<i64> = (0..100).collect();
        let s = Src::seg(crate::source::Ts::Plain(ts.as_slice().into()), &ts, 0, 10, 90);
        for b in 11..=90 {
            assert_eq!(s.stretch_len::<Front>(10, 90, (b, 0, 0)), (b - 10) as usize, "front bound {b}");
        }
        for b in 9..89 {
            assert_eq!(s.stretch_len::<Back>(10, 90, (b, 0, 0)), (89 - b) as usize, "back bound {b}");
        }
    }
}
