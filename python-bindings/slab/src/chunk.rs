//! Chunks of slots: their layout, allocation and release.
//!
//! A chunk is a struct of arrays (the object pointers, then the `meta` words), so a
//! slot costs 12 bytes and reads touch only the pointer array. Normal builds take a
//! chunk's memory from `alloc_zeroed` (all-zero bytes are a valid chunk: null
//! pointers, zero counters; the pages are only touched as slots are handed out) and
//! give it back with `dealloc`.
//!
//! Model builds (loom, shuttle) cannot zero-initialise the checkers' atomics, so they
//! box a chunk built field by field. They also never give a chunk's memory back while
//! the slab lives: a released chunk is marked dead (a write to its `alive` cell) and
//! kept in a graveyard until the slab drops. Every slot lookup reads `alive`, so a
//! lookup in a released chunk fails an assertion when it is ordered after the release,
//! and is a data race that loom reports when it is not ordered with it at all.

use crate::sync::{AtomicPtr, AtomicU32};

/// One chunk of `N` slots, as a struct of arrays.
#[repr(C)]
pub(crate) struct Chunk<T, const N: usize> {
    /// The owned reference of each slot (null when free, drained or force-released).
    pub(crate) obj: [AtomicPtr<T>; N],
    /// Handle count, owner id and GC bit of each slot (see `crate::meta`).
    pub(crate) meta: [AtomicU32; N],
    /// Model builds: false once the chunk was released (see the module docs).
    #[cfg(any(timelog_loom, timelog_shuttle))]
    pub(crate) alive: crate::sync::UnsafeCell<bool>,
}

impl<T, const N: usize> Chunk<T, N> {
    /// Bytes of one chunk.
    pub(crate) const BYTES: usize = std::mem::size_of::<Self>();

    /// A new chunk, all slots free.
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    #[cold]
    pub(crate) fn allocate() -> *mut Self {
        let layout = std::alloc::Layout::new::<Self>();
        assert!(layout.size() > 0, "a chunk has at least one slot");
        // SAFETY: the layout has a non-zero size (checked). All-zero bytes are a valid
        // `Chunk` (null pointers, zero counters), so the zeroed block is initialised.
        let p = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<Self>();
        if p.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        p
    }

    /// A new chunk, all slots free.
    #[cfg(any(timelog_loom, timelog_shuttle))]
    #[cold]
    pub(crate) fn allocate() -> *mut Self {
        Box::into_raw(Box::new(Chunk {
            obj: std::array::from_fn(|_| AtomicPtr::new(std::ptr::null_mut())),
            meta: std::array::from_fn(|_| AtomicU32::new(0)),
            alive: crate::sync::UnsafeCell::new(true),
        }))
    }

    /// Gives a chunk's memory back.
    ///
    /// # Safety
    /// `p` came from [`Chunk::allocate`] and is released once; no reference into it
    /// is used afterwards.
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    #[cold]
    pub(crate) unsafe fn release(p: *mut Self) {
        // SAFETY: per the contract, `p` came from `alloc_zeroed` with this layout and
        // nothing uses it any more.
        unsafe { std::alloc::dealloc(p.cast(), std::alloc::Layout::new::<Self>()) };
    }

    /// Model builds: marks a chunk dead and returns it, to be kept until the slab drops.
    ///
    /// # Safety
    /// `p` came from [`Chunk::allocate`] and is released once; no reference into it
    /// is used afterwards.
    #[cfg(any(timelog_loom, timelog_shuttle))]
    #[cold]
    pub(crate) unsafe fn release(p: *mut Self) -> Graveyard<T, N> {
        // SAFETY: `p` is a live chunk from `allocate` (contract); the write is checked
        // against every lookup of its slots (see the module docs).
        unsafe { &*p }.alive.with_mut(|a| {
            // SAFETY: the cell's pointer is valid; exclusivity is what loom checks.
            unsafe { *a = false }
        });
        Graveyard(p)
    }

    /// Model builds: panics if the chunk was released (see the module docs).
    #[inline]
    pub(crate) fn check_alive(&self) {
        #[cfg(any(timelog_loom, timelog_shuttle))]
        self.alive.with(|a| {
            // SAFETY: the cell's pointer is valid; ordering with the release's write is
            // what loom checks.
            assert!(unsafe { *a }, "a slot of a released chunk was used");
        });
    }
}

/// A released chunk that model builds keep until the slab drops.
#[cfg(any(timelog_loom, timelog_shuttle))]
pub(crate) struct Graveyard<T, const N: usize>(*mut Chunk<T, N>);

// SAFETY: the pointer is only dereferenced (to be freed) by the slab's drop, which
// owns it; the chunk's fields are atomics.
#[cfg(any(timelog_loom, timelog_shuttle))]
unsafe impl<T, const N: usize> Send for Graveyard<T, N> {}

#[cfg(any(timelog_loom, timelog_shuttle))]
impl<T, const N: usize> Drop for Graveyard<T, N> {
    fn drop(&mut self) {
        // SAFETY: model builds create chunks with `Box::into_raw` (`allocate`), and a
        // graveyard entry is the only owner of a released chunk.
        drop(unsafe { Box::from_raw(self.0) });
    }
}
