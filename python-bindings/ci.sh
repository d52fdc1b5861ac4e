#!/usr/bin/env bash
# CI for the Python package `timelog` (distribution timelog-engine).
#
# On a fresh machine with Python 3.11 + pip and the Rust toolchain:
#   1. builds the abi3 release wheel with maturin, in a build virtualenv (maturin is
#      pip-installed there if that venv lacks it);
#   2. creates a fresh test virtualenv, installs the built wheel (not the source tree)
#      plus pytest, hypothesis, numpy and the Arrow consumers the Arrow tests use
#      (pyarrow, polars, duckdb; from PyPI), checks that `import timelog` resolves to the
#      installed package, and runs the test suite from a scratch directory, so the
#      source tree's python/timelog cannot shadow the installed package;
#   3. repeats step 2 with the SAME wheel on every extra interpreter that is available
#      (TIMELOG_CI_EXTRA_PYTHONS; the long retention soak runs only in step 2).
# Exits non-zero on any failure, including "no tests ran" (pytest exit code 5).
#
# Environment:
#   PYTHON                         interpreter for the build and the main test run
#                                  (default: python3.11, else python3)
#   TIMELOG_CI_EXTRA_PYTHONS       more interpreters to test the wheel with (paths or
#                                  names; default: python3.12 and python3.13 when they
#                                  run); missing ones are reported and skipped, unless
#                                  TIMELOG_CI_REQUIRE_EXTRA=1 (then they fail the run)
#   TIMELOG_CI_DIR                 scratch directory, kept afterwards (default: a fresh
#                                  temp dir, removed at exit)
#   TIMELOG_SOAK_SECS              passed to the suite (retention soak length; 0 = off)
#   TIMELOG_HYPOTHESIS_EXAMPLES    examples of the stateful test (default 40)
#   CARGO_TARGET_DIR               cargo's build cache (default: python-bindings/target)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
start=$(date +%s)
stage() { echo "== $1 ($(($(date +%s) - start)) s)"; }

runs() { "$1" -c 'import sys; assert sys.version_info >= (3, 11)' >/dev/null 2>&1; }

py="${PYTHON:-}"
if [ -z "$py" ]; then
    if runs python3.11; then py=python3.11; else py=python3; fi
fi
extra="${TIMELOG_CI_EXTRA_PYTHONS-python3.12 python3.13}"

if [ -n "${TIMELOG_CI_DIR:-}" ]; then
    work="$TIMELOG_CI_DIR"
else
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
fi
rm -rf "$work/build-venv" "$work/wheels" "$work/run"
mkdir -p "$work/wheels" "$work/run"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target}"

stage "build venv with $($py --version 2>&1)"
"$py" -m venv "$work/build-venv"
bpy="$work/build-venv/bin/python"
if ! "$bpy" -m maturin --version >/dev/null 2>&1; then
    "$bpy" -m pip install --quiet --upgrade pip
    "$bpy" -m pip install --quiet "maturin>=1.9.4,<2"
fi

stage "maturin build --release (abi3 wheel)"
(cd "$here" && "$bpy" -m maturin build --release --interpreter "$bpy" --out "$work/wheels")
wheel="$(ls "$work"/wheels/timelog_engine-*-abi3-*.whl)"
case "$wheel" in *" "*|"") echo "expected one abi3 wheel in $work/wheels" >&2; exit 1 ;; esac
echo "wheel: $wheel"

# test_with <python> <label> [env...]: fresh venv, wheel + test deps, import check, pytest.
test_with() {
    local tpy="$1" label="$2"
    shift 2
    local venv="$work/venv-$label"
    rm -rf "$venv"
    stage "test venv $label: $("$tpy" --version 2>&1)"
    "$tpy" -m venv "$venv"
    local vpy="$venv/bin/python"
    "$vpy" -m pip install --quiet --upgrade pip
    "$vpy" -m pip install --quiet "$wheel" pytest hypothesis numpy pyarrow polars duckdb
    (cd "$work/run" && "$vpy" - "$venv" <<'EOF'
import os, sys
import timelog, timelog._timelog as native
venv = os.path.realpath(sys.argv[1])
for mod in (timelog, native):
    path = os.path.realpath(mod.__file__)
    if not path.startswith(venv + os.sep):
        sys.exit(f"{mod.__name__} imported from {path}, not from the installed wheel in {venv}")
print("timelog", timelog.__version__, "from", os.path.dirname(native.__file__))
EOF
    )
    stage "pytest ($label)"
    set +e
    (cd "$work/run" && env "$@" TIMELOG_REQUIRE_INSTALLED="$venv" \
        "$vpy" -m pytest -q -p no:cacheprovider --rootdir "$here" -c "$here/pyproject.toml" "$here/tests")
    local rc=$?
    set -e
    if [ "$rc" -eq 5 ]; then
        echo "pytest collected no tests ($label): failing" >&2
        exit 1
    fi
    if [ "$rc" -ne 0 ]; then
        echo "pytest failed ($label): exit $rc" >&2
        exit "$rc"
    fi
}

test_with "$py" main
for p in $extra; do
    if runs "$p"; then
        test_with "$p" "$(basename "$p")" TIMELOG_SOAK_SECS=0
    elif [ "${TIMELOG_CI_REQUIRE_EXTRA:-0}" = 1 ]; then
        echo "interpreter $p is not available" >&2
        exit 1
    else
        echo "== skipped: interpreter $p is not available"
    fi
done
stage "all passed"
