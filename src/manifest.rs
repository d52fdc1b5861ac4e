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
}

impl<V> Clone for Manifest<V> {
    fn clone(&self) -> Self {
        Manifest {
            active: self.active.clone(),
            memruns: self.memruns.clone(),
            l0: self.l0.clone(),
            l1: self.l1.clone(),
            l1_max: self.l1_max.clone(),
            tombs: self.tombs.clone(),
        }
    }
}

#[cfg(not(any(timelog_loom, timelog_shuttle)))]
mod imp {
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
                grave: Arc::new(Graveyard {
                    dead: Mutex::new(Some(Vec::new())),
                    parked: AtomicBool::new(false),
                }),
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
}

#[cfg(any(timelog_loom, timelog_shuttle))]
mod imp {
    /// The epoch version's region marker; nothing to mark here (the model
    /// reclaimer frees boxes when the last guard goes, and model values never
    /// write back).
    pub(crate) struct Quiet;

    impl Quiet {
        pub(crate) fn enter() -> Quiet {
            Quiet
        }
    }

    /// The epoch version's query; boxes are freed here with no user value writing back.
    pub(crate) fn dropping_retired() -> bool {
        false
    }

    use super::Manifest;
    use crate::sync::{Arc, AtomicPtr, AtomicUsize, Mutex, Ordering};

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
}

pub(crate) use imp::{dropping_retired, Guard, ManifestCell, Quiet};

impl<V: Send + Sync + 'static> ManifestCell<V> {
    /// The current manifest as an owned `Arc`.
    pub(crate) fn current(&self) -> Arc<Manifest<V>> {
        let guard = self.pin();
        self.load(&guard).clone()
    }
}
