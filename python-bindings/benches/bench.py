#!/usr/bin/env python3
"""The canonical benchmark workload (generator below, checked by ``--check``) through the
public ``timelog`` Python API only, so that it runs unchanged against this package and against
the reference ``timelog-lib`` (installed in another interpreter / venv).

Usage::

    # one implementation, results as JSON
    python bench.py --json ours.json
    # side by side: runs this interpreter and the other one alternately (same load)
    python bench.py --compare /path/to/venv-ref/bin/python
    # merge two JSON files into the table
    python bench.py --merge ours.json ref.json

Scenarios (N records, default 2,000,000, ooo_rate 0.05):
  extend    ``log.extend(batch)`` for every batch of 4096 pairs + final ``flush()``  [rec/s]
  append    ``log.append(ts, v)`` for every record + final ``flush()``              [rec/s]
  scan      ``for ts, obj in log[:]: pass`` after flush + compaction               [rec/s]
  scan_sum  ``for ts, obj in log[:]: total += obj``                                 [rec/s]
  scan_shuffled  ``for ts, obj in log[:]: pass`` right after ``extend`` of shuffled
            timestamps (a permutation of ``[0, N)``, batches of 4096, background
            maintenance on, no flush): many overlapping runs and segments      [rec/s]
  range     10,000 x ``list(log[t:t+1000])`` at random t                            [queries/s]
  range_floor  the interpreter's floor for the same rows, no log involved:
            ``list(zip(range(t, t+1000), values[t:t+1000]))`` at the same t      [queries/s]
  point     100,000 x ``log[ts]`` of random existing timestamps                     [lookups/s]
  to_numpy  ``log.to_numpy()`` of everything                                        [rec/s]
  delete    1,000 x ``log.delete(t, t+100)`` at random t                            [calls/s]
  memory    RSS growth per record after ingest + flush + compaction (own process)  [bytes/rec]
  memory_heap  same, counted as C-heap bytes in use (glibc mallinfo2)              [bytes/rec]

Arrow scenarios (this package only, with pyarrow installed; no counterpart in the
reference, so each is compared with a baseline measured in the same process, the two
alternated, medians of ``ARROW_ROUNDS`` rounds; across repeats, the median too):
  arrow_int        ``pa.table(log)`` of the read log (int payloads)              [rec/s]
  arrow_str        ``pa.table(slog)``, a log of N str payloads, compacted        [rec/s]
  arrow_str_lists  baseline: ``for ts, obj in slog: ts_list.append(ts); ...``   [rec/s]
  arrow_str_lists_table  baseline: the same loop, then ``pa.table`` of the lists [rec/s]
  arrow_none       ``pa.table(log.to_arrow(payload="none"))`` of the read log   [rec/s]
  arrow_import     ``Timelog().extend(pa_table)``, int payloads                  [rec/s]
  arrow_import_pairs  baseline: ``Timelog().extend(pairs)``, one list of N tuples [rec/s]
  arrow_import_pylist  baseline: ``extend(list(zip(*(c.to_pylist() for c in tbl))))``,
                   what importing the same table took without Arrow support      [rec/s]
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import random
import subprocess
import sys
import time

BATCH = 4096

# ratio targets, ours / reference (memory: reference / ours <= 0.3 means ours
# must use at most 0.3x)
TARGETS = {
    "extend": 4.0,
    "append": 2.0,
    "scan": 1.8,
    "scan_shuffled": 1.5,
    "range": 2.0,
    "point": 4.0,
    "to_numpy": 5.0,
    "memory": 0.3,
    "memory_heap": 0.3,
}

# Arrow scenarios: absolute floors (rec/s) and ratios to their in-run baselines.
ARROW_FLOORS = {"arrow_int": 40e6, "arrow_str": 14e6, "arrow_none": 500e6}
ARROW_RATIOS = {
    ("arrow_str", "arrow_str_lists"): 5.0,
    ("arrow_import", "arrow_import_pairs"): 10.0,
}
ARROW_ROUNDS = 5

# `list(log[t:t+1000])` may take at most this much longer than the interpreter's own
# tuple building for the same rows (`range_floor`).
RANGE_FLOOR_TARGET = 1.15

UNITS = {
    "extend": "rec/s",
    "append": "rec/s",
    "scan": "rec/s",
    "scan_sum": "rec/s",
    "scan_shuffled": "rec/s",
    "range": "queries/s",
    "range_floor": "queries/s",
    "point": "lookups/s",
    "to_numpy": "rec/s",
    "delete": "calls/s",
    "memory": "bytes/rec",
    "memory_heap": "bytes/rec",
    "arrow_int": "rec/s",
    "arrow_str": "rec/s",
    "arrow_str_lists": "rec/s",
    "arrow_str_lists_table": "rec/s",
    "arrow_none": "rec/s",
    "arrow_import": "rec/s",
    "arrow_import_pairs": "rec/s",
    "arrow_import_pylist": "rec/s",
}


# ----- workload ---------------------------------------------------------------------------

MASK = (1 << 64) - 1


def workload(n: int, ooo_rate: float) -> tuple[list[int], list[int], int]:
    """Timestamps and values (i + 1) of the canonical workload, and how many moved back."""
    x = 12345
    ts = [0] * n
    cursor = 0
    moved = 0
    for i in range(n):
        cursor += 1
        t = cursor
        if i > 1024 and ooo_rate > 0:
            x ^= (x << 13) & MASK
            x ^= x >> 7
            x ^= (x << 17) & MASK
            if (x >> 11) * (1.0 / 9007199254740992.0) < ooo_rate:
                x ^= (x << 13) & MASK
                x ^= x >> 7
                x ^= (x << 17) & MASK
                back = 1 + x % 1024
                if t > back:
                    t -= back
                    moved += 1
        ts[i] = t
    values = [i + 1 for i in range(n)]
    return ts, values, moved


# ----- helpers --------------------------------------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def heap_in_use() -> int:
    """Bytes the C allocator reports in use (glibc mallinfo2: arenas + mmapped blocks).
    Python's small objects live in pymalloc arenas and are not counted."""
    try:
        f = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):  # pragma: no cover - not glibc >= 2.33
        return 0
    f.restype = _Mallinfo2
    m = f()
    return m.uordblks + m.hblkhd


