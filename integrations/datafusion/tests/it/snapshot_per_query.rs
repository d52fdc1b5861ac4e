//! One snapshot per query: a planned query reads the log as it was when planned,
//! all its partitions the same state, while writers keep appending and deleting.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use datafusion::physical_plan::collect;
use timelog::Timelog;
use timelog_datafusion::TimelogTable;

use crate::common::*;

#[tokio::test]
async fn planned_query_ignores_later_writes() {
    let log: Arc<Timelog<i64>> = Arc::new(Timelog::new());
    let _ = log.append_batch((0..1000).map(|t| (t, 1)));
    let ctx = session(3);
    ctx.register_table("t", Arc::new(TimelogTable::new(log.clone()).with_min_partition_rows(10))).unwrap();
    let (plan, _) = physical_plan(&ctx, "SELECT sum(value) FROM t WHERE ts >= 0 AND value > 0").await;
    let _ = log.append_batch((0..1000).map(|t| (t, 1)));
    log.delete_range(0..500).unwrap();
    log.compact_now();
    let got = scalar(&collect(plan, ctx.task_ctx()).await.unwrap());
    assert_eq!(got, 1000);
    // A new query sees the new state.
    assert_eq!(scalar(&run(&ctx, "SELECT sum(value) FROM t WHERE ts >= 0 AND value > 0").await), 1000);
    assert_eq!(scalar(&run(&ctx, "SELECT count(*) FROM t WHERE ts < 500").await), 0);
}

/// Writers append batches of 64 records spread over the whole time range, each
/// atomically; every query must see whole batches only, in every partition
/// together: its sums are multiples of a batch's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_whole_batches_only() {
    let log: Arc<Timelog<i64>> = Arc::new(Timelog::new());
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (log, stop) = (log.clone(), stop.clone());
            thread::spawn(move || {
                let mut b = 0i64;
                while !stop.load(Ordering::Relaxed) && b < 2_000 {
                    // Batch b: ts j * 1e6 + b for j in 0..64, value 1.
                    let _ = log.append_batch((0..64).map(|j| (j * 1_000_000 + b * 2 + w, 1)));
                    b += 1;
                    if b % 64 == 0 {
                        thread::yield_now();
                    }
                }
            })
        })
        .collect();
    let ctx = session(4);
    ctx.register_table("t", Arc::new(TimelogTable::new(log.clone()).with_min_partition_rows(64))).unwrap();
    let mut last = 0;
    for _ in 0..15 {
        // `value > 0` keeps the scan from being answered by its statistics.
        let n = scalar(&run(&ctx, "SELECT sum(value) FROM t WHERE value > 0").await);
        assert_eq!(n % 64, 0, "a query saw part of a batch: {n}");
        assert!(n >= last);
        last = n;
        let n = scalar(&run(&ctx, "SELECT count(*) FROM t WHERE ts >= 0 AND value > 0").await);
        assert_eq!(n % 64, 0, "a query saw part of a batch: {n}");
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(scalar(&run(&ctx, "SELECT count(*) FROM t").await) as usize, log.len());
}
