//! The oracle: a trivially correct model of the log, and the views it answers
//! reads with.
//!
//! The oracle keeps every record written with a sequence number of its own (a
//! batch's records take theirs in batch order) and every delete as an inclusive
//! range with its number. A record is visible iff no delete with a larger number
//! covers its timestamp: a delete hides only what was written before it. Visible
//! records are read in `(timestamp, number)` order, which is insertion order at
//! equal timestamps. Since the oracle only grows, what a snapshot must show is the
//! oracle cut at the number it had when the snapshot was taken ([`Oracle::seq`],
//! [`Oracle::view_at`]). The latest view is cached ([`Oracle::view_now`]), since
//! the fuzz driver reads it after nearly every operation.

use std::ops::RangeBounds;

use timelog::{Accepted, Error, Written};

use super::bounds;

/// What a delete must answer, by the shape of its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delete {
    /// The range holds a timestamp: the delete succeeds (`Clean` or
    /// `Backpressure`) and takes a sequence number.
    Recorded,
    /// The range holds no timestamp (`5..5`, `5..=4`, `..i64::MIN`,
    /// `delete_before(i64::MIN)`): `Ok(Accepted::Clean)`, and nothing is recorded.
    Empty,
    /// The range is inverted (`5..3`): `Err(Error::InvalidRange)`, nothing recorded.
    Inverted,
}

impl Delete {
    /// Whether the engine's answer `got` to the same delete is the expected one
    /// (an empty delete takes no sequence number).
    pub fn check(self, got: &timelog::Result<Written>) -> Result<(), String> {
        let ok = match self {
            Delete::Recorded => got.as_ref().is_ok_and(|w| w.count == 1),
            Delete::Empty => got.as_ref().is_ok_and(|w| w.count == 0 && w.accepted == Accepted::Clean),
            Delete::Inverted => *got == Err(Error::InvalidRange),
        };
        if ok {
            Ok(())
        } else {
            Err(format!("a delete of a range that is {self:?} returned {got:?}"))
        }
    }

    /// [`Delete::check`], panicking on a wrong answer.
    pub fn assert(self, got: &timelog::Result<Written>) {
        if let Err(e) = self.check(got) {
            panic!("{e}");
        }
    }
}

/// Every write and every delete, with their sequence numbers.
#[derive(Debug, Clone)]
pub struct Oracle<V> {
    /// `(ts, seq, value)` in write order.
    recs: Vec<(i64, u64, V)>,
    /// `(first, last, seq, below)`: the inclusive range of each recorded delete,
    /// its number, and the number below which it hides records (its own number,
    /// but for the bounded deletes of `evict`).
    tombs: Vec<(i64, i64, u64, u64)>,
    /// The last sequence number taken.
    seq: u64,
    /// The view at `.0`, once computed.
    cache: Option<(u64, View<V>)>,
}

impl<V> Default for Oracle<V> {
    fn default() -> Self {
        Oracle { recs: Vec::new(), tombs: Vec::new(), seq: 0, cache: None }
    }
}

impl<V: Clone> Oracle<V> {
    /// An oracle of an empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// One record, as `append`. Returns its sequence number.
    pub fn append(&mut self, ts: i64, v: V) -> u64 {
        self.seq += 1;
        self.recs.push((ts, self.seq, v));
        self.seq
    }

    /// Records in batch order, as `append_batch` or `append_columns`.
    pub fn append_batch(&mut self, batch: impl IntoIterator<Item = (i64, V)>) {
        for (ts, v) in batch {
            self.append(ts, v);
        }
    }

    /// A delete of `r`, as `delete_range`: recorded if `r` holds a timestamp.
    /// Returns what the engine must answer to it.
    pub fn delete<R: RangeBounds<i64>>(&mut self, r: R) -> Delete {
        match bounds::inclusive(&r) {
            Some((first, last)) => {
                self.seq += 1;
                self.tombs.push((first, last, self.seq, self.seq));
                Delete::Recorded
            }
            None if bounds::is_inverted(&r) => Delete::Inverted,
            None => Delete::Empty,
        }
    }

    /// The delete of `Timelog::evict`: hides the records of `r` that a snapshot
    /// taken when the oracle was at `seen` shows, and nothing written later.
    pub fn delete_seen<R: RangeBounds<i64>>(&mut self, r: R, seen: u64) {
        if let Some((first, last)) = bounds::inclusive(&r) {
            self.seq += 1;
            self.tombs.push((first, last, self.seq, seen + 1));
        }
    }

    /// A delete of everything before `ts`, as `delete_before`.
    pub fn delete_before(&mut self, ts: i64) -> Delete {
        self.delete(..ts)
    }

