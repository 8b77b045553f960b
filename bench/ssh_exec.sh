#!/usr/bin/env bash
# The latency of `hearth exec VM true` against OpenSSH's `ssh -i KEY
# root@ADDR true` to the same guest: the Debian 12 test image
# (tests/vm/mkdebian.sh, sshd with the host key hearth planted) booted by
# hearth under QEMU (TCG here), bridged, as root, entirely inside a network
# namespace this script makes (`unshare -n`, lo up): the bridge, nftables and
# dnsmasq are never the host's.
#
#   RUNS (20) of each, interleaved (hearth, ssh, hearth, ...) after one
#   warm-up of each; every run is a new process and a new connection (key
#   exchange, authentication, a session channel, the command, its exit
#   status). Prints n, median, p95, mean and max of each and the ratio of
#   the medians. ssh gets the VM's generated key and its planted host key
#   in a known_hosts file of the script's own, so both check the host key.
#   A third series, ssh with `-o KexAlgorithms=curve25519-sha256` (the key
#   exchange libssh 0.10 picks; OpenSSH 9.2 picks sntrup761x25519-sha512),
#   tells what the key exchange costs the emulated guest.
#
# Usage: bench/ssh_exec.sh (root); knobs RUNS=20 BUILD=DIR (default
#        build-bench). The image is built into the checkout's .cache/debian
#        first when it is missing or stale (needs the Debian mirror, as
#        scripts/install-deps does).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
[ "$(id -u)" = 0 ] || { echo "bench/ssh_exec.sh: needs root (a network namespace)" >&2; exit 1; }
cache=${HEARTH_DEBIAN_CACHE:-$src/.cache/debian}
# The image first, from the mirror, still in the machine's namespace.
if [ -z "${HEARTH_BENCH_NETNS:-}" ]; then
    bash tests/vm/mkdebian.sh "$cache" >&2
    export HEARTH_BENCH_NETNS=$$ HEARTH_DEBIAN_CACHE=$cache
    exec unshare -n -- bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$@"
fi
runs=${RUNS:-20}
build=$(realpath -m "${BUILD:-$src/build-bench}")
for p in ssh ssh-keygen qemu-system-x86_64 nft dnsmasq; do
    command -v "$p" >/dev/null || { echo "bench/ssh_exec.sh: $p is missing (scripts/install-deps)" >&2; exit 1; }
done

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target hearth >/dev/null
hearth=$build/hearth

work=$(mktemp -d "${TMPDIR:-/tmp}/hearth-bench-ssh.XXXXXX")
root=$work/root
. "$src/bench/lib.sh"
cleanup() {
    local p
    for p in $(root_procs); do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

h() { "$hearth" --root "$root" "$@"; }
stats() {
    sort -g "$2" | awk -v name="$1" '{ v[NR] = $1; s += $1 }
        END { p95 = int(0.95 * NR + 0.999); if (p95 < 1) p95 = 1
              med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              printf "%-34s %5d %9.2f %9.2f %9.2f %9.2f\n", name, NR, med, v[p95], s / NR, v[NR] }'
}

echo "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run"
bash tests/vm/mkfixtures.sh "$work/fx" >/dev/null
. "$work/fx/kernel.env"
h pool init --driver file >/dev/null
h image import -q "oci-layout:$cache/hearth-debian:12" >/dev/null
h kernel import -q --vmlinux "$VMLINUZ" --initrd "$INITRD" localhost/kernel:1 >/dev/null
h run --ssh --ssh-timeout 600 --name dev --memory 512MB --size 1GB -k localhost/kernel:1 \
    --kernel-args "$CMDLINE" localhost/hearth-debian:12 >/dev/null 2>"$work/run.err" ||
    { cat "$work/run.err" >&2; exit 1; }
grep 'answers ssh' "$work/run.err" || true
ip=$(h sql -o csv "SELECT ips FROM vms WHERE name = 'dev'" | tail -1 | tr -d '\r')
key=$(ls "$root"/vm/*/id_ed25519)
pub=$(h exec dev cat /etc/ssh/ssh_host_ed25519_key.pub)
echo "$ip $pub" >"$work/known_hosts"
SSH=(ssh -i "$key" -o BatchMode=yes -o UserKnownHostsFile="$work/known_hosts"
    -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o LogLevel=ERROR
    -F /dev/null "root@$ip")
"${SSH[@]}" -v true 2>&1 | grep -E 'kex: algorithm|kex: server->client cipher' | sed 's/^debug1: /ssh: /'
C25519=(-o KexAlgorithms=curve25519-sha256)

# warm-up (page cache, the guest's sshd binary), then the runs, interleaved
timed "$work/warm" h exec dev true
timed "$work/warm" "${SSH[@]}" true
for _ in $(seq 1 "$runs"); do
    timed "$work/hearth" h exec dev true
    timed "$work/ssh" "${SSH[@]}" true
    timed "$work/ssh-c25519" "${SSH[@]}" "${C25519[@]}" true
done
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) after the runs"
printf "%-34s %5s %9s %9s %9s %9s\n" "exec true (ms)" n median p95 mean max
stats "hearth exec dev true" "$work/hearth"
stats "ssh -i KEY root@$ip true" "$work/ssh"
stats "ssh -o KexAlgorithms=curve25519-sha256" "$work/ssh-c25519"
awk -v a="$(median "$work/hearth")" -v b="$(median "$work/ssh")" -v c="$(median "$work/ssh-c25519")" \
    'BEGIN { printf "hearth / ssh (medians): %.2fx; hearth / ssh with curve25519-sha256: %.2fx\n", a / b, a / c }'
h rm -f dev >/dev/null
h network rm hearth0 >/dev/null
