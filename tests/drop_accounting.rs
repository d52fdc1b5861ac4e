//! Drop accounting: every value instance the engine ever holds — the caller's
//! originals and every clone that flush and compaction make — is dropped exactly
//! once, values of deleted records are freed once no snapshot can reach them, and
//! nothing is leaked (live instances go back to zero once the log and every
//! snapshot are gone).
//!
//! Values are the test kit's [`Tracked`]: each instance is entered in a
//! [`Ledger`] when it is created or cloned and taken out when dropped; a second
//! drop of the same instance (or a drop of one never created) is an error of the
//! ledger. Values carry a logical record id (copied by `Clone`) so that the test
//! can count live copies per record, and a canary and a heap cell that are
//! checked whenever a value is read through a snapshot (a read of a freed value
//! shows up as a dead canary, a bad cell or an instance missing from the ledger).
//!
//! Retired manifests are reclaimed through `crossbeam-epoch`, so "freed" means
//! "freed once the epoch has advanced": [`settle`] pins and flushes the epoch on
//! this thread until the expected state is reached (or a timeout expires).
//!
//! Every test uses a ledger of its own, so the tests of this binary may run in
//! parallel.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use timelog::{MaintenanceMode, Snapshot, Timelog};
use timelog_testkit::check::Expect;
use timelog_testkit::gen::Rng;
use timelog_testkit::ledger::{Ledger, Tracked};
use timelog_testkit::oracle::{Oracle, View};
use timelog_testkit::{eventually, flush_epoch, tiny};

/// Lets the epoch advance so that retired manifests can be reclaimed.
fn advance_epoch() {
    flush_epoch(256);
}

/// Advances the epoch (pin + flush on this thread) until `done(ledger.live())`
/// holds; returns the last observed live map. Gives up after a few seconds.
fn settle(ledger: &Ledger, done: impl Fn(&BTreeMap<u64, usize>) -> bool) -> BTreeMap<u64, usize> {
    let mut l = BTreeMap::new();
    eventually(Duration::from_secs(5), || {
        flush_epoch(64);
        l = ledger.live();
        done(&l)
    });
    l
}

/// [`settle`] for a log that is still alive and may have no worker running
/// (manual mode, or background mode after `stop_maintenance`): each round also
/// calls `flush()`, which returns what the log retired. Needed because the
/// epoch's deferred functions run on whatever thread pins next; one that runs
/// where user code may not run (inside another log's flush, say: the tests of
/// this binary run in parallel and share the collector) parks the retired
/// manifest with its log, which frees it at its next safe point (a write, a
/// flush, a maintenance round), not at a pin of this thread.
fn settle_log(
    log: &Timelog<Tracked>,
    ledger: &Ledger,
    done: impl Fn(&BTreeMap<u64, usize>) -> bool,
) -> BTreeMap<u64, usize> {
    let mut l = BTreeMap::new();
    eventually(Duration::from_secs(5), || {
        log.flush();
        flush_epoch(64);
        l = ledger.live();
        done(&l)
    });
    l
}

/// A log where seals, flushes and compactions happen every few records, with
/// windows of 64 timestamps.
fn small_log(mode: MaintenanceMode) -> Timelog<Tracked> {
    tiny(mode).window_size(64).build().unwrap()
}

/// Record ids of the records written and hidden now by a delete.
fn deleted_ids(o: &Oracle<u64>) -> Vec<u64> {
    o.hidden().into_iter().map(|(_, r)| r).collect()
}

/// Reads everything through `snap` (forward and backward, with counts and
/// navigation), checking that every value is alive and that the content is
/// exactly `want`.
fn read_all(snap: &Snapshot<Tracked>, want: &View<u64>) {
    if let Err(e) = Expect::new(snap, want, Tracked::live_rec).whole() {
        panic!("{e}");
    }
}

