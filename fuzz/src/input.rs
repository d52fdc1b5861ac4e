//! The input format of the fuzz targets: an input decodes (through [`arbitrary`],
//! by hand-written implementations that [`crate::encode::Enc`] inverts) into a
//! [`Setup`] of eight bytes and a sequence of [`Op`]s.

use std::ops::Bound;
use std::time::Duration;

use arbitrary::{Arbitrary, Result as ArbResult, Unstructured};
use timelog::{AdaptiveConfig, CompactionConfig, MaintenanceMode, Timelog};
use timelog_testkit::ledger::Tracked;

/// At most this many operations are decoded from one input.
pub const MAX_OPS: usize = 256;
/// Snapshots held at once.
pub const SLOTS: usize = 8;
/// Smallest batch that takes the engine's batch-run path.
pub const LARGE_BATCH: usize = 16;

/// Timestamps that a class byte in `160..176` selects.
pub const SPECIAL_TS: [i64; 16] = [
    i64::MIN,
    i64::MIN + 1,
    i64::MIN + 2,
    i64::MAX,
    i64::MAX - 1,
    i64::MAX - 2,
    0,
    -1,
    1,
    i64::MIN / 2,
    i64::MAX / 2,
    1000,
    -1000,
    999,
    1001,
    1 << 62,
];

/// Decodes one timestamp: most values are small (they collide a lot), some are
/// extremes, some are anything.
///
/// | class byte | timestamp |
/// |---|---|
/// | `0..160` | `byte % 20 - 10` |
/// | `160..176` | `SPECIAL_TS[byte - 160]` |
/// | `176..240` | the next two bytes as an `i16` |
/// | `240..=255` | the next eight bytes as an `i64` |
pub fn decode_ts(u: &mut Unstructured<'_>) -> ArbResult<i64> {
    let b = u8::arbitrary(u)?;
    Ok(match b {
        0..=159 => (b % 20) as i64 - 10,
        160..=175 => SPECIAL_TS[(b - 160) as usize],
        176..=239 => i16::arbitrary(u)? as i64,
        240..=255 => i64::arbitrary(u)?,
    })
}

/// A range as any `RangeBounds<i64>` can express it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Start bound.
    pub lo: Bound<i64>,
    /// End bound.
    pub hi: Bound<i64>,
}

impl Span {
    /// The pair of bounds, as the engine's reads and deletes take it.
    pub fn bounds(&self) -> (Bound<i64>, Bound<i64>) {
        (self.lo, self.hi)
    }
}

/// Range shapes selected by the shape byte (`byte % 9`).
pub const SHAPES: usize = 9;

impl<'a> Arbitrary<'a> for Span {
    /// A shape byte, then the bounds it needs: `a..b`, `a..=b`, `a..`, `..b`,
    /// `..=b`, `..`, `(Excluded(a), Included(b))`, `(Excluded(a), Excluded(b))`,
    /// `(Excluded(a), Unbounded)`.
    fn arbitrary(u: &mut Unstructured<'a>) -> ArbResult<Self> {
        use Bound::*;
        let shape = u8::arbitrary(u)? as usize % SHAPES;
        Ok(match shape {
            0 => Span { lo: Included(decode_ts(u)?), hi: Excluded(decode_ts(u)?) },
            1 => Span { lo: Included(decode_ts(u)?), hi: Included(decode_ts(u)?) },
            2 => Span { lo: Included(decode_ts(u)?), hi: Unbounded },
            3 => Span { lo: Unbounded, hi: Excluded(decode_ts(u)?) },
            4 => Span { lo: Unbounded, hi: Included(decode_ts(u)?) },
            5 => Span { lo: Unbounded, hi: Unbounded },
            6 => Span { lo: Excluded(decode_ts(u)?), hi: Included(decode_ts(u)?) },
            7 => Span { lo: Excluded(decode_ts(u)?), hi: Excluded(decode_ts(u)?) },
            _ => Span { lo: Excluded(decode_ts(u)?), hi: Unbounded },
        })
    }
}

/// Shapes of the timestamps of a batch (`byte % 4`), then a length byte.
pub const BATCH_SHAPES: usize = 4;

