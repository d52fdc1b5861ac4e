//! The write pipeline, stage by stage:
//!
//! ```text
//!   write ──► memtable full? ──► seal ──► flush ──► compaction
//!  (write.rs)               (seal.rs)  (flush.rs)  (compaction/)
//!                                 ▲  maintenance.rs schedules flush and
//!                                 │  compaction (background threads or
//!                                 │  manual steps); signal.rs wakes them
//!                                 └─ and holds writers back (backpressure)
//! ```
//!
//! Each stage owns its state (the flusher's lock; the compactor's lock, window
//! controller and requests; the scheduler's release clock) and takes the
//! [`Store`] — configuration, sequencer, manifest, counters — and the
//! [`Signals`] as narrow handles. Dependencies point one way: maintenance →
//! flush, compaction; write → seal; flush → seal; every stage → signal and the
//! store; nothing below calls up.

mod archive;
mod compaction;
mod flush;
mod maintenance;
mod seal;
mod signal;
mod write;

use std::time::Duration;

use crate::config::{Config, MaintenanceMode};
use crate::outcome::Written;
use crate::snapshot::Snapshot;
use crate::stats::Stats;
use crate::store::Store;
use crate::sync::{is_current, spawn, Arc, JoinHandle, Mutex};
use crate::Value;

pub(crate) use maintenance::Maintenance;
pub(crate) use signal::Signals;
pub(crate) use write::Op;

/// One log's pipeline: the store and the stages, shared by the handle and the
/// background threads.
pub(crate) struct Pipeline<V> {
    pub(crate) store: Store<V>,
    signals: Signals,
    maint: Maintenance,
}

impl<V: Value> Pipeline<V> {
    pub(crate) fn new(cfg: Config) -> Self {
        Pipeline {
            signals: Signals::new(cfg.maintenance == MaintenanceMode::Background),
            maint: Maintenance::new(&cfg),
            store: Store::new(cfg),
        }
    }

    /// Publishes one write (see [`write::publish`]).
    #[inline]
    pub(crate) fn write(&self, op: Op<V>) -> Written {
        write::publish(&self.store, &self.signals, op)
    }

    pub(crate) fn snapshot(&self) -> Snapshot<V> {
        self.store.snapshot()
    }

    pub(crate) fn flush_all(&self) {
        self.maint.flush_all(&self.store, &self.signals);
    }

    pub(crate) fn compact_now(&self) {
        self.maint.compact_now(&self.store, &self.signals);
    }

    pub(crate) fn request_compaction(&self) {
        self.maint.request_compaction(&self.signals);
    }

    pub(crate) fn step(&self) -> bool {
        self.maint.step(&self.store, &self.signals)
    }

    /// Waits up to `timeout` until maintenance has room for more memtables.
    pub(crate) fn wait_for_room(&self, timeout: Duration) -> bool {
        seal::wait_for_room(&self.store, &self.signals, timeout)
    }

    /// Whether the background workers run.
    pub(crate) fn workers_running(&self) -> bool {
        self.signals.running()
    }

    pub(crate) fn stats(&self) -> Stats {
        crate::stats::collect(&self.store, self.maint.window_report())
    }
}

/// The background threads of one log.
pub(crate) struct Workers {
    handles: Mutex<Vec<JoinHandle<()>>>,
}

impl Workers {
    pub(crate) fn new() -> Self {
        Workers { handles: Mutex::new(Vec::new()) }
    }

    /// Starts the threads (no-op if they run).
    pub(crate) fn start<V: Value>(&self, p: &Arc<Pipeline<V>>) {
        let mut w = self.handles.lock();
        if !w.is_empty() {
            return;
        }
        // Catch up on whatever piled up while stopped.
        p.signals.restart();
        p.signals.set_running(true);
        for &(role, name) in maintenance::WORKERS {
            let p = p.clone();
            w.push(spawn(name, move || p.maint.worker_loop(&p.store, &p.signals, role)));
        }
    }

    /// Stops the threads and waits for them (no-op if stopped).
    ///
    /// May run on one of the workers itself: a value dropped by maintenance can own
    /// the log's last handle (or stop it). That worker is not waited for — a
    /// thread cannot join itself — and leaves its loop once the drop returns; its
    /// own reference keeps the pipeline alive until then. The lock is held
    /// throughout, so that a concurrent `start` cannot restart the signals while
    /// the old workers are still being joined.
    pub(crate) fn stop<V: Value>(&self, p: &Pipeline<V>) {
        let mut w = self.handles.lock();
        if w.is_empty() {
            return;
        }
        p.signals.stop();
        for h in w.drain(..) {
            if !is_current(&h) {
                let _ = h.join();
            }
        }
        p.signals.set_running(false);
        // Writers waiting for room must not wait for workers that are gone.
        p.signals.notify_room();
    }
}
