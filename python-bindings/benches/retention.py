#!/usr/bin/env python3
"""Retention soak: a time log run "forever" with a retention rule.

Appends batches of new records and, every ``--delete-every`` records, drops everything
older than the live window (``delete_before(now - live)``, ``cutoff(...)`` or
``del log[:...]``). Memory must stay flat and the payloads of deleted records must be
released. Uses the public ``timelog`` API only (no third-party modules), so it runs
unchanged against this package and against the reference ``timelog-lib``::

    python benches/retention.py --secs 20                      # exit 0 = pass
    /path/to/venv-ref/bin/python benches/retention.py --secs 20    # timelog-lib, same script

Phases:

1. fill: the live window (``--live`` records) is written once (not timed);
2. soak (``--secs``): ``extend`` batches of ``--batch`` records with consecutive
   timestamps, a retention delete every ``--delete-every`` records; RSS is sampled after
   every batch and a line is printed every ``--report`` seconds: elapsed, RSS, live
   records (``len(log)``), L0/L1 segments, tombstones, memtable runs, the binding's
   retired-payload queue, the engine's memory estimate (``n/a`` where the implementation
   has no such figure), and how many sampled payloads of deleted records are still alive;
3. checks:
   - memory is flat: the median RSS of the last fifth of the soak must not exceed
     ``--max-growth`` (1.25) x the median of the second fifth (the first fifth is
     warm-up), and the largest RSS of the second half must not exceed ``--max-peak``
     (1.75) x that second-fifth median. Medians of two equal windows, because RSS swings
     by +-20 % as the allocator takes and returns segment memory: one sample, or a peak
     against a trough, would flag noise, while a leak moves the median;
   - payloads are freed: a weakref is kept to every ``--sample``-th payload; after a final
     retention delete, ``flush()`` and ``compact()`` (repeated until nothing changes or
     ``--settle-secs`` pass) every sampled payload whose record was deleted must be dead,
     and every one whose record is live must still be alive and readable.

Exit status: 0 when both checks pass, 1 when memory is not flat, 2 when deleted payloads
are not freed (3: both); the last line says PASS or FAIL and why.

Payloads are instances of a small class with ``__slots__ = ("data", "__weakref__")``;
``data`` is ``bytes(--payload-bytes)`` (a fresh object per record when the size is > 1;
0 means ``None``).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
import weakref

import timelog
from timelog import Timelog

STYLES = ("delete_before", "cutoff", "del")

try:
    _PAGE = os.sysconf("SC_PAGE_SIZE")
except (AttributeError, ValueError, OSError):  # pragma: no cover - non-POSIX
    _PAGE = 4096


def rss_bytes() -> int:
    """Current resident set size of this process (bytes); peak RSS where /proc is absent."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:  # pragma: no cover - non-Linux
        import resource

        r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return r if sys.platform == "darwin" else r * 1024


def mib(n) -> str:
    return "n/a" if n is None else f"{n / 2**20:.1f}"


class Payload:
    """A weak-referenceable payload of (about) a given size."""

    __slots__ = ("data", "__weakref__")

    def __init__(self, data):
        self.data = data


