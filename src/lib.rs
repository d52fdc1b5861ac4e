//! # timelog
//!
//! A lock-free, concurrent, in-memory, time-indexed multimap: an LSM-style
//! store of `(ts: i64, value)` records that answers "everything in `[t1, t2)`"
//! fast while many threads write and read.
//!
//! ```
//! use timelog::Timelog;
//!
//! let log: Timelog<&str> = Timelog::new();
//! let _ = log.append(1_700_000_000_000, "tick");
//! let _ = log.append_batch([(5, "a"), (3, "b"), (5, "c")]);
//! log.delete_range(..4).unwrap();
//!
//! let snap = log.snapshot();
//! let got: Vec<_> = snap.range(0..10).collect();
//! assert_eq!(got, vec![(5, &"a"), (5, &"c")]);
//! assert_eq!(snap.count(..), 3);
//! assert_eq!(snap.prev_ts(i64::MAX), Some(1_700_000_000_000));
//! ```
//!
//! Layers, from newest to oldest: the active **memtable** (lock-free lanes,
//! batch runs and a skiplist), sealed **memruns**, **L0** segments (one per
//! flushed memrun), and **L1** segments (compacted, window-partitioned, never
//! overlapping), with **patches** of late records laid over them where merging
//! would rewrite far more than arrives. A [`Snapshot`] pins one immutable
//! manifest of these layers plus a sequence watermark; deletes are sequenced
//! range tombstones. See
//! `docs/architecture.md` for the design and its invariants.
//!
//! Reads return the iterator types of the [`iter`] module: [`iter::Range`]
//! ([`Snapshot::range`], double-ended, borrowing the snapshot), [`iter::Point`]
//! ([`Snapshot::point`]) and [`iter::Cursor`] ([`Snapshot::into_cursor`], which owns
//! what it reads).

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod bounds;
mod config;
mod counters;
mod error;
#[cfg(feature = "arrow")]
mod export;
mod hint;
pub mod iter;
mod manifest;
mod memtable;
mod merge;
mod outcome;
mod packed;
mod pipeline;
mod segment;
mod seq;
mod snapshot;
mod source;
mod stats;
mod store;
pub(crate) mod sync;
mod timelog;
mod tombstone;

pub use config::{AdaptiveConfig, Builder, CompactionConfig, Config, MaintenanceMode, TimeUnit};
pub use error::{Error, Result};
pub use outcome::{Accepted, Written};
pub use segment::Level;
pub use snapshot::{PageRef, Snapshot};
pub use stats::Stats;
pub use timelog::Timelog;

#[cfg(feature = "arrow")]
pub use export::{arrow, parquet};

/// What the log can store: values are shared by reference between threads and
/// cloned when flush and compaction rewrite them into segments.
pub trait Value: Clone + Send + Sync + 'static {}
impl<T: Clone + Send + Sync + 'static> Value for T {}

/// The README's Rust examples, compiled and run as doctests (with the `arrow`
/// feature, which its Arrow and Parquet example needs).
#[doc = include_str!("../README.md")]
#[cfg(all(doctest, feature = "arrow"))]
pub struct ReadmeDoctests;
