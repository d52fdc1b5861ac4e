//! Arrow export and import against the oracle: every payload type, over logs with
//! L1 segments, overlapping L0 segments, memtable records and tombstones cutting
//! inside segments, at their edges and across whole ones; through the reader and
//! through the Arrow C stream interface (export, then import into a new log).
#![cfg(feature = "arrow")]

use std::fmt::Debug;
use std::ops::Bound::{self, Excluded, Included, Unbounded};
use std::sync::Arc;

use arrow_array::ffi_stream::ArrowArrayStreamReader;
use arrow_array::{Array, RecordBatch};
use timelog::arrow::{ArrowValue, ExportOptions, SORTED_BY};
use timelog::{MaintenanceMode, Timelog};
use timelog_testkit::gen::Rng;
use timelog_testkit::oracle::Oracle;

/// Records as `(ts, value)` decoded from exported batches.
fn decode<V: ArrowValue + Debug>(batches: &[RecordBatch]) -> Vec<(i64, V)> {
    let mut out = Vec::new();
    for b in batches {
        let ts = timelog::arrow::timestamps(b.column(0).as_ref(), timelog::TimeUnit::Millis).unwrap();
        let vals: Vec<V> = if V::has_column() {
            V::decode(b.column(1).as_ref()).unwrap().into_iter().map(|v| v.expect("no null")).collect()
        } else {
            V::decode(&arrow_array::NullArray::new(ts.len()))
                .unwrap()
                .into_iter()
                .map(Option::unwrap)
                .collect()
        };
        assert_eq!(ts.len(), vals.len());
        out.extend(ts.into_iter().zip(vals));
    }
    out
}

/// A log whose records lie in every layer: L1 segments, L0 segments that overlap
/// them, sealed memruns and the active memtable, with tombstones inside segments,
/// at their edges and across whole ones. Returns the log and the oracle.
fn layered<V: ArrowValue + PartialEq + Debug>(seed: u64, make: impl Fn(u64) -> V) -> (Timelog<V>, Oracle<V>) {
    let log: Timelog<V> = Timelog::builder()
        .memtable_max_bytes(4096)
        .target_page_bytes(512)
        .max_l0_segments(64)
        .window_size(500)
        .maintenance(MaintenanceMode::Manual)
        .build()
        .unwrap();
    let mut o = Oracle::new();
    let mut rng = Rng::new(seed);
    let mut batch = |log: &Timelog<V>, o: &mut Oracle<V>, lo: i64, n: i64, step: i64| {
        let recs: Vec<(i64, V)> =
            (0..n).map(|i| (lo + i * step + rng.below(3) as i64, make(rng.next_u64()))).collect();
        o.append_batch(recs.clone());
        let _ = log.append_batch(recs);
    };
    // L1: ordered data, compacted.
    batch(&log, &mut o, 0, 3000, 2);
    log.compact_now();
    // Tombstones: inside a segment, at an edge, across whole segments.
    o.delete(1000..1010).assert(&log.delete_range(1000..1010));
    o.delete(..40).assert(&log.delete_range(..40));
    o.delete(2500..3500).assert(&log.delete_range(2500..3500));
    // L0 segments overlapping L1 (late data), flushed, not compacted.
    batch(&log, &mut o, 100, 400, 5);
    log.flush();
    batch(&log, &mut o, 1500, 300, 3);
    log.flush();
    // A tombstone over L0 and L1 alike, then memtable records (one sealed memrun, the active one).
    o.delete(1600..1700).assert(&log.delete_range(1600..1700));
    batch(&log, &mut o, 1200, 200, 7);
    batch(&log, &mut o, 5990, 50, 1);
    // Extreme timestamps.
    for t in [i64::MIN, i64::MIN + 1, i64::MAX - 1, i64::MAX] {
        let v = make(rng.next_u64());
        o.append(t, v.clone());
        let _ = log.append(t, v);
    }
    assert!(log.stats().l1_segments > 1 && log.stats().l0_segments >= 2, "{:?}", log.stats());
    (log, o)
}

const RANGES: [(Bound<i64>, Bound<i64>); 9] = [
    (Unbounded, Unbounded),
    (Included(1000), Excluded(1010)),
    (Included(990), Excluded(1020)),
    (Included(1200), Included(2600)),
    (Included(i64::MIN), Included(i64::MIN)),
    (Included(i64::MAX - 1), Unbounded),
    (Excluded(5), Excluded(6)),
    (Included(7), Excluded(7)),
    (Included(6000), Included(i64::MAX - 2)),
];

