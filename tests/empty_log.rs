//! An empty log reads nothing, through every read method, the `Timelog`
//! shortcuts and `stats()`: fresh, after empty batches, after flush, compaction
//! and maintenance, in both modes.

use timelog::{Accepted, MaintenanceMode, Timelog};
use timelog_testkit::check::{check_snapshot, EXTREME_PROBES, EXTREME_RANGES};
use timelog_testkit::oracle::View;
use timelog_testkit::{tiny, MODES};

#[test]
fn empty_log_reads_nothing() {
    for mode in MODES {
        let log: Timelog<u32> = tiny(mode).build().unwrap();
        let check = |what: &str| {
            assert_eq!(log.count(..), 0, "{what}");
            assert_eq!(log.len(), 0);
            assert!(log.is_empty());
            assert!(log.range_vec(..).is_empty());
            assert!(log.range_vec(i64::MIN..=i64::MAX).is_empty());
            for p in EXTREME_PROBES {
                assert!(log.point(p).is_empty());
                assert_eq!(log.next_ts(p), None);
                assert_eq!(log.prev_ts(p), None);
            }
            assert_eq!(log.first_ts(), None);
            assert_eq!(log.last_ts(), None);
            let snap = log.snapshot();
            check_snapshot(&snap, &View::default(), &EXTREME_RANGES, &EXTREME_PROBES)
                .unwrap_or_else(|e| panic!("{mode:?} {what}: {e}"));
            assert!(snap.range(..).next().is_none());
            assert!(snap.range(..).next_back().is_none());
            let st = log.stats();
            assert_eq!(st.records, 0, "{what}: {st:?}");
            assert_eq!(st.l0_segments, 0, "{what}: {st:?}");
            assert_eq!(st.l1_segments, 0, "{what}: {st:?}");
            assert_eq!(st.pages, 0, "{what}: {st:?}");
            assert_eq!(st.min_ts, None, "{what}: {st:?}");
            assert_eq!(st.max_ts, None, "{what}: {st:?}");
            assert_eq!(st.tombstones, 0, "{what}: {st:?}");
            assert_eq!(st.memtable_records, 0, "{what}: {st:?}");
            assert_eq!(st.memtable_ooo_records, 0, "{what}: {st:?}");
            assert_eq!(st.sealed_memruns, 0, "{what}: {st:?}");
            assert_eq!(st.compactions, 0, "{what}: {st:?}");
            log.validate().unwrap();
        };
        check("fresh");
        assert_eq!(log.append_batch(Vec::<(i64, u32)>::new()).accepted, Accepted::Clean);
        assert_eq!(log.append_columns(Vec::new(), Vec::new()).accepted, Accepted::Clean);
        check("empty batches");
        log.flush();
        check("after flush");
        log.compact_now();
        check("after compact_now");
        if mode == MaintenanceMode::Manual {
            assert_eq!(log.maint_step(), Ok(false));
        }
        check("after maintenance");
    }
}
