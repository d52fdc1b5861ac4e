//! The driver shared by the fuzz targets of `timelog-engine`.
//!
//! A fuzz input decodes (through [`arbitrary`]) into a small configuration and a
//! sequence of operations ([`Input`]). [`run`] applies them to a real
//! [`Timelog`] and to an oracle that is correct by construction: the list of
//! every record ever written, each with its sequence number, and the list of
//! every delete with its own number. A record is visible iff no later delete
//! covers its timestamp. A snapshot is compared against the oracle as it was
//! when the snapshot was taken (the oracle only grows, so that state is just a
//! pair of lengths).
//!
//! Values are [`Val`]s: each owns a heap cell holding its record id and counts
//! its live instances, so reads of freed values (caught by AddressSanitizer,
//! and by a canary without it), double drops and leaks all fail the run.
//!
//! The byte format is simple on purpose (one tag byte per operation, one class
//! byte per timestamp), so that [`encode::Enc`] can write seed inputs that reach
//! every operation; see `examples/gen_corpus.rs`.

use std::ops::Bound;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Result as ArbResult, Unstructured};
use timelog::{AdaptiveConfig, CompactionConfig, Error, MaintenanceMode, Snapshot, Timelog};

pub mod encode;

/// At most this many operations are decoded from one input.
pub const MAX_OPS: usize = 256;
/// Snapshots held at once.
pub const SLOTS: usize = 8;
/// Smallest batch that takes the engine's batch-run path.
pub const LARGE_BATCH: usize = 16;

// ----- values ------------------------------------------------------------------------

const ALIVE: u64 = 0xA11C_E5A1_1CE5_0001;
const DEAD: u64 = 0xDEAD_DEAD_DEAD_DEAD;
const MIX: u64 = 0x9E37_79B9_7F4A_7C15;

/// Live [`Val`] instances (originals plus every clone the engine made).
static LIVE: AtomicI64 = AtomicI64::new(0);

/// A value that owns heap memory and accounts for its clones and drops.
pub struct Val {
    id: u64,
    canary: u64,
    cell: Box<u64>,
}

impl Val {
    fn new(id: u64) -> Self {
        LIVE.fetch_add(1, Ordering::Relaxed);
        Val { id, canary: ALIVE, cell: Box::new(id ^ MIX) }
    }

    /// The record id, after checking that this instance was not dropped.
    fn id(&self) -> u64 {
        assert_eq!(self.canary, ALIVE, "read a dropped value (record {})", self.id);
        assert_eq!(*self.cell, self.id ^ MIX, "value of record {} is corrupt", self.id);
        self.id
    }
}

impl Clone for Val {
    fn clone(&self) -> Self {
        Val::new(self.id())
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        assert_eq!(self.canary, ALIVE, "value of record {} dropped twice", self.id);
        self.canary = DEAD;
        LIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Val {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Val({})", self.id)
    }
}

// ----- input format ----------------------------------------------------------------

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
    /// Half-open `[start, end)` in `i128` (computed independently of the
    /// engine's own conversion); `start > end` for an inverted range.
    fn half_open(&self) -> (i128, i128) {
        let start = match self.lo {
            Bound::Included(a) => a as i128,
            Bound::Excluded(a) => a as i128 + 1,
            Bound::Unbounded => i64::MIN as i128,
        };
        let end = match self.hi {
            Bound::Included(b) => b as i128 + 1,
            Bound::Excluded(b) => b as i128,
            Bound::Unbounded => i64::MAX as i128 + 1,
        };
        (start, end)
    }

    /// Inclusive `[lo, hi]` in `i128`, or `None` if the range is empty.
    fn inclusive(&self) -> Option<(i128, i128)> {
        let (start, end) = self.half_open();
        (start < end).then_some((start, end - 1))
    }

    /// Whether the range is inverted: its start lies after its end (`5..3`, but
    /// not `5..5` or `5..=4`).
    fn inverted(&self) -> bool {
        let (start, end) = self.half_open();
        start > end
    }

    fn contains(&self, ts: i64) -> bool {
        self.inclusive().is_some_and(|(lo, hi)| lo <= ts as i128 && ts as i128 <= hi)
    }

