//! The write path: every kind of write — one record, a small batch, a sorted
//! batch run, a tombstone — goes through [`publish`], the one place that pins the
//! manifest, reserves sequence numbers, inserts into the memtable owning them,
//! publishes the numbers and hands a full memtable to the seal stage.

use crate::manifest::{Guard, Manifest, Quiet};
use crate::memtable::{sort_batch, Memtable, Run, SMALL_BATCH};
use crate::store::Store;
use crate::sync::spin_loop;
use crate::tombstone::Tomb;
use crate::Value;

use super::seal;
use super::signal::Signals;
use crate::outcome::{Accepted, Written};

/// One write, as the memtable takes it.
pub(crate) enum Op<V> {
    /// One record.
    One(i64, V),
    /// Records inserted one by one (a single record or a small batch), numbered
    /// in order.
    Records(Vec<i64>, Vec<V>),
    /// A batch sorted by timestamp, inserted as one run.
    Run(Vec<i64>, Vec<V>),
    /// A range tombstone over `[lo, hi]`: hides what was written before it, or
    /// with a bound, only what was written below that sequence number.
    Tomb(i64, i64, Option<u64>),
}

impl<V> Op<V> {
    /// A batch of records, sorted off to the side when it is large enough to be a
    /// run (stable: equal timestamps keep their order). Sorting happens before
    /// any sequence number is reserved; the records then take consecutive numbers
    /// in sorted order, which is arrival order wherever the order of two records
    /// matters: at equal timestamps.
    pub(crate) fn batch(mut ts: Vec<i64>, mut vals: Vec<V>) -> Self {
        assert_eq!(ts.len(), vals.len(), "append_columns: column lengths differ");
        if ts.len() < SMALL_BATCH {
            return Op::Records(ts, vals);
        }
        sort_batch(&mut ts, &mut vals);
        Op::Run(ts, vals)
    }

    /// Sequence numbers the write takes.
    fn count(&self) -> usize {
        match self {
            Op::Records(ts, _) | Op::Run(ts, _) => ts.len(),
            Op::One(..) | Op::Tomb(..) => 1,
        }
    }
}

/// Publishes one write: the single path every write takes.
pub(crate) fn publish<V: Value>(store: &Store<V>, signals: &Signals, op: Op<V>) -> Written {
    let n = op.count() as u64;
    if n == 0 {
        return Written { first_seq: store.seq.visible(), count: 0, accepted: Accepted::Clean };
    }
    let guard = store.manifest.pin();
    let m = store.manifest.load(&guard);
    // No user code from the reservation to the publication (see `Quiet`).
    let quiet = Quiet::enter();
    let s = store.seq.reserve(n);
    // One memtable for the whole write: it owns `s`, and the seal protocol
    // assigns whole reservations (the reservation precedes the seal's).
    let mt = target(store, m, s, &guard);
    match op {
        Op::One(t, v) => mt.insert_one(t, s, v),
        Op::Records(ts, vals) => {
            for (i, (t, v)) in ts.into_iter().zip(vals).enumerate() {
                mt.insert_one(t, s + i as u64, v);
            }
        }
        Op::Run(ts, vals) => mt.insert_run(Run::from_batch(ts, vals, s)),
        Op::Tomb(lo, hi, below) => mt.insert_tomb(Tomb { lo, hi, seq: below.unwrap_or(s) }, s),
    }
    store.seq.publish(s, n);
    drop(quiet);
    let accepted =
        if mt.is_full() && !seal::defer_seal() { seal::on_full(store, signals, mt) } else { Accepted::Clean };
    drop(guard);
    // Published and unpinned: drop what the epoch parked while this write (or
    // another) was quiet, and seal what the drops' own writes filled.
    let settled = seal::drain(store, signals, true);
    Written { first_seq: s, count: n, accepted: accepted.or(settled) }
}

/// The memtable that owns sequence number `s` (reserved after loading `m`).
#[inline]
fn target<'g, V: Value>(
    store: &Store<V>,
    m: &'g Manifest<V>,
    s: u64,
    guard: &'g Guard<'_>,
) -> &'g Memtable<V> {
    if m.active.owns(s) {
        return &m.active;
    }
    // A seal took the number range we are in: find the memtable that owns `s`
    // in a fresh manifest (the sealer publishes it right after choosing its
    // sequence number; no memtable owning an unpublished number is flushed).
    loop {
        let m = store.manifest.load(guard);
        if m.active.owns(s) {
            return &m.active;
        }
        if let Some(mr) = m.memruns.iter().rev().find(|mr| mr.owns(s)) {
            return mr;
        }
        spin_loop();
    }
}
