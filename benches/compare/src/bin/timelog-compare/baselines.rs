//! The structures under test: the engine and the baselines, each behind the one
//! or two interfaces the scenarios drive. [`Reads`] is what one thread reads from
//! a structure built from the whole workload; [`Shared`] is a structure that two
//! writers, or a writer and two readers, use at once.
//!
//! The `BTreeMap` and `SkipMap` baselines are keyed by [`Key`]; the `Vec` floor
//! holds `(ts, value)` pairs in timestamp order.

use std::collections::BTreeMap;
use std::hint::black_box;

use crossbeam_skiplist::SkipMap;
use parking_lot::RwLock;
use std::sync::OnceLock;

use timelog::{Builder, Snapshot, TimeUnit, Timelog};
use timelog_compare::workload::Workload;

/// The key of the map baselines: (timestamp, arrival index), so that records
/// with equal timestamps stay distinct and in arrival order.
pub type Key = (i64, u64);

/// The records of a batch whose first record has arrival index `first`, keyed.
fn keyed<'a>(first: usize, ts: &'a [i64], vals: &'a [u64]) -> impl Iterator<Item = (Key, u64)> + 'a {
    ts.iter().zip(vals).enumerate().map(move |(k, (&t, &v))| ((t, (first + k) as u64), v))
}

/// The wrapping sum of `values`: what every read returns, so that the
/// structures' answers can be cross-checked.
fn sum<'a>(values: impl Iterator<Item = &'a u64>) -> u64 {
    values.fold(0u64, |a, v| a.wrapping_add(*v))
}

/// The time unit of the engine's logs, when the dataset sets one (`--dataset
/// realistic`: nanoseconds): the default L1 window is an hour of the log's unit,
/// so a log of nanosecond timestamps is told so, as its user would.
static UNIT: OnceLock<TimeUnit> = OnceLock::new();

/// Sets the time unit of every engine log made from now on (once).
pub fn set_time_unit(u: TimeUnit) {
    let _ = UNIT.set(u);
}

/// A builder of the engine's logs: the defaults, and the dataset's time unit.
pub fn engine_builder() -> Builder<u64> {
    match UNIT.get() {
        Some(&u) => Timelog::builder().time_unit(u),
        None => Timelog::builder(),
    }
}

/// An engine log with the defaults (and the dataset's time unit).
pub fn engine_log() -> Timelog<u64> {
    engine_builder().build().expect("valid config")
}

/// The `Vec` floor: in-order records appended to a `Vec`, late ones set aside,
/// sorted and merged once at the end (the fastest "ingest then scan" on one core).
pub fn floor_ingest(w: &Workload) -> Vec<(i64, u64)> {
    let mut main: Vec<(i64, u64)> = Vec::new();
    let mut late: Vec<(i64, u64)> = Vec::new();
    let mut last = i64::MIN;
    for (ts, vals) in w.batches() {
        for (&t, &v) in ts.iter().zip(vals) {
            if t >= last {
                main.push((t, v));
                last = t;
            } else {
                late.push((t, v));
            }
        }
    }
    // Stable: late records with equal timestamps keep their arrival order.
    late.sort_by_key(|r| r.0);
    // Merge in place from the back (no second full-size buffer to allocate and
    // fault in); on ties the in-order record, which arrived first, stays first.
    let (m, k) = (main.len(), late.len());
    main.resize(m + k, (0, 0));
    let (mut i, mut j, mut o) = (m, k, m + k);
    while j > 0 {
        o -= 1;
        if i > 0 && main[i - 1].0 > late[j - 1].0 {
            main[o] = main[i - 1];
            i -= 1;
        } else {
            main[o] = late[j - 1];
            j -= 1;
        }
    }
    main.shrink_to_fit();
    main
}

