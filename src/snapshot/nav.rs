//! The neighbours of a timestamp: the first, last, next and previous visible
//! timestamps, found per source without merging.

use super::Snapshot;
use crate::memtable::Edge;
use crate::segment::Segment;
use crate::tombstone::{record_visible, Piece};

impl<V: crate::Value> Snapshot<V> {
    /// Smallest visible timestamp.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(4, ()), (i64::MIN, ())]);
    /// assert_eq!(log.snapshot().first_ts(), Some(i64::MIN));
    /// ```
    pub fn first_ts(&self) -> Option<i64> {
        self.edge(i64::MIN, i64::MAX, true)
    }

    /// Largest visible timestamp.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(4, ()), (9, ())]);
    /// log.delete_range(9..).unwrap();
    /// assert_eq!(log.snapshot().last_ts(), Some(4));
    /// ```
    pub fn last_ts(&self) -> Option<i64> {
        self.edge(i64::MIN, i64::MAX, false)
    }

    /// Smallest visible timestamp strictly above `ts`.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, ()), (7, ())]);
    /// assert_eq!(log.snapshot().next_ts(1), Some(7));
    /// assert_eq!(log.snapshot().next_ts(i64::MAX), None);
    /// ```
    pub fn next_ts(&self, ts: i64) -> Option<i64> {
        self.edge(ts.checked_add(1)?, i64::MAX, true)
    }

    /// Largest visible timestamp strictly below `ts`.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, ()), (7, ())]);
    /// assert_eq!(log.snapshot().prev_ts(7), Some(1));
    /// assert_eq!(log.snapshot().prev_ts(i64::MIN), None);
    /// ```
    pub fn prev_ts(&self, ts: i64) -> Option<i64> {
        self.edge(i64::MIN, ts.checked_sub(1)?, false)
    }

    /// The smallest (`front`) or largest visible timestamp in `[lo, hi]`, found per
    /// source without merging: a few binary searches per segment, and in memtables
    /// a walk from the boundary that stops at the first visible record.
    fn edge(&self, lo: i64, hi: i64, front: bool) -> Option<i64> {
        if lo > hi {
            return None;
        }
        let pieces = self.pieces(lo, hi);
        let mut best: Option<i64> = None;
        let mut offer = |t: i64| {
            best = Some(match best {
                None => t,
                Some(b) if front => b.min(t),
                Some(b) => b.max(t),
            })
        };
        // L1 segments are disjoint and sorted: the first (last) one with a visible
        // record in range holds the answer among L1, so the walk stops there
        // (usually at the first segment it looks at).
        let l1 = self.m.l1_overlapping(lo, hi);
        let found = if front {
            l1.iter().find_map(|s| seg_edge(s, lo, hi, &pieces, true))
        } else {
            l1.iter().rev().find_map(|s| seg_edge(s, lo, hi, &pieces, false))
        };
        if let Some(t) = found {
            offer(t);
        }
        let patches = self.m.patches.overlapping(lo, hi).map(|(s, _)| s);
        for seg in self.m.l0.iter().chain(patches) {
            if seg.max_ts() >= lo && seg.min_ts() <= hi {
                if let Some(t) = seg_edge(seg, lo, hi, &pieces, front) {
                    offer(t);
                }
            }
        }
        for mt in self.m.memruns.iter().chain(std::iter::once(&self.m.active)) {
            let visible = |ts, seq| record_visible(&pieces, self.w, ts, seq);
            if let Some(t) = mt.edge(&Edge { lo, hi, front, visible: &visible }) {
                offer(t);
            }
        }
        best
    }
}

fn seg_edge<V>(seg: &Segment<V>, lo: i64, hi: i64, pieces: &[Piece], front: bool) -> Option<i64> {
    let mut out = None;
    seg.visible_ranges(lo, hi, pieces, |a, b| {
        if front {
            out = out.or(Some(seg.ts_at(a)));
        } else {
            out = Some(seg.ts_at(b - 1));
        }
    });
    out
}
