//! [`TimelogScanExec`]: the physical scan of one snapshot of a log.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::{DataType, Field, SchemaRef, TimeUnit as ArrowTimeUnit};
use datafusion::arrow::error::ArrowError;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{ColumnStatistics, DataFusionError, Result, ScalarValue, internal_err, plan_err};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr, PhysicalSortExpr};
use datafusion::physical_plan::coop::cooperative;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType, SchedulingType};
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    ReplaceChildrenOptions, SendableRecordBatchStream, Statistics, StatisticsArgs,
};
use timelog::Snapshot;
use timelog::arrow::{ArrowValue, ExportOptions, ValueEncoder};

use crate::range::TsRange;

/// The name of the metric counting the rows a scan took from the log (before a
/// `LIMIT` cut the last batch); `output_rows` counts the rows it returned.
pub const ROWS_READ: &str = "rows_read";

/// The rows a partition returns at least (unless the scan holds fewer) before a
/// scan uses one more partition, by default.
pub const DEFAULT_MIN_PARTITION_ROWS: usize = 16_384;

/// How a scan reads a snapshot: what [`TimelogScanExec::try_new`] takes (see
/// its example).
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// The timestamps to read (the filters pushed into the scan).
    pub range: TsRange,
    /// The indices of the table's columns to return (`ts` is 0, `value` 1), in
    /// order; `None` for all. An empty list returns rows without columns.
    pub projection: Option<Vec<usize>>,
    /// Return at most this many rows: the first ones in timestamp order.
    pub limit: Option<usize>,
    /// At most this many partitions (at least 1).
    pub partitions: usize,
    /// Use one more partition only for at least this many more rows.
    pub min_partition_rows: usize,
    /// Rows per batch, at most.
    pub batch_rows: usize,
    /// The type of the `ts` column: `Int64` or `Timestamp`.
    pub ts_type: DataType,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            range: TsRange::ALL,
            projection: None,
            limit: None,
            partitions: 1,
            min_partition_rows: DEFAULT_MIN_PARTITION_ROWS,
            batch_rows: 8192,
            ts_type: DataType::Int64,
        }
    }
}

impl ScanOptions {
    /// Every row, all columns, one partition, batches of 8192 rows, `ts` as `Int64`.
    pub fn new() -> Self {
        ScanOptions::default()
    }
    /// Sets [`range`](ScanOptions::range).
    pub fn range(mut self, range: TsRange) -> Self {
        self.range = range;
        self
    }
    /// Sets [`projection`](ScanOptions::projection).
    pub fn projection(mut self, projection: Option<Vec<usize>>) -> Self {
        self.projection = projection;
        self
    }
    /// Sets [`limit`](ScanOptions::limit).
    pub fn limit(mut self, limit: Option<usize>) -> Self {
        self.limit = limit;
        self
    }
    /// Sets [`partitions`](ScanOptions::partitions).
    pub fn partitions(mut self, partitions: usize) -> Self {
        self.partitions = partitions;
        self
    }
    /// Sets [`min_partition_rows`](ScanOptions::min_partition_rows).
    pub fn min_partition_rows(mut self, rows: usize) -> Self {
        self.min_partition_rows = rows;
        self
    }
    /// Sets [`batch_rows`](ScanOptions::batch_rows).
    pub fn batch_rows(mut self, rows: usize) -> Self {
        self.batch_rows = rows;
        self
    }
    /// Sets [`ts_type`](ScanOptions::ts_type).
    pub fn ts_type(mut self, ts_type: DataType) -> Self {
        self.ts_type = ts_type;
        self
    }
}

/// One partition of a scan: a time sub-range and how many of its rows it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanPartition {
    /// The timestamps it reads, narrowed to the smallest and largest timestamps
    /// present (so both bounds are timestamps of rows, unless it is empty).
    pub range: TsRange,
    /// The rows in `range` in the snapshot.
    pub rows_in_range: usize,
    /// The rows it returns: `rows_in_range`, or fewer under a `LIMIT`.
    pub rows: usize,
}

