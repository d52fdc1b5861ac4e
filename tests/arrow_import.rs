//! Importing Arrow batches: timestamp units converted to the log's exactly, every
//! malformed batch refused with an error that says what is wrong, and a refused
//! batch appends nothing.
#![cfg(feature = "arrow")]

use std::sync::Arc;

use arrow_array::{
    ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, RecordBatchIterator, StringArray,
    TimestampMicrosecondArray, TimestampNanosecondArray, TimestampSecondArray, UInt64Array,
};
use arrow_schema::ArrowError;
use timelog::{Error, TimeUnit, Timelog};

fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(cols).unwrap()
}

fn err<V: timelog::arrow::ArrowValue>(log: &Timelog<V>, b: &RecordBatch) -> String {
    match log.append_record_batch(b) {
        Err(Error::Arrow(m)) => m,
        other => panic!("expected an arrow error, got {other:?}"),
    }
}

#[test]
fn timestamp_units_convert_to_the_logs_unit() {
    let log: Timelog<u64> = Timelog::builder().time_unit(TimeUnit::Micros).build().unwrap();
    let secs = batch(vec![
        ("ts", Arc::new(TimestampSecondArray::from(vec![1, -2]))),
        ("value", Arc::new(UInt64Array::from(vec![1, 2]))),
    ]);
    let nanos = batch(vec![
        ("ts", Arc::new(TimestampNanosecondArray::from(vec![5_000, 7_000]).with_timezone("UTC"))),
        ("value", Arc::new(UInt64Array::from(vec![3, 4]))),
    ]);
    let raw = batch(vec![
        ("ts", Arc::new(Int64Array::from(vec![9]))),
        ("value", Arc::new(UInt64Array::from(vec![5]))),
    ]);
    let same = batch(vec![
        ("ts", Arc::new(TimestampMicrosecondArray::from(vec![11]))),
        ("value", Arc::new(UInt64Array::from(vec![6]))),
    ]);
    for b in [&secs, &nanos, &raw, &same] {
        log.append_record_batch(b).unwrap();
    }
    assert_eq!(log.range_vec(..), [(-2_000_000, 2), (5, 3), (7, 4), (9, 5), (11, 6), (1_000_000, 1)]);
}

#[test]
fn lossy_or_overflowing_timestamps_are_refused() {
    let log: Timelog<u64> = Timelog::builder().time_unit(TimeUnit::Millis).build().unwrap();
    let fine = batch(vec![
        ("ts", Arc::new(TimestampNanosecondArray::from(vec![1_000_000, 1_500_000]))),
        ("value", Arc::new(UInt64Array::from(vec![1, 2]))),
    ]);
    let m = err(&log, &fine);
    assert!(m.contains("row 1") && m.contains("lose precision"), "{m}");
    let huge = batch(vec![
        ("ts", Arc::new(TimestampSecondArray::from(vec![0, i64::MAX / 10]))),
        ("value", Arc::new(UInt64Array::from(vec![1, 2]))),
    ]);
    let m = err(&log, &huge);
    assert!(m.contains("row 1") && m.contains("does not fit"), "{m}");
    assert!(log.is_empty(), "a refused batch appends nothing");
}

#[test]
fn malformed_batches_are_refused_and_append_nothing() {
    let log: Timelog<u64> = Timelog::new();
    let ts = || Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef;
    let vals = || Arc::new(UInt64Array::from(vec![1, 2])) as ArrayRef;
    let cases: Vec<(RecordBatch, &str)> = vec![
        (batch(vec![("value", vals())]), "no ts column"),
        (batch(vec![("ts", ts())]), "no value column"),
        (
            batch(vec![("ts", Arc::new(Float64Array::from(vec![1.0, 2.0]))), ("value", vals())]),
            "ts column is Float64",
        ),
        (
            batch(vec![("ts", Arc::new(StringArray::from(vec!["1", "2"]))), ("value", vals())]),
            "ts column is Utf8",
        ),
        (
            batch(vec![("ts", Arc::new(Int32Array::from(vec![1, 2]))), ("value", vals())]),
            "ts column is Int32",
        ),
        (
            batch(vec![("ts", Arc::new(Int64Array::from(vec![Some(1), None]))), ("value", vals())]),
            "null at row 1",
        ),
        (
            batch(vec![("ts", ts()), ("value", Arc::new(Int64Array::from(vec![1, 2])))]),
            "value column is Int64",
        ),
        (
            batch(vec![("ts", ts()), ("value", Arc::new(UInt64Array::from(vec![Some(1), None])))]),
            "null at row 1",
        ),
        (batch(vec![("ts", ts()), ("value", vals()), ("extra", vals())]), "unexpected column \"extra\""),
    ];
    for (b, want) in cases {
        let m = err(&log, &b);
        assert!(m.contains(want), "expected {want:?} in {m:?}");
    }
    assert!(log.is_empty());
    // Unit logs take no value column; Option logs take a missing one as all None.
    let unit: Timelog<()> = Timelog::new();
    assert!(err(&unit, &batch(vec![("ts", ts()), ("value", vals())])).contains("hold none"));
    unit.append_record_batch(&batch(vec![("ts", ts())])).unwrap();
    assert_eq!(unit.len(), 2);
    let opt: Timelog<Option<u64>> = Timelog::new();
    opt.append_record_batch(&batch(vec![("ts", ts())])).unwrap();
    opt.append_record_batch(&batch(vec![
        ("ts", ts()),
        ("value", Arc::new(UInt64Array::from(vec![None, Some(4)]))),
    ]))
    .unwrap();
    assert_eq!(opt.range_vec(..), [(1, None), (1, None), (2, None), (2, Some(4))]);
}

#[test]
fn a_reader_stops_at_the_first_bad_batch() {
    let log: Timelog<u64> = Timelog::new();
    let schema = batch(vec![
        ("ts", Arc::new(Int64Array::from(vec![0]))),
        ("value", Arc::new(UInt64Array::from(vec![0]))),
    ])
    .schema();
    let good = batch(vec![
        ("ts", Arc::new(Int64Array::from(vec![1, 2]))),
        ("value", Arc::new(UInt64Array::from(vec![1, 2]))),
    ]);
    let items: Vec<Result<RecordBatch, ArrowError>> =
        vec![Ok(good.clone()), Err(ArrowError::ComputeError("source failed".into())), Ok(good)];
    let e = log.append_record_batches(RecordBatchIterator::new(items, schema)).unwrap_err();
    assert!(e.to_string().contains("source failed"), "{e}");
    assert_eq!(log.len(), 2, "the batch before the error stays, the one after is not read");
}

#[test]
fn a_batch_is_seen_whole_or_not_at_all() {
    let log: Arc<Timelog<u64>> = Arc::new(Timelog::new());
    let n = 50_000;
    let b = batch(vec![
        ("ts", Arc::new(Int64Array::from((0..n).collect::<Vec<i64>>()))),
        ("value", Arc::new(UInt64Array::from((0..n as u64).collect::<Vec<u64>>()))),
    ]);
    let reader = {
        let log = log.clone();
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..200 {
                seen.push(log.snapshot().len());
            }
            seen
        })
    };
    for _ in 0..5 {
        log.append_record_batch(&b).unwrap();
    }
    for len in reader.join().unwrap() {
        assert_eq!(len % n as usize, 0, "a snapshot saw part of a batch: {len}");
    }
}
