//! The inverse of the decoder: writes the bytes of an [`Input`], for seed
//! corpora and for turning a crash into a readable regression test.

use std::ops::Bound;

use crate::{Input, Op, Span, Target, LARGE_BATCH, SPECIAL_TS};

/// Writes an input byte by byte.
pub struct Enc {
    bytes: Vec<u8>,
}

impl Enc {
    /// Starts an input with the given setup bytes (see [`crate::Setup::builder`]).
    pub fn new(setup: [u8; 8]) -> Self {
        Enc { bytes: setup.to_vec() }
    }

    /// Encodes a whole input.
    pub fn input(input: &Input) -> Vec<u8> {
        let mut e = Enc::new(input.setup.0);
        for op in &input.ops {
            e.op(op);
        }
        e.finish()
    }

    /// The bytes written so far.
    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }

    fn byte(&mut self, b: u8) {
        self.bytes.push(b);
    }

    /// One timestamp, in its shortest form.
    pub fn ts(&mut self, t: i64) {
        if (-10..10).contains(&t) {
            self.byte((t + 10) as u8);
        } else if let Some(i) = SPECIAL_TS.iter().position(|&s| s == t) {
            self.byte(160 + i as u8);
        } else if let Ok(small) = i16::try_from(t) {
            self.byte(176);
            self.bytes.extend_from_slice(&small.to_le_bytes());
        } else {
            self.byte(240);
            self.bytes.extend_from_slice(&t.to_le_bytes());
        }
    }

    /// One range.
    pub fn span(&mut self, s: Span) {
        use Bound::*;
        match (s.lo, s.hi) {
            (Included(a), Excluded(b)) => self.two(0, a, b),
            (Included(a), Included(b)) => self.two(1, a, b),
            (Included(a), Unbounded) => self.one(2, a),
            (Unbounded, Excluded(b)) => self.one(3, b),
            (Unbounded, Included(b)) => self.one(4, b),
            (Unbounded, Unbounded) => self.byte(5),
            (Excluded(a), Included(b)) => self.two(6, a, b),
            (Excluded(a), Excluded(b)) => self.two(7, a, b),
            (Excluded(a), Unbounded) => self.one(8, a),
        }
    }

    fn one(&mut self, shape: u8, t: i64) {
        self.byte(shape);
        self.ts(t);
    }

    fn two(&mut self, shape: u8, a: i64, b: i64) {
        self.byte(shape);
        self.ts(a);
        self.ts(b);
    }

    /// A batch: all equal (shape 2), descending by one (shape 3), nearly sorted
    /// (shape 1), or timestamp by timestamp (shape 0), whichever applies first.
    fn batch(&mut self, len_byte: u8, ts: &[i64]) {
        let equal = ts.windows(2).all(|w| w[0] == w[1]);
        let descending = ts.iter().enumerate().all(|(i, &t)| t == ts[0].saturating_sub(i as i64));
        if !ts.is_empty() && equal {
            self.byte(2);
            self.byte(len_byte);
            self.ts(ts[0]);
        } else if !ts.is_empty() && descending {
            self.byte(3);
            self.byte(len_byte);
            self.ts(ts[0]);
        } else if let Some(steps) = nearly_sorted(ts) {
            self.byte(1);
            self.byte(len_byte);
            self.ts(ts[0]);
            self.bytes.extend_from_slice(&steps);
        } else {
            self.byte(0);
            self.byte(len_byte);
            for &t in ts {
                self.ts(t);
            }
        }
    }

    /// One operation.
    ///
    /// # Panics
    /// If a batch's length does not fit its operation.
    pub fn op(&mut self, op: &Op) {
        self.byte(op.tag() as u8);
        match op {
            Op::Append(t) | Op::DeleteBefore(t) => self.ts(*t),
            Op::SmallBatch(ts) => {
                assert!(ts.len() < LARGE_BATCH, "small batch of {}", ts.len());
                self.batch(ts.len() as u8, ts);
            }
            Op::LargeBatch(ts) => {
                assert!((LARGE_BATCH..LARGE_BATCH + 100).contains(&ts.len()), "large batch of {}", ts.len());
                self.batch((ts.len() - LARGE_BATCH) as u8, ts);
            }
            Op::Columns(ts) => {
                assert!(ts.len() < 48, "columns batch of {}", ts.len());
                self.batch(ts.len() as u8, ts);
            }
            Op::Delete(s) => self.span(*s),
            Op::Flush | Op::Compact | Op::CompactNow | Op::Validate | Op::Room => {}
            Op::Step(n) => {
                assert!((1..=4).contains(n), "maint_step count {n}");
                self.byte(n - 1);
            }
            Op::TakeSnapshot(s) | Op::CheckSnapshot(s) | Op::DropSnapshot(s) => self.byte(*s),
            Op::Range(Target(t), s, p) | Op::Cursor(Target(t), s, p) => {
                self.byte(*t);
                self.span(*s);
                self.byte(*p);
            }
            Op::Point(Target(t), ts) | Op::Nav(Target(t), ts) => {
                self.byte(*t);
                self.ts(*ts);
            }
            Op::Count(Target(t), s) | Op::Pages(Target(t), s) => {
                self.byte(*t);
                self.span(*s);
            }
            Op::Toggle(start) => self.byte(*start as u8),
            Op::LogReads(s, ts) => {
                self.span(*s);
                self.ts(*ts);
            }
        }
    }
}

