"""Arrow import (docs/api.md, section 16.5): ``extend(obj)`` with pyarrow and polars data
(``__arrow_c_stream__`` and ``__arrow_c_array__``), every supported value type, timestamp
units and their exact conversion, refused inputs (nothing stored), one atomic batch per
record batch, the floor, the busy policy, and the inputs ``extend`` took before (lists,
logs) left unchanged."""

import math
import random
import threading

import pytest

from _util import TS_MAX, TS_MIN, drain, layered_log, manual, require
from timelog import Timelog, TimelogBusyError

pa = require("pyarrow")


def table(ts, value=None, ts_type=pa.int64(), value_type=None):
    cols = {"ts": pa.array(ts, ts_type)}
    if value is not None:
        cols["value"] = pa.array(value, value_type)
    return pa.table(cols)


# ----- value types --------------------------------------------------------------------


@pytest.mark.parametrize(
    "arrow_type,values,expected",
    [
        (pa.int8(), [-128, 127, None], [-128, 127, None]),
        (pa.int16(), [-(2**15), 2**15 - 1], [-(2**15), 2**15 - 1]),
        (pa.int32(), [-(2**31), None], [-(2**31), None]),
        (pa.int64(), [TS_MIN, TS_MAX, None], [TS_MIN, TS_MAX, None]),
        (pa.uint8(), [0, 255], [0, 255]),
        (pa.uint16(), [65535], [65535]),
        (pa.uint32(), [2**32 - 1, None], [2**32 - 1, None]),
        (pa.uint64(), [2**64 - 1, 0], [2**64 - 1, 0]),
        (pa.float16(), [0.5, None, -2.0], [0.5, None, -2.0]),
        (pa.float32(), [0.25, float("inf")], [0.25, float("inf")]),
        (pa.float64(), [1.5, None, -0.0], [1.5, None, -0.0]),
        (pa.bool_(), [True, False, None], [True, False, None]),
        (pa.string(), ["a", "é😀", "", None], ["a", "é😀", "", None]),
        (pa.large_string(), ["big", None], ["big", None]),
        (pa.string_view(), ["view", "a longer string than twelve bytes", None],
         ["view", "a longer string than twelve bytes", None]),
        (pa.binary(), [b"\x00\x01", None, b""], [b"\x00\x01", None, b""]),
        (pa.large_binary(), [b"x" * 100], [b"x" * 100]),
        (pa.binary_view(), [b"v", b"y" * 40, None], [b"v", b"y" * 40, None]),
        (pa.null(), [None, None], [None, None]),
    ],
)
def test_value_types_from_pyarrow(log, arrow_type, values, expected):
    n = len(values)
    log.extend(table(list(range(n)), values, value_type=arrow_type))
    got = [v for _, v in log]
    assert got == expected
    for g, e in zip(got, expected):
        assert type(g) is type(e)  # new objects of the Python type, not numpy scalars


def test_float_nan_round_trips(log):
    log.extend(table([1], [float("nan")], value_type=pa.float64()))
    assert math.isnan(log.at(1)[0])


def test_no_value_column_means_none(log):
    log.extend(table([3, 1, 2]))
    assert list(log) == [(1, None), (2, None), (3, None)]


