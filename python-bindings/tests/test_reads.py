"""Reading and exports (docs/api.md, sections 7 and 8): slicing, named reads, TimelogIter, ordering, dunders, navigation, exports."""

import decimal
import fractions
import gc

import pytest

from _util import TS_MAX, TS_MIN, drain, manual, ts_of
from timelog import TimelogIter


@pytest.fixture
def ten(log):
    log.extend([(t, t) for t in range(0, 100, 10)])
    return log


# ----- slicing --------------------------------------------------------------------------


def test_slices(ten):
    log = ten
    assert ts_of(log[10:30]) == [10, 20]
    assert ts_of(log[30:]) == [30, 40, 50, 60, 70, 80, 90]
    assert ts_of(log[:20]) == [0, 10]
    assert len(log[:]) == 10
    assert list(log[30:10]) == []
    assert list(log[10:10]) == []
    assert ts_of(log[10:30:1]) == [10, 20]
    assert ts_of(log[-5:15]) == [0, 10]
    assert isinstance(log[1:2], TimelogIter)


def test_slice_includes_ts_max_only_when_open(log):
    log[TS_MAX] = "top"
    log[TS_MIN] = "bottom"
    assert ts_of(log[0:]) == [TS_MAX]
    assert ts_of(log[0:TS_MAX]) == []
    assert ts_of(log[:TS_MIN]) == []
    assert ts_of(log[TS_MIN:TS_MIN + 1]) == [TS_MIN]


@pytest.mark.parametrize("step", [2, -1, 0, True, 1.0, "1"])
def test_bad_slice_steps(ten, step):
    with pytest.raises(ValueError):
        ten[0:50:step]


@pytest.mark.parametrize("key,exc", [(slice(1.5, 20), TypeError), (slice(True, 2), TypeError),
                                     (slice(0, 2**63), OverflowError), (None, TypeError),
                                     ((1, 2), TypeError), ("1", TypeError), (1.0, TypeError),
                                     (True, TypeError), (2**63, OverflowError)])
def test_bad_keys(ten, key, exc):
    with pytest.raises(exc):
        ten[key]


def test_point_lookup(log):
    log[5] = "a"
    log[5] = "b"
    assert log[5] == ["a", "b"] and log.at(5) == ["a", "b"]
    assert log[6] == [] and isinstance(log[6], list)
    assert log[5] is not log[5]
    with pytest.raises(TypeError):
        log.at(True)
    with pytest.raises(TypeError):
        log.at(5.0)


# ----- named reads ----------------------------------------------------------------------


def test_named_reads(ten):
    log = ten
    assert ts_of(log.range(10, 30)) == [10, 20]
    assert list(log.range(30, 30)) == []
    with pytest.raises(ValueError):
        log.range(30, 10)
    assert ts_of(log.since(80)) == [80, 90]
    assert ts_of(log.until(20)) == [0, 10]
    assert ts_of(log.all()) == ts_of(iter(log)) == list(range(0, 100, 10))
    assert list(log.equal(20)) == list(log.point(20)) == [(20, 20)]


def test_equal_at_ts_max(log):
    log[TS_MAX] = "a"
    assert list(log.equal(TS_MAX)) == [(TS_MAX, "a")]
    assert repr(log.point(TS_MAX)) == f"<TimelogIter [{TS_MAX}..) remaining=1>"


@pytest.mark.parametrize("name,args", [("range", (1,)), ("range", (1, 2, 3)), ("point", ()),
                                       ("equal", ()), ("since", ()), ("until", ()),
                                       ("next_ts", ()), ("prev_ts", ()), ("all", (1,)),
                                       ("min_ts", (1,)), ("max_ts", (1,))])
def test_raw_method_arity(log, name, args):
    with pytest.raises(TypeError):
        getattr(log, name)(*args)


