#!/bin/sh
# run.sh TARGET SEEDS WORK SECONDS [LIBFUZZER-OPTION...]: one fuzz target as
# a test (CMake's fuzz_NAME entries) or a bench run (bench/fuzz.sh).
#
# Fuzzes TARGET for SECONDS from the seed corpus SEEDS (read only: the
# inputs found go to WORK/corpus, which a later run with the same WORK goes
# on from) and fails on a crash, a leak, a timeout (10 s for one input) or
# an out-of-memory (2 GiB), printing the end of libFuzzer's report and the
# saved input (WORK/artifacts/...) with the command that replays it. Prints
# the run's figures in one line: executions, coverage, corpus.
set -u
target=$1 seeds=$2 work=$3 secs=$4
shift 4
name=$(basename "$target")
mkdir -p "$work/corpus" "$work/artifacts"
rm -f "$work"/artifacts/*
log="$work/log"

# libFuzzer reports leaks itself (LeakSanitizer) and must see every crash as
# its own, so the sanitizer options of the caller are not inherited.
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$target" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
    -error_exitcode=1 -timeout_exitcode=1 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$@" "$work/corpus" "$seeds" >"$log" 2>&1
status=$?

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
last=$(grep -E '^#[0-9]+' "$log" | tail -1)
cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p')
echo "$name: ${secs}s, ${execs:-?} executions (${rate:-?}/s), cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}"

artifacts=$(ls "$work"/artifacts/ 2>/dev/null)
if [ "$status" -ne 0 ] || [ -n "$artifacts" ]; then
    echo "FAIL: $name exited $status; libFuzzer's report ($log):"
    # From the first line of the report on: a failed check, a sanitizer's or libFuzzer's.
    grep -v -E '^#[0-9]+' "$log" |
        sed -n '/fuzz check failed\|==ERROR\|ERROR: libFuzzer\|runtime error/,$p' | head -60
    for a in $artifacts; do
        echo "input: $work/artifacts/$a"
        echo "replay: $target $work/artifacts/$a"
    done
    exit 1
fi
exit 0
