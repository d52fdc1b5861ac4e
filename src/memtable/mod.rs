//! The memtable: where writes land.
//!
//! A memtable takes records from any number of threads without locks:
//! - **lanes**: a writer thread claims one of a few lanes (one CAS, once per
//!   memtable) and then appends in-order records to the lane's current columnar
//!   [`Run`] with plain stores and one `Release` length store;
//! - **batch runs**: `append_batch` sorts its batch into a complete [`Run`] off to
//!   the side and publishes it with one slot claim;
//! - **late piles**: a record out of order for its lane joins one of the lane's few
//!   sorted *late piles* (the one whose end is the largest not above it);
//! - **skiplist**: every other record (below every pile's end, or from a thread
//!   that found no free lane) goes into a lock-free crossbeam skiplist keyed by
//!   `(ts, seq)`.
//!
//! All of them know a sequence number per record (a batch run stores only the
//! first: its records took consecutive numbers in the run's order), so a reader
//! filters by its snapshot's watermark and by tombstones exactly. A memtable becomes a *memrun*
//! when it is sealed: it stops accepting new sequence numbers, but the writers
//! that already own a number below the seal finish into it.

mod ooo;
mod run;
mod stack;

use std::borrow::Cow;
use std::cell::UnsafeCell;

use crossbeam_utils::CachePadded;

use ooo::Ooo;
pub(crate) use run::{sort_batch, Run};
use stack::Stack;

use crate::config::Config;
use crate::source::{Seqs, Src, Vals};
use crate::sync::{thread_token, wait_until, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use crate::tombstone::Tomb;

const LANES: usize = 4;
/// Batches smaller than this go through the per-record path.
pub(crate) const SMALL_BATCH: usize = 16;
/// Bytes charged per record stored in a lane run (ts + seq + value).
fn run_record_bytes<V>() -> usize {
    16 + std::mem::size_of::<V>()
}
/// Bytes charged per skiplist record (node header, tower, key, value).
fn skip_record_bytes<V>() -> usize {
    64 + std::mem::size_of::<V>()
}
const TOMB_BYTES: usize = 48;
/// A memtable holding this many tombstones is sealed, so that the flush folds them
/// into the manifest's indexed step function: readers scan a memtable's tombstones
/// linearly, which bounds that scan.
const TOMB_SEAL: usize = 256;

/// Sorted runs a lane keeps for its own late records (see [`Memtable::insert_one`]).
const LATE_PILES: usize = 4;

struct LaneState<V> {
    run: *const Run<V>,
    last_ts: i64,
    /// Late piles: runs (null until needed) and the last timestamp of each.
    late: [(*const Run<V>, i64); LATE_PILES],
}

struct Lane<V> {
    /// Token of the owning thread, 0 when free.
    owner: AtomicU64,
    /// Touched only by the owner.
    state: UnsafeCell<LaneState<V>>,
}

/// A search for the first (`front`) or last record in `[lo, hi]` that
/// `visible(ts, seq)` accepts.
#[derive(Clone, Copy)]
pub(crate) struct Edge<'a> {
    pub(crate) lo: i64,
    pub(crate) hi: i64,
    pub(crate) front: bool,
    pub(crate) visible: &'a dyn Fn(i64, u64) -> bool,
}

/// A tombstone as a memtable holds it: what it hides, and the sequence number it
/// was written at, which decides which snapshots see it.
#[derive(Debug, Clone, Copy)]
struct MemTomb {
    tomb: Tomb,
    at: u64,
}

/// The mutable write buffer (and, once sealed, an immutable memrun).
pub(crate) struct Memtable<V> {
    /// First sequence number that may live here.
    pub(crate) start_seq: u64,
    sealing: AtomicBool,
    /// Sequence number of the seal (`u64::MAX` until known).
    seal_seq: AtomicU64,
    runs: Box<[AtomicPtr<Run<V>>]>,
    nruns: AtomicUsize,
    lanes: [CachePadded<Lane<V>>; LANES],
    skip: Ooo<V>,
    tombs: Stack<MemTomb>,
    /// Step function of all tombstones, built by the first reader that finds the
    /// memtable sealed and complete (its tombstones can no longer change).
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    tomb_index: std::sync::OnceLock<Vec<crate::tombstone::Piece>>,
    bytes: AtomicUsize,
    ooo_bytes: AtomicUsize,
    chunk_cap: usize,
    /// Capacity of a late pile's run.
    late_cap: usize,
    max_bytes: usize,
    ooo_budget: usize,
}

