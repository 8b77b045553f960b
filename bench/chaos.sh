#!/usr/bin/env bash
# The chaos test (tests/integration/chaos.sh) for longer than the suite's
# 200 iterations: ITERATIONS (default 2000) random mutating commands, each
# SIGKILLed after a random delay, on one root, in RUNS runs (default 1) of
# new seeds, or of CHAOS_SEED. Prints each run's seed, how many commands
# finished, were killed or were refused, the time it took, and every
# inconsistency with the seed and iteration that replay it; exits 1 if a
# run found one.
#
# Usage: bench/chaos.sh [ITERATIONS]; RUNS=N; CHAOS_SEED=N replays one seed;
#        BUILD=DIR picks the build directory, default build-bench.
set -uo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
iterations=${1:-2000}
runs=${RUNS:-1}
build=${BUILD:-$src/build-bench}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 1
cmake --build "$build" -j "$(nproc)" --target hearth fcfake >/dev/null || exit 1

status=0
for run in $(seq 1 "$runs"); do
    HEARTH=$build/hearth HEARTH_SRC=$src FCFAKE=$build/fcfake \
        HEARTH_FC_SPEC=$src/../shared/specs/firecracker-v1.16.1.yaml \
        CHAOS_ITERATIONS=$iterations bash tests/integration/chaos.sh >"$build/chaos-$run.log" 2>&1 ||
        status=1
    grep -E '^chaos: |^FAIL|passed,' "$build/chaos-$run.log"
    [ -n "${CHAOS_SEED:-}" ] && break
done
exit "$status"
