//! Retention soak: a log run the way most time logs are run — append forever,
//! drop everything older than a horizon — printing the process's RSS and the
//! log's layers every few seconds. RSS is sampled every 50 ms. Exits non-zero
//! when memory is not flat:
//!
//! - growth: the median RSS of the last fifth of the run is above `--limit`
//!   (1.25) times the median of the second fifth (the first fifth is warm-up).
//!   Two equal windows, compared by their medians: RSS swings by ±20 % as the
//!   allocator takes and returns segment memory, so a single sample or a peak
//!   against a trough would flag noise, while a leak moves the median;
//! - peaks: the largest sample of the second half is above `--peak-limit`
//!   (1.75) times that same second-fifth median.
//!
//! ```sh
//! cargo run --release --example retention -- --secs 600
//! cargo run --release --example retention -- --secs 20 --live 1000000 --payload 16 --delete-every 65536
//! ```
//!
//! Flags (all optional): `--secs N` (run time, default 30), `--live N` (records
//! kept in the window, default 2,000,000), `--payload N` (bytes of each record's
//! `Vec<u8>` payload, default 16), `--delete-every N` (appends between two
//! `delete_before` calls, default 65,536), `--batch N` (append in batches of N
//! records; 0, the default, appends one record at a time), `--report N` (seconds
//! between reports, default 2), `--limit X` (the growth ratio, default 1.25),
//! `--peak-limit X` (the peak ratio, default 1.75), `--leak MIB` (leak MIB of
//! touched memory per second on purpose, to see the check fail),
//! `--export` (with the cargo feature `arrow`: after every delete, export the
//! records appended since the one before as Arrow batches and hold the last four
//! exports, so that exported buffers pin segments the log has dropped; the
//! `pinned` column shows what they hold, and RSS must stay flat all the same),
//! `--reads` (at the end, time full scans, ranges and point lookups over the
//! churned log against a freshly built log holding the same records).

use std::time::{Duration, Instant};

use timelog::Timelog;

struct Args {
    secs: f64,
    live: i64,
    payload: usize,
    delete_every: i64,
    batch: usize,
    report: f64,
    limit: f64,
    peak_limit: f64,
    leak: f64,
    reads: bool,
    export: bool,
}

fn parse() -> Args {
    let mut a = Args {
        secs: 30.0,
        live: 2_000_000,
        payload: 16,
        delete_every: 65_536,
        batch: 0,
        report: 2.0,
        limit: 1.25,
        peak_limit: 1.75,
        leak: 0.0,
        reads: false,
        export: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || -> String {
            it.next().unwrap_or_else(|| {
                eprintln!("retention: {flag} needs a value");
                std::process::exit(2)
            })
        };
        let num = |s: String| -> f64 {
            s.replace('_', "").parse().unwrap_or_else(|_| {
                eprintln!("retention: {flag}: {s:?} is not a number");
                std::process::exit(2)
            })
        };
        match flag.as_str() {
            "--secs" => a.secs = num(val()),
            "--live" => a.live = num(val()) as i64,
            "--payload" => a.payload = num(val()) as usize,
            "--delete-every" => a.delete_every = num(val()) as i64,
            "--batch" => a.batch = num(val()) as usize,
            "--report" => a.report = num(val()),
            "--limit" => a.limit = num(val()),
            "--peak-limit" => a.peak_limit = num(val()),
            "--leak" => a.leak = num(val()),
            "--reads" => a.reads = true,
            "--export" => a.export = true,
            "-h" | "--help" => {
                println!(
                    "usage: retention [--secs N] [--live N] [--payload BYTES] [--delete-every N] \
                     [--batch N] [--report SECS] [--limit RATIO] [--peak-limit RATIO] [--leak MIB] [--reads] [--export]"
                );
                std::process::exit(0)
            }
            other => {
                eprintln!("retention: unknown flag {other} (try --help)");
                std::process::exit(2)
            }
        }
    }
    if a.secs <= 0.0
        || a.live <= 0
        || a.delete_every <= 0
        || a.report <= 0.0
        || a.limit <= 1.0
        || a.peak_limit <= 1.0
    {
        eprintln!(
            "retention: --secs, --live, --delete-every and --report must be positive, --limit and --peak-limit above 1"
        );
        std::process::exit(2)
    }
    a
}

/// Resident set size of this process, in bytes.
fn rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

