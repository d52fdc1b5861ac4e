"""Long-running logs with a retention rule (a log that runs "forever", dropping old records): the Python side
must not grow without bound — slab slots are reused, slab chunks go back once empty,
the retired-payload queue keeps up, and payloads of deleted records die once the engine
drops their records.

`timelog._timelog._slab_info()` (private, process-wide) reports the payload slab:
`slots` in use, `chunks` allocated (2**16 slots, 768 KiB each), `retired` queue length.
The soak itself (`benches/retention.py`) runs here only when TIMELOG_SOAK_SECS is set to
a positive number of seconds (unset or 0: skipped).
"""

import gc
import os
import subprocess
import sys
import time
import weakref
from pathlib import Path

import pytest

import timelog._timelog as native
from _util import drain, manual
from timelog import Timelog

CHUNK = 1 << 16
STYLES = ["delete_before", "cutoff", "del"]


class P:
    """A weak-referenceable payload."""

    __slots__ = ("i", "__weakref__")

    def __init__(self, i=0):
        self.i = i


def slab():
    gc.collect()
    return native._slab_info()


def settle():
    """Releases whatever the process-wide retired queue holds (close drains it all)."""
    gc.collect()
    manual().close()


def retention_delete(log, style, h):
    if style == "delete_before":
        log.delete_before(h)
    elif style == "cutoff":
        log.cutoff(h)
    else:
        del log[:h]


def alive(refs):
    return sum(r() is not None for r in refs)


@pytest.mark.parametrize("style", STYLES)
def test_deleted_payloads_die_after_compaction(style):
    log = manual()
    objs = [P(i) for i in range(20_000)]
    refs = [weakref.ref(o) for o in objs]
    log.extend(list(range(20_000)), objs)
    del objs
    drain(log)
    retention_delete(log, style, 15_000)
    assert alive(refs) == 20_000  # deleted records keep payloads until dropped
    drain(log)
    len(log)
    assert alive(refs[:15_000]) == 0
    assert alive(refs[15_000:]) == 5_000
    assert [o.i for o in log[15_000][:1]] == [15_000]
    log.close()


@pytest.mark.parametrize("style", STYLES)
def test_deleted_payloads_die_background_compaction(style):
    log = Timelog()
    objs = [P(i) for i in range(20_000)]
    refs = [weakref.ref(o) for o in objs]
    log.extend(list(range(20_000)), objs)
    del objs
    log.flush()
    retention_delete(log, style, 15_000)
    deadline = time.monotonic() + 20
    while alive(refs[:15_000]) and time.monotonic() < deadline:
        log.flush()
        log.compact()  # asynchronous: the worker does it
        time.sleep(0.05)
        len(log)  # releases what the worker queued
    assert alive(refs[:15_000]) == 0
    assert alive(refs[15_000:]) == 5_000
    log.close()


def test_slab_slots_reused_under_retention():
    """Retention with a live window of 50k records for 40 windows: the slab stays at
    the window's size (slots are recycled), it does not grow with what was written."""
    before = slab()
    log = manual()
    live, batch, t = 50_000, 4096, 0
    peak_slots = peak_chunks = 0
    for step in range(500):
        log.extend(list(range(t, t + batch)), [P() for _ in range(batch)])
        t += batch
        log.delete_before(t - live)
        if step % 4 == 3:
            drain(log)
        s = native._slab_info()
        peak_slots = max(peak_slots, s["slots"] - before["slots"])
        peak_chunks = max(peak_chunks, s["chunks"] - before["chunks"])
    assert t > 40 * live
    drain(log)
    s = slab()
    assert s["slots"] - before["slots"] == len(log) == live
    # in use: the window + 4 batches not yet compacted away + what the engine has not
    # rewritten yet; never proportional to the 2M written
    assert peak_slots < 3 * live
    assert peak_chunks <= (3 * live) // CHUNK + 2
    log.close()
    assert slab()["slots"] == before["slots"]


def test_slab_chunks_returned_after_peak():
    """Chunks do not only grow: after a peak of 2M payloads is deleted and dropped, the
    slab goes back to (at most) one spare chunk beyond what is in use."""
    before = slab()
    log = manual()
    n = 2_000_000
    obj = P()
    log.extend(list(range(n)), [obj] * n)
    log.flush()
    peak = slab()
    assert peak["slots"] - before["slots"] == n
    assert peak["chunks"] >= n // CHUNK
    log.delete_before(n)
    drain(log)
    len(log)
    after = slab()
    assert after["slots"] == before["slots"]
    assert after["chunks"] <= before["chunks"] + 1
    assert after["chunks"] <= peak["chunks"] - n // CHUNK + 1  # given back
    assert sys.getrefcount(obj) == 2
    # and they come back when needed
    log.extend(list(range(n, n + 200_000)), [obj] * 200_000)
    assert slab()["slots"] == before["slots"] + 200_000
    assert [o is obj for o in log[n + 199_999]] == [True]
    log.close()
    assert slab()["slots"] == before["slots"]


