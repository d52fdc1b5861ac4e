//! The last handle to a log dropped on one of the log's own maintenance threads.
//!
//! A value may own a handle to the log that stores it (a cache entry that keeps
//! its store alive, say). Once the caller has dropped its own handle, the
//! maintenance thread that drops that value — after a delete hid it and a flush or
//! compaction left it out — drops the last handle, and the log shuts down on that
//! very thread. Shutting down used to join every worker, itself included: the join
//! failed ("Resource deadlock avoided") and panicked on the worker, halfway
//! through a drop run by crossbeam-epoch's collector, which then stopped
//! reclaiming garbage for the whole process.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use timelog::Timelog;

/// A record's value: plain, or holding a handle to its own log.
#[derive(Clone)]
struct Val {
    log: Option<Arc<Timelog<Val>>>,
}

/// Set once the test has dropped its own handle.
static USER_DROPPED: AtomicBool = AtomicBool::new(false);
/// Panics seen by the hook (on any thread).
static PANICS: AtomicUsize = AtomicUsize::new(0);
/// Names of the threads that dropped a handle-holding value.
static DROPPED_ON: Mutex<Vec<String>> = Mutex::new(Vec::new());

impl Drop for Val {
    fn drop(&mut self) {
        if self.log.is_none() {
            return;
        }
        // Whatever thread gets here first waits until the test has let go of its
        // handle, so that this drop is the one that releases the last handle.
        let start = Instant::now();
        while !USER_DROPPED.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let name = std::thread::current().name().unwrap_or("<unnamed>").to_string();
        DROPPED_ON.lock().unwrap_or_else(|e| e.into_inner()).push(name);
        // `self.log` drops after this body: possibly the last handle.
    }
}

#[test]
fn the_last_handle_dropped_on_a_maintenance_thread_shuts_the_log_down_cleanly() {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        hook(info);
    }));

    let log = Arc::new(
        Timelog::<Val>::builder()
            .memtable_max_bytes(1 << 10)
            .maintenance_wakeup(Duration::from_millis(1))
            .build()
            .unwrap(),
    );
    let weak = Arc::downgrade(&log);
    // Workers paused: nothing is flushed until the test has handed over.
    log.stop_maintenance().unwrap();
    let _ = log.append(0, Val { log: Some(log.clone()) });
    log.delete_range(0..1).unwrap();
    for t in 1..200 {
        let _ = log.append(t, Val { log: None });
    }
    assert!(log.stats().sealed_memruns > 0, "the test needs a sealed memtable for the workers to flush");
    log.start_maintenance().unwrap();
    drop(log);
    USER_DROPPED.store(true, Ordering::SeqCst);

    // The workers flush the sealed memtables without the hidden record and drop
    // it, and with it the log's last handle.
    let start = Instant::now();
    while weak.strong_count() > 0 {
        assert!(start.elapsed() < Duration::from_secs(30), "the log was never dropped");
        std::thread::sleep(Duration::from_millis(2));
    }
    // Let the worker that ran the shutdown leave its loop.
    std::thread::sleep(Duration::from_millis(200));
    let on = DROPPED_ON.lock().unwrap().clone();
    assert_eq!(on.len(), 1, "one handle-holding value, dropped once: {on:?}");
    assert!(
        on[0].starts_with("timelog-"),
        "the value was dropped on {:?}, not on a maintenance thread",
        on[0]
    );
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a thread panicked while the log shut down");

    // The process's epoch-based reclamation still works: another log's
    // retired data is freed.
    static LIVE: AtomicUsize = AtomicUsize::new(0);
    struct Counted;
    impl Clone for Counted {
        fn clone(&self) -> Self {
            LIVE.fetch_add(1, Ordering::SeqCst);
            Counted
        }
    }
    impl Drop for Counted {
        fn drop(&mut self) {
            LIVE.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let other: Timelog<Counted> = Timelog::new();
    for t in 0..1000 {
        LIVE.fetch_add(1, Ordering::SeqCst);
        let _ = other.append(t, Counted);
    }
    other.delete_range(..).unwrap();
    other.compact_now();
    assert_eq!(LIVE.load(Ordering::SeqCst), 0, "retired records of another log were not freed");
}
