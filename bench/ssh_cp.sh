#!/usr/bin/env bash
# `hearth cp` against OpenSSH's scp (9.2 here, which speaks SFTP with up to
# 64 requests in flight), into and out of the same running guest: the
# Debian 12 test image (tests/vm/mkdebian.sh, built into the checkout's
# .cache/debian when missing, before the script leaves the machine's
# network namespace), booted by hearth under QEMU (TCG without /dev/kvm),
# bridged, all of it inside a network namespace this script makes
# (`unshare -n`, lo up): the bridge, nftables and dnsmasq are never the
# host's.
#
#   new:  a file of SIZE_MB (100) MiB of random bytes into the guest, to a
#         name that does not exist (removed before, not timed):
#         `hearth cp FILE bench:/root/in.hearth` against
#         `scp -i KEY -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
#         FILE root@IP:/root/in.scp`;
#   over: the same over the file the last copy left: scp truncates it and
#         writes in place, hearth writes a new file beside it and renames it
#         over the old one, which the guest keeps until then;
#   out:  the file back out to the host (to a name that does not exist);
#   small: a 1 KiB file in: what a copy costs besides its data (the process,
#         connecting, the key exchange, authentication).
# RUNS (5) rounds of these eight copies, interleaved (hearth, scp, hearth, ...),
# after one warm-up of each tool that is not counted.
#
# Each copy is one process, timed with bash's $EPOCHREALTIME (connecting,
# the host key check and authentication included: hearth checks the planted
# key, scp is told to accept any). Prints every run, the medians, the ratio
# hearth / scp, and the load before and after (the machine may be shared).
# Every copy is checked by its sha256 in the guest or on the host.
#
# Usage: bench/ssh_cp.sh (root); knobs RUNS=5 SIZE_MB=100 BUILD=DIR (default
#        build-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
[ "$(id -u)" = 0 ] || { echo "bench/ssh_cp.sh: needs root (a network namespace, a bridge)" >&2; exit 1; }
for p in ip nft dnsmasq qemu-system-x86_64 scp ssh-keygen debootstrap umoci sha256sum; do
    command -v "$p" >/dev/null || { echo "bench/ssh_cp.sh: $p is missing (scripts/install-deps)" >&2; exit 1; }
done
cache=${HEARTH_DEBIAN_CACHE:-$src/.cache/debian}
# The image first (debootstrap needs the mirror), then everything else in a namespace of its own.
if [ -z "${HEARTH_BENCH_NETNS:-}" ]; then
    bash tests/vm/mkdebian.sh "$cache" >/dev/null
    export HEARTH_BENCH_NETNS=$$
    exec unshare -n -- bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$@"
fi
runs=${RUNS:-5}
size_mb=${SIZE_MB:-100}
build=$(realpath -m "${BUILD:-$src/build-bench}")

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target hearth >/dev/null
hearth=$build/hearth

work=$(mktemp -d "${TMPDIR:-/tmp}/hearth-bench-cp.XXXXXX")
root=$work/root
export HOME=$work/home # scp writes nothing there either (known hosts: /dev/null)
mkdir -p "$HOME"
# The monitors, QEMU and dnsmasq of this root (their command lines name it).
root_procs() {
    local p cmd
    for p in /proc/[0-9]*; do
        [ "${p#/proc/}" = $$ ] && continue
        cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
        [[ "$cmd" == *"$work"* ]] && echo "${p#/proc/}"
    done
}
cleanup() {
    local p
    "$hearth" --root "$root" rm -f bench >/dev/null 2>&1 || true
    for p in $(root_procs); do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

h() { "$hearth" --root "$root" "$@"; }
# timed FILE CMD...: runs CMD, appends its wall seconds to FILE (and prints them).
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
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", (b - a) / 1e6 }' | tee -a "$file"
}
. "$src/bench/lib.sh"

