//! Sealing: a full active memtable becomes a memrun (a sealed memtable waiting
//! for flush) and a fresh memtable takes its place, in one manifest update; and
//! backpressure: the writer that sealed waits (boundedly) while maintenance is
//! behind.

use std::time::Duration;

use crate::config::MaintenanceMode;
use crate::counters::Counters;
use crate::manifest::{dropping_retired, Manifest, Quiet};
use crate::memtable::Memtable;
use crate::outcome::Accepted;
use crate::store::Store;
use crate::sync::Arc;
use crate::Value;

use super::signal::Signals;

/// Seals a write left undone because its thread was dropping retired values (see
/// [`defer_seal`]); always `false` under a model checker, where no value writes
/// back.
#[cfg(not(any(timelog_loom, timelog_shuttle)))]
mod pending {
    use std::cell::Cell;

    thread_local! {
        /// Whether a write of this thread found its memtable full and left it
        /// unsealed, because the thread was dropping retired values.
        static SEAL: Cell<bool> = const { Cell::new(false) };
    }

    pub(super) fn set() {
        SEAL.with(|p| p.set(true));
    }

    pub(super) fn take() -> bool {
        SEAL.with(|p| p.replace(false))
    }
}

#[cfg(any(timelog_loom, timelog_shuttle))]
mod pending {
    pub(super) fn set() {}

    pub(super) fn take() -> bool {
        false
    }
}

/// Called by a writer that found its memtable full: whether it must leave the seal
/// to [`drain`]. A write made while its thread drops retired values (a `V::drop`
/// that writes to a log, run by the graveyard's drain or by the epoch) does not
/// seal: every such write would seal a memtable of its own, each seal copying a
/// manifest whose memrun list those very seals lengthen — quadratic in the values
/// one drain drops, and with tiny memtables in manual mode, minutes. It writes
/// past the memtable's budget instead (the run table spills to the skiplist;
/// nothing is refused), and the outermost [`drain`] seals once.
pub(crate) fn defer_seal() -> bool {
    if dropping_retired() {
        pending::set();
        true
    } else {
        false
    }
}

/// Rounds of [`drain`]: a seal it makes retires a manifest, whose drop may drop
/// values (parked by other threads meanwhile) that write and fill the memtable again.
const DRAIN_ROUNDS: usize = 4;

/// Drops the retired manifests parked so far ([`ManifestCell::drain`]), then seals
/// the active memtable if writes made by the drops filled it (see [`defer_seal`]),
/// and drops what that seal retired. With `wait`, the seal is a writer's
/// ([`on_full`]: backpressure, and a wait for room); without, it only wakes the
/// flusher (maintenance threads must not wait for themselves). The caller holds no
/// pin, no stage lock and no unpublished sequence number. A no-op inside a drain:
/// the outermost one seals.
///
/// [`ManifestCell::drain`]: crate::manifest::ManifestCell::drain
pub(crate) fn drain<V: Value>(store: &Store<V>, signals: &Signals, wait: bool) -> Accepted {
    let mut accepted = Accepted::Clean;
    store.manifest.drain();
    for _ in 0..DRAIN_ROUNDS {
        if dropping_retired() || !pending::take() {
            break;
        }
        let guard = store.manifest.pin();
        let active = &store.manifest.load(&guard).active;
        if active.is_full() {
            if wait {
                accepted = accepted.or(on_full(store, signals, active));
            } else if active.begin_seal() {
                seal(store, active);
                signals.wake_flusher();
            }
        }
        drop(guard);
        store.manifest.drain();
    }
    accepted
}

/// Called by a writer that found its memtable full: seals it if no other writer
/// did, wakes the flusher, and waits for room if maintenance is behind.
#[cold]
pub(crate) fn on_full<V: Value>(store: &Store<V>, signals: &Signals, mt: &Memtable<V>) -> Accepted {
    if !mt.begin_seal() {
        return Accepted::Clean;
    }
    if mt.ooo_bytes() >= store.cfg.ooo_budget_bytes {
        Counters::bump(&store.counters.ooo_budget_hits, 1);
    }
    seal(store, mt);
    signals.wake_flusher();
    if has_room(store, signals, &store.manifest.current()) {
        return Accepted::Clean;
    }
    let wait = store.cfg.sealed_wait;
    if store.cfg.maintenance == MaintenanceMode::Background && !wait.is_zero() && signals.running() {
        Counters::bump(&store.counters.backpressure_waits, 1);
        if wait_for_room(store, signals, wait) {
            return Accepted::Clean;
        }
    }
    Counters::bump(&store.counters.backpressure_events, 1);
    Accepted::Backpressure
}

/// Seals `mt` (the caller won `begin_seal`); returns the sealed queue length.
///
/// No user code may run between `begin_seal` and `publish`: writers wait for
/// `seal_seq` and then for the watermark to pass `s`, so a `V::drop` that writes
/// to this log would wait for this very thread. Values are dropped only when the
/// manifest's graveyard is drained, which the seal never does (its callers do,
/// once no lock is held and nothing is pinned: the write path after `on_full`,
/// and `flush_all`'s caller; see [`drain`]). Regression: `tests/hazards.rs`.
pub(crate) fn seal<V: Value>(store: &Store<V>, mt: &Memtable<V>) -> usize {
    debug_assert!(store.manifest.pin_is_inert(), "seal: the caller must hold a guard");
    let _quiet = Quiet::enter();
    let guard = store.manifest.pin();
    let s = store.seq.reserve(1);
    let next = Arc::new(Memtable::new(&store.cfg, s + 1));
    mt.set_seal_seq(s);
    let mut queued = 0;
    store.manifest.update_deferred(&guard, |m| {
        debug_assert!(std::ptr::eq(&*m.active, mt), "only the active memtable is sealed");
        let mut n = m.clone();
        let old = std::mem::replace(&mut n.active, next.clone());
        n.memruns.push(old);
        queued = n.memruns.len();
        Some(n)
    });
    store.seq.publish(s, 1);
    // Published: hand the retired manifest to the epoch (it parks in the graveyard).
    store.manifest.flush_deferred(&guard);
    drop(guard);
    Counters::bump(&store.counters.seals, 1);
    queued
}

/// Whether maintenance keeps up: the sealed queue is within `sealed_max_runs`
/// and, while the background workers run, L0 within [`l0_stall`] (in manual mode
/// L0 is the caller's to compact). Writers that seal a memtable while this is
/// false wait (up to `sealed_wait`) for maintenance to catch up.
pub(crate) fn has_room<V>(store: &Store<V>, signals: &Signals, m: &Manifest<V>) -> bool {
    m.memruns.len() <= store.cfg.sealed_max_runs && (m.l0.len() <= l0_stall(store) || !signals.running())
}

/// L0 segments past which writers wait for compaction: twice the count that
/// triggers it. Without this limit a writer faster than compaction (on a machine
/// with fewer cores than busy threads) would pile up L0 segments, and with them
/// memory, without bound.
fn l0_stall<V>(store: &Store<V>) -> usize {
    store.cfg.max_l0_segments.saturating_mul(2)
}

/// Waits up to `timeout` for [`has_room`]; returns whether there is room. Returns
/// at once when the workers are not running, since nothing would make room.
pub(crate) fn wait_for_room<V: Value>(store: &Store<V>, signals: &Signals, timeout: Duration) -> bool {
    signals.wait_for_room(timeout, || has_room(store, signals, &store.manifest.current()))
}