fn main() {
    let a = parse();
    if a.export && !cfg!(feature = "arrow") {
        eprintln!("retention: --export needs the cargo feature `arrow` (--features arrow)");
        std::process::exit(2);
    }
    let log: Timelog<Vec<u8>> = Timelog::new();
    let mut exports = Exports::default();
    let payload = vec![7u8; a.payload];
    println!(
        "retention soak: {} s, live window {} records, {}-byte payloads, delete_before every {} appends, {}",
        a.secs,
        a.live,
        a.payload,
        a.delete_every,
        if a.batch == 0 { "single appends".to_string() } else { format!("batches of {}", a.batch) }
    );
    // Bytes the live records need at least: timestamp + Vec header + the heap
    // block of the payload (glibc: payload + 8-byte header, rounded up to 16,
    // at least 32; none for an empty payload).
    let block = if a.payload == 0 { 0 } else { ((a.payload as u64 + 8).div_ceil(16) * 16).max(32) };
    let live_bytes = a.live as u64 * (8 + 24 + block);
    println!("live data: about {:.0} MiB (ts + Vec header + payload block)", mib(live_bytes));
    println!(
        "{:>7} {:>9} {:>10} {:>10} {:>7} {:>4} {:>5} {:>6} {:>10} {:>10} {:>5} {:>10}",
        "secs",
        "rss MiB",
        "live",
        "dead",
        "appends",
        "L0",
        "L1",
        "tombs",
        "engine MiB",
        "dead MiB",
        "w-amp",
        "pinned MiB"
    );
    let start = Instant::now();
    let total = Duration::from_secs_f64(a.secs);
    let mut next_report = a.report;
    let mut samples: Vec<(f64, u64)> = Vec::new();
    let mut next_sample = 0.0;
    let mut ts: i64 = 0;
    let mut since_delete: i64 = 0;
    let mut batch: Vec<(i64, Vec<u8>)> = Vec::with_capacity(a.batch);
    loop {
        // Write a slice of records, then look at the clock.
        for _ in 0..4096 {
            if a.batch == 0 {
                let _ = log.append(ts, payload.clone());
            } else {
                batch.push((ts, payload.clone()));
                if batch.len() == a.batch {
                    let _ = log.append_batch(std::mem::take(&mut batch));
                    batch.reserve(a.batch);
                }
            }
            ts += 1;
            since_delete += 1;
            if since_delete >= a.delete_every {
                since_delete = 0;
                log.delete_before(ts - a.live).expect("a non-empty range");
                if a.export {
                    exports.export(&log, ts - a.delete_every..ts);
                }
            }
        }
        let t = start.elapsed().as_secs_f64();
        if t >= next_sample {
            next_sample = t + 0.05;
            if a.leak > 0.0 {
                // The deliberate leak: touched, so it is resident.
                std::mem::forget(vec![1u8; (a.leak * 0.05 * (1 << 20) as f64) as usize]);
            }
            samples.push((t, rss()));
        }
        if t >= next_report || t >= total.as_secs_f64() {
            let since = next_report - a.report;
            next_report += a.report;
            let st = log.stats();
            // The largest sample of this report interval.
            let r = samples
                .iter()
                .rev()
                .take_while(|(at, _)| *at >= since)
                .map(|s| s.1)
                .max()
                .unwrap_or_else(rss);
            println!(
                "{:>7.1} {:>9.1} {:>10} {:>10} {:>6.1}M {:>4} {:>5} {:>6} {:>10.1} {:>10.1} {:>5.2} {:>10.1}",
                t,
                mib(r),
                st.records,
                st.dead_records,
                ts as f64 / 1e6,
                st.l0_segments,
                st.l1_segments,
                st.tombstones,
                mib(st.memory_bytes as u64),
                mib(st.dead_bytes as u64),
                (st.flushed_records + st.compacted_records) as f64 / ts.max(1) as f64,
                mib(st.pinned_bytes as u64),
            );
        }
        if t >= total.as_secs_f64() {
            break;
        }
    }
    let end = a.secs;
    let verdict = flatness(&samples, end, a.limit, a.peak_limit);
    println!("{}", verdict.line);
    println!(
        "{:.1} M appends, {:.1} M rec/s",
        ts as f64 / 1e6,
        ts as f64 / 1e6 / start.elapsed().as_secs_f64()
    );
    let last = samples.last().map(|s| s.1).unwrap_or(0);
    println!("final rss / live data: {:.2}x", last as f64 / live_bytes.max(1) as f64);
    if a.reads {
        compare_reads(&log);
    }
    if !verdict.ok {
        println!("FAIL: memory is not flat");
        std::process::exit(1);
    }
    println!("ok: memory is flat");
}

/// The Arrow exports `--export` holds: the last four, so that their buffers pin
/// segments the log has already dropped or rewritten.
#[derive(Default)]
struct Exports {
    #[cfg(feature = "arrow")]
    held: std::collections::VecDeque<Vec<arrow_array::RecordBatch>>,
    /// Rows exported, checked against the log's count of the same range.
    #[cfg(feature = "arrow")]
    rows: u64,
}

