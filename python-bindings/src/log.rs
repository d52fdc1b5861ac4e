//! The native `Timelog` class (`timelog._timelog.Timelog`). Thin glue over
//! `timelog::Timelog<PyVal>`: argument conversion, exceptions, GIL handling,
//! reader pins and the lifecycle. The public `timelog.Timelog` subclasses it in
//! Python (`timelog/__init__.py`) for construction, presets and a few helpers.

use std::ops::Bound as RBound;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict, PyList, PySlice, PyString, PyTuple};
use pyo3::{ffi, PyTraverseError, PyVisit};

use timelog::{Accepted, AdaptiveConfig, CompactionConfig, MaintenanceMode, TimeUnit, Timelog as Engine};

use crate::arrow::TimelogArrowStream;
use crate::coerce::{self, closed_err, engine_err, TimelogBusyError, TimelogError, TS_MAX, TS_MIN};
use crate::gil;
use crate::ingest;
use crate::iter::{point_bounds, TimelogIter};
use crate::pin::{Pin, Pins};
use crate::slab::{self, PyVal};
use crate::views::PageSpanIter;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BusyPolicy {
    Raise,
    Silent,
    Flush,
}

impl BusyPolicy {
    fn as_str(self) -> &'static str {
        match self {
            BusyPolicy::Raise => "raise",
            BusyPolicy::Silent => "silent",
            BusyPolicy::Flush => "flush",
        }
    }
}

/// Everything that exists only while the log is open.
pub struct Open {
    pub log: Engine<PyVal>,
    pub owner: u32,
    /// Set once a payload of a GC-tracked type was stored: until then the GC has
    /// nothing to learn from traversing the records.
    any_gc: AtomicBool,
    pub floor: Option<i64>,
    pub unit: TimeUnit,
    policy: BusyPolicy,
    background: bool,
    sealed_wait: Duration,
    drain_limit: usize,
}

/// Configuration echo, readable after close.
struct Info {
    time_unit: &'static str,
    maintenance: &'static str,
    busy_policy: &'static str,
    floor: Option<i64>,
    mostly_ordered_default: bool,
}

/// Native base class of `timelog.Timelog`. See the facade for documentation.
#[pyclass(subclass, weakref, frozen, module = "timelog._timelog", name = "Timelog")]
pub struct PyTimelog {
    /// `None` while closed. Data methods take a shared (recursive) lock for their
    /// whole duration; `close()` takes the exclusive lock without waiting.
    state: RwLock<Option<Open>>,
    info: Mutex<Info>,
    busy_events: AtomicU64,
    extend_skipped: AtomicU64,
    backpressure_waits: AtomicU64,
    pub pins: Pins,
}

impl Drop for PyTimelog {
    fn drop(&mut self) {
        if let Some(open) = self.state.get_mut().take() {
            Python::attach(|py| shutdown(py, open));
        }
    }
}

/// Closes an engine: stops the worker and drops the data without the GIL, then
/// releases every payload reference of this log under the GIL.
fn shutdown(py: Python<'_>, open: Open) {
    let owner = open.owner;
    py.detach(move || {
        drop(open);
        slab::settle_epoch();
    });
    slab::force_release(py, owner);
    // No slot holding an object carries this id any more: it can be reused.
    slab::release_owner(owner);
    slab::drain(py, 0);
}

/// How many retired payloads a write of `n` records releases first: all of them
/// (`drain_batch_limit` 0), else at least twice what it stores. With a bare
/// `drain_batch_limit` per call, a retention workload (each batch retires as many
/// payloads as it stores) would grow the queue, the slab and the dead payloads without
/// bound; this way the queue shrinks while the cost stays proportional to the call.
fn drain_quota(limit: usize, n: usize) -> usize {
    if limit == 0 {
        0
    } else {
        limit.max(n.saturating_mul(2))
    }
}

fn now_ts(unit: TimeUnit) -> i64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH);
    let ns: i128 = match d {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    };
    let div: i128 = match unit {
        TimeUnit::Seconds => 1_000_000_000,
        TimeUnit::Millis => 1_000_000,
        TimeUnit::Micros => 1_000,
        TimeUnit::Nanos => 1,
    };
    ns.div_euclid(div) as i64
}

fn floor_err(ts: i64, floor: i64) -> PyErr {
    PyValueError::new_err(format!("timestamp {ts} is below min_ts boundary ({floor})"))
}

impl Open {
    #[inline]
    pub fn check_floor(&self, ts: i64) -> PyResult<()> {
        match self.floor {
            Some(f) if ts < f => Err(floor_err(ts, f)),
            _ => Ok(()),
        }
    }
}

/// One argument of `append` that may be absent (distinct from an explicit `None`).
pub enum Arg<'py> {
    Missing,
    Given(Bound<'py, PyAny>),
}

impl<'a, 'py> FromPyObject<'a, 'py> for Arg<'py> {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        Ok(Arg::Given(obj.to_owned()))
    }
}

fn wait_for_room(log: &Engine<PyVal>, wait: Duration) -> bool {
    // The engine's own condvar wait (woken by each flush), called without the GIL.
    log.wait_for_room(wait)
}

fn opt_u64(d: &Bound<'_, PyDict>, key: &str) -> PyResult<u64> {
    match d.get_item(key)? {
        Some(v) if !v.is_none() => v.extract::<u64>(),
        _ => Ok(0),
    }
}

fn opt_i64(d: &Bound<'_, PyDict>, key: &str) -> PyResult<i64> {
    match d.get_item(key)? {
        Some(v) if !v.is_none() => v.extract::<i64>(),
        _ => Ok(0),
    }
}

fn opt_str(d: &Bound<'_, PyDict>, key: &str, default: &str) -> PyResult<String> {
    match d.get_item(key)? {
        Some(v) if !v.is_none() => v.extract::<String>(),
        _ => Ok(default.to_string()),
    }
}

fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

impl PyTimelog {
    /// Runs `f` while the log is open (TimelogError if closed), holding the shared
    /// state lock so that `close()` cannot run meanwhile.
    pub fn while_open<R>(&self, f: impl FnOnce() -> PyResult<R>) -> PyResult<R> {
        let _g = self.open_guard()?;
        f()
    }

