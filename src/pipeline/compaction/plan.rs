//! Compaction planning: which L1 segments a compaction must pull in, and the
//! output stretches it builds.

use crate::manifest::Manifest;
use crate::segment::{Segment, Window};

pub(super) struct Plan {
    /// Indices of L1 inputs.
    pub(super) l1: Vec<usize>,
    /// Number of distinct output windows.
    pub(super) windows: usize,
    /// Output stretches, ascending: a window and a closed interval inside it.
    pub(super) stretches: Vec<(Window, i64, i64)>,
}

impl Plan {
    /// Chooses the L1 inputs and the output stretches for compacting `l0[..k]`
    /// (plus the L1 segments `forced`).
    ///
    /// Each input's records are cut by window into closed intervals `[first,
    /// last]`; overlapping intervals of a window merge. Every L1 segment that
    /// overlaps an interval is pulled in (its records add intervals), until
    /// nothing changes. Each resulting interval is one output stretch: outputs
    /// stay inside their interval, so they overlap no L1 segment left in place,
    /// and a window whose inputs lie far apart (an old, partly deleted segment
    /// and this hour's new records, say) does not drag in everything between.
    pub(super) fn new<V>(m: &Manifest<V>, k: usize, forced: &[usize], size: i64, origin: i64) -> Plan {
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
        for s in &m.l0[..k] {
            add(s, &mut spans);
        }
        let mut pulled: Vec<bool> = vec![false; m.l1.len()];
        for &i in forced {
            pulled[i] = true;
            add(&m.l1[i], &mut spans);
        }
        loop {
            let mut changed = false;
            for (i, s) in m.l1.iter().enumerate() {
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
        let l1: Vec<usize> = (0..m.l1.len()).filter(|&i| pulled[i]).collect();
        let windows = spans.len();
        let stretches = spans.values().flat_map(|(w, iv)| iv.iter().map(move |&(a, b)| (*w, a, b))).collect();
        Plan { l1, windows, stretches }
    }
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
