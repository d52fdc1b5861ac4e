//! Compressed timestamp columns: sorted timestamps in blocks of [`BLOCK`], each
//! stored as bit-packed offsets from its first timestamp (frame of reference).
//!
//! # Format
//! A column of `n` sorted timestamps is cut into blocks of 128 (the last one may be
//! shorter). Per block the column keeps a 16-byte header (one array, so that reading
//! a timestamp touches one header cache line and the data):
//! - its *fence*, the block's first timestamp;
//! - its *width* `w`: every timestamp of the block is `fence + offset` with `offset`
//!   below `2^w`; since the block is sorted, `w` is the bit length of its span
//!   `last - first` (0 for a block whose timestamps are all equal, or of one record);
//! - where its bytes start in the shared data array.
//!
//! A block whose span fits 32 bits holds its 128 offsets as `u32`s bit-packed at
//! width `w` in the four-lane layout of the `bitpacking` crate's `BitPacker4x`
//! (`16 * w` bytes; a short last block is padded with its last offset), which that
//! crate decodes with SIMD. A wider block (a span of more than about 4.3 s in
//! nanoseconds, or timestamps far apart on the axis: any span up to the full 64 bits)
//! is stored raw, 8 bytes per timestamp ([`RAW`]).
//!
//! # Access
//! - [`PackedTs::get`] reads one timestamp without decoding its block: the four-lane
//!   layout puts offset `k` of a block in lane `k % 4` at bit `(k / 4) * w` of that
//!   lane, whose 32-bit words are interleaved with the other lanes' every 16 bytes.
//!   The merge's keys, gallops and the segment searches use it.
//! - [`PackedTs::decode_blocks`] decodes whole blocks into a buffer: scans walk a
//!   window of decoded blocks at slice speed.

use bitpacking::{BitPacker, BitPacker4x};

mod window;
pub(crate) use window::{WinTs, Window};

/// Timestamps per block.
pub(crate) const BLOCK: usize = BitPacker4x::BLOCK_LEN;

/// The width tag of a raw block (timestamps stored as they are).
pub(crate) const RAW: u8 = 64;

/// The widest offsets that are bit-packed; wider blocks are [`RAW`].
const MAX_PACKED: u8 = 32;

/// The header of one block.
#[derive(Clone, Copy)]
struct Head {
    /// The block's first timestamp.
    fence: i64,
    /// Where the block's bytes start in the data.
    start: u32,
    /// Offset width (`0..=32`), or [`RAW`].
    width: u8,
}

/// A sorted timestamp column in compressed blocks (see the module docs).
pub(crate) struct PackedTs {
    len: usize,
    heads: Vec<Head>,
    data: Vec<u8>,
}

/// The bit length of `x`.
fn bits(x: u64) -> u32 {
    u64::BITS - x.leading_zeros()
}

impl PackedTs {
    /// Packs the sorted column `ts`; `None` if its packed bytes would not be
    /// addressable by the `u32` block starts (over 4 GiB).
    pub(crate) fn new(ts: &[i64]) -> Option<PackedTs> {
        debug_assert!(ts.windows(2).all(|w| w[0] <= w[1]), "a packed column must be sorted");
        let blocks = ts.len().div_ceil(BLOCK);
        let mut p = PackedTs { len: ts.len(), heads: Vec::with_capacity(blocks), data: Vec::new() };
        let packer = BitPacker4x::new();
        let mut offsets = [0u32; BLOCK];
        let mut out = [0u8; 4 * BLOCK];
        for block in ts.chunks(BLOCK) {
            let first = block[0];
            let span = block[block.len() - 1].wrapping_sub(first) as u64;
            let start = u32::try_from(p.data.len()).ok()?;
            let w = bits(span);
            if w > u32::from(MAX_PACKED) {
                p.heads.push(Head { fence: first, start, width: RAW });
                for &t in block {
                    p.data.extend_from_slice(&t.to_le_bytes());
                }
                continue;
            }
            p.heads.push(Head { fence: first, start, width: w as u8 });
            if w == 0 {
                continue;
            }
            for (o, &t) in offsets.iter_mut().zip(block) {
                *o = t.wrapping_sub(first) as u32;
            }
            // Pad a short block with its last offset (any value below 2^w would do).
            let last = offsets[block.len() - 1];
            offsets[block.len()..].fill(last);
            let n = packer.compress(&offsets, &mut out, w as u8);
            debug_assert_eq!(n, BitPacker4x::compressed_block_size(w as u8));
            p.data.extend_from_slice(&out[..n]);
        }
        u32::try_from(p.data.len()).ok()?;
        p.data.shrink_to_fit();
        Some(p)
    }

