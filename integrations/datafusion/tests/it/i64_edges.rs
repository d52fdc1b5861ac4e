//! Records at the ends of the `i64` range: every bound is reachable, nothing
//! overflows, ranges past the ends are empty.

use std::sync::Arc;

use datafusion::prelude::{col, lit};
use timelog::Timelog;
use timelog_datafusion::{TimelogScanExec, TimelogTable, TsRange};

use crate::common::*;

const TS: [i64; 9] = [i64::MIN, i64::MIN + 1, -2, -1, 0, 1, 2, i64::MAX - 1, i64::MAX];

fn ctx() -> datafusion::prelude::SessionContext {
    let log: Arc<Timelog<i64>> = Arc::new(Timelog::new());
    // Twice each, the second set compacted under the first.
    let _ = log.append_batch(TS.iter().map(|&t| (t, 1)));
    log.compact_now();
    let _ = log.append_batch(TS.iter().map(|&t| (t, 2)));
    let ctx = session(4);
    let table = TimelogTable::new(log).with_min_partition_rows(1);
    ctx.register_table("t", Arc::new(table.clone())).unwrap();
    ctx.register_table("off", Arc::new(table.with_filter_pushdown(false))).unwrap();
    ctx
}

fn want(f: impl Fn(i64) -> bool) -> Vec<i64> {
    TS.iter().copied().filter(|&t| f(t)).flat_map(|t| [t, t]).collect()
}

async fn ts_of(ctx: &datafusion::prelude::SessionContext, table: &str, pred: &str) -> Vec<i64> {
    let b = run(ctx, &format!("SELECT ts FROM {table} WHERE {pred} ORDER BY ts")).await;
    b.iter().flat_map(|b| int_col(b.column(0).as_ref())).collect()
}

#[tokio::test]
async fn extremes_by_sql() {
    let ctx = ctx();
    let max = i64::MAX;
    let cases: Vec<(String, Vec<i64>)> = vec![
        (format!("ts >= {max}"), want(|t| t == max)),
        (format!("ts > {max}"), vec![]),
        (format!("ts = {max}"), want(|t| t == max)),
        (format!("ts > {}", max - 1), want(|t| t == max)),
        ("ts <= -9223372036854775808".into(), want(|t| t == i64::MIN)),
        ("ts < -9223372036854775808".into(), vec![]),
        ("ts < -9223372036854775807".into(), want(|t| t == i64::MIN)),
        ("ts >= -9223372036854775808".into(), want(|_| true)),
        (format!("ts <= {max}"), want(|_| true)),
        (format!("ts BETWEEN -9223372036854775808 AND {max}"), want(|_| true)),
        (format!("ts BETWEEN {max} AND -9223372036854775808"), vec![]),
        ("ts >= -1 AND ts < 1".into(), want(|t| (-1..1).contains(&t))),
        // Past the i64 range: UInt64 literals, and Float64 ones (DataFusion
        // compares `CAST(ts AS DOUBLE)`, where i64::MIN + 1 rounds to i64::MIN).
        ("ts < 9223372036854775808".into(), want(|_| true)),
        ("ts > 9223372036854775808".into(), vec![]),
        ("ts > -9223372036854775809".into(), want(|t| t as f64 > i64::MIN as f64)),
        ("ts > 9.3e18".into(), vec![]),
        ("ts < -9.3e18".into(), vec![]),
        ("ts >= 9.223372036854775807e18".into(), want(|t| t as f64 >= i64::MAX as f64)),
    ];
    for (pred, want) in cases {
        assert_eq!(ts_of(&ctx, "t", &pred).await, want, "{pred}");
        assert_eq!(ts_of(&ctx, "off", &pred).await, want, "pushdown off: {pred}");
    }
}

#[tokio::test]
async fn extremes_by_expr() {
    let ctx = ctx();
    for (e, w) in [
        (col("ts").gt_eq(lit(i64::MAX)), want(|t| t == i64::MAX)),
        (col("ts").lt_eq(lit(i64::MIN)), want(|t| t == i64::MIN)),
        (col("ts").gt(lit(i64::MIN)), want(|t| t > i64::MIN)),
        (col("ts").lt(lit(i64::MAX)), want(|t| t < i64::MAX)),
    ] {
        let df = ctx.table("t").await.unwrap().filter(e.clone()).unwrap().select_columns(&["ts"]).unwrap();
        let df = df.sort(vec![col("ts").sort(true, false)]).unwrap();
        let got: Vec<i64> =
            df.collect().await.unwrap().iter().flat_map(|b| int_col(b.column(0).as_ref())).collect();
        assert_eq!(got, w, "{e}");
    }
    // The partitions split the whole i64 range without overflow.
    let (plan, text) = physical_plan(&ctx, "SELECT * FROM t").await;
    let scan = scan_of::<i64>(&plan);
    let scan = scan.downcast_ref::<TimelogScanExec<i64>>().unwrap();
    assert_eq!(scan.range(), TsRange::ALL);
    assert_eq!(scan.rows(), 18, "{text}");
    let parts = scan.partitions();
    assert_eq!(parts.len(), 4, "{text}");
    assert_eq!(parts.first().unwrap().range.bounds().unwrap().0, i64::MIN);
    assert_eq!(parts.last().unwrap().range.bounds().unwrap().1, i64::MAX);
}
