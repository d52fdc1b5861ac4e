//! Compaction planning: which L1 segments and patches a compaction must pull
//! in, the output stretches it merges into L1, and the ones it writes as patches.

use crate::manifest::{Manifest, MAX_PATCH_DEPTH, MAX_STRETCH_PATCHES};
use crate::segment::{Segment, Window};
use crate::sync::Arc;

pub(super) struct Plan {
    /// Indices of L1 inputs.
    pub(super) l1: Vec<usize>,
    /// Indices (in [`Patches::iter`](crate::manifest::Patches::iter) order) of the patches merged into L1.
    pub(super) patches: Vec<usize>,
    /// Number of distinct output windows.
    pub(super) windows: usize,
    /// Output stretches merged into L1, ascending: a window and a closed interval
    /// inside it.
    pub(super) stretches: Vec<(Window, i64, i64)>,
    /// Stretches whose L0 records become patches, ascending: each spans the L0
    /// records it holds.
    pub(super) patch_stretches: Vec<(Window, i64, i64)>,
}

/// What a compaction must take besides the oldest L0 segments.
pub(super) struct Forced<'a> {
    /// L1 segments to rewrite (indices).
    pub(super) l1: &'a [usize],
    /// Patches to merge into L1 (indices in [`Patches::iter`](crate::manifest::Patches::iter) order).
    pub(super) patches: &'a [usize],
    /// Groups of neighbouring L1 segments (index ranges) each merged into one
    /// stretch, though their records leave gaps (see [`super::tidy`]).
    pub(super) tidy: &'a [std::ops::Range<usize>],
    /// Whether L0 records may become patches at all (not for a full compaction).
    pub(super) allow_patches: bool,
}

