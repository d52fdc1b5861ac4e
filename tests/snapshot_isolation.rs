//! Snapshot isolation: a snapshot never changes once taken. Whatever happens after
//! it — single appends (lanes and skiplist), small and large batches, range
//! deletes (including `delete_range(..)`), seals, flushes, compactions, worker
//! stop/start, and finally dropping the log — every snapshot keeps returning
//! exactly the records that were visible when it was taken (full scans both ways,
//! sub-ranges, counts, points, navigation), and a snapshot always sees the
//! writes its own thread completed before taking it.
//!
//! The first test checks every earlier snapshot after every operation of a
//! deterministic random sequence, in both maintenance modes; the second re-reads
//! one snapshot (and its clones) from several threads while a writer, the
//! background worker and a thread forcing flushes and compactions churn the log.

use std::ops::Bound::{Excluded, Included, Unbounded};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use timelog::{MaintenanceMode, Snapshot, Timelog};
use timelog_testkit::bounds::Bounds;
use timelog_testkit::check::{check_snapshot, scan};
use timelog_testkit::gen::Rng;
use timelog_testkit::oracle::{Oracle, View};
use timelog_testkit::tiny;

/// A snapshot, the records it must show, and its name.
type Kept = (Snapshot<u64>, View<u64>, String);

/// A timestamp: mostly in `-200..200`, now and then `i64::MIN` or `i64::MAX`.
fn ts(rng: &mut Rng) -> i64 {
    match rng.below(20) {
        0 => i64::MIN,
        1 => i64::MAX,
        _ => rng.below(400) as i64 - 200,
    }
}

const RANGES: [Bounds; 4] = [
    (Included(-50), Excluded(50)),
    (Excluded(-200), Included(0)),
    (Included(100), Unbounded),
    (Unbounded, Included(i64::MIN)),
];
const PROBES: [i64; 5] = [i64::MIN, -7, 0, 13, i64::MAX];

/// Checks `snap` against the records `want` it must show, on every read method.
fn verify(snap: &Snapshot<u64>, want: &View<u64>, what: &str) {
    check_snapshot(snap, want, &RANGES, &PROBES).unwrap_or_else(|e| panic!("{what}: {e}"));
}

fn isolation_under_every_operation(mode: MaintenanceMode, seed: u64) {
    let log: Timelog<u64> = tiny(mode).memtable_max_bytes(512).window_size(64).build().unwrap();
    let mut rng = Rng::new(seed);
    let mut o = Oracle::new();
    let mut snaps: Vec<Kept> = Vec::new();
    let mut v = 0u64;
    for step in 0..160 {
        let op = rng.below(100);
        let what = match op {
            0..=24 => {
                let t = ts(&mut rng);
                v += 1;
                let _ = log.append(t, v);
                o.append(t, v);
                "append"
            }
            25..=44 => {
                let n = if rng.below(2) == 0 { 1 + rng.below(15) } else { 16 + rng.below(48) };
                let b: Vec<(i64, u64)> = (0..n)
                    .map(|_| {
                        v += 1;
                        (ts(&mut rng), v)
                    })
                    .collect();
                o.append_batch(b.clone());
                let _ = log.append_batch(b);
                "batch"
            }
            45..=59 => {
                let a = ts(&mut rng);
                let z = a.saturating_add(1 + rng.below(120) as i64);
                log.delete_range(a..=z).unwrap();
                o.delete(a..=z);
                "delete_range"
            }
            60..=63 => {
                let t = rng.below(300) as i64 - 150;
                log.delete_before(t).unwrap();
                o.delete_before(t);
                "delete_before"
            }
            64..=65 => {
                log.delete_range(..).unwrap();
                o.delete(..);
                "delete_range(..)"
            }
            66..=75 => {
                log.flush();
                "flush"
            }
            76..=83 => {
                log.compact_now();
                "compact_now"
            }
            84..=89 => {
                log.compact();
                let _ = log.maint_step();
                "compact"
            }
            90..=94 => {
                if mode == MaintenanceMode::Manual {
                    while log.maint_step().unwrap() {}
                } else {
                    log.stop_maintenance().unwrap();
                    let _ = log.append(0, u64::MAX - step);
                    o.append(0, u64::MAX - step);
                    log.start_maintenance().unwrap();
                }
                "maintenance"
            }
            _ => {
                // Read your writes: a snapshot taken now sees everything written so far.
                let w = o.view();
                verify(&log.snapshot(), &w, &format!("{mode:?} step {step}: fresh snapshot"));
                "fresh read"
            }
        };
        let want = o.view();
        let snap = log.snapshot();
        verify(&snap, &want, &format!("{mode:?} step {step} ({what}): new snapshot"));
        snaps.push((snap, want, format!("{mode:?} snapshot after step {step} ({what})")));
        if step % 3 == 0 {
            for (s, w, name) in &snaps {
                verify(s, w, name);
            }
        }
    }
    log.compact_now();
    log.validate().unwrap();
    for (s, w, name) in &snaps {
        verify(s, w, name);
    }
    drop(log);
    // Snapshots outlive the log, unchanged; clones too.
    for (s, w, name) in &snaps {
        verify(s, w, &format!("{name}, log dropped"));
        verify(&s.clone(), w, &format!("{name}, clone"));
    }
}

