//! Reads of a snapshot compared with a [`View`]: every read method over whole
//! ranges, sub-ranges and single timestamps, cursors and segment pages, and the
//! log's own shortcuts. The checks return `Err` with a description of the first
//! difference, so that plain tests can panic with their own context and property
//! tests can fail the case (`.map_err(TestCaseError::fail)?`).
//!
//! [`Expect`] compares what a snapshot stores with a view of *keys*: the values
//! themselves (`V::clone`, what the `check_*` functions use), or what a value
//! stands for, such as the record id of a [`crate::ledger::Tracked`]
//! ([`crate::ledger::Tracked::rec`], which also checks that it is alive).

use std::collections::HashSet;
use std::fmt::{Debug, Display};
use std::hash::Hash;
use std::ops::Bound::{Excluded, Included, Unbounded};
use std::ops::RangeBounds;

use timelog::{Snapshot, Timelog, Value};

use crate::bounds::{self, Bounds};
use crate::oracle::View;

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
    scan_by(snap, r, V::clone)
}

/// [`scan`], each value read as `key(value)`.
pub fn scan_by<V: Value, K>(
    snap: &Snapshot<V>,
    r: impl RangeBounds<i64>,
    key: impl Fn(&V) -> K,
) -> Vec<(i64, K)> {
    snap.range(r).map(|(t, v)| (t, key(v))).collect()
}

/// `snap` over `r`, read from the back (returned in forward order).
pub fn scan_back<V: Value>(snap: &Snapshot<V>, r: impl RangeBounds<i64>) -> Vec<(i64, V)> {
    scan_back_by(snap, r, V::clone)
}

/// [`scan_back`], each value read as `key(value)`.
pub fn scan_back_by<V: Value, K>(
    snap: &Snapshot<V>,
    r: impl RangeBounds<i64>,
    key: impl Fn(&V) -> K,
) -> Vec<(i64, K)> {
    let mut v: Vec<(i64, K)> = snap.range(r).rev().map(|(t, v)| (t, key(v))).collect();
    v.reverse();
    v
}

/// `snap` over `r`, one iterator consumed from the front when `front()` says so
/// and from the back otherwise, until the ends meet (returned in forward order).
pub fn scan_ends<V: Value>(
    snap: &Snapshot<V>,
    r: impl RangeBounds<i64>,
    front: impl FnMut() -> bool,
) -> Vec<(i64, V)> {
    let mut it = snap.range(r);
    both_ends(front, |back| if back { it.next_back() } else { it.next() }.map(|(t, v)| (t, v.clone())))
}

