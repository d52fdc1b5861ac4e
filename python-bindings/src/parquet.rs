//! `Timelog.to_parquet` and `Timelog.archive`: the engine's time-partitioned
//! Parquet export and its lossless archive, with the payload rules of
//! `to_arrow` applied one batch at a time.
//!
//! The write runs with the GIL released; the value encoder takes it for each
//! batch it converts (payloads are Python objects). With `payload="auto"` the
//! column's type is inferred over the very snapshot that is written (for an
//! archive, the one it takes at its seal point), so every row fits it.

use std::ops::Bound as RBound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_schema::Field;
use parking_lot::Mutex;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use timelog::arrow::ValueEncoder;
use timelog::parquet::{ArchiveReport, Compression, ParquetFile, ParquetOptions, ParquetReport};

use crate::arrow_ts::{options, parse_ts, TsOnly};
use crate::arrow_values::{infer, parse_payload, Kind, Payload};
use crate::coerce::{self, engine_err, Arg};
use crate::pin::Pin;
use crate::slab::{self, PyVal};
use crate::state::{Open, PyTimelog};

/// The file layout asked for.
struct Layout {
    window: Option<i64>,
    origin: i64,
    compression: String,
    overwrite: bool,
    row_group_rows: Option<usize>,
}

fn compression(op: &str, s: &str) -> PyResult<Compression> {
    let level = |l: &str| -> PyResult<i32> {
        l.parse::<i32>()
            .ok()
            .filter(|l| (1..=22).contains(l))
            .ok_or_else(|| PyValueError::new_err(format!("{op}(): zstd level must be 1 to 22, not {l:?}")))
    };
    Ok(match s {
        "snappy" => Compression::Snappy,
        "zstd" => Compression::Zstd(3),
        "none" | "uncompressed" => Compression::None,
        other => match other.strip_prefix("zstd:") {
            Some(l) => Compression::Zstd(level(l)?),
            None => {
                return Err(PyValueError::new_err(format!(
                    "{op}(): compression must be 'snappy', 'zstd', 'zstd:<level>' or 'none', not {other:?}"
                )))
            }
        },
    })
}

/// Converts each batch's payloads under the GIL; a conversion error is kept for
/// the caller to raise as it is.
struct Encoder {
    op: &'static str,
    payload: Payload,
    kind: Kind,
    rows: usize,
    err: Arc<Mutex<Option<PyErr>>>,
}

impl ValueEncoder<PyVal> for Encoder {
    fn field(&self) -> Option<Field> {
        Some(Field::new("value", self.kind.data_type(), true))
    }

    fn encode(&mut self, values: &[&PyVal]) -> timelog::Result<ArrayRef> {
        Python::attach(|py| {
            // SAFETY: `Py_None` is a static object.
            let none = unsafe { ffi::Py_None() };
            let ps: Vec<*mut ffi::PyObject> = values
                .iter()
                .map(|v| {
                    let p = slab::raw(v);
                    if p.is_null() {
                        none
                    } else {
                        p
                    }
                })
                .collect();
            let col = crate::arrow_col::column(py, self.op, (self.payload, self.kind), self.rows, &ps);
            self.rows += values.len();
            col.map_err(|e| {
                let msg = e.to_string();
                *self.err.lock() = Some(e);
                timelog::Error::Arrow(msg)
            })
        })
    }
}

/// The error to raise for `e`: the kept conversion error, an `OSError` for the
/// file system, or the engine's mapping.
fn raise(e: timelog::Error, kept: &Mutex<Option<PyErr>>) -> PyErr {
    if let Some(pe) = kept.lock().take() {
        return pe;
    }
    match e {
        timelog::Error::Io(m) => PyOSError::new_err(m),
        timelog::Error::Arrow(m) => PyValueError::new_err(format!("arrow: {m}")),
        other => engine_err(other),
    }
}

fn file_dict<'py>(py: Python<'py>, f: &ParquetFile) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("path", f.path.to_string_lossy())?;
    d.set_item("ts_min", f.covers.0)?;
    d.set_item("ts_max", f.covers.1)?;
    d.set_item("rows", f.rows)?;
    d.set_item("bytes", f.bytes)?;
    Ok(d)
}

