//! Deleted data leaves the log: segments whose records are all deleted are
//! dropped whole, partly deleted segments are rewritten alone once the dead share
//! reaches `segment_dead_fraction`, flush copies nothing a tombstone hides, and
//! tombstones retire once they can hide nothing. Under a rolling retention rule
//! (append, `delete_before(now - keep)`, forever) every layer stays bounded.

use std::time::{Duration, Instant};

use timelog::{MaintenanceMode, Timelog};
use timelog_testkit::ledger::{Ledger, Tracked};
use timelog_testkit::{eventually, flush_epoch, run_maintenance};

/// A manual-mode log with small pages (L1 segments of 1,024 `u64` records) and
/// windows of 100,000 timestamps.
fn manual<V: Clone + Send + Sync + 'static>() -> Timelog<V> {
    Timelog::builder()
        .maintenance(MaintenanceMode::Manual)
        .memtable_max_bytes(16 << 10)
        .target_page_bytes(256)
        .window_size(100_000)
        .build()
        .unwrap()
}

/// `n` records at `start..start + n`, compacted into L1.
fn compacted(n: i64) -> Timelog<u64> {
    let log = manual();
    let _ = log.append_batch((0..n).map(|t| (t, t as u64)));
    log.compact_now();
    assert_eq!(log.stats().l0_segments, 0);
    log
}

#[test]
fn whole_dead_segments_are_dropped_without_a_rewrite() {
    let log = compacted(10_240);
    let before = log.stats();
    assert!(before.l1_segments >= 8, "{} L1 segments", before.l1_segments);
    // Delete the first half: whole segments, cut at a segment boundary or not.
    log.delete_before(5_000).unwrap();
    log.flush();
    run_maintenance(&log);
    let after = log.stats();
    assert_eq!(after.records, 10_240 - 5_000);
    assert!(after.segments_dropped >= 4, "{} dropped", after.segments_dropped);
    // At most the one segment straddling 5,000 was rewritten.
    let rewritten = after.compacted_records - before.compacted_records;
    assert!(rewritten <= 1_024, "{rewritten} records rewritten for a delete that kills whole segments");
    assert!(after.l1_segments < before.l1_segments);
    assert_eq!(log.first_ts(), Some(5_000));
    log.validate().unwrap();
}

#[test]
fn a_partly_deleted_segment_is_rewritten_alone() {
    let log = compacted(10_240);
    let before = log.stats();
    let segs = before.l1_segments;
    // 40 % of one segment, in its middle (segments hold 1,024 records each here).
    log.delete_range(3_100..3_500).unwrap();
    log.flush();
    run_maintenance(&log);
    let after = log.stats();
    assert_eq!(after.records, 10_240 - 400);
    assert_eq!(after.dead_records, 0, "the dead records are gone from memory");
    let rewritten = after.compacted_records - before.compacted_records;
    assert!(rewritten > 0 && rewritten <= 1_024, "{rewritten} records rewritten: only the one segment");
    assert_eq!(after.l1_segments, segs);
    assert_eq!(after.tombstones, 0, "the tombstone hides nothing any more");
    log.validate().unwrap();
}

#[test]
fn a_small_dead_share_is_left_in_place_and_counted() {
    let log = compacted(10_240);
    let before = log.stats();
    log.delete_range(3_100..3_110).unwrap(); // 1 % of a segment
    log.flush();
    run_maintenance(&log);
    let after = log.stats();
    assert_eq!(after.compacted_records, before.compacted_records, "no rewrite below the dead share");
    assert_eq!(after.records, 10_230);
    assert_eq!(after.dead_records, 10);
    assert!(after.dead_bytes > 0 && after.dead_bytes < after.memory_bytes / 100);
    assert_eq!(after.live_bytes + after.dead_bytes, after.memory_bytes);
    assert_eq!(after.tombstones, 1, "it still hides records");
}

