//! A table registered with a timestamp unit: `ts` is a `Timestamp` column and
//! timestamp literals (of any unit, zoned or not, strings DataFusion coerces,
//! `now()`-relative ones) are pushed down exactly — checked against the oracle,
//! against DataFusion's own evaluation (pushdown off) and in the plan.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, TimeUnit as ArrowUnit};
use datafusion::prelude::SessionContext;
use timelog::{TimeUnit, Timelog};
use timelog_datafusion::{TimelogScanExec, TimelogTable, TsRange};

use crate::common::*;

/// 2024-01-01T00:00:00Z in seconds.
const JAN1: i64 = 1_704_067_200;

/// Every 250 ms over a day from 2023-12-31T12:00:00Z, in `per_sec` ticks.
fn log(unit: TimeUnit, per_sec: i64) -> (Arc<Timelog<i64>>, Vec<(i64, i64)>) {
    let log = Arc::new(Timelog::builder().time_unit(unit).build().unwrap());
    let start = (JAN1 - 43_200) * 1000;
    let rows: Vec<(i64, i64)> = (0..(86_400 + 10) * 4)
        .map(|i| (((start + i * 250) as i128 * per_sec as i128 / 1000) as i64, i))
        .collect();
    let _ = log.append_batch(rows.iter().copied());
    log.compact_now();
    (log, rows)
}

async fn check(ctx: &SessionContext, off: &SessionContext, pred: &str, want: &[(i64, i64)], range: TsRange) {
    let sql = format!("SELECT ts, value FROM t WHERE {pred} ORDER BY ts");
    let got = pairs(&run(ctx, &sql).await);
    assert_eq!(got.len(), want.len(), "{sql}");
    assert!(got == want, "{sql}");
    assert_eq!(pairs(&run(off, &sql).await), got, "pushdown off: {sql}");
    let (plan, text) = physical_plan(ctx, &sql).await;
    assert!(!node_names(&plan).iter().any(|n| n == "FilterExec"), "{sql}\n{text}");
    let scan = scan_of::<i64>(&plan);
    assert_eq!(scan.downcast_ref::<TimelogScanExec<i64>>().unwrap().range(), range, "{sql}\n{text}");
}

fn contexts(table: TimelogTable<i64>) -> (SessionContext, SessionContext) {
    let ctx = session(2);
    let off = session(2);
    ctx.register_table("t", Arc::new(table.clone())).unwrap();
    off.register_table("t", Arc::new(table.with_filter_pushdown(false))).unwrap();
    (ctx, off)
}

#[tokio::test]
async fn nanosecond_table() {
    let (log, rows) = log(TimeUnit::Nanos, 1_000_000_000);
    let table = TimelogTable::new(log).with_log_timestamp();
    assert_eq!(table.ts_type(), &DataType::Timestamp(ArrowUnit::Nanosecond, None));
    let (ctx, off) = contexts(table);
    let ns = |s: i64| s * 1_000_000_000;
    let sel = |lo: i64, hi: i64| -> Vec<(i64, i64)> {
        rows.iter().copied().filter(|r| r.0 >= lo && r.0 < hi).collect()
    };

    let pred = "ts >= TIMESTAMP '2024-01-01T00:00:00' AND ts < TIMESTAMP '2024-01-01T00:01:00'";
    check(&ctx, &off, pred, &sel(ns(JAN1), ns(JAN1 + 60)), TsRange::new(ns(JAN1), ns(JAN1 + 60) - 1)).await;
    // Strings coerced to timestamps, BETWEEN.
    let pred = "ts BETWEEN '2024-01-01T12:00:00' AND '2024-01-01T12:00:01'";
    let (lo, hi) = (ns(JAN1 + 43_200), ns(JAN1 + 43_201));
    check(&ctx, &off, pred, &sel(lo, hi + 1), TsRange::new(lo, hi)).await;
    // A literal in seconds (to_timestamp_seconds) against nanoseconds.
    let pred = "ts > to_timestamp_seconds(1704067200) AND ts <= to_timestamp_millis(1704067201500)";
    let (lo, hi) = (ns(JAN1) + 1, ns(JAN1) + 1_500_000_000);
    check(&ctx, &off, pred, &sel(lo, hi + 1), TsRange::new(lo, hi)).await;
    // date_bin over the pushed-down range.
    let b = run(
        &ctx,
        "SELECT date_bin(INTERVAL '1 second', ts) AS s, count(*) AS n FROM t \
         WHERE ts >= TIMESTAMP '2024-01-01T00:00:00' AND ts < TIMESTAMP '2024-01-01T00:00:03' GROUP BY s ORDER BY s",
    )
    .await;
    let got = pairs(&b);
    assert_eq!(got, vec![(ns(JAN1), 4), (ns(JAN1 + 1), 4), (ns(JAN1 + 2), 4)]);
}

