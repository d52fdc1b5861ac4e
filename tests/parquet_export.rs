//! Parquet export: the files read back (with the parquet crate's own reader) equal
//! the exported rows, in order, one file per window with data, each with its sort
//! order, statistics and metadata; existing files are never overwritten unless
//! asked; nothing is left under a temporary name.
#![cfg(feature = "arrow")]

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::reader::{FileReader, SerializedFileReader};
use timelog::arrow::{ArrowValue, ExportOptions};
use timelog::parquet::{Compression, ParquetOptions};
use timelog::{MaintenanceMode, TimeUnit, Timelog};
use timelog_testkit::oracle::Oracle;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("timelog-parquet-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Every `.parquet` file under `dir`, sorted by path, and every other file.
fn files(dir: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let (mut pq, mut other) = (Vec::new(), Vec::new());
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                pq.push(p);
            } else {
                other.push(p);
            }
        }
    }
    pq.sort();
    (pq, other)
}

fn read(path: &Path) -> Vec<RecordBatch> {
    let r = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap().build().unwrap();
    r.collect::<Result<_, _>>().unwrap()
}

fn rows<V: ArrowValue>(batches: &[RecordBatch], unit: TimeUnit) -> Vec<(i64, V)> {
    let mut out = Vec::new();
    for b in batches {
        let ts = timelog::arrow::timestamps(b.column(0).as_ref(), unit).unwrap();
        let v = V::decode(b.column(1).as_ref()).unwrap();
        out.extend(ts.into_iter().zip(v.into_iter().map(Option::unwrap)));
    }
    out
}

fn layered() -> (Timelog<String>, Oracle<String>) {
    let log: Timelog<String> = Timelog::builder()
        .maintenance(MaintenanceMode::Manual)
        .memtable_max_bytes(8192)
        .max_l0_segments(64)
        .window_size(700)
        .build()
        .unwrap();
    let mut o = Oracle::new();
    let add = |log: &Timelog<String>, o: &mut Oracle<String>, recs: Vec<(i64, String)>| {
        o.append_batch(recs.clone());
        let _ = log.append_batch(recs);
    };
    add(&log, &mut o, (0..5000).map(|t| (t, format!("a{t}"))).collect());
    log.compact_now();
    add(&log, &mut o, (0..500).map(|t| (t * 9 + 1, format!("late{t}"))).collect());
    log.flush();
    o.delete(1000..1500).assert(&log.delete_range(1000..1500));
    add(&log, &mut o, (0..300).map(|t| (2000 + t % 7, format!("m{t}"))).collect());
    add(&log, &mut o, vec![(i64::MIN, "min".into()), (i64::MAX, "max".into()), (9000, "gap".into())]);
    (log, o)
}

