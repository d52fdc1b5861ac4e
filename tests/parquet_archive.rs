//! The Parquet archive loses nothing and writes nothing twice: while a writer
//! appends (late records into the archived windows among them), an archive is
//! interrupted at each of its steps, then re-run; at the end the files under the
//! directory (read back with the parquet crate) and the log hold every record
//! written exactly once, and no staged file, temporary file or marker is left.
//! Also: leftovers of a killed process are discarded or completed, an archive
//! refuses to write beside a plain export of the same timestamps, and the
//! archived files are ordinary partitioned Parquet.
#![cfg(feature = "arrow")]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use timelog::parquet::{ArchiveFault, ParquetOptions};
use timelog::{Error, MaintenanceMode, Timelog};

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("timelog-archive-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Every file under `dir`: the `.parquet` ones (not hidden), and the others.
fn files(dir: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let (mut pq, mut other) = (Vec::new(), Vec::new());
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries {
            let p = e.unwrap().path();
            let hidden = p.file_name().unwrap().to_string_lossy().starts_with('.');
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") && !hidden {
                pq.push(p);
            } else {
                other.push(p);
            }
        }
    }
    pq.sort();
    (pq, other)
}

/// `(ts, value)` of every row of every `.parquet` file under `dir`, checking
/// each file's rows lie in its partition directory's window.
fn archived(dir: &Path, window: i64) -> Vec<(i64, u64)> {
    let mut out = Vec::new();
    for path in files(dir).0 {
        let part = path.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned();
        let start: i64 = part.strip_prefix("window_start=").unwrap().parse().unwrap();
        let r =
            ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap().build().unwrap();
        for b in r {
            let b = b.unwrap();
            let ts = b.column(0).as_primitive::<arrow_array::types::Int64Type>();
            let v = b.column(1).as_primitive::<UInt64Type>();
            for i in 0..b.num_rows() {
                let t = ts.value(i);
                assert!(start <= t && t < start + window, "{} holds {t}", path.display());
                out.push((t, v.value(i)));
            }
        }
    }
    out
}

/// Checks that archive ∪ log is `0..written` (values), each once.
fn check_partition(dir: &Path, log: &Timelog<u64>, written: u64, window: i64) {
    let mut all: Vec<u64> = archived(dir, window).into_iter().map(|(_, v)| v).collect();
    let in_files = all.len();
    all.extend(log.snapshot().range(..).map(|(_, v)| *v));
    all.sort_unstable();
    let n = all.len();
    all.dedup();
    assert_eq!(
        all.len(),
        n,
        "a record is both archived and in the log, or archived twice ({in_files} in files)"
    );
    assert_eq!(all.len() as u64, written, "records lost");
    assert_eq!(all, (0..written).collect::<Vec<_>>());
    let (_, other) = files(dir);
    assert!(other.is_empty(), "left behind: {other:?}");
}

/// Records the writer appends.
const WRITTEN: u64 = 40_000;

const FAULTS: [ArchiveFault; 5] = [
    ArchiveFault::AfterFirstFile,
    ArchiveFault::BeforeCommit,
    ArchiveFault::AfterDelete,
    ArchiveFault::AfterFirstPublish,
    ArchiveFault::BeforeCleanup,
];

