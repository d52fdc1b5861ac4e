//! The timed scenarios: one repeat runs them all, on the same workload and the
//! same query sets for every structure, and adds one sample per figure (the
//! CPU-time figures are in [`cpu`]).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_skiplist::SkipMap;
use parking_lot::RwLock;
use timelog::{MaintenanceMode, Timelog};
use timelog_compare::workload::{Workload, XorShift64, BATCH};

use crate::baselines::{
    btree_build, engine_ingest, floor_ingest, skip_build, sort_floor, Key, Reads, Shared,
};
use crate::cpu;
use crate::measure::{timed, trim_heap};
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
const EXTRA: usize = 1_000_000;
/// Longest a writer runs under readers; its rate is taken from what it wrote.
const CONTENDED_DEADLINE: Duration = Duration::from_secs(5);

/// The random query points, the same for every structure.
struct Queries {
    range_lo: Vec<i64>,
    point_ts: Vec<i64>,
    delete_lo: Vec<i64>,
}

impl Queries {
    fn new(w: &Workload) -> Queries {
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
    pub fn put(&mut self, what: &'static str, imp: &'static str, x: u64) {
        let m = self.0.entry(what).or_default();
        m.insert(imp, x);
        let first = *m.values().next().expect("just inserted");
        assert!(m.values().all(|&y| y == first), "{what}: the structures disagree: {m:?}");
    }
}

/// The data every repeat runs on, generated once.
pub struct Inputs {
    /// The canonical workload.
    pub w: Workload,
    /// What the writer adds to a preloaded structure.
    extra: Workload,
    q: Queries,
    /// The fully shuffled workload of `shuffled_ingest`.
    shuffled: Workload,
    /// The canonical generator at a 20 % out-of-order rate (`ooo20_ingest`).
    ooo20: Workload,
}

impl Inputs {
    /// The inputs for `n` records at the out-of-order rate `ooo`.
    pub fn new(w: Workload, ooo: f64) -> Inputs {
        let n = w.ts.len();
        Inputs {
            extra: Workload::new(EXTRA.min(n), ooo),
            q: Queries::new(&w),
            shuffled: Workload::shuffled(n),
            ooo20: Workload::new(n, OOO20),
            w,
        }
    }
}

/// The out-of-order rate of `ooo20_ingest`.
const OOO20: f64 = 0.20;
/// L0 segments of `interleaved_scan`.
const INTERLEAVED_SEGMENTS: usize = 16;

/// A scenario of [`run_all`].
type Run<'a> = &'a dyn Fn(&mut Samples, &mut Checks);

/// One repeat of every scenario. Wherever a figure is a ratio to an in-run
/// baseline, the engine and the baseline run back to back within the repeat,
/// so that both see the same machine state and the ratio can be taken repeat
/// by repeat. Each scenario, and each half of a pair that frees the other's
/// structure first, starts from a trimmed heap ([`trim_heap`]).
pub fn run_all(d: &Inputs, s: &mut Samples, check: &mut Checks) {
    let w = &d.w;
    let more = extra_batches(w, &d.extra);
    let runs: [Run; 12] = [
        &|s, c| run_built(w, &d.q, s, c),
        &|s, _| run_single_append(w, s),
        &|s, _| run_two_writers::<Timelog<u64>>("engine", w, s),
        &|s, _| run_two_writers::<RwLock<BTreeMap<Key, u64>>>("btree", w, s),
        &|s, _| run_two_writers::<SkipMap<Key, u64>>("skiplist", w, s),
        &|s, _| run_writer::<Timelog<u64>>("engine", w, &more, s),
        &|s, _| run_writer::<RwLock<BTreeMap<Key, u64>>>("btree", w, &more, s),
        &|s, _| run_writer::<SkipMap<Key, u64>>("skiplist", w, &more, s),
        &|s, c| run_ingest_pair("shuffled_ingest", &d.shuffled, sort_floor, s, c),
        &|s, c| run_ingest_pair("ooo20_ingest", &d.ooo20, floor_ingest, s, c),
        &|s, c| run_interleaved_scan(w.ts.len(), s, c),
        &|s, _| cpu::run_cpu(w, s),
    ];
    for run in runs {
        trim_heap();
        run(s, check);
    }
}

/// The reads, each on every structure back to back: full scan (and reverse
/// scan where the structure has one), ranges and point lookups.
fn run_reads(all: &[(&'static str, &dyn Reads)], q: &Queries, n: f64, s: &mut Samples, check: &mut Checks) {
    for &(imp, x) in all {
        let (sum, secs) = timed(|| x.scan_sum());
        check.put("full scan", imp, black_box(sum));
        s.add("full_scan", imp, n / secs);
    }
    for &(imp, x) in all {
        let (sum, secs) = timed(|| x.scan_ts_v());
        check.put("full scan of ts and value", imp, black_box(sum));
        s.add("full_scan_ts_v", imp, n / secs);
    }
    for &(imp, x) in all {
        if let (Some(sum), secs) = timed(|| x.reverse_sum()) {
            check.put("full scan", imp, black_box(sum));
            s.add("reverse_scan", imp, n / secs);
        }
    }
    for &(imp, x) in all {
        let (sum, secs) =
            timed(|| q.range_lo.iter().fold(0u64, |a, &t| a.wrapping_add(x.range_sum(t, t + RANGE_WIDTH))));
        check.put("range", imp, black_box(sum));
        s.add("range", imp, secs * 1e9 / RANGE_QUERIES as f64);
    }
    for &(imp, x) in all {
        let (sum, secs) = timed(|| q.point_ts.iter().fold(0u64, |a, &t| a.wrapping_add(x.point_sum(t))));
        check.put("point", imp, black_box(sum));
        s.add("point", imp, secs * 1e9 / POINT_QUERIES as f64);
    }
}

/// Builds a baseline from the whole workload, timed. A baseline has no batch
/// API: its per-record ingest is its `batch_ingest` figure and, except for the
/// floor (whose `single_append` figure is timed again next to the engine's),
/// its `single_append` figure.
fn build<R>(imp: &'static str, f: fn(&Workload) -> R, w: &Workload, s: &mut Samples) -> R {
    let (x, secs) = timed(|| f(w));
    s.add("batch_ingest", imp, w.ts.len() as f64 / secs);
    if imp != "vec_floor" {
        s.add("single_append", imp, w.ts.len() as f64 / secs);
    }
    x
}

/// Batch ingest into the engine and the baselines, back to back; the engine's
/// compaction; the reads on all four; then the engine's own reads, deletes and
/// the scan after them.
fn run_built(w: &Workload, q: &Queries, s: &mut Samples, check: &mut Checks) {
    let n = w.ts.len() as f64;
    let log: Timelog<u64> = crate::baselines::engine_log();
    let (_, secs) = timed(|| {
        engine_ingest(&log, w);
        log.flush();
    });
    s.add("batch_ingest", "engine", n / secs);
    // Before the baselines' builds, so that no background compaction competes
    // with them for the cores.
    let (_, secs) = timed(|| log.compact_now());
    s.add("compaction_s", "engine", secs);
    let floor = build("vec_floor", floor_ingest, w, s);
    let btree = build("btree", btree_build, w, s);
    let skip = build("skiplist", skip_build, w, s);
    let snap = log.snapshot();
    run_reads(
        &[("engine", &snap), ("vec_floor", &floor), ("btree", &btree), ("skiplist", &skip)],
        q,
        n,
        s,
        check,
    );
    drop((floor, btree, skip));
    trim_heap();
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
}

/// Single appends into the engine incl. flush, then the floor's ingest again
/// (its `single_append` figure).
fn run_single_append(w: &Workload, s: &mut Samples) {
    let n = w.ts.len() as f64;
    let single: Timelog<u64> = crate::baselines::engine_log();
    let (_, secs) = timed(|| {
        for (&t, &v) in w.ts.iter().zip(&w.values) {
            let _ = single.append(t, v);
        }
        single.flush();
    });
    s.add("single_append", "engine", n / secs);
    assert_eq!(single.len(), w.ts.len(), "every single append is visible");
    drop(single);
    trim_heap();
    let (floor, secs) = timed(|| floor_ingest(w));
    s.add("single_append", "vec_floor", n / secs);
    drop(black_box(floor));
}

/// Ingest of `w` into the engine (default configuration, batches of
/// [`BATCH`], incl. flush), then into the floor `floor`, both under `key`;
/// their scans are cross-checked.
fn run_ingest_pair(
    key: &'static str,
    w: &Workload,
    floor: fn(&Workload) -> Vec<(i64, u64)>,
    s: &mut Samples,
    check: &mut Checks,
) {
    let n = w.ts.len() as f64;
    let log: Timelog<u64> = crate::baselines::engine_log();
    let (_, secs) = timed(|| {
        engine_ingest(&log, w);
        log.flush();
    });
    s.add(key, "engine", n / secs);
    check.put(key, "engine", log.snapshot().scan_sum());
    drop(log);
    trim_heap();
    let (v, secs) = timed(|| floor(w));
    s.add(key, "vec_floor", n / secs);
    check.put(key, "vec_floor", v.scan_sum());
}

/// A full scan over [`INTERLEAVED_SEGMENTS`] fully interleaved L0 segments
/// (manual maintenance; batch `k` holds the timestamps `i * 16 + k`, and each
/// is flushed on its own), then the floor's scan of the same records in a
/// sorted `Vec`. The builds are not timed, and each structure is scanned
/// once untimed first, so that the one built last does not start with more of
/// its data in the caches.
fn run_interleaved_scan(n: usize, s: &mut Samples, check: &mut Checks) {
    let (k_max, per) = (INTERLEAVED_SEGMENTS, n / INTERLEAVED_SEGMENTS);
    // One memtable holds a whole batch, so that each flush makes one segment.
    let log: Timelog<u64> = crate::baselines::engine_builder()
        .maintenance(MaintenanceMode::Manual)
        .memtable_max_bytes(per * 64)
        .build()
        .expect("valid config");
    for k in 0..k_max {
        let ts: Vec<i64> = (0..per).map(|i| (i * k_max + k) as i64).collect();
        let vals = ts.iter().map(|&t| t as u64 + 1).collect();
        let _ = log.append_columns(ts, vals);
        log.flush();
    }
    s.add("interleaved_l0_segments", "engine", log.stats().l0_segments as f64);
    let floor: Vec<(i64, u64)> = (0..per * k_max).map(|t| (t as i64, t as u64 + 1)).collect();
    let snap = log.snapshot();
    let both = [("engine", &snap as &dyn Reads), ("vec_floor", &floor)];
    for (_, x) in both {
        black_box(x.scan_sum());
    }
    for (imp, x) in both {
        let (sum, secs) = timed(|| x.scan_sum());
        check.put("interleaved scan", imp, black_box(sum));
        s.add("interleaved_scan", imp, floor.len() as f64 / secs);
    }
}

/// Two writers, each taking every other batch; records/s for the whole job.
fn run_two_writers<S: Shared>(imp: &'static str, w: &Workload, s: &mut Samples) {
    let m = S::empty();
    let (_, secs) = timed(|| {
        std::thread::scope(|sc| {
            for k in 0..2 {
                let m = &m;
                sc.spawn(move || {
                    for (first, ts, vals) in w.writer_batches(k, 2) {
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

/// One writer appending the extra records `more` to a preloaded structure,
/// alone and then (on a fresh one) while two threads scan it, for at most
/// [`CONTENDED_DEADLINE`].
fn run_writer<S: Shared>(imp: &'static str, w: &Workload, more: &[(Vec<i64>, Vec<u64>)], s: &mut Samples) {
    for readers in [false, true] {
        trim_heap();
        run_writer_once::<S>(imp, readers, w, more, s);
    }
}

/// [`run_writer`] with or without the readers.
fn run_writer_once<S: Shared>(
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
