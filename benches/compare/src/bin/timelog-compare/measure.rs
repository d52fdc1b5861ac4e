//! What the scenarios measure with: wall-clock timing, CPU time (the process's
//! and each thread's), allocation counting (a counting global allocator,
//! switched on only in `--mem-probe` children), the resident set size and the
//! machine's load average.

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

// ----- CPU time -----------------------------------------------------------------------

/// Nanoseconds in a `timeval`.
fn timeval_ns(t: libc::timeval) -> f64 {
    t.tv_sec as f64 * 1e9 + t.tv_usec as f64 * 1e3
}

/// CPU time of the whole process, all threads (living and exited), user +
/// system, in ns: `getrusage(RUSAGE_SELF)`.
pub fn process_cpu_ns() -> f64 {
    // SAFETY: `rusage` is plain data, and getrusage fills it (or fails and
    // leaves it zeroed).
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a `rusage` we own.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    assert_eq!(rc, 0, "getrusage");
    timeval_ns(u.ru_utime) + timeval_ns(u.ru_stime)
}

/// CPU time of the calling thread in ns (`CLOCK_THREAD_CPUTIME_ID`).
pub fn thread_cpu_ns() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid pointer to a `timespec` we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime");
    t.tv_sec as f64 * 1e9 + t.tv_nsec as f64
}

/// The calling thread's kernel thread id.
pub fn current_tid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// One thread of this process: its name (`comm`) and CPU time so far in ns.
pub struct TaskCpu {
    pub tid: i32,
    pub name: String,
    pub ns: f64,
}

/// The CPU time of one thread from `/proc/self/task/<tid>`: `schedstat`'s
/// first field (ns on a CPU, user + system), or, where that file is missing,
/// `stat`'s utime + stime (clock ticks, 10 ms on most systems).
fn task_cpu_ns(dir: &std::path::Path) -> Option<f64> {
    if let Ok(s) = std::fs::read_to_string(dir.join("schedstat")) {
        return s.split_whitespace().next()?.parse().ok();
    }
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    // The fields after the parenthesised name: state is field 3, utime 14, stime 15.
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = rest.get(11)?.parse::<f64>().ok()? + rest.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(ticks * 1e9 / hz)
}

/// Every living thread of this process with its CPU time so far.
pub fn tasks_cpu() -> Vec<TaskCpu> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else { return Vec::new() };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let tid = e.file_name().to_str()?.parse().ok()?;
        let name = std::fs::read_to_string(e.path().join("comm")).ok()?.trim_end().to_string();
        Some(TaskCpu { tid, name, ns: task_cpu_ns(&e.path())? })
    })
    .collect()
}

/// Waits until the process stops using CPU (the background maintenance has
/// nothing left to do): the process CPU time grows by less than 2 % of the
/// wall-clock time in each of six 25 ms intervals in a row (longer than the
/// workers' default 100 ms wake-up period), or 5 s have passed.
pub fn settle() {
    let step = std::time::Duration::from_millis(25);
    let t = Instant::now();
    let (mut last, mut quiet) = (process_cpu_ns(), 0);
    while quiet < 6 && t.elapsed().as_secs() < 5 {
        std::thread::sleep(step);
        let now = process_cpu_ns();
        quiet = if now - last < 0.02 * step.as_nanos() as f64 { quiet + 1 } else { 0 };
        last = now;
    }
}

/// Hands the C allocator's free pages back to the system (glibc's
/// `malloc_trim`), untimed, between scenarios: the engine trims after every
/// flush, so whatever a previous scenario freed would otherwise be walked
/// inside the next engine figure that flushes (or under the allocator lock a
/// concurrent call waits for); after this, each timed figure starts from a
/// trimmed heap.
pub fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes a plain integer and only releases pages no live
    // allocation uses.
    unsafe {
        libc::malloc_trim(0);
    }
}
