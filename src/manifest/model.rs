//! The manifest cell of model-checked builds (`timelog_loom` / `timelog_shuttle`),
//! where crossbeam-epoch is invisible to the checker: a count of pinned guards,
//! and retired boxes freed by whoever sees that count at zero. Slower, but it
//! checks the protocol the engine relies on: a box is never freed while a guard
//! that could have loaded it is alive, and every retired box is freed once.

use super::Manifest;
use crate::sync::{Arc, AtomicPtr, AtomicUsize, Mutex, Ordering};

/// The epoch version's query; boxes are freed here with no user value writing back.
pub(crate) fn dropping_retired() -> bool {
    false
}

/// The epoch version's region marker; nothing to mark here (the model
/// reclaimer frees boxes when the last guard goes, and model values never
/// write back).
pub(crate) struct Quiet;

impl Quiet {
    pub(crate) fn enter() -> Quiet {
        Quiet
    }
}

type Boxed<V> = *mut Arc<Manifest<V>>;

/// Frees retired boxes when no guard is alive.
pub(crate) trait Reclaim {
    fn try_reclaim(&self);
}

/// A pinned reader: while any guard lives, no retired box is freed.
pub(crate) struct Guard<'c> {
    readers: &'c AtomicUsize,
    cell: &'c dyn Reclaim,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if self.readers.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.cell.try_reclaim();
        }
    }
}

/// The published manifest pointer (model-checker version).
pub(crate) struct ManifestCell<V> {
    ptr: AtomicPtr<Arc<Manifest<V>>>,
    readers: AtomicUsize,
    retired: Mutex<Vec<usize>>,
    /// Boxes retired and boxes freed so far (checked by the loom models).
    pub(crate) retired_count: AtomicUsize,
    pub(crate) freed_count: AtomicUsize,
}

impl<V> ManifestCell<V> {
    pub(crate) fn new(m: Manifest<V>) -> Self {
        ManifestCell {
            ptr: AtomicPtr::new(Box::into_raw(Box::new(Arc::new(m)))),
            readers: AtomicUsize::new(0),
            retired: Mutex::new(Vec::new()),
            retired_count: AtomicUsize::new(0),
            freed_count: AtomicUsize::new(0),
        }
    }

    pub(crate) fn pin(&self) -> Guard<'_>
    where
        V: 'static,
    {
        self.readers.fetch_add(1, Ordering::SeqCst);
        Guard { readers: &self.readers, cell: self }
    }

    pub(crate) fn load<'g>(&self, _guard: &'g Guard<'_>) -> &'g Arc<Manifest<V>> {
        let p = self.ptr.load(Ordering::SeqCst);
        // SAFETY: non-null; a box replaced after our guard's `fetch_add` is only
        // freed by `try_reclaim` once the reader count is zero, i.e. after this
        // guard is gone. A box replaced before it is unreachable: the SeqCst
        // order puts our pointer load after the swap.
        unsafe { &*p }
    }

    pub(crate) fn load_addr(&self, _guard: &Guard<'_>) -> usize {
        self.ptr.load(Ordering::SeqCst) as usize
    }
}

impl<V: 'static> Reclaim for ManifestCell<V> {
    fn try_reclaim(&self) {
        let mut retired = self.retired.lock();
        if self.readers.load(Ordering::SeqCst) == 0 {
            for p in retired.drain(..) {
                // SAFETY: retired boxes are unreachable from the cell, and no guard
                // that could have loaded them is alive (count is zero, and new
                // guards load the current pointer). Each is freed once: it leaves
                // the list here.
                drop(unsafe { Box::from_raw(p as Boxed<V>) });
                self.freed_count.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

impl<V: 'static> ManifestCell<V> {
    /// Frees retired boxes if no guard is alive (see the epoch version).
    pub(crate) fn reclaim(&self) {
        Reclaim::try_reclaim(self);
    }

    pub(crate) fn update(&self, f: impl FnMut(&Manifest<V>) -> Option<Manifest<V>>) -> Option<u64> {
        let guard = self.pin();
        let r = self.update_deferred(&guard, f);
        drop(guard);
        if r.is_some() {
            self.try_reclaim();
        }
        r
    }

    /// The epoch version's contract: retires the replaced box and frees nothing.
    /// Here retired boxes are freed when the last guard is dropped (or by
    /// `try_reclaim`), so the caller's `guard` keeps them alive until it goes.
    pub(crate) fn update_deferred(
        &self,
        _guard: &Guard<'_>,
        mut f: impl FnMut(&Manifest<V>) -> Option<Manifest<V>>,
    ) -> Option<u64> {
        let mut retries = 0;
        loop {
            let cur = self.ptr.load(Ordering::SeqCst);
            // SAFETY: as in `load` (the caller holds a guard).
            let next = f(unsafe { &*cur })?;
            let new = Box::into_raw(Box::new(Arc::new(next)));
            match self.ptr.compare_exchange(cur, new, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => {
                    self.retired.lock().push(cur as usize);
                    self.retired_count.fetch_add(1, Ordering::SeqCst);
                    return Some(retries);
                }
                Err(_) => {
                    // SAFETY: `new` was never published.
                    drop(unsafe { Box::from_raw(new) });
                    retries += 1;
                }
            }
        }
    }

    /// The epoch version's contract. Nothing to do here: retired boxes are freed
    /// when the last guard (the caller's, or an outer one) is dropped.
    pub(crate) fn flush_deferred(&self, _guard: &Guard<'_>) {}

    /// The epoch version's contract. Nothing is parked here: the model's values
    /// never write back to the log, so boxes are freed as soon as no guard lives.
    pub(crate) fn drain(&self) {}

    /// The epoch version's contract: frees retired boxes if no guard lives.
    pub(crate) fn tidy(&self) {
        Reclaim::try_reclaim(self);
    }

    /// The epoch version's contract: always true here, the model reclaimer frees
    /// nothing on `pin` (only when the last guard is dropped).
    pub(crate) fn pin_is_inert(&self) -> bool {
        true
    }
}

impl<V> Drop for ManifestCell<V> {
    fn drop(&mut self) {
        for p in self.retired.lock().drain(..) {
            // SAFETY: `&mut self`: nobody can hold a guard on this cell any more.
            drop(unsafe { Box::from_raw(p as Boxed<V>) });
            self.freed_count.fetch_add(1, Ordering::SeqCst);
        }
        // SAFETY: as above, for the current box.
        drop(unsafe { Box::from_raw(self.ptr.load(Ordering::SeqCst)) });
    }
}
