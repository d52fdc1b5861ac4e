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
                    packer.decompress(self.block_data(b), &mut offsets, w);
                    out.extend(offsets[..n].iter().map(|&o| fence.wrapping_add(i64::from(o))));
                }
            }
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Packs `ts` (sorted) and checks every access path against the plain column.
    fn roundtrip(ts: &[i64]) -> PackedTs {
        let p = PackedTs::new(ts).unwrap();
        p.validate().unwrap();
        assert_eq!(p.len(), ts.len());
        assert_eq!(p.to_vec(), ts);
        for (j, &t) in ts.iter().enumerate() {
            assert_eq!(p.get(j), t, "get({j})");
        }
        // Searches from every block edge and inside blocks, for present and absent keys.
        let n = ts.len();
        let cuts: Vec<usize> =
            (0..=n).filter(|&i| i % BLOCK < 2 || i % BLOCK > BLOCK - 3 || i % 37 == 0).collect();
        for &t in ts.iter().step_by(n / 16 + 1).chain(&[i64::MIN, i64::MAX]) {
            for t in [t, t.saturating_sub(1), t.saturating_add(1)] {
                for (&lo, &hi) in cuts.iter().zip(cuts.iter().rev()).filter(|(a, b)| a <= b) {
                    let want = lo + ts[lo..hi].partition_point(|&x| x < t);
                    assert_eq!(
                        p.partition_point(lo, hi, |x| x < t),
                        want,
                        "partition_point({lo}, {hi}, < {t})"
                    );
                }
            }
        }
        for (a, b) in
            [(0, ts.len()), (1, ts.len()), (0, ts.len().saturating_sub(1)), (ts.len() / 2, ts.len())]
        {
            if a <= b {
                let mut out = vec![7];
                p.decode_range(a, b, &mut out);
                assert_eq!(out[1..], ts[a..b], "decode_range({a}, {b})");
            }
        }
        p
    }

    /// A block of 128 timestamps from `base` whose offsets are `f(k)`.
    fn block(base: i64, f: impl Fn(u64) -> u64) -> Vec<i64> {
        (0..BLOCK as u64).map(|k| base.wrapping_add(f(k) as i64)).collect()
    }

    #[test]
    fn every_width_round_trips_at_its_exact_span() {
        for w in 0..=64u32 {
            // The span is exactly 2^w - 1: the widest offset needs all `w` bits.
            let max = if w == 64 { u64::MAX } else { (1u64 << w) - 1 };
            let ts = block(i64::MIN, |k| if k == BLOCK as u64 - 1 { max } else { max / 128 * k });
            let p = roundtrip(&ts);
            let want = if w > 32 { RAW } else { w as u8 };
            assert_eq!(p.width(0), want, "span 2^{w} - 1");
            // One more than the span fits: the next width.
            if w < 64 {
                let ts = block(-5, |k| if k == BLOCK as u64 - 1 { max + 1 } else { k.min(max + 1) });
                let p = roundtrip(&ts);
                assert_eq!(p.width(0), if w + 1 > 32 { RAW } else { w as u8 + 1 }, "span 2^{w}");
            }
        }
    }

    #[test]
    fn edge_blocks() {
        // One record; all equal; the whole axis in one block; i64::MIN and MAX.
        roundtrip(&[42]);
        roundtrip(&[i64::MIN]);
        roundtrip(&[i64::MAX]);
        let p = roundtrip(&[7; 300]);
        assert!((0..p.blocks()).all(|b| p.width(b) == 0));
        assert!(p.data.is_empty());
        let p = roundtrip(&[i64::MIN, -1, 0, 1, i64::MAX]);
        assert_eq!(p.width(0), RAW);
        let p = roundtrip(&[i64::MAX - 3, i64::MAX - 1, i64::MAX, i64::MAX]);
        assert_eq!(p.width(0), 2);
        roundtrip(&[]);
        // Block boundaries: 127, 128, 129 records; a short last block of one.
        for n in [127, 128, 129, 255, 256, 257] {
            roundtrip(&(0..n as i64).map(|i| i * 1000).collect::<Vec<_>>());
        }
        // Blocks of different modes in one column.
        let mut ts = vec![0; 128];
        ts.extend(block(1 << 40, |k| k * 3));
        ts.extend(block(1 << 50, |k| k << 40));
        ts.extend([i64::MAX; 3]);
        let p = roundtrip(&ts);
        assert_eq!([p.width(0), p.width(1), p.width(2), p.width(3)], [0, 9, RAW, 0]);
    }

    #[test]
    fn realistic_nanosecond_arrivals_pack_below_four_bytes() {
        // Arrivals about 10 µs apart: blocks span about 1.3 ms, 21 bits.
        let mut t = 1_700_000_000_000_000_000i64;
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let ts: Vec<i64> = (0..100_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                t += (x % 20_000) as i64;
                t
            })
            .collect();
        let p = roundtrip(&ts);
        let per = p.bytes() as f64 / ts.len() as f64;
        assert!(per < 3.0, "{per} bytes per timestamp");
    }

    proptest! {
        #[test]
        fn packed_columns_match_the_plain_column(
            mut ts in proptest::collection::vec(prop_oneof![
                any::<i64>(),
                -300i64..300,
                Just(i64::MIN),
                Just(i64::MAX),
                (0i64..1 << 33),
            ], 0..700),
        ) {
            ts.sort_unstable();
            roundtrip(&ts);
        }
    }
}
