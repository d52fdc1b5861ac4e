//! Pushdown shows in the plan: pure `ts` predicates become the scan's range and
//! leave no FilterExec; others keep one (and still narrow the scan where they
//! can); with pushdown off every filter stays and the scan reads everything.

use std::sync::Arc;

use datafusion::arrow::util::pretty::pretty_format_batches;
use timelog::Timelog;
use timelog_datafusion::{TimelogScanExec, TimelogTable, TsRange};

use crate::common::*;

fn log() -> Arc<Timelog<i64>> {
    let log = Arc::new(Timelog::new());
    let _ = log.append_batch((0..10_000).map(|t| (t, t * 10)));
    log
}

async fn scan_range(ctx: &datafusion::prelude::SessionContext, sql: &str) -> (TsRange, bool, String) {
    let (plan, text) = physical_plan(ctx, sql).await;
    let scan = scan_of::<i64>(&plan);
    let scan = scan.downcast_ref::<TimelogScanExec<i64>>().unwrap();
    let has_filter = node_names(&plan).iter().any(|n| n == "FilterExec");
    (scan.range(), has_filter, text)
}

#[tokio::test]
async fn pure_ts_predicates_leave_no_filter() {
    let ctx = session(2);
    ctx.register_table("t", Arc::new(TimelogTable::new(log()))).unwrap();
    let cases = [
        ("ts >= 100 AND ts < 200", TsRange::new(100, 199)),
        ("ts > 100 AND ts <= 200", TsRange::new(101, 200)),
        ("ts = 5", TsRange::new(5, 5)),
        ("ts BETWEEN 10 AND 20", TsRange::new(10, 20)),
        ("200 > ts AND ts >= 100", TsRange::new(100, 199)),
        ("(ts < 100 OR ts BETWEEN 100 AND 150) AND ts >= 0", TsRange::new(0, 150)),
        ("ts >= 100 AND ts < 50", TsRange::EMPTY),
        ("ts IN (7, 8, 9)", TsRange::new(7, 9)),
    ];
    for (pred, want) in cases {
        let sql = format!("SELECT * FROM t WHERE {pred}");
        let (range, filter, text) = scan_range(&ctx, &sql).await;
        assert_eq!(range, want, "{sql}\n{text}");
        assert!(!filter, "no FilterExec for {sql}:\n{text}");
    }
}

#[tokio::test]
async fn other_predicates_keep_a_filter() {
    let ctx = session(2);
    ctx.register_table("t", Arc::new(TimelogTable::new(log()))).unwrap();
    let cases = [
        ("value > 5", TsRange::ALL),
        ("ts % 2 = 0", TsRange::ALL),
        ("ts <> 5", TsRange::ALL),
        ("ts < 10 OR ts > 20", TsRange::ALL),
        ("ts >= 100 AND ts < 200 AND value > 1500", TsRange::new(100, 199)),
        ("(ts BETWEEN 0 AND 9 OR ts BETWEEN 90 AND 99)", TsRange::new(0, 99)),
        ("ts IN (7, 9)", TsRange::new(7, 9)),
        ("ts + 1 > 5", TsRange::ALL),
    ];
    for (pred, want) in cases {
        let sql = format!("SELECT * FROM t WHERE {pred}");
        let (range, filter, text) = scan_range(&ctx, &sql).await;
        assert_eq!(range, want, "{sql}\n{text}");
        assert!(filter, "a FilterExec for {sql}:\n{text}");
    }
}

#[tokio::test]
async fn explain_shows_the_range() {
    let ctx = session(2);
    ctx.register_table("t", Arc::new(TimelogTable::new(log()))).unwrap();
    let out = run(&ctx, "EXPLAIN SELECT ts, value FROM t WHERE ts >= 100 AND ts < 200").await;
    let text = pretty_format_batches(&out).unwrap().to_string();
    assert!(
        text.contains("TimelogScan: ts=[100, 200), rows=100, partitions=1, projection=[ts, value]"),
        "{text}"
    );
    assert!(!text.contains("FilterExec"), "{text}");

    let out = run(&ctx, "EXPLAIN SELECT ts FROM t WHERE ts >= 100 AND value % 3 = 0").await;
    let text = pretty_format_batches(&out).unwrap().to_string();
    assert!(text.contains("TimelogScan: ts=[100, 9223372036854775807]"), "{text}");
    assert!(text.contains("FilterExec"), "{text}");

    let out = run(&ctx, "EXPLAIN SELECT * FROM t WHERE ts > 100 AND ts < 50").await;
    let text = pretty_format_batches(&out).unwrap().to_string();
    assert!(text.contains("TimelogScan: ts=empty, rows=0"), "{text}");

    // The default format (indent) and the tree format.
    let out = run(&ctx, "EXPLAIN SELECT * FROM t WHERE ts >= 100 AND ts < 200").await;
    let text = pretty_format_batches(&out).unwrap().to_string();
    assert!(text.contains("TimelogScan: ts=[100, 200), rows=100"), "{text}");
    let out = run(&ctx, "EXPLAIN FORMAT TREE SELECT * FROM t WHERE ts >= 100 AND ts < 200").await;
    let text = pretty_format_batches(&out).unwrap().to_string();
    assert!(text.contains("TimelogScanExec") && text.contains("ts: [100, 200)"), "{text}");
    // The verbose form lists the partitions' ranges.
    let out = run(&ctx, "EXPLAIN VERBOSE SELECT * FROM t WHERE ts >= 100 AND ts < 200").await;
    let text = pretty_format_batches(&out).unwrap().to_string();
    assert!(text.contains("partition_ranges=[[100, 200) (100 rows)]"), "{text}");
}

#[tokio::test]
async fn pushdown_off_keeps_every_filter() {
    let ctx = session(2);
    ctx.register_table("t", Arc::new(TimelogTable::new(log()).with_filter_pushdown(false))).unwrap();
    let (range, filter, text) = scan_range(&ctx, "SELECT * FROM t WHERE ts >= 100 AND ts < 200").await;
    assert_eq!(range, TsRange::ALL, "{text}");
    assert!(filter, "{text}");
    assert_eq!(scalar(&run(&ctx, "SELECT count(*) FROM t WHERE ts >= 100 AND ts < 200").await), 100);
}
