"""Writing (docs/api.md, section 6): append, __setitem__, extend, bulk_append, the floor, busy policies."""

import array
import datetime
import time
import warnings

import pytest

from _util import TS_MAX, TS_MIN, manual, ts_of
from timelog import Timelog, TimelogBusyError


class Idx:
    def __init__(self, v):
        self.v = v

    def __index__(self):
        return self.v


# ----- append ---------------------------------------------------------------------------


def test_append_forms(log):
    log.append(10, "a")
    log.append("b", ts=20)
    log.append(30, None)
    log.append(obj_or_ts=40, obj_or_none="d")
    log.append(50, obj_or_none=None)          # explicit None counts as the payload
    assert list(log) == [(10, "a"), (20, "b"), (30, None), (40, "d"), (50, None)]


def test_append_one_argument_is_always_the_payload(log):
    before = time.time_ns() // 10**6
    log.append(5)
    log.append(7, ts=None)
    after = time.time_ns() // 10**6
    rows = list(log)
    assert [o for _, o in rows] == [5, 7]
    assert all(before <= t <= after for t, _ in rows)


@pytest.mark.parametrize("unit,div", [("s", 10**9), ("ms", 10**6), ("us", 10**3), ("ns", 1)])
def test_auto_timestamp_units(unit, div):
    log = manual(time_unit=unit)
    before = time.time_ns() // div
    log.append("x")
    after = time.time_ns() // div
    assert before <= log.min_ts() <= after
    log.close()


def test_append_argument_errors(log):
    with pytest.raises(TypeError):
        log.append()
    with pytest.raises(TypeError):
        log.append(ts=5)
    with pytest.raises(TypeError):
        log.append(obj_or_none="x")
    with pytest.raises(TypeError):
        log.append(1, 2, 3)
    with pytest.raises(TypeError):
        log.append(1, "x", obj_or_ts=2)
    with pytest.raises(TypeError):
        log.append(1, "x", bogus=2)
    with pytest.raises(TypeError):
        log.append("a", "b")                 # two positionals: the first is the timestamp
    with pytest.raises(TypeError):
        log.append(5, "x", ts=6)             # quirk 3 fixed: ts= with two positionals
    assert len(log) == 0


@pytest.mark.parametrize(
    "bad,exc",
    [
        (True, TypeError),
        (False, TypeError),
        (1.0, TypeError),
        (float("nan"), TypeError),
        ("5", TypeError),
        (None, TypeError),
        (b"5", TypeError),
        (datetime.datetime(2020, 1, 1), TypeError),
        (datetime.date(2020, 1, 1), TypeError),
        (2**63, OverflowError),
        (-(2**63) - 1, OverflowError),
        (2**100, OverflowError),
    ],
)
def test_timestamp_type_rules_on_every_insert_path(log, bad, exc):
    with pytest.raises(exc):
        log.append(bad, "x")
    if bad is not None:                     # append(obj, ts=None) means "now"
        with pytest.raises(exc):
            log.append("x", ts=bad)
    with pytest.raises(exc):
        log[bad] = "x"
    with pytest.raises(exc):
        log.extend([(bad, "x")], insert_on_error=False)
    assert len(log) == 0


def test_float_and_datetime_messages(log):
    with pytest.raises(TypeError, match="float"):
        log.append(1.5, "x")
    with pytest.raises(TypeError, match="timestamp"):
        log.append(datetime.datetime(2020, 1, 1), "x")


def test_index_likes_are_timestamps(log, np):
    log.append(Idx(3), "a")
    log.append(np.int64(4), "b")
    log.append(np.uint8(5), "c")
    log[Idx(6)] = "d"
    with pytest.raises(TypeError):
        log.append(np.bool_(True), "x")
    with pytest.raises(TypeError):
        log.append(np.float64(1.0), "x")
    assert ts_of(log) == [3, 4, 5, 6]


def test_extreme_timestamps(log):
    log.append(TS_MAX, "max")
    log.append(TS_MIN, "min")
    assert list(log) == [(TS_MIN, "min"), (TS_MAX, "max")]


def test_setitem_never_replaces(log):
    log[7] = "a"
    log[7] = "b"
    assert log[7] == ["a", "b"]
    with pytest.raises(TypeError):
        log[1:2] = "x"


# ----- extend ---------------------------------------------------------------------------


def test_extend_input_forms(log):
    log.extend([(3, "c"), (1, "a")])
    log.extend([4, 2], ["d", "b"])
    log.extend((t, str(t)) for t in (6, 5))
    log.extend({7: "g", 8: "h"}.items())
    log.extend(zip([9], ["i"]))
    log.extend(iter([10, 11]), iter(["j", "k"]))
    log.extend([[12, "l"]])
    log.extend([])
    log.extend([], [])
    assert ts_of(log) == list(range(1, 13))


