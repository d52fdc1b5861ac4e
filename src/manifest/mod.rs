//! The manifest: one immutable description of everything the log holds, and the
//! epoch-reclaimed atomic pointer it is published through.
//!
//! Every structural change (seal, flush, compaction) builds a new [`Manifest`]
//! from the current one and installs it with a compare-and-swap. The cell holds
//! a boxed `Arc<Manifest>`; readers pin (an epoch guard) only for the instant it
//! takes to clone the `Arc`, so a snapshot holds an `Arc` and never a guard. The
//! replaced box is retired and freed once no thread pinned before the swap can
//! still be looking at it.
//!
//! Normally the pointer is a `crossbeam_epoch::Atomic`, and retirement defers
//! a function that parks the replaced manifest in the cell's graveyard, which the
//! engine drains where user `V::drop`s may run (see `Graveyard`). Under a model checker (`timelog_loom` / `timelog_shuttle`),
//! where crossbeam-epoch is invisible, the same interface is served by a small
//! model-visible scheme: a count of pinned guards, and retired boxes freed by
//! whoever sees that count at zero (see `model`). It is slower but checks the
//! protocol the engine relies on: a box is never freed while a guard that could
//! have loaded it is alive, and every retired box is freed exactly once.

use crate::memtable::Memtable;
use crate::segment::Segment;
use crate::sync::Arc;
use crate::tombstone::TombIndex;

/// Everything a snapshot needs to read: sources from newest to oldest.
pub(crate) struct Manifest<V> {
    /// The memtable writers insert into.
    pub(crate) active: Arc<Memtable<V>>,
    /// Sealed memtables waiting for flush, oldest first.
    pub(crate) memruns: Vec<Arc<Memtable<V>>>,
    /// L0 segments, oldest first.
    pub(crate) l0: Vec<Arc<Segment<V>>>,
    /// L1 segments, sorted by timestamp, never overlapping. Change only through
    /// [`Manifest::set_l1`], which keeps `l1_max` in step.
    pub(crate) l1: Vec<Arc<Segment<V>>>,
    /// `l1[i].max_ts()` for every `i`: searched to find the L1 segment of a
    /// timestamp without chasing a pointer per probe.
    pub(crate) l1_max: Vec<i64>,
    /// Late records lying over L1 (see [`Patches`]).
    pub(crate) patches: Patches<V>,
    /// Tombstones of flushed memtables.
    pub(crate) tombs: Arc<TombIndex>,
}

/// Number of entries of the sorted `keys` below `t`.
#[inline]
fn count_below(keys: &[i64], t: i64) -> usize {
    if keys.len() <= 64 {
        // A few independent compares (vectorised) beat a chain of dependent ones.
        keys.iter().map(|&m| (m < t) as usize).sum()
    } else {
        keys.partition_point(|&m| m < t)
    }
}

#[cfg(test)]
#[test]
fn count_below_agrees_with_bisection_at_every_size() {
    for n in 0..200i64 {
        let keys: Vec<i64> = (0..n).map(|i| i / 3 * 10).collect();
        for t in [i64::MIN, -1, 0, 5, 10, 11, n * 3, n * 4, i64::MAX] {
            assert_eq!(count_below(&keys, t), keys.partition_point(|&m| m < t), "n={n} t={t}");
        }
    }
}

impl<V> Manifest<V> {
    /// Replaces the L1 segments (sorting them by timestamp) and their index.
    pub(crate) fn set_l1(&mut self, mut l1: Vec<Arc<Segment<V>>>) {
        l1.sort_by_key(|s| s.min_ts());
        self.l1_max = l1.iter().map(|s| s.max_ts()).collect();
        self.l1 = l1;
    }

    /// Index of the first L1 segment whose last timestamp is `>= t`.
    #[inline]
    pub(crate) fn l1_from(&self, t: i64) -> usize {
        count_below(&self.l1_max, t)
    }

    /// The L1 segments overlapping `[lo, hi]`, in timestamp order (none when
    /// `lo > hi`): L1 is sorted and disjoint, so they are one stretch, found by two
    /// searches of the last-timestamp index.
    pub(crate) fn l1_overlapping(&self, lo: i64, hi: i64) -> &[Arc<Segment<V>>] {
        let first = self.l1_from(lo);
        // Segments before `end` end below `hi`; the one at `end` ends at or
        // above it and overlaps iff it starts at or below it.
        let mut end = self.l1_from(hi);
        if self.l1.get(end).is_some_and(|s| s.min_ts() <= hi) {
            end += 1;
        }
        &self.l1[first..end.max(first)]
    }

    /// Every segment: L0, L1 and the patches.
    pub(crate) fn segments(&self) -> impl Iterator<Item = &Arc<Segment<V>>> + Clone {
        self.l0.iter().chain(self.l1.iter()).chain(self.patches.iter())
    }

    /// The largest timestamp any segment holds.
    pub(crate) fn segments_max_ts(&self) -> Option<i64> {
        self.l0
            .iter()
            .map(|s| s.max_ts())
            .chain(self.l1_max.last().copied())
            .chain(self.patches.max_ts())
            .max()
    }
}

impl<V> Clone for Manifest<V> {
    fn clone(&self) -> Self {
        Manifest {
            active: self.active.clone(),
            memruns: self.memruns.clone(),
            l0: self.l0.clone(),
            l1: self.l1.clone(),
            l1_max: self.l1_max.clone(),
            patches: self.patches.clone(),
            tombs: self.tombs.clone(),
        }
    }
}

mod patches;
pub(crate) use patches::{Patches, MAX_PATCH_DEPTH, MAX_STRETCH_PATCHES};

#[cfg(not(any(timelog_loom, timelog_shuttle)))]
mod epoch;
#[cfg(not(any(timelog_loom, timelog_shuttle)))]
use epoch as imp;
#[cfg(any(timelog_loom, timelog_shuttle))]
mod model;
#[cfg(any(timelog_loom, timelog_shuttle))]
use model as imp;

pub(crate) use imp::{dropping_retired, Guard, ManifestCell, Quiet};

impl<V: Send + Sync + 'static> ManifestCell<V> {
    /// The current manifest as an owned `Arc`.
    pub(crate) fn current(&self) -> Arc<Manifest<V>> {
        let guard = self.pin();
        self.load(&guard).clone()
    }
}
