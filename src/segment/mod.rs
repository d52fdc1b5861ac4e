//! Immutable, columnar segments (L0 and L1).
//!
//! A segment holds its records in two columns, `ts` and values, sorted by
//! timestamp (equal timestamps in insertion order). The columns are cut into
//! fixed-size *pages*; a small fence array (first timestamp of each page) is
//! searched first, then one page, so a lookup touches few cache lines.
//!
//! Segments carry no per-record sequence numbers, only the span [`SeqSpan`] that
//! holds them all. Every tombstone visible when the segment was built (written
//! below `applied_seq`) was applied then: the records it hides were dropped. A
//! tombstone whose bound (see [`Tomb::seq`](crate::tombstone::Tomb)) is above the
//! span's last number hides every record of the segment in its range; one whose
//! bound is at or below it hides none of them. For an ordinary delete that is
//! exact: its bound is its own number, and either it was written after every
//! record here, or it was visible at build time, applied, and left in its range
//! only records newer than itself. For a bounded delete (the archive's) it is
//! exact because no segment mixes records from both sides of a bound that an
//! unapplied bounded delete covers: the bound is a seal point (no memrun straddles
//! it) and compaction does not merge across it while the archive runs (see
//! [`crate::store::Fence`]).

mod column;
mod radix;

use column::TsColumn;
pub(crate) use column::TsView;
use radix::{Radix, BUCKET};

use crate::source::Src;
use crate::sync::{Arc, AtomicU64, Ordering};
use crate::tombstone::Piece;

/// The segments of one log that are alive, and their bytes: published ones and
/// ones that snapshots, cursors or exported Arrow buffers still hold after the log
/// dropped them (`stats()` reports the difference as pinned).
#[derive(Default)]
pub(crate) struct Tally {
    pub(crate) segments: AtomicU64,
    pub(crate) bytes: AtomicU64,
}

impl Tally {
    /// `(segments, bytes)` alive now.
    pub(crate) fn get(&self) -> (u64, u64) {
        (self.segments.load(Ordering::Relaxed), self.bytes.load(Ordering::Relaxed))
    }
}

/// Which level a segment lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Flushed from one memrun; may overlap other segments.
    L0,
    /// Compaction output: inside one window, never overlapping another L1 segment.
    L1,
}

/// An immutable columnar segment.
pub(crate) struct Segment<V> {
    pub(crate) id: u64,
    /// First and last timestamp, kept beside the column pointers: overlap checks
    /// (every query checks every L0 segment) then read no column memory.
    min: i64,
    max: i64,
    ts: TsColumn,
    vals: Vec<V>,
    fences: Vec<i64>,
    /// The search index over `ts`.
    radix: Radix,
    page_len: usize,
    pub(crate) applied_seq: u64,
    /// Sequence numbers of the records (a span holding them all).
    pub(crate) seqs: SeqSpan,
    pub(crate) level: Level,
    /// For L1: the window the segment lies in.
    pub(crate) window: Option<Window>,
    /// The log's count of live segments, which this one is part of until dropped.
    tally: Option<Arc<Tally>>,
}

impl<V> Drop for Segment<V> {
    fn drop(&mut self) {
        if let Some(t) = &self.tally {
            t.segments.fetch_sub(1, Ordering::Relaxed);
            t.bytes.fetch_sub(self.bytes() as u64, Ordering::Relaxed);
        }
    }
}

/// A span of sequence numbers `first..=last` that holds every record of a
/// segment (it may be wider than the records' own: flush and compaction take
/// their sources' spans).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SeqSpan {
    pub first: u64,
    pub last: u64,
}

impl SeqSpan {
    /// The smallest span holding both.
    pub(crate) fn union(self, o: SeqSpan) -> SeqSpan {
        SeqSpan { first: self.first.min(o.first), last: self.last.max(o.last) }
    }

    /// Whether the span holds numbers on both sides of `b` (some below, some at
    /// or above).
    pub(crate) fn straddles(self, b: u64) -> bool {
        self.first < b && b <= self.last
    }
}

/// An L1 window: timestamps `lo..=hi`, from a partition of the axis into windows
/// of `size` aligned to the configured origin (clipped at the ends of `i64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub lo: i64,
    pub hi: i64,
    pub size: i64,
}

