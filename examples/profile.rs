//! One-scenario drivers to run under `perf` or `time`: the canonical workload
//! (5 M records, 5 % out of order) with the default configuration.
//!
//! - `ingest N`: N ingests into fresh logs (background maintenance), each with its
//!   final `flush()`; compare process CPU (`/usr/bin/time`) or profile the
//!   `timelog-flush` threads.
//! - `scan N`: one compacted log, N full scans of each kind (values only; timestamps
//!   and values); prints the best rate of each.
//!
//! - `writers K N`: N ingests with K writer threads (writer `k` takes the batches
//!   `b` with `b % K == k`), background maintenance; prints per run the rate, the
//!   process CPU per record, the write amplification once settled and what the
//!   manifest holds.
//! - `settle N`: N two-writer ingests, each read right after its final `flush()`
//!   (patches and L0 still there), again once the background compactor has
//!   merged them (the log at rest for a second), and after `compact_now()`:
//!   median of 5 full scans, mean of 100,000 point lookups and of 10,000 ranges
//!   of 1,000 at random timestamps, and the records rewritten meanwhile.
//!
//! `cargo run --release --example profile -- ingest 10`

use std::time::Instant;

use timelog::Timelog;
use timelog_compare::workload::Workload;

fn ingest(w: &Workload) -> Timelog<u64> {
    let log: Timelog<u64> = Timelog::builder().build().expect("valid configuration");
    for (ts, vals) in w.batches() {
        let _ = log.append_columns(ts.to_vec(), vals.to_vec());
    }
    log.flush();
    log
}

/// CPU time of the whole process so far, in seconds.
fn process_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the 14th field.
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let f: Vec<f64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

/// Ingests `w` with `k` writer threads (writer `k` takes the batches `b` with
/// `b % K == k`), then `flush()`.
fn write_with(log: &Timelog<u64>, w: &Workload, k: usize) {
    std::thread::scope(|s| {
        for me in 0..k {
            s.spawn(move || {
                for (_, ts, vals) in w.writer_batches(me, k) {
                    let _ = log.append_columns(ts.to_vec(), vals.to_vec());
                }
            });
        }
    });
    log.flush();
}

fn run_writers(w: &Workload, k: usize) {
    let log: Timelog<u64> = Timelog::builder().build().expect("valid configuration");
    let (c0, t0) = (process_cpu(), Instant::now());
    write_with(&log, w, k);
    let secs = t0.elapsed().as_secs_f64();
    // Let background compaction finish what the ingest left.
    let mut last = u64::MAX;
    loop {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let st = log.stats();
        if st.compacted_records == last {
            break;
        }
        last = st.compacted_records;
    }
    let cpu = process_cpu() - c0;
    let st = log.stats();
    let n = w.ts.len() as f64;
    println!(
        "{k} writer(s): {:.1} M rec/s, CPU {:.1} ns/rec, amplification {:.2} (flushed {:.2}, compacted {:.2}), \
         {} flushes, {} compactions, L0 {} L1 {} patches {} (depth {}; written {:.2}/rec, adopted {:.2}/rec), \
         tidied {:.2}/rec, backpressure waits {}",
        n / secs / 1e6,
        cpu * 1e9 / n,
        (st.flushed_records + st.compacted_records) as f64 / n,
        st.flushed_records as f64 / n,
        st.compacted_records as f64 / n,
        st.flushes,
        st.compactions,
        st.l0_segments,
        st.l1_segments,
        st.patch_segments,
        st.patch_depth,
        st.patched_records as f64 / n,
        st.adopted_records as f64 / n,
        st.tidied_records as f64 / n,
        st.backpressure_waits
    );
}

