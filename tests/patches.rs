//! Patches: late records that a compaction lays over L1 segments instead of
//! rewriting them (`manifest/patches.rs`, `pipeline/compaction/plan.rs`). These
//! scenarios build them on purpose (a second writer lagging the first into a
//! window L1 already holds) and check that they are made, that reads of every
//! kind see equal timestamps in insertion order across L1, patches, L0 and the
//! memtable, that stacked patches stay bounded, and that deletes, a full
//! compaction and the write amplification behave.

use std::time::Duration;

use timelog::{MaintenanceMode, Timelog};
use timelog_testkit::check::check_snapshot;
use timelog_testkit::eventually;
use timelog_testkit::oracle::Oracle;

/// A manual log that compacts once two L0 segments are waiting.
fn manual() -> Timelog<u64> {
    Timelog::builder().maintenance(MaintenanceMode::Manual).max_l0_segments(1).build().unwrap()
}

/// Appends `batch` to both, and flushes it into its own L0 segment.
fn write(log: &Timelog<u64>, o: &mut Oracle<u64>, batch: Vec<(i64, u64)>) {
    o.append_batch(batch.clone());
    let _ = log.append_batch(batch);
    log.flush();
}

/// Every read of the whole log and of a few ranges and points, against the oracle.
fn agrees(log: &Timelog<u64>, o: &Oracle<u64>, probes: &[i64]) {
    use std::ops::Bound::{Excluded, Included, Unbounded};
    let ranges: Vec<_> = probes
        .iter()
        .flat_map(|&t| {
            [(Included(t), Excluded(t + 300)), (Included(t - 7), Included(t)), (Included(t), Unbounded)]
        })
        .collect();
    check_snapshot(&log.snapshot(), &o.view(), &ranges, probes).unwrap();
    log.validate().unwrap();
}

/// The leader's records `[0, n)`, compacted into L1.
fn leader(log: &Timelog<u64>, o: &mut Oracle<u64>, n: i64) {
    write(log, o, (0..n).map(|t| (t, t as u64)).collect());
    log.compact_now();
    assert_eq!((log.stats().l0_segments, log.stats().patch_segments), (0, 0));
}

/// A lagging writer's records in `[lo, hi)`: every third timestamp (each equal to
/// one the leader wrote), tagged with `tag`, in two L0 segments.
fn laggard(log: &Timelog<u64>, o: &mut Oracle<u64>, lo: i64, hi: i64, tag: u64) {
    let mid = lo + (hi - lo) / 2;
    for (a, b) in [(lo, mid), (mid, hi)] {
        write(log, o, (a..b).filter(|t| t % 3 == 0).map(|t| (t, tag * 1_000_000 + t as u64)).collect());
    }
}

#[test]
fn a_lagging_writer_becomes_a_patch_and_reads_keep_insertion_order() {
    let log = manual();
    let mut o = Oracle::new();
    leader(&log, &mut o, 20_000);
    let written = log.stats().flushed_records + log.stats().compacted_records;
    laggard(&log, &mut o, 5_000, 8_000, 1);
    assert!(log.maint_step().unwrap(), "two L0 segments: a compaction is due");
    let st = log.stats();
    assert_eq!((st.l0_segments, st.l1_segments, st.patch_segments), (0, 1, 1), "{st:?}");
    // Only the 1,000 late records were written again, not the 20,000 under them.
    assert_eq!(st.patched_records, 1_000, "{st:?}");
    assert_eq!(
        st.flushed_records + st.compacted_records - written,
        2_000,
        "flushed once, patched once: {st:?}"
    );
    agrees(&log, &o, &[4_999, 5_000, 5_001, 6_000, 7_998, 7_999, 8_000, 19_999]);
    // Newer records at the same timestamps, in L0 and in the memtable, come after.
    write(&log, &mut o, vec![(6_000, 7), (6_000, 8), (6_001, 9)]);
    o.append(6_000, 10);
    let _ = log.append(6_000, 10);
    assert_eq!(log.snapshot().point(6_000).copied().collect::<Vec<_>>(), [6_000, 1_006_000, 7, 8, 10]);
    agrees(&log, &o, &[5_999, 6_000, 6_001]);
    // A full compaction merges the patch into L1.
    log.compact_now();
    let st = log.stats();
    assert_eq!((st.l0_segments, st.patch_segments), (0, 0), "{st:?}");
    agrees(&log, &o, &[0, 6_000, 7_999]);
}

