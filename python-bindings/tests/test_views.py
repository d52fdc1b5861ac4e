"""Zero-copy views (docs/api.md, section 10): views(), page_spans(), PageSpanIter, PageSpan, PageSpanObjectsView."""

import collections.abc
import gc
import sys

import pytest

from _util import TS_MAX, TS_MIN, drain, manual
from timelog import PageSpan, PageSpanIter, PageSpanObjectsView


@pytest.fixture
def flushed(log):
    log.extend([(t, "v%d" % t) for t in range(10)])
    log.flush()
    return log


def test_views_need_flush(log):
    log.extend([(t, t) for t in range(10)])
    assert list(log.views()) == []
    log.flush()
    assert sum(len(s) for s in log.views()) == 10


def test_span_basics(flushed, np):
    spans = list(flushed.views())
    assert len(spans) == 1
    s = spans[0]
    assert isinstance(s, PageSpan) and len(s) == 10 and not s.closed
    assert (s.start_ts, s.end_ts, s.last_ts) == (0, 9, 9)
    mv = s.timestamps
    assert (mv.format, mv.itemsize, mv.readonly, mv.ndim) == ("q", 8, True, 1)
    assert mv.tolist() == list(range(10)) == s.copy_timestamps()
    assert s.timestamps is not mv
    with pytest.raises(TypeError):
        mv[0] = 5
    assert np.asarray(s).tolist() == list(range(10))
    arr = np.frombuffer(s, np.int64)
    assert not arr.flags.writeable and arr.tolist() == list(range(10))
    assert bytes(s) == np.arange(10, dtype=np.int64).tobytes()
    assert memoryview(s).tolist() == list(range(10))
    if sys.version_info >= (3, 12):
        assert isinstance(s, collections.abc.Buffer)
    del mv, arr
    gc.collect()
    s.close()


def test_span_is_zero_copy(flushed, np):
    s = next(iter(flushed.views()))
    a = np.asarray(s)
    b = np.asarray(s)
    assert a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    assert memoryview(s).obj is s
    del a, b
    gc.collect()


def test_span_close_with_exports(flushed, np):
    s = next(iter(flushed.views()))
    mv = s.timestamps
    with pytest.raises(BufferError):
        s.close()
    assert not s.closed
    with s:
        pass
    assert not s.closed                      # __exit__ left it open silently
    arr = np.asarray(s)
    mv.release()
    with pytest.raises(BufferError):
        s.close()
    del arr
    gc.collect()
    s.close()
    s.close()
    assert s.closed and len(s) == 0
    for op in (lambda: s.timestamps, lambda: s.start_ts, lambda: s.end_ts, lambda: s.last_ts,
               lambda: s.copy_timestamps(), lambda: s.objects(), lambda: memoryview(s)):
        with pytest.raises(ValueError):
            op()


def test_span_context_manager_closes(flushed):
    with next(iter(flushed.views())) as s:
        assert not s.closed
    assert s.closed
    assert s.__exit__(None, None, None) is False


def test_span_repr_is_default(flushed):
    s = next(iter(flushed.views()))
    assert repr(s).startswith("<timelog._timelog.PageSpan object at")


def test_objects_view(flushed):
    s = next(iter(flushed.views()))
    ov = s.objects()
    assert isinstance(ov, PageSpanObjectsView) and not ov.closed
    assert s.objects() is not ov
    assert len(ov) == 10 and ov[0] == "v0" and ov[-1] == "v9" and ov[9] == "v9"
    assert ov[True] == "v1" and ov[-10] == "v0"
    assert ov.copy() == ["v%d" % i for i in range(10)]
    assert list(ov) == ov.copy()
    assert "v3" in ov and "zz" not in ov
    assert list(reversed(ov)) == ["v%d" % i for i in range(9, -1, -1)]
    for bad in (10, -11, -20, 2**63, -(2**63) - 1, 2**100):
        with pytest.raises(IndexError):
            ov[bad]                              # quirk 6 fixed: no double wrap
    for bad in (slice(0, 2), "0", 1.0, None):
        with pytest.raises(TypeError):
            ov[bad]
    assert not isinstance(ov, collections.abc.Sequence)
    it = iter(ov)
    assert next(it) == "v0" and iter(it) is it
    s.close()
    assert ov.closed
    for op in (lambda: len(ov), lambda: ov[0], lambda: list(ov), lambda: ov.copy(), lambda: next(it)):
        with pytest.raises(ValueError):
            op()


def test_objects_view_identity(log):
    payload = object()
    log[1] = payload
    log.flush()
    s = next(iter(log.views()))
    assert s.objects()[0] is payload
    s.close()


