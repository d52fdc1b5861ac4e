//! Concurrency stress: two writer threads, two reader threads and the background
//! maintenance worker (tiny memtable, so seals, flushes and compactions interleave
//! with everything) run for `TIMELOG_STRESS_SECS` seconds (default 3) per test.
//!
//! Writers write numbered batches (`append_batch`, plus single `append`s as batches
//! of one) whose values encode (writer, batch, index, size), with mostly-increasing,
//! overlapping, duplicate-heavy and sometimes late timestamps. Around each batch a
//! writer publishes "batch k started" (before the call) and "batch k complete"
//! (after it returns). Readers read "complete" before taking a snapshot and
//! "started" after it, and check on the snapshot:
//! - timestamps never decrease, and records of one writer with equal timestamps
//!   come in write order;
//! - every batch is entirely present or entirely absent (atomicity), with no
//!   record duplicated;
//! - every batch completed before the snapshot is present, no batch started
//!   after it is, and each writer's visible batches form a prefix of its batches;
//! - the reverse scan is the forward scan reversed, `count(..)` is the scan length,
//!   and a sub-range equals the matching slice of the scan.
//!
//! At the end: flush, `validate()`, and the final content is exactly what was
//! written. The second test adds range deletes from a writer thread over a
//! timestamp region nobody writes to after the delete, and checks that a delete
//! completed before a snapshot hides the region whole in it, and a delete started
//! after it hides nothing.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use timelog::{Snapshot, Timelog};
use timelog_testkit::gen::Rng;

const WRITERS: usize = 2;
const READERS: usize = 2;
/// Scratch (deletable) timestamps live below this; regular ones are >= 0.
const SCRATCH_BASE: i64 = -1_000_000_000_000;
/// Batches per deletable zone (writer 0 only, deletes variant only): 64, or
/// `TIMELOG_STRESS_ZONE_BATCHES` (a multiple of 8; `.ci/memcheck.sh` lowers it so
/// that the slow run still deletes several zones).
static ZONE_BATCHES: LazyLock<u32> = LazyLock::new(|| {
    let z: u32 = std::env::var("TIMELOG_STRESS_ZONE_BATCHES").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    assert!(z >= 8 && z.is_multiple_of(8), "TIMELOG_STRESS_ZONE_BATCHES must be a multiple of 8");
    z
});
const ZONE_SPAN: i64 = 1_000;
/// Largest batch (batch bitmaps are u64).
const MAX_BATCH: u64 = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rec {
    w: u32,
    batch: u32,
    idx: u16,
    size: u16,
}

fn secs() -> f64 {
    std::env::var("TIMELOG_STRESS_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(3.0)
}

/// Whether batch `b` of writer `w` goes to the deletable scratch region.
fn scratch(deletes: bool, w: u32, b: u32) -> bool {
    deletes && w == 0 && b.is_multiple_of(8)
}

fn zone(b: u32) -> u32 {
    b / *ZONE_BATCHES
}

#[derive(Default)]
struct Shared {
    started: [AtomicU32; WRITERS],
    completed: [AtomicU32; WRITERS],
    /// Zones whose delete has been started / has returned (writer 0).
    del_started: AtomicU32,
    del_done: AtomicU32,
    stop_writers: AtomicBool,
    stop_readers: AtomicBool,
}

/// What a reader knew around its snapshot.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    completed_before: [u32; WRITERS],
    started_after: [u32; WRITERS],
    del_done_before: u32,
    del_started_after: u32,
}

