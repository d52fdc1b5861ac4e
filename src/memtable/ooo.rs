//! The memtable's out-of-order index: records that could not go to a lane.
//!
//! Normally a crossbeam `base::SkipList` keyed by `(ts, seq)`: lock-free inserts
//! from any number of threads, sorted reads. No node is ever removed or replaced,
//! so a node lives until the skiplist is dropped, which is what lets readers keep
//! references to values after their guard is gone. That holds by construction, not
//! only because keys are unique: inserts use `get_or_insert_with`, which never
//! unlinks an existing node (`insert` would replace a node with an equal key and
//! epoch-free it while a snapshot still holds `&V` into it), and nothing calls
//! `remove`. A duplicate key, impossible since every record has its own sequence
//! number, panics instead of replacing. (`SkipMap::range` of crossbeam-skiplist
//! 0.1.3 leaks every node it visits; it is not used, and the insert's `RefEntry`
//! is released at once.)
//!
//! crossbeam-skiplist is invisible to loom and shuttle, so under a model checker
//! this is an append-only lock-free list built on the engine's own atomics,
//! sorted when read: slower, same contract (it never replaces either, and panics
//! on a duplicate key when it sorts).

#[cfg(not(any(timelog_loom, timelog_shuttle)))]
mod imp {
    use crossbeam_epoch as epoch;
    use crossbeam_skiplist::base::SkipList;

    pub(crate) struct Ooo<V> {
        list: SkipList<(i64, u64), V>,
    }

    impl<V: Send + Sync + 'static> Ooo<V> {
        pub(crate) fn new() -> Self {
            Ooo { list: SkipList::new(epoch::default_collector().clone()) }
        }

        /// Adds a record. Never replaces: the key `(ts, seq)` must be new.
        ///
        /// # Panics
        /// On a duplicate key (an engine bug: sequence numbers are unique). The
        /// existing record is kept, and the new value is leaked rather than dropped:
        /// the caller holds an unpublished sequence number, and a user `Drop` must not
        /// run then (it could write to the same log and wait for that number).
        /// (Two threads inserting the same key at the same instant, impossible as
        /// well, would not be detected: crossbeam keeps the first node and drops the
        /// loser's new one. Either way no linked node is ever unlinked.)
        pub(crate) fn insert(&self, ts: i64, seq: u64, v: V) {
            // Nested in the writer's manifest guard (taken before it reserved `seq`),
            // so this pin runs no deferred destructor (see `Inner::seal`).
            let guard = epoch::pin();
            let mut v = Some(v);
            // `get_or_insert_with` takes the value only when it links a new node, and
            // never unlinks an existing one (see the module docs).
            self.list.get_or_insert_with((ts, seq), || v.take().expect("taken once"), &guard).release(&guard);
            if let Some(dup) = v {
                std::mem::forget(dup);
                panic!("out-of-order index: duplicate key (ts {ts}, seq {seq})");
            }
        }

        pub(crate) fn len(&self) -> usize {
            self.list.len()
        }

        /// Records with `lo <= ts <= hi`, sorted by `(ts, seq)`.
        pub(crate) fn collect(&self, lo: i64, hi: i64) -> (Vec<i64>, Vec<u64>, Vec<&V>) {
            let (mut ts, mut seq, mut vals) = (Vec::new(), Vec::new(), Vec::new());
            if self.list.is_empty() {
                return (ts, seq, vals);
            }
            let guard = epoch::pin();
            for e in self.list.range((lo, 0)..=(hi, u64::MAX), &guard) {
                let &(t, s) = e.key();
                ts.push(t);
                seq.push(s);
                // SAFETY: nodes of this skiplist are never removed or replaced
                // (`insert` uses `get_or_insert_with`, nothing calls `remove`), so a
                // node and its value live until the skiplist is dropped, which needs
                // `&mut self`; the reference is bounded by `&self`.
                vals.push(unsafe { &*(e.value() as *const V) });
            }
            (ts, seq, vals)
        }

        /// The first (`front`) or last record in `[lo, hi]` accepted by `visible`,
        /// walking lazily from that end.
        pub(crate) fn edge(&self, q: &super::super::Edge<'_>) -> Option<i64> {
            let super::super::Edge { lo, hi, front, visible } = *q;
            if self.list.is_empty() {
                return None;
            }
            let guard = epoch::pin();
            let mut range = self.list.range((lo, 0)..=(hi, u64::MAX), &guard);
            let mut step = || if front { range.next() } else { range.next_back() };
            while let Some(e) = step() {
                let &(t, s) = e.key();
                if visible(t, s) {
                    return Some(t);
                }
            }
            None
        }
    }
}

