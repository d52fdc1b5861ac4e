//! A columnar, sorted run of records inside a memtable.
//!
//! A lane run has three columns (`ts`, `seq`, value) of fixed capacity and an
//! atomic length. A batch run has no `seq` column: its records took consecutive
//! sequence numbers `base, base + 1, ...` in the run's (sorted) order, so record
//! `j`'s number is `base + j` (see [`Seqs`]). Records `[0, len)` are initialised
//! and never written again; only the run's single producer writes, and only at
//! index `len`, before publishing the new length with `Release`. Readers load the
//! length with `Acquire` and read the prefix as ordinary shared slices; the safe
//! readers `ts`/`seqs`/`vals(n)` check `n <= len()` themselves (a real `assert!`,
//! not a debug one; compiled out only in the loom build), so no caller can make
//! them expose an unwritten slot. Runs
//! built from a batch are complete (`len == capacity`) before anyone else can see
//! them.
//!
//! Under loom the column cells are loom's `UnsafeCell`, so the model checker sees
//! every column access and reports a read that is not ordered after its write;
//! readers then get copies (`Cow::Owned`) instead of slices.

use std::borrow::Cow;
use std::mem::MaybeUninit;

use crate::source::{Seqs, Vals};
use crate::sync::{AtomicUsize, Ordering};

#[cfg(not(timelog_loom))]
type Cell<T> = std::cell::UnsafeCell<MaybeUninit<T>>;
#[cfg(timelog_loom)]
type Cell<T> = loom::cell::UnsafeCell<MaybeUninit<T>>;

type Column<T> = Box<[Cell<T>]>;

fn column<T>(cap: usize) -> Column<T> {
    (0..cap).map(|_| Cell::new(MaybeUninit::uninit())).collect()
}

#[cfg(not(timelog_loom))]
fn into_column<T>(v: Vec<T>) -> Column<T> {
    let boxed: Box<[T]> = v.into_boxed_slice();
    let raw = Box::into_raw(boxed) as *mut [Cell<T>];
    // SAFETY: `UnsafeCell<MaybeUninit<T>>` is `repr(transparent)` over `T` at every
    // level, so the slice has the same layout and length; every element is an
    // initialised `T`, which is a valid `MaybeUninit<T>`. The allocation is
    // handed from one `Box` to the other unchanged.
    unsafe { Box::from_raw(raw) }
}

#[cfg(timelog_loom)]
fn into_column<T>(v: Vec<T>) -> Column<T> {
    v.into_iter().map(|x| Cell::new(MaybeUninit::new(x))).collect()
}

/// Writes `v` into an uninitialised cell.
///
/// # Safety
/// No other thread may access the cell concurrently, and it must not hold a value.
#[inline]
unsafe fn write<T>(cell: &Cell<T>, v: T) {
    #[cfg(not(timelog_loom))]
    // SAFETY: exclusive access per the caller's contract.
    unsafe {
        (*cell.get()).write(v);
    }
    #[cfg(timelog_loom)]
    // SAFETY: exclusive access per the caller's contract (loom checks it).
    cell.with_mut(|p| unsafe {
        (*p).write(v);
    });
}

/// A shared reference to an initialised cell's value (loom: records the read).
///
/// # Safety
/// The cell must be initialised and never written again while the reference lives.
#[cfg(timelog_loom)]
#[inline]
unsafe fn get<T>(cell: &Cell<T>) -> &T {
    // SAFETY: initialised and immutable per the caller's contract.
    cell.with(|p| unsafe { (*p).assume_init_ref() })
}

/// Moves the value out of an initialised cell, leaving it logically uninitialised.
///
/// # Safety
/// Exclusive access; the cell is initialised and is not read or dropped again.
#[inline]
unsafe fn take<T>(cell: &Cell<T>) -> T {
    #[cfg(not(timelog_loom))]
    // SAFETY: per the caller's contract.
    unsafe {
        (*cell.get()).assume_init_read()
    }
    #[cfg(timelog_loom)]
    // SAFETY: per the caller's contract.
    cell.with_mut(|p| unsafe { (*p).assume_init_read() })
}