def malloc_trim() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # pragma: no cover - not glibc
        pass


def impl_name() -> tuple[str, str]:
    import timelog

    try:
        from importlib import metadata

        for dist in ("timelog-engine", "timelog-lib"):
            try:
                return dist, metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
    except Exception:  # pragma: no cover
        pass
    return "timelog", getattr(timelog, "__version__", "?")


def drain(log) -> None:
    log.flush()
    log.compact()
    while log.maint_step():
        pass


def timed(fn) -> float:
    gc.collect()
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


# ----- scenarios ------------------------------------------------------------------------------


def run_scenarios(n: int, ooo: float, only: set[str] | None) -> dict[str, float]:
    from timelog import Timelog

    ts, values, moved = workload(n, ooo)
    pairs = list(zip(ts, values))
    batches = [pairs[i:i + BATCH] for i in range(0, n, BATCH)]
    out: dict[str, float] = {}

    def want(name: str) -> bool:
        return only is None or name in only

    if want("extend"):
        log = Timelog(busy_policy="flush")

        def ingest():
            ext = log.extend
            for b in batches:
                ext(b)
            log.flush()

        out["extend"] = n / timed(ingest)
        log.close()

    if want("append"):
        log = Timelog(busy_policy="flush")

        def appends():
            ap = log.append
            for t, v in pairs:
                ap(t, v)
            log.flush()

        out["append"] = n / timed(appends)
        log.close()

    if want("scan_shuffled"):
        perm = list(range(n))
        random.Random(7).shuffle(perm)
        shuffled = [(t, t + 1) for t in perm]
        # "silent": under backpressure an extend keeps its records and returns
        # (timelog-lib's default raises then, with the records committed).
        log = Timelog(busy_policy="silent")
        for i in range(0, n, BATCH):
            log.extend(shuffled[i:i + BATCH])
        del perm, shuffled

        # Timed at once (no collection first, unlike `timed`): maintenance is still
        # flushing and compacting what `extend` wrote.
        t0 = time.perf_counter()
        for _ts, _obj in log[:]:
            pass
        out["scan_shuffled"] = n / (time.perf_counter() - t0)
        log.close()

    # The read scenarios use one log, flushed and fully compacted.
    log = Timelog(maintenance="disabled", busy_policy="flush")
    for b in batches:
        log.extend(b)
    drain(log)
    assert len(log) == n

    if want("scan"):
        def scan():
            for _ts, _obj in log[:]:
                pass

        out["scan"] = n / timed(scan)

    if want("scan_sum"):
        total = [0]

        def scan_sum():
            s = 0
            for _ts, obj in log[:]:
                s += obj
            total[0] = s

        out["scan_sum"] = n / timed(scan_sum)
        assert total[0] == n * (n + 1) // 2

    rng = random.Random(42)
    maxts = max(ts)
    if want("range"):
        qs = [rng.randrange(1, max(2, maxts - 1000)) for _ in range(10_000)]

        def ranges():
            for q in qs:
                list(log[q:q + 1000])

        out["range"] = len(qs) / timed(ranges)

        def range_floor():
            for q in qs:
                list(zip(range(q, q + 1000), values[q:q + 1000]))

        out["range_floor"] = len(qs) / timed(range_floor)

    if want("point"):
        qs = [ts[rng.randrange(n)] for _ in range(100_000)]

        def points():
            for q in qs:
                log[q]

        out["point"] = len(qs) / timed(points)

    if want("to_numpy"):
        try:
            import numpy  # noqa: F401

            out["to_numpy"] = n / timed(lambda: log.to_numpy())
        except ImportError:
            pass

    if want("delete"):
        qs = [rng.randrange(1, maxts) for _ in range(1000)]

        def deletes():
            d = log.delete
            for q in qs:
                d(q, q + 100)

        out["delete"] = len(qs) / timed(deletes)

    if any(want(k) for k in ARROW_SCENARIOS):
        run_arrow(log, n, pairs, values, want, out)

    log.close()
    out["_moved_back"] = moved
    return out


