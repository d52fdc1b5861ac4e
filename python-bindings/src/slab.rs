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
//! The slab never moves a slot: a fixed directory of lazily allocated chunks of
//! 2^16 slots. A chunk is a struct of arrays (the object pointers, then the `meta`
//! words), so a slot costs 12 bytes and reads touch only the pointer array. Free
//! slots are recycled, lowest chunk first, so that under a retention workload the
//! high chunks empty out; a chunk none of whose slots is in use (no handle, nothing
//! retired) is returned to the allocator, except one spare. The slab therefore
//! follows the payloads the engine currently holds (installed chunks = chunks with a
//! slot in use + at most one), not their past peak, and so does the allocator's
//! bookkeeping (a 2-byte free-list entry per recycled slot of an installed chunk). A chunk reference is only used while a handle to (or a
//! retired entry of) one of its slots exists, which keeps the chunk installed.
//!
//! Memory: 12 bytes per live record here plus the handle (4 bytes) next to the
//! timestamp (8 bytes) in the engine's columns.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ptr;
use std::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicUsize, Ordering};

use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::{ffi, PyTraverseError, PyVisit};

const CHUNK_BITS: u32 = 16;
const CHUNK: usize = 1 << CHUNK_BITS;
const DIR_LEN: usize = 1 << (32 - CHUNK_BITS);

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
    alloc: Mutex<Alloc>,
    retired: Mutex<Vec<u32>>,
    retired_len: AtomicUsize,
}

/// Allocation state of one chunk (under `Slab::alloc`).
#[derive(Default)]
struct ChunkAlloc {
    /// Slots `0..fresh` have been handed out at least once since the chunk was installed.
    fresh: u32,
    /// Recycled slot offsets (each below `fresh`).
    free: Vec<u16>,
}

impl ChunkAlloc {
    fn used(&self) -> usize {
        self.fresh as usize - self.free.len()
    }

    fn has_room(&self) -> bool {
        !self.free.is_empty() || (self.fresh as usize) < CHUNK
    }
}

/// Which slots are handed out. Slots in use = live handles + retired, not drained.
struct Alloc {
    /// Per chunk id (grows to the highest chunk ever installed, at most `DIR_LEN`).
    chunks: Vec<ChunkAlloc>,
    /// No chunk below it has room (an uninstalled chunk has room).
    low: usize,
    /// Slots in use.
    used: usize,
    /// Chunks installed.
    installed: usize,
    /// Installed chunks with no slot in use.
    empty: usize,
}

static SLAB: Slab = Slab {
    dir: [const { AtomicPtr::new(ptr::null_mut()) }; DIR_LEN],
    alloc: Mutex::new(Alloc { chunks: Vec::new(), low: 0, used: 0, installed: 0, empty: 0 }),
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

#[inline]
fn chunk(c: usize) -> &'static Chunk {
    let p = SLAB.dir[c].load(Ordering::Acquire);
    debug_assert!(!p.is_null(), "slab chunk {c} is not installed");
    // SAFETY: an index is handed out (by `alloc_indices`) only after its chunk was
    // installed; whoever holds the index learned it through a synchronising path (the
    // engine's publication of the record, or the allocation mutex), so the Acquire
    // load above sees the installed pointer. The chunk stays installed while any of
    // its slots is in use (a live handle or an undrained retired entry), which is
    // the case whenever a slot of it is looked up; the reference is never kept longer.
    unsafe { &*p }
}

#[inline]
fn slot(i: u32) -> Slot {
    let c = chunk((i >> CHUNK_BITS) as usize);
    let j = i as usize & (CHUNK - 1);
    Slot { obj: &c.obj[j], meta: &c.meta[j] }
}

impl Alloc {
    /// Installs chunk `c` (which is not installed).
    #[cold]
    fn install(&mut self, c: usize) {
        let layout = chunk_layout();
        // SAFETY: the layout has a non-zero size. All-zero bytes are a valid `Chunk`
        // (null pointers, zero counters), so the zeroed block is initialised.
        let fresh = unsafe { alloc_zeroed(layout) }.cast::<Chunk>();
        if fresh.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        // Installation and release only happen under the allocation mutex (held).
        SLAB.dir[c].store(fresh, Ordering::Release);
        if self.chunks.len() <= c {
            self.chunks.resize_with(c + 1, ChunkAlloc::default);
        }
        self.chunks[c] = ChunkAlloc::default();
        self.installed += 1;
        self.empty += 1;
    }

