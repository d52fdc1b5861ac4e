//! The merge as the iterators drive it, over hand-made sources: both ends in every
//! interleaving, and the loser tree over interleaved and checked sources.

use std::borrow::Cow;

use super::Range;
use crate::merge::{Back, Front};
use crate::source::{Seqs, Src, Ts, Vals, MEM_RANK};
use crate::tombstone::{record_visible, Piece};

/// Segment-like sources over the given sorted timestamps (values: `ts * 10 + source`).
fn seg_cols(layout: &[Vec<i64>]) -> Vec<(Vec<i64>, Vec<i64>)> {
    layout
        .iter()
        .enumerate()
        .map(|(k, ts)| (ts.clone(), ts.iter().map(|t| t * 10 + k as i64).collect()))
        .collect()
}

fn seg_range(c: &[(Vec<i64>, Vec<i64>)]) -> Range<'_, i64> {
    let srcs = c
        .iter()
        .enumerate()
        .map(|(k, (t, v))| Src::seg(Ts::Plain(t.as_slice().into()), v, k as u32, 0, t.len()))
        .collect();
    Range::new(srcs, Vec::new(), u64::MAX)
}

fn seg_model(c: &[(Vec<i64>, Vec<i64>)]) -> Vec<(i64, i64)> {
    let mut all: Vec<(i64, u32, i64)> = c
        .iter()
        .enumerate()
        .flat_map(|(k, (t, v))| t.iter().zip(v).map(move |(&t, &v)| (t, k as u32, v)))
        .collect();
    all.sort();
    all.into_iter().map(|(t, _, v)| (t, v)).collect()
}

/// Every pattern of `next`/`next_back` of small lengths, over layouts where the
/// early stops of both directions matter (many sources following one another, some
/// nested, some equal at the edges).
#[test]
fn both_directions_agree_with_the_model_in_every_interleaving() {
    let layouts: Vec<Vec<Vec<i64>>> = vec![
        vec![vec![1, 2, 3], vec![4, 5, 6], vec![7, 8, 9], vec![10, 11]],
        vec![vec![1, 9], vec![2, 3], vec![4, 5], vec![6, 7], vec![8]],
        vec![vec![1, 1, 5, 5], vec![1, 5], vec![0, 6], vec![3]],
        vec![vec![5, 6, 7, 8, 9, 10, 11, 12], vec![1, 2, 3, 13]],
        vec![vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10]],
        vec![vec![2], vec![2], vec![2]],
    ];
    for layout in &layouts {
        let c = seg_cols(layout);
        let want = seg_model(&c);
        let n = want.len();
        for pattern in 0u32..(1 << n.min(12)) {
            let mut r = seg_range(&c);
            let (mut a, mut z) = (0, n);
            for k in 0..n {
                let got = if pattern >> k & 1 == 1 {
                    z -= 1;
                    (r.next_back(), want[z])
                } else {
                    a += 1;
                    (r.next(), want[a - 1])
                };
                assert_eq!(
                    got.0.map(|(t, v)| (t, *v)),
                    Some(got.1),
                    "{layout:?} pattern {pattern:b} step {k}"
                );
                assert_eq!(r.remaining(), z - a);
            }
            assert_eq!(r.next(), None);
            assert_eq!(r.next_back(), None);
        }
    }
}

/// Compiles only if `Range` is covariant in its lifetime, as a borrowing
/// iterator should be (`Merge` takes the stretch columns as a parameter of its own
/// rather than as `C::Fast` for that).
#[allow(dead_code)]
fn range_is_covariant<'a: 'b, 'b>(r: Range<'a, u64>) -> Range<'b, u64> {
    r
}

/// xorshift64.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// One source's columns: timestamps, sequence numbers (memtable sources) and
/// values (unique, so that a match shows the order of equal timestamps).
struct Col {
    ts: Vec<i64>,
    seq: Vec<u64>,
    val: Vec<i64>,
    mem: bool,
    /// Every other segment source: its timestamps packed (as an L1 segment's).
    packed: Option<crate::packed::PackedTs>,
}