ARROW_SCENARIOS = ("arrow_int", "arrow_str", "arrow_none", "arrow_import")


def alternated(n: int, fns: dict) -> dict[str, float]:
    """Runs each ``fns[name]`` once per round, alternating them, ``ARROW_ROUNDS`` rounds;
    returns each one's median rate (``n`` / seconds)."""
    import statistics

    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(ARROW_ROUNDS):
        for k, fn in fns.items():
            times[k].append(timed(fn))
    return {k: n / statistics.median(v) for k, v in times.items()}


def run_arrow(log, n: int, pairs: list, values: list, want, out: dict) -> None:
    """The Arrow scenarios (see the module documentation); ``log`` is the read log."""
    try:
        import pyarrow as pa
    except ImportError:
        return
    from timelog import Timelog

    if not hasattr(Timelog, "to_arrow"):
        return  # an implementation without Arrow support (the reference)
    if want("arrow_int"):
        assert pa.table(log).num_rows == n
        out.update(alternated(n, {"arrow_int": lambda: pa.table(log)}))
    if want("arrow_none"):
        assert pa.table(log.to_arrow(payload="none")).num_rows == n
        out.update(alternated(n, {"arrow_none": lambda: pa.table(log.to_arrow(payload="none"))}))
    if want("arrow_str"):
        slog = Timelog(maintenance="disabled", busy_policy="flush")
        for i in range(0, n, BATCH):
            slog.extend([(t, f"value {v}") for t, v in pairs[i:i + BATCH]])
        drain(slog)

        def lists():
            tss, objs = [], []
            for t, obj in slog:
                tss.append(t)
                objs.append(obj)
            return tss, objs

        def lists_table():
            tss, objs = lists()
            return pa.table({"ts": pa.array(tss, pa.timestamp("ms")), "value": objs})

        assert pa.table(slog).column("value").to_pylist()[:1] == [lists()[1][0]]
        out.update(alternated(n, {
            "arrow_str": lambda: pa.table(slog),
            "arrow_str_lists": lists,
            "arrow_str_lists_table": lists_table,
        }))
        slog.close()
    if want("arrow_import"):
        ts = [t for t, _ in pairs]
        tbl = pa.table({"ts": pa.array(ts, pa.int64()), "value": pa.array(values, pa.int64())})
        del ts
        logs = []

        def fresh():
            lg = Timelog(maintenance="disabled", busy_policy="silent")
            logs.append(lg)
            return lg

        def close_all():
            while logs:
                logs.pop().close()

        rates: dict[str, list[float]] = {}
        import statistics

        for _ in range(ARROW_ROUNDS):
            for name, fn in (
                ("arrow_import", lambda: fresh().extend(tbl)),
                ("arrow_import_pairs", lambda: fresh().extend(pairs)),
                ("arrow_import_pylist", lambda: fresh().extend(
                    list(zip(tbl.column("ts").to_pylist(), tbl.column("value").to_pylist())))),
            ):
                rates.setdefault(name, []).append(n / timed(fn))
                assert len(logs[-1]) == n
                close_all()
        out.update({k: statistics.median(v) for k, v in rates.items()})


