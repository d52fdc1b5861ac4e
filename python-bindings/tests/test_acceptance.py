"""The acceptance examples of the timelog-lib 1.4.0 Python API, verbatim: they pass
against timelog-lib 1.4.0 and must pass here, except where this package deliberately
differs (docs/api.md, section 15)."""
# Acceptance examples for the timelog 1.4.0 Python API (run with pytest or plain python).
import gc
import time
import warnings

import numpy as np
import pytest

import timelog
from timelog import (Timelog, TimelogError, TimelogBusyError, TimelogIter,
                     PageSpan, PageSpanIter, PageSpanObjectsView)

TS_MIN, TS_MAX = -2**63, 2**63 - 1


def manual(**kw):
    """A log whose maintenance is driven by hand (deterministic tests)."""
    return Timelog(maintenance="disabled", **kw)


def test_e01_exception_hierarchy():
    assert issubclass(TimelogBusyError, TimelogError)
    assert TimelogError.__bases__ == (Exception,)
    assert isinstance(timelog.__version__, str)   # reference prints "1.4.0"


def test_e02_helper_types_not_constructible():
    for cls in (TimelogIter, PageSpan, PageSpanIter, PageSpanObjectsView):
        with pytest.raises(TypeError):
            cls()


def test_e03_constructor_defaults():
    log = Timelog()
    assert (log.time_unit, log.maintenance_mode, log.busy_policy) == ("ms", "background", "raise")
    assert log.min_ts_floor is None and log.closed is False
    assert log.stats()["config"]["mostly_ordered_default"] is True
    log.close()


def test_e04_constructor_enum_validation():
    with pytest.raises(ValueError):
        Timelog(time_unit="MS")
    with pytest.raises(TypeError):
        Timelog(time_unit=None)
    with pytest.raises(ValueError):
        Timelog(maintenance="manual")
    with pytest.raises(ValueError):
        Timelog(busy_policy="ignore")


def test_e05_constructor_rejects_positional_and_unknown_kwargs():
    with pytest.raises(TypeError):
        Timelog("ms")
    with pytest.raises(TypeError):
        Timelog(flush_every=10)


def test_e06_constructor_numeric_validation():
    with pytest.raises(ValueError):
        Timelog(memtable_max_bytes=-1)
    with pytest.raises(TypeError):
        Timelog(memtable_max_bytes=1.5)
    with pytest.raises(ValueError):
        Timelog(sealed_wait_ms=2**32)
    with pytest.raises(ValueError):
        Timelog(delete_debt_threshold=1.01)
    with pytest.raises(ValueError):
        Timelog(delete_debt_threshold=float("nan"))
    with pytest.raises(ValueError):
        Timelog(window_size=-1)
    with pytest.raises(ValueError):
        Timelog(target_page_bytes=100)      # below the engine minimum (256)
    Timelog(target_page_bytes=256).close()


def test_e07_constructor_dict_options():
    with pytest.raises(ValueError):
        Timelog(adaptive={"bogus": 1})
    with pytest.raises(TypeError):
        Timelog(adaptive=[("target_records", 1)])
    with pytest.raises(ValueError):
        Timelog(compaction={"bogus": 1})
    with pytest.raises(ValueError):
        Timelog(compaction={"max_inputs": 4}, max_compaction_inputs=4)
    with pytest.raises(ValueError):
        Timelog(adaptive={"alpha": 1.5})
    Timelog(adaptive={"target_records": 1000, "alpha": 0.3},
            compaction={"target_bytes": 1 << 20, "max_inputs": 4}).close()


def test_e08_mostly_ordered_default_must_be_bool():
    with pytest.raises(TypeError):
        Timelog(mostly_ordered_default=1)


def test_e09_presets():
    a, b, c = Timelog.for_streaming(), Timelog.for_bulk_ingest(), Timelog.for_low_latency()
    assert (a.maintenance_mode, a.busy_policy) == ("background", "flush")
    assert (b.maintenance_mode, b.busy_policy) == ("disabled", "flush")
    assert (c.maintenance_mode, c.busy_policy) == ("background", "raise")
    d = Timelog.for_bulk_ingest(busy_policy="silent", time_unit="us")
    assert (d.busy_policy, d.time_unit) == ("silent", "us")
    for x in (a, b, c, d):
        x.close()


