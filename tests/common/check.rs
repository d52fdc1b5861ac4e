//! Reads of a snapshot compared with a [`View`]: every read method over whole
//! ranges, sub-ranges and single timestamps. The checks return `Err` with a
//! description of the first difference, so that plain tests can panic with
//! their own context and property tests can fail the case
//! (`.map_err(TestCaseError::fail)?`).

use std::fmt::{Debug, Display};
use std::ops::Bound::{Excluded, Included, Unbounded};
use std::ops::RangeBounds;

use timelog::{Snapshot, Value};

use super::bounds::{self, Bounds};
use super::oracle::View;

/// Ranges that touch the ends of `i64` in every way, plus one around zero.
pub const EXTREME_RANGES: [Bounds; 14] = [
    (Unbounded, Unbounded),
    (Included(i64::MIN), Included(i64::MIN)),
    (Included(i64::MAX - 1), Included(i64::MAX)),
    (Unbounded, Included(i64::MAX)),
    (Unbounded, Excluded(i64::MAX)),
    (Included(i64::MIN), Excluded(i64::MAX)),
    (Excluded(i64::MIN), Unbounded),
    (Included(i64::MAX), Unbounded),
    (Included(i64::MAX), Included(i64::MAX)),
    (Unbounded, Included(i64::MIN)),
    (Unbounded, Excluded(i64::MIN + 1)),
    (Included(i64::MIN), Included(i64::MIN + 1)),
    (Excluded(i64::MAX - 1), Unbounded),
    (Included(-1), Included(1)),
];

/// Timestamps at and next to the ends of `i64`, and around zero.
pub const EXTREME_PROBES: [i64; 8] =
    [i64::MIN, i64::MIN + 1, i64::MIN + 2, -1, 0, i64::MAX - 2, i64::MAX - 1, i64::MAX];

/// `snap` over `r`, read from the front.
pub fn scan<V: Value>(snap: &Snapshot<V>, r: impl RangeBounds<i64>) -> Vec<(i64, V)> {
    snap.range(r).map(|(t, v)| (t, v.clone())).collect()
}

/// `snap` over `r`, read from the back (returned in forward order).
pub fn scan_back<V: Value>(snap: &Snapshot<V>, r: impl RangeBounds<i64>) -> Vec<(i64, V)> {
    let mut v: Vec<(i64, V)> = snap.range(r).rev().map(|(t, v)| (t, v.clone())).collect();
    v.reverse();
    v
}

/// `snap` over `r`, one iterator consumed from the front when `front()` says so
/// and from the back otherwise, until the ends meet (returned in forward order).
pub fn scan_ends<V: Value>(
    snap: &Snapshot<V>,
    r: impl RangeBounds<i64>,
    mut front: impl FnMut() -> bool,
) -> Vec<(i64, V)> {
    let mut it = snap.range(r);
    let (mut f, mut b) = (Vec::new(), Vec::new());
    loop {
        if front() {
            match it.next() {
                Some((t, v)) => f.push((t, v.clone())),
                None => break,
            }
        } else {
            match it.next_back() {
                Some((t, v)) => b.push((t, v.clone())),
                None => break,
            }
        }
    }
    b.reverse();
    f.extend(b);
    f
}

/// Front, back, front, back, ... for [`scan_ends`].
pub fn alternate() -> impl FnMut() -> bool {
    let mut front = false;
    move || {
        front = !front;
        front
    }
}

/// `Err` naming `what`, the lengths and the first difference, if `got != want`.
pub fn same<T: PartialEq + Debug>(what: impl Display, got: &[T], want: &[T]) -> Result<(), String> {
    if got == want {
        return Ok(());
    }
    let i = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
    Err(format!(
        "{what}: {} records, {} expected; first difference at {i}: {:?} instead of {:?}",
        got.len(),
        want.len(),
        got.get(i),
        want.get(i)
    ))
}

/// `Err` naming `what` and both values, if `got != want`.
pub fn equal<T: PartialEq + Debug>(what: impl Display, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: {got:?}, expected {want:?}"))
    }
}