    /// The last sequence number taken: a snapshot taken now shows [`Oracle::view_at`]
    /// this number, whatever is written later.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Whether the record `(ts, seq)` is hidden by a delete numbered at most `upto`.
    fn hidden_at(&self, upto: u64, ts: i64, seq: u64) -> bool {
        self.tombs
            .iter()
            .any(|&(first, last, q, below)| q <= upto && below > seq && first <= ts && ts <= last)
    }

    /// The record numbered `seq`, if it is one (and not a delete's number).
    pub fn record(&self, seq: u64) -> Option<(i64, &V)> {
        // Records are pushed in sequence order.
        let i = self.recs.binary_search_by_key(&seq, |r| r.1).ok()?;
        Some((self.recs[i].0, &self.recs[i].2))
    }

    /// What a snapshot taken when the oracle was at `seq` shows.
    pub fn view_at(&self, seq: u64) -> View<V> {
        if let Some((at, v)) = &self.cache {
            if *at == seq {
                return v.clone();
            }
        }
        let mut v: Vec<&(i64, u64, V)> =
            self.recs.iter().filter(|&&(t, s, _)| s <= seq && !self.hidden_at(seq, t, s)).collect();
        v.sort_by_key(|&&(t, s, _)| (t, s));
        View(v.into_iter().map(|(t, _, x)| (*t, x.clone())).collect())
    }

    /// What a snapshot taken now shows.
    pub fn view(&self) -> View<V> {
        self.view_at(self.seq)
    }

    /// What a snapshot taken now shows, computed once per state (every write and
    /// every recorded delete takes a number, so the number names the state).
    pub fn view_now(&mut self) -> &View<V> {
        let seq = self.seq;
        if self.cache.as_ref().is_none_or(|c| c.0 != seq) {
            let v = self.view_at(seq);
            self.cache = Some((seq, v));
        }
        &self.cache.as_ref().expect("just computed").1
    }

    /// The visible records in read order.
    pub fn visible(&self) -> Vec<(i64, V)> {
        self.view().0
    }

    /// The records written and hidden now by a later delete, in write order.
    pub fn hidden(&self) -> Vec<(i64, V)> {
        self.recs
            .iter()
            .filter(|&&(t, s, _)| self.hidden_at(self.seq, t, s))
            .map(|(t, _, x)| (*t, x.clone()))
            .collect()
    }

    /// Every record written, visible or not, in write order.
    pub fn written(&self) -> impl Iterator<Item = (i64, &V)> + '_ {
        self.recs.iter().map(|(t, _, x)| (*t, x))
    }
}

/// The records a read must show, in read order, with every read answered on them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View<V>(Vec<(i64, V)>);

impl<V> Default for View<V> {
    fn default() -> Self {
        View(Vec::new())
    }
}

impl<V: Clone> View<V> {
    /// A view of `records`, which must be in read order (sorted by timestamp,
    /// insertion order at equal ones).
    pub fn new(records: Vec<(i64, V)>) -> Self {
        assert!(records.windows(2).all(|w| w[0].0 <= w[1].0), "a view's records must be sorted");
        View(records)
    }

    /// The records, in read order.
    pub fn records(&self) -> &[(i64, V)] {
        &self.0
    }

    /// The records, in read order.
    pub fn into_vec(self) -> Vec<(i64, V)> {
        self.0
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No record at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The records in `r`, in read order.
    pub fn range<R: RangeBounds<i64>>(&self, r: R) -> Vec<(i64, V)> {
        self.0.iter().filter(|x| bounds::in_bounds(x.0, &r)).cloned().collect()
    }

    /// Number of records in `r`.
    pub fn count<R: RangeBounds<i64>>(&self, r: R) -> usize {
        self.0.iter().filter(|x| bounds::in_bounds(x.0, &r)).count()
    }

    /// The values at exactly `ts`, in insertion order.
    pub fn point(&self, ts: i64) -> Vec<V> {
        self.0.iter().filter(|x| x.0 == ts).map(|x| x.1.clone()).collect()
    }

    /// The smallest timestamp.
    pub fn first_ts(&self) -> Option<i64> {
        self.0.first().map(|x| x.0)
    }

    /// The largest timestamp.
    pub fn last_ts(&self) -> Option<i64> {
        self.0.last().map(|x| x.0)
    }

    /// The smallest timestamp above `ts`.
    pub fn next_ts(&self, ts: i64) -> Option<i64> {
        self.0.iter().find(|x| x.0 > ts).map(|x| x.0)
    }

    /// The largest timestamp below `ts`.
    pub fn prev_ts(&self, ts: i64) -> Option<i64> {
        self.0.iter().rev().find(|x| x.0 < ts).map(|x| x.0)
    }
}