echo "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run"
echo "$(ssh -V 2>&1); hearth $(h version -o short)"
bash tests/vm/mkfixtures.sh "$work/fx" >/dev/null
. "$work/fx/kernel.env"
h pool init --driver file >/dev/null
h image import -q "oci-layout:$cache/hearth-debian:12" >/dev/null
h kernel import -q --vmlinux "$VMLINUZ" --initrd "$INITRD" bench-kernel:1 >/dev/null
h run -q --ssh --ssh-timeout 300 --name bench --memory 512MB --size 2GB -k bench-kernel:1 \
    --kernel-args "$CMDLINE" localhost/hearth-debian:12 >/dev/null
key=$(ls "$root"/vm/*/id_ed25519)
ip=$(h sql -o csv "SELECT ips FROM vms WHERE name = 'bench'" | tail -n +2 | tr -d '\r"')
scp_=(scp -q -i "$key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
    -o LogLevel=ERROR -o BatchMode=yes)
echo "guest: $ip, $(h exec bench sh -c 'nproc; uname -r' | tr '\n' ' ')"

head -c "$((size_mb * 1024 * 1024))" /dev/urandom >"$work/file"
sum=$(sha256sum <"$work/file" | cut -d' ' -f1)
head -c 1024 /dev/urandom >"$work/small"
check_guest() {
    [ "$(h exec bench sha256sum "$1" | cut -d' ' -f1)" = "$sum" ] ||
        { echo "bench/ssh_cp.sh: $1 in the guest differs" >&2; exit 1; }
}
check_host() {
    [ "$(sha256sum <"$1" | cut -d' ' -f1)" = "$sum" ] ||
        { echo "bench/ssh_cp.sh: $1 differs" >&2; exit 1; }
    rm -f "$1"
}

echo "warm-up (not counted):"
timed "$work/warm" h cp "$work/file" bench:/root/in.hearth >/dev/null
timed "$work/warm" "${scp_[@]}" "$work/file" "root@$ip:/root/in.scp" >/dev/null
for i in $(seq 1 "$runs"); do
    h exec bench sh -c 'rm -f /root/in.hearth /root/in.scp; sync'
    printf 'run %d new:  hearth cp %s s' "$i" "$(timed "$work/new.hearth" h cp "$work/file" bench:/root/in.hearth)"
    check_guest /root/in.hearth
    printf ', scp %s s\n' "$(timed "$work/new.scp" "${scp_[@]}" "$work/file" "root@$ip:/root/in.scp")"
    check_guest /root/in.scp
    printf 'run %d over: hearth cp %s s' "$i" "$(timed "$work/over.hearth" h cp "$work/file" bench:/root/in.hearth)"
    check_guest /root/in.hearth
    printf ', scp %s s\n' "$(timed "$work/over.scp" "${scp_[@]}" "$work/file" "root@$ip:/root/in.scp")"
    check_guest /root/in.scp
    printf 'run %d out:  hearth cp %s s' "$i" "$(timed "$work/out.hearth" h cp bench:/root/in.hearth "$work/back.hearth")"
    check_host "$work/back.hearth"
    printf ', scp %s s\n' "$(timed "$work/out.scp" "${scp_[@]}" "root@$ip:/root/in.scp" "$work/back.scp")"
    check_host "$work/back.scp"
    printf 'run %d small: hearth cp %s s' "$i" "$(timed "$work/small.hearth" h cp "$work/small" bench:/root/small.hearth)"
    printf ', scp %s s\n' "$(timed "$work/small.scp" "${scp_[@]}" "$work/small" "root@$ip:/root/small.scp")"
done

echo
printf '%-30s %10s %10s %14s\n' "$size_mb MiB, median of $runs" "hearth cp" "scp" "hearth / scp"
for d in new over out small; do
    hm=$(median "$work/$d.hearth")
    sm=$(median "$work/$d.scp")
    case $d in
    new) what="into the guest, a new file" ;;
    over) what="into the guest, over a file" ;;
    out) what="out of the guest" ;;
    small) what="1 KiB into the guest" ;;
    esac
    printf '%-30s %9ss %9ss %14s\n' "$what" "$hm" "$sm" \
        "$(awk -v a="$hm" -v b="$sm" 'BEGIN { printf "%.2f", a / b }')"
done
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) after the run"
