//! L1 segments keep their timestamps packed in blocks of 128 (frame of reference,
//! bit-packed offsets or a raw block; see `docs/architecture.md`, "Segment
//! format"). Columns that exercise every block mode and its edges go through
//! compaction and are read back as the oracle has them: scans from both ends and
//! alternating, ranges whose bounds land on every position of a block, point
//! probes, navigation, owning cursors, batch fills and the storage view.

use timelog::{Level, MaintenanceMode, Timelog};
use timelog_testkit::check::{alternate, pattern, Expect};
use timelog_testkit::oracle::Oracle;

const BLOCK: usize = 128;

/// Columns that cover the block modes: all equal (width 0), one record, a short
/// last block of one, spans exactly at a width and one past it (bit-packed up to
/// 32 bits, raw beyond), `i64::MIN` and `i64::MAX` in one block, realistic
/// nanosecond arrivals, and duplicates across a block edge.
fn columns() -> Vec<(&'static str, Vec<i64>)> {
    let mut out = vec![
        ("all equal", vec![5; 1000]),
        ("one record", vec![42]),
        ("a block and one", (0..129).map(|i| i * 3).collect()),
        ("both ends of i64 in one block", {
            let mut v = vec![i64::MIN, i64::MIN, i64::MIN + 1, -1, 0, 0, 1, i64::MAX - 1, i64::MAX, i64::MAX];
            v.extend((0..300).map(|i| i * 1_000_000_007));
            v
        }),
        ("duplicates across block edges", (0..1000).map(|i| i / 7 * 7).collect()),
    ];
    // Per width `w`: a block whose span is exactly `2^w - 1`, then one whose span
    // is `2^w` (the next width), then one step of the same shape further on.
    for w in [1u32, 7, 8, 20, 31, 32, 33, 40, 62] {
        let max = (1i64 << w) - 1;
        let mut v = Vec::new();
        for (k, span) in [max, max + 1, max].into_iter().enumerate() {
            let base = (k as i64) << 63.min(w + 2);
            v.extend((0..BLOCK as i64).map(|i| base + span / (BLOCK as i64 - 1) * i));
            *v.last_mut().unwrap() = base + span;
        }
        v.sort_unstable();
        out.push(("exact width", v));
    }
    let mut t = 1_700_000_000_000_000_000i64;
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    out.push((
        "nanosecond arrivals",
        (0..5000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                t += (x % 20_000) as i64;
                t
            })
            .collect(),
    ));
    out
}

/// The timestamps to probe and bound ranges with: every record of the first two
/// blocks and of the last one, both sides of every block edge, and the
/// neighbours of each (clamped to `i64`).
fn probes(ts: &[i64]) -> Vec<i64> {
    let n = ts.len();
    let mut at: Vec<usize> = (0..n.min(2 * BLOCK)).chain(n.saturating_sub(BLOCK)..n).collect();
    for e in (BLOCK..n).step_by(BLOCK) {
        at.extend([e - 2, e - 1, e, e + 1].into_iter().filter(|&j| j < n));
    }
    let mut p: Vec<i64> =
        at.into_iter().flat_map(|j| [ts[j].saturating_sub(1), ts[j], ts[j].saturating_add(1)]).collect();
    p.extend([i64::MIN, i64::MAX]);
    p.sort_unstable();
    p.dedup();
    p
}

#[test]
fn packed_l1_columns_read_as_the_oracle_has_them() {
    for (what, ts) in columns() {
        let log: Timelog<u32> = Timelog::builder().maintenance(MaintenanceMode::Manual).build().unwrap();
        let mut o = Oracle::new();
        // Arrival order: reversed halves, so compaction sorts.
        let mut batch: Vec<(i64, u32)> = ts.iter().enumerate().map(|(i, &t)| (t, i as u32)).collect();
        let half = batch.len() / 2;
        batch[..half].reverse();
        o.append_batch(batch.clone());
        let _ = log.append_batch(batch);
        log.compact_now();
        log.validate().unwrap_or_else(|e| panic!("{what}: {e}"));
        let snap = log.snapshot();
        let pages = snap.segment_pages(..);
        assert!(pages.iter().all(|p| p.level() == Level::L1 && p.is_packed()), "{what}: every page packed");
        let want = o.view();
        let e = Expect::new(&snap, &want, u32::clone);
        e.whole().unwrap_or_else(|e| panic!("{what}: {e}"));
        e.pages(.., |v| Some(ts[*v as usize]), true).unwrap_or_else(|e| panic!("{what}: {e}"));
        let p = probes(&want.records().iter().map(|r| r.0).collect::<Vec<_>>());
        for &t in &p {
            e.probe(t).unwrap_or_else(|e| panic!("{what}: {e}"));
        }
        // Ranges from each probe to a few later ones: bounds on every position of
        // the probed blocks, walked from the front, the back and both ends.
        for (i, &a) in p.iter().enumerate() {
            for &b in p[i..].iter().step_by(7).take(6) {
                e.range(a..b, alternate()).unwrap_or_else(|e| panic!("{what}: {e}"));
                e.range(a..=b, pattern(0b1101_0010)).unwrap_or_else(|e| panic!("{what}: {e}"));
            }
        }
        e.cursor(.., alternate()).unwrap_or_else(|e| panic!("{what}: {e}"));
        e.cursor(p[p.len() / 3].., pattern(0b0111_0001)).unwrap_or_else(|e| panic!("{what}: {e}"));
        // Batch fills from both ends, in sizes that cross the decoded windows.
        for step in [1, 127, 1000, 4096] {
            let mut cur = snap.clone().into_cursor(..);
            let (mut front, mut back) = (Vec::new(), Vec::new());
            loop {
                let a = cur.fill_front(step, |t, v| front.push((t, *v)));
                let b = cur.fill_back(step / 2 + 1, |t, v| back.push((t, *v)));
                if a + b == 0 {
                    break;
                }
            }
            back.reverse();
            front.extend(back);
            assert_eq!(front, want.records(), "{what}: fills of {step}");
        }
    }
}

#[test]
fn compressed_l1_holds_a_fraction_of_the_plain_bytes() {
    // Microsecond spacing in nanoseconds: blocks span 127,000 ns, 17-bit offsets
    // (2.1 bytes a timestamp, with the block headers 2.2): about 10.5 bytes a
    // record with the 8-byte values and the search index, against 16.25 plain.
    let log: Timelog<u64> = Timelog::builder().maintenance(MaintenanceMode::Manual).build().unwrap();
    let n = 250_000i64;
    let _ = log.append_batch((0..n).map(|i| (1_700_000_000_000_000_000 + i * 1_000, i as u64)));
    log.flush();
    let plain = log.stats().memory_bytes;
    log.compact_now();
    let packed = log.stats().memory_bytes;
    let per = packed as f64 / n as f64;
    assert!(per < 11.0, "{per} bytes per record in L1 (plain L0: {})", plain as f64 / n as f64);
    assert!(plain as f64 / n as f64 >= 16.0);
}
