//! Values that account for their own instances.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Counts the live [`Counted`] values made from it (and their clones).
#[derive(Debug, Clone, Default)]
pub struct Live(Arc<AtomicUsize>);

impl Live {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new value counted here.
    pub fn value(&self) -> Counted {
        Counted::new(&self.0)
    }

    /// Values alive now.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// A value that counts its live instances in a shared counter: creation and
/// `Clone` add one, `Drop` takes one away.
#[derive(Debug)]
pub struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(live: &Arc<AtomicUsize>) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Counted(live.clone())
    }
}

impl Clone for Counted {
    fn clone(&self) -> Self {
        Counted::new(&self.0)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
