//! [`Timelog`]: the public handle. Every method forwards to the pipeline
//! (`pipeline/`) or to a snapshot; the handle itself holds no logic of its own.

use std::ops::RangeBounds;
use std::time::Duration;

use crate::config::{Builder, Config, MaintenanceMode};
use crate::error::{Error, Result};
use crate::pipeline::{Op, Pipeline, Workers, Written};
use crate::snapshot::{delete_bounds, Snapshot};
use crate::stats::Stats;
use crate::sync::Arc;
use crate::Value;

/// A lock-free, concurrent, in-memory, time-indexed multimap.
///
/// Records are `(ts, value)` pairs; duplicates are kept; every `i64` is a valid
/// timestamp. All methods take `&self` and the log is `Send + Sync`: any number
/// of threads may write and read at once, without locks on either path. Reads go
/// through a [`Snapshot`], which never changes once taken.
///
/// ```
/// use timelog::Timelog;
/// let log = Timelog::new();
/// let _ = log.append(100, "boot");
/// let _ = log.append_batch([(101, "a"), (99, "late"), (101, "b")]);
/// log.delete_range(100..101).unwrap();
/// let snap = log.snapshot();
/// let all: Vec<_> = snap.range(..).collect();
/// assert_eq!(all, vec![(99, &"late"), (101, &"a"), (101, &"b")]);
/// assert_eq!(snap.last_ts(), Some(101));
/// ```
pub struct Timelog<V: Value> {
    p: Arc<Pipeline<V>>,
    workers: Workers,
}

impl<V: Value> Default for Timelog<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: Value> std::fmt::Debug for Timelog<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timelog").field("config", &self.p.store.cfg).finish_non_exhaustive()
    }
}

impl<V: Value> Timelog<V> {
    /// A builder with every configuration knob; the value type comes from where
    /// the log goes (or a turbofish: `Timelog::<String>::builder()`).
    ///
    /// ```
    /// use timelog::{Timelog, MaintenanceMode};
    /// let log: Timelog<String> = Timelog::builder()
    ///     .maintenance(MaintenanceMode::Manual)
    ///     .build()
    ///     .unwrap();
    /// let cfg = Timelog::<u8>::builder().max_l0_segments(2).config().unwrap();
    /// assert_eq!(cfg.max_l0_segments(), 2);
    /// # drop(log);
    /// ```
    pub fn builder() -> Builder<V> {
        Builder::new()
    }

    /// A log with the default configuration (background maintenance).
    pub fn new() -> Self {
        Self::with_config(Config::default())
    }

    /// A log with a configuration validated by [`Builder::config`].
    pub fn with_config(cfg: Config) -> Self {
        let background = cfg.maintenance == MaintenanceMode::Background;
        let log = Timelog { p: Arc::new(Pipeline::new(cfg)), workers: Workers::new() };
        if background {
            log.workers.start(&log.p);
        }
        log
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.p.store.cfg
    }

    // ----- writes ------------------------------------------------------------------
    //
    // Every write returns a [`Written`]: its sequence numbers (to tell which
    // snapshots see it) and whether maintenance is behind. Callers that want
    // neither ignore it.

    /// Appends one record.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let w = log.append(7, "seven");
    /// assert!(!w.is_backpressure());
    /// assert!(w.visible_in(&log.snapshot()));
    /// assert_eq!(log.point(7), ["seven"]);
    /// ```
    pub fn append(&self, ts: i64, value: V) -> Written {
        self.p.write(Op::One(ts, value))
    }

    /// Appends a batch atomically: a snapshot sees all of it or none of it.
    /// Records with equal timestamps keep the batch's order. The batch holds the
    /// sequence numbers `first_seq .. first_seq + count`; which record has which
    /// number inside that range is not part of the contract.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let w = log.append_batch([(3, 'x'), (1, 'y'), (3, 'z')]);
    /// assert_eq!(w.count, 3);
    /// assert_eq!(log.range_vec(..), vec![(1, 'y'), (3, 'x'), (3, 'z')]);
    /// ```
    pub fn append_batch(&self, records: impl IntoIterator<Item = (i64, V)>) -> Written {
        let (ts, vals): (Vec<i64>, Vec<V>) = records.into_iter().unzip();
        self.append_columns(ts, vals)
    }

