//! Packed columns against the plain column.

use super::*;
use proptest::prelude::*;

/// Packs `ts` (sorted) and checks every access path against the plain column.
fn roundtrip(ts: &[i64]) -> PackedTs {
    let p = PackedTs::new(ts).unwrap();
    p.validate().unwrap();
    assert_eq!(p.len(), ts.len());
    assert_eq!(p.to_vec(), ts);
    for (j, &t) in ts.iter().enumerate() {
        assert_eq!(p.get(j), t, "get({j})");
    }
    // Searches from every block edge and inside blocks, for present and absent keys.
    let n = ts.len();
    let cuts: Vec<usize> =
        (0..=n).filter(|&i| i % BLOCK < 2 || i % BLOCK > BLOCK - 3 || i % 37 == 0).collect();
    for &t in ts.iter().step_by(n / 16 + 1).chain(&[i64::MIN, i64::MAX]) {
        for t in [t, t.saturating_sub(1), t.saturating_add(1)] {
            for (&lo, &hi) in cuts.iter().zip(cuts.iter().rev()).filter(|(a, b)| a <= b) {
                let want = lo + ts[lo..hi].partition_point(|&x| x < t);
                assert_eq!(p.partition_point(lo, hi, |x| x < t), want, "partition_point({lo}, {hi}, < {t})");
            }
        }
    }
    for (a, b) in [(0, ts.len()), (1, ts.len()), (0, ts.len().saturating_sub(1)), (ts.len() / 2, ts.len())] {
        if a <= b {
            let mut out = vec![7];
            p.decode_range(a, b, &mut out);
            assert_eq!(out[1..], ts[a..b], "decode_range({a}, {b})");
        }
    }
    check_windows(&p, ts);
    p
}

/// Decodes windows of 1, 2, 3 and 8 blocks from every block and checks every
/// way of reading them against the plain column.
fn check_windows(p: &PackedTs, ts: &[i64]) {
    let mut win = Window::default();
    for b0 in 0..p.blocks() {
        for k in [1, 2, 3, 8] {
            let b1 = (b0 + k).min(p.blocks());
            p.decode_window(b0, b1, &mut win);
            let (a, z) = (b0 * BLOCK, (b1 * BLOCK).min(ts.len()));
            assert_eq!((win.base(), win.len()), (a, z - a), "window of blocks {b0}..{b1}");
            assert_eq!(win.is_narrow(), (b0..b1).all(|b| p.width(b) != RAW), "narrow iff no raw block");
            for (j, &t) in ts.iter().enumerate().take(z).skip(a) {
                assert_eq!(win.get(j), t, "window {b0}..{b1}, record {j}");
            }
            // Sub-ranges that start and end inside blocks and on their edges.
            let cuts: Vec<usize> = [a, a + 1, a + 127, a + 128, a + 129, z - 1, z]
                .into_iter()
                .filter(|&c| a <= c && c <= z)
                .collect();
            for &lo in &cuts {
                for &hi in cuts.iter().filter(|&&hi| lo <= hi) {
                    let w = win.slice(lo..hi);
                    let want = &ts[lo..hi];
                    let mut out = vec![];
                    w.extend_into(&mut out);
                    assert_eq!(out, want, "extend_into {lo}..{hi}");
                    assert!((0..hi - lo).all(|i| w.get(i) == want[i]), "get in {lo}..{hi}");
                    if let WinTs::Narrow(o) = w {
                        for back in [false, true] {
                            let mut seen = vec![None; hi - lo];
                            let mut froms = vec![];
                            o.blocks(back, (), |(), fence, offs, from| {
                                froms.push(from);
                                for (i, &x) in offs.iter().enumerate() {
                                    assert!(seen[from + i].is_none(), "index {} twice", from + i);
                                    seen[from + i] = Some(fence.wrapping_add(i64::from(x)));
                                }
                            });
                            let got: Vec<i64> = seen.into_iter().map(|t| t.expect("every index")).collect();
                            assert_eq!(got, want, "blocks(back: {back}) {lo}..{hi}");
                            let ordered =
                                froms.windows(2).all(|f| if back { f[0] > f[1] } else { f[0] < f[1] });
                            assert!(ordered, "shares in order (back: {back}): {froms:?}");
                        }
                    }
                }
            }
        }
    }
}

