"""Bad input for every public method: the exception docs/api.md names, never a crash,
and nothing written by a call that failed."""

import array

import pytest

from _util import manual
from timelog import Timelog

BAD_TS = [
    (True, TypeError),
    (False, TypeError),
    (1.5, TypeError),
    (float("inf"), TypeError),
    ("1", TypeError),
    (b"1", TypeError),
    ([1], TypeError),
    (object(), TypeError),
    (2**63, OverflowError),
    (-(2**63) - 1, OverflowError),
]

# (name, call building the arguments from one bad timestamp)
TS_METHODS = [
    ("append(ts, obj)", lambda l, b: l.append(b, "x")),
    ("append(obj, ts=)", lambda l, b: l.append("x", ts=b)),
    ("__setitem__", lambda l, b: l.__setitem__(b, "x")),
    ("__getitem__", lambda l, b: l[b]),
    ("slice start", lambda l, b: l[b:5]),
    ("slice stop", lambda l, b: l[0:b]),
    ("at", lambda l, b: l.at(b)),
    ("__contains__", lambda l, b: b in l),
    ("range t1", lambda l, b: l.range(b, 5)),
    ("range t2", lambda l, b: l.range(0, b)),
    ("since", lambda l, b: l.since(b)),
    ("until", lambda l, b: l.until(b)),
    ("equal", lambda l, b: l.equal(b)),
    ("point", lambda l, b: l.point(b)),
    ("next_ts", lambda l, b: l.next_ts(b)),
    ("prev_ts", lambda l, b: l.prev_ts(b)),
    ("delete", lambda l, b: l.delete(b)),
    ("delete t2", lambda l, b: l.delete(0, b)),
    ("__delitem__", lambda l, b: l.__delitem__(b)),
    ("del slice", lambda l, b: l.__delitem__(slice(b, 5))),
    ("cutoff", lambda l, b: l.cutoff(b)),
    ("delete_range", lambda l, b: l.delete_range(b, 5)),
    ("delete_before", lambda l, b: l.delete_before(b)),
    ("views", lambda l, b: l.views(b, 5)),
    ("page_spans", lambda l, b: l.page_spans(0, b)),
    ("to_dict", lambda l, b: l.to_dict(b)),
    ("to_numpy", lambda l, b: l.to_numpy(None, b)),
    ("extend strict", lambda l, b: l.extend([(b, "x")], insert_on_error=False)),
    ("extend strict columns", lambda l, b: l.extend([b], ["x"], insert_on_error=False)),
    ("Timelog(min_ts=)", lambda l, b: Timelog(min_ts=b)),
]


@pytest.mark.parametrize("bad,exc", BAD_TS, ids=[repr(b)[:20] for b, _ in BAD_TS])
@pytest.mark.parametrize("name,call", TS_METHODS, ids=[n for n, _ in TS_METHODS])
def test_bad_timestamps(name, call, bad, exc):
    if name == "to_numpy":
        pytest.importorskip("numpy")
    log = manual()
    log.extend([(1, "a"), (2, "b")])
    log.flush()
    with pytest.raises(exc):
        call(log, bad)
    assert list(log) == [(1, "a"), (2, "b")]
    log.close()


def test_lenient_extend_skips_every_bad_timestamp_kind():
    import warnings

    log = manual()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        log.extend([(b, "x") for b, _ in BAD_TS] + [(7, "ok")])
        log.extend([b for b, _ in BAD_TS] + [8], ["x"] * len(BAD_TS) + ["ok"])
    assert len(w) == 2
    assert list(log) == [(7, "ok"), (8, "ok")]
    assert log.extend_skipped == 2 * len(BAD_TS)
    log.close()