    fn bounds(&self) -> (Bound<i64>, Bound<i64>) {
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
    pub fn builder(&self, mode: MaintenanceMode) -> timelog::Builder<Val> {
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

// ----- oracle ------------------------------------------------------------------------

/// Every record and every delete ever written, in write order.
#[derive(Default)]
struct Oracle {
    /// `(ts, seq)`; the record's value has id `seq`.
    recs: Vec<(i64, u64)>,
    /// Inclusive `(lo, hi, seq)`.
    tombs: Vec<(i64, i64, u64)>,
    seq: u64,
    /// The visible records of the latest state, once computed.
    cache: Option<(State, Vec<(i64, u64)>)>,
}

/// A state of the oracle: the first `recs` records and `tombs` deletes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct State {
    recs: usize,
    tombs: usize,
}

impl Oracle {
    fn state(&self) -> State {
        State { recs: self.recs.len(), tombs: self.tombs.len() }
    }

    fn write(&mut self, ts: i64) -> u64 {
        self.seq += 1;
        self.recs.push((ts, self.seq));
        self.seq
    }

    /// The visible records of the current state (cached until the next write).
    fn visible_now(&mut self) -> &[(i64, u64)] {
        let st = self.state();
        if self.cache.as_ref().is_none_or(|c| c.0 != st) {
            self.cache = Some((st, self.visible(st)));
        }
        &self.cache.as_ref().unwrap().1
    }

    /// The visible records `(ts, id)` of a state, in `(ts, insertion)` order.
    fn visible(&self, st: State) -> Vec<(i64, u64)> {
        if let Some((cached, vis)) = &self.cache {
            if *cached == st {
                return vis.clone();
            }
        }
        let tombs = &self.tombs[..st.tombs];
        let mut v: Vec<(i64, u64)> = self.recs[..st.recs]
            .iter()
            .filter(|&&(t, s)| !tombs.iter().any(|&(lo, hi, q)| lo <= t && t <= hi && q > s))
            .copied()
            .collect();
        v.sort_unstable();
        v
    }
}

/// A snapshot held across later operations, with the oracle state it must show.
struct Held {
    snap: Snapshot<Val>,
    state: State,
    /// Manual mode only: taken right after everything was flushed, so every
    /// visible record is in a segment (checked by `segment_pages`).
    all_flushed: bool,
    vis: Option<Vec<(i64, u64)>>,
}

// ----- checks --------------------------------------------------------------------------

fn collect<'a>(it: impl Iterator<Item = (i64, &'a Val)>) -> Vec<(i64, u64)> {
    it.map(|(t, v)| (t, v.id())).collect()
}

fn filter(vis: &[(i64, u64)], span: &Span) -> Vec<(i64, u64)> {
    vis.iter().filter(|r| span.contains(r.0)).copied().collect()
}

fn check_full(snap: &Snapshot<Val>, vis: &[(i64, u64)], what: &str) {
    let got = collect(snap.range(..));
    assert_eq!(got, vis, "{what}: full forward scan");
    let mut back = collect(snap.range(..).rev());
    back.reverse();
    assert_eq!(back, vis, "{what}: full reverse scan");
    assert_eq!(snap.count(..), vis.len(), "{what}: count(..)");
    assert_eq!(snap.len(), vis.len(), "{what}: len()");
    assert_eq!(snap.is_empty(), vis.is_empty(), "{what}: is_empty()");
    assert_eq!(snap.first_ts(), vis.first().map(|r| r.0), "{what}: first_ts");
    assert_eq!(snap.last_ts(), vis.last().map(|r| r.0), "{what}: last_ts");
}

fn check_range(snap: &Snapshot<Val>, vis: &[(i64, u64)], span: &Span, pattern: u8) {
    let want = filter(vis, span);
    let got = collect(snap.range(span.bounds()));
    assert_eq!(got, want, "range {span:?}");
    let mut back = collect(snap.range(span.bounds()).rev());
    back.reverse();
    assert_eq!(back, want, "reverse range {span:?}");
    // Both ends of one iterator, in the order the pattern's bits say.
    let mut it = snap.range(span.bounds());
    let got =
        both_ends(pattern, |back| if back { it.next_back() } else { it.next() }.map(|(t, v)| (t, v.id())));
    assert!(it.next().is_none() && it.next_back().is_none(), "range {span:?}: not fused");
    assert_eq!(got, want, "interleaved range {span:?} pattern {pattern:#04x}");
}

