//! Sequence numbers and the visible watermark.
//!
//! Every write (a record, a batch, a delete, a seal) reserves a contiguous range
//! of sequence numbers with one `fetch_add`, does its work, and then *publishes*
//! the range. Publication is in sequence order: a range is exposed only after
//! every smaller number has been exposed, so the watermark `visible` always
//! means "every write with a sequence number below this is complete". A snapshot
//! is a manifest plus such a watermark.

use crate::sync::{wait_until, AtomicU64, Ordering};

/// The global sequence counter and the watermark of completed writes.
pub(crate) struct Sequencer {
    /// Next sequence number to hand out.
    next: AtomicU64,
    /// All sequence numbers below this are complete and visible.
    visible: AtomicU64,
}

impl Sequencer {
    pub(crate) fn new() -> Self {
        // Sequence 0 is never handed out: it means "before everything".
        Sequencer { next: AtomicU64::new(1), visible: AtomicU64::new(1) }
    }

    /// Reserves `n` consecutive sequence numbers and returns the first.
    ///
    /// `SeqCst`: the seal protocol (see `memtable::Memtable::owns`) relies on this
    /// RMW and the writer's following `SeqCst` load of the memtable's `sealing` flag
    /// being ordered against the sealer's flag store and its own reservation.
    #[inline]
    pub(crate) fn reserve(&self, n: u64) -> u64 {
        self.next.fetch_add(n, Ordering::SeqCst)
    }

    /// Publishes `[first, first + n)`: waits until every smaller sequence number is
    /// published, then moves the watermark past this range.
    ///
    /// The wait is for other writers' bounded, non-blocking insert steps.
    #[inline]
    pub(crate) fn publish(&self, first: u64, n: u64) {
        if self.visible.load(Ordering::Acquire) != first {
            wait_until(|| self.visible.load(Ordering::Acquire) == first);
        }
        // Release: everything this writer stored (records, run pointers, tombstones)
        // happens-before any reader that acquires a watermark above `first`.
        self.visible.store(first + n, Ordering::Release);
    }

    /// The current watermark: every sequence number below it is visible.
    #[inline]
    pub(crate) fn visible(&self) -> u64 {
        self.visible.load(Ordering::Acquire)
    }
}
