//! Model-based property test: random operation sequences checked after every
//! step against a trivially correct oracle (a vector of records plus a list of
//! sequenced tombstones). Tiny memtables and pages make seals, flushes and
//! compactions happen all the time; both maintenance modes are exercised.
//!
//! `PROPTEST_CASES` raises the number of cases (default 2,000).

use proptest::prelude::*;
use std::time::Duration;
use timelog::{AdaptiveConfig, MaintenanceMode, Snapshot, Timelog};

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

/// The oracle: every record ever written with its sequence number, and every delete.
#[derive(Clone, Default, Debug)]
struct Oracle {
    recs: Vec<(i64, u64, u32)>,
    tombs: Vec<(i64, i64, u64)>, // inclusive
    seq: u64,
}

impl Oracle {
    fn visible(&self) -> Vec<(i64, u32)> {
        let mut v: Vec<(i64, u64, u32)> = self
            .recs
            .iter()
            .filter(|&&(t, s, _)| !self.tombs.iter().any(|&(a, b, q)| a <= t && t <= b && q > s))
            .copied()
            .collect();
        v.sort_by_key(|&(t, s, _)| (t, s));
        v.into_iter().map(|(t, _, x)| (t, x)).collect()
    }
}

fn in_range(lo: i64, hi_excl: i64) -> impl Fn(&&(i64, u32)) -> bool {
    move |&&(t, _)| t >= lo && t < hi_excl
}

fn check(log_snap: &Snapshot<u32>, o: &Oracle, queries: &[(i64, i64)]) -> Result<(), TestCaseError> {
    let vis = o.visible();
    let got: Vec<(i64, u32)> = log_snap.range(..).map(|(t, v)| (t, *v)).collect();
    prop_assert_eq!(&got, &vis, "full forward scan");
    let mut back: Vec<(i64, u32)> = log_snap.range(..).rev().map(|(t, v)| (t, *v)).collect();
    back.reverse();
    prop_assert_eq!(&back, &vis, "full backward scan");
    prop_assert_eq!(log_snap.count(..), vis.len(), "count(..)");
    prop_assert_eq!(log_snap.first_ts(), vis.first().map(|r| r.0));
    prop_assert_eq!(log_snap.last_ts(), vis.last().map(|r| r.0));
    for &(a, b) in queries {
        let want: Vec<(i64, u32)> = vis.iter().filter(in_range(a, b)).copied().collect();
        let got: Vec<(i64, u32)> = log_snap.range(a..b).map(|(t, v)| (t, *v)).collect();
        prop_assert_eq!(&got, &want, "range {}..{}", a, b);
        let mut back: Vec<(i64, u32)> = log_snap.range(a..b).rev().map(|(t, v)| (t, *v)).collect();
        back.reverse();
        prop_assert_eq!(&back, &want, "reverse range {}..{}", a, b);
        prop_assert_eq!(log_snap.count(a..b), want.len(), "count {}..{}", a, b);
        // Mixed: alternate front and back on the same iterator.
        let mut it = log_snap.range(a..=b);
        let want_incl: Vec<(i64, u32)> = vis.iter().filter(|r| r.0 >= a && r.0 <= b).copied().collect();
        let (mut f, mut bk) = (Vec::new(), Vec::new());
        while let Some((t, v)) = it.next() {
            f.push((t, *v));
            match it.next_back() {
                Some((t, v)) => bk.push((t, *v)),
                None => break,
            }
        }
        bk.reverse();
        f.extend(bk);
        prop_assert_eq!(&f, &want_incl, "interleaved ends {}..={}", a, b);
        let pts: Vec<u32> = log_snap.point(a).copied().collect();
        let want_pts: Vec<u32> = vis.iter().filter(|r| r.0 == a).map(|r| r.1).collect();
        prop_assert_eq!(pts, want_pts, "point {}", a);
        prop_assert_eq!(log_snap.next_ts(a), vis.iter().find(|r| r.0 > a).map(|r| r.0), "next_ts {}", a);
        prop_assert_eq!(
            log_snap.prev_ts(a),
            vis.iter().rev().find(|r| r.0 < a).map(|r| r.0),
            "prev_ts {}",
            a
        );
    }
    Ok(())
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
    let mut o = Oracle::default();
    let mut snaps: Vec<(Snapshot<u32>, Oracle)> = Vec::new();
    let fixed = [(-3i64, 4i64), (i64::MIN, i64::MIN + 2), (i64::MAX - 1, i64::MAX), (0, 1)];
    for op in ops {
        let mut queries: Vec<(i64, i64)> = fixed.to_vec();
        match op {
            Op::Append(t, v) => {
                o.seq += 1;
                o.recs.push((t, o.seq, v));
                let _ = log.append(t, v);
            }
            Op::Batch(b) => {
                for &(t, v) in &b {
                    o.seq += 1;
                    o.recs.push((t, o.seq, v));
                }
                let _ = log.append_batch(b);
            }
            Op::Delete(a, b) => {
                let r = log.delete_range(a..b);
                if a < b {
                    prop_assert!(r.is_ok());
                    o.seq += 1;
                    o.tombs.push((a, b - 1, o.seq));
                } else if a == b {
                    prop_assert_eq!(r, Ok(timelog::Accepted::Clean), "an empty delete succeeds");
                } else {
                    prop_assert_eq!(r, Err(timelog::Error::InvalidRange));
                }
            }
            Op::DeleteBefore(t) => {
                let r = log.delete_before(t);
                if t > i64::MIN {
                    prop_assert!(r.is_ok());
                    o.seq += 1;
                    o.tombs.push((i64::MIN, t - 1, o.seq));
                } else {
                    prop_assert_eq!(
                        r,
                        Ok(timelog::Accepted::Clean),
                        "delete_before(i64::MIN) deletes nothing"
                    );
                }
            }
            Op::Snapshot => snaps.push((log.snapshot(), o.clone())),
            Op::Flush => log.flush(),
            Op::Compact => log.compact_now(),
            Op::Step => {
                let r = log.maint_step();
                prop_assert_eq!(r.is_err(), setup.background);
            }
            Op::Query(a, b) => queries.push((a, b)),
        }
        let snap = log.snapshot();
        check(&snap, &o, &queries)?;
        prop_assert_eq!(log.stats().records, o.visible().len(), "stats().records");
        if let Err(e) = log.validate() {
            return Err(TestCaseError::fail(format!("validate: {e}")));
        }
        for (s, so) in &snaps {
            check(s, so, &[])?;
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 4000, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_oracle(setup in setup(), ops in prop::collection::vec(op(), 1..60)) {
        run(setup, ops)?;
    }
}