/// Checks one full scan against the protocol; `Err` describes the first violation.
fn check_scan(scan: &[(i64, Rec)], k: &Bounds, deletes: bool) -> Result<(), String> {
    // Order.
    let mut last: [Option<(u32, u16)>; WRITERS] = [None; WRITERS];
    for i in 0..scan.len() {
        let (t, r) = scan[i];
        if i > 0 {
            let pt = scan[i - 1].0;
            if t < pt {
                return Err(format!("ts decreases at {i}: {pt} then {t}"));
            }
            if t != pt {
                last = [None; WRITERS];
            }
        }
        let key = (r.batch, r.idx);
        if let Some(p) = last[r.w as usize] {
            if key <= p {
                return Err(format!("writer {} at ts {t}: (batch, idx) {key:?} after {p:?}", r.w));
            }
        }
        last[r.w as usize] = Some(key);
    }
    // Atomicity, completeness, no future batches, no duplicates.
    let mut masks: Vec<Vec<u64>> = vec![Vec::new(); WRITERS];
    let mut sizes: Vec<Vec<u16>> = vec![Vec::new(); WRITERS];
    let mut zone_present: Vec<bool> = Vec::new();
    for &(t, r) in scan {
        let w = r.w as usize;
        if r.batch == 0 || r.batch > k.started_after[w] {
            return Err(format!(
                "{r:?} at ts {t} is visible but writer {w} had only started batch {}",
                k.started_after[w]
            ));
        }
        let b = r.batch as usize;
        if masks[w].len() <= b {
            masks[w].resize(b + 1, 0);
            sizes[w].resize(b + 1, 0);
        }
        let bit = 1u64 << r.idx;
        if masks[w][b] & bit != 0 {
            return Err(format!("{r:?} appears twice"));
        }
        masks[w][b] |= bit;
        sizes[w][b] = r.size;
        let s = scratch(deletes, r.w, r.batch);
        if s != (t < 0) {
            return Err(format!("{r:?} at ts {t} in the wrong region"));
        }
        if s {
            let z = zone(r.batch);
            if z < k.del_done_before {
                return Err(format!(
                    "{r:?} at ts {t}: zone {z} was deleted before the snapshot ({} zones done)",
                    k.del_done_before
                ));
            }
            if zone_present.len() <= z as usize {
                zone_present.resize(z as usize + 1, false);
            }
            zone_present[z as usize] = true;
        }
    }
    for w in 0..WRITERS {
        let top = (masks[w].len().saturating_sub(1)).max(k.completed_before[w] as usize);
        for b in 1..=top {
            let m = masks[w].get(b).copied().unwrap_or(0);
            let n = m.count_ones() as u16;
            if n > 0 {
                let size = sizes[w].get(b).copied().unwrap_or(0);
                if n != size {
                    return Err(format!("torn batch: writer {w} batch {b} shows {n} of {size} records"));
                }
            } else {
                // Missing: allowed only above both the last batch completed before
                // the snapshot and the last one visible (a writer's batches become
                // visible in order: the visible ones form a prefix), or when the
                // batch's zone may have been deleted.
                let b32 = b as u32;
                let maybe_deleted = scratch(deletes, w as u32, b32)
                    && zone(b32) < k.del_started_after
                    && !zone_present.get(zone(b32) as usize).copied().unwrap_or(false);
                if !maybe_deleted {
                    return Err(format!(
                        "writer {w} batch {b} is missing, but {} batches were complete before \
                         the snapshot and batch {} is visible",
                        k.completed_before[w],
                        masks[w].len().saturating_sub(1)
                    ));
                }
            }
        }
    }
    Ok(())
}

fn check_snapshot(snap: &Snapshot<Rec>, k: &Bounds, deletes: bool, rng: &mut Rng) -> Result<usize, String> {
    let scan: Vec<(i64, Rec)> = snap.range(..).map(|(t, r)| (t, *r)).collect();
    check_scan(&scan, k, deletes)?;
    let mut back: Vec<(i64, Rec)> = snap.range(..).rev().map(|(t, r)| (t, *r)).collect();
    back.reverse();
    if back != scan {
        let i = back.iter().zip(&scan).position(|(a, b)| a != b);
        return Err(format!(
            "reverse scan differs from the forward scan (lengths {} / {}, first difference at {i:?})",
            back.len(),
            scan.len()
        ));
    }
    let c = snap.count(..);
    if c != scan.len() {
        return Err(format!("count(..) = {c} but the scan has {}", scan.len()));
    }
    if !scan.is_empty() {
        let a = scan[rng.below(scan.len() as u64) as usize].0;
        let b = scan[rng.below(scan.len() as u64) as usize].0;
        let (a, b) = (a.min(b), a.max(b));
        let want: Vec<(i64, Rec)> = scan.iter().filter(|r| r.0 >= a && r.0 < b).copied().collect();
        let got: Vec<(i64, Rec)> = snap.range(a..b).map(|(t, r)| (t, *r)).collect();
        if got != want {
            return Err(format!("range({a}..{b}) differs from the scan's slice"));
        }
        if snap.count(a..b) != want.len() {
            return Err(format!("count({a}..{b}) differs from the scan's slice"));
        }
    }
    Ok(scan.len())
}

