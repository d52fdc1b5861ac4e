//! Unit tests of the slab's invariants (normal builds), with a counting `Release`:
//! handle counts, release exactly once, slot reuse, the retire queue, chunk release
//! under churn, the full slab, forced release; and a model test against an oracle.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::{assert_all_released, Handle, Ledger, TestSlab};
use proptest::prelude::*;

type Small = TestSlab<4, 8>;
type H = Handle<4, 8>;

fn small() -> Arc<Small> {
    Arc::new(Small::new())
}

#[test]
fn clones_and_drops_are_counted_and_the_last_drop_retires() {
    let (s, l) = (small(), Ledger::new(1));
    let h = H::insert(&s, &l, 1, 0).unwrap();
    let copies: Vec<H> = (0..5).map(|_| h.clone()).collect();
    drop(h);
    assert_eq!(s.retired_len(), 0, "copies are alive");
    for (n, c) in copies.into_iter().enumerate() {
        assert_eq!(c.read(), 0);
        assert_eq!(s.retired_len(), 0, "retired before the last handle ({n})");
        drop(c);
    }
    assert_eq!(s.retired_len(), 1);
    l.assert_released(0, 0); // retired, not drained: the reference is still in the slot
    assert_eq!(s.info().used, 1);
    assert_all_released(&s, &l, |_| true);
}

#[test]
fn drain_releases_each_object_once_and_respects_its_limit() {
    let (s, l) = (small(), Ledger::new(10));
    let hs: Vec<H> = (0..10).map(|k| H::insert(&s, &l, 1, k).unwrap()).collect();
    drop(hs);
    assert_eq!(s.retired_len(), 10);
    s.drain((), 3);
    assert_eq!(s.retired_len(), 7);
    assert_eq!((0..10).map(|k| l.released(k)).sum::<u32>(), 3);
    s.drain((), 0);
    s.drain((), 0); // nothing left: no second release
    assert_all_released(&s, &l, |_| true);
}

#[test]
fn owner_and_gc_bit_are_kept_per_slot() {
    let (s, l) = (small(), Ledger::new(2));
    let a = H::insert(&s, &l, 7, 0).unwrap(); // even ids are stored as GC objects
    let b = H::insert(&s, &l, 7, 1).unwrap();
    assert!(a.is_gc() && !b.is_gc());
    let c = a.clone();
    assert!(c.is_gc(), "a clone must not disturb the meta word");
    drop((a, b, c));
    assert_all_released(&s, &l, |_| true);
}

#[test]
fn drained_slots_are_reused_lowest_first() {
    let (s, l) = (small(), Ledger::new(7));
    let hs: Vec<H> = (0..5).map(|k| H::insert(&s, &l, 1, k).unwrap()).collect();
    let idx: Vec<u32> = hs.iter().map(H::index).collect();
    assert_eq!(idx, [0, 1, 2, 3, 4], "fresh slots in order, chunk 0 first");
    let mut hs = hs;
    let freed = hs.remove(1);
    drop(freed);
    let again = H::insert(&s, &l, 1, 5).unwrap();
    assert_ne!(again.index(), 1, "a retired slot is not reused before it is drained");
    drop(again);
    s.drain((), 0);
    let reused = H::insert(&s, &l, 1, 6).unwrap();
    assert_eq!(reused.index(), 1, "the lowest free slot of the lowest chunk");
    drop((hs, reused));
    assert_all_released(&s, &l, |_| true);
}

#[test]
fn a_full_slab_refuses_without_taking_anything() {
    let (s, l) = (small(), Ledger::new(34));
    let hs: Vec<H> = (0..32).map(|k| H::insert(&s, &l, 1, k).unwrap()).collect();
    assert!(H::insert(&s, &l, 1, 32).is_none(), "4 x 8 slots are all in use");
    assert!(H::insert_many(&s, &l, 1, vec![32, 33]).is_none());
    assert_eq!(s.info().used, 32);
    let mut hs = hs;
    drop(hs.remove(0)); // retired: still in use
    assert!(H::insert(&s, &l, 1, 32).is_none(), "a retired slot is in use until drained");
    s.drain((), 0);
    let one = H::insert(&s, &l, 1, 32).unwrap();
    assert!(H::insert_many(&s, &l, 1, vec![33]).is_none());
    drop((one, hs));
    // The refused objects were never taken: released never; the others once.
    assert_all_released(&s, &l, |k| k != 33);
}

