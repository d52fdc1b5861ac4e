//! The payload slab of the timelog Python bindings: reference-counted slots that
//! own foreign object references (Python objects there), addressed by 4-byte
//! indices, generic over how a reference is released ([`Release`]).
//!
//! The engine clones and drops its values on worker and rayon threads that may not
//! touch the foreign objects (for Python: that do not hold the GIL), so it stores an
//! index instead, a *handle*, whose clone and drop are two atomic operations:
//!
//! - every stored object gets one *slot*; the slot owns one reference to the object
//!   and counts the handles to it in an atomic `meta` word (16-bit handle count,
//!   15-bit owner id, one GC bit);
//! - [`Slab::clone_ref`] increments the count (`Relaxed`: the caller holds a handle,
//!   so the count cannot reach zero meanwhile) and [`Slab::drop_ref`] decrements it
//!   (`Release`); the thread that takes it to zero (then an `Acquire` fence) *retires*
//!   the slot: its index goes to the retire queue, the reference stays in the slot;
//! - [`Slab::drain`], called where releasing is allowed (it takes the release
//!   context, for Python an attached interpreter), takes retired indices off the
//!   queue, swaps each slot's pointer out, recycles the slots, and only then releases
//!   the references (so that foreign code, such as `__del__`, never runs while a slab
//!   lock is held).
//!
//! The slab never moves a slot: a fixed directory of `DIR` lazily installed chunks of
//! `CHUNK` slots. Free slots are recycled lowest chunk first, so that under a
//! retention workload the high chunks empty out; a chunk none of whose slots is in use
//! (no handle, nothing retired) is returned to the allocator, except one spare. The
//! installed chunks are therefore those with a slot in use plus at most one: memory
//! follows the objects held now, not their past peak.
//!
//! Memory ordering, in short (`docs/slab.md` has the whole protocol and how each
//! part is checked):
//! - a chunk pointer is stored `Release` when installed (under the allocation
//!   mutex) and loaded `Acquire` by lookups; an index is only looked up by a thread
//!   that holds a handle, or a retired entry, of it;
//! - the handle count's `Release` decrements and the last one's `Acquire` fence order
//!   every access through any handle before the retirement, hence (through the queue
//!   and allocation mutexes) before the reference is released and before the chunk
//!   is freed;
//! - a slot's pointer is stored `Release` after its meta word and swapped out
//!   `AcqRel`; [`Slab::force_release`] loads the pointer (`Acquire`) before it reads
//!   the owner, so it never takes a reference stored for another owner.
//!
//! All atomics, the mutexes and `UnsafeCell` come from [`sync`], so that loom
//! (`--cfg timelog_loom`) and shuttle (`--cfg timelog_shuttle`) can run this code.
#![deny(unsafe_op_in_unsafe_fn)]

mod alloc;
mod chunk;
pub mod sync;
#[cfg(all(test, not(any(timelog_loom, timelog_shuttle))))]
mod tests;
// The unit tests share their support code with the integration tests, which name
// the crate.
#[cfg(test)]
extern crate self as timelog_slab;

use std::marker::PhantomData;
use std::ptr::{self, NonNull};

use alloc::Alloc;
use chunk::Chunk;
use sync::{fence, AtomicPtr, AtomicU32, AtomicUsize, Mutex, Ordering};

/// How the references a slab owns are released.
pub trait Release {
    /// What a slot points at (for Python: `ffi::PyObject`).
    type Obj;
    /// What a thread must show to release references (for Python: an attached
    /// `Python<'py>` token). [`Slab::drain`] and [`Slab::force_release`] take one.
    type Ctx<'a>: Copy;

