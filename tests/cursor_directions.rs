//! The merge cursor's two directions on the same sources: [`iter::Range`] and
//! [`iter::Cursor`] consumed by every interleaving of front and back steps over many
//! generated layouts (L1, overlapping L0 segments, sealed memruns, the active
//! memtable's lane runs, late piles, batch runs and skiplist, tombstones, records
//! written after the snapshot), against a sorted-vector model; `remaining()` after
//! every step. And a drop-accounting check that a cursor keeps what it reads alive
//! after the log and the snapshot are gone, and releases it when dropped.

use std::ops::RangeInclusive;
use std::time::Duration;

use timelog::{iter, MaintenanceMode, Snapshot, Timelog};

use timelog_testkit::check::Ends;
use timelog_testkit::ledger::{Ledger, Tracked};
use timelog_testkit::oracle::Oracle;
use timelog_testkit::{eventually, flush_epoch};

/// The tests' generator, seeded apart per layout.
fn rng(seed: u64) -> timelog_testkit::gen::Rng {
    timelog_testkit::gen::Rng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
}

/// The model: the shared oracle, fed unique values, so that a match shows the order
/// of equal timestamps too.
#[derive(Default)]
struct Model {
    o: Oracle<u64>,
    next: u64,
}

impl Model {
    fn value(&mut self) -> u64 {
        self.next += 1;
        self.next
    }
    /// The newest timestamp written, and the largest.
    fn last_ts(&self) -> Option<i64> {
        self.o.written().last().map(|x| x.0)
    }
    fn max_ts(&self) -> Option<i64> {
        self.o.written().map(|x| x.0).max()
    }
}

/// Writes through every path into `log` (values made by `mk` from unique numbers),
/// mirrored in `m`: single appends (in order, a little late, far back), batches,
/// deletes, flushes, compactions, and writers on several threads at once (so that
/// some find no free lane).
fn write_mix<V: timelog::Value>(
    log: &Timelog<V>,
    m: &mut Model,
    r: &mut timelog_testkit::gen::Rng,
    steps: u64,
    mk: &(dyn Fn(u64) -> V + Sync),
) {
    let mut cur = m.last_ts().unwrap_or(0);
    for _ in 0..steps {
        match r.below(12) {
            0..=3 => {
                for _ in 0..r.below(25) {
                    cur += r.below(3) as i64;
                    let ts = match r.below(8) {
                        0 => cur - r.below(8) as i64,       // a late pile
                        1 => cur - 30 - r.below(30) as i64, // far back: the skiplist
                        _ => cur,
                    };
                    let v = m.value();
                    let _ = log.append(ts, mk(v));
                    m.o.append(ts, v);
                }
            }
            4..=5 => {
                let mut t = cur - r.below(40) as i64;
                let mut b = Vec::new();
                for _ in 0..8 + r.below(30) {
                    t += r.below(3) as i64;
                    let ts = if r.below(6) == 0 { t - r.below(10) as i64 } else { t };
                    let v = m.value();
                    b.push((ts, mk(v)));
                    m.o.append(ts, v);
                }
                let _ = log.append_batch(b);
            }
            6 => {
                // Six threads at once, each on its own residue of the timestamps (the
                // model cannot know their relative order), late for the lanes.
                let mut per: Vec<Vec<(i64, u64)>> = Vec::new();
                for k in 0..6 {
                    let mut recs = Vec::new();
                    for _ in 0..5 {
                        let ts = cur - 6 * r.below(20) as i64 + k;
                        let v = m.value();
                        recs.push((ts, v));
                        m.o.append(ts, v);
                    }
                    per.push(recs);
                }
                std::thread::scope(|s| {
                    for recs in &per {
                        s.spawn(move || {
                            for &(t, v) in recs {
                                let _ = log.append(t, mk(v));
                            }
                        });
                    }
                });
            }
            7 => {
                let a = cur - r.below(60) as i64;
                let z = a + r.below(12) as i64;
                m.o.delete(a..=z).assert(&log.delete_range(a..=z));
            }
            8..=9 => log.flush(),
            10 => log.compact_now(),
            _ => {}
        }
    }
}

