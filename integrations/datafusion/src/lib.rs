//! # timelog-datafusion
//!
//! SQL over a live [`timelog::Timelog`]: a DataFusion
//! [`TableProvider`](datafusion::catalog::TableProvider), [`TimelogTable`], and
//! its scan, [`TimelogScanExec`].
//!
//! - **One snapshot per query**: planning takes a snapshot of the log; every
//!   partition of the scan reads that snapshot, so a query sees one state of the
//!   log while writers keep appending.
//! - **Time-range pushdown**: predicates on `ts` (`>=`, `>`, `<`, `<=`, `=`,
//!   `BETWEEN`, `IN`, `AND`/`OR` of them, against integer or timestamp literals of
//!   any unit, through the casts DataFusion inserts) become the range the scan
//!   reads; exactly translated ones leave no filter behind. See [`pushdown`].
//! - **Partitions in time order**: the range is split into disjoint sub-ranges of
//!   about equal row counts (exact counts of the snapshot); each is read in `ts`
//!   order, which the plan declares, so `ORDER BY ts` needs no sort.
//! - **Projection, `LIMIT`, exact statistics**: `count(*)` reads no column;
//!   `LIMIT` reads only the first rows; row counts and `ts` bounds are exact.
//!
//! ```
//! use std::sync::Arc;
//! use datafusion::prelude::SessionContext;
//! use timelog::Timelog;
//! use timelog_datafusion::TimelogTable;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> datafusion::common::Result<()> {
//! let log: Arc<Timelog<u64>> = Arc::new(Timelog::new());
//! let _ = log.append_batch((0..10_000).map(|t| (t, t as u64 % 7)));
//!
//! let ctx = SessionContext::new();
//! ctx.register_table("t", Arc::new(TimelogTable::new(log.clone())))?;
//! let batches = ctx.sql("SELECT count(*) AS n FROM t WHERE ts >= 100 AND ts < 200 AND value = 3").await?.collect().await?;
//! datafusion::assert_batches_eq!(["+----+", "| n  |", "+----+", "| 15 |", "+----+"], &batches);
//!
//! // The ts predicates became the scan's range; the value one stays a filter.
//! let plan = ctx.sql("EXPLAIN SELECT * FROM t WHERE ts >= 100 AND ts < 200 AND value = 3").await?.collect().await?;
//! let text = datafusion::arrow::util::pretty::pretty_format_batches(&plan)?.to_string();
//! assert!(text.contains("TimelogScan: ts=[100, 200)"), "{text}");
//! assert!(text.contains("FilterExec: value@1 = 3"), "{text}");
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod exec;
pub mod pushdown;
mod range;
mod table;

pub use exec::{DEFAULT_MIN_PARTITION_ROWS, ROWS_READ, ScanOptions, ScanPartition, TimelogScanExec};
pub use range::TsRange;
pub use table::TimelogTable;

/// The README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
