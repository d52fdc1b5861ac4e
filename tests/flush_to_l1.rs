//! The background worker's flushes write what overlaps nothing straight to L1
//! (`pipeline/flush.rs`): records above every flushed timestamp skip L0 and its
//! compaction, late records and the tail go to L0. These scenarios check that the
//! shortcut is taken (write amplification), and that reads, equal-timestamp order
//! and deletes across the two levels match the oracle.

use std::time::Duration;

use timelog::{MaintenanceMode, Timelog};

use timelog_testkit::gen::Rng;
use timelog_testkit::oracle::Oracle;
use timelog_testkit::{eventually, tiny};

/// A background log whose memtables hold a few thousand records.
fn background() -> Timelog<u64> {
    Timelog::builder()
        .memtable_max_bytes(64 << 10)
        .maintenance_wakeup(Duration::from_millis(1))
        .sealed_wait(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// Waits until the worker has flushed every sealed memtable.
fn settle(log: &Timelog<u64>) {
    assert!(eventually(Duration::from_secs(30), || log.stats().sealed_memruns == 0), "the flusher is stuck");
}

#[test]
fn an_ordered_stream_with_late_records_is_written_about_once() {
    let log = background();
    let mut o = Oracle::new();
    let mut r = Rng::new(0xF1u64);
    let n = 200_000i64;
    let mut batch = Vec::new();
    for i in 0..n {
        // 5 % late by up to 64.
        let ts = if r.below(20) == 0 { i - 1 - r.below(64) as i64 } else { i };
        batch.push((ts, i as u64));
        o.append(ts, i as u64);
        if batch.len() == 512 {
            let _ = log.append_batch(std::mem::take(&mut batch));
        }
    }
    let _ = log.append_batch(batch);
    settle(&log);
    let st = log.stats();
    assert!(st.l1_segments > 0, "{st:?}");
    log.compact_now();
    let st = log.stats();
    // Every record is in L1 now; through L0 first, each would have been written
    // twice (2.0).
    let amp = (st.flushed_records + st.compacted_records) as f64 / n as f64;
    assert!(amp < 1.5, "write amplification {amp:.2}: {st:?}");
    assert_eq!(log.snapshot().range(..).map(|(t, &v)| (t, v)).collect::<Vec<_>>(), o.visible());
    log.validate().unwrap();
}

#[test]
fn equal_timestamps_on_both_sides_of_a_direct_flush_keep_insertion_order() {
    let log = background();
    let mut o = Oracle::new();
    let mut v = 0u64;
    let mut put = |log: &Timelog<u64>, o: &mut Oracle<u64>, ts: i64| {
        v += 1;
        let _ = log.append(ts, v);
        o.append(ts, v);
    };
    // Enough in-order records to seal several memtables; timestamps repeat four
    // times each.
    for i in 0..40_000i64 {
        put(&log, &mut o, i / 4);
    }
    settle(&log);
    let st = log.stats();
    // Compaction only moved the tails (through L0, everything would have been
    // compacted once).
    assert!(
        st.l1_segments > 0 && st.compacted_records * 4 < st.flushed_records,
        "not straight to L1: {st:?}"
    );
    // The same timestamps again, now late: they land in L0 and memtables, after
    // the L1 records at their timestamps.
    for round in 0..3 {
        for ts in (0..10_000).step_by(7 + round) {
            put(&log, &mut o, ts);
        }
        let snap = log.snapshot();
        for ts in [0, 7, 1_000, 4_998, 9_999] {
            let want: Vec<u64> = o.view().point(ts);
            assert_eq!(snap.point(ts).copied().collect::<Vec<_>>(), want, "round {round}, point {ts}");
        }
        assert_eq!(snap.range(..).map(|(t, &x)| (t, x)).collect::<Vec<_>>(), o.visible(), "round {round}");
    }
    log.compact_now();
    assert_eq!(log.snapshot().range(..).map(|(t, &x)| (t, x)).collect::<Vec<_>>(), o.visible());
    log.validate().unwrap();
}

#[test]
fn deletes_across_direct_l1_and_the_l0_tail_match_the_oracle() {
    let log = background();
    let mut o = Oracle::new();
    let mut r = Rng::new(0xDE1u64);
    let mut t = 0i64;
    for step in 0..60 {
        let mut batch = Vec::new();
        for _ in 0..1_000 {
            t += 1;
            let ts = if r.below(10) == 0 { t - r.below(300) as i64 } else { t };
            batch.push((ts, step * 10_000 + batch.len() as u64));
        }
        o.append_batch(batch.iter().copied());
        let _ = log.append_batch(batch);
        if step % 5 == 4 {
            settle(&log);
            // Across what the last flushes put in L1 and in the L0 tail.
            let a = t - r.below(3_000) as i64;
            let b = a + r.below(2_000) as i64;
            o.delete(a..b).assert(&log.delete_range(a..b));
        }
    }
    settle(&log);
    let snap = log.snapshot();
    assert_eq!(snap.range(..).map(|(x, &v)| (x, v)).collect::<Vec<_>>(), o.visible());
    assert_eq!(snap.len(), o.visible().len());
    log.compact_now();
    assert_eq!(log.snapshot().range(..).map(|(x, &v)| (x, v)).collect::<Vec<_>>(), o.visible());
    log.validate().unwrap();
}

#[test]
fn explicit_flushes_and_manual_steps_write_l0_only() {
    for mode in [MaintenanceMode::Manual, MaintenanceMode::Background] {
        let log: Timelog<u64> = tiny(mode).max_l0_segments(1_000).build().unwrap();
        log.stop_maintenance().unwrap_or(());
        for k in 0..5i64 {
            let _ = log.append_batch((0..100).map(|i| (k * 100 + i, i as u64)));
            if mode == MaintenanceMode::Manual {
                // Flushes the sealed memtables, one step at a time.
                while log.maint_step().unwrap() {}
            }
            log.flush();
        }
        let st = log.stats();
        assert_eq!((st.l1_segments, st.compacted_records), (0, 0), "{mode:?}: {st:?}");
        assert_eq!(log.len(), 500);
    }
}
