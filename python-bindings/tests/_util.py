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