@pytest.mark.parametrize("name", ["point", "equal", "since", "until", "next_ts", "prev_ts"])
def test_raw_methods_are_positional_only_and_strict(log, name):
    with pytest.raises(TypeError):
        getattr(log, name)(ts=1)
    with pytest.raises(TypeError):
        getattr(log, name)(True)          # quirk 4 fixed: bool rejected everywhere
    with pytest.raises(TypeError):
        getattr(log, name)(1.5)
    with pytest.raises(OverflowError):
        getattr(log, name)(2**63)


def test_range_keywords_rejected(log):
    with pytest.raises(TypeError):
        log.range(t1=1, t2=2)
    with pytest.raises(TypeError):
        log.range(True, 2)


# ----- TimelogIter ------------------------------------------------------------------------


def test_iterator_protocol(log):
    log.extend([(t, str(t)) for t in range(5)])
    it = log[0:5]
    assert iter(it) is it and len(it) == 5 and bool(it)
    assert next(it) == (0, "0") and len(it) == 4
    assert it.next_batch(2) == [(1, "1"), (2, "2")] and len(it) == 2
    assert it.next_batch(0) == []
    with pytest.raises(ValueError):
        it.next_batch(-1)
    with pytest.raises(TypeError):
        it.next_batch(1.0)
    with pytest.raises(TypeError):
        it.next_batch("1")
    with pytest.raises(TypeError):
        it.next_batch()
    with pytest.raises(TypeError):
        it.next_batch(n=1)
    assert it.next_batch(10) == [(3, "3"), (4, "4")]
    assert it.closed and len(it) == 0 and not it and list(it) == []
    with pytest.raises(StopIteration):
        next(it)
    assert it.next_batch(3) == []


def test_next_batch_exact_does_not_close(log):
    log.extend([(1, 1), (2, 2)])
    it = log.all()
    assert it.next_batch(2) == [(1, 1), (2, 2)]
    assert not it.closed and len(it) == 0
    assert it.next_batch(1) == [] and it.closed


def test_iterator_close_and_context_manager(log):
    log[1] = "a"
    with log.all() as it:
        assert it.closed is False
    assert it.closed and list(it) == [] and it.next_batch(3) == []
    it.close()
    assert it.__exit__(None, None, None) is False
    it2 = log.all()
    assert list(it2) == [(1, "a")] and list(it2) == []
    with pytest.raises(AttributeError):
        it2.closed = False


def test_iterator_repr(log):
    log.extend([(t, t) for t in range(5)])
    assert repr(log[1:3]) == "<TimelogIter [1..3) remaining=2>"
    assert repr(log.since(3)) == "<TimelogIter [3..) remaining=2>"
    assert repr(log.all()) == f"<TimelogIter [{TS_MIN}..) remaining=5>"
    assert repr(log.until(2)) == f"<TimelogIter [{TS_MIN}..2) remaining=2>"
    assert repr(log.point(4)) == "<TimelogIter [4..5) remaining=1>"
    assert repr(log[8:2]) == "<TimelogIter [8..8) remaining=0>"
    it = log.all()
    it.close()
    assert repr(it) == "<TimelogIter closed>"


def test_snapshot_isolation(log):
    log.extend([(1, "a"), (2, "b")])
    it = log.all()
    log[3] = "c"
    del log[1]
    log.flush()
    drain(log)
    assert list(it) == [(1, "a"), (2, "b")]
    assert list(log) == [(2, "b"), (3, "c")]


def test_partially_consumed_iterator_keeps_snapshot(log):
    log.extend([(t, t) for t in range(100)])
    it = log.all()
    assert it.next_batch(10) == [(t, t) for t in range(10)]
    log.extend([(t, -t) for t in range(50, 150)])
    log.cutoff(60)
    drain(log)
    assert ts_of(it) == list(range(10, 100))


def test_reads_see_writes_immediately(log):
    log[1] = "a"
    assert log[1] == ["a"] and len(log) == 1 and 1 in log


