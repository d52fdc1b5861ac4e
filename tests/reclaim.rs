//! Memory the log no longer uses is returned when it settles: after `flush()` and
//! `compact_now()` return, the segments, memtables and deleted values they retired
//! are already freed — not at some later epoch pin on some thread. (Alone in its
//! own test binary, so no other test's pins or collections interfere.)

use timelog::{MaintenanceMode, Timelog};
use timelog_testkit::ledger::{Ledger, Tracked};
use timelog_testkit::run_maintenance;

#[test]
fn settling_calls_free_what_they_retired() {
    let live = Ledger::new();
    let log: Timelog<Tracked> =
        Timelog::builder().memtable_max_bytes(4 << 10).maintenance(MaintenanceMode::Manual).build().unwrap();
    for b in 0..40i64 {
        let ts: Vec<i64> = (0..100).map(|i| b * 100 + i).collect();
        let vals: Vec<Tracked> = ts.iter().map(|&t| live.value(t as u64)).collect();
        let _ = log.append_columns(ts, vals);
        run_maintenance(&log);
    }
    // Every record is stored once: flush and compaction copies of values replaced
    // older copies, which the settling calls must have freed.
    log.flush();
    assert_eq!(live.count(), 4000, "after flush");
    log.delete_range(..2000).unwrap();
    log.compact_now();
    assert_eq!(live.count(), 2000, "after compact_now, deleted values must be gone");
    assert_eq!(log.len(), 2000);
    drop(log);
    assert_eq!(live.count(), 0);
    live.assert_no_errors();
}