/// The physical scan of one [`Snapshot`] of a log, made by
/// [`TimelogTable`](crate::TimelogTable) for each query (or directly, by
/// [`try_new`](TimelogScanExec::try_new)).
///
/// It holds the snapshot taken when the query was planned, so every partition
/// reads the same state of the log however writes go on meanwhile. The range is
/// split into disjoint time sub-ranges of about equal row counts, one per
/// partition, found with exact counts of the snapshot; each partition's rows
/// come in timestamp order (equal timestamps in insertion order), and
/// partition `i` holds timestamps below those of partition `i + 1`. Row counts
/// are exact, and so are the statistics.
///
/// Metrics: `output_rows`, `elapsed_compute` and [`ROWS_READ`] (rows taken from
/// the log, more than `output_rows` only by the tail of a batch cut by a limit).
pub struct TimelogScanExec<V: ArrowValue> {
    snapshot: Snapshot<V>,
    /// The table's schema: `ts`, then `value` unless `V` has none.
    table_schema: SchemaRef,
    opts: ScanOptions,
    /// Indices into the table's columns.
    projection: Vec<usize>,
    parts: Vec<ScanPartition>,
    export: ExportOptions,
    metrics: ExecutionPlanMetricsSet,
    props: Arc<PlanProperties>,
}

impl<V: ArrowValue> fmt::Debug for TimelogScanExec<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimelogScanExec")
            .field("range", &self.opts.range)
            .field("projection", &self.projection)
            .field("limit", &self.opts.limit)
            .field("partitions", &self.parts)
            .finish_non_exhaustive()
    }
}

impl<V: ArrowValue> TimelogScanExec<V> {
    /// A scan of `snapshot` as `opts` says. It plans the partitions at once (a few
    /// exact counts and binary searches of the snapshot, no rows read).
    ///
    /// Errors: a projection index past the table's columns, a `ts` type other than
    /// `Int64` or `Timestamp`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use datafusion::physical_plan::{collect, ExecutionPlan};
    /// use datafusion::prelude::SessionContext;
    /// use timelog::Timelog;
    /// use timelog_datafusion::{ScanOptions, TimelogScanExec, TsRange};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> datafusion::common::Result<()> {
    /// let log: Timelog<u64> = Timelog::new();
    /// let _ = log.append_batch((0..100).map(|t| (t, t as u64)));
    /// let opts = ScanOptions::new().range(TsRange::from_bounds(10..20)).partitions(2).min_partition_rows(1);
    /// let scan = Arc::new(TimelogScanExec::try_new(log.snapshot(), opts)?);
    /// assert_eq!(scan.partitions().len(), 2);
    /// assert_eq!(scan.rows(), 10);
    /// let batches = collect(scan, SessionContext::new().task_ctx()).await?;
    /// assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 10);
    /// # Ok(())
    /// # }
    /// ```
    pub fn try_new(snapshot: Snapshot<V>, opts: ScanOptions) -> Result<Self> {
        match &opts.ts_type {
            DataType::Int64 | DataType::Timestamp(..) => {}
            other => return plan_err!("the ts column must be Int64 or Timestamp, not {other}"),
        }
        let export = export_options(&opts.ts_type).batch_rows(opts.batch_rows.max(1));
        let table_schema = timelog::arrow::schema_of::<V>(&export);
        let ncols = table_schema.fields().len();
        let projection = opts.projection.clone().unwrap_or_else(|| (0..ncols).collect());
        if let Some(&bad) = projection.iter().find(|&&i| i >= ncols) {
            return plan_err!(
                "projection index {bad} is past the timelog table's {ncols} column(s) ({})",
                table_schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ")
            );
        }
        let parts = plan_partitions(&snapshot, &opts);
        let schema = Arc::new(table_schema.project(&projection)?);
        let props = Arc::new(properties(schema, &projection, parts.len()));
        Ok(TimelogScanExec {
            snapshot,
            table_schema,
            opts,
            projection,
            parts,
            export,
            metrics: ExecutionPlanMetricsSet::new(),
            props,
        })
    }

    /// The snapshot it reads.
    pub fn snapshot(&self) -> &Snapshot<V> {
        &self.snapshot
    }

    /// The range it was asked to read (from the pushed-down filters).
    pub fn range(&self) -> TsRange {
        self.opts.range
    }

    /// Its options.
    pub fn options(&self) -> &ScanOptions {
        &self.opts
    }

    /// The columns it returns, as indices of the table's columns.
    pub fn projection(&self) -> &[usize] {
        &self.projection
    }

    /// Its partitions, in timestamp order.
    pub fn partitions(&self) -> &[ScanPartition] {
        &self.parts
    }

