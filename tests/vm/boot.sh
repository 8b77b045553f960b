#!/usr/bin/env bash
# boot.sh FIXTURES [CMDLINE]: boots the test image with plain QEMU, the way
# hearth's qemu driver runs it (src/vmm/qemu.c; not paused, -S, and without
# the second QMP socket for events), without hearth: an ext4 of
# FIXTURES/rootfs (mke2fs -d) as the virtio-mmio disk, the kernel and initrd
# of FIXTURES/kernel.env. Waits for the marker, presses the ACPI power button
# over QMP (system_powerdown) and waits for QEMU to exit. Prints the seconds
# to the marker and from the power button to QEMU's exit, and QEMU's exit
# status; exits 0 when the guest booted and powered off by itself.
# MEM (MiB, default 256), CPUS (default 1), TIMEOUT (s, default 180).
set -uo pipefail

FIX=${1:?usage: boot.sh FIXTURES [CMDLINE]}
. "$FIX/kernel.env"
CMDLINE=${2:-$CMDLINE}
MEM=${MEM:-256}
CPUS=${CPUS:-1}
TIMEOUT=${TIMEOUT:-180}

T=$(mktemp -d)
QPID=
cleanup() {
    [ -n "$QPID" ] && kill -9 "$QPID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
# alive PID: running, not a zombie waiting to be reaped.
alive() {
    local st
    st=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${st:0:1}" != Z ]
}

cp -a "$FIX/rootfs" "$T/root"
echo "copied by boot.sh" >"$T/root/etc/hearth-e2e.txt"
mke2fs -q -t ext4 -b 4096 -d "$T/root" "$T/disk" 256M || exit 1

khz=$(awk -F': *' '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)
start=$(date +%s.%N)
qemu-system-x86_64 -M microvm,acpi=on,rtc=on,pit=on,pic=on -accel tcg -cpu max \
    -smp "$CPUS" -m "${MEM}M" -nodefaults -no-user-config -nographic -no-reboot \
    -action panic=exit-failure \
    -kernel "$VMLINUZ" -initrd "$INITRD" -append "$CMDLINE tsc_early_khz=$khz" \
    -drive "file=$T/disk,if=none,id=rootfs,format=raw" -device virtio-blk-device,drive=rootfs \
    -nic none -device i8042 -device pvpanic -serial stdio -qmp "unix:$T/qmp,server=on,wait=off" \
    </dev/null >"$T/console" 2>&1 &
QPID=$!

booted=
for _ in $(seq 1 $((TIMEOUT * 10))); do
    grep -q hearth-e2e-ready "$T/console" && booted=$(date +%s.%N) && break
    alive "$QPID" || break
    sleep 0.1
done
if [ -z "$booted" ]; then
    cat "$T/console"; echo "kernels started: $(grep -c "Linux version" "$T/console")"
    echo "boot.sh: no marker (QEMU $(alive "$QPID" && echo "still runs" || echo ended))" >&2
    exit 1
fi
grep '^hearth-e2e' "$T/console"
sleep 1 # acpid is started before the marker; give it a moment to open its devices

pressed=$(date +%s.%N)
python3 - "$T/qmp" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
f.readline()
for cmd in ("qmp_capabilities", "system_powerdown"):
    f.write(json.dumps({"execute": cmd}) + "\n")
    f.flush()
    while "return" not in json.loads(f.readline()):
        pass
PY
status=timeout
for _ in $(seq 1 300); do
    if ! alive "$QPID"; then
        wait "$QPID"
        status=$?
        QPID=
        break
    fi
    sleep 0.1
done
ended=$(date +%s.%N)
grep 'hearth-e2e-poweroff\|reboot: Power down' "$T/console"
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
echo "boot: $(secs "$start" "$booted") s to the marker; power button to exit:" \
    "$(secs "$pressed" "$ended") s; qemu exit status: $status"
[ "$status" = 0 ] && grep -q 'hearth-e2e-poweroff power-button' "$T/console"
