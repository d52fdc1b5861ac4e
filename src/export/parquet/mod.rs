//! Time-partitioned Parquet files (cargo feature `arrow`): the storage that Spark,
//! Trino, DuckDB, Polars, DataFusion and Ballista read.
//!
//! [`Snapshot::write_parquet`](crate::Snapshot::write_parquet) writes the records of
//! a range as one file per time window, in hive-style directories
//! (`<dir>/window_start=<first timestamp of the window>/part-<lo>_<hi>.parquet`,
//! where `lo..=hi` is the part of the exported range inside that window), or one
//! file `<dir>/part-<lo>_<hi>.parquet` without windows. Each file:
//!
//! - holds its rows sorted by `ts` (equal timestamps in insertion order), says so in
//!   its row groups' `sorting_columns` and in its key-value metadata
//!   (`timelog.sorted_by`, plus `timelog.watermark` and `timelog.range`), and has
//!   page and column-chunk statistics, so readers can skip row groups by time;
//! - is written under a hidden temporary name (`.part-….parquet.tmp`, which
//!   readers skip), synced to disk, then renamed to its final name, and the
//!   directory synced: a crash never leaves a partial file under a final name;
//! - is never overwritten unless [`ParquetOptions::overwrite`] says so, and never
//!   written beside a file of the same directory whose timestamps it overlaps:
//!   such an export refuses before it writes anything.
//!
//! # The archive
//! A range moved out of the log into files of this layout, with nothing lost and
//! nothing written twice, even when it is interrupted.
//!
//! [`Timelog::archive`](crate::Timelog::archive) writes the records of a range that a snapshot holds (the
//! same files, names aside, as [`Snapshot::write_parquet`](crate::Snapshot::write_parquet))
//! and deletes from the log exactly those records
//! ([`Timelog::evict`](crate::Timelog::evict)): a record
//! written into the range after the snapshot stays in the log, and a later
//! archive of the range moves it. The steps, each durable before the next:
//!
//! 1. **Recover** what an interrupted archive into the same directory left (see
//!    below).
//! 2. **Stage**: each file is written under a temporary name, synced, and renamed
//!    to a hidden staging name `.part-<lo>_<hi>-a<run>.parquet.pending`, which
//!    readers skip (engines skip hidden files and files not ending in `.parquet`).
//! 3. **Commit**: a marker `_archive-<run>.commit` listing the files is written
//!    (temporary name, sync, rename, directory sync). From here on the archive
//!    is decided.
//! 4. **Delete** the archived records from the log (in memory: cannot fail).
//! 5. **Publish**: each staged file is renamed to its final name
//!    `part-<lo>_<hi>-a<run>.parquet`, directories synced.
//! 6. **Clean up**: the marker is removed.
//!
//! If the archive stops before step 3 (an error, a panic in the encoder), the
//! log still holds every record and the next archive into the directory removes
//! the staged files: the records are archived once, by it (the same holds for
//! the files if the process was killed).
//! If it stops after step 3, the records are out of the log (or, if the process
//! died, out of a log that is gone), and the next archive into the directory
//! completes steps 5 and 6 from the marker before doing its own work. Either
//! way, the files of the directory and the log together hold every record once.
//!
//! A directory takes one archive at a time (two archives into it at once could
//! discard each other's staged files). Files written by archives may overlap in
//! time (a later archive of the same range holds the late records); an archive
//! still refuses to write beside a file of
//! [`Snapshot::write_parquet`](crate::Snapshot::write_parquet) whose timestamps
//! it overlaps, since those records are still in the log. It never overwrites
//! ([`ParquetOptions::overwrite`] does not apply).
//!
//! # Type mapping
//! The Arrow schema of the export is stored in each file (readers that know Arrow
//! restore it exactly). In Parquet's own types:
//!
//! | Arrow (`ts` / `value`) | Parquet | what readers make of it |
//! |---|---|---|
//! | `Int64` | `INT64` | everywhere a 64-bit integer |
//! | `Timestamp(ms)`, `Timestamp(us)` | `INT64 TIMESTAMP(MILLIS/MICROS)` | a timestamp in Spark, Trino, DuckDB, pandas, polars |
//! | `Timestamp(ns)` | `INT64 TIMESTAMP(NANOS)` | pandas, polars, DuckDB, DataFusion; Spark before 3.2 refuses it, later versions read it only as `long` unless told otherwise: export `Int64` or microseconds for Spark |
//! | `Timestamp(s)` | stored as `TIMESTAMP(MILLIS)` (Parquet has no seconds) | the same instants, in milliseconds |
//! | `Int8`…`Int32`, `Float32/64`, `Boolean`, `Utf8`, `Binary` | the matching physical and logical types | everywhere |
//! | `UInt8`…`UInt32` | `INT32` with an unsigned logical type | Spark reads `UInt32` as `long`; others as unsigned |
//! | `UInt64` | `INT64 (UINT_64)` | Spark reads it as `decimal(20,0)`, Trino and older tools may refuse it; DuckDB, polars, pyarrow, DataFusion read `UInt64` |
//! | nullable values (`Option<T>`) | `OPTIONAL` columns | nulls |
//!
//! A time zone on `ts` is kept in the Arrow schema; in Parquet's own metadata a
//! zoned timestamp is "adjusted to UTC" (`isAdjustedToUTC = true`).

