//! [`Timelog`]: the public handle, the write path and the seal protocol.

use std::ops::RangeBounds;
use std::time::Instant;

use crate::config::{Builder, Config, MaintenanceMode};
use crate::error::{Error, Result};
use crate::maintenance::MaintState;
use crate::manifest::{Guard, Manifest, ManifestCell};
use crate::memtable::{sort_batch, Memtable, Run, SMALL_BATCH};
use crate::segment::Level;
use crate::seq::Sequencer;
use crate::snapshot::{delete_bounds, Snapshot};
use crate::stats::{Counters, Stats};
use crate::sync::{spawn, spin_loop, Arc, AtomicBool, AtomicU64, Condvar, JoinHandle, Mutex, Ordering};
use crate::tombstone::{Tomb, TombIndex};
use crate::Value;

/// What a write reports. The write itself is always accepted and durable in
/// memory; `Backpressure` says that maintenance is behind — the sealed-memtable
/// queue is over `sealed_max_runs`, or (background maintenance) L0 holds more
/// than twice `max_l0_segments` segments — and the writer waited up to `sealed_wait`
/// without it catching up, so the caller may want to slow down or call
/// [`Timelog::flush`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Accepted, no pressure.
    Clean,
    /// Accepted, but the sealed queue is over its limit.
    Backpressure,
}

impl Accepted {
    /// `true` for [`Accepted::Backpressure`].
    pub fn is_backpressure(self) -> bool {
        self == Accepted::Backpressure
    }
}

/// A write with its sequence numbers, from the `*_tracked` write methods.
///
/// A snapshot sees the write iff its [`Snapshot::watermark`] is above the write's
/// sequence numbers; a batch's numbers are consecutive and it is seen whole.
///
/// ```
/// use timelog::Timelog;
/// let log = Timelog::new();
/// let before = log.snapshot();
/// let w = log.append_batch_tracked([(1, 'a'), (2, 'b')]);
/// assert!(!w.visible_in(&before));
/// assert!(w.visible_in(&log.snapshot()));
/// assert_eq!(w.last_seq(), w.first_seq + 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Sequence number of the first record (or of the delete).
    pub first_seq: u64,
    /// How many sequence numbers the write took (records of a batch; 1 for a delete).
    pub count: u64,
    /// Whether backpressure occurred.
    pub accepted: Accepted,
}

impl Written {
    /// Sequence number of the last record.
    pub fn last_seq(&self) -> u64 {
        self.first_seq + self.count.max(1) - 1
    }

    /// Whether `snap` sees this write.
    pub fn visible_in<V: Value>(&self, snap: &Snapshot<V>) -> bool {
        self.count == 0 || self.last_seq() < snap.watermark()
    }
}

pub(crate) struct Signal {
    /// Sealed memtables are waiting for the flusher.
    pub(crate) flush: bool,
    /// A compaction may be due.
    pub(crate) compact: bool,
    /// The workers must exit.
    pub(crate) stop: bool,
}

/// The two background threads.
#[derive(Clone, Copy)]
#[cfg_attr(any(timelog_loom, timelog_shuttle), allow(dead_code))]
enum Role {
    Flusher,
    Compactor,
    /// Both jobs on one thread: used under model checkers, which bound the number
    /// of threads (loom allows five in all).
    #[cfg_attr(not(any(timelog_loom, timelog_shuttle)), allow(dead_code))]
    Both,
}

#[cfg(not(any(timelog_loom, timelog_shuttle)))]
const WORKERS: &[(Role, &str)] = &[(Role::Flusher, "timelog-flush"), (Role::Compactor, "timelog-compact")];
#[cfg(any(timelog_loom, timelog_shuttle))]
const WORKERS: &[(Role, &str)] = &[(Role::Both, "timelog-maint")];