/// A layout of `segs` segment and `mems` memtable sources over three phases of
/// timestamps: interleaved record by record (with equal timestamps across
/// sources), then a stretch of each source in turn, then interleaved again.
/// Memtable records get distinct sequence numbers in a random order.
fn layout(r: &mut Rng, segs: usize, mems: usize, per: usize) -> Vec<Col> {
    let k = segs + mems;
    let mut recs: Vec<Vec<(i64, u64)>> = vec![Vec::new(); k];
    let mut t = 0i64;
    for _ in 0..per * k / 2 {
        t += r.below(2) as i64; // equal timestamps, often in different sources
        recs[r.below(k as u64) as usize].push((t, 0));
    }
    for (s, v) in recs.iter_mut().enumerate() {
        for _ in 0..per / 2 + r.below(per as u64) as usize {
            t += 1;
            v.push((t, 0));
        }
        let _ = s;
    }
    for _ in 0..per * k / 2 {
        t += r.below(3) as i64;
        recs[r.below(k as u64) as usize].push((t, 0));
    }
    let total: usize = recs.iter().map(Vec::len).sum();
    // Distinct sequence numbers 1..=total in a random order.
    let mut seqs: Vec<u64> = (1..=total as u64).collect();
    for i in (1..seqs.len()).rev() {
        seqs.swap(i, r.below(i as u64 + 1) as usize);
    }
    let mut val = 0;
    recs.into_iter()
        .enumerate()
        .map(|(s, mut v)| {
            let mem = s >= segs;
            if mem {
                for x in v.iter_mut() {
                    x.1 = seqs.pop().unwrap();
                }
            }
            v.sort_unstable();
            let vals = v
                .iter()
                .map(|_| {
                    val += 1;
                    val
                })
                .collect();
            let ts: Vec<i64> = v.iter().map(|x| x.0).collect();
            let packed = if !mem && s % 2 == 1 { crate::packed::PackedTs::new(&ts) } else { None };
            Col { ts, seq: v.iter().map(|x| x.1).collect(), val: vals, mem, packed }
        })
        .collect()
}

fn range<'a>(cols: &'a [Col], pieces: &[Piece], watermark: u64) -> Range<'a, i64> {
    let srcs = cols
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let n = c.ts.len();
            if c.mem {
                let seq = Seqs::Each(Cow::Borrowed(&c.seq[..]));
                Src::mem(Cow::Borrowed(&c.ts[..]), seq, Vals::Slice(&c.val), 0, n, u64::MAX)
            } else {
                let ts = match &c.packed {
                    Some(p) => Ts::Packed(p),
                    None => Ts::Plain(c.ts.as_slice().into()),
                };
                Src::seg(ts, &c.val, 1 + k as u32, 0, n)
            }
        })
        .collect();
    Range::new(srcs, pieces.to_vec(), watermark)
}

/// The visible records in merge order, by sorting: `(ts, rank, seq)`.
fn model(cols: &[Col], pieces: &[Piece], watermark: u64) -> Vec<(i64, i64)> {
    let mut all = Vec::new();
    for (k, c) in cols.iter().enumerate() {
        for j in 0..c.ts.len() {
            let rank = if c.mem { MEM_RANK } else { 1 + k as u32 };
            if !c.mem || record_visible(pieces, watermark, c.ts[j], c.seq[j]) {
                all.push(((c.ts[j], rank, c.seq[j]), c.val[j]));
            }
        }
    }
    all.sort_unstable();
    all.into_iter().map(|((t, _, _), v)| (t, v)).collect()
}

/// What `next` (or `next_back`, with `back`) must return when `want[a..z]` is
/// left; takes it from that end.
fn expected(want: &[(i64, i64)], a: &mut usize, z: &mut usize, back: bool) -> Option<(i64, i64)> {
    if a == z {
        None
    } else if back {
        *z -= 1;
        Some(want[*z])
    } else {
        *a += 1;
        Some(want[*a - 1])
    }
}

