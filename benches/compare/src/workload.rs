//! The canonical benchmark workload: a deterministic stream of mostly-ordered
//! timestamps, shared by the demo, the benches and the comparison binary so
//! that every figure is measured on the same data.
//!
//! Record `i` (counting from 0) has value `i + 1` and, in order, timestamp
//! `i + 1`. Each record with `i > 1024` arrives late with probability
//! `ooo_rate`: its timestamp is moved back by 1 to 1,024. The draws
//! come from [`XorShift64`] with state 12345, and records are handed over in
//! batches of [`BATCH`]. Check figure: at 5,000,000 records and a 5 % rate,
//! 250,117 records are moved back.
//!
//! [`Workload::shuffled`] is the fully out-of-order variant of the
//! `shuffled_ingest` figure.
//!
//! ```
//! use timelog_compare::workload::Workload;
//! let w = Workload::new(10_000, 0.05);
//! assert_eq!(w.ts.len(), 10_000);
//! assert_eq!(w.ts[0], 1);
//! assert_eq!(w.values[9_999], 10_000);
//! ```

/// The xorshift64 generator (shifts 13, 7, 17) of the workload.
#[derive(Debug, Clone)]
pub struct XorShift64(u64);

impl XorShift64 {
    /// A generator with the given state (0 becomes 1).
    pub fn new(seed: u64) -> Self {
        XorShift64(if seed == 0 { 1 } else { seed })
    }

    /// Next 64-bit output.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `[0, 1)` from the top 53 bits.
    #[inline]
    pub fn uniform01(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / 9007199254740992.0)
    }
}

/// The generated data: timestamps and values (`i + 1`), in arrival order.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Timestamps in arrival order.
    pub ts: Vec<i64>,
    /// Values: record index + 1.
    pub values: Vec<u64>,
    /// How many records were moved back (arrive out of order).
    pub moved_back: usize,
}

/// Records per batch in the canonical workload.
pub const BATCH: usize = 4096;

impl Workload {
    /// `n` records with out-of-order rate `ooo_rate`, generator state 12345.
    pub fn new(n: usize, ooo_rate: f64) -> Self {
        let mut rng = XorShift64::new(12345);
        let mut ts = Vec::with_capacity(n);
        let mut values = Vec::with_capacity(n);
        let mut moved_back = 0;
        for i in 0..n {
            // In-order timestamps: 1, 2, 3, ...
            let mut t = i as i64 + 1;
            if i > 1024 && ooo_rate > 0.0 && rng.uniform01() < ooo_rate {
                let back = 1 + (rng.next_u64() % 1024) as i64;
                if t > back {
                    t -= back;
                    moved_back += 1;
                }
            }
            ts.push(t);
            values.push(i as u64 + 1);
        }
        Workload { ts, values, moved_back }
    }

    /// `n` fully shuffled records: record `i` has value `i + 1` and a timestamp
    /// drawn uniformly from `[0, n)` (independent draws, so some timestamps
    /// repeat), generator state 54321. `moved_back` counts the records below
    /// the largest timestamp before them.
    ///
    /// ```
    /// use timelog_compare::workload::Workload;
    /// let w = Workload::shuffled(10_000);
    /// assert!(w.ts.iter().all(|&t| (0..10_000).contains(&t)));
    /// assert!(w.moved_back > 9_000);
    /// ```
    pub fn shuffled(n: usize) -> Self {
        let mut rng = XorShift64::new(54321);
        let ts: Vec<i64> = (0..n).map(|_| (rng.next_u64() % n as u64) as i64).collect();
        let mut max = i64::MIN;
        let moved_back = ts
            .iter()
            .filter(|&&t| {
                let late = t < max;
                max = max.max(t);
                late
            })
            .count();
        Workload { ts, values: (1..=n as u64).collect(), moved_back }
    }

    /// `n` records with realistic timestamps: nanoseconds from 1.7e18 (November
    /// 2023), Poisson arrivals at 100,000 records/s (exponential gaps, mean
    /// 10 µs), and 5 % of the records late by 1 ns to 100 ms (uniform); record `i`
    /// has value `i + 1`, generator state 777. After compaction the engine holds
    /// them sorted, so what its timestamp columns cost is set by the gaps.
    ///
    /// ```
    /// use timelog_compare::workload::Workload;
    /// let w = Workload::realistic(100_000);
    /// let span = (w.ts[99_999] - w.ts[0]) as f64;
    /// assert!((0.9e9..1.1e9).contains(&span), "about one second: {span}");
    /// assert!((4_000..6_000).contains(&w.moved_back));
    /// ```
    pub fn realistic(n: usize) -> Self {
        let mut rng = XorShift64::new(777);
        let mut clock = 1_700_000_000_000_000_000i64;
        let (mut ts, mut moved_back) = (Vec::with_capacity(n), 0);
        for _ in 0..n {
            // 1 - u lies in (0, 1]: its logarithm is finite.
            clock += (-(1.0 - rng.uniform01()).ln() * 10_000.0) as i64;
            let mut t = clock;
            if rng.uniform01() < 0.05 {
                t -= 1 + (rng.next_u64() % 100_000_000) as i64;
                moved_back += 1;
            }
            ts.push(t);
        }
        Workload { ts, values: (1..=n as u64).collect(), moved_back }
    }

    /// The records as `(ts, value)` batches of [`BATCH`] records.
    pub fn batches(&self) -> impl Iterator<Item = (&[i64], &[u64])> {
        self.ts.chunks(BATCH).zip(self.values.chunks(BATCH))
    }

    /// The batches writer `k` of `writers` takes when writers split the workload
    /// batch by batch (writer `k` takes batch `b` iff `b % writers == k`), each with
    /// the arrival index of its first record.
    ///
    /// # Panics
    /// If `k >= writers`.
    pub fn writer_batches(&self, k: usize, writers: usize) -> impl Iterator<Item = (usize, &[i64], &[u64])> {
        assert!(k < writers, "writer {k} of {writers}");
        self.batches().enumerate().skip(k).step_by(writers).map(|(b, (ts, vals))| (b * BATCH, ts, vals))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The check figure: 250,117 records moved back at 5 M, 5 %.
    #[test]
    fn generator_reproduces_the_spec_check_figure() {
        let w = Workload::new(5_000_000, 0.05);
        assert_eq!(w.moved_back, 250_117);
    }

    /// Writers split the batches between them: each batch exactly once, in order.
    #[test]
    fn writer_batches_partition_the_batches() {
        let w = Workload::new(10 * BATCH + 7, 0.05);
        for writers in 1..4 {
            let mut seen: Vec<(usize, i64)> = (0..writers)
                .flat_map(|k| w.writer_batches(k, writers).map(|(first, ts, _)| (first, ts[0])))
                .collect();
            seen.sort_unstable();
            let all: Vec<(usize, i64)> =
                w.batches().enumerate().map(|(b, (ts, _))| (b * BATCH, ts[0])).collect();
            assert_eq!(seen, all, "{writers} writers");
            for k in 0..writers {
                assert!(w.writer_batches(k, writers).all(|(first, _, _)| (first / BATCH) % writers == k));
            }
        }
    }
}
