"""Arrow export (docs/api.md, section 16): ``to_arrow()``, ``Timelog.__arrow_c_stream__``
and ``TimelogArrowStream`` against iteration over layered logs, every payload rule and its
errors, the stream's lifetime (read twice, after close and collection), pyarrow, polars and
DuckDB as consumers, consumers on other threads while writers append, and ``close()``
racing an export."""

import enum
import gc
import math
import pickle
import random
import sys
import threading

import pytest

from _util import TS_MAX, TS_MIN, drain, layered_log, manual, require
from timelog import Timelog, TimelogError
from timelog._timelog import TimelogArrowStream

pa = require("pyarrow")


def rows_of(table):
    """``(ts, value)`` rows of an exported table (``ts`` as int64 ticks)."""
    ts = table.column("ts").cast(pa.int64()).to_pylist()
    if "value" not in table.column_names:
        return ts
    return list(zip(ts, table.column("value").to_pylist()))


def export(log, *args, **kw):
    return pa.table(log.to_arrow(*args, **kw))


# ----- equality with iteration -------------------------------------------------------

PAYLOADS = {
    "int": (lambda rng, t: rng.randrange(-(2**63), 2**63), "int64"),
    "float": (lambda rng, t: rng.uniform(-1e6, 1e6), "double"),
    "int+float": (lambda rng, t: t if rng.random() < 0.5 else t + 0.5, "double"),
    "str": (lambda rng, t: f"s{t}-" + "é" * rng.randrange(3), "string"),
    "bytes": (lambda rng, t: bytes([t % 256]) * rng.randrange(4), "binary"),
    "bool": (lambda rng, t: rng.random() < 0.5, "bool"),
    "int+None": (lambda rng, t: None if rng.random() < 0.3 else t, "int64"),
    "None": (lambda rng, t: None, "null"),
}


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("kind", PAYLOADS)
def test_equals_iteration_on_layered_logs(seed, kind):
    rng = random.Random(seed * 100 + len(kind))
    make, arrow_type = PAYLOADS[kind]
    log = layered_log(rng, make)
    try:
        for _ in range(4):
            t1 = rng.choice([None, rng.randrange(-10, 420)])
            t2 = rng.choice([None, rng.randrange(-10, 420)])
            expected = list(log[t1:t2])
            t = export(log, t1, t2, ts="int64")
            assert rows_of(t) == expected
            assert t.schema.field("ts").type == pa.int64()
            # An empty range has no rows to infer from: its column is null.
            assert str(t.schema.field("value").type) == (arrow_type if expected else "null")
            # The default ts type: timestamps of the log's unit, same numbers.
            d = export(log, t1, t2)
            assert d.schema.field("ts").type == pa.timestamp("ms")
            assert rows_of(d) == expected
            assert export(log, t1, t2, payload="none").column("ts").cast(pa.int64()).to_pylist() == [
                ts for ts, _ in expected
            ]
    finally:
        log.close()


def test_many_batches_across_layers():
    # 200,000 records: several 65,536-row batches, long compacted stretches (shared
    # by the "none" export) next to memtable rows that interleave with them.
    log = manual()
    n = 200_000
    log.extend((t * 2, t) for t in range(n))
    drain(log)
    log.extend((t * 2 + 1, -t) for t in range(0, n, 7))
    log.flush()
    log.extend((t * 3, None) for t in range(0, n, 11))
    log.delete(1000, 5000)
    try:
        expected = list(log)
        s = log.to_arrow(ts="int64")
        assert s.num_rows == len(expected) and s.num_batches >= 3
        t = pa.table(s)
        assert rows_of(t) == expected
        assert max(b.num_rows for b in t.to_batches()) <= 65_536
        none = log.to_arrow(payload="none", ts="int64")
        assert none.num_rows == len(expected)
        assert pa.table(none).column("ts").to_pylist() == [ts for ts, _ in expected]
        assert pa.table(log.to_arrow(payload="none")).column("ts").cast(pa.int64()).to_pylist() == [
            ts for ts, _ in expected
        ]
    finally:
        log.close()


