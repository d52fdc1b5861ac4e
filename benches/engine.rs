//! Criterion benches of the engine on the canonical workload (`timelog_compare::workload`):
//! ingest (batches and single appends, each including the final flush, at 0, 5
//! and 20 % out of order), compaction, reads after flush + compaction (full and
//! reverse scan, range `[t, t + 1000)`, point, count, first/last/next/prev),
//! `delete_range` and the scan after deletes, two writers against one, and a
//! writer against two scanning readers.
//!
//! Sizes are cut for a 2-core machine: `N = 1,000,000` records, 10 samples and
//! short measurement times, so that `cargo bench --bench engine` takes a few
//! minutes. The same-process comparison with the baselines (Vec floor, BTreeMap, SkipMap) is the
//! `timelog-compare` binary; these benches track the engine alone over time.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use timelog::{MaintenanceMode, Timelog};
use timelog_compare::workload::{Workload, XorShift64};

/// Records of the canonical workload used by every bench.
const N: usize = 1_000_000;
/// The canonical out-of-order rate.
const OOO: f64 = 0.05;
/// Width of the range queries.
const RANGE_WIDTH: i64 = 1_000;
/// Width of each deleted range.
const DELETE_WIDTH: i64 = 100;
/// Deletes applied to one log before the `delete_range` bench starts a fresh one
/// (keeps the tombstone count bounded however many iterations criterion asks for).
const DELETES_PER_LOG: u64 = 100_000;

/// A group with the settings of a slow, whole-workload bench: 10 flat samples.
fn slow_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    g
}

/// A group with the settings of a fast, per-operation bench.
fn fast_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(1));
    g
}

/// Appends every batch of `w` as owned columns (the copy is part of handing a
/// batch over, as in the demo and `timelog-compare`).
fn ingest_batches(log: &Timelog<u64>, w: &Workload) {
    for (ts, vals) in w.batches() {
        let _ = log.append_columns(ts.to_vec(), vals.to_vec());
    }
}

/// Appends every record of `w` one by one.
fn ingest_single(log: &Timelog<u64>, w: &Workload) {
    for (&t, &v) in w.ts.iter().zip(&w.values) {
        let _ = log.append(t, v);
    }
}

/// A log holding `w`, flushed and fully compacted.
fn compacted_log(w: &Workload) -> Timelog<u64> {
    let log = Timelog::new();
    ingest_batches(&log, w);
    log.compact_now();
    log
}

/// Runs `setup` untimed and `timed` timed, `iters` times, each on a fresh value.
fn fresh_each<T>(iters: u64, setup: impl Fn() -> T, timed: impl Fn(&T)) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let x = setup();
        let t = Instant::now();
        timed(&x);
        total += t.elapsed();
        drop(x);
    }
    total
}

/// Random query starts in `[1, max_ts]` (xorshift64 with the given state).
fn query_starts(w: &Workload, seed: u64, count: usize) -> Vec<i64> {
    let max = *w.ts.iter().max().expect("records") as u64;
    let mut rng = XorShift64::new(seed);
    (0..count).map(|_| 1 + (rng.next_u64() % max) as i64).collect()
}

/// Batch and single-append ingest, each including the final flush, at 0, 5 and 20 % out of order.
fn ingest(c: &mut Criterion) {
    let mut g = slow_group(c, "ingest");
    g.throughput(Throughput::Elements(N as u64));
    for ooo in [0.0, 0.05, 0.20] {
        let w = Workload::new(N, ooo);
        let label = format!("ooo{}pct", (ooo * 100.0_f64).round());
        g.bench_with_input(BenchmarkId::new("batch_flush", &label), &w, |b, w| {
            b.iter_custom(|iters| {
                fresh_each(iters, Timelog::<u64>::new, |log| {
                    ingest_batches(log, w);
                    log.flush();
                })
            })
        });
        g.bench_with_input(BenchmarkId::new("single_flush", &label), &w, |b, w| {
            b.iter_custom(|iters| {
                fresh_each(iters, Timelog::<u64>::new, |log| {
                    ingest_single(log, w);
                    log.flush();
                })
            })
        });
    }
    g.finish();
}