use std::fs::{self, File};
use std::io::BufWriter;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as Codec, ZstdLevel};
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use super::arrow::{ArrowValue, ExportOptions, Native, ValueEncoder, SORTED_BY, SORTED_BY_TS};
use crate::bounds::inclusive;
use crate::error::{Error, Result};
use crate::segment::Window;
use crate::{Snapshot, Value};

mod archive;
pub use archive::{ArchiveFault, ArchiveReport};

/// The compression of Parquet pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Compression {
    /// No compression.
    None,
    /// Snappy: fast, read by every engine (the default).
    #[default]
    Snappy,
    /// Zstandard at a level from 1 (fast) to 22 (small).
    Zstd(i32),
}

/// How [`Snapshot::write_parquet`](crate::Snapshot::write_parquet) lays out its files.
///
/// ```
/// use timelog::parquet::{Compression, ParquetOptions};
/// let opts = ParquetOptions::new().window(3_600_000).compression(Compression::Zstd(3));
/// assert_eq!(opts.window_size(), Some(3_600_000));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ParquetOptions {
    window: Option<i64>,
    origin: i64,
    partition: String,
    overwrite: bool,
    compression: Compression,
    row_group_rows: usize,
    export: ExportOptions,
    fault: Option<ArchiveFault>,
}

impl Default for ParquetOptions {
    fn default() -> Self {
        ParquetOptions {
            window: None,
            origin: 0,
            partition: "window_start".to_string(),
            overwrite: false,
            compression: Compression::Snappy,
            row_group_rows: 1 << 20,
            export: ExportOptions::new(),
            fault: None,
        }
    }
}

impl ParquetOptions {
    /// One file for the whole range, Snappy, row groups of 2^20 rows, `ts` as
    /// `Int64`, refusing to overwrite.
    pub fn new() -> Self {
        ParquetOptions::default()
    }

    /// One directory per time window of `size` timestamps (in the log's unit),
    /// windows aligned to the origin (0 unless [`origin`](ParquetOptions::origin)).
    ///
    /// # Panics
    /// If `size` is not positive.
    pub fn window(mut self, size: i64) -> Self {
        assert!(size > 0, "a partition window must be positive, got {size}");
        self.window = Some(size);
        self
    }

    /// Where windows are aligned: window `k` starts at `origin + k * size`.
    pub fn origin(mut self, origin: i64) -> Self {
        self.origin = origin;
        self
    }

    /// The name of the partition directories' key (`window_start` by default):
    /// directories are `<name>=<first timestamp of the window>`.
    pub fn partition_column(mut self, name: &str) -> Self {
        self.partition = name.to_string();
        self
    }

    /// Whether existing files may be replaced (off by default: the export refuses).
    pub fn overwrite(mut self, on: bool) -> Self {
        self.overwrite = on;
        self
    }

    /// The compression of the pages.
    pub fn compression(mut self, c: Compression) -> Self {
        self.compression = c;
        self
    }

    /// Most rows per row group (at least 1).
    pub fn row_group_rows(mut self, rows: usize) -> Self {
        self.row_group_rows = rows.max(1);
        self
    }

    /// The Arrow layout of the rows (the type of `ts`, batch sizes).
    pub fn export(mut self, export: ExportOptions) -> Self {
        self.export = export;
        self
    }

    /// Makes [`Timelog::archive`](crate::Timelog::archive) fail at `fault` (for
    /// the tests of its recovery).
    #[doc(hidden)]
    pub fn inject_archive_fault(mut self, fault: ArchiveFault) -> Self {
        self.fault = Some(fault);
        self
    }

