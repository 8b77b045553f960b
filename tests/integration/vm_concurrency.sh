#!/usr/bin/env bash
# N (default 8) `hearth run` of the same image at once, on a file pool under
# QEMU/TCG (tests/vm/README.md), with hearth's default kernel command line:
# every run succeeds; names, ids, pool
# devices and console logs are all distinct; one Resize and one Kernel layer
# serve them all; every guest boots (its marker in `hearth logs`); then
# `rm -f` of all of them leaves no file, device or process behind and
# `hearth doctor` clean. Prints the time each phase took.
# QEMU or a kernel missing fails the test, saying why.
set -u

. "$(dirname "$0")/lib/assert.sh"
. "$(dirname "$0")/lib/vm.sh"
N=${N:-8}
BOOT_WAIT=${BOOT_WAIT:-300} # 8 TCG guests share 2 cores

distinct() { sort | uniq | grep -c .; }

check "pool init" 0 h pool init --driver file
check "image import" 0 h image import -q "oci-layout:$TMP/fx/hearth-e2e:1"
check "kernel import" 0 h kernel import --vmlinux "$VMLINUZ" --initrd "$INITRD" "$KERNEL"

# N runs at once.
T0=$(now_ms)
PIDS=()
for i in $(seq 1 "$N"); do
    h run "$IMAGE" --name "c$i" --memory 128MB --size 512MB -k "$KERNEL" \
        >"$TMP/run$i.out" 2>"$TMP/run$i.err" &
    PIDS+=($!)
done
RUN_FAILED=0
for p in "${PIDS[@]}"; do
    wait "$p" || RUN_FAILED=$((RUN_FAILED + 1))
done
RUN_MS=$(($(now_ms) - T0))
echo "$N concurrent runs returned after $RUN_MS ms"
equal "failed runs" "$RUN_FAILED" "0"
[ "$RUN_FAILED" = 0 ] || for i in $(seq 1 "$N"); do cat "$TMP/run$i.err" >&2; done

IDS=$(for i in $(seq 1 "$N"); do tail -1 "$TMP/run$i.out"; done)
equal "distinct ids printed" "$(distinct <<<"$IDS")" "$N"
equal "vms" "$(sqlv "SELECT count(*) FROM vms")" "$N"
equal "distinct names" "$(sqlv "SELECT count(DISTINCT name) FROM vms")" "$N"
equal "running" "$(sqlv "SELECT count(*) FROM vms WHERE state = 'Running'")" "$N"
equal "distinct monitors" "$(sqlv "SELECT count(DISTINCT monitor_pid) FROM vms")" "$N"
equal "distinct vmm pids" "$(sqlv "SELECT count(DISTINCT vmm_pid) FROM vms")" "$N"
equal "vm devices" "$(sqlv "SELECT count(DISTINCT id) FROM pool_devices WHERE type = 'VM'")" "$N"
equal "vm device owners" \
    "$(sqlv "SELECT count(DISTINCT owner_id) FROM pool_devices WHERE type = 'VM'")" "$N"
equal "resize layers" "$(sqlv "SELECT count(*) FROM pool_devices WHERE type = 'Resize'")" "1"
equal "kernel layers" "$(sqlv "SELECT count(*) FROM pool_devices WHERE type = 'Kernel'")" "1"
LOGS=$(for id in $IDS; do ls "$ROOT/vm/$id/console.log" 2>/dev/null; done)
equal "distinct console logs" "$(distinct <<<"$LOGS")" "$N"
# Each QEMU has its own disk: no disk path twice among the VMMs.
DISKS=$(for p in $(sqlv "SELECT vmm_pid FROM vms"); do
    tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | grep -o 'file=[^,]*' | head -1
done)
equal "distinct vmm disks" "$(distinct <<<"$DISKS")" "$N"

# Every guest boots, with hearth's default command line (Ignite's: no
# root=, so the test initrd mounts /dev/vda; pci=off does nothing here and
# ip=dhcp became the lease), and shows its own hostname.
T0=$(now_ms)
END=$(($(date +%s) + BOOT_WAIT))
left=$(seq 1 "$N")
while [ -n "$left" ] && [ "$(date +%s)" -le "$END" ]; do
    still=
    for i in $left; do
        if h logs "c$i" 2>/dev/null | grep -q 'hearth-e2e-ready'; then
            echo "c$i booted $(($(now_ms) - T0)) ms after the runs returned"
        else
            still="$still $i"
        fi
    done
    left=$still
    [ -n "$left" ] && sleep 2
done
equal "not booted" "$(echo $left)" ""
for i in $left; do h logs --tail 20 "c$i" >&2; done
for i in $(seq 1 "$N"); do
    h logs "c$i" 2>/dev/null | grep -q "hearth-e2e-hostname: c$i" && ok ||
        bad "c$i: its hostname is not in its log"
done
BOOT_MS=$(($(now_ms) - T0))
# (ip=dhcp becomes the VM's lease on its bridge: see docs/cli.md, "Networking")
expect "default command line" "$(h logs c1)" "Command line: console=ttyS0 reboot=k panic=1 pci=off ip=10.61.0."

# rm -f of all at once; nothing left.
T0=$(now_ms)
check "rm -f all" 0 h rm -f $(seq -f 'c%g' 1 "$N")
echo "rm -f of $N running VMs took $(($(now_ms) - T0)) ms"
equal "vms left" "$(sqlv "SELECT count(*) FROM vms")" "0"
equal "vm devices left" "$(sqlv "SELECT count(*) FROM pool_devices WHERE type = 'VM'")" "0"
# The VMs' network outlives them until it is removed.
check "network rm" 0 h network rm hearth0
# No file, socket or per-VM directory (the bare vm/, run/vm/, tmp/ may stay,
# and run/kvm-probe, the host's KVM verdict cached until the next reboot).
equal "files left" "$(find "$ROOT/vm" "$ROOT/run" "$ROOT/tmp" -mindepth 1 \
    ! -path "$ROOT/run/kvm-probe" \( ! -type d -o -regextype egrep \
    -regex '.*/[0-9a-f]{16}' \) 2>/dev/null)" ""
sleep 1
equal "processes left" "$(root_procs | tr '\n' ' ')" ""
equal "loop devices left" "$(losetup -a 2>/dev/null | grep -F "$ROOT")" ""
check "rmi" 0 h rmi "$IMAGE"
check "rmk" 0 h rmk "$KERNEL"
equal "devices left" "$(sqlv "SELECT count(*) FROM pool_devices")" "0"
check "doctor" 0 h doctor

echo "runs: $RUN_MS ms; all booted after another $BOOT_MS ms"
finish
