//! Regression tests for the latent hazards closed in "Valgrind memcheck clean, and
//! three latent hazards closed" (see `docs/concurrency.md`, "Hazards closed").
//! The `Run` column readers and the skiplist's duplicate-key case are internal and
//! tested by unit tests (`run_readers_reject_unpublished_lengths` in
//! `src/memtable/run.rs`, `duplicate_key_never_replaces_and_panics` in
//! `src/memtable/ooo.rs`).
//!
//! Every test body runs on its own thread and is joined with a deadline, so a
//! regression (a hang) fails the test instead of hanging CI. The deadline is
//! `TIMELOG_HAZARD_DEADLINE_SECS` (default 60; raise it under valgrind).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use timelog::{MaintenanceMode, Timelog};
use timelog_testkit::check::{check_range, check_whole};
use timelog_testkit::oracle::Oracle;

fn deadline() -> Duration {
    let secs =
        std::env::var("TIMELOG_HAZARD_DEADLINE_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(60.0);
    Duration::from_secs_f64(secs)
}

static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `body` on a thread; fails if it panics or does not finish in time (the
/// thread is then left behind, spinning, until the test process exits).
fn with_deadline(name: &str, body: impl FnOnce() + Send + 'static) {
    // One test at a time: they share crossbeam-epoch's global collector, and one
    // test's pinned threads would hold back another's garbage.
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (tx, rx) = mpsc::channel();
    let h = std::thread::Builder::new()
        .name(name.to_string())
        // The default 2 MiB stack on purpose: drops that write to the log must not
        // nest (a drop's append that drained the graveyard again would recurse as
        // deep as there is garbage; it once overflowed this stack).
        .spawn(move || {
            body();
            let _ = tx.send(());
        })
        .unwrap();
    match rx.recv_timeout(deadline()) {
        Ok(()) => h.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(e) = h.join() {
                std::panic::resume_unwind(e);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{name}: no progress within {:?} (hang: a writer waits for itself?)", deadline())
        }
    }
}

/// Writes done by `Reentrant::drop` (over all tests of this binary).
static DROP_WRITES: AtomicUsize = AtomicUsize::new(0);

/// A value whose `Drop` appends a plain record to the log it lives in (if that log
/// is still alive), like a user value that logs its own eviction.
#[derive(Clone)]
struct Reentrant {
    /// `Weak::new()` for the plain records the drops write.
    log: Weak<Timelog<Reentrant>>,
    id: u64,
}

/// Timestamps of the plain records written by drops (far from the test's own).
const DROP_TS: i64 = -1_000_000;

impl Drop for Reentrant {
    fn drop(&mut self) {
        if let Some(log) = self.log.upgrade() {
            log.append(DROP_TS, Reentrant { log: Weak::new(), id: self.id });
            DROP_WRITES.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A log of [`Reentrant`] values in manual maintenance with 256-byte memtables and
/// pages: a handful of records fills a memtable.
fn manual_256_byte_log() -> Arc<Timelog<Reentrant>> {
    Arc::new(
        Timelog::<Reentrant>::builder()
            .memtable_max_bytes(256)
            .target_page_bytes(256)
            .maintenance(MaintenanceMode::Manual)
            .build()
            .unwrap(),
    )
}

/// Records per batch: more than the 256-byte memtable holds, so each batch seals.
const BATCH: usize = 16;

/// Hazard 4: a user `V::drop` ran inside `seal()`, between reserving the seal's
/// sequence number and publishing it: `ManifestCell::update` flushed the epoch
/// garbage (retired manifests, whose memtables and segments hold values) right
/// after its CAS. A `Drop` that appends to the same log then waited for the
/// watermark to pass the seal's number, which its own thread held: a hang. Now
/// `seal` swaps the manifest with `update_deferred` and flushes after `publish`.
///
/// Each round appends a batch that fills the memtable (the writer seals it) and
/// flushes it with `maint_step`, whose manifest update retires the flushed memtable
/// and advances the epoch once; the next collection after that, the next round's
/// seal, frees it and runs the values' drops. Before the fix this hung in the
/// first rounds. Later, under CPU contention, about one run in five did not
/// finish in two minutes: every drop's write sealed a memtable of its own (see
/// `one_drain_of_writing_drops_seals_once`).
#[test]
fn value_drop_writing_to_the_same_log_runs_after_the_seal_publishes() {
    with_deadline("seal-reentrant-drop", || {
        let log = manual_256_byte_log();
        let before = DROP_WRITES.load(Ordering::SeqCst);
        let mut id = 0u64;
        // At least 200 rounds, and on until some drop has written to this log (the
        // global epoch advances only when every pinned thread of the process allows).
        let mut rounds = 0;
        while rounds < 200 || log.snapshot().range(DROP_TS..=DROP_TS).next().is_none() {
            let r = rounds;
            rounds += 1;
            let ts: Vec<i64> = (0..BATCH as i64).map(|i| r * BATCH as i64 + i).collect();
            let vals: Vec<Reentrant> = (0..BATCH)
                .map(|_| {
                    id += 1;
                    Reentrant { log: Arc::downgrade(&log), id }
                })
                .collect();
            log.append_columns(ts, vals);
            while log.maint_step().unwrap() {}
        }
        // Every drop that ran wrote its record; nothing of the log's own was lost.
        log.flush();
        let snap = log.snapshot();
        let own = snap.range(0..).count();
        assert_eq!(own, rounds as usize * BATCH, "records lost");
        let written = snap.range(DROP_TS..=DROP_TS).count();
        assert!(written > 0, "no value was dropped while the log was alive: the test tests nothing");
        assert!(DROP_WRITES.load(Ordering::SeqCst) > before);
        drop(snap);
        drop(log); // the remaining values' drops find the log gone
    });
}

/// Hazard 4, the cost: the values of one memtable, dropped at once by one drain,
/// each write a record to the log they lived in. With 256-byte memtables every
/// one of those writes filled a memtable; each sealed it, copying a manifest
/// whose memrun list the previous seals had lengthened: quadratic in the values
/// dropped (minutes for a few thousand when a compaction freed them, under CPU
/// contention), and as many memruns and L0 segments for maintenance to work
/// through. Now writes made while their thread drops retired values do not seal;
/// the drain seals once when its drops are done.
#[test]
fn one_drain_of_writing_drops_seals_once() {
    const D: usize = 4096;
    with_deadline("drain-seals-once", || {
        let log = manual_256_byte_log();
        // One sorted batch: one run in one memtable, which the write seals.
        let vals = (0..D as u64).map(|id| Reentrant { log: Arc::downgrade(&log), id }).collect();
        log.append_columns((0..D as i64).collect(), vals);
        let seals = log.stats().seals;
        // Flushing the memrun into an L0 segment (which holds clones) retires it;
        // its values are dropped once the epoch frees it, all in one drain.
        let mut steps = 0u64;
        while log.snapshot().range(DROP_TS..=DROP_TS).count() < D {
            log.maint_step().unwrap();
            steps += 1;
            if steps.is_multiple_of(64) {
                std::thread::yield_now();
            }
        }
        let st = log.stats();
        // Before the fix: D seals, and D memruns in the manifest.
        assert!(st.seals - seals <= 8, "{} seals for {D} drops ({steps} steps): {st:?}", st.seals - seals);
        assert!(st.sealed_memruns <= 8, "{st:?}");
        // The drops' records are all there, and maintenance takes them in as usual.
        log.flush();
        while log.maint_step().unwrap() {}
        let snap = log.snapshot();
        assert_eq!(snap.range(0..).count(), D, "records lost");
        assert!(snap.range(DROP_TS..=DROP_TS).count() >= D);
        assert_eq!(log.stats().sealed_memruns, 0);
        drop(snap);
        drop(log);
    });
}

/// Hazard 4, with threads: writers, the background workers and readers, with
/// values whose drops write to the log, never wait for each other forever; every
/// record written by a writer survives.
#[test]
fn reentrant_drops_under_background_maintenance_never_hang() {
    with_deadline("background-reentrant-drop", || {
        let log = Arc::new(
            Timelog::<Reentrant>::builder()
                .memtable_max_bytes(1 << 10)
                .target_page_bytes(256)
                .max_l0_segments(2)
                .window_size(64)
                .sealed_wait(Duration::ZERO)
                .maintenance_wakeup(Duration::from_millis(1))
                .build()
                .unwrap(),
        );
        let per_writer = 2_000i64;
        std::thread::scope(|s| {
            for w in 0..2i64 {
                let log = &log;
                s.spawn(move || {
                    for i in 0..per_writer {
                        let ts = w * per_writer + i;
                        let v = Reentrant { log: Arc::downgrade(log), id: ts as u64 };
                        if i % 7 == 0 {
                            log.append_batch((0..4).map(|k| (ts, Reentrant { log: v.log.clone(), id: k })));
                        } else {
                            log.append(ts, v);
                        }
                        if i % 500 == 0 {
                            log.delete_range(ts - 3..ts).unwrap();
                        }
                    }
                });
            }
            s.spawn(|| {
                for _ in 0..50 {
                    let snap = log.snapshot();
                    let n = snap.range(0..).count();
                    assert!(n <= 2 * per_writer as usize * 4);
                }
            });
        });
        log.flush();
        assert!(log.snapshot().range(0..).count() > 0);
        drop(log);
    });
}

/// Hazard 1 (memcheck): `Range::new` sorts its sources by first key, and the key
/// read an unwritten word of the `Seqs::From` / `None` variants (a hoisted bounds
/// check). Under memcheck this query, over every kind of source at once (L1 and
/// L0 segments, a sealed memtable, the active memtable's lane run, late pile,
/// batch run and skiplist), must report no error; natively it checks the merge.
#[test]
fn one_range_over_every_source_kind() {
    /// The log and its oracle.
    struct Both {
        log: Timelog<u64>,
        o: Oracle<u64>,
    }
    impl Both {
        fn put(&mut self, ts: i64, v: u64) {
            self.log.append(ts, v);
            self.o.append(ts, v);
        }
        fn batch(&mut self, batch: Vec<(i64, u64)>) {
            self.log.append_batch(batch.clone());
            self.o.append_batch(batch);
        }
    }
    with_deadline("every-source-kind", || {
        let log: Timelog<u64> = Timelog::builder()
            .memtable_max_bytes(256 << 10)
            .ooo_budget_bytes(64 << 10)
            .window_size(1 << 20)
            .maintenance(MaintenanceMode::Manual)
            .build()
            .unwrap();
        let mut b = Both { log, o: Oracle::new() };
        // L1 (flushed and compacted), then L0 (flushed).
        for i in 0..40 {
            b.put(i * 10, i as u64);
        }
        b.log.compact_now();
        for i in 0..40 {
            b.put(i * 10 + 1, 100 + i as u64);
        }
        b.log.flush();
        // A sealed memtable: fill one (lane run, batch runs) until a write seals it.
        let mut v = 1_000u64;
        while b.log.sealed_queue_len() == 0 {
            b.put(v as i64 % 400 + 2, v);
            v += 1;
            if v.is_multiple_of(64) {
                b.batch((0..256).map(|i| ((v as i64 + i * 13) % 400, v + i as u64)).collect());
            }
        }
        // The active memtable: lane run, late records (late piles, then the skiplist
        // once the piles are taken), and a batch run.
        for i in 0..30 {
            b.put(500 + i, 2_000 + i as u64);
        }
        for i in 0..30 {
            b.put(300 - i * 7, 3_000 + i as u64);
        }
        b.batch((0..40).map(|i| ((i * 37) % 450, 4_000 + i as u64)).collect());
        let st = b.log.stats();
        assert!(st.l1_segments > 0 && st.l0_segments > 0 && st.sealed_memruns > 0, "{st:?}");
        assert!(st.memtable_ooo_records > 4, "late piles and skiplist: {st:?}");
        // The merge orders equal timestamps by insertion, as the oracle does.
        let want = b.o.view();
        let snap = b.log.snapshot();
        check_whole(&snap, &want).unwrap();
        for (lo, hi) in [(0, 100), (95, 305), (299, 520), (-5, 3), (449, 10_000)] {
            check_range(&snap, &want, lo..hi).unwrap();
        }
    });
}
