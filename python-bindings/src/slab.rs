//! The payload slab: how Python objects are stored in the engine.
//!
//! The engine clones values when flush and compaction rewrite them, on worker and
//! rayon threads that do not hold the GIL, so the stored value must be clonable
//! without the GIL. `Py<PyAny>` is not (its `Clone` needs the interpreter), so the
//! engine stores a 4-byte handle, [`PyVal`], instead:
//!
//! - every inserted record gets one *slot* in a process-wide slab; the slot owns
//!   one strong reference to the payload and counts the engine's handles to it in
//!   an atomic (`meta`: 16-bit handle count, 15-bit owner log id, 1 GC bit);
//! - `PyVal::clone` increments the count and `PyVal::drop` decrements it (no GIL);
//! - when `rc` drops to zero, on whatever thread, the slot is *retired*: its index
//!   is queued, and the Python reference stays in the slot. A Python thread drains
//!   the queue under the GIL ([`drain`]): it takes the reference out, recycles the
//!   slot and only then decrefs the object (so `__del__` code never runs while a
//!   slab lock is held). Python objects are therefore never touched by a thread
//!   that does not hold the GIL.
//!
//! The slab grows without moving: a fixed directory of lazily allocated chunks of
//! 2^16 slots. A chunk is a struct of arrays (the object pointers, then the `meta`
//! words), so a slot costs 12 bytes and reads touch only the pointer array. Chunks
//! are never freed (free slots are recycled), so references into a chunk stay valid
//! for the life of the process.
//!
//! Memory: 12 bytes per live record here plus the handle (4 bytes) next to the
//! timestamp (8 bytes) in the engine's columns.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ptr;
use std::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::{ffi, PyTraverseError, PyVisit};

const CHUNK_BITS: u32 = 16;
const CHUNK: usize = 1 << CHUNK_BITS;
const DIR_LEN: usize = 1 << (32 - CHUNK_BITS);
/// Largest number of slots (indices are `u32`).
const MAX_SLOTS: u64 = 1 << 32;

/// One chunk of slots, as a struct of arrays.
#[repr(C)]
struct Chunk {
    /// The owned strong reference of each slot (null when free or force-released).
    obj: [AtomicPtr<ffi::PyObject>; CHUNK],
    /// `RC_MASK` bits: engine handles alive; then the owner log id (`OWNER_SHIFT`);
    /// `GC_BIT` when the object's type takes part in the cyclic GC.
    meta: [AtomicU32; CHUNK],
}

const RC_MASK: u32 = 0xFFFF;
const OWNER_SHIFT: u32 = 16;
const OWNER_MASK: u32 = 0x7FFF;
const GC_BIT: u32 = 1 << 31;
/// Owner ids are 15 bits, recycled when a log is closed.
const MAX_OWNER: u32 = OWNER_MASK;

/// A slot: its pointer and meta word.
#[derive(Clone, Copy)]
struct Slot {
    obj: &'static AtomicPtr<ffi::PyObject>,
    meta: &'static AtomicU32,
}

struct Slab {
    dir: [AtomicPtr<Chunk>; DIR_LEN],
    /// Bump allocator: slots below it have been handed out at least once.
    next: AtomicU64,
    free: Mutex<Vec<u32>>,
    free_len: AtomicUsize,
    retired: Mutex<Vec<u32>>,
    retired_len: AtomicUsize,
}

static SLAB: Slab = Slab {
    dir: [const { AtomicPtr::new(ptr::null_mut()) }; DIR_LEN],
    next: AtomicU64::new(0),
    free: Mutex::new(Vec::new()),
    free_len: AtomicUsize::new(0),
    retired: Mutex::new(Vec::new()),
    retired_len: AtomicUsize::new(0),
};

static OWNERS: Mutex<(u32, Vec<u32>)> = Mutex::new((1, Vec::new()));

/// Free-threaded builds only: slot allocation (shared) against `force_release`
/// (exclusive), which must not see a slot being reassigned to another log. With a GIL
/// both run while holding it, so no gate is needed.
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

fn chunk_layout() -> Layout {
    Layout::new::<Chunk>()
}

