#!/usr/bin/env bash
# User-mode networking for real, as a normal user, in a network namespace
# this test creates (root only makes the namespace): the test image of
# tests/vm boots under QEMU/TCG through the vmm module's calls (VMMRUN,
# tests/vmm/run/vmmrun.c, does what the engine's monitor does), run as the
# user nobody:
#   - passt: the guest gets the address hearth chose (10.77.0.9/24 via
#     10.77.0.1) from passt's DHCP, and curl of the forwarded port on the
#     namespace's 127.0.0.1 gets the page the guest's httpd serves; passt
#     runs as nobody; QMP quit ends qemu with status 0 and passt by itself
#     (--one-off);
#   - qemu's own user networking (slirp), the same address and page; kill -9
#     of the process that started qemu ends qemu too (PR_SET_PDEATHSIG);
#   - kill -9 of that process while passt and qemu run ends both;
#   - a forward to port 80 as a normal user: passt refuses it and the start
#     fails saying passt ended before its socket was there.
# The namespace's only other link is a veth pair with both ends inside it
# (passt wants an interface with a default route); nothing is sent beyond.
set -u

if [ "${VM_PASST_IN_NETNS:-}" != 1 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "SKIP: creating the test's network namespace needs root"
        echo "0 passed, 0 failed"
        exit 77
    fi
    VM_PASST_IN_NETNS=1 exec unshare -n bash "$0" "$@"
fi

. "$(dirname "$0")/lib/assert.sh"
. "$(dirname "$0")/lib/vm.sh"
need passt passt
need curl curl
need setpriv util-linux
VMMRUN=${VMMRUN:?set VMMRUN to the vmmrun test program}
BOOT_WAIT=${BOOT_WAIT:-120} # seconds a TCG boot may take

ip link set lo up
ip link add v0 type veth peer name v1
ip addr add 192.0.2.1/24 dev v0
ip link set v0 up
ip link set v1 up
ip route add default via 192.0.2.2

# Everything the guest and its VMM use is readable by nobody; each run's
# directory is nobody's. A test that ends early takes its VM with it.
chmod 755 "$TMP"
VMPID=
trap '[ -n "$VMPID" ] && kill -9 "$VMPID" 2>/dev/null; cleanup' EXIT

# run_vm DIR NET [ARGS...]: vmmrun as nobody in DIR (made here, with a disk
# of the test image whose hostname is vm-NET) in the background; $VMPID.
run_vm() {
    local dir=$1 net=$2
    shift 2
    mkdir -p "$dir"
    cp -a "$TMP/fx/rootfs" "$dir/root"
    echo "vm-$net" >"$dir/root/etc/hostname"
    mke2fs -q -t ext4 -b 4096 -d "$dir/root" "$dir/disk" 256M || bad "mke2fs for $dir"
    rm -rf "$dir/root"
    chown -R 65534:65534 "$dir"
    (cd "$dir" && exec setpriv --reuid=65534 --regid=65534 --clear-groups "$VMMRUN" --net "$net" \
        --kernel "$VMLINUZ" --initrd "$INITRD" --cmdline "$CMDLINE" --disk disk \
        --mac 02:00:00:00:00:07 "$@" >console 2>stderr) &
    VMPID=$!
}
# booted DIR: the console shows hearth-e2e-ready within BOOT_WAIT.
booted() {
    local t0 end
    t0=$(now_ms)
    end=$(($(date +%s) + BOOT_WAIT))
    while ! grep -q hearth-e2e-ready "$1/console" 2>/dev/null; do
        if [ "$(date +%s)" -gt "$end" ] || ! kill -0 "$VMPID" 2>/dev/null; then
            bad "$1: no hearth-e2e-ready within ${BOOT_WAIT}s; console and stderr:"
            tail -n 20 "$1/console" "$1/stderr" >&2
            return 1
        fi
        sleep 0.2
    done
    ok
    echo "$1: hearth-e2e-ready $(($(now_ms) - t0)) ms after the start"
}
# child_pid PARENT WORD: the child of PARENT whose command line starts with WORD.
child_pid() {
    ps -o pid=,args= --ppid "$1" | awk -v w="$2" '$2 ~ "(^|/)" w { print $1; exit }'
}
# gone PID: ended (a zombie counts) within 10 s.
gone() {
    local st
    for _ in $(seq 0 100); do
        st=$(ps -o stat= -p "$1" 2>/dev/null) || return 0
        [ "${st:0:1}" = Z ] && return 0
        sleep 0.1
    done
    return 1
}
qmp_quit() {
    python3 - "$1" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
f.readline()
for cmd in ("qmp_capabilities", "quit"):
    f.write(json.dumps({"execute": cmd}) + "\n")
    f.flush()
    while "return" not in json.loads(f.readline()):
        pass
PY
}
USERNET=(--address 10.77.0.9/24 --gateway 10.77.0.1 --forward udp:5353:53)

# passt
D="$TMP/passt"
run_vm "$D" passt "${USERNET[@]}" --forward 127.0.0.1/8080:80
if booted "$D"; then
    expect "passt: the address hearth chose" "$(cat "$D/console")" "hearth-e2e-ip: 10.77.0.9"
    check "passt: curl the forwarded port" 0 curl -sS --max-time 20 http://127.0.0.1:8080/
    expect "passt: the guest's page" "$OUT" "hearth-e2e httpd on vm-passt"
    P=$(child_pid "$VMPID" passt)
    equal "passt runs as nobody" "$(ps -o user= -p "${P:-0}" | tr -d ' ')" nobody
    expect "passt's argv" "$(tr '\0' ' ' <"/proc/${P:-0}/cmdline")" \
        "-f -q -e --one-off -s passt.sock -a 10.77.0.9 -n 24 -g 10.77.0.1 -u 5353:53 -t 127.0.0.1/8080:80"
    check "passt: qmp quit" 0 qmp_quit "$D/qmp.sock"
    if gone "$VMPID"; then ok; else bad "vmmrun did not end after qmp quit"; fi
    wait "$VMPID"
    equal "passt: vmmrun's status" "$?" 0
    expect "passt: qemu exited 0" "$(cat "$D/stderr")" "vmmrun: qemu ended, status 0"
    expect "passt: passt ended by itself" "$(cat "$D/stderr")" "vmmrun: passt ended, status 0"
    reject "passt: not killed" "$(cat "$D/stderr")" "still ran"
fi
kill -9 "$VMPID" 2>/dev/null

# slirp
D="$TMP/slirp"
run_vm "$D" slirp "${USERNET[@]}" --forward 127.0.0.1/8081:80
if booted "$D"; then
    expect "slirp: the address hearth chose" "$(cat "$D/console")" "hearth-e2e-ip: 10.77.0.9"
    check "slirp: curl the forwarded port" 0 curl -sS --max-time 20 http://127.0.0.1:8081/
    expect "slirp: the guest's page" "$OUT" "hearth-e2e httpd on vm-slirp"
    expect "slirp: qemu's netdev" "$(cat "$D/stderr")" \
        "-netdev user,id=net0,net=10.77.0.0/24,dhcpstart=10.77.0.9,host=10.77.0.1,hostfwd=udp::5353-:53,hostfwd=tcp:127.0.0.1:8081-:80"
    Q=$(child_pid "$VMPID" qemu-system)
    kill -9 "$VMPID"
    if [ -n "$Q" ] && gone "$Q"; then ok; else bad "slirp: qemu '$Q' outlived its starter"; fi
fi

# kill -9 of the starter while passt and qemu run (no need to wait for the boot).
D="$TMP/owner"
run_vm "$D" passt "${USERNET[@]}"
for _ in $(seq 1 200); do
    P=$(child_pid "$VMPID" passt)
    Q=$(child_pid "$VMPID" qemu-system)
    [ -n "$P" ] && [ -n "$Q" ] && break
    sleep 0.1
done
if [ -n "$P" ] && [ -n "$Q" ]; then
    ok
    kill -9 "$VMPID"
    if gone "$P"; then ok; else bad "passt outlived its starter"; fi
    if gone "$Q"; then ok; else bad "qemu outlived its starter"; fi
else
    bad "passt ('$P') and qemu ('$Q') did not both start; stderr: $(cat "$D/stderr")"
fi

# A port below 1024 as a normal user: passt ends, the start says so.
D="$TMP/low"
run_vm "$D" passt --forward 80:80
wait "$VMPID"
equal "low port: vmmrun fails" "$?" 1
expect "low port: passt's reason" "$(cat "$D/stderr")" "Failed to bind any port for '-t 80:80'"
expect "low port: the start's error" "$(cat "$D/stderr")" "passt exited before its socket"

finish
