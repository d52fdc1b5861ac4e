//! `Timelog::evict` moves out exactly what its snapshot saw: model-based, against
//! the oracle with bounded deletes. Random writes, deletes, flushes and
//! compaction steps run *inside* the export (late records into the evicted range
//! among them, sealed, flushed and offered to compaction while the archive's
//! delete is pending), and after every operation the log must equal the oracle,
//! and what the export saw must be the oracle's snapshot of the range. Also: a
//! failing or panicking export deletes nothing, and with background maintenance
//! and a concurrent writer, evicted ∪ log = everything written, each once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use proptest::prelude::*;
use timelog::{Error, MaintenanceMode, Timelog};
use timelog_testkit::check::check_whole;
use timelog_testkit::oracle::Oracle;
use timelog_testkit::{proptest_cases, tiny};

#[derive(Debug, Clone)]
enum Op {
    Append(i64),
    Batch(Vec<i64>),
    Delete(i64, i64),
    Flush,
    Compact,
    Step,
    Evict(i64, i64, Vec<Op>),
}

fn plain_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0i64..40).prop_map(Op::Append),
        2 => proptest::collection::vec(0i64..40, 1..40).prop_map(Op::Batch),
        1 => (0i64..40, 0i64..15).prop_map(|(a, n)| Op::Delete(a, a + n)),
        1 => Just(Op::Flush),
        1 => Just(Op::Compact),
        3 => Just(Op::Step),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => plain_op(),
        2 => (0i64..40, 0i64..25, proptest::collection::vec(plain_op(), 0..12))
            .prop_map(|(a, n, inner)| Op::Evict(a, a + n, inner)),
    ]
}

/// The oracle and the next value (values are unique: the write's number).
#[derive(Default)]
struct State {
    oracle: Oracle<u64>,
    next: u64,
}

/// Runs `op` on the log and the oracle, then compares them.
fn run(log: &Timelog<u64>, st: &mut State, op: &Op) -> Result<(), String> {
    match op {
        Op::Append(ts) => {
            st.next += 1;
            let _ = log.append(*ts, st.next);
            st.oracle.append(*ts, st.next);
        }
        Op::Batch(tss) => {
            let batch: Vec<(i64, u64)> = tss
                .iter()
                .map(|&t| {
                    st.next += 1;
                    (t, st.next)
                })
                .collect();
            let _ = log.append_batch(batch.clone());
            st.oracle.append_batch(batch);
        }
        Op::Delete(a, b) => {
            let want = st.oracle.delete(*a..*b);
            want.check(&log.delete_range(*a..*b))?;
        }
        Op::Flush => log.flush(),
        Op::Compact => {
            log.compact();
            let _ = log.maint_step();
        }
        Op::Step => {
            let _ = log.maint_step();
        }
        Op::Evict(a, b, inner) => {
            let seen = st.oracle.seq();
            let want = st.oracle.view_at(seen).range(*a..*b);
            let mut failed = None;
            let got = log.evict(*a..*b, |snap| {
                let got: Vec<(i64, u64)> = snap.range(*a..*b).map(|(t, v)| (t, *v)).collect();
                for op in inner {
                    if let Err(e) = run(log, st, op) {
                        failed = Some(format!("inside the export: {e}"));
                        break;
                    }
                }
                Ok(got)
            });
            if let Some(e) = failed {
                return Err(e);
            }
            let got = got.map_err(|e| format!("evict failed: {e}"))?;
            if got != want {
                return Err(format!("evict [{a}, {b}) saw {got:?}, the snapshot holds {want:?}"));
            }
            st.oracle.delete_seen(*a..*b, seen);
        }
    }
    check_whole(&log.snapshot(), &st.oracle.view()).map_err(|e| format!("after {op:?}: {e}"))?;
    log.validate().map_err(|e| format!("after {op:?}: {e}"))
}

fn manual() -> Timelog<u64> {
    tiny(MaintenanceMode::Manual).build().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: proptest_cases(600), max_shrink_iters: 4000, ..ProptestConfig::default() })]

    #[test]
    fn evict_deletes_exactly_what_its_snapshot_saw(ops in proptest::collection::vec(op(), 1..40)) {
        let log = manual();
        let mut st = State::default();
        for op in &ops {
            if let Err(e) = run(&log, &mut st, op) {
                prop_assert!(false, "{}", e);
            }
        }
        // Everything settled: compaction applied every delete.
        log.compact_now();
        let final_check = check_whole(&log.snapshot(), &st.oracle.view());
        prop_assert!(final_check.is_ok(), "after compact_now: {:?}", final_check);
    }
}

