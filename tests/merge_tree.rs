//! The merge's loser tree, which a read switches to when its sources interleave
//! record by record: many L0 segments flushed from interleaved batches (equal
//! timestamps across them), memtable records and tombstones on top, read through
//! `Range` and `Cursor` in long runs from either end (so that each end builds its
//! tree, and puts what it merged back when the other end reads), through folds, and
//! through flush and compaction (which merge with the same code), all against a
//! sorted-vector model.

use std::ops::RangeInclusive;

use timelog::{MaintenanceMode, Snapshot, Timelog};

use timelog_testkit::check::Ends;

/// Records as `(ts, value, alive)` in write order; values are unique.
#[derive(Default)]
struct Model {
    recs: Vec<(i64, u64, bool)>,
}

impl Model {
    fn delete(&mut self, r: &RangeInclusive<i64>) {
        for x in self.recs.iter_mut().filter(|x| r.contains(&x.0)) {
            x.2 = false;
        }
    }

    /// The visible records, ascending by timestamp, equal ones in write order.
    fn visible(&self) -> Vec<(i64, u64)> {
        let mut v: Vec<(i64, u64)> = self.recs.iter().filter(|x| x.2).map(|x| (x.0, x.1)).collect();
        v.sort_by_key(|&(t, _)| t); // stable
        v
    }
}

/// `segs` L0 segments of `per` records each, batch `k` holding the timestamps
/// `i * width + k % width` (so each timestamp is in `segs / width` segments, in
/// write order), stretches of consecutive timestamps in some batches (short runs
/// turning long), deletes between flushes, and interleaved records left in the
/// memtable.
fn interleaved_log(seed: u64, segs: usize, per: usize, width: i64) -> (Timelog<u64>, Model) {
    let mut r = timelog_testkit::gen::Rng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let log: Timelog<u64> = Timelog::builder()
        .maintenance(MaintenanceMode::Manual)
        .memtable_max_bytes(per * 64 * 2)
        .build()
        .unwrap();
    let mut m = Model::default();
    let mut val = 0u64;
    for k in 0..segs {
        let mut ts: Vec<i64> = (0..per as i64).map(|i| i * width + k as i64 % width).collect();
        if r.one_in(3) {
            // A block of this segment's own, past the interleaved part.
            let base = per as i64 * width + 10_000 * k as i64;
            ts.extend(base..base + r.below(3000) as i64);
        }
        let vals: Vec<u64> = ts
            .iter()
            .map(|_| {
                val += 1;
                val
            })
            .collect();
        m.recs.extend(ts.iter().zip(&vals).map(|(&t, &v)| (t, v, true)));
        let _ = log.append_columns(ts, vals);
        log.flush();
        if r.one_in(4) {
            let a = r.below(per as u64 * width as u64) as i64;
            let z = a + r.below(200) as i64;
            log.delete_range(a..=z).unwrap();
            m.delete(&(a..=z));
        }
    }
    // Interleaved single records in the active memtable, and a delete over some.
    for i in 0..per as i64 / 2 {
        let t = 2 * i * width + r.below(width as u64) as i64;
        val += 1;
        let _ = log.append(t, val);
        m.recs.push((t, val, true));
    }
    let a = r.below(per as u64 * width as u64) as i64;
    log.delete_range(a..=a + 50).unwrap();
    m.delete(&(a..=a + 50));
    assert!(log.stats().l0_segments >= segs.min(8), "the segments stay in L0");
    (log, m)
}

/// Reads `snap` over `rg` with a `Range` in runs from alternating ends (long enough
/// for trees, sometimes one step), checking each record and `remaining()`, then
/// folds the rest from one end.
fn check_range(
    snap: &Snapshot<u64>,
    rg: RangeInclusive<i64>,
    want: &[(i64, u64)],
    r: &mut timelog_testkit::gen::Rng,
) {
    let mut it = snap.range(rg.clone());
    let mut m = Ends::new(want);
    for run in 0..r.below(10) {
        let back = r.one_in(2);
        let len = if r.one_in(4) { 1 } else { r.below(2000) };
        for _ in 0..len {
            let got = if back { it.next_back() } else { it.next() };
            assert_eq!(got.map(|(t, v)| (t, *v)), m.take(back), "{rg:?}: run {run} (back: {back})");
        }
        assert_eq!(it.remaining(), m.left(), "{rg:?}: remaining after run {run}");
    }
    let rest: Vec<(i64, u64)> = if r.one_in(2) {
        it.map(|(t, v)| (t, *v)).collect()
    } else {
        let mut v: Vec<(i64, u64)> = it.rev().map(|(t, v)| (t, *v)).collect();
        v.reverse();
        v
    };
    assert_eq!(rest, m.rest(), "{rg:?}: the rest");
}

