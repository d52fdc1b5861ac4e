#!/usr/bin/env bash
# Checks of the DataFusion integration: format, clippy, tests (debug) and the
# sql_live and archive_live examples. Run from anywhere; builds into target/datafusion at the
# repository root (a target dir of its own: DataFusion is large).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/datafusion}"
manifest=integrations/datafusion/Cargo.toml

echo "== timelog-datafusion: cargo fmt --check"
cargo fmt --manifest-path "$manifest" --check
# Clippy in the test build itself: `cargo clippy` would compile DataFusion once more
# (as metadata, for the check) besides the test build. clippy-driver is rustc plus
# clippy's lints, so as the workspace wrapper it lints this crate's targets while
# they are built for the tests (dependencies are built by plain rustc, as under
# `cargo clippy`); CLIPPY_ARGS is how `cargo clippy` hands it `-D warnings`.
echo "== timelog-datafusion: cargo test (lib, tests) and the examples' build, linted by clippy (-D warnings)"
clippy_driver="$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver)"
export RUSTC_WORKSPACE_WRAPPER="$clippy_driver"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
cargo test --manifest-path "$manifest" --locked --lib --tests
# The examples hold no tests: built once, as the runs below use them (as test
# harnesses too, each would link DataFusion once more).
cargo build --manifest-path "$manifest" --locked --examples
cargo test --manifest-path "$manifest" --locked --doc
echo "== timelog-datafusion: cargo run --example sql_live"
cargo run --manifest-path "$manifest" --example sql_live
echo "== timelog-datafusion: cargo run --example archive_live"
cargo run --manifest-path "$manifest" --example archive_live
