//! Hot and cold: writer threads append events (10 % of them late, up to three
//! seconds behind) while the main thread archives, again and again, every
//! window older than two seconds to time-partitioned Parquet with
//! `Timelog::archive`. Late events for windows already archived stay in the log
//! and go out with a later archive. When the writers are done, DataFusion reads
//! the files through a listing table (no log involved) and, beside it, the live
//! log, and checks that archive ∪ log holds every event written exactly once.
//!
//! ```text
//! CARGO_TARGET_DIR=target/datafusion cargo run --manifest-path integrations/datafusion/Cargo.toml --example archive_live
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::error::Result;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use timelog::arrow::ExportOptions;
use timelog::parquet::ParquetOptions;
use timelog::{TimeUnit, Timelog};
use timelog_datafusion::TimelogTable;

const WRITERS: u64 = 2;
/// Events per writer.
const EVENTS: u64 = 150_000;
/// The partition window: one directory per second.
const WINDOW_MS: i64 = 1_000;

/// Appends this writer's events (values `w`, `w + WRITERS`, ...): the event time
/// follows the shared clock, one in ten is late by up to three seconds.
fn writer(log: Arc<Timelog<u64>>, clock: Arc<AtomicI64>, w: u64) {
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ w;
    for i in 0..EVENTS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let now = clock.load(Ordering::Relaxed);
        let ts = if x.is_multiple_of(10) { now - (x >> 8) as i64 % 3_000 } else { now };
        let _ = log.append(ts, i * WRITERS + w);
        if i.is_multiple_of(500) {
            thread::sleep(Duration::from_millis(1));
        }
    }
}

fn int(b: &datafusion::arrow::array::RecordBatch, col: usize) -> i64 {
    let c = datafusion::arrow::compute::cast(b.column(col), &DataType::Int64).expect("an integer column");
    c.as_primitive::<Int64Type>().value(0)
}

#[tokio::main]
async fn main() -> Result<()> {
    let log: Arc<Timelog<u64>> =
        Arc::new(Timelog::builder().time_unit(TimeUnit::Millis).build().expect("a valid configuration"));
    let dir = std::env::temp_dir().join(format!("timelog-archive-live-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts =
        ParquetOptions::new().window(WINDOW_MS).export(ExportOptions::new().timestamp(TimeUnit::Millis));

    // The event clock: milliseconds, advanced by the main thread (10 simulated
    // seconds per real one), starting at 2026-01-01.
    let start_ms = 1_767_225_600_000;
    let clock = Arc::new(AtomicI64::new(start_ms));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (log, clock) = (log.clone(), clock.clone());
            thread::spawn(move || writer(log, clock, w))
        })
        .collect();

    let t0 = Instant::now();
    let (mut archives, mut archived, mut late_archived) = (0, 0u64, 0u64);
    let mut windows_written = std::collections::HashSet::new();
    while writers.iter().any(|w| !w.is_finished()) {
        thread::sleep(Duration::from_millis(20));
        let now = start_ms + t0.elapsed().as_millis() as i64 * 10;
        clock.store(now, Ordering::Relaxed);
        // Archive every whole window ending two seconds ago or earlier.
        let cut = (now - 2_000).div_euclid(WINDOW_MS) * WINDOW_MS;
        let report = log.archive(..cut, &dir, &opts).expect("archive");
        archives += 1;
        archived += report.rows;
        for f in &report.files {
            // A window an earlier archive already wrote: these are late events.
            if !windows_written.insert(f.covers.0.div_euclid(WINDOW_MS)) {
                late_archived += f.rows;
            }
        }
    }
    for w in writers {
        w.join().expect("writer");
    }
    let written = WRITERS * EVENTS;
    println!(
        "{archives} archives moved {archived} of {written} events to {} ({late_archived} of them late \
         events for windows archived before); {} still in the log",
        dir.display(),
        log.count(..)
    );

    // The files alone, through DataFusion's listing table (hive partitions).
    let ctx = SessionContext::new();
    let read = ParquetReadOptions::default()
        .table_partition_cols(vec![("window_start".to_string(), DataType::Int64)]);
    ctx.register_parquet("archive", dir.to_str().expect("a UTF-8 path"), read).await?;
    ctx.register_table("live", Arc::new(TimelogTable::new(log.clone()).with_log_timestamp()))?;
    let per_window = ctx
        .sql("SELECT window_start, count(*) AS n, min(ts) AS first, max(ts) AS last FROM archive GROUP BY window_start ORDER BY window_start LIMIT 5")
        .await?
        .collect()
        .await?;
    println!("{}", datafusion::arrow::util::pretty::pretty_format_batches(&per_window)?);

    let b = &ctx.sql("SELECT count(*) FROM archive").await?.collect().await?[0];
    assert_eq!(int(b, 0) as u64, archived, "the files hold what the archives reported");
    // Every event once: archive ∪ log, as the union of the two tables.
    let all = "SELECT value FROM archive UNION ALL SELECT value FROM live";
    let sql =
        format!("SELECT count(*), count(DISTINCT value), min(value), max(value), sum(value) FROM ({all})");
    let b = &ctx.sql(&sql).await?.collect().await?[0];
    let (n, distinct, min, max, sum) = (int(b, 0), int(b, 1), int(b, 2), int(b, 3), int(b, 4));
    println!("archive ∪ log: {n} events, {distinct} distinct, values {min}..={max}");
    let w = written as i64;
    assert_eq!((n, distinct, min, max), (w, w, 0, w - 1), "every event exactly once");
    assert_eq!(sum, w * (w - 1) / 2);
    // Each file's rows lie in its window.
    let b = &ctx
        .sql(&format!("SELECT count(*) FROM archive WHERE CAST(ts AS BIGINT) < window_start OR CAST(ts AS BIGINT) >= window_start + {WINDOW_MS}"))
        .await?
        .collect()
        .await?[0];
    assert_eq!(int(b, 0), 0, "a row outside its partition's window");
    assert!(archives >= 3 && archived > 0, "the run archived while writing");
    std::fs::remove_dir_all(&dir).expect("cleanup");
    Ok(())
}
