//! Sources: the plain per-source view that the storage layers hand to the merge.
//!
//! Each source is a sorted window of one layer (a segment's visible sub-range, a
//! memtable run, the materialised part of a memtable's skiplist): its timestamp
//! column, its values, the sequence numbers of memtable records, and a rank that
//! orders sources by age for equal timestamps: L1 (0), then L0 segments oldest
//! first, then memtables ([`MEM_RANK`]), whose records carry their own sequence
//! numbers, which order them among themselves. The merge (`crate::merge`) reads
//! sources through [`Columns`] and knows nothing of where they came from; the
//! storage types build them and know nothing of the merge.

use std::borrow::Cow;

use crate::packed::PackedTs;
use crate::tombstone::{record_visible, Piece};

/// Timestamps of one source: a slice (plain segment columns, memtable runs, a
/// copy of skiplist records) or a packed segment column, which the merge reads
/// one timestamp at a time for its keys and a window of decoded blocks at a time
/// for its stretches.
pub(crate) enum Ts<'a> {
    Plain(Cow<'a, [i64]>),
    Packed(&'a PackedTs),
}

impl Ts<'_> {
    /// Timestamp `j`.
    #[inline(always)]
    pub(crate) fn get(&self, j: usize) -> i64 {
        match self {
            Ts::Plain(v) => v[j],
            Ts::Packed(p) => p.get(j),
        }
    }

    /// Appends timestamps `a..b` to `out`.
    pub(crate) fn extend_into(&self, a: usize, b: usize, out: &mut Vec<i64>) {
        match self {
            Ts::Plain(v) => out.extend_from_slice(&v[a..b]),
            Ts::Packed(p) => p.decode_range(a, b, out),
        }
    }
}

/// Values of one source: a contiguous slice, or references gathered from a skiplist.
pub(crate) enum Vals<'a, V> {
    Slice(&'a [V]),
    Refs(Vec<&'a V>),
}

/// Sequence numbers of a memtable source's records: one per record, or
/// consecutive from a base (a batch run: record `j` has `base + j`).
pub(crate) enum Seqs<'a> {
    Each(Cow<'a, [u64]>),
    From(u64),
}

impl Seqs<'_> {
    /// Sequence number of record `j`.
    #[inline]
    pub(crate) fn get(&self, j: usize) -> u64 {
        match self {
            Seqs::Each(q) => q[j],
            Seqs::From(base) => base + j as u64,
        }
    }
}

/// A source's sequence numbers as the merge reads them: `each[j]` for sources with
/// per-record numbers, otherwise `base + j * step` (batch runs: step 1; segments,
/// which carry none: 0 and 0, so the key's last part is 0).
///
/// A struct rather than an enum on purpose: every word is written for every kind of
/// source. With `Option<Seqs>`, the slice length was never written for batch runs
/// and segments, and LLVM hoists the per-record bounds check (`j < len`) above the
/// variant test; the result is then discarded, so nothing was wrong, but memcheck
/// reported a conditional jump on an uninitialised value (in the merge's first sort).
struct SeqCol<'a> {
    each: Cow<'a, [u64]>,
    per_record: bool,
    base: u64,
    step: u64,
}

impl<'a> SeqCol<'a> {
    /// Segments: no sequence numbers (the key's last part is 0).
    const NONE: SeqCol<'static> = SeqCol { each: Cow::Borrowed(&[]), per_record: false, base: 0, step: 0 };

    fn new(seqs: Seqs<'a>) -> Self {
        match seqs {
            Seqs::Each(each) => SeqCol { each, per_record: true, base: 0, step: 0 },
            Seqs::From(base) => SeqCol { each: Cow::Borrowed(&[]), per_record: false, base, step: 1 },
        }
    }

    #[inline]
    fn get(&self, j: usize) -> u64 {
        if self.per_record {
            self.each[j]
        } else {
            self.base + j as u64 * self.step
        }
    }