def test_views_arguments(flushed):
    log = flushed
    with pytest.raises(ValueError):
        log.views(5)
    with pytest.raises(ValueError):
        log.views(None, 5)
    with pytest.raises(ValueError):
        log.views(kind="page")
    with pytest.raises(TypeError):
        log.views(kind=1)
    with pytest.raises(ValueError):
        log.views(8, 2)
    with pytest.raises(TypeError):
        log.views(True, 5)
    with pytest.raises(TypeError):
        log.views(0, 5.0)
    with pytest.raises(OverflowError):
        log.views(0, 2**63)
    assert list(log.views(3, 3)) == []
    assert [sp.copy_timestamps() for sp in log.views(3, 6)] == [[3, 4, 5]]
    assert [sp.copy_timestamps() for sp in log.views(3, 6, kind="segment")] == [[3, 4, 5]]
    assert [sp.copy_timestamps() for sp in log.page_spans(3, 6)] == [[3, 4, 5]]
    assert [sp.copy_timestamps() for sp in log.page_spans(3, 6, "segment")] == [[3, 4, 5]]
    with pytest.raises(TypeError):
        log.page_spans(3)
    with pytest.raises(TypeError):
        log.page_spans(True, 6)
    with pytest.raises(ValueError):
        log.page_spans(3, 6, kind="x")


def test_views_are_physical(log):
    log.extend([(t, t) for t in range(10)])
    log.flush()
    del log[0:5]
    assert len(log) == 5
    assert sum(len(sp) for sp in log.views()) == 10
    drain(log)
    assert sum(len(sp) for sp in log.views()) == 5


def test_views_include_ts_max(log):
    """Quirk 10 fixed: unbounded views include a record at TL_TS_MAX."""
    log[TS_MAX] = "top"
    log[TS_MIN] = "bottom"
    log.flush()
    ts = [t for sp in log.views() for t in sp.copy_timestamps()]
    assert sorted(ts) == [TS_MIN, TS_MAX]


def test_overlapping_l0_spans_then_one_l1(log):
    log.extend([(t, t) for t in range(0, 10, 2)])
    log.flush()
    log.extend([(t, t) for t in range(1, 10, 2)])
    log.flush()
    spans = [sp.copy_timestamps() for sp in log.views()]
    assert len(spans) == 2 and sorted(sum(spans, [])) == list(range(10))
    drain(log)
    spans = [sp.copy_timestamps() for sp in log.views()]
    assert sum(spans, []) == list(range(10))


def test_many_pages_ascending_after_compaction():
    log = manual(target_page_bytes=256)
    log.extend([(t, t) for t in range(1000)])
    drain(log)
    spans = list(log.views())
    assert len(spans) > 10
    flat = [t for sp in spans for t in sp.copy_timestamps()]
    assert flat == list(range(1000))
    assert all(spans[i].end_ts <= spans[i + 1].start_ts for i in range(len(spans) - 1))
    clipped = [t for sp in log.views(100, 200) for t in sp.copy_timestamps()]
    assert clipped == list(range(100, 200))
    del spans
    gc.collect()
    log.close()


def test_span_iter(flushed):
    it = flushed.views()
    assert isinstance(it, PageSpanIter) and iter(it) is it and not it.closed
    with pytest.raises(TypeError):
        len(it)
    s = next(it)
    with pytest.raises(StopIteration):
        next(it)
    assert it.closed
    assert len(s) == 10                       # spans outlive their iterator
    it2 = flushed.views()
    it2.close()
    it2.close()
    assert it2.closed and list(it2) == []
    with flushed.views() as it3:
        pass
    assert it3.closed and it3.__exit__(None, None, None) is False


def test_iterator_view_uses_its_snapshot(log):
    """Quirk 10 fixed: TimelogIter.view() reads the iterator's snapshot."""
    log.extend([(t, t) for t in range(10)])
    log.flush()
    it = log[2:5]
    next(it)
    log.cutoff(100)
    drain(log)
    assert list(log.views()) == []
    assert [sp.copy_timestamps() for sp in it.view()] == [[2, 3, 4]]
    assert [t for t, _ in it] == [3, 4]
    with pytest.raises(ValueError):
        it.view()                                 # closed after end observed
    it2 = log.all()
    it2.close()
    with pytest.raises(ValueError):
        it2.view()


def test_views_snapshot_consistency(log):
    log.extend([(t, t) for t in range(10)])
    log.flush()
    it = log.views()
    log.extend([(t, t) for t in range(10, 20)])
    log.flush()
    assert sum(len(sp) for sp in it) == 10


def test_iterator_view_after_log_close_is_refused(log):
    from timelog import TimelogError

    log.extend([(1, 1)])
    log.flush()
    it = log.all()
    next(it)                    # no row left: unpinned, but not closed yet
    log.close()
    with pytest.raises(TimelogError):
        it.view()


def test_compacted_pages_export_their_decoded_timestamps():
    # L1 segments keep timestamps packed: a span decodes its page once, into a
    # buffer it owns, and exports that with the same contract as an L0 span.
    log = manual()
    ts = [1_700_000_000_000_000_000 + k * 997 for k in range(5000)]
    log.extend([(t, k) for k, t in enumerate(ts)])
    drain(log)
    spans = list(log.views())
    assert spans
    flat = []
    for sp in spans:
        mv = memoryview(sp)
        assert mv.readonly and mv.format == "q" and len(mv) == len(sp)
        assert mv.tolist() == sp.copy_timestamps() == sp.timestamps.tolist()
        assert (sp.start_ts, sp.end_ts) == (mv[0], mv[-1])
        with pytest.raises(BufferError):
            sp.close()
        mv.release()
        flat.extend(sp.copy_timestamps())
    assert flat == ts
    for sp in spans:
        sp.close()
    log.close()
