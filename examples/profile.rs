//! One-scenario drivers to run under `perf` or `time`: the canonical workload
//! (5 M records, 5 % out of order) with the default configuration.
//!
//! - `ingest N`: N ingests into fresh logs (background maintenance), each with its
//!   final `flush()`; compare process CPU (`/usr/bin/time`) or profile the
//!   `timelog-flush` threads.
//! - `scan N`: one compacted log, N full scans of each kind (values only; timestamps
//!   and values); prints the best rate of each.
//!
//! `cargo run --release --example profile -- ingest 10`

use std::time::Instant;

use timelog::Timelog;
use timelog_compare::workload::Workload;

fn ingest(w: &Workload) -> Timelog<u64> {
    let log: Timelog<u64> = Timelog::builder().build().expect("valid configuration");
    for (ts, vals) in w.batches() {
        let _ = log.append_columns(ts.to_vec(), vals.to_vec());
    }
    log.flush();
    log
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mode, reps) = match (args.next(), args.next().map(|n| n.parse::<usize>())) {
        (Some(m), Some(Ok(n))) if (m == "ingest" || m == "scan") && n > 0 => (m, n),
        _ => {
            eprintln!("usage: profile ingest|scan N");
            std::process::exit(2);
        }
    };
    let w = Workload::new(5_000_000, 0.05);
    if mode == "ingest" {
        for _ in 0..reps {
            drop(ingest(&w));
        }
        return;
    }
    let log = ingest(&w);
    log.compact_now();
    let snap = log.snapshot();
    let mut best = [f64::MAX; 2];
    let mut check = 0u64;
    for _ in 0..reps {
        let t = Instant::now();
        check = check.wrapping_add(snap.range(..).fold(0u64, |a, (_, v)| a.wrapping_add(*v)));
        best[0] = best[0].min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        check = check.wrapping_add(snap.range(..).fold(0u64, |a, (ts, v)| a.wrapping_add(ts as u64 ^ *v)));
        best[1] = best[1].min(t.elapsed().as_secs_f64());
    }
    let rate = |s: f64| w.ts.len() as f64 / s / 1e6;
    println!(
        "values only {:.1} M rec/s, timestamps and values {:.1} M rec/s (best of {reps}; check {check})",
        rate(best[0]),
        rate(best[1])
    );
}
