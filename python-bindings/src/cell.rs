//! `StateCell`: the per-object mutable state of `TimelogIter`, whose `__next__` is the
//! hottest method of the package.
//!
//! - With a GIL (every abi3 build): a plain cell plus a "busy" flag. Access requires
//!   the caller to be attached to the interpreter, and attached threads exclude each
//!   other, so no atomic instruction is needed. A nested access on the same thread
//!   (Python code run by a decref or a GC pass inside the critical section calling
//!   back into the same iterator) is refused with RuntimeError instead of aliasing.
//! - Free-threaded builds: a mutex (threads block each other) that remembers its
//!   owner thread, so same-thread re-entry is refused the same way.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

fn busy_err() -> PyErr {
    PyRuntimeError::new_err("iterator is already in use (re-entrant call)")
}

#[cfg(not(Py_GIL_DISABLED))]
mod imp {
    use std::cell::{Cell, UnsafeCell};
    use std::ops::{Deref, DerefMut};

    use super::*;

    pub struct StateCell<T> {
        busy: Cell<bool>,
        value: UnsafeCell<T>,
    }

    // SAFETY: `busy` and `value` are only touched through `borrow`/`peek`, which take
    // a `Python` token: the caller is attached to the interpreter, and in a build with
    // a GIL attached threads are mutually exclusive. The returned `Borrow` is `!Send`
    // (it holds a `&Cell`), so it cannot be carried into `Python::detach` or to another
    // thread; it is created and dropped while the GIL is held. Same-thread re-entry is
    // refused by `busy`. `T: Send` because the value may be dropped on any thread
    // holding the GIL.
    unsafe impl<T: Send> Sync for StateCell<T> {}

    impl<T> StateCell<T> {
        pub fn new(v: T) -> Self {
            StateCell { busy: Cell::new(false), value: UnsafeCell::new(v) }
        }

        #[inline]
        pub fn borrow<'a>(&'a self, _py: Python<'_>) -> PyResult<Borrow<'a, T>> {
            if self.busy.replace(true) {
                return Err(busy_err());
            }
            Ok(Borrow { cell: self })
        }

        /// For `__traverse__`/`__clear__` (the GC holds the GIL but gives no token):
        /// `None` when the state is in use.
        pub fn try_borrow_in_gc(&self) -> Option<Borrow<'_, T>> {
            if self.busy.replace(true) {
                return None;
            }
            Some(Borrow { cell: self })
        }
    }

    pub struct Borrow<'a, T> {
        cell: &'a StateCell<T>,
    }

    impl<T> Deref for Borrow<'_, T> {
        type Target = T;
        #[inline]
        fn deref(&self) -> &T {
            // SAFETY: `busy` is set for the life of this borrow, so it is the only one.
            unsafe { &*self.cell.value.get() }
        }
    }

    impl<T> DerefMut for Borrow<'_, T> {
        #[inline]
        fn deref_mut(&mut self) -> &mut T {
            // SAFETY: as in `deref`; `&mut self` makes this reference unique.
            unsafe { &mut *self.cell.value.get() }
        }
    }

    impl<T> Drop for Borrow<'_, T> {
        #[inline]
        fn drop(&mut self) {
            self.cell.busy.set(false);
        }
    }
}

#[cfg(Py_GIL_DISABLED)]
mod imp {
    use std::ops::{Deref, DerefMut};
    use std::sync::atomic::{AtomicU64, Ordering};

    use parking_lot::{Mutex, MutexGuard};

    use super::*;

    fn thread_token() -> u64 {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        thread_local! {
            static TOKEN: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        TOKEN.with(|t| *t)
    }

    pub struct StateCell<T> {
        m: Mutex<T>,
        /// Token of the thread holding `m` (0: none); only compared with the
        /// caller's own token, so relaxed ordering is enough.
        owner: AtomicU64,
    }

    impl<T> StateCell<T> {
        pub fn new(v: T) -> Self {
            StateCell { m: Mutex::new(v), owner: AtomicU64::new(0) }
        }

        pub fn borrow<'a>(&'a self, _py: Python<'_>) -> PyResult<Borrow<'a, T>> {
            let me = thread_token();
            if self.owner.load(Ordering::Relaxed) == me {
                return Err(busy_err());
            }
            let g = self.m.lock();
            self.owner.store(me, Ordering::Relaxed);
            Ok(Borrow { g, owner: &self.owner })
        }

        pub fn try_borrow_in_gc(&self) -> Option<Borrow<'_, T>> {
            let g = self.m.try_lock()?;
            Some(Borrow { g, owner: &self.owner })
        }
    }

    pub struct Borrow<'a, T> {
        g: MutexGuard<'a, T>,
        owner: &'a AtomicU64,
    }

    impl<T> Deref for Borrow<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            &self.g
        }
    }

    impl<T> DerefMut for Borrow<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            &mut self.g
        }
    }

    impl<T> Drop for Borrow<'_, T> {
        fn drop(&mut self) {
            self.owner.store(0, Ordering::Relaxed);
        }
    }
}

pub use imp::StateCell;
