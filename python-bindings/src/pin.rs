//! Reader pins: `close()` refuses while any reader (iterator, span, span iterator,
//! running export) of the log is alive.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Counter of live readers of one log object.
pub type Pins = Arc<AtomicUsize>;

/// One live reader; dropping it unpins.
pub struct Pin(Pins);

impl Pin {
    pub fn new(pins: &Pins) -> Pin {
        pins.fetch_add(1, Ordering::SeqCst);
        Pin(pins.clone())
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
