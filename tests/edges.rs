//! Edge cases of the public API, each checked against a trivially correct oracle:
//! records at `i64::MIN` / `i64::MAX` through every layer and every range shape
//! that touches them; an empty log; a log whose every record is deleted (and then
//! written again); duplicate-heavy data keeping insertion order across flush and
//! compaction; empty and inverted ranges (reads are empty, deletes are
//! `Error::InvalidRange`); every invalid configuration field rejected with its
//! name (and the documented boundaries accepted); maintenance-mode errors and
//! worker stop/start; backpressure reporting; and a property test that no read or
//! delete panics or disagrees with the oracle on any `i64` bounds.

use std::ops::Bound::{self, Excluded, Included, Unbounded};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use timelog::{Accepted, AdaptiveConfig, Builder, Error, MaintenanceMode, Snapshot, TimeUnit, Timelog};

const MODES: [MaintenanceMode; 2] = [MaintenanceMode::Manual, MaintenanceMode::Background];

fn tiny<V: timelog::Value>(mode: MaintenanceMode) -> Builder<V> {
    Timelog::builder()
        .memtable_max_bytes(256)
        .target_page_bytes(256)
        .max_l0_segments(1)
        .sealed_wait(Duration::ZERO)
        .maintenance_wakeup(Duration::from_millis(1))
        .maintenance(mode)
}

type Bounds = (Bound<i64>, Bound<i64>);

fn in_bounds(t: i64, b: &Bounds) -> bool {
    let lo_ok = match b.0 {
        Included(a) => t >= a,
        Excluded(a) => t > a,
        Unbounded => true,
    };
    let hi_ok = match b.1 {
        Included(z) => t <= z,
        Excluded(z) => t < z,
        Unbounded => true,
    };
    lo_ok && hi_ok
}

/// Whether `b` contains at least one `i64`.
/// Whether `b` is inverted (its half-open start lies after its end, like `5..3`):
/// a delete over it is an error, while an empty one (`5..5`) deletes nothing.
fn inverted(b: &Bounds) -> bool {
    let start: i128 = match b.0 {
        Included(a) => a as i128,
        Excluded(a) => a as i128 + 1,
        Unbounded => i64::MIN as i128,
    };
    let end: i128 = match b.1 {
        Included(z) => z as i128 + 1,
        Excluded(z) => z as i128,
        Unbounded => i64::MAX as i128 + 1,
    };
    start > end
}

fn non_empty(b: &Bounds) -> bool {
    let lo: i128 = match b.0 {
        Included(a) => a as i128,
        Excluded(a) => a as i128 + 1,
        Unbounded => i64::MIN as i128,
    };
    let hi: i128 = match b.1 {
        Included(z) => z as i128,
        Excluded(z) => z as i128 - 1,
        Unbounded => i64::MAX as i128,
    };
    lo <= hi && lo <= i64::MAX as i128 && hi >= i64::MIN as i128
}

/// A trivially correct model: every write with its sequence number, and every delete.
#[derive(Default, Clone, Debug)]
struct Oracle {
    recs: Vec<(i64, u64, u32)>,
    tombs: Vec<(Bounds, u64)>,
    seq: u64,
}

impl Oracle {
    fn write(&mut self, t: i64, v: u32) {
        self.seq += 1;
        self.recs.push((t, self.seq, v));
    }
    fn delete(&mut self, b: Bounds) {
        self.seq += 1;
        self.tombs.push((b, self.seq));
    }
    /// Visible records in read order: by ts, then write order.
    fn visible(&self) -> Vec<(i64, u32)> {
        let mut v: Vec<(i64, u64, u32)> = self
            .recs
            .iter()
            .filter(|&&(t, s, _)| !self.tombs.iter().any(|(b, q)| *q > s && in_bounds(t, b)))
            .copied()
            .collect();
        v.sort_by_key(|&(t, s, _)| (t, s));
        v.into_iter().map(|(t, _, x)| (t, x)).collect()
    }
}

fn scan(snap: &Snapshot<u32>, b: Bounds) -> Vec<(i64, u32)> {
    snap.range(b).map(|(t, v)| (t, *v)).collect()
}

fn scan_back(snap: &Snapshot<u32>, b: Bounds) -> Vec<(i64, u32)> {
    let mut v: Vec<(i64, u32)> = snap.range(b).rev().map(|(t, v)| (t, *v)).collect();
    v.reverse();
    v
}

/// Checks every read method of `snap` on the range `b` against `vis`.
fn check_range(snap: &Snapshot<u32>, vis: &[(i64, u32)], b: Bounds) {
    let want: Vec<(i64, u32)> = vis.iter().filter(|r| in_bounds(r.0, &b)).copied().collect();
    assert_eq!(scan(snap, b), want, "range {b:?}");
    assert_eq!(scan_back(snap, b), want, "reverse range {b:?}");
    assert_eq!(snap.count(b), want.len(), "count {b:?}");
}

