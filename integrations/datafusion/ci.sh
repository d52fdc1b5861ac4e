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
echo "== timelog-datafusion: cargo clippy --all-targets -- -D warnings"
cargo clippy --manifest-path "$manifest" --all-targets -- -D warnings
echo "== timelog-datafusion: cargo test"
cargo test --manifest-path "$manifest" --locked
echo "== timelog-datafusion: cargo run --example sql_live"
cargo run --manifest-path "$manifest" --example sql_live
echo "== timelog-datafusion: cargo run --example archive_live"
cargo run --manifest-path "$manifest" --example archive_live
