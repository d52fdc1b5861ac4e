//! [`TimelogTable`]: the `TableProvider` over a live log.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::common::{Result, Statistics, plan_err};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use timelog::arrow::{ArrowValue, arrow_unit};
use timelog::{TimeUnit, Timelog};

use crate::exec::{DEFAULT_MIN_PARTITION_ROWS, ScanOptions, TimelogScanExec, export_options};
use crate::pushdown::{filter_range, filters_range};

/// A DataFusion table over a live [`Timelog`]: columns `ts` (`Int64`, or
/// `Timestamp` when registered with a unit) and `value` (the payload's Arrow type,
/// see [`ArrowValue`]; no column for `()`), rows in timestamp order.
///
/// Each query takes one snapshot of the log when it is planned and reads only
/// that, in parallel partitions, while writers go on appending. Predicates on
/// `ts` are pushed into the scan and read as a time range (see
/// [`pushdown`](crate::pushdown)); `LIMIT` stops the reading; the scan declares
/// its `ts` order, so `ORDER BY ts` sorts nothing, and exact row counts.
///
/// ```
/// use std::sync::Arc;
/// use datafusion::prelude::SessionContext;
/// use timelog::{TimeUnit, Timelog};
/// use timelog_datafusion::TimelogTable;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> datafusion::common::Result<()> {
/// let log: Arc<Timelog<f64>> = Arc::new(Timelog::new());
/// let _ = log.append_batch((0..1000).map(|t| (t * 1_000_000, t as f64)));
///
/// let ctx = SessionContext::new();
/// ctx.register_table("ticks", Arc::new(TimelogTable::new(log.clone()).with_timestamp(TimeUnit::Nanos)))?;
/// let df = ctx
///     .sql("SELECT count(*) AS n, max(value) AS hi FROM ticks \
///           WHERE ts >= TIMESTAMP '1970-01-01T00:00:00.100' AND ts < TIMESTAMP '1970-01-01T00:00:00.200'")
///     .await?;
/// let batches = df.collect().await?;
/// datafusion::assert_batches_eq!(
///     ["+-----+-------+", "| n   | hi    |", "+-----+-------+", "| 100 | 199.0 |", "+-----+-------+"],
///     &batches
/// );
/// # Ok(())
/// # }
/// ```
pub struct TimelogTable<V: ArrowValue> {
    log: Arc<Timelog<V>>,
    ts_type: DataType,
    schema: SchemaRef,
    batch_rows: Option<usize>,
    partitions: Option<usize>,
    min_partition_rows: usize,
    pushdown: bool,
}

impl<V: ArrowValue> Clone for TimelogTable<V> {
    fn clone(&self) -> Self {
        TimelogTable {
            log: Arc::clone(&self.log),
            ts_type: self.ts_type.clone(),
            schema: Arc::clone(&self.schema),
            batch_rows: self.batch_rows,
            partitions: self.partitions,
            min_partition_rows: self.min_partition_rows,
            pushdown: self.pushdown,
        }
    }
}

impl<V: ArrowValue> fmt::Debug for TimelogTable<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimelogTable")
            .field("schema", &self.schema)
            .field("batch_rows", &self.batch_rows)
            .field("partitions", &self.partitions)
            .field("min_partition_rows", &self.min_partition_rows)
            .field("pushdown", &self.pushdown)
            .finish_non_exhaustive()
    }
}

impl<V: ArrowValue> TimelogTable<V> {
    /// A table over `log` (a `Timelog<V>` or an `Arc` of one, to keep writing
    /// to it), with `ts` as `Int64`, the session's batch size and target
    /// partitions, and filter pushdown on.
    pub fn new(log: impl Into<Arc<Timelog<V>>>) -> Self {
        TimelogTable {
            log: log.into(),
            ts_type: DataType::Int64,
            schema: timelog::arrow::schema_of::<V>(&export_options(&DataType::Int64)),
            batch_rows: None,
            partitions: None,
            min_partition_rows: DEFAULT_MIN_PARTITION_ROWS,
            pushdown: true,
        }
    }

    fn with_ts_type(mut self, ts_type: DataType) -> Self {
        self.schema = timelog::arrow::schema_of::<V>(&export_options(&ts_type));
        self.ts_type = ts_type;
        self
    }

