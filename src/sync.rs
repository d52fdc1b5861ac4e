//! The one place where the engine takes its synchronisation primitives from.
//!
//! Everything that is shared between threads (atomics, `Arc`, cells, spin
//! hints, thread yields) is imported from here, never from `std` directly, so
//! that the same code can be compiled against [loom] (`--cfg timelog_loom`) or
//! [shuttle] (`--cfg timelog_shuttle`) and have its interleavings explored.
//!
//! [loom]: https://docs.rs/loom
//! [shuttle]: https://docs.rs/shuttle

#[cfg(not(any(timelog_loom, timelog_shuttle)))]
mod imp {
    pub use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
    pub use std::sync::Arc;

    /// A hint that the caller is spinning on a value another thread will change.
    #[inline]
    pub fn spin_loop() {
        std::hint::spin_loop();
    }

    /// Gives the rest of this time slice to another thread.
    #[inline]
    pub fn yield_now() {
        std::thread::yield_now();
    }
}

#[cfg(timelog_loom)]
mod imp {
    pub use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
    pub use loom::sync::Arc;

    #[inline]
    pub fn spin_loop() {
        loom::thread::yield_now();
    }

    #[inline]
    pub fn yield_now() {
        loom::thread::yield_now();
    }
}

#[cfg(all(timelog_shuttle, not(timelog_loom)))]
mod imp {
    pub use shuttle::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
    pub use shuttle::sync::Arc;

    #[inline]
    pub fn spin_loop() {
        shuttle::thread::yield_now();
    }

    #[inline]
    pub fn yield_now() {
        shuttle::thread::yield_now();
    }
}

pub(crate) use imp::*;

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
