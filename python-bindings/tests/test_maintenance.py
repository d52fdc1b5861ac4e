"""Maintenance and stats() (docs/api.md, sections 11 and 12)."""

import time

import pytest

from _util import drain, manual
from timelog import Timelog, TimelogError


def test_manual_maintenance(log):
    assert log.maint_step() is False
    log.extend([(t, t) for t in range(10)])
    assert log.maint_step() is False
    log.flush()
    st = log.stats()
    assert st["storage"]["segments_l0"] == 1 and st["memtable"]["active_records"] == 0
    assert st["operational"]["flushes_total"] == 1
    log.compact()
    assert log.maint_step() is True
    assert log.maint_step() is False
    st = log.stats()
    assert (st["storage"]["segments_l0"], st["storage"]["segments_l1"]) == (0, 1)
    assert st["operational"]["compactions_total"] == 1
    assert st["compaction_selection"]["select_calls"] >= 1


def test_maint_step_flushes_sealed_memruns():
    log = manual(memtable_max_bytes=1024, sealed_max_runs=100)
    for i in range(500):
        log.append(i, i)
    before = log.stats()["memtable"]["sealed_runs"]
    assert before > 0
    assert log.maint_step() is True
    assert log.stats()["memtable"]["sealed_runs"] < before
    while log.maint_step():
        pass
    assert log.stats()["memtable"]["sealed_runs"] == 0 and len(log) == 500
    log.close()


def test_l0_trigger_compacts_automatically(log):
    for k in range(9):
        log.extend([(k * 10 + t, t) for t in range(10)])
        log.flush()
    assert log.stats()["storage"]["segments_l0"] == 9
    while log.maint_step():
        pass
    st = log.stats()["storage"]
    assert st["segments_l0"] == 0 and st["segments_l1"] >= 1
    assert len(log) == 90


def test_mode_errors():
    m = manual()
    with pytest.raises(TimelogError):
        m.start_maintenance()
    assert m.stop_maintenance() is None
    m.close()
    b = Timelog(maintenance="background")
    with pytest.raises(TimelogError):
        b.maint_step()
    assert b.start_maintenance() is None
    b.stop_maintenance()
    b.stop_maintenance()
    with pytest.raises(TimelogError):
        b.maint_step()
    assert b.maintenance_mode == "background"
    b.extend([(t, t) for t in range(10)])
    assert b.flush() is None
    assert b.stats()["storage"]["segments_l0"] == 1
    b.compact()
    time.sleep(0.3)
    assert b.stats()["storage"]["segments_l0"] == 1      # nothing happens while stopped
    b.start_maintenance()
    deadline = time.time() + 10
    while b.stats()["storage"]["segments_l0"] and time.time() < deadline:
        time.sleep(0.02)
    assert b.stats()["storage"]["segments_l1"] == 1
    b.close()


def test_background_worker_flushes_sealed_memtables():
    log = Timelog(memtable_max_bytes=4096)
    for i in range(5000):
        log.append(i, i)
    deadline = time.time() + 10
    while log.stats()["memtable"]["sealed_runs"] and time.time() < deadline:
        time.sleep(0.02)
    st = log.stats()
    assert st["memtable"]["sealed_runs"] == 0 and st["operational"]["flushes_total"] > 0
    assert len(log) == 5000
    log.close()


@pytest.mark.parametrize("name", ["flush", "compact", "maint_step", "validate", "start_maintenance",
                                  "stop_maintenance", "stats", "close"])
def test_maintenance_methods_take_no_arguments(log, name):
    with pytest.raises(TypeError):
        getattr(log, name)(1)


def test_flush_empty_and_with_readers(log):
    log.flush()
    log[1] = 1
    it = log.all()
    log.flush()
    log.compact()
    while log.maint_step():
        pass
    assert list(it) == [(1, 1)]


def test_validate(log):
    assert log.validate() is None
    log.extend([(t, t) for t in range(1000)])
    log.flush()
    del log[10:20]
    assert log.validate() is None
    drain(log)
    assert log.validate() is None


def test_stats_shape(log):
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
    assert isinstance(s["adaptive"]["ewma_density"], float)
    for group in ("storage", "memtable", "operational", "compaction_selection"):
        for k, v in s[group].items():
            assert v is None or type(v) is int, (group, k)
    assert log.stats() is not s


def test_stats_values(log):
    log.extend([(5, "a"), (1, "b")])
    log.append(0, "c")
    s = log.stats()
    assert s["storage"]["records_estimate"] == 3
    assert (s["storage"]["min_ts"], s["storage"]["max_ts"]) == (0, 5)
    assert s["memtable"]["active_records"] + s["memtable"]["ooo_records"] == 3
    log.flush()
    s = log.stats()
    assert s["storage"]["pages_total"] >= 1 and s["operational"]["flushes_total"] >= 1
    del log[0:6]
    assert log.stats()["storage"]["records_estimate"] == 0
    drain(log)
    s = log.stats()["storage"]
    assert (s["min_ts"], s["max_ts"], s["tombstone_count"]) == (None, None, 0)


def test_stats_counters_restart_at_reopen():
    log = manual()
    log.extend([(1, 1)])
    log.flush()
    log.close()
    log.reopen(maintenance="disabled")
    assert log.stats()["operational"]["flushes_total"] == 0
    log.close()


def test_delete_debt_threshold_option_runs(log):
    log2 = manual(delete_debt_threshold=0.1)
    log2.extend([(t, t) for t in range(1000)])
    log2.flush()
    del log2[0:500]
    log2.flush()
    while log2.maint_step():
        pass
    assert len(log2) == 500
    log2.close()