def test_sorted_by_metadata_and_field_nullability(log):
    log.extend([(1, 1)])
    t = export(log)
    assert t.schema.metadata == {b"timelog.sorted_by": b"ts ASC, insertion order"}
    assert not t.schema.field("ts").nullable and t.schema.field("value").nullable


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_ts_type_follows_the_time_unit(unit):
    with Timelog(maintenance="disabled", time_unit=unit) as log:
        log.extend([(5, "x")])
        s = log.to_arrow()
        assert s.schema == {"ts": f"timestamp[{unit}]", "value": "string"}
        assert pa.table(s).schema.field("ts").type == pa.timestamp(unit)
        assert pa.table(log.to_arrow(ts="int64")).column("ts").to_pylist() == [5]
        with pytest.raises(ValueError, match="ts must be 'timestamp' or 'int64'"):
            log.to_arrow(ts="datetime")
        with pytest.raises(ValueError, match="ts must be"):
            log.to_arrow(ts=None)


# ----- the auto rule -----------------------------------------------------------------


class Color(enum.IntEnum):
    RED = 1


class MyStr(str):
    pass


class MyFloat(float):
    pass


@pytest.mark.parametrize(
    "values,arrow_type,expected",
    [
        ([1, 2, -3], "int64", [1, 2, -3]),
        ([TS_MIN, TS_MAX], "int64", [TS_MIN, TS_MAX]),
        ([1.5, float("inf")], "double", [1.5, float("inf")]),
        ([1, 2.5], "double", [1.0, 2.5]),  # int first, then float
        ([2.5, 1], "double", [2.5, 1.0]),  # float first, then int
        ([2**70, 0.5], "double", [float(2**70), 0.5]),  # any int converts to float64
        (["a", "é", "😀", ""], "string", ["a", "é", "😀", ""]),
        ([b"\x00\xff", b""], "binary", [b"\x00\xff", b""]),
        ([True, False], "bool", [True, False]),
        ([None, 3, None], "int64", [None, 3, None]),
        ([None, "x"], "string", [None, "x"]),
        ([None, True], "bool", [None, True]),
        ([None, None], "null", [None, None]),
        ([Color.RED, 7], "int64", [1, 7]),
        ([MyStr("sub"), "str"], "string", ["sub", "str"]),
        ([MyFloat(0.25), 1], "double", [0.25, 1.0]),
    ],
)
def test_auto_rule(log, values, arrow_type, expected):
    log.extend(list(enumerate(values)))
    t = export(log)
    assert str(t.schema.field("value").type) == arrow_type
    got = t.column("value").to_pylist()
    assert got == expected
    if arrow_type == "double":
        assert all(v is None or isinstance(v, float) for v in got)


def test_auto_nan_stays_nan(log):
    log.extend([(1, float("nan"))])
    assert math.isnan(export(log).column("value")[0].as_py())


def test_empty_range_and_empty_log(log):
    s = log.to_arrow()
    assert s.num_rows == 0 and s.num_batches == 0
    assert s.schema == {"ts": "timestamp[ms]", "value": "null"}
    t = pa.table(s)
    assert t.num_rows == 0 and t.column_names == ["ts", "value"]
    log.extend([(5, 1)])
    assert export(log, 6, None).num_rows == 0
    assert export(log, 9, 2).num_rows == 0  # reversed bounds: empty, like slicing
    t = export(log, 6, None, payload="int64")
    assert t.num_rows == 0 and t.schema.field("value").type == pa.int64()
    t = export(log, 6, None, payload="none")
    assert t.num_rows == 0 and t.column_names == ["ts"]


@pytest.mark.parametrize(
    "values,row,first,found",
    [
        ([1, 2, True], 2, "int64", "bool"),
        ([True, 1], 1, "bool", "int"),
        ([1, "x"], 1, "int64", "str"),
        (["x", b"y"], 1, "utf8", "bytes"),
        ([None, 1.5, "x"], 2, "float64", "str"),
        ([b"x", 3], 1, "binary", "int"),
    ],
)
def test_auto_mismatch_names_the_row(log, values, row, first, found):
    log.extend([(100 + i, v) for i, v in enumerate(values)])
    with pytest.raises(TypeError) as info:
        log.to_arrow()
    msg = str(info.value)
    assert f"row {row} (ts={100 + row}) is a {found}" in msg
    assert f"type {first}" in msg


def test_auto_unsupported_type_names_the_row(log):
    log.extend([(1, 1), (2, 2), (3, {"a": 1}), (4, [1])])
    with pytest.raises(TypeError, match=r"row 2 \(ts=3\) is a dict.*payload='pickle'"):
        log.to_arrow()
    # A range without it converts.
    assert export(log, 1, 3).column("value").to_pylist() == [1, 2]