#[test]
fn snapshots_never_change_manual() {
    for seed in [1, 0xDEAD_BEEF, 0x1234_5678_9ABC] {
        isolation_under_every_operation(MaintenanceMode::Manual, seed);
    }
}

#[test]
fn snapshots_never_change_background() {
    for seed in [7, 0xFEED_F00D, 0x0BAD_CAFE_1234] {
        isolation_under_every_operation(MaintenanceMode::Background, seed);
    }
}

#[test]
fn snapshot_stable_while_log_churns_concurrently() {
    let log: Timelog<u64> = tiny(MaintenanceMode::Background)
        .memtable_max_bytes(1024)
        .max_l0_segments(2)
        .window_size(256)
        .build()
        .unwrap();
    let mut rng = Rng::new(99);
    for i in 0..4_000u64 {
        let _ = log.append(ts(&mut rng), i);
        if i % 500 == 0 {
            log.delete_range(-20..20).unwrap();
        }
        if i == 2_000 {
            log.compact_now();
        }
    }
    let snap = log.snapshot();
    let want = View::new(scan(&snap, ..));
    assert!(want.len() > 1_000);
    let stop = AtomicBool::new(false);
    let dur = Duration::from_millis(1_000);
    std::thread::scope(|s| {
        // Writer: appends, batches and deletes, including a delete of everything.
        s.spawn(|| {
            let mut rng = Rng::new(5);
            let t0 = Instant::now();
            let mut i = 1_000_000u64;
            while t0.elapsed() < dur {
                i += 1;
                match i % 10 {
                    0 => {
                        let _ = log.append_batch((0..40).map(|k| (ts(&mut rng), i * 100 + k)));
                    }
                    1 => {
                        let a = ts(&mut rng);
                        let _ = log.delete_range(a..a.saturating_add(50));
                    }
                    2 if i % 1000 == 2 => {
                        log.delete_range(..).unwrap();
                    }
                    _ => {
                        let _ = log.append(ts(&mut rng), i);
                    }
                }
            }
            stop.store(true, Ordering::Release);
        });
        // Forced flushes and compactions on top of the worker.
        s.spawn(|| {
            while !stop.load(Ordering::Acquire) {
                log.flush();
                log.compact_now();
            }
        });
        // Readers of the old snapshot (and of clones of it).
        for r in 0..2 {
            let (snap, want, stop) = (&snap, &want, &stop);
            s.spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Acquire) || n < 3 {
                    let c = snap.clone();
                    verify(&c, want, &format!("reader {r}, pass {n}"));
                    n += 1;
                }
            });
        }
        // A fresh snapshot, re-read later, does not change either.
        s.spawn(|| {
            while !stop.load(Ordering::Acquire) {
                let s1 = log.snapshot();
                let first = scan(&s1, ..);
                std::thread::sleep(Duration::from_millis(5));
                assert!(scan(&s1, ..) == first, "a fresh snapshot changed while the log churned");
                assert_eq!(s1.count(..), first.len());
            }
        });
    });
    verify(&snap, &want, "after the churn");
    log.validate().unwrap();
    drop(log);
    verify(&snap, &want, "after dropping the log");
}