/// Pulls from both ends of one sequence (`pull(true)`: from the back) as
/// `front()` says, until `pull` gives nothing; returns what it took in forward
/// order.
pub fn both_ends<T>(mut front: impl FnMut() -> bool, mut pull: impl FnMut(bool) -> Option<T>) -> Vec<T> {
    let (mut f, mut b) = (Vec::new(), Vec::new());
    loop {
        let from_front = front();
        match pull(!from_front) {
            Some(x) if from_front => f.push(x),
            Some(x) => b.push(x),
            None => break,
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

/// The ends a pattern byte names, for [`scan_ends`]: step `i` takes from the back
/// iff bit 0 of `pattern` rotated left by `i % 8` is set (the fuzz inputs' rule).
pub fn pattern(pattern: u8) -> impl FnMut() -> bool {
    let mut i = 0u32;
    move || {
        let back = pattern.rotate_left(i % 8) & 1 == 1;
        i += 1;
        !back
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

/// What a snapshot must show, and how its values are read: each stored value
/// `v` must equal the view's record as `key(v)`.
pub struct Expect<'a, V, K> {
    snap: &'a Snapshot<V>,
    want: &'a View<K>,
    key: fn(&V) -> K,
}

impl<'a, V: Value, K: Clone + PartialEq + Debug> Expect<'a, V, K> {
    /// `snap` must show `want`, its values read through `key`.
    pub fn new(snap: &'a Snapshot<V>, want: &'a View<K>, key: fn(&V) -> K) -> Self {
        Expect { snap, want, key }
    }

    /// The whole snapshot: scans from both ends, `count(..)`, `len`, `is_empty`,
    /// `first_ts`, `last_ts`, and no timestamp beyond the ends of `i64`.
    pub fn whole(&self) -> Result<(), String> {
        let (snap, all) = (self.snap, self.want.records());
        same("full scan", &scan_by(snap, .., self.key), all)?;
        same("full reverse scan", &scan_back_by(snap, .., self.key), all)?;
        equal("count(..)", snap.count(..), all.len())?;
        equal("len()", snap.len(), all.len())?;
        equal("is_empty()", snap.is_empty(), all.is_empty())?;
        equal("first_ts()", snap.first_ts(), self.want.first_ts())?;
        equal("last_ts()", snap.last_ts(), self.want.last_ts())?;
        equal("next_ts(i64::MAX)", snap.next_ts(i64::MAX), None)?;
        equal("prev_ts(i64::MIN)", snap.prev_ts(i64::MIN), None)
    }

    /// One range: from the front, from the back, from both ends of one iterator
    /// in the order `front` gives (after which it stays empty at both ends), and
    /// its count.
    pub fn range(&self, r: impl RangeBounds<i64>, front: impl FnMut() -> bool) -> Result<(), String> {
        let (snap, key, b) = (self.snap, self.key, bounds::bounds(&r));
        let w = self.want.range(b);
        same(format_args!("range {b:?}"), &scan_by(snap, b, key), &w)?;
        same(format_args!("reverse range {b:?}"), &scan_back_by(snap, b, key), &w)?;
        let mut it = snap.range(b);
        let got =
            both_ends(front, |back| if back { it.next_back() } else { it.next() }.map(|(t, v)| (t, key(v))));
        same(format_args!("range {b:?} from both ends"), &got, &w)?;
        if it.next().is_some() || it.next_back().is_some() {
            return Err(format!("range {b:?}: an exhausted iterator returned a record again"));
        }
        self.count(b)
    }

    /// `count` of one range.
    pub fn count(&self, r: impl RangeBounds<i64>) -> Result<(), String> {
        let b = bounds::bounds(&r);
        equal(format_args!("count {b:?}"), self.snap.count(b), self.want.count(b))
    }

    /// One timestamp: `point` read both ways (with its length), `point_into`,
    /// `next_ts` and `prev_ts`.
    pub fn probe(&self, ts: i64) -> Result<(), String> {
        let (snap, key) = (self.snap, self.key);
        let w = self.want.point(ts);
        let it = snap.point(ts);
        equal(format_args!("point({ts}).len()"), it.len(), w.len())?;
        same(format_args!("point({ts})"), &it.map(key).collect::<Vec<_>>(), &w)?;
        let mut back: Vec<K> = snap.point(ts).rev().map(key).collect();
        back.reverse();
        same(format_args!("reverse point({ts})"), &back, &w)?;
        let mut out = Vec::new();
        snap.point_into(ts, &mut out);
        same(format_args!("point_into({ts})"), &out.into_iter().map(key).collect::<Vec<_>>(), &w)?;
        equal(format_args!("next_ts({ts})"), snap.next_ts(ts), self.want.next_ts(ts))?;
        equal(format_args!("prev_ts({ts})"), snap.prev_ts(ts), self.want.prev_ts(ts))
    }

    /// Navigation: `first_ts`, `last_ts`, `next_ts(ts)`, `prev_ts(ts)`.
    pub fn nav(&self, ts: i64) -> Result<(), String> {
        let (snap, want) = (self.snap, self.want);
        equal("first_ts()", snap.first_ts(), want.first_ts())?;
        equal("last_ts()", snap.last_ts(), want.last_ts())?;
        equal(format_args!("next_ts({ts})"), snap.next_ts(ts), want.next_ts(ts))?;
        equal(format_args!("prev_ts({ts})"), snap.prev_ts(ts), want.prev_ts(ts))
    }

    /// An owning cursor over `r` (on a clone of the snapshot), walked from both
    /// ends as `front` says, with `remaining()` right at the start and after
    /// every step.
    pub fn cursor(&self, r: impl RangeBounds<i64>, front: impl FnMut() -> bool) -> Result<(), String> {
        let (key, b) = (self.key, bounds::bounds(&r));
        let w = self.want.range(b);
        let mut cur = self.snap.clone().into_cursor(b);
        equal(format_args!("cursor {b:?}: remaining() at the start"), cur.remaining(), w.len())?;
        let mut taken = 0;
        let mut bad = None;
        let got = both_ends(front, |back| {
            let r = if back { cur.next_back_ref() } else { cur.next_ref() }.map(|(t, v)| (t, key(v)));
            taken += usize::from(r.is_some());
            if bad.is_none() && cur.remaining() != w.len() - taken {
                bad = Some(format!("cursor {b:?}: remaining() {} after {taken} steps", cur.remaining()));
            }
            r
        });
        if let Some(e) = bad {
            return Err(format!("{e}, expected {}", w.len() - taken));
        }
        same(format_args!("cursor {b:?}"), &got, &w)?;
        let _ = cur.snapshot().watermark();
        Ok(())
    }

    /// `segment_pages(r)`: pages non-empty, their columns of equal length, sorted,
    /// inside `r`; every value a record `known` to the snapshot at its own
    /// timestamp (`known(key)`: that record's timestamp), listed once. If
    /// `complete` (the snapshot was taken when everything was flushed), every
    /// record of `r` the view shows is in a page.
    pub fn pages(
        &self,
        r: impl RangeBounds<i64>,
        known: impl Fn(&K) -> Option<i64>,
        complete: bool,
    ) -> Result<(), String>
    where
        K: Hash + Eq,
    {
        let b = bounds::bounds(&r);
        let mut seen = HashSet::new();
        for p in &self.snap.segment_pages(b) {
            let what = format!("segment_pages {b:?}, page of level {:?}", p.level());
            equal(format_args!("{what}: is_empty()"), p.is_empty(), false)?;
            equal(format_args!("{what}: timestamps().len()"), p.timestamps().len(), p.len())?;
            equal(format_args!("{what}: values().len()"), p.values().len(), p.len())?;
            if !p.timestamps().windows(2).all(|w| w[0] <= w[1]) {
                return Err(format!("{what}: not sorted"));
            }
            for (&t, v) in p.timestamps().iter().zip(p.values()) {
                let k = (self.key)(v);
                if !bounds::in_bounds(t, &b) {
                    return Err(format!("{what}: timestamp {t} outside"));
                }
                equal(format_args!("{what}: the timestamp of {k:?}"), Some(t), known(&k))?;
                if !seen.insert(k.clone()) {
                    return Err(format!("{what}: {k:?} listed twice"));
                }
            }
        }
        if complete {
            if let Some(r) = self.want.range(b).into_iter().find(|r| !seen.contains(&r.1)) {
                return Err(format!("segment_pages {b:?}: flushed record {r:?} missing"));
            }
        }
        Ok(())
    }
}

/// The `Timelog` shortcuts against `want` (what a snapshot taken now shows, read
/// through `key`): `range_vec(r)`, `count(r)`, `point(ts)`, `len`, `is_empty`,
/// `first_ts`, `last_ts`, `next_ts(ts)`, `prev_ts(ts)`.
pub fn check_log_reads<V: Value, K: Clone + PartialEq + Debug>(
    log: &Timelog<V>,
    want: &View<K>,
    key: fn(&V) -> K,
    r: impl RangeBounds<i64>,
    ts: i64,
) -> Result<(), String> {
    let b = bounds::bounds(&r);
    let w = want.range(b);
    let got: Vec<(i64, K)> = log.range_vec(b).iter().map(|(t, v)| (*t, key(v))).collect();
    same(format_args!("Timelog::range_vec({b:?})"), &got, &w)?;
    equal(format_args!("Timelog::count({b:?})"), log.count(b), w.len())?;
    let pts: Vec<K> = log.point(ts).iter().map(key).collect();
    same(format_args!("Timelog::point({ts})"), &pts, &want.point(ts))?;
    equal("Timelog::len()", log.len(), want.len())?;
    equal("Timelog::is_empty()", log.is_empty(), want.is_empty())?;
    equal("Timelog::first_ts()", log.first_ts(), want.first_ts())?;
    equal("Timelog::last_ts()", log.last_ts(), want.last_ts())?;
    equal(format_args!("Timelog::next_ts({ts})"), log.next_ts(ts), want.next_ts(ts))?;
    equal(format_args!("Timelog::prev_ts({ts})"), log.prev_ts(ts), want.prev_ts(ts))
}

/// The whole snapshot ([`Expect::whole`]), values compared as they are.
pub fn check_whole<V: Value + PartialEq + Debug>(snap: &Snapshot<V>, want: &View<V>) -> Result<(), String> {
    Expect::new(snap, want, V::clone).whole()
}

/// One range from the front, the back and both ends in turn, and its count
/// ([`Expect::range`] with [`alternate`]), values compared as they are.
pub fn check_range<V: Value + PartialEq + Debug>(
    snap: &Snapshot<V>,
    want: &View<V>,
    r: impl RangeBounds<i64>,
) -> Result<(), String> {
    Expect::new(snap, want, V::clone).range(r, alternate())
}

/// One timestamp ([`Expect::probe`]), values compared as they are.
pub fn check_probe<V: Value + PartialEq + Debug>(
    snap: &Snapshot<V>,
    want: &View<V>,
    ts: i64,
) -> Result<(), String> {
    Expect::new(snap, want, V::clone).probe(ts)
}

/// [`check_whole`], then [`check_range`] on each of `ranges` and [`check_probe`] on
/// each of `probes`.
pub fn check_snapshot<V: Value + PartialEq + Debug>(
    snap: &Snapshot<V>,
    want: &View<V>,
    ranges: &[Bounds],
    probes: &[i64],
) -> Result<(), String> {
    let e = Expect::new(snap, want, V::clone);
    e.whole()?;
    for &b in ranges {
        e.range(b, alternate())?;
    }
    for &p in probes {
        e.probe(p)?;
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