/// The collect-and-sort floor: every record pushed to a `Vec` in arrival order,
/// then one stable sort by timestamp (records with equal timestamps keep their
/// arrival order). The floor of the fully shuffled ingest, where setting the
/// late records aside buys nothing.
pub fn sort_floor(w: &Workload) -> Vec<(i64, u64)> {
    let mut v: Vec<(i64, u64)> = Vec::new();
    for (ts, vals) in w.batches() {
        v.extend(ts.iter().copied().zip(vals.iter().copied()));
    }
    v.sort_by_key(|r| r.0);
    v
}

/// A `BTreeMap` with every record, inserted one at a time in arrival order.
pub fn btree_build(w: &Workload) -> BTreeMap<Key, u64> {
    let mut m = BTreeMap::new();
    // `extend` inserts one record at a time (unlike `collect`, which sorts first).
    m.extend(keyed(0, &w.ts, &w.values));
    m
}

/// A `SkipMap` with every record, inserted one at a time in arrival order.
pub fn skip_build(w: &Workload) -> SkipMap<Key, u64> {
    let m = SkipMap::new();
    m.write_batch(0, &w.ts, &w.values);
    m
}

/// Appends every batch to the engine, as owned columns (the copy is timed: it is
/// how a caller holding slices hands a batch over).
pub fn engine_ingest(log: &Timelog<u64>, w: &Workload) {
    for (ts, vals) in w.batches() {
        log.write_batch(0, ts, vals);
    }
}

// ----- one thread reading -------------------------------------------------------------

/// One thread's reads, each returning the wrapping sum of the values it found.
pub trait Reads {
    /// Every record, in timestamp order.
    fn scan_sum(&self) -> u64;
    /// Every record, in timestamp order, consuming timestamp and value: the wrapping
    /// sum of `ts ^ value`.
    fn scan_ts_v(&self) -> u64;
    /// Every record, newest timestamp first, where the structure is timed on it.
    fn reverse_sum(&self) -> Option<u64> {
        None
    }
    /// The records with `lo <= ts < hi`.
    fn range_sum(&self, lo: i64, hi: i64) -> u64;
    /// The records with timestamp `ts`.
    fn point_sum(&self, ts: i64) -> u64;
}

/// One record's share of [`Reads::scan_ts_v`].
#[inline(always)]
fn ts_v(a: u64, t: i64, v: u64) -> u64 {
    a.wrapping_add(t as u64 ^ v)
}

impl Reads for Vec<(i64, u64)> {
    fn scan_sum(&self) -> u64 {
        sum(self.iter().map(|r| &r.1))
    }
    fn scan_ts_v(&self) -> u64 {
        self.iter().fold(0, |a, r| ts_v(a, r.0, r.1))
    }
    fn reverse_sum(&self) -> Option<u64> {
        Some(sum(self.iter().rev().map(|r| &r.1)))
    }
    fn range_sum(&self, lo: i64, hi: i64) -> u64 {
        let first = self.partition_point(|r| r.0 < lo);
        sum(self[first..].iter().take_while(|r| r.0 < hi).map(|r| &r.1))
    }
    fn point_sum(&self, ts: i64) -> u64 {
        let first = self.partition_point(|r| r.0 < ts);
        sum(self[first..].iter().take_while(|r| r.0 == ts).map(|r| &r.1))
    }
}

impl Reads for BTreeMap<Key, u64> {
    fn scan_sum(&self) -> u64 {
        sum(self.values())
    }
    fn scan_ts_v(&self) -> u64 {
        self.iter().fold(0, |a, (k, v)| ts_v(a, k.0, *v))
    }
    fn range_sum(&self, lo: i64, hi: i64) -> u64 {
        sum(self.range((lo, 0)..(hi, 0)).map(|(_, v)| v))
    }
    fn point_sum(&self, ts: i64) -> u64 {
        sum(self.range((ts, 0)..=(ts, u64::MAX)).map(|(_, v)| v))
    }
}