#[test]
fn windows_read_back_equal_the_exported_rows() {
    let (log, o) = layered();
    let dir = scratch("windows");
    let snap = log.snapshot();
    let opts =
        ParquetOptions::new().window(1000).row_group_rows(256).export(ExportOptions::new().batch_rows(300));
    let report = snap.write_parquet(.., &dir, &opts).unwrap();
    let want = o.view().range(..);
    assert_eq!(report.rows as usize, want.len());
    let (pq, other) = files(&dir);
    assert!(other.is_empty(), "files left beside the parquet ones: {other:?}");
    // Windows with rows: 0..=5 (minus none), 9, and the two at the ends of i64; 1000..1500 is
    // deleted but 1500..2000 is not, so window 1 has rows.
    let mut starts: Vec<i64> = report.files.iter().map(|f| f.covers.0).collect();
    starts.sort();
    assert_eq!(starts, [i64::MIN, 0, 1000, 2000, 3000, 4000, 9000, 9_223_372_036_854_775_000]);
    assert_eq!(pq.len(), report.files.len());
    let mut got = Vec::new();
    for f in &report.files {
        assert!(f.path.exists() && f.bytes == std::fs::metadata(&f.path).unwrap().len());
        let dirname = f.path.parent().unwrap().file_name().unwrap().to_str().unwrap().to_string();
        assert!(dirname.starts_with("window_start="), "{dirname}");
        let part: Vec<(i64, String)> = rows(&read(&f.path), TimeUnit::Millis);
        assert_eq!(part.len() as u64, f.rows);
        assert!(part.iter().all(|(t, _)| *t >= f.covers.0 && *t <= f.covers.1));
        // Sort order, statistics and metadata in the file.
        let meta = SerializedFileReader::new(File::open(&f.path).unwrap()).unwrap().metadata().clone();
        let kv = meta.file_metadata().key_value_metadata().unwrap();
        assert!(kv.iter().any(|k| k.key == "timelog.sorted_by"));
        assert!(kv
            .iter()
            .any(|k| k.key == "timelog.watermark"
                && k.value.as_deref() == Some(&*snap.watermark().to_string())));
        for rg in meta.row_groups() {
            assert!(rg.num_rows() <= 256);
            let sc = rg.sorting_columns().unwrap();
            assert_eq!((sc[0].column_idx, sc[0].descending), (0, false));
            let st = rg.column(0).statistics().expect("ts statistics");
            assert!(st.min_bytes_opt().is_some() && st.max_bytes_opt().is_some());
        }
        got.extend(part);
    }
    assert_eq!(got, want);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn existing_files_are_not_overwritten_unless_asked() {
    let (log, _) = layered();
    let dir = scratch("overwrite");
    let opts = ParquetOptions::new().window(1000);
    let first = log.snapshot().write_parquet(0..3000, &dir, &opts).unwrap();
    let before: Vec<_> = first.files.iter().map(|f| std::fs::read(&f.path).unwrap()).collect();
    let _ = log.append(10, "new".to_string());
    let e = log.snapshot().write_parquet(0..4000, &dir, &opts).unwrap_err();
    assert!(e.to_string().contains("exists"), "{e}");
    // Another range whose file would overlap one already there: its rows would be there twice.
    let e = log.snapshot().write_parquet(2500..4000, &dir, &opts.clone().overwrite(true)).unwrap_err();
    assert!(e.to_string().contains("overlap"), "{e}");
    // Nothing was written: not even the window that did not exist yet.
    assert_eq!(files(&dir).0.len(), first.files.len());
    // A range with other edges writes other names beside them.
    let other = log.snapshot().write_parquet(3000..4000, &dir, &opts).unwrap();
    assert_eq!(other.files.len(), 1);
    // Overwrite replaces the files whole.
    let again = log.snapshot().write_parquet(0..3000, &dir, &opts.clone().overwrite(true)).unwrap();
    assert_eq!(again.rows, first.rows + 1);
    assert_ne!(std::fs::read(&again.files[0].path).unwrap(), before[0]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn one_file_timestamps_and_compression() {
    let log: Timelog<u64> = Timelog::builder().time_unit(TimeUnit::Micros).build().unwrap();
    let _ = log.append_batch((0..100_000).map(|t| (1_700_000_000_000_000 + t * 10, t as u64 % 97)));
    let dir = scratch("single");
    let opts = ParquetOptions::new()
        .compression(Compression::Zstd(3))
        .export(ExportOptions::new().timestamp(TimeUnit::Micros));
    let report = log.snapshot().write_parquet(.., &dir, &opts).unwrap();
    assert_eq!(report.files.len(), 1);
    assert!(report.files[0].path.parent().unwrap() == dir);
    let batches = read(&report.files[0].path);
    assert_eq!(batches[0].schema().field(0).data_type().to_string(), "Timestamp(µs)");
    assert_eq!(rows::<u64>(&batches, TimeUnit::Micros), log.range_vec(..));
    assert!(report.bytes < 100_000 * 4, "{} bytes for 100k rows", report.bytes);
    // An empty range writes nothing, not even the directory.
    let none = log.snapshot().write_parquet(0..10, dir.join("empty"), &opts).unwrap();
    assert!(none.files.is_empty() && !dir.join("empty").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
