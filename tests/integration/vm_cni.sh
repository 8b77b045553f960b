#!/usr/bin/env bash
# networkMode cni with real guests: the test image of tests/vm booted under
# QEMU/TCG, Debian's CNI plugins, as root, in the network namespace
# lib/assert.sh gives every test, with a second namespace that plays
# "outside" (lib/peer.sh: 192.0.2.1 here, 192.0.2.2 there). Conf dirs of the
# test's own. What it shows:
#
# - the default list (written into an empty conf dir): the guest gets the
#   host-local address of the result by DHCP from the monitor's server in
#   its namespace, pings its gateway (the bridge), and curl from the peer
#   through portmap's port map gets its page;
# - a list with ptp instead of bridge, beside it: the same;
# - stop releases the address (host-local's store has no reservation);
#   the restarted guest gets an address by DHCP again;
# - rm of both, then nothing of them is left (namespaces, veths,
#   reservations, per-VM chains).
# Traffic goes only between the guests, this namespace and the peer's.
set -u

. "$(dirname "$0")/lib/assert.sh"
[ "$(id -u)" = 0 ] || skip "cni networking needs root"
. "$(dirname "$0")/lib/vm.sh"
. "$(dirname "$0")/lib/peer.sh"
need ip iproute2
need iptables iptables
need curl curl
need nsenter util-linux
need python3 python3
[ -x /usr/lib/cni/ptp ] || need /usr/lib/cni/ptp containernetworking-plugins
BOOT_WAIT=${BOOT_WAIT:-120} # seconds a TCG boot may take
export TMPDIR="$TMP/tmpdir"
mkdir -p "$TMPDIR"

peer_start

sqlv() { h sql -o csv "$1" | tail -n +2 | tr -d '\r'; }
addr_of() { sqlv "SELECT address FROM cni_attachments WHERE vm = '$1'" | sed 's,/.*,,'; }
gw_of() { sqlv "SELECT gateway FROM cni_attachments WHERE vm = '$1'"; }
reservations() { find "$1" -type f -regex '.*/[0-9.]*' 2>/dev/null | sort; }
veths() { ip -o link show type veth | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -v '^hvout'; }

check "pool init" 0 h pool init --driver file
check "image import" 0 h image import -q "oci-layout:$TMP/fx/hearth-e2e:1"
check "kernel import" 0 h kernel import -q --vmlinux "$VMLINUZ" --initrd "$INITRD" "$KERNEL"
RUN=(--memory 128MB --size 512MB -k "$KERNEL" --kernel-args "$CMDLINE")

# The ptp list: a veth pair per VM, host-local on its own subnet and store, portmap.
mkdir -p "$TMP/ptp.d"
cat >"$TMP/ptp.d/10-ptp.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "hearth-ptp",
 "plugins": [{"type": "ptp", "ipMasq": true,
              "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.77.0.0/24"}]],
                       "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$TMP/ptp-data"}},
             {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}]}
EOF

# ---- two guests: Ignite's flag with the default list, and --net with ptp ---------------------
T0=$(now_ms)
check "run a (default list)" 0 h run "$IMAGE" --name a --network-plugin cni -p 8080:80 \
    --cni-conf-dir "$TMP/net.d" "${RUN[@]}"
expect "run a: the default list written" "$ERR" "wrote $TMP/net.d/10-hearth.conflist"
check "run c (ptp)" 0 h run "$IMAGE" --name c --net cni -p 8081:80 --cni-conf-dir "$TMP/ptp.d" \
    "${RUN[@]}"
echo "both runs returned after $(($(now_ms) - T0)) ms"
A_IP=$(addr_of a)
C_IP=$(addr_of c)
[ -n "$A_IP" ] && [ -n "$C_IP" ] && ok || bad "addresses: a '$A_IP', c '$C_IP'"
expect "c's address is ptp's subnet" "$C_IP" "10.77.0."
check "ps" 0 h ps
expect "ps: a's address" "$(grep -w 'a$' <<<"$OUT")" "$A_IP"
booted_with a 1 "$(addr_of "a")"
booted_with c 1 "$(addr_of "c")"
guest_ok "a pings its gateway (the bridge)" a "ping -c 2 -w 10 $(gw_of a)"
guest_ok "c pings its gateway (ptp's host end)" c "ping -c 2 -w 10 $(gw_of c)"
check "curl a from the outside peer (portmap)" 0 peer curl -sS --max-time 20 http://192.0.2.1:8080/
equal "the peer gets a's page" "$OUT" "hearth-e2e httpd on a"
check "curl c from the outside peer (portmap)" 0 peer curl -sS --max-time 20 http://192.0.2.1:8081/
equal "the peer gets c's page" "$OUT" "hearth-e2e httpd on c"

# ---- stop releases the address; a restart gets one again ------------------------------------
check "stop a" 0 h stop a
equal "a's address released (host-local's store)" "$(reservations "$ROOT/cni/networks")" ""
check "start a" 0 h start --cni-conf-dir "$TMP/net.d" a
booted_with a 2 "$(addr_of "a")"
check "curl a again" 0 peer curl -sS --max-time 20 http://192.0.2.1:8080/
equal "the peer gets a's page again" "$OUT" "hearth-e2e httpd on a"

# ---- rm: nothing left -----------------------------------------------------------------------
check "rm -f a c" 0 h rm -f a c
equal "no reservation left (default list)" "$(reservations "$ROOT/cni/networks")" ""
equal "no reservation left (ptp)" "$(reservations "$TMP/ptp-data")" ""
equal "no namespace left" "$(ls "$ROOT/run/cni/netns" 2>/dev/null)" ""
equal "no veth left" "$(veths)" ""
reject "no per-vm chain left" "$(iptables -t nat -S)" "CNI-DN-"
check "doctor" 0 h doctor
equal "no process left" "$(root_procs | tr '\n' ' ')" ""

finish
