//! The integration tests of `timelog-datafusion`, one scenario per module, in a
//! single test binary: each binary links DataFusion, so one instead of one per
//! file saves most of the link time. Run one scenario with
//! `cargo test --test it MODULE::`.

mod common;

mod errors;
mod exact_statistics;
mod explain_pushdown;
mod i64_edges;
mod limit_and_rows_read;
mod oracle_random_predicates;
mod ordering_partitions;
mod parquet_listing;
mod projection_count;
mod root_readme;
mod snapshot_per_query;
mod timestamp_literals;
