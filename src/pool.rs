//! Recycled segment columns.
//!
//! Every flush and compaction writes its output into fresh column buffers, and
//! the segments it replaces are freed soon after. Fresh memory from the
//! allocator is often fresh memory from the kernel, paid for with a page fault
//! and a zeroed page per 4 KiB — about a quarter of the maintenance CPU when
//! measured. A dropped segment therefore hands its (emptied) columns to the
//! log's pool, and the next build of a similar size takes them back.
//!
//! The pool holds at most `budget` bytes and is emptied when the log settles:
//! after an explicit `flush` or `compact_now`, and when the background worker
//! has had nothing to do for a whole wake-up period. (In manual mode, where
//! `maint_step` cannot tell a pause from the gap between two batches, only
//! `flush` and `compact_now` empty it.)
//! In loom/shuttle builds it never keeps anything (fewer states to explore; the
//! pool has no protocol of its own, just a mutex).

use crate::sync::Mutex;

/// Free `(ts, values)` column pairs, both empty, with equal capacities.
pub(crate) struct ColumnPool<V> {
    free: Mutex<Free<V>>,
    budget: usize,
}

struct Free<V> {
    cols: Vec<(Vec<i64>, Vec<V>)>,
    bytes: usize,
    /// Cleared by `trim`, set by `take`: columns freed while no build is running
    /// (say, by a late epoch collection after the log settled) are not kept.
    accepting: bool,
}

fn pair_bytes<V>(ts_cap: usize, vals_cap: usize) -> usize {
    ts_cap * 8 + vals_cap * std::mem::size_of::<V>()
}

impl<V> ColumnPool<V> {
    /// A pool keeping at most `budget` bytes of free columns.
    pub(crate) fn new(budget: usize) -> Self {
        ColumnPool { free: Mutex::new(Free { cols: Vec::new(), bytes: 0, accepting: true }), budget }
    }

    /// Empty columns with room for `cap` records: recycled ones whose capacity is
    /// at most 1/64 above `cap` (so little memory is wasted), else fresh ones.
    pub(crate) fn take(&self, cap: usize) -> (Vec<i64>, Vec<V>) {
        if cap > 0 && !cfg!(any(timelog_loom, timelog_shuttle)) {
            let mut f = self.free.lock();
            f.accepting = true;
            let fits = |c: usize| c >= cap && c - cap <= cap / 64;
            // (A vector of zero-sized values always has capacity usize::MAX.)
            let zst = std::mem::size_of::<V>() == 0;
            if let Some(i) =
                f.cols.iter().position(|(t, v)| fits(t.capacity()) && (zst || fits(v.capacity())))
            {
                let pair = f.cols.swap_remove(i);
                f.bytes -= pair_bytes::<V>(pair.0.capacity(), pair.1.capacity());
                return pair;
            }
        }
        (Vec::with_capacity(cap), Vec::with_capacity(cap))
    }

    /// Takes back the columns of a dropped segment. The values are dropped here,
    /// before the pool's lock is taken; columns beyond the budget are freed.
    pub(crate) fn give(&self, mut ts: Vec<i64>, mut vals: Vec<V>) {
        vals.clear();
        ts.clear();
        let cap = ts.capacity().min(vals.capacity());
        if cap == 0 || cfg!(any(timelog_loom, timelog_shuttle)) {
            return;
        }
        let bytes = pair_bytes::<V>(ts.capacity(), vals.capacity());
        let mut f = self.free.lock();
        if f.accepting && f.bytes + bytes <= self.budget {
            f.bytes += bytes;
            f.cols.push((ts, vals));
        }
        // Otherwise the columns are freed when they go out of scope, after the
        // guard (declared later, dropped first) has released the lock.
    }

    /// Frees every pooled column.
    pub(crate) fn trim(&self) {
        let cols = {
            let mut f = self.free.lock();
            f.bytes = 0;
            f.accepting = false;
            std::mem::take(&mut f.cols)
        };
        drop(cols);
    }

    /// Bytes of free columns held.
    pub(crate) fn bytes(&self) -> usize {
        self.free.lock().bytes
    }
}

#[cfg(all(test, not(any(timelog_loom, timelog_shuttle))))]
mod tests {
    use super::*;

    #[test]
    fn recycles_columns_of_a_matching_size_only() {
        let pool: ColumnPool<String> = ColumnPool::new(1 << 20);
        let (mut t, mut v) = pool.take(1000);
        assert!(t.capacity() >= 1000 && v.capacity() >= 1000);
        t.push(1);
        v.push("x".to_string());
        let (tp, vp) = (t.as_ptr(), v.as_ptr());
        pool.give(t, v);
        assert_eq!(pool.bytes(), pair_bytes::<String>(1000, 1000));
        // Too small a request would waste the buffer: fresh columns instead.
        let (small, _) = pool.take(10);
        assert_ne!(small.as_ptr(), tp);
        let (t, v) = pool.take(990);
        assert_eq!((t.as_ptr(), v.as_ptr()), (tp, vp));
        assert!(t.is_empty() && v.is_empty());
        assert_eq!(pool.bytes(), 0);
        pool.give(t, v);
        pool.trim();
        assert_eq!(pool.bytes(), 0);
        // Settled: columns freed now are not kept until a build takes some again.
        pool.give(Vec::with_capacity(1000), Vec::with_capacity(1000));
        assert_eq!(pool.bytes(), 0);
        let _ = pool.take(5);
        pool.give(Vec::with_capacity(1000), Vec::with_capacity(1000));
        assert_eq!(pool.bytes(), pair_bytes::<String>(1000, 1000));
    }

    #[test]
    fn keeps_nothing_beyond_its_budget_and_drops_values_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        struct D(#[allow(dead_code)] u64);
        impl Drop for D {
            fn drop(&mut self) {
                DROPS.fetch_add(1, Ordering::SeqCst);
            }
        }
        let pool: ColumnPool<D> = ColumnPool::new(pair_bytes::<D>(100, 100));
        let mut v = Vec::with_capacity(100);
        v.extend((0..3).map(D));
        pool.give(Vec::with_capacity(100), v);
        assert_eq!(DROPS.load(Ordering::SeqCst), 3, "values are dropped when given back");
        assert_eq!(pool.bytes(), pair_bytes::<D>(100, 100));
        pool.give(Vec::with_capacity(100), Vec::with_capacity(100));
        assert_eq!(pool.bytes(), pair_bytes::<D>(100, 100), "over budget: freed, not kept");
        // Zero-sized values: matched on the timestamp column alone.
        let zst: ColumnPool<()> = ColumnPool::new(1 << 20);
        let (t, v) = zst.take(64);
        let tp = t.as_ptr();
        zst.give(t, v);
        assert_eq!(zst.take(64).0.as_ptr(), tp);
    }
}