fn paths<'py>(py: Python<'py>, ps: &[PathBuf]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, ps.iter().map(|p| p.to_string_lossy().into_owned()))
}

enum Report {
    Export(ParquetReport),
    Archive(ArchiveReport),
}

impl Report {
    fn into_dict(self, py: Python<'_>) -> PyResult<Py<PyDict>> {
        let d = PyDict::new(py);
        let (files, rows, bytes, watermark) = match &self {
            Report::Export(r) => (&r.files, r.rows, r.bytes, r.watermark),
            Report::Archive(r) => (&r.files, r.rows, r.bytes, r.watermark),
        };
        d.set_item("rows", rows)?;
        d.set_item("bytes", bytes)?;
        d.set_item("watermark", watermark)?;
        let list = PyList::empty(py);
        for f in files {
            list.append(file_dict(py, f)?)?;
        }
        d.set_item("files", list)?;
        if let Report::Archive(r) = &self {
            d.set_item("recovered", paths(py, &r.recovered)?)?;
            d.set_item("discarded", paths(py, &r.discarded)?)?;
        }
        Ok(d.unbind())
    }
}

/// `to_parquet` (`archive = false`) or `archive` of `range` into `path` (the
/// caller holds the log open and pinned, with the GIL).
#[allow(clippy::too_many_arguments)] // (the Python call's arguments)
fn write(
    py: Python<'_>,
    open: &Open,
    range: (RBound<i64>, RBound<i64>),
    path: &Path,
    layout: &Layout,
    payload: &Arg<'_>,
    ts: &Arg<'_>,
    archive: bool,
) -> PyResult<Py<PyDict>> {
    let op = if archive { "archive" } else { "to_parquet" };
    let payload = parse_payload(payload)?;
    let ts = parse_ts(ts)?;
    let mut opts = ParquetOptions::new()
        .origin(layout.origin)
        .compression(compression(op, &layout.compression)?)
        .overwrite(layout.overwrite)
        .export(options(ts, open.unit));
    if let Some(w) = layout.window {
        if w <= 0 {
            return Err(PyValueError::new_err(format!("{op}(): window must be positive, not {w}")));
        }
        opts = opts.window(w);
    }
    if let Some(r) = layout.row_group_rows {
        if r == 0 {
            return Err(PyValueError::new_err(format!("{op}(): row_group_rows must be positive")));
        }
        opts = opts.row_group_rows(r);
    }
    let kept = Arc::new(Mutex::new(None));
    let log = &open.log;
    // The column's kind, chosen over the very snapshot that is written (`auto`
    // infers it, under the GIL).
    let encoder_for = |snap: &timelog::Snapshot<PyVal>| -> timelog::Result<Encoder> {
        let kind = match payload {
            Payload::Auto => Python::attach(|py| infer(py, op, snap, range)).map_err(|e| {
                let msg = e.to_string();
                *kept.lock() = Some(e);
                timelog::Error::Arrow(msg)
            })?,
            Payload::Fixed(k) => k,
            Payload::Pickle | Payload::TsOnly => Kind::Binary,
        };
        Ok(Encoder { op, payload, kind, rows: 0, err: kept.clone() })
    };
    let result = py.detach(|| match (payload, archive) {
        (Payload::TsOnly, false) => {
            log.snapshot().write_parquet_with(range, path, &opts, TsOnly).map(Report::Export)
        }
        (Payload::TsOnly, true) => log.archive_with(range, path, &opts, TsOnly).map(Report::Archive),
        (_, false) => {
            let snap = log.snapshot();
            let encoder = encoder_for(&snap)?;
            snap.write_parquet_with(range, path, &opts, encoder).map(Report::Export)
        }
        (_, true) => log.archive_using(range, path, &opts, encoder_for).map(Report::Archive),
    });
    result.map_err(|e| raise(e, &kept))?.into_dict(py)
}