    /// Releases one owned reference.
    ///
    /// # Safety
    /// `obj` is a reference the slab took over ([`Slab::insert`],
    /// [`Slab::insert_many`]); the slab gives each one back exactly once.
    unsafe fn release(ctx: Self::Ctx<'_>, obj: NonNull<Self::Obj>);
}

/// Handle count bits of a meta word.
const RC_MASK: u32 = 0xFFFF;
const OWNER_SHIFT: u32 = 16;
const OWNER_MASK: u32 = 0x7FFF;
const GC_BIT: u32 = 1 << 31;

/// The largest owner id (owner ids are 15 bits).
pub const MAX_OWNER: u32 = OWNER_MASK;

/// Slots per chunk of the default geometry.
pub const DEFAULT_CHUNK: usize = 1 << 16;
/// Chunks of the default geometry (with [`DEFAULT_CHUNK`]: every `u32` is an index).
pub const DEFAULT_DIR: usize = 1 << 16;

/// Every slot of the directory is in use (`CHUNK * DIR` objects stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

impl std::fmt::Display for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("every slot of the payload slab is in use")
    }
}

impl std::error::Error for Full {}

/// Slab figures at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    /// Slots in use: with a handle, or retired and not drained yet.
    pub used: usize,
    /// Chunks installed.
    pub installed: usize,
    /// Retired slots not drained yet.
    pub retired: usize,
}

/// The slab: `DIR` chunks of `CHUNK` slots (`CHUNK` a power of two, at most 2^16;
/// `CHUNK * DIR` at most 2^32). Handles are `u32` indices; see the crate docs.
pub struct Slab<R: Release, const CHUNK: usize = DEFAULT_CHUNK, const DIR: usize = DEFAULT_DIR> {
    dir: [AtomicPtr<Chunk<R::Obj, CHUNK>>; DIR],
    alloc: Mutex<Alloc<R::Obj, CHUNK>>,
    retired: Mutex<Vec<u32>>,
    /// The retire queue's length, for the drain's lock-free fast path.
    retired_len: AtomicUsize,
    _release: PhantomData<fn(R)>,
}

impl<R: Release, const CHUNK: usize, const DIR: usize> Slab<R, CHUNK, DIR> {
    const CHUNK_BITS: u32 = CHUNK.trailing_zeros();
    const GEOMETRY_OK: () = assert!(
        CHUNK.is_power_of_two() && CHUNK <= 1 << 16 && DIR >= 1 && (CHUNK as u64) * (DIR as u64) <= 1 << 32,
        "CHUNK must be a power of two <= 2^16 and CHUNK * DIR <= 2^32"
    );

    /// Bytes of one chunk (`CHUNK` slots).
    pub const CHUNK_BYTES: usize = Chunk::<R::Obj, CHUNK>::BYTES;

    /// An empty slab (no chunk installed). A `const fn`, so that it can be a static.
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    pub const fn new() -> Self {
        let () = Self::GEOMETRY_OK;
        Slab {
            dir: [const { AtomicPtr::new(ptr::null_mut()) }; DIR],
            alloc: Mutex::new(Alloc::new()),
            retired: Mutex::new(Vec::new()),
            retired_len: AtomicUsize::new(0),
            _release: PhantomData,
        }
    }

    /// An empty slab (no chunk installed).
    #[cfg(any(timelog_loom, timelog_shuttle))]
    pub fn new() -> Self {
        let () = Self::GEOMETRY_OK;
        Slab {
            dir: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            alloc: Mutex::new(Alloc::new()),
            retired: Mutex::new(Vec::new()),
            retired_len: AtomicUsize::new(0),
            _release: PhantomData,
        }
    }

    /// The chunk of an index in use.
    ///
    /// # Safety
    /// A slot of chunk `c` is in use (the caller holds a handle to it or a retired
    /// entry of it, or the allocation mutex with the chunk installed), and the
    /// reference is not used once that is no longer the case.
    #[inline]
    unsafe fn chunk(&self, c: usize) -> &Chunk<R::Obj, CHUNK> {
        let p = self.dir[c].load(Ordering::Acquire);
        if sync::MODEL {
            assert!(!p.is_null(), "slab chunk {c} is not installed");
        }
        debug_assert!(!p.is_null(), "slab chunk {c} is not installed");
        // SAFETY: an index is handed out only after its chunk was installed (`Release`
        // store under the allocation mutex); whoever holds the index learned it through
        // a synchronising path (the mutex, or the publication that passed the handle
        // on), so this `Acquire` load sees the chunk. The chunk stays installed while a
        // slot of it is in use, which the caller guarantees for as long as it uses the
        // reference.
        let ch = unsafe { &*p };
        ch.check_alive();
        ch
    }