    /// Number of timestamps.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Number of blocks.
    #[cfg(test)]
    pub(crate) fn blocks(&self) -> usize {
        self.heads.len()
    }

    /// The offset width of block `b` (or [`RAW`]).
    #[cfg(test)]
    pub(crate) fn width(&self, b: usize) -> u8 {
        self.heads[b].width
    }

    /// Bytes held (the data and the per-block arrays).
    pub(crate) fn bytes(&self) -> usize {
        self.data.capacity() + self.heads.capacity() * std::mem::size_of::<Head>()
    }

    /// A `u32` of the data, little-endian, at byte `at`.
    #[inline(always)]
    fn word(&self, at: usize) -> u32 {
        let b = &self.data[at..at + 4];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Timestamp `j` (`j < len`), read without decoding its block.
    #[inline]
    pub(crate) fn get(&self, j: usize) -> i64 {
        self.in_block(self.heads[j / BLOCK], j % BLOCK)
    }

    /// Timestamp `k` of the block with header `h`.
    #[inline(always)]
    fn in_block(&self, h: Head, k: usize) -> i64 {
        let Head { fence, start, width: w } = h;
        let start = start as usize;
        if w == 0 {
            return fence;
        }
        if w == RAW {
            let at = start + 8 * k;
            let d = &self.data[at..at + 8];
            return i64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]);
        }
        let w = u32::from(w);
        // Lane `k % 4`, bit `(k / 4) * w` of the lane; the lane's 32-bit words are
        // 16 bytes apart.
        let bit = (k / 4) as u32 * w;
        let (m, sh) = ((bit / 32) as usize, bit % 32);
        let at = start + 16 * m + 4 * (k % 4);
        let mut v = u64::from(self.word(at)) >> sh;
        if sh + w > 32 {
            v |= u64::from(self.word(at + 16)) << (32 - sh);
        }
        fence.wrapping_add((v & ((1u64 << w) - 1)) as i64)
    }

    /// The first index in `lo..hi` whose timestamp does not satisfy `pred` (which
    /// holds for a prefix of the column): a bisection that reads each block's
    /// header once.
    pub(crate) fn partition_point(&self, lo: usize, hi: usize, pred: impl Fn(i64) -> bool) -> usize {
        let (mut a, mut z) = (lo, hi);
        while a < z {
            let b = a / BLOCK;
            let h = self.heads[b];
            if (z - 1) / BLOCK == b {
                // The rest lies in one block.
                let base = b * BLOCK;
                let (mut x, mut y) = (a - base, z - base);
                while x < y {
                    let m = x + (y - x) / 2;
                    if pred(self.in_block(h, m)) {
                        x = m + 1;
                    } else {
                        y = m;
                    }
                }
                return base + x;
            }
            let m = a + (z - a) / 2;
            if pred(self.get(m)) {
                a = m + 1;
            } else {
                z = m;
            }
        }
        a
    }

    /// Hints that timestamp `j` will be read soon: its block's header, and where
    /// its bytes lie if every block took the same room (exact for evenly spread
    /// timestamps, whose blocks have one width): the data load then overlaps the
    /// header's instead of waiting for it.
    #[inline(always)]
    pub(crate) fn prefetch(&self, j: usize) {
        let b = j / BLOCK;
        crate::hint::prefetch(&self.heads[b]);
        let at = (self.data.len() as u128 * j as u128 / self.len.max(1) as u128) as usize;
        crate::hint::prefetch_ptr(self.data.as_ptr().wrapping_add(at));
    }

    /// The bytes of block `b`.
    #[inline]
    fn block_data(&self, b: usize) -> &[u8] {
        let end = self.heads.get(b + 1).map_or(self.data.len(), |h| h.start as usize);
        &self.data[self.heads[b].start as usize..end]
    }

    /// Number of records of block `b`.
    #[inline]
    pub(crate) fn block_len(&self, b: usize) -> usize {
        BLOCK.min(self.len - b * BLOCK)
    }

    /// Number of records of blocks `b0..b1`.
    #[inline]
    pub(crate) fn blocks_len(&self, b0: usize, b1: usize) -> usize {
        (b1 * BLOCK).min(self.len) - b0 * BLOCK
    }

    /// Appends the timestamps of blocks `b0..b1` to `out`.
    pub(crate) fn decode_blocks(&self, b0: usize, b1: usize, out: &mut Vec<i64>) {
        out.reserve(self.blocks_len(b0, b1));
        let packer = BitPacker4x::new();
        let mut offsets = [0u32; BLOCK];
        for b in b0..b1 {
            let n = self.block_len(b);
            let Head { fence, width, .. } = self.heads[b];
            match width {
                0 => out.extend(std::iter::repeat_n(fence, n)),
                RAW => out.extend(
                    self.block_data(b)
                        .chunks_exact(8)
                        .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])),
                ),
                w => {
                    self.unpack(&packer, b, w, &mut offsets[..n]);
                    out.extend(offsets[..n].iter().map(|&o| fence.wrapping_add(i64::from(o))));
                }
            }
        }
    }

    /// Writes the offsets of block `b` (bit-packed at width `w <= 32`) to `out`,
    /// which holds exactly the block's records.
    #[inline]
    fn unpack(&self, packer: &BitPacker4x, b: usize, w: u8, out: &mut [u32]) {
        if w == 0 {
            out.fill(0); // all equal to the fence
        } else if out.len() == BLOCK {
            packer.decompress(self.block_data(b), out, w);
        } else {
            // A short last block: its padding has nowhere to go in `out`.
            let mut full = [0u32; BLOCK];
            packer.decompress(self.block_data(b), &mut full, w);
            out.copy_from_slice(&full[..out.len()]);
        }
    }

    /// Appends timestamps `a..b` to `out`.
    pub(crate) fn decode_range(&self, a: usize, b: usize, out: &mut Vec<i64>) {
        if a >= b {
            return;
        }
        let (b0, b1) = (a / BLOCK, (b - 1) / BLOCK + 1);
        let at = out.len();
        self.decode_blocks(b0, b1, out);
        let skip = a - b0 * BLOCK;
        out.drain(at..at + skip);
        out.truncate(at + (b - a));
    }

    /// All timestamps, decoded.
    #[cfg(test)]
    pub(crate) fn to_vec(&self) -> Vec<i64> {
        let mut v = Vec::with_capacity(self.len);
        self.decode_blocks(0, self.blocks(), &mut v);
        v
    }

    /// Checks the column's own invariants: widths fit the blocks' spans, fences
    /// are the blocks' first timestamps, and the data are where the starts say.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let blocks = self.len.div_ceil(BLOCK);
        if self.heads.len() != blocks {
            return Err(format!("{} blocks expected for {} timestamps", blocks, self.len));
        }
        for b in 0..blocks {
            if b > 0 && self.heads[b].start < self.heads[b - 1].start {
                return Err(format!("block {b} starts before block {}", b - 1));
            }
            let size = self.block_data(b).len();
            let want = match self.heads[b].width {
                RAW => 8 * self.block_len(b),
                w if w <= MAX_PACKED => BitPacker4x::compressed_block_size(w),
                w => return Err(format!("block {b}: width {w}")),
            };
            if size != want {
                return Err(format!("block {b}: {size} bytes, {want} expected"));
            }
            if self.get(b * BLOCK) != self.heads[b].fence {
                return Err(format!("block {b}: fence differs from its first timestamp"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