    #[inline]
    fn open_guard(&self) -> PyResult<parking_lot::RwLockReadGuard<'_, Option<Open>>> {
        let g = self.state.read_recursive();
        if g.is_none() {
            return Err(closed_err());
        }
        Ok(g)
    }

    /// Maps what the engine reported for an accepted write to the busy policy.
    pub fn accepted(&self, py: Python<'_>, open: &Open, acc: Accepted) -> PyResult<()> {
        if acc == Accepted::Clean {
            return Ok(());
        }
        self.busy(py, open)
    }

    #[cold]
    fn busy(&self, py: Python<'_>, open: &Open) -> PyResult<()> {
        // The engine runs with a zero sealed wait, so that any wait for room happens
        // here, without the GIL.
        if open.background && !open.sealed_wait.is_zero() && open.log.maintenance_running() {
            self.backpressure_waits.fetch_add(1, Ordering::Relaxed);
            let wait = open.sealed_wait;
            let log = &open.log;
            if py.detach(|| wait_for_room(log, wait)) {
                return Ok(());
            }
        }
        self.busy_events.fetch_add(1, Ordering::Relaxed);
        match open.policy {
            BusyPolicy::Silent => Ok(()),
            BusyPolicy::Flush => {
                self.flush_open(py, open);
                Ok(())
            }
            BusyPolicy::Raise => Err(TimelogBusyError::new_err(
                "write accepted but the engine is busy (sealed memtable queue full); the data \
                 IS stored, do not retry it; call flush() or slow down",
            )),
        }
    }

    fn flush_open(&self, py: Python<'_>, open: &Open) {
        let log = &open.log;
        py.detach(|| {
            log.flush();
            slab::settle_epoch();
        });
        slab::drain(py, open.drain_limit);
    }

    fn after_maintenance(py: Python<'_>, open: &Open) {
        slab::drain(py, open.drain_limit);
    }

    fn new_iter(slf: &Bound<'_, Self>, open: &Open, lo: i64, hi: Option<i64>) -> PyResult<Py<TimelogIter>> {
        let py = slf.py();
        let it =
            TimelogIter::new(slf.clone().into_any().unbind(), &slf.get().pins, open.log.snapshot(), lo, hi);
        Py::new(py, it)
    }

    fn delete_checked(&self, py: Python<'_>, open: &Open, t1: i64, t2: i64) -> PyResult<()> {
        if t1 > t2 {
            return Err(PyValueError::new_err(format!("invalid range: t1 ({t1}) must be <= t2 ({t2})")));
        }
        if t1 == t2 {
            return Ok(());
        }
        // A log that is only deleted from (its writer elsewhere or gone) still releases
        // the payloads the background worker dropped.
        slab::drain(py, open.drain_limit);
        let acc = open.log.delete_range(t1..t2).map_err(engine_err)?.accepted;
        self.accepted(py, open, acc)
    }

    fn delete_point(&self, py: Python<'_>, open: &Open, ts: i64) -> PyResult<()> {
        if ts == TS_MAX {
            return Err(PyValueError::new_err(format!(
                "point delete at TL_TS_MAX ({TS_MAX}) is not representable with half-open \
                 delete ranges"
            )));
        }
        self.delete_checked(py, open, ts, ts + 1)
    }

    /// The payloads at `ts` as a new list, built in place: the point iterator knows its
    /// length, so the list is allocated once and filled without an intermediate vector.
    fn point_list<'py>(py: Python<'py>, open: &Open, ts: i64) -> PyResult<Bound<'py, PyList>> {
        let snap = open.log.snapshot();
        let mut vals = snap.point(ts);
        let first = vals.next();
        let n = vals.len() + usize::from(first.is_some());
        // The first slot (a likely cache miss on a large log) loads while the list is
        // allocated.
        if let Some(v) = first {
            slab::prefetch_slot(slab::slot_of(v));
        }
        // SAFETY: we are attached. `PyList_New(n)` returns a new list of `n` NULL items
        // (checked for NULL); each of the exactly `n` values (`first`, then the rest)
        // stores a new strong reference into its own index (`PyList_SetItem` steals
        // it), so the list is fully initialised before it is handed to Python. Each
        // pointer is a live payload owned by its slot (our snapshot keeps the record,
        // hence the slot), or `None` after a forced release.
        unsafe {
            let list = ffi::PyList_New(n as ffi::Py_ssize_t);
            if list.is_null() {
                return Err(PyErr::fetch(py));
            }
            let put = |k: usize, v: &PyVal| {
                let p = slab::raw(v);
                let p = if p.is_null() { ffi::Py_None() } else { p };
                ffi::Py_INCREF(p);
                ffi::PyList_SetItem(list, k as ffi::Py_ssize_t, p);
            };
            if let Some(v) = first {
                put(0, v);
                for (k, v) in vals.enumerate() {
                    put(k + 1, v);
                }
            }
            Ok(Bound::from_owned_ptr(py, list).cast_into_unchecked())
        }
    }

    fn slice_bounds(key: &Bound<'_, PySlice>) -> PyResult<(Option<i64>, Option<i64>)> {
        coerce::check_step(&key.getattr(pyo3::intern!(key.py(), "step"))?)?;
        let start = coerce::opt_ts(Some(&key.getattr(pyo3::intern!(key.py(), "start"))?))?;
        let stop = coerce::opt_ts(Some(&key.getattr(pyo3::intern!(key.py(), "stop"))?))?;
        Ok((start, stop))
    }

    /// Read bounds with slicing semantics: reversed bounds give an empty range.
    fn read_bounds(t1: Option<i64>, t2: Option<i64>) -> (i64, Option<i64>) {
        let lo = t1.unwrap_or(TS_MIN);
        match t2 {
            None => (lo, None),
            Some(h) if h < lo => (lo, Some(lo)),
            Some(h) => (lo, Some(h)),
        }
    }

    /// `to_parquet` (`archive = false`) or `archive` of `[t1, t2)`, with the log held
    /// open and pinned.
    fn parquet(
        &self,
        py: Python<'_>,
        path: &std::path::Path,
        (t1, t2): (Option<&Bound<'_, PyAny>>, Option<&Bound<'_, PyAny>>),
        layout: &crate::parquet::Layout,
        (payload, ts): (&Arg<'_>, &Arg<'_>),
        archive: bool,
    ) -> PyResult<Py<PyDict>> {
        let g = self.open_guard()?;
        let open = g.as_ref().expect("open");
        let (lo, hi) = Self::read_bounds(coerce::opt_ts(t1)?, coerce::opt_ts(t2)?);
        let _pin = Pin::new(&self.pins);
        crate::parquet::write(py, open, Self::range_of(lo, hi), path, layout, payload, ts, archive)
    }

    fn range_of(lo: i64, hi: Option<i64>) -> (RBound<i64>, RBound<i64>) {
        (
            RBound::Included(lo),
            match hi {
                None => RBound::Unbounded,
                Some(h) => RBound::Excluded(h),
            },
        )
    }
}

