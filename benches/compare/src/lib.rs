//! Benchmark support for `timelog-engine`, kept out of the engine's public API.
//!
//! - [`workload`]: the canonical benchmark workload, the data of every figure in
//!   `docs/performance.md`; the engine's examples, criterion benches and tests use
//!   it as a dev-dependency.
//! - The binary `timelog-compare` (`src/bin/timelog-compare/`): the workload on the
//!   engine and, in the same process, on `Vec`, `BTreeMap`, `RwLock<BTreeMap>` and
//!   crossbeam `SkipMap` baselines. From the repository root:
//!   `cargo run --release --bin timelog-compare -- --records 5000000 --json out.json`.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod workload;
