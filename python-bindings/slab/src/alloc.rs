//! Which slots are handed out, and when chunks are installed and released.
//!
//! All of it runs under the slab's allocation mutex. Slots in use = live handles +
//! retired entries not drained yet. A chunk is installed on demand (lowest chunk with
//! room first) and released when none of its slots is in use, keeping one empty chunk
//! as a spare, so that installed chunks = chunks with a slot in use + at most one.

use std::ptr;

use crate::chunk::Chunk;
use crate::sync::{AtomicPtr, Ordering};
use crate::Full;

/// Allocation state of one chunk.
#[derive(Default)]
pub(crate) struct ChunkAlloc {
    /// Slots `0..fresh` have been handed out at least once since the chunk was installed.
    fresh: u32,
    /// Recycled slot offsets (each below `fresh`).
    free: Vec<u16>,
}

impl ChunkAlloc {
    fn used(&self) -> usize {
        self.fresh as usize - self.free.len()
    }

    fn has_room(&self, chunk: usize) -> bool {
        !self.free.is_empty() || (self.fresh as usize) < chunk
    }
}

/// The allocator of one slab (`CHUNK` slots per chunk).
pub(crate) struct Alloc<T, const CHUNK: usize> {
    /// Per chunk id (grows to the highest chunk ever installed).
    pub(crate) chunks: Vec<ChunkAlloc>,
    /// No chunk below it has room (an uninstalled chunk has room).
    low: usize,
    /// Slots in use.
    pub(crate) used: usize,
    /// Chunks installed.
    pub(crate) installed: usize,
    /// Installed chunks with no slot in use.
    empty: usize,
    /// Model builds: released chunks, kept until the slab drops (see `chunk.rs`).
    #[cfg(any(timelog_loom, timelog_shuttle))]
    graveyard: Vec<crate::chunk::Graveyard<T, CHUNK>>,
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    _chunk: std::marker::PhantomData<fn(T)>,
}

type Dir<T, const CHUNK: usize> = [AtomicPtr<Chunk<T, CHUNK>>];

impl<T, const CHUNK: usize> Alloc<T, CHUNK> {
    const BITS: u32 = CHUNK.trailing_zeros();

    /// No chunk installed.
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    pub(crate) const fn new() -> Self {
        Alloc {
            chunks: Vec::new(),
            low: 0,
            used: 0,
            installed: 0,
            empty: 0,
            _chunk: std::marker::PhantomData,
        }
    }

    /// No chunk installed.
    #[cfg(any(timelog_loom, timelog_shuttle))]
    pub(crate) fn new() -> Self {
        Alloc { chunks: Vec::new(), low: 0, used: 0, installed: 0, empty: 0, graveyard: Vec::new() }
    }

    /// Installs chunk `c` (which is not installed).
    #[cold]
    fn install(&mut self, dir: &Dir<T, CHUNK>, c: usize) {
        let fresh = Chunk::<T, CHUNK>::allocate();
        // Installation and release only happen under the allocation mutex (held).
        dir[c].store(fresh, Ordering::Release);
        if self.chunks.len() <= c {
            self.chunks.resize_with(c + 1, ChunkAlloc::default);
        }
        self.chunks[c] = ChunkAlloc::default();
        self.installed += 1;
        self.empty += 1;
    }

    /// Returns the memory of chunk `c` (installed, no slot in use).
    #[cold]
    fn release(&mut self, dir: &Dir<T, CHUNK>, c: usize) {
        debug_assert_eq!(self.chunks[c].used(), 0);
        let p = dir[c].swap(ptr::null_mut(), Ordering::AcqRel);
        debug_assert!(!p.is_null());
        self.chunks[c] = ChunkAlloc::default();
        self.installed -= 1;
        self.empty -= 1;
        // SAFETY: `p` came from `Chunk::allocate` (in `install`) and leaves the
        // directory here, once. No slot of it is in use, so no handle or retired entry
        // can reach it; lookups of free slots never happen; `force_release` scans
        // under the allocation mutex (held).
        #[allow(clippy::let_unit_value)]
        let _dead = unsafe { Chunk::release(p) };
        #[cfg(any(timelog_loom, timelog_shuttle))]
        self.graveyard.push(_dead);
    }