def test_ordering_with_out_of_order_ingest_and_maintenance(log):
    for t in (50, 10, 40, 20, 30, 10):
        log[t] = t
    assert ts_of(log) == [10, 10, 20, 30, 40, 50]
    log.flush()
    log.extend([(25, 25), (5, 5)])
    assert ts_of(log) == [5, 10, 10, 20, 25, 30, 40, 50]
    drain(log)
    assert ts_of(log) == [5, 10, 10, 20, 25, 30, 40, 50]


# ----- dunders --------------------------------------------------------------------------


def test_contains(log):
    log[5] = "x"
    log[TS_MAX] = "y"
    assert 5 in log and 6 not in log and TS_MAX in log
    del log[5]
    assert 5 not in log
    with pytest.raises(TypeError):
        True in log
    with pytest.raises(TypeError):
        1.0 in log
    with pytest.raises(OverflowError):
        2**63 in log


def test_len_bool_repr(log):
    assert len(log) == 0 and not log and repr(log) == "<Timelog len~0 time_unit='ms'>"
    log.extend([(1, "a"), (5, "b"), (9, "c")])
    del log[5]
    assert len(log) == 2 and bool(log)
    assert len(log) == log.stats()["storage"]["records_estimate"]
    assert repr(log) == "<Timelog len~2 time_unit='ms' [1..9]>"


def test_repr_bounds_ignore_tombstones():
    """Quirk 7 fixed: tombstones do not widen the reported bounds."""
    log = manual(min_ts=0)
    log.extend([(10, "a"), (20, "b")])
    assert repr(log) == "<Timelog len~2 time_unit='ms' [10..20]>"
    log.close()
    log = manual()
    log.delete(100, 200)
    assert log.stats()["storage"]["min_ts"] is None
    assert repr(log) == "<Timelog len~0 time_unit='ms'>"
    log.close()


def test_reversed(log):
    log.extend([(3, "c"), (1, "a"), (3, "d"), (2, "b")])
    # Newest first; equal timestamps in reverse insertion order.
    assert list(reversed(log)) == [(3, "d"), (3, "c"), (2, "b"), (1, "a")]


# ----- navigation -----------------------------------------------------------------------


def test_navigation(log):
    assert (log.min_ts(), log.max_ts(), log.next_ts(0), log.prev_ts(0)) == (None,) * 4
    log.extend([(t, t) for t in (-20, 0, 10, 10, 30)])
    assert (log.min_ts(), log.max_ts()) == (-20, 30)
    assert (log.next_ts(10), log.next_ts(11), log.next_ts(30)) == (30, 30, None)
    assert (log.prev_ts(10), log.prev_ts(-20), log.prev_ts(31)) == (0, None, 30)
    assert log.next_ts(TS_MAX) is None and log.prev_ts(TS_MIN) is None
    del log[-20:1]
    assert log.min_ts() == 10 and log.prev_ts(10) is None
    del log[30]
    assert log.max_ts() == 10
    drain(log)
    assert (log.min_ts(), log.max_ts()) == (10, 10)


def test_navigation_extremes(log):
    log[TS_MIN] = "a"
    log[TS_MAX] = "b"
    assert log.min_ts() == TS_MIN and log.max_ts() == TS_MAX
    assert log.next_ts(TS_MIN) == TS_MAX and log.prev_ts(TS_MAX) == TS_MIN


# ----- to_dict ----------------------------------------------------------------------------


def test_to_dict(log):
    log.extend([(1, "a"), (2, "b"), (3, "c")])
    assert log.to_dict() == {1: "a", 2: "b", 3: "c"}
    assert log.to_dict(2, None) == {2: "b", 3: "c"}
    assert log.to_dict(None, 2) == {1: "a"}
    assert log.to_dict(3, 1) == {}
    log[2] = "b2"
    assert log.to_dict() == {1: "a", 2: "b2", 3: "c"}        # last in insertion order wins
    with pytest.raises(TypeError):
        log.to_dict(True)
    with pytest.raises(TypeError):
        log.to_dict(1.5, 3)
    with pytest.raises(OverflowError):
        log.to_dict(0, 2**63)
    with pytest.raises(TypeError):
        log.to_dict(1, 2, 3)


