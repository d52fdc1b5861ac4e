//! Records at `i64::MIN` / `i64::MAX` (and next to them) go through every layer —
//! single appends and batches in the memtable, flush, compaction into L1, deletes
//! that touch the ends — under window sizes and origins that put them at the
//! edges of windows, and every range shape that touches the ends reads them as
//! the oracle does.

use std::ops::Bound::Excluded;

use timelog::Timelog;
use timelog_testkit::check::{check_snapshot, EXTREME_PROBES, EXTREME_RANGES};
use timelog_testkit::oracle::Oracle;
use timelog_testkit::{tiny, MODES};

#[test]
fn extreme_timestamps_through_every_layer() {
    let configs: [(i64, i64); 5] =
        [(1, 0), (3_600_000, 0), (i64::MAX, 0), (7, i64::MAX), (1 << 62, i64::MIN)];
    for mode in MODES {
        for (window, origin) in configs {
            let log: Timelog<u32> = tiny(mode).window_size(window).window_origin(origin).build().unwrap();
            let mut o = Oracle::new();
            let mut v = 0u32;
            let mut put = |o: &mut Oracle<u32>, t: i64| {
                v += 1;
                let _ = log.append(t, v);
                o.append(t, v);
            };
            for t in [i64::MAX, i64::MIN, 0, i64::MIN + 1, i64::MAX - 1, i64::MIN] {
                put(&mut o, t);
            }
            put(&mut o, i64::MAX);
            let stage = |o: &Oracle<u32>, what: &str| {
                let want = o.view();
                check_snapshot(&log.snapshot(), &want, &EXTREME_RANGES, &EXTREME_PROBES)
                    .unwrap_or_else(|e| panic!("{mode:?} w={window} o={origin} {what}: {e}"));
                assert_eq!(log.stats().records, want.len(), "{what}: stats().records");
                log.validate().unwrap_or_else(|e| panic!("{mode:?} w={window} o={origin} {what}: {e}"));
            };
            stage(&o, "singles in the memtable");
            // A large unsorted batch and a small one, both with extremes.
            let big: Vec<(i64, u32)> = (0..24u32)
                .map(|i| {
                    let t = match i % 4 {
                        0 => i64::MAX,
                        1 => i64::MIN,
                        2 => i64::MAX - 1,
                        _ => i64::MIN + 1,
                    };
                    (t, 1000 + i)
                })
                .collect();
            o.append_batch(big.clone());
            let _ = log.append_batch(big);
            let small = [(i64::MIN, 2000), (i64::MAX, 2001), (i64::MIN, 2002)];
            o.append_batch(small);
            let _ = log.append_batch(small);
            stage(&o, "batches");
            log.flush();
            stage(&o, "after flush");
            log.compact_now();
            stage(&o, "after compaction");
            put(&mut o, i64::MAX);
            put(&mut o, i64::MIN);
            stage(&o, "new writes over L1");
            // Deletes touching the extremes.
            log.delete_range(i64::MAX..=i64::MAX).unwrap();
            o.delete(i64::MAX..=i64::MAX);
            stage(&o, "delete MAX..=MAX");
            log.delete_range(..=i64::MIN).unwrap();
            o.delete(..=i64::MIN);
            stage(&o, "delete ..=MIN");
            put(&mut o, i64::MAX);
            put(&mut o, i64::MIN);
            stage(&o, "rewrite after delete");
            log.flush();
            log.compact_now();
            stage(&o, "compacted after deletes");
            log.delete_range((Excluded(i64::MIN), Excluded(i64::MAX))).unwrap();
            o.delete((Excluded(i64::MIN), Excluded(i64::MAX)));
            log.compact_now();
            stage(&o, "only the extremes left");
            assert!(o.visible().iter().all(|r| r.0 == i64::MIN || r.0 == i64::MAX));
            assert_eq!(log.next_ts(i64::MIN), Some(i64::MAX));
            assert_eq!(log.prev_ts(i64::MAX), Some(i64::MIN));
        }
    }
}
