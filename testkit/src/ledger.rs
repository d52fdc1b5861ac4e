//! The drop ledger and the counted value: every value instance the engine ever
//! holds (the caller's originals and every clone that flush, compaction and reads
//! make) is entered in a [`Ledger`] when it is created and taken out when it is
//! dropped.
//!
//! A [`Tracked`] value carries a logical record id (copied by `Clone`), a unique
//! instance id, a canary, and a heap cell of its own holding a checksum of the
//! record id. So:
//!
//! - a leak shows as instances left in the ledger once the log and every snapshot
//!   are gone ([`Ledger::count`], [`Ledger::live`]);
//! - a second drop of an instance (also of a bitwise copy, which shares its
//!   instance id) is reported, and so is a clone of a dropped value
//!   ([`Ledger::errors`]); neither panics, since drops run on maintenance threads
//!   and inside the engine;
//! - a read of a dropped value fails the canary or the checksum
//!   ([`Tracked::rec`] panics), or under AddressSanitizer fails as a
//!   use-after-free of the cell.
//!
//! Each test (or fuzz input) uses a ledger of its own, so tests of one binary may
//! run in parallel. Retired data is freed through `crossbeam-epoch`, so "freed"
//! means "freed once the epoch has advanced": wait with [`crate::eventually`] and
//! [`crate::flush_epoch`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

const ALIVE: u64 = 0x5AFE_CAFE_F00D_0001;
const DEAD: u64 = 0xDEAD_DEAD_DEAD_DEAD;
const MIX: u64 = 0x9E37_79B9_7F4A_7C15;

/// The accounts every value of one ledger shares.
#[derive(Debug, Default)]
struct Accounts {
    /// The next instance id (ids start at 1).
    next: AtomicU64,
    books: Mutex<Books>,
}

#[derive(Debug, Default)]
struct Books {
    /// Live instance id -> record id.
    live: HashMap<u64, u64>,
    /// What went wrong, in the order found.
    errors: Vec<String>,
}

impl Accounts {
    fn books(&self) -> MutexGuard<'_, Books> {
        // A panicking test thread must not hide the accounts from the others.
        self.books.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn enter(self: &Arc<Self>, rec: u64) -> Tracked {
        let instance = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.books().live.insert(instance, rec);
        Tracked { ledger: Some(self.clone()), rec, instance, canary: ALIVE, cell: Some(Box::new(rec ^ MIX)) }
    }
}

/// The accounts of one test: which value instances are alive, and what went
/// wrong. Clones share the accounts.
#[derive(Debug, Clone, Default)]
pub struct Ledger(Arc<Accounts>);

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new value of record `rec`, entered here.
    pub fn value(&self, rec: u64) -> Tracked {
        self.0.enter(rec)
    }

    /// Instances alive now (originals and clones).
    pub fn count(&self) -> usize {
        self.0.books().live.len()
    }

    /// Instances alive now, per record id.
    pub fn live(&self) -> BTreeMap<u64, usize> {
        let mut m = BTreeMap::new();
        for &rec in self.0.books().live.values() {
            *m.entry(rec).or_insert(0) += 1;
        }
        m
    }

    /// What went wrong so far: drops of instances not alive (dropped twice),
    /// drops and clones of values with a dead canary.
    pub fn errors(&self) -> Vec<String> {
        self.0.books().errors.clone()
    }

    /// Panics with every error so far, if there is one.
    pub fn assert_no_errors(&self) {
        let e = self.errors();
        assert!(e.is_empty(), "drop accounting errors: {e:#?}");
    }
}

/// A value that accounts for its own creation, clones and drops in a
/// [`Ledger`] (made by [`Ledger::value`]). Reading it through [`Tracked::rec`]
/// checks that it was not dropped.
pub struct Tracked {
    /// `None` once dropped.
    ledger: Option<Arc<Accounts>>,
    rec: u64,
    instance: u64,
    canary: u64,
    /// `rec ^ MIX` on the heap (`None` once dropped).
    cell: Option<Box<u64>>,
}