/// Takes records from both ends of one iterator until `pull` gives none: from the
/// back where bit 0 of `pattern` rotated by the step number is set. Returns them in
/// ascending order.
fn both_ends(pattern: u8, mut pull: impl FnMut(bool) -> Option<(i64, u64)>) -> Vec<(i64, u64)> {
    let (mut front, mut rear) = (Vec::new(), Vec::new());
    for i in 0u32.. {
        let from_back = pattern.rotate_left(i % 8) & 1 == 1;
        match pull(from_back) {
            Some(r) if from_back => rear.push(r),
            Some(r) => front.push(r),
            None => break,
        }
    }
    rear.reverse();
    front.extend(rear);
    front
}

fn check_point(snap: &Snapshot<Val>, vis: &[(i64, u64)], ts: i64) {
    let want: Vec<u64> = vis.iter().filter(|r| r.0 == ts).map(|r| r.1).collect();
    let it = snap.point(ts);
    assert_eq!(it.len(), want.len(), "point({ts}).len()");
    let got: Vec<u64> = it.map(Val::id).collect();
    assert_eq!(got, want, "point({ts})");
    let mut back: Vec<u64> = snap.point(ts).rev().map(Val::id).collect();
    back.reverse();
    assert_eq!(back, want, "point({ts}).rev()");
    let mut out = Vec::new();
    snap.point_into(ts, &mut out);
    let got: Vec<u64> = out.into_iter().map(Val::id).collect();
    assert_eq!(got, want, "point_into({ts})");
}

fn check_nav(snap: &Snapshot<Val>, vis: &[(i64, u64)], ts: i64) {
    assert_eq!(snap.first_ts(), vis.first().map(|r| r.0), "first_ts");
    assert_eq!(snap.last_ts(), vis.last().map(|r| r.0), "last_ts");
    assert_eq!(snap.next_ts(ts), vis.iter().find(|r| r.0 > ts).map(|r| r.0), "next_ts({ts})");
    assert_eq!(snap.prev_ts(ts), vis.iter().rev().find(|r| r.0 < ts).map(|r| r.0), "prev_ts({ts})");
}

fn check_cursor(snap: Snapshot<Val>, vis: &[(i64, u64)], span: &Span, pattern: u8) {
    let want = filter(vis, span);
    let mut cur = snap.into_cursor(span.bounds());
    assert_eq!(cur.remaining(), want.len(), "cursor {span:?}: remaining at start");
    let mut taken = 0;
    let got = both_ends(pattern, |back| {
        let r = if back { cur.next_back_ref() } else { cur.next_ref() }.map(|(t, v)| (t, v.id()));
        taken += usize::from(r.is_some());
        assert_eq!(cur.remaining(), want.len() - taken, "cursor {span:?}: remaining");
        r
    });
    assert_eq!(got, want, "cursor {span:?} pattern {pattern:#04x}");
    let _ = cur.snapshot().watermark();
}

/// Pages lie inside the span, are sorted, hold records that were written (each
/// at most once, at its own timestamp); right after a full flush they hold every
/// visible record of the span.
fn check_pages(o: &Oracle, h: &Held, vis: &[(i64, u64)], span: &Span) {
    let pages = h.snap.segment_pages(span.bounds());
    let mut seen = std::collections::HashSet::new();
    for p in &pages {
        assert!(!p.is_empty(), "segment_pages: empty page");
        assert_eq!(p.timestamps().len(), p.len());
        assert_eq!(p.values().len(), p.len());
        assert!(p.timestamps().windows(2).all(|w| w[0] <= w[1]), "segment_pages: page not sorted");
        for (&t, v) in p.timestamps().iter().zip(p.values()) {
            let id = v.id();
            assert!(span.contains(t), "segment_pages {span:?}: ts {t} outside");
            // Ids are sequence numbers, and records were pushed in sequence order.
            let rec = o.recs[..h.state.recs]
                .binary_search_by_key(&id, |r| r.1)
                .unwrap_or_else(|_| panic!("segment_pages: record {id} unknown to this snapshot"));
            assert_eq!(o.recs[rec].0, t, "segment_pages: record {id} at the wrong ts");
            assert!(seen.insert(id), "segment_pages: record {id} twice");
        }
        let _ = p.level();
    }
    if h.all_flushed {
        for r in filter(vis, span) {
            assert!(seen.contains(&r.1), "segment_pages {span:?}: flushed record {r:?} missing");
        }
    }
}