#[cfg(not(any(timelog_loom, timelog_shuttle)))]
thread_local! {
    /// Whether this thread is inside a seal's flush of deferred destructors.
    static IN_SEAL_FLUSH: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks this thread as running a seal's deferred destructors until dropped
/// (also when a user `Drop` panics through it).
struct SealFlush;

impl SealFlush {
    /// `None` if this thread is already inside one.
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    fn enter() -> Option<SealFlush> {
        (!IN_SEAL_FLUSH.with(|f| f.replace(true))).then_some(SealFlush)
    }

    /// Model checkers run their threads on one OS thread, where a thread-local
    /// would be shared: always flush there (their values never write back).
    #[cfg(any(timelog_loom, timelog_shuttle))]
    fn enter() -> Option<SealFlush> {
        Some(SealFlush)
    }
}

impl Drop for SealFlush {
    fn drop(&mut self) {
        #[cfg(not(any(timelog_loom, timelog_shuttle)))]
        IN_SEAL_FLUSH.with(|f| f.set(false));
    }
}

/// State shared by the handle and the background worker.
pub(crate) struct Inner<V> {
    pub(crate) cfg: Config,
    pub(crate) seq: Sequencer,
    pub(crate) manifest: ManifestCell<V>,
    pub(crate) counters: Counters,
    /// Adaptive-window state (held briefly).
    pub(crate) maint: Mutex<MaintState>,
    /// Serialises flushes.
    pub(crate) flush_lock: Mutex<()>,
    /// Serialises compactions.
    pub(crate) compact_lock: Mutex<()>,
    pub(crate) signal: Mutex<Signal>,
    /// Wakes the workers.
    pub(crate) work_cv: Condvar,
    /// Wakes writers waiting for room in the sealed queue.
    pub(crate) room_cv: Condvar,
    pub(crate) worker_running: AtomicBool,
    pub(crate) compact_requested: AtomicBool,
    /// A flush added tombstones: the compactor looks for dead segments and
    /// tombstones that can retire.
    pub(crate) tombs_changed: AtomicBool,
    pub(crate) next_segment_id: AtomicU64,
}

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
    inner: Arc<Inner<V>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl<V: Value> Default for Timelog<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: Value> std::fmt::Debug for Timelog<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timelog").field("config", &self.inner.cfg).finish_non_exhaustive()
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
        let seq = Sequencer::new();
        let active = Arc::new(Memtable::new(&cfg, 1));
        let manifest = ManifestCell::new(Manifest {
            active,
            memruns: Vec::new(),
            l0: Vec::new(),
            l1: Vec::new(),
            l1_max: Vec::new(),
            tombs: Arc::new(TombIndex::default()),
        });
        let inner = Arc::new(Inner {
            maint: Mutex::new(MaintState::new(&cfg)),
            cfg,
            seq,
            manifest,
            counters: Counters::default(),
            flush_lock: Mutex::new(()),
            compact_lock: Mutex::new(()),
            signal: Mutex::new(Signal { flush: false, compact: false, stop: false }),
            work_cv: Condvar::new(),
            room_cv: Condvar::new(),
            worker_running: AtomicBool::new(false),
            compact_requested: AtomicBool::new(false),
            tombs_changed: AtomicBool::new(false),
            next_segment_id: AtomicU64::new(1),
        });
        let log = Timelog { inner, workers: Mutex::new(Vec::new()) };
        if log.inner.cfg.maintenance == MaintenanceMode::Background {
            log.spawn_worker();
        }
        log
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.inner.cfg
    }

    // ----- writes ------------------------------------------------------------------

    /// Appends one record.
    pub fn append(&self, ts: i64, value: V) -> Accepted {
        self.append_tracked(ts, value).accepted
    }

    /// [`Timelog::append`], also reporting the write's sequence number.
    pub fn append_tracked(&self, ts: i64, value: V) -> Written {
        let guard = self.inner.manifest.pin();
        let m = self.inner.manifest.load(&guard);
        let s = self.inner.seq.reserve(1);
        let mt = self.inner.target(m, s, &guard);
        mt.insert_one(ts, s, value);
        self.inner.seq.publish(s, 1);
        let accepted = if mt.is_full() { self.inner.on_full(mt) } else { Accepted::Clean };
        Written { first_seq: s, count: 1, accepted }
    }

    /// Appends a batch atomically: a snapshot sees all of it or none of it.
    /// Records with equal timestamps keep the batch's order.
    pub fn append_batch(&self, records: impl IntoIterator<Item = (i64, V)>) -> Accepted {
        self.append_batch_tracked(records).accepted
    }

    /// [`Timelog::append_batch`], also reporting the batch's sequence numbers: the
    /// batch holds `first_seq .. first_seq + count`, all visible at once. (Which
    /// record has which number inside that range is not part of the contract:
    /// records with equal timestamps are numbered in batch order.)
    pub fn append_batch_tracked(&self, records: impl IntoIterator<Item = (i64, V)>) -> Written {
        let (ts, vals): (Vec<i64>, Vec<V>) = records.into_iter().unzip();
        self.append_columns_tracked(ts, vals)
    }

    /// Appends a batch given as two equally long columns (atomically, like
    /// [`Timelog::append_batch`]).
    ///
    /// # Panics
    /// If the columns differ in length.
    pub fn append_columns(&self, ts: Vec<i64>, vals: Vec<V>) -> Accepted {
        self.append_columns_tracked(ts, vals).accepted
    }

    /// [`Timelog::append_columns`], also reporting the batch's sequence numbers.
    ///
    /// # Panics
    /// If the columns differ in length.
    pub fn append_columns_tracked(&self, ts: Vec<i64>, vals: Vec<V>) -> Written {
        assert_eq!(ts.len(), vals.len(), "append_columns: column lengths differ");
        let n = ts.len();
        if n == 0 {
            return Written { first_seq: self.inner.seq.visible(), count: 0, accepted: Accepted::Clean };
        }
        if n < SMALL_BATCH {
            let guard = self.inner.manifest.pin();
            let m = self.inner.manifest.load(&guard);
            let s = self.inner.seq.reserve(n as u64);
            let mt = self.inner.target(m, s, &guard);
            // One target for the whole batch: it owns `s`, and the seal protocol
            // assigns whole reservations (the reservation precedes the seal's).
            for (i, (t, v)) in ts.into_iter().zip(vals).enumerate() {
                mt.insert_one(t, s + i as u64, v);
            }
            self.inner.seq.publish(s, n as u64);
            let accepted = if mt.is_full() { self.inner.on_full(mt) } else { Accepted::Clean };
            return Written { first_seq: s, count: n as u64, accepted };
        }
        // Sort off to the side (stable: equal timestamps keep their order), before
        // any sequence number is reserved. The records take consecutive numbers in
        // sorted order, which is arrival order wherever the order of two records
        // matters: at equal timestamps.
        let (mut ts, mut vals) = (ts, vals);
        sort_batch(&mut ts, &mut vals);
        let guard = self.inner.manifest.pin();
        let m = self.inner.manifest.load(&guard);
        let s = self.inner.seq.reserve(n as u64);
        let mt = self.inner.target(m, s, &guard);
        mt.insert_run(Run::from_batch(ts, vals, s));
        self.inner.seq.publish(s, n as u64);
        let accepted = if mt.is_full() { self.inner.on_full(mt) } else { Accepted::Clean };
        Written { first_seq: s, count: n as u64, accepted }
    }

    /// Deletes every record in `range` written before this call. Records written
    /// later, at any timestamp, are not affected.
    ///
    /// An empty range (`5..5`, `..i64::MIN`) deletes nothing and records nothing;
    /// an inverted one (`5..3`) is [`Error::InvalidRange`].
    ///
    /// ```
    /// use timelog::{Error, Timelog};
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, 'a'), (2, 'b'), (3, 'c')]);
    /// log.delete_range(2..).unwrap();
    /// let _ = log.append(2, 'd'); // written after the delete: kept
    /// assert!(log.delete_range(2..2).is_ok());
    /// assert_eq!(log.delete_range(3..1), Err(Error::InvalidRange));
    /// assert_eq!(log.range_vec(..), vec![(1, 'a'), (2, 'd')]);
    /// ```
    pub fn delete_range(&self, range: impl RangeBounds<i64>) -> Result<Accepted> {
        self.delete_range_tracked(range).map(|w| w.accepted)
    }

    /// [`Timelog::delete_range`], also reporting the delete's sequence number.
    pub fn delete_range_tracked(&self, range: impl RangeBounds<i64>) -> Result<Written> {
        let Some((lo, hi)) = delete_bounds(&range)? else {
            return Ok(Written { first_seq: self.inner.seq.visible(), count: 0, accepted: Accepted::Clean });
        };
        let guard = self.inner.manifest.pin();
        let m = self.inner.manifest.load(&guard);
        let s = self.inner.seq.reserve(1);
        let mt = self.inner.target(m, s, &guard);
        mt.insert_tomb(Tomb { lo, hi, seq: s });
        self.inner.seq.publish(s, 1);
        let accepted = if mt.is_full() { self.inner.on_full(mt) } else { Accepted::Clean };
        Ok(Written { first_seq: s, count: 1, accepted })
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
    pub fn delete_before(&self, ts: i64) -> Result<Accepted> {
        self.delete_range(..ts)
    }

    // ----- reads -------------------------------------------------------------------

    /// A consistent, immutable view of the log. O(1).
    pub fn snapshot(&self) -> Snapshot<V> {
        self.inner.snapshot()
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
        self.inner.flush_all();
    }

    /// Asks for a compaction of every L0 segment: done by the worker soon in
    /// background mode, by the next [`Timelog::maint_step`] in manual mode.
    pub fn compact(&self) {
        self.inner.compact_requested.store(true, Ordering::Release);
        self.inner.wake_compactor();
    }

    /// Runs a flush and full compaction now, on this thread, and returns when done.
    pub fn compact_now(&self) {
        self.inner.flush_all();
        while self.inner.compact_once(true) {}
        self.inner.release_memory(true);
    }

    /// Manual mode: performs one unit of maintenance (flush the sealed memtables,
    /// or one compaction) and reports whether there was any.
    /// In background mode it returns [`Error::WrongMode`].
    pub fn maint_step(&self) -> Result<bool> {
        if self.inner.cfg.maintenance != MaintenanceMode::Manual {
            return Err(Error::WrongMode);
        }
        Ok(self.inner.step())
    }

    /// Starts the background worker (background mode only; no-op if running).
    pub fn start_maintenance(&self) -> Result<()> {
        if self.inner.cfg.maintenance != MaintenanceMode::Background {
            return Err(Error::WrongMode);
        }
        self.spawn_worker();
        Ok(())
    }

    /// Stops the background worker and waits for it (background mode only; no-op if
    /// stopped). Writes keep working; memtables pile up until it is restarted or
    /// `flush` is called.
    pub fn stop_maintenance(&self) -> Result<()> {
        if self.inner.cfg.maintenance != MaintenanceMode::Background {
            return Err(Error::WrongMode);
        }
        self.join_worker();
        Ok(())
    }

    /// Sealed memtables waiting for flush (cheap: one manifest load).
    pub fn sealed_queue_len(&self) -> usize {
        let guard = self.inner.manifest.pin();
        self.inner.manifest.load(&guard).memruns.len()
    }

    /// Waits until the sealed queue is within `sealed_max_runs` or `timeout` passes;
    /// returns whether there is room. Meant for callers that build the log with a
    /// zero `sealed_wait` (writes never block) and wait on their own terms, for
    /// example without holding an interpreter lock. Returns at once in manual mode
    /// or when the workers are stopped, since nothing would make room.
    pub fn wait_for_room(&self, timeout: std::time::Duration) -> bool {
        let has_room = || self.inner.has_room(&self.inner.manifest.current());
        if has_room() || self.inner.cfg.maintenance == MaintenanceMode::Manual {
            return has_room();
        }
        let deadline = Instant::now() + timeout;
        let mut sig = self.inner.signal.lock();
        loop {
            if has_room() {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !self.inner.worker_running.load(Ordering::Acquire) {
                return has_room();
            }
            self.inner.room_cv.wait_for(&mut sig, left);
        }
    }

    /// Whether the background workers are running.
    pub fn maintenance_running(&self) -> bool {
        self.inner.worker_running.load(Ordering::Acquire)
    }

    fn spawn_worker(&self) {
        let mut w = self.workers.lock();
        if !w.is_empty() {
            return;
        }
        {
            let mut sig = self.inner.signal.lock();
            sig.stop = false;
            // Catch up on whatever piled up while stopped.
            sig.flush = true;
            sig.compact = true;
        }
        self.inner.worker_running.store(true, Ordering::Release);
        for &(role, name) in WORKERS {
            let inner = self.inner.clone();
            w.push(spawn(name, move || inner.worker_loop(role)));
        }
    }

    fn join_worker(&self) {
        let mut w = self.workers.lock();
        if w.is_empty() {
            return;
        }
        {
            let mut sig = self.inner.signal.lock();
            sig.stop = true;
            self.inner.work_cv.notify_all();
        }
        for h in w.drain(..) {
            let _ = h.join();
        }
        self.inner.worker_running.store(false, Ordering::Release);
        // Writers waiting for room must not wait for workers that are gone.
        self.inner.notify_room();
    }

    // ----- introspection -------------------------------------------------------------

    /// Model checkers only: manifest boxes `(retired, freed)` so far.
    #[cfg(any(timelog_loom, timelog_shuttle))]
    #[doc(hidden)]
    pub fn model_manifest_reclaim(&self) -> (usize, usize) {
        (
            self.inner.manifest.retired_count.load(Ordering::SeqCst),
            self.inner.manifest.freed_count.load(Ordering::SeqCst),
        )
    }

    /// Layer counts, exact visible record count, bounds and counters.
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// Checks the structural invariants: sorted pages, fences, L1 segments inside
    /// their aligned windows and not overlapping, memtable runs sorted, counts
    /// consistent.
    pub fn validate(&self) -> Result<()> {
        self.inner.validate()
    }
}

impl<V: Value> Drop for Timelog<V> {
    fn drop(&mut self) {
        self.join_worker();
    }
}

impl<V: Value> Inner<V> {
    pub(crate) fn snapshot(&self) -> Snapshot<V> {
        let guard = self.manifest.pin();
        loop {
            let m = self.manifest.load(&guard);
            let w = self.seq.visible();
            // If the manifest did not change between the two loads, every write below
            // `w` is in one of its sources: a write goes to the memtable of the manifest
            // it loaded, and a newer manifest would have been published (and seen here,
            // by the acquire chain through `visible`) before that write completed. (The
            // box cannot be freed and its address reused while `guard` is pinned.)
            if self.manifest.load_addr(&guard) == (m as *const Arc<Manifest<V>> as usize) {
                return Snapshot { m: m.clone(), w };
            }
            spin_loop();
        }
    }

    /// The memtable that owns sequence number `s` (reserved after loading `m`).
    #[inline]
    pub(crate) fn target<'g>(&self, m: &'g Manifest<V>, s: u64, guard: &'g Guard<'_>) -> &'g Memtable<V> {
        if m.active.owns(s) {
            return &m.active;
        }
        // A seal took the number range we are in: find the memtable that owns `s`
        // in a fresh manifest (the sealer publishes it right after choosing its
        // sequence number; no memtable owning an unpublished number is flushed).
        loop {
            let m = self.manifest.load(guard);
            if m.active.owns(s) {
                return &m.active;
            }
            if let Some(mr) = m.memruns.iter().rev().find(|mr| mr.owns(s)) {
                return mr;
            }
            spin_loop();
        }
    }

    /// Called by a writer that found its memtable full.
    #[cold]
    pub(crate) fn on_full(&self, mt: &Memtable<V>) -> Accepted {
        if !mt.begin_seal() {
            return Accepted::Clean;
        }
        if mt.ooo_bytes() >= self.cfg.ooo_budget_bytes {
            Counters::bump(&self.counters.ooo_budget_hits, 1);
        }
        self.seal(mt);
        self.wake_flusher();
        if self.has_room(&self.manifest.current()) {
            return Accepted::Clean;
        }
        self.wait_for_room()
    }

    /// Seals `mt` (the caller won `begin_seal`); returns the sealed queue length.
    ///
    /// No user code may run between `begin_seal` and `publish`: writers wait for
    /// `seal_seq` and then for the watermark to pass `s`, so a `V::drop` that writes
    /// to this log would wait for this very thread. Values are dropped only when
    /// retired garbage is freed, so the manifest is swapped with `update_deferred`
    /// (frees nothing) and the garbage flushed after `publish`. The caller holds a
    /// guard, pinned before `begin_seal`, so the nested pin here frees nothing
    /// either. Regression: `tests/hazards.rs`.
    pub(crate) fn seal(&self, mt: &Memtable<V>) -> usize {
        debug_assert!(self.manifest.pin_is_inert(), "seal: the caller must hold a guard");
        let guard = self.manifest.pin();
        let s = self.seq.reserve(1);
        let next = Arc::new(Memtable::new(&self.cfg, s + 1));
        mt.set_seal_seq(s);
        let mut queued = 0;
        self.manifest.update_deferred(&guard, |m| {
            debug_assert!(std::ptr::eq(&*m.active, mt), "only the active memtable is sealed");
            let mut n = m.clone();
            let old = std::mem::replace(&mut n.active, next.clone());
            n.memruns.push(old);
            queued = n.memruns.len();
            Some(n)
        });
        self.seq.publish(s, 1);
        // Published: deferred destructors (user `V::drop`s) may run now — unless
        // this thread is already running them from an outer seal: a `Drop` that
        // writes to the log can seal again, and each nested flush would run more
        // drops, recursing as deep as there is garbage (a stack overflow with tiny
        // memtables). The outer flush, or any later one, frees what is left.
        if let Some(_running) = SealFlush::enter() {
            self.manifest.flush_deferred(&guard);
        }
        drop(guard);
        Counters::bump(&self.counters.seals, 1);
        queued
    }

    /// Whether maintenance keeps up: the sealed queue is within `sealed_max_runs`
    /// and, while the background workers run, L0 within [`Inner::l0_stall`] (in
    /// manual mode L0 is the caller's to compact). Writers that seal a memtable
    /// while this is false wait (up to `sealed_wait`) for maintenance to catch up.
    pub(crate) fn has_room(&self, m: &Manifest<V>) -> bool {
        m.memruns.len() <= self.cfg.sealed_max_runs
            && (m.l0.len() <= self.l0_stall() || !self.worker_running.load(Ordering::Acquire))
    }

    /// L0 segments past which writers wait for compaction: twice the count
    /// that triggers it. Without this limit a writer faster than compaction (on
    /// a machine with fewer cores than busy threads) would pile up L0 segments,
    /// and with them memory, without bound.
    pub(crate) fn l0_stall(&self) -> usize {
        self.cfg.max_l0_segments.saturating_mul(2)
    }

    fn wait_for_room(&self) -> Accepted {
        let wait = self.cfg.sealed_wait;
        if self.cfg.maintenance == MaintenanceMode::Background
            && !wait.is_zero()
            && self.worker_running.load(Ordering::Acquire)
        {
            Counters::bump(&self.counters.backpressure_waits, 1);
            let deadline = Instant::now() + wait;
            let mut sig = self.signal.lock();
            loop {
                if self.has_room(&self.manifest.current()) {
                    return Accepted::Clean;
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if !self.worker_running.load(Ordering::Acquire)
                    || left.is_zero()
                    || self.room_cv.wait_for(&mut sig, left)
                {
                    break;
                }
            }
            drop(sig);
            if self.has_room(&self.manifest.current()) {
                return Accepted::Clean;
            }
        }
        Counters::bump(&self.counters.backpressure_events, 1);
        Accepted::Backpressure
    }

    pub(crate) fn wake_flusher(&self) {
        if self.cfg.maintenance == MaintenanceMode::Background {
            let mut sig = self.signal.lock();
            sig.flush = true;
            self.work_cv.notify_all();
        }
    }

    pub(crate) fn wake_compactor(&self) {
        if self.cfg.maintenance == MaintenanceMode::Background {
            let mut sig = self.signal.lock();
            sig.compact = true;
            self.work_cv.notify_all();
        }
    }

    fn worker_loop(&self, role: Role) {
        loop {
            {
                let mut sig = self.signal.lock();
                let pending = |s: &Signal| match role {
                    Role::Flusher => s.flush,
                    Role::Compactor => s.compact,
                    Role::Both => s.flush || s.compact,
                };
                if !sig.stop && !pending(&sig) {
                    let _ = self.work_cv.wait_for(&mut sig, self.cfg.maintenance_wakeup);
                }
                if sig.stop {
                    return;
                }
                match role {
                    Role::Flusher => sig.flush = false,
                    Role::Compactor => sig.compact = false,
                    Role::Both => (sig.flush, sig.compact) = (false, false),
                }
            }
            if matches!(role, Role::Flusher | Role::Both) {
                while self.flush_memruns(false) {
                    if self.manifest.current().l0.len() > self.cfg.max_l0_segments {
                        self.wake_compactor();
                    }
                }
            }
            if matches!(role, Role::Compactor | Role::Both) {
                let mut worked = false;
                while self.compaction_due() && self.compact_once(false) {
                    worked = true;
                    if self.signal.lock().stop {
                        return;
                    }
                }
                if worked {
                    self.release_memory(false);
                }
            }
        }
    }

    pub(crate) fn notify_room(&self) {
        let _sig = self.signal.lock();
        self.room_cv.notify_all();
    }

    fn stats(&self) -> Stats {
        let snap = self.snapshot();
        let m = &snap.m;
        let st = self.maint.lock().report();
        let segs = || m.l0.iter().chain(m.l1.iter());
        let mut min_ts = segs().map(|s| s.min_ts()).min();
        let mut max_ts = segs().map(|s| s.max_ts()).max();
        let mut mem_bytes = 0;
        // Live and dead records and bytes: each source's bytes shared out in
        // proportion to its visible and hidden records.
        let pieces = snap.pieces(i64::MIN, i64::MAX);
        let (mut dead_records, mut dead_bytes) = (0usize, 0usize);
        let mut share = |stored: usize, visible: usize, bytes: usize| {
            let dead = stored.saturating_sub(visible);
            dead_records += dead;
            if stored > 0 {
                dead_bytes += (bytes as u128 * dead as u128 / stored as u128) as usize;
            }
        };
        for s in segs() {
            share(s.len(), s.count(i64::MIN, i64::MAX, &pieces), s.bytes());
        }
        for mt in m.memruns.iter().chain(std::iter::once(&m.active)) {
            mem_bytes += mt.bytes();
            let mut stored = 0;
            for (t, _) in snap.mem_records(mt) {
                stored += 1;
                min_ts = Some(min_ts.map_or(t, |x: i64| x.min(t)));
                max_ts = Some(max_ts.map_or(t, |x: i64| x.max(t)));
            }
            let mut srcs = Vec::new();
            mt.sources(i64::MIN, i64::MAX, &mut srcs);
            let visible = crate::cursor::Range::new(srcs, pieces.clone(), snap.w).count();
            share(stored, visible, mt.bytes());
        }
        let memory_bytes = segs().map(|s| s.bytes()).sum::<usize>() + mem_bytes;
        let (runs, ooo) = m.active.record_split();
        let c = &self.counters;
        Stats {
            l0_segments: m.l0.len(),
            l1_segments: m.l1.len(),
            pages: segs().map(|s| s.page_count()).sum(),
            records: snap.count(..),
            min_ts,
            max_ts,
            tombstones: m.tombs.len()
                + m.memruns.iter().chain(std::iter::once(&m.active)).map(|mt| mt.tomb_count()).sum::<usize>(),
            memtable_records: runs,
            memtable_ooo_records: ooo,
            sealed_memruns: m.memruns.len(),
            seals: Counters::get(&c.seals),
            ooo_budget_hits: Counters::get(&c.ooo_budget_hits),
            backpressure_waits: Counters::get(&c.backpressure_waits),
            backpressure_events: Counters::get(&c.backpressure_events),
            flushes: Counters::get(&c.flushes),
            compactions: Counters::get(&c.compactions),
            compaction_retries: Counters::get(&c.compaction_retries),
            select_calls: Counters::get(&c.select_calls),
            select_l0_inputs: Counters::get(&c.select_l0_inputs),
            select_l1_inputs: Counters::get(&c.select_l1_inputs),
            select_no_work: Counters::get(&c.select_no_work),
            window: st.window,
            ewma_density: st.ewma_density,
            adaptive_flushes: st.flushes,
            adaptive_failures: st.failures,
            memory_bytes,
            dead_records,
            live_bytes: memory_bytes.saturating_sub(dead_bytes),
            dead_bytes,
            segments_dropped: Counters::get(&c.segments_dropped),
            flushed_records: Counters::get(&c.flushed_records),
            compacted_records: Counters::get(&c.compacted_records),
        }
    }

    fn validate(&self) -> Result<()> {
        let snap = self.snapshot();
        let m = &snap.m;
        let corrupt = |s: String| Err(Error::Corrupt(s));
        for s in m.l0.iter().chain(m.l1.iter()) {
            if let Err(e) = s.validate() {
                return corrupt(e);
            }
        }
        for s in &m.l0 {
            if s.level != Level::L0 {
                return corrupt(format!("segment {} in L0 is not an L0 segment", s.id));
            }
        }
        if m.l1_max.len() != m.l1.len() || m.l1.iter().zip(&m.l1_max).any(|(s, &k)| s.max_ts() != k) {
            return corrupt("the L1 last-key array is out of step with the L1 segments".to_string());
        }
        for (i, s) in m.l1.iter().enumerate() {
            if s.level != Level::L1 {
                return corrupt(format!("segment {} in L1 is not an L1 segment", s.id));
            }
            let Some(w) = s.window else {
                return corrupt(format!("L1 segment {} has no window", s.id));
            };
            if !crate::compaction::is_aligned(w, self.cfg.window_origin) {
                return corrupt(format!("L1 segment {} window [{}, {}] is not aligned", s.id, w.lo, w.hi));
            }
            if i > 0 && m.l1[i - 1].max_ts() >= s.min_ts() {
                return corrupt(format!("L1 segments {} and {} overlap", m.l1[i - 1].id, s.id));
            }
        }
        for mt in m.memruns.iter().chain(std::iter::once(&m.active)) {
            if let Err(e) = mt.validate() {
                return corrupt(e);
            }
        }
        for (i, mr) in m.memruns.iter().enumerate() {
            if mr.seal_seq().is_none() {
                return corrupt(format!("memrun {i} has no seal sequence"));
            }
        }
        let counted = snap.count(..);
        let walked = snap.range(..).count_by_walking();
        if counted != walked {
            return corrupt(format!("count() says {counted} but iteration yields {walked}"));
        }
        let back = snap.range(..).count_by_walking_back();
        if back != walked {
            return corrupt(format!("forward iteration yields {walked} records, backward {back}"));
        }
        Ok(())
    }
}

impl<V: Value> Snapshot<V> {
    /// Visible records of one memtable of this snapshot (for stats bounds).
    pub(crate) fn mem_records<'a>(&'a self, mt: &'a Memtable<V>) -> crate::cursor::Range<'a, V> {
        let mut srcs = Vec::new();
        mt.sources(i64::MIN, i64::MAX, &mut srcs);
        crate::cursor::Range::new(srcs, Vec::new(), self.w)
    }
}

impl<V> crate::cursor::Range<'_, V> {
    fn count_by_walking(self) -> usize {
        let mut n = 0;
        for _ in self {
            n += 1;
        }
        n
    }
    fn count_by_walking_back(mut self) -> usize {
        let mut n = 0;
        while self.next_back().is_some() {
            n += 1;
        }
        n
    }
}
