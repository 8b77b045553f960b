#!/usr/bin/env bash
# `hearth ps` and `hearth ps -a` over COUNT (10,000) VMs that all hold a lease,
# against the same VMs without leases, and against the sqlite3 floor of
# bench/ps.sh (issue 2's targets: ps -a under 100 ms, within 2x the floor).
#
# The VMs are applied as bench/ps.sh applies them (state Stopped, one port
# each, networkMode bridge) into one root; a copy of its database then gets,
# with sqlite3, what a bridged start leaves behind for each VM: a network row
# (hearth0, 10.61.0.0/16), one ip_lease row and its status.ipAddresses
# (vm_ip_addresses). No VM runs, so nothing touches the machine's network;
# the script still runs in a network namespace of its own when it is root.
# Prints the median wall time of RUNS (21) runs of each command, interleaved
# run by run, with peak RSS, and the ratios.
#
# Usage: bench/net_ps.sh [COUNT]; knobs RUNS=21 BUILD=DIR (default build-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
if [ "$(id -u)" = 0 ] && [ -z "${HEARTH_BENCH_NETNS:-}" ]; then
    export HEARTH_BENCH_NETNS=$$
    exec unshare -n -- bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$@"
fi
count=${1:-10000}
runs=${RUNS:-21}
build=$(realpath -m "${BUILD:-$src/build-bench}")
[ "$count" -le 65000 ] || { echo "bench/net_ps.sh: at most 65000 VMs (one /16)" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "bench/net_ps.sh: sqlite3 is missing (scripts/install-deps)" >&2; exit 1; }

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target hearth >/dev/null
hearth=$build/hearth
work=$(mktemp -d "${TMPDIR:-/tmp}/hearth-bench-netps.XXXXXX")
trap 'rm -rf "$work"' EXIT
plain=$work/plain
leased=$work/leased

echo "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run"
awk -v n="$count" 'BEGIN {
  for (i = 0; i < n; i++) {
    printf "---\napiVersion: ignite.weave.works/v1alpha1\nkind: VM\n"
    printf "metadata:\n  name: vm-%05d\n  labels:\n    team: t%d\n", i, i % 7
    printf "spec:\n  image:\n    ociClaim:\n      ref: weaveworks/ignite-ubuntu:latest\n"
    printf "  kernel:\n    ociClaim:\n      ref: weaveworks/ignite-kernel:4.19.47\n"
    printf "  cpus: %d\n  memory: %dMB\n  diskSize: 4GB\n", 1 + i % 4, 512 * (1 + i % 3)
    printf "  networkMode: bridge\n"
    printf "  ports:\n  - hostPort: %d\n    vmPort: 80\n", 10000 + i
    printf "status:\n  state: Stopped\n"
  }
}' >"$work/vms.yaml"
"$hearth" --root "$plain" -q apply -f "$work/vms.yaml" >/dev/null
# The copy: the database only (a hearth process has it closed, WAL checkpointed).
mkdir -p "$leased"
sqlite3 "$plain/hearth.db" "VACUUM INTO '$leased/hearth.db'"
for d in "$plain"/*/; do [ -d "$d" ] && ! [ -e "$leased/$(basename "$d")" ] && cp -a "$d" "$leased/"; done
# Every VM's lease: 10.61.0.2, .3, ... in name order, as starts would hand them out.
sqlite3 "$leased/hearth.db" <<'SQL'
PRAGMA foreign_keys = ON;
BEGIN;
INSERT INTO network (name, subnet, created) VALUES ('hearth0', '10.61.0.0/16', unixepoch());
CREATE TEMP TABLE o AS SELECT uid, row_number() OVER (ORDER BY name) + 1 AS n FROM vm;
INSERT INTO ip_lease (ip, network, mac, vm_uid, state, created)
  SELECT '10.61.' || (n / 256) || '.' || (n % 256), 'hearth0',
         '02:' || substr(uid, 1, 2) || ':' || substr(uid, 3, 2) || ':' || substr(uid, 5, 2) || ':' ||
         substr(uid, 7, 2) || ':' || substr(uid, 9, 2), uid, 'active', unixepoch() FROM o;
INSERT INTO vm_ip_addresses (uid, ord, ip) SELECT vm_uid, 0, ip FROM ip_lease;
COMMIT;
SQL
for r in plain leased; do
    d=$work/$r
    n=$("$hearth" --root "$d" ps -a -q | wc -l)
    [ "$n" -eq "$count" ] || { echo "$r: ps -a listed $n VMs, expected $count" >&2; exit 1; }
    echo "$r: $count VMs, $(sqlite3 "$d/hearth.db" 'SELECT count(*) FROM ip_lease') leases," \
        "$("$hearth" --root "$d" ps -a | grep -c '10\.61\.') rows of ps -a with an address"
done

floor_sql="SELECT id, image, kernel, disk_size_bytes, cpus, memory_bytes, created, state, ips, ports, name FROM vms"
keys=(ps-plain ps-leased psa-plain psa-leased floor-plain floor-leased)
# cmd KEY: the command of KEY into the array c.
cmd() {
    local d=$work/${1#*-}
    case ${1%%-*} in
        ps) c=("$hearth" --root "$d" ps) ;;
        psa) c=("$hearth" --root "$d" ps -a) ;;
        floor) c=(sqlite3 "$d/hearth.db" "$floor_sql") ;;
    esac
}
# Interleaved: each run, every command once (the sqlite3 floor last, as it
# removes the -wal/-shm files that hearth keeps).
for ((i = 0; i < runs; i++)); do
    for k in "${keys[@]}"; do
        cmd "$k"
        t0=${EPOCHREALTIME/./}
        "${c[@]}" >/dev/null
        t1=${EPOCHREALTIME/./}
        echo $((t1 - t0)) >>"$work/t-$k"
    done
done
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { printf "%.2f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) / 1000 }'; }
declare -A ms
printf '%-46s %10s %12s\n' "command ($count VMs)" "median ms" "peak KiB"
for k in "${keys[@]}"; do
    cmd "$k"
    rss=$(/usr/bin/time -f '%M' "${c[@]}" 2>&1 >/dev/null | tail -n 1)
    ms[$k]=$(median "$work/t-$k")
    case $k in
        ps-*) label="hearth ps" ;; psa-*) label="hearth ps -a" ;; floor-*) label="floor: sqlite3, ps -a's columns from vms" ;;
    esac
    printf '%-46s %10s %12s\n' "$label (${k#*-})" "${ms[$k]}" "$rss"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "ps -a, leased / without leases:   $(ratio "${ms[psa-leased]}" "${ms[psa-plain]}")x"
echo "ps, leased / without leases:      $(ratio "${ms[ps-leased]}" "${ms[ps-plain]}")x"
echo "ps -a / floor, leased:            $(ratio "${ms[psa-leased]}" "${ms[floor-leased]}")x  (target <= 2)"
echo "ps -a / floor, without leases:    $(ratio "${ms[psa-plain]}" "${ms[floor-plain]}")x"
echo "ps -a under 100 ms, leased:       $(awk -v a="${ms[psa-leased]}" 'BEGIN { print (a < 100) ? "yes" : "no" }') (${ms[psa-leased]} ms)"
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) after the run"
