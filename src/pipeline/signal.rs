//! How the stages wake each other: the background workers wait for work here,
//! and writers held back by backpressure wait here for room. The bottom of the
//! pipeline: it depends on no stage.

use std::time::{Duration, Instant};

use crate::sync::{AtomicBool, Condvar, Mutex, MutexGuard, Ordering};

/// Work requests, read and cleared by the workers under [`Signals`]' lock.
#[derive(Default)]
pub(crate) struct Pending {
    /// Sealed memtables are waiting for the flusher.
    pub(crate) flush: bool,
    /// A compaction may be due.
    pub(crate) compact: bool,
    /// The workers must exit.
    pub(crate) stop: bool,
}

/// The wake-up channels between writers and background workers.
pub(crate) struct Signals {
    /// Whether background workers exist for this log (background mode).
    background: bool,
    pending: Mutex<Pending>,
    /// Wakes the workers.
    work_cv: Condvar,
    /// Wakes writers waiting for room in the sealed queue.
    room_cv: Condvar,
    /// Whether the workers are running now.
    running: AtomicBool,
}

impl Signals {
    pub(crate) fn new(background: bool) -> Self {
        Signals {
            background,
            pending: Mutex::new(Pending::default()),
            work_cv: Condvar::new(),
            room_cv: Condvar::new(),
            running: AtomicBool::new(false),
        }
    }

    /// Whether the background workers are running.
    pub(crate) fn running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    pub(crate) fn set_running(&self, on: bool) {
        self.running.store(on, Ordering::Release);
    }

    /// Asks the flusher to run (background mode; a no-op otherwise).
    pub(crate) fn wake_flusher(&self) {
        self.wake(|p| p.flush = true);
    }

    /// Asks the compactor to look for work (background mode; a no-op otherwise).
    pub(crate) fn wake_compactor(&self) {
        self.wake(|p| p.compact = true);
    }

    fn wake(&self, f: impl FnOnce(&mut Pending)) {
        if self.background {
            f(&mut self.pending.lock());
            self.work_cv.notify_all();
        }
    }

    /// Resets the requests for a fresh start of the workers: stop cleared, and a
    /// flush and a compaction asked for, to catch up on what piled up meanwhile.
    pub(crate) fn restart(&self) {
        *self.pending.lock() = Pending { flush: true, compact: true, stop: false };
    }

    /// Tells the workers to exit.
    pub(crate) fn stop(&self) {
        self.pending.lock().stop = true;
        self.work_cv.notify_all();
    }

    /// Waits up to `period` for a request that `wanted` accepts (or a stop),
    /// then lets `take` clear what this worker will do; `None` on stop.
    pub(crate) fn wait_work<R>(
        &self,
        period: Duration,
        wanted: impl Fn(&Pending) -> bool,
        take: impl FnOnce(&mut Pending) -> R,
    ) -> Option<R> {
        let mut p = self.pending.lock();
        if !p.stop && !wanted(&p) {
            let _ = self.work_cv.wait_for(&mut p, period);
        }
        if p.stop {
            return None;
        }
        Some(take(&mut p))
    }

    /// Whether a stop was asked for.
    pub(crate) fn stopping(&self) -> bool {
        self.pending.lock().stop
    }

    /// Wakes writers waiting for room.
    pub(crate) fn notify_room(&self) {
        let _p = self.pending.lock();
        self.room_cv.notify_all();
    }

    /// Waits until `room()` holds, `timeout` passes or the workers stop; returns
    /// `room()` at the end. The check and the wait are under the lock that
    /// [`Signals::notify_room`] takes, so no wake-up is lost between them.
    pub(crate) fn wait_for_room(&self, timeout: Duration, room: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut p: MutexGuard<'_, Pending> = self.pending.lock();
        loop {
            if room() {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !self.running() {
                drop(p);
                return room();
            }
            self.room_cv.wait_for(&mut p, left);
        }
    }
}