fn writer(log: &Timelog<Rec>, sh: &Shared, w: u32, deletes: bool) -> Vec<(i64, Rec)> {
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15 + w as u64 * 0x1234_5678);
    let mut out: Vec<(i64, Rec)> = Vec::new();
    let mut cur: i64 = 0;
    let mut b: u32 = 0;
    while !sh.stop_writers.load(SeqCst) {
        b += 1;
        if deletes && w == 0 && b.is_multiple_of(*ZONE_BATCHES) {
            // Zone z-1 is never written again: delete it before starting zone z.
            let z = zone(b);
            let lo = SCRATCH_BASE + (z as i64 - 1) * ZONE_SPAN;
            sh.del_started.store(z, SeqCst);
            log.delete_range(lo..lo + ZONE_SPAN).unwrap();
            sh.del_done.store(z, SeqCst);
        }
        let single = rng.below(4) == 0;
        let size = if single { 1 } else { 1 + rng.below(MAX_BATCH) as u16 };
        let mut recs: Vec<(i64, Rec)> = Vec::with_capacity(size as usize);
        let shape = rng.below(8);
        for idx in 0..size {
            let t = if scratch(deletes, w, b) {
                SCRATCH_BASE + zone(b) as i64 * ZONE_SPAN + rng.below(ZONE_SPAN as u64) as i64
            } else {
                match shape {
                    0 => cur,                                            // all duplicates
                    1 => (cur - 5_000 + rng.below(5_000) as i64).max(0), // late
                    2 => cur + idx as i64,                               // sorted
                    _ => (cur + rng.below(32) as i64 - 16).max(0),       // overlapping
                }
            };
            recs.push((t, Rec { w, batch: b, idx, size }));
        }
        cur += rng.below(8) as i64;
        sh.started[w as usize].store(b, SeqCst);
        if single {
            let _ = log.append(recs[0].0, recs[0].1);
        } else {
            let _ = log.append_batch(recs.iter().copied());
        }
        sh.completed[w as usize].store(b, SeqCst);
        out.extend(recs);
        if b.is_multiple_of(512) {
            // Let the readers and the worker breathe on a shared 2-core box.
            std::thread::yield_now();
        }
    }
    out
}

fn reader(log: &Timelog<Rec>, sh: &Shared, id: u64, deletes: bool) -> (u64, usize) {
    let mut rng = Rng::new(0xABCD_EF01_2345_6789 ^ id);
    let mut checks = 0u64;
    let mut max_len = 0;
    loop {
        let done = sh.stop_readers.load(SeqCst);
        let completed_before = [sh.completed[0].load(SeqCst), sh.completed[1].load(SeqCst)];
        let del_done_before = sh.del_done.load(SeqCst);
        let snap = log.snapshot();
        let started_after = [sh.started[0].load(SeqCst), sh.started[1].load(SeqCst)];
        let del_started_after = sh.del_started.load(SeqCst);
        let k = Bounds { completed_before, started_after, del_done_before, del_started_after };
        match check_snapshot(&snap, &k, deletes, &mut rng) {
            Ok(n) => max_len = max_len.max(n),
            Err(e) => panic!("reader {id}, check {checks}: {e}\n  bounds: {k:?}"),
        }
        checks += 1;
        if done {
            return (checks, max_len);
        }
    }
}