// SAFETY: lane states are only touched by the thread that claimed the lane with a
// CAS (exclusive access), runs/stack/skiplist are themselves thread-safe, and
// values are shared by reference (`V: Sync`) and dropped anywhere (`V: Send`).
unsafe impl<V: Send + Sync> Sync for Memtable<V> {}
// SAFETY: as above.
unsafe impl<V: Send + Sync> Send for Memtable<V> {}

impl<V: Send + Sync + 'static> Memtable<V> {
    pub(crate) fn new(cfg: &Config, start_seq: u64) -> Self {
        let per = run_record_bytes::<V>();
        // A lane's run is charged whole when it is allocated: a quarter of the
        // memtable at most, so that late piles still fit beside the first one (a
        // run sized to the whole memtable sealed it at the first late record).
        let chunk_cap = (cfg.memtable_max_bytes / per / 4).clamp(4, 4096);
        // A late pile's run is charged to the out-of-order budget whole when it is
        // allocated: small next to that budget (a lane's first runs of all its
        // piles take at most half of it), so that a memtable is not sealed as "out
        // of order" after a handful of late records.
        let late_cap = (chunk_cap / 8).min(cfg.ooo_budget_bytes / (2 * LATE_PILES * per)).max(4);
        let slots = (cfg.memtable_max_bytes / (per * SMALL_BATCH)).clamp(16, 4096);
        Memtable {
            start_seq,
            sealing: AtomicBool::new(false),
            seal_seq: AtomicU64::new(u64::MAX),
            runs: (0..slots).map(|_| AtomicPtr::new(std::ptr::null_mut())).collect(),
            nruns: AtomicUsize::new(0),
            lanes: std::array::from_fn(|_| {
                CachePadded::new(Lane {
                    owner: AtomicU64::new(0),
                    state: UnsafeCell::new(LaneState {
                        run: std::ptr::null(),
                        last_ts: i64::MIN,
                        late: [(std::ptr::null(), i64::MIN); LATE_PILES],
                    }),
                })
            }),
            skip: Ooo::new(),
            tombs: Stack::new(),
            #[cfg(not(any(timelog_loom, timelog_shuttle)))]
            tomb_index: std::sync::OnceLock::new(),
            bytes: AtomicUsize::new(0),
            ooo_bytes: AtomicUsize::new(0),
            chunk_cap,
            late_cap,
            max_bytes: cfg.memtable_max_bytes,
            ooo_budget: cfg.ooo_budget_bytes,
        }
    }

    // ----- seal protocol ---------------------------------------------------------

    /// Whether sequence number `s` (already reserved by the caller) belongs here.
    ///
    /// `Some(true)`: insert here. `Some(false)`: it belongs to a later memtable.
    /// The argument for the unsealed case: the caller's reservation is a `SeqCst`
    /// RMW that precedes this `SeqCst` load; the sealer stores `sealing = true`
    /// (`SeqCst`) before reserving the seal's own number. If the load sees `false`,
    /// the caller's RMW precedes the sealer's in the single total order, so `s` is
    /// below the seal number.
    pub(crate) fn owns(&self, s: u64) -> bool {
        if s < self.start_seq {
            return false;
        }
        if !self.sealing.load(Ordering::SeqCst) {
            return true;
        }
        s < self.wait_seal_seq()
    }

    fn wait_seal_seq(&self) -> u64 {
        let mut ss = self.seal_seq.load(Ordering::Acquire);
        if ss == u64::MAX {
            wait_until(|| {
                ss = self.seal_seq.load(Ordering::Acquire);
                ss != u64::MAX
            });
        }
        ss
    }

    /// Claims the right to seal. Only one caller ever gets `true`.
    pub(crate) fn begin_seal(&self) -> bool {
        !self.sealing.load(Ordering::Relaxed) && !self.sealing.swap(true, Ordering::SeqCst)
    }

    /// Records the seal's sequence number (after [`Memtable::begin_seal`]).
    pub(crate) fn set_seal_seq(&self, s: u64) {
        self.seal_seq.store(s, Ordering::Release);
    }

    /// The seal's sequence number, if sealed.
    pub(crate) fn seal_seq(&self) -> Option<u64> {
        match self.seal_seq.load(Ordering::Acquire) {
            u64::MAX => None,
            s => Some(s),
        }
    }

    /// Whether the memtable should be sealed.
    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.bytes.load(Ordering::Relaxed) >= self.max_bytes
            || self.ooo_bytes.load(Ordering::Relaxed) >= self.ooo_budget
            || self.nruns.load(Ordering::Relaxed) + 2 >= self.runs.len()
            || self.tombs.len() >= TOMB_SEAL
    }

    /// Bytes charged so far.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Bytes held in the out-of-order skiplist.
    pub(crate) fn ooo_bytes(&self) -> usize {
        self.ooo_bytes.load(Ordering::Relaxed)
    }

    // ----- writes ------------------------------------------------------------------

    /// Inserts one record with sequence number `s`.
    pub(crate) fn insert_one(&self, ts: i64, s: u64, v: V) {
        let me = thread_token();
        let lane = &self.lanes[(me as usize) % LANES];
        let owner = lane.owner.load(Ordering::Relaxed);
        let mine = owner == me
            || (owner == 0
                && lane.owner.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed).is_ok());
        if mine {
            // SAFETY: this thread owns the lane (it won the CAS above or earlier), so
            // it is the only one touching the lane state.
            let st = unsafe { &mut *lane.state.get() };
            if ts >= st.last_ts || st.run.is_null() {
                // SAFETY: `st.run` is null or a run this lane created and published in
                // `runs`, which lives as long as the memtable.
                let full = st.run.is_null() || unsafe { (*st.run).len() == (*st.run).capacity() };
                if full {
                    if let Some(r) = self.publish_run(Run::with_capacity(self.chunk_cap)) {
                        self.bytes.fetch_add(self.chunk_cap * run_record_bytes::<V>(), Ordering::Relaxed);
                        st.run = r;
                    } else {
                        return self.insert_skip(ts, s, v);
                    }
                }
                // SAFETY: this lane is the run's only producer, the run has room, and
                // `ts` is not below the run's last timestamp (`last_ts` check above; a
                // fresh run is empty). Sequence numbers of one thread only grow.
                unsafe { (*st.run).push(ts, s, v) };
                st.last_ts = ts;
                return;
            }
            // Late for this lane: like patience sorting, the record joins the late
            // pile whose last timestamp is the largest one not above it (or a pile
            // not started yet). Piles are sorted runs, so a late record costs what an
            // in-order one does; only a record below every pile's end goes to the
            // skiplist. (Nearly sorted streams — records moved back a little — fit a
            // pile most of the time.)
            let (mut pick, mut unused): (Option<usize>, Option<usize>) = (None, None);
            for (k, &(run, last)) in st.late.iter().enumerate() {
                if run.is_null() {
                    unused = unused.or(Some(k));
                } else if last <= ts && pick.is_none_or(|p| last > st.late[p].1) {
                    pick = Some(k);
                }
            }
            if let Some(k) = pick.or(unused) {
                let (run, _) = st.late[k];
                // SAFETY: as for the lane's main run: null or published by this lane.
                let full = run.is_null() || unsafe { (*run).len() == (*run).capacity() };
                if full {
                    let cap = self.late_cap;
                    match self.publish_run(Run::late_pile(cap)) {
                        Some(r) => {
                            let b = cap * run_record_bytes::<V>();
                            self.bytes.fetch_add(b, Ordering::Relaxed);
                            self.ooo_bytes.fetch_add(b, Ordering::Relaxed);
                            st.late[k].0 = r;
                        }
                        None => return self.insert_skip(ts, s, v),
                    }
                }
                // SAFETY: as for the main run: sole producer, room checked, and `ts`
                // is not below the pile's last timestamp (a fresh run is empty).
                unsafe { (*st.late[k].0).push(ts, s, v) };
                st.late[k].1 = ts;
                return;
            }
        }
        self.insert_skip(ts, s, v)
    }

    fn insert_skip(&self, ts: i64, s: u64, v: V) {
        self.skip.insert(ts, s, v);
        let b = skip_record_bytes::<V>();
        self.bytes.fetch_add(b, Ordering::Relaxed);
        self.ooo_bytes.fetch_add(b, Ordering::Relaxed);
    }

    /// Publishes a complete sorted run (from a batch). Falls back to the skiplist
    /// when the run table is full.
    pub(crate) fn insert_run(&self, run: Run<V>) {
        let bytes = run.len() * run.record_bytes();
        if self.publish_run(run).is_some() {
            self.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// Claims a slot and publishes `run`; returns a pointer to it, or `None` when no
    /// slot is left, in which case the run's records are moved to the skiplist.
    fn publish_run(&self, run: Run<V>) -> Option<*const Run<V>> {
        let i = self.nruns.fetch_add(1, Ordering::Relaxed);
        if i >= self.runs.len() {
            // Nothing is lost: the records go to the skiplist instead.
            self.spill(run);
            return None;
        }
        let p = Box::into_raw(Box::new(run));
        // Release: the run's contents happen-before a reader that acquires the slot.
        self.runs[i].store(p, Ordering::Release);
        Some(p)
    }

    /// Moves a run's records into the skiplist (run table full; rare).
    fn spill(&self, run: Run<V>) {
        let n = run.len();
        let ts = run.ts(n).into_owned();
        let seq: Vec<u64> = {
            let q = run.seqs(n);
            (0..n).map(|j| q.get(j)).collect()
        };
        for ((t, s), v) in ts.into_iter().zip(seq).zip(run.into_vals()) {
            self.insert_skip(t, s, v);
        }
    }

    /// Records a tombstone written at sequence number `at` (it is visible to
    /// snapshots whose watermark passes `at`; `t.seq <= at` is what it hides below).
    pub(crate) fn insert_tomb(&self, t: Tomb, at: u64) {
        debug_assert!(t.seq <= at);
        self.tombs.push(MemTomb { tomb: t, at });
        self.bytes.fetch_add(TOMB_BYTES, Ordering::Relaxed);
    }

    // ----- reads -------------------------------------------------------------------

    /// Every tombstone written below the watermark `w`.
    pub(crate) fn tombs_below(&self, w: u64, out: &mut Vec<Tomb>) {
        out.extend(self.tombs.iter().filter(|t| t.at < w).map(|t| t.tomb));
    }

    /// For a memtable sealed below the watermark `w` (so its tombstones are final),
    /// adds the pieces of its cached step function that overlap `[lo, hi]` and
    /// returns `true`; otherwise returns `false` and the caller scans the list.
    pub(crate) fn tombs_overlapping_indexed(&self, lo: i64, hi: i64, w: u64, out: &mut Vec<Tomb>) -> bool {
        #[cfg(not(any(timelog_loom, timelog_shuttle)))]
        {
            if self.tombs.len() < 8 || self.seal_seq().is_none_or(|s| s >= w) {
                return false;
            }
            let pieces = self.tomb_index.get_or_init(|| {
                let mut all: Vec<Tomb> = self.tombs.iter().map(|t| t.tomb).collect();
                crate::tombstone::step_function(&mut all, i64::MIN, i64::MAX)
            });
            let start = pieces.partition_point(|p| p.hi < lo);
            for p in &pieces[start..] {
                if p.lo > hi {
                    break;
                }
                out.push(Tomb { lo: p.lo, hi: p.hi, seq: p.seq });
            }
            true
        }
        #[cfg(any(timelog_loom, timelog_shuttle))]
        {
            let _ = (lo, hi, w, out);
            false
        }
    }

    /// The largest bound (see [`Tomb::seq`]) of a tombstone here written below
    /// `w` and covering `ts` (0 if none).
    pub(crate) fn tomb_cover(&self, ts: i64, w: u64) -> u64 {
        self.tombs
            .iter()
            .filter(|t| t.at < w && t.tomb.lo <= ts && ts <= t.tomb.hi)
            .map(|t| t.tomb.seq)
            .max()
            .unwrap_or(0)
    }

    /// Number of tombstones stored here.
    pub(crate) fn tomb_count(&self) -> usize {
        self.tombs.len()
    }

    fn runs(&self) -> impl Iterator<Item = &Run<V>> + '_ {
        let n = self.nruns.load(Ordering::Acquire).min(self.runs.len());
        self.runs[..n].iter().filter_map(|slot| {
            let p = slot.load(Ordering::Acquire);
            // SAFETY: a non-null slot holds a run published with `Release` (acquired
            // above) that lives until the memtable is dropped, which `&self` prevents.
            (!p.is_null()).then(|| unsafe { &*p })
        })
    }

    /// Adds one merge source per run (and one for the skiplist) restricted to
    /// `[lo, hi]`. Records at or above the watermark `w` are filtered by the cursor.
    pub(crate) fn sources<'a>(&'a self, lo: i64, hi: i64, out: &mut Vec<Src<'a, V>>) {
        let seal = self.seal_seq().unwrap_or(u64::MAX);
        for run in self.runs() {
            let n = run.len();
            let ts = run.ts(n);
            let a = ts.partition_point(|&t| t < lo);
            let b = ts.partition_point(|&t| t <= hi);
            if a < b {
                out.push(Src::mem(ts, run.seqs(n), run.vals(n), a, b, seal));
            }
        }
        let (ts, seq, vals) = self.skip.collect(lo, hi);
        let n = ts.len();
        if n > 0 {
            out.push(Src::mem(Cow::Owned(ts), Seqs::Each(Cow::Owned(seq)), Vals::Refs(vals), 0, n, seal));
        }
    }

    /// The smallest (`front`) or largest timestamp in `[lo, hi]` of a record that
    /// `visible(ts, seq)` accepts, walking each run and the out-of-order index from
    /// the boundary and stopping at the first accepted record.
    pub(crate) fn edge(&self, q: &Edge<'_>) -> Option<i64> {
        let Edge { lo, hi, front, visible } = *q;
        let mut best: Option<i64> = None;
        let better = |t: i64, best: Option<i64>| best.is_none_or(|b| if front { t < b } else { t > b });
        for run in self.runs() {
            let n = run.len();
            let (ts, seq) = (run.ts(n), run.seqs(n));
            let a = ts.partition_point(|&t| t < lo);
            let b = ts.partition_point(|&t| t <= hi);
            let found = if front {
                (a..b).take_while(|&j| better(ts[j], best)).find(|&j| visible(ts[j], seq.get(j)))
            } else {
                (a..b).rev().take_while(|&j| better(ts[j], best)).find(|&j| visible(ts[j], seq.get(j)))
            };
            if let Some(j) = found {
                best = Some(ts[j]);
            }
        }
        if let Some(t) = self.skip.edge(q) {
            if better(t, best) {
                best = Some(t);
            }
        }
        best
    }

    /// Calls `f(seq, value)` for every record at exactly `ts` (visible or not).
    pub(crate) fn point_into<'a>(&'a self, ts: i64, f: &mut dyn FnMut(u64, &'a V)) {
        for run in self.runs() {
            let n = run.len();
            let t = run.ts(n);
            let a = t.partition_point(|&x| x < ts);
            if a < n && t[a] == ts {
                let b = a + t[a..].partition_point(|&x| x == ts);
                let seq = run.seqs(n);
                match run.vals(n) {
                    Vals::Slice(v) => (a..b).for_each(|j| f(seq.get(j), &v[j])),
                    Vals::Refs(v) => (a..b).for_each(|j| f(seq.get(j), v[j])),
                }
            }
        }
        if self.skip.len() == 0 {
            return;
        }
        let (_, seq, vals) = self.skip.collect(ts, ts);
        for (q, v) in seq.into_iter().zip(vals) {
            f(q, v);
        }
    }

    /// Number of records held (all sequence numbers, visible or not).
    pub(crate) fn len(&self) -> usize {
        self.skip.len() + self.runs().map(Run::len).sum::<usize>()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0 && self.tombs.len() == 0
    }
}

