"""Lifecycle (docs/api.md, section 5): close, reader pins, use after close, reopen, context manager."""

import gc

import pytest

from _util import TS_MAX, drain, manual
from timelog import Timelog, TimelogError


def test_close_is_idempotent_and_discards_everything():
    log = manual()
    log.extend([(t, t) for t in range(10)])
    log.flush()
    assert log.close() is None
    assert log.close() is None
    assert log.closed and repr(log) == "<Timelog closed>"
    log.reopen()
    assert list(log) == [] and len(log) == 0
    log.close()


def test_close_stops_the_background_worker():
    log = Timelog()
    log.extend([(t, t) for t in range(1000)])
    log.close()
    assert log.closed


USE_AFTER_CLOSE = [
    lambda l: l.append(1, "x"),
    lambda l: l.append("x"),
    lambda l: l.extend([(1, 1)]),
    lambda l: l.bulk_append(__import__("array").array("q", [1]), [1]),
    lambda l: l.__setitem__(1, "x"),
    lambda l: l[1],
    lambda l: l[1:2],
    lambda l: l.at(1),
    lambda l: iter(l),
    lambda l: 1 in l,
    lambda l: len(l),
    lambda l: bool(l),
    lambda l: l.all(),
    lambda l: l.range(1, 2),
    lambda l: l.since(1),
    lambda l: l.until(1),
    lambda l: l.equal(1),
    lambda l: l.point(1),
    lambda l: l.min_ts(),
    lambda l: l.max_ts(),
    lambda l: l.next_ts(1),
    lambda l: l.prev_ts(1),
    lambda l: l.delete(1),
    lambda l: l.delete(1, 2),
    lambda l: l.__delitem__(1),
    lambda l: l.__delitem__(slice(1, 2)),
    lambda l: l.cutoff(1),
    lambda l: l.delete_range(1, 2),
    lambda l: l.delete_before(1),
    lambda l: l.flush(),
    lambda l: l.compact(),
    lambda l: l.maint_step(),
    lambda l: l.start_maintenance(),
    lambda l: l.stop_maintenance(),
    lambda l: l.stats(),
    lambda l: l.validate(),
    lambda l: l.views(),
    lambda l: l.page_spans(1, 2),
    lambda l: l.to_dict(),
    lambda l: l.to_numpy(),
    lambda l: l.__enter__(),
]


@pytest.mark.parametrize("op", USE_AFTER_CLOSE)
def test_use_after_close_raises_timelog_error(op):
    pytest.importorskip("numpy")
    log = manual()
    log.close()
    with pytest.raises(TimelogError, match="closed"):
        op(log)


def test_reversed_works_open_and_fails_closed():
    log = manual()
    assert list(reversed(log)) == []
    log.close()
    with pytest.raises(TimelogError, match="closed"):
        reversed(log)


def _readers(log):
    """Factories of every kind of reader that pins the log."""
    return {
        "iter": lambda: log.all(),
        "slice": lambda: log[0:100],
        "span_iter": lambda: log.views(),
        "span": lambda: next(iter(log.views())),
    }


@pytest.mark.parametrize("kind", ["iter", "slice", "span_iter", "span"])
def test_close_refuses_while_pinned(kind):
    log = manual()
    log.extend([(t, t) for t in range(10)])
    log.flush()
    reader = _readers(log)[kind]()
    gc.collect()
    with pytest.raises(TimelogError, match="pinned"):
        log.close()
    assert not log.closed
    assert len(log) == 10            # still fully usable
    log[100] = "more"
    del reader
    gc.collect()
    log.close()
    assert log.closed


def test_objects_view_pins_through_its_span():
    log = manual()
    log.extend([(t, t) for t in range(10)])
    log.flush()
    span = next(iter(log.views()))
    ov = span.objects()
    del span
    gc.collect()
    with pytest.raises(TimelogError):
        log.close()
    assert ov[0] == 0
    del ov
    gc.collect()
    log.close()


def test_memoryview_export_pins_until_released():
    log = manual()
    log.extend([(t, t) for t in range(10)])
    log.flush()
    span = next(iter(log.views()))
    mv = memoryview(span)
    with pytest.raises(BufferError):
        span.close()
    del span
    gc.collect()
    with pytest.raises(TimelogError):
        log.close()
    mv.release()
    del mv
    gc.collect()
    log.close()


