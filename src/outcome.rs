//! What a write reports: [`Written`] (its sequence numbers) and [`Accepted`]
//! (whether maintenance is behind).

use crate::snapshot::Snapshot;
use crate::Value;

/// What a write reports: its sequence numbers and whether maintenance is behind.
///
/// A snapshot sees the write iff its [`Snapshot::watermark`] is above the write's
/// sequence numbers; a batch's numbers are consecutive and it is seen whole.
///
/// ```
/// use timelog::Timelog;
/// let log = Timelog::new();
/// let before = log.snapshot();
/// let w = log.append_batch([(1, 'a'), (2, 'b')]);
/// assert!(!w.visible_in(&before));
/// assert!(w.visible_in(&log.snapshot()));
/// assert_eq!(w.last_seq(), w.first_seq + 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Sequence number of the first record (or of the delete).
    pub first_seq: u64,
    /// How many sequence numbers the write took (records of a batch; 1 for a
    /// delete; 0 for an empty batch or an empty delete).
    pub count: u64,
    /// Whether backpressure occurred.
    pub accepted: Accepted,
}

impl Written {
    /// Sequence number of the last record.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let w = log.append_batch([(5, ()), (6, ()), (7, ())]);
    /// assert_eq!(w.last_seq() - w.first_seq + 1, 3);
    /// ```
    pub fn last_seq(&self) -> u64 {
        self.first_seq + self.count.max(1) - 1
    }

    /// Whether `snap` sees this write.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let w = log.append(1, "x");
    /// assert!(w.visible_in(&log.snapshot()));
    /// ```
    pub fn visible_in<V: Value>(&self, snap: &Snapshot<V>) -> bool {
        self.count == 0 || self.last_seq() < snap.watermark()
    }

    /// Whether the write met backpressure ([`Accepted::Backpressure`]).
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// assert!(!log.append(1, ()).is_backpressure());
    /// ```
    pub fn is_backpressure(&self) -> bool {
        self.accepted.is_backpressure()
    }
}

/// What a write reports. The write itself is always accepted and durable in
/// memory; `Backpressure` says that maintenance is behind — the sealed-memtable
/// queue is over `sealed_max_runs`, or (background maintenance) L0 holds more
/// than twice `max_l0_segments` segments — and the writer waited up to `sealed_wait`
/// without it catching up, so the caller may want to slow down or call
/// [`Timelog::flush`](crate::Timelog::flush).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Accepted, no pressure.
    Clean,
    /// Accepted, but the sealed queue is over its limit.
    Backpressure,
}

impl Accepted {
    /// `true` for [`Accepted::Backpressure`].
    ///
    /// ```
    /// use timelog::Accepted;
    /// assert!(Accepted::Backpressure.is_backpressure());
    /// assert!(!Accepted::Clean.is_backpressure());
    /// ```
    pub fn is_backpressure(self) -> bool {
        self == Accepted::Backpressure
    }

    /// The worse of two reports.
    pub(crate) fn or(self, other: Accepted) -> Accepted {
        if other.is_backpressure() {
            other
        } else {
            self
        }
    }
}