    /// Appends a batch given as two equally long columns (atomically, like
    /// [`Timelog::append_batch`]).
    ///
    /// # Panics
    /// If the columns differ in length.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_columns(vec![10, 20], vec!["a", "b"]);
    /// assert_eq!(log.len(), 2);
    /// ```
    pub fn append_columns(&self, ts: Vec<i64>, vals: Vec<V>) -> Written {
        self.p.write(Op::batch(ts, vals))
    }

    /// Deletes every record in `range` written before this call. Records written
    /// later, at any timestamp, are not affected.
    ///
    /// An empty range (`5..5`, `..i64::MIN`) deletes nothing and records nothing
    /// (`count` 0); an inverted one (`5..3`) is [`Error::InvalidRange`].
    ///
    /// ```
    /// use timelog::{Error, Timelog};
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, 'a'), (2, 'b'), (3, 'c')]);
    /// log.delete_range(2..).unwrap();
    /// let _ = log.append(2, 'd'); // written after the delete: kept
    /// assert_eq!(log.delete_range(2..2).unwrap().count, 0);
    /// assert_eq!(log.delete_range(3..1), Err(Error::InvalidRange));
    /// assert_eq!(log.range_vec(..), vec![(1, 'a'), (2, 'd')]);
    /// ```
    pub fn delete_range(&self, range: impl RangeBounds<i64>) -> Result<Written> {
        Ok(match delete_bounds(&range)? {
            Some((lo, hi)) => self.p.write(Op::Tomb(lo, hi)),
            None => self.p.write(Op::Records(Vec::new(), Vec::new())),
        })
    }

    /// Deletes every record with a timestamp below `ts` (written before this call).
    /// `delete_before(i64::MIN)` deletes nothing.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(i64::MIN, 0), (0, 1), (5, 2)]);
    /// log.delete_before(5).unwrap();
    /// log.delete_before(i64::MIN).unwrap();
    /// assert_eq!(log.range_vec(..), vec![(5, 2)]);
    /// ```
    pub fn delete_before(&self, ts: i64) -> Result<Written> {
        self.delete_range(..ts)
    }

    // ----- reads -------------------------------------------------------------------

    /// A consistent, immutable view of the log. O(1).
    pub fn snapshot(&self) -> Snapshot<V> {
        self.p.snapshot()
    }

    /// Number of visible records in `r` (on a fresh snapshot).
    pub fn count(&self, r: impl RangeBounds<i64>) -> usize {
        self.snapshot().count(r)
    }

    /// Number of visible records.
    pub fn len(&self) -> usize {
        self.count(..)
    }

    /// Whether no record is visible.
    pub fn is_empty(&self) -> bool {
        self.snapshot().is_empty()
    }

    /// Clones of the records in `r` (on a fresh snapshot).
    pub fn range_vec(&self, r: impl RangeBounds<i64>) -> Vec<(i64, V)> {
        self.snapshot().range(r).map(|(t, v)| (t, v.clone())).collect()
    }

    /// Clones of the values at exactly `ts`, in insertion order.
    pub fn point(&self, ts: i64) -> Vec<V> {
        self.snapshot().point(ts).cloned().collect()
    }

    /// Smallest visible timestamp.
    pub fn first_ts(&self) -> Option<i64> {
        self.snapshot().first_ts()
    }

    /// Largest visible timestamp.
    pub fn last_ts(&self) -> Option<i64> {
        self.snapshot().last_ts()
    }

    /// Smallest visible timestamp strictly above `ts`.
    pub fn next_ts(&self, ts: i64) -> Option<i64> {
        self.snapshot().next_ts(ts)
    }

    /// Largest visible timestamp strictly below `ts`.
    pub fn prev_ts(&self, ts: i64) -> Option<i64> {
        self.snapshot().prev_ts(ts)
    }

    // ----- maintenance -------------------------------------------------------------

    /// Seals the active memtable and flushes every memtable into L0 segments
    /// before returning (whatever the maintenance mode).
    pub fn flush(&self) {
        self.p.flush_all();
    }

    /// Asks for a compaction of every L0 segment: done by the worker soon in
    /// background mode, by the next [`Timelog::maint_step`] in manual mode.
    pub fn compact(&self) {
        self.p.request_compaction();
    }

    /// Runs a flush and full compaction now, on this thread, and returns when done.
    pub fn compact_now(&self) {
        self.p.compact_now();
    }

    /// Manual mode: performs one unit of maintenance (flush the sealed memtables,
    /// or one compaction) and reports whether there was any.
    /// In background mode it returns [`Error::WrongMode`].
    pub fn maint_step(&self) -> Result<bool> {
        if self.p.store.cfg.maintenance != MaintenanceMode::Manual {
            return Err(Error::WrongMode);
        }
        Ok(self.p.step())
    }

    /// Starts the background worker (background mode only; no-op if running).
    pub fn start_maintenance(&self) -> Result<()> {
        if self.p.store.cfg.maintenance != MaintenanceMode::Background {
            return Err(Error::WrongMode);
        }
        self.workers.start(&self.p);
        Ok(())
    }

    /// Stops the background worker and waits for it (background mode only; no-op if
    /// stopped). Writes keep working; memtables pile up until it is restarted or
    /// `flush` is called.
    pub fn stop_maintenance(&self) -> Result<()> {
        if self.p.store.cfg.maintenance != MaintenanceMode::Background {
            return Err(Error::WrongMode);
        }
        self.workers.stop(&*self.p);
        Ok(())
    }

    /// Sealed memtables waiting for flush (cheap: one manifest load).
    pub fn sealed_queue_len(&self) -> usize {
        let store = &self.p.store;
        let guard = store.manifest.pin();
        store.manifest.load(&guard).memruns.len()
    }

    /// Waits until the sealed queue is within `sealed_max_runs` or `timeout` passes;
    /// returns whether there is room. Meant for callers that build the log with a
    /// zero `sealed_wait` (writes never block) and wait on their own terms, for
    /// example without holding an interpreter lock. Returns at once in manual mode
    /// or when the workers are stopped, since nothing would make room.
    pub fn wait_for_room(&self, timeout: Duration) -> bool {
        self.p.wait_for_room(timeout)
    }

    /// Whether the background workers are running.
    pub fn maintenance_running(&self) -> bool {
        self.p.workers_running()
    }

    // ----- introspection -------------------------------------------------------------

    /// Model checkers only: manifest boxes `(retired, freed)` so far.
    #[cfg(any(timelog_loom, timelog_shuttle))]
    #[doc(hidden)]
    pub fn model_manifest_reclaim(&self) -> (usize, usize) {
        (
            self.p.store.manifest.retired_count.load(crate::sync::Ordering::SeqCst),
            self.p.store.manifest.freed_count.load(crate::sync::Ordering::SeqCst),
        )
    }

    /// Layer counts, exact visible record count, bounds and counters.
    pub fn stats(&self) -> Stats {
        self.p.stats()
    }

    /// Checks the structural invariants: sorted pages, fences, L1 segments inside
    /// their aligned windows and not overlapping, memtable runs sorted, counts
    /// consistent.
    pub fn validate(&self) -> Result<()> {
        self.p.store.validate()
    }
}

impl<V: Value> Drop for Timelog<V> {
    fn drop(&mut self) {
        self.workers.stop(&*self.p);
    }
}