impl Reads for SkipMap<Key, u64> {
    fn scan_sum(&self) -> u64 {
        self.iter().fold(0u64, |a, e| a.wrapping_add(*e.value()))
    }
    fn scan_ts_v(&self) -> u64 {
        self.iter().fold(0u64, |a, e| ts_v(a, e.key().0, *e.value()))
    }
    fn range_sum(&self, lo: i64, hi: i64) -> u64 {
        self.range((lo, 0)..(hi, 0)).fold(0u64, |a, e| a.wrapping_add(*e.value()))
    }
    fn point_sum(&self, ts: i64) -> u64 {
        self.range((ts, 0)..=(ts, u64::MAX)).fold(0u64, |a, e| a.wrapping_add(*e.value()))
    }
}

impl Reads for Snapshot<u64> {
    fn scan_sum(&self) -> u64 {
        sum(self.range(..).map(|(_, v)| v))
    }
    fn scan_ts_v(&self) -> u64 {
        self.range(..).fold(0, |a, (t, v)| ts_v(a, t, *v))
    }
    fn reverse_sum(&self) -> Option<u64> {
        Some(sum(self.range(..).rev().map(|(_, v)| v)))
    }
    fn range_sum(&self, lo: i64, hi: i64) -> u64 {
        sum(self.range(lo..hi).map(|(_, v)| v))
    }
    fn point_sum(&self, ts: i64) -> u64 {
        sum(self.point(ts))
    }
}

// ----- threads sharing one structure --------------------------------------------------

/// A structure written and read by several threads at once.
pub trait Shared: Sync {
    /// An empty structure.
    fn empty() -> Self;
    /// One holding every record of `w`, settled (the engine's is compacted).
    fn preloaded(w: &Workload) -> Self;
    /// Adds one batch whose first record has arrival index `first`.
    fn write_batch(&self, first: usize, ts: &[i64], vals: &[u64]);
    /// Ends a write job (the engine flushes; nothing to do elsewhere).
    fn finish(&self) {}
    /// Records held.
    fn records(&self) -> usize;
    /// One reader's full scan: how many records it saw.
    fn scan_count(&self) -> usize;
}

impl Shared for Timelog<u64> {
    fn empty() -> Self {
        engine_log()
    }
    fn preloaded(w: &Workload) -> Self {
        let log = engine_log();
        engine_ingest(&log, w);
        log.compact_now();
        log
    }
    fn write_batch(&self, _first: usize, ts: &[i64], vals: &[u64]) {
        let _ = self.append_columns(ts.to_vec(), vals.to_vec());
    }
    fn finish(&self) {
        self.flush();
    }
    fn records(&self) -> usize {
        self.len()
    }
    fn scan_count(&self) -> usize {
        self.snapshot().range(..).fold(0usize, |c, (_, v)| {
            black_box(v);
            c + 1
        })
    }
}

/// The `BTreeMap` for two threads: writers take the lock once per batch,
/// readers once per full scan.
impl Shared for RwLock<BTreeMap<Key, u64>> {
    fn empty() -> Self {
        RwLock::new(BTreeMap::new())
    }
    fn preloaded(w: &Workload) -> Self {
        RwLock::new(btree_build(w))
    }
    fn write_batch(&self, first: usize, ts: &[i64], vals: &[u64]) {
        self.write().extend(keyed(first, ts, vals));
    }
    fn records(&self) -> usize {
        self.read().len()
    }
    fn scan_count(&self) -> usize {
        self.read().values().fold(0usize, |c, v| {
            black_box(v);
            c + 1
        })
    }
}

impl Shared for SkipMap<Key, u64> {
    fn empty() -> Self {
        SkipMap::new()
    }
    fn preloaded(w: &Workload) -> Self {
        skip_build(w)
    }
    fn write_batch(&self, first: usize, ts: &[i64], vals: &[u64]) {
        for (k, v) in keyed(first, ts, vals) {
            self.insert(k, v);
        }
    }
    fn records(&self) -> usize {
        self.len()
    }
    fn scan_count(&self) -> usize {
        self.iter().fold(0usize, |c, e| {
            black_box(e.value());
            c + 1
        })
    }
}
