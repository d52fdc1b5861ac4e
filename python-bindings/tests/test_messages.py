"""Error messages that users of the reference (timelog-lib 1.4.0) match on.

``data/reference_messages.json`` records what the reference raises for bad construction
arguments. For every case our exception has the same type and our message contains the
reference's text verbatim (we may add detail around it). A case where the reference's
behaviour is a bug carries our expectation and keeps the reference's for the record.
"""

import builtins
import json
import pathlib
import re

import pytest

from timelog import Timelog

_DATA = json.loads((pathlib.Path(__file__).parent / "data" / "reference_messages.json").read_text())
CASES = _DATA["cases"]


def _call(expr):
    lg = eval(expr, {"Timelog": Timelog})  # noqa: S307 - test data from this repository
    lg.close()


def test_the_table_is_complete():
    assert len(CASES) == 166
    assert len({c["call"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["call"] for c in CASES])
def test_reference_message(case):
    if case["exception"] is None:
        _call(case["call"])
        return
    expected = getattr(builtins, case["exception"])
    with pytest.raises(BaseException) as info:
        _call(case["call"])
    assert type(info.value) is expected, f"{case['call']}: {type(info.value).__name__}: {info.value}"
    assert re.search(re.escape(case["message"]), str(info.value)), (
        f"{case['call']}: {str(info.value)!r} does not contain {case['message']!r}"
    )


# Which error wins when several arguments are wrong: the reference's order (types of
# everything first, then the dicts, then the string choices, then the ranges).
ORDER = [
    (dict(min_ts=1.5, mostly_ordered_default=1), TypeError, "mostly_ordered_default must be bool"),
    (dict(bogus=1, min_ts=1.5), TypeError, "timestamps are integers"),
    (dict(bogus=1, time_unit="x"), TypeError, "'bogus' is an invalid keyword argument"),
    (dict(memtable_max_bytes=-1, time_unit="x"), ValueError, "Invalid time_unit: 'x'"),
    (dict(time_unit="MS", maintenance="x"), ValueError, "Invalid time_unit: 'MS'"),
    (dict(maintenance="x", busy_policy="y"), ValueError, "Invalid maintenance mode: 'x'"),
    (dict(time_unit="x", memtable_max_bytes=1.5), TypeError, "'float' object cannot be interpreted"),
    (dict(time_unit=None, memtable_max_bytes=1.5), TypeError, "argument 1 must be str, not None"),
    (dict(busy_policy=None, window_size=1.5), TypeError, "argument 7 must be str, not None"),
    (dict(busy_policy=None, memtable_max_bytes=1.5), TypeError, "'float' object cannot be interpreted"),
    (dict(compaction={"bogus": 1}, memtable_max_bytes=-1), ValueError, "Unknown key 'bogus' in compaction dict"),
    (dict(adaptive={"bogus": 1}, compaction={"bogus": 1}), ValueError, "Unknown key 'bogus' in adaptive dict"),
    (dict(adaptive={"target_records": 1.5}, compaction={"bogus": 1}), TypeError, "an integer is required"),
    (dict(compaction={"target_bytes": 1.5}, memtable_max_bytes=1.5), TypeError, "'float' object cannot be interpreted"),
    (dict(compaction={"target_bytes": -1}, memtable_max_bytes=-1), ValueError, "memtable_max_bytes must be >= 0"),
    (dict(adaptive={"alpha": 2.0}, memtable_max_bytes=-1), ValueError, "memtable_max_bytes must be >= 0"),
    (dict(window_size=-1, sealed_wait_ms=-1), ValueError, "sealed_wait_ms must be 0-4294967295"),
    (dict(delete_debt_threshold=2.0, memtable_max_bytes=-1), ValueError, "memtable_max_bytes must be >= 0"),
    (dict(target_page_bytes=100, delete_debt_threshold=2.0), ValueError, "delete_debt_threshold must be in [0.0, 1.0]"),
    (dict(adaptive_alpha=2.0, adaptive={"bogus": 1}), ValueError, "Unknown key 'bogus' in adaptive dict"),
    (dict(compaction_target_bytes=1, compaction={"target_bytes": 1}, adaptive={"bogus": 1}), ValueError,
     "Unknown key 'bogus' in adaptive dict"),
]


@pytest.mark.parametrize("kwargs,exc,text", ORDER, ids=[repr(k) for k, _, _ in ORDER])
def test_reference_order(kwargs, exc, text):
    with pytest.raises(exc, match=re.escape(text)):
        Timelog(**kwargs).close()


def test_reopen_uses_the_same_messages():
    lg = Timelog(maintenance="disabled")
    lg.close()
    with pytest.raises(ValueError, match=re.escape("sealed_wait_ms must be 0-4294967295")):
        lg.reopen(sealed_wait_ms=-1)
    with pytest.raises(TypeError, match=re.escape("'bogus' is an invalid keyword argument for this function")):
        lg.reopen(bogus=1)
    assert lg.closed


# Methods: which argument error wins, and texts users match on (also measured on 1.4.0).
METHOD_CASES = [
    ("views('a')", ValueError, "views() requires both t1 and t2, or neither"),
    ("views('a', kind='x')", ValueError, "views() requires both t1 and t2, or neither"),
    ("views(1.5, 2, kind='x')", TypeError, "timestamps are integers in the log's time_unit, not float (1.5)"),
    ("views(1, 2, kind=1)", TypeError, "argument 3 must be str, not int"),
    ("views(1, 2, kind=None)", TypeError, "argument 3 must be str, not None"),
    ("views(1, 2, kind='x')", ValueError, "page_spans: kind must be 'segment', got 'x'"),
    ("page_spans(1.5, 2, kind='x')", TypeError, "'float' object cannot be interpreted as an integer"),
    ("page_spans('a', 1, kind=1)", TypeError, "'str' object cannot be interpreted as an integer"),
    ("page_spans(1, 2, 'x')", ValueError, "page_spans: kind must be 'segment', got 'x'"),
    ("range(5, 1)", ValueError, "t1 (5) must be <= t2 (1)"),
    ("delete_range(5, 1)", ValueError, "t1 (5) must be <= t2 (1)"),
    ("delete(5, 1)", ValueError, "t1 (5) must be <= t2 (1)"),
    ("views(5, 1)", ValueError, "t1 (5) must be <= t2 (1)"),
    ("append(True, 1)", TypeError, "timestamp must be int (bool not allowed)"),
    ("append(1, ts=True)", TypeError, "timestamp must be int (bool not allowed)"),
    ("append()", TypeError, "append() missing required argument 'obj_or_ts'"),
    ("at(1.5)", TypeError, "timestamps are integers in the log's time_unit, not float (1.5); use int(x), "
     "or a finer time_unit ('us'/'ns') if you need sub-unit precision"),
    ("prev_ts(1.5)", TypeError, "'float' object cannot be interpreted as an integer"),
    ("range(1.5, 'b')", TypeError, "'float' object cannot be interpreted as an integer"),
    ("bulk_append('a', 'b')", TypeError, "bulk_append() objects must be a sequence of payload objects, not str/bytes"),
    ("bulk_append('a', [1])", TypeError, "bulk_append() timestamps must be an int64 buffer"),
    ("__getitem__(slice(1, 2, 3))", ValueError, "Timelog slice step must be None or 1, not 3"),
    ("__delitem__(slice(1, 2, 3))", ValueError, "slice step must be None or 1, not 3"),
    ("extend('ab')", ValueError, "extend() expects (ts, obj) pairs"),
]


@pytest.mark.parametrize("expr,exc,text", METHOD_CASES, ids=[e for e, _, _ in METHOD_CASES])
def test_method_messages(log, expr, exc, text):
    log.extend([(1, 1), (2, 2), (3, 3)])
    with pytest.raises(exc) as info:
        eval("log." + expr, {"log": log})  # noqa: S307
    assert type(info.value) is exc
    assert text in str(info.value)


def test_timestamp_messages_from_python_and_rust_agree():
    from timelog._api import _coerce_ts

    lg = Timelog(maintenance="disabled")
    try:
        for bad in (1.5, True):
            with pytest.raises(TypeError) as py_err:
                _coerce_ts(bad)
            with pytest.raises(TypeError) as rs_err:
                lg.at(bad)
            assert str(py_err.value) == str(rs_err.value)
    finally:
        lg.close()