/// Checks the whole snapshot, a set of ranges around the extremes, navigation and
/// point lookups against `vis`.
fn check_all(snap: &Snapshot<u32>, vis: &[(i64, u32)], probes: &[i64]) {
    let ranges: Vec<Bounds> = vec![
        (Unbounded, Unbounded),
        (Included(i64::MIN), Included(i64::MIN)),
        (Included(i64::MAX - 1), Included(i64::MAX)),
        (Unbounded, Included(i64::MAX)),
        (Unbounded, Excluded(i64::MAX)),
        (Included(i64::MIN), Excluded(i64::MAX)),
        (Excluded(i64::MIN), Unbounded),
        (Included(i64::MAX), Unbounded),
        (Included(i64::MAX), Included(i64::MAX)),
        (Unbounded, Included(i64::MIN)),
        (Unbounded, Excluded(i64::MIN + 1)),
        (Included(i64::MIN), Included(i64::MIN + 1)),
        (Excluded(i64::MAX - 1), Unbounded),
        (Included(-1), Included(1)),
    ];
    for b in ranges {
        check_range(snap, vis, b);
    }
    assert_eq!(snap.first_ts(), vis.first().map(|r| r.0), "first_ts");
    assert_eq!(snap.last_ts(), vis.last().map(|r| r.0), "last_ts");
    assert_eq!(snap.is_empty(), vis.is_empty());
    assert_eq!(snap.len(), vis.len());
    assert_eq!(snap.next_ts(i64::MAX), None, "next_ts(MAX)");
    assert_eq!(snap.prev_ts(i64::MIN), None, "prev_ts(MIN)");
    for &p in probes {
        let pts: Vec<u32> = snap.point(p).copied().collect();
        let want: Vec<u32> = vis.iter().filter(|r| r.0 == p).map(|r| r.1).collect();
        assert_eq!(pts, want, "point({p})");
        let back: Vec<u32> = snap.point(p).rev().copied().collect();
        assert_eq!(back, want.iter().rev().copied().collect::<Vec<_>>());
        assert_eq!(snap.next_ts(p), vis.iter().find(|r| r.0 > p).map(|r| r.0), "next_ts({p})");
        assert_eq!(snap.prev_ts(p), vis.iter().rev().find(|r| r.0 < p).map(|r| r.0), "prev_ts({p})");
    }
}

const PROBES: [i64; 8] = [i64::MIN, i64::MIN + 1, i64::MIN + 2, -1, 0, i64::MAX - 2, i64::MAX - 1, i64::MAX];

#[test]
fn extreme_timestamps_through_every_layer() {
    let configs: [(i64, i64); 5] =
        [(1, 0), (3_600_000, 0), (i64::MAX, 0), (7, i64::MAX), (1 << 62, i64::MIN)];
    for mode in MODES {
        for (window, origin) in configs {
            let log: Timelog<u32> = tiny(mode).window_size(window).window_origin(origin).build().unwrap();
            let mut o = Oracle::default();
            let mut v = 0u32;
            let mut put = |o: &mut Oracle, t: i64| {
                v += 1;
                let _ = log.append(t, v);
                o.write(t, v);
            };
            for t in [i64::MAX, i64::MIN, 0, i64::MIN + 1, i64::MAX - 1, i64::MIN] {
                put(&mut o, t);
            }
            put(&mut o, i64::MAX);
            let stage = |o: &Oracle, what: &str| {
                let snap = log.snapshot();
                let vis = o.visible();
                check_all(&snap, &vis, &PROBES);
                assert_eq!(log.stats().records, vis.len(), "{what}: stats().records");
                log.validate().unwrap_or_else(|e| panic!("{mode:?} w={window} o={origin} {what}: {e}"));
            };
            stage(&o, "singles in the memtable");
            // A large unsorted batch and a small one, both with extremes.
            let big: Vec<(i64, u32)> = (0..24u32)
                .map(|i| {
                    let t = match i % 4 {
                        0 => i64::MAX,
                        1 => i64::MIN,
                        2 => i64::MAX - 1,
                        _ => i64::MIN + 1,
                    };
                    (t, 1000 + i)
                })
                .collect();
            for &(t, x) in &big {
                o.write(t, x);
            }
            let _ = log.append_batch(big);
            let small = [(i64::MIN, 2000), (i64::MAX, 2001), (i64::MIN, 2002)];
            for &(t, x) in &small {
                o.write(t, x);
            }
            let _ = log.append_batch(small);
            stage(&o, "batches");
            log.flush();
            stage(&o, "after flush");
            log.compact_now();
            stage(&o, "after compaction");
            put(&mut o, i64::MAX);
            put(&mut o, i64::MIN);
            stage(&o, "new writes over L1");
            // Deletes touching the extremes.
            log.delete_range(i64::MAX..=i64::MAX).unwrap();
            o.delete((Included(i64::MAX), Included(i64::MAX)));
            stage(&o, "delete MAX..=MAX");
            log.delete_range(..=i64::MIN).unwrap();
            o.delete((Unbounded, Included(i64::MIN)));
            stage(&o, "delete ..=MIN");
            put(&mut o, i64::MAX);
            put(&mut o, i64::MIN);
            stage(&o, "rewrite after delete");
            log.flush();
            log.compact_now();
            stage(&o, "compacted after deletes");
            log.delete_range((Excluded(i64::MIN), Excluded(i64::MAX))).unwrap();
            o.delete((Excluded(i64::MIN), Excluded(i64::MAX)));
            log.compact_now();
            stage(&o, "only the extremes left");
            let vis = o.visible();
            assert!(vis.iter().all(|r| r.0 == i64::MIN || r.0 == i64::MAX));
            assert_eq!(log.next_ts(i64::MIN), Some(i64::MAX));
            assert_eq!(log.prev_ts(i64::MAX), Some(i64::MIN));
        }
    }
}

