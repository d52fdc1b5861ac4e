//! SQL over a live log: writer threads append ticks (a random-walk price at
//! nanosecond wall-clock timestamps) while the main thread runs, again and again,
//!
//! ```sql
//! SELECT date_bin(INTERVAL '1 second', ts) AS bucket, count(*) AS n, avg(value) AS avg_price
//! FROM ticks WHERE ts BETWEEN ... GROUP BY bucket ORDER BY bucket
//! ```
//!
//! and checks each answer against the very snapshot the query read (the scan in
//! its physical plan holds it): the bucket counts add up to the snapshot's count
//! of the range, and each bucket's count and average equal those computed from
//! the snapshot's records. It stops by itself after about three seconds.
//!
//! ```text
//! CARGO_TARGET_DIR=target/datafusion cargo run --manifest-path integrations/datafusion/Cargo.toml --example sql_live
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Float64Type, Int64Type, TimestampNanosecondType};
use datafusion::error::Result;
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion::prelude::SessionContext;
use timelog::{TimeUnit, Timelog};
use timelog_datafusion::{TimelogScanExec, TimelogTable};

const WRITERS: u64 = 2;
const RUN_FOR: Duration = Duration::from_secs(3);
const NS_PER_SEC: i64 = 1_000_000_000;

fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_nanos() as i64
}

/// A small deterministic generator (xorshift), so the example needs no RNG crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [-1, 1).
    fn step(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// Appends batches of ticks until `stop`: each tick a wall-clock timestamp plus a
/// few nanoseconds, the price a random walk.
fn writer(log: Arc<Timelog<f64>>, stop: Arc<AtomicBool>, written: Arc<AtomicU64>, seed: u64) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let mut price = 100.0;
    while !stop.load(Ordering::Relaxed) {
        let t0 = now_ns();
        let batch: Vec<(i64, f64)> = (0..100)
            .map(|i| {
                price = (price + rng.step() * 0.05).max(1.0);
                (t0 + i * 3 + (rng.next() % 3) as i64, price)
            })
            .collect();
        let _ = log.append_batch(batch);
        written.fetch_add(100, Ordering::Relaxed);
        thread::sleep(Duration::from_millis(4));
    }
}

/// One answer: (bucket start in ns, count, average).
type Buckets = Vec<(i64, i64, f64)>;

fn buckets(batches: &[RecordBatch]) -> Buckets {
    let mut out = Vec::new();
    for b in batches {
        let bucket = b.column(0).as_primitive::<TimestampNanosecondType>();
        let n = b.column(1).as_primitive::<Int64Type>();
        let avg = b.column(2).as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            out.push((bucket.value(i), n.value(i), avg.value(i)));
        }
    }
    out
}

/// The plan's scan (it holds the snapshot the query read).
fn find_scan(plan: &Arc<dyn ExecutionPlan>) -> Option<&TimelogScanExec<f64>> {
    if let Some(scan) = plan.downcast_ref::<TimelogScanExec<f64>>() {
        return Some(scan);
    }
    plan.children().into_iter().find_map(find_scan)
}

/// Checks an answer against the snapshot the query read: per bucket, the count
/// and average of the snapshot's records of `[lo, hi]`.
fn check(got: &Buckets, scan: &TimelogScanExec<f64>, lo: i64, hi: i64) -> usize {
    let snap = scan.snapshot();
    let mut want: BTreeMap<i64, (i64, f64)> = BTreeMap::new();
    for (ts, v) in snap.range(lo..=hi) {
        let e = want.entry(ts.div_euclid(NS_PER_SEC) * NS_PER_SEC).or_default();
        e.0 += 1;
        e.1 += *v;
    }
    let total: i64 = got.iter().map(|b| b.1).sum();
    assert_eq!(total as usize, snap.count(lo..=hi), "the buckets add up to the snapshot's count");
    assert_eq!(total as usize, scan.rows(), "the scan returned exactly its rows");
    assert_eq!(got.len(), want.len(), "one bucket per second with records");
    for ((bucket, n, avg), (wb, (wn, wsum))) in got.iter().zip(&want) {
        assert_eq!((bucket, n), (wb, wn), "bucket {bucket}");
        let wavg = wsum / *wn as f64;
        assert!((avg - wavg).abs() <= 1e-9 * wavg.abs(), "bucket {bucket}: avg {avg} vs {wavg}");
    }
    total as usize
}

#[tokio::main]
async fn main() -> Result<()> {
    let log: Arc<Timelog<f64>> =
        Arc::new(Timelog::builder().time_unit(TimeUnit::Nanos).build().expect("a valid configuration"));
    let ctx = SessionContext::new();
    ctx.register_table("ticks", Arc::new(TimelogTable::new(log.clone()).with_log_timestamp()))?;

    // The window: from the start of this second to well past the end of the run.
    let lo = now_ns().div_euclid(NS_PER_SEC) * NS_PER_SEC;
    let hi = lo + 60 * NS_PER_SEC - 1;

    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (log, stop, written) = (log.clone(), stop.clone(), written.clone());
            thread::spawn(move || writer(log, stop, written, w))
        })
        .collect();

    let sql = format!(
        "SELECT date_bin(INTERVAL '1 second', ts) AS bucket, count(*) AS n, avg(value) AS avg_price \
         FROM ticks WHERE ts BETWEEN to_timestamp_nanos({lo}) AND to_timestamp_nanos({hi}) \
         GROUP BY bucket ORDER BY bucket"
    );
    let explain = ctx.sql(&format!("EXPLAIN {sql}")).await?.collect().await?;
    let plan_text = datafusion::arrow::util::pretty::pretty_format_batches(&explain)?.to_string();
    println!("{plan_text}");
    assert!(plan_text.contains(&format!("TimelogScan: ts=[{lo}, {})", hi + 1)), "the range is pushed down");

    let start = Instant::now();
    let mut queries = 0;
    let mut last_total = 0;
    let mut latencies = Vec::new();
    while start.elapsed() < RUN_FOR {
        let t = Instant::now();
        // Planning takes the snapshot; executing reads it.
        let plan = ctx.sql(&sql).await?.create_physical_plan().await?;
        let got = buckets(&collect(plan.clone(), ctx.task_ctx()).await?);
        latencies.push(t.elapsed());
        let scan = find_scan(&plan).expect("the plan scans the log");
        let total = check(&got, scan, lo, hi);
        assert!(total >= last_total, "the log only grows");
        last_total = total;
        queries += 1;
        let cells: Vec<String> =
            got.iter().map(|(b, n, avg)| format!("{}s:{n}@{avg:.3}", (b - lo) / NS_PER_SEC)).collect();
        println!(
            "query {queries:>3} ({:>6.1} ms): {total:>8} ticks in {} buckets  {}",
            t.elapsed().as_secs_f64() * 1e3,
            got.len(),
            cells.join(" ")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer");
    }

    // Writers stopped: the answer now equals the log's own count.
    let batches = ctx.sql(&sql).await?.collect().await?;
    let total: i64 = buckets(&batches).iter().map(|b| b.1).sum();
    assert_eq!(total as usize, log.count(lo..=hi));
    assert_eq!(log.count(..) as u64, written.load(Ordering::Relaxed), "every tick is in the window");
    println!("{}", datafusion::arrow::util::pretty::pretty_format_batches(&batches)?);
    latencies.sort();
    println!(
        "{queries} queries while writing, {total} ticks in the end; median query {:.1} ms; stats: {:?}",
        latencies[latencies.len() / 2].as_secs_f64() * 1e3,
        log.stats()
    );
    assert!(queries >= 3 && total > 0);
    Ok(())
}
