//! Maintenance scheduling: who runs flushes and compactions, and when.
//!
//! In background mode two threads run [`Maintenance::worker_loop`]: the flusher
//! (sealed memtables to L0) and the compactor (L0 to L1, deleted data out). They
//! sleep on [`Signals`] until a seal, a flush or a request wakes them, or the
//! wake-up period passes. In manual mode the caller drives the same steps with
//! [`Maintenance::step`]. Flushes and compactions have locks of their own, so a
//! long compaction never holds up the flushes that keep writers out of
//! backpressure; results are installed with one manifest update each, so readers
//! and writers never wait for maintenance.

use std::time::{Duration, Instant};

use crate::config::Config;
use crate::stats::WindowReport;
use crate::store::Store;
use crate::sync::Mutex;
use crate::Value;

use super::compaction::Compactor;
use super::flush::{Flushed, Flusher};
use super::seal;
use super::signal::Signals;

/// Shortest time between two background calls of [`Maintenance::release_memory`].
const RELEASE_INTERVAL: Duration = Duration::from_millis(250);

/// A background thread's job.
#[derive(Clone, Copy)]
#[cfg_attr(any(timelog_loom, timelog_shuttle), allow(dead_code))]
pub(crate) enum Role {
    Flusher,
    Compactor,
    /// Both jobs on one thread: used under model checkers, which bound the number
    /// of threads (loom allows five in all).
    #[cfg_attr(not(any(timelog_loom, timelog_shuttle)), allow(dead_code))]
    Both,
}

/// The background threads, with their names.
#[cfg(not(any(timelog_loom, timelog_shuttle)))]
pub(crate) const WORKERS: &[(Role, &str)] =
    &[(Role::Flusher, "timelog-flush"), (Role::Compactor, "timelog-compact")];
#[cfg(any(timelog_loom, timelog_shuttle))]
pub(crate) const WORKERS: &[(Role, &str)] = &[(Role::Both, "timelog-maint")];

/// The maintenance stage: the flush and compaction stages it drives, and when
/// memory was last handed back to the system.
pub(crate) struct Maintenance {
    flusher: Flusher,
    compactor: Compactor,
    last_release: Mutex<Option<Instant>>,
}

impl Maintenance {
    pub(crate) fn new(cfg: &Config) -> Self {
        Maintenance {
            flusher: Flusher::new(),
            compactor: Compactor::new(cfg),
            last_release: Mutex::new(None),
        }
    }

    /// The loop of one background thread, until [`Signals::stop`].
    pub(crate) fn worker_loop<V: Value>(&self, store: &Store<V>, signals: &Signals, role: Role) {
        let period = store.cfg.maintenance_wakeup;
        loop {
            let wanted = |p: &super::signal::Pending| match role {
                Role::Flusher => p.flush,
                Role::Compactor => p.compact,
                Role::Both => p.flush || p.compact,
            };
            let take = |p: &mut super::signal::Pending| match role {
                Role::Flusher => p.flush = false,
                Role::Compactor => p.compact = false,
                Role::Both => (p.flush, p.compact) = (false, false),
            };
            if signals.wait_work(period, wanted, take).is_none() {
                return;
            }
            // Also on idle wake-ups: garbage retired by the last round is handed
            // to the graveyard by some later pin, and must not wait there for the
            // next write to be freed.
            store.manifest.tidy();
            seal::drain(store, signals, false);
            if matches!(role, Role::Flusher | Role::Both) {
                while self.flush(store, signals, false, true) {
                    seal::drain(store, signals, false);
                    if store.manifest.current().l0.len() > store.cfg.max_l0_segments {
                        signals.wake_compactor();
                    }
                }
            }
            if matches!(role, Role::Compactor | Role::Both) {
                let mut worked = false;
                while self.compactor.due(store) && self.compactor.compact_once(store, signals, false, true) {
                    seal::drain(store, signals, false);
                    worked = true;
                    if signals.stopping() {
                        return;
                    }
                }
                if worked {
                    self.release_memory(store, signals, false);
                }
            }
        }
    }

    /// One unit of maintenance (manual mode): flush the complete memruns, or else
    /// run one compaction; `true` if there was work.
    pub(crate) fn step<V: Value>(&self, store: &Store<V>, signals: &Signals) -> bool {
        let worked = self.flush(store, signals, false, false)
            || self.compactor.compact_once(store, signals, false, false);
        seal::drain(store, signals, false);
        worked
    }

    /// Seals the active memtable and flushes everything, then frees what that retired.
    pub(crate) fn flush_all<V: Value>(&self, store: &Store<V>, signals: &Signals) {
        self.flusher.flush_all(store, signals, |done| self.after_flush(signals, &done));
        // Settled: return what the flushes (and compactions so far) retired.
        self.release_memory(store, signals, true);
    }

    /// [`Maintenance::flush_all`], then compactions until none is left, forced to
    /// take every L0 segment and every segment holding deleted records.
    pub(crate) fn compact_now<V: Value>(&self, store: &Store<V>, signals: &Signals) {
        self.flush_all(store, signals);
        while self.compactor.compact_once(store, signals, true, false) {
            seal::drain(store, signals, false);
        }
        self.release_memory(store, signals, true);
    }

    /// Runs `f` between two compaction rounds, if none runs now.
    pub(crate) fn between_compactions<R>(&self, f: impl FnOnce() -> R) -> Option<R> {
        self.compactor.between_rounds(f)
    }

    /// Asks for a full compaction: by the compactor thread soon in background
    /// mode, by the next [`Maintenance::step`] in manual mode.
    pub(crate) fn request_compaction(&self, signals: &Signals) {
        self.compactor.request();
        signals.wake_compactor();
    }

    /// What `stats()` shows of the window controller.
    pub(crate) fn window_report(&self) -> WindowReport {
        self.compactor.window_report()
    }

    /// Flushes the complete memruns; `true` if there were any. `direct` (the
    /// background worker's flushes) lets records that overlap nothing go straight
    /// to L1; explicit steps and `flush()` write L0 only, as documented.
    fn flush<V: Value>(&self, store: &Store<V>, signals: &Signals, wait: bool, direct: bool) -> bool {
        let direct = direct.then(|| self.compactor.window());
        match self.flusher.flush(store, signals, wait, direct) {
            Some(done) => {
                self.after_flush(signals, &done);
                true
            }
            None => false,
        }
    }

    fn after_flush(&self, signals: &Signals, done: &Flushed) {
        if self.compactor.note_flush(done) {
            signals.wake_compactor();
        }
    }

    /// Frees what maintenance retired (epoch garbage: replaced manifests and the
    /// segments, memruns and values only they held; no stage lock is held by the
    /// callers, so user drops may run) and asks the allocator to
    /// return free pages to the system. Without `force`, at most once per
    /// [`RELEASE_INTERVAL`]: the allocator's walk costs about a millisecond per
    /// hundred megabytes of heap, and holds its locks meanwhile.
    fn release_memory<V: Value>(&self, store: &Store<V>, signals: &Signals, force: bool) {
        {
            let mut last = self.last_release.lock();
            let now = Instant::now();
            if !force && last.is_some_and(|t| now.duration_since(t) < RELEASE_INTERVAL) {
                return;
            }
            *last = Some(now);
        }
        // `reclaim` ends by dropping what it parked (and what was parked before).
        store.manifest.reclaim();
        seal::drain(store, signals, false);
        crate::hint::release_free_memory();
    }
}