def test_to_dict_ts_max_and_snapshot(log):
    log[TS_MAX] = "top"
    assert log.to_dict(0) == {TS_MAX: "top"}
    assert log.to_dict(0, TS_MAX) == {}


def test_to_dict_large_crosses_export_chunks(log):
    log.extend([(t, t) for t in range(70_000)])
    d = log.to_dict()
    assert len(d) == 70_000 and d[69_999] == 69_999


# ----- to_numpy ---------------------------------------------------------------------------


def test_to_numpy_basics(log, np):
    log.extend([(1, 1.5), (2, 2), (2, 3), (3, True), (4, None)])
    ts, vals = log.to_numpy()
    assert ts.dtype == np.int64 and vals.dtype == np.float64
    for a in (ts, vals):
        assert a.ndim == 1 and a.flags.c_contiguous and a.flags.writeable
    assert ts.tolist() == [1, 2, 2, 3, 4]
    assert vals[:4].tolist() == [1.5, 2.0, 3.0, 1.0] and np.isnan(vals[4])
    ts[0] = 99                        # writeable, and a copy
    assert log.min_ts() == 1
    ts2, vals2 = log.to_numpy(2, 4, dtype=np.int64)
    assert ts2.tolist() == [2, 2, 3] and vals2.tolist() == [2, 3, 1] and vals2.dtype == np.int64
    e_ts, e_vals = log.to_numpy(4, 2)
    assert e_ts.shape == (0,) and e_vals.shape == (0,) and e_vals.dtype == np.float64


@pytest.mark.parametrize("dtype", ["bool", object, complex, "U3", "S3", "datetime64[s]"])
def test_to_numpy_rejects_non_numeric_dtypes(log, np, dtype):
    with pytest.raises(TypeError):
        log.to_numpy(dtype=dtype)


def test_to_numpy_dtype_is_keyword_only(log, np):
    with pytest.raises(TypeError):
        log.to_numpy(None, None, np.int64)


def test_to_numpy_conversions(log, np):
    vals = [True, "3.5", decimal.Decimal("2.25"), fractions.Fraction(1, 4), 2**60 + 1, np.float32(0.5),
            -7]
    log.extend(list(enumerate(vals)))
    _, f = log.to_numpy()
    assert f.tolist() == [1.0, 3.5, 2.25, 0.25, float(2**60 + 1), 0.5, -7.0]
    _, i = log.to_numpy(4, 7, dtype=np.int64)
    assert i.tolist() == [2**60 + 1, 0, -7]
    with pytest.raises(ValueError):
        log.to_numpy(dtype=np.int64)          # int("3.5") fails, as in numpy
    _, f32 = log.to_numpy(dtype=np.float32)
    assert f32.dtype == np.float32 and f32[1] == np.float32(3.5)
    _, u8 = log.to_numpy(0, 1, dtype=np.uint8)
    assert u8.tolist() == [1]


def test_to_numpy_integer_dtype_truncates_floats(log, np):
    log.extend([(1, 1.9), (2, -1.9), (3, 7)])
    _, v = log.to_numpy(dtype=np.int64)
    assert v.tolist() == [1, -1, 7]
    _, v = log.to_numpy(dtype=np.int32)
    assert v.tolist() == [1, -1, 7] and v.dtype == np.int32


def test_to_numpy_error_note_names_the_row(log, np):
    log.extend([(1, 1), (2, 2), (3, None), (4, 4)])
    with pytest.raises(TypeError) as ei:
        log.to_numpy(dtype=np.int64)
    assert "to_numpy(): raised at row 2 of 4" in ei.value.__notes__
    log.extend([(5, "not a number")])
    with pytest.raises(ValueError) as ei:
        log.to_numpy()
    assert "to_numpy(): raised at row 4 of 5" in ei.value.__notes__


