//! Named regression tests: each one reproduces a bug found earlier.

use timelog::{MaintenanceMode, Timelog};

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
