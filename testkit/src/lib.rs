//! The test kit of `timelog-engine`: what the integration tests (`tests/`) and the
//! fuzz targets (`fuzz/`) check the engine with, in one place.
//!
//! - [`oracle`]: the one trivially correct model of the log (records with
//!   sequence numbers, sequenced range tombstones, the bounded deletes of
//!   `Timelog::evict`) and [`oracle::View`], the records a snapshot must show,
//!   with the reads answered on them;
//! - [`check`]: reads of a snapshot (and of the log's shortcuts) compared with a
//!   view: scans from either end or both, counts, points, navigation, cursors,
//!   segment pages; and the usual ranges and probes at the ends of `i64`;
//! - [`ledger`]: the drop ledger and [`ledger::Tracked`], the counted value that
//!   owns a heap cell and accounts for every instance (leaks, double drops, reads
//!   of dropped values);
//! - [`bounds`]: range bounds as `i128` intervals (empty or inverted, `in_bounds`);
//! - [`gen`]: the deterministic generator (xorshift64 with bounded draws);
//! - here: the log configurations and waiting helpers several tests use.

pub mod bounds;
pub mod check;
pub mod gen;
pub mod ledger;
pub mod oracle;

use std::time::{Duration, Instant};

use timelog::{Builder, MaintenanceMode, Timelog, Value};

/// Both maintenance modes, for tests that run once in each.
pub const MODES: [MaintenanceMode; 2] = [MaintenanceMode::Manual, MaintenanceMode::Background];

/// A log whose memtable (256 bytes) seals after a few records and whose single L0
/// segment asks for a compaction at once, with pages of the smallest size, no
/// backpressure wait and a worker that wakes every millisecond: seals, flushes and
/// compactions happen all the time.
pub fn tiny<V: Value>(mode: MaintenanceMode) -> Builder<V> {
    Timelog::builder()
        .memtable_max_bytes(256)
        .target_page_bytes(256)
        .max_l0_segments(1)
        .sealed_wait(Duration::ZERO)
        .maintenance_wakeup(Duration::from_millis(1))
        .maintenance(mode)
}

/// Runs manual maintenance steps until one reports no work left.
pub fn run_maintenance<V: Value>(log: &Timelog<V>) {
    while log.maint_step().unwrap() {}
}

/// Cases of a property test: `PROPTEST_CASES` if set, else `default`.
pub fn proptest_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Calls `done` until it returns `true` (then `true`) or `timeout` has passed
/// (then `false`), sleeping a millisecond between calls.
pub fn eventually(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Pins and flushes the epoch on this thread `rounds` times, so that garbage
/// retired through `crossbeam-epoch` (manifests, with the memtables, segments and
/// values they hold) can be collected.
pub fn flush_epoch(rounds: usize) {
    for _ in 0..rounds {
        crossbeam_epoch::pin().flush();
    }
}
