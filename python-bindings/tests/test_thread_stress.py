"""Threaded stress test that checks the data, not just the absence of a crash.

Writers (append, ``log[ts] = obj``, both ``extend`` forms, ``bulk_append``; batches of
up to 63 records and, now and then, of 1,024 to 2,047, whose engine part runs without
the GIL), a deleter (every delete form) and readers (slices, ``next_batch``, ``to_dict``,
navigation) run at once on a log whose background worker flushes and compacts
underneath them; then ``close()`` races with readers.

What is checked:

* every record a reader sees is one that was written, at the timestamp it was written
  with (each payload carries its own timestamp and a unique id), rows are sorted, and no
  record appears twice in one read;
* in the half of the key space that is never deleted, each read is a consistent
  snapshot: if it contains a writer's n-th write it contains all of that writer's
  earlier writes, batches are seen whole or not at all, and the count seen by one
  reader never decreases;
* after all threads are joined, the log holds exactly what a model computes: a record
  written before a delete that covers it (by a global ticket order) is gone, one
  written after every covering delete is present (writes that overlapped a delete in
  time may go either way);
* ``close()`` racing with readers either is refused (``TimelogError``, the log is left
  intact) or succeeds once no reader is inside; readers then get ``TimelogError`` and
  every read that completed returned exactly the final contents.

Uses only the public API and ``threading``, so it runs unchanged on a free-threaded
interpreter. ``TIMELOG_STRESS_SECS`` sets the length of the write phase (default 3 s).
"""

import array
import os
import random
import threading
import time

from timelog import Timelog, TimelogError

N = 1 << 20  # [0, N): never deleted; [N, 2N): deleted at random
SECS = float(os.environ.get("TIMELOG_STRESS_SECS", "3"))
N_WRITERS = 3
N_READERS = 2


