//! The one place where the engine takes its synchronisation primitives from.
//!
//! Everything that is shared between threads (atomics, `Arc`, locks, condition
//! variables, thread spawning, spin hints, parallel maps) is imported from here,
//! never from `std` directly, so that the same code can be compiled against
//! [loom] (`--cfg timelog_loom`) or [shuttle] (`--cfg timelog_shuttle`) and have
//! its interleavings explored. Under either model checker the parallel map runs
//! sequentially (rayon is invisible to them), and the two dependencies that are
//! invisible to them, crossbeam-epoch and crossbeam-skiplist, are swapped for
//! simple model-visible implementations (see `manifest.rs` and
//! `memtable/ooo.rs`).
//!
//! [loom]: https://docs.rs/loom
//! [shuttle]: https://docs.rs/shuttle

use std::time::Duration;

#[cfg(not(any(timelog_loom, timelog_shuttle)))]
mod imp {
    pub use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
    pub use std::sync::Arc;
    pub use std::thread::JoinHandle;

    pub fn spin_loop() {
        std::hint::spin_loop();
    }

    pub fn yield_now() {
        std::thread::yield_now();
    }

    /// Whether `h` is the handle of the calling thread.
    pub fn is_current(h: &JoinHandle<()>) -> bool {
        h.thread().id() == std::thread::current().id()
    }

    pub fn spawn<F: FnOnce() + Send + 'static>(name: &str, f: F) -> JoinHandle<()> {
        std::thread::Builder::new().name(name.into()).spawn(f).expect("spawn a maintenance thread")
    }

    pub(crate) type RawMutex<T> = parking_lot::Mutex<T>;
    pub(crate) type RawGuard<'a, T> = parking_lot::MutexGuard<'a, T>;
    pub(crate) type RawCondvar = parking_lot::Condvar;
}

#[cfg(timelog_loom)]
mod imp {
    pub use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
    pub use loom::sync::Arc;
    pub use loom::thread::JoinHandle;

    pub fn spin_loop() {
        loom::thread::yield_now();
    }

    pub fn yield_now() {
        loom::thread::yield_now();
    }

    /// Whether `h` is the handle of the calling thread.
    pub fn is_current(h: &JoinHandle<()>) -> bool {
        h.thread().id() == loom::thread::current().id()
    }

    pub fn spawn<F: FnOnce() + Send + 'static>(_name: &str, f: F) -> JoinHandle<()> {
        loom::thread::spawn(f)
    }

    pub(crate) type RawMutex<T> = loom::sync::Mutex<T>;
    pub(crate) type RawGuard<'a, T> = loom::sync::MutexGuard<'a, T>;
    pub(crate) type RawCondvar = loom::sync::Condvar;
}

#[cfg(all(timelog_shuttle, not(timelog_loom)))]
mod imp {
    pub use shuttle::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
    pub use shuttle::sync::Arc;
    pub use shuttle::thread::JoinHandle;

    pub fn spin_loop() {
        shuttle::thread::yield_now();
    }

    pub fn yield_now() {
        shuttle::thread::yield_now();
    }

    /// Whether `h` is the handle of the calling thread.
    pub fn is_current(h: &JoinHandle<()>) -> bool {
        h.thread().id() == shuttle::thread::current().id()
    }

    pub fn spawn<F: FnOnce() + Send + 'static>(_name: &str, f: F) -> JoinHandle<()> {
        shuttle::thread::spawn(f)
    }

    pub(crate) type RawMutex<T> = shuttle::sync::Mutex<T>;
    pub(crate) type RawGuard<'a, T> = shuttle::sync::MutexGuard<'a, T>;
    pub(crate) type RawCondvar = shuttle::sync::Condvar;
}

pub(crate) use imp::*;

/// A mutex with parking_lot's shape (`lock()` returns the guard directly).
/// Only maintenance and the worker signalling use locks, never reads or writes.
pub(crate) struct Mutex<T>(RawMutex<T>);

/// Guard of [`Mutex`].
pub(crate) struct MutexGuard<'a, T>(Option<RawGuard<'a, T>>);

