//! What exported Arrow batches share and pin: compacted columns are shared, not
//! copied; a batch held while the log compacts and deletes stays valid and
//! unchanged; the segments it holds show in `stats()` as pinned and are freed when
//! the consumer drops the batch; interleaved sources are coalesced into full
//! batches; variable-width columns are cut before their offsets overflow.
#![cfg(feature = "arrow")]

use arrow_array::{Array, Int64Array, RecordBatch, StringArray, UInt64Array};
use timelog::arrow::ExportOptions;
use timelog::{MaintenanceMode, Timelog};

fn manual<V: timelog::Value>() -> Timelog<V> {
    Timelog::builder().maintenance(MaintenanceMode::Manual).build().unwrap()
}

fn collect(b: impl Iterator<Item = Result<RecordBatch, arrow_schema::ArrowError>>) -> Vec<RecordBatch> {
    b.collect::<Result<_, _>>().unwrap()
}

#[test]
fn compacted_columns_are_shared_not_copied() {
    // Pages of 256 records: L1 segments of 16,384, smaller than a default batch.
    let log: Timelog<u64> =
        Timelog::builder().maintenance(MaintenanceMode::Manual).target_page_bytes(4096).build().unwrap();
    let _ = log.append_batch((0..300_000).map(|t| (t, t as u64)));
    log.compact_now();
    assert!(log.stats().l1_segments >= 3, "segments smaller than a default batch");
    let snap = log.snapshot();
    let pages = snap.segment_pages(..);
    // Where the segments' columns lie: each page is a slice of one of them.
    let inside = |p: usize, col: &dyn Fn(&timelog::PageRef<u64>) -> (usize, usize)| {
        pages.iter().any(|pg| {
            let (start, len) = col(pg);
            p >= start && p < start + len * 8
        })
    };
    let val_col = |pg: &timelog::PageRef<u64>| (pg.values().as_ptr() as usize, pg.len());
    let mut batches = collect(snap.record_batches(.., &ExportOptions::new().batch_rows(10_000)));
    assert!(batches.len() >= 30);
    // Default batches are larger than a segment: each segment is one shared batch.
    batches.extend(collect(snap.record_batches(.., &ExportOptions::new())));
    for b in &batches {
        let ts = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        let v = b.column(1).as_any().downcast_ref::<UInt64Array>().unwrap();
        // Each batch's values point into the segment's own column; its timestamps
        // were decoded from the segment's packed column.
        assert!(pages.iter().all(|pg| pg.is_packed()));
        assert!(inside(v.values().as_ptr() as usize, &val_col));
        assert!(ts.values().windows(2).all(|w| w[1] == w[0] + 1));
        assert!(ts.values().iter().zip(v.values()).all(|(&t, &v)| t as u64 == v));
    }
    // With zero copy off, no buffer points into a segment.
    let copied = collect(snap.record_batches(.., &ExportOptions::new().batch_rows(10_000).zero_copy(false)));
    for b in &copied {
        let vp = b.column(1).as_any().downcast_ref::<UInt64Array>().unwrap().values().as_ptr() as usize;
        assert!(!inside(vp, &val_col));
    }
}

#[test]
fn late_records_between_segments_keep_batches_large_and_mostly_shared() {
    let log: Timelog<u64> = manual();
    let _ = log.append_batch((0..300_000).map(|t| (t * 2, 1)));
    log.compact_now();
    // A late record every 10,000 timestamps, in the memtable.
    let _ = log.append_batch((0..30).map(|k| (k * 20_000 + 1, 2)));
    let snap = log.snapshot();
    let shared = |b: &RecordBatch| {
        let p = b.column(1).as_any().downcast_ref::<UInt64Array>().unwrap().values().as_ptr() as usize;
        snap.segment_pages(..).iter().any(|pg| {
            let s = pg.values().as_ptr() as usize;
            p >= s && p < s + pg.len() * 8
        })
    };
    let batches = collect(snap.record_batches(.., &ExportOptions::new()));
    let rows: Vec<usize> = batches.iter().map(|b| b.num_rows()).collect();
    assert_eq!(rows.iter().sum::<usize>(), 300_030);
    // min_share is 4,096 for the default target: no batch is smaller but the last.
    assert!(rows[..rows.len() - 1].iter().all(|&n| n >= 4096), "{rows:?}");
    let shared_rows: usize = batches.iter().filter(|b| shared(b)).map(|b| b.num_rows()).sum();
    assert!(shared_rows * 10 >= 300_030 * 5, "only {shared_rows} rows shared: {rows:?}");
}

#[test]
fn string_logs_share_their_l0_timestamps() {
    // L0 segments keep their timestamps plain (L1 ones packed): shared as they are.
    let log: Timelog<String> = manual();
    let _ = log.append_batch((0..50_000).map(|t| (t, format!("v{t}"))));
    log.flush();
    let snap = log.snapshot();
    let pages = snap.segment_pages(..);
    let batches = collect(snap.record_batches(.., &ExportOptions::new()));
    for b in &batches {
        let p = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap().values().as_ptr() as usize;
        assert!(pages.iter().any(|pg| {
            let s = pg.timestamps().as_ptr() as usize;
            p >= s && p < s + pg.len() * 8
        }));
        let v = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        let ts = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(v.value(0), format!("v{}", ts.value(0)));
    }
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 50_000);
}