@pytest.mark.parametrize("big", [2**63, -(2**63) - 1, 10**30])
def test_auto_int_overflow(log, big):
    log.extend([(1, 1), (2, big)])
    with pytest.raises(OverflowError, match=r"row 1 \(ts=2\) does not fit in int64"):
        log.to_arrow()


def test_auto_int_too_large_for_float(log):
    log.extend([(1, 0.5), (2, 10**400)])
    with pytest.raises(OverflowError, match=r"row 1 \(ts=2\)"):
        log.to_arrow()


def test_unencodable_str_names_the_row(log):
    log.extend([(1, "ok"), (2, "\ud800")])
    with pytest.raises(UnicodeEncodeError) as info:
        log.to_arrow()
    assert any("row 1 (ts=2)" in n for n in info.value.__notes__)


# ----- explicit types, "none", "pickle" ------------------------------------------------


@pytest.mark.parametrize(
    "payload,values,expected,arrow_type",
    [
        ("int64", [1, None, -5], [1, None, -5], "int64"),
        ("float64", [1, None, 2.5], [1.0, None, 2.5], "double"),
        ("double", [3], [3.0], "double"),
        ("utf8", ["a", None], ["a", None], "string"),
        ("string", ["b"], ["b"], "string"),
        ("binary", [b"a", None], [b"a", None], "binary"),
        ("bool", [True, None, False], [True, None, False], "bool"),
        ("boolean", [False], [False], "bool"),
        ("null", [None, None], [None, None], "null"),
    ],
)
def test_explicit_type_names(log, payload, values, expected, arrow_type):
    log.extend(list(enumerate(values)))
    t = export(log, payload=payload)
    assert str(t.schema.field("value").type) == arrow_type
    assert t.column("value").to_pylist() == expected


@pytest.mark.parametrize(
    "arrow_type,expected",
    [
        ("int64", [1, 2]),
        ("float64", [1.0, 2.0]),
    ],
)
def test_explicit_pyarrow_types(log, arrow_type, expected):
    log.extend([(1, 1), (2, 2)])
    t = export(log, payload=pa.type_for_alias(arrow_type))
    assert t.column("value").to_pylist() == expected
    # A pyarrow field has __arrow_c_schema__ too: its type is taken.
    assert export(log, payload=pa.field("x", pa.int64())).column("value").to_pylist() == [1, 2]


def test_explicit_type_fixes_the_schema_of_empty_and_all_none_ranges(log):
    log.extend([(1, None)])
    for rng in [(None, None), (5, None)]:
        for p in ["int64", pa.string(), "bool"]:
            t = export(log, *rng, payload=p)
            assert t.schema.field("value").type == (p if isinstance(p, pa.DataType) else pa.type_for_alias(p))


@pytest.mark.parametrize(
    "payload,values,row,found",
    [
        ("int64", [1, 2.5], 1, "float"),
        ("int64", [True], 0, "bool"),
        ("int64", ["1"], 0, "str"),
        ("float64", [1.0, "x"], 1, "str"),
        ("float64", [False], 0, "bool"),
        ("utf8", ["a", b"b"], 1, "bytes"),
        ("binary", [b"a", "b"], 1, "str"),
        ("binary", [bytearray(b"x")], 0, "bytearray"),
        ("bool", [True, 1], 1, "int"),
        ("null", [None, 0], 1, "int"),
    ],
)
def test_explicit_type_mismatch_names_the_row(log, payload, values, row, found):
    log.extend([(10 + i, v) for i, v in enumerate(values)])
    with pytest.raises(TypeError, match=rf"row {row} \(ts={10 + row}\) is a {found}, which does not convert"):
        log.to_arrow(payload=payload)


def test_explicit_int64_overflow(log):
    log.extend([(1, 2**64)])
    with pytest.raises(OverflowError, match=r"row 0 \(ts=1\) does not fit in int64"):
        log.to_arrow(payload=pa.int64())


@pytest.mark.parametrize("payload", ["int32", "large_string", "auto ", "INT64"])
def test_unknown_payload_names(log, payload):
    with pytest.raises(ValueError, match="payload"):
        log.to_arrow(payload=payload)


