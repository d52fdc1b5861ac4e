//! CPU hints that are not expressible in safe Rust.

/// Asks the CPU to start loading the cache line holding `r` into all cache
/// levels, so a later read of it (or of its neighbours) does not wait for
/// memory. A hint only: it changes no state visible to the program.
#[inline(always)]
pub(crate) fn prefetch<T>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has (it is in the
    // target's baseline feature set). A prefetch never faults and has no effect
    // on program state; the address comes from a live reference anyway.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>((r as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}