    /// `ts` as `Timestamp(unit)` without a time zone: the log's timestamps count
    /// `unit`s since the Unix epoch. Timestamp literals of any unit then compare
    /// with it (`WHERE ts >= TIMESTAMP '2024-01-01T00:00:00'`).
    pub fn with_timestamp(self, unit: TimeUnit) -> Self {
        self.with_ts_type(DataType::Timestamp(arrow_unit(unit), None))
    }

    /// `ts` as `Timestamp` in the unit of the log's configuration
    /// ([`Config::time_unit`](timelog::Config::time_unit)).
    pub fn with_log_timestamp(self) -> Self {
        let unit = self.log.config().time_unit();
        self.with_timestamp(unit)
    }

    /// `ts` as `Timestamp(unit, tz)`: the same instants (counted from the Unix
    /// epoch in UTC), shown in time zone `tz`, an IANA name (`"Europe/Paris"`) or
    /// an offset (`"+02:00"`); an unknown zone is a plan error.
    pub fn with_timestamp_tz(self, unit: TimeUnit, tz: &str) -> Result<Self> {
        if let Err(e) = tz.parse::<Tz>() {
            return plan_err!("invalid time zone {tz:?} for the ts column: {e}");
        }
        Ok(self.with_ts_type(DataType::Timestamp(arrow_unit(unit), Some(tz.into()))))
    }

    /// `ts` as `Int64` (the default).
    pub fn with_int64(self) -> Self {
        self.with_ts_type(DataType::Int64)
    }

    /// At most `rows` rows per batch (at least 1); by default the session's
    /// `datafusion.execution.batch_size`.
    pub fn with_batch_rows(mut self, rows: usize) -> Self {
        self.batch_rows = Some(rows.max(1));
        self
    }

    /// At most `n` partitions per scan (at least 1); by default the session's
    /// `datafusion.execution.target_partitions`. A scan uses fewer when its range
    /// holds fewer than `n` times [`with_min_partition_rows`](Self::with_min_partition_rows) rows.
    pub fn with_partitions(mut self, n: usize) -> Self {
        self.partitions = Some(n.max(1));
        self
    }

    /// A scan uses one more partition only for at least this many more rows
    /// (default 16,384; at least 1).
    pub fn with_min_partition_rows(mut self, rows: usize) -> Self {
        self.min_partition_rows = rows.max(1);
        self
    }

    /// Whether predicates on `ts` are pushed into the scan (on by default). Off,
    /// every filter is reported unsupported and DataFusion filters every row of
    /// the log: for comparisons.
    pub fn with_filter_pushdown(mut self, on: bool) -> Self {
        self.pushdown = on;
        self
    }

    /// The log.
    pub fn log(&self) -> &Arc<Timelog<V>> {
        &self.log
    }

    /// The type of the `ts` column.
    pub fn ts_type(&self) -> &DataType {
        &self.ts_type
    }

    /// The scan options of a query against this table (before the session's
    /// defaults are applied).
    fn scan_options(&self, state: &dyn Session) -> ScanOptions {
        let cfg = state.config();
        ScanOptions::new()
            .ts_type(self.ts_type.clone())
            .batch_rows(self.batch_rows.unwrap_or(cfg.batch_size()).max(1))
            .partitions(self.partitions.unwrap_or(cfg.target_partitions()).max(1))
            .min_partition_rows(self.min_partition_rows)
    }
}

#[async_trait]
impl<V: ArrowValue> TableProvider for TimelogTable<V> {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let range = if self.pushdown { filters_range(filters, &self.ts_type) } else { Default::default() };
        let opts = self.scan_options(state).range(range).projection(projection.cloned()).limit(limit);
        // One snapshot per query, shared by all partitions.
        Ok(Arc::new(TimelogScanExec::try_new(self.log.snapshot(), opts)?))
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| match filter_range(f, &self.ts_type) {
                Some(r) if self.pushdown && r.exact => TableProviderFilterPushDown::Exact,
                Some(_) if self.pushdown => TableProviderFilterPushDown::Inexact,
                _ => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    /// The rows of the log now (inexact: the log is live; each scan's own
    /// statistics are exact for its snapshot).
    fn statistics(&self) -> Option<Statistics> {
        let rows = self.log.snapshot().len();
        Some(Statistics::new_unknown(&self.schema).with_num_rows(Precision::Inexact(rows)))
    }
}
