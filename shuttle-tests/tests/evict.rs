//! `Timelog::evict` under every interleaving shuttle tries: a writer appends
//! records (unique values, into the evicted range and beside it, late ones
//! among them) while the background worker seals, flushes and compacts on a
//! tiny configuration, and the main thread evicts the same range twice. The
//! bounded delete must hide exactly what each export saw: afterwards, what was
//! evicted and what the log holds are every record written, each once; and each
//! export saw only records of its range.
//!
//! Runs as a std-thread stress test and, with `--cfg timelog_shuttle`, under
//! `shuttle::check_random` and `shuttle::check_pct`.

#[cfg(timelog_shuttle)]
use shuttle::{sync::Arc, thread};
#[cfg(not(timelog_shuttle))]
use std::{sync::Arc, thread};

use std::time::Duration;
use timelog::{MaintenanceMode, Timelog};

fn scenario(writes: u64) {
    let log: Arc<Timelog<u64>> = Arc::new(
        Timelog::builder()
            .memtable_max_bytes(160)
            .target_page_bytes(256)
            .max_l0_segments(1)
            .sealed_max_runs(1)
            .sealed_wait(Duration::ZERO)
            .window_size(4)
            .maintenance(MaintenanceMode::Background)
            .build()
            .unwrap(),
    );
    let writer = {
        let log = log.clone();
        thread::spawn(move || {
            for v in 0..writes {
                // Timestamps 0..8, out of order: half land in the evicted range.
                let ts = ((v * 5) % 8) as i64;
                if v % 3 == 2 {
                    let _ = log.append_batch([(ts, v), (ts.saturating_sub(3), v + 10_000)]);
                } else {
                    let _ = log.append(ts, v);
                }
            }
        })
    };
    let mut evicted: Vec<u64> = Vec::new();
    for _ in 0..2 {
        let got = log
            .evict(0..4, |snap| {
                let rows: Vec<(i64, u64)> = snap.range(0..4).map(|(t, v)| (t, *v)).collect();
                Ok(rows)
            })
            .unwrap();
        assert!(got.iter().all(|&(t, _)| (0..4).contains(&t)), "outside the range: {got:?}");
        evicted.extend(got.into_iter().map(|(_, v)| v));
        thread::yield_now();
    }
    writer.join().unwrap();
    log.flush();
    log.validate().unwrap();
    let mut all = evicted;
    all.extend(log.snapshot().range(..).map(|(_, v)| *v));
    all.sort_unstable();
    let mut want: Vec<u64> = (0..writes).collect();
    want.extend((0..writes).filter(|v| v % 3 == 2).map(|v| v + 10_000));
    want.sort_unstable();
    assert_eq!(all, want, "evicted ∪ log must be everything written, each once");
}

#[cfg(not(timelog_shuttle))]
#[test]
fn evict_stress_with_std_threads() {
    for _ in 0..50 {
        scenario(200);
    }
}

#[cfg(timelog_shuttle)]
fn iterations() -> usize {
    std::env::var("SHUTTLE_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000)
}

#[cfg(timelog_shuttle)]
#[test]
fn evict_shuttle_random_schedules() {
    shuttle::check_random(|| scenario(6), iterations());
}

#[cfg(timelog_shuttle)]
#[test]
fn evict_shuttle_pct_schedules() {
    shuttle::check_pct(|| scenario(6), iterations(), 3);
}