    /// The pointer cell and meta word of slot `i`.
    ///
    /// # Safety
    /// As [`Slab::chunk`], for the chunk of `i`.
    #[inline]
    unsafe fn slot(&self, i: u32) -> (&AtomicPtr<R::Obj>, &AtomicU32) {
        // SAFETY: forwarded to the caller.
        let c = unsafe { self.chunk((i >> Self::CHUNK_BITS) as usize) };
        let j = i as usize & (CHUNK - 1);
        (&c.obj[j], &c.meta[j])
    }

    /// Stores one object for `owner` and returns its index, which carries one handle
    /// count (give it back with [`Slab::drop_ref`]). On [`Full`] nothing was taken.
    ///
    /// # Safety
    /// On success the slab takes over one owned reference to `obj`, to be passed to
    /// `R::release` exactly once.
    pub unsafe fn insert(&self, owner: u32, gc: bool, obj: NonNull<R::Obj>) -> Result<u32, Full> {
        let i = self.alloc.lock().take_one(&self.dir).ok_or(Full)?;
        // SAFETY: `i` was just handed out to us: in use, with its chunk installed.
        unsafe { self.fill(i, owner, gc, obj) };
        Ok(i)
    }

    /// Stores many objects for `owner`: reserves a slot per item first (all or, on
    /// [`Full`], none; then nothing was taken), then calls `store` on each item for
    /// its object and GC bit and `wrap` on its index (which carries one handle count).
    ///
    /// # Safety
    /// The slab takes over one owned reference to each object `store` returns, to be
    /// passed to `R::release` exactly once.
    pub unsafe fn insert_many<X, H>(
        &self,
        owner: u32,
        items: Vec<X>,
        mut store: impl FnMut(X) -> (NonNull<R::Obj>, bool),
        mut wrap: impl FnMut(u32) -> H,
    ) -> Result<Vec<H>, Full> {
        let mut idx = Vec::with_capacity(items.len());
        self.alloc.lock().take_many(&self.dir, items.len(), &mut idx)?;
        Ok(idx
            .into_iter()
            .zip(items)
            .map(|(i, x)| {
                let (obj, gc) = store(x);
                // SAFETY: `i` was handed out to us above: in use, chunk installed. The
                // reference's ownership is the caller's contract.
                unsafe { self.fill(i, owner, gc, obj) };
                wrap(i)
            })
            .collect())
    }

    /// Sets up a freshly handed out slot: count 1, owner, GC bit, then the pointer.
    ///
    /// # Safety
    /// `i` was just handed out by the allocator; `obj` is an owned reference.
    #[inline]
    unsafe fn fill(&self, i: u32, owner: u32, gc: bool, obj: NonNull<R::Obj>) {
        // SAFETY: forwarded to the caller (a handed-out slot is in use).
        let (o, m) = unsafe { self.slot(i) };
        let gc = if gc { GC_BIT } else { 0 };
        m.store(1 | (owner & OWNER_MASK) << OWNER_SHIFT | gc, Ordering::Relaxed);
        o.store(obj.as_ptr(), Ordering::Release);
    }

    /// Adds a handle to slot `i` (aborts the process on 65,534 handles to one slot, as
    /// `Arc` does on overflow: that many copies of one record means leaked handles).
    ///
    /// # Safety
    /// The caller holds a handle to slot `i`.
    #[inline]
    pub unsafe fn clone_ref(&self, i: u32) {
        // SAFETY: the caller holds a handle: the slot is in use.
        let (_, m) = unsafe { self.slot(i) };
        let old = m.fetch_add(1, Ordering::Relaxed);
        if old & RC_MASK >= RC_MASK - 1 {
            std::process::abort();
        }
    }