#[tokio::test]
async fn second_and_millisecond_tables() {
    let (log, rows) = log(TimeUnit::Seconds, 1);
    let (ctx, off) = contexts(TimelogTable::new(log).with_timestamp(TimeUnit::Seconds));
    let sel = |lo: i64, hi: i64| -> Vec<(i64, i64)> {
        rows.iter().copied().filter(|r| r.0 >= lo && r.0 <= hi).collect()
    };
    let pred = "ts >= TIMESTAMP '2024-01-01T00:00:01' AND ts < TIMESTAMP '2024-01-01T00:00:04'";
    check(&ctx, &off, pred, &sel(JAN1 + 1, JAN1 + 3), TsRange::new(JAN1 + 1, JAN1 + 3)).await;
    let pred = "ts = TIMESTAMP '2024-01-01T00:00:02'";
    check(&ctx, &off, pred, &sel(JAN1 + 2, JAN1 + 2), TsRange::new(JAN1 + 2, JAN1 + 2)).await;

    let (log, rows) = log_ms();
    let (ctx, off) = contexts(TimelogTable::new(log).with_timestamp(TimeUnit::Millis));
    let sel = |lo: i64, hi: i64| -> Vec<(i64, i64)> {
        rows.iter().copied().filter(|r| r.0 >= lo && r.0 <= hi).collect()
    };
    let pred = "ts > TIMESTAMP '2024-01-01T00:00:00.250' AND ts <= TIMESTAMP '2024-01-01T00:00:01'";
    let (lo, hi) = (JAN1 * 1000 + 251, JAN1 * 1000 + 1000);
    check(&ctx, &off, pred, &sel(lo, hi), TsRange::new(lo, hi)).await;
}

/// Literals finer than the column: DataFusion 55 itself rewrites `CAST(ts AS
/// ns) >= lit` into `ts >= lit'`, truncating the literal to the column's unit
/// (its simplifier, before any pushdown). The scan reads exactly the rows of
/// that rewritten filter, which are the rows DataFusion's own evaluation keeps.
#[tokio::test]
async fn literals_finer_than_the_column_follow_datafusion() {
    let (log, _) = log(TimeUnit::Seconds, 1);
    let (ctx, off) = contexts(TimelogTable::new(log).with_timestamp(TimeUnit::Seconds));
    for pred in [
        "ts >= TIMESTAMP '2024-01-01T00:00:00.5' AND ts <= TIMESTAMP '2024-01-01T00:00:03.5'",
        "ts > TIMESTAMP '2024-01-01T00:00:00.5' AND ts < TIMESTAMP '2024-01-01T00:00:03.25'",
        "ts = TIMESTAMP '2024-01-01T00:00:00.5'",
    ] {
        let sql = format!("SELECT ts, value FROM t WHERE {pred} ORDER BY ts");
        assert_eq!(pairs(&run(&ctx, &sql).await), pairs(&run(&off, &sql).await), "{sql}");
    }
}

fn log_ms() -> (Arc<Timelog<i64>>, Vec<(i64, i64)>) {
    log(TimeUnit::Millis, 1000)
}

#[tokio::test]
async fn zoned_table() {
    let (log, rows) = log_ms();
    let table = TimelogTable::new(log).with_timestamp_tz(TimeUnit::Millis, "+02:00").unwrap();
    let (ctx, off) = contexts(table);
    // A local literal is read in the column's zone: 00:00 at +02:00 is 22:00 UTC.
    let lo = (JAN1 - 7200) * 1000;
    let want: Vec<(i64, i64)> = rows.iter().copied().filter(|r| r.0 >= lo && r.0 < lo + 1000).collect();
    let pred = "ts >= TIMESTAMP '2024-01-01T00:00:00' AND ts < TIMESTAMP '2024-01-01T00:00:01'";
    check(&ctx, &off, pred, &want, TsRange::new(lo, lo + 999)).await;
    // Zoned literals, of another zone and unit: whatever DataFusion makes of
    // them, the pushed-down scan agrees with its own evaluation.
    for pred in [
        "ts >= TIMESTAMP '2024-01-01T00:00:00Z' AND ts < TIMESTAMP '2024-01-01T01:00:01+01:00'",
        "ts >= arrow_cast('2024-01-01T00:00:00.0005Z', 'Timestamp(Microsecond, Some(\"UTC\"))')",
    ] {
        let sql = format!("SELECT ts, value FROM t WHERE {pred} ORDER BY ts");
        let got = pairs(&run(&ctx, &sql).await);
        assert!(!got.is_empty(), "{sql}");
        assert_eq!(got, pairs(&run(&off, &sql).await), "{sql}");
    }
}

#[tokio::test]
async fn relative_to_now() {
    // Records around the current time, in nanoseconds.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    let log: Arc<Timelog<i64>> = Arc::new(Timelog::builder().time_unit(TimeUnit::Nanos).build().unwrap());
    let _ = log.append_batch((0..120).map(|i| (now - i * 1_000_000_000, i)));
    let (ctx, off) = contexts(TimelogTable::new(log).with_log_timestamp());
    let sql = "SELECT count(*) FROM t WHERE ts > now() - INTERVAL '1 minute'";
    let n = scalar(&run(&ctx, sql).await);
    assert!((59..=61).contains(&n), "{n}");
    let (plan, text) = physical_plan(&ctx, "SELECT * FROM t WHERE ts > now() - INTERVAL '1 minute'").await;
    assert!(!node_names(&plan).iter().any(|n| n == "FilterExec"), "{text}");
    let _ = off;
}
