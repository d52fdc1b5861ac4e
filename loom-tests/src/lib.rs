//! Loom models of timelog-engine's publication protocols.
//!
//! The models live in `tests/` and only exist when the workspace is compiled
//! with `--cfg timelog_loom`, which also switches the engine's `sync` shim to
//! loom's primitives:
//!
//! ```sh
//! RUSTFLAGS="--cfg timelog_loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test --release -p timelog-loom-tests
//! ```
//!
//! Without the cfg this crate is empty, so `cargo test --workspace` stays fast.
