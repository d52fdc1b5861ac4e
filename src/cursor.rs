//! Lock-free k-way merge cursors over a snapshot's sources.
//!
//! Each source is a sorted window of one layer (a segment's visible sub-range, a
//! memtable run, the materialised part of a memtable's skiplist). The cursor
//! merges them by the key `(ts, rank, seq)`:
//! - `rank` orders sources by age for equal timestamps: L1 (0), then L0 segments
//!   oldest first, then memtables (`u32::MAX`), whose records carry their own
//!   sequence numbers, which order them among themselves;
//! - so records with equal timestamps come out in insertion order.
//!
//! Instead of a heap step per record the cursor works in *stretches*: it finds the
//! source whose head comes first and the second-best head among the others,
//! gallops to the end of the stretch that stays before that bound, and then emits
//! the stretch with a bounds check per record. Non-overlapping sources (the normal
//! case after compaction) therefore merge at nearly slice speed, and a single
//! source is a plain slice walk. The hot path of [`Range`]'s `next`/`next_back` is a
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
//! a source's columns are reached ([`Columns`]): [`Range`] borrows them from a
//! snapshot ([`Borrowed`], values handed out as `&'a V`), [`Cursor`] owns them
//! ([`Owned`]: segments behind their `Arc`; the visible memtable records of the
//! range merged into one copy when it is made), so it needs no borrow of the
//! snapshot and no `unsafe`.

use std::borrow::Cow;

use crate::segment::Segment;
use crate::snapshot::Snapshot;
use crate::sync::Arc;
use crate::tombstone::{record_visible, Piece};

mod tree;

use tree::{Tree, SHORT, SHORT_PICKS};

/// Values of one source: a contiguous slice, or references gathered from a skiplist.
pub(crate) enum Vals<'a, V> {
    Slice(&'a [V]),
    Refs(Vec<&'a V>),
}

/// Sequence numbers of a memtable source's records: one per record, or
/// consecutive from a base (a batch run: record `j` has `base + j`).
pub(crate) enum Seqs<'a> {
    Each(Cow<'a, [u64]>),
    From(u64),
}

impl Seqs<'_> {
    /// Sequence number of record `j`.
    #[inline]
    pub(crate) fn get(&self, j: usize) -> u64 {
        match self {
            Seqs::Each(q) => q[j],
            Seqs::From(base) => base + j as u64,
        }
    }
}

/// A source's sequence numbers as the merge reads them: `each[j]` for sources with
/// per-record numbers, otherwise `base + j * step` (batch runs: step 1; segments,
/// which carry none: 0 and 0, so the key's last part is 0).
///
/// A struct rather than an enum on purpose: every word is written for every kind of
/// source. With `Option<Seqs>`, the slice length was never written for batch runs
/// and segments, and LLVM hoists the per-record bounds check (`j < len`) above the
/// variant test; the result is then discarded, so nothing was wrong, but memcheck
/// reported a conditional jump on an uninitialised value (in `Range::new`'s sort).
struct SeqCol<'a> {
    each: Cow<'a, [u64]>,
    per_record: bool,
    base: u64,
    step: u64,
}

impl<'a> SeqCol<'a> {
    /// Segments: no sequence numbers (the key's last part is 0).
    const NONE: SeqCol<'static> = SeqCol { each: Cow::Borrowed(&[]), per_record: false, base: 0, step: 0 };

    fn new(seqs: Seqs<'a>) -> Self {
        match seqs {
            Seqs::Each(each) => SeqCol { each, per_record: true, base: 0, step: 0 },
            Seqs::From(base) => SeqCol { each: Cow::Borrowed(&[]), per_record: false, base, step: 1 },
        }
    }

    #[inline]
    fn get(&self, j: usize) -> u64 {
        if self.per_record {
            self.each[j]
        } else {
            self.base + j as u64 * self.step
        }
    }

    /// The largest sequence number of records `[lo, hi)` (not empty).
    fn max(&self, lo: usize, hi: usize) -> u64 {
        if self.per_record {
            self.each[lo..hi].iter().copied().max().unwrap_or(0)
        } else {
            self.get(hi - 1)
        }
    }
}

