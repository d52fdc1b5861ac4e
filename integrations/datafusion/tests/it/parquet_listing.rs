//! The feature set reads Parquet through a ListingTable: records exported from
//! the log to a Parquet file (as an archive would) are queried next to the live
//! table, in one SQL statement.

use std::fs::File;
use std::sync::Arc;

use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::ParquetReadOptions;
use timelog::arrow::ExportOptions;
use timelog::{TimeUnit, Timelog};
use timelog_datafusion::TimelogTable;

use crate::common::*;

#[tokio::test]
async fn archived_parquet_next_to_the_live_log() {
    let log: Arc<Timelog<f64>> = Arc::new(Timelog::builder().time_unit(TimeUnit::Millis).build().unwrap());
    let _ = log.append_batch((0..5000).map(|t| (t, t as f64)));

    // Archive [0, 3000) to Parquet, then drop it from the log.
    let dir = std::env::temp_dir().join(format!("timelog-df-parquet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let opts = ExportOptions::new().timestamp(TimeUnit::Millis);
    let batches = log.snapshot().record_batches(0..3000, &opts);
    let mut w = ArrowWriter::try_new(
        File::create(dir.join("part-0.parquet")).unwrap(),
        batches.schema_ref().clone(),
        None,
    )
    .unwrap();
    for b in batches {
        w.write(&b.unwrap()).unwrap();
    }
    w.close().unwrap();
    log.delete_range(..3000).unwrap();

    let ctx = session(2);
    ctx.register_table("live", Arc::new(TimelogTable::new(log).with_log_timestamp())).unwrap();
    ctx.register_parquet("archive", dir.to_str().unwrap(), ParquetReadOptions::default()).await.unwrap();
    let sql = "SELECT count(*), sum(value) FROM (SELECT ts, value FROM archive UNION ALL SELECT ts, value FROM live) \
               WHERE ts >= TIMESTAMP '1970-01-01T00:00:02' AND ts < TIMESTAMP '1970-01-01T00:00:04'";
    let b = run(&ctx, sql).await;
    let n = int_col(b[0].column(0).as_ref())[0];
    let s = datafusion::arrow::compute::cast(b[0].column(1), &datafusion::arrow::datatypes::DataType::Int64)
        .unwrap();
    assert_eq!(n, 2000);
    assert_eq!(int_col(s.as_ref())[0], (2000..4000).sum::<i64>());
    std::fs::remove_dir_all(&dir).unwrap();
}
