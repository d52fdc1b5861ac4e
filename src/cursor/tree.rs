//! The loser tree a direction of a [`Merge`] switches to once its stretches turn
//! short.
//!
//! When sources are interleaved record by record (L0 segments flushed from
//! shuffled data, memtable runs of concurrent writers), a stretch is about one
//! record long and every record pays a pick over the sources. A direction that
//! sees [`SHORT_PICKS`] short stretches in a row builds a [`Tree`] instead: a
//! tournament over the sources with records left, in which taking the winner's
//! head replays only the `log2(k)` matches on its path, each a comparison and two
//! conditional moves on one packed integer key ([`Enc`]). A block of records is
//! merged in one tight loop, either straight into a bulk consumer (`fold`,
//! `fill_*`, `drain_into`) or into a small buffer that `next`/`next_back` take
//! from. Once a block shows long runs again (a mean of [`LONG_RUN`] records of one
//! source in a row), or fewer than two sources are left, the tree ends and picks
//! hand out stretches again.
//!
//! A merged record leaves its source's window at once; the records merged and not
//! handed out yet wait in the buffer. The other direction ends the tree before it
//! reads any window ([`Merge::end_tree`]), putting those records back, so the two
//! ends never overlap.

use super::{Columns, Dir, Merge, Slot, MEM_RANK};

/// A stretch shorter than this counts as short.
pub(super) const SHORT: usize = 16;
/// Short picks in a row after which a direction merges with a [`Tree`].
pub(super) const SHORT_PICKS: u8 = 8;
/// The most records a [`Tree`] merges in one block (and so buffers).
const BLOCK: usize = 1024;
/// Records of a [`Tree`]'s first buffered block; each refill doubles it, up to
/// [`BLOCK`], so that a caller that switches ends soon after the tree was built
/// puts few merged records back.
const FIRST_BLOCK: usize = 64;
/// The mean run (records of one source in a row) of a block at which the [`Tree`]
/// gives way to stretches again.
const LONG_RUN: usize = 32;
/// How far ahead of a source's head the tree prefetches its columns (records).
const AHEAD: usize = 32;

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
struct Enc {
    /// The smallest timestamp (front) or the largest (back), as `u64`.
    origin: u64,
    tie_max: u64,
    mem0: u64,
    seq_cap: u64,
    lbits: u32,
    tshift: u32,
    /// Whether keys are `u128`.
    wide: bool,
}