    /// The lowest chunk with room, installed if needed.
    fn room(&mut self, dir: &Dir<T, CHUNK>) -> Option<usize> {
        let mut c = self.low;
        while c < dir.len() {
            if dir[c].load(Ordering::Relaxed).is_null() {
                self.install(dir, c);
                break;
            }
            if self.chunks[c].has_room(CHUNK) {
                break;
            }
            c += 1;
        }
        self.low = c;
        (c < dir.len()).then_some(c)
    }

    /// Hands out up to `n` slots of the lowest chunk with room; returns how many.
    fn take(&mut self, dir: &Dir<T, CHUNK>, n: usize, out: &mut Vec<u32>) -> usize {
        let Some(c) = self.room(dir) else { return 0 };
        let ch = &mut self.chunks[c];
        if ch.used() == 0 {
            self.empty -= 1;
        }
        let base = (c as u32) << Self::BITS;
        let k = n.min(ch.free.len());
        let at = ch.free.len() - k;
        out.extend(ch.free.drain(at..).map(|o| base | u32::from(o)));
        let m = (n - k).min(CHUNK - ch.fresh as usize);
        out.extend((ch.fresh..ch.fresh + m as u32).map(|o| base | o));
        ch.fresh += m as u32;
        self.used += k + m;
        k + m
    }

    /// Hands out `n` slots (lowest chunk with room first), all or none.
    pub(crate) fn take_many(
        &mut self,
        dir: &Dir<T, CHUNK>,
        n: usize,
        out: &mut Vec<u32>,
    ) -> Result<(), Full> {
        let start = out.len();
        let mut need = n;
        while need > 0 {
            let got = self.take(dir, need, out);
            if got == 0 {
                // Give back what was taken (never filled: no reference in those slots).
                let back = out.split_off(start);
                self.recycle(dir, &back);
                return Err(Full);
            }
            need -= got;
        }
        Ok(())
    }

    /// Hands out one slot of the lowest chunk with room.
    #[inline]
    pub(crate) fn take_one(&mut self, dir: &Dir<T, CHUNK>) -> Option<u32> {
        let c = self.room(dir)?;
        let ch = &mut self.chunks[c];
        if ch.used() == 0 {
            self.empty -= 1;
        }
        let o = match ch.free.pop() {
            Some(o) => u32::from(o),
            None => {
                ch.fresh += 1;
                ch.fresh - 1
            }
        };
        self.used += 1;
        Some((c as u32) << Self::BITS | o)
    }

    /// Gives slots back (their references already taken out), then returns the memory
    /// of chunks that became empty, keeping one empty chunk as a spare.
    pub(crate) fn recycle(&mut self, dir: &Dir<T, CHUNK>, idx: &[u32]) {
        for &i in idx {
            let c = (i >> Self::BITS) as usize;
            let ch = &mut self.chunks[c];
            ch.free.push((i & (CHUNK as u32 - 1)) as u16);
            if ch.used() == 0 {
                // Start the chunk over (fresh slots are handed out in order; the free
                // list's memory goes back).
                *ch = ChunkAlloc::default();
                self.empty += 1;
            }
            if c < self.low {
                self.low = c;
            }
        }
        self.used -= idx.len();
        if self.empty > 1 {
            // Keep the lowest empty chunk, release the others.
            let mut kept = false;
            for c in 0..self.chunks.len() {
                if self.empty <= 1 && kept {
                    break;
                }
                if dir[c].load(Ordering::Relaxed).is_null() || self.chunks[c].used() != 0 {
                    continue;
                }
                if kept {
                    self.release(dir, c);
                } else {
                    kept = true;
                }
            }
        }
    }
}
