"""Payload object lifetime: stored objects stay alive while their records do and are
released once the engine drops them (checked with weak references)."""

import gc
import sys
import time
import weakref

import pytest

from _util import drain, manual
from timelog import Timelog


class Payload:
    pass


def test_identity_before_and_after_maintenance(log):
    p = Payload()
    log[1] = p
    assert log[1][0] is p and next(iter(log.all()))[1] is p
    drain(log)
    assert log[1][0] is p and log.to_dict()[1] is p
    assert next(iter(log.views())).objects()[0] is p


def test_each_record_holds_one_reference(log):
    p = Payload()
    base = sys.getrefcount(p)
    log.extend([(i, p) for i in range(100)])
    assert sys.getrefcount(p) == base + 100
    drain(log)
    assert sys.getrefcount(p) == base + 100
    log.cutoff(50)
    drain(log)
    assert sys.getrefcount(p) == base + 50
    log.close()
    assert sys.getrefcount(p) == base


def test_released_after_delete_and_compaction(log):
    p = Payload()
    q = Payload()
    rp, rq = weakref.ref(p), weakref.ref(q)
    log[1] = p
    log[2] = q
    del p, q
    gc.collect()
    assert rp() is not None
    del log[1]
    gc.collect()
    assert rp() is not None                 # logically deleted, physically still there
    drain(log)
    gc.collect()
    assert rp() is None and rq() is not None
    log.close()
    assert rq() is None


def test_released_after_delete_flush_of_memtable(log):
    p = Payload()
    rp = weakref.ref(p)
    log[1] = p
    del p
    log.cutoff(10)
    drain(log)
    assert rp() is None


def test_released_on_close_without_gc():
    objs = [Payload() for _ in range(1000)]
    refs = [weakref.ref(o) for o in objs]
    log = manual(memtable_max_bytes=2048)
    log.extend(list(enumerate(objs)))
    log.flush()
    log.extend([(i + 5000, o) for i, o in enumerate(objs)])
    del objs
    log.close()
    assert all(r() is None for r in refs)


def test_released_when_log_is_collected():
    p = Payload()
    rp = weakref.ref(p)
    log = Timelog()
    log.extend([(i, p) for i in range(10)])
    del p, log
    gc.collect()
    assert rp() is None


def test_released_when_reader_outlives_log_reference():
    p = Payload()
    rp = weakref.ref(p)
    log = manual()
    log[1] = p
    del p
    it = log.all()
    del log
    gc.collect()
    assert rp() is not None
    assert next(it)[1] is rp()
    del it
    gc.collect()
    assert rp() is None


def test_background_compaction_releases_on_next_python_call():
    p = Payload()
    rp = weakref.ref(p)
    log = Timelog(maintenance_wakeup_ms=10)
    log[1] = p
    del p
    log.cutoff(5)
    log.flush()
    log.compact()
    deadline = time.time() + 10
    while rp() is not None and time.time() < deadline:
        len(log)                                # any Python-thread call drains retired payloads
        time.sleep(0.01)
        gc.collect()
    assert rp() is None
    assert log.retired_queue_len == 0 or isinstance(log.retired_queue_len, int)
    log.close()


def test_iterators_do_not_leak_payloads(log):
    p = Payload()
    rp = weakref.ref(p)
    log[1] = p
    del p
    for _ in range(3):
        list(log.all())
        log.all().next_batch(10)
        log.to_dict()
    del log[1]
    drain(log)
    gc.collect()
    assert rp() is None


def test_cycle_through_payload_is_collected():
    log = manual()
    box = [log]
    log[1] = box
    it = log.all()
    log[2] = it
    r = weakref.ref(log)
    del log, box, it
    gc.collect()
    assert r() is None


@pytest.mark.parametrize("n", [1, 10_000])
def test_refcounts_balance_over_many_operations(n):
    p = Payload()
    base = sys.getrefcount(p)
    log = manual(memtable_max_bytes=4096, busy_policy="flush")
    log.extend([(i, p) for i in range(n)])
    log.append(n, p)
    log[n + 1] = p
    list(log)
    log.to_dict()
    log.delete(0, n // 2 + 1)
    drain(log)
    log.close()
    gc.collect()
    assert sys.getrefcount(p) == base
