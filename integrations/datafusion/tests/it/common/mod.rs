//! Shared by the integration tests: a log with every layer, its oracle, and
//! SQL helpers.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use datafusion::prelude::{SessionConfig, SessionContext};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use timelog::{MaintenanceMode, Timelog};
use timelog_datafusion::{TimelogScanExec, TimelogTable};

/// Everything written and not deleted, in the log's order: ascending `ts`, equal
/// timestamps in insertion order.
#[derive(Default, Clone)]
pub struct Oracle {
    /// (ts, value), in insertion order; deleted entries removed.
    rows: Vec<(i64, i64)>,
}

impl Oracle {
    pub fn append(&mut self, recs: &[(i64, i64)]) {
        self.rows.extend_from_slice(recs);
    }
    pub fn delete(&mut self, lo: i64, hi: i64) {
        self.rows.retain(|&(t, _)| t < lo || t > hi);
    }
    /// The rows in the log's order.
    pub fn sorted(&self) -> Vec<(i64, i64)> {
        let mut v = self.rows.clone();
        v.sort_by_key(|&(t, _)| t); // stable: ties keep insertion order
        v
    }
    pub fn len(&self) -> usize {
        self.rows.len()
    }
}

/// A log with L1 segments, overlapping L0 segments, sealed and active memtable
/// records and range tombstones in each layer, values unique ids (so `ORDER BY
/// ts, value` is the log's own order). Timestamps in `[-span, span]`, plus a few
/// at the `i64` extremes when `extremes`.
pub fn layered_log(seed: u64, per_layer: usize, span: i64, extremes: bool) -> (Arc<Timelog<i64>>, Oracle) {
    let log: Arc<Timelog<i64>> =
        Arc::new(Timelog::builder().maintenance(MaintenanceMode::Manual).build().expect("config"));
    let mut oracle = Oracle::default();
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut id = 0i64;
    let mut write = |rng: &mut SmallRng, oracle: &mut Oracle, n: usize| {
        let mut recs: Vec<(i64, i64)> = (0..n)
            .map(|_| {
                id += 1;
                // Clusters of duplicates now and then.
                let t = if rng.random_bool(0.1) {
                    rng.random_range(-3..=3)
                } else {
                    rng.random_range(-span..=span)
                };
                (t, id)
            })
            .collect();
        if extremes {
            for t in [i64::MIN, i64::MIN + 1, i64::MAX - 1, i64::MAX] {
                id += 1;
                recs.push((t, id));
            }
        }
        let _ = log.append_batch(recs.iter().copied());
        oracle.append(&recs);
    };
    let delete = |rng: &mut SmallRng, oracle: &mut Oracle| {
        let a = rng.random_range(-span..=span);
        let b = a.saturating_add(rng.random_range(0..=span / 20));
        log.delete_range(a..=b).expect("delete");
        oracle.delete(a, b);
    };
    // L1: compacted (its tombstone applied by compaction).
    write(&mut rng, &mut oracle, per_layer);
    delete(&mut rng, &mut oracle);
    log.compact_now();
    // Two overlapping L0 segments, a tombstone over L1 + L0.
    write(&mut rng, &mut oracle, per_layer);
    log.flush();
    write(&mut rng, &mut oracle, per_layer);
    delete(&mut rng, &mut oracle);
    log.flush();
    // The memtable, and tombstones in it.
    write(&mut rng, &mut oracle, per_layer);
    delete(&mut rng, &mut oracle);
    write(&mut rng, &mut oracle, per_layer / 4);
    let st = log.stats();
    assert!(st.l1_segments > 0 && st.l0_segments >= 2 && st.memtable_records > 0, "{st:?}");
    assert_eq!(log.snapshot().len(), oracle.len());
    (log, oracle)
}

/// A session with `partitions` target partitions.
pub fn session(partitions: usize) -> SessionContext {
    SessionContext::new_with_config(SessionConfig::new().with_target_partitions(partitions))
}

/// A session with table `t` over `log`, split into up to 3 partitions of at
/// least 64 rows, batches of 100 rows.
pub fn table_ctx(log: &Arc<Timelog<i64>>) -> SessionContext {
    let ctx = session(3);
    let table = TimelogTable::new(log.clone()).with_min_partition_rows(64).with_batch_rows(100);
    ctx.register_table("t", Arc::new(table)).expect("register");
    ctx
}

/// Runs `sql` and returns its batches.
pub async fn run(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    match ctx.sql(sql).await {
        Ok(df) => df.collect().await.unwrap_or_else(|e| panic!("{sql}: {e}")),
        Err(e) => panic!("{sql}: {e}"),
    }
}

/// The Int64 columns `a` and `b` of every row, in order.
pub fn pairs(batches: &[RecordBatch]) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for b in batches {
        let x = int_col(b.column(0).as_ref());
        let y = int_col(b.column(1).as_ref());
        out.extend(x.into_iter().zip(y));
    }
    out
}

/// One Int64 (or Timestamp, as its raw values) column.
pub fn int_col(a: &dyn Array) -> Vec<i64> {
    use datafusion::arrow::datatypes::DataType;
    match a.data_type() {
        DataType::Int64 => a.as_primitive::<Int64Type>().values().to_vec(),
        DataType::Timestamp(..) => {
            let c = datafusion::arrow::compute::cast(a, &DataType::Int64).expect("cast");
            c.as_primitive::<Int64Type>().values().to_vec()
        }
        other => panic!("not an integer column: {other}"),
    }
}

/// The single Int64 value of a one-row, one-column result.
pub fn scalar(batches: &[RecordBatch]) -> i64 {
    let v: Vec<i64> = batches.iter().flat_map(|b| int_col(b.column(0).as_ref())).collect();
    assert_eq!(v.len(), 1, "expected one value");
    v[0]
}

/// The physical plan of `sql`, and its text.
pub async fn physical_plan(ctx: &SessionContext, sql: &str) -> (Arc<dyn ExecutionPlan>, String) {
    let df = ctx.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let plan = df.create_physical_plan().await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let text = datafusion::physical_plan::displayable(plan.as_ref()).indent(true).to_string();
    (plan, text)
}

/// Every node of a plan, depth first.
pub fn nodes(plan: &Arc<dyn ExecutionPlan>) -> Vec<Arc<dyn ExecutionPlan>> {
    let mut out = vec![Arc::clone(plan)];
    for c in plan.children() {
        out.extend(nodes(c));
    }
    out
}

/// The names of the plan's nodes.
pub fn node_names(plan: &Arc<dyn ExecutionPlan>) -> Vec<String> {
    nodes(plan).iter().map(|n| n.name().to_string()).collect()
}

/// The plan's timelog scan (of a `Timelog<V>`).
pub fn scan_of<V: timelog::arrow::ArrowValue>(plan: &Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
    let found: Vec<_> = nodes(plan).into_iter().filter(|n| n.is::<TimelogScanExec<V>>()).collect();
    assert_eq!(found.len(), 1, "one TimelogScanExec in the plan");
    let scan = found.into_iter().next().unwrap();
    let _ = scan.output_partitioning();
    scan
}