#[test]
fn dead_fraction_is_configurable() {
    let log: Timelog<u64> = Timelog::builder()
        .maintenance(MaintenanceMode::Manual)
        .target_page_bytes(256)
        .segment_dead_fraction(0.005)
        .build()
        .unwrap();
    let _ = log.append_batch((0..10_240).map(|t| (t, t as u64)));
    log.compact_now();
    let before = log.stats();
    log.delete_range(3_100..3_110).unwrap();
    log.flush();
    run_maintenance(&log);
    let after = log.stats();
    assert!(after.compacted_records > before.compacted_records, "1 % dead is over 0.5 %: rewritten");
    assert_eq!(after.dead_records, 0);
    for bad in [0.0, -0.1, 1.5, f64::NAN] {
        let err = Timelog::<u64>::builder().segment_dead_fraction(bad).config().unwrap_err();
        assert!(err.to_string().contains("segment_dead_fraction"), "{err}");
    }
}

#[test]
fn flush_copies_nothing_a_tombstone_hides() {
    let log: Timelog<u64> = manual();
    let _ = log.append_batch((0..500).map(|t| (t, t as u64)));
    log.delete_range(..).unwrap();
    log.flush();
    let st = log.stats();
    assert_eq!(st.flushed_records, 0);
    assert_eq!(st.l0_segments, 0);
    assert_eq!(st.records, 0);
    let _ = log.append_batch((0..500).map(|t| (t, t as u64)));
    log.delete_range(0..100).unwrap();
    log.flush();
    assert_eq!(log.stats().flushed_records, 400);
}

#[test]
fn tombstones_retire_when_they_can_hide_nothing() {
    let log = compacted(4_096);
    // 400 of the first segment's 1,024 records: over the dead share, so the
    // segment is rewritten and the 50 tombstones have nothing left to hide.
    for k in 0..50 {
        log.delete_range(k * 10..k * 10 + 8).unwrap();
    }
    log.flush();
    run_maintenance(&log);
    let st = log.stats();
    assert_eq!(st.records, 4_096 - 400);
    assert_eq!(st.dead_records, 0);
    assert_eq!(st.tombstones, 0);
    // A tombstone over a range with no record at all retires at the next step.
    log.delete_range(1_000_000..2_000_000).unwrap();
    log.flush();
    run_maintenance(&log);
    assert_eq!(log.stats().tombstones, 0);
    // Records written after a retired delete are visible.
    let _ = log.append(1_500_000, 7);
    assert_eq!(log.count(1_000_000..2_000_000), 1);
}

#[test]
fn deleted_values_are_dropped_once_their_segment_goes() {
    let live = Ledger::new();
    let log: Timelog<Tracked> = manual();
    let _ = log.append_batch((0..8_000).map(|t| (t, live.value(t as u64))));
    log.compact_now();
    assert_eq!(settled_count(&log, &live, 8_000), 8_000);
    log.delete_before(6_000).unwrap();
    log.flush();
    run_maintenance(&log);
    let n = settled_count(&log, &live, 2_000);
    assert!(n <= 2_000 + 1_024, "{n} values alive for 2,000 live records");
    log.compact_now();
    assert_eq!(settled_count(&log, &live, 2_000), 2_000);
    drop(log);
    // Retired manifests still queued in the epoch collector are freed by later pins.
    eventually(Duration::from_secs(10), || {
        flush_epoch(1);
        live.count() == 0
    });
    assert_eq!(live.count(), 0);
    live.assert_no_errors();
}

/// A snapshot taken before the delete keeps its records readable after their
/// segment was dropped from the log.
#[test]
fn a_snapshot_keeps_a_dropped_segment_alive() {
    let log = compacted(4_096);
    let snap = log.snapshot();
    log.delete_range(..).unwrap();
    log.flush();
    run_maintenance(&log);
    assert_eq!(log.stats().l1_segments, 0);
    assert_eq!(log.stats().tombstones, 0);
    assert_eq!(snap.count(..), 4_096);
    assert_eq!(snap.range(..).map(|(_, v)| *v).sum::<u64>(), (0..4_096u64).sum());
}