/// Writes a mix of in-order single appends, out-of-order single appends, small and
/// large (>= 16, shuffled) batches and range deletes. Returns the oracle, and a
/// snapshot taken just before the first delete together with its expected content.
fn write_mix(
    log: &Timelog<Tracked>,
    ledger: &Ledger,
    rng: &mut Rng,
    o: &mut Oracle<u64>,
    rounds: u64,
) -> (Snapshot<Tracked>, View<u64>) {
    let mut rec = 0u64;
    let mut before = None;
    for round in 0..rounds {
        let base = round as i64 * 100;
        // In-order single appends (lane path while the lane's last ts allows it).
        for i in 0..20 {
            let _ = log.append(base + i, ledger.value(rec));
            o.append(base + i, rec);
            rec += 1;
        }
        // Out-of-order single appends (skiplist path).
        for _ in 0..10 {
            let t = base + rng.below(100) as i64 - 50;
            let _ = log.append(t, ledger.value(rec));
            o.append(t, rec);
            rec += 1;
        }
        // A small batch (per-record path) and a large shuffled one (batch run).
        for n in [5u64, 40] {
            let mut b = Vec::new();
            for _ in 0..n {
                let t = base + rng.below(120) as i64;
                b.push((t, ledger.value(rec)));
                o.append(t, rec);
                rec += 1;
            }
            let _ = log.append_batch(b);
        }
        if round % 3 == 1 {
            if before.is_none() {
                before = Some((log.snapshot(), o.view()));
            }
            let lo = base - 30 + rng.below(40) as i64;
            let hi = lo + 1 + rng.below(60) as i64;
            log.delete_range(lo..hi).unwrap();
            o.delete(lo..hi);
        }
        if round % 4 == 3 {
            // One unit of maintenance (manual mode; an error in background mode).
            let _ = log.maint_step();
        }
    }
    before.expect("at least one delete round")
}

/// (a) Values of deleted records are freed once flush + compaction dropped them and
/// no snapshot reaches them any more; visible values stay alive; nothing leaks.
fn deleted_values_are_freed(ns: u32, mode: MaintenanceMode) {
    let ledger = Ledger::new();
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15 ^ ns as u64);
    let mut o = Oracle::new();
    let log = small_log(mode);
    let (before, before_want) = write_mix(&log, &ledger, &mut rng, &mut o, 12);
    log.flush();
    log.compact_now();
    log.validate().unwrap();
    if mode == MaintenanceMode::Background {
        // The worker's retired manifests are handed to the epoch collector when it
        // exits; `worker_retired_data_is_released` covers a worker that keeps running.
        log.stop_maintenance().unwrap();
    }

    let want = o.view();
    let deleted = deleted_ids(&o);
    assert!(!deleted.is_empty(), "the scenario must delete something");
    let snap = log.snapshot();
    read_all(&snap, &want);
    drop(snap);

    // The snapshot taken before the first delete still reads its records, alive.
    read_all(&before, &before_want);
    let first_deleted: Vec<u64> =
        before_want.records().iter().map(|&(_, r)| r).filter(|r| deleted.contains(r)).collect();
    assert!(!first_deleted.is_empty(), "the old snapshot must see records deleted later");
    drop(before);

    let visible_ids: HashSet<u64> = want.records().iter().map(|&(_, r)| r).collect();
    let l = settle_log(&log, &ledger, |l| deleted.iter().all(|r| !l.contains_key(r)));
    let still: Vec<(u64, usize)> = deleted.iter().filter_map(|r| l.get(r).map(|&c| (*r, c))).collect();
    assert!(
        still.is_empty(),
        "{mode:?}: values of deleted records still alive with no snapshot holding them \
         ((record, live copies), {} of {} deleted): {:?}",
        still.len(),
        deleted.len(),
        &still[..still.len().min(20)]
    );
    for r in &visible_ids {
        assert!(l.get(r).copied().unwrap_or(0) >= 1, "visible record {r} has no live value");
    }
    // After compaction the log holds exactly one copy of each visible record.
    let l = settle_log(&log, &ledger, |l| l.values().all(|&c| c == 1));
    let extra: Vec<(u64, usize)> = l.iter().filter(|&(_, &c)| c != 1).map(|(&r, &c)| (r, c)).collect();
    assert!(
        extra.is_empty(),
        "{mode:?}: records with more than one live copy after compaction: {:?}",
        &extra[..extra.len().min(20)]
    );
    // Reading still works and everything read is alive.
    read_all(&log.snapshot(), &want);
    if mode == MaintenanceMode::Background {
        log.start_maintenance().unwrap();
        read_all(&log.snapshot(), &want);
    }

    drop(log);
    let l = settle(&ledger, |l| l.is_empty());
    assert!(l.is_empty(), "{mode:?}: leaked {} values after dropping the log", l.values().sum::<usize>());
    ledger.assert_no_errors();
}