#[cfg(any(timelog_loom, timelog_shuttle))]
mod imp {
    use super::super::stack::Stack;

    pub(crate) struct Ooo<V> {
        list: Stack<(i64, u64, V)>,
    }

    impl<V: Send + Sync + 'static> Ooo<V> {
        pub(crate) fn new() -> Self {
            Ooo { list: Stack::new() }
        }

        pub(crate) fn insert(&self, ts: i64, seq: u64, v: V) {
            self.list.push((ts, seq, v));
        }

        pub(crate) fn len(&self) -> usize {
            self.list.len()
        }

        /// Records with `lo <= ts <= hi`, sorted by `(ts, seq)`.
        ///
        /// # Panics
        /// On a duplicate key, like the skiplist's `insert` (this list cannot
        /// replace, so it reports what the skiplist would have refused).
        pub(crate) fn collect(&self, lo: i64, hi: i64) -> (Vec<i64>, Vec<u64>, Vec<&V>) {
            let mut all: Vec<&(i64, u64, V)> = self.list.iter().filter(|r| r.0 >= lo && r.0 <= hi).collect();
            all.sort_by_key(|r| (r.0, r.1));
            if let Some(w) = all.windows(2).find(|w| (w[0].0, w[0].1) == (w[1].0, w[1].1)) {
                panic!("out-of-order index: duplicate key (ts {}, seq {})", w[0].0, w[0].1);
            }
            (
                all.iter().map(|r| r.0).collect(),
                all.iter().map(|r| r.1).collect(),
                all.iter().map(|r| &r.2).collect(),
            )
        }

        pub(crate) fn edge(&self, q: &super::super::Edge<'_>) -> Option<i64> {
            let super::super::Edge { lo, hi, front, visible } = *q;
            let (ts, seq, _) = self.collect(lo, hi);
            let mut idx = 0..ts.len();
            let mut step = || if front { idx.next() } else { idx.next_back() };
            while let Some(j) = step() {
                if visible(ts[j], seq[j]) {
                    return Some(ts[j]);
                }
            }
            None
        }
    }
}

pub(crate) use imp::Ooo;

#[cfg(all(test, not(any(timelog_loom, timelog_shuttle))))]
mod tests {
    use super::Ooo;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Drops of `Counted` values.
    static DROPS: AtomicUsize = AtomicUsize::new(0);

    /// Counts its drops (owns nothing, so the leaked duplicate leaks no memory).
    struct Counted(u32);
    impl Drop for Counted {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Regression (hazard 3): the skiplist used `insert`, which replaces a node with
    /// an equal key and epoch-frees the old value while snapshots may hold `&V` into
    /// it without a guard. Now a duplicate key panics, the first record stays in
    /// place (a reference taken before is still valid), and the second value is
    /// neither stored nor dropped.
    #[test]
    fn duplicate_key_never_replaces_and_panics() {
        let ooo: Ooo<Counted> = Ooo::new();
        ooo.insert(7, 3, Counted(1));
        ooo.insert(7, 4, Counted(2));
        let (_, _, before) = ooo.collect(7, 7);
        let first: &Counted = before[0];
        let r = catch_unwind(AssertUnwindSafe(|| ooo.insert(7, 3, Counted(99))));
        assert!(r.is_err(), "a duplicate key must panic");
        assert_eq!(ooo.len(), 2);
        let (ts, seq, vals) = ooo.collect(i64::MIN, i64::MAX);
        assert_eq!((ts, seq), (vec![7, 7], vec![3, 4]));
        assert_eq!(vals.iter().map(|v| v.0).collect::<Vec<_>>(), [1, 2]);
        assert!(std::ptr::eq(first, vals[0]), "the first node stays in place");
        assert_eq!(first.0, 1);
        assert_eq!(DROPS.load(Ordering::SeqCst), 0, "nothing dropped while the index lives");
        drop(ooo);
        assert_eq!(DROPS.load(Ordering::SeqCst), 2, "the stored values are dropped with the index");
    }
}