impl Exports {
    #[cfg(feature = "arrow")]
    fn export(&mut self, log: &Timelog<Vec<u8>>, r: std::ops::Range<i64>) {
        let snap = log.snapshot();
        let want = snap.count(r.clone());
        let batches: Vec<_> = snap
            .record_batches(r, &timelog::arrow::ExportOptions::new())
            .collect::<Result<_, _>>()
            .expect("an export of the log");
        let got: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(got, want, "an export lost or added rows");
        self.rows += got as u64;
        self.held.push_back(batches);
        if self.held.len() > 4 {
            self.held.pop_front();
        }
    }

    #[cfg(not(feature = "arrow"))]
    fn export(&mut self, _: &Timelog<Vec<u8>>, _: std::ops::Range<i64>) {
        unreachable!("--export is refused without the feature");
    }
}

/// The outcome of the flatness rule (see the file's doc comment).
struct Verdict {
    ok: bool,
    line: String,
}

fn median(mut v: Vec<u64>) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[v.len() / 2]
}

/// Applies the flatness rule to `(seconds, rss)` samples of a run of `end` seconds.
fn flatness(samples: &[(f64, u64)], end: f64, limit: f64, peak_limit: f64) -> Verdict {
    let within = |lo: f64, hi: f64| {
        samples.iter().filter(|(t, _)| *t >= lo && *t < hi).map(|s| s.1).collect::<Vec<_>>()
    };
    let base = median(within(end / 5.0, 2.0 * end / 5.0)).max(1);
    let last = median(within(4.0 * end / 5.0, f64::INFINITY));
    let peak = within(end / 2.0, f64::INFINITY).into_iter().max().unwrap_or(0);
    let growth = last as f64 / base as f64;
    let peaks = peak as f64 / base as f64;
    let ok = growth <= limit && peaks <= peak_limit;
    let line = format!(
        "rss median: second fifth {:.1} MiB, last fifth {:.1} MiB: {growth:.2}x (limit {limit:.2}x); \
         largest in the second half {:.1} MiB: {peaks:.2}x (limit {peak_limit:.2}x)",
        mib(base),
        mib(last),
        mib(peak),
    );
    Verdict { ok, line }
}

/// Times reads over the churned log against a log freshly built from the same
/// records (one batch, compacted), alternating the two, and prints the medians
/// and their ratio.
fn compare_reads(churned: &Timelog<Vec<u8>>) {
    churned.flush();
    // Steady state: let the compaction the last flushes asked for finish (reads
    // while it runs share the cores with it).
    let mut last = churned.stats().compactions;
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = churned.stats().compactions;
        if now == last {
            break;
        }
        last = now;
    }
    let snap = churned.snapshot();
    let records: Vec<(i64, Vec<u8>)> = snap.range(..).map(|(t, v)| (t, v.clone())).collect();
    let (Some(lo), Some(hi)) = (snap.first_ts(), snap.last_ts()) else {
        println!("reads: the log is empty");
        return;
    };
    let fresh: Timelog<Vec<u8>> = Timelog::new();
    let _ = fresh.append_batch(records);
    fresh.compact_now();
    let fsnap = fresh.snapshot();
    let span = (hi - lo).max(1) as u64;
    let mut rng = timelog_compare::workload::XorShift64::new(0x2545_f491_4f6c_dd1d);
    let mut rnd = move || lo + (rng.next_u64() % span) as i64;
    let starts: Vec<i64> = (0..2_000).map(|_| rnd()).collect();
    let points: Vec<i64> = (0..200_000).map(|_| rnd()).collect();
    type Read = fn(&timelog::Snapshot<Vec<u8>>, &[i64], &[i64]) -> usize;
    let reads: [(&str, Read); 3] = [
        ("full scan", |s, _, _| s.range(..).map(|(_, v)| v.len()).sum()),
        ("2,000 ranges of 1,000", |s, st, _| st.iter().map(|&a| s.range(a..a + 1_000).count()).sum()),
        ("200,000 points", |s, _, p| p.iter().map(|&t| s.point(t).count()).sum()),
    ];
    println!("reads over the live window: churned vs freshly built ({} records)", fsnap.count(..));
    for (name, f) in reads {
        let (mut tc, mut tf) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            let t = Instant::now();
            let a = std::hint::black_box(f(&snap, &starts, &points));
            tc.push(t.elapsed());
            let t = Instant::now();
            let b = std::hint::black_box(f(&fsnap, &starts, &points));
            tf.push(t.elapsed());
            assert_eq!(a, b, "{name}: the two logs disagree");
        }
        tc.sort();
        tf.sort();
        println!(
            "  {name:>22}: churned {:>9.2} ms, fresh {:>9.2} ms, ratio {:.2}x",
            tc[2].as_secs_f64() * 1e3,
            tf[2].as_secs_f64() * 1e3,
            tc[2].as_secs_f64() / tf[2].as_secs_f64()
        );
    }
}
