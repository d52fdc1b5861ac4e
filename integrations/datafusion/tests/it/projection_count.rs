//! Projections: both columns, `ts` only, `value` only, reordered, and none at all
//! (`count(*)`), which must still count every row: through SQL and through a
//! scan executed directly with an empty projection.

use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use datafusion::physical_plan::{ExecutionPlan, collect};
use timelog_datafusion::{ScanOptions, TimelogScanExec, TsRange};

use crate::common::*;

#[tokio::test]
async fn projections_and_count_star() {
    let (log, oracle) = layered_log(7, 3000, 5000, true);
    let all = oracle.sorted();
    let ctx = table_ctx(&log);
    let in_range: Vec<(i64, i64)> =
        all.iter().copied().filter(|&(t, _)| (-1000..2000).contains(&t)).collect();

    let n = scalar(&run(&ctx, "SELECT count(*) FROM t").await);
    assert_eq!(n as usize, all.len());
    let n = scalar(&run(&ctx, "SELECT count(*) FROM t WHERE ts >= -1000 AND ts < 2000").await);
    assert_eq!(n as usize, in_range.len());
    let n = scalar(
        &run(&ctx, "SELECT count(1) FROM (SELECT ts FROM t WHERE ts >= -1000 AND ts < 2000 LIMIT 17)").await,
    );
    assert_eq!(n, 17);

    // ts only.
    let b = run(&ctx, "SELECT ts FROM t WHERE ts >= -1000 AND ts < 2000 ORDER BY ts").await;
    assert_eq!(b[0].num_columns(), 1);
    let ts: Vec<i64> = b.iter().flat_map(|b| int_col(b.column(0).as_ref())).collect();
    assert_eq!(ts, in_range.iter().map(|r| r.0).collect::<Vec<_>>());
    // value only.
    let b = run(&ctx, "SELECT value FROM t WHERE ts >= -1000 AND ts < 2000 ORDER BY value").await;
    let mut want: Vec<i64> = in_range.iter().map(|r| r.1).collect();
    want.sort();
    let got: Vec<i64> = b.iter().flat_map(|b| int_col(b.column(0).as_ref())).collect();
    assert_eq!(got, want);
    // Reordered.
    let got =
        pairs(&run(&ctx, "SELECT value, ts FROM t WHERE ts >= -1000 AND ts < 2000 ORDER BY ts, value").await);
    assert_eq!(got, in_range.iter().map(|&(t, v)| (v, t)).collect::<Vec<_>>());
    // Aggregates over value.
    let s = scalar(&run(&ctx, "SELECT sum(value) FROM t WHERE ts >= -1000 AND ts < 2000").await);
    assert_eq!(s, in_range.iter().map(|r| r.1).sum::<i64>());
}

#[tokio::test]
async fn empty_projection_scan_counts_rows() {
    let (log, oracle) = layered_log(8, 2000, 4000, false);
    let want = oracle.sorted().iter().filter(|&&(t, _)| (0..=1000).contains(&t)).count();
    let opts = ScanOptions::new()
        .range(TsRange::new(0, 1000))
        .projection(Some(vec![]))
        .partitions(3)
        .min_partition_rows(10)
        .batch_rows(37);
    let scan = Arc::new(TimelogScanExec::try_new(log.snapshot(), opts).unwrap());
    assert_eq!(scan.schema().fields().len(), 0);
    assert_eq!(scan.rows(), want);
    assert!(scan.partitions().len() > 1);
    let batches = collect(scan.clone(), session(1).task_ctx()).await.unwrap();
    assert!(batches.iter().all(|b| b.num_columns() == 0 && b.num_rows() <= 37));
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), want);
    assert_eq!(scan.rows_read(), want);

    // A value-only scan with a limit.
    let opts = ScanOptions::new().projection(Some(vec![1])).limit(Some(5));
    let scan = Arc::new(TimelogScanExec::try_new(log.snapshot(), opts).unwrap());
    let batches = collect(scan, session(1).task_ctx()).await.unwrap();
    let v: Vec<i64> =
        batches.iter().flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec()).collect();
    assert_eq!(v, oracle.sorted()[..5].iter().map(|r| r.1).collect::<Vec<_>>());

    // A projection past the columns is a plan error.
    let err =
        TimelogScanExec::try_new(log.snapshot(), ScanOptions::new().projection(Some(vec![2]))).unwrap_err();
    assert!(err.to_string().contains("projection index 2"), "{err}");
}
