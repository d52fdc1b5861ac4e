//! Whole-engine schedules: 2 writers, 2 readers and the background maintenance
//! worker on a tiny configuration (seals, flushes and compactions interleave with
//! everything). Every snapshot a reader takes is checked, after the run, against
//! a sequential oracle replayed up to that snapshot's watermark: the writes are
//! tracked (`*_tracked` methods report their sequence numbers), so the oracle
//! knows exactly which writes the snapshot must contain. Readers also check order
//! while running, and that re-reading a snapshot later gives the same answer.
//!
//! The same body runs as a std-thread stress test and, with
//! `--cfg timelog_shuttle`, under `shuttle::check_random` and `shuttle::check_pct`
//! (`SHUTTLE_ITERATIONS` schedules each, default 1,000).

#[cfg(timelog_shuttle)]
use shuttle::{
    sync::{Arc, Mutex},
    thread,
};
#[cfg(not(timelog_shuttle))]
use std::{
    sync::{Arc, Mutex},
    thread,
};

use std::time::Duration;
use timelog::{MaintenanceMode, Snapshot, Timelog, Written};

#[derive(Debug, Clone)]
enum Op {
    Record { ts: i64, seq: u64, v: u64 },
    Delete { lo: i64, hi: i64, seq: u64 },
}

fn replay(ops: &[Op], watermark: u64) -> Vec<(i64, u64)> {
    let tombs: Vec<(i64, i64, u64)> = ops
        .iter()
        .filter_map(|o| match *o {
            Op::Delete { lo, hi, seq } if seq < watermark => Some((lo, hi, seq)),
            _ => None,
        })
        .collect();
    let mut recs: Vec<(i64, u64, u64)> = ops
        .iter()
        .filter_map(|o| match *o {
            Op::Record { ts, seq, v } if seq < watermark => Some((ts, seq, v)),
            _ => None,
        })
        .filter(|&(ts, seq, _)| !tombs.iter().any(|&(lo, hi, q)| lo <= ts && ts < hi && q > seq))
        .collect();
    recs.sort_by_key(|&(ts, seq, _)| (ts, seq));
    recs.into_iter().map(|(ts, _, v)| (ts, v)).collect()
}

/// A snapshot and what a reader read from it at the time.
type Observed = (Snapshot<u64>, Vec<(i64, u64)>);

fn read(snap: &Snapshot<u64>) -> Vec<(i64, u64)> {
    snap.range(..).map(|(t, v)| (t, *v)).collect()
}

/// One run of the scenario. `writes` per writer, `reads` snapshots per reader.
fn scenario(writes: u64, reads: usize) {
    let log: Arc<Timelog<u64>> = Arc::new(
        Timelog::builder()
            .memtable_max_bytes(160)
            .target_page_bytes(256)
            .max_l0_segments(1)
            .sealed_max_runs(1)
            .sealed_wait(Duration::ZERO)
            .window_size(8)
            .maintenance(MaintenanceMode::Background)
            .build()
            .unwrap(),
    );
    let ops: Arc<Mutex<Vec<Op>>> = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for w in 0..2u64 {
        let (log, ops) = (log.clone(), ops.clone());
        handles.push(thread::spawn(move || {
            for i in 0..writes {
                let v = w * 1000 + i;
                let ts = ((i * 3 + w) % 7) as i64; // overlapping, out of order, duplicates
                let mut mine = Vec::new();
                match i % 4 {
                    0 | 1 => {
                        let r: Written = log.append(ts, v);
                        mine.push(Op::Record { ts, seq: r.first_seq, v });
                    }
                    2 => {
                        // Writer 0 sends batches long enough for the batch-run path
                        // (sorted off to the side, one run), with a late record and
                        // equal timestamps; writer 1 short ones (record by record).
                        let batch: Vec<(i64, u64)> = if w == 0 {
                            (0..16u64)
                                .map(|k| (ts + (k / 4) as i64 - 2 * (k == 9) as i64, v + 100 * k))
                                .collect()
                        } else {
                            vec![(ts, v), (ts + 2, v + 500)]
                        };
                        let r = log.append_batch(batch.iter().copied());
                        for (k, &(t, x)) in batch.iter().enumerate() {
                            mine.push(Op::Record { ts: t, seq: r.first_seq + k as u64, v: x });
                        }
                    }
                    _ => {
                        let (lo, hi) = (ts, ts + 2);
                        let r = log.delete_range(lo..hi).unwrap();
                        mine.push(Op::Delete { lo, hi, seq: r.first_seq });
                    }
                }
                ops.lock().unwrap().extend(mine);
            }
        }));
    }
    let mut readers = Vec::new();
    for _ in 0..2 {
        let log = log.clone();
        readers.push(thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..reads {
                let snap = log.snapshot();
                let got = read(&snap);
                assert!(got.windows(2).all(|p| p[0].0 <= p[1].0), "out of order: {got:?}");
                let mut back: Vec<(i64, u64)> = snap.range(..).rev().map(|(t, v)| (t, *v)).collect();
                back.reverse();
                assert_eq!(back, got, "backward scan differs");
                assert_eq!(snap.count(..), got.len());
                seen.push((snap, got));
                thread::yield_now();
            }
            seen
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    let seen: Vec<Observed> = readers.into_iter().flat_map(|h| h.join().unwrap()).collect();
    let ops = ops.lock().unwrap().clone();
    for (snap, got) in &seen {
        let want = replay(&ops, snap.watermark());
        assert_eq!(got, &want, "snapshot at watermark {} disagrees with the oracle", snap.watermark());
        assert_eq!(&read(snap), got, "snapshot changed after it was taken");
    }
    let now = log.snapshot();
    assert_eq!(read(&now), replay(&ops, now.watermark()));
    log.flush();
    log.validate().unwrap();
    let end = log.snapshot();
    assert_eq!(read(&end), replay(&ops, u64::MAX));
}

#[cfg(not(timelog_shuttle))]
#[test]
fn stress_with_std_threads() {
    for _ in 0..20 {
        scenario(40, 20);
    }
}

#[cfg(timelog_shuttle)]
fn iterations() -> usize {
    std::env::var("SHUTTLE_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000)
}

#[cfg(timelog_shuttle)]
#[test]
fn shuttle_random_schedules() {
    shuttle::check_random(|| scenario(4, 2), iterations());
}

#[cfg(timelog_shuttle)]
#[test]
fn shuttle_pct_schedules() {
    shuttle::check_pct(|| scenario(4, 2), iterations(), 3);
}