impl Enc {
    /// The packing for direction `D` over the sources with records left on `p`
    /// leaves, or `None` if the fields need 128 bits or more.
    fn new<D: Dir, C: Columns>(srcs: &[Slot<C>], p: usize, watermark: u64) -> Option<Enc> {
        let (mut lo, mut hi, mut rank_max, mut mem) = (i64::MAX, i64::MIN, 0u64, false);
        for s in srcs.iter().filter(|s| s.lo < s.hi) {
            let ts = s.cols.ts();
            lo = lo.min(ts[s.lo]);
            hi = hi.max(ts[s.hi - 1]);
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
    fn low<D: Dir, K: Packed, C: Columns>(&self, s: &Slot<C>, j: usize, leaf: usize) -> K {
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
    fn key<D: Dir, K: Packed, C: Columns>(&self, s: &Slot<C>, j: usize, leaf: usize, low: K) -> K {
        let ts = s.cols.ts()[j] as u64;
        let rel = if D::BACK { self.origin.wrapping_sub(ts) } else { ts.wrapping_sub(self.origin) };
        let low = if s.rank == MEM_RANK { self.low::<D, K, C>(s, j, leaf) } else { low };
        K::pack(rel, low, self.tshift)
    }
}

/// A packed key type: `u64` or `u128`.
trait Packed: Copy + Ord {
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
struct Keys<K> {
    node: Vec<K>,
    next: Vec<K>,
    low: Vec<K>,
}

/// Both key widths' arrays, kept so that a tree built again reuses them.
#[derive(Default)]
struct Store {
    narrow: Keys<u64>,
    wide: Keys<u128>,
}

/// A loser tree over the sources with records left, for the direction whose
/// stretches turned short (module docs).
#[derive(Default)]
pub(super) struct Tree<F> {
    /// The direction it serves ([`Dir::I`]); `None`: no tree.
    dir: Option<usize>,
    /// Whether every source with records left is a segment-like source with a
    /// hot-path handle (no checks, no sequence numbers): then a fold merges through
    /// [`Merge::tree_fold_plain`], which reads only the handles, `fast`.
    plain: bool,
    /// Per source: its hot-path handle (a default for the others).
    fast: Vec<F>,
    /// Per source, during a plain block: its near and far edges.
    near: Vec<usize>,
    far: Vec<usize>,
    keys: Store,
    enc: Enc,
    /// Leaves whose source still has records.
    live: usize,
    /// Merged records (source, index) not handed out yet: `buf[at..]`, in the tree's
    /// order, all visible.
    buf: Vec<(u32, u32)>,
    at: usize,
    /// Records of the next buffered block.
    block: usize,
    /// Whether the last block's runs were long: the tree ends at the next refill.
    long: bool,
}

impl<F> Tree<F> {
    /// Records merged and not handed out yet.
    pub(super) fn buffered(&self) -> usize {
        if self.dir.is_some() {
            self.buf.len() - self.at
        } else {
            0
        }
    }
}

impl<C: Columns<Fast = F>, F: Copy + Default> Merge<C, F> {
    /// The tree, which a caller knows is there (built, maybe ended).
    #[inline(always)]
    fn tr(&mut self) -> &mut Tree<F> {
        self.tree.as_deref_mut().expect("the tree is built")
    }

    /// Whether a fold can take the tree's plain path ([`Merge::tree_fold_plain`]).
    #[inline(always)]
    pub(super) fn tree_plain(&self) -> bool {
        self.tree.as_ref().is_some_and(|t| t.plain)
    }

    /// Records the tree merged and did not hand out yet.
    #[inline(always)]
    pub(super) fn tree_buffered(&self) -> usize {
        self.tree.as_ref().map_or(0, |t| t.buffered())
    }

    /// Whether direction `D` merges with the tree.
    #[inline(always)]
    pub(super) fn tree_on<D: Dir>(&self) -> bool {
        self.tree.as_ref().is_some_and(|t| t.dir == Some(D::I))
    }

    /// Builds direction `D`'s [`Tree`] over the sources with records left (both
    /// stretches ended, no tree); `false` if there are fewer than two, positions that
    /// do not fit a `u32`, or keys that do not fit a `u128`.
    #[inline(never)]
    pub(super) fn build_tree<D: Dir>(&mut self) -> bool {
        let srcs = &self.srcs;
        let fits = |x: usize| u32::try_from(x).is_ok();
        if !fits(srcs.len()) || srcs.iter().any(|s| !fits(s.hi)) {
            return false;
        }
        // Leaf `l` is source `l`: the merge loop goes from the winner to its source
        // without a load. Sources with nothing left are leaves that never win.
        let live = srcs.iter().filter(|s| s.lo < s.hi).count();
        if live < 2 {
            return false;
        }
        let p = srcs.len().next_power_of_two();
        let Some(enc) = Enc::new::<D, C>(srcs, p, self.watermark) else { return false };
        let t: &mut Tree<F> = self.tree.get_or_insert_with(Box::default);
        t.enc = enc;
        t.fast.clear();
        t.fast.extend(srcs.iter().map(|s| s.cols.fast().filter(|_| !s.check).unwrap_or_default()));
        t.plain = srcs.iter().filter(|s| s.lo < s.hi).all(|s| {
            !s.check && s.rank != MEM_RANK && s.cols.fast().is_some_and(|f| !C::fast_ts(&f).is_empty())
        });
        if enc.wide {
            init::<D, u128, C, F>(t, srcs, p);
        } else {
            init::<D, u64, C, F>(t, srcs, p);
        }
        t.live = live;
        t.buf.clear();
        t.at = 0;
        t.block = FIRST_BLOCK;
        t.long = false;
        t.dir = Some(D::I);
        true
    }

    /// Ends direction `X`'s tree, if it has one: the records it merged and did not
    /// hand out go back to their sources' windows.
    pub(super) fn end_tree<X: Dir>(&mut self) {
        let Some(t) = self.tree.as_deref_mut().filter(|t| t.dir == Some(X::I)) else { return };
        t.dir = None;
        // In the tree's order, so the last write to a source's edge is its first
        // record not handed out.
        for &(i, j) in t.buf[t.at..].iter().rev() {
            let s = &mut self.srcs[i as usize];
            *X::edge(s) = if X::BACK { j as usize + 1 } else { j as usize };
        }
        t.buf.clear();
        t.at = 0;
    }

    /// The next record of direction `D`'s tree, from its buffer (refilled when
    /// empty); `None` once the tree has ended (then the windows are true).
    #[inline]
    pub(super) fn tree_next<D: Dir>(&mut self) -> Option<(usize, usize)> {
        loop {
            let t = self.tr();
            if let Some(&(i, j)) = t.buf.get(t.at) {
                t.at += 1;
                return Some((i as usize, j as usize));
            }
            if !self.refill::<D>() {
                return None;
            }
        }
    }

    /// Refills direction `D`'s empty buffer with the next block; `false` (and the
    /// tree ended) if the last block's runs were long, fewer than two sources are
    /// left, or no visible record is.
    #[inline(never)]
    fn refill<D: Dir>(&mut self) -> bool {
        let t = self.tr();
        t.buf.clear();
        t.at = 0;
        if t.long || t.live < 2 {
            t.dir = None;
            return false;
        }
        let mut buf = std::mem::take(&mut t.buf);
        let block = t.block;
        t.block = (block * 2).min(BLOCK);
        self.tree_run::<D, ()>(block, (), |(), _, i, j| buf.push((i as u32, j as u32)));
        let t = self.tr();
        t.buf = buf;
        if t.buf.is_empty() {
            t.dir = None;
            return false;
        }
        true
    }

    /// Hands up to `max` next records of direction `D`'s tree to `f` (their source
    /// and index): the buffered ones, then blocks merged straight into `f`, until
    /// `max`, or the tree ends (as at a refill). Returns how many.
    #[inline(always)]
    pub(super) fn tree_bulk<D: Dir, B>(
        &mut self,
        max: usize,
        mut acc: B,
        mut f: impl FnMut(B, &Slot<C>, usize) -> B,
    ) -> (B, usize) {
        debug_assert!(self.tree_on::<D>());
        let t = self.tree.as_deref_mut().expect("the tree is on");
        let mut n = (t.buf.len() - t.at).min(max);
        for &(i, j) in &t.buf[t.at..t.at + n] {
            acc = f(acc, &self.srcs[i as usize], j as usize);
        }
        t.at += n;
        while n < max {
            // The buffer is used up.
            let t = self.tr();
            if t.long || t.live < 2 {
                t.dir = None;
                break;
            }
            let k;
            (acc, k) = self.tree_run::<D, B>((max - n).min(BLOCK), acc, |a, s, _, j| f(a, s, j));
            n += k;
            if k == 0 {
                self.tr().dir = None;
                break;
            }
        }
        (acc, n)
    }

    /// [`Merge::tree_block`] with the tree's key width.
    #[inline(always)]
    fn tree_run<D: Dir, B>(
        &mut self,
        max: usize,
        acc: B,
        mut f: impl FnMut(B, &Slot<C>, usize, usize) -> B,
    ) -> (B, usize) {
        if self.tr().enc.wide {
            self.tree_block::<D, u128, B>(max, acc, &mut f)
        } else {
            self.tree_block::<D, u64, B>(max, acc, &mut f)
        }
    }

    /// Merges with direction `D`'s tree until `max` visible records went to `f`
    /// (with their source and index) or every source is used up; notes whether the
    /// runs were long. Returns how many went to `f`.
    ///
    /// A match is a compare and two conditional moves, no branch on the keys; the
    /// loads of the losers' keys do not depend on the running winner, so they
    /// overlap, and the winner's next key was loaded one record ahead.
    #[inline(always)]
    fn tree_block<D: Dir, K: Packed, B>(
        &mut self,
        max: usize,
        mut acc: B,
        mut f: impl FnMut(B, &Slot<C>, usize, usize) -> B,
    ) -> (B, usize) {
        let Merge { srcs, pieces, watermark, tree, .. } = self;
        let tree = tree.as_deref_mut().expect("the tree is on");
        let Tree { keys, enc, live, long, .. } = tree;
        let Keys { node, next, low } = K::keys(keys);
        let p = node.len();
        let mut wk = node[0];
        // Records handed out and taken, and how often the winner changed (so runs:
        // `switches + 1`).
        let (mut n, mut taken, mut switches) = (0, 0, 0);
        while n < max && wk != K::DONE {
            let w = wk.leaf(p - 1);
            let i = w;
            let s = &mut srcs[i];
            let j = D::nth(s.lo, s.hi, 0);
            if D::BACK {
                s.hi = j;
            } else {
                s.lo = j + 1;
            }
            taken += 1;
            // Interleaved sources are too many streams for the hardware prefetchers.
            s.cols.prefetch(if D::BACK { j.wrapping_sub(AHEAD) } else { j + AHEAD });
            if !s.check || s.visible(j, pieces, *watermark) {
                acc = f(acc, s, i, j);
                n += 1;
            }
            let mut k = next[w];
            next[w] = if s.hi - s.lo > 1 {
                enc.key::<D, K, C>(s, D::nth(s.lo, s.hi, 1), w, low[w])
            } else {
                K::DONE
            };
            if k == K::DONE {
                *live -= 1;
            }
            k = replay(node, p, w, k);
            wk = k;
            switches += usize::from(wk.leaf(p - 1) != w);
        }
        node[0] = wk;
        *long = taken >= LONG_RUN * (switches + 1);
        (acc, n)
    }

    /// Folds direction `D`'s tree (plain, its buffer used up) into `g` (a source's
    /// hot-path handle and the record's index), block by block, until it ends.
    #[inline(always)]
    pub(super) fn tree_fold_plain<D: Dir, B>(
        &mut self,
        mut acc: B,
        mut g: impl FnMut(B, F, usize) -> B,
    ) -> B {
        debug_assert!(self.tree_on::<D>() && self.tree_plain() && self.tree_buffered() == 0);
        loop {
            let t = self.tr();
            if t.long || t.live < 2 {
                t.dir = None;
                return acc;
            }
            let k;
            (acc, k) = if t.enc.wide {
                self.plain_block::<D, u128, B>(BLOCK, acc, &mut g)
            } else {
                self.plain_block::<D, u64, B>(BLOCK, acc, &mut g)
            };
            if k == 0 {
                self.tr().dir = None;
                return acc;
            }
        }
    }

    /// [`Merge::tree_block`] for a plain tree: the sources' edges are copied in and
    /// out around the loop, which reads only the handles (no checks, no sequence
    /// numbers).
    #[inline(always)]
    fn plain_block<D: Dir, K: Packed, B>(
        &mut self,
        max: usize,
        mut acc: B,
        mut g: impl FnMut(B, F, usize) -> B,
    ) -> (B, usize) {
        let Merge { srcs, tree, .. } = self;
        let tree = tree.as_deref_mut().expect("the tree is on");
        let Tree { keys, enc, live, long, fast, near, far, .. } = tree;
        near.clear();
        far.clear();
        for s in srcs.iter() {
            near.push(if D::BACK { s.hi } else { s.lo });
            far.push(if D::BACK { s.lo } else { s.hi });
        }
        let Keys { node, next, low } = K::keys(keys);
        let p = node.len();
        let mut wk = node[0];
        let (mut n, mut switches) = (0, 0);
        while n < max && wk != K::DONE {
            let w = wk.leaf(p - 1);
            let h = fast[w];
            let e = near[w];
            // The head, and the record after the new head (if any).
            let (j, after) = if D::BACK { (e - 1, e.checked_sub(3)) } else { (e, Some(e + 2)) };
            near[w] = if D::BACK { e - 1 } else { e + 1 };
            C::fast_prefetch(&h, if D::BACK { j.wrapping_sub(AHEAD) } else { j + AHEAD });
            acc = g(acc, h, j);
            n += 1;
            let mut k = next[w];
            next[w] = match after {
                Some(a) if if D::BACK { a >= far[w] } else { a < far[w] } => {
                    let t = C::fast_ts(&h)[a] as u64;
                    let rel = if D::BACK { enc.origin.wrapping_sub(t) } else { t.wrapping_sub(enc.origin) };
                    K::pack(rel, low[w], enc.tshift)
                }
                _ => K::DONE,
            };
            if k == K::DONE {
                *live -= 1;
            }
            k = replay(node, p, w, k);
            switches += usize::from(k.leaf(p - 1) != w);
            wk = k;
        }
        node[0] = wk;
        for (s, &e) in srcs.iter_mut().zip(near.iter()) {
            *D::edge(s) = e;
        }
        *long = n >= LONG_RUN * (switches + 1);
        (acc, n)
    }
}

/// Plays `k`, the new key of leaf `w` of a tree on `p` leaves, from the leaf's
/// parent up to the root: each node keeps the loser of its match (the larger key)
/// and the winner moves on, without a branch on the keys. Returns the winner.
#[inline(always)]
fn replay<K: Copy + Ord>(node: &mut [K], p: usize, w: usize, mut k: K) -> K {
    let mut x = (p + w) / 2;
    while x > 0 {
        let l = node[x];
        let c = l < k;
        node[x] = if c { k } else { l };
        k = if c { l } else { k };
        x /= 2;
    }
    k
}

/// Fills the key arrays of `K` for a tree over `srcs` on `p` leaves and plays every
/// match.
fn init<D: Dir, K: Packed, C: Columns, F>(t: &mut Tree<F>, srcs: &[Slot<C>], p: usize) {
    let enc = t.enc;
    let live = |l: usize| srcs.get(l).filter(|s| s.lo < s.hi);
    let Keys { node, next, low } = K::keys(&mut t.keys);
    low.clear();
    low.extend((0..p).map(|l| match live(l) {
        Some(s) => enc.low::<D, K, C>(s, D::nth(s.lo, s.hi, 0), l),
        None => K::DONE,
    }));
    let key = |l: usize, k: usize| match live(l) {
        Some(s) if s.hi - s.lo > k => enc.key::<D, K, C>(s, D::nth(s.lo, s.hi, k), l, low[l]),
        _ => K::DONE,
    };
    next.clear();
    next.extend((0..p).map(|l| key(l, 1)));
    // `win[x]`: the winner at node `x`.
    let mut win: Vec<K> = vec![K::DONE; 2 * p];
    for (l, w) in win[p..].iter_mut().enumerate() {
        *w = key(l, 0);
    }
    node.clear();
    node.resize(p, K::DONE);
    for x in (1..p).rev() {
        let (a, b) = (win[2 * x], win[2 * x + 1]);
        win[x] = a.min(b);
        node[x] = a.max(b);
    }
    node[0] = win[1];
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use crate::cursor::{Back, Front, Range, Seqs, Src, Vals, MEM_RANK};
    use crate::tombstone::{record_visible, Piece};

    /// xorshift64.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// One source's columns: timestamps, sequence numbers (memtable sources) and
    /// values (unique, so that a match shows the order of equal timestamps).
    struct Col {
        ts: Vec<i64>,
        seq: Vec<u64>,
        val: Vec<i64>,
        mem: bool,
    }

    /// A layout of `segs` segment and `mems` memtable sources over three phases of
    /// timestamps: interleaved record by record (with equal timestamps across
    /// sources), then a stretch of each source in turn, then interleaved again.
    /// Memtable records get distinct sequence numbers in a random order.
    fn layout(r: &mut Rng, segs: usize, mems: usize, per: usize) -> Vec<Col> {
        let k = segs + mems;
        let mut recs: Vec<Vec<(i64, u64)>> = vec![Vec::new(); k];
        let mut t = 0i64;
        for _ in 0..per * k / 2 {
            t += r.below(2) as i64; // equal timestamps, often in different sources
            recs[r.below(k as u64) as usize].push((t, 0));
        }
        for (s, v) in recs.iter_mut().enumerate() {
            for _ in 0..per / 2 + r.below(per as u64) as usize {
                t += 1;
                v.push((t, 0));
            }
            let _ = s;
        }
        for _ in 0..per * k / 2 {
            t += r.below(3) as i64;
            recs[r.below(k as u64) as usize].push((t, 0));
        }
        let total: usize = recs.iter().map(Vec::len).sum();
        // Distinct sequence numbers 1..=total in a random order.
        let mut seqs: Vec<u64> = (1..=total as u64).collect();
        for i in (1..seqs.len()).rev() {
            seqs.swap(i, r.below(i as u64 + 1) as usize);
        }
        let mut val = 0;
        recs.into_iter()
            .enumerate()
            .map(|(s, mut v)| {
                let mem = s >= segs;
                if mem {
                    for x in v.iter_mut() {
                        x.1 = seqs.pop().unwrap();
                    }
                }
                v.sort_unstable();
                let vals = v
                    .iter()
                    .map(|_| {
                        val += 1;
                        val
                    })
                    .collect();
                Col {
                    ts: v.iter().map(|x| x.0).collect(),
                    seq: v.iter().map(|x| x.1).collect(),
                    val: vals,
                    mem,
                }
            })
            .collect()
    }

    fn range<'a>(cols: &'a [Col], pieces: &[Piece], watermark: u64) -> Range<'a, i64> {
        let srcs = cols
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let n = c.ts.len();
                if c.mem {
                    let seq = Seqs::Each(Cow::Borrowed(&c.seq[..]));
                    Src::mem(Cow::Borrowed(&c.ts[..]), seq, Vals::Slice(&c.val), 0, n, u64::MAX)
                } else {
                    Src::seg(&c.ts, &c.val, 1 + k as u32, 0, n)
                }
            })
            .collect();
        Range::new(srcs, pieces.to_vec(), watermark)
    }

