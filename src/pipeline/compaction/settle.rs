//! Settling: merging L0 and patches into the L1 segments under them once the
//! log has stopped taking data.
//!
//! Patches spare writers a rewrite of L1 while a lagging writer's records keep
//! arriving (see [`Patches`](crate::manifest::Patches)), but reads pay for
//! them: a scan over a window with patches merges L1 and the patches record by
//! record where they interleave (3–5x slower than over a compacted window).
//! Once no flush has happened for [`SETTLE_AFTER`], the background compactor merges
//! what L0 holds (however few segments) and then the patches, a budget of
//! records per round ([`pick`], [`super::ROUND_SEGMENTS`]), until none is left, and the next burst of
//! writes starts from a compacted log. A log that never rests
//! keeps its patches (bounded in depth and number, as they are), and a full
//! compaction merges them whatever the clock says.

use std::time::{Duration, Instant};

use crate::manifest::Manifest;

/// How long after the last flush the log counts as at rest.
pub(super) const SETTLE_AFTER: Duration = Duration::from_secs(1);

/// When the last flush that wrote something happened (`None`: never).
#[derive(Default)]
pub(super) struct Clock {
    last: Option<Instant>,
}

impl Clock {
    /// A flush wrote segments now.
    pub(super) fn flushed(&mut self) {
        self.last = Some(Instant::now());
    }

    /// Whether no flush happened for [`SETTLE_AFTER`].
    pub(super) fn at_rest(&self) -> bool {
        self.last.is_none_or(|t| t.elapsed() >= SETTLE_AFTER)
    }
}

/// The patches (indices in [`Patches::iter`](crate::manifest::Patches::iter)
/// order, by first timestamp) one settling round merges: from the oldest
/// timestamp up, at least one, until they and the L1 records under them reach
/// `budget` records.
pub(super) fn pick<V>(m: &Manifest<V>, budget: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut taken = 0usize;
    // L1 segments already counted (under an earlier patch of the round).
    let mut counted_to = 0usize;
    for (i, p) in m.patches.iter().enumerate() {
        let (first, under) = (m.l1_from(p.min_ts()), m.l1_overlapping(p.min_ts(), p.max_ts()));
        let fresh = &under[counted_to.saturating_sub(first).min(under.len())..];
        let cost = p.len() + fresh.iter().map(|s| s.len()).sum::<usize>();
        if !out.is_empty() && taken + cost > budget {
            break;
        }
        taken += cost;
        counted_to = counted_to.max(first + under.len());
        out.push(i);
    }
    out
}
