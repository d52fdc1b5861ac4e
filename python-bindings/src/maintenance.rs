//! Maintenance of `Timelog`: `flush`, `compact`, `maint_step`, starting and stopping
//! the background worker, and `validate`. Each call that lets the engine retire
//! records then releases the payloads it retired.

use pyo3::prelude::*;

use crate::coerce::engine_err;
use crate::slab;
use crate::state::{flush_open, PyTimelog};

#[pymethods]
impl PyTimelog {
    /// Seals and flushes everything pending into L0 segments (synchronous, without
    /// the GIL).
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let g = self.open()?;
        let open = &*g;
        flush_open(py, open);
        Ok(())
    }

    /// Requests a compaction (background: the worker does it soon; disabled: the
    /// next `maint_step()` does it).
    fn compact(&self, py: Python<'_>) -> PyResult<()> {
        let g = self.open()?;
        let open = &*g;
        open.log.compact();
        slab::drain(py, open.drain_limit);
        Ok(())
    }

    /// Disabled mode: performs one unit of maintenance (flush sealed memtables, or
    /// one compaction) without the GIL; returns whether there was any. Background
    /// mode: TimelogError.
    fn maint_step(&self, py: Python<'_>) -> PyResult<bool> {
        let g = self.open()?;
        let open = &*g;
        let log = &open.log;
        let r = py.detach(|| {
            let r = log.maint_step();
            slab::settle_epoch();
            r
        });
        slab::drain(py, open.drain_limit);
        r.map_err(engine_err)
    }

    /// Starts the background worker (no-op if running). Disabled mode: TimelogError.
    fn start_maintenance(&self) -> PyResult<()> {
        let g = self.open()?;
        g.log.start_maintenance().map_err(engine_err)
    }

    /// Stops the background worker and waits for it (idempotent; no-op in disabled
    /// mode).
    fn stop_maintenance(&self, py: Python<'_>) -> PyResult<()> {
        let g = self.open()?;
        let open = &*g;
        if !open.background {
            return Ok(());
        }
        let log = &open.log;
        py.detach(|| log.stop_maintenance()).map_err(engine_err)
    }

    /// Checks the engine's invariants on a fresh snapshot (TimelogError if broken).
    fn validate(&self, py: Python<'_>) -> PyResult<()> {
        let g = self.open()?;
        let log = &g.log;
        py.detach(|| log.validate()).map_err(engine_err)
    }
}