def test_e10_use_after_close():
    log = Timelog()
    log[1] = "a"
    log.close()
    log.close()                               # idempotent
    assert log.closed and repr(log) == "<Timelog closed>"
    assert log.time_unit == "ms"              # plain properties stay readable
    for op in (lambda: log.append(1, "x"), lambda: log[1], lambda: len(log),
               lambda: list(log), lambda: log.flush(), lambda: log.stats(),
               lambda: log.delete(1), lambda: 1 in log):
        with pytest.raises(TimelogError):
            op()


def test_e11_reopen_and_configure():
    log = Timelog(time_unit="us", min_ts=10)
    log[20] = "x"
    with pytest.raises(TimelogError):
        log.reopen()                          # must be closed first
    log.close()
    log.reopen(busy_policy="silent")
    assert list(log) == []                    # nothing survives close
    assert log.time_unit == "ms"              # engine options fall back to defaults
    assert log.min_ts_floor == 10             # floor is carried over
    log.close()
    log.configure(min_ts=None)
    assert log.min_ts_floor is None
    log.close()


def test_e12_context_manager():
    with Timelog() as log:
        log[1] = "a"
        assert log.__enter__() is log
    assert log.closed


def test_e13_append_forms():
    log = manual()
    log.append(10, "a")                        # (ts, obj)
    log.append("b", ts=20)                     # (obj, ts=)
    log.append(5, None)                        # None payload is fine
    assert list(log) == [(5, None), (10, "a"), (20, "b")]
    log.close()


def test_e14_auto_timestamp_uses_wall_clock_in_time_unit():
    log = Timelog(time_unit="s")
    before = time.time_ns() // 10**9
    log.append("now")
    after = time.time_ns() // 10**9
    assert before <= log.min_ts() <= after
    log.close()


def test_e15_timestamp_type_rules():
    log = manual()
    with pytest.raises(TypeError):
        log.append(True, "x")
    with pytest.raises(TypeError):
        log.append(1.0, "x")
    with pytest.raises(TypeError):
        log["5"] = "x"
    with pytest.raises(OverflowError):
        log.append(2**63, "x")
    log.append(TS_MAX, "max")
    log.append(np.int64(TS_MIN), "min")
    assert log.min_ts() == TS_MIN and log.max_ts() == TS_MAX
    log.close()


def test_e16_setitem_appends_never_replaces():
    log = manual()
    log[7] = "a"
    log[7] = "b"
    assert sorted(log[7]) == ["a", "b"] and len(log) == 2
    log.close()


def test_e17_extend_forms():
    log = manual()
    log.extend([(3, "c"), (1, "a")])
    log.extend([4, 2], ["d", "b"])
    log.extend((t, str(t)) for t in (6, 5))
    assert [t for t, _ in log] == [1, 2, 3, 4, 5, 6]
    log.close()


def test_e18_extend_skips_bad_timestamps_with_warning():
    log = manual()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        log.extend([(1, "a"), ("x", "b"), (True, "c"), (2.5, "d"), (2**64, "e"), (2, "f")])
    assert [type(x.message) for x in w] == [RuntimeWarning]
    assert list(log) == [(1, "a"), (2, "f")]
    assert log.extend_skipped == 4
    assert log.stats()["operational"]["extend_skipped"] == 4
    log.close()


def test_e19_extend_strict_mode_is_all_or_nothing():
    log = manual()
    with pytest.raises(TypeError):
        log.extend([(1, "a"), ("x", "b")], insert_on_error=False)
    with pytest.raises(OverflowError):
        log.extend([(1, "a"), (2**63, "b")], insert_on_error=False)
    with pytest.raises(TypeError):
        log.extend(((i, i) for i in range(3)), insert_on_error=False)
    assert len(log) == 0 and log.extend_skipped == 0
    log.close()