/// A full compaction (`compact_now`) of a freshly ingested and flushed log. The
/// log runs in manual maintenance mode so that nothing is compacted before the
/// timer starts: the flush leaves one L0 segment per memtable (about 23 at 1 M).
fn compaction(c: &mut Criterion) {
    let w = Workload::new(N, OOO);
    let mut g = slow_group(c, "maintenance");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("compact_now", |b| {
        b.iter_custom(|iters| {
            fresh_each(
                iters,
                || {
                    let log: Timelog<u64> = Timelog::builder()
                        .maintenance(MaintenanceMode::Manual)
                        .build()
                        .expect("valid config");
                    ingest_batches(&log, &w);
                    log.flush();
                    assert!(log.stats().l0_segments > 1, "nothing left to compact");
                    log
                },
                |log| log.compact_now(),
            )
        })
    });
    g.finish();
}

/// Reads on a flushed and compacted log: scans, range, point, count, navigation.
fn reads(c: &mut Criterion) {
    let w = Workload::new(N, OOO);
    let log = compacted_log(&w);
    let snap = log.snapshot();
    let starts = query_starts(&w, 777, 10_000);
    let mut rng = XorShift64::new(778);
    let points: Vec<i64> = (0..100_000).map(|_| w.ts[(rng.next_u64() % N as u64) as usize]).collect();

    let mut g = slow_group(c, "scan");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("full_scan", |b| b.iter(|| snap.range(..).fold(0u64, |a, (_, v)| a.wrapping_add(*v))));
    g.bench_function("reverse_scan", |b| {
        b.iter(|| snap.range(..).rev().fold(0u64, |a, (_, v)| a.wrapping_add(*v)))
    });
    g.finish();

    let mut g = fast_group(c, "query");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    let mut next = |qs: &[i64]| {
        i = (i + 1) % qs.len();
        qs[i]
    };
    g.bench_function("range_1000", |b| {
        b.iter(|| {
            let t = next(&starts);
            snap.range(t..t + RANGE_WIDTH).fold(0u64, |a, (_, v)| a.wrapping_add(*v))
        })
    });
    g.bench_function("point", |b| {
        b.iter(|| {
            let t = next(&points);
            snap.point(t).fold(0u64, |a, v| a.wrapping_add(*v))
        })
    });
    g.bench_function("count_1000", |b| {
        b.iter(|| {
            let t = next(&starts);
            snap.count(t..t + RANGE_WIDTH)
        })
    });
    g.bench_function("count_all", |b| b.iter(|| snap.count(..)));
    g.bench_function("first_ts", |b| b.iter(|| snap.first_ts()));
    g.bench_function("last_ts", |b| b.iter(|| snap.last_ts()));
    g.bench_function("next_ts", |b| b.iter(|| snap.next_ts(next(&starts))));
    g.bench_function("prev_ts", |b| b.iter(|| snap.prev_ts(next(&starts))));
    g.bench_function("snapshot", |b| b.iter(|| log.snapshot()));
    g.finish();
}

/// `delete_range` calls of width 100 at random places, and a full scan after
/// 1,000 of them.
fn deletes(c: &mut Criterion) {
    let w = Workload::new(N, OOO);
    let starts = query_starts(&w, 779, 100_000);

    let mut g = fast_group(c, "delete");
    g.throughput(Throughput::Elements(1));
    g.bench_function("delete_range", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            let mut k = 0usize;
            while done < iters {
                let log = compacted_log(&w);
                let chunk = (iters - done).min(DELETES_PER_LOG);
                let t = Instant::now();
                for _ in 0..chunk {
                    let a = starts[k % starts.len()];
                    k += 1;
                    black_box(log.delete_range(a..a + DELETE_WIDTH).expect("valid range"));
                }
                total += t.elapsed();
                done += chunk;
                drop(log);
            }
            total
        })
    });
    g.finish();

    // Sustained: every sample is DELETES_PER_LOG calls on one log, so the
    // tombstones' flushes, pruning and rewrites run (in the background) while
    // the deletes go on, and their cost shows in the per-call time.
    let mut g = slow_group(c, "delete");
    g.throughput(Throughput::Elements(DELETES_PER_LOG));
    g.bench_function("delete_range_sustained", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let log = compacted_log(&w);
                let t = Instant::now();
                for k in 0..DELETES_PER_LOG as usize {
                    let a = starts[k % starts.len()];
                    black_box(log.delete_range(a..a + DELETE_WIDTH).expect("valid range"));
                }
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();

    let log = compacted_log(&w);
    for &a in &starts[..1_000] {
        log.delete_range(a..a + DELETE_WIDTH).expect("valid range");
    }
    let snap = log.snapshot();
    let visible = snap.count(..);
    let mut g = slow_group(c, "delete");
    g.throughput(Throughput::Elements(visible as u64));
    g.bench_function("scan_after_1000_deletes", |b| {
        b.iter(|| snap.range(..).fold(0u64, |a, (_, v)| a.wrapping_add(*v)))
    });
    g.finish();
}

