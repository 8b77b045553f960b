#!/usr/bin/env bash
# The Debian 12 test image (tests/vm/mkdebian.sh: systemd-networkd on DHCP,
# openssh-server) boots under hearth in bridge mode, as root, in the network
# namespace lib/assert.sh gives every test, under QEMU/TCG with
# tests/vm/mkfixtures.sh's kernel and small initrd. What it shows:
#
# - its lease (ps, the ip_leases view) is what systemd-networkd gets by DHCP
#   from hearth's dnsmasq: the lease file has the VM's MAC, that address and
#   the host name hearth wrote (the client sends it);
# - sshd answers on port 22 of that address from this namespace (its banner);
# - rm -f and network rm leave `ip link` and `nft list ruleset` as before.
# It prints how long the lease, the banner and the login prompt took.
#
# The image is built once into $HEARTH_DEBIAN_CACHE (ctest sets it to the
# checkout's .cache/debian, the default too; mkdebian.sh rebuilds only when
# it changed), before the script enters its network namespace
# (lib/debian.sh).
set -u

. "$(dirname "$0")/lib/debian.sh"
. "$(dirname "$0")/lib/assert.sh"
[ "$(id -u)" = 0 ] || skip "bridge networking and building the image need root"
. "$(dirname "$0")/lib/vm.sh"
need ip iproute2
need nft nftables
need dnsmasq dnsmasq-base
need debootstrap debootstrap
need umoci umoci
need python3 python3
BOOT_WAIT=${BOOT_WAIT:-240} # seconds a TCG boot of Debian may take
export TMPDIR="$TMP/tmpdir"
mkdir -p "$TMPDIR"

debian_image
CACHE=$HEARTH_DEBIAN_CACHE

BEFORE=$(net_state)
sqlv() { h sql -o csv "$1" | tail -n +2 | tr -d '\r'; }

check "pool init" 0 h pool init --driver file
T0=$(now_ms)
check "image import" 0 h image import -q "oci-layout:$CACHE/hearth-debian:12"
echo "image import took $(($(now_ms) - T0)) ms"
check "kernel import" 0 h kernel import -q --vmlinux "$VMLINUZ" --initrd "$INITRD" "$KERNEL"

T0=$(now_ms)
check "run" 0 h run localhost/hearth-debian:12 --name deb --ssh --memory 256MB --size 1GB \
    -k "$KERNEL" --kernel-args "$CMDLINE"
echo "run returned after $(($(now_ms) - T0)) ms"
IP=$(sqlv "SELECT ip FROM ip_leases WHERE vm_name = 'deb'")
MAC=$(sqlv "SELECT mac FROM ip_leases WHERE vm_name = 'deb'")
equal "deb's lease" "$IP" "10.61.0.2"
check "ps" 0 h ps
expect "ps: deb's address" "$(grep -w 'deb$' <<<"$OUT")" "$IP"

# The three moments, each polled until BOOT_WAIT has passed since the run.
END=$(($(date +%s) + BOOT_WAIT))
LEASES="$ROOT/run/net/hearth0/leases"
T_LEASE= T_SSH= T_LOGIN=
while [ "$(date +%s)" -le "$END" ] && { [ -z "$T_LEASE" ] || [ -z "$T_SSH" ] || [ -z "$T_LOGIN" ]; }; do
    if [ -z "$T_LEASE" ] && grep -qi " $MAC $IP " "$LEASES" 2>/dev/null; then
        T_LEASE=$(($(now_ms) - T0))
    fi
    if [ -z "$T_SSH" ] && python3 - "$IP" >"$TMP/banner" 2>/dev/null <<'PY'; then
import socket, sys
s = socket.create_connection((sys.argv[1], 22), timeout=2)
s.settimeout(5)
print(s.recv(256).decode(errors="replace").strip())
PY
        T_SSH=$(($(now_ms) - T0))
    fi
    if [ -z "$T_LOGIN" ] && h logs deb 2>/dev/null | grep -q "deb login:"; then
        T_LOGIN=$(($(now_ms) - T0))
    fi
    sleep 0.5
done
echo "after the run: DHCP lease ${T_LEASE:-none} ms, sshd's banner ${T_SSH:-none} ms, login prompt ${T_LOGIN:-none} ms"
[ -n "$T_LEASE" ] && ok || bad "no lease of $IP to $MAC in dnsmasq's lease file within ${BOOT_WAIT}s"
[ -n "$T_SSH" ] && ok || bad "nothing answered on $IP:22 within ${BOOT_WAIT}s"
[ -n "$T_LOGIN" ] && ok || bad "no 'deb login:' on the console within ${BOOT_WAIT}s"
expect "sshd's banner" "$(cat "$TMP/banner")" "SSH-2.0-OpenSSH"
expect "the client sent the host name hearth wrote" "$(grep -i " $MAC " "$LEASES" 2>/dev/null)" \
    " $IP deb "
if [ -z "$T_SSH" ] || [ -z "$T_LOGIN" ]; then
    h logs --tail 40 deb >&2
fi

check "rm -f deb" 0 h rm -f deb
check "network rm" 0 h network rm hearth0
check "doctor" 0 h doctor
equal "no process left" "$(root_procs | tr '\n' ' ')" ""
equal "ip link and nft list ruleset as before" "$(net_state)" "$BEFORE"

finish