#[test]
fn empty_log_reads_nothing() {
    for mode in MODES {
        let log: Timelog<u32> = tiny(mode).build().unwrap();
        let check = |what: &str| {
            assert_eq!(log.count(..), 0, "{what}");
            assert_eq!(log.len(), 0);
            assert!(log.is_empty());
            assert!(log.range_vec(..).is_empty());
            assert!(log.range_vec(i64::MIN..=i64::MAX).is_empty());
            for p in PROBES {
                assert!(log.point(p).is_empty());
                assert_eq!(log.next_ts(p), None);
                assert_eq!(log.prev_ts(p), None);
            }
            assert_eq!(log.first_ts(), None);
            assert_eq!(log.last_ts(), None);
            let snap = log.snapshot();
            check_all(&snap, &[], &PROBES);
            assert!(snap.range(..).next().is_none());
            assert!(snap.range(..).next_back().is_none());
            let st = log.stats();
            assert_eq!(st.records, 0, "{what}: {st:?}");
            assert_eq!(st.l0_segments, 0, "{what}: {st:?}");
            assert_eq!(st.l1_segments, 0, "{what}: {st:?}");
            assert_eq!(st.pages, 0, "{what}: {st:?}");
            assert_eq!(st.min_ts, None, "{what}: {st:?}");
            assert_eq!(st.max_ts, None, "{what}: {st:?}");
            assert_eq!(st.tombstones, 0, "{what}: {st:?}");
            assert_eq!(st.memtable_records, 0, "{what}: {st:?}");
            assert_eq!(st.memtable_ooo_records, 0, "{what}: {st:?}");
            assert_eq!(st.sealed_memruns, 0, "{what}: {st:?}");
            assert_eq!(st.compactions, 0, "{what}: {st:?}");
            log.validate().unwrap();
        };
        check("fresh");
        assert_eq!(log.append_batch(Vec::<(i64, u32)>::new()), Accepted::Clean);
        assert_eq!(log.append_columns(Vec::new(), Vec::new()), Accepted::Clean);
        check("empty batches");
        log.flush();
        check("after flush");
        log.compact_now();
        check("after compact_now");
        if mode == MaintenanceMode::Manual {
            assert_eq!(log.maint_step(), Ok(false));
        }
        check("after maintenance");
    }
}

#[test]
fn all_deleted_then_written_again() {
    for mode in MODES {
        let log: Timelog<u32> = tiny(mode).window_size(100).build().unwrap();
        let mut o = Oracle::default();
        let mut v = 0u32;
        // Data in L1, L0, sealed memruns and the active memtable (skiplist, lanes, runs).
        for round in 0..6i64 {
            for i in 0..30 {
                v += 1;
                let t = round * 100 + (i * 37) % 100;
                let _ = log.append(t, v);
                o.write(t, v);
            }
            let batch: Vec<(i64, u32)> = (0..20)
                .map(|i| {
                    v += 1;
                    (round * 100 + (i * 53) % 100, v)
                })
                .collect();
            for &(t, x) in &batch {
                o.write(t, x);
            }
            let _ = log.append_batch(batch);
            match round {
                1 => log.compact_now(),
                3 => log.flush(),
                _ => {}
            }
        }
        let written: Vec<i64> = o.recs.iter().map(|r| r.0).collect();
        assert_eq!(log.count(..), o.visible().len());
        let before = log.snapshot();
        log.delete_range(..).unwrap();
        o.delete((Unbounded, Unbounded));
        let hidden = log.snapshot();
        let check_hidden = |snap: &Snapshot<u32>| {
            assert!(snap.is_empty());
            assert_eq!(snap.count(..), 0);
            assert!(snap.range(..).next().is_none());
            assert!(snap.range(..).next_back().is_none());
            assert_eq!(snap.first_ts(), None);
            assert_eq!(snap.last_ts(), None);
            assert_eq!(snap.next_ts(i64::MIN), None);
            assert_eq!(snap.prev_ts(i64::MAX), None);
            for &t in &written {
                assert_eq!(snap.point(t).count(), 0, "point({t})");
            }
        };
        check_hidden(&hidden);
        assert_eq!(log.stats().records, 0);
        log.validate().unwrap();
        log.flush();
        log.compact_now();
        check_hidden(&log.snapshot());
        let st = log.stats();
        assert_eq!(
            (st.records, st.l0_segments, st.l1_segments, st.min_ts),
            (0, 0, 0, None),
            "{mode:?}: compaction must drop every deleted record: {st:?}"
        );
        log.validate().unwrap();
        // Writes after the delete are visible, at the same timestamps.
        for (i, &t) in written.iter().enumerate().step_by(7) {
            let _ = log.append(t, 100_000 + i as u32);
            o.write(t, 100_000 + i as u32);
        }
        let _ = log.append_batch((0..20).map(|i| (i * 10, 200_000 + i as u32)));
        for i in 0..20 {
            o.write(i * 10, 200_000 + i as u32);
        }
        check_all(&log.snapshot(), &o.visible(), &[0, 10, 37, 500]);
        assert_eq!(scan(&log.snapshot(), (Unbounded, Unbounded)), o.visible());
        // The snapshots taken around the delete never change.
        check_hidden(&hidden);
        let mut o_before = o.clone();
        o_before.recs.retain(|r| r.2 < 100_000);
        o_before.tombs.clear();
        assert_eq!(
            scan(&before, (Unbounded, Unbounded)),
            o_before.visible(),
            "{mode:?}: snapshot from before the delete"
        );
        log.compact_now();
        assert_eq!(scan(&log.snapshot(), (Unbounded, Unbounded)), o.visible());
        log.validate().unwrap();
    }
}

