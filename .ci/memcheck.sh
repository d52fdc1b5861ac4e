#!/usr/bin/env bash
# Runs the model-based, stress and hazard tests of the release build (debug info
# on) under valgrind memcheck, shrunk to a few minutes on a 2-core machine. Fails
# on any memcheck error: invalid reads/writes, uses of uninitialised values,
# definite leaks. No suppression file: the run must be clean as is.
#
# Knobs (environment):
#   MEMCHECK_TESTS           test targets to run (default "model stress hazards")
#   MEMCHECK_PROPTEST_CASES  cases of the model-based test (default 64; native: 2000)
#   MEMCHECK_STRESS_SECS     seconds per stress test (default 4; native: 3). Zones of
#                            the deletes variant are 16 batches here (native: 64), so
#                            that the slow run still deletes the two zones it needs.
#   MEMCHECK_TRACK_ORIGINS   1: report where uninitialised values come from (slower)
#   MEMCHECK_CARGO_ARGS      extra cargo arguments for the build (e.g. "--features
#                            timelog-engine/arrow", to reuse a build made with them)
#   VALGRIND                 valgrind binary (default valgrind)
# Logs: $CARGO_TARGET_DIR/memcheck/<test>.log (default target/memcheck/).
set -euo pipefail
cd "$(dirname "$0")/.."

VALGRIND=${VALGRIND:-valgrind}
read -r -a tests <<<"${MEMCHECK_TESTS:-model stress hazards}"
cases=${MEMCHECK_PROPTEST_CASES:-64}
stress_secs=${MEMCHECK_STRESS_SECS:-4}
logdir="${CARGO_TARGET_DIR:-target}/memcheck"

if ! command -v "$VALGRIND" >/dev/null; then
    echo "memcheck: '$VALGRIND' not found (apt-get install valgrind)" >&2
    exit 2
fi
mkdir -p "$logdir"
start=$(date +%s)

echo "== memcheck: building ${tests[*]} (release)"
cargs=()
for t in "${tests[@]}"; do cargs+=(--test "$t"); done
read -r -a extra <<<"${MEMCHECK_CARGO_ARGS:-}"
json=$(cargo test --release --no-run --message-format=json "${extra[@]}" "${cargs[@]}")

# Test binaries under valgrind run ~30-50x slower, and valgrind runs one thread at
# a time: fair scheduling keeps the engine's spin-then-yield waits from starving.
vg=("$VALGRIND" --tool=memcheck --error-exitcode=99 --fair-sched=yes
    --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite
    --num-callers=30)
if [[ "${MEMCHECK_TRACK_ORIGINS:-0}" == 1 ]]; then vg+=(--track-origins=yes); fi

declare -a rows
failed=0
for t in "${tests[@]}"; do
    exe=$(grep -o "\"executable\":\"[^\"]*/deps/$t-[0-9a-f]*\"" <<<"$json" | tail -n 1 | cut -d'"' -f4 || true)
    if [[ -z "$exe" || ! -x "$exe" ]]; then
        echo "memcheck: no test binary for '$t'" >&2
        exit 2
    fi
    log="$logdir/$t.log"
    echo "== memcheck: $t ($(basename "$exe")), log $log"
    t0=$(date +%s)
    set +e
    PROPTEST_CASES=$cases TIMELOG_STRESS_SECS=$stress_secs TIMELOG_STRESS_ZONE_BATCHES=16 \
        TIMELOG_HAZARD_DEADLINE_SECS=900 \
        "${vg[@]}" --log-file="$log" "$exe" --test-threads=1 --nocapture >"$logdir/$t.out" 2>&1
    rc=$?
    set -e
    secs=$(($(date +%s) - t0))
    errors=$(grep -o "ERROR SUMMARY: [0-9]*" "$log" | tail -n 1 | grep -o "[0-9]*$" || echo "?")
    leaked=$(grep -o "definitely lost: [0-9,]* bytes" "$log" | tail -n 1 | grep -o "[0-9,]* bytes" || echo "0 bytes")
    tests_line=$(grep -E "^test result:" "$logdir/$t.out" | tail -n 1 || true)
    case $rc in
        0) status=ok ;;
        99) status="MEMCHECK ERRORS" ;;
        *) status="TEST FAILED (exit $rc)" ;;
    esac
    if [[ $rc -ne 0 ]]; then
        failed=1
        echo "---- $t: $status; last lines of $log and of the test output:"
        tail -n 60 "$log"
        tail -n 30 "$logdir/$t.out"
    fi
    rows+=("$(printf '%-10s %-24s errors %-5s definitely lost %-12s %4ss  %s' \
        "$t" "$status" "$errors" "$leaked" "$secs" "${tests_line#test result: }")")
done

echo
echo "== memcheck summary (PROPTEST_CASES=$cases, TIMELOG_STRESS_SECS=$stress_secs; $(($(date +%s) - start)) s)"
printf '%s\n' "${rows[@]}"
grep -ho "stress (deletes.*" "$logdir"/stress.out 2>/dev/null | cut -c1-160 || true
if [[ $failed -ne 0 ]]; then
    echo "memcheck: FAILED (logs in $logdir)"
    exit 1
fi
echo "memcheck: clean"