def _get(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def engine_figures(log) -> dict:
    """The figures this implementation reports (None where it has none)."""
    # before stats(): this package releases queued payloads in stats()
    retired = getattr(log, "retired_queue_len", None)
    try:
        s = log.stats()
    except Exception:  # noqa: BLE001 - a soak reports what it can
        s = {}
    f = {
        "l0": _get(s, "storage", "segments_l0"),
        "l1": _get(s, "storage", "segments_l1"),
        "tombstones": _get(s, "storage", "tombstone_count"),
        "sealed": _get(s, "memtable", "sealed_runs"),
        "compactions": _get(s, "operational", "compactions_total"),
        "retired": retired,
        "engine_mem": None,
        "slab_slots": None,
    }
    # Undocumented extras of this package (private): the engine's own estimate of the
    # bytes it holds (segments + memtables) and the process-wide payload slab.
    mem = getattr(log, "_engine_memory_bytes", None)
    if mem is not None:
        try:
            f["engine_mem"] = sum(mem())
        except Exception:  # noqa: BLE001
            pass
    native = sys.modules.get("timelog._timelog")
    info = getattr(native, "_slab_info", None)
    if info is not None:
        f["slab_slots"] = info()["slots"]
    return f


def fmt(v) -> str:
    return "n/a" if v is None else str(v)


class Soak:
    def __init__(self, args):
        self.a = args
        self.log = Timelog(time_unit="ms", maintenance=args.maintenance, busy_policy="flush")
        self.next_ts = 0
        self.horizon = None  # everything below it has been deleted
        self.since_delete = 0
        self.refs = []  # (ts, weakref) of sampled payloads
        self.samples = []  # (t, rss)
        self.lines = []
        self.busy = 0

    # -- workload -------------------------------------------------------------------

    def payload(self):
        n = self.a.payload_bytes
        return Payload(None if n == 0 else bytes(n))

    def write_batch(self, n):
        t0 = self.next_ts
        ts = list(range(t0, t0 + n))
        objs = [self.payload() for _ in range(n)]
        k = self.a.sample
        first = (-t0) % k
        for i in range(first, n, k):
            self.refs.append((t0 + i, weakref.ref(objs[i])))
        try:
            self.log.extend(ts, objs)
        except timelog.TimelogBusyError:  # stored anyway (busy_policy="flush" avoids it)
            self.busy += 1
        self.next_ts += n
        self.since_delete += n
        if self.a.maintenance == "disabled":
            while self.log.maint_step():
                pass

    def retention_delete(self):
        h = self.next_ts - self.a.live
        if h <= 0 or h == self.horizon:
            return
        style = self.a.style
        if style == "delete_before":
            self.log.delete_before(h)
        elif style == "cutoff":
            self.log.cutoff(h)
        else:
            del self.log[:h]
        self.horizon = h
        self.since_delete = 0

    def maybe_delete(self):
        if self.since_delete >= self.a.delete_every:
            self.retention_delete()

    def zombies(self):
        """Sampled payloads of deleted records still alive."""
        h = self.horizon if self.horizon is not None else -1
        return sum(1 for t, r in self.refs if t < h and r() is not None)

    def prune_refs(self):
        """Forgets sampled weakrefs whose object died (keeps the list bounded)."""
        self.refs = [(t, r) for t, r in self.refs if r() is not None]

    # -- reporting ------------------------------------------------------------------

    def report(self, t, header=False):
        log = self.log
        f = engine_figures(log)
        live = len(log)
        rss = rss_bytes()
        if header:
            cols = (
                f"{'t[s]':>6} {'RSS MiB':>8} {'live':>9} {'L0':>3} {'L1':>4} {'tomb':>5} "
                f"{'sealed':>6} {'compact':>7} {'retired':>8} {'eng MiB':>8} {'slab':>9} "
                f"{'zombies':>7}"
            )
            print(cols, flush=True)
        line = (
            f"{t:6.1f} {mib(rss):>8} {live:>9} {fmt(f['l0']):>3} {fmt(f['l1']):>4} "
            f"{fmt(f['tombstones']):>5} {fmt(f['sealed']):>6} {fmt(f['compactions']):>7} "
            f"{fmt(f['retired']):>8} {mib(f['engine_mem']):>8} {fmt(f['slab_slots']):>9} "
            f"{self.zombies():>7}"
        )
        print(line, flush=True)
        self.lines.append((t, rss, live, f))

    # -- phases ---------------------------------------------------------------------

    def fill(self):
        while self.next_ts < self.a.live:
            self.write_batch(min(self.a.batch, self.a.live - self.next_ts))
        self.since_delete = 0

    def soak(self):
        a = self.a
        start = time.perf_counter()
        next_report = 0.0
        header = True
        while True:
            t = time.perf_counter() - start
            if t >= a.secs:
                break
            if t >= next_report:
                self.report(t, header)
                header = False
                next_report += a.report
                self.prune_refs()
            self.write_batch(a.batch)
            self.maybe_delete()
            self.samples.append((time.perf_counter() - start, rss_bytes()))
        self.samples.append((time.perf_counter() - start, rss_bytes()))
        self.report(time.perf_counter() - start)

    def memory_check(self):
        """Returns (ok, second-fifth median, last-fifth median, growth, second-half peak,
        peak ratio)."""
        a = self.a

        def within(lo, hi):
            return sorted(r for t, r in self.samples if lo <= t < hi)

        def median(v):
            return v[len(v) // 2] if v else 0

        base = max(median(within(a.secs / 5, 2 * a.secs / 5)), 1)
        last = median(within(4 * a.secs / 5, float("inf")))
        second = within(a.secs / 2, float("inf"))
        peak = second[-1] if second else self.samples[-1][1]
        growth, peaks = last / base, peak / base
        ok = growth <= a.max_growth and peaks <= a.max_peak
        return ok, base, last, growth, peak, peaks

    def payload_check(self):
        """Final retention delete, flush + compaction until the sampled payloads of
        deleted records are gone (or nothing changes for a while)."""
        a = self.a
        log = self.log
        self.retention_delete()
        h = self.horizon
        deadline = time.perf_counter() + a.settle_secs
        rounds = 0
        while True:
            rounds += 1
            log.flush()
            log.compact()
            if a.maintenance == "disabled":
                while log.maint_step():
                    pass
            else:
                time.sleep(0.2)  # compact() only requests it from the worker
            len(log)  # releases payloads queued by the worker (this package)
            gc.collect()
            zombies = [t for t, r in self.refs if t < h and r() is not None]
            if not zombies or time.perf_counter() >= deadline:
                break
        deleted = [t for t, _ in self.refs if t < h]
        kept = [(t, r) for t, r in self.refs if t >= h]
        lost = [t for t, r in kept if r() is None]
        # live sampled payloads must still be stored and readable
        wrong = 0
        for t, r in kept[:: max(1, len(kept) // 200)]:
            got = log[t]
            if len(got) != 1 or got[0] is not r():
                wrong += 1
        return zombies, deleted, lost, wrong, rounds

    def close(self):
        self.log.close()


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--secs", type=float, default=30.0, help="soak duration (after the fill)")
    p.add_argument("--live", type=int, default=1_000_000, help="records in the live window")
    p.add_argument("--batch", type=int, default=4096, help="records per extend() call")
    p.add_argument("--payload-bytes", type=int, default=16, help="bytes per payload object")
    p.add_argument(
        "--delete-every", type=int, default=None, help="records between deletes (default: --batch)"
    )
    p.add_argument("--style", choices=STYLES, default="delete_before")
    p.add_argument("--maintenance", choices=("background", "disabled"), default="background")
    p.add_argument("--report", type=float, default=2.0, help="seconds between report lines")
    p.add_argument("--sample", type=int, default=997, help="keep a weakref to every N-th payload")
    p.add_argument(
        "--max-growth",
        type=float,
        default=1.25,
        help="allowed ratio of the last fifth's median RSS to the second fifth's",
    )
    p.add_argument(
        "--max-peak",
        type=float,
        default=1.75,
        help="allowed ratio of the second half's largest RSS to the second fifth's median",
    )
    p.add_argument(
        "--settle-secs", type=float, default=30.0, help="time allowed for the final compaction"
    )
    a = p.parse_args(argv)
    if a.delete_every is None:
        a.delete_every = a.batch
    for name in ("live", "batch", "delete_every", "sample"):
        if getattr(a, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be > 0")
    if a.payload_bytes < 0:
        p.error("--payload-bytes must be >= 0")
    return a


def main(argv=None) -> int:
    a = parse_args(argv)
    impl = getattr(timelog, "__version__", "?")
    native = getattr(sys.modules.get("timelog._timelog"), "__file__", "?")
    print(
        f"timelog {impl} ({native}), Python {platform.python_version()}; live={a.live:,} "
        f"batch={a.batch} delete_every={a.delete_every} style={a.style} "
        f"payload_bytes={a.payload_bytes} maintenance={a.maintenance} secs={a.secs:g}",
        flush=True,
    )
    s = Soak(a)
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    s.fill()
    print(
        f"fill: {a.live:,} records in {time.perf_counter() - t0:.2f} s; RSS {mib(rss0)} -> "
        f"{mib(rss_bytes())} MiB",
        flush=True,
    )
    s.soak()
    written = s.next_ts - a.live
    print(f"soak: {written:,} records written ({written / a.secs / 1e6:.2f} M rec/s)", flush=True)

    mem_ok, base, last, growth, peak, peaks = s.memory_check()
    print(
        f"memory: median RSS of the second fifth {mib(base)} MiB, of the last fifth "
        f"{mib(last)} MiB: {growth:.2f}x (limit {a.max_growth}x); largest of the second half "
        f"{mib(peak)} MiB: {peaks:.2f}x (limit {a.max_peak}x) -> {'ok' if mem_ok else 'NOT FLAT'}",
        flush=True,
    )
    zombies, deleted, lost, wrong, rounds = s.payload_check()
    f = engine_figures(s.log)
    print(
        f"payloads: {len(deleted)} sampled deleted records, {len(zombies)} still alive after "
        f"{rounds} flush+compact rounds; {len(lost)} sampled live ones died, {wrong} misread; "
        f"live={len(s.log):,} L0={fmt(f['l0'])} L1={fmt(f['l1'])} "
        f"tombstones={fmt(f['tombstones'])} retired={fmt(f['retired'])} RSS {mib(rss_bytes())} MiB",
        flush=True,
    )
    pay_ok = not zombies and not lost and not wrong
    if zombies:
        print(f"  oldest zombie ts {min(zombies)}, newest {max(zombies)} (horizon {s.horizon})")
    s.close()
    gc.collect()
    rc = (0 if mem_ok else 1) | (0 if pay_ok else 2)
    why = []
    if not mem_ok:
        why.append(
            f"memory not flat (growth {growth:.2f}x, limit {a.max_growth}x; "
            f"peak {peaks:.2f}x, limit {a.max_peak}x)"
        )
    if not pay_ok:
        why.append(
            f"payloads: {len(zombies)} of deleted records alive, {len(lost)} live ones "
            f"lost, {wrong} misread"
        )
    print("PASS" if rc == 0 else "FAIL: " + "; ".join(why), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