def test_polars_types():
    pl = require("polars")
    with Timelog(maintenance="disabled", time_unit="us") as log:
        df = pl.DataFrame(
            {
                "ts": pl.Series([1, 2, 3], dtype=pl.Datetime("ms")),
                "value": ["a", None, "c"],
            }
        )
        log.extend(df)
        assert list(log) == [(1000, "a"), (2000, None), (3000, "c")]
        for values, dtype in [
            ([1, None, 3], pl.Int64),
            ([1, 2, 3], pl.UInt32),
            ([1.5, None, 2.5], pl.Float64),
            ([0.5, 1.0, 2.0], pl.Float32),
            ([True, None, False], pl.Boolean),
            ([b"x", None, b"z"], pl.Binary),
            (["s", "t", None], pl.String),
        ]:
            other = Timelog(maintenance="disabled")
            other.extend(pl.DataFrame({"ts": [10, 20, 30], "value": pl.Series(values, dtype=dtype)}))
            assert list(other) == list(zip([10, 20, 30], values)), dtype
            other.close()
        for unit, k in [("ns", None), ("us", 1), ("ms", 1000)]:
            other = Timelog(maintenance="disabled", time_unit="us")
            ts = pl.Series([5_000, 6_000], dtype=pl.Datetime(unit))
            other.extend(pl.DataFrame({"ts": ts, "value": [1, 2]}))
            scale = (lambda t: t // 1000) if k is None else (lambda t: t * k)
            assert [t for t, _ in other] == [scale(5_000), scale(6_000)], unit
            other.close()


# ----- timestamps ---------------------------------------------------------------------------


@pytest.mark.parametrize("src", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("dst", ["s", "ms", "us", "ns"])
def test_timestamp_units_convert_exactly(src, dst):
    per = {"s": 1, "ms": 1000, "us": 10**6, "ns": 10**9}
    with Timelog(maintenance="disabled", time_unit=dst) as log:
        # Values every unit can hold exactly: whole seconds.
        raw = [7 * per[src], -3 * per[src], 0]
        log.extend(table(raw, [1, 2, 3], ts_type=pa.timestamp(src)))
        assert sorted(t for t, _ in log) == sorted(r * per[dst] // per[src] for r in raw)
        if per[src] > per[dst]:
            with pytest.raises(ValueError, match="lose precision"):
                log.extend(table([1], ts_type=pa.timestamp(src)))
        elif per[src] < per[dst]:
            with pytest.raises(ValueError, match="does not fit"):
                log.extend(table([TS_MAX // (per[dst] // per[src]) + 1], ts_type=pa.timestamp(src)))
        assert len(log) == 3


def test_timestamps_with_time_zone(log):
    log.extend(table([1, 2], ts_type=pa.timestamp("ms", tz="Europe/Paris")))
    assert [t for t, _ in log] == [1, 2]


def test_int64_ts_is_taken_as_ticks_and_extremes(log):
    log.extend(table([TS_MAX, TS_MIN, 0], ["max", "min", "zero"]))
    assert list(log) == [(TS_MIN, "min"), (0, "zero"), (TS_MAX, "max")]


@pytest.mark.parametrize(
    "ts_type,values",
    [
        (pa.string(), ["1"]),
        (pa.float64(), [1.0]),
        (pa.int32(), [1]),
        (pa.uint64(), [1]),
        (pa.date32(), [1]),
        (pa.bool_(), [True]),
    ],
)
def test_bad_ts_types_are_refused(log, ts_type, values):
    with pytest.raises(TypeError, match=r"the Arrow 'ts' column is .*must be int64 .* or a timestamp"):
        log.extend(pa.table({"ts": pa.array(values, ts_type), "value": [1]}))
    assert len(log) == 0


def test_null_timestamp_is_refused(log):
    with pytest.raises(ValueError, match="null at row 1"):
        log.extend(table([1, None, 3], [1, 2, 3]))
    assert len(log) == 0


def test_missing_ts_and_extra_columns(log):
    with pytest.raises(ValueError, match="no 'ts' column"):
        log.extend(pa.table({"time": [1], "value": [1]}))
    with pytest.raises(ValueError, match="unexpected Arrow column 'other'"):
        log.extend(pa.table({"ts": [1], "value": [1], "other": [2]}))
    assert len(log) == 0


@pytest.mark.parametrize(
    "value",
    [
        pa.array([1], pa.timestamp("ms")),
        pa.array([1], pa.decimal128(5, 2)),
        pa.array([[1]], pa.list_(pa.int64())),
        pa.array([{"a": 1}]),
        pa.array(["x"]).dictionary_encode(),
        pa.array([1], pa.date32()),
    ],
)
def test_unsupported_value_types_store_nothing(log, value):
    with pytest.raises(TypeError, match=r"the Arrow 'value' column is .*cast it first"):
        log.extend(pa.table({"ts": pa.array([1], pa.int64()), "value": value}))
    assert len(log) == 0


# ----- sources ---------------------------------------------------------------------------------


def test_record_batch_and_chunked_tables(log):
    b = pa.record_batch({"ts": pa.array([5, 6], pa.int64()), "value": [50, 60]})
    log.extend(b)
    chunked = pa.concat_tables([table([1, 2], [10, 20]), table([3], [30])])
    assert chunked.column("ts").num_chunks == 2
    log.extend(chunked)
    assert list(log) == [(1, 10), (2, 20), (3, 30), (5, 50), (6, 60)]


class OnlyArray:
    """Has only ``__arrow_c_array__`` (delegating to a pyarrow object)."""

    def __init__(self, obj):
        self.obj = obj

    def __arrow_c_array__(self, requested_schema=None):
        return self.obj.__arrow_c_array__(requested_schema)


class OnlyStream:
    def __init__(self, obj):
        self.obj = obj

    def __arrow_c_stream__(self, requested_schema=None):
        return self.obj.__arrow_c_stream__(requested_schema)


def test_objects_with_only_one_capsule_method(log):
    b = pa.record_batch({"ts": pa.array([1, 2], pa.int64()), "value": ["a", "b"]})
    log.extend(OnlyArray(b))
    log.extend(OnlyStream(pa.table({"ts": pa.array([3], pa.int64()), "value": ["c"]})))
    struct = pa.StructArray.from_arrays([pa.array([4], pa.int64()), pa.array(["d"])], names=["ts", "value"])
    log.extend(OnlyArray(struct))
    assert list(log) == [(1, "a"), (2, "b"), (3, "c"), (4, "d")]


def test_non_struct_arrow_data_is_refused(log):
    with pytest.raises(TypeError, match="struct array"):
        log.extend(OnlyArray(pa.array([1, 2])))
    with pytest.raises(TypeError, match="not table-like"):
        log.extend(OnlyStream(pa.chunked_array([[1, 2]])))
    struct = pa.StructArray.from_arrays(
        [pa.array([4], pa.int64())], names=["ts"], mask=pa.array([True])
    )
    with pytest.raises(ValueError, match="null rows"):
        log.extend(OnlyArray(struct))
    assert len(log) == 0


def test_invalid_arrow_data_is_refused(log):
    # pyarrow builds a string array from raw buffers without checking its UTF-8: it
    # must become an error here, not undefined behaviour.
    offsets = pa.py_buffer(pa.array([0, 2], pa.int32()).buffers()[1])
    bad_utf8 = pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(b"\xff\xfe")])
    with pytest.raises(ValueError, match="invalid Arrow data"):
        log.extend(pa.table({"ts": pa.array([1], pa.int64()), "value": bad_utf8}))
    assert len(log) == 0


def test_bad_capsules_are_refused(log):
    class Liar:
        def __arrow_c_stream__(self, requested_schema=None):
            return "not a capsule"

    with pytest.raises(TypeError, match="PyCapsule named 'arrow_array_stream'"):
        log.extend(Liar())


def test_python_producer_stream_and_its_errors(log):
    schema = pa.schema([("ts", pa.int64()), ("value", pa.string())])

    def batches(fail):
        yield pa.record_batch([pa.array([1, 2], pa.int64()), pa.array(["a", "b"])], schema=schema)
        if fail:
            raise RuntimeError("producer broke")
        yield pa.record_batch([pa.array([3], pa.int64()), pa.array(["c"])], schema=schema)

    log.extend(pa.RecordBatchReader.from_batches(schema, batches(False)))
    assert len(log) == 3
    with pytest.raises(ValueError, match="producer broke"):
        log.extend(pa.RecordBatchReader.from_batches(schema, batches(True)))
    # The batch before the failure was stored (one atomic batch per record batch).
    assert [t for t, _ in log] == [1, 1, 2, 2, 3]


def test_each_record_batch_is_atomic_and_later_errors_keep_earlier_batches(log):
    # A ms log, two batches of microseconds: the second holds 4001 us, not whole ms.
    schema = pa.schema([("ts", pa.timestamp("us")), ("value", pa.int64())])
    good = pa.record_batch([pa.array([1_000, 2_000], pa.timestamp("us")), pa.array([1, 2])], schema=schema)
    bad = pa.record_batch([pa.array([3_000, 4_001], pa.timestamp("us")), pa.array([3, 4])], schema=schema)
    with pytest.raises(ValueError, match=r"rows 2\.\.4: ts at row 1 .*lose precision"):
        log.extend(pa.Table.from_batches([good, bad]))
    assert list(log) == [(1, 1), (2, 2)]  # the first batch, whole; nothing of the second


def test_floor_refuses_the_batch(log):
    floored = manual(min_ts=100)
    try:
        with pytest.raises(ValueError, match=r"timestamp 99 at index 1 is below min_ts boundary \(100\)"):
            floored.extend(table([100, 99], [1, 2]))
        assert len(floored) == 0
        floored.extend(table([100, 101], [1, 2]))
        assert len(floored) == 2
    finally:
        floored.close()


def test_busy_raise_is_reported_after_every_batch_is_stored():
    log = Timelog(maintenance="disabled", busy_policy="raise", memtable_max_bytes=64 * 1024)
    n = 300_000
    src = table(list(range(n)), list(range(n)))
    src = pa.Table.from_batches(src.to_batches(max_chunksize=10_000))
    with pytest.raises(TimelogBusyError):
        log.extend(src)
    assert len(log) == n  # stored in full despite the busy signal
    assert log.busy_events >= 1
    log.close()


# ----- round trips and volume ------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_round_trip_through_arrow_on_layered_logs(seed):
    rng = random.Random(seed)
    kinds = [
        lambda rng, t: rng.randrange(-(2**63), 2**63),
        lambda rng, t: None if rng.random() < 0.2 else f"v{t}",
        lambda rng, t: rng.random(),
        lambda rng, t: bytes(rng.randrange(256) for _ in range(3)),
    ]
    src = layered_log(rng, kinds[seed % len(kinds)], time_unit="us")
    try:
        dst = manual(time_unit="us")
        dst.extend(src.to_arrow())  # timestamp[us] in, same unit
        assert list(dst) == list(src)
        dst2 = manual(time_unit="ns")
        dst2.extend(pa.table(src.to_arrow(ts="int64")))  # int64: ticks as they are
        assert list(dst2) == list(src)
        dst3 = manual(time_unit="ns")
        dst3.extend(src.to_arrow())  # timestamp[us] into a ns log: scaled
        assert list(dst3) == [(t * 1000, v) for t, v in src]
        for d in (dst, dst2, dst3):
            d.close()
    finally:
        src.close()


def test_large_import_with_out_of_order_and_duplicates(log):
    rng = random.Random(5)
    n = 150_000
    ts = [rng.randrange(0, 50_000) for _ in range(n)]
    vals = [rng.randrange(-1000, 1000) for _ in range(n)]
    log.extend(table(ts, vals))
    drain(log)
    expected = sorted(zip(ts, vals), key=lambda r: r[0])  # stable: insertion order at equal ts
    assert list(log) == expected


def test_import_while_other_threads_read():
    log = Timelog(maintenance="background", busy_policy="flush")
    errors = []
    done = threading.Event()

    def reader():
        try:
            while not done.is_set():
                rows = list(log)
                # Each import batch of 1,000 rows is seen whole or not at all.
                assert len(rows) % 1000 == 0, len(rows)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    th = threading.Thread(target=reader)
    th.start()
    try:
        for i in range(100):
            log.extend(table(list(range(i * 1000, (i + 1) * 1000)), [i] * 1000))
    finally:
        done.set()
        th.join()
    assert not errors, errors
    assert len(log) == 100_000
    log.close()


# ----- what extend took before stays as it was -----------------------------------------------


def test_lists_and_logs_are_not_arrow_input(log):
    log.extend([(1, {"a": 1}), (2, [1, 2])])
    other = manual()
    other.extend(log)  # a log is iterated as (ts, obj) pairs, any payloads
    assert list(other) == list(log)
    assert other.at(1)[0] is log.at(1)[0]
    other.close()
    with pytest.raises(ValueError, match=r"extend\(\) expects \(ts, obj\) pairs"):
        log.extend([1, 2])


def test_payload_objects_are_new_python_objects(log):
    log.extend(table([1, 2], ["x", "y"]))
    a, b = log.at(1)[0], log.at(2)[0]
    assert type(a) is str and type(b) is str
    log.extend(table([3], [2**40]))
    assert type(log.at(3)[0]) is int and log.at(3)[0] == 2**40
