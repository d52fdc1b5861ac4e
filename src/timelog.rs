//! [`Timelog`]: the public handle. Every method forwards to the pipeline
//! (`pipeline/`) or to a snapshot; the handle itself holds no logic of its own.

use std::ops::RangeBounds;
use std::time::Duration;

use crate::bounds::delete_bounds;
use crate::config::{Builder, Config, MaintenanceMode};
use crate::error::{Error, Result};
use crate::outcome::Written;
use crate::pipeline::{Op, Pipeline, Workers};
use crate::snapshot::Snapshot;
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
    ///
    /// ```
    /// use timelog::{MaintenanceMode, Timelog};
    /// let log: Timelog<String> = Timelog::new();
    /// assert_eq!(log.config().maintenance(), MaintenanceMode::Background);
    /// ```
    pub fn new() -> Self {
        Self::with_config(Config::default())
    }

    /// A log with a configuration validated by [`Builder::config`].
    ///
    /// ```
    /// use timelog::{MaintenanceMode, Timelog};
    /// let cfg = Timelog::<u8>::builder().maintenance(MaintenanceMode::Manual).config().unwrap();
    /// let log = Timelog::<u8>::with_config(cfg.clone());
    /// assert_eq!(log.config(), &cfg);
    /// ```
    pub fn with_config(cfg: Config) -> Self {
        let background = cfg.maintenance == MaintenanceMode::Background;
        let log = Timelog { p: Arc::new(Pipeline::new(cfg)), workers: Workers::new() };
        if background {
            log.workers.start(&log.p);
        }
        log
    }

    /// The configuration in force.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log: Timelog<u8> = Timelog::builder().max_l0_segments(3).build().unwrap();
    /// assert_eq!(log.config().max_l0_segments(), 3);
    /// ```
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
            Some((lo, hi)) => self.p.write(Op::Tomb(lo, hi, None)),
            None => self.p.write(Op::Records(Vec::new(), Vec::new())),
        })
    }

    /// Moves a range out of the log without losing late data: hands `export` a
    /// snapshot and, if it returns `Ok`, deletes from the log exactly the records
    /// in `range` that this snapshot holds. Records written into the range after
    /// the snapshot was taken (late data, other writers) stay in the log, and so
    /// does everything if `export` fails or panics. Returns what `export` returned.
    ///
    /// This is the step under [`Timelog::archive`] (Parquet files), for any other
    /// destination. The snapshot is taken at a seal point (the active memtable
    /// is sealed), and until the delete is visible, compaction does not merge
    /// data written before it with data written after it over `range` (it resumes
    /// at the next round). An empty range deletes nothing; an inverted one is
    /// [`Error::InvalidRange`] and `export` is not called.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, "a"), (2, "b"), (9, "c")]);
    /// let shipped = log
    ///     .evict(..5, |snap| {
    ///         // A late record for the same range arrives while the export runs ...
    ///         let _ = log.append(3, "late");
    ///         // ... which this snapshot does not see, so it is not deleted.
    ///         Ok(snap.range(..5).map(|(t, v)| (t, *v)).collect::<Vec<_>>())
    ///     })
    ///     .unwrap();
    /// assert_eq!(shipped, [(1, "a"), (2, "b")]);
    /// assert_eq!(log.range_vec(..), [(3, "late"), (9, "c")]);
    /// ```
    pub fn evict<T>(
        &self,
        range: impl RangeBounds<i64>,
        export: impl FnOnce(&Snapshot<V>) -> Result<T>,
    ) -> Result<T> {
        let Some((lo, hi)) = delete_bounds(&range)? else {
            return export(&self.snapshot());
        };
        /// Ends the fence however `evict` ends (an error or a panic in `export`:
        /// no delete).
        struct Unfence<'a, V: Value>(&'a Pipeline<V>, u64, Option<u64>);
        impl<V: Value> Drop for Unfence<'_, V> {
            fn drop(&mut self) {
                self.0.unfence(self.1, self.2);
            }
        }
        let (snap, id) = self.p.fenced_snapshot(lo, hi);
        let mut fence = Unfence(&self.p, id, None);
        let out = export(&snap)?;
        fence.2 = Some(self.p.delete_below(lo, hi, snap.w).first_seq);
        Ok(out)
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
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append(1, 'a');
    /// let snap = log.snapshot();
    /// let _ = log.append(2, 'b');
    /// assert_eq!(snap.len(), 1); // taken before the second write
    /// ```
    pub fn snapshot(&self) -> Snapshot<V> {
        self.p.snapshot()
    }

    /// Number of visible records in `r` (on a fresh snapshot).
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, ()), (2, ()), (2, ()), (9, ())]);
    /// assert_eq!(log.count(2..9), 2);
    /// assert_eq!(log.count(..=9), 4);
    /// ```
    pub fn count(&self, r: impl RangeBounds<i64>) -> usize {
        self.snapshot().count(r)
    }

    /// Number of visible records.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, 'a'), (1, 'b')]);
    /// assert_eq!(log.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.count(..)
    }

    /// Whether no record is visible.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// assert!(log.is_empty());
    /// let _ = log.append(0, ());
    /// log.delete_range(..).unwrap();
    /// assert!(log.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.snapshot().is_empty()
    }

    /// Clones of the records in `r` (on a fresh snapshot).
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(5, "e"), (1, "a"), (3, "c")]);
    /// assert_eq!(log.range_vec(2..), vec![(3, "c"), (5, "e")]);
    /// ```
    pub fn range_vec(&self, r: impl RangeBounds<i64>) -> Vec<(i64, V)> {
        self.snapshot().range(r).map(|(t, v)| (t, v.clone())).collect()
    }

    /// Clones of the values at exactly `ts`, in insertion order.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append(4, "first");
    /// let _ = log.append(4, "second");
    /// assert_eq!(log.point(4), ["first", "second"]);
    /// assert!(log.point(5).is_empty());
    /// ```
    pub fn point(&self, ts: i64) -> Vec<V> {
        self.snapshot().point(ts).cloned().collect()
    }

    /// Smallest visible timestamp.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// assert_eq!(log.first_ts(), None);
    /// let _ = log.append_batch([(8, ()), (-3, ())]);
    /// assert_eq!(log.first_ts(), Some(-3));
    /// ```
    pub fn first_ts(&self) -> Option<i64> {
        self.snapshot().first_ts()
    }

    /// Largest visible timestamp.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(8, ()), (i64::MAX, ())]);
    /// assert_eq!(log.last_ts(), Some(i64::MAX));
    /// ```
    pub fn last_ts(&self) -> Option<i64> {
        self.snapshot().last_ts()
    }

    /// Smallest visible timestamp strictly above `ts`.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, ()), (5, ()), (9, ())]);
    /// assert_eq!(log.next_ts(1), Some(5));
    /// assert_eq!(log.next_ts(9), None);
    /// ```
    pub fn next_ts(&self, ts: i64) -> Option<i64> {
        self.snapshot().next_ts(ts)
    }

    /// Largest visible timestamp strictly below `ts`.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, ()), (5, ()), (9, ())]);
    /// assert_eq!(log.prev_ts(9), Some(5));
    /// assert_eq!(log.prev_ts(1), None);
    /// ```
    pub fn prev_ts(&self, ts: i64) -> Option<i64> {
        self.snapshot().prev_ts(ts)
    }

    // ----- maintenance -------------------------------------------------------------

    /// Seals the active memtable and flushes every memtable into L0 segments
    /// before returning (whatever the maintenance mode).
    ///
    /// ```
    /// use timelog::{MaintenanceMode, Timelog};
    /// let log: Timelog<u8> = Timelog::builder().maintenance(MaintenanceMode::Manual).build().unwrap();
    /// let _ = log.append(1, 1);
    /// log.flush();
    /// assert_eq!(log.stats().l0_segments, 1);
    /// assert_eq!(log.stats().memtable_records, 0);
    /// ```
    pub fn flush(&self) {
        self.p.flush_all();
    }

    /// Asks for a compaction of every L0 segment: done by the worker soon in
    /// background mode, by the next [`Timelog::maint_step`] in manual mode.
    ///
    /// ```
    /// use timelog::{MaintenanceMode, Timelog};
    /// let log: Timelog<u8> = Timelog::builder().maintenance(MaintenanceMode::Manual).build().unwrap();
    /// let _ = log.append(1, 1);
    /// log.flush();
    /// log.compact();
    /// while log.maint_step().unwrap() {}
    /// assert_eq!((log.stats().l0_segments, log.stats().l1_segments), (0, 1));
    /// ```
    pub fn compact(&self) {
        self.p.request_compaction();
    }

    /// Runs a flush and full compaction now, on this thread, and returns when
    /// done: every record ends up in L1, and deleted records are gone.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch((0..100).map(|t| (t, t)));
    /// log.delete_range(..50).unwrap();
    /// log.compact_now();
    /// let st = log.stats();
    /// assert_eq!((st.l0_segments, st.records, st.dead_records), (0, 50, 0));
    /// ```
    pub fn compact_now(&self) {
        self.p.compact_now();
    }

    /// Manual mode: performs one unit of maintenance (flush the sealed memtables,
    /// or one compaction) and reports whether there was any.
    /// In background mode it returns [`Error::WrongMode`].
    ///
    /// ```
    /// use timelog::{Error, MaintenanceMode, Timelog};
    /// let log: Timelog<u64> = Timelog::builder()
    ///     .maintenance(MaintenanceMode::Manual)
    ///     .memtable_max_bytes(1024)
    ///     .build()
    ///     .unwrap();
    /// let _ = log.append_batch((0..1000).map(|t| (t, t as u64)));
    /// while log.maint_step().unwrap() {} // flushes what was sealed
    /// assert!(log.stats().l0_segments + log.stats().l1_segments > 0);
    /// assert_eq!(Timelog::<u64>::new().maint_step(), Err(Error::WrongMode));
    /// ```
    pub fn maint_step(&self) -> Result<bool> {
        if self.p.store.cfg.maintenance != MaintenanceMode::Manual {
            return Err(Error::WrongMode);
        }
        Ok(self.p.step())
    }

    /// Starts the background workers (background mode only; no-op if running).
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::<u8>::new();
    /// log.stop_maintenance().unwrap();
    /// assert!(!log.maintenance_running());
    /// log.start_maintenance().unwrap();
    /// assert!(log.maintenance_running());
    /// ```
    pub fn start_maintenance(&self) -> Result<()> {
        if self.p.store.cfg.maintenance != MaintenanceMode::Background {
            return Err(Error::WrongMode);
        }
        self.workers.start(&self.p);
        Ok(())
    }

    /// Stops the background workers and waits for them (background mode only;
    /// no-op if stopped). Writes keep working; memtables pile up until they are
    /// restarted or `flush` is called.
    ///
    /// ```
    /// use timelog::{Error, MaintenanceMode, Timelog};
    /// let log = Timelog::<u8>::new();
    /// log.stop_maintenance().unwrap();
    /// let _ = log.append(1, 1); // still accepted
    /// assert_eq!(log.len(), 1);
    /// let manual: Timelog<u8> = Timelog::builder().maintenance(MaintenanceMode::Manual).build().unwrap();
    /// assert_eq!(manual.stop_maintenance(), Err(Error::WrongMode));
    /// ```
    pub fn stop_maintenance(&self) -> Result<()> {
        if self.p.store.cfg.maintenance != MaintenanceMode::Background {
            return Err(Error::WrongMode);
        }
        self.workers.stop(&*self.p);
        Ok(())
    }

    /// Sealed memtables waiting for flush (cheap: one manifest load).
    ///
    /// ```
    /// use timelog::{MaintenanceMode, Timelog};
    /// let log: Timelog<u64> = Timelog::builder()
    ///     .maintenance(MaintenanceMode::Manual)
    ///     .memtable_max_bytes(256)
    ///     .build()
    ///     .unwrap();
    /// for t in 0..200 {
    ///     let _ = log.append(t, 0);
    /// }
    /// assert!(log.sealed_queue_len() > 0);
    /// log.flush();
    /// assert_eq!(log.sealed_queue_len(), 0);
    /// ```
    pub fn sealed_queue_len(&self) -> usize {
        let store = &self.p.store;
        let guard = store.manifest.pin();
        store.manifest.load(&guard).memruns.len()
    }

    /// Waits until maintenance has room — the sealed queue within
    /// `sealed_max_runs` and, while the workers run, L0 within twice
    /// `max_l0_segments` — or `timeout` passes; returns whether there is room.
    /// Meant for callers that build the log with a zero `sealed_wait` (writes never
    /// block) and wait on their own terms, for example without holding an
    /// interpreter lock. Returns at once in manual mode or when the workers are
    /// stopped, since nothing would make room.
    ///
    /// ```
    /// use std::time::Duration;
    /// use timelog::Timelog;
    /// let log: Timelog<u8> = Timelog::builder().sealed_wait(Duration::ZERO).build().unwrap();
    /// let _ = log.append(1, 1);
    /// assert!(log.wait_for_room(Duration::from_secs(1)));
    /// ```
    pub fn wait_for_room(&self, timeout: Duration) -> bool {
        self.p.wait_for_room(timeout)
    }

    /// Whether the background workers are running.
    ///
    /// ```
    /// use timelog::{MaintenanceMode, Timelog};
    /// assert!(Timelog::<u8>::new().maintenance_running());
    /// let manual: Timelog<u8> = Timelog::builder().maintenance(MaintenanceMode::Manual).build().unwrap();
    /// assert!(!manual.maintenance_running());
    /// ```
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
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(3, 'x'), (7, 'y')]);
    /// let st = log.stats();
    /// assert_eq!((st.records, st.min_ts, st.max_ts), (2, Some(3), Some(7)));
    /// ```
    pub fn stats(&self) -> Stats {
        self.p.stats()
    }

    /// Checks the structural invariants: sorted pages, fences, L1 segments inside
    /// their aligned windows and not overlapping, memtable runs sorted, counts
    /// consistent. [`Error::Corrupt`] says which one failed.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch((0..1000).map(|t| (t % 17, t)));
    /// log.compact_now();
    /// assert_eq!(log.validate(), Ok(()));
    /// ```
    pub fn validate(&self) -> Result<()> {
        self.p.store.validate()
    }
}

impl<V: Value> Drop for Timelog<V> {
    fn drop(&mut self) {
        self.workers.stop(&*self.p);
    }
}
