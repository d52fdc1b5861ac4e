//! Statistics of `Timelog`: `stats()` (the nested dict of timelog-lib 1.4.0, keys
//! and groups as it has them, filled from the engine's figures and the binding's own
//! counters), the counters readable as attributes, and `_engine_memory_bytes()`.

use std::sync::atomic::Ordering;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::slab;
use crate::state::PyTimelog;

#[pymethods]
impl PyTimelog {
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

    /// Engine statistics as a new nested dict (fresh snapshot).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let g = self.open()?;
        let open = &*g;
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
        let g = self.open()?;
        let s = g.log.stats();
        Ok((s.memory_bytes, s.records * 12))
    }
}