/// Makes sure chunk `c` exists.
#[cold]
fn install_chunk(c: usize) {
    if !SLAB.dir[c].load(Ordering::Acquire).is_null() {
        return;
    }
    let layout = chunk_layout();
    // SAFETY: the layout has a non-zero size. All-zero bytes are a valid `Chunk`
    // (null pointers, zero counters), so the zeroed block is initialised.
    let fresh = unsafe { alloc_zeroed(layout) }.cast::<Chunk>();
    if fresh.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    if SLAB.dir[c].compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire).is_err() {
        // SAFETY: `fresh` came from `alloc_zeroed` with this layout and was never
        // published (the CAS failed), so nobody else can see it.
        unsafe { dealloc(fresh.cast(), layout) };
    }
}

#[inline]
fn chunk(c: usize) -> &'static Chunk {
    let p = SLAB.dir[c].load(Ordering::Acquire);
    debug_assert!(!p.is_null(), "slab chunk {c} is not installed");
    // SAFETY: an index is handed out (by `alloc_indices`/`alloc`) only after its
    // chunk was installed; whoever holds the index learned it through a synchronising
    // path (the engine's publication of the record, or the free-list mutex), so the
    // Acquire load above sees the installed pointer. Chunks are never freed.
    unsafe { &*p }
}

#[inline]
fn slot(i: u32) -> Slot {
    let c = chunk((i >> CHUNK_BITS) as usize);
    let j = i as usize & (CHUNK - 1);
    Slot { obj: &c.obj[j], meta: &c.meta[j] }
}

/// Reserves `n` slot indices (recycled ones first).
fn alloc_indices(n: usize, out: &mut Vec<u32>) -> PyResult<()> {
    out.reserve(n);
    let mut need = n;
    if SLAB.free_len.load(Ordering::Relaxed) > 0 {
        let mut free = SLAB.free.lock();
        let take = need.min(free.len());
        let at = free.len() - take;
        out.extend(free.drain(at..));
        SLAB.free_len.store(free.len(), Ordering::Relaxed);
        need -= take;
    }
    if need > 0 {
        let start = SLAB.next.fetch_add(need as u64, Ordering::Relaxed);
        let end = start + need as u64;
        if end > MAX_SLOTS {
            SLAB.next.fetch_sub(need as u64, Ordering::Relaxed);
            // Give back what was taken from the free list.
            let got: Vec<u32> = out.drain(out.len() - (n - need)..).collect();
            recycle(got);
            return Err(pyo3::exceptions::PyMemoryError::new_err(
                "timelog: more than 2**32 payload objects alive",
            ));
        }
        let (c0, c1) = ((start >> CHUNK_BITS) as usize, ((end - 1) >> CHUNK_BITS) as usize);
        for c in c0..=c1 {
            if SLAB.dir[c].load(Ordering::Acquire).is_null() {
                install_chunk(c);
            }
        }
        out.extend((start..end).map(|i| i as u32));
    }
    Ok(())
}

fn recycle(idx: Vec<u32>) {
    if idx.is_empty() {
        return;
    }
    let mut free = SLAB.free.lock();
    free.extend(idx);
    SLAB.free_len.store(free.len(), Ordering::Relaxed);
}

/// An engine-side handle to one payload slot. Cloning and dropping it never needs
/// the GIL.
#[repr(transparent)]
pub struct PyVal(u32);

impl Clone for PyVal {
    #[inline]
    fn clone(&self) -> Self {
        let old = slot(self.0).meta.fetch_add(1, Ordering::Relaxed);
        if old & RC_MASK >= RC_MASK - 1 {
            // Like `Arc` on overflow: 65,534 live copies of one record means a leak of
            // handles (a copy exists per physical layer holding the record).
            std::process::abort();
        }
        PyVal(self.0)
    }
}

impl Drop for PyVal {
    #[inline]
    fn drop(&mut self) {
        if slot(self.0).meta.fetch_sub(1, Ordering::Release) & RC_MASK == 1 {
            fence(Ordering::Acquire);
            retire(self.0);
        }
    }
}

#[cold]
fn retire(i: u32) {
    let mut q = SLAB.retired.lock();
    q.push(i);
    SLAB.retired_len.store(q.len(), Ordering::Relaxed);
}