/// Reads of `log` (of `n` records): the median full scan of timestamps and values
/// (M rec/s), the mean point lookup and range of 1,000 (ns).
fn reads(log: &Timelog<u64>, n: f64) -> (f64, f64, f64) {
    let snap = log.snapshot();
    let mut rates: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(snap.range(..).fold(0u64, |a, (ts, v)| a.wrapping_add(ts as u64 ^ *v)));
            n / t.elapsed().as_secs_f64() / 1e6
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    let (lo, hi) = (log.first_ts().unwrap_or(0), log.last_ts().unwrap_or(0));
    let mut r = 0x9E37_79B9_7F4A_7C15u64;
    let mut at = || {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        lo + (r % (hi - lo).max(1) as u64) as i64
    };
    let mut found = 0usize;
    let t = Instant::now();
    for _ in 0..100_000 {
        found += snap.point(at()).count();
    }
    let point = t.elapsed().as_secs_f64() * 1e9 / 100_000.0;
    let t = Instant::now();
    for _ in 0..10_000 {
        let ts = at();
        found += snap.range(ts..ts.saturating_add(1_000)).count();
    }
    let range = t.elapsed().as_secs_f64() * 1e9 / 10_000.0;
    std::hint::black_box(found);
    (rates[2], point, range)
}

fn run_settle(w: &Workload) {
    let log: Timelog<u64> = Timelog::builder().build().expect("valid configuration");
    write_with(&log, w, 2);
    let n = w.ts.len() as f64;
    let show = |when: &str, log: &Timelog<u64>| {
        let st = log.stats();
        let (scan, point, range) = reads(log, n);
        println!(
            "{when}: L0 {} L1 {} patches {}, compacted {:.2}/rec; scan {scan:.0} M rec/s, point {point:.0} ns, \
             range {range:.0} ns",
            st.l0_segments,
            st.l1_segments,
            st.patch_segments,
            st.compacted_records as f64 / n
        );
    };
    show("after the ingest", &log);
    let t = Instant::now();
    while log.stats().patch_segments + log.stats().l0_segments > 0 && t.elapsed().as_secs() < 30 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    show(&format!("at rest ({:.1} s later)", t.elapsed().as_secs_f64()), &log);
    log.compact_now();
    show("after compact_now", &log);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = || -> ! {
        eprintln!("usage: profile ingest|scan|settle N | profile writers K N");
        std::process::exit(2);
    };
    let mode = args.next().unwrap_or_else(|| usage());
    let writers = if mode == "writers" {
        args.next().and_then(|k| k.parse::<usize>().ok()).unwrap_or_else(|| usage())
    } else {
        1
    };
    let reps = match args.next().map(|n| n.parse::<usize>()) {
        Some(Ok(n))
            if n > 0 && writers > 0 && ["ingest", "scan", "writers", "settle"].contains(&mode.as_str()) =>
        {
            n
        }
        _ => usage(),
    };
    let w = Workload::new(5_000_000, 0.05);
    if mode == "writers" {
        for _ in 0..reps {
            run_writers(&w, writers);
        }
        return;
    }
    if mode == "settle" {
        for _ in 0..reps {
            run_settle(&w);
        }
        return;
    }
    if mode == "ingest" {
        for _ in 0..reps {
            drop(ingest(&w));
        }
        return;
    }
    let log = ingest(&w);
    log.compact_now();
    let snap = log.snapshot();
    let mut best = [f64::MAX; 2];
    let mut check = 0u64;
    for _ in 0..reps {
        let t = Instant::now();
        check = check.wrapping_add(snap.range(..).fold(0u64, |a, (_, v)| a.wrapping_add(*v)));
        best[0] = best[0].min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        check = check.wrapping_add(snap.range(..).fold(0u64, |a, (ts, v)| a.wrapping_add(ts as u64 ^ *v)));
        best[1] = best[1].min(t.elapsed().as_secs_f64());
    }
    let rate = |s: f64| w.ts.len() as f64 / s / 1e6;
    println!(
        "values only {:.1} M rec/s, timestamps and values {:.1} M rec/s (best of {reps}; check {check})",
        rate(best[0]),
        rate(best[1])
    );
}
