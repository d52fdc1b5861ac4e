//! Lock-free k-way merge cursors over a snapshot's sources.
//!
//! Each source is a sorted slice of one layer (a segment's visible sub-range, a
//! memtable run, the materialised part of a memtable's skiplist). The cursor
//! merges them by the key `(ts, rank, seq)`:
//! - `rank` orders sources by age for equal timestamps: L1 (0), then L0 segments
//!   oldest first, then memtables (`u32::MAX`), whose records carry their own
//!   sequence numbers, which order them among themselves;
//! - so records with equal timestamps come out in insertion order.
//!
//! Instead of a heap step per record the cursor works in *runs*: it finds the
//! source with the smallest head and the second-smallest head among the others,
//! gallops to the end of the stretch that stays below that bound, and then emits
//! the stretch with a bounds check per record. Non-overlapping sources (the normal
//! case after compaction) therefore merge at nearly slice speed, and a single
//! source is a plain slice walk. The same works backwards, so [`Range`] is a
//! [`DoubleEndedIterator`]: front and back share each source's `[lo, hi)` window.

use std::borrow::Cow;

use crate::tombstone::{record_visible, Piece};

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
}

/// One sorted input of a merge.
pub(crate) struct Src<'a, V> {
    ts: Cow<'a, [i64]>,
    /// Sequence numbers (memtable sources; segments: none, see [`SeqCol::NONE`]).
    /// Memtable records are filtered by the watermark and by tombstones one by one.
    seq: SeqCol<'a>,
    vals: Vals<'a, V>,
    rank: u32,
    lo: usize,
    hi: usize,
    /// `lo` when the source was made: `lo == lo0` means the front has not taken
    /// anything from it yet.
    lo0: usize,
    /// Memtable sources: the memtable's seal number (`u64::MAX` while active).
    seal: u64,
    /// Whether records must be checked one by one (watermark or tombstones).
    check: bool,
}

/// Rank of memtable sources.
pub(crate) const MEM_RANK: u32 = u32::MAX;

type Key = (i64, u32, u64);

impl<'a, V> Src<'a, V> {
    /// A memtable source: records `[lo, hi)` of the columns, from a memtable sealed
    /// at `seal` (`u64::MAX` if still active).
    pub(crate) fn mem(
        ts: Cow<'a, [i64]>,
        seq: Seqs<'a>,
        vals: Vals<'a, V>,
        lo: usize,
        hi: usize,
        seal: u64,
    ) -> Self {
        Src { ts, seq: SeqCol::new(seq), vals, rank: MEM_RANK, lo, hi, lo0: lo, seal, check: true }
    }

    /// A segment source (every record in `[lo, hi)` is visible).
    pub(crate) fn seg(ts: &'a [i64], vals: &'a [V], rank: u32, lo: usize, hi: usize) -> Self {
        Src {
            ts: Cow::Borrowed(ts),
            seq: SeqCol::NONE,
            vals: Vals::Slice(vals),
            rank,
            lo,
            hi,
            lo0: lo,
            seal: 0,
            check: false,
        }
    }

    #[inline]
    fn key(&self, j: usize) -> Key {
        (self.ts[j], self.rank, self.seq.get(j))
    }

    /// Whether record `j` may be returned: sources without per-record checks always,
    /// checked (memtable) sources if the record is below the watermark and no later
    /// tombstone covers it.
    #[inline]
    fn visible(&self, j: usize, pieces: &[Piece], watermark: u64) -> bool {
        if !self.check {
            return true;
        }
        record_visible(pieces, watermark, self.ts[j], self.seq.get(j))
    }

    /// The whole columns as slices, if this source can be walked without checks
    /// (the cursor's fast stretches).
    fn fast_columns(&self) -> Option<(&'a [i64], &'a [V])> {
        match (&self.ts, &self.vals) {
            (Cow::Borrowed(ts), Vals::Slice(vals)) if !self.check => Some((ts, vals)),
            _ => None,
        }
    }