/// Sorts a batch's columns by timestamp, in place and stably (equal timestamps
/// keep their arrival order).
///
/// Batches are usually nearly sorted: the records that keep up with the running
/// maximum form a sorted *spine*, and the few *late* ones are taken out, sorted
/// on their own, and merged back in one backward pass over the columns (spine
/// records move right to make room; nothing else is allocated at batch size).
/// Badly shuffled input (more than a quarter late) is sorted as pairs.
pub(crate) fn sort_batch<V>(ts: &mut Vec<i64>, vals: &mut Vec<V>) {
    let n = ts.len();
    assert_eq!(n, vals.len(), "column lengths differ");
    let mut late: Vec<usize> = Vec::new();
    let mut max = i64::MIN;
    for (i, &t) in ts.iter().enumerate() {
        if t >= max {
            max = t;
        } else {
            late.push(i);
            if late.len() > n / 4 {
                break;
            }
        }
    }
    if late.is_empty() {
        return;
    }
    if late.len() > n / 4 {
        let mut pairs: Vec<(i64, V)> = std::mem::take(ts).into_iter().zip(std::mem::take(vals)).collect();
        pairs.sort_by_key(|r| r.0);
        (*ts, *vals) = pairs.into_iter().unzip();
        return;
    }
    // The spine position below `i` (exclusive) that is not late, walking `late`
    // (ascending) down from its end in step.
    let mut li = late.len();
    let mut spine_below = |mut i: usize| -> Option<usize> {
        while i > 0 {
            i -= 1;
            if li > 0 && late[li - 1] == i {
                li -= 1;
                continue;
            }
            return Some(i);
        }
        None
    };
    let p = vals.as_mut_ptr();
    // From here until `set_len(n)` some slots are logically empty (moved out):
    // with the length at zero, a panic would leak values, never drop one twice.
    // (Nothing below calls user code: keys are `i64`s.)
    // SAFETY: `n` is at most the capacity, and `0` makes no element reachable.
    unsafe { vals.set_len(0) };
    let mut out: Vec<(i64, V)> = late
        .iter()
        // SAFETY: each late slot `q < n` holds an initialised value and is read
        // out exactly once; it counts as empty from now on.
        .map(|&q| (ts[q], unsafe { std::ptr::read(p.add(q)) }))
        .collect();
    out.sort_by_key(|r| r.0);
    // Backward merge. Invariant: the records not yet placed are the late ones in
    // `out` and the spine records at positions `<= sp`, and they fill exactly
    // `[0, o)`. Every late record that started before a spine record `q` has a
    // smaller timestamp than `q` (it was below the running maximum, which `q`
    // reached or passed), so it is still in `out` when `q` is placed. Hence when a
    // late record with timestamp `lt >= ts[sp]` is placed, the late records from
    // below `sp` are all still unplaced besides it; counting the unplaced records
    // gives `sp < o`, so writes never land on a spine record still to be read. On
    // equal timestamps the late record goes right of the spine record (it arrived
    // later).
    let mut sp = spine_below(n);
    let mut o = n;
    while let Some(&(lt, _)) = out.last() {
        o -= 1;
        match sp {
            Some(q) if ts[q] > lt => {
                // SAFETY: `q <= o < n`; slot `q` holds an unread spine value, which
                // moves to `o` (possibly itself); slot `o` was empty or already moved.
                unsafe { std::ptr::copy(p.add(q), p.add(o), 1) };
                ts[o] = ts[q];
                sp = spine_below(q);
            }
            _ => {
                let (t, v) = out.pop().expect("peeked above");
                // SAFETY: `o < n` is empty or moved-out (`sp < o`, see above).
                unsafe { std::ptr::write(p.add(o), v) };
                ts[o] = t;
            }
        }
    }
    // All late records placed: the spine records left are already at their
    // final positions `[0, o)` (`sp == o - 1`), so every slot is initialised.
    debug_assert_eq!(sp.map_or(0, |q| q + 1), o);
    // SAFETY: every slot of `[0, n)` holds exactly one initialised value.
    unsafe { vals.set_len(n) };
}

/// A sorted (by `ts`, then `seq`) columnar run.
pub(crate) struct Run<V> {
    ts: Column<i64>,
    /// Per-record sequence numbers (lane runs); `None` for batch runs.
    seq: Option<Column<u64>>,
    /// Batch runs: the sequence number of record 0.
    base: u64,
    /// A lane's late pile (its records arrived out of order).
    late: bool,
    vals: Column<V>,
    len: AtomicUsize,
}

// SAFETY: the run hands out `&V` to many threads (needs `V: Sync`) and moves
// values in from the producer thread and drops them on whichever thread drops the
// run (needs `V: Send`). The columns are only written at indices no reader can
// see yet (see the module docs), so sharing the run is data-race free.
unsafe impl<V: Send + Sync> Sync for Run<V> {}
// SAFETY: see above; the run owns its values.
unsafe impl<V: Send + Sync> Send for Run<V> {}

