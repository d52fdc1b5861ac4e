//! [`Timelog::archive`]: the steps, the commit marker and the recovery (the
//! protocol is described in the [module documentation](crate::parquet#the-archive)).

use std::fs::{self, File};
use std::io::Write;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{io_err, sync_dir, ParquetFile, ParquetOptions};
use crate::bounds::delete_bounds;
use crate::error::{Error, Result};
use crate::export::arrow::{ArrowValue, Native, ValueEncoder};
use crate::{Snapshot, Timelog, Value};

/// Where [`Timelog::archive`] stops on purpose (set with the hidden
/// `ParquetOptions::inject_archive_fault`, for the tests of its recovery).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArchiveFault {
    /// After the first file is staged.
    AfterFirstFile,
    /// After every file is staged, before the commit marker.
    BeforeCommit,
    /// After the delete, before any file is published.
    AfterDelete,
    /// After the first file is published.
    AfterFirstPublish,
    /// After every file is published, before the marker is removed.
    BeforeCleanup,
}

fn fault(opts: &ParquetOptions, at: ArchiveFault) -> Result<()> {
    match opts.fault {
        Some(f) if f == at => Err(Error::Io(format!("injected archive fault {at:?}"))),
        _ => Ok(()),
    }
}

/// What [`Timelog::archive`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ArchiveReport {
    /// The files written, in timestamp order, at their final paths.
    pub files: Vec<ParquetFile>,
    /// Rows archived (written to the files and deleted from the log).
    pub rows: u64,
    /// Bytes written, in all files.
    pub bytes: u64,
    /// The watermark of the archive's snapshot: the records of the range
    /// numbered below it were archived; records written later stay in the log.
    pub watermark: u64,
    /// Files of an interrupted earlier archive into this directory, completed
    /// first (their records had already left the log).
    pub recovered: Vec<PathBuf>,
    /// Staged or partial files of an interrupted earlier archive that never
    /// committed, removed (their records were still in the log).
    pub discarded: Vec<PathBuf>,
}

const MARKER_PREFIX: &str = "_archive-";
const MARKER_SUFFIX: &str = ".commit";
const MARKER_HEADER: &str = "timelog-archive 1";

/// The hidden staging name of a planned file.
fn staged(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.pending"))
}

/// A name no earlier archive used: the time in nanoseconds (a directory takes
/// one archive at a time, and a name that exists is refused anyway).
fn run_id() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{nanos}")
}

/// Writes `text` to `path` atomically and durably.
fn write_durably(dir: &Path, name: &str, text: &str) -> Result<()> {
    let (tmp, path) = (dir.join(format!(".{name}.tmp")), dir.join(name));
    let mut f = File::create(&tmp).map_err(|e| io_err("creating", &tmp, e))?;
    f.write_all(text.as_bytes()).map_err(|e| io_err("writing", &tmp, e))?;
    f.sync_all().map_err(|e| io_err("syncing", &tmp, e))?;
    drop(f);
    fs::rename(&tmp, &path).map_err(|e| io_err("renaming into place", &path, e))?;
    sync_dir(dir)
}

/// The final paths (relative to the archive's directory) a marker lists.
fn parse_marker(text: &str) -> Option<Vec<PathBuf>> {
    let mut lines = text.lines();
    if lines.next()? != MARKER_HEADER {
        return None;
    }
    lines.filter_map(|l| l.strip_prefix("file ")).map(|p| Some(PathBuf::from(p))).collect()
}

