"""Deleting (docs/api.md, section 9): every delete form, bounds, coercion, tombstones."""

import pytest

from _util import TS_MAX, TS_MIN, drain, manual, ts_of
from timelog import Timelog, TimelogBusyError


@pytest.fixture
def ten(log):
    log.extend([(t, t) for t in range(10)])
    return log


def test_delete_forms(ten):
    log = ten
    assert log.delete(0) is None
    log.delete(2, 4)
    del log[5]
    del log[7:9]
    assert ts_of(log) == [1, 4, 6, 9]
    assert log.cutoff(5) is None
    assert ts_of(log) == [6, 9]
    log.delete(9, None)
    assert ts_of(log) == [6]
    assert log.delete_range(6, 7) is None
    log[3] = "new"
    assert log.delete_before(4) is None
    assert list(log) == []


def test_delete_bounds_rules(ten):
    log = ten
    with pytest.raises(ValueError):
        log.delete(5, 3)
    with pytest.raises(ValueError):
        log.delete_range(5, 3)
    with pytest.raises(ValueError):
        del log[5:3]
    for step in (2, -1, True, 1.0):
        with pytest.raises(ValueError):
            del log[0:10:step]
    del log[0:1:1]
    log.delete(5, 5)
    log.delete_range(5, 5)
    del log[5:5]
    del log[:2]
    del log[8:]
    assert ts_of(log) == [2, 3, 4, 5, 6, 7]


def test_delete_coercion(ten):
    log = ten
    for bad, exc in ((True, TypeError), (1.5, TypeError), ("1", TypeError), (2**63, OverflowError)):
        with pytest.raises(exc):
            log.delete(bad)
        with pytest.raises(exc):
            log.delete(1, bad)
        with pytest.raises(exc):
            del log[bad]
        with pytest.raises(exc):
            log.cutoff(bad)
        with pytest.raises(exc):
            log.delete_range(bad, 5)          # quirk 4 fixed: strict
        with pytest.raises(exc):
            log.delete_before(bad)
    with pytest.raises(TypeError):
        del log[1.5:3]
    with pytest.raises(TypeError):
        log.delete_range(1)
    with pytest.raises(TypeError):
        log.delete_range(t1=1, t2=2)
    with pytest.raises(TypeError):
        log.delete_before()
    with pytest.raises(TypeError):
        log.delete()
    assert len(log) == 10


def test_point_delete_at_ts_max(log):
    log[TS_MAX] = "top"
    log[0] = "zero"
    with pytest.raises(ValueError):
        log.delete(TS_MAX)
    with pytest.raises(ValueError):
        del log[TS_MAX]
    del log[:]
    log.delete(0, TS_MAX)
    log.cutoff(TS_MAX)
    assert list(log) == [(TS_MAX, "top")]


def test_delete_at_ts_min(log):
    log[TS_MIN] = "bottom"
    log.delete_before(TS_MIN)            # no-op
    log.cutoff(TS_MIN)
    assert len(log) == 1
    log.delete(TS_MIN)
    assert len(log) == 0


def test_delete_where_nothing_is_stored(log):
    log.delete(100, 200)
    assert log.stats()["storage"]["tombstone_count"] == 1
    assert len(log) == 0


def test_sequenced_tombstones():
    log = Timelog()
    log[10] = "A"
    del log[5:15]
    log[10] = "B"
    assert log[10] == ["B"]
    log.cutoff(1000)
    log[50] = "after"
    assert list(log) == [(50, "after")]
    log.close()


def test_sequenced_tombstones_with_out_of_order_and_maintenance(log):
    log.extend([(t, "old") for t in range(100)])
    log.flush()
    log.extend([(t, "mid") for t in range(50, 60)])
    del log[40:70]
    log.extend([(t, "new") for t in (65, 45, 55)])
    log.flush()
    log.append(41, "newest")
    expect = [(t, "old") for t in range(40)] + [(41, "newest"), (45, "new"), (55, "new"),
                                                (65, "new")] + [(t, "old") for t in range(70, 100)]
    assert list(log) == expect
    drain(log)
    assert list(log) == expect


def test_deletes_visible_everywhere(log):
    log.extend([(t, t) for t in range(10)])
    del log[3:6]
    assert len(log) == 7 and 4 not in log and log[4] == [] and log.next_ts(2) == 6
    assert log.prev_ts(6) == 2 and sorted(log.to_dict()) == [0, 1, 2, 6, 7, 8, 9]


def test_tombstone_count_drops_after_compaction(log):
    log.extend([(t, t) for t in range(10)])
    log.flush()
    log.delete(1, 3)
    log.delete(2, 5)
    assert log.stats()["storage"]["tombstone_count"] == 2
    drain(log)
    assert log.stats()["storage"]["tombstone_count"] == 0
    assert ts_of(log) == [0, 5, 6, 7, 8, 9]


def test_deletes_and_busy_policy():
    log = manual(memtable_max_bytes=256, sealed_max_runs=1, busy_policy="raise")
    raised = 0
    for i in range(500):
        try:
            log.delete(i)
        except TimelogBusyError:
            raised += 1
    assert raised > 0 and log.busy_events == raised
    log.close()
