//! The radix index over a segment's sorted timestamps.

/// Records per bucket the radix index aims for: 16 timestamps are two cache
/// lines, and the index costs a quarter of a byte per record.
pub(super) const BUCKET: usize = 16;

/// Radix index over a sorted timestamp column: the span `min..=max` is cut into
/// buckets of `2^shift` timestamps, and `starts[b]` is the first record whose
/// timestamp lies in bucket `b` or later (`starts` ends with the record count).
/// A lookup computes its bucket from the timestamp — no search — and then looks
/// only between two neighbouring starts: one index load and, on evenly spread
/// data, one or two cache lines of the column. On skewed data a bucket can hold
/// many records; the search inside it is then a plain binary search, so the
/// worst case is the cost of bisecting the column.
pub(super) struct Radix {
    /// Records per timestamp over the whole span: `(n - 1) / (max - min)`.
    pub(super) scale: f64,
    pub(super) shift: u32,
    pub(super) starts: Vec<u32>,
}

impl Radix {
    /// Builds the index of `ts` (sorted). Empty columns and columns too long for
    /// `u32` positions get an empty index and are bisected.
    pub(super) fn new(ts: &[i64]) -> Radix {
        let n = ts.len();
        if n == 0 || n >= u32::MAX as usize {
            return Radix { scale: 0.0, shift: 0, starts: Vec::new() };
        }
        let min = ts[0];
        let span = ts[n - 1].wrapping_sub(min) as u64;
        // At least two buckets so the shift stays below 64 (span >> 63 <= 1).
        let target = (n / BUCKET).max(2) as u64;
        let mut shift = 0;
        while (span >> shift) >= target {
            shift += 1;
        }
        let buckets = (span >> shift) as usize + 1;
        let mut starts = vec![0u32; buckets + 1];
        // `next`: the first bucket whose start is not written yet (bucket 0 starts at 0).
        let mut next = 1;
        for (i, &t) in ts.iter().enumerate() {
            let b = (t.wrapping_sub(min) as u64 >> shift) as usize;
            if b >= next {
                starts[next..=b].fill(i as u32);
                next = b + 1;
            }
        }
        starts[next..].fill(n as u32);
        let scale = if span == 0 { 0.0 } else { (n - 1) as f64 / span as f64 };
        Radix { scale, shift, starts }
    }
}