// ----- the driver --------------------------------------------------------------------

/// How many times each operation kind ran (for corpus coverage checks).
pub type Reached = [usize; OPS];

struct World {
    mode: MaintenanceMode,
    log: Timelog<Val>,
    o: Oracle,
    slots: Vec<Option<Held>>,
    last_seq: Option<u64>,
    last_watermark: u64,
    /// Manual mode: nothing written since the last flush/compact_now.
    all_flushed: bool,
    running: bool,
    sealed_max_runs: usize,
}

impl World {
    fn manual(&self) -> bool {
        self.mode == MaintenanceMode::Manual
    }

    fn fresh(&mut self) -> Held {
        let snap = self.log.snapshot();
        assert!(snap.watermark() >= self.last_watermark, "watermark went back");
        self.last_watermark = snap.watermark();
        Held { snap, state: self.o.state(), all_flushed: self.manual() && self.all_flushed, vis: None }
    }

    /// The held snapshot a target names, or a fresh one.
    fn target(&mut self, t: Target) -> Held {
        if t.0 != 0 {
            if let Some(h) = &mut self.slots[(t.0 as usize - 1) % SLOTS] {
                let vis = h.vis.get_or_insert_with(|| self.o.visible(h.state)).clone();
                return Held {
                    snap: h.snap.clone(),
                    state: h.state,
                    all_flushed: h.all_flushed,
                    vis: Some(vis),
                };
            }
        }
        let mut h = self.fresh();
        h.vis = Some(self.o.visible_now().to_vec());
        h
    }

    fn tracked(&mut self, w: timelog::Written, n: u64) {
        assert_eq!(w.count, n, "Written::count");
        if n == 0 {
            return;
        }
        if let Some(last) = self.last_seq {
            assert!(w.first_seq > last, "sequence numbers went back: {} after {last}", w.first_seq);
        }
        self.last_seq = Some(w.last_seq());
        assert!(w.visible_in(&self.log.snapshot()), "a completed write is not visible");
        for h in self.slots.iter().flatten() {
            assert!(!w.visible_in(&h.snap), "an older snapshot sees a later write");
        }
        self.all_flushed = false;
    }

    fn batch(&mut self, ts: &[i64], columns: bool) {
        let ids: Vec<u64> = ts.iter().map(|&t| self.o.write(t)).collect();
        let w = if columns {
            let vals = ids.iter().map(|&id| Val::new(id)).collect();
            self.log.append_columns(ts.to_vec(), vals)
        } else {
            self.log.append_batch(ts.iter().zip(&ids).map(|(&t, &id)| (t, Val::new(id))))
        };
        self.tracked(w, ts.len() as u64);
    }

    fn delete(&mut self, span: Span) {
        let r = self.log.delete_range(span.bounds());
        match span.inclusive() {
            Some((lo, hi)) => {
                let w = r.unwrap_or_else(|e| panic!("delete_range({span:?}): {e}"));
                self.o.seq += 1;
                self.o.tombs.push((lo as i64, hi as i64, self.o.seq));
                self.tracked(w, 1);
            }
            None if span.inverted() => {
                assert_eq!(r, Err(Error::InvalidRange), "delete_range({span:?}) of an inverted range")
            }
            None => {
                let w = r.unwrap_or_else(|e| panic!("delete_range({span:?}) of an empty range: {e}"));
                assert_eq!(w.count, 0, "an empty delete takes no sequence number");
            }
        }
    }

