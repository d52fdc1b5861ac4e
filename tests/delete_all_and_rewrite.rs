//! A log whose every record is deleted — with data in L1, L0, sealed memruns and
//! the active memtable — reads nothing, and compaction drops every deleted
//! record; records written afterwards at the same timestamps are visible, and the
//! snapshots taken before and after the delete never change.

use timelog::{Snapshot, Timelog};
use timelog_testkit::check::{check_snapshot, scan, EXTREME_RANGES};
use timelog_testkit::oracle::Oracle;
use timelog_testkit::{tiny, MODES};

#[test]
fn all_deleted_then_written_again() {
    for mode in MODES {
        let log: Timelog<u32> = tiny(mode).window_size(100).build().unwrap();
        let mut o = Oracle::new();
        let mut v = 0u32;
        // Data in L1, L0, sealed memruns and the active memtable (skiplist, lanes, runs).
        for round in 0..6i64 {
            for i in 0..30 {
                v += 1;
                let t = round * 100 + (i * 37) % 100;
                let _ = log.append(t, v);
                o.append(t, v);
            }
            let batch: Vec<(i64, u32)> = (0..20)
                .map(|i| {
                    v += 1;
                    (round * 100 + (i * 53) % 100, v)
                })
                .collect();
            o.append_batch(batch.clone());
            let _ = log.append_batch(batch);
            match round {
                1 => log.compact_now(),
                3 => log.flush(),
                _ => {}
            }
        }
        let written: Vec<i64> = o.written().map(|r| r.0).collect();
        assert_eq!(log.count(..), o.view().len());
        let before = log.snapshot();
        let seq_before = o.seq();
        log.delete_range(..).unwrap();
        o.delete(..);
        let hidden = log.snapshot();
        let check_hidden = |snap: &Snapshot<u32>| {
            assert!(snap.is_empty());
            assert_eq!(snap.count(..), 0);
            assert!(snap.range(..).next().is_none());
            assert!(snap.range(..).next_back().is_none());
            assert_eq!(snap.first_ts(), None);
            assert_eq!(snap.last_ts(), None);
            assert_eq!(snap.next_ts(i64::MIN), None);
            assert_eq!(snap.prev_ts(i64::MAX), None);
            for &t in &written {
                assert_eq!(snap.point(t).count(), 0, "point({t})");
            }
        };
        check_hidden(&hidden);
        assert_eq!(log.stats().records, 0);
        log.validate().unwrap();
        log.flush();
        log.compact_now();
        check_hidden(&log.snapshot());
        let st = log.stats();
        assert_eq!(
            (st.records, st.l0_segments, st.l1_segments, st.min_ts),
            (0, 0, 0, None),
            "{mode:?}: compaction must drop every deleted record: {st:?}"
        );
        log.validate().unwrap();
        // Writes after the delete are visible, at the same timestamps.
        for (i, &t) in written.iter().enumerate().step_by(7) {
            let _ = log.append(t, 100_000 + i as u32);
            o.append(t, 100_000 + i as u32);
        }
        let _ = log.append_batch((0..20).map(|i| (i * 10, 200_000 + i as u32)));
        o.append_batch((0..20).map(|i| (i * 10, 200_000 + i as u32)));
        check_snapshot(&log.snapshot(), &o.view(), &EXTREME_RANGES, &[0, 10, 37, 500])
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        assert_eq!(scan(&log.snapshot(), ..), o.visible());
        // The snapshots taken around the delete never change.
        check_hidden(&hidden);
        assert_eq!(
            scan(&before, ..),
            o.view_at(seq_before).into_vec(),
            "{mode:?}: snapshot from before the delete"
        );
        log.compact_now();
        assert_eq!(scan(&log.snapshot(), ..), o.visible());
        log.validate().unwrap();
    }
}
