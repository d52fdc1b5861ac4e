//! The native `Timelog` class (`timelog._timelog.Timelog`) and its lifecycle: open,
//! close, reopen, the configuration echo, and what every other method needs from an
//! open log (the open guard, the busy policy, payload draining).
//!
//! The class is thin glue over `timelog::Timelog<PyVal>`; its methods are grouped by
//! concept in other files, each an `impl PyTimelog` block of its own (`writes`,
//! `reads`, `views`, `export`, `arrow`, `parquet`, `maintenance`, `stats`). The public
//! `timelog.Timelog` subclasses it in Python (`timelog/__init__.py`) for
//! construction, presets and a few helpers.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{MappedRwLockReadGuard, Mutex, RwLock, RwLockReadGuard};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use pyo3::{PyTraverseError, PyVisit};

use timelog::{Accepted, TimeUnit, Timelog as Engine};

use crate::coerce::{closed_err, engine_err, TimelogBusyError, TimelogError, TS_MIN};
use crate::options::{BusyPolicy, Settings};
use crate::pin::Pins;
use crate::slab::{self, PyVal};

/// Everything that exists only while the log is open.
pub struct Open {
    /// The engine.
    pub log: Engine<PyVal>,
    /// The slab owner id of this log's payloads.
    pub owner: u32,
    /// Set once a payload of a GC-tracked type was stored: until then the GC has
    /// nothing to learn from traversing the records.
    pub any_gc: AtomicBool,
    /// The min_ts floor: writes below it are refused.
    pub floor: Option<i64>,
    /// The options the binding applies itself (see `options::Settings`).
    pub unit: TimeUnit,
    pub policy: BusyPolicy,
    pub background: bool,
    pub sealed_wait: Duration,
    pub drain_limit: usize,
}

impl Open {
    /// ValueError if `ts` is below the min_ts floor.
    #[inline(always)]
    pub fn check_floor(&self, ts: i64) -> PyResult<()> {
        match self.floor {
            Some(f) if ts < f => Err(floor_err(ts, f)),
            _ => Ok(()),
        }
    }
}

#[cold]
fn floor_err(ts: i64, floor: i64) -> PyErr {
    PyValueError::new_err(format!("timestamp {ts} is below min_ts boundary ({floor})"))
}

/// Configuration echo, readable after close.
pub struct Info {
    pub time_unit: &'static str,
    pub maintenance: &'static str,
    pub busy_policy: &'static str,
    pub floor: Option<i64>,
    pub mostly_ordered_default: bool,
}

/// Native base class of `timelog.Timelog`. See the facade for documentation.
#[pyclass(subclass, weakref, frozen, module = "timelog._timelog", name = "Timelog")]
pub struct PyTimelog {
    /// `None` while closed. Data methods take a shared (recursive) lock for their
    /// whole duration; `close()` takes the exclusive lock without waiting.
    state: RwLock<Option<Open>>,
    /// The configuration echo.
    pub info: Mutex<Info>,
    /// Counters since open (`stats()`).
    pub busy_events: AtomicU64,
    pub extend_skipped: AtomicU64,
    pub backpressure_waits: AtomicU64,
    /// Readers alive (iterators, spans, exports): `close()` refuses while any is.
    pub pins: Pins,
}

/// The open log, held open (shared lock) while this lives.
pub type OpenRef<'a> = MappedRwLockReadGuard<'a, Open>;

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

impl PyTimelog {
    /// The open log (TimelogError if closed), holding the shared state lock so that
    /// `close()` cannot run while the result lives.
    #[inline(always)]
    pub fn open(&self) -> PyResult<OpenRef<'_>> {
        RwLockReadGuard::try_map(self.state.read_recursive(), Option::as_ref).map_err(|_| closed_err())
    }

    /// Runs `f` while the log is open (TimelogError if closed), holding the shared
    /// state lock so that `close()` cannot run meanwhile.
    pub fn while_open<R>(&self, f: impl FnOnce() -> PyResult<R>) -> PyResult<R> {
        let _g = self.open()?;
        f()
    }

    /// Maps what the engine reported for an accepted write to the busy policy.
    #[inline(always)]
    pub fn accepted(&self, py: Python<'_>, open: &Open, acc: Accepted) -> PyResult<()> {
        if acc == Accepted::Clean {
            return Ok(());
        }
        self.busy(py, open)
    }

    #[cold]
    fn busy(&self, py: Python<'_>, open: &Open) -> PyResult<()> {
        // The engine runs with a zero sealed wait, so that any wait for room happens
        // here, without the GIL (the engine's own condvar wait, woken by each flush).
        if open.background && !open.sealed_wait.is_zero() && open.log.maintenance_running() {
            self.backpressure_waits.fetch_add(1, Ordering::Relaxed);
            let wait = open.sealed_wait;
            let log = &open.log;
            if py.detach(|| log.wait_for_room(wait)) {
                return Ok(());
            }
        }
        self.busy_events.fetch_add(1, Ordering::Relaxed);
        match open.policy {
            BusyPolicy::Silent => Ok(()),
            BusyPolicy::Flush => {
                flush_open(py, open);
                Ok(())
            }
            BusyPolicy::Raise => Err(TimelogBusyError::new_err(
                "write accepted but the engine is busy (sealed memtable queue full); the data \
                 IS stored, do not retry it; call flush() or slow down",
            )),
        }
    }
}

/// Flushes everything pending (without the GIL), then releases the payloads the
/// flush retired.
pub fn flush_open(py: Python<'_>, open: &Open) {
    let log = &open.log;
    py.detach(|| {
        log.flush();
        slab::settle_epoch();
    });
    slab::drain(py, open.drain_limit);
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
        let s = Settings::from_dict(options)?;
        let cfg = s.engine_config()?;
        let owner = slab::new_owner()?;
        let log: Engine<PyVal> = py.detach(|| Engine::with_config(cfg));
        let open = Open {
            log,
            owner,
            any_gc: AtomicBool::new(false),
            floor: min_ts,
            unit: s.unit,
            policy: s.policy,
            background: s.background,
            sealed_wait: s.sealed_wait,
            drain_limit: s.drain_limit,
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
            time_unit: s.unit.as_str(),
            maintenance: if s.background { "background" } else { "disabled" },
            busy_policy: s.policy.as_str(),
            floor: min_ts,
            mostly_ordered_default,
        };
        self.busy_events.store(0, Ordering::Relaxed);
        self.extend_skipped.store(0, Ordering::Relaxed);
        self.backpressure_waits.store(0, Ordering::Relaxed);
        Ok(())
    }

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
}