    fn validate(&mut self) {
        if let Err(e) = self.log.validate() {
            panic!("validate: {e}");
        }
        let vis_len = self.o.visible_now().len();
        assert_eq!(self.log.stats().records, vis_len, "stats().records");
        assert_eq!(self.log.len(), vis_len, "len()");
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Append(ts) => {
                let id = self.o.write(*ts);
                let w = self.log.append(*ts, Val::new(id));
                self.tracked(w, 1);
            }
            Op::SmallBatch(ts) | Op::LargeBatch(ts) => self.batch(ts, false),
            Op::Columns(ts) => self.batch(ts, true),
            Op::Delete(span) => self.delete(*span),
            Op::DeleteBefore(ts) => {
                let r = self.log.delete_before(*ts);
                if *ts == i64::MIN {
                    assert!(r.is_ok(), "delete_before(i64::MIN) deletes nothing: {r:?}");
                } else {
                    assert!(r.is_ok(), "delete_before({ts}): {r:?}");
                    self.o.seq += 1;
                    self.o.tombs.push((i64::MIN, ts - 1, self.o.seq));
                    self.all_flushed = false;
                }
            }
            Op::Flush => {
                self.log.flush();
                self.all_flushed = true;
                assert_eq!(self.log.sealed_queue_len(), 0, "flush() left sealed memtables");
            }
            Op::Compact => self.log.compact(),
            Op::CompactNow => {
                self.log.compact_now();
                self.all_flushed = true;
            }
            Op::Step(n) => {
                for _ in 0..*n {
                    match self.log.maint_step() {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(e) => {
                            assert!(!self.manual() && e == Error::WrongMode, "maint_step: {e}");
                            break;
                        }
                    }
                    assert!(self.manual(), "maint_step succeeded in background mode");
                }
            }
            Op::TakeSnapshot(slot) => {
                let h = self.fresh();
                self.slots[*slot as usize % SLOTS] = Some(h);
            }
            Op::CheckSnapshot(slot) => {
                let i = *slot as usize % SLOTS;
                if let Some(h) = &mut self.slots[i] {
                    let vis = h.vis.get_or_insert_with(|| self.o.visible(h.state));
                    check_full(&h.snap, vis, "held snapshot");
                }
            }
            Op::DropSnapshot(slot) => self.slots[*slot as usize % SLOTS] = None,
            Op::Range(t, span, pattern) => {
                let h = self.target(*t);
                check_range(&h.snap, h.vis.as_deref().unwrap(), span, *pattern);
            }
            Op::Point(t, ts) => {
                let h = self.target(*t);
                check_point(&h.snap, h.vis.as_deref().unwrap(), *ts);
            }
            Op::Count(t, span) => {
                let h = self.target(*t);
                let want = filter(h.vis.as_deref().unwrap(), span).len();
                assert_eq!(h.snap.count(span.bounds()), want, "count({span:?})");
            }
            Op::Nav(t, ts) => {
                let h = self.target(*t);
                check_nav(&h.snap, h.vis.as_deref().unwrap(), *ts);
            }
            Op::Validate => self.validate(),
            Op::Cursor(t, span, pattern) => {
                let h = self.target(*t);
                let vis = h.vis.unwrap();
                check_cursor(h.snap, &vis, span, *pattern);
            }
            Op::Pages(t, span) => {
                let h = self.target(*t);
                check_pages(&self.o, &h, h.vis.as_deref().unwrap(), span);
            }
            Op::Toggle(start) => {
                let r = if *start { self.log.start_maintenance() } else { self.log.stop_maintenance() };
                if self.manual() {
                    assert_eq!(r, Err(Error::WrongMode), "toggling maintenance in manual mode");
                } else {
                    assert_eq!(r, Ok(()), "toggling maintenance");
                    self.running = *start;
                }
                assert_eq!(self.log.maintenance_running(), self.running, "maintenance_running()");
            }
            Op::LogReads(span, ts) => {
                let vis = self.o.visible_now().to_vec();
                let want = filter(&vis, span);
                let got: Vec<(i64, u64)> =
                    self.log.range_vec(span.bounds()).iter().map(|(t, v)| (*t, v.id())).collect();
                assert_eq!(got, want, "range_vec({span:?})");
                assert_eq!(self.log.count(span.bounds()), want.len(), "Timelog::count({span:?})");
                let pts: Vec<u64> = self.log.point(*ts).iter().map(Val::id).collect();
                let want_pts: Vec<u64> = vis.iter().filter(|r| r.0 == *ts).map(|r| r.1).collect();
                assert_eq!(pts, want_pts, "Timelog::point({ts})");
                assert_eq!(self.log.len(), vis.len(), "Timelog::len()");
                assert_eq!(self.log.is_empty(), vis.is_empty(), "Timelog::is_empty()");
                assert_eq!(self.log.first_ts(), vis.first().map(|r| r.0), "Timelog::first_ts");
                assert_eq!(self.log.last_ts(), vis.last().map(|r| r.0), "Timelog::last_ts");
                assert_eq!(self.log.next_ts(*ts), vis.iter().find(|r| r.0 > *ts).map(|r| r.0));
                assert_eq!(self.log.prev_ts(*ts), vis.iter().rev().find(|r| r.0 < *ts).map(|r| r.0));
            }
            Op::Room => {
                let queued = self.log.sealed_queue_len();
                if !self.running {
                    // Manual mode, or workers stopped: nothing would make room, so it
                    // answers at once whether the sealed queue is within its limit.
                    let room = self.log.wait_for_room(Duration::from_secs(3600));
                    assert_eq!(
                        room,
                        queued <= self.sealed_max_runs,
                        "wait_for_room with {queued} sealed memtables"
                    );
                } else {
                    let _ = self.log.wait_for_room(Duration::from_millis(1));
                }
            }
        }
    }
}