impl Plan {
    /// Chooses the inputs and the output stretches for compacting `l0[..k]` (plus
    /// what `forced` names).
    ///
    /// Each input's records are cut by window into closed intervals `[first,
    /// last]`; overlapping intervals of a window merge. Every L1 segment and patch
    /// that overlaps an interval is pulled in (its records add intervals), until
    /// nothing changes. Each resulting interval is one output stretch: outputs
    /// stay inside their interval, so they overlap no L1 segment or patch left in
    /// place, and a window whose inputs lie far apart (an old, partly deleted
    /// segment and this hour's new records, say) does not drag in everything
    /// between.
    ///
    /// A stretch whose merge would rewrite more L1 records than L0 brings in
    /// becomes patches instead (see [`Patches`](crate::manifest::Patches)):
    /// its L0 records lie over the L1 segments, which stay. Not when something
    /// forced lies there, when a new patch over its L0 records would rank above
    /// [`MAX_PATCH_DEPTH`], when [`MAX_STRETCH_PATCHES`] patches lie there
    /// already, or when a pulled segment also reaches a stretch that is merged
    /// (the stretches a segment reaches are decided together).
    pub(super) fn new<V>(m: &Manifest<V>, k: usize, forced: &Forced<'_>, size: i64, origin: i64) -> Plan {
        // window lo -> (window, disjoint sorted intervals of records going there)
        type Spans = std::collections::BTreeMap<i64, (Window, Vec<(i64, i64)>)>;
        let mut spans: Spans = Default::default();
        let add = |s: &Segment<V>, spans: &mut Spans| {
            let mut i = 0;
            while i < s.len() {
                let w = Window::of(s.ts_at(i), size, origin);
                let end = s.upper_bound(w.hi);
                let e = spans.entry(w.lo).or_insert((w, Vec::new()));
                merge_interval(&mut e.1, (s.ts_at(i), s.ts_at(end - 1)));
                i = end;
            }
        };
        let l0 = &m.l0[..k];
        for s in l0 {
            add(s, &mut spans);
        }
        // Candidates: the L1 segments, then the patches.
        let items: Vec<&Arc<Segment<V>>> = m.l1.iter().chain(m.patches.iter()).collect();
        let n1 = m.l1.len();
        let mut pulled: Vec<bool> = vec![false; items.len()];
        let mut is_forced: Vec<bool> = vec![false; items.len()];
        for i in forced.l1.iter().copied().chain(forced.patches.iter().map(|&j| n1 + j)) {
            pulled[i] = true;
            is_forced[i] = true;
            add(items[i], &mut spans);
        }
        for g in forced.tidy {
            // One window holds the whole group (see `tidy::plan`), and nothing but
            // patches can lie in its gaps: its hull is one interval there.
            for i in g.clone() {
                pulled[i] = true;
                is_forced[i] = true;
            }
            let (a, b) = (items[g.start].min_ts(), items[g.end - 1].max_ts());
            let w = Window::of(a, size, origin);
            merge_interval(&mut spans.entry(w.lo).or_insert((w, Vec::new())).1, (a, b));
        }
        loop {
            let mut changed = false;
            for (i, s) in items.iter().enumerate() {
                if pulled[i] {
                    continue;
                }
                // Only windows from the one holding the segment's first record can
                // overlap it, and in each, only the first interval ending at or after
                // that record (the intervals are sorted and disjoint).
                let from = Window::of(s.min_ts(), size, origin).lo;
                let overlaps = spans.range(from..=s.max_ts()).any(|(_, (_, iv))| {
                    let j = iv.partition_point(|&(_, b)| b < s.min_ts());
                    iv.get(j).is_some_and(|&(a, _)| a <= s.max_ts())
                });
                if overlaps {
                    pulled[i] = true;
                    add(s, &mut spans);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let all: Vec<(Window, i64, i64)> =
            spans.values().flat_map(|(w, iv)| iv.iter().map(move |&(a, b)| (*w, a, b))).collect();
        // The stretches each pulled segment reaches (ascending and disjoint, so a
        // search finds the first).
        let reach = |s: &Segment<V>| {
            let from = all.partition_point(|&(_, _, b)| b < s.min_ts());
            let to = from + all[from..].partition_point(|&(_, a, _)| a <= s.max_ts());
            from..to
        };
        // What lies over each stretch: L1 records, patches (their number), and whether anything
        // forced does (each pulled segment attributed once, to the stretches it
        // reaches).
        let mut main = vec![0usize; all.len()];
        let mut over = vec![0usize; all.len()];
        let mut blocked = vec![false; all.len()];
        for (i, s) in items.iter().enumerate().filter(|&(i, _)| pulled[i]) {
            for j in reach(s) {
                if is_forced[i] {
                    blocked[j] = true;
                } else if i < n1 {
                    main[j] += s.len();
                } else {
                    over[j] += 1;
                }
            }
        }
        // Decide each stretch on its own...
        let mut patch: Vec<bool> = all
            .iter()
            .enumerate()
            .map(|(j, &(_, lo, hi))| {
                if !forced.allow_patches || blocked[j] {
                    return false;
                }
                let Some((a, b, n0)) = l0_extent(l0, lo, hi) else { return false };
                2 * main[j] > n0
                    && over[j] < MAX_STRETCH_PATCHES
                    && (m.patches.rank_for(a, b) as usize) <= MAX_PATCH_DEPTH
            })
            .collect();
        // ... then merge every stretch a merged stretch's segment also reaches.
        loop {
            let mut changed = false;
            for (_, s) in items.iter().enumerate().filter(|&(i, _)| pulled[i]) {
                let r = reach(s);
                if patch[r.clone()].iter().any(|&p| p) && !patch[r.clone()].iter().all(|&p| p) {
                    patch[r].iter_mut().for_each(|p| *p = false);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let mut stretches = Vec::new();
        let mut patch_stretches = Vec::new();
        let mut windows = std::collections::BTreeSet::new();
        for (&(w, lo, hi), &p) in all.iter().zip(&patch) {
            windows.insert(w.lo);
            if !p {
                stretches.push((w, lo, hi));
            } else if let Some((a, b, _)) = l0_extent(l0, lo, hi) {
                patch_stretches.push((w, a, b));
            }
        }
        // Inputs: the pulled segments of merged stretches.
        let merged = |s: &Segment<V>| {
            let r = reach(s);
            !r.is_empty() && !patch[r.start]
        };
        let l1 = (0..n1).filter(|&i| pulled[i] && merged(items[i])).collect();
        let patches = (n1..items.len()).filter(|&i| pulled[i] && merged(items[i])).map(|i| i - n1).collect();
        Plan { l1, patches, windows: windows.len(), stretches, patch_stretches }
    }
}

/// The first and last timestamp and the number of the records of `l0` in `[lo, hi]`.
fn l0_extent<V>(l0: &[Arc<Segment<V>>], lo: i64, hi: i64) -> Option<(i64, i64, usize)> {
    let mut out: Option<(i64, i64, usize)> = None;
    for s in l0.iter().filter(|s| s.min_ts() <= hi && lo <= s.max_ts()) {
        let (a, b) = (s.lower_bound(lo), s.upper_bound(hi));
        if a < b {
            let (x, y) = (s.ts_at(a), s.ts_at(b - 1));
            out = Some(out.map_or((x, y, b - a), |(p, q, n)| (p.min(x), q.max(y), n + b - a)));
        }
    }
    out
}

/// Adds the closed interval `x` to `ivs` (sorted, pairwise disjoint), merging it
/// with every interval it overlaps.
fn merge_interval(ivs: &mut Vec<(i64, i64)>, x: (i64, i64)) {
    let (mut a, mut b) = x;
    // First interval that ends at or after `a`, and first that starts after `b`.
    let from = ivs.partition_point(|&(_, hi)| hi < a);
    let to = ivs.partition_point(|&(lo, _)| lo <= b);
    if from < to {
        a = a.min(ivs[from].0);
        b = b.max(ivs[to - 1].1);
    }
    ivs.splice(from..to, std::iter::once((a, b)));
}

#[cfg(test)]
mod tests {
    use super::merge_interval;

    #[test]
    fn intervals_merge_only_when_they_overlap() {
        let mut iv = Vec::new();
        merge_interval(&mut iv, (10, 20));
        merge_interval(&mut iv, (40, 50));
        merge_interval(&mut iv, (21, 30)); // touching is not overlapping
        assert_eq!(iv, vec![(10, 20), (21, 30), (40, 50)]);
        merge_interval(&mut iv, (25, 45));
        assert_eq!(iv, vec![(10, 20), (21, 50)]);
        merge_interval(&mut iv, (i64::MIN, 10));
        assert_eq!(iv, vec![(i64::MIN, 20), (21, 50)]);
        merge_interval(&mut iv, (60, i64::MAX));
        merge_interval(&mut iv, (0, 100));
        assert_eq!(iv, vec![(i64::MIN, i64::MAX)]);
    }
}
