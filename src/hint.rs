//! CPU and allocator hints that are not expressible in safe Rust.

/// Asks the CPU to start loading the cache line holding `r` into all cache
/// levels, so a later read of it (or of its neighbours) does not wait for
/// memory. A hint only: it changes no state visible to the program.
#[inline(always)]
pub(crate) fn prefetch<T>(r: &T) {
    prefetch_ptr(r as *const T);
}

/// [`prefetch`] of any address: `p` need not be valid (a prefetch never faults),
/// so a position one past the end of a slice is fine. The merge uses it to load
/// the next records of an interleaved source ahead (more streams than the
/// hardware prefetchers follow).
#[inline(always)]
pub(crate) fn prefetch_ptr<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has (it is in the
    // target's baseline feature set). A prefetch is not a memory access in the
    // sense of the memory model: it never faults, whatever the address, and has
    // no effect on program state.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Asks the C allocator to give the pages it holds free back to the system
/// (glibc's `malloc_trim`: every arena, including free pages in the middle of a
/// heap, not only its top). A hint only: no allocation moves and no live memory
/// is touched, so it changes nothing the program can observe but its RSS.
///
/// Why the engine asks: under a retention rule the maintenance threads free
/// whole segments (their columns and the values in them) while writers and
/// rayon workers allocate new ones in other arenas. glibc returns a freed page
/// to the system only when it lies at the top of a heap, so without this the
/// process keeps several times the live data resident (see
/// `docs/architecture.md`, "Deleted data"). Returns whether memory was released.
/// On other allocators and platforms it does nothing.
pub(crate) fn release_free_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu", not(any(timelog_loom, timelog_shuttle))))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::os::raw::c_int;
        }
        // SAFETY: `malloc_trim` takes a plain integer, touches only the
        // allocator's own free lists (under the allocator's locks, so it is safe
        // to call from any thread at any time), and only releases pages no live
        // allocation uses. It is part of glibc, which this target links.
        unsafe { malloc_trim(0) != 0 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu", not(any(timelog_loom, timelog_shuttle)))))]
    {
        false
    }
}