impl Tracked {
    /// The record id, after checking that this instance was not dropped (its
    /// canary and its heap cell); panics if it was.
    pub fn rec(&self) -> u64 {
        assert_eq!(
            self.canary, ALIVE,
            "read a dropped value (record {}, instance {})",
            self.rec, self.instance
        );
        let cell = self.cell.as_deref().copied();
        assert_eq!(
            cell,
            Some(self.rec ^ MIX),
            "value of record {} (instance {}) is corrupt",
            self.rec,
            self.instance
        );
        self.rec
    }

    /// [`Tracked::rec`], and the ledger holds this instance as alive, of this record.
    pub fn live_rec(&self) -> u64 {
        let rec = self.rec();
        let ledger = self.ledger.as_ref().expect("a value that passed its canary check has a ledger");
        assert_eq!(
            ledger.books().live.get(&self.instance),
            Some(&rec),
            "read value instance {} (record {rec}) that the ledger does not hold as live",
            self.instance
        );
        rec
    }
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        let ledger = self.ledger.as_ref().expect("cloned a value whose drop already ran in place");
        if self.canary != ALIVE {
            ledger
                .books()
                .errors
                .push(format!("cloned a dead value (record {}, instance {})", self.rec, self.instance));
        }
        ledger.enter(self.rec)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let Some(ledger) = self.ledger.take() else {
            panic!("value of record {} (instance {}) dropped twice in place", self.rec, self.instance);
        };
        let cell = self.cell.take();
        let mut books = ledger.books();
        let mut ok = true;
        if self.canary != ALIVE {
            books.errors.push(format!(
                "drop of record {} instance {} with a dead canary (double drop)",
                self.rec, self.instance
            ));
            ok = false;
        }
        self.canary = DEAD;
        if books.live.remove(&self.instance).is_none() {
            let what = if self.instance <= ledger.next.load(Ordering::Relaxed) {
                "dropped twice"
            } else {
                "was never created"
            };
            books.errors.push(format!("record {} instance {} {what}", self.rec, self.instance));
            ok = false;
        }
        drop(books);
        if !ok {
            // A bitwise copy of a value already dropped: its cell and its share of
            // the ledger went with the first drop, so freeing them again would
            // corrupt the heap or the ledger's count before the error is seen.
            std::mem::forget(cell);
            std::mem::forget(ledger);
        }
    }
}

impl fmt::Debug for Tracked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tracked(record {}, instance {})", self.rec, self.instance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_and_drops_are_counted_per_record() {
        let l = Ledger::new();
        let a = l.value(7);
        let b = a.clone();
        let c = l.value(9);
        assert_eq!((l.count(), l.live()), (3, BTreeMap::from([(7, 2), (9, 1)])));
        assert_eq!((b.live_rec(), c.rec()), (7, 9));
        drop((a, c));
        assert_eq!(l.live(), BTreeMap::from([(7, 1)]));
        drop(b);
        assert_eq!(l.count(), 0);
        l.assert_no_errors();
    }

    #[test]
    fn a_bitwise_copy_dropped_after_its_original_is_reported() {
        let l = Ledger::new();
        let a = l.value(3);
        // What a double free in the engine amounts to: two values with the same
        // instance, both dropped. A clone with its instance id swapped in stands
        // for the bitwise copy (the cell is a fresh one, so nothing is freed twice).
        let mut copy = a.clone();
        let stolen = copy.instance;
        copy.instance = a.instance;
        l.0.books().live.remove(&stolen);
        drop(a);
        assert!(l.errors().is_empty());
        drop(copy);
        let e = l.errors();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("dropped twice"), "{e:?}");
        assert_eq!(l.count(), 0);
    }

    #[test]
    #[should_panic(expected = "read a dropped value")]
    fn reading_a_dead_value_panics() {
        let l = Ledger::new();
        let mut a = l.value(1);
        a.canary = DEAD;
        let _ = a.rec();
    }
}