#[test]
fn insert_many_spans_chunks_and_all_or_nothing() {
    let (s, l) = (small(), Ledger::new(33));
    let a = H::insert_many(&s, &l, 1, (0..10).collect()).unwrap();
    assert_eq!(a.iter().map(H::index).collect::<Vec<_>>(), (0..10).collect::<Vec<u32>>());
    assert_eq!(s.info().installed, 3);
    let before = s.info();
    assert!(H::insert_many(&s, &l, 1, (10..33).collect()).is_none(), "10 + 23 > 32 slots");
    assert_eq!(s.info().used, before.used, "a refused batch gives its slots back");
    let b = H::insert_many(&s, &l, 1, (10..20).collect()).unwrap();
    assert!(a.iter().chain(&b).enumerate().all(|(k, h)| h.read() == k as u64));
    drop((a, b));
    assert_all_released(&s, &l, |k| k < 20);
}

#[test]
fn force_release_takes_one_owner_and_later_drops_release_nothing_more() {
    let (s, l) = (small(), Ledger::new(6));
    let mine: Vec<H> = (0..3).map(|k| H::insert(&s, &l, 1, k).unwrap()).collect();
    let other: Vec<H> = (3..6).map(|k| H::insert(&s, &l, 2, k).unwrap()).collect();
    let retired = mine[0].clone();
    drop(retired);
    // SAFETY: nothing reads owner 1's objects meanwhile.
    unsafe { s.force_release((), 1) };
    for k in 0..3 {
        l.assert_released(k, 1);
    }
    assert!(mine.iter().all(|h| h.read_opt().is_none()), "force-released handles read null");
    assert!(other.iter().all(|h| h.read_opt().is_some()));
    // SAFETY: as above (owner 1 again: nothing left to take).
    assert!(unsafe { s.take_owner(1) }.is_empty());
    drop((mine, other));
    assert_all_released(&s, &l, |_| true);
}

#[test]
fn empty_chunks_are_released_except_one_spare() {
    let s: Arc<TestSlab<4, 64>> = Arc::new(TestSlab::new());
    let l = Ledger::new(200);
    let hs: Vec<Handle<4, 64>> = (0..200).map(|k| Handle::insert(&s, &l, 1, k).unwrap()).collect();
    assert_eq!(s.info().installed, 50);
    // Keep every tenth: chunks with one of them stay, the others go (but one spare).
    let (keep, gone): (Vec<_>, Vec<_>) = hs.into_iter().partition(|h| h.index() % 40 == 0);
    drop(gone);
    s.drain((), 0);
    let i = s.info();
    assert_eq!((i.used, i.installed), (5, 5 + 1), "{i:?}");
    drop(keep);
    assert_all_released(&s, &l, |_| true);
}

#[test]
fn memory_follows_live_data_under_a_long_churn() {
    // A sliding window of 10 live objects over 20,000 inserts (a retention workload):
    // the chunks installed stay near what the window needs, and the retire queue stays
    // bounded by the drain quota (twice what each step stores).
    const N: usize = 20_000;
    let s: Arc<TestSlab<4, 64>> = Arc::new(TestSlab::new());
    let l = Ledger::new(N);
    let mut window = std::collections::VecDeque::new();
    let (mut max_chunks, mut max_retired) = (0, 0);
    for k in 0..N {
        s.drain((), 2);
        window.push_back(Handle::insert(&s, &l, 1, k).expect("room"));
        if window.len() > 10 {
            window.pop_front();
        }
        let i = s.info();
        max_chunks = max_chunks.max(i.installed);
        max_retired = max_retired.max(i.retired);
    }
    assert!(max_retired <= 1, "the retire queue grew to {max_retired}");
    // 10 live + 1 retired slots over 4-slot chunks: at most 3 + 1 + the spare, and
    // fragmentation may add a chunk or two; what matters is that it does not grow.
    assert!(max_chunks <= 7, "{max_chunks} chunks installed for 10 live objects");
    drop(window);
    assert_all_released(&s, &l, |_| true);
}

#[test]
fn chunk_bytes_are_twelve_per_slot() {
    assert_eq!(TestSlab::<4, 8>::CHUNK_BYTES, 4 * (std::mem::size_of::<usize>() + 4));
    assert_eq!(TestSlab::<65536, 65536>::CHUNK_BYTES, 65536 * (std::mem::size_of::<usize>() + 4));
}

/// One step of the model test.
#[derive(Debug, Clone)]
enum Op {
    Insert(u32),
    InsertMany(u32, usize),
    Clone(usize),
    Drop(usize),
    Drain(usize),
    Force(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1u32..3).prop_map(Op::Insert),
        1 => (1u32..3, 1usize..6).prop_map(|(o, n)| Op::InsertMany(o, n)),
        3 => any::<usize>().prop_map(Op::Clone),
        4 => any::<usize>().prop_map(Op::Drop),
        2 => (0usize..4).prop_map(Op::Drain),
        1 => (1u32..3).prop_map(Op::Force),
    ]
}

