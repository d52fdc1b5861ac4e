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

use std::ops::Bound::{self, Excluded, Included, Unbounded};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use timelog::{MaintenanceMode, Snapshot, Timelog};

type Bounds = (Bound<i64>, Bound<i64>);
/// A snapshot, the records it must show, and its name.
type Kept = (Snapshot<u64>, Vec<(i64, u64)>, String);

fn in_bounds(t: i64, b: &Bounds) -> bool {
    (match b.0 {
        Included(a) => t >= a,
        Excluded(a) => t > a,
        Unbounded => true,
    }) && (match b.1 {
        Included(z) => t <= z,
        Excluded(z) => t < z,
        Unbounded => true,
    })
}

#[derive(Default, Clone)]
struct Oracle {
    recs: Vec<(i64, u64, u64)>,
    tombs: Vec<(Bounds, u64)>,
    seq: u64,
}

impl Oracle {
    fn write(&mut self, t: i64, v: u64) {
        self.seq += 1;
        self.recs.push((t, self.seq, v));
    }
    fn delete(&mut self, b: Bounds) {
        self.seq += 1;
        self.tombs.push((b, self.seq));
    }
    fn visible(&self) -> Vec<(i64, u64)> {
        let mut v: Vec<(i64, u64, u64)> = self
            .recs
            .iter()
            .filter(|&&(t, s, _)| !self.tombs.iter().any(|(b, q)| *q > s && in_bounds(t, b)))
            .copied()
            .collect();
        v.sort_by_key(|&(t, s, _)| (t, s));
        v.into_iter().map(|(t, _, x)| (t, x)).collect()
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn ts(&mut self) -> i64 {
        match self.below(20) {
            0 => i64::MIN,
            1 => i64::MAX,
            _ => self.below(400) as i64 - 200,
        }
    }
}

fn scan(snap: &Snapshot<u64>) -> Vec<(i64, u64)> {
    snap.range(..).map(|(t, v)| (t, *v)).collect()
}

/// Checks `snap` against the records `want` it must show, on every read method.
fn verify(snap: &Snapshot<u64>, want: &[(i64, u64)], what: &str) {
    assert!(scan(snap) == want, "{what}: full scan changed");
    let mut back: Vec<(i64, u64)> = snap.range(..).rev().map(|(t, v)| (t, *v)).collect();
    back.reverse();
    assert!(back == want, "{what}: reverse scan changed");
    assert_eq!(snap.count(..), want.len(), "{what}: count(..)");
    assert_eq!(snap.first_ts(), want.first().map(|r| r.0), "{what}: first_ts");
    assert_eq!(snap.last_ts(), want.last().map(|r| r.0), "{what}: last_ts");
    for b in [
        (Included(-50), Excluded(50)),
        (Excluded(-200), Included(0)),
        (Included(100), Unbounded),
        (Unbounded, Included(i64::MIN)),
    ] {
        let w: Vec<(i64, u64)> = want.iter().filter(|r| in_bounds(r.0, &b)).copied().collect();
        let g: Vec<(i64, u64)> = snap.range(b).map(|(t, v)| (t, *v)).collect();
        assert!(g == w, "{what}: range {b:?} changed");
        assert_eq!(snap.count(b), w.len(), "{what}: count {b:?}");
    }
    for p in [i64::MIN, -7, 0, 13, i64::MAX] {
        let w: Vec<u64> = want.iter().filter(|r| r.0 == p).map(|r| r.1).collect();
        assert!(snap.point(p).copied().collect::<Vec<_>>() == w, "{what}: point({p})");
        assert_eq!(snap.next_ts(p), want.iter().find(|r| r.0 > p).map(|r| r.0), "{what}: next_ts({p})");
        assert_eq!(snap.prev_ts(p), want.iter().rev().find(|r| r.0 < p).map(|r| r.0), "{what}: prev_ts({p})");
    }
}

fn isolation_under_every_operation(mode: MaintenanceMode, seed: u64) {
    let log: Timelog<u64> = Timelog::builder()
        .memtable_max_bytes(512)
        .target_page_bytes(256)
        .max_l0_segments(1)
        .window_size(64)
        .sealed_wait(Duration::ZERO)
        .maintenance_wakeup(Duration::from_millis(1))
        .maintenance(mode)
        .build()
        .unwrap();
    let mut rng = Rng(seed);
    let mut o = Oracle::default();
    let mut snaps: Vec<Kept> = Vec::new();
    let mut v = 0u64;
    for step in 0..160 {
        let op = rng.below(100);
        let what = match op {
            0..=24 => {
                let t = rng.ts();
                v += 1;
                let _ = log.append(t, v);
                o.write(t, v);
                "append"
            }
            25..=44 => {
                let n = if rng.below(2) == 0 { 1 + rng.below(15) } else { 16 + rng.below(48) };
                let b: Vec<(i64, u64)> = (0..n)
                    .map(|_| {
                        v += 1;
                        (rng.ts(), v)
                    })
                    .collect();
                for &(t, x) in &b {
                    o.write(t, x);
                }
                let _ = log.append_batch(b);
                "batch"
            }
            45..=59 => {
                let a = rng.ts();
                let z = a.saturating_add(1 + rng.below(120) as i64);
                log.delete_range(a..=z).unwrap();
                o.delete((Included(a), Included(z)));
                "delete_range"
            }
            60..=63 => {
                let t = rng.below(300) as i64 - 150;
                log.delete_before(t).unwrap();
                o.delete((Unbounded, Excluded(t)));
                "delete_before"
            }
            64..=65 => {
                log.delete_range(..).unwrap();
                o.delete((Unbounded, Unbounded));
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
                    o.write(0, u64::MAX - step);
                    log.start_maintenance().unwrap();
                }
                "maintenance"
            }
            _ => {
                // Read your writes: a snapshot taken now sees everything written so far.
                let w = o.visible();
                verify(&log.snapshot(), &w, &format!("{mode:?} step {step}: fresh snapshot"));
                "fresh read"
            }
        };
        let want = o.visible();
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
    let log: Timelog<u64> = Timelog::builder()
        .memtable_max_bytes(1024)
        .target_page_bytes(256)
        .max_l0_segments(2)
        .window_size(256)
        .sealed_wait(Duration::ZERO)
        .maintenance_wakeup(Duration::from_millis(1))
        .build()
        .unwrap();
    let mut rng = Rng(99);
    for i in 0..4_000u64 {
        let _ = log.append(rng.ts(), i);
        if i % 500 == 0 {
            log.delete_range(-20..20).unwrap();
        }
        if i == 2_000 {
            log.compact_now();
        }
    }
    let snap = log.snapshot();
    let want = scan(&snap);
    assert!(want.len() > 1_000);
    let stop = AtomicBool::new(false);
    let dur = Duration::from_millis(1_000);
    std::thread::scope(|s| {
        // Writer: appends, batches and deletes, including a delete of everything.
        s.spawn(|| {
            let mut rng = Rng(5);
            let t0 = Instant::now();
            let mut i = 1_000_000u64;
            while t0.elapsed() < dur {
                i += 1;
                match i % 10 {
                    0 => {
                        let _ = log.append_batch((0..40).map(|k| (rng.ts(), i * 100 + k)));
                    }
                    1 => {
                        let a = rng.ts();
                        let _ = log.delete_range(a..a.saturating_add(50));
                    }
                    2 if i % 1000 == 2 => {
                        log.delete_range(..).unwrap();
                    }
                    _ => {
                        let _ = log.append(rng.ts(), i);
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
                let first = scan(&s1);
                std::thread::sleep(Duration::from_millis(5));
                assert!(scan(&s1) == first, "a fresh snapshot changed while the log churned");
                assert_eq!(s1.count(..), first.len());
            }
        });
    });
    verify(&snap, &want, "after the churn");
    log.validate().unwrap();
    drop(log);
    verify(&snap, &want, "after dropping the log");
}