class Model:
    """Tickets give a global order of the start and end of every write and delete."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ticket = 0
        self.writes = {}  # uid -> (ts, start, end, batch)
        self.published = [[] for _ in range(N_WRITERS)]  # per writer: (seq, ts, batch)
        self.deletes = []  # (t1, t2, start, end)

    def begin(self):
        with self.lock:
            self.ticket += 1
            return self.ticket

    def end_write(self, w, items, start, batch):
        with self.lock:
            self.ticket += 1
            for seq, ts in items:
                self.writes[(w, seq)] = (ts, start, self.ticket, batch)
                self.published[w].append((seq, ts, batch))

    def end_delete(self, t1, t2, start):
        with self.lock:
            self.ticket += 1
            self.deletes.append((t1, t2, start, self.ticket))

    def snapshot_published(self, w):
        with self.lock:
            return list(self.published[w])


def _writer(log, model, w, stop, errors):
    rng = random.Random(1000 + w)
    seq = 0
    batch = 0
    try:
        while not stop.is_set():
            batch += 1
            op = rng.randrange(5)
            n = 1 if op < 2 else rng.randrange(1, 64)
            if op >= 2 and rng.random() < 1 / 32:
                n = rng.randrange(1024, 2048)
            items = []
            for _ in range(n):
                seq += 1
                items.append((seq, rng.randrange(0, 2 * N)))
            payloads = [(ts, w, s) for s, ts in items]
            start = model.begin()
            if op == 0:
                log.append(items[0][1], payloads[0])
            elif op == 1:
                log[items[0][1]] = payloads[0]
            elif op == 2:
                log.extend([(p[0], p) for p in payloads])
            elif op == 3:
                log.extend([p[0] for p in payloads], payloads)
            else:
                log.bulk_append(array.array("q", [p[0] for p in payloads]), payloads)
            model.end_write(w, items, start, (w, batch))
    except BaseException as e:  # pragma: no cover - reported by the test
        errors.append(("writer", w, repr(e)))


def _deleter(log, model, stop, errors):
    rng = random.Random(7)
    try:
        while not stop.is_set():
            a = rng.randrange(N, 2 * N)
            b = min(2 * N, a + rng.randrange(1, N // 8))
            op = rng.randrange(4)
            start = model.begin()
            if op == 0:
                log.delete(a, b)
            elif op == 1:
                del log[a:b]
            elif op == 2:
                log.delete_range(a, b)
            else:
                log.delete(a)
                b = a + 1
            model.end_delete(a, b, start)
            time.sleep(0.002)
    except BaseException as e:  # pragma: no cover
        errors.append(("deleter", repr(e)))


def _check_rows(rows, lo, hi, where):
    seen = set()
    prev = None
    for ts, obj in rows:
        assert type(ts) is int and lo <= ts < hi, (where, ts)
        assert prev is None or prev <= ts, (where, "not sorted", prev, ts)
        prev = ts
        assert isinstance(obj, tuple) and len(obj) == 3 and obj[0] == ts, (where, ts, obj)
        uid = obj[1:]
        assert uid not in seen, (where, "duplicate", obj)
        seen.add(uid)
    return seen


def _reader(log, model, r, stop, errors, stats):
    rng = random.Random(500 + r)
    last_stable = 0
    try:
        while not stop.is_set():
            # The never-deleted half: a consistent snapshot, growing.
            it = log[0:N]
            expected_len = len(it)
            if rng.random() < 0.5:
                rows = list(it)
            else:
                rows = []
                while True:
                    chunk = it.next_batch(rng.randrange(1, 500))
                    rows.extend(chunk)
                    if not chunk or it.closed:
                        break
            assert len(rows) == expected_len, ("len(it) at creation", len(rows), expected_len)
            uids = _check_rows(rows, 0, N, "stable half")
            assert len(rows) >= last_stable, ("count went down", last_stable, len(rows))
            last_stable = len(rows)
            max_seq = {}
            for w, seq in uids:
                max_seq[w] = max(max_seq.get(w, 0), seq)
            for w, m in max_seq.items():
                batches_seen = {}
                for seq, ts, batch in model.snapshot_published(w):
                    if ts >= N:
                        continue
                    present = (w, seq) in uids
                    if seq <= m:
                        # earlier write of the same thread: must be in the snapshot
                        assert present, ("missing earlier write", w, seq, "seen", m)
                    batches_seen.setdefault(batch, set()).add(present)
                for batch, states in batches_seen.items():
                    assert len(states) == 1, ("torn batch", batch)
            # The churned half and the whole log: valid records only.
            a = rng.randrange(0, 2 * N)
            _check_rows(list(log[a : a + N // 4]), a, a + N // 4, "random range")
            d = log.to_dict(N, 2 * N)
            for ts, obj in d.items():
                assert obj[0] == ts and N <= ts < 2 * N
            t = log.next_ts(rng.randrange(0, 2 * N))
            assert t is None or 0 <= t < 2 * N
            stats["reads"] += 1
    except BaseException as e:  # pragma: no cover
        errors.append(("reader", r, repr(e)))


def _expected(model):
    """uid -> "present" / "absent" / "either" after every thread was joined."""
    # The deletes that may cover a timestamp, by slices of the key space.
    width = N // 64
    near = {}
    for d in model.deletes:
        for k in range(d[0] // width, (d[1] - 1) // width + 1):
            near.setdefault(k, []).append(d)
    out = {}
    for uid, (ts, start, end, _batch) in model.writes.items():
        state = "present"
        for t1, t2, dstart, dend in near.get(ts // width, ()):
            if not t1 <= ts < t2:
                continue
            if end < dstart:
                state = "absent"
                break
            if not dend < start:
                state = "either"
        out[uid] = state
    return out


def test_threaded_stress_against_a_model():
    log = Timelog(
        maintenance="background",
        busy_policy="flush",
        memtable_max_bytes=64 * 1024,
        max_delta_segments=4,
        maintenance_wakeup_ms=5,
    )
    model = Model()
    stop = threading.Event()
    errors = []
    stats = {"reads": 0}
    threads = [threading.Thread(target=_writer, args=(log, model, w, stop, errors)) for w in range(N_WRITERS)]
    threads.append(threading.Thread(target=_deleter, args=(log, model, stop, errors)))
    threads += [
        threading.Thread(target=_reader, args=(log, model, r, stop, errors, stats)) for r in range(N_READERS)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + SECS
    while time.monotonic() < deadline and not errors:
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(60)
        assert not t.is_alive()
    assert not errors, errors
    assert stats["reads"] > 0

    # Phase 1 result: the log equals the model.
    expected = _expected(model)
    rows = list(log)
    got = _check_rows(rows, 0, 2 * N, "final")
    assert got <= set(expected), "records that were never written"
    must = {u for u, s in expected.items() if s == "present"}
    must_not = {u for u, s in expected.items() if s == "absent"}
    assert must <= got, ("lost records", len(must - got))
    assert not (must_not & got), ("deleted records visible", len(must_not & got))
    assert len(log) == len(rows)
    assert len(model.writes) > 1000 and must_not, (len(model.writes), len(must_not))
    log.flush()
    log.compact()
    log.validate()
    final = list(log)
    assert final == rows  # maintenance changes nothing visible

    # Phase 2: close() races with readers.
    outcome = {"complete_reads": 0, "closed_seen": 0, "bad": []}
    olock = threading.Lock()
    go = threading.Event()
    calm = threading.Event()  # set when close() has raced long enough

    mid = threading.Event()  # a reader holds an unfinished iterator
    tried = threading.Event()  # ... and close() was attempted meanwhile

    def close_racer_reader(first):
        go.wait()
        if first:
            # One deterministic collision: close() while an iterator is mid-way.
            it = log[:]
            head = it.next_batch(1)
            mid.set()
            tried.wait(10)
            with olock:
                if head + it.next_batch(len(final)) != final:
                    outcome["bad"].append("the interrupted read differs from the final contents")
        while True:
            if calm.is_set():
                # Let close() through, then check that the log refuses new reads.
                while not log.closed:
                    time.sleep(0.001)
            try:
                it = log[:]
            except TimelogError:
                with olock:
                    outcome["closed_seen"] += 1
                return
            try:
                # Small batches with pauses: other threads (close()) run mid-iteration.
                rows = []
                while True:
                    chunk = it.next_batch(4096)
                    rows.extend(chunk)
                    if len(chunk) < 4096:
                        break
                    time.sleep(0)
            except TimelogError as e:  # a pinned iterator must not be closed under us
                with olock:
                    outcome["bad"].append(repr(e))
                return
            with olock:
                if rows != final:
                    outcome["bad"].append("read differs from the final contents")
                outcome["complete_reads"] += 1
            time.sleep(0.0005)

    readers = [threading.Thread(target=close_racer_reader, args=(i == 0,)) for i in range(3)]
    for t in readers:
        t.start()
    go.set()
    assert mid.wait(10)
    refused = 0
    try:
        log.close()
    except TimelogError:
        refused += 1
    finally:
        tried.set()
    assert refused == 1 and not log.closed, "close() succeeded under an unfinished iterator"
    race_until = time.monotonic() + 1.0
    give_up = time.monotonic() + 30
    while True:
        try:
            log.close()
            break
        except TimelogError:
            refused += 1
            assert not log.closed
            assert time.monotonic() < give_up, "close() never got a chance"
            if time.monotonic() > race_until:
                calm.set()
            time.sleep(0.0002)
    for t in readers:
        t.join(30)
        assert not t.is_alive()
    assert log.closed
    assert not outcome["bad"], outcome["bad"]
    assert outcome["closed_seen"] == len(readers)
    assert outcome["complete_reads"] > 0
    assert refused > 0, "close() never raced with a reader"
    either = sum(1 for s in expected.values() if s == "either")
    print(
        f"writes={len(model.writes)} deletes={len(model.deletes)} present={len(must)} "
        f"absent={len(must_not)} either={either} kept_either={len(got) - len(must)} "
        f"reads={stats['reads']} close_refused={refused} reads_in_race={outcome['complete_reads']}"
    )


def test_gil_declaration_on_free_threaded_builds():
    """Until a free-threaded run has passed, the module declares that it needs the GIL:
    a free-threaded interpreter must have re-enabled it when timelog was imported."""
    import sys
    import sysconfig

    import pytest

    if not sysconfig.get_config_var("Py_GIL_DISABLED"):
        pytest.skip("not a free-threaded interpreter")
    if os.environ.get("PYTHON_GIL") == "0":
        pytest.skip("PYTHON_GIL=0 overrides the module's declaration")
    import timelog._timelog  # noqa: F401

    assert sys._is_gil_enabled()