/// The rolling retention rule, manual mode: layers, tombstones and dead records
/// stay bounded by constants, not by the number of rounds.
#[test]
fn rolling_retention_stays_bounded_manual() {
    let live = Ledger::new();
    let log: Timelog<Tracked> = manual();
    let keep = 20_000i64;
    let mut ts = 0i64;
    let mut worst = (0usize, 0usize, 0usize);
    for round in 0..300 {
        let batch: Vec<(i64, Tracked)> = (0..1_000).map(|i| (ts + i, live.value((ts + i) as u64))).collect();
        ts += 1_000;
        let _ = log.append_batch(batch);
        log.delete_before(ts - keep).unwrap();
        run_maintenance(&log);
        let st = log.stats();
        let expect = keep.min(ts) as usize;
        assert_eq!(st.records, expect, "round {round}");
        if round >= 30 {
            worst.0 = worst.0.max(st.tombstones);
            worst.1 = worst.1.max(st.l0_segments + st.l1_segments);
            worst.2 = worst.2.max(st.dead_records);
        }
    }
    let (tombs, segs, dead) = worst;
    assert!(tombs <= 4, "{tombs} tombstones");
    // 20,000 live records in L1 segments of up to 1,024 records, plus a few L0.
    assert!(segs <= 60, "{segs} segments");
    // Dead records: under a quarter of a segment each for the segments at the edge,
    // plus what the memtable holds.
    assert!(dead <= 3_000, "{dead} dead records");
    log.flush();
    log.compact_now();
    assert_eq!(settled_count(&log, &live, keep as usize), keep as usize);
    log.validate().unwrap();
    live.assert_no_errors();
}

/// Live `Tracked` instances once retired garbage is freed. Freeing waits for the
/// epoch to advance, which threads of other tests (same process) may briefly
/// hold back, so this retries for a while before giving the count.
fn settled_count<V: Clone + Send + Sync + 'static>(log: &Timelog<V>, live: &Ledger, want: usize) -> usize {
    eventually(Duration::from_secs(10), || {
        if live.count() == want {
            return true;
        }
        log.flush(); // frees what maintenance retired, as far as the epoch allows
        false
    });
    live.count()
}

/// The same with the default configuration and the background workers.
#[test]
fn rolling_retention_stays_bounded_background() {
    let log: Timelog<u64> = Timelog::builder().maintenance_wakeup(Duration::from_millis(5)).build().unwrap();
    let keep = 200_000i64;
    let mut ts = 0i64;
    let deadline = Instant::now() + Duration::from_millis(1_500);
    let mut rounds = 0;
    let mut worst_tombs = 0;
    while Instant::now() < deadline || rounds < 100 {
        let _ = log.append_batch((0..4_096).map(|i| (ts + i, 0u64)));
        ts += 4_096;
        log.delete_before(ts - keep).unwrap();
        rounds += 1;
        if rounds > 60 {
            worst_tombs = worst_tombs.max(log.stats().tombstones);
        }
    }
    log.flush();
    // Let the compactor finish what the last flush asked for.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let st = log.stats();
        // Dead records left in place: under a quarter of each segment, so at most
        // a third of the live ones (the documented bound).
        if st.sealed_memruns == 0 && st.dead_records * 3 <= st.records && st.tombstones <= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "maintenance did not settle: {st:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    let st = log.stats();
    assert_eq!(st.records, keep as usize);
    // Tombstones not flushed yet sit in the memtables: one per round, and a
    // memtable holds `memtable_max_bytes / (4,096 x 16 B)` rounds, so the active
    // one and the sealed queue hold at most about (sealed_max_runs + 1) times
    // that (more while a writer runs past backpressure); flushed ones retire.
    // Twice that bound still catches growth with the number of deletes (thousands
    // of rounds here).
    let cfg = log.config();
    let per_memtable = cfg.memtable_max_bytes() / (4_096 * 16);
    let bound = 2 * (cfg.sealed_max_runs() + 1) * per_memtable;
    assert!(worst_tombs <= bound, "{worst_tombs} tombstones after {rounds} rounds (bound {bound})");
    // 200,000 live records: the segments follow the live data, not the history.
    assert!(st.l0_segments + st.l1_segments <= 64, "{st:?}");
    log.validate().unwrap();
}
