"""The read paths against a pure-Python model, on logs whose records are spread over
every layer (compacted L1, flushed L0, the memtable), with duplicate timestamps across
layers and tombstones between writes: ``log[ts]``/``at``/``in`` (the point list built
in place), iteration with and without keeping the rows (the reused row tuple),
``list()`` of views, reversed views, ``next_ts``/``prev_ts``, ``to_dict`` and
``to_numpy`` (borrowed snapshot ranges)."""

import random

import pytest

from _util import drain, manual


class Model:
    """Records ``(ts, seq, obj)`` and tombstones ``(lo, hi, seq)`` (half-open); a record
    is visible unless a later tombstone covers it."""

    def __init__(self):
        self.recs = []
        self.tombs = []
        self.seq = 0

    def add(self, ts, obj):
        self.seq += 1
        self.recs.append((ts, self.seq, obj))

    def delete(self, lo, hi):
        self.seq += 1
        self.tombs.append((lo, hi, self.seq))

    def rows(self, lo=None, hi=None):
        out = [
            (t, s, o)
            for t, s, o in self.recs
            if (lo is None or t >= lo)
            and (hi is None or t < hi)
            and not any(a <= t < b and ts > s for a, b, ts in self.tombs)
        ]
        out.sort(key=lambda r: (r[0], r[1]))
        return [(t, o) for t, _, o in out]


def build(seed):
    """A log and its model: four rounds of writes (with duplicates of earlier
    timestamps) and deletes, the first compacted, the second flushed, the last left
    in the memtable."""
    rng = random.Random(seed)
    log = manual()
    m = Model()
    for rnd in range(4):
        batch = []
        for _ in range(rng.randrange(50, 300)):
            t = rng.randrange(0, 400)
            obj = f"r{rnd}-{t}-{rng.random()}"  # a distinct object per record
            batch.append((t, obj))
            m.add(t, obj)
        log.extend(batch)
        for _ in range(rng.randrange(0, 3)):
            a = rng.randrange(0, 400)
            b = a + rng.randrange(0, 30)
            log.delete(a, b)
            m.delete(a, b)
        if rnd == 0:
            drain(log)
        elif rnd == 1:
            log.flush()
    return log, m


SEEDS = range(6)


@pytest.fixture(params=SEEDS)
def layered(request):
    log, m = build(request.param)
    yield log, m
    log.close()


def test_point_reads_match_the_model(layered):
    log, m = layered
    by_ts = {}
    for t, o in m.rows():
        by_ts.setdefault(t, []).append(o)
    for t in range(-2, 403):
        want = by_ts.get(t, [])
        got = log[t]
        assert got == want, t
        assert all(a is b for a, b in zip(got, want))
        assert log.at(t) == want
        assert (t in log) == bool(want)
        assert [o for _, o in log.equal(t)] == want


def test_iteration_matches_the_model(layered):
    log, m = layered
    want = m.rows()
    assert list(log[:]) == want
    # The for-loop pattern (the iterator refills the row tuple the loop dropped).
    seen = []
    for ts, obj in log[:]:
        seen.append((ts, obj))
    assert seen == want
    # Rows kept between steps are never overwritten.
    it = log[:]
    kept = [next(it) for _ in range(min(5, len(want)))]
    rest = [r for r in it]
    assert kept + rest == want
    assert [tuple(r) for r in kept] == want[: len(kept)]


@pytest.mark.parametrize("bounds", [(0, 1000), (37, 38), (100, 160), (399, 400), (50, 50), (60, 20), (-5, 0)])
def test_views_match_the_model(layered, bounds):
    log, m = layered
    a, b = bounds
    want = m.rows(a, max(a, b))
    assert list(log[a:b]) == want
    assert len(log[a:b]) == len(want)
    assert list(reversed(log[a:b])) == want[::-1]
    assert log[a:b].next_batch(len(want) + 1) == want
    it = log[a:b]
    head = [next(it) for _ in range(min(3, len(want)))]
    assert head + list(reversed(reversed(it))) == want


def test_reversed_partially_consumed_matches_the_model(layered):
    log, m = layered
    want = m.rows()
    it = log[:]
    head = [next(it) for _ in range(40)]  # past the first look-ahead buffer
    r = reversed(it)
    tail = [next(r) for _ in range(45)]
    middle = list(reversed(r))
    assert head + middle + tail[::-1] == want


def test_navigation_matches_the_model(layered):
    log, m = layered
    ts = sorted({t for t, _ in m.rows()})
    for q in range(-3, 404):
        above = [t for t in ts if t > q]
        below = [t for t in ts if t < q]
        assert log.next_ts(q) == (above[0] if above else None), q
        assert log.prev_ts(q) == (below[-1] if below else None), q
    assert log.min_ts() == (ts[0] if ts else None)
    assert log.max_ts() == (ts[-1] if ts else None)


@pytest.mark.parametrize("bounds", [(None, None), (100, 200), (150, 150), (300, None), (None, 10)])
def test_exports_match_the_model(layered, bounds):
    log, m = layered
    a, b = bounds
    want = m.rows(a, b)
    assert log.to_dict(a, b) == dict(want)
    pytest.importorskip("numpy")
    # The payloads are strings (numpy would convert them itself): export a log of
    # numbers built from the same rows instead.
    num = manual()
    try:
        num.extend([(t, i) for i, (t, _) in enumerate(m.rows())])
        ts, vals = num.to_numpy(a, b)
        ref = [(t, i) for i, (t, _) in enumerate(m.rows()) if (a is None or t >= a) and (b is None or t < b)]
        assert ts.tolist() == [t for t, _ in ref]
        assert vals.tolist() == [float(i) for _, i in ref]
    finally:
        num.close()


def test_exports_of_every_layer_with_numbers():
    """to_numpy/to_dict over segments and memtable at once, with tombstones."""
    np = pytest.importorskip("numpy")
    log = manual()
    try:
        log.extend([(t, t) for t in range(0, 3000, 3)])
        drain(log)
        log.extend([(t, -t) for t in range(1, 3000, 3)])
        log.flush()
        log.delete(1000, 1500)
        log.extend([(t, t * 10) for t in range(2, 3000, 3)])
        rows = list(log[:])
        ts, vals = log.to_numpy()
        assert ts.tolist() == [t for t, _ in rows]
        assert vals.tolist() == [float(v) for _, v in rows]
        ts, vals = log.to_numpy(500, 2000, dtype=np.int64)
        part = list(log[500:2000])
        assert ts.tolist() == [t for t, _ in part] and vals.tolist() == [v for _, v in part]
        assert log.to_dict() == dict(rows)
        assert all(not (1000 <= t < 1500) or t % 3 == 2 for t, _ in rows)
    finally:
        log.close()