/// A block of 128 timestamps from `base` whose offsets are `f(k)`.
fn block(base: i64, f: impl Fn(u64) -> u64) -> Vec<i64> {
    (0..BLOCK as u64).map(|k| base.wrapping_add(f(k) as i64)).collect()
}

#[test]
fn every_width_round_trips_at_its_exact_span() {
    for w in 0..=64u32 {
        // The span is exactly 2^w - 1: the widest offset needs all `w` bits.
        let max = if w == 64 { u64::MAX } else { (1u64 << w) - 1 };
        let ts = block(i64::MIN, |k| if k == BLOCK as u64 - 1 { max } else { max / 128 * k });
        let p = roundtrip(&ts);
        let want = if w > 32 { RAW } else { w as u8 };
        assert_eq!(p.width(0), want, "span 2^{w} - 1");
        // One more than the span fits: the next width.
        if w < 64 {
            let ts = block(-5, |k| if k == BLOCK as u64 - 1 { max + 1 } else { k.min(max + 1) });
            let p = roundtrip(&ts);
            assert_eq!(p.width(0), if w + 1 > 32 { RAW } else { w as u8 + 1 }, "span 2^{w}");
        }
    }
}

#[test]
fn edge_blocks() {
    // One record; all equal; the whole axis in one block; i64::MIN and MAX.
    roundtrip(&[42]);
    roundtrip(&[i64::MIN]);
    roundtrip(&[i64::MAX]);
    let p = roundtrip(&[7; 300]);
    assert!((0..p.blocks()).all(|b| p.width(b) == 0));
    assert!(p.data.is_empty());
    let p = roundtrip(&[i64::MIN, -1, 0, 1, i64::MAX]);
    assert_eq!(p.width(0), RAW);
    let p = roundtrip(&[i64::MAX - 3, i64::MAX - 1, i64::MAX, i64::MAX]);
    assert_eq!(p.width(0), 2);
    roundtrip(&[]);
    // Block boundaries: 127, 128, 129 records; a short last block of one.
    for n in [127, 128, 129, 255, 256, 257] {
        roundtrip(&(0..n as i64).map(|i| i * 1000).collect::<Vec<_>>());
    }
    // Blocks of different modes in one column.
    let mut ts = vec![0; 128];
    ts.extend(block(1 << 40, |k| k * 3));
    ts.extend(block(1 << 50, |k| k << 40));
    ts.extend([i64::MAX; 3]);
    let p = roundtrip(&ts);
    assert_eq!([p.width(0), p.width(1), p.width(2), p.width(3)], [0, 9, RAW, 0]);
}

#[test]
fn realistic_nanosecond_arrivals_pack_below_four_bytes() {
    // Arrivals about 10 µs apart: blocks span about 1.3 ms, 21 bits.
    let mut t = 1_700_000_000_000_000_000i64;
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let ts: Vec<i64> = (0..100_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            t += (x % 20_000) as i64;
            t
        })
        .collect();
    let p = roundtrip(&ts);
    let per = p.bytes() as f64 / ts.len() as f64;
    assert!(per < 3.0, "{per} bytes per timestamp");
}

proptest! {
    #[test]
    fn packed_columns_match_the_plain_column(
        mut ts in proptest::collection::vec(prop_oneof![
            any::<i64>(),
            -300i64..300,
            Just(i64::MIN),
            Just(i64::MAX),
            (0i64..1 << 33),
        ], 0..700),
    ) {
        ts.sort_unstable();
        roundtrip(&ts);
    }
}
