//! Patches: late records that a compaction lays over L1 segments instead of
//! rewriting them (`manifest/patches.rs`, `pipeline/compaction/plan.rs`), as
//! patches it writes or as L0 segments it adopts without a copy. These
//! scenarios build them on purpose (a second writer lagging the first into a
//! window L1 already holds) and check that they are made, which are adopted and
//! which written, that reads of every kind see equal timestamps in insertion
//! order across L1, patches, L0 and the memtable, that stacked patches stay
//! bounded, and that deletes, a full compaction and the write amplification
//! behave.

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

/// A manual log (and its oracle) holding the leader's records `[0, 20_000)`,
/// compacted into L1.
fn led() -> (Timelog<u64>, Oracle<u64>) {
    let (log, mut o) = (manual(), Oracle::new());
    write(&log, &mut o, (0..20_000).map(|t| (t, t as u64)).collect());
    log.compact_now();
    assert_eq!((log.stats().l0_segments, log.stats().patch_segments), (0, 0));
    (log, o)
}

/// A lagging writer's records in `[lo, hi)` whose timestamp is `r` modulo 3
/// (each equal to one the leader wrote), tagged with `tag`, as one L0 segment.
fn lagging(log: &Timelog<u64>, o: &mut Oracle<u64>, lo: i64, hi: i64, r: i64, tag: u64) -> usize {
    let batch: Vec<(i64, u64)> =
        (lo..hi).filter(|t| t.rem_euclid(3) == r).map(|t| (t, tag * 1_000_000 + t as u64)).collect();
    let n = batch.len();
    write(log, o, batch);
    n
}

/// A lagging writer's records in `[lo, hi)`: every third timestamp, tagged with
/// `tag`, in two disjoint L0 segments (halves).
fn laggard(log: &Timelog<u64>, o: &mut Oracle<u64>, lo: i64, hi: i64, tag: u64) {
    let mid = lo + (hi - lo) / 2;
    for (a, b) in [(lo, mid), (mid, hi)] {
        lagging(log, o, a, b, 0, tag);
    }
}

