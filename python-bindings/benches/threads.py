#!/usr/bin/env python3
"""Threads and the GIL: several writers into one log, and a writer among readers.

Uses the public ``timelog`` API only and the workload of ``bench.py`` (imported from
this directory), so it runs unchanged against this package and against the reference
``timelog-lib``::

    python benches/threads.py --json ours.json
    /path/to/venv-ref/bin/python benches/threads.py --json ref.json   # from outside the tree

Scenarios (N records of the canonical workload in batches of 4,096 pairs, a fresh
``Timelog(busy_policy="flush")`` with the default background maintenance per run):

  writers   the N records written with ``extend`` by 1 thread, then by 2 threads
            writing disjoint halves (``--split halves``: the first and the second half
            of the batches; ``interleave``: even and odd batches), each run ending
            with ``flush()``. Reported: records/s of both, and the ratio
            2 threads / 1 thread (>= 1: a second writer does not slow the log down).
  control   the writers scenario with a pure-Python loop over each batch instead of
            ``extend`` (1 thread, then 2 threads): what CPython itself gives for two
            threads against one on this machine, for reading the writers' ratio.
  readers   the first quarter of the records is written and flushed (not timed); then
            one writer thread writes the rest with ``extend`` (and ``flush()``) while
            0, then 2 reader threads scan ``for ts, obj in log[a:a + W]`` over random
            windows of the part written so far (``--window`` W timestamps), until the
            writer is done. Reported: the writer's records/s without and with the
            readers, the ratio with / without (the writer's share), and the readers'
            rows/s (both readers together).

What a fair share is: with a GIL, the three threads of the readers scenario take turns
(CPython asks the holder to give the GIL up after ``sys.getswitchinterval()``, 5 ms),
so a writer whose whole ``extend`` held the GIL would keep about 1/3 of its solo
throughput, and work it does without the GIL (while the readers run) adds to that. A
share below 1/3 means the writer loses turns: typically it gave the GIL up for a short
stretch and then waited a whole switch interval to get it back, batch after batch. The
script reports the share and flags it against 1/3 (``--fair``). With a different
number of readers R, the fair share is 1/(R + 1).

The machine may be noisy: every repeat runs both variants of a scenario back to back,
in alternating order (1, 2 / 2, 1 / 1, 2 ...), and the medians of the per-repeat
ratios are reported along with the median rates. A run should last many switch
intervals (the default N takes 0.1 to 0.3 s per run here): in a run of a few
milliseconds, a single wait for the GIL decides the share.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import BATCH, impl_name, workload  # noqa: E402


def new_log():
    from timelog import Timelog

    return Timelog(busy_policy="flush")


def run_threads(targets) -> None:
    threads = [threading.Thread(target=t) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# ----- writers ----------------------------------------------------------------------------


def split(batches: list, ways: int, how: str) -> list[list]:
    if ways == 1:
        return [batches]
    if how == "interleave":
        return [batches[i::ways] for i in range(ways)]
    k = (len(batches) + ways - 1) // ways
    return [batches[i * k:(i + 1) * k] for i in range(ways)]


def timed_threads(runs: list, start: threading.Barrier, then=None) -> float:
    """Starts a thread per function of `runs` (each waits on `start` first), releases
    them together, and returns the seconds until all have finished (and `then()`,
    if given, has returned)."""
    workers = [threading.Thread(target=r) for r in runs]
    gc.collect()
    for w in workers:
        w.start()
    start.wait()
    t0 = time.perf_counter()
    for w in workers:
        w.join()
    if then is not None:
        then()
    return time.perf_counter() - t0


def writers_once(batches: list, n: int, ways: int, how: str) -> float:
    """Records/s of `ways` threads writing `batches` (split between them) + flush()."""
    log = new_log()
    parts = split(batches, ways, how)
    start = threading.Barrier(ways + 1)

    def write(part):
        def run():
            start.wait()
            ext = log.extend
            for b in part:
                ext(b)
        return run

    dt = timed_threads([write(p) for p in parts], start, then=log.flush)
    assert len(log) == n, (len(log), n)
    log.close()
    return n / dt


def scenario_writers(batches: list, n: int, repeats: int, how: str) -> dict:
    one, two, ratios = [], [], []
    for r in range(repeats):
        order = (1, 2) if r % 2 == 0 else (2, 1)
        got = {k: writers_once(batches, n, k, how) for k in order}
        one.append(got[1])
        two.append(got[2])
        ratios.append(got[2] / got[1])
        print(
            f"  writers [{r + 1}/{repeats}] 1 thread {got[1] / 1e6:.2f} M rec/s, "
            f"2 threads {got[2] / 1e6:.2f} M rec/s, ratio {ratios[-1]:.2f}",
            file=sys.stderr,
        )
    return {
        "split": how,
        "one_thread_rec_s": one,
        "two_threads_rec_s": two,
        "ratios": ratios,
        "median_one": statistics.median(one),
        "median_two": statistics.median(two),
        "median_ratio": statistics.median(ratios),
    }


def control_once(batches: list, ways: int) -> float:
    """Batches/s of `ways` threads summing the values of `batches` in Python."""
    parts = split(batches, ways, "interleave")
    start = threading.Barrier(ways + 1)

    def loop(part):
        def run():
            start.wait()
            for b in part:
                s = 0
                for _t, v in b:
                    s += v
        return run

    return len(batches) / timed_threads([loop(p) for p in parts], start)


def scenario_control(batches: list, repeats: int) -> dict:
    ratios = []
    for r in range(repeats):
        order = (1, 2) if r % 2 == 0 else (2, 1)
        got = {k: control_once(batches, k) for k in order}
        ratios.append(got[2] / got[1])
    return {"ratios": ratios, "median_ratio": statistics.median(ratios)}


# ----- a writer among readers ---------------------------------------------------------------


def readers_once(batches: list, ends: list[int], n: int, prefill: int, n_readers: int, window: int) -> dict:
    """One writer writes batches[prefill:] while `n_readers` threads scan."""
    log = new_log()
    for b in batches[:prefill]:
        log.extend(b)
    log.flush()
    todo = batches[prefill:]
    written = sum(len(b) for b in todo)
    progress = [ends[prefill - 1]]
    done = threading.Event()
    start = threading.Barrier(n_readers + 1)
    out = {"writer_s": 0.0, "rows": [0] * n_readers, "scans": [0] * n_readers}

    def writer():
        start.wait()
        t0 = time.perf_counter()
        ext = log.extend
        for i, b in enumerate(todo):
            ext(b)
            progress[0] = ends[prefill + i]
        log.flush()
        out["writer_s"] = time.perf_counter() - t0
        done.set()

    def reader(k):
        def run():
            rng = random.Random(100 + k)
            rows = scans = 0
            start.wait()
            while not done.is_set():
                a = rng.randrange(1, max(2, progress[0] - window))
                for _ts, _obj in log[a:a + window]:
                    rows += 1
                scans += 1
            out["rows"][k] = rows
            out["scans"][k] = scans
        return run

    gc.collect()
    run_threads([writer] + [reader(k) for k in range(n_readers)])
    assert len(log) == n, (len(log), n)
    log.close()
    dt = out["writer_s"]
    return {
        "writer_rec_s": written / dt,
        "reader_rows_s": sum(out["rows"]) / dt,
        "scans": sum(out["scans"]),
    }


def scenario_readers(batches: list, n: int, repeats: int, window: int, n_readers: int) -> dict:
    ends, hi = [], 0
    for b in batches:
        hi = max(hi, max(t for t, _ in b))
        ends.append(hi)
    prefill = max(1, len(batches) // 4)
    alone, shared, shares, rows = [], [], [], []
    for r in range(repeats):
        order = (0, n_readers) if r % 2 == 0 else (n_readers, 0)
        got = {k: readers_once(batches, ends, n, prefill, k, window) for k in order}
        alone.append(got[0]["writer_rec_s"])
        shared.append(got[n_readers]["writer_rec_s"])
        shares.append(shared[-1] / alone[-1])
        rows.append(got[n_readers]["reader_rows_s"])
        print(
            f"  readers [{r + 1}/{repeats}] writer alone {alone[-1] / 1e6:.2f} M rec/s, "
            f"with {n_readers} readers {shared[-1] / 1e6:.2f} M rec/s (share {shares[-1]:.2f}), "
            f"readers {rows[-1] / 1e6:.2f} M rows/s in {got[n_readers]['scans']} scans",
            file=sys.stderr,
        )
    return {
        "readers": n_readers,
        "window": window,
        "prefill_records": sum(len(b) for b in batches[:prefill]),
        "writer_alone_rec_s": alone,
        "writer_with_readers_rec_s": shared,
        "shares": shares,
        "reader_rows_s": rows,
        "median_alone": statistics.median(alone),
        "median_with_readers": statistics.median(shared),
        "median_share": statistics.median(shares),
        "median_reader_rows_s": statistics.median(rows),
    }


# ----- driver ---------------------------------------------------------------------------------


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=2_000_000, help="records per run (default 2,000,000)")
    p.add_argument("--ooo", type=float, default=0.05)
    p.add_argument("--repeats", type=int, default=9, help="repeats of each scenario (default 9)")
    p.add_argument("--only", default="", help="comma-separated: writers, control, readers (default: all)")
    p.add_argument("--split", choices=("halves", "interleave"), default="halves")
    p.add_argument("--window", type=int, default=16_384, help="timestamps per reader scan")
    p.add_argument("--readers", type=int, default=2)
    p.add_argument("--fair", type=float, help="writer share flagged as fair (default 1/(readers + 1))")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()
    if args.fair is None:
        args.fair = 1 / (args.readers + 1)

    ts, values, _ = workload(args.n, args.ooo)
    pairs = list(zip(ts, values))
    del ts, values
    batches = [pairs[i:i + BATCH] for i in range(0, args.n, BATCH)]
    dist, version = impl_name()
    res: dict = {
        "impl": dist,
        "version": version,
        "python": platform.python_version(),
        "n": args.n,
        "ooo": args.ooo,
        "batch": BATCH,
        "repeats": args.repeats,
        "switch_interval_s": sys.getswitchinterval(),
        "cpus": os.cpu_count(),
    }
    only = set(args.only.split(",")) if args.only else {"writers", "control", "readers"}
    print(f"{dist} {version}, Python {res['python']}, N = {args.n:,}", file=sys.stderr)
    if "writers" in only:
        res["writers"] = scenario_writers(batches, args.n, args.repeats, args.split)
    if "control" in only:
        res["control"] = scenario_control(batches, args.repeats)
    if "readers" in only:
        res["readers"] = scenario_readers(batches, args.n, args.repeats, args.window, args.readers)

    print(f"{dist} {version} (Python {res['python']}), N = {args.n:,}, "
          f"medians of {args.repeats} repeats")
    if "writers" in res:
        w = res["writers"]
        print(
            f"writers ({w['split']}): 1 thread {w['median_one'] / 1e6:.2f} M rec/s, "
            f"2 threads {w['median_two'] / 1e6:.2f} M rec/s, "
            f"median ratio 2/1 = {w['median_ratio']:.2f} "
            f"({'ok' if w['median_ratio'] >= 1.0 else 'slower'})"
        )
    if "control" in res:
        print(f"control (pure Python, no timelog): median ratio 2/1 = {res['control']['median_ratio']:.2f}")
    if "readers" in res:
        r = res["readers"]
        print(
            f"readers: writer alone {r['median_alone'] / 1e6:.2f} M rec/s, with {r['readers']} "
            f"readers {r['median_with_readers'] / 1e6:.2f} M rec/s, median share "
            f"{r['median_share']:.2f} (fair >= {args.fair:.2f}: "
            f"{'ok' if r['median_share'] >= args.fair else 'NO'}); readers "
            f"{r['median_reader_rows_s'] / 1e6:.2f} M rows/s"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
