#!/usr/bin/env bash
# Bridge networking without guests: VMs with fcfake as their Firecracker
# (tests/vmm/README.md; it checks the network-interfaces request against
# Firecracker's spec and that its tap exists), as root, in the network
# namespace lib/assert.sh gives every test. What it shows:
#
# - a start leases the lowest free address of hearth0's subnet, builds the
#   bridge, the nftables table inet hearth, dnsmasq, the VM's host file, its
#   tap and its port-map elements; ps, status.ipAddresses, the vms and
#   ip_leases views show the address, and the kernel command line has it;
# - a host port mapped by another VM or listened on here is refused before
#   the VM starts; stop takes the tap, elements and host file away and keeps
#   the lease; a restart gets the same address; rm frees it;
# - kill -9 of a monitor: the next command removes its tap and elements;
# - a simulated reboot (bridge deleted, ruleset flushed, dnsmasq killed):
#   doctor says so and --repair, or the next start, builds them again;
# - a crash at every network fault point, then the next command, leaves no
#   tap, element or host file of the VM, keeps its lease, and doctor is clean;
# - 8 concurrent runs get 8 distinct addresses; a /29 runs out with an error
#   naming the network and nothing started;
# - `ip link` and `nft list ruleset` are the same after the teardown
#   (rm, network rm) as before the test.
set -u

. "$(dirname "$0")/lib/assert.sh"
. "$(dirname "$0")/lib/procs.sh"

[ "$(id -u)" = 0 ] || skip "bridge networking needs root"
need nft nftables
need ip iproute2
need dnsmasq dnsmasq-base
need python3 python3
need sqlite3 sqlite3
if [ -z "${FCFAKE:-}" ] || [ ! -x "$FCFAKE" ] || [ ! -r "${HEARTH_FC_SPEC:-}" ]; then
    bad "FCFAKE or HEARTH_FC_SPEC not set or missing (run the test through ctest)"
    finish
    exit 1
fi
export HEARTH_FC_SPEC
VMLINUZ=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1)
[ -r "$VMLINUZ" ] || {
    echo "FAIL: no kernel under /boot: apt-get install linux-image-amd64 (scripts/install-deps)"
    exit 1
}
export TMPDIR="$TMP/tmpdir"
mkdir -p "$TMPDIR"

BEFORE=$(net_state)

python3 "$HEARTH_SRC/tests/oci/mkimage.py" rootfs "$TMP/rootfs" >/dev/null &&
    python3 "$HEARTH_SRC/tests/oci/mkimage.py" image "$TMP/img" 1 --layer gzip:"$TMP/rootfs" \
        >/dev/null || {
    echo "FAIL: tests/oci/mkimage.py"
    exit 1
}
check "pool init" 0 h pool init --driver file --data-size 4GB
check "image import" 0 h image import -q "oci-layout:$TMP/img:1"
check "kernel import" 0 h kernel import -q --vmlinux "$VMLINUZ" localhost/kernel:1
IMG=localhost/img:1
FC=(--vmm firecracker --firecracker-bin "$FCFAKE")
run() { h run -k localhost/kernel:1 --size 256MB --memory 128MB "$@" "${FC[@]}" "$IMG"; }

sqlv() { h sql -o csv "$1" | tail -n +2 | tr -d '\r'; }
uid_of() { sqlv "SELECT id FROM vms WHERE name = '$1'"; }
ip_of() { sqlv "SELECT ip FROM ip_leases WHERE vm_name = '$1'"; }
tap_of() { echo "hth$(uid_of "$1" | cut -c1-12)"; }
# elements: the port-map elements as "proto port ip port" lines.
elements() {
    nft -j list table inet hearth 2>/dev/null | python3 -c '
import json, sys
try:
    doc = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
for o in doc.get("nftables", []):
    m = o.get("map")
    if not m:
        continue
    for el in m.get("elem", []):
        k, v = el
        k = k["concat"]; v = v["concat"]
        print(" ".join(str(x) for x in k + v))
'
}
dnsmasq_pids() { pgrep -f "dnsmasq.*$ROOT/run/net/" || true; }
# dnsmasq_kill: SIGKILL to the root's dnsmasq, and a wait until it is gone (a
# zombie holds no socket; this machine's init may not reap it).
dnsmasq_kill() {
    local p i
    for p in $(dnsmasq_pids); do
        kill -9 "$p"
        for i in $(seq 100); do
            [ -e "/proc/$p" ] && [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ] || break
            sleep 0.05
        done
    done
}

