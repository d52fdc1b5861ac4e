#!/usr/bin/env bash
# Runs the engine's unit, model-based, drop-accounting, stress, edge, regression
# and snapshot-isolation tests under AddressSanitizer (with LeakSanitizer, its
# default on x86_64 Linux), in release mode. Needs the nightly toolchain; without
# it this prints "skipped: <reason>" and exits 0.
#
# Only the crates are instrumented, not the standard library (instrumenting std
# needs -Zbuild-std and the rust-src component); see docs/testing.md.
#
# The tests run with their own defaults (model: 2,000 cases, arbitrary_bounds: 600, stress:
# 3 s per test); PROPTEST_CASES and TIMELOG_STRESS_SECS override them as usual.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "asan: skipped: no nightly toolchain (cargo +nightly is not available)"
    exit 0
fi
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
    echo "asan: skipped: AddressSanitizer is only set up here for $target"
    exit 0
fi

start=$(date +%s)
set -x
RUSTFLAGS="-Zsanitizer=address" \
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=1}" \
CARGO_TARGET_DIR=target/asan \
    cargo +nightly test -p timelog-engine --target "$target" --release \
    --lib --test model --test drop_accounting --test stress --test extreme_timestamps --test empty_log --test delete_all_and_rewrite --test duplicates_order --test late_records --test empty_and_inverted_ranges --test arbitrary_bounds --test config_validation --test maintenance_modes --test backpressure --test append_columns --test regressions --test snapshot_isolation
set +x
echo "asan: passed in $(( $(date +%s) - start )) s"
