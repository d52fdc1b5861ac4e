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

/// Asks the system to back the spare capacity of `v` with memory now, in one call
/// (Linux's `madvise(MADV_POPULATE_WRITE)` over the whole pages inside the
/// buffer), instead of one page fault per page as the buffer is first written. A
/// hint only: populating an anonymous page the process has not touched yet gives
/// it the zeroed page its first write would have got, and pages already present
/// are left as they are, so no byte the program can read changes. Where the
/// call is not available (older kernels, other systems) it does nothing, and the
/// first writes fault the pages in as before. Returns whether pages were
/// populated.
///
/// Why the engine asks: a flush or compaction writes every record into new
/// columns, and on growing data those are pages the process never had. Faulting
/// them in one at a time costs several microseconds a page on virtual machines;
/// one call for the whole buffer costs about half (see `docs/performance.md`,
/// "Maintenance").
pub(crate) fn populate<T>(v: &mut Vec<T>) -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu", not(any(timelog_loom, timelog_shuttle))))]
    {
        const PAGE: usize = 4096;
        const MADV_POPULATE_WRITE: std::os::raw::c_int = 23;
        extern "C" {
            fn madvise(
                addr: *mut std::ffi::c_void,
                len: usize,
                advice: std::os::raw::c_int,
            ) -> std::os::raw::c_int;
        }
        let spare = v.spare_capacity_mut();
        let start = spare.as_mut_ptr() as usize;
        let end = start + std::mem::size_of_val(spare);
        let (a, b) = (start.next_multiple_of(PAGE), end / PAGE * PAGE);
        if b > a {
            // SAFETY: `[a, b)` is whole pages inside the vector's spare capacity,
            // memory this vector owns and no reference reads or writes while the
            // call runs (`v` is borrowed mutably). `MADV_POPULATE_WRITE` only
            // makes those pages present and writable, as a first write would; it
            // changes no content (untouched anonymous pages read as zeros either
            // way, and the spare capacity holds no values the program may read).
            // A failure (e.g. `EINVAL` on kernels before 5.14) is ignored: the
            // hint is optional.
            return unsafe { madvise(a as *mut std::ffi::c_void, b - a, MADV_POPULATE_WRITE) } == 0;
        }
        false
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu", not(any(timelog_loom, timelog_shuttle)))))]
    {
        let _ = v;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::populate;

    /// Resident pages of this process (`/proc/self/statm`, second field).
    #[cfg(target_os = "linux")]
    fn resident_pages() -> usize {
        let s = std::fs::read_to_string("/proc/self/statm").unwrap();
        s.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    #[test]
    fn populate_keeps_the_contents_and_makes_the_spare_capacity_resident() {
        let mut v: Vec<u64> = (0..1000).collect();
        v.reserve_exact(64 << 17); // 64 MiB of spare capacity, fresh pages
        #[cfg(target_os = "linux")]
        let before = resident_pages();
        let done = populate(&mut v);
        assert_eq!(v.len(), 1000);
        assert!(v.iter().copied().eq(0..1000), "the elements are untouched");
        #[cfg(target_os = "linux")]
        if done {
            // Other tests allocate meanwhile, but not 32 MiB at once.
            let grown = resident_pages().saturating_sub(before);
            assert!(grown >= (32 << 20) / 4096, "only {grown} pages became resident");
        }
        #[cfg(all(target_os = "linux", target_env = "gnu", not(any(timelog_loom, timelog_shuttle))))]
        {
            // Kernels since 5.14 take the call; the build machines run newer ones.
            let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
            let mut it = release.trim().split(['.', '-']).map(|x| x.parse::<u32>().unwrap_or(0));
            let (major, minor) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
            if (major, minor) >= (5, 14) {
                assert!(done, "kernel {release} refused MADV_POPULATE_WRITE");
            }
        }
        v.extend(0..10);
        assert_eq!(v[1000..], (0..10).collect::<Vec<u64>>()[..]);
    }

    #[test]
    fn populate_of_no_whole_page_does_nothing() {
        let mut v: Vec<u8> = Vec::with_capacity(100);
        assert!(!populate(&mut v));
        let mut full: Vec<u8> = vec![1; 8192];
        assert!(!populate(&mut full), "no spare capacity");
        assert!(full.iter().all(|&b| b == 1));
    }
}
