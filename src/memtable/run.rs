//! A columnar, sorted run of records inside a memtable.
//!
//! A run has three columns (`ts`, `seq`, value) of fixed capacity and an atomic
//! length. Records `[0, len)` are initialised and never written again; only the
//! run's single producer writes, and only at index `len`, before publishing the
//! new length with `Release`. Readers load the length with `Acquire` and read the
//! prefix as ordinary shared slices. Runs built from a batch are complete
//! (`len == capacity`) before anyone else can see them.
//!
//! Under loom the column cells are loom's `UnsafeCell`, so the model checker sees
//! every column access and reports a read that is not ordered after its write;
//! readers then get copies (`Cow::Owned`) instead of slices.

use std::borrow::Cow;
use std::mem::MaybeUninit;

use crate::cursor::Vals;
use crate::sync::{AtomicUsize, Ordering};

#[cfg(not(timelog_loom))]
type Cell<T> = std::cell::UnsafeCell<MaybeUninit<T>>;
#[cfg(timelog_loom)]
type Cell<T> = loom::cell::UnsafeCell<MaybeUninit<T>>;

type Column<T> = Box<[Cell<T>]>;

fn column<T>(cap: usize) -> Column<T> {
    (0..cap).map(|_| Cell::new(MaybeUninit::uninit())).collect()
}

#[cfg(not(timelog_loom))]
fn into_column<T>(v: Vec<T>) -> Column<T> {
    let boxed: Box<[T]> = v.into_boxed_slice();
    let raw = Box::into_raw(boxed) as *mut [Cell<T>];
    // SAFETY: `UnsafeCell<MaybeUninit<T>>` is `repr(transparent)` over `T` at every
    // level, so the slice has the same layout and length; every element is an
    // initialised `T`, which is a valid `MaybeUninit<T>`. The allocation is
    // handed from one `Box` to the other unchanged.
    unsafe { Box::from_raw(raw) }
}

#[cfg(timelog_loom)]
fn into_column<T>(v: Vec<T>) -> Column<T> {
    v.into_iter().map(|x| Cell::new(MaybeUninit::new(x))).collect()
}

/// Writes `v` into an uninitialised cell.
///
/// # Safety
/// No other thread may access the cell concurrently, and it must not hold a value.
#[inline]
unsafe fn write<T>(cell: &Cell<T>, v: T) {
    #[cfg(not(timelog_loom))]
    // SAFETY: exclusive access per the caller's contract.
    unsafe {
        (*cell.get()).write(v);
    }
    #[cfg(timelog_loom)]
    // SAFETY: exclusive access per the caller's contract (loom checks it).
    cell.with_mut(|p| unsafe {
        (*p).write(v);
    });
}

/// A shared reference to an initialised cell's value (loom: records the read).
///
/// # Safety
/// The cell must be initialised and never written again while the reference lives.
#[cfg(timelog_loom)]
#[inline]
unsafe fn get<T>(cell: &Cell<T>) -> &T {
    // SAFETY: initialised and immutable per the caller's contract.
    cell.with(|p| unsafe { (*p).assume_init_ref() })
}

/// Moves the value out of an initialised cell, leaving it logically uninitialised.
///
/// # Safety
/// Exclusive access; the cell is initialised and is not read or dropped again.
#[inline]
unsafe fn take<T>(cell: &Cell<T>) -> T {
    #[cfg(not(timelog_loom))]
    // SAFETY: per the caller's contract.
    unsafe {
        (*cell.get()).assume_init_read()
    }
    #[cfg(timelog_loom)]
    // SAFETY: per the caller's contract.
    cell.with_mut(|p| unsafe { (*p).assume_init_read() })
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
            write(&self.ts[i], ts);
            write(&self.seq[i], seq);
            write(&self.vals[i], v);
        }
        // Release: the three writes above happen-before any reader that sees `i + 1`.
        self.len.store(i + 1, Ordering::Release);
    }

    /// The first `n` timestamps (`n` at most an observed published length).
    #[inline]
    pub(crate) fn ts(&self, n: usize) -> Cow<'_, [i64]> {
        debug_assert!(n <= self.len());
        #[cfg(not(timelog_loom))]
        // SAFETY: `[0, n)` is initialised and immutable from now on (module docs);
        // the cell/maybe-uninit wrappers are layout-transparent.
        return Cow::Borrowed(unsafe { std::slice::from_raw_parts(self.ts.as_ptr() as *const i64, n) });
        #[cfg(timelog_loom)]
        // SAFETY: as above.
        return Cow::Owned(self.ts[..n].iter().map(|c| unsafe { *get(c) }).collect());
    }

    /// The first `n` sequence numbers.
    #[inline]
    pub(crate) fn seqs(&self, n: usize) -> Cow<'_, [u64]> {
        debug_assert!(n <= self.len());
        #[cfg(not(timelog_loom))]
        // SAFETY: as in `ts`.
        return Cow::Borrowed(unsafe { std::slice::from_raw_parts(self.seq.as_ptr() as *const u64, n) });
        #[cfg(timelog_loom)]
        // SAFETY: as in `ts`.
        return Cow::Owned(self.seq[..n].iter().map(|c| unsafe { *get(c) }).collect());
    }

    /// The first `n` values.
    #[inline]
    pub(crate) fn vals(&self, n: usize) -> Vals<'_, V> {
        debug_assert!(n <= self.len());
        #[cfg(not(timelog_loom))]
        // SAFETY: as in `ts`.
        return Vals::Slice(unsafe { std::slice::from_raw_parts(self.vals.as_ptr() as *const V, n) });
        #[cfg(timelog_loom)]
        // SAFETY: as in `ts`.
        return Vals::Refs(self.vals[..n].iter().map(|c| unsafe { get(c) }).collect());
    }

    /// Moves the published values out (the run is consumed).
    pub(crate) fn into_vals(self) -> Vec<V> {
        let n = self.len();
        // Zero the length first: should anything below panic, values leak rather
        // than being dropped twice.
        self.len.store(0, Ordering::Relaxed);
        (0..n)
            // SAFETY: `[0, n)` is initialised and each value is read out exactly once;
            // `Drop` no longer sees them (length is zero).
            .map(|i| unsafe { take(&self.vals[i]) })
            .collect()
    }
}

impl<V> Drop for Run<V> {
    fn drop(&mut self) {
        let n = self.len.load(Ordering::Acquire);
        for cell in &self.vals[..n] {
            // SAFETY: the first `n` values are initialised and dropped only here
            // (`&mut self`), after which the run is gone.
            drop(unsafe { take(cell) });
        }
    }
}
