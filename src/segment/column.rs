//! A segment's timestamp column: plain (L0, zero-copy for readers) or packed in
//! blocks (L1, see [`crate::packed`]).

use std::borrow::Cow;

use crate::packed::PackedTs;
use crate::source::Ts;

/// The timestamp column a segment owns.
pub(crate) enum TsColumn {
    Raw(Vec<i64>),
    Packed(PackedTs),
}

/// A borrowed view of a [`TsColumn`].
#[derive(Clone, Copy)]
pub(crate) enum TsView<'a> {
    Raw(&'a [i64]),
    Packed(&'a PackedTs),
}

impl TsColumn {
    /// `ts` packed if `pack` (and it fits the packed format), else as it is.
    pub(crate) fn new(ts: Vec<i64>, pack: bool) -> TsColumn {
        if pack && !ts.is_empty() {
            if let Some(p) = PackedTs::new(&ts) {
                return TsColumn::Packed(p);
            }
        }
        TsColumn::Raw(ts)
    }

    #[inline]
    pub(crate) fn view(&self) -> TsView<'_> {
        match self {
            TsColumn::Raw(v) => TsView::Raw(v),
            TsColumn::Packed(p) => TsView::Packed(p),
        }
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        match self {
            TsColumn::Raw(v) => v.capacity() * 8,
            TsColumn::Packed(p) => p.bytes(),
        }
    }
}

impl<'a> TsView<'a> {
    #[inline]
    pub(crate) fn len(self) -> usize {
        match self {
            TsView::Raw(v) => v.len(),
            TsView::Packed(p) => p.len(),
        }
    }

    /// Timestamp `j`.
    #[inline]
    pub(crate) fn get(self, j: usize) -> i64 {
        match self {
            TsView::Raw(v) => v[j],
            TsView::Packed(p) => p.get(j),
        }
    }

    /// The column as a slice, if it is plain.
    #[inline]
    pub(crate) fn as_slice(self) -> Option<&'a [i64]> {
        match self {
            TsView::Raw(v) => Some(v),
            TsView::Packed(_) => None,
        }
    }

    /// Appends timestamps `a..b` to `out`.
    pub(crate) fn decode_range(self, a: usize, b: usize, out: &mut Vec<i64>) {
        match self {
            TsView::Raw(v) => out.extend_from_slice(&v[a..b]),
            TsView::Packed(p) => p.decode_range(a, b, out),
        }
    }

    /// The first index in `lo..hi` whose timestamp does not satisfy `pred` (which
    /// holds for a prefix of the column).
    #[inline]
    pub(crate) fn partition_point(self, lo: usize, hi: usize, pred: impl Fn(i64) -> bool) -> usize {
        match self {
            TsView::Raw(v) => lo + v[lo..hi].partition_point(|&x| pred(x)),
            TsView::Packed(p) => p.partition_point(lo, hi, pred),
        }
    }

    /// Hints that timestamp `j` (`j < len`) will be read soon.
    #[inline(always)]
    pub(crate) fn prefetch(self, j: usize) {
        match self {
            TsView::Raw(v) => crate::hint::prefetch(&v[j]),
            TsView::Packed(p) => p.prefetch(j),
        }
    }
}

impl<'a> From<TsView<'a>> for Ts<'a> {
    fn from(v: TsView<'a>) -> Ts<'a> {
        match v {
            TsView::Raw(s) => Ts::Plain(Cow::Borrowed(s)),
            TsView::Packed(p) => Ts::Packed(p),
        }
    }
}
