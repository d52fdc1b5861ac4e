#!/usr/bin/env bash
# CI for the Python package `timelog` (distribution timelog-engine).
#
# On a fresh machine with Python 3.11 + pip and the Rust toolchain: creates a fresh
# virtualenv, installs ./python-bindings the way a user would (`pip install`, which
# fetches maturin and builds an abi3 release wheel), plus pytest, hypothesis and numpy,
# and runs the test suite. Exits non-zero on any failure, including "no tests ran"
# (pytest exit code 5).
#
# Environment:
#   PYTHON                         interpreter to create the venv with (default: python3.11,
#                                  else python3)
#   TIMELOG_CI_VENV                where to create the venv (default: a fresh temp dir)
#   TIMELOG_HYPOTHESIS_EXAMPLES    examples of the stateful test (default 40)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"

py="${PYTHON:-}"
if [ -z "$py" ]; then
    if command -v python3.11 >/dev/null 2>&1; then py=python3.11; else py=python3; fi
fi

venv="${TIMELOG_CI_VENV:-$(mktemp -d)/venv}"
rm -rf "$venv"
echo "== creating venv $venv with $($py --version 2>&1)"
"$py" -m venv "$venv"
vpy="$venv/bin/python"
"$vpy" -m pip install --quiet --upgrade pip

echo "== pip install ./python-bindings (release build of the extension)"
# Keep the cargo build cache of this package between runs on the same machine.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target}"
"$vpy" -m pip install --quiet "$here"
"$vpy" -m pip install --quiet pytest hypothesis numpy

echo "== import check"
(cd / && "$vpy" -c "import timelog, timelog._timelog as n; print('timelog', timelog.__version__, n.__file__)")

echo "== pytest"
cd "$here"
set +e
"$vpy" -m pytest -q -p no:cacheprovider tests
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
fi
exit "$rc"
