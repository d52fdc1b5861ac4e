//! One writer against two on the write path alone: the canonical workload's
//! batches (1 M records, 5 % out of order) appended with `append_columns`, manual
//! maintenance, no flush — the setting of the `SkipMap` / `RwLock<BTreeMap>`
//! baselines. Prints medians (and best) of `--runs` runs, each on a fresh log.
//!
//! `cargo run --release --example write_scaling -- --runs 20`

use std::time::Instant;

use timelog::{MaintenanceMode, Timelog};
use timelog_compare::workload::Workload;

fn main() {
    let mut runs = 20usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--runs", Some(v)) => runs = v.parse().expect("--runs N"),
            _ => {
                eprintln!("usage: write_scaling [--runs N]");
                std::process::exit(2);
            }
        }
    }
    let n = 1_000_000usize;
    let w = Workload::new(n, 0.05);
    let mut medians = [0.0f64; 3];
    for k in [1usize, 2] {
        let mut rates: Vec<f64> = (0..runs.max(1))
            .map(|_| {
                let log: Timelog<u64> = Timelog::builder()
                    .maintenance(MaintenanceMode::Manual)
                    .sealed_max_runs(1 << 20)
                    .build()
                    .expect("valid configuration");
                let t = Instant::now();
                std::thread::scope(|s| {
                    for me in 0..k {
                        let (w, log) = (&w, &log);
                        s.spawn(move || {
                            for (_, ts, vals) in w.writer_batches(me, k) {
                                let _ = log.append_columns(ts.to_vec(), vals.to_vec());
                            }
                        });
                    }
                });
                n as f64 / t.elapsed().as_secs_f64() / 1e6
            })
            .collect();
        rates.sort_by(|a, b| a.total_cmp(b));
        medians[k] = rates[rates.len() / 2];
        println!(
            "{k} writer(s): median {:.1} M rec/s, best {:.1} M rec/s",
            medians[k],
            rates[rates.len() - 1]
        );
    }
    println!("2 writers / 1 writer: {:.2}x", medians[2] / medians[1]);
}
