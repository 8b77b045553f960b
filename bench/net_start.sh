#!/usr/bin/env bash
# What bridge networking adds to `hearth start`, with the Firecracker fake as
# the VMM (tests/vmm/fake/fcfake.c: no guest boots; a start ends when the
# fake has its whole configuration, the network interface included), on a
# file pool, as root, entirely inside a network namespace this script makes
# (`unshare -n`, lo up): the bridge, nftables and dnsmasq are never the host's.
#
#   added:  COUNT (30) VMs with --net none and COUNT with --net bridge and one
#           port map each, created beforehand; their starts interleaved (none,
#           bridge, none, ...), all kept running. A bridged warm-up VM is
#           started first, so the bridge, table inet hearth and dnsmasq exist.
#           Prints the median start of each and the difference.
#   steps:  where the time goes: STEPS (5) more starts of each kind, with
#           uprobes (`perf probe -x hearth`) on the engine's and the network's
#           functions: the median time inside each per start (when perf is
#           there; the probes are removed at the end).
#   flat:   (FLAT=N, default 1000) N VMs each with its own host port, started
#           one after another, all kept running; the start of the 1st against
#           the Nth, as the median of a window of WINDOW (10) starts at each
#           end. Prints memory use at the end.
#
# Usage: bench/net_start.sh (root); knobs COUNT=30 STEPS=5 FLAT=1000 WINDOW=10
#        BUILD=DIR (default build-bench). FLAT=0 skips the flatness run.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
[ "$(id -u)" = 0 ] || { echo "bench/net_start.sh: needs root (a network namespace)" >&2; exit 1; }
# Everything below runs in a network namespace of its own, with only lo up.
if [ -z "${HEARTH_BENCH_NETNS:-}" ]; then
    export HEARTH_BENCH_NETNS=$$
    exec unshare -n -- bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$@"
fi
count=${COUNT:-30}
steps=${STEPS:-5}
flat=${FLAT:-1000}
window=${WINDOW:-10}
build=$(realpath -m "${BUILD:-$src/build-bench}")
spec=${HEARTH_FC_SPEC:-$src/../shared/specs/firecracker-v1.16.1.yaml}
[ -r "$spec" ] || { echo "no Firecracker spec at $spec (set HEARTH_FC_SPEC)" >&2; exit 1; }
export HEARTH_FC_SPEC=$spec
for p in nft ip dnsmasq python3; do
    command -v "$p" >/dev/null || { echo "bench/net_start.sh: $p is missing (scripts/install-deps)" >&2; exit 1; }
done
vmlinuz=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1)
[ -r "$vmlinuz" ] || { echo "no kernel under /boot (linux-image-amd64)" >&2; exit 1; }

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target hearth fcfake >/dev/null
hearth=$build/hearth
fcfake=$build/fcfake