    /// The visible records in merge order, by sorting: `(ts, rank, seq)`.
    fn model(cols: &[Col], pieces: &[Piece], watermark: u64) -> Vec<(i64, i64)> {
        let mut all = Vec::new();
        for (k, c) in cols.iter().enumerate() {
            for j in 0..c.ts.len() {
                let rank = if c.mem { MEM_RANK } else { 1 + k as u32 };
                if !c.mem || record_visible(pieces, watermark, c.ts[j], c.seq[j]) {
                    all.push(((c.ts[j], rank, c.seq[j]), c.val[j]));
                }
            }
        }
        all.sort_unstable();
        all.into_iter().map(|((t, _, _), v)| (t, v)).collect()
    }

    /// What `next` (or `next_back`, with `back`) must return when `want[a..z]` is
    /// left; takes it from that end.
    fn expected(want: &[(i64, i64)], a: &mut usize, z: &mut usize, back: bool) -> Option<(i64, i64)> {
        if a == z {
            None
        } else if back {
            *z -= 1;
            Some(want[*z])
        } else {
            *a += 1;
            Some(want[*a - 1])
        }
    }

    /// Drives `r` in runs of `next`/`next_back` of random lengths (some long enough
    /// to build the tree, some a single step), checking every record and
    /// `remaining()`, then takes the rest by a fold from either end or by
    /// `drain_into` chunks. Returns whether the tree was on at some point.
    fn drive(mut r: Range<'_, i64>, want: &[(i64, i64)], g: &mut Rng, what: &str) -> bool {
        let (mut a, mut z) = (0, want.len());
        let mut saw_tree = false;
        for run in 0..g.below(12) {
            let back = g.below(2) == 1;
            let len = match g.below(3) {
                0 => 1 + g.below(3),
                1 => 1 + g.below(100),
                _ => 1 + g.below(3000),
            };
            for step in 0..len {
                let got = if back { r.next_back() } else { r.next() };
                let exp = expected(want, &mut a, &mut z, back);
                assert_eq!(got.map(|(t, v)| (t, *v)), exp, "{what}: run {run} (back: {back}) step {step}");
                saw_tree |= r.m.tree_on::<Front>() || r.m.tree_on::<Back>();
            }
            assert_eq!(r.remaining(), z - a, "{what}: remaining after run {run}");
            let (lo, hi) = r.size_hint();
            assert!(lo <= z - a && hi >= Some(z - a), "{what}: size_hint after run {run}");
        }
        let rest: Vec<(i64, i64)> = match g.below(3) {
            0 => r.fold(Vec::new(), |mut v, (t, x)| {
                v.push((t, *x));
                v
            }),
            1 => {
                let mut v = r.rfold(Vec::new(), |mut v, (t, x)| {
                    v.push((t, *x));
                    v
                });
                v.reverse();
                v
            }
            _ => {
                let cap = 1 + g.below(700) as usize;
                let (mut ts, mut vals) = (Vec::new(), Vec::new());
                let mut out = Vec::new();
                loop {
                    let carry = r.drain_into(&mut ts, &mut vals, cap);
                    if let (Some(&l), Some(c)) = (ts.last(), carry) {
                        assert_ne!(l, c.0, "{what}: a drain cut between equal timestamps");
                    }
                    assert!(carry.is_none() || ts.len() >= cap);
                    out.extend(ts.drain(..).zip(vals.drain(..)));
                    match carry {
                        Some(c) => {
                            ts.push(c.0);
                            vals.push(c.1);
                        }
                        None => break,
                    }
                }
                out
            }
        };
        assert_eq!(rest, want[a..z], "{what}: the rest");
        saw_tree
    }