impl<T> Mutex<T> {
    pub(crate) fn new(v: T) -> Self {
        Mutex(RawMutex::new(v))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        #[cfg(not(any(timelog_loom, timelog_shuttle)))]
        let g = self.0.lock();
        #[cfg(any(timelog_loom, timelog_shuttle))]
        let g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        MutexGuard(Some(g))
    }

    /// The guard if the lock is free now, without waiting.
    pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        #[cfg(not(any(timelog_loom, timelog_shuttle)))]
        let g = self.0.try_lock()?;
        #[cfg(any(timelog_loom, timelog_shuttle))]
        let g = match self.0.try_lock() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        Some(MutexGuard(Some(g)))
    }
}

impl<T> std::ops::Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.as_ref().expect("guard present")
    }
}

impl<T> std::ops::DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.as_mut().expect("guard present")
    }
}

/// A condition variable paired with [`Mutex`].
pub(crate) struct Condvar(RawCondvar);

impl Condvar {
    pub(crate) fn new() -> Self {
        Condvar(RawCondvar::new())
    }

    /// Waits for a notification or `timeout`; returns whether it timed out.
    pub(crate) fn wait_for<T>(&self, guard: &mut MutexGuard<'_, T>, timeout: Duration) -> bool {
        #[cfg(not(any(timelog_loom, timelog_shuttle)))]
        {
            self.0.wait_for(guard.0.as_mut().expect("guard present"), timeout).timed_out()
        }
        #[cfg(any(timelog_loom, timelog_shuttle))]
        {
            let g = guard.0.take().expect("guard present");
            let (g, res) = match self.0.wait_timeout(g, timeout) {
                Ok(r) => r,
                Err(e) => e.into_inner(),
            };
            guard.0 = Some(g);
            res.timed_out()
        }
    }

    pub(crate) fn notify_all(&self) {
        self.0.notify_all();
    }
}

/// A number unique to the calling thread (never 0), used to claim memtable lanes.
/// Under a model checker it comes from the checker's thread-local storage, since
/// its threads may share one OS thread.
pub(crate) fn thread_token() -> u64 {
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    {
        use std::sync::atomic::{AtomicU64 as StdAtomicU64, Ordering as O};
        static NEXT: StdAtomicU64 = StdAtomicU64::new(1);
        std::thread_local! {
            static TOKEN: u64 = NEXT.fetch_add(1, O::Relaxed);
        }
        TOKEN.with(|t| *t)
    }
    // Model checkers need the same tokens in every execution (determinism), so the
    // counter is the checker's own, reset for each execution.
    #[cfg(timelog_loom)]
    {
        loom::lazy_static! {
            static ref NEXT: AtomicU64 = AtomicU64::new(1);
        }
        loom::thread_local! {
            static TOKEN: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        TOKEN.with(|t| *t)
    }
    #[cfg(all(timelog_shuttle, not(timelog_loom)))]
    {
        shuttle::lazy_static! {
            static ref NEXT: AtomicU64 = AtomicU64::new(1);
        }
        shuttle::thread_local! {
            static TOKEN: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        TOKEN.with(|t| *t)
    }
}

/// Whether this thread belongs to the pool that runs [`par_map`] builds.
#[cfg_attr(any(timelog_loom, timelog_shuttle), allow(dead_code))]
pub(crate) fn in_build_pool() -> bool {
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    {
        rayon::current_thread_index().is_some()
    }
    #[cfg(any(timelog_loom, timelog_shuttle))]
    {
        false
    }
}

/// Maps `f` over `items`, in parallel on rayon (sequentially under a model checker).
pub(crate) fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    {
        use rayon::prelude::*;
        if items.len() <= 1 {
            // Not worth waking the pool.
            return items.iter().map(f).collect();
        }
        items.par_iter().map(f).collect()
    }
    #[cfg(any(timelog_loom, timelog_shuttle))]
    {
        items.iter().map(f).collect()
    }
}

/// Spins politely until `done()` holds: a short busy phase, then yields.
///
/// Used only where a thread waits for another thread to finish a bounded,
/// non-blocking step (publishing its sequence numbers, finishing a seal).
#[inline]
pub(crate) fn wait_until(mut done: impl FnMut() -> bool) {
    let mut spins = 0u32;
    while !done() {
        if spins < 64 {
            spin_loop();
            spins += 1;
        } else {
            yield_now();
        }
    }
}
