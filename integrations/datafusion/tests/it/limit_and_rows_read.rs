//! LIMIT stops the reading: the scan reads at most one batch past the rows it
//! returns, and a pushed-down range reads only its own rows (the `rows_read`
//! metric), whatever layers hold them.

use std::sync::Arc;

use datafusion::physical_plan::collect;
use datafusion::prelude::SessionContext;
use timelog::Timelog;
use timelog_datafusion::{TimelogScanExec, TimelogTable};

use crate::common::*;

/// Runs `sql`, returning its rows and the scan's (rows read, rows returned).
async fn run_counted(ctx: &SessionContext, sql: &str) -> (usize, usize, usize) {
    let (plan, _) = physical_plan(ctx, sql).await;
    let batches = collect(Arc::clone(&plan), ctx.task_ctx()).await.unwrap();
    let rows = batches.iter().map(|b| b.num_rows()).sum();
    let scan = scan_of::<u64>(&plan);
    let read = scan.downcast_ref::<TimelogScanExec<u64>>().unwrap().rows_read();
    let out = scan.metrics().unwrap().output_rows().unwrap();
    (rows, read, out)
}

fn big_log() -> Arc<Timelog<u64>> {
    let log = Arc::new(Timelog::new());
    let _ = log.append_batch((0..200_000).map(|t| (t, t as u64)));
    log.compact_now();
    // Some newer records over the old ones, unflushed.
    let _ = log.append_batch((0..200_000).step_by(100).map(|t| (t, 0)));
    log
}

#[tokio::test]
async fn limit_reads_little() {
    let ctx = session(4);
    let table = TimelogTable::new(big_log()).with_min_partition_rows(1000);
    ctx.register_table("t", Arc::new(table)).unwrap();

    let (rows, read, out) = run_counted(&ctx, "SELECT * FROM t LIMIT 10").await;
    assert_eq!((rows, out), (10, 10));
    assert!(read <= 10 + 8192, "read {read}");

    let (rows, read, out) = run_counted(&ctx, "SELECT ts FROM t WHERE ts >= 5000 LIMIT 3").await;
    assert_eq!((rows, out), (3, 3));
    assert!(read <= 3 + 8192, "read {read}");
    let got = pairs_ts(&run(&ctx, "SELECT ts FROM t WHERE ts >= 5000 LIMIT 3").await);
    // The scan hands out the first rows in ts order (the engine's tie order).
    assert_eq!(got, [5000, 5000, 5001]);

    assert_eq!(run(&ctx, "SELECT * FROM t LIMIT 0").await.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
    // A limit past the rows.
    let (rows, _, _) = run_counted(&ctx, "SELECT * FROM t WHERE ts < 10 LIMIT 100").await;
    assert_eq!(rows, 10 + 1);
    // A large limit is spread over several partitions, exactly.
    let sql = "SELECT * FROM t LIMIT 50000";
    let (plan, text) = physical_plan(&ctx, sql).await;
    let scan = scan_of::<u64>(&plan);
    let scan = scan.downcast_ref::<TimelogScanExec<u64>>().unwrap();
    assert_eq!(scan.rows(), 50_000, "{text}");
    assert!(scan.partitions().len() > 1, "{text}");
    let (rows, read, _) = run_counted(&ctx, sql).await;
    assert_eq!(rows, 50_000);
    assert!(read <= 50_000 + 4 * 8192, "read {read}");
}

#[tokio::test]
async fn ranges_read_only_their_rows() {
    let ctx = session(2);
    ctx.register_table("t", Arc::new(TimelogTable::new(big_log()))).unwrap();
    let (rows, read, out) = run_counted(&ctx, "SELECT * FROM t WHERE ts >= 123456 AND ts < 124456").await;
    assert_eq!((rows, out), (1010, 1010));
    assert!(read <= 2 * rows, "read {read} for {rows}");
    assert_eq!(read, rows);

    // Without pushdown the scan reads everything.
    let off = session(2);
    off.register_table("t", Arc::new(TimelogTable::new(big_log()).with_filter_pushdown(false))).unwrap();
    let (rows, read, _) = run_counted(&off, "SELECT * FROM t WHERE ts >= 123456 AND ts < 124456").await;
    assert_eq!(rows, 1010);
    assert_eq!(read, 202_000);
}

fn pairs_ts(batches: &[datafusion::arrow::array::RecordBatch]) -> Vec<i64> {
    batches.iter().flat_map(|b| int_col(b.column(0).as_ref())).collect()
}
