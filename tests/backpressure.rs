//! Backpressure: a full sealed queue is reported by writes and counted in
//! `stats()`, and cleared by `flush`; with the background worker stopped, writers
//! get backpressure at once instead of waiting for a worker that does not run;
//! in manual mode a long L0 backlog is not backpressure.

use std::time::{Duration, Instant};

use timelog::{Accepted, MaintenanceMode, Timelog};
use timelog_testkit::tiny;

#[test]
fn backpressure_is_reported_and_cleared() {
    // Manual mode: nobody flushes, so the sealed queue overflows.
    let log: Timelog<u32> = tiny(MaintenanceMode::Manual).sealed_max_runs(1).build().unwrap();
    let mut saw = false;
    for i in 0..1000 {
        if log.append(i, 0).is_backpressure() {
            saw = true;
            break;
        }
    }
    assert!(saw, "a full sealed queue must report backpressure");
    assert!(log.stats().sealed_memruns > 1);
    assert!(log.stats().backpressure_events > 0);
    log.flush();
    assert_eq!(log.stats().sealed_memruns, 0);
    assert_eq!(log.append(5000, 1).accepted, Accepted::Clean);

    // Background mode with the worker stopped: no wait, backpressure right away.
    let log: Timelog<u32> = tiny(MaintenanceMode::Background)
        .sealed_max_runs(1)
        .sealed_wait(Duration::from_secs(60))
        .build()
        .unwrap();
    log.stop_maintenance().unwrap();
    let t0 = Instant::now();
    let mut saw = false;
    for i in 0..1000 {
        if log.append(i, 0).accepted == Accepted::Backpressure {
            saw = true;
            break;
        }
    }
    assert!(saw, "a stopped worker must not make writers wait for it");
    assert!(t0.elapsed() < Duration::from_secs(30));
    log.start_maintenance().unwrap();
}

/// The L0 backlog limit applies while background workers run; in manual mode L0
/// is the caller's to compact, so a long run of flushes without compaction is not
/// reported as backpressure.
#[test]
fn manual_mode_l0_backlog_is_not_backpressure() {
    let log: Timelog<u64> =
        Timelog::builder().maintenance(MaintenanceMode::Manual).memtable_max_bytes(4 << 10).build().unwrap();
    for k in 0..40i64 {
        for i in 0..200 {
            assert!(!log.append(k * 1_000 + i, 0).is_backpressure(), "flush {k}");
        }
        log.flush();
    }
    assert!(log.stats().l0_segments > 16, "{} L0 segments", log.stats().l0_segments);
}
