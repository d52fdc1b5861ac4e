//! `append_columns`: columns of unequal length are rejected with a panic, and
//! the columns form stores exactly what `append_batch` stores, below and above
//! the batch-run threshold, before and after compaction.

use timelog::{MaintenanceMode, Timelog};
use timelog_testkit::tiny;

#[test]
#[should_panic(expected = "column lengths differ")]
fn append_columns_rejects_unequal_columns() {
    let log: Timelog<u32> = tiny(MaintenanceMode::Manual).build().unwrap();
    let _ = log.append_columns(vec![1, 2, 3], vec![1, 2]);
}

#[test]
fn append_columns_equals_append_batch() {
    let a: Timelog<u32> = tiny(MaintenanceMode::Manual).build().unwrap();
    let b: Timelog<u32> = tiny(MaintenanceMode::Manual).build().unwrap();
    for n in [1usize, 15, 16, 17, 100] {
        let ts: Vec<i64> = (0..n as i64).map(|i| (i * 7919) % 13 - 6).collect();
        let vals: Vec<u32> = (0..n as u32).collect();
        let _ = a.append_columns(ts.clone(), vals.clone());
        let _ = b.append_batch(ts.into_iter().zip(vals));
    }
    assert_eq!(a.range_vec(..), b.range_vec(..));
    a.compact_now();
    assert_eq!(a.range_vec(..), b.range_vec(..));
}