/// `to_parquet` (`archive = false`) or `archive` of `[t1, t2)`, with the log held
/// open and pinned.
fn write_open(
    log: &PyTimelog,
    py: Python<'_>,
    path: &Path,
    (t1, t2): (Option<&Bound<'_, PyAny>>, Option<&Bound<'_, PyAny>>),
    layout: &Layout,
    (payload, ts): (&Arg<'_>, &Arg<'_>),
    archive: bool,
) -> PyResult<Py<PyDict>> {
    let g = log.open()?;
    let range = coerce::read_range(t1, t2)?;
    let _pin = Pin::new(&log.pins);
    write(py, &g, range, path, layout, payload, ts, archive)
}

#[pymethods]
impl PyTimelog {
    /// Writes the records of `[t1, t2)` as Parquet under the directory `path`: one
    /// file, or with `window` one file per time window (in the log's unit) under
    /// hive-style `window_start=<first timestamp>/` directories; each file sorted by
    /// `ts`, with statistics, written to a temporary name, synced and renamed.
    /// Refuses (OSError) to overwrite a file, or to write beside one whose
    /// timestamps overlap, unless `overwrite`. `payload` and `ts` as in
    /// `to_arrow`. Returns a report dict (`rows`, `bytes`, `watermark`, `files`).
    #[pyo3(
        signature = (path, t1 = None, t2 = None, *, window = None, origin = 0, compression = "snappy".to_string(),
                     overwrite = false, row_group_rows = None, payload = Arg::Missing, ts = Arg::Missing),
        text_signature = "(self, path, t1=None, t2=None, *, window=None, origin=0, compression='snappy', \
                          overwrite=False, row_group_rows=None, payload='auto', ts='timestamp')"
    )]
    #[allow(clippy::too_many_arguments)] // (the Python call's arguments)
    fn to_parquet(
        &self,
        py: Python<'_>,
        path: std::path::PathBuf,
        t1: Option<&Bound<'_, PyAny>>,
        t2: Option<&Bound<'_, PyAny>>,
        window: Option<i64>,
        origin: i64,
        compression: String,
        overwrite: bool,
        row_group_rows: Option<usize>,
        payload: Arg<'_>,
        ts: Arg<'_>,
    ) -> PyResult<Py<PyDict>> {
        let layout = Layout { window, origin, compression, overwrite, row_group_rows };
        write_open(self, py, &path, (t1, t2), &layout, (&payload, &ts), false)
    }

    /// Moves the records of `[t1, t2)` out of the log into Parquet under `path`
    /// (the layout of `to_parquet`, file names `part-<lo>_<hi>-a<run>.parquet`):
    /// writes what a snapshot holds, then deletes exactly those records. Records
    /// appended into the range meanwhile stay in the log for a later archive. An
    /// archive interrupted at any step (an error, a crash) is completed or undone by
    /// the next `archive` into the same directory, so that files and log hold every
    /// record once. One archive at a time per directory. Returns a report dict
    /// (`rows`, `bytes`, `watermark`, `files`, `recovered`, `discarded`).
    #[pyo3(
        signature = (path, t1 = None, t2 = None, *, window = None, origin = 0, compression = "snappy".to_string(),
                     row_group_rows = None, payload = Arg::Missing, ts = Arg::Missing),
        text_signature = "(self, path, t1=None, t2=None, *, window=None, origin=0, compression='snappy', \
                          row_group_rows=None, payload='auto', ts='timestamp')"
    )]
    #[allow(clippy::too_many_arguments)] // (the Python call's arguments)
    fn archive(
        &self,
        py: Python<'_>,
        path: std::path::PathBuf,
        t1: Option<&Bound<'_, PyAny>>,
        t2: Option<&Bound<'_, PyAny>>,
        window: Option<i64>,
        origin: i64,
        compression: String,
        row_group_rows: Option<usize>,
        payload: Arg<'_>,
        ts: Arg<'_>,
    ) -> PyResult<Py<PyDict>> {
        let layout = Layout { window, origin, compression, overwrite: false, row_group_rows };
        write_open(self, py, &path, (t1, t2), &layout, (&payload, &ts), true)
    }
}
