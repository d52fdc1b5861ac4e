//! Exact statistics: row counts and `ts` bounds of the scan, per partition and
//! in total, for its snapshot; DataFusion answers `count(*)` over a pushed-down
//! range from them without reading a row.

use std::sync::Arc;

use datafusion::common::ScalarValue;
use datafusion::common::stats::Precision;
use datafusion::physical_plan::{StatisticsArgs, StatisticsContext};
use timelog::{TimeUnit, Timelog};
use timelog_datafusion::{ScanOptions, TimelogScanExec, TimelogTable, TsRange};

use crate::common::*;

#[tokio::test]
async fn scan_statistics_are_exact() {
    let (log, oracle) = layered_log(11, 2000, 10_000, false);
    let all = oracle.sorted();
    let want: Vec<i64> = all.iter().map(|r| r.0).filter(|t| (-5000..=5000).contains(t)).collect();
    let opts = ScanOptions::new().range(TsRange::new(-5000, 5000)).partitions(3).min_partition_rows(100);
    let scan = TimelogScanExec::try_new(log.snapshot(), opts).unwrap();
    let cx = StatisticsContext::new();
    let total = cx.compute(&scan, &StatisticsArgs::new()).unwrap();
    assert_eq!(total.num_rows, Precision::Exact(want.len()));
    let ts = &total.column_statistics[0];
    assert_eq!(ts.min_value, Precision::Exact(ScalarValue::Int64(Some(want[0]))));
    assert_eq!(ts.max_value, Precision::Exact(ScalarValue::Int64(Some(*want.last().unwrap()))));
    assert_eq!(ts.null_count, Precision::Exact(0));
    assert_eq!(total.column_statistics[1].null_count, Precision::Exact(0));
    let mut sum = 0;
    for (i, p) in scan.partitions().iter().enumerate() {
        let s = cx.compute(&scan, &StatisticsArgs::new().with_partition(Some(i))).unwrap();
        assert_eq!(s.num_rows, Precision::Exact(p.rows));
        let (lo, hi) = p.range.bounds().unwrap();
        assert_eq!(s.column_statistics[0].min_value, Precision::Exact(ScalarValue::Int64(Some(lo))));
        assert_eq!(s.column_statistics[0].max_value, Precision::Exact(ScalarValue::Int64(Some(hi))));
        sum += p.rows;
    }
    assert_eq!(sum, want.len());

    // Under a limit: exact count, the largest timestamp only a bound.
    let opts = ScanOptions::new().limit(Some(10)).projection(Some(vec![0]));
    let scan = TimelogScanExec::try_new(log.snapshot(), opts).unwrap();
    let s = cx.compute(&scan, &StatisticsArgs::new()).unwrap();
    assert_eq!(s.num_rows, Precision::Exact(10));
    assert_eq!(s.column_statistics.len(), 1);
    assert_eq!(s.column_statistics[0].min_value, Precision::Exact(ScalarValue::Int64(Some(all[0].0))));
}

#[tokio::test]
async fn count_star_from_statistics() {
    let log: Arc<Timelog<f64>> = Arc::new(Timelog::builder().time_unit(TimeUnit::Micros).build().unwrap());
    let _ = log.append_batch((0..50_000).map(|t| (t, t as f64)));
    let ctx = session(2);
    ctx.register_table("t", Arc::new(TimelogTable::new(log).with_log_timestamp())).unwrap();
    let sql = "SELECT count(*) FROM t WHERE ts >= TIMESTAMP '1970-01-01T00:00:00.010' AND ts < TIMESTAMP '1970-01-01T00:00:00.020'";
    let (plan, text) = physical_plan(&ctx, sql).await;
    assert!(!node_names(&plan).iter().any(|n| n == "TimelogScanExec"), "answered from statistics:\n{text}");
    assert_eq!(scalar(&run(&ctx, sql).await), 10_000);
    // min/max of ts too.
    let b = run(&ctx, "SELECT min(ts), max(ts) FROM t WHERE ts >= TIMESTAMP '1970-01-01T00:00:00.010'").await;
    assert_eq!(pairs(&b), vec![(10_000, 49_999)]);
}
