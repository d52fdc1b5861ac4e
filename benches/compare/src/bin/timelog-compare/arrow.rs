//! The Arrow figures (cargo feature `arrow` of this package, which turns on the
//! engine's), on a compacted engine holding the canonical workload (ingested in
//! batches of [`BATCH`](timelog_compare::workload::BATCH), flushed, then
//! `compact_now()`, untimed):
//!
//! - `arrow_export`: `Snapshot::record_batches(.., &ExportOptions::new())`
//!   (batches of 65,536 rows; a batch that lies within one compacted segment
//!   shares its columns, others are copied), with both columns of every batch summed by arrow's `sum` kernel
//!   (`ts` as `i64`, wrapped into `u64`, and `value`): records/s. Its baseline
//!   is the engine's own full scan summing `ts` and `value`
//!   (`snap.range(..).fold(..)`). The same export with batches of
//!   [`SMALL_BATCH`] rows is an extra (`arrow_export_small`): where segment
//!   edges do not fall on the default batches' edges, the default export may
//!   copy where the smaller batches share. The three take turns, [`PASSES`]
//!   times each (one full pass takes a few ms), after one untimed pass of each;
//!   each figure is the total over its passes, and the answers are
//!   cross-checked.
//! - `parquet_export`: `Snapshot::write_parquet` of the whole log into a fresh
//!   directory under the system's temporary directory (`TMPDIR`, removed after
//!   each export), in time windows of a tenth of the span aligned to the first
//!   timestamp (10 files), Snappy (the default): records/s, each file's
//!   `fsync` included; `parquet_bytes` is its size on disk per record. The same
//!   export with Zstd(3) gives `parquet_bytes_zstd3` (its rate is an extra).
//!   The process's CPU time per record of each export is an extra too: next
//!   to the wall-clock rate, it tells encoding from waiting for the disk.
//!   No in-run baseline, no target: reported.

use std::hint::black_box;
use std::path::PathBuf;

use arrow_arith::aggregate::sum;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, UInt64Type};
use timelog::arrow::ExportOptions;
use timelog::parquet::{Compression, ParquetOptions, ParquetReport};
use timelog::{Snapshot, Timelog};
use timelog_compare::workload::Workload;

use crate::baselines::engine_ingest;
use crate::measure::{process_cpu_ns, settle, timed, trim_heap};
use crate::report::Samples;
use crate::scenarios::Checks;

/// Timed passes of each side of `arrow_export` per repeat.
const PASSES: usize = 5;
/// Rows per batch of the `arrow_export_small` extra.
const SMALL_BATCH: usize = 8_192;
/// Parquet files of `parquet_export`: the span is cut into this many windows.
const PARQUET_WINDOWS: i64 = 10;

/// The engine's full scan: (wrapping sum of the timestamps as `u64`, wrapping
/// sum of the values).
fn engine_sums(snap: &Snapshot<u64>) -> (u64, u64) {
    snap.range(..).fold((0u64, 0u64), |(t, v), (ts, x)| (t.wrapping_add(ts as u64), v.wrapping_add(*x)))
}

/// The same sums from the Arrow export with `opts`, per batch with arrow's
/// `sum` kernel, and the rows exported.
fn arrow_sums(snap: &Snapshot<u64>, opts: &ExportOptions) -> (u64, u64, usize) {
    let (mut t, mut v, mut rows) = (0u64, 0u64, 0usize);
    for b in snap.record_batches(.., opts) {
        let b = b.expect("an Arrow batch of a u64 log");
        let ts = b.column(0).as_primitive_opt::<Int64Type>().expect("ts is Int64");
        let vals = b.column(1).as_primitive_opt::<UInt64Type>().expect("value is UInt64");
        t = t.wrapping_add(sum(ts).unwrap_or(0) as u64);
        v = v.wrapping_add(sum(vals).unwrap_or(0));
        rows += b.num_rows();
    }
    (t, v, rows)
}

/// What `arrow_export` times, in turn: (sample key, sample name, check name).
const SIDES: [(&str, &str, &str); 3] = [
    ("arrow_export", "baseline", "engine scan"),
    ("arrow_export", "engine", "arrow"),
    ("arrow_export_small", "engine", "arrow, small batches"),
];

/// The export options of side `k` of [`SIDES`]: the defaults, or batches of
/// [`SMALL_BATCH`] rows (`None`: the engine's scan).
fn side_options(k: usize) -> Option<ExportOptions> {
    match k {
        0 => None,
        1 => Some(ExportOptions::new()),
        _ => Some(ExportOptions::new().batch_rows(SMALL_BATCH)),
    }
}

