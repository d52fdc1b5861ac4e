//! The packed integer keys of the loser tree ([`Enc`]): a record's `(ts, rank,
//! seq)` as one `u64` or `u128` that orders the same way in the tree's direction.

use super::Dir;
use crate::source::{Columns, Slot, MEM_RANK};

/// How a record's key `(ts, rank, seq)` is packed into one integer that orders
/// the same way in the tree's direction (smaller first, for the back too), with
/// the leaf in its low bits: `rel << tshift | tie << lbits | leaf`.
///
/// - `rel`: the timestamp minus the smallest one of the windows when the tree was
///   built (the front), or the largest one minus the timestamp (the back), so it
///   needs only the bits of their span;
/// - `tie`: `rank + 1` for sources without sequence numbers (segments, whose ranks
///   are below [`MEM_RANK`]), `mem0 + seq` for memtable sources, with `mem0` above
///   every such tie (the back: `tie_max - tie`). Sequence numbers are capped at the
///   watermark: records at or above it are never visible, and the cap keeps a
///   source's keys in order, which is all the merge needs of records it skips;
/// - `leaf`: the tree leaf, which makes keys of different sources distinct and
///   tells which source won.
///
/// The fields take fewer bits than the key type, so no key is `DONE` (all ones).
/// A `u64` key when they fit in 63 bits (the common case: a span of hours in
/// nanoseconds, a few ranks, 16 leaves), a `u128` otherwise, no tree beyond.
#[derive(Clone, Copy, Default)]
pub(super) struct Enc {
    /// The smallest timestamp (front) or the largest (back), as `u64`.
    pub(super) origin: u64,
    pub(super) tie_max: u64,
    pub(super) mem0: u64,
    pub(super) seq_cap: u64,
    pub(super) lbits: u32,
    pub(super) tshift: u32,
    /// Whether keys are `u128`.
    pub(super) wide: bool,
}

impl Enc {
    /// The packing for direction `D` over the sources with records left on `p`
    /// leaves, or `None` if the fields need 128 bits or more.
    pub(super) fn new<D: Dir, C: Columns>(srcs: &[Slot<C>], p: usize, watermark: u64) -> Option<Enc> {
        let (mut lo, mut hi, mut rank_max, mut mem) = (i64::MAX, i64::MIN, 0u64, false);
        for s in srcs.iter().filter(|s| s.lo < s.hi) {
            lo = lo.min(s.cols.ts_at(s.lo));
            hi = hi.max(s.cols.ts_at(s.hi - 1));
            if s.rank == MEM_RANK {
                mem = true;
            } else {
                rank_max = rank_max.max(u64::from(s.rank));
            }
        }
        let span = (hi as u64).wrapping_sub(lo as u64);
        let mem0 = rank_max + 2;
        let tie_max = if mem { mem0.checked_add(watermark)? } else { rank_max + 1 };
        let bits = |x: u64| u64::BITS - x.leading_zeros();
        let lbits = p.trailing_zeros();
        let tshift = lbits + bits(tie_max);
        let total = tshift + bits(span);
        (total < 128).then_some(Enc {
            origin: if D::BACK { hi as u64 } else { lo as u64 },
            tie_max,
            mem0,
            seq_cap: watermark,
            lbits,
            tshift,
            wide: total >= 64,
        })
    }

    /// The low part `tie << lbits | leaf` of the keys of source `s` at leaf `leaf`,
    /// for direction `D`, if it has no sequence numbers (the same for all its
    /// records), otherwise of its record `j`.
    #[inline(always)]
    pub(super) fn low<D: Dir, K: Packed, C: Columns>(&self, s: &Slot<C>, j: usize, leaf: usize) -> K {
        let tie = if s.rank == MEM_RANK {
            self.mem0 + s.cols.seq(j).min(self.seq_cap)
        } else {
            debug_assert_eq!(s.cols.seq(j), 0, "only memtable sources have sequence numbers");
            u64::from(s.rank) + 1
        };
        K::low(if D::BACK { self.tie_max - tie } else { tie }, leaf, self.lbits)
    }

    /// The packed key of record `j` of `s`, at leaf `leaf` whose sources' low part
    /// without sequence numbers is `low`, for direction `D`.
    #[inline(always)]
    pub(super) fn key<D: Dir, K: Packed, C: Columns>(&self, s: &Slot<C>, j: usize, leaf: usize, low: K) -> K {
        let ts = s.cols.ts_at(j) as u64;
        let rel = if D::BACK { self.origin.wrapping_sub(ts) } else { ts.wrapping_sub(self.origin) };
        let low = if s.rank == MEM_RANK { self.low::<D, K, C>(s, j, leaf) } else { low };
        K::pack(rel, low, self.tshift)
    }
}

/// A packed key type: `u64` or `u128`.
pub(super) trait Packed: Copy + Ord {
    /// The key of a leaf with nothing left (and of the padding leaves): after every
    /// real key.
    const DONE: Self;
    /// `tie << lbits | leaf`.
    fn low(tie: u64, leaf: usize, lbits: u32) -> Self;
    /// `rel << tshift | low`.
    fn pack(rel: u64, low: Self, tshift: u32) -> Self;
    /// The leaf in the low bits (`mask`: the leaf count minus one).
    fn leaf(self, mask: usize) -> usize;
    /// The key arrays of this type.
    fn keys(s: &mut Store) -> &mut Keys<Self>;
}

impl Packed for u64 {
    const DONE: u64 = u64::MAX;

    #[inline(always)]
    fn low(tie: u64, leaf: usize, lbits: u32) -> u64 {
        tie << lbits | leaf as u64
    }

    #[inline(always)]
    fn pack(rel: u64, low: u64, tshift: u32) -> u64 {
        rel << tshift | low
    }

    #[inline(always)]
    fn leaf(self, mask: usize) -> usize {
        self as usize & mask
    }

    fn keys(s: &mut Store) -> &mut Keys<u64> {
        &mut s.narrow
    }
}

impl Packed for u128 {
    const DONE: u128 = u128::MAX;

    #[inline(always)]
    fn low(tie: u64, leaf: usize, lbits: u32) -> u128 {
        u128::from(tie) << lbits | leaf as u128
    }

    #[inline(always)]
    fn pack(rel: u64, low: u128, tshift: u32) -> u128 {
        u128::from(rel) << tshift | low
    }

    #[inline(always)]
    fn leaf(self, mask: usize) -> usize {
        self as usize & mask
    }

    fn keys(s: &mut Store) -> &mut Keys<u128> {
        &mut s.wide
    }
}

/// The key arrays of a tree over `p` leaves (a power of two): `node[n]` is the key
/// that lost the match at internal node `n` (the children of node `n` are `2n` and
/// `2n + 1`; leaf `l` is node `p + l`) and `node[0]` the overall winner, the head of
/// its source; `next[l]` is the key of the record after leaf `l`'s head, loaded one
/// record ahead so that the replay after a take does not wait for the source's
/// memory; `low[l]` the low part of leaf `l`'s keys if its source has no sequence
/// numbers ([`Enc::low`]).
#[derive(Default)]
pub(super) struct Keys<K> {
    pub(super) node: Vec<K>,
    pub(super) next: Vec<K>,
    pub(super) low: Vec<K>,
}

/// Both key widths' arrays, kept so that a tree built again reuses them.
#[derive(Default)]
pub(super) struct Store {
    narrow: Keys<u64>,
    wide: Keys<u128>,
}
