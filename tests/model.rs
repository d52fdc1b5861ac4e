//! Model-based property test: random operation sequences checked after every
//! step against a trivially correct oracle (a vector of records plus a list of
//! sequenced tombstones). Tiny memtables and pages make seals, flushes and
//! compactions happen all the time; both maintenance modes are exercised.
//!
//! `PROPTEST_CASES` raises the number of cases (default 2,000).

use std::ops::Bound::{Excluded, Included};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use timelog::{AdaptiveConfig, MaintenanceMode, Snapshot, Timelog};
use timelog_testkit::bounds::Bounds;
use timelog_testkit::check::check_snapshot;
use timelog_testkit::oracle::Oracle;
use timelog_testkit::proptest_cases;

#[derive(Debug, Clone)]
enum Op {
    Append(i64, u32),
    Batch(Vec<(i64, u32)>),
    Delete(i64, i64),
    DeleteBefore(i64),
    Snapshot,
    Flush,
    Compact,
    Step,
    Query(i64, i64),
}

fn ts() -> impl Strategy<Value = i64> {
    prop_oneof![
        8 => -12i64..12,
        1 => Just(i64::MIN),
        1 => Just(i64::MAX),
        1 => Just(i64::MIN + 1),
        1 => Just(i64::MAX - 1),
        1 => any::<i64>(),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (ts(), any::<u32>()).prop_map(|(t, v)| Op::Append(t, v)),
        4 => prop::collection::vec((ts(), any::<u32>()), 0..40).prop_map(Op::Batch),
        3 => nearly_sorted_batch(),
        3 => (ts(), ts()).prop_map(|(a, b)| Op::Delete(a, b)),
        1 => ts().prop_map(Op::DeleteBefore),
        2 => Just(Op::Snapshot),
        2 => Just(Op::Flush),
        2 => Just(Op::Compact),
        3 => Just(Op::Step),
        3 => (ts(), ts()).prop_map(|(a, b)| Op::Query(a, b)),
    ]
}

/// A batch as ingest usually brings it: sorted, with a few records moved back,
/// many equal timestamps, and long enough for the batch-run path (16 or more).
fn nearly_sorted_batch() -> impl Strategy<Value = Op> {
    (
        prop::collection::vec((-12i64..12, any::<u32>()), 16..48),
        prop::collection::vec((any::<prop::sample::Index>(), 1i64..6), 0..4),
    )
        .prop_map(|(mut b, moves)| {
            b.sort_by_key(|r| r.0);
            for (i, back) in moves {
                let k = i.index(b.len());
                b[k].0 -= back;
            }
            Op::Batch(b)
        })
}

/// Checks `snap` against the oracle at `seq`: the whole snapshot, and for each
/// query `(a, b)` the ranges `a..b` and `a..=b` (from the front, the back and both
/// ends in turn) and the reads at `a` (point, next_ts, prev_ts).
fn check(
    snap: &Snapshot<u32>,
    o: &Oracle<u32>,
    seq: u64,
    queries: &[(i64, i64)],
) -> Result<(), TestCaseError> {
    let ranges: Vec<Bounds> =
        queries.iter().flat_map(|&(a, b)| [(Included(a), Excluded(b)), (Included(a), Included(b))]).collect();
    let probes: Vec<i64> = queries.iter().map(|q| q.0).collect();
    check_snapshot(snap, &o.view_at(seq), &ranges, &probes).map_err(TestCaseError::fail)
}

#[derive(Debug, Clone)]
struct Setup {
    memtable: usize,
    page: usize,
    max_l0: usize,
    window: i64,
    sealed: usize,
    background: bool,
    /// Adaptive window sizing with this target (0: off), so windows change size
    /// between compactions.
    adaptive: u64,
    /// Share of deleted records that gets a segment rewritten.
    dead_fraction: f64,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        64usize..1500,
        256usize..600,
        1usize..4,
        prop_oneof![1i64..40, Just(i64::MAX / 3)],
        1usize..4,
        prop::bool::weighted(0.3),
        prop_oneof![3 => Just(0u64), 1 => 1u64..20],
        prop_oneof![Just(0.25), Just(1.0), 0.01f64..1.0],
    )
        .prop_map(|(memtable, page, max_l0, window, sealed, background, adaptive, dead_fraction)| {
            Setup { memtable, page, max_l0, window, sealed, background, adaptive, dead_fraction }
        })
}

