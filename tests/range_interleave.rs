//! One range consumed from both ends at random, over every kind of source at once
//! (L1 and L0 segments, lane runs, late piles, batch runs, the skiplist) with
//! deletes, against a sorted-vector oracle. (Contributed by the review of the
//! late-pile and sorted-source changes.)

use timelog::{MaintenanceMode, Timelog};
use timelog_compare::workload::XorShift64;

/// The workload's generator, with a bounded draw.
struct Rng(XorShift64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0.next_u64() % n
    }
}

#[test]
fn front_and_back_interleaved_over_every_source_kind_match_the_oracle() {
    for seed in 1..300u64 {
        let mut r = Rng(XorShift64::new(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1));
        let log: Timelog<u64> = Timelog::builder()
            .maintenance(MaintenanceMode::Manual)
            .memtable_max_bytes(1 << 20)
            .build()
            .unwrap();
        // oracle: (ts, write order, value, alive)
        let mut recs: Vec<(i64, u64, u64, bool)> = Vec::new();
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
                        recs.push((ts, order, order, true));
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
                        recs.push((ts, order, order, true));
                        order += 1;
                    }
                    log.append_batch(b);
                }
                7 => {
                    let a = cur - r.below(60) as i64;
                    let z = a + r.below(10) as i64;
                    let _ = log.delete_range(a..=z);
                    for x in recs.iter_mut() {
                        if x.0 >= a && x.0 <= z {
                            x.3 = false;
                        }
                    }
                }
                8 => log.flush(),
                _ => {
                    if r.below(3) == 0 {
                        log.compact_now();
                    }
                }
            }
        }
        let mut want: Vec<(i64, u64)> = recs.iter().filter(|x| x.3).map(|x| (x.0, x.2)).collect();
        want.sort_by_key(|&(t, _)| t); // stable: write order within equal ts
        let snap = log.snapshot();
        for trial in 0..20 {
            let lo = cur - r.below(200) as i64;
            let hi = lo + r.below(200) as i64;
            let want: Vec<(i64, u64)> = want.iter().copied().filter(|x| x.0 >= lo && x.0 <= hi).collect();
            let mut it = snap.range(lo..=hi);
            let (mut f, mut b) = (Vec::new(), Vec::new());
            loop {
                let front = r.below(2) == 0;
                let x = if front { it.next() } else { it.next_back() };
                match x {
                    Some((t, v)) => {
                        if front {
                            f.push((t, *v))
                        } else {
                            b.push((t, *v))
                        }
                    }
                    None => break,
                }
            }
            b.reverse();
            f.extend(b);
            assert_eq!(f, want, "seed {seed} trial {trial}");
        }
        log.validate().unwrap();
    }
}