def test_to_numpy_ts_max_only_when_open_ended(log, np):
    log[TS_MAX] = 1
    log[0] = 2
    assert log.to_numpy()[0].tolist() == [0, TS_MAX]
    assert log.to_numpy(0, TS_MAX)[0].tolist() == [0]
    assert log.to_numpy(None, None)[1].tolist() == [2.0, 1.0]


def test_to_numpy_bounds_are_strict(log, np):
    with pytest.raises(TypeError):
        log.to_numpy(True)
    with pytest.raises(TypeError):
        log.to_numpy(0, 1.5)


def test_to_numpy_big_and_payload_lists(log, np):
    log.extend([(t, [t]) for t in range(3)])
    with pytest.raises((TypeError, ValueError)):
        log.to_numpy()
    log2 = manual()
    log2.extend([(t, t * 0.5) for t in range(200_000)])
    ts, v = log2.to_numpy()
    assert len(ts) == 200_000 and v[-1] == 199_999 * 0.5
    del ts, v
    gc.collect()
    log2.close()


def test_to_numpy_without_numpy(monkeypatch, log):
    import builtins

    real = builtins.__import__

    def fake(name, *a, **k):
        if name == "numpy" or name.startswith("numpy."):
            raise ImportError("No module named 'numpy'")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ImportError, match="requires numpy"):
        log.to_numpy()
    assert log.to_dict() == {}


def test_exports_hold_a_snapshot(log, np):
    log.extend([(t, t) for t in range(10)])
    ts, _ = log.to_numpy()
    log.cutoff(5)
    assert len(ts) == 10 and len(log.to_numpy()[0]) == 5


# ----- reversed iteration ---------------------------------------------------------------


def test_reversed_slices(log):
    log.extend([(t, str(t)) for t in range(100)])
    log.extend([(5, "b"), (5, "c")])
    assert list(reversed(log[3:8])) == [(7, "7"), (6, "6"), (5, "c"), (5, "b"), (5, "5"),
                                       (4, "4"), (3, "3")]
    assert [t for t, _ in reversed(log[:])] == sorted((t for t, _ in log), reverse=True)
    assert list(reversed(log[50:10])) == []
    assert [t for t, _ in reversed(log.since(97))] == [99, 98, 97]
    log.flush()
    log.extend([(t, "new") for t in range(0, 100, 7)])
    assert [t for t, _ in reversed(log[:])] == sorted((t for t, _ in log), reverse=True)


def test_reversed_partially_consumed_and_twice(log):
    log.extend([(t, t) for t in range(200)])
    it = log[0:100]
    assert [next(it)[0] for _ in range(3)] == [0, 1, 2]
    r = reversed(it)
    assert it.closed and list(it) == []
    assert len(r) == 97
    assert [next(r)[0] for _ in range(2)] == [99, 98]
    rr = reversed(r)
    assert len(rr) == 95 and r.closed
    assert [t for t, _ in rr] == list(range(3, 98))


def test_reversed_keeps_the_snapshot_and_pin(log):
    log.extend([(t, t) for t in range(10)])
    r = reversed(log.all())
    log.cutoff(100)
    from timelog import TimelogError

    with pytest.raises(TimelogError):
        log.close()
    assert [t for t, _ in r] == list(range(9, -1, -1))
    assert r.closed
    assert repr(reversed(log.all())) == f"<TimelogIter [{TS_MIN}..) remaining=0>"


def test_reversed_log_itself_works(log):
    """reversed(log) works like reversed(log[:]) (the reference and its acceptance example
    e32 raise TypeError; docs/api.md, section 15)."""
    log.extend([(i, i) for i in range(10)])
    assert [t for t, _ in reversed(log)] == list(range(9, -1, -1))
    assert list(reversed(log)) == list(reversed(log[:]))