def test_extend_string_pairs_unpack(log):
    with pytest.raises(TypeError):
        log.extend(["ab"], insert_on_error=False)      # "a" is not a timestamp


def test_extend_mostly_ordered_is_ignored(log):
    log.extend([(2, "b"), (1, "a")], mostly_ordered="anything")
    log.extend([3], ["c"], mostly_ordered=False)
    assert ts_of(log) == [1, 2, 3]


def test_extend_too_many_positionals(log):
    with pytest.raises(TypeError):
        log.extend([1], ["a"], True)


def test_extend_lenient_skips_and_warns(log):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        log.extend([(1, "a"), ("x", "b"), (True, "c"), (2.5, "d"), (2**64, "e"), (2, "f")])
    assert [type(x.message) for x in w] == [RuntimeWarning]
    assert "4" in str(w[0].message) and "insert_on_error=False" in str(w[0].message)
    assert w[0].filename == __file__                 # attributed to the caller
    assert list(log) == [(1, "a"), (2, "f")]
    assert log.extend_skipped == 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        log.extend([3, "bad"], ["c", "d"])
    assert log.extend_skipped == 5
    assert log.stats()["operational"]["extend_skipped"] == 5


def test_extend_warning_can_be_an_error(log):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeWarning):
            log.extend([(1, "a"), ("x", "b")])
    # The valid records were stored before the warning was raised.
    assert list(log) == [(1, "a")]


def test_extend_structural_errors_insert_nothing(log):
    with pytest.raises(ValueError) as ei:
        log.extend([(1, "a"), 5])
    assert isinstance(ei.value.__cause__, TypeError)
    with pytest.raises(ValueError):
        log.extend([(1, "a", "extra")])
    with pytest.raises(ValueError):
        log.extend([(1,)])
    with pytest.raises(ValueError):
        log.extend({1: "a"})                         # a dict iterates keys
    with pytest.raises(ValueError):
        log.extend([1, 2, 3], ["a", "b"])
    with pytest.raises(ValueError):
        log.extend(iter([1, 2, 3]), iter(["a", "b"]))   # mismatch found while streaming
    with pytest.raises(TypeError):
        log.extend(5)
    with pytest.raises(TypeError):
        log.extend([1], 5)
    assert len(log) == 0 and log.extend_skipped == 0


def test_extend_lenient_is_all_or_nothing(log):
    """Quirk 2 fixed: a failure late in the input leaves nothing inserted."""

    def gen():
        for i in range(5000):
            yield (i, i)
        raise KeyError("iterator failed")

    with pytest.raises(KeyError):
        log.extend(gen())
    good = [(i, i) for i in range(5000)]
    with pytest.raises(ValueError):
        log.extend(good + [5])
    floor_log = manual(min_ts=100)
    with pytest.raises(ValueError):
        floor_log.extend([(i, i) for i in range(100, 5000)] + [(1, "old")])
    assert len(floor_log) == 0
    floor_log.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError):
            log.extend(good + [("skip", 1), 7])
    assert len(log) == 0 and log.extend_skipped == 0


def test_extend_strict_mode(log):
    with pytest.raises(TypeError):
        log.extend([(1, "a"), ("x", "b")], insert_on_error=False)
    with pytest.raises(OverflowError):
        log.extend([(1, "a"), (2**63, "b")], insert_on_error=False)
    with pytest.raises(TypeError):
        log.extend(((i, i) for i in range(3)), insert_on_error=False)
    with pytest.raises(TypeError):
        log.extend(iter([1]), ["a"], insert_on_error=False)
    with pytest.raises(TypeError):
        log.extend([1], iter(["a"]), insert_on_error=False)
    with pytest.raises(ValueError):
        log.extend([1, 2], ["a"], insert_on_error=False)
    with pytest.raises(ValueError):
        log.extend([(1, "a"), 7], insert_on_error=False)
    assert len(log) == 0 and log.extend_skipped == 0
    log.extend([(2, "b"), (1, "a")], insert_on_error=0)
    log.extend((3, 4), ("c", "d"), insert_on_error=False)
    assert ts_of(log) == [1, 2, 3, 4]


def test_extend_is_one_atomic_batch_for_readers(log):
    it = log.all()
    log.extend([(i, i) for i in range(3000)])
    assert list(it) == []
    assert len(log) == 3000


def test_payloads_may_be_anything(log):
    payloads = [None, 0, "", [], {}, object(), log, Exception("e")]
    log.extend(list(enumerate(payloads)))
    assert all(a is b for (_, a), b in zip(log, payloads))