    /// Interleaved segments and memtable sources with equal timestamps across them,
    /// short and long stretches in turn, driven from both ends: the same records in
    /// the same order as sorting, and the tree is used.
    #[test]
    fn interleaved_sources_match_the_sorted_model_from_both_ends() {
        let mut g = Rng(0x9E37_79B9_7F4A_7C15);
        let mut trees = 0;
        for case in 0..60 {
            let (segs, mems) = match case % 4 {
                0 => (16, 0),
                1 => (3, 0),
                2 => (5, 4),
                _ => (0, 7),
            };
            let per = 40 + g.below(400) as usize;
            let cols = layout(&mut g, segs, mems, per);
            // Every record visible (a watermark of `u64::MAX` would leave no room in a
            // packed key for sequence numbers: no tree).
            let watermark = cols.iter().map(|c| c.ts.len() as u64).sum::<u64>() + 1;
            let want = model(&cols, &[], watermark);
            let what = format!("case {case} ({segs} segments, {mems} memtable sources)");
            trees += usize::from(drive(range(&cols, &[], watermark), &want, &mut g, &what));
        }
        assert!(trees > 30, "the tree was used in {trees} cases of 60");
    }

    /// Memtable sources that need per-record checks (tombstones over parts of them,
    /// records at or above the watermark) interleaved with segments.
    #[test]
    fn checked_sources_skip_invisible_records_in_the_tree() {
        let mut g = Rng(0x5DEE_CE66_D1CE_4E5B);
        let mut trees = 0;
        for case in 0..40 {
            let per = 100 + g.below(300) as usize;
            let cols = layout(&mut g, 4, 4, per);
            let total: u64 = cols.iter().map(|c| c.ts.len() as u64).sum();
            let top = cols.iter().filter_map(|c| c.ts.last()).max().copied().unwrap_or(0);
            let mut pieces = Vec::new();
            let mut t = g.below(50) as i64;
            while t < top {
                let w = g.below(60) as i64;
                pieces.push(Piece { lo: t, hi: t + w, seq: g.below(total + 1) });
                t += w + 1 + g.below(200) as i64;
            }
            let watermark = if case % 2 == 0 { total + 1 } else { total / 2 + g.below(total / 2 + 1) };
            let want = model(&cols, &pieces, watermark);
            let what = format!("case {case} ({} pieces, watermark {watermark})", pieces.len());
            trees += usize::from(drive(range(&cols, &pieces, watermark), &want, &mut g, &what));
        }
        assert!(trees > 20, "the tree was used in {trees} cases of 40");
    }