impl Window {
    /// The window (of size `size`, aligned to `origin`) holding `ts`.
    pub(crate) fn of(ts: i64, size: i64, origin: i64) -> Window {
        let k = (ts as i128 - origin as i128).div_euclid(size as i128);
        let lo = origin as i128 + k * size as i128;
        let hi = lo + size as i128 - 1;
        Window { lo: lo.max(i64::MIN as i128) as i64, hi: hi.min(i64::MAX as i128) as i64, size }
    }

    /// Whether this is a window of the partition of its size aligned to `origin`.
    pub(crate) fn is_aligned(self, origin: i64) -> bool {
        self.size > 0 && Window::of(self.lo, self.size, origin) == self
    }
}

impl<V> Segment<V> {
    /// Builds a segment from sorted columns.
    #[allow(clippy::too_many_arguments)] // (each is a plain property of the segment)
    pub(crate) fn new(
        id: u64,
        ts: Vec<i64>,
        vals: Vec<V>,
        page_len: usize,
        applied_seq: u64,
        seqs: SeqSpan,
        level: Level,
        window: Option<Window>,
    ) -> Self {
        debug_assert_eq!(ts.len(), vals.len());
        debug_assert!(ts.windows(2).all(|w| w[0] <= w[1]));
        // L1 columns are packed; their page boundaries are block boundaries or
        // divide a block (pages of whole blocks, or of a power of two below one), so
        // a page has a fixed extent in the packed column too.
        let pack = level == Level::L1;
        let page_len = page_len.max(1);
        let page_len = match pack {
            true if page_len >= crate::packed::BLOCK => {
                page_len / crate::packed::BLOCK * crate::packed::BLOCK
            }
            true => 1 << page_len.ilog2(),
            false => page_len,
        };
        let fences = ts.iter().step_by(page_len).copied().collect();
        // Every segment gets the index (one pass over the column, a quarter byte
        // per record): under a steady stream of writes the newest records always
        // sit in L0, and lookups there would otherwise bisect a column that is
        // mostly out of cache.
        let radix = Radix::new(&ts);
        let (min, max) = match (ts.first(), ts.last()) {
            (Some(&a), Some(&b)) => (a, b),
            _ => (i64::MAX, i64::MIN),
        };
        Segment {
            id,
            min,
            max,
            ts: TsColumn::new(ts, pack),
            vals,
            fences,
            radix,
            page_len,
            applied_seq,
            seqs,
            level,
            window,
            tally: None,
        }
    }

    /// Counts the segment in `tally` until it is dropped.
    pub(crate) fn tallied(mut self, tally: &Arc<Tally>) -> Self {
        tally.segments.fetch_add(1, Ordering::Relaxed);
        tally.bytes.fetch_add(self.bytes() as u64, Ordering::Relaxed);
        self.tally = Some(tally.clone());
        self
    }

    pub(crate) fn len(&self) -> usize {
        self.vals.len()
    }

    /// First timestamp (`i64::MAX` for an empty segment, which is never published).
    #[inline]
    pub(crate) fn min_ts(&self) -> i64 {
        self.min
    }

    /// Last timestamp (`i64::MIN` for an empty segment).
    #[inline]
    pub(crate) fn max_ts(&self) -> i64 {
        self.max
    }

