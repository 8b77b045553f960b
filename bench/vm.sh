#!/usr/bin/env bash
# The engine's own cost of `hearth create` and `hearth start` on a reflink
# pool (the file driver on XFS with reflink=1, loop-mounted), for 1 VM and for
# 100. The VMM is the Firecracker fake (tests/vmm/fake/fcfake.c): its
# configuration ends with InstanceStart, which `start` waits for, so a start
# is timed until the VMM has its whole configuration and no guest boots.
#
#   single: REPS times on an otherwise empty root: create, start, then
#           rm -f (not timed), so every VM is the only one; then run
#           (create and start in one process) and rm -f.
#   many:   COUNT (100) creates in a row, then COUNT starts in a row; all
#           COUNT stay running until the end. Then, on the emptied root,
#           COUNT `hearth run` in a row, all kept.
#
# Each command is one `hearth` process, timed with bash's $EPOCHREALTIME, so
# a figure includes the process's start (exec, dynamic linking, opening and
# checking the database); `hearth version` and `hearth ps -q` on the same
# root are timed as that floor. The first create of an image and size builds
# the shared Resize and Kernel layers; it is reported apart (a warm-up VM is
# created and removed before the measured ones).
#   engine: COUNT engine_vm_create + engine_vm_start in one process with one
#           open engine (bench/vm_engine.c): the engine's own cost, without
#           the start of a hearth process per command.
# Prints per-VM median / p95 / mean / max in ms for create, start and
# create+start (the sum of one VM's create and start), and for `hearth run`.
#
# Usage: bench/vm.sh      (root, loop devices, mkfs.xfs; REPS=30 COUNT=100;
#        BUILD=DIR picks the build directory, default build-bench;
#        STRACE=1 also prints a timeline of one create and one start
#        from strace -tt -T)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
reps=${REPS:-30}
count=${COUNT:-100}
build=${BUILD:-$src/build-bench}
spec=${HEARTH_FC_SPEC:-$src/../shared/specs/firecracker-v1.16.1.yaml}

if [ "$(id -u)" != 0 ] || [ ! -e /dev/loop-control ] || ! command -v mkfs.xfs >/dev/null; then
    echo "bench/vm.sh needs root, loop devices and mkfs.xfs (xfsprogs)" >&2
    exit 1
fi
[ -r "$spec" ] || {
    echo "no Firecracker spec at $spec (set HEARTH_FC_SPEC)" >&2
    exit 1
}
export HEARTH_FC_SPEC=$spec

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" --target hearth fcfake bench_vm_engine >/dev/null
hearth=$build/hearth
fcfake=$build/fcfake

work=$(mktemp -d "${TMPDIR:-/tmp}/hearth-bench-vm.XXXXXX")
mnt=$work/mnt
root=$mnt/root
root_procs() {
    local p cmd
    for p in /proc/[0-9]*; do
        cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
        [[ "$cmd" == *"$root"* ]] && echo "${p#/proc/}"
    done
}
cleanup() {
    local p
    for p in $(root_procs); do kill -9 "$p" 2>/dev/null || true; done
    mountpoint -q "$mnt" 2>/dev/null && umount "$mnt"
    rm -rf "$work"
}
trap cleanup EXIT

bash tests/vm/mkfixtures.sh "$work/fx" >/dev/null
. "$work/fx/kernel.env"
truncate -s 64G "$work/xfs.img"
mkfs.xfs -q -m reflink=1 "$work/xfs.img"
mkdir -p "$mnt"
mount -o loop "$work/xfs.img" "$mnt"

