//! Benchmark: a 1,000-row range query by SQL on a compacted 5 M-record
//! `Timelog<u64>`, with the `ts` range pushed into the scan and without
//! (the table reports every filter unsupported, DataFusion filters every row).
//!
//! Prints the median and 90th-percentile latency of each (planning and
//! execution: `ctx.sql(..)` to collected batches) and the rows the scan read
//! against the rows the query returned (the scan's `rows_read` and
//! `output_rows` metrics).
//!
//! ```text
//! CARGO_TARGET_DIR=target/datafusion-release cargo run --release \
//!     --manifest-path integrations/datafusion/Cargo.toml --example bench_range
//! ```
//!
//! `BENCH_RECORDS` (default 5,000,000) and `BENCH_RUNS` (default 500) change the
//! size; the run without pushdown does a tenth of the runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::error::Result;
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion::prelude::SessionContext;
use timelog::{MaintenanceMode, Timelog};
use timelog_datafusion::{TimelogScanExec, TimelogTable};

const RANGE_ROWS: u64 = 1000;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(default)
}

fn find_scan(plan: &Arc<dyn ExecutionPlan>) -> Option<&TimelogScanExec<u64>> {
    if let Some(scan) = plan.downcast_ref::<TimelogScanExec<u64>>() {
        return Some(scan);
    }
    plan.children().into_iter().find_map(find_scan)
}

/// A cheap deterministic sequence of query starts.
fn starts(records: u64, runs: u64) -> impl Iterator<Item = u64> {
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    (0..runs).map(move |_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % (records - RANGE_ROWS)
    })
}

struct Figures {
    median: Duration,
    p90: Duration,
    rows_read: usize,
    rows_out: usize,
}

/// Runs the query `runs` times on `ctx`; returns the latencies and the rows of
/// the last run.
async fn measure(ctx: &SessionContext, records: u64, runs: u64, explain: bool) -> Result<Figures> {
    let mut lat = Vec::with_capacity(runs as usize);
    let (mut rows_read, mut rows_out) = (0, 0);
    // Warm-up.
    for a in starts(records, 3) {
        ctx.sql(&sql(a)).await?.collect().await?;
    }
    for (i, a) in starts(records, runs).enumerate() {
        let t = Instant::now();
        let plan = ctx.sql(&sql(a)).await?.create_physical_plan().await?;
        let batches = collect(Arc::clone(&plan), ctx.task_ctx()).await?;
        lat.push(t.elapsed());
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows as u64, RANGE_ROWS, "the query returns its range");
        let scan = find_scan(&plan).expect("a timelog scan");
        rows_read = scan.rows_read();
        rows_out = rows;
        if explain && i == 0 {
            let text = datafusion::physical_plan::displayable(plan.as_ref()).indent(true).to_string();
            println!("{text}");
        }
    }
    lat.sort();
    Ok(Figures { median: lat[lat.len() / 2], p90: lat[lat.len() * 9 / 10], rows_read, rows_out })
}

fn sql(a: u64) -> String {
    format!("SELECT ts, value FROM t WHERE ts >= {a} AND ts < {}", a + RANGE_ROWS)
}

#[tokio::main]
async fn main() -> Result<()> {
    let records = env("BENCH_RECORDS", 5_000_000).max(RANGE_ROWS + 1);
    let runs = env("BENCH_RUNS", 500).max(10);
    let t = Instant::now();
    let log: Arc<Timelog<u64>> = Arc::new(
        Timelog::builder().maintenance(MaintenanceMode::Manual).build().expect("a valid configuration"),
    );
    for chunk in (0..records).collect::<Vec<_>>().chunks(1 << 16) {
        let _ = log.append_batch(chunk.iter().map(|&t| (t as i64, t.wrapping_mul(0x9e37_79b9))));
    }
    log.compact_now();
    println!("{records} records appended and compacted in {:.2?}: {:?}", t.elapsed(), log.stats());

    let ctx = SessionContext::new();
    ctx.register_table("t", Arc::new(TimelogTable::new(log.clone())))?;
    let off = SessionContext::new();
    off.register_table("t", Arc::new(TimelogTable::new(log.clone()).with_filter_pushdown(false)))?;
    println!("target partitions: {}", ctx.state().config().target_partitions());

    let on = measure(&ctx, records, runs, true).await?;
    let no = measure(&off, records, (runs / 10).max(5), true).await?;
    for (name, f) in [("pushdown", &on), ("no pushdown", &no)] {
        println!(
            "{name:>12}: median {:>9.3} ms, p90 {:>9.3} ms; rows read {:>9} for {} returned ({:.2}x)",
            f.median.as_secs_f64() * 1e3,
            f.p90.as_secs_f64() * 1e3,
            f.rows_read,
            f.rows_out,
            f.rows_read as f64 / f.rows_out as f64
        );
    }
    assert!(on.rows_read <= 2 * on.rows_out, "pushdown reads at most twice the rows returned");
    Ok(())
}
