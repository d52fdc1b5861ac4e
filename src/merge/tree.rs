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

use super::key::{Enc, Keys, Packed, Store};
use super::{Dir, Merge};
use crate::source::{Columns, Slot, MEM_RANK};

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

    /// Whether the tree is built with `u128` keys.
    #[cfg(test)]
    pub(crate) fn tree_wide(&self) -> bool {
        self.tree.as_ref().is_some_and(|t| t.enc.wide)
    }

    /// Whether a fold can take the tree's plain path ([`Merge::tree_fold_plain`]).
    #[inline(always)]
    pub(crate) fn tree_plain(&self) -> bool {
        self.tree.as_ref().is_some_and(|t| t.plain)
    }

    /// Records the tree merged and did not hand out yet.
    #[inline(always)]
    pub(crate) fn tree_buffered(&self) -> usize {
        self.tree.as_ref().map_or(0, |t| t.buffered())
    }

    /// Whether direction `D` merges with the tree.
    #[inline(always)]
    pub(crate) fn tree_on<D: Dir>(&self) -> bool {
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
    pub(crate) fn tree_bulk<D: Dir, B>(
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
    pub(crate) fn tree_fold_plain<D: Dir, B>(
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