#[inline]
fn fill(i: u32, owner: u32, gc: bool, obj: *mut ffi::PyObject) -> PyVal {
    let s = slot(i);
    let gc = if gc { GC_BIT } else { 0 };
    s.meta.store(1 | (owner & OWNER_MASK) << OWNER_SHIFT | gc, Ordering::Relaxed);
    s.obj.store(obj, Ordering::Release);
    PyVal(i)
}

/// Stores one payload (the slot takes over the reference held by `obj`).
pub fn alloc(owner: u32, any_gc: &AtomicBool, obj: Bound<'_, PyAny>) -> PyResult<PyVal> {
    #[cfg(Py_GIL_DISABLED)]
    let _gate = GATE.read();
    let i = if SLAB.free_len.load(Ordering::Relaxed) > 0 {
        let mut free = SLAB.free.lock();
        let i = free.pop();
        SLAB.free_len.store(free.len(), Ordering::Relaxed);
        i
    } else {
        None
    };
    let i = match i {
        Some(i) => i,
        None => {
            let i = SLAB.next.fetch_add(1, Ordering::Relaxed);
            if i >= MAX_SLOTS {
                SLAB.next.fetch_sub(1, Ordering::Relaxed);
                return Err(pyo3::exceptions::PyMemoryError::new_err(
                    "timelog: more than 2**32 payload objects alive",
                ));
            }
            let c = (i >> CHUNK_BITS) as usize;
            if SLAB.dir[c].load(Ordering::Acquire).is_null() {
                install_chunk(c);
            }
            i as u32
        }
    };
    let gc = is_gc(&obj);
    if gc && !any_gc.load(Ordering::Relaxed) {
        any_gc.store(true, Ordering::Relaxed);
    }
    Ok(fill(i, owner, gc, obj.into_ptr()))
}

/// Stores many payloads (each slot takes over one reference).
pub fn alloc_many(owner: u32, any_gc: &AtomicBool, objs: Vec<Bound<'_, PyAny>>) -> PyResult<Vec<PyVal>> {
    #[cfg(Py_GIL_DISABLED)]
    let _gate = GATE.read();
    let mut idx = Vec::new();
    alloc_indices(objs.len(), &mut idx)?;
    Ok(idx
        .into_iter()
        .zip(objs)
        .map(|(i, o)| {
            let gc = is_gc(&o);
            if gc && !any_gc.load(Ordering::Relaxed) {
                any_gc.store(true, Ordering::Relaxed);
            }
            fill(i, owner, gc, o.into_ptr())
        })
        .collect())
}

/// The payload behind a handle, as a new reference.
#[inline]
pub fn get<'py>(py: Python<'py>, v: &PyVal) -> Bound<'py, PyAny> {
    let p = slot(v.0).obj.load(Ordering::Acquire);
    if p.is_null() {
        // Only after a forced release (the log was closed or cleared by the GC
        // while this handle was still reachable): degrade to None, never crash.
        return py.None().into_bound(py);
    }
    // SAFETY: the slot owns a strong reference while `obj` is non-null. It is only
    // taken out under the GIL (which we hold) by `drain` (only for slots with no
    // live handle; we hold one) or by `force_release` (only at close, when no
    // reader of that log exists). So `p` is a live object and a new reference to it
    // can be created.
    unsafe { Bound::from_borrowed_ptr(py, p) }
}

/// The slab index of a handle.
#[inline]
pub fn index(v: &PyVal) -> u32 {
    v.0
}

#[inline]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Hints the CPU to load the slot of index `i` (a live handle's index).
#[inline]
pub fn prefetch_slot(i: u32) {
    prefetch((slot(i).obj as *const AtomicPtr<ffi::PyObject>).cast());
}

/// Hints the CPU to load the object held by slot `i` (a live handle's index).
#[inline]
pub fn prefetch_obj(i: u32) {
    let p = slot(i).obj.load(Ordering::Relaxed);
    if !p.is_null() {
        prefetch(p.cast());
    }
}

