#!/usr/bin/env bash
# User-mode networking through hearth's CLI, as a normal user (nobody, on a
# root it owns), with the test image of tests/vm booted under QEMU/TCG, in
# the network namespace lib/assert.sh gives every test run as root. passt
# wants an interface with a default route: a veth pair leads to a peer
# namespace (192.0.2.1 here, 192.0.2.2 there, TEST-NET-1), the default
# route via the peer. What it shows:
#
# - `run -p 8080:80` without --net as nobody: the user mode, passt; ps
#   shows 10.0.2.15, the guest gets that address by passt's DHCP, curl of
#   localhost:8080 here gets its page, and the guest reaches the peer
#   (through passt's sockets, as nobody); passt runs as nobody, and stop
#   ends it with the VM;
# - the same with passt hidden (a PATH without it): QEMU's own user
#   networking, the same address and page, no passt anywhere;
# - a port map below 1024 (which nobody may not bind): the run fails
#   saying why before the VM starts, with passt and with slirp; passt
#   failing (no default route) is an error that has passt's own words.
# Traffic goes only between the guests, this namespace and the peer's.
set -u

. "$(dirname "$0")/lib/assert.sh"
[ "$(id -u)" = 0 ] || skip "making the test's namespaces and a root for another user needs root"
. "$(dirname "$0")/lib/vm.sh"
. "$(dirname "$0")/lib/peer.sh"
need ip iproute2
need passt passt
need curl curl
need setpriv util-linux
need nsenter util-linux
need python3 python3
BOOT_WAIT=${BOOT_WAIT:-120} # seconds a TCG boot may take

# The peer (lib/peer.sh), and the default route through it that passt needs.
peer_start
ip route add default via 192.0.2.2

# hearth as nobody, on a root nobody owns; the fixtures are readable by all.
chmod 0755 "$TMP"
mkdir -p "$ROOT" "$TMP/home"
chown 65534:65534 "$ROOT" "$TMP/home"
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$TMP/home" "$@"; }
h() { as_nobody "$HEARTH" --root "$ROOT" "$@"; }

# A PATH without passt: a directory of links to everything else on PATH.
NOPASST="$TMP/nopasst"
mkdir -p "$NOPASST"
IFS=: read -ra dirs <<<"$PATH"
for d in "${dirs[@]}"; do
    for f in "$d"/*; do
        n=${f##*/}
        case "$n" in passt | passt.*) continue ;; esac
        [ -e "$NOPASST/$n" ] || ln -s "$f" "$NOPASST/$n"
    done
done
chmod -R a+rX "$NOPASST"

sqlv() { h sql -o csv "$1" | tail -n +2 | tr -d '\r'; }
vmcol() { sqlv "SELECT $2 FROM vms WHERE name = '$1'"; }
# boot_ip VM: the address the guest printed (empty when it reached no
# hearth-e2e-ready within BOOT_WAIT).
boot_ip() {
    local end=$(($(date +%s) + BOOT_WAIT)) log
    while [ "$(date +%s)" -le "$end" ]; do
        log=$(h logs "$1" 2>/dev/null)
        if grep -q hearth-e2e-ready <<<"$log"; then
            sed -n 's/^hearth-e2e-ip: \([^[:space:]]*\).*/\1/p' <<<"$log" | head -n 1
            return
        fi
        sleep 0.5
    done
}
booted_with() {
    local t0 got
    t0=$(now_ms)
    got=$(boot_ip "$1")
    if [ -z "$got" ]; then
        bad "vm '$1': no hearth-e2e-ready within ${BOOT_WAIT}s; log:"
        h logs --tail 30 "$1" >&2
        return 1
    fi
    echo "vm '$1': ready $(($(now_ms) - t0)) ms after run returned, address $got"
    equal "vm '$1': the guest's address" "$got" "$2"
}
# in_guest VM CMD: runs CMD on VM's console (hearth attach), its output in
# $OUT; 0 when CMD exited 0 (the status line is made by the guest's shell).
in_guest() {
    python3 "$VMT/attach.py" --send "$2; echo hearth-e2e-rc-\$((\$? + 1000))" \
        --expect "hearth-e2e-rc-1" --stay 0.5 --timeout 60 -- \
        "$TMP/attach.sh" "$1" >"$TMP/guest.out" 2>&1
    OUT=$(cat "$TMP/guest.out")
    grep -q 'hearth-e2e-rc-1000' <<<"$OUT"
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
# passt_pids: the passt processes in this network namespace (passt moves
# itself to / in namespaces of its own, but not out of this network's).
passt_pids() {
    local p me
    me=$(readlink /proc/$$/ns/net)
    for p in $(pgrep -x passt; pgrep -x passt.avx2); do
        [ "$(readlink "/proc/$p/ns/net" 2>/dev/null)" = "$me" ] && echo "$p"
    done
}
# A listener on the peer that tells the guest hello and records who came.
# The guest's nc is ended by timeout: under passt (Debian 12's) it got the
# greeting but not the peer's close after its own half-close (rc 1143).
peer_listen() {
    rm -f "$TMP/peer-listening"
    peer python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("192.0.2.2", 7070)); s.listen(1); s.settimeout(60)
open(sys.argv[1], "w").close()
c, addr = s.accept(); print(addr[0]); c.sendall(b"hello from outside\n"); c.close()
' "$TMP/peer-listening" >"$TMP/peer-saw" 2>&1 &
    PL=$!
    for _ in $(seq 50); do [ -e "$TMP/peer-listening" ] && break; sleep 0.1; done
}