/// A log with manual maintenance: for odd seeds with small memtables (writes, late
/// ones above all, seal memruns), for even ones with a memtable large enough to keep
/// lane runs, late piles, batch runs and skiplist records side by side.
fn log_for<V: timelog::Value>(seed: u64) -> Timelog<V> {
    let b = Timelog::<V>::builder().maintenance(MaintenanceMode::Manual);
    let b = if seed % 2 == 1 { b.memtable_max_bytes(4 << 10) } else { b.memtable_max_bytes(1 << 20) };
    b.build().unwrap()
}

/// Records left in the active memtable: a lane run, a decreasing run (its late piles
/// fill up, the rest goes to the skiplist), a batch run, and a delete over part of
/// them.
fn active_tail<V: timelog::Value>(
    log: &Timelog<V>,
    m: &mut Model,
    r: &mut timelog_testkit::gen::Rng,
    mk: &(dyn Fn(u64) -> V + Sync),
) {
    let top = m.max_ts().unwrap_or(0);
    let mut one = |ts: i64| {
        let v = m.value();
        let _ = log.append(ts, mk(v));
        m.o.append(ts, v);
    };
    for k in 0..r.below(8) as i64 {
        one(top + k);
    }
    for k in 0..12 {
        one(top - 3 * k - r.below(3) as i64);
    }
    let base = top - r.below(30) as i64;
    let mut b = Vec::new();
    for k in 0..r.below(10) as i64 {
        let v = m.value();
        b.push((base + 2 * k, mk(v)));
        m.o.append(base + 2 * k, v);
    }
    let _ = log.append_batch(b);
    if r.below(2) == 0 {
        let a = top - r.below(20) as i64;
        m.o.delete(a..=a + 3).assert(&log.delete_range(a..=a + 3));
    }
}

/// A layout: L1 from a compacted first part, overlapping L0 segments, memruns and the
/// active memtable, with deletes; then the snapshot, and writes and a delete that it
/// must not see.
fn layout(seed: u64) -> (Timelog<u64>, Snapshot<u64>, Vec<(i64, u64)>) {
    let mut r = rng(seed);
    let log = log_for::<u64>(seed);
    let mut m = Model::default();
    let mk = |v: u64| v;
    let n = 4 + r.below(8);
    write_mix(&log, &mut m, &mut r, n, &mk);
    log.flush();
    log.compact_now();
    for _ in 0..r.below(4) {
        let n = 2 + r.below(4);
        write_mix(&log, &mut m, &mut r, n, &mk);
        log.flush();
    }
    let n = 3 + r.below(10);
    write_mix(&log, &mut m, &mut r, n, &mk);
    active_tail(&log, &mut m, &mut r, &mk);
    let want = m.o.visible();
    let snap = log.snapshot();
    write_mix(&log, &mut m, &mut r, 4, &mk);
    let t = want.last().map_or(0, |x| x.0);
    log.delete_range(t - 40..=t).unwrap();
    (log, snap, want)
}

/// `want` restricted to `r`.
fn clip(want: &[(i64, u64)], r: &RangeInclusive<i64>) -> Vec<(i64, u64)> {
    want.iter().copied().filter(|x| r.contains(&x.0)).collect()
}