    /// The largest sequence number of records `[lo, hi)` (not empty).
    fn max(&self, lo: usize, hi: usize) -> u64 {
        if self.per_record {
            self.each[lo..hi].iter().copied().max().unwrap_or(0)
        } else {
            self.get(hi - 1)
        }
    }
}

/// How the merge reaches one source's columns.
pub(crate) trait Columns {
    /// What a stretch that needs no per-record check keeps for the hot path.
    type Fast: Copy;
    /// Timestamp of record `j`.
    fn ts_at(&self, j: usize) -> i64;
    /// The packed timestamp column, if the source has one: the merge then walks
    /// its stretches through windows of decoded blocks, and its hot-path handle's
    /// timestamps ([`Columns::fast_ts`]) are empty.
    fn packed(&self) -> Option<&PackedTs>;
    /// Sequence number of record `j` (0 for sources without any).
    fn seq(&self, j: usize) -> u64;
    /// The largest sequence number of records `[lo, hi)` (not empty).
    fn max_seq(&self, lo: usize, hi: usize) -> u64 {
        (lo..hi).map(|j| self.seq(j)).max().unwrap_or(0)
    }
    /// The hot-path handle, if the columns have one.
    fn fast(&self) -> Option<Self::Fast>;
    /// Hints that record `j` (which may be past the end) will be read soon.
    fn prefetch(&self, j: usize);
    /// The timestamps of a hot-path handle (empty if it has none).
    fn fast_ts(f: &Self::Fast) -> &[i64];
    /// [`Columns::prefetch`] through a hot-path handle.
    fn fast_prefetch(f: &Self::Fast, j: usize);
}

/// Columns borrowed from a snapshot (the sources of `iter::Range`).
pub(crate) struct Borrowed<'a, V> {
    pub(crate) ts: Ts<'a>,
    /// Sequence numbers (memtable sources; segments: none, see [`SeqCol::NONE`]).
    seq: SeqCol<'a>,
    pub(crate) vals: Vals<'a, V>,
}

impl<'a, V> Borrowed<'a, V> {
    /// Value of record `j`.
    #[inline]
    pub(crate) fn val(&self, j: usize) -> &'a V {
        match &self.vals {
            Vals::Slice(s) => &s[j],
            Vals::Refs(r) => r[j],
        }
    }
}

impl<'a, V> Columns for Borrowed<'a, V> {
    /// Both columns as borrowed slices: the hot path indexes them directly.
    type Fast = (&'a [i64], &'a [V]);

    #[inline(always)]
    fn ts_at(&self, j: usize) -> i64 {
        self.ts.get(j)
    }

    #[inline]
    fn packed(&self) -> Option<&PackedTs> {
        match &self.ts {
            Ts::Packed(p) => Some(p),
            Ts::Plain(_) => None,
        }
    }

    #[inline]
    fn seq(&self, j: usize) -> u64 {
        self.seq.get(j)
    }

    fn max_seq(&self, lo: usize, hi: usize) -> u64 {
        self.seq.max(lo, hi)
    }

    #[inline(always)]
    fn prefetch(&self, j: usize) {
        match &self.ts {
            Ts::Plain(v) => crate::hint::prefetch_ptr(v.as_ptr().wrapping_add(j)),
            Ts::Packed(p) if j < p.len() => p.prefetch(j),
            Ts::Packed(_) => {}
        }
        if let Vals::Slice(v) = &self.vals {
            crate::hint::prefetch_ptr(v.as_ptr().wrapping_add(j));
        }
    }

    #[inline(always)]
    fn fast_ts(f: &Self::Fast) -> &[i64] {
        f.0
    }

    #[inline(always)]
    fn fast_prefetch(f: &Self::Fast, j: usize) {
        crate::hint::prefetch_ptr(f.0.as_ptr().wrapping_add(j));
        crate::hint::prefetch_ptr(f.1.as_ptr().wrapping_add(j));
    }