/// (b) Dropping the log while a snapshot lives: the snapshot keeps its values alive
/// and readable; dropping it frees everything.
fn snapshot_outlives_log(ns: u32, mode: MaintenanceMode) {
    let ledger = Ledger::new();
    let mut rng = Rng::new(0xD1B5_4A32_D192_ED03 ^ ns as u64);
    let mut o = Oracle::new();
    let log = small_log(mode);
    let (before, before_want) = write_mix(&log, &ledger, &mut rng, &mut o, 6);
    log.flush();
    // Leave some data in L0, the active memtable and (manual mode) sealed memruns too.
    let _ = write_mix(&log, &ledger, &mut rng, &mut o, 4);
    let want = o.view();
    let snap = log.snapshot();
    read_all(&snap, &want);
    drop(log);
    advance_epoch();
    read_all(&snap, &want);
    read_all(&before, &before_want);
    let l = ledger.live();
    for (_, r) in want.records() {
        assert!(l.contains_key(r), "record {r} visible in the snapshot is not alive");
    }
    drop(snap);
    read_all(&before, &before_want);
    drop(before);
    let l = settle(&ledger, |l| l.is_empty());
    assert!(
        l.is_empty(),
        "{mode:?}: leaked {} values after dropping the log and its snapshots",
        l.values().sum::<usize>()
    );
    ledger.assert_no_errors();
}

/// (c) Records held in the active memtable's lanes, skiplist and batch runs (written
/// from several threads, so that some threads find no free lane), read through
/// clones of a snapshot that outlive the log and the original snapshot.
fn memtable_paths_and_snapshot_clones(mode: MaintenanceMode) {
    let ledger = Ledger::new();
    let log: Timelog<Tracked> = Timelog::builder()
        .memtable_max_bytes(16 << 20)
        .ooo_budget_bytes(16 << 20)
        .maintenance(mode)
        .build()
        .unwrap();
    let next = AtomicU64::new(0);
    // Six threads for four lanes: in-order single appends, out-of-order single
    // appends and big batches.
    std::thread::scope(|s| {
        for th in 0..6i64 {
            let (log, next, ledger) = (&log, &next, &ledger);
            s.spawn(move || {
                let id = || next.fetch_add(1, Ordering::Relaxed);
                for i in 0..200 {
                    let _ = log.append(th * 1_000 + i, ledger.value(id()));
                }
                for i in (0..100).rev() {
                    let _ = log.append(th * 1_000 + i, ledger.value(id()));
                }
                for b in 0..3 {
                    let batch: Vec<(i64, Tracked)> =
                        (0..32).map(|i| (th * 1_000 + (i * 7 + b) % 50, ledger.value(id()))).collect();
                    let _ = log.append_batch(batch);
                }
            });
        }
    });
    let total = next.load(Ordering::Relaxed) as usize;
    let st = log.stats();
    assert_eq!(st.seals, 0, "the scenario needs everything in the active memtable");
    assert!(
        st.memtable_records > 0 && st.memtable_ooo_records > 0,
        "both the runs and the skiplist must hold records: {st:?}"
    );
    assert_eq!(st.memtable_records + st.memtable_ooo_records, total);
    let snap = log.snapshot();
    let want = View::new(snap.range(..).map(|(t, v)| (t, v.rec())).collect());
    assert_eq!(want.len(), total);
    let clone1 = snap.clone();
    let clone2 = snap.clone();
    drop(log);
    drop(snap);
    read_all(&clone1, &want);
    // A clone dropped on another thread.
    std::thread::spawn(move || {
        read_all(&clone2, &want);
        drop(clone2);
    })
    .join()
    .unwrap();
    assert_eq!(ledger.live().values().sum::<usize>(), total, "one instance per record");
    drop(clone1);
    let l = settle(&ledger, |l| l.is_empty());
    assert!(
        l.is_empty(),
        "{mode:?}: leaked {} memtable values (lanes, skiplist or batch runs)",
        l.values().sum::<usize>()
    );
    ledger.assert_no_errors();
}

#[test]
fn deleted_values_are_freed_manual() {
    deleted_values_are_freed(1, MaintenanceMode::Manual);
}

#[test]
fn deleted_values_are_freed_background() {
    deleted_values_are_freed(2, MaintenanceMode::Background);
}

#[test]
fn snapshot_outlives_log_manual() {
    snapshot_outlives_log(3, MaintenanceMode::Manual);
}

#[test]
fn snapshot_outlives_log_background() {
    snapshot_outlives_log(4, MaintenanceMode::Background);
}

#[test]
fn memtable_paths_and_snapshot_clones_manual() {
    memtable_paths_and_snapshot_clones(MaintenanceMode::Manual);
}

#[test]
fn memtable_paths_and_snapshot_clones_background() {
    memtable_paths_and_snapshot_clones(MaintenanceMode::Background);
}

