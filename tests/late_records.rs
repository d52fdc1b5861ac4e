//! Records that arrive out of order for their writer are counted as such by
//! `stats()`, whether a late pile or the skiplist holds them, and read back in
//! order with the in-order ones.

use timelog::{MaintenanceMode, Timelog};
use timelog_testkit::check::scan;
use timelog_testkit::oracle::Oracle;

#[test]
fn late_records_are_counted_and_read_in_order() {
    let log: Timelog<i64> =
        Timelog::builder().maintenance(MaintenanceMode::Manual).memtable_max_bytes(1 << 20).build().unwrap();
    let mut o = Oracle::new();
    let mut late = 0;
    let mut max = i64::MIN;
    // In-order records with, every few, one that is late by a varying amount:
    // enough distinct lateness that some land in piles and some in the skiplist.
    for i in 0..400i64 {
        let ts = if i % 5 == 4 { i - 1 - (i * 37 % 23) } else { i };
        if ts < max {
            late += 1;
        }
        max = max.max(ts);
        let _ = log.append(ts, i);
        o.append(ts, i);
    }
    let st = log.stats();
    assert_eq!(st.memtable_ooo_records, late, "{st:?}");
    assert_eq!(st.memtable_records + st.memtable_ooo_records, 400, "{st:?}");
    assert_eq!(scan(&log.snapshot(), ..), o.visible());
    log.validate().unwrap();
}