    /// Gives one handle to slot `i` back; the last one retires the slot.
    ///
    /// # Safety
    /// The caller holds a handle to slot `i` and does not use it afterwards.
    #[inline]
    pub unsafe fn drop_ref(&self, i: u32) {
        // SAFETY: the caller holds a handle: the slot is in use (until the decrement).
        let (_, m) = unsafe { self.slot(i) };
        if m.fetch_sub(1, Ordering::Release) & RC_MASK == 1 {
            // Every other handle's accesses happen before this point (their `Release`
            // decrements are read by ours).
            fence(Ordering::Acquire);
            self.retire(i);
        }
    }

    #[cold]
    fn retire(&self, i: u32) {
        let mut q = self.retired.lock();
        q.push(i);
        self.retired_len.store(q.len(), Ordering::Relaxed);
    }

    /// The object of slot `i`: non-null while the slot holds its reference (null only
    /// after [`Slab::force_release`] of its owner). Borrowed: valid while the caller's
    /// handle lives, unless the owner is force-released meanwhile.
    ///
    /// # Safety
    /// The caller holds a handle to slot `i`.
    #[inline]
    pub unsafe fn get(&self, i: u32) -> *mut R::Obj {
        // SAFETY: forwarded to the caller.
        unsafe { self.slot(i) }.0.load(Ordering::Acquire)
    }

    /// The pointer cell of slot `i` (load it with `Acquire`; see [`Slab::get`]).
    ///
    /// # Safety
    /// The caller holds a handle to slot `i` for as long as it uses the reference.
    #[inline]
    pub unsafe fn cell(&self, i: u32) -> &AtomicPtr<R::Obj> {
        // SAFETY: forwarded to the caller.
        unsafe { self.slot(i) }.0
    }

    /// Whether slot `i`'s object was stored with the GC bit set.
    ///
    /// # Safety
    /// The caller holds a handle to slot `i`.
    #[inline]
    pub unsafe fn is_gc(&self, i: u32) -> bool {
        // SAFETY: forwarded to the caller.
        unsafe { self.slot(i) }.1.load(Ordering::Relaxed) & GC_BIT != 0
    }

    /// Retired slots not drained yet.
    #[inline]
    pub fn retired_len(&self) -> usize {
        self.retired_len.load(Ordering::Relaxed)
    }

    /// Current figures.
    pub fn info(&self) -> Info {
        let a = self.alloc.lock();
        Info { used: a.used, installed: a.installed, retired: self.retired_len() }
    }

    /// Releases the references of up to `limit` retired slots (0: all, including
    /// those retired while it runs) and recycles the slots.
    #[inline]
    pub fn drain(&self, ctx: R::Ctx<'_>, limit: usize) {
        if self.retired_len() == 0 {
            return;
        }
        self.drain_slow(ctx, limit);
    }

    #[cold]
    fn drain_slow(&self, ctx: R::Ctx<'_>, limit: usize) {
        loop {
            let batch: Vec<u32> = {
                let mut q = self.retired.lock();
                let take = if limit == 0 { q.len() } else { limit.min(q.len()) };
                let at = q.len() - take;
                let b = if at == 0 { std::mem::take(&mut *q) } else { q.split_off(at) };
                self.retired_len.store(q.len(), Ordering::Relaxed);
                b
            };
            if batch.is_empty() {
                return;
            }
            let objs: Vec<NonNull<R::Obj>> = batch
                .iter()
                .filter_map(|&i| {
                    // SAFETY: a retired entry keeps its slot in use until recycled below.
                    let (o, _) = unsafe { self.slot(i) };
                    NonNull::new(o.swap(ptr::null_mut(), Ordering::AcqRel))
                })
                .collect();
            self.alloc.lock().recycle(&self.dir, &batch);
            for p in objs {
                // SAFETY: `p` was the owned reference of a slot and was swapped out of
                // it (a null put back), so it is handed back exactly once.
                unsafe { R::release(ctx, p) };
            }
            if limit != 0 {
                return;
            }
        }
    }

