//! Named regression tests: each one reproduces a bug found earlier.

use timelog::{MaintenanceMode, Timelog};
use timelog_testkit::gen::Rng;

/// `compact_now()` used to return with L0 segments left when the background
/// compactor cleared the shared "compaction requested" flag for a snapshot taken
/// before `compact_now`'s own flush.
#[test]
fn compact_now_leaves_no_l0_while_background_compactor_runs() {
    for round in 0..30 {
        let log: Timelog<u64> = Timelog::builder()
            .memtable_max_bytes(16 << 10)
            .max_l0_segments(2)
            .maintenance(MaintenanceMode::Background)
            .build()
            .unwrap();
        for b in 0..64u64 {
            let ts: Vec<i64> = (0..512).map(|i| (b * 512 + i) as i64).collect();
            let _ = log.append_columns(ts, vec![b; 512]);
        }
        log.compact_now();
        let st = log.stats();
        assert_eq!((st.l0_segments, st.sealed_memruns), (0, 0), "round {round}: {st:?}");
        assert_eq!(st.records, 64 * 512);
        log.validate().unwrap();
    }
}

/// Found by the model test: an L1 window that reaches past `i64::MAX` is clipped,
/// and `validate()` used to reject the clipped window as "not aligned".
#[test]
fn l1_window_clipped_at_i64_max_validates() {
    let log: Timelog<u32> = Timelog::builder()
        .memtable_max_bytes(64)
        .window_size(17)
        .maintenance(MaintenanceMode::Manual)
        .build()
        .unwrap();
    let _ = log.append_batch([(i64::MAX, 0u32)]);
    let _ = log.append(i64::MIN, 1);
    log.compact_now();
    assert_eq!(log.stats().l1_segments, 2);
    log.validate().unwrap();
    let all: Vec<(i64, u32)> = log.range_vec(..);
    assert_eq!(all, vec![(i64::MIN, 1), (i64::MAX, 0)]);
}

/// Compaction cuts a large window into several L1 segments; a cut must never
/// separate equal timestamps (segments would overlap), including when records
/// right at the cut are hidden by a delete, and order must survive the cuts.
#[test]
fn l1_segment_cuts_keep_equal_timestamps_together() {
    let log: Timelog<u64> = Timelog::builder()
        .target_page_bytes(256)
        .window_size(i64::MAX / 4)
        .maintenance(MaintenanceMode::Manual)
        .build()
        .unwrap();
    let n = 20_000u64;
    let recs: Vec<(i64, u64)> = (0..n).map(|i| ((i / 7) as i64, i)).collect();
    for chunk in recs.chunks(1000) {
        let _ = log.append_batch(chunk.iter().copied());
    }
    // Hide a few stretches, some straddling likely cut points.
    for k in 0..20i64 {
        log.delete_range(k * 140 + 130..k * 140 + 150).unwrap();
    }
    log.compact_now();
    log.validate().unwrap();
    let st = log.stats();
    assert!(st.l1_segments >= 4, "the window was cut into several segments: {st:?}");
    let want: Vec<(i64, u64)> = recs
        .iter()
        .copied()
        .filter(|&(t, _)| !(0..20).any(|k| (k * 140 + 130..k * 140 + 150).contains(&t)))
        .collect();
    assert_eq!(log.range_vec(..), want);
    let mut back = log.snapshot().range(..).rev().map(|(t, v)| (t, *v)).collect::<Vec<_>>();
    back.reverse();
    assert_eq!(back, want);
}

/// `wait_for_room` (for callers that wait on their own terms) returns once the
/// background flusher has drained the sealed queue, and `sealed_queue_len` reports it.
#[test]
fn wait_for_room_returns_when_the_queue_drains() {
    let log: Timelog<u64> = Timelog::builder()
        .memtable_max_bytes(256)
        .sealed_max_runs(1)
        .sealed_wait(std::time::Duration::ZERO)
        .build()
        .unwrap();
    log.stop_maintenance().unwrap();
    let mut pressure = false;
    for i in 0..400 {
        pressure |= log.append(i, i as u64).is_backpressure();
    }
    assert!(pressure, "without workers the queue overflows and writes say so");
    assert!(log.sealed_queue_len() > 1);
    assert!(!log.wait_for_room(std::time::Duration::from_millis(10)), "stopped workers make no room");
    log.start_maintenance().unwrap();
    assert!(log.wait_for_room(std::time::Duration::from_secs(10)));
    assert!(log.sealed_queue_len() <= 1);
    assert_eq!(log.len(), 400);
}

/// Regression (found in review): late piles were charged to the out-of-order budget
/// at their full capacity when allocated, so with a 256 KiB memtable three piles
/// exceeded the budget and every memtable was sealed after a handful of late records
/// (1,456 seals, all budget hits, for 400,000 appends). Pile capacity now follows
/// the budget.
#[test]
fn late_piles_do_not_seal_small_memtables_early() {
    let log: Timelog<u64> = Timelog::builder()
        .memtable_max_bytes(256 << 10)
        .maintenance(MaintenanceMode::Manual)
        .sealed_max_runs(1 << 20)
        .build()
        .unwrap();
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    for i in 0..100_000i64 {
        let late = rng.below(2000) as i64;
        let ts = if i % 50 == 49 { i - 1 - late } else { i };
        let _ = log.append(ts, i as u64);
    }
    let st = log.stats();
    assert_eq!(st.ooo_budget_hits, 0, "{st:?}");
    assert!(st.seals <= 20, "a 256 KiB memtable holds about 10,000 records: {st:?}");
    log.flush();
    assert_eq!(log.len(), 100_000);
    log.validate().unwrap();
}
