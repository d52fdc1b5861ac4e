//! The timed scenarios: one repeat runs them all, on the same workload and the
//! same query sets for every structure, and adds one sample per figure.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_skiplist::SkipMap;
use parking_lot::RwLock;
use timelog::Timelog;
use timelog_compare::workload::{Workload, XorShift64, BATCH};

use crate::baselines::{btree_build, engine_ingest, floor_ingest, skip_build, Key, Reads, Shared};
use crate::measure::timed;
use crate::report::Samples;

/// Range queries per repeat: 10,000 of width [`RANGE_WIDTH`].
const RANGE_QUERIES: usize = 10_000;
/// Range width.
const RANGE_WIDTH: i64 = 1_000;
/// Point lookups per repeat.
const POINT_QUERIES: usize = 100_000;
/// `delete_range` calls: 1,000 of width [`DELETE_WIDTH`].
const DELETES: usize = 1_000;
/// Width of each deleted range.
const DELETE_WIDTH: i64 = 100;
/// Records the writer adds in the readers-vs-writer scenario.
pub const EXTRA: usize = 1_000_000;
/// Longest a writer runs under readers; its rate is taken from what it wrote.
const CONTENDED_DEADLINE: Duration = Duration::from_secs(5);

/// The random query points, the same for every structure.
pub struct Queries {
    range_lo: Vec<i64>,
    point_ts: Vec<i64>,
    delete_lo: Vec<i64>,
}

impl Queries {
    pub fn new(w: &Workload) -> Queries {
        let max = *w.ts.iter().max().expect("records") as u64;
        let n = w.ts.len() as u64;
        let mut rng = XorShift64::new(777);
        let range_lo = (0..RANGE_QUERIES).map(|_| 1 + (rng.next_u64() % max) as i64).collect();
        let mut rng = XorShift64::new(778);
        let point_ts = (0..POINT_QUERIES).map(|_| w.ts[(rng.next_u64() % n) as usize]).collect();
        let mut rng = XorShift64::new(779);
        let delete_lo = (0..DELETES).map(|_| 1 + (rng.next_u64() % max) as i64).collect();
        Queries { range_lo, point_ts, delete_lo }
    }
}

/// Cross-checks that every structure returned the same answers.
#[derive(Default)]
pub struct Checks(BTreeMap<&'static str, BTreeMap<&'static str, u64>>);

impl Checks {
    /// Records `imp`'s answer `x` to the read `what`; panics if it differs from
    /// another structure's.
    fn put(&mut self, what: &'static str, imp: &'static str, x: u64) {
        let m = self.0.entry(what).or_default();
        m.insert(imp, x);
        let first = *m.values().next().expect("just inserted");
        assert!(m.values().all(|&y| y == first), "{what}: the structures disagree: {m:?}");
    }
}

/// One repeat of every scenario.
pub fn run_all(w: &Workload, extra: &Workload, q: &Queries, s: &mut Samples, check: &mut Checks) {
    run_baseline("vec_floor", floor_ingest, w, q, s, check);
    run_baseline("btree", btree_build, w, q, s, check);
    run_baseline("skiplist", skip_build, w, q, s, check);
    run_engine(w, q, s, check);
    run_two_writers::<Timelog<u64>>("engine", w, s);
    run_two_writers::<RwLock<BTreeMap<Key, u64>>>("btree", w, s);
    run_two_writers::<SkipMap<Key, u64>>("skiplist", w, s);
    let more = extra_batches(w, extra);
    for readers in [false, true] {
        run_writer::<Timelog<u64>>("engine", readers, w, &more, s);
        run_writer::<RwLock<BTreeMap<Key, u64>>>("btree", readers, w, &more, s);
        run_writer::<SkipMap<Key, u64>>("skiplist", readers, w, &more, s);
    }
}

/// Full scan (and reverse scan where the structure has one), ranges and point
/// lookups on a built structure.
fn run_reads(imp: &'static str, x: &impl Reads, q: &Queries, n: f64, s: &mut Samples, check: &mut Checks) {
    let (sum, secs) = timed(|| x.scan_sum());
    check.put("full scan", imp, black_box(sum));
    s.add("full_scan", imp, n / secs);
    if let (Some(sum), secs) = timed(|| x.reverse_sum()) {
        check.put("full scan", imp, black_box(sum));
        s.add("reverse_scan", imp, n / secs);
    }
    let (sum, secs) =
        timed(|| q.range_lo.iter().fold(0u64, |a, &t| a.wrapping_add(x.range_sum(t, t + RANGE_WIDTH))));
    check.put("range", imp, black_box(sum));
    s.add("range", imp, secs * 1e9 / RANGE_QUERIES as f64);
    let (sum, secs) = timed(|| q.point_ts.iter().fold(0u64, |a, &t| a.wrapping_add(x.point_sum(t))));
    check.put("point", imp, black_box(sum));
    s.add("point", imp, secs * 1e9 / POINT_QUERIES as f64);
}

/// Ingest, then the reads, on a baseline. A baseline has no batch API: its
/// per-record ingest is both its `batch_ingest` and its `single_append` figure.
fn run_baseline<R: Reads>(
    imp: &'static str,
    build: fn(&Workload) -> R,
    w: &Workload,
    q: &Queries,
    s: &mut Samples,
    check: &mut Checks,
) {
    let n = w.ts.len() as f64;
    let (x, secs) = timed(|| build(w));
    s.add("batch_ingest", imp, n / secs);
    s.add("single_append", imp, n / secs);
    run_reads(imp, &x, q, n, s, check);
}

