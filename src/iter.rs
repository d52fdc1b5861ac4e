//! Iterators over a [`Snapshot`](crate::Snapshot)'s records, the way
//! `std::collections::btree_map` keeps its `Range` and `Iter`: named here rather
//! than at the crate root, where `Range` would shadow `std::ops::Range` on a glob
//! import.
//!
//! - [`Range`]: `(ts, &value)` of a timestamp range, from
//!   [`Snapshot::range`](crate::Snapshot::range); double-ended, borrows the
//!   snapshot.
//! - [`Cursor`]: the same records from
//!   [`Snapshot::into_cursor`](crate::Snapshot::into_cursor), owning what it reads
//!   (cloned values as an iterator, lent ones through its accessors).
//! - [`Point`]: the values at one timestamp, from
//!   [`Snapshot::point`](crate::Snapshot::point).
//!
//! ```
//! use timelog::{iter, Timelog};
//! let log = Timelog::new();
//! let _ = log.append_batch([(1, "a"), (2, "b"), (2, "c")]);
//! let snap = log.snapshot();
//! let range: iter::Range<'_, &str> = snap.range(1..);
//! assert_eq!(range.rev().next(), Some((2, &"c")));
//! let point: iter::Point<'_, &str> = snap.point(2);
//! assert_eq!(point.len(), 2);
//! let cursor: iter::Cursor<&str> = snap.clone().into_cursor(..);
//! assert_eq!(cursor.collect::<Vec<_>>(), [(1, "a"), (2, "b"), (2, "c")]);
//! ```

pub use crate::snapshot::{Cursor, Point, Range};