    /// The rows it returns (exact).
    pub fn rows(&self) -> usize {
        self.parts.iter().map(|p| p.rows).sum()
    }

    /// Rows taken from the log so far, over all partitions ([`ROWS_READ`]).
    pub fn rows_read(&self) -> usize {
        self.metrics.clone_inner().sum_by_name(ROWS_READ).map_or(0, |v| v.as_usize())
    }

    /// The statistics of partition `p`, or of the whole scan.
    fn stats(&self, p: Option<usize>) -> Result<Statistics> {
        let parts = match p {
            Some(i) if i < self.parts.len() => &self.parts[i..=i],
            Some(i) => {
                return internal_err!("TimelogScanExec has no partition {i} (it has {})", self.parts.len());
            }
            None => &self.parts[..],
        };
        let rows: usize = parts.iter().map(|p| p.rows).sum();
        let bounds = |f: fn(&ScanPartition) -> Option<i64>, first: bool| {
            let mut it = parts.iter().filter(|p| p.rows > 0);
            let p = if first { it.next() } else { it.next_back() };
            p.and_then(f)
        };
        // The smallest timestamp is exact; the largest too unless a limit cut the
        // last partition short.
        let min = bounds(|p| p.range.bounds().map(|b| b.0), true);
        let max = bounds(|p| p.range.bounds().map(|b| b.1), false);
        let cut = parts.iter().any(|p| p.rows < p.rows_in_range);
        let mut stats = Statistics::new_unknown(&self.schema()).with_num_rows(Precision::Exact(rows));
        for (out, &col) in stats.column_statistics.iter_mut().zip(&self.projection) {
            let field = self.table_schema.field(col);
            let nulls = if field.is_nullable() { Precision::Absent } else { Precision::Exact(0) };
            *out = ColumnStatistics::new_unknown().with_null_count(nulls);
            if col == 0 {
                let scalar = |v: i64| ts_scalar(v, field);
                if let Some(v) = min {
                    out.min_value = Precision::Exact(scalar(v));
                }
                if let Some(v) = max {
                    out.max_value =
                        if cut { Precision::Inexact(scalar(v)) } else { Precision::Exact(scalar(v)) };
                }
                if rows == 0 {
                    out.distinct_count = Precision::Exact(0);
                }
            }
        }
        Ok(stats)
    }
}

/// The export options of a `ts` type.
pub(crate) fn export_options(ts_type: &DataType) -> ExportOptions {
    match ts_type {
        DataType::Timestamp(u, Some(tz)) => {
            ExportOptions::new().timestamp_tz(timelog::arrow::log_unit(*u), tz)
        }
        DataType::Timestamp(u, None) => ExportOptions::new().timestamp(timelog::arrow::log_unit(*u)),
        _ => ExportOptions::new().int64(),
    }
}

/// A value of the `ts` column as a scalar of its type.
fn ts_scalar(v: i64, field: &Field) -> ScalarValue {
    match field.data_type() {
        DataType::Timestamp(u, tz) => match u {
            ArrowTimeUnit::Second => ScalarValue::TimestampSecond(Some(v), tz.clone()),
            ArrowTimeUnit::Millisecond => ScalarValue::TimestampMillisecond(Some(v), tz.clone()),
            ArrowTimeUnit::Microsecond => ScalarValue::TimestampMicrosecond(Some(v), tz.clone()),
            ArrowTimeUnit::Nanosecond => ScalarValue::TimestampNanosecond(Some(v), tz.clone()),
        },
        _ => ScalarValue::Int64(Some(v)),
    }
}

/// Plan properties: `n` partitions, each ordered by `ts` when `ts` is returned.
fn properties(schema: SchemaRef, projection: &[usize], n: usize) -> PlanProperties {
    let orderings = projection.iter().position(|&c| c == 0).map(|i| {
        let ts: Arc<dyn PhysicalExpr> = Arc::new(Column::new(crate::pushdown::TS, i));
        // `ts` is never NULL: both NULL placements hold.
        [true, false].map(|nulls_first| {
            vec![PhysicalSortExpr::new(Arc::clone(&ts), SortOptions { descending: false, nulls_first })]
        })
    });
    let eq = EquivalenceProperties::new_with_orderings(schema, orderings.into_iter().flatten());
    PlanProperties::new(
        eq,
        Partitioning::UnknownPartitioning(n),
        EmissionType::Incremental,
        Boundedness::Bounded,
    )
    .with_scheduling_type(SchedulingType::Cooperative)
}