#[test]
fn a_lagging_writer_becomes_a_patch_and_reads_keep_insertion_order() {
    let (log, mut o) = led();
    let written = log.stats().flushed_records + log.stats().compacted_records;
    laggard(&log, &mut o, 5_000, 8_000, 1);
    assert!(log.maint_step().unwrap(), "two L0 segments: a compaction is due");
    let st = log.stats();
    // The two L0 segments lie apart, inside the stretch: both are laid over L1 as
    // they are, and nothing is written again (least of all the 20,000 under them).
    assert_eq!((st.l0_segments, st.l1_segments, st.patch_segments, st.patch_depth), (0, 1, 2, 1), "{st:?}");
    assert_eq!((st.patched_records, st.adopted_records), (0, 1_000), "{st:?}");
    assert_eq!(st.flushed_records + st.compacted_records - written, 1_000, "flushed once only: {st:?}");
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
    let (log, mut o) = led();
    let mut most = 0;
    // Rounds over overlapping stretches: each round's patches overlap the ones
    // before them, and start before or after them by turns (age is not
    // timestamp order).
    for round in 1..=9u64 {
        let shift = 150 * round as i64;
        let lo = if round % 2 == 0 { 5_000 + shift } else { 5_000 - shift };
        laggard(&log, &mut o, lo, lo + 3_000, round);
        assert!(log.maint_step().unwrap());
        let st = log.stats();
        most = most.max(st.patch_depth);
        assert!(st.patch_depth <= 4 && st.patch_segments <= 8, "patches stack without bound: {st:?}");
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
fn patches_side_by_side_are_bounded_by_count() {
    let (log, mut o) = led();
    // Two small disjoint L0 segments per round, each adopted as a patch of rank
    // 1 over the one L1 segment: only the count bound (64 per stretch) stops
    // them piling up.
    let mut most = 0;
    let mut merged = false;
    for round in 0..40i64 {
        let base = round * 400;
        lagging(&log, &mut o, base, base + 60, 0, 1 + round as u64);
        lagging(&log, &mut o, base + 200, base + 260, 0, 100 + round as u64);
        assert!(log.maint_step().unwrap());
        let st = log.stats();
        merged |= st.patch_segments < most;
        most = most.max(st.patch_segments);
        assert!(st.patch_depth <= 1 && st.patch_segments <= 64 + 2, "{st:?}");
    }
    assert!(merged && most > 60, "the count bound merged the patches into L1 ({most} at most)");
    agrees(&log, &o, &[0, 1_000, 8_000, 15_999, 19_999]);
}

#[test]
fn deletes_reach_into_patches_and_drop_them() {
    let (log, mut o) = led();
    laggard(&log, &mut o, 5_000, 8_000, 1);
    assert!(log.maint_step().unwrap());
    assert_eq!(log.stats().patch_segments, 2);
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

/// A background log where writer 1 runs ahead and writer 0 follows a few
/// memtables behind, so its records land between the leader's, which the worker
/// has written to L1; flushed, its oracle, and the number of records.
fn lagging_background() -> (Timelog<u64>, Oracle<u64>, i64) {
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
    (log, o, n)
}

#[test]
fn two_background_writers_patch_instead_of_rewriting() {
    let (log, o, n) = lagging_background();
    let st = log.stats();
    assert!(
        st.patched_records + st.adopted_records > 0,
        "the lagging writer's records became patches: {st:?}"
    );
    assert!(st.patch_depth <= 4, "{st:?}");
    let amp = (st.flushed_records + st.compacted_records) as f64 / n as f64;
    assert!(amp < 1.75, "write amplification {amp:.2}: {st:?}");
    agrees(&log, &o, &[0, 1_000, n / 2, n - 1]);
}

#[test]
fn a_log_at_rest_merges_its_patches_into_l1() {
    let (log, o, n) = lagging_background();
    let st = log.stats();
    assert!(st.patch_segments > 0, "{st:?}");
    // A second after the last flush, the background compactor merges them,
    // a few megabytes per round.
    let merged = eventually(Duration::from_secs(30), || {
        let st = log.stats();
        st.patch_segments == 0 && st.l0_segments == 0
    });
    let st = log.stats();
    assert!(merged, "{st:?}");
    assert_eq!(st.records, n as usize);
    agrees(&log, &o, &[0, 1_000, n / 2, n - 1]);
}

#[test]
fn overlapping_l0_segments_are_adopted_stacked_oldest_lowest() {
    let (log, mut o) = led();
    // Two segments over the same stretch, interleaved, equal timestamps
    // included: both are adopted, the newer ranked above the older.
    let n = lagging(&log, &mut o, 5_000, 8_000, 0, 1) + lagging(&log, &mut o, 5_000, 8_000, 0, 2);
    assert!(log.maint_step().unwrap());
    let st = log.stats();
    assert_eq!((st.l0_segments, st.patch_segments, st.patch_depth), (0, 2, 2), "{st:?}");
    assert_eq!((st.patched_records, st.adopted_records), (0, n as u64), "{st:?}");
    agrees(&log, &o, &[5_000, 5_001, 6_000, 7_998, 7_999]);
}

#[test]
fn overlapping_l0_segments_are_written_as_one_patch_where_stacking_would_pass_the_bound() {
    let (log, mut o) = led();
    // Ranks 1 and 2 (two overlapping segments adopted), then 3 (one segment,
    // with a second one elsewhere so that the step compacts).
    lagging(&log, &mut o, 5_000, 8_000, 0, 1);
    lagging(&log, &mut o, 5_000, 8_000, 1, 2);
    assert!(log.maint_step().unwrap());
    lagging(&log, &mut o, 5_000, 8_000, 2, 3);
    lagging(&log, &mut o, 12_000, 13_000, 0, 4);
    assert!(log.maint_step().unwrap());
    let st = log.stats();
    assert_eq!((st.patch_segments, st.patch_depth, st.patched_records), (4, 3, 0), "{st:?}");
    // Two more overlapping ones would take ranks 4 and 5: written as one patch
    // of rank 4 instead.
    let n = lagging(&log, &mut o, 5_000, 8_000, 0, 5) + lagging(&log, &mut o, 5_000, 8_000, 1, 6);
    assert!(log.maint_step().unwrap());
    let st = log.stats();
    assert_eq!((st.patch_segments, st.patch_depth, st.patched_records), (5, 4, n as u64), "{st:?}");
    agrees(&log, &o, &[5_000, 5_001, 5_002, 6_000, 7_999, 12_000]);
}

#[test]
fn a_segment_alone_is_adopted_beside_the_written_rest() {
    let (log, mut o) = led();
    let alone = lagging(&log, &mut o, 5_000, 6_000, 0, 1);
    let rest = lagging(&log, &mut o, 6_000, 8_000, 0, 2) + lagging(&log, &mut o, 6_000, 8_000, 1, 3);
    // A delete inside the rest after its flush: the segment holding it cannot
    // be adopted, so the stretch is not adopted whole.
    o.delete(7_000..7_001).assert(&log.delete_range(7_000..7_001));
    assert!(log.maint_step().unwrap());
    let st = log.stats();
    assert_eq!((st.l0_segments, st.patch_segments), (0, 2), "{st:?}");
    assert_eq!((st.patched_records, st.adopted_records), (rest as u64 - 1, alone as u64), "{st:?}");
    agrees(&log, &o, &[5_000, 5_999, 6_000, 6_001, 7_000, 7_999]);
}

#[test]
fn a_tombstone_over_a_segment_makes_the_compaction_copy_it() {
    let (log, mut o) = led();
    let hit = lagging(&log, &mut o, 5_000, 6_500, 0, 1);
    let clean = lagging(&log, &mut o, 6_500, 8_000, 0, 1);
    // Deleted after both were flushed: the first segment holds hidden records.
    o.delete(5_100..5_200).assert(&log.delete_range(5_100..5_200));
    log.flush();
    let hidden = (5_100..5_200).filter(|t| t % 3 == 0).count();
    while log.maint_step().unwrap() {}
    let st = log.stats();
    assert_eq!(st.patch_segments, 2, "{st:?}");
    // The hit one is copied without its deleted records; the clean one adopted.
    assert_eq!((st.patched_records, st.adopted_records), ((hit - hidden) as u64, clean as u64), "{st:?}");
    agrees(&log, &o, &[5_099, 5_100, 5_199, 5_200, 6_500]);
}

#[test]
fn adoption_never_ranks_a_patch_above_the_bound() {
    let (log, mut o) = led();
    // Three rounds of stacked patches over [4_000, 8_000): ranks 1, 2, 3.
    for round in 1..=3u64 {
        laggard(&log, &mut o, 4_000, 8_000, round);
        assert!(log.maint_step().unwrap());
        assert_eq!(log.stats().patch_depth, round as usize);
    }
    let before = log.stats();
    // A stretch with one segment alone and two interleaved: its new patch takes
    // rank 4, the highest allowed. An adopted segment would rank above the
    // written one (their spans overlap), so nothing is adopted.
    let written = lagging(&log, &mut o, 5_000, 5_300, 0, 4)
        + lagging(&log, &mut o, 5_400, 7_000, 1, 5)
        + lagging(&log, &mut o, 5_400, 7_000, 2, 6);
    assert!(log.maint_step().unwrap());
    let st = log.stats();
    assert_eq!(st.patch_depth, 4, "{st:?}");
    assert_eq!(st.adopted_records, before.adopted_records, "{st:?}");
    assert_eq!(st.patched_records - before.patched_records, written as u64, "{st:?}");
    agrees(&log, &o, &[5_000, 5_299, 5_400, 6_999]);
}