    /// Returns the memory of chunk `c` (installed, no slot in use).
    #[cold]
    fn release(&mut self, c: usize) {
        debug_assert_eq!(self.chunks[c].used(), 0);
        let p = SLAB.dir[c].swap(ptr::null_mut(), Ordering::AcqRel);
        debug_assert!(!p.is_null());
        self.chunks[c] = ChunkAlloc::default();
        self.installed -= 1;
        self.empty -= 1;
        // SAFETY: `p` came from `alloc_zeroed` with this layout (in `install`). No slot
        // of it is in use, so no handle or retired entry can reach it; lookups of free
        // slots never happen; `force_release` scans under this mutex (held).
        unsafe { dealloc(p.cast(), chunk_layout()) };
    }

    /// The lowest chunk with room, installed if needed.
    fn room(&mut self) -> Option<usize> {
        let mut c = self.low;
        while c < DIR_LEN {
            if SLAB.dir[c].load(Ordering::Relaxed).is_null() {
                self.install(c);
                break;
            }
            if self.chunks[c].has_room() {
                break;
            }
            c += 1;
        }
        self.low = c;
        (c < DIR_LEN).then_some(c)
    }

    /// Hands out up to `n` slots of the lowest chunk with room; returns how many.
    fn take(&mut self, n: usize, out: &mut Vec<u32>) -> usize {
        let Some(c) = self.room() else { return 0 };
        let ch = &mut self.chunks[c];
        if ch.used() == 0 {
            self.empty -= 1;
        }
        let base = (c as u32) << CHUNK_BITS;
        let k = n.min(ch.free.len());
        let at = ch.free.len() - k;
        out.extend(ch.free.drain(at..).map(|o| base | u32::from(o)));
        let m = (n - k).min(CHUNK - ch.fresh as usize);
        out.extend((ch.fresh..ch.fresh + m as u32).map(|o| base | o));
        ch.fresh += m as u32;
        self.used += k + m;
        k + m
    }

    /// Hands out one slot of the lowest chunk with room.
    #[inline]
    fn take_one(&mut self) -> Option<u32> {
        let c = self.room()?;
        let ch = &mut self.chunks[c];
        if ch.used() == 0 {
            self.empty -= 1;
        }
        let o = match ch.free.pop() {
            Some(o) => u32::from(o),
            None => {
                ch.fresh += 1;
                ch.fresh - 1
            }
        };
        self.used += 1;
        Some((c as u32) << CHUNK_BITS | o)
    }

    /// Gives slots back (their references already taken out), then returns the memory
    /// of chunks that became empty, keeping one empty chunk as a spare.
    fn recycle(&mut self, idx: &[u32]) {
        for &i in idx {
            let c = (i >> CHUNK_BITS) as usize;
            let ch = &mut self.chunks[c];
            ch.free.push((i & (CHUNK as u32 - 1)) as u16);
            if ch.used() == 0 {
                // Start the chunk over (fresh slots are handed out in order; the free
                // list's memory goes back).
                *ch = ChunkAlloc::default();
                self.empty += 1;
            }
            if c < self.low {
                self.low = c;
            }
        }
        self.used -= idx.len();
        if self.empty > 1 {
            // Keep the lowest empty chunk, release the others.
            let mut kept = false;
            for c in 0..self.chunks.len() {
                if self.empty <= 1 && kept {
                    break;
                }
                if SLAB.dir[c].load(Ordering::Relaxed).is_null() || self.chunks[c].used() != 0 {
                    continue;
                }
                if kept {
                    self.release(c);
                } else {
                    kept = true;
                }
            }
        }
    }
}

/// Reserves `n` slot indices (lowest chunk with room first).
fn alloc_indices(n: usize, out: &mut Vec<u32>) -> PyResult<()> {
    out.reserve(n);
    let mut a = SLAB.alloc.lock();
    let mut need = n;
    while need > 0 {
        let got = a.take(need, out);
        if got == 0 {
            // Give back what was taken (never used: no reference in those slots).
            let back = out.split_off(out.len() - (n - need));
            a.recycle(&back);
            return Err(too_many());
        }
        need -= got;
    }
    Ok(())
}

#[cold]
fn too_many() -> PyErr {
    pyo3::exceptions::PyMemoryError::new_err("timelog: more than 2**32 payload objects alive")
}

/// Slab figures (process-wide): slots in use, chunks installed, retired slots not
/// yet drained.
pub fn info() -> (usize, usize, usize) {
    let a = SLAB.alloc.lock();
    (a.used, a.installed, retired_len())
}

/// Bytes of one chunk (its slots).
pub const CHUNK_BYTES: usize = std::mem::size_of::<Chunk>();

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
    let i = SLAB.alloc.lock().take_one().ok_or_else(too_many)?;
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
    slot(v.0).obj
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
        SLAB.alloc.lock().recycle(&batch);
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
    let mut objs = Vec::new();
    // The allocation mutex keeps chunks from being installed or released meanwhile.
    let a = SLAB.alloc.lock();
    for c in 0..a.chunks.len() {
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
    drop(a);
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