/// The whole snapshot: scans from both ends, `count(..)`, `len`, `is_empty`,
/// `first_ts`, `last_ts`, and no timestamp beyond the ends of `i64`.
pub fn check_whole<V: Value + PartialEq + Debug>(snap: &Snapshot<V>, want: &View<V>) -> Result<(), String> {
    let all = want.records();
    same("full scan", &scan(snap, ..), all)?;
    same("full reverse scan", &scan_back(snap, ..), all)?;
    equal("count(..)", snap.count(..), all.len())?;
    equal("len()", snap.len(), all.len())?;
    equal("is_empty()", snap.is_empty(), all.is_empty())?;
    equal("first_ts()", snap.first_ts(), want.first_ts())?;
    equal("last_ts()", snap.last_ts(), want.last_ts())?;
    equal("next_ts(i64::MAX)", snap.next_ts(i64::MAX), None)?;
    equal("prev_ts(i64::MIN)", snap.prev_ts(i64::MIN), None)
}

/// One range: from the front, from the back, from both ends in turn, and its count.
pub fn check_range<V: Value + PartialEq + Debug>(
    snap: &Snapshot<V>,
    want: &View<V>,
    r: impl RangeBounds<i64>,
) -> Result<(), String> {
    let b = bounds::bounds(&r);
    let w = want.range(b);
    same(format_args!("range {b:?}"), &scan(snap, b), &w)?;
    same(format_args!("reverse range {b:?}"), &scan_back(snap, b), &w)?;
    same(format_args!("range {b:?} from both ends"), &scan_ends(snap, b, alternate()), &w)?;
    equal(format_args!("count {b:?}"), snap.count(b), w.len())
}

/// One timestamp: `point` read both ways, `next_ts` and `prev_ts`.
pub fn check_probe<V: Value + PartialEq + Debug>(
    snap: &Snapshot<V>,
    want: &View<V>,
    ts: i64,
) -> Result<(), String> {
    let w = want.point(ts);
    same(format_args!("point({ts})"), &snap.point(ts).cloned().collect::<Vec<_>>(), &w)?;
    let mut back: Vec<V> = snap.point(ts).rev().cloned().collect();
    back.reverse();
    same(format_args!("reverse point({ts})"), &back, &w)?;
    equal(format_args!("next_ts({ts})"), snap.next_ts(ts), want.next_ts(ts))?;
    equal(format_args!("prev_ts({ts})"), snap.prev_ts(ts), want.prev_ts(ts))
}

/// [`check_whole`], then [`check_range`] on each of `ranges` and [`check_probe`] on
/// each of `probes`.
pub fn check_snapshot<V: Value + PartialEq + Debug>(
    snap: &Snapshot<V>,
    want: &View<V>,
    ranges: &[Bounds],
    probes: &[i64],
) -> Result<(), String> {
    check_whole(snap, want)?;
    for &b in ranges {
        check_range(snap, want, b)?;
    }
    for &p in probes {
        check_probe(snap, want, p)?;
    }
    Ok(())
}

/// What a double-ended iterator over `want` has not returned yet from either end:
/// the model a test steps alongside the iterator.
pub struct Ends<'a, T> {
    want: &'a [T],
    a: usize,
    z: usize,
}

impl<'a, T: Clone> Ends<'a, T> {
    /// Nothing taken yet.
    pub fn new(want: &'a [T]) -> Self {
        Ends { want, a: 0, z: want.len() }
    }

    /// What the iterator must return next from the back (`back`) or the front.
    pub fn take(&mut self, back: bool) -> Option<T> {
        if self.a == self.z {
            None
        } else if back {
            self.z -= 1;
            Some(self.want[self.z].clone())
        } else {
            self.a += 1;
            Some(self.want[self.a - 1].clone())
        }
    }

    /// What `n` steps from one end must return (fewer at the end).
    pub fn take_n(&mut self, back: bool, n: usize) -> Vec<T> {
        (0..n.min(self.left())).filter_map(|_| self.take(back)).collect()
    }

    /// How many are left.
    pub fn left(&self) -> usize {
        self.z - self.a
    }

    /// The ones left, in order.
    pub fn rest(&self) -> &'a [T] {
        &self.want[self.a..self.z]
    }
}