/// Expected values at `ts` 7 are `want`, forward and backward, and nothing else is there.
fn check_dups(log: &Timelog<u32>, want: &[u32], what: &str) {
    let snap = log.snapshot();
    let got: Vec<u32> = snap.point(7).copied().collect();
    assert!(got == want, "{what}: point(7) lost insertion order");
    let back: Vec<u32> = snap.range(7..=7).rev().map(|(_, v)| *v).collect();
    assert!(back.iter().eq(want.iter().rev()), "{what}: reverse point(7) lost insertion order");
    let all: Vec<u32> = snap.range(..).map(|(_, v)| *v).collect();
    assert!(all == want, "{what}: full scan");
    assert_eq!(snap.count(..), want.len(), "{what}");
    assert_eq!(snap.count(7..8), want.len(), "{what}");
    assert_eq!(snap.next_ts(6), Some(7));
    assert_eq!(snap.next_ts(7), None);
    assert_eq!(snap.prev_ts(8), Some(7));
    assert_eq!(snap.prev_ts(7), None);
}

#[test]
fn ten_thousand_duplicates_keep_write_order() {
    for mode in MODES {
        let log: Timelog<u32> = Timelog::builder()
            .memtable_max_bytes(4096)
            .target_page_bytes(256)
            .max_l0_segments(2)
            .sealed_wait(Duration::ZERO)
            .maintenance_wakeup(Duration::from_millis(1))
            .maintenance(mode)
            .build()
            .unwrap();
        let mut want: Vec<u32> = Vec::new();
        let mut round = 0usize;
        while want.len() < 10_000 {
            round += 1;
            // Batches of every size from 1 to 40 (below and above the run threshold).
            let n = (round % 40) + 1;
            let start = want.len() as u32;
            let _ = log.append_batch((0..n as u32).map(|i| (7, start + i)));
            want.extend(start..start + n as u32);
            for _ in 0..(round % 5) {
                let x = want.len() as u32;
                let _ = log.append(7, x);
                want.push(x);
            }
            if round.is_multiple_of(50) && mode == MaintenanceMode::Manual {
                let _ = log.maint_step().unwrap();
            }
            if round.is_multiple_of(150) {
                check_dups(&log, &want, &format!("{mode:?} round {round}"));
            }
            if round == 200 {
                log.flush();
            }
            if round == 300 {
                log.compact_now();
            }
        }
        check_dups(&log, &want, &format!("{mode:?} before flush"));
        log.flush();
        check_dups(&log, &want, &format!("{mode:?} after flush"));
        log.compact_now();
        check_dups(&log, &want, &format!("{mode:?} after compaction"));
        assert!(log.stats().l1_segments > 0);
        log.validate().unwrap();
    }
}

#[test]
fn duplicates_among_out_of_order_neighbours_keep_write_order() {
    for mode in MODES {
        let log: Timelog<u32> = tiny(mode).window_size(2).build().unwrap();
        let mut o = Oracle::default();
        let pattern = [7i64, 8, 7, 6, 7, 7, 8, 6];
        let mut v = 0u32;
        for round in 0..200 {
            // Single appends: a 7 after an 8 goes through the out-of-order path.
            for &t in &pattern {
                v += 1;
                let _ = log.append(t, v);
                o.write(t, v);
            }
            // An unsorted batch (stable sort must keep its order for equal ts).
            let b: Vec<(i64, u32)> = (0..(round % 24 + 1))
                .map(|i| {
                    v += 1;
                    (pattern[(i + round) % pattern.len()], v)
                })
                .collect();
            for &(t, x) in &b {
                o.write(t, x);
            }
            let _ = log.append_batch(b);
            if round == 120 {
                log.flush();
            }
            if round == 160 {
                log.compact_now();
            }
        }
        let check = |what: &str| {
            let vis = o.visible();
            let snap = log.snapshot();
            assert!(scan(&snap, (Unbounded, Unbounded)) == vis, "{mode:?} {what}: full scan order");
            assert!(scan_back(&snap, (Unbounded, Unbounded)) == vis, "{mode:?} {what}: reverse scan order");
            for t in [6, 7, 8] {
                let want: Vec<u32> = vis.iter().filter(|r| r.0 == t).map(|r| r.1).collect();
                assert!(snap.point(t).copied().collect::<Vec<_>>() == want, "{mode:?} {what}: point({t})");
            }
        };
        check("mixed layers");
        log.flush();
        check("after flush");
        log.compact_now();
        check("after compaction");
        log.validate().unwrap();
    }
}

