//! Maintenance modes: `maint_step` only in manual mode, `start_maintenance` /
//! `stop_maintenance` only in background mode (both idempotent), nothing runs by
//! itself in manual mode, a stopped worker lets sealed memtables pile up and a
//! restarted one drains them, and a compaction request runs on the next manual
//! step.

use std::time::Duration;

use timelog::{Error, MaintenanceMode, Timelog};
use timelog_testkit::{eventually, run_maintenance, tiny};

#[test]
fn maintenance_mode_errors() {
    let manual: Timelog<u32> = tiny(MaintenanceMode::Manual).build().unwrap();
    assert!(!manual.maintenance_running());
    assert_eq!(manual.start_maintenance(), Err(Error::WrongMode));
    assert_eq!(manual.stop_maintenance(), Err(Error::WrongMode));
    assert!(!manual.maintenance_running());
    assert_eq!(manual.maint_step(), Ok(false));
    for i in 0..100 {
        let _ = manual.append(i, i as u32);
    }
    assert!(manual.stats().sealed_memruns > 0, "nothing runs by itself");
    assert_eq!(manual.maint_step(), Ok(true));
    run_maintenance(&manual);
    let st = manual.stats();
    assert_eq!(st.sealed_memruns, 0);
    assert!(st.l0_segments <= 1, "maint_step compacts past max_l0: {st:?}");
    assert_eq!(manual.count(..), 100);

    let bg: Timelog<u32> = tiny(MaintenanceMode::Background).build().unwrap();
    assert!(bg.maintenance_running());
    assert_eq!(bg.maint_step(), Err(Error::WrongMode));
    assert_eq!(bg.start_maintenance(), Ok(()), "start while running is a no-op");
    assert!(bg.maintenance_running());
    let mut written = 0;
    for cycle in 0..3 {
        assert_eq!(bg.stop_maintenance(), Ok(()));
        assert!(!bg.maintenance_running());
        assert_eq!(bg.stop_maintenance(), Ok(()), "stop while stopped is a no-op");
        assert_eq!(bg.maint_step(), Err(Error::WrongMode));
        // Writes keep working while stopped; sealed memtables pile up.
        for i in 0..200 {
            let _ = bg.append(written + i, cycle);
        }
        written += 200;
        assert!(bg.stats().sealed_memruns > 1, "cycle {cycle}");
        assert_eq!(bg.count(..), written as usize);
        assert_eq!(bg.start_maintenance(), Ok(()));
        assert!(bg.maintenance_running());
        assert!(
            eventually(Duration::from_secs(10), || bg.stats().sealed_memruns == 0),
            "cycle {cycle}: the restarted worker does not drain the memruns"
        );
        assert_eq!(bg.count(..), written as usize);
        bg.validate().unwrap();
    }
    // flush works in background mode too.
    let _ = bg.append(-1, 9);
    bg.flush();
    assert_eq!(bg.stats().sealed_memruns, 0);
    assert_eq!(bg.count(..), written as usize + 1);
}

#[test]
fn compact_request_runs_on_next_manual_step() {
    let log: Timelog<u32> =
        Timelog::builder().maintenance(MaintenanceMode::Manual).max_l0_segments(8).build().unwrap();
    let _ = log.append_batch((0..100).map(|i| (i, i as u32)));
    log.flush();
    assert_eq!(log.stats().l0_segments, 1);
    assert_eq!(log.maint_step(), Ok(false), "one L0 segment is below the limit");
    log.compact();
    assert_eq!(log.maint_step(), Ok(true));
    let st = log.stats();
    assert_eq!((st.l0_segments, st.l1_segments > 0), (0, true), "{st:?}");
    run_maintenance(&log);
    assert_eq!(log.count(..), 100);
    log.validate().unwrap();
}

/// Regression: `stop_maintenance` racing with `start_maintenance` on another
/// thread. A stop that let go of the worker list before joining let a concurrent
/// start restart the signals, and the old workers, never told to stop, were waited
/// for forever (seen in the Python suite's thread tests).
#[test]
fn concurrent_start_and_stop_never_hang() {
    let log: std::sync::Arc<Timelog<u32>> =
        std::sync::Arc::new(tiny(MaintenanceMode::Background).build().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    for k in 0..2 {
        let log = log.clone();
        let tx = tx.clone();
        std::thread::spawn(move || {
            for i in 0..3000u32 {
                let _ = log.append(i64::from(i), i);
                if (i + k) % 2 == 0 {
                    log.stop_maintenance().unwrap();
                } else {
                    log.start_maintenance().unwrap();
                }
            }
            let _ = tx.send(());
        });
    }
    for _ in 0..2 {
        rx.recv_timeout(Duration::from_secs(60)).expect("start/stop from two threads hung");
    }
    log.start_maintenance().unwrap();
    log.flush();
    assert_eq!(log.len(), 6000);
}