/// How the merge reaches one source's columns.
pub(crate) trait Columns {
    /// What a stretch that needs no per-record check keeps for the hot path.
    type Fast: Copy;
    /// The whole timestamp column (sorted).
    fn ts(&self) -> &[i64];
    /// Sequence number of record `j` (0 for sources without any).
    fn seq(&self, j: usize) -> u64;
    /// The largest sequence number of records `[lo, hi)` (not empty).
    fn max_seq(&self, lo: usize, hi: usize) -> u64 {
        (lo..hi).map(|j| self.seq(j)).max().unwrap_or(0)
    }
    /// The hot-path handle, if the columns have one.
    fn fast(&self) -> Option<Self::Fast>;
    /// Hints that record `j` (which may be past the end) will be read soon.
    fn prefetch(&self, j: usize);
    /// The timestamps of a hot-path handle (empty if it has none).
    fn fast_ts(f: &Self::Fast) -> &[i64];
    /// [`Columns::prefetch`] through a hot-path handle.
    fn fast_prefetch(f: &Self::Fast, j: usize);
}

/// Columns borrowed from a snapshot, for [`Range`].
pub(crate) struct Borrowed<'a, V> {
    ts: Cow<'a, [i64]>,
    /// Sequence numbers (memtable sources; segments: none, see [`SeqCol::NONE`]).
    seq: SeqCol<'a>,
    vals: Vals<'a, V>,
}

impl<'a, V> Borrowed<'a, V> {
    #[inline]
    fn val(&self, j: usize) -> &'a V {
        match &self.vals {
            Vals::Slice(s) => &s[j],
            Vals::Refs(r) => r[j],
        }
    }
}

impl<'a, V> Columns for Borrowed<'a, V> {
    /// Both columns as borrowed slices: the hot path indexes them directly.
    type Fast = (&'a [i64], &'a [V]);

    #[inline]
    fn ts(&self) -> &[i64] {
        &self.ts
    }

    #[inline]
    fn seq(&self, j: usize) -> u64 {
        self.seq.get(j)
    }

    fn max_seq(&self, lo: usize, hi: usize) -> u64 {
        self.seq.max(lo, hi)
    }

    #[inline(always)]
    fn prefetch(&self, j: usize) {
        crate::hint::prefetch_ptr(self.ts.as_ptr().wrapping_add(j));
        if let Vals::Slice(v) = &self.vals {
            crate::hint::prefetch_ptr(v.as_ptr().wrapping_add(j));
        }
    }

    #[inline(always)]
    fn fast_ts(f: &Self::Fast) -> &[i64] {
        f.0
    }

    #[inline(always)]
    fn fast_prefetch(f: &Self::Fast, j: usize) {
        crate::hint::prefetch_ptr(f.0.as_ptr().wrapping_add(j));
        crate::hint::prefetch_ptr(f.1.as_ptr().wrapping_add(j));
    }

    fn fast(&self) -> Option<Self::Fast> {
        match (&self.ts, &self.vals) {
            (Cow::Borrowed(ts), Vals::Slice(vals)) => Some((ts, vals)),
            _ => None,
        }
    }
}

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
    fn columns(&self) -> (&[i64], &[V]) {
        match self {
            Owned::Seg(s) => (s.ts(), s.vals()),
            Owned::Mem(ts, vals) => (ts, vals),
        }
    }
}

impl<V> Columns for Owned<V> {
    /// Nothing to keep: the cursor cannot hold slices of its own sources, so its hot
    /// path reaches the columns through the source (or walks them in bulk, `fill`).
    type Fast = ();

    #[inline]
    fn ts(&self) -> &[i64] {
        self.columns().0
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
        crate::hint::prefetch_ptr(ts.as_ptr().wrapping_add(j));
        crate::hint::prefetch_ptr(vals.as_ptr().wrapping_add(j));
    }

    /// None: the handle is `()`, and a tree over owned sources never takes its plain
    /// path.
    fn fast_ts(_: &()) -> &[i64] {
        &[]
    }

    fn fast_prefetch(_: &(), _: usize) {}
}