def test_e20_extend_structural_errors():
    log = manual()
    with pytest.raises(ValueError):
        log.extend([(1, "a"), 5])                  # not a pair
    with pytest.raises(ValueError):
        log.extend([(1, "a", "extra")])
    with pytest.raises(ValueError):
        log.extend([1, 2, 3], ["a", "b"])          # length mismatch
    with pytest.raises(TypeError):
        log.extend(5)                              # not iterable
    assert len(log) == 0
    log.close()


def test_e21_min_ts_floor():
    log = manual(min_ts=100)
    with pytest.raises(ValueError):
        log.append(99, "x")
    with pytest.raises(ValueError):
        log.extend([(150, "ok"), (50, "too old")])
    log[100] = "edge"
    assert list(log) == [(100, "edge")] and log.min_ts_floor == 100
    assert log.stats()["config"]["min_ts"] == 100
    log.close()


def test_e22_busy_raise_means_accepted():
    log = manual(memtable_max_bytes=1024, sealed_max_runs=1, busy_policy="raise")
    raised = 0
    for i in range(300):
        try:
            log.append(i, i)
        except TimelogBusyError:
            raised += 1
    assert raised > 0
    assert len(log) == 300 and [t for t, _ in log] == list(range(300))
    assert log.busy_events == raised
    log.close()


def test_e23_busy_silent_and_flush():
    for policy in ("silent", "flush"):
        log = manual(memtable_max_bytes=1024, sealed_max_runs=1, busy_policy=policy)
        for i in range(300):
            log.append(i, i)                   # never raises
        assert len(log) == 300 and log.busy_events > 0
        log.close()


def test_e24_bulk_append():
    log = manual()
    log.bulk_append(np.array([3, 1, 2], dtype=np.int64), ["c", "a", "b"])
    assert list(log) == [(1, "a"), (2, "b"), (3, "c")]
    with pytest.raises(TypeError):
        log.bulk_append([4, 5], ["d", "e"])               # not a buffer
    with pytest.raises(ValueError):
        log.bulk_append(np.array([4, 5], dtype=np.int32), ["d", "e"])
    with pytest.raises(ValueError):
        log.bulk_append(np.array([4, 5], dtype=np.int64), ["d"])
    with pytest.raises(TypeError):
        log.bulk_append(np.array([4, 5], dtype=np.int64), iter(["d", "e"]))
    assert len(log) == 3
    log.close()


def test_e25_slices_are_half_open():
    log = manual()
    log.extend([(t, t) for t in range(0, 60, 10)])
    assert [t for t, _ in log[10:30]] == [10, 20]
    assert [t for t, _ in log[30:]] == [30, 40, 50]
    assert [t for t, _ in log[:20]] == [0, 10]
    assert len(log[:]) == 6
    assert list(log[30:10]) == []                       # reversed slice -> empty
    assert list(log[10:30:1]) == [(10, 10), (20, 20)]
    with pytest.raises(ValueError):
        log[0:50:2]
    with pytest.raises(TypeError):
        log[1.5:20]
    log.close()


def test_e26_exact_lookup():
    log = manual()
    log[5] = "a"
    log[5] = "b"
    assert sorted(log[5]) == ["a", "b"] and log[6] == []
    assert sorted(log.at(5)) == ["a", "b"]
    assert sorted(o for _, o in log.point(5)) == ["a", "b"]
    assert sorted(o for _, o in log.equal(5)) == ["a", "b"]
    with pytest.raises(TypeError):
        log[True]
    log.close()


def test_e27_named_range_methods():
    log = manual()
    log.extend([(t, t) for t in range(5)])
    assert [t for t, _ in log.range(1, 3)] == [1, 2]
    assert list(log.range(3, 3)) == []
    with pytest.raises(ValueError):
        log.range(3, 1)                               # unlike slicing
    assert [t for t, _ in log.since(3)] == [3, 4]
    assert [t for t, _ in log.until(2)] == [0, 1]
    assert [t for t, _ in log.all()] == [0, 1, 2, 3, 4]
    log.close()