/// Completes the committed archives a marker in `root` records, then removes
/// every staged or temporary file no marker claims.
fn recover(root: &Path, report: &mut ArchiveReport) -> Result<()> {
    let Ok(entries) = fs::read_dir(root) else { return Ok(()) };
    let mut markers = Vec::new();
    for e in entries {
        let e = e.map_err(|e| io_err("listing", root, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(MARKER_PREFIX) && name.ends_with(MARKER_SUFFIX) {
            markers.push(e.path());
        }
    }
    markers.sort();
    for marker in markers {
        let text = fs::read_to_string(&marker).map_err(|e| io_err("reading", &marker, e))?;
        let files = parse_marker(&text)
            .ok_or_else(|| Error::Corrupt(format!("{} is not an archive commit marker", marker.display())))?;
        for rel in files {
            let path = root.join(&rel);
            let (dir, name) = match (path.parent(), path.file_name()) {
                (Some(d), Some(n)) => (d.to_path_buf(), n.to_string_lossy().into_owned()),
                _ => return Err(Error::Corrupt(format!("{}: bad path {}", marker.display(), rel.display()))),
            };
            let pending = staged(&dir, &name);
            if pending.exists() {
                fs::rename(&pending, &path).map_err(|e| io_err("renaming into place", &path, e))?;
                sync_dir(&dir)?;
                report.recovered.push(path);
            } else if !path.exists() {
                return Err(Error::Corrupt(format!(
                    "{} lists {}, but neither it nor its staged copy exists",
                    marker.display(),
                    path.display()
                )));
            }
        }
        fs::remove_file(&marker).map_err(|e| io_err("removing", &marker, e))?;
        sync_dir(root)?;
    }
    discard_leftovers(root, report, 0)
}

/// Removes staged (`.part-….parquet.pending`) and temporary (`.part-….tmp`,
/// `._archive-….tmp`) files under `dir` (and its partition directories).
fn discard_leftovers(dir: &Path, report: &mut ArchiveReport, depth: usize) -> Result<()> {
    let Ok(entries) = fs::read_dir(dir) else { return Ok(()) };
    let mut removed = false;
    for e in entries {
        let e = e.map_err(|e| io_err("listing", dir, e))?;
        let kind = e.file_type().map_err(|err| io_err("reading the type of", &e.path(), err))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if kind.is_dir() && depth < 2 {
            discard_leftovers(&e.path(), report, depth + 1)?;
        } else if kind.is_file()
            && ((name.starts_with(".part-")
                && (name.ends_with(".parquet.pending") || name.ends_with(".tmp")))
                || (name.starts_with("._archive-") && name.ends_with(".tmp")))
        {
            fs::remove_file(e.path()).map_err(|err| io_err("removing", &e.path(), err))?;
            report.discarded.push(e.path());
            removed = true;
        }
    }
    if removed {
        sync_dir(dir)?;
    }
    Ok(())
}

impl<V: ArrowValue> Timelog<V> {
    /// Moves the records of `range` out of the log into Parquet files under `dir`:
    /// writes the records a snapshot holds in the range, laid out as
    /// [`Snapshot::write_parquet`](crate::Snapshot::write_parquet) lays them out
    /// (file names carry the archive's run: `part-<lo>_<hi>-a<run>.parquet`), then
    /// deletes exactly those records from the log ([`Timelog::evict`]). Records
    /// written into the range meanwhile stay in the log for a later archive. An
    /// interrupted archive (an error, a crash) is completed or undone by the next
    /// archive into the same directory, so that files and log hold every record
    /// once; see the [module documentation](crate::parquet#the-archive) for the
    /// steps. An empty range archives nothing (after the recovery); an inverted
    /// one is [`Error::InvalidRange`]. Cargo feature `arrow`.
    ///
    /// ```
    /// use timelog::parquet::ParquetOptions;
    /// use timelog::Timelog;
    /// let dir = std::env::temp_dir().join(format!("timelog-doc-archive-{}", std::process::id()));
    /// let log: Timelog<u64> = Timelog::new();
    /// let _ = log.append_batch((0..10_000).map(|t| (t, t as u64)));
    /// let opts = ParquetOptions::new().window(1_000);
    /// let report = log.archive(..4_000, &dir, &opts).unwrap();
    /// assert_eq!((report.rows, report.files.len()), (4_000, 4));
    /// assert_eq!(log.snapshot().count(..), 6_000);
    /// // A late record for an archived window: it stays in the log ...
    /// let _ = log.append(10, 99);
    /// assert_eq!(log.range_vec(..4_000), vec![(10, 99)]);
    /// // ... and the next archive of the range moves it, into a file of its own.
    /// assert_eq!(log.archive(..4_000, &dir, &opts).unwrap().rows, 1);
    /// assert_eq!(log.snapshot().count(..4_000), 0);
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn archive(
        &self,
        range: impl RangeBounds<i64>,
        dir: impl AsRef<Path>,
        opts: &ParquetOptions,
    ) -> Result<ArchiveReport> {
        self.archive_with(range, dir, opts, Native::default())
    }
}

impl<V: Value> Timelog<V> {
    /// [`archive`](Timelog::archive) with the `value` column made by `encoder`
    /// (any value type; see
    /// [`record_batches_with`](crate::Snapshot::record_batches_with)).
    pub fn archive_with<E: ValueEncoder<V>>(
        &self,
        range: impl RangeBounds<i64>,
        dir: impl AsRef<Path>,
        opts: &ParquetOptions,
        encoder: E,
    ) -> Result<ArchiveReport> {
        self.archive_using(range, dir, opts, move |_| Ok(encoder))
    }

    /// [`archive_with`](Timelog::archive_with) with the encoder made by `make`
    /// from the very snapshot the archive writes, for encoders that choose the
    /// column from the data (as the Python package's `payload="auto"` does). An
    /// error from `make` stops the archive before anything is written or deleted.
    pub fn archive_using<E: ValueEncoder<V>>(
        &self,
        range: impl RangeBounds<i64>,
        dir: impl AsRef<Path>,
        opts: &ParquetOptions,
        make: impl FnOnce(&Snapshot<V>) -> Result<E>,
    ) -> Result<ArchiveReport> {
        let root = dir.as_ref();
        if opts.partition.contains(['/', '\\', '\n']) || opts.partition.is_empty() {
            return Err(Error::Io(format!(
                "partition column name {:?} cannot name a directory level",
                opts.partition
            )));
        }
        let bounds = delete_bounds(&range)?;
        let mut report = ArchiveReport::default();
        recover(root, &mut report)?;
        let Some((lo, hi)) = bounds else {
            report.watermark = self.snapshot().watermark();
            return Ok(report);
        };
        let suffix = format!("-a{}", run_id());
        let marker = format!("{MARKER_PREFIX}{}{MARKER_SUFFIX}", &suffix[2..]);
        // Steps 2 to 4: staged and committed inside `evict`, which deletes only
        // if this returns `Ok`.
        let (plan, written) = self.evict(lo..=hi, |snap| {
            let encoder = make(snap)?;
            let plan = snap.plan_files(lo, hi, root, opts, &suffix);
            for f in &plan {
                f.check_existing(false, true)?;
            }
            let mut staged_paths: Vec<PathBuf> = Vec::new();
            let stage = || -> Result<_> {
                let written = snap.write_planned(lo, hi, &plan, opts, encoder, |f, tmp| {
                    let to = staged(&f.dir, &f.name);
                    fs::rename(tmp, &to).map_err(|e| io_err("staging", &to, e))?;
                    sync_dir(&f.dir)?;
                    staged_paths.push(to);
                    fault(opts, ArchiveFault::AfterFirstFile)?;
                    Ok(f.path())
                })?;
                fault(opts, ArchiveFault::BeforeCommit)?;
                if plan.is_empty() {
                    return Ok(written); // nothing visible in the range: nothing to commit
                }
                fs::create_dir_all(root).map_err(|e| io_err("creating", root, e))?;
                let mut text = format!("{MARKER_HEADER}\nwatermark {}\nrange {lo} {hi}\n", snap.watermark());
                for f in &plan {
                    let rel = f.path().strip_prefix(root).map(Path::to_path_buf).unwrap_or_else(|_| f.path());
                    text.push_str(&format!("file {}\n", rel.display()));
                }
                write_durably(root, &marker, &text)?;
                Ok(written)
            };
            match stage() {
                Ok(written) => Ok((plan, written)),
                Err(e) => {
                    // Not committed: the records stay in the log; take the staged
                    // files back (what cannot be removed, the next archive will).
                    for p in &staged_paths {
                        let _ = fs::remove_file(p);
                    }
                    Err(e)
                }
            }
        })?;
        // Committed and deleted: steps 5 and 6 (a failure here is completed by the
        // next archive into this directory).
        report.watermark = written.watermark;
        report.rows = written.rows;
        report.bytes = written.bytes;
        fault(opts, ArchiveFault::AfterDelete)?;
        for (i, f) in plan.iter().enumerate() {
            let path = f.path();
            fs::rename(staged(&f.dir, &f.name), &path)
                .map_err(|e| io_err("renaming into place", &path, e))?;
            sync_dir(&f.dir)?;
            if i == 0 {
                fault(opts, ArchiveFault::AfterFirstPublish)?;
            }
        }
        fault(opts, ArchiveFault::BeforeCleanup)?;
        let marker = root.join(&marker);
        if plan.is_empty() {
            return Ok(report);
        }
        fs::remove_file(&marker).map_err(|e| io_err("removing", &marker, e))?;
        sync_dir(root)?;
        report.files = written.files;
        Ok(report)
    }
}
