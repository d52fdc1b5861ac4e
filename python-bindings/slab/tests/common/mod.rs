//! Test support shared by the unit tests, the std stress test, the loom models and
//! the shuttle schedules: a counting [`Release`] over ledger objects, and a handle type
//! (what `PyVal` is in the Python crate, with the slab behind an `Arc`).
//!
//! Ledger objects are never freed before the ledger is, so that a second release, or
//! a read after the release, is detected (an assertion, and under loom a data race on
//! the object's value cell) instead of being a use after free.
#![allow(dead_code)]

use std::ptr::NonNull;

use timelog_slab::sync::{Arc, AtomicU32, Ordering, UnsafeCell};
use timelog_slab::{Release, Slab};

/// What a released object's value becomes.
pub const DEAD: u64 = u64::MAX;

/// A stand-in for a foreign object: a value cell and a release counter.
pub struct Obj {
    /// Checked by readers; written (to [`DEAD`]) by the release.
    value: UnsafeCell<u64>,
    /// How many times it was released (must end at 1 if it was stored, else 0).
    released: AtomicU32,
}

// SAFETY: the value cell is written by the release only, which the slab orders after
// every read through a handle (what the tests check; loom reports a race otherwise).
unsafe impl Sync for Obj {}
// SAFETY: as above; the release counter is atomic.
unsafe impl Send for Obj {}

/// Releases by counting (and poisoning the value), never by freeing.
pub struct Counting;

impl Release for Counting {
    type Obj = Obj;
    type Ctx<'a> = ();

    unsafe fn release(_: (), obj: NonNull<Obj>) {
        // SAFETY: ledger objects outlive the slab (the ledger is dropped last).
        let o = unsafe { obj.as_ref() };
        let before = o.released.fetch_add(1, Ordering::Relaxed);
        assert_eq!(before, 0, "an object was released twice");
        o.value.with_mut(|v| {
            // SAFETY: the cell's pointer is valid; exclusivity is what the test checks.
            unsafe { *v = DEAD }
        });
    }
}

/// The objects of one test, created up front (so that creating them adds no
/// synchronisation between the threads under test).
pub struct Ledger {
    objs: Box<[Obj]>,
}

impl Ledger {
    /// `n` objects; object `k` holds value `k`.
    pub fn new(n: usize) -> Self {
        Ledger {
            objs: (0..n as u64)
                .map(|k| Obj { value: UnsafeCell::new(k), released: AtomicU32::new(0) })
                .collect(),
        }
    }

    /// A pointer to object `k`, to be inserted once.
    pub fn ptr(&self, k: usize) -> NonNull<Obj> {
        NonNull::from(&self.objs[k])
    }

    /// How many times object `k` was released.
    pub fn released(&self, k: usize) -> u32 {
        self.objs[k].released.load(Ordering::Relaxed)
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.objs.len()
    }

    /// Asserts that object `k` was released `n` times.
    #[track_caller]
    pub fn assert_released(&self, k: usize, n: u32) {
        assert_eq!(self.released(k), n, "object {k} released {} times, expected {n}", self.released(k));
    }
}

/// Reads the value of an object (a checked read of its cell).
pub fn value(o: *mut Obj) -> u64 {
    // SAFETY: ledger objects outlive the slab; ordering with the release's write is
    // what the tests check.
    let o = unsafe { &*o };
    o.value.with(|v| {
        // SAFETY: the cell's pointer is valid.
        unsafe { *v }
    })
}

/// The slab under test.
pub type TestSlab<const C: usize, const D: usize> = Slab<Counting, C, D>;

/// A counted handle to one slot (the tests' `PyVal`).
pub struct Handle<const C: usize, const D: usize> {
    slab: Arc<TestSlab<C, D>>,
    i: u32,
}

impl<const C: usize, const D: usize> Handle<C, D> {
    /// Stores ledger object `k` for `owner`; `None` when the slab is full.
    pub fn insert(slab: &Arc<TestSlab<C, D>>, ledger: &Ledger, owner: u32, k: usize) -> Option<Self> {
        // SAFETY: each test inserts a ledger object at most once, so the slab owns
        // that one "reference"; the ledger outlives the slab.
        let i = unsafe { slab.insert(owner, k.is_multiple_of(2), ledger.ptr(k)) }.ok()?;
        Some(Handle { slab: slab.clone(), i })
    }

    /// Stores ledger objects `ks` for `owner` (all or none).
    pub fn insert_many(
        slab: &Arc<TestSlab<C, D>>,
        ledger: &Ledger,
        owner: u32,
        ks: Vec<usize>,
    ) -> Option<Vec<Self>> {
        // SAFETY: as in `insert`.
        unsafe {
            slab.insert_many(
                owner,
                ks,
                |k| (ledger.ptr(k), k.is_multiple_of(2)),
                |i| Handle { slab: slab.clone(), i },
            )
        }
        .ok()
    }

    /// The slot index.
    pub fn index(&self) -> u32 {
        self.i
    }

    /// The object pointer (null after a forced release).
    pub fn get(&self) -> *mut Obj {
        // SAFETY: `self` is a handle to slot `i`.
        unsafe { self.slab.get(self.i) }
    }

    /// Whether the slot's GC bit is set.
    pub fn is_gc(&self) -> bool {
        // SAFETY: `self` is a handle to slot `i`.
        unsafe { self.slab.is_gc(self.i) }
    }

    /// Reads the object's value, asserting it is live (not null, not released).
    #[track_caller]
    pub fn read(&self) -> u64 {
        let p = self.get();
        assert!(!p.is_null(), "a live handle's object is gone");
        let v = value(p);
        assert_ne!(v, DEAD, "a live handle's object was released");
        v
    }

    /// Reads the object's value if it was not force-released.
    pub fn read_opt(&self) -> Option<u64> {
        let p = self.get();
        (!p.is_null()).then(|| {
            let v = value(p);
            assert_ne!(v, DEAD, "a live handle's object was released");
            v
        })
    }
}

impl<const C: usize, const D: usize> Clone for Handle<C, D> {
    fn clone(&self) -> Self {
        // SAFETY: `self` is a handle to slot `i`.
        unsafe { self.slab.clone_ref(self.i) };
        Handle { slab: self.slab.clone(), i: self.i }
    }
}

impl<const C: usize, const D: usize> Drop for Handle<C, D> {
    fn drop(&mut self) {
        // SAFETY: `self` is a handle to slot `i`, given back once.
        unsafe { self.slab.drop_ref(self.i) }
    }
}

/// Drains everything and checks the slab came back to "nothing in use": every
/// object the test stored (`stored(k)`) released exactly once, the others never;
/// no slot in use, nothing retired, at most the spare chunk installed.
#[track_caller]
pub fn assert_all_released<const C: usize, const D: usize>(
    slab: &TestSlab<C, D>,
    ledger: &Ledger,
    stored: impl Fn(usize) -> bool,
) {
    slab.drain((), 0);
    for k in 0..ledger.len() {
        ledger.assert_released(k, u32::from(stored(k)));
    }
    let info = slab.info();
    assert_eq!((info.used, info.retired), (0, 0), "slots left in use: {info:?}");
    assert!(info.installed <= 1, "more than the spare chunk left installed: {info:?}");
}

pub mod churn;