    fn fast(&self) -> Option<Self::Fast> {
        match (&self.ts, &self.vals) {
            (Ts::Plain(Cow::Borrowed(ts)), Vals::Slice(vals)) => Some((ts, vals)),
            (Ts::Packed(_), Vals::Slice(vals)) => Some((&[], vals)),
            _ => None,
        }
    }
}

/// One sorted input of a merge: its columns, and the window `[lo, hi)` of records
/// not taken yet by either direction.
pub(crate) struct Slot<C> {
    pub(crate) cols: C,
    pub(crate) rank: u32,
    pub(crate) lo: usize,
    pub(crate) hi: usize,
    /// The window when the source was made: `lo == lo0` means the front has taken
    /// nothing from it yet, `hi == hi0` the same for the back.
    pub(crate) lo0: usize,
    pub(crate) hi0: usize,
    /// Memtable sources: the memtable's seal number (`u64::MAX` while active).
    pub(crate) seal: u64,
    /// Whether records must be checked one by one (watermark or tombstones).
    pub(crate) check: bool,
}

/// A borrowed source (segments, memtable runs, skiplist ranges).
pub(crate) type Src<'a, V> = Slot<Borrowed<'a, V>>;

/// Rank of memtable sources.
pub(crate) const MEM_RANK: u32 = u32::MAX;

/// The merge key of a record: `(ts, rank, seq)`.
pub(crate) type Key = (i64, u32, u64);

impl<C> Slot<C> {
    /// A source over records `[lo, hi)` of `cols`.
    pub(crate) fn new(cols: C, rank: u32, lo: usize, hi: usize, seal: u64, check: bool) -> Self {
        Slot { cols, rank, lo, hi, lo0: lo, hi0: hi, seal, check }
    }
}

impl<'a, V> Src<'a, V> {
    /// A memtable source: records `[lo, hi)` of the columns, from a memtable sealed
    /// at `seal` (`u64::MAX` if still active). Whether its records need checks is
    /// decided when the merge is made.
    pub(crate) fn mem(
        ts: Cow<'a, [i64]>,
        seq: Seqs<'a>,
        vals: Vals<'a, V>,
        lo: usize,
        hi: usize,
        seal: u64,
    ) -> Self {
        Slot::new(Borrowed { ts: Ts::Plain(ts), seq: SeqCol::new(seq), vals }, MEM_RANK, lo, hi, seal, true)
    }

    /// A segment source (every record in `[lo, hi)` is visible).
    pub(crate) fn seg(ts: Ts<'a>, vals: &'a [V], rank: u32, lo: usize, hi: usize) -> Self {
        let cols = Borrowed { ts, seq: SeqCol::NONE, vals: Vals::Slice(vals) };
        Slot::new(cols, rank, lo, hi, 0, false)
    }
}

impl<C: Columns> Slot<C> {
    /// The merge key of record `j`.
    #[inline]
    pub(crate) fn key(&self, j: usize) -> Key {
        (self.cols.ts_at(j), self.rank, self.cols.seq(j))
    }

    /// Whether record `j` may be returned: sources without per-record checks always,
    /// checked (memtable) sources if the record is below the watermark and no later
    /// tombstone covers it.
    #[inline]
    pub(crate) fn visible(&self, j: usize, pieces: &[Piece], watermark: u64) -> bool {
        !self.check || record_visible(pieces, watermark, self.cols.ts_at(j), self.cols.seq(j))
    }
}

/// Smallest and largest timestamp over the sources' current windows.
pub(crate) fn ts_bounds<V>(srcs: &[Src<'_, V>]) -> Option<(i64, i64)> {
    let lo = srcs.iter().filter(|s| s.lo < s.hi).map(|s| s.cols.ts.get(s.lo)).min()?;
    let hi = srcs.iter().filter(|s| s.lo < s.hi).map(|s| s.cols.ts.get(s.hi - 1)).max()?;
    Some((lo, hi))
}