#[pymethods]
impl PyTimelog {
    /// Creates an unopened log; `timelog.Timelog.__init__` opens it.
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn py_new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> Self {
        PyTimelog {
            state: RwLock::new(None),
            info: Mutex::new(Info {
                time_unit: "ms",
                maintenance: "background",
                busy_policy: "raise",
                floor: None,
                mostly_ordered_default: true,
            }),
            busy_events: AtomicU64::new(0),
            extend_skipped: AtomicU64::new(0),
            backpressure_waits: AtomicU64::new(0),
            pins: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Opens a fresh engine with options already validated by the facade
    /// (`timelog._api._parse_options`).
    #[pyo3(signature = (options, min_ts, mostly_ordered_default))]
    fn _open(
        &self,
        py: Python<'_>,
        options: &Bound<'_, PyDict>,
        min_ts: Option<i64>,
        mostly_ordered_default: bool,
    ) -> PyResult<()> {
        let Some(mut st) = self.state.try_write() else {
            return Err(TimelogError::new_err("Timelog is in use by another thread"));
        };
        if st.is_some() {
            return Err(TimelogError::new_err("Timelog is already open"));
        }
        let unit_s = opt_str(options, "time_unit", "ms")?;
        let unit: TimeUnit =
            unit_s.parse().map_err(|_| PyValueError::new_err(format!("invalid time_unit {unit_s:?}")))?;
        let maint_s = opt_str(options, "maintenance", "background")?;
        let background = match maint_s.as_str() {
            "background" => true,
            "disabled" => false,
            _ => return Err(PyValueError::new_err(format!("invalid maintenance {maint_s:?}"))),
        };
        let policy = match opt_str(options, "busy_policy", "raise")?.as_str() {
            "raise" => BusyPolicy::Raise,
            "silent" => BusyPolicy::Silent,
            "flush" => BusyPolicy::Flush,
            other => return Err(PyValueError::new_err(format!("invalid busy_policy {other:?}"))),
        };
        let mut b = Engine::<PyVal>::builder().time_unit(unit).maintenance(if background {
            MaintenanceMode::Background
        } else {
            MaintenanceMode::Manual
        });
        // "0 = engine default" for these.
        let v = opt_u64(options, "memtable_max_bytes")?;
        if v != 0 {
            b = b.memtable_max_bytes(to_usize(v));
        }
        let v = opt_u64(options, "target_page_bytes")?;
        if v != 0 {
            b = b.target_page_bytes(to_usize(v));
        }
        let v = opt_u64(options, "sealed_max_runs")?;
        let sealed_max_runs = if v != 0 { to_usize(v) } else { 4 };
        b = b.sealed_max_runs(sealed_max_runs);
        let v = opt_u64(options, "ooo_budget_bytes")?;
        if v != 0 {
            b = b.ooo_budget_bytes(to_usize(v));
        }
        let v = opt_u64(options, "maintenance_wakeup_ms")?;
        if v != 0 {
            // The engine caps the period at (2^32-1)/1000 whole seconds; the option
            // accepts up to 2^32-1 ms. Clamp (a 49.7-day wake-up is "never" anyway).
            b = b.maintenance_wakeup(Duration::from_millis(v.min(u64::from(u32::MAX) / 1000 * 1000)));
        }
        let drain_limit = to_usize(opt_u64(options, "drain_batch_limit")?);
        b = b.drain_batch_limit(drain_limit);
        let v = opt_u64(options, "max_delta_segments")?;
        if v != 0 {
            b = b.max_l0_segments(to_usize(v));
        }
        let v = opt_i64(options, "window_size")?;
        if v != 0 {
            b = b.window_size(v);
        }
        b = b.window_origin(opt_i64(options, "window_origin")?);
        let d: f64 = match options.get_item("delete_debt_threshold")? {
            Some(v) if !v.is_none() => v.extract()?,
            _ => 0.0,
        };
        b = b.delete_debt_threshold(d);
        // The engine never waits for room itself: the binding does, without the GIL.
        let sealed_wait = match options.get_item("sealed_wait_ms")? {
            Some(v) if !v.is_none() => Duration::from_millis(v.extract::<u64>()?),
            _ => Duration::from_millis(100),
        };
        b = b.sealed_wait(Duration::ZERO);
        b = b.compaction(CompactionConfig {
            target_bytes: opt_u64(options, "compaction_target_bytes")?,
            max_inputs: opt_u64(options, "max_compaction_inputs")? as u32,
            max_windows: opt_u64(options, "max_compaction_windows")? as u32,
        });
        if let Some(a) = options.get_item("adaptive")? {
            if !a.is_none() {
                let a = a.cast_into::<PyDict>()?;
                let mut ac = AdaptiveConfig::default();
                macro_rules! take {
                    ($key:literal, $field:ident, $ty:ty) => {
                        if let Some(v) = a.get_item($key)? {
                            ac.$field = v.extract::<$ty>()?;
                        }
                    };
                }
                take!("target_records", target_records, u64);
                take!("min_window", min_window, i64);
                take!("max_window", max_window, i64);
                take!("hysteresis_pct", hysteresis_pct, u32);
                take!("window_quantum", window_quantum, i64);
                take!("alpha", alpha, f64);
                take!("warmup_flushes", warmup_flushes, u32);
                take!("stale_flushes", stale_flushes, u32);
                take!("failure_backoff_threshold", failure_backoff_threshold, u32);
                take!("failure_backoff_pct", failure_backoff_pct, u32);
                b = b.adaptive(ac);
            }
        }
        let cfg = b.config().map_err(engine_err)?;
        let owner = slab::new_owner()?;
        let log: Engine<PyVal> = py.detach(|| Engine::with_config(cfg));
        let open = Open {
            log,
            owner,
            any_gc: AtomicBool::new(false),
            floor: min_ts,
            unit,
            policy,
            background,
            sealed_wait,
            drain_limit,
        };
        if let Some(f) = min_ts {
            if f > TS_MIN {
                // A tombstone below the floor (records written later are not affected,
                // and writes below the floor are refused anyway).
                let _ = open.log.delete_before(f).map_err(engine_err)?;
            }
        }
        *st = Some(open);
        *self.info.lock() = Info {
            time_unit: unit.as_str(),
            maintenance: if background { "background" } else { "disabled" },
            busy_policy: policy.as_str(),
            floor: min_ts,
            mostly_ordered_default,
        };
        self.busy_events.store(0, Ordering::Relaxed);
        self.extend_skipped.store(0, Ordering::Relaxed);
        self.backpressure_waits.store(0, Ordering::Relaxed);
        Ok(())
    }

    // ----- lifecycle ---------------------------------------------------------------

    /// Stops the background worker and discards every record, releasing every
    /// payload reference. Idempotent. Raises TimelogError (and stays open) while
    /// readers (iterators, spans, span iterators, exports) are alive.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let Some(mut st) = self.state.try_write() else {
            return Err(TimelogError::new_err("cannot close: the Timelog is in use by another thread"));
        };
        if st.is_none() {
            return Ok(());
        }
        let pinned = self.pins.load(Ordering::SeqCst);
        if pinned > 0 {
            return Err(TimelogError::new_err(format!(
                "cannot close: {pinned} reader(s) pinned (iterators, PageSpans, PageSpanIters or \
                 buffer exports); close or release them first"
            )));
        }
        let open = st.take().expect("checked above");
        drop(st);
        shutdown(py, open);
        Ok(())
    }

