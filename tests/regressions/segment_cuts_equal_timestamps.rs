//! Compaction's cuts between L1 segments keep equal timestamps together.
//!
//! What it guards: compaction cuts a large window into several L1 segments; a cut
//! must never separate records of equal timestamps (the segments would overlap,
//! and a read that takes one segment per timestamp would lose or reorder
//! records), also when the records right at a cut are hidden by a delete, and the
//! order of equal timestamps must survive the cuts.
//!
//! How it came: written with the bulk copies of flush and compaction (records
//! copied in stretches between hidden ones instead of one by one), which changed
//! how compaction reaches its cut points; the history names no failure before it,
//! so this is a guard of that change rather than the reproduction of a report.

use timelog::{MaintenanceMode, Timelog};

#[test]
fn l1_segment_cuts_keep_equal_timestamps_together() {
    let log: Timelog<u64> = Timelog::builder()
        .target_page_bytes(256)
        .window_size(i64::MAX / 4)
        .maintenance(MaintenanceMode::Manual)
        .build()
        .unwrap();
    let n = 20_000u64;
    let recs: Vec<(i64, u64)> = (0..n).map(|i| ((i / 7) as i64, i)).collect();
    for chunk in recs.chunks(1000) {
        let _ = log.append_batch(chunk.iter().copied());
    }
    // Hide a few stretches, some straddling likely cut points.
    for k in 0..20i64 {
        log.delete_range(k * 140 + 130..k * 140 + 150).unwrap();
    }
    log.compact_now();
    log.validate().unwrap();
    let st = log.stats();
    assert!(st.l1_segments >= 4, "the window was cut into several segments: {st:?}");
    let want: Vec<(i64, u64)> = recs
        .iter()
        .copied()
        .filter(|&(t, _)| !(0..20).any(|k| (k * 140 + 130..k * 140 + 150).contains(&t)))
        .collect();
    assert_eq!(log.range_vec(..), want);
    let mut back = log.snapshot().range(..).rev().map(|(t, v)| (t, *v)).collect::<Vec<_>>();
    back.reverse();
    assert_eq!(back, want);
}
