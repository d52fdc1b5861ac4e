#!/usr/bin/env python3
"""Plot the JSON written by `timelog-compare --json FILE` as a PNG bar chart.

Every scenario that has a Vec floor figure is drawn as "times better than the
Vec floor" (throughput / floor throughput for records/s, floor time / time for
ns and bytes), so that higher is always better and 1.0 is the floor, on a log
scale. The scenarios without a floor (delete_range, two_writers,
writer_under_readers) are drawn in a second panel with their own units and
the project's target as a dashed line.

Usage:
    pip install matplotlib
    python3 docs/plot_performance.py [docs/performance.json] [docs/performance.png]
"""

import json
import sys

IMPLS = ["engine", "vec_floor", "btree", "skiplist"]
LABELS = {
    "engine": "timelog engine",
    "vec_floor": "Vec floor",
    "btree": "BTreeMap (RwLock for 2 threads)",
    "skiplist": "SkipMap",
}
COLORS = {"engine": "#d62728", "vec_floor": "#7f7f7f", "btree": "#1f77b4", "skiplist": "#2ca02c"}
# The project's targets, in the units of the second panel (ratios) or ns.
OTHER_TARGETS = {"delete_range": 300.0, "two_writers": 1.0, "writer_under_readers": 0.7}


def floor_targets(data):
    """The project's engine targets as "times better than the floor" (first panel)."""
    t = {
        "batch_ingest": 0.75,
        "single_append": 0.55,
        "full_scan": 0.4,
        "range": 1 / 1.25,
        "point": 1 / 0.35,
    }
    floor_mem = data.get("memory", {}).get("vec_floor")
    if floor_mem:
        t["memory"] = floor_mem / 18.0
    return t


def relative_to_floor(entry):
    """{impl: times-better-than-floor} for one scenario, or None without a floor."""
    floor = entry.get("vec_floor")
    if floor is None or floor <= 0:
        return None
    out = {}
    for impl in IMPLS:
        x = entry.get(impl)
        if x is None or x <= 0:
            continue
        out[impl] = x / floor if entry["higher_is_better"] else floor / x
    return out


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "docs/performance.json"
    dst = sys.argv[2] if len(sys.argv) > 2 else "docs/performance.png"
    with open(src) as f:
        data = json.load(f)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("matplotlib is not installed: pip install matplotlib")

    rel = {k: r for k, v in data.items() if (r := relative_to_floor(v)) is not None}
    other = [k for k in data if k not in rel]

    fig, (ax1, ax2) = plt.subplots(
        1, 2, figsize=(15, 6), gridspec_kw={"width_ratios": [max(len(rel), 1), max(len(other), 1) + 1]}
    )

    width = 0.8 / len(IMPLS)
    for i, impl in enumerate(IMPLS):
        xs, ys = [], []
        for j, key in enumerate(rel):
            if impl in rel[key]:
                xs.append(j + (i - (len(IMPLS) - 1) / 2) * width)
                ys.append(rel[key][impl])
        bars = ax1.bar(xs, ys, width, label=LABELS[impl], color=COLORS[impl])
        for b, y in zip(bars, ys):
            ax1.annotate(
                f"{y:.2f}", (b.get_x() + b.get_width() / 2, y), ha="center", va="bottom", fontsize=7, rotation=90
            )
    targets = floor_targets(data)
    for j, key in enumerate(rel):
        if key in targets:
            t = targets[key]
            ax1.hlines(t, j - 0.45, j + 0.45, colors="black", linestyles="dashed", linewidth=1)
            ax1.annotate(f"target {t:.2f}", (j + 0.45, t), ha="right", va="top", fontsize=7, style="italic")
    ax1.set_yscale("log")
    ax1.axhline(1.0, color="black", linewidth=0.8)
    ax1.set_xticks(range(len(rel)))
    ax1.set_xticklabels([k.replace("_", "\n") for k in rel], fontsize=9)
    ax1.set_ylabel("times better than the Vec floor (log scale; 1 = floor, higher is better)")
    ax1.set_title("vs the in-run Vec floor (dashed: engine target)")
    lo, hi = ax1.get_ylim()
    ax1.set_ylim(lo, hi * 2)

    for i, impl in enumerate(IMPLS):
        xs, ys = [], []
        for j, key in enumerate(other):
            x = data[key].get(impl)
            if x is not None:
                xs.append(j + (i - (len(IMPLS) - 1) / 2) * width)
                ys.append(x)
        bars = ax2.bar(xs, ys, width, color=COLORS[impl])
        for b, y in zip(bars, ys):
            ax2.annotate(f"{y:.2f}", (b.get_x() + b.get_width() / 2, y), ha="center", va="bottom", fontsize=7)
    for j, key in enumerate(other):
        if key in OTHER_TARGETS:
            t = OTHER_TARGETS[key]
            ax2.hlines(t, j - 0.45, j + 0.45, colors="black", linestyles="dashed", linewidth=1)
            ax2.annotate(f"target {t:g}", (j + 0.45, t), ha="right", va="bottom", fontsize=7)
    ax2.set_yscale("log")
    ax2.set_xticks(range(len(other)))
    ax2.set_xticklabels([f"{k.replace('_', chr(10))}\n({data[k]['unit']})" for k in other], fontsize=8)
    ax2.set_title("own units (log scale; dashed: target)")

    fig.suptitle("timelog-engine vs baselines on the canonical workload (medians)")
    handles, labels = ax1.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(IMPLS), fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(dst, dpi=110)
    print(f"wrote {dst}")


if __name__ == "__main__":
    main()
