//! The scan declares its `ts` order: `ORDER BY ts` needs no sort (partitions are
//! merged, not sorted), partitions hold disjoint, ascending time ranges of about
//! equal row counts, and rows with equal timestamps come in insertion order.

use std::sync::Arc;

use datafusion::physical_plan::{ExecutionPlan, collect_partitioned};
use timelog::Timelog;
use timelog_datafusion::{ScanOptions, TimelogScanExec, TimelogTable, TsRange};

use crate::common::*;

#[tokio::test]
async fn order_by_ts_sorts_nothing() {
    let (log, oracle) = layered_log(3, 4000, 100_000, false);
    let ctx = table_ctx(&log);
    for sql in [
        "SELECT ts, value FROM t ORDER BY ts",
        "SELECT ts, value FROM t WHERE ts > -5000 ORDER BY ts ASC NULLS FIRST",
        "SELECT ts, value FROM t WHERE value > 100 ORDER BY ts",
    ] {
        let (plan, text) = physical_plan(&ctx, sql).await;
        let names = node_names(&plan);
        assert!(!names.iter().any(|n| n == "SortExec"), "{sql}\n{text}");
        assert!(names.iter().any(|n| n == "SortPreservingMergeExec"), "{sql}\n{text}");
        // Ties in an unspecified order: compare the timestamps.
        let got: Vec<i64> = run(&ctx, sql).await.iter().flat_map(|b| int_col(b.column(0).as_ref())).collect();
        assert!(got.windows(2).all(|w| w[0] <= w[1]), "{sql}");
    }
    let got: Vec<i64> = run(&ctx, "SELECT ts FROM t ORDER BY ts")
        .await
        .iter()
        .flat_map(|b| int_col(b.column(0).as_ref()))
        .collect();
    assert_eq!(got, oracle.sorted().iter().map(|r| r.0).collect::<Vec<_>>());
    // Descending needs a sort.
    let (plan, text) = physical_plan(&ctx, "SELECT ts FROM t ORDER BY ts DESC").await;
    assert!(node_names(&plan).iter().any(|n| n == "SortExec"), "{text}");
}

#[tokio::test]
async fn partitions_are_ordered_balanced_and_keep_insertion_order() {
    let (log, oracle) = layered_log(4, 6000, 50_000, true);
    let all = oracle.sorted();
    let opts = ScanOptions::new().partitions(4).min_partition_rows(100).batch_rows(333);
    let scan = Arc::new(TimelogScanExec::try_new(log.snapshot(), opts).unwrap());
    assert_eq!(scan.properties().output_partitioning().partition_count(), 4);
    let parts = scan.partitions().to_vec();
    assert_eq!(parts.len(), 4);
    let total: usize = parts.iter().map(|p| p.rows).sum();
    assert_eq!(total, all.len());
    for p in &parts {
        // Balanced within the clusters of duplicates the data has.
        let share = p.rows as f64 / total as f64;
        assert!((0.2..=0.3).contains(&share), "{parts:?}");
    }
    for w in parts.windows(2) {
        assert!(w[0].range.bounds().unwrap().1 < w[1].range.bounds().unwrap().0, "{parts:?}");
    }
    // Concatenated in partition order, the rows are the log's, ties in insertion
    // order (the values are insertion ids).
    let out = collect_partitioned(scan.clone(), session(4).task_ctx()).await.unwrap();
    let mut got = Vec::new();
    for (i, batches) in out.iter().enumerate() {
        let rows = pairs(batches);
        assert_eq!(rows.len(), parts[i].rows);
        assert!(rows.iter().all(|r| parts[i].range.contains(r.0)));
        got.extend(rows);
    }
    assert_eq!(got, all);
}

#[tokio::test]
async fn small_ranges_use_one_partition() {
    let log: Arc<Timelog<u64>> = Arc::new(Timelog::new());
    let _ = log.append_batch((0..100_000).map(|t| (t, 0)));
    let ctx = session(8);
    ctx.register_table("t", Arc::new(TimelogTable::new(log))).unwrap();
    let (plan, text) = physical_plan(&ctx, "SELECT * FROM t WHERE ts < 1000").await;
    let scan = scan_of::<u64>(&plan);
    assert_eq!(scan.downcast_ref::<TimelogScanExec<u64>>().unwrap().partitions().len(), 1, "{text}");
    let (plan, text) = physical_plan(&ctx, "SELECT * FROM t").await;
    let scan = scan_of::<u64>(&plan);
    let scan = scan.downcast_ref::<TimelogScanExec<u64>>().unwrap();
    // 100,000 rows in partitions of at least 16,384: 6.
    assert_eq!(scan.partitions().len(), 6, "{text}");
    assert_eq!(scan.range(), TsRange::ALL);
}