    /// True once closed (or never opened).
    #[getter]
    fn closed(&self) -> bool {
        self.state.read_recursive().is_none()
    }

    /// The configured time unit: "s", "ms", "us" or "ns" (readable after close).
    #[getter]
    fn time_unit(&self) -> &'static str {
        self.info.lock().time_unit
    }

    /// "background" or "disabled" (unchanged by stop_maintenance(); readable after close).
    #[getter]
    fn maintenance_mode(&self) -> &'static str {
        self.info.lock().maintenance
    }

    /// "raise", "silent" or "flush" (readable after close).
    #[getter]
    fn busy_policy(&self) -> &'static str {
        self.info.lock().busy_policy
    }

    /// Writes that reported backpressure since open, under every busy policy.
    #[getter]
    fn busy_events(&self) -> u64 {
        self.busy_events.load(Ordering::Relaxed)
    }

    /// Records skipped by lenient extend() since open (bad timestamps).
    #[getter]
    fn extend_skipped(&self) -> u64 {
        self.extend_skipped.load(Ordering::Relaxed)
    }

    /// The configured min_ts floor, or None (distinct from min_ts(), the data minimum).
    #[getter]
    fn min_ts_floor(&self) -> Option<i64> {
        self.info.lock().floor
    }

    /// The configured mostly_ordered_default.
    #[getter]
    fn _mostly_ordered_default(&self) -> bool {
        self.info.lock().mostly_ordered_default
    }

    /// Payload objects waiting to be released by a Python thread (process-wide).
    #[getter]
    fn retired_queue_len(&self) -> usize {
        slab::retired_len()
    }

    /// Payloads leaked because bookkeeping allocation failed (always 0 here:
    /// allocation failure aborts or raises MemoryError).
    #[getter]
    fn alloc_failures(&self) -> u64 {
        0
    }

    /// The configured min_ts floor, or None.
    fn _min_ts_floor(&self) -> Option<i64> {
        self.info.lock().floor
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // Never block in the GC: skip (conservatively) if the lock is contended.
        let Some(g) = self.state.try_read_recursive() else {
            return Ok(());
        };
        let Some(open) = g.as_ref() else {
            return Ok(());
        };
        if !open.any_gc.load(Ordering::Relaxed) {
            return Ok(());
        }
        let snap = open.log.snapshot();
        for (_, v) in snap.range(..) {
            slab::visit(v, &visit)?;
        }
        Ok(())
    }

    fn __clear__(&self, py: Python<'_>) {
        if let Some(mut st) = self.state.try_write() {
            if let Some(open) = st.take() {
                drop(st);
                shutdown(py, open);
            }
        }
    }

    // ----- writes --------------------------------------------------------------------

    /// Appends one record. Forms: `append(ts, obj)`, `append(obj, ts=T)`, and
    /// `append(obj)` (timestamp = wall clock in the log's time unit). Strict
    /// timestamp coercion; timestamps below the min_ts floor raise ValueError.
    #[pyo3(signature = (obj_or_ts = Arg::Missing, obj_or_none = Arg::Missing, *, ts = Arg::Missing))]
    fn append(&self, py: Python<'_>, obj_or_ts: Arg<'_>, obj_or_none: Arg<'_>, ts: Arg<'_>) -> PyResult<()> {
        let g = self.open_guard()?;
        let open = g.as_ref().expect("open");
        let ts_kw = match ts {
            Arg::Given(t) if !t.is_none() => Some(t),
            _ => None,
        };
        let (t, obj) = match (obj_or_ts, obj_or_none) {
            (Arg::Missing, _) => {
                return Err(PyTypeError::new_err("append() missing required argument 'obj_or_ts' (pos 1)"))
            }
            (Arg::Given(t), Arg::Given(o)) => {
                if ts_kw.is_some() {
                    return Err(PyTypeError::new_err(
                        "append(ts, obj) got a ts= keyword as well; pass the timestamp once",
                    ));
                }
                (coerce::ts(&t)?, o)
            }
            (Arg::Given(o), Arg::Missing) => match ts_kw {
                Some(t) => (coerce::ts(&t)?, o),
                None => (now_ts(open.unit), o),
            },
        };
        open.check_floor(t)?;
        slab::drain(py, drain_quota(open.drain_limit, 1));
        let v = slab::alloc(open.owner, &open.any_gc, obj)?;
        let acc = open.log.append(t, v).accepted;
        self.accepted(py, open, acc)
    }

    /// `log[ts] = obj`: appends a record (never replaces).
    fn __setitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>, obj: Bound<'_, PyAny>) -> PyResult<()> {
        let g = self.open_guard()?;
        let open = g.as_ref().expect("open");
        if key.is_instance_of::<PySlice>() {
            return Err(PyTypeError::new_err(
                "slice assignment is not supported; use log[ts] = obj or extend()",
            ));
        }
        let t = coerce::ts(key)?;
        open.check_floor(t)?;
        slab::drain(py, drain_quota(open.drain_limit, 1));
        let v = slab::alloc(open.owner, &open.any_gc, obj)?;
        let acc = open.log.append(t, v).accepted;
        self.accepted(py, open, acc)
    }

    /// Appends many records as one atomic batch: `extend(pairs)` or
    /// `extend(timestamps, objects)`. With `insert_on_error=True` (default),
    /// records whose timestamp has the wrong type or is out of int64 range are
    /// skipped (counted in `extend_skipped`, one RuntimeWarning per call); any other
    /// error (non-pair item, floor violation, length mismatch, iterator error)
    /// raises and inserts nothing. With `insert_on_error=False` every record is
    /// validated first and any error raises, inserting nothing. An Arrow object
    /// (`__arrow_c_stream__`/`__arrow_c_array__`: a pyarrow Table, a polars
    /// DataFrame, ...) with a `ts` column (int64 or timestamp) and an optional `value`
    /// column is appended one atomic batch per record batch (see docs/api.md, "Arrow").
    #[pyo3(signature = (ts_or_iterable, objects = None, *, mostly_ordered = None, insert_on_error = None))]
    fn extend(
        &self,
        py: Python<'_>,
        ts_or_iterable: &Bound<'_, PyAny>,
        objects: Option<&Bound<'_, PyAny>>,
        mostly_ordered: Option<&Bound<'_, PyAny>>,
        insert_on_error: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let _ = mostly_ordered; // accepted for compatibility; order never matters
        let g = self.open_guard()?;
        let open = g.as_ref().expect("open");
        let lenient = match insert_on_error {
            None => true,
            Some(v) => v.is_truthy()?,
        };
        if objects.is_none() && crate::arrow_import::is_arrow(ts_or_iterable) {
            // Arrow data (pyarrow, polars, ...): one atomic batch per record batch. A
            // busy error (the batch IS stored) is raised once every batch is stored.
            let mut busy = None;
            crate::arrow_import::extend(ts_or_iterable, open.unit, open.floor, |ts, objs| {
                match self.insert_batch(py, open, ts, objs) {
                    Err(e) if e.is_instance_of::<TimelogBusyError>(py) => {
                        busy.get_or_insert(e);
                        Ok(())
                    }
                    other => other,
                }
            })?;
            return busy.map_or(Ok(()), Err);
        }
        let batch = match objects {
            None => ingest::pairs(ts_or_iterable, lenient, open.floor)?,
            Some(objs) => ingest::columns(ts_or_iterable, objs, lenient, open.floor)?,
        };
        let skipped = batch.skipped;
        // The batch is stored even when the busy policy raises: count and report the
        // skipped records in every case.
        let stored = self.insert_batch(py, open, batch.ts, batch.objs);
        if skipped > 0 {
            self.extend_skipped.fetch_add(skipped as u64, Ordering::Relaxed);
            let warned = ingest::warn_skipped(py, skipped);
            if stored.is_ok() {
                warned?;
            }
        }
        stored
    }

    /// Typed fast path: `timestamps` is a 1-D C-contiguous native int64 buffer
    /// (numpy int64 array, `array.array('q')`, memoryview), `objects` a sequence of
    /// the same length. One atomic batch; nothing is inserted on any error.
    #[pyo3(signature = (timestamps, objects, /, *, mostly_ordered = None))]
    fn bulk_append(
        &self,
        py: Python<'_>,
        timestamps: &Bound<'_, PyAny>,
        objects: &Bound<'_, PyAny>,
        mostly_ordered: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let _ = mostly_ordered;
        let g = self.open_guard()?;
        let open = g.as_ref().expect("open");
        ingest::reject_text_objects(objects)?;
        let ts = ingest::int64_buffer(timestamps)?;
        let objs = ingest::sequence_objects(objects, ts.len())?;
        if let Some(f) = open.floor {
            if let Some(i) = ts.iter().position(|&t| t < f) {
                return Err(PyValueError::new_err(format!(
                    "timestamp {} at index {i} is below min_ts boundary ({f})",
                    ts[i]
                )));
            }
        }
        self.insert_batch(py, open, ts, objs)
    }

    // ----- deletes -------------------------------------------------------------------

    /// `delete(ts)` deletes the records at `ts`; `delete(t1, t2)` those in `[t1, t2)`.
    /// Deletes hide only records written before them. `t1 > t2` raises ValueError;
    /// a point delete at TL_TS_MAX raises ValueError.
    #[pyo3(signature = (t1, t2 = None))]
    fn delete(&self, py: Python<'_>, t1: &Bound<'_, PyAny>, t2: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let g = self.open_guard()?;
        let open = g.as_ref().expect("open");
        let a = coerce::ts(t1)?;
        match coerce::opt_ts(t2)? {
            None => self.delete_point(py, open, a),
            Some(b) => self.delete_checked(py, open, a, b),
        }
    }

    /// `del log[ts]` or `del log[t1:t2]` (missing bounds: TL_TS_MIN / TL_TS_MAX, exclusive).
    fn __delitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let g = self.open_guard()?;
        let open = g.as_ref().expect("open");
        if let Ok(s) = key.cast::<PySlice>() {
            let (a, b) = Self::slice_bounds(s)?;
            self.delete_checked(py, open, a.unwrap_or(TS_MIN), b.unwrap_or(TS_MAX))
        } else {
            let t = coerce::ts(key)?;
            self.delete_point(py, open, t)
        }
    }

    /// Deletes every record below `ts` (tombstone over `[TL_TS_MIN, ts)`).
    fn cutoff(&self, py: Python<'_>, ts: &Bound<'_, PyAny>) -> PyResult<()> {
        let g = self.open_guard()?;
        let open = g.as_ref().expect("open");
        let t = coerce::ts(ts)?;
        self.delete_checked(py, open, TS_MIN, t)
    }

    /// Native form of `delete(t1, t2)` (positional only).
    #[pyo3(signature = (t1, t2, /))]
    fn delete_range(&self, py: Python<'_>, t1: &Bound<'_, PyAny>, t2: &Bound<'_, PyAny>) -> PyResult<()> {
        let g = self.open_guard()?;
        let open = g.as_ref().expect("open");
        let (a, b) = (coerce::ts(t1)?, coerce::ts(t2)?);
        self.delete_checked(py, open, a, b)
    }

    /// Native form of `cutoff(ts)` (positional only).
    #[pyo3(signature = (ts, /))]
    fn delete_before(&self, py: Python<'_>, ts: &Bound<'_, PyAny>) -> PyResult<()> {
        self.cutoff(py, ts)
    }

    // ----- reads ---------------------------------------------------------------------

    /// `log[ts]` -> list of the payloads at `ts`; `log[t1:t2]` -> TimelogIter over
    /// `[t1, t2)` (reversed bounds: empty).
    fn __getitem__<'py>(slf: &Bound<'py, Self>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let me = slf.get();
        let g = me.open_guard()?;
        let open = g.as_ref().expect("open");
        if let Ok(s) = key.cast::<PySlice>() {
            let (a, b) = Self::slice_bounds(s)?;
            let (lo, hi) = Self::read_bounds(a, b);
            return Ok(Self::new_iter(slf, open, lo, hi)?.into_bound(py).into_any());
        }
        let t = coerce::ts(key)?;
        Ok(Self::point_list(py, open, t)?.into_any())
    }

    /// The payloads stored at exactly `ts` (a new list; same as `log[ts]`).
    fn at<'py>(&self, py: Python<'py>, ts: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let g = self.open_guard()?;
        let open = g.as_ref().expect("open");
        let t = coerce::ts(ts)?;
        Self::point_list(py, open, t)
    }

    fn __contains__(&self, ts: &Bound<'_, PyAny>) -> PyResult<bool> {
        let g = self.open_guard()?;
        let open = g.as_ref().expect("open");
        let t = coerce::ts(ts)?;
        Ok(open.log.snapshot().point(t).next().is_some())
    }

    /// Number of visible records (tombstone-aware, fresh snapshot).
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        let g = self.open_guard()?;
        let open = g.as_ref().expect("open");
        slab::drain(py, open.drain_limit);
        Ok(open.log.len())
    }

    fn __bool__(&self) -> PyResult<bool> {
        let g = self.open_guard()?;
        Ok(!g.as_ref().expect("open").log.is_empty())
    }

    fn __iter__(slf: &Bound<'_, Self>) -> PyResult<Py<TimelogIter>> {
        Self::all(slf)
    }

    /// `reversed(log)`: every record, newest timestamp first (equal timestamps in
    /// reverse insertion order), from a fresh snapshot. The reference raises
    /// `TypeError` here; this project's issue asks for it to work.
    fn __reversed__(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let it = Self::all(slf)?;
        Ok(it.bind(slf.py()).call_method0("__reversed__")?.unbind())
    }

    /// Iterator over every record.
    fn all(slf: &Bound<'_, Self>) -> PyResult<Py<TimelogIter>> {
        let g = slf.get().open_guard()?;
        Self::new_iter(slf, g.as_ref().expect("open"), TS_MIN, None)
    }

    /// Iterator over `[t1, t2)`; `t1 > t2` raises ValueError (unlike slicing).
    #[pyo3(signature = (t1, t2, /))]
    fn range(
        slf: &Bound<'_, Self>,
        t1: &Bound<'_, PyAny>,
        t2: &Bound<'_, PyAny>,
    ) -> PyResult<Py<TimelogIter>> {
        let g = slf.get().open_guard()?;
        let (a, b) = (coerce::ts(t1)?, coerce::ts(t2)?);
        if a > b {
            return Err(PyValueError::new_err(format!("invalid range: t1 ({a}) must be <= t2 ({b})")));
        }
        Self::new_iter(slf, g.as_ref().expect("open"), a, Some(b))
    }

    /// Iterator over `ts >= t`.
    #[pyo3(signature = (ts, /))]
    fn since(slf: &Bound<'_, Self>, ts: &Bound<'_, PyAny>) -> PyResult<Py<TimelogIter>> {
        let g = slf.get().open_guard()?;
        let t = coerce::ts(ts)?;
        Self::new_iter(slf, g.as_ref().expect("open"), t, None)
    }

    /// Iterator over `ts < t`.
    #[pyo3(signature = (ts, /))]
    fn until(slf: &Bound<'_, Self>, ts: &Bound<'_, PyAny>) -> PyResult<Py<TimelogIter>> {
        let g = slf.get().open_guard()?;
        let t = coerce::ts(ts)?;
        Self::new_iter(slf, g.as_ref().expect("open"), TS_MIN, Some(t))
    }

    /// Iterator over the records at exactly `ts`.
    #[pyo3(signature = (ts, /))]
    fn equal(slf: &Bound<'_, Self>, ts: &Bound<'_, PyAny>) -> PyResult<Py<TimelogIter>> {
        let g = slf.get().open_guard()?;
        let (lo, hi) = point_bounds(coerce::ts(ts)?);
        Self::new_iter(slf, g.as_ref().expect("open"), lo, hi)
    }

    /// Same as `equal(ts)`.
    #[pyo3(signature = (ts, /))]
    fn point(slf: &Bound<'_, Self>, ts: &Bound<'_, PyAny>) -> PyResult<Py<TimelogIter>> {
        Self::equal(slf, ts)
    }

    /// Smallest visible timestamp, or None.
    fn min_ts(&self) -> PyResult<Option<i64>> {
        let g = self.open_guard()?;
        Ok(g.as_ref().expect("open").log.first_ts())
    }

    /// Largest visible timestamp, or None (O(log n)).
    fn max_ts(&self) -> PyResult<Option<i64>> {
        let g = self.open_guard()?;
        Ok(g.as_ref().expect("open").log.last_ts())
    }

    /// Smallest visible timestamp strictly above `ts`, or None.
    #[pyo3(signature = (ts, /))]
    fn next_ts(&self, ts: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
        let g = self.open_guard()?;
        let t = coerce::ts(ts)?;
        Ok(g.as_ref().expect("open").log.next_ts(t))
    }

    /// Largest visible timestamp strictly below `ts`, or None (O(log n)).
    #[pyo3(signature = (ts, /))]
    fn prev_ts(&self, ts: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
        let g = self.open_guard()?;
        let t = coerce::ts(ts)?;
        Ok(g.as_ref().expect("open").log.prev_ts(t))
    }

    // ----- exports -------------------------------------------------------------------

    /// `{ts: obj}` for the records in `[t1, t2)` (slicing bounds; with duplicate
    /// timestamps the last one in insertion order wins).
    #[pyo3(signature = (t1 = None, t2 = None))]
    fn to_dict<'py>(
        &self,
        py: Python<'py>,
        t1: Option<&Bound<'py, PyAny>>,
        t2: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let g = self.open_guard()?;
        let open = g.as_ref().expect("open");
        let (lo, hi) = Self::read_bounds(coerce::opt_ts(t1)?, coerce::opt_ts(t2)?);
        let _pin = Pin::new(&self.pins);
        let snap = open.log.snapshot();
        let d = PyDict::new(py);
        let mut res = Ok(());
        crate::export::each(py, &snap, Self::range_of(lo, hi), |_, ts, p| {
            if res.is_err() {
                return;
            }
            // SAFETY: we are attached; the new int is checked and handed to the dict
            // (which takes its own references), then released; `p` is a live payload
            // kept alive by the snapshot.
            unsafe {
                let k = ffi::PyLong_FromLongLong(ts);
                if k.is_null() {
                    res = Err(PyErr::fetch(py));
                    return;
                }
                let r = ffi::PyDict_SetItem(d.as_ptr(), k, p);
                ffi::Py_DecRef(k);
                if r != 0 {
                    res = Err(PyErr::fetch(py));
                }
            }
        });
        res?;
        Ok(d)
    }

    /// Raw material of `to_numpy` (see the facade): `(ts_buffer, values, slow_rows,
    /// slow_objects)`. `kind` is "f8" (float64), "i8" (int64) or "obj" (values as a
    /// list). Values of exact int/float/bool type are converted here; the others
    /// are returned with their row numbers for numpy to convert.
    #[pyo3(signature = (t1, t2, kind))]
    fn _to_numpy_raw<'py>(
        &self,
        py: Python<'py>,
        t1: Option<&Bound<'py, PyAny>>,
        t2: Option<&Bound<'py, PyAny>>,
        kind: &str,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let g = self.open_guard()?;
        let open = g.as_ref().expect("open");
        let (lo, hi) = Self::read_bounds(coerce::opt_ts(t1)?, coerce::opt_ts(t2)?);
        let _pin = Pin::new(&self.pins);
        crate::export::numpy_raw(py, open, Self::range_of(lo, hi), kind)
    }

    /// `[t1, t2)` (slicing bounds) of a fresh snapshot as Arrow record batches: a
    /// `TimelogArrowStream` (Arrow PyCapsule interface; pyarrow, polars, DuckDB, ...
    /// read it) with the columns `ts` (`ts="timestamp"`: timestamp of the log's
    /// time_unit; `ts="int64"`) and `value`. Payloads are converted now, with the GIL
    /// held: `payload="auto"` infers one type over the range (int -> int64, float or
    /// int mixed with float -> float64, str -> utf8, bytes -> binary, bool -> bool,
    /// None -> null; no other type, and no other mix: TypeError naming the row; an int
    /// past int64: OverflowError); an Arrow type (`"int64"`, `"float64"`, `"utf8"`,
    /// `"binary"`, `"bool"`, `"null"`, or `pyarrow.int64()`...) fixes it;
    /// `payload="none"` exports timestamps only (zero-copy for compacted segments);
    /// `payload="pickle"` exports every object pickled (protocol 5) as binary. The
    /// stream stays readable after `close()`.
    #[pyo3(
        signature = (t1 = None, t2 = None, *, payload = Arg::Missing, ts = Arg::Missing),
        text_signature = "(self, t1=None, t2=None, *, payload='auto', ts='timestamp')"
    )]
    fn to_arrow(
        &self,
        py: Python<'_>,
        t1: Option<&Bound<'_, PyAny>>,
        t2: Option<&Bound<'_, PyAny>>,
        payload: Arg<'_>,
        ts: Arg<'_>,
    ) -> PyResult<TimelogArrowStream> {
        let g = self.open_guard()?;
        let open = g.as_ref().expect("open");
        let (lo, hi) = Self::read_bounds(coerce::opt_ts(t1)?, coerce::opt_ts(t2)?);
        let _pin = Pin::new(&self.pins);
        crate::arrow::export(py, open, Self::range_of(lo, hi), &payload, &ts)
    }

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
        let layout = crate::parquet::Layout { window, origin, compression, overwrite, row_group_rows };
        self.parquet(py, &path, (t1, t2), &layout, (&payload, &ts), false)
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
        let layout = crate::parquet::Layout { window, origin, compression, overwrite: false, row_group_rows };
        self.parquet(py, &path, (t1, t2), &layout, (&payload, &ts), true)
    }

    /// Arrow PyCapsule interface: `to_arrow()` of every record (fresh snapshot, default
    /// options) as an `arrow_array_stream` capsule, so that `pyarrow.table(log)`,
    /// `polars.DataFrame(log)` and DuckDB queries naming the log work.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let s = self.to_arrow(py, None, None, Arg::Missing, Arg::Missing)?;
        s.stream_capsule(py, requested_schema)
    }

    // ----- views ---------------------------------------------------------------------

    /// `PageSpanIter` over flushed segment pages clipped to `[t1, t2)` (no bounds:
    /// everything, including TL_TS_MAX). Physical: memtable records are not
    /// included and deleted-but-not-compacted records are.
    #[pyo3(signature = (t1 = None, t2 = None, *, kind = Arg::Missing))]
    fn views(
        slf: &Bound<'_, Self>,
        t1: Option<&Bound<'_, PyAny>>,
        t2: Option<&Bound<'_, PyAny>>,
        kind: Arg<'_>,
    ) -> PyResult<PageSpanIter> {
        let g = slf.get().open_guard()?;
        let open = g.as_ref().expect("open");
        // The reference's order: both-or-neither, the bounds, then `kind`.
        if t1.is_none() != t2.is_none() {
            return Err(PyValueError::new_err("views() requires both t1 and t2, or neither"));
        }
        let (a, b) = (coerce::opt_ts(t1)?, coerce::opt_ts(t2)?);
        check_kind(&kind)?;
        let pages = match (a, b) {
            (None, None) => open.log.snapshot().segment_pages(..),
            (Some(a), Some(b)) => {
                if a > b {
                    return Err(PyValueError::new_err(format!(
                        "invalid range: t1 ({a}) must be <= t2 ({b})"
                    )));
                }
                open.log.snapshot().segment_pages(a..b)
            }
            _ => return Err(PyValueError::new_err("views() requires both t1 and t2, or neither")),
        };
        Ok(PageSpanIter::new(slf.clone().into_any().unbind(), &slf.get().pins, pages))
    }

    /// Native form of `views(t1, t2)`: both bounds required.
    #[pyo3(signature = (t1, t2, kind = Arg::Missing))]
    fn page_spans(
        slf: &Bound<'_, Self>,
        t1: &Bound<'_, PyAny>,
        t2: &Bound<'_, PyAny>,
        kind: Arg<'_>,
    ) -> PyResult<PageSpanIter> {
        Self::views(slf, Some(t1), Some(t2), kind)
    }

    // ----- maintenance ---------------------------------------------------------------

    /// Seals and flushes everything pending into L0 segments (synchronous, without
    /// the GIL).
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let g = self.open_guard()?;
        let open = g.as_ref().expect("open");
        self.flush_open(py, open);
        Ok(())
    }

    /// Requests a compaction (background: the worker does it soon; disabled: the
    /// next `maint_step()` does it).
    fn compact(&self, py: Python<'_>) -> PyResult<()> {
        let g = self.open_guard()?;
        let open = g.as_ref().expect("open");
        open.log.compact();
        Self::after_maintenance(py, open);
        Ok(())
    }

    /// Disabled mode: performs one unit of maintenance (flush sealed memtables, or
    /// one compaction) without the GIL; returns whether there was any. Background
    /// mode: TimelogError.
    fn maint_step(&self, py: Python<'_>) -> PyResult<bool> {
        let g = self.open_guard()?;
        let open = g.as_ref().expect("open");
        let log = &open.log;
        let r = py.detach(|| {
            let r = log.maint_step();
            slab::settle_epoch();
            r
        });
        Self::after_maintenance(py, open);
        r.map_err(engine_err)
    }

    /// Starts the background worker (no-op if running). Disabled mode: TimelogError.
    fn start_maintenance(&self) -> PyResult<()> {
        let g = self.open_guard()?;
        g.as_ref().expect("open").log.start_maintenance().map_err(engine_err)
    }

    /// Stops the background worker and waits for it (idempotent; no-op in disabled
    /// mode).
    fn stop_maintenance(&self, py: Python<'_>) -> PyResult<()> {
        let g = self.open_guard()?;
        let open = g.as_ref().expect("open");
        if !open.background {
            return Ok(());
        }
        let log = &open.log;
        py.detach(|| log.stop_maintenance()).map_err(engine_err)
    }

    /// Checks the engine's invariants on a fresh snapshot (TimelogError if broken).
    fn validate(&self, py: Python<'_>) -> PyResult<()> {
        let g = self.open_guard()?;
        let log = &g.as_ref().expect("open").log;
        py.detach(|| log.validate()).map_err(engine_err)
    }

    /// Engine statistics as a new nested dict (fresh snapshot).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let g = self.open_guard()?;
        let open = g.as_ref().expect("open");
        slab::drain(py, open.drain_limit);
        let log = &open.log;
        let s = py.detach(|| log.stats());
        let d = PyDict::new(py);
        let storage = PyDict::new(py);
        storage.set_item("segments_l0", s.l0_segments)?;
        storage.set_item("segments_l1", s.l1_segments)?;
        storage.set_item("pages_total", s.pages)?;
        storage.set_item("records_estimate", s.records)?;
        storage.set_item("min_ts", s.min_ts)?;
        storage.set_item("max_ts", s.max_ts)?;
        storage.set_item("tombstone_count", s.tombstones)?;
        d.set_item("storage", storage)?;
        let mem = PyDict::new(py);
        mem.set_item("active_records", s.memtable_records)?;
        mem.set_item("ooo_records", s.memtable_ooo_records)?;
        mem.set_item("sealed_runs", s.sealed_memruns)?;
        d.set_item("memtable", mem)?;
        let op = PyDict::new(py);
        op.set_item("seals_total", s.seals)?;
        op.set_item("ooo_budget_hits", s.ooo_budget_hits)?;
        op.set_item("backpressure_waits", self.backpressure_waits.load(Ordering::Relaxed))?;
        op.set_item("flushes_total", s.flushes)?;
        op.set_item("compactions_total", s.compactions)?;
        op.set_item("compaction_retries", s.compaction_retries)?;
        op.set_item("compaction_publish_ebusy", 0)?;
        op.set_item("busy_events", self.busy_events.load(Ordering::Relaxed))?;
        op.set_item("extend_skipped", self.extend_skipped.load(Ordering::Relaxed))?;
        d.set_item("operational", op)?;
        let sel = PyDict::new(py);
        sel.set_item("select_calls", s.select_calls)?;
        sel.set_item("select_l0_inputs", s.select_l0_inputs)?;
        sel.set_item("select_l1_inputs", s.select_l1_inputs)?;
        sel.set_item("select_no_work", s.select_no_work)?;
        d.set_item("compaction_selection", sel)?;
        let ad = PyDict::new(py);
        ad.set_item("window", s.window)?;
        ad.set_item("ewma_density", s.ewma_density)?;
        ad.set_item("flush_count", s.adaptive_flushes)?;
        ad.set_item("failures", s.adaptive_failures)?;
        d.set_item("adaptive", ad)?;
        let info = self.info.lock();
        let cfg = PyDict::new(py);
        cfg.set_item("time_unit", info.time_unit)?;
        cfg.set_item("maintenance", info.maintenance)?;
        cfg.set_item("busy_policy", info.busy_policy)?;
        cfg.set_item("min_ts", info.floor)?;
        cfg.set_item("mostly_ordered_default", info.mostly_ordered_default)?;
        d.set_item("config", cfg)?;
        Ok(d)
    }

    /// Approximate bytes held by the engine (segments and memtables), plus the
    /// payload slots of this log's records (12 bytes each) — for benchmarks.
    fn _engine_memory_bytes(&self) -> PyResult<(usize, usize)> {
        let g = self.open_guard()?;
        let s = g.as_ref().expect("open").log.stats();
        Ok((s.memory_bytes, s.records * 12))
    }
}

fn check_kind(kind: &Arg<'_>) -> PyResult<()> {
    let Arg::Given(k) = kind else { return Ok(()) };
    let Ok(s) = k.cast::<PyString>() else {
        let shown = if k.is_none() { "None".to_string() } else { k.get_type().name()?.to_string() };
        return Err(PyTypeError::new_err(format!("kind: argument 3 must be str, not {shown}")));
    };
    if s.to_str()? != "segment" {
        return Err(PyValueError::new_err(format!("page_spans: kind must be 'segment', got {}", s.repr()?)));
    }
    Ok(())
}

impl PyTimelog {
    /// Stores a validated batch atomically and applies the busy policy.
    fn insert_batch(
        &self,
        py: Python<'_>,
        open: &Open,
        ts: Vec<i64>,
        objs: Vec<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        if ts.is_empty() {
            return Ok(());
        }
        slab::drain(py, drain_quota(open.drain_limit, ts.len()));
        let vals = slab::alloc_many(open.owner, &open.any_gc, objs)?;
        let log = &open.log;
        let acc = gil::engine_part(py, ts.len(), || log.append_columns(ts, vals).accepted);
        self.accepted(py, open, acc)
    }
}
