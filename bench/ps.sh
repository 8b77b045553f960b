#!/usr/bin/env bash
# Listing 10,000 VMs: `hearth ps -a`, `ps -a -o json` and `export`, against
#  (a) the floor: the sqlite3 shell running the equivalent SELECT on the same
#      database file: exactly the columns `ps` shows, from the documented `vms`
#      view (not SELECT *, which also builds the labels/annotations JSON that
#      ps does not show), and
#  (b) the peer: Ignite's layout, 10,000 vm/<uid>/metadata.json files read and
#      decoded with jansson (bench/ignite_layout.c).
# Prints wall time (median of RUNS runs, warm cache) and peak RSS per command,
# then the ratios. Usage: bench/ps.sh [COUNT] (default 10000); RUNS=N.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-10000}
runs=${RUNS:-11}

# Build only what is measured (as scripts/build configures it), so a module
# being worked on elsewhere in the tree cannot stop the benchmark.
./scripts/install-deps >/dev/null
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target hearth bench_ignite_layout >/dev/null
hearth=$PWD/build/hearth
work=$(mktemp -d "${TMPDIR:-/tmp}/hearth-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
export HEARTH_ROOT=$work/root

echo "generating $count VMs in $HEARTH_ROOT"
# Wall times mean little while other work holds the CPUs: say how busy they were.
echo "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run"
awk -v n="$count" 'BEGIN {
  for (i = 0; i < n; i++) {
    printf "---\napiVersion: ignite.weave.works/v1alpha1\nkind: VM\n"
    printf "metadata:\n  name: vm-%05d\n  labels:\n    team: t%d\n", i, i % 7
    printf "spec:\n  image:\n    ociClaim:\n      ref: weaveworks/ignite-ubuntu:latest\n"
    printf "  kernel:\n    ociClaim:\n      ref: weaveworks/ignite-kernel:4.19.47\n"
    printf "  cpus: %d\n  memory: %dMB\n  diskSize: 4GB\n", 1 + i % 4, 512 * (1 + i % 3)
    printf "  ports:\n  - hostPort: %d\n    vmPort: 80\n", 10000 + i
    printf "status:\n  state: Stopped\n"
  }
}' >"$work/vms.yaml"
t0=$(date +%s%N)
/usr/bin/time -f '%M' -o "$work/apply.rss" "$hearth" -q apply -f "$work/vms.yaml" >/dev/null
t1=$(date +%s%N)
echo "apply of $count VMs in one transaction: $(((t1 - t0) / 1000000)) ms, $(tail -n 1 "$work/apply.rss") KiB peak"

# median wall milliseconds (3 decimals) and max peak RSS (KiB) of a command over $runs runs
measure() {
    local times=() peak=0 rss s e
    for ((r = 0; r < runs; r++)); do
        s=$(date +%s%N)
        rss=$(/usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -n 1)
        e=$(date +%s%N)
        times+=($((e - s)))
        ((rss > peak)) && peak=$rss
    done
    local med
    med=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$((runs / 2 + 1))p")
    printf '%s %s\n' "$(awk -v n="$med" 'BEGIN { printf "%.1f", n / 1e6 }')" "$peak"
}

"$hearth" export -o json vm >"$work/list.json"
mkdir -p "$work/ignite"
build/bench_ignite_layout split "$work/list.json" "$work/ignite"

rows=$("$hearth" ps -a -q | wc -l)
[ "$rows" -eq "$count" ] || { echo "ps -a listed $rows VMs, expected $count" >&2; exit 1; }

floor_sql="SELECT id, image, kernel, disk_size_bytes, cpus, memory_bytes, created, state, ips, ports, name FROM vms"
declare -A ms kb
while IFS='|' read -r key label; do
    case $key in
        ps) set -- "$hearth" ps -a ;;
        psjson) set -- "$hearth" ps -a -o json ;;
        export) set -- "$hearth" export ;;
        floor) set -- sqlite3 "$HEARTH_ROOT/hearth.db" "$floor_sql" ;;
        peer) set -- build/bench_ignite_layout read "$work/ignite" ;;
    esac
    read -r ms[$key] kb[$key] < <(measure "$@")
    printf '%-52s %9s ms %9s KiB peak\n' "$label" "${ms[$key]}" "${kb[$key]}"
done <<'LIST'
ps|hearth ps -a
psjson|hearth ps -a -o json
export|hearth export (yaml)
floor|(a) sqlite3 "SELECT <ps columns> FROM vms" (floor)
peer|(b) ignite layout: read+decode metadata.json (peer)
LIST

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "hearth ps -a / floor (a):      $(ratio "${ms[ps]}" "${ms[floor]}")x  (target <= 2)"
echo "peer (b) / hearth ps -a:       $(ratio "${ms[peer]}" "${ms[ps]}")x  (target >= 5)"
echo "hearth ps -a under 100 ms:     $(awk -v a="${ms[ps]}" 'BEGIN { print (a < 100) ? "yes" : "no" }') (${ms[ps]} ms)"
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) after the run"
