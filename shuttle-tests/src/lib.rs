//! Whole-engine randomized schedules for timelog-engine.
//!
//! `tests/schedules.rs` holds one scenario body that runs two ways:
//! - as a plain std-thread stress test (`cargo test -p timelog-shuttle-tests`);
//! - under shuttle's random and PCT schedulers, on the engine's own code through
//!   its `sync` shim:
//!
//! ```sh
//! RUSTFLAGS="--cfg timelog_shuttle" SHUTTLE_ITERATIONS=1000 \
//!     cargo test --release -p timelog-shuttle-tests
//! ```