    /// Both ends take turns in runs long enough for each to build a tree: every
    /// switch puts the other end's merged records back, and the ends meet in the
    /// middle without overlap.
    #[test]
    fn the_two_ends_meet_with_trees_on_both_sides() {
        let mut g = Rng(0xD1B5_4A32_D192_ED03);
        for case in 0..20 {
            let cols = layout(&mut g, 8, 2, 300);
            let watermark = cols.iter().map(|c| c.ts.len() as u64).sum::<u64>() + 1;
            let want = model(&cols, &[], watermark);
            let mut r = range(&cols, &[], watermark);
            let (mut a, mut z) = (0, want.len());
            let mut back = case % 2 == 1;
            let mut both = [false; 2];
            while a < z {
                for _ in 0..20 + g.below(200) {
                    let got = if back { r.next_back() } else { r.next() };
                    let exp = expected(&want, &mut a, &mut z, back);
                    assert_eq!(got.map(|(t, v)| (t, *v)), exp, "case {case}");
                    both[0] |= r.m.tree_on::<Front>();
                    both[1] |= r.m.tree_on::<Back>();
                }
                assert_eq!(r.remaining(), z - a, "case {case}");
                back = !back;
            }
            assert_eq!((r.next(), r.next_back()), (None, None));
            assert_eq!(both, [true, true], "case {case}: both ends used a tree");
        }
    }

