//! The tests' deterministic generator: the workload's xorshift64
//! (`timelog_compare::workload::XorShift64`) with bounded draws. A seed gives the same
//! stream as the hand-written `x ^= x << 13; x ^= x >> 7; x ^= x << 17` it replaces
//! (seed 0, which would stick at 0, becomes 1).

use timelog_compare::workload::XorShift64;

/// A deterministic pseudo-random stream.
#[derive(Debug, Clone)]
pub struct Rng(XorShift64);

impl Rng {
    /// A generator with state `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(XorShift64::new(seed))
    }

    /// The next 64-bit output.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A draw in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// `true` one time in `n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}