#[test]
#[allow(clippy::reversed_empty_ranges)]
fn empty_and_inverted_ranges() {
    let log: Timelog<u32> = tiny(MaintenanceMode::Manual).build().unwrap();
    let mut o = Oracle::default();
    for (i, t) in [i64::MIN, 3, 4, 5, 6, i64::MAX].into_iter().enumerate() {
        let _ = log.append(t, i as u32);
        o.write(t, i as u32);
    }
    let empties: Vec<Bounds> = vec![
        (Included(5), Excluded(3)),
        (Included(5), Excluded(5)),
        (Included(5), Included(4)),
        (Excluded(5), Included(5)),
        (Excluded(5), Excluded(6)),
        (Excluded(i64::MAX), Unbounded),
        (Unbounded, Excluded(i64::MIN)),
        (Included(i64::MAX), Excluded(i64::MAX)),
        (Included(i64::MAX), Included(i64::MIN)),
        (Excluded(i64::MIN), Excluded(i64::MIN)),
    ];
    for stage in 0..3 {
        let snap = log.snapshot();
        for &b in &empties {
            assert!(!non_empty(&b));
            assert!(scan(&snap, b).is_empty(), "range {b:?}");
            assert!(snap.range(b).next_back().is_none(), "range {b:?}");
            assert_eq!(snap.count(b), 0, "count {b:?}");
            assert!(log.range_vec(b).is_empty());
        }
        assert!(scan(&snap, (Included(5), Excluded(3))).is_empty());
        assert_eq!(log.count(5..3), 0);
        assert_eq!(log.count(5..5), 0);
        assert!(log.range_vec(5..=4).is_empty());
        // Deletes of empty ranges succeed and record nothing (as `Vec::drain(a..a)`);
        // inverted ones are rejected. Neither changes anything.
        assert_eq!(log.delete_range(5..5), Ok(Accepted::Clean));
        assert_eq!(log.delete_range(5..3), Err(Error::InvalidRange));
        assert_eq!(log.delete_range(5..=4), Ok(Accepted::Clean));
        assert_eq!(log.delete_range(..i64::MIN), Ok(Accepted::Clean));
        assert_eq!(log.delete_before(i64::MIN), Ok(Accepted::Clean));
        for &b in &empties {
            let want = if inverted(&b) { Err(Error::InvalidRange) } else { Ok(Accepted::Clean) };
            assert_eq!(log.delete_range(b), want, "{b:?}");
        }
        let w = log.delete_range_tracked(7..7).unwrap();
        assert_eq!(w.count, 0, "an empty delete takes no sequence number");
        assert!(w.visible_in(&log.snapshot()));
        assert_eq!(log.stats().tombstones, 0, "an empty or rejected delete left a tombstone");
        assert_eq!(scan(&log.snapshot(), (Unbounded, Unbounded)), o.visible());
        match stage {
            0 => log.flush(),
            1 => log.compact_now(),
            _ => {}
        }
    }
    // The smallest non-empty ranges work.
    log.delete_range(5..=5).unwrap();
    o.delete((Included(5), Included(5)));
    log.delete_range((Excluded(3), Excluded(5))).unwrap();
    o.delete((Excluded(3), Excluded(5)));
    assert_eq!(scan(&log.snapshot(), (Unbounded, Unbounded)), o.visible());
    assert_eq!(log.count(..), 4);
    log.delete_before(i64::MIN + 1).unwrap();
    o.delete((Unbounded, Excluded(i64::MIN + 1)));
    assert_eq!(scan(&log.snapshot(), (Unbounded, Unbounded)), o.visible());
    assert_eq!(log.first_ts(), Some(3));
    log.validate().unwrap();
}

fn base() -> Builder<u64> {
    Timelog::builder()
}

fn adaptive(f: impl FnOnce(&mut AdaptiveConfig)) -> Builder<u64> {
    let mut a = AdaptiveConfig::default();
    f(&mut a);
    base().adaptive(a)
}

fn enabled(f: impl FnOnce(&mut AdaptiveConfig)) -> Builder<u64> {
    adaptive(|a| {
        a.target_records = 1000;
        f(a)
    })
}

