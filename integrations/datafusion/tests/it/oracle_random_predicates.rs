//! SQL over a log with every layer (L1, overlapping L0, memtable, tombstones)
//! equals a plain oracle, for random ranges and predicates: ones pushed into the
//! scan, ones that are not (`value > v`, `ts % 2 = 0`, `OR` of ranges, `<>`,
//! `NOT`), and mixes of both; with and without LIMIT; and the same with pushdown
//! switched off.

use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use timelog_datafusion::TimelogTable;

use crate::common::*;

type Pred = Box<dyn Fn(i64, i64) -> bool>;

/// A random predicate: its SQL and its meaning.
fn atom(rng: &mut SmallRng, span: i64) -> (String, Pred) {
    let pick = |rng: &mut SmallRng| -> i64 {
        match rng.random_range(0..10) {
            0 => i64::MAX,
            1 => i64::MIN + 1,
            2 => rng.random_range(-3..=3),
            _ => rng.random_range(-span - 10..=span + 10),
        }
    };
    let a = pick(rng);
    let b = pick(rng);
    match rng.random_range(0..13) {
        0 => (format!("ts >= {a}"), Box::new(move |t, _| t >= a)),
        1 => (format!("ts > {a}"), Box::new(move |t, _| t > a)),
        2 => (format!("ts < {b}"), Box::new(move |t, _| t < b)),
        3 => (format!("ts <= {b}"), Box::new(move |t, _| t <= b)),
        4 => (format!("ts = {a}"), Box::new(move |t, _| t == a)),
        5 => (format!("{a} <= ts"), Box::new(move |t, _| a <= t)),
        6 => (format!("ts BETWEEN {a} AND {b}"), Box::new(move |t, _| a <= t && t <= b)),
        7 => {
            let c = pick(rng);
            (format!("ts IN ({a}, {b}, {c})"), Box::new(move |t, _| t == a || t == b || t == c))
        }
        8 => {
            let v = rng.random_range(0..4000);
            (format!("value > {v}"), Box::new(move |_, x| x > v))
        }
        9 => ("ts % 2 = 0".to_string(), Box::new(|t, _| t % 2 == 0)),
        10 => (format!("ts <> {a}"), Box::new(move |t, _| t != a)),
        11 => (format!("NOT (ts < {a})"), Box::new(move |t, _| t >= a)),
        _ => {
            let x = a as f64 + 0.5;
            (format!("CAST(ts AS DOUBLE) > {x:?}"), Box::new(move |t, _| (t as f64) > x))
        }
    }
}

/// A random conjunction or disjunction of up to three atoms.
fn predicate(rng: &mut SmallRng, span: i64) -> (String, Pred) {
    let (mut sql, mut f) = atom(rng, span);
    for _ in 0..rng.random_range(0..3) {
        let (s2, f2) = atom(rng, span);
        if rng.random_bool(0.7) {
            sql = format!("({sql}) AND ({s2})");
            f = Box::new(move |t, v| f(t, v) && f2(t, v));
        } else {
            sql = format!("({sql}) OR ({s2})");
            f = Box::new(move |t, v| f(t, v) || f2(t, v));
        }
    }
    (sql, f)
}

async fn check(seed: u64, queries: usize) {
    let span = 2_000;
    let (log, oracle) = layered_log(seed, 800, span, seed.is_multiple_of(2));
    let all = oracle.sorted();
    let ctx = table_ctx(&log);
    let off = session(3);
    let no_pushdown = TimelogTable::new(log.clone()).with_filter_pushdown(false).with_min_partition_rows(64);
    off.register_table("t", Arc::new(no_pushdown)).unwrap();

    let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed);
    for q in 0..queries {
        let (pred, f) = predicate(&mut rng, span);
        let want: Vec<(i64, i64)> = all.iter().copied().filter(|&(t, v)| f(t, v)).collect();

        let sql = format!("SELECT ts, value FROM t WHERE {pred} ORDER BY ts, value");
        let got = pairs(&run(&ctx, &sql).await);
        assert_eq!(got, want, "seed {seed} query {q}: {sql}");

        let sql = format!("SELECT count(*) FROM t WHERE {pred}");
        assert_eq!(scalar(&run(&ctx, &sql).await), want.len() as i64, "seed {seed} query {q}: {sql}");

        if q.is_multiple_of(4) {
            let sql = format!("SELECT ts, value FROM t WHERE {pred} ORDER BY ts, value");
            assert_eq!(pairs(&run(&off, &sql).await), want, "pushdown off, seed {seed} query {q}: {sql}");
        }
        if q.is_multiple_of(3) {
            // LIMIT without ORDER BY: any `n` matching rows; with: the first `n`.
            let n = rng.random_range(0..50);
            let sql = format!("SELECT ts, value FROM t WHERE {pred} LIMIT {n}");
            let got = pairs(&run(&ctx, &sql).await);
            assert_eq!(got.len(), want.len().min(n), "seed {seed} query {q}: {sql}");
            assert!(
                got.iter().all(|&(t, v)| f(t, v) && want.contains(&(t, v))),
                "seed {seed} query {q}: {sql}"
            );
            let sql = format!("SELECT ts, value FROM t WHERE {pred} ORDER BY ts, value LIMIT {n}");
            assert_eq!(
                pairs(&run(&ctx, &sql).await),
                want[..want.len().min(n)],
                "seed {seed} query {q}: {sql}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_predicates_match_the_oracle() {
    for seed in 0..4 {
        check(seed, 40).await;
    }
}
