//! The manifest cell of normal builds: a `crossbeam_epoch::Atomic` whose replaced
//! boxes are retired to the epoch collector and parked in the cell's graveyard,
//! which the engine drains where user `V::drop`s may run.

use std::cell::Cell;
use std::marker::PhantomData;

use crossbeam_epoch::{self as epoch, Atomic, Owned};

use super::Manifest;
use crate::sync::{Arc, AtomicBool, Mutex, Ordering};

thread_local! {
    /// Whether this thread is dropping graveyard contents (see [`Graveyard::drain`]).
    static DRAINING: Cell<bool> = const { Cell::new(false) };
    /// Nesting depth of [`Quiet`] regions on this thread.
    static QUIET: Cell<u32> = const { Cell::new(0) };
}

/// Marks a region where no user code may run on this thread: from a sequence
/// reservation to its publication, and while a stage lock is held (a user
/// `Drop` could wait for that number, or call back into the stage). Retired
/// manifests freed by the epoch inside such a region are parked instead.
pub(crate) struct Quiet(PhantomData<*const ()>);

impl Quiet {
    pub(crate) fn enter() -> Quiet {
        QUIET.with(|q| q.set(q.get() + 1));
        Quiet(PhantomData)
    }

    /// Whether user code may not run here: inside a [`Quiet`] region, or on a
    /// thread of the build pool (it runs flush and compaction work for a
    /// thread that holds a stage lock).
    fn now() -> bool {
        QUIET.with(|q| q.get() > 0) || crate::sync::in_build_pool()
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        QUIET.with(|q| q.set(q.get() - 1));
    }
}

/// Whether this thread is dropping retired manifests, and so user values, now
/// (a `V::drop` that writes to a log runs inside this).
pub(crate) fn dropping_retired() -> bool {
    DRAINING.with(|d| d.get())
}

/// Marks this thread as draining until dropped (also when a user `Drop` panics).
struct Draining;

impl Draining {
    /// `None` if this thread is already draining.
    fn enter() -> Option<Draining> {
        // Not `then_some(Draining)`: that builds the guard eagerly, and when
        // the thread is already draining, drops it at once, which clears the
        // flag of the outer drain (the cause of unbounded nesting, once).
        if DRAINING.with(|d| d.replace(true)) {
            None
        } else {
            Some(Draining)
        }
    }
}

impl Drop for Draining {
    fn drop(&mut self) {
        DRAINING.with(|d| d.set(false));
    }
}

/// Retired manifests, parked by the epoch's deferred functions until a safe
/// point drops them.
///
/// Dropping a retired manifest can drop the last reference to memtables and
/// segments, and so run user `V::drop`s. crossbeam-epoch runs deferred
/// functions on whatever thread pins next, at any of its pins — including the
/// pins inside a skiplist insert, between a writer's sequence reservation and
/// its publication, where a `V::drop` that writes to the same log would wait
/// for a number its own thread holds. So a deferred function that runs in a
/// [`Quiet`] region only moves the box here, and the engine drops what is here
/// where the thread holds no unpublished sequence number and no stage lock
/// ([`ManifestCell::drain`]); anywhere else it drops the box at once.
/// `None` once the cell is gone: later arrivals are dropped at once.
struct Graveyard<V> {
    dead: Mutex<Option<Vec<Arc<Manifest<V>>>>>,
    /// Whether `dead` may hold something (a cheap check for the write path).
    parked: AtomicBool,
}

impl<V> Graveyard<V> {
    /// Drops `b` now, or parks it if user code may not run here, or if this
    /// thread is already dropping retired manifests (a user `Drop` that writes
    /// to the log pins, and its pin may retire more: nesting would recurse as
    /// deep as there is garbage).
    fn retire(&self, b: Arc<Manifest<V>>) {
        if !Quiet::now() {
            if let Some(_draining) = Draining::enter() {
                drop(b);
                return;
            }
        }
        let mut dead = self.dead.lock();
        match dead.as_mut() {
            Some(v) => {
                v.push(b);
                self.parked.store(true, Ordering::Release);
            }
            None => {
                drop(dead);
                drop(b);
            }
        }
    }