#[test]
fn every_invalid_config_field_is_named() {
    let ms = |n: u64| Duration::from_millis(n);
    let cases: Vec<(Builder<u64>, &str)> = vec![
        (base().memtable_max_bytes(0), "memtable_max_bytes"),
        (base().target_page_bytes(0), "target_page_bytes"),
        (base().target_page_bytes(255), "target_page_bytes"),
        (base().target_page_bytes((1 << 40) + 1), "target_page_bytes"),
        (base().target_page_bytes(usize::MAX), "target_page_bytes"),
        (base().ooo_budget_bytes(0), "ooo_budget_bytes"),
        (base().sealed_max_runs(0), "sealed_max_runs"),
        (base().sealed_max_runs((1 << 20) + 1), "sealed_max_runs"),
        (base().sealed_max_runs(usize::MAX), "sealed_max_runs"),
        (base().sealed_wait(ms(u32::MAX as u64 + 1)), "sealed_wait"),
        (base().sealed_wait(Duration::MAX), "sealed_wait"),
        (base().maintenance_wakeup(Duration::ZERO), "maintenance_wakeup"),
        (base().maintenance_wakeup(ms(u32::MAX as u64 + 1)), "maintenance_wakeup"),
        (base().maintenance_wakeup(Duration::MAX), "maintenance_wakeup"),
        (base().max_l0_segments(0), "max_l0_segments"),
        (base().window_size(0), "window_size"),
        (base().window_size(-1), "window_size"),
        (base().window_size(i64::MIN), "window_size"),
        (base().delete_debt_threshold(f64::NAN), "delete_debt_threshold"),
        (base().delete_debt_threshold(f64::INFINITY), "delete_debt_threshold"),
        (base().delete_debt_threshold(f64::NEG_INFINITY), "delete_debt_threshold"),
        (base().delete_debt_threshold(-0.001), "delete_debt_threshold"),
        (base().delete_debt_threshold(1.001), "delete_debt_threshold"),
        (adaptive(|a| a.alpha = f64::NAN), "adaptive_alpha"),
        (adaptive(|a| a.alpha = f64::INFINITY), "adaptive_alpha"),
        (adaptive(|a| a.alpha = -0.1), "adaptive_alpha"),
        (adaptive(|a| a.alpha = 1.5), "adaptive_alpha"),
        (enabled(|a| a.alpha = -0.1), "adaptive_alpha"),
        (adaptive(|a| a.min_window = -1), "adaptive_min_window"),
        (enabled(|a| a.min_window = i64::MIN), "adaptive_min_window"),
        (adaptive(|a| a.max_window = -1), "adaptive_max_window"),
        (enabled(|a| a.max_window = -5), "adaptive_max_window"),
        (adaptive(|a| a.window_quantum = -1), "adaptive_window_quantum"),
        (enabled(|a| a.window_quantum = -1), "adaptive_window_quantum"),
        (
            enabled(|a| {
                a.min_window = 10;
                a.max_window = 5
            }),
            "adaptive_min_window",
        ),
        (enabled(|a| a.hysteresis_pct = 101), "adaptive_hysteresis_pct"),
        (enabled(|a| a.hysteresis_pct = u32::MAX), "adaptive_hysteresis_pct"),
    ];
    for (b, field) in cases {
        let desc = format!("{b:?}");
        match b.config() {
            Err(Error::InvalidConfig { field: f, reason }) => {
                assert_eq!(f, field, "wrong field named for {desc}");
                assert!(!reason.is_empty(), "empty reason for {desc}");
                let shown = Error::InvalidConfig { field: f, reason }.to_string();
                assert!(shown.contains(field), "{shown:?} does not name {field}");
            }
            other => panic!("{desc}: expected InvalidConfig({field}), got {other:?}"),
        }
        match b.build() {
            Err(Error::InvalidConfig { field: f, .. }) => assert_eq!(f, field, "build() {desc}"),
            other => panic!("build() {desc}: expected InvalidConfig({field}), got {other:?}"),
        }
    }
    match "xs".parse::<TimeUnit>() {
        Err(Error::InvalidConfig { field, .. }) => assert_eq!(field, "time_unit"),
        other => panic!("expected InvalidConfig(time_unit), got {other:?}"),
    }
}

#[test]
fn config_boundaries_are_accepted() {
    let ok: Vec<Builder<u64>> = vec![
        base().memtable_max_bytes(1),
        base().target_page_bytes(256),
        base().target_page_bytes(1 << 40),
        base().ooo_budget_bytes(1),
        base().memtable_max_bytes(1).ooo_budget_bytes(usize::MAX),
        base().sealed_max_runs(1),
        base().sealed_max_runs(1 << 20),
        base().sealed_wait(Duration::ZERO),
        base().maintenance_wakeup(Duration::from_nanos(1)),
        base().max_l0_segments(1),
        base().max_l0_segments(usize::MAX),
        base().window_size(1),
        base().window_size(i64::MAX),
        base().window_origin(i64::MIN),
        base().window_origin(i64::MAX),
        base().delete_debt_threshold(0.0),
        base().delete_debt_threshold(1.0),
        adaptive(|a| a.alpha = 0.0),
        adaptive(|a| a.alpha = 1.0),
        // Disabled adaptive sizing does not check the cross-field rules.
        adaptive(|a| {
            a.min_window = 10;
            a.max_window = 5;
            a.hysteresis_pct = 1000
        }),
        // Enabled with no upper bound: any minimum is fine.
        enabled(|a| {
            a.min_window = i64::MAX;
            a.max_window = 0
        }),
        enabled(|a| {
            a.min_window = 5;
            a.max_window = 5;
            a.hysteresis_pct = 100
        }),
    ];
    for b in ok {
        let desc = format!("{b:?}");
        let cfg = b.config().unwrap_or_else(|e| panic!("{desc} rejected: {e}"));
        let log: Timelog<u64> = b.build().unwrap_or_else(|e| panic!("{desc}: {e}"));
        assert_eq!(log.config(), &cfg);
        drop(log);
    }
    // Values are stored as given, defaults follow the time unit.
    let cfg = base().memtable_max_bytes(1234).target_page_bytes(4096).window_origin(-5).config().unwrap();
    assert_eq!(cfg.memtable_max_bytes(), 1234);
    assert_eq!(cfg.target_page_bytes(), 4096);
    assert_eq!(cfg.window_origin(), -5);
    for unit in [TimeUnit::Seconds, TimeUnit::Millis, TimeUnit::Micros, TimeUnit::Nanos] {
        let cfg = base().time_unit(unit).config().unwrap();
        assert_eq!(cfg.window_size(), unit.ticks_per_hour());
        assert_eq!(unit.as_str().parse::<TimeUnit>(), Ok(unit));
    }
}

/// The error messages say "must be at most 2^32-1 ms": exactly `u32::MAX` ms is allowed.
#[test]
fn durations_of_exactly_u32_max_millis_are_accepted() {
    let d = Duration::from_millis(u32::MAX as u64);
    let r = base().sealed_wait(d).config();
    assert!(r.is_ok(), "sealed_wait(u32::MAX ms): {r:?}");
    let r = base().maintenance_wakeup(d).config();
    assert!(r.is_ok(), "maintenance_wakeup(u32::MAX ms): {r:?}");
}

