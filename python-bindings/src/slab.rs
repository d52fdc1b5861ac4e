//! The payload slab: how Python objects are stored in the engine.
//!
//! The engine clones values when flush and compaction rewrite them, on worker and
//! rayon threads that do not hold the GIL, so the stored value must be clonable
//! without the GIL. `Py<PyAny>` is not (its `Clone` needs the interpreter), so the
//! engine stores a 4-byte handle, [`PyVal`], an index into the process-wide slab of
//! the `timelog-slab` crate (`slab/`), which holds the slot protocol, its tests and
//! its loom and shuttle models. This file instantiates it for Python objects:
//!
//! - every inserted record gets one *slot*; the slot owns one strong reference to the
//!   payload and counts the engine's handles to it (owner = the log's id, GC bit =
//!   the object's type takes part in the cyclic GC);
//! - `PyVal::clone` increments the count and `PyVal::drop` decrements it (no GIL);
//! - when the count drops to zero, on whatever thread, the slot is *retired*: its
//!   index is queued, and the Python reference stays in the slot. A Python thread
//!   drains the queue while attached ([`drain`], which takes a `Python` token): it
//!   takes the reference out, recycles the slot and only then decrefs the object (so
//!   `__del__` code never runs while a slab lock is held). Python objects are
//!   therefore never touched by a thread that is not attached to the interpreter.
//!
//! The slab never moves a slot (a fixed directory of lazily allocated chunks of 2^16
//! slots, 12 bytes a slot) and returns the memory of chunks none of whose slots is in
//! use, except one spare: it follows the payloads the engine currently holds, not
//! their past peak. Memory: 12 bytes per live record here plus the handle (4 bytes)
//! next to the timestamp (8 bytes) in the engine's columns.
//!
//! What the GIL (or, in free-threaded builds, attachment and the locks below) provides
//! here, and what the slab crate provides itself, is listed in `docs/slab.md`.

use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::{ffi, PyTraverseError, PyVisit};
use timelog_slab::{Release, Slab, MAX_OWNER};

/// Releases payload references: a decref, on a thread attached to the interpreter.
pub struct PyRelease;

impl Release for PyRelease {
    type Obj = ffi::PyObject;
    type Ctx<'a> = Python<'a>;

    /// # Safety
    /// `obj` is an owned reference the slab took over (see [`Release::release`]).
    unsafe fn release(py: Python<'_>, obj: NonNull<ffi::PyObject>) {
        // SAFETY: we own this reference (the trait's contract); we are attached (`py`).
        drop(unsafe { Bound::<PyAny>::from_owned_ptr(py, obj.as_ptr()) });
    }
}

/// The process-wide slab (never dropped).
static SLAB: Slab<PyRelease> = Slab::new();

static OWNERS: Mutex<(u32, Vec<u32>)> = Mutex::new((1, Vec::new()));

/// Free-threaded builds only: slot allocation (shared) against `force_release`
/// (exclusive). With a GIL both run while holding it. The slab crate's
/// `force_release` no longer needs this exclusion (it reads a slot's pointer before
/// its owner, checked by its loom model); the gate is kept as it was.
#[cfg(Py_GIL_DISABLED)]
static GATE: parking_lot::RwLock<()> = parking_lot::RwLock::new(());

/// A fresh owner id for one opening of a log (recycled after `release_owner`).
pub fn new_owner() -> PyResult<u32> {
    let mut o = OWNERS.lock();
    if let Some(id) = o.1.pop() {
        return Ok(id);
    }
    if o.0 > MAX_OWNER {
        return Err(crate::coerce::TimelogError::new_err(format!(
            "too many Timelog objects open at once (at most {MAX_OWNER})"
        )));
    }
    o.0 += 1;
    Ok(o.0 - 1)
}

/// Gives an owner id back (after `force_release` of that owner: no slot holding an
/// object still carries it).
pub fn release_owner(id: u32) {
    OWNERS.lock().1.push(id);
}

/// Whether `obj`'s type takes part in the cyclic GC (a container that can hold
/// references).
#[inline]
pub fn is_gc(obj: &Bound<'_, PyAny>) -> bool {
    // SAFETY: `obj` is live; its type object is live while it is.
    unsafe { ffi::PyType_GetFlags(ffi::Py_TYPE(obj.as_ptr())) & ffi::Py_TPFLAGS_HAVE_GC != 0 }
}

