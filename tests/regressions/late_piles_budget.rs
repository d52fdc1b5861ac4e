//! Late piles do not seal small memtables early.
//!
//! What broke: the late piles of a memtable (the runs that take records a little
//! behind their lane) were charged to the out-of-order budget at their full
//! capacity when allocated, so with a 256 KiB memtable three piles exceeded the
//! budget and every memtable was sealed after a handful of late records (1,456
//! seals, all budget hits, for 400,000 appends). Pile capacity now follows the
//! budget.
//!
//! How it was found: in review. The test appends 100,000 records, one in 50 up
//! to 2,000 behind, and requires no budget hit and at most 20 seals.

use timelog::{MaintenanceMode, Timelog};
use timelog_testkit::gen::Rng;

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
