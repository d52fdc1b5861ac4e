//! One range consumed from both ends at random, over every kind of source at once
//! (L1 and L0 segments, lane runs, late piles, batch runs, the skiplist) with
//! deletes, against the oracle (it covers the late-pile and sorted-source paths).

use timelog::{MaintenanceMode, Timelog};
use timelog_testkit::check::{same, scan_ends};
use timelog_testkit::gen::Rng;
use timelog_testkit::oracle::Oracle;

#[test]
fn front_and_back_interleaved_over_every_source_kind_match_the_oracle() {
    for seed in 1..300u64 {
        let mut r = Rng::new(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1);
        let log: Timelog<u64> = Timelog::builder()
            .maintenance(MaintenanceMode::Manual)
            .memtable_max_bytes(1 << 20)
            .build()
            .unwrap();
        let mut o = Oracle::new();
        let mut order = 0u64;
        let mut cur = 0i64;
        let steps = 5 + r.below(40);
        for _ in 0..steps {
            match r.below(10) {
                0..=3 => {
                    // a run of single appends, sometimes late
                    for _ in 0..r.below(30) {
                        cur += r.below(3) as i64;
                        let ts = if r.below(4) == 0 { cur - r.below(20) as i64 } else { cur };
                        log.append(ts, order);
                        o.append(ts, order);
                        order += 1;
                    }
                }
                4..=6 => {
                    // a batch: nearly sorted around a random base (overlapping others)
                    let base = cur - r.below(50) as i64;
                    let n = 16 + r.below(40) as usize;
                    let mut b: Vec<(i64, u64)> = Vec::new();
                    let mut t = base;
                    for _ in 0..n {
                        t += r.below(3) as i64;
                        let ts = if r.below(6) == 0 { t - r.below(10) as i64 } else { t };
                        b.push((ts, order));
                        order += 1;
                    }
                    o.append_batch(b.clone());
                    log.append_batch(b);
                }
                7 => {
                    let a = cur - r.below(60) as i64;
                    let z = a + r.below(10) as i64;
                    let _ = log.delete_range(a..=z);
                    o.delete(a..=z);
                }
                8 => log.flush(),
                _ => {
                    if r.below(3) == 0 {
                        log.compact_now();
                    }
                }
            }
        }
        let want = o.view();
        let snap = log.snapshot();
        for trial in 0..20 {
            let lo = cur - r.below(200) as i64;
            let hi = lo + r.below(200) as i64;
            let got = scan_ends(&snap, lo..=hi, || r.below(2) == 0);
            same(format_args!("seed {seed} trial {trial}"), &got, &want.range(lo..=hi)).unwrap();
        }
        log.validate().unwrap();
    }
}