    /// The window size, if files are partitioned by time.
    pub fn window_size(&self) -> Option<i64> {
        self.window
    }
}

/// One file written by an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParquetFile {
    /// Its final path.
    pub path: PathBuf,
    /// The timestamps `lo..=hi` it covers: the exported range inside its window.
    pub covers: (i64, i64),
    /// Rows in it.
    pub rows: u64,
    /// Its size on disk.
    pub bytes: u64,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParquetReport {
    /// The files, in timestamp order.
    pub files: Vec<ParquetFile>,
    /// Rows written, in all files.
    pub rows: u64,
    /// Bytes written, in all files.
    pub bytes: u64,
    /// The watermark of the snapshot the rows came from.
    pub watermark: u64,
}

pub(super) fn io_err(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Io(format!("{what} {}: {e}", path.display()))
}

fn pq_err(path: &Path, e: parquet::errors::ParquetError) -> Error {
    Error::Arrow(format!("writing {}: {e}", path.display()))
}

/// A file to write: where, and which timestamps.
pub(super) struct Planned {
    pub(super) dir: PathBuf,
    pub(super) name: String,
    pub(super) covers: (i64, i64),
}

impl Planned {
    pub(super) fn path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    fn tmp(&self) -> PathBuf {
        self.dir.join(format!(".{}.tmp", self.name))
    }

    /// Refuses a file that exists (unless `overwrite`) and any other file of the
    /// directory whose timestamps overlap this one's: the dataset would hold those
    /// rows twice. With `archived_may_overlap`, files an archive wrote may overlap
    /// (an archive deleted their rows from the log, so a later archive of the same
    /// timestamps holds other rows).
    pub(super) fn check_existing(&self, overwrite: bool, archived_may_overlap: bool) -> Result<()> {
        let Ok(entries) = fs::read_dir(&self.dir) else { return Ok(()) };
        for e in entries {
            let e = e.map_err(|e| io_err("listing", &self.dir, e))?;
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some((a, b, archived)) = parse_name(name) else { continue };
            if name == self.name {
                if !overwrite {
                    return Err(Error::Io(format!(
                        "{} exists: the export would overwrite it (set ParquetOptions::overwrite to allow)",
                        self.path().display()
                    )));
                }
            } else if a <= self.covers.1 && self.covers.0 <= b && !(archived && archived_may_overlap) {
                return Err(Error::Io(format!(
                    "{} holds timestamps [{a}, {b}], which overlap the export's [{}, {}] in that directory: \
                     the rows would be there twice",
                    self.dir.join(name).display(),
                    self.covers.0,
                    self.covers.1
                )));
            }
        }
        Ok(())
    }
}

/// The timestamps `[a, b]` of a file named `part-<a>_<b>.parquet`, or
/// `part-<a>_<b>-a<run>.parquet` (written by an archive: then `true`).
pub(super) fn parse_name(name: &str) -> Option<(i64, i64, bool)> {
    let core = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    let (core, archived) = match core.rfind("-a") {
        Some(i) if core[i + 2..].bytes().all(|c| c.is_ascii_digit()) && i + 2 < core.len() => {
            (&core[..i], true)
        }
        _ => (core, false),
    };
    // `a` may be negative (`part--5_3`), and so may `b` (`part--9_-2`).
    let cut = core.get(1..)?.find('_')? + 1;
    Some((core[..cut].parse().ok()?, core[cut + 1..].parse().ok()?, archived))
}

/// Syncs a directory, so that a rename in it is durable.
pub(super) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io_err("syncing directory", dir, e))
}