/// The two tests share the machine: run them one after the other.
static SERIAL: Mutex<()> = Mutex::new(());

fn run(deletes: bool) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let log: Timelog<Rec> = Timelog::builder()
        .memtable_max_bytes(4 << 10)
        .target_page_bytes(512)
        .max_l0_segments(2)
        .window_size(4_096)
        .sealed_max_runs(4)
        .sealed_wait(Duration::from_millis(1))
        .maintenance_wakeup(Duration::from_millis(1))
        .build()
        .unwrap();
    let sh = Shared::default();
    let dur = Duration::from_secs_f64(secs());
    let t0 = Instant::now();
    let (written, reads) = std::thread::scope(|s| {
        let writers: Vec<_> = (0..WRITERS as u32)
            .map(|w| {
                let (log, sh) = (&log, &sh);
                s.spawn(move || writer(log, sh, w, deletes))
            })
            .collect();
        let readers: Vec<_> = (0..READERS as u64)
            .map(|id| {
                let (log, sh) = (&log, &sh);
                s.spawn(move || reader(log, sh, id, deletes))
            })
            .collect();
        while t0.elapsed() < dur {
            std::thread::sleep(Duration::from_millis(10));
        }
        sh.stop_writers.store(true, SeqCst);
        let written: Vec<Vec<(i64, Rec)>> = writers.into_iter().map(|h| h.join().unwrap()).collect();
        sh.stop_readers.store(true, SeqCst);
        let reads: Vec<(u64, usize)> = readers.into_iter().map(|h| h.join().unwrap()).collect();
        (written, reads)
    });
    for (i, &(checks, _)) in reads.iter().enumerate() {
        assert!(checks >= 2, "reader {i} made only {checks} checks");
    }
    let st = log.stats();
    assert!(
        st.seals > 10 && st.flushes > 10 && st.compactions > 0,
        "maintenance did not interleave with the workload: {st:?}"
    );

    let run_time = t0.elapsed();
    log.flush();
    log.validate().unwrap();
    let final_bounds = Bounds {
        completed_before: [sh.completed[0].load(SeqCst), sh.completed[1].load(SeqCst)],
        started_after: [sh.started[0].load(SeqCst), sh.started[1].load(SeqCst)],
        del_done_before: sh.del_done.load(SeqCst),
        del_started_after: sh.del_started.load(SeqCst),
    };
    assert_eq!(final_bounds.del_done_before, final_bounds.del_started_after);
    let deleted_zones = final_bounds.del_done_before;
    let mut want: Vec<(i64, Rec)> = written
        .into_iter()
        .flatten()
        .filter(|&(_, r)| !(scratch(deletes, r.w, r.batch) && zone(r.batch) < deleted_zones))
        .collect();
    want.sort();
    let total = want.len();
    let mut rng = Rng::new(42);
    for what in ["after flush", "after compaction"] {
        let snap = log.snapshot();
        check_snapshot(&snap, &final_bounds, deletes, &mut rng).unwrap_or_else(|e| panic!("{what}: {e}"));
        let mut got: Vec<(i64, Rec)> = snap.range(..).map(|(t, r)| (t, *r)).collect();
        got.sort();
        assert_eq!(got.len(), total, "{what}: record count");
        assert!(got == want, "{what}: final content differs from what was written");
        assert_eq!(log.stats().records, total);
        log.compact_now();
        log.validate().unwrap();
    }
    if deletes {
        assert!(deleted_zones >= 2, "the delete variant deleted only {deleted_zones} zones");
    }
    eprintln!(
        "stress (deletes: {deletes}): {total} records kept, reader checks {:?}, {} seals, {} flushes, \
         {} compactions, {} zones deleted; {:.1?} running, {:.1?} final checks",
        reads,
        st.seals,
        st.flushes,
        st.compactions,
        deleted_zones,
        run_time,
        t0.elapsed() - run_time
    );
}

#[test]
fn writers_readers_and_worker() {
    run(false);
}

#[test]
fn writers_readers_worker_and_deletes() {
    run(true);
}
