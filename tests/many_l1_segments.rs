//! Reads over a log with hundreds of L1 segments, where the ones at either end
//! of a range hold only deleted records: `first_ts`/`last_ts`/`next_ts`/`prev_ts`
//! walk the L1 segments of the range lazily from the near end and must step past
//! the hidden ones; `count` and `segment_pages` visit only the segments that
//! overlap the range (found by search, not by a pass over all of them).

use timelog::{Level, MaintenanceMode, Timelog};
use timelog_testkit::bounds::{bounds, Bounds};
use timelog_testkit::check::check_snapshot;
use timelog_testkit::oracle::Oracle;

const WINDOW: i64 = 100;
const RECORDS: i64 = 30_000;

/// A log of `RECORDS` records at even timestamps, compacted into L1 windows of
/// `WINDOW` (600 segments), then some deletes (not compacted) and an L0 segment.
fn build() -> (Timelog<u64>, Oracle<u64>) {
    let log: Timelog<u64> =
        Timelog::builder().window_size(WINDOW).maintenance(MaintenanceMode::Manual).build().unwrap();
    let mut oracle = Oracle::new();
    let batch: Vec<(i64, u64)> = (0..RECORDS).map(|i| (2 * i, i as u64)).collect();
    let _ = log.append_batch(batch.clone());
    oracle.append_batch(batch);
    log.compact_now();
    let st = log.stats();
    assert_eq!((st.l0_segments, st.l1_segments), (0, (2 * RECORDS / WINDOW) as usize), "{st:?}");
    // Whole segments hidden at both ends of the log and around a hole in the middle.
    for r in [0..5_000, 55_000..2 * RECORDS, 20_000..30_001] {
        oracle.delete(r.clone()).assert(&log.delete_range(r));
    }
    // A few late records in the hole, flushed to L0, one of them then deleted.
    let late: Vec<(i64, u64)> = vec![(25_001, 1), (25_001, 2), (27_777, 3)];
    let _ = log.append_batch(late.clone());
    oracle.append_batch(late);
    log.flush();
    oracle.delete(27_777..27_778).assert(&log.delete_range(27_777..27_778));
    (log, oracle)
}

#[test]
fn navigation_and_counts_skip_hidden_l1_segments() {
    let (log, oracle) = build();
    let snap = log.snapshot();
    let st = log.stats();
    assert!(st.l0_segments >= 1 && st.l1_segments == 600, "{st:?}");
    let ranges: Vec<Bounds> = vec![
        bounds(&(..)),
        bounds(&(0..5_000)),
        bounds(&(4_000..6_001)),
        bounds(&(19_000..31_000)),
        bounds(&(20_000..30_001)),
        bounds(&(24_999..=27_777)),
        bounds(&(54_000..60_000)),
        bounds(&(55_000..70_000)),
        bounds(&(-10..10)),
        bounds(&(59_990..)),
        bounds(&(..=5_001)),
    ];
    let probes = [
        i64::MIN,
        -1,
        0,
        4_998,
        4_999,
        5_000,
        5_001,
        19_998,
        20_000,
        25_000,
        25_001,
        27_777,
        30_000,
        30_001,
        30_002,
        54_998,
        55_000,
        59_998,
        i64::MAX,
    ];
    check_snapshot(&snap, &oracle.view(), &ranges, &probes).unwrap();
}

#[test]
fn segment_pages_visit_only_overlapping_segments_in_order() {
    let (log, _) = build();
    let snap = log.snapshot();
    for (lo, hi) in [(0, 60_000), (1_001, 1_399), (9_950, 10_050), (25_000, 25_002), (59_998, 60_000)] {
        let pages = snap.segment_pages(lo..hi);
        // Physical records (deleted ones too), L1 in timestamp order, then L0.
        let l1: Vec<i64> = pages
            .iter()
            .filter(|p| p.level() == Level::L1)
            .flat_map(|p| p.timestamps().into_owned())
            .collect();
        let want: Vec<i64> = (lo..hi).filter(|t| t % 2 == 0).collect();
        assert_eq!(l1, want, "L1 pages of {lo}..{hi}");
        let l0: Vec<i64> = pages
            .iter()
            .filter(|p| p.level() == Level::L0)
            .flat_map(|p| p.timestamps().into_owned())
            .collect();
        let want_l0: Vec<i64> =
            [25_001, 25_001, 27_777].into_iter().filter(|t| (lo..hi).contains(t)).collect();
        assert_eq!(l0, want_l0, "L0 pages of {lo}..{hi}");
        let first_l0 = pages.iter().position(|p| p.level() == Level::L0).unwrap_or(pages.len());
        assert!(pages[first_l0..].iter().all(|p| p.level() == Level::L0), "L1 pages come first");
    }
}
