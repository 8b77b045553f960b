#!/usr/bin/env bash
# Bridge networking with real guests: the test image of tests/vm booted
# under QEMU/TCG through hearth's CLI, as root, in the network namespace
# lib/assert.sh gives every test, with a second namespace that plays
# "outside" (a veth pair, 192.0.2.1 here and 192.0.2.2 there, TEST-NET-1;
# the outside has no route to the VMs' subnet, so its replies reach a guest
# only through hearth's masquerade). What it shows:
#
# - `run a -p 8080:80` and `run b` get distinct leases, shown by `ps`, and
#   each guest gets its lease by DHCP from hearth's dnsmasq;
# - the guests ping each other and the bridge address, and the outside peer
#   through NAT (commands typed on their consoles through `hearth attach`);
# - curl from the outside peer to 192.0.2.1:8080 and from here to
#   localhost:8080 both get a's page;
# - stop and start of a: the same address, in the database and in the
#   guest; `rm -f a` frees its lease, and a new VM gets it, by DHCP too;
# - `ip link` and `nft list ruleset` here are the same after the teardown
#   (rm, network rm) as before the test.
# Traffic goes only between the guests, this namespace and the peer's.
set -u

. "$(dirname "$0")/lib/assert.sh"
[ "$(id -u)" = 0 ] || skip "bridge networking needs root"
. "$(dirname "$0")/lib/vm.sh"
. "$(dirname "$0")/lib/peer.sh"
need ip iproute2
need nft nftables
need dnsmasq dnsmasq-base
need curl curl
need nsenter util-linux
need python3 python3
BOOT_WAIT=${BOOT_WAIT:-120} # seconds a TCG boot may take
export TMPDIR="$TMP/tmpdir"
mkdir -p "$TMPDIR"

# The outside peer (lib/peer.sh), with no route back to the VMs.
peer_start
equal "the peer has no route to the VMs" "$(peer ip route get 10.61.0.2 2>&1 | grep -c 'unreachable')" "1"

BEFORE=$(net_state)

sqlv() { h sql -o csv "$1" | tail -n +2 | tr -d '\r'; }
ip_of() { sqlv "SELECT ip FROM ip_leases WHERE vm_name = '$1'"; }

check "pool init" 0 h pool init --driver file
check "image import" 0 h image import -q "oci-layout:$TMP/fx/hearth-e2e:1"
check "kernel import" 0 h kernel import -q --vmlinux "$VMLINUZ" --initrd "$INITRD" "$KERNEL"
RUN=(--memory 128MB --size 512MB -k "$KERNEL" --kernel-args "$CMDLINE")

# ---- two guests -------------------------------------------------------------------------
T0=$(now_ms)
check "run a" 0 h run "$IMAGE" --name a -p 8080:80 "${RUN[@]}"
check "run b" 0 h run "$IMAGE" --name b "${RUN[@]}"
echo "both runs returned after $(($(now_ms) - T0)) ms"
A_IP=$(ip_of a)
B_IP=$(ip_of b)
equal "a's lease" "$A_IP" "10.61.0.2"
equal "b's lease" "$B_IP" "10.61.0.3"
check "ps" 0 h ps
expect "ps: a's address" "$(grep -w 'a$' <<<"$OUT")" "$A_IP"
expect "ps: b's address" "$(grep -w 'b$' <<<"$OUT")" "$B_IP"
booted_with a 1 "$(ip_of "a")"
booted_with b 1 "$(ip_of "b")"

# ---- pings ---------------------------------------------------------------------------------
guest_ok "a pings b" a "ping -c 2 -w 10 $B_IP"
guest_ok "b pings a" b "ping -c 2 -w 10 $A_IP"
guest_ok "a pings the bridge" a "ping -c 2 -w 10 10.61.0.1"
guest_ok "b pings the bridge" b "ping -c 2 -w 10 10.61.0.1"
guest_ok "a pings the outside peer" a "ping -c 2 -w 10 192.0.2.2"
guest_ok "b pings the outside peer" b "ping -c 2 -w 10 192.0.2.2"
# Through NAT: the peer saw the host's address, never a guest's.
peer python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("192.0.2.2", 7070)); s.listen(1); s.settimeout(60)
open(sys.argv[1], "w").close()
c, addr = s.accept(); print(addr[0]); c.sendall(b"hello from outside\n"); c.close()
' "$TMP/peer-listening" >"$TMP/peer-saw" 2>&1 &
PL=$!
for _ in $(seq 50); do [ -e "$TMP/peer-listening" ] && break; sleep 0.1; done
guest_ok "b connects to the outside peer" b "nc 192.0.2.2 7070 </dev/null"
expect "b got the peer's greeting" "$OUT" "hello from outside"
wait "$PL"
equal "the peer saw the host's address (masquerade)" "$(cat "$TMP/peer-saw")" "192.0.2.1"

# ---- the port map ------------------------------------------------------------------------
check "curl from the outside peer" 0 peer curl -sS --max-time 20 http://192.0.2.1:8080/
equal "the outside gets a's page" "$OUT" "hearth-e2e httpd on a"
check "curl localhost:8080" 0 curl -sS --max-time 20 http://localhost:8080/
equal "localhost gets a's page" "$OUT" "hearth-e2e httpd on a"
check "curl 127.0.0.1:8080" 0 curl -sS --max-time 20 http://127.0.0.1:8080/
equal "127.0.0.1 gets a's page" "$OUT" "hearth-e2e httpd on a"
guest_ok "b curls the host's port map" b "wget -q -O - http://192.0.2.1:8080/"
expect "b gets a's page through the host" "$OUT" "hearth-e2e httpd on a"

# ---- restart, rm ---------------------------------------------------------------------------
check "stop a" 0 h stop a
equal "a keeps its lease while stopped" "$(ip_of a)" "$A_IP"
check "curl while a is stopped" 7 curl -sS --max-time 20 http://localhost:8080/
check "start a" 0 h start a
equal "a's lease after the restart" "$(ip_of a)" "$A_IP"
booted_with a 2 "$(ip_of "a")"
check "curl after the restart" 0 peer curl -sS --max-time 20 http://192.0.2.1:8080/
equal "the outside gets a's page again" "$OUT" "hearth-e2e httpd on a"
check "rm -f a" 0 h rm -f a
equal "rm freed a's lease" "$(sqlv "SELECT count(*) FROM ip_leases WHERE ip = '$A_IP'")" "0"
check "run c" 0 h run "$IMAGE" --name c "${RUN[@]}"
equal "c takes a's address" "$(ip_of c)" "$A_IP"
booted_with c 1 "$(ip_of "c")"
guest_ok "c pings b" c "ping -c 2 -w 10 $B_IP"

# ---- teardown ---------------------------------------------------------------------------------
check "rm -f b c" 0 h rm -f b c
check "network rm" 0 h network rm hearth0
check "doctor" 0 h doctor
equal "no process left" "$(root_procs | tr '\n' ' ')" ""
equal "ip link and nft list ruleset as before" "$(net_state)" "$BEFORE"

finish