def test_e28_iterator_protocol():
    log = manual()
    log.extend([(t, str(t)) for t in range(5)])
    it = log[0:5]
    assert isinstance(it, TimelogIter) and iter(it) is it and len(it) == 5
    assert next(it) == (0, "0") and len(it) == 4
    assert it.next_batch(2) == [(1, "1"), (2, "2")] and len(it) == 2
    assert it.next_batch(0) == []
    with pytest.raises(ValueError):
        it.next_batch(-1)
    assert it.next_batch(10) == [(3, "3"), (4, "4")]
    assert it.closed and len(it) == 0 and list(it) == []
    with pytest.raises(StopIteration):
        next(it)
    log.close()


def test_e29_iterator_close_and_context_manager():
    log = manual()
    log[1] = "a"
    with log.all() as it:
        assert it.closed is False
    assert it.closed and list(it) == [] and it.next_batch(3) == []
    it2 = log.all()
    assert list(it2) == [(1, "a")] and list(it2) == []   # single use
    log.close()


def test_e30_ascending_order_with_out_of_order_ingest():
    log = manual()
    for t in (50, 10, 40, 20, 30, 10):
        log[t] = t
    assert [t for t, _ in log] == [10, 10, 20, 30, 40, 50]
    log.flush()
    assert [t for t, _ in log] == [10, 10, 20, 30, 40, 50]
    log.close()


def test_e31_snapshot_isolation():
    log = manual()
    log.extend([(1, "a"), (2, "b")])
    it = log.all()
    log[3] = "c"
    del log[1]
    log.flush()
    assert list(it) == [(1, "a"), (2, "b")]         # old snapshot
    assert list(log) == [(2, "b"), (3, "c")]        # new snapshot
    log.close()


def test_e32_contains_and_reversed():
    log = manual()
    log[5] = "x"
    assert 5 in log and 6 not in log
    with pytest.raises(TypeError):
        True in log
    # Deliberate difference from example e32: reversed(log) works (the reference raises
    # TypeError; docs/api.md, section 15).
    assert list(reversed(log)) == [(5, "x")]
    log.close()


def test_e33_len_repr_bool():
    log = manual()
    assert len(log) == 0 and not log and repr(log) == "<Timelog len~0 time_unit='ms'>"
    log.extend([(1, "a"), (5, "b"), (9, "c")])
    del log[5]
    assert len(log) == 2 and bool(log)
    assert repr(log) == "<Timelog len~2 time_unit='ms' [1..9]>"
    log.close()


def test_e34_navigation():
    log = manual()
    assert (log.min_ts(), log.max_ts(), log.next_ts(0), log.prev_ts(0)) == (None,) * 4
    log.extend([(t, t) for t in (-20, 0, 10, 10, 30)])
    assert (log.min_ts(), log.max_ts()) == (-20, 30)
    assert (log.next_ts(10), log.next_ts(11), log.next_ts(30)) == (30, 30, None)
    assert (log.prev_ts(10), log.prev_ts(-20)) == (0, None)
    assert log.next_ts(TS_MAX) is None and log.prev_ts(TS_MIN) is None
    del log[-20:1]
    assert log.min_ts() == 10                        # navigation is tombstone-aware
    log.close()


def test_e35_to_numpy():
    log = manual()
    log.extend([(1, 1.5), (2, 2), (2, 3), (3, True), (4, None)])
    ts, vals = log.to_numpy()
    assert ts.dtype == np.int64 and vals.dtype == np.float64
    assert ts.tolist() == [1, 2, 2, 3, 4]
    assert vals[:4].tolist() == [1.5, 2.0, 3.0, 1.0] and np.isnan(vals[4])
    ts2, vals2 = log.to_numpy(2, 4, dtype=np.int64)
    assert ts2.tolist() == [2, 2, 3] and vals2.tolist() == [2, 3, 1] and vals2.dtype == np.int64
    e_ts, e_vals = log.to_numpy(4, 2)
    assert e_ts.shape == (0,) and e_vals.shape == (0,)
    with pytest.raises(TypeError):
        log.to_numpy(dtype=bool)
    with pytest.raises(TypeError):
        log.to_numpy(dtype=np.int64)                  # None cannot become an integer
    log.close()


