//! Bad input gives clear errors, never lost or wrong rows: a payload type whose
//! Arrow encoding is broken, an unknown time zone, a projection past the columns.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::datatypes::DataType;
use timelog::arrow::ArrowValue;
use timelog::{TimeUnit, Timelog};
use timelog_datafusion::TimelogTable;

use crate::common::*;

/// Declares Int64 but encodes strings.
#[derive(Clone, Debug)]
struct Liar(i64);

impl ArrowValue for Liar {
    fn data_type() -> DataType {
        DataType::Int64
    }
    fn encode(values: &[Option<&Self>]) -> timelog::Result<ArrayRef> {
        Ok(Arc::new(values.iter().map(|v| v.map(|l| l.0.to_string())).collect::<StringArray>()))
    }
    fn decode(_: &dyn Array) -> timelog::Result<Vec<Option<Self>>> {
        Err(timelog::Error::Arrow("not decodable".into()))
    }
}

#[tokio::test]
async fn broken_value_encoding_is_an_error() {
    let log: Arc<Timelog<Liar>> = Arc::new(Timelog::new());
    let _ = log.append_batch((0..10).map(|t| (t, Liar(t))));
    let ctx = session(1);
    ctx.register_table("t", Arc::new(TimelogTable::new(log))).unwrap();
    let err = ctx.sql("SELECT * FROM t WHERE ts >= 2").await.unwrap().collect().await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("reading timelog range [2, 10)"), "{msg}");
    assert!(msg.contains("Int64") && msg.contains("Utf8"), "{msg}");
    // Timestamps only: the values are not encoded, so no error.
    assert_eq!(scalar(&run(&ctx, "SELECT count(ts) FROM t WHERE ts >= 2 AND ts % 2 = 0").await), 4);
}

#[tokio::test]
async fn bad_time_zone_and_projection() {
    let err = TimelogTable::new(Timelog::<u8>::new())
        .with_timestamp_tz(TimeUnit::Nanos, "Nowhere/Special")
        .unwrap_err();
    assert!(err.to_string().contains("invalid time zone \"Nowhere/Special\""), "{err}");
    let ok = TimelogTable::new(Timelog::<u8>::new()).with_timestamp_tz(TimeUnit::Nanos, "+05:30").unwrap();
    assert_eq!(ok.ts_type().to_string(), "Timestamp(ns, \"+05:30\")");

    let log: Arc<Timelog<u8>> = Arc::new(Timelog::new());
    let ctx = session(1);
    ctx.register_table("t", Arc::new(TimelogTable::new(log))).unwrap();
    let err = ctx.sql("SELECT nope FROM t").await.unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

#[tokio::test]
async fn unit_payload_has_only_ts() {
    let log: Arc<Timelog<()>> = Arc::new(Timelog::new());
    let _ = log.append_batch((0..100).map(|t| (t, ())));
    let ctx = session(2);
    ctx.register_table("t", Arc::new(TimelogTable::new(log).with_min_partition_rows(10))).unwrap();
    let b = run(&ctx, "SELECT * FROM t WHERE ts BETWEEN 10 AND 19 ORDER BY ts").await;
    assert_eq!(b[0].num_columns(), 1);
    let ts: Vec<i64> = b.iter().flat_map(|b| int_col(b.column(0).as_ref())).collect();
    assert_eq!(ts, (10..20).collect::<Vec<_>>());
}
