//! A hint to the processor to bring memory into the caches ahead of a read: the
//! only `unsafe` of the merge, kept here (see [`read`]).

/// Hints that the cache line holding `p` will be read soon. `p` need not be valid
/// (a prefetch never faults and has no effect on the program's state), so any
/// pointer may be passed, such as one past the end of a slice. A no-op where no
/// prefetch instruction is available.
#[inline(always)]
pub(crate) fn read<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` requires SSE, which every x86_64 processor has (it is
    // part of the baseline target). A prefetch does not access memory in the sense
    // of the memory model: it cannot fault, whatever the address, and changes no
    // state the program can observe, so any pointer value is fine.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