fn check_type<V: ArrowValue + PartialEq + Debug>(make: impl Fn(u64) -> V) {
    for seed in 1..4 {
        let (log, o) = layered(seed, &make);
        let snap = log.snapshot();
        for r in RANGES {
            let want = o.view().range(r);
            assert_eq!(snap.range(r).map(|(t, v)| (t, v.clone())).collect::<Vec<_>>(), want);
            for rows in [1, 7, 100, 65_536] {
                for zero_copy in [true, false] {
                    let opts = ExportOptions::new().batch_rows(rows).zero_copy(zero_copy);
                    let batches: Vec<RecordBatch> =
                        snap.record_batches(r, &opts).collect::<Result<_, _>>().unwrap();
                    for b in &batches {
                        assert!(b.num_rows() > 0 && b.num_rows() <= rows, "batch of {} rows", b.num_rows());
                        assert_eq!(b.schema().metadata()[SORTED_BY], "ts ASC, insertion order");
                        assert_eq!(b.column(0).null_count(), 0);
                    }
                    assert_eq!(
                        decode::<V>(&batches),
                        want,
                        "range {r:?}, {rows} rows, zero copy {zero_copy}"
                    );
                }
            }
            // Through the C stream interface, then imported into a new log.
            let stream = snap.record_batches(r, &ExportOptions::new().batch_rows(256)).into_ffi_stream();
            let reader = ArrowArrayStreamReader::try_new(stream).unwrap();
            let copy: Timelog<V> = Timelog::new();
            assert_eq!(copy.append_record_batches(reader).unwrap(), want.len());
            assert_eq!(copy.range_vec(..), want, "C stream round trip of {r:?}");
        }
    }
}

#[test]
fn integers_round_trip() {
    check_type(|x| x as i8);
    check_type(|x| x as i16);
    check_type(|x| x as i32);
    check_type(|x| x as i64);
    check_type(|x| x as u8);
    check_type(|x| x as u16);
    check_type(|x| x as u32);
    check_type(|x| x);
}

#[test]
fn floats_and_bools_round_trip() {
    check_type(|x| (x % 1000) as f32 / 8.0);
    check_type(|x| f64::from_bits(x & !(0x7ff << 52))); // finite, so == compares
    check_type(|x| x % 3 == 0);
}

#[test]
fn strings_and_bytes_round_trip() {
    check_type(|x| format!("v{}", x % 1000));
    check_type(|x| Box::<str>::from(format!("{x:x}")));
    check_type(|x| {
        Arc::<str>::from(if x % 5 == 0 { String::new() } else { "é€".repeat((x % 4) as usize) })
    });
    check_type(|x| x.to_le_bytes()[..(x % 9) as usize].to_vec());
    check_type(|x| Box::<[u8]>::from(&x.to_be_bytes()[..]));
    check_type(|x| bytes::Bytes::from(vec![x as u8; (x % 3) as usize]));
}

#[test]
fn options_and_unit_round_trip() {
    check_type(|x| (x % 4 != 0).then_some(x as i32));
    check_type(|x| (x % 3 != 0).then(|| format!("s{x}")));
    check_type(|_| ());
}

#[test]
fn option_payloads_export_nulls() {
    let log: Timelog<Option<u32>> = Timelog::new();
    let _ = log.append_batch([(1, Some(5)), (2, None), (3, Some(7))]);
    let b = log.snapshot().record_batches(.., &ExportOptions::new()).next().unwrap().unwrap();
    assert!(b.schema().field(1).is_nullable());
    assert_eq!(b.column(1).null_count(), 1);
    assert!(b.column(1).is_null(1));
}

#[test]
fn unit_payloads_have_no_value_column() {
    let log: Timelog<()> = Timelog::new();
    let _ = log.append_batch([(1, ()), (1, ())]);
    let b = log.snapshot().record_batches(.., &ExportOptions::new()).next().unwrap().unwrap();
    assert_eq!(b.num_columns(), 1);
    assert_eq!(b.num_rows(), 2);
}

#[test]
fn timestamp_columns_carry_the_unit_and_zone() {
    let log: Timelog<u8> = Timelog::new();
    let _ = log.append_batch([(i64::MIN, 1), (0, 2), (i64::MAX, 3)]);
    let snap = log.snapshot();
    let opts = ExportOptions::new().timestamp_tz(timelog::TimeUnit::Nanos, "+02:00");
    let b = snap.record_batches(.., &opts).next().unwrap().unwrap();
    assert_eq!(b.schema().field(0).data_type().to_string(), "Timestamp(ns, \"+02:00\")");
    let raw = b.column(0).as_any().downcast_ref::<arrow_array::TimestampNanosecondArray>().unwrap();
    assert_eq!(raw.values().to_vec(), [i64::MIN, 0, i64::MAX]);
}

#[test]
fn empty_ranges_give_the_schema_and_no_rows() {
    let (log, _) = layered(9, |x| x as u32);
    let snap = log.snapshot();
    #[allow(clippy::reversed_empty_ranges)]
    for r in [(Included(5), Excluded(5)), (Included(9), Excluded(3)), (Unbounded, Excluded(i64::MIN))] {
        let mut batches = snap.record_batches(r, &ExportOptions::new());
        assert_eq!(batches.schema_ref().fields().len(), 2);
        assert_eq!(batches.remaining_rows(), 0);
        assert!(batches.next().is_none());
    }
    let empty: Timelog<String> = Timelog::new();
    let mut b = empty.snapshot().record_batches(.., &ExportOptions::new());
    assert_eq!(b.schema_ref().field(1).data_type(), &arrow_schema::DataType::Utf8);
    assert!(b.next().is_none());
}