def test_e36_to_dict():
    log = manual()
    log.extend([(1, "a"), (2, "b"), (3, "c")])
    assert log.to_dict() == {1: "a", 2: "b", 3: "c"}
    assert log.to_dict(2, None) == {2: "b", 3: "c"}
    assert log.to_dict(None, 2) == {1: "a"}
    assert log.to_dict(3, 1) == {}
    log[2] = "b2"
    assert set(log.to_dict()) == {1, 2, 3}            # duplicates collapse to one key
    log.close()


def test_e37_views_need_flush_and_expose_int64_memoryviews():
    log = manual()
    log.extend([(t, "v%d" % t) for t in range(10)])
    assert list(log.views()) == []                    # memtable is not visible
    log.flush()
    spans = list(log.views())
    assert len(spans) == 1
    s = spans[0]
    assert isinstance(s, PageSpan) and len(s) == 10
    assert (s.start_ts, s.end_ts, s.last_ts) == (0, 9, 9)
    mv = s.timestamps
    assert (mv.format, mv.itemsize, mv.readonly) == ("q", 8, True)
    assert mv.tolist() == list(range(10)) == s.copy_timestamps()
    assert np.asarray(s).tolist() == list(range(10))
    ov = s.objects()
    assert len(ov) == 10 and ov[0] == "v0" and ov[-1] == "v9" and ov.copy()[3] == "v3"
    with pytest.raises(IndexError):
        ov[10]
    with pytest.raises(BufferError):
        s.close()                                     # mv still exported
    mv.release()
    s.close()
    assert s.closed
    with pytest.raises(ValueError):
        s.timestamps
    with pytest.raises(ValueError):
        len(ov)
    del spans, s, ov
    gc.collect()
    log.close()


def test_e38_views_argument_rules():
    log = manual()
    log.extend([(t, t) for t in range(10)])
    log.flush()
    with pytest.raises(ValueError):
        log.views(5)                                  # both bounds or neither
    with pytest.raises(ValueError):
        log.views(kind="page")
    with pytest.raises(ValueError):
        log.views(8, 2)
    clipped = [sp.copy_timestamps() for sp in log.views(3, 6)]
    assert clipped == [[3, 4, 5]]
    gc.collect()
    log.close()


def test_e39_views_are_physical_not_tombstone_filtered():
    log = manual()
    log.extend([(t, t) for t in range(10)])
    log.flush()
    del log[0:5]
    assert len(log) == 5
    assert sum(len(sp) for sp in log.views()) == 10
    gc.collect()
    log.close()


def test_e40_stats_shape():
    log = manual()
    s = log.stats()
    assert set(s) == {"storage", "memtable", "operational", "compaction_selection", "adaptive", "config"}
    assert set(s["storage"]) == {"segments_l0", "segments_l1", "pages_total", "records_estimate",
                                 "min_ts", "max_ts", "tombstone_count"}
    assert set(s["memtable"]) == {"active_records", "ooo_records", "sealed_runs"}
    assert set(s["operational"]) == {"seals_total", "ooo_budget_hits", "backpressure_waits",
                                     "flushes_total", "compactions_total", "compaction_retries",
                                     "compaction_publish_ebusy", "busy_events", "extend_skipped"}
    assert set(s["compaction_selection"]) == {"select_calls", "select_l0_inputs",
                                              "select_l1_inputs", "select_no_work"}
    assert set(s["adaptive"]) == {"window", "ewma_density", "flush_count", "failures"}
    assert s["config"] == {"time_unit": "ms", "maintenance": "disabled", "busy_policy": "raise",
                           "min_ts": None, "mostly_ordered_default": True}
    assert s["storage"]["min_ts"] is None and s["storage"]["max_ts"] is None
    log.close()


def test_e41_delete_forms():
    log = manual()
    log.extend([(t, t) for t in range(10)])
    log.delete(0)
    log.delete(2, 4)
    del log[5]
    del log[7:9]
    assert [t for t, _ in log] == [1, 4, 6, 9]
    log.cutoff(5)
    assert [t for t, _ in log] == [6, 9]
    log.delete_range(9, 10)
    log.delete_before(7)
    assert list(log) == []
    log.close()