#[test]
fn a_held_batch_survives_compaction_and_deletes_and_pins_until_dropped() {
    let log: Timelog<u64> = manual();
    let _ = log.append_batch((0..50_000).map(|t| (t, t as u64 * 3)));
    log.compact_now();
    assert_eq!(log.stats().pinned_segments, 0);
    let batches = collect(log.snapshot().record_batches(.., &ExportOptions::new()));
    let before: Vec<(Vec<i64>, Vec<u64>)> = batches
        .iter()
        .map(|b| {
            let ts = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap().values().to_vec();
            let v = b.column(1).as_any().downcast_ref::<UInt64Array>().unwrap().values().to_vec();
            (ts, v)
        })
        .collect();
    // The log deletes everything and compacts: its segments leave the manifest.
    log.delete_range(..).unwrap();
    let _ = log.append_batch((0..1000).map(|t| (t, 7)));
    log.compact_now();
    assert_eq!(log.len(), 1000);
    let st = log.stats();
    assert!(st.pinned_segments > 0, "the batches pin the old segments: {st:?}");
    // At least the values (the timestamps are packed: fewer bytes than 8 each).
    assert!(st.pinned_bytes >= 50_000 * 8, "{st:?}");
    // The batches still read what they read.
    for (b, (ts, v)) in batches.iter().zip(&before) {
        assert_eq!(b.column(0).as_any().downcast_ref::<Int64Array>().unwrap().values(), &ts[..]);
        assert_eq!(b.column(1).as_any().downcast_ref::<UInt64Array>().unwrap().values(), &v[..]);
    }
    // Dropping them frees the segments (drop accounting through the log's tally).
    drop(batches);
    let st = log.stats();
    assert_eq!((st.pinned_segments, st.pinned_bytes), (0, 0), "{st:?}");
}

#[test]
fn a_reader_pins_its_snapshot_until_it_ends_or_drops() {
    let log: Timelog<u64> = manual();
    let _ = log.append_batch((0..20_000).map(|t| (t, 1)));
    log.compact_now();
    let mut reader = log.snapshot().record_batches(.., &ExportOptions::new().batch_rows(1000));
    let first = reader.next().unwrap().unwrap();
    log.delete_range(..).unwrap();
    log.compact_now();
    assert_eq!(log.len(), 0);
    assert!(log.stats().pinned_segments > 0);
    let rest: usize = reader.by_ref().map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(first.num_rows() + rest, 20_000);
    drop(first);
    // The reader released its snapshot at its end, before it is dropped.
    assert_eq!(log.stats().pinned_segments, 0);
    drop(reader);
    // Outlives the log itself.
    let log2: Timelog<u64> = manual();
    let _ = log2.append_batch((0..10).map(|t| (t, t as u64)));
    let reader = log2.snapshot().record_batches(.., &ExportOptions::new());
    drop(log2);
    assert_eq!(reader.map(|b| b.unwrap().num_rows()).sum::<usize>(), 10);
}

#[test]
fn interleaved_sources_are_coalesced_into_full_batches() {
    let log: Timelog<u32> =
        Timelog::builder().maintenance(MaintenanceMode::Manual).max_l0_segments(64).build().unwrap();
    // Eight L0 segments whose records interleave one by one, plus memtable records.
    for k in 0..8 {
        let _ = log.append_batch((0..5_000).map(|i| (i * 8 + k, k as u32)));
        log.flush();
    }
    let _ = log.append_batch((0..5_000).map(|i| (i * 8 + 3, 99)));
    assert!(log.stats().l0_segments >= 8);
    let batches = collect(log.snapshot().record_batches(.., &ExportOptions::new().batch_rows(4096)));
    let rows: Vec<usize> = batches.iter().map(|b| b.num_rows()).collect();
    assert_eq!(rows.iter().sum::<usize>(), 45_000);
    assert!(rows[..rows.len() - 1].iter().all(|&n| n == 4096), "{rows:?}");
    let ts: Vec<i64> = batches
        .iter()
        .flat_map(|b| b.column(0).as_any().downcast_ref::<Int64Array>().unwrap().values().to_vec())
        .collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn string_columns_are_cut_before_their_byte_limit() {
    let log: Timelog<String> = manual();
    let _ = log.append_batch((0..1000).map(|t| (t, "x".repeat((t % 50) as usize))));
    let limit = 1000;
    let batches = collect(log.snapshot().record_batches(.., &ExportOptions::new().max_batch_bytes(limit)));
    assert!(batches.len() > 10);
    let mut n = 0;
    for b in &batches {
        let s = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        let bytes = s.value_data().len();
        assert!(bytes <= limit, "{bytes} bytes in one batch");
        for i in 0..s.len() {
            assert_eq!(s.value(i).len(), ((n + i) % 50), "row {}", n + i);
        }
        n += s.len();
    }
    assert_eq!(n, 1000);
    // The same once compacted: long stretches share their timestamps and still cut.
    log.compact_now();
    let batches = collect(log.snapshot().record_batches(.., &ExportOptions::new().max_batch_bytes(limit)));
    let strings: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            let s = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
            assert!(s.value_data().len() <= limit);
            (0..s.len()).map(|i| s.value(i).to_string()).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(strings.len(), 1000);
    assert!(strings.iter().enumerate().all(|(i, v)| v.len() == i % 50));
    // A value larger than the limit on its own cannot go anywhere: an error, not a loss.
    let big: Timelog<String> = manual();
    let _ = big.append(1, "y".repeat(2000));
    let mut r = big.snapshot().record_batches(.., &ExportOptions::new().max_batch_bytes(limit));
    let e = r.next().unwrap().unwrap_err();
    assert!(e.to_string().contains("2000 bytes"), "{e}");
}