    /// Releases every reference still held by slots of `owner`, whatever their handle
    /// count: [`Slab::take_owner`], then [`Taken::release`].
    ///
    /// # Safety
    /// As [`Slab::take_owner`].
    pub unsafe fn force_release(&self, ctx: R::Ctx<'_>, owner: u32) {
        // SAFETY: forwarded to the caller.
        unsafe { self.take_owner(owner) }.release(ctx);
    }

    /// Takes every reference still held by slots of `owner` out of them, whatever
    /// their handle count, for the caller to release ([`Taken::release`], possibly
    /// after dropping locks of its own). Their handles then read null, and their
    /// slots are recycled (with nothing left to release) when their last handle drops
    /// and they are drained. Slots handed out to other owners meanwhile are left
    /// alone.
    ///
    /// # Safety
    /// No thread reads an object of `owner` concurrently or uses a pointer to one
    /// that it loaded before this call.
    #[must_use = "the references taken out must be released"]
    pub unsafe fn take_owner(&self, owner: u32) -> Taken<R> {
        let mut objs = Vec::new();
        // The allocation mutex keeps chunks from being installed or released meanwhile,
        // and slots from being handed out again.
        let a = self.alloc.lock();
        for c in 0..a.chunks.len() {
            if self.dir[c].load(Ordering::Acquire).is_null() {
                continue;
            }
            // SAFETY: the chunk is installed and stays so while we hold the mutex.
            let ch = unsafe { self.chunk(c) };
            for (o, m) in ch.obj.iter().zip(ch.meta.iter()) {
                // The pointer first: seeing a slot's new object (`Acquire`) implies
                // seeing the meta word stored before it, so a slot refilled for another
                // owner is never mistaken for one of `owner`'s.
                let p = o.load(Ordering::Acquire);
                if p.is_null() || (m.load(Ordering::Relaxed) >> OWNER_SHIFT) & OWNER_MASK != owner {
                    continue;
                }
                // Only this object: if the slot was drained meanwhile, the drain has it.
                if o.compare_exchange(p, ptr::null_mut(), Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                    objs.extend(NonNull::new(p));
                }
            }
        }
        drop(a);
        Taken { objs, _release: PhantomData }
    }
}

/// References taken out of their slots by [`Slab::take_owner`], to be released.
/// Dropping it without [`Taken::release`] leaks them.
#[must_use = "the references taken out must be released"]
pub struct Taken<R: Release> {
    objs: Vec<NonNull<R::Obj>>,
    _release: PhantomData<fn(R)>,
}

impl<R: Release> Taken<R> {
    /// How many references were taken out.
    pub fn len(&self) -> usize {
        self.objs.len()
    }

    /// Whether none was.
    pub fn is_empty(&self) -> bool {
        self.objs.is_empty()
    }

    /// Releases them.
    pub fn release(self, ctx: R::Ctx<'_>) {
        for p in self.objs {
            // SAFETY: each was swapped out of its slot by `take_owner`'s
            // compare-exchange (a null put back), so it is handed back exactly once.
            unsafe { R::release(ctx, p) };
        }
    }
}

impl<R: Release, const CHUNK: usize, const DIR: usize> Default for Slab<R, CHUNK, DIR> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R: Release, const CHUNK: usize, const DIR: usize> Drop for Slab<R, CHUNK, DIR> {
    /// Frees the chunks. References still in slots are not released (that needs a
    /// release context): drain, or force-release, first.
    fn drop(&mut self) {
        for c in &self.dir {
            let p = c.swap(ptr::null_mut(), Ordering::Acquire);
            if !p.is_null() {
                // SAFETY: `p` came from `Chunk::allocate` and was installed; we own the
                // slab exclusively, so nothing uses the chunk any more.
                #[allow(clippy::let_unit_value)]
                let _freed = unsafe { Chunk::release(p) };
            }
        }
    }
}
