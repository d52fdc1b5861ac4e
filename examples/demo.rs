//! The main job: ingest the canonical workload (`timelog_compare::workload`, 5 % out of
//! order) and exercise every part of the engine, printing what it did and how
//! fast. `cargo run --release --example demo -- [--records N]`.

use std::hint::black_box;
use std::time::Instant;

use timelog::Timelog;
use timelog_compare::workload::{Workload, XorShift64};

fn rate(n: usize, secs: f64) -> String {
    format!("{:.1} M rec/s", n as f64 / secs / 1e6)
}

fn main() {
    let mut n = 5_000_000usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--records" => n = args.next().and_then(|v| v.parse().ok()).expect("--records N"),
            "-h" | "--help" => {
                println!("usage: demo [--records N]   (default 5,000,000)");
                return;
            }
            other => panic!("unknown argument {other:?}; try --help"),
        }
    }
    println!("timelog-engine demo: {n} records, canonical workload, 5 % out of order");
    let w = Workload::new(n, 0.05);
    println!("  generator: {} records arrive out of order", w.moved_back);

    // 1. Batch ingest (batches of 4096) + final flush.
    let log: Timelog<u64> = Timelog::new();
    let t = Instant::now();
    for (ts, vals) in w.batches() {
        let _ = log.append_columns(ts.to_vec(), vals.to_vec());
    }
    log.flush();
    let secs = t.elapsed().as_secs_f64();
    println!("batch ingest + flush     : {:>14}  ({n} records in {:.3} s)", rate(n, secs), secs);

    // 2. Single appends + final flush, into a second log.
    let single: Timelog<u64> = Timelog::new();
    let t = Instant::now();
    for (&ts, &v) in w.ts.iter().zip(&w.values) {
        let _ = single.append(ts, v);
    }
    single.flush();
    let secs = t.elapsed().as_secs_f64();
    println!("single append + flush    : {:>14}", rate(n, secs));
    assert_eq!(single.len(), n, "every single append is visible");
    drop(single);

    // 3. Compaction, then a full scan.
    let t = Instant::now();
    log.compact_now();
    println!("compaction               : {:>11.3} s", t.elapsed().as_secs_f64());
    let snap = log.snapshot();
    let t = Instant::now();
    let mut sum = 0u64;
    let mut count = 0usize;
    for (_, v) in snap.range(..) {
        sum = sum.wrapping_add(*v);
        count += 1;
    }
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(count, n);
    assert_eq!(sum, (n as u64) * (n as u64 + 1) / 2);
    println!("full scan                : {:>14}  (sum of values checks out)", rate(n, secs));
    let t = Instant::now();
    let back = snap.range(..).rev().count();
    println!("reverse scan             : {:>14}", rate(back, t.elapsed().as_secs_f64()));

    // 4. Range queries [t, t + 1000).
    let mut rng = XorShift64::new(777);
    let max = *w.ts.iter().max().unwrap();
    let q = 10_000;
    let t = Instant::now();
    let mut got = 0usize;
    for _ in 0..q {
        let a = 1 + (rng.next_u64() % max as u64) as i64;
        got += snap.range(a..a + 1000).fold(0usize, |n, (_, v)| {
            black_box(v);
            n + 1
        });
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "range [t, t+1000)        : {:>11.2} us/query  ({} records per query)",
        secs * 1e6 / q as f64,
        got / q
    );

    // 5. Point lookups of existing timestamps.
    let q = 100_000;
    let t = Instant::now();
    let mut hits = 0usize;
    for _ in 0..q {
        let i = (rng.next_u64() % n as u64) as usize;
        hits += snap.point(w.ts[i]).count();
    }
    let secs = t.elapsed().as_secs_f64();
    assert!(hits >= q);
    println!("point lookup             : {:>11.0} ns/lookup", secs * 1e9 / q as f64);

    // 6. Navigation both ways.
    let t = Instant::now();
    let mut x = snap.first_ts();
    for _ in 0..10_000 {
        x = x.and_then(|v| snap.next_ts(v));
    }
    let mut y = snap.last_ts();
    for _ in 0..10_000 {
        y = y.and_then(|v| snap.prev_ts(v));
    }
    println!(
        "next_ts/prev_ts          : {:>11.0} ns/call  (first {:?}, last {:?})",
        t.elapsed().as_secs_f64() * 1e9 / 20_000.0,
        snap.first_ts(),
        snap.last_ts()
    );
    drop(snap);

    // 7. Deletes: 1,000 ranges of width 100, then a full scan.
    let t = Instant::now();
    for _ in 0..1000 {
        let a = 1 + (rng.next_u64() % max as u64) as i64;
        log.delete_range(a..a + 100).expect("valid range");
    }
    let secs = t.elapsed().as_secs_f64();
    let left = log.len();
    println!(
        "delete_range             : {:>11.0} ns/call  ({} records left visible)",
        secs * 1e9 / 1000.0,
        left
    );
    let snap = log.snapshot();
    let t = Instant::now();
    let c = snap.range(..).fold(0usize, |n, (_, v)| {
        black_box(v);
        n + 1
    });
    println!("scan after deletes       : {:>14}", rate(c, t.elapsed().as_secs_f64()));
    drop(snap);

    // 8. A snapshot taken while another thread writes never changes.
    let snap = log.snapshot();
    let before = snap.count(..);
    let extra = 1_000_000usize;
    let t = Instant::now();
    let (scans, writer_secs) = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let t = Instant::now();
            let base = max + 1;
            for chunk in 0..(extra / 4096) {
                let ts: Vec<i64> = (0..4096).map(|i| base + (chunk * 4096 + i) as i64).collect();
                let _ = log.append_columns(ts, vec![1; 4096]);
            }
            t.elapsed().as_secs_f64()
        });
        let mut scans = 0;
        while !writer.is_finished() {
            assert_eq!(snap.range(..).count(), before, "the snapshot never changes");
            scans += 1;
        }
        (scans, writer.join().unwrap())
    });
    let written = extra / 4096 * 4096;
    println!(
        "snapshot while writing   : {scans} full scans of the pinned snapshot stayed at {before} records while a writer added {written} ({}) in {:.3} s",
        rate(written, writer_secs),
        t.elapsed().as_secs_f64()
    );
    assert_eq!(log.len(), left + written);

    log.flush();
    let st = log.stats();
    println!(
        "stats: {} L0 + {} L1 segments, {} pages, {} visible records, {} tombstones, {} seals, {} flushes, {} compactions, ~{:.1} MiB",
        st.l0_segments,
        st.l1_segments,
        st.pages,
        st.records,
        st.tombstones,
        st.seals,
        st.flushes,
        st.compactions,
        st.memory_bytes as f64 / (1 << 20) as f64
    );
    log.validate().expect("invariants hold");
    println!("validate(): ok");
}