#[cold]
fn too_many() -> PyErr {
    pyo3::exceptions::PyMemoryError::new_err("timelog: more than 2**32 payload objects alive")
}

/// Slab figures (process-wide): slots in use, chunks installed, retired slots not
/// yet drained.
pub fn info() -> (usize, usize, usize) {
    let i = SLAB.info();
    (i.used, i.installed, i.retired)
}

/// Bytes of one chunk (its slots).
pub const CHUNK_BYTES: usize = Slab::<PyRelease>::CHUNK_BYTES;

/// An engine-side handle to one payload slot. Cloning and dropping it never needs
/// the GIL.
#[repr(transparent)]
pub struct PyVal(u32);

impl Clone for PyVal {
    #[inline]
    fn clone(&self) -> Self {
        // SAFETY: `self` is a handle to slot `self.0`.
        unsafe { SLAB.clone_ref(self.0) };
        PyVal(self.0)
    }
}

impl Drop for PyVal {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `self` is a handle to slot `self.0`, given back here, once.
        unsafe { SLAB.drop_ref(self.0) }
    }
}

#[inline]
fn note_gc(any_gc: &AtomicBool, gc: bool) {
    if gc && !any_gc.load(Ordering::Relaxed) {
        any_gc.store(true, Ordering::Relaxed);
    }
}

/// Stores one payload (the slot takes over the reference held by `obj`).
pub fn alloc(owner: u32, any_gc: &AtomicBool, obj: Bound<'_, PyAny>) -> PyResult<PyVal> {
    #[cfg(Py_GIL_DISABLED)]
    let _gate = GATE.read();
    let gc = is_gc(&obj);
    let p = NonNull::new(obj.as_ptr()).expect("a bound object is never null");
    // SAFETY: on success the slot takes over `obj`'s reference: turned into a raw
    // pointer below, so it is released once, by the slab. On failure `obj` keeps it.
    let i = unsafe { SLAB.insert(owner, gc, p) }.map_err(|_| too_many())?;
    let _owned_by_the_slot = obj.into_ptr();
    note_gc(any_gc, gc);
    Ok(PyVal(i))
}

/// Stores many payloads (each slot takes over one reference).
pub fn alloc_many(owner: u32, any_gc: &AtomicBool, objs: Vec<Bound<'_, PyAny>>) -> PyResult<Vec<PyVal>> {
    #[cfg(Py_GIL_DISABLED)]
    let _gate = GATE.read();
    let store = |o: Bound<'_, PyAny>| {
        let gc = is_gc(&o);
        note_gc(any_gc, gc);
        (NonNull::new(o.into_ptr()).expect("a bound object is never null"), gc)
    };
    // SAFETY: each pointer `store` returns is the owned reference of an object turned
    // into a raw pointer (`into_ptr`): the slab takes it over. On failure no object
    // was converted (the `Vec` drops them).
    unsafe { SLAB.insert_many(owner, objs, store, PyVal) }.map_err(|_| too_many())
}

/// The payload behind a handle, as a new reference.
#[inline]
pub fn get<'py>(py: Python<'py>, v: &PyVal) -> Bound<'py, PyAny> {
    let p = raw(v);
    if p.is_null() {
        // Only after a forced release (the log was closed or cleared by the GC
        // while this handle was still reachable): degrade to None, never crash.
        return py.None().into_bound(py);
    }
    // SAFETY: the slot owns a strong reference while its pointer is non-null. It is
    // only taken out by `drain` (only for slots with no live handle; we hold one) or
    // by `force_release` (only at close, when no reader of that log exists), both on
    // attached threads. So `p` is a live object and a new reference to it can be
    // created (we are attached: `py`).
    unsafe { Bound::from_borrowed_ptr(py, p) }
}