/// One writer against two (batches split even/odd), each including the final flush.
fn writers(c: &mut Criterion) {
    let w = Workload::new(N, OOO);
    let mut g = slow_group(c, "writers");
    g.throughput(Throughput::Elements(N as u64));
    for k in [1usize, 2] {
        g.bench_with_input(BenchmarkId::from_parameter(k), &k, |b, &k| {
            b.iter_custom(|iters| {
                fresh_each(iters, Timelog::<u64>::new, |log| {
                    std::thread::scope(|s| {
                        for me in 0..k {
                            let w = &w;
                            s.spawn(move || {
                                for (_, ts, vals) in w.writer_batches(me, k) {
                                    let _ = log.append_columns(ts.to_vec(), vals.to_vec());
                                }
                            });
                        }
                    });
                    log.flush();
                })
            })
        });
    }
    g.finish();
}

/// The write path alone: one writer against two with maintenance in manual mode and
/// no flush, i.e. ingest into memtables only — the setting of the `BTreeMap` and
/// `SkipMap` baselines, which do no maintenance either.
fn writers_write_path(c: &mut Criterion) {
    let w = Workload::new(N, OOO);
    let mut g = slow_group(c, "writers_write_path");
    g.throughput(Throughput::Elements(N as u64));
    let manual = || {
        Timelog::<u64>::builder()
            .maintenance(MaintenanceMode::Manual)
            .sealed_max_runs(1 << 20)
            .build()
            .expect("valid configuration")
    };
    for k in [1usize, 2] {
        g.bench_with_input(BenchmarkId::from_parameter(k), &k, |b, &k| {
            b.iter_custom(|iters| {
                fresh_each(iters, manual, |log| {
                    std::thread::scope(|s| {
                        for me in 0..k {
                            let w = &w;
                            s.spawn(move || {
                                for (_, ts, vals) in w.writer_batches(me, k) {
                                    let _ = log.append_columns(ts.to_vec(), vals.to_vec());
                                }
                            });
                        }
                    });
                })
            })
        });
    }
    g.finish();
}

/// A writer appending 1 M more records to a compacted 1 M log, alone and while
/// 2 threads scan fresh snapshots in a loop.
fn readers_vs_writer(c: &mut Criterion) {
    let w = Workload::new(N, OOO);
    let extra = Workload::new(N, OOO);
    let base = *w.ts.iter().max().expect("records");
    let more: Vec<(Vec<i64>, Vec<u64>)> =
        extra.batches().map(|(ts, vals)| (ts.iter().map(|t| t + base).collect(), vals.to_vec())).collect();
    let mut g = slow_group(c, "readers_vs_writer");
    g.throughput(Throughput::Elements(N as u64));
    for readers in [0usize, 2] {
        g.bench_with_input(
            BenchmarkId::new("writer", format!("{readers}_readers")),
            &readers,
            |b, &readers| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let log = compacted_log(&w);
                        let stop = AtomicBool::new(false);
                        total += std::thread::scope(|s| {
                            for _ in 0..readers {
                                s.spawn(|| {
                                    while !stop.load(Ordering::Relaxed) {
                                        black_box(log.snapshot().range(..).count());
                                    }
                                });
                            }
                            let t = Instant::now();
                            for (ts, vals) in &more {
                                let _ = log.append_columns(ts.clone(), vals.clone());
                            }
                            let d = t.elapsed();
                            stop.store(true, Ordering::Relaxed);
                            d
                        });
                    }
                    total
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, ingest, compaction, reads, deletes, writers, writers_write_path, readers_vs_writer);
criterion_main!(benches);
