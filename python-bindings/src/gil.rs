//! When a batch write gives the GIL up for the engine's part of the write (sorting the
//! batch, inserting it into the memtable, publishing it, sealing a full memtable).
//!
//! Releasing the GIL lets other Python threads run meanwhile: a second writer converts
//! its next batch while this one's is sorted and published. But getting the GIL back is
//! not free. A thread running Python code does not give the GIL up by itself: CPython
//! asks it to after the switch interval (`sys.getswitchinterval()`, 5 ms). So a writer
//! that releases the GIL for some 50 µs of engine work while other threads run Python
//! code (readers iterating a log, say) then waits 5 ms or more for it, every batch (a
//! "convoy"). Next to two readers such a writer kept a fifth to a quarter of its solo
//! throughput in `benches/threads.py`, where holding the GIL through the whole call
//! keeps a third or more (its turn among three threads).
//!
//! So a batch of [`MIN`] records or more runs the engine's part without the GIL, unless
//! a recent one of this thread waited longer than [`CONVOY`] to get the GIL back: then
//! the thread keeps the GIL through its batch writes for a while ([`HOLD_MIN`],
//! doubling up to [`HOLD_MAX`] while the convoys go on; a write that gets the GIL back
//! quickly resets it). Writers that all release the GIL hand it to each other after
//! every batch and keep releasing it; next to threads that do not, a writer soon holds
//! it like them. Batches of [`ALWAYS`] records or more always run the engine's part
//! without the GIL: it takes a millisecond or more, too long to keep other threads
//! waiting.

use std::cell::Cell;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

/// Smallest batch whose engine part runs without the GIL.
pub const MIN: usize = 1024;
/// Smallest batch whose engine part always runs without the GIL.
pub const ALWAYS: usize = 65_536;
/// A longer wait for the GIL after the engine's part means other threads hold it
/// without giving it up (a fifth of CPython's default switch interval).
const CONVOY: Duration = Duration::from_millis(1);
/// How long a thread keeps the GIL for its batch writes after a convoy, at first ...
const HOLD_MIN: Duration = Duration::from_millis(100);
/// ... and at most (doubling while the convoys go on).
const HOLD_MAX: Duration = Duration::from_millis(1600);

thread_local! {
    /// This thread keeps the GIL for batch writes until then.
    static HOLD_UNTIL: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The next hold, after a convoy.
    static NEXT_HOLD: Cell<Duration> = const { Cell::new(HOLD_MIN) };
}

/// Runs the engine's part `f` of a batch write of `n` records, without the GIL where
/// that pays (see the module documentation).
pub fn engine_part<T: Send>(py: Python<'_>, n: usize, f: impl FnOnce() -> T + Send) -> T {
    if n < MIN {
        return f();
    }
    if n < ALWAYS {
        if let Some(until) = HOLD_UNTIL.get() {
            if Instant::now() < until {
                return f();
            }
            HOLD_UNTIL.set(None);
        }
    }
    let start = Instant::now();
    let (r, work) = py.detach(|| {
        let t = Instant::now();
        let r = f();
        (r, t.elapsed())
    });
    let waited = start.elapsed().saturating_sub(work);
    if waited <= CONVOY {
        NEXT_HOLD.set(HOLD_MIN);
    } else {
        let hold = NEXT_HOLD.get();
        HOLD_UNTIL.set(Some(Instant::now() + hold));
        NEXT_HOLD.set((hold * 2).min(HOLD_MAX));
    }
    r
}