fn run(setup: Setup, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let log: Timelog<u32> = Timelog::builder()
        .memtable_max_bytes(setup.memtable)
        .target_page_bytes(setup.page)
        .max_l0_segments(setup.max_l0)
        .window_size(setup.window)
        .sealed_max_runs(setup.sealed)
        .sealed_wait(Duration::ZERO)
        .segment_dead_fraction(setup.dead_fraction)
        .maintenance_wakeup(Duration::from_millis(1))
        .maintenance(if setup.background { MaintenanceMode::Background } else { MaintenanceMode::Manual })
        .adaptive(AdaptiveConfig {
            target_records: setup.adaptive,
            warmup_flushes: 1,
            hysteresis_pct: 0,
            max_window: 1000,
            ..AdaptiveConfig::default()
        })
        .build()
        .unwrap();
    let mut o = Oracle::new();
    let mut snaps: Vec<(Snapshot<u32>, u64)> = Vec::new();
    let fixed = [(-3i64, 4i64), (i64::MIN, i64::MIN + 2), (i64::MAX - 1, i64::MAX), (0, 1)];
    let mut saw_patches = false;
    for op in ops {
        let mut queries: Vec<(i64, i64)> = fixed.to_vec();
        match op {
            Op::Append(t, v) => {
                o.append(t, v);
                let _ = log.append(t, v);
            }
            Op::Batch(b) => {
                o.append_batch(b.clone());
                let _ = log.append_batch(b);
            }
            Op::Delete(a, b) => {
                // Recorded if a < b; empty (Ok(Clean)) if a == b; inverted if a > b.
                let r = log.delete_range(a..b);
                o.delete(a..b).check(&r).map_err(|e| TestCaseError::fail(format!("delete {a}..{b}: {e}")))?;
            }
            Op::DeleteBefore(t) => {
                // delete_before(i64::MIN) deletes nothing.
                let r = log.delete_before(t);
                o.delete_before(t)
                    .check(&r)
                    .map_err(|e| TestCaseError::fail(format!("delete_before({t}): {e}")))?;
            }
            Op::Snapshot => snaps.push((log.snapshot(), o.seq())),
            Op::Flush => log.flush(),
            Op::Compact => log.compact_now(),
            Op::Step => {
                let r = log.maint_step();
                prop_assert_eq!(r.is_err(), setup.background);
            }
            Op::Query(a, b) => queries.push((a, b)),
        }
        let snap = log.snapshot();
        check(&snap, &o, o.seq(), &queries)?;
        let st = log.stats();
        prop_assert_eq!(st.records, o.view().len(), "stats().records");
        saw_patches |= st.patch_segments > 0;
        if let Err(e) = log.validate() {
            return Err(TestCaseError::fail(format!("validate: {e}")));
        }
        for (s, seq) in &snaps {
            check(s, &o, *seq, &[])?;
        }
    }
    if saw_patches {
        WITH_PATCHES.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Cases in which compaction laid patches over L1 (counted so that the test
/// shows it exercised them).
static WITH_PATCHES: AtomicUsize = AtomicUsize::new(0);

#[test]
fn engine_matches_oracle() {
    let cases = proptest_cases(2000);
    // (`source_file`: failures persisted and replayed from `model.proptest-regressions`.)
    let cfg = ProptestConfig {
        cases,
        max_shrink_iters: 4000,
        source_file: Some(file!()),
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(cfg);
    let strategy = (setup(), prop::collection::vec(op(), 1..60));
    if let Err(e) = runner.run(&strategy, |(setup, ops)| run(setup, ops)) {
        panic!("{e}");
    }
    let with = WITH_PATCHES.load(Ordering::Relaxed);
    eprintln!("{with} of {cases} cases made patches");
    assert!(with * 10 >= cases as usize, "only {with} of {cases} cases made patches");
}
