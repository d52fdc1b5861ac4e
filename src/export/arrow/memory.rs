//! Arrow buffers that share a segment's memory instead of copying it.
//!
//! The one place of the export that needs `unsafe`: an Arrow [`Buffer`] is made
//! over a slice of a segment's column, with the segment (behind its `Arc`) as the
//! buffer's owner. Safe types wrap it: [`Shared`] hands out buffers only for slices
//! of a native Arrow type that lie in memory the owner keeps alive.

use std::panic::{AssertUnwindSafe, RefUnwindSafe};
use std::ptr::NonNull;
use std::sync::Arc as StdArc;

use arrow_buffer::alloc::Allocation;
use arrow_buffer::{ArrowNativeType, Buffer, ScalarBuffer};

/// Keeps the memory of exported columns alive: an `Arc` of a segment, or anything
/// else immutable. Counted by the log's pin tally while it lives (see
/// [`crate::Stats::pinned_segments`]).
pub(crate) struct Owner<T: Send + Sync + 'static>(pub(crate) AssertUnwindSafe<T>);

/// The owner as Arrow takes it.
pub(crate) type Keep = StdArc<dyn Allocation>;

pub(crate) fn keep<T: Send + Sync + 'static>(owner: T) -> Keep
where
    AssertUnwindSafe<T>: RefUnwindSafe,
{
    StdArc::new(Owner(AssertUnwindSafe(owner)))
}

/// A slice of values that lies in memory kept alive by an owner: what a
/// [`ValueEncoder`](super::ValueEncoder) gets to build a column without copying.
///
/// Its [`buffer`](Shared::buffer) method, for native Arrow types (integers and
/// floats), makes an Arrow buffer that points into that memory; the buffer keeps
/// the owner alive for as long as Arrow (or a consumer of the C interface) holds it.
pub struct Shared<'a, V> {
    values: &'a [V],
    owner: &'a Keep,
}

impl<'a, V> Shared<'a, V> {
    /// `values` must lie in memory that `owner` keeps alive and never changes.
    pub(crate) fn new(values: &'a [V], owner: &'a Keep) -> Self {
        Shared { values, owner }
    }

    /// The values, to copy from where they cannot be shared.
    pub fn values(&self) -> &'a [V] {
        self.values
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl<T: ArrowNativeType> Shared<'_, T> {
    /// An Arrow buffer over the values, sharing their memory (no copy).
    pub fn buffer(&self) -> ScalarBuffer<T> {
        let len = std::mem::size_of_val(self.values);
        let ptr = NonNull::new(self.values.as_ptr() as *mut u8).unwrap_or(NonNull::dangling());
        // SAFETY: `ptr` points to `len` initialised bytes (a slice of `T`, a native
        // Arrow type: plain old data without padding or pointers), which the owner
        // keeps alive and unchanged (segments never mutate their columns, and the
        // owner holds the segment's `Arc`) for as long as the buffer holds the owner's
        // `Arc`, which `from_custom_allocation` keeps. The pointer is aligned for `T`
        // (it is a slice of `T`), which `ScalarBuffer::new` checks again. For an empty
        // slice the pointer is dangling but never read (length 0).
        let buf = unsafe { Buffer::from_custom_allocation(ptr, len, self.owner.clone()) };
        ScalarBuffer::new(buf, 0, self.values.len())
    }
}