/// The oracle: live handles (by handle number) → object; per object its owner,
/// live handle count, whether it was force-released, whether it is retired.
#[derive(Default)]
struct Oracle {
    handles: HashMap<usize, usize>,
    next_handle: usize,
    owner: HashMap<usize, u32>,
    count: HashMap<usize, usize>,
    forced: HashMap<usize, bool>,
    retired: Vec<usize>,
    released: HashMap<usize, u32>,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random inserts, clones, drops, drains and forced releases on a 4 x 8 slab,
    /// checked after each step against the oracle: who was released (exactly once,
    /// only when its last handle was dropped and drained, or forced), which handles
    /// read null, slots in use, the retire queue, chunks installed.
    #[test]
    fn matches_a_trivial_oracle(ops in proptest::collection::vec(op(), 1..120)) {
        let (s, l) = (small(), Ledger::new(400));
        let mut live: HashMap<usize, H> = HashMap::new();
        let mut o = Oracle::default();
        let mut next_obj = 0;
        let handle_at = |live: &HashMap<usize, H>, k: usize| {
            let mut keys: Vec<usize> = live.keys().copied().collect();
            keys.sort_unstable();
            (!keys.is_empty()).then(|| keys[k % keys.len()])
        };
        for op in ops {
            match op {
                Op::Insert(owner) | Op::InsertMany(owner, _) => {
                    let n = if let Op::InsertMany(_, n) = op { n } else { 1 };
                    let ks: Vec<usize> = (next_obj..next_obj + n).collect();
                    next_obj += n;
                    let used = o.count.len() + o.retired.len();
                    let got = H::insert_many(&s, &l, owner, ks.clone());
                    prop_assert_eq!(got.is_some(), used + n <= 32);
                    for (k, h) in ks.into_iter().zip(got.into_iter().flatten()) {
                        o.handles.insert(o.next_handle, k);
                        live.insert(o.next_handle, h);
                        o.next_handle += 1;
                        o.owner.insert(k, owner);
                        o.count.insert(k, 1);
                    }
                }
                Op::Clone(k) => if let Some(h) = handle_at(&live, k) {
                    let c = live[&h].clone();
                    let obj = o.handles[&h];
                    *o.count.get_mut(&obj).unwrap() += 1;
                    o.handles.insert(o.next_handle, obj);
                    live.insert(o.next_handle, c);
                    o.next_handle += 1;
                },
                Op::Drop(k) => if let Some(h) = handle_at(&live, k) {
                    drop(live.remove(&h));
                    let obj = o.handles.remove(&h).unwrap();
                    let c = o.count.get_mut(&obj).unwrap();
                    *c -= 1;
                    if *c == 0 {
                        o.count.remove(&obj);
                        o.retired.push(obj);
                    }
                },
                Op::Drain(limit) => {
                    s.drain((), limit);
                    let take = if limit == 0 { o.retired.len() } else { limit.min(o.retired.len()) };
                    let at = o.retired.len() - take;
                    for obj in o.retired.split_off(at) {
                        if !o.forced.get(&obj).copied().unwrap_or(false) {
                            *o.released.entry(obj).or_default() += 1;
                        }
                    }
                }
                Op::Force(owner) => {
                    // SAFETY: nothing reads while it runs (one thread).
                    unsafe { s.force_release((), owner) };
                    for (&obj, &w) in &o.owner {
                        let gone = o.released.contains_key(&obj) || o.forced.get(&obj) == Some(&true);
                        if w == owner && !gone {
                            o.forced.insert(obj, true);
                            *o.released.entry(obj).or_default() += 1;
                        }
                    }
                }
            }
            for k in 0..next_obj {
                prop_assert_eq!(l.released(k), o.released.get(&k).copied().unwrap_or(0), "object {}", k);
            }
            for (h, obj) in &o.handles {
                let forced = o.forced.get(obj).copied().unwrap_or(false);
                prop_assert_eq!(live[h].read_opt(), (!forced).then_some(*obj as u64));
            }
            let i = s.info();
            prop_assert_eq!(i.used, o.count.len() + o.retired.len());
            prop_assert_eq!(i.retired, o.retired.len());
            let chunks_in_use = {
                let mut c: Vec<u32> = live.values().map(|h| h.index() / 4).collect();
                c.sort_unstable();
                c.dedup();
                c.len()
            };
            prop_assert!(i.installed <= chunks_in_use + o.retired.len() + 1, "{:?}", i);
        }
        drop(live);
        assert_all_released(&s, &l, |k| k < next_obj && (o.owner.contains_key(&k)));
    }
}

/// The shuttle churn on std threads: 4 threads, many seeds.
#[test]
fn churn_on_std_threads() {
    for seed in 0..200 {
        common::churn::churn(4, 400, seed);
    }
}