impl<V: ArrowValue> Snapshot<V> {
    /// Writes the records of `r` as Parquet files under `dir` (created if missing),
    /// one per time window with rows when [`ParquetOptions::window`] is set, else
    /// one; see the [module documentation](crate::parquet) for the layout, the
    /// atomic writes and the type mapping. An empty range writes nothing. Refuses,
    /// before writing anything, if a file it would write exists (unless
    /// [`ParquetOptions::overwrite`]). Cargo feature `arrow`.
    ///
    /// ```
    /// use timelog::parquet::ParquetOptions;
    /// use timelog::Timelog;
    /// let dir = std::env::temp_dir().join(format!("timelog-doc-{}", std::process::id()));
    /// let log: Timelog<u64> = Timelog::new();
    /// let _ = log.append_batch((0..10_000).map(|t| (t, t as u64)));
    /// let report = log.snapshot().write_parquet(..5_000, &dir, &ParquetOptions::new().window(1_000)).unwrap();
    /// assert_eq!(report.rows, 5_000);
    /// assert_eq!(report.files.len(), 5);
    /// assert!(report.files[1].path.ends_with("window_start=1000/part-1000_1999.parquet"));
    /// // The same export again would overwrite: refused.
    /// assert!(log.snapshot().write_parquet(..5_000, &dir, &ParquetOptions::new().window(1_000)).is_err());
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn write_parquet(
        &self,
        r: impl RangeBounds<i64>,
        dir: impl AsRef<Path>,
        opts: &ParquetOptions,
    ) -> Result<ParquetReport> {
        self.write_parquet_with(r, dir, opts, Native::default())
    }
}

