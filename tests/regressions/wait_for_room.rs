//! `wait_for_room` returns once the background flusher drained the sealed queue.
//!
//! What it guards: `wait_for_room` (for callers that wait for room on their own
//! terms instead of in every write) must return `false` while nothing can make
//! room (workers stopped) and `true` as soon as a restarted flusher has drained
//! the sealed queue to within `sealed_max_runs`, which `sealed_queue_len` must
//! report; no write may be lost on the way.
//!
//! How it came: written with `sealed_queue_len` and `wait_for_room`, which the
//! language bindings asked for; a guard of that API rather than the reproduction
//! of a reported failure.

use std::time::Duration;

use timelog::Timelog;

#[test]
fn wait_for_room_returns_when_the_queue_drains() {
    let log: Timelog<u64> = Timelog::builder()
        .memtable_max_bytes(256)
        .sealed_max_runs(1)
        .sealed_wait(Duration::ZERO)
        .build()
        .unwrap();
    log.stop_maintenance().unwrap();
    let mut pressure = false;
    for i in 0..400 {
        pressure |= log.append(i, i as u64).is_backpressure();
    }
    assert!(pressure, "without workers the queue overflows and writes say so");
    assert!(log.sealed_queue_len() > 1);
    assert!(!log.wait_for_room(Duration::from_millis(10)), "stopped workers make no room");
    log.start_maintenance().unwrap();
    assert!(log.wait_for_room(Duration::from_secs(10)));
    assert!(log.sealed_queue_len() <= 1);
    assert_eq!(log.len(), 400);
}