impl<V> Run<V> {
    /// An empty run that one producer fills with [`Run::push`].
    pub(crate) fn with_capacity(cap: usize) -> Self {
        Run {
            ts: column(cap),
            seq: Some(column(cap)),
            base: 0,
            late: false,
            vals: column(cap),
            len: AtomicUsize::new(0),
        }
    }

    /// An empty lane run for records that arrived out of order (a late pile).
    pub(crate) fn late_pile(cap: usize) -> Self {
        let mut run = Run::with_capacity(cap);
        run.late = true;
        run
    }

    /// Whether this is a late pile.
    pub(crate) fn is_late(&self) -> bool {
        self.late
    }

    /// A complete batch run from equally long columns sorted by `ts` (equal
    /// timestamps in arrival order), whose records took the sequence numbers
    /// `base, base + 1, ...` in this order.
    pub(crate) fn from_batch(ts: Vec<i64>, vals: Vec<V>, base: u64) -> Self {
        assert_eq!(ts.len(), vals.len(), "column lengths differ");
        let n = ts.len();
        Run {
            ts: into_column(ts),
            seq: None,
            base,
            late: false,
            vals: into_column(vals),
            len: AtomicUsize::new(n),
        }
    }

    /// Bytes per record this run is charged for in the memtable budget.
    pub(crate) fn record_bytes(&self) -> usize {
        8 + std::mem::size_of::<V>() + if self.seq.is_some() { 8 } else { 0 }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.ts.len()
    }

    /// Published length.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Appends one record.
    ///
    /// # Safety
    /// Only the run's single producer may call this, never concurrently with
    /// itself, and only while `len() < capacity()`. The record must not sort
    /// before the last one.
    #[inline]
    pub(crate) unsafe fn push(&self, ts: i64, seq: u64, v: V) {
        let i = self.len.load(Ordering::Relaxed);
        debug_assert!(i < self.capacity());
        let seqs = self.seq.as_ref().expect("only lane runs (with a seq column) grow");
        // SAFETY: index `i` is beyond the published length, so no reader looks at
        // it, and the caller guarantees that no other writer exists.
        unsafe {
            write(&self.ts[i], ts);
            write(&seqs[i], seq);
            write(&self.vals[i], v);
        }
        // Release: the three writes above happen-before any reader that sees `i + 1`.
        self.len.store(i + 1, Ordering::Release);
    }

    /// Panics unless the first `n` records are published (`n <= len()`): the
    /// column readers below hand out `[0, n)` as initialised, immutable memory, so
    /// this check is what makes them sound for any `n`. One `Acquire` load (a plain
    /// load on x86) and a compare per call, a few calls per source and query.
    ///
    /// Compiled out under loom, where every atomic load is a scheduling point: the
    /// check made loom model 1 take half as long again (466 s -> 697 s). The loom
    /// build is a test build whose callers are the same code as in every other
    /// build, where the check runs (shuttle's included).
    #[inline]
    fn check_published(&self, n: usize) {
        #[cfg(not(timelog_loom))]
        {
            let len = self.len();
            assert!(n <= len, "run: {n} records requested, {len} published");
        }
        #[cfg(timelog_loom)]
        let _ = n;
    }

