//! A late record does not seal a small memtable.
//!
//! What broke: a lane's run was sized to the whole memtable when the memtable was
//! small (64 KiB holds fewer records than the 4,096 a run may take) and charged
//! whole when allocated, so the first late pile pushed the memtable over its size
//! and sealed it. Single appends with every fifth record 50 behind sealed a
//! memtable every five records: 12,000 seals, 36,000 L1 segments and 8 s for
//! 60,000 appends. Runs now take at most a quarter of the memtable.
//!
//! How it was found: a Python test of archiving beside a writer took 74 s; its
//! writer alone took 8 s for 60,000 appends.

use timelog::{MaintenanceMode, Timelog};

#[test]
fn late_records_do_not_seal_a_small_memtable() {
    let log: Timelog<u64> = Timelog::builder()
        .memtable_max_bytes(64 << 10)
        .maintenance(MaintenanceMode::Manual)
        .sealed_max_runs(1 << 20)
        .build()
        .unwrap();
    for i in 0..60_000i64 {
        let ts = if i % 5 == 4 { i - 50 } else { i };
        let _ = log.append(ts, i as u64);
    }
    let st = log.stats();
    // 64 KiB holds about 2,700 in-order records; a fifth of them late fills the
    // out-of-order budget after some 1,400: about 43 seals (12,000 before).
    assert!(st.seals <= 100, "sealed every few records: {st:?}");
    log.flush();
    assert_eq!(log.len(), 60_000);
    log.validate().unwrap();
}