/// The step bytes of shape 1 for `ts`, if it has that shape.
fn nearly_sorted(ts: &[i64]) -> Option<Vec<u8>> {
    let mut steps = Vec::with_capacity(ts.len());
    for (i, &t) in ts.iter().enumerate() {
        let next = ts.get(i + 1).copied();
        let step = match next {
            None => 0,
            Some(n) if (0..4).contains(&(n as i128 - t as i128)) => (n - t) as u8,
            Some(n) if (1..16).contains(&(t as i128 - n as i128)) => 0xf0 | (t - n) as u8,
            Some(_) => return None,
        };
        steps.push(step);
    }
    (!ts.is_empty()).then_some(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode, Setup};

    #[test]
    fn round_trip() {
        let ops = vec![
            Op::Append(i64::MIN),
            Op::Append(12345),
            Op::Append(-7),
            Op::Append(i64::MAX - 7),
            Op::SmallBatch(vec![]),
            Op::SmallBatch(vec![3, 3, 3]),
            Op::SmallBatch(vec![i64::MIN + 2, i64::MIN + 1, i64::MIN, i64::MIN]),
            Op::LargeBatch((0..20).map(|i| (i / 3) * 2).collect()),
            Op::LargeBatch((0..17).map(|i| if i % 5 == 4 { i - 9 } else { i }).collect()),
            Op::Columns(vec![i64::MAX, 0, i64::MIN, 77777]),
            Op::Delete(Span { lo: Bound::Excluded(-3), hi: Bound::Included(i64::MAX) }),
            Op::Delete(Span { lo: Bound::Unbounded, hi: Bound::Unbounded }),
            Op::DeleteBefore(i64::MIN),
            Op::Step(4),
            Op::Range(Target(3), Span { lo: Bound::Included(1), hi: Bound::Excluded(1) }, 0xa5),
            Op::Cursor(Target(0), Span { lo: Bound::Unbounded, hi: Bound::Included(9) }, 1),
            Op::Toggle(true),
            Op::LogReads(Span { lo: Bound::Included(i64::MIN), hi: Bound::Unbounded }, 4),
            Op::Room,
        ];
        let input = Input { setup: Setup([1, 2, 3, 4, 5, 6, 7, 8]), ops };
        assert_eq!(decode(&Enc::input(&input)), input);
    }
}
