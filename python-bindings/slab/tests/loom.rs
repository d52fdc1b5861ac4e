//! Loom models of the slab protocol as a free-threaded interpreter (no GIL) would
//! drive it: handles cloned, read and dropped on several threads, retirement by
//! whichever thread drops the last handle, drains on several threads, slots and
//! chunks recycled and released while other threads insert, and a forced release
//! racing with an insert for another owner. Run on the slab's own code through its
//! `sync` shim:
//!
//! ```sh
//! RUSTFLAGS="--cfg timelog_loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test --release --manifest-path python-bindings/slab/Cargo.toml --test loom
//! ```
//!
//! Objects are ledger objects (`common`): a release writes their value cell and
//! counts; readers read the cell through their handle. Loom reports a read that is
//! not ordered before the release as a data race, and the counters catch a second
//! release or a missing one. Released chunks are kept (marked dead) until the slab
//! drops, and every slot lookup reads the chunk's `alive` cell, so a lookup in a
//! released chunk fails too.
#![cfg(timelog_loom)]

mod common;

use common::{assert_all_released, Handle, Ledger, TestSlab};
use loom::sync::Arc;
use loom::thread;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(2);
    }
    b.check(f);
}

/// Model 1: two handles to one object on two threads; each reads the object, drops
/// its handle and drains. Whichever drop is last retires the slot, and whichever
/// drain finds it releases the object: exactly once, and after both reads (the
/// `Release` decrements and the last one's `Acquire` fence order the other thread's
/// read before the release; without them loom reports the race on the value cell).
#[test]
fn last_drop_releases_once_after_every_reader() {
    model(|| {
        let ledger = Arc::new(Ledger::new(1));
        let slab = Arc::new(TestSlab::<2, 2>::new());
        let h = Handle::insert(&slab, &ledger, 1, 0).unwrap();
        let h2 = h.clone();
        let s2 = slab.clone();
        let t = thread::spawn(move || {
            assert_eq!(h2.read(), 0);
            drop(h2);
            s2.drain((), 0);
        });
        assert_eq!(h.read(), 0);
        drop(h);
        slab.drain((), 0);
        t.join().unwrap();
        assert_all_released(&slab, &ledger, |_| true);
    });
}

/// Model 2: one-slot chunks, so that every drain that empties a slot empties a chunk
/// and the allocator releases all but one empty chunk while the other thread
/// inserts, reads and drops. Thread A stores an object, reads it, drops it and
/// drains; thread B stores one, clones the handle, drops one copy, reads through the
/// other, drops it and drains; then the main thread reuses a slot. Checks: every
/// object released once, after its readers; no lookup in a released chunk; at the
/// end nothing in use and only the spare chunk installed.
#[test]
fn slots_and_chunks_are_recycled_under_concurrent_churn() {
    model(|| {
        let ledger = Arc::new(Ledger::new(3));
        let slab = Arc::new(TestSlab::<1, 3>::new());
        let (sa, la) = (slab.clone(), ledger.clone());
        let a = thread::spawn(move || {
            let h = Handle::insert(&sa, &la, 1, 0).unwrap();
            assert_eq!(h.read(), 0);
            drop(h);
            sa.drain((), 0);
        });
        let (sb, lb) = (slab.clone(), ledger.clone());
        let b = thread::spawn(move || {
            let h = Handle::insert(&sb, &lb, 2, 1).unwrap();
            let h2 = h.clone();
            drop(h);
            assert_eq!(h2.read(), 1);
            drop(h2);
            sb.drain((), 0);
        });
        a.join().unwrap();
        b.join().unwrap();
        let c = Handle::insert(&slab, &ledger, 1, 2).unwrap();
        assert_eq!(c.read(), 2);
        drop(c);
        assert_all_released(&slab, &ledger, |_| true);
    });
}

/// Model 3: a forced release of owner 1 races with an insert for owner 2 into a slot
/// that last held an object of owner 1 (drained: its pointer is null but its meta
/// word still names owner 1). The forced release must take owner 1's live object and
/// leave owner 2's alone, whatever the interleaving: it loads the pointer
/// (`Acquire`) before it reads the owner, and the insert stores the owner before the
/// pointer (`Release`). Handles of the force-released object then read null and are
/// recycled without a second release.
#[test]
fn forced_release_spares_a_slot_refilled_for_another_owner() {
    model(|| {
        let ledger = Arc::new(Ledger::new(3));
        let slab = Arc::new(TestSlab::<2, 1>::new());
        let x = Handle::insert(&slab, &ledger, 1, 0).unwrap();
        let y = Handle::insert(&slab, &ledger, 1, 1).unwrap();
        drop(y);
        slab.drain((), 0);
        let (s2, l2) = (slab.clone(), ledger.clone());
        let t = thread::spawn(move || {
            let z = Handle::insert(&s2, &l2, 2, 2).unwrap();
            assert_eq!(z.read(), 2);
            drop(z);
        });
        // SAFETY: nothing reads owner 1's objects meanwhile (`x` is read only after).
        unsafe { slab.force_release((), 1) };
        ledger.assert_released(0, 1);
        assert!(x.read_opt().is_none());
        t.join().unwrap();
        drop(x);
        assert_all_released(&slab, &ledger, |_| true);
    });
}