impl<V> Drop for Memtable<V> {
    fn drop(&mut self) {
        let n = self.nruns.load(Ordering::Acquire).min(self.runs.len());
        for slot in &self.runs[..n] {
            let p = slot.load(Ordering::Acquire);
            if !p.is_null() {
                // SAFETY: each published run was created by `Box::into_raw` and is
                // freed exactly once, here.
                drop(unsafe { Box::from_raw(p) });
            }
        }
    }
}

impl<V: Send + Sync + 'static> Memtable<V> {
    /// `(records in order, records that arrived out of order)`: late piles and the
    /// skiplist hold the latter.
    pub(crate) fn record_split(&self) -> (usize, usize) {
        let (mut in_order, mut late) = (0, self.skip.len());
        for run in self.runs() {
            *if run.is_late() { &mut late } else { &mut in_order } += run.len();
        }
        (in_order, late)
    }

    /// Checks that every run is sorted by `(ts, seq)` and sequence numbers lie in
    /// this memtable's range.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let seal = self.seal_seq().unwrap_or(u64::MAX);
        for run in self.runs() {
            let n = run.len();
            let (ts, seq) = (run.ts(n), run.seqs(n));
            for j in 1..ts.len() {
                if (ts[j - 1], seq.get(j - 1)) >= (ts[j], seq.get(j)) {
                    return Err(format!("memtable run not sorted at index {j}"));
                }
            }
            if let Some(bad) = (0..n).map(|j| seq.get(j)).find(|&q| q < self.start_seq || q >= seal) {
                return Err(format!(
                    "memtable record with sequence {bad} outside [{}, {seal})",
                    self.start_seq
                ));
            }
        }
        Ok(())
    }
}