work=$(mktemp -d "${TMPDIR:-/tmp}/hearth-bench-net.XXXXXX")
root=$work/root
. "$src/bench/lib.sh"
cleanup() {
    local p
    for p in $(root_procs); do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

h() { "$hearth" --root "$root" "$@"; }
# stats NAME FILE: n, median, p95, mean, max.
stats() {
    sort -g "$2" | awk -v name="$1" '{ v[NR] = $1; s += $1 }
        END { p95 = int(0.95 * NR + 0.999); if (p95 < 1) p95 = 1
              med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              printf "%-34s %5d %9.2f %9.2f %9.2f %9.2f\n", name, NR, med, v[p95], s / NR, v[NR] }'
}
header() { printf "%-34s %5s %9s %9s %9s %9s\n" "$1 (ms)" n median p95 mean max; }
mem_used() { awk '/^MemTotal/ { t = $2 } /^MemAvailable/ { a = $2 } END { printf "%.0f", (t - a) / 1024 }' /proc/meminfo; }

echo "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run"
python3 tests/oci/mkimage.py rootfs "$work/rootfs" >/dev/null
python3 tests/oci/mkimage.py image "$work/img" 1 --layer gzip:"$work/rootfs" >/dev/null
h pool init --driver file --data-size 64GB >/dev/null
h image import -q "oci-layout:$work/img:1" >/dev/null
h kernel import -q --vmlinux "$vmlinuz" localhost/kernel:1 >/dev/null 2>&1
VMARGS=(-k localhost/kernel:1 --size 256MB --memory 128MB)
START=(--vmm firecracker --firecracker-bin "$fcfake")
mk() { h create localhost/img:1 "${VMARGS[@]}" "$@" >/dev/null; }

# ---- added: none against bridge --------------------------------------------------
mk --name warm --net bridge -p 19999:80
timed "$work/first-bridge" h start "${START[@]}" warm
mk --name warm-none --net none
timed "$work/first-none" h start "${START[@]}" warm-none
for i in $(seq 1 "$count"); do
    mk --name "none$i" --net none
    mk --name "br$i" --net bridge -p "$((20000 + i)):80"
done
for i in $(seq 1 "$count"); do
    timed "$work/none" h start "${START[@]}" "none$i"
    timed "$work/bridge" h start "${START[@]}" "br$i"
done
running=$(h ps -q | wc -l)

# ---- steps: where a start's time goes, by uprobes on hearth's functions -------------
# Each probe costs a few microseconds; the start is otherwise untraced.
fns=(engine_open engine_vm_start vm_net_plan net_nft_list net_port_listening engine_op_intent
    engine_pool_device_activate store_op_step vm_net_up net_bridge_ensure net_nft_ensure
    net_dnsmasq_ensure net_hostfile_write net_tap_create net_nft_add vm_launch_write
    engine_op_commit)
probes=0
if [ "$steps" -gt 0 ] && command -v perf >/dev/null; then
    probes=1
    perf probe -q -d 'probe_hearth:*' 2>/dev/null || true
    for f in "${fns[@]}"; do
        perf probe -q -x "$hearth" -a "$f" -a "$f%return" >/dev/null 2>&1 || probes=0
    done
    perf probe -q -d 'probe_hearth:*' >/dev/null 2>&1 || true
fi
# probe TAG PORT: STEPS starts of new bridged VMs (host ports from PORT) and
# of new --net none VMs, alternated, recorded into $work/probes-TAG.
probe() {
    local tag=$1 port=$2 i
    for i in $(seq 1 "$steps"); do
        mk --name "${tag}b$i" --net bridge -p "$((port + i)):80"
        mk --name "${tag}n$i" --net none
    done
    for f in "${fns[@]}"; do
        perf probe -q -x "$hearth" -a "$f" -a "$f%return" >/dev/null 2>&1
    done
    perf record -q -o "$work/perf.data" -e 'probe_hearth:*' -- bash -c '
        for i in $(seq 1 "$1"); do
            "$2" --root "$3" start --vmm firecracker --firecracker-bin "$4" "$5b$i" >/dev/null
            "$2" --root "$3" start --vmm firecracker --firecracker-bin "$4" "$5n$i" >/dev/null
        done' _ "$steps" "$hearth" "$root" "$fcfake" "$tag" 2>/dev/null
    perf probe -q -d 'probe_hearth:*' >/dev/null 2>&1 || true
    # Per start: ms inside each function (summed over its calls), and the
    # wait for the monitor (launch.json written to the commit's start). A
    # start is bridged when it made a tap.
    perf script -i "$work/perf.data" -F pid,time,event 2>/dev/null | awk '
        { pid = $1; t = $2 + 0; ev = $3; sub(/^probe_hearth:/, "", ev); sub(/:$/, "", ev)
          if (ev ~ /__return$/) { f = ev; sub(/__return$/, "", f); d[pid, f] += (t - s[pid, f]) * 1000; n[pid, f]++ }
          else s[pid, ev] = t
          if (ev == "vm_launch_write__return") lw[pid] = t
          if (ev == "engine_op_commit") d[pid, "monitor_wait"] += (t - lw[pid]) * 1000
          if (ev == "net_tap_create") br[pid] = 1
          pids[pid] = 1 }
        END { for (p in pids) for (k in d) { split(k, a, SUBSEP); if (a[1] == p)
                  printf "%s %s %.3f %d\n", br[p] ? "bridge" : "none", a[2], d[k], n[k] } }' \
        >"$work/probes-$tag"
}
# breakdown TAG TITLE: the table of probe TAG.
breakdown() {
    local f k calls ind
    echo "== $2: by uprobes (perf probe), $steps starts of each: median ms per start inside"
    echo "   each function (all its calls) and its calls per bridged start; indented: inside the one above"
    printf "  %-32s %8s %8s %6s\n" function none bridge calls
    for f in engine_open engine_vm_start vm_net_plan net_nft_list net_port_listening engine_op_intent \
        engine_pool_device_activate store_op_step vm_net_up net_bridge_ensure net_nft_ensure \
        net_dnsmasq_ensure net_hostfile_write net_tap_create net_nft_add vm_launch_write monitor_wait \
        engine_op_commit; do
        for k in none bridge; do
            awk -v k="$k" -v f="$f" '$1 == k && $2 == f { print $3 }' "$work/probes-$1" >"$work/p-$k"
        done
        calls=$(awk -v f="$f" '$1 == "bridge" && $2 == f { print $4 }' "$work/probes-$1" | sort -n | tail -n 1)
        case $f in net_nft_list | net_port_listening | net_bridge_ensure | net_nft_ensure | net_dnsmasq_ensure | \
            net_hostfile_write | net_tap_create | net_nft_add) ind="    " ;; *) ind="" ;; esac
        printf "  %-32s %8s %8s %6s\n" "$ind$f" "$([ -s "$work/p-none" ] && median "$work/p-none" || echo -)" \
            "$([ -s "$work/p-bridge" ] && median "$work/p-bridge" || echo -)" "${calls:-0}"
    done
}
[ "$probes" = 1 ] && probe s 21000

