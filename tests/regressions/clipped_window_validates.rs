//! An L1 window clipped at `i64::MAX` passes `validate()`.
//!
//! What broke: an L1 window that reaches past `i64::MAX` is clipped there, and
//! `validate()` rejected the clipped window as "not aligned".
//!
//! How it was found: by the model-based property test (`tests/model.rs`), whose
//! timestamps include `i64::MAX` and whose windows include sizes (here 17) that
//! do not divide the range of `i64`.

use timelog::{MaintenanceMode, Timelog};

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
