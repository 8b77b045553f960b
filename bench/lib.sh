# Shared by the benchmarks (sourced, not run). They set $root (the hearth root
# under test) and $work (their scratch directory) before calling these.

# The processes whose command line names $root (monitors, VMMs, dnsmasq), but this shell.
root_procs() {
    local p cmd
    for p in /proc/[0-9]*; do
        [ "${p#/proc/}" = $$ ] && continue
        cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
        [[ "$cmd" == *"$root"* ]] && echo "${p#/proc/}"
    done
}
# timed FILE CMD...: runs CMD (output kept in $work/out, err), appends its wall ms to FILE;
# a failure prints its stderr and ends the benchmark.
timed() {
    local file=$1 t0 t1
    shift
    t0=${EPOCHREALTIME/./}
    if ! "$@" >"$work/out" 2>"$work/err"; then
        echo "failed: $*" >&2
        cat "$work/err" >&2
        exit 1
    fi
    t1=${EPOCHREALTIME/./}
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) / 1e3 }' >>"$file"
}
# median FILE: the median of the numbers in FILE, two decimals.
median() { sort -g "$1" | awk '{ v[NR] = $1 } END { printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