/// Drives `r` in runs of `next`/`next_back` of random lengths (some long enough
/// to build the tree, some a single step), checking every record and
/// `remaining()`, then takes the rest by a fold from either end or by
/// `drain_into` chunks. Returns whether the tree was on at some point.
fn drive(mut r: Range<'_, i64>, want: &[(i64, i64)], g: &mut Rng, what: &str) -> bool {
    let (mut a, mut z) = (0, want.len());
    let mut saw_tree = false;
    for run in 0..g.below(12) {
        let back = g.below(2) == 1;
        let len = match g.below(3) {
            0 => 1 + g.below(3),
            1 => 1 + g.below(100),
            _ => 1 + g.below(3000),
        };
        for step in 0..len {
            let got = if back { r.next_back() } else { r.next() };
            let exp = expected(want, &mut a, &mut z, back);
            assert_eq!(got.map(|(t, v)| (t, *v)), exp, "{what}: run {run} (back: {back}) step {step}");
            saw_tree |= r.merge().tree_on::<Front>() || r.merge().tree_on::<Back>();
        }
        assert_eq!(r.remaining(), z - a, "{what}: remaining after run {run}");
        let (lo, hi) = r.size_hint();
        assert!(lo <= z - a && hi >= Some(z - a), "{what}: size_hint after run {run}");
    }
    let rest: Vec<(i64, i64)> = match g.below(3) {
        0 => r.fold(Vec::new(), |mut v, (t, x)| {
            v.push((t, *x));
            v
        }),
        1 => {
            let mut v = r.rfold(Vec::new(), |mut v, (t, x)| {
                v.push((t, *x));
                v
            });
            v.reverse();
            v
        }
        _ => {
            let cap = 1 + g.below(700) as usize;
            let (mut ts, mut vals) = (Vec::new(), Vec::new());
            let mut out = Vec::new();
            loop {
                let carry = r.drain_into(&mut ts, &mut vals, cap);
                if let (Some(&l), Some(c)) = (ts.last(), carry) {
                    assert_ne!(l, c.0, "{what}: a drain cut between equal timestamps");
                }
                assert!(carry.is_none() || ts.len() >= cap);
                out.extend(ts.drain(..).zip(vals.drain(..)));
                match carry {
                    Some(c) => {
                        ts.push(c.0);
                        vals.push(c.1);
                    }
                    None => break,
                }
            }
            out
        }
    };
    assert_eq!(rest, want[a..z], "{what}: the rest");
    saw_tree
}

/// Interleaved segments and memtable sources with equal timestamps across them,
/// short and long stretches in turn, driven from both ends: the same records in
/// the same order as sorting, and the tree is used.
#[test]
fn interleaved_sources_match_the_sorted_model_from_both_ends() {
    let mut g = Rng(0x9E37_79B9_7F4A_7C15);
    let mut trees = 0;
    for case in 0..60 {
        let (segs, mems) = match case % 4 {
            0 => (16, 0),
            1 => (3, 0),
            2 => (5, 4),
            _ => (0, 7),
        };
        let per = 40 + g.below(400) as usize;
        let cols = layout(&mut g, segs, mems, per);
        // Every record visible (a watermark of `u64::MAX` would leave no room in a
        // packed key for sequence numbers: no tree).
        let watermark = cols.iter().map(|c| c.ts.len() as u64).sum::<u64>() + 1;
        let want = model(&cols, &[], watermark);
        let what = format!("case {case} ({segs} segments, {mems} memtable sources)");
        trees += usize::from(drive(range(&cols, &[], watermark), &want, &mut g, &what));
    }
    assert!(trees > 30, "the tree was used in {trees} cases of 60");
}

/// Memtable sources that need per-record checks (tombstones over parts of them,
/// records at or above the watermark) interleaved with segments.
#[test]
fn checked_sources_skip_invisible_records_in_the_tree() {
    let mut g = Rng(0x5DEE_CE66_D1CE_4E5B);
    let mut trees = 0;
    for case in 0..40 {
        let per = 100 + g.below(300) as usize;
        let cols = layout(&mut g, 4, 4, per);
        let total: u64 = cols.iter().map(|c| c.ts.len() as u64).sum();
        let top = cols.iter().filter_map(|c| c.ts.last()).max().copied().unwrap_or(0);
        let mut pieces = Vec::new();
        let mut t = g.below(50) as i64;
        while t < top {
            let w = g.below(60) as i64;
            pieces.push(Piece { lo: t, hi: t + w, seq: g.below(total + 1) });
            t += w + 1 + g.below(200) as i64;
        }
        let watermark = if case % 2 == 0 { total + 1 } else { total / 2 + g.below(total / 2 + 1) };
        let want = model(&cols, &pieces, watermark);
        let what = format!("case {case} ({} pieces, watermark {watermark})", pieces.len());
        trees += usize::from(drive(range(&cols, &pieces, watermark), &want, &mut g, &what));
    }
    assert!(trees > 20, "the tree was used in {trees} cases of 40");
}

