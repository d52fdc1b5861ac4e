//! Range bounds as intervals of `i128`, computed here on their own (not with the
//! engine's code), so that the ends of `i64` need no special cases.

use std::ops::Bound::{self, Excluded, Included, Unbounded};
use std::ops::RangeBounds;

/// A range in its most general form, as the engine's reads and deletes take it.
pub type Bounds = (Bound<i64>, Bound<i64>);

/// The range `r` as a pair of bounds.
pub fn bounds<R: RangeBounds<i64> + ?Sized>(r: &R) -> Bounds {
    (r.start_bound().cloned(), r.end_bound().cloned())
}

/// The half-open interval `[start, end)` of the timestamps in `r`; `start > end`
/// when `r` is inverted (`5..3`).
pub fn half_open<R: RangeBounds<i64> + ?Sized>(r: &R) -> (i128, i128) {
    let start = match r.start_bound() {
        Included(&a) => a as i128,
        Excluded(&a) => a as i128 + 1,
        Unbounded => i64::MIN as i128,
    };
    let end = match r.end_bound() {
        Included(&z) => z as i128 + 1,
        Excluded(&z) => z as i128,
        Unbounded => i64::MAX as i128 + 1,
    };
    (start, end)
}

/// The first and last timestamp in `r`, or `None` if it holds none.
pub fn inclusive<R: RangeBounds<i64> + ?Sized>(r: &R) -> Option<(i64, i64)> {
    let (start, end) = half_open(r);
    // A non-empty interval lies within [i64::MIN, i64::MAX + 1).
    (start < end).then(|| (start as i64, (end - 1) as i64))
}

/// Whether `r` holds no timestamp at all (`5..5`, `5..=4`, `..i64::MIN`, and every
/// inverted range).
pub fn is_empty<R: RangeBounds<i64> + ?Sized>(r: &R) -> bool {
    let (start, end) = half_open(r);
    start >= end
}

/// Whether `r` is inverted: its half-open start lies after its end (`5..3`,
/// `5..=3`, `(Excluded(5), Excluded(5))`). A delete over it is an error, while an
/// empty one that is not inverted (`5..5`) deletes nothing.
pub fn is_inverted<R: RangeBounds<i64> + ?Sized>(r: &R) -> bool {
    let (start, end) = half_open(r);
    start > end
}

/// Whether `t` lies in `r`.
pub fn in_bounds<R: RangeBounds<i64> + ?Sized>(t: i64, r: &R) -> bool {
    let (start, end) = half_open(r);
    start <= t as i128 && (t as i128) < end
}