@pytest.mark.parametrize("payload", [pa.int32(), pa.large_string(), pa.list_(pa.int64())])
def test_unsupported_payload_types(log, payload):
    with pytest.raises(ValueError, match="not supported"):
        log.to_arrow(payload=payload)


@pytest.mark.parametrize("payload", [None, 5, object()])
def test_payload_argument_type(log, payload):
    with pytest.raises(TypeError, match="payload must be"):
        log.to_arrow(payload=payload)


def test_payload_none_exports_timestamps_only(log):
    log.extend([(3, {"any": "object"}), (1, [1, 2]), (2, None)])
    s = log.to_arrow(payload="none", ts="int64")
    assert s.schema == {"ts": "int64"}
    assert pa.table(s).column("ts").to_pylist() == [1, 2, 3]
    drain(log)
    assert pa.table(log.to_arrow(payload="none", ts="int64")).column("ts").to_pylist() == [1, 2, 3]


class Point:
    def __init__(self, x):
        self.x = x

    def __eq__(self, other):
        return isinstance(other, Point) and other.x == self.x


def test_payload_pickle_round_trip(log):
    objs = [{"a": [1, 2]}, None, Point(3), "s", 2**100, (1, "t"), b"b", 1.5, True]
    log.extend(list(enumerate(objs)))
    drain(log)
    log.extend([(100, frozenset({1}))])
    t = export(log, payload="pickle")
    assert t.schema.field("value").type == pa.binary()
    blobs = t.column("value").to_pylist()
    assert None not in blobs  # None is pickled, not a null
    assert [pickle.loads(b) for b in blobs] == objs + [frozenset({1})]
    assert blobs[0] == pickle.dumps(objs[0], protocol=5)


def test_payload_pickle_error_names_the_row(log):
    log.extend([(1, 1), (2, lambda: None)])
    with pytest.raises(Exception) as info:
        log.to_arrow(payload="pickle")
    assert any("row 1 (ts=2)" in n for n in info.value.__notes__)


def test_payloads_are_not_leaked(log):
    obj = "payload-" + "x" * 10
    before = sys.getrefcount(obj)
    log.extend([(t, obj) for t in range(100)])
    mid = sys.getrefcount(obj)
    for p in ["auto", "utf8", "pickle", "none"]:
        s = log.to_arrow(payload=p)
        pa.table(s)
        del s
    gc.collect()
    assert sys.getrefcount(obj) == mid == before + 100


# ----- extreme timestamps ---------------------------------------------------------------


def test_int64_extremes(log):
    log.extend([(TS_MAX, "max"), (TS_MIN, "min"), (0, "zero"), (TS_MAX, "max2")])
    t = export(log, ts="int64")
    assert rows_of(t) == [(TS_MIN, "min"), (0, "zero"), (TS_MAX, "max"), (TS_MAX, "max2")]
    assert rows_of(export(log, TS_MIN, TS_MAX, ts="int64")) == [(TS_MIN, "min"), (0, "zero")]
    assert rows_of(export(log, TS_MAX, None, ts="int64")) == [(TS_MAX, "max"), (TS_MAX, "max2")]
    # As timestamps the numbers are the same (pyarrow's int64 view of them).
    assert export(log).column("ts").cast(pa.int64()).to_pylist() == [TS_MIN, 0, TS_MAX, TS_MAX]


# ----- the stream object ------------------------------------------------------------------


def test_stream_is_read_any_number_of_times(log):
    log.extend([(t, t) for t in range(1000)])
    s = log.to_arrow()
    a = pa.table(s)
    b = pa.table(s)
    assert a.equals(b) and a.num_rows == 1000
    caps = [s.__arrow_c_stream__() for _ in range(3)]
    tables = [pa.RecordBatchReader._import_from_c_capsule(c).read_all() for c in caps]
    assert all(t.equals(a) for t in tables)


def test_one_c_stream_is_read_once(log):
    log.extend([(1, 1)])
    cap = log.to_arrow().__arrow_c_stream__()
    assert pa.RecordBatchReader._import_from_c_capsule(cap).read_all().num_rows == 1
    with pytest.raises(Exception):  # the capsule's stream was moved out: released
        pa.RecordBatchReader._import_from_c_capsule(cap)