/// Every engine scenario that runs on one log: batch ingest, compaction, the
/// reads, count, navigation, deletes and the scan after them; plus the
/// single-append ingest into a second log.
fn run_engine(w: &Workload, q: &Queries, s: &mut Samples, check: &mut Checks) {
    let n = w.ts.len() as f64;
    let log: Timelog<u64> = Timelog::new();
    let (_, secs) = timed(|| {
        engine_ingest(&log, w);
        log.flush();
    });
    s.add("batch_ingest", "engine", n / secs);
    let (_, secs) = timed(|| log.compact_now());
    s.add("compaction_s", "engine", secs);
    let snap = log.snapshot();
    run_reads("engine", &snap, q, n, s, check);
    let (c, secs) = timed(|| q.range_lo.iter().map(|&t| snap.count(t..t + RANGE_WIDTH)).sum::<usize>());
    black_box(c);
    s.add("count_1000", "engine", secs * 1e9 / RANGE_QUERIES as f64);
    let (x, secs) = timed(|| {
        let mut acc = 0i64;
        for &t in &q.range_lo {
            acc = acc.wrapping_add(snap.next_ts(t).unwrap_or(0));
            acc = acc.wrapping_add(snap.prev_ts(t).unwrap_or(0));
        }
        acc
    });
    black_box(x);
    s.add("next_prev_ts", "engine", secs * 1e9 / (2 * RANGE_QUERIES) as f64);
    drop(snap);
    let (_, secs) = timed(|| {
        for &a in &q.delete_lo {
            log.delete_range(a..a + DELETE_WIDTH).expect("valid range");
        }
    });
    s.add("delete_range", "engine", secs * 1e9 / DELETES as f64);
    let snap = log.snapshot();
    let (c, secs) = timed(|| {
        snap.range(..).fold(0usize, |c, (_, v)| {
            black_box(v);
            c + 1
        })
    });
    s.add("scan_after_deletes", "engine", c as f64 / secs);
    drop(snap);
    drop(log);

    let single: Timelog<u64> = Timelog::new();
    let (_, secs) = timed(|| {
        for (&t, &v) in w.ts.iter().zip(&w.values) {
            let _ = single.append(t, v);
        }
        single.flush();
    });
    s.add("single_append", "engine", n / secs);
    assert_eq!(single.len(), w.ts.len(), "every single append is visible");
}

/// The batches a writer of `k` out of `writers` takes (even/odd split), with the
/// arrival index of their first record.
fn my_batches(w: &Workload, k: usize, writers: usize) -> impl Iterator<Item = (usize, &[i64], &[u64])> {
    w.batches()
        .enumerate()
        .filter(move |(b, _)| b % writers == k)
        .map(|(b, (ts, vals))| (b * BATCH, ts, vals))
}

/// Two writers, each taking every other batch; records/s for the whole job.
fn run_two_writers<S: Shared>(imp: &'static str, w: &Workload, s: &mut Samples) {
    let m = S::empty();
    let (_, secs) = timed(|| {
        std::thread::scope(|sc| {
            for k in 0..2 {
                let m = &m;
                sc.spawn(move || {
                    for (first, ts, vals) in my_batches(w, k, 2) {
                        m.write_batch(first, ts, vals);
                    }
                });
            }
        });
        m.finish();
    });
    assert_eq!(m.records(), w.ts.len());
    s.add("two_writers_rate", imp, w.ts.len() as f64 / secs);
}

/// Runs `writer` (which returns how many records it wrote) alone or while two
/// threads run `reader` in a loop; returns (writer records/s, reader records/s).
fn with_readers(
    readers: bool,
    writer: impl FnOnce() -> usize + Send,
    reader: impl Fn() -> usize + Sync,
) -> (f64, f64) {
    let stop = AtomicBool::new(false);
    let scanned = AtomicU64::new(0);
    std::thread::scope(|sc| {
        if readers {
            for _ in 0..2 {
                sc.spawn(|| {
                    while !stop.load(Ordering::Relaxed) {
                        let c = reader();
                        scanned.fetch_add(c as u64, Ordering::Relaxed);
                    }
                });
            }
        }
        let t = Instant::now();
        let wrote = sc.spawn(writer).join().expect("writer");
        let secs = t.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        (wrote as f64 / secs, scanned.load(Ordering::Relaxed) as f64 / secs)
    })
}

/// The extra records a writer adds after the preload: the canonical generator
/// again, shifted past the preloaded timestamps.
fn extra_batches(w: &Workload, extra: &Workload) -> Vec<(Vec<i64>, Vec<u64>)> {
    let base = *w.ts.iter().max().expect("records");
    let first = w.ts.len() as u64;
    extra
        .batches()
        .map(|(ts, vals)| (ts.iter().map(|t| t + base).collect(), vals.iter().map(|v| v + first).collect()))
        .collect()
}

/// One writer appending the extra records `more` to a preloaded structure, alone
/// or while two threads scan it (then for at most [`CONTENDED_DEADLINE`]).
fn run_writer<S: Shared>(
    imp: &'static str,
    readers: bool,
    w: &Workload,
    more: &[(Vec<i64>, Vec<u64>)],
    s: &mut Samples,
) {
    let m = S::preloaded(w);
    let (wr, rr) = with_readers(
        readers,
        || {
            let t = Instant::now();
            let mut wrote = 0;
            for (b, (ts, vals)) in more.iter().enumerate() {
                m.write_batch(w.ts.len() + b * BATCH, ts, vals);
                wrote += ts.len();
                if readers && t.elapsed() > CONTENDED_DEADLINE {
                    break;
                }
            }
            wrote
        },
        || m.scan_count(),
    );
    let tag = if readers { "contended" } else { "solo" };
    s.add(&format!("writer_{tag}"), imp, wr);
    if readers {
        s.add("reader_rate", imp, rr);
    }
}