# attach needs a terminal, which attach.py gives the command it runs.
cat >"$TMP/attach.sh" <<EOF
#!/bin/sh
exec setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$TMP/home" "$HEARTH" --root "$ROOT" attach "\$1"
EOF
chmod 0755 "$TMP/attach.sh"

check "pool init" 0 h pool init --driver file
check "image import" 0 h image import -q "oci-layout:$TMP/fx/hearth-e2e:1"
check "kernel import" 0 h kernel import -q --vmlinux "$VMLINUZ" --initrd "$INITRD" "$KERNEL"
RUN=(--memory 128MB --size 512MB -k "$KERNEL" --kernel-args "$CMDLINE")

# ---- passt --------------------------------------------------------------------------------
T0=$(now_ms)
check "run u as nobody" 0 h run "$IMAGE" --name u -p 8080:80 "${RUN[@]}"
echo "run returned after $(($(now_ms) - T0)) ms"
reject "run: no refusal of nftables on stderr" "$ERR" "you must be root"
equal "u's network mode" "$(vmcol u network_mode)" "user"
check "ps" 0 h ps
expect "ps: u's address" "$(grep -w 'u$' <<<"$OUT")" "10.0.2.15"
expect "ps: u's port" "$(grep -w 'u$' <<<"$OUT")" "8080->80/tcp"
PASST=$(passt_pids)
equal "one passt for u" "$(wc -w <<<"$PASST")" "1"
equal "passt runs as nobody" "$(ps -o user= -p "${PASST:-0}" | tr -d ' ')" "nobody"
equal "passt's parent is u's monitor" "$(ps -o ppid= -p "${PASST:-0}" | tr -d ' ')" \
    "$(vmcol u monitor_pid)"
booted_with u 10.0.2.15
check "curl localhost:8080" 0 curl -sS --max-time 20 http://localhost:8080/
equal "u's page" "$OUT" "hearth-e2e httpd on u"
peer_listen
in_guest u "timeout 15 nc 192.0.2.2 7070 </dev/null"
echo "u: nc to the peer ended with $(grep -o 'hearth-e2e-rc-1[0-9]*' <<<"$OUT" | tail -1)"
expect "u got the peer's greeting" "$OUT" "hello from outside"
wait "$PL"
equal "the peer saw this namespace's address" "$(cat "$TMP/peer-saw")" "192.0.2.1"
check "stop u" 0 h stop u
equal "u stopped" "$(vmcol u state)" "Stopped"
if [ -n "$PASST" ] && gone "$PASST"; then ok; else bad "passt '$PASST' outlived u"; fi
equal "no passt left" "$(passt_pids)" ""
check "curl after the stop" 7 curl -sS --max-time 20 http://localhost:8080/
check "rm u" 0 h rm u

# ---- QEMU's user networking (passt not on PATH) ------------------------------------------------
ns() { PATH="$NOPASST" h "$@"; }
check "run s without passt on PATH" 0 ns run "$IMAGE" --name s -p 8081:80 "${RUN[@]}"
equal "no passt for s" "$(passt_pids)" ""
expect "qemu's own user networking" "$(tr '\0' ' ' <"/proc/$(vmcol s vmm_pid)/cmdline")" \
    "-netdev user,"
check "ps" 0 h ps
expect "ps: s's address" "$(grep -w 's$' <<<"$OUT")" "10.0.2.15"
booted_with s 10.0.2.15
check "curl localhost:8081" 0 curl -sS --max-time 20 http://localhost:8081/
equal "s's page" "$OUT" "hearth-e2e httpd on s"
peer_listen
in_guest s "timeout 15 nc 192.0.2.2 7070 </dev/null"
echo "s: nc to the peer ended with $(grep -o 'hearth-e2e-rc-1[0-9]*' <<<"$OUT" | tail -1)"
expect "s got the peer's greeting" "$OUT" "hello from outside"
wait "$PL"
check "stop s" 0 h stop s
check "rm s" 0 h rm s

# ---- a port nobody may not bind, and passt failing ----------------------------------------------
for mode in passt slirp; do
    run=(h)
    [ "$mode" = slirp ] && run=(ns)
    check "$mode: run with port 80" 1 "${run[@]}" run "$IMAGE" --name "low-$mode" -p 80:80 "${RUN[@]}"
    echo "$mode, port 80 as nobody: $ERR"
    equal "$mode: the error says why" "$ERR" "hearth: error: vm 'low-$mode': host port 80/tcp is below 1024, which only root may bind (net.ipv4.ip_unprivileged_port_start); pick a port of 1024 or above with -p, or run as root"
    equal "$mode: the VM never started" "$(vmcol "low-$mode" state)" "Created"
    check "$mode: rm" 0 h rm "low-$mode"
done
# Without a default route passt will not run: its own words are in the error.
ip route del default
check "passt without a route" 1 h run "$IMAGE" --name noroute -p 8082:80 "${RUN[@]}"
echo "passt without a default route: $ERR"
expect "passt's words" "$ERR" "passt said 'External interface not usable'"
reject "the run says nothing else" "$ERR" "you must be root"
equal "noroute is not running" "$(vmcol noroute state)" "Created"
equal "no passt left" "$(passt_pids)" ""
ip route add default via 192.0.2.2
check "rm noroute" 0 h rm noroute

equal "no process left" "$(root_procs | tr '\n' ' ')" ""
check "doctor" 0 h doctor

finish