def run_memory(n: int, ooo: float) -> dict[str, float]:
    """Growth per record, payload objects and input batches existing before the baseline:
    resident memory (RSS, after malloc_trim) and C-heap bytes in use (mallinfo2)."""
    from timelog import Timelog

    ts, values, _ = workload(n, ooo)
    pairs = list(zip(ts, values))
    batches = [pairs[i:i + BATCH] for i in range(0, n, BATCH)]
    del pairs
    gc.collect()
    malloc_trim()
    base = rss_bytes()
    heap = heap_in_use()
    log = Timelog(maintenance="disabled", busy_policy="flush")
    for b in batches:
        log.extend(b)
    drain(log)
    gc.collect()
    malloc_trim()
    grown = rss_bytes() - base
    heap_grown = heap_in_use() - heap
    assert len(log) == n
    log.close()
    return {"memory": grown / n, "memory_heap": heap_grown / n}


# ----- driver ---------------------------------------------------------------------------------


def child(args) -> dict:
    only = set(args.only.split(",")) if args.only else None
    dist, version = impl_name()
    res: dict = {
        "impl": dist,
        "version": version,
        "python": platform.python_version(),
        "n": args.n,
        "ooo": args.ooo,
        "results": {},
    }
    if args.memory_only:
        res["results"] = run_memory(args.n, args.ooo)
    else:
        res["results"] = run_scenarios(args.n, args.ooo, only)
    return res


def run_child(python: str, args, memory: bool) -> dict:
    cmd = [python, os.path.abspath(__file__), "--child", "--n", str(args.n), "--ooo", str(args.ooo)]
    if memory:
        cmd.append("--memory-only")
    elif args.only:
        cmd += ["--only", args.only]
    # Run outside any source tree so that `import timelog` picks the installed package.
    r = subprocess.run(cmd, capture_output=True, text=True, cwd="/")
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        raise SystemExit(f"benchmark child {python} failed")
    return json.loads(r.stdout.strip().splitlines()[-1])


def best(runs: list[dict]) -> dict:
    """Per scenario: the best of the repeats (highest rate, lowest memory); the Arrow
    scenarios (medians within each run already): the median of the repeats."""
    import statistics

    merged = dict(runs[0])
    res: dict[str, float] = {}
    arrow: dict[str, list[float]] = {}
    for r in runs:
        for k, v in r["results"].items():
            if k.startswith("_"):
                res[k] = v
            elif k.startswith("arrow"):
                arrow.setdefault(k, []).append(v)
            elif k.startswith("memory"):
                res[k] = min(v, res.get(k, v))
            else:
                res[k] = max(v, res.get(k, v))
    res.update({k: statistics.median(v) for k, v in arrow.items()})
    merged["results"] = res
    merged["repeats"] = len(runs)
    return merged


def fmt(v: float, unit: str) -> str:
    if unit == "bytes/rec":
        return f"{v:.1f} B"
    if v >= 1e6:
        return f"{v / 1e6:.2f} M"
    if v >= 1e3:
        return f"{v / 1e3:.1f} k"
    return f"{v:.1f}"


def arrow_lines(ours: dict) -> list[str]:
    """The Arrow scenarios against their floors and in-run baselines."""
    r = ours["results"]
    lines = []
    for k, floor in ARROW_FLOORS.items():
        if k in r:
            met = "met" if r[k] >= floor else "NOT met"
            lines.append(f"{k}: {fmt(r[k], 'rec/s')} rec/s (target >= {fmt(floor, 'rec/s')}: {met})")
    for (a, b), tgt in ARROW_RATIOS.items():
        if a in r and b in r:
            ratio = r[a] / r[b]
            met = "met" if ratio >= tgt else "NOT met"
            lines.append(f"{a} / {b}: {ratio:.2f}x (target >= {tgt}x: {met})")
    for a, b in (("arrow_str", "arrow_str_lists_table"), ("arrow_import", "arrow_import_pylist")):
        if a in r and b in r:
            lines.append(f"{a} / {b}: {r[a] / r[b]:.2f}x")
    return lines