def test_equal_timestamps_keep_insertion_order(log):
    log.extend([(5, "a"), (1, "x"), (5, "b")])
    log.append(5, "c")
    log.extend([(5, "d"), (5, "e")] * 20)
    log.append(3, "y")
    log.append(5, "f")
    expect = ["a", "b", "c"] + ["d", "e"] * 20 + ["f"]
    assert log[5] == expect
    log.flush()
    assert log[5] == expect
    log.compact()
    while log.maint_step():
        pass
    assert log[5] == expect
    assert [o for t, o in log if t == 5] == expect


# ----- bulk_append ----------------------------------------------------------------------


def test_bulk_append_accepted_buffers(log, np):
    log.bulk_append(np.array([3, 1, 2], dtype=np.int64), ["c", "a", "b"])
    log.bulk_append(array.array("q", [4]), ("d",))
    log.bulk_append(array.array("l", [5]), ["e"])
    log.bulk_append(memoryview(array.array("q", [6])), ["f"])
    log.bulk_append(memoryview(bytes(array.array("q", [7]))).cast("q"), ["g"])
    ro = np.array([8], dtype="<i8")
    ro.flags.writeable = False
    log.bulk_append(ro, range(1))
    log.bulk_append(np.array([9], dtype="=q"), np.array(["i"], dtype=object))
    log.bulk_append(np.array([], dtype=np.int64), [])
    assert ts_of(log) == list(range(1, 10))
    assert log[9] == ["i"] and log[8] == [0]


def test_bulk_append_mostly_ordered_and_arity(log, np):
    log.bulk_append(np.array([1], dtype=np.int64), ["a"], mostly_ordered=True)
    with pytest.raises(TypeError):
        log.bulk_append(np.array([1], dtype=np.int64), ["a"], True)
    assert len(log) == 1