/// The same with an owning `Cursor`: lent records, cloned ones and `fill_*` batches.
fn check_cursor(
    snap: &Snapshot<u64>,
    rg: RangeInclusive<i64>,
    want: &[(i64, u64)],
    r: &mut timelog_testkit::gen::Rng,
) {
    let mut cur = snap.clone().into_cursor(rg.clone());
    let mut m = Ends::new(want);
    while m.left() > 0 {
        let back = r.one_in(2);
        let max = 1 + r.below(3000) as usize;
        let mut got = Vec::new();
        match r.below(3) {
            0 => {
                for _ in 0..max {
                    let x = if back { cur.next_back_ref() } else { cur.next_ref() };
                    got.extend(x.map(|(t, v)| (t, *v)));
                }
            }
            1 => {
                for _ in 0..max {
                    got.extend(if back { cur.next_back() } else { cur.next() });
                }
            }
            _ => {
                let mut f = |t: i64, v: &u64| got.push((t, *v));
                let n = if back { cur.fill_back(max, &mut f) } else { cur.fill_front(max, &mut f) };
                assert_eq!(n, max.min(m.left()), "{rg:?}: fill count");
            }
        }
        assert_eq!(got, m.take_n(back, max), "{rg:?} (back: {back})");
        let left = m.left();
        assert_eq!((cur.remaining(), cur.size_hint()), (left, (left, Some(left))), "{rg:?}");
    }
    assert_eq!((cur.next(), cur.next_back()), (None, None));
}

/// Whole and partial ranges of the layout.
fn ranges(want: &[(i64, u64)], r: &mut timelog_testkit::gen::Rng) -> Vec<RangeInclusive<i64>> {
    let mut out = vec![i64::MIN..=i64::MAX];
    let top = want.last().map_or(0, |x| x.0);
    for _ in 0..3 {
        let a = r.below(top as u64 + 1) as i64;
        out.push(a..=a + r.below(top as u64 / 2 + 1) as i64);
    }
    out
}

fn clip(want: &[(i64, u64)], rg: &RangeInclusive<i64>) -> Vec<(i64, u64)> {
    want.iter().copied().filter(|x| rg.contains(&x.0)).collect()
}

#[test]
fn interleaved_segments_read_from_both_ends_match_the_model() {
    for (seed, segs, width) in [(1, 16, 16), (2, 16, 4), (3, 5, 5), (4, 24, 8), (5, 2, 1)] {
        let (log, m) = interleaved_log(seed, segs, 600, width);
        let want = m.visible();
        let snap = log.snapshot();
        let mut r = timelog_testkit::gen::Rng::new(seed ^ 0xF00D);
        for rg in ranges(&want, &mut r) {
            let w = clip(&want, &rg);
            for _ in 0..3 {
                check_range(&snap, rg.clone(), &w, &mut r);
                check_cursor(&snap, rg.clone(), &w, &mut r);
            }
            assert_eq!(snap.count(rg.clone()), w.len());
        }
        log.validate().unwrap();
    }
}

/// Flush and compaction merge interleaved inputs with the same code: what they
/// write reads back as the model, equal timestamps in write order.
#[test]
fn flush_and_compaction_of_interleaved_inputs_keep_the_order() {
    for (seed, segs, width) in [(11, 16, 16), (12, 12, 3)] {
        let (log, m) = interleaved_log(seed, segs, 500, width);
        let want = m.visible();
        log.flush();
        let snap = log.snapshot();
        let got: Vec<(i64, u64)> = snap.range(..).map(|(t, v)| (t, *v)).collect();
        assert_eq!(got, want, "seed {seed}: after the flush");
        // Segments only: folds from either end, after a few steps from the other.
        for steps in [0, 1, 300] {
            let mut it = snap.range(..);
            let tail: Vec<(i64, u64)> = it.by_ref().rev().take(steps).map(|(t, v)| (t, *v)).collect();
            let got = it.fold(Vec::new(), |mut acc, (t, v)| {
                acc.push((t, *v));
                acc
            });
            assert_eq!(got, want[..want.len() - steps], "seed {seed}: fold after {steps} from the back");
            assert!(tail.iter().eq(want[want.len() - steps..].iter().rev()));
            let mut it = snap.range(..);
            let head: Vec<(i64, u64)> = it.by_ref().take(steps).map(|(t, v)| (t, *v)).collect();
            let mut got = it.rfold(Vec::new(), |mut acc, (t, v)| {
                acc.push((t, *v));
                acc
            });
            got.reverse();
            assert_eq!(got, want[steps..], "seed {seed}: rfold after {steps} from the front");
            assert_eq!(head, want[..steps]);
        }
        drop(snap);
        log.compact_now();
        assert_eq!(log.stats().l0_segments, 0, "seed {seed}: compacted");
        let snap = log.snapshot();
        let got: Vec<(i64, u64)> = snap.range(..).map(|(t, v)| (t, *v)).collect();
        assert_eq!(got, want, "seed {seed}: after compaction");
        let mut back: Vec<(i64, u64)> = snap.range(..).rev().map(|(t, v)| (t, *v)).collect();
        back.reverse();
        assert_eq!(back, want, "seed {seed}: after compaction, from the back");
        log.validate().unwrap();
    }
}
