//! [`TsRange`]: the set of timestamps a scan reads, an inclusive interval of
//! `i64` (every `i64` is a valid timestamp, so `i64::MAX` must be reachable).

use std::fmt;
use std::ops::{Bound, RangeBounds, RangeInclusive};

/// A closed interval of timestamps `[lo, hi]`, or the empty set.
///
/// Closed, not half-open, because the log holds data at every `i64` including
/// `i64::MAX`, which no half-open `i64` range can include. It is what the
/// filters pushed into a scan come down to, and what
/// [`TimelogScanExec`](crate::TimelogScanExec) reads.
///
/// ```
/// use timelog_datafusion::TsRange;
/// let r = TsRange::from_bounds(10..20);
/// assert_eq!(r.bounds(), Some((10, 19)));
/// assert_eq!(r.intersect(TsRange::from_bounds(15..)), TsRange::new(15, 19));
/// assert!(TsRange::new(5, 4).is_empty());
/// assert_eq!(r.to_string(), "[10, 20)");
/// assert_eq!(TsRange::from_bounds(0..=i64::MAX).to_string(), "[0, 9223372036854775807]");
/// assert_eq!(TsRange::ALL.to_string(), "all");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TsRange {
    bounds: Option<(i64, i64)>,
}

impl TsRange {
    /// Every timestamp, `[i64::MIN, i64::MAX]`.
    pub const ALL: TsRange = TsRange { bounds: Some((i64::MIN, i64::MAX)) };
    /// No timestamp at all.
    pub const EMPTY: TsRange = TsRange { bounds: None };

    /// `[lo, hi]`, empty when `lo > hi`.
    pub fn new(lo: i64, hi: i64) -> Self {
        if lo <= hi { TsRange { bounds: Some((lo, hi)) } } else { TsRange::EMPTY }
    }

    /// The interval of any Rust range of `i64` (`a..b`, `a..=b`, `a..`, `..b`, `..`).
    pub fn from_bounds(r: impl RangeBounds<i64>) -> Self {
        let lo = match r.start_bound() {
            Bound::Included(&a) => Some(a),
            Bound::Excluded(&a) => a.checked_add(1),
            Bound::Unbounded => Some(i64::MIN),
        };
        let hi = match r.end_bound() {
            Bound::Included(&b) => Some(b),
            Bound::Excluded(&b) => b.checked_sub(1),
            Bound::Unbounded => Some(i64::MAX),
        };
        match (lo, hi) {
            (Some(lo), Some(hi)) => TsRange::new(lo, hi),
            _ => TsRange::EMPTY,
        }
    }

    /// `[lo, hi]` from `i128` bounds, clamped to the `i64` range (bounds beyond
    /// it hold no timestamp).
    pub(crate) fn from_i128(lo: i128, hi: i128) -> Self {
        let lo = lo.max(i64::MIN as i128);
        let hi = hi.min(i64::MAX as i128);
        if lo > hi { TsRange::EMPTY } else { TsRange::new(lo as i64, hi as i64) }
    }

    /// The inclusive bounds `(lo, hi)`, or `None` for the empty set.
    pub fn bounds(&self) -> Option<(i64, i64)> {
        self.bounds
    }

    /// The interval as a Rust range (`None` if empty), as
    /// `Snapshot::record_batches` and `Snapshot::count` take it.
    pub fn to_range(&self) -> Option<RangeInclusive<i64>> {
        self.bounds.map(|(lo, hi)| lo..=hi)
    }

    /// Whether it holds no timestamp.
    pub fn is_empty(&self) -> bool {
        self.bounds.is_none()
    }

    /// Whether it holds every timestamp.
    pub fn is_all(&self) -> bool {
        *self == TsRange::ALL
    }

    /// Whether `ts` lies in it.
    pub fn contains(&self, ts: i64) -> bool {
        self.bounds.is_some_and(|(lo, hi)| lo <= ts && ts <= hi)
    }

    /// The timestamps in both.
    pub fn intersect(self, other: TsRange) -> TsRange {
        match (self.bounds, other.bounds) {
            (Some((a, b)), Some((c, d))) => TsRange::new(a.max(c), b.min(d)),
            _ => TsRange::EMPTY,
        }
    }

    /// The smallest interval holding both.
    pub fn hull(self, other: TsRange) -> TsRange {
        match (self.bounds, other.bounds) {
            (Some((a, b)), Some((c, d))) => TsRange::new(a.min(c), b.max(d)),
            (Some(_), None) => self,
            (None, _) => other,
        }
    }

    /// Whether the union of both is an interval (so [`hull`](TsRange::hull) is
    /// exactly the union): they overlap or touch, or one is empty.
    pub fn union_is_interval(self, other: TsRange) -> bool {
        match (self.bounds, other.bounds) {
            (Some((a, b)), Some((c, d))) => {
                let (a, b, c, d) = (a as i128, b as i128, c as i128, d as i128);
                a <= d + 1 && c <= b + 1
            }
            _ => true,
        }
    }
}

impl Default for TsRange {
    fn default() -> Self {
        TsRange::ALL
    }
}

impl fmt::Display for TsRange {
    /// `all`, `empty`, `[lo, hi + 1)` (the engine's half-open convention), or
    /// `[lo, 9223372036854775807]` when the range reaches `i64::MAX`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.bounds {
            None => f.write_str("empty"),
            Some(_) if self.is_all() => f.write_str("all"),
            Some((lo, i64::MAX)) => write!(f, "[{lo}, {}]", i64::MAX),
            Some((lo, hi)) => write!(f, "[{lo}, {})", hi + 1),
        }
    }
}