    #[inline]
    fn val(&self, j: usize) -> &'a V {
        match &self.vals {
            Vals::Slice(s) => &s[j],
            Vals::Refs(r) => r[j],
        }
    }

    /// First index in `[lo, hi)` whose key is not below `b`, knowing `key(lo) < b`
    /// (galloping forward from `lo`, then binary search).
    fn first_not_below(&self, b: Key) -> usize {
        let mut a = self.lo; // key(a) < b
        let mut step = 1usize;
        let mut z = self.hi;
        while a + step < self.hi {
            let p = a + step;
            if self.key(p) < b {
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
            if self.key(m) < b {
                x = m + 1;
            } else {
                z = m;
            }
        }
        x
    }

    /// First index in `[lo, hi)` whose key is above `b`, knowing `key(hi - 1) > b`
    /// (galloping backward from `hi - 1`, then binary search).
    fn first_above(&self, b: Key) -> usize {
        let mut z = self.hi - 1; // key(z) > b
        let mut step = 1usize;
        let mut a = self.lo;
        while z > self.lo {
            let p = if z - self.lo > step { z - step } else { self.lo };
            if self.key(p) > b {
                z = p;
                step *= 2;
            } else {
                a = p + 1;
                break;
            }
        }
        while a < z {
            let m = a + (z - a) / 2;
            if self.key(m) > b {
                z = m;
            } else {
                a = m + 1;
            }
        }
        a
    }
}

/// Smallest and largest timestamp over the sources' current windows.
pub(crate) fn ts_bounds<V>(srcs: &[Src<'_, V>]) -> Option<(i64, i64)> {
    let lo = srcs.iter().filter(|s| s.lo < s.hi).map(|s| s.ts[s.lo]).min()?;
    let hi = srcs.iter().filter(|s| s.lo < s.hi).map(|s| s.ts[s.hi - 1]).max()?;
    Some((lo, hi))
}

/// Iterator over `(ts, &value)` of a snapshot range, ascending by timestamp
/// (equal timestamps in insertion order); iterate from the back with
/// [`DoubleEndedIterator::next_back`] or `.rev()`.
pub struct Range<'a, V> {
    srcs: Vec<Src<'a, V>>,
    pieces: Vec<Piece>,
    watermark: u64,
    /// Current forward stretch: (source, end index).
    front: Option<(usize, usize)>,
    /// Current backward stretch: (source, start index).
    back: Option<(usize, usize)>,
    /// Fast forward stretch over a source that needs no per-record checks: records
    /// `[fpos, fend)` of `fts`/`fvals` (the source's whole columns). While it is
    /// active, `srcs[fsrc].lo` is stale and `fpos` is the truth (`sync_front`).
    fts: &'a [i64],
    fvals: &'a [V],
    fpos: usize,
    fend: usize,
    fsrc: usize,
    /// The same from the back: records `[bstart, bend)`; `srcs[bsrc].hi` is stale.
    bts: &'a [i64],
    bvals: &'a [V],
    bstart: usize,
    bend: usize,
    bsrc: usize,
}

const NONE: usize = usize::MAX;

impl<'a, V> Range<'a, V> {
    pub(crate) fn new(srcs: Vec<Src<'a, V>>, pieces: Vec<Piece>, watermark: u64) -> Self {
        let mut srcs: Vec<_> = srcs.into_iter().filter(|s| s.lo < s.hi).collect();
        // By first key, so that `pick_front` can stop at the first untouched source
        // that cannot win (a flush merges dozens of runs that follow one another).
        srcs.sort_by_key(|s| s.key(s.lo));
        // A memtable source needs per-record checks only if it may hold records at or
        // above the watermark (not sealed below it) or a tombstone overlaps it.
        for s in &mut srcs {
            if s.rank == MEM_RANK {
                let (a, b) = (s.ts[s.lo], s.ts[s.hi - 1]);
                let i = pieces.partition_point(|p| p.hi < a);
                let overlapped = pieces.get(i).is_some_and(|p| p.lo <= b);
                s.check = s.seal >= watermark || overlapped;
            }
        }
        Range {
            srcs,
            pieces,
            watermark,
            front: None,
            back: None,
            fts: &[],
            fvals: &[],
            fpos: 0,
            fend: 0,
            fsrc: NONE,
            bts: &[],
            bvals: &[],
            bstart: 0,
            bend: 0,
            bsrc: NONE,
        }
    }