    /// The timestamp column.
    #[inline]
    pub(crate) fn ts(&self) -> TsView<'_> {
        self.ts.view()
    }

    /// Timestamp of record `j`.
    #[inline]
    pub(crate) fn ts_at(&self, j: usize) -> i64 {
        self.ts.view().get(j)
    }

    /// Timestamps of records `r`: borrowed from a plain column, decoded from a
    /// packed one.
    pub(crate) fn ts_range(&self, r: std::ops::Range<usize>) -> std::borrow::Cow<'_, [i64]> {
        match self.ts.view() {
            TsView::Raw(v) => std::borrow::Cow::Borrowed(&v[r]),
            view => {
                let mut out = Vec::with_capacity(r.len());
                view.decode_range(r.start, r.end, &mut out);
                std::borrow::Cow::Owned(out)
            }
        }
    }

    /// Whether the timestamp column is packed (see [`crate::packed`]).
    pub(crate) fn is_packed(&self) -> bool {
        matches!(self.ts, TsColumn::Packed(_))
    }

    pub(crate) fn vals(&self) -> &[V] {
        &self.vals
    }

    pub(crate) fn page_count(&self) -> usize {
        self.fences.len()
    }

    /// Record index range of page `p`.
    pub(crate) fn page(&self, p: usize) -> std::ops::Range<usize> {
        let a = p * self.page_len;
        a..(a + self.page_len).min(self.len())
    }

    /// Bytes held by the columns and the fence index.
    pub(crate) fn bytes(&self) -> usize {
        self.ts.bytes()
            + self.vals.capacity() * std::mem::size_of::<V>()
            + self.fences.capacity() * 8
            + self.radix.starts.capacity() * 4
    }

    /// Starts loading, without waiting, the memory a lookup of `t` will read: the
    /// index entry of its bucket, and the column and values where an even spread
    /// of timestamps would put `t`. A caller with other work to do first (a point
    /// lookup computes its tombstones and visits the memtables) lets the memory
    /// accesses run under that work.
    #[inline]
    pub(crate) fn prefetch(&self, t: i64) {
        let n = self.len();
        if n == 0 || self.radix.starts.is_empty() || t < self.min || t > self.max {
            return;
        }
        let off = t.wrapping_sub(self.min) as u64;
        crate::hint::prefetch(&self.radix.starts[(off >> self.radix.shift) as usize]);
        self.prefetch_guess(off);
    }

    /// Prefetches the column and values around the interpolated position of the
    /// timestamp `min + off` (needs a radix index and `min + off <= max`). While
    /// the index entry loads (it may miss the cache too), the column loads where
    /// an even spread of timestamps would put the answer: on evenly spread data
    /// the memory accesses then overlap instead of chaining.
    #[inline]
    fn prefetch_guess(&self, off: u64) {
        let n = self.len();
        let guess = ((off as f64 * self.radix.scale) as usize).min(n - 1);
        let ts = self.ts.view();
        for k in [
            guess.saturating_sub(BUCKET),
            guess.saturating_sub(BUCKET / 2),
            guess,
            guess + BUCKET / 2,
            guess + BUCKET,
        ] {
            ts.prefetch(k.min(n - 1));
        }
        crate::hint::prefetch(&self.vals[guess]);
    }

    /// First index whose timestamp is `>= t`: the radix bucket of `t`, then the
    /// records of that bucket only.
    pub(crate) fn lower_bound(&self, t: i64) -> usize {
        let ts = self.ts.view();
        let n = self.len();
        if n == 0 || t <= self.min {
            return 0;
        }
        if t > self.max {
            return n;
        }
        let starts = &self.radix.starts;
        if starts.is_empty() {
            return ts.partition_point(0, n, |x| x < t);
        }
        let off = t.wrapping_sub(self.min) as u64;
        self.prefetch_guess(off);
        // Records of earlier buckets lie below `t`; records of later ones above it.
        let b = (off >> self.radix.shift) as usize;
        let (lo, hi) = (starts[b] as usize, starts[b + 1] as usize);
        // The answer lies in `lo..=hi`: start loading the values there now, so
        // the caller's read of them overlaps the search instead of following it.
        if lo < n {
            crate::hint::prefetch(&self.vals[lo]);
        }
        if lo < hi {
            crate::hint::prefetch(&self.vals[hi - 1]);
        }
        match ts.as_slice() {
            Some(ts) if hi - lo <= 4 * BUCKET => {
                // Count instead of bisecting: the bucket's few cache lines load in
                // parallel rather than as a chain of dependent misses, and the
                // compare-and-add loop vectorises.
                lo + ts[lo..hi].iter().map(|&x| (x < t) as usize).sum::<usize>()
            }
            _ => ts.partition_point(lo, hi, |x| x < t),
        }
    }

    /// First index whose timestamp is `> t`.
    pub(crate) fn upper_bound(&self, t: i64) -> usize {
        if t == i64::MAX {
            return self.len();
        }
        self.lower_bound(t + 1)
    }

    /// First index at or after `from` whose timestamp is `> t`, galloping forward
    /// from `from` (cheap when the answer is near, as for points and short ranges).
    /// A far answer is not galloped to (every probe of a long gallop is a dependent
    /// cache miss): the whole tail is answered from the last timestamp, anything else
    /// past a few buckets by the radix search.
    pub(crate) fn upper_bound_from(&self, from: usize, t: i64) -> usize {
        let ts = self.ts.view();
        let n = self.len();
        if from >= n {
            return from;
        }
        // The whole tail first: it reads no column memory.
        if self.max <= t {
            return n;
        }
        if ts.get(from) > t {
            return from;
        }
        // ts[lo] <= t < ts[n - 1]
        let mut lo = from;
        let mut step = 1usize;
        let mut hi = n;
        while lo + step < n {
            if ts.get(lo + step) <= t {
                lo += step;
                step *= 2;
                if step > 4 * BUCKET {
                    // `t < ts[n - 1] <= i64::MAX`: `upper_bound` searches `t + 1`.
                    return self.upper_bound(t);
                }
            } else {
                hi = lo + step;
                break;
            }
        }
        ts.partition_point(lo + 1, hi, |x| x <= t)
    }

    /// Index ranges of the records in `[lo, hi]` that no piece hides: a piece
    /// whose bound is above the span's last sequence number hides every record
    /// here in its range, any other hides none (sorted, disjoint, non-empty).
    pub(crate) fn visible_ranges(&self, lo: i64, hi: i64, pieces: &[Piece], mut f: impl FnMut(usize, usize)) {
        // (Outside the span: no search. A compaction over many small windows asks
        // every input about every stretch.)
        if self.len() == 0 || lo > hi || hi < self.min || lo > self.max {
            return;
        }
        let a = self.lower_bound(lo);
        let b = self.upper_bound_from(a, hi);
        if a >= b {
            return;
        }
        let mut cur = a;
        let first = pieces.partition_point(|p| p.hi < self.ts_at(a));
        for p in &pieces[first..] {
            if p.lo > self.ts_at(b - 1) {
                break;
            }
            if p.seq <= self.seqs.last {
                continue;
            }
            let pa = if p.lo <= self.ts_at(cur) { cur } else { self.lower_bound(p.lo).max(cur) };
            let pb = self.upper_bound_from(pa, p.hi).min(b);
            if pa > cur {
                f(cur, pa);
            }
            cur = cur.max(pb);
            if cur >= b {
                return;
            }
        }
        if cur < b {
            f(cur, b);
        }
    }

    /// Adds the visible parts of `[lo, hi]` as merge sources of rank `rank`.
    pub(crate) fn sources<'a>(
        &'a self,
        lo: i64,
        hi: i64,
        pieces: &[Piece],
        rank: u32,
        out: &mut Vec<Src<'a, V>>,
    ) {
        self.visible_ranges(lo, hi, pieces, |a, b| {
            out.push(Src::seg(self.ts.view().into(), &self.vals, rank, a, b))
        });
    }

    /// Whether any record has a timestamp in `[lo, hi]`.
    pub(crate) fn has_records_in(&self, lo: i64, hi: i64) -> bool {
        if hi < self.min || lo > self.max {
            return false;
        }
        let a = self.lower_bound(lo);
        a < self.len() && self.ts_at(a) <= hi
    }

    /// Whether a tombstone with bound `seq` over `[lo, hi]` hides records of this
    /// segment: its bound is above every record here (see the module docs) and
    /// records lie in range.
    pub(crate) fn hidden_by(&self, lo: i64, hi: i64, seq: u64) -> bool {
        seq > self.seqs.last && self.has_records_in(lo, hi)
    }

    /// Visible records in `[lo, hi]`.
    pub(crate) fn count(&self, lo: i64, hi: i64, pieces: &[Piece]) -> usize {
        let mut n = 0;
        self.visible_ranges(lo, hi, pieces, |a, b| n += b - a);
        n
    }

    /// Checks the segment's own invariants.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if let TsColumn::Packed(p) = &self.ts {
            p.validate().map_err(|e| format!("segment {}: packed timestamps: {e}", self.id))?;
        }
        let view = self.ts.view();
        let mut decoded = Vec::new();
        view.decode_range(0, view.len(), &mut decoded);
        let ts = &decoded[..];
        if ts.is_empty() {
            return Err(format!("segment {} is empty", self.id));
        }
        if ts.len() != self.vals.len() {
            return Err(format!("segment {}: column lengths differ", self.id));
        }
        if self.seqs.first > self.seqs.last || self.seqs.last >= self.applied_seq {
            return Err(format!(
                "segment {}: sequence span {:?} is not below its build watermark {}",
                self.id, self.seqs, self.applied_seq
            ));
        }
        if self.min != ts[0] || self.max != ts[ts.len() - 1] {
            return Err(format!("segment {}: stored bounds differ from the column's", self.id));
        }
        for p in 0..self.page_count() {
            let r = self.page(p);
            if self.fences[p] != ts[r.start] {
                return Err(format!("segment {} page {p}: fence key mismatch", self.id));
            }
            if !ts[r].windows(2).all(|w| w[0] <= w[1]) {
                return Err(format!("segment {} page {p}: not sorted", self.id));
            }
            if p > 0 && ts[p * self.page_len - 1] > self.fences[p] {
                return Err(format!("segment {} pages {} and {p} out of order", self.id, p - 1));
            }
        }
        let starts = &self.radix.starts;
        if !starts.is_empty() {
            let min = self.min_ts();
            let ok = starts.last() == Some(&(ts.len() as u32))
                && starts.windows(2).all(|w| w[0] <= w[1])
                && starts.iter().enumerate().all(|(b, &i)| {
                    let i = i as usize;
                    let bucket = |k: usize| (ts[k].wrapping_sub(min) as u64 >> self.radix.shift) as usize;
                    (i == ts.len() || bucket(i) >= b) && (i == 0 || bucket(i - 1) < b)
                });
            if !ok {
                return Err(format!("segment {}: radix index does not match the column", self.id));
            }
        }
        if let Some(w) = self.window {
            if self.min_ts() < w.lo || self.max_ts() > w.hi {
                return Err(format!("segment {} lies outside its window [{}, {}]", self.id, w.lo, w.hi));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An L1 segment (indexed) of `ts`; `check` also builds the L0 twin (bisected).
    fn seg(mut ts: Vec<i64>) -> Segment<u64> {
        ts.sort_unstable();
        let vals = vec![0; ts.len()];
        Segment::new(0, ts, vals, 7, 1, SeqSpan { first: 0, last: 0 }, Level::L1, None)
    }

    fn check(s: &Segment<u64>, probes: &[i64]) {
        assert!(!s.radix.starts.is_empty());
        assert!(s.is_packed());
        let l0 = Segment::new(1, all(s), s.vals.clone(), 7, 1, s.seqs, Level::L0, None);
        assert!(!l0.is_packed());
        check_one(&l0, probes);
        check_one(s, probes);
    }

    /// The segment's timestamps, decoded.
    fn all(s: &Segment<u64>) -> Vec<i64> {
        s.ts_range(0..s.len()).into_owned()
    }

    fn check_one(s: &Segment<u64>, probes: &[i64]) {
        s.validate().unwrap();
        let ts = all(s);
        for &t in probes.iter().chain(&ts) {
            for t in [t, t.saturating_sub(1), t.saturating_add(1)] {
                assert_eq!(s.lower_bound(t), ts.partition_point(|&x| x < t), "lower_bound({t})");
                let above = ts.partition_point(|&x| x <= t);
                assert_eq!(s.upper_bound(t), above, "upper_bound({t})");
                let n = ts.len();
                for from in [0, 1, n / 3, n / 2, n.saturating_sub(1), n, s.lower_bound(t)] {
                    let want = if from >= n { from } else { from.max(above) };
                    assert_eq!(s.upper_bound_from(from, t), want, "upper_bound_from({from}, {t})");
                }
            }
        }
    }

    #[test]
    fn radix_search_spans_the_whole_i64_axis() {
        let s = seg(vec![i64::MIN, i64::MIN, -1, 0, 0, 1, i64::MAX - 1, i64::MAX, i64::MAX]);
        check(&s, &[i64::MIN, i64::MAX, -2, 2, i64::MIN + 1]);
        let s = seg((0..1000).map(|i| if i % 2 == 0 { i64::MIN + i } else { i64::MAX - i }).collect());
        check(&s, &[i64::MIN, i64::MAX, 0]);
    }

    #[test]
    fn radix_search_on_skewed_and_dense_columns() {
        // One huge bucket (all records at two timestamps), then dense data.
        let mut ts = vec![5; 5000];
        ts.extend(vec![1 << 40; 3000]);
        check(&seg(ts), &[4, 6, (1 << 40) - 1, 1 << 41]);
        check(&seg((0..100_000).collect()), &[-1, 50_000, 100_000]);
        check(&seg(vec![42]), &[i64::MIN, i64::MAX]);
    }

    proptest! {
        #[test]
        fn radix_search_matches_bisection(
            ts in proptest::collection::vec(prop_oneof![any::<i64>(), -300i64..300, Just(i64::MIN), Just(i64::MAX)], 1..400),
            probes in proptest::collection::vec(any::<i64>(), 0..20),
        ) {
            check(&seg(ts), &probes);
        }
    }
}
