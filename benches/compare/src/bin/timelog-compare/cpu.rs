//! The CPU-time figures, from engine runs on the canonical workload with
//! background maintenance (default configuration), each from the first append
//! through the final `flush()` and until the maintenance has settled (the
//! process stops using CPU: [`settle`]):
//!
//! - `two_writers_cpu`: the process's CPU time (`getrusage(RUSAGE_SELF)`, user
//!   and system time of all threads) per record, with 2 writer threads taking
//!   every other batch vs 1 writer thread; the two runs are back to back.
//! - `maintenance_cpu_share` (the 1-writer run): maintenance CPU per record vs
//!   write-path CPU per record. Write path: the writer thread's own CPU clock
//!   while it appends. Maintenance: every other thread of the process, from
//!   `/proc/self/task/<tid>` — the `timelog-flush` and `timelog-compact`
//!   workers and the rayon workers their flush and compaction builds run on
//!   (the rayon workers are unnamed and show the name of the thread that
//!   started the pool) — plus the caller's CPU inside the final `flush()`.
//!   The main thread's CPU outside that `flush()` (spawning, joining, waiting
//!   for the settle) is in neither; it is printed as "unattributed".
//! - `write_amplification` (the 1-writer run): `(Stats::flushed_records +
//!   Stats::compacted_records) / records ingested` once settled and after a
//!   final `compact_now()` (included: every record ends in L1, so the figure
//!   does not depend on how much L0 happened to be left); the settled figure
//!   without it is printed as an extra. For a fixed value type bytes written
//!   are proportional to records written, so this is the write amplification
//!   in bytes too.

use std::collections::BTreeMap;

use timelog::Timelog;
use timelog_compare::workload::Workload;

use crate::baselines::Shared;
use crate::measure::{current_tid, process_cpu_ns, settle, tasks_cpu, thread_cpu_ns, trim_heap};
use crate::report::Samples;

/// What one engine run cost, in ns of CPU.
struct CpuRun {
    /// The whole process, first append to settled.
    process: f64,
    /// The writer threads while appending.
    writers: f64,
    /// The maintenance by thread name: (ns, threads); `flush() call` is the
    /// caller's final flush.
    maint: BTreeMap<String, (f64, usize)>,
    /// `flushed_records + compacted_records`, settled.
    written: u64,
    /// The same after a `compact_now()`.
    written_compacted: u64,
}

/// Ingests the canonical workload with `writers` writer threads (writer `k`
/// takes the batches `b` with `b % writers == k`), flushes, settles, and
/// measures.
fn cpu_run(w: &Workload, writers: usize) -> CpuRun {
    let log: Timelog<u64> = crate::baselines::engine_log();
    let before: BTreeMap<i32, f64> = tasks_cpu().into_iter().map(|t| (t.tid, t.ns)).collect();
    let p0 = process_cpu_ns();
    let written = |log: &Timelog<u64>| {
        let st = log.stats();
        st.flushed_records + st.compacted_records
    };
    let writer_ns: f64 = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..writers)
            .map(|k| {
                let log = &log;
                sc.spawn(move || {
                    let t0 = thread_cpu_ns();
                    for (first, ts, vals) in w.writer_batches(k, writers) {
                        log.write_batch(first, ts, vals);
                    }
                    thread_cpu_ns() - t0
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("writer")).sum()
    });
    let f0 = thread_cpu_ns();
    log.flush();
    let flush_ns = thread_cpu_ns() - f0;
    settle();
    let process = process_cpu_ns() - p0;
    let me = current_tid();
    let mut maint = BTreeMap::from([("flush() call".to_string(), (flush_ns, 1))]);
    for t in tasks_cpu().into_iter().filter(|t| t.tid != me) {
        let e = maint.entry(t.name).or_insert((0.0, 0));
        *e = (e.0 + t.ns - before.get(&t.tid).copied().unwrap_or(0.0), e.1 + 1);
    }
    assert_eq!(log.len(), w.ts.len());
    let settled = written(&log);
    log.compact_now();
    CpuRun { process, writers: writer_ns, maint, written: settled, written_compacted: written(&log) }
}

/// One repeat of the CPU-time figures: 1 writer, then 2 writers.
pub fn run_cpu(w: &Workload, s: &mut Samples) {
    let n = w.ts.len() as f64;
    let one = cpu_run(w, 1);
    trim_heap();
    let two = cpu_run(w, 2);
    s.add("two_writers_cpu", "engine", two.process / n);
    s.add("two_writers_cpu", "baseline", one.process / n);
    let maint: f64 = one.maint.values().map(|m| m.0).sum();
    s.add("maintenance_cpu_share", "engine", maint / n);
    s.add("maintenance_cpu_share", "baseline", one.writers / n);
    s.add("cpu_unattributed", "engine", (one.process - one.writers - maint) / n);
    s.add("two_writers_cpu_writers", "engine", two.writers / n);
    for (name, (ns, threads)) in &one.maint {
        let label = match name.as_str() {
            "flush() call" => "the caller's final flush()".to_string(),
            name => format!("threads named {name:?} ({threads})"),
        };
        s.add(&format!("maint_cpu {label}"), "engine", ns / n);
    }
    s.add("write_amplification", "engine", one.written_compacted as f64 / n);
    s.add("write_amplification_settled", "engine", one.written as f64 / n);
}
