//! Memory per record, by allocation counting: the binary re-runs itself once per
//! structure and run (`--mem-probe NAME`), so that each figure comes from a fresh
//! process whose counting allocator was switched on from the first line of `main`.

use std::hint::black_box;
use std::process::Command;

use timelog::{MaintenanceMode, Timelog};

use crate::baselines::{btree_build, engine_ingest, floor_ingest, skip_build};
use crate::measure::{allocated, peak, reset_peak, rss_bytes};
use crate::report::{Samples, IMPLS};
use crate::Opts;

/// Lets the epoch collector free what it deferred (retired memtables and
/// manifests), so that what is left allocated is the live data.
fn reclaim_deferred() {
    for _ in 0..256 {
        crossbeam_epoch::pin().flush();
    }
}

/// (bytes allocated, peak bytes, RSS) with `x` still alive.
fn at_rest<T>(x: T) -> (isize, isize, isize) {
    let r = (allocated(), peak(), rss_bytes());
    black_box(&x);
    r
}

/// Child-process entry: builds one structure with allocation counting on and
/// prints `MEMPROBE <bytes/record after> <peak bytes/record> <rss bytes/record>`.
pub fn mem_probe(which: &str, o: &Opts) {
    let w = o.workload();
    let n = w.ts.len() as f64;
    let base = allocated();
    let rss0 = rss_bytes();
    reset_peak();
    let (after, peak, rss) = match which {
        "engine" => {
            let log: Timelog<u64> = crate::baselines::engine_log();
            engine_ingest(&log, &w);
            log.flush();
            // The resting state after ingest + flush: a background compaction may
            // still be running when `flush` returns (its output allocated, its
            // inputs not yet freed) — a transient that the peak figure covers. Let
            // it finish (stopping the worker waits for the job in hand), then let
            // `flush` return what it retired.
            log.stop_maintenance().expect("background mode");
            log.flush();
            let after = allocated();
            let rss = rss_bytes();
            let st = log.stats();
            eprintln!(
                "  engine probe: at that point {:.1} B/rec live (stats().memory_bytes), {} L0 segments",
                st.memory_bytes as f64 / n,
                st.l0_segments
            );
            // The peak covers ingest, the background compactions during it, the
            // flush and a full compaction of everything.
            log.compact_now();
            let compacted = allocated();
            reclaim_deferred();
            eprintln!(
                "  engine probe: after ingest + flush {:.1} B/rec, after compact_now {:.1} B/rec, \
                 after epoch reclamation {:.1} B/rec, stats().memory_bytes {:.1} B/rec",
                (after - base) as f64 / n,
                (compacted - base) as f64 / n,
                (allocated() - base) as f64 / n,
                log.stats().memory_bytes as f64 / n
            );
            black_box(&log);
            (after, peak(), rss)
        }
        "engine_manual" => {
            // The same ingest with maintenance driven by this thread, so that the
            // epoch garbage of every flush and compaction is in this thread's bag
            // and can be reclaimed: what the engine needs, without what the
            // background threads' deferred frees keep alive.
            let log: Timelog<u64> = crate::baselines::engine_builder()
                .maintenance(MaintenanceMode::Manual)
                .build()
                .expect("valid config");
            for (b, (ts, vals)) in w.batches().enumerate() {
                let _ = log.append_columns(ts.to_vec(), vals.to_vec());
                if b % 16 == 15 {
                    while log.maint_step().expect("manual mode") {}
                }
            }
            log.flush();
            reclaim_deferred();
            let after = allocated();
            let rss = rss_bytes();
            log.compact_now();
            black_box(&log);
            (after, peak(), rss)
        }
        "vec_floor" => at_rest(floor_ingest(&w)),
        "btree" => at_rest(btree_build(&w)),
        "skiplist" => at_rest(skip_build(&w)),
        other => panic!("unknown probe {other:?}"),
    };
    println!(
        "MEMPROBE {} {} {}",
        (after - base) as f64 / n,
        (peak - base) as f64 / n,
        (rss - rss0) as f64 / n
    );
}

/// Runs the memory probes in child processes and records their figures.
pub fn run_memory(o: &Opts, s: &mut Samples) {
    let exe = std::env::current_exe().expect("own path");
    // The engine's figure after ingest + flush depends on where the background
    // compaction is at that instant (its output is allocated before its inputs
    // are freed): three runs, and the median, like every other figure.
    let runs = o.repeats.clamp(1, 3);
    for imp in IMPLS.into_iter().chain(["engine_manual"]).flat_map(|imp| std::iter::repeat_n(imp, runs)) {
        let out = Command::new(&exe)
            .args(["--mem-probe", imp, "--records", &o.records.to_string(), "--ooo", &o.ooo.to_string()])
            .args(["--dataset", o.dataset.name()])
            .output()
            .expect("run the memory probe");
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("MEMPROBE "))
            .unwrap_or_else(|| panic!("memory probe {imp} failed: {text}"));
        let f: Vec<f64> = line.split_whitespace().map(|x| x.parse().expect("number")).collect();
        s.add("memory", imp, f[0]);
        s.add("memory_peak", imp, f[1]);
        s.add("memory_rss", imp, f[2]);
    }
}