/// Drives a `Range` by `pattern` (bit `k` set: step `k` is from the back) for `steps`
/// steps, then folds the rest (forward or backward by `fold_back`), checking every
/// record and `remaining()` against `want`.
fn drive_range(
    snap: &Snapshot<u64>,
    r: &RangeInclusive<i64>,
    want: &[(i64, u64)],
    pattern: &[bool],
    fold_back: bool,
) {
    let mut it: iter::Range<'_, u64> = snap.range(r.clone());
    let mut m = Ends::new(want);
    assert_eq!(it.remaining(), m.left(), "{r:?}: remaining at start");
    for (k, &back) in pattern.iter().enumerate() {
        let got = if back { it.next_back() } else { it.next() };
        assert_eq!(got.map(|(t, v)| (t, *v)), m.take(back), "{r:?} pattern {pattern:?} step {k}");
        assert_eq!(it.remaining(), m.left(), "{r:?} pattern {pattern:?}: remaining after step {k}");
    }
    let rest: Vec<(i64, u64)> = if fold_back {
        let mut v = it.rev().fold(Vec::new(), |mut acc, (t, v)| {
            acc.push((t, *v));
            acc
        });
        v.reverse();
        v
    } else {
        it.fold(Vec::new(), |mut acc, (t, v)| {
            acc.push((t, *v));
            acc
        })
    };
    assert_eq!(rest, m.rest(), "{r:?} pattern {pattern:?}: the rest, folded (back: {fold_back})");
}

/// Drives an owning `Cursor` the same way, with the step kind drawn from `r`: the
/// lending accessors, the cloning iterator, or a batch `fill_*` of up to three.
fn drive_cursor(
    snap: &Snapshot<u64>,
    rg: &RangeInclusive<i64>,
    want: &[(i64, u64)],
    pattern: &[bool],
    r: &mut timelog_testkit::gen::Rng,
) {
    let mut cur: iter::Cursor<u64> = snap.clone().into_cursor(rg.clone());
    let mut m = Ends::new(want);
    assert_eq!((cur.remaining(), cur.len()), (m.left(), m.left()), "{rg:?}: remaining at start");
    for (k, &back) in pattern.iter().enumerate() {
        let mut got = Vec::new();
        let max = match r.below(4) {
            0 => {
                let x = if back { cur.next_back_ref() } else { cur.next_ref() };
                got.extend(x.map(|(t, v)| (t, *v)));
                1
            }
            1 => {
                got.extend(if back { cur.next_back() } else { cur.next() });
                1
            }
            _ => {
                let max = 1 + r.below(3) as usize;
                let mut f = |t: i64, v: &u64| got.push((t, *v));
                let n = if back { cur.fill_back(max, &mut f) } else { cur.fill_front(max, &mut f) };
                assert_eq!(n, max.min(m.left()), "{rg:?} pattern {pattern:?} step {k}: fill count");
                max
            }
        };
        assert_eq!(got, m.take_n(back, max), "{rg:?} pattern {pattern:?} step {k}");
        assert_eq!(cur.remaining(), m.left(), "{rg:?} pattern {pattern:?}: remaining after step {k}");
        assert_eq!(cur.size_hint(), (m.left(), Some(m.left())));
    }
    let rest: Vec<(i64, u64)> = cur.collect();
    assert_eq!(rest, m.rest(), "{rg:?} pattern {pattern:?}: the rest");
}

/// Ranges of the layout: the whole, and windows of at most `small` records.
fn windows(want: &[(i64, u64)], r: &mut timelog_testkit::gen::Rng, small: usize) -> Vec<RangeInclusive<i64>> {
    let mut out = vec![i64::MIN..=i64::MAX];
    let (Some(first), Some(last)) = (want.first(), want.last()) else { return out };
    for _ in 0..12 {
        let lo = first.0 - 5 + r.below((last.0 - first.0 + 10) as u64) as i64;
        let mut hi = lo;
        while hi < last.0 + 5 && clip(want, &(lo..=hi + 1)).len() <= small {
            hi += 1;
        }
        out.push(lo..=hi);
    }
    out
}

