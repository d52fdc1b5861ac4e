//! The manifest: one immutable description of everything the log holds, and the
//! epoch-reclaimed atomic pointer it is published through.
//!
//! Every structural change (seal, flush, compaction) builds a new [`Manifest`]
//! from the current one and installs it with a compare-and-swap. The cell holds
//! an `Arc<Manifest>` behind a `crossbeam_epoch::Atomic`; readers pin the epoch
//! only for the instant it takes to clone the `Arc`, so a snapshot holds an `Arc`
//! and never an epoch guard. The replaced box is retired with `defer_destroy`
//! and freed once no pinned thread can still be looking at it.

use crossbeam_epoch::{self as epoch, Atomic, Guard, Owned, Shared};

use crate::memtable::Memtable;
use crate::segment::Segment;
use crate::sync::{Arc, Ordering};
use crate::tombstone::TombIndex;

/// Everything a snapshot needs to read: sources from newest to oldest.
pub(crate) struct Manifest<V> {
    /// The memtable writers insert into.
    pub(crate) active: Arc<Memtable<V>>,
    /// Sealed memtables waiting for flush, oldest first.
    pub(crate) memruns: Vec<Arc<Memtable<V>>>,
    /// L0 segments, oldest first.
    pub(crate) l0: Vec<Arc<Segment<V>>>,
    /// L1 segments, sorted by timestamp, never overlapping.
    pub(crate) l1: Vec<Arc<Segment<V>>>,
    /// Tombstones of flushed memtables.
    pub(crate) tombs: Arc<TombIndex>,
}

impl<V> Clone for Manifest<V> {
    fn clone(&self) -> Self {
        Manifest {
            active: self.active.clone(),
            memruns: self.memruns.clone(),
            l0: self.l0.clone(),
            l1: self.l1.clone(),
            tombs: self.tombs.clone(),
        }
    }
}

/// The published manifest pointer.
pub(crate) struct ManifestCell<V> {
    ptr: Atomic<Arc<Manifest<V>>>,
}

impl<V> ManifestCell<V> {
    pub(crate) fn new(m: Manifest<V>) -> Self {
        ManifestCell { ptr: Atomic::new(Arc::new(m)) }
    }

    /// The current manifest, valid while `guard` is pinned.
    #[inline]
    pub(crate) fn load<'g>(&self, guard: &'g Guard) -> &'g Arc<Manifest<V>> {
        let p = self.ptr.load(Ordering::Acquire, guard);
        // SAFETY: the pointer is never null (set at construction, only ever
        // replaced by a non-null one), and a replaced box is destroyed through
        // `defer_destroy`, i.e. not before every guard pinned now is dropped.
        unsafe { p.deref() }
    }

    /// The raw current pointer (for "has it changed?" checks under one guard).
    #[inline]
    pub(crate) fn load_shared<'g>(&self, guard: &'g Guard) -> Shared<'g, Arc<Manifest<V>>> {
        self.ptr.load(Ordering::Acquire, guard)
    }

    /// The current manifest as an owned `Arc`.
    pub(crate) fn current(&self) -> Arc<Manifest<V>> {
        let guard = epoch::pin();
        self.load(&guard).clone()
    }

    /// Applies `f` to the current manifest and installs the result with a CAS,
    /// retrying on concurrent updates. `f` returns `None` to give up. Returns the
    /// number of failed CAS attempts, or `None` when `f` gave up.
    pub(crate) fn update(&self, mut f: impl FnMut(&Manifest<V>) -> Option<Manifest<V>>) -> Option<u64> {
        let guard = epoch::pin();
        let mut retries = 0;
        loop {
            let cur = self.ptr.load(Ordering::Acquire, &guard);
            // SAFETY: as in `load`.
            let next = f(unsafe { cur.deref() })?;
            match self.ptr.compare_exchange(
                cur,
                Owned::new(Arc::new(next)),
                Ordering::AcqRel,
                Ordering::Acquire,
                &guard,
            ) {
                Ok(_) => {
                    // SAFETY: `cur` is unreachable from the cell now; threads that
                    // loaded it are pinned, so destruction waits for them.
                    unsafe { guard.defer_destroy(cur) };
                    return Some(retries);
                }
                Err(_) => retries += 1,
            }
        }
    }
}

impl<V> Drop for ManifestCell<V> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no other thread can reach the cell any more, so the
        // current box can be freed immediately.
        unsafe {
            let guard = epoch::unprotected();
            let p = self.ptr.load(Ordering::Relaxed, guard);
            drop(p.into_owned());
        }
    }
}