/// Both ends take turns in runs long enough for each to build a tree: every
/// switch puts the other end's merged records back, and the ends meet in the
/// middle without overlap.
#[test]
fn the_two_ends_meet_with_trees_on_both_sides() {
    let mut g = Rng(0xD1B5_4A32_D192_ED03);
    for case in 0..20 {
        let cols = layout(&mut g, 8, 2, 300);
        let watermark = cols.iter().map(|c| c.ts.len() as u64).sum::<u64>() + 1;
        let want = model(&cols, &[], watermark);
        let mut r = range(&cols, &[], watermark);
        let (mut a, mut z) = (0, want.len());
        let mut back = case % 2 == 1;
        let mut both = [false; 2];
        while a < z {
            for _ in 0..20 + g.below(200) {
                let got = if back { r.next_back() } else { r.next() };
                let exp = expected(&want, &mut a, &mut z, back);
                assert_eq!(got.map(|(t, v)| (t, *v)), exp, "case {case}");
                both[0] |= r.merge().tree_on::<Front>();
                both[1] |= r.merge().tree_on::<Back>();
            }
            assert_eq!(r.remaining(), z - a, "case {case}");
            back = !back;
        }
        assert_eq!((r.next(), r.next_back()), (None, None));
        assert_eq!(both, [true, true], "case {case}: both ends used a tree");
    }
}

/// Keys that need a `u128` (a span of the whole `i64` range and sequence numbers
/// near the cap) order as the tuples do.
#[test]
fn wide_keys_order_as_the_tuples() {
    let mut g = Rng(0xA076_1D64_78BD_642F);
    let mut cols = layout(&mut g, 6, 3, 200);
    for c in &mut cols {
        for t in &mut c.ts {
            *t = t.wrapping_mul(1 << 40).wrapping_sub(i64::MAX / 2);
        }
        if c.mem {
            for s in &mut c.seq {
                *s += 1 << 60;
            }
        }
    }
    for c in &mut cols {
        let mut v: Vec<_> = (0..c.ts.len()).map(|j| (c.ts[j], c.seq[j], c.val[j])).collect();
        v.sort_unstable();
        c.ts = v.iter().map(|x| x.0).collect();
        c.seq = v.iter().map(|x| x.1).collect();
        c.val = v.iter().map(|x| x.2).collect();
        if c.packed.is_some() {
            c.packed = crate::packed::PackedTs::new(&c.ts);
        }
    }
    let watermark = (1 << 61) + 1;
    let want = model(&cols, &[], watermark);
    let mut r = range(&cols, &[], watermark);
    for _ in 0..100 {
        let _ = r.next();
    }
    assert!(r.merge().tree_on::<Front>() && r.merge().tree_wide());
    drive(range(&cols, &[], watermark), &want, &mut g, "wide");
    let got: Vec<_> = range(&cols, &[], watermark).map(|(t, v)| (t, *v)).collect();
    assert_eq!(got, want);
    let got: Vec<_> = range(&cols, &[], watermark).rev().map(|(t, v)| (t, *v)).collect();
    assert!(got.iter().rev().eq(want.iter()));
}

/// Regression: a scan over many short sources that follow one another (the L1
/// segments of a log whose windows hold few records) stepped over every exhausted
/// source at every pick, and built a loser tree over all of them every few picks
/// (short stretches were taken for interleaving): quadratic in the number of
/// sources. Picks now start past the exhausted sources, and a stretch that ends
/// with its source is not short.
#[test]
fn many_short_sources_in_a_row_are_picked_in_order_without_a_tree() {
    let layout: Vec<Vec<i64>> = (0..2000).map(|k| (0..3).map(|j| k * 10 + j).collect()).collect();
    let cols = seg_cols(&layout);
    let want = seg_model(&cols);
    assert_eq!(walk_short::<Front>(&cols), want);
    let mut back = walk_short::<Back>(&cols);
    back.reverse();
    assert_eq!(back, want);
}

/// Every record of `cols` in direction `D`, checking after each one that the
/// direction built no tree and starts its picks past the exhausted sources (of 3
/// records each).
fn walk_short<D: crate::merge::Dir>(cols: &[(Vec<i64>, Vec<i64>)]) -> Vec<(i64, i64)> {
    let mut r = seg_range(cols);
    let mut got = Vec::new();
    while let Some((t, v)) = if D::BACK { r.next_back() } else { r.next() } {
        got.push((t, *v));
        let m = r.merge();
        assert!(!m.tree_on::<D>(), "a tree after {} records (back: {})", got.len(), D::BACK);
        let at = m.skipped::<D>();
        assert!(
            at >= (got.len() - 1) / 3,
            "picks start at {at} after {} records (back: {})",
            got.len(),
            D::BACK
        );
    }
    got
}