/// `range` narrowed to the smallest and largest visible timestamps in it.
fn tighten<V: ArrowValue>(snap: &Snapshot<V>, range: TsRange) -> TsRange {
    let Some((lo, hi)) = range.bounds() else { return TsRange::EMPTY };
    let first = if lo == i64::MIN { snap.first_ts() } else { snap.next_ts(lo - 1) };
    let last = if hi == i64::MAX { snap.last_ts() } else { snap.prev_ts(hi + 1) };
    match (first, last) {
        (Some(a), Some(b)) if lo <= a && b <= hi => TsRange::new(a, b),
        _ => TsRange::EMPTY,
    }
}

/// The smallest `t` in `[lo, hi]` with at least `target` rows in `[lo, t]`
/// (`target` must be at most the rows in `[lo, hi]`).
fn nth_row_ts<V: ArrowValue>(snap: &Snapshot<V>, lo: i64, hi: i64, target: usize) -> i64 {
    let (mut a, mut b) = (lo as i128, hi as i128);
    while a < b {
        let mid = a + (b - a) / 2;
        if snap.count(lo..=mid as i64) >= target {
            b = mid;
        } else {
            a = mid + 1;
        }
    }
    a as i64
}

/// Splits the scan's range into partitions of about equal row counts.
fn plan_partitions<V: ArrowValue>(snap: &Snapshot<V>, opts: &ScanOptions) -> Vec<ScanPartition> {
    let empty = vec![ScanPartition { range: TsRange::EMPTY, rows_in_range: 0, rows: 0 }];
    let span = tighten(snap, opts.range);
    let Some((lo, mut hi)) = span.bounds() else { return empty };
    let mut total = snap.count(lo..=hi);
    let limit = opts.limit.unwrap_or(usize::MAX);
    if limit == 0 || total == 0 {
        return empty;
    }
    if limit < total {
        // Only the first `limit` rows are needed: stop at the timestamp of the
        // last of them.
        hi = nth_row_ts(snap, lo, hi, limit);
        total = snap.count(lo..=hi);
    }
    let wanted = total.min(limit);
    let n = opts.partitions.max(1).min(wanted / opts.min_partition_rows.max(1)).max(1);
    if n == 1 {
        return vec![ScanPartition { range: TsRange::new(lo, hi), rows_in_range: total, rows: wanted }];
    }
    let mut parts = Vec::with_capacity(n);
    let mut start = lo;
    let mut before = 0;
    let mut returned = 0;
    for k in 1..=n {
        let end = if k == n {
            hi
        } else {
            let target = (total as u128 * k as u128 / n as u128) as usize;
            if target <= before {
                continue;
            }
            nth_row_ts(snap, lo, hi, target)
        };
        let range = tighten(snap, TsRange::new(start, end));
        let rows_in_range = snap.count(start..=end);
        if rows_in_range > 0 {
            let rows = rows_in_range.min(wanted - returned);
            returned += rows;
            parts.push(ScanPartition { range, rows_in_range, rows });
        }
        before += rows_in_range;
        if end == hi {
            break;
        }
        start = end + 1;
    }
    if parts.is_empty() {
        return empty;
    }
    parts
}

impl<V: ArrowValue> DisplayAs for TimelogScanExec<V> {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> =
            self.projection.iter().map(|&i| self.table_schema.field(i).name().as_str()).collect();
        let projection = format!("[{}]", names.join(", "));
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => {
                write!(
                    f,
                    "TimelogScan: ts={}, rows={}, partitions={}, projection={projection}",
                    self.opts.range,
                    self.rows(),
                    self.parts.len()
                )?;
                if let Some(l) = self.opts.limit {
                    write!(f, ", limit={l}")?;
                }
                if matches!(t, DisplayFormatType::Verbose) {
                    let ranges: Vec<String> =
                        self.parts.iter().map(|p| format!("{} ({} rows)", p.range, p.rows)).collect();
                    write!(f, ", partition_ranges=[{}]", ranges.join(", "))?;
                }
                Ok(())
            }
            DisplayFormatType::TreeRender => {
                writeln!(f, "ts={}", self.opts.range)?;
                writeln!(f, "rows={}", self.rows())?;
                writeln!(f, "partitions={}", self.parts.len())?;
                if let Some(l) = self.opts.limit {
                    writeln!(f, "limit={l}")?;
                }
                write!(f, "projection={projection}")
            }
        }
    }
}

