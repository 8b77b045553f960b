#!/usr/bin/env bash
# Fuzzing for longer than the suite's 30 s a target: every target of
# tests/fuzz (README.md there) for SECONDS each (default 600), one after the
# other under nice (JOBS=N runs N at once), each going on from the corpus its
# earlier bench runs grew (build-fuzz/bench/NAME/corpus) and its seeds.
# Prints, per target, the executions, their rate, the coverage (libFuzzer's
# cov and ft) and the corpus; and for a target that crashed, leaked, timed
# out or ran out of memory, the report and the input that replays it
# (tests/fuzz/run.sh). Ends with the CPU hours fuzzed and the targets that
# failed; exits 1 if one did.
#
# Usage: bench/fuzz.sh [SECONDS]; TARGETS="api_docs oci_ref" picks targets,
# BUILD=DIR another build directory than build-fuzz.
set -uo pipefail
cd "$(dirname "$0")/.."

secs=${1:-600}
jobs=${JOBS:-1}
build=${BUILD:-build-fuzz} # the build directory to use (made if missing)
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DHEARTH_FUZZ=ON >/dev/null || exit 1
cmake --build "$build" -j "$(nproc)" --target fuzz_targets >/dev/null || exit 1
targets=${TARGETS:-$(cd "$build" && ls fuzz_* | sed 's/^fuzz_//' | grep -v '^targets$')}

echo "fuzzing $(echo $targets | wc -w) targets for ${secs}s each, $jobs at a time ($(date +%T))"
mkdir -p "$build/bench"
run() {
    nice sh tests/fuzz/run.sh "$build/fuzz_$1" "tests/fuzz/$1" "$build/bench/$1" "$secs" \
        >"$build/bench/$1.out" 2>&1
    echo $? >"$build/bench/$1.status"
    head -1 "$build/bench/$1.out"
}
running=0
for t in $targets; do
    run "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

failed=""
for t in $targets; do
    if [ "$(cat "$build/bench/$t.status")" != 0 ]; then
        failed="$failed $t"
        tail -n +2 "$build/bench/$t.out"
    fi
done
n=$(echo $targets | wc -w)
echo "fuzzed $(awk -v s="$secs" -v n="$n" 'BEGIN { printf "%.2f", s * n / 3600 }') CPU hours" \
    "($n targets x ${secs}s); failed:${failed:- none}"
[ -z "$failed" ]