    /// Keys that need a `u128` (a span of the whole `i64` range and sequence numbers
    /// near the cap) order as the tuples do.
    #[test]
    fn wide_keys_order_as_the_tuples() {
        let mut g = Rng(0xA076_1D64_78BD_642F);
        let mut cols = layout(&mut g, 6, 3, 200);
        for c in &mut cols {
            for t in &mut c.ts {
                *t = t.wrapping_mul(1 << 40).wrapping_sub(i64::MAX / 2);
            }
            if c.mem {
                for s in &mut c.seq {
                    *s += 1 << 60;
                }
            }
        }
        for c in &mut cols {
            let mut v: Vec<_> = (0..c.ts.len()).map(|j| (c.ts[j], c.seq[j], c.val[j])).collect();
            v.sort_unstable();
            c.ts = v.iter().map(|x| x.0).collect();
            c.seq = v.iter().map(|x| x.1).collect();
            c.val = v.iter().map(|x| x.2).collect();
        }
        let watermark = (1 << 61) + 1;
        let want = model(&cols, &[], watermark);
        let mut r = range(&cols, &[], watermark);
        for _ in 0..100 {
            let _ = r.next();
        }
        assert!(r.m.tree_on::<Front>() && r.m.tree.as_ref().is_some_and(|t| t.enc.wide));
        drive(range(&cols, &[], watermark), &want, &mut g, "wide");
        let got: Vec<_> = range(&cols, &[], watermark).map(|(t, v)| (t, *v)).collect();
        assert_eq!(got, want);
        let got: Vec<_> = range(&cols, &[], watermark).rev().map(|(t, v)| (t, *v)).collect();
        assert!(got.iter().rev().eq(want.iter()));
    }
}