/// Hints the CPU to load the cache line at `p` (any address).
#[inline]
pub fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The slot of a handle: its object pointer cell. The reference stays valid while
/// the handle (or another handle to the slot) lives: the chunk stays installed while
/// any of its slots is in use. Readers that buffer rows keep the slot, not the
/// pointer, and load the pointer when they use it (a forced release nulls it).
#[inline]
pub fn slot_of(v: &PyVal) -> &'static AtomicPtr<ffi::PyObject> {
    // SAFETY: `v` is a handle to slot `v.0`; callers keep the handle (the record, in
    // a snapshot or cursor they hold) alive while they use the cell.
    unsafe { SLAB.cell(v.0) }
}

/// A slot nobody uses (always null), to fill unused buffer entries.
pub static NO_SLOT: AtomicPtr<ffi::PyObject> = AtomicPtr::new(ptr::null_mut());

/// Hints the CPU to load a slot (see [`slot_of`]).
#[inline]
pub fn prefetch_slot(s: &AtomicPtr<ffi::PyObject>) {
    prefetch((s as *const AtomicPtr<ffi::PyObject>).cast());
}

/// Hints the CPU to load the object held by a slot (see [`slot_of`]).
#[inline]
pub fn prefetch_obj(s: &AtomicPtr<ffi::PyObject>) {
    let p = s.load(Ordering::Relaxed);
    if !p.is_null() {
        prefetch(p.cast());
    }
}

/// The raw pointer held by a slot (see [`slot_of`]); same contract as [`raw`].
#[inline]
pub fn raw_in(s: &AtomicPtr<ffi::PyObject>) -> *mut ffi::PyObject {
    s.load(Ordering::Acquire)
}

/// The raw pointer behind a handle (borrowed: valid while the handle lives and
/// the GIL is held; may be null after a forced release).
#[inline]
pub fn raw(v: &PyVal) -> *mut ffi::PyObject {
    // SAFETY: `v` is a handle to slot `v.0`.
    unsafe { SLAB.get(v.0) }
}

/// GC support: reports the payload reference owned by this handle's slot.
pub fn visit(v: &PyVal, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
    // SAFETY: `v` is a handle to slot `v.0`.
    if !unsafe { SLAB.is_gc(v.0) } {
        // Not a GC container (int, str, float, ...): nothing to report.
        return Ok(());
    }
    let p = raw(v);
    if p.is_null() {
        return Ok(());
    }
    // SAFETY: `p` is a live object owned by the slot (see `get`); the GC holds the
    // interpreter while traversing. `ManuallyDrop` keeps the borrowed pointer from
    // being decref'd: it is only lent to the visitor.
    let obj =
        std::mem::ManuallyDrop::new(unsafe { Bound::<PyAny>::from_owned_ptr(Python::assume_attached(), p) });
    visit.call(obj.as_unbound())
}

/// Retired slots not yet drained (process-wide).
pub fn retired_len() -> usize {
    SLAB.retired_len()
}

/// Releases the references of up to `limit` retired slots (0: all) and recycles the
/// slots. Runs on a thread attached to the interpreter (`py`).
#[inline]
pub fn drain(py: Python<'_>, limit: usize) {
    SLAB.drain(py, limit);
}

/// Releases every payload reference still held by slots of `owner`, whatever their
/// handle count (used when a log is closed: handles that outlive it, for example in
/// manifests still waiting for epoch reclamation, then point at empty slots and are
/// recycled when they drop).
///
/// Sound only when no reader of that log can still read its slots (the caller holds
/// the log's exclusive state lock and no reader is pinned). Slot allocation is kept
/// out meanwhile, as before (the GIL, or `GATE` in free-threaded builds).
pub fn force_release(py: Python<'_>, owner: u32) {
    #[cfg(Py_GIL_DISABLED)]
    let gate = GATE.write();
    // SAFETY: no reader of `owner`'s slots exists (this function's contract, upheld by
    // `shutdown`: the log's data is dropped and no reader is pinned).
    let taken = unsafe { SLAB.take_owner(owner) };
    // The decrefs run with no slab lock and no gate held (`__del__` may append).
    #[cfg(Py_GIL_DISABLED)]
    drop(gate);
    taken.release(py);
}

/// Lets crossbeam-epoch reclaim manifests retired by this thread, so that the
/// segments and memtables they kept alive (and their payload handles) are freed now
/// rather than at some later pin.
pub fn settle_epoch() {
    for _ in 0..8 {
        crossbeam_epoch::pin().flush();
    }
}