/// One pass of side `k` of [`SIDES`]: (ts sum, value sum).
fn side_sums(snap: &Snapshot<u64>, k: usize, n: usize) -> (u64, u64) {
    match side_options(k) {
        None => engine_sums(snap),
        Some(opts) => {
            let (t, v, exported) = arrow_sums(snap, &opts);
            assert_eq!(exported, n, "the Arrow export holds every record");
            (t, v)
        }
    }
}

/// Batches of one export with `opts` (untimed; an extra).
fn arrow_batches(snap: &Snapshot<u64>, opts: &ExportOptions) -> usize {
    snap.record_batches(.., opts).count()
}

/// `arrow_export`, its baseline and the small-batch extra, taking turns.
fn run_arrow_export(snap: &Snapshot<u64>, n: usize, s: &mut Samples, check: &mut Checks) {
    for k in 0..SIDES.len() {
        black_box(side_sums(snap, k, n));
    }
    let mut secs = [0.0; SIDES.len()];
    for pass in 0..PASSES {
        // Each side goes first in turn.
        for j in 0..SIDES.len() {
            let k = (pass + j) % SIDES.len();
            let ((t, v), dt) = timed(|| side_sums(snap, k, n));
            secs[k] += dt;
            check.put("arrow_export ts sum", SIDES[k].2, black_box(t));
            check.put("arrow_export value sum", SIDES[k].2, black_box(v));
        }
    }
    for ((key, imp, _), dt) in SIDES.iter().zip(secs) {
        s.add(key, imp, (n * PASSES) as f64 / dt);
    }
    s.add("arrow_batches", "engine", arrow_batches(snap, &ExportOptions::new()) as f64);
    let small = ExportOptions::new().batch_rows(SMALL_BATCH);
    s.add("arrow_batches_small", "engine", arrow_batches(snap, &small) as f64);
}

/// A fresh directory for one Parquet export (removed if a previous run left it).
fn scratch_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("timelog-compare-parquet-{}-{tag}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("remove a stale Parquet directory");
    }
    dir
}

/// One timed `write_parquet` of the whole log with `compression`, into a fresh
/// directory that is removed after (untimed): (the report, seconds, the
/// process's CPU time in seconds).
fn parquet_once(snap: &Snapshot<u64>, compression: Compression, tag: &str) -> (ParquetReport, f64, f64) {
    let (first, last) = (snap.first_ts().expect("records"), snap.last_ts().expect("records"));
    let span = (last - first).saturating_add(1);
    let window = (span + PARQUET_WINDOWS - 1) / PARQUET_WINDOWS;
    let opts = ParquetOptions::new().window(window.max(1)).origin(first).compression(compression);
    let dir = scratch_dir(tag);
    let cpu0 = process_cpu_ns();
    let (report, secs) = timed(|| snap.write_parquet(.., &dir, &opts));
    let cpu = (process_cpu_ns() - cpu0) / 1e9;
    // Removed before any panic below, so that no run leaves its files behind.
    let removed = std::fs::remove_dir_all(&dir);
    let report = report.unwrap_or_else(|e| panic!("write_parquet into {}: {e}", dir.display()));
    removed.unwrap_or_else(|e| panic!("remove {}: {e}", dir.display()));
    (report, secs, cpu)
}

/// `parquet_export` (Snappy) and the Zstd(3) export.
fn run_parquet_export(snap: &Snapshot<u64>, n: usize, s: &mut Samples) {
    for (compression, tag, key, bytes_key) in [
        (Compression::Snappy, "snappy", "parquet_export", "parquet_bytes"),
        (Compression::Zstd(3), "zstd3", "parquet_export_zstd3", "parquet_bytes_zstd3"),
    ] {
        trim_heap();
        let (report, secs, cpu) = parquet_once(snap, compression, tag);
        assert_eq!(report.rows, n as u64, "the Parquet export holds every record");
        s.add(key, "engine", n as f64 / secs);
        s.add(bytes_key, "engine", report.bytes as f64 / n as f64);
        s.add(&format!("{key}_files"), "engine", report.files.len() as f64);
        s.add(&format!("{key}_cpu"), "engine", cpu * 1e9 / n as f64);
    }
}

/// One repeat of the Arrow figures, on a freshly built and compacted log.
pub fn run_arrow(w: &Workload, s: &mut Samples, check: &mut Checks) {
    let n = w.ts.len();
    let log: Timelog<u64> = crate::baselines::engine_log();
    engine_ingest(&log, w);
    log.flush();
    log.compact_now();
    // No background maintenance competes with the timed figures.
    settle();
    let st = log.stats();
    s.add("arrow_l1_segments", "engine", st.l1_segments as f64);
    s.add("arrow_l0_segments", "engine", st.l0_segments as f64);
    let snap = log.snapshot();
    assert_eq!(snap.len(), n, "every record is visible");
    trim_heap();
    run_arrow_export(&snap, n, s, check);
    run_parquet_export(&snap, n, s);
}