impl<V: ArrowValue> ExecutionPlan for TimelogScanExec<V> {
    fn name(&self) -> &str {
        "TimelogScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !children.is_empty() {
            return internal_err!("TimelogScanExec has no children, got {}", children.len());
        }
        Ok(self)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
    }

    fn execute(&self, partition: usize, _context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let Some(part) = self.parts.get(partition).copied() else {
            return internal_err!(
                "TimelogScanExec has no partition {partition} (it has {})",
                self.parts.len()
            );
        };
        let schema = self.schema();
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let rows_read = MetricBuilder::new(&self.metrics).counter(ROWS_READ, partition);
        let needs_value = self.projection.iter().any(|&c| c != 0);
        let opts = self.export.clone().batch_rows(self.opts.batch_rows.max(1).min(part.rows.max(1)));
        let reader: BatchIter = match part.range.to_range() {
            Some(r) if part.rows > 0 => {
                if needs_value {
                    Box::new(self.snapshot.record_batches(r, &opts))
                } else {
                    Box::new(self.snapshot.record_batches_with(r, &opts, TsOnly))
                }
            }
            _ => Box::new(std::iter::empty()),
        };
        let limited = part.rows < part.rows_in_range;
        let reader = PartitionReader {
            reader,
            left: limited.then_some(part.rows),
            projection: self.projection.clone(),
            schema: Arc::clone(&schema),
            baseline,
            rows_read,
            context: format!("reading timelog range {} (partition {partition})", part.range),
        };
        let stream = RecordBatchStreamAdapter::new(schema, futures::stream::iter(reader));
        Ok(Box::pin(cooperative(stream)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn statistics_from_inputs(
        &self,
        _input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        self.stats(args.partition()).map(Arc::new)
    }
}

type BatchIter = Box<dyn Iterator<Item = std::result::Result<RecordBatch, ArrowError>> + Send>;

/// The export's value encoder when `value` is not needed: no value column.
struct TsOnly;

impl<V> ValueEncoder<V> for TsOnly {
    fn field(&self) -> Option<Field> {
        None
    }

    fn encode(&mut self, _values: &[&V]) -> timelog::Result<ArrayRef> {
        Err(timelog::Error::Arrow("a timestamps-only export encodes no values".into()))
    }
}

/// One partition's batches: the export's, cut to the limit, projected.
struct PartitionReader {
    reader: BatchIter,
    /// Rows still to return under a limit.
    left: Option<usize>,
    projection: Vec<usize>,
    schema: SchemaRef,
    baseline: BaselineMetrics,
    rows_read: Count,
    context: String,
}

impl PartitionReader {
    fn finish(&mut self) {
        // Release the snapshot's segments now, not when the stream is dropped.
        self.reader = Box::new(std::iter::empty());
        self.left = Some(0);
        self.baseline.done();
    }
}

impl Iterator for PartitionReader {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == Some(0) {
            return None;
        }
        let timer = self.baseline.elapsed_compute().timer();
        let batch = match self.reader.next() {
            Some(Ok(b)) => b,
            Some(Err(e)) => {
                drop(timer);
                self.finish();
                return Some(Err(DataFusionError::from(e).context(self.context.clone())));
            }
            None => {
                drop(timer);
                self.finish();
                return None;
            }
        };
        self.rows_read.add(batch.num_rows());
        let mut n = batch.num_rows();
        if let Some(left) = self.left.as_mut() {
            n = n.min(*left);
            *left -= n;
        }
        let cols: Vec<ArrayRef> = self.projection.iter().map(|&i| batch.column(i).slice(0, n)).collect();
        let out = RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            cols,
            &RecordBatchOptions::new().with_row_count(Some(n)),
        )
        .map_err(|e| DataFusionError::from(e).context(self.context.clone()));
        drop(timer);
        match &out {
            Ok(b) => {
                self.baseline.record_output(b.num_rows());
            }
            Err(_) => self.finish(),
        }
        if self.left == Some(0) {
            self.finish();
        }
        Some(out)
    }
}