def test_slab_chunks_returned_with_readers_and_other_logs():
    """A chunk is only returned when none of its slots is in use: slots held by a live
    iterator's snapshot, or by another log, keep their payloads readable."""
    keep = manual()
    keep.extend(list(range(1000)), [P(i) for i in range(1000)])
    log = manual()
    n = 300_000
    log.extend(list(range(n)), [P(i) for i in range(n)])
    log.flush()
    it = log[n - 10 :]
    log.delete_before(n)
    drain(log)
    assert [o.i for _, o in it] == list(range(n - 10, n))  # still readable
    del it
    gc.collect()
    log.delete_before(n)  # drains what the reader released
    assert slab()["retired"] == 0
    assert [o.i for _, o in keep[995:]] == [995, 996, 997, 998, 999]
    log.extend(list(range(n, n + 100)), [P(i) for i in range(100)])
    assert [o.i for _, o in log[:]] == list(range(100))
    log.close()
    keep.close()


def test_drain_batch_limit_keeps_up_with_retention():
    """With drain_batch_limit set, a write releases at least twice what it stores, so
    the retired queue (and the dead payloads in it) cannot grow without bound when
    every batch retires as many payloads as it stores."""
    settle()
    log = manual(drain_batch_limit=64)
    live, batch, t = 50_000, 4096, 0
    refs = []
    worst = 0
    for step in range(200):
        objs = [P() for _ in range(batch)]
        refs.append((t, weakref.ref(objs[0])))
        log.extend(list(range(t, t + batch)), objs)
        del objs
        t += batch
        log.delete_before(t - live)
        if step % 4 == 3:
            log.flush()
            log.compact()
            while log.maint_step():
                pass
        worst = max(worst, log.retired_queue_len)
    # About one drain cycle's worth (4 batches retired at once), never the ~770k deleted.
    # The queue is process-wide and retirement follows epoch reclamation, which can lag
    # by a few cycles on a loaded machine (31k was seen once with 2 busy cores), hence
    # the margin; unbounded growth would reach hundreds of thousands.
    assert worst <= 12 * batch
    gone = [r for ts, r in refs if ts < t - live - 16 * batch]
    assert len(gone) > 150
    assert alive(gone) == 0
    log.close()


def test_drain_batch_limit_single_appends():
    """Single appends keep the documented drain_batch_limit behaviour: at most the limit (or 2)
    payloads released per append."""
    settle()
    log = manual(drain_batch_limit=2)
    log.extend(list(range(100)), [P() for _ in range(100)])
    log.delete_before(100)
    it = log[:]  # a reader holds the records while the engine drops them
    drain(log)
    del it
    gc.collect()
    q = log.retired_queue_len
    assert q == 100
    log.append(1000, None)
    assert log.retired_queue_len == q - 2
    log.close()


def test_delete_releases_payloads_queued_by_readers():
    """A log that is only deleted from still releases payloads whose last handle was
    dropped elsewhere (here: a reader's snapshot) — deletes drain the queue."""
    settle()
    log = manual()
    objs = [P() for _ in range(10_000)]
    refs = [weakref.ref(o) for o in objs]
    log.extend(list(range(10_000)), objs)
    del objs
    log.flush()
    it = log[:]
    log.delete_before(10_000)
    drain(log)
    assert alive(refs) == 10_000  # the reader's snapshot holds them
    del it
    gc.collect()
    assert log.retired_queue_len == 10_000
    log.delete_before(5)
    assert log.retired_queue_len == 0
    assert alive(refs) == 0
    log.close()


@pytest.mark.skipif(
    float(os.environ.get("TIMELOG_SOAK_SECS") or 0) <= 0,
    reason="set TIMELOG_SOAK_SECS=20 to run the retention soak (benches/retention.py)",
)
def test_retention_soak():
    secs = os.environ["TIMELOG_SOAK_SECS"]
    script = Path(__file__).resolve().parent.parent / "benches" / "retention.py"
    r = subprocess.run(
        [sys.executable, str(script), "--secs", secs, "--report", "2"],
        capture_output=True,
        text=True,
        timeout=float(secs) * 4 + 120,
    )
    print(r.stdout)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