/// Decodes the timestamps of a batch of `n` records.
///
/// | shape | timestamps |
/// |---|---|
/// | 0 | each one decoded with [`decode_ts`] |
/// | 1 | nearly sorted: a start, then per record a step byte `d`: `d < 0xf0` adds `d % 4`, otherwise steps back by `d & 15` (saturating) |
/// | 2 | all equal to one decoded timestamp |
/// | 3 | descending by one from a decoded start (saturating) |
fn batch_ts(u: &mut Unstructured<'_>, shape: usize, n: usize) -> ArbResult<Vec<i64>> {
    let mut out = Vec::with_capacity(n);
    match shape {
        0 => {
            for _ in 0..n {
                out.push(decode_ts(u)?);
            }
        }
        1 => {
            let mut t = decode_ts(u)?;
            for _ in 0..n {
                out.push(t);
                let d = u8::arbitrary(u)?;
                t = if d < 0xf0 {
                    t.saturating_add((d % 4) as i64)
                } else {
                    t.saturating_sub((d & 15) as i64)
                };
            }
        }
        2 => {
            let t = decode_ts(u)?;
            out.resize(n, t);
        }
        _ => {
            let t = decode_ts(u)?;
            out.extend((0..n).map(|i| t.saturating_sub(i as i64)));
        }
    }
    Ok(out)
}

/// Which snapshot a read uses: a fresh one (`0`), or the held snapshot in slot
/// `(byte - 1) % SLOTS` (a fresh one if that slot is empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target(pub u8);

impl<'a> Arbitrary<'a> for Target {
    fn arbitrary(u: &mut Unstructured<'a>) -> ArbResult<Self> {
        Ok(Target(u8::arbitrary(u)?))
    }
}

/// One operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `append(ts, _)`.
    Append(i64),
    /// `append_batch_tracked` of fewer than 16 records (one record at a time inside).
    SmallBatch(Vec<i64>),
    /// `append_batch_tracked` of 16 or more records (the batch-run path).
    LargeBatch(Vec<i64>),
    /// `append_columns_tracked` of a batch of any size.
    Columns(Vec<i64>),
    /// `delete_range(span)`.
    Delete(Span),
    /// `delete_before(ts)`.
    DeleteBefore(i64),
    /// `flush()`.
    Flush,
    /// `compact()` (a request).
    Compact,
    /// `compact_now()`.
    CompactNow,
    /// Up to `n` calls of `maint_step()` (until it reports no work).
    Step(u8),
    /// Takes a snapshot into a slot (replacing what was there).
    TakeSnapshot(u8),
    /// Checks a held snapshot completely against its oracle state.
    CheckSnapshot(u8),
    /// Drops a held snapshot.
    DropSnapshot(u8),
    /// `range(span)`: forward, reverse, and both ends interleaved by `pattern`.
    Range(Target, Span, u8),
    /// `point(ts)`, forward, reverse and `point_into`.
    Point(Target, i64),
    /// `count(span)`.
    Count(Target, Span),
    /// `first_ts`, `last_ts`, `next_ts(ts)`, `prev_ts(ts)`.
    Nav(Target, i64),
    /// `validate()`, `stats()`, `len()`.
    Validate,
    /// An owning cursor over `span`, walked from both ends by the bits of `pattern`.
    Cursor(Target, Span, u8),
    /// `segment_pages(span)`.
    Pages(Target, Span),
    /// `stop_maintenance()` (`false`) or `start_maintenance()` (`true`).
    Toggle(bool),
    /// The `Timelog` convenience reads: `range_vec`, `point`, `count`, `len`,
    /// `is_empty`, `first_ts`, `last_ts`, `next_ts`, `prev_ts`.
    LogReads(Span, i64),
    /// `sealed_queue_len()` and `wait_for_room`.
    Room,
}

/// Number of operation kinds; the tag byte selects `tag % OPS`.
pub const OPS: usize = 23;

/// Names of the operation kinds, by tag.
pub const OP_NAMES: [&str; OPS] = [
    "append",
    "small_batch",
    "large_batch",
    "columns",
    "delete_range",
    "delete_before",
    "flush",
    "compact",
    "compact_now",
    "maint_step",
    "take_snapshot",
    "check_snapshot",
    "drop_snapshot",
    "range",
    "point",
    "count",
    "nav",
    "validate",
    "cursor",
    "segment_pages",
    "toggle_maintenance",
    "log_reads",
    "room",
];

