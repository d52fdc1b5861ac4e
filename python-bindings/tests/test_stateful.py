"""Hypothesis stateful test: the log against a pure-Python model (records with sequence
numbers + sequenced range tombstones), through writes, deletes, maintenance and reads,
including snapshot iterators opened along the way.

The number of examples is modest by default (CI); raise it with
``TIMELOG_HYPOTHESIS_EXAMPLES=2000 pytest tests/test_stateful.py``.
"""

import gc
import os
import warnings

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from timelog import Timelog

TS_MIN, TS_MAX = -(2**63), 2**63 - 1

EXAMPLES = int(os.environ.get("TIMELOG_HYPOTHESIS_EXAMPLES", "40"))

timestamps = st.one_of(
    st.integers(-40, 40),
    st.integers(-40, 40),
    st.sampled_from([TS_MIN, TS_MIN + 1, TS_MAX - 1, TS_MAX]),
)
bad_timestamps = st.sampled_from([True, 1.5, "7", None, 2**63, -(2**63) - 1])


class Model:
    """Records ``(ts, seq, value)`` and tombstones ``(lo, hi_exclusive, seq)``."""

    def __init__(self):
        self.seq = 0
        self.records = []
        self.tombs = []

    def next_seq(self):
        self.seq += 1
        return self.seq

    def add(self, ts, value):
        self.records.append((ts, self.next_seq(), value))

    def delete(self, lo, hi):
        if lo < hi:
            self.tombs.append((lo, hi, self.next_seq()))

    def visible(self, lo=TS_MIN, hi=None):
        out = []
        for ts, s, v in sorted(self.records, key=lambda r: (r[0], r[1])):
            if ts < lo or (hi is not None and ts >= hi):
                continue
            if any(a <= ts < b and s < q for a, b, q in self.tombs):
                continue
            out.append((ts, v))
        return out


class TimelogMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.log = Timelog(maintenance="disabled", busy_policy="silent",
                           memtable_max_bytes=512, target_page_bytes=256, sealed_max_runs=64)
        self.model = Model()
        self.value = 0
        self.iters = []          # (iterator, expected remaining rows)

    def new_value(self):
        self.value += 1
        return self.value

    # ----- writes ---------------------------------------------------------------

    @rule(ts=timestamps)
    def append(self, ts):
        v = self.new_value()
        self.log.append(ts, v)
        self.model.add(ts, v)

    @rule(ts=timestamps)
    def setitem(self, ts):
        v = self.new_value()
        self.log[ts] = v
        self.model.add(ts, v)

    @rule(tss=st.lists(st.one_of(timestamps, bad_timestamps), max_size=40), columns=st.booleans())
    def extend_lenient(self, tss, columns):
        vals = [self.new_value() for _ in tss]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if columns:
                self.log.extend(tss, vals)
            else:
                self.log.extend(list(zip(tss, vals)))
        for t, v in zip(tss, vals):
            if type(t) is int and TS_MIN <= t <= TS_MAX:
                self.model.add(t, v)

    @rule(tss=st.lists(timestamps, max_size=40), bad=st.none() | bad_timestamps)
    def extend_strict(self, tss, bad):
        vals = [self.new_value() for _ in tss]
        pairs = list(zip(tss, vals))
        if bad is not None:
            pairs.insert(len(pairs) // 2, (bad, "bad"))
            try:
                self.log.extend(pairs, insert_on_error=False)
            except (TypeError, OverflowError):
                return
            raise AssertionError("strict extend accepted a bad timestamp")
        self.log.extend(pairs, insert_on_error=False)
        for t, v in pairs:
            self.model.add(t, v)

    @rule(tss=st.lists(timestamps, max_size=40))
    def bulk_append(self, tss):
        np = pytest.importorskip("numpy")
        vals = [self.new_value() for _ in tss]
        self.log.bulk_append(np.array(tss, dtype=np.int64), vals)
        for t, v in zip(tss, vals):
            self.model.add(t, v)

    # ----- deletes ----------------------------------------------------------------

    @rule(a=timestamps, b=timestamps)
    def delete_range(self, a, b):
        lo, hi = min(a, b), max(a, b)
        self.log.delete(lo, hi)
        self.model.delete(lo, hi)

    @rule(ts=timestamps)
    def delete_point(self, ts):
        if ts == TS_MAX:
            with pytest.raises(ValueError):
                self.log.delete(ts)
            return
        del self.log[ts]
        self.model.delete(ts, ts + 1)

    @rule(ts=timestamps)
    def cutoff(self, ts):
        self.log.cutoff(ts)
        self.model.delete(TS_MIN, ts)

    # ----- maintenance --------------------------------------------------------------

    @rule()
    def flush(self):
        self.log.flush()

    @rule()
    def maint_step(self):
        self.log.maint_step()

    @rule()
    def compact_all(self):
        self.log.flush()
        self.log.compact()
        while self.log.maint_step():
            pass

    # ----- snapshot iterators -------------------------------------------------------

    @rule(a=timestamps, b=st.none() | timestamps)
    def open_iterator(self, a, b):
        if len(self.iters) >= 4:
            return
        it = self.log[a:b]
        hi = b if b is None else max(a, b)
        expected = self.model.visible(a, hi) if (b is None or b >= a) else []
        assert len(it) == len(expected)
        self.iters.append((it, expected))

    @precondition(lambda self: self.iters)
    @rule(i=st.integers(0, 3), n=st.integers(0, 5))
    def consume_iterator(self, i, n):
        it, expected = self.iters[i % len(self.iters)]
        got = it.next_batch(n)
        assert got == expected[:n]
        del expected[:n]
        assert len(it) == len(expected)
        if len(got) < n:
            assert it.closed
            self.iters = [(x, e) for x, e in self.iters if x is not it]

    @precondition(lambda self: self.iters)
    @rule(i=st.integers(0, 3))
    def reverse_iterator(self, i):
        k = i % len(self.iters)
        it, expected = self.iters[k]
        r = reversed(it)
        assert it.closed and len(r) == len(expected)
        self.iters[k] = (r, expected[::-1])

    # ----- reads --------------------------------------------------------------------

    @rule(a=timestamps, b=timestamps)
    def check_slice(self, a, b):
        expected = self.model.visible(a, b) if b >= a else []
        assert list(self.log[a:b]) == expected
        assert list(reversed(self.log[a:b])) == expected[::-1]
        if b >= a:
            assert list(self.log.range(a, b)) == expected
        assert self.log.to_dict(a, b) == dict(expected)

    @rule(ts=timestamps)
    def check_point(self, ts):
        expected = [v for t, v in self.model.visible(ts, None) if t == ts]
        assert self.log[ts] == expected
        assert (ts in self.log) == bool(expected)

    @rule(ts=timestamps)
    def check_navigation(self, ts):
        vis = [t for t, _ in self.model.visible()]
        after = [t for t in vis if t > ts]
        before = [t for t in vis if t < ts]
        assert self.log.next_ts(ts) == (after[0] if after else None)
        assert self.log.prev_ts(ts) == (before[-1] if before else None)

    @invariant()
    def matches_model(self):
        vis = self.model.visible()
        assert len(self.log) == len(vis)
        assert list(self.log) == vis
        ts = [t for t, _ in vis]
        assert self.log.min_ts() == (ts[0] if ts else None)
        assert self.log.max_ts() == (ts[-1] if ts else None)

    def teardown(self):
        for it, _ in self.iters:
            it.close()
        self.iters = []
        self.log.validate()
        gc.collect()
        self.log.close()


TimelogMachine.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

test_timelog_against_model = TimelogMachine.TestCase