#[test]
fn interrupted_at_every_step_and_rerun_while_a_writer_appends_late_records() {
    for (k, fault) in FAULTS.into_iter().enumerate() {
        let dir = scratch(&format!("fault{k}"));
        let log = Arc::new(
            timelog_testkit::tiny::<u64>(MaintenanceMode::Background)
                .memtable_max_bytes(16 << 10)
                .build()
                .unwrap(),
        );
        let writer = {
            let log = log.clone();
            std::thread::spawn(move || {
                for n in 0..WRITTEN {
                    // In time order, and one in five late: anywhere behind, so
                    // into windows already archived too.
                    let ts = if n % 5 == 4 { n * 7919 % (n + 1) } else { n } as i64;
                    let _ = log.append(ts, n);
                    if n % 64 == 0 {
                        std::thread::sleep(std::time::Duration::from_micros(200));
                    }
                }
            })
        };
        let opts = ParquetOptions::new().window(1000);
        while log.snapshot().count(..) < 10_000 {
            std::thread::yield_now();
        }
        let failed = log.archive(..5_000, &dir, &opts.clone().inject_archive_fault(fault));
        assert!(matches!(&failed, Err(Error::Io(m)) if m.contains("injected")), "{fault:?}: {failed:?}");
        let before_commit = matches!(fault, ArchiveFault::AfterFirstFile | ArchiveFault::BeforeCommit);
        if before_commit {
            assert!(files(&dir).0.is_empty(), "{fault:?}: a file was published before the commit");
        }
        let rerun = log.archive(..5_000, &dir, &opts).unwrap();
        if matches!(fault, ArchiveFault::AfterDelete | ArchiveFault::AfterFirstPublish) {
            assert!(!rerun.recovered.is_empty(), "{fault:?}: nothing was completed: {rerun:?}");
        }
        assert!(rerun.rows > 0 || !before_commit, "{fault:?}: {rerun:?}");
        // Archive later windows while the writer goes on, then everything it wrote.
        for hi in [8_000, 12_000] {
            log.archive(..hi, &dir, &opts).unwrap();
        }
        writer.join().unwrap();
        log.archive(..20_000, &dir, &opts).unwrap();
        log.flush();
        check_partition(&dir, &log, WRITTEN, 1000);
        log.validate().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn a_panicking_encoder_leaves_staged_files_that_the_next_archive_discards() {
    use arrow_array::ArrayRef;
    use arrow_schema::{DataType, Field};
    use timelog::arrow::ValueEncoder;

    /// Encodes the first batch, panics on the second.
    struct Flaky(usize);
    impl ValueEncoder<u64> for Flaky {
        fn field(&self) -> Option<Field> {
            Some(Field::new("value", DataType::UInt64, false))
        }
        fn encode(&mut self, values: &[&u64]) -> timelog::Result<ArrayRef> {
            self.0 += 1;
            assert!(self.0 < 2, "encoder bug");
            Ok(Arc::new(values.iter().map(|v| **v).collect::<arrow_array::UInt64Array>()))
        }
    }

    let dir = scratch("panic");
    let log: Timelog<u64> = Timelog::builder().maintenance(MaintenanceMode::Manual).build().unwrap();
    let _ = log.append_batch((0..5_000).map(|t| (t, t as u64)));
    let opts =
        ParquetOptions::new().window(1000).export(timelog::arrow::ExportOptions::new().batch_rows(1000));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = log.archive_with(..5_000, &dir, &opts, Flaky(0));
    }));
    assert!(caught.is_err());
    assert_eq!(log.snapshot().count(..), 5_000, "nothing left the log");
    let (published, leftovers) = files(&dir);
    assert!(published.is_empty());
    assert!(!leftovers.is_empty(), "the first file was staged before the panic");
    let report = log.archive(..5_000, &dir, &opts).unwrap();
    assert_eq!(report.discarded.len(), leftovers.len(), "{report:?}");
    assert_eq!(report.rows, 5_000);
    check_partition(&dir, &log, 5_000, 1000);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_marker_left_by_a_killed_process_is_completed_by_the_next_archive() {
    // What a process killed after the commit leaves: staged files and a marker.
    let dir = scratch("killed");
    let log: Timelog<u64> = Timelog::builder().maintenance(MaintenanceMode::Manual).build().unwrap();
    let _ = log.append_batch((0..3_000).map(|t| (t, t as u64)));
    let opts = ParquetOptions::new().window(1000);
    let _ = log.archive(..2_000, &dir, &opts.clone().inject_archive_fault(ArchiveFault::AfterDelete));
    let staged: Vec<PathBuf> = files(&dir).1;
    assert_eq!(staged.len(), 3, "two staged files and the marker: {staged:?}");
    // A new process, whose log holds the rest (the archived records left with the old one).
    let fresh: Timelog<u64> = Timelog::builder().maintenance(MaintenanceMode::Manual).build().unwrap();
    let _ = fresh.append_batch((2_000..3_000).map(|t| (t, t as u64)));
    let report = fresh.archive(..0, &dir, &opts).unwrap();
    assert_eq!(report.recovered.len(), 2, "{report:?}");
    assert_eq!(report.rows, 0);
    check_partition(&dir, &fresh, 3_000, 1000);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn refuses_to_archive_beside_a_plain_export_of_the_same_timestamps() {
    let dir = scratch("beside");
    let log: Timelog<u64> = Timelog::new();
    let _ = log.append_batch((0..2_000).map(|t| (t, t as u64)));
    let opts = ParquetOptions::new().window(1000);
    log.snapshot().write_parquet(..1_000, &dir, &opts).unwrap();
    let err = log.archive(..2_000, &dir, &opts).unwrap_err();
    assert!(matches!(&err, Error::Io(m) if m.contains("overlap")), "{err}");
    assert_eq!(log.snapshot().count(..), 2_000, "a refused archive deletes nothing");
    assert!(files(&dir).1.is_empty(), "a refused archive leaves nothing");
    // Beyond the exported window it archives; inverted ranges are refused.
    assert_eq!(log.archive(1_000..2_000, &dir, &opts).unwrap().rows, 1_000);
    let (five, three) = (5, 3);
    assert_eq!(log.archive(five..three, &dir, &opts).unwrap_err(), Error::InvalidRange);
    let bad = ParquetOptions::new().window(1000).partition_column("a/b");
    assert!(log.archive(..10, &dir, &bad).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