impl Op {
    /// The tag of this operation (its index in [`OP_NAMES`]).
    pub fn tag(&self) -> usize {
        match self {
            Op::Append(_) => 0,
            Op::SmallBatch(_) => 1,
            Op::LargeBatch(_) => 2,
            Op::Columns(_) => 3,
            Op::Delete(_) => 4,
            Op::DeleteBefore(_) => 5,
            Op::Flush => 6,
            Op::Compact => 7,
            Op::CompactNow => 8,
            Op::Step(_) => 9,
            Op::TakeSnapshot(_) => 10,
            Op::CheckSnapshot(_) => 11,
            Op::DropSnapshot(_) => 12,
            Op::Range(..) => 13,
            Op::Point(..) => 14,
            Op::Count(..) => 15,
            Op::Nav(..) => 16,
            Op::Validate => 17,
            Op::Cursor(..) => 18,
            Op::Pages(..) => 19,
            Op::Toggle(_) => 20,
            Op::LogReads(..) => 21,
            Op::Room => 22,
        }
    }
}

impl<'a> Arbitrary<'a> for Op {
    fn arbitrary(u: &mut Unstructured<'a>) -> ArbResult<Self> {
        let tag = u8::arbitrary(u)? as usize % OPS;
        Ok(match tag {
            0 => Op::Append(decode_ts(u)?),
            1 => {
                let shape = u8::arbitrary(u)? as usize % BATCH_SHAPES;
                let n = u8::arbitrary(u)? as usize % LARGE_BATCH;
                Op::SmallBatch(batch_ts(u, shape, n)?)
            }
            2 => {
                let shape = u8::arbitrary(u)? as usize % BATCH_SHAPES;
                let n = LARGE_BATCH + u8::arbitrary(u)? as usize % 100;
                Op::LargeBatch(batch_ts(u, shape, n)?)
            }
            3 => {
                let shape = u8::arbitrary(u)? as usize % BATCH_SHAPES;
                let n = u8::arbitrary(u)? as usize % 48;
                Op::Columns(batch_ts(u, shape, n)?)
            }
            4 => Op::Delete(Span::arbitrary(u)?),
            5 => Op::DeleteBefore(decode_ts(u)?),
            6 => Op::Flush,
            7 => Op::Compact,
            8 => Op::CompactNow,
            9 => Op::Step(u8::arbitrary(u)? % 4 + 1),
            10 => Op::TakeSnapshot(u8::arbitrary(u)?),
            11 => Op::CheckSnapshot(u8::arbitrary(u)?),
            12 => Op::DropSnapshot(u8::arbitrary(u)?),
            13 => Op::Range(Target::arbitrary(u)?, Span::arbitrary(u)?, u8::arbitrary(u)?),
            14 => Op::Point(Target::arbitrary(u)?, decode_ts(u)?),
            15 => Op::Count(Target::arbitrary(u)?, Span::arbitrary(u)?),
            16 => Op::Nav(Target::arbitrary(u)?, decode_ts(u)?),
            17 => Op::Validate,
            18 => Op::Cursor(Target::arbitrary(u)?, Span::arbitrary(u)?, u8::arbitrary(u)?),
            19 => Op::Pages(Target::arbitrary(u)?, Span::arbitrary(u)?),
            20 => Op::Toggle(u8::arbitrary(u)? & 1 == 1),
            21 => Op::LogReads(Span::arbitrary(u)?, decode_ts(u)?),
            _ => Op::Room,
        })
    }
}

/// The configuration knobs an input picks (8 bytes; see [`Setup::builder`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Setup(pub [u8; 8]);

/// Window sizes selected by `byte % 8`.
pub const WINDOWS: [i64; 8] = [1, 2, 3, 7, 16, 1000, i64::MAX / 3, i64::MAX];
/// Window origins selected by `byte % 4`.
pub const ORIGINS: [i64; 4] = [0, 1, -5, i64::MIN];
/// Fractions of deleted records that get a segment rewritten, selected by `(byte >> 2) % 4`
/// (the first is the default).
pub const DEAD_FRACTIONS: [f64; 4] = [0.25, 1.0, 0.01, 0.5];

