# Shared by the VM integration tests (sourced after assert.sh, not run):
# the processes of the test root and their cleanup (procs.sh), the fixtures
# of tests/vm (a busybox image as an OCI layout in $TMP/fx and a kernel with
# its initrd, kernel.env; QEMU, busybox or a kernel missing fails the test),
# and small helpers.
VMT="$HEARTH_SRC/tests/vm"

. "$(dirname "${BASH_SOURCE[0]}")/procs.sh"

need qemu-system-x86_64 qemu-system-x86
if ! bash "$VMT/mkfixtures.sh" "$TMP/fx" 2>"$TMP/fx.err"; then
    cat "$TMP/fx.err" >&2
    echo "FAIL: tests/vm/mkfixtures.sh"
    exit 1
fi
. "$TMP/fx/kernel.env"
IMAGE=localhost/hearth-e2e:1
KERNEL=hearth-e2e-kernel:1

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# sqlv SQL: one value, no header.
sqlv() { h sql -o csv "$1" | tail -n +2 | tr -d '\r'; }

# Guests of tests/vm's image (mkfixtures.sh: it prints hearth-e2e-boot N,
# hearth-e2e-ip ADDRESS and hearth-e2e-ready on its console), with
# BOOT_WAIT set by the test:
# boot_ip VM BOOT: the address the guest printed in its BOOT-th boot (empty
# when it did not within BOOT_WAIT); waits for hearth-e2e-ready after it.
boot_ip() {
    local end=$(($(date +%s) + BOOT_WAIT)) log
    while [ "$(date +%s)" -le "$end" ]; do
        log=$(h logs "$1" 2>/dev/null | sed -n "/hearth-e2e-boot $2[^0-9]*\$/,\$p")
        if grep -q hearth-e2e-ready <<<"$log"; then
            sed -n 's/^hearth-e2e-ip: \([^[:space:]]*\).*/\1/p' <<<"$log" | head -n 1
            return
        fi
        sleep 0.5
    done
}
# booted_with VM BOOT WANT: the guest's BOOT-th boot printed WANT (the address hearth
# gave it) as its address.
booted_with() {
    local t0 got
    t0=$(now_ms)
    got=$(boot_ip "$1" "$2")
    if [ -z "$got" ]; then
        bad "vm '$1': boot $2 did not reach hearth-e2e-ready within ${BOOT_WAIT}s; log:"
        h logs --tail 30 "$1" >&2
        return 1
    fi
    echo "vm '$1': boot $2 ready $(($(now_ms) - t0)) ms after start returned, address $got"
    equal "vm '$1' boot $2: the guest's address is the one hearth gave it" "$got" "$3"
}
# in_guest VM CMD: runs CMD on VM's console (hearth attach), its output in
# $OUT; 0 when CMD exited 0. The status line's text is made by the guest's
# shell ($((...))), so the echoed command line never matches it.
in_guest() {
    python3 "$VMT/attach.py" --send "$2; echo hearth-e2e-rc-\$((\$? + 1000))" \
        --expect "hearth-e2e-rc-1" --stay 0.5 --timeout 60 -- \
        "$HEARTH" --root "$ROOT" attach "$1" >"$TMP/guest.out" 2>&1
    OUT=$(cat "$TMP/guest.out")
    grep -q 'hearth-e2e-rc-1000' <<<"$OUT"
}
guest_ok() {
    if in_guest "$2" "$3"; then ok; else bad "$1: in vm '$2', '$3' failed: $OUT"; fi
}
