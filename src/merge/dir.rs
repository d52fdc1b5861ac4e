//! The two directions of the merge: every primitive written once over [`Dir`].

use crate::packed::WinTs;
use crate::source::{Columns, Key, Slot};

use super::Merge;

/// A direction of the merge: the front (ascending keys) or the back (descending).
///
/// Each primitive is written once, for both directions, on [`Dir::BACK`] (a constant,
/// so every test of it is resolved at compile time); only the pick order differs in
/// kind ([`Dir::prepare`], [`Dir::order`]). A front stretch is `[pos, end)` with
/// `pos` moving up, a back stretch `[end, pos)` with `pos` moving down.
pub(crate) trait Dir {
    /// Whether this is the back.
    const BACK: bool;
    /// The other direction.
    type Other: Dir;
    /// Index of this direction's stretch in [`Merge::stretch`].
    const I: usize = Self::BACK as usize;

    /// Sorts the sources into this direction's pick order, if not done yet.
    fn prepare<C: Columns, F>(m: &mut Merge<C, F>);

    /// The sources in this direction's pick order, from position `from` of it.
    fn order(n: usize, by_last: &[u32], from: usize) -> impl Iterator<Item = usize> + '_;

    /// Whether key `a` comes out before key `b`.
    #[inline(always)]
    fn before(a: Key, b: Key) -> bool {
        if Self::BACK {
            a > b
        } else {
            a < b
        }
    }

    /// The `k`-th record of the non-empty window `[lo, hi)` in this direction.
    #[inline(always)]
    fn nth(lo: usize, hi: usize, k: usize) -> usize {
        if Self::BACK {
            hi - 1 - k
        } else {
            lo + k
        }
    }

    /// The stretch `(pos, end)` of the first `n` records of `[lo, hi)`.
    #[inline(always)]
    fn stretch(lo: usize, hi: usize, n: usize) -> (usize, usize) {
        if Self::BACK {
            (hi, hi - n)
        } else {
            (lo, lo + n)
        }
    }

    /// Records left in the stretch `(pos, end)`.
    #[inline(always)]
    fn left(pos: usize, end: usize) -> usize {
        if Self::BACK {
            pos.saturating_sub(end)
        } else {
            end.saturating_sub(pos)
        }
    }

    /// Takes the next `n <= left` records of a stretch: their indices, ascending.
    #[inline(always)]
    fn take_n(pos: &mut usize, n: usize) -> std::ops::Range<usize> {
        if Self::BACK {
            *pos -= n;
            *pos..*pos + n
        } else {
            *pos += n;
            *pos - n..*pos
        }
    }

    /// Takes the next record of the stretch `(pos, end)`.
    #[inline(always)]
    fn take(pos: &mut usize, end: usize) -> Option<usize> {
        if Self::left(*pos, end) == 0 {
            return None;
        }
        Some(Self::take_n(pos, 1).start)
    }

    /// Folds `items` in this direction (from the back: last item first).
    #[inline(always)]
    fn fold_iter<I: DoubleEndedIterator, B>(items: I, init: B, g: impl FnMut(B, I::Item) -> B) -> B {
        if Self::BACK {
            items.rev().fold(init, g)
        } else {
            items.fold(init, g)
        }
    }

    /// Folds the pairs of the timestamps `ts` of a decoded window and `vals`
    /// (equal lengths), in this direction. Offsets get their block's fence added
    /// here, as they are consumed (a consumer that ignores timestamps then reads
    /// none).
    #[inline(always)]
    fn fold_win<'v, V, B>(
        ts: WinTs<'_>,
        vals: &'v [V],
        init: B,
        mut f: impl FnMut(B, (i64, &'v V)) -> B,
    ) -> B {
        match ts {
            WinTs::Wide(ts) => Self::fold(ts, vals, init, f),
            WinTs::Narrow(o) => o.blocks(Self::BACK, init, |acc, fence, offs, from| {
                let pairs = offs.iter().zip(&vals[from..from + offs.len()]);
                Self::fold_iter(pairs, acc, |a, (&o, v)| f(a, (fence.wrapping_add(i64::from(o)), v)))
            }),
        }
    }

    /// Folds the pairs of `ts` and `vals` (equal lengths), in this direction.
    #[inline(always)]
    fn fold<'v, V, B>(ts: &[i64], vals: &'v [V], init: B, mut f: impl FnMut(B, (i64, &'v V)) -> B) -> B {
        Self::fold_iter(ts.iter().zip(vals), init, |a, (&t, v)| f(a, (t, v)))
    }

    /// The edge of a window this direction moves.
    #[inline(always)]
    fn edge<C>(s: &mut Slot<C>) -> &mut usize {
        if Self::BACK {
            &mut s.hi
        } else {
            &mut s.lo
        }
    }

    /// Whether this direction has taken nothing from `s` yet.
    #[inline(always)]
    fn untouched<C>(s: &Slot<C>) -> bool {
        if Self::BACK {
            s.hi == s.hi0
        } else {
            s.lo == s.lo0
        }
    }
}

/// Ascending keys; picks in `srcs` order (sorted by first key when the merge is made).
pub(crate) struct Front;

/// Descending keys; picks in `by_last` order.
pub(crate) struct Back;

impl Dir for Front {
    const BACK: bool = false;
    type Other = Back;

    #[inline(always)]
    fn prepare<C: Columns, F>(_: &mut Merge<C, F>) {}

    #[inline(always)]
    fn order(n: usize, _: &[u32], from: usize) -> impl Iterator<Item = usize> + '_ {
        from.min(n)..n
    }
}

impl Dir for Back {
    const BACK: bool = true;
    type Other = Front;

    /// Built on the back's first pick: forward-only reads (flushes, compactions, most
    /// queries) never pay for it.
    fn prepare<C: Columns, F>(m: &mut Merge<C, F>) {
        if m.by_last.len() != m.srcs.len() {
            let srcs = &m.srcs;
            m.by_last = (0..srcs.len() as u32).collect();
            m.by_last.sort_by_key(|&i| std::cmp::Reverse(srcs[i as usize].key(srcs[i as usize].hi0 - 1)));
        }
    }

    #[inline(always)]
    fn order(_: usize, by_last: &[u32], from: usize) -> impl Iterator<Item = usize> + '_ {
        by_last[from.min(by_last.len())..].iter().map(|&i| i as usize)
    }
}