impl Setup {
    /// The builder this setup describes, in `mode`.
    ///
    /// | byte | knob |
    /// |---|---|
    /// | 0 | `memtable_max_bytes = 64 + 16 * b` |
    /// | 1 | `target_page_bytes = 256 + 64 * (b % 8)` |
    /// | 2 | `max_l0_segments = 1 + b % 4` |
    /// | 3 | `window_size = WINDOWS[b % 8]` |
    /// | 4 | `window_origin = ORIGINS[b % 4]`; `segment_dead_fraction = DEAD_FRACTIONS[(b >> 2) % 4]`; bit 7: `drain_batch_limit = 1` |
    /// | 5 | `sealed_max_runs = 1 + b % 4`; bit 7: `sealed_wait = 1 ms` (else zero) |
    /// | 6 | adaptive windows with `target_records = 1 + (b / 4) % 20` if `b % 4 == 0` |
    /// | 7 | compaction caps: `max_inputs = b & 3`, `max_windows = (b >> 2) & 3`, bit 4: `target_bytes = 512`; bit 5: `delete_debt_threshold = 0.25`; bit 6: `ooo_budget_bytes = 16` |
    pub fn builder(&self, mode: MaintenanceMode) -> timelog::Builder<Tracked> {
        let c = self.0;
        let adaptive = if c[6] & 3 == 0 {
            AdaptiveConfig {
                target_records: 1 + (c[6] as u64 / 4) % 20,
                warmup_flushes: 1,
                hysteresis_pct: 0,
                max_window: 1000,
                ..AdaptiveConfig::default()
            }
        } else {
            AdaptiveConfig::default()
        };
        let mut b = Timelog::builder()
            .memtable_max_bytes(64 + 16 * c[0] as usize)
            .target_page_bytes(256 + 64 * (c[1] as usize % 8))
            .max_l0_segments(1 + c[2] as usize % 4)
            .window_size(WINDOWS[c[3] as usize % 8])
            .window_origin(ORIGINS[c[4] as usize % 4])
            .drain_batch_limit(if c[4] & 0x80 != 0 { 1 } else { 0 })
            .sealed_max_runs(1 + c[5] as usize % 4)
            .sealed_wait(if c[5] & 0x80 != 0 { Duration::from_millis(1) } else { Duration::ZERO })
            .maintenance_wakeup(Duration::from_millis(1))
            .adaptive(adaptive)
            .compaction(CompactionConfig {
                target_bytes: if c[7] & 0x10 != 0 { 512 } else { 0 },
                max_inputs: (c[7] & 3) as u32,
                max_windows: ((c[7] >> 2) & 3) as u32,
            })
            .delete_debt_threshold(if c[7] & 0x20 != 0 { 0.25 } else { 0.0 })
            .segment_dead_fraction(DEAD_FRACTIONS[(c[4] as usize >> 2) % 4])
            .maintenance(mode);
        if c[7] & 0x40 != 0 {
            b = b.ooo_budget_bytes(16);
        }
        b
    }
}

impl<'a> Arbitrary<'a> for Setup {
    fn arbitrary(u: &mut Unstructured<'a>) -> ArbResult<Self> {
        Ok(Setup(<[u8; 8]>::arbitrary(u)?))
    }
}

/// A whole fuzz input: the setup, then operations until the data runs out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// Configuration knobs.
    pub setup: Setup,
    /// The operations, at most [`MAX_OPS`].
    pub ops: Vec<Op>,
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> ArbResult<Self> {
        let setup = Setup::arbitrary(u)?;
        let mut ops = Vec::new();
        while !u.is_empty() && ops.len() < MAX_OPS {
            ops.push(Op::arbitrary(u)?);
        }
        Ok(Input { setup, ops })
    }
}

/// Decodes raw bytes the way the fuzz targets do.
pub fn decode(data: &[u8]) -> Input {
    Input::arbitrary_take_rest(Unstructured::new(data)).expect("decoding never fails")
}