def test_stream_survives_close_and_collection():
    log = Timelog(maintenance="disabled")
    log.extend([(t, f"v{t}") for t in range(100)])
    drain(log)
    log.extend([(t, f"w{t}") for t in range(50, 60)])
    streams = [log.to_arrow(), log.to_arrow(payload="none"), log.to_arrow(payload="pickle")]
    expected = [pa.table(s) for s in streams]
    log.close()
    assert [pa.table(s) for s in streams] == expected
    log.reopen()
    log.extend([(1, "new")])
    del log
    gc.collect()
    assert all(pa.table(s).equals(e) for s, e in zip(streams, expected))
    assert streams[0].num_rows == 110


def test_stream_pins_one_snapshot(log):
    log.extend([(1, 1)])
    s = log.to_arrow()
    log.extend([(2, 2)])
    log.delete(0, 10)
    drain(log)
    assert pa.table(s).column("value").to_pylist() == [1]
    assert pa.table(log).num_rows == 0


def test_stream_does_not_pin_the_log(log):
    log.extend([(1, 1)])
    s = log.to_arrow()
    log.close()  # no reader is pinned by the stream
    assert log.closed and s.num_rows == 1


def test_closed_log_raises_the_closed_error():
    log = Timelog()
    log.close()
    with pytest.raises(TimelogError, match="closed"):
        log.to_arrow()
    with pytest.raises(TimelogError, match="closed"):
        log.__arrow_c_stream__()
    with pytest.raises(TimelogError, match="closed"):
        pa.table(log)


def test_stream_schema_and_repr(log):
    log.extend([(1, 1)])
    s = log.to_arrow()
    assert isinstance(s, TimelogArrowStream)
    assert s.schema == {"ts": "timestamp[ms]", "value": "int64"}
    assert s.schema is not s.schema  # a new dict each time
    assert pa.schema(s) == pa.schema(
        [pa.field("ts", pa.timestamp("ms"), nullable=False), pa.field("value", pa.int64())]
    )
    assert repr(s) == "TimelogArrowStream(num_rows=1, schema={'ts': 'timestamp[ms]', 'value': 'int64'})"
    with pytest.raises(TypeError):
        TimelogArrowStream()


def test_requested_schema(log):
    log.extend([(1, 10), (2, 20)])
    s = log.to_arrow()
    ours = pa.schema(s)
    # Our own schema: honoured as it is.
    t = pa.RecordBatchReader.from_stream(s, schema=ours).read_all()
    assert t.schema == ours
    # The ts column as int64: honoured (the same numbers).
    want = pa.schema([pa.field("ts", pa.int64()), pa.field("value", pa.int64())])
    r = pa.RecordBatchReader._import_from_c_capsule(s.__arrow_c_stream__(want.__arrow_c_schema__()))
    assert r.schema.field("ts").type == pa.int64()
    assert r.read_all().column("ts").to_pylist() == [1, 2]
    # And back: an int64 export asked for timestamps of the log's unit, with a zone.
    s64 = log.to_arrow(ts="int64")
    want = pa.schema([pa.field("ts", pa.timestamp("ms", tz="UTC")), pa.field("value", pa.int64())])
    r = pa.RecordBatchReader._import_from_c_capsule(s64.__arrow_c_stream__(want.__arrow_c_schema__()))
    assert r.schema.field("ts").type == pa.timestamp("ms", tz="UTC")
    # Anything else is ignored: the stream keeps its own schema.
    for other in [
        pa.schema([pa.field("ts", pa.timestamp("us")), pa.field("value", pa.int64())]),
        pa.schema([pa.field("ts", pa.int64()), pa.field("value", pa.float64())]),
        pa.schema([pa.field("ts", pa.int64())]),
    ]:
        r = pa.RecordBatchReader._import_from_c_capsule(s.__arrow_c_stream__(other.__arrow_c_schema__()))
        assert r.schema == ours and r.read_all().num_rows == 2
    # The log itself takes a requested schema too.
    r = pa.RecordBatchReader._import_from_c_capsule(log.__arrow_c_stream__(want.__arrow_c_schema__()))
    assert r.schema.field("ts").type == pa.timestamp("ms", tz="UTC")
    with pytest.raises(TypeError, match="requested_schema"):
        s.__arrow_c_stream__(42)


# ----- consumers ------------------------------------------------------------------------------


def test_pyarrow_table_of_a_log(log):
    log.extend([(3, "c"), (1, "a"), (2, "b")])
    t = pa.table(log)
    assert t.column_names == ["ts", "value"]
    assert rows_of(t) == [(1, "a"), (2, "b"), (3, "c")]


