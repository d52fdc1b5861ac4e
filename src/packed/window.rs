//! Windows of decoded blocks, read by scans (see [`PackedTs::decode_window`]).

use bitpacking::{BitPacker, BitPacker4x};

use super::{Head, PackedTs, BLOCK, RAW};

impl PackedTs {
    /// Decodes blocks `b0..b1` into `win` (replacing what it held): as offsets
    /// with one fence per block when every block is bit-packed, so that a reader
    /// adds the fence as it consumes a timestamp (a scan that reads only values
    /// then pays for the unpacking alone), or as timestamps when a block is raw.
    pub(crate) fn decode_window(&self, b0: usize, b1: usize, win: &mut Window) {
        win.base = b0 * BLOCK;
        win.len = self.blocks_len(b0, b1);
        win.fences.clear();
        win.wide.clear();
        win.narrow = self.heads[b0..b1].iter().all(|h| h.width != RAW);
        if !win.narrow {
            self.decode_blocks(b0, b1, &mut win.wide);
            return;
        }
        // The buffer only grows (to the largest window): every offset of the
        // window is written below, so it needs no clearing.
        if win.offs.len() < win.len {
            win.offs.resize(win.len, 0);
        }
        let packer = BitPacker4x::new();
        for (b, out) in (b0..b1).zip(win.offs[..win.len].chunks_mut(BLOCK)) {
            let Head { fence, width, .. } = self.heads[b];
            win.fences.push(fence);
            self.unpack(&packer, b, width, out);
        }
    }
}

/// Decoded blocks of a [`PackedTs`]: records `base..base + len` of the column,
/// filled by [`PackedTs::decode_window`].
#[derive(Default)]
pub(crate) struct Window {
    base: usize,
    len: usize,
    /// Whether the timestamps are `fences[k / BLOCK] + offs[k]` (every block
    /// bit-packed) rather than `wide[k]`.
    narrow: bool,
    fences: Vec<i64>,
    offs: Vec<u32>,
    wide: Vec<i64>,
}

impl Window {
    /// Whether the window holds offsets (every block bit-packed).
    #[cfg(test)]
    pub(crate) fn is_narrow(&self) -> bool {
        self.narrow
    }

    /// The first record the window holds.
    pub(crate) fn base(&self) -> usize {
        self.base
    }

    /// How many records the window holds.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The timestamp of record `j` (`base <= j < base + len`).
    #[inline(always)]
    pub(crate) fn get(&self, j: usize) -> i64 {
        let k = j - self.base;
        if self.narrow {
            self.fences[k / BLOCK].wrapping_add(i64::from(self.offs[k]))
        } else {
            self.wide[k]
        }
    }

    /// The timestamps of records `r` (inside the window).
    #[inline(always)]
    pub(crate) fn slice(&self, r: std::ops::Range<usize>) -> WinTs<'_> {
        let (a, b) = (r.start - self.base, r.end - self.base);
        if self.narrow {
            WinTs::Narrow(Offsets {
                fences: &self.fences[a / BLOCK..],
                skip: a % BLOCK,
                offs: &self.offs[a..b],
            })
        } else {
            WinTs::Wide(&self.wide[a..b])
        }
    }
}

/// Some consecutive timestamps of a [`Window`].
#[derive(Clone, Copy)]
pub(crate) enum WinTs<'a> {
    /// The timestamps themselves.
    Wide(&'a [i64]),
    /// Offsets from their blocks' fences.
    Narrow(Offsets<'a>),
}

/// Consecutive timestamps of a window of bit-packed blocks: `offs[i]` is the
/// record at position `skip + i` from the start of the block whose fence is
/// `fences[0]`, and its timestamp is `fences[(skip + i) / BLOCK] + offs[i]`.
#[derive(Clone, Copy)]
pub(crate) struct Offsets<'a> {
    fences: &'a [i64],
    skip: usize,
    offs: &'a [u32],
}

impl WinTs<'_> {
    /// The `i`-th timestamp.
    #[inline(always)]
    pub(crate) fn get(&self, i: usize) -> i64 {
        match self {
            WinTs::Wide(t) => t[i],
            WinTs::Narrow(o) => o.fences[(o.skip + i) / BLOCK].wrapping_add(i64::from(o.offs[i])),
        }
    }

    /// Appends the timestamps to `out`.
    pub(crate) fn extend_into(&self, out: &mut Vec<i64>) {
        match self {
            WinTs::Wide(t) => out.extend_from_slice(t),
            WinTs::Narrow(o) => {
                out.reserve(o.offs.len());
                o.blocks(false, (), |(), fence, offs, _| {
                    out.extend(offs.iter().map(|&x| fence.wrapping_add(i64::from(x))));
                });
            }
        }
    }
}

impl Offsets<'_> {
    /// Calls `f(acc, fence, offsets, from)` for each block's share of the
    /// timestamps, in order (`back`: the last block first); `from` is the index of
    /// the share's first timestamp.
    #[inline(always)]
    pub(crate) fn blocks<B>(&self, back: bool, init: B, mut f: impl FnMut(B, i64, &[u32], usize) -> B) -> B {
        let (skip, n) = (self.skip, self.offs.len());
        if n == 0 {
            return init;
        }
        let share = |b: usize| {
            let lo = (b * BLOCK).max(skip) - skip;
            (lo, ((b + 1) * BLOCK).min(skip + n) - skip)
        };
        let last = (skip + n - 1) / BLOCK;
        let mut acc = init;
        for i in 0..=last {
            let b = if back { last - i } else { i };
            let (lo, hi) = share(b);
            acc = f(acc, self.fences[b], &self.offs[lo..hi], lo);
        }
        acc
    }
}
