"""Threads (docs/api.md, section 13): readers run while a writer writes; snapshots stay stable;
long engine work does not hold the GIL."""

import sys
import threading
import time

import pytest

from _util import manual
from timelog import Timelog, TimelogBusyError


def test_readers_during_writes():
    log = Timelog(memtable_max_bytes=16 * 1024)
    stop = threading.Event()
    errors = []
    reads = [0]

    def writer():
        try:
            for i in range(20_000):
                try:
                    log.append(i, i)
                except TimelogBusyError:
                    pass
                if i % 2000 == 1999:
                    log.delete(i - 100, i - 50)
        finally:
            stop.set()

    def reader():
        try:
            while not stop.is_set():
                rows = list(log[:])
                ts = [t for t, _ in rows]
                assert ts == sorted(ts)
                assert all(t == v for t, v in rows)
                n = len(log)
                assert n >= 0
                log.to_dict(0, 1000)
                log.max_ts()
                reads[0] += 1
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    writer()
    for t in threads:
        t.join()
    assert not errors and reads[0] > 0
    deleted = sum(50 for _ in range(10))
    assert len(log) == 20_000 - deleted
    log.validate()
    log.close()


def test_snapshot_stability_across_threads():
    log = manual()
    log.extend([(t, t) for t in range(1000)])
    it = log.all()
    snapshot = None

    def mutate():
        log.extend([(t, -t) for t in range(500, 1500)])
        log.cutoff(800)
        log.flush()
        log.compact()
        while log.maint_step():
            pass

    t = threading.Thread(target=mutate)
    t.start()
    t.join()
    snapshot = list(it)
    assert snapshot == [(t, t) for t in range(1000)]
    assert log.min_ts() == 800
    log.close()


def test_concurrent_writers_are_safe():
    log = Timelog()
    n = 5000

    def w(k):
        for i in range(n):
            try:
                log.append(i * 4 + k, k)
            except TimelogBusyError:
                pass
        log.extend([(10**6 + i * 4 + k, k) for i in range(n)])

    ts = [threading.Thread(target=w, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(log) == 8 * n
    got = [t for t, _ in log]
    assert got == sorted(got) and len(set(got)) == 8 * n
    log.close()


def test_shared_iterator_is_memory_safe():
    log = manual()
    log.extend([(t, t) for t in range(50_000)])
    it = log.all()
    seen = []
    lock = threading.Lock()

    def consume():
        local = []
        while True:
            try:
                row = next(it)
            except StopIteration:
                break
            except RuntimeError:
                # "already in use": another thread is inside this iterator (only
                # possible if Python code ran inside it); the row was not consumed.
                continue
            local.append(row[0])
        with lock:
            seen.extend(local)

    ts = [threading.Thread(target=consume) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(seen) == list(range(50_000))
    log.close()


def _progress_during(fn):
    """How many times another Python thread ran its loop while `fn` executed.

    The switch interval is raised for the measurement, so the interpreter never
    hands the GIL over between bytecodes: the other thread (which gives the GIL
    back after every step) runs only while `fn` releases it in native code. A
    call that holds the GIL throughout yields no progress, however long it runs.
    """
    count = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            count[0] += 1
            time.sleep(0)  # gives the GIL back

    old = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    t = threading.Thread(target=spin)
    t.start()
    try:
        time.sleep(0.02)
        before = count[0]
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        after = count[0]
    finally:
        sys.setswitchinterval(old)
        stop.set()
        t.join()
    return after - before, elapsed


def test_flush_and_compaction_release_the_gil():
    log = manual(memtable_max_bytes=64 << 20)
    log.extend([(t, t) for t in range(400_000)])

    def maintenance():
        log.flush()
        log.compact()
        while log.maint_step():
            pass

    progress, elapsed = _progress_during(maintenance)
    assert progress > 0, f"no progress in {elapsed:.3f}s"
    log.close()


def test_backpressure_wait_releases_the_gil():
    # Appends release the GIL only while they wait for maintenance. Whether a batch of
    # appends waits at all depends on how fast the worker drains the sealed runs, so the
    # writes go on until the log has counted a wait (bounded), and the other thread's
    # progress is measured over exactly those writes.
    log = Timelog(memtable_max_bytes=1024, sealed_max_runs=1, sealed_wait_ms=200,
                  busy_policy="silent")
    log.stop_maintenance()
    log.start_maintenance()
    written = [0]

    def waits():
        return log.stats()["operational"]["backpressure_waits"]

    def writes():
        while waits() == 0 and written[0] < 2_000_000:
            for _ in range(2000):
                log.append(written[0], written[0])
                written[0] += 1

    progress, _ = _progress_during(writes)
    assert waits() > 0, f"no backpressure wait in {written[0]} appends"
    assert progress > 0
    assert len(log) == written[0]
    log.close()


def test_start_stop_maintenance_from_other_threads():
    log = Timelog()
    ts = [threading.Thread(target=log.stop_maintenance), threading.Thread(target=log.start_maintenance)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    log.start_maintenance()
    log.close()


def test_close_from_another_thread_while_busy_is_refused_or_clean():
    log = manual()
    log.extend([(t, t) for t in range(100_000)])
    it = log.all()
    errs = []

    def closer():
        try:
            log.close()
        except Exception as e:
            errs.append(e)

    t = threading.Thread(target=closer)
    t.start()
    t.join()
    assert errs and not log.closed
    assert len(list(it)) == 100_000
    log.close()


def test_manual_iteration_threads_many_logs():
    logs = [manual() for _ in range(4)]

    def work(lg, k):
        for i in range(2000):
            lg.append(i, (k, i))
        assert [v for _, v in lg] == [(k, i) for i in range(2000)]

    ts = [threading.Thread(target=work, args=(lg, k)) for k, lg in enumerate(logs)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for lg in logs:
        lg.close()


@pytest.mark.parametrize("n_readers", [2])
def test_views_and_exports_from_threads(n_readers):
    np = pytest.importorskip("numpy")
    log = manual()
    log.extend([(t, float(t)) for t in range(20_000)])
    log.flush()
    out = []

    def r():
        a, b = log.to_numpy()
        spans = list(log.views())
        out.append((len(a), float(b.sum()), sum(len(s) for s in spans)))
        for s in spans:
            s.close()

    ts = [threading.Thread(target=r) for _ in range(n_readers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert out == [(20_000, float(np.arange(20_000).sum()), 20_000)] * n_readers
    log.close()