# ---- a first VM -----------------------------------------------------------------
check "run a" 0 run --name a -p 8080:80 -p 5353:53/udp -p 127.0.0.1:8082:80
A=$(uid_of a)
equal "a's lease" "$(ip_of a)" "10.61.0.2"
check "ps" 0 h ps
expect "ps shows the address" "$OUT" "10.61.0.2"
equal "status.ipAddresses" "$(h inspect -o json vm a | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["ipAddresses"][0])')" "10.61.0.2"
equal "the vms view" "$(sqlv "SELECT ips FROM vms WHERE name = 'a'")" "10.61.0.2"
check "network ls" 0 h network ls
expect "network ls: hearth0" "$OUT" "hearth0"
expect "network ls: its subnet" "$OUT" "10.61.0.0/16"
expect "bridge address" "$(ip -o addr show dev hearth0)" "10.61.0.1/16"
expect "a's tap on the bridge" "$(ip -o link show "$(tap_of a)")" "master hearth0"
expect "a's port map" "$(elements)" "tcp 8080 10.61.0.2 80"
expect "a's udp port map" "$(elements)" "udp 5353 10.61.0.2 53"
expect "a's port map on one address" "$(elements)" "127.0.0.1 tcp 8082 10.61.0.2 80"
equal "a's host file" "$(cat "$ROOT/run/net/hearth0/hosts/$A")" "02:${A:0:2}:${A:2:2}:${A:4:2}:${A:6:2}:${A:8:2},10.61.0.2,a"
equal "one dnsmasq" "$(dnsmasq_pids | wc -l)" "1"
expect "the fake took the tap" "$(cat "$ROOT/vm/$A/vmm.log")" "PUT /network-interfaces/eth0 204"
check "logs a" 0 h logs a
expect "the kernel command line has the address" "$OUT" "ip=10.61.0.2::10.61.0.1:255.255.0.0::eth0:off"

# ---- ports in use ----------------------------------------------------------------
check "run b on a's port" 1 run --name b -p 8080:80
expect "b: mapped already" "$ERR" "host port 8080/tcp is mapped already (to 10.61.0.2:80)"
equal "b did not start" "$(sqlv "SELECT state FROM vms WHERE name = 'b'")" "Created"
equal "b has no lease" "$(ip_of b)" ""
python3 -c 'import socket,time,sys; s=socket.socket(); s.bind(("0.0.0.0", 9090)); s.listen(); open(sys.argv[1],"w").close(); time.sleep(60)' "$TMP/listening" &
LISTENER=$!
for _ in $(seq 50); do [ -e "$TMP/listening" ] && break; sleep 0.1; done
h rm -f b >/dev/null 2>&1
check "run c on a listened port" 1 run --name c -p 9090:80
expect "c: in use" "$ERR" "host port 9090/tcp is in use on this host"
kill "$LISTENER" 2>/dev/null
wait "$LISTENER" 2>/dev/null
h rm -f c >/dev/null 2>&1