    pub(crate) fn empty() -> Self {
        Self::new(Vec::new(), Vec::new(), 0)
    }

    /// The true front index of source `i`.
    #[inline]
    fn lo(&self, i: usize) -> usize {
        if i == self.fsrc {
            self.fpos
        } else {
            self.srcs[i].lo
        }
    }

    /// The true back index (exclusive) of source `i`.
    #[inline]
    fn hi(&self, i: usize) -> usize {
        if i == self.bsrc {
            self.bend
        } else {
            self.srcs[i].hi
        }
    }

    /// Ends the fast backward stretch, writing its position back to its source.
    #[inline]
    fn sync_back(&mut self) {
        if self.bsrc != NONE {
            self.srcs[self.bsrc].hi = self.bend;
            self.bsrc = NONE;
            self.bstart = 0;
            self.bend = 0;
        }
    }

    /// After `pick_back`: the backward twin of `try_fast_front`.
    fn try_fast_back(&mut self) {
        let Some((i, start)) = self.back else { return };
        let s = &self.srcs[i];
        if let Some((ts, vals)) = s.fast_columns() {
            self.bts = ts;
            self.bvals = vals;
            self.bend = s.hi;
            self.bstart = start.max(s.lo);
            self.bsrc = i;
            self.back = None;
        }
    }

    #[cold]
    fn next_back_slow(&mut self) -> Option<(i64, &'a V)> {
        self.sync_back();
        self.sync_front();
        loop {
            if let Some((i, start)) = self.back {
                let s = &mut self.srcs[i];
                if s.hi > start.max(s.lo) {
                    s.hi -= 1;
                    let j = s.hi;
                    if s.visible(j, &self.pieces, self.watermark) {
                        return Some((s.ts[j], s.val(j)));
                    }
                    continue;
                }
                self.back = None;
            }
            if !self.pick_back() {
                return None;
            }
            self.try_fast_back();
            if self.bend > self.bstart {
                self.bend -= 1;
                let j = self.bend;
                return Some((self.bts[j], &self.bvals[j]));
            }
        }
    }

    /// Ends the fast forward stretch, writing its position back to its source.
    #[inline]
    fn sync_front(&mut self) {
        if self.fsrc != NONE {
            self.srcs[self.fsrc].lo = self.fpos;
            self.fsrc = NONE;
            self.fpos = 0;
            self.fend = 0;
        }
    }

    /// After `pick_front`: if the chosen source needs no per-record checks and its
    /// columns are borrowed slices, turn the stretch into the fast one.
    fn try_fast_front(&mut self) {
        let Some((i, end)) = self.front else { return };
        let s = &self.srcs[i];
        if let Some((ts, vals)) = s.fast_columns() {
            self.fts = ts;
            self.fvals = vals;
            self.fpos = s.lo;
            self.fend = end.min(s.hi);
            self.fsrc = i;
            self.front = None;
        }
    }

    #[cold]
    fn next_slow(&mut self) -> Option<(i64, &'a V)> {
        self.sync_front();
        self.sync_back();
        loop {
            if let Some((i, end)) = self.front {
                let s = &mut self.srcs[i];
                if s.lo < end.min(s.hi) {
                    let j = s.lo;
                    s.lo += 1;
                    if s.visible(j, &self.pieces, self.watermark) {
                        return Some((s.ts[j], s.val(j)));
                    }
                    continue;
                }
                self.front = None;
            }
            if !self.pick_front() {
                return None;
            }
            self.try_fast_front();
            if self.fpos < self.fend {
                let j = self.fpos;
                self.fpos += 1;
                return Some((self.fts[j], &self.fvals[j]));
            }
        }
    }

