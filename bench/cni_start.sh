#!/usr/bin/env bash
# What networkMode cni adds to `hearth start` against bridge mode, with the
# Firecracker fake as the VMM (tests/vmm/fake/fcfake.c: no guest boots; a
# start ends when the fake has its whole configuration, the network
# interface included, which it opens inside the VM's namespace in cni
# mode), on a file pool, as root, entirely inside a network namespace this
# script makes (`unshare -n`, lo up). cni uses the default list hearth
# writes (bridge, host-local, portmap, firewall) and Debian's plugins.
#
#   COUNT (20) VMs of each mode with one port map each, created beforehand,
#   started interleaved (bridge, cni, bridge, ...) after one warm-up start
#   of each (the bridges, table inet hearth, dnsmasq, the default list and
#   the plugins' chains exist then), all kept running; then stopped the same
#   way. Prints n, median, p95, mean and max of each, and the difference of
#   the medians (issue 15's goal: under 50 ms), and the stops, where cni
#   runs DEL.
#
# Usage: bench/cni_start.sh (root); knobs COUNT=20 BUILD=DIR (default build-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
[ "$(id -u)" = 0 ] || { echo "bench/cni_start.sh: needs root (a network namespace)" >&2; exit 1; }
if [ -z "${HEARTH_BENCH_NETNS:-}" ]; then
    export HEARTH_BENCH_NETNS=$$
    exec unshare -n -- bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$@"
fi
count=${COUNT:-20}
build=$(realpath -m "${BUILD:-$src/build-bench}")
spec=${HEARTH_FC_SPEC:-$src/../shared/specs/firecracker-v1.16.1.yaml}
[ -r "$spec" ] || { echo "no Firecracker spec at $spec (set HEARTH_FC_SPEC)" >&2; exit 1; }
export HEARTH_FC_SPEC=$spec
for p in nft ip dnsmasq iptables python3; do
    command -v "$p" >/dev/null || { echo "bench/cni_start.sh: $p is missing (scripts/install-deps)" >&2; exit 1; }
done
[ -x /usr/lib/cni/bridge ] || { echo "bench/cni_start.sh: no /usr/lib/cni/bridge (containernetworking-plugins)" >&2; exit 1; }
vmlinuz=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1)
[ -r "$vmlinuz" ] || { echo "no kernel under /boot (linux-image-amd64)" >&2; exit 1; }

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target hearth fcfake >/dev/null
hearth=$build/hearth
fcfake=$build/fcfake

work=$(mktemp -d "${TMPDIR:-/tmp}/hearth-bench-cni.XXXXXX")
root=$work/root
. "$src/bench/lib.sh"
cleanup() {
    local p
    for p in $(root_procs); do kill -9 "$p" 2>/dev/null || true; done
    for p in "$root"/run/cni/netns/*; do umount -l "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

h() { "$hearth" --root "$root" "$@"; }
stats() {
    sort -g "$2" | awk -v name="$1" '{ v[NR] = $1; s += $1 }
        END { p95 = int(0.95 * NR + 0.999); if (p95 < 1) p95 = 1
              med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              printf "%-24s %5d %9.2f %9.2f %9.2f %9.2f\n", name, NR, med, v[p95], s / NR, v[NR] }'
}
header() { printf "%-24s %5s %9s %9s %9s %9s\n" "$1 (ms)" n median p95 mean max; }

echo "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run"
python3 tests/oci/mkimage.py rootfs "$work/rootfs" >/dev/null
python3 tests/oci/mkimage.py image "$work/img" 1 --layer gzip:"$work/rootfs" >/dev/null
h pool init --driver file --data-size 64GB >/dev/null
h image import -q "oci-layout:$work/img:1" >/dev/null
h kernel import -q --vmlinux "$vmlinuz" localhost/kernel:1 >/dev/null 2>&1
START=(--vmm firecracker --firecracker-bin "$fcfake" --cni-conf-dir "$work/net.d")
mk() { h create localhost/img:1 -k localhost/kernel:1 --size 256MB --memory 128MB "$@" >/dev/null; }

mk --name warm-br --net bridge -p 19998:80
mk --name warm-cni --net cni -p 19999:80
h start "${START[@]}" warm-br >/dev/null
h start "${START[@]}" warm-cni >/dev/null 2>"$work/warm.err"
grep -o 'wrote .*' "$work/warm.err" || true
for i in $(seq 1 "$count"); do
    mk --name "br$i" --net bridge -p "$((20000 + i)):80"
    mk --name "cni$i" --net cni -p "$((21000 + i)):80"
done
for i in $(seq 1 "$count"); do
    timed "$work/bridge" h start "${START[@]}" "br$i"
    timed "$work/cni" h start "${START[@]}" "cni$i"
done
for i in $(seq 1 "$count"); do
    timed "$work/bridge-stop" h stop -f "br$i"
    timed "$work/cni-stop" h stop -f "cni$i"
done
# Where a cni start's time goes: each plugin's ADD (hearth's debug log), one more start.
mk --name probe --net cni -p 22000:80
h --log-level debug start "${START[@]}" probe 2>&1 >/dev/null | sed -n 's/.*cni: \(ADD [a-z-]*\) .*: exit \(.*\), \([0-9]*\) ms/\1 \3 ms/p'
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) after the runs"
header "start"
stats "bridge" "$work/bridge"
stats "cni" "$work/cni"
awk -v a="$(median "$work/cni")" -v b="$(median "$work/bridge")" \
    'BEGIN { printf "cni - bridge (medians): %+.2f ms (goal: under +50 ms)\n", a - b }'
header "stop -f"
stats "bridge" "$work/bridge-stop"
stats "cni (DEL)" "$work/cni-stop"
h rm -f warm-br warm-cni >/dev/null
