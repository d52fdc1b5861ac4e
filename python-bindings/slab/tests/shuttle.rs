//! Shuttle schedules of the slab protocol as a free-threaded interpreter (no GIL)
//! would drive it: the randomized churn of `common/churn.rs` (three threads
//! inserting, cloning, reading, dropping, draining, passing handles to each other,
//! one of them force-releasing its owner halfway) on a slab of 4 chunks of 2 slots,
//! under shuttle's random and PCT schedulers:
//!
//! ```sh
//! RUSTFLAGS="--cfg timelog_shuttle" SHUTTLE_ITERATIONS=5000 \
//!     cargo test --release --manifest-path python-bindings/slab/Cargo.toml --test shuttle
//! ```
//!
//! Shuttle explores sequentially consistent interleavings (not weak memory: loom's
//! models cover the orderings); what it adds is long schedules with many slots,
//! chunks and owners. A failure prints the schedule to replay.
#![cfg(timelog_shuttle)]

mod common;

fn iterations() -> usize {
    std::env::var("SHUTTLE_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(5000)
}

/// An operation seed from shuttle's random source (recorded with the schedule, so a
/// failing iteration replays with the same operations).
fn seed() -> u64 {
    use shuttle::rand::RngCore;
    shuttle::rand::thread_rng().next_u64()
}

/// Random schedules, each with its own operations.
#[test]
fn churn_random_schedules() {
    shuttle::check_random(|| common::churn::churn(3, 24, seed()), iterations());
}

/// PCT schedules (depth 3: bugs that need up to two preemptions at chosen points),
/// each with its own operations.
#[test]
fn churn_pct_schedules() {
    shuttle::check_pct(|| common::churn::churn(3, 24, seed()), iterations(), 3);
}
