//! Records with equal timestamps are read in insertion order — forward, backward,
//! through `point` — whatever path they took (single appends in order or out of
//! order, small and large batches, unsorted batches) and wherever they are
//! (memtable, sealed memruns, L0, L1 after compaction), in both modes.

use timelog::{MaintenanceMode, Timelog};
use timelog_testkit::check::check_snapshot;
use timelog_testkit::oracle::Oracle;
use timelog_testkit::{tiny, MODES};

/// Expected values at `ts` 7 are `want`, forward and backward, and nothing else is there.
fn check_dups(log: &Timelog<u32>, want: &[u32], what: &str) {
    let snap = log.snapshot();
    let got: Vec<u32> = snap.point(7).copied().collect();
    assert!(got == want, "{what}: point(7) lost insertion order");
    let back: Vec<u32> = snap.range(7..=7).rev().map(|(_, v)| *v).collect();
    assert!(back.iter().eq(want.iter().rev()), "{what}: reverse point(7) lost insertion order");
    let all: Vec<u32> = snap.range(..).map(|(_, v)| *v).collect();
    assert!(all == want, "{what}: full scan");
    assert_eq!(snap.count(..), want.len(), "{what}");
    assert_eq!(snap.count(7..8), want.len(), "{what}");
    assert_eq!(snap.next_ts(6), Some(7));
    assert_eq!(snap.next_ts(7), None);
    assert_eq!(snap.prev_ts(8), Some(7));
    assert_eq!(snap.prev_ts(7), None);
}

#[test]
fn ten_thousand_duplicates_keep_write_order() {
    for mode in MODES {
        let log: Timelog<u32> = tiny(mode).memtable_max_bytes(4096).max_l0_segments(2).build().unwrap();
        let mut want: Vec<u32> = Vec::new();
        let mut round = 0usize;
        while want.len() < 10_000 {
            round += 1;
            // Batches of every size from 1 to 40 (below and above the run threshold).
            let n = (round % 40) + 1;
            let start = want.len() as u32;
            let _ = log.append_batch((0..n as u32).map(|i| (7, start + i)));
            want.extend(start..start + n as u32);
            for _ in 0..(round % 5) {
                let x = want.len() as u32;
                let _ = log.append(7, x);
                want.push(x);
            }
            if round.is_multiple_of(50) && mode == MaintenanceMode::Manual {
                let _ = log.maint_step().unwrap();
            }
            if round.is_multiple_of(150) {
                check_dups(&log, &want, &format!("{mode:?} round {round}"));
            }
            if round == 200 {
                log.flush();
            }
            if round == 300 {
                log.compact_now();
            }
        }
        check_dups(&log, &want, &format!("{mode:?} before flush"));
        log.flush();
        check_dups(&log, &want, &format!("{mode:?} after flush"));
        log.compact_now();
        check_dups(&log, &want, &format!("{mode:?} after compaction"));
        assert!(log.stats().l1_segments > 0);
        log.validate().unwrap();
    }
}

#[test]
fn duplicates_among_out_of_order_neighbours_keep_write_order() {
    for mode in MODES {
        let log: Timelog<u32> = tiny(mode).window_size(2).build().unwrap();
        let mut o = Oracle::new();
        let pattern = [7i64, 8, 7, 6, 7, 7, 8, 6];
        let mut v = 0u32;
        for round in 0..200 {
            // Single appends: a 7 after an 8 goes through the out-of-order path.
            for &t in &pattern {
                v += 1;
                let _ = log.append(t, v);
                o.append(t, v);
            }
            // An unsorted batch (stable sort must keep its order for equal ts).
            let b: Vec<(i64, u32)> = (0..(round % 24 + 1))
                .map(|i| {
                    v += 1;
                    (pattern[(i + round) % pattern.len()], v)
                })
                .collect();
            o.append_batch(b.clone());
            let _ = log.append_batch(b);
            if round == 120 {
                log.flush();
            }
            if round == 160 {
                log.compact_now();
            }
        }
        let check = |what: &str| {
            check_snapshot(&log.snapshot(), &o.view(), &[], &[6, 7, 8])
                .unwrap_or_else(|e| panic!("{mode:?} {what}: {e}"));
        };
        check("mixed layers");
        log.flush();
        check("after flush");
        log.compact_now();
        check("after compaction");
        log.validate().unwrap();
    }
}