def test_polars_dataframe():
    pl = require("polars")
    with Timelog(maintenance="disabled", time_unit="us") as log:
        log.extend([(t, t * 1.5) for t in range(10)])
        df = pl.DataFrame(log)
        assert df.columns == ["ts", "value"]
        assert df.schema["ts"] == pl.Datetime("us")
        assert df["value"].to_list() == [t * 1.5 for t in range(10)]
        df = pl.DataFrame(log.to_arrow(5, None, ts="int64"))
        assert df["ts"].to_list() == [5, 6, 7, 8, 9] and df.schema["ts"] == pl.Int64
        empty = pl.DataFrame(log.to_arrow(100, None, payload="float64"))
        assert empty.shape == (0, 2)


def test_duckdb_queries():
    duckdb = require("duckdb")
    with Timelog(maintenance="disabled") as log:
        log.extend([(t, t) for t in range(1000)])
        drain(log)
        log.extend([(t, 1) for t in range(1000, 1010)])
        assert duckdb.sql("select count(*), sum(value) from log").fetchall() == [(1010, 499500 + 10)]
        stream = log.to_arrow(ts="int64")
        q = "select min(ts), max(ts), count(*) from stream where value > 1"
        assert duckdb.sql(q).fetchall() == [(2, 999, 998)]
        # The stream object again (DuckDB reads it as often as it likes).
        assert duckdb.sql(q).fetchall() == [(2, 999, 998)]
        empty = log.to_arrow(5000, None, payload="int64")
        assert duckdb.sql("select count(*) from empty").fetchall() == [(0,)]

        def inner():
            local_log = log  # the replacement scan finds locals of the calling frame
            return duckdb.sql("select count(*) from local_log").fetchall()

        assert inner() == [(1010,)]


# ----- threads ------------------------------------------------------------------------------


def test_consumers_on_other_threads_while_writers_append():
    pl = require("polars")
    log = Timelog(maintenance="background", busy_policy="flush")
    stop = threading.Event()
    errors = []
    batch = 1000

    def writer(k):
        try:
            for i in range(400):  # at most 400,000 records each
                if stop.is_set():
                    break
                base = (k * 10_000_000) + i * batch
                log.extend([(base + j, base) for j in range(batch)])  # value = its batch
                stop.wait(0.001)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    def check(t):
        # Each export is one snapshot: whole batches only, in timestamp order.
        ts = t.column("ts").cast(pa.int64()).to_pylist()
        assert ts == sorted(ts)
        counts = {}
        for v in t.column("value").to_pylist():
            counts[v] = counts.get(v, 0) + 1
        bad = {v: c for v, c in counts.items() if c != batch}
        assert not bad, bad

    results = []

    def reader(kind):
        try:
            for _ in range(10):
                s = log.to_arrow()
                # The stream is consumed on yet other threads (pyarrow's and polars').
                out = []
                ts = [
                    threading.Thread(target=lambda: out.append(pa.table(s))),
                    threading.Thread(target=lambda: out.append(pl.DataFrame(s).to_arrow())),
                ]
                for t in ts:
                    t.start()
                for t in ts:
                    t.join()
                assert len(out) == 2
                for t in out:
                    check(t)
                assert out[0].num_rows == out[1].num_rows == s.num_rows
                results.append(s.num_rows)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(2)]
    threads += [threading.Thread(target=reader, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads[2:]:
        t.join()
    stop.set()
    for t in threads[:2]:
        t.join()
    assert not errors, errors
    assert len(results) == 20 and max(results) > 0
    log.close()


def test_close_racing_exports_raises_the_usual_errors():
    for _ in range(3):
        log = Timelog(maintenance="disabled")
        log.extend([(t, t) for t in range(200_000)])
        outcomes = []
        start = threading.Barrier(2)

        def exporter():
            start.wait()
            while True:
                try:
                    s = log.to_arrow()
                    outcomes.append(s.num_rows)
                except TimelogError as e:
                    assert "closed" in str(e), e
                    return

        def closer():
            start.wait()
            while True:
                try:
                    log.close()
                    return
                except TimelogError as e:  # an export is running: the usual "in use" error
                    assert "in use" in str(e) or "pinned" in str(e), e

        ts = [threading.Thread(target=exporter), threading.Thread(target=closer)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert log.closed
        assert all(n == 200_000 for n in outcomes)