echo
echo "first bridged start (makes the bridge, table, dnsmasq): $(cat "$work/first-bridge") ms;" \
    "first start with --net none: $(cat "$work/first-none") ms"
header "start, $count of each, interleaved"
stats "start --net none" "$work/none"
stats "start --net bridge -p HOST:80" "$work/bridge"
echo "added by bridge networking (median bridge - median none): $(awk -v a="$(median "$work/bridge")" \
    -v b="$(median "$work/none")" 'BEGIN { printf "%.2f ms", a - b }') (target < 10 ms)"
echo "running after the interleaved starts: $running"
echo
if [ "$probes" = 1 ]; then
    breakdown s "where a start goes, with $((count * 2 + 2)) VMs running"
else
    echo "(no breakdown: STEPS=0, or perf probe (linux-perf) is missing or cannot place uprobes)"
fi

# ---- flat: the 1st against the Nth VM with a port map -----------------------------
if [ "$flat" -gt 0 ]; then
    # shellcheck disable=SC2046 # the names are words
    h rm -f $(h ps -a -q) >/dev/null
    echo
    echo "== flat: $flat VMs with a port map each, started one after another, all kept running"
    mem0=$(mem_used)
    for i in $(seq 1 "$flat"); do
        mk --name "f$i" --net bridge -p "$((30000 + i)):80"
    done
    echo "created $flat VMs; memory in use $mem0 MiB before"
    : >"$work/flat"
    for i in $(seq 1 "$flat"); do
        timed "$work/flat" h start "${START[@]}" "f$i"
        if [ $((i % 100)) = 0 ]; then
            echo "  $i started; last $(tail -n 1 "$work/flat") ms; memory in use $(mem_used) MiB"
        fi
    done
    nmaps=$(nft -j list map inet hearth ports 2>/dev/null | python3 -c '
import json, sys
print(sum(len(o["map"].get("elem", [])) for o in json.load(sys.stdin)["nftables"] if "map" in o))' || echo "?")
    echo "running: $(h ps -q | wc -l); port-map elements in table inet hearth: $nmaps;" \
        "memory in use $(mem_used) MiB (was $mem0)"
    head -n "$window" "$work/flat" >"$work/flat-first"
    tail -n "$window" "$work/flat" >"$work/flat-last"
    header "start with a port map"
    stats "the 1st VM" <(head -n 1 "$work/flat")
    stats "VMs 1-$window" "$work/flat-first"
    stats "VMs $((flat - window + 1))-$flat" "$work/flat-last"
    stats "the ${flat}th VM" <(tail -n 1 "$work/flat")
    echo "median of the last $window / median of the first $window:" \
        "$(awk -v a="$(median "$work/flat-last")" -v b="$(median "$work/flat-first")" 'BEGIN { printf "%.2f", a / b }')"
    for d in $(seq 1 10); do
        lo=$(((d - 1) * flat / 10 + 1))
        hi=$((d * flat / 10))
        sed -n "${lo},${hi}p" "$work/flat" >"$work/flat-d"
        printf "  VMs %5d-%-5d median %7.2f ms\n" "$lo" "$hi" "$(median "$work/flat-d")"
    done
    if [ "$probes" = 1 ]; then
        probe f 40000
        breakdown f "where a start goes, with $flat VMs running"
    fi
fi
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) after the run"
