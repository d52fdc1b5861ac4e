"""Helpers shared by the tests (importable as ``_util``)."""

from timelog import Timelog

TS_MIN, TS_MAX = -(2**63), 2**63 - 1


def manual(**kw):
    """A log whose maintenance is driven by hand (deterministic tests)."""
    return Timelog(maintenance="disabled", **kw)


def drain(log):
    """Flushes and fully compacts a manual-mode log."""
    log.flush()
    log.compact()
    while log.maint_step():
        pass


def ts_of(it):
    """The timestamps of an iterable of records."""
    return [t for t, _ in it]


def layered_log(rng, make, rounds=4, per_round=(50, 300), span=400, **kw):
    """A manual log whose records lie in every layer: the first round compacted (L1),
    the second flushed (L0), the rest in the memtable, with duplicate timestamps across
    rounds and a few deletes between writes. ``make(rng, ts)`` makes each payload.
    Returns the log; its iteration is the reference of the tests that use it."""
    log = manual(**kw)
    for rnd in range(rounds):
        log.extend([(t, make(rng, t)) for t in (rng.randrange(0, span) for _ in range(rng.randrange(*per_round)))])
        for _ in range(rng.randrange(0, 3)):
            a = rng.randrange(0, span)
            log.delete(a, a + rng.randrange(0, 30))
        if rnd == 0:
            drain(log)
        elif rnd == 1:
            log.flush()
    return log


def require(name):
    """Imports an optional test dependency (pyarrow, polars, duckdb): a skip without
    it, but a failure under ci.sh (TIMELOG_REQUIRE_INSTALLED set), which installs them."""
    import importlib
    import os

    import pytest

    if os.environ.get("TIMELOG_REQUIRE_INSTALLED"):
        return importlib.import_module(name)
    return pytest.importorskip(name)