# ---- stop, restart, rm -----------------------------------------------------------
TAP_A=$(tap_of a)
check "stop a" 0 h stop a
check "a's tap gone" 1 ip link show "$TAP_A"
reject "a's element gone" "$(elements)" "10.61.0.2"
check "a's host file gone" 1 test -e "$ROOT/run/net/hearth0/hosts/$A"
equal "a keeps its lease" "$(ip_of a)" "10.61.0.2"
check "run d" 0 run --name d
equal "d takes the next address" "$(ip_of d)" "10.61.0.3"
check "start a again" 0 h start a "${FC[@]}"
equal "a has its address again" "$(ip_of a)" "10.61.0.2"
expect "a's port map again" "$(elements)" "tcp 8080 10.61.0.2 80"
check "rm -f a" 0 h rm -f a
equal "rm freed a's lease" "$(sqlv "SELECT count(*) FROM ip_leases WHERE ip = '10.61.0.2'")" "0"
reject "a's element gone with it" "$(elements)" "10.61.0.2"
check "run e" 0 run --name e -p 8081:80
equal "e takes the freed address" "$(ip_of e)" "10.61.0.2"

# ---- kill -9 of a monitor ----------------------------------------------------------
TAP_E=$(tap_of e)
MON=$(sqlv "SELECT monitor_pid FROM vms WHERE name = 'e'")
kill -9 "$MON"
sleep 0.3
check "ps after the monitor's death" 0 h ps -a
check "e's tap gone at the next command" 1 ip link show "$TAP_E"
reject "e's element gone at the next command" "$(elements)" "8081"
equal "e keeps its lease" "$(ip_of e)" "10.61.0.2"
check "doctor after the kill" 0 h doctor

# ---- a simulated reboot --------------------------------------------------------------
check "start e" 0 h start e "${FC[@]}"
ip link del hearth0
nft flush ruleset
dnsmasq_kill
check "doctor sees the network down" 4 h doctor
expect "doctor: network-down" "$OUT" "network-down"
expect "doctor: missing port map" "$OUT" "missing-port-map"
check "doctor --repair" 3 h doctor --repair
check "doctor clean after the repair" 0 h doctor
expect "the bridge is back" "$(ip -o addr show dev hearth0)" "10.61.0.1/16"
expect "e's element is back" "$(elements)" "tcp 8081 10.61.0.2 80"
equal "dnsmasq is back" "$(dnsmasq_pids | wc -l)" "1"
check "stop e, d" 0 h stop e d
ip link del hearth0
nft flush ruleset
dnsmasq_kill
check "start e after the reboot" 0 h start e "${FC[@]}"
expect "start rebuilt the bridge" "$(ip -o addr show dev hearth0)" "10.61.0.1/16"
expect "start rebuilt the table" "$(elements)" "tcp 8081 10.61.0.2 80"
equal "start rebuilt dnsmasq" "$(dnsmasq_pids | wc -l)" "1"
check "doctor after the rebuild" 0 h doctor

# ---- doctor, both ways ------------------------------------------------------------------
E=$(uid_of e)
ip tuntap add dev hth0123456789ab mode tap
nft add element inet hearth ports '{ tcp . 9999 : 10.61.0.250 . 80 }'
: >"$ROOT/run/net/hearth0/hosts/0123456789abcdef"
rm "$ROOT/run/net/hearth0/hosts/$E"
sqlite3 "$ROOT/hearth.db" "INSERT INTO ip_lease (ip, network, vm_uid, state, created) VALUES ('10.200.0.9', 'gone0', '$E', 'active', 0)"
check "doctor sees the drift" 4 h doctor
expect "doctor: stray tap" "$OUT" "tap 'hth0123456789ab' belongs to no running VM"
expect "doctor: stray port map" "$OUT" "port 9999/tcp leads to 10.61.0.250:80"
expect "doctor: stray host file" "$OUT" "host file for 0123456789abcdef"
expect "doctor: missing host file" "$OUT" "vm $E runs without its dnsmasq host file"
expect "doctor: orphan lease" "$OUT" "address 10.200.0.9 of vm $E is leased in network 'gone0'"
check "doctor --repair the drift" 3 h doctor --repair
check "doctor clean after it" 0 h doctor
check "the stray tap is gone" 1 ip link show hth0123456789ab
reject "the stray element is gone" "$(elements)" "9999"
check "the host file is back" 0 test -e "$ROOT/run/net/hearth0/hosts/$E"
equal "the orphan lease is gone" "$(sqlv "SELECT count(*) FROM ip_leases WHERE network = 'gone0'")" "0"