impl<V: Value> Snapshot<V> {
    /// [`write_parquet`](Snapshot::write_parquet) with the `value` column made by
    /// `encoder` (any value type; see
    /// [`record_batches_with`](Snapshot::record_batches_with)).
    ///
    /// ```
    /// use timelog::arrow::ValueEncoder;
    /// use timelog::parquet::ParquetOptions;
    /// use timelog::Timelog;
    ///
    /// /// Values as their length, in a UInt64 column.
    /// struct Len;
    /// impl ValueEncoder<Vec<char>> for Len {
    ///     fn field(&self) -> Option<arrow_schema::Field> {
    ///         Some(arrow_schema::Field::new("value", arrow_schema::DataType::UInt64, false))
    ///     }
    ///     fn encode(&mut self, values: &[&Vec<char>]) -> timelog::Result<arrow_array::ArrayRef> {
    ///         let lens: arrow_array::UInt64Array = values.iter().map(|v| v.len() as u64).collect();
    ///         Ok(std::sync::Arc::new(lens))
    ///     }
    /// }
    ///
    /// let dir = std::env::temp_dir().join(format!("timelog-doc-with-{}", std::process::id()));
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, vec!['a', 'b']), (2, vec![])]);
    /// let report = log.snapshot().write_parquet_with(.., &dir, &ParquetOptions::new(), Len).unwrap();
    /// assert_eq!((report.rows, report.files.len()), (2, 1));
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn write_parquet_with<E: ValueEncoder<V>>(
        &self,
        r: impl RangeBounds<i64>,
        dir: impl AsRef<Path>,
        opts: &ParquetOptions,
        encoder: E,
    ) -> Result<ParquetReport> {
        let dir = dir.as_ref();
        let Some((lo, hi)) = inclusive(&r) else {
            return Ok(ParquetReport { watermark: self.watermark(), ..ParquetReport::default() });
        };
        let plan = self.plan_files(lo, hi, dir, opts, "");
        for f in &plan {
            f.check_existing(opts.overwrite, false)?;
        }
        self.write_planned(lo, hi, &plan, opts, encoder, |f, tmp| {
            let path = f.path();
            fs::rename(tmp, &path).map_err(|e| io_err("renaming into place", &path, e))?;
            sync_dir(&f.dir)?;
            Ok(path)
        })
    }

    /// Writes the files of `plan` (rows of `[lo, hi]`, in order), each to its
    /// temporary name, synced, then handed to `place`, which moves it where it
    /// goes and returns that path.
    pub(super) fn write_planned<E: ValueEncoder<V>>(
        &self,
        lo: i64,
        hi: i64,
        plan: &[Planned],
        opts: &ParquetOptions,
        encoder: E,
        mut place: impl FnMut(&Planned, &Path) -> Result<PathBuf>,
    ) -> Result<ParquetReport> {
        let mut report = ParquetReport { watermark: self.watermark(), ..ParquetReport::default() };
        let props = self.writer_properties(opts, lo, hi);
        let mut batches = self.record_batches_with(lo..=hi, &opts.export, encoder);
        let schema = batches.schema_ref().clone();
        let mut carry: Option<RecordBatch> = None;
        for f in plan {
            fs::create_dir_all(&f.dir).map_err(|e| io_err("creating", &f.dir, e))?;
            let tmp = f.tmp();
            let file = File::create(&tmp).map_err(|e| io_err("creating", &tmp, e))?;
            let mut w = ArrowWriter::try_new(BufWriter::new(file), schema.clone(), Some(props.clone()))
                .map_err(|e| pq_err(&tmp, e))?;
            let mut rows = 0u64;
            // Batches are in timestamp order: take rows until one lies past this file.
            loop {
                let b = match carry.take() {
                    Some(b) => b,
                    None => match batches.next() {
                        Some(b) => b.map_err(|e| Error::Arrow(e.to_string()))?,
                        None => break,
                    },
                };
                let ts = super::arrow::timestamps_raw(&b);
                let inside = ts.partition_point(|&t| t <= f.covers.1);
                if inside > 0 {
                    w.write(&b.slice(0, inside)).map_err(|e| pq_err(&tmp, e))?;
                    rows += inside as u64;
                }
                if inside < b.num_rows() {
                    carry = Some(b.slice(inside, b.num_rows() - inside));
                    break;
                }
            }
            let buf = w.into_inner().map_err(|e| pq_err(&tmp, e))?;
            let file = buf.into_inner().map_err(|e| io_err("writing", &tmp, e.into_error()))?;
            file.sync_all().map_err(|e| io_err("syncing", &tmp, e))?;
            let bytes = file.metadata().map_err(|e| io_err("reading size of", &tmp, e))?.len();
            drop(file);
            let path = place(f, &tmp)?;
            report.rows += rows;
            report.bytes += bytes;
            report.files.push(ParquetFile { path, covers: f.covers, rows, bytes });
        }
        debug_assert!(carry.is_none() && batches.next().is_none(), "rows past the planned files");
        Ok(report)
    }

    /// The files of an export of `[lo, hi]`: one per window holding a visible
    /// record (found by jumping from record to record window by window, so the
    /// cost follows the windows with data, not the span), or one.
    /// Names are `part-<lo>_<hi><suffix>.parquet`.
    pub(super) fn plan_files(
        &self,
        lo: i64,
        hi: i64,
        dir: &Path,
        opts: &ParquetOptions,
        suffix: &str,
    ) -> Vec<Planned> {
        let mut out = Vec::new();
        let name = |a: i64, b: i64| format!("part-{a}_{b}{suffix}.parquet");
        let Some(size) = opts.window else {
            if self.count(lo..=hi) > 0 {
                out.push(Planned { dir: dir.to_path_buf(), name: name(lo, hi), covers: (lo, hi) });
            }
            return out;
        };
        let mut next = self.edge_in(lo, hi);
        while let Some(t) = next {
            let w = Window::of(t, size, opts.origin);
            let (wlo, whi) = (w.lo, w.hi);
            let covers = (wlo.max(lo), whi.min(hi));
            let sub = dir.join(format!("{}={wlo}", opts.partition));
            out.push(Planned { dir: sub, name: name(covers.0, covers.1), covers });
            next = if covers.1 >= hi { None } else { self.edge_in(covers.1 + 1, hi) };
        }
        out
    }

    /// The first visible timestamp in `[lo, hi]`.
    fn edge_in(&self, lo: i64, hi: i64) -> Option<i64> {
        let t = match lo.checked_sub(1) {
            Some(before) => self.next_ts(before),
            None => self.first_ts(),
        }?;
        (t <= hi).then_some(t)
    }

    fn writer_properties(&self, opts: &ParquetOptions, lo: i64, hi: i64) -> WriterProperties {
        let codec = match opts.compression {
            Compression::None => Codec::UNCOMPRESSED,
            Compression::Snappy => Codec::SNAPPY,
            Compression::Zstd(level) => {
                Codec::ZSTD(ZstdLevel::try_new(level.clamp(1, 22)).unwrap_or_default())
            }
        };
        let kv = vec![
            KeyValue::new(SORTED_BY.to_string(), SORTED_BY_TS.to_string()),
            KeyValue::new("timelog.watermark".to_string(), self.watermark().to_string()),
            KeyValue::new("timelog.range".to_string(), format!("[{lo}, {hi}]")),
        ];
        WriterProperties::builder()
            .set_compression(codec)
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_max_row_group_row_count(Some(opts.row_group_rows))
            .set_sorting_columns(Some(vec![SortingColumn {
                column_idx: 0,
                descending: false,
                nulls_first: false,
            }]))
            .set_key_value_metadata(Some(kv))
            .set_created_by(format!("timelog-engine {}", env!("CARGO_PKG_VERSION")))
            .build()
    }
}
