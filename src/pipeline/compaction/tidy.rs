//! Tidying L1: neighbouring small L1 segments of one window merge, so that the
//! number of segments follows the data, not the number of flushes.
//!
//! Small L1 segments come from small writes: `flush()` after every few records,
//! a small memtable whose flushes go straight to L1, a compaction of many small
//! L0 segments (one output per stretch). Nothing else would ever merge them,
//! since they overlap nothing: a million records flushed a hundred at a time
//! made ten thousand segments, each costing a search step, a cursor and its
//! own metadata.
//!
//! A segment is *small* below [`small_records`] (a quarter of a page: 1,024
//! `u64` records with the default pages). Within each maximal run of neighbouring small
//! segments of one window (no patch over them or between them), the planner
//! merges neighbours whose sizes differ by less than a factor of two, cascading as a
//! binary counter does: segments written a few records at a time in time
//! order merge 1 + 1, 2 + 2, 4 + 4 and so on, so each record is rewritten
//! about log2(small / flush size) times, and a run keeps about as many
//! segments. A run that still holds more than [`MAX_RUN`] segments (sizes
//! that alternate too much to pair, from late data filling gaps) merges its
//! neighbours in pairs whatever their sizes.
//!
//! Tidying is a compaction round of its own, run only when no other work is
//! due, within a budget of records ([`super::ROUND_SEGMENTS`]); a group an
//! archive's fence forbids waits for the archive (see
//! [`crate::store::Fence`]).

use std::ops::Range;

use crate::manifest::Manifest;
use crate::segment::Window;
use crate::store::Fence;

/// Most segments a run of small segments keeps after tidying (see the module docs).
const MAX_RUN: usize = 32;

/// The size below which an L1 segment is small, for L1 segments of at most
/// `max_records` records (64 pages): a quarter of a page. Above it a segment's
/// own costs (its metadata, a search step, a cursor) are a small share of its
/// records' (a memtable of 64 KiB flushed straight to L1 makes segments of
/// about 3,000 `u64` records, and merging those would only add writes).
pub(super) fn small_records(max_records: usize) -> usize {
    (max_records / 256).max(2)
}

/// Which neighbours of one run of small segments, of lengths `lens`, merge:
/// ranges of indices into `lens`, each of two or more, ascending.
pub(super) fn groups(lens: &[usize]) -> Vec<Range<usize>> {
    // A stack of groups (range, records), left to right: each pushed segment
    // merges with the group below while the larger of the two holds less
    // than twice the smaller's records.
    let mut stack: Vec<(Range<usize>, usize)> = Vec::new();
    for (i, &n) in lens.iter().enumerate() {
        stack.push((i..i + 1, n));
        while let [.., (a, x), (b, y)] = &stack[..] {
            if (*x).max(*y) >= 2 * (*x).min(*y) {
                break;
            }
            let merged = (a.start..b.end, x + y);
            stack.truncate(stack.len() - 2);
            stack.push(merged);
        }
    }
    if stack.len() > MAX_RUN {
        // Sizes that alternate too much to pair: neighbours merge in pairs.
        stack = stack
            .chunks(2)
            .map(|c| (c[0].0.start..c[c.len() - 1].0.end, c.iter().map(|(_, n)| n).sum()))
            .collect();
    }
    stack.into_iter().map(|(r, _)| r).filter(|r| r.len() >= 2).collect()
}

