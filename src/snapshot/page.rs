//! The storage view of a snapshot: the pages of its flushed segments.

use std::borrow::Cow;
use std::ops::RangeBounds;

use super::Snapshot;
use crate::bounds::inclusive;
use crate::segment::Segment;
use crate::sync::Arc;

impl<V: crate::Value> Snapshot<V> {
    /// The physical pages of flushed segments that overlap `r`, clipped to it:
    /// L1 segments in timestamp order, then L0 segments oldest first, page by page.
    /// Records deleted but not yet compacted away are still included, and records
    /// still in memtables are not (this is a storage view, not a query).
    ///
    /// ```
    /// use timelog::{Level, Timelog};
    /// let log = Timelog::new();
    /// let _ = log.append_batch((0..100).map(|t| (t, t)));
    /// log.compact_now();
    /// let pages = log.snapshot().segment_pages(10..20);
    /// let n: usize = pages.iter().map(|p| p.len()).sum();
    /// assert_eq!(n, 10);
    /// assert!(pages.iter().all(|p| p.level() == Level::L1 && !p.is_empty()));
    /// assert_eq!(pages[0].timestamps()[0], 10);
    /// assert_eq!(pages[0].values()[0], 10);
    /// ```
    pub fn segment_pages(&self, r: impl RangeBounds<i64>) -> Vec<PageRef<V>> {
        let mut out = Vec::new();
        let Some((lo, hi)) = inclusive(&r) else {
            return out;
        };
        self.each_segment(lo, hi, |seg, _| {
            let (a, b) = (seg.lower_bound(lo), seg.upper_bound(hi));
            for p in 0..seg.page_count() {
                let pr = seg.page(p);
                let (s, e) = (pr.start.max(a), pr.end.min(b));
                if s < e {
                    out.push(PageRef { seg: seg.clone(), start: s, end: e });
                }
            }
        });
        out
    }
}

/// A clipped page of one flushed segment (see [`Snapshot::segment_pages`]). It
/// keeps its segment alive.
pub struct PageRef<V> {
    seg: Arc<Segment<V>>,
    start: usize,
    end: usize,
}

impl<V> Clone for PageRef<V> {
    fn clone(&self) -> Self {
        PageRef { seg: self.seg.clone(), start: self.start, end: self.end }
    }
}

impl<V> PageRef<V> {
    /// The page's timestamps (sorted): borrowed from the segment's column where it
    /// is plain (L0 segments), decoded into a new vector where it is packed (L1
    /// segments keep their timestamps compressed, see `docs/architecture.md`,
    /// "Segment format"; [`PageRef::is_packed`] tells which).
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, 'a'), (2, 'b')]);
    /// log.flush();
    /// let page = &log.snapshot().segment_pages(..)[0];
    /// assert_eq!(*page.timestamps(), [1, 2]);
    /// log.compact_now();
    /// let page = &log.snapshot().segment_pages(..)[0];
    /// assert!(page.is_packed());
    /// assert_eq!(*page.timestamps(), [1, 2]);
    /// ```
    pub fn timestamps(&self) -> Cow<'_, [i64]> {
        self.seg.ts_range(self.start..self.end)
    }

    /// Whether the page's segment keeps its timestamps packed (then
    /// [`PageRef::timestamps`] decodes them).
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, 'a'), (2, 'b')]);
    /// log.flush();
    /// assert!(!log.snapshot().segment_pages(..)[0].is_packed());
    /// ```
    pub fn is_packed(&self) -> bool {
        self.seg.is_packed()
    }

    /// The page's values, position by position with [`PageRef::timestamps`].
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, 'a'), (2, 'b')]);
    /// log.flush();
    /// let page = &log.snapshot().segment_pages(..)[0];
    /// assert_eq!(page.values(), ['a', 'b']);
    /// ```
    pub fn values(&self) -> &[V] {
        &self.seg.vals()[self.start..self.end]
    }

    /// Number of records in the page.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, 'a'), (2, 'b')]);
    /// log.flush();
    /// let page = &log.snapshot().segment_pages(..)[0];
    /// assert_eq!(page.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Always `false`: empty pages are never returned.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, 'a'), (2, 'b')]);
    /// log.flush();
    /// let page = &log.snapshot().segment_pages(..)[0];
    /// assert!(!page.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// The level of the segment the page belongs to.
    ///
    /// ```
    /// use timelog::Timelog;
    /// let log = Timelog::new();
    /// let _ = log.append_batch([(1, 'a'), (2, 'b')]);
    /// log.flush();
    /// let page = &log.snapshot().segment_pages(..)[0];
    /// assert_eq!(page.level(), timelog::Level::L0);
    /// ```
    pub fn level(&self) -> crate::Level {
        self.seg.level
    }
}

impl<V> std::fmt::Debug for PageRef<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageRef").field("len", &self.len()).field("level", &self.seg.level).finish()
    }
}
