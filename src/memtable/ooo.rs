//! The memtable's out-of-order index: records that could not go to a lane.
//!
//! Normally a crossbeam `base::SkipList` keyed by `(ts, seq)`: lock-free inserts
//! from any number of threads, sorted reads. The engine never removes nodes
//! (keys are unique), so a node lives until the skiplist is dropped, which is
//! what lets readers keep references to values after their guard is gone.
//! (`SkipMap::range` of crossbeam-skiplist 0.1.3 leaks every node it visits; it is
//! not used, and `insert`'s `RefEntry` is released at once.)
//!
//! crossbeam-skiplist is invisible to loom and shuttle, so under a model checker
//! this is an append-only lock-free list built on the engine's own atomics,
//! sorted when read: slower, same contract.

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

        pub(crate) fn insert(&self, ts: i64, seq: u64, v: V) {
            let guard = epoch::pin();
            self.list.insert((ts, seq), v, &guard).release(&guard);
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
                // SAFETY: nodes of this skiplist are never removed (keys are unique
                // and nothing calls `remove`), so a node lives until the skiplist is
                // dropped, which needs `&mut self`; the reference is bounded by `&self`.
                vals.push(unsafe { &*(e.value() as *const V) });
            }
            (ts, seq, vals)
        }

        /// The first (`front`) or last record in `[lo, hi]` accepted by `visible`,
        /// walking lazily from that end.
        pub(crate) fn edge(
            &self,
            lo: i64,
            hi: i64,
            front: bool,
            visible: &dyn Fn(i64, u64) -> bool,
        ) -> Option<i64> {
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

        pub(crate) fn collect(&self, lo: i64, hi: i64) -> (Vec<i64>, Vec<u64>, Vec<&V>) {
            let mut all: Vec<&(i64, u64, V)> = self.list.iter().filter(|r| r.0 >= lo && r.0 <= hi).collect();
            all.sort_by_key(|r| (r.0, r.1));
            (
                all.iter().map(|r| r.0).collect(),
                all.iter().map(|r| r.1).collect(),
                all.iter().map(|r| &r.2).collect(),
            )
        }

        pub(crate) fn edge(
            &self,
            lo: i64,
            hi: i64,
            front: bool,
            visible: &dyn Fn(i64, u64) -> bool,
        ) -> Option<i64> {
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
