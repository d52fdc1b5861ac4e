//! Memory the log no longer uses is returned when it settles: after `flush()` and
//! `compact_now()` return, the segments, memtables and deleted values they retired
//! are already freed — not at some later epoch pin on some thread. (Alone in its
//! own test binary, so no other test's pins or collections interfere.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use timelog::{MaintenanceMode, Timelog};

/// Counts its live instances in a shared counter.
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(live: &Arc<AtomicUsize>) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Counted(live.clone())
    }
}

impl Clone for Counted {
    fn clone(&self) -> Self {
        Counted::new(&self.0)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn settling_calls_free_what_they_retired() {
    let live = Arc::new(AtomicUsize::new(0));
    let log: Timelog<Counted> =
        Timelog::builder().memtable_max_bytes(4 << 10).maintenance(MaintenanceMode::Manual).build().unwrap();
    for b in 0..40i64 {
        let ts: Vec<i64> = (0..100).map(|i| b * 100 + i).collect();
        let vals: Vec<Counted> = ts.iter().map(|_| Counted::new(&live)).collect();
        let _ = log.append_columns(ts, vals);
        while log.maint_step().unwrap() {}
    }
    // Every record is stored once: flush and compaction copies of values replaced
    // older copies, which the settling calls must have freed.
    log.flush();
    assert_eq!(live.load(Ordering::SeqCst), 4000, "after flush");
    log.delete_range(..2000).unwrap();
    log.compact_now();
    assert_eq!(live.load(Ordering::SeqCst), 2000, "after compact_now, deleted values must be gone");
    assert_eq!(log.len(), 2000);
    drop(log);
    assert_eq!(live.load(Ordering::SeqCst), 0);
}