    /// The first `n` timestamps (`n` at most an observed published length).
    ///
    /// # Panics
    /// If `n > len()` (checked in every build but loom's, see `check_published`).
    #[inline]
    pub(crate) fn ts(&self, n: usize) -> Cow<'_, [i64]> {
        self.check_published(n);
        #[cfg(not(timelog_loom))]
        // SAFETY: `n <= len()` (checked above, with `Acquire`, which orders the
        // producer's writes of `[0, n)` before this read), so `[0, n)` is initialised
        // and immutable from now on (module docs); the cell/maybe-uninit wrappers are
        // layout-transparent.
        return Cow::Borrowed(unsafe { std::slice::from_raw_parts(self.ts.as_ptr() as *const i64, n) });
        #[cfg(timelog_loom)]
        // SAFETY (loom build, check compiled out): `n` is a length the caller loaded
        // with `len()` (`Memtable::sources`/`point_into`/`spill`, the callers checked
        // in every other build), so as above; loom's cells also check that each read
        // is ordered after its write.
        return Cow::Owned(self.ts[..n].iter().map(|c| unsafe { *get(c) }).collect());
    }

    /// The sequence numbers of the first `n` records.
    ///
    /// # Panics
    /// If `n > len()` (checked in every build but loom's, see `check_published`).
    #[inline]
    pub(crate) fn seqs(&self, n: usize) -> Seqs<'_> {
        self.check_published(n);
        let Some(seq) = &self.seq else {
            return Seqs::From(self.base);
        };
        #[cfg(not(timelog_loom))]
        // SAFETY: as in `ts`.
        return Seqs::Each(Cow::Borrowed(unsafe {
            std::slice::from_raw_parts(seq.as_ptr() as *const u64, n)
        }));
        #[cfg(timelog_loom)]
        // SAFETY: as in `ts`.
        return Seqs::Each(Cow::Owned(seq[..n].iter().map(|c| unsafe { *get(c) }).collect()));
    }

    /// The first `n` values.
    ///
    /// # Panics
    /// If `n > len()` (checked in every build but loom's, see `check_published`).
    #[inline]
    pub(crate) fn vals(&self, n: usize) -> Vals<'_, V> {
        self.check_published(n);
        #[cfg(not(timelog_loom))]
        // SAFETY: as in `ts`.
        return Vals::Slice(unsafe { std::slice::from_raw_parts(self.vals.as_ptr() as *const V, n) });
        #[cfg(timelog_loom)]
        // SAFETY: as in `ts`.
        return Vals::Refs(self.vals[..n].iter().map(|c| unsafe { get(c) }).collect());
    }

    /// Moves the published values out (the run is consumed).
    pub(crate) fn into_vals(self) -> Vec<V> {
        let n = self.len();
        // Zero the length first: should anything below panic, values leak rather
        // than being dropped twice.
        self.len.store(0, Ordering::Relaxed);
        (0..n)
            // SAFETY: `[0, n)` is initialised and each value is read out exactly once;
            // `Drop` no longer sees them (length is zero).
            .map(|i| unsafe { take(&self.vals[i]) })
            .collect()
    }
}

impl<V> Drop for Run<V> {
    fn drop(&mut self) {
        let n = self.len.load(Ordering::Acquire);
        for cell in &self.vals[..n] {
            // SAFETY: the first `n` values are initialised and dropped only here
            // (`&mut self`), after which the run is gone.
            drop(unsafe { take(cell) });
        }
    }
}

#[cfg(all(test, not(timelog_loom)))]
mod tests {
    use super::{sort_batch, Run};
    use proptest::prelude::*;
    use std::cell::Cell;

    thread_local! {
        /// Live `Tracked` values of this test thread.
        static LIVE: Cell<isize> = const { Cell::new(0) };
    }

    /// A value that counts live instances, so a lost or doubled value shows.
    struct Tracked(usize);
    impl Tracked {
        fn new(i: usize) -> Self {
            LIVE.with(|c| c.set(c.get() + 1));
            Tracked(i)
        }
    }
    impl Drop for Tracked {
        fn drop(&mut self) {
            LIVE.with(|c| c.set(c.get() - 1));
        }
    }

    /// Sorts `ts` (values: arrival indices) and compares with a stable sort.
    fn check(ts: &[i64]) {
        let before = LIVE.with(Cell::get);
        let mut t = ts.to_vec();
        let mut v: Vec<Tracked> = (0..ts.len()).map(Tracked::new).collect();
        sort_batch(&mut t, &mut v);
        let got: Vec<(i64, usize)> = t.iter().copied().zip(v.iter().map(|x| x.0)).collect();
        let mut want: Vec<(i64, usize)> = ts.iter().copied().zip(0..).collect();
        want.sort_by_key(|r| r.0);
        assert_eq!(got, want, "{ts:?}");
        drop(v);
        assert_eq!(LIVE.with(Cell::get), before, "values lost or doubled for {ts:?}");
    }

    #[test]
    fn sort_batch_is_a_stable_sort() {
        let cases: Vec<Vec<i64>> = vec![
            vec![],
            vec![5],
            vec![3, 1, 2, 2, 1, 3],
            vec![1, 2, 3, 10, 4, 5, 6, 7, 8, 9],
            vec![100, 1, 2, 3, 4, 5, 6, 7, 8],
            (0..200).map(|i| (i * 7919 % 101) as i64).collect(),
            (0..200).map(|i| if i % 20 == 7 { i - 15 } else { i }).collect(),
            vec![i64::MAX, i64::MIN, 0, i64::MAX, i64::MIN],
            vec![5, 5, 7, 5, 7, 6, 8, 5, 9, 10, 11, 12, 13, 14, 15, 16],
            vec![0, 1, 2, 3, 4, 5, 6, 7, 0, 8, 9, 10, 11, 12, 13, 14],
        ];
        for ts in cases {
            check(&ts);
        }
    }