/// Dropping a log that still holds sealed memruns, L0 and L1 segments, tombstones and
/// out-of-order records, with no snapshot alive, frees every value exactly once.
#[test]
fn drop_log_with_every_layer_populated() {
    let ledger = Ledger::new();
    let mut rng = Rng::new(0x1234_5678_9ABC_DEF1);
    let mut o = Oracle::new();
    let log = small_log(MaintenanceMode::Manual);
    let _ = write_mix(&log, &ledger, &mut rng, &mut o, 6);
    log.compact_now();
    let _ = write_mix(&log, &ledger, &mut rng, &mut o, 3);
    log.flush();
    let _ = write_mix(&log, &ledger, &mut rng, &mut o, 3);
    let st = log.stats();
    assert!(st.l1_segments > 0 && st.l0_segments > 0 && st.sealed_memruns > 0, "{st:?}");
    read_all(&log.snapshot(), &o.view());
    drop(log);
    let l = settle(&ledger, |l| l.is_empty());
    assert!(l.is_empty(), "leaked {} values", l.values().sum::<usize>());
    ledger.assert_no_errors();
}

/// Lets other activity happen in the process the way it would without the test's
/// help: pins the epoch on this thread (which advances it and collects garbage
/// already handed to the global queue) but never flushes this thread's own bag.
fn settle_without_flush(
    ledger: &Ledger,
    done: impl Fn(&BTreeMap<u64, usize>) -> bool,
) -> BTreeMap<u64, usize> {
    let mut l = BTreeMap::new();
    eventually(Duration::from_secs(3), || {
        for _ in 0..1024 {
            drop(crossbeam_epoch::pin());
        }
        l = ledger.live();
        done(&l)
    });
    l
}

/// Writes `n` records at timestamps `0..n` (record id == ts) in one batch, flushes
/// them into L0, then deletes `0..n/2` and flushes the tombstone, so that the deleted
/// values sit in an L0 segment that only a compaction can drop.
fn l0_with_deleted_half(log: &Timelog<Tracked>, ledger: &Ledger, n: u64) {
    let _ = log.append_batch((0..n).map(|i| (i as i64, ledger.value(i))));
    log.flush();
    log.delete_range(0..(n / 2) as i64).unwrap();
    log.flush();
    assert_eq!(log.count(..), (n - n / 2) as usize);
}

/// A compaction run by a *running* background worker drops the deleted records; no
/// snapshot holds them, so their values must be freed while the log lives (the
/// worker must not keep retired manifests in its private epoch bag indefinitely).
#[test]
fn worker_retired_data_is_released() {
    let ledger = Ledger::new();
    let log: Timelog<Tracked> =
        Timelog::builder().max_l0_segments(8).maintenance_wakeup(Duration::from_millis(1)).build().unwrap();
    let n = 200;
    l0_with_deleted_half(&log, &ledger, n);
    // The worker rewrites the half-deleted L0 segment on its own (the dead share
    // is over `segment_dead_fraction`), or on this request, whichever comes first.
    log.compact();
    assert!(
        eventually(Duration::from_secs(5), || log.stats().compactions > 0 && log.stats().l0_segments == 0),
        "the worker did not compact"
    );
    assert!(log.maintenance_running());
    let deleted: Vec<u64> = (0..n / 2).collect();
    let l = settle(&ledger, |l| deleted.iter().all(|r| !l.contains_key(r)));
    let still = deleted.iter().filter(|r| l.contains_key(r)).count();
    assert_eq!(
        still,
        0,
        "{still} of {} deleted values are still alive after the worker's compaction dropped \
         them, with no snapshot alive and the epoch advanced/flushed on the test thread",
        deleted.len()
    );
    drop(log);
    assert!(settle(&ledger, |l| l.is_empty()).is_empty());
    ledger.assert_no_errors();
}

/// Manual mode: after `compact_now` dropped the deleted records, and with no snapshot
/// alive, their values are freed without the caller having to know about the epoch
/// collector (only ordinary epoch pins happen, as other readers would do).
#[test]
fn retired_data_is_released_without_epoch_flush() {
    let ledger = Ledger::new();
    let log: Timelog<Tracked> = Timelog::builder().maintenance(MaintenanceMode::Manual).build().unwrap();
    let n = 200;
    l0_with_deleted_half(&log, &ledger, n);
    log.compact_now();
    assert_eq!(log.stats().l0_segments, 0);
    let deleted: Vec<u64> = (0..n / 2).collect();
    let l = settle_without_flush(&ledger, |l| deleted.iter().all(|r| !l.contains_key(r)));
    let still = deleted.iter().filter(|r| l.contains_key(r)).count();
    assert_eq!(
        still,
        0,
        "{still} of {} deleted values are still alive after compact_now dropped them, with no \
         snapshot alive (retired manifests never reach the epoch collector's global queue)",
        deleted.len()
    );
    drop(log);
    assert!(settle(&ledger, |l| l.is_empty()).is_empty());
    ledger.assert_no_errors();
}