/// The raw pointer held by slot `i`; same contract as [`raw`] (the index must belong
/// to a handle that is alive).
#[inline]
pub fn raw_at(i: u32) -> *mut ffi::PyObject {
    slot(i).obj.load(Ordering::Acquire)
}

/// The raw pointer behind a handle (borrowed: valid while the handle lives and
/// the GIL is held; may be null after a forced release).
#[inline]
pub fn raw(v: &PyVal) -> *mut ffi::PyObject {
    slot(v.0).obj.load(Ordering::Acquire)
}

/// GC support: reports the payload reference owned by this handle's slot.
pub fn visit(v: &PyVal, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
    let s = slot(v.0);
    if s.meta.load(Ordering::Relaxed) & GC_BIT == 0 {
        // Not a GC container (int, str, float, ...): nothing to report.
        return Ok(());
    }
    let p = s.obj.load(Ordering::Acquire);
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
    SLAB.retired_len.load(Ordering::Relaxed)
}

/// Releases the references of up to `limit` retired slots (0: all) and recycles the
/// slots. Must run on a thread attached to the interpreter.
pub fn drain(py: Python<'_>, limit: usize) {
    if SLAB.retired_len.load(Ordering::Relaxed) == 0 {
        return;
    }
    drain_slow(py, limit);
}

#[cold]
fn drain_slow(py: Python<'_>, limit: usize) {
    loop {
        let batch: Vec<u32> = {
            let mut q = SLAB.retired.lock();
            let take = if limit == 0 { q.len() } else { limit.min(q.len()) };
            let b = if take == q.len() {
                std::mem::take(&mut *q)
            } else {
                let at = q.len() - take;
                q.split_off(at)
            };
            SLAB.retired_len.store(q.len(), Ordering::Relaxed);
            b
        };
        if batch.is_empty() {
            return;
        }
        let objs: Vec<*mut ffi::PyObject> = batch
            .iter()
            .map(|&i| slot(i).obj.swap(ptr::null_mut(), Ordering::AcqRel))
            .filter(|p| !p.is_null())
            .collect();
        recycle(batch);
        release(py, objs);
        if limit != 0 {
            return;
        }
    }
}

fn release(py: Python<'_>, objs: Vec<*mut ffi::PyObject>) {
    for p in objs {
        // SAFETY: each pointer was the owned reference of a slot and was swapped out
        // of it, so we own that reference now; we are attached (`py`).
        drop(unsafe { Bound::<PyAny>::from_owned_ptr(py, p) });
    }
}

/// Releases every payload reference still held by slots of `owner`, whatever their
/// handle count (used when a log is closed: handles that outlive it, for example in
/// manifests still waiting for epoch reclamation, then point at empty slots and are
/// recycled when they drop).
///
/// Sound only when no reader of that log can still read its slots (the caller holds
/// the log's exclusive state lock and no reader is pinned), and when slot allocation
/// cannot run concurrently (the GIL, or `GATE` in free-threaded builds).
pub fn force_release(py: Python<'_>, owner: u32) {
    #[cfg(Py_GIL_DISABLED)]
    let gate = GATE.write();
    let n = SLAB.next.load(Ordering::Acquire).min(MAX_SLOTS);
    let mut objs = Vec::new();
    let chunks = n.div_ceil(CHUNK as u64) as usize;
    for c in 0..chunks {
        if SLAB.dir[c].load(Ordering::Acquire).is_null() {
            continue;
        }
        let ch = chunk(c);
        for (o, m) in ch.obj.iter().zip(ch.meta.iter()) {
            if (m.load(Ordering::Relaxed) >> OWNER_SHIFT) & OWNER_MASK == owner
                && !o.load(Ordering::Relaxed).is_null()
            {
                let p = o.swap(ptr::null_mut(), Ordering::AcqRel);
                if !p.is_null() {
                    objs.push(p);
                }
            }
        }
    }
    #[cfg(Py_GIL_DISABLED)]
    drop(gate);
    release(py, objs);
}

/// Lets crossbeam-epoch reclaim manifests retired by this thread, so that the
/// segments and memtables they kept alive (and their payload handles) are freed now
/// rather than at some later pin.
pub fn settle_epoch() {
    for _ in 0..8 {
        crossbeam_epoch::pin().flush();
    }
}