h() { "$hearth" --root "$root" "$@"; }
now() { echo "${EPOCHREALTIME/./}"; } # microseconds, without a process
# timed FILE CMD...: runs CMD (output discarded unless it fails), appends
# its wall time in ms to FILE.
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
# stats NAME FILE: n, median, p95, mean, max.
stats() {
    sort -g "$2" | awk -v name="$1" '{ v[NR] = $1; s += $1 }
        END { p95 = int(0.95 * NR + 0.999); if (p95 < 1) p95 = 1
              med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              printf "%-34s %5d %9.2f %9.2f %9.2f %9.2f\n", name, NR, med, v[p95], s / NR, v[NR] }'
}
header() { printf "%-34s %5s %9s %9s %9s %9s\n" "$1 (ms per VM)" n median p95 mean max; }
VMARGS=(--memory 128MB --size 1GB -k hearth-e2e-kernel:1 --kernel-args "$CMDLINE")
START=(--vmm firecracker --firecracker-bin "$fcfake")

echo "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run"
h pool init --driver file >/dev/null 2>&1
h image import -q "oci-layout:$work/fx/hearth-e2e:1" >/dev/null
h kernel import --vmlinux "$VMLINUZ" --initrd "$INITRD" hearth-e2e-kernel:1 >/dev/null

# Warm-up: the first create builds the Resize and Kernel layers.
timed "$work/first" h create localhost/hearth-e2e:1 --name warm "${VMARGS[@]}"
timed "$work/first-start" h start "${START[@]}" warm
h rm -f warm >/dev/null

for _ in $(seq 1 11); do
    timed "$work/floor-version" "$hearth" version
    timed "$work/floor-ps" h ps -q
done

# single
for i in $(seq 1 "$reps"); do
    timed "$work/s-create" h create localhost/hearth-e2e:1 --name "s$i" "${VMARGS[@]}"
    timed "$work/s-start" h start "${START[@]}" "s$i"
    h rm -f "s$i" >/dev/null
    timed "$work/s-run" h run localhost/hearth-e2e:1 --name "r$i" "${VMARGS[@]}" "${START[@]}"
    h rm -f "r$i" >/dev/null
done
paste "$work/s-create" "$work/s-start" | awk '{ printf "%.3f\n", $1 + $2 }' >"$work/s-both"

# many
for i in $(seq 1 "$count"); do
    timed "$work/m-create" h create localhost/hearth-e2e:1 --name "m$i" "${VMARGS[@]}"
done
for i in $(seq 1 "$count"); do
    timed "$work/m-start" h start "${START[@]}" "m$i"
done
paste "$work/m-create" "$work/m-start" | awk '{ printf "%.3f\n", $1 + $2 }' >"$work/m-both"
running=$(h sql -o csv "SELECT count(*) FROM vms WHERE state = 'Running'" | tail -1)

# timeline FILE: the strace -tt -T lines that show where the time goes (the
# children run, the waits, the syncs), in ms from the command's start.
timeline() {
    grep -vE 'ENOENT|ENOTTY|SIGCHLD|exited with|resumed>|FIEMAP' "$1" |
        grep -vE 'poll\(.*(<0\.000[0-9]+>|unfinished \.\.\.>)$' | sed -E 's/^([0-9]{2}:[0-9]{2}:)/- \1/' | awk '
        { split($2, t, ":"); ms = (t[1] * 3600 + t[2] * 60 + t[3]) * 1000
          if (NR == 1) t0 = ms
          line = $0; sub(/^[-0-9]+ [0-9:.]+ /, "", line)
          printf "%8.2f ms  pid %s  %s\n", ms - t0, $1, substr(line, 1, 110) }'
    echo "(and $(grep -c FIEMAP "$1") FS_IOC_FIEMAP calls, not shown)"
}
if [ "${STRACE:-0}" = 1 ] && command -v strace >/dev/null; then
    # The create is followed into its children (debugfs), only the syscalls
    # that mark the steps stopping it (--seccomp-bpf), so its times stay
    # near untraced ones. The start is not followed (strace would wait for
    # the detached monitor), and without -f every syscall stops it: its
    # first milliseconds (loading 53 libraries) are much slower than
    # untraced, but its wait for the untraced monitor (a poll) is not.
    ev=execve,clone,clone3,wait4,poll,fsync,fdatasync,ioctl,exit_group
    strace -f --seccomp-bpf -e trace=$ev -tt -T -o "$work/strace-create" "$hearth" \
        --root "$root" create localhost/hearth-e2e:1 --name traced "${VMARGS[@]}" >/dev/null
    strace -e trace=$ev -tt -T -o "$work/strace-start" "$hearth" --root "$root" \
        start "${START[@]}" traced >/dev/null