/// One sorted input of a merge: its columns, and the window `[lo, hi)` of records
/// not taken yet by either direction.
pub(crate) struct Slot<C> {
    cols: C,
    rank: u32,
    lo: usize,
    hi: usize,
    /// The window when the source was made: `lo == lo0` means the front has taken
    /// nothing from it yet, `hi == hi0` the same for the back.
    lo0: usize,
    hi0: usize,
    /// Memtable sources: the memtable's seal number (`u64::MAX` while active).
    seal: u64,
    /// Whether records must be checked one by one (watermark or tombstones).
    check: bool,
}

/// A borrowed source (segments, memtable runs, skiplist ranges).
pub(crate) type Src<'a, V> = Slot<Borrowed<'a, V>>;

/// Rank of memtable sources.
pub(crate) const MEM_RANK: u32 = u32::MAX;

type Key = (i64, u32, u64);

impl<C> Slot<C> {
    fn new(cols: C, rank: u32, lo: usize, hi: usize, seal: u64, check: bool) -> Self {
        Slot { cols, rank, lo, hi, lo0: lo, hi0: hi, seal, check }
    }
}

impl<'a, V> Src<'a, V> {
    /// A memtable source: records `[lo, hi)` of the columns, from a memtable sealed
    /// at `seal` (`u64::MAX` if still active). Whether its records need checks is
    /// decided by [`Range::new`].
    pub(crate) fn mem(
        ts: Cow<'a, [i64]>,
        seq: Seqs<'a>,
        vals: Vals<'a, V>,
        lo: usize,
        hi: usize,
        seal: u64,
    ) -> Self {
        Slot::new(Borrowed { ts, seq: SeqCol::new(seq), vals }, MEM_RANK, lo, hi, seal, true)
    }

    /// A segment source (every record in `[lo, hi)` is visible).
    pub(crate) fn seg(ts: &'a [i64], vals: &'a [V], rank: u32, lo: usize, hi: usize) -> Self {
        let cols = Borrowed { ts: Cow::Borrowed(ts), seq: SeqCol::NONE, vals: Vals::Slice(vals) };
        Slot::new(cols, rank, lo, hi, 0, false)
    }
}

impl<V> Slot<Owned<V>> {
    /// Records `[lo, hi)` of a segment (all visible), owned through its `Arc`.
    pub(crate) fn owned_seg(seg: Arc<Segment<V>>, rank: u32, lo: usize, hi: usize) -> Self {
        Slot::new(Owned::Seg(seg), rank, lo, hi, 0, false)
    }
}

impl<C: Columns> Slot<C> {
    #[inline]
    fn key(&self, j: usize) -> Key {
        (self.cols.ts()[j], self.rank, self.cols.seq(j))
    }

    /// Whether record `j` may be returned: sources without per-record checks always,
    /// checked (memtable) sources if the record is below the watermark and no later
    /// tombstone covers it.
    #[inline]
    fn visible(&self, j: usize, pieces: &[Piece], watermark: u64) -> bool {
        !self.check || record_visible(pieces, watermark, self.cols.ts()[j], self.cols.seq(j))
    }

