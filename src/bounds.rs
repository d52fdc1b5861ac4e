//! Range bounds as the engine uses them: any `RangeBounds<i64>` turned into
//! inclusive `[lo, hi]` pairs, for reads and for deletes.

use std::ops::{Bound, RangeBounds};

use crate::error::{Error, Result};

/// The inclusive bounds `[lo, hi]` of a delete over `r`: `Ok(None)` for an empty
/// range (`a..a`, `..i64::MIN`), which deletes nothing, as `Vec::drain(a..a)`
/// removes nothing; [`Error::InvalidRange`] for an inverted one (`5..3`).
pub(crate) fn delete_bounds(r: &impl RangeBounds<i64>) -> Result<Option<(i64, i64)>> {
    let start = match r.start_bound() {
        Bound::Included(&a) => a as i128,
        Bound::Excluded(&a) => a as i128 + 1,
        Bound::Unbounded => i64::MIN as i128,
    };
    let end = match r.end_bound() {
        Bound::Included(&b) => b as i128 + 1,
        Bound::Excluded(&b) => b as i128,
        Bound::Unbounded => i64::MAX as i128 + 1,
    };
    match start.cmp(&end) {
        std::cmp::Ordering::Greater => Err(Error::InvalidRange),
        std::cmp::Ordering::Equal => Ok(None),
        // Both fit: `start < end <= i64::MAX + 1` and `start >= i64::MIN`.
        std::cmp::Ordering::Less => Ok(Some((start as i64, (end - 1) as i64))),
    }
}

/// Converts any `RangeBounds<i64>` into inclusive `[lo, hi]`, or `None` if empty.
pub(crate) fn inclusive(r: &impl RangeBounds<i64>) -> Option<(i64, i64)> {
    let lo = match r.start_bound() {
        Bound::Included(&a) => a,
        Bound::Excluded(&a) => a.checked_add(1)?,
        Bound::Unbounded => i64::MIN,
    };
    let hi = match r.end_bound() {
        Bound::Included(&b) => b,
        Bound::Excluded(&b) => b.checked_sub(1)?,
        Bound::Unbounded => i64::MAX,
    };
    (lo <= hi).then_some((lo, hi))
}
