#!/usr/bin/env bash
# Fuzzes every cargo-fuzz target of fuzz/ for FUZZ_SECS seconds each (default 60),
# one after the other, and fails on any crash, timeout or out-of-memory.
#
#   FUZZ_SECS=600 bash .ci/fuzz.sh
#
# Needs the nightly toolchain (`cargo +nightly`); without it this prints
# "skipped: <reason>" and exits 0. cargo-fuzz is installed if missing.
# Each run starts from the committed seeds in fuzz/corpus/<target> (read, never
# written) and a fresh working corpus, so it takes about FUZZ_SECS per target plus
# the build. FUZZ_KEEP_CORPUS=1 keeps the working corpus in
# fuzz/target/corpus/<target> across runs instead (more coverage, but replaying a
# large corpus takes minutes before the clock of -max_total_time starts to matter).
# A crash is saved under fuzz/artifacts/<target>/ and printed (decoded) by cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECS:-60}
rss_mb=${FUZZ_RSS_MB:-2048}
start=$(date +%s)
stage() { echo; echo "== fuzz: $1 ($(( $(date +%s) - start )) s)"; }

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: skipped: no nightly toolchain (cargo +nightly is not available)"
    exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    stage "installing cargo-fuzz"
    # A debug build: it only drives cargo and libFuzzer, and compiles in about
    # half the time of a release build.
    cargo install cargo-fuzz --locked --debug
fi

stage "fmt, clippy and unit tests of the fuzz crate (seeds decode and reach every operation)"
cargo fmt --manifest-path fuzz/Cargo.toml --check
# Without libFuzzer's C++ (default feature `libfuzzer`): only the fuzz targets
# link it, and `cargo fuzz build` below builds them with it.
cargo clippy --manifest-path fuzz/Cargo.toml --all-targets --no-default-features -- -D warnings
# A debug build: it compiles in a fraction of a release build's time, and the
# seeds are small.
cargo test --manifest-path fuzz/Cargo.toml --no-default-features

stage "build (AddressSanitizer, debug assertions and overflow checks on)"
cargo +nightly fuzz build -a

for target in $(cargo +nightly fuzz list); do
    stage "run $target for $secs s"
    work="fuzz/target/corpus/$target"
    if [ "${FUZZ_KEEP_CORPUS:-0}" != 1 ]; then
        work="fuzz/target/ci-corpus/$target"
        rm -rf "$work"
    fi
    mkdir -p "$work"
    cargo +nightly fuzz run -a "$target" "$work" "fuzz/corpus/$target" -- \
        -max_total_time="$secs" -rss_limit_mb="$rss_mb" -timeout="${FUZZ_TIMEOUT:-120}" -print_final_stats=1
done

stage "done"