/// A scenario that makes compaction meet the fence: records before the snapshot
/// in L0 and L1, late records into the range flushed during the export, and a
/// forced compaction while the delete is pending. The late records survive, the
/// seen ones go, and compaction took only the L0 segments below the bound.
#[test]
fn compaction_waits_for_the_delete_and_late_records_survive() {
    let log = manual();
    let _ = log.append_batch((0..100).map(|t| (t, t as u64)));
    log.compact_now();
    let _ = log.append_batch((0..50).map(|t| (t, 1000 + t as u64)));
    log.flush();
    let shipped = log
        .evict(0..80, |snap| {
            let rows = snap.count(0..80);
            // Late: into the range, sealed and flushed to L0 during the export.
            let _ = log.append_batch((10..20).map(|t| (t, 5000 + t as u64)));
            log.flush();
            log.compact();
            while log.maint_step().unwrap() {}
            // Compaction merged what was written before the seal point and left
            // the late records' segment in L0, for after the delete.
            let st = log.stats();
            assert_eq!(st.l0_segments, 1, "a merge across the bound: {st:?}");
            Ok(rows)
        })
        .unwrap();
    assert_eq!(shipped, 130);
    let want: Vec<(i64, u64)> =
        (10..20).map(|t| (t, 5000 + t as u64)).chain((80..100).map(|t| (t, t as u64))).collect();
    assert_eq!(log.range_vec(..), want);
    log.compact_now();
    assert_eq!(log.range_vec(..), want);
    log.validate().unwrap();
    let st = log.stats();
    assert_eq!((st.l0_segments, st.records, st.dead_records), (0, 30, 0), "{st:?}");
}

/// An export that fails or panics deletes nothing and leaves no fence behind.
#[test]
fn a_failed_or_panicking_export_deletes_nothing() {
    let log = manual();
    let _ = log.append_batch((0..100).map(|t| (t, t as u64)));
    let err = log.evict(..50, |_| Err::<(), _>(Error::Io("disk full".into())));
    assert_eq!(err, Err(Error::Io("disk full".into())));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = log.evict(..50, |_| -> timelog::Result<()> { panic!("encoder bug") });
    }));
    assert!(caught.is_err());
    assert_eq!(log.snapshot().count(..), 100);
    let (five, three) = (5, 3);
    assert_eq!(log.evict(five..three, |_| Ok(())), Err(Error::InvalidRange));
    assert_eq!(log.evict(5..5, |snap| Ok(snap.count(..))), Ok(100), "an empty range deletes nothing");
    // No fence is left: a full compaction runs and puts nothing off.
    let before = log.stats().compactions_fenced;
    let _ = log.append_batch((0..10).map(|t| (t, t as u64)));
    log.compact_now();
    assert_eq!(log.stats().compactions_fenced, before);
    assert_eq!(log.snapshot().count(..), 110);
}

/// Background maintenance, a tiny memtable and a writer appending into the
/// evicted ranges all along: evicted ∪ log = everything written, each once.
#[test]
fn evicted_and_kept_partition_everything_written_under_concurrent_writers() {
    let log = Arc::new(tiny::<u64>(MaintenanceMode::Background).build().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (log, stop) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            // (Bounded, so that a slow evict fails the test instead of filling memory.)
            while (!stop.load(Ordering::Relaxed) || n < 20_000) && n < 3_000_000 {
                // Mostly in time order, one in four late (anywhere behind).
                let ts = if n % 4 == 3 { (n * 7919 % (n + 1)) as i64 } else { n as i64 };
                let _ = log.append(ts, n);
                n += 1;
            }
            n
        })
    };
    let mut evicted: Vec<u64> = Vec::new();
    for round in 0..40i64 {
        let hi = round * 500;
        let rows = log.evict(..hi, |snap| Ok(snap.range(..hi).map(|(_, v)| *v).collect::<Vec<_>>())).unwrap();
        evicted.extend(rows);
        if std::env::var("EVICT_DEBUG").is_ok() {
            eprintln!("round {round}: {:?}", log.stats());
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    log.flush();
    let mut all: Vec<u64> = evicted;
    all.extend(log.snapshot().range(..).map(|(_, v)| *v));
    all.sort_unstable();
    let n = all.len();
    all.dedup();
    assert_eq!(all.len(), n, "a record was both evicted and kept, or evicted twice");
    assert_eq!(all, (0..written).collect::<Vec<_>>(), "a record was lost");
    log.validate().unwrap();
}
