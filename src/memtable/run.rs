//! A columnar, sorted run of records inside a memtable.
//!
//! A run has three columns (`ts`, `seq`, value) of fixed capacity and an atomic
//! length. Records `[0, len)` are initialised and never written again; only the
//! run's single producer writes, and only at index `len`, before publishing the
//! new length with `Release`. Readers load the length with `Acquire` and read the
//! prefix as ordinary shared slices. Runs built from a batch are complete
//! (`len == capacity`) before anyone else can see them.
//!
//! This module is one of the few that contain `unsafe`; the safe surface is
//! `Run::from_columns`, `Run::with_capacity`, `Run::push` (an `unsafe fn` whose
//! contract is "only the producer calls it") and the slice accessors.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;

use crate::sync::{AtomicUsize, Ordering};

type Column<T> = Box<[UnsafeCell<MaybeUninit<T>>]>;

fn column<T>(cap: usize) -> Column<T> {
    (0..cap).map(|_| UnsafeCell::new(MaybeUninit::uninit())).collect()
}

fn into_column<T>(v: Vec<T>) -> Column<T> {
    let boxed: Box<[T]> = v.into_boxed_slice();
    let raw = Box::into_raw(boxed) as *mut [UnsafeCell<MaybeUninit<T>>];
    // SAFETY: `UnsafeCell<MaybeUninit<T>>` is `repr(transparent)` over `T` at every
    // level, so the slice has the same layout and length; every element is an
    // initialised `T`, which is a valid `MaybeUninit<T>`. The allocation is
    // handed from one `Box` to the other unchanged.
    unsafe { Box::from_raw(raw) }
}

/// A sorted (by `ts`, then `seq`) columnar run.
pub(crate) struct Run<V> {
    ts: Column<i64>,
    seq: Column<u64>,
    vals: Column<V>,
    len: AtomicUsize,
}

// SAFETY: the run hands out `&V` to many threads (needs `V: Sync`) and moves
// values in from the producer thread and drops them on whichever thread drops the
// run (needs `V: Send`). The columns are only written at indices no reader can
// see yet (see the module docs), so sharing the run is data-race free.
unsafe impl<V: Send + Sync> Sync for Run<V> {}
// SAFETY: see above; the run owns its values.
unsafe impl<V: Send + Sync> Send for Run<V> {}

impl<V> Run<V> {
    /// An empty run that one producer fills with [`Run::push`].
    pub(crate) fn with_capacity(cap: usize) -> Self {
        Run { ts: column(cap), seq: column(cap), vals: column(cap), len: AtomicUsize::new(0) }
    }

    /// A complete run from equally long columns sorted by `(ts, seq)`.
    pub(crate) fn from_columns(ts: Vec<i64>, seq: Vec<u64>, vals: Vec<V>) -> Self {
        assert!(ts.len() == seq.len() && ts.len() == vals.len(), "column lengths differ");
        let n = ts.len();
        Run { ts: into_column(ts), seq: into_column(seq), vals: into_column(vals), len: AtomicUsize::new(n) }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.ts.len()
    }

    /// Published length.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Appends one record.
    ///
    /// # Safety
    /// Only the run's single producer may call this, never concurrently with
    /// itself, and only while `len() < capacity()`. The record must not sort
    /// before the last one.
    #[inline]
    pub(crate) unsafe fn push(&self, ts: i64, seq: u64, v: V) {
        let i = self.len.load(Ordering::Relaxed);
        debug_assert!(i < self.capacity());
        // SAFETY: index `i` is beyond the published length, so no reader looks at
        // it, and the caller guarantees that no other writer exists.
        unsafe {
            (*self.ts[i].get()).write(ts);
            (*self.seq[i].get()).write(seq);
            (*self.vals[i].get()).write(v);
        }
        // Release: the three writes above happen-before any reader that sees `i + 1`.
        self.len.store(i + 1, Ordering::Release);
    }

    /// The published timestamps.
    #[inline]
    pub(crate) fn ts(&self) -> &[i64] {
        let n = self.len();
        // SAFETY: `[0, n)` is initialised and immutable from now on (module docs);
        // the cell/maybe-uninit wrappers are layout-transparent.
        unsafe { std::slice::from_raw_parts(self.ts.as_ptr() as *const i64, n) }
    }

    /// The published sequence numbers (same length as [`Run::ts`] at the time of the call).
    #[inline]
    pub(crate) fn seqs(&self, n: usize) -> &[u64] {
        debug_assert!(n <= self.len());
        // SAFETY: as in `ts`, for a prefix the caller already observed as published.
        unsafe { std::slice::from_raw_parts(self.seq.as_ptr() as *const u64, n) }
    }

    /// The published values (a prefix of length `n` observed as published).
    #[inline]
    pub(crate) fn vals(&self, n: usize) -> &[V] {
        debug_assert!(n <= self.len());
        // SAFETY: as in `ts`.
        unsafe { std::slice::from_raw_parts(self.vals.as_ptr() as *const V, n) }
    }
}

impl<V> Run<V> {
    /// Moves the published values out (the run is consumed).
    pub(crate) fn into_vals(self) -> Vec<V> {
        let n = self.len();
        // Zero the length first: should anything below panic, values leak rather
        // than being dropped twice.
        self.len.store(0, Ordering::Relaxed);
        (0..n)
            // SAFETY: `[0, n)` is initialised and each value is read out exactly once;
            // `Drop` no longer sees them (length is zero).
            .map(|i| unsafe { (*self.vals[i].get()).assume_init_read() })
            .collect()
    }
}

impl<V> Drop for Run<V> {
    fn drop(&mut self) {
        let n = self.len.load(Ordering::Acquire);
        for cell in &mut self.vals[..n] {
            // SAFETY: the first `n` values are initialised and dropped only here.
            unsafe { cell.get_mut().assume_init_drop() };
        }
    }
}