# ---- a crash at every network step --------------------------------------------------
check "create x" 0 h create -k localhost/kernel:1 --size 256MB --memory 128MB --name x -p 8090:80 "$IMG"
X=$(uid_of x)
X_IP=
for point in net.after-lease net.after-bridge net.after-hostfile net.after-tap net.after-ports; do
    HEARTH_FAULT=$point h start x "${FC[@]}" >/dev/null 2>&1
    rc=$?
    equal "$point: killed there" "$rc" "86"
    check "$point: the next command" 0 h ps -a
    equal "$point: x is not running" "$(sqlv "SELECT state FROM vms WHERE name = 'x'")" "Created"
    check "$point: no tap" 1 ip link show "hth${X:0:12}"
    reject "$point: no element" "$(elements)" "8090"
    check "$point: no host file" 1 test -e "$ROOT/run/net/hearth0/hosts/$X"
    [ -n "$X_IP" ] || X_IP=$(ip_of x)
    equal "$point: the lease stays" "$(ip_of x)" "$X_IP"
    check "$point: doctor clean" 0 h doctor
done
check "x starts after the crashes" 0 h start x "${FC[@]}"
equal "x's lease, the next free one" "$X_IP" "10.61.0.4"
expect "x's element" "$(elements)" "tcp 8090 10.61.0.4 80"
check "rm -f x e d" 0 h rm -f x e d

# ---- 8 at once ------------------------------------------------------------------------
for i in 1 2 3 4 5 6 7 8; do
    run --name "p$i" >"$TMP/p$i.out" 2>&1 &
done
wait
equal "8 runs, 8 running" "$(sqlv "SELECT count(*) FROM vms WHERE name LIKE 'p%' AND state = 'Running'")" "8"
equal "8 distinct addresses" "$(sqlv "SELECT count(DISTINCT ip) FROM ip_leases WHERE vm_name LIKE 'p%'")" "8"
check "rm the 8" 0 h rm -f p1 p2 p3 p4 p5 p6 p7 p8
check "network rm" 0 h network rm hearth0
equal "no dnsmasq left" "$(dnsmasq_pids | wc -l)" "0"

# ---- a /29 ------------------------------------------------------------------------------
check "network create /29" 0 h network create --subnet 10.99.0.0/29 tiny
expect "network create says so" "$OUT" "network 'tiny' created with subnet 10.99.0.0/29"
check "network create over an address here" 1 h network create --subnet 127.0.0.0/8 lo2
expect "the overlap is named" "$ERR" "overlaps"
for i in 1 2 3 4 5; do
    check "run t$i in /29" 0 run --name "t$i"
done
equal "the /29's addresses" "$(sqlv "SELECT group_concat(ip, ' ') FROM (SELECT ip FROM ip_leases ORDER BY ip)")" "10.99.0.2 10.99.0.3 10.99.0.4 10.99.0.5 10.99.0.6"
check "run t6: the /29 is full" 1 run --name t6
expect "full: the network is named" "$ERR" "network 'tiny' (10.99.0.0/29) has no free address"
equal "t6 did not start" "$(sqlv "SELECT state FROM vms WHERE name = 't6'")" "Created"
check "t6 has no tap" 1 ip link show "hth$(uid_of t6 | cut -c1-12)"
check "network rm with leases" 1 h network rm tiny
expect "network rm says why" "$ERR" "has 5 leases"

# ---- teardown ------------------------------------------------------------------------------
check "rm all" 0 h rm -f t1 t2 t3 t4 t5 t6
check "network rm tiny" 0 h network rm tiny
check "doctor at the end" 0 h doctor
equal "ip link and nft list ruleset as before" "$(net_state)" "$BEFORE"

finish
