//! The one place the slab takes its synchronisation primitives from.
//!
//! Atomics, `Arc`, the mutex, `UnsafeCell` and thread spawning come from here,
//! never from `std` directly, so that the same code runs under [loom]
//! (`--cfg timelog_loom`) or [shuttle] (`--cfg timelog_shuttle`) and has its
//! interleavings explored. The cfg names are the engine's.
//!
//! [loom]: https://docs.rs/loom
//! [shuttle]: https://docs.rs/shuttle

#[cfg(not(any(timelog_loom, timelog_shuttle)))]
mod imp {
    pub use std::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
    pub use std::sync::Arc;
    pub use std::thread;

    pub(crate) type RawMutex<T> = parking_lot::Mutex<T>;
    pub(crate) type RawGuard<'a, T> = parking_lot::MutexGuard<'a, T>;
}

#[cfg(timelog_loom)]
mod imp {
    pub use loom::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
    pub use loom::sync::Arc;
    pub use loom::thread;

    pub(crate) type RawMutex<T> = loom::sync::Mutex<T>;
    pub(crate) type RawGuard<'a, T> = loom::sync::MutexGuard<'a, T>;
}

#[cfg(all(timelog_shuttle, not(timelog_loom)))]
mod imp {
    pub use shuttle::sync::atomic::{
        fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
    };
    pub use shuttle::sync::Arc;
    pub use shuttle::thread;

    pub(crate) type RawMutex<T> = shuttle::sync::Mutex<T>;
    pub(crate) type RawGuard<'a, T> = shuttle::sync::MutexGuard<'a, T>;
}

/// The reference-counted pointer of the selected build (std, loom or shuttle).
pub use imp::Arc;
pub use imp::{fence, thread, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use imp::{RawGuard, RawMutex};

/// A mutex with parking_lot's shape (`lock()` returns the guard directly; a
/// poisoned model-checker mutex is taken over, as parking_lot's has no poisoning).
pub struct Mutex<T>(RawMutex<T>);

/// The guard of [`Mutex`].
pub type MutexGuard<'a, T> = RawGuard<'a, T>;

impl<T> Mutex<T> {
    /// A mutex holding `v` (a `const fn` in normal builds, so that it can be a static).
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    pub const fn new(v: T) -> Self {
        Mutex(RawMutex::new(v))
    }

    /// A mutex holding `v`.
    #[cfg(any(timelog_loom, timelog_shuttle))]
    pub fn new(v: T) -> Self {
        Mutex(RawMutex::new(v))
    }

    /// Waits for the lock and returns its guard.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        #[cfg(not(any(timelog_loom, timelog_shuttle)))]
        {
            self.0.lock()
        }
        #[cfg(any(timelog_loom, timelog_shuttle))]
        {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
    }
}

/// A cell with loom's closure API: under loom its accesses are checked for data
/// races (an access not ordered with a write by happens-before fails the model);
/// otherwise it is `std::cell::UnsafeCell`.
#[cfg(timelog_loom)]
pub use loom::cell::UnsafeCell;

/// A cell with loom's closure API: under loom its accesses are checked for data
/// races (an access not ordered with a write by happens-before fails the model);
/// otherwise it is `std::cell::UnsafeCell`.
#[cfg(not(timelog_loom))]
#[derive(Debug, Default)]
pub struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(timelog_loom))]
impl<T> UnsafeCell<T> {
    /// A cell holding `v`.
    pub const fn new(v: T) -> Self {
        UnsafeCell(std::cell::UnsafeCell::new(v))
    }

    /// Calls `f` with a shared pointer to the value (the caller orders it with writes).
    pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Calls `f` with a mutable pointer to the value (the caller makes it exclusive).
    pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Whether the build runs under a model checker (loom or shuttle).
pub const MODEL: bool = cfg!(any(timelog_loom, timelog_shuttle));