/// Lets the epoch-based reclamation catch up until no value is alive, or fails.
fn settle_leaks() {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let live = LIVE.load(Ordering::SeqCst);
        if live == 0 {
            return;
        }
        assert!(live > 0, "more value drops than creations ({live})");
        assert!(
            Instant::now() < deadline,
            "{live} values still alive after the log and every snapshot were dropped"
        );
        for _ in 0..16 {
            crossbeam_epoch::pin().flush();
        }
        std::thread::yield_now();
    }
}

/// Applies `input` to a log in `mode` and to the oracle, checking as it goes,
/// then checks everything once more (also after a full compaction), drops the
/// log and every snapshot, and checks that every value was dropped exactly once.
/// Returns how often each operation kind ran.
pub fn run(mode: MaintenanceMode, input: &Input) -> Reached {
    let mut reached = [0; OPS];
    let cfg = input.setup.builder(mode).config().expect("every setup is a valid configuration");
    let sealed_max_runs = cfg.sealed_max_runs();
    let log: Timelog<Val> = Timelog::with_config(cfg);
    let mut w = World {
        mode,
        log,
        o: Oracle::default(),
        slots: (0..SLOTS).map(|_| None).collect(),
        last_seq: None,
        last_watermark: 0,
        all_flushed: true,
        running: mode == MaintenanceMode::Background,
        sealed_max_runs,
    };
    for op in &input.ops {
        reached[op.tag()] += 1;
        w.apply(op);
    }
    let vis = w.o.visible_now().to_vec();
    check_full(&w.log.snapshot(), &vis, "final state");
    w.validate();
    for h in w.slots.iter_mut().flatten() {
        let v = h.vis.get_or_insert_with(|| w.o.visible(h.state));
        check_full(&h.snap, v, "held snapshot at the end");
    }
    w.log.compact_now();
    check_full(&w.log.snapshot(), &vis, "after a final compact_now");
    w.validate();
    for h in w.slots.iter().flatten() {
        check_full(&h.snap, h.vis.as_deref().unwrap(), "held snapshot after the final compact_now");
    }
    drop(w);
    settle_leaks();
    reached
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed seeds decode, reach every operation kind, and pass in both modes.
    #[test]
    fn seeds_reach_every_op_and_pass() {
        for (target, mode) in
            [("ops_manual", MaintenanceMode::Manual), ("ops_background", MaintenanceMode::Background)]
        {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
            let mut reached = [0; OPS];
            let mut seeds = 0;
            for entry in std::fs::read_dir(&dir).expect("corpus dir") {
                let path = entry.unwrap().path();
                if !path.file_name().unwrap().to_string_lossy().starts_with("seed-") {
                    continue;
                }
                seeds += 1;
                let input = decode(&std::fs::read(&path).unwrap());
                for (r, n) in reached.iter_mut().zip(run(mode, &input)) {
                    *r += n;
                }
            }
            assert!(seeds > 0, "no seeds in {}", dir.display());
            for (name, n) in OP_NAMES.iter().zip(reached) {
                assert!(n > 0, "{target}: no seed reaches {name}");
            }
        }
    }
}
