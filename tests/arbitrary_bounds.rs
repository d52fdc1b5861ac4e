//! A property test: on any `i64` bounds — included, excluded or unbounded, at
//! and next to the ends of `i64`, empty and inverted — no read or delete panics,
//! every read agrees with the oracle, and every delete answers as its range's
//! shape says (recorded, empty: `Ok(Clean)`, inverted: `InvalidRange`).
//!
//! `PROPTEST_CASES` sets the number of cases (default 600).

use std::ops::Bound::{self, Excluded, Included, Unbounded};

use proptest::prelude::*;
use timelog::{MaintenanceMode, Timelog};
use timelog_testkit::bounds::Bounds;
use timelog_testkit::check::{check_probe, check_range, scan};
use timelog_testkit::oracle::Oracle;
use timelog_testkit::{proptest_cases, tiny};

fn any_ts() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => -8i64..8,
        2 => Just(i64::MIN),
        2 => Just(i64::MAX),
        1 => Just(i64::MIN + 1),
        1 => Just(i64::MAX - 1),
        2 => any::<i64>(),
    ]
}

fn any_bound() -> impl Strategy<Value = Bound<i64>> {
    prop_oneof![
        2 => any_ts().prop_map(Included),
        2 => any_ts().prop_map(Excluded),
        1 => Just(Unbounded),
    ]
}

#[derive(Debug, Clone)]
enum Probe {
    Range(Bounds),
    Point(i64),
    Next(i64),
    Prev(i64),
    Delete(Bounds),
    DeleteBefore(i64),
    Write(i64),
}

fn probe() -> impl Strategy<Value = Probe> {
    prop_oneof![
        6 => (any_bound(), any_bound()).prop_map(Probe::Range),
        2 => any_ts().prop_map(Probe::Point),
        2 => any_ts().prop_map(Probe::Next),
        2 => any_ts().prop_map(Probe::Prev),
        2 => (any_bound(), any_bound()).prop_map(Probe::Delete),
        1 => any_ts().prop_map(Probe::DeleteBefore),
        2 => any_ts().prop_map(Probe::Write),
    ]
}

fn run_probes(recs: Vec<(i64, u32)>, flush_at: usize, probes: Vec<Probe>) -> Result<(), TestCaseError> {
    let log: Timelog<u32> = tiny(MaintenanceMode::Manual).window_size(5).build().unwrap();
    let mut o = Oracle::new();
    for (i, &(t, v)) in recs.iter().enumerate() {
        if i == flush_at {
            log.compact_now();
        }
        let _ = log.append(t, v);
        o.append(t, v);
    }
    let mut v = 1_000_000u32;
    for p in probes {
        let snap = log.snapshot();
        let want = o.view();
        match p {
            Probe::Range(b) => {
                check_range(&snap, &want, b).map_err(TestCaseError::fail)?;
                prop_assert_eq!(log.count(b), want.count(b));
            }
            Probe::Point(t) => {
                check_probe(&snap, &want, t).map_err(TestCaseError::fail)?;
                prop_assert_eq!(log.point(t), want.point(t));
            }
            Probe::Next(t) => {
                prop_assert_eq!(snap.next_ts(t), want.next_ts(t));
            }
            Probe::Prev(t) => {
                prop_assert_eq!(snap.prev_ts(t), want.prev_ts(t));
            }
            Probe::Delete(b) => {
                let r = log.delete_range(b);
                o.delete(b).check(&r).map_err(|e| TestCaseError::fail(format!("delete {b:?}: {e}")))?;
            }
            Probe::DeleteBefore(t) => {
                let r = log.delete_before(t);
                o.delete_before(t)
                    .check(&r)
                    .map_err(|e| TestCaseError::fail(format!("delete_before({t}): {e}")))?;
            }
            Probe::Write(t) => {
                v += 1;
                let _ = log.append(t, v);
                o.append(t, v);
            }
        }
    }
    let vis = o.visible();
    prop_assert_eq!(scan(&log.snapshot(), ..), vis.clone());
    log.compact_now();
    prop_assert_eq!(scan(&log.snapshot(), ..), vis);
    prop_assert!(log.validate().is_ok());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: proptest_cases(600), ..ProptestConfig::default() })]

    #[test]
    fn no_panic_and_oracle_agreement_on_any_bounds(
        recs in prop::collection::vec((any_ts(), any::<u32>()), 0..30),
        flush_at in 0usize..30,
        probes in prop::collection::vec(probe(), 1..25),
    ) {
        run_probes(recs, flush_at, probes)?;
    }
}