def test_e42_delete_bounds_rules():
    log = manual()
    log.extend([(t, t) for t in range(10)])
    with pytest.raises(ValueError):
        log.delete(5, 3)
    with pytest.raises(ValueError):
        del log[5:3]                                   # unlike log[5:3] reads
    with pytest.raises(ValueError):
        del log[0:10:2]
    log.delete(5, 5)                                   # empty range is a no-op
    del log[:2]
    del log[8:]
    assert [t for t, _ in log] == [2, 3, 4, 5, 6, 7]
    log.close()


def test_e43_point_delete_at_ts_max():
    log = manual()
    log[TS_MAX] = "top"
    log[0] = "zero"
    with pytest.raises(ValueError):
        log.delete(TS_MAX)
    with pytest.raises(ValueError):
        del log[TS_MAX]
    del log[:]                                         # covers [TS_MIN, TS_MAX)
    assert list(log) == [(TS_MAX, "top")]
    log.close()


def test_e44_sequenced_tombstones():
    log = Timelog()
    log[10] = "A"
    del log[5:15]
    log[10] = "B"
    assert log[10] == ["B"]
    assert list(log[0:20]) == [(10, "B")]
    log.cutoff(1000)
    log[50] = "written after cutoff"
    assert list(log) == [(50, "written after cutoff")]
    log.close()


def test_e45_tombstones_survive_flush_and_compaction():
    log = manual()
    log[10] = "A"
    log.flush()
    del log[5:15]
    log.flush()
    log[10] = "B"
    log.compact()
    while log.maint_step():
        pass
    assert list(log) == [(10, "B")]
    log.close()


def test_e46_deletes_do_not_affect_open_iterators():
    log = manual()
    log.extend([(t, t) for t in range(5)])
    it = log.all()
    assert next(it) == (0, 0)
    log.cutoff(100)
    assert [t for t, _ in it] == [1, 2, 3, 4]
    assert list(log) == []
    log.close()


def test_e47_manual_maintenance():
    log = manual()
    assert log.maint_step() is False
    log.extend([(t, t) for t in range(10)])
    assert log.maint_step() is False                 # active memtable is not flushed by maint_step
    log.flush()
    st = log.stats()
    assert st["storage"]["segments_l0"] == 1 and st["memtable"]["active_records"] == 0
    log.compact()
    assert log.maint_step() is True
    assert log.maint_step() is False
    st = log.stats()["storage"]
    assert (st["segments_l0"], st["segments_l1"]) == (0, 1)
    log.close()


def test_e48_maintenance_mode_errors():
    m = manual()
    with pytest.raises(TimelogError):
        m.start_maintenance()
    m.stop_maintenance()                              # harmless no-op
    m.close()
    b = Timelog(maintenance="background")
    with pytest.raises(TimelogError):
        b.maint_step()
    b.start_maintenance()                             # already running: no-op
    b.stop_maintenance()
    b.stop_maintenance()
    assert b.maintenance_mode == "background"
    b.flush()                                         # synchronous flush still works
    b.close()


def test_e49_close_refuses_while_readers_pinned():
    log = Timelog()
    log[1] = "a"
    it = log.all()
    with pytest.raises(TimelogError):
        log.close()
    assert log.closed is False and next(it) == (1, "a")
    it.close()
    log.close()
    assert log.closed


def test_e50_payload_identity_and_release():
    import weakref

    class Payload:
        pass

    p = Payload()
    ref = weakref.ref(p)
    log = Timelog()
    log[1] = p
    assert log[1][0] is p and next(iter(log.all()))[1] is p
    del p
    gc.collect()
    assert ref() is not None                           # the log keeps it alive
    log.close()
    assert ref() is None                               # close releases it


def test_e51_raw_methods_argument_style():
    log = manual()
    with pytest.raises(TypeError):
        log.range(1)                                   # exactly two positionals
    with pytest.raises(TypeError):
        log.range(t1=1, t2=2)                          # no keywords
    with pytest.raises(TypeError):
        log.point()
    with pytest.raises(TypeError):
        log.flush(1)
    log.close()


if __name__ == "__main__":
    import inspect, sys
    tests = [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_e")]
    for name, fn in tests:
        fn()
    print(f"{len(tests)} examples passed")
