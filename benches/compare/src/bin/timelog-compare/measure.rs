//! What the scenarios measure with: wall-clock timing, allocation counting (a
//! counting global allocator, switched on only in `--mem-probe` children), the
//! resident set size and the machine's load average.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::Instant;

/// Times `f` and returns (its result, seconds).
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed().as_secs_f64())
}

/// Whether the counting allocator records sizes (only in `--mem-probe` children).
static COUNTING: AtomicBool = AtomicBool::new(false);
/// Bytes currently allocated (while counting).
static CURRENT: AtomicIsize = AtomicIsize::new(0);
/// Highest value `CURRENT` reached since the last [`reset_peak`].
static PEAK: AtomicIsize = AtomicIsize::new(0);

/// The system allocator, plus byte counting when [`COUNTING`] is on.
struct CountingAlloc;

#[inline]
fn count_add(n: isize) {
    if COUNTING.load(Ordering::Relaxed) {
        let now = CURRENT.fetch_add(n, Ordering::Relaxed) + n;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }
}

/// Passes on the result `p` of an allocation that changed the allocated bytes by
/// `delta` if it succeeded.
#[inline]
fn counted(p: *mut u8, delta: isize) -> *mut u8 {
    if !p.is_null() {
        count_add(delta);
    }
    p
}

// SAFETY: every call is forwarded unchanged to `System`; the counters are plain
// atomics and never allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        counted(unsafe { System.alloc(layout) }, layout.size() as isize)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        counted(unsafe { System.alloc_zeroed(layout) }, layout.size() as isize)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) };
        count_add(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as ours.
        counted(unsafe { System.realloc(ptr, layout, new_size) }, new_size as isize - layout.size() as isize)
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Switches allocation counting on, for the rest of the process.
pub fn start_counting() {
    COUNTING.store(true, Ordering::SeqCst);
}

/// Bytes currently allocated (while counting).
pub fn allocated() -> isize {
    CURRENT.load(Ordering::Relaxed)
}

/// The highest allocation level since the last [`reset_peak`].
pub fn peak() -> isize {
    PEAK.load(Ordering::Relaxed)
}

/// Starts a new peak measurement at the current allocation level.
pub fn reset_peak() {
    PEAK.store(CURRENT.load(Ordering::Relaxed), Ordering::Relaxed);
}

/// Resident set size in bytes, from `/proc/self/statm` (0 where unavailable).
pub fn rss_bytes() -> isize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<isize>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// The 1, 5 and 15 minute load averages from `/proc/loadavg` ("?" where unavailable).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_string())
}