#[test]
fn stacked_patches_are_ranked_by_age_and_bounded() {
    let log = manual();
    let mut o = Oracle::new();
    leader(&log, &mut o, 20_000);
    let mut most = 0;
    // Rounds over overlapping stretches: each patch overlaps the ones before it,
    // and starts before or after them by turns (age is not timestamp order).
    for round in 1..=9u64 {
        let shift = 150 * round as i64;
        let lo = if round % 2 == 0 { 5_000 + shift } else { 5_000 - shift };
        laggard(&log, &mut o, lo, lo + 3_000, round);
        assert!(log.maint_step().unwrap());
        let st = log.stats();
        most = most.max(st.patch_segments);
        assert!(st.patch_segments <= 4, "patches stack without bound: {st:?}");
        agrees(&log, &o, &[lo, lo + 1_500, lo + 2_999, 5_400, 6_000, 7_002]);
    }
    assert_eq!(most, 4, "patches were stacked up to the bound");
    // Backward iteration across all of them.
    let back: Vec<(i64, u64)> = log.snapshot().range(3_000..9_000).rev().map(|(t, &v)| (t, v)).collect();
    let mut want = o.view().range(3_000..9_000);
    want.reverse();
    assert_eq!(back, want);
}

#[test]
fn deletes_reach_into_patches_and_drop_them() {
    let log = manual();
    let mut o = Oracle::new();
    leader(&log, &mut o, 20_000);
    laggard(&log, &mut o, 5_000, 8_000, 1);
    assert!(log.maint_step().unwrap());
    assert_eq!(log.stats().patch_segments, 1);
    // Part of the patch and of the L1 segment under it.
    o.delete(6_000..6_500).assert(&log.delete_range(6_000..6_500));
    agrees(&log, &o, &[5_999, 6_000, 6_499, 6_500]);
    log.flush();
    while log.maint_step().unwrap() {}
    agrees(&log, &o, &[5_999, 6_000, 6_499, 6_500]);
    // All of the patch's records: it is dropped (or rewritten away).
    o.delete(5_000..8_000).assert(&log.delete_range(5_000..8_000));
    log.compact_now();
    let st = log.stats();
    assert_eq!((st.patch_segments, st.dead_records, st.records), (0, 0, o.view().len()), "{st:?}");
    agrees(&log, &o, &[4_999, 5_000, 8_000]);
}

#[test]
fn two_background_writers_patch_instead_of_rewriting() {
    // Writer 1 runs ahead; writer 0 follows a few memtables behind, so its
    // records land between the leader's, which the worker has written to L1.
    let log: Timelog<u64> = Timelog::builder()
        .memtable_max_bytes(64 << 10)
        .maintenance_wakeup(Duration::from_millis(1))
        .build()
        .unwrap();
    let mut o = Oracle::new();
    let batch = 1_024i64;
    let n = 400 * batch;
    let lag = 40usize; // batches
    let batches: Vec<Vec<(i64, u64)>> =
        (0..n / batch).map(|b| (b * batch..(b + 1) * batch).map(|t| (t, t as u64)).collect()).collect();
    let (ahead, behind): (Vec<usize>, Vec<usize>) = (0..batches.len()).partition(|b| b % 2 == 1);
    // Interleave: the leader's batch i goes in with the laggard's batch i - lag.
    for i in 0..ahead.len() + lag {
        if let Some(&b) = ahead.get(i) {
            o.append_batch(batches[b].clone());
            let _ = log.append_batch(batches[b].clone());
        }
        if let Some(&b) = i.checked_sub(lag).and_then(|j| behind.get(j)) {
            o.append_batch(batches[b].clone());
            let _ = log.append_batch(batches[b].clone());
        }
        if i % 8 == 0 {
            // Give the worker time to flush, as a writer waiting on I/O would.
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    assert!(eventually(Duration::from_secs(30), || log.stats().sealed_memruns == 0), "the flusher is stuck");
    log.flush();
    let st = log.stats();
    assert!(st.patched_records > 0, "the lagging writer's records became patches: {st:?}");
    let amp = (st.flushed_records + st.compacted_records) as f64 / n as f64;
    assert!(amp < 1.75, "write amplification {amp:.2}: {st:?}");
    agrees(&log, &o, &[0, 1_000, n / 2, n - 1]);
}