/// The groups of neighbouring L1 segments (ranges of indices into `m.l1`) one
/// tidying round merges, with windows of `size` aligned to `origin`, segments
/// of at most `max_records` records, and the archives' `fences`, up to
/// `budget` records; and whether some were left for a later round (over the
/// budget, or fenced).
pub(super) fn plan<V>(
    m: &Manifest<V>,
    max_records: usize,
    budget: usize,
    size: i64,
    origin: i64,
    fences: &[Fence],
) -> (Vec<Range<usize>>, bool) {
    let small = small_records(max_records);
    let l1 = &m.l1;
    let free = |lo: i64, hi: i64| lo > hi || m.patches.overlapping(lo, hi).next().is_none();
    // A segment that can join a run: small, inside one window, under no patch.
    let eligible = |i: usize| {
        let s = &l1[i];
        s.len() < small
            && Window::of(s.min_ts(), size, origin) == Window::of(s.max_ts(), size, origin)
            && free(s.min_ts(), s.max_ts())
    };
    let mut out = Vec::new();
    let (mut budget, mut left) = (budget, false);
    let mut i = 0;
    while i < l1.len() {
        if !eligible(i) {
            i += 1;
            continue;
        }
        // The run from `i`: neighbours in the same window with no patch between them.
        let w = Window::of(l1[i].min_ts(), size, origin);
        let mut j = i + 1;
        while j < l1.len()
            && eligible(j)
            && Window::of(l1[j].min_ts(), size, origin) == w
            && free(l1[j - 1].max_ts().saturating_add(1), l1[j].min_ts().saturating_sub(1))
        {
            j += 1;
        }
        let lens: Vec<usize> = l1[i..j].iter().map(|s| s.len()).collect();
        for g in groups(&lens) {
            let g = i + g.start..i + g.end;
            let records: usize = l1[g.clone()].iter().map(|s| s.len()).sum();
            if budget == 0 || Fence::forbid(fences, l1[g.clone()].iter()) {
                left = true;
                continue;
            }
            budget = budget.saturating_sub(records);
            out.push(g);
        }
        i = j;
    }
    (out, left)
}

#[cfg(test)]
mod tests {
    use super::groups;

    /// Applies the groups to `lens`, as a round would.
    fn merged(lens: &[usize]) -> Vec<usize> {
        let mut out = Vec::new();
        let mut i = 0;
        for g in groups(lens) {
            out.extend_from_slice(&lens[i..g.start]);
            out.push(lens[g.clone()].iter().sum());
            i = g.end;
        }
        out.extend_from_slice(&lens[i..]);
        out
    }

    #[test]
    fn neighbours_within_a_factor_of_two_merge_and_cascade() {
        assert_eq!(groups(&[5]), Vec::<std::ops::Range<usize>>::new());
        assert_eq!(groups(&[4, 7]), vec![0..2]);
        assert_eq!(groups(&[7, 4]), vec![0..2]);
        assert_eq!(groups(&[4, 8]), Vec::<std::ops::Range<usize>>::new());
        assert_eq!(groups(&[8, 4]), Vec::<std::ops::Range<usize>>::new());
        // A binary counter: 4 + 2 + 1 + 1 cascades into one.
        assert_eq!(merged(&[4, 2, 1, 1]), vec![8]);
        assert_eq!(merged(&[8, 2, 1, 1]), vec![8, 4]);
        assert_eq!(merged(&[100, 1, 1, 1]), vec![100, 2, 1]);
    }

    #[test]
    fn appends_one_at_a_time_keep_a_logarithmic_run_and_rewrite_logarithmically() {
        // Segments of one record appended at the right, a round after each.
        let mut lens: Vec<usize> = Vec::new();
        let mut rewritten = 0usize;
        for _ in 0..4096 {
            lens.push(1);
            rewritten += groups(&lens).iter().map(|g| lens[g.clone()].iter().sum::<usize>()).sum::<usize>();
            lens = merged(&lens);
            assert!(lens.len() <= 13, "{lens:?}");
        }
        assert_eq!(lens.iter().sum::<usize>(), 4096);
        // log2(4096) = 12 rewrites per record at most.
        assert!(rewritten <= 12 * 4096, "{rewritten}");
        // The same from the left (records arriving in reverse time order).
        let mut lens: Vec<usize> = Vec::new();
        let mut rewritten = 0usize;
        for _ in 0..4096 {
            lens.insert(0, 1);
            rewritten += groups(&lens).iter().map(|g| lens[g.clone()].iter().sum::<usize>()).sum::<usize>();
            lens = merged(&lens);
            assert!(lens.len() <= 13, "{lens:?}");
        }
        assert!(rewritten <= 12 * 4096, "{rewritten}");
    }

    #[test]
    fn a_run_that_cannot_pair_is_bounded() {
        // Alternating sizes 3x apart never pair: up to MAX_RUN of them stay...
        let alternating = |n: usize| (0..n).map(|i| if i % 2 == 0 { 1 } else { 3 }).collect::<Vec<usize>>();
        let lens = alternating(super::MAX_RUN);
        assert_eq!(merged(&lens), lens);
        // ... and past it, neighbours merge in pairs, then as a binary counter.
        let lens = alternating(100);
        let once = merged(&lens);
        assert_eq!(once, vec![4; 50]);
        let twice = merged(&once);
        assert!(twice.len() <= 6, "{twice:?}");
        assert_eq!(twice.iter().sum::<usize>(), 200);
    }
}