    /// Every input of up to 7 records over the extreme values (both paths).
    #[test]
    fn sort_batch_on_every_small_input_of_extreme_values() {
        let alphabet = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
        for n in 0..=7u32 {
            for mut code in 0..alphabet.len().pow(n) {
                let mut ts = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    ts.push(alphabet[code % alphabet.len()]);
                    code /= alphabet.len();
                }
                check(&ts);
            }
        }
    }

    /// Sorted spines with a few late records drawn from the extremes (the merge
    /// path, not the fallback), and the boundary cases around it.
    #[test]
    fn sort_batch_merge_path_with_extreme_values() {
        let mut x = 12345u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let extremes = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
        for _ in 0..20_000 {
            let n = 4 + (next() % 40) as usize;
            let mut ts: Vec<i64> = (0..n).map(|_| extremes[(next() % 7) as usize]).collect();
            ts.sort();
            for _ in 0..(next() % (n as u64 / 4 + 1)) {
                let i = (next() % n as u64) as usize;
                ts[i] = extremes[(next() % 7) as usize];
            }
            check(&ts);
        }
        check(&[5, 0, 6, 7, 8, 9, 10, 11]); // a late record that belongs first
        check(&[i64::MAX, i64::MIN, i64::MAX, i64::MAX, i64::MAX, i64::MAX, i64::MAX, i64::MAX]);
        check(&[0, 0, 0, 0, 0, 0, 0, -1]);
        check(&[1, 1, 1, 1, 1, 1, 0, 0]);
        check(&[9, 9, 9, 9, 9, 9, 1, 2]); // exactly n/4 late: merge path
        check(&[9, 9, 9, 9, 9, 1, 2, 3]); // n/4 + 1 late: fallback
        let mut t = vec![3i64, 1, 2, 4, 5, 6, 7, 8];
        let mut v = vec![(); 8]; // zero-sized values
        sort_batch(&mut t, &mut v);
        assert_eq!(t, [1, 2, 3, 4, 5, 6, 7, 8]);
    }

    /// Regression (hazard 2): `ts`/`seqs`/`vals(n)` used to check `n <= len()` only
    /// with `debug_assert!`, so a release build would have handed out unwritten
    /// slots as initialised values. Now every length beyond the published one
    /// panics, in every build, and every published length works.
    #[test]
    fn run_readers_reject_unpublished_lengths() {
        use std::panic::{catch_unwind, AssertUnwindSafe};
        let lane: Run<String> = Run::with_capacity(8);
        // SAFETY: this thread is the run's only producer; 2 < capacity; sorted.
        unsafe {
            lane.push(1, 10, "a".to_string());
            lane.push(2, 11, "b".to_string());
        }
        let batch =
            Run::from_batch(vec![5, 6, 7], vec!["x".to_string(), "y".to_string(), "z".to_string()], 40);
        for (run, len) in [(&lane, 2usize), (&batch, 3)] {
            for n in 0..=len {
                assert_eq!(run.ts(n).len(), n);
                let q = run.seqs(n);
                let _ = (0..n).map(|j| q.get(j)).sum::<u64>();
                match run.vals(n) {
                    crate::source::Vals::Slice(v) => assert_eq!(v.len(), n),
                    crate::source::Vals::Refs(v) => assert_eq!(v.len(), n),
                }
            }
            for n in [len + 1, run.capacity().max(len + 1), run.capacity() + 1, usize::MAX] {
                assert!(catch_unwind(AssertUnwindSafe(|| run.ts(n).len())).is_err(), "ts({n})");
                assert!(catch_unwind(AssertUnwindSafe(|| drop(run.seqs(n)))).is_err(), "seqs({n})");
                assert!(catch_unwind(AssertUnwindSafe(|| drop(run.vals(n)))).is_err(), "vals({n})");
            }
        }
        assert_eq!(lane.seqs(2).get(1), 11);
        assert_eq!(batch.seqs(3).get(2), 42);
    }

    proptest! {
        #[test]
        fn sort_batch_matches_a_stable_sort(ts in proptest::collection::vec(prop_oneof![0i64..40, any::<i64>()], 0..300)) {
            check(&ts);
        }

        #[test]
        fn sort_batch_on_nearly_sorted_batches(moves in proptest::collection::vec((0usize..500, 1i64..50), 0..60)) {
            let mut ts: Vec<i64> = (0..500).map(|i| i / 3).collect();
            for (i, back) in moves {
                ts[i] -= back;
            }
            check(&ts);
        }
    }
}