fi

t0=$(now)
# shellcheck disable=SC2046 # the names are words
h rm -f $(seq -f 'm%g' 1 "$count") $([ "${STRACE:-0}" = 1 ] && echo traced) >/dev/null
rm_ms=$((($(now) - t0) / 1000))

# many, with run: COUNT runs in a row on the emptied root, all kept.
for i in $(seq 1 "$count"); do
    timed "$work/m-run" h run localhost/hearth-e2e:1 --name "n$i" "${VMARGS[@]}" "${START[@]}"
done
running_run=$(h sql -o csv "SELECT count(*) FROM vms WHERE state = 'Running'" | tail -1)
# shellcheck disable=SC2046 # the names are words
h rm -f $(seq -f 'n%g' 1 "$count") >/dev/null

# engine: COUNT creates and starts in one process with one open engine
# (bench/vm_engine.c), the engine's own cost without a hearth process's start.
"$build/bench_vm_engine" "$root" localhost/hearth-e2e:1 hearth-e2e-kernel:1 "$CMDLINE" \
    "$fcfake" "$hearth" "$count" >"$work/e-both-raw"
awk '{ print $1 }' "$work/e-both-raw" >"$work/e-create"
awk '{ print $2 }' "$work/e-both-raw" >"$work/e-start"
awk '{ printf "%.3f\n", $1 + $2 }' "$work/e-both-raw" >"$work/e-both"
# shellcheck disable=SC2046 # the names are words
h rm -f $(seq -f 'engine-%g' 1 "$count") >/dev/null

echo
echo "first create of the image at 1 GB (builds Resize + Kernel): $(cat "$work/first") ms;" \
    "its start: $(cat "$work/first-start") ms"
header "process floor"
stats "hearth version" "$work/floor-version"
stats "hearth ps -q" "$work/floor-ps"
header "single ($reps VMs, one at a time)"
stats "create" "$work/s-create"
stats "start" "$work/s-start"
stats "create+start" "$work/s-both"
stats "run (create+start, one process)" "$work/s-run"
header "many ($count VMs, all kept)"
stats "create" "$work/m-create"
stats "start" "$work/m-start"
stats "create+start" "$work/m-both"
stats "run (create+start, one process)" "$work/m-run"
header "engine ($count VMs in one process, all kept)"
stats "engine_vm_create" "$work/e-create"
stats "engine_vm_start" "$work/e-start"
stats "create+start" "$work/e-both"
echo "running at the end: $running of $count (create, start); $running_run of $count (run)"
echo "first tenth / last tenth of the many creates (mean ms):" \
    "$(head -n $((count / 10)) "$work/m-create" | awk '{ s += $1 } END { printf "%.2f", s / NR }')" \
    "/ $(tail -n $((count / 10)) "$work/m-create" | awk '{ s += $1 } END { printf "%.2f", s / NR }')"
echo "first tenth / last tenth of the many starts (mean ms):" \
    "$(head -n $((count / 10)) "$work/m-start" | awk '{ s += $1 } END { printf "%.2f", s / NR }')" \
    "/ $(tail -n $((count / 10)) "$work/m-start" | awk '{ s += $1 } END { printf "%.2f", s / NR }')"
for f in s-both s-run m-both m-run e-both; do
    awk -v f="$f" '{ n++; if ($1 < 50) u++ }
        END { printf "%s: under 50 ms for %d of %d VMs\n", f, u, n }' "$work/$f"
done
if [ -s "$work/strace-create" ]; then
    echo "== strace -tt -T of one create (the $((count + 1))th VM) and its children"
    timeline "$work/strace-create"
    echo "== strace -tt -T of its start (the process alone)"
    timeline "$work/strace-start"
fi

echo "rm -f of $count running VMs (one command): $rm_ms ms"
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) after the run"