#[test]
fn maintenance_mode_errors() {
    let manual: Timelog<u32> = tiny(MaintenanceMode::Manual).build().unwrap();
    assert!(!manual.maintenance_running());
    assert_eq!(manual.start_maintenance(), Err(Error::WrongMode));
    assert_eq!(manual.stop_maintenance(), Err(Error::WrongMode));
    assert!(!manual.maintenance_running());
    assert_eq!(manual.maint_step(), Ok(false));
    for i in 0..100 {
        let _ = manual.append(i, i as u32);
    }
    assert!(manual.stats().sealed_memruns > 0, "nothing runs by itself");
    assert_eq!(manual.maint_step(), Ok(true));
    while manual.maint_step().unwrap() {}
    let st = manual.stats();
    assert_eq!(st.sealed_memruns, 0);
    assert!(st.l0_segments <= 1, "maint_step compacts past max_l0: {st:?}");
    assert_eq!(manual.count(..), 100);

    let bg: Timelog<u32> = tiny(MaintenanceMode::Background).build().unwrap();
    assert!(bg.maintenance_running());
    assert_eq!(bg.maint_step(), Err(Error::WrongMode));
    assert_eq!(bg.start_maintenance(), Ok(()), "start while running is a no-op");
    assert!(bg.maintenance_running());
    let mut written = 0;
    for cycle in 0..3 {
        assert_eq!(bg.stop_maintenance(), Ok(()));
        assert!(!bg.maintenance_running());
        assert_eq!(bg.stop_maintenance(), Ok(()), "stop while stopped is a no-op");
        assert_eq!(bg.maint_step(), Err(Error::WrongMode));
        // Writes keep working while stopped; sealed memtables pile up.
        for i in 0..200 {
            let _ = bg.append(written + i, cycle);
        }
        written += 200;
        assert!(bg.stats().sealed_memruns > 1, "cycle {cycle}");
        assert_eq!(bg.count(..), written as usize);
        assert_eq!(bg.start_maintenance(), Ok(()));
        assert!(bg.maintenance_running());
        let deadline = Instant::now() + Duration::from_secs(10);
        while bg.stats().sealed_memruns > 0 {
            assert!(
                Instant::now() < deadline,
                "cycle {cycle}: the restarted worker does not drain the memruns"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(bg.count(..), written as usize);
        bg.validate().unwrap();
    }
    // flush works in background mode too.
    let _ = bg.append(-1, 9);
    bg.flush();
    assert_eq!(bg.stats().sealed_memruns, 0);
    assert_eq!(bg.count(..), written as usize + 1);
}

#[test]
fn backpressure_is_reported_and_cleared() {
    // Manual mode: nobody flushes, so the sealed queue overflows.
    let log: Timelog<u32> = tiny(MaintenanceMode::Manual).sealed_max_runs(1).build().unwrap();
    let mut saw = false;
    for i in 0..1000 {
        if log.append(i, 0).is_backpressure() {
            saw = true;
            break;
        }
    }
    assert!(saw, "a full sealed queue must report backpressure");
    assert!(log.stats().sealed_memruns > 1);
    assert!(log.stats().backpressure_events > 0);
    log.flush();
    assert_eq!(log.stats().sealed_memruns, 0);
    assert_eq!(log.append(5000, 1), Accepted::Clean);

    // Background mode with the worker stopped: no wait, backpressure right away.
    let log: Timelog<u32> = tiny(MaintenanceMode::Background)
        .sealed_max_runs(1)
        .sealed_wait(Duration::from_secs(60))
        .build()
        .unwrap();
    log.stop_maintenance().unwrap();
    let t0 = Instant::now();
    let mut saw = false;
    for i in 0..1000 {
        if log.append(i, 0) == Accepted::Backpressure {
            saw = true;
            break;
        }
    }
    assert!(saw, "a stopped worker must not make writers wait for it");
    assert!(t0.elapsed() < Duration::from_secs(30));
    log.start_maintenance().unwrap();
}

#[test]
fn compact_request_runs_on_next_manual_step() {
    let log: Timelog<u32> =
        Timelog::builder().maintenance(MaintenanceMode::Manual).max_l0_segments(8).build().unwrap();
    let _ = log.append_batch((0..100).map(|i| (i, i as u32)));
    log.flush();
    assert_eq!(log.stats().l0_segments, 1);
    assert_eq!(log.maint_step(), Ok(false), "one L0 segment is below the limit");
    log.compact();
    assert_eq!(log.maint_step(), Ok(true));
    let st = log.stats();
    assert_eq!((st.l0_segments, st.l1_segments > 0), (0, true), "{st:?}");
    while log.maint_step().unwrap() {}
    assert_eq!(log.count(..), 100);
    log.validate().unwrap();
}

#[test]
#[should_panic(expected = "column lengths differ")]
fn append_columns_rejects_unequal_columns() {
    let log: Timelog<u32> = tiny(MaintenanceMode::Manual).build().unwrap();
    let _ = log.append_columns(vec![1, 2, 3], vec![1, 2]);
}

#[test]
fn append_columns_equals_append_batch() {
    let a: Timelog<u32> = tiny(MaintenanceMode::Manual).build().unwrap();
    let b: Timelog<u32> = tiny(MaintenanceMode::Manual).build().unwrap();
    for n in [1usize, 15, 16, 17, 100] {
        let ts: Vec<i64> = (0..n as i64).map(|i| (i * 7919) % 13 - 6).collect();
        let vals: Vec<u32> = (0..n as u32).collect();
        let _ = a.append_columns(ts.clone(), vals.clone());
        let _ = b.append_batch(ts.into_iter().zip(vals));
    }
    assert_eq!(a.range_vec(..), b.range_vec(..));
    a.compact_now();
    assert_eq!(a.range_vec(..), b.range_vec(..));
}

// ----- property test: no panic, and agreement with the oracle, on any bounds ----------

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

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(600)
}

fn run_probes(recs: Vec<(i64, u32)>, flush_at: usize, probes: Vec<Probe>) -> Result<(), TestCaseError> {
    let log: Timelog<u32> = tiny(MaintenanceMode::Manual).window_size(5).build().unwrap();
    let mut o = Oracle::default();
    for (i, &(t, v)) in recs.iter().enumerate() {
        if i == flush_at {
            log.compact_now();
        }
        let _ = log.append(t, v);
        o.write(t, v);
    }
    let mut v = 1_000_000u32;
    for p in probes {
        let snap = log.snapshot();
        let vis = o.visible();
        match p {
            Probe::Range(b) => {
                let want: Vec<(i64, u32)> = vis.iter().filter(|r| in_bounds(r.0, &b)).copied().collect();
                prop_assert_eq!(scan(&snap, b), want.clone(), "range {:?}", b);
                prop_assert_eq!(scan_back(&snap, b), want.clone(), "rev range {:?}", b);
                prop_assert_eq!(snap.count(b), want.len(), "count {:?}", b);
                prop_assert_eq!(log.count(b), want.len());
            }
            Probe::Point(t) => {
                let want: Vec<u32> = vis.iter().filter(|r| r.0 == t).map(|r| r.1).collect();
                prop_assert_eq!(snap.point(t).copied().collect::<Vec<_>>(), want.clone());
                prop_assert_eq!(log.point(t), want);
            }
            Probe::Next(t) => {
                prop_assert_eq!(snap.next_ts(t), vis.iter().find(|r| r.0 > t).map(|r| r.0));
            }
            Probe::Prev(t) => {
                prop_assert_eq!(snap.prev_ts(t), vis.iter().rev().find(|r| r.0 < t).map(|r| r.0));
            }
            Probe::Delete(b) => {
                let r = log.delete_range(b);
                if non_empty(&b) {
                    prop_assert!(r.is_ok(), "delete {:?}: {:?}", b, r);
                    o.delete(b);
                } else if inverted(&b) {
                    prop_assert_eq!(r, Err(Error::InvalidRange), "delete {:?}", b);
                } else {
                    prop_assert_eq!(r, Ok(Accepted::Clean), "delete {:?}", b);
                }
            }
            Probe::DeleteBefore(t) => {
                let r = log.delete_before(t);
                prop_assert!(r.is_ok());
                if t > i64::MIN {
                    o.delete((Unbounded, Excluded(t)));
                }
            }
            Probe::Write(t) => {
                v += 1;
                let _ = log.append(t, v);
                o.write(t, v);
            }
        }
    }
    let vis = o.visible();
    prop_assert_eq!(scan(&log.snapshot(), (Unbounded, Unbounded)), vis.clone());
    log.compact_now();
    prop_assert_eq!(scan(&log.snapshot(), (Unbounded, Unbounded)), vis);
    prop_assert!(log.validate().is_ok());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn no_panic_and_oracle_agreement_on_any_bounds(
        recs in prop::collection::vec((any_ts(), any::<u32>()), 0..30),
        flush_at in 0usize..30,
        probes in prop::collection::vec(probe(), 1..25),
    ) {
        run_probes(recs, flush_at, probes)?;
    }
}

/// Records that arrive out of order for their writer are counted as such by
/// `stats()`, whether a late pile or the skiplist holds them, and read back in
/// order with the in-order ones.
#[test]
fn late_records_are_counted_and_read_in_order() {
    let log: Timelog<i64> =
        Timelog::builder().maintenance(MaintenanceMode::Manual).memtable_max_bytes(1 << 20).build().unwrap();
    let mut want = Vec::new();
    let mut late = 0;
    let mut max = i64::MIN;
    // In-order records with, every few, one that is late by a varying amount:
    // enough distinct lateness that some land in piles and some in the skiplist.
    for i in 0..400i64 {
        let ts = if i % 5 == 4 { i - 1 - (i * 37 % 23) } else { i };
        if ts < max {
            late += 1;
        }
        max = max.max(ts);
        let _ = log.append(ts, i);
        want.push((ts, i));
    }
    let st = log.stats();
    assert_eq!(st.memtable_ooo_records, late, "{st:?}");
    assert_eq!(st.memtable_records + st.memtable_ooo_records, 400, "{st:?}");
    want.sort_by_key(|&(t, _)| t);
    let snap = log.snapshot();
    let got: Vec<(i64, i64)> = snap.range(..).map(|(t, v)| (t, *v)).collect();
    assert_eq!(got, want);
    log.validate().unwrap();
}
