//! Writes the seed corpus of both fuzz targets:
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --example gen_corpus
//! ```
//!
//! Every seed is valid for both targets (they share the input format). Together
//! the seeds reach every operation kind, both batch paths, extremes of `i64`,
//! every range shape, and configurations whose memtables seal after a few
//! records; `tests` in the crate check that they still do.

use std::ops::Bound::{self, *};
use std::path::PathBuf;

use timelog_fuzz::encode::Enc;
use timelog_fuzz::{Input, Op, Setup, Span, Target, MAX_OPS, OPS};
use timelog_testkit::gen::Rng;

fn span(lo: Bound<i64>, hi: Bound<i64>) -> Span {
    Span { lo, hi }
}

/// Inputs drawn from the test kit's deterministic generator, so the corpus is
/// reproducible.
struct Gen(Rng);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0.below(n)
    }
    fn ts(&mut self) -> i64 {
        match self.below(10) {
            0 => [i64::MIN, i64::MAX, i64::MIN + 1, i64::MAX - 1][self.below(4) as usize],
            1 => self.next() as i64,
            2 => self.below(4000) as i64 - 2000,
            _ => self.below(24) as i64 - 12,
        }
    }
    fn span(&mut self) -> Span {
        let (a, b) = (self.ts(), self.ts());
        match self.below(9) {
            0 => span(Included(a), Excluded(b)),
            1 => span(Included(a.min(b)), Included(a.max(b))),
            2 => span(Included(a), Unbounded),
            3 => span(Unbounded, Excluded(b)),
            4 => span(Unbounded, Included(b)),
            5 => span(Unbounded, Unbounded),
            6 => span(Excluded(a.min(b)), Included(a.max(b))),
            7 => span(Excluded(a), Excluded(b)),
            _ => span(Excluded(a), Unbounded),
        }
    }
    fn target(&mut self) -> Target {
        Target(if self.below(2) == 0 { 0 } else { 1 + self.below(8) as u8 })
    }
    fn batch(&mut self, n: usize) -> Vec<i64> {
        let mut t = self.ts();
        (0..n)
            .map(|_| {
                t = if self.below(10) == 0 {
                    t.saturating_sub(self.below(16) as i64)
                } else {
                    t.saturating_add(self.below(3) as i64)
                };
                t
            })
            .collect()
    }
    fn op(&mut self) -> Op {
        match self.below(OPS as u64) {
            0 => Op::Append(self.ts()),
            1 => {
                let n = self.below(16) as usize;
                Op::SmallBatch(self.batch(n))
            }
            2 => {
                let n = 16 + self.below(60) as usize;
                Op::LargeBatch(self.batch(n))
            }
            3 => {
                let n = self.below(40) as usize;
                Op::Columns(self.batch(n))
            }
            4 => Op::Delete(self.span()),
            5 => Op::DeleteBefore(self.ts()),
            6 => Op::Flush,
            7 => Op::Compact,
            8 => Op::CompactNow,
            9 => Op::Step(1 + self.below(4) as u8),
            10 => Op::TakeSnapshot(self.below(8) as u8),
            11 => Op::CheckSnapshot(self.below(8) as u8),
            12 => Op::DropSnapshot(self.below(8) as u8),
            13 => Op::Range(self.target(), self.span(), self.next() as u8),
            14 => Op::Point(self.target(), self.ts()),
            15 => Op::Count(self.target(), self.span()),
            16 => Op::Nav(self.target(), self.ts()),
            17 => Op::Validate,
            18 => Op::Cursor(self.target(), self.span(), self.next() as u8),
            19 => Op::Pages(self.target(), self.span()),
            20 => Op::Toggle(self.below(3) != 0),
            21 => Op::LogReads(self.span(), self.ts()),
            _ => Op::Room,
        }
    }
}

