//! The log side of [`Timelog::evict`](crate::Timelog::evict) (and so of the
//! Parquet archive): a snapshot taken at a seal point and fenced
//! against compaction, and the bounded delete that hides exactly what it saw.
//!
//! [`Timelog::archive`](crate::Timelog::archive) writes a range to Parquet and
//! then deletes it from the log. An ordinary delete would also hide records
//! written into the range after the export's snapshot (late data), which the
//! files do not hold: they would be lost. The archive's delete is *bounded*: it
//! hides only records numbered below the snapshot's watermark. Memtables keep
//! each record's number, so there the bound is exact; segments keep only the
//! span of their records' numbers, so the bound must never fall inside the span
//! of a segment with records in the range. Two things see to that:
//!
//! - the watermark is a **seal point**: the active memtable is sealed, and the
//!   snapshot's watermark is the seal's number, so every memtable (and every
//!   segment flushed from one) lies wholly below or wholly above it;
//! - a [`Fence`] keeps compaction from merging segments from both sides of it
//!   over the range until the delete is visible (after that, compaction applies
//!   the delete as it merges, and the merged segment holds nothing it hides).

use crate::manifest::Quiet;
use crate::memtable::Memtable;
use crate::snapshot::Snapshot;
use crate::store::Fence;
use crate::sync::{wait_until, Ordering};
use crate::Value;

use super::{seal, Op, Pipeline};
use crate::outcome::Written;

impl<V: Value> Pipeline<V> {
    /// A snapshot whose watermark is a seal point, and the id of the fence over
    /// `[lo, hi]` installed for it (remove it with [`Pipeline::unfence`]).
    pub(crate) fn fenced_snapshot(&self, lo: i64, hi: i64) -> (Snapshot<V>, u64) {
        let store = &self.store;
        loop {
            let mut fences = store.fences.lock();
            let sealed = {
                let _quiet = Quiet::enter();
                let guard = store.manifest.pin();
                let m = store.manifest.load(&guard);
                let active: &Memtable<V> = &m.active;
                if active.begin_seal() {
                    seal::seal(store, active);
                    // The manifest right after the seal: the memtable that took
                    // over is (almost surely) not flushed yet; checked below.
                    let after = store.manifest.load(&guard).clone();
                    active.seal_seq().map(|s| (s, after))
                } else {
                    // A writer is sealing it right now: wait for its manifest, then
                    // seal the next one.
                    let p: *const Memtable<V> = active;
                    wait_until(|| !std::ptr::eq(&*store.manifest.load(&guard).active, p));
                    None
                }
            };
            let Some((below, m)) = sealed else {
                drop(fences);
                continue;
            };
            let id = store.next_fence_id.fetch_add(1, Ordering::Relaxed);
            fences.push(Fence { id, lo, hi, below, released: None });
            drop(fences);
            // Every write numbered below the seal has finished (into the sealed
            // memtable, which this manifest holds) once the watermark passes it.
            wait_until(|| store.seq.visible() > below);
            // The memtable that took over at the seal was not flushed yet, so no
            // segment or indexed tombstone of this manifest comes from above it.
            let next = below + 1;
            if m.active.start_seq == next || m.memruns.iter().any(|mr| mr.start_seq == next) {
                // Hand back what the seal retired (no lock held, nothing pinned).
                seal::drain(store, &self.signals, false);
                return (Snapshot { m, w: below }, id);
            }
            // (A flush got in between the seal and the load: seal again.)
            self.unfence(id, None);
        }
    }

    /// Ends the fence `id`: at once if no bounded delete was written (`delete`
    /// is `None`); otherwise it is released at the delete's number, and goes when
    /// no compaction round can miss the delete (now, if none runs).
    pub(crate) fn unfence(&self, id: u64, delete: Option<u64>) {
        let store = &self.store;
        {
            let mut fences = store.fences.lock();
            match delete {
                None => fences.retain(|f| f.id != id),
                Some(s) => fences.iter_mut().filter(|f| f.id == id).for_each(|f| f.released = Some(s)),
            }
        }
        if delete.is_some() {
            // The delete is visible: a round that starts after this sees it.
            let _ = self.maint.between_compactions(|| store.retire_fences(store.seq.visible()));
        }
    }

    /// Deletes the records in `[lo, hi]` numbered below `below`, and waits until
    /// the delete is visible to new snapshots.
    pub(crate) fn delete_below(&self, lo: i64, hi: i64, below: u64) -> Written {
        let w = self.write(Op::Tomb(lo, hi, Some(below)));
        wait_until(|| self.store.seq.visible() > w.first_seq);
        w
    }
}
