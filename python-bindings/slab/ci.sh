#!/usr/bin/env bash
# CI for the payload slab crate (timelog-slab): formatting, clippy (warnings denied,
# and undocumented unsafe blocks / missing safety docs, which its manifest denies),
# unit tests (with the oracle model test and the std-thread churn), the loom models
# and the shuttle schedules. Run from anywhere; paths are relative to the repo root.
#
# Environment:
#   CARGO_TARGET_DIR       build cache (default: target/slab under the repo root); the
#                          loom and shuttle builds use its loom/ and shuttle/ subdirs
#   LOOM_MAX_PREEMPTIONS   loom's preemption bound (default 3)
#   SHUTTLE_ITERATIONS     schedules per shuttle test (default 5000)
set -euo pipefail
cd "$(dirname "$0")/../.."
manifest=python-bindings/slab/Cargo.toml
target="${CARGO_TARGET_DIR:-target/slab}"
start=$(date +%s)
stage() { echo "== $1 ($(($(date +%s) - start)) s)"; }

stage "slab: cargo fmt"
cargo fmt --manifest-path "$manifest" --check

# Clippy lints each build while it is made for its tests (clippy-driver as the
# workspace's rustc wrapper, with `-D warnings` passed the way `cargo clippy` passes
# it): no separate check build per configuration.
export RUSTC_WORKSPACE_WRAPPER="$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver)"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"

stage "slab: unit tests, oracle model test, std-thread churn (all targets linted)"
CARGO_TARGET_DIR="$target" cargo test --manifest-path "$manifest" --all-targets

stage "slab: loom models (LOOM_MAX_PREEMPTIONS=${LOOM_MAX_PREEMPTIONS:=3})"
RUSTFLAGS="--cfg timelog_loom -D warnings" LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS \
    CARGO_TARGET_DIR="$target/loom" cargo test --release --manifest-path "$manifest" --test loom

stage "slab: shuttle schedules (SHUTTLE_ITERATIONS=${SHUTTLE_ITERATIONS:=5000})"
RUSTFLAGS="--cfg timelog_shuttle -D warnings" SHUTTLE_ITERATIONS=$SHUTTLE_ITERATIONS \
    CARGO_TARGET_DIR="$target/shuttle" cargo test --release --manifest-path "$manifest" --test shuttle

stage "slab: done"