def test_iterator_unpins_on_close_exhaustion_and_last_row():
    log = manual()
    log.extend([(1, "a"), (2, "b")])
    it1 = log.all()
    it1.close()
    it2 = log.all()
    list(it2)
    it3 = log.all()
    it3.next_batch(5)
    it4 = log.all()
    next(it4)
    next(it4)                  # last row consumed, end not yet observed: unpinned (quirk 9 fixed)
    assert len(it4) == 0 and not it4.closed
    empty = log[50:60]         # nothing to read: never pins
    log.close()
    assert log.closed
    assert list(it4) == [] and list(empty) == []


def test_iterator_keeps_working_after_log_reference_dropped():
    log = manual()
    log.extend([(t, t) for t in range(5)])
    it = log.all()
    del log
    gc.collect()
    assert [t for t, _ in it] == [0, 1, 2, 3, 4]


def test_failed_next_batch_huge_does_not_pin():
    log = manual()
    log.extend([(t, t) for t in range(5)])
    it = log.all()
    assert len(it.next_batch(2**62)) == 5          # quirk 8 fixed: no MemoryError
    log.close()


def test_reopen_resets_options_and_counters():
    import warnings

    log = Timelog(time_unit="us", min_ts=10, maintenance="disabled", mostly_ordered_default=False,
                  memtable_max_bytes=1024, sealed_max_runs=1, busy_policy="silent")
    for i in range(300):
        log.append(10 + i, i)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        log.extend([(1.5, "x"), (20, "y")])
    assert log.busy_events > 0 and log.extend_skipped == 1
    with pytest.raises(TimelogError):
        log.reopen()
    with pytest.raises(TimelogError):
        log.configure()
    log.close()
    log.reopen()
    assert log.time_unit == "ms" and log.busy_policy == "raise" and log.maintenance_mode == "background"
    assert log.min_ts_floor == 10
    assert log.stats()["config"]["mostly_ordered_default"] is False
    assert log.busy_events == 0 and log.extend_skipped == 0
    with pytest.raises(ValueError):
        log.append(9, "below floor")
    log.close()
    log.configure(min_ts=None, mostly_ordered_default=True, maintenance="disabled")
    assert log.min_ts_floor is None and log.stats()["config"]["mostly_ordered_default"] is True
    log.close()
    with pytest.raises(TypeError):
        log.reopen(mostly_ordered_default=0)
    assert log.closed
    with pytest.raises(TypeError):
        log.reopen(nonsense=1)
    assert log.closed


def test_context_manager():
    with manual() as log:
        log[1] = "a"
    assert log.closed
    with pytest.raises(TimelogError):
        log.__enter__()


def test_context_manager_exit_with_pinned_reader_raises():
    log = manual()
    log[1] = "a"
    with pytest.raises(TimelogError):
        with log:
            it = log.all()
    assert not log.closed
    del it
    gc.collect()
    log.close()


def test_context_manager_body_error_propagates_with_note():
    log = manual()
    log[1] = "a"
    with pytest.raises(KeyError) as ei:
        with log:
            it = log.all()  # noqa: F841 - keeps the log pinned
            raise KeyError("body")
    assert any("close() failed" in n for n in getattr(ei.value, "__notes__", []))
    assert not log.closed
    del it
    gc.collect()
    log.close()


def test_exit_returns_false():
    log = manual()
    assert log.__exit__(None, None, None) is False


def test_close_after_background_compaction_releases_everything():
    import weakref

    class P:
        pass

    objs = [P() for _ in range(2000)]
    refs = [weakref.ref(o) for o in objs]
    log = Timelog(memtable_max_bytes=4096)
    log.extend(list(enumerate(objs)))
    log.flush()
    log.compact()
    del objs
    log.close()
    gc.collect()
    assert all(r() is None for r in refs)


def test_record_at_ts_max_survives_everything_but_close():
    log = manual()
    log[TS_MAX] = "top"
    del log[:]
    log.cutoff(TS_MAX)
    drain(log)
    assert list(log) == [(TS_MAX, "top")]
    log.close()
