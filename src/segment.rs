//! Immutable, columnar segments (L0 and L1).
//!
//! A segment holds its records in two columns, `ts` and values, sorted by
//! timestamp (equal timestamps in insertion order). The columns are cut into
//! fixed-size *pages*; a small fence array (first timestamp of each page) is
//! searched first, then one page, so a lookup touches few cache lines.
//!
//! Segments carry no per-record sequence numbers. Instead, every tombstone with a
//! sequence number below `applied_seq` was applied (the records it hides were
//! dropped) when the segment was built, and every record in the segment is older
//! than every tombstone at or above `applied_seq`. So a record of a segment is
//! hidden exactly when a tombstone with sequence `>= applied_seq` covers it.

use crate::cursor::Src;
use crate::tombstone::Piece;

/// Which level a segment lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Flushed from one memrun; may overlap other segments.
    L0,
    /// Compaction output: inside one window, never overlapping another L1 segment.
    L1,
}

/// Records per block of the search index.
const BLOCK: usize = 64;

/// An immutable columnar segment.
pub(crate) struct Segment<V> {
    pub(crate) id: u64,
    ts: Vec<i64>,
    vals: Vec<V>,
    fences: Vec<i64>,
    /// First timestamp of every block of [`BLOCK`] records: the search index. Small
    /// (an eighth of a byte per record) and hot, it leaves one block, eight cache
    /// lines, to search in the column itself.
    blocks: Vec<i64>,
    page_len: usize,
    pub(crate) applied_seq: u64,
    pub(crate) level: Level,
    /// For L1: the window the segment lies in.
    pub(crate) window: Option<Window>,
}

/// An L1 window: timestamps `lo..=hi`, from a partition of the axis into windows
/// of `size` aligned to the configured origin (clipped at the ends of `i64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub lo: i64,
    pub hi: i64,
    pub size: i64,
}

impl<V> Segment<V> {
    /// Builds a segment from sorted columns.
    pub(crate) fn new(
        id: u64,
        ts: Vec<i64>,
        vals: Vec<V>,
        page_len: usize,
        applied_seq: u64,
        level: Level,
        window: Option<Window>,
    ) -> Self {
        debug_assert_eq!(ts.len(), vals.len());
        debug_assert!(ts.windows(2).all(|w| w[0] <= w[1]));
        let page_len = page_len.max(1);
        let fences = ts.iter().step_by(page_len).copied().collect();
        let blocks = ts.iter().step_by(BLOCK).copied().collect();
        Segment { id, ts, vals, fences, blocks, page_len, applied_seq, level, window }
    }

    pub(crate) fn len(&self) -> usize {
        self.ts.len()
    }

    pub(crate) fn min_ts(&self) -> i64 {
        self.ts[0]
    }

    pub(crate) fn max_ts(&self) -> i64 {
        self.ts[self.ts.len() - 1]
    }

    pub(crate) fn ts(&self) -> &[i64] {
        &self.ts
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
        a..(a + self.page_len).min(self.ts.len())
    }

    /// Bytes held by the columns and the fence index.
    pub(crate) fn bytes(&self) -> usize {
        self.ts.capacity() * 8
            + self.vals.capacity() * std::mem::size_of::<V>()
            + (self.fences.capacity() + self.blocks.capacity()) * 8
    }

    /// First index whose timestamp is `>= t` (fence search, then one page).
    pub(crate) fn lower_bound(&self, t: i64) -> usize {
        // Blocks before `k - 1` lie entirely below `t`; block `k` starts at or above it.
        let k = self.blocks.partition_point(|&f| f < t);
        let start = k.saturating_sub(1) * BLOCK;
        let end = (start + BLOCK).min(self.ts.len());
        // Count instead of bisecting: the block's eight cache lines are loaded
        // independently (in parallel) rather than as a chain of dependent misses,
        // and the compare-and-add loop vectorises.
        start + self.ts[start..end].iter().map(|&x| (x < t) as usize).sum::<usize>()
    }

    /// First index whose timestamp is `> t`.
    pub(crate) fn upper_bound(&self, t: i64) -> usize {
        if t == i64::MAX {
            return self.ts.len();
        }
        self.lower_bound(t + 1)
    }

    /// First index at or after `from` whose timestamp is `> t`, galloping forward
    /// from `from` (cheap when the answer is near, as for points and short ranges).
    pub(crate) fn upper_bound_from(&self, from: usize, t: i64) -> usize {
        let ts = &self.ts;
        let n = ts.len();
        if from >= n || ts[from] > t {
            return from;
        }
        // ts[lo] <= t
        let mut lo = from;
        let mut step = 1usize;
        let mut hi = n;
        while lo + step < n {
            if ts[lo + step] <= t {
                lo += step;
                step *= 2;
            } else {
                hi = lo + step;
                break;
            }
        }
        lo + 1 + ts[lo + 1..hi].partition_point(|&x| x <= t)
    }

    /// Index ranges of the records in `[lo, hi]` that no piece with sequence
    /// `>= applied_seq` hides (sorted, disjoint, non-empty).
    pub(crate) fn visible_ranges(&self, lo: i64, hi: i64, pieces: &[Piece], mut f: impl FnMut(usize, usize)) {
        if self.ts.is_empty() || lo > hi {
            return;
        }
        let a = self.lower_bound(lo);
        let b = self.upper_bound_from(a, hi);
        if a >= b {
            return;
        }
        let mut cur = a;
        let first = pieces.partition_point(|p| p.hi < self.ts[a]);
        for p in &pieces[first..] {
            if p.lo > self.ts[b - 1] {
                break;
            }
            if p.seq < self.applied_seq {
                continue;
            }
            let pa = if p.lo <= self.ts[cur] { cur } else { self.lower_bound(p.lo).max(cur) };
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
        self.visible_ranges(lo, hi, pieces, |a, b| out.push(Src::seg(&self.ts, &self.vals, rank, a, b)));
    }

    /// Visible records in `[lo, hi]`.
    pub(crate) fn count(&self, lo: i64, hi: i64, pieces: &[Piece]) -> usize {
        let mut n = 0;
        self.visible_ranges(lo, hi, pieces, |a, b| n += b - a);
        n
    }

    /// Checks the segment's own invariants.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.ts.is_empty() {
            return Err(format!("segment {} is empty", self.id));
        }
        if self.ts.len() != self.vals.len() {
            return Err(format!("segment {}: column lengths differ", self.id));
        }
        for p in 0..self.page_count() {
            let r = self.page(p);
            if self.fences[p] != self.ts[r.start] {
                return Err(format!("segment {} page {p}: fence key mismatch", self.id));
            }
            if !self.ts[r].windows(2).all(|w| w[0] <= w[1]) {
                return Err(format!("segment {} page {p}: not sorted", self.id));
            }
            if p > 0 && self.ts[p * self.page_len - 1] > self.fences[p] {
                return Err(format!("segment {} pages {} and {p} out of order", self.id, p - 1));
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
