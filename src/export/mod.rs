//! Export and import: Arrow record batches over snapshot ranges ([`arrow`]) and
//! time-partitioned Parquet files with a lossless archive step ([`parquet`]).
//! Everything here is behind the `arrow` cargo feature.

pub mod arrow;
pub mod parquet;