    /// Drops what is buried, until nothing is left; a no-op on a thread that is
    /// already draining (a user `Drop` that writes to the log reaches a safe
    /// point again: nesting there would recurse as deep as there is garbage).
    fn drain(&self) {
        if !self.parked.load(Ordering::Acquire) {
            return;
        }
        let Some(_draining) = Draining::enter() else { return };
        loop {
            let batch = match self.dead.lock().as_mut() {
                Some(v) if !v.is_empty() => std::mem::take(v),
                _ => {
                    self.parked.store(false, Ordering::Release);
                    return;
                }
            };
            drop(batch);
        }
    }

    /// Drops what is buried and makes later arrivals drop at once.
    fn close(&self) {
        let left = self.dead.lock().take();
        drop(left);
    }
}

/// A pinned epoch: pointers loaded under it stay valid until it is dropped.
pub(crate) struct Guard<'c>(epoch::Guard, PhantomData<&'c ()>);

/// Rounds of [`ManifestCell::reclaim`]: each frees a few retired batches.
const RECLAIM_ROUNDS: usize = 32;

/// The published manifest pointer.
pub(crate) struct ManifestCell<V> {
    ptr: Atomic<Arc<Manifest<V>>>,
    grave: Arc<Graveyard<V>>,
}

impl<V: Send + Sync + 'static> ManifestCell<V> {
    pub(crate) fn new(m: Manifest<V>) -> Self {
        ManifestCell {
            ptr: Atomic::new(Arc::new(m)),
            grave: Arc::new(Graveyard { dead: Mutex::new(Some(Vec::new())), parked: AtomicBool::new(false) }),
        }
    }

    #[inline]
    pub(crate) fn pin(&self) -> Guard<'_> {
        Guard(epoch::pin(), PhantomData)
    }

    /// The current manifest, valid while `guard` is pinned.
    #[inline]
    pub(crate) fn load<'g>(&self, guard: &'g Guard<'_>) -> &'g Arc<Manifest<V>> {
        let p = self.ptr.load(Ordering::Acquire, &guard.0);
        // SAFETY: the pointer is never null (set at construction, only ever
        // replaced by a non-null one), and a replaced box is taken apart only by
        // a deferred function, i.e. not before every guard pinned now is dropped.
        unsafe { p.deref() }
    }

    /// The address of the current box (for "has it changed?" checks under one guard;
    /// a box cannot be freed and its address reused while the guard is pinned).
    #[inline]
    pub(crate) fn load_addr(&self, guard: &Guard<'_>) -> usize {
        self.ptr.load(Ordering::Acquire, &guard.0).as_raw() as usize
    }

    /// Frees what earlier updates retired, as far as no pinned thread still
    /// protects it. Each `flush` of a fresh guard tries to advance the global
    /// epoch and frees a bounded number of retired batches; a few rounds free
    /// everything that is free-able now (garbage of every thread: updates hand
    /// theirs to the global queue at once). Called when the log settles, so
    /// that memory the log no longer uses is returned then rather than at some
    /// later pin on some thread.
    pub(crate) fn reclaim(&self) {
        for _ in 0..RECLAIM_ROUNDS {
            epoch::pin().flush();
            // Let threads that are pinned right now (rayon workers stealing
            // after a parallel build pin the epoch in crossbeam-deque) move on,
            // so that the next round can advance the epoch past them.
            std::thread::yield_now();
        }
        self.drain();
    }

    /// Runs the deferred functions this thread can run now (parking what
    /// they retire) and drops what is parked: for idle moments of a worker.
    pub(crate) fn tidy(&self) {
        epoch::pin().flush();
        self.drain();
    }

    /// Drops the retired manifests parked so far (see [`Graveyard`]; one
    /// atomic load when there are none): user `V::drop`s may run, so the
    /// caller must hold no unpublished sequence number and no stage lock (a
    /// `Drop` may call back into the log).
    pub(crate) fn drain(&self) {
        self.grave.drain();
    }

    /// Applies `f` to the current manifest and installs the result with a CAS,
    /// retrying on concurrent updates. `f` returns `None` to give up. Returns the
    /// number of failed CAS attempts, or `None` when `f` gave up.
    ///
    /// Then flushes this thread's deferred functions ([`ManifestCell::flush_deferred`]),
    /// which park retired manifests in the graveyard and run no user code.
    pub(crate) fn update(&self, f: impl FnMut(&Manifest<V>) -> Option<Manifest<V>>) -> Option<u64> {
        let guard = self.pin();
        let r = self.update_deferred(&guard, f);
        if r.is_some() {
            self.flush_deferred(&guard);
        }
        r
    }

    /// [`ManifestCell::update`] under the caller's `guard`, running no deferred
    /// function: the replaced box is retired into this thread's bag, and
    /// nothing is freed here. For the seal, which holds an unpublished sequence
    /// number while it swaps the manifest; it calls
    /// [`ManifestCell::flush_deferred`] once the number is published.
    pub(crate) fn update_deferred(
        &self,
        guard: &Guard<'_>,
        mut f: impl FnMut(&Manifest<V>) -> Option<Manifest<V>>,
    ) -> Option<u64> {
        let guard = &guard.0;
        let mut retries = 0;
        loop {
            let cur = self.ptr.load(Ordering::Acquire, guard);
            // SAFETY: as in `load`.
            let next = f(unsafe { cur.deref() })?;
            match self.ptr.compare_exchange(
                cur,
                Owned::new(Arc::new(next)),
                Ordering::AcqRel,
                Ordering::Acquire,
                guard,
            ) {
                Ok(_) => {
                    let grave = self.grave.clone();
                    // SAFETY: `cur` is unreachable from the cell now; threads that
                    // loaded it are pinned, so the function runs (on some thread)
                    // only after they unpinned, and it runs once: taking the box
                    // back as owned is then sound. It captures `cur` (a pointer to
                    // a `Send + Sync` manifest) and an `Arc` of the graveyard,
                    // which live as long as the function. (`defer` only queues: a
                    // full local bag moves to the global queue, and nothing is run.)
                    unsafe {
                        guard.defer_unchecked(move || grave.retire(*cur.into_owned().into_box()));
                    }
                    return Some(retries);
                }
                Err(_) => retries += 1,
            }
        }
    }

    /// Hands this thread's retired garbage to the global queue and runs the
    /// deferred functions no pinned thread holds back any more: retired
    /// manifests move to the graveyard (nothing of the user's runs here; see
    /// [`ManifestCell::drain`]).
    ///
    /// The flush matters: otherwise the garbage waits in this thread's local bag
    /// (until 64 items pile up or the thread exits), keeping retired memtables,
    /// segments and deleted values alive. Regression: `tests/drop_accounting.rs`.
    pub(crate) fn flush_deferred(&self, guard: &Guard<'_>) {
        guard.0.flush();
    }

    /// Whether a `pin` now would run no deferred destructor: true when this thread
    /// is already pinned (by a [`Guard`] of any cell: they all share
    /// crossbeam-epoch's default collector). crossbeam-epoch collects garbage only
    /// on a thread's outermost pin (every 128th) and on `flush`; never on a nested
    /// pin, on unpin, or on `defer`.
    pub(crate) fn pin_is_inert(&self) -> bool {
        epoch::is_pinned()
    }
}

impl<V> Drop for ManifestCell<V> {
    fn drop(&mut self) {
        self.grave.close();
        // SAFETY: `&mut self`: no other thread can reach the cell any more, so the
        // current box can be freed immediately.
        unsafe {
            let guard = epoch::unprotected();
            let p = self.ptr.load(Ordering::Relaxed, guard);
            drop(p.into_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Draining, DRAINING};

    /// Regression: a nested `enter` once built a guard and dropped it at once,
    /// clearing the outer drain's flag, so drops that write to the log nested
    /// without bound (a stack overflow, or a hang, in `tests/hazards.rs`).
    #[test]
    fn a_refused_nested_drain_keeps_the_outer_flag() {
        let outer = Draining::enter().expect("not draining yet");
        assert!(Draining::enter().is_none());
        assert!(DRAINING.with(|d| d.get()), "the refused nested enter cleared the flag");
        assert!(Draining::enter().is_none());
        drop(outer);
        assert!(!DRAINING.with(|d| d.get()));
        assert!(Draining::enter().is_some());
    }
}