@pytest.mark.parametrize(
    "call,exc",
    [
        (lambda l: l.append(), TypeError),
        (lambda l: l.append(1, 2, 3), TypeError),
        (lambda l: l.append(1, "x", ts=2), TypeError),
        (lambda l: l.append(1, "x", foo=2), TypeError),
        (lambda l: l.extend(), TypeError),
        (lambda l: l.extend(5), TypeError),
        (lambda l: l.extend(None), TypeError),
        (lambda l: l.extend([5]), ValueError),
        (lambda l: l.extend([(1, 2, 3)]), ValueError),
        (lambda l: l.extend([()]), ValueError),
        (lambda l: l.extend(["abc"]), ValueError),
        (lambda l: l.extend([None]), ValueError),
        (lambda l: l.extend([1, 2], ["a"]), ValueError),
        (lambda l: l.extend([1], ["a"], None, None), TypeError),
        (lambda l: l.extend([(1, "a")], foo=1), TypeError),
        (lambda l: l.bulk_append([1], ["a"]), TypeError),
        (lambda l: l.bulk_append(array.array("i", [1]), ["a"]), ValueError),
        (lambda l: l.bulk_append(array.array("d", [1.0]), ["a"]), ValueError),
        (lambda l: l.bulk_append(array.array("Q", [1]), ["a"]), ValueError),
        (lambda l: l.bulk_append(array.array("q", [1]), ["a", "b"]), ValueError),
        (lambda l: l.bulk_append(array.array("q", [1]), "a"), TypeError),
        (lambda l: l.bulk_append(array.array("q", [1])), TypeError),
        (lambda l: l.bulk_append(array.array("q", [1]), ["a"], foo=1), TypeError),
        (lambda l: l[0:5:2], ValueError),
        (lambda l: l[0:5:0], ValueError),
        (lambda l: l[0:5:-1], ValueError),
        (lambda l: l[None], TypeError),
        (lambda l: l[(1, 2)], TypeError),
        (lambda l: l.__setitem__(slice(1, 2), "x"), TypeError),
        (lambda l: l.__delitem__(slice(0, 5, 2)), ValueError),
        (lambda l: l.__delitem__(slice(5, 0)), ValueError),
        (lambda l: l.delete(5, 0), ValueError),
        (lambda l: l.delete(2**63 - 1), ValueError),
        (lambda l: l.delete_range(5, 0), ValueError),
        (lambda l: l.delete_range(1), TypeError),
        (lambda l: l.delete(), TypeError),
        (lambda l: l.range(5, 0), ValueError),
        (lambda l: l.range(0), TypeError),
        (lambda l: l.range(0, 1, 2), TypeError),
        (lambda l: l.since(), TypeError),
        (lambda l: l.views(0), ValueError),
        (lambda l: l.views(5, 0), ValueError),
        (lambda l: l.views(kind="page"), ValueError),
        (lambda l: l.views(kind=None), TypeError),
        (lambda l: l.views(kind=3), TypeError),
        (lambda l: l.views(0, 1, "segment"), TypeError),
        (lambda l: l.page_spans(0), TypeError),
        (lambda l: l.page_spans(0, 1, kind=b"segment"), TypeError),
        (lambda l: l.to_dict(1, 2, 3), TypeError),
        (lambda l: l.to_numpy(dtype="bool"), TypeError),
        (lambda l: l.to_numpy(dtype="nonsense"), TypeError),
        (lambda l: l.flush(1), TypeError),
        (lambda l: l.stats(1), TypeError),
        (lambda l: l.close(1), TypeError),
        (lambda l: l.maint_step(1), TypeError),
        (lambda l: l.at(), TypeError),
        (lambda l: l.reopen(), Exception),
    ],
)
def test_bad_arguments(call, exc):
    log = manual()
    log.extend([(1, "a")])
    try:
        with pytest.raises(exc):
            call(log)
    except ModuleNotFoundError:  # pragma: no cover - numpy absent
        pytest.skip("numpy")
    assert list(log) == [(1, "a")]
    log.close()


def test_iterator_bad_arguments():
    log = manual()
    log.extend([(1, "a")])
    it = log.all()
    for bad, exc in ((-1, ValueError), (1.5, TypeError), ("1", TypeError), (None, TypeError),
                     (-(2**70), ValueError)):
        with pytest.raises(exc):
            it.next_batch(bad)
    with pytest.raises(TypeError):
        it.next_batch(1, 2)
    with pytest.raises(TypeError):
        it.close(1)
    with pytest.raises(TypeError):
        it.view(1)
    assert it.next_batch(2**70) == [(1, "a")]
    log.close()


def test_span_bad_arguments():
    log = manual()
    log.extend([(1, "a")])
    log.flush()
    s = next(iter(log.views()))
    ov = s.objects()
    with pytest.raises(TypeError):
        s.close(1)
    with pytest.raises(TypeError):
        s.objects(1)
    with pytest.raises(IndexError):
        ov[1]
    with pytest.raises(TypeError):
        ov["0"]
    with pytest.raises(TypeError):
        ov[0:1]
    with pytest.raises(AttributeError):
        s.start_ts = 5
    del ov
    s.close()
    log.close()


def test_constructor_bad_arguments():
    for kw, exc in (
        ({"time_unit": 5}, TypeError),
        ({"memtable_max_bytes": None}, TypeError),
        ({"memtable_max_bytes": "1"}, TypeError),
        ({"window_size": -5}, ValueError),
        ({"compaction": "x"}, TypeError),
        ({"adaptive": {"target_records": -1}}, ValueError),
        ({"adaptive": {None: 1}}, TypeError),
        ({"min_ts": "0"}, TypeError),
        ({"nonsense": 0}, TypeError),
    ):
        with pytest.raises(exc):
            Timelog(**kw)