def table(ours: dict, ref: dict | None) -> str:
    lines = []
    head = f"N = {ours['n']:,}, ooo = {ours['ooo']}, best of {ours.get('repeats', 1)}"
    lines.append(head)
    if ref is None:
        lines.append(f"| scenario | {ours['impl']} {ours['version']} (py {ours['python']}) | unit |")
        lines.append("|---|---|---|")
        for k, v in ours["results"].items():
            if not k.startswith("_"):
                lines.append(f"| {k} | {fmt(v, UNITS[k])} | {UNITS[k]} |")
        return "\n".join(lines + arrow_lines(ours))
    lines.append(
        f"| scenario | {ours['impl']} {ours['version']} (py {ours['python']}) | "
        f"{ref['impl']} {ref['version']} (py {ref['python']}) | ratio | target | met |"
    )
    lines.append("|---|---|---|---|---|---|")
    for k in UNITS:
        if k not in ours["results"] or k not in ref["results"]:
            continue
        a, b = ours["results"][k], ref["results"][k]
        ratio = a / b if b else float("inf")
        tgt = TARGETS.get(k)
        if tgt is None:
            met = ""
            tgt_s = ""
        elif k.startswith("memory"):
            met = "yes" if ratio <= tgt else "NO"
            tgt_s = f"<= {tgt}x"
        else:
            met = "yes" if ratio >= tgt else "NO"
            tgt_s = f">= {tgt}x"
        lines.append(
            f"| {k} ({UNITS[k]}) | {fmt(a, UNITS[k])} | {fmt(b, UNITS[k])} | {ratio:.2f}x | {tgt_s} | {met} |"
        )
    # Each side's range query against its own interpreter's floor (time ratio).
    over = {}
    for name, side in (("ours", ours), ("reference", ref)):
        r = side["results"]
        if r.get("range") and r.get("range_floor"):
            over[name] = r["range_floor"] / r["range"]
    if over:
        verdict = "met" if over.get("ours", float("inf")) <= RANGE_FLOOR_TARGET else "NOT met"
        lines.append(
            "range time / the interpreter's floor (same process): "
            + ", ".join(f"{k} {v:.2f}x" for k, v in over.items())
            + f" (target for ours <= {RANGE_FLOOR_TARGET}x: {verdict})"
        )
    lines += [f"{line} (ours only)" for line in arrow_lines(ours)]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=2_000_000)
    p.add_argument("--ooo", type=float, default=0.05)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--only", default="", help="comma-separated scenarios")
    p.add_argument("--json", help="write this interpreter's results here")
    p.add_argument("--compare", metavar="PYTHON", help="other interpreter (e.g. the reference venv)")
    p.add_argument("--merge", nargs=2, metavar=("OURS", "REF"))
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--memory-only", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--check", action="store_true", help="check the generator port (5M, 0.05)")
    args = p.parse_args()

    if args.check:
        _, _, moved = workload(5_000_000, 0.05)
        print(f"moved back: {moved} (expected 250117)")
        raise SystemExit(0 if moved == 250_117 else 1)
    if args.child:
        print(json.dumps(child(args)))
        return
    if args.merge:
        with open(args.merge[0]) as f:
            a = json.load(f)
        with open(args.merge[1]) as f:
            b = json.load(f)
        print(table(a, b))
        return

    me = sys.executable
    ours_runs, ref_runs = [], []
    for i in range(args.repeats):
        ours_runs.append(run_child(me, args, memory=False))
        print(f"[{i + 1}/{args.repeats}] ours done", file=sys.stderr)
        if args.compare:
            ref_runs.append(run_child(args.compare, args, memory=False))
            print(f"[{i + 1}/{args.repeats}] reference done", file=sys.stderr)
    if not args.no_memory and not args.only:
        m = run_child(me, args, memory=True)["results"]
        for r in ours_runs:
            r["results"].update(m)
        if args.compare:
            m = run_child(args.compare, args, memory=True)["results"]
            for r in ref_runs:
                r["results"].update(m)
    ours = best(ours_runs)
    ref = best(ref_runs) if ref_runs else None
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ours": ours, "reference": ref}, f, indent=2)
    print(table(ours, ref))


if __name__ == "__main__":
    main()