/// Hand-written seeds: one per theme.
fn hand_made() -> Vec<(&'static str, Input)> {
    let tiny = Setup([0, 0, 0, 0, 0, 0, 1, 0]); // 64-byte memtables, window 1, no adaptive
    let all = span(Unbounded, Unbounded);
    let mut out = Vec::new();

    // Every write path, then every read on a fresh snapshot.
    out.push((
        "writes_and_reads",
        Input {
            setup: Setup([4, 1, 1, 4, 0, 1, 1, 0]),
            ops: vec![
                Op::Append(5),
                Op::Append(3),
                Op::Append(5),
                Op::SmallBatch(vec![1, 9, 5, 5, 2]),
                Op::LargeBatch((0..40).map(|i| (i % 7) - 3).collect()),
                Op::Columns(vec![4, 4, -4, 8]),
                Op::Columns((0..20).rev().collect()),
                Op::Range(Target(0), span(Included(-2), Excluded(6)), 0b0110_1001),
                Op::Point(Target(0), 5),
                Op::Count(Target(0), span(Included(0), Included(5))),
                Op::Nav(Target(0), 4),
                Op::Cursor(Target(0), all, 0b1010_1010),
                Op::LogReads(span(Unbounded, Excluded(5)), 5),
                Op::Validate,
            ],
        },
    ));

    // Deletes of every shape, interleaved with writes at the same timestamps.
    out.push((
        "deletes",
        Input {
            setup: tiny,
            ops: vec![
                Op::LargeBatch((0..30).map(|i| i / 3 - 5).collect()),
                Op::Delete(span(Included(-2), Excluded(2))),
                Op::Append(0),
                Op::Delete(span(Excluded(3), Included(4))),
                Op::Delete(span(Included(3), Excluded(3))), // empty: an error
                Op::DeleteBefore(-4),
                Op::DeleteBefore(i64::MIN), // an error
                Op::Append(-5),
                Op::Step(4),
                Op::Delete(span(Unbounded, Included(-5))),
                Op::Delete(span(Included(4), Unbounded)),
                Op::Range(Target(0), all, 0),
                Op::Flush,
                Op::Delete(all),
                Op::SmallBatch(vec![1, 1]),
                Op::CompactNow,
                Op::Count(Target(0), all),
                Op::Validate,
            ],
        },
    ));

    // Extremes of i64, colliding.
    out.push((
        "extremes",
        Input {
            setup: Setup([2, 3, 1, 7, 3, 0, 1, 0]), // window i64::MAX, origin i64::MIN
            ops: vec![
                Op::Append(i64::MIN),
                Op::Append(i64::MAX),
                Op::SmallBatch(vec![i64::MAX, i64::MIN, i64::MAX, 0]),
                Op::LargeBatch(
                    (0..24).map(|i| if i % 2 == 0 { i64::MIN + i } else { i64::MAX - i }).collect(),
                ),
                Op::LargeBatch(vec![i64::MAX; 16]),
                Op::LargeBatch((0..18).map(|i| i64::MIN.saturating_add(17 - i)).collect()),
                Op::Flush,
                Op::Range(Target(0), span(Included(i64::MAX), Included(i64::MAX)), 0x55),
                Op::Range(Target(0), span(Excluded(i64::MIN), Excluded(i64::MAX)), 0x0f),
                Op::Point(Target(0), i64::MIN),
                Op::Point(Target(0), i64::MAX),
                Op::Nav(Target(0), i64::MIN),
                Op::Nav(Target(0), i64::MAX),
                Op::Delete(span(Included(i64::MAX - 1), Unbounded)),
                Op::Delete(span(Unbounded, Included(i64::MIN))),
                Op::Append(i64::MAX),
                Op::CompactNow,
                Op::Count(Target(0), span(Excluded(i64::MIN), Unbounded)),
                Op::Pages(Target(0), all),
                Op::Validate,
            ],
        },
    ));

    // Snapshots held across writes, deletes, flushes and compactions.
    out.push((
        "snapshots",
        Input {
            setup: Setup([1, 0, 0, 1, 1, 0x80, 1, 0x05]),
            ops: vec![
                Op::LargeBatch((0..20).collect()),
                Op::TakeSnapshot(0),
                Op::Delete(span(Included(5), Excluded(15))),
                Op::TakeSnapshot(1),
                Op::Flush,
                Op::TakeSnapshot(2),
                Op::Append(7),
                Op::SmallBatch(vec![7, 6, 7]),
                Op::Compact,
                Op::Step(4),
                Op::CompactNow,
                Op::CheckSnapshot(0),
                Op::CheckSnapshot(1),
                Op::Range(Target(1), span(Included(0), Excluded(20)), 0x33),
                Op::Point(Target(2), 7),
                Op::Count(Target(3), all),
                Op::Nav(Target(2), 10),
                Op::Cursor(Target(1), all, 0xf0),
                Op::Pages(Target(3), span(Included(2), Included(12))),
                Op::DropSnapshot(1),
                Op::CheckSnapshot(2),
                Op::Validate,
            ],
        },
    ));

    // Maintenance controls: steps, requests, stop/start, queue and room.
    out.push((
        "maintenance",
        Input {
            setup: Setup([0, 7, 3, 5, 0x82, 3, 8, 0x7f]), // adaptive, caps, delete debt, tiny ooo budget
            ops: vec![
                Op::Toggle(false),
                Op::LargeBatch((0..50).map(|i| (i * 37) % 101).collect()),
                Op::LargeBatch((0..50).map(|i| (i * 53) % 97 + 1000).collect()),
                Op::Room,
                Op::Step(1),
                Op::Compact,
                Op::Step(4),
                Op::Toggle(true),
                Op::Room,
                Op::Delete(span(Included(0), Excluded(500))),
                Op::Step(4),
                Op::Compact,
                Op::Flush,
                Op::Step(4),
                Op::CompactNow,
                Op::Validate,
                Op::Pages(Target(0), all),
            ],
        },
    ));
    out
}

/// Long seeds from the generator, with varied setups.
fn generated() -> Vec<(String, Input)> {
    let mut out = Vec::new();
    let mut rng = Gen(Rng::new(0x5eed_f00d_1234_5678));
    for k in 0..6 {
        let setup = Setup(std::array::from_fn(|i| {
            let b = rng.next() as u8;
            if i == 0 {
                b % 32 // keep memtables tiny
            } else {
                b
            }
        }));
        let n = 60 + rng.below(MAX_OPS as u64 - 60) as usize;
        let ops = (0..n).map(|_| rng.op()).collect();
        out.push((format!("random_{k}"), Input { setup, ops }));
    }
    out
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut seeds: Vec<(String, Input)> = hand_made().into_iter().map(|(n, i)| (n.to_string(), i)).collect();
    seeds.extend(generated());
    for target in ["ops_manual", "ops_background"] {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).expect("create corpus dir");
        for (name, input) in &seeds {
            let bytes = Enc::input(input);
            assert_eq!(&timelog_fuzz::decode(&bytes), input, "seed {name} does not round-trip");
            std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("write seed");
        }
        println!("{}: {} seeds", dir.display(), seeds.len());
    }
}