    /// Number of records from the head of `[lo, hi)` in direction `D` whose keys come
    /// before `b`, knowing the head's does (so at least 1): galloping from the head,
    /// then a binary search.
    fn stretch_len<D: Dir>(&self, lo: usize, hi: usize, b: Key) -> usize {
        let n = hi - lo;
        let before = |k: usize| D::before(self.key(D::nth(lo, hi, k)), b);
        let (mut a, mut z, mut step) = (0, n, 1); // `before(a)`; `z`: first known not to be
        while a + step < n {
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

/// Smallest and largest timestamp over the sources' current windows.
pub(crate) fn ts_bounds<V>(srcs: &[Src<'_, V>]) -> Option<(i64, i64)> {
    let lo = srcs.iter().filter(|s| s.lo < s.hi).map(|s| s.cols.ts[s.lo]).min()?;
    let hi = srcs.iter().filter(|s| s.lo < s.hi).map(|s| s.cols.ts[s.hi - 1]).max()?;
    Some((lo, hi))
}

/// A direction of the merge: [`Front`] (ascending keys) or [`Back`] (descending).
///
/// Each primitive is written once, for both directions, on [`Dir::BACK`] (a constant,
/// so every test of it is resolved at compile time); only the pick order differs in
/// kind ([`Dir::prepare`], [`Dir::order`]). A front stretch is `[pos, end)` with
/// `pos` moving up, a back stretch `[end, pos)` with `pos` moving down.
pub(crate) trait Dir {
    /// Whether this is the back.
    const BACK: bool;
    /// The other direction.
    type Other: Dir;
    /// Index of this direction's stretch in [`Merge::stretch`].
    const I: usize = Self::BACK as usize;

    /// Sorts the sources into this direction's pick order, if not done yet.
    fn prepare<C: Columns, F>(m: &mut Merge<C, F>);

    /// The sources in this direction's pick order.
    fn order(n: usize, by_last: &[u32]) -> impl Iterator<Item = usize> + '_;

    /// Whether key `a` comes out before key `b`.
    #[inline(always)]
    fn before(a: Key, b: Key) -> bool {
        if Self::BACK {
            a > b
        } else {
            a < b
        }
    }

    /// The `k`-th record of the non-empty window `[lo, hi)` in this direction.
    #[inline(always)]
    fn nth(lo: usize, hi: usize, k: usize) -> usize {
        if Self::BACK {
            hi - 1 - k
        } else {
            lo + k
        }
    }

    /// The stretch `(pos, end)` of the first `n` records of `[lo, hi)`.
    #[inline(always)]
    fn stretch(lo: usize, hi: usize, n: usize) -> (usize, usize) {
        if Self::BACK {
            (hi, hi - n)
        } else {
            (lo, lo + n)
        }
    }

    /// Records left in the stretch `(pos, end)`.
    #[inline(always)]
    fn left(pos: usize, end: usize) -> usize {
        if Self::BACK {
            pos.saturating_sub(end)
        } else {
            end.saturating_sub(pos)
        }
    }

    /// Takes the next `n <= left` records of a stretch: their indices, ascending.
    #[inline(always)]
    fn take_n(pos: &mut usize, n: usize) -> std::ops::Range<usize> {
        if Self::BACK {
            *pos -= n;
            *pos..*pos + n
        } else {
            *pos += n;
            *pos - n..*pos
        }
    }

    /// Takes the next record of the stretch `(pos, end)`.
    #[inline(always)]
    fn take(pos: &mut usize, end: usize) -> Option<usize> {
        if Self::left(*pos, end) == 0 {
            return None;
        }
        Some(Self::take_n(pos, 1).start)
    }

    /// Folds the pairs of `ts` and `vals` (equal lengths), in this direction.
    #[inline(always)]
    fn fold<'v, V, B>(ts: &[i64], vals: &'v [V], init: B, mut f: impl FnMut(B, (i64, &'v V)) -> B) -> B {
        let pairs = ts.iter().zip(vals);
        let mut g = |a, (&t, v)| f(a, (t, v));
        if Self::BACK {
            pairs.rev().fold(init, &mut g)
        } else {
            pairs.fold(init, &mut g)
        }
    }

    /// The edge of a window this direction moves.
    #[inline(always)]
    fn edge<C>(s: &mut Slot<C>) -> &mut usize {
        if Self::BACK {
            &mut s.hi
        } else {
            &mut s.lo
        }
    }

    /// Whether this direction has taken nothing from `s` yet.
    #[inline(always)]
    fn untouched<C>(s: &Slot<C>) -> bool {
        if Self::BACK {
            s.hi == s.hi0
        } else {
            s.lo == s.lo0
        }
    }
}

/// Ascending keys; picks in `srcs` order (sorted by first key when the merge is made).
pub(crate) struct Front;

/// Descending keys; picks in `by_last` order.
pub(crate) struct Back;

impl Dir for Front {
    const BACK: bool = false;
    type Other = Back;

    #[inline(always)]
    fn prepare<C: Columns, F>(_: &mut Merge<C, F>) {}

    #[inline(always)]
    fn order(n: usize, _: &[u32]) -> impl Iterator<Item = usize> + '_ {
        0..n
    }
}

impl Dir for Back {
    const BACK: bool = true;
    type Other = Front;

    /// Built on the back's first pick: forward-only reads (flushes, compactions, most
    /// queries) never pay for it.
    fn prepare<C: Columns, F>(m: &mut Merge<C, F>) {
        if m.by_last.len() != m.srcs.len() {
            let srcs = &m.srcs;
            m.by_last = (0..srcs.len() as u32).collect();
            m.by_last.sort_by_key(|&i| std::cmp::Reverse(srcs[i as usize].key(srcs[i as usize].hi0 - 1)));
        }
    }

    #[inline(always)]
    fn order(_: usize, by_last: &[u32]) -> impl Iterator<Item = usize> + '_ {
        by_last.iter().map(|&i| i as usize)
    }
}

/// A run of records of one source that a direction takes without looking at the
/// other sources: `[pos, lim)` for the front, `[lim, pos)` for the back.
///
/// The hot path takes records while `pos` has not reached `end` and reads them from
/// `cols`; nothing else. For a stretch whose records need no check `end` is `lim`;
/// otherwise `end` is the starting `pos` and `cols` a default, so the hot window is
/// empty for good and every record goes through [`Merge::step`].
struct Stretch<F> {
    /// The source; `None`: the direction has no stretch.
    src: Option<usize>,
    pos: usize,
    end: usize,
    lim: usize,
    cols: F,
}

impl<F: Default> Stretch<F> {
    fn none() -> Self {
        Stretch { src: None, pos: 0, end: 0, lim: 0, cols: F::default() }
    }
}

/// The k-way merge of sorted sources, from both ends, over columns `C` (whose
/// stretches keep `F`, `C::Fast`; a parameter of its own so that `Range<'a, V>`
/// stays covariant in `'a`).
pub(crate) struct Merge<C, F> {
    srcs: Vec<Slot<C>>,
    pieces: Vec<Piece>,
    watermark: u64,
    /// The current stretch of each direction: `[Front::I]` and `[Back::I]`.
    stretch: [Stretch<F>; 2],
    /// Source indices by last key, descending: the back's pick order.
    by_last: Vec<u32>,
    /// Short picks in a row of each direction (a pick of the other direction resets
    /// them): at [`SHORT_PICKS`], the direction builds its [`Tree`].
    short: [u8; 2],
    /// The loser tree of the direction whose stretches turned short, if any. At most
    /// one of the two stretches and the tree is active at any time.
    /// Boxed, and made on the first build: most merges never need one.
    tree: Option<Box<Tree<F>>>,
}

impl<C: Columns<Fast = F>, F: Copy + Default> Merge<C, F> {
    fn new(srcs: Vec<Slot<C>>, pieces: Vec<Piece>, watermark: u64) -> Self {
        let mut srcs: Vec<_> = srcs.into_iter().filter(|s| s.lo < s.hi).collect();
        // By first key: the front's pick order.
        srcs.sort_by_key(|s| s.key(s.lo));
        // A memtable source needs per-record checks only if a tombstone overlaps it or
        // it holds records at or above the watermark: it is not sealed below it, and
        // its largest sequence number (one pass over a column, far cheaper than
        // checking records one by one) is not below it either.
        for s in srcs.iter_mut().filter(|s| s.check) {
            let (a, b) = (s.cols.ts()[s.lo], s.cols.ts()[s.hi - 1]);
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
            tree: None,
        }
    }

    /// The true window of source `i`: its edges, or the position of a stretch on it.
    #[inline]
    fn window(&self, i: usize) -> (usize, usize) {
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
        }
    }

    /// Exact number of records left, without consuming them.
    fn remaining(&self) -> usize {
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
    fn size_hint(&self) -> (usize, Option<usize>) {
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
    fn step<D: Dir>(&mut self) -> Option<(usize, usize)> {
        loop {
            let st = &mut self.stretch[D::I];
            if let Some(i) = st.src {
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
        for i in D::order(self.srcs.len(), &self.by_last) {
            let s = &self.srcs[i];
            let (lo, hi) = (s.lo, s.hi);
            if lo >= hi {
                continue;
            }
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
        let Some((_, i)) = best else { return false };
        let s = &self.srcs[i];
        let (lo, hi) = (s.lo, s.hi);
        let n = match second {
            None => hi - lo,
            Some(b) => s.stretch_len::<D>(lo, hi, b),
        };
        let short = &mut self.short[D::I];
        *short = if n < SHORT { short.saturating_add(1) } else { 0 };
        if *short >= SHORT_PICKS {
            *short = 0;
            if self.build_tree::<D>() {
                return true;
            }
        }
        let s = &self.srcs[i];
        let (pos, lim) = D::stretch(lo, hi, n);
        let fast = if s.check { None } else { s.cols.fast() };
        let (end, cols) = match fast {
            Some(cols) => (lim, cols),
            None => (pos, F::default()),
        };
        self.stretch[D::I] = Stretch { src: Some(i), pos, end, lim, cols };
        true
    }

    /// Takes up to `max` records of direction `D`'s hot window:
    /// `(source, their indices, ascending, the stretch's columns)`.
    #[inline(always)]
    fn take_fast<D: Dir>(&mut self, max: usize) -> Option<(usize, std::ops::Range<usize>, F)> {
        let st = &mut self.stretch[D::I];
        let n = D::left(st.pos, st.end).min(max);
        let i = st.src?;
        (n > 0).then(|| (i, D::take_n(&mut st.pos, n), st.cols))
    }
}

/// What [`Cursor::source`] shows of a source: its timestamps, its values, and its
/// segment when it is one.
#[cfg(feature = "arrow")]
pub(crate) type SourceColumns<'c, V> = (&'c [i64], &'c [V], Option<&'c Arc<Segment<V>>>);

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
            return Some((ts[j], &vals[j]));
        }
        self.take_slow::<D>()
    }

    #[cold]
    fn take_slow<D: Dir>(&mut self) -> Option<(i64, &'a V)> {
        let (i, j) = self.m.step::<D>()?;
        let cols = &self.m.srcs[i].cols;
        Some((cols.ts[j], cols.val(j)))
    }

    /// `fold` in direction `D`: hot windows are folded as slices, and while the
    /// direction merges with the tree, the records go from its merge loop to `g`.
    #[inline(always)]
    fn fold_dir<D: Dir, B>(mut self, mut acc: B, mut g: impl FnMut(B, (i64, &'a V)) -> B) -> B {
        loop {
            if let Some((_, r, (ts, vals))) = self.m.take_fast::<D>(usize::MAX) {
                acc = D::fold(&ts[r.clone()], &vals[r], acc, &mut g);
                continue;
            }
            if self.m.tree_on::<D>() {
                let f = |a, s: &Src<'a, V>, j: usize| g(a, (s.cols.ts[j], s.cols.val(j)));
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
    /// [`Cursor`] (a merge of memtable sources): a single source is copied stretch by
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
                ts.extend_from_slice(&s.cols.ts[a..j]);
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
                ts.extend_from_slice(&t[r.clone()]);
                vals.extend_from_slice(&v[r]);
                continue;
            }
            if room > 0 && self.m.tree_on::<Front>() {
                self.m.tree_bulk::<Front, ()>(room, (), |(), s, j| {
                    ts.push(s.cols.ts[j]);
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
        let (i, j) = match self.m.take_fast::<D>(1) {
            Some((i, r, ())) => (i, r.start),
            None => self.step::<D>()?,
        };
        let (ts, vals) = self.m.srcs[i].cols.columns();
        Some((ts[j], &vals[j]))
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
                    f(ts[j], &vals[j]);
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
            D::fold(&ts[r.clone()], &vals[r], (), |(), (t, v)| f(t, v));
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
            if let Some((i, r, ())) = self.m.take_fast::<Front>(max) {
                return Some((i, r));
            }
        }
        let (i, j) = self.m.step::<Front>()?;
        // A pick hands out the first record of its stretch: join the rest of it.
        let st = &self.m.stretch[Front::I];
        if max > 1 && !self.m.tree_on::<Front>() && st.src == Some(i) && st.pos == j + 1 {
            if let Some((_, r, ())) = self.m.take_fast::<Front>(max - 1) {
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
            Owned::Mem(ts, vals) => (ts, vals, None),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Segment-like sources over the given sorted timestamps (values: `ts * 10 + source`).
    fn cols(layout: &[Vec<i64>]) -> Vec<(Vec<i64>, Vec<i64>)> {
        layout
            .iter()
            .enumerate()
            .map(|(k, ts)| (ts.clone(), ts.iter().map(|t| t * 10 + k as i64).collect()))
            .collect()
    }

    fn range(c: &[(Vec<i64>, Vec<i64>)]) -> Range<'_, i64> {
        let srcs = c.iter().enumerate().map(|(k, (t, v))| Src::seg(t, v, k as u32, 0, t.len())).collect();
        Range::new(srcs, Vec::new(), u64::MAX)
    }

    fn model(c: &[(Vec<i64>, Vec<i64>)]) -> Vec<(i64, i64)> {
        let mut all: Vec<(i64, u32, i64)> = c
            .iter()
            .enumerate()
            .flat_map(|(k, (t, v))| t.iter().zip(v).map(move |(&t, &v)| (t, k as u32, v)))
            .collect();
        all.sort();
        all.into_iter().map(|(t, _, v)| (t, v)).collect()
    }

    /// Every pattern of `next`/`next_back` of small lengths, over layouts where the
    /// early stops of both directions matter (many sources following one another, some
    /// nested, some equal at the edges).
    #[test]
    fn both_directions_agree_with_the_model_in_every_interleaving() {
        let layouts: Vec<Vec<Vec<i64>>> = vec![
            vec![vec![1, 2, 3], vec![4, 5, 6], vec![7, 8, 9], vec![10, 11]],
            vec![vec![1, 9], vec![2, 3], vec![4, 5], vec![6, 7], vec![8]],
            vec![vec![1, 1, 5, 5], vec![1, 5], vec![0, 6], vec![3]],
            vec![vec![5, 6, 7, 8, 9, 10, 11, 12], vec![1, 2, 3, 13]],
            vec![vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10]],
            vec![vec![2], vec![2], vec![2]],
        ];
        for layout in &layouts {
            let c = cols(layout);
            let want = model(&c);
            let n = want.len();
            for pattern in 0u32..(1 << n.min(12)) {
                let mut r = range(&c);
                let (mut a, mut z) = (0, n);
                for k in 0..n {
                    let got = if pattern >> k & 1 == 1 {
                        z -= 1;
                        (r.next_back(), want[z])
                    } else {
                        a += 1;
                        (r.next(), want[a - 1])
                    };
                    assert_eq!(
                        got.0.map(|(t, v)| (t, *v)),
                        Some(got.1),
                        "{layout:?} pattern {pattern:b} step {k}"
                    );
                    assert_eq!(r.remaining(), z - a);
                }
                assert_eq!(r.next(), None);
                assert_eq!(r.next_back(), None);
            }
        }
    }

    /// Compiles only if `Range` is covariant in its lifetime, as a borrowing
    /// iterator should be (`Merge` takes the stretch columns as a parameter of its own
    /// rather than as `C::Fast` for that).
    #[allow(dead_code)]
    fn range_is_covariant<'a: 'b, 'b>(r: Range<'a, u64>) -> Range<'b, u64> {
        r
    }

    #[test]
    fn stretch_len_gallops_to_the_bound_in_both_directions() {
        let ts: Vec<i64> = (0..100).collect();
        let s = Src::seg(&ts, &ts, 0, 10, 90);
        for b in 11..=90 {
            assert_eq!(s.stretch_len::<Front>(10, 90, (b, 0, 0)), (b - 10) as usize, "front bound {b}");
        }
        for b in 9..89 {
            assert_eq!(s.stretch_len::<Back>(10, 90, (b, 0, 0)), (89 - b) as usize, "back bound {b}");
        }
    }
}