#[test]
fn every_interleaving_of_both_ends_matches_the_model() {
    for seed in 1..=40u64 {
        let (log, snap, want) = layout(seed);
        let mut r = rng(seed ^ 0xABCD);
        for rg in windows(&want, &mut r, 9) {
            let w = clip(&want, &rg);
            if w.len() <= 9 {
                // Every pattern of front and back steps, one step more than records.
                let n = w.len() + 1;
                for bits in 0u32..(1 << n) {
                    let pattern: Vec<bool> = (0..n).map(|k| bits >> k & 1 == 1).collect();
                    drive_range(&snap, &rg, &w, &pattern, bits & 1 == 1);
                    drive_cursor(&snap, &rg, &w, &pattern, &mut r);
                }
            } else {
                // The whole range: runs from each end, alternation, and random walks,
                // stopped part way (the rest folded) or run past the end.
                let n = w.len();
                let mut patterns: Vec<Vec<bool>> = vec![
                    vec![false; n + 1],
                    vec![true; n + 1],
                    (0..n + 1).map(|k| k % 2 == 1).collect(),
                    (0..n).map(|k| k >= n / 3).collect(),
                    (0..n / 2).map(|k| k % 7 < 3).collect(),
                ];
                for _ in 0..24 {
                    let len = r.below(n as u64 + 2) as usize;
                    let bias = r.below(5);
                    patterns.push((0..len).map(|_| r.below(4) < bias).collect());
                }
                for (i, p) in patterns.iter().enumerate() {
                    drive_range(&snap, &rg, &w, p, i % 2 == 1);
                    drive_cursor(&snap, &rg, &w, p, &mut r);
                }
            }
        }
        log.validate().unwrap();
    }
}

/// Lets the epoch advance (retired manifests and skiplist nodes are reclaimed
/// through it) until `done()`, for a few seconds at most.
fn settle(done: impl Fn() -> bool) {
    eventually(Duration::from_secs(5), || {
        flush_epoch(64);
        done()
    });
}

#[test]
fn a_cursor_keeps_its_data_alive_after_the_log_and_the_snapshot_and_releases_it() {
    for seed in 1..=8u64 {
        let live = Ledger::new();
        let mk = |v: u64| live.value(v);
        let mut r = rng(seed ^ 0x5EED);
        let log: Timelog<Tracked> = log_for(seed);
        // Every layer: L1, L0, sealed memruns, the active memtable, tombstones.
        let mut m = Model::default();
        write_mix(&log, &mut m, &mut r, 8, &mk);
        log.flush();
        log.compact_now();
        write_mix(&log, &mut m, &mut r, 4, &mk);
        log.flush();
        write_mix(&log, &mut m, &mut r, 8, &mk);
        active_tail(&log, &mut m, &mut r, &mk);
        let want = m.o.visible();
        let snap = log.snapshot();
        let lo = want.first().map_or(0, |x| x.0) + r.below(10) as i64;
        let rg = lo..=i64::MAX;
        let want = clip(&want, &rg);
        let mut cur = snap.clone().into_cursor(rg);
        drop(snap);
        drop(log);
        // What the log held beyond the cursor's records goes.
        settle(|| live.count() <= 2 * want.len());
        let held = live.count();
        assert!(held >= want.len(), "seed {seed}: {held} values live, the cursor has {} records", want.len());
        // Everything reads back, from both ends, alive.
        let (mut a, mut z) = (0, want.len());
        while a < z {
            if r.below(2) == 0 {
                let (t, v) = cur.next_ref().unwrap();
                assert_eq!((t, v.rec()), want[a], "seed {seed}");
                a += 1;
            } else {
                let (t, v) = cur.next_back().unwrap();
                z -= 1;
                assert_eq!((t, v.rec()), want[z], "seed {seed}");
            }
            assert_eq!(cur.remaining(), z - a);
        }
        assert!(cur.next_ref().is_none());
        drop(cur);
        settle(|| live.count() == 0);
        assert_eq!(live.count(), 0, "seed {seed}: values leaked after the cursor was dropped");
        live.assert_no_errors();
    }
}