    /// Exact number of records left, without consuming them.
    pub fn remaining(&self) -> usize {
        let mut n = 0;
        for (i, s) in self.srcs.iter().enumerate() {
            let (lo, hi) = (self.lo(i), self.hi(i));
            if s.check {
                n += (lo..hi).filter(|&j| s.visible(j, &self.pieces, self.watermark)).count();
            } else {
                n += hi - lo;
            }
        }
        n
    }

    fn pick_front(&mut self) -> bool {
        let mut best: Option<(Key, usize)> = None;
        let mut second: Option<Key> = None;
        for (i, s) in self.srcs.iter().enumerate() {
            if s.lo >= s.hi {
                continue;
            }
            let k = s.key(s.lo);
            // Sources are sorted by first key and keys only grow as the front takes
            // records: if an untouched source is already at or above the second
            // best, every later source is too.
            if s.lo == s.lo0 && second.is_some_and(|s2| k >= s2) {
                break;
            }
            match best {
                None => best = Some((k, i)),
                Some((bk, _)) if k < bk => {
                    second = Some(bk);
                    best = Some((k, i));
                }
                Some(_) => {
                    if second.is_none_or(|s2| k < s2) {
                        second = Some(k)
                    }
                }
            }
        }
        let Some((_, i)) = best else { return false };
        let end = match second {
            None => self.srcs[i].hi,
            Some(b) => self.srcs[i].first_not_below(b).max(self.srcs[i].lo + 1),
        };
        self.front = Some((i, end));
        true
    }

    fn pick_back(&mut self) -> bool {
        let mut best: Option<(Key, usize)> = None;
        let mut second: Option<Key> = None;
        for (i, s) in self.srcs.iter().enumerate() {
            if s.lo >= s.hi {
                continue;
            }
            let k = s.key(s.hi - 1);
            match best {
                None => best = Some((k, i)),
                Some((bk, _)) if k > bk => {
                    second = Some(bk);
                    best = Some((k, i));
                }
                Some(_) => {
                    if second.is_none_or(|s2| k > s2) {
                        second = Some(k)
                    }
                }
            }
        }
        let Some((_, i)) = best else { return false };
        let start = match second {
            None => self.srcs[i].lo,
            Some(b) => self.srcs[i].first_above(b).min(self.srcs[i].hi - 1),
        };
        self.back = Some((i, start));
        true
    }
}

impl<V: Clone> Range<'_, V> {
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
            if room > 0 && self.fpos < self.fend {
                let stop = self.fend.min(self.fpos + room);
                ts.extend_from_slice(&self.fts[self.fpos..stop]);
                vals.extend_from_slice(&self.fvals[self.fpos..stop]);
                self.fpos = stop;
                continue;
            }
            if room > 0 {
                if let Some((i, end)) = self.front {
                    let s = &mut self.srcs[i];
                    let end = end.min(s.hi);
                    if s.lo < end && !s.check {
                        if let Vals::Slice(v) = &s.vals {
                            let stop = end.min(s.lo + room);
                            ts.extend_from_slice(&s.ts[s.lo..stop]);
                            vals.extend_from_slice(&v[s.lo..stop]);
                            s.lo = stop;
                            continue;
                        }
                    }
                }
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
        if self.fpos < self.fend {
            let j = self.fpos;
            self.fpos = j + 1;
            return Some((self.fts[j], &self.fvals[j]));
        }
        self.next_slow()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let upper = (0..self.srcs.len()).map(|i| self.hi(i) - self.lo(i)).sum();
        let exact = self.srcs.iter().all(|s| !s.check);
        (if exact { upper } else { 0 }, Some(upper))
    }

    fn count(self) -> usize {
        self.remaining()
    }
}

impl<V> DoubleEndedIterator for Range<'_, V> {
    #[inline]
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.bend > self.bstart {
            self.bend -= 1;
            let j = self.bend;
            return Some((self.bts[j], &self.bvals[j]));
        }
        self.next_back_slow()
    }
}

impl<V> std::iter::FusedIterator for Range<'_, V> {}