@pytest.mark.parametrize(
    "make,exc",
    [
        (lambda np: [1, 2], TypeError),
        (lambda np: (1, 2), TypeError),
        (lambda np: 5, TypeError),
        (lambda np: np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[s]"), ValueError),
        (lambda np: np.array([1, 2], dtype="timedelta64[s]"), ValueError),
        (lambda np: np.int64(5), ValueError),
        (lambda np: np.zeros((1, 2), dtype=np.int64), ValueError),
        (lambda np: np.arange(4, dtype=np.int64)[::2], (ValueError, BufferError)),
        (lambda np: np.array([1, 2], dtype=np.int32), ValueError),
        (lambda np: b"12345678" * 2, ValueError),
        (lambda np: bytearray(16), ValueError),
        (lambda np: np.array([1, 2], dtype=np.uint64), ValueError),
        (lambda np: np.array([1, 2], dtype=np.float64), ValueError),
        (lambda np: np.array([1, 2], dtype=">i8"), ValueError),
        (lambda np: np.frombuffer(bytes(17), dtype=np.uint8)[1:].view(np.int64), ValueError),
    ],
)
def test_bulk_append_bad_timestamps(log, np, make, exc):
    ts = make(np)
    n = len(ts) if hasattr(ts, "__len__") and getattr(ts, "ndim", 1) == 1 else 2
    if isinstance(ts, (bytes, bytearray)):
        n = 2
    with pytest.raises(exc):
        log.bulk_append(ts, ["x"] * n)
    assert len(log) == 0


def test_bulk_append_unaligned_message(log, np):
    raw = np.frombuffer(bytes(17), dtype=np.uint8)[1:]
    with pytest.raises(ValueError, match="aligned|int64|format"):
        log.bulk_append(raw.view(np.int64), ["x", "y"])


@pytest.mark.parametrize(
    "objs,exc",
    [
        ("ab", TypeError),
        (b"ab", TypeError),
        (bytearray(b"ab"), TypeError),
        (None, TypeError),
        ({"a", "b"}, TypeError),
        ({0: "a", 1: "b"}, TypeError),
        (iter(["a", "b"]), TypeError),
        ((x for x in "ab"), TypeError),
        (["a"], ValueError),
        (["a", "b", "c"], ValueError),
    ],
)
def test_bulk_append_bad_objects(log, np, objs, exc):
    with pytest.raises(exc):
        log.bulk_append(np.array([1, 2], dtype=np.int64), objs)
    assert len(log) == 0


def test_bulk_append_user_sequence(log, np):
    class Seq:
        def __len__(self):
            return 2

        def __getitem__(self, i):
            if i >= 2:
                raise IndexError(i)
            return f"v{i}"

    log.bulk_append(np.array([1, 2], dtype=np.int64), Seq())
    assert list(log) == [(1, "v0"), (2, "v1")]


def test_bulk_append_floor(np):
    log = manual(min_ts=10)
    with pytest.raises(ValueError, match=r"\b5\b.*index 1|index 1"):
        log.bulk_append(np.array([10, 5, 3], dtype=np.int64), ["a", "b", "c"])
    assert len(log) == 0
    log.bulk_append(np.array([10, 11], dtype=np.int64), ["a", "b"])
    assert len(log) == 2
    log.close()


# ----- floor ----------------------------------------------------------------------------


def test_floor_on_every_insert_path(np):
    log = manual(min_ts=100)
    for op in (
        lambda: log.append(99, "x"),
        lambda: log.append("x", ts=99),
        lambda: log.__setitem__(99, "x"),
        lambda: log.extend([(99, "x")]),
        lambda: log.extend([99], ["x"]),
        lambda: log.extend([(99, "x")], insert_on_error=False),
        lambda: log.bulk_append(np.array([99], dtype=np.int64), ["x"]),
    ):
        with pytest.raises(ValueError, match="99.*100"):
            op()
    log[100] = "edge"
    log.delete(0, 200)                      # deletes are not restricted by the floor
    log[150] = "after"
    assert list(log) == [(150, "after")]
    log.close()


def test_floor_with_auto_timestamp():
    log = manual(min_ts=2**62)
    with pytest.raises(ValueError):
        log.append("now")
    log.close()


# ----- busy policies --------------------------------------------------------------------


def test_busy_raise_means_accepted():
    log = manual(memtable_max_bytes=1024, sealed_max_runs=1, busy_policy="raise")
    raised = 0
    for i in range(300):
        try:
            log.append(i, i)
        except TimelogBusyError:
            raised += 1
    assert raised > 0
    assert ts_of(log) == list(range(300))
    assert log.busy_events == raised == log.stats()["operational"]["busy_events"]
    log.close()


@pytest.mark.parametrize("policy", ["silent", "flush"])
def test_busy_silent_and_flush(policy):
    log = manual(memtable_max_bytes=1024, sealed_max_runs=1, busy_policy=policy)
    for i in range(300):
        log.append(i, i)
    assert len(log) == 300 and log.busy_events > 0
    if policy == "flush":
        assert log.stats()["memtable"]["sealed_runs"] <= 1
    log.close()


def test_busy_raise_on_every_write_path(np):
    def full_log():
        lg = manual(memtable_max_bytes=256, sealed_max_runs=1, busy_policy="raise")
        while True:
            try:
                lg.append(0, 0)
            except TimelogBusyError:
                return lg

    ops = [
        lambda lg: lg.append(1, 1),
        lambda lg: lg.__setitem__(1, 1),
        lambda lg: lg.extend([(i, i) for i in range(100)]),
        lambda lg: lg.bulk_append(np.arange(100, dtype=np.int64), list(range(100))),
    ]
    for op in ops:
        lg = full_log()
        n = len(lg)
        with pytest.raises(TimelogBusyError):
            for _ in range(50):
                op(lg)
        assert len(lg) > n          # the write that raised is stored
        lg.close()


def test_busy_extend_keeps_everything():
    """Quirk 1 fixed: a busy signal never drops the rest of a streaming extend."""
    log = manual(memtable_max_bytes=1024, sealed_max_runs=1, busy_policy="raise")
    with pytest.raises(TimelogBusyError):
        for _ in range(20):
            log.extend((i, i) for i in range(10_000))
    assert len(log) % 10_000 == 0 and len(log) >= 10_000
    log.close()


def test_busy_in_background_mode_waits_without_gil():
    log = Timelog(memtable_max_bytes=1024, sealed_max_runs=1, busy_policy="silent",
                  sealed_wait_ms=50)
    for i in range(3000):
        log.append(i, i)
    assert len(log) == 3000
    st = log.stats()["operational"]
    assert st["busy_events"] == log.busy_events
    log.close()


def test_sealed_wait_zero_reports_immediately():
    log = Timelog(memtable_max_bytes=1024, sealed_max_runs=1, busy_policy="silent",
                  sealed_wait_ms=0)
    log.stop_maintenance()
    for i in range(1000):
        log.append(i, i)
    assert log.busy_events > 0
    assert log.stats()["operational"]["backpressure_waits"] == 0
    log.close()


def test_extend_skips_are_counted_even_when_busy_raises():
    log = manual(memtable_max_bytes=256, sealed_max_runs=1, busy_policy="raise")
    total_skipped = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(TimelogBusyError):
            for _ in range(50):
                total_skipped += 1
                log.extend([(1, "a"), ("bad", "b")] * 20)
    assert log.extend_skipped == 20 * total_skipped
    log.close()
