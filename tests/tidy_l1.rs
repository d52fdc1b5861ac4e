//! Small neighbouring L1 segments of one window merge (compaction's tidying
//! rounds, `pipeline/compaction/tidy.rs`), so the number of segments follows
//! the data, not the number of flushes: frequent `flush()` calls, small
//! memtables flushed straight to L1, records arriving in reverse time order,
//! deletes among them, and window edges, which tidying never crosses. Each
//! scenario bounds both the segment count and the records rewritten, and
//! checks every read against the oracle.

use std::time::Duration;

use timelog::{MaintenanceMode, Timelog};
use timelog_testkit::bounds::bounds;
use timelog_testkit::check::check_snapshot;
use timelog_testkit::eventually;
use timelog_testkit::oracle::Oracle;

/// Pages of 256 `u64` records, so small segments hold fewer than 64.
const PAGE_BYTES: usize = 4096;
const SMALL: usize = 64;

/// A manual log with one huge window, small pages.
fn manual() -> Timelog<u64> {
    Timelog::builder()
        .maintenance(MaintenanceMode::Manual)
        .target_page_bytes(PAGE_BYTES)
        .window_size(1 << 40)
        .build()
        .unwrap()
}

/// Runs maintenance steps until none is left.
fn drain(log: &Timelog<u64>) {
    while log.maint_step().unwrap() {}
}

fn check(log: &Timelog<u64>, o: &Oracle<u64>) {
    log.validate().unwrap();
    let snap = log.snapshot();
    let ranges = [bounds(&(..)), bounds(&(100..5_000)), bounds(&(-5..=17)), bounds(&(12_345..))];
    check_snapshot(&snap, &o.view(), &ranges, &[0, 1, 999, 12_345, 19_999]).unwrap();
}

/// Writes `n` records, `per` at a time with a `flush()` after each batch and
/// maintenance drained; `ts(i)` is the `i`-th record's timestamp.
fn small_flushes(log: &Timelog<u64>, o: &mut Oracle<u64>, n: usize, per: usize, ts: impl Fn(usize) -> i64) {
    for start in (0..n).step_by(per) {
        let batch: Vec<(i64, u64)> = (start..(start + per).min(n)).map(|i| (ts(i), i as u64)).collect();
        o.append_batch(batch.clone());
        let _ = log.append_batch(batch);
        log.flush();
        drain(log);
    }
}

#[test]
fn frequent_flushes_in_time_order_merge_into_few_segments() {
    let (log, mut o) = (manual(), Oracle::new());
    let n = 20_000;
    small_flushes(&log, &mut o, n, 2, |i| i as i64);
    let st = log.stats();
    // Without tidying: 10,000 segments of 2 records. With it, segments of at
    // least SMALL records, plus a tail that halves towards the newest.
    assert!(st.l1_segments <= n / SMALL + 8, "{st:?}");
    assert!(st.tidied_records > 0, "{st:?}");
    // Each record rewritten about log2(SMALL / 2) = 5 times, not once per flush.
    let rewrites = st.compacted_records as f64 / n as f64;
    assert!(rewrites <= 8.0, "{rewrites:.2} rewrites per record: {st:?}");
    check(&log, &o);
}

#[test]
fn frequent_flushes_in_reverse_time_order_merge_as_well() {
    let (log, mut o) = (manual(), Oracle::new());
    let n = 20_000;
    small_flushes(&log, &mut o, n, 2, |i| (n - i) as i64);
    let st = log.stats();
    assert!(st.l1_segments <= n / SMALL + 16, "{st:?}");
    let rewrites = st.compacted_records as f64 / n as f64;
    assert!(rewrites <= 10.0, "{rewrites:.2} rewrites per record: {st:?}");
    check(&log, &o);
}

#[test]
fn tidying_never_crosses_a_window_edge() {
    let log: Timelog<u64> = Timelog::builder()
        .maintenance(MaintenanceMode::Manual)
        .target_page_bytes(PAGE_BYTES)
        .window_size(1_000)
        .build()
        .unwrap();
    let mut o = Oracle::new();
    // 10 windows of 1,000 records, each written 2 at a time: small segments
    // everywhere, and each window's merge into a few.
    small_flushes(&log, &mut o, 10_000, 2, |i| i as i64);
    let st = log.stats();
    assert!(st.l1_segments >= 10 && st.l1_segments <= 10 * (1_000 / SMALL + 6), "{st:?}");
    // `validate` checks that every L1 segment lies in its window.
    check(&log, &o);
    for w in 0..10i64 {
        let pages = log.snapshot().segment_pages(w * 1_000..(w + 1) * 1_000);
        assert!(pages.iter().all(|p| {
            let ts = p.timestamps();
            ts[0] / 1_000 == w && ts[ts.len() - 1] / 1_000 == w
        }));
    }
}

#[test]
fn deleted_records_leave_when_their_segments_are_tidied() {
    let (log, mut o) = (manual(), Oracle::new());
    let n = 8_000;
    // Deletes while the small segments pile up: every tidying round that takes
    // a segment with deleted records writes the survivors only.
    for start in (0..n).step_by(4) {
        let batch: Vec<(i64, u64)> = (start..start + 4).map(|i| (i as i64, i as u64)).collect();
        o.append_batch(batch.clone());
        let _ = log.append_batch(batch);
        if start % 400 == 0 && start > 0 {
            let r = (start as i64 - 300)..(start as i64 - 250);
            o.delete(r.clone()).assert(&log.delete_range(r));
        }
        log.flush();
        drain(&log);
    }
    let st = log.stats();
    assert!(st.l1_segments <= n / SMALL + 8, "{st:?}");
    check(&log, &o);
    log.compact_now();
    assert_eq!(log.stats().records, o.visible().len());
    check(&log, &o);
}

#[test]
fn a_small_memtable_flushed_straight_to_l1_keeps_few_segments() {
    // The background flusher writes in-order records straight to L1, one
    // segment per memtable of about 500 records here; with the default pages
    // (4,096 `u64` records), small segments hold fewer than 1,024.
    const SMALL: usize = 1024;
    let log: Timelog<u64> = Timelog::builder()
        .memtable_max_bytes(8 << 10)
        .window_size(1 << 40)
        .maintenance_wakeup(Duration::from_millis(1))
        .build()
        .unwrap();
    let mut o = Oracle::new();
    let n = 300_000usize;
    for start in (0..n).step_by(100) {
        let batch: Vec<(i64, u64)> = (start..start + 100).map(|i| (i as i64, i as u64)).collect();
        o.append_batch(batch.clone());
        let _ = log.append_batch(batch);
    }
    let settled = eventually(Duration::from_secs(30), || {
        let st = log.stats();
        st.sealed_memruns == 0 && st.l0_segments == 0 && st.l1_segments <= n / SMALL + 12
    });
    let st = log.stats();
    assert!(settled, "{st:?}");
    assert!(st.tidied_records > 0, "{st:?}");
    check(&log, &o);
}
